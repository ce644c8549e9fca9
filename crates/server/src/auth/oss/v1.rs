//! OSS signature version 1: `Authorization: OSS <ak>:<sig>` with `Date` (or
//! `x-oss-date`), and signed URLs whose `Expires` takes the date's place.

use super::{
    Proof, Refused, SignedParts, Verified, access_denied, check_expiry, check_request_time,
    find_secret, header, invalid_argument, signature_mismatch,
};
use crate::auth::Caller;
use signing::oss as sig;
use std::future::Future;
use store::StoreError;

/// The V1 view of a request: `headers` are all of them as text; V1 signs `x-oss-*`.
fn request<'a>(
    parts: &SignedParts<'a>,
    headers: &'a [(String, String)],
    oss_headers: &'a [(String, String)],
) -> sig::Request<'a> {
    sig::Request {
        verb: parts.method,
        content_md5: header(headers, "content-md5"),
        content_type: header(headers, "content-type"),
        headers: oss_headers,
        bucket: parts.bucket(),
        key: parts.key,
        query: parts.query,
    }
}

fn oss_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| name.starts_with("x-oss-"))
        .cloned()
        .collect()
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
    let credentials = sig::parse_authorization(authorization)
        .map_err(|_| invalid_argument("Authorization header is invalid."))?;
    // x-oss-date, when sent, takes the Date slot (the SDKs sign it instead).
    let date = match header(headers, "x-oss-date") {
        "" => header(headers, "date"),
        d => d,
    };
    check_request_time(date, "Date or x-oss-date", now_unix)?;
    let (secret, caller) = find_secret(lookup, credentials.access_key_id).await?;
    let oss_headers = oss_headers(headers);
    let request = request(parts, headers, &oss_headers);
    match sig::verify_header(&secret, &request, date, &credentials) {
        Ok(()) => Ok(Verified {
            caller,
            proof: Proof::Header,
        }),
        Err(_) => Err(signature_mismatch(
            credentials.access_key_id,
            &[("StringToSign", sig::string_to_sign(&request, date))],
        )),
    }
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
    let credentials = sig::parse_signed_url(parts.query).map_err(|e| match e {
        sig::AuthError::MissingParameter(name) => {
            access_denied(format!("The signed URL has no {name} parameter."))
        }
        _ => access_denied("The Expires parameter of the signed URL is not a unix time."),
    })?;
    check_expiry(credentials.expires_at, now_unix)?;
    let (secret, caller) = find_secret(lookup, &credentials.access_key_id).await?;
    let oss_headers = oss_headers(headers);
    let request = request(parts, headers, &oss_headers);
    match sig::verify_signed_url(&secret, &request, &credentials, now_unix) {
        Ok(()) => Ok(Verified {
            caller,
            proof: Proof::SignedUrl {
                expires_at: credentials.expires_at,
            },
        }),
        Err(sig::AuthError::Expired { .. }) => Err(access_denied("Request has expired.")),
        Err(_) => Err(signature_mismatch(
            &credentials.access_key_id,
            &[(
                "StringToSign",
                sig::string_to_sign(&request, &credentials.expires_at.to_string()),
            )],
        )),
    }
}
