//! The account-level parts of the Images API: named variants, the flexible-variants
//! switch, signing keys and stats.

use super::CloudflareDoor;
use super::api::json_body;
use super::envelope::{self, CfError, codes};
use crate::kernel::BoxBody;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use imaging::cloudflare::{MetadataPolicy, VariantFit};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use store::StoreError;
use store::cloudflare::{CfAccount, CfVariant};

/// imgd imposes no image quota; `stats` reports this as the allowance.
const ALLOWED_IMAGES: u64 = 1_000_000_000;
const MAX_VARIANT_SIDE: u32 = 12_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantOptions {
    fit: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVariant {
    id: String,
    options: VariantOptions,
    #[serde(rename = "neverRequireSignedURLs")]
    never_require_signed_urls: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantPatch {
    options: Option<VariantOptions>,
    #[serde(rename = "neverRequireSignedURLs")]
    never_require_signed_urls: Option<bool>,
}

fn variant_json(v: &CfVariant) -> Value {
    let mut options = Map::new();
    options.insert("fit".into(), json!(v.fit));
    options.insert("metadata".into(), json!(v.metadata));
    if let Some(w) = v.width {
        options.insert("width".into(), json!(w));
    }
    if let Some(h) = v.height {
        options.insert("height".into(), json!(h));
    }
    json!({"id": v.name, "options": options, "neverRequireSignedURLs": v.never_require_signed})
}

/// Names are what a delivery URL's last segment holds: no `=` or `,` (those make a
/// flexible variant) and nothing that needs escaping.
fn check_name(kind: &str, name: &str, max: usize) -> Result<(), CfError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CfError::bad_request(format!(
            "A {kind} name has 1 to {max} characters of A-Z, a-z, 0-9, - and _; got {name:?}"
        )))
    }
}

/// Applies `options` over `base`, checking each value.
fn apply_options(base: &mut CfVariant, options: VariantOptions) -> Result<(), CfError> {
    if let Some(fit) = options.fit {
        let fit = VariantFit::from_name(&fit).ok_or_else(|| {
            CfError::bad_request(format!(
                "fit must be scale-down, contain, cover, crop or pad; got {fit:?}"
            ))
        })?;
        base.fit = fit.name().to_owned();
    }
    if let Some(m) = options.metadata {
        let m = MetadataPolicy::from_name(&m).ok_or_else(|| {
            CfError::bad_request(format!(
                "metadata must be keep, copyright or none; got {m:?}"
            ))
        })?;
        base.metadata = m.name().to_owned();
    }
    for (name, side) in [("width", options.width), ("height", options.height)] {
        if let Some(px) = side
            && !(1..=MAX_VARIANT_SIDE).contains(&px)
        {
            return Err(CfError::bad_request(format!(
                "{name} must be 1 to {MAX_VARIANT_SIDE} pixels; got {px}"
            )));
        }
    }
    if options.width.is_some() {
        base.width = options.width;
    }
    if options.height.is_some() {
        base.height = options.height;
    }
    Ok(())
}

fn variant_not_found(name: &str) -> CfError {
    CfError::new(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        format!("Variant {name:?} not found"),
    )
}

pub(super) fn config_answer(account: &CfAccount) -> Response<BoxBody> {
    envelope::ok(json!({"flexible_variants": account.flexible_variants}))
}

impl CloudflareDoor {
    pub(super) async fn create_variant(
        &self,
        account: &CfAccount,
        req: Request<Incoming>,
    ) -> Result<Response<BoxBody>, CfError> {
        let body: NewVariant = json_body(req).await?;
        check_name("variant", &body.id, 99)?;
        let mut variant = CfVariant {
            name: body.id,
            fit: VariantFit::ScaleDown.name().to_owned(),
            width: None,
            height: None,
            metadata: MetadataPolicy::None.name().to_owned(),
            never_require_signed: body.never_require_signed_urls.unwrap_or(false),
        };
        apply_options(&mut variant, body.options)?;
        if variant.width.is_none() && variant.height.is_none() {
            return Err(CfError::bad_request(
                "A variant needs a width, a height or both",
            ));
        }
        match self
            .store()
            .cf_save_variant(&account.account_id, &variant, true)
            .await
        {
            Err(StoreError::AlreadyExists) => {
                return Err(CfError::new(
                    StatusCode::CONFLICT,
                    codes::CONFLICT,
                    format!("Variant {:?} already exists", variant.name),
                ));
            }
            other => other?,
        }
        Ok(envelope::ok(json!({"variant": variant_json(&variant)})))
    }

    pub(super) async fn list_variants(
        &self,
        account: &CfAccount,
    ) -> Result<Response<BoxBody>, CfError> {
        let variants = self.store().cf_variants(&account.account_id).await?;
        let map: Map<String, Value> = variants
            .iter()
            .map(|v| (v.name.clone(), variant_json(v)))
            .collect();
        Ok(envelope::ok(json!({"variants": map})))
    }

    pub(super) async fn get_variant(
        &self,
        account: &CfAccount,
        name: &str,
    ) -> Result<Response<BoxBody>, CfError> {
        let v = self
            .store()
            .cf_variant(&account.account_id, name)
            .await?
            .ok_or_else(|| variant_not_found(name))?;
        Ok(envelope::ok(json!({"variant": variant_json(&v)})))
    }

    pub(super) async fn patch_variant(
        &self,
        account: &CfAccount,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Response<BoxBody>, CfError> {
        let patch: VariantPatch = json_body(req).await?;
        let mut v = self
            .store()
            .cf_variant(&account.account_id, name)
            .await?
            .ok_or_else(|| variant_not_found(name))?;
        if let Some(options) = patch.options {
            apply_options(&mut v, options)?;
        }
        if let Some(never) = patch.never_require_signed_urls {
            v.never_require_signed = never;
        }
        match self
            .store()
            .cf_save_variant(&account.account_id, &v, false)
            .await
        {
            Err(StoreError::NoSuchKey) => return Err(variant_not_found(name)),
            other => other?,
        }
        Ok(envelope::ok(json!({"variant": variant_json(&v)})))
    }

    pub(super) async fn delete_variant(
        &self,
        account: &CfAccount,
        name: &str,
    ) -> Result<Response<BoxBody>, CfError> {
        if !self
            .store()
            .cf_delete_variant(&account.account_id, name)
            .await?
        {
            return Err(variant_not_found(name));
        }
        Ok(envelope::ok(json!({})))
    }

    pub(super) async fn patch_config(
        &self,
        account: &CfAccount,
        req: Request<Incoming>,
    ) -> Result<Response<BoxBody>, CfError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Config {
            flexible_variants: Option<bool>,
        }
        let body: Config = json_body(req).await?;
        let mut account = account.clone();
        if let Some(on) = body.flexible_variants {
            self.store()
                .cf_set_flexible_variants(&account.account_id, on)
                .await?;
            account.flexible_variants = on;
        }
        Ok(config_answer(&account))
    }

    async fn keys_answer(&self, account: &CfAccount) -> Result<Response<BoxBody>, CfError> {
        let keys = self.store().cf_keys(&account.account_id).await?;
        let list: Vec<Value> = keys
            .iter()
            .map(|k| json!({"name": k.name, "value": k.value}))
            .collect();
        Ok(envelope::ok(json!({"keys": list})))
    }

    pub(super) async fn list_keys(
        &self,
        account: &CfAccount,
    ) -> Result<Response<BoxBody>, CfError> {
        self.keys_answer(account).await
    }

    pub(super) async fn put_key(
        &self,
        account: &CfAccount,
        name: &str,
    ) -> Result<Response<BoxBody>, CfError> {
        self.store().cf_put_key(&account.account_id, name).await?;
        self.keys_answer(account).await
    }

    pub(super) async fn delete_key(
        &self,
        account: &CfAccount,
        name: &str,
    ) -> Result<Response<BoxBody>, CfError> {
        if !self
            .store()
            .cf_delete_key(&account.account_id, name)
            .await?
        {
            return Err(CfError::new(
                StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                format!("Signing key {name:?} not found"),
            ));
        }
        self.keys_answer(account).await
    }

    pub(super) async fn stats(&self, account: &CfAccount) -> Result<Response<BoxBody>, CfError> {
        let current = self.store().cf_count_images(&account.account_id).await?;
        Ok(envelope::ok(
            json!({"count": {"allowed": ALLOWED_IMAGES, "current": current}}),
        ))
    }
}
