//! Sending a rendered variant: the image service's outcome as a response (304 or the
//! bytes), with validators, `Vary: Accept` when the format followed `Accept`, and the
//! caching the granting door allowed. Shared by every door that serves variants.

use crate::images::{ImageService, Outcome};
use crate::kernel::caching::Caching;
use crate::kernel::date::http_date_header as http_date;
use crate::kernel::{ApiError, BoxBody, empty_body, full};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use imaging::Pipeline;

fn header_str<B>(req: &Request<B>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `ETag` and `Last-Modified`.
pub fn validators(headers: &mut http::HeaderMap, etag: &str, modified_ms: i64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(header::ETAG, v);
    }
    if let Some(v) = http_date(modified_ms.div_euclid(1000)) {
        headers.insert(header::LAST_MODIFIED, v);
    }
}

/// Renders `bucket/key` through `pipeline` for `req` (its `Accept` and `If-None-Match`).
pub async fn variant<B>(
    images: &ImageService,
    bucket: &str,
    key: &str,
    pipeline: &Pipeline,
    req: &Request<B>,
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
