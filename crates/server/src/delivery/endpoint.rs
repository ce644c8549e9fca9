//! Whether a request is the delivery door's, and in which URL dialect, decided before
//! any access check.

use crate::kernel::{Query, vhost};
use http::{HeaderMap, Method, Uri};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET|HEAD /bucket/key` (or `/key` on `bucket.<domain>`), optionally with
    /// `x-oss-process`, a `key!style` suffix, or a Cloudflare `exp`/`sig` link.
    Object,
    /// `GET|HEAD /{prefix}/{token}/{alias}/{path}?...&key=`: `path` is what follows
    /// the prefix.
    Ixmage { path: String },
}

/// Query parameters that make a request a signed S3 or OSS one, never anonymous.
const CREDENTIAL_PARAMS: [&str; 4] = [
    "X-Amz-Credential",
    "X-Amz-Signature",
    "AWSAccessKeyId",
    "OSSAccessKeyId",
];

impl Endpoint {
    /// The ixmage prefix takes any method on any host (the door refuses what it does
    /// not serve). Otherwise a request is delivery when it is a GET or HEAD of an object
    /// with no S3 or OSS credentials in its header or query; a bucket-level GET (a
    /// listing) stays with the S3 door.
    pub fn decode(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        query: &Query,
        domain: Option<&str>,
        ixmage_prefix: &str,
    ) -> Option<Endpoint> {
        if !ixmage_prefix.is_empty()
            && let Some(rest) = uri.path().strip_prefix(ixmage_prefix)
            && rest.starts_with('/')
        {
            return Some(Endpoint::Ixmage {
                path: rest.to_owned(),
            });
        }
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        if headers.contains_key(http::header::AUTHORIZATION) || query.has_any(&CREDENTIAL_PARAMS) {
            return None;
        }
        let target = vhost::resolve_request(uri, headers, domain);
        (!target.bucket.is_empty() && !target.key.is_empty()).then_some(Endpoint::Object)
    }
}
