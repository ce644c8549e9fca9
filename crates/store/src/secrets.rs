//! Link-signing secrets: account-wide or per bucket, several active at once for
//! rotation, each revocable. Looked up on every signed request, so a revocation applies
//! to the next request.

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::keys::random_token;
use crate::model::{Secret, now_ms};
use sqlx::Row;

const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Store {
    /// Creates a secret for `bucket` (or the account when `None`). `value` lets an
    /// operator import a secret that existing links were signed with.
    pub async fn create_secret(
        &self,
        bucket: Option<&str>,
        value: Option<&str>,
        description: &str,
    ) -> StoreResult<Secret> {
        if let Some(b) = bucket {
            self.bucket(b).await?;
        }
        let secret_value = match value {
            Some(v) if v.len() < 8 => {
                return Err(StoreError::InvalidArgument(
                    "a secret must be at least 8 characters".into(),
                ));
            }
            Some(v) => v.to_owned(),
            None => random_token(SECRET_ALPHABET, 40),
        };
        let secret = Secret {
            id: format!("sec_{}", random_token(ID_ALPHABET, 12)),
            bucket: bucket.map(str::to_owned),
            secret: secret_value,
            created_ms: now_ms(),
            revoked_ms: None,
            description: description.to_owned(),
        };
        sqlx::query(
            "INSERT INTO secrets (id, bucket, secret, created_ms, description) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&secret.id)
        .bind(&secret.bucket)
        .bind(&secret.secret)
        .bind(secret.created_ms)
        .bind(description)
        .execute(&self.db)
        .await?;
        Ok(secret)
    }

    /// Every secret that could have signed a link to `bucket` (its own and the
    /// account's), revoked ones included.
    pub async fn secrets_for_bucket(&self, bucket: &str) -> StoreResult<Vec<Secret>> {
        let rows = sqlx::query(
            "SELECT id, bucket, secret, created_ms, revoked_ms, description FROM secrets \
             WHERE bucket = $1 OR bucket IS NULL ORDER BY created_ms, id",
        )
        .bind(bucket)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(secret_from_row).collect()
    }

    /// All secrets, or those of one bucket (`Some("")` is not a bucket: use `None`).
    pub async fn list_secrets(&self, bucket: Option<&str>) -> StoreResult<Vec<Secret>> {
        let rows =
            match bucket {
                Some(b) => sqlx::query(
                    "SELECT id, bucket, secret, created_ms, revoked_ms, description FROM secrets \
                     WHERE bucket = $1 ORDER BY created_ms, id",
                )
                .bind(b)
                .fetch_all(&self.db)
                .await?,
                None => sqlx::query(
                    "SELECT id, bucket, secret, created_ms, revoked_ms, description FROM secrets \
                     ORDER BY created_ms, id",
                )
                .fetch_all(&self.db)
                .await?,
            };
        rows.iter().map(secret_from_row).collect()
    }

    pub async fn revoke_secret(&self, id: &str) -> StoreResult<()> {
        let res =
            sqlx::query("UPDATE secrets SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&self.db)
                .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::InvalidArgument(format!(
                "no active secret {id}"
            )));
        }
        Ok(())
    }
}

fn secret_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Secret> {
    Ok(Secret {
        id: row.try_get("id")?,
        bucket: row.try_get("bucket")?,
        secret: row.try_get("secret")?,
        created_ms: row.try_get("created_ms")?,
        revoked_ms: row.try_get("revoked_ms")?,
        description: row.try_get("description")?,
    })
}
