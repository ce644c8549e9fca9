//! Alibaba Cloud OSS signature version 1: `Authorization: OSS <AccessKeyId>:<Signature>`
//! headers and signed URLs carrying `OSSAccessKeyId`, `Expires` and `Signature`.
//!
//! Data flow: [`Request`] (decoded key and query, headers) → [`canonicalized_oss_headers`]
//! and [`canonicalized_resource`] → [`string_to_sign`] with a date (the `Date` header
//! for header auth, the expiry for signed URLs) → [`signature`] (base64 HMAC-SHA1) →
//! [`authorization`] or [`presign`]. Incoming requests go through
//! [`parse_authorization`] + [`verify_header`], or [`parse_signed_url`] +
//! [`verify_signed_url`]; the caller looks the secret up by access key id in between.
//!
//! Header values are text to both versions; [`header_text`] is how their bytes are
//! read, for signing and for what a server stores. Signature version 4
//! (`OSS4-HMAC-SHA256`) is [`v4`].

pub mod v4;

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use crate::primitives::{constant_time_eq, hmac_sha1};

pub const ACCESS_KEY_ID_PARAM: &str = "OSSAccessKeyId";
pub const EXPIRES_PARAM: &str = "Expires";
pub const SIGNATURE_PARAM: &str = "Signature";

/// Query parameters that name a sub-resource and are therefore signed; every other query
/// parameter is left out of the signature. The list is the `oss2` SDK's (2.19.1's set, plus
/// a few older names it no longer sends).
pub const SUB_RESOURCES: &[&str] = &[
    "acl",
    "uploads",
    "location",
    "cors",
    "logging",
    "website",
    "referer",
    "lifecycle",
    "delete",
    "append",
    "tagging",
    "objectMeta",
    "uploadId",
    "partNumber",
    "security-token",
    "position",
    "img",
    "style",
    "styleName",
    "replication",
    "replicationProgress",
    "replicationLocation",
    "cname",
    "bucketInfo",
    "comp",
    "qos",
    "live",
    "status",
    "vod",
    "startTime",
    "endTime",
    "symlink",
    "x-oss-process",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "udf",
    "udfName",
    "udfImage",
    "udfId",
    "udfImageDesc",
    "udfApplication",
    "udfApplicationLog",
    "restore",
    "callback",
    "callback-var",
    "policy",
    "encryption",
    "versions",
    "versioning",
    "versionId",
    // Added to oss2 by 2.19.1 (ListObjectsV2's continuation-token among them).
    "group",
    "link",
    "objectInfo",
    "stat",
    "requestPayment",
    "x-oss-traffic-limit",
    "qosInfo",
    "asyncFetch",
    "x-oss-request-payer",
    "sequential",
    "inventory",
    "inventoryId",
    "continuation-token",
    "worm",
    "wormId",
    "wormExtend",
    "transferAcceleration",
    "metaQuery",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow",
    "resourceGroup",
    "x-oss-async-process",
    "regionList",
    "x-oss-write-get-object-response",
    "bucketArchiveDirectRead",
    "httpsConfig",
    "redundancyTransition",
    "x-oss-target-redundancy-type",
    "x-oss-redundancy-transition-taskid",
    "accessPoint",
    "accessPointPolicy",
    "publicAccessBlock",
    "x-oss-access-point-name",
    "requesterQosInfo",
    "qosRequester",
    "resourcePoolInfo",
    "resourcePool",
    "resourcePoolBuckets",
];

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("the Authorization header is not `OSS <AccessKeyId>:<Signature>`")]
    MalformedAuthorization,
    #[error("the signed URL has no `{0}` parameter")]
    MissingParameter(&'static str),
    #[error("the `Expires` parameter is not a unix timestamp")]
    MalformedExpires,
    #[error("the signed URL expired at {expired_at}")]
    Expired { expired_at: i64 },
    #[error("the signature does not match the request")]
    SignatureMismatch,
}

/// The text of a header value's bytes as OSS signs them (V1 and V4) and as the
/// `x-oss-meta-*` a server stores: valid UTF-8 as it is, anything else byte by byte as
/// ISO-8859-1. That is what `oss2` signed in both ways it sends a non-ASCII value: it
/// signs the UTF-8 encoding of a `str`, which Python's `http.client` writes as
/// ISO-8859-1 (`café` arrives as `caf\xE9`), and signs UTF-8 `bytes` as they are sent
/// (the only way to send `中文`, which ISO-8859-1 cannot encode). A value whose
/// ISO-8859-1 bytes are themselves valid UTF-8 (`Ã©`) is read as UTF-8; clients send
/// such text as UTF-8 `bytes` to have it signed as written.
pub fn header_text(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(raw.iter().map(|&byte| char::from(byte)).collect()),
    }
}

/// The parts of a request that V1 covers, decoded.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub verb: &'a str,
    /// The `Content-MD5` header, or empty.
    pub content_md5: &'a str,
    /// The `Content-Type` header, or empty.
    pub content_type: &'a str,
    /// Request headers in any case; only `x-oss-*` ones are signed.
    pub headers: &'a [(String, String)],
    /// `None` for service-level requests such as ListBuckets.
    pub bucket: Option<&'a str>,
    /// The percent-decoded object key; empty for bucket-level requests.
    pub key: &'a str,
    /// Percent-decoded query parameters; only [`SUB_RESOURCES`] are signed.
    pub query: &'a [(String, String)],
}

/// `name:value\n` for each `x-oss-*` header, names lower-cased, sorted by name.
pub fn canonicalized_oss_headers(headers: &[(String, String)]) -> String {
    let mut oss_headers: Vec<(String, &str)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_str()))
        .filter(|(name, _)| name.starts_with("x-oss-"))
        .collect();
    oss_headers.sort_by(|a, b| a.0.cmp(&b.0));
    oss_headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect()
}

/// `/bucket/key` (raw, decoded UTF-8) or `/` without a bucket, then `?` and the
/// sub-resources sorted by name, as `k=v`, or `k` when the value is empty.
pub fn canonicalized_resource(
    bucket: Option<&str>,
    key: &str,
    query: &[(String, String)],
) -> String {
    let mut resource = match bucket {
        Some(bucket) => format!("/{bucket}/{key}"),
        None => "/".to_owned(),
    };
    let mut sub_resources: Vec<&(String, String)> = query
        .iter()
        .filter(|(name, _)| SUB_RESOURCES.contains(&name.as_str()))
        .collect();
    sub_resources.sort_by(|a, b| a.0.cmp(&b.0));
    for (index, (name, value)) in sub_resources.into_iter().enumerate() {
        resource.push(if index == 0 { '?' } else { '&' });
        resource.push_str(name);
        if !value.is_empty() {
            resource.push('=');
            resource.push_str(value);
        }
    }
    resource
}

/// `date` is the `Date` header (or `x-oss-date` when the client sent one) for header
/// auth, and the expiry in unix seconds for signed URLs.
pub fn string_to_sign(request: &Request<'_>, date: &str) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}{}",
        request.verb,
        request.content_md5,
        request.content_type,
        date,
        canonicalized_oss_headers(request.headers),
        canonicalized_resource(request.bucket, request.key, request.query)
    )
}

/// Base64 HMAC-SHA1 of `string_to_sign` under the access key secret.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    STANDARD.encode(hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes()))
}

/// The `Authorization` header value for `request`, sent with `Date: {date}`.
pub fn authorization(
    access_key_id: &str,
    secret: &str,
    request: &Request<'_>,
    date: &str,
) -> String {
    let sig = signature(secret, &string_to_sign(request, date));
    format!("OSS {access_key_id}:{sig}")
}

/// The credentials in an `Authorization: OSS …` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderCredentials<'a> {
    pub access_key_id: &'a str,
    pub signature: &'a str,
}

pub fn parse_authorization(value: &str) -> Result<HeaderCredentials<'_>, AuthError> {
    let credentials = value
        .trim()
        .strip_prefix("OSS ")
        .ok_or(AuthError::MalformedAuthorization)?;
    let (access_key_id, signature) = credentials
        .trim_start()
        .split_once(':')
        .ok_or(AuthError::MalformedAuthorization)?;
    if access_key_id.is_empty() || signature.is_empty() {
        return Err(AuthError::MalformedAuthorization);
    }
    Ok(HeaderCredentials {
        access_key_id,
        signature,
    })
}

/// Checks a header-authenticated request. Whether `date` is recent enough is the
/// caller's decision, since this crate has no clock.
pub fn verify_header(
    secret: &str,
    request: &Request<'_>,
    date: &str,
    credentials: &HeaderCredentials<'_>,
) -> Result<(), AuthError> {
    let expected = signature(secret, &string_to_sign(request, date));
    if constant_time_eq(expected.as_bytes(), credentials.signature.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch)
    }
}

/// The query string of a URL for `request` valid through `expires_at` (unix seconds):
/// the request's own parameters, then `OSSAccessKeyId`, `Expires` and `Signature`, all
/// percent-encoded. Values are signed decoded, so `x-oss-process=image/resize,w_100` is
/// signed as written and carried as `image%2Fresize%2Cw_100`. The path (with `/` in the
/// key encoded as `%2F`, as `oss2` does) is the caller's.
pub fn presign(
    access_key_id: &str,
    secret: &str,
    request: &Request<'_>,
    expires_at: i64,
) -> String {
    let expires = expires_at.to_string();
    let sig = signature(secret, &string_to_sign(request, &expires));
    let auth_params = [
        (ACCESS_KEY_ID_PARAM, access_key_id),
        (EXPIRES_PARAM, expires.as_str()),
        (SIGNATURE_PARAM, sig.as_str()),
    ];
    request
        .query
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .filter(|(name, _)| !is_auth_param(name))
        .chain(auth_params)
        .map(|(name, value)| format!("{}={}", encode_component(name), encode_component(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn is_auth_param(name: &str) -> bool {
    [ACCESS_KEY_ID_PARAM, EXPIRES_PARAM, SIGNATURE_PARAM].contains(&name)
}

/// Everything but `A-Za-z0-9-_.~` is escaped. A space becomes `%20` rather than `+` so
/// the URL decodes the same under either query-decoding convention.
fn encode_component(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for byte in component.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The credentials a signed URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCredentials {
    pub access_key_id: String,
    pub expires_at: i64,
    pub signature: String,
}

/// Reads the auth parameters from decoded `query`. When one repeats the first wins, as
/// OSS does, so appending a second `Signature` or `Expires` changes nothing.
pub fn parse_signed_url(query: &[(String, String)]) -> Result<UrlCredentials, AuthError> {
    let first = |wanted: &'static str| {
        query
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
            .ok_or(AuthError::MissingParameter(wanted))
    };
    let access_key_id = first(ACCESS_KEY_ID_PARAM)?;
    let expires = first(EXPIRES_PARAM)?;
    let signature = first(SIGNATURE_PARAM)?;
    if !expires.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(AuthError::MalformedExpires);
    }
    let expires_at = expires.parse().map_err(|_| AuthError::MalformedExpires)?;
    Ok(UrlCredentials {
        access_key_id: access_key_id.to_owned(),
        expires_at,
        signature: signature.to_owned(),
    })
}

/// Checks a signed URL. Expiry comes first, as OSS does it, so an expired link is
/// reported as expired whatever its signature. `request.query` is the URL's decoded
/// query; its auth parameters are not sub-resources and drop out of the signature.
pub fn verify_signed_url(
    secret: &str,
    request: &Request<'_>,
    credentials: &UrlCredentials,
    now: i64,
) -> Result<(), AuthError> {
    if credentials.expires_at < now {
        return Err(AuthError::Expired {
            expired_at: credentials.expires_at,
        });
    }
    let expected = signature(
        secret,
        &string_to_sign(request, &credentials.expires_at.to_string()),
    );
    if constant_time_eq(expected.as_bytes(), credentials.signature.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch)
    }
}

#[cfg(test)]
mod tests;
