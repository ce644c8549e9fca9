//! The delivery door: reads without S3/OSS credentials. Anonymous `GET`/`HEAD
//! /{bucket}/{key}` (optionally `?x-oss-process=` and a Cloudflare-style `exp`/`sig`),
//! the same as `GET /{key}` on a `bucket.<domain>` host (see [`crate::kernel::vhost`]), and
//! ixmage-style `/{prefix}/{token}/{alias}/{path}?...&key=` (on any host) land here.
//!
//! A request flows: route → bucket, key and pipeline (from `x-oss-process`, a
//! `key!style` suffix, or ixmage options) → [`access::authorize`] against the bucket's
//! delivery policy, signed-link secrets, referer allow-list and always-public styles →
//! [`send`]: the stored object streamed (ranges, 304s) or a rendered variant, with a
//! `Cache-Control` that never outlives the link.

pub mod access;
mod endpoint;
pub mod ixmage;
mod send;

pub use endpoint::Endpoint;

use crate::images::{ImageService, Target};
use crate::kernel::caching::Caching;
use crate::kernel::{ApiError, BoxBody, Clock, Query, empty_body, full, vhost, xml};
use crate::respond;
use access::{Grant, Link, Refusal};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use store::{DeliveryPolicy, Store};

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
    /// "Now" for link expiry and the caching caps derived from it.
    clock: Clock,
}

fn refused(r: Refusal) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, r.code(), r.message())
}

impl DeliveryDoor {
    pub fn new(images: ImageService, cfg: DeliveryConfig) -> Self {
        DeliveryDoor {
            images,
            cfg,
            domain: None,
            clock: Clock::system(),
        }
    }

    /// Serves virtual-hosted-style requests (`bucket.<domain>`) as well as path style.
    pub fn with_domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain.filter(|d| !d.is_empty());
        self
    }

    /// Judges link expiry by `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn ixmage_prefix(&self) -> &str {
        &self.cfg.ixmage_prefix
    }

    fn store(&self) -> &Store {
        self.images.store()
    }

    pub async fn handle(
        &self,
        endpoint: Endpoint,
        req: Request<Incoming>,
        query: Query,
        request_id: &str,
    ) -> Response<BoxBody> {
        let resource = req.uri().path().to_owned();
        match self.serve(endpoint, &req, &query).await {
            Ok(resp) => resp,
            Err(e) => {
                if e.status == StatusCode::FORBIDDEN {
                    metrics::counter!("imgd_delivery_refused_total", "code" => e.code).increment(1);
                }
                let mut resp = full(
                    e.status,
                    "application/xml",
                    xml::s3_error_document(e.code, &e.message, &resource, request_id),
                );
                e.apply_headers(resp.headers_mut());
                if req.method() == http::Method::HEAD {
                    *resp.body_mut() = empty_body();
                }
                resp
            }
        }
    }

    async fn serve(
        &self,
        endpoint: Endpoint,
        req: &Request<Incoming>,
        query: &Query,
    ) -> Result<Response<BoxBody>, ApiError> {
        let path = req.uri().path();
        let now = self.clock.now();
        let (bucket, target, link) = match &endpoint {
            Endpoint::Ixmage { path: rest } => self.ixmage_target(rest, query)?,
            Endpoint::Object => {
                let host = vhost::request_host(req.uri(), req.headers());
                self.native_target(path, host, query).await?
            }
        };
        let (bucket_info, settings) = self.store().bucket_view(&bucket).await?;
        let policy = settings.effective_delivery(bucket_info.acl);
        let secrets = if policy == DeliveryPolicy::Signed && link.is_some() {
            self.store().secrets_for_bucket(&bucket).await?
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
                    bucket = %bucket,
                    key = %target.key,
                    code = refusal.code(),
                    referer = referer.unwrap_or(""),
                    "delivery refused"
                );
                return Err(refused(refusal));
            }
        };
        let caching = Caching::new(grant.link_expires_at, settings.cache_ttl(), now);
        let head = req.method() == http::Method::HEAD;
        match &target.pipeline {
            Some(pipeline) => {
                respond::variant(
                    &self.images,
                    &bucket,
                    &target.key,
                    pipeline,
                    req,
                    caching,
                    head,
                )
                .await
            }
            None => send::object(&self.images, &bucket, &target.key, req, caching, head).await,
        }
    }

    /// The bucket, what to serve from it, and the link that may grant it.
    fn ixmage_target<'a>(
        &'a self,
        rest: &str,
        query: &'a Query,
    ) -> Result<(String, Target, Option<Link<'a>>), ApiError> {
        let parsed = ixmage::split_path(rest)
            .ok_or_else(|| ApiError::invalid_argument("Expected /{token}/{alias}/{path}."))?;
        if parsed.token != self.cfg.account_token {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NoSuchAccount",
                "The account token is not known here.",
            ));
        }
        let pipeline = ixmage::pipeline(query).map_err(ApiError::invalid_argument)?;
        let link = query.has("key").then_some(Link::Ixmage {
            token: self.cfg.account_token.as_str(),
            query: query.raw(),
        });
        let target = Target {
            key: parsed.key,
            pipeline: (!pipeline.is_empty()).then_some(pipeline),
            style: None,
        };
        Ok((parsed.alias, target, link))
    }

    async fn native_target<'q>(
        &self,
        path: &'q str,
        host: Option<&str>,
        query: &'q Query,
    ) -> Result<(String, Target, Option<Link<'q>>), ApiError> {
        let target = vhost::resolve(path, host, self.domain.as_deref());
        if target.bucket.is_empty() || target.key.is_empty() {
            return Err(ApiError::invalid_argument(
                "Expected /bucket/key, or /key on a bucket.<domain> host.",
            ));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidURI",
                        "The path is not UTF-8.",
                    )
                })
        };
        let (bucket, key) = (decode(&target.bucket)?, decode(target.key)?);
        // A Cloudflare link signs the path the client sees: on a virtual host that path
        // has no bucket in it, so the wire path is verified as it arrived.
        let link = query.has("sig").then_some(Link::Cloudflare {
            path,
            query: query.raw(),
        });
        let target = self
            .images
            .target(&bucket, &key, query.get("x-oss-process"))
            .await?;
        Ok((bucket, target, link))
    }
}
