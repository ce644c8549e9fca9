//! Cloudflare-Images-style signed URLs: an `exp` parameter (unix seconds) and a `sig`
//! parameter holding the lowercase hex HMAC-SHA256 of `path "?" query`.
//!
//! Data flow: path + decoded parameters → [`set_param`] `exp` → [`string_to_sign`]
//! (WHATWG `application/x-www-form-urlencoded`, as `URLSearchParams.toString()` writes
//! it) → [`signature`] → [`sign`] appends `sig`. [`verify`] parses a received query,
//! removes `sig`, re-serializes the rest in received order and recomputes.

use percent_encoding::percent_decode;
use thiserror::Error;

use crate::primitives::{constant_time_eq, hmac_sha256};

pub const EXPIRY_PARAM: &str = "exp";
pub const SIGNATURE_PARAM: &str = "sig";

/// Why a signed URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    #[error("the URL has no `exp` parameter")]
    MissingExpiry,
    #[error("the `exp` parameter is repeated or not a unix timestamp")]
    MalformedExpiry,
    #[error("the URL has no `sig` parameter")]
    MissingSignature,
    #[error("the `sig` parameter is repeated or not a hex HMAC-SHA256")]
    MalformedSignature,
    #[error("the signature does not match the URL")]
    SignatureMismatch,
    #[error("the URL expired at {expired_at}")]
    Expired { expired_at: i64 },
}

/// Serializes as `URLSearchParams.toString()` does, because upstream signs exactly that
/// string: only `*-._` and ASCII alphanumerics stay literal, space becomes `+`.
pub fn form_urlencode(params: &[(String, String)]) -> String {
    let mut out = String::new();
    for (index, (name, value)) in params.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        push_form_component(&mut out, name);
        out.push('=');
        push_form_component(&mut out, value);
    }
    out
}

fn push_form_component(out: &mut String, component: &str) {
    for byte in component.bytes() {
        match byte {
            b'*' | b'-' | b'.' | b'_' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
}

/// Parses a query string as `URLSearchParams` does, keeping received order and
/// duplicates: `+` is a space, bad percent escapes stay literal, invalid UTF-8 becomes
/// U+FFFD. A leading `?` is ignored.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

fn form_decode(component: &str) -> String {
    let spaced = component.replace('+', " ");
    percent_decode(spaced.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

/// `URLSearchParams.set`: replaces the first parameter of that name and drops later
/// ones, or appends when there is none. Upstream generators set `exp` this way, so a URL
/// that already carried one keeps its position.
pub fn set_param(params: &mut Vec<(String, String)>, name: &str, value: &str) {
    let mut seen = false;
    params.retain_mut(|(existing_name, existing_value)| {
        if existing_name != name {
            return true;
        }
        if seen {
            return false;
        }
        seen = true;
        *existing_value = value.to_owned();
        true
    });
    if !seen {
        params.push((name.to_owned(), value.to_owned()));
    }
}

/// `path` is the URL's pathname as sent on the wire (percent-encoded).
pub fn string_to_sign(path: &str, params: &[(String, String)]) -> String {
    format!("{path}?{}", form_urlencode(params))
}

/// Lowercase hex HMAC-SHA256 of `string_to_sign`.
pub fn signature(key: &[u8], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(key, string_to_sign.as_bytes()))
}

/// Signs `path` with its decoded `params`, valid through `expires_at` (unix seconds).
/// Returns the path and query to serve, e.g. `/a/b?exp=…&sig=…`.
///
/// A `sig` already in `params` is dropped first: upstream would sign it along with the
/// rest and then overwrite it, producing a URL no verifier (which drops `sig`) accepts.
pub fn sign(key: &[u8], path: &str, params: &[(String, String)], expires_at: i64) -> String {
    let mut params: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| name != SIGNATURE_PARAM)
        .cloned()
        .collect();
    set_param(&mut params, EXPIRY_PARAM, &expires_at.to_string());
    let sig = signature(key, &string_to_sign(path, &params));
    params.push((SIGNATURE_PARAM.to_owned(), sig));
    format!("{path}?{}", form_urlencode(&params))
}

/// Checks a received URL: `path` as on the wire, `query` the raw query string (with or
/// without its leading `?`). The signature is checked before the expiry so that an
/// expired-link answer is only given for links imgd actually issued. On success returns
/// the expiry instant (unix seconds), after which the link is refused.
pub fn verify(key: &[u8], path: &str, query: &str, now: i64) -> Result<i64, VerifyError> {
    let mut params = parse_query(query);
    let received_sig = take_single(&mut params, SIGNATURE_PARAM)
        .ok_or(VerifyError::MissingSignature)?
        .map_err(|RepeatedParam| VerifyError::MalformedSignature)?;
    let received_sig = hex::decode(received_sig).map_err(|_| VerifyError::MalformedSignature)?;
    if received_sig.len() != 32 {
        return Err(VerifyError::MalformedSignature);
    }

    let expires_at = single_value(&params, EXPIRY_PARAM)
        .ok_or(VerifyError::MissingExpiry)?
        .map_err(|RepeatedParam| VerifyError::MalformedExpiry)
        .and_then(|exp| parse_unix_seconds(exp).ok_or(VerifyError::MalformedExpiry))?;

    let expected_sig = hmac_sha256(key, string_to_sign(path, &params).as_bytes());
    if !constant_time_eq(&expected_sig, &received_sig) {
        return Err(VerifyError::SignatureMismatch);
    }
    if expires_at < now {
        return Err(VerifyError::Expired {
            expired_at: expires_at,
        });
    }
    Ok(expires_at)
}

/// A parameter that must appear at most once did not: which occurrence the signer meant
/// is ambiguous, so the URL is refused rather than guessed at.
struct RepeatedParam;

/// Removes every `name` parameter and returns its value if there was exactly one.
fn take_single(
    params: &mut Vec<(String, String)>,
    name: &str,
) -> Option<Result<String, RepeatedParam>> {
    let mut taken: Vec<String> = Vec::new();
    params.retain(|(existing_name, value)| {
        if existing_name == name {
            taken.push(value.clone());
            false
        } else {
            true
        }
    });
    let mut taken = taken.into_iter();
    let first = taken.next()?;
    Some(match taken.next() {
        None => Ok(first),
        Some(_) => Err(RepeatedParam),
    })
}

fn single_value<'a>(
    params: &'a [(String, String)],
    name: &str,
) -> Option<Result<&'a str, RepeatedParam>> {
    let mut values = params
        .iter()
        .filter(|(existing_name, _)| existing_name == name)
        .map(|(_, value)| value.as_str());
    let first = values.next()?;
    Some(match values.next() {
        None => Ok(first),
        Some(_) => Err(RepeatedParam),
    })
}

/// Digits only: `i64::from_str` would also take a sign, which no generator writes.
fn parse_unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"YOUR_KEY_FROM_IMAGES_DASHBOARD";
    const PATH: &str = "/cheeW4oKsx5ljh8e8BoL2A/bc27a117-9509-446b-8c69-c81bfeac0a01/mobile";
    const EXP: i64 = 1631289275;
    const VECTOR_SIG: &str = "f5dbc282189c443accb7b86a95a66b29d42ea4ced234cdbe3c2db71fd61a88a0";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn split(url: &str) -> (&str, &str) {
        url.split_once('?').unwrap()
    }

    /// compat.md §2.
    #[test]
    fn compat_vector() {
        let sts = string_to_sign(PATH, &params(&[("exp", "1631289275")]));
        assert_eq!(sts, format!("{PATH}?exp=1631289275"));
        assert_eq!(signature(KEY, &sts), VECTOR_SIG);
        assert_eq!(
            sign(KEY, PATH, &[], EXP),
            format!("{PATH}?exp=1631289275&sig={VECTOR_SIG}")
        );
    }

    #[test]
    fn compat_vector_verifies_until_expiry() {
        let query = format!("exp=1631289275&sig={VECTOR_SIG}");
        assert_eq!(verify(KEY, PATH, &query, EXP - 100), Ok(EXP));
        assert_eq!(verify(KEY, PATH, &format!("?{query}"), EXP), Ok(EXP));
        assert_eq!(
            verify(KEY, PATH, &query, EXP + 1),
            Err(VerifyError::Expired { expired_at: EXP })
        );
    }

    #[test]
    fn exp_goes_after_existing_params_and_sig_last() {
        let url = sign(KEY, "/img", &params(&[("w", "100"), ("text", "a b/c")]), 50);
        let (path, query) = split(&url);
        assert_eq!(path, "/img");
        assert!(
            query.starts_with("w=100&text=a+b%2Fc&exp=50&sig="),
            "{query}"
        );
        let expected_sig = signature(KEY, "/img?w=100&text=a+b%2Fc&exp=50");
        assert!(query.ends_with(&expected_sig));
        assert_eq!(verify(KEY, path, query, 10), Ok(50));
    }

    #[test]
    fn existing_exp_is_replaced_in_place_and_old_sig_dropped() {
        let url = sign(
            KEY,
            "/img",
            &params(&[("exp", "1"), ("sig", "x"), ("w", "1"), ("exp", "2")]),
            99,
        );
        let (_, query) = split(&url);
        assert!(query.starts_with("exp=99&w=1&sig="), "{query}");
        assert_eq!(verify(KEY, "/img", query, 0), Ok(99));
    }

    #[test]
    fn any_spelling_of_the_same_params_verifies() {
        let url = sign(KEY, "/img", &params(&[("t", "a b~")]), 50);
        let (_, query) = split(&url);
        let sig = query.rsplit_once("sig=").unwrap().1;
        // `%20` and `~` are re-serialized as `+` and `%7E` before hashing.
        let respelled = format!("t=a%20b~&exp=50&sig={}", sig.to_uppercase());
        assert_eq!(verify(KEY, "/img", &respelled, 0), Ok(50));
    }

    #[test]
    fn tampering_is_a_mismatch() {
        let url = sign(KEY, "/img", &params(&[("w", "100")]), 50);
        let (_, query) = split(&url);
        let mismatch = Err(VerifyError::SignatureMismatch);
        assert_eq!(verify(KEY, "/other", query, 0), mismatch);
        assert_eq!(verify(b"other key", "/img", query, 0), mismatch);
        let changed_width = query.replace("w=100", "w=101");
        assert_eq!(verify(KEY, "/img", &changed_width, 0), mismatch);
        let extended = query.replace("exp=50", "exp=5000");
        assert_eq!(verify(KEY, "/img", &extended, 0), mismatch);
        let reordered = query.replace("w=100&exp=50", "exp=50&w=100");
        assert_eq!(verify(KEY, "/img", &reordered, 0), mismatch);
    }

    /// A forged link must not learn that its expiry has passed.
    #[test]
    fn signature_is_checked_before_expiry() {
        let query = format!("exp=1631289275&sig={}", "0".repeat(64));
        assert_eq!(
            verify(KEY, PATH, &query, EXP + 1),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn missing_or_malformed_parameters() {
        let sig = "0".repeat(64);
        let cases = [
            ("exp=5".to_string(), VerifyError::MissingSignature),
            (format!("sig={sig}"), VerifyError::MissingExpiry),
            ("exp=5&sig=zz".to_string(), VerifyError::MalformedSignature),
            (
                "exp=5&sig=abcd".to_string(),
                VerifyError::MalformedSignature,
            ),
            (
                format!("exp=5&sig={sig}&sig={sig}"),
                VerifyError::MalformedSignature,
            ),
            (format!("exp=-5&sig={sig}"), VerifyError::MalformedExpiry),
            (format!("exp=%2B5&sig={sig}"), VerifyError::MalformedExpiry),
            (format!("exp=&sig={sig}"), VerifyError::MalformedExpiry),
            (format!("exp=soon&sig={sig}"), VerifyError::MalformedExpiry),
            (
                format!("exp=5&exp=5&sig={sig}"),
                VerifyError::MalformedExpiry,
            ),
            (
                format!("exp=99999999999999999999&sig={sig}"),
                VerifyError::MalformedExpiry,
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(verify(KEY, "/img", &query, 0), Err(expected), "{query}");
        }
    }

    #[test]
    fn form_encoding_matches_url_search_params() {
        let encoded = form_urlencode(&params(&[("a b", "*-._~!'()é&=+")]));
        assert_eq!(encoded, "a+b=*-._%7E%21%27%28%29%C3%A9%26%3D%2B");
        assert_eq!(
            parse_query("?a+b=%2a%zz&&flag&=v&x=%C3"),
            params(&[("a b", "*%zz"), ("flag", ""), ("", "v"), ("x", "\u{FFFD}")])
        );
    }
}
