//! Alibaba Cloud OSS signature version 4 (`OSS4-HMAC-SHA256`), the default of the
//! `alibabacloud-oss-v2` SDKs and `oss2`'s `AuthV4`: `Authorization: OSS4-HMAC-SHA256
//! Credential=…,AdditionalHeaders=…,Signature=…` headers, and signed URLs carrying
//! `x-oss-signature-version`, `x-oss-credential`, `x-oss-date`, `x-oss-expires`,
//! `x-oss-additional-headers` and `x-oss-signature`.
//!
//! The scheme is SigV4's shape with OSS's own details: a scope ending in
//! `aliyun_v4_request` under a key derived from `aliyun_v4` + secret; the canonical URI
//! is `/bucket/key` (never the path as sent, so virtual-hosted and path-style requests
//! sign alike); every query parameter is signed, a bare name when its value is empty;
//! the signed headers are fixed (`x-oss-*`, `Content-Type`, `Content-MD5`) plus the
//! `AdditionalHeaders` the client names; the payload is always `UNSIGNED-PAYLOAD`.
//!
//! Data flow: [`Request`] → [`canonical_request`] → [`string_to_sign`] with the request
//! time and [`Scope`] → HMAC-SHA256 under [`signing_key`] → hex [`signature`] →
//! [`authorization`] or [`presign`]. Incoming requests go through
//! [`parse_authorization`] or [`parse_signed_url`], then [`verify`]; the caller looks
//! the secret up and judges the request time (this crate has no clock) in between.

use thiserror::Error;

use crate::primitives::{constant_time_eq, hmac_sha256, scoped_key, sha256_hex};
use crate::sigv4::uri_encode;

pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// The last element of every scope.
pub const TERMINATOR: &str = "aliyun_v4_request";
/// The product every OSS SDK signs for.
pub const PRODUCT: &str = "oss";
/// The only payload hash OSS accepts: bodies are never signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const CONTENT_SHA256_HEADER: &str = "x-oss-content-sha256";
/// The request time of header auth, `YYYYMMDDTHHMMSSZ`.
pub const DATE_HEADER: &str = "x-oss-date";

pub const SIGNATURE_VERSION_PARAM: &str = "x-oss-signature-version";
pub const CREDENTIAL_PARAM: &str = "x-oss-credential";
pub const DATE_PARAM: &str = "x-oss-date";
pub const EXPIRES_PARAM: &str = "x-oss-expires";
pub const ADDITIONAL_HEADERS_PARAM: &str = "x-oss-additional-headers";
pub const SIGNATURE_PARAM: &str = "x-oss-signature";
/// The longest a V4 signed URL may live (`x-oss-expires`), as on OSS: 7 days.
pub const MAX_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("the Authorization header is not `OSS4-HMAC-SHA256 Credential=…,Signature=…`: {0}")]
    MalformedAuthorization(&'static str),
    #[error(
        "the credential is not `<AccessKeyId>/<YYYYMMDD>/<region>/<product>/aliyun_v4_request`"
    )]
    MalformedCredential,
    #[error("the signed URL has no `{0}` parameter")]
    MissingParameter(&'static str),
    #[error("the signature version `{0}` is not OSS4-HMAC-SHA256")]
    UnsupportedVersion(String),
    #[error("the request time is not of the form YYYYMMDDTHHMMSSZ")]
    MalformedDate,
    #[error("the credential's date is not the day of the request time")]
    DateOutsideScope,
    #[error("`x-oss-expires` is not a number of seconds")]
    MalformedExpires,
    #[error("`x-oss-expires` is more than 604800 seconds (7 days)")]
    ExpiresTooLong,
    #[error("`x-oss-content-sha256` must be UNSIGNED-PAYLOAD")]
    SignedPayload,
    #[error("the signature does not match the request")]
    SignatureMismatch,
}

/// Where and when a signature is valid: `date/region/product/aliyun_v4_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// `YYYYMMDD`, the day of the request time.
    pub date: &'a str,
    pub region: &'a str,
    pub product: &'a str,
}

impl Scope<'_> {
    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.product
        )
    }
}

/// The parts of a request that V4 covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// `None` for service-level requests such as ListBuckets.
    pub bucket: Option<&'a str>,
    /// The percent-decoded object key; empty for bucket-level requests.
    pub key: &'a str,
    /// Percent-decoded query parameters, all of them (`x-oss-signature` drops out).
    pub query: &'a [(String, String)],
    /// Request headers, names in any case; which are signed is the scheme's rule.
    pub headers: &'a [(String, String)],
    /// Lower-case names of the extra headers the client signs (`AdditionalHeaders`).
    pub additional_headers: &'a [String],
}

/// `/bucket/key` (or `/` without a bucket), percent-encoded except for `/`.
pub fn canonical_uri(bucket: Option<&str>, key: &str) -> String {
    match bucket {
        Some(bucket) => uri_encode(&format!("/{bucket}/{key}"), true),
        None => "/".to_owned(),
    }
}

/// Every parameter but the signature, name and value percent-encoded, sorted, joined by
/// `&`; a parameter with an empty value is its bare name.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = query
        .iter()
        .filter(|(name, _)| name != SIGNATURE_PARAM)
        .map(|(name, value)| (uri_encode(name, false), uri_encode(value, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| {
            if value.is_empty() {
                name.clone()
            } else {
                format!("{name}={value}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_default_signed(name: &str) -> bool {
    name.starts_with("x-oss-") || name == "content-type" || name == "content-md5"
}

/// `name:value\n` for each signed header (`x-oss-*`, `content-type`, `content-md5` and
/// the additional ones), names lower-cased and sorted, values trimmed, repeated names
/// joined with `,`.
pub fn canonical_headers(headers: &[(String, String)], additional: &[String]) -> String {
    let mut signed: Vec<(String, &str)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim()))
        .filter(|(name, _)| is_default_signed(name) || additional.contains(name))
        .collect();
    // Stable, so repeated headers keep the order they were sent in.
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    let mut previous: Option<&str> = None;
    for (name, value) in &signed {
        if previous == Some(name.as_str()) {
            out.pop();
            out.push(',');
        } else {
            out.push_str(name);
            out.push(':');
        }
        out.push_str(value);
        out.push('\n');
        previous = Some(name.as_str());
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], wanted: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        .map(|(_, value)| value.trim())
}

/// The `x-oss-content-sha256` header, or `UNSIGNED-PAYLOAD` when it is absent (signed
/// URLs).
pub fn payload_hash(headers: &[(String, String)]) -> &str {
    header(headers, CONTENT_SHA256_HEADER).unwrap_or(UNSIGNED_PAYLOAD)
}

pub fn canonical_request(request: &Request<'_>) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_uri(request.bucket, request.key),
        canonical_query(request.query),
        canonical_headers(request.headers, request.additional_headers),
        request.additional_headers.join(";"),
        payload_hash(request.headers)
    )
}

/// `datetime` is the request time, `YYYYMMDDTHHMMSSZ`.
pub fn string_to_sign(datetime: &str, scope: &Scope<'_>, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{datetime}\n{}\n{}",
        scope.credential_scope(),
        sha256_hex(canonical_request.as_bytes())
    )
}

pub fn signing_key(secret: &str, scope: &Scope<'_>) -> [u8; 32] {
    scoped_key(
        format!("aliyun_v4{secret}").as_bytes(),
        [scope.date, scope.region, scope.product, TERMINATOR],
    )
}

/// The hex signature of `request` made at `datetime`.
pub fn signature(secret: &str, datetime: &str, scope: &Scope<'_>, request: &Request<'_>) -> String {
    let sts = string_to_sign(datetime, scope, &canonical_request(request));
    hex::encode(hmac_sha256(&signing_key(secret, scope), sts.as_bytes()))
}

/// The `Authorization` header value for `request`, whose headers must include the
/// `x-oss-date: {datetime}` and `x-oss-content-sha256: UNSIGNED-PAYLOAD` it is sent with.
pub fn authorization(
    access_key_id: &str,
    secret: &str,
    datetime: &str,
    scope: &Scope<'_>,
    request: &Request<'_>,
) -> String {
    let mut value = format!(
        "{ALGORITHM} Credential={access_key_id}/{}",
        scope.credential_scope()
    );
    if !request.additional_headers.is_empty() {
        value.push_str(",AdditionalHeaders=");
        value.push_str(&request.additional_headers.join(";"));
    }
    value.push_str(",Signature=");
    value.push_str(&signature(secret, datetime, scope, request));
    value
}

/// The query string of a URL for `request` signed at `datetime` and valid for
/// `expires_secs` after it: the request's own parameters, then the V4 parameters, all
/// percent-encoded, `x-oss-signature` last. The path is the caller's.
pub fn presign(
    access_key_id: &str,
    secret: &str,
    datetime: &str,
    scope: &Scope<'_>,
    expires_secs: i64,
    request: &Request<'_>,
) -> String {
    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .filter(|(name, _)| !is_auth_param(name))
        .cloned()
        .collect();
    query.push((SIGNATURE_VERSION_PARAM.into(), ALGORITHM.into()));
    query.push((DATE_PARAM.into(), datetime.into()));
    query.push((EXPIRES_PARAM.into(), expires_secs.to_string()));
    query.push((
        CREDENTIAL_PARAM.into(),
        format!("{access_key_id}/{}", scope.credential_scope()),
    ));
    if !request.additional_headers.is_empty() {
        query.push((
            ADDITIONAL_HEADERS_PARAM.into(),
            request.additional_headers.join(";"),
        ));
    }
    let signed = Request {
        query: &query,
        ..*request
    };
    let sig = signature(secret, datetime, scope, &signed);
    query.push((SIGNATURE_PARAM.into(), sig));
    query
        .iter()
        .map(|(name, value)| {
            if value.is_empty() {
                uri_encode(name, false)
            } else {
                format!("{}={}", uri_encode(name, false), uri_encode(value, false))
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether `name` is one of the signed-URL parameters [`presign`] writes.
pub fn is_auth_param(name: &str) -> bool {
    [
        SIGNATURE_VERSION_PARAM,
        CREDENTIAL_PARAM,
        DATE_PARAM,
        EXPIRES_PARAM,
        ADDITIONAL_HEADERS_PARAM,
        SIGNATURE_PARAM,
    ]
    .contains(&name)
}

/// Who signed, for which scope, over which extra headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub scope: Scope<'a>,
    /// Lower-case, in the order the client listed them (the SDKs sort them).
    pub additional_headers: Vec<String>,
    pub signature: &'a str,
}

/// `<AccessKeyId>/<YYYYMMDD>/<region>/<product>/aliyun_v4_request`.
fn parse_credential(credential: &str) -> Result<(&str, Scope<'_>), AuthError> {
    let mut parts = credential.trim().rsplitn(5, '/');
    let mut next = || parts.next().ok_or(AuthError::MalformedCredential);
    let (terminator, product, region, date, access_key_id) =
        (next()?, next()?, next()?, next()?, next()?);
    let is_day = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if terminator != TERMINATOR || access_key_id.is_empty() || product.is_empty() || !is_day {
        return Err(AuthError::MalformedCredential);
    }
    Ok((
        access_key_id,
        Scope {
            date,
            region,
            product,
        },
    ))
}

fn parse_additional_headers(list: &str) -> Vec<String> {
    list.split(';')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Reads an `Authorization: OSS4-HMAC-SHA256 …` value. Fields are `,`-separated with
/// optional spaces, in any order (`oss2` writes `Credential, Signature,
/// AdditionalHeaders`; the v2 SDKs put `AdditionalHeaders` before `Signature`); fields
/// this scheme does not define are ignored, since they are not signed.
pub fn parse_authorization(value: &str) -> Result<Credentials<'_>, AuthError> {
    let fields = value
        .trim()
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or(AuthError::MalformedAuthorization(
            "it does not start with the algorithm",
        ))?;
    let (mut credential, mut additional, mut signature) = (None, None, None);
    for field in fields.split(',') {
        let Some((name, value)) = field.trim().split_once('=') else {
            return Err(AuthError::MalformedAuthorization("a field has no `=`"));
        };
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "AdditionalHeaders" => &mut additional,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value.trim()).is_some() {
            return Err(AuthError::MalformedAuthorization("a field repeats"));
        }
    }
    let credential = credential.ok_or(AuthError::MalformedAuthorization("it has no Credential"))?;
    let signature = signature
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::MalformedAuthorization("it has no Signature"))?;
    let (access_key_id, scope) = parse_credential(credential)?;
    Ok(Credentials {
        access_key_id,
        scope,
        additional_headers: additional.map(parse_additional_headers).unwrap_or_default(),
        signature,
    })
}

/// The credentials a V4 signed URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCredentials<'a> {
    pub credentials: Credentials<'a>,
    /// `x-oss-date`: when the URL was signed, `YYYYMMDDTHHMMSSZ`.
    pub datetime: &'a str,
    /// `x-oss-expires`: how long after `datetime` it is valid, at most
    /// [`MAX_EXPIRES_SECS`].
    pub expires_secs: i64,
}

/// Whether the query claims to be a V4 signed URL (its version or credential is there),
/// so that a broken one is refused as such rather than read as another scheme.
pub fn is_signed_url(query: &[(String, String)]) -> bool {
    query
        .iter()
        .any(|(name, _)| name == SIGNATURE_VERSION_PARAM || name == CREDENTIAL_PARAM)
}

/// Reads the V4 parameters from decoded `query`. When one repeats the first wins, as
/// for V1 signed URLs; a later copy is signed as an ordinary parameter, so it cannot
/// change what was signed.
pub fn parse_signed_url(query: &[(String, String)]) -> Result<UrlCredentials<'_>, AuthError> {
    let first = |wanted: &'static str| {
        query
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
    };
    let required = |wanted: &'static str| {
        first(wanted)
            .filter(|value| !value.is_empty())
            .ok_or(AuthError::MissingParameter(wanted))
    };
    let version = required(SIGNATURE_VERSION_PARAM)?;
    if version != ALGORITHM {
        return Err(AuthError::UnsupportedVersion(version.to_owned()));
    }
    let (access_key_id, scope) = parse_credential(required(CREDENTIAL_PARAM)?)?;
    let datetime = required(DATE_PARAM)?;
    let expires = required(EXPIRES_PARAM)?;
    if !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::MalformedExpires);
    }
    let expires_secs: i64 = expires.parse().map_err(|_| AuthError::ExpiresTooLong)?;
    if expires_secs > MAX_EXPIRES_SECS {
        return Err(AuthError::ExpiresTooLong);
    }
    let signature = required(SIGNATURE_PARAM)?;
    Ok(UrlCredentials {
        credentials: Credentials {
            access_key_id,
            scope,
            additional_headers: first(ADDITIONAL_HEADERS_PARAM)
                .map(parse_additional_headers)
                .unwrap_or_default(),
            signature,
        },
        datetime,
        expires_secs,
    })
}

/// Whether `datetime` has the shape `YYYYMMDDTHHMMSSZ` (its calendar sense is the
/// caller's, who judges it against a clock).
fn is_datetime(datetime: &str) -> bool {
    let b = datetime.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// The checks of [`verify`] that need no secret, so that a server can refuse a
/// malformed request before it looks the key up: `datetime` has the right shape and is
/// a time of the credential's day, and the payload is unsigned.
pub fn check_request(
    datetime: &str,
    credentials: &Credentials<'_>,
    request: &Request<'_>,
) -> Result<(), AuthError> {
    if !is_datetime(datetime) {
        return Err(AuthError::MalformedDate);
    }
    if credentials.scope.date != &datetime[..8] {
        return Err(AuthError::DateOutsideScope);
    }
    if payload_hash(request.headers) != UNSIGNED_PAYLOAD {
        return Err(AuthError::SignedPayload);
    }
    Ok(())
}

/// Checks a request signed at `datetime` (the `x-oss-date` header, or the parameter of
/// a signed URL) against `credentials`. `request.additional_headers` must be
/// `credentials.additional_headers`. Whether `datetime` is recent enough, or the URL
/// still valid, is the caller's decision.
pub fn verify(
    secret: &str,
    datetime: &str,
    credentials: &Credentials<'_>,
    request: &Request<'_>,
) -> Result<(), AuthError> {
    check_request(datetime, credentials, request)?;
    let expected = signature(secret, datetime, &credentials.scope, request);
    if constant_time_eq(expected.as_bytes(), credentials.signature.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch)
    }
}

#[cfg(test)]
mod tests;
