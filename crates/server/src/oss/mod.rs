//! The Alibaba-OSS-compatible door: requests authenticated the OSS way, and OSS-only
//! operations such as ProcessObject (`POST /{bucket}/{key}?x-oss-process`).
//!
//! Each operation lives in its own file; [`OssDoor::handle`] authenticates, checks the
//! caller's grants, and dispatches. Errors are OSS's XML documents (the same shape as
//! S3's: `Code`, `Message`, `RequestId`, `HostId`).

mod process_object;

use crate::auth::{self, Caller, Callers};
use crate::images::ImageService;
use crate::routes::{self, BoxBody};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// Largest request body the OSS door reads into memory (process strings are short).
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct OssDoor {
    pub(crate) images: ImageService,
    pub(crate) callers: Callers,
    pub(crate) host_id: String,
}

/// An OSS error response.
#[derive(Debug)]
pub struct OssError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl OssError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OssError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    fn into_response(self, request_id: &str, host_id: &str) -> Response<BoxBody> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId><HostId>{}</HostId></Error>",
            xml_escape(self.code),
            xml_escape(&self.message),
            xml_escape(request_id),
            xml_escape(host_id)
        );
        let mut resp = routes::full(self.status, "application/xml", body);
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        resp
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub(crate) fn from_image_error(e: crate::images::ImageError) -> OssError {
    use crate::images::ImageError;
    match e {
        ImageError::Invalid(m) => OssError::new(StatusCode::BAD_REQUEST, "InvalidArgument", m),
        ImageError::Store(e) => from_store_error(e),
        ImageError::Busy(busy) => OssError {
            retry_after_secs: Some(busy.retry_after.as_secs().max(1)),
            ..OssError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "Too many images are being processed; please retry.",
            )
        },
        ImageError::Internal(m) => {
            tracing::error!(error = %m, "image processing failed");
            OssError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "The image could not be processed.",
            )
        }
    }
}

pub(crate) fn from_store_error(e: store::StoreError) -> OssError {
    use store::StoreError as E;
    match e {
        E::NoSuchBucket => OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        ),
        E::NoSuchKey => OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        ),
        E::InvalidArgument(m) => OssError::new(StatusCode::BAD_REQUEST, "InvalidArgument", m),
        E::KeyTooLong(n) => OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidObjectName",
            format!("The object name is {n} bytes; the limit is 1024."),
        ),
        other => {
            tracing::error!(error = %other, "store failure on the OSS door");
            OssError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )
        }
    }
}

fn access_denied() -> OssError {
    OssError::new(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        "You have no right to access this object.",
    )
}

/// `/{bucket}/{key}` of a path-style request, percent-decoded.
fn bucket_and_key(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix('/')?;
    let (bucket, key) = rest.split_once('/')?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let (bucket, key) = (decode(bucket)?, decode(key)?);
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
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
        }
    }

    pub async fn handle(&self, req: Request<Incoming>, request_id: &str) -> Response<BoxBody> {
        match self.dispatch(req).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::info!(code = e.code, message = %e.message, "OSS request refused");
                e.into_response(request_id, &self.host_id)
            }
        }
    }

    async fn dispatch(&self, req: Request<Incoming>) -> Result<Response<BoxBody>, OssError> {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let caller = self.authenticate(&parts, &body).await?;
        let (bucket, key) = bucket_and_key(parts.uri.path()).ok_or_else(|| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Expected a path of the form /bucket/key.",
            )
        })?;
        if parts.method == http::Method::POST {
            return self.process_object(&caller, &bucket, &key, &body).await;
        }
        Err(OssError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ))
    }

    async fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<Caller, OssError> {
        if auth::sigv4::is_sigv4(&parts.headers) {
            return auth::sigv4::verify(
                &self.callers,
                &parts.method,
                &parts.uri,
                &parts.headers,
                body,
                now_unix(),
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
            });
        }
        Err(access_denied())
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, OssError> {
    match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            format!("The request body could not be read (at most {MAX_BODY_BYTES} bytes): {e}"),
        )),
    }
}
