//! The accept loop: connection limit, head-read timeout, head-size limit, graceful
//! shutdown, and per-request dispatch: [`Route::decide`], then one `match` on the route.
//! What the doors are built from lives in [`crate::app`].

use crate::app::{self, App};
use crate::internal;
use crate::kernel::{BoxBody, Query, full, xml};
use crate::route::Route;
use crate::{ServerConfig, ServerError};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Serves until `shutdown` resolves, then stops accepting and waits up to the configured
/// grace period for in-flight requests. `ready` is called once the port is bound.
pub async fn serve(
    store: Store,
    cfg: ServerConfig,
    metrics: PrometheusHandle,
    ready: impl FnOnce(std::net::SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let app::Built {
        app,
        imageproxy,
        variant_cache,
    } = app::build(store, &cfg, metrics).await?;
    let app = Arc::new(app);

    let listener = bind(cfg.listen).await?;
    let proxy_listener = match &imageproxy {
        Some(door) => Some((bind(door.config().listen).await?, door.clone())),
        None => None,
    };
    let local = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: cfg.listen,
        source,
    })?;
    if let Some((l, _)) = &proxy_listener
        && let Ok(addr) = l.local_addr()
    {
        tracing::info!(%addr, "imageproxy door listening");
    }
    ready(local);

    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .max_buf_size(cfg.max_header_bytes.max(8192));
    http.http2().timer(TokioTimer::new());

    let permits = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let main_loop = accept_loop(
        listener,
        &http,
        permits.clone(),
        &graceful,
        stop_rx.clone(),
        move |req| {
            let app = app.clone();
            async move { handle(app, req).await }
        },
    );
    let proxy_loop = async {
        if let Some((listener, door)) = proxy_listener {
            accept_loop(
                listener,
                &http,
                permits.clone(),
                &graceful,
                stop_rx.clone(),
                move |req| {
                    let door = door.clone();
                    async move { door.handle(req).await }
                },
            )
            .await;
        }
    };
    let stopper = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    tokio::join!(main_loop, proxy_loop, stopper);
    tracing::info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(cfg.shutdown_grace) => tracing::warn!("grace period over; dropping remaining connections"),
    }
    if let Some(cache) = &variant_cache
        && let Err(e) = cache.flush().await
    {
        tracing::warn!(error = %e, "could not save the variant cache's recency order");
    }
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Accepts connections on `listener` until `stop` turns true, serving each request
/// with `handler`.
async fn accept_loop<H, F>(
    listener: TcpListener,
    http: &hyper_util::server::conn::auto::Builder<TokioExecutor>,
    permits: Arc<Semaphore>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    mut stop: tokio::sync::watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<BoxBody>> + Send + 'static,
{
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut stopped => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(v) => v,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let fut = handler(req);
            async move { Ok::<_, std::convert::Infallible>(fut.await) }
        });
        let conn = http
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
}

/// One request: the head-size check, the one routing decision, the one `match` on it,
/// and the request metrics.
async fn handle(app: Arc<App>, req: Request<Incoming>) -> Response<BoxBody> {
    let started = Instant::now();
    let head = head_len(&req);
    if head > app.max_header_bytes {
        return head_too_large(head, app.max_header_bytes);
    }
    let query = Query::of(req.uri());
    let route = Route::decide(req.method(), req.uri(), req.headers(), &query, &app.routing);
    let door = route.door();
    let method = method_label(req.method());
    let request_id = next_request_id();
    let mut resp = match route {
        Route::Health => internal::health(&app.store).await,
        Route::Live => internal::live(),
        Route::Metrics => internal::metrics(&app.metrics),
        Route::UnknownInternal => internal::unknown(),
        Route::Admin(endpoint) => app.admin.handle(endpoint, req).await,
        Route::Cloudflare(endpoint) => match &app.cloudflare {
            Some(door) => door.handle(endpoint, req, query).await,
            None => internal::unknown(),
        },
        Route::Oss(endpoint) => app.oss.handle(endpoint, req, query, &request_id).await,
        Route::Delivery(endpoint) => app.delivery.handle(endpoint, req, query, &request_id).await,
        Route::S3 => app.s3.handle(req, &query, &request_id).await,
    };
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    let status = status_label(resp.status());
    metrics::counter!("imgd_http_requests_total", "door" => door, "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("imgd_http_request_duration_seconds", "door" => door)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// A request id unique within this process and, by its random half, across processes:
/// a random 64-bit prefix drawn once and a counter. A fresh UUID per request would cost a
/// system call on the hottest path (a cache hit) for uniqueness the counter already gives.
fn next_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}{n:016x}")
}

/// Metric labels as static strings, so recording a request allocates nothing for them.
fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::PUT => "PUT",
        http::Method::POST => "POST",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        _ => "other",
    }
}

fn status_label(status: StatusCode) -> metrics::SharedString {
    match status.as_u16() {
        200 => "200".into(),
        206 => "206".into(),
        304 => "304".into(),
        404 => "404".into(),
        code => code.to_string().into(),
    }
}

/// The size of the request head as HTTP/1.1 spells it: request line, header lines, and
/// the blank line that ends them.
fn head_len<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |pq| pq.as_str().len());
    let request_line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let fields: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    request_line + fields + 2
}

fn head_too_large(head: usize, limit: usize) -> Response<BoxBody> {
    let message = format!(
        "The request head is {head} bytes; this server accepts at most {limit} (max_header_bytes)."
    );
    let body = xml::s3_error_document("RequestHeaderSectionTooLarge", &message, "", "");
    let mut resp = full(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "application/xml",
        body,
    );
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}
