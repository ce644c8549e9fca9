//! Writing a blob: the body is cut into chunks, each chunk waits its turn in the chat's
//! send queue, is sent as one document and is recorded before the next one starts.

use super::api::{ApiFailure, SentDocument};
use super::{SPOOL_ABOVE, TelegramBlobs, api_error, unavailable_error};
use crate::error::{StoreError, StoreResult};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The first wait after a 5xx or a dropped connection; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The longest one sendDocument request may take, however long the deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The bytes of the chunk being filled.
enum Pending {
    Memory {
        parts: Vec<Bytes>,
        len: u64,
    },
    Spooled {
        path: PathBuf,
        file: tokio::fs::File,
        len: u64,
    },
}

impl Pending {
    fn len(&self) -> u64 {
        match self {
            Pending::Memory { len, .. } | Pending::Spooled { len, .. } => *len,
        }
    }

    async fn push(&mut self, piece: Bytes) -> StoreResult<()> {
        match self {
            Pending::Memory { parts, len } => {
                *len += piece.len() as u64;
                parts.push(piece);
            }
            Pending::Spooled { file, len, .. } => {
                file.write_all(&piece).await?;
                *len += piece.len() as u64;
            }
        }
        Ok(())
    }

    /// The chunk's bytes, from the start, as often as a retry needs them.
    async fn body(&mut self) -> StoreResult<BoxStream<'static, std::io::Result<Bytes>>> {
        match self {
            Pending::Memory { parts, .. } => {
                Ok(futures::stream::iter(parts.clone().into_iter().map(Ok)).boxed())
            }
            Pending::Spooled { path, file, .. } => {
                file.flush().await?;
                let reader = tokio::fs::File::open(&path).await?;
                Ok(tokio_util::io::ReaderStream::new(reader).boxed())
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Pending::Spooled { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl TelegramBlobs {
    /// Streams `body` into blob `name`, handing each piece to `observe` first. Every
    /// chunk is acknowledged by Telegram and recorded when this returns `Ok`. On error the
    /// chunks already sent are deleted (or left to the orphan sweep, if that fails too).
    pub async fn write<S, E>(
        &self,
        name: &str,
        body: S,
        observe: impl FnMut(&Bytes) -> StoreResult<()>,
    ) -> StoreResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let result = self.write_chunks(name, body, observe).await;
        if result.is_err()
            && let Err(e) = self.delete(name).await
        {
            tracing::warn!(blob = name, error = %e, "could not delete the chunks of a failed write; the sweep will");
        }
        result
    }

    async fn write_chunks<S, E>(
        &self,
        name: &str,
        mut body: S,
        mut observe: impl FnMut(&Bytes) -> StoreResult<()>,
    ) -> StoreResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let chunk_size = self.config.chunk_size;
        let mut pending = self.empty_chunk().await?;
        let mut idx = 0i64;
        while let Some(piece) = body.next().await {
            let mut piece = piece.map_err(|e| StoreError::Body(e.to_string()))?;
            if piece.is_empty() {
                continue;
            }
            observe(&piece)?;
            while !piece.is_empty() {
                let room = (chunk_size - pending.len()) as usize;
                let take = piece.split_to(room.min(piece.len()));
                pending.push(take).await?;
                if pending.len() == chunk_size {
                    let full = std::mem::replace(&mut pending, self.empty_chunk().await?);
                    self.store_chunk(name, idx, full).await?;
                    idx += 1;
                }
            }
        }
        // An empty blob has no chunk: Telegram refuses empty documents.
        if pending.len() > 0 {
            self.store_chunk(name, idx, pending).await?;
        }
        Ok(())
    }

    async fn empty_chunk(&self) -> StoreResult<Pending> {
        if self.config.chunk_size <= SPOOL_ABOVE {
            return Ok(Pending::Memory {
                parts: Vec::new(),
                len: 0,
            });
        }
        let path = self
            .config
            .spool_dir
            .join(uuid::Uuid::new_v4().simple().to_string());
        let file = tokio::fs::File::create(&path).await?;
        Ok(Pending::Spooled { path, file, len: 0 })
    }

    /// Sends one chunk (waiting in the queue, honouring 429s, retrying 5xx) and records it.
    async fn store_chunk(&self, name: &str, idx: i64, mut chunk: Pending) -> StoreResult<()> {
        let len = chunk.len();
        let id = name.rsplit('/').next().unwrap_or(name);
        let file_name = format!("{id}.{idx}");
        let deadline = tokio::time::Instant::now() + self.config.write_deadline;
        let mut backoff = FIRST_BACKOFF;
        let sent: SentDocument = loop {
            let late = || {
                unavailable_error(
                    "sendDocument",
                    &format!(
                        "chunk {idx} was not stored within the write deadline of {:?}",
                        self.config.write_deadline
                    ),
                    true,
                )
            };
            let mut gate = tokio::time::timeout_at(deadline, self.send_gate.lock())
                .await
                .map_err(|_| late())?;
            if *gate >= deadline {
                return Err(late());
            }
            tokio::time::sleep_until(*gate).await;
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let outcome = self
                .api
                .send_document(
                    &file_name,
                    chunk.body().await?,
                    len,
                    remaining.min(REQUEST_TIMEOUT),
                )
                .await;
            *gate = tokio::time::Instant::now() + self.config.send_interval;
            match outcome {
                Ok(sent) => break sent,
                Err(ApiFailure::RateLimited(wait)) => {
                    // The chat's limit holds for every send, so the whole queue waits.
                    tracing::info!(retry_after = ?wait, "Telegram rate limit; the send queue waits");
                    *gate = tokio::time::Instant::now() + wait;
                }
                Err(ApiFailure::Transient(message)) => {
                    drop(gate);
                    tracing::warn!(%message, "Telegram send failed; retrying");
                    if tokio::time::Instant::now() + backoff >= deadline {
                        return Err(unavailable_error("sendDocument", &message, true));
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(refused) => return Err(api_error("sendDocument", refused)),
            }
        };
        let recorded = sqlx::query(
            "INSERT INTO telegram_chunks (blob, idx, message_id, file_id, file_unique_id, size) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name)
        .bind(idx)
        .bind(sent.message_id)
        .bind(&sent.document.file_id)
        .bind(&sent.document.file_unique_id)
        .bind(len as i64)
        .execute(&self.db)
        .await;
        if let Err(e) = recorded {
            // Unrecorded, the message would never be found again.
            let _ = self
                .api
                .delete_message(sent.message_id, Duration::from_secs(10))
                .await;
            return Err(e.into());
        }
        Ok(())
    }
}
