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
    /// Cloudflare-signed; path style or `bucket.<domain>`) and ixmage-style URLs under
    /// their prefix. Chosen by [`FrontDoor::route`], which knows the domain and prefix.
    Delivery,
    /// Everything outside `/_imgd/`: the S3 API.
    S3,
}

/// What routing needs besides the request itself.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`).
    pub domain: Option<String>,
    /// Path prefix of ixmage-style URLs (`/_ix`).
    pub ixmage_prefix: String,
}

impl FrontDoor {
    /// The door for one request, from its method, path, query, headers and `Host`.
    /// Internal routes and the ixmage prefix win on every host, virtual or not: they
    /// are no bucket's keys in path style either, and a site serving `bucket.<domain>`
    /// still needs its health check and ixmage links.
    pub fn route(
        method: &Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        routing: &Routing,
    ) -> FrontDoor {
        let door = FrontDoor::classify(method, uri, headers);
        if door != FrontDoor::S3 {
            return door;
        }
        let ixmage = !routing.ixmage_prefix.is_empty()
            && uri
                .path()
                .strip_prefix(routing.ixmage_prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        if ixmage || crate::delivery::is_delivery(method, uri, headers, routing.domain.as_deref()) {
            FrontDoor::Delivery
        } else {
            FrontDoor::S3
        }
    }

    /// The door judged from method, path, query and headers alone (no `Host`, no
    /// delivery): internal, OSS or S3.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, uri: &str, host: &str, auth: Option<&str>) -> FrontDoor {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, host.parse().unwrap());
        if let Some(a) = auth {
            headers.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        let routing = Routing {
            domain: Some("example.test".into()),
            ixmage_prefix: "/_ix".into(),
        };
        FrontDoor::route(&method, &uri.parse().unwrap(), &headers, &routing)
    }

    #[test]
    fn virtual_hosts_route_by_host_and_path() {
        let vhost = "photos.example.test:8080";
        // Anonymous reads of an object are delivery, whatever the depth of the key.
        assert_eq!(
            route(Method::GET, "/a.jpg", vhost, None),
            FrontDoor::Delivery
        );
        assert_eq!(
            route(Method::HEAD, "/dir/a.jpg", vhost, None),
            FrontDoor::Delivery
        );
        assert_eq!(
            route(Method::GET, "/a.jpg?exp=1&sig=00", vhost, None),
            FrontDoor::Delivery
        );
        // The bucket root is a listing; signed and write requests are S3's.
        assert_eq!(route(Method::GET, "/", vhost, None), FrontDoor::S3);
        assert_eq!(
            route(Method::GET, "/?list-type=2", vhost, None),
            FrontDoor::S3
        );
        assert_eq!(
            route(
                Method::GET,
                "/a.jpg",
                vhost,
                Some("AWS4-HMAC-SHA256 Credential=x")
            ),
            FrontDoor::S3
        );
        assert_eq!(
            route(
                Method::GET,
                "/a.jpg?X-Amz-Credential=x&X-Amz-Signature=y",
                vhost,
                None
            ),
            FrontDoor::S3
        );
        assert_eq!(route(Method::PUT, "/a.jpg", vhost, None), FrontDoor::S3);
        assert_eq!(
            route(Method::GET, "/a.jpg", vhost, Some("OSS a:b")),
            FrontDoor::Oss
        );
        // Internal routes and the ixmage prefix answer on any host.
        assert_eq!(
            route(Method::GET, "/_imgd/health", vhost, None),
            FrontDoor::Health
        );
        assert_eq!(
            route(Method::GET, "/_ix/t/photos/a.jpg", vhost, None),
            FrontDoor::Delivery
        );
        // Path style: a one-segment path is a bucket, not an object.
        for host in ["127.0.0.1:8080", "example.test", "evilexample.test"] {
            assert_eq!(route(Method::GET, "/a.jpg", host, None), FrontDoor::S3);
            assert_eq!(
                route(Method::GET, "/b/a.jpg", host, None),
                FrontDoor::Delivery
            );
        }
        assert_eq!(
            route(Method::PUT, "/_ixfoo/a", "127.0.0.1", None),
            FrontDoor::S3
        );
    }
}
