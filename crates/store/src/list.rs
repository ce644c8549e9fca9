//! Key listing in S3's order (bytewise), with prefix, delimiter and a resume marker.

use crate::Store;
use crate::error::StoreResult;
use crate::model::ObjectInfo;
use crate::objects::{OBJECT_COLUMNS, object_from_row};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Return only entries after this key or common prefix.
    pub after: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned: where the next page resumes.
    pub next_marker: Option<String>,
}

impl ListPage {
    /// The continuation token of the next page (ListObjectsV2, on the S3 and OSS doors
    /// alike): the resume marker, base64url without padding, so it survives URLs and
    /// `encoding-type=url` unchanged. `None` on the last page.
    pub fn continuation_token(&self) -> Option<String> {
        self.next_marker.as_ref().map(|m| B64URL.encode(m))
    }
}

/// The resume marker a continuation token stands for; `None` for a token
/// [`ListPage::continuation_token`] did not write.
pub fn marker_of_token(token: &str) -> Option<String> {
    B64URL
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
}

/// Larger than any character a key can contain after a common prefix, so
/// `key > prefix || SKIP_PAST` skips every key that starts with the prefix.
const SKIP_PAST: char = '\u{10FFFF}';

impl Store {
    pub async fn list_objects(&self, bucket: &str, q: &ListQuery) -> StoreResult<ListPage> {
        self.bucket(bucket).await?;
        let mut page = ListPage::default();
        if q.max_keys == 0 {
            return Ok(page);
        }
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        // Resume strictly after `cursor`, or at `prefix` inclusive when no marker is past it.
        let mut cursor: Option<String> =
            q.after.clone().filter(|a| a.as_str() >= q.prefix.as_str());
        // Resuming after a common prefix (the marker a previous page ended on) means
        // skipping every key under it, not just the keys up to the marker itself.
        let mut last_prefix: Option<String> = None;
        if let (Some(d), Some(after)) = (delimiter, cursor.clone())
            && after.ends_with(d)
            && let Some(rest) = after.strip_prefix(q.prefix.as_str())
            && rest.find(d) == Some(rest.len() - d.len())
        {
            cursor = Some(format!("{after}{SKIP_PAST}"));
            last_prefix = Some(after);
        }
        let batch = (q.max_keys + 1).min(1001) as i64;
        let mut count = 0usize;
        'outer: loop {
            let rows = match &cursor {
                Some(c) => {
                    sqlx::query(
                        &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key > $2 ORDER BY key LIMIT $3"),
                    )
                    .bind(bucket)
                    .bind(c)
                    .bind(batch)
                    .fetch_all(&self.db)
                    .await?
                }
                None => {
                    sqlx::query(
                        &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key >= $2 ORDER BY key LIMIT $3"),
                    )
                    .bind(bucket)
                    .bind(&q.prefix)
                    .bind(batch)
                    .fetch_all(&self.db)
                    .await?
                }
            };
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let info = object_from_row(row)?;
                if !info.key.starts_with(&q.prefix) {
                    break 'outer;
                }
                let rest = &info.key[q.prefix.len()..];
                if let Some(d) = delimiter
                    && let Some(i) = rest.find(d)
                {
                    let cp = info.key[..q.prefix.len() + i + d.len()].to_owned();
                    if last_prefix.as_ref() == Some(&cp) {
                        // A key past the skip marker that still rolls up into the last
                        // prefix (it contains U+10FFFF): step over it alone.
                        cursor = Some(info.key.clone());
                        continue;
                    }
                    if count == q.max_keys {
                        page.truncated = true;
                        break 'outer;
                    }
                    page.common_prefixes.push(cp.clone());
                    last_prefix = Some(cp.clone());
                    count += 1;
                    page.next_marker = Some(cp.clone());
                    cursor = Some(format!("{cp}{SKIP_PAST}"));
                    continue 'outer;
                }
                if count == q.max_keys {
                    page.truncated = true;
                    break 'outer;
                }
                cursor = Some(info.key.clone());
                page.next_marker = Some(info.key.clone());
                page.objects.push(info);
                count += 1;
            }
        }
        if !page.truncated {
            page.next_marker = None;
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_round_trip_and_refuse_strangers() {
        let page = ListPage {
            next_marker: Some("dir/ü ñ+?.jpg".into()),
            truncated: true,
            ..ListPage::default()
        };
        let token = page.continuation_token().unwrap();
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(marker_of_token(&token).as_deref(), Some("dir/ü ñ+?.jpg"));
        assert_eq!(ListPage::default().continuation_token(), None);
        assert_eq!(marker_of_token("not a token!"), None);
        assert_eq!(marker_of_token("_w"), None); // decodes, but not UTF-8
    }
}
