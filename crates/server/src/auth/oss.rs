//! Alibaba OSS signatures for the OSS door: version 1 (`Authorization: OSS <ak>:<sig>`
//! headers; signed URLs with `OSSAccessKeyId`, `Expires`, `Signature`) in `v1.rs`, and
//! version 4 (`Authorization: OSS4-HMAC-SHA256 …` headers; signed URLs with
//! `x-oss-signature-version=OSS4-HMAC-SHA256`, `x-oss-credential`, `x-oss-date`,
//! `x-oss-expires`, `x-oss-signature`) in `v4.rs`.
//!
//! The signature arithmetic (canonical forms, HMACs, constant-time comparison, which
//! parameter wins when one repeats, how header bytes read as text) is [`signing::oss`]'s
//! and [`signing::oss::v4`]'s. This module picks the scheme from the request ([`verify`])
//! and adds what needs a clock and the key table, in the order OSS applies it:
//!
//! - header auth: the request time (`x-oss-date`, or `Date` for V1) must be within 15
//!   minutes of the server's clock (`RequestTimeTooSkewed`), then the key must exist and
//!   not be revoked (`InvalidAccessKeyId`), then the signature must match
//!   (`SignatureDoesNotMatch`, with the string to sign);
//! - signed URLs: an expired link is refused as `AccessDenied` / "Request has expired."
//!   before its key is looked up or its signature compared, then key, then signature.
//!
//! What a verified caller may touch is [`Caller::may`]'s decision, made by the door.

mod v1;
mod v4;

use super::{Caller, Callers};
use crate::kernel::date as http_date;
use crate::kernel::date::iso8601;
use http::{HeaderMap, StatusCode};
use signing::oss::{self as sig, v4 as sig4};
use std::future::Future;
use store::StoreError;

/// How far `Date`/`x-oss-date` may be from the server's clock.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// Why a request was refused, as OSS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Elements OSS adds to the error document (`StringToSign`, `ServerTime`, ...).
    pub details: Vec<(&'static str, String)>,
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        status,
        code,
        message: message.into(),
        details: Vec::new(),
    }
}

fn invalid_argument(message: impl Into<String>) -> Refused {
    refused(StatusCode::BAD_REQUEST, "InvalidArgument", message)
}

fn access_denied(message: impl Into<String>) -> Refused {
    refused(StatusCode::FORBIDDEN, "AccessDenied", message)
}

/// How a request proved who sent it. Responses to signed URLs may not be cached past
/// the link's expiry; header-signed ones are private.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Header,
    SignedUrl { expires_at: i64 },
}

#[derive(Debug, Clone)]
pub struct Verified {
    pub caller: Caller,
    pub proof: Proof,
}

/// The parts of a request that OSS signatures cover.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    pub method: &'a str,
    /// Empty for service-level requests.
    pub bucket: &'a str,
    /// Percent-decoded; empty for bucket-level requests.
    pub key: &'a str,
    /// Percent-decoded query parameters in the order they were sent.
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
}

impl<'a> SignedParts<'a> {
    /// `None` for a service-level request (ListBuckets), which both versions sign over
    /// `/`.
    fn bucket(&self) -> Option<&'a str> {
        (!self.bucket.is_empty()).then_some(self.bucket)
    }
}

/// Whether the request carries an `Authorization` header of one of OSS's schemes
/// (`OSS `, `OSS4-HMAC-SHA256`, and the V2 one this module refuses with a clear
/// message).
pub fn has_oss_authorization(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().trim_ascii_start().starts_with(b"OSS"))
}

/// Whether the query is an OSS signed URL: V1's `OSSAccessKeyId`, or V4's
/// `x-oss-signature-version` or `x-oss-credential`.
pub fn has_signed_url_params(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, _)| k == sig::ACCESS_KEY_ID_PARAM) || sig4::is_signed_url(query)
}

/// Every header as the text OSS signs ([`sig::header_text`]: UTF-8, else ISO-8859-1),
/// so that non-ASCII values are signed as the SDKs signed them, not dropped.
fn text_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let text = sig::header_text(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), text)
        })
        .collect()
}

/// The first value of `name` among `headers` (names are lower-case, as `HeaderMap`
/// gives them), or empty.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Verifies a request with the caller table's secrets.
pub async fn verify(
    callers: &Callers,
    parts: &SignedParts<'_>,
    now_unix: i64,
) -> Result<Verified, Refused> {
    verify_with(
        |access_key| async move { callers.lookup(&access_key).await },
        parts,
        now_unix,
    )
    .await
}

/// [`verify`] over any secret lookup (`None`: unknown or revoked key). The scheme is
/// the `Authorization` header's when there is one, else the signed URL's.
pub async fn verify_with<F, Fut>(
    lookup: F,
    parts: &SignedParts<'_>,
    now_unix: i64,
) -> Result<Verified, Refused>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Option<(String, Caller)>, StoreError>>,
{
    let headers = text_headers(parts.headers);
    match parts.headers.get(http::header::AUTHORIZATION) {
        Some(value) => {
            let value = sig::header_text(value.as_bytes());
            let scheme = value.trim_start();
            if scheme.starts_with(sig4::ALGORITHM) {
                v4::verify_header(lookup, parts, &headers, &value, now_unix).await
            } else if scheme.starts_with("OSS ") {
                v1::verify_header(lookup, parts, &headers, &value, now_unix).await
            } else {
                Err(invalid_argument(
                    "imgd supports OSS signature versions 1 (Authorization: OSS <AccessKeyId>:<Signature>) and 4 (Authorization: OSS4-HMAC-SHA256 Credential=…) only.",
                ))
            }
        }
        None if sig4::is_signed_url(parts.query) => {
            v4::verify_signed_url(lookup, parts, &headers, now_unix).await
        }
        None => v1::verify_signed_url(lookup, parts, &headers, now_unix).await,
    }
}

/// The request time of a header-signed request, judged against the clock: present,
/// parseable, and within [`MAX_SKEW_SECS`].
/// `name` is the header's, as the messages name it.
fn check_request_time(date: &str, name: &str, now_unix: i64) -> Result<(), Refused> {
    if date.is_empty() {
        return Err(access_denied(format!(
            "OSS authentication requires a {name} header."
        )));
    }
    let signed_at = parse_date(date)
        .ok_or_else(|| access_denied(format!("The {name} header is not a valid date.")))?;
    if (signed_at - now_unix).abs() > MAX_SKEW_SECS {
        let mut r = refused(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        );
        r.details.push(("RequestTime", date.to_owned()));
        r.details.push(("ServerTime", iso8601(now_unix)));
        r.details.push((
            "MaxAllowedSkewMilliseconds",
            (MAX_SKEW_SECS * 1000).to_string(),
        ));
        return Err(r);
    }
    Ok(())
}

/// An expired link is refused before its key is looked up or its signature compared,
/// so that it says why whatever else is wrong with it.
fn check_expiry(expires_at: i64, now_unix: i64) -> Result<(), Refused> {
    if expires_at < now_unix {
        let mut r = access_denied("Request has expired.");
        r.details.push(("Expires", iso8601(expires_at)));
        r.details.push(("ServerTime", iso8601(now_unix)));
        return Err(r);
    }
    Ok(())
}

async fn find_secret<F, Fut>(lookup: F, access_key: &str) -> Result<(String, Caller), Refused>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Option<(String, Caller)>, StoreError>>,
{
    match lookup(access_key.to_owned()).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => {
            let mut r = refused(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
            );
            r.details.push(("OSSAccessKeyId", access_key.to_owned()));
            Err(r)
        }
        Err(e) => {
            tracing::error!(error = %e, "access key lookup failed");
            Err(refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ))
        }
    }
}

/// OSS tells the client what it signed (and, for V4, the canonical request), so SDK
/// authors can compare.
fn signature_mismatch(access_key: &str, signed: &[(&'static str, String)]) -> Refused {
    let mut r = refused(
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    );
    r.details.push(("OSSAccessKeyId", access_key.to_owned()));
    r.details.extend(signed.iter().cloned());
    r
}

/// The request time of a signed header request: an HTTP date (`Date`) or the ISO 8601
/// basic form `x-oss-date` may carry (`20231114T221320Z`).
pub fn parse_date(value: &str) -> Option<i64> {
    let basic = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    http_date::parse_http_date(value).or_else(|| {
        time::PrimitiveDateTime::parse(value.trim(), basic)
            .ok()
            .map(|t| t.assume_utc().unix_timestamp())
    })
}

/// [`iso8601`] of a millisecond timestamp, truncated to the second.
pub fn iso8601_ms(ms: i64) -> String {
    iso8601(ms.div_euclid(1000))
}

#[cfg(test)]
mod tests;
