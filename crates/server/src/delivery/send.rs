//! Sending a stored object the delivery door decided to serve: streamed, with single
//! ranges and conditional requests, and caching headers that never outlive the link
//! that granted it. Rendered variants are sent by [`crate::respond`].

use crate::images::ImageService;
use crate::kernel::caching::Caching;
use crate::kernel::conditional::{self, Verdict};
use crate::kernel::range;
use crate::kernel::{ApiError, BoxBody, empty_body, full, stream_body, xml};
use crate::respond::validators;
use crate::sources::Fetched;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use store::{Store, StoreError};

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
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
