//! SVG by its XML preamble: an optional UTF-8 byte order mark, then any run of XML
//! whitespace, processing instructions (the `<?xml …?>` declaration), comments and one
//! DOCTYPE, then the root element, which must be `<svg` followed by whitespace, `>` or
//! `/`. An HTML page that embeds an `<svg>`, or XML with another root, is not an image,
//! however early the `<svg` appears.

use crate::{ImageFormat, Verdict};

const BOM: &[u8] = b"\xEF\xBB\xBF";

pub(crate) fn classify(p: &[u8]) -> Verdict {
    let mut i = 0;
    if p.starts_with(BOM) {
        i = BOM.len();
    } else if !p.is_empty() && BOM.starts_with(p) {
        return Verdict::NeedMore;
    }
    loop {
        // XML's whitespace is these four; other Unicode spaces are content.
        while p
            .get(i)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            i += 1;
        }
        let rest = &p[i..];
        if rest.is_empty() {
            return Verdict::NeedMore;
        }
        let skip_to = |open: usize, close: &[u8]| {
            find(&rest[open..], close).map(|at| open + at + close.len())
        };
        let skipped = if rest.starts_with(b"<?") {
            skip_to(2, b"?>")
        } else if rest.starts_with(b"<!--") {
            // A comment may itself contain `>`, so only `-->` ends it.
            skip_to(4, b"-->")
        } else if starts_with_ignore_case(rest, b"<!DOCTYPE") {
            doctype_end(rest)
        } else if rest.starts_with(b"<svg") {
            return match rest.get(4) {
                Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/') => {
                    Verdict::Image(ImageFormat::Svg)
                }
                Some(_) => Verdict::NotImage,
                None => Verdict::NeedMore,
            };
        } else {
            let partial = [&b"<?"[..], b"<!--", b"<!DOCTYPE", b"<svg"]
                .iter()
                .any(|token| rest.len() < token.len() && starts_with_ignore_case(token, rest));
            return if partial {
                Verdict::NeedMore
            } else {
                Verdict::NotImage
            };
        };
        match skipped {
            Some(n) => i += n,
            None => return Verdict::NeedMore,
        }
    }
}

/// End of a `<!DOCTYPE ...>`, stepping over an internal subset in brackets, whose entity
/// declarations may contain `>`.
fn doctype_end(rest: &[u8]) -> Option<usize> {
    let mut in_subset = false;
    for (at, &b) in rest.iter().enumerate() {
        match b {
            b'[' => in_subset = true,
            b']' => in_subset = false,
            b'>' if !in_subset => return Some(at + 1),
            _ => {}
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
}
