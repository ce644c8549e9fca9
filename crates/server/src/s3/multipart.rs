//! Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts,
//! ListMultipartUploads.

use super::copy::copy_source;
use super::put::{body_stream, write_if_match, write_if_none_match};
use super::{
    HeaderFields, ImgdS3, S3Res, SuppliedChecksums, decode_content_md5, etag, invalid_argument,
    object_headers, ok, owner, s3_err, timestamp_ms, verify_body,
};
use crate::kernel::conditional::Conditions;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use store::{ChecksumAlgorithm, PutOptions, StoreError};

/// `x-amz-copy-source-range`: the kernel's range syntax, where only `bytes=first-last`
/// is allowed.
fn parse_copy_range(r: Option<&String>) -> s3s::S3Result<Option<(u64, u64)>> {
    let Some(r) = r else { return Ok(None) };
    match crate::kernel::range::parse(r) {
        Some(crate::kernel::range::ByteRange::From {
            first,
            last: Some(last),
        }) => Ok(Some((first, last))),
        _ => Err(invalid_argument(
            "x-amz-copy-source-range must be bytes=first-last",
        )),
    }
}

impl ImgdS3 {
    pub(crate) async fn do_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Res<CreateMultipartUploadOutput> {
        let i = &req.input;
        let algo = match &i.checksum_algorithm {
            Some(a) => Some(ChecksumAlgorithm::parse(a.as_str()).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    format!("Checksum algorithm {} is not supported", a.as_str()),
                )
            })?),
            None => None,
        };
        let headers = object_headers(HeaderFields {
            content_type: i.content_type.as_ref(),
            cache_control: i.cache_control.as_ref(),
            content_disposition: i.content_disposition.as_ref(),
            content_encoding: i.content_encoding.as_ref(),
            content_language: i.content_language.as_ref(),
            expires: i.expires.as_ref(),
            metadata: i.metadata.as_ref(),
        });
        let upload = self
            .store
            .create_upload(
                &i.bucket,
                &i.key,
                headers,
                algo,
                super::tagging::tags_from_header(i.tagging.as_ref())?,
            )
            .await
            .map_err(s3_err)?;
        ok(CreateMultipartUploadOutput {
            bucket: Some(i.bucket.clone()),
            key: Some(i.key.clone()),
            upload_id: Some(upload.upload_id),
            checksum_algorithm: i.checksum_algorithm.clone(),
            checksum_type: algo.map(|_| ChecksumType::from_static(ChecksumType::COMPOSITE)),
            ..Default::default()
        })
    }

    pub(crate) async fn do_upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Res<UploadPartOutput> {
        let body = req.input.body.take();
        let i = &req.input;
        let supplied = SuppliedChecksums::new(
            i.checksum_algorithm.as_ref(),
            i.checksum_crc32.as_ref(),
            i.checksum_crc32c.as_ref(),
            i.checksum_crc64nvme.as_ref(),
            i.checksum_sha1.as_ref(),
            i.checksum_sha256.as_ref(),
        )?
        .with_trailer_declaration(&req);
        let content_md5 = decode_content_md5(i.content_md5.as_ref())?;
        let trailers = req.trailing_headers.clone();
        let part = self
            .store
            .put_part(
                &i.bucket,
                &i.key,
                &i.upload_id,
                i.part_number,
                &supplied.declared,
                i.content_length.and_then(|n| u64::try_from(n).ok()),
                body_stream(body),
                |d| {
                    verify_body(
                        d,
                        content_md5.as_deref(),
                        &supplied.values,
                        trailers.as_ref(),
                    )
                },
            )
            .await
            .map_err(s3_err)?;
        let c = super::checksum_fields(&part.checksums);
        ok(UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        })
    }

    pub(crate) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Res<UploadPartCopyOutput> {
        let i = &req.input;
        let (src_bucket, src_key) = copy_source(&i.copy_source)?;
        self.check_source_readable(&req, &src_bucket).await?;
        let range = parse_copy_range(i.copy_source_range.as_ref())?;
        // Fail fast on a wrong upload id, before reading the source.
        self.store
            .upload(&i.bucket, &i.key, &i.upload_id)
            .await
            .map_err(s3_err)?;
        let conditions = Conditions::with_prefix(&req.headers, "x-amz-copy-source-");
        let mut refused = false;
        let source = self
            .store
            .part_from_object(&src_bucket, &src_key, range, |src| {
                super::get::check_conditions(&conditions, src).map_err(|_| {
                    refused = true;
                    StoreError::PreconditionFailed
                })
            })
            .await;
        let (_, len, stream) = match source {
            Ok(v) => v,
            Err(_) if refused => return Err(super::get::precondition_failed()),
            Err(e) => return Err(s3_err(e)),
        };
        let part = self
            .store
            .put_part(
                &i.bucket,
                &i.key,
                &i.upload_id,
                i.part_number,
                &[],
                Some(len),
                stream,
                |_| Ok(()),
            )
            .await
            .map_err(s3_err)?;
        let c = super::checksum_fields(&part.checksums);
        ok(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&part.etag)),
                last_modified: Some(timestamp_ms(part.modified_ms)),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_crc64nvme: c.crc64nvme,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
            }),
            ..Default::default()
        })
    }

    pub(crate) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Res<CompleteMultipartUploadOutput> {
        let i = &req.input;
        let mut requested = Vec::new();
        for p in i
            .multipart_upload
            .iter()
            .flat_map(|m| m.parts.iter().flatten())
        {
            let number = p.part_number.ok_or_else(|| {
                S3Error::with_message(S3ErrorCode::MalformedXML, "Every Part needs a PartNumber")
            })?;
            let tag = p
                .e_tag
                .as_ref()
                .map(|e| e.value().to_owned())
                .ok_or_else(|| {
                    S3Error::with_message(S3ErrorCode::MalformedXML, "Every Part needs an ETag")
                })?;
            requested.push((number, tag));
        }
        let opts = PutOptions {
            if_none_match_any: write_if_none_match(i.if_none_match.as_ref())?,
            if_match: write_if_match(i.if_match.as_ref()),
            ..Default::default()
        };
        let info = self
            .store
            .complete_upload(&i.bucket, &i.key, &i.upload_id, &requested, opts)
            .await
            .map_err(s3_err)?;
        let c = super::checksum_fields(&info.checksums);
        ok(CompleteMultipartUploadOutput {
            bucket: Some(i.bucket.clone()),
            key: Some(i.key.clone()),
            e_tag: Some(etag(&info.etag)),
            location: Some(format!("/{}/{}", i.bucket, i.key)),
            checksum_type: super::checksum_type(&c),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        })
    }

    pub(crate) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Res<AbortMultipartUploadOutput> {
        let i = &req.input;
        self.store
            .abort_upload(&i.bucket, &i.key, &i.upload_id)
            .await
            .map_err(s3_err)?;
        let mut resp = s3s::S3Response::new(AbortMultipartUploadOutput::default());
        resp.status = Some(http::StatusCode::NO_CONTENT);
        Ok(resp)
    }

    pub(crate) async fn do_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Res<ListPartsOutput> {
        let i = &req.input;
        let upload = self
            .store
            .upload(&i.bucket, &i.key, &i.upload_id)
            .await
            .map_err(s3_err)?;
        let max = i.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let marker = i.part_number_marker.unwrap_or(0);
        let (parts, truncated) = self
            .store
            .list_parts(&i.upload_id, marker, max)
            .await
            .map_err(s3_err)?;
        let next = parts.last().map(|p| p.part_number);
        let parts = parts
            .into_iter()
            .map(|p| {
                let c = super::checksum_fields(&p.checksums);
                Part {
                    e_tag: Some(etag(&p.etag)),
                    last_modified: Some(timestamp_ms(p.modified_ms)),
                    part_number: Some(p.part_number),
                    size: Some(p.size as i64),
                    checksum_crc32: c.crc32,
                    checksum_crc32c: c.crc32c,
                    checksum_crc64nvme: c.crc64nvme,
                    checksum_sha1: c.sha1,
                    checksum_sha256: c.sha256,
                }
            })
            .collect();
        ok(ListPartsOutput {
            bucket: Some(i.bucket.clone()),
            key: Some(i.key.clone()),
            upload_id: Some(i.upload_id.clone()),
            is_truncated: Some(truncated),
            max_parts: Some(max as i32),
            part_number_marker: i.part_number_marker,
            next_part_number_marker: next,
            parts: Some(parts),
            owner: Some(owner()),
            initiator: Some(Initiator {
                display_name: owner().display_name,
                id: owner().id,
            }),
            checksum_algorithm: upload
                .checksum_algorithm
                .map(|a| s3s::dto::ChecksumAlgorithm::from(a.as_str().to_owned())),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        })
    }

    pub(crate) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Res<ListMultipartUploadsOutput> {
        let i = &req.input;
        let max = i.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let (uploads, truncated) = self
            .store
            .list_uploads(
                &i.bucket,
                i.prefix.as_deref().unwrap_or(""),
                i.key_marker.as_deref(),
                i.upload_id_marker.as_deref(),
                max,
            )
            .await
            .map_err(s3_err)?;
        let next_key = uploads.last().map(|u| u.key.clone());
        let next_id = uploads.last().map(|u| u.upload_id.clone());
        let list = uploads
            .into_iter()
            .map(|u| MultipartUpload {
                initiated: Some(timestamp_ms(u.initiated_ms)),
                initiator: Some(Initiator {
                    display_name: owner().display_name,
                    id: owner().id,
                }),
                key: Some(u.key),
                owner: Some(owner()),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                upload_id: Some(u.upload_id),
                checksum_algorithm: u
                    .checksum_algorithm
                    .map(|a| s3s::dto::ChecksumAlgorithm::from(a.as_str().to_owned())),
                ..Default::default()
            })
            .collect();
        ok(ListMultipartUploadsOutput {
            bucket: Some(i.bucket.clone()),
            is_truncated: Some(truncated),
            key_marker: i.key_marker.clone(),
            upload_id_marker: i.upload_id_marker.clone(),
            next_key_marker: truncated.then_some(next_key).flatten(),
            next_upload_id_marker: truncated.then_some(next_id).flatten(),
            max_uploads: Some(max as i32),
            prefix: i.prefix.clone(),
            // An empty delimiter is no delimiter, and S3 then omits the element.
            delimiter: i.delimiter.clone().filter(|d| !d.is_empty()),
            uploads: Some(list),
            ..Default::default()
        })
    }
}
