//! ProcessObject: `POST /{bucket}/{key}?x-oss-process` with the body
//! `x-oss-process=<ops>|sys/saveas,o_<b64 key>,b_<b64 bucket>`. Renders the object and
//! stores the result, answering OSS's JSON.

use super::{OssDoor, OssError, access_denied, from_image_error, from_store_error};
use crate::auth::Caller;
use crate::kernel::{self, BoxBody};
use http::{Response, StatusCode};
use store::Permission;

/// The process string of a ProcessObject body. oss2 sends it unencoded; form-encoding
/// clients percent-encode it, which a process string never needs otherwise.
fn process_from_body(body: &[u8]) -> Result<String, OssError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "The request body is not UTF-8.",
        )
    })?;
    let value = text.trim().strip_prefix("x-oss-process=").ok_or_else(|| {
        OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "The request body must be x-oss-process=<process>|sys/saveas,o_<key>.",
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

impl OssDoor {
    pub(super) async fn process_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        body: &[u8],
    ) -> Result<Response<BoxBody>, OssError> {
        let ops = process_from_body(body)?;
        let (pipeline, save_as) = self
            .images
            .resolve_with_save(bucket, &ops)
            .await
            .map_err(from_image_error)?;
        let save_as = save_as.ok_or_else(|| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "ProcessObject needs |sys/saveas,o_<base64 key> to say where to store the result.",
            )
        })?;
        let target_bucket = save_as.bucket.as_deref().unwrap_or(bucket);
        if !caller.may(bucket, Permission::Read)
            || !caller.may(target_bucket, Permission::ReadWrite)
        {
            return Err(access_denied());
        }
        // The target must exist before any work is done.
        self.images
            .store()
            .bucket(target_bucket)
            .await
            .map_err(from_store_error)?;
        let stored = self
            .images
            .save_as(bucket, key, &pipeline, target_bucket, &save_as.key)
            .await
            .map_err(from_image_error)?;
        let body = serde_json::json!({
            "bucket": target_bucket,
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
