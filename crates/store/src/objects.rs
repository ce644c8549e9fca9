//! Whole-object writes, reads, copies and deletes.

use crate::Store;
use crate::blobs::BlobStore;
use crate::db;
use crate::digest::{BodyDigests, BodyHasher, ChecksumAlgorithm, Checksums};
use crate::error::{StoreError, StoreResult};
use crate::model::{ObjectHeaders, ObjectInfo, ObjectKind, Tags, now_ms};
use bytes::Bytes;
use futures::Stream;
use sqlx::Row;
use std::pin::Pin;

pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + Sync>>;

/// How a PUT is to be stored and checked.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub headers: ObjectHeaders,
    /// Checksums to compute while the body streams (and to store with the object).
    pub checksum_algorithms: Vec<ChecksumAlgorithm>,
    /// The declared length; a body of any other length is refused.
    pub expected_len: Option<u64>,
    /// `If-None-Match: *`: refuse if the key exists.
    pub if_none_match_any: bool,
    /// `If-Match: <etag>`: refuse unless the current ETag is this one.
    pub if_match: Option<String>,
    /// What the new object is (appends write `Appendable` objects).
    pub kind: ObjectKind,
    /// The new object's tags.
    pub tags: Tags,
    /// For completions: the smallest a part other than the last may be (`None`: S3's
    /// 5 MiB; OSS allows 100 KiB).
    pub min_part_size: Option<u64>,
}

/// The columns of an object row, in the order [`object_from_row`] reads them.
pub(crate) const OBJECT_COLUMNS: &str = "bucket, key, blob, size, etag, modified_ms, parts_count, headers, checksums, kind, symlink_target, tags";

/// What a copy takes from the request instead of the source (S3's and OSS's
/// `REPLACE` directives); `None` keeps the source's.
#[derive(Debug, Clone, Default)]
pub struct CopyOverrides {
    pub headers: Option<ObjectHeaders>,
    pub tags: Option<Tags>,
}

impl Store {
    /// Streams `body` into a new blob that no row owns yet (it is listed as pending).
    pub(crate) async fn write_blob<S, E>(
        &self,
        body: S,
        algorithms: &[ChecksumAlgorithm],
        expected_len: Option<u64>,
    ) -> StoreResult<(String, BodyDigests)>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let blob = BlobStore::new_blob_name();
        // Relaxed: a process crash keeps this row, so start-up finds the blob; only an OS
        // crash could lose it, leaking an unreferenced (never visible) blob.
        sqlx::query("INSERT INTO pending_blobs (blob, created_ms) VALUES ($1, $2)")
            .bind(&blob)
            .bind(now_ms())
            .execute(&self.relaxed)
            .await?;
        let mut hasher = BodyHasher::new(algorithms);
        let written = self
            .blobs
            .write(&blob, body, |chunk| {
                hasher.update(chunk);
                match expected_len {
                    Some(n) if hasher.len() > n => Err(StoreError::BodyTooLong { expected: n }),
                    _ => Ok(()),
                }
            })
            .await;
        let checked = written.and_then(|()| match expected_len {
            Some(n) if hasher.len() < n => Err(StoreError::IncompleteBody {
                expected: n,
                got: hasher.len(),
            }),
            _ => Ok(()),
        });
        if let Err(e) = checked {
            self.drop_blobs(vec![blob]).await;
            return Err(e);
        }
        Ok((blob, hasher.finish()))
    }

    /// Stores an object whose whole body is already in memory (a fetched or uploaded
    /// image): [`Store::put_object`] with the length declared.
    pub async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        opts: PutOptions,
        bytes: Bytes,
    ) -> StoreResult<ObjectInfo> {
        let opts = PutOptions {
            expected_len: Some(bytes.len() as u64),
            ..opts
        };
        let body = Box::pin(futures::stream::once(async move {
            Ok::<_, std::io::Error>(bytes)
        }));
        self.put_object(bucket, key, opts, body, |_| Ok(())).await
    }

    /// Stores an object. `verify` sees the digests of the whole body before anything
    /// becomes visible; an error from it discards the upload.
    pub async fn put_object<S, E>(
        &self,
        bucket: &str,
        key: &str,
        opts: PutOptions,
        body: S,
        verify: impl FnOnce(&BodyDigests) -> StoreResult<()>,
    ) -> StoreResult<ObjectInfo>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        check_key(key)?;
        self.bucket(bucket).await?;
        let (blob, digests) = self
            .write_blob(body, &opts.checksum_algorithms, opts.expected_len)
            .await?;
        if let Err(e) = verify(&digests) {
            self.drop_blobs(vec![blob]).await;
            return Err(e);
        }
        let info = ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            blob,
            size: digests.len,
            etag: digests.md5_hex(),
            modified_ms: now_ms(),
            parts_count: None,
            headers: opts.headers.clone(),
            checksums: digests.checksums,
            kind: opts.kind.clone(),
            tags: opts.tags.clone(),
        };
        self.commit_object(&info, &opts).await?;
        Ok(info)
    }

    /// Points `(bucket, key)` at `info.blob` in one transaction and deletes the blob it
    /// replaced. On refusal the new blob is deleted instead.
    pub(crate) async fn commit_object(
        &self,
        info: &ObjectInfo,
        opts: &PutOptions,
    ) -> StoreResult<()> {
        let result = self.commit_object_row(info, opts).await;
        match result {
            Ok(old) => {
                self.announce_change(&info.bucket, &info.key).await;
                self.drop_blobs(old.into_iter().collect()).await;
                Ok(())
            }
            Err(e) => {
                self.drop_blobs(vec![info.blob.clone()]).await;
                Err(e)
            }
        }
    }

    async fn commit_object_row(
        &self,
        info: &ObjectInfo,
        opts: &PutOptions,
    ) -> StoreResult<Option<String>> {
        let headers =
            serde_json::to_string(&info.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let checksums = serde_json::to_string(&info.checksums)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tags =
            serde_json::to_string(&info.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = db::begin_write(&self.db).await?;
        if sqlx::query("SELECT 1 FROM buckets WHERE name = $1")
            .bind(&info.bucket)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            return Err(StoreError::NoSuchBucket);
        }
        let old = sqlx::query("SELECT blob, etag FROM objects WHERE bucket = $1 AND key = $2")
            .bind(&info.bucket)
            .bind(&info.key)
            .fetch_optional(&mut *tx)
            .await?;
        let old = match old {
            Some(row) => Some((
                row.try_get::<String, _>("blob")?,
                row.try_get::<String, _>("etag")?,
            )),
            None => None,
        };
        if opts.if_none_match_any && old.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        if let Some(want) = &opts.if_match {
            match &old {
                Some((_, etag)) if etag_matches(want, etag) => {}
                Some(_) => return Err(StoreError::PreconditionFailed),
                None => return Err(StoreError::NoSuchKey),
            }
        }
        sqlx::query(
            "INSERT INTO objects (bucket, key, blob, size, etag, modified_ms, parts_count, headers, checksums, kind, symlink_target, tags) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (bucket, key) DO UPDATE SET blob = excluded.blob, size = excluded.size, \
             etag = excluded.etag, modified_ms = excluded.modified_ms, parts_count = excluded.parts_count, \
             headers = excluded.headers, checksums = excluded.checksums, kind = excluded.kind, \
             symlink_target = excluded.symlink_target, tags = excluded.tags",
        )
        .bind(&info.bucket)
        .bind(&info.key)
        .bind(&info.blob)
        .bind(info.size as i64)
        .bind(&info.etag)
        .bind(info.modified_ms)
        .bind(info.parts_count)
        .bind(&headers)
        .bind(&checksums)
        .bind(info.kind.as_str())
        .bind(info.kind.symlink_target())
        .bind(&tags)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM pending_blobs WHERE blob = $1")
            .bind(&info.blob)
            .execute(&mut *tx)
            .await?;
        let old_blob = old.map(|(blob, _)| blob);
        if let Some(blob) = &old_blob {
            sqlx::query("INSERT INTO pending_blobs (blob, created_ms) VALUES ($1, $2) ON CONFLICT (blob) DO NOTHING")
                .bind(blob)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(old_blob)
    }

    /// The metadata of the object a read of `key` answers with: the object itself, or a
    /// symlink's target (whose `key` then differs from `key`). Distinguishes a missing
    /// bucket from a missing key; a symlink whose target is missing (or is itself a
    /// symlink) is `SymlinkTargetNotExist`.
    pub async fn object(&self, bucket: &str, key: &str) -> StoreResult<ObjectInfo> {
        let info = self.object_row(bucket, key).await?;
        let Some(target) = info.kind.symlink_target() else {
            return Ok(info);
        };
        match self.object_row(bucket, target).await {
            Ok(t) if t.kind.symlink_target().is_none() => Ok(t),
            Ok(_) | Err(StoreError::NoSuchKey) => Err(StoreError::SymlinkTargetNotExist),
            Err(e) => Err(e),
        }
    }

    /// The row stored at `key`, a symlink itself rather than its target.
    pub async fn object_row(&self, bucket: &str, key: &str) -> StoreResult<ObjectInfo> {
        let row = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2"
        ))
        .bind(bucket)
        .bind(key)
        .fetch_optional(&self.db)
        .await?;
        match row {
            Some(row) => object_from_row(&row),
            None => {
                self.bucket(bucket).await?;
                Err(StoreError::NoSuchKey)
            }
        }
    }

    /// Streams `range` (end exclusive) of the blob `info` names. Fails if an overwrite
    /// deleted that blob meanwhile; [`Store::open_object`] retries such races.
    pub async fn read_blob(
        &self,
        info: &ObjectInfo,
        range: std::ops::Range<u64>,
    ) -> StoreResult<ByteStream> {
        let stream = self.blobs.read(&info.blob, range).await?;
        Ok(Box::pin(stream))
    }

    /// Looks up an object and opens a stream of `range` (computed from the object's
    /// size by `pick_range`). Retries when an overwrite replaced the blob in between.
    pub async fn open_object(
        &self,
        bucket: &str,
        key: &str,
        mut pick_range: impl FnMut(&ObjectInfo) -> StoreResult<std::ops::Range<u64>>,
    ) -> StoreResult<(ObjectInfo, std::ops::Range<u64>, ByteStream)> {
        let mut attempts = 0;
        loop {
            let info = self.object(bucket, key).await?;
            let range = pick_range(&info)?;
            match self.read_blob(&info, range.clone()).await {
                Ok(stream) => return Ok((info, range, stream)),
                Err(StoreError::Blob(e))
                    if e.kind() == opendal::ErrorKind::NotFound && attempts < 3 =>
                {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Deletes an object. Deleting a missing key succeeds, as in S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> StoreResult<()> {
        let mut tx = db::begin_write(&self.db).await?;
        if sqlx::query("SELECT 1 FROM buckets WHERE name = $1")
            .bind(bucket)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            return Err(StoreError::NoSuchBucket);
        }
        let old = sqlx::query("DELETE FROM objects WHERE bucket = $1 AND key = $2 RETURNING blob")
            .bind(bucket)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let old_blob: Option<String> = match old {
            Some(row) => Some(row.try_get("blob")?),
            None => None,
        };
        if let Some(blob) = &old_blob {
            sqlx::query("INSERT INTO pending_blobs (blob, created_ms) VALUES ($1, $2) ON CONFLICT (blob) DO NOTHING")
                .bind(blob)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if old_blob.is_some() {
            self.announce_change(bucket, key).await;
        }
        self.drop_blobs(old_blob.into_iter().collect()).await;
        Ok(())
    }

    /// Copies an object's bytes (a symlink's target's) into a new, normal object,
    /// taking headers and tags from `overrides` where given.
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        overrides: CopyOverrides,
        check_source: impl FnOnce(&ObjectInfo) -> StoreResult<()>,
    ) -> StoreResult<ObjectInfo> {
        check_key(dst_key)?;
        self.bucket(dst_bucket).await?;
        let mut check_source = Some(check_source);
        let (src, _, stream) = self
            .open_object(src_bucket, src_key, |info| {
                if let Some(check) = check_source.take() {
                    check(info)?;
                }
                Ok(0..info.size)
            })
            .await?;
        let algorithms: Vec<ChecksumAlgorithm> = src.checksums.keys().copied().collect();
        let plain_algorithms: Vec<ChecksumAlgorithm> = algorithms
            .iter()
            .copied()
            .filter(|a| !src.checksums[a].contains('-'))
            .collect();
        let (blob, digests) = self
            .write_blob(stream, &plain_algorithms, Some(src.size))
            .await?;
        let etag = digests.md5_hex();
        let mut checksums: Checksums = digests.checksums;
        // A composite (multipart) checksum cannot be recomputed from the bytes alone;
        // the copy is a single-part object, so it keeps only full-object checksums.
        checksums.retain(|a, _| plain_algorithms.contains(a));
        let info = ObjectInfo {
            bucket: dst_bucket.to_owned(),
            key: dst_key.to_owned(),
            blob,
            size: digests.len,
            etag,
            modified_ms: now_ms(),
            parts_count: None,
            headers: overrides.headers.unwrap_or(src.headers),
            checksums,
            kind: ObjectKind::Normal,
            tags: overrides.tags.unwrap_or(src.tags),
        };
        self.commit_object(&info, &PutOptions::default()).await?;
        Ok(info)
    }
}

/// Whether an `If-Match`/`If-None-Match` value lists `stored` (or is `*`): the one
/// ETag comparison of every door and of conditional writes. Quotes and a weak prefix
/// are ignored, and so is letter case, since imgd's ETags are hex digests that the OSS
/// door writes in upper case.
pub fn etag_matches(condition: &str, stored: &str) -> bool {
    condition.split(',').any(|tag| {
        let tag = tag.trim();
        let tag = tag
            .strip_prefix("W/")
            .or_else(|| tag.strip_prefix("w/"))
            .unwrap_or(tag);
        tag == "*" || tag.trim_matches('"').eq_ignore_ascii_case(stored)
    })
}

/// Whether `key` may name an object: not empty, at most [`crate::MAX_KEY_BYTES`] bytes.
pub fn check_key(key: &str) -> StoreResult<()> {
    if key.is_empty() {
        return Err(StoreError::InvalidArgument(
            "the object key is empty".into(),
        ));
    }
    if key.len() > crate::MAX_KEY_BYTES {
        return Err(StoreError::KeyTooLong(key.len()));
    }
    Ok(())
}

pub(crate) fn object_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ObjectInfo> {
    let headers: String = row.try_get("headers")?;
    let checksums: String = row.try_get("checksums")?;
    let size: i64 = row.try_get("size")?;
    let kind: String = row.try_get("kind")?;
    let kind = match kind.as_str() {
        "normal" => ObjectKind::Normal,
        "appendable" => ObjectKind::Appendable,
        "symlink" => ObjectKind::Symlink {
            target: row
                .try_get::<Option<String>, _>("symlink_target")?
                .ok_or_else(|| StoreError::Corrupt("a symlink row without a target".into()))?,
        },
        other => return Err(StoreError::Corrupt(format!("object kind {other:?}"))),
    };
    let tags: String = row.try_get("tags")?;
    Ok(ObjectInfo {
        kind,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        bucket: row.try_get("bucket")?,
        key: row.try_get("key")?,
        blob: row.try_get("blob")?,
        size: size as u64,
        etag: row.try_get("etag")?,
        modified_ms: row.try_get("modified_ms")?,
        parts_count: row.try_get("parts_count")?,
        headers: serde_json::from_str(&headers).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        checksums: serde_json::from_str(&checksums)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}
