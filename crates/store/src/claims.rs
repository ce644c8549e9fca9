//! One origin fetch per object across the whole cluster.
//!
//! Each node coalesces its own concurrent misses of one object into one fetch (the
//! server's `sources`). On PostgreSQL, that node's leader first claims the object with a
//! session-level advisory lock on a connection of its own: the node that gets it fetches;
//! the others poll for the object to appear in the store (it does when the fetch commits)
//! or for the lock to come free (the fetch failed), then look again or claim it
//! themselves. A node that dies holding a claim loses its connection, and PostgreSQL
//! releases the lock with it, so nobody waits on a dead node; a live one that hangs is
//! waited for at most [`CLAIM_PATIENCE`].

use crate::db::Dialect;
use crate::error::StoreResult;
use crate::{ObjectInfo, Store, StoreError};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Row};
use std::time::{Duration, Instant};

/// The first key of every fetch claim (the two-key form of `pg_advisory_lock`, a key
/// space apart from the write lock's single key).
const CLAIM_SPACE: i32 = 0x6f72_6967; // "orig"
const POLL: Duration = Duration::from_millis(100);
/// How long a node waits for another node's fetch before it fetches too.
pub const CLAIM_PATIENCE: Duration = Duration::from_secs(60);

/// The outcome of [`Store::claim_origin_fetch`].
pub enum FetchClaim {
    /// This node fetches; the claim holds until [`ClaimGuard::release`] or drop.
    Lead(ClaimGuard),
    /// Another node fetched and stored the object meanwhile.
    Stored(Box<ObjectInfo>),
}

/// A held claim. Dropping it without [`ClaimGuard::release`] closes its connection,
/// which releases the lock too.
pub struct ClaimGuard {
    held: Option<(sqlx::AnyConnection, i32)>,
}

impl ClaimGuard {
    pub async fn release(mut self) {
        if let Some((mut conn, key)) = self.held.take() {
            let _ = sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_unlock($1, $2)) AS u")
                .bind(CLAIM_SPACE)
                .bind(key)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

fn claim_key(bucket: &str, key: &str) -> i32 {
    let digest = Sha256::new()
        .chain_update(bucket.as_bytes())
        .chain_update([0u8])
        .chain_update(key.as_bytes())
        .finalize();
    i32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

impl Store {
    /// Claims the one origin fetch of `bucket/key` among all nodes (see the module
    /// overview). On SQLite there is one node, whose own coalescing suffices: always
    /// `Lead`.
    pub async fn claim_origin_fetch(&self, bucket: &str, key: &str) -> StoreResult<FetchClaim> {
        if self.dialect == Dialect::Sqlite {
            return Ok(FetchClaim::Lead(ClaimGuard { held: None }));
        }
        let lock = claim_key(bucket, key);
        // Its own connection, out of the pool: a session lock must not go back to the
        // pool with the connection, and a fetch may last minutes.
        let mut conn = self.db.acquire().await?.detach();
        let deadline = Instant::now() + CLAIM_PATIENCE;
        loop {
            let got: bool = sqlx::query(
                "SELECT COUNT(*) AS n FROM (SELECT 1 WHERE pg_try_advisory_lock($1, $2)) AS l",
            )
            .bind(CLAIM_SPACE)
            .bind(lock)
            .fetch_one(&mut conn)
            .await?
            .try_get::<i64, _>("n")?
                == 1;
            // Looked up after the lock is taken as well: the previous holder may have
            // stored it just before letting go.
            match self.object(bucket, key).await {
                Ok(info) => {
                    let guard = ClaimGuard {
                        held: got.then_some((conn, lock)),
                    };
                    guard.release().await;
                    return Ok(FetchClaim::Stored(Box::new(info)));
                }
                Err(StoreError::NoSuchKey) => {}
                Err(e) => return Err(e),
            }
            if got {
                return Ok(FetchClaim::Lead(ClaimGuard {
                    held: Some((conn, lock)),
                }));
            }
            if Instant::now() > deadline {
                tracing::warn!(
                    bucket,
                    key,
                    "another node's origin fetch is taking too long; fetching too"
                );
                return Ok(FetchClaim::Lead(ClaimGuard { held: None }));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
