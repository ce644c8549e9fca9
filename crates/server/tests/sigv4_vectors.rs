//! AWS's published S3 SigV4 example (compat.md §5) through imgd's own S3 service: the
//! credentials lookup and canonicalisation must accept AWS's signature byte for byte,
//! and refuse it after any change.

use http::Request;
use server::ServerConfig;
use std::time::Duration;
use store::{BlobBackend, Store};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SIGNATURE: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

async fn service(dir: &std::path::Path) -> s3s::service::S3Service {
    let store = Store::open(
        &dir.join("imgd.db"),
        &BlobBackend::Fs {
            root: dir.to_path_buf(),
        },
        true,
    )
    .await
    .unwrap();
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        region: "us-east-1".into(),
        root_access_key: "AKIAIOSFODNN7EXAMPLE".into(),
        root_secret_key: SECRET.into(),
        domain: Some("s3.amazonaws.com".into()),
        max_connections: 1,
        header_read_timeout: Duration::from_secs(1),
        max_header_bytes: 8192,
        shutdown_grace: Duration::from_secs(1),
        process_limits: Default::default(),
        delivery: Default::default(),
        admin_token: None,
        fetch: Default::default(),
        variant_cache: None,
        imageproxy: None,
        cloudflare: None,
        clock: Default::default(),
    };
    // The vector is dated 2013: widen the skew window so only the signature is judged.
    let mut s3_config = s3s::config::S3Config::default();
    s3_config.presigned_url_max_skew_time_secs = u32::MAX;
    let images = server::images::ImageService::new(store.clone(), Default::default());
    server::s3::s3_service(store, images, &cfg, Some(s3_config)).unwrap()
}

fn aws_example(signature: &str, range: &str) -> Request<s3s::Body> {
    Request::builder()
        .method("GET")
        .uri("/test.txt")
        .header("host", "examplebucket.s3.amazonaws.com")
        .header("range", range)
        .header(
            "x-amz-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .header("x-amz-date", "20130524T000000Z")
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
                 SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={signature}"
            ),
        )
        .body(s3s::Body::empty())
        .unwrap()
}

async fn error_code(resp: http::Response<s3s::Body>) -> (u16, String) {
    use http_body_util::BodyExt;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or("")
        .to_owned();
    (status, code)
}

#[tokio::test]
async fn aws_get_object_example_signature_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let resp = svc.call(aws_example(SIGNATURE, "bytes=0-9")).await.unwrap();
    // The signature holds; the example bucket simply does not exist here.
    assert_eq!(error_code(resp).await, (404, "NoSuchBucket".to_owned()));
}

#[tokio::test]
async fn changed_signature_or_signed_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let mut flipped = SIGNATURE.to_owned();
    flipped.replace_range(0..1, "e");
    let resp = svc.call(aws_example(&flipped, "bytes=0-9")).await.unwrap();
    assert_eq!(
        error_code(resp).await,
        (403, "SignatureDoesNotMatch".to_owned())
    );
    let resp = svc
        .call(aws_example(SIGNATURE, "bytes=0-10"))
        .await
        .unwrap();
    assert_eq!(
        error_code(resp).await,
        (403, "SignatureDoesNotMatch".to_owned())
    );
}
