//! The Alibaba-OSS-compatible door: the object API for requests authenticated the OSS
//! way (V1 `Authorization: OSS ak:sig` headers and signed URLs), as the `oss2` SDK and
//! OSS-style links use it, plus OSS-only operations such as ProcessObject
//! (`POST /{bucket}/{key}?x-oss-process`, which SigV4 callers may use too).
//!
//! Principal types and data flow:
//!
//! - [`OssDoor::handle`] takes the raw hyper request. It finds the bucket and key
//!   (path style, or virtual-hosted under the configured domain), decodes the query and
//!   authenticates with [`crate::auth::oss`] (SigV4 only for ProcessObject, whose small
//!   body is read first because SigV4 signs it). The result is an [`OssRequest`]: who
//!   ([`Caller`]), how ([`Proof`]: header or signed URL with its expiry), and what.
//! - Dispatch by method, key and sub-resource to one file per operation family:
//!   `get.rs` (GetObject, plain, ranged, or rendered through [`ImageService`] for
//!   `x-oss-process`), `head.rs` (HeadObject, GetObjectMeta), `put.rs` (PutObject
//!   streaming the body into [`store::Store::put_object`], CopyObject), `delete.rs`,
//!   `list.rs` (ListObjects, OSS's `ListBucketResult`), `process_object.rs` (saveas).
//!   Each checks [`Caller::may`] for the bucket it touches.
//! - Responses carry OSS's headers (`x-oss-request-id`, quoted upper-case hex `ETag` as
//!   OSS writes MD5s, `x-oss-object-type`, `x-oss-meta-*`). Errors are [`OssError`]s
//!   (`errors.rs`), rendered as OSS's XML document (in `x-oss-err` for HEAD).
//!
//! Caching never outlives a link: a response to a signed URL is
//! `Cache-Control: private, max-age=N` with `Expires` at the link's expiry, where N is at
//! most the seconds left (and at most the object's own `max-age`). It is `private` even
//! for public-read buckets, because a shared cache would serve it past the access rules
//! the link was checked against. Header-signed responses are `private, no-cache` unless
//! the object (or a signed `response-cache-control`) says otherwise.
//!
//! Not served here (answered `NotImplemented`): bucket-level operations other than
//! ListObjects (v1), multipart and append uploads, ACL/tagging/symlink sub-resources,
//! STS tokens, and OSS signature versions 2 and 4.

mod delete;
mod errors;
mod get;
mod head;
mod list;
mod process_object;
mod put;

pub use errors::OssError;
pub(crate) use errors::{
    access_denied, from_image_error, from_store_error, invalid_argument, not_implemented,
};

use crate::auth::oss::{Proof, SignedParts};
use crate::auth::{self, Caller, Callers};
use crate::images::ImageService;
use crate::routes::BoxBody;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use store::Permission;

/// Largest request body the OSS door reads into memory (process strings are short).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Query parameters that name a sub-resource this door serves; any other sub-resource
/// (`acl`, `uploads`, `tagging`, ...) is refused rather than ignored.
const SERVED_SUB_RESOURCES: &[&str] = &[
    "x-oss-process",
    "objectMeta",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
];

#[derive(Clone)]
pub struct OssDoor {
    pub(crate) images: ImageService,
    pub(crate) callers: Callers,
    pub(crate) host_id: String,
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`).
    pub(crate) domain: Option<String>,
}

/// An authenticated OSS request, before its body is read.
pub(crate) struct OssRequest {
    pub method: Method,
    pub headers: HeaderMap,
    pub bucket: String,
    /// Percent-decoded; empty for bucket-level requests.
    pub key: String,
    /// Percent-decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    pub caller: Caller,
    pub proof: Proof,
    pub now: i64,
}

impl OssRequest {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_param(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn require(&self, bucket: &str, need: Permission) -> Result<(), OssError> {
        if self.caller.may(bucket, need) {
            Ok(())
        } else {
            Err(access_denied())
        }
    }
}

/// Percent-decodes a query string into ordered pairs; `+` is a space, as form encoding
/// (and Python's `requests`) writes it.
pub(crate) fn decode_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn decode_path(s: &str) -> Result<String, OssError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidObjectName",
                "The object name is not valid UTF-8.",
            )
        })
}

/// `(bucket, key)` of a request: `bucket.<domain>` hosts name the bucket and the whole
/// path is the key; otherwise `/bucket/key` (path style). The key is empty for
/// bucket-level requests.
fn bucket_and_key(
    path: &str,
    host: Option<&str>,
    domain: Option<&str>,
) -> Result<(String, String), OssError> {
    let target = crate::vhost::resolve(path, host, domain);
    let (bucket, key) = (decode_path(&target.bucket)?, decode_path(target.key)?);
    if bucket.is_empty() {
        return Err(not_implemented(
            "service-level operations (such as ListBuckets)",
        ));
    }
    Ok((bucket, key))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl OssDoor {
    pub fn new(images: ImageService, callers: Callers) -> Self {
        OssDoor {
            images,
            callers,
            host_id: "imgd".into(),
            domain: None,
        }
    }

    /// Serves virtual-hosted-style requests (`bucket.<domain>`) as well as path style.
    pub fn with_domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain.filter(|d| !d.is_empty());
        self
    }

    pub async fn handle(&self, req: Request<Incoming>, request_id: &str) -> Response<BoxBody> {
        let head = req.method() == Method::HEAD;
        let mut resp = match self.dispatch(req).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::info!(code = e.code, message = %e.message, "OSS request refused");
                e.into_response(request_id, &self.host_id, head)
            }
        };
        if let Ok(v) = http::HeaderValue::from_str(request_id) {
            resp.headers_mut().insert("x-oss-request-id", v);
        }
        resp.headers_mut()
            .insert(http::header::SERVER, http::HeaderValue::from_static("imgd"));
        resp
    }

    async fn dispatch(&self, req: Request<Incoming>) -> Result<Response<BoxBody>, OssError> {
        let (parts, body) = req.into_parts();
        let now = now_unix();
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.host());
        let (bucket, key) = bucket_and_key(parts.uri.path(), host, self.domain.as_deref())?;
        let query = decode_query(parts.uri.query());

        if auth::sigv4::is_sigv4(&parts.headers) {
            // SigV4 callers reach this door only for ProcessObject (the S3 door serves
            // the rest); SigV4 signs the body, so it is read before the check.
            let is_process = query.iter().any(|(k, _)| k == "x-oss-process");
            if parts.method != Method::POST || !is_process || key.is_empty() {
                return Err(invalid_argument(
                    "Only ProcessObject is served to SigV4 callers on the OSS API.",
                ));
            }
            let body = read_body(body).await?;
            let caller = auth::sigv4::verify(
                &self.callers,
                &parts.method,
                &parts.uri,
                &parts.headers,
                &body,
                now,
            )
            .await
            .map_err(|r| {
                let status = match r.code {
                    "InternalError" => StatusCode::INTERNAL_SERVER_ERROR,
                    "AuthorizationHeaderMalformed" | "XAmzContentSHA256Mismatch" => {
                        StatusCode::BAD_REQUEST
                    }
                    _ => StatusCode::FORBIDDEN,
                };
                OssError::new(status, r.code, r.message)
            })?;
            return self.process_object(&caller, &bucket, &key, &body).await;
        }

        if !auth::oss::has_oss_authorization(&parts.headers)
            && !auth::oss::has_signed_url_params(&query)
        {
            // Anonymous requests are the S3 and delivery doors' business; here they are
            // only a POST ?x-oss-process without credentials.
            return Err(access_denied());
        }
        let verified = auth::oss::verify(
            &self.callers,
            &SignedParts {
                method: parts.method.as_str(),
                bucket: &bucket,
                key: &key,
                query: &query,
                headers: &parts.headers,
            },
            now,
        )
        .await?;

        if let Some((name, _)) = query.iter().find(|(name, _)| {
            signing::oss::SUB_RESOURCES.contains(&name.as_str())
                && !SERVED_SUB_RESOURCES.contains(&name.as_str())
        }) {
            return Err(not_implemented(&format!("the {name} sub-resource")));
        }

        let req = OssRequest {
            method: parts.method,
            headers: parts.headers,
            bucket,
            key,
            query,
            caller: verified.caller,
            proof: verified.proof,
            now,
        };
        let bucket_level = req.key.is_empty();
        match req.method {
            Method::GET if bucket_level => self.list_objects(&req).await,
            _ if bucket_level => Err(not_implemented(
                "bucket-level operations other than ListObjects",
            )),
            Method::GET => self.get_object(&req).await,
            Method::HEAD if req.has_param("objectMeta") => self.get_object_meta(&req).await,
            Method::HEAD => self.head_object(&req).await,
            Method::PUT if req.headers.contains_key("x-oss-copy-source") => {
                self.copy_object(&req).await
            }
            Method::PUT => self.put_object(&req, body).await,
            Method::DELETE => self.delete_object(&req).await,
            Method::POST if req.has_param("x-oss-process") => {
                let body = read_body(body).await?;
                self.process_object(&req.caller, &req.bucket, &req.key, &body)
                    .await
            }
            Method::POST => Err(not_implemented("POST without x-oss-process")),
            _ => Err(OssError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )),
        }
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, OssError> {
    match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(invalid_argument(format!(
            "The request body could not be read (at most {MAX_BODY_BYTES} bytes): {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_virtual_host_targets() {
        let t = |path, host, domain| bucket_and_key(path, host, domain).map_err(|e| e.code);
        assert_eq!(
            t("/b/dir%2Fa%20b.jpg", None, None),
            Ok(("b".into(), "dir/a b.jpg".into()))
        );
        assert_eq!(t("/b/", None, None), Ok(("b".into(), "".into())));
        assert_eq!(t("/b", None, None), Ok(("b".into(), "".into())));
        assert_eq!(t("/", None, None), Err("NotImplemented"));
        assert_eq!(
            t(
                "/k/x.jpg",
                Some("pics.img.example:8080"),
                Some("img.example")
            ),
            Ok(("pics".into(), "k/x.jpg".into()))
        );
        // The bare domain is path style.
        assert_eq!(
            t("/pics/x.jpg", Some("img.example"), Some("img.example")),
            Ok(("pics".into(), "x.jpg".into()))
        );
        assert_eq!(t("/b/%ff", None, None), Err("InvalidObjectName"));
    }

    #[test]
    fn oss_signed_requests_never_reach_the_s3_door() {
        use crate::routes::FrontDoor;
        let door = |method: Method, uri: &str, auth: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(a) = auth {
                headers.insert(http::header::AUTHORIZATION, a.parse().unwrap());
            }
            FrontDoor::classify(&method, &uri.parse().unwrap(), &headers)
        };
        for method in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::POST,
        ] {
            assert_eq!(
                door(method.clone(), "/b/k", Some("OSS ak:sig")),
                FrontDoor::Oss
            );
            assert_eq!(
                door(
                    method.clone(),
                    "/b/k?OSSAccessKeyId=ak&Expires=1&Signature=s",
                    None
                ),
                FrontDoor::Oss
            );
        }
        assert_eq!(door(Method::GET, "/b/", Some("OSS ak:sig")), FrontDoor::Oss);
        assert_eq!(
            door(Method::POST, "/b/k?x-oss-process", None),
            FrontDoor::Oss
        );
        assert_eq!(
            door(Method::PUT, "/b/k", Some("AWS4-HMAC-SHA256 Credential=x")),
            FrontDoor::S3
        );
        assert_eq!(
            door(Method::GET, "/b/k?x-oss-process=image/resize,w_1", None),
            FrontDoor::S3
        );
        assert_eq!(
            door(Method::GET, "/_imgd/health", Some("OSS ak:sig")),
            FrontDoor::Health
        );
    }

    #[test]
    fn queries_decode_in_order_with_plus_as_space() {
        assert_eq!(
            decode_query(Some(
                "x-oss-process=image%2Fresize%2Cw_100&objectMeta&a=b+c&Signature=x%2By%3D"
            )),
            vec![
                ("x-oss-process".to_owned(), "image/resize,w_100".to_owned()),
                ("objectMeta".to_owned(), String::new()),
                ("a".to_owned(), "b c".to_owned()),
                ("Signature".to_owned(), "x+y=".to_owned()),
            ]
        );
    }
}
