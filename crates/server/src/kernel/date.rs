//! HTTP dates (RFC 9110 §5.6.7) and the ISO 8601 form OSS writes in XML.

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// `Tue, 14 Nov 2023 22:13:20 GMT` (IMF-fixdate), the only form a sender may write.
pub fn format_http_date(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

/// [`format_http_date`] as a header value.
pub fn http_date_header(unix: i64) -> Option<http::HeaderValue> {
    http::HeaderValue::from_str(&format_http_date(unix)).ok()
}

/// Unix seconds of an HTTP date in any of the three forms a recipient must accept:
/// IMF-fixdate, RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`).
pub fn parse_http_date(value: &str) -> Option<i64> {
    let value = value.trim();
    let imf = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let asctime = format_description!(
        "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
    );
    PrimitiveDateTime::parse(value, imf)
        .or_else(|_| PrimitiveDateTime::parse(value, asctime))
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
        .or_else(|| parse_rfc850(value))
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`. RFC 9110 reads a two-digit year that would be more
/// than 50 years ahead as the past century.
fn parse_rfc850(value: &str) -> Option<i64> {
    let (_weekday, rest) = value.split_once(", ")?;
    let (date, clock) = rest.strip_suffix(" GMT")?.split_once(' ')?;
    let mut d = date.split('-');
    let (day, month, year) = (d.next()?, d.next()?, d.next()?);
    if year.len() != 2 {
        return None;
    }
    let yy: i32 = year.parse().ok()?;
    let this_year = OffsetDateTime::now_utc().year();
    let mut full = (this_year / 100) * 100 + yy;
    if full > this_year + 50 {
        full -= 100;
    }
    let date = time::Date::from_calendar_date(full, month_of(month)?, day.parse().ok()?).ok()?;
    let mut c = clock.split(':');
    let time = time::Time::from_hms(
        c.next()?.parse().ok()?,
        c.next()?.parse().ok()?,
        c.next()?.parse().ok()?,
    )
    .ok()?;
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

fn month_of(name: &str) -> Option<time::Month> {
    use time::Month::*;
    Some(match name {
        "Jan" => January,
        "Feb" => February,
        "Mar" => March,
        "Apr" => April,
        "May" => May,
        "Jun" => June,
        "Jul" => July,
        "Aug" => August,
        "Sep" => September,
        "Oct" => October,
        "Nov" => November,
        "Dec" => December,
        _ => return None,
    })
}

/// `2023-11-14T22:13:20.000Z`: OSS's timestamps in XML and error details. OSS writes
/// whole seconds, and `oss2` parses nothing else (its pattern ends in `.000Z`).
pub fn iso8601(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
    ))
    .unwrap_or_default()
}

/// An RFC 3339 timestamp (`2026-12-02T10:00:00Z`, offsets and fractions allowed) as
/// unix seconds.
pub fn parse_rfc3339(value: &str) -> Option<i64> {
    OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_rfc3339("1970-01-01T01:01:00.5+01:00"), Some(60));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn http_dates_round_trip_in_every_accepted_form() {
        let t = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example)
        assert_eq!(format_http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37"), None);
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20.000Z");
    }
}
