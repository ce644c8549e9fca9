//! The metadata database: SQLite (the embedded default) or PostgreSQL (several nodes).
//!
//! Every query of the store is in this crate, written once in the SQL the two dialects
//! share (`$N` placeholders, `ON CONFLICT`, `RETURNING`, integer milliseconds, text keys
//! compared bytewise), and run through sqlx's `Any` driver, which picks the backend from
//! the URL. What differs is kept here: the migrations (one directory per dialect), the
//! per-connection settings, and how a write transaction takes its lock.

use crate::error::StoreResult;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub type DbPool = AnyPool;
pub type DbTx = Transaction<'static, Any>;

/// Which metadata database to open, and how many connections to keep.
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    /// A file on local disk, created if missing.
    Sqlite { path: PathBuf },
    /// A PostgreSQL database that the operator created (`postgres://user:pass@host/db`).
    Postgres {
        url: String,
        /// Connections per pool; each node keeps two pools (see [`Pools`]).
        max_connections: u32,
        /// How long a request waits for a connection (or for a lost server to come back)
        /// before it is answered 503.
        acquire_timeout: Duration,
    },
}

impl DatabaseConfig {
    pub fn dialect(&self) -> Dialect {
        match self {
            DatabaseConfig::Sqlite { .. } => Dialect::Sqlite,
            DatabaseConfig::Postgres { .. } => Dialect::Postgres,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The two pools over one database: `durable` commits are on disk when they return;
/// `relaxed` commits survive a process crash but may be lost with the OS (SQLite's
/// `synchronous=NORMAL` in WAL mode; PostgreSQL's `synchronous_commit = off` is the same
/// trade). Only bookkeeping whose loss costs at most a leaked, invisible blob goes
/// through `relaxed`.
#[derive(Clone)]
pub struct Pools {
    pub durable: DbPool,
    pub relaxed: DbPool,
    pub dialect: Dialect,
}

/// A lock key every write transaction on PostgreSQL takes (`pg_advisory_xact_lock`), so
/// writes are serialized across all nodes exactly as SQLite's `BEGIN IMMEDIATE`
/// serializes them in one file: the store's read-check-write steps (conditional puts,
/// appends, multipart completion, task claims) were written for that guarantee.
const PG_WRITE_LOCK: i64 = 0x696d_6764_7772_6974; // "imgdwrit"

pub async fn open(config: &DatabaseConfig) -> StoreResult<Pools> {
    install_default_drivers();
    match config {
        DatabaseConfig::Sqlite { path } => {
            let url = sqlite_url(path);
            let durable = sqlite_pool(&url, "FULL", 8).await?;
            sqlx::migrate!("./migrations/sqlite").run(&durable).await?;
            let relaxed = sqlite_pool(&url, "NORMAL", 4).await?;
            Ok(Pools {
                durable,
                relaxed,
                dialect: Dialect::Sqlite,
            })
        }
        DatabaseConfig::Postgres {
            url,
            max_connections,
            acquire_timeout,
        } => {
            let durable = postgres_pool(url, true, *max_connections, *acquire_timeout).await?;
            // Two nodes starting at once must not both migrate: the migrator takes
            // PostgreSQL's advisory lock for the duration.
            sqlx::migrate!("./migrations/postgres")
                .run(&durable)
                .await?;
            let relaxed =
                postgres_pool(url, false, (*max_connections / 2).max(1), *acquire_timeout).await?;
            Ok(Pools {
                durable,
                relaxed,
                dialect: Dialect::Postgres,
            })
        }
    }
}

/// `sqlite://` plus the path with every byte that a URL would read as syntax escaped.
fn sqlite_url(path: &Path) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const PATH: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'?')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'{')
        .add(b'}');
    let text = path.to_string_lossy();
    format!("sqlite://{}?mode=rwc", utf8_percent_encode(&text, PATH))
}

async fn sqlite_pool(url: &str, synchronous: &'static str, max: u32) -> StoreResult<DbPool> {
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute(format!("PRAGMA synchronous = {synchronous}").as_str())
                    .await?;
                conn.execute("PRAGMA busy_timeout = 30000").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

async fn postgres_pool(
    url: &str,
    durable: bool,
    max: u32,
    acquire_timeout: Duration,
) -> StoreResult<DbPool> {
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(acquire_timeout)
        // A connection that died with the server is found out before it is handed out,
        // so the first request after an outage does not fail on a dead socket.
        .test_before_acquire(true)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                let commit = if durable { "on" } else { "off" };
                conn.execute(format!("SET synchronous_commit = {commit}").as_str())
                    .await?;
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

/// A transaction that holds the database's one write lock from its first statement.
/// SQLite otherwise upgrades a read transaction to a write one lazily, and two such
/// upgrades deadlock with SQLITE_BUSY; PostgreSQL takes [`PG_WRITE_LOCK`].
pub async fn begin_write(pool: &DbPool) -> StoreResult<DbTx> {
    if pool.connect_options().database_url.scheme() == "sqlite" {
        return Ok(pool.begin_with("BEGIN IMMEDIATE").await?);
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS held")
        .bind(PG_WRITE_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// A yes/no column: stored as an integer 0 or 1 in both dialects (the `Any` driver reads
/// SQLite's integers as integers, never as booleans), bound with `i64::from(bool)`.
pub(crate) fn flag(row: &sqlx::any::AnyRow, column: &str) -> StoreResult<bool> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}

impl crate::Store {
    /// Whether the metadata database answers (the health check).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    /// Whether the blob store answers (the health check).
    pub async fn check_blobs(&self) -> StoreResult<()> {
        self.blobs.check().await
    }
}
