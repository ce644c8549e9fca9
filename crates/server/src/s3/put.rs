//! PutObject.

use super::{
    HeaderFields, ImgdS3, S3Res, SuppliedChecksums, decode_content_md5, etag, object_headers, ok,
    s3_err, verify_body,
};
use bytes::Bytes;
use futures::Stream;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use store::PutOptions;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body as a stream; an absent body is an empty one.
pub(crate) fn body_stream(
    body: Option<StreamingBlob>,
) -> impl Stream<Item = Result<Bytes, BoxError>> + Unpin {
    match body {
        Some(b) => futures::future::Either::Left(b),
        None => futures::future::Either::Right(futures::stream::empty()),
    }
}

/// `If-None-Match` on a write: S3 accepts only `*`.
pub(crate) fn write_if_none_match(c: Option<&ETagCondition>) -> s3s::S3Result<bool> {
    match c {
        None => Ok(false),
        Some(ETagCondition::Any) => Ok(true),
        Some(ETagCondition::ETag(_)) => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "If-None-Match on a write accepts only *",
        )),
    }
}

pub(crate) fn write_if_match(c: Option<&ETagCondition>) -> Option<String> {
    c.map(|c| match c {
        ETagCondition::Any => "*".to_owned(),
        ETagCondition::ETag(e) => e.value().to_owned(),
    })
}

impl ImgdS3 {
    pub(crate) async fn do_put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Res<PutObjectOutput> {
        let body = req.input.body.take();
        let input = &req.input;
        let supplied = SuppliedChecksums::new(
            input.checksum_algorithm.as_ref(),
            input.checksum_crc32.as_ref(),
            input.checksum_crc32c.as_ref(),
            input.checksum_crc64nvme.as_ref(),
            input.checksum_sha1.as_ref(),
            input.checksum_sha256.as_ref(),
        )?
        .with_trailer_declaration(&req);
        let content_md5 = decode_content_md5(input.content_md5.as_ref())?;
        let opts = PutOptions {
            headers: object_headers(HeaderFields {
                content_type: input.content_type.as_ref(),
                cache_control: input.cache_control.as_ref(),
                content_disposition: input.content_disposition.as_ref(),
                content_encoding: input.content_encoding.as_ref(),
                content_language: input.content_language.as_ref(),
                expires: input.expires.as_ref(),
                metadata: input.metadata.as_ref(),
            }),
            checksum_algorithms: supplied.declared.clone(),
            expected_len: input.content_length.and_then(|n| u64::try_from(n).ok()),
            if_none_match_any: write_if_none_match(input.if_none_match.as_ref())?,
            if_match: write_if_match(input.if_match.as_ref()),
            tags: super::tagging::tags_from_header(input.tagging.as_ref())?,
            ..Default::default()
        };
        let trailers = req.trailing_headers.clone();
        let info = self
            .store
            .put_object(&input.bucket, &input.key, opts, body_stream(body), |d| {
                verify_body(
                    d,
                    content_md5.as_deref(),
                    &supplied.values,
                    trailers.as_ref(),
                )
            })
            .await
            .map_err(s3_err)?;
        metrics::counter!("imgd_s3_bytes_in_total").increment(info.size);
        let c = super::checksum_fields(&info.checksums);
        ok(PutObjectOutput {
            e_tag: Some(etag(&info.etag)),
            checksum_type: super::checksum_type(&c),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        })
    }
}

/// S3's limit on a single PUT; a spooled body (below) longer than this is refused.
pub(crate) const MAX_SPOOLED_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Whether this request is a PUT whose body s3s 0.14.1 would refuse with
/// `MissingContentLength` before imgd's code runs: no `Content-Length` (the client sent
/// `Transfer-Encoding: chunked`) and a payload that is either `UNSIGNED-PAYLOAD` or a
/// signed SHA-256. s3s needs the length up front for both (its hash check counts down
/// from it). aws-chunked uploads (`STREAMING-*`) carry `x-amz-decoded-content-length`
/// and are left to s3s.
pub(crate) fn needs_spool<B>(req: &http::Request<B>) -> bool {
    let h = req.headers();
    let chunked = h
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let payload = h
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let plain_payload = payload == "UNSIGNED-PAYLOAD"
        || (payload.len() == 64 && payload.bytes().all(|b| b.is_ascii_hexdigit()));
    req.method() == http::Method::PUT
        && chunked
        && !h.contains_key(http::header::CONTENT_LENGTH)
        && !h.contains_key("x-amz-decoded-content-length")
        && plain_payload
}

/// The fix for [`needs_spool`] requests: the body is written to an unlinked temporary
/// file (memory stays bounded, as for every body), then handed to s3s from that file with
/// the `Content-Length` it turned out to have. `Content-Length` is not among the signed
/// headers of such a request (it had none), so adding it leaves the signature valid; the
/// payload hash, when signed, is still checked by s3s as the file streams back.
pub(crate) async fn spool_body(
    req: http::Request<s3s::Body>,
) -> Result<http::Request<s3s::Body>, crate::kernel::ApiError> {
    use crate::kernel::ApiError;
    use futures::StreamExt;
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let (mut parts, mut body) = req.into_parts();
    let path = std::env::temp_dir().join(format!("imgd-spool-{}", uuid::Uuid::new_v4().simple()));
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .await;
    // Unlinked at once: the open handle is all that needs it, and a crash leaves nothing.
    let _ = tokio::fs::remove_file(&path).await;
    let mut file = file.map_err(|e| {
        tracing::error!(error = %e, path = %path.display(), "cannot create a spool file");
        ApiError::internal()
    })?;
    let mut len: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                http::StatusCode::BAD_REQUEST,
                "IncompleteBody",
                format!("The request body could not be read: {e}"),
            )
        })?;
        len += chunk.len() as u64;
        if len > MAX_SPOOLED_BYTES {
            return Err(ApiError::new(
                http::StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size of 5 GiB.",
            ));
        }
        file.write_all(&chunk).await.map_err(|e| {
            tracing::error!(error = %e, "cannot write a spool file");
            ApiError::internal()
        })?;
    }
    file.flush().await.map_err(|_| ApiError::internal())?;
    file.rewind().await.map_err(|_| ApiError::internal())?;
    parts
        .headers
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    let stream: s3s::stream::DynByteStream = Box::pin(SpoolStream {
        file,
        remaining: len,
        buf: vec![0; 64 * 1024],
    });
    Ok(http::Request::from_parts(parts, s3s::Body::from(stream)))
}

/// A spooled body read back in 64 KiB chunks, with its exact length known to s3s.
struct SpoolStream {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

impl Stream for SpoolStream {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = this
            .buf
            .len()
            .min(usize::try_from(this.remaining).unwrap_or(usize::MAX));
        let mut rb = tokio::io::ReadBuf::new(&mut this.buf[..want]);
        match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut this.file), cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                Poll::Ready(Some(Err("the spooled body ended early".into())))
            }
            Poll::Ready(Ok(())) => {
                let chunk = Bytes::copy_from_slice(rb.filled());
                this.remaining -= chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

impl s3s::stream::ByteStream for SpoolStream {
    fn remaining_length(&self) -> s3s::stream::RemainingLength {
        s3s::stream::RemainingLength::new_exact(
            usize::try_from(self.remaining).unwrap_or(usize::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn put(headers: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::put("/bkt/k");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap_or_default()
    }

    #[test]
    fn only_unsized_plain_payload_puts_are_spooled() {
        let te = ("transfer-encoding", "chunked");
        assert!(needs_spool(&put(&[
            te,
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        ])));
        assert!(needs_spool(&put(&[
            te,
            ("x-amz-content-sha256", &"a".repeat(64))
        ])));
        assert!(!needs_spool(&put(&[(
            "x-amz-content-sha256",
            "UNSIGNED-PAYLOAD"
        )])));
        assert!(!needs_spool(&put(&[
            te,
            ("content-length", "3"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        ])));
        assert!(!needs_spool(&put(&[
            te,
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("x-amz-decoded-content-length", "3")
        ])));
        assert!(!needs_spool(&put(&[te])));
    }

    /// A header-signed PUT sent with `Transfer-Encoding: chunked` and no length, as
    /// requests or curl send a streamed body, straight to the s3s service.
    fn chunked_put(data: &[u8], payload_hash: &str) -> http::Request<s3s::Body> {
        let amz_date = {
            let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
            time::OffsetDateTime::now_utc()
                .format(&f)
                .unwrap_or_default()
        };
        let headers: Vec<(String, String)> = [
            ("host", "localhost"),
            ("x-amz-content-sha256", payload_hash),
            ("x-amz-date", amz_date.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let scope = signing::sigv4::Scope {
            amz_date: &amz_date,
            region: "us-east-1",
            service: "s3",
        };
        let signed = signing::sigv4::Request {
            method: "PUT",
            path: "/bkt/k",
            query: &[],
            headers: &headers,
            payload_hash,
        };
        let auth = signing::sigv4::authorization("ROOT", "root-secret", &scope, &signed);
        let chunks: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(7000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let body = s3s::Body::http_body(http_body_util::StreamBody::new(
            futures::stream::iter(chunks).map(|c| c.map(hyper::body::Frame::data)),
        ));
        let mut b = http::Request::put("/bkt/k")
            .header("transfer-encoding", "chunked")
            .header("authorization", auth);
        for (k, v) in &headers {
            b = b.header(k, v);
        }
        b.body(body).unwrap_or_default()
    }

    #[tokio::test]
    async fn s3s_refuses_unsized_puts_and_spooling_fixes_them() {
        use http_body_util::BodyExt;
        use sha2::Digest as _;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let backend = store::BlobBackend::Fs {
            root: dir.path().to_path_buf(),
        };
        let store = store::Store::open(&dir.path().join("imgd.db"), &backend, true)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .create_bucket("bkt", store::BucketAcl::Private)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let cfg = crate::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            region: "us-east-1".into(),
            root_access_key: "ROOT".into(),
            root_secret_key: "root-secret".into(),
            domain: None,
            max_connections: 1,
            header_read_timeout: std::time::Duration::from_secs(1),
            max_header_bytes: 8192,
            shutdown_grace: std::time::Duration::from_secs(1),
            process_limits: Default::default(),
            delivery: Default::default(),
            admin_token: None,
            fetch: Default::default(),
            variant_cache: None,
            imageproxy: None,
            cloudflare: None,
            clock: Default::default(),
        };
        let images = crate::images::ImageService::new(store.clone(), Default::default());
        let service = super::super::s3_service(store.clone(), images, &cfg, None)
            .unwrap_or_else(|e| panic!("{e}"));
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let hash = hex::encode(sha2::Sha256::digest(&data));
        for payload in ["UNSIGNED-PAYLOAD", hash.as_str()] {
            let req = chunked_put(&data, payload);
            assert!(needs_spool(&req));
            // What s3s 0.14.1 does with it on its own.
            let resp = service.call(req).await.unwrap_or_else(|e| panic!("{e:?}"));
            let status = resp.status();
            let text = BodyExt::collect(resp.into_body())
                .await
                .map(|b| b.to_bytes());
            assert_eq!(status, http::StatusCode::LENGTH_REQUIRED, "{text:?}");

            let req = spool_body(chunked_put(&data, payload))
                .await
                .unwrap_or_else(|e| panic!("{e:?}"));
            let resp = service.call(req).await.unwrap_or_else(|e| panic!("{e:?}"));
            let status = resp.status();
            let text = BodyExt::collect(resp.into_body())
                .await
                .map(|b| b.to_bytes());
            assert_eq!(status, http::StatusCode::OK, "{text:?}");
            let (_, _, mut stored) = store
                .open_object("bkt", "k", |i| Ok(0..i.size))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut got = Vec::new();
            while let Some(c) = stored.next().await {
                got.extend_from_slice(&c.unwrap_or_default());
            }
            assert!(got == data, "stored {} bytes", got.len());
        }
        // A wrong signed hash is still refused, and nothing is stored.
        let wrong = hex::encode(sha2::Sha256::digest(b"other"));
        let req = spool_body(chunked_put(b"fresh", &wrong))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        store
            .delete_object("bkt", "k")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let resp = service.call(req).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert!(resp.status().is_client_error(), "{}", resp.status());
        assert!(store.object("bkt", "k").await.is_err());
    }

    #[tokio::test]
    async fn a_spooled_body_comes_back_whole_with_its_length() {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            (0..40u8).map(|i| Ok(Bytes::from(vec![i; 5000]))).collect();
        let body = s3s::Body::http_body(http_body_util::StreamBody::new(
            futures::stream::iter(chunks).map(|c| c.map(hyper::body::Frame::data)),
        ));
        let req = http::Request::put("/bkt/k").body(body).unwrap_or_default();
        let Ok(req) = spool_body(req).await else {
            panic!("spooling failed")
        };
        assert_eq!(req.headers()[http::header::CONTENT_LENGTH], "200000");
        let mut got = Vec::new();
        let mut body = req.into_body();
        while let Some(c) = body.next().await {
            got.extend_from_slice(&c.unwrap_or_default());
        }
        let want: Vec<u8> = (0..40u8).flat_map(|i| vec![i; 5000]).collect();
        assert_eq!(got, want);
    }
}
