//! How one origin request is addressed and signed.

use signing::sigv4;
use store::Origin;

/// The URL and extra headers of `GET key` at `origin`, signed at `amz_date`
/// (`YYYYMMDDTHHMMSSZ`) when the origin is S3.
pub fn request_for(origin: &Origin, key: &str, amz_date: &str) -> (String, http::HeaderMap) {
    let mut headers = http::HeaderMap::new();
    match origin {
        Origin::Http { base_url } => {
            let url = format!(
                "{}/{}",
                base_url.trim_end_matches('/'),
                sigv4::uri_encode(key, true)
            );
            (url, headers)
        }
        Origin::S3 {
            endpoint,
            region,
            bucket,
            access_key,
            secret_key,
            prefix,
        } => {
            let endpoint = endpoint.trim_end_matches('/');
            let path = format!(
                "/{}/{}",
                sigv4::uri_encode(bucket, false),
                sigv4::uri_encode(&format!("{prefix}{key}"), true)
            );
            let host = authority_of(endpoint);
            let signed = vec![
                ("host".to_owned(), host),
                (
                    "x-amz-content-sha256".to_owned(),
                    sigv4::EMPTY_SHA256.to_owned(),
                ),
                ("x-amz-date".to_owned(), amz_date.to_owned()),
            ];
            let request = sigv4::Request {
                method: "GET",
                path: &path,
                query: &[],
                headers: &signed,
                payload_hash: sigv4::EMPTY_SHA256,
            };
            let scope = sigv4::Scope {
                amz_date,
                region,
                service: "s3",
            };
            let authorization = sigv4::authorization(access_key, secret_key, &scope, &request);
            for (name, value) in [
                ("x-amz-content-sha256", sigv4::EMPTY_SHA256),
                ("x-amz-date", amz_date),
                ("authorization", authorization.as_str()),
            ] {
                if let Ok(v) = http::HeaderValue::from_str(value) {
                    headers.insert(name, v);
                }
            }
            (format!("{endpoint}{path}"), headers)
        }
    }
}

/// The `Host` header an HTTP client sends for `endpoint`: the authority without a
/// default port.
fn authority_of(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("http", endpoint));
    let authority = rest.split('/').next().unwrap_or(rest);
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    authority
        .strip_suffix(default_port)
        .unwrap_or(authority)
        .to_owned()
}

/// Where an origin is, for logs and backoff bookkeeping (never its credentials).
pub fn describe(origin: &Origin) -> String {
    match origin {
        Origin::Http { base_url } => base_url.clone(),
        Origin::S3 {
            endpoint, bucket, ..
        } => format!("{endpoint} bucket {bucket}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_origins_encode_the_key_but_keep_slashes() {
        let (url, headers) = request_for(
            &Origin::Http {
                base_url: "http://o.example/img/".into(),
            },
            "a b/ü.jpg",
            "20250101T000000Z",
        );
        assert_eq!(url, "http://o.example/img/a%20b/%C3%BC.jpg");
        assert!(headers.is_empty());
    }

    #[test]
    fn s3_origins_get_a_verifiable_sigv4_header() {
        let origin = Origin::S3 {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "us-east-1".into(),
            bucket: "src".into(),
            access_key: "AK".into(),
            secret_key: "SK".into(),
            prefix: "p/".into(),
        };
        let (url, headers) = request_for(&origin, "x.jpg", "20250101T000000Z");
        assert_eq!(url, "http://127.0.0.1:9000/src/p/x.jpg");
        let auth = headers["authorization"].to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AK/20250101/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature="
        ));
        // Recompute independently from the canonical pieces.
        let signed = vec![
            ("host".to_owned(), "127.0.0.1:9000".to_owned()),
            (
                "x-amz-content-sha256".to_owned(),
                sigv4::EMPTY_SHA256.to_owned(),
            ),
            ("x-amz-date".to_owned(), "20250101T000000Z".to_owned()),
        ];
        let sig = sigv4::signature(
            "SK",
            &sigv4::Scope {
                amz_date: "20250101T000000Z",
                region: "us-east-1",
                service: "s3",
            },
            &sigv4::Request {
                method: "GET",
                path: "/src/p/x.jpg",
                query: &[],
                headers: &signed,
                payload_hash: sigv4::EMPTY_SHA256,
            },
        );
        assert!(auth.ends_with(&sig));
        assert_eq!(authority_of("https://s3.example:443"), "s3.example");
        assert_eq!(authority_of("http://h:8080/"), "h:8080");
    }
}
