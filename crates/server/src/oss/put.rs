//! PutObject (the body streams from the connection into the store, never whole in
//! memory) and CopyObject (`PUT` with `x-oss-copy-source`).
//!
//! Besides the quoted upper-case MD5 `ETag`, a PUT answers `x-oss-hash-crc64ecma`, the
//! CRC-64/XZ (ECMA-182) of the received body, which `oss2` compares with its own to
//! catch corruption in transit.

use super::get::oss_etag;
use super::tagging::tags_from_header;
use super::{OssDoor, OssError, OssRequest, from_store_error, invalid_argument};
use crate::auth::oss::iso8601_ms;
use crate::kernel::conditional::{Conditions, Verdict};
use crate::kernel::{BoxBody, full};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::Stream;
use http::{HeaderMap, Response, StatusCode};
use hyper::body::{Body as _, Incoming};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use store::{CopyOverrides, ObjectHeaders, Permission, PutOptions, StoreError};

/// CRC-64/XZ: ECMA-182's polynomial, reflected, with all-ones initial value and final
/// XOR. OSS calls it crc64ecma.
pub(crate) struct Crc64 {
    state: u64,
}

const CRC64_POLY_REFLECTED: u64 = 0xC96C_5795_D787_0F42;

static CRC64_TABLE: std::sync::LazyLock<[u64; 256]> = std::sync::LazyLock::new(|| {
    let mut table = [0u64; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut crc = i as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ CRC64_POLY_REFLECTED
            } else {
                crc >> 1
            };
        }
        *slot = crc;
    }
    table
});

impl Crc64 {
    pub fn new() -> Self {
        Crc64 { state: !0 }
    }

    pub fn update(&mut self, data: &[u8]) {
        let table = &*CRC64_TABLE;
        let mut crc = self.state;
        for &b in data {
            crc = table[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.state = crc;
    }

    pub fn value(&self) -> u64 {
        !self.state
    }
}

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body's data frames as a stream; trailers carry nothing OSS uses.
pub(super) struct BodyFrames(pub Incoming);

impl Stream for BodyFrames {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let frame = match Pin::new(&mut self.0).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                return Poll::Ready(Some(Ok(data)));
            }
        }
    }
}

/// A stream with a running CRC-64 of the bytes that passed through it.
pub(super) struct WithCrc<S> {
    pub inner: S,
    pub crc: Crc64,
}

impl<S> WithCrc<S> {
    pub fn new(inner: S) -> Self {
        WithCrc {
            inner,
            crc: Crc64::new(),
        }
    }
}

impl<S: Stream<Item = Result<Bytes, BoxError>> + Unpin> Stream for WithCrc<S> {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(data))) = &polled {
            let data = data.clone();
            self.crc.update(&data);
        }
        polled
    }
}

/// `Content-Length` as a number; `None` without the header.
pub(super) fn content_length(headers: &HeaderMap) -> Result<Option<u64>, OssError> {
    match headers.get("content-length").and_then(|v| v.to_str().ok()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| invalid_argument("The Content-Length header is not a number.")),
    }
}

/// A header's text, read as its signature covered it ([`signing::oss::header_text`]:
/// UTF-8 when the bytes are, Latin-1 otherwise). Responses write the text as UTF-8, so
/// UTF-8 values come back byte for byte.
pub(super) fn header_text(value: &http::HeaderValue) -> String {
    signing::oss::header_text(value.as_bytes()).into_owned()
}

/// The `Content-MD5` header as 16 bytes; present but malformed is `InvalidDigest`.
pub(super) fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, OssError> {
    let Some(value) = headers.get("content-md5") else {
        return Ok(None);
    };
    let invalid = || {
        OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDigest",
            "The Content-MD5 you specified is not valid.",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?;
    let raw = B64.decode(text.trim()).map_err(|_| invalid())?;
    raw.try_into().map(Some).map_err(|_| invalid())
}

/// The object headers a PUT (or a copy with `x-oss-metadata-directive: REPLACE`) stores:
/// the standard entity headers and `x-oss-meta-*` (names lower-cased, prefix dropped).
pub(super) fn stored_headers(headers: &HeaderMap) -> ObjectHeaders {
    let h = |name: &str| headers.get(name).map(header_text);
    let user: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| {
            let meta = name.as_str().strip_prefix("x-oss-meta-")?;
            Some((meta.to_owned(), header_text(value)))
        })
        .filter(|(name, _)| !name.is_empty())
        .collect();
    ObjectHeaders {
        content_type: h("content-type"),
        cache_control: h("cache-control"),
        content_disposition: h("content-disposition"),
        content_encoding: h("content-encoding"),
        content_language: h("content-language"),
        expires: h("expires"),
        user,
    }
}

pub(super) fn forbid_overwrite(headers: &HeaderMap) -> bool {
    headers
        .get("x-oss-forbid-overwrite")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The verifier of a body against its `Content-MD5` (none: any body).
pub(super) fn md5_verifier(
    md5: Option<[u8; 16]>,
) -> impl FnOnce(&store::BodyDigests) -> Result<(), StoreError> {
    move |digests| match md5 {
        Some(want) if want != digests.md5 => Err(StoreError::BadDigest(
            "The Content-MD5 you specified did not match what we received.".into(),
        )),
        _ => Ok(()),
    }
}

/// The answer of a write that has no document: `200`, no body, no `Content-Type`.
pub(super) fn empty_ok() -> Response<BoxBody> {
    let mut resp = full(StatusCode::OK, "application/octet-stream", "");
    resp.headers_mut().remove(http::header::CONTENT_TYPE);
    resp
}

pub(super) fn put_header(resp: &mut Response<BoxBody>, name: &'static str, value: &str) {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// `x-oss-copy-source: /bucket/key` (the key percent-encoded) as bucket and key.
pub(super) fn copy_source(req: &OssRequest) -> Result<(String, String), OssError> {
    let source = req.header("x-oss-copy-source").unwrap_or("");
    let source = percent_encoding::percent_decode_str(source)
        .decode_utf8()
        .map_err(|_| invalid_argument("x-oss-copy-source is not valid UTF-8."))?;
    source
        .strip_prefix('/')
        .unwrap_or(&source)
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .map(|(b, k)| (b.to_owned(), k.to_owned()))
        .ok_or_else(|| invalid_argument("x-oss-copy-source must be /bucket/key."))
}

/// A copy directive (`x-oss-metadata-directive`, `x-oss-tagging-directive`): `COPY`
/// (the default) keeps the source's, `REPLACE` takes the request's.
fn replace_directive(req: &OssRequest, header: &str) -> Result<bool, OssError> {
    match req.header(header) {
        None => Ok(false),
        Some(d) if d.eq_ignore_ascii_case("COPY") => Ok(false),
        Some(d) if d.eq_ignore_ascii_case("REPLACE") => Ok(true),
        Some(_) => Err(invalid_argument(format!(
            "{header} must be COPY or REPLACE."
        ))),
    }
}

impl OssDoor {
    /// The row at the request's key, `None` when there is none.
    pub(super) async fn current_row(
        &self,
        req: &OssRequest,
    ) -> Result<Option<store::ObjectInfo>, OssError> {
        match self.images.store().object_row(&req.bucket, &req.key).await {
            Ok(info) => Ok(Some(info)),
            Err(StoreError::NoSuchKey) => Ok(None),
            Err(e) => Err(from_store_error(e)),
        }
    }

    /// `x-oss-forbid-overwrite: true` on a write that commits later (a copy, an
    /// upload): `409 FileAlreadyExists` now when the key is taken.
    pub(super) async fn refuse_overwrite_if_forbidden(
        &self,
        req: &OssRequest,
    ) -> Result<(), OssError> {
        if forbid_overwrite(&req.headers) && self.current_row(req).await?.is_some() {
            return Err(from_store_error(StoreError::AlreadyExists));
        }
        Ok(())
    }

    pub(super) async fn put_object(
        &self,
        req: &OssRequest,
        body: Incoming,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        let md5 = content_md5(&req.headers)?;
        let opts = PutOptions {
            headers: stored_headers(&req.headers),
            expected_len: content_length(&req.headers)?,
            if_none_match_any: forbid_overwrite(&req.headers),
            tags: tags_from_header(&req.headers)?.unwrap_or_default(),
            ..Default::default()
        };
        let mut stream = WithCrc::new(BodyFrames(body));
        let info = self
            .images
            .store()
            .put_object(&req.bucket, &req.key, opts, &mut stream, md5_verifier(md5))
            .await
            .map_err(from_store_error)?;
        metrics::counter!("imgd_oss_bytes_in_total").increment(info.size);
        let mut resp = empty_ok();
        put_header(&mut resp, "etag", &oss_etag(&info.etag));
        put_header(
            &mut resp,
            "x-oss-hash-crc64ecma",
            &stream.crc.value().to_string(),
        );
        if let Ok(raw) = hex::decode(&info.etag) {
            put_header(&mut resp, "content-md5", &B64.encode(raw));
        }
        Ok(resp)
    }

    /// `PUT` with `x-oss-copy-source: /bucket/key` (key percent-encoded).
    pub(super) async fn copy_object(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        let (src_bucket, src_key) = copy_source(req)?;
        let (src_bucket, src_key) = (src_bucket.as_str(), src_key.as_str());
        req.require(src_bucket, Permission::Read)?;
        req.require(&req.bucket, Permission::ReadWrite)?;
        let replace_headers = replace_directive(req, "x-oss-metadata-directive")?;
        let replace_tags = replace_directive(req, "x-oss-tagging-directive")?;
        let overrides = CopyOverrides {
            headers: replace_headers.then(|| stored_headers(&req.headers)),
            tags: match replace_tags {
                true => Some(tags_from_header(&req.headers)?.unwrap_or_default()),
                false => None,
            },
        };
        self.refuse_overwrite_if_forbidden(req).await?;
        let conditions = Conditions::with_prefix(&req.headers, "x-oss-copy-source-");
        let info = self
            .images
            .store()
            .copy_object(
                src_bucket,
                src_key,
                &req.bucket,
                &req.key,
                overrides,
                |src| match conditions.evaluate(&src.etag, src.modified_ms) {
                    Verdict::Proceed => Ok(()),
                    // A copy-source condition that fails is a 412, even where a GET
                    // would say 304.
                    Verdict::NotModified | Verdict::PreconditionFailed => {
                        Err(StoreError::PreconditionFailed)
                    }
                },
            )
            .await
            .map_err(from_store_error)?;
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult><ETag>{}</ETag><LastModified>{}</LastModified></CopyObjectResult>",
            crate::kernel::xml::escape(&oss_etag(&info.etag)),
            iso8601_ms(info.modified_ms)
        );
        let mut resp = full(StatusCode::OK, "application/xml", body);
        put_header(&mut resp, "etag", &oss_etag(&info.etag));
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_crc64_xz() {
        let mut c = Crc64::new();
        c.update(b"123456789");
        assert_eq!(c.value(), 0x995D_C9BB_DF19_39FA);
        let mut split = Crc64::new();
        split.update(b"1234");
        split.update(b"56789");
        assert_eq!(split.value(), c.value());
        assert_eq!(Crc64::new().value(), 0);
    }

    #[test]
    fn content_md5_must_be_sixteen_base64_bytes() {
        let mut h = HeaderMap::new();
        assert_eq!(content_md5(&h).unwrap(), None);
        h.insert("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==".parse().unwrap());
        assert_eq!(
            hex::encode(content_md5(&h).unwrap().unwrap()),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        for bad in ["nope!", "AAAA"] {
            h.insert("content-md5", bad.parse().unwrap());
            assert_eq!(content_md5(&h).unwrap_err().code, "InvalidDigest");
        }
    }

    #[test]
    fn non_ascii_metadata_is_kept() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-oss-meta-author",
            http::HeaderValue::from_bytes("中文 ü".as_bytes()).unwrap(),
        );
        h.insert(
            "x-oss-meta-latin",
            http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        let stored = stored_headers(&h);
        assert_eq!(stored.user["author"], "中文 ü");
        assert_eq!(stored.user["latin"], "café");
    }

    #[test]
    fn user_metadata_drops_the_prefix() {
        let mut h = HeaderMap::new();
        h.insert("x-oss-meta-Author", "me".parse().unwrap());
        h.insert("x-oss-forbid-overwrite", "true".parse().unwrap());
        h.insert("content-type", "image/jpeg".parse().unwrap());
        let stored = stored_headers(&h);
        assert_eq!(stored.user.get("author").map(String::as_str), Some("me"));
        assert_eq!(stored.user.len(), 1);
        assert_eq!(stored.content_type.as_deref(), Some("image/jpeg"));
        assert!(forbid_overwrite(&h));
    }
}
