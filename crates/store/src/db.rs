//! The metadata database. Every query of the store is in this module or its callers in
//! this crate, written in the SQL that SQLite and PostgreSQL share, so a PostgreSQL pool
//! can replace the SQLite one without touching the store's logic.

use crate::error::StoreResult;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::time::Duration;

pub type DbPool = SqlitePool;
pub type DbTx = Transaction<'static, Sqlite>;

/// The two pools over one database: `durable` commits are on disk when they return;
/// `relaxed` commits survive a process crash but may be lost with the OS (SQLite's
/// `synchronous=NORMAL` in WAL mode; PostgreSQL's `synchronous_commit = off` is the same
/// trade). Only bookkeeping whose loss costs at most a leaked, invisible blob goes
/// through `relaxed`.
#[derive(Clone)]
pub struct Pools {
    pub durable: DbPool,
    pub relaxed: DbPool,
}

pub async fn open(path: &Path) -> StoreResult<Pools> {
    let durable = connect(path, SqliteSynchronous::Full, 8).await?;
    sqlx::migrate!("./migrations").run(&durable).await?;
    let relaxed = connect(path, SqliteSynchronous::Normal, 4).await?;
    Ok(Pools { durable, relaxed })
}

async fn connect(path: &Path, synchronous: SqliteSynchronous, max: u32) -> StoreResult<DbPool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(max)
        .connect_with(options)
        .await?)
}

/// A transaction that takes the write lock up front. SQLite otherwise upgrades a read
/// transaction to a write one lazily, and two such upgrades deadlock with SQLITE_BUSY.
pub async fn begin_write(pool: &DbPool) -> StoreResult<DbTx> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

impl crate::Store {
    /// Whether the metadata database answers (the health check).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }
}
