//! The imageproxy-py drop-in: `/{bucket}/{size}/{sig}/{ext_url}[/proxy]` on its own
//! listener, so a Gazelle site only changes `IMAGE_CACHE_HOST`.
//!
//! A request flows: [`parse_path`] (400 when malformed) → the weekly-rotating signature
//! ([`signing::weekly`], 410 when wrong or aged out) → the source URL from `ext_url` →
//! the per-source failure backoff (520 while it lasts) → the original, stored once per
//! `(bucket, ext_url)` in the configured store bucket (fetched through the SSRF-safe
//! [`fetch::Fetcher`] on first use, with concurrent first uses coalesced) → the full
//! original, or a fit-within resize rendered (and cached) by the shared
//! [`ImageService`]. `/proxy` links stream the source without storing it.
//!
//! Statuses follow upstream, for drop-in compatibility: 400, 410 and 520 with a short
//! plain-text reason.

mod path;

use crate::images::{ImageError, ImageService, Outcome};
use crate::kernel::date::http_date_header;
use crate::kernel::{self, ApiError, BoxBody, Clock};
use crate::sources::backoff::Backoffs;
use crate::sources::coalesce::{Coalesced, Coalescer};
use base64::Engine;
use bytes::Bytes;
use fetch::{FetchRequest, Fetcher};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use imaging::Process;
pub use path::{ProxyPath, SizeSpec, parse_path, parse_size};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::{ObjectHeaders, ObjectInfo, PutOptions, StoreError};

/// Upstream's retry schedule for failing sources: a minute, doubling, capped at a day.
const FAILURE_BACKOFF_FIRST: Duration = Duration::from_secs(60);
const FAILURE_BACKOFF_CAP: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone)]
pub struct ImageProxyConfig {
    pub listen: SocketAddr,
    pub secret: String,
    /// Allowed heights and widths (upstream default 150, 250, 500).
    pub sizes: Vec<u32>,
    /// Bucket of the store that keeps the originals (created at start-up if missing).
    pub store_bucket: String,
    /// `Cache-Control` max-age, capped by the link's remaining life.
    pub cache_ttl_secs: u32,
}

#[derive(Clone)]
pub struct ImageProxyDoor {
    images: ImageService,
    fetcher: Fetcher,
    cfg: Arc<ImageProxyConfig>,
    clock: Clock,
    failures: Arc<Backoffs<(String, String)>>,
    fetches: Coalescer<(String, String), Result<ObjectInfo, String>>,
}

fn text(status: StatusCode, message: &str) -> Response<BoxBody> {
    kernel::full(status, "text/plain; charset=utf-8", format!("{message}\n"))
}

impl ImageProxyDoor {
    pub fn new(
        images: ImageService,
        fetcher: Fetcher,
        cfg: ImageProxyConfig,
        clock: Clock,
    ) -> Self {
        ImageProxyDoor {
            images,
            fetcher,
            cfg: Arc::new(cfg),
            clock,
            failures: Arc::new(Backoffs::new(FAILURE_BACKOFF_FIRST, FAILURE_BACKOFF_CAP)),
            fetches: Coalescer::default(),
        }
    }

    pub fn config(&self) -> &ImageProxyConfig {
        &self.cfg
    }

    /// Creates the store bucket for originals if it does not exist.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        match self
            .images
            .store()
            .create_bucket(&self.cfg.store_bucket, store::BucketAcl::Private)
            .await
        {
            Ok(()) | Err(StoreError::BucketExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn handle(&self, req: Request<Incoming>) -> Response<BoxBody> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
        }
        let head = req.method() == Method::HEAD;
        let Some(link) = parse_path(req.uri().path()) else {
            return text(StatusCode::BAD_REQUEST, "malformed path");
        };
        let now = self.clock.now();
        let message = signing::weekly::message(&link.bucket, &link.ext_url, link.proxy);
        let accepted = match signing::weekly::verify(&self.cfg.secret, &message, &link.sig, now) {
            Ok(a) => a,
            Err(_) => {
                metrics::counter!("imgd_imageproxy_refused_total", "code" => "signature")
                    .increment(1);
                return text(StatusCode::GONE, "signature invalid or expired");
            }
        };
        let Some(url) = decode_ext_url(&link.ext_url) else {
            return text(StatusCode::BAD_REQUEST, "ext_url is not base64 of a URL");
        };
        let size = if link.proxy {
            SizeSpec::Full
        } else {
            match parse_size(&link.size, &self.cfg.sizes) {
                Some(s) => s,
                None => return text(StatusCode::BAD_REQUEST, "no allowed size in the size spec"),
            }
        };
        let max_age = i64::from(self.cfg.cache_ttl_secs)
            .min(accepted.expires_at - now)
            .max(0);
        let inm = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok());

        let source_key = (link.bucket.clone(), link.ext_url.clone());
        if let Some(retry) = self.failures.remaining(&source_key) {
            return text(
                StatusCode::from_u16(520).unwrap_or(StatusCode::BAD_GATEWAY),
                &format!("source failed recently; next attempt in {retry} s"),
            );
        }
        let object_key = original_key(&link.bucket, &url);
        let store = self.images.store();
        let stored = match store.object(&self.cfg.store_bucket, &object_key).await {
            Ok(info) => Some(info),
            Err(StoreError::NoSuchKey) => None,
            Err(e) => {
                tracing::error!(error = %e, "imageproxy: store lookup failed");
                return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        };
        let mut resp = match (link.proxy, stored) {
            (true, None) => self.stream_source(&url, &source_key, head).await,
            (_, stored) => {
                let info = match stored {
                    Some(info) => info,
                    None => match self.fetch_original(&url, &source_key, &object_key).await {
                        Ok(info) => info,
                        Err(reason) => {
                            return text(
                                StatusCode::from_u16(520).unwrap_or(StatusCode::BAD_GATEWAY),
                                &reason,
                            );
                        }
                    },
                };
                match size {
                    SizeSpec::Full => self.send_original(&info, inm, head).await,
                    SizeSpec::Fit { height, width } => {
                        self.send_resized(&object_key, height, width, inm, head)
                            .await
                    }
                }
            }
        };
        if resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED {
            if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
                resp.headers_mut().insert(header::CACHE_CONTROL, v);
            }
            if let Some(v) = http_date_header(accepted.expires_at) {
                resp.headers_mut().insert(header::EXPIRES, v);
            }
        }
        resp
    }

    fn record(&self, source: &(String, String), ok: bool) {
        if ok {
            self.failures.succeeded(source);
        } else {
            self.failures.failed(source.clone());
        }
    }

    /// Fetches the original once (concurrent first requests share the fetch) and stores
    /// it. The error is the short reason a 520 carries.
    async fn fetch_original(
        &self,
        url: &str,
        source: &(String, String),
        object_key: &str,
    ) -> Result<ObjectInfo, String> {
        let job = {
            let door = self.clone();
            let (url, source, object_key) = (url.to_owned(), source.clone(), object_key.to_owned());
            move || async move {
                let result = door.fetch_and_store(&url, &object_key).await;
                door.record(&source, result.is_ok());
                if let Err(reason) = &result {
                    tracing::info!(%url, %reason, "imageproxy: source fetch failed");
                }
                result
            }
        };
        match self.fetches.run(source.clone(), job).await.0 {
            Coalesced::Value(v) => v,
            Coalesced::Panicked => Err("internal error".into()),
        }
    }

    async fn fetch_and_store(&self, url: &str, object_key: &str) -> Result<ObjectInfo, String> {
        let request = FetchRequest {
            require_image: true,
            ..Default::default()
        };
        let resp = self
            .fetcher
            .get(url, request)
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status.is_success() {
            return Err(format!("source answered {}", resp.status.as_u16()));
        }
        let content_type = resp.image.map(|k| k.content_type().to_owned());
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        let opts = PutOptions {
            headers: ObjectHeaders {
                content_type,
                user: [("source-url".to_owned(), url.to_owned())]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            expected_len: Some(bytes.len() as u64),
            ..Default::default()
        };
        let body = Box::pin(futures::stream::once(async move {
            Ok::<_, std::io::Error>(bytes)
        }));
        self.images
            .store()
            .put_object(&self.cfg.store_bucket, object_key, opts, body, |_| Ok(()))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "imageproxy: storing an original failed");
                "could not store the source".to_owned()
            })
    }

    async fn send_original(
        &self,
        info: &ObjectInfo,
        inm: Option<&str>,
        head: bool,
    ) -> Response<BoxBody> {
        if inm.is_some_and(|h| store::etag_matches(h, &info.etag)) {
            return not_modified(&info.etag);
        }
        let opened = self
            .images
            .store()
            .open_object(&info.bucket, &info.key, |i| Ok(0..i.size))
            .await;
        let (info, _, stream) = match opened {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "imageproxy: reading an original failed");
                return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        };
        let body = kernel::stream_body(stream, head);
        let mut r = Response::new(body);
        let h = r.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
        let ct = info
            .headers
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        if let Ok(v) = HeaderValue::from_str(ct) {
            h.insert(header::CONTENT_TYPE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", info.etag)) {
            h.insert(header::ETAG, v);
        }
        r
    }

    async fn send_resized(
        &self,
        object_key: &str,
        height: Option<u32>,
        width: Option<u32>,
        inm: Option<&str>,
        head: bool,
    ) -> Response<BoxBody> {
        let mut ops = String::from("image/resize,m_lfit");
        if let Some(h) = height {
            ops.push_str(&format!(",h_{h}"));
        }
        if let Some(w) = width {
            ops.push_str(&format!(",w_{w}"));
        }
        let pipeline = match imaging::oss::parse_process(&ops) {
            Ok(Process::Pipeline(p)) => p,
            _ => return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        };
        let outcome = self
            .images
            .render(&self.cfg.store_bucket, object_key, &pipeline, None, inm)
            .await;
        match outcome {
            Ok(Outcome::NotModified { etag, .. }) => not_modified(&etag),
            Ok(Outcome::Rendered(v)) => {
                let len = v.bytes.len();
                let mut r = kernel::full(
                    StatusCode::OK,
                    &v.content_type,
                    if head { Bytes::new() } else { v.bytes },
                );
                let h = r.headers_mut();
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", v.etag)) {
                    h.insert(header::ETAG, v);
                }
                r
            }
            Err(ImageError::Invalid(m)) => text(
                StatusCode::from_u16(520).unwrap_or(StatusCode::BAD_GATEWAY),
                &format!("the source is not a usable image: {m}"),
            ),
            Err(e) => {
                // The kernel's mapping decides status and `Retry-After`; the text is
                // imageproxy-py's.
                let e = ApiError::from(e);
                let mut r = if e.status == StatusCode::SERVICE_UNAVAILABLE {
                    text(e.status, "busy; retry")
                } else {
                    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                };
                e.apply_headers(r.headers_mut());
                r
            }
        }
    }

    /// `/proxy` for a source never stored: stream it through, at full size.
    async fn stream_source(
        &self,
        url: &str,
        source: &(String, String),
        head: bool,
    ) -> Response<BoxBody> {
        let request = FetchRequest {
            require_image: true,
            ..Default::default()
        };
        let resp = match self.fetcher.get(url, request).await {
            Ok(r) if r.status.is_success() => r,
            Ok(r) => {
                self.record(source, false);
                return text(
                    StatusCode::from_u16(520).unwrap_or(StatusCode::BAD_GATEWAY),
                    &format!("source answered {}", r.status.as_u16()),
                );
            }
            Err(e) => {
                self.record(source, false);
                return text(
                    StatusCode::from_u16(520).unwrap_or(StatusCode::BAD_GATEWAY),
                    &e.to_string(),
                );
            }
        };
        self.record(source, true);
        let content_type = resp
            .image
            .map(|k| k.content_type())
            .unwrap_or("application/octet-stream");
        let length = resp.content_length;
        let body = kernel::stream_body(sync_wrapper::SyncStream::new(resp.into_stream()), head);
        let mut r = Response::new(body);
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(n) = length {
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        r
    }
}

fn not_modified(etag: &str) -> Response<BoxBody> {
    let mut r = Response::new(kernel::empty_body());
    *r.status_mut() = StatusCode::NOT_MODIFIED;
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// `ext_url` is URL-safe base64 with `=` padding stripped; padded input is accepted too.
pub fn decode_ext_url(ext_url: &str) -> Option<String> {
    let trimmed = ext_url.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()?;
    let url = String::from_utf8(bytes).ok()?;
    (url.starts_with("http://") || url.starts_with("https://")).then_some(url)
}

/// Where the original of `(bucket, url)` is kept in the store bucket.
pub fn original_key(bucket: &str, url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    format!("{bucket}/{}", hex::encode(&digest[..16]))
}
