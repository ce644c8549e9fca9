//! Bucket ACLs and settings for the read hot path, without a database round trip.
//!
//! Every change to a bucket's row moves an epoch on. A reader notes the epoch before it
//! queries and keeps the result only while the epoch still holds that value, so any
//! change whose epoch move came before the read is seen by the next request.
//!
//! Where the epoch lives depends on who can change buckets:
//! - on SQLite, an `imgd` command in another process can, so the epoch is 8 bytes in a
//!   file next to the database, rewritten after each change (reading them costs far less
//!   than a query through the pool);
//! - on PostgreSQL, other nodes can, and they say so through `NOTIFY` ([`crate::cluster`]);
//!   the epoch is a counter in memory that this node's changes and the notices move.

use crate::error::StoreResult;
use crate::{BucketInfo, BucketSettings, Store};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

pub(crate) enum EpochSource {
    File {
        path: PathBuf,
        /// Kept open: writers rewrite the file in place, so a positioned read of this
        /// handle sees their value without a path lookup per request.
        file: OnceLock<std::fs::File>,
        /// Set when this process could not write the epoch: it then always queries.
        unreliable: AtomicBool,
    },
    Memory(AtomicU64),
}

impl EpochSource {
    pub(crate) fn file(path: PathBuf) -> Self {
        EpochSource::File {
            path,
            file: OnceLock::new(),
            unreliable: AtomicBool::new(false),
        }
    }

    pub(crate) fn memory() -> Self {
        EpochSource::Memory(AtomicU64::new(1))
    }
}

type View = (u64, BucketInfo, BucketSettings);

pub(crate) struct BucketViews {
    epoch: EpochSource,
    views: Mutex<HashMap<String, View>>,
}

impl BucketViews {
    pub(crate) fn new(epoch: EpochSource) -> Self {
        let views = BucketViews {
            epoch,
            views: Mutex::new(HashMap::new()),
        };
        if views.current_epoch().is_none() {
            views.bump();
        }
        views
    }

    fn current_epoch(&self) -> Option<u64> {
        match &self.epoch {
            EpochSource::Memory(counter) => Some(counter.load(Ordering::Acquire)),
            EpochSource::File {
                path,
                file,
                unreliable,
            } => {
                use std::os::unix::fs::FileExt;
                if unreliable.load(Ordering::Relaxed) {
                    return None;
                }
                let file = match file.get() {
                    Some(f) => f,
                    None => {
                        let f = std::fs::File::open(path).ok()?;
                        file.get_or_init(|| f)
                    }
                };
                let mut bytes = [0u8; 8];
                file.read_exact_at(&mut bytes, 0).ok()?;
                Some(u64::from_le_bytes(bytes))
            }
        }
    }

    /// Marks every cached view stale.
    pub(crate) fn bump(&self) {
        match &self.epoch {
            EpochSource::Memory(counter) => {
                counter.fetch_add(1, Ordering::AcqRel);
            }
            EpochSource::File {
                path, unreliable, ..
            } => {
                let epoch: u64 = rand::random();
                // Rewritten in place (never replaced), so open handles keep seeing it.
                let written = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .and_then(|f| {
                        use std::os::unix::fs::FileExt;
                        f.write_all_at(&epoch.to_le_bytes(), 0)
                    });
                if let Err(e) = written {
                    // From now on this process queries on every read: slower, never
                    // stale. Another process (a server beside this command) may keep a
                    // stale view; say so.
                    unreliable.store(true, Ordering::Relaxed);
                    tracing::warn!(path = %path.display(), error = %e, "could not write the bucket epoch file; a running server may not see this bucket change until restarted");
                }
            }
        }
        self.views.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Store {
    /// A bucket and its settings, answered from memory while no bucket has changed since
    /// they were read (see [`BucketViews`]).
    pub async fn bucket_view(&self, name: &str) -> StoreResult<(BucketInfo, BucketSettings)> {
        let epoch = self.bucket_views.current_epoch();
        if let Some(epoch) = epoch {
            let views = self
                .bucket_views
                .views
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((seen, info, settings)) = views.get(name)
                && *seen == epoch
            {
                return Ok((info.clone(), settings.clone()));
            }
        }
        let info = self.bucket(name).await?;
        let settings = self.bucket_settings(name).await?;
        if let Some(epoch) = epoch {
            let mut views = self
                .bucket_views
                .views
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            // Bounded by the number of buckets, which is small; a purge keeps it so if
            // names are probed at random.
            if views.len() > 10_000 {
                views.clear();
            }
            views.insert(name.to_owned(), (epoch, info.clone(), settings.clone()));
        }
        Ok((info, settings))
    }
}
