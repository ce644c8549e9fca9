//! `[cloudflare]` and `[[cloudflare_accounts]]`: the Cloudflare Images door.

use super::Config;
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// `[cloudflare]`: the Images API under `/client/v4/`, one-time upload URLs, delivery at
/// `/{account_hash}/{image_id}/{variant}` and transform URLs under `/cdn-cgi/image/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudflareConfig {
    /// The door; while on, the bucket names `client` and `cdn-cgi` stay reserved.
    pub enabled: bool,
    /// Base of the delivery and upload URLs the API answers with (the host that replaces
    /// `imagedelivery.net`). Default: `http://` + `listen`.
    pub delivery_url: Option<String>,
    /// Largest image an upload may send.
    pub max_upload_bytes: u64,
    /// Bucket where `/cdn-cgi/image/` keeps images fetched from absolute URLs; unset:
    /// such sources are refused.
    pub remote_bucket: Option<String>,
    /// Bucket of the account made on first start when no account exists.
    pub default_bucket: String,
}

impl Default for CloudflareConfig {
    fn default() -> Self {
        CloudflareConfig {
            enabled: true,
            delivery_url: None,
            max_upload_bytes: 10 * 1024 * 1024,
            remote_bucket: None,
            default_bucket: "images".into(),
        }
    }
}

/// `[[cloudflare_accounts]]`: an images account to create (or update) at start-up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudflareAccountConfig {
    /// 32 lower-case hexadecimal characters, as Cloudflare's account ids.
    pub account_id: String,
    /// The hash in delivery URLs: 16-64 characters of A-Z a-z 0-9 - _ with at least one
    /// upper-case letter or `_`.
    pub account_hash: String,
    /// The bucket holding the account's images (created if missing).
    pub bucket: String,
    pub flexible_variants: bool,
}

impl Config {
    pub(super) fn validate_cloudflare(&self) -> Result<()> {
        if let Some(url) = &self.cloudflare.delivery_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("cloudflare.delivery_url must start with http:// or https://, got {url:?}");
        }
        if self.cloudflare.max_upload_bytes == 0 {
            bail!("cloudflare.max_upload_bytes must be at least 1");
        }
        for account in &self.cloudflare_accounts {
            if let Some(problem) =
                store::cloudflare::account_problem(&account.account_id, &account.account_hash)
            {
                bail!("[[cloudflare_accounts]]: {problem}");
            }
            if let Some(problem) = store::bucket_name_problem(&account.bucket) {
                bail!("[[cloudflare_accounts]] bucket: {problem}");
            }
        }
        Ok(())
    }

    /// The door's settings for the server; `None` when it is off.
    pub fn cloudflare(&self) -> Option<server::cloudflare::CloudflareConfig> {
        if !self.cloudflare.enabled {
            return None;
        }
        let delivery_url = self
            .cloudflare
            .delivery_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen));
        Some(server::cloudflare::CloudflareConfig {
            delivery_url: delivery_url.trim_end_matches('/').to_owned(),
            max_upload_bytes: usize::try_from(self.cloudflare.max_upload_bytes)
                .unwrap_or(usize::MAX),
            remote_bucket: self.cloudflare.remote_bucket.clone(),
        })
    }
}
