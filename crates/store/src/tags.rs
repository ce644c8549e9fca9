//! Object tags: the limits every door applies, and replacing an object's tag set.
//!
//! A tag set is written whole (PutObjectTagging replaces it, DeleteObjectTagging writes
//! an empty one) and belongs to the row at the key: tagging a symlink tags the symlink,
//! not its target. Tags never change an object's bytes, ETag or modification time, so
//! they announce no change to the variant cache.

use crate::Store;
use crate::db;
use crate::error::{StoreError, StoreResult};
use crate::model::Tags;

/// OSS's and S3's limits on one object's tags.
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_KEY_BYTES: usize = 128;
pub const MAX_TAG_VALUE_BYTES: usize = 256;

/// Refuses a tag set over the limits: more than [`MAX_TAGS`] tags, an empty or
/// over-long key, an over-long value, or control characters in either.
pub fn check_tags(tags: &Tags) -> StoreResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(StoreError::InvalidTag(format!(
            "an object has at most {MAX_TAGS} tags, this request gives {}",
            tags.len()
        )));
    }
    for (key, value) in tags {
        if key.is_empty() || key.len() > MAX_TAG_KEY_BYTES {
            return Err(StoreError::InvalidTag(format!(
                "a tag key is 1 to {MAX_TAG_KEY_BYTES} bytes, {key:?} is {}",
                key.len()
            )));
        }
        if value.len() > MAX_TAG_VALUE_BYTES {
            return Err(StoreError::InvalidTag(format!(
                "a tag value is at most {MAX_TAG_VALUE_BYTES} bytes, the value of {key:?} is {}",
                value.len()
            )));
        }
        if key.chars().chain(value.chars()).any(char::is_control) {
            return Err(StoreError::InvalidTag(format!(
                "the tag {key:?} contains a control character"
            )));
        }
    }
    Ok(())
}

impl Store {
    /// Replaces the tags of the row at `key` (a symlink itself, not its target).
    pub async fn set_tags(&self, bucket: &str, key: &str, tags: &Tags) -> StoreResult<()> {
        check_tags(tags)?;
        let json = serde_json::to_string(tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = db::begin_write(&self.db).await?;
        let updated = sqlx::query("UPDATE objects SET tags = $1 WHERE bucket = $2 AND key = $3")
            .bind(&json)
            .bind(bucket)
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if updated == 0 {
            self.bucket(bucket).await?;
            return Err(StoreError::NoSuchKey);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_limits() {
        assert!(check_tags(&tags(&[("a", ""), ("中文", "ü v")])).is_ok());
        let ten: Vec<(String, String)> = (0..10).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(check_tags(&ten.iter().cloned().collect()).is_ok());
        let eleven: Tags = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        let long_key = "k".repeat(MAX_TAG_KEY_BYTES + 1);
        let long_value = "v".repeat(MAX_TAG_VALUE_BYTES + 1);
        for bad in [
            eleven,
            tags(&[("", "v")]),
            tags(&[(long_key.as_str(), "v")]),
            tags(&[("k", long_value.as_str())]),
            tags(&[("k", "a\nb")]),
        ] {
            assert!(
                matches!(check_tags(&bad), Err(StoreError::InvalidTag(_))),
                "{bad:?}"
            );
        }
    }
}
