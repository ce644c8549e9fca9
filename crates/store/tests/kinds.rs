//! Object kinds and tags through the store's public API: symlinks are followed by
//! `object`/`open_object` and not by `object_row`; kinds, tags and an upload's tags
//! persist across a reopen; conditional overwrites keep appends honest.

use bytes::Bytes;
use store::{BlobBackend, CopyOverrides, ObjectKind, PutOptions, Store, StoreError, Tags};

async fn open(dir: &std::path::Path) -> Store {
    Store::open(
        &dir.join("imgd.db"),
        &BlobBackend::Fs {
            root: dir.to_path_buf(),
        },
        true,
    )
    .await
    .unwrap()
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn put(store: &Store, key: &str, data: &'static [u8], opts: PutOptions) -> store::ObjectInfo {
    store
        .put_bytes("b", key, opts, Bytes::from_static(data))
        .await
        .unwrap()
}

#[tokio::test]
async fn symlinks_are_followed_by_reads_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .create_bucket("b", store::BucketAcl::Private)
        .await
        .unwrap();
    put(&store, "target", b"target bytes", PutOptions::default()).await;
    let link = PutOptions {
        kind: ObjectKind::Symlink {
            target: "target".into(),
        },
        tags: tags(&[("on", "link")]),
        ..Default::default()
    };
    put(&store, "link", b"", link.clone()).await;
    let read = store.object("b", "link").await.unwrap();
    assert_eq!((read.key.as_str(), read.size), ("target", 12));
    let row = store.object_row("b", "link").await.unwrap();
    assert_eq!(row.kind.symlink_target(), Some("target"));
    assert_eq!(row.tags, tags(&[("on", "link")]));
    // A copy of a link copies the target's bytes into a normal object.
    let copy = store
        .copy_object("b", "link", "b", "copy", CopyOverrides::default(), |_| {
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((copy.size, copy.kind), (12, ObjectKind::Normal));
    // Dangling links, and links to links, are SymlinkTargetNotExist.
    put(
        &store,
        "dangling",
        b"",
        PutOptions {
            kind: ObjectKind::Symlink {
                target: "nothing".into(),
            },
            ..Default::default()
        },
    )
    .await;
    put(
        &store,
        "chain",
        b"",
        PutOptions {
            kind: ObjectKind::Symlink {
                target: "link".into(),
            },
            ..Default::default()
        },
    )
    .await;
    for key in ["dangling", "chain"] {
        assert!(matches!(
            store.object("b", key).await,
            Err(StoreError::SymlinkTargetNotExist)
        ));
    }
    // Deleting the link leaves the target.
    store.delete_object("b", "link").await.unwrap();
    assert_eq!(store.object("b", "target").await.unwrap().size, 12);
    assert!(matches!(
        store.object_row("b", "link").await,
        Err(StoreError::NoSuchKey)
    ));
}

#[tokio::test]
async fn kinds_and_tags_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        store
            .create_bucket("b", store::BucketAcl::Private)
            .await
            .unwrap();
        put(
            &store,
            "log",
            b"abc",
            PutOptions {
                kind: ObjectKind::Appendable,
                tags: tags(&[("a", "1")]),
                ..Default::default()
            },
        )
        .await;
        store
            .set_tags("b", "log", &tags(&[("a", "2"), ("中", "文")]))
            .await
            .unwrap();
        let up = store
            .create_upload("b", "mp", Default::default(), None, tags(&[("u", "1")]))
            .await
            .unwrap();
        assert_eq!(up.tags, tags(&[("u", "1")]));
    }
    let store = open(dir.path()).await;
    let log = store.object("b", "log").await.unwrap();
    assert_eq!(log.kind, ObjectKind::Appendable);
    assert_eq!(log.tags, tags(&[("a", "2"), ("中", "文")]));
    let (uploads, _) = store.list_uploads("b", "", None, None, 10).await.unwrap();
    assert_eq!(uploads[0].tags, tags(&[("u", "1")]));
    // Bad tag sets and missing keys change nothing.
    let eleven: Tags = (0..11).map(|i| (format!("k{i}"), String::new())).collect();
    assert!(matches!(
        store.set_tags("b", "log", &eleven).await,
        Err(StoreError::InvalidTag(_))
    ));
    assert!(matches!(
        store.set_tags("b", "missing", &Tags::new()).await,
        Err(StoreError::NoSuchKey)
    ));
    assert!(matches!(
        store.set_tags("nobucket", "log", &Tags::new()).await,
        Err(StoreError::NoSuchBucket)
    ));
    assert_eq!(store.object("b", "log").await.unwrap().tags.len(), 2);
}

#[tokio::test]
async fn a_conditional_overwrite_loses_to_a_writer_that_got_in_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .create_bucket("b", store::BucketAcl::Private)
        .await
        .unwrap();
    let first = put(
        &store,
        "log",
        b"abc",
        PutOptions {
            kind: ObjectKind::Appendable,
            ..Default::default()
        },
    )
    .await;
    let stale = PutOptions {
        kind: ObjectKind::Appendable,
        if_match: Some(first.etag.clone()),
        ..Default::default()
    };
    put(&store, "log", b"abcdef", stale.clone()).await;
    // The same condition again: the object is no longer the one it names.
    assert!(matches!(
        store
            .put_bytes("b", "log", stale, Bytes::from_static(b"abcxyz"))
            .await,
        Err(StoreError::PreconditionFailed)
    ));
    assert_eq!(store.object("b", "log").await.unwrap().size, 6);
}
