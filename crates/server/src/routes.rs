//! The route table: which front door a request is for.

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use metrics_exporter_prometheus::PrometheusHandle;
use store::Store;

/// Every front door imgd serves on the object API's listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontDoor {
    /// `GET /_imgd/health`: 200 once the metadata database answers.
    Health,
    /// `GET /_imgd/metrics`: Prometheus text format.
    Metrics,
    /// `/_imgd/admin/...`: the admin API (bearer token).
    Admin,
    /// Anything else under `/_imgd/`: 404, never the S3 API.
    UnknownInternal,
    /// The OSS-compatible object API: requests signed the OSS way (an
    /// `Authorization: OSS…` header, or an `OSSAccessKeyId` query parameter, whatever the
    /// method) and OSS-only operations (ProcessObject: `POST /{bucket}/{key}?x-oss-process`).
    /// s3s refuses OSS `Authorization` headers, so they must never reach the S3 door.
    Oss,
    /// Reads without S3/OSS credentials: anonymous `GET`/`HEAD` of objects (public,
    /// Cloudflare-signed) and ixmage-style URLs under their prefix. Chosen by
    /// [`crate::delivery::is_delivery`] after `classify`, which needs the headers.
    Delivery,
    /// Everything outside `/_imgd/`: the S3 API.
    S3,
}

impl FrontDoor {
    pub fn classify(method: &Method, uri: &http::Uri, headers: &http::HeaderMap) -> FrontDoor {
        let path = uri.path();
        let Some(internal) = path.strip_prefix("/_imgd/") else {
            let has_param = |name: &str| {
                uri.query().is_some_and(|q| {
                    q.split('&')
                        .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == name)
                })
            };
            let oss_header = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_start().starts_with("OSS"));
            if oss_header
                || has_param("OSSAccessKeyId")
                || (method == Method::POST && has_param("x-oss-process"))
            {
                return FrontDoor::Oss;
            }
            return FrontDoor::S3;
        };
        match (method, internal) {
            (&Method::GET | &Method::HEAD, "health") => FrontDoor::Health,
            (&Method::GET | &Method::HEAD, "metrics") => FrontDoor::Metrics,
            (_, p) if p.starts_with("admin/") => FrontDoor::Admin,
            _ => FrontDoor::UnknownInternal,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FrontDoor::Health => "health",
            FrontDoor::Metrics => "metrics",
            FrontDoor::UnknownInternal => "internal",
            FrontDoor::Oss => "oss",
            FrontDoor::Admin => "admin",
            FrontDoor::Delivery => "delivery",
            FrontDoor::S3 => "s3",
        }
    }
}

pub type BoxBody =
    http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<BoxBody> {
    let mut resp = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

pub async fn health(store: &Store) -> Response<BoxBody> {
    match sqlx::query("SELECT 1").execute(store.pool()).await {
        Ok(_) => full(StatusCode::OK, "application/json", r#"{"status":"ok"}"#),
        Err(e) => {
            tracing::error!(error = %e, "health check: metadata database unavailable");
            full(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                r#"{"status":"unavailable"}"#,
            )
        }
    }
}

pub fn metrics(handle: &PrometheusHandle) -> Response<BoxBody> {
    full(StatusCode::OK, "text/plain; version=0.0.4", handle.render())
}

pub fn unknown_internal() -> Response<BoxBody> {
    full(
        StatusCode::NOT_FOUND,
        "application/json",
        r#"{"error":"NotFound","message":"no such internal route"}"#,
    )
}

/// A streamed response body, or an empty one for HEAD.
pub fn stream_body<S, E>(stream: S, head: bool) -> BoxBody
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + Sync + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    if head {
        return empty_body();
    }
    use futures::TryStreamExt;
    http_body_util::StreamBody::new(
        stream
            .map_ok(hyper::body::Frame::data)
            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) }),
    )
    .boxed()
}

pub fn empty_body() -> BoxBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}
