//! Object tagging: PutObjectTagging, GetObjectTagging, DeleteObjectTagging (`?tagging`
//! on an object), and the `x-oss-tagging` header that PutObject, CopyObject (with
//! `x-oss-tagging-directive: Replace`), InitiateMultipartUpload and the first
//! AppendObject take.
//!
//! A tag set is validated whole before anything is written ([`store::check_tags`]:
//! at most 10 tags, keys 1-128 bytes, values up to 256), and a duplicate key is
//! `InvalidTag`, so a refused request changes nothing. Tags belong to the row at the
//! key: a symlink's tags are its own.

use super::{OssDoor, OssError, OssRequest, from_store_error, malformed_xml};
use crate::kernel::{self, BoxBody, xml};
use http::{HeaderMap, Response, StatusCode};
use percent_encoding::percent_decode_str;
use std::fmt::Write as _;
use store::{Permission, StoreError, Tags};

fn invalid_tag(message: String) -> OssError {
    from_store_error(StoreError::InvalidTag(message))
}

/// Tags from `x-oss-tagging` (`k1=v1&k2=v2`, keys and values percent-encoded): `None`
/// without the header.
pub(super) fn tags_from_header(headers: &HeaderMap) -> Result<Option<Tags>, OssError> {
    let Some(value) = headers.get("x-oss-tagging") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        invalid_tag("x-oss-tagging must be ASCII, its non-ASCII bytes percent-encoded".into())
    })?;
    let mut tags = Tags::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| invalid_tag(format!("x-oss-tagging's {pair:?} is not UTF-8")))
        };
        let key = decode(k)?;
        if tags.insert(key.clone(), decode(v)?).is_some() {
            return Err(invalid_tag(format!("the tag key {key:?} is given twice")));
        }
    }
    store::check_tags(&tags).map_err(from_store_error)?;
    Ok(Some(tags))
}

/// The `Tagging` document of PutObjectTagging, validated whole.
fn parse_tagging(body: &[u8]) -> Result<Tags, OssError> {
    let doc = xml::parse(body).map_err(|why| malformed_xml(&why))?;
    if doc.name != "Tagging" {
        return Err(malformed_xml("the root element must be Tagging"));
    }
    let set = doc
        .child("TagSet")
        .ok_or_else(|| malformed_xml("Tagging needs a TagSet"))?;
    let mut tags = Tags::new();
    for tag in set.children_named("Tag") {
        let key = tag
            .child("Key")
            .ok_or_else(|| malformed_xml("every Tag needs a Key"))?
            .text
            .clone();
        let value = tag
            .child("Value")
            .map(|v| v.text.clone())
            .unwrap_or_default();
        if tags.insert(key.clone(), value).is_some() {
            return Err(invalid_tag(format!("the tag key {key:?} is given twice")));
        }
    }
    store::check_tags(&tags).map_err(from_store_error)?;
    Ok(tags)
}

fn tagging_document(tags: &Tags) -> String {
    let mut doc = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging><TagSet>");
    for (k, v) in tags {
        let _ = write!(
            doc,
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            xml::escape(k),
            xml::escape(v)
        );
    }
    doc.push_str("</TagSet></Tagging>");
    doc
}

impl OssDoor {
    pub(super) async fn put_object_tagging(
        &self,
        req: &OssRequest,
        body: &[u8],
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        let tags = parse_tagging(body)?;
        self.images
            .store()
            .set_tags(&req.bucket, &req.key, &tags)
            .await
            .map_err(from_store_error)?;
        Ok(kernel::full(StatusCode::OK, "application/xml", ""))
    }

    pub(super) async fn get_object_tagging(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let row = self
            .images
            .store()
            .object_row(&req.bucket, &req.key)
            .await
            .map_err(from_store_error)?;
        Ok(kernel::full(
            StatusCode::OK,
            "application/xml",
            tagging_document(&row.tags),
        ))
    }

    pub(super) async fn delete_object_tagging(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        self.images
            .store()
            .set_tags(&req.bucket, &req.key, &Tags::new())
            .await
            .map_err(from_store_error)?;
        Ok(kernel::no_content())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(doc: &str) -> Result<Vec<(String, String)>, &'static str> {
        parse_tagging(doc.as_bytes())
            .map(|t| t.into_iter().collect())
            .map_err(|e| e.code)
    }

    #[test]
    fn tagging_documents_as_oss2_writes_them() {
        let doc = "<Tagging><TagSet><Tag><Key>k1</Key><Value>v1</Value></Tag><Tag><Key>&#20013;</Key><Value>a&amp;b</Value></Tag></TagSet></Tagging>";
        assert_eq!(
            parsed(doc),
            Ok(vec![
                ("k1".into(), "v1".into()),
                ("中".into(), "a&b".into())
            ])
        );
        assert_eq!(parsed("<Tagging><TagSet/></Tagging>"), Ok(vec![]));
        let round =
            parse_tagging(tagging_document(&Tags::from([("a<".into(), "&".into())])).as_bytes());
        assert_eq!(round.map(|t| t.len()).ok(), Some(1));
    }

    #[test]
    fn tagging_header() {
        let mut h = HeaderMap::new();
        assert_eq!(tags_from_header(&h).map_err(|e| e.code), Ok(None));
        h.insert(
            "x-oss-tagging",
            "a=1&b%20c=%E4%B8%AD&empty=".parse().unwrap(),
        );
        let tags = tags_from_header(&h).unwrap().unwrap();
        assert_eq!(tags.get("b c").map(String::as_str), Some("中"));
        assert_eq!(tags.get("empty").map(String::as_str), Some(""));
        assert_eq!(tags.len(), 3);
        for bad in ["a=1&a=2", "=v", "k=%ff"] {
            h.insert("x-oss-tagging", bad.parse().unwrap());
            assert_eq!(
                tags_from_header(&h).map_err(|e| e.code),
                Err("InvalidTag"),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_tag_sets_are_refused_whole() {
        assert_eq!(parsed("<Tagging>"), Err("MalformedXML"));
        assert_eq!(parsed("<Tags><TagSet/></Tags>"), Err("MalformedXML"));
        assert_eq!(parsed("<Tagging></Tagging>"), Err("MalformedXML"));
        assert_eq!(
            parsed("<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>"),
            Err("MalformedXML")
        );
        let dup = "<Tagging><TagSet><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></TagSet></Tagging>";
        assert_eq!(parsed(dup), Err("InvalidTag"));
        let eleven: String = (0..11)
            .map(|i| format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>"))
            .collect();
        assert_eq!(
            parsed(&format!("<Tagging><TagSet>{eleven}</TagSet></Tagging>")),
            Err("InvalidTag")
        );
    }
}
