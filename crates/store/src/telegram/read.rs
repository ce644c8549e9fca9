//! Reading a range of a blob: only the chunks the range touches are fetched, through the
//! hot-chunk cache when it is on.

use super::api::ApiFailure;
use super::{Chunk, FILE_PATH_TTL, TelegramBlobs, api_error, cache_name};
use crate::error::{StoreError, StoreResult};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::ops::Range;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// How long the download of one chunk may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);
const API_TIMEOUT: Duration = Duration::from_secs(15);

type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

impl TelegramBlobs {
    /// The bytes of `blob` in `range` (end exclusive). The first chunk is opened here, so
    /// a missing blob or an unreachable Telegram is this call's error, before any
    /// response starts; later chunks open as the stream reaches them.
    pub async fn read(
        self: &std::sync::Arc<Self>,
        blob: &str,
        range: Range<u64>,
    ) -> StoreResult<ByteStream> {
        if range.start >= range.end {
            return Ok(futures::stream::empty().boxed());
        }
        let chunks = self.chunks(blob).await?;
        if chunks.is_empty() {
            return Err(StoreError::Blob(opendal::Error::new(
                opendal::ErrorKind::NotFound,
                "the blob has no chunks",
            )));
        }
        let mut pieces = Vec::new();
        let mut offset = 0u64;
        for chunk in chunks {
            let end = offset + chunk.size;
            if end > range.start && offset < range.end {
                let local = range.start.max(offset) - offset..range.end.min(end) - offset;
                pieces.push((chunk, local));
            }
            offset = end;
        }
        if offset < range.end {
            return Err(StoreError::Corrupt(format!(
                "blob {blob} holds {offset} bytes in Telegram, fewer than the {} asked for",
                range.end
            )));
        }
        let mut pieces = pieces.into_iter();
        let Some((first, local)) = pieces.next() else {
            return Ok(futures::stream::empty().boxed());
        };
        let first = self.open_piece(blob, &first, local).await?;
        let this = self.clone();
        let owner = blob.to_owned();
        let rest = futures::stream::iter(pieces)
            .then(move |(chunk, local)| {
                let this = this.clone();
                let owner = owner.clone();
                async move { this.open_piece(&owner, &chunk, local).await }
            })
            .map(|opened| match opened {
                Ok(stream) => stream,
                Err(e) => {
                    futures::stream::once(async move { Err(std::io::Error::other(e.to_string())) })
                        .boxed()
                }
            })
            .flatten();
        Ok(first.chain(rest).boxed())
    }

    /// `local` of one chunk: from the cache (filled first if needed), or straight from
    /// Telegram when the cache is off.
    async fn open_piece(
        &self,
        blob: &str,
        chunk: &Chunk,
        local: Range<u64>,
    ) -> StoreResult<ByteStream> {
        let len = local.end - local.start;
        let Some(cache) = &self.cache else {
            let download = self.download(chunk).await?;
            return Ok(slice(download, local));
        };
        let name = cache_name(blob, chunk.idx);
        let mut file = None;
        for _ in 0..2 {
            let path = match cache.get(&name) {
                Some(path) => path,
                None => match self.fill(&name, chunk).await? {
                    Filled::Cached(path) => path,
                    Filled::Uncacheable(file_handle) => {
                        file = Some(file_handle);
                        break;
                    }
                },
            };
            // Evicted between the lookup and the open: fetch it again, once.
            match tokio::fs::File::open(&path).await {
                Ok(f) => {
                    file = Some(f);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let mut file = file.ok_or_else(|| {
            StoreError::Corrupt(format!("chunk {name} keeps vanishing from the cache"))
        })?;
        file.seek(std::io::SeekFrom::Start(local.start)).await?;
        Ok(tokio_util::io::ReaderStream::new(file.take(len)).boxed())
    }

    /// Downloads a chunk into the cache, one download per chunk at a time.
    async fn fill(&self, name: &str, chunk: &Chunk) -> StoreResult<Filled> {
        let cache = self
            .cache
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("fill without a cache".into()))?;
        let turn = {
            let mut downloads = self.downloads.lock().unwrap_or_else(|p| p.into_inner());
            downloads.entry(name.to_owned()).or_default().clone()
        };
        let _turn = turn.lock().await;
        let outcome = async {
            if let Some(path) = cache.get(name) {
                return Ok(Filled::Cached(path));
            }
            let temp = cache.temp_path();
            let written = self.download_to(chunk, &temp).await;
            if let Err(e) = written {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
            match cache.insert(name, &temp, chunk.size)? {
                Some(path) => Ok(Filled::Cached(path)),
                None => {
                    let file = tokio::fs::File::open(&temp).await?;
                    let _ = tokio::fs::remove_file(&temp).await;
                    Ok(Filled::Uncacheable(file))
                }
            }
        }
        .await;
        self.downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        outcome
    }

    async fn download_to(&self, chunk: &Chunk, path: &std::path::Path) -> StoreResult<()> {
        use tokio::io::AsyncWriteExt;
        let mut stream = self.download(chunk).await?;
        let mut file = tokio::fs::File::create(path).await?;
        let mut got = 0u64;
        while let Some(piece) = stream.next().await {
            let piece =
                piece.map_err(|e| super::unavailable_error("download", &e.to_string(), true))?;
            got += piece.len() as u64;
            file.write_all(&piece).await?;
        }
        file.flush().await?;
        if got != chunk.size {
            return Err(super::unavailable_error(
                "download",
                &format!(
                    "chunk {} came back with {got} of its {} bytes",
                    chunk.idx, chunk.size
                ),
                true,
            ));
        }
        Ok(())
    }

    /// Starts the download of a whole chunk. A path that stopped working (expired, or the
    /// server forgot it) is asked for again once.
    async fn download(&self, chunk: &Chunk) -> StoreResult<ByteStream> {
        let mut refreshed = false;
        loop {
            let path = self.file_path(&chunk.file_id).await?;
            match self.api.download(&path, DOWNLOAD_TIMEOUT).await {
                Ok(stream) => return Ok(stream.boxed()),
                Err(ApiFailure::Refused { code, .. })
                    if !refreshed && (code == 400 || code == 404) =>
                {
                    refreshed = true;
                    self.forget_path(&chunk.file_id);
                }
                Err(failure) => return Err(api_error("file download", failure)),
            }
        }
    }

    async fn file_path(&self, file_id: &str) -> StoreResult<String> {
        {
            let paths = self.file_paths.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((path, at)) = paths.get(file_id)
                && at.elapsed() < FILE_PATH_TTL
            {
                return Ok(path.clone());
            }
        }
        let path = self
            .api
            .get_file(file_id, API_TIMEOUT)
            .await
            .map_err(|f| api_error("getFile", f))?;
        let mut paths = self.file_paths.lock().unwrap_or_else(|p| p.into_inner());
        if paths.len() >= 100_000 {
            paths.retain(|_, (_, at)| at.elapsed() < FILE_PATH_TTL);
            if paths.len() >= 100_000 {
                paths.clear();
            }
        }
        paths.insert(file_id.to_owned(), (path.clone(), Instant::now()));
        Ok(path)
    }

    fn forget_path(&self, file_id: &str) {
        self.file_paths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(file_id);
    }
}

enum Filled {
    Cached(std::path::PathBuf),
    /// Larger than the whole cache: read once from this (already unlinked) file.
    Uncacheable(tokio::fs::File),
}

/// `local` of a stream that starts at the chunk's first byte; it stops reading once
/// `local` is complete.
fn slice(stream: ByteStream, local: Range<u64>) -> ByteStream {
    stream
        .scan(0u64, move |position, piece| {
            let out = match piece {
                Err(e) => Some(Some(Err(e))),
                Ok(piece) => {
                    let start = *position;
                    let end = start + piece.len() as u64;
                    *position = end;
                    if start >= local.end {
                        None
                    } else if end <= local.start {
                        Some(None)
                    } else {
                        let from = local.start.saturating_sub(start) as usize;
                        let to = (local.end.min(end) - start) as usize;
                        Some(Some(Ok(piece.slice(from..to))))
                    }
                }
            };
            futures::future::ready(out)
        })
        .filter_map(futures::future::ready)
        .boxed()
}
