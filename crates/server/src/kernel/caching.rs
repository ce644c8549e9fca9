//! Caching headers for responses that a link granted: `Cache-Control: max-age` and
//! `Expires` never reach past the link's expiry, whichever door checked the link.

use crate::kernel::date::http_date_header as http_date;
use http::{HeaderValue, header};

/// How long a response may be cached, and until when.
#[derive(Debug, Clone, Copy)]
pub struct Caching {
    max_age: i64,
    /// Absolute end of caching: the link's expiry, if it has one.
    until: Option<i64>,
}

impl Caching {
    /// A link's remaining life caps the TTL; an expired-by-now link (which the door
    /// would already have refused) caches for zero seconds.
    pub fn new(link_expires_at: Option<i64>, ttl_secs: u32, now: i64) -> Self {
        let ttl = i64::from(ttl_secs);
        match link_expires_at {
            Some(exp) => {
                let max_age = ttl.min(exp - now).max(0);
                Caching {
                    max_age,
                    until: Some(now + max_age),
                }
            }
            None => Caching {
                max_age: ttl,
                until: None,
            },
        }
    }

    pub fn apply(&self, headers: &mut http::HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={}", self.max_age)) {
            headers.insert(header::CACHE_CONTROL, v);
        }
        if let Some(until) = self.until
            && let Some(v) = http_date(until)
        {
            headers.insert(header::EXPIRES, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caching_never_outlives_the_link() {
        let grant = |exp| exp;
        let c = Caching::new(grant(Some(1_060)), 3600, 1_000);
        assert_eq!((c.max_age, c.until), (60, Some(1_060)));
        let c = Caching::new(grant(Some(100_000)), 3600, 1_000);
        assert_eq!((c.max_age, c.until), (3600, Some(4_600)));
        let c = Caching::new(grant(Some(900)), 3600, 1_000);
        assert_eq!(c.max_age, 0);
        let c = Caching::new(grant(None), 600, 1_000);
        assert_eq!((c.max_age, c.until), (600, None));
    }
}
