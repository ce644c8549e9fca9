//! Who is who ([`ImgdAuth`]: access key → secret, for s3s's signature checks) and who may
//! do what ([`ImgdAccess`]).
//!
//! - The root key (from the configuration) may do everything.
//! - Extra keys (`imgd key create`) may use only the buckets they were granted, read or
//!   read-write, and never create, delete or re-ACL buckets.
//! - Anonymous requests may GET and HEAD objects of public-read buckets, nothing else.

use super::{ImgdS3, s3_err};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
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
    matches!(op, "GetObject" | "HeadObject")
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
        let Some(cred) = cx.credentials() else {
            let Some(bucket) = bucket.filter(|_| anonymous_allowed(&op)) else {
                return Err(access_denied());
            };
            return match self.store.bucket(&bucket).await {
                Ok(b) if b.acl == BucketAcl::PublicRead => Ok(()),
                Ok(_) | Err(StoreError::NoSuchBucket) => Err(access_denied()),
                Err(e) => Err(s3_err(e)),
            };
        };
        if cred.access_key == self.root_access_key {
            return Ok(());
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
