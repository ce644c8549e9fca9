//! Sending what the delivery door decided to serve: a stored object (streamed, with
//! single ranges and conditional requests) or a rendered variant, each with caching
//! headers that never outlive the link that granted it.

use super::Failure;
use super::access::Grant;
use crate::images::{ImageService, Outcome, etag_listed};
use crate::routes::{self, BoxBody};
use crate::sources::Fetched;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use imaging::Pipeline;
use store::{ObjectInfo, Store, StoreError};

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

pub fn http_date(unix: i64) -> Option<HeaderValue> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    let text = t
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .ok()?;
    HeaderValue::from_str(&text).ok()
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` against `size`. `None` for anything else
/// (multiple ranges are served whole, as RFC 9110 allows).
fn parse_range(value: &str, size: u64) -> Option<Result<std::ops::Range<u64>, ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let range = match (start.trim(), end.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 {
                return Some(Err(()));
            }
            size.saturating_sub(n)..size
        }
        (a, "") => a.parse().ok()?..size,
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            if b < a {
                return None;
            }
            a..(b + 1).min(size)
        }
    };
    if range.start >= size {
        return Some(Err(()));
    }
    Some(Ok(range))
}

fn validators(headers: &mut http::HeaderMap, etag: &str, modified_ms: i64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(header::ETAG, v);
    }
    if let Some(v) = http_date(modified_ms.div_euclid(1000)) {
        headers.insert(header::LAST_MODIFIED, v);
    }
}

fn not_modified(req: &Request<Incoming>, info: &ObjectInfo) -> bool {
    if let Some(inm) = header_str(req, header::IF_NONE_MATCH) {
        return etag_listed(inm, &info.etag);
    }
    header_str(req, header::IF_MODIFIED_SINCE)
        .and_then(|v| {
            time::PrimitiveDateTime::parse(
                v,
                time::macros::format_description!(
                    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
                ),
            )
            .ok()
        })
        .is_some_and(|since| info.modified_ms.div_euclid(1000) <= since.assume_utc().unix_timestamp())
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
) -> Result<Response<BoxBody>, Failure> {
    match stored_object(images.store(), bucket, key, req, caching, head).await {
        Err(StoreError::NoSuchKey) => {}
        other => return Ok(other?),
    }
    let Some(sources) = images.sources() else {
        return Err(StoreError::NoSuchKey.into());
    };
    let fetched = match sources.fetch(bucket, key).await {
        None => return Err(StoreError::NoSuchKey.into()),
        Some(Err(e)) => return Err(Failure::from(crate::images::ImageError::from(e))),
        Some(Ok(f)) => f,
    };
    match fetched {
        Fetched::Stored(_) => {
            Ok(stored_object(images.store(), bucket, key, req, caching, head).await?)
        }
        Fetched::Streaming { head: origin, body } => {
            let body = routes::stream_body(body, head);
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
    let range_header = header_str(req, header::RANGE).map(str::to_owned);
    let mut unsatisfiable = false;
    let mut partial = false;
    let mut fresh = false;
    let opened = store
        .open_object(bucket, key, |info| {
            if not_modified(req, info) {
                fresh = true;
                return Ok(0..0);
            }
            match range_header
                .as_deref()
                .and_then(|r| parse_range(r, info.size))
            {
                Some(Ok(r)) => {
                    partial = true;
                    Ok(r)
                }
                Some(Err(())) => {
                    unsatisfiable = true;
                    Ok(0..0)
                }
                None => Ok(0..info.size),
            }
        })
        .await?;
    let (info, range, stream) = opened;
    let mut resp = if fresh {
        let mut r = Response::new(routes::empty_body());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if unsatisfiable {
        let mut r = routes::full(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "application/xml",
            crate::guard::error_xml(
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
        let body = routes::stream_body(stream, head);
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
            if let Ok(v) = HeaderValue::from_str(&format!(
                "bytes {}-{}/{}",
                range.start,
                range.end.saturating_sub(1),
                info.size
            )) {
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
) -> Result<Response<BoxBody>, Failure> {
    let accept = header_str(req, header::ACCEPT);
    let inm = header_str(req, header::IF_NONE_MATCH);
    let outcome = images.render(bucket, key, pipeline, accept, inm).await?;
    let (mut resp, etag, source, vary) = match outcome {
        Outcome::NotModified {
            etag,
            source,
            vary_accept,
        } => {
            let mut r = Response::new(routes::empty_body());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            (r, etag, source, vary_accept)
        }
        Outcome::Rendered(v) => {
            let len = v.bytes.len();
            let mut r = routes::full(
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
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok(90..100)));
        assert_eq!(parse_range("bytes=-5", 100), Some(Ok(95..100)));
        assert_eq!(parse_range("bytes=95-200", 100), Some(Ok(95..100)));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

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
