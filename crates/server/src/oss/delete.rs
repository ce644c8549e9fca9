//! DeleteObject: 204 whether or not the key existed, as OSS answers.

use super::{OssDoor, OssError, OssRequest, from_store_error};
use crate::kernel::{self, BoxBody};
use http::Response;
use store::Permission;

impl OssDoor {
    pub(super) async fn delete_object(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        self.images
            .store()
            .delete_object(&req.bucket, &req.key)
            .await
            .map_err(from_store_error)?;
        Ok(kernel::no_content())
    }
}
