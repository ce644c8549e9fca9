//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation.

use super::{ImgdS3, S3Res, ok, s3_err, timestamp_ms};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use store::{BucketAcl, StoreError};

/// Maps a canned ACL header to the ACLs imgd implements.
pub(crate) fn canned_bucket_acl(acl: Option<&str>) -> s3s::S3Result<BucketAcl> {
    match acl {
        None | Some("private") => Ok(BucketAcl::Private),
        Some("public-read") => Ok(BucketAcl::PublicRead),
        Some(other) => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("Canned ACL {other} is not supported; imgd supports private and public-read"),
        )),
    }
}

impl ImgdS3 {
    pub(crate) async fn do_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Res<ListBucketsOutput> {
        let visible = self.visible_buckets(&req).await?;
        let buckets = self
            .store
            .list_buckets()
            .await
            .map_err(s3_err)?
            .into_iter()
            .filter(|b| {
                visible
                    .as_ref()
                    .is_none_or(|v| v.iter().any(|n| n == &b.name))
            })
            .filter(|b| {
                req.input
                    .prefix
                    .as_ref()
                    .is_none_or(|p| b.name.starts_with(p.as_str()))
            })
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp_ms(b.created_ms)),
                bucket_region: Some(self.region.clone()),
            })
            .collect();
        ok(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(super::owner()),
            prefix: req.input.prefix,
            continuation_token: None,
        })
    }

    /// `None` for the root key (sees everything), else the buckets a key is granted.
    async fn visible_buckets<T>(&self, req: &S3Request<T>) -> s3s::S3Result<Option<Vec<String>>> {
        let Some(cred) = &req.credentials else {
            return Ok(Some(Vec::new()));
        };
        if cred.access_key == self.root_access_key {
            return Ok(None);
        }
        let key = self
            .store
            .active_access_key(&cred.access_key)
            .await
            .map_err(s3_err)?;
        Ok(Some(
            key.map(|k| k.grants.into_iter().map(|(b, _)| b).collect())
                .unwrap_or_default(),
        ))
    }

    pub(crate) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Res<CreateBucketOutput> {
        let acl = canned_bucket_acl(req.input.acl.as_ref().map(|a| a.as_str()))?;
        if let Some(region) = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_owned())
            && !region.is_empty()
            && region != self.region
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidLocationConstraint,
                format!(
                    "The specified location-constraint is not valid; this endpoint's region is {}",
                    self.region
                ),
            ));
        }
        match self.store.create_bucket(&req.input.bucket, acl).await {
            Ok(()) => {
                tracing::info!(bucket = %req.input.bucket, acl = acl.as_str(), "bucket created");
            }
            // S3's legacy us-east-1 behaviour: re-creating a bucket the caller owns
            // succeeds (only the root key gets here; extra keys are refused in the access
            // check). Elsewhere it is BucketAlreadyOwnedByYou. The stored ACL is kept:
            // clients that create their bucket at every start must not flip a public
            // bucket back to private.
            Err(StoreError::BucketExists) if self.region == "us-east-1" => {}
            Err(e) => return Err(s3_err(e)),
        }
        ok(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        })
    }

    pub(crate) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Res<HeadBucketOutput> {
        self.store.bucket(&req.input.bucket).await.map_err(s3_err)?;
        ok(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        })
    }

    pub(crate) async fn do_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Res<DeleteBucketOutput> {
        self.store
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(s3_err)?;
        tracing::info!(bucket = %req.input.bucket, "bucket deleted");
        ok(DeleteBucketOutput {})
    }

    pub(crate) async fn do_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Res<GetBucketLocationOutput> {
        self.store.bucket(&req.input.bucket).await.map_err(s3_err)?;
        // S3 reports us-east-1 as an empty constraint.
        let constraint = (self.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.clone()));
        ok(GetBucketLocationOutput {
            location_constraint: constraint,
        })
    }
}
