//! Multipart upload, as `oss2` (and its `resumable_upload`) drives it:
//! InitiateMultipartUpload (`POST ?uploads`), UploadPart and UploadPartCopy
//! (`PUT ?partNumber&uploadId`), CompleteMultipartUpload (`POST ?uploadId`, with a part
//! list or `x-oss-complete-all: yes`), AbortMultipartUpload (`DELETE ?uploadId`),
//! ListParts (`GET ?uploadId`) and ListMultipartUploads (`GET /bucket?uploads`).
//!
//! The store's multipart machinery is the S3 door's too ([`store::Store::put_part`],
//! [`store::Store::complete_upload`]): parts stream into blobs of their own and
//! completion concatenates them, so nothing is visible until the object is whole. What
//! differs is OSS's: XML shapes, upper-case ETags, `x-oss-hash-crc64ecma` on each part
//! (which `oss2` checks), and parts other than the last may be as small as 100 KiB.

use super::get::oss_etag;
use super::list::KeyEncoding;
use super::put::{
    BodyFrames, WithCrc, content_length, content_md5, copy_source, empty_ok, forbid_overwrite,
    md5_verifier, put_header, stored_headers,
};
use super::tagging::tags_from_header;
use super::{OssDoor, OssError, OssRequest, from_store_error, invalid_argument, malformed_xml};
use crate::auth::oss::iso8601_ms;
use crate::kernel::conditional::{Conditions, Verdict};
use crate::kernel::{self, BoxBody, xml};
use http::{Response, StatusCode};
use hyper::body::Incoming;
use std::fmt::Write as _;
use store::{Permission, PutOptions, StoreError, UploadInfo};

/// OSS's smallest part other than the last.
pub(super) const OSS_MIN_PART_SIZE: u64 = 100 * 1024;
/// Room for a `CompleteMultipartUpload` naming 10 000 parts.
const MAX_COMPLETE_BYTES: usize = 2 * 1024 * 1024;
/// OSS's page limits for ListParts and ListMultipartUploads.
const MAX_PAGE: usize = 1000;

fn xml_response(body: String) -> Response<BoxBody> {
    kernel::full(
        StatusCode::OK,
        "application/xml",
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
}

/// A numeric query parameter within `1..=max` (absent or empty: `default`).
fn page_size(req: &OssRequest, name: &str, default: usize) -> Result<usize, OssError> {
    match req.param(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(invalid_argument(format!(
                "{name} must be a number from 1 to {MAX_PAGE}."
            ))),
        },
    }
}

fn part_number(req: &OssRequest) -> Result<i32, OssError> {
    req.param("partNumber")
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|n| (1..=store::MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            invalid_argument(format!(
                "partNumber must be a number from 1 to {}.",
                store::MAX_PART_NUMBER
            ))
        })
}

fn upload_id(req: &OssRequest) -> Result<&str, OssError> {
    req.param("uploadId")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid_argument("uploadId is empty."))
}

/// `x-oss-copy-source-range: bytes=first-last`, the only range form a part copy takes.
fn copy_range(req: &OssRequest) -> Result<Option<(u64, u64)>, OssError> {
    let Some(r) = req.header("x-oss-copy-source-range") else {
        return Ok(None);
    };
    match crate::kernel::range::parse(r) {
        Some(crate::kernel::range::ByteRange::From {
            first,
            last: Some(last),
        }) if first <= last => Ok(Some((first, last))),
        _ => Err(invalid_argument(
            "x-oss-copy-source-range must be bytes=first-last.",
        )),
    }
}

/// The part list of a `CompleteMultipartUpload` document, validated whole.
fn parse_complete(body: &[u8]) -> Result<Vec<(i32, String)>, OssError> {
    let doc = xml::parse(body).map_err(|why| malformed_xml(&why))?;
    if doc.name != "CompleteMultipartUpload" {
        return Err(malformed_xml(
            "the root element must be CompleteMultipartUpload",
        ));
    }
    let mut parts = Vec::new();
    for part in doc.children_named("Part") {
        let number = part
            .child("PartNumber")
            .and_then(|n| n.text.trim().parse::<i32>().ok())
            .ok_or_else(|| malformed_xml("every Part needs a numeric PartNumber"))?;
        let etag = part
            .child("ETag")
            .map(|e| e.text.trim().trim_matches('"').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .ok_or_else(|| malformed_xml("every Part needs an ETag"))?;
        parts.push((number, etag));
    }
    if parts.is_empty() {
        return Err(malformed_xml("CompleteMultipartUpload names no Part"));
    }
    Ok(parts)
}

fn complete_all(req: &OssRequest) -> Result<bool, OssError> {
    match req.header("x-oss-complete-all") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("yes") => Ok(true),
        Some(_) => Err(invalid_argument("x-oss-complete-all must be yes.")),
    }
}

impl OssDoor {
    /// The upload named by the request, checked against its bucket and key.
    async fn named_upload(&self, req: &OssRequest) -> Result<UploadInfo, OssError> {
        self.images
            .store()
            .upload(&req.bucket, &req.key, upload_id(req)?)
            .await
            .map_err(from_store_error)
    }

    pub(super) async fn initiate_multipart_upload(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        let enc = KeyEncoding::of(req)?;
        let tags = tags_from_header(&req.headers)?.unwrap_or_default();
        let store = self.images.store();
        self.refuse_overwrite_if_forbidden(req).await?;
        let upload = store
            .create_upload(
                &req.bucket,
                &req.key,
                stored_headers(&req.headers),
                None,
                tags,
            )
            .await
            .map_err(from_store_error)?;
        Ok(xml_response(format!(
            "<InitiateMultipartUploadResult>{}<Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>",
            enc.element(),
            xml::escape(&req.bucket),
            enc.text(&req.key),
            xml::escape(&upload.upload_id)
        )))
    }

    pub(super) async fn upload_part(
        &self,
        req: &OssRequest,
        body: Incoming,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        let number = part_number(req)?;
        let md5 = content_md5(&req.headers)?;
        let mut stream = WithCrc::new(BodyFrames(body));
        let part = self
            .images
            .store()
            .put_part(
                &req.bucket,
                &req.key,
                upload_id(req)?,
                number,
                &[],
                content_length(&req.headers)?,
                &mut stream,
                md5_verifier(md5),
            )
            .await
            .map_err(from_store_error)?;
        metrics::counter!("imgd_oss_bytes_in_total").increment(part.size);
        let mut resp = empty_ok();
        put_header(&mut resp, "etag", &oss_etag(&part.etag));
        put_header(
            &mut resp,
            "x-oss-hash-crc64ecma",
            &stream.crc.value().to_string(),
        );
        Ok(resp)
    }

    pub(super) async fn upload_part_copy(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        let (src_bucket, src_key) = copy_source(req)?;
        req.require(&src_bucket, Permission::Read)?;
        req.require(&req.bucket, Permission::ReadWrite)?;
        let number = part_number(req)?;
        let range = copy_range(req)?;
        let conditions = Conditions::with_prefix(&req.headers, "x-oss-copy-source-");
        let store = self.images.store();
        // The upload is checked before the source is read.
        self.named_upload(req).await?;
        let (_, len, stream) = store
            .part_from_object(&src_bucket, &src_key, range, |src| {
                match conditions.evaluate(&src.etag, src.modified_ms) {
                    Verdict::Proceed => Ok(()),
                    Verdict::NotModified | Verdict::PreconditionFailed => {
                        Err(StoreError::PreconditionFailed)
                    }
                }
            })
            .await
            .map_err(from_store_error)?;
        let part = store
            .put_part(
                &req.bucket,
                &req.key,
                upload_id(req)?,
                number,
                &[],
                Some(len),
                stream,
                |_| Ok(()),
            )
            .await
            .map_err(from_store_error)?;
        let mut resp = xml_response(format!(
            "<CopyPartResult><LastModified>{}</LastModified><ETag>{}</ETag></CopyPartResult>",
            iso8601_ms(part.modified_ms),
            xml::escape(&oss_etag(&part.etag))
        ));
        put_header(&mut resp, "etag", &oss_etag(&part.etag));
        Ok(resp)
    }

    pub(super) async fn complete_multipart_upload(
        &self,
        req: &OssRequest,
        body: Incoming,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        let enc = KeyEncoding::of(req)?;
        let body = kernel::body::read_limited(body, MAX_COMPLETE_BYTES)
            .await
            .map_err(|m| invalid_argument(format!("{m}.")))?;
        let store = self.images.store();
        let id = upload_id(req)?;
        let requested = if complete_all(req)? {
            if !body.is_empty() {
                return Err(invalid_argument(
                    "With x-oss-complete-all: yes the request body must be empty.",
                ));
            }
            self.named_upload(req).await?;
            let (parts, _) = store
                .list_parts(id, 0, store::MAX_PART_NUMBER as usize)
                .await
                .map_err(from_store_error)?;
            if parts.is_empty() {
                return Err(invalid_argument(
                    "The upload has no parts to complete with.",
                ));
            }
            parts.into_iter().map(|p| (p.part_number, p.etag)).collect()
        } else {
            parse_complete(&body)?
        };
        let opts = PutOptions {
            if_none_match_any: forbid_overwrite(&req.headers),
            min_part_size: Some(OSS_MIN_PART_SIZE),
            ..Default::default()
        };
        let done = store
            .complete_upload(&req.bucket, &req.key, id, &requested, opts)
            .await
            .map_err(from_store_error)?;
        tracing::info!(bucket = %req.bucket, key = %req.key, parts = requested.len(), size = done.size, "multipart upload completed (OSS)");
        let location = format!(
            "http://{}/{}/{}",
            req.host.as_deref().unwrap_or("localhost"),
            req.bucket,
            req.key
        );
        let mut resp = xml_response(format!(
            "<CompleteMultipartUploadResult>{}<Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
            enc.element(),
            enc.text(&location),
            xml::escape(&req.bucket),
            enc.text(&req.key),
            xml::escape(&oss_etag(&done.etag))
        ));
        put_header(&mut resp, "etag", &oss_etag(&done.etag));
        Ok(resp)
    }

    pub(super) async fn abort_multipart_upload(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        self.images
            .store()
            .abort_upload(&req.bucket, &req.key, upload_id(req)?)
            .await
            .map_err(from_store_error)?;
        Ok(kernel::no_content())
    }

    pub(super) async fn list_parts(&self, req: &OssRequest) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let enc = KeyEncoding::of(req)?;
        let max = page_size(req, "max-parts", MAX_PAGE)?;
        let marker = match req.param("part-number-marker").filter(|v| !v.is_empty()) {
            None => 0,
            Some(v) => v
                .parse::<i32>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| invalid_argument("part-number-marker must be a number."))?,
        };
        let upload = self.named_upload(req).await?;
        let (parts, truncated) = self
            .images
            .store()
            .list_parts(&upload.upload_id, marker, max)
            .await
            .map_err(from_store_error)?;
        let next = parts.last().map_or(marker, |p| p.part_number);
        let mut body = format!(
            "<ListPartsResult>{}<Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId><StorageClass>Standard</StorageClass><PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{next}</NextPartNumberMarker><MaxParts>{max}</MaxParts><IsTruncated>{truncated}</IsTruncated>",
            enc.element(),
            xml::escape(&req.bucket),
            enc.text(&req.key),
            xml::escape(&upload.upload_id),
        );
        for p in &parts {
            let _ = write!(
                body,
                "<Part><PartNumber>{}</PartNumber><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size></Part>",
                p.part_number,
                iso8601_ms(p.modified_ms),
                xml::escape(&oss_etag(&p.etag)),
                p.size
            );
        }
        body.push_str("</ListPartsResult>");
        Ok(xml_response(body))
    }

    /// ListMultipartUploads, with OSS's markers (`key-marker` alone resumes after
    /// every upload of that key) and `delimiter` rolling keys up into
    /// `CommonPrefixes`.
    pub(super) async fn list_multipart_uploads(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let enc = KeyEncoding::of(req)?;
        let given = |name: &str| req.param(name).filter(|v| !v.is_empty());
        let max = page_size(req, "max-uploads", MAX_PAGE)?;
        let prefix = given("prefix").unwrap_or("");
        let delimiter = given("delimiter");
        let key_marker = given("key-marker");
        let id_marker = given("upload-id-marker").filter(|_| key_marker.is_some());
        let (uploads, _) = self
            .images
            .store()
            .list_uploads(
                &req.bucket,
                prefix,
                key_marker,
                id_marker,
                store::MAX_PART_NUMBER as usize,
            )
            .await
            .map_err(from_store_error)?;
        let mut entries = String::new();
        let mut prefixes: Vec<String> = Vec::new();
        let (mut count, mut truncated) = (0usize, false);
        let (mut next_key, mut next_id) = (String::new(), String::new());
        for u in &uploads {
            if id_marker.is_none() && Some(u.key.as_str()) == key_marker {
                continue;
            }
            let rolled = delimiter.and_then(|d| {
                let rest = &u.key[prefix.len()..];
                rest.find(d)
                    .map(|i| format!("{prefix}{}", &rest[..i + d.len()]))
            });
            if let Some(p) = &rolled {
                // A prefix already answered (on this page, or as the marker) is not
                // listed again.
                if prefixes.last() == Some(p) || key_marker == Some(p.as_str()) {
                    continue;
                }
            }
            if count == max {
                truncated = true;
                break;
            }
            count += 1;
            match rolled {
                Some(p) => {
                    next_key = p.clone();
                    next_id.clear();
                    prefixes.push(p);
                }
                None => {
                    let _ = write!(
                        entries,
                        "<Upload><Key>{}</Key><UploadId>{}</UploadId><StorageClass>Standard</StorageClass><Initiated>{}</Initiated></Upload>",
                        enc.text(&u.key),
                        xml::escape(&u.upload_id),
                        iso8601_ms(u.initiated_ms)
                    );
                    next_key = u.key.clone();
                    next_id = u.upload_id.clone();
                }
            }
        }
        if !truncated {
            next_key.clear();
            next_id.clear();
        }
        let mut body = format!(
            "<ListMultipartUploadsResult>{}<Bucket>{}</Bucket><KeyMarker>{}</KeyMarker><UploadIdMarker>{}</UploadIdMarker><NextKeyMarker>{}</NextKeyMarker><NextUploadIdMarker>{}</NextUploadIdMarker><Delimiter>{}</Delimiter><Prefix>{}</Prefix><MaxUploads>{max}</MaxUploads><IsTruncated>{truncated}</IsTruncated>{entries}",
            enc.element(),
            xml::escape(&req.bucket),
            enc.text(key_marker.unwrap_or("")),
            xml::escape(id_marker.unwrap_or("")),
            enc.text(&next_key),
            xml::escape(&next_id),
            enc.text(delimiter.unwrap_or("")),
            enc.text(prefix),
        );
        for p in &prefixes {
            let _ = write!(
                body,
                "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                enc.text(p)
            );
        }
        body.push_str("</ListMultipartUploadsResult>");
        Ok(xml_response(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_documents_as_oss2_writes_them() {
        let doc = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"AB12\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>cd34</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(
            parse_complete(doc.as_bytes()).map_err(|e| e.code),
            Ok(vec![(1, "ab12".into()), (2, "cd34".into())])
        );
        for bad in [
            "",
            "<CompleteMultipartUpload/>",
            "<Complete><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Complete>",
            "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part>",
        ] {
            assert_eq!(
                parse_complete(bad.as_bytes()).map_err(|e| e.code),
                Err("MalformedXML"),
                "{bad}"
            );
        }
    }
}
