//! GetObject and HeadObject, with ranges and conditional requests.

use super::{
    ImgdS3, S3Res, checksum_fields, checksum_type, etag, ok, parse_expires, s3_err, timestamp_ms,
};
use crate::kernel::conditional::{Conditions, Verdict};
use crate::kernel::range;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use store::{ObjectInfo, StoreError};

/// The kernel's verdict in S3's terms: 412 PreconditionFailed, or 304 NotModified with
/// the validators a cache needs.
pub(crate) fn check_conditions(c: &Conditions<'_>, info: &ObjectInfo) -> s3s::S3Result<()> {
    match c.evaluate(&info.etag, info.modified_ms) {
        Verdict::Proceed => Ok(()),
        Verdict::PreconditionFailed => Err(precondition_failed()),
        Verdict::NotModified => Err(not_modified(info)),
    }
}

pub(crate) fn precondition_failed() -> S3Error {
    super::s3_err(StoreError::PreconditionFailed)
}

fn not_modified(info: &ObjectInfo) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", info.etag)) {
        headers.insert(http::header::ETAG, v);
    }
    let mut buf = Vec::new();
    if timestamp_ms(info.modified_ms)
        .format(TimestampFormat::HttpDate, &mut buf)
        .is_ok()
        && let Ok(v) = http::HeaderValue::from_bytes(&buf)
    {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

/// The byte range to send (`None`: the whole object, also for a `Range` header the
/// kernel's parser cannot read), or S3's `InvalidRange` (416).
fn pick_range(headers: &http::HeaderMap, size: u64) -> s3s::S3Result<(std::ops::Range<u64>, bool)> {
    let wanted = headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(range::parse);
    match wanted {
        None => Ok((0..size, false)),
        Some(r) => r.resolve(size).map(|r| (r, true)).map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::InvalidRange,
                "The requested range is not satisfiable",
            )
        }),
    }
}

impl ImgdS3 {
    pub(crate) async fn do_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Res<GetObjectOutput> {
        let input = &req.input;
        let conditions = Conditions::of(&req.headers);
        // The checks need the object's row, which the store reads inside `open_object`;
        // a refusal is carried out of the closure here and the store's error ignored.
        let mut asked_origin = false;
        let mut partial = false;
        let (info, range, stream) = loop {
            let mut refusal: Option<S3Error> = None;
            let opened = self
                .store
                .open_object(&input.bucket, &input.key, |info| {
                    let checked = check_conditions(&conditions, info)
                        .and_then(|()| pick_range(&req.headers, info.size));
                    checked
                        .map(|(r, p)| {
                            partial = p;
                            r
                        })
                        .map_err(|e| {
                            refusal = Some(e);
                            StoreError::PreconditionFailed
                        })
                })
                .await;
            match (opened, refusal) {
                (Ok(v), _) => break v,
                (Err(_), Some(refusal)) => return Err(refusal),
                (Err(StoreError::NoSuchKey), None) if !asked_origin => {
                    asked_origin = true;
                    match self.fetch_from_origin(&input.bucket, &input.key).await? {
                        Some(streamed) => return Ok(s3s::S3Response::new(streamed)),
                        // Stored by a concurrent fetch: read it like any object.
                        None => continue,
                    }
                }
                (Err(e), None) => return Err(s3_err(e)),
            }
        };
        let whole = range.start == 0 && range.end == info.size;
        let content_range = partial.then(|| range::content_range(&range, info.size));
        let checksums = (whole && checksum_mode_enabled(input.checksum_mode.as_ref()))
            .then(|| checksum_fields(&info.checksums));
        let h = &info.headers;
        let mut out = GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            body: Some(StreamingBlob::wrap(stream)),
            cache_control: h.cache_control.clone(),
            content_disposition: h.content_disposition.clone(),
            content_encoding: h.content_encoding.clone(),
            content_language: h.content_language.clone(),
            content_length: Some((range.end - range.start) as i64),
            content_range,
            content_type: Some(
                h.content_type
                    .clone()
                    .unwrap_or_else(|| "binary/octet-stream".into()),
            ),
            e_tag: Some(etag(&info.etag)),
            expires: parse_expires(h),
            last_modified: Some(timestamp_ms(info.modified_ms)),
            metadata: (!h.user.is_empty()).then(|| h.user.clone().into_iter().collect()),
            parts_count: info.parts_count,
            tag_count: (!info.tags.is_empty()).then_some(info.tags.len() as i32),
            ..Default::default()
        };
        if let Some(c) = checksums {
            out.checksum_type = checksum_type(&c);
            out.checksum_crc32 = c.crc32;
            out.checksum_crc32c = c.crc32c;
            out.checksum_crc64nvme = c.crc64nvme;
            out.checksum_sha1 = c.sha1;
            out.checksum_sha256 = c.sha256;
        }
        let mut resp = s3s::S3Response::new(out);
        if partial {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    pub(crate) async fn do_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Res<HeadObjectOutput> {
        let input = &req.input;
        let info = self
            .store
            .object(&input.bucket, &input.key)
            .await
            .map_err(s3_err)?;
        check_conditions(&Conditions::of(&req.headers), &info)?;
        let (range, partial) = pick_range(&req.headers, info.size)?;
        let checksums = (!partial && checksum_mode_enabled(input.checksum_mode.as_ref()))
            .then(|| checksum_fields(&info.checksums));
        let h = &info.headers;
        let mut out = HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            cache_control: h.cache_control.clone(),
            content_disposition: h.content_disposition.clone(),
            content_encoding: h.content_encoding.clone(),
            content_language: h.content_language.clone(),
            content_length: Some((range.end - range.start) as i64),
            content_range: partial.then(|| range::content_range(&range, info.size)),
            content_type: Some(
                h.content_type
                    .clone()
                    .unwrap_or_else(|| "binary/octet-stream".into()),
            ),
            e_tag: Some(etag(&info.etag)),
            expires: parse_expires(h),
            last_modified: Some(timestamp_ms(info.modified_ms)),
            metadata: (!h.user.is_empty()).then(|| h.user.clone().into_iter().collect()),
            parts_count: info.parts_count,
            ..Default::default()
        };
        if let Some(c) = checksums {
            out.checksum_type = checksum_type(&c);
            out.checksum_crc32 = c.crc32;
            out.checksum_crc32c = c.crc32c;
            out.checksum_crc64nvme = c.crc64nvme;
            out.checksum_sha1 = c.sha1;
            out.checksum_sha256 = c.sha256;
        }
        ok(out)
    }
}

fn checksum_mode_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

impl ImgdS3 {
    /// A miss in a bucket with an origin: the origin's bytes as they arrive, or `None`
    /// when another request already stored them.
    async fn fetch_from_origin(
        &self,
        bucket: &str,
        key: &str,
    ) -> s3s::S3Result<Option<GetObjectOutput>> {
        let fetched = match self.images.sources() {
            Some(sources) => sources.fetch(bucket, key).await,
            None => None,
        };
        match fetched {
            None => Err(s3_err(StoreError::NoSuchKey)),
            Some(Err(e)) => Err(crate::s3::process::image_error(e.into())),
            Some(Ok(crate::sources::Fetched::Stored(_))) => Ok(None),
            Some(Ok(crate::sources::Fetched::Streaming { head, body })) => {
                Ok(Some(GetObjectOutput {
                    body: Some(StreamingBlob::wrap(body)),
                    content_length: head.content_length.map(|n| n as i64),
                    content_type: Some(head.content_type),
                    cache_control: head.cache_control,
                    ..Default::default()
                }))
            }
        }
    }
}
