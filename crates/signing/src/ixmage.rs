//! ixmage-style locked aliases: `/{token}/{alias}/{path}?{params}&key={key}` where
//! `key = lowercase_hex(SHA1(token + sorted_query + secret))`.
//!
//! Data flow: raw query → [`query_without_key`] (drops every `key` parameter) →
//! [`canonical_query`] (strips a leading `&`, then a leading `?`, sorts the characters)
//! → [`key`]. [`sign`] appends the key to a query; [`verify`] splits it back out.
//!
//! Sorting characters means queries with the same multiset of characters share a key
//! (`width=9&height=900` and `width=90&height=90`). That is upstream's documented
//! behaviour and links in the wild depend on it, so it is kept.

use sha1::{Digest, Sha1};
use thiserror::Error;

use crate::primitives::constant_time_eq;

pub const KEY_PARAM: &str = "key";

/// Why a locked-alias URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    #[error("the URL has no `key` parameter")]
    MissingKey,
    #[error("the `key` parameter is repeated or not a hex SHA-1")]
    MalformedKey,
    #[error("the key does not match the URL")]
    KeyMismatch,
}

/// The query with every `key=` parameter removed, other parameters kept verbatim (still
/// percent-encoded) and in order. A leading `?` is kept: [`canonical_query`] strips it.
pub fn query_without_key(query: &str) -> String {
    let (question_mark, pairs) = match query.strip_prefix('?') {
        Some(pairs) => ("?", pairs),
        None => ("", query),
    };
    let kept: Vec<&str> = pairs
        .split('&')
        .filter(|pair| param_name(pair) != KEY_PARAM)
        .collect();
    format!("{question_mark}{}", kept.join("&"))
}

fn param_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(name, _)| name)
}

/// The bytes upstream hashes between token and secret. The order of the two strips is
/// upstream's and matters: `&?a` loses both, `?&a` keeps its `&`. Bytes are sorted, which equals
/// sorting UTF-16 code units because a query on the wire is ASCII (anything else is
/// percent-encoded).
pub fn canonical_query(query_without_key: &str) -> Vec<u8> {
    let query = query_without_key
        .strip_prefix('&')
        .unwrap_or(query_without_key);
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut bytes = query.as_bytes().to_vec();
    bytes.sort_unstable();
    bytes
}

/// Lowercase hex SHA-1 (plain, not HMAC: upstream's choice) of token, sorted query and
/// secret. `secret` is the account secret or the alias's own.
pub fn key(token: &str, query_without_key: &str, secret: &str) -> String {
    hex::encode(key_digest(token, query_without_key, secret))
}

fn key_digest(token: &str, query_without_key: &str, secret: &str) -> [u8; 20] {
    let mut hasher = Sha1::new();
    hasher.update(token.as_bytes());
    hasher.update(canonical_query(query_without_key));
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

/// Returns `query` (raw, without a leading `?`, possibly empty) with `key=…` appended.
pub fn sign(token: &str, query: &str, secret: &str) -> String {
    let query = query_without_key(query);
    let key = key(token, &query, secret);
    let query = query.strip_prefix('?').unwrap_or(&query);
    if query.is_empty() {
        format!("{KEY_PARAM}={key}")
    } else {
        format!("{query}&{KEY_PARAM}={key}")
    }
}

/// Checks the `key` in a raw query string against one secret. Callers holding both an
/// account secret and an alias secret call it once for each.
pub fn verify(token: &str, query: &str, secret: &str) -> Result<(), VerifyError> {
    let pairs = query.strip_prefix('?').unwrap_or(query);
    let mut received = pairs
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == KEY_PARAM)
        .map(|(_, value)| value);
    let received_key = received.next().ok_or(VerifyError::MissingKey)?;
    if received.next().is_some() {
        return Err(VerifyError::MalformedKey);
    }
    let received_key = hex::decode(received_key).map_err(|_| VerifyError::MalformedKey)?;
    if received_key.len() != 20 {
        return Err(VerifyError::MalformedKey);
    }
    let expected_key = key_digest(token, &query_without_key(query), secret);
    if constant_time_eq(&expected_key, &received_key) {
        Ok(())
    } else {
        Err(VerifyError::KeyMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "TaAcCoOsS";
    const SECRET: &str = "s3cr3t";
    const KEY_90X90: &str = "d5757002ceeeded807d318310d29d9b22c97535d";
    const KEY_EMPTY: &str = "670386acdd3196165087a17e59e1c84af2ff8284";

    /// compat.md §3, all three rows.
    #[test]
    fn compat_vectors() {
        assert_eq!(key(TOKEN, "?width=90&height=90", SECRET), KEY_90X90);
        assert_eq!(key(TOKEN, "height=90&width=90", SECRET), KEY_90X90);
        assert_eq!(key(TOKEN, "", SECRET), KEY_EMPTY);
    }

    #[test]
    fn documented_collision_is_kept() {
        assert_eq!(key(TOKEN, "width=9&height=900", SECRET), KEY_90X90);
        let query = format!("width=9&height=900&key={KEY_90X90}");
        assert_eq!(verify(TOKEN, &query, SECRET), Ok(()));
    }

    #[test]
    fn leading_ampersand_is_stripped_before_question_mark() {
        assert_eq!(canonical_query("&?ba"), b"ab");
        assert_eq!(canonical_query("?&ba"), b"&ab");
        assert_eq!(canonical_query("&ba"), b"ab");
        assert_eq!(canonical_query("cba"), b"abc");
    }

    #[test]
    fn key_parameter_is_removed_wherever_it_is() {
        assert_eq!(query_without_key("?w=1&key=abc&h=2"), "?w=1&h=2");
        assert_eq!(query_without_key("key=abc&w=1"), "w=1");
        assert_eq!(query_without_key("w=1&key=abc"), "w=1");
        assert_eq!(query_without_key("key=abc"), "");
        assert_eq!(query_without_key("keys=1&monkey=2"), "keys=1&monkey=2");
    }

    #[test]
    fn sign_then_verify() {
        let signed = sign(TOKEN, "width=90&height=90", SECRET);
        assert_eq!(signed, format!("width=90&height=90&key={KEY_90X90}"));
        assert_eq!(verify(TOKEN, &signed, SECRET), Ok(()));
        assert_eq!(verify(TOKEN, &format!("?{signed}"), SECRET), Ok(()));
        assert_eq!(sign(TOKEN, "", SECRET), format!("key={KEY_EMPTY}"));
        assert_eq!(verify(TOKEN, &format!("key={KEY_EMPTY}"), SECRET), Ok(()));
        // Re-signing replaces an existing key rather than hashing it.
        assert_eq!(sign(TOKEN, &signed, SECRET), signed);
    }

    #[test]
    fn key_position_does_not_matter() {
        let query = format!("?key={KEY_90X90}&width=90&height=90");
        assert_eq!(verify(TOKEN, &query, SECRET), Ok(()));
        let uppercase = format!("width=90&height=90&key={}", KEY_90X90.to_uppercase());
        assert_eq!(verify(TOKEN, &uppercase, SECRET), Ok(()));
    }

    #[test]
    fn refusals() {
        let signed = format!("width=90&height=90&key={KEY_90X90}");
        assert_eq!(
            verify(TOKEN, &signed, "revoked"),
            Err(VerifyError::KeyMismatch)
        );
        assert_eq!(
            verify("OtherToken", &signed, SECRET),
            Err(VerifyError::KeyMismatch)
        );
        assert_eq!(
            verify(TOKEN, &signed.replace("90&h", "91&h"), SECRET),
            Err(VerifyError::KeyMismatch)
        );
        assert_eq!(
            verify(TOKEN, "width=90", SECRET),
            Err(VerifyError::MissingKey)
        );
        assert_eq!(
            verify(TOKEN, "width=90&key=xyz", SECRET),
            Err(VerifyError::MalformedKey)
        );
        assert_eq!(
            verify(TOKEN, "width=90&key=abcd", SECRET),
            Err(VerifyError::MalformedKey)
        );
        let repeated = format!("{signed}&key={KEY_90X90}");
        assert_eq!(
            verify(TOKEN, &repeated, SECRET),
            Err(VerifyError::MalformedKey)
        );
    }
}
