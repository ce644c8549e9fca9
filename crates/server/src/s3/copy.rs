//! CopyObject (metadata COPY or REPLACE).

use super::{HeaderFields, ImgdS3, S3Res, etag, object_headers, ok, s3_err, timestamp_ms};
use crate::kernel::conditional::Conditions;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use store::StoreError;

/// The `(bucket, key)` named by `x-amz-copy-source`.
pub(crate) fn copy_source(src: &CopySource) -> s3s::S3Result<(String, String)> {
    match src {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => {
            if let Some(v) = version_id
                && &**v != "null"
            {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "imgd is unversioned; the copy source cannot name a version",
                ));
            }
            Ok((bucket.to_string(), key.to_string()))
        }
        _ => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Access point copy sources are not supported",
        )),
    }
}

impl ImgdS3 {
    pub(crate) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Res<CopyObjectOutput> {
        let input = &req.input;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        self.check_source_readable(&req, &src_bucket).await?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str().eq_ignore_ascii_case(MetadataDirective::REPLACE));
        if !replace && src_bucket == input.bucket && src_key == input.key {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let headers = replace.then(|| {
            object_headers(HeaderFields {
                content_type: input.content_type.as_ref(),
                cache_control: input.cache_control.as_ref(),
                content_disposition: input.content_disposition.as_ref(),
                content_encoding: input.content_encoding.as_ref(),
                content_language: input.content_language.as_ref(),
                expires: input.expires.as_ref(),
                metadata: input.metadata.as_ref(),
            })
        });
        // `x-amz-tagging-directive: REPLACE` takes `x-amz-tagging`; COPY (the default)
        // keeps the source's tags.
        let tags = match &input.tagging_directive {
            Some(d) if d.as_str().eq_ignore_ascii_case(TaggingDirective::REPLACE) => {
                Some(super::tagging::tags_from_header(input.tagging.as_ref())?)
            }
            _ => None,
        };
        let conditions = Conditions::with_prefix(&req.headers, "x-amz-copy-source-");
        let mut refused = false;
        let copied = self
            .store
            .copy_object(
                &src_bucket,
                &src_key,
                &input.bucket,
                &input.key,
                store::CopyOverrides { headers, tags },
                |src| {
                    super::get::check_conditions(&conditions, src).map_err(|_| {
                        refused = true;
                        StoreError::PreconditionFailed
                    })
                },
            )
            .await;
        let info = match copied {
            Ok(info) => info,
            // A copy-source condition that fails is a 412, even where a GET would say 304.
            Err(_) if refused => return Err(super::get::precondition_failed()),
            Err(e) => return Err(s3_err(e)),
        };
        let c = super::checksum_fields(&info.checksums);
        ok(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&info.etag)),
                last_modified: Some(timestamp_ms(info.modified_ms)),
                checksum_type: super::checksum_type(&c),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_crc64nvme: c.crc64nvme,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
            }),
            ..Default::default()
        })
    }
}
