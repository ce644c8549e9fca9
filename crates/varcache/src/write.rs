//! The writer's side: puts (body to a temp file outside every lock, then eviction,
//! rename and one index transaction under the writer), invalidations and purges. The
//! order of file and row changes is what makes every crash point harmless; see the
//! crate docs.

use crate::db::IndexRow;
use crate::index::{Entry, Meta, Scope};
use crate::{CacheError, NewVariant, PutTicket, Shared, publish};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A body written to its temp file, waiting to be indexed.
struct Pending {
    id: u64,
    meta: Meta,
    crc: u32,
    bytes: Bytes,
    tmp: PathBuf,
}

impl Shared {
    /// [`crate::VariantCache::put_with_ticket`], with its errors.
    pub(crate) async fn put(
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

    /// Drops every entry `scope` covers and remembers the invalidation for tickets.
    pub(crate) async fn remove_scope(&self, scope: Scope) -> usize {
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

    pub(crate) async fn remove_files(&self, ids: Vec<u64>) {
        if ids.is_empty() {
            return;
        }
        let layout = self.layout.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || layout.remove_files(&ids)).await {
            tracing::warn!(error = %e, "variant cache: file removal task failed");
        }
    }
}
