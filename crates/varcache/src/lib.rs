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
//! - **get**: look up and touch (new LRU tick) under the index lock. Memory hit: clone
//!   the `Bytes` and return; nothing else. Disk hit: read the file on a blocking thread,
//!   check its length and CRC32, re-check under the lock that the entry was not removed
//!   meanwhile, promote it to memory and return. Touched ticks are persisted in batches
//!   by a background flusher every [`FLUSH_INTERVAL`], by [`VariantCache::flush`], and
//!   when the last handle is dropped.
//! - **put**: write the bytes to `tmp/<id>.tmp` (outside every lock); then, under the
//!   writer: pick LRU victims until the new entry fits, drop them (and any entry it
//!   replaces) from the index, unlink their files, rename the temp file into `v/`, then
//!   one transaction deletes their rows and inserts the new one; last, the new entry
//!   joins the index and the memory tier.
//! - **invalidate/purge**: under the writer, remove matching entries from the index (so
//!   no later get can return them), unlink the files, delete the rows. Each
//!   invalidation is remembered briefly so a put rendered from the old source before it
//!   is refused ([`PutTicket`]).
//!
//! On disk (see `layout.rs`): `lock`, `index.sqlite`, `tmp/` and `v/<xx>/<16 hex id>`
//! holding exactly the variant's bytes. Crash safety rests on ordering: a body is renamed into
//! place before its row commits and unlinked before its row is deleted, so a crash
//! leaves at worst a file without a row or a row without a file. Open deletes `tmp/`,
//! files without rows and rows whose file is missing or of the wrong length, then
//! evicts down to the bound. Bodies are not fsynced (a lost variant costs one re-render),
//! so a body that survived a power loss as garbage of the right length is caught by the
//! CRC32 checked on every disk read, and dropped.

mod db;
mod index;
mod layout;

use bytes::Bytes;
use db::{Db, IndexRow};
use index::{Entry, Index, Meta, Scope};
use layout::Layout;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
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

/// A body written to its temp file, waiting to be indexed.
struct Pending {
    id: u64,
    meta: Meta,
    crc: u32,
    bytes: Bytes,
    tmp: PathBuf,
}

enum Probe {
    Miss,
    Memory(Arc<Meta>, Bytes),
    Disk {
        id: u64,
        size: u64,
        crc: u32,
        meta: Arc<Meta>,
    },
}

impl VariantCache {
    /// Opens or creates the cache directory, loads the index, deletes temp and orphan
    /// files and entries whose file is missing or has the wrong length, evicts down to
    /// the bound, and spawns the background flusher (so it needs a tokio runtime).
    pub async fn open(config: CacheConfig) -> Result<VariantCache, CacheError> {
        let layout = Layout::new(&config.dir);
        let lock = lock_dir(&config.dir, &layout).await?;
        let scan = layout.clone();
        let mut files = tokio::task::spawn_blocking(move || scan.prepare_and_scan()).await??;
        let mut db = Db::open(&layout.index).await?;
        let rows = db.load().await?;
        let loaded_rows = rows.len();

        let mut ix = Index::new(config.max_memory_bytes);
        let mut max_id = 0;
        let mut bad_rows = Vec::new();
        for row in rows {
            max_id = max_id.max(row.id);
            if files.remove(&row.id) != Some(row.size) {
                bad_rows.push(row.id);
                continue;
            }
            // Never written by put (it replaces in one transaction), but a duplicate
            // would be unreachable and unevictable by lookup: keep the recent one.
            if let Some(other) = ix.lookup(&row.bucket, &row.lookup) {
                let other_tick = ix.get(other).map_or(0, |e| e.tick);
                if other_tick >= row.tick {
                    bad_rows.push(row.id);
                    continue;
                }
                ix.remove(other);
                bad_rows.push(other);
            }
            let id = row.id;
            ix.insert(id, entry_from_row(row));
        }
        let orphans: Vec<u64> = files.into_keys().collect();
        max_id = orphans.iter().copied().fold(max_id, u64::max);
        let victims = ix.disk_victims(0, config.max_disk_bytes, None);
        for &id in &victims {
            ix.remove(id);
        }

        let mut doomed_rows = bad_rows;
        doomed_rows.extend(&victims);
        let mut doomed_files = doomed_rows.clone();
        doomed_files.extend(&orphans);
        let rm = layout.clone();
        tokio::task::spawn_blocking(move || rm.remove_files(&doomed_files)).await?;
        db.delete(&doomed_rows).await?;

        tracing::info!(
            dir = %config.dir.display(),
            entries = ix.len(),
            bytes = ix.disk_bytes(),
            dropped = loaded_rows - ix.len() - victims.len(),
            orphans = orphans.len(),
            evicted = victims.len(),
            "variant cache opened"
        );
        publish(&ix);

        let shared = Arc::new(Shared {
            _lock: lock,
            layout,
            max_disk: config.max_disk_bytes,
            max_entry: config.max_disk_bytes / MAX_ENTRY_FRACTION,
            index: Mutex::new(ix),
            writer: tokio::sync::Mutex::new(db),
            next_id: AtomicU64::new(max_id + 1),
            hits: AtomicU64::new(0),
            memory_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        });
        tokio::spawn(flusher(Arc::downgrade(&shared)));
        Ok(VariantCache { shared })
    }

    /// The variant stored under `(bucket, lookup)`, or `None`. A memory hit does no I/O;
    /// a disk hit reads and verifies the file and promotes it to memory.
    pub async fn get(&self, bucket: &str, lookup: &str) -> Option<CachedVariant> {
        let s = &*self.shared;
        let probe = {
            let mut ix = s.lock();
            match ix
                .lookup(bucket, lookup)
                .and_then(|id| ix.touch(id).map(|e| (id, e)))
            {
                None => Probe::Miss,
                Some((id, e)) => match &e.mem {
                    Some(bytes) => Probe::Memory(e.meta.clone(), bytes.clone()),
                    None => Probe::Disk {
                        id,
                        size: e.size,
                        crc: e.crc,
                        meta: e.meta.clone(),
                    },
                },
            }
        };
        let found = match probe {
            Probe::Miss => None,
            Probe::Memory(meta, bytes) => {
                s.memory_hits.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("imgd_variant_cache_hits_total", "tier" => "memory").increment(1);
                s.hits.fetch_add(1, Ordering::Relaxed);
                return Some(cached(&meta, bytes));
            }
            Probe::Disk {
                id,
                size,
                crc,
                meta,
            } => s.read_disk(id, size, crc).await.map(|b| (meta, b)),
        };
        match found {
            Some((meta, bytes)) => {
                metrics::counter!("imgd_variant_cache_hits_total", "tier" => "disk").increment(1);
                s.hits.fetch_add(1, Ordering::Relaxed);
                Some(cached(&meta, bytes))
            }
            None => {
                metrics::counter!("imgd_variant_cache_misses_total").increment(1);
                s.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
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

    /// Reads and verifies a body, then promotes it; `None` when it is gone or bad.
    async fn read_disk(&self, id: u64, size: u64, crc: u32) -> Option<Bytes> {
        let path = self.layout.file(id);
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Bytes>> {
            let data = std::fs::read(&path)?;
            if data.len() as u64 != size || crc32fast::hash(&data) != crc {
                return Ok(None);
            }
            Ok(Some(Bytes::from(data)))
        })
        .await;
        match read {
            Ok(Ok(Some(bytes))) => {
                let mut ix = self.lock();
                // Invalidated while the file was read (readers never wait for the
                // writer): a get overlapping an invalidation may answer either way, but
                // the bytes must not re-enter the memory tier, and a miss is the
                // fresher answer.
                ix.get(id)?;
                ix.promote(id, bytes.clone());
                publish(&ix);
                Some(bytes)
            }
            Ok(Ok(None)) => {
                self.drop_broken(id, "length or checksum mismatch").await;
                None
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                self.drop_broken(id, "file missing").await;
                None
            }
            Ok(Err(e)) => {
                // Possibly transient (descriptor limits): keep the entry.
                tracing::warn!(id, error = %e, "variant cache: cannot read file");
                None
            }
            Err(e) => {
                tracing::warn!(id, error = %e, "variant cache: read task failed");
                None
            }
        }
    }

    /// Forgets an entry whose file turned out bad, unless it is already gone (a
    /// concurrent invalidation unlinks files, which looks the same to a reader).
    async fn drop_broken(&self, id: u64, why: &str) {
        let mut db = self.writer.lock().await;
        if self.lock().remove(id).is_none() {
            return;
        }
        tracing::warn!(id, why, "variant cache: dropping a bad entry");
        self.remove_files(vec![id]).await;
        if let Err(e) = db.delete(&[id]).await {
            tracing::warn!(id, error = %e, "variant cache: cannot delete index row");
        }
        publish(&self.lock());
    }

    async fn put(
        &self,
        ticket: PutTicket,
        bucket: &str,
        lookup: &str,
        variant: NewVariant,
    ) -> Result<bool, CacheError> {
        let size = variant.bytes.len() as u64;
        if size > self.max_entry {
            tracing::debug!(bucket, size, "variant cache: too large to store");
            return Ok(false);
        }
        let bytes = variant.bytes;
        let meta = Meta {
            object_key: variant.object_key,
            depends_on: variant.depends_on,
            source_etag: variant.source_etag,
            etag: variant.etag,
            content_type: variant.content_type,
            last_modified_ms: variant.last_modified_ms,
            vary_accept: variant.vary_accept,
            cache_control: variant.cache_control,
        };
        // Concurrent renders of one variant each put it; the same strong ETag means the
        // same bytes, so the second write would only churn the disk.
        {
            let ix = self.lock();
            if let Some(e) = ix.lookup(bucket, lookup).and_then(|id| ix.get(id))
                && *e.meta == meta
                && e.size == size
            {
                return Ok(true);
            }
        }

        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tmp = self.layout.temp(id);
        let write_path = tmp.clone();
        let body = bytes.clone();
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<u32> {
            std::fs::write(&write_path, &body)?;
            Ok(crc32fast::hash(&body))
        })
        .await;
        let result = match written {
            Ok(Ok(crc)) => {
                let pending = Pending {
                    id,
                    meta,
                    crc,
                    bytes,
                    tmp: tmp.clone(),
                };
                self.commit(ticket, bucket, lookup, pending).await
            }
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(e.into()),
        };
        if !matches!(result, Ok(true)) {
            // Usually gone already (renamed); a leftover would be wiped at open anyway.
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// The indexing half of a put, once the body is in its temp file.
    async fn commit(
        &self,
        ticket: PutTicket,
        bucket: &str,
        lookup: &str,
        pending: Pending,
    ) -> Result<bool, CacheError> {
        let Pending {
            id,
            meta,
            crc,
            bytes,
            tmp,
        } = pending;
        let size = bytes.len() as u64;
        let mut db = self.writer.lock().await;
        let (removed, evicted, tick) = {
            let mut ix = self.lock();
            if ix.invalidated_since(ticket.0, bucket, &meta) {
                tracing::debug!(bucket, key = %meta.object_key, "variant cache: source invalidated during render");
                return Ok(false);
            }
            let old = ix.lookup(bucket, lookup);
            let victims = ix.disk_victims(size, self.max_disk, old);
            let evicted = victims.len() as u64;
            let removed: Vec<u64> = old.into_iter().chain(victims).collect();
            for &r in &removed {
                ix.remove(r);
            }
            (removed, evicted, ix.fresh_tick())
        };
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
            metrics::counter!("imgd_variant_cache_evictions_total").increment(evicted);
        }
        // Files go before rows, and the new file arrives before its row: see the crate
        // docs for why every crash point is then harmless.
        self.remove_files(removed.clone()).await;
        let path = self.layout.file(id);
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            if let Err(e) = db.delete(&removed).await {
                tracing::warn!(error = %e, "variant cache: cannot delete index rows");
            }
            publish(&self.lock());
            return Err(e.into());
        }
        let meta = Arc::new(meta);
        let row = IndexRow {
            id,
            bucket: bucket.to_owned(),
            lookup: lookup.to_owned(),
            object_key: meta.object_key.clone(),
            depends_on: meta.depends_on.clone(),
            source_etag: meta.source_etag.clone(),
            etag: meta.etag.clone(),
            content_type: meta.content_type.clone(),
            last_modified_ms: meta.last_modified_ms,
            vary_accept: meta.vary_accept,
            cache_control: meta.cache_control.clone(),
            size,
            crc,
            tick,
        };
        if let Err(e) = db.commit_put(&removed, &row).await {
            self.remove_files(vec![id]).await;
            publish(&self.lock());
            return Err(e);
        }
        let mut ix = self.lock();
        ix.insert(
            id,
            Entry {
                bucket: row.bucket,
                lookup: row.lookup,
                meta,
                size,
                crc,
                tick,
                mem: None,
            },
        );
        ix.promote(id, bytes);
        publish(&ix);
        Ok(true)
    }

    async fn remove_scope(&self, scope: Scope) -> usize {
        let mut db = self.writer.lock().await;
        let ids = {
            let mut ix = self.lock();
            let ids = ix.matching(&scope);
            for &id in &ids {
                ix.remove(id);
            }
            ix.record_invalidation(scope.clone());
            publish(&ix);
            ids
        };
        if ids.is_empty() {
            return 0;
        }
        self.remove_files(ids.clone()).await;
        let deleted = match scope {
            Scope::All => db.delete_all().await,
            _ => db.delete(&ids).await,
        };
        if let Err(e) = deleted {
            // The files are gone, so open drops these rows.
            tracing::warn!(error = %e, "variant cache: cannot delete index rows");
        }
        ids.len()
    }

    async fn flush(&self) -> Result<(), CacheError> {
        // Taking the writer first keeps two flushes from writing ticks out of order.
        let mut db = self.writer.lock().await;
        let ticks = self.lock().take_dirty();
        if let Err(e) = db.touch(&ticks).await {
            self.lock().mark_dirty(ticks.iter().map(|&(id, _)| id));
            return Err(e);
        }
        Ok(())
    }

    async fn remove_files(&self, ids: Vec<u64>) {
        if ids.is_empty() {
            return;
        }
        let layout = self.layout.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || layout.remove_files(&ids)).await {
            tracing::warn!(error = %e, "variant cache: file removal task failed");
        }
    }
}

impl Drop for Shared {
    /// The last handle is gone: persist what the flusher has not, on a fresh connection
    /// (this one cannot be moved out of `&mut self` into a task).
    fn drop(&mut self) {
        let ticks = self
            .index
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take_dirty();
        if ticks.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(
                entries = ticks.len(),
                "variant cache: no runtime to flush recency on drop"
            );
            return;
        };
        let path = self.layout.index.clone();
        runtime.spawn(async move {
            let written = match Db::open(&path).await {
                Ok(mut db) => {
                    let r = db.touch(&ticks).await;
                    db.close().await;
                    r
                }
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::warn!(error = %e, "variant cache: final flush failed");
            }
        });
    }
}

/// Takes the directory's lock file, waiting a little: a cache just dropped may still be
/// finishing a background flush in this process.
async fn lock_dir(dir: &std::path::Path, layout: &Layout) -> Result<std::fs::File, CacheError> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&layout.lock)?;
    for _ in 0..40 {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
    }
    Err(CacheError::Locked(dir.to_path_buf()))
}

async fn flusher(shared: Weak<Shared>) {
    let mut interval = tokio::time::interval(FLUSH_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(e) = shared.flush().await {
            tracing::warn!(error = %e, "variant cache: flushing recency failed");
        }
    }
}

fn entry_from_row(row: IndexRow) -> Entry {
    Entry {
        bucket: row.bucket,
        lookup: row.lookup,
        meta: Arc::new(Meta {
            object_key: row.object_key,
            depends_on: row.depends_on,
            source_etag: row.source_etag,
            etag: row.etag,
            content_type: row.content_type,
            last_modified_ms: row.last_modified_ms,
            vary_accept: row.vary_accept,
            cache_control: row.cache_control,
        }),
        size: row.size,
        crc: row.crc,
        tick: row.tick,
        mem: None,
    }
}

fn cached(meta: &Meta, bytes: Bytes) -> CachedVariant {
    CachedVariant {
        object_key: meta.object_key.clone(),
        source_etag: meta.source_etag.clone(),
        etag: meta.etag.clone(),
        content_type: meta.content_type.clone(),
        last_modified_ms: meta.last_modified_ms,
        vary_accept: meta.vary_accept,
        cache_control: meta.cache_control.clone(),
        bytes,
    }
}

fn publish(ix: &Index) {
    metrics::gauge!("imgd_variant_cache_bytes", "tier" => "disk").set(ix.disk_bytes() as f64);
    metrics::gauge!("imgd_variant_cache_bytes", "tier" => "memory").set(ix.mem_bytes() as f64);
    metrics::gauge!("imgd_variant_cache_entries").set(ix.len() as f64);
}
