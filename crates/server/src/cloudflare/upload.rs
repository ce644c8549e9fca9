//! Direct creator uploads: the API makes a draft and a one-time URL
//! (`POST v2/direct_upload`); a browser on any origin then sends one multipart `POST`
//! with the file to that URL, no credentials needed.
//!
//! The URL's secret is a random token of which only the SHA-256 is stored. Its one use
//! is claimed in one transaction (`Store::cf_claim_upload`) after the body has arrived,
//! so two uses racing each other cannot both store; an upload that fails (not an image,
//! too large) gives the draft back, since nothing was stored through it.

use super::envelope::{self, CfError, codes};
use super::{CloudflareDoor, ImageFields, image_fields, refuse_unknown_fields};
use crate::kernel::date::parse_rfc3339;
use crate::kernel::{BoxBody, empty_body};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::json;
use sha2::{Digest, Sha256};
use store::StoreError;
use store::cloudflare::{CfAccount, NewImage, UploadClaim};

const DEFAULT_EXPIRY_SECS: i64 = 30 * 60;
const MIN_EXPIRY_SECS: i64 = 2 * 60;
const MAX_EXPIRY_SECS: i64 = 6 * 60 * 60;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Answers a CORS preflight: any origin may `POST` (uploads carry no credentials; the
/// URL itself is the capability).
pub(super) fn preflight<B>(req: &Request<B>) -> Response<BoxBody> {
    let mut resp = Response::new(empty_body());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, GET, PATCH, PUT, DELETE, OPTIONS"),
    );
    let requested = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("content-type"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    resp
}

/// Lets the page that uploaded read the answer.
pub(super) fn allow_origin(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    if origin.is_some() {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
}

impl CloudflareDoor {
    pub(super) async fn create_direct_upload(
        &self,
        account: &CfAccount,
        req: Request<Incoming>,
    ) -> Result<Response<BoxBody>, CfError> {
        let form = self.read_form(req).await?;
        // `file` is tolerated because common clients send an empty one to force a
        // multipart body (the seed's Django code does).
        refuse_unknown_fields(
            &form,
            &[
                "id",
                "expiry",
                "metadata",
                "requireSignedURLs",
                "creator",
                "file",
            ],
        )?;
        if form.get("file").is_some_and(|f| !f.data.is_empty()) {
            return Err(CfError::bad_request(
                "A direct upload takes no file: send it to the uploadURL this call answers",
            ));
        }
        let text = |name: &str| form.text(name).map_err(|e| CfError::bad_request(e.0));
        let now = self.clock.now();
        let expires = match text("expiry")?.filter(|e| !e.trim().is_empty()) {
            None => now + DEFAULT_EXPIRY_SECS,
            Some(e) => {
                let at = parse_rfc3339(e).ok_or_else(|| {
                    CfError::bad_request(format!("expiry must be an RFC 3339 time, got {e:?}"))
                })?;
                if !(now + MIN_EXPIRY_SECS..=now + MAX_EXPIRY_SECS).contains(&at) {
                    return Err(CfError::bad_request(
                        "expiry must be between 2 minutes and 6 hours from now",
                    ));
                }
                at
            }
        };
        let ImageFields {
            image_id,
            meta,
            require_signed,
        } = image_fields(&form)?;
        let creator = text("creator")?
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        if creator.as_ref().is_some_and(|c| c.len() > 1024) {
            return Err(CfError::bad_request("creator is at most 1024 characters"));
        }
        match self.store().object(&account.bucket, &image_id).await {
            Ok(_) => return Err(conflict(&image_id)),
            Err(StoreError::NoSuchKey) => {}
            Err(e) => return Err(e.into()),
        }
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let record = NewImage {
            image_id: image_id.clone(),
            filename: String::new(),
            meta,
            require_signed,
            creator,
            now_ms: now * 1000,
        };
        match self
            .store()
            .cf_create_draft(
                &account.account_id,
                &record,
                &token_hash(&token),
                expires * 1000,
            )
            .await
        {
            Err(StoreError::AlreadyExists) => return Err(conflict(&image_id)),
            other => other?,
        }
        let upload_url = format!(
            "{}{}{}/{token}",
            self.cfg.delivery_url,
            super::endpoint::DELIVERY_PREFIX,
            super::endpoint::UPLOAD_SEGMENT
        );
        Ok(envelope::ok(
            json!({"id": image_id, "uploadURL": upload_url}),
        ))
    }

    /// The one use of an upload URL.
    pub(super) async fn direct_upload(
        &self,
        token: &str,
        req: Request<Incoming>,
    ) -> Result<Response<BoxBody>, CfError> {
        let form = self.read_form(req).await?;
        let file = form.get("file").ok_or_else(|| {
            CfError::bad_request("Send the image in a multipart field named file")
        })?;
        let now_ms = self.clock.now() * 1000;
        let claim = self
            .store()
            .cf_claim_upload(&token_hash(token), now_ms)
            .await?;
        let image = match claim {
            UploadClaim::Claimed(image) => image,
            UploadClaim::Unknown => {
                return Err(CfError::new(
                    StatusCode::NOT_FOUND,
                    codes::NOT_FOUND,
                    "This upload URL is not known",
                ));
            }
            UploadClaim::Used => {
                return Err(CfError::new(
                    StatusCode::CONFLICT,
                    codes::CONFLICT,
                    "This upload URL was used already; ask for a new one",
                ));
            }
            UploadClaim::Expired => {
                return Err(CfError::new(
                    StatusCode::GONE,
                    codes::GONE,
                    "This upload URL has expired; ask for a new one",
                ));
            }
        };
        let account = self
            .store()
            .cf_account(&image.account_id)
            .await?
            .ok_or_else(CfError::image_not_found)?;
        let checked = match self.check_image(file.data.clone()) {
            Ok(c) => c,
            Err(e) => {
                self.store()
                    .cf_abandon_upload(&account.account_id, &image.image_id)
                    .await?;
                return Err(e);
            }
        };
        let filename = file.filename.clone().unwrap_or_default();
        let stored = self
            .store_image(&account, &image.image_id, &filename, checked)
            .await?;
        let variants = self.store().cf_variants(&account.account_id).await?;
        Ok(envelope::ok(self.image_json(&account, &stored, &variants)))
    }
}

fn conflict(image_id: &str) -> CfError {
    CfError::new(
        StatusCode::CONFLICT,
        codes::CONFLICT,
        format!("An image with id {image_id:?} already exists"),
    )
}
