//! The route table: one decision per request, made from its method, path, query and
//! headers before any authentication or body read.
//!
//! Internal routes live under `/_imgd/`, which no bucket name can start with (bucket
//! names have no `_`). Then each door's own `Endpoint::decode` says whether the request
//! is its: the Cloudflare door first (when on: `/client/v4/`, `/cdn-cgi/`, whose first
//! segments are reserved bucket names, and `/{account_hash}/…`, which no bucket name
//! can be), then OSS (s3s refuses OSS `Authorization` headers, so they must never reach
//! the S3 door), then delivery (anonymous reads, ixmage URLs), and S3 takes the rest.
//! A new door adds a variant here and an `Endpoint` of its own; nothing else changes.

use crate::kernel::{Query, vhost};
use crate::{admin, cloudflare, delivery, oss};
use http::{HeaderMap, Method, Uri};

/// Where one request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /_imgd/health` (and `/_imgd/health/ready`): 200 when the metadata database
    /// and the blob store both answer, else 503; the body says which failed.
    Health,
    /// `GET /_imgd/health/live`: 200 while the process serves requests at all.
    Live,
    /// `GET /_imgd/metrics`: Prometheus text format.
    Metrics,
    /// `/_imgd/admin/...`: the admin API (bearer token). `None`: no such endpoint, which
    /// the door answers 404 after checking the token, so probing learns nothing.
    Admin(Option<admin::Endpoint>),
    /// Anything else under `/_imgd/`: 404, never the S3 API.
    UnknownInternal,
    /// The Cloudflare Images API, one-time uploads, delivery and transform URLs.
    Cloudflare(cloudflare::Endpoint),
    /// The OSS-compatible object API.
    Oss(oss::Endpoint),
    /// Reads without S3/OSS credentials: anonymous objects, signed links, ixmage URLs.
    Delivery(delivery::Endpoint),
    /// Everything else: the S3 API (s3s decodes the operation).
    S3,
}

/// What routing needs besides the request itself.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`).
    pub domain: Option<String>,
    /// Path prefix of ixmage-style URLs (`/_ix`).
    pub ixmage_prefix: String,
    /// Whether the Cloudflare door is on.
    pub cloudflare: bool,
}

impl Route {
    /// Internal routes and the ixmage prefix win on every host, virtual or not: they
    /// are no bucket's keys in path style either, and a site serving `bucket.<domain>`
    /// still needs its health check and ixmage links.
    pub fn decide(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        query: &Query,
        routing: &Routing,
    ) -> Route {
        if let Some(internal) = uri.path().strip_prefix("/_imgd/") {
            return match (method, internal) {
                (&Method::GET | &Method::HEAD, "health" | "health/ready") => Route::Health,
                (&Method::GET | &Method::HEAD, "health/live") => Route::Live,
                (&Method::GET | &Method::HEAD, "metrics") => Route::Metrics,
                (_, p) if p.starts_with("admin/") => {
                    Route::Admin(admin::Endpoint::decode(method, uri.path()))
                }
                _ => Route::UnknownInternal,
            };
        }
        let domain = routing.domain.as_deref();
        if routing.cloudflare {
            let path_style =
                !vhost::resolve(uri.path(), vhost::request_host(uri, headers), domain).virtual_host;
            if let Some(endpoint) = cloudflare::Endpoint::decode(method, uri.path(), path_style) {
                return Route::Cloudflare(endpoint);
            }
        }
        if let Some(endpoint) = oss::Endpoint::decode(method, uri, headers, query, domain) {
            return Route::Oss(endpoint);
        }
        if let Some(endpoint) =
            delivery::Endpoint::decode(method, uri, headers, query, domain, &routing.ixmage_prefix)
        {
            return Route::Delivery(endpoint);
        }
        Route::S3
    }

    /// The `door` label of request metrics.
    pub fn door(&self) -> &'static str {
        match self {
            Route::Health | Route::Live => "health",
            Route::Metrics => "metrics",
            Route::UnknownInternal => "internal",
            Route::Cloudflare(e) => e.door(),
            Route::Oss(_) => "oss",
            Route::Admin(_) => "admin",
            Route::Delivery(_) => "delivery",
            Route::S3 => "s3",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, uri: &str, host: &str, auth: Option<&str>) -> Route {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, host.parse().unwrap());
        if let Some(a) = auth {
            headers.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        let routing = Routing {
            domain: Some("example.test".into()),
            ixmage_prefix: "/_ix".into(),
            cloudflare: true,
        };
        let uri: Uri = uri.parse().unwrap();
        Route::decide(&method, &uri, &headers, &Query::of(&uri), &routing)
    }

    fn door(method: Method, uri: &str, host: &str, auth: Option<&str>) -> &'static str {
        route(method, uri, host, auth).door()
    }

    #[test]
    fn virtual_hosts_route_by_host_and_path() {
        let vhost = "photos.example.test:8080";
        // Anonymous reads of an object are delivery, whatever the depth of the key.
        assert_eq!(door(Method::GET, "/a.jpg", vhost, None), "delivery");
        assert_eq!(door(Method::HEAD, "/dir/a.jpg", vhost, None), "delivery");
        assert_eq!(
            door(Method::GET, "/a.jpg?exp=1&sig=00", vhost, None),
            "delivery"
        );
        // The bucket root is a listing; signed and write requests are S3's.
        assert_eq!(door(Method::GET, "/", vhost, None), "s3");
        assert_eq!(door(Method::GET, "/?list-type=2", vhost, None), "s3");
        let v4 = Some("AWS4-HMAC-SHA256 Credential=x");
        assert_eq!(door(Method::GET, "/a.jpg", vhost, v4), "s3");
        assert_eq!(
            door(
                Method::GET,
                "/a.jpg?X-Amz-Credential=x&X-Amz-Signature=y",
                vhost,
                None
            ),
            "s3"
        );
        assert_eq!(door(Method::PUT, "/a.jpg", vhost, None), "s3");
        assert_eq!(door(Method::GET, "/a.jpg", vhost, Some("OSS a:b")), "oss");
        // Internal routes and the ixmage prefix answer on any host.
        assert_eq!(
            route(Method::GET, "/_imgd/health", vhost, None),
            Route::Health
        );
        assert_eq!(
            route(Method::GET, "/_ix/t/photos/a.jpg", vhost, None),
            Route::Delivery(delivery::Endpoint::Ixmage {
                path: "/t/photos/a.jpg".into()
            })
        );
        // Path style: a one-segment path is a bucket, not an object.
        for host in ["127.0.0.1:8080", "example.test", "evilexample.test"] {
            assert_eq!(door(Method::GET, "/a.jpg", host, None), "s3");
            assert_eq!(
                route(Method::GET, "/b/a.jpg", host, None),
                Route::Delivery(delivery::Endpoint::Object)
            );
        }
        assert_eq!(door(Method::PUT, "/_ixfoo/a", "127.0.0.1", None), "s3");
        // Admin endpoints are decoded before the token is checked.
        assert_eq!(
            route(Method::GET, "/_imgd/admin/buckets", "h", None),
            Route::Admin(Some(admin::Endpoint::ListBuckets))
        );
        assert_eq!(
            route(Method::GET, "/_imgd/admin/nope", "h", None),
            Route::Admin(None)
        );
        assert_eq!(
            route(Method::GET, "/_imgd/other", "h", None),
            Route::UnknownInternal
        );
    }

    #[test]
    fn oss_signed_requests_never_reach_the_s3_door() {
        let h = "127.0.0.1";
        for method in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::POST,
        ] {
            assert_eq!(door(method.clone(), "/b/k", h, Some("OSS ak:sig")), "oss");
            assert_eq!(
                door(
                    method.clone(),
                    "/b/k?OSSAccessKeyId=ak&Expires=1&Signature=s",
                    h,
                    None
                ),
                "oss"
            );
        }
        assert_eq!(
            route(Method::GET, "/b/", h, Some("OSS ak:sig")),
            Route::Oss(oss::Endpoint::ListObjects)
        );
        assert_eq!(
            route(Method::POST, "/b/k?x-oss-process", h, None),
            Route::Oss(oss::Endpoint::ProcessObject)
        );
        let v4 = Some("AWS4-HMAC-SHA256 Credential=x");
        assert_eq!(door(Method::PUT, "/b/k", h, v4), "s3");
        assert_eq!(
            door(Method::GET, "/b/k?x-oss-process=image/resize,w_1", h, v4),
            "s3"
        );
        assert_eq!(
            route(Method::GET, "/_imgd/health", h, Some("OSS ak:sig")),
            Route::Health
        );
    }

    #[test]
    fn cloudflare_paths_route_to_their_door_on_every_host() {
        let path_host = "127.0.0.1:8080";
        let vhost = "photos.example.test";
        let hash = "cheeW4oKsx5ljh8e8BoL2A";
        let bearer = Some("Bearer tok");
        for host in [path_host, vhost] {
            assert_eq!(
                door(Method::GET, "/client/v4/accounts/a/images/v1", host, bearer),
                "cloudflare-api"
            );
            assert_eq!(
                door(Method::GET, "/cdn-cgi/image/w=10/b/k.jpg", host, None),
                "cloudflare-transform"
            );
            assert_eq!(
                door(Method::POST, "/cdn-cgi/imagedelivery/upload/t", host, None),
                "cloudflare-upload"
            );
        }
        assert_eq!(
            door(Method::GET, &format!("/{hash}/id/public"), path_host, None),
            "cloudflare-delivery"
        );
        // On a virtual host the same path is a key; bucket-shaped segments are buckets.
        assert_eq!(
            door(Method::GET, &format!("/{hash}/id/public"), vhost, None),
            "delivery"
        );
        assert_eq!(
            door(Method::GET, "/photos/id/public", path_host, None),
            "delivery"
        );
        // An S3 request under a hash-shaped path is still read as delivery only for reads.
        let v4 = Some("AWS4-HMAC-SHA256 Credential=x");
        assert_eq!(door(Method::PUT, "/photos/k", path_host, v4), "s3");
    }
}
