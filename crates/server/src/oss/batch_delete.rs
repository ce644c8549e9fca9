//! DeleteMultipleObjects (`POST /bucket/?delete`, `oss2`'s `batch_delete_objects`): up
//! to 1000 keys in one `Delete` document, whose `Content-MD5` is required and checked.
//!
//! The whole document is read, its digest checked and every key validated before the
//! first delete, so a malformed document (`MalformedXML`), a wrong digest
//! (`InvalidDigest`) or a bad key deletes nothing. Each key then goes through
//! [`store::Store::delete_object`], as a single DeleteObject would. The verbose answer
//! lists every key named, whether it existed or not (as OSS does); with
//! `<Quiet>true</Quiet>` the `DeleteResult` is empty. Under `encoding-type=url` the
//! answer's keys are percent-encoded; the request's keys are plain XML text either way.

use super::list::KeyEncoding;
use super::put::content_md5;
use super::{OssDoor, OssError, OssRequest, from_store_error, invalid_argument, malformed_xml};
use crate::kernel::{self, BoxBody, xml};
use http::{Response, StatusCode};
use hyper::body::Incoming;
use std::fmt::Write as _;
use store::Permission;

/// OSS's limit on keys per request.
const MAX_OBJECTS: usize = 1000;
/// Room for 1000 keys of 1023 bytes, escaped, and the markup around them.
const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
struct DeleteRequest {
    quiet: bool,
    keys: Vec<String>,
}

/// The `Delete` document, validated whole.
fn parse_delete(body: &[u8]) -> Result<DeleteRequest, OssError> {
    let doc = xml::parse(body).map_err(|why| malformed_xml(&why))?;
    if doc.name != "Delete" {
        return Err(malformed_xml("the root element must be Delete"));
    }
    let quiet = match doc.child("Quiet").map(|q| q.text.trim()) {
        None | Some("") => false,
        Some(q) if q.eq_ignore_ascii_case("true") => true,
        Some(q) if q.eq_ignore_ascii_case("false") => false,
        Some(q) => {
            return Err(malformed_xml(&format!(
                "Quiet must be true or false, not {q:?}"
            )));
        }
    };
    let mut keys = Vec::new();
    for object in doc.children_named("Object") {
        let key = object
            .child("Key")
            .ok_or_else(|| malformed_xml("every Object needs a Key"))?
            .text
            .clone();
        if key.is_empty() {
            return Err(malformed_xml("an Object's Key is empty"));
        }
        store::check_key(&key).map_err(from_store_error)?;
        if let Some(version) = object.child("VersionId").map(|v| v.text.trim())
            && !version.is_empty()
            && version != "null"
        {
            return Err(invalid_argument(format!(
                "imgd keeps no object versions; VersionId {version:?} does not exist."
            )));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(malformed_xml("the Delete document names no Object"));
    }
    if keys.len() > MAX_OBJECTS {
        return Err(malformed_xml(&format!(
            "a Delete document names at most {MAX_OBJECTS} objects, this one {}",
            keys.len()
        )));
    }
    Ok(DeleteRequest { quiet, keys })
}

/// The body's MD5 against its `Content-MD5`, which DeleteMultipleObjects requires.
fn check_digest(req: &OssRequest, body: &[u8]) -> Result<(), OssError> {
    let expected = content_md5(&req.headers)?.ok_or_else(|| {
        OssError::new(
            StatusCode::BAD_REQUEST,
            "MissingArgument",
            "DeleteMultipleObjects needs a Content-MD5 header.",
        )
    })?;
    let mut hasher = store::BodyHasher::new(&[]);
    hasher.update(body);
    if hasher.finish().md5 != expected {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDigest",
            "The Content-MD5 you specified did not match what we received.",
        ));
    }
    Ok(())
}

impl OssDoor {
    pub(super) async fn delete_multiple_objects(
        &self,
        req: &OssRequest,
        body: Incoming,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        let enc = KeyEncoding::of(req)?;
        let store = self.images.store();
        store.bucket(&req.bucket).await.map_err(from_store_error)?;
        let body = kernel::body::read_limited(body, MAX_DOCUMENT_BYTES)
            .await
            .map_err(|m| invalid_argument(format!("{m}.")))?;
        check_digest(req, &body)?;
        let request = parse_delete(&body)?;

        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult>{}",
            enc.element()
        );
        for key in &request.keys {
            store
                .delete_object(&req.bucket, key)
                .await
                .map_err(from_store_error)?;
            if !request.quiet {
                let _ = write!(xml, "<Deleted><Key>{}</Key></Deleted>", enc.text(key));
            }
        }
        xml.push_str("</DeleteResult>");
        tracing::info!(bucket = %req.bucket, keys = request.keys.len(), "batch delete (OSS)");
        Ok(kernel::full(StatusCode::OK, "application/xml", xml))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(doc: &str) -> Result<DeleteRequest, &'static str> {
        parse_delete(doc.as_bytes()).map_err(|e| e.code)
    }

    #[test]
    fn delete_documents_as_oss2_writes_them() {
        let doc = "<?xml version='1.0' encoding='utf-8'?>\n<Delete><Quiet>false</Quiet><Object><Key>a b.jpg</Key></Object><Object><Key>dir/&#252;&amp;</Key><VersionId>null</VersionId></Object></Delete>";
        assert_eq!(
            parsed(doc),
            Ok(DeleteRequest {
                quiet: false,
                keys: vec!["a b.jpg".into(), "dir/ü&".into()]
            })
        );
        let quiet = "<Delete><Quiet>true</Quiet><Object><Key>k</Key></Object></Delete>";
        assert_eq!(parsed(quiet).map(|r| r.quiet), Ok(true));
        let bare = "<Delete><Object><Key>k</Key></Object></Delete>";
        assert_eq!(parsed(bare).map(|r| r.quiet), Ok(false));
    }

    #[test]
    fn malformed_documents_are_refused_whole() {
        for bad in [
            "",
            "<Delete><Object><Key>k</Key></Object>",
            "<Remove><Object><Key>k</Key></Object></Remove>",
            "<Delete><Quiet>maybe</Quiet><Object><Key>k</Key></Object></Delete>",
            "<Delete><Object><Key>k</Key></Object><Object/></Delete>",
            "<Delete><Object><Key></Key></Object></Delete>",
            "<Delete><Quiet>true</Quiet></Delete>",
        ] {
            assert_eq!(parsed(bad).map(|_| ()), Err("MalformedXML"), "{bad}");
        }
        let many = format!(
            "<Delete>{}</Delete>",
            "<Object><Key>k</Key></Object>".repeat(MAX_OBJECTS + 1)
        );
        assert_eq!(parsed(&many).map(|_| ()), Err("MalformedXML"));
        let long = format!(
            "<Delete><Object><Key>{}</Key></Object></Delete>",
            "k".repeat(1025)
        );
        assert_eq!(parsed(&long).map(|_| ()), Err("KeyTooLongError"));
        let versioned = "<Delete><Object><Key>k</Key><VersionId>v1</VersionId></Object></Delete>";
        assert_eq!(parsed(versioned).map(|_| ()), Err("InvalidArgument"));
    }
}
