//! OSS signature version 4 (`OSS4-HMAC-SHA256`): `Authorization` headers with an
//! `x-oss-date` request time, and signed URLs valid for `x-oss-expires` seconds after
//! their `x-oss-date`.
//!
//! The credential's region is signed but not compared with imgd's: imgd is one
//! endpoint, and a client configured for its old OSS region (`cn-hangzhou`) signs with
//! the same secret. Request-shape problems (a malformed header, a date outside the
//! credential's day, a signed payload) are refused before the key is looked up.

use super::{
    Proof, Refused, SignedParts, Verified, access_denied, check_expiry, check_request_time,
    find_secret, header, invalid_argument, parse_date, signature_mismatch,
};
use crate::auth::Caller;
use signing::oss::v4 as sig4;
use std::future::Future;
use store::StoreError;

fn request<'a>(
    parts: &SignedParts<'a>,
    headers: &'a [(String, String)],
    additional_headers: &'a [String],
) -> sig4::Request<'a> {
    sig4::Request {
        method: parts.method,
        bucket: parts.bucket(),
        key: parts.key,
        query: parts.query,
        headers,
        additional_headers,
    }
}

/// OSS's answer to a V4 problem other than a wrong signature.
fn refusal(error: &sig4::AuthError) -> Refused {
    use sig4::AuthError as E;
    match error {
        E::MissingParameter(name) => {
            access_denied(format!("The signed URL has no {name} parameter."))
        }
        E::MalformedExpires => access_denied(
            "The x-oss-expires parameter of the signed URL is not a number of seconds.",
        ),
        other => invalid_argument(format!("OSS signature version 4: {other}.")),
    }
}

async fn check_signature<F, Fut>(
    lookup: F,
    datetime: &str,
    credentials: &sig4::Credentials<'_>,
    request: &sig4::Request<'_>,
) -> Result<Caller, Refused>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Option<(String, Caller)>, StoreError>>,
{
    sig4::check_request(datetime, credentials, request).map_err(|e| refusal(&e))?;
    let (secret, caller) = find_secret(lookup, credentials.access_key_id).await?;
    match sig4::verify(&secret, datetime, credentials, request) {
        Ok(()) => Ok(caller),
        Err(sig4::AuthError::SignatureMismatch) => {
            let canonical = sig4::canonical_request(request);
            let sts = sig4::string_to_sign(datetime, &credentials.scope, &canonical);
            Err(signature_mismatch(
                credentials.access_key_id,
                &[("StringToSign", sts), ("CanonicalRequest", canonical)],
            ))
        }
        Err(e) => Err(refusal(&e)),
    }
}

pub(super) async fn verify_header<F, Fut>(
    lookup: F,
    parts: &SignedParts<'_>,
    headers: &[(String, String)],
    authorization: &str,
    now_unix: i64,
) -> Result<Verified, Refused>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Option<(String, Caller)>, StoreError>>,
{
    let credentials = sig4::parse_authorization(authorization)
        .map_err(|e| invalid_argument(format!("Authorization header is invalid: {e}.")))?;
    let datetime = header(headers, sig4::DATE_HEADER);
    check_request_time(datetime, sig4::DATE_HEADER, now_unix)?;
    let request = request(parts, headers, &credentials.additional_headers);
    let caller = check_signature(lookup, datetime, &credentials, &request).await?;
    Ok(Verified {
        caller,
        proof: Proof::Header,
    })
}

pub(super) async fn verify_signed_url<F, Fut>(
    lookup: F,
    parts: &SignedParts<'_>,
    headers: &[(String, String)],
    now_unix: i64,
) -> Result<Verified, Refused>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Option<(String, Caller)>, StoreError>>,
{
    let url = sig4::parse_signed_url(parts.query).map_err(|e| refusal(&e))?;
    let signed_at = parse_date(url.datetime).ok_or_else(|| {
        access_denied("The x-oss-date parameter of the signed URL is not a valid date.")
    })?;
    let expires_at = signed_at.saturating_add(url.expires_secs);
    check_expiry(expires_at, now_unix)?;
    let credentials = &url.credentials;
    let request = request(parts, headers, &credentials.additional_headers);
    let caller = check_signature(lookup, url.datetime, credentials, &request).await?;
    Ok(Verified {
        caller,
        proof: Proof::SignedUrl { expires_at },
    })
}
