//! Global admission control for rendering, budgeted in megapixels.
//!
//! Decoded pixels are what a render costs in memory (4 bytes each, plus a copy or two),
//! so every job reserves its source's pixel count from one shared budget before it
//! decodes, and a worker slot so that CPU-bound jobs do not oversubscribe the cores. A
//! job that cannot get both within the queue wait is refused with 503 and Retry-After
//! instead of piling up until the process is killed for memory.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget accounting unit: one kilopixel.
const UNIT_PIXELS: u64 = 1000;

#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Pixels all running jobs may hold at once.
    pub budget_pixels: u64,
    /// Jobs rendering at once.
    pub workers: usize,
    /// How long a job may wait for budget and a worker before it is refused.
    pub queue_wait: Duration,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            budget_pixels: 256_000_000,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_wait: Duration::from_secs(2),
        }
    }
}

#[derive(Clone)]
pub struct Admission {
    budget_units: u32,
    pixels: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    queue_wait: Duration,
}

/// Held while a job renders; dropping it returns the budget.
pub struct Admitted {
    _pixels: OwnedSemaphorePermit,
    _worker: OwnedSemaphorePermit,
}

/// The job could not be admitted in time; the client should retry after this long.
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    pub retry_after: Duration,
}

impl Admission {
    pub fn new(cfg: &AdmissionConfig) -> Admission {
        let budget_units =
            (cfg.budget_pixels / UNIT_PIXELS).clamp(1, u64::from(u32::MAX >> 3)) as u32;
        Admission {
            budget_units,
            pixels: Arc::new(Semaphore::new(budget_units as usize)),
            workers: Arc::new(Semaphore::new(cfg.workers.max(1))),
            queue_wait: cfg.queue_wait,
        }
    }

    /// Reserves `pixels` of the budget and a worker. A job larger than the whole budget
    /// reserves all of it, so it runs alone rather than never.
    pub async fn admit(&self, pixels: u64) -> Result<Admitted, Busy> {
        let units = pixels
            .div_ceil(UNIT_PIXELS)
            .clamp(1, u64::from(self.budget_units)) as u32;
        let pixels = self.pixels.clone();
        let workers = self.workers.clone();
        let reserve = async move {
            let pixels = pixels.acquire_many_owned(units).await.ok()?;
            let worker = workers.acquire_owned().await.ok()?;
            Some(Admitted {
                _pixels: pixels,
                _worker: worker,
            })
        };
        match tokio::time::timeout(self.queue_wait, reserve).await {
            Ok(Some(admitted)) => Ok(admitted),
            _ => {
                metrics::counter!("imgd_process_rejected_total", "reason" => "busy").increment(1);
                Err(Busy {
                    retry_after: self.queue_wait.max(Duration::from_secs(1)),
                })
            }
        }
    }

    /// Pixels not reserved right now (for metrics and tests).
    pub fn available_pixels(&self) -> u64 {
        self.pixels.available_permits() as u64 * UNIT_PIXELS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(budget: u64, workers: usize, wait_ms: u64) -> Admission {
        Admission::new(&AdmissionConfig {
            budget_pixels: budget,
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
    async fn a_job_larger_than_the_budget_runs_alone() {
        let a = admission(1_000_000, 4, 50);
        let huge = a
            .admit(50_000_000)
            .await
            .expect("clamped to the whole budget");
        assert_eq!(a.available_pixels(), 0);
        assert!(a.admit(1).await.is_err());
        drop(huge);
        assert_eq!(a.available_pixels(), 1_000_000);
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
