//! ACLs on the OSS door: GetBucketAcl and PutBucketAcl (`x-oss-acl`), GetObjectAcl and
//! PutObjectAcl (`x-oss-object-acl`).
//!
//! A bucket is `private` or `public-read`: imgd's [`BucketAcl`], the one the S3 door's
//! ACLs and anonymous reads and the delivery policy follow (setting it clears an explicit
//! delivery policy, [`store::Store::set_bucket_acl`]). OSS's `public-read-write` would let
//! anyone write, which imgd never allows, and is answered `NotImplemented`. Objects have
//! no ACL of their own: every object's is `default` (its bucket's); PutObjectAcl accepts
//! `default` and answers any other `NotImplemented`.

use super::{
    OWNER_XML, OssDoor, OssError, OssRequest, from_store_error, invalid_argument, not_implemented,
};
use crate::kernel::{self, BoxBody};
use http::{Response, StatusCode};
use store::{BucketAcl, Permission};

/// OSS's canned ACLs; `default` only for objects.
const OSS_ACLS: [&str; 4] = ["private", "public-read", "public-read-write", "default"];

/// The bucket ACL an `x-oss-acl` value asks for; absent means private.
pub(super) fn canned_bucket_acl(value: Option<&str>) -> Result<BucketAcl, OssError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(BucketAcl::Private);
    };
    if let Some(acl) = BucketAcl::parse(value) {
        return Ok(acl);
    }
    if value == "public-read-write" {
        return Err(not_implemented(
            "the public-read-write ACL (anonymous writes; buckets are private or public-read)",
        ));
    }
    Err(invalid_argument(format!(
        "x-oss-acl {value:?} is not one of private, public-read, public-read-write."
    )))
}

fn acl_document(grant: &str) -> Response<BoxBody> {
    kernel::full(
        StatusCode::OK,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy>{OWNER_XML}<AccessControlList><Grant>{grant}</Grant></AccessControlList></AccessControlPolicy>"
        ),
    )
}

impl OssDoor {
    pub(super) async fn get_bucket_acl(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let b = self
            .images
            .store()
            .bucket(&req.bucket)
            .await
            .map_err(from_store_error)?;
        Ok(acl_document(b.acl.as_str()))
    }

    pub(super) async fn put_bucket_acl(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require_root()?;
        let value = req
            .header("x-oss-acl")
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| invalid_argument("PutBucketAcl needs an x-oss-acl header."))?;
        let acl = canned_bucket_acl(Some(value))?;
        self.images
            .store()
            .set_bucket_acl(&req.bucket, acl)
            .await
            .map_err(from_store_error)?;
        tracing::info!(bucket = %req.bucket, acl = acl.as_str(), "bucket acl set (OSS)");
        Ok(kernel::full(StatusCode::OK, "application/xml", ""))
    }

    /// `default`: objects follow their bucket.
    pub(super) async fn get_object_acl(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        self.images
            .store()
            .object(&req.bucket, &req.key)
            .await
            .map_err(from_store_error)?;
        Ok(acl_document("default"))
    }

    pub(super) async fn put_object_acl(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        let value = req
            .header("x-oss-object-acl")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid_argument("PutObjectAcl needs an x-oss-object-acl header."))?;
        if !OSS_ACLS.contains(&value) {
            return Err(invalid_argument(format!(
                "x-oss-object-acl {value:?} is not one of {}.",
                OSS_ACLS.join(", ")
            )));
        }
        self.images
            .store()
            .object(&req.bucket, &req.key)
            .await
            .map_err(from_store_error)?;
        if value != "default" {
            return Err(not_implemented(&format!(
                "per-object ACLs (x-oss-object-acl {value}; objects follow their bucket's ACL, which put_bucket_acl sets)"
            )));
        }
        Ok(kernel::full(StatusCode::OK, "application/xml", ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_map_onto_imgds_two() {
        assert_eq!(canned_bucket_acl(None).unwrap(), BucketAcl::Private);
        assert_eq!(canned_bucket_acl(Some("")).unwrap(), BucketAcl::Private);
        assert_eq!(
            canned_bucket_acl(Some("private")).unwrap(),
            BucketAcl::Private
        );
        assert_eq!(
            canned_bucket_acl(Some("public-read")).unwrap(),
            BucketAcl::PublicRead
        );
        let e = canned_bucket_acl(Some("public-read-write")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (501, "NotImplemented"));
        assert!(e.message.contains("public-read-write"), "{}", e.message);
        let e = canned_bucket_acl(Some("everyone")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "InvalidArgument"));
    }
}
