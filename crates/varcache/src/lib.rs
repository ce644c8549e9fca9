//! imgd's bounded cache of processed image variants.
//!
//! [`VariantCache`] is the one entry point (a cheap, cloneable handle). A variant is
//! stored under `(bucket, lookup)`, where `lookup` is an opaque string the caller builds
//! (object key, canonical pipeline, accept class, ...), with the [`NewVariant`] metadata
//! needed to answer a request from it: ETags, content type, `Last-Modified`, and which
//! source objects it was made from (for invalidation).
//!
//! Two tiers:
//! - **memory**: a bytes-weighted LRU subset of the disk entries, holding [`Bytes`] a
//!   hit hands out without copying or I/O;
//! - **disk**: every entry, one file per variant under the cache directory, bounded by
//!   total bytes with LRU eviction. The LRU order is persisted, so it (and the entries)
//!   survive restarts.
//!
//! Both tiers share one in-memory index (`index.rs`) behind a `std` mutex that is never
//! held across I/O. The persistent index is a small SQLite file (`db.rs`) on a single
//! connection behind an async mutex, the *writer*, which also serialises every
//! mutation (put, invalidation, eviction, flush) so the SQL rows and the in-memory index
//! change in the same order.
//!
//! - **get** (`read.rs`): look up and touch (new LRU tick) under the index lock. Memory hit: clone
//!   the `Bytes` and return; nothing else. Disk hit: read the file on a blocking thread,
//!   check its length and CRC32, re-check under the lock that the entry was not removed
//!   meanwhile, promote it to memory and return. Touched ticks are persisted in batches
//!   by a background flusher every [`FLUSH_INTERVAL`], by [`VariantCache::flush`], and
//!   when the last handle is dropped (`flush.rs`).
//! - **put** (`write.rs`): write the bytes to `tmp/<id>.tmp` (outside every lock); then, under the
//!   writer: pick LRU victims until the new entry fits, drop them (and any entry it
//!   replaces) from the index, unlink their files, rename the temp file into `v/`, then
//!   one transaction deletes their rows and inserts the new one; last, the new entry
//!   joins the index and the memory tier.
//! - **invalidate/purge** (`write.rs`): under the writer, remove matching entries from the index (so
//!   no later get can return them), unlink the files, delete the rows. Each
//!   invalidation is remembered briefly so a put rendered from the old source before it
//!   is refused ([`PutTicket`]).
//!
//! On disk (see `layout.rs`): `lock`, `index.sqlite`, `tmp/` and `v/<xx>/<16 hex id>`
//! holding exactly the variant's bytes. Crash safety rests on ordering: a body is renamed
//! into place before its row commits and unlinked before its row is deleted, so a crash
//! leaves at worst a file without a row or a row without a file. Open (`startup.rs`)
//! deletes `tmp/`, files without rows and rows whose file is missing or of the wrong
//! length, then evicts down to the bound. Bodies are not fsynced (a lost variant costs one
//! re-render), so a body that survived a power loss as garbage of the right length is
//! caught by the CRC32 checked on every disk read, and dropped.

mod db;
mod flush;
mod index;
mod layout;
mod read;
mod startup;
mod write;

use bytes::Bytes;
use db::Db;
use index::{Index, Scope};
use layout::Layout;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How often touched entries' recency is persisted: what a hard crash can lose of the
/// LRU order.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// Entries larger than `max_disk_bytes / MAX_ENTRY_FRACTION` are not stored: one of them
/// would evict too many others.
const MAX_ENTRY_FRACTION: u64 = 8;

#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The cache directory (the server uses `<data_dir>/variants`); created if missing.
    pub dir: PathBuf,
    /// Bound on the variant files' total size; the index file is not counted.
    pub max_disk_bytes: u64,
    /// Bound on the memory tier; entries above an eighth of it stay disk-only.
    pub max_memory_bytes: u64,
}

/// A variant to store.
#[derive(Debug, Clone)]
pub struct NewVariant {
    pub object_key: String,
    /// Other objects of the same bucket it was made from (watermark images): an
    /// invalidation of any of them drops it too.
    pub depends_on: Vec<String>,
    pub source_etag: String,
    /// The variant's strong ETag, unquoted.
    pub etag: String,
    pub content_type: String,
    /// The source's.
    pub last_modified_ms: i64,
    pub vary_accept: bool,
    /// The source's `Cache-Control`, which variant responses carry.
    pub cache_control: Option<String>,
    pub bytes: Bytes,
}

/// A variant found in the cache.
#[derive(Debug, Clone)]
pub struct CachedVariant {
    pub object_key: String,
    pub source_etag: String,
    pub etag: String,
    pub content_type: String,
    pub last_modified_ms: i64,
    pub vary_accept: bool,
    /// The source's `Cache-Control`, which variant responses carry.
    pub cache_control: Option<String>,
    pub bytes: Bytes,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CacheStats {
    pub entries: u64,
    pub disk_bytes: u64,
    pub memory_bytes: u64,
    /// Both tiers.
    pub hits: u64,
    /// The part of `hits` served from memory.
    pub memory_hits: u64,
    pub misses: u64,
    /// Entries dropped from disk to honour the bound (not invalidations, not memory-tier
    /// demotions).
    pub evictions: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("variant cache I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("variant cache index: {0}")]
    Index(#[from] sqlx::Error),
    #[error("variant cache index row: {0}")]
    Row(#[from] serde_json::Error),
    #[error("variant cache task: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("variant cache directory {0} is in use by another cache")]
    Locked(PathBuf),
}

/// The invalidation state at some moment, for [`VariantCache::put_with_ticket`]: take it
/// before reading the source, and a put whose source was invalidated since is refused.
#[derive(Debug, Clone, Copy)]
pub struct PutTicket(u64);

/// The cache handle. Clones share one cache.
#[derive(Clone)]
pub struct VariantCache {
    shared: Arc<Shared>,
}

struct Shared {
    /// Held for the cache's lifetime: two caches on one directory would delete each
    /// other's files as orphans.
    _lock: std::fs::File,
    layout: Layout,
    max_disk: u64,
    max_entry: u64,
    index: Mutex<Index>,
    writer: tokio::sync::Mutex<Db>,
    next_id: AtomicU64,
    hits: AtomicU64,
    memory_hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl std::fmt::Debug for VariantCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VariantCache")
            .field("index", &self.shared.layout.index)
            .field("max_disk_bytes", &self.shared.max_disk)
            .field("stats", &self.stats())
            .finish()
    }
}

impl VariantCache {
    /// Opens or creates the cache directory, loads the index, deletes temp and orphan
    /// files and entries whose file is missing or has the wrong length, evicts down to
    /// the bound, and spawns the background flusher (so it needs a tokio runtime).
    pub async fn open(config: CacheConfig) -> Result<VariantCache, CacheError> {
        let shared = Arc::new(startup::open(config).await?);
        tokio::spawn(flush::flusher(Arc::downgrade(&shared)));
        Ok(VariantCache { shared })
    }

    /// The variant stored under `(bucket, lookup)`, or `None`. A memory hit does no I/O;
    /// a disk hit reads and verifies the file and promotes it to memory.
    pub async fn get(&self, bucket: &str, lookup: &str) -> Option<CachedVariant> {
        self.shared.get(bucket, lookup).await
    }

    /// Stores a variant, evicting least recently used entries to stay under the disk
    /// bound. Returns whether it was stored; failures are logged, never returned, since
    /// a cache must not fail a request. Variants above an eighth of the disk bound are
    /// not stored.
    pub async fn put(&self, bucket: &str, lookup: &str, variant: NewVariant) -> bool {
        let ticket = self.ticket();
        self.put_with_ticket(ticket, bucket, lookup, variant).await
    }

    /// The current invalidation state; see [`VariantCache::put_with_ticket`].
    pub fn ticket(&self) -> PutTicket {
        PutTicket(self.shared.lock().invalidation_seq())
    }

    /// [`VariantCache::put`], refused (false) when an invalidation since `ticket` covers
    /// the variant's object or one of its dependencies. Take the ticket before reading
    /// the source, so a render racing an overwrite of its source cannot cache the old
    /// picture after the overwrite's invalidation.
    pub async fn put_with_ticket(
        &self,
        ticket: PutTicket,
        bucket: &str,
        lookup: &str,
        variant: NewVariant,
    ) -> bool {
        match self.shared.put(ticket, bucket, lookup, variant).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(bucket, error = %e, "variant cache: put failed");
                false
            }
        }
    }

    /// Drops every entry of `bucket` made from `key`: its variants and those that
    /// depend on it (watermarks). Once this returns no get returns them.
    pub async fn invalidate_object(&self, bucket: &str, key: &str) -> usize {
        self.shared
            .remove_scope(Scope::Object {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            })
            .await
    }

    /// Drops every entry of `bucket` whose object key starts with `prefix`.
    pub async fn purge_prefix(&self, bucket: &str, prefix: &str) -> usize {
        self.shared
            .remove_scope(Scope::Prefix {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            })
            .await
    }

    pub async fn purge_bucket(&self, bucket: &str) -> usize {
        self.shared
            .remove_scope(Scope::Bucket(bucket.to_owned()))
            .await
    }

    pub async fn purge_all(&self) -> usize {
        self.shared.remove_scope(Scope::All).await
    }

    /// Persists the recency of entries touched since the last flush.
    pub async fn flush(&self) -> Result<(), CacheError> {
        self.shared.flush().await
    }

    pub fn stats(&self) -> CacheStats {
        let s = &*self.shared;
        let ix = s.lock();
        CacheStats {
            entries: ix.len() as u64,
            disk_bytes: ix.disk_bytes(),
            memory_bytes: ix.mem_bytes(),
            hits: s.hits.load(Ordering::Relaxed),
            memory_hits: s.memory_hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            evictions: s.evictions.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Index> {
        // No code panics while holding it, and a cache must keep serving regardless.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn publish(ix: &Index) {
    metrics::gauge!("imgd_variant_cache_bytes", "tier" => "disk").set(ix.disk_bytes() as f64);
    metrics::gauge!("imgd_variant_cache_bytes", "tier" => "memory").set(ix.mem_bytes() as f64);
    metrics::gauge!("imgd_variant_cache_entries").set(ix.len() as f64);
}
