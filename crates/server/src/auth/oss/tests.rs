use super::*;
use signing::oss as sig;

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
    let request = sig::Request {
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
        sig::authorization(AK, secret, &request, date)
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
    let request = sig::Request {
        verb: "GET",
        content_md5: "",
        content_type: "",
        headers: &[],
        bucket: None,
        key: "",
        query: &query,
    };
    assert!(sig::string_to_sign(&request, date).ends_with("\n/"));
    let mut h = HeaderMap::new();
    h.insert("date", date.parse().unwrap());
    h.insert(
        "authorization",
        sig::authorization(AK, SECRET, &request, date)
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
    let request = sig::Request {
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
        sig::authorization(AK, SECRET, &request, date)
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
    h.insert("authorization", "OSS2 AccessKeyId:x".parse().unwrap());
    let e = block_on(check(&[], &h, "GET", 1700000000)).unwrap_err();
    assert_eq!(e.code, "InvalidArgument");
    assert!(e.message.contains("versions 1"), "{}", e.message);
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

fn header_map(items: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in items {
        h.append(*name, value.parse().unwrap());
    }
    h
}

fn verify_as(
    method: &str,
    bucket: &str,
    key: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    now: i64,
    keys: &'static [(&'static str, &'static str)],
) -> Result<Verified, Refused> {
    let parts = SignedParts {
        method,
        bucket,
        key,
        query,
        headers,
    };
    let lookup = |ak: String| async move {
        Ok(keys
            .iter()
            .find(|(k, _)| *k == ak)
            .map(|(_, secret)| (secret.to_string(), Caller::Root)))
    };
    block_on(verify_with(lookup, &parts, now))
}

const EXAMPLE_KEYS: &[(&str, &str)] = &[(AK, SECRET), ("ak", "sk")];

/// The signatures `oss2` 2.19.1 computed itself for these requests (see the signing
/// crate's `oss2_non_ascii_header_vectors`): a `str` value arrives as ISO-8859-1, a
/// UTF-8 `bytes` value as UTF-8, and both verify.
#[test]
fn non_ascii_header_values_verify_as_oss2_signed_them() {
    let date = "Tue, 14 Nov 2023 22:13:20 GMT";
    for (wire, signature) in [
        (&b"caf\xe9 \xfc"[..], "ljgW+1cyUfO/UGi9g7BrNSWrUcA="),
        (
            "\u{4e2d}\u{6587} \u{fc}".as_bytes(),
            "nv8YfoKZSV+TuvanDIW0iIecYtM=",
        ),
    ] {
        let authorization = format!("OSS {AK}:{signature}");
        let mut h = header_map(&[
            ("date", date),
            ("content-type", "text/plain"),
            ("authorization", authorization.as_str()),
        ]);
        // The bytes as they arrive, not as text.
        h.insert(
            "x-oss-meta-name",
            http::HeaderValue::from_bytes(wire).unwrap(),
        );
        let key = "exampledir/\u{4e2d}.txt";
        let v = verify_as("PUT", BUCKET, key, &[], &h, 1700000000, EXAMPLE_KEYS).unwrap();
        assert_eq!(v.proof, Proof::Header);
        // The value is signed: another one fails.
        let mut other = h.clone();
        other.insert("x-oss-meta-name", "cafe".parse().unwrap());
        let e = verify_as("PUT", BUCKET, key, &[], &other, 1700000000, EXAMPLE_KEYS).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
    }
}

/// The V4 signer's published example (alibabacloud-oss-python-sdk-v2's
/// `test_auth_header`, also in the signing crate's tests), verified as a request.
fn v4_header_request() -> (Vec<(String, String)>, HeaderMap) {
    let query = pairs(&[
        ("param1", "value1"),
        ("+param1", "value3"),
        ("|param1", "value4"),
        ("+param2", ""),
        ("|param2", ""),
        ("param2", ""),
    ]);
    let h = header_map(&[
        ("x-oss-head1", "value"),
        ("abc", "value"),
        ("zabc", "value"),
        ("xyz", "value"),
        ("content-type", "text/plain"),
        ("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        ("x-oss-date", "20231216T162057Z"),
        ("date", "Sat, 16 Dec 2023 16:20:57 GMT"),
        (
            "authorization",
            "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
              Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe",
        ),
    ]);
    (query, h)
}

const V4_KEY: &str = "1234+-/123/1.txt";
const V4_SIGNED_AT: i64 = 1702743657;

#[test]
fn v4_header_vector_verifies_within_the_skew() {
    let (query, h) = v4_header_request();
    let check =
        |h: &HeaderMap, now| verify_as("PUT", "bucket", V4_KEY, &query, h, now, EXAMPLE_KEYS);
    assert_eq!(check(&h, V4_SIGNED_AT).unwrap().proof, Proof::Header);
    assert!(check(&h, V4_SIGNED_AT - MAX_SKEW_SECS).is_ok());
    let e = check(&h, V4_SIGNED_AT + MAX_SKEW_SECS + 1).unwrap_err();
    assert_eq!(e.code, "RequestTimeTooSkewed");

    // A changed signed header fails, and the error shows what was signed.
    let mut changed = h.clone();
    changed.insert("x-oss-head1", "other".parse().unwrap());
    let e = check(&changed, V4_SIGNED_AT).unwrap_err();
    assert_eq!(
        (e.status, e.code),
        (StatusCode::FORBIDDEN, "SignatureDoesNotMatch")
    );
    let detail = |name| {
        e.details
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    assert!(
        detail("CanonicalRequest")
            .unwrap()
            .contains("\nx-oss-head1:other\n")
    );
    assert!(
        detail("StringToSign")
            .unwrap()
            .starts_with("OSS4-HMAC-SHA256\n20231216T162057Z\n")
    );
    // An unsigned one does not matter.
    let mut unsigned = h.clone();
    unsigned.insert("xyz", "other".parse().unwrap());
    assert!(check(&unsigned, V4_SIGNED_AT).is_ok());

    let mut no_date = h.clone();
    no_date.remove("x-oss-date");
    let e = check(&no_date, V4_SIGNED_AT).unwrap_err();
    assert_eq!(e.code, "AccessDenied");
    assert!(e.message.contains("x-oss-date"), "{}", e.message);
}

#[test]
fn v4_request_shape_is_refused_before_the_key_is_looked_up() {
    let (query, h) = v4_header_request();
    let unknown_key = |h: &HeaderMap| {
        let mut h = h.clone();
        let value = h["authorization"]
            .to_str()
            .unwrap()
            .replace("=ak/", "=nobody/");
        h.insert("authorization", value.parse().unwrap());
        verify_as(
            "PUT",
            "bucket",
            V4_KEY,
            &query,
            &h,
            V4_SIGNED_AT,
            EXAMPLE_KEYS,
        )
    };
    assert_eq!(unknown_key(&h).unwrap_err().code, "InvalidAccessKeyId");
    let mut signed_body = h.clone();
    signed_body.insert("x-oss-content-sha256", "e3b0c442".parse().unwrap());
    let e = unknown_key(&signed_body).unwrap_err();
    assert_eq!(
        (e.status, e.code),
        (StatusCode::BAD_REQUEST, "InvalidArgument")
    );
    assert!(e.message.contains("UNSIGNED-PAYLOAD"), "{}", e.message);
    let mut other_day = h.clone();
    other_day.insert("x-oss-date", "20231217T000000Z".parse().unwrap());
    // 20231217T000000Z, so the time is right but not the credential's day.
    let e = verify_as(
        "PUT",
        "bucket",
        V4_KEY,
        &query,
        &other_day,
        1702771200,
        EXAMPLE_KEYS,
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidArgument");
    let mut malformed = h.clone();
    malformed.insert(
        "authorization",
        "OSS4-HMAC-SHA256 Credential=ak".parse().unwrap(),
    );
    let e = unknown_key(&malformed).unwrap_err();
    assert_eq!(
        (e.status, e.code),
        (StatusCode::BAD_REQUEST, "InvalidArgument")
    );
}

/// alibabacloud-oss-python-sdk-v2's `test_auth_query`: a URL signed at
/// 20231217T025437Z for 599 seconds.
fn v4_url_query() -> Vec<(String, String)> {
    pairs(&[
        ("param1", "value1"),
        ("+param1", "value3"),
        ("|param1", "value4"),
        ("+param2", ""),
        ("|param2", ""),
        ("param2", ""),
        ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        ("x-oss-date", "20231217T025437Z"),
        ("x-oss-expires", "599"),
        (
            "x-oss-credential",
            "ak/20231217/cn-hangzhou/oss/aliyun_v4_request",
        ),
        (
            "x-oss-signature",
            "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe",
        ),
    ])
}

#[test]
fn v4_signed_url_vector_verifies_until_it_expires() {
    let signed_at = 1702781677;
    let h = header_map(&[
        ("x-oss-head1", "value"),
        ("content-type", "application/octet-stream"),
    ]);
    let check = |query: &[(String, String)], now| {
        verify_as("PUT", "bucket", V4_KEY, query, &h, now, EXAMPLE_KEYS)
    };
    let query = v4_url_query();
    assert!(has_signed_url_params(&query));
    let v = check(&query, signed_at).unwrap();
    assert_eq!(
        v.proof,
        Proof::SignedUrl {
            expires_at: signed_at + 599
        }
    );
    assert!(check(&query, signed_at + 599).is_ok());
    // Expiry is reported first, whatever else is wrong.
    let mut forged = query.clone();
    forged.last_mut().unwrap().1 = "00".into();
    let e = check(&forged, signed_at + 600).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        ("AccessDenied", "Request has expired.")
    );
    let e = check(&forged, signed_at).unwrap_err();
    assert_eq!(e.code, "SignatureDoesNotMatch");

    let without_signature: Vec<_> = query[..query.len() - 1].to_vec();
    let e = check(&without_signature, signed_at).unwrap_err();
    assert_eq!(e.code, "AccessDenied");
    assert!(e.message.contains("x-oss-signature"), "{}", e.message);
    let mut v2 = query.clone();
    v2[6].1 = "OSS2".into();
    let e = check(&v2, signed_at).unwrap_err();
    assert_eq!(
        (e.status, e.code),
        (StatusCode::BAD_REQUEST, "InvalidArgument")
    );
    let mut week = query.clone();
    week[8].1 = "604801".into();
    assert_eq!(check(&week, signed_at).unwrap_err().code, "InvalidArgument");
}

#[test]
fn which_requests_are_oss_signed() {
    let h = |value: &str| header_map(&[("authorization", value)]);
    assert!(has_oss_authorization(&h("OSS ak:sig")));
    assert!(has_oss_authorization(&h("OSS4-HMAC-SHA256 Credential=x")));
    assert!(has_oss_authorization(&h("  OSS2 ak:sig")));
    assert!(!has_oss_authorization(&h("AWS4-HMAC-SHA256 Credential=x")));
    assert!(!has_oss_authorization(&HeaderMap::new()));
    assert!(has_signed_url_params(&pairs(&[("OSSAccessKeyId", "a")])));
    assert!(has_signed_url_params(&pairs(&[("x-oss-credential", "a")])));
    assert!(has_signed_url_params(&pairs(&[(
        "x-oss-signature-version",
        "OSS4-HMAC-SHA256"
    )])));
    assert!(!has_signed_url_params(&pairs(&[(
        "x-oss-process",
        "image/info"
    )])));
}
