//! The delivery door: reads without S3/OSS credentials. Anonymous `GET`/`HEAD
//! /{bucket}/{key}` (optionally `?x-oss-process=` and a Cloudflare-style `exp`/`sig`),
//! the same as `GET /{key}` on a `bucket.<domain>` host (see [`crate::vhost`]), and
//! ixmage-style `/{prefix}/{token}/{alias}/{path}?...&key=` (on any host) land here.
//!
//! A request flows: route → bucket, key and pipeline (from `x-oss-process`, a
//! `key!style` suffix, or ixmage options) → [`access::authorize`] against the bucket's
//! delivery policy, signed-link secrets, referer allow-list and always-public styles →
//! [`send`]: the stored object streamed (ranges, 304s) or a rendered variant, with a
//! `Cache-Control` that never outlives the link.

pub mod access;
pub mod ixmage;
mod send;

pub use send::http_date;

use crate::images::ImageService;
use crate::routes::{self, BoxBody};
use access::{Grant, Link, Refusal};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use imaging::{Pipeline, Process};
use store::{DeliveryPolicy, Store, StoreError};

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The account token of ixmage-style URLs.
    pub account_token: String,
    /// Path prefix of ixmage-style URLs (cannot be a bucket name).
    pub ixmage_prefix: String,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            account_token: "imgd".into(),
            ixmage_prefix: "/_ix".into(),
        }
    }
}

#[derive(Clone)]
pub struct DeliveryDoor {
    images: ImageService,
    cfg: DeliveryConfig,
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`).
    domain: Option<String>,
}

/// A delivery failure: the status, a short code, and a generic message.
#[derive(Debug)]
pub(crate) struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            message: message.into(),
        }
    }

    fn refused(r: Refusal) -> Self {
        Failure::new(StatusCode::FORBIDDEN, r.code(), r.message())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchBucket => Failure::new(
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist",
            ),
            StoreError::NoSuchKey => Failure::new(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            ),
            StoreError::InvalidArgument(m) => {
                Failure::new(StatusCode::BAD_REQUEST, "InvalidArgument", m)
            }
            other => {
                tracing::error!(error = %other, "store failure on the delivery door");
                Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                )
            }
        }
    }
}

impl From<crate::images::ImageError> for Failure {
    fn from(e: crate::images::ImageError) -> Self {
        use crate::images::ImageError;
        match e {
            ImageError::Invalid(m) => Failure::new(StatusCode::BAD_REQUEST, "InvalidArgument", m),
            ImageError::Store(e) => e.into(),
            ImageError::Busy(_) => Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Too many images are being processed; please retry.",
            ),
            ImageError::Origin(e) => {
                Failure::new(StatusCode::BAD_GATEWAY, "BadGateway", e.to_string())
            }
            ImageError::Internal(m) => {
                tracing::error!(error = %m, "image processing failed");
                Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "The image could not be processed.",
                )
            }
        }
    }
}

/// What one delivery request resolved to.
struct Target {
    bucket: String,
    key: String,
    pipeline: Option<Pipeline>,
    style: Option<String>,
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Whether an anonymous request is for this door: a GET or HEAD of an object with no
/// S3 or OSS credentials in its header or query. The object is `/bucket/key`, or `/key`
/// on a `bucket.<domain>` host; a bucket-level GET (a listing) stays with the S3 door.
pub fn is_delivery(
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    domain: Option<&str>,
) -> bool {
    if method != http::Method::GET && method != http::Method::HEAD {
        return false;
    }
    if headers.contains_key(http::header::AUTHORIZATION) {
        return false;
    }
    let query = uri.query().unwrap_or("");
    let credential_params = [
        "X-Amz-Credential",
        "X-Amz-Signature",
        "AWSAccessKeyId",
        "OSSAccessKeyId",
    ];
    if query.split('&').any(|p| {
        let name = p.split_once('=').map_or(p, |(k, _)| k);
        credential_params.contains(&name)
    }) {
        return false;
    }
    let target = crate::vhost::resolve_request(uri, headers, domain);
    !target.bucket.is_empty() && !target.key.is_empty()
}

impl DeliveryDoor {
    pub fn new(images: ImageService, cfg: DeliveryConfig) -> Self {
        DeliveryDoor {
            images,
            cfg,
            domain: None,
        }
    }

    /// Serves virtual-hosted-style requests (`bucket.<domain>`) as well as path style.
    pub fn with_domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain.filter(|d| !d.is_empty());
        self
    }

    pub fn ixmage_prefix(&self) -> &str {
        &self.cfg.ixmage_prefix
    }

    fn store(&self) -> &Store {
        self.images.store()
    }

    pub async fn handle(&self, req: Request<Incoming>, request_id: &str) -> Response<BoxBody> {
        let resource = req.uri().path().to_owned();
        match self.serve(&req).await {
            Ok(resp) => resp,
            Err(f) => {
                if f.status == StatusCode::FORBIDDEN {
                    metrics::counter!("imgd_delivery_refused_total", "code" => f.code).increment(1);
                }
                let mut resp = routes::full(
                    f.status,
                    "application/xml",
                    crate::guard::error_xml(f.code, &f.message, &resource, request_id),
                );
                if f.status == StatusCode::SERVICE_UNAVAILABLE {
                    resp.headers_mut()
                        .insert(http::header::RETRY_AFTER, http::HeaderValue::from(2u32));
                }
                if req.method() == http::Method::HEAD {
                    *resp.body_mut() = routes::empty_body();
                }
                resp
            }
        }
    }

    async fn serve(&self, req: &Request<Incoming>) -> Result<Response<BoxBody>, Failure> {
        let path = req.uri().path();
        let query = req.uri().query().unwrap_or("");
        let now = now_unix();
        let (target, link) = match path
            .strip_prefix(self.cfg.ixmage_prefix.as_str())
            .filter(|rest| rest.starts_with('/'))
        {
            Some(rest) => self.ixmage_target(rest, query)?,
            None => {
                let host = crate::vhost::request_host(req.uri(), req.headers());
                self.native_target(path, host, query).await?
            }
        };
        let (bucket, settings) = self.store().bucket_view(&target.bucket).await?;
        let policy = settings.effective_delivery(bucket.acl);
        let secrets = if policy == DeliveryPolicy::Signed && link.is_some() {
            self.store().secrets_for_bucket(&target.bucket).await?
        } else {
            Vec::new()
        };
        let referer = req
            .headers()
            .get(http::header::REFERER)
            .and_then(|v| v.to_str().ok());
        let decision = access::authorize(
            &access::Request {
                policy,
                settings: &settings,
                link,
                referer,
                style: target.style.as_deref(),
                now,
            },
            &secrets,
        );
        let grant: Grant = match decision {
            Ok(g) => g,
            Err(refusal) => {
                tracing::info!(
                    bucket = %target.bucket,
                    key = %target.key,
                    code = refusal.code(),
                    referer = referer.unwrap_or(""),
                    "delivery refused"
                );
                return Err(Failure::refused(refusal));
            }
        };
        let caching = send::Caching::new(grant, settings.cache_ttl(), now);
        let head = req.method() == http::Method::HEAD;
        match &target.pipeline {
            Some(pipeline) => {
                send::variant(
                    &self.images,
                    &target.bucket,
                    &target.key,
                    pipeline,
                    req,
                    caching,
                    head,
                )
                .await
            }
            None => {
                send::object(
                    &self.images,
                    &target.bucket,
                    &target.key,
                    req,
                    caching,
                    head,
                )
                .await
            }
        }
    }

    fn ixmage_target<'a>(
        &'a self,
        rest: &str,
        query: &'a str,
    ) -> Result<(Target, Option<Link<'a>>), Failure> {
        let parsed = ixmage::split_path(rest).ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Expected /{token}/{alias}/{path}.",
            )
        })?;
        if parsed.token != self.cfg.account_token {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                "NoSuchAccount",
                "The account token is not known here.",
            ));
        }
        let pipeline = ixmage::pipeline(query)
            .map_err(|m| Failure::new(StatusCode::BAD_REQUEST, "InvalidArgument", m))?;
        let has_key = query
            .split('&')
            .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == "key");
        let link = has_key.then_some(Link::Ixmage {
            token: self.cfg.account_token.as_str(),
            query,
        });
        Ok((
            Target {
                bucket: parsed.alias,
                key: parsed.key,
                pipeline: (!pipeline.is_empty()).then_some(pipeline),
                style: None,
            },
            link,
        ))
    }

    async fn native_target<'q>(
        &self,
        path: &'q str,
        host: Option<&str>,
        query: &'q str,
    ) -> Result<(Target, Option<Link<'q>>), Failure> {
        let target = crate::vhost::resolve(path, host, self.domain.as_deref());
        if target.bucket.is_empty() || target.key.is_empty() {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Expected /bucket/key, or /key on a bucket.<domain> host.",
            ));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| {
                    Failure::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidURI",
                        "The path is not UTF-8.",
                    )
                })
        };
        let (bucket, key) = (decode(&target.bucket)?, decode(target.key)?);
        // A Cloudflare link signs the path the client sees: on a virtual host that path
        // has no bucket in it, so the wire path is verified as it arrived.
        let has_sig = query
            .split('&')
            .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == "sig");
        let link = has_sig.then_some(Link::Cloudflare { path, query });
        let (pipeline, style, key) = match query_value(query, "x-oss-process") {
            Some(ops) => {
                let process = imaging::oss::parse_process(&ops).map_err(|e| {
                    Failure::new(StatusCode::BAD_REQUEST, "InvalidArgument", e.to_string())
                })?;
                let style = match &process {
                    Process::Style(name) => Some(name.as_str().to_owned()),
                    Process::Pipeline(_) => None,
                };
                let pipeline = match process {
                    Process::Pipeline(p) => p,
                    Process::Style(_) => self.images.resolve(&bucket, &ops).await?,
                };
                (Some(pipeline), style, key)
            }
            None => match self.store().object(&bucket, &key).await {
                Ok(_) => (None, None, key),
                Err(StoreError::NoSuchKey) => {
                    match self.images.split_style_suffix(&bucket, &key).await? {
                        Some((object, pipeline, style)) => (Some(pipeline), Some(style), object),
                        None => (None, None, key),
                    }
                }
                Err(StoreError::NoSuchBucket) => (None, None, key),
                Err(e) => return Err(e.into()),
            },
        };
        Ok((
            Target {
                bucket,
                key,
                pipeline,
                style,
            },
            link,
        ))
    }
}
