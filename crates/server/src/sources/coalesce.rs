//! Request coalescing: while one task computes the value for a key, later callers for
//! the same key wait for that value instead of starting their own computation.
//!
//! The work runs in a spawned task, so a leader whose client disconnects does not
//! strand the waiters, and a panic in the work reaches every waiter as
//! [`Coalesced::Panicked`] instead of a hang.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

type Slot<V> = watch::Receiver<Option<Coalesced<V>>>;

/// What a caller of [`Coalescer::run`] gets.
#[derive(Debug, Clone)]
pub enum Coalesced<V> {
    Value(V),
    /// The computation panicked (already logged).
    Panicked,
}

pub struct Coalescer<K, V> {
    inflight: Arc<Mutex<HashMap<K, Slot<V>>>>,
}

impl<K, V> Clone for Coalescer<K, V> {
    fn clone(&self) -> Self {
        Coalescer {
            inflight: self.inflight.clone(),
        }
    }
}

impl<K, V> Default for Coalescer<K, V> {
    fn default() -> Self {
        Coalescer {
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K, V> Coalescer<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Runs `work` for `key` unless a run for `key` is already in flight, in which case
    /// waits for that run's value. The second field tells whether this call started
    /// the work.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> (Coalesced<V>, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (mut slot, led) = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match inflight.get(&key) {
                Some(slot) => (slot.clone(), false),
                None => {
                    let (tx, rx) = watch::channel(None);
                    inflight.insert(key.clone(), rx.clone());
                    let fut = work();
                    let inflight = self.inflight.clone();
                    tokio::spawn(async move {
                        let outcome = match tokio::spawn(fut).await {
                            Ok(v) => Coalesced::Value(v),
                            Err(e) => {
                                tracing::error!(error = %e, "coalesced work failed");
                                Coalesced::Panicked
                            }
                        };
                        // Forget the key before publishing, so a caller arriving after
                        // the value was published starts afresh rather than joining a
                        // finished run.
                        inflight
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&key);
                        let _ = tx.send(Some(outcome));
                    });
                    (rx, true)
                }
            }
        };
        loop {
            if let Some(v) = slot.borrow_and_update().clone() {
                return (v, led);
            }
            if slot.changed().await.is_err() {
                // The sender is only dropped after sending, so this is unreachable
                // short of a runtime shutdown; treat it like a failed run.
                return (Coalesced::Panicked, led);
            }
        }
    }

    /// Keys with work in flight (for tests and metrics).
    pub fn in_flight(&self) -> usize {
        self.inflight.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_run() {
        let c: Coalescer<&'static str, usize> = Coalescer::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..50 {
            let c = c.clone();
            let runs = runs.clone();
            handles.push(tokio::spawn(async move {
                c.run("k", move || async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    runs.fetch_add(1, Ordering::SeqCst) + 7
                })
                .await
            }));
        }
        let mut leaders = 0;
        for h in handles {
            let (v, led) = h.await.unwrap();
            assert!(matches!(v, Coalesced::Value(7)));
            leaders += usize::from(led);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(leaders, 1);
        assert_eq!(c.in_flight(), 0);
        // A later call runs again.
        let (v, led) = c.run("k", || async { 1 }).await;
        assert!(matches!(v, Coalesced::Value(1)) && led);
    }

    #[tokio::test]
    async fn a_dropped_leader_does_not_strand_waiters() {
        let c: Coalescer<u8, u8> = Coalescer::default();
        let leader = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run(1, || async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    9
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        leader.abort();
        let (v, led) = c.run(1, || async { 0 }).await;
        assert!(matches!(v, Coalesced::Value(9)));
        assert!(!led);
    }

    #[tokio::test]
    async fn a_panic_reaches_every_waiter() {
        let c: Coalescer<u8, u8> = Coalescer::default();
        let (v, _) = c
            .run(1, || async {
                if true {
                    panic!("boom");
                }
                0
            })
            .await;
        assert!(matches!(v, Coalesced::Panicked));
        assert_eq!(c.in_flight(), 0);
    }
}
