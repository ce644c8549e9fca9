//! Object storage for imgd: durable bytes plus the metadata that names them.
//!
//! [`Store`] is the one entry point. It owns a [`BlobStore`] (OpenDAL: local directory by
//! default, any S3-compatible bucket for scale-out) and a SQL pool ([`db`]: SQLite, or
//! PostgreSQL shared by several nodes) holding buckets, objects, multipart uploads, parts
//! and access keys. On PostgreSQL, `cluster` tells the other nodes of each change, so their
//! bucket views (`views`) and variant caches follow.
//!
//! A write flows like this: the body streams into a fresh blob while [`BodyHasher`]
//! computes MD5 and the requested checksums; the caller's verifier checks them (against
//! `Content-MD5`, `x-amz-checksum-*` or a trailer); then one transaction points the
//! object row at the new blob, and only after that is the replaced blob deleted. The
//! `pending_blobs` table lists every blob not yet owned by a row, so start-up (and, on a
//! shared database, a periodic sweep) can remove what an interrupted write left behind
//! ([`Store::sweep_orphan_blobs`]).
//!
//! Reads look up the row, then stream the blob. Blobs are immutable, so a reader racing
//! an overwrite either sees the old bytes whole or retries against the new row. A row
//! has a [`ObjectKind`]: a symlink's reads answer with its target
//! ([`Store::object`]; [`Store::object_row`] is the row itself), and an append is a
//! conditional overwrite of an `Appendable` row with the old bytes and the new ones.
//! Tags live in the row ([`Store::set_tags`]).

pub mod blobs;
mod claims;
pub mod cloudflare;
mod cluster;
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
pub mod telegram;
mod views;

pub use blobs::{BlobBackend, BlobStore};
pub use claims::{CLAIM_PATIENCE, ClaimGuard, FetchClaim};
pub use digest::{BodyDigests, BodyHasher, ChecksumAlgorithm, Checksums};
pub use error::{StoreError, StoreResult};
pub use list::{ListPage, ListQuery, marker_of_token};
pub use model::*;
pub use multipart::{MAX_PART_NUMBER, MIN_PART_SIZE};
pub use objects::{ByteStream, CopyOverrides, PutOptions, check_key, etag_matches};
pub use policy::PolicyPatch;
pub use tags::{MAX_TAGS, check_tags};
pub use telegram::TelegramConfig;

use db::DbPool;
use sqlx::Row;
use std::path::Path;

/// How old a `pending_blobs` entry must be before a sweep on a shared (PostgreSQL)
/// database treats it as a dead node's leftover. Entries live only while one body
/// streams in (a PUT, a part, an append) or between a commit and the deletion of the blob
/// it replaced, so a day is far beyond any live one.
pub const ORPHAN_AGE_MS: i64 = 24 * 3600 * 1000;

/// How often a server on a shared database sweeps for leftovers.
pub const ORPHAN_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

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
    /// (rendered variants) can drop what they hold: this process's writes (on SQLite the
    /// `imgd` commands change buckets and settings, never objects) and, on PostgreSQL,
    /// the other nodes' too ([`cluster`]).
    pub(crate) changes: tokio::sync::broadcast::Sender<Change>,
    pub(crate) bucket_views: std::sync::Arc<views::BucketViews>,
    /// Set on PostgreSQL: tells the other nodes of every change (see [`cluster`]).
    pub(crate) cluster: Option<std::sync::Arc<cluster::Cluster>>,
    pub(crate) dialect: db::Dialect,
}

/// What [`Store::subscribe_changes`] reports. Receivers that lag behind get
/// `RecvError::Lagged` and must treat everything as changed, as for `Everything`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An object was overwritten or deleted.
    Object { bucket: String, key: String },
    /// Changes may have been missed (another node's, while the database's notices were
    /// out of reach): everything derived from objects is suspect.
    Everything,
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
        let database = db::DatabaseConfig::Sqlite {
            path: db_path.to_path_buf(),
        };
        Self::open_with(&database, backend, remove_leftovers).await
    }

    /// [`Store::open`] on any metadata database.
    pub async fn open_with(
        database: &db::DatabaseConfig,
        backend: &BlobBackend,
        remove_leftovers: bool,
    ) -> StoreResult<Self> {
        if let db::DatabaseConfig::Sqlite { path } = database
            && let Some(dir) = path.parent()
        {
            std::fs::create_dir_all(dir)?;
        }
        let pools = db::open(database).await?;
        let blobs = BlobStore::open(backend, &pools.durable).await?;
        let epoch = match database {
            db::DatabaseConfig::Sqlite { path } => {
                let mut epoch_path = path.as_os_str().to_owned();
                epoch_path.push(".bucket-epoch");
                views::EpochSource::file(epoch_path.into())
            }
            db::DatabaseConfig::Postgres { .. } => views::EpochSource::memory(),
        };
        let store = Store {
            dialect: pools.dialect,
            db: pools.durable,
            relaxed: pools.relaxed,
            blobs,
            changes: tokio::sync::broadcast::channel(4096).0,
            bucket_views: std::sync::Arc::new(views::BucketViews::new(epoch)),
            cluster: None,
        };
        let store = match database {
            db::DatabaseConfig::Postgres { url, .. } => cluster::join(store, url).await?,
            db::DatabaseConfig::Sqlite { .. } => store,
        };
        if remove_leftovers {
            store.sweep_orphan_blobs(true).await?;
        }
        Ok(store)
    }

    /// Deletes the blobs that interrupted writes left behind (listed in `pending_blobs`).
    /// At start-up on SQLite this process is the only writer, so every listed blob is a
    /// leftover. Otherwise (on PostgreSQL, where other nodes may be streaming into theirs
    /// right now, and in the sweep a server repeats every [`ORPHAN_SWEEP_EVERY`] for what
    /// a failed deletion left) only entries older than [`ORPHAN_AGE_MS`] go.
    pub async fn sweep_orphan_blobs(&self, at_start_up: bool) -> StoreResult<usize> {
        let cutoff = if at_start_up && self.cluster.is_none() {
            i64::MAX
        } else {
            now_ms() - ORPHAN_AGE_MS
        };
        let removed = self.remove_leftovers(cutoff).await?;
        if removed > 0 {
            tracing::info!(removed, "removed blobs left by interrupted writes");
        }
        Ok(removed)
    }

    pub fn pool(&self) -> &DbPool {
        &self.db
    }

    async fn remove_leftovers(&self, created_before_ms: i64) -> StoreResult<usize> {
        let rows = sqlx::query("SELECT blob FROM pending_blobs WHERE created_ms < $1")
            .bind(created_before_ms)
            .fetch_all(&self.db)
            .await?;
        let mut n = 0;
        for row in rows {
            let blob: String = row.try_get("blob")?;
            // An unreachable blob store must not keep the server from starting: the entry
            // stays, and the next sweep (or start-up) tries again.
            if let Err(e) = self.blobs.delete(&blob).await {
                tracing::warn!(%blob, error = %e, "could not delete a leftover blob; will retry");
                continue;
            }
            sqlx::query("DELETE FROM pending_blobs WHERE blob = $1")
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
                    if let Err(e) = sqlx::query("DELETE FROM pending_blobs WHERE blob = $1")
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
            "INSERT INTO buckets (name, created_ms, acl) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now_ms())
        .bind(acl.as_str())
        .execute(&self.db)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::BucketExists);
        }
        self.buckets_changed().await;
        Ok(())
    }

    pub async fn bucket(&self, name: &str) -> StoreResult<BucketInfo> {
        let row = sqlx::query("SELECT name, created_ms, acl FROM buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.db)
            .await?
            .ok_or(StoreError::NoSuchBucket)?;
        bucket_from_row(&row)
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
        let res = sqlx::query("UPDATE buckets SET acl = $1 WHERE name = $2")
            .bind(acl.as_str())
            .bind(name)
            .execute(&self.db)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NoSuchBucket);
        }
        self.buckets_changed().await;
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
        let exists = sqlx::query("SELECT 1 FROM buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NoSuchBucket);
        }
        let has_objects = sqlx::query("SELECT 1 FROM objects WHERE bucket = $1 LIMIT 1")
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
            "DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = $1) RETURNING blob",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        let orphans = multipart::list_disowned(&mut tx, part_blobs).await?;
        sqlx::query("DELETE FROM uploads WHERE bucket = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        // A retried completion must not answer for an object of a bucket that is gone.
        sqlx::query("DELETE FROM completed_uploads WHERE bucket = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM buckets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM key_grants WHERE bucket = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM styles WHERE bucket = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM secrets WHERE bucket = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.buckets_changed().await;
        self.drop_blobs(orphans).await;
        Ok(())
    }
}

fn bucket_from_row(row: &sqlx::any::AnyRow) -> StoreResult<BucketInfo> {
    let acl: String = row.try_get("acl")?;
    Ok(BucketInfo {
        name: row.try_get("name")?,
        created_ms: row.try_get("created_ms")?,
        acl: BucketAcl::parse(&acl)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown bucket acl {acl:?}")))?,
    })
}
