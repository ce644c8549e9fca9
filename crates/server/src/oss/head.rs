//! HeadObject (the headers a GET would send, rendering the variant for
//! `x-oss-process`) and GetObjectMeta (`HEAD ?objectMeta`: ETag, size, modification
//! time).

use super::get::{not_modified, object_headers, oss_etag, put_header, respond};
use super::{OssDoor, OssError, OssRequest, from_store_error};
use crate::kernel::conditional::{self, Verdict};
use crate::kernel::date::format_http_date as http_date;
use crate::kernel::{BoxBody, empty_body};
use http::{HeaderMap, Response, StatusCode};
use store::Permission;

impl OssDoor {
    pub(super) async fn head_object(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        if let Some((key, pipeline)) = self.rendered_target(req).await? {
            return self.processed(req, &key, &pipeline, true).await;
        }
        let info = self
            .images
            .store()
            .object(&req.bucket, &req.key)
            .await
            .map_err(from_store_error)?;
        let mut headers = object_headers(req, &info);
        match conditional::evaluate(&req.headers, &info.etag, info.modified_ms) {
            Verdict::Proceed => {}
            Verdict::PreconditionFailed => return Err(super::errors::precondition_failed()),
            Verdict::NotModified => return Ok(not_modified(headers)),
        }
        put_header(&mut headers, "content-length", &info.size.to_string());
        Ok(respond(StatusCode::OK, headers, empty_body()))
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
        Ok(respond(StatusCode::OK, headers, empty_body()))
    }
}
