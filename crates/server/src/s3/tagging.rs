//! Object tagging on the S3 door: GetObjectTagging, PutObjectTagging,
//! DeleteObjectTagging, and `x-amz-tagging` on PutObject, CreateMultipartUpload and
//! CopyObject (with `x-amz-tagging-directive: REPLACE`).
//!
//! The tags are the store's ([`store::Store::set_tags`], the row's own set): the same
//! ones the OSS door reads and writes, under the same limits ([`store::check_tags`]).

use super::{ImgdS3, S3Res, ok, s3_err};
use s3s::S3Request;
use s3s::dto::*;
use store::{StoreError, Tags};

fn invalid_tag(message: String) -> s3s::S3Error {
    s3_err(StoreError::InvalidTag(message))
}

/// `x-amz-tagging`: a URL query (`k=v&k2=v2`, `+` for a space, percent-escapes).
/// Absent: no tags.
pub(crate) fn tags_from_header(header: Option<&String>) -> s3s::S3Result<Tags> {
    let mut tags = Tags::new();
    let Some(query) = header else {
        return Ok(tags);
    };
    // The kernel's one query decoder (`+` a space, percent-escapes).
    for (key, value) in crate::kernel::Query::parse(Some(query)).pairs() {
        if tags.insert(key.clone(), value.clone()).is_some() {
            return Err(invalid_tag(format!("the tag key {key:?} is given twice")));
        }
    }
    store::check_tags(&tags).map_err(s3_err)?;
    Ok(tags)
}

fn tags_from_set(set: &[Tag]) -> s3s::S3Result<Tags> {
    let mut tags = Tags::new();
    for tag in set {
        let key = tag.key.clone().unwrap_or_default();
        if tags
            .insert(key.clone(), tag.value.clone().unwrap_or_default())
            .is_some()
        {
            return Err(invalid_tag(format!("the tag key {key:?} is given twice")));
        }
    }
    Ok(tags)
}

impl ImgdS3 {
    pub(crate) async fn do_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Res<GetObjectTaggingOutput> {
        let i = &req.input;
        let row = self
            .store
            .object_row(&i.bucket, &i.key)
            .await
            .map_err(s3_err)?;
        ok(GetObjectTaggingOutput {
            tag_set: row
                .tags
                .into_iter()
                .map(|(key, value)| Tag {
                    key: Some(key),
                    value: Some(value),
                })
                .collect(),
            version_id: None,
        })
    }

    pub(crate) async fn do_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Res<PutObjectTaggingOutput> {
        let i = &req.input;
        let tags = tags_from_set(&i.tagging.tag_set)?;
        self.store
            .set_tags(&i.bucket, &i.key, &tags)
            .await
            .map_err(s3_err)?;
        ok(PutObjectTaggingOutput::default())
    }

    pub(crate) async fn do_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Res<DeleteObjectTaggingOutput> {
        let i = &req.input;
        self.store
            .set_tags(&i.bucket, &i.key, &Tags::new())
            .await
            .map_err(s3_err)?;
        ok(DeleteObjectTaggingOutput::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagging_header_is_a_url_query() {
        let tags = tags_from_header(Some(&"a=1&two+words=x%26y&empty=".to_owned())).unwrap();
        assert_eq!(tags.get("two words").map(String::as_str), Some("x&y"));
        assert_eq!(tags.get("empty").map(String::as_str), Some(""));
        assert!(tags_from_header(None).unwrap().is_empty());
        assert!(tags_from_header(Some(&"a=1&a=2".to_owned())).is_err());
        let eleven = (0..11)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(tags_from_header(Some(&eleven)).is_err());
    }
}
