use super::*;
use percent_encoding::percent_decode_str;

const ACCESS_KEY_ID: &str = "LTAI5tExampleKeyId";
const SECRET: &str = "ExampleSecretKey123";
const BUCKET: &str = "examplebucket";
const KEY: &str = "exampledir/example.jpg";
const EXPIRES: i64 = 1700003600;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn get<'a>(query: &'a [(String, String)], headers: &'a [(String, String)]) -> Request<'a> {
    Request {
        verb: "GET",
        content_md5: "",
        content_type: "",
        headers,
        bucket: Some(BUCKET),
        key: KEY,
        query,
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

/// compat.md §4, all three rows.
#[test]
fn compat_vectors() {
    let rows = [
        (Some("image/resize,w_100"), "p9DYeMbVzD9AoPPysSmtLI4MhK0="),
        (Some("style/thumb"), "kteJ6jalVi7Ja9eDRG1+USTsMt0="),
        (None, "QNiTs0Mr/3yyqqbgc3OxcRpH5o0="),
    ];
    for (process, expected) in rows {
        let query = match process {
            Some(process) => pairs(&[("x-oss-process", process)]),
            None => Vec::new(),
        };
        let request = get(&query, &[]);
        let sts = string_to_sign(&request, "1700003600");
        let resource = match process {
            Some(process) => format!("/{BUCKET}/{KEY}?x-oss-process={process}"),
            None => format!("/{BUCKET}/{KEY}"),
        };
        assert_eq!(sts, format!("GET\n\n\n1700003600\n{resource}"));
        assert_eq!(signature(SECRET, &sts), expected);

        let url_query = presign(ACCESS_KEY_ID, SECRET, &request, EXPIRES);
        let received = decode_query(&url_query);
        let credentials = parse_signed_url(&received).unwrap();
        assert_eq!(credentials.signature, expected);
        assert_eq!(credentials.expires_at, EXPIRES);
        assert_eq!(credentials.access_key_id, ACCESS_KEY_ID);
        let received_request = get(&received, &[]);
        assert_eq!(
            verify_signed_url(SECRET, &received_request, &credentials, EXPIRES),
            Ok(())
        );
    }
}

#[test]
fn presigned_query_carries_encoded_values() {
    let query = pairs(&[("x-oss-process", "image/resize,w_100")]);
    assert_eq!(
        presign(ACCESS_KEY_ID, SECRET, &get(&query, &[]), EXPIRES),
        "x-oss-process=image%2Fresize%2Cw_100&OSSAccessKeyId=LTAI5tExampleKeyId\
         &Expires=1700003600&Signature=p9DYeMbVzD9AoPPysSmtLI4MhK0%3D"
    );
    let stale = pairs(&[("Signature", "old"), ("Expires", "1")]);
    assert_eq!(
        presign(ACCESS_KEY_ID, SECRET, &get(&stale, &[]), EXPIRES),
        "OSSAccessKeyId=LTAI5tExampleKeyId&Expires=1700003600\
         &Signature=QNiTs0Mr%2F3yyqqbgc3OxcRpH5o0%3D"
    );
}

fn vector_url_query() -> Vec<(String, String)> {
    pairs(&[
        ("x-oss-process", "image/resize,w_100"),
        ("OSSAccessKeyId", ACCESS_KEY_ID),
        ("Expires", "1700003600"),
        ("Signature", "p9DYeMbVzD9AoPPysSmtLI4MhK0="),
    ])
}

#[test]
fn expiry_is_checked_before_signature() {
    let mut query = vector_url_query();
    query[3].1 = "forged".to_owned();
    let credentials = parse_signed_url(&query).unwrap();
    let request = get(&query, &[]);
    assert_eq!(
        verify_signed_url(SECRET, &request, &credentials, EXPIRES + 1),
        Err(AuthError::Expired {
            expired_at: EXPIRES
        })
    );
    assert_eq!(
        verify_signed_url(SECRET, &request, &credentials, EXPIRES),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn first_occurrence_of_an_auth_parameter_wins() {
    let mut appended = vector_url_query();
    appended.extend(pairs(&[("Signature", "forged"), ("Expires", "9999999999")]));
    let credentials = parse_signed_url(&appended).unwrap();
    assert_eq!(credentials.expires_at, EXPIRES);
    assert_eq!(
        verify_signed_url(SECRET, &get(&appended, &[]), &credentials, 0),
        Ok(())
    );

    let mut prepended = pairs(&[("Expires", "9999999999")]);
    prepended.extend(vector_url_query());
    let credentials = parse_signed_url(&prepended).unwrap();
    assert_eq!(credentials.expires_at, 9999999999);
    assert_eq!(
        verify_signed_url(SECRET, &get(&prepended, &[]), &credentials, 0),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn signed_url_covers_sub_resources_not_other_params() {
    let query = vector_url_query();
    let credentials = parse_signed_url(&query).unwrap();
    let mut with_tracking = query.clone();
    with_tracking.push(("utm_source".to_owned(), "mail".to_owned()));
    assert_eq!(
        verify_signed_url(SECRET, &get(&with_tracking, &[]), &credentials, 0),
        Ok(())
    );

    let mut other_process = query.clone();
    other_process[0].1 = "image/resize,w_2000".to_owned();
    assert_eq!(
        verify_signed_url(SECRET, &get(&other_process, &[]), &credentials, 0),
        Err(AuthError::SignatureMismatch)
    );
    let other_key = Request {
        key: "exampledir/other.jpg",
        ..get(&query, &[])
    };
    assert_eq!(
        verify_signed_url(SECRET, &other_key, &credentials, 0),
        Err(AuthError::SignatureMismatch)
    );
    assert_eq!(
        verify_signed_url("wrong", &get(&query, &[]), &credentials, 0),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn signed_url_parameter_errors() {
    let without = |name: &str| -> Vec<(String, String)> {
        vector_url_query()
            .into_iter()
            .filter(|(n, _)| n != name)
            .collect()
    };
    for name in [ACCESS_KEY_ID_PARAM, EXPIRES_PARAM, SIGNATURE_PARAM] {
        let missing = parse_signed_url(&without(name));
        let Err(AuthError::MissingParameter(reported)) = missing else {
            panic!("{name}: {missing:?}");
        };
        assert_eq!(reported, name);
    }
    for bad in ["-1", "+5", "soon", "99999999999999999999"] {
        let mut query = vector_url_query();
        query[2].1 = bad.to_owned();
        assert_eq!(
            parse_signed_url(&query),
            Err(AuthError::MalformedExpires),
            "{bad}"
        );
    }
}

#[test]
fn resource_sorts_sub_resources_and_writes_empty_ones_bare() {
    let query = pairs(&[
        ("uploadId", "abc"),
        ("partNumber", "2"),
        ("acl", ""),
        ("max-keys", "10"),
        ("response-content-type", "image/png"),
    ]);
    assert_eq!(
        canonicalized_resource(Some("b"), "dir/ü ñ.jpg", &query),
        "/b/dir/ü ñ.jpg?acl&partNumber=2&response-content-type=image/png&uploadId=abc"
    );
    assert_eq!(canonicalized_resource(Some("b"), "", &[]), "/b/");
    assert_eq!(
        canonicalized_resource(None, "", &pairs(&[("cname", "")])),
        "/?cname"
    );
    // oss2 2.19 signs ListObjectsV2's continuation-token (empty on the first page), not
    // its other parameters.
    let v2 = pairs(&[
        ("list-type", "2"),
        ("continuation-token", ""),
        ("start-after", "a"),
        ("max-keys", "10"),
    ]);
    assert_eq!(
        canonicalized_resource(Some("b"), "", &v2),
        "/b/?continuation-token"
    );
}

#[test]
fn oss_headers_are_lowercased_sorted_and_others_ignored() {
    let headers = pairs(&[
        ("X-OSS-Meta-Zeta", "z"),
        ("Content-Length", "3"),
        ("x-oss-date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("X-Oss-Meta-Alpha", "a b"),
        ("x-amz-meta-other", "o"),
    ]);
    assert_eq!(
        canonicalized_oss_headers(&headers),
        "x-oss-date:Tue, 14 Nov 2023 22:13:20 GMT\nx-oss-meta-alpha:a b\nx-oss-meta-zeta:z\n"
    );
    assert_eq!(canonicalized_oss_headers(&[]), "");
}

#[test]
fn header_auth_round_trip() {
    let headers = pairs(&[("x-oss-meta-author", "me")]);
    let request = Request {
        verb: "PUT",
        content_md5: "eB5eJF1ptWaXm4bijSPyxw==",
        content_type: "image/jpeg",
        ..get(&[], &headers)
    };
    let date = "Tue, 14 Nov 2023 22:13:20 GMT";
    assert_eq!(
        string_to_sign(&request, date),
        "PUT\neB5eJF1ptWaXm4bijSPyxw==\nimage/jpeg\nTue, 14 Nov 2023 22:13:20 GMT\n\
         x-oss-meta-author:me\n/examplebucket/exampledir/example.jpg"
    );
    let header = authorization(ACCESS_KEY_ID, SECRET, &request, date);
    let credentials = parse_authorization(&header).unwrap();
    assert_eq!(credentials.access_key_id, ACCESS_KEY_ID);
    assert_eq!(verify_header(SECRET, &request, date, &credentials), Ok(()));
    assert_eq!(
        verify_header(
            SECRET,
            &request,
            "Wed, 15 Nov 2023 22:13:20 GMT",
            &credentials
        ),
        Err(AuthError::SignatureMismatch)
    );
    let other_type = Request {
        content_type: "image/png",
        ..request
    };
    assert_eq!(
        verify_header(SECRET, &other_type, date, &credentials),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn authorization_header_parsing() {
    assert_eq!(
        parse_authorization("OSS LTAI5tExampleKeyId:p9DYeMbVzD9AoPPysSmtLI4MhK0="),
        Ok(HeaderCredentials {
            access_key_id: ACCESS_KEY_ID,
            signature: "p9DYeMbVzD9AoPPysSmtLI4MhK0=",
        })
    );
    for bad in [
        "",
        "OSS",
        "OSS ",
        "OSS ak",
        "OSS :sig",
        "OSS ak:",
        "AWS ak:sig",
        "OSSak:sig",
    ] {
        assert_eq!(
            parse_authorization(bad),
            Err(AuthError::MalformedAuthorization),
            "{bad:?}"
        );
    }
}

/// Non-ASCII header values, signed by `oss2` 2.19.1 itself (`Auth._sign_request` with
/// its date fixed): a `str` is sent as ISO-8859-1 but signed as UTF-8, UTF-8 `bytes`
/// are sent and signed as they are. Reading the wire bytes with [`header_text`] gives
/// back what oss2 signed in both cases.
#[test]
fn oss2_non_ascii_header_vectors() {
    let date = "Tue, 14 Nov 2023 22:13:20 GMT";
    let cases: [(&[u8], &str, &str); 2] = [
        (
            b"caf\xe9 \xfc",
            "caf\u{e9} \u{fc}",
            "ljgW+1cyUfO/UGi9g7BrNSWrUcA=",
        ),
        (
            "\u{4e2d}\u{6587} \u{fc}".as_bytes(),
            "\u{4e2d}\u{6587} \u{fc}",
            "nv8YfoKZSV+TuvanDIW0iIecYtM=",
        ),
    ];
    for (wire, text, expected) in cases {
        assert_eq!(header_text(wire), text);
        let headers = vec![("x-oss-meta-name".to_owned(), header_text(wire).into_owned())];
        let request = Request {
            verb: "PUT",
            content_md5: "",
            content_type: "text/plain",
            headers: &headers,
            bucket: Some(BUCKET),
            key: "exampledir/\u{4e2d}.txt",
            query: &[],
        };
        assert_eq!(
            string_to_sign(&request, date),
            format!(
                "PUT\n\ntext/plain\n{date}\nx-oss-meta-name:{text}\n/{BUCKET}/exampledir/\u{4e2d}.txt"
            )
        );
        assert_eq!(
            authorization(ACCESS_KEY_ID, SECRET, &request, date),
            format!("OSS {ACCESS_KEY_ID}:{expected}")
        );
    }
    // ASCII and valid UTF-8 are borrowed as they are.
    assert!(matches!(header_text(b"plain"), Cow::Borrowed("plain")));
    assert_eq!(header_text(b"\xff\x00"), "\u{ff}\u{0}");
}
