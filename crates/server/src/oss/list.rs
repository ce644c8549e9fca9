//! ListObjects (`GET /bucket/`: prefix, marker, delimiter and max-keys) and ListObjectsV2
//! (`list-type=2`: continuation-token, start-after, fetch-owner as well), answered with
//! OSS's `ListBucketResult`. With `encoding-type=url` (which `oss2` always sends) keys,
//! prefixes and markers are percent-encoded, so any key survives XML.
//!
//! Both read one page from [`store::Store::list_objects`]; V2's continuation token is the
//! store's ([`store::ListPage::continuation_token`], the same the S3 door hands out).

use super::get::oss_etag;
use super::{OWNER_XML, OssDoor, OssError, OssRequest, from_store_error, invalid_argument};
use crate::auth::oss::iso8601_ms;
use crate::kernel::xml::escape as xml_escape;
use crate::kernel::{self, BoxBody};
use http::{Response, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::fmt::Write as _;
use store::{ListPage, ListQuery, Permission};

/// Left as they are under `encoding-type=url`.
const URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

const DEFAULT_MAX_KEYS: usize = 100;
const MAX_MAX_KEYS: usize = 1000;

/// `max-keys`: 100 when absent, at most 1000 (ListObjects, ListObjectsV2, ListBuckets).
pub(super) fn max_keys(value: Option<&str>) -> Result<usize, OssError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_MAX_KEYS),
        Some(v) => v
            .parse::<usize>()
            .map(|n| n.min(MAX_MAX_KEYS))
            .map_err(|_| invalid_argument("max-keys must be an integer between 0 and 1000.")),
    }
}

/// How keys, prefixes and markers are written into a response: percent-encoded under
/// `encoding-type=url`, then XML-escaped.
pub(super) struct KeyEncoding {
    url: bool,
}

impl KeyEncoding {
    pub(super) fn of(req: &OssRequest) -> Result<KeyEncoding, OssError> {
        match req.param("encoding-type") {
            None | Some("") => Ok(KeyEncoding { url: false }),
            Some(t) if t.eq_ignore_ascii_case("url") => Ok(KeyEncoding { url: true }),
            Some(_) => Err(invalid_argument("encoding-type must be url.")),
        }
    }

    pub(super) fn text(&self, s: &str) -> String {
        if self.url {
            xml_escape(&utf8_percent_encode(s, URL_KEEP).to_string())
        } else {
            xml_escape(s)
        }
    }

    /// `<EncodingType>url</EncodingType>` when the keys are encoded.
    pub(super) fn element(&self) -> &'static str {
        if self.url {
            "<EncodingType>url</EncodingType>"
        } else {
            ""
        }
    }
}

fn flag(value: Option<&str>, name: &str) -> Result<bool, OssError> {
    match value.map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(invalid_argument(format!("{name} must be true or false."))),
    }
}

/// A parameter, `None` when absent or empty (`oss2` sends every parameter, most empty).
fn given<'a>(req: &'a OssRequest, name: &str) -> Option<&'a str> {
    req.param(name).filter(|v| !v.is_empty())
}

/// The `Contents` and `CommonPrefixes` of a page.
fn write_entries(xml: &mut String, page: &ListPage, enc: &KeyEncoding, with_owner: bool) {
    for o in &page.objects {
        let object_type = super::get::object_type(o);
        let _ = write!(
            xml,
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Type>{object_type}</Type><Size>{}</Size><StorageClass>Standard</StorageClass>{}</Contents>",
            enc.text(&o.key),
            iso8601_ms(o.modified_ms),
            xml_escape(&oss_etag(&o.etag)),
            o.size,
            if with_owner { OWNER_XML } else { "" }
        );
    }
    for p in &page.common_prefixes {
        let _ = write!(
            xml,
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            enc.text(p)
        );
    }
}

impl OssDoor {
    async fn list_page(
        &self,
        req: &OssRequest,
        after: Option<String>,
        max: usize,
    ) -> Result<ListPage, OssError> {
        self.images
            .store()
            .list_objects(
                &req.bucket,
                &ListQuery {
                    prefix: req.param("prefix").unwrap_or("").to_owned(),
                    delimiter: given(req, "delimiter").map(str::to_owned),
                    after,
                    max_keys: max,
                },
            )
            .await
            .map_err(from_store_error)
    }

    pub(super) async fn list_objects(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        if req.has_param("list-type") {
            return Err(invalid_argument(
                "list-type must be 2 (ListObjectsV2), or absent (ListObjects).",
            ));
        }
        let enc = KeyEncoding::of(req)?;
        let prefix = req.param("prefix").unwrap_or("");
        let marker = req.param("marker").unwrap_or("");
        let delimiter = req.param("delimiter").unwrap_or("");
        let max = max_keys(req.param("max-keys"))?;
        let page = self
            .list_page(req, (!marker.is_empty()).then(|| marker.to_owned()), max)
            .await?;

        let mut xml =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>");
        let _ = write!(
            xml,
            "<Name>{}</Name><Prefix>{}</Prefix><Marker>{}</Marker><MaxKeys>{max}</MaxKeys><Delimiter>{}</Delimiter>{}",
            xml_escape(&req.bucket),
            enc.text(prefix),
            enc.text(marker),
            enc.text(delimiter),
            enc.element()
        );
        let _ = write!(xml, "<IsTruncated>{}</IsTruncated>", page.truncated);
        if page.truncated
            && let Some(next) = &page.next_marker
        {
            let _ = write!(xml, "<NextMarker>{}</NextMarker>", enc.text(next));
        }
        write_entries(&mut xml, &page, &enc, true);
        xml.push_str("</ListBucketResult>");
        Ok(kernel::full(StatusCode::OK, "application/xml", xml))
    }

    /// ListObjectsV2: a continuation token (which wins over `start-after`) resumes where
    /// the previous page ended; `Owner` only with `fetch-owner=true`; `KeyCount` counts
    /// keys and common prefixes.
    pub(super) async fn list_objects_v2(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let enc = KeyEncoding::of(req)?;
        let max = max_keys(req.param("max-keys"))?;
        let fetch_owner = flag(req.param("fetch-owner"), "fetch-owner")?;
        let token = given(req, "continuation-token");
        let start_after = given(req, "start-after");
        let after = match token {
            Some(t) => Some(store::marker_of_token(t).ok_or_else(|| {
                invalid_argument("The continuation token provided is incorrect.")
            })?),
            None => start_after.map(str::to_owned),
        };
        let page = self.list_page(req, after, max).await?;

        let mut xml =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>");
        let _ = write!(
            xml,
            "<Name>{}</Name><Prefix>{}</Prefix>",
            xml_escape(&req.bucket),
            enc.text(req.param("prefix").unwrap_or(""))
        );
        if let Some(s) = start_after {
            let _ = write!(xml, "<StartAfter>{}</StartAfter>", enc.text(s));
        }
        if let Some(t) = token {
            let _ = write!(
                xml,
                "<ContinuationToken>{}</ContinuationToken>",
                xml_escape(t)
            );
        }
        let _ = write!(
            xml,
            "<MaxKeys>{max}</MaxKeys><Delimiter>{}</Delimiter>{}<IsTruncated>{}</IsTruncated>",
            enc.text(req.param("delimiter").unwrap_or("")),
            enc.element(),
            page.truncated
        );
        if let Some(next) = page.continuation_token() {
            let _ = write!(
                xml,
                "<NextContinuationToken>{}</NextContinuationToken>",
                xml_escape(&next)
            );
        }
        let _ = write!(
            xml,
            "<KeyCount>{}</KeyCount>",
            page.objects.len() + page.common_prefixes.len()
        );
        write_entries(&mut xml, &page, &enc, fetch_owner);
        xml.push_str("</ListBucketResult>");
        Ok(kernel::full(StatusCode::OK, "application/xml", xml))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_keys_defaults_and_caps() {
        assert_eq!(max_keys(None).unwrap(), 100);
        assert_eq!(max_keys(Some("")).unwrap(), 100);
        assert_eq!(max_keys(Some("7")).unwrap(), 7);
        assert_eq!(max_keys(Some("5000")).unwrap(), 1000);
        assert_eq!(max_keys(Some("-1")).unwrap_err().code, "InvalidArgument");
        assert_eq!(max_keys(Some("many")).unwrap_err().code, "InvalidArgument");
    }

    #[test]
    fn flags_and_key_encoding() {
        assert!(!flag(None, "f").unwrap());
        assert!(flag(Some("true"), "f").unwrap());
        assert!(!flag(Some("False"), "f").unwrap());
        assert_eq!(flag(Some("yes"), "f").unwrap_err().code, "InvalidArgument");
        let url = KeyEncoding { url: true };
        assert_eq!(url.text("dir/a b&ü.jpg"), "dir/a%20b%26%C3%BC.jpg");
        let plain = KeyEncoding { url: false };
        assert_eq!(plain.text("a&b<"), "a&amp;b&lt;");
        assert_eq!(plain.element(), "");
    }
}
