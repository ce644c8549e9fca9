//! The S3 door as the listener sees it: CORS preflights answered here (s3s has no
//! OPTIONS operation), the [`guard`](super::guard) checks, then the s3s service
//! (signature checks, operation routing, XML), adapted to imgd's body type, with the
//! bucket's CORS headers added to responses to requests that carry an `Origin`.

use super::ImgdS3;
use super::auth::{ImgdAccess, ImgdAuth};
use super::cors;
use super::guard::{self, Refusal};
use crate::auth::Callers;
use crate::images::ImageService;
use crate::kernel::{BoxBody, Clock, Query, empty_body, full, vhost, xml};
use crate::{ServerConfig, ServerError};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use s3s::service::{S3Service, S3ServiceBuilder};
use std::sync::Arc;
use store::Store;

/// The s3s service with imgd's operations, authentication and access rules. `s3_config`
/// overrides s3s's defaults (tests use it to widen the clock-skew window for fixed
/// signature vectors).
pub fn s3_service(
    store: Store,
    images: ImageService,
    cfg: &ServerConfig,
    s3_config: Option<s3s::config::S3Config>,
) -> Result<S3Service, ServerError> {
    let mut builder = S3ServiceBuilder::new(ImgdS3::new(
        store.clone(),
        cfg.region.clone(),
        cfg.root_access_key.clone(),
        images,
    ));
    builder.set_auth(ImgdAuth::new(
        store.clone(),
        cfg.root_access_key.clone(),
        cfg.root_secret_key.clone(),
    ));
    builder.set_access(ImgdAccess::new(store, cfg.root_access_key.clone()));
    // Bucket names are judged in ImgdAccess, whose refusal says which rule was broken.
    builder.set_validation(super::auth::ImgdNames);
    if let Some(domain) = cfg.domain.as_deref().filter(|d| !d.is_empty()) {
        // imgd's own host parser, so s3s resolves `bucket.<domain>` exactly as the
        // delivery and OSS doors do.
        builder.set_host(vhost::DomainHosts::new(domain).map_err(ServerError::Config)?);
    }
    if let Some(c) = s3_config {
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
            c,
        ))));
    }
    Ok(builder.build())
}

pub struct S3Door {
    service: S3Service,
    /// For the CORS rules, which apply to preflights s3s never sees and to the
    /// responses s3s renders.
    store: Store,
    region: String,
    domain: Option<String>,
    clock: Clock,
    /// Who the access keys are: a body is only spooled for a key that exists.
    callers: Callers,
}

/// S3's XML error document for a refusal made in the door.
fn refusal_response(refusal: &Refusal, resource: &str, request_id: &str) -> Response<BoxBody> {
    full(
        refusal.status,
        "application/xml",
        xml::s3_error_document(refusal.code, &refusal.message, resource, request_id),
    )
}

impl S3Door {
    pub fn new(service: S3Service, store: Store, callers: Callers, cfg: &ServerConfig) -> Self {
        S3Door {
            service,
            store,
            region: cfg.region.clone(),
            domain: cfg.domain.clone().filter(|d| !d.is_empty()),
            clock: cfg.clock,
            callers,
        }
    }

    /// Whether the SigV4 `Authorization` header names the root key or an active extra
    /// key. Spooling writes the body to disk before s3s checks the signature, so a
    /// request naming no known key is left for s3s to refuse unspooled.
    async fn names_a_known_key(&self, headers: &http::HeaderMap) -> bool {
        match crate::auth::sigv4::header_access_key(headers) {
            Some(key) => matches!(self.callers.lookup(key).await, Ok(Some(_))),
            None => false,
        }
    }

    pub async fn handle(
        &self,
        req: Request<Incoming>,
        query: &Query,
        request_id: &str,
    ) -> Response<BoxBody> {
        let target = vhost::resolve_request(req.uri(), req.headers(), self.domain.as_deref());
        let (bucket, virtual_host) = (target.bucket.into_owned(), target.virtual_host);
        // Before the guard and s3s: a preflight carries no credentials of its own, and on
        // a presigned URL the query's signature is for the GET or PUT that follows.
        if req.method() == Method::OPTIONS {
            return self
                .preflight(req.headers(), req.uri().path(), &bucket, request_id)
                .await;
        }
        let origin = req
            .headers()
            .get(http::header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .map(str::to_owned);
        let method = req.method().clone();
        let mut resp = self.call(req, query, virtual_host, request_id).await;
        if let Some(origin) = origin
            && !bucket.is_empty()
        {
            self.add_cors(resp.headers_mut(), &bucket, &origin, method.as_str())
                .await;
        }
        resp
    }

    /// A preflight answered from the bucket's CORS rules.
    async fn preflight(
        &self,
        headers: &http::HeaderMap,
        path: &str,
        bucket: &str,
        request_id: &str,
    ) -> Response<BoxBody> {
        // Origin and method are judged before the bucket is looked up, as S3 does.
        if let Err(refusal) = cors::preflight_request(headers) {
            return refusal_response(&refusal, path, request_id);
        }
        let rules = if bucket.is_empty() {
            Vec::new()
        } else {
            match self.store.bucket_view(bucket).await {
                Ok((_, settings)) => settings.cors,
                Err(e) => {
                    let e = crate::kernel::ApiError::from(e);
                    let refusal = Refusal {
                        status: e.status,
                        code: e.code,
                        message: e.message,
                    };
                    return refusal_response(&refusal, path, request_id);
                }
            }
        };
        match cors::preflight(&rules, headers) {
            Ok(allow) => {
                let mut resp = Response::new(empty_body());
                resp.headers_mut().extend(allow);
                resp.headers_mut()
                    .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(0));
                resp
            }
            Err(refusal) => refusal_response(&refusal, path, request_id),
        }
    }

    /// Adds the bucket's CORS headers for `origin` to an actual response. A failed
    /// lookup leaves the response as it is: CORS headers only ever add permission.
    async fn add_cors(
        &self,
        headers: &mut http::HeaderMap,
        bucket: &str,
        origin: &str,
        method: &str,
    ) {
        let settings = match self.store.bucket_view(bucket).await {
            Ok((_, settings)) => settings,
            Err(e) => {
                tracing::debug!(%bucket, error = %e, "no CORS rules read");
                return;
            }
        };
        for (name, value) in cors::actual_headers(&settings.cors, origin, method) {
            let Some(name) = name else { continue };
            if name == http::header::VARY {
                headers.append(name, value);
            } else {
                headers.insert(name, value);
            }
        }
    }

    /// The guard, then s3s.
    async fn call(
        &self,
        req: Request<Incoming>,
        query: &Query,
        virtual_host: bool,
        request_id: &str,
    ) -> Response<BoxBody> {
        let now = self.clock.now();
        if let Err(refusal) = guard::check(query, req.headers(), &self.region, now) {
            tracing::info!(code = refusal.code, message = %refusal.message, path = req.uri().path(), "request refused before signature check");
            return refusal_response(&refusal, req.uri().path(), request_id);
        }
        let mut req = req.map(s3s::Body::from);
        // s3s refuses a PUT without Content-Length (chunked) before imgd's code runs.
        if super::put::needs_spool(&req) && self.names_a_known_key(req.headers()).await {
            let path = req.uri().path().to_owned();
            metrics::counter!("imgd_s3_spooled_uploads_total").increment(1);
            req = match super::put::spool_body(req).await {
                Ok(req) => req,
                Err(e) => {
                    return full(
                        e.status,
                        "application/xml",
                        xml::s3_error_document(e.code, &e.message, &path, request_id),
                    );
                }
            };
        }
        drop_unreadable_range(req.headers_mut());
        // The operations read the query the route already parsed (`x-oss-process`).
        req.extensions_mut().insert(query.clone());
        // On a virtual host the path is all key (`/k` is an object, not bucket `k`), and
        // s3s already signs the bucket-level resource as `/bucket/` there.
        if !virtual_host && let Some(uri) = guard::sigv2_bucket_uri(req.uri(), query, req.headers())
        {
            *req.uri_mut() = uri;
        }
        match self.service.call(req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                if parts.status == StatusCode::NOT_MODIFIED {
                    // A 304 carries validators only, never the error document s3s renders.
                    parts.headers.remove(http::header::CONTENT_TYPE);
                    parts.headers.remove(http::header::CONTENT_LENGTH);
                    return Response::from_parts(parts, empty_body());
                }
                // Refusals s3s makes itself may lack a message; clients then print
                // "Unknown". s3s renders error documents as one buffer.
                if (parts.status.is_client_error() || parts.status.is_server_error())
                    && let Some(doc) = body
                        .bytes()
                        .and_then(|b| super::messages::s3_error_with_message(&b))
                {
                    parts.headers.remove(http::header::CONTENT_LENGTH);
                    return Response::from_parts(
                        parts,
                        crate::kernel::body::bytes_body(doc.into()),
                    );
                }
                Response::from_parts(
                    parts,
                    body.map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e })
                        .boxed(),
                )
            }
            Err(e) => {
                tracing::error!(error = ?e, "s3 service failed");
                full(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "application/xml",
                    xml::s3_error_document(
                        "InternalError",
                        "We encountered an internal error. Please try again.",
                        "",
                        request_id,
                    ),
                )
            }
        }
    }
}

/// A `Range` the kernel's parser cannot read (several ranges, another unit, a malformed
/// spec) is ignored and the whole object sent, as RFC 9110 allows, S3 does for multiple
/// ranges, and the OSS and delivery doors do; s3s 0.14.1 would refuse it with 400
/// `InvalidArgument`. Only an unsigned header is dropped: a SigV4 header signature that
/// covers `range` would no longer verify, so such a request keeps s3s's answer.
fn drop_unreadable_range(headers: &mut http::HeaderMap) {
    let unreadable = headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| crate::kernel::range::parse(v).is_none());
    if !unreadable {
        return;
    }
    let signed = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("SignedHeaders=").nth(1))
        .and_then(|rest| rest.split(',').next())
        .is_some_and(|list| {
            list.split(';')
                .any(|h| h.trim().eq_ignore_ascii_case("range"))
        });
    if !signed {
        headers.remove(http::header::RANGE);
    }
}
