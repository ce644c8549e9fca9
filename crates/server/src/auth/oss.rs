//! Alibaba OSS signature version 1 for the OSS door: `Authorization: OSS <ak>:<sig>`
//! headers and signed URLs (`OSSAccessKeyId`, `Expires`, `Signature` in the query).
//!
//! The signature arithmetic (string to sign, HMAC, constant-time comparison, which
//! parameter wins when one repeats) is [`signing::oss`]'s. This module adds what needs a
//! clock and the key table, in the order OSS applies it:
//!
//! - header auth: the `x-oss-date` header (when sent) or `Date` must be within 15 minutes
//!   of the server's clock (`RequestTimeTooSkewed`), then the key must exist and not be
//!   revoked (`InvalidAccessKeyId`), then the signature must match
//!   (`SignatureDoesNotMatch`);
//! - signed URLs: an expired link is refused as `AccessDenied` / "Request has expired."
//!   before its key is looked up or its signature compared, then key, then signature.
//!
//! What a verified caller may touch is [`Caller::may`]'s decision, made by the door.

use super::{Caller, Callers};
use crate::kernel::date as http_date;
use crate::kernel::date::iso8601;
use http::{HeaderMap, StatusCode};
use signing::oss as v1;
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

/// The parts of a request that V1 signs.
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

/// Whether the request carries an `Authorization` header of one of OSS's schemes
/// (`OSS `, and the V2/V4 ones this module refuses with a clear message).
pub fn has_oss_authorization(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("OSS"))
}

/// Whether the query names an `OSSAccessKeyId` (a signed URL).
pub fn has_signed_url_params(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, _)| k == v1::ACCESS_KEY_ID_PARAM)
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

/// [`verify`] over any secret lookup (`None`: unknown or revoked key).
pub async fn verify_with<F, Fut>(
    lookup: F,
    parts: &SignedParts<'_>,
    now_unix: i64,
) -> Result<Verified, Refused>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Option<(String, Caller)>, StoreError>>,
{
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let signed_headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-oss-"))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let request = v1::Request {
        verb: parts.method,
        content_md5: header("content-md5"),
        content_type: header("content-type"),
        headers: &signed_headers,
        // No bucket: a service-level request (ListBuckets), signed over `/`.
        bucket: (!parts.bucket.is_empty()).then_some(parts.bucket),
        key: parts.key,
        query: parts.query,
    };

    if let Some(authorization) = parts.headers.get(http::header::AUTHORIZATION) {
        let value = authorization.to_str().unwrap_or("");
        let trimmed = value.trim_start();
        if !trimmed.starts_with("OSS ") && trimmed.starts_with("OSS") {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "imgd supports OSS signature version 1 (Authorization: OSS <AccessKeyId>:<Signature>) only.",
            ));
        }
        let credentials = v1::parse_authorization(value).map_err(|_| {
            refused(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Authorization header is invalid.",
            )
        })?;
        // x-oss-date, when sent, takes the Date slot (the SDKs sign it instead).
        let date = match header("x-oss-date") {
            "" => header("date"),
            d => d,
        };
        if date.is_empty() {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "OSS authentication requires a Date or x-oss-date header.",
            ));
        }
        let signed_at = parse_date(date).ok_or_else(|| {
            refused(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "OSS authentication requires a valid Date.",
            )
        })?;
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
        let caller = find_secret(lookup, credentials.access_key_id).await?;
        let (secret, caller) = caller;
        return match v1::verify_header(&secret, &request, date, &credentials) {
            Ok(()) => Ok(Verified {
                caller,
                proof: Proof::Header,
            }),
            Err(_) => Err(signature_mismatch(
                credentials.access_key_id,
                &v1::string_to_sign(&request, date),
            )),
        };
    }

    let credentials = v1::parse_signed_url(parts.query).map_err(|e| match e {
        v1::AuthError::MissingParameter(name) => refused(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!("The signed URL has no {name} parameter."),
        ),
        _ => refused(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "The Expires parameter of the signed URL is not a unix time.",
        ),
    })?;
    if credentials.expires_at < now_unix {
        let mut r = refused(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request has expired.",
        );
        r.details.push(("Expires", iso8601(credentials.expires_at)));
        r.details.push(("ServerTime", iso8601(now_unix)));
        return Err(r);
    }
    let (secret, caller) = find_secret(lookup, &credentials.access_key_id).await?;
    match v1::verify_signed_url(&secret, &request, &credentials, now_unix) {
        Ok(()) => Ok(Verified {
            caller,
            proof: Proof::SignedUrl {
                expires_at: credentials.expires_at,
            },
        }),
        Err(v1::AuthError::Expired { .. }) => Err(refused(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request has expired.",
        )),
        Err(_) => Err(signature_mismatch(
            &credentials.access_key_id,
            &v1::string_to_sign(&request, &credentials.expires_at.to_string()),
        )),
    }
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

/// OSS tells the client what it signed, so SDK authors can compare string to sign.
fn signature_mismatch(access_key: &str, string_to_sign: &str) -> Refused {
    let mut r = refused(
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    );
    r.details.push(("OSSAccessKeyId", access_key.to_owned()));
    r.details.push(("StringToSign", string_to_sign.to_owned()));
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
mod tests {
    use super::*;

    const AK: &str = "LTAI5tExampleKeyId";
    const SECRET: &str = "ExampleSecretKey123";
    const BUCKET: &str = "examplebucket";
    const KEY: &str = "exampledir/example.jpg";
    /// compat.md §4: the signature of GET `KEY` with `x-oss-process=image/resize,w_100`,
    /// valid through 1700003600.
    const EXPIRES: i64 = 1700003600;
    const SIG: &str = "p9DYeMbVzD9AoPPysSmtLI4MhK0=";

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn url_query() -> Vec<(String, String)> {
        pairs(&[
            ("x-oss-process", "image/resize,w_100"),
            ("OSSAccessKeyId", AK),
            ("Expires", "1700003600"),
            ("Signature", SIG),
        ])
    }

    async fn check(
        query: &[(String, String)],
        headers: &HeaderMap,
        method: &str,
        now: i64,
    ) -> Result<Verified, Refused> {
        let parts = SignedParts {
            method,
            bucket: BUCKET,
            key: KEY,
            query,
            headers,
        };
        verify_with(
            |ak| async move { Ok((ak == AK).then(|| (SECRET.to_owned(), Caller::Root))) },
            &parts,
            now,
        )
        .await
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn signed_url_vector_verifies_and_records_its_expiry() {
        let v = block_on(check(&url_query(), &HeaderMap::new(), "GET", EXPIRES - 10)).unwrap();
        assert_eq!(
            v.proof,
            Proof::SignedUrl {
                expires_at: EXPIRES
            }
        );
        // The link is signed for GET only.
        let head = block_on(check(&url_query(), &HeaderMap::new(), "HEAD", EXPIRES - 10));
        assert_eq!(head.unwrap_err().code, "SignatureDoesNotMatch");
    }

    #[test]
    fn first_repeated_auth_parameter_wins() {
        // Appending a forged Signature and a later Expires changes nothing.
        let mut appended = url_query();
        appended.extend(pairs(&[("Signature", "forged"), ("Expires", "9999999999")]));
        let v = block_on(check(&appended, &HeaderMap::new(), "GET", EXPIRES - 10)).unwrap();
        assert_eq!(
            v.proof,
            Proof::SignedUrl {
                expires_at: EXPIRES
            }
        );
        // ... and the first Expires is the one checked: this link is still expired.
        let late = block_on(check(&appended, &HeaderMap::new(), "GET", EXPIRES + 1)).unwrap_err();
        assert_eq!(
            (late.code, late.message.as_str()),
            ("AccessDenied", "Request has expired.")
        );

        // A prepended Expires is the one signed against, so the signature fails.
        let mut prepended = pairs(&[("Expires", "9999999999")]);
        prepended.extend(url_query());
        let e = block_on(check(&prepended, &HeaderMap::new(), "GET", EXPIRES)).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        // Likewise a prepended access key id that does not exist.
        let mut other_key = pairs(&[("OSSAccessKeyId", "nobody")]);
        other_key.extend(url_query());
        let e = block_on(check(&other_key, &HeaderMap::new(), "GET", EXPIRES)).unwrap_err();
        assert_eq!(e.code, "InvalidAccessKeyId");
    }

    #[test]
    fn expiry_is_reported_before_key_and_signature() {
        let mut forged = url_query();
        forged[3].1 = "forged".into();
        let e = block_on(check(&forged, &HeaderMap::new(), "GET", EXPIRES + 1)).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(
            (e.code, e.message.as_str()),
            ("AccessDenied", "Request has expired.")
        );
        let mut unknown = url_query();
        unknown[1].1 = "nobody".into();
        let e = block_on(check(&unknown, &HeaderMap::new(), "GET", EXPIRES + 1)).unwrap_err();
        assert_eq!(e.message, "Request has expired.");
        // Not expired yet: now the signature and the key are what fail.
        let e = block_on(check(&forged, &HeaderMap::new(), "GET", EXPIRES)).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert!(e.details.iter().any(|(k, _)| *k == "StringToSign"));
        let e = block_on(check(&unknown, &HeaderMap::new(), "GET", EXPIRES)).unwrap_err();
        assert_eq!(e.code, "InvalidAccessKeyId");
    }

    #[test]
    fn signed_url_parameter_problems_are_access_denied() {
        let without_sig: Vec<_> = url_query().into_iter().take(3).collect();
        let e = block_on(check(&without_sig, &HeaderMap::new(), "GET", 0)).unwrap_err();
        assert_eq!(e.code, "AccessDenied");
        assert!(e.message.contains("Signature"), "{}", e.message);
        let mut bad_expiry = url_query();
        bad_expiry[2].1 = "soon".into();
        let e = block_on(check(&bad_expiry, &HeaderMap::new(), "GET", 0)).unwrap_err();
        assert_eq!(e.code, "AccessDenied");
    }

    fn signed_headers(date: &str, secret: &str) -> HeaderMap {
        let request = v1::Request {
            verb: "GET",
            content_md5: "",
            content_type: "",
            headers: &[],
            bucket: Some(BUCKET),
            key: KEY,
            query: &[],
        };
        let mut h = HeaderMap::new();
        h.insert("date", date.parse().unwrap());
        h.insert(
            "authorization",
            v1::authorization(AK, secret, &request, date)
                .parse()
                .unwrap(),
        );
        h
    }

    #[test]
    fn service_level_requests_are_signed_over_the_root() {
        // ListBuckets: no bucket, so oss2 signs `/` and its sub-resources.
        let date = "Tue, 14 Nov 2023 22:13:20 GMT";
        let query = pairs(&[("prefix", "a"), ("max-keys", "10")]);
        let request = v1::Request {
            verb: "GET",
            content_md5: "",
            content_type: "",
            headers: &[],
            bucket: None,
            key: "",
            query: &query,
        };
        assert!(v1::string_to_sign(&request, date).ends_with("\n/"));
        let mut h = HeaderMap::new();
        h.insert("date", date.parse().unwrap());
        h.insert(
            "authorization",
            v1::authorization(AK, SECRET, &request, date)
                .parse()
                .unwrap(),
        );
        let parts = SignedParts {
            method: "GET",
            bucket: "",
            key: "",
            query: &query,
            headers: &h,
        };
        let lookup =
            |ak: String| async move { Ok((ak == AK).then(|| (SECRET.to_owned(), Caller::Root))) };
        let v = block_on(verify_with(lookup, &parts, 1700000000)).unwrap();
        assert_eq!(v.proof, Proof::Header);
        // The same signature does not pass for a bucket.
        let bucket = SignedParts {
            bucket: BUCKET,
            ..parts
        };
        let e = block_on(verify_with(lookup, &bucket, 1700000000)).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
    }

    #[test]
    fn header_auth_checks_the_clock_then_the_signature() {
        let date = "Tue, 14 Nov 2023 22:13:20 GMT";
        let t = parse_date(date).unwrap();
        assert_eq!(t, 1700000000);
        assert_eq!(http_date::format_http_date(t), date);
        let h = signed_headers(date, SECRET);
        let v = block_on(check(&[], &h, "GET", t + MAX_SKEW_SECS)).unwrap();
        assert_eq!(v.proof, Proof::Header);
        let e = block_on(check(&[], &h, "GET", t + MAX_SKEW_SECS + 1)).unwrap_err();
        assert_eq!(e.code, "RequestTimeTooSkewed");
        let e = block_on(check(&[], &h, "GET", t - MAX_SKEW_SECS - 1)).unwrap_err();
        assert_eq!(e.code, "RequestTimeTooSkewed");
        // Skew is reported even when the signature is also wrong.
        let wrong = signed_headers(date, "not-the-secret");
        let e = block_on(check(&[], &wrong, "GET", t + 3600)).unwrap_err();
        assert_eq!(e.code, "RequestTimeTooSkewed");
        let e = block_on(check(&[], &wrong, "GET", t)).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        // Header auth ignores signed-URL parameters in the query (they are not
        // sub-resources, so they are not signed either).
        let v = block_on(check(&url_query()[1..], &h, "GET", t)).unwrap();
        assert_eq!(v.proof, Proof::Header);
    }

    #[test]
    fn x_oss_date_takes_the_date_slot() {
        let date = "Tue, 14 Nov 2023 22:13:20 GMT";
        let t = parse_date(date).unwrap();
        let request_headers = pairs(&[("x-oss-date", date)]);
        let request = v1::Request {
            verb: "GET",
            content_md5: "",
            content_type: "",
            headers: &request_headers,
            bucket: Some(BUCKET),
            key: KEY,
            query: &[],
        };
        let mut h = HeaderMap::new();
        h.insert("x-oss-date", date.parse().unwrap());
        // A stale Date header does not matter when x-oss-date is sent.
        h.insert("date", "Mon, 01 Jan 2001 00:00:00 GMT".parse().unwrap());
        h.insert(
            "authorization",
            v1::authorization(AK, SECRET, &request, date)
                .parse()
                .unwrap(),
        );
        assert!(block_on(check(&[], &h, "GET", t)).is_ok());
    }

    #[test]
    fn malformed_headers() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "OSS no-colon".parse().unwrap());
        h.insert("date", "Tue, 14 Nov 2023 22:13:20 GMT".parse().unwrap());
        let e = block_on(check(&[], &h, "GET", 1700000000)).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "InvalidArgument")
        );
        h.insert(
            "authorization",
            "OSS4-HMAC-SHA256 Credential=x".parse().unwrap(),
        );
        let e = block_on(check(&[], &h, "GET", 1700000000)).unwrap_err();
        assert!(e.message.contains("version 1"), "{}", e.message);
        let mut h = signed_headers("Tue, 14 Nov 2023 22:13:20 GMT", SECRET);
        h.remove("date");
        let e = block_on(check(&[], &h, "GET", 1700000000)).unwrap_err();
        assert_eq!(e.code, "AccessDenied");
        h.insert("date", "yesterday".parse().unwrap());
        let e = block_on(check(&[], &h, "GET", 1700000000)).unwrap_err();
        assert_eq!(e.code, "AccessDenied");
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso8601(1700000000), "2023-11-14T22:13:20.000Z");
        assert_eq!(iso8601_ms(1700000000999), "2023-11-14T22:13:20.000Z");
        assert_eq!(parse_date("20231114T221320Z"), Some(1700000000));
    }
}
