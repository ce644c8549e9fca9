//! The S3 door as the listener sees it: the [`guard`](super::guard) checks, then the
//! s3s service (signature checks, operation routing, XML), adapted to imgd's body type.

use super::ImgdS3;
use super::auth::{ImgdAccess, ImgdAuth};
use super::guard;
use crate::images::ImageService;
use crate::kernel::{BoxBody, Clock, Query, empty_body, full, vhost, xml};
use crate::{ServerConfig, ServerError};
use http::{Request, Response, StatusCode};
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
    region: String,
    domain: Option<String>,
    clock: Clock,
}

impl S3Door {
    pub fn new(service: S3Service, cfg: &ServerConfig) -> Self {
        S3Door {
            service,
            region: cfg.region.clone(),
            domain: cfg.domain.clone().filter(|d| !d.is_empty()),
            clock: cfg.clock,
        }
    }

    pub async fn handle(
        &self,
        req: Request<Incoming>,
        query: &Query,
        request_id: &str,
    ) -> Response<BoxBody> {
        let now = self.clock.now();
        if let Err(refusal) = guard::check(query, req.headers(), &self.region, now) {
            tracing::info!(code = refusal.code, message = %refusal.message, path = req.uri().path(), "request refused before signature check");
            return full(
                refusal.status,
                "application/xml",
                xml::s3_error_document(
                    refusal.code,
                    &refusal.message,
                    req.uri().path(),
                    request_id,
                ),
            );
        }
        // On a virtual host the path is all key (`/k` is an object, not bucket `k`), and
        // s3s already signs the bucket-level resource as `/bucket/` there.
        let virtual_host =
            vhost::resolve_request(req.uri(), req.headers(), self.domain.as_deref()).virtual_host;
        let mut req = req.map(s3s::Body::from);
        // The operations read the query the route already parsed (`x-oss-process`).
        req.extensions_mut().insert(query.clone());
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
