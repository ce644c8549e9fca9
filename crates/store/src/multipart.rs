//! Multipart uploads: parts are blobs of their own until completion concatenates them
//! into the object's blob.

use crate::Store;
use crate::db;
use crate::digest::{
    BodyDigests, ChecksumAlgorithm, Checksums, composite_checksum, multipart_etag,
};
use crate::error::{StoreError, StoreResult};
use crate::model::{
    CompletedUpload, ObjectHeaders, ObjectInfo, ObjectKind, PartInfo, Tags, UploadInfo, now_ms,
};
use crate::objects::{ByteStream, PutOptions, check_key};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sqlx::Row;

/// S3's bounds on part numbers and sizes.
pub const MAX_PART_NUMBER: i32 = 10_000;
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// How long a completed upload answers a repeated CompleteMultipartUpload: long enough
/// for any client's retries, short enough that the table stays small.
pub const COMPLETED_UPLOAD_RETENTION_MS: i64 = 24 * 3600 * 1000;

/// A completion to remember: bucket, key, the part list asked for, and the answer.
type Completion<'a> = (&'a str, &'a str, &'a [(i32, String)], &'a CompletedUpload);

/// The part list of a completion as one value: a retry must list the same parts with
/// the same ETags (quotes ignored, as at completion).
fn parts_digest(requested: &[(i32, String)]) -> String {
    use md5::{Digest as _, Md5};
    let mut h = Md5::new();
    for (number, etag) in requested {
        h.update(format!("{number}:{}\n", etag.trim_matches('"')).as_bytes());
    }
    hex::encode(h.finalize())
}

impl Store {
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        headers: ObjectHeaders,
        checksum_algorithm: Option<ChecksumAlgorithm>,
        tags: Tags,
    ) -> StoreResult<UploadInfo> {
        check_key(key)?;
        crate::check_tags(&tags)?;
        self.bucket(bucket).await?;
        let upload = UploadInfo {
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            initiated_ms: now_ms(),
            headers,
            checksum_algorithm,
            tags,
        };
        let headers_json = serde_json::to_string(&upload.headers)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tags_json =
            serde_json::to_string(&upload.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO uploads (upload_id, bucket, key, initiated_ms, headers, checksum_algorithm, tags) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&upload.upload_id)
        .bind(bucket)
        .bind(key)
        .bind(upload.initiated_ms)
        .bind(&headers_json)
        .bind(checksum_algorithm.map(|a| a.as_str()))
        .bind(&tags_json)
        .execute(&self.db)
        .await?;
        Ok(upload)
    }

    pub async fn upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> StoreResult<UploadInfo> {
        let row = sqlx::query(
            "SELECT upload_id, bucket, key, initiated_ms, headers, checksum_algorithm, tags FROM uploads \
             WHERE upload_id = $1 AND bucket = $2 AND key = $3",
        )
        .bind(upload_id)
        .bind(bucket)
        .bind(key)
        .fetch_optional(&self.db)
        .await?;
        match row {
            Some(row) => upload_from_row(&row),
            None => {
                self.bucket(bucket).await?;
                Err(StoreError::NoSuchUpload)
            }
        }
    }

    /// Stores one part, replacing an earlier part with the same number.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_part<S, E>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        algorithms: &[ChecksumAlgorithm],
        expected_len: Option<u64>,
        body: S,
        verify: impl FnOnce(&BodyDigests) -> StoreResult<()>,
    ) -> StoreResult<PartInfo>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        check_part_number(part_number)?;
        let upload = self.upload(bucket, key, upload_id).await?;
        let mut algos = algorithms.to_vec();
        algos.extend(upload.checksum_algorithm);
        let (blob, digests) = self.write_blob(body, &algos, expected_len).await?;
        if let Err(e) = verify(&digests) {
            self.drop_blobs(vec![blob]).await;
            return Err(e);
        }
        let part = PartInfo {
            part_number,
            blob,
            size: digests.len,
            etag: digests.md5_hex(),
            modified_ms: now_ms(),
            checksums: digests.checksums,
        };
        match self.commit_part(upload_id, &part).await {
            Ok(old) => {
                self.drop_blobs(old.into_iter().collect()).await;
                Ok(part)
            }
            Err(e) => {
                self.drop_blobs(vec![part.blob.clone()]).await;
                Err(e)
            }
        }
    }

    async fn commit_part(&self, upload_id: &str, part: &PartInfo) -> StoreResult<Option<String>> {
        let checksums = serde_json::to_string(&part.checksums)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = db::begin_write(&self.db).await?;
        if sqlx::query("SELECT 1 FROM uploads WHERE upload_id = $1")
            .bind(upload_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            // Completed or aborted while this part streamed in.
            return Err(StoreError::NoSuchUpload);
        }
        let old = sqlx::query("SELECT blob FROM parts WHERE upload_id = $1 AND part_number = $2")
            .bind(upload_id)
            .bind(part.part_number)
            .fetch_optional(&mut *tx)
            .await?;
        let old: Option<String> = match old {
            Some(row) => Some(row.try_get("blob")?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO parts (upload_id, part_number, blob, size, etag, modified_ms, checksums) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (upload_id, part_number) DO UPDATE SET blob = excluded.blob, size = excluded.size, \
             etag = excluded.etag, modified_ms = excluded.modified_ms, checksums = excluded.checksums",
        )
        .bind(upload_id)
        .bind(part.part_number)
        .bind(&part.blob)
        .bind(part.size as i64)
        .bind(&part.etag)
        .bind(part.modified_ms)
        .bind(&checksums)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM pending_blobs WHERE blob = $1")
            .bind(&part.blob)
            .execute(&mut *tx)
            .await?;
        if let Some(blob) = &old {
            sqlx::query("INSERT INTO pending_blobs (blob, created_ms) VALUES ($1, $2) ON CONFLICT (blob) DO NOTHING")
                .bind(blob)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(old)
    }

    pub async fn list_parts(
        &self,
        upload_id: &str,
        after: i32,
        max: usize,
    ) -> StoreResult<(Vec<PartInfo>, bool)> {
        let rows = sqlx::query(
            "SELECT part_number, blob, size, etag, modified_ms, checksums FROM parts \
             WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3",
        )
        .bind(upload_id)
        .bind(after)
        .bind(max as i64 + 1)
        .fetch_all(&self.db)
        .await?;
        let mut parts = rows
            .iter()
            .map(part_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        Ok((parts, truncated))
    }

    /// Concatenates the listed parts into the object. Every listed part must exist with
    /// the given ETag, numbers must ascend, and all parts but the last must be at least
    /// 5 MiB. The upload and its parts are gone afterwards; for
    /// [`COMPLETED_UPLOAD_RETENTION_MS`] the same request answers the same again.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: &[(i32, String)],
        opts: PutOptions,
    ) -> StoreResult<CompletedUpload> {
        let upload = match self.upload(bucket, key, upload_id).await {
            Ok(u) => u,
            Err(StoreError::NoSuchUpload) => {
                return self
                    .completed_before(bucket, key, upload_id, requested)
                    .await;
            }
            Err(e) => return Err(e),
        };
        if requested.is_empty() {
            return Err(StoreError::InvalidArgument(
                "CompleteMultipartUpload must list at least one part".into(),
            ));
        }
        let (stored, _) = self
            .list_parts(upload_id, 0, MAX_PART_NUMBER as usize)
            .await?;
        if requested.windows(2).any(|w| w[1].0 <= w[0].0) {
            return Err(StoreError::InvalidPartOrder);
        }
        let mut chosen: Vec<PartInfo> = Vec::with_capacity(requested.len());
        for (i, (number, etag)) in requested.iter().enumerate() {
            let part = stored
                .iter()
                .find(|p| p.part_number == *number)
                .ok_or_else(|| {
                    StoreError::InvalidPart(format!("part {number} was never uploaded"))
                })?;
            if etag.trim_matches('"') != part.etag {
                return Err(StoreError::InvalidPart(format!(
                    "part {number}'s ETag is {}, not {etag}",
                    part.etag
                )));
            }
            let min = opts.min_part_size.unwrap_or(MIN_PART_SIZE);
            if i + 1 < requested.len() && part.size < min {
                return Err(StoreError::EntityTooSmall {
                    part: *number,
                    size: part.size,
                    min,
                });
            }
            chosen.push(part.clone());
        }

        let total: u64 = chosen.iter().map(|p| p.size).sum();
        let body = self.concat_parts(chosen.clone());
        let (blob, digests) = self.write_blob(body, &[], Some(total)).await?;
        drop(digests);

        let etags: Vec<String> = chosen.iter().map(|p| p.etag.clone()).collect();
        let mut checksums = Checksums::new();
        if let Some(algo) = upload.checksum_algorithm {
            let per_part: Option<Vec<String>> = chosen
                .iter()
                .map(|p| p.checksums.get(&algo).cloned())
                .collect();
            if let Some(c) = per_part.and_then(|parts| composite_checksum(algo, &parts)) {
                checksums.insert(algo, c);
            }
        }
        let info = ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            blob,
            size: total,
            etag: multipart_etag(&etags),
            modified_ms: now_ms(),
            parts_count: Some(chosen.len() as i32),
            headers: upload.headers.clone(),
            checksums,
            kind: ObjectKind::Normal,
            tags: upload.tags.clone(),
        };
        self.commit_object(&info, &opts).await?;
        let done = CompletedUpload {
            etag: info.etag,
            size: info.size,
            checksums: info.checksums,
        };
        // The object is durable; now the upload and all its parts (chosen or not) go,
        // and the completion is remembered for retries.
        let leftovers = self
            .forget_upload(upload_id, Some((bucket, key, requested, &done)))
            .await?;
        self.drop_blobs(leftovers).await;
        Ok(done)
    }

    /// A retried completion: the recorded answer when the same upload was completed
    /// recently with the same part list, else `NoSuchUpload`.
    async fn completed_before(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: &[(i32, String)],
    ) -> StoreResult<CompletedUpload> {
        let row = sqlx::query(
            "SELECT etag, size, checksums FROM completed_uploads \
             WHERE upload_id = $1 AND bucket = $2 AND key = $3 AND parts_digest = $4 AND completed_ms >= $5",
        )
        .bind(upload_id)
        .bind(bucket)
        .bind(key)
        .bind(parts_digest(requested))
        .bind(now_ms() - COMPLETED_UPLOAD_RETENTION_MS)
        .fetch_optional(&self.db)
        .await?
        .ok_or(StoreError::NoSuchUpload)?;
        let size: i64 = row.try_get("size")?;
        let checksums: String = row.try_get("checksums")?;
        Ok(CompletedUpload {
            etag: row.try_get("etag")?,
            size: size as u64,
            checksums: serde_json::from_str(&checksums)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }

    fn concat_parts(&self, parts: Vec<PartInfo>) -> ByteStream {
        let store = self.clone();
        let stream = futures::stream::iter(parts)
            .then(move |part| {
                let store = store.clone();
                async move { store.blobs.read(&part.blob, 0..part.size).await }
            })
            .map(|opened| match opened {
                Ok(s) => s.boxed(),
                Err(e) => {
                    futures::stream::once(async move { Err(std::io::Error::other(e.to_string())) })
                        .boxed()
                }
            })
            .flatten();
        Box::pin(sync_wrapper::SyncStream::new(stream))
    }

    /// Aborts an upload and deletes its parts.
    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> StoreResult<()> {
        self.upload(bucket, key, upload_id).await?;
        let blobs = self.forget_upload(upload_id, None).await?;
        self.drop_blobs(blobs).await;
        Ok(())
    }

    /// Removes the upload's rows and returns its part blobs (now pending deletion). A
    /// completion (bucket, key, part list, answer) is recorded in the same transaction,
    /// and records past their retention are pruned.
    async fn forget_upload(
        &self,
        upload_id: &str,
        completed: Option<Completion<'_>>,
    ) -> StoreResult<Vec<String>> {
        let mut tx = db::begin_write(&self.db).await?;
        if let Some((bucket, key, requested, done)) = completed {
            let checksums = serde_json::to_string(&done.checksums)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let now = now_ms();
            sqlx::query("DELETE FROM completed_uploads WHERE completed_ms < $1")
                .bind(now - COMPLETED_UPLOAD_RETENTION_MS)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO completed_uploads (upload_id, bucket, key, parts_digest, etag, size, checksums, completed_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (upload_id) DO NOTHING",
            )
            .bind(upload_id)
            .bind(bucket)
            .bind(key)
            .bind(parts_digest(requested))
            .bind(&done.etag)
            .bind(done.size as i64)
            .bind(&checksums)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let rows = sqlx::query("DELETE FROM parts WHERE upload_id = $1 RETURNING blob")
            .bind(upload_id)
            .fetch_all(&mut *tx)
            .await?;
        let blobs = list_disowned(&mut tx, rows).await?;
        sqlx::query("DELETE FROM uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(blobs)
    }

    /// Unfinished uploads in a bucket, ordered by key then upload id.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max: usize,
    ) -> StoreResult<(Vec<UploadInfo>, bool)> {
        self.bucket(bucket).await?;
        let key_marker = key_marker.unwrap_or("");
        let id_marker = upload_id_marker.unwrap_or("");
        let rows = sqlx::query(
            "SELECT upload_id, bucket, key, initiated_ms, headers, checksum_algorithm, tags FROM uploads \
             WHERE bucket = $1 AND (key > $2 OR (key = $3 AND upload_id > $4)) ORDER BY key, upload_id",
        )
        .bind(bucket)
        .bind(key_marker)
        .bind(key_marker)
        .bind(id_marker)
        .fetch_all(&self.db)
        .await?;
        let mut uploads = Vec::new();
        let mut truncated = false;
        for row in &rows {
            let u = upload_from_row(row)?;
            if !u.key.starts_with(prefix) {
                continue;
            }
            if uploads.len() == max {
                truncated = true;
                break;
            }
            uploads.push(u);
        }
        Ok((uploads, truncated))
    }

    /// Reads a byte range of an object, for UploadPartCopy.
    pub async fn part_from_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        range: Option<(u64, u64)>,
        check_source: impl FnOnce(&ObjectInfo) -> StoreResult<()>,
    ) -> StoreResult<(ObjectInfo, u64, ByteStream)> {
        let mut check_source = Some(check_source);
        let (info, r, stream) = self
            .open_object(src_bucket, src_key, |info| {
                if let Some(check) = check_source.take() {
                    check(info)?;
                }
                match range {
                    None => Ok(0..info.size),
                    Some((first, last)) if first <= last && last < info.size => Ok(first..last + 1),
                    Some(_) => Err(StoreError::InvalidArgument(
                        "x-amz-copy-source-range is outside the source object".into(),
                    )),
                }
            })
            .await?;
        Ok((info, r.end - r.start, stream))
    }
}

fn check_part_number(n: i32) -> StoreResult<()> {
    if !(1..=MAX_PART_NUMBER).contains(&n) {
        return Err(StoreError::InvalidArgument(format!(
            "part number {n} is outside 1..=10000"
        )));
    }
    Ok(())
}

fn upload_from_row(row: &sqlx::any::AnyRow) -> StoreResult<UploadInfo> {
    let headers: String = row.try_get("headers")?;
    let algo: Option<String> = row.try_get("checksum_algorithm")?;
    let tags: String = row.try_get("tags")?;
    Ok(UploadInfo {
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        upload_id: row.try_get("upload_id")?,
        bucket: row.try_get("bucket")?,
        key: row.try_get("key")?,
        initiated_ms: row.try_get("initiated_ms")?,
        headers: serde_json::from_str(&headers).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        checksum_algorithm: algo.as_deref().and_then(ChecksumAlgorithm::parse),
    })
}

fn part_from_row(row: &sqlx::any::AnyRow) -> StoreResult<PartInfo> {
    let checksums: String = row.try_get("checksums")?;
    let size: i64 = row.try_get("size")?;
    Ok(PartInfo {
        part_number: row.try_get("part_number")?,
        blob: row.try_get("blob")?,
        size: size as u64,
        etag: row.try_get("etag")?,
        modified_ms: row.try_get("modified_ms")?,
        checksums: serde_json::from_str(&checksums)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

/// The blobs of part rows just deleted in `tx`, listed in `pending_blobs` in that same
/// transaction (no blob is ever left unowned and unlisted), for deletion once it commits.
pub(crate) async fn list_disowned(
    tx: &mut crate::db::DbTx,
    rows: Vec<sqlx::any::AnyRow>,
) -> StoreResult<Vec<String>> {
    let mut blobs = Vec::with_capacity(rows.len());
    for row in rows {
        let blob: String = row.try_get("blob")?;
        sqlx::query(
            "INSERT INTO pending_blobs (blob, created_ms) VALUES ($1, $2) ON CONFLICT (blob) DO NOTHING",
        )
        .bind(&blob)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        blobs.push(blob);
    }
    Ok(blobs)
}
