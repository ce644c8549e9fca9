//! Start-up: take the directory's lock, load the index rows, reconcile them with the
//! files on disk (dropping temp files, orphans and rows whose file is missing or of the
//! wrong length), and evict down to the bound before the first request.

use crate::db::{Db, IndexRow};
use crate::index::{Entry, Index, Meta};
use crate::layout::Layout;
use crate::{CacheConfig, CacheError, MAX_ENTRY_FRACTION, Shared, publish};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Opens the cache as [`crate::VariantCache::open`] describes, short of spawning the
/// flusher.
pub(crate) async fn open(config: CacheConfig) -> Result<Shared, CacheError> {
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

    Ok(Shared {
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
    })
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
