//! Canned ACLs: GetBucketAcl, PutBucketAcl, GetObjectAcl. A bucket is private or
//! public-read; objects follow their bucket.

use super::bucket::canned_bucket_acl;
use super::{ImgdS3, S3Res, ok, owner, s3_err};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use store::BucketAcl;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

fn grants(acl: BucketAcl) -> Grants {
    let o = owner();
    let mut grants = vec![Grant {
        grantee: Some(Grantee {
            display_name: o.display_name.clone(),
            email_address: None,
            id: o.id.clone(),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }];
    if acl == BucketAcl::PublicRead {
        grants.push(Grant {
            grantee: Some(Grantee {
                display_name: None,
                email_address: None,
                id: None,
                type_: Type::from_static(Type::GROUP),
                uri: Some(ALL_USERS.into()),
            }),
            permission: Some(Permission::from_static(Permission::READ)),
        });
    }
    grants
}

impl ImgdS3 {
    pub(crate) async fn do_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Res<GetBucketAclOutput> {
        let b = self.store.bucket(&req.input.bucket).await.map_err(s3_err)?;
        ok(GetBucketAclOutput {
            grants: Some(grants(b.acl)),
            owner: Some(owner()),
        })
    }

    pub(crate) async fn do_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Res<PutBucketAclOutput> {
        let input = req.input;
        let acl = if let Some(canned) = &input.acl {
            canned_bucket_acl(Some(canned.as_str()))?
        } else if let Some(policy) = &input.access_control_policy {
            let mut acl = BucketAcl::Private;
            for g in policy.grants.iter().flatten() {
                let to_all_users = g
                    .grantee
                    .as_ref()
                    .and_then(|g| g.uri.as_deref())
                    .is_some_and(|u| u == ALL_USERS);
                let perm = g.permission.as_ref().map(|p| p.as_str()).unwrap_or("");
                if to_all_users {
                    if perm == Permission::READ {
                        acl = BucketAcl::PublicRead;
                    } else {
                        return Err(S3Error::with_message(
                            S3ErrorCode::InvalidArgument,
                            format!("Granting {perm} to AllUsers is not supported; only READ is"),
                        ));
                    }
                }
            }
            acl
        } else if input
            .grant_read
            .as_deref()
            .is_some_and(|g| g.contains(ALL_USERS))
        {
            BucketAcl::PublicRead
        } else {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedACLError,
                "PutBucketAcl needs x-amz-acl, x-amz-grant-read or an AccessControlPolicy body",
            ));
        };
        self.store
            .set_bucket_acl(&input.bucket, acl)
            .await
            .map_err(s3_err)?;
        tracing::info!(bucket = %input.bucket, acl = acl.as_str(), "bucket acl set");
        ok(PutBucketAclOutput {})
    }

    pub(crate) async fn do_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Res<GetObjectAclOutput> {
        let b = self.store.bucket(&req.input.bucket).await.map_err(s3_err)?;
        self.store
            .object(&req.input.bucket, &req.input.key)
            .await
            .map_err(s3_err)?;
        ok(GetObjectAclOutput {
            grants: Some(grants(b.acl)),
            owner: Some(owner()),
            request_charged: None,
        })
    }
}
