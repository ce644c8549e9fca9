//! OSS error documents and the mapping of imgd's errors onto OSS's codes.
//!
//! OSS answers errors with the same XML shape as S3 (`Code`, `Message`, `RequestId`,
//! `HostId`, plus operation-specific elements such as `StringToSign`). A HEAD response
//! has no body, so there the document travels base64-encoded in `x-oss-err`, which is
//! where `oss2` looks for it.

use crate::auth::oss::Refused;
use crate::images::ImageError;
use crate::kernel::{ApiError, BoxBody, full, xml};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{Response, StatusCode};

/// The OSS door's errors are the kernel's; this module only renders them.
pub type OssError = ApiError;

/// Codes OSS spells differently from S3 for the same condition.
fn oss_code(code: &'static str) -> &'static str {
    match code {
        "KeyTooLongError" => "InvalidObjectName",
        "BadDigest" => "InvalidDigest",
        "InvalidRequest" => "InvalidArgument",
        other => other,
    }
}

pub(crate) fn document(e: &OssError, request_id: &str, host_id: &str) -> String {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId><HostId>{}</HostId>",
        xml::escape(oss_code(e.code)),
        xml::escape(&e.message),
        xml::escape(request_id),
        xml::escape(host_id)
    );
    for (name, value) in &e.details {
        body.push_str(&format!("<{name}>{}</{name}>", xml::escape(value)));
    }
    body.push_str("</Error>");
    body
}

/// The response; for HEAD the document goes into `x-oss-err` and the body is empty.
pub(crate) fn into_response(
    e: OssError,
    request_id: &str,
    host_id: &str,
    head: bool,
) -> Response<BoxBody> {
    let document = document(&e, request_id, host_id);
    let mut resp = if head {
        let mut resp = full(e.status, "application/xml", "");
        if let Ok(v) = http::HeaderValue::from_str(&B64.encode(document.as_bytes())) {
            resp.headers_mut().insert("x-oss-err", v);
        }
        resp
    } else {
        full(e.status, "application/xml", document)
    };
    e.apply_headers(resp.headers_mut());
    if let Ok(v) = http::HeaderValue::from_str(oss_code(e.code)) {
        resp.headers_mut().insert("x-oss-ec", v);
    }
    resp
}

impl From<Refused> for OssError {
    fn from(r: Refused) -> Self {
        ApiError {
            details: r.details,
            ..ApiError::new(r.status, r.code, r.message)
        }
    }
}

pub(crate) fn from_image_error(e: ImageError) -> OssError {
    match e {
        ImageError::Store(e) => from_store_error(e),
        other => other.into(),
    }
}

/// The kernel's mapping, except where OSS answers with another status: an upload that
/// `x-oss-forbid-overwrite` stopped is 409 `FileAlreadyExists`, not S3's 412. A wrong
/// append position also says where the next append must start, as `oss2` reads it.
pub(crate) fn from_store_error(e: store::StoreError) -> OssError {
    match e {
        store::StoreError::PositionNotEqualToLength { length } => {
            OssError::from(e).with_header("x-oss-next-append-position", length.to_string())
        }
        store::StoreError::AlreadyExists => OssError::new(
            StatusCode::CONFLICT,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        ),
        other => other.into(),
    }
}

pub(crate) fn precondition_failed() -> OssError {
    store::StoreError::PreconditionFailed.into()
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

/// A request document that does not parse or does not have the expected shape; `why`
/// goes into the message after OSS's own sentence.
pub(crate) fn malformed_xml(why: &str) -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "MalformedXML",
        format!(
            "The XML you provided was not well-formed or did not validate against our published schema: {why}."
        ),
    )
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
        let doc = document(&e, "rid", "imgd");
        assert!(doc.contains("<Message>a &lt;b&gt;</Message>"), "{doc}");
        assert!(doc.contains("<StringToSign>GET\n\n\n1\n/b/k&amp;x</StringToSign></Error>"));
    }

    #[test]
    fn head_errors_travel_in_a_header() {
        let resp = into_response(store::StoreError::NoSuchKey.into(), "rid", "imgd", true);
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let encoded = resp.headers()["x-oss-err"].to_str().unwrap();
        let doc = String::from_utf8(B64.decode(encoded).unwrap()).unwrap();
        assert!(doc.contains("<Code>NoSuchKey</Code>"), "{doc}");
    }
}

#[cfg(test)]
mod dialect_tests {
    use super::*;

    #[test]
    fn oss_names_some_conditions_its_own_way() {
        let e: OssError = store::StoreError::BadDigest("md5".into()).into();
        assert!(document(&e, "r", "h").contains("<Code>InvalidDigest</Code>"));
        let e = from_store_error(store::StoreError::AlreadyExists);
        assert_eq!((e.status.as_u16(), e.code), (409, "FileAlreadyExists"));
        let e: OssError = store::StoreError::KeyTooLong(2000).into();
        let resp = into_response(e, "r", "h", false);
        assert_eq!(resp.headers()["x-oss-ec"], "InvalidObjectName");
    }
}
