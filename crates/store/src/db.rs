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

pub async fn open(path: &Path) -> StoreResult<DbPool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit that returned is on disk, which is what lets a 200 survive power loss.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// A transaction that takes the write lock up front. SQLite otherwise upgrades a read
/// transaction to a write one lazily, and two such upgrades deadlock with SQLITE_BUSY.
pub async fn begin_write(pool: &DbPool) -> StoreResult<DbTx> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}
