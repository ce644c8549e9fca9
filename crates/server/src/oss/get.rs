//! GetObject (plain, ranged, or rendered for `x-oss-process` or `key!style`) with conditional
//! requests and `response-*` overrides, and what GET and HEAD share: the object's
//! response headers and the caching policy described in the module docs.

use super::{OssDoor, OssError, OssRequest, from_image_error, from_store_error};
use crate::auth::oss::Proof;
use crate::images::Outcome;
use crate::kernel::conditional::{self, Verdict};
use crate::kernel::date::format_http_date as http_date;
use crate::kernel::range;
use crate::kernel::{BoxBody, body, empty_body, stream_body};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use imaging::Pipeline;
use store::{ObjectInfo, Permission, StoreError};

/// Longest `max-age` given to a signed URL's response, whatever its expiry.
const MAX_CACHE_SECS: i64 = 365 * 24 * 3600;

/// The `Cache-Control` (and, for signed URLs, `Expires`) of a response. `own` is the
/// object's stored (or a signed `response-cache-control`) value.
pub(crate) fn cache_headers(proof: Proof, own: Option<&str>, now: i64) -> (String, Option<String>) {
    match proof {
        Proof::Header => (own.unwrap_or("private, no-cache").to_owned(), None),
        Proof::SignedUrl { expires_at } => {
            let expires = Some(http_date(expires_at));
            let own = own.map(str::to_ascii_lowercase);
            let directives: Vec<&str> = own
                .as_deref()
                .map(|o| o.split(',').map(str::trim).collect())
                .unwrap_or_default();
            if directives
                .iter()
                .any(|d| *d == "no-store" || *d == "no-cache")
            {
                return ("private, no-store".to_owned(), expires);
            }
            let mut secs = (expires_at - now).clamp(0, MAX_CACHE_SECS);
            for d in &directives {
                if let Some(v) = d.strip_prefix("max-age=")
                    && let Ok(own_secs) = v.trim_matches('"').parse::<i64>()
                {
                    secs = secs.min(own_secs.max(0));
                }
            }
            (format!("private, max-age={secs}"), expires)
        }
    }
}

/// OSS writes MD5 ETags in upper-case hex (`"5B3C…"`, `"5B3C…-3"` for multipart).
pub(crate) fn oss_etag(stored: &str) -> String {
    format!("\"{}\"", stored.to_ascii_uppercase())
}

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeChoice {
    Whole,
    Part(std::ops::Range<u64>),
    Unsatisfiable,
}

/// As OSS does, a header the range parser cannot read (malformed, several ranges)
/// means the whole object, and so does an unsatisfiable range unless the client asked
/// for standard behaviour (`x-oss-range-behavior: standard`: 416).
fn pick_range(header: Option<&str>, size: u64, standard: bool) -> RangeChoice {
    let Some(wanted) = header.and_then(range::parse) else {
        return RangeChoice::Whole;
    };
    match wanted.resolve(size) {
        Ok(r) => RangeChoice::Part(r),
        Err(_) if standard => RangeChoice::Unsatisfiable,
        Err(_) => RangeChoice::Whole,
    }
}

pub(super) fn put_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

impl OssRequest {
    /// A signed `response-*` override, applied to GET responses.
    fn override_of(&self, header: &str) -> Option<&str> {
        if self.method != http::Method::GET {
            return None;
        }
        self.param(&format!("response-{header}"))
    }

    /// Cache-Control/Expires under this request's proof.
    pub(super) fn set_cache_headers(&self, headers: &mut HeaderMap, own: Option<&str>) {
        let own = self.override_of("cache-control").or(own);
        let (cache_control, expires) = cache_headers(self.proof, own, self.now);
        put_header(headers, "cache-control", &cache_control);
        if let Some(e) = expires {
            put_header(headers, "expires", &e);
        }
    }
}

/// The headers describing a stored object, as GET and HEAD send them.
pub(super) fn object_headers(req: &OssRequest, info: &ObjectInfo) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let h = &info.headers;
    let content_type = req
        .override_of("content-type")
        .or(h.content_type.as_deref())
        .unwrap_or("application/octet-stream");
    put_header(&mut headers, "content-type", content_type);
    put_header(&mut headers, "etag", &oss_etag(&info.etag));
    put_header(
        &mut headers,
        "last-modified",
        &http_date(info.modified_ms.div_euclid(1000)),
    );
    put_header(&mut headers, "accept-ranges", "bytes");
    let object_type = if info.parts_count.is_some() {
        "Multipart"
    } else {
        "Normal"
    };
    put_header(&mut headers, "x-oss-object-type", object_type);
    put_header(&mut headers, "x-oss-storage-class", "Standard");
    for (name, stored) in [
        ("content-disposition", &h.content_disposition),
        ("content-encoding", &h.content_encoding),
        ("content-language", &h.content_language),
        ("expires", &h.expires),
    ] {
        if let Some(v) = req.override_of(name).or(stored.as_deref()) {
            put_header(&mut headers, name, v);
        }
    }
    for (name, value) in &h.user {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(format!("x-oss-meta-{name}").as_bytes()),
            // UTF-8 bytes, as OSS answers non-ASCII metadata.
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.insert(n, v);
        }
    }
    req.set_cache_headers(&mut headers, h.cache_control.as_deref());
    headers
}

pub(super) fn respond(status: StatusCode, headers: HeaderMap, body: BoxBody) -> Response<BoxBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

pub(super) fn not_modified(mut headers: HeaderMap) -> Response<BoxBody> {
    // A 304 carries validators and caching headers, never a body or its length.
    headers.remove(http::header::CONTENT_LENGTH);
    headers.remove(http::header::CONTENT_TYPE);
    respond(StatusCode::NOT_MODIFIED, headers, empty_body())
}

impl OssDoor {
    pub(super) async fn get_object(&self, req: &OssRequest) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        if let Some((key, pipeline)) = self.rendered_target(req).await? {
            return self.processed(req, &key, &pipeline, false).await;
        }
        let standard = req
            .header("x-oss-range-behavior")
            .is_some_and(|v| v.eq_ignore_ascii_case("standard"));
        let range_header = req.header("range");
        // Conditions and the range need the object's row, which the store reads inside
        // `open_object`; a refusal is carried out of the closure.
        let mut refusal: Option<Result<Verdict, u64>> = None;
        let mut choice = RangeChoice::Whole;
        let opened = self
            .images
            .store()
            .open_object(&req.bucket, &req.key, |info| {
                let verdict = conditional::evaluate(&req.headers, &info.etag, info.modified_ms);
                if verdict != Verdict::Proceed {
                    refusal = Some(Ok(verdict));
                    return Err(StoreError::PreconditionFailed);
                }
                choice = pick_range(range_header, info.size, standard);
                match &choice {
                    RangeChoice::Whole => Ok(0..info.size),
                    RangeChoice::Part(r) => Ok(r.clone()),
                    RangeChoice::Unsatisfiable => {
                        refusal = Some(Err(info.size));
                        Err(StoreError::PreconditionFailed)
                    }
                }
            })
            .await;
        let (info, range, stream) = match (opened, refusal) {
            (Ok(v), _) => v,
            (Err(_), Some(Ok(Verdict::PreconditionFailed | Verdict::Proceed))) => {
                return Err(super::errors::precondition_failed());
            }
            (Err(_), Some(Ok(Verdict::NotModified))) => {
                let info = self
                    .images
                    .store()
                    .object(&req.bucket, &req.key)
                    .await
                    .map_err(from_store_error)?;
                return Ok(not_modified(object_headers(req, &info)));
            }
            (Err(_), Some(Err(size))) => {
                return Err(OssError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range cannot be satisfied.",
                )
                .with_detail("ActualObjectSize", size.to_string()));
            }
            (Err(e), None) => return Err(from_store_error(e)),
        };
        let mut headers = object_headers(req, &info);
        let len = range.end - range.start;
        put_header(&mut headers, "content-length", &len.to_string());
        let status = if matches!(choice, RangeChoice::Part(_)) {
            put_header(
                &mut headers,
                "content-range",
                &range::content_range(&range, info.size),
            );
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        };
        metrics::counter!("imgd_oss_bytes_out_total").increment(len);
        let body = stream_body(stream, false);
        Ok(respond(status, headers, body))
    }

    /// What a GET or HEAD resolves to (`x-oss-process`, or a `key!style` suffix; the
    /// resolution the S3 and delivery doors share): `Some` for a rendered read.
    pub(super) async fn rendered_target(
        &self,
        req: &OssRequest,
    ) -> Result<Option<(String, Pipeline)>, OssError> {
        let target = self
            .images
            .target(&req.bucket, &req.key, req.param("x-oss-process"))
            .await
            .map_err(from_image_error)?;
        Ok(target.pipeline.map(|p| (target.key, p)))
    }

    /// GET or HEAD of `key` rendered through `pipeline`, as the S3 door's processed reads.
    pub(super) async fn processed(
        &self,
        req: &OssRequest,
        key: &str,
        pipeline: &Pipeline,
        head: bool,
    ) -> Result<Response<BoxBody>, OssError> {
        let accept = req.header("accept");
        let inm = conditional::if_none_match(&req.headers);
        let outcome = self
            .images
            .render(&req.bucket, key, pipeline, accept, inm)
            .await
            .map_err(from_image_error)?;
        let mut headers = HeaderMap::new();
        let (etag, source, vary_accept) = match &outcome {
            Outcome::NotModified {
                etag,
                source,
                vary_accept,
            } => (etag, source, *vary_accept),
            Outcome::Rendered(v) => (&v.etag, &v.source, v.vary_accept),
        };
        put_header(&mut headers, "etag", &format!("\"{etag}\""));
        put_header(
            &mut headers,
            "last-modified",
            &http_date(source.modified_ms.div_euclid(1000)),
        );
        if vary_accept {
            put_header(&mut headers, "vary", "Accept");
        }
        req.set_cache_headers(&mut headers, source.cache_control.as_deref());
        let variant = match outcome {
            Outcome::NotModified { .. } => return Ok(not_modified(headers)),
            Outcome::Rendered(v) => v,
        };
        let content_type = req
            .override_of("content-type")
            .unwrap_or(&variant.content_type);
        put_header(&mut headers, "content-type", content_type);
        put_header(
            &mut headers,
            "content-length",
            &variant.bytes.len().to_string(),
        );
        let body = if head {
            empty_body()
        } else {
            body::bytes_body(variant.bytes)
        };
        Ok(respond(StatusCode::OK, headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_url_caching_never_outlives_the_link() {
        let now = 1_700_000_000;
        let link = Proof::SignedUrl {
            expires_at: now + 300,
        };
        let (cc, expires) = cache_headers(link, None, now);
        assert_eq!(cc, "private, max-age=300");
        assert_eq!(expires.as_deref(), Some("Tue, 14 Nov 2023 22:18:20 GMT"));
        assert_eq!(
            cache_headers(link, Some("public, max-age=86400"), now).0,
            "private, max-age=300"
        );
        assert_eq!(
            cache_headers(link, Some("max-age=60"), now).0,
            "private, max-age=60"
        );
        assert_eq!(
            cache_headers(link, Some("no-cache"), now).0,
            "private, no-store"
        );
        // Valid through this very second: cacheable for 0 seconds, never negative.
        let last = Proof::SignedUrl { expires_at: now };
        assert_eq!(cache_headers(last, None, now).0, "private, max-age=0");
        let far = Proof::SignedUrl {
            expires_at: now + 10 * MAX_CACHE_SECS,
        };
        assert_eq!(
            cache_headers(far, None, now).0,
            format!("private, max-age={MAX_CACHE_SECS}")
        );
    }

    #[test]
    fn header_signed_responses_are_private_unless_the_object_says() {
        assert_eq!(
            cache_headers(Proof::Header, None, 0),
            ("private, no-cache".to_owned(), None)
        );
        assert_eq!(
            cache_headers(Proof::Header, Some("public, max-age=60"), 0).0,
            "public, max-age=60"
        );
    }

    #[test]
    fn ranges_as_oss_reads_them() {
        use RangeChoice::*;
        assert_eq!(pick_range(None, 10, false), Whole);
        assert_eq!(pick_range(Some("bytes=0-3"), 10, false), Part(0..4));
        assert_eq!(pick_range(Some("bytes=5-"), 10, false), Part(5..10));
        assert_eq!(pick_range(Some("bytes=-3"), 10, false), Part(7..10));
        assert_eq!(pick_range(Some("bytes=-30"), 10, false), Part(0..10));
        assert_eq!(pick_range(Some("bytes=2-99"), 10, false), Part(2..10));
        assert_eq!(pick_range(Some("bytes=20-30"), 10, false), Whole);
        assert_eq!(pick_range(Some("bytes=20-30"), 10, true), Unsatisfiable);
        assert_eq!(pick_range(Some("bytes=5-2"), 10, true), Whole);
        assert_eq!(pick_range(Some("bytes=0-1,4-5"), 10, false), Whole);
        assert_eq!(pick_range(Some("items=0-1"), 10, false), Whole);
    }

    #[test]
    fn oss_etags_are_upper_case() {
        assert_eq!(oss_etag("5b3c-2"), "\"5B3C-2\"");
    }
}
