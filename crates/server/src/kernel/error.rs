//! One error type for every door: what went wrong, as a status, a code, a message and
//! (for overload) a `Retry-After`. The store's and the image service's errors map onto
//! it here, once; each door renders it in its own dialect.
//!
//! Codes are S3's, the vocabulary all of imgd's object doors share; a door whose
//! protocol names a condition differently (OSS's `InvalidDigest` for S3's `BadDigest`)
//! translates the code when it renders.

use crate::images::ImageError;
use http::StatusCode;
use store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds a client should wait before retrying (503s from admission control).
    pub retry_after_secs: Option<u64>,
    /// Extra elements of the error document, in order (OSS's `StringToSign`,
    /// `ActualObjectSize`, ...).
    pub details: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            details: Vec::new(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    pub fn with_detail(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.details.push((name, value.into()));
        self
    }

    /// Adds `Retry-After` to a response carrying this error.
    pub fn apply_retry_after(&self, headers: &mut http::HeaderMap) {
        if let Some(secs) = self.retry_after_secs {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
    }
}

/// S3's message for a code, for errors raised without one. s3s 0.14.1 refuses some
/// requests before imgd's code runs with a bare code (`InvalidBucketName`,
/// `KeyTooLongError`, `InvalidURI`, ...), and clients then print "Unknown" instead of
/// what was wrong.
pub fn s3_default_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "InvalidBucketName" => {
            "The specified bucket is not valid: bucket names must be 3 to 63 characters long, use only lower-case letters, digits, dots and hyphens, begin and end with a letter or digit, contain no two adjacent dots and not look like an IP address."
        }
        "KeyTooLongError" => "Your key is too long: the limit is 1024 bytes of UTF-8.",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "IncompleteBody" => {
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        }
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented.",
        "InvalidRequest" => "The request is not valid.",
        "InvalidArgument" => "An argument of the request is not valid.",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema."
        }
        "MaxMessageLengthExceeded" => "Your request was too big.",
        "AccessDenied" => "Access Denied",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the server's time is too large."
        }
        "AuthorizationHeaderMalformed" => "The authorization header you provided is not valid.",
        "InvalidDigest" => "The Content-MD5 or checksum value you specified is not valid.",
        "BadDigest" => "The Content-MD5 or checksum you specified did not match what we received.",
        "InternalError" => "We encountered an internal error. Please try again.",
        _ => return None,
    })
}

/// An S3 error document with its `<Message>` filled in from [`s3_default_message`]
/// (or, for a code without one, a sentence naming the code), when the document has no
/// message or an empty one; `None` when `xml` is not such a document.
pub fn s3_error_with_message(xml: &[u8]) -> Option<String> {
    let doc = std::str::from_utf8(xml).ok()?;
    let body = doc.split_once("<Error>")?.1;
    let has_message = body
        .split_once("<Message>")
        .is_some_and(|(_, rest)| !rest.starts_with("</Message>"));
    if has_message {
        return None;
    }
    let code = body.split_once("<Code>")?.1.split_once("</Code>")?.0;
    let message = s3_default_message(code)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("The request failed with {code}."));
    let rest = body
        .replace("<Message></Message>", "")
        .replace("<Message/>", "");
    let (before, after) = rest.split_once("</Code>")?;
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>{before}</Code><Message>{}</Message>{after}",
        super::xml::escape(&message)
    ))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        use StatusCode as S;
        let (status, code, message): (StatusCode, &'static str, String) = match &e {
            StoreError::NoSuchBucket => (
                S::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist".into(),
            ),
            StoreError::BucketExists => (
                S::CONFLICT,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it."
                    .into(),
            ),
            StoreError::BucketNotEmpty => (
                S::CONFLICT,
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty".into(),
            ),
            StoreError::NoSuchKey => (
                S::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.".into(),
            ),
            StoreError::NoSuchUpload => (
                S::NOT_FOUND,
                "NoSuchUpload",
                "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
                    .into(),
            ),
            StoreError::AlreadyExists | StoreError::PreconditionFailed => (
                S::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold".into(),
            ),
            StoreError::IncompleteBody { .. } => (S::BAD_REQUEST, "IncompleteBody", e.to_string()),
            StoreError::BodyTooLong { .. } => (S::BAD_REQUEST, "InvalidRequest", e.to_string()),
            StoreError::BadDigest(m) => (S::BAD_REQUEST, "BadDigest", m.clone()),
            StoreError::InvalidPart(m) => (S::BAD_REQUEST, "InvalidPart", m.clone()),
            StoreError::InvalidPartOrder => (S::BAD_REQUEST, "InvalidPartOrder", e.to_string()),
            StoreError::EntityTooSmall { .. } => {
                (S::BAD_REQUEST, "EntityTooSmall", e.to_string())
            }
            StoreError::InvalidArgument(m) => (S::BAD_REQUEST, "InvalidArgument", m.clone()),
            StoreError::KeyTooLong(n) => (
                S::BAD_REQUEST,
                "KeyTooLongError",
                format!("Your key is too long: {n} bytes, the limit is 1024."),
            ),
            StoreError::Body(m) => (
                S::BAD_REQUEST,
                "IncompleteBody",
                format!("The request body could not be read: {m}"),
            ),
            StoreError::Db(_)
            | StoreError::Migrate(_)
            | StoreError::Blob(_)
            | StoreError::Io(_)
            | StoreError::Corrupt(_) => {
                // Details go to the log only; clients learn nothing of the internals.
                tracing::error!(error = %e, "storage failure");
                return ApiError::internal();
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::Invalid(m) => ApiError::invalid_argument(m),
            ImageError::Store(e) => e.into(),
            ImageError::Busy(busy) => ApiError {
                retry_after_secs: Some(busy.retry_after.as_secs().max(1)),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    "Too many images are being processed; please retry.",
                )
            },
            ImageError::Origin(e) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "BadGateway", e.to_string())
            }
            ImageError::Internal(m) => {
                tracing::error!(error = %m, "image processing failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "The image could not be processed.",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_less_s3_errors_get_one() {
        let bare = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>KeyTooLongError</Code></Error>";
        let doc = s3_error_with_message(bare).unwrap_or_default();
        assert!(
            doc.contains("<Code>KeyTooLongError</Code><Message>Your key is too long"),
            "{doc}"
        );
        let empty =
            b"<Error><Code>WeirdCode</Code><Message></Message><RequestId>r</RequestId></Error>";
        let doc = s3_error_with_message(empty).unwrap_or_default();
        assert!(
            doc.contains(
                "<Message>The request failed with WeirdCode.</Message><RequestId>r</RequestId>"
            ),
            "{doc}"
        );
        let told = b"<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
        assert_eq!(s3_error_with_message(told), None);
        assert_eq!(s3_error_with_message(b"<ListBucketResult/>"), None);
    }

    #[test]
    fn store_and_image_errors_map_once() {
        let e = ApiError::from(StoreError::NoSuchKey);
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, "NoSuchKey"));
        let e = ApiError::from(StoreError::Io(std::io::Error::other("disk on fire")));
        assert_eq!(e.code, "InternalError");
        assert!(!e.message.contains("fire"));
        let busy = crate::images::admission::Busy {
            retry_after: std::time::Duration::from_secs(3),
        };
        let e = ApiError::from(ImageError::Busy(busy));
        assert_eq!((e.status.as_u16(), e.retry_after_secs), (503, Some(3)));
        let mut h = http::HeaderMap::new();
        e.apply_retry_after(&mut h);
        assert_eq!(h[http::header::RETRY_AFTER], "3");
    }
}
