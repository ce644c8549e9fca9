//! HeadObject (the headers a GET would send, rendering the variant for
//! `x-oss-process`) and GetObjectMeta (`HEAD ?objectMeta`: ETag, size, modification
//! time).

use super::get::{
    Refusal, check_conditions, not_modified, object_headers, oss_etag, put_header, respond,
};
use super::{OssDoor, OssError, OssRequest, from_store_error};
use crate::auth::oss::http_date;
use crate::routes::{self, BoxBody};
use http::{HeaderMap, Response, StatusCode};
use store::Permission;

impl OssDoor {
    pub(super) async fn head_object(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        if let Some(ops) = req.param("x-oss-process") {
            return self.processed(req, ops, true).await;
        }
        let info = self
            .images
            .store()
            .object(&req.bucket, &req.key)
            .await
            .map_err(from_store_error)?;
        let mut headers = object_headers(req, &info);
        match check_conditions(&req.headers, &info.etag, info.modified_ms) {
            Ok(()) => {}
            Err(Refusal::Failed) => return Err(super::errors::precondition_failed()),
            Err(Refusal::NotModified) => return Ok(not_modified(headers)),
        }
        put_header(&mut headers, "content-length", &info.size.to_string());
        Ok(respond(StatusCode::OK, headers, routes::empty_body()))
    }

    /// `HEAD ?objectMeta`: ETag, size and modification time only.
    pub(super) async fn get_object_meta(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let info = self
            .images
            .store()
            .object(&req.bucket, &req.key)
            .await
            .map_err(from_store_error)?;
        let mut headers = HeaderMap::new();
        put_header(&mut headers, "etag", &oss_etag(&info.etag));
        put_header(&mut headers, "content-length", &info.size.to_string());
        put_header(
            &mut headers,
            "last-modified",
            &http_date(info.modified_ms.div_euclid(1000)),
        );
        req.set_cache_headers(&mut headers, None);
        Ok(respond(StatusCode::OK, headers, routes::empty_body()))
    }
}
