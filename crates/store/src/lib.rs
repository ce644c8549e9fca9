//! Object storage for imgd: durable bytes plus the metadata that names them.
//!
//! [`Store`] is the one entry point. It owns a [`BlobStore`] (OpenDAL: local directory by
//! default, any S3-compatible bucket for scale-out) and a SQL pool ([`db`]) holding
//! buckets, objects, multipart uploads, parts and access keys.
//!
//! A write flows like this: the body streams into a fresh blob while [`BodyHasher`]
//! computes MD5 and the requested checksums; the caller's verifier checks them (against
//! `Content-MD5`, `x-amz-checksum-*` or a trailer); then one transaction points the
//! object row at the new blob, and only after that is the replaced blob deleted. The
//! `pending_blobs` table lists every blob not yet owned by a row, so start-up can remove
//! what an interrupted write left behind ([`Store::open`]).
//!
//! Reads look up the row, then stream the blob. Blobs are immutable, so a reader racing
//! an overwrite either sees the old bytes whole or retries against the new row. A row
//! has a [`ObjectKind`]: a symlink's reads answer with its target
//! ([`Store::object`]; [`Store::object_row`] is the row itself), and an append is a
//! conditional overwrite of an `Appendable` row with the old bytes and the new ones.
//! Tags live in the row ([`Store::set_tags`]).

pub mod blobs;
pub mod cloudflare;
pub mod db;
pub mod digest;
mod error;
mod http_transport;
pub mod keys;
mod list;
pub mod model;
mod multipart;
mod objects;
pub mod policy;
pub mod secrets;
pub mod styles;
mod tags;
pub mod tasks;

pub use blobs::{BlobBackend, BlobStore};
pub use digest::{BodyDigests, BodyHasher, ChecksumAlgorithm, Checksums};
pub use error::{StoreError, StoreResult};
pub use list::{ListPage, ListQuery, marker_of_token};
pub use model::*;
pub use multipart::{MAX_PART_NUMBER, MIN_PART_SIZE};
pub use objects::{ByteStream, CopyOverrides, PutOptions, check_key, etag_matches};
pub use policy::PolicyPatch;
pub use tags::{MAX_TAGS, check_tags};

use db::DbPool;
use sqlx::Row;
use std::path::Path;

/// S3's limit on key length, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Bucket names imgd keeps for its own paths: `/client/v4/` (the Cloudflare Images API)
/// and `/cdn-cgi/` (Cloudflare delivery and transform URLs) are routed to the Cloudflare
/// door on every host, so a bucket of that name could never be reached in path style.
pub const RESERVED_BUCKET_NAMES: [&str; 2] = ["client", "cdn-cgi"];

/// Which of S3's bucket naming rules `name` breaks, as a sentence for the client; `None`
/// for a valid name. The rules are the ones s3s 0.14.1 applies by default (its
/// `check_bucket_name`), so a name it would accept is accepted here too; the point of
/// having them here is that a refusal can say which rule was broken.
pub fn bucket_name_problem(name: &str) -> Option<String> {
    let rules = "Bucket names must be 3 to 63 characters long, use only lower-case letters, \
                 digits, dots and hyphens, begin and end with a letter or digit, contain no \
                 two adjacent dots, not look like an IP address and not start with xn--";
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    let broken = if !(3..=63).contains(&bytes.len()) {
        format!("it is {} characters long", name.chars().count())
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        format!("it contains {c:?}")
    } else if !bytes.first().copied().is_some_and(alnum)
        || !bytes.last().copied().is_some_and(alnum)
    {
        "it does not begin and end with a letter or digit".to_owned()
    } else if name.contains("..") {
        "it contains two adjacent dots".to_owned()
    } else if name.parse::<std::net::IpAddr>().is_ok() {
        "it is formatted as an IP address".to_owned()
    } else if name.starts_with("xn--") {
        "it starts with xn--".to_owned()
    } else {
        return None;
    };
    Some(format!(
        "The specified bucket name {name:?} is not valid: {broken}. {rules}."
    ))
}

#[derive(Clone)]
pub struct Store {
    /// Commits here are on disk when they return: everything a client is told is done.
    pub(crate) db: DbPool,
    /// Pending-blob bookkeeping only (see [`db::Pools`]).
    pub(crate) relaxed: DbPool,
    pub(crate) blobs: BlobStore,
    /// Announces every committed overwrite and delete, so caches derived from objects
    /// (rendered variants) can drop what they hold. Only this process's writes appear
    /// here, which covers every object write on one node (the `imgd` commands change
    /// buckets and settings, never objects).
    pub(crate) changes: tokio::sync::broadcast::Sender<ObjectChanged>,
    pub(crate) bucket_views: std::sync::Arc<BucketViews>,
}

/// Bucket ACLs and settings for the read hot path, without a database round trip.
///
/// Every change to a bucket's row (by this server, or by an `imgd` command in another
/// process) is followed by a fresh random value written to the epoch file next to the
/// database. A reader notes the epoch before it queries and keeps the result only while
/// the file still holds that epoch, so any change committed before the file was
/// rewritten is seen by the next request. Reading 8 bytes of a cached file costs far
/// less than a query through the pool.
pub(crate) struct BucketViews {
    epoch_path: std::path::PathBuf,
    /// Kept open: writers rewrite the file in place, so a positioned read of this handle
    /// sees their value without a path lookup per request.
    epoch_file: std::sync::OnceLock<std::fs::File>,
    /// Set when this process could not write the epoch: it then always queries.
    unreliable: std::sync::atomic::AtomicBool,
    views: std::sync::Mutex<std::collections::HashMap<String, (u64, BucketInfo, BucketSettings)>>,
}

impl BucketViews {
    fn current_epoch(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        if self.unreliable.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let file = match self.epoch_file.get() {
            Some(f) => f,
            None => {
                let f = std::fs::File::open(&self.epoch_path).ok()?;
                self.epoch_file.get_or_init(|| f)
            }
        };
        let mut bytes = [0u8; 8];
        file.read_exact_at(&mut bytes, 0).ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    fn bump(&self) {
        let epoch: u64 = rand::random();
        // Rewritten in place (never replaced), so open handles keep seeing the file.
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.epoch_path)
            .and_then(|f| {
                use std::os::unix::fs::FileExt;
                f.write_all_at(&epoch.to_le_bytes(), 0)
            });
        if let Err(e) = written {
            // From now on this process queries on every read: slower, never stale.
            // Another process (a server beside this command) may keep a stale view; say so.
            self.unreliable
                .store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(path = %self.epoch_path.display(), error = %e, "could not write the bucket epoch file; a running server may not see this bucket change until restarted");
        }
        self.views.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// An object was written or deleted. Receivers that lag behind get
/// `RecvError::Lagged` and must treat everything as changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectChanged {
    pub bucket: String,
    pub key: String,
}

impl Store {
    /// Opens (creating if needed) the metadata database and the blob backend. The server
    /// opens with `remove_leftovers`, which deletes what interrupted writes left behind;
    /// admin commands, which may run beside a live server, must not.
    pub async fn open(
        db_path: &Path,
        backend: &BlobBackend,
        remove_leftovers: bool,
    ) -> StoreResult<Self> {
        if let Some(dir) = db_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let pools = db::open(db_path).await?;
        let blobs = BlobStore::open(backend).await?;
        let mut epoch_path = db_path.as_os_str().to_owned();
        epoch_path.push(".bucket-epoch");
        let store = Store {
            db: pools.durable,
            relaxed: pools.relaxed,
            blobs,
            changes: tokio::sync::broadcast::channel(4096).0,
            bucket_views: std::sync::Arc::new(BucketViews {
                epoch_path: epoch_path.into(),
                epoch_file: std::sync::OnceLock::new(),
                unreliable: std::sync::atomic::AtomicBool::new(false),
                views: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
        };
        if store.bucket_views.current_epoch().is_none() {
            store.bucket_views.bump();
        }
        if remove_leftovers {
            let removed = store.remove_leftovers().await?;
            if removed > 0 {
                tracing::info!(removed, "removed blobs left by interrupted writes");
            }
        }
        Ok(store)
    }

    pub fn pool(&self) -> &DbPool {
        &self.db
    }

    /// A feed of committed overwrites and deletes made through this `Store` (and its
    /// clones) from now on.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<ObjectChanged> {
        self.changes.subscribe()
    }

    pub(crate) fn announce_change(&self, bucket: &str, key: &str) {
        // No receivers is the normal case for admin commands; nothing to do then.
        let _ = self.changes.send(ObjectChanged {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        });
    }

    async fn remove_leftovers(&self) -> StoreResult<usize> {
        let rows = sqlx::query("SELECT blob FROM pending_blobs")
            .fetch_all(&self.db)
            .await?;
        let mut n = 0;
        for row in rows {
            let blob: String = row.try_get("blob")?;
            self.blobs.delete(&blob).await?;
            sqlx::query("DELETE FROM pending_blobs WHERE blob = ?")
                .bind(&blob)
                .execute(&self.db)
                .await?;
            n += 1;
        }
        Ok(n)
    }

    /// Deletes blobs that no row owns any more, then forgets them. Failures leave the
    /// pending row, so the next start-up retries.
    pub(crate) async fn drop_blobs(&self, blobs: Vec<String>) {
        for blob in blobs {
            match self.blobs.delete(&blob).await {
                Ok(()) => {
                    if let Err(e) = sqlx::query("DELETE FROM pending_blobs WHERE blob = ?")
                        .bind(&blob)
                        .execute(&self.relaxed)
                        .await
                    {
                        tracing::warn!(%blob, error = %e, "could not forget a deleted blob");
                    }
                }
                Err(e) => tracing::warn!(%blob, error = %e, "could not delete a replaced blob"),
            }
        }
    }

    // ---- buckets -------------------------------------------------------------------

    pub async fn create_bucket(&self, name: &str, acl: BucketAcl) -> StoreResult<()> {
        if RESERVED_BUCKET_NAMES.contains(&name) {
            return Err(StoreError::InvalidArgument(format!(
                "The bucket name {name:?} is reserved: imgd routes /{name}/ to its Cloudflare Images door"
            )));
        }
        let res = sqlx::query(
            "INSERT INTO buckets (name, created_ms, acl) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now_ms())
        .bind(acl.as_str())
        .execute(&self.db)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::BucketExists);
        }
        self.buckets_changed();
        Ok(())
    }

    pub async fn bucket(&self, name: &str) -> StoreResult<BucketInfo> {
        let row = sqlx::query("SELECT name, created_ms, acl FROM buckets WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.db)
            .await?
            .ok_or(StoreError::NoSuchBucket)?;
        bucket_from_row(&row)
    }

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

    /// Marks every cached bucket view stale (after a change to a bucket row).
    pub(crate) fn buckets_changed(&self) {
        self.bucket_views.bump();
    }

    pub async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>> {
        let rows = sqlx::query("SELECT name, created_ms, acl FROM buckets ORDER BY name")
            .fetch_all(&self.db)
            .await?;
        rows.iter().map(bucket_from_row).collect()
    }

    /// Sets the S3 ACL. Delivery follows the ACL afterwards: an explicit delivery policy
    /// (`signed`, say) is cleared, since the client just said who may read.
    pub async fn set_bucket_acl(&self, name: &str, acl: BucketAcl) -> StoreResult<()> {
        let res = sqlx::query("UPDATE buckets SET acl = ? WHERE name = ?")
            .bind(acl.as_str())
            .bind(name)
            .execute(&self.db)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NoSuchBucket);
        }
        self.buckets_changed();
        self.update_bucket_settings(name, |s| {
            s.delivery = None;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Deletes an empty bucket. A bucket holding objects or unfinished multipart uploads
    /// is not empty.
    pub async fn delete_bucket(&self, name: &str) -> StoreResult<()> {
        let mut tx = db::begin_write(&self.db).await?;
        let exists = sqlx::query("SELECT 1 FROM buckets WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NoSuchBucket);
        }
        let has_objects = sqlx::query("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if has_objects {
            return Err(StoreError::BucketNotEmpty);
        }
        // Unfinished uploads do not keep a bucket alive (S3 and Ceph RGW abort them):
        // their parts' blobs are disowned here, listed as pending in this transaction,
        // and deleted once it commits.
        let part_blobs = sqlx::query(
            "DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?) RETURNING blob",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        let orphans = multipart::list_disowned(&mut tx, part_blobs).await?;
        sqlx::query("DELETE FROM uploads WHERE bucket = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        // A retried completion must not answer for an object of a bucket that is gone.
        sqlx::query("DELETE FROM completed_uploads WHERE bucket = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM buckets WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM key_grants WHERE bucket = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM styles WHERE bucket = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM secrets WHERE bucket = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.buckets_changed();
        self.drop_blobs(orphans).await;
        Ok(())
    }
}

fn bucket_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<BucketInfo> {
    let acl: String = row.try_get("acl")?;
    Ok(BucketInfo {
        name: row.try_get("name")?,
        created_ms: row.try_get("created_ms")?,
        acl: BucketAcl::parse(&acl)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown bucket acl {acl:?}")))?,
    })
}
