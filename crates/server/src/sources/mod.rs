//! Sources of images that are not (yet) in the store: back-to-source origins, and the
//! coalescing that keeps N concurrent misses down to one fetch.
//!
//! A miss flows: the door's read finds no object → [`Sources::fetch`] → the bucket's
//! [`store::OriginSettings`] (none: the miss stays a 404) → recent-404 memory and the
//! origin's backoff (answered without a fetch) → join the fetch already in flight for
//! this object, or lead one: [`fetch::Fetcher`] GETs the origin ([`origin`] addresses
//! and signs it), and a pump task copies its body both into [`store::Store::put_object`]
//! and to the leading client. Waiters get the stored object (or the same error) when
//! the write commits. The pump is detached from the client, so a client that goes away
//! does not stop the object being stored.

pub mod backoff;
pub mod coalesce;
pub mod origin;

use bytes::Bytes;
use fetch::{FetchError, FetchRequest, Fetcher};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::{ObjectHeaders, ObjectInfo, OriginSettings, PutOptions, Store, StoreError};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};

/// How long the pump waits for a slow leading client before it stops feeding it and
/// only stores.
const CLIENT_STALL: Duration = Duration::from_secs(30);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("the object does not exist at the origin")]
    NotFound,
    #[error("the origin failed: {0}")]
    Failed(String),
    #[error("the origin failed recently; it is retried in {0} s")]
    BackingOff(u64),
    #[error("the origin's object could not be stored: {0}")]
    Store(String),
}

/// What the origin said about the object, for the leading client's response.
#[derive(Debug, Clone)]
pub struct OriginHead {
    pub content_type: String,
    pub content_length: Option<u64>,
    pub last_modified: Option<String>,
    pub cache_control: Option<String>,
}

pub enum Fetched {
    /// This request led the fetch: the bytes as they arrive, while they are stored.
    Streaming {
        head: OriginHead,
        body: SyncByteStream,
    },
    /// The object is in the store now (another request fetched it).
    Stored(Box<ObjectInfo>),
}

/// Response bodies must be `Sync`; a channel receiver is.
pub type SyncByteStream = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static>,
>;

type Done = Option<Result<ObjectInfo, SourceError>>;
type Started = Result<(OriginHead, mpsc::Receiver<Result<Bytes, std::io::Error>>), SourceError>;

struct Inner {
    store: Store,
    fetcher: Fetcher,
    recent_misses: Mutex<HashMap<(String, String), Instant>>,
    backoff: backoff::Backoffs<String>,
    inflight: Mutex<HashMap<(String, String), watch::Receiver<Done>>>,
}

#[derive(Clone)]
pub struct Sources {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sources {
    pub fn new(store: Store, fetcher: Fetcher) -> Self {
        Sources {
            inner: Arc::new(Inner {
                store,
                fetcher,
                recent_misses: Mutex::new(HashMap::new()),
                backoff: backoff::Backoffs::new(BACKOFF_FIRST, BACKOFF_CAP),
                inflight: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.inner.fetcher
    }

    /// Fetches `bucket/key` from the bucket's origin after a miss. `None` when the
    /// bucket has no origin (or does not exist): the miss stands.
    pub async fn fetch(&self, bucket: &str, key: &str) -> Option<Result<Fetched, SourceError>> {
        let settings = self
            .inner
            .store
            .bucket_settings(bucket)
            .await
            .ok()?
            .origin?;
        Some(self.fetch_with(bucket, key, settings).await)
    }

    /// Like [`Sources::fetch`], but waits until the object is stored (for processing,
    /// which needs the whole source anyway).
    pub async fn fetch_stored(
        &self,
        bucket: &str,
        key: &str,
    ) -> Option<Result<ObjectInfo, SourceError>> {
        let settings = self
            .inner
            .store
            .bucket_settings(bucket)
            .await
            .ok()?
            .origin?;
        if let Err(e) = self.refuse_early(bucket, key) {
            return Some(Err(e));
        }
        let (done, started) = self.join_or_lead(bucket, key, settings);
        // Nobody streams this copy: without a receiver the pump only stores (holding
        // the receiver unread would stall it until CLIENT_STALL).
        drop(started);
        Some(wait(done).await)
    }

    async fn fetch_with(
        &self,
        bucket: &str,
        key: &str,
        settings: OriginSettings,
    ) -> Result<Fetched, SourceError> {
        self.refuse_early(bucket, key)?;
        let (done, started) = self.join_or_lead(bucket, key, settings);
        match started {
            Some(started) => match started.await {
                Ok(Ok((head, rx))) => Ok(Fetched::Streaming {
                    head,
                    body: Box::pin(receiver_stream(rx)),
                }),
                Ok(Err(e)) => Err(e),
                // Another node stored it: the fetch task ended without streaming.
                Err(_) => wait(done).await.map(|info| Fetched::Stored(Box::new(info))),
            },
            None => wait(done).await.map(|info| Fetched::Stored(Box::new(info))),
        }
    }

    /// A remembered 404 or an origin in backoff is answered without a fetch.
    fn refuse_early(&self, bucket: &str, key: &str) -> Result<(), SourceError> {
        let now = Instant::now();
        {
            let mut misses = lock(&self.inner.recent_misses);
            let k = (bucket.to_owned(), key.to_owned());
            match misses.get(&k) {
                Some(until) if *until > now => return Err(SourceError::NotFound),
                Some(_) => {
                    misses.remove(&k);
                }
                None => {}
            }
        }
        match self.inner.backoff.remaining(&bucket.to_owned()) {
            Some(secs) => Err(SourceError::BackingOff(secs)),
            None => Ok(()),
        }
    }

    /// Joins the fetch in flight for this object or starts one. A leader also gets the
    /// receiver of the streaming start.
    fn join_or_lead(
        &self,
        bucket: &str,
        key: &str,
        settings: OriginSettings,
    ) -> (watch::Receiver<Done>, Option<oneshot::Receiver<Started>>) {
        let k = (bucket.to_owned(), key.to_owned());
        let mut inflight = lock(&self.inner.inflight);
        if let Some(rx) = inflight.get(&k) {
            return (rx.clone(), None);
        }
        let (done_tx, done_rx) = watch::channel(None);
        let (started_tx, started_rx) = oneshot::channel();
        inflight.insert(k.clone(), done_rx.clone());
        drop(inflight);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let result = pull(&inner, &k.0, &k.1, &settings, started_tx).await;
            let label = match &result {
                Ok(_) => "ok",
                Err(SourceError::NotFound) => "not_found",
                Err(_) => "error",
            };
            metrics::counter!("imgd_origin_fetches_total", "result" => label).increment(1);
            lock(&inner.inflight).remove(&k);
            let _ = done_tx.send(Some(result));
        });
        (done_rx, Some(started_rx))
    }

    /// Forgets remembered 404s and backoff (after the origin configuration changes).
    pub fn forget(&self, bucket: &str) {
        lock(&self.inner.recent_misses).retain(|(b, _), _| b != bucket);
        self.inner.backoff.succeeded(&bucket.to_owned());
    }
}

async fn wait(mut done: watch::Receiver<Done>) -> Result<ObjectInfo, SourceError> {
    loop {
        if let Some(result) = done.borrow_and_update().clone() {
            return result;
        }
        if done.changed().await.is_err() {
            return Err(SourceError::Failed("the fetch task ended".into()));
        }
    }
}

fn receiver_stream<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + Sync + Unpin + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn header(headers: &http::HeaderMap, name: impl http::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The leader's work: claim the fetch among all nodes, then fetch and store while
/// feeding the leading client. When another node stored the object meanwhile, `started`
/// is dropped unsent and the leading client is answered from the store.
async fn pull(
    inner: &Inner,
    bucket: &str,
    key: &str,
    settings: &OriginSettings,
    started: oneshot::Sender<Started>,
) -> Result<ObjectInfo, SourceError> {
    let claim = match inner.store.claim_origin_fetch(bucket, key).await {
        Ok(store::FetchClaim::Lead(claim)) => claim,
        Ok(store::FetchClaim::Stored(info)) => return Ok(*info),
        Err(e) => {
            let error = SourceError::Store(e.to_string());
            let _ = started.send(Err(error.clone()));
            return Err(error);
        }
    };
    let result = fetch_and_store(inner, bucket, key, settings, started).await;
    claim.release().await;
    result
}

async fn fetch_and_store(
    inner: &Inner,
    bucket: &str,
    key: &str,
    settings: &OriginSettings,
    started: oneshot::Sender<Started>,
) -> Result<ObjectInfo, SourceError> {
    let amz_date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let (url, headers) = origin::request_for(&settings.source, key, &amz_date);
    let request = FetchRequest {
        headers,
        require_image: true,
    };
    let fetched = inner.fetcher.get(&url, request).await;
    let outcome = match fetched {
        Err(FetchError::NotAnImage) => Err((
            SourceError::Failed("the origin's object is not an image".into()),
            false,
        )),
        Err(e) => Err((SourceError::Failed(e.to_string()), true)),
        Ok(resp) if resp.status == http::StatusCode::NOT_FOUND => {
            Err((SourceError::NotFound, false))
        }
        Ok(resp) if !resp.status.is_success() => Err((
            SourceError::Failed(format!("the origin answered {}", resp.status.as_u16())),
            true,
        )),
        Ok(resp) => Ok(resp),
    };
    let resp = match outcome {
        Ok(resp) => {
            inner.backoff.succeeded(&bucket.to_owned());
            resp
        }
        Err((error, back_off)) => {
            match &error {
                SourceError::NotFound => {
                    lock(&inner.recent_misses).insert(
                        (bucket.to_owned(), key.to_owned()),
                        Instant::now() + settings.miss_ttl(),
                    );
                }
                _ if back_off => inner.backoff.failed(bucket.to_owned()),
                _ => {}
            }
            tracing::info!(bucket, key, origin = %origin::describe(&settings.source), %error, "origin fetch failed");
            let _ = started.send(Err(error.clone()));
            return Err(error);
        }
    };

    let content_type = resp
        .image
        .map(|k| k.content_type().to_owned())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let head = OriginHead {
        content_type: content_type.clone(),
        content_length: resp.content_length,
        last_modified: header(&resp.headers, http::header::LAST_MODIFIED),
        cache_control: header(&resp.headers, http::header::CACHE_CONTROL),
    };
    let user = resp
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let meta = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((meta.to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let opts = PutOptions {
        headers: ObjectHeaders {
            content_type: Some(content_type),
            cache_control: head.cache_control.clone(),
            content_disposition: header(&resp.headers, http::header::CONTENT_DISPOSITION),
            user,
            ..Default::default()
        },
        expected_len: resp.content_length,
        // An upload that lands while the origin copy streams in wins.
        if_none_match_any: true,
        ..Default::default()
    };

    let (client_tx, client_rx) = mpsc::channel(16);
    let mut client = started.send(Ok((head, client_rx))).ok().map(|()| client_tx);
    let (store_tx, store_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let put = {
        let store = inner.store.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        tokio::spawn(async move {
            store
                .put_object(&bucket, &key, opts, receiver_stream(store_rx), |_| Ok(()))
                .await
        })
    };
    let mut body = resp.into_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
        let failed = chunk.is_err();
        let for_client = match &chunk {
            Ok(b) => Ok(b.clone()),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        // The store's side ends early only when the write failed; the put's result
        // says why.
        let stored_side_open = store_tx.send(chunk).await.is_ok();
        if let Some(tx) = &client {
            let delivered = tokio::time::timeout(CLIENT_STALL, tx.send(for_client)).await;
            if !matches!(delivered, Ok(Ok(()))) {
                client = None;
            }
        }
        if failed || !stored_side_open {
            break;
        }
    }
    drop(store_tx);
    drop(client);
    match put.await {
        Ok(Ok(info)) => {
            tracing::info!(
                bucket,
                key,
                size = info.size,
                "stored an object fetched from the origin"
            );
            Ok(info)
        }
        Ok(Err(StoreError::AlreadyExists)) => inner
            .store
            .object(bucket, key)
            .await
            .map_err(|e| SourceError::Store(e.to_string())),
        Ok(Err(StoreError::IncompleteBody { expected, got })) => Err(SourceError::Failed(format!(
            "the origin's body ended after {got} of {expected} bytes"
        ))),
        Ok(Err(e)) => Err(SourceError::Store(e.to_string())),
        Err(e) => Err(SourceError::Store(format!("store task: {e}"))),
    }
}
