//! Who is who ([`ImgdAuth`]: access key → secret, for s3s's signature checks) and who may
//! do what ([`ImgdAccess`]).
//!
//! - The root key (from the configuration) may do everything.
//! - Extra keys (`imgd key create`) may use only the buckets they were granted, read or
//!   read-write, and never create, delete or re-ACL buckets.
//! - Anonymous requests may list, GET and HEAD objects of public-read buckets, nothing
//!   else (S3's `public-read` canned ACL grants READ on the bucket, which is listing).
//! - Bucket names are judged here ([`store::bucket_name_problem`]) rather than by s3s,
//!   whose refusal carries no message; [`ImgdNames`] lets every non-empty name through
//!   s3s's path parser so that this check sees it.

use super::{ImgdS3, s3_err};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::validation::NameValidation;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};
use store::{BucketAcl, Permission, Store, StoreError};

pub struct ImgdAuth {
    store: Store,
    root_access_key: String,
    root_secret_key: String,
}

impl ImgdAuth {
    pub fn new(store: Store, root_access_key: String, root_secret_key: String) -> Self {
        Self {
            store,
            root_access_key,
            root_secret_key,
        }
    }
}

#[async_trait::async_trait]
impl S3Auth for ImgdAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.root_access_key {
            return Ok(SecretKey::from(self.root_secret_key.as_str()));
        }
        // Looked up on every request so that a revocation applies at once.
        match self
            .store
            .active_access_key(access_key)
            .await
            .map_err(s3_err)?
        {
            Some(k) => Ok(SecretKey::from(k.secret_key)),
            None => Err(S3Error::with_message(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            )),
        }
    }
}

pub struct ImgdAccess {
    store: Store,
    root_access_key: String,
}

impl ImgdAccess {
    pub fn new(store: Store, root_access_key: String) -> Self {
        Self {
            store,
            root_access_key,
        }
    }
}

fn access_denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}

/// Operations an anonymous client may perform on a public-read bucket.
fn anonymous_allowed(op: &str) -> bool {
    matches!(
        op,
        "GetObject" | "HeadObject" | "ListObjects" | "ListObjectsV2"
    )
}

/// s3s's bucket-name check, relaxed to "not empty": s3s refuses a bad name with a bare
/// `InvalidBucketName` and no message, so the rule is applied in [`ImgdAccess`] instead,
/// where the refusal can say which rule was broken.
pub struct ImgdNames;

impl NameValidation for ImgdNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        !name.is_empty()
    }
}

fn check_bucket_name(bucket: &str) -> S3Result<()> {
    match store::bucket_name_problem(bucket) {
        None => Ok(()),
        Some(message) => Err(S3Error::with_message(
            S3ErrorCode::InvalidBucketName,
            message,
        )),
    }
}

/// Operations only the root key may perform.
fn root_only(op: &str) -> bool {
    matches!(op, "CreateBucket" | "DeleteBucket" | "PutBucketAcl")
}

fn is_read(op: &str) -> bool {
    op.starts_with("Get") || op.starts_with("Head") || op.starts_with("List")
}

/// Whether extra key `access_key` holds `need` on `bucket` ([`store::AccessKey::may`]).
async fn key_may(
    store: &Store,
    access_key: &str,
    bucket: &str,
    need: Permission,
) -> S3Result<bool> {
    let key = store.active_access_key(access_key).await.map_err(s3_err)?;
    Ok(key.is_some_and(|k| k.may(bucket, need)))
}

#[async_trait::async_trait]
impl S3Access for ImgdAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name().to_owned();
        let bucket = match cx.s3_path() {
            S3Path::Root => None,
            S3Path::Bucket { bucket } => Some(bucket.to_string()),
            S3Path::Object { bucket, .. } => Some(bucket.to_string()),
        };
        if let Some(bucket) = &bucket {
            check_bucket_name(bucket)?;
        }
        let Some(cred) = cx.credentials() else {
            let Some(bucket) = bucket else {
                return Err(access_denied());
            };
            let (info, settings) = match self.store.bucket_view(&bucket).await {
                Ok(view) => view,
                Err(StoreError::NoSuchBucket) => return Err(access_denied()),
                Err(e) => return Err(s3_err(e)),
            };
            let by_acl = info.acl == BucketAcl::PublicRead && anonymous_allowed(&op);
            // A stored bucket policy sets the public-read ACL for its GetObject grant, so
            // with a policy the ACL stands for object reads only and listing is what the
            // policy grants (s3:ListBucket), not what the canned ACL would.
            let allowed = if settings.s3_policy.is_some() {
                super::policy::anonymous_allowed_by_policy(&settings, &op)
                    || (by_acl && matches!(op.as_str(), "GetObject" | "HeadObject"))
            } else {
                by_acl
            };
            return if allowed {
                Ok(())
            } else {
                Err(access_denied())
            };
        };
        if cred.access_key == self.root_access_key {
            return Ok(());
        }
        if op == "CreateBucket"
            && let Some(bucket) = &bucket
        {
            // imgd has one account and the root key is it: every bucket is the root's.
            // An extra key is another principal, so to it an existing bucket is someone
            // else's (S3's BucketAlreadyExists), and a new one is not its to create.
            return match self.store.bucket(bucket).await {
                Ok(_) => Err(S3Error::with_message(
                    S3ErrorCode::BucketAlreadyExists,
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                )),
                Err(StoreError::NoSuchBucket) => Err(access_denied()),
                Err(e) => Err(s3_err(e)),
            };
        }
        if root_only(&op) {
            return Err(access_denied());
        }
        let Some(bucket) = bucket else {
            // ListBuckets: answered with the key's own buckets only.
            return Ok(());
        };
        let need = if is_read(&op) {
            Permission::Read
        } else {
            Permission::ReadWrite
        };
        if key_may(&self.store, &cred.access_key, &bucket, need).await? {
            Ok(())
        } else {
            Err(access_denied())
        }
    }
}

impl ImgdS3 {
    /// A copy reads from a second bucket, which the access check above never saw.
    pub(crate) async fn check_source_readable<T>(
        &self,
        req: &S3Request<T>,
        src_bucket: &str,
    ) -> S3Result<()> {
        let Some(cred) = &req.credentials else {
            return Err(access_denied());
        };
        if cred.access_key == self.root_access_key
            || key_may(&self.store, &cred.access_key, src_bucket, Permission::Read).await?
        {
            Ok(())
        } else {
            Err(access_denied())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// The S3 service as `s3_service` builds it, plus the door's hooks for issue 12:
    /// [`ImgdNames`] in s3s and [`crate::s3::messages::s3_error_with_message`] on its
    /// answers.
    async fn call(service: &s3s::service::S3Service, method: &str, path: &str) -> (u16, String) {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .body(s3s::Body::empty())
            .unwrap_or_default();
        let resp = service.call(req).await.unwrap_or_else(|e| panic!("{e:?}"));
        let status = resp.status().as_u16();
        let body = BodyExt::collect(resp.into_body())
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = crate::s3::messages::s3_error_with_message(&body)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        (status, text)
    }

    #[tokio::test]
    async fn refusals_before_imgd_code_carry_messages() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let backend = store::BlobBackend::Fs {
            root: dir.path().to_path_buf(),
        };
        let store = Store::open(&dir.path().join("imgd.db"), &backend, true)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let images = crate::images::ImageService::new(store.clone(), Default::default());
        let mut builder = s3s::service::S3ServiceBuilder::new(ImgdS3::new(
            store.clone(),
            "us-east-1".into(),
            "ROOT".into(),
            images,
        ));
        builder.set_auth(ImgdAuth::new(store.clone(), "ROOT".into(), "s".into()));
        builder.set_access(ImgdAccess::new(store.clone(), "ROOT".into()));
        builder.set_validation(ImgdNames);
        let service = builder.build();

        let (status, text) = call(&service, "PUT", "/AB").await;
        assert_eq!(status, 400);
        assert!(
            text.contains("<Code>InvalidBucketName</Code>") && text.contains("2 characters long"),
            "{text}"
        );
        let (status, text) = call(&service, "GET", "/under_score/k").await;
        assert_eq!(status, 400);
        assert!(text.contains("contains &apos;_&apos;"), "{text}");
        // s3s's own key-length refusal has no message; the door's filter gives it one.
        let long = format!("/bkt/{}", "k".repeat(1025));
        let (status, text) = call(&service, "GET", &long).await;
        assert_eq!(status, 400);
        assert!(
            text.contains("<Code>KeyTooLongError</Code><Message>Your key is too long"),
            "{text}"
        );
        // Valid names pass on to the usual checks.
        let (status, text) = call(&service, "GET", "/good-name/k").await;
        assert_eq!(status, 403, "{text}");
    }
}
