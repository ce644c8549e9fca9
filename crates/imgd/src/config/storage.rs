//! `[storage]`: where blob bytes live (local disk, an S3 bucket, or a Telegram chat), and
//! how that section becomes a [`store::BlobBackend`].

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;
use store::telegram;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `fs` (blobs under `<data_dir>/blobs`), `s3` (an existing S3-compatible bucket) or
    /// `telegram` (documents in a chat, through the Bot API).
    pub backend: String,
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_bucket: Option<String>,
    pub s3_access_key: Option<String>,
    pub s3_secret_key: Option<String>,
    /// Key prefix inside the bucket.
    pub s3_root: String,
    /// The bot's token from @BotFather. Never logged.
    pub telegram_bot_token: Option<String>,
    /// The chat the bot stores documents in: `@channelname` or a numeric id
    /// (`-100…` for channels and supergroups).
    pub telegram_chat_id: Option<String>,
    /// The public Bot API, or a self-hosted `telegram-bot-api --local` server.
    pub telegram_api_base: String,
    /// Bytes per document. At most 20 MB on the public API (its download limit), at
    /// most 2000 MB with a local server.
    pub telegram_chunk_size: u64,
    /// The least time between two sends (Telegram allows about 20 messages a minute in
    /// a group or channel, one a second in a private chat).
    pub telegram_send_interval_ms: u64,
    /// How long an upload may wait in the send queue and through retries before the
    /// client gets 503.
    pub telegram_write_deadline_secs: u64,
    /// Keep recently read chunks on local disk (`<data_dir>/telegram/cache`).
    pub telegram_cache: bool,
    pub telegram_cache_max_bytes: u64,
}

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("StorageConfig")
            .field("backend", &self.backend)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_secret_key", &hidden(&self.s3_secret_key))
            .field("telegram_bot_token", &hidden(&self.telegram_bot_token))
            .field("telegram_chat_id", &self.telegram_chat_id)
            .field("telegram_api_base", &self.telegram_api_base)
            .finish_non_exhaustive()
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: "fs".into(),
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_bucket: None,
            s3_access_key: None,
            s3_secret_key: None,
            s3_root: "/".into(),
            telegram_bot_token: None,
            telegram_chat_id: None,
            telegram_api_base: telegram::PUBLIC_API_BASE.into(),
            telegram_chunk_size: telegram::DEFAULT_CHUNK_SIZE,
            telegram_send_interval_ms: 3000,
            telegram_write_deadline_secs: 120,
            telegram_cache: true,
            telegram_cache_max_bytes: 1 << 30,
        }
    }
}

/// The smallest chunk worth a message.
const MIN_CHUNK_SIZE: u64 = 64 * 1024;

impl StorageConfig {
    pub fn validate(&self) -> Result<()> {
        match self.backend.as_str() {
            "fs" | "s3" => Ok(()),
            "telegram" => self.validate_telegram(),
            other => bail!("storage.backend must be fs, s3 or telegram, got {other:?}"),
        }
    }

    fn validate_telegram(&self) -> Result<()> {
        let token = self.telegram_bot_token.as_deref().unwrap_or("");
        if token.is_empty() {
            bail!("storage.telegram_bot_token is required for the telegram backend");
        }
        // A token is `<bot id>:<secret>`; anything else would also end up inside URLs.
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-')
        {
            bail!(
                "storage.telegram_bot_token is not a Bot API token (digits, a colon, then letters, digits, _ and -)"
            );
        }
        let chat = self.telegram_chat_id.as_deref().unwrap_or("");
        if chat.is_empty() {
            bail!(
                "storage.telegram_chat_id is required for the telegram backend (@channelname or a numeric id)"
            );
        }
        let base = self.telegram_api_base.as_str();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("storage.telegram_api_base must be an http:// or https:// URL, got {base:?}");
        }
        let public = base.trim_end_matches('/') == telegram::PUBLIC_API_BASE;
        let (limit, why) = if public {
            (
                telegram::PUBLIC_DOWNLOAD_LIMIT,
                "the public Bot API downloads files of at most 20 MB; a local Bot API server lifts this",
            )
        } else {
            (
                telegram::LOCAL_UPLOAD_LIMIT,
                "a Bot API server accepts documents of at most 2000 MB",
            )
        };
        let size = self.telegram_chunk_size;
        if size < MIN_CHUNK_SIZE || size > limit {
            bail!(
                "storage.telegram_chunk_size must be between {MIN_CHUNK_SIZE} and {limit} bytes, got {size}: {why}"
            );
        }
        if self.telegram_write_deadline_secs == 0 {
            bail!("storage.telegram_write_deadline_secs must be at least 1");
        }
        Ok(())
    }

    pub fn blob_backend(&self, data_dir: &Path) -> Result<store::BlobBackend> {
        match self.backend.as_str() {
            "s3" => {
                let need = |v: &Option<String>, name: &str| {
                    v.clone()
                        .with_context(|| format!("storage.{name} is required for the s3 backend"))
                };
                Ok(store::BlobBackend::S3 {
                    endpoint: need(&self.s3_endpoint, "s3_endpoint")?,
                    region: self.s3_region.clone(),
                    bucket: need(&self.s3_bucket, "s3_bucket")?,
                    access_key: need(&self.s3_access_key, "s3_access_key")?,
                    secret_key: need(&self.s3_secret_key, "s3_secret_key")?,
                    root: self.s3_root.clone(),
                })
            }
            "telegram" => {
                self.validate_telegram()?;
                let root = data_dir.join("telegram");
                Ok(store::BlobBackend::Telegram(store::TelegramConfig {
                    bot_token: self.telegram_bot_token.clone().unwrap_or_default(),
                    chat_id: self.telegram_chat_id.clone().unwrap_or_default(),
                    api_base: self.telegram_api_base.clone(),
                    chunk_size: self.telegram_chunk_size,
                    send_interval: std::time::Duration::from_millis(self.telegram_send_interval_ms),
                    write_deadline: std::time::Duration::from_secs(
                        self.telegram_write_deadline_secs,
                    ),
                    cache_dir: root.join("cache"),
                    cache_max_bytes: if self.telegram_cache {
                        self.telegram_cache_max_bytes
                    } else {
                        0
                    },
                    spool_dir: root.join("spool"),
                }))
            }
            _ => Ok(store::BlobBackend::Fs {
                root: data_dir.to_path_buf(),
            }),
        }
    }
}
