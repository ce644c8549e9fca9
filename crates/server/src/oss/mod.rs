//! The Alibaba-OSS-compatible door: the object API for requests authenticated the OSS
//! way (V1 `Authorization: OSS ak:sig` and V4 `OSS4-HMAC-SHA256` headers and signed
//! URLs), as the `oss2` and `alibabacloud-oss-v2` SDKs and OSS-style links use it,
//! plus OSS-only operations such as ProcessObject
//! (`POST /{bucket}/{key}?x-oss-process`, which SigV4 callers may use too).
//!
//! Principal types and data flow:
//!
//! - The route decodes the operation first ([`Endpoint`], `endpoint.rs`) and the query
//!   once ([`Query`]). [`OssDoor::handle`] finds the bucket and key (path style, or
//!   virtual-hosted under the configured domain) and authenticates with
//!   [`crate::auth::oss`] (SigV4 only for ProcessObject, whose small
//!   body is read first because SigV4 signs it). The result is an [`OssRequest`]: who
//!   ([`Caller`]), how ([`Proof`]: header or signed URL with its expiry), and what.
//! - One `match` on the endpoint sends it to one file per operation family:
//!   `get.rs` (GetObject, plain, ranged, or rendered through [`ImageService`] for
//!   `x-oss-process`), `head.rs` (HeadObject, GetObjectMeta), `put.rs` (PutObject
//!   streaming the body into [`store::Store::put_object`], CopyObject), `delete.rs`,
//!   `list.rs` (ListObjects and ListObjectsV2, OSS's `ListBucketResult`),
//!   `bucket.rs` (ListBuckets, CreateBucket, DeleteBucket, GetBucketInfo,
//!   GetBucketLocation), `acl.rs` (bucket and object ACLs), `batch_delete.rs`
//!   (DeleteMultipleObjects), `process_object.rs` (saveas), `async_process.rs`
//!   (AsyncProcessObject: durable background tasks and their worker), `multipart.rs`
//!   (initiate, parts, part copies, complete, abort, ListParts,
//!   ListMultipartUploads), `append.rs` (AppendObject), `symlink.rs`, `tagging.rs`
//!   (object tags and `x-oss-tagging`), `style.rs` (the style API). Each checks
//!   [`Caller::may`] for the bucket it touches; creating, deleting and re-ACLing
//!   buckets is the root key's alone, as on the S3 door.
//! - Responses carry OSS's headers (`x-oss-request-id`, quoted upper-case hex `ETag` as
//!   OSS writes MD5s, `x-oss-object-type`, `x-oss-meta-*`). Errors are [`OssError`]s
//!   (the kernel's [`ApiError`](crate::kernel::ApiError)), rendered by `errors.rs` as
//!   OSS's XML document (in `x-oss-err` for HEAD).
//!
//! Caching never outlives a link: a response to a signed URL is
//! `Cache-Control: private, max-age=N` with `Expires` at the link's expiry, where N is at
//! most the seconds left (and at most the object's own `max-age`). It is `private` even
//! for public-read buckets, because a shared cache would serve it past the access rules
//! the link was checked against. Header-signed responses are `private, no-cache` unless
//! the object (or a signed `response-cache-control`) says otherwise.
//!
//! Not served here (answered `NotImplemented` naming the operation or sub-resource):
//! per-object ACLs other than `default`, the other bucket configurations (lifecycle,
//! CORS, referer, ...), STS tokens, and OSS signature version 2.

mod acl;
mod append;
mod async_process;
mod batch_delete;
mod bucket;
mod delete;
mod endpoint;
mod errors;
mod get;
mod head;
mod list;
mod multipart;
mod process_object;
mod put;
mod style;
mod symlink;
mod tagging;

pub use endpoint::{Endpoint, Unsupported};
pub use errors::OssError;
pub(crate) use errors::{
    access_denied, from_image_error, from_store_error, invalid_argument, malformed_xml,
    not_implemented,
};

use crate::auth::oss::{Proof, SignedParts};
use crate::auth::{self, Caller, Callers};
use crate::images::ImageService;
use crate::kernel::{BoxBody, Clock, Query, vhost};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use store::Permission;

/// Largest request body the OSS door reads into memory (process strings are short).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The owner imgd names in OSS documents: it has one account.
pub(crate) const OWNER_XML: &str = "<Owner><ID>imgd</ID><DisplayName>imgd</DisplayName></Owner>";

#[derive(Clone)]
pub struct OssDoor {
    pub(crate) images: ImageService,
    pub(crate) callers: Callers,
    pub(crate) host_id: String,
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`).
    pub(crate) domain: Option<String>,
    /// "Now" for request-time skew and signed-URL expiry.
    pub(crate) clock: Clock,
    /// The region imgd reports (`ServerConfig::region`); buckets are located in
    /// `oss-<region>`.
    pub(crate) region: String,
    /// Wakes the async-process worker when a task is queued.
    pub(crate) async_wake: std::sync::Arc<tokio::sync::Notify>,
}

/// An authenticated OSS request, before its body is read.
pub(crate) struct OssRequest {
    pub method: Method,
    pub headers: HeaderMap,
    /// Empty for service-level requests (ListBuckets).
    pub bucket: String,
    /// Percent-decoded; empty for bucket-level requests.
    pub key: String,
    /// The `Host` the client addressed, as sent.
    pub host: Option<String>,
    pub query: Query,
    pub caller: Caller,
    pub proof: Proof,
    pub now: i64,
}

impl OssRequest {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name)
    }

    pub fn has_param(&self, name: &str) -> bool {
        self.query.has(name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn require(&self, bucket: &str, need: Permission) -> Result<(), OssError> {
        if self.caller.may(bucket, need) {
            Ok(())
        } else {
            Err(access_denied())
        }
    }

    /// Creating, deleting and re-ACLing buckets is the root key's alone (imgd has one
    /// account, and every bucket is the root's), as on the S3 door.
    pub fn require_root(&self) -> Result<(), OssError> {
        match self.caller {
            Caller::Root => Ok(()),
            Caller::Key(_) => Err(access_denied()),
        }
    }
}

fn decode_path(s: &str) -> Result<String, OssError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidObjectName",
                "The object name is not valid UTF-8.",
            )
        })
}

/// `(bucket, key)` of a request: `bucket.<domain>` hosts name the bucket and the whole
/// path is the key; otherwise `/bucket/key` (path style). The key is empty for
/// bucket-level requests, both are for service-level ones.
fn bucket_and_key(
    path: &str,
    host: Option<&str>,
    domain: Option<&str>,
) -> Result<(String, String), OssError> {
    let target = vhost::resolve(path, host, domain);
    Ok((decode_path(&target.bucket)?, decode_path(target.key)?))
}

impl OssDoor {
    pub fn new(images: ImageService, callers: Callers) -> Self {
        OssDoor {
            images,
            callers,
            host_id: "imgd".into(),
            domain: None,
            clock: Clock::system(),
            region: "us-east-1".into(),
            async_wake: Default::default(),
        }
    }

    /// Reports `region` as the buckets' location (`oss-<region>`).
    pub fn with_region(mut self, region: &str) -> Self {
        self.region = region.to_owned();
        self
    }

    /// Judges request times and link expiry by `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Serves virtual-hosted-style requests (`bucket.<domain>`) as well as path style.
    pub fn with_domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain.filter(|d| !d.is_empty());
        self
    }

    pub async fn handle(
        &self,
        endpoint: Endpoint,
        req: Request<Incoming>,
        query: Query,
        request_id: &str,
    ) -> Response<BoxBody> {
        let head = req.method() == Method::HEAD;
        let mut resp = match self.dispatch(endpoint, req, query, request_id).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::info!(code = e.code, message = %e.message, "OSS request refused");
                errors::into_response(e, request_id, &self.host_id, head)
            }
        };
        if let Ok(v) = http::HeaderValue::from_str(request_id) {
            resp.headers_mut().insert("x-oss-request-id", v);
        }
        resp.headers_mut()
            .insert(http::header::SERVER, http::HeaderValue::from_static("imgd"));
        resp
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        req: Request<Incoming>,
        query: Query,
        request_id: &str,
    ) -> Result<Response<BoxBody>, OssError> {
        let (parts, body) = req.into_parts();
        let now = self.clock.now();
        let host = vhost::request_host(&parts.uri, &parts.headers);
        let (bucket, key) = bucket_and_key(parts.uri.path(), host, self.domain.as_deref())?;

        if auth::sigv4::is_sigv4(&parts.headers) {
            // SigV4 callers reach this door only for ProcessObject (the S3 door serves
            // the rest); SigV4 signs the body, so it is read before the check.
            if endpoint != Endpoint::ProcessObject {
                return Err(invalid_argument(
                    "Only ProcessObject is served to SigV4 callers on the OSS API.",
                ));
            }
            let body = read_body(body).await?;
            let caller = auth::sigv4::verify(
                &self.callers,
                &parts.method,
                &parts.uri,
                &parts.headers,
                &body,
                now,
            )
            .await
            .map_err(|r| {
                let status = match r.code {
                    "InternalError" => StatusCode::INTERNAL_SERVER_ERROR,
                    "AuthorizationHeaderMalformed" | "XAmzContentSHA256Mismatch" => {
                        StatusCode::BAD_REQUEST
                    }
                    _ => StatusCode::FORBIDDEN,
                };
                OssError::new(status, r.code, r.message)
            })?;
            return self.process_object(&caller, &bucket, &key, &body).await;
        }

        if !auth::oss::has_oss_authorization(&parts.headers)
            && !auth::oss::has_signed_url_params(query.pairs())
        {
            // Anonymous requests are the S3 and delivery doors' business; here they are
            // only a POST ?x-oss-process without credentials.
            return Err(access_denied());
        }
        let verified = auth::oss::verify(
            &self.callers,
            &SignedParts {
                method: parts.method.as_str(),
                bucket: &bucket,
                key: &key,
                query: query.pairs(),
                headers: &parts.headers,
            },
            now,
        )
        .await?;

        let host = host.map(str::to_owned);
        let req = OssRequest {
            host,
            method: parts.method,
            headers: parts.headers,
            bucket,
            key,
            query,
            caller: verified.caller,
            proof: verified.proof,
            now,
        };
        match endpoint {
            Endpoint::ListBuckets => self.list_buckets(&req).await,
            Endpoint::CreateBucket => {
                let body = read_body(body).await?;
                self.create_bucket(&req, &body).await
            }
            Endpoint::DeleteBucket => self.delete_bucket(&req).await,
            Endpoint::GetBucketInfo => self.get_bucket_info(&req).await,
            Endpoint::GetBucketLocation => self.get_bucket_location(&req).await,
            Endpoint::GetBucketAcl => self.get_bucket_acl(&req).await,
            Endpoint::PutBucketAcl => self.put_bucket_acl(&req).await,
            Endpoint::ListObjects => self.list_objects(&req).await,
            Endpoint::ListObjectsV2 => self.list_objects_v2(&req).await,
            Endpoint::DeleteMultipleObjects => self.delete_multiple_objects(&req, body).await,
            Endpoint::PutBucketStyle => {
                let body = read_body(body).await?;
                self.put_bucket_style(&req, &body).await
            }
            Endpoint::GetBucketStyle => self.get_bucket_style(&req).await,
            Endpoint::ListBucketStyle => self.list_bucket_style(&req).await,
            Endpoint::DeleteBucketStyle => self.delete_bucket_style(&req).await,
            Endpoint::InitiateMultipartUpload => self.initiate_multipart_upload(&req).await,
            Endpoint::UploadPart => self.upload_part(&req, body).await,
            Endpoint::UploadPartCopy => self.upload_part_copy(&req).await,
            Endpoint::CompleteMultipartUpload => self.complete_multipart_upload(&req, body).await,
            Endpoint::AbortMultipartUpload => self.abort_multipart_upload(&req).await,
            Endpoint::ListParts => self.list_parts(&req).await,
            Endpoint::ListMultipartUploads => self.list_multipart_uploads(&req).await,
            Endpoint::AppendObject => self.append_object(&req, body).await,
            Endpoint::PutSymlink => self.put_symlink(&req).await,
            Endpoint::GetSymlink => self.get_symlink(&req).await,
            Endpoint::PutObjectTagging => {
                let body = read_body(body).await?;
                self.put_object_tagging(&req, &body).await
            }
            Endpoint::GetObjectTagging => self.get_object_tagging(&req).await,
            Endpoint::DeleteObjectTagging => self.delete_object_tagging(&req).await,
            Endpoint::GetObjectAcl => self.get_object_acl(&req).await,
            Endpoint::PutObjectAcl => self.put_object_acl(&req).await,
            Endpoint::GetObject => self.get_object(&req).await,
            Endpoint::GetObjectMeta => self.get_object_meta(&req).await,
            Endpoint::HeadObject => self.head_object(&req).await,
            Endpoint::CopyObject => self.copy_object(&req).await,
            Endpoint::PutObject => self.put_object(&req, body).await,
            Endpoint::DeleteObject => self.delete_object(&req).await,
            Endpoint::ProcessObject => {
                let body = read_body(body).await?;
                self.process_object(&req.caller, &req.bucket, &req.key, &body)
                    .await
            }
            Endpoint::AsyncProcessObject => {
                let body = read_body(body).await?;
                self.async_process_object(&req, &body, request_id).await
            }
            Endpoint::Unsupported(what) => Err(not_implemented(&what.what())),
            Endpoint::MethodNotAllowed => Err(OssError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )),
        }
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, OssError> {
    crate::kernel::body::read_limited(body, MAX_BODY_BYTES)
        .await
        .map_err(|m| invalid_argument(format!("{m}.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_virtual_host_targets() {
        let t = |path, host, domain| bucket_and_key(path, host, domain).map_err(|e| e.code);
        assert_eq!(
            t("/b/dir%2Fa%20b.jpg", None, None),
            Ok(("b".into(), "dir/a b.jpg".into()))
        );
        assert_eq!(t("/b/", None, None), Ok(("b".into(), "".into())));
        assert_eq!(t("/b", None, None), Ok(("b".into(), "".into())));
        assert_eq!(t("/", None, None), Ok(("".into(), "".into())));
        assert_eq!(
            t(
                "/k/x.jpg",
                Some("pics.img.example:8080"),
                Some("img.example")
            ),
            Ok(("pics".into(), "k/x.jpg".into()))
        );
        // The bare domain is path style.
        assert_eq!(
            t("/pics/x.jpg", Some("img.example"), Some("img.example")),
            Ok(("pics".into(), "x.jpg".into()))
        );
        assert_eq!(t("/b/%ff", None, None), Err("InvalidObjectName"));
    }
}
