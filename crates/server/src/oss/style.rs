//! The image style API on the OSS door: PutStyle, GetStyle, ListStyle and DeleteStyle
//! (`?style`, `styleName=`), in OSS's XML.
//!
//! These are imgd's own styles ([`store::Store::put_style`]): one table, so a style saved
//! here answers `style/<name>` and `bucket/key!name` at once, and is the one the CLI and
//! the admin API list, change and delete. The content is checked by the rule every way of
//! saving a style uses ([`imaging::oss::style_content`]) before anything is stored.

use super::{OssDoor, OssError, OssRequest, from_store_error, invalid_argument, malformed_xml};
use crate::kernel::{self, BoxBody, date, xml};
use http::{Response, StatusCode};
use std::fmt::Write as _;
use store::{Permission, Style};

fn style_name(req: &OssRequest) -> Result<&str, OssError> {
    req.param("styleName")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid_argument("The style operation needs a styleName parameter."))
}

fn no_such_style(bucket: &str, name: &str) -> OssError {
    OssError::new(
        StatusCode::NOT_FOUND,
        "NoSuchStyle",
        format!("The bucket {bucket} has no style named {name:?}."),
    )
}

/// `<Content>` of a `<Style>` document.
fn content_of(body: &[u8]) -> Result<String, OssError> {
    let doc = xml::parse(body).map_err(|why| malformed_xml(&why))?;
    if doc.name != "Style" {
        return Err(malformed_xml("the root element must be Style"));
    }
    let content = doc
        .child("Content")
        .map(|c| c.text.trim().to_owned())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| malformed_xml("Style must have a non-empty Content"))?;
    Ok(content)
}

fn style_xml(out: &mut String, s: &Style) {
    let when = date::format_http_date(s.modified_ms.div_euclid(1000));
    // imgd keeps one time per style: when it was last saved.
    let _ = write!(
        out,
        "<Style><Name>{}</Name><Content>{}</Content><CreateTime>{when}</CreateTime><LastModifyTime>{when}</LastModifyTime></Style>",
        xml::escape(&s.name),
        xml::escape(&s.process)
    );
}

fn xml_response(body: String) -> Response<BoxBody> {
    kernel::full(
        StatusCode::OK,
        "application/xml",
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
}

impl OssDoor {
    pub(super) async fn put_bucket_style(
        &self,
        req: &OssRequest,
        body: &[u8],
    ) -> Result<Response<BoxBody>, OssError> {
        req.require_root()?;
        let name = style_name(req)?;
        let content = content_of(body)?;
        imaging::oss::style_content(&content)
            .map_err(|why| invalid_argument(format!("Style content {content:?}: {why}.")))?;
        self.images
            .store()
            .put_style(&req.bucket, name, &content)
            .await
            .map_err(from_store_error)?;
        tracing::info!(bucket = %req.bucket, style = name, "style saved (OSS)");
        Ok(kernel::full(StatusCode::OK, "application/xml", ""))
    }

    pub(super) async fn get_bucket_style(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let name = style_name(req)?;
        let store = self.images.store();
        store.bucket(&req.bucket).await.map_err(from_store_error)?;
        let style = store
            .style(&req.bucket, name)
            .await
            .map_err(from_store_error)?
            .ok_or_else(|| no_such_style(&req.bucket, name))?;
        let mut out = String::new();
        style_xml(&mut out, &style);
        Ok(xml_response(out))
    }

    pub(super) async fn list_bucket_style(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::Read)?;
        let styles = self
            .images
            .store()
            .list_styles(&req.bucket)
            .await
            .map_err(from_store_error)?;
        let mut out = String::from("<StyleList>");
        for s in &styles {
            style_xml(&mut out, s);
        }
        out.push_str("</StyleList>");
        Ok(xml_response(out))
    }

    /// 204 whether or not the style existed, as deletes are on OSS.
    pub(super) async fn delete_bucket_style(
        &self,
        req: &OssRequest,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require_root()?;
        let name = style_name(req)?;
        let store = self.images.store();
        store.bucket(&req.bucket).await.map_err(from_store_error)?;
        if store
            .style(&req.bucket, name)
            .await
            .map_err(from_store_error)?
            .is_some()
        {
            store
                .delete_style(&req.bucket, name)
                .await
                .map_err(from_store_error)?;
            tracing::info!(bucket = %req.bucket, style = name, "style deleted (OSS)");
        }
        Ok(kernel::no_content())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_documents_need_a_style_root_and_content() {
        assert_eq!(
            content_of(b"<Style><Content> image/resize,w_10 </Content></Style>").ok(),
            Some("image/resize,w_10".to_owned())
        );
        for bad in [
            &b"<Style></Style>"[..],
            b"<Style><Content>  </Content></Style>",
            b"<Other><Content>image/resize,w_10</Content></Other>",
            b"<Style><Content>",
            b"",
        ] {
            let e = content_of(bad).expect_err("must be refused");
            assert_eq!(e.code, "MalformedXML", "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
