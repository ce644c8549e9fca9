//! Which OSS operation a request is, decided from its method, path, query and headers
//! before it is authenticated.

use crate::auth::oss::has_oss_authorization;
use crate::kernel::{Query, vhost};
use http::{HeaderMap, Method, Uri};

/// Every operation the OSS door knows, served or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /bucket/`.
    ListObjects,
    GetObject,
    HeadObject,
    /// `HEAD ?objectMeta`.
    GetObjectMeta,
    PutObject,
    /// `PUT` with `x-oss-copy-source`.
    CopyObject,
    DeleteObject,
    /// `POST ?x-oss-process` (with `|sys/saveas`), also for SigV4 callers.
    ProcessObject,
    /// Known to OSS, not served by imgd: answered `NotImplemented` (service level:
    /// before authentication, since there is no bucket; the rest after it).
    Unsupported(Unsupported),
    /// A method OSS does not define on an object: 405 after authentication.
    MethodNotAllowed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// `/` (ListBuckets and the like).
    ServiceLevel,
    /// Bucket-level operations other than ListObjects.
    BucketLevel,
    /// `POST` without `x-oss-process` (PostObject, append, ...).
    PostWithoutProcess,
}

impl Unsupported {
    pub fn what(self) -> &'static str {
        match self {
            Unsupported::ServiceLevel => "service-level operations (such as ListBuckets)",
            Unsupported::BucketLevel => "bucket-level operations other than ListObjects",
            Unsupported::PostWithoutProcess => "POST without x-oss-process",
        }
    }
}

impl Endpoint {
    /// The operation, when the request is the OSS door's: signed the OSS way (an
    /// `Authorization: OSS…` header, or an `OSSAccessKeyId` query parameter, whatever the
    /// method), or an OSS-only operation (`POST ?x-oss-process`). `None`: another door's.
    pub fn decode(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        query: &Query,
        domain: Option<&str>,
    ) -> Option<Endpoint> {
        let process = query.has("x-oss-process");
        let is_oss = has_oss_authorization(headers)
            || query.has("OSSAccessKeyId")
            || (method == Method::POST && process);
        if !is_oss {
            return None;
        }
        let target = vhost::resolve_request(uri, headers, domain);
        if target.bucket.is_empty() {
            return Some(Endpoint::Unsupported(Unsupported::ServiceLevel));
        }
        if target.key.is_empty() {
            return Some(if method == Method::GET {
                Endpoint::ListObjects
            } else {
                Endpoint::Unsupported(Unsupported::BucketLevel)
            });
        }
        Some(match *method {
            Method::GET => Endpoint::GetObject,
            Method::HEAD if query.has("objectMeta") => Endpoint::GetObjectMeta,
            Method::HEAD => Endpoint::HeadObject,
            Method::PUT if headers.contains_key("x-oss-copy-source") => Endpoint::CopyObject,
            Method::PUT => Endpoint::PutObject,
            Method::DELETE => Endpoint::DeleteObject,
            Method::POST if process => Endpoint::ProcessObject,
            Method::POST => Endpoint::Unsupported(Unsupported::PostWithoutProcess),
            _ => Endpoint::MethodNotAllowed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(method: Method, uri: &str, headers: &[(&'static str, &str)]) -> Option<Endpoint> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, v.parse().unwrap());
        }
        let uri: Uri = uri.parse().unwrap();
        Endpoint::decode(&method, &uri, &h, &Query::of(&uri), None)
    }

    #[test]
    fn operations_decode_before_authentication() {
        let oss = [("authorization", "OSS ak:sig")];
        use Endpoint as E;
        assert_eq!(decode(Method::GET, "/b/k", &oss), Some(E::GetObject));
        assert_eq!(decode(Method::GET, "/b/", &oss), Some(E::ListObjects));
        assert_eq!(
            decode(Method::PUT, "/b", &oss),
            Some(E::Unsupported(Unsupported::BucketLevel))
        );
        assert_eq!(
            decode(Method::GET, "/", &oss),
            Some(E::Unsupported(Unsupported::ServiceLevel))
        );
        assert_eq!(
            decode(Method::HEAD, "/b/k?objectMeta", &oss),
            Some(E::GetObjectMeta)
        );
        assert_eq!(decode(Method::HEAD, "/b/k", &oss), Some(E::HeadObject));
        assert_eq!(
            decode(
                Method::PUT,
                "/b/k",
                &[("authorization", "OSS a:b"), ("x-oss-copy-source", "/b/j")]
            ),
            Some(E::CopyObject)
        );
        assert_eq!(decode(Method::PUT, "/b/k", &oss), Some(E::PutObject));
        assert_eq!(decode(Method::DELETE, "/b/k", &oss), Some(E::DeleteObject));
        assert_eq!(
            decode(Method::POST, "/b/k?x-oss-process", &[]),
            Some(E::ProcessObject)
        );
        assert_eq!(
            decode(Method::POST, "/b/k", &oss),
            Some(E::Unsupported(Unsupported::PostWithoutProcess))
        );
        assert_eq!(
            decode(Method::PATCH, "/b/k", &oss),
            Some(E::MethodNotAllowed)
        );
        assert_eq!(
            decode(
                Method::GET,
                "/b/k?OSSAccessKeyId=a&Expires=1&Signature=s",
                &[]
            ),
            Some(E::GetObject)
        );
        assert_eq!(
            decode(Method::GET, "/b/k?x-oss-process=image/resize,w_1", &[]),
            None
        );
        assert_eq!(decode(Method::GET, "/b/k", &[]), None);
    }
}
