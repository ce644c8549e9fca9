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
    /// Response headers the error carries (OSS's `x-oss-next-append-position`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
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

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds `Retry-After` and the error's own headers to a response carrying it.
    pub fn apply_headers(&self, headers: &mut http::HeaderMap) {
        if let Some(secs) = self.retry_after_secs {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        for (name, value) in &self.headers {
            if let Ok(v) = http::HeaderValue::from_str(value) {
                headers.insert(*name, v);
            }
        }
    }
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
            StoreError::PositionNotEqualToLength { length } => (
                S::CONFLICT,
                "PositionNotEqualToLength",
                format!("Position is not equal to file length: the object is {length} bytes."),
            ),
            StoreError::ObjectNotAppendable => (
                S::CONFLICT,
                "ObjectNotAppendable",
                "The object was not written by AppendObject, so it cannot be appended to."
                    .into(),
            ),
            StoreError::NotSymlink => (
                S::BAD_REQUEST,
                "NotSymlink",
                "The specified object is not a symlink.".into(),
            ),
            StoreError::SymlinkTargetNotExist => (
                S::NOT_FOUND,
                "SymlinkTargetNotExist",
                "The symlink's target object does not exist.".into(),
            ),
            StoreError::InvalidTag(m) => (
                S::BAD_REQUEST,
                "InvalidTag",
                format!("The tag set is not valid: {m}."),
            ),
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
            StoreError::Db(_) | StoreError::Blob(_) if e.is_unavailable() => {
                tracing::warn!(error = %e, "storage unreachable; answering 503");
                let what = match e {
                    StoreError::Db(_) => "The metadata database",
                    _ => "The blob store",
                };
                return ApiError {
                    retry_after_secs: Some(1),
                    ..ApiError::new(
                        S::SERVICE_UNAVAILABLE,
                        "ServiceUnavailable",
                        format!("{what} is not reachable right now; please retry."),
                    )
                };
            }
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
        e.apply_headers(&mut h);
        assert_eq!(h[http::header::RETRY_AFTER], "3");
    }
}
