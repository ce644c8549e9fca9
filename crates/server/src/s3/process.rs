//! `GET`/`HEAD /{bucket}/{key}?x-oss-process=...` on the S3 door: the object rendered
//! through the [`ImageService`](crate::images::ImageService).
//!
//! It rides on GetObject, so every way of being allowed to read an object (public-read
//! bucket, SigV4/SigV2 header, presigned URL) works for processed reads too. A key of
//! the form `object!style` in a bucket with style delimiters lands here as well.

use super::{ImgdS3, S3Res, etag, s3_err, timestamp_ms};
use crate::images::{ImageError, Outcome};
use imaging::Pipeline;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};

/// The raw `x-oss-process` value of a request URI, percent-decoded.
pub fn process_param(uri: &http::Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == "x-oss-process").then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

pub(crate) fn image_error(e: ImageError) -> S3Error {
    match e {
        ImageError::Invalid(m) => S3Error::with_message(S3ErrorCode::InvalidArgument, m),
        ImageError::Store(e) => s3_err(e),
        ImageError::Busy(busy) => {
            let mut err = S3Error::with_message(
                S3ErrorCode::SlowDown,
                "Too many images are being processed; please retry.",
            );
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(busy.retry_after.as_secs().max(1)),
            );
            err.set_headers(headers);
            err
        }
        ImageError::Origin(e) => {
            let mut err =
                S3Error::with_message(S3ErrorCode::Custom("BadGateway".into()), e.to_string());
            err.set_status_code(http::StatusCode::BAD_GATEWAY);
            err
        }
        ImageError::Internal(m) => {
            tracing::error!(error = %m, "image processing failed");
            S3Error::with_message(
                S3ErrorCode::InternalError,
                "The image could not be processed.",
            )
        }
    }
}

fn if_none_match_header(req_headers: &http::HeaderMap) -> Option<String> {
    req_headers
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn accept_header(req_headers: &http::HeaderMap) -> Option<String> {
    req_headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl ImgdS3 {
    /// The pipeline a GET or HEAD asks for: `x-oss-process`, or none.
    pub(crate) async fn requested_pipeline(
        &self,
        uri: &http::Uri,
        bucket: &str,
    ) -> s3s::S3Result<Option<Pipeline>> {
        match process_param(uri) {
            None => Ok(None),
            Some(ops) => Ok(Some(
                self.images
                    .resolve(bucket, &ops)
                    .await
                    .map_err(image_error)?,
            )),
        }
    }

    pub(crate) async fn do_processed_get(
        &self,
        req: S3Request<GetObjectInput>,
        key: &str,
        pipeline: &Pipeline,
    ) -> S3Res<GetObjectOutput> {
        let input = &req.input;
        let accept = accept_header(&req.headers);
        let inm = if_none_match_header(&req.headers);
        let outcome = self
            .images
            .render(
                &input.bucket,
                key,
                pipeline,
                accept.as_deref(),
                inm.as_deref(),
            )
            .await
            .map_err(image_error)?;
        let variant = match outcome {
            Outcome::NotModified {
                etag, vary_accept, ..
            } => return Err(not_modified(&etag, vary_accept)),
            Outcome::Rendered(v) => v,
        };
        let len = variant.bytes.len() as i64;
        let bytes = variant.bytes;
        let body = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
        let mut resp = s3s::S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some(len),
            content_type: Some(variant.content_type),
            e_tag: Some(etag(&variant.etag)),
            last_modified: Some(timestamp_ms(variant.source.modified_ms)),
            cache_control: variant.source.cache_control.clone(),
            ..Default::default()
        });
        if variant.vary_accept {
            resp.headers
                .insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
        }
        Ok(resp)
    }

    /// HEAD of a processed object describes the variant a GET would return, so it has
    /// to render it.
    pub(crate) async fn do_processed_head(
        &self,
        req: S3Request<HeadObjectInput>,
        key: &str,
        pipeline: &Pipeline,
    ) -> S3Res<HeadObjectOutput> {
        let input = &req.input;
        let accept = accept_header(&req.headers);
        let inm = if_none_match_header(&req.headers);
        let outcome = self
            .images
            .render(
                &input.bucket,
                key,
                pipeline,
                accept.as_deref(),
                inm.as_deref(),
            )
            .await
            .map_err(image_error)?;
        let variant = match outcome {
            Outcome::NotModified {
                etag, vary_accept, ..
            } => return Err(not_modified(&etag, vary_accept)),
            Outcome::Rendered(v) => v,
        };
        let mut resp = s3s::S3Response::new(HeadObjectOutput {
            content_length: Some(variant.bytes.len() as i64),
            content_type: Some(variant.content_type),
            e_tag: Some(etag(&variant.etag)),
            last_modified: Some(timestamp_ms(variant.source.modified_ms)),
            cache_control: variant.source.cache_control.clone(),
            ..Default::default()
        });
        if variant.vary_accept {
            resp.headers
                .insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
        }
        Ok(resp)
    }
}

fn not_modified(variant_etag: &str, vary_accept: bool) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{variant_etag}\"")) {
        headers.insert(http::header::ETAG, v);
    }
    if vary_accept {
        headers.insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
    }
    e.set_headers(headers);
    e
}
