//! Global admission control for rendering, budgeted in bytes.
//!
//! Every job reserves its peak working memory (the engine's estimate from the header
//! and the pipeline, `imaging::engine::cost::peak_bytes`: decoded frames,
//! intermediates, filter buffers, the encoder's state) from one shared budget before it
//! decodes, and a worker slot so that CPU-bound jobs do not oversubscribe the cores. A
//! job that cannot get both within the queue wait is refused with 503 and Retry-After
//! instead of piling up until the process is killed for memory; a job larger than the
//! whole budget is refused outright ([`Refusal::TooLarge`]), so the process stays under
//! its configured ceiling whatever the URL.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget accounting unit: 64 KiB.
const UNIT_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Bytes all running jobs may hold at once.
    pub budget_bytes: u64,
    /// Jobs rendering at once.
    pub workers: usize,
    /// How long a job may wait for budget and a worker before it is refused.
    pub queue_wait: Duration,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            budget_bytes: 896 << 20,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_wait: Duration::from_secs(2),
        }
    }
}

#[derive(Clone)]
pub struct Admission {
    budget_bytes: u64,
    budget_units: u32,
    bytes: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    queue_wait: Duration,
}

/// Held while a job renders; dropping it returns the budget.
pub struct Admitted {
    _bytes: OwnedSemaphorePermit,
    _worker: OwnedSemaphorePermit,
}

/// The job could not be admitted in time; the client should retry after this long.
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    pub retry_after: Duration,
}

/// Why a job was not admitted.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    Busy(Busy),
    /// The job alone needs more than the whole budget: it can never run.
    TooLarge {
        needed: u64,
        budget: u64,
    },
}

impl Admission {
    pub fn new(cfg: &AdmissionConfig) -> Admission {
        // Rounded up, so that a job of exactly the budget fits; the semaphore's view of
        // the budget is then at most one unit (64 KiB) over it.
        let budget_units = cfg
            .budget_bytes
            .div_ceil(UNIT_BYTES)
            .clamp(1, u64::from(u32::MAX >> 3)) as u32;
        Admission {
            budget_bytes: cfg.budget_bytes,
            budget_units,
            bytes: Arc::new(Semaphore::new(budget_units as usize)),
            workers: Arc::new(Semaphore::new(cfg.workers.max(1))),
            queue_wait: cfg.queue_wait,
        }
    }

    /// Reserves `bytes` of the budget and a worker.
    pub async fn admit(&self, bytes: u64) -> Result<Admitted, Refusal> {
        if bytes > self.budget_bytes {
            metrics::counter!("imgd_process_rejected_total", "reason" => "too_large").increment(1);
            return Err(Refusal::TooLarge {
                needed: bytes,
                budget: self.budget_bytes,
            });
        }
        let units = bytes
            .div_ceil(UNIT_BYTES)
            .clamp(1, u64::from(self.budget_units));
        let budget = self.bytes.clone();
        let workers = self.workers.clone();
        let reserve = async move {
            let bytes = budget.acquire_many_owned(units as u32).await.ok()?;
            let worker = workers.acquire_owned().await.ok()?;
            Some(Admitted {
                _bytes: bytes,
                _worker: worker,
            })
        };
        match tokio::time::timeout(self.queue_wait, reserve).await {
            Ok(Some(admitted)) => Ok(admitted),
            _ => {
                metrics::counter!("imgd_process_rejected_total", "reason" => "busy").increment(1);
                Err(Refusal::Busy(Busy {
                    retry_after: self.queue_wait.max(Duration::from_secs(1)),
                }))
            }
        }
    }

    /// Bytes not reserved right now (for metrics and tests).
    pub fn available_bytes(&self) -> u64 {
        self.bytes.available_permits() as u64 * UNIT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(budget: u64, workers: usize, wait_ms: u64) -> Admission {
        Admission::new(&AdmissionConfig {
            budget_bytes: budget,
            workers,
            queue_wait: Duration::from_millis(wait_ms),
        })
    }

    #[tokio::test]
    async fn over_budget_jobs_wait_then_are_refused() {
        let a = admission(10_000_000, 8, 50);
        let first = a.admit(6_000_000).await.expect("fits");
        assert!(
            a.admit(6_000_000).await.is_err(),
            "second 6 MP job exceeds 10 MP"
        );
        drop(first);
        assert!(a.admit(6_000_000).await.is_ok(), "budget returned on drop");
    }

    #[tokio::test]
    async fn worker_slots_bound_concurrency() {
        let a = admission(1_000_000_000, 1, 50);
        let held = a.admit(1).await.expect("first");
        assert!(a.admit(1).await.is_err());
        drop(held);
        assert!(a.admit(1).await.is_ok());
    }

    #[tokio::test]
    async fn a_job_larger_than_the_whole_budget_is_refused_outright() {
        let a = admission(64 << 20, 4, 50);
        match a.admit(65 << 20).await {
            Err(Refusal::TooLarge { needed, budget }) => {
                assert_eq!((needed, budget), (65 << 20, 64 << 20));
            }
            _ => panic!("a job over the whole budget must never run"),
        }
        let whole = a.admit(64 << 20).await.expect("exactly the budget fits");
        assert_eq!(a.available_bytes(), 0);
        assert!(matches!(a.admit(1).await, Err(Refusal::Busy(_))));
        drop(whole);
        assert_eq!(a.available_bytes(), 64 << 20);
    }

    #[tokio::test]
    async fn a_waiting_job_gets_in_when_budget_frees() {
        let a = admission(1_000_000, 4, 2000);
        let held = a.admit(1_000_000).await.expect("first");
        let a2 = a.clone();
        let waiter = tokio::spawn(async move { a2.admit(500_000).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert!(waiter.await.expect("join"));
    }
}
