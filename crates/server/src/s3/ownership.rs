//! Object ownership controls (PutBucketOwnershipControls, GetBucketOwnershipControls,
//! DeleteBucketOwnershipControls, `x-amz-object-ownership` on CreateBucket) and the
//! versioning answers (GetBucketVersioning, PutBucketVersioning).
//!
//! imgd has one account, so every object is the bucket owner's whatever the setting
//! says; the setting is stored and reported so that tools which write it (Terraform's
//! `aws_s3_bucket_ownership_controls`, the console's defaults) see their value back.
//! Versioning is not kept: a bucket is always "never enabled", and enabling it is
//! refused rather than accepted and ignored.

use super::{ImgdS3, S3Res, ok, s3_err};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};

const VALUES: [&str; 3] = [
    ObjectOwnership::BUCKET_OWNER_ENFORCED,
    ObjectOwnership::BUCKET_OWNER_PREFERRED,
    ObjectOwnership::OBJECT_WRITER,
];

fn check(value: &ObjectOwnership, code: S3ErrorCode) -> s3s::S3Result<String> {
    let v = value.as_str();
    if VALUES.contains(&v) {
        Ok(v.to_owned())
    } else {
        Err(S3Error::with_message(
            code,
            format!(
                "ObjectOwnership {v:?} is not valid: use {}",
                VALUES.join(", ")
            ),
        ))
    }
}

fn controls(value: &str) -> OwnershipControls {
    OwnershipControls {
        rules: vec![OwnershipControlsRule {
            object_ownership: ObjectOwnership::from(value.to_owned()),
        }],
    }
}

impl ImgdS3 {
    /// CreateBucket with its `x-amz-object-ownership` header: checked before the bucket
    /// is created, stored after, so a bad value creates nothing.
    pub(crate) async fn create_bucket_with_ownership(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Res<CreateBucketOutput> {
        let ownership = match &req.input.object_ownership {
            Some(o) => Some(check(o, S3ErrorCode::InvalidArgument)?),
            None => None,
        };
        let bucket = req.input.bucket.clone();
        let out = self.do_create_bucket(req).await?;
        if let Some(value) = ownership {
            self.store
                .update_bucket_settings(&bucket, |s| {
                    s.object_ownership = Some(value);
                    Ok(())
                })
                .await
                .map_err(s3_err)?;
        }
        Ok(out)
    }

    pub(crate) async fn do_put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Res<PutBucketOwnershipControlsOutput> {
        let [rule] = req.input.ownership_controls.rules.as_slice() else {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "OwnershipControls must contain exactly one Rule",
            ));
        };
        let value = check(&rule.object_ownership, S3ErrorCode::MalformedXML)?;
        self.store
            .update_bucket_settings(&req.input.bucket, |s| {
                s.object_ownership = Some(value);
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        ok(PutBucketOwnershipControlsOutput {})
    }

    pub(crate) async fn do_get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Res<GetBucketOwnershipControlsOutput> {
        let s = self
            .store
            .bucket_settings(&req.input.bucket)
            .await
            .map_err(s3_err)?;
        // S3's default for buckets created since 2023, and what imgd's single account
        // does in any case.
        let value = s
            .object_ownership
            .as_deref()
            .unwrap_or(ObjectOwnership::BUCKET_OWNER_ENFORCED);
        ok(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(controls(value)),
        })
    }

    pub(crate) async fn do_delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Res<DeleteBucketOwnershipControlsOutput> {
        self.store
            .update_bucket_settings(&req.input.bucket, |s| {
                s.object_ownership = None;
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        ok(DeleteBucketOwnershipControlsOutput {})
    }

    pub(crate) async fn do_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Res<GetBucketVersioningOutput> {
        self.store.bucket(&req.input.bucket).await.map_err(s3_err)?;
        // No Status element: S3's answer for a bucket whose versioning was never enabled.
        ok(GetBucketVersioningOutput::default())
    }

    pub(crate) async fn do_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Res<PutBucketVersioningOutput> {
        self.store.bucket(&req.input.bucket).await.map_err(s3_err)?;
        Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "imgd does not keep object versions: bucket versioning cannot be enabled or suspended (objects are version null)",
        ))
    }
}
