//! Which OSS operation a request is, decided from its method, path, query and headers
//! before it is authenticated.
//!
//! The operation is named by the method, by whether the path has a bucket and a key,
//! and by the sub-resource in the query (`?acl`, `?delete`, `?bucketInfo`, ...: the
//! names `oss2` signs, [`signing::oss::SUB_RESOURCES`]). A sub-resource this door does
//! not serve is never ignored: the request decodes as [`Unsupported::SubResource`] and
//! is answered `NotImplemented` naming it, so a `DELETE ?tagging` cannot delete the
//! object.

use crate::auth::oss::{has_oss_authorization, has_signed_url_params};
use crate::kernel::{Query, vhost};
use http::{HeaderMap, Method, Uri};

/// Every operation the OSS door knows, served or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /` (prefix, marker, max-keys).
    ListBuckets,
    /// `PUT /bucket` (`x-oss-acl`, an optional `CreateBucketConfiguration`).
    CreateBucket,
    /// `DELETE /bucket`.
    DeleteBucket,
    /// `GET /bucket?bucketInfo`.
    GetBucketInfo,
    /// `GET /bucket?location`.
    GetBucketLocation,
    /// `GET /bucket?acl`.
    GetBucketAcl,
    /// `PUT /bucket?acl` with `x-oss-acl`.
    PutBucketAcl,
    /// `GET /bucket/`.
    ListObjects,
    /// `GET /bucket/?list-type=2`.
    ListObjectsV2,
    /// `POST /bucket/?delete` (batch delete).
    DeleteMultipleObjects,
    /// `PUT /bucket?style&styleName=` with `<Style><Content>`.
    PutBucketStyle,
    /// `GET /bucket?style&styleName=`.
    GetBucketStyle,
    /// `GET /bucket?style`.
    ListBucketStyle,
    /// `DELETE /bucket?style&styleName=`.
    DeleteBucketStyle,
    GetObject,
    HeadObject,
    /// `HEAD ?objectMeta`.
    GetObjectMeta,
    PutObject,
    /// `PUT` with `x-oss-copy-source`.
    CopyObject,
    DeleteObject,
    /// `GET /bucket/key?acl`.
    GetObjectAcl,
    /// `PUT /bucket/key?acl` with `x-oss-object-acl`.
    PutObjectAcl,
    /// `POST /bucket/key?uploads`.
    InitiateMultipartUpload,
    /// `PUT /bucket/key?partNumber=N&uploadId=U`.
    UploadPart,
    /// `UploadPart` with `x-oss-copy-source` (and `x-oss-copy-source-range`).
    UploadPartCopy,
    /// `POST /bucket/key?uploadId=U` with a `CompleteMultipartUpload` document, or
    /// `x-oss-complete-all: yes` and no body.
    CompleteMultipartUpload,
    /// `DELETE /bucket/key?uploadId=U`.
    AbortMultipartUpload,
    /// `GET /bucket/key?uploadId=U`.
    ListParts,
    /// `GET /bucket?uploads`.
    ListMultipartUploads,
    /// `POST /bucket/key?append&position=N`.
    AppendObject,
    /// `PUT /bucket/key?symlink` with `x-oss-symlink-target`.
    PutSymlink,
    /// `GET /bucket/key?symlink`.
    GetSymlink,
    /// `PUT /bucket/key?tagging` with a `Tagging` document.
    PutObjectTagging,
    /// `GET /bucket/key?tagging`.
    GetObjectTagging,
    /// `DELETE /bucket/key?tagging`.
    DeleteObjectTagging,
    /// `POST ?x-oss-process` (with `|sys/saveas`), also for SigV4 callers.
    ProcessObject,
    /// `POST ?x-oss-async-process` (with `|sys/saveas`): queued, run in the background.
    AsyncProcessObject,
    /// Known to OSS, not served by imgd: answered `NotImplemented` after
    /// authentication.
    Unsupported(Unsupported),
    /// A method OSS does not define on an object: 405 after authentication.
    MethodNotAllowed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// `/` other than ListBuckets (`?regions`, `?qosInfo`, `PUT /`, ...).
    ServiceLevel,
    /// A bucket-level method with no sub-resource that OSS has no operation for here
    /// (`HEAD /bucket`, `POST /bucket` without `?delete`).
    BucketLevel,
    /// `POST` on an object without `x-oss-process` (PostObject, ...).
    PostWithoutProcess,
    /// A sub-resource (as `oss2` signs it) that this door does not serve, or does not
    /// serve with this method.
    SubResource(&'static str),
}

impl Unsupported {
    /// What the `NotImplemented` message names.
    pub fn what(self) -> String {
        match self {
            Unsupported::ServiceLevel => {
                "service-level operations other than ListBuckets".to_owned()
            }
            Unsupported::BucketLevel => "this bucket-level operation".to_owned(),
            Unsupported::PostWithoutProcess => "POST without x-oss-process".to_owned(),
            Unsupported::SubResource(name) => format!("the {name} sub-resource"),
        }
    }
}

/// Signed query parameters that qualify an operation rather than name one.
const PARAMETERS: &[&str] = &[
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    // ListObjectsV2's page cursor.
    "continuation-token",
    // Which style `?style` reads, writes or deletes.
    "styleName",
    // GetObject and HeadObject render with it; POST makes it ProcessObject.
    "x-oss-process",
    // AppendObject's offset, and InitiateMultipartUpload's ordering hint.
    "position",
    "sequential",
];

/// ListBuckets' own parameters, and a signed URL's (V1 and V4).
const LIST_BUCKETS_PARAMETERS: &[&str] = &[
    "prefix",
    "marker",
    "max-keys",
    signing::oss::ACCESS_KEY_ID_PARAM,
    signing::oss::EXPIRES_PARAM,
    signing::oss::SIGNATURE_PARAM,
    signing::oss::v4::SIGNATURE_VERSION_PARAM,
    signing::oss::v4::CREDENTIAL_PARAM,
    signing::oss::v4::DATE_PARAM,
    signing::oss::v4::EXPIRES_PARAM,
    signing::oss::v4::ADDITIONAL_HEADERS_PARAM,
    signing::oss::v4::SIGNATURE_PARAM,
];

/// The sub-resource that names the operation: `None` without one, `uploadId` when
/// the query has it (an UploadPart also names `partNumber`, in either order), the
/// first one the query names otherwise (`oss2` sends at most one).
fn sub_resource(query: &Query) -> Option<&'static str> {
    if query.has("uploadId") {
        return Some("uploadId");
    }
    query.pairs().iter().find_map(|(name, _)| {
        signing::oss::SUB_RESOURCES
            .iter()
            .find(|s| **s == name.as_str())
            .copied()
            .filter(|s| !PARAMETERS.contains(s))
    })
}

impl Endpoint {
    /// The operation, when the request is the OSS door's: signed the OSS way (an
    /// `Authorization: OSS…` header, or a V1 or V4 signed URL's parameters, whatever the
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
            || has_signed_url_params(query.pairs())
            || (method == Method::POST && process);
        if !is_oss {
            return None;
        }
        let target = vhost::resolve_request(uri, headers, domain);
        let sub = sub_resource(query);
        if target.bucket.is_empty() {
            let plain = query
                .pairs()
                .iter()
                .all(|(name, _)| LIST_BUCKETS_PARAMETERS.contains(&name.as_str()));
            return Some(if method == Method::GET && plain {
                Endpoint::ListBuckets
            } else {
                Endpoint::Unsupported(Unsupported::ServiceLevel)
            });
        }
        if target.key.is_empty() {
            return Some(Self::bucket_level(method, query, sub));
        }
        Some(Self::object_level(method, headers, query, process, sub))
    }

    fn bucket_level(method: &Method, query: &Query, sub: Option<&'static str>) -> Endpoint {
        match (method, sub) {
            (&Method::GET, None) if query.get("list-type") == Some("2") => Endpoint::ListObjectsV2,
            // ListObjects refuses any other list-type itself.
            (&Method::GET, None) => Endpoint::ListObjects,
            (&Method::PUT, None) => Endpoint::CreateBucket,
            (&Method::DELETE, None) => Endpoint::DeleteBucket,
            (&Method::GET, Some("bucketInfo")) => Endpoint::GetBucketInfo,
            (&Method::GET, Some("location")) => Endpoint::GetBucketLocation,
            (&Method::GET, Some("acl")) => Endpoint::GetBucketAcl,
            (&Method::PUT, Some("acl")) => Endpoint::PutBucketAcl,
            (&Method::POST, Some("delete")) => Endpoint::DeleteMultipleObjects,
            (&Method::PUT, Some("style")) => Endpoint::PutBucketStyle,
            (&Method::GET, Some("style")) if query.has("styleName") => Endpoint::GetBucketStyle,
            (&Method::GET, Some("style")) => Endpoint::ListBucketStyle,
            (&Method::DELETE, Some("style")) => Endpoint::DeleteBucketStyle,
            (&Method::GET, Some("uploads")) => Endpoint::ListMultipartUploads,
            (_, Some(name)) => Endpoint::Unsupported(Unsupported::SubResource(name)),
            (_, None) => Endpoint::Unsupported(Unsupported::BucketLevel),
        }
    }

    fn object_level(
        method: &Method,
        headers: &HeaderMap,
        query: &Query,
        process: bool,
        sub: Option<&'static str>,
    ) -> Endpoint {
        let copy = headers.contains_key("x-oss-copy-source");
        match (method, sub) {
            (&Method::PUT, Some("uploadId")) if query.has("partNumber") && copy => {
                Endpoint::UploadPartCopy
            }
            (&Method::PUT, Some("uploadId")) if query.has("partNumber") => Endpoint::UploadPart,
            (&Method::POST, Some("uploadId")) => Endpoint::CompleteMultipartUpload,
            (&Method::DELETE, Some("uploadId")) => Endpoint::AbortMultipartUpload,
            (&Method::GET, Some("uploadId")) => Endpoint::ListParts,
            (&Method::POST, Some("uploads")) => Endpoint::InitiateMultipartUpload,
            (&Method::POST, Some("append")) => Endpoint::AppendObject,
            (&Method::PUT, Some("symlink")) => Endpoint::PutSymlink,
            (&Method::GET, Some("symlink")) => Endpoint::GetSymlink,
            (&Method::PUT, Some("tagging")) => Endpoint::PutObjectTagging,
            (&Method::GET, Some("tagging")) => Endpoint::GetObjectTagging,
            (&Method::DELETE, Some("tagging")) => Endpoint::DeleteObjectTagging,
            (&Method::GET, None | Some("objectMeta")) => Endpoint::GetObject,
            (&Method::HEAD, Some("objectMeta")) => Endpoint::GetObjectMeta,
            (&Method::HEAD, None) => Endpoint::HeadObject,
            (&Method::PUT, None) if copy => Endpoint::CopyObject,
            (&Method::PUT, None) => Endpoint::PutObject,
            (&Method::DELETE, None) => Endpoint::DeleteObject,
            (&Method::GET, Some("acl")) => Endpoint::GetObjectAcl,
            (&Method::PUT, Some("acl")) => Endpoint::PutObjectAcl,
            (&Method::POST, None) if process => Endpoint::ProcessObject,
            (&Method::POST, Some("x-oss-async-process")) => Endpoint::AsyncProcessObject,
            (&Method::POST, None) => Endpoint::Unsupported(Unsupported::PostWithoutProcess),
            (&Method::GET | &Method::HEAD | &Method::PUT | &Method::DELETE | &Method::POST, _) => {
                match sub {
                    Some(name) => Endpoint::Unsupported(Unsupported::SubResource(name)),
                    None => Endpoint::MethodNotAllowed,
                }
            }
            _ => Endpoint::MethodNotAllowed,
        }
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

    const OSS: [(&str, &str); 1] = [("authorization", "OSS ak:sig")];

    fn oss(method: Method, uri: &str) -> Option<Endpoint> {
        decode(method, uri, &OSS)
    }

    #[test]
    fn style_operations_decode_whatever_the_parameter_order() {
        use Endpoint as E;
        assert_eq!(
            oss(Method::PUT, "/b?style&styleName=s"),
            Some(E::PutBucketStyle)
        );
        assert_eq!(
            oss(Method::PUT, "/b?styleName=s&style"),
            Some(E::PutBucketStyle)
        );
        assert_eq!(
            oss(Method::GET, "/b?style&styleName=s"),
            Some(E::GetBucketStyle)
        );
        assert_eq!(oss(Method::GET, "/b?style"), Some(E::ListBucketStyle));
        assert_eq!(
            oss(Method::DELETE, "/b?style&styleName=s"),
            Some(E::DeleteBucketStyle)
        );
        // On an object, `?style` is nothing OSS defines: refused, not a plain GET.
        assert_eq!(
            oss(Method::GET, "/b/k?style"),
            Some(E::Unsupported(Unsupported::SubResource("style")))
        );
    }

    #[test]
    fn operations_decode_before_authentication() {
        use Endpoint as E;
        assert_eq!(oss(Method::GET, "/b/k"), Some(E::GetObject));
        assert_eq!(oss(Method::GET, "/b/"), Some(E::ListObjects));
        assert_eq!(oss(Method::HEAD, "/b/k?objectMeta"), Some(E::GetObjectMeta));
        assert_eq!(oss(Method::HEAD, "/b/k"), Some(E::HeadObject));
        assert_eq!(
            decode(
                Method::PUT,
                "/b/k",
                &[("authorization", "OSS a:b"), ("x-oss-copy-source", "/b/j")]
            ),
            Some(E::CopyObject)
        );
        assert_eq!(oss(Method::PUT, "/b/k"), Some(E::PutObject));
        assert_eq!(oss(Method::DELETE, "/b/k"), Some(E::DeleteObject));
        assert_eq!(
            decode(Method::POST, "/b/k?x-oss-process", &[]),
            Some(E::ProcessObject)
        );
        assert_eq!(
            oss(Method::POST, "/b/k"),
            Some(E::Unsupported(Unsupported::PostWithoutProcess))
        );
        assert_eq!(oss(Method::PATCH, "/b/k"), Some(E::MethodNotAllowed));
        assert_eq!(
            decode(
                Method::GET,
                "/b/k?OSSAccessKeyId=a&Expires=1&Signature=s",
                &[]
            ),
            Some(E::GetObject)
        );
        assert_eq!(
            oss(
                Method::GET,
                "/b/k?response-content-type=a&x-oss-process=image/info"
            ),
            Some(E::GetObject)
        );
        assert_eq!(
            decode(Method::GET, "/b/k?x-oss-process=image/resize,w_1", &[]),
            None
        );
        assert_eq!(decode(Method::GET, "/b/k", &[]), None);
    }

    #[test]
    fn bucket_operations_decode_by_method_and_sub_resource() {
        use Endpoint as E;
        assert_eq!(oss(Method::PUT, "/b"), Some(E::CreateBucket));
        assert_eq!(oss(Method::PUT, "/b/"), Some(E::CreateBucket));
        assert_eq!(oss(Method::DELETE, "/b/"), Some(E::DeleteBucket));
        assert_eq!(oss(Method::GET, "/b/?bucketInfo"), Some(E::GetBucketInfo));
        assert_eq!(oss(Method::GET, "/b/?location"), Some(E::GetBucketLocation));
        assert_eq!(oss(Method::GET, "/b/?acl"), Some(E::GetBucketAcl));
        assert_eq!(oss(Method::PUT, "/b/?acl"), Some(E::PutBucketAcl));
        assert_eq!(
            oss(Method::POST, "/b/?delete&encoding-type=url"),
            Some(E::DeleteMultipleObjects)
        );
        assert_eq!(
            oss(
                Method::GET,
                "/b/?list-type=2&continuation-token=&start-after=&fetch-owner=false"
            ),
            Some(E::ListObjectsV2)
        );
        assert_eq!(
            oss(Method::GET, "/b/?list-type=2&continuation-token=abc"),
            Some(E::ListObjectsV2)
        );
        assert_eq!(oss(Method::GET, "/b/?list-type=3"), Some(E::ListObjects));
        assert_eq!(
            oss(Method::GET, "/b/?prefix=a&marker=b&max-keys=3&delimiter=/"),
            Some(E::ListObjects)
        );
        // A sub-resource with a method it has no operation for is refused by name.
        assert_eq!(
            oss(Method::DELETE, "/b/?acl"),
            Some(E::Unsupported(Unsupported::SubResource("acl")))
        );
        assert_eq!(
            oss(Method::GET, "/b/?delete"),
            Some(E::Unsupported(Unsupported::SubResource("delete")))
        );
        assert_eq!(
            oss(Method::PUT, "/b/?lifecycle"),
            Some(E::Unsupported(Unsupported::SubResource("lifecycle")))
        );
        assert_eq!(
            oss(Method::HEAD, "/b/"),
            Some(E::Unsupported(Unsupported::BucketLevel))
        );
        assert_eq!(
            oss(Method::POST, "/b/"),
            Some(E::Unsupported(Unsupported::BucketLevel))
        );
    }

    #[test]
    fn service_level_is_list_buckets_or_refused() {
        use Endpoint as E;
        assert_eq!(oss(Method::GET, "/"), Some(E::ListBuckets));
        assert_eq!(
            oss(Method::GET, "/?prefix=a&marker=b&max-keys=2"),
            Some(E::ListBuckets)
        );
        assert_eq!(
            decode(
                Method::GET,
                "/?OSSAccessKeyId=a&Expires=1&Signature=s&prefix=p",
                &[]
            ),
            Some(E::ListBuckets)
        );
        assert_eq!(
            decode(
                Method::GET,
                "/?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=a&x-oss-date=d&x-oss-expires=60&x-oss-signature=s",
                &[]
            ),
            Some(E::ListBuckets)
        );
        for refused in ["/?regions", "/?qosInfo", "/?tag-key=a"] {
            assert_eq!(
                oss(Method::GET, refused),
                Some(E::Unsupported(Unsupported::ServiceLevel)),
                "{refused}"
            );
        }
        assert_eq!(
            oss(Method::PUT, "/"),
            Some(E::Unsupported(Unsupported::ServiceLevel))
        );
        // Anonymous or SigV4 requests to `/` stay the S3 door's.
        assert_eq!(decode(Method::GET, "/", &[]), None);
    }

    #[test]
    fn object_sub_resources_are_never_ignored() {
        use Endpoint as E;
        assert_eq!(oss(Method::GET, "/b/k?acl"), Some(E::GetObjectAcl));
        assert_eq!(oss(Method::PUT, "/b/k?acl"), Some(E::PutObjectAcl));
        for (method, uri, name) in [
            (Method::DELETE, "/b/k?acl", "acl"),
            (Method::POST, "/b/k?tagging", "tagging"),
            (Method::DELETE, "/b/k?symlink", "symlink"),
            (Method::GET, "/b/k?append&position=0", "append"),
            (Method::GET, "/b/k?uploads", "uploads"),
            // A part number alone is not an upload: never a plain PUT.
            (Method::PUT, "/b/k?partNumber=1", "partNumber"),
            (Method::PUT, "/b/k?uploadId=u", "uploadId"),
            (Method::GET, "/b/k?security-token=t", "security-token"),
            // Async processing is a POST; with another method it names nothing.
            (
                Method::GET,
                "/b/k?x-oss-async-process",
                "x-oss-async-process",
            ),
        ] {
            assert_eq!(
                oss(method.clone(), uri),
                Some(E::Unsupported(Unsupported::SubResource(name))),
                "{method} {uri}"
            );
        }
        assert_eq!(
            oss(Method::POST, "/b/k?x-oss-async-process"),
            Some(E::AsyncProcessObject)
        );
        // Without an OSS signature it is not this door's (no anonymous task queue).
        assert_eq!(decode(Method::POST, "/b/k?x-oss-async-process", &[]), None);
        assert_eq!(
            Unsupported::SubResource("tagging").what(),
            "the tagging sub-resource"
        );
    }

    #[test]
    fn multipart_append_symlink_and_tagging_decode() {
        use Endpoint as E;
        let copy = [("authorization", "OSS a:b"), ("x-oss-copy-source", "/b/j")];
        for (method, uri, want) in [
            (Method::POST, "/b/k?uploads", E::InitiateMultipartUpload),
            (
                Method::POST,
                "/b/k?uploads&sequential",
                E::InitiateMultipartUpload,
            ),
            (Method::PUT, "/b/k?partNumber=1&uploadId=u", E::UploadPart),
            (Method::PUT, "/b/k?uploadId=u&partNumber=1", E::UploadPart),
            (Method::POST, "/b/k?uploadId=u", E::CompleteMultipartUpload),
            (Method::DELETE, "/b/k?uploadId=u", E::AbortMultipartUpload),
            (Method::GET, "/b/k?uploadId=u&max-parts=2", E::ListParts),
            (Method::GET, "/b/?uploads&prefix=p", E::ListMultipartUploads),
            (Method::POST, "/b/k?append&position=0", E::AppendObject),
            (Method::POST, "/b/k?position=5&append", E::AppendObject),
            (Method::PUT, "/b/k?symlink", E::PutSymlink),
            (Method::GET, "/b/k?symlink", E::GetSymlink),
            (Method::PUT, "/b/k?tagging", E::PutObjectTagging),
            (Method::GET, "/b/k?tagging", E::GetObjectTagging),
            (Method::DELETE, "/b/k?tagging", E::DeleteObjectTagging),
        ] {
            assert_eq!(oss(method.clone(), uri), Some(want), "{method} {uri}");
        }
        assert_eq!(
            decode(Method::PUT, "/b/k?partNumber=2&uploadId=u", &copy),
            Some(E::UploadPartCopy)
        );
        // `position` alone qualifies nothing: a plain GET.
        assert_eq!(oss(Method::GET, "/b/k?position=3"), Some(E::GetObject));
    }
}
