//! `GET`/`HEAD /{bucket}/{key}?x-oss-process=...` on the S3 door: the object rendered
//! through the [`ImageService`](crate::images::ImageService).
//!
//! It rides on GetObject, so every way of being allowed to read an object (public-read
//! bucket, SigV4/SigV2 header, presigned URL) works for processed reads too. A key of
//! the form `object!style` in a bucket with style delimiters lands here as well.

use super::{ImgdS3, S3Res, etag, s3_error, timestamp_ms};
use crate::images::{ImageError, Outcome};
use crate::kernel::Query;
use imaging::Pipeline;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};

pub(crate) fn image_error(e: ImageError) -> S3Error {
    s3_error(e.into())
}

/// The bucket and key of a read operation.
pub(crate) trait ObjectRead {
    fn bucket_and_key(&self) -> (&str, &str);
}

impl ObjectRead for GetObjectInput {
    fn bucket_and_key(&self) -> (&str, &str) {
        (&self.bucket, &self.key)
    }
}

impl ObjectRead for HeadObjectInput {
    fn bucket_and_key(&self) -> (&str, &str) {
        (&self.bucket, &self.key)
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
    /// What a GET or HEAD resolves to ([`ImageService::target`](crate::images::ImageService::target),
    /// shared with the OSS and delivery doors): `Some((object, pipeline))` for a rendered
    /// read (`x-oss-process`, or `key!style`), `None` for the object as stored.
    pub(crate) async fn read_target<T: ObjectRead>(
        &self,
        req: &S3Request<T>,
    ) -> s3s::S3Result<Option<(String, Pipeline)>> {
        let parsed;
        let query = match req.extensions.get::<Query>() {
            Some(q) => q,
            None => {
                parsed = Query::of(&req.uri);
                &parsed
            }
        };
        let (bucket, key) = req.input.bucket_and_key();
        let target = self
            .images
            .target(bucket, key, query.get("x-oss-process"))
            .await
            .map_err(image_error)?;
        Ok(target.pipeline.map(|p| (target.key, p)))
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
