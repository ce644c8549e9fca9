//! The vectors are the V4 signer's own published examples: the unit tests of Alibaba's
//! `alibabacloud-oss-python-sdk-v2` (`tests/unit/signer/test_v4.py`), whose inputs are
//! access key `ak`, secret `sk`, bucket `bucket`, key `1234+-/123/1.txt`, region
//! `cn-hangzhou`, a `PUT` with the query `param1=value1&+param1=value3&|param1=value4&
//! +param2&|param2&param2`, and the headers below. Their signing times are unix seconds
//! there; here they are written as the `x-oss-date` they give.

use super::*;
use percent_encoding::percent_decode_str;

const AK: &str = "ak";
const SK: &str = "sk";
const KEY: &str = "1234+-/123/1.txt";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn sdk_query() -> Vec<(String, String)> {
    pairs(&[
        ("param1", "value1"),
        ("+param1", "value3"),
        ("|param1", "value4"),
        ("+param2", ""),
        ("|param2", ""),
        ("param2", ""),
    ])
}

/// The SDK test's headers: `abc`, `ZAbc` and `XYZ` are signed only when named as
/// additional headers.
fn sdk_headers(content_type: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut h = pairs(&[
        ("x-oss-head1", "value"),
        ("abc", "value"),
        ("ZAbc", "value"),
        ("XYZ", "value"),
        ("content-type", content_type),
    ]);
    h.extend(pairs(extra));
    h
}

fn scope<'a>(date: &'a str, region: &'a str, product: &'a str) -> Scope<'a> {
    Scope {
        date,
        region,
        product,
    }
}

fn request<'a>(
    query: &'a [(String, String)],
    headers: &'a [(String, String)],
    additional: &'a [String],
) -> Request<'a> {
    Request {
        method: "PUT",
        bucket: Some("bucket"),
        key: KEY,
        query,
        headers,
        additional_headers: additional,
    }
}

/// Header auth: the request carries `x-oss-date` and `x-oss-content-sha256` as the
/// signer adds them.
fn header_case(datetime: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut with_signer_headers = extra.to_vec();
    with_signer_headers.push(("x-oss-content-sha256", UNSIGNED_PAYLOAD));
    with_signer_headers.push(("x-oss-date", datetime));
    // The signer's `Date` is sent too, but is not signed in V4.
    with_signer_headers.push(("Date", "Sat, 16 Dec 2023 16:20:57 GMT"));
    sdk_headers("text/plain", &with_signer_headers)
}

#[test]
fn sdk_header_vector_and_its_canonical_request() {
    let datetime = "20231216T162057Z";
    let headers = header_case(datetime, &[]);
    let query = sdk_query();
    let req = request(&query, &headers, &[]);
    assert_eq!(
        canonical_request(&req),
        "PUT\n/bucket/1234%2B-/123/1.txt\n\
         %2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n\
         content-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n\
         x-oss-date:20231216T162057Z\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD"
    );
    let s = scope("20231216", "cn-hangzhou", PRODUCT);
    assert_eq!(
        authorization(AK, SK, datetime, &s, &req),
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
         Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"
    );
}

/// One of the SDK's examples: when it was signed, what it adds to the shared request,
/// for which region and product, and the signature the SDK expects.
struct Vector {
    datetime: &'static str,
    /// Headers (header auth) or query parameters (signed URLs) beyond the shared ones.
    extra: &'static [(&'static str, &'static str)],
    additional: &'static [&'static str],
    region: &'static str,
    product: &'static str,
    /// `x-oss-expires`, for signed URLs.
    expires: i64,
    signature: &'static str,
}

const HANGZHOU: &str = "cn-hangzhou";

#[test]
fn sdk_header_vectors() {
    let cases = [
        // A security token is one more x-oss-* header.
        Vector {
            datetime: "20231217T034736Z",
            extra: &[("x-oss-security-token", "token")],
            additional: &[],
            region: HANGZHOU,
            product: PRODUCT,
            expires: 0,
            signature: "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea",
        },
        Vector {
            datetime: "20231216T172512Z",
            extra: &[],
            additional: &["abc", "zabc"],
            region: HANGZHOU,
            product: PRODUCT,
            expires: 0,
            signature: "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f",
        },
        // CloudBox: the product and region come from the credential.
        Vector {
            datetime: "20231216T162057Z",
            extra: &[],
            additional: &[],
            region: "cb-123",
            product: "oss-cloudbox",
            expires: 0,
            signature: "94ce1f12c17d148ea681030275a94449d3357f5b5b21133996eec80af3e08a43",
        },
        Vector {
            datetime: "20231216T162057Z",
            extra: &[],
            additional: &[],
            region: HANGZHOU,
            product: PRODUCT,
            expires: 0,
            signature: "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe",
        },
    ];
    for case in cases {
        let datetime = case.datetime;
        let additional = names(case.additional);
        let headers = header_case(datetime, case.extra);
        let query = sdk_query();
        let req = request(&query, &headers, &additional);
        let s = scope(&datetime[..8], case.region, case.product);
        assert_eq!(
            signature(SK, datetime, &s, &req),
            case.signature,
            "{datetime}"
        );

        // The same value verifies once parsed back from the header the SDK writes.
        let value = authorization(AK, SK, datetime, &s, &req);
        let credentials = parse_authorization(&value).unwrap();
        assert_eq!(credentials.scope, s);
        assert_eq!(credentials.additional_headers, additional);
        verify(SK, datetime, &credentials, &req).unwrap();
        assert_eq!(
            verify("other", datetime, &credentials, &req),
            Err(AuthError::SignatureMismatch)
        );
    }
}

/// Splits and percent-decodes a query string the way a server would.
fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode_str(s).decode_utf8().unwrap().into_owned();
            (decode(name), decode(value))
        })
        .collect()
}

fn raw_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

#[test]
fn sdk_signed_url_vectors() {
    let cases = [
        Vector {
            datetime: "20231217T025437Z",
            extra: &[],
            additional: &[],
            region: HANGZHOU,
            product: PRODUCT,
            expires: 599,
            signature: "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe",
        },
        // A security token is one more parameter.
        Vector {
            datetime: "20231217T035628Z",
            extra: &[("x-oss-security-token", "token")],
            additional: &[],
            region: HANGZHOU,
            product: PRODUCT,
            expires: 599,
            signature: "3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5",
        },
        Vector {
            datetime: "20231217T033009Z",
            extra: &[],
            additional: &["abc", "zabc"],
            region: HANGZHOU,
            product: PRODUCT,
            expires: 599,
            signature: "6bd984bfe531afb6db1f7550983a741b103a8c58e5e14f83ea474c2322dfa2b7",
        },
        Vector {
            datetime: "20231217T025437Z",
            extra: &[],
            additional: &[],
            region: HANGZHOU,
            product: PRODUCT,
            expires: 432000,
            signature: "31029123dc7732d2d2cfd4006ea4fdb6cf86da6478f813e2bf8f87877c7b9fec",
        },
        Vector {
            datetime: "20231217T025437Z",
            extra: &[],
            additional: &["abc", "zabc"],
            region: "cb-123",
            product: "oss-cloudbox",
            expires: 599,
            signature: "07284191b9b4978ac3520cd39ee2dea2747eda454089359371ff463a6c7ba20f",
        },
    ];
    for case in cases {
        let Vector {
            datetime,
            expires,
            region,
            product,
            signature: expected,
            ..
        } = case;
        let additional = &names(case.additional);
        let extra_params = case.extra;
        let headers = sdk_headers("application/octet-stream", &[]);
        let mut query = sdk_query();
        query.extend(pairs(extra_params));
        let s = scope(&datetime[..8], region, product);
        let url_query = presign(
            AK,
            SK,
            datetime,
            &s,
            expires,
            &request(&query, &headers, additional),
        );
        assert_eq!(
            raw_param(&url_query, SIGNATURE_PARAM),
            Some(expected),
            "{datetime}"
        );
        assert_eq!(
            raw_param(&url_query, CREDENTIAL_PARAM),
            Some(
                format!(
                    "ak%2F{}%2F{region}%2F{product}%2Faliyun_v4_request",
                    &datetime[..8]
                )
                .as_str()
            )
        );
        assert_eq!(
            raw_param(&url_query, EXPIRES_PARAM),
            Some(expires.to_string().as_str())
        );
        assert!(url_query.ends_with(&format!("&x-oss-signature={expected}")));

        // What a server decodes from that URL verifies, with the signature left out of
        // what is signed.
        let decoded = decode_query(&url_query);
        let url = parse_signed_url(&decoded).unwrap();
        assert_eq!((url.datetime, url.expires_secs), (datetime, expires));
        assert_eq!(&url.credentials.additional_headers, additional);
        let served = request(&decoded, &headers, &url.credentials.additional_headers);
        verify(SK, url.datetime, &url.credentials, &served).unwrap();
        // A parameter added to the URL is signed like any other.
        let mut added = decoded.clone();
        added.push(("x-oss-process".into(), "image/resize,w_1".into()));
        let served = request(&added, &headers, &url.credentials.additional_headers);
        assert_eq!(
            verify(SK, url.datetime, &url.credentials, &served),
            Err(AuthError::SignatureMismatch)
        );
    }
}

#[test]
fn every_signed_part_matters_and_unsigned_headers_do_not() {
    let datetime = "20231216T172512Z";
    let additional = names(&["abc", "zabc"]);
    let headers = header_case(datetime, &[]);
    let query = sdk_query();
    let base = request(&query, &headers, &additional);
    let s = scope("20231216", "cn-hangzhou", PRODUCT);
    let value = authorization(AK, SK, datetime, &s, &base);
    let credentials = parse_authorization(&value).unwrap();
    assert!(verify(SK, datetime, &credentials, &base).is_ok());

    // `XYZ` is neither a default nor an additional header.
    let mut unsigned = headers.clone();
    unsigned.retain(|(name, _)| name != "XYZ");
    assert!(
        verify(
            SK,
            datetime,
            &credentials,
            &request(&query, &unsigned, &additional)
        )
        .is_ok()
    );

    let changed_header = |name: &str| {
        let mut h = headers.clone();
        for (n, v) in h.iter_mut() {
            if n == name {
                *v = "other".into();
            }
        }
        h
    };
    for name in ["abc", "ZAbc", "x-oss-head1", "content-type"] {
        let h = changed_header(name);
        assert_eq!(
            verify(
                SK,
                datetime,
                &credentials,
                &request(&query, &h, &additional)
            ),
            Err(AuthError::SignatureMismatch),
            "{name}"
        );
    }
    let mut q = query.clone();
    q[0].1 = "value2".into();
    let cases = [
        request(&q, &headers, &additional),
        Request {
            method: "GET",
            ..base
        },
        Request {
            key: "1234",
            ..base
        },
        Request {
            bucket: Some("other"),
            ..base
        },
        Request {
            bucket: None,
            key: "",
            ..base
        },
    ];
    for case in cases {
        assert_eq!(
            verify(SK, datetime, &credentials, &case),
            Err(AuthError::SignatureMismatch)
        );
    }
}

#[test]
fn authorization_fields_in_any_order_with_spaces() {
    // oss2's AuthV4 writes `Credential=…, Signature=…, AdditionalHeaders=…`.
    let c = parse_authorization(
        "OSS4-HMAC-SHA256 Credential=LTAI/20231216/cn-hangzhou/oss/aliyun_v4_request, \
         Signature=00ff, AdditionalHeaders=Host;ZAbc",
    )
    .unwrap();
    assert_eq!(c.access_key_id, "LTAI");
    assert_eq!(c.scope, scope("20231216", "cn-hangzhou", "oss"));
    assert_eq!(c.additional_headers, names(&["host", "zabc"]));
    assert_eq!(c.signature, "00ff");
    // Unknown fields are not signed, so they are ignored.
    assert!(
        parse_authorization(
            "OSS4-HMAC-SHA256 Credential=a/20231216/r/oss/aliyun_v4_request,Foo=bar,Signature=1"
        )
        .is_ok()
    );
}

#[test]
fn malformed_authorizations() {
    for value in [
        "OSS4-HMAC-SHA256",
        "OSS4-HMAC-SHA256Credential=a/20231216/r/oss/aliyun_v4_request,Signature=1",
        "OSS4-HMAC-SHA256 Signature=1",
        "OSS4-HMAC-SHA256 Credential=a/20231216/r/oss/aliyun_v4_request",
        "OSS4-HMAC-SHA256 Credential=a/20231216/r/oss/aliyun_v4_request,Signature=",
        "OSS4-HMAC-SHA256 Credential=a/20231216/r/oss/aliyun_v4_request,Signature=1,Signature=2",
        "OSS4-HMAC-SHA256 Credential=a/20231216/r/oss/aliyun_v4_request,Signature",
        "OSS ak:sig",
    ] {
        assert!(
            matches!(
                parse_authorization(value),
                Err(AuthError::MalformedAuthorization(_))
            ),
            "{value}"
        );
    }
    for credential in [
        "a/20231216/r/oss/aws4_request",
        "a/2023121/r/oss/aliyun_v4_request",
        "a/2023121x/r/oss/aliyun_v4_request",
        "/20231216/r/oss/aliyun_v4_request",
        "a/20231216/r//aliyun_v4_request",
        "20231216/r/oss/aliyun_v4_request",
    ] {
        let value = format!("OSS4-HMAC-SHA256 Credential={credential},Signature=1");
        assert_eq!(
            parse_authorization(&value),
            Err(AuthError::MalformedCredential),
            "{credential}"
        );
    }
}

#[test]
fn request_time_and_payload_rules() {
    let datetime = "20231216T162057Z";
    let headers = header_case(datetime, &[]);
    let query = sdk_query();
    let req = request(&query, &headers, &[]);
    let s = scope("20231216", "cn-hangzhou", PRODUCT);
    let value = authorization(AK, SK, datetime, &s, &req);
    let credentials = parse_authorization(&value).unwrap();
    for bad in [
        "20231216T1620Z",
        "2023-12-16T16:20:57Z",
        "20231216 162057Z",
        "",
    ] {
        assert_eq!(
            verify(SK, bad, &credentials, &req),
            Err(AuthError::MalformedDate),
            "{bad}"
        );
    }
    assert_eq!(
        verify(SK, "20231217T000000Z", &credentials, &req),
        Err(AuthError::DateOutsideScope)
    );
    // OSS never signs bodies.
    let mut signed_body = headers.clone();
    for (n, v) in signed_body.iter_mut() {
        if n == "x-oss-content-sha256" {
            *v = sha256_hex(b"");
        }
    }
    assert_eq!(
        verify(
            SK,
            datetime,
            &credentials,
            &request(&query, &signed_body, &[])
        ),
        Err(AuthError::SignedPayload)
    );
}

#[test]
fn signed_url_parameters() {
    let good = pairs(&[
        ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        (
            "x-oss-credential",
            "ak/20231217/cn-hangzhou/oss/aliyun_v4_request",
        ),
        ("x-oss-date", "20231217T025437Z"),
        ("x-oss-expires", "599"),
        ("x-oss-signature", "00"),
    ]);
    assert!(is_signed_url(&good));
    assert!(!is_signed_url(&pairs(&[
        ("x-oss-date", "x"),
        ("OSSAccessKeyId", "a")
    ])));
    let parsed = parse_signed_url(&good).unwrap();
    assert_eq!(parsed.expires_secs, 599);
    assert!(parsed.credentials.additional_headers.is_empty());

    let with = |name: &str, value: &str| {
        let mut q = good.clone();
        for (n, v) in q.iter_mut() {
            if n == name {
                *v = value.into();
            }
        }
        q
    };
    let without = |name: &str| {
        let mut q = good.clone();
        q.retain(|(n, _)| n != name);
        q
    };
    assert_eq!(
        parse_signed_url(&with("x-oss-signature-version", "OSS2")),
        Err(AuthError::UnsupportedVersion("OSS2".into()))
    );
    assert_eq!(
        parse_signed_url(&with("x-oss-expires", "-1")),
        Err(AuthError::MalformedExpires)
    );
    assert_eq!(
        parse_signed_url(&with("x-oss-expires", "604800")).map(|u| u.expires_secs),
        Ok(MAX_EXPIRES_SECS)
    );
    for too_long in ["604801", "99999999999999999999999"] {
        assert_eq!(
            parse_signed_url(&with("x-oss-expires", too_long)),
            Err(AuthError::ExpiresTooLong)
        );
    }
    assert_eq!(
        parse_signed_url(&with("x-oss-credential", "ak/20231217/r/oss")),
        Err(AuthError::MalformedCredential)
    );
    for name in [
        SIGNATURE_VERSION_PARAM,
        CREDENTIAL_PARAM,
        DATE_PARAM,
        EXPIRES_PARAM,
        SIGNATURE_PARAM,
    ] {
        assert_eq!(
            parse_signed_url(&without(name)),
            Err(AuthError::MissingParameter(name))
        );
    }
    // The first of a repeated parameter is the one read.
    let mut repeated = good.clone();
    repeated.push(("x-oss-expires".into(), "604800".into()));
    assert_eq!(parse_signed_url(&repeated).unwrap().expires_secs, 599);
}

#[test]
fn canonical_parts() {
    assert_eq!(canonical_uri(None, ""), "/");
    assert_eq!(canonical_uri(Some("b"), ""), "/b/");
    assert_eq!(
        canonical_uri(Some("b"), "a b/ü~+.jpg"),
        "/b/a%20b/%C3%BC~%2B.jpg"
    );
    assert_eq!(
        canonical_query(&pairs(&[
            ("x-oss-process", "image/resize,w_100"),
            ("acl", ""),
            ("x-oss-signature", "dropped"),
        ])),
        "acl&x-oss-process=image%2Fresize%2Cw_100"
    );
    // Repeated headers join in the order they came; values are trimmed.
    assert_eq!(
        canonical_headers(
            &pairs(&[
                ("X-Oss-Meta-A", " 1 "),
                ("Host", "h"),
                ("x-oss-meta-a", "2"),
                ("Content-MD5", "m"),
            ]),
            &names(&["host"])
        ),
        "content-md5:m\nhost:h\nx-oss-meta-a:1,2\n"
    );
}
