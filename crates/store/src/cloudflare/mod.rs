//! What the Cloudflare-Images-compatible door keeps besides object bytes: accounts (an
//! id for the API, a hash for delivery URLs, the bucket holding the images), hashed
//! bearer tokens, signing keys, named variants, and per-image records (`images.rs`).
//!
//! Every lookup reads the database, so a revoked token or a deleted key stops working
//! on the next request, on every node.

mod images;

pub use images::{CfImage, ImageCursor, ImageState, NewImage, UploadClaim};

use crate::Store;
use crate::db;
use crate::error::{StoreError, StoreResult};
use crate::keys::random_token;
use crate::model::now_ms;
use sha2::{Digest, Sha256};
use sqlx::Row;

const HEX: &[u8] = b"0123456789abcdef";
const HASH_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Cloudflare's limit on named variants per account.
pub const MAX_VARIANTS: usize = 100;
const ACCOUNT_COLUMNS: &str = "account_id, account_hash, bucket, flexible_variants";
const VARIANT_COLUMNS: &str = "name, fit, width, height, metadata, never_require_signed";
/// The name of the key made when an account has none.
pub const DEFAULT_KEY: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfAccount {
    pub account_id: String,
    pub account_hash: String,
    pub bucket: String,
    pub flexible_variants: bool,
}

#[derive(Debug, Clone)]
pub struct CfToken {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfKey {
    pub name: String,
    pub value: String,
}

/// A named variant as stored; `fit` and `metadata` are Cloudflare's spellings, checked
/// by the server against the imaging crate's names before they get here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfVariant {
    pub name: String,
    pub fit: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub metadata: String,
    pub never_require_signed: bool,
}

/// Why an account id or hash cannot be used. Hashes must contain a character no bucket
/// name can (an upper-case letter or `_`), so `/{hash}/…` never shadows a bucket.
pub fn account_problem(account_id: &str, account_hash: &str) -> Option<String> {
    if account_id.len() != 32 || !account_id.bytes().all(|b| HEX.contains(&b)) {
        return Some(format!(
            "account_id must be 32 lower-case hexadecimal characters, got {account_id:?}"
        ));
    }
    hash_problem(account_hash)
}

/// Why `account_hash` cannot be a delivery hash (the rule routing also reads a path
/// segment by).
pub fn hash_problem(account_hash: &str) -> Option<String> {
    let hash_ok = (16..=64).contains(&account_hash.len())
        && account_hash.bytes().all(|b| HASH_ALPHABET.contains(&b));
    if !hash_ok {
        return Some(format!(
            "account_hash must be 16-64 characters of A-Z a-z 0-9 - _, got {account_hash:?}"
        ));
    }
    if !account_hash
        .bytes()
        .any(|b| b.is_ascii_uppercase() || b == b'_')
    {
        return Some(format!(
            "account_hash must contain an upper-case letter or '_' so that it cannot be a bucket name, got {account_hash:?}"
        ));
    }
    None
}

/// Why `name` cannot name a signing key.
pub fn key_name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (!ok).then(|| {
        format!("A key name has 1 to 64 characters of A-Z, a-z, 0-9, - and _; got {name:?}")
    })
}

fn new_account_hash() -> String {
    loop {
        let hash = random_token(HASH_ALPHABET, 22);
        if hash_problem(&hash).is_none() {
            return hash;
        }
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Store {
    pub async fn cf_accounts(&self) -> StoreResult<Vec<CfAccount>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM cf_accounts ORDER BY created_ms, account_id"
        ))
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    pub async fn cf_account(&self, account_id: &str) -> StoreResult<Option<CfAccount>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM cf_accounts WHERE account_id = $1"
        ))
        .bind(account_id)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub async fn cf_account_by_hash(&self, account_hash: &str) -> StoreResult<Option<CfAccount>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM cf_accounts WHERE account_hash = $1"
        ))
        .bind(account_hash)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Creates an account over an existing bucket, with the default `public` variant and
    /// a `default` signing key. Missing id and hash are generated.
    pub async fn cf_create_account(
        &self,
        account_id: Option<&str>,
        account_hash: Option<&str>,
        bucket: &str,
        flexible_variants: bool,
    ) -> StoreResult<CfAccount> {
        self.bucket(bucket).await?;
        let account = CfAccount {
            account_id: account_id
                .map(str::to_owned)
                .unwrap_or_else(|| random_token(HEX, 32)),
            account_hash: account_hash
                .map(str::to_owned)
                .unwrap_or_else(new_account_hash),
            bucket: bucket.to_owned(),
            flexible_variants,
        };
        if let Some(problem) = account_problem(&account.account_id, &account.account_hash) {
            return Err(StoreError::InvalidArgument(problem));
        }
        let mut tx = db::begin_write(&self.db).await?;
        let taken = sqlx::query(
            "SELECT account_id FROM cf_accounts WHERE account_id = $1 OR account_hash = $2",
        )
        .bind(&account.account_id)
        .bind(&account.account_hash)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_some() {
            return Err(StoreError::InvalidArgument(format!(
                "an account with id {} or hash {} already exists",
                account.account_id, account.account_hash
            )));
        }
        sqlx::query(
            "INSERT INTO cf_accounts (account_id, account_hash, bucket, flexible_variants, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&account.account_id)
        .bind(&account.account_hash)
        .bind(bucket)
        .bind(i64::from(flexible_variants))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        // Cloudflare's default variant: the whole image, at most 1366x768.
        sqlx::query(
            "INSERT INTO cf_variants (account_id, name, fit, width, height, metadata, never_require_signed) \
             VALUES ($1, 'public', 'scale-down', 1366, 768, 'none', 0)",
        )
        .bind(&account.account_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO cf_keys (account_id, name, value, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&account.account_id)
        .bind(DEFAULT_KEY)
        .bind(random_token(KEY_ALPHABET, 43))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Makes the configuration file's account exist as written: created when missing,
    /// its bucket and flexible-variants flag updated when present.
    pub async fn cf_ensure_account(
        &self,
        account_id: &str,
        account_hash: &str,
        bucket: &str,
        flexible_variants: bool,
    ) -> StoreResult<CfAccount> {
        if let Some(problem) = account_problem(account_id, account_hash) {
            return Err(StoreError::InvalidArgument(problem));
        }
        match self.cf_account(account_id).await? {
            None => {
                self.cf_create_account(
                    Some(account_id),
                    Some(account_hash),
                    bucket,
                    flexible_variants,
                )
                .await
            }
            Some(existing) => {
                self.bucket(bucket).await?;
                sqlx::query(
                    "UPDATE cf_accounts SET account_hash = $1, bucket = $2, flexible_variants = $3 WHERE account_id = $4",
                )
                .bind(account_hash)
                .bind(bucket)
                .bind(i64::from(flexible_variants))
                .bind(&existing.account_id)
                .execute(&self.db)
                .await?;
                Ok(CfAccount {
                    account_hash: account_hash.to_owned(),
                    bucket: bucket.to_owned(),
                    flexible_variants,
                    ..existing
                })
            }
        }
    }

    pub async fn cf_set_flexible_variants(&self, account_id: &str, on: bool) -> StoreResult<()> {
        sqlx::query("UPDATE cf_accounts SET flexible_variants = $1 WHERE account_id = $2")
            .bind(i64::from(on))
            .bind(account_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    // ---- tokens ---------------------------------------------------------------------

    /// Creates a bearer token; the returned string is the only copy of the token.
    pub async fn cf_create_token(
        &self,
        account_id: &str,
        name: &str,
    ) -> StoreResult<(CfToken, String)> {
        if self.cf_account(account_id).await?.is_none() {
            return Err(StoreError::InvalidArgument(format!(
                "no images account {account_id}"
            )));
        }
        let secret = format!("imgdcf_{}", random_token(TOKEN_ALPHABET, 40));
        let token = CfToken {
            id: format!("tok_{}", random_token(HEX, 16)),
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            created_ms: now_ms(),
        };
        sqlx::query(
            "INSERT INTO cf_tokens (id, account_id, name, token_sha256, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.id)
        .bind(account_id)
        .bind(name)
        .bind(sha256_hex(&secret))
        .bind(token.created_ms)
        .execute(&self.db)
        .await?;
        Ok((token, secret))
    }

    pub async fn cf_tokens(&self, account_id: Option<&str>) -> StoreResult<Vec<CfToken>> {
        let rows = sqlx::query(
            "SELECT id, account_id, name, created_ms FROM cf_tokens \
             WHERE $1 IS NULL OR account_id = $2 ORDER BY created_ms, id",
        )
        .bind(account_id)
        .bind(account_id)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CfToken {
                    id: row.try_get("id")?,
                    account_id: row.try_get("account_id")?,
                    name: row.try_get("name")?,
                    created_ms: row.try_get("created_ms")?,
                })
            })
            .collect()
    }

    /// Revokes a token: its row goes, so the next request with it is refused.
    pub async fn cf_revoke_token(&self, token_id: &str) -> StoreResult<()> {
        let res = sqlx::query("DELETE FROM cf_tokens WHERE id = $1")
            .bind(token_id)
            .execute(&self.db)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::InvalidArgument(format!("no token {token_id}")));
        }
        Ok(())
    }

    /// The account a bearer token belongs to, if the token is live.
    pub async fn cf_token_account(&self, token: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT account_id FROM cf_tokens WHERE token_sha256 = $1")
            .bind(sha256_hex(token))
            .fetch_optional(&self.db)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("account_id")?),
            None => None,
        })
    }

    // ---- signing keys ---------------------------------------------------------------

    pub async fn cf_keys(&self, account_id: &str) -> StoreResult<Vec<CfKey>> {
        let rows = sqlx::query(
            "SELECT name, value FROM cf_keys WHERE account_id = $1 ORDER BY created_ms, name",
        )
        .bind(account_id)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CfKey {
                    name: row.try_get("name")?,
                    value: row.try_get("value")?,
                })
            })
            .collect()
    }

    /// Creates (or, as Cloudflare's PUT does, replaces) the key `name` with a fresh value.
    pub async fn cf_put_key(&self, account_id: &str, name: &str) -> StoreResult<CfKey> {
        if let Some(problem) = key_name_problem(name) {
            return Err(StoreError::InvalidArgument(problem));
        }
        let key = CfKey {
            name: name.to_owned(),
            value: random_token(KEY_ALPHABET, 43),
        };
        sqlx::query(
            "INSERT INTO cf_keys (account_id, name, value, created_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, name) DO UPDATE SET value = excluded.value, created_ms = excluded.created_ms",
        )
        .bind(account_id)
        .bind(name)
        .bind(&key.value)
        .bind(now_ms())
        .execute(&self.db)
        .await?;
        Ok(key)
    }

    /// Deletes a key; when it was the last one, a new `default` key replaces it in the
    /// same transaction, so the account is never without a key. `Ok(false)`: no such key.
    pub async fn cf_delete_key(&self, account_id: &str, name: &str) -> StoreResult<bool> {
        let mut tx = db::begin_write(&self.db).await?;
        let res = sqlx::query("DELETE FROM cf_keys WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Ok(false);
        }
        let left: i64 = sqlx::query("SELECT COUNT(*) AS n FROM cf_keys WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if left == 0 {
            sqlx::query(
                "INSERT INTO cf_keys (account_id, name, value, created_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(account_id)
            .bind(DEFAULT_KEY)
            .bind(random_token(KEY_ALPHABET, 43))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    // ---- variants -------------------------------------------------------------------

    pub async fn cf_variants(&self, account_id: &str) -> StoreResult<Vec<CfVariant>> {
        let rows = sqlx::query(&format!(
            "SELECT {VARIANT_COLUMNS} FROM cf_variants WHERE account_id = $1 ORDER BY name"
        ))
        .bind(account_id)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(variant_from_row).collect()
    }

    pub async fn cf_variant(&self, account_id: &str, name: &str) -> StoreResult<Option<CfVariant>> {
        let row = sqlx::query(&format!(
            "SELECT {VARIANT_COLUMNS} FROM cf_variants WHERE account_id = $1 AND name = $2"
        ))
        .bind(account_id)
        .bind(name)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(variant_from_row).transpose()
    }

    /// Creates a variant (`create`: refused when the name exists or the account has
    /// [`MAX_VARIANTS`]) or replaces an existing one (`!create`: refused when missing).
    pub async fn cf_save_variant(
        &self,
        account_id: &str,
        variant: &CfVariant,
        create: bool,
    ) -> StoreResult<()> {
        let mut tx = db::begin_write(&self.db).await?;
        let exists = sqlx::query("SELECT 1 FROM cf_variants WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(&variant.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if create && exists {
            return Err(StoreError::AlreadyExists);
        }
        if !create && !exists {
            return Err(StoreError::NoSuchKey);
        }
        if create {
            let count: i64 =
                sqlx::query("SELECT COUNT(*) AS n FROM cf_variants WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
            if count as usize >= MAX_VARIANTS {
                return Err(StoreError::InvalidArgument(format!(
                    "an account has at most {MAX_VARIANTS} variants"
                )));
            }
        }
        sqlx::query(
            "INSERT INTO cf_variants (account_id, name, fit, width, height, metadata, never_require_signed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, name) DO UPDATE SET \
             fit = excluded.fit, width = excluded.width, height = excluded.height, \
             metadata = excluded.metadata, never_require_signed = excluded.never_require_signed",
        )
        .bind(account_id)
        .bind(&variant.name)
        .bind(&variant.fit)
        .bind(variant.width.map(i64::from))
        .bind(variant.height.map(i64::from))
        .bind(&variant.metadata)
        .bind(i64::from(variant.never_require_signed))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `Ok(false)`: no such variant.
    pub async fn cf_delete_variant(&self, account_id: &str, name: &str) -> StoreResult<bool> {
        let res = sqlx::query("DELETE FROM cf_variants WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .execute(&self.db)
            .await?;
        Ok(res.rows_affected() > 0)
    }
}

fn account_from_row(row: &sqlx::any::AnyRow) -> StoreResult<CfAccount> {
    Ok(CfAccount {
        account_id: row.try_get("account_id")?,
        account_hash: row.try_get("account_hash")?,
        bucket: row.try_get("bucket")?,
        flexible_variants: db::flag(row, "flexible_variants")?,
    })
}

fn variant_from_row(row: &sqlx::any::AnyRow) -> StoreResult<CfVariant> {
    let side = |name: &str| -> StoreResult<Option<u32>> {
        let v: Option<i64> = row.try_get(name)?;
        Ok(v.and_then(|v| u32::try_from(v).ok()))
    };
    Ok(CfVariant {
        name: row.try_get("name")?,
        fit: row.try_get("fit")?,
        width: side("width")?,
        height: side("height")?,
        metadata: row.try_get("metadata")?,
        never_require_signed: db::flag(row, "never_require_signed")?,
    })
}

#[cfg(test)]
mod tests {
    use super::account_problem;

    #[test]
    fn account_hashes_can_never_be_bucket_names() {
        let id = "0123456789abcdef0123456789abcdef";
        assert!(account_problem(id, "cheeW4oKsx5ljh8e8BoL2A").is_none());
        assert!(account_problem(id, "abcdefghijklmnopqrstuv").is_some());
        assert!(account_problem(id, "short_A").is_some());
        assert!(account_problem("0123", "cheeW4oKsx5ljh8e8BoL2A").is_some());
        assert!(account_problem(&id.to_uppercase(), "cheeW4oKsx5ljh8e8BoL2A").is_some());
    }
}
