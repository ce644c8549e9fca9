//! Sending what the delivery door decided to serve: a stored object (streamed, with
//! single ranges and conditional requests) or a rendered variant, each with caching
//! headers that never outlive the link that granted it.

use super::access::Grant;
use crate::images::{ImageService, Outcome};
use crate::kernel::conditional::{self, Verdict};
use crate::kernel::date::http_date_header as http_date;
use crate::kernel::range;
use crate::kernel::{ApiError, BoxBody, empty_body, full, stream_body, xml};
use crate::sources::Fetched;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use imaging::Pipeline;
use store::{Store, StoreError};

/// How long a response may be cached, and until when.
#[derive(Debug, Clone, Copy)]
pub struct Caching {
    max_age: i64,
    /// Absolute end of caching: the link's expiry, if it has one.
    until: Option<i64>,
}

impl Caching {
    /// A link's remaining life caps the bucket's TTL; an expired-by-now link (which
    /// `authorize` would already have refused) caches for zero seconds.
    pub fn new(grant: Grant, ttl_secs: u32, now: i64) -> Self {
        let ttl = i64::from(ttl_secs);
        match grant.link_expires_at {
            Some(exp) => {
                let max_age = ttl.min(exp - now).max(0);
                Caching {
                    max_age,
                    until: Some(now + max_age),
                }
            }
            None => Caching {
                max_age: ttl,
                until: None,
            },
        }
    }

    fn apply(&self, headers: &mut http::HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={}", self.max_age)) {
            headers.insert(header::CACHE_CONTROL, v);
        }
        if let Some(until) = self.until
            && let Some(v) = http_date(until)
        {
            headers.insert(header::EXPIRES, v);
        }
    }
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn validators(headers: &mut http::HeaderMap, etag: &str, modified_ms: i64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(header::ETAG, v);
    }
    if let Some(v) = http_date(modified_ms.div_euclid(1000)) {
        headers.insert(header::LAST_MODIFIED, v);
    }
}

/// Streams a stored object; on a miss in a bucket with an origin, the origin's copy
/// (see [`crate::sources`]).
pub async fn object(
    images: &ImageService,
    bucket: &str,
    key: &str,
    req: &Request<Incoming>,
    caching: Caching,
    head: bool,
) -> Result<Response<BoxBody>, ApiError> {
    match stored_object(images.store(), bucket, key, req, caching, head).await {
        Err(StoreError::NoSuchKey) => {}
        other => return Ok(other?),
    }
    let Some(sources) = images.sources() else {
        return Err(StoreError::NoSuchKey.into());
    };
    let fetched = match sources.fetch(bucket, key).await {
        None => return Err(StoreError::NoSuchKey.into()),
        Some(Err(e)) => return Err(crate::images::ImageError::from(e).into()),
        Some(Ok(f)) => f,
    };
    match fetched {
        Fetched::Stored(_) => {
            Ok(stored_object(images.store(), bucket, key, req, caching, head).await?)
        }
        Fetched::Streaming { head: origin, body } => {
            let body = stream_body(body, head);
            let mut r = Response::new(body);
            let h = r.headers_mut();
            if let Some(len) = origin.content_length {
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            if let Ok(v) = HeaderValue::from_str(&origin.content_type) {
                h.insert(header::CONTENT_TYPE, v);
            }
            if let Some(v) = origin
                .last_modified
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                h.insert(header::LAST_MODIFIED, v);
            }
            caching.apply(r.headers_mut());
            Ok(r)
        }
    }
}

async fn stored_object(
    store: &Store,
    bucket: &str,
    key: &str,
    req: &Request<Incoming>,
    caching: Caching,
    head: bool,
) -> Result<Response<BoxBody>, StoreError> {
    let wanted = header_str(req, header::RANGE).and_then(range::parse);
    let mut verdict = Verdict::Proceed;
    let mut unsatisfiable = false;
    let opened = store
        .open_object(bucket, key, |info| {
            verdict = conditional::evaluate(req.headers(), &info.etag, info.modified_ms);
            if verdict != Verdict::Proceed {
                return Ok(0..0);
            }
            match wanted.map(|w| w.resolve(info.size)) {
                Some(Ok(r)) => Ok(r),
                Some(Err(range::Unsatisfiable)) => {
                    unsatisfiable = true;
                    Ok(0..0)
                }
                None => Ok(0..info.size),
            }
        })
        .await?;
    let (info, range, stream) = opened;
    let partial = wanted.is_some() && !unsatisfiable;
    let mut resp = if verdict == Verdict::PreconditionFailed {
        return Err(StoreError::PreconditionFailed);
    } else if verdict == Verdict::NotModified {
        let mut r = Response::new(empty_body());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if unsatisfiable {
        let mut r = full(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "application/xml",
            xml::s3_error_document(
                "InvalidRange",
                "The requested range is not satisfiable",
                key,
                "",
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", info.size)) {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return Ok(r);
    } else {
        let len = range.end - range.start;
        let body = stream_body(stream, head);
        let mut r = Response::new(body);
        let h = r.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        let content_type = info
            .headers
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream");
        if let Ok(v) = HeaderValue::from_str(content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if partial {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&range::content_range(&range, info.size)) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
        }
        r
    };
    validators(resp.headers_mut(), &info.etag, info.modified_ms);
    caching.apply(resp.headers_mut());
    Ok(resp)
}

pub async fn variant(
    images: &ImageService,
    bucket: &str,
    key: &str,
    pipeline: &Pipeline,
    req: &Request<Incoming>,
    caching: Caching,
    head: bool,
) -> Result<Response<BoxBody>, ApiError> {
    let accept = header_str(req, header::ACCEPT);
    let inm = header_str(req, header::IF_NONE_MATCH);
    let outcome = images.render(bucket, key, pipeline, accept, inm).await?;
    let (mut resp, etag, source, vary) = match outcome {
        Outcome::NotModified {
            etag,
            source,
            vary_accept,
        } => {
            let mut r = Response::new(empty_body());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            (r, etag, source, vary_accept)
        }
        Outcome::Rendered(v) => {
            let len = v.bytes.len();
            let mut r = full(
                StatusCode::OK,
                &v.content_type,
                if head { Bytes::new() } else { v.bytes },
            );
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            (r, v.etag, v.source, v.vary_accept)
        }
    };
    validators(resp.headers_mut(), &etag, source.modified_ms);
    if vary {
        resp.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
    }
    caching.apply(resp.headers_mut());
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caching_never_outlives_the_link() {
        let grant = |exp| Grant {
            link_expires_at: exp,
        };
        let c = Caching::new(grant(Some(1_060)), 3600, 1_000);
        assert_eq!((c.max_age, c.until), (60, Some(1_060)));
        let c = Caching::new(grant(Some(100_000)), 3600, 1_000);
        assert_eq!((c.max_age, c.until), (3600, Some(4_600)));
        let c = Caching::new(grant(Some(900)), 3600, 1_000);
        assert_eq!(c.max_age, 0);
        let c = Caching::new(grant(None), 600, 1_000);
        assert_eq!((c.max_age, c.until), (600, None));
    }
}
