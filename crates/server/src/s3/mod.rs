//! The S3 front door: an [`s3s::S3`] implementation over [`store::Store`].
//!
//! [`S3Door`] (`door.rs`) answers CORS preflights and runs the [`guard`] checks s3s
//! does not make, then the s3s service, which parses requests, checks SigV4/SigV2
//! signatures (through [`auth::ImgdAuth`]) and routes to one method per S3 operation.
//! Each operation family lives in its own file: `bucket.rs`, `get.rs`, `put.rs`,
//! `copy.rs`, `delete.rs`, `list.rs`, `multipart.rs`, `acl.rs`, `process.rs` (reads
//! rendered through the image service), `cors.rs` (rules; the door applies them to
//! preflights and responses), `policy.rs` (anonymous-access bucket policies) and
//! `ownership.rs` (object ownership; the versioning answers). Who may call what is
//! decided in [`auth::ImgdAccess`]. Errors are the kernel's [`ApiError`], rendered as
//! s3s errors by [`s3_error`].

mod acl;
pub mod auth;
mod bucket;
mod copy;
mod cors;
mod delete;
mod door;
mod get;
pub mod guard;
mod list;
mod messages;
mod multipart;
mod ownership;
mod policy;
pub mod process;
mod put;
mod tagging;

pub use door::{S3Door, s3_service};

use crate::kernel::ApiError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use s3s::dto::{ETag, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Request};
use std::collections::BTreeMap;
use store::{BodyDigests, ChecksumAlgorithm, Checksums, ObjectHeaders, Store, StoreError};

/// The S3 API over a [`Store`].
#[derive(Clone)]
pub struct ImgdS3 {
    pub(crate) store: Store,
    pub(crate) region: String,
    pub(crate) root_access_key: String,
    pub(crate) images: crate::images::ImageService,
}

impl ImgdS3 {
    pub fn new(
        store: Store,
        region: String,
        root_access_key: String,
        images: crate::images::ImageService,
    ) -> Self {
        Self {
            store,
            region,
            root_access_key,
            images,
        }
    }
}

/// The kernel's error as s3s renders it: the code (s3s knows most by name), the status
/// the kernel chose, and `Retry-After`.
pub(crate) fn s3_error(e: ApiError) -> S3Error {
    let code = S3ErrorCode::from_bytes(e.code.as_bytes())
        .unwrap_or_else(|| S3ErrorCode::Custom(e.code.into()));
    let mut err = S3Error::with_message(code, e.message.clone());
    err.set_status_code(e.status);
    let mut headers = http::HeaderMap::new();
    e.apply_headers(&mut headers);
    if !headers.is_empty() {
        // s3s takes these as the error response's whole header map, so the XML body's
        // type must be among them.
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/xml"),
        );
        err.set_headers(headers);
    }
    err
}

/// A store error as the S3 error a client expects ([`ApiError`]'s mapping). Internal
/// failures are logged there and reach the client as a bare `InternalError`.
pub(crate) fn s3_err(e: StoreError) -> S3Error {
    s3_error(e.into())
}

pub(crate) type S3Res<T> = s3s::S3Result<s3s::S3Response<T>>;

pub(crate) fn ok<T>(output: T) -> S3Res<T> {
    Ok(s3s::S3Response::new(output))
}

pub(crate) fn timestamp_ms(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub(crate) fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

/// The object headers a PUT, copy or multipart create carries.
pub(crate) struct HeaderFields<'a> {
    pub content_type: Option<&'a String>,
    pub cache_control: Option<&'a String>,
    pub content_disposition: Option<&'a String>,
    pub content_encoding: Option<&'a String>,
    pub content_language: Option<&'a String>,
    pub expires: Option<&'a Timestamp>,
    pub metadata: Option<&'a s3s::dto::Metadata>,
}

pub(crate) fn object_headers(f: HeaderFields<'_>) -> ObjectHeaders {
    let expires = f.expires.and_then(|ts| {
        let mut buf = Vec::new();
        ts.format(s3s::dto::TimestampFormat::HttpDate, &mut buf)
            .ok()?;
        String::from_utf8(buf).ok()
    });
    // aws-chunked is a transfer detail of the upload, not part of the object.
    let content_encoding = f.content_encoding.and_then(|ce| {
        let kept: Vec<&str> = ce
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
            .collect();
        (!kept.is_empty()).then(|| kept.join(", "))
    });
    ObjectHeaders {
        content_type: f.content_type.cloned(),
        cache_control: f.cache_control.cloned(),
        content_disposition: f.content_disposition.cloned(),
        content_encoding,
        content_language: f.content_language.cloned(),
        expires,
        user: f
            .metadata
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
    }
}

pub(crate) fn parse_expires(h: &ObjectHeaders) -> Option<Timestamp> {
    let s = h.expires.as_deref()?;
    Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, s).ok()
}

/// The checksums a client supplied in `x-amz-checksum-*` headers.
#[derive(Default)]
pub(crate) struct SuppliedChecksums {
    pub values: Checksums,
    pub declared: Vec<ChecksumAlgorithm>,
}

impl SuppliedChecksums {
    pub fn new(
        algorithm: Option<&s3s::dto::ChecksumAlgorithm>,
        crc32: Option<&String>,
        crc32c: Option<&String>,
        crc64nvme: Option<&String>,
        sha1: Option<&String>,
        sha256: Option<&String>,
    ) -> s3s::S3Result<Self> {
        let mut out = SuppliedChecksums::default();
        if let Some(a) = algorithm {
            let algo = ChecksumAlgorithm::parse(a.as_str()).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    format!("Checksum algorithm {} is not supported", a.as_str()),
                )
            })?;
            out.declared.push(algo);
        }
        for (algo, v) in [
            (ChecksumAlgorithm::Crc32, crc32),
            (ChecksumAlgorithm::Crc32c, crc32c),
            (ChecksumAlgorithm::Crc64nvme, crc64nvme),
            (ChecksumAlgorithm::Sha1, sha1),
            (ChecksumAlgorithm::Sha256, sha256),
        ] {
            if let Some(v) = v {
                out.values.insert(algo, v.clone());
                out.declared.push(algo);
            }
        }
        Ok(out)
    }

    /// Adds the algorithms announced for the trailer (`x-amz-trailer`).
    pub fn with_trailer_declaration<T>(mut self, req: &S3Request<T>) -> Self {
        if let Some(t) = req
            .headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
        {
            for name in t.split(',') {
                let name = name.trim().to_ascii_lowercase();
                if let Some(algo) = name
                    .strip_prefix("x-amz-checksum-")
                    .and_then(ChecksumAlgorithm::parse)
                {
                    self.declared.push(algo);
                }
            }
        }
        self
    }
}

/// Checks the digests of a received body against `Content-MD5`, the `x-amz-checksum-*`
/// headers and, when the body was aws-chunked with a trailer, the trailing checksum.
pub(crate) fn verify_body(
    digests: &BodyDigests,
    content_md5: Option<&[u8]>,
    supplied: &Checksums,
    trailers: Option<&s3s::TrailingHeaders>,
) -> Result<(), StoreError> {
    if let Some(md5) = content_md5
        && md5 != digests.md5
    {
        return Err(StoreError::BadDigest(
            "The Content-MD5 you specified did not match what we received.".into(),
        ));
    }
    let mut expected = supplied.clone();
    if let Some(trailers) = trailers
        && let Some(map) = trailers.take()
    {
        for (name, value) in &map {
            if let Some(algo) = name
                .as_str()
                .strip_prefix("x-amz-checksum-")
                .and_then(ChecksumAlgorithm::parse)
                && let Ok(v) = value.to_str()
            {
                expected.insert(algo, v.trim().to_owned());
            }
        }
    }
    for (algo, want) in &expected {
        match digests.checksums.get(algo) {
            Some(got) if got == want => {}
            _ => {
                return Err(StoreError::BadDigest(format!(
                    "The {} you specified did not match the calculated checksum.",
                    algo.as_str()
                )));
            }
        }
    }
    Ok(())
}

/// Decodes `Content-MD5`, refusing a value that is not a base64 MD5.
pub(crate) fn decode_content_md5(v: Option<&String>) -> s3s::S3Result<Option<Vec<u8>>> {
    match v {
        None => Ok(None),
        Some(s) => match B64.decode(s.trim()) {
            Ok(raw) if raw.len() == 16 => Ok(Some(raw)),
            _ => Err(S3Error::with_message(
                S3ErrorCode::InvalidDigest,
                "The Content-MD5 you specified was invalid.",
            )),
        },
    }
}

/// Fills the output's checksum fields when the client asked with
/// `x-amz-checksum-mode: ENABLED`.
pub(crate) struct ChecksumFields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub composite: bool,
}

pub(crate) fn checksum_fields(c: &Checksums) -> ChecksumFields {
    ChecksumFields {
        crc32: c.get(&ChecksumAlgorithm::Crc32).cloned(),
        crc32c: c.get(&ChecksumAlgorithm::Crc32c).cloned(),
        crc64nvme: c.get(&ChecksumAlgorithm::Crc64nvme).cloned(),
        sha1: c.get(&ChecksumAlgorithm::Sha1).cloned(),
        sha256: c.get(&ChecksumAlgorithm::Sha256).cloned(),
        composite: c.values().any(|v| v.contains('-')),
    }
}

pub(crate) fn checksum_type(f: &ChecksumFields) -> Option<s3s::dto::ChecksumType> {
    let any = f.crc32.is_some()
        || f.crc32c.is_some()
        || f.crc64nvme.is_some()
        || f.sha1.is_some()
        || f.sha256.is_some();
    any.then(|| {
        s3s::dto::ChecksumType::from_static(if f.composite {
            s3s::dto::ChecksumType::COMPOSITE
        } else {
            s3s::dto::ChecksumType::FULL_OBJECT
        })
    })
}

pub(crate) fn invalid_argument(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.into())
}

/// The owner shown in listings and ACLs: imgd has one account.
pub(crate) fn owner() -> s3s::dto::Owner {
    s3s::dto::Owner {
        display_name: Some("imgd".into()),
        id: Some("imgd".into()),
    }
}

#[async_trait::async_trait]
impl s3s::S3 for ImgdS3 {
    async fn list_buckets(
        &self,
        req: S3Request<s3s::dto::ListBucketsInput>,
    ) -> S3Res<s3s::dto::ListBucketsOutput> {
        self.do_list_buckets(req).await
    }
    async fn create_bucket(
        &self,
        req: S3Request<s3s::dto::CreateBucketInput>,
    ) -> S3Res<s3s::dto::CreateBucketOutput> {
        self.create_bucket_with_ownership(req).await
    }
    async fn head_bucket(
        &self,
        req: S3Request<s3s::dto::HeadBucketInput>,
    ) -> S3Res<s3s::dto::HeadBucketOutput> {
        self.do_head_bucket(req).await
    }
    async fn delete_bucket(
        &self,
        req: S3Request<s3s::dto::DeleteBucketInput>,
    ) -> S3Res<s3s::dto::DeleteBucketOutput> {
        self.do_delete_bucket(req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<s3s::dto::GetBucketLocationInput>,
    ) -> S3Res<s3s::dto::GetBucketLocationOutput> {
        self.do_get_bucket_location(req).await
    }
    async fn put_object(
        &self,
        req: S3Request<s3s::dto::PutObjectInput>,
    ) -> S3Res<s3s::dto::PutObjectOutput> {
        self.do_put_object(req).await
    }
    async fn get_object(
        &self,
        req: S3Request<s3s::dto::GetObjectInput>,
    ) -> S3Res<s3s::dto::GetObjectOutput> {
        match self.read_target(&req).await? {
            Some((key, pipeline)) => self.do_processed_get(req, &key, &pipeline).await,
            None => self.do_get_object(req).await,
        }
    }
    async fn head_object(
        &self,
        req: S3Request<s3s::dto::HeadObjectInput>,
    ) -> S3Res<s3s::dto::HeadObjectOutput> {
        match self.read_target(&req).await? {
            Some((key, pipeline)) => self.do_processed_head(req, &key, &pipeline).await,
            None => self.do_head_object(req).await,
        }
    }
    async fn delete_object(
        &self,
        req: S3Request<s3s::dto::DeleteObjectInput>,
    ) -> S3Res<s3s::dto::DeleteObjectOutput> {
        self.do_delete_object(req).await
    }
    async fn delete_objects(
        &self,
        req: S3Request<s3s::dto::DeleteObjectsInput>,
    ) -> S3Res<s3s::dto::DeleteObjectsOutput> {
        self.do_delete_objects(req).await
    }
    async fn copy_object(
        &self,
        req: S3Request<s3s::dto::CopyObjectInput>,
    ) -> S3Res<s3s::dto::CopyObjectOutput> {
        self.do_copy_object(req).await
    }
    async fn get_object_tagging(
        &self,
        req: S3Request<s3s::dto::GetObjectTaggingInput>,
    ) -> S3Res<s3s::dto::GetObjectTaggingOutput> {
        self.do_get_object_tagging(req).await
    }
    async fn put_object_tagging(
        &self,
        req: S3Request<s3s::dto::PutObjectTaggingInput>,
    ) -> S3Res<s3s::dto::PutObjectTaggingOutput> {
        self.do_put_object_tagging(req).await
    }
    async fn delete_object_tagging(
        &self,
        req: S3Request<s3s::dto::DeleteObjectTaggingInput>,
    ) -> S3Res<s3s::dto::DeleteObjectTaggingOutput> {
        self.do_delete_object_tagging(req).await
    }
    async fn list_objects(
        &self,
        req: S3Request<s3s::dto::ListObjectsInput>,
    ) -> S3Res<s3s::dto::ListObjectsOutput> {
        self.do_list_objects(req).await
    }
    async fn list_objects_v2(
        &self,
        req: S3Request<s3s::dto::ListObjectsV2Input>,
    ) -> S3Res<s3s::dto::ListObjectsV2Output> {
        self.do_list_objects_v2(req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<s3s::dto::ListObjectVersionsInput>,
    ) -> S3Res<s3s::dto::ListObjectVersionsOutput> {
        self.do_list_object_versions(req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<s3s::dto::CreateMultipartUploadInput>,
    ) -> S3Res<s3s::dto::CreateMultipartUploadOutput> {
        self.do_create_multipart_upload(req).await
    }
    async fn upload_part(
        &self,
        req: S3Request<s3s::dto::UploadPartInput>,
    ) -> S3Res<s3s::dto::UploadPartOutput> {
        self.do_upload_part(req).await
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<s3s::dto::UploadPartCopyInput>,
    ) -> S3Res<s3s::dto::UploadPartCopyOutput> {
        self.do_upload_part_copy(req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<s3s::dto::CompleteMultipartUploadInput>,
    ) -> S3Res<s3s::dto::CompleteMultipartUploadOutput> {
        self.do_complete_multipart_upload(req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<s3s::dto::AbortMultipartUploadInput>,
    ) -> S3Res<s3s::dto::AbortMultipartUploadOutput> {
        self.do_abort_multipart_upload(req).await
    }
    async fn list_parts(
        &self,
        req: S3Request<s3s::dto::ListPartsInput>,
    ) -> S3Res<s3s::dto::ListPartsOutput> {
        self.do_list_parts(req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<s3s::dto::ListMultipartUploadsInput>,
    ) -> S3Res<s3s::dto::ListMultipartUploadsOutput> {
        self.do_list_multipart_uploads(req).await
    }
    async fn get_bucket_acl(
        &self,
        req: S3Request<s3s::dto::GetBucketAclInput>,
    ) -> S3Res<s3s::dto::GetBucketAclOutput> {
        self.do_get_bucket_acl(req).await
    }
    async fn put_bucket_acl(
        &self,
        req: S3Request<s3s::dto::PutBucketAclInput>,
    ) -> S3Res<s3s::dto::PutBucketAclOutput> {
        self.do_put_bucket_acl(req).await
    }
    async fn get_object_acl(
        &self,
        req: S3Request<s3s::dto::GetObjectAclInput>,
    ) -> S3Res<s3s::dto::GetObjectAclOutput> {
        self.do_get_object_acl(req).await
    }
    async fn put_bucket_cors(
        &self,
        req: S3Request<s3s::dto::PutBucketCorsInput>,
    ) -> S3Res<s3s::dto::PutBucketCorsOutput> {
        self.do_put_bucket_cors(req).await
    }
    async fn get_bucket_cors(
        &self,
        req: S3Request<s3s::dto::GetBucketCorsInput>,
    ) -> S3Res<s3s::dto::GetBucketCorsOutput> {
        self.do_get_bucket_cors(req).await
    }
    async fn delete_bucket_cors(
        &self,
        req: S3Request<s3s::dto::DeleteBucketCorsInput>,
    ) -> S3Res<s3s::dto::DeleteBucketCorsOutput> {
        self.do_delete_bucket_cors(req).await
    }
    async fn put_bucket_policy(
        &self,
        req: S3Request<s3s::dto::PutBucketPolicyInput>,
    ) -> S3Res<s3s::dto::PutBucketPolicyOutput> {
        self.do_put_bucket_policy(req).await
    }
    async fn get_bucket_policy(
        &self,
        req: S3Request<s3s::dto::GetBucketPolicyInput>,
    ) -> S3Res<s3s::dto::GetBucketPolicyOutput> {
        self.do_get_bucket_policy(req).await
    }
    async fn delete_bucket_policy(
        &self,
        req: S3Request<s3s::dto::DeleteBucketPolicyInput>,
    ) -> S3Res<s3s::dto::DeleteBucketPolicyOutput> {
        self.do_delete_bucket_policy(req).await
    }
    async fn get_bucket_policy_status(
        &self,
        req: S3Request<s3s::dto::GetBucketPolicyStatusInput>,
    ) -> S3Res<s3s::dto::GetBucketPolicyStatusOutput> {
        self.do_get_bucket_policy_status(req).await
    }
    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<s3s::dto::PutBucketOwnershipControlsInput>,
    ) -> S3Res<s3s::dto::PutBucketOwnershipControlsOutput> {
        self.do_put_bucket_ownership_controls(req).await
    }
    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<s3s::dto::GetBucketOwnershipControlsInput>,
    ) -> S3Res<s3s::dto::GetBucketOwnershipControlsOutput> {
        self.do_get_bucket_ownership_controls(req).await
    }
    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<s3s::dto::DeleteBucketOwnershipControlsInput>,
    ) -> S3Res<s3s::dto::DeleteBucketOwnershipControlsOutput> {
        self.do_delete_bucket_ownership_controls(req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<s3s::dto::GetBucketVersioningInput>,
    ) -> S3Res<s3s::dto::GetBucketVersioningOutput> {
        self.do_get_bucket_versioning(req).await
    }
    async fn put_bucket_versioning(
        &self,
        req: S3Request<s3s::dto::PutBucketVersioningInput>,
    ) -> S3Res<s3s::dto::PutBucketVersioningOutput> {
        self.do_put_bucket_versioning(req).await
    }
}
