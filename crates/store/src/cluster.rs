//! Changes that other nodes must see, on a PostgreSQL deployment.
//!
//! Nodes share nothing but the database and the blob store, yet each keeps two things in
//! memory that a change elsewhere makes stale: bucket views ([`crate::views`]) and the
//! variant cache that follows [`Store::subscribe_changes`]. Every committed object
//! overwrite or delete, and every bucket change, is therefore sent to
//! `NOTIFY imgd_changes` as well as applied locally. Each node LISTENs on its own
//! connection and applies what other nodes sent.
//!
//! A notice is lost only while a node's listening connection is down; when it comes back,
//! the node treats everything as changed (bucket views and the whole variant cache), so
//! a gap costs re-reads, never a stale answer after the reconnect.
//!
//! Secrets, keys, grants, styles and origins need no notice: they are read from the
//! database on every use, so a revocation on one node holds on all of them at once.

use crate::error::StoreResult;
use crate::views::BucketViews;
use crate::{Change, Store};
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const CHANNEL: &str = "imgd_changes";

pub(crate) struct Cluster {
    /// This process's name in notices, so it skips the ones it sent itself.
    node: String,
}

/// What a notice says, after its sender's node id.
enum Notice<'a> {
    Object { bucket: &'a str, key: &'a str },
    Buckets,
}

impl Notice<'_> {
    fn encode(&self, node: &str) -> String {
        match self {
            Notice::Object { bucket, key } => format!("{node}\no\n{bucket}\n{key}"),
            Notice::Buckets => format!("{node}\nb"),
        }
    }
}

/// Parses a notice into its sender and what changed. A key may hold newlines, so it is
/// everything after the bucket's line.
fn decode(payload: &str) -> Option<(&str, Notice<'_>)> {
    let mut fields = payload.splitn(4, '\n');
    let node = fields.next()?;
    let notice = match fields.next()? {
        "o" => Notice::Object {
            bucket: fields.next()?,
            key: fields.next()?,
        },
        "b" => Notice::Buckets,
        _ => return None,
    };
    Some((node, notice))
}

/// Connects this store to the cluster: starts listening before anything is served, so no
/// change committed after start-up is missed.
pub(crate) async fn join(mut store: Store, url: &str) -> StoreResult<Store> {
    let node = uuid::Uuid::new_v4().simple().to_string();
    let listener = listen(url).await?;
    tokio::spawn(follow(
        listener,
        url.to_owned(),
        node.clone(),
        store.changes.clone(),
        store.bucket_views.clone(),
    ));
    store.cluster = Some(Arc::new(Cluster { node }));
    Ok(store)
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn follow(
    mut listener: PgListener,
    url: String,
    node: String,
    changes: broadcast::Sender<Change>,
    views: Arc<BucketViews>,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notice)) => match decode(notice.payload()) {
                Some((sender, _)) if sender == node => {}
                Some((_, Notice::Object { bucket, key })) => {
                    let _ = changes.send(Change::Object {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    });
                }
                Some((_, Notice::Buckets)) => views.bump(),
                None => tracing::warn!(payload = notice.payload(), "unreadable change notice"),
            },
            Ok(None) | Err(_) => {
                tracing::warn!("lost the database's change notices; reconnecting");
                listener = reconnect(&url).await;
                // Whatever changed while nobody listened is unknown: drop it all.
                views.bump();
                let _ = changes.send(Change::Everything);
                tracing::info!("listening for change notices again");
            }
        }
    }
}

async fn reconnect(url: &str) -> PgListener {
    let mut wait = Duration::from_millis(100);
    loop {
        match listen(url).await {
            Ok(listener) => return listener,
            Err(e) => {
                tracing::debug!(error = %e, "change notices: database not reachable yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
        }
    }
}

impl Store {
    /// A feed of committed overwrites and deletes, from now on: this process's own, and on
    /// PostgreSQL every other node's too.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// After an object's overwrite or delete commits.
    pub(crate) async fn announce_change(&self, bucket: &str, key: &str) {
        // No receivers is the normal case for admin commands; nothing to do then.
        let _ = self.changes.send(Change::Object {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        });
        self.tell_cluster(Notice::Object { bucket, key }).await;
    }

    /// After a change to a bucket's row (ACL, settings, policy, origin, styles' owner)
    /// commits: every cached bucket view is stale.
    pub(crate) async fn buckets_changed(&self) {
        self.bucket_views.bump();
        self.tell_cluster(Notice::Buckets).await;
    }

    /// Sent after the commit, and awaited, so that a command that exits right after its
    /// change has told the servers. A database that refuses the notice is one the
    /// listeners have lost too, and they drop everything when they reconnect; one retry
    /// covers a pooled connection that just broke.
    async fn tell_cluster(&self, notice: Notice<'_>) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let payload = notice.encode(&cluster.node);
        for attempt in 0..2 {
            let sent = sqlx::query("SELECT COUNT(*) FROM (SELECT pg_notify($1, $2)) AS sent")
                .bind(CHANNEL)
                .bind(&payload)
                .execute(&self.relaxed)
                .await;
            match sent {
                Ok(_) => return,
                Err(e) if attempt == 1 => {
                    tracing::warn!(error = %e, "could not tell the other nodes of a change")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_keys_with_newlines() {
        let text = Notice::Object {
            bucket: "photos",
            key: "a\nb\nc.jpg",
        }
        .encode("n1");
        match decode(&text) {
            Some(("n1", Notice::Object { bucket, key })) => {
                assert_eq!((bucket, key), ("photos", "a\nb\nc.jpg"))
            }
            _ => panic!("not decoded: {text:?}"),
        }
        assert!(matches!(
            decode(&Notice::Buckets.encode("n2")),
            Some(("n2", Notice::Buckets))
        ));
        assert!(decode("n3\nx").is_none());
        assert!(decode("n3").is_none());
    }
}
