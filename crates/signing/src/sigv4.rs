//! AWS Signature Version 4, as S3 uses it: no path normalisation, no double encoding.
//!
//! Data flow: [`Request`] → [`canonical_request`] → [`string_to_sign`] (with the
//! credential scope) → HMAC with [`signing_key`] → hex signature → [`authorization`].

use crate::primitives::{hmac_sha256, scoped_key, sha256_hex};

/// The SHA-256 of an empty body, which S3 clients send for bodiless requests.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The parts of a request that SigV4 covers.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent on the wire (already percent-encoded).
    pub path: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// Headers to sign; names in any case.
    pub headers: &'a [(String, String)],
    /// Hex SHA-256 of the body, or [`UNSIGNED_PAYLOAD`].
    pub payload_hash: &'a str,
}

/// Who signs, where, and when.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl Scope<'_> {
    fn date(&self) -> &str {
        &self.amz_date[..8.min(self.amz_date.len())]
    }

    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date(),
            self.region,
            self.service
        )
    }
}

/// Percent-encodes as SigV4 requires: everything but `A-Za-z0-9-_.~` (and `/` when
/// `keep_slash`).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn sorted_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let collapsed = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.to_ascii_lowercase(), collapsed)
        })
        .collect();
    h.sort();
    h
}

/// `host;range;...`: the lower-cased, sorted names of the signed headers.
pub fn signed_headers(headers: &[(String, String)]) -> String {
    sorted_headers(headers)
        .into_iter()
        .map(|(k, _)| k)
        .collect::<Vec<_>>()
        .join(";")
}

pub fn canonical_request(req: &Request<'_>) -> String {
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let headers = sorted_headers(req.headers);
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        query,
        canonical_headers,
        signed_headers(req.headers),
        req.payload_hash
    )
}

pub fn string_to_sign(scope: &Scope<'_>, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{}\n{}\n{}",
        scope.amz_date,
        scope.credential_scope(),
        sha256_hex(canonical_request.as_bytes())
    )
}

pub fn signing_key(secret: &str, scope: &Scope<'_>) -> [u8; 32] {
    scoped_key(
        format!("AWS4{secret}").as_bytes(),
        [scope.date(), scope.region, scope.service, "aws4_request"],
    )
}

/// The hex signature of `req`.
pub fn signature(secret: &str, scope: &Scope<'_>, req: &Request<'_>) -> String {
    let sts = string_to_sign(scope, &canonical_request(req));
    hex::encode(hmac_sha256(&signing_key(secret, scope), sts.as_bytes()))
}

/// The `Authorization` header value for `req`.
pub fn authorization(
    access_key: &str,
    secret: &str,
    scope: &Scope<'_>,
    req: &Request<'_>,
) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{},SignedHeaders={},Signature={}",
        scope.credential_scope(),
        signed_headers(req.headers),
        signature(secret, scope, req)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn scope() -> Scope<'static> {
        Scope {
            amz_date: "20130524T000000Z",
            region: "us-east-1",
            service: "s3",
        }
    }

    /// AWS's S3 example: GET /test.txt with `Range: bytes=0-9` (compat.md §5).
    #[test]
    fn aws_s3_get_object_example() {
        let headers = h(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query: &[],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        assert_eq!(
            canonical_request(&req),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            signature(SECRET, &scope(), &req),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(
            authorization("AKIAIOSFODNN7EXAMPLE", SECRET, &scope(), &req),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn any_change_changes_the_signature() {
        let headers = h(&[("host", "b.example"), ("x-amz-date", "20130524T000000Z")]);
        let base = Request {
            method: "GET",
            path: "/k",
            query: &[],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let sig = signature(SECRET, &scope(), &base);
        let q = vec![("a".to_string(), "1".to_string())];
        for changed in [
            Request {
                method: "PUT",
                ..base.clone()
            },
            Request {
                path: "/k2",
                ..base.clone()
            },
            Request {
                query: &q,
                ..base.clone()
            },
            Request {
                payload_hash: UNSIGNED_PAYLOAD,
                ..base.clone()
            },
        ] {
            assert_ne!(signature(SECRET, &scope(), &changed), sig);
        }
        assert_ne!(signature("other", &scope(), &base), sig);
    }

    #[test]
    fn query_is_sorted_and_encoded() {
        let q = vec![
            ("prefix".to_string(), "a b/c".to_string()),
            ("list-type".to_string(), "2".to_string()),
        ];
        let req = Request {
            method: "GET",
            path: "/bucket",
            query: &q,
            headers: &[],
            payload_hash: EMPTY_SHA256,
        };
        assert!(
            canonical_request(&req).starts_with("GET\n/bucket\nlist-type=2&prefix=a%20b%2Fc\n")
        );
        assert_eq!(uri_encode("a b/ü~", true), "a%20b/%C3%BC~");
    }
}
