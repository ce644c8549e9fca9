//! The Cloudflare Images door: a site that uses Cloudflare Images points its API base URL
//! (`…/client/v4`) and its delivery host at imgd and works unchanged.
//!
//! The route decodes the request into an [`Endpoint`] first. Then:
//! - API calls ([`api`] for images, [`manage`] for variants, keys, config and stats)
//!   check the bearer token against the account in the path, then act on the store: an
//!   account's images are objects in its bucket (the image id is the key), described by
//!   `store::cloudflare` records.
//! - One-time upload URLs ([`upload`]) take one credential-less multipart `POST`
//!   from any origin (CORS preflights answered).
//! - Delivery ([`deliver`]) maps `/{account_hash}/{image_id}/{variant}` onto the
//!   image service with a named or flexible variant, after the `exp`/`sig` check of
//!   images that require signed URLs; caching never outlives the link.
//! - Transform URLs ([`transform`]) parse `/cdn-cgi/image/<options>/` with
//!   `imaging::cloudflare` into the one pipeline IR and render an object of a bucket.
//!
//! Every answer, refusals included, is Cloudflare's JSON envelope ([`envelope`]).

mod api;
mod deliver;
mod endpoint;
mod envelope;
mod manage;
mod transform;
mod upload;

pub use endpoint::{Endpoint, looks_like_account_hash};

use crate::images::ImageService;
use crate::kernel::multipart::Form;
use crate::kernel::{BoxBody, Clock, Query, empty_body};
use endpoint::ApiOp;
use envelope::{CfError, codes};
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::{Value, json};
use store::Store;
use store::cloudflare::{CfAccount, CfImage, CfVariant, ImageState};

/// What the door needs besides the store.
#[derive(Debug, Clone)]
pub struct CloudflareConfig {
    /// Base of the delivery URLs the API reports (`variants`, `uploadURL`), e.g.
    /// `https://images.example.com`. No trailing slash.
    pub delivery_url: String,
    /// Largest image an upload may send (Cloudflare's limit is 10 MB).
    pub max_upload_bytes: usize,
    /// Bucket where images that `/cdn-cgi/image/` fetches from absolute URLs are kept;
    /// `None` refuses absolute-URL sources.
    pub remote_bucket: Option<String>,
}

impl Default for CloudflareConfig {
    fn default() -> Self {
        CloudflareConfig {
            delivery_url: "http://127.0.0.1:8080".into(),
            max_upload_bytes: 10 * 1024 * 1024,
            remote_bucket: None,
        }
    }
}

/// Cloudflare's limits on uploaded images.
const MAX_SIDE: u32 = 12_000;
const MAX_PIXELS: u64 = 100_000_000;
/// Metadata documents are at most this many bytes.
const MAX_METADATA_BYTES: usize = 1024;
/// Custom ids are at most this many characters.
const MAX_ID_LEN: usize = 1024;

#[derive(Clone)]
pub struct CloudflareDoor {
    images: ImageService,
    cfg: CloudflareConfig,
    fetcher: fetch::Fetcher,
    clock: Clock,
    domain: Option<String>,
}

impl CloudflareDoor {
    pub fn new(
        images: ImageService,
        cfg: CloudflareConfig,
        fetcher: fetch::Fetcher,
        clock: Clock,
    ) -> Self {
        CloudflareDoor {
            images,
            cfg,
            fetcher,
            clock,
            domain: None,
        }
    }

    /// Reads `bucket.<domain>` hosts' transform URLs as keys of that bucket.
    pub fn with_domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain.filter(|d| !d.is_empty());
        self
    }

    fn store(&self) -> &Store {
        self.images.store()
    }

    pub async fn handle(
        &self,
        endpoint: Endpoint,
        req: Request<Incoming>,
        query: Query,
    ) -> Response<BoxBody> {
        let head = req.method() == Method::HEAD;
        let result = match endpoint {
            Endpoint::Api { account_id, op } => self.api(&account_id, op, req, &query).await,
            Endpoint::UnknownApi => Err(CfError::new(
                StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                "No route for that URI: imgd serves the Images API under /client/v4/accounts/{account_id}/images/",
            )),
            Endpoint::Upload { token, preflight } => {
                if preflight {
                    Ok(upload::preflight(&req))
                } else {
                    let origin = req.headers().get(header::ORIGIN).cloned();
                    let mut resp = match self.direct_upload(&token, req).await {
                        Ok(r) => r,
                        Err(e) => envelope::error(&e),
                    };
                    upload::allow_origin(resp.headers_mut(), origin);
                    return resp;
                }
            }
            Endpoint::Deliver { account_hash, rest } => {
                self.deliver(&account_hash, &rest, &req, &query).await
            }
            Endpoint::Transform { options, source } => {
                self.transform(&options, &source, &req).await
            }
            Endpoint::MethodNotAllowed => Err(CfError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "This URL does not take that method",
            )),
        };
        let mut resp = result.unwrap_or_else(|e| {
            if e.status == StatusCode::FORBIDDEN {
                metrics::counter!("imgd_cloudflare_refused_total").increment(1);
            }
            envelope::error(&e)
        });
        if head {
            *resp.body_mut() = empty_body();
        }
        resp
    }

    async fn api(
        &self,
        account_id: &str,
        op: ApiOp,
        req: Request<Incoming>,
        query: &Query,
    ) -> Result<Response<BoxBody>, CfError> {
        if op == ApiOp::Preflight {
            return Ok(upload::preflight(&req));
        }
        let account = self.authorize(&req, account_id).await?;
        use ApiOp as O;
        match op {
            O::UploadV1 => self.upload_v1(&account, req).await,
            O::ListV1 => self.list_v1(&account, query).await,
            O::ListV2 => self.list_v2(&account, query).await,
            O::DirectUpload => self.create_direct_upload(&account, req).await,
            O::GetImage(id) => self.get_image(&account, &id).await,
            O::PatchImage(id) => self.patch_image(&account, &id, req).await,
            O::DeleteImage(id) => self.delete_image(&account, &id).await,
            O::Blob(id) => self.blob(&account, &id).await,
            O::CreateVariant => self.create_variant(&account, req).await,
            O::ListVariants => self.list_variants(&account).await,
            O::GetVariant(name) => self.get_variant(&account, &name).await,
            O::PatchVariant(name) => self.patch_variant(&account, &name, req).await,
            O::DeleteVariant(name) => self.delete_variant(&account, &name).await,
            O::GetConfig => Ok(manage::config_answer(&account)),
            O::PatchConfig => self.patch_config(&account, req).await,
            O::ListKeys => self.list_keys(&account).await,
            O::PutKey(name) => self.put_key(&account, &name).await,
            O::DeleteKey(name) => self.delete_key(&account, &name).await,
            O::Stats => self.stats(&account).await,
            O::Preflight => Ok(upload::preflight(&req)),
            O::Unknown => Err(CfError::new(
                StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                "No such Images API operation",
            )),
        }
    }

    /// The bearer token must be live and belong to the account named in the path.
    async fn authorize<B>(&self, req: &Request<B>, account_id: &str) -> Result<CfAccount, CfError> {
        let auth_error =
            |status, message: &str| CfError::new(status, codes::AUTHENTICATION, message.to_owned());
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                auth_error(
                    StatusCode::UNAUTHORIZED,
                    "Authentication error: send Authorization: Bearer <API token>",
                )
            })?;
        let owner = self.store().cf_token_account(token).await?;
        if owner.as_deref() != Some(account_id) {
            return Err(auth_error(
                StatusCode::FORBIDDEN,
                "Authentication error: the API token is unknown, revoked, or not for this account",
            ));
        }
        self.store().cf_account(account_id).await?.ok_or_else(|| {
            auth_error(
                StatusCode::FORBIDDEN,
                "Authentication error: no such account",
            )
        })
    }

    /// The delivery URL of one variant of an image.
    fn variant_url(&self, account: &CfAccount, image_id: &str, variant: &str) -> String {
        let id: String = image_id
            .split('/')
            .map(|s| percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/");
        format!(
            "{}/{}/{}/{}",
            self.cfg.delivery_url, account.account_hash, id, variant
        )
    }

    /// An image as the API describes it.
    fn image_json(&self, account: &CfAccount, image: &CfImage, variants: &[CfVariant]) -> Value {
        let meta: Value = serde_json::from_str(&image.meta).unwrap_or_else(|_| json!({}));
        let mut v = json!({
            "id": image.image_id,
            "filename": image.filename,
            "meta": meta,
            "uploaded": rfc3339_ms(image.uploaded_ms),
            "requireSignedURLs": image.require_signed,
            "variants": variants
                .iter()
                .map(|variant| self.variant_url(account, &image.image_id, &variant.name))
                .collect::<Vec<_>>(),
        });
        if image.state != ImageState::Ready {
            v["draft"] = json!(true);
        }
        if let Some(creator) = &image.creator {
            v["creator"] = json!(creator);
        }
        v
    }
}

/// Characters escaped in one path segment of a delivery URL.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `2026-12-02T10:00:00.123Z`, the form Cloudflare's answers use.
fn rfc3339_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

/// The fields an image upload and a direct upload share.
struct ImageFields {
    image_id: String,
    meta: String,
    require_signed: bool,
}

/// `id` (or a fresh UUID), `metadata` (or `{}`) and `requireSignedURLs` of a form.
fn image_fields(form: &Form) -> Result<ImageFields, CfError> {
    let text = |name: &str| form.text(name).map_err(|e| CfError::bad_request(e.0));
    let meta = match text("metadata")? {
        Some(m) if !m.trim().is_empty() => metadata_document(m)?,
        _ => "{}".to_owned(),
    };
    let require_signed = match text("requireSignedURLs")? {
        Some(v) => form_bool("requireSignedURLs", v)?,
        None => false,
    };
    let image_id = match text("id")? {
        Some(id) => custom_id(id)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    Ok(ImageFields {
        image_id,
        meta,
        require_signed,
    })
}

/// A form field the operation does not take is an error naming it and the known ones.
fn refuse_unknown_fields(form: &Form, known: &[&str]) -> Result<(), CfError> {
    match form
        .fields
        .iter()
        .find(|f| !known.contains(&f.name.as_str()))
    {
        Some(unknown) => Err(CfError::bad_request(format!(
            "Unknown field {:?}; the fields are {}",
            unknown.name,
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A percent-encoded piece of the request path, decoded.
fn decode_path(s: &str) -> Result<String, CfError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| CfError::bad_request("The path is not UTF-8"))
}

/// Checks a metadata document: a JSON object of at most 1024 bytes.
fn metadata_document(text: &str) -> Result<String, CfError> {
    if text.len() > MAX_METADATA_BYTES {
        return Err(CfError::bad_request(format!(
            "Metadata is {} bytes; the limit is {MAX_METADATA_BYTES} bytes",
            text.len()
        )));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CfError::bad_request(format!("Metadata is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(CfError::bad_request("Metadata must be a JSON object"));
    }
    Ok(value.to_string())
}

/// Checks a custom image id.
fn custom_id(id: &str) -> Result<String, CfError> {
    if id.is_empty() || id.chars().count() > MAX_ID_LEN {
        return Err(CfError::bad_request(format!(
            "A custom id has 1 to {MAX_ID_LEN} characters"
        )));
    }
    if id.starts_with('/') || id.ends_with('/') || id.contains("//") {
        return Err(CfError::bad_request(
            "A custom id must not start or end with '/' nor contain an empty path segment",
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(CfError::bad_request(
            "A custom id must not contain control characters",
        ));
    }
    let reserved = ["variants", "keys", "stats", "config"];
    if reserved.contains(&id) || id.ends_with("/blob") {
        return Err(CfError::bad_request(format!(
            "{id:?} is reserved by the Images API's own paths"
        )));
    }
    Ok(id.to_owned())
}

/// `"true"`/`"false"` form values (and JSON-ish `1`/`0`).
fn form_bool(name: &str, value: &str) -> Result<bool, CfError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        other => Err(CfError::bad_request(format!(
            "{name} must be true or false, got {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_metadata_are_checked() {
        assert!(custom_id("a/b/c.jpg").is_ok());
        assert!(custom_id("/a").is_err());
        assert!(custom_id("a/").is_err());
        assert!(custom_id(&"x".repeat(1025)).is_err());
        assert!(custom_id(&"x".repeat(1024)).is_ok());
        assert!(custom_id("variants").is_err());
        assert_eq!(metadata_document(" {\"k\": 1} ").unwrap(), "{\"k\":1}");
        assert!(metadata_document("[1]").is_err());
        assert!(metadata_document("{").is_err());
        let big = format!("{{\"k\":\"{}\"}}", "x".repeat(1020));
        assert!(metadata_document(&big).is_err());
    }

    #[test]
    fn timestamps_have_milliseconds() {
        assert_eq!(rfc3339_ms(1_500), "1970-01-01T00:00:01.500Z");
    }
}
