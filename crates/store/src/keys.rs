//! Extra access keys, each limited to chosen buckets. The root key lives in the
//! configuration, not here, so changing it never needs the database.

use crate::error::{StoreError, StoreResult};
use crate::model::{AccessKey, Permission, now_ms};
use crate::{Store, db};
use rand::Rng;
use sqlx::Row;

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random string over `alphabet`, from the OS-seeded thread RNG.
pub fn random_token(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A new access key id in AWS's shape (20 upper-case characters).
pub fn new_access_key_id() -> String {
    format!("IMGD{}", random_token(KEY_ALPHABET, 16))
}

/// A new 40-character secret.
pub fn new_secret_key() -> String {
    random_token(SECRET_ALPHABET, 40)
}

impl Store {
    pub async fn create_access_key(
        &self,
        description: &str,
        grants: &[(String, Permission)],
    ) -> StoreResult<AccessKey> {
        for (bucket, _) in grants {
            self.bucket(bucket).await?;
        }
        let key = AccessKey {
            access_key: new_access_key_id(),
            secret_key: new_secret_key(),
            created_ms: now_ms(),
            revoked_ms: None,
            description: description.to_owned(),
            grants: grants.to_vec(),
        };
        let mut tx = db::begin_write(&self.db).await?;
        sqlx::query("INSERT INTO access_keys (access_key, secret_key, created_ms, description) VALUES ($1, $2, $3, $4)")
            .bind(&key.access_key)
            .bind(&key.secret_key)
            .bind(key.created_ms)
            .bind(description)
            .execute(&mut *tx)
            .await?;
        for (bucket, perm) in grants {
            sqlx::query(
                "INSERT INTO key_grants (access_key, bucket, permission) VALUES ($1, $2, $3)",
            )
            .bind(&key.access_key)
            .bind(bucket)
            .bind(perm.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(key)
    }

    /// An active (not revoked) key with its grants, or `None`.
    pub async fn active_access_key(&self, access_key: &str) -> StoreResult<Option<AccessKey>> {
        let row = sqlx::query(
            "SELECT access_key, secret_key, created_ms, revoked_ms, description FROM access_keys \
             WHERE access_key = $1 AND revoked_ms IS NULL",
        )
        .bind(access_key)
        .fetch_optional(&self.db)
        .await?;
        match row {
            Some(row) => Ok(Some(self.key_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    pub async fn list_access_keys(&self) -> StoreResult<Vec<AccessKey>> {
        let rows = sqlx::query(
            "SELECT access_key, secret_key, created_ms, revoked_ms, description FROM access_keys ORDER BY created_ms, access_key",
        )
        .fetch_all(&self.db)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            keys.push(self.key_from_row(row).await?);
        }
        Ok(keys)
    }

    /// Revokes a key; requests signed with it fail from the next request on.
    pub async fn revoke_access_key(&self, access_key: &str) -> StoreResult<()> {
        let res = sqlx::query(
            "UPDATE access_keys SET revoked_ms = $1 WHERE access_key = $2 AND revoked_ms IS NULL",
        )
        .bind(now_ms())
        .bind(access_key)
        .execute(&self.db)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::InvalidArgument(format!(
                "no active access key {access_key}"
            )));
        }
        Ok(())
    }

    async fn key_from_row(&self, row: &sqlx::any::AnyRow) -> StoreResult<AccessKey> {
        let access_key: String = row.try_get("access_key")?;
        let grants = sqlx::query(
            "SELECT bucket, permission FROM key_grants WHERE access_key = $1 ORDER BY bucket",
        )
        .bind(&access_key)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|g| {
            let perm: String = g.try_get("permission")?;
            Ok((
                g.try_get::<String, _>("bucket")?,
                Permission::parse(&perm)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown permission {perm:?}")))?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
        Ok(AccessKey {
            access_key,
            secret_key: row.try_get("secret_key")?,
            created_ms: row.try_get("created_ms")?,
            revoked_ms: row.try_get("revoked_ms")?,
            description: row.try_get("description")?,
            grants,
        })
    }
}
