//! Per-image records of the Images API. The bytes are the object `image_id` in the
//! account's bucket; the record adds what the API reports (filename, metadata, access,
//! creator, upload time) and the life of a direct creator upload.
//!
//! An id is claimed by inserting its record before any byte is stored (state
//! `uploading`), so two uploads can never race for one id, and the record turns `ready`
//! only once the object is durable. A failed upload removes its claim (or, for a direct
//! upload, returns the draft to `draft`), so nothing half-stored is ever listed.

use crate::Store;
use crate::db;
use crate::error::{StoreError, StoreResult};
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageState {
    Ready,
    Draft,
    Uploading,
}

impl ImageState {
    fn as_str(self) -> &'static str {
        match self {
            ImageState::Ready => "ready",
            ImageState::Draft => "draft",
            ImageState::Uploading => "uploading",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "ready" => Ok(ImageState::Ready),
            "draft" => Ok(ImageState::Draft),
            "uploading" => Ok(ImageState::Uploading),
            other => Err(StoreError::Corrupt(format!("image state {other:?}"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CfImage {
    pub account_id: String,
    pub image_id: String,
    pub filename: String,
    /// The metadata JSON document as the client gave it.
    pub meta: String,
    pub require_signed: bool,
    pub creator: Option<String>,
    pub uploaded_ms: i64,
    pub state: ImageState,
    /// When a direct upload's URL stops working.
    pub upload_expires_ms: Option<i64>,
}

/// What a new image record says before its bytes arrive.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub image_id: String,
    pub filename: String,
    pub meta: String,
    pub require_signed: bool,
    pub creator: Option<String>,
    /// "now" from the server's clock.
    pub now_ms: i64,
}

/// The answer to a direct upload's one use.
#[derive(Debug, Clone)]
pub enum UploadClaim {
    /// This request holds the upload; the record is `uploading`.
    Claimed(CfImage),
    /// The URL was used already (or an upload through it is in progress).
    Used,
    /// The URL's expiry passed; the draft is gone.
    Expired,
    Unknown,
}

/// A position in the v2 listing: after (or, descending, before) this image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCursor {
    pub uploaded_ms: i64,
    pub image_id: String,
}

impl ImageCursor {
    /// An opaque token: the time, then the id in hex (ids may hold any character).
    pub fn encode(&self) -> String {
        format!("{}.{}", self.uploaded_ms, hex::encode(&self.image_id))
    }

    pub fn decode(token: &str) -> Option<ImageCursor> {
        let (ms, id) = token.split_once('.')?;
        Some(ImageCursor {
            uploaded_ms: ms.parse().ok()?,
            image_id: String::from_utf8(hex::decode(id).ok()?).ok()?,
        })
    }
}

const COLUMNS: &str = "account_id, image_id, filename, meta, require_signed, creator, uploaded_ms, state, upload_expires_ms";

impl Store {
    /// Claims `image.image_id` for an upload: `AlreadyExists` when the id is taken.
    pub async fn cf_begin_image(&self, account_id: &str, image: &NewImage) -> StoreResult<()> {
        self.insert_image(account_id, image, ImageState::Uploading, None, None)
            .await
    }

    /// Records a direct creator upload's draft; `upload_sha256` is the hash of the
    /// secret part of its URL.
    pub async fn cf_create_draft(
        &self,
        account_id: &str,
        image: &NewImage,
        upload_sha256: &str,
        expires_ms: i64,
    ) -> StoreResult<()> {
        self.insert_image(
            account_id,
            image,
            ImageState::Draft,
            Some(upload_sha256),
            Some(expires_ms),
        )
        .await
    }

    async fn insert_image(
        &self,
        account_id: &str,
        image: &NewImage,
        state: ImageState,
        upload_sha256: Option<&str>,
        expires_ms: Option<i64>,
    ) -> StoreResult<()> {
        let res = sqlx::query(
            "INSERT INTO cf_images (account_id, image_id, filename, meta, require_signed, creator, \
             uploaded_ms, state, upload_sha256, upload_expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (account_id, image_id) DO NOTHING",
        )
        .bind(account_id)
        .bind(&image.image_id)
        .bind(&image.filename)
        .bind(&image.meta)
        .bind(i64::from(image.require_signed))
        .bind(&image.creator)
        .bind(image.now_ms)
        .bind(state.as_str())
        .bind(upload_sha256)
        .bind(expires_ms)
        .execute(&self.db)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    /// Takes a direct upload's one use, judged at `now_ms`.
    pub async fn cf_claim_upload(
        &self,
        upload_sha256: &str,
        now_ms: i64,
    ) -> StoreResult<UploadClaim> {
        let mut tx = db::begin_write(&self.db).await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cf_images WHERE upload_sha256 = $1"
        ))
        .bind(upload_sha256)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(UploadClaim::Unknown);
        };
        let image = image_from_row(&row)?;
        if image.state != ImageState::Draft {
            return Ok(UploadClaim::Used);
        }
        if image.upload_expires_ms.is_some_and(|exp| exp <= now_ms) {
            sqlx::query("DELETE FROM cf_images WHERE account_id = $1 AND image_id = $2")
                .bind(&image.account_id)
                .bind(&image.image_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(UploadClaim::Expired);
        }
        sqlx::query(
            "UPDATE cf_images SET state = 'uploading' WHERE account_id = $1 AND image_id = $2",
        )
        .bind(&image.account_id)
        .bind(&image.image_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(UploadClaim::Claimed(CfImage {
            state: ImageState::Uploading,
            ..image
        }))
    }

    /// The object is durable: the image becomes visible.
    pub async fn cf_image_ready(
        &self,
        account_id: &str,
        image_id: &str,
        filename: &str,
        now_ms: i64,
    ) -> StoreResult<CfImage> {
        sqlx::query(
            "UPDATE cf_images SET state = 'ready', filename = $1, uploaded_ms = $2 \
             WHERE account_id = $3 AND image_id = $4",
        )
        .bind(filename)
        .bind(now_ms)
        .bind(account_id)
        .bind(image_id)
        .execute(&self.db)
        .await?;
        self.cf_image(account_id, image_id)
            .await?
            .ok_or(StoreError::NoSuchKey)
    }

    /// An upload failed: a plain upload gives its id back; a direct upload's draft
    /// becomes usable again (nothing was stored through it).
    pub async fn cf_abandon_upload(&self, account_id: &str, image_id: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM cf_images WHERE account_id = $1 AND image_id = $2 AND state = 'uploading' \
             AND upload_sha256 IS NULL",
        )
        .bind(account_id)
        .bind(image_id)
        .execute(&self.db)
        .await?;
        sqlx::query(
            "UPDATE cf_images SET state = 'draft' WHERE account_id = $1 AND image_id = $2 \
             AND state = 'uploading' AND upload_sha256 IS NOT NULL",
        )
        .bind(account_id)
        .bind(image_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn cf_image(&self, account_id: &str, image_id: &str) -> StoreResult<Option<CfImage>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cf_images WHERE account_id = $1 AND image_id = $2"
        ))
        .bind(account_id)
        .bind(image_id)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(image_from_row).transpose()
    }

    /// Changes metadata and/or access; `None` when there is no such image.
    pub async fn cf_update_image(
        &self,
        account_id: &str,
        image_id: &str,
        meta: Option<&str>,
        require_signed: Option<bool>,
    ) -> StoreResult<Option<CfImage>> {
        sqlx::query(
            "UPDATE cf_images SET meta = COALESCE($1, meta), require_signed = COALESCE($2, require_signed) \
             WHERE account_id = $3 AND image_id = $4",
        )
        .bind(meta)
        .bind(require_signed.map(i64::from))
        .bind(account_id)
        .bind(image_id)
        .execute(&self.db)
        .await?;
        self.cf_image(account_id, image_id).await
    }

    /// Deletes the record, then the object (so a failure between them leaves bytes no
    /// API lists rather than a listed image without bytes). `Ok(false)`: no such image.
    pub async fn cf_delete_image(
        &self,
        account_id: &str,
        bucket: &str,
        image_id: &str,
    ) -> StoreResult<bool> {
        let res = sqlx::query("DELETE FROM cf_images WHERE account_id = $1 AND image_id = $2")
            .bind(account_id)
            .bind(image_id)
            .execute(&self.db)
            .await?;
        if res.rows_affected() == 0 {
            return Ok(false);
        }
        self.delete_object(bucket, image_id).await?;
        Ok(true)
    }

    /// Ready images in upload order, by page (the v1 listing).
    pub async fn cf_list_images(
        &self,
        account_id: &str,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<CfImage>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cf_images WHERE account_id = $1 AND state = 'ready' \
             ORDER BY uploaded_ms, image_id LIMIT $2 OFFSET $3"
        ))
        .bind(account_id)
        .bind(limit as i64)
        .bind(offset as i64)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(image_from_row).collect()
    }

    /// Ready images after `cursor` in upload order (or before it, `descending`),
    /// optionally of one creator (the v2 listing).
    pub async fn cf_list_images_after(
        &self,
        account_id: &str,
        cursor: Option<&ImageCursor>,
        limit: u64,
        descending: bool,
        creator: Option<&str>,
    ) -> StoreResult<Vec<CfImage>> {
        let (cmp, order) = if descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM cf_images WHERE account_id = $1 AND state = 'ready' \
             AND ($2 IS NULL OR creator = $3) \
             AND ($4 IS NULL OR uploaded_ms {cmp} $5 OR (uploaded_ms = $6 AND image_id {cmp} $7)) \
             ORDER BY uploaded_ms {order}, image_id {order} LIMIT $8"
        );
        let ms = cursor.map(|c| c.uploaded_ms);
        let id = cursor.map(|c| c.image_id.as_str());
        let rows = sqlx::query(&sql)
            .bind(account_id)
            .bind(creator)
            .bind(creator)
            .bind(ms)
            .bind(ms)
            .bind(ms)
            .bind(id)
            .bind(limit as i64)
            .fetch_all(&self.db)
            .await?;
        rows.iter().map(image_from_row).collect()
    }

    /// Ready images of the account (`GET v1/stats`).
    pub async fn cf_count_images(&self, account_id: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM cf_images WHERE account_id = $1 AND state = 'ready'",
        )
        .bind(account_id)
        .fetch_one(&self.db)
        .await?
        .try_get("n")?;
        Ok(n.max(0) as u64)
    }
}

fn image_from_row(row: &sqlx::any::AnyRow) -> StoreResult<CfImage> {
    let state: String = row.try_get("state")?;
    Ok(CfImage {
        account_id: row.try_get("account_id")?,
        image_id: row.try_get("image_id")?,
        filename: row.try_get("filename")?,
        meta: row.try_get("meta")?,
        require_signed: db::flag(row, "require_signed")?,
        creator: row.try_get("creator")?,
        uploaded_ms: row.try_get("uploaded_ms")?,
        state: ImageState::parse(&state)?,
        upload_expires_ms: row.try_get("upload_expires_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::ImageCursor;

    #[test]
    fn cursors_round_trip_any_id() {
        let c = ImageCursor {
            uploaded_ms: 1_700_000_000_123,
            image_id: "a/b.c d".into(),
        };
        assert_eq!(ImageCursor::decode(&c.encode()), Some(c));
        assert_eq!(ImageCursor::decode("12.zz"), None);
        assert_eq!(ImageCursor::decode("nope"), None);
    }
}
