//! Naming variants: the cache key, the ETag, and the class of `Accept` that
//! `format,auto` depends on.

use imaging::Pipeline;
use sha2::{Digest, Sha256};

/// The variant cache's name for a variant of `key`: everything that picks the output
/// except the source's bytes, which the cache tracks through invalidation.
pub(super) fn cache_lookup(key: &str, pipeline: &Pipeline, accept_class: Option<&str>) -> String {
    format!(
        "v{}\u{0}{key}\u{0}{}\u{0}{}",
        imaging::CANONICAL_VERSION,
        pipeline.canonical(),
        accept_class.unwrap_or("-")
    )
}

/// The variant's identity: its source and watermark images, the canonical pipeline, and
/// (for `format,auto`) the class of what the client accepts.
pub fn variant_etag(
    source_etag: &str,
    mark_etags: &[String],
    pipeline: &Pipeline,
    accept_class: Option<&str>,
) -> String {
    let identity = format!(
        "v{}|{}|{}|{}|{}",
        imaging::CANONICAL_VERSION,
        source_etag,
        mark_etags.join(","),
        pipeline.canonical(),
        accept_class.unwrap_or_default()
    );
    Sha256::digest(identity.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reduces an `Accept` header to what `format,auto` looks at, so that browsers sending
/// slightly different headers share one variant.
pub fn accept_class(accept: &str) -> &'static str {
    let has = |mime: &str| {
        accept
            .split(',')
            .any(|t| t.trim().split(';').next().is_some_and(|m| m.trim() == mime))
    };
    match (has("image/avif"), has("image/webp")) {
        (true, true) => "avif+webp",
        (true, false) => "avif",
        (false, true) => "webp",
        (false, false) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_reduce_to_what_auto_uses() {
        assert_eq!(accept_class("image/avif,image/webp,*/*;q=0.8"), "avif+webp");
        assert_eq!(accept_class("image/webp, image/apng"), "webp");
        assert_eq!(accept_class("text/html"), "");
        assert_eq!(accept_class("image/webpx"), "");
    }
}
