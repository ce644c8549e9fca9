//! Conditional requests (RFC 9110 §13.2.2): `If-Match`, else `If-Unmodified-Since`;
//! then `If-None-Match`, else `If-Modified-Since`.
//!
//! ETags compare by the one rule in [`store::etag_matches`]: a list of tags or `*`,
//! quotes and a weak prefix ignored, letter case ignored (imgd's ETags are hex digests,
//! and the OSS door writes them in upper case).

use super::date::parse_http_date;
use http::HeaderMap;

pub use store::etag_matches;

/// What the conditions say about sending the representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// 304: the client's copy is current.
    NotModified,
    /// 412.
    PreconditionFailed,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The four conditions of one request, as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    /// Unix seconds; an unparsable date is no condition (RFC 9110 says to ignore it).
    pub if_modified_since: Option<i64>,
    pub if_unmodified_since: Option<i64>,
}

impl<'a> Conditions<'a> {
    /// `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`.
    pub fn of(headers: &'a HeaderMap) -> Self {
        Conditions::with_prefix(headers, "")
    }

    /// The same four headers under a prefix: `x-amz-copy-source-` (S3 copies) or
    /// `x-oss-copy-source-` (OSS copies) judge the copy's source.
    pub fn with_prefix(headers: &'a HeaderMap, prefix: &str) -> Self {
        let h = |name: &str| header(headers, &format!("{prefix}{name}"));
        Conditions {
            if_match: h("if-match"),
            if_none_match: h("if-none-match"),
            if_modified_since: h("if-modified-since").and_then(parse_http_date),
            if_unmodified_since: h("if-unmodified-since").and_then(parse_http_date),
        }
    }

    /// Judges a representation with `etag`, last modified at `modified_ms`.
    pub fn evaluate(&self, etag: &str, modified_ms: i64) -> Verdict {
        let modified = modified_ms.div_euclid(1000);
        if let Some(tags) = self.if_match {
            if !etag_matches(tags, etag) {
                return Verdict::PreconditionFailed;
            }
        } else if let Some(since) = self.if_unmodified_since
            && modified > since
        {
            return Verdict::PreconditionFailed;
        }
        if let Some(tags) = self.if_none_match {
            if etag_matches(tags, etag) {
                return Verdict::NotModified;
            }
        } else if let Some(since) = self.if_modified_since
            && modified <= since
        {
            return Verdict::NotModified;
        }
        Verdict::Proceed
    }
}

/// Judges a read of a representation by the request's own conditional headers.
pub fn evaluate(headers: &HeaderMap, etag: &str, modified_ms: i64) -> Verdict {
    Conditions::of(headers).evaluate(etag, modified_ms)
}

/// The raw `If-None-Match` value, which a render checks against the variant's ETag
/// before doing any work.
pub fn if_none_match(headers: &HeaderMap) -> Option<&str> {
    header(headers, "if-none-match")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn rfc_9110_order() {
        let at = 1_700_000_000_500; // ms
        let before = "Tue, 14 Nov 2023 22:13:19 GMT";
        let same = "Tue, 14 Nov 2023 22:13:20 GMT";
        assert_eq!(evaluate(&h(&[]), "abc", at), Verdict::Proceed);
        assert_eq!(
            evaluate(&h(&[("if-match", "\"ABC\"")]), "abc", at),
            Verdict::Proceed
        );
        assert_eq!(
            evaluate(&h(&[("if-match", "\"x\"")]), "abc", at),
            Verdict::PreconditionFailed
        );
        // If-Match wins over If-Unmodified-Since.
        assert_eq!(
            evaluate(
                &h(&[("if-match", "*"), ("if-unmodified-since", before)]),
                "abc",
                at
            ),
            Verdict::Proceed
        );
        assert_eq!(
            evaluate(&h(&[("if-unmodified-since", before)]), "abc", at),
            Verdict::PreconditionFailed
        );
        assert_eq!(
            evaluate(&h(&[("if-none-match", "W/\"abc\", \"d\"")]), "abc", at),
            Verdict::NotModified
        );
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            evaluate(
                &h(&[("if-none-match", "\"d\""), ("if-modified-since", same)]),
                "abc",
                at
            ),
            Verdict::Proceed
        );
        assert_eq!(
            evaluate(&h(&[("if-modified-since", same)]), "abc", at),
            Verdict::NotModified
        );
        assert_eq!(
            evaluate(&h(&[("if-modified-since", before)]), "abc", at),
            Verdict::Proceed
        );
        assert_eq!(
            evaluate(&h(&[("if-modified-since", "garbage")]), "abc", at),
            Verdict::Proceed
        );
        let copy = h(&[
            ("x-amz-copy-source-if-match", "\"nope\""),
            ("if-match", "*"),
        ]);
        assert_eq!(
            Conditions::with_prefix(&copy, "x-amz-copy-source-").evaluate("abc", at),
            Verdict::PreconditionFailed
        );
    }
}
