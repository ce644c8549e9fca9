//! The `Range` header: one parser, and the byte range it selects in an object.
//!
//! Only a single `bytes=` range is understood. What a door does with anything else is
//! its dialect: S3 and the delivery door send the whole object for a header they cannot
//! read and 416 for an unsatisfiable range; OSS sends the whole object in both cases
//! unless the client asks for standard behaviour.

use std::ops::Range;

/// One byte range as the client wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` (inclusive) or `bytes=a-` (`last: None`).
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

/// `None` for a header this parser does not read: another unit, several ranges, or a
/// malformed spec (which RFC 9110 says to ignore).
pub fn parse(header: &str) -> Option<ByteRange> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return b.parse().ok().map(ByteRange::Suffix);
    }
    let first = a.parse().ok()?;
    if b.is_empty() {
        return Some(ByteRange::From { first, last: None });
    }
    let last: u64 = b.parse().ok()?;
    (last >= first).then_some(ByteRange::From {
        first,
        last: Some(last),
    })
}

/// The range is outside the object (416 where the door answers that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

impl ByteRange {
    /// The half-open byte range selected in an object of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<Range<u64>, Unsatisfiable> {
        match self {
            ByteRange::Suffix(0) => Err(Unsatisfiable),
            ByteRange::Suffix(_) if size == 0 => Err(Unsatisfiable),
            ByteRange::Suffix(n) => Ok(size.saturating_sub(n)..size),
            ByteRange::From { first, .. } if first >= size => Err(Unsatisfiable),
            ByteRange::From { first, last } => {
                let end = last.map_or(size, |l| l.saturating_add(1).min(size));
                Ok(first..end)
            }
        }
    }
}

/// `bytes 0-9/100`, the `Content-Range` of a partial response.
pub fn content_range(range: &Range<u64>, size: u64) -> String {
    format!(
        "bytes {}-{}/{}",
        range.start,
        range.end.saturating_sub(1),
        size
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(h: &str, size: u64) -> Option<Result<Range<u64>, Unsatisfiable>> {
        parse(h).map(|r| r.resolve(size))
    }

    #[test]
    fn single_byte_ranges() {
        assert_eq!(pick("bytes=0-9", 100), Some(Ok(0..10)));
        assert_eq!(pick("bytes=90-", 100), Some(Ok(90..100)));
        assert_eq!(pick("bytes=-5", 100), Some(Ok(95..100)));
        assert_eq!(pick("bytes=-500", 100), Some(Ok(0..100)));
        assert_eq!(pick("bytes=95-200", 100), Some(Ok(95..100)));
        assert_eq!(pick(" bytes= 2 - 3 ", 100), Some(Ok(2..4)));
        assert_eq!(pick("bytes=100-", 100), Some(Err(Unsatisfiable)));
        assert_eq!(pick("bytes=-0", 100), Some(Err(Unsatisfiable)));
        assert_eq!(pick("bytes=-1", 0), Some(Err(Unsatisfiable)));
        assert_eq!(pick("bytes=5-2", 100), None);
        assert_eq!(pick("bytes=0-1,5-6", 100), None);
        assert_eq!(pick("items=0-1", 100), None);
        assert_eq!(pick("bytes=x-1", 100), None);
        assert_eq!(content_range(&(0..10), 100), "bytes 0-9/100");
    }
}
