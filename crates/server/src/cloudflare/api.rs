//! The image operations of the Images API: upload (file or URL), list (v1 pages, v2
//! continuation tokens), get, patch, delete and blob.

use super::envelope::{self, CfError, codes};
use super::{
    CloudflareDoor, ImageFields, MAX_PIXELS, MAX_SIDE, image_fields, metadata_document,
    refuse_unknown_fields,
};
use crate::kernel::multipart::Form;
use crate::kernel::{BoxBody, Query, body::read_limited, stream_body};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};
use store::cloudflare::{CfAccount, CfImage, ImageCursor, ImageState, NewImage};
use store::{ObjectHeaders, PutOptions, StoreError};

/// Room for the form's own bytes around an upload's file.
const FORM_OVERHEAD: usize = 64 * 1024;
const V1_MAX_PER_PAGE: u64 = 100;
const V2_MAX_PER_PAGE: u64 = 10_000;

/// An image's bytes, checked to be one the engine can read within Cloudflare's limits.
pub(super) struct CheckedImage {
    pub bytes: Bytes,
    pub content_type: &'static str,
}

impl CloudflareDoor {
    /// Reads a form body under the upload limit.
    pub(super) async fn read_form(&self, req: Request<Incoming>) -> Result<Form, CfError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let limit = self.cfg.max_upload_bytes + FORM_OVERHEAD;
        let body = read_limited(req.into_body(), limit).await.map_err(|_| {
            CfError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::TOO_LARGE,
                format!(
                    "The request is larger than the upload limit of {} bytes",
                    self.cfg.max_upload_bytes
                ),
            )
        })?;
        Form::parse(&content_type, body).map_err(|e| CfError::bad_request(e.0))
    }

    pub(super) fn check_image(&self, bytes: Bytes) -> Result<CheckedImage, CfError> {
        if bytes.is_empty() {
            return Err(CfError::bad_request("The uploaded file is empty"));
        }
        if bytes.len() > self.cfg.max_upload_bytes {
            return Err(CfError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::TOO_LARGE,
                format!(
                    "The image is {} bytes; the limit is {} bytes",
                    bytes.len(),
                    self.cfg.max_upload_bytes
                ),
            ));
        }
        let probe = imaging::engine::sniff::probe(&bytes).map_err(|e| {
            CfError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_IMAGE,
                format!("The file is not an image imgd can read: {e}"),
            )
        })?;
        let pixels = u64::from(probe.width) * u64::from(probe.height);
        if probe.width > MAX_SIDE || probe.height > MAX_SIDE || pixels > MAX_PIXELS {
            return Err(CfError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::TOO_LARGE,
                format!(
                    "The image is {}x{}; the limits are {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels",
                    probe.width, probe.height
                ),
            ));
        }
        Ok(CheckedImage {
            bytes,
            content_type: probe.format.content_type(),
        })
    }

    /// Stores a checked image as the object `image_id`, then marks the record ready.
    /// The record must be claimed (`uploading`) by the caller; on failure the claim is
    /// given back, so nothing half-stored is ever listed.
    pub(super) async fn store_image(
        &self,
        account: &CfAccount,
        image_id: &str,
        filename: &str,
        image: CheckedImage,
    ) -> Result<CfImage, CfError> {
        let result = self.put_object(account, image_id, image).await;
        let store = self.store();
        match result {
            Ok(()) => {
                let now_ms = self.clock.now() * 1000;
                match store
                    .cf_image_ready(&account.account_id, image_id, filename, now_ms)
                    .await
                {
                    Ok(image) => Ok(image),
                    Err(e) => {
                        let _ = store.delete_object(&account.bucket, image_id).await;
                        let _ = store.cf_abandon_upload(&account.account_id, image_id).await;
                        Err(e.into())
                    }
                }
            }
            Err(e) => {
                let _ = store.cf_abandon_upload(&account.account_id, image_id).await;
                Err(e)
            }
        }
    }

    async fn put_object(
        &self,
        account: &CfAccount,
        image_id: &str,
        image: CheckedImage,
    ) -> Result<(), CfError> {
        let opts = PutOptions {
            headers: ObjectHeaders {
                content_type: Some(image.content_type.to_owned()),
                ..Default::default()
            },
            // An object put at the id through S3 meanwhile is not overwritten.
            if_none_match_any: true,
            ..Default::default()
        };
        self.store()
            .put_bytes(&account.bucket, image_id, opts, image.bytes)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                StoreError::AlreadyExists | StoreError::PreconditionFailed => CfError::new(
                    StatusCode::CONFLICT,
                    codes::CONFLICT,
                    format!("An object with key {image_id:?} already exists"),
                ),
                other => other.into(),
            })
    }

    /// Fetches `url` through the SSRF-safe fetcher, at most the upload limit.
    pub(super) async fn fetch_image(&self, url: &str) -> Result<Bytes, CfError> {
        let request = fetch::FetchRequest {
            require_image: true,
            ..Default::default()
        };
        let refused = |why: String| CfError::bad_request(format!("Could not fetch {url}: {why}"));
        let resp = self
            .fetcher
            .get(url, request)
            .await
            .map_err(|e| refused(e.to_string()))?;
        if !resp.status.is_success() {
            return Err(refused(format!("it answered {}", resp.status.as_u16())));
        }
        let mut stream = resp.into_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| refused(e.to_string()))?;
            if buf.len() + chunk.len() > self.cfg.max_upload_bytes {
                return Err(CfError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    codes::TOO_LARGE,
                    format!(
                        "The image at {url} is larger than the upload limit of {} bytes",
                        self.cfg.max_upload_bytes
                    ),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    }

    pub(super) async fn upload_v1(
        &self,
        account: &CfAccount,
        req: Request<Incoming>,
    ) -> Result<Response<BoxBody>, CfError> {
        let form = self.read_form(req).await?;
        refuse_unknown_fields(
            &form,
            &["file", "url", "id", "metadata", "requireSignedURLs"],
        )?;
        let text = |name: &str| form.text(name).map_err(|e| CfError::bad_request(e.0));
        let (bytes, filename) = match (form.get("file"), text("url")?) {
            (Some(_), Some(_)) => {
                return Err(CfError::bad_request("Send either file or url, not both"));
            }
            (Some(file), None) => (file.data.clone(), file.filename.clone().unwrap_or_default()),
            (None, Some(url)) => {
                let filename = url
                    .split(['?', '#'])
                    .next()
                    .and_then(|p| p.rsplit('/').next())
                    .unwrap_or("")
                    .to_owned();
                (self.fetch_image(url).await?, filename)
            }
            (None, None) => {
                return Err(CfError::bad_request(
                    "Send the image as file, or its address as url",
                ));
            }
        };
        let ImageFields {
            image_id,
            meta,
            require_signed,
        } = image_fields(&form)?;
        let checked = self.check_image(bytes)?;
        let record = NewImage {
            image_id: image_id.clone(),
            filename: filename.clone(),
            meta,
            require_signed,
            creator: None,
            now_ms: self.clock.now() * 1000,
        };
        self.claim_id(account, &record).await?;
        let image = self
            .store_image(account, &image_id, &filename, checked)
            .await?;
        let variants = self.store().cf_variants(&account.account_id).await?;
        Ok(envelope::ok(self.image_json(account, &image, &variants)))
    }

    /// Claims an id for an upload; an id in use (by a record or an object of the
    /// bucket) is a conflict.
    pub(super) async fn claim_id(
        &self,
        account: &CfAccount,
        record: &NewImage,
    ) -> Result<(), CfError> {
        let conflict = || {
            CfError::new(
                StatusCode::CONFLICT,
                codes::CONFLICT,
                format!("An image with id {:?} already exists", record.image_id),
            )
        };
        match self.store().object(&account.bucket, &record.image_id).await {
            Ok(_) => return Err(conflict()),
            Err(StoreError::NoSuchKey) => {}
            Err(e) => return Err(e.into()),
        }
        match self
            .store()
            .cf_begin_image(&account.account_id, record)
            .await
        {
            Err(StoreError::AlreadyExists) => Err(conflict()),
            other => other.map_err(CfError::from),
        }
    }

    pub(super) async fn list_v1(
        &self,
        account: &CfAccount,
        query: &Query,
    ) -> Result<Response<BoxBody>, CfError> {
        let page = number(query, "page", 1, 1, u64::MAX)?;
        let per_page = number(query, "per_page", V1_MAX_PER_PAGE, 1, V1_MAX_PER_PAGE)?;
        let offset = (page - 1).saturating_mul(per_page);
        let store = self.store();
        let images = store
            .cf_list_images(&account.account_id, offset, per_page)
            .await?;
        let variants = store.cf_variants(&account.account_id).await?;
        let total = store.cf_count_images(&account.account_id).await?;
        let list: Vec<Value> = images
            .iter()
            .map(|i| self.image_json(account, i, &variants))
            .collect();
        let info =
            json!({"page": page, "per_page": per_page, "count": list.len(), "total_count": total});
        Ok(envelope::ok_paged(json!({"images": list}), info))
    }

    pub(super) async fn list_v2(
        &self,
        account: &CfAccount,
        query: &Query,
    ) -> Result<Response<BoxBody>, CfError> {
        let per_page = number(query, "per_page", 1000, 1, V2_MAX_PER_PAGE)?;
        let descending = match query.get("sort_order").unwrap_or("desc") {
            "desc" => true,
            "asc" => false,
            other => {
                return Err(CfError::bad_request(format!(
                    "sort_order must be asc or desc, got {other:?}"
                )));
            }
        };
        let cursor = match query.get("continuation_token").filter(|t| !t.is_empty()) {
            Some(token) => Some(ImageCursor::decode(token).ok_or_else(|| {
                CfError::bad_request("continuation_token is not one imgd issued")
            })?),
            None => None,
        };
        let creator = query.get("creator").filter(|c| !c.is_empty());
        let store = self.store();
        let mut images = store
            .cf_list_images_after(
                &account.account_id,
                cursor.as_ref(),
                per_page + 1,
                descending,
                creator,
            )
            .await?;
        let more = images.len() as u64 > per_page;
        images.truncate(per_page as usize);
        let next = more.then(|| images.last()).flatten().map(|last| {
            ImageCursor {
                uploaded_ms: last.uploaded_ms,
                image_id: last.image_id.clone(),
            }
            .encode()
        });
        let variants = store.cf_variants(&account.account_id).await?;
        let list: Vec<Value> = images
            .iter()
            .map(|i| self.image_json(account, i, &variants))
            .collect();
        Ok(envelope::ok(
            json!({"images": list, "continuation_token": next}),
        ))
    }

    async fn image(&self, account: &CfAccount, id: &str) -> Result<CfImage, CfError> {
        self.store()
            .cf_image(&account.account_id, id)
            .await?
            .ok_or_else(CfError::image_not_found)
    }

    pub(super) async fn get_image(
        &self,
        account: &CfAccount,
        id: &str,
    ) -> Result<Response<BoxBody>, CfError> {
        let image = self.image(account, id).await?;
        let variants = self.store().cf_variants(&account.account_id).await?;
        Ok(envelope::ok(self.image_json(account, &image, &variants)))
    }

    pub(super) async fn patch_image(
        &self,
        account: &CfAccount,
        id: &str,
        req: Request<Incoming>,
    ) -> Result<Response<BoxBody>, CfError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Patch {
            metadata: Option<Value>,
            #[serde(rename = "requireSignedURLs")]
            require_signed_urls: Option<bool>,
        }
        let patch: Patch = json_body(req).await?;
        let meta = match &patch.metadata {
            Some(v) => Some(metadata_document(&v.to_string())?),
            None => None,
        };
        self.image(account, id).await?;
        let image = self
            .store()
            .cf_update_image(
                &account.account_id,
                id,
                meta.as_deref(),
                patch.require_signed_urls,
            )
            .await?
            .ok_or_else(CfError::image_not_found)?;
        // Access changed: variants rendered under the old access must not be served.
        self.purge(account, id).await;
        let variants = self.store().cf_variants(&account.account_id).await?;
        Ok(envelope::ok(self.image_json(account, &image, &variants)))
    }

    pub(super) async fn purge(&self, account: &CfAccount, id: &str) {
        if let Some(cache) = self.images.cache() {
            cache.invalidate_object(&account.bucket, id).await;
        }
    }

    pub(super) async fn delete_image(
        &self,
        account: &CfAccount,
        id: &str,
    ) -> Result<Response<BoxBody>, CfError> {
        let deleted = self
            .store()
            .cf_delete_image(&account.account_id, &account.bucket, id)
            .await?;
        if !deleted {
            return Err(CfError::image_not_found());
        }
        self.purge(account, id).await;
        Ok(envelope::ok(json!({})))
    }

    pub(super) async fn blob(
        &self,
        account: &CfAccount,
        id: &str,
    ) -> Result<Response<BoxBody>, CfError> {
        let image = self.image(account, id).await?;
        if image.state != ImageState::Ready {
            return Err(CfError::image_not_found());
        }
        let (info, range, stream) = self
            .store()
            .open_object(&account.bucket, id, |info| Ok(0..info.size))
            .await?;
        let mut resp = Response::new(stream_body(stream, false));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(range.end - range.start),
        );
        let content_type = info
            .headers
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        if let Ok(v) = HeaderValue::from_str(content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        Ok(resp)
    }
}

/// A JSON request body (at most 64 KiB), unknown fields refused by the target type.
pub(super) async fn json_body<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, CfError> {
    let body = read_limited(req.into_body(), 64 * 1024)
        .await
        .map_err(|_| {
            CfError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::TOO_LARGE,
                "The JSON body is larger than 64 KiB",
            )
        })?;
    serde_json::from_slice(&body)
        .map_err(|e| CfError::bad_request(format!("The body is not the expected JSON: {e}")))
}

/// A numeric query parameter within `min..=max`.
fn number(query: &Query, name: &str, default: u64, min: u64, max: u64) -> Result<u64, CfError> {
    match query.get(name) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                CfError::bad_request(format!(
                    "{name} must be a number from {min} to {max}, got {v:?}"
                ))
            }),
    }
}
