//! Buckets on the OSS door: ListBuckets (`GET /`: prefix, marker, max-keys), CreateBucket
//! (`PUT /bucket` with `x-oss-acl` and an optional `CreateBucketConfiguration`),
//! DeleteBucket, GetBucketInfo (`?bucketInfo`) and GetBucketLocation (`?location`), in
//! OSS's XML, over the store's buckets (the same the S3 door and the CLI see).
//!
//! imgd has one account, the root key's: only it creates and deletes buckets, and
//! re-creating a bucket it has succeeds with the stored ACL kept, as on the S3 door (so a
//! program that creates its bucket at every start cannot flip it back to private). An
//! extra key lists the buckets it was granted. Every bucket holds `Standard` storage, one
//! copy (`LRS`), in `oss-<region>`; a configuration asking for anything else is refused
//! rather than reported falsely.

use super::acl::canned_bucket_acl;
use super::list::max_keys;
use super::{
    OWNER_XML, OssDoor, OssError, OssRequest, access_denied, from_store_error, invalid_argument,
    malformed_xml,
};
use crate::auth::Caller;
use crate::auth::oss::iso8601_ms;
use crate::kernel::xml::{self, escape as xml_escape};
use crate::kernel::{self, BoxBody};
use http::{HeaderValue, Response, StatusCode};
use std::fmt::Write as _;
use store::{BucketInfo, Permission, StoreError};

const XML_HEADER: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// OSS's storage classes; imgd keeps every object in the first.
const STORAGE_CLASSES: [&str; 5] = [
    "Standard",
    "IA",
    "Archive",
    "ColdArchive",
    "DeepColdArchive",
];

/// Checks a `CreateBucketConfiguration` body (empty: none). Only `Standard` storage and
/// `LRS` redundancy are what imgd keeps.
fn check_configuration(body: &[u8]) -> Result<(), OssError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let doc = xml::parse(body).map_err(|why| malformed_xml(&why))?;
    if doc.name != "CreateBucketConfiguration" {
        return Err(malformed_xml(
            "the root element must be CreateBucketConfiguration",
        ));
    }
    if let Some(class) = doc.child("StorageClass").map(|c| c.text.trim()) {
        match STORAGE_CLASSES
            .iter()
            .find(|known| known.eq_ignore_ascii_case(class))
        {
            Some(&"Standard") => {}
            _ if class.is_empty() => {}
            Some(other) => {
                return Err(invalid_argument(format!(
                    "imgd keeps every object as Standard storage; StorageClass {other} is not supported."
                )));
            }
            None => {
                return Err(invalid_argument(format!(
                    "StorageClass {class:?} is not one of {}.",
                    STORAGE_CLASSES.join(", ")
                )));
            }
        }
    }
    match doc.child("DataRedundancyType").map(|r| r.text.trim()) {
        None | Some("") | Some("LRS") => Ok(()),
        Some("ZRS") => Err(invalid_argument(
            "imgd keeps one copy of each object (LRS); DataRedundancyType ZRS is not supported.",
        )),
        Some(other) => Err(invalid_argument(format!(
            "DataRedundancyType {other:?} is not one of LRS, ZRS."
        ))),
    }
}

fn bucket_name_check(name: &str) -> Result<(), OssError> {
    match store::bucket_name_problem(name) {
        None => Ok(()),
        Some(problem) => Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            problem,
        )),
    }
}

impl OssDoor {
    /// `oss-<region>`, OSS's name for where a bucket is.
    fn location(&self) -> String {
        if self.region.starts_with("oss-") {
            self.region.clone()
        } else {
            format!("oss-{}", self.region)
        }
    }

    /// The endpoint clients reach this imgd at (OSS's `ExtranetEndpoint`): the `Host` the
    /// request named, less a virtual-hosted bucket's name.
    fn endpoint_host(&self, req: &OssRequest) -> String {
        let host = req.host.as_deref().unwrap_or("localhost");
        if let Some(domain) = &self.domain
            && !req.bucket.is_empty()
            && let Some(rest) = host.strip_prefix(&format!("{}.", req.bucket))
            && rest
                .split(':')
                .next()
                .is_some_and(|h| h.eq_ignore_ascii_case(domain))
        {
            return rest.to_owned();
        }
        host.to_owned()
    }

    /// What a bucket entry of ListBuckets and GetBucketInfo share.
    fn bucket_fields(&self, req: &OssRequest, b: &BucketInfo) -> String {
        let endpoint = xml_escape(&self.endpoint_host(req));
        format!(
            "<CreationDate>{}</CreationDate><ExtranetEndpoint>{endpoint}</ExtranetEndpoint><IntranetEndpoint>{endpoint}</IntranetEndpoint><Location>{}</Location><Name>{}</Name><Region>{}</Region><StorageClass>Standard</StorageClass>",
            iso8601_ms(b.created_ms),
            xml_escape(&self.location()),
            xml_escape(&b.name),
            xml_escape(&self.region)
        )
    }

    /// ListBuckets: the buckets the caller may read (all of them for the root key), in
    /// name order, after `marker`, starting with `prefix`.
    pub(super) async fn list_buckets(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        let prefix = req.param("prefix").unwrap_or("");
        let marker = req.param("marker").unwrap_or("");
        let max = max_keys(req.param("max-keys"))?;
        let mut page: Vec<BucketInfo> = Vec::new();
        let mut truncated = false;
        if max > 0 {
            let buckets = self
                .images
                .store()
                .list_buckets()
                .await
                .map_err(from_store_error)?;
            for b in buckets.into_iter().filter(|b| {
                b.name.starts_with(prefix)
                    && b.name.as_str() > marker
                    && req.caller.may(&b.name, Permission::Read)
            }) {
                if page.len() == max {
                    truncated = true;
                    break;
                }
                page.push(b);
            }
        }
        let mut xml = format!(
            "{XML_HEADER}<ListAllMyBucketsResult><Prefix>{}</Prefix><Marker>{}</Marker><MaxKeys>{max}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
            xml_escape(prefix),
            xml_escape(marker)
        );
        if truncated && let Some(last) = page.last() {
            let _ = write!(xml, "<NextMarker>{}</NextMarker>", xml_escape(&last.name));
        }
        xml.push_str(OWNER_XML);
        xml.push_str("<Buckets>");
        for b in &page {
            let _ = write!(xml, "<Bucket>{}</Bucket>", self.bucket_fields(req, b));
        }
        xml.push_str("</Buckets></ListAllMyBucketsResult>");
        Ok(kernel::full(StatusCode::OK, "application/xml", xml))
    }

    /// CreateBucket: `x-oss-acl` private (the default) or public-read, and an optional
    /// `CreateBucketConfiguration`. An extra key gets `BucketAlreadyExists` for a bucket
    /// that exists (it is the root's) and `AccessDenied` for a new one.
    pub(super) async fn create_bucket(
        &self,
        req: &OssRequest,
        body: &[u8],
    ) -> Result<Response<BoxBody>, OssError> {
        let store = self.images.store();
        if let Caller::Key(_) = req.caller {
            return match store.bucket(&req.bucket).await {
                Ok(_) => Err(OssError::new(
                    StatusCode::CONFLICT,
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                )),
                Err(StoreError::NoSuchBucket) => Err(access_denied()),
                Err(e) => Err(from_store_error(e)),
            };
        }
        bucket_name_check(&req.bucket)?;
        let acl = canned_bucket_acl(req.header("x-oss-acl"))?;
        check_configuration(body)?;
        match store.create_bucket(&req.bucket, acl).await {
            Ok(()) => {
                tracing::info!(bucket = %req.bucket, acl = acl.as_str(), "bucket created (OSS)");
            }
            Err(StoreError::BucketExists) => {}
            Err(e) => return Err(from_store_error(e)),
        }
        let mut resp = kernel::full(StatusCode::OK, "application/xml", "");
        if let Ok(v) = HeaderValue::from_str(&format!("/{}", req.bucket)) {
            resp.headers_mut().insert(http::header::LOCATION, v);
        }
        Ok(resp)
    }

    /// DeleteBucket: 204; `BucketNotEmpty` while it holds objects.
    pub(super) async fn delete_bucket(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require_root()?;
        self.images
            .store()
            .delete_bucket(&req.bucket)
            .await
            .map_err(from_store_error)?;
        tracing::info!(bucket = %req.bucket, "bucket deleted (OSS)");
        Ok(kernel::no_content())
    }

    pub(super) async fn get_bucket_info(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let b = self
            .images
            .store()
            .bucket(&req.bucket)
            .await
            .map_err(from_store_error)?;
        let xml = format!(
            "{XML_HEADER}<BucketInfo><Bucket><AccessMonitor>Disabled</AccessMonitor>{}<TransferAcceleration>Disabled</TransferAcceleration><CrossRegionReplication>Disabled</CrossRegionReplication><DataRedundancyType>LRS</DataRedundancyType>{OWNER_XML}<AccessControlList><Grant>{}</Grant></AccessControlList><ServerSideEncryptionRule><SSEAlgorithm>None</SSEAlgorithm></ServerSideEncryptionRule></Bucket></BucketInfo>",
            self.bucket_fields(req, &b),
            b.acl.as_str()
        );
        Ok(kernel::full(StatusCode::OK, "application/xml", xml))
    }

    pub(super) async fn get_bucket_location(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        self.images
            .store()
            .bucket(&req.bucket)
            .await
            .map_err(from_store_error)?;
        let xml = format!(
            "{XML_HEADER}<LocationConstraint>{}</LocationConstraint>",
            xml_escape(&self.location())
        );
        Ok(kernel::full(StatusCode::OK, "application/xml", xml))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Result<(), &'static str> {
        check_configuration(body.as_bytes()).map_err(|e| e.code)
    }

    #[test]
    fn configurations_accept_what_imgd_keeps() {
        assert_eq!(code(""), Ok(()));
        assert_eq!(
            code(
                "<?xml version='1.0' encoding='utf-8'?>\n<CreateBucketConfiguration><StorageClass>Standard</StorageClass></CreateBucketConfiguration>"
            ),
            Ok(())
        );
        assert_eq!(
            code(
                "<CreateBucketConfiguration><StorageClass>standard</StorageClass><DataRedundancyType>LRS</DataRedundancyType></CreateBucketConfiguration>"
            ),
            Ok(())
        );
        assert_eq!(code("<CreateBucketConfiguration/>"), Ok(()));
        for refused in [
            "<CreateBucketConfiguration><StorageClass>IA</StorageClass></CreateBucketConfiguration>",
            "<CreateBucketConfiguration><StorageClass>Cold</StorageClass></CreateBucketConfiguration>",
            "<CreateBucketConfiguration><DataRedundancyType>ZRS</DataRedundancyType></CreateBucketConfiguration>",
        ] {
            assert_eq!(code(refused), Err("InvalidArgument"), "{refused}");
        }
        assert_eq!(code("<CreateBucketConfiguration>"), Err("MalformedXML"));
        assert_eq!(code("<Delete/>"), Err("MalformedXML"));
    }

    #[test]
    fn bucket_names_follow_the_stores_rule() {
        assert!(bucket_name_check("photos-2").is_ok());
        let e = bucket_name_check("Bad_Name").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "InvalidBucketName"));
    }
}
