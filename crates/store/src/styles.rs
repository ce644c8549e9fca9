//! Per-bucket named styles and bucket settings.
//!
//! A style is a process string stored under a name; the server parses it when a request
//! names the style, so a style saved by an older or newer imgd is checked by the running
//! one. Settings are one JSON document per bucket ([`BucketSettings`]).

use crate::error::{StoreError, StoreResult};
use crate::model::{BucketAcl, BucketSettings, Style, now_ms};
use crate::{Store, db};
use sqlx::Row;

/// OSS's rule for style names: letters, digits, `-`, `_` and `.`, 1 to 64 characters.
pub fn valid_style_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Store {
    /// Creates or replaces a style. The caller has checked that `process` parses.
    pub async fn put_style(&self, bucket: &str, name: &str, process: &str) -> StoreResult<()> {
        if !valid_style_name(name) {
            return Err(StoreError::InvalidArgument(format!(
                "style name {name:?} must be 1-64 letters, digits, '-', '_' or '.'"
            )));
        }
        let mut tx = db::begin_write(&self.db).await?;
        let exists = sqlx::query("SELECT 1 FROM buckets WHERE name = $1")
            .bind(bucket)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NoSuchBucket);
        }
        sqlx::query(
            "INSERT INTO styles (bucket, name, process, modified_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (bucket, name) DO UPDATE SET process = excluded.process, modified_ms = excluded.modified_ms",
        )
        .bind(bucket)
        .bind(name)
        .bind(process)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn style(&self, bucket: &str, name: &str) -> StoreResult<Option<Style>> {
        let row = sqlx::query(
            "SELECT name, process, modified_ms FROM styles WHERE bucket = $1 AND name = $2",
        )
        .bind(bucket)
        .bind(name)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(style_from_row).transpose()
    }

    pub async fn list_styles(&self, bucket: &str) -> StoreResult<Vec<Style>> {
        self.bucket(bucket).await?;
        let rows = sqlx::query(
            "SELECT name, process, modified_ms FROM styles WHERE bucket = $1 ORDER BY name",
        )
        .bind(bucket)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(style_from_row).collect()
    }

    pub async fn delete_style(&self, bucket: &str, name: &str) -> StoreResult<()> {
        let res = sqlx::query("DELETE FROM styles WHERE bucket = $1 AND name = $2")
            .bind(bucket)
            .bind(name)
            .execute(&self.db)
            .await?;
        if res.rows_affected() == 0 {
            // Nothing deleted: say which of the two is missing, the bucket or its style.
            self.bucket(bucket).await?;
            return Err(StoreError::InvalidArgument(format!(
                "bucket {bucket} has no style {name:?}"
            )));
        }
        Ok(())
    }

    pub async fn bucket_settings(&self, bucket: &str) -> StoreResult<BucketSettings> {
        let row = sqlx::query("SELECT settings FROM buckets WHERE name = $1")
            .bind(bucket)
            .fetch_optional(&self.db)
            .await?
            .ok_or(StoreError::NoSuchBucket)?;
        let text: String = row.try_get("settings")?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("settings of bucket {bucket}: {e}")))
    }

    /// Reads, changes and writes a bucket's settings in one transaction, so concurrent
    /// updates of different fields do not undo each other.
    pub async fn update_bucket_settings(
        &self,
        bucket: &str,
        change: impl FnOnce(&mut BucketSettings) -> StoreResult<()>,
    ) -> StoreResult<BucketSettings> {
        self.update_bucket_row(bucket, None, change).await
    }

    /// [`Store::update_bucket_settings`], also setting the ACL when `acl` is given: in the
    /// same transaction, so no reader sees a new ACL beside the old delivery policy.
    pub(crate) async fn update_bucket_row(
        &self,
        bucket: &str,
        acl: Option<BucketAcl>,
        change: impl FnOnce(&mut BucketSettings) -> StoreResult<()>,
    ) -> StoreResult<BucketSettings> {
        let mut tx = db::begin_write(&self.db).await?;
        let row = sqlx::query("SELECT settings FROM buckets WHERE name = $1")
            .bind(bucket)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NoSuchBucket)?;
        let text: String = row.try_get("settings")?;
        let mut settings: BucketSettings = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("settings of bucket {bucket}: {e}")))?;
        change(&mut settings)?;
        let text = serde_json::to_string(&settings)
            .map_err(|e| StoreError::Corrupt(format!("settings of bucket {bucket}: {e}")))?;
        sqlx::query("UPDATE buckets SET acl = COALESCE($1, acl), settings = $2 WHERE name = $3")
            .bind(acl.map(BucketAcl::as_str))
            .bind(text)
            .bind(bucket)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.buckets_changed().await;
        Ok(settings)
    }
}

fn style_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Style> {
    Ok(Style {
        name: row.try_get("name")?,
        process: row.try_get("process")?,
        modified_ms: row.try_get("modified_ms")?,
    })
}
