//! Failure backoff per key: after a failure the key is left alone for a delay that
//! doubles with each further failure, up to a cap; a success forgets it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry {
    until: Instant,
    delay: Duration,
}

pub struct Backoffs<K> {
    first: Duration,
    cap: Duration,
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K: Hash + Eq> Backoffs<K> {
    pub fn new(first: Duration, cap: Duration) -> Self {
        Backoffs {
            first,
            cap,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whole seconds until `key` may be tried again, while it is backing off.
    pub fn remaining(&self, key: &K) -> Option<u64> {
        let now = Instant::now();
        let entries = self.entries();
        let e = entries.get(key)?;
        (e.until > now).then(|| (e.until - now).as_secs_f64().ceil() as u64)
    }

    pub fn failed(&self, key: K) {
        let mut entries = self.entries();
        let delay = entries
            .get(&key)
            .map(|e| (e.delay * 2).min(self.cap))
            .unwrap_or(self.first);
        entries.insert(
            key,
            Entry {
                until: Instant::now() + delay,
                delay,
            },
        );
    }

    pub fn succeeded(&self, key: &K) {
        self.entries().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_success_forgets() {
        let b = Backoffs::new(Duration::from_secs(60), Duration::from_secs(150));
        assert_eq!(b.remaining(&"a"), None);
        b.failed("a");
        assert_eq!(b.remaining(&"a"), Some(60));
        b.failed("a");
        assert_eq!(b.remaining(&"a"), Some(120));
        b.failed("a");
        assert_eq!(b.remaining(&"a"), Some(150));
        assert_eq!(b.remaining(&"b"), None);
        b.succeeded(&"a");
        assert_eq!(b.remaining(&"a"), None);
    }
}
