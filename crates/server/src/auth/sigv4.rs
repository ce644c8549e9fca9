//! SigV4 header authentication for the doors s3s does not serve (it authenticates the
//! S3 API itself). Same rules as S3: the credential scope names the service `s3`, the
//! request is at most 15 minutes off the server's clock, and a signed payload hash
//! must match the body.

use super::{Caller, Callers};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use signing::sigv4;

const MAX_SKEW_SECS: i64 = 15 * 60;

/// Why a SigV4 request was refused, in S3's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

struct ParsedAuthorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<ParsedAuthorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut scope = credential?.split('/');
    let parsed = ParsedAuthorization {
        access_key: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        service: scope.next()?,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    };
    (scope.next() == Some("aws4_request")).then_some(parsed)
}

fn authorization(headers: &HeaderMap) -> Option<ParsedAuthorization<'_>> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_authorization)
}

/// The access key a SigV4 `Authorization` header names (not yet verified).
pub fn header_access_key(headers: &HeaderMap) -> Option<&str> {
    authorization(headers).map(|a| a.access_key)
}

/// Whether a SigV4 `Authorization` header lists `name` among its signed headers.
pub fn header_is_signed(headers: &HeaderMap, name: &str) -> bool {
    authorization(headers).is_some_and(|a| {
        a.signed_headers
            .iter()
            .any(|h| h.trim().eq_ignore_ascii_case(name))
    })
}

/// Whether `headers` carry a SigV4 `Authorization` header.
pub fn is_sigv4(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256"))
}

/// Verifies a SigV4-signed request whose body has been read into `body`.
pub async fn verify(
    callers: &Callers,
    method: &http::Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<Caller, Refused> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = header("authorization")
        .and_then(parse_authorization)
        .ok_or_else(|| {
            refused(
                "AuthorizationHeaderMalformed",
                "The authorization header is malformed.",
            )
        })?;
    if auth.service != "s3" {
        return Err(refused(
            "AuthorizationHeaderMalformed",
            format!(
                "The credential scope names service {:?}, expected s3.",
                auth.service
            ),
        ));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| {
        refused(
            "AccessDenied",
            "AWS authentication requires a valid x-amz-date header.",
        )
    })?;
    let signed_at = time::PrimitiveDateTime::parse(
        amz_date,
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .map_err(|_| refused("AccessDenied", "x-amz-date is not a valid date."))?
    .assume_utc()
    .unix_timestamp();
    if (signed_at - now_unix).abs() > MAX_SKEW_SECS {
        return Err(refused(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    if !amz_date.starts_with(auth.date) {
        return Err(refused(
            "SignatureDoesNotMatch",
            "The credential date does not match x-amz-date.",
        ));
    }
    let body_hash = hex::encode(Sha256::digest(body));
    // Without the S3 header, SigV4 signs the body's hash itself.
    let payload_hash = header("x-amz-content-sha256").unwrap_or(&body_hash);
    if payload_hash != sigv4::UNSIGNED_PAYLOAD && !payload_hash.eq_ignore_ascii_case(&body_hash) {
        return Err(refused(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ));
    }
    let mut signed_headers = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let values: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(refused(
                "AccessDenied",
                format!("Signed header {name} is missing from the request."),
            ));
        }
        signed_headers.push((name.to_string(), values.join(",")));
    }
    // Not the kernel's `Query`: SigV4 canonicalises the query with `+` as a literal
    // plus, where form decoding (the kernel's rule for reading parameters) makes it a
    // space, and a signature must be computed over exactly what the client signed.
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect();
    let (secret, caller) = callers
        .lookup(auth.access_key)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "access key lookup failed");
            refused("InternalError", "We encountered an internal error.")
        })?
        .ok_or_else(|| {
            refused(
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        })?;
    let request = sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: &query,
        headers: &signed_headers,
        payload_hash,
    };
    let scope = sigv4::Scope {
        amz_date,
        region: auth.region,
        service: auth.service,
    };
    let expected = sigv4::signature(&secret, &scope, &request);
    if !signing::constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(refused(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    Ok(caller)
}
