//! The server's idea of "now" for link expiry.
//!
//! Expiring links are judged against wall-clock time. Tests of week and expiry edges
//! need to put the server just before such an edge and watch it cross, so the clock
//! can start at a chosen instant and then run at normal speed.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    offset_secs: i64,
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that reads `unix_seconds` now and advances in real time from there.
    pub fn starting_at(unix_seconds: i64) -> Clock {
        Clock {
            offset_secs: unix_seconds - system_now(),
        }
    }

    /// Unix seconds.
    pub fn now(&self) -> i64 {
        system_now().saturating_add(self.offset_secs)
    }

    /// Unix milliseconds, for what orders events within a second (the async task
    /// queue).
    pub fn now_ms(&self) -> i64 {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        ms.saturating_add(self.offset_secs.saturating_mul(1000))
    }

    pub fn is_system(&self) -> bool {
        self.offset_secs == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_clock_reads_its_start_and_runs_on() {
        let c = Clock::starting_at(1_640_730_000);
        let now = c.now();
        assert!((1_640_730_000..1_640_730_002).contains(&now));
        assert!(Clock::system().now() > 1_700_000_000);
        assert!((1_640_730_000_000..1_640_730_002_000).contains(&c.now_ms()));
    }
}
