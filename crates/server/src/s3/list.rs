//! ListObjects (v1), ListObjectsV2 and ListObjectVersions (unversioned: `null`).

use super::{ImgdS3, S3Res, etag, invalid_argument, ok, owner, s3_err, timestamp_ms};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::S3Request;
use s3s::dto::*;
use store::{ListPage, ListQuery, ObjectInfo};

/// Characters left as they are by `encoding-type=url`, as S3 does.
const URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

struct Encoder(bool);

impl Encoder {
    fn new(t: Option<&EncodingType>) -> Self {
        Encoder(t.is_some_and(|t| t.as_str().eq_ignore_ascii_case(EncodingType::URL)))
    }
    fn enc(&self, s: &str) -> String {
        if self.0 {
            utf8_percent_encode(s, URL_KEEP).to_string()
        } else {
            s.to_owned()
        }
    }
    fn opt(&self, s: Option<&String>) -> Option<String> {
        s.map(|s| self.enc(s))
    }
}

fn max_keys(v: Option<i32>) -> s3s::S3Result<usize> {
    match v {
        None => Ok(1000),
        Some(n) if n < 0 => Err(invalid_argument("max-keys must be a non-negative integer")),
        Some(n) => Ok((n as usize).min(1000)),
    }
}

/// `delimiter=` with no value means no delimiter: S3 then omits `<Delimiter>` too.
fn delimiter(d: Option<&String>) -> Option<&String> {
    d.filter(|d| !d.is_empty())
}

fn object_entry(o: &ObjectInfo, e: &Encoder, with_owner: bool) -> Object {
    Object {
        e_tag: Some(etag(&o.etag)),
        key: Some(e.enc(&o.key)),
        last_modified: Some(timestamp_ms(o.modified_ms)),
        size: Some(o.size as i64),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        owner: with_owner.then(owner),
        ..Default::default()
    }
}

fn prefixes(page: &ListPage, e: &Encoder) -> Vec<CommonPrefix> {
    page.common_prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: Some(e.enc(p)),
        })
        .collect()
}

impl ImgdS3 {
    async fn list_page(
        &self,
        bucket: &str,
        prefix: Option<&String>,
        delimiter: Option<&String>,
        after: Option<String>,
        max: usize,
    ) -> s3s::S3Result<ListPage> {
        let q = ListQuery {
            prefix: prefix.cloned().unwrap_or_default(),
            delimiter: delimiter.cloned(),
            after,
            max_keys: max,
        };
        self.store.list_objects(bucket, &q).await.map_err(s3_err)
    }

    pub(crate) async fn do_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Res<ListObjectsOutput> {
        let i = &req.input;
        let max = max_keys(i.max_keys)?;
        let page = self
            .list_page(
                &i.bucket,
                i.prefix.as_ref(),
                delimiter(i.delimiter.as_ref()),
                i.marker.clone(),
                max,
            )
            .await?;
        let e = Encoder::new(i.encoding_type.as_ref());
        ok(ListObjectsOutput {
            name: Some(i.bucket.clone()),
            prefix: Some(e.opt(i.prefix.as_ref()).unwrap_or_default()),
            marker: Some(e.opt(i.marker.as_ref()).unwrap_or_default()),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            contents: Some(
                page.objects
                    .iter()
                    .map(|o| object_entry(o, &e, true))
                    .collect(),
            ),
            common_prefixes: Some(prefixes(&page, &e)),
            delimiter: e.opt(delimiter(i.delimiter.as_ref())),
            next_marker: e.opt(page.next_marker.as_ref()),
            encoding_type: i.encoding_type.clone(),
            request_charged: None,
        })
    }

    pub(crate) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Res<ListObjectsV2Output> {
        let i = &req.input;
        let max = max_keys(i.max_keys)?;
        let after =
            match &i.continuation_token {
                Some(token) => Some(store::marker_of_token(token).ok_or_else(|| {
                    invalid_argument("The continuation token provided is incorrect")
                })?),
                None => i.start_after.clone(),
            };
        let page = self
            .list_page(
                &i.bucket,
                i.prefix.as_ref(),
                delimiter(i.delimiter.as_ref()),
                after,
                max,
            )
            .await?;
        let e = Encoder::new(i.encoding_type.as_ref());
        let with_owner = i.fetch_owner.unwrap_or(false);
        let contents: Vec<Object> = page
            .objects
            .iter()
            .map(|o| object_entry(o, &e, with_owner))
            .collect();
        let common = prefixes(&page, &e);
        ok(ListObjectsV2Output {
            name: Some(i.bucket.clone()),
            prefix: Some(e.opt(i.prefix.as_ref()).unwrap_or_default()),
            max_keys: Some(max as i32),
            key_count: Some((contents.len() + common.len()) as i32),
            continuation_token: i.continuation_token.clone(),
            is_truncated: Some(page.truncated),
            next_continuation_token: page.continuation_token(),
            contents: Some(contents),
            common_prefixes: Some(common),
            delimiter: e.opt(delimiter(i.delimiter.as_ref())),
            encoding_type: i.encoding_type.clone(),
            start_after: e.opt(i.start_after.as_ref()),
            request_charged: None,
        })
    }

    pub(crate) async fn do_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Res<ListObjectVersionsOutput> {
        let i = &req.input;
        let max = max_keys(i.max_keys)?;
        let page = self
            .list_page(
                &i.bucket,
                i.prefix.as_ref(),
                delimiter(i.delimiter.as_ref()),
                i.key_marker.clone(),
                max,
            )
            .await?;
        let e = Encoder::new(i.encoding_type.as_ref());
        let versions = page
            .objects
            .iter()
            .map(|o| ObjectVersion {
                e_tag: Some(etag(&o.etag)),
                is_latest: Some(true),
                key: Some(e.enc(&o.key)),
                last_modified: Some(timestamp_ms(o.modified_ms)),
                owner: Some(owner()),
                size: Some(o.size as i64),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id: Some("null".into()),
                ..Default::default()
            })
            .collect();
        ok(ListObjectVersionsOutput {
            common_prefixes: Some(prefixes(&page, &e)),
            delete_markers: None,
            delimiter: e.opt(delimiter(i.delimiter.as_ref())),
            encoding_type: i.encoding_type.clone(),
            is_truncated: Some(page.truncated),
            key_marker: Some(e.opt(i.key_marker.as_ref()).unwrap_or_default()),
            max_keys: Some(max as i32),
            name: Some(i.bucket.clone()),
            next_key_marker: e.opt(page.next_marker.as_ref()),
            next_version_id_marker: page.truncated.then(|| "null".into()),
            prefix: Some(e.opt(i.prefix.as_ref()).unwrap_or_default()),
            request_charged: None,
            version_id_marker: i.version_id_marker.clone(),
            versions: Some(versions),
        })
    }
}
