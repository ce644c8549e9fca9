//! DeleteObject and DeleteObjects.

use super::{ImgdS3, S3Res, ok, s3_err};
use s3s::S3Request;
use s3s::dto::*;
use store::StoreError;

/// imgd is unversioned: the only version id a client may name is `null`.
fn check_version(v: Option<&String>) -> Result<(), StoreError> {
    match v.map(String::as_str) {
        None | Some("null") => Ok(()),
        Some(other) => Err(StoreError::InvalidArgument(format!(
            "Invalid version id specified: {other}"
        ))),
    }
}

impl ImgdS3 {
    pub(crate) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Res<DeleteObjectOutput> {
        let input = &req.input;
        check_version(input.version_id.as_ref()).map_err(s3_err)?;
        if let Some(cond) = &input.if_match {
            let info = self
                .store
                .object(&input.bucket, &input.key)
                .await
                .map_err(s3_err)?;
            let matches = match cond {
                ETagCondition::Any => true,
                ETagCondition::ETag(e) => store::etag_matches(e.value(), &info.etag),
            };
            if !matches {
                return Err(super::get::precondition_failed());
            }
        }
        self.store
            .delete_object(&input.bucket, &input.key)
            .await
            .map_err(s3_err)?;
        ok(DeleteObjectOutput::default())
    }

    pub(crate) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Res<DeleteObjectsOutput> {
        let input = req.input;
        self.store.bucket(&input.bucket).await.map_err(s3_err)?;
        if input.delete.objects.len() > 1000 {
            return Err(s3s::S3Error::with_message(
                s3s::S3ErrorCode::MalformedXML,
                "DeleteObjects accepts at most 1000 keys",
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in input.delete.objects {
            let result = match check_version(obj.version_id.as_ref()) {
                Ok(()) => self.store.delete_object(&input.bucket, &obj.key).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(obj.key),
                            version_id: obj.version_id,
                            ..Default::default()
                        });
                    }
                }
                Err(e) => {
                    let s3e = s3_err(e);
                    errors.push(Error {
                        code: Some(s3e.code().as_str().to_owned()),
                        key: Some(obj.key),
                        message: s3e.message().map(str::to_owned),
                        version_id: obj.version_id,
                    });
                }
            }
        }
        ok(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            request_charged: None,
        })
    }
}
