//! Recency persistence: touched entries' LRU ticks are written in batches, by the
//! background flusher, by [`crate::VariantCache::flush`], and once more when the last
//! handle is dropped, so a hard crash loses at most [`crate::FLUSH_INTERVAL`] of order.

use crate::db::Db;
use crate::{CacheError, FLUSH_INTERVAL, Shared};
use std::sync::{PoisonError, Weak};

impl Shared {
    /// Persists the recency of entries touched since the last flush.
    pub(crate) async fn flush(&self) -> Result<(), CacheError> {
        // Taking the writer first keeps two flushes from writing ticks out of order.
        let mut db = self.writer.lock().await;
        let ticks = self.lock().take_dirty();
        if let Err(e) = db.touch(&ticks).await {
            self.lock().mark_dirty(ticks.iter().map(|&(id, _)| id));
            return Err(e);
        }
        Ok(())
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

/// Flushes every [`crate::FLUSH_INTERVAL`] until the last handle is gone.
pub(crate) async fn flusher(shared: Weak<Shared>) {
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
