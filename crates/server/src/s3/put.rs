//! PutObject.

use super::{
    HeaderFields, ImgdS3, S3Res, SuppliedChecksums, decode_content_md5, etag, object_headers, ok,
    s3_err, verify_body,
};
use bytes::Bytes;
use futures::Stream;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use store::PutOptions;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body as a stream; an absent body is an empty one.
pub(crate) fn body_stream(
    body: Option<StreamingBlob>,
) -> impl Stream<Item = Result<Bytes, BoxError>> + Unpin {
    match body {
        Some(b) => futures::future::Either::Left(b),
        None => futures::future::Either::Right(futures::stream::empty()),
    }
}

/// `If-None-Match` on a write: S3 accepts only `*`.
pub(crate) fn write_if_none_match(c: Option<&ETagCondition>) -> s3s::S3Result<bool> {
    match c {
        None => Ok(false),
        Some(ETagCondition::Any) => Ok(true),
        Some(ETagCondition::ETag(_)) => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "If-None-Match on a write accepts only *",
        )),
    }
}

pub(crate) fn write_if_match(c: Option<&ETagCondition>) -> Option<String> {
    c.map(|c| match c {
        ETagCondition::Any => "*".to_owned(),
        ETagCondition::ETag(e) => e.value().to_owned(),
    })
}

impl ImgdS3 {
    pub(crate) async fn do_put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Res<PutObjectOutput> {
        let body = req.input.body.take();
        let input = &req.input;
        let supplied = SuppliedChecksums::new(
            input.checksum_algorithm.as_ref(),
            input.checksum_crc32.as_ref(),
            input.checksum_crc32c.as_ref(),
            input.checksum_crc64nvme.as_ref(),
            input.checksum_sha1.as_ref(),
            input.checksum_sha256.as_ref(),
        )?
        .with_trailer_declaration(&req);
        let content_md5 = decode_content_md5(input.content_md5.as_ref())?;
        let opts = PutOptions {
            headers: object_headers(HeaderFields {
                content_type: input.content_type.as_ref(),
                cache_control: input.cache_control.as_ref(),
                content_disposition: input.content_disposition.as_ref(),
                content_encoding: input.content_encoding.as_ref(),
                content_language: input.content_language.as_ref(),
                expires: input.expires.as_ref(),
                metadata: input.metadata.as_ref(),
            }),
            checksum_algorithms: supplied.declared.clone(),
            expected_len: input.content_length.and_then(|n| u64::try_from(n).ok()),
            if_none_match_any: write_if_none_match(input.if_none_match.as_ref())?,
            if_match: write_if_match(input.if_match.as_ref()),
        };
        let trailers = req.trailing_headers.clone();
        let info = self
            .store
            .put_object(&input.bucket, &input.key, opts, body_stream(body), |d| {
                verify_body(
                    d,
                    content_md5.as_deref(),
                    &supplied.values,
                    trailers.as_ref(),
                )
            })
            .await
            .map_err(s3_err)?;
        metrics::counter!("imgd_s3_bytes_in_total").increment(info.size);
        let c = super::checksum_fields(&info.checksums);
        ok(PutObjectOutput {
            e_tag: Some(etag(&info.etag)),
            checksum_type: super::checksum_type(&c),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        })
    }
}
