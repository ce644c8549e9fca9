//! Cloudflare's response envelope, `{"result", "success", "errors", "messages"}`, and
//! its numeric error codes. Every answer of the door, including refusals on delivery and
//! transform URLs, is rendered here.

use crate::kernel::{ApiError, BoxBody, full};
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

/// An error as the door answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl CfError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        CfError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        CfError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    pub fn image_not_found() -> Self {
        CfError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "Image not found")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        CfError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
    }
}

/// The codes the door uses, after Cloudflare's Images API (54xx) and its
/// authentication codes (10000).
pub mod codes {
    pub const BAD_REQUEST: u32 = 5400;
    pub const FORBIDDEN: u32 = 5403;
    pub const NOT_FOUND: u32 = 5404;
    pub const METHOD_NOT_ALLOWED: u32 = 5405;
    pub const CONFLICT: u32 = 5409;
    pub const GONE: u32 = 5410;
    pub const TOO_LARGE: u32 = 5413;
    pub const UNSUPPORTED_IMAGE: u32 = 5415;
    pub const INTERNAL: u32 = 5500;
    pub const BUSY: u32 = 5503;
    pub const AUTHENTICATION: u32 = 10000;
}

impl From<ApiError> for CfError {
    fn from(e: ApiError) -> Self {
        let code = match e.status.as_u16() {
            404 => codes::NOT_FOUND,
            403 => codes::FORBIDDEN,
            409 => codes::CONFLICT,
            413 => codes::TOO_LARGE,
            503 => codes::BUSY,
            400..=499 => codes::BAD_REQUEST,
            _ => codes::INTERNAL,
        };
        let message = if e.status.is_server_error() && e.status != StatusCode::SERVICE_UNAVAILABLE {
            "Internal error; please try again".to_owned()
        } else {
            e.message
        };
        CfError {
            status: e.status,
            code,
            message,
        }
    }
}

impl From<store::StoreError> for CfError {
    fn from(e: store::StoreError) -> Self {
        if matches!(e, store::StoreError::InvalidArgument(_)) {
            return CfError::bad_request(e.to_string());
        }
        if !matches!(
            e,
            store::StoreError::NoSuchKey
                | store::StoreError::NoSuchBucket
                | store::StoreError::AlreadyExists
        ) {
            tracing::error!(error = %e, "cloudflare door: store error");
        }
        CfError::from(ApiError::from(e))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<BoxBody> {
    full(status, "application/json", body.to_string())
}

/// `{"result": result, "success": true, ...}`.
pub fn ok(result: Value) -> Response<BoxBody> {
    json_response(
        StatusCode::OK,
        &json!({"result": result, "success": true, "errors": [], "messages": []}),
    )
}

/// [`ok`] with pagination facts.
pub fn ok_paged(result: Value, result_info: Value) -> Response<BoxBody> {
    json_response(
        StatusCode::OK,
        &json!({
            "result": result,
            "result_info": result_info,
            "success": true,
            "errors": [],
            "messages": []
        }),
    )
}

pub fn error(e: &CfError) -> Response<BoxBody> {
    let mut resp = json_response(
        e.status,
        &json!({
            "result": null,
            "success": false,
            "errors": [{"code": e.code, "message": e.message}],
            "messages": []
        }),
    );
    // Refusals are about this request and this moment (a key revoked, a link expired):
    // no cache may keep them.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn errors_use_the_envelope() {
        let resp = error(&CfError::image_not_found());
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["success"], false);
        assert_eq!(v["errors"][0]["code"], 5404);
        assert_eq!(v["errors"][0]["message"], "Image not found");
    }

    #[test]
    fn kernel_errors_keep_status_and_hide_internals() {
        let e = CfError::from(ApiError::internal());
        assert_eq!((e.status.as_u16(), e.code), (500, codes::INTERNAL));
        assert!(!e.message.contains("encountered"));
        let e = CfError::from(ApiError::invalid_argument("bad width"));
        assert_eq!(
            (e.status.as_u16(), e.code, e.message.as_str()),
            (400, 5400, "bad width")
        );
    }
}
