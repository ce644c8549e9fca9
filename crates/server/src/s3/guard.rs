//! Checks made before a request reaches s3s, for rules s3s 0.14 does not enforce, or
//! enforces against a clock of its own.
//!
//! - A presigned URL may live at most 7 days (S3's limit); s3s 0.14.1 accepts longer.
//! - A presigned URL past its expiry by the server's [`Clock`](crate::kernel::Clock) is
//!   refused here, so a moved clock (tests) judges S3 links as it judges every other
//!   door's. s3s checks expiry again with the system time, which can only refuse more.
//! - A signature must be scoped to this endpoint's region, `us-east-1` or `auto`
//!   (clients such as PicGo default to `auto`).

use crate::kernel::Query;
use http::{HeaderMap, StatusCode, Uri};

pub const MAX_PRESIGNED_SECS: u64 = 7 * 24 * 3600;

/// A refusal in S3's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The region named in a SigV4 credential scope (`AK/date/region/s3/aws4_request`).
fn scope_region(credential: &str) -> Option<&str> {
    credential.split('/').nth(2)
}

fn expired() -> Refusal {
    Refusal {
        status: StatusCode::FORBIDDEN,
        code: "AccessDenied",
        message: "Request has expired".into(),
    }
}

/// The unix second of a SigV4 `X-Amz-Date` (`20240101T000000Z`).
fn amz_date(value: &str) -> Option<i64> {
    let basic = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value, basic)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

pub fn check(
    query: &Query,
    headers: &HeaderMap,
    region: &str,
    now_unix: i64,
) -> Result<(), Refusal> {
    if let Some(expires) = query.get("X-Amz-Expires") {
        let secs: u64 = expires.parse().map_err(|_| Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "AuthorizationQueryParametersError",
            message: "X-Amz-Expires should be a number".into(),
        })?;
        if secs > MAX_PRESIGNED_SECS {
            return Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                code: "AuthorizationQueryParametersError",
                message: "X-Amz-Expires must be less than a week (in seconds) that is 604800"
                    .into(),
            });
        }
        if let Some(signed_at) = query.get("X-Amz-Date").and_then(amz_date)
            && signed_at.saturating_add(secs as i64) < now_unix
        {
            return Err(expired());
        }
    }
    if query.get("AWSAccessKeyId").is_some()
        && let Some(expires) = query.get("Expires")
    {
        let at: i64 = expires.parse().map_err(|_| Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "AuthorizationQueryParametersError",
            message: "Expires should be a number".into(),
        })?;
        if at < now_unix {
            return Err(expired());
        }
        if at > now_unix + MAX_PRESIGNED_SECS as i64 {
            return Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                code: "AuthorizationQueryParametersError",
                message: "Presigned URLs may expire at most a week (604800 seconds) ahead".into(),
            });
        }
    }
    let credential = query
        .get("X-Amz-Credential")
        .map(str::to_owned)
        .or_else(|| {
            let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
            let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?;
            let cred = rest
                .split(',')
                .find_map(|p| p.trim().strip_prefix("Credential="))?;
            Some(cred.trim().to_owned())
        });
    if let Some(cred) = credential
        && let Some(signed_for) = scope_region(&cred)
        && signed_for != region
        && signed_for != "us-east-1"
        && signed_for != "auto"
    {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "AuthorizationHeaderMalformed",
            message: format!(
                "The authorization header is malformed; the region '{signed_for}' is wrong; expecting '{region}'"
            ),
        });
    }
    Ok(())
}

/// SigV2 signs a bucket-level resource as `/bucket/` (AWS's rule, and what botocore
/// signs), while clients send `/bucket`; s3s 0.14.1 signs the path as sent. For SigV2
/// requests (header or presigned), returns the URI with the trailing slash added.
pub fn sigv2_bucket_uri(uri: &Uri, query: &Query, headers: &HeaderMap) -> Option<Uri> {
    let v2_header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("AWS ") && a.contains(':'));
    let v2_query = query.has("AWSAccessKeyId") && query.has("Signature");
    if !(v2_header || v2_query) {
        return None;
    }
    let path = uri.path();
    let bucket_only = path.len() > 1 && !path[1..].contains('/');
    if !bucket_only {
        return None;
    }
    let rebuilt = match uri.query() {
        Some(q) => format!("{path}/?{q}"),
        None => format!("{path}/"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = rebuilt.parse().ok();
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn q(s: &str) -> Query {
        Query::of(&uri(s))
    }

    #[test]
    fn presigned_v4_longer_than_a_week_is_refused() {
        let h = HeaderMap::new();
        let week = "/b/k?X-Amz-Expires=604800&X-Amz-Credential=AK%2F20240101%2Fus-east-1%2Fs3%2Faws4_request";
        assert!(check(&q(week), &h, "us-east-1", 0).is_ok());
        let longer = "/b/k?X-Amz-Expires=604801";
        let r = check(&q(longer), &h, "us-east-1", 0).unwrap_err();
        assert_eq!(r.code, "AuthorizationQueryParametersError");
    }

    #[test]
    fn presigned_v2_longer_than_a_week_is_refused() {
        let h = HeaderMap::new();
        let now = 1_700_000_000;
        let ok = format!("/b/k?AWSAccessKeyId=AK&Expires={}&Signature=x", now + 3600);
        assert!(check(&q(&ok), &h, "us-east-1", now).is_ok());
        let far = format!(
            "/b/k?AWSAccessKeyId=AK&Expires={}&Signature=x",
            now + MAX_PRESIGNED_SECS as i64 + 1
        );
        assert!(check(&q(&far), &h, "us-east-1", now).is_err());
    }

    #[test]
    fn region_must_be_ours_or_a_default() {
        let mut h = HeaderMap::new();
        let sig = |r: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=AK/20240101/{r}/s3/aws4_request, SignedHeaders=host, Signature=00"
            )
        };
        for ok in ["eu-west-3", "us-east-1", "auto"] {
            h.insert(http::header::AUTHORIZATION, sig(ok).parse().unwrap());
            assert!(check(&q("/b"), &h, "eu-west-3", 0).is_ok(), "{ok}");
        }
        h.insert(
            http::header::AUTHORIZATION,
            sig("ap-south-1").parse().unwrap(),
        );
        let r = check(&q("/b"), &h, "eu-west-3", 0).unwrap_err();
        assert_eq!(r.code, "AuthorizationHeaderMalformed");
    }

    #[test]
    fn sigv2_bucket_paths_get_their_trailing_slash() {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, "AWS AK:sig=".parse().unwrap());
        assert_eq!(
            sigv2_bucket_uri(&uri("/b"), &q("/b"), &h)
                .unwrap()
                .to_string(),
            "/b/"
        );
        assert_eq!(
            sigv2_bucket_uri(&uri("/b?acl"), &q("/b?acl"), &h)
                .unwrap()
                .to_string(),
            "/b/?acl"
        );
        assert!(sigv2_bucket_uri(&uri("/b/k"), &q("/b/k"), &h).is_none());
        assert!(sigv2_bucket_uri(&uri("/"), &q("/"), &h).is_none());
        let v4 = HeaderMap::new();
        assert!(sigv2_bucket_uri(&uri("/b"), &q("/b"), &v4).is_none());
        assert!(
            sigv2_bucket_uri(
                &uri("/b?AWSAccessKeyId=A&Signature=s&Expires=1"),
                &q("/b?AWSAccessKeyId=A&Signature=s&Expires=1"),
                &v4
            )
            .is_some()
        );
    }

    #[test]
    fn presigned_urls_expire_by_the_server_clock() {
        let h = HeaderMap::new();
        // Signed 2024-01-01T00:00:00Z (1704067200) for an hour.
        let v4 = "/b/k?X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600";
        assert!(check(&q(v4), &h, "us-east-1", 1_704_067_200 + 3600).is_ok());
        let r = check(&q(v4), &h, "us-east-1", 1_704_067_200 + 3601).unwrap_err();
        assert_eq!((r.status.as_u16(), r.code), (403, "AccessDenied"));
        let v2 = "/b/k?AWSAccessKeyId=AK&Expires=1000&Signature=x";
        assert!(check(&q(v2), &h, "us-east-1", 1000).is_ok());
        assert_eq!(
            check(&q(v2), &h, "us-east-1", 1001).unwrap_err().message,
            "Request has expired"
        );
    }
}
