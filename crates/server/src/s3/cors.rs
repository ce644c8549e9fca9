//! CORS: PutBucketCors, GetBucketCors and DeleteBucketCors, and the two places the rules
//! apply, both reached from the door ([`S3Door`](super::S3Door)):
//!
//! - Preflight `OPTIONS` ([`preflight`]). s3s has no OPTIONS operation, and it would check
//!   a signature a browser never sends on a preflight (a presigned URL's query signs the
//!   PUT or GET, not the OPTIONS), so the door answers preflights before s3s.
//! - The `Access-Control-*` headers of actual responses ([`actual_headers`]), added by the
//!   door to whatever s3s answered, presigned requests included.
//!
//! The rules are stored in the bucket's settings (`BucketSettings::cors`) as S3 gave
//! them, after [`rules_from_dto`] refused what S3 refuses.

use super::guard::Refusal;
use super::{ImgdS3, S3Res, ok, s3_err};
use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use store::CorsRule;

/// The methods S3 allows in a rule.
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
/// S3's limit on rules per bucket.
const MAX_RULES: usize = 100;

fn invalid_request(msg: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg)
}

fn malformed(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, msg.to_owned())
}

/// Whether `s` can be sent back in a header, so a stored rule never makes a response
/// that cannot be rendered.
fn header_safe(s: &str) -> bool {
    !s.is_empty() && HeaderValue::from_str(s).is_ok()
}

/// Checks one list of patterns: non-empty values, header-safe, at most one `*` each.
fn check_patterns(kind: &str, values: &[String]) -> s3s::S3Result<()> {
    for v in values {
        if !header_safe(v) {
            return Err(invalid_request(format!(
                "{kind} {v:?} is not a valid header value"
            )));
        }
        if v.matches('*').count() > 1 {
            return Err(invalid_request(format!(
                "{kind} \"{v}\" can not have more than one wildcard."
            )));
        }
    }
    Ok(())
}

/// S3's checks on a CORS configuration, then the rules as stored.
pub(crate) fn rules_from_dto(cfg: CORSConfiguration) -> s3s::S3Result<Vec<CorsRule>> {
    if cfg.cors_rules.is_empty() {
        return Err(malformed(
            "The CORS configuration must contain at least one CORSRule.",
        ));
    }
    if cfg.cors_rules.len() > MAX_RULES {
        return Err(malformed(
            "The CORS configuration must contain at most 100 CORSRules.",
        ));
    }
    cfg.cors_rules.into_iter().map(rule_from_dto).collect()
}

fn rule_from_dto(r: CORSRule) -> s3s::S3Result<CorsRule> {
    if r.allowed_methods.is_empty() {
        return Err(malformed(
            "Each CORSRule must name at least one AllowedMethod.",
        ));
    }
    if r.allowed_origins.is_empty() {
        return Err(malformed(
            "Each CORSRule must name at least one AllowedOrigin.",
        ));
    }
    if let Some(m) = r
        .allowed_methods
        .iter()
        .find(|m| !METHODS.contains(&m.as_str()))
    {
        return Err(invalid_request(format!(
            "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
        )));
    }
    check_patterns("AllowedOrigin", &r.allowed_origins)?;
    let allowed_headers = r.allowed_headers.unwrap_or_default();
    check_patterns("AllowedHeader", &allowed_headers)?;
    let expose_headers = r.expose_headers.unwrap_or_default();
    check_patterns("ExposeHeader", &expose_headers)?;
    if let Some(h) = expose_headers.iter().find(|h| h.contains('*')) {
        return Err(invalid_request(format!(
            "ExposeHeader \"{h}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
        )));
    }
    let max_age_secs = match r.max_age_seconds {
        None => None,
        Some(n) => Some(
            u32::try_from(n)
                .map_err(|_| invalid_request(format!("MaxAgeSeconds {n} must not be negative")))?,
        ),
    };
    if r.id.as_ref().is_some_and(|id| id.len() > 255) {
        return Err(invalid_request(
            "A CORSRule ID may be at most 255 characters".into(),
        ));
    }
    Ok(CorsRule {
        id: r.id,
        allowed_origins: r.allowed_origins,
        allowed_methods: r.allowed_methods,
        allowed_headers,
        expose_headers,
        max_age_secs,
    })
}

fn rule_to_dto(r: &CorsRule) -> CORSRule {
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    CORSRule {
        allowed_headers: list(&r.allowed_headers),
        allowed_methods: r.allowed_methods.clone(),
        allowed_origins: r.allowed_origins.clone(),
        expose_headers: list(&r.expose_headers),
        id: r.id.clone(),
        max_age_seconds: r.max_age_secs.and_then(|n| i32::try_from(n).ok()),
    }
}

/// `pattern` holds at most one `*` (checked on PUT), which matches any run of characters.
fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((pre, suf)) => {
            value.len() >= pre.len() + suf.len() && value.starts_with(pre) && value.ends_with(suf)
        }
    }
}

/// The first rule that allows `origin` to use `method`, and the pattern that matched.
fn matching_rule<'r>(
    rules: &'r [CorsRule],
    origin: &str,
    method: &str,
    mut headers_ok: impl FnMut(&CorsRule) -> bool,
) -> Option<(&'r CorsRule, &'r str)> {
    rules.iter().find_map(|r| {
        let pattern = r
            .allowed_origins
            .iter()
            .find(|p| wildcard_match(p, origin))?;
        (r.allowed_methods.iter().any(|m| m == method) && headers_ok(r))
            .then_some((r, pattern.as_str()))
    })
}

fn insert(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The headers both a preflight and an actual response carry when `rule` matched.
fn allow_headers(rule: &CorsRule, pattern: &str, origin: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    // S3 answers `*` for an any-origin rule and otherwise echoes the origin, which is
    // also what lets a browser send cookies or credentials along.
    if pattern == "*" {
        insert(&mut h, "access-control-allow-origin", "*");
    } else {
        insert(&mut h, "access-control-allow-origin", origin);
        insert(&mut h, "access-control-allow-credentials", "true");
    }
    insert(
        &mut h,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        insert(
            &mut h,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_secs {
        insert(&mut h, "access-control-max-age", &age.to_string());
    }
    h
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bad_request(message: String) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code: "BadRequest",
        message,
    }
}

fn forbidden(message: &str) -> Refusal {
    Refusal {
        status: StatusCode::FORBIDDEN,
        code: "AccessForbidden",
        message: message.to_owned(),
    }
}

/// What the request asks before the bucket's rules are read: S3 refuses a preflight
/// without `Origin` or with an unusable `Access-Control-Request-Method` with 400, even on
/// a presigned URL, whose signature is never checked for an OPTIONS.
pub(crate) fn preflight_request(headers: &HeaderMap) -> Result<(&str, &str), Refusal> {
    let origin = header(headers, "origin").ok_or_else(|| {
        bad_request("Insufficient information. Origin request header needed.".into())
    })?;
    let method = header(headers, "access-control-request-method")
        .ok_or_else(|| bad_request("Invalid Access-Control-Request-Method: null".into()))?;
    if !METHODS.contains(&method) {
        return Err(bad_request(format!(
            "Invalid Access-Control-Request-Method: {method}"
        )));
    }
    Ok((origin, method))
}

/// The answer to a preflight against `rules`: the headers of a 200, or S3's 403.
pub(crate) fn preflight(rules: &[CorsRule], headers: &HeaderMap) -> Result<HeaderMap, Refusal> {
    let (origin, method) = preflight_request(headers)?;
    if rules.is_empty() {
        return Err(forbidden(
            "CORSResponse: CORS is not enabled for this bucket.",
        ));
    }
    let requested: Vec<String> = header(headers, "access-control-request-headers")
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    // Every requested header must be allowed by the same rule; header names compare
    // case-insensitively.
    let headers_ok = |r: &CorsRule| {
        requested.iter().all(|h| {
            r.allowed_headers
                .iter()
                .any(|p| wildcard_match(&p.to_ascii_lowercase(), h))
        })
    };
    let Some((rule, pattern)) = matching_rule(rules, origin, method, headers_ok) else {
        return Err(forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ));
    };
    let mut h = allow_headers(rule, pattern, origin);
    if !requested.is_empty() {
        insert(
            &mut h,
            "access-control-allow-headers",
            &requested.join(", "),
        );
    }
    insert(
        &mut h,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
    Ok(h)
}

/// The CORS headers of an actual response to `method` from `origin`: the matching rule's
/// `Access-Control-*`, and `Vary: Origin` whenever the bucket has rules, since the answer
/// then depends on the origin (S3 does not check request headers on actual requests).
pub(crate) fn actual_headers(rules: &[CorsRule], origin: &str, method: &str) -> HeaderMap {
    let mut h = match matching_rule(rules, origin, method, |_| true) {
        Some((rule, pattern)) => allow_headers(rule, pattern, origin),
        None => HeaderMap::new(),
    };
    if !rules.is_empty() {
        h.insert("vary", HeaderValue::from_static("Origin"));
    }
    h
}

impl ImgdS3 {
    pub(crate) async fn do_put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Res<PutBucketCorsOutput> {
        let rules = rules_from_dto(req.input.cors_configuration)?;
        let count = rules.len();
        self.store
            .update_bucket_settings(&req.input.bucket, |s| {
                s.cors = rules;
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        tracing::info!(bucket = %req.input.bucket, rules = count, "bucket CORS set");
        ok(PutBucketCorsOutput {})
    }

    pub(crate) async fn do_get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Res<GetBucketCorsOutput> {
        let settings = self
            .store
            .bucket_settings(&req.input.bucket)
            .await
            .map_err(s3_err)?;
        if settings.cors.is_empty() {
            return Err(S3Error::with_message(
                S3ErrorCode::NoSuchCORSConfiguration,
                "The CORS configuration does not exist",
            ));
        }
        ok(GetBucketCorsOutput {
            cors_rules: Some(settings.cors.iter().map(rule_to_dto).collect()),
        })
    }

    pub(crate) async fn do_delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Res<DeleteBucketCorsOutput> {
        self.store
            .update_bucket_settings(&req.input.bucket, |s| {
                s.cors.clear();
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        tracing::info!(bucket = %req.input.bucket, "bucket CORS deleted");
        ok(DeleteBucketCorsOutput {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["ETag".into()],
            ..CorsRule::default()
        }
    }

    fn request(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("test header"));
        }
        h
    }

    #[test]
    fn one_wildcard_matches_any_run() {
        assert!(wildcard_match("*", "https://a.test"));
        assert!(wildcard_match(
            "https://*.example.com",
            "https://cdn.example.com"
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.com"
        ));
        assert!(!wildcard_match("https://a.test", "https://a.test.evil"));
        assert!(wildcard_match("x-amz-*", "x-amz-date"));
    }

    #[test]
    fn preflight_needs_origin_and_a_known_method() {
        let rules = [rule(&["*"], &["GET"])];
        let e = preflight(&rules, &request(&[])).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "BadRequest"));
        let e = preflight(&rules, &request(&[("origin", "https://a.test")])).unwrap_err();
        assert_eq!(e.message, "Invalid Access-Control-Request-Method: null");
        let e = preflight(
            &[],
            &request(&[
                ("origin", "https://a.test"),
                ("access-control-request-method", "GET"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::FORBIDDEN, "AccessForbidden")
        );
    }

    #[test]
    fn preflight_answers_from_the_first_matching_rule() {
        let rules = [
            rule(&["https://*.example.com"], &["PUT"]),
            rule(&["*"], &["GET", "HEAD"]),
        ];
        let h = preflight(
            &rules,
            &request(&[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "Content-Type, X-Amz-Date"),
            ]),
        )
        .expect("allowed");
        assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["access-control-allow-methods"], "PUT");
        assert_eq!(
            h["access-control-allow-headers"],
            "content-type, x-amz-date"
        );
        let h = preflight(
            &rules,
            &request(&[
                ("origin", "https://other.test"),
                ("access-control-request-method", "GET"),
            ]),
        )
        .expect("allowed");
        assert_eq!(h["access-control-allow-origin"], "*");
        assert!(h.get("access-control-allow-credentials").is_none());
        let e = preflight(
            &rules,
            &request(&[
                ("origin", "https://other.test"),
                ("access-control-request-method", "PUT"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn requested_headers_must_be_allowed() {
        let mut r = rule(&["*"], &["PUT"]);
        r.allowed_headers = vec!["Content-Type".into()];
        let ask = |hdrs: &str| {
            preflight(
                std::slice::from_ref(&r),
                &request(&[
                    ("origin", "https://a.test"),
                    ("access-control-request-method", "PUT"),
                    ("access-control-request-headers", hdrs),
                ]),
            )
        };
        assert!(ask("content-type").is_ok());
        assert!(ask("content-type, x-custom").is_err());
    }

    #[test]
    fn actual_responses_vary_on_origin_whenever_rules_exist() {
        let rules = [rule(&["https://a.test"], &["GET"])];
        let h = actual_headers(&rules, "https://a.test", "GET");
        assert_eq!(h["access-control-allow-origin"], "https://a.test");
        assert_eq!(h["access-control-expose-headers"], "ETag");
        assert_eq!(h["vary"], "Origin");
        let h = actual_headers(&rules, "https://b.test", "GET");
        assert!(h.get("access-control-allow-origin").is_none());
        assert_eq!(h["vary"], "Origin");
        assert!(actual_headers(&[], "https://a.test", "GET").is_empty());
    }

    fn dto(origins: &[&str], methods: &[&str]) -> CORSConfiguration {
        CORSConfiguration {
            cors_rules: vec![CORSRule {
                allowed_headers: None,
                allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
                allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
                expose_headers: None,
                id: None,
                max_age_seconds: Some(60),
            }],
        }
    }

    #[test]
    fn bad_rules_are_refused_with_s3s_codes() {
        let code = |c: CORSConfiguration| rules_from_dto(c).unwrap_err().code().clone();
        assert_eq!(code(dto(&["*"], &["PATCH"])), S3ErrorCode::InvalidRequest);
        assert_eq!(
            code(dto(&["https://*.*.test"], &["GET"])),
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(code(dto(&[], &["GET"])), S3ErrorCode::MalformedXML);
        assert_eq!(
            code(CORSConfiguration { cors_rules: vec![] }),
            S3ErrorCode::MalformedXML
        );
        let ok = rules_from_dto(dto(&["https://*.test"], &["GET", "PUT"])).expect("valid");
        assert_eq!(ok[0].max_age_secs, Some(60));
    }
}
