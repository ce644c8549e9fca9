//! PutSymlink (`PUT ?symlink` with `x-oss-symlink-target`) and GetSymlink
//! (`GET ?symlink`).
//!
//! A symlink is a row of its own (an empty blob, its own `x-oss-meta-*` and tags)
//! whose reads answer with its target's bytes and headers: [`store::Store::object`]
//! follows it, on every door, one level deep. The target need not exist when the link
//! is made; reading a link to nothing is `SymlinkTargetNotExist`. Deleting a symlink
//! deletes the link, never the target.

use super::get::{oss_etag, put_header as put_map_header, put_user_metadata};
use super::put::{empty_ok, forbid_overwrite, put_header, stored_headers};
use super::tagging::tags_from_header;
use super::{OssDoor, OssError, OssRequest, from_store_error, invalid_argument};
use crate::kernel::BoxBody;
use crate::kernel::date::format_http_date as http_date;
use bytes::Bytes;
use http::Response;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use store::{ObjectKind, Permission, PutOptions, StoreError};

/// The target key, percent-decoded from `x-oss-symlink-target`.
fn target_of(req: &OssRequest) -> Result<String, OssError> {
    let raw = req
        .header("x-oss-symlink-target")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid_argument("PutSymlink needs an x-oss-symlink-target header."))?;
    let target = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid_argument("x-oss-symlink-target is not valid UTF-8."))?
        .into_owned();
    store::check_key(&target).map_err(from_store_error)?;
    if target == req.key {
        return Err(invalid_argument("A symlink cannot point at itself."));
    }
    Ok(target)
}

impl OssDoor {
    pub(super) async fn put_symlink(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        let target = target_of(req)?;
        let opts = PutOptions {
            headers: stored_headers(&req.headers),
            tags: tags_from_header(&req.headers)?.unwrap_or_default(),
            if_none_match_any: forbid_overwrite(&req.headers),
            kind: ObjectKind::Symlink { target },
            ..Default::default()
        };
        let info = self
            .images
            .store()
            .put_bytes(&req.bucket, &req.key, opts, Bytes::new())
            .await
            .map_err(from_store_error)?;
        let mut resp = empty_ok();
        put_header(&mut resp, "etag", &oss_etag(&info.etag));
        Ok(resp)
    }

    pub(super) async fn get_symlink(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let row = self
            .images
            .store()
            .object_row(&req.bucket, &req.key)
            .await
            .map_err(from_store_error)?;
        let Some(target) = row.kind.symlink_target() else {
            return Err(from_store_error(StoreError::NotSymlink));
        };
        let mut resp = empty_ok();
        let headers = resp.headers_mut();
        put_map_header(
            headers,
            "x-oss-symlink-target",
            &utf8_percent_encode(target, NON_ALPHANUMERIC).to_string(),
        );
        put_map_header(headers, "etag", &oss_etag(&row.etag));
        put_map_header(
            headers,
            "last-modified",
            &http_date(row.modified_ms.div_euclid(1000)),
        );
        put_user_metadata(headers, &row.headers.user);
        Ok(resp)
    }
}
