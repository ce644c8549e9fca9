//! The Cloudflare records: one use per upload URL, ids claimed once, keys never all gone,
//! paging in a stable order.

use store::cloudflare::{ImageCursor, NewImage, UploadClaim};
use store::{BucketAcl, Store};

async fn open(dir: &std::path::Path) -> Store {
    Store::open(
        &dir.join("imgd.db"),
        &store::BlobBackend::Fs {
            root: dir.to_path_buf(),
        },
        true,
    )
    .await
    .expect("open store")
}

fn image(id: &str, ms: i64) -> NewImage {
    NewImage {
        image_id: id.into(),
        filename: String::new(),
        meta: "{}".into(),
        require_signed: false,
        creator: None,
        now_ms: ms,
    }
}

#[tokio::test]
async fn an_upload_url_is_claimed_once_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .create_bucket("images", BucketAcl::Private)
        .await
        .unwrap();
    let a = store
        .cf_create_account(None, None, "images", false)
        .await
        .unwrap();
    store
        .cf_create_draft(&a.account_id, &image("d1", 1_000), "hash1", 10_000)
        .await
        .unwrap();
    // Two racing claims: exactly one wins.
    let (x, y) = tokio::join!(
        store.cf_claim_upload("hash1", 2_000),
        store.cf_claim_upload("hash1", 2_000)
    );
    let wins = [&x, &y]
        .iter()
        .filter(|c| matches!(c, Ok(UploadClaim::Claimed(_))))
        .count();
    assert_eq!(wins, 1, "{x:?} {y:?}");
    // A failed upload gives the draft back; a finished one makes the URL used.
    store.cf_abandon_upload(&a.account_id, "d1").await.unwrap();
    assert!(matches!(
        store.cf_claim_upload("hash1", 2_000).await.unwrap(),
        UploadClaim::Claimed(_)
    ));
    store
        .cf_image_ready(&a.account_id, "d1", "f.png", 3_000)
        .await
        .unwrap();
    assert!(matches!(
        store.cf_claim_upload("hash1", 3_000).await.unwrap(),
        UploadClaim::Used
    ));
    assert!(matches!(
        store.cf_claim_upload("nope", 3_000).await.unwrap(),
        UploadClaim::Unknown
    ));

    store
        .cf_create_draft(&a.account_id, &image("d2", 1_000), "hash2", 10_000)
        .await
        .unwrap();
    assert!(matches!(
        store.cf_claim_upload("hash2", 10_000).await.unwrap(),
        UploadClaim::Expired
    ));
    assert!(store.cf_image(&a.account_id, "d2").await.unwrap().is_none());
    assert_eq!(store.cf_count_images(&a.account_id).await.unwrap(), 1);
}

#[tokio::test]
async fn ids_keys_tokens_and_paging() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .create_bucket("images", BucketAcl::Private)
        .await
        .unwrap();
    let a = store
        .cf_create_account(None, None, "images", false)
        .await
        .unwrap();
    assert!(store::cloudflare::account_problem(&a.account_id, &a.account_hash).is_none());
    assert_eq!(
        store.cf_account_by_hash(&a.account_hash).await.unwrap(),
        Some(a.clone())
    );

    store
        .cf_begin_image(&a.account_id, &image("x", 5))
        .await
        .unwrap();
    assert!(matches!(
        store.cf_begin_image(&a.account_id, &image("x", 5)).await,
        Err(store::StoreError::AlreadyExists)
    ));

    let keys = store.cf_keys(&a.account_id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(store.cf_delete_key(&a.account_id, "default").await.unwrap());
    let after = store.cf_keys(&a.account_id).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].name, "default");
    assert_ne!(after[0].value, keys[0].value, "the replacement key is new");
    assert!(!store.cf_delete_key(&a.account_id, "missing").await.unwrap());

    let (t, secret) = store.cf_create_token(&a.account_id, "ci").await.unwrap();
    assert_eq!(
        store.cf_token_account(&secret).await.unwrap(),
        Some(a.account_id.clone())
    );
    store.cf_revoke_token(&t.id).await.unwrap();
    assert_eq!(store.cf_token_account(&secret).await.unwrap(), None);

    for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        store
            .cf_begin_image(&a.account_id, &image(id, 0))
            .await
            .unwrap();
        store
            .cf_image_ready(&a.account_id, id, "", 100 + (i as i64 % 2))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<ImageCursor> = None;
    loop {
        let page = store
            .cf_list_images_after(&a.account_id, cursor.as_ref(), 2, false, None)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|i| i.image_id.clone()));
        let last = page.last().unwrap();
        cursor = Some(ImageCursor {
            uploaded_ms: last.uploaded_ms,
            image_id: last.image_id.clone(),
        });
    }
    assert_eq!(
        seen,
        ["a", "c", "e", "b", "d"],
        "ordered by time, then id; 'x' is not ready"
    );
    let desc = store
        .cf_list_images_after(&a.account_id, None, 10, true, None)
        .await
        .unwrap();
    assert_eq!(desc.first().map(|i| i.image_id.as_str()), Some("d"));
    let page2 = store.cf_list_images(&a.account_id, 2, 2).await.unwrap();
    assert_eq!(
        page2
            .iter()
            .map(|i| i.image_id.as_str())
            .collect::<Vec<_>>(),
        ["e", "b"]
    );
}
