//! Blob bytes: behind OpenDAL (local disk, S3), or in a Telegram chat ([`crate::telegram`],
//! which OpenDAL has no service for). Every blob has a fresh random name and is written
//! once, so a reader never sees a blob change under it and a half-written blob is never
//! named by any metadata row.

use crate::db::DbPool;
use crate::error::{StoreError, StoreResult};
use crate::telegram::{TelegramBlobs, TelegramConfig};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use opendal::Operator;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

/// Where blob bytes live.
#[derive(Debug, Clone)]
pub enum BlobBackend {
    /// A local directory; writes are fsynced, file and directory entry both.
    Fs { root: PathBuf },
    /// An S3-compatible bucket (Garage, MinIO, Ceph, AWS) for stateless nodes.
    S3 {
        endpoint: String,
        region: String,
        bucket: String,
        access_key: String,
        secret_key: String,
        root: String,
    },
    /// Documents in a Telegram chat, each chunk's message recorded in the metadata
    /// database.
    Telegram(TelegramConfig),
}

/// The blob backend a [`crate::Store`] writes to; cheap to clone.
#[derive(Clone)]
pub enum BlobStore {
    Dal(DalBlobs),
    Telegram(Arc<TelegramBlobs>),
}

type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + Sync>>;

impl BlobStore {
    pub async fn open(backend: &BlobBackend, db: &DbPool) -> StoreResult<Self> {
        match backend {
            BlobBackend::Telegram(config) => Ok(BlobStore::Telegram(Arc::new(
                TelegramBlobs::open(config, db.clone())?,
            ))),
            other => Ok(BlobStore::Dal(DalBlobs::open(other).await?)),
        }
    }

    pub fn new_blob_name() -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        format!("blobs/{}/{}", &id[..2], id)
    }

    /// Streams `body` into blob `name`, handing each chunk to `observe` first. The blob is
    /// durable when this returns `Ok`. On error the partial blob is removed.
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
        match self {
            BlobStore::Dal(dal) => dal.write(name, body, observe).await,
            BlobStore::Telegram(tg) => tg.write(name, body, observe).await,
        }
    }

    /// A stream of the bytes of `name` in `range` (end exclusive). Opening the blob (and
    /// reading its first bytes) happens here, so a missing blob (`NotFound`, which
    /// [`crate::Store::open_object`] retries after a racing overwrite) or an unreachable
    /// store is this call's error, before any response has started.
    pub async fn read(&self, name: &str, range: std::ops::Range<u64>) -> StoreResult<BlobStream> {
        match self {
            BlobStore::Dal(dal) => Ok(Box::pin(dal.read(name, range).await?)),
            BlobStore::Telegram(tg) => Ok(Box::pin(sync_wrapper::SyncStream::new(
                tg.read(name, range).await?,
            ))),
        }
    }

    /// Whether the backend answers.
    pub async fn check(&self) -> StoreResult<()> {
        match self {
            BlobStore::Dal(dal) => dal.check().await,
            BlobStore::Telegram(tg) => tg.check().await,
        }
    }

    /// Deletes a blob; a missing one is not an error.
    pub async fn delete(&self, name: &str) -> StoreResult<()> {
        match self {
            BlobStore::Dal(dal) => dal.delete(name).await,
            BlobStore::Telegram(tg) => tg.delete(name).await,
        }
    }
}

/// The OpenDAL backends.
#[derive(Clone)]
pub struct DalBlobs {
    op: Operator,
    /// Set for the fs backend, whose directory entries must be fsynced by hand.
    fs_root: Option<PathBuf>,
    /// Bytes buffered per write call (and, on S3, per multipart part).
    write_chunk: usize,
}

const SHARDS: usize = 256;
/// Write buffer per upload on local disk.
const FS_WRITE_CHUNK: usize = 256 * 1024;
/// Part size on S3: every part but the last must be at least 5 MiB there, and a blob
/// smaller than one part is sent as a single PUT.
const S3_WRITE_CHUNK: usize = 8 * 1024 * 1024;

impl DalBlobs {
    async fn open(backend: &BlobBackend) -> StoreResult<Self> {
        match backend {
            BlobBackend::Fs { root } => {
                let blob_root = root.join("blobs");
                for shard in 0..SHARDS {
                    std::fs::create_dir_all(blob_root.join(format!("{shard:02x}")))?;
                }
                fsync_dir(&blob_root)?;
                fsync_dir(root)?;
                let root_str = root
                    .to_str()
                    .ok_or_else(|| StoreError::InvalidArgument("data dir is not UTF-8".into()))?;
                let op = Operator::new(opendal::services::Fs::default().root(root_str))?;
                Ok(Self {
                    op,
                    fs_root: Some(root.clone()),
                    write_chunk: FS_WRITE_CHUNK,
                })
            }
            BlobBackend::S3 {
                endpoint,
                region,
                bucket,
                access_key,
                secret_key,
                root,
            } => {
                crate::http_transport::install()?;
                let builder = opendal::services::S3::default()
                    .endpoint(endpoint)
                    .region(region)
                    .bucket(bucket)
                    .access_key_id(access_key)
                    .secret_access_key(secret_key)
                    .root(root);
                let op = Operator::new(builder)?;
                Ok(Self {
                    op,
                    fs_root: None,
                    write_chunk: S3_WRITE_CHUNK,
                })
            }
            BlobBackend::Telegram(_) => Err(StoreError::InvalidArgument(
                "the Telegram backend is not an OpenDAL service".into(),
            )),
        }
    }

    async fn write<S, E>(
        &self,
        name: &str,
        body: S,
        mut observe: impl FnMut(&Bytes) -> StoreResult<()>,
    ) -> StoreResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // Coalesce the small chunks a socket delivers into fewer, larger writes.
        let mut writer = self.op.writer_with(name).chunk(self.write_chunk).await?;
        let mut body = body;
        let result: StoreResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
                if chunk.is_empty() {
                    continue;
                }
                observe(&chunk)?;
                writer.write(chunk).await?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                writer.close().await?;
                self.sync_entry(name).await?;
                Ok(())
            }
            Err(e) => {
                let _ = writer.abort().await;
                let _ = self.op.delete(name).await;
                Err(e)
            }
        }
    }

    /// The read is opened and its first chunk read here: OpenDAL's streams open on their
    /// first poll, when the status line is already committed, which would give a 200 cut
    /// short, or on S3 a connection closed with no answer at all.
    async fn read(
        &self,
        name: &str,
        range: std::ops::Range<u64>,
    ) -> StoreResult<impl Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static + use<>>
    {
        let reader = self.op.reader(name).await?;
        let mut buffers = reader.into_stream(range).await?;
        let first = buffers.next().await.transpose()?;
        let bytes = futures::stream::iter(first.map(Ok))
            .chain(buffers)
            .map_err(std::io::Error::other)
            .map_ok(|buffer| {
                futures::stream::iter(Iterator::map(buffer, Ok::<Bytes, std::io::Error>))
            })
            .try_flatten();
        // OpenDAL's buffer stream is Send but not Sync.
        Ok(sync_wrapper::SyncStream::new(Box::pin(bytes)))
    }

    /// Whether the backend answers: a stat of a name that never exists, so a missing
    /// object is the healthy answer and only a failure to reach the store is not.
    async fn check(&self) -> StoreResult<()> {
        match self.op.stat("blobs/health-probe").await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, name: &str) -> StoreResult<()> {
        match self.op.delete(name).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// After a write: fsync the directory holding the new entry, so the name survives a
    /// power loss along with the (already fsynced) contents.
    async fn sync_entry(&self, name: &str) -> StoreResult<()> {
        if let Some(root) = &self.fs_root {
            let path = root.join(name);
            if let Some(dir) = path.parent().map(|d| d.to_path_buf()) {
                tokio::task::spawn_blocking(move || fsync_dir(&dir))
                    .await
                    .map_err(std::io::Error::other)??;
            }
        }
        Ok(())
    }
}

fn fsync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
