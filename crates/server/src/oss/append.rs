//! AppendObject (`POST ?append&position=N`): creates an `Appendable` object at
//! position 0, or extends one at exactly its length.
//!
//! Blobs are immutable, so an append writes a new blob holding the old bytes and the
//! new ones, and commits it only if the object is still the one whose length was
//! checked (its ETag, [`PutOptions::if_match`]); a concurrent append that got in first
//! makes this one `PositionNotEqualToLength`, with the length to resume from in
//! `x-oss-next-append-position`. Each append therefore copies the object so far: fine
//! for the logs and small growing files OSS users append, not for gigabytes.
//!
//! The answer's `x-oss-hash-crc64ecma` is the CRC-64 of the whole object after the
//! append, which `oss2` compares with the CRC it carried forward (`init_crc`).
//! `Content-MD5`, when sent, covers the appended bytes only.

use super::get::oss_etag;
use super::put::{
    BodyFrames, BoxError, Crc64, content_length, content_md5, empty_ok, put_header, stored_headers,
};
use super::tagging::tags_from_header;
use super::{OssDoor, OssError, OssRequest, from_store_error, invalid_argument};
use crate::kernel::BoxBody;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{Response, StatusCode};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use store::{ByteStream, ObjectInfo, ObjectKind, Permission, PutOptions, StoreError};

/// The object's old bytes, then the request's, with a CRC-64 of all of them and an
/// MD5 of the new ones. A new part that does not match its `Content-MD5` ends the
/// stream with an error (so nothing is committed) and sets `bad_digest`.
struct AppendBody {
    old: Option<ByteStream>,
    new: BodyFrames,
    crc: Crc64,
    new_md5: Option<store::BodyHasher>,
    expected_md5: Option<[u8; 16]>,
    bad_digest: Arc<AtomicBool>,
}

impl Stream for AppendBody {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(old) = self.old.as_mut() {
            match old.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(data))) => {
                    self.crc.update(&data);
                    return Poll::Ready(Some(Ok(data)));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(None) => self.old = None,
            }
        }
        match self.new.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(data))) => {
                self.crc.update(&data);
                if let Some(h) = self.new_md5.as_mut() {
                    h.update(&data);
                }
                Poll::Ready(Some(Ok(data)))
            }
            Poll::Ready(None) => {
                let (Some(want), Some(hasher)) = (self.expected_md5, self.new_md5.take()) else {
                    return Poll::Ready(None);
                };
                if hasher.finish().md5 == want {
                    return Poll::Ready(None);
                }
                self.bad_digest.store(true, Ordering::SeqCst);
                self.expected_md5 = None;
                Poll::Ready(Some(Err(
                    "the appended bytes do not match Content-MD5".into()
                )))
            }
            other => other,
        }
    }
}

fn position(req: &OssRequest) -> Result<u64, OssError> {
    req.param("position")
        .ok_or_else(|| invalid_argument("AppendObject needs a position parameter."))?
        .trim()
        .parse::<u64>()
        .map_err(|_| invalid_argument("position must be a non-negative number."))
}

/// Where an append may start: the object's length, if it is appendable.
fn check_position(current: Option<&ObjectInfo>, position: u64) -> Result<(), StoreError> {
    match current {
        Some(info) if info.kind != ObjectKind::Appendable => Err(StoreError::ObjectNotAppendable),
        Some(info) if info.size != position => {
            Err(StoreError::PositionNotEqualToLength { length: info.size })
        }
        None if position != 0 => Err(StoreError::PositionNotEqualToLength { length: 0 }),
        _ => Ok(()),
    }
}

impl OssDoor {
    pub(super) async fn append_object(
        &self,
        req: &OssRequest,
        body: Incoming,
    ) -> Result<Response<BoxBody>, OssError> {
        req.require(&req.bucket, Permission::ReadWrite)?;
        let position = position(req)?;
        let expected_md5 = content_md5(&req.headers)?;
        let new_len = content_length(&req.headers)?;
        let store = self.images.store();
        let current = self.current_row(req).await?;
        check_position(current.as_ref(), position).map_err(from_store_error)?;
        let (opts, old) = match &current {
            // Headers and tags are the first append's; later ones extend the bytes.
            Some(info) => (
                PutOptions {
                    headers: info.headers.clone(),
                    tags: info.tags.clone(),
                    if_match: Some(info.etag.clone()),
                    expected_len: new_len.map(|n| n + info.size),
                    kind: ObjectKind::Appendable,
                    ..Default::default()
                },
                Some(
                    store
                        .read_blob(info, 0..info.size)
                        .await
                        .map_err(from_store_error)?,
                ),
            ),
            None => (
                PutOptions {
                    headers: stored_headers(&req.headers),
                    tags: tags_from_header(&req.headers)?.unwrap_or_default(),
                    if_none_match_any: true,
                    expected_len: new_len,
                    kind: ObjectKind::Appendable,
                    ..Default::default()
                },
                None,
            ),
        };
        let bad_digest = Arc::new(AtomicBool::new(false));
        let mut stream = AppendBody {
            old,
            new: BodyFrames(body),
            crc: Crc64::new(),
            new_md5: Some(store::BodyHasher::new(&[])),
            expected_md5,
            bad_digest: bad_digest.clone(),
        };
        let written = store
            .put_object(&req.bucket, &req.key, opts, &mut stream, |_| Ok(()))
            .await;
        let info = match written {
            Ok(info) => info,
            Err(_) if bad_digest.load(Ordering::SeqCst) => {
                return Err(OssError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidDigest",
                    "The Content-MD5 you specified did not match what we received.",
                ));
            }
            // Another writer changed the object between the check and the commit.
            Err(
                StoreError::PreconditionFailed | StoreError::AlreadyExists | StoreError::NoSuchKey,
            ) => {
                let now = self.current_row(req).await?;
                let length = now.as_ref().map_or(0, |i| i.size);
                return Err(from_store_error(match now {
                    Some(i) if i.kind != ObjectKind::Appendable => StoreError::ObjectNotAppendable,
                    _ => StoreError::PositionNotEqualToLength { length },
                }));
            }
            Err(e) => return Err(from_store_error(e)),
        };
        metrics::counter!("imgd_oss_bytes_in_total").increment(info.size - position);
        let mut resp = empty_ok();
        put_header(&mut resp, "etag", &oss_etag(&info.etag));
        put_header(
            &mut resp,
            "x-oss-next-append-position",
            &info.size.to_string(),
        );
        put_header(
            &mut resp,
            "x-oss-hash-crc64ecma",
            &stream.crc.value().to_string(),
        );
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: ObjectKind, size: u64) -> ObjectInfo {
        ObjectInfo {
            bucket: "b".into(),
            key: "k".into(),
            blob: "x".into(),
            size,
            etag: "e".into(),
            modified_ms: 0,
            parts_count: None,
            headers: Default::default(),
            checksums: Default::default(),
            kind,
            tags: Default::default(),
        }
    }

    #[test]
    fn appends_start_at_zero_or_at_the_length() {
        assert!(check_position(None, 0).is_ok());
        assert!(matches!(
            check_position(None, 3),
            Err(StoreError::PositionNotEqualToLength { length: 0 })
        ));
        let appendable = row(ObjectKind::Appendable, 5);
        assert!(check_position(Some(&appendable), 5).is_ok());
        assert!(matches!(
            check_position(Some(&appendable), 4),
            Err(StoreError::PositionNotEqualToLength { length: 5 })
        ));
        let normal = row(ObjectKind::Normal, 5);
        assert!(matches!(
            check_position(Some(&normal), 5),
            Err(StoreError::ObjectNotAppendable)
        ));
    }
}
