//! OSS error documents and the mapping of imgd's errors onto OSS's codes.
//!
//! OSS answers errors with the same XML shape as S3 (`Code`, `Message`, `RequestId`,
//! `HostId`, plus operation-specific elements such as `StringToSign`). A HEAD response
//! has no body, so there the document travels base64-encoded in `x-oss-err`, which is
//! where `oss2` looks for it.

use crate::auth::oss::Refused;
use crate::images::ImageError;
use crate::routes::{self, BoxBody};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{Response, StatusCode};

/// An OSS error response.
#[derive(Debug)]
pub struct OssError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra elements of the error document, in order.
    pub details: Vec<(&'static str, String)>,
    pub retry_after_secs: Option<u64>,
}

impl OssError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OssError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub(crate) fn document(&self, request_id: &str, host_id: &str) -> String {
        let mut body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId><HostId>{}</HostId>",
            xml_escape(self.code),
            xml_escape(&self.message),
            xml_escape(request_id),
            xml_escape(host_id)
        );
        for (name, value) in &self.details {
            body.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
        }
        body.push_str("</Error>");
        body
    }

    /// The response; for HEAD the document goes into `x-oss-err` and the body is empty.
    pub(crate) fn into_response(
        self,
        request_id: &str,
        host_id: &str,
        head: bool,
    ) -> Response<BoxBody> {
        let document = self.document(request_id, host_id);
        let mut resp = if head {
            let mut resp = routes::full(self.status, "application/xml", "");
            if let Ok(v) = http::HeaderValue::from_str(&B64.encode(document.as_bytes())) {
                resp.headers_mut().insert("x-oss-err", v);
            }
            resp
        } else {
            routes::full(self.status, "application/xml", document)
        };
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        if let Ok(v) = http::HeaderValue::from_str(self.code) {
            resp.headers_mut().insert("x-oss-ec", v);
        }
        resp
    }
}

impl From<Refused> for OssError {
    fn from(r: Refused) -> Self {
        OssError {
            details: r.details,
            ..OssError::new(r.status, r.code, r.message)
        }
    }
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub(crate) fn from_image_error(e: ImageError) -> OssError {
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
        ImageError::Origin(e) => {
            OssError::new(StatusCode::BAD_GATEWAY, "BadGateway", e.to_string())
        }
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
        E::NoSuchBucket => no_such_bucket(),
        E::NoSuchKey => no_such_key(),
        E::InvalidArgument(m) => OssError::new(StatusCode::BAD_REQUEST, "InvalidArgument", m),
        E::KeyTooLong(n) => OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidObjectName",
            format!("The object name is {n} bytes; the limit is 1024."),
        ),
        E::BadDigest(_) => OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDigest",
            "The Content-MD5 you specified did not match what we received.",
        ),
        E::IncompleteBody { .. } | E::Body(_) => OssError::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        ),
        E::BodyTooLong { .. } => OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "The body is longer than its Content-Length.",
        ),
        E::AlreadyExists => OssError::new(
            StatusCode::CONFLICT,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        ),
        E::PreconditionFailed => precondition_failed(),
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

pub(crate) fn no_such_bucket() -> OssError {
    OssError::new(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        "The specified bucket does not exist.",
    )
}

pub(crate) fn no_such_key() -> OssError {
    OssError::new(
        StatusCode::NOT_FOUND,
        "NoSuchKey",
        "The specified key does not exist.",
    )
}

pub(crate) fn precondition_failed() -> OssError {
    OssError::new(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold.",
    )
}

pub(crate) fn access_denied() -> OssError {
    OssError::new(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        "You have no right to access this object.",
    )
}

pub(crate) fn invalid_argument(message: impl Into<String>) -> OssError {
    OssError::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
}

pub(crate) fn not_implemented(what: &str) -> OssError {
    OssError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("imgd does not implement {what} on its OSS API."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_escape_and_carry_details() {
        let mut e = OssError::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", "a <b>");
        e.details
            .push(("StringToSign", "GET\n\n\n1\n/b/k&x".into()));
        let doc = e.document("rid", "imgd");
        assert!(doc.contains("<Message>a &lt;b&gt;</Message>"), "{doc}");
        assert!(doc.contains("<StringToSign>GET\n\n\n1\n/b/k&amp;x</StringToSign></Error>"));
    }

    #[test]
    fn head_errors_travel_in_a_header() {
        let resp = no_such_key().into_response("rid", "imgd", true);
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let encoded = resp.headers()["x-oss-err"].to_str().unwrap();
        let doc = String::from_utf8(B64.decode(encoded).unwrap()).unwrap();
        assert!(doc.contains("<Code>NoSuchKey</Code>"), "{doc}");
    }
}
