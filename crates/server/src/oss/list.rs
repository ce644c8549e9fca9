//! ListObjects (`GET /bucket/`): prefix, marker, delimiter and max-keys, answered with
//! OSS's `ListBucketResult`. With `encoding-type=url` (which `oss2` always sends) keys,
//! prefixes and markers are percent-encoded, so any key survives XML.

use super::get::oss_etag;
use super::{OssDoor, OssError, OssRequest, from_store_error, invalid_argument, not_implemented};
use crate::auth::oss::iso8601_ms;
use crate::kernel::xml::escape as xml_escape;
use crate::kernel::{self, BoxBody};
use http::{Response, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::fmt::Write as _;
use store::{ListQuery, Permission};

/// Left as they are under `encoding-type=url`.
const URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

const DEFAULT_MAX_KEYS: usize = 100;
const MAX_MAX_KEYS: usize = 1000;

fn max_keys(value: Option<&str>) -> Result<usize, OssError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_MAX_KEYS),
        Some(v) => v
            .parse::<usize>()
            .map(|n| n.min(MAX_MAX_KEYS))
            .map_err(|_| invalid_argument("max-keys must be an integer between 0 and 1000.")),
    }
}

impl OssDoor {
    pub(super) async fn list_objects(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        if req.has_param("list-type") {
            return Err(not_implemented("ListObjectsV2 (list-type=2)"));
        }
        let url_encoded = match req.param("encoding-type") {
            None | Some("") => false,
            Some(t) if t.eq_ignore_ascii_case("url") => true,
            Some(_) => return Err(invalid_argument("encoding-type must be url.")),
        };
        let enc = |s: &str| -> String {
            let s = if url_encoded {
                utf8_percent_encode(s, URL_KEEP).to_string()
            } else {
                s.to_owned()
            };
            xml_escape(&s)
        };
        let prefix = req.param("prefix").unwrap_or("");
        let marker = req.param("marker").unwrap_or("");
        let delimiter = req.param("delimiter").unwrap_or("");
        let max = max_keys(req.param("max-keys"))?;
        let page = self
            .images
            .store()
            .list_objects(
                &req.bucket,
                &ListQuery {
                    prefix: prefix.to_owned(),
                    delimiter: (!delimiter.is_empty()).then(|| delimiter.to_owned()),
                    after: (!marker.is_empty()).then(|| marker.to_owned()),
                    max_keys: max,
                },
            )
            .await
            .map_err(from_store_error)?;

        let mut xml =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>");
        let _ = write!(
            xml,
            "<Name>{}</Name><Prefix>{}</Prefix><Marker>{}</Marker><MaxKeys>{max}</MaxKeys><Delimiter>{}</Delimiter>",
            xml_escape(&req.bucket),
            enc(prefix),
            enc(marker),
            enc(delimiter)
        );
        if url_encoded {
            xml.push_str("<EncodingType>url</EncodingType>");
        }
        let _ = write!(xml, "<IsTruncated>{}</IsTruncated>", page.truncated);
        if page.truncated
            && let Some(next) = &page.next_marker
        {
            let _ = write!(xml, "<NextMarker>{}</NextMarker>", enc(next));
        }
        for o in &page.objects {
            let object_type = if o.parts_count.is_some() {
                "Multipart"
            } else {
                "Normal"
            };
            let _ = write!(
                xml,
                "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Type>{object_type}</Type><Size>{}</Size><StorageClass>Standard</StorageClass><Owner><ID>imgd</ID><DisplayName>imgd</DisplayName></Owner></Contents>",
                enc(&o.key),
                iso8601_ms(o.modified_ms),
                xml_escape(&oss_etag(&o.etag)),
                o.size
            );
        }
        for p in &page.common_prefixes {
            let _ = write!(
                xml,
                "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                enc(p)
            );
        }
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
}
