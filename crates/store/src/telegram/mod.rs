//! Blob bytes in a Telegram chat, through the Bot API.
//!
//! A blob is split into chunks of at most [`TelegramConfig::chunk_size`] bytes; each chunk
//! is one document sent with `sendDocument` (never `sendPhoto`, which recompresses), and
//! its message id and `file_id` become a row of `telegram_chunks`, keyed by blob name and
//! chunk index. The object row that names the blob commits only after every chunk is
//! acknowledged and recorded, so a failed or interrupted write leaves no visible object;
//! its blob stays listed in `pending_blobs` and the orphan sweep deletes its messages.
//! A process killed between a chunk's acknowledgement and its row leaks that one message
//! in the chat, never a visible object.
//!
//! - **Writes** (`write.rs`) wait in one queue per chat: sends are spaced by
//!   `send_interval`, a 429 holds the whole queue for its `retry_after`, and a 5xx or a
//!   dropped connection is retried with backoff, all within `write_deadline`, after which
//!   the write fails as temporarily unavailable (503 with `Retry-After` at the doors).
//! - **Reads** (`read.rs`) fetch only the chunks a range touches. `getFile` answers are
//!   kept for [`FILE_PATH_TTL`], under the Bot API's one-hour validity. Chunks read go to
//!   the hot-chunk cache on local disk (`cache.rs`), which also keeps them readable while
//!   Telegram is unreachable.
//! - **Deletes** delete each chunk's message where the bot may (a refusal, such as a
//!   message too old to delete, still forgets the chunk) and then the rows.

mod api;
mod cache;
mod read;
mod write;

use crate::db::DbPool;
use crate::error::{StoreError, StoreResult};
use api::{ApiFailure, BotApi};
use sqlx::Row;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a `getFile` path is reused. The Bot API guarantees an hour.
pub const FILE_PATH_TTL: Duration = Duration::from_secs(50 * 60);
/// The public Bot API, and its limits: uploads up to 50 MB, downloads up to 20 MB.
pub const PUBLIC_API_BASE: &str = "https://api.telegram.org";
pub const PUBLIC_DOWNLOAD_LIMIT: u64 = 20 * 1000 * 1000;
/// A self-hosted `telegram-bot-api --local` accepts uploads up to 2000 MB.
pub const LOCAL_UPLOAD_LIMIT: u64 = 2000 * 1000 * 1000;
/// Under the public API's 20 MB download limit.
pub const DEFAULT_CHUNK_SIZE: u64 = 19 * 1024 * 1024;

#[derive(Clone)]
pub struct TelegramConfig {
    pub bot_token: String,
    /// `@channelname` or a numeric chat id.
    pub chat_id: String,
    pub api_base: String,
    pub chunk_size: u64,
    /// The least time between two sends to the chat.
    pub send_interval: Duration,
    /// How long one chunk may wait in the queue and be retried before the write fails.
    pub write_deadline: Duration,
    /// The hot-chunk cache; `cache_max_bytes` 0 turns it off.
    pub cache_dir: PathBuf,
    pub cache_max_bytes: u64,
    /// Where chunks larger than [`SPOOL_ABOVE`] wait on disk while they are sent.
    pub spool_dir: PathBuf,
}

/// Chunks up to this size are held in memory while they are sent (and re-sent); larger
/// ones, possible only with a local Bot API server, are spooled to disk.
pub const SPOOL_ABOVE: u64 = 64 * 1024 * 1024;

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("bot_token", &"<redacted>")
            .field("chat_id", &self.chat_id)
            .field("api_base", &self.api_base)
            .field("chunk_size", &self.chunk_size)
            .field("send_interval", &self.send_interval)
            .field("write_deadline", &self.write_deadline)
            .field("cache_dir", &self.cache_dir)
            .field("cache_max_bytes", &self.cache_max_bytes)
            .finish()
    }
}

/// One recorded chunk of a blob.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub idx: i64,
    pub message_id: i64,
    pub file_id: String,
    pub size: u64,
}

pub struct TelegramBlobs {
    config: TelegramConfig,
    api: BotApi,
    db: DbPool,
    cache: Option<cache::ChunkCache>,
    /// file_id → (file_path, when fetched).
    file_paths: Mutex<HashMap<String, (String, Instant)>>,
    /// The send queue: holding it is one's turn; its value is when the next send may start.
    send_gate: tokio::sync::Mutex<tokio::time::Instant>,
    /// One download per chunk at a time; the others wait and then find it cached.
    downloads: Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl TelegramBlobs {
    pub fn open(config: &TelegramConfig, db: DbPool) -> StoreResult<Self> {
        let api = BotApi::new(config).map_err(|m| unavailable_error("setup", &m, false))?;
        let cache = if config.cache_max_bytes > 0 {
            Some(cache::ChunkCache::open(
                &config.cache_dir,
                config.cache_max_bytes,
            )?)
        } else {
            None
        };
        if config.chunk_size > SPOOL_ABOVE {
            std::fs::create_dir_all(&config.spool_dir)?;
            for entry in std::fs::read_dir(&config.spool_dir)? {
                let _ = std::fs::remove_file(entry?.path());
            }
        }
        Ok(TelegramBlobs {
            config: config.clone(),
            api,
            db,
            cache,
            file_paths: Mutex::new(HashMap::new()),
            send_gate: tokio::sync::Mutex::new(tokio::time::Instant::now()),
            downloads: Mutex::new(HashMap::new()),
        })
    }

    pub async fn check(&self) -> StoreResult<()> {
        self.api
            .get_me(Duration::from_secs(5))
            .await
            .map_err(|f| api_error("getMe", f))
    }

    pub(crate) async fn chunks(&self, blob: &str) -> StoreResult<Vec<Chunk>> {
        let rows = sqlx::query(
            "SELECT idx, message_id, file_id, size FROM telegram_chunks WHERE blob = $1 ORDER BY idx",
        )
        .bind(blob)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                let size: i64 = row.try_get("size")?;
                Ok(Chunk {
                    idx: row.try_get("idx")?,
                    message_id: row.try_get("message_id")?,
                    file_id: row.try_get("file_id")?,
                    size: size as u64,
                })
            })
            .collect()
    }

    /// Deletes the blob's messages where the bot may, then forgets its chunks. An
    /// unreachable API fails the delete, so the caller's pending entry stays and a later
    /// sweep retries; a refusal (the message is already gone, or too old for the bot to
    /// delete) forgets the chunk anyway.
    pub async fn delete(&self, blob: &str) -> StoreResult<()> {
        let chunks = self.chunks(blob).await?;
        for chunk in &chunks {
            let mut attempts = 0;
            loop {
                match self
                    .api
                    .delete_message(chunk.message_id, Duration::from_secs(10))
                    .await
                {
                    Ok(()) => break,
                    Err(ApiFailure::Refused { description, .. }) => {
                        tracing::debug!(blob, idx = chunk.idx, %description, "message not deleted; forgetting the chunk");
                        break;
                    }
                    Err(ApiFailure::RateLimited(wait))
                        if attempts < 3 && wait <= Duration::from_secs(5) =>
                    {
                        attempts += 1;
                        tokio::time::sleep(wait).await;
                    }
                    Err(f) => return Err(api_error("deleteMessage", f)),
                }
            }
        }
        sqlx::query("DELETE FROM telegram_chunks WHERE blob = $1")
            .bind(blob)
            .execute(&self.db)
            .await?;
        if let Some(cache) = &self.cache {
            let names: Vec<String> = chunks.iter().map(|c| cache_name(blob, c.idx)).collect();
            cache.forget(&names);
        }
        Ok(())
    }
}

/// The cache file of chunk `idx` of `blob` (`blobs/ab/<32 hex>`): `<32 hex>.<idx>`.
fn cache_name(blob: &str, idx: i64) -> String {
    let id = blob.rsplit('/').next().unwrap_or(blob);
    format!("{id}.{idx}")
}

/// A Bot API failure as a store error: temporary (503 at the doors) when retrying later
/// can help.
fn api_error(method: &str, failure: ApiFailure) -> StoreError {
    let temporary = matches!(
        failure,
        ApiFailure::RateLimited(_) | ApiFailure::Transient(_)
    );
    let kind = match failure {
        ApiFailure::RateLimited(_) => opendal::ErrorKind::RateLimited,
        _ => opendal::ErrorKind::Unexpected,
    };
    StoreError::Blob(
        opendal::Error::new(kind, format!("telegram {method}: {failure}"))
            .with_temporary(temporary),
    )
}

fn unavailable_error(what: &str, message: &str, temporary: bool) -> StoreError {
    StoreError::Blob(
        opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            format!("telegram {what}: {message}"),
        )
        .with_temporary(temporary),
    )
}
