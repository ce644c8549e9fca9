//! imageproxy-py / Gazelle links: `/{bucket}/{size}/{sig}/{ext_url}[/proxy]`, signed with
//! a key that rotates every ISO week.
//!
//! Data flow: `now` → [`IsoWeek::containing`] → [`IsoWeek::key`] (`SECRET || YYYY || WW`,
//! as PHP's `date('oW')`) and [`message`] (`bucket "/" ext_url ["/proxy"]`) →
//! [`signature`] (HMAC-SHA256 truncated to 12 bytes, URL-safe base64 without padding).
//! [`verify`] accepts this week's key and that of `now - 7 days`, so a link lives 7 to 14
//! days; it returns [`AcceptedLink::expires_at`] so callers can cap cache lifetimes.
//!
//! Weeks are taken in UTC. Gazelle uses PHP's local time zone; deployments that sign
//! with a non-UTC PHP see links switch keys a few hours off the UTC boundary, which the
//! one-week grace period absorbs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use thiserror::Error;

use crate::primitives::{constant_time_eq, hmac_sha256};

const SECONDS_PER_DAY: i64 = 86_400;
const SECONDS_PER_WEEK: i64 = 7 * SECONDS_PER_DAY;
const TRUNCATED_MAC_LEN: usize = 12;

/// Why a weekly link was refused. A wrong signature and one from a week that has aged
/// out are indistinguishable (the week is not in the URL), and upstream answers both
/// with 410.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    #[error("the signature matches neither this week's key nor last week's")]
    SignatureMismatch,
}

/// An ISO-8601 week: weeks start on Monday and week 1 is the one holding the year's
/// first Thursday, so early-January days can belong to the previous ISO year and late
/// December days to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    year: i64,
    week: u8,
}

impl IsoWeek {
    /// The ISO week (in UTC) containing `unix_seconds`.
    pub fn containing(unix_seconds: i64) -> IsoWeek {
        let day = unix_seconds.div_euclid(SECONDS_PER_DAY);
        // A week belongs to the ISO year of its Thursday, and that Thursday's ordinal
        // within its calendar year fixes the week number.
        let thursday = day - weekday_from_monday(day) + 3;
        let year = calendar_year_of(thursday);
        let ordinal = thursday - days_before_year(year);
        IsoWeek {
            year,
            // `ordinal` is 0..=365, so the quotient is 0..=52.
            week: u8::try_from(ordinal / 7 + 1).unwrap_or(u8::MAX),
        }
    }

    /// The ISO week-numbering year, which differs from the calendar year for a few days
    /// around January 1st.
    pub fn year(self) -> i64 {
        self.year
    }

    /// 1 to 53.
    pub fn week(self) -> u8 {
        self.week
    }

    /// The unix second at which this week's Monday begins (UTC). Saturates for weeks at
    /// the very ends of the `i64` range, which only absurd clocks produce.
    pub fn start(self) -> i64 {
        let january_4 = days_before_year(self.year) + 3;
        let first_monday = january_4 - weekday_from_monday(january_4);
        (first_monday + 7 * (i64::from(self.week) - 1)).saturating_mul(SECONDS_PER_DAY)
    }

    /// The HMAC key for links signed during this week: `secret` followed by `date('oW')`.
    pub fn key(self, secret: &str) -> String {
        format!("{secret}{:04}{:02}", self.year, self.week)
    }
}

/// 0 for Monday through 6 for Sunday; day 0 (1970-01-01) was a Thursday.
fn weekday_from_monday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

fn leap_days_before(year: i64) -> i64 {
    let previous = year - 1;
    previous.div_euclid(4) - previous.div_euclid(100) + previous.div_euclid(400)
}

/// Days from 1970-01-01 to January 1st of `year` (negative before 1970).
fn days_before_year(year: i64) -> i64 {
    365 * (year - 1970) + leap_days_before(year) - leap_days_before(1970)
}

fn calendar_year_of(day: i64) -> i64 {
    // The Gregorian average year length puts the estimate within one year of the
    // truth; the loops settle it.
    let mut year = 1970 + (day * 400).div_euclid(146_097);
    while days_before_year(year) > day {
        year -= 1;
    }
    while days_before_year(year + 1) <= day {
        year += 1;
    }
    year
}

/// The signed message. The Python server leaves `/proxy` out of what it checks, which
/// breaks Gazelle's own proxy links there; imgd follows Gazelle and signs it.
pub fn message(bucket: &str, ext_url: &str, proxy: bool) -> String {
    let suffix = if proxy { "/proxy" } else { "" };
    format!("{bucket}/{ext_url}{suffix}")
}

/// URL-safe base64 (16 characters, no padding) of the first 12 bytes of
/// HMAC-SHA256(key, message).
pub fn signature(key: &str, message: &str) -> String {
    let mac = hmac_sha256(key.as_bytes(), message.as_bytes());
    URL_SAFE_NO_PAD.encode(&mac[..TRUNCATED_MAC_LEN])
}

/// The signature for a link issued at `now` (unix seconds).
pub fn sign(secret: &str, message: &str, now: i64) -> String {
    signature(&IsoWeek::containing(now).key(secret), message)
}

/// A link [`verify`] accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedLink {
    /// The week whose key signed the link.
    pub signed_in: IsoWeek,
    /// The first unix second at which the link is refused: the end of the week after
    /// the one it was signed in.
    pub expires_at: i64,
}

/// Checks `sig` against the keys of the week containing `now` and of the week
/// containing `now - 7 days`.
pub fn verify(
    secret: &str,
    message: &str,
    sig: &str,
    now: i64,
) -> Result<AcceptedLink, VerifyError> {
    let this_week = IsoWeek::containing(now);
    let last_week = IsoWeek::containing(now.saturating_sub(SECONDS_PER_WEEK));
    for week in [this_week, last_week] {
        let expected = signature(&week.key(secret), message);
        if constant_time_eq(expected.as_bytes(), sig.as_bytes()) {
            return Ok(AcceptedLink {
                signed_in: week,
                expires_at: link_expiry(week),
            });
        }
    }
    Err(VerifyError::SignatureMismatch)
}

/// The first unix second at which a link signed in `week` is refused: it is accepted
/// while `week` is the current or the previous week, i.e. for two weeks from its start.
pub fn link_expiry(week: IsoWeek) -> i64 {
    week.start().saturating_add(2 * SECONDS_PER_WEEK)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXT_URL: &str = "aHR0cHM6Ly9leGFtcGxlX3VybC9pbWcuanBn";
    /// 2021-12-28T22:20:00Z, a Tuesday in ISO week 2021-W52.
    const W52_2021: i64 = 1640730000;

    fn week(year: i64, week: u8) -> IsoWeek {
        IsoWeek { year, week }
    }

    fn utc(year: i32, month: u8, day: u8) -> i64 {
        let month = time::Month::try_from(month).unwrap();
        time::Date::from_calendar_date(year, month, day)
            .unwrap()
            .midnight()
            .assume_utc()
            .unix_timestamp()
    }

    /// compat.md §1, all five rows.
    #[test]
    fn compat_vectors() {
        assert_eq!(IsoWeek::containing(W52_2021), week(2021, 52));
        assert_eq!(IsoWeek::containing(W52_2021).key("1234"), "1234202152");
        let proxied = message("i", EXT_URL, true);
        let rows = [
            ("1234", message("i", EXT_URL, false), "gnjO6SJxYbeT9VBz"),
            ("123456", message("i", EXT_URL, false), "4f3OT_te_O37pMOZ"),
            ("1234", proxied, "u21SyNepGvwmqYgs"),
            ("1234", message("f", EXT_URL, false), "1sVGmLd4j_ZmRR9-"),
            ("1234", EXT_URL.to_string(), "ae0_4RXxKhh6_AwX"),
        ];
        for (secret, msg, expected) in rows {
            assert_eq!(sign(secret, &msg, W52_2021), expected, "{secret} {msg}");
            let accepted = verify(secret, &msg, expected, W52_2021).unwrap();
            assert_eq!(accepted.signed_in, week(2021, 52));
        }
    }

    #[test]
    fn message_shapes() {
        assert_eq!(message("i", "abc", false), "i/abc");
        assert_eq!(message("t", "abc", true), "t/abc/proxy");
    }

    #[test]
    fn iso_week_at_new_year_edges() {
        let cases = [
            ((2024, 12, 29), week(2024, 52)),
            ((2024, 12, 30), week(2025, 1)),
            ((2025, 1, 1), week(2025, 1)),
            ((2020, 12, 31), week(2020, 53)),
            ((2021, 1, 1), week(2020, 53)),
            ((2021, 1, 3), week(2020, 53)),
            ((2021, 1, 4), week(2021, 1)),
            ((2026, 1, 1), week(2026, 1)),
            ((2008, 12, 29), week(2009, 1)),
            ((2010, 1, 3), week(2009, 53)),
            ((2000, 1, 1), week(1999, 52)),
            ((1970, 1, 1), week(1970, 1)),
            ((1969, 12, 29), week(1970, 1)),
            ((1969, 12, 28), week(1969, 52)),
        ];
        for ((year, month, day), expected) in cases {
            let midnight = utc(year, month, day);
            assert_eq!(
                IsoWeek::containing(midnight),
                expected,
                "{year}-{month}-{day}"
            );
            let last_second = midnight + SECONDS_PER_DAY - 1;
            assert_eq!(IsoWeek::containing(last_second), expected);
        }
        assert_eq!(week(2025, 1).key("s"), "s202501");
    }

    /// Cross-checks the hand-rolled calendar arithmetic against the `time` crate over
    /// every day from 1900 to 2200, plus the exact instant each week starts.
    #[test]
    fn iso_week_agrees_with_time_crate() {
        let mut instant = utc(1900, 1, 1) + 12 * 3600;
        let end = utc(2200, 1, 1);
        while instant < end {
            let (year, week_number, _) = time::OffsetDateTime::from_unix_timestamp(instant)
                .unwrap()
                .to_iso_week_date();
            let iso = IsoWeek::containing(instant);
            assert_eq!(iso, week(i64::from(year), week_number), "{instant}");
            let start = time::Date::from_iso_week_date(year, week_number, time::Weekday::Monday)
                .unwrap()
                .midnight()
                .assume_utc()
                .unix_timestamp();
            assert_eq!(iso.start(), start, "{instant}");
            instant += SECONDS_PER_DAY;
        }
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        for instant in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
            let iso = IsoWeek::containing(instant);
            assert!((1..=53).contains(&iso.week()), "{instant}: {iso:?}");
            assert!(link_expiry(iso) > iso.start() || iso.start() == i64::MAX);
            let sig = sign("s", "m", instant);
            assert!(verify("s", "m", &sig, instant).is_ok(), "{instant}");
        }
        assert!(verify("s", "m", "x", i64::MIN).is_err());
    }

    #[test]
    fn accepted_this_week_and_next_then_refused() {
        let msg = message("i", EXT_URL, false);
        let signed_at = utc(2024, 12, 31) + 3600; // Tuesday of 2025-W01
        let sig = sign("1234", &msg, signed_at);
        let week_start = utc(2024, 12, 30);
        let expires_at = week_start + 2 * SECONDS_PER_WEEK;

        for now in [
            week_start,
            signed_at,
            week_start + SECONDS_PER_WEEK,
            expires_at - 1,
        ] {
            let accepted = verify("1234", &msg, &sig, now).unwrap();
            assert_eq!(accepted.signed_in, week(2025, 1), "{now}");
            assert_eq!(accepted.expires_at, expires_at, "{now}");
        }
        assert_eq!(
            verify("1234", &msg, &sig, expires_at),
            Err(VerifyError::SignatureMismatch)
        );
        // Not valid before the week it belongs to either.
        assert_eq!(
            verify("1234", &msg, &sig, week_start - 1),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn signature_covers_secret_bucket_url_and_proxy() {
        let sig = sign("1234", &message("i", EXT_URL, false), W52_2021);
        let refused = Err(VerifyError::SignatureMismatch);
        assert_eq!(
            verify("12345", &message("i", EXT_URL, false), &sig, W52_2021),
            refused
        );
        assert_eq!(
            verify("1234", &message("f", EXT_URL, false), &sig, W52_2021),
            refused
        );
        assert_eq!(
            verify("1234", &message("i", EXT_URL, true), &sig, W52_2021),
            refused
        );
        assert_eq!(
            verify("1234", &message("i", "aHR0", false), &sig, W52_2021),
            refused
        );
        assert_eq!(
            verify("1234", &message("i", EXT_URL, false), "", W52_2021),
            refused
        );
    }
}
