//! ProcessObject: `POST /{bucket}/{key}?x-oss-process` with the body
//! `x-oss-process=<ops>|sys/saveas,o_<b64 key>,b_<b64 bucket>`. Renders the object and
//! stores the result, answering OSS's JSON.
//!
//! The rule of a saveas request (the body's form, the process string with its
//! `|sys/saveas`, who may read the source and write the target, the target bucket
//! existing) is [`OssDoor::plan_save`], and running it is [`OssDoor::run_save`]: this
//! operation does both at once, AsyncProcessObject (`async_process.rs`) plans when the
//! task is submitted and plans again, as the submitter, when it runs.

use super::{OssDoor, OssError, access_denied, from_image_error, from_store_error};
use crate::auth::Caller;
use crate::images::ImageError;
use crate::kernel::{self, BoxBody};
use http::{Response, StatusCode};
use imaging::Pipeline;
use store::{ObjectInfo, Permission};

/// The process string of a `<field>=<process>` body (`x-oss-process`,
/// `x-oss-async-process`). oss2 sends it unencoded; form-encoding clients
/// percent-encode it, which a process string never needs otherwise.
pub(super) fn process_from_body(body: &[u8], field: &str) -> Result<String, OssError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "The request body is not UTF-8.",
        )
    })?;
    let value = text
        .trim()
        .strip_prefix(field)
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or_else(|| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                format!("The request body must be {field}=<process>|sys/saveas,o_<key>."),
            )
        })?;
    Ok(if value.contains('%') {
        percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .into_owned()
    } else {
        value.to_owned()
    })
}

/// A saveas request that passed every check: what to render and where to store it.
#[derive(Debug, Clone)]
pub(super) struct SavePlan {
    pub pipeline: Pipeline,
    pub target_bucket: String,
    pub target_key: String,
}

impl OssDoor {
    /// Checks `ops` (with its `|sys/saveas`) for `caller` on `bucket`: it parses, names
    /// a target, the caller may read `bucket` and write the target, and the target
    /// bucket exists. `operation` names the request in the refusal of a missing saveas.
    pub(super) async fn plan_save(
        &self,
        caller: &Caller,
        bucket: &str,
        ops: &str,
        operation: &str,
    ) -> Result<SavePlan, OssError> {
        let (pipeline, save_as) = self
            .images
            .resolve_with_save(bucket, ops)
            .await
            .map_err(from_image_error)?;
        let save_as = save_as.ok_or_else(|| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                format!(
                    "{operation} needs |sys/saveas,o_<base64 key> to say where to store the result."
                ),
            )
        })?;
        let target_bucket = save_as.bucket.unwrap_or_else(|| bucket.to_owned());
        if !caller.may(bucket, Permission::Read)
            || !caller.may(&target_bucket, Permission::ReadWrite)
        {
            return Err(access_denied());
        }
        // The target must exist before any work is done.
        self.images
            .store()
            .bucket(&target_bucket)
            .await
            .map_err(from_store_error)?;
        Ok(SavePlan {
            pipeline,
            target_bucket,
            target_key: save_as.key,
        })
    }

    /// Renders `bucket/key` through the plan (under the image service's admission
    /// control, like any render) and stores the result.
    pub(super) async fn run_save(
        &self,
        bucket: &str,
        key: &str,
        plan: &SavePlan,
    ) -> Result<ObjectInfo, ImageError> {
        self.images
            .save_as(
                bucket,
                key,
                &plan.pipeline,
                &plan.target_bucket,
                &plan.target_key,
            )
            .await
    }

    pub(super) async fn process_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        body: &[u8],
    ) -> Result<Response<BoxBody>, OssError> {
        let ops = process_from_body(body, "x-oss-process")?;
        let plan = self
            .plan_save(caller, bucket, &ops, "ProcessObject")
            .await?;
        let stored = self
            .run_save(bucket, key, &plan)
            .await
            .map_err(from_image_error)?;
        let body = serde_json::json!({
            "bucket": plan.target_bucket,
            "fileSize": stored.size,
            "object": stored.key,
            "status": "OK",
        });
        Ok(kernel::full(
            StatusCode::OK,
            "application/json",
            body.to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_their_field() {
        let p = |body: &str, field| process_from_body(body.as_bytes(), field).map_err(|e| e.code);
        assert_eq!(
            p("x-oss-process=image/resize,w_1", "x-oss-process"),
            Ok("image/resize,w_1".into())
        );
        assert_eq!(
            p(
                "x-oss-async-process=image/resize%2Cw_1%7Csys/saveas",
                "x-oss-async-process"
            ),
            Ok("image/resize,w_1|sys/saveas".into())
        );
        // One operation's field is not the other's.
        assert_eq!(
            p("x-oss-process=image/resize,w_1", "x-oss-async-process"),
            Err("InvalidArgument")
        );
        assert_eq!(
            p("x-oss-processX=image/resize,w_1", "x-oss-process"),
            Err("InvalidArgument")
        );
    }
}
