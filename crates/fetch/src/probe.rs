//! Tells a waiting request when its connection was established, so the wait for the
//! response head can be `read_timeout` after connecting rather than after starting: a
//! connect that used most of `connect_timeout` must not eat into the head's budget, and
//! a stalled server must be noticed `read_timeout` after the connection, not later.
//!
//! reqwest offers no such hook, but hyper polls the connector inside the request's own
//! future, so a task-local set around that future is visible to a connector layer. When
//! the connector runs elsewhere (a connection finishing in the background), the probe
//! simply stays silent and the request keeps its more generous initial limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower::{Layer, Service};

tokio::task_local! {
    static PROBE: Arc<ConnectProbe>;
}

#[derive(Debug, Default)]
pub(crate) struct ConnectProbe {
    connecting: AtomicBool,
    connected_at: OnceLock<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectState {
    /// No new connection was started: the request is on a pooled one.
    Idle,
    Connecting,
    Connected(Instant),
}

impl ConnectProbe {
    pub(crate) fn state(&self) -> ConnectState {
        match self.connected_at.get() {
            Some(at) => ConnectState::Connected(*at),
            None if self.connecting.load(Ordering::Acquire) => ConnectState::Connecting,
            None => ConnectState::Idle,
        }
    }

    /// Runs `fut` with this probe visible to the connector layer.
    pub(crate) fn scope<F: Future>(self: &Arc<Self>, fut: F) -> impl Future<Output = F::Output> {
        PROBE.scope(Arc::clone(self), fut)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProbeLayer;

impl<S> Layer<S> for ProbeLayer {
    type Service = ProbeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProbeService { inner }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ProbeService<S> {
    inner: S,
}

impl<S, R> Service<R> for ProbeService<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
    S::Response: 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let probe = PROBE.try_with(Arc::clone).ok();
        if let Some(probe) = &probe {
            probe.connecting.store(true, Ordering::Release);
        }
        let connecting = self.inner.call(request);
        Box::pin(async move {
            let conn = connecting.await?;
            if let Some(probe) = probe {
                let _ = probe.connected_at.set(Instant::now());
            }
            Ok(conn)
        })
    }
}
