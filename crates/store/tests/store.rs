//! The store's guarantees, checked through its public API on a temporary directory.

use bytes::Bytes;
use futures::stream;
use store::{BlobBackend, BucketAcl, ListQuery, PutOptions, Store, StoreError};

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

fn body(data: &[u8]) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    // Small bodies arrive in awkward 7-byte chunks; large ones in 64 KiB chunks.
    let chunk = if data.len() > 1 << 20 { 64 * 1024 } else { 7 };
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks)
}

fn blob_count(dir: &std::path::Path) -> usize {
    walk(&dir.join("blobs"))
}

fn walk(p: &std::path::Path) -> usize {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

async fn read_all(store: &Store, bucket: &str, key: &str) -> Vec<u8> {
    use futures::TryStreamExt;
    let (_, _, s) = store
        .open_object(bucket, key, |i| Ok(0..i.size))
        .await
        .unwrap();
    s.try_fold(Vec::new(), |mut acc, chunk| async move {
        acc.extend_from_slice(&chunk);
        Ok(acc)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn overwrite_replaces_bytes_and_frees_the_old_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_bucket("b", BucketAcl::Private).await.unwrap();
    let first = store
        .put_object(
            "b",
            "k",
            PutOptions::default(),
            body(b"first version"),
            |_| Ok(()),
        )
        .await
        .unwrap();
    assert_eq!(first.etag, md5_hex(b"first version"));
    store
        .put_object("b", "k", PutOptions::default(), body(b"second"), |_| Ok(()))
        .await
        .unwrap();
    assert_eq!(read_all(&store, "b", "k").await, b"second");
    assert_eq!(blob_count(dir.path()), 1);
    store.delete_object("b", "k").await.unwrap();
    assert_eq!(blob_count(dir.path()), 0);
    assert!(matches!(
        store.object("b", "k").await,
        Err(StoreError::NoSuchKey)
    ));
    assert!(matches!(
        store.object("nope", "k").await,
        Err(StoreError::NoSuchBucket)
    ));
}

fn md5_hex(data: &[u8]) -> String {
    let mut h = store::BodyHasher::new(&[]);
    h.update(data);
    h.finish().md5_hex()
}

#[tokio::test]
async fn refused_uploads_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_bucket("b", BucketAcl::Private).await.unwrap();
    let bad = store
        .put_object("b", "k", PutOptions::default(), body(b"data"), |_| {
            Err(StoreError::BadDigest("no".into()))
        })
        .await;
    assert!(matches!(bad, Err(StoreError::BadDigest(_))));
    let short = PutOptions {
        expected_len: Some(100),
        ..Default::default()
    };
    assert!(matches!(
        store
            .put_object("b", "k", short, body(b"data"), |_| Ok(()))
            .await,
        Err(StoreError::IncompleteBody {
            expected: 100,
            got: 4
        })
    ));
    let failing = stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(std::io::Error::other("client went away")),
    ]);
    assert!(matches!(
        store
            .put_object("b", "k", PutOptions::default(), failing, |_| Ok(()))
            .await,
        Err(StoreError::Body(_))
    ));
    assert_eq!(blob_count(dir.path()), 0);
    assert!(matches!(
        store.object("b", "k").await,
        Err(StoreError::NoSuchKey)
    ));
}

#[tokio::test]
async fn leftovers_of_interrupted_writes_are_removed_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        store.create_bucket("b", BucketAcl::Private).await.unwrap();
        store
            .put_object(
                "b",
                "kept",
                PutOptions::default(),
                body(b"kept"),
                |_| Ok(()),
            )
            .await
            .unwrap();
        // What a crash mid-upload leaves: a pending row and a partial blob file.
        sqlx::query("INSERT INTO pending_blobs (blob, created_ms) VALUES ('blobs/ab/crashed', 0)")
            .execute(store.pool())
            .await
            .unwrap();
        std::fs::write(dir.path().join("blobs/ab/crashed"), b"half").unwrap();
    }
    assert_eq!(blob_count(dir.path()), 2);
    let store = open(dir.path()).await;
    assert_eq!(blob_count(dir.path()), 1);
    assert_eq!(read_all(&store, "b", "kept").await, b"kept");
}

#[tokio::test]
async fn listing_rolls_up_prefixes_and_pages_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_bucket("b", BucketAcl::Private).await.unwrap();
    let keys = ["a/1", "a/2", "a/\u{10FFFF}x", "b", "c/d/e", "c/f", "z"];
    for k in keys {
        store
            .put_object(
                "b",
                k,
                PutOptions::default(),
                body(k.as_bytes()),
                |_| Ok(()),
            )
            .await
            .unwrap();
    }
    let q = |prefix: &str, after: Option<&str>, max| ListQuery {
        prefix: prefix.into(),
        delimiter: Some("/".into()),
        after: after.map(Into::into),
        max_keys: max,
    };
    let page = store.list_objects("b", &q("", None, 1000)).await.unwrap();
    assert_eq!(page.common_prefixes, ["a/", "c/"]);
    assert_eq!(
        page.objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["b", "z"]
    );
    assert!(!page.truncated);

    // One entry per page: prefixes count as entries and resume correctly.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let p = store
            .list_objects("b", &q("", after.as_deref(), 1))
            .await
            .unwrap();
        seen.extend(p.common_prefixes.iter().cloned());
        seen.extend(p.objects.iter().map(|o| o.key.clone()));
        if !p.truncated {
            break;
        }
        after = p.next_marker;
    }
    assert_eq!(seen, ["a/", "b", "c/", "z"]);

    let inner = store.list_objects("b", &q("c/", None, 1000)).await.unwrap();
    assert_eq!(inner.common_prefixes, ["c/d/"]);
    assert_eq!(
        inner
            .objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["c/f"]
    );
}

#[tokio::test]
async fn multipart_concatenates_and_cleans_up_parts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_bucket("b", BucketAcl::Private).await.unwrap();
    let up = store
        .create_upload("b", "mp", Default::default(), None, Default::default())
        .await
        .unwrap();
    let p1 = vec![1u8; 5 * 1024 * 1024];
    let part = |n: i32, data: Vec<u8>| {
        let (store, id) = (store.clone(), up.upload_id.clone());
        async move {
            store
                .put_part("b", "mp", &id, n, &[], None, body(&data), |_| Ok(()))
                .await
                .unwrap()
        }
    };
    let a = part(1, p1.clone()).await;
    let b = part(2, b"tail".to_vec()).await;
    // An extra part that is not listed at completion is discarded with the upload.
    part(3, b"unused".to_vec()).await;
    let info = store
        .complete_upload(
            "b",
            "mp",
            &up.upload_id,
            &[(1, a.etag), (2, b.etag)],
            PutOptions::default(),
        )
        .await
        .unwrap();
    assert!(info.etag.ends_with("-2"));
    let mut expected = p1.clone();
    expected.extend_from_slice(b"tail");
    assert_eq!(read_all(&store, "b", "mp").await, expected);
    assert_eq!(blob_count(dir.path()), 1);
    assert!(matches!(
        store.upload("b", "mp", &up.upload_id).await,
        Err(StoreError::NoSuchUpload)
    ));
}

/// A command-line process changing a bucket beside a running server: the server's
/// in-memory bucket view must not outlive the change.
#[tokio::test]
async fn bucket_views_see_changes_made_by_another_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    server.create_bucket("b", BucketAcl::Private).await.unwrap();
    let (info, settings) = server.bucket_view("b").await.unwrap();
    assert_eq!(info.acl, BucketAcl::Private);
    assert!(settings.referers.is_empty());
    // Served from memory now: the same answer again.
    assert_eq!(
        server.bucket_view("b").await.unwrap().0.acl,
        BucketAcl::Private
    );

    let command = Store::open(
        &dir.path().join("imgd.db"),
        &BlobBackend::Fs {
            root: dir.path().to_path_buf(),
        },
        false,
    )
    .await
    .unwrap();
    command
        .set_bucket_acl("b", BucketAcl::PublicRead)
        .await
        .unwrap();
    assert_eq!(
        server.bucket_view("b").await.unwrap().0.acl,
        BucketAcl::PublicRead
    );
    command
        .update_bucket_settings("b", |s| {
            s.referers = vec!["example.com".into()];
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        server.bucket_view("b").await.unwrap().1.referers,
        vec!["example.com".to_string()]
    );
    // And the server's own changes.
    server
        .update_bucket_settings("b", |s| {
            s.referers.clear();
            Ok(())
        })
        .await
        .unwrap();
    assert!(server.bucket_view("b").await.unwrap().1.referers.is_empty());
    command.delete_bucket("b").await.unwrap();
    assert!(matches!(
        server.bucket_view("b").await,
        Err(StoreError::NoSuchBucket)
    ));
}

#[tokio::test]
async fn a_policy_patch_replaces_lists_and_sets_the_acl_with_the_policy() {
    use store::{DeliveryPolicy, LinkScheme, PolicyPatch};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    assert!(matches!(
        store.apply_policy("nope", &PolicyPatch::default()).await,
        Err(StoreError::NoSuchBucket)
    ));
    store.create_bucket("b", BucketAcl::Private).await.unwrap();
    let first = PolicyPatch {
        delivery: Some(DeliveryPolicy::Public),
        referers: Some(vec!["a.test".into()]),
        public_styles: Some(vec!["thumb".into()]),
        cache_ttl_secs: Some(60),
        ..PolicyPatch::default()
    };
    store.apply_policy("b", &first).await.unwrap();
    let (info, s) = store.bucket_view("b").await.unwrap();
    assert_eq!(info.acl, BucketAcl::PublicRead);
    assert_eq!(s.delivery, Some(DeliveryPolicy::Public));

    // A second list replaces the first rather than adding to it.
    let second = PolicyPatch {
        delivery: Some(DeliveryPolicy::Signed),
        schemes: Some(vec![LinkScheme::Ixmage]),
        referers: Some(vec!["b.test".into(), "c.test".into()]),
        ..PolicyPatch::default()
    };
    let s = store.apply_policy("b", &second).await.unwrap();
    assert_eq!(s.referers, ["b.test", "c.test"]);
    assert_eq!(s.public_styles, ["thumb"]);
    assert_eq!(s.cache_ttl_secs, Some(60));
    assert_eq!(s.schemes, [LinkScheme::Ixmage]);
    let (info, seen) = store.bucket_view("b").await.unwrap();
    assert_eq!((info.acl, seen), (BucketAcl::Private, s));

    // A refused patch writes nothing.
    let bad = PolicyPatch {
        referers: Some(vec![]),
        style_delimiters: Some(vec!["~".into()]),
        ..PolicyPatch::default()
    };
    assert!(matches!(
        store.apply_policy("b", &bad).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert_eq!(
        store.bucket_settings("b").await.unwrap().referers,
        ["b.test", "c.test"]
    );
}

/// Unfinished uploads do not keep a bucket alive: deleting it aborts them and frees their
/// parts' blobs; objects still make it BucketNotEmpty.
#[tokio::test]
async fn delete_bucket_aborts_pending_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_bucket("b", BucketAcl::Private).await.unwrap();
    let up = store
        .create_upload("b", "k", Default::default(), None, Default::default())
        .await
        .unwrap();
    for n in [1, 2] {
        store
            .put_part("b", "k", &up.upload_id, n, &[], None, body(b"part"), |_| {
                Ok(())
            })
            .await
            .unwrap();
    }
    assert_eq!(blob_count(dir.path()), 2);
    store.delete_bucket("b").await.unwrap();
    assert_eq!(blob_count(dir.path()), 0);
    assert!(matches!(
        store.bucket("b").await,
        Err(StoreError::NoSuchBucket)
    ));

    store.create_bucket("b", BucketAcl::Private).await.unwrap();
    assert!(matches!(
        store.upload("b", "k", &up.upload_id).await,
        Err(StoreError::NoSuchUpload)
    ));
    store
        .put_object("b", "o", PutOptions::default(), body(b"v"), |_| Ok(()))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_bucket("b").await,
        Err(StoreError::BucketNotEmpty)
    ));
}

/// A completion repeated with the same part list answers the same; anything else about
/// a finished upload is NoSuchUpload.
#[tokio::test]
async fn repeated_completion_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_bucket("b", BucketAcl::Private).await.unwrap();
    let up = store
        .create_upload("b", "mp", Default::default(), None, Default::default())
        .await
        .unwrap();
    let part = store
        .put_part(
            "b",
            "mp",
            &up.upload_id,
            1,
            &[],
            None,
            body(b"only"),
            |_| Ok(()),
        )
        .await
        .unwrap();
    let listed = [(1, format!("\"{}\"", part.etag))];
    let first = store
        .complete_upload("b", "mp", &up.upload_id, &listed, PutOptions::default())
        .await
        .unwrap();
    let again = store
        .complete_upload("b", "mp", &up.upload_id, &listed, PutOptions::default())
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first.size, 4);
    for (key, id, parts) in [
        ("mp", up.upload_id.as_str(), vec![(1, "0".repeat(32))]),
        ("other", up.upload_id.as_str(), listed.to_vec()),
        ("mp", "unknown", listed.to_vec()),
    ] {
        assert!(matches!(
            store
                .complete_upload("b", key, id, &parts, PutOptions::default())
                .await,
            Err(StoreError::NoSuchUpload)
        ));
    }
    assert_eq!(read_all(&store, "b", "mp").await, b"only");
}

#[test]
fn bucket_name_problems_name_the_rule() {
    for ok in ["abc", "my-bucket", "a.b.c", "0images", &"x".repeat(63)] {
        assert_eq!(store::bucket_name_problem(ok), None, "{ok}");
    }
    for (bad, rule) in [
        ("ab", "2 characters"),
        ("Upper", "'U'"),
        ("under_score", "'_'"),
        ("-lead", "begin and end"),
        ("trail.", "begin and end"),
        ("a..b", "adjacent dots"),
        ("192.168.1.1", "IP address"),
        ("xn--abc", "xn--"),
    ] {
        let m = store::bucket_name_problem(bad).unwrap_or_default();
        assert!(m.contains(rule) && m.contains("3 to 63"), "{bad}: {m}");
    }
}
