//! The persistent index: one SQLite table in the cache directory, written only by the
//! cache's single connection. A row says "file `<id>` holds these bytes for this
//! lookup"; the file is the proof. Rows are written after their file is renamed into
//! place and deleted after their file is unlinked, so a crash leaves at worst a row
//! without its file or a file without its row, and open drops both.

use crate::CacheError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row as _, SqliteConnection};
use std::path::Path;
use std::time::Duration;

const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    bucket TEXT NOT NULL,
    lookup TEXT NOT NULL,
    object_key TEXT NOT NULL,
    depends_on TEXT NOT NULL,
    source_etag TEXT NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    vary_accept INTEGER NOT NULL,
    cache_control TEXT,
    size INTEGER NOT NULL,
    crc32 INTEGER NOT NULL,
    tick INTEGER NOT NULL
)";

pub(crate) struct IndexRow {
    pub id: u64,
    pub bucket: String,
    pub lookup: String,
    pub object_key: String,
    pub depends_on: Vec<String>,
    pub source_etag: String,
    pub etag: String,
    pub content_type: String,
    pub last_modified_ms: i64,
    pub vary_accept: bool,
    pub cache_control: Option<String>,
    pub size: u64,
    pub crc: u32,
    pub tick: u64,
}

pub(crate) struct Db {
    conn: SqliteConnection,
}

impl Db {
    pub async fn open(path: &Path) -> Result<Db, CacheError> {
        // synchronous=NORMAL: a commit survives a process crash but maybe not a power
        // loss; losing recent rows only orphans files, which open removes.
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .disable_statement_logging()
            .connect()
            .await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut conn)
            .await?;
        if version != SCHEMA_VERSION {
            // A cache may always start over; the orphaned files go at the scan.
            sqlx::query("DROP TABLE IF EXISTS entries")
                .execute(&mut conn)
                .await?;
        }
        sqlx::query(SCHEMA).execute(&mut conn).await?;
        sqlx::query(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .execute(&mut conn)
            .await?;
        Ok(Db { conn })
    }

    pub async fn load(&mut self) -> Result<Vec<IndexRow>, CacheError> {
        let rows = sqlx::query(
            "SELECT id, bucket, lookup, object_key, depends_on, source_etag, etag, content_type,
                    last_modified_ms, vary_accept, cache_control, size, crc32, tick
             FROM entries",
        )
        .fetch_all(&mut self.conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let depends_on: String = row.try_get("depends_on")?;
            out.push(IndexRow {
                id: row.try_get::<i64, _>("id")? as u64,
                bucket: row.try_get("bucket")?,
                lookup: row.try_get("lookup")?,
                object_key: row.try_get("object_key")?,
                depends_on: serde_json::from_str(&depends_on)?,
                source_etag: row.try_get("source_etag")?,
                etag: row.try_get("etag")?,
                content_type: row.try_get("content_type")?,
                last_modified_ms: row.try_get("last_modified_ms")?,
                vary_accept: row.try_get("vary_accept")?,
                cache_control: row.try_get("cache_control")?,
                size: row.try_get::<i64, _>("size")? as u64,
                crc: row.try_get::<i64, _>("crc32")? as u32,
                tick: row.try_get::<i64, _>("tick")? as u64,
            });
        }
        Ok(out)
    }

    /// Deletes `removed` and inserts `row` in one transaction.
    pub async fn commit_put(&mut self, removed: &[u64], row: &IndexRow) -> Result<(), CacheError> {
        let depends_on = serde_json::to_string(&row.depends_on)?;
        let mut tx = self.conn.begin().await?;
        for &id in removed {
            sqlx::query("DELETE FROM entries WHERE id = ?")
                .bind(id as i64)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO entries (id, bucket, lookup, object_key, depends_on, source_etag, etag,
                                  content_type, last_modified_ms, vary_accept, cache_control, size, crc32, tick)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.id as i64)
        .bind(&row.bucket)
        .bind(&row.lookup)
        .bind(&row.object_key)
        .bind(depends_on)
        .bind(&row.source_etag)
        .bind(&row.etag)
        .bind(&row.content_type)
        .bind(row.last_modified_ms)
        .bind(row.vary_accept)
        .bind(&row.cache_control)
        .bind(row.size as i64)
        .bind(row.crc as i64)
        .bind(row.tick as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete(&mut self, ids: &[u64]) -> Result<(), CacheError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.conn.begin().await?;
        for &id in ids {
            sqlx::query("DELETE FROM entries WHERE id = ?")
                .bind(id as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_all(&mut self) -> Result<(), CacheError> {
        sqlx::query("DELETE FROM entries")
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Persists access ticks, `(id, tick)`.
    pub async fn touch(&mut self, ticks: &[(u64, u64)]) -> Result<(), CacheError> {
        if ticks.is_empty() {
            return Ok(());
        }
        let mut tx = self.conn.begin().await?;
        for &(id, tick) in ticks {
            sqlx::query("UPDATE entries SET tick = ? WHERE id = ?")
                .bind(tick as i64)
                .bind(id as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn close(self) {
        if let Err(e) = self.conn.close().await {
            tracing::debug!(error = %e, "variant cache: closing the index");
        }
    }
}
