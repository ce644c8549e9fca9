//! The read path: look up and touch under the index lock; a memory hit hands out its
//! `Bytes`, a disk hit reads the file on a blocking thread, checks length and CRC32,
//! and promotes it unless it was invalidated meanwhile. Bad files are dropped.

use crate::index::Meta;
use crate::{CachedVariant, Shared, publish};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What the index held for a lookup, copied out under its lock so that the disk read
/// happens after the lock is released.
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

impl Shared {
    /// [`crate::VariantCache::get`].
    pub(crate) async fn get(&self, bucket: &str, lookup: &str) -> Option<CachedVariant> {
        let probe = {
            let mut ix = self.lock();
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
                self.memory_hits.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("imgd_variant_cache_hits_total", "tier" => "memory").increment(1);
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Some(cached(&meta, bytes));
            }
            Probe::Disk {
                id,
                size,
                crc,
                meta,
            } => self.read_disk(id, size, crc).await.map(|b| (meta, b)),
        };
        match found {
            Some((meta, bytes)) => {
                metrics::counter!("imgd_variant_cache_hits_total", "tier" => "disk").increment(1);
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(cached(&meta, bytes))
            }
            None => {
                metrics::counter!("imgd_variant_cache_misses_total").increment(1);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
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
