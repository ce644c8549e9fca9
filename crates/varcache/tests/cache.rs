use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use varcache::{CacheConfig, NewVariant, VariantCache};

const KIB: u64 = 1024;

async fn open(dir: &Path, max_disk: u64, max_memory: u64) -> VariantCache {
    VariantCache::open(CacheConfig {
        dir: dir.to_path_buf(),
        max_disk_bytes: max_disk,
        max_memory_bytes: max_memory,
    })
    .await
    .expect("open cache")
}

/// Bytes that differ per `(tag, len)`, so a file can be recognised and any mix-up is seen.
fn body(tag: &str, len: usize) -> Bytes {
    let seed = tag
        .bytes()
        .fold(17u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    (0..len)
        .map(|i| (seed.wrapping_add((i as u32).wrapping_mul(2654435761)) >> 13) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn variant(key: &str, tag: &str, len: usize) -> NewVariant {
    NewVariant {
        object_key: key.to_owned(),
        depends_on: Vec::new(),
        source_etag: format!("src-{key}"),
        etag: tag.to_owned(),
        content_type: "image/webp".to_owned(),
        last_modified_ms: 1_700_000_000_000,
        vary_accept: true,
        cache_control: Some("max-age=60".into()),
        bytes: body(tag, len),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).expect("read dir") {
            let e = e.expect("dir entry");
            if e.file_type().expect("file type").is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.path());
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("v"), &mut out);
    out
}

fn disk_bytes(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .map(|f| std::fs::metadata(f).expect("metadata").len())
        .sum()
}

/// The body file holding exactly `bytes`.
fn file_with(dir: &Path, bytes: &[u8]) -> PathBuf {
    files(dir)
        .into_iter()
        .find(|f| std::fs::read(f).expect("read") == bytes)
        .expect("body file")
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test]
async fn roundtrip_through_memory() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 10 * 1024 * KIB, 1024 * KIB).await;
    let mut v = variant("a.jpg", "e1", 20_000);
    v.depends_on = vec!["logo.png".into()];
    assert!(cache.put("b", "a|w100", v.clone()).await);

    // Memory hits do no I/O: they survive the file vanishing behind the cache's back.
    for f in files(dir.path()) {
        std::fs::remove_file(f).unwrap();
    }
    let got = cache.get("b", "a|w100").await.expect("memory hit");
    assert_eq!(got.bytes, v.bytes);
    assert_eq!(
        (
            got.object_key.as_str(),
            got.source_etag.as_str(),
            got.etag.as_str()
        ),
        ("a.jpg", "src-a.jpg", "e1")
    );
    assert_eq!(got.content_type, "image/webp");
    assert_eq!(got.last_modified_ms, 1_700_000_000_000);
    assert!(got.vary_accept);

    assert!(cache.get("b", "a|w200").await.is_none());
    assert!(cache.get("other", "a|w100").await.is_none());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.memory_hits, stats.misses), (1, 1, 2));
    assert_eq!(
        (stats.entries, stats.disk_bytes, stats.memory_bytes),
        (1, 20_000, 20_000)
    );
}

#[tokio::test]
async fn roundtrip_through_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 10 * 1024 * KIB, 0).await;
    let v = variant("a.jpg", "e1", 30_000);
    assert!(cache.put("b", "a|w100", v.clone()).await);
    assert_eq!(disk_bytes(dir.path()), 30_000);

    for _ in 0..2 {
        let got = cache.get("b", "a|w100").await.expect("disk hit");
        assert_eq!(got.bytes, v.bytes);
        assert_eq!(got.etag, "e1");
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.hits, stats.memory_hits, stats.memory_bytes),
        (2, 0, 0)
    );

    // Replacing keeps one file, the new one.
    let v2 = variant("a.jpg", "e2", 25_000);
    assert!(cache.put("b", "a|w100", v2.clone()).await);
    assert_eq!(cache.get("b", "a|w100").await.expect("hit").bytes, v2.bytes);
    assert_eq!(files(dir.path()).len(), 1);
    assert_eq!(disk_bytes(dir.path()), 25_000);

    // With no memory tier, a vanished file is a miss and the entry is dropped.
    std::fs::remove_file(file_with(dir.path(), &v2.bytes)).unwrap();
    assert!(cache.get("b", "a|w100").await.is_none());
    assert_eq!(cache.stats().entries, 0);
}

#[tokio::test]
async fn oversized_variants_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 800 * KIB, 800 * KIB).await;
    assert!(
        !cache
            .put("b", "big", variant("k", "big", 101 * KIB as usize))
            .await
    );
    assert!(
        cache
            .put("b", "ok", variant("k", "ok", 100 * KIB as usize))
            .await
    );
    assert!(cache.get("b", "big").await.is_none());
    assert_eq!(files(dir.path()).len(), 1);
}

#[tokio::test]
async fn bound_holds_under_churn_and_recent_entries_survive() {
    let dir = tempfile::tempdir().unwrap();
    let bound = 1024 * KIB;
    let cache = open(dir.path(), bound, 64 * KIB).await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    let hot: Vec<String> = (0..5).map(|i| format!("hot{i}")).collect();
    for h in &hot {
        assert!(cache.put("b", h, variant(h, h, 10 * KIB as usize)).await);
    }
    // 500 distinct keys in random order, sizes 10–40 KiB.
    let mut order: Vec<usize> = (0..500).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut put_keys: Vec<String> = Vec::new();
    let mut last_touch: HashMap<String, usize> = HashMap::new();
    for (step, n) in order.into_iter().enumerate() {
        let key = format!("k{n}");
        let len = (10 * KIB + rng.below(30 * KIB + 1)) as usize;
        assert!(cache.put("b", &key, variant(&key, &key, len)).await);
        last_touch.insert(key.clone(), step);
        put_keys.push(key);

        let on_disk = disk_bytes(dir.path());
        assert!(on_disk <= bound, "step {step}: {on_disk} bytes on disk");
        assert_eq!(cache.stats().disk_bytes, on_disk);

        let probe = &put_keys[rng.below(put_keys.len() as u64) as usize];
        if let Some(got) = cache.get("b", probe).await {
            assert_eq!(got.bytes, body(probe, got.bytes.len()));
            last_touch.insert(probe.clone(), step);
        }
        if step % 5 == 0 {
            for h in &hot {
                let got = cache.get("b", h).await.expect("hot entry evicted");
                assert_eq!(got.bytes, body(h, 10 * KIB as usize));
            }
        }
    }

    for h in &hot {
        assert!(cache.get("b", h).await.is_some(), "{h} was read recently");
    }
    // Anything not touched in the last 200 steps has had over 2 MiB of newer entries
    // put after it, so LRU must have evicted it.
    let stale: Vec<&String> = last_touch
        .iter()
        .filter(|(_, step)| **step < 300)
        .map(|(k, _)| k)
        .collect();
    assert!(stale.len() > 200);
    for k in stale {
        assert!(
            cache.get("b", k).await.is_none(),
            "{k} should have been evicted"
        );
    }
    let stats = cache.stats();
    assert!(stats.evictions > 400, "{stats:?}");
    assert!(stats.memory_bytes <= 64 * KIB);
    assert_eq!(stats.entries as usize, files(dir.path()).len());
    assert!(disk_bytes(dir.path()) <= bound);
}

/// Puts `k0..k19` (10 KiB each), then reads `k0..k4`, flushes and closes.
async fn fill_and_touch(dir: &Path) {
    let cache = open(dir, 1024 * KIB, 64 * KIB).await;
    for i in 0..20 {
        let k = format!("k{i}");
        assert!(cache.put("b", &k, variant(&k, &k, 10 * KIB as usize)).await);
    }
    for i in 0..5 {
        assert!(cache.get("b", &format!("k{i}")).await.is_some());
    }
    cache.flush().await.unwrap();
}

#[tokio::test]
async fn entries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    fill_and_touch(dir.path()).await;
    let cache = open(dir.path(), 1024 * KIB, 64 * KIB).await;
    assert_eq!(cache.stats().entries, 20);
    for i in 0..20 {
        let k = format!("k{i}");
        let got = cache.get("b", &k).await.expect("survived restart");
        assert_eq!(got.bytes, body(&k, 10 * KIB as usize));
        assert_eq!(got.source_etag, format!("src-{k}"));
        assert_eq!(got.etag, k);
    }
    // Ids are not reused after a restart: a new put does not clobber an old body.
    assert!(cache.put("b", "new", variant("new", "new", 1000)).await);
    assert_eq!(
        cache.get("b", "k19").await.expect("hit").bytes,
        body("k19", 10 * KIB as usize)
    );
    assert_eq!(files(dir.path()).len(), 21);
}

#[tokio::test]
async fn recency_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    fill_and_touch(dir.path()).await;
    // Room for 12. Most recent first: k4..k0 (read), then k19, k18, ... (put order).
    let cache = open(dir.path(), 12 * 10 * KIB, 64 * KIB).await;
    assert_eq!(
        cache.stats().evictions,
        0,
        "open-time eviction is not counted as churn"
    );
    let expected: HashSet<usize> = (0..5).chain(13..20).collect();
    assert_eq!(present(&cache, 20).await, expected);
    assert_eq!(files(dir.path()).len(), 12);
}

async fn present(cache: &VariantCache, n: usize) -> HashSet<usize> {
    let mut present = HashSet::new();
    for i in 0..n {
        if cache.get("b", &format!("k{i}")).await.is_some() {
            present.insert(i);
        }
    }
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_persists_recency() {
    let dir = tempfile::tempdir().unwrap();
    let len = 10 * KIB as usize;
    {
        let cache = open(dir.path(), 1024 * KIB, 0).await;
        for i in 0..10 {
            let k = format!("k{i}");
            assert!(cache.put("b", &k, variant(&k, &k, len)).await);
        }
        assert!(cache.get("b", "k0").await.is_some());
        assert!(cache.get("b", "k1").await.is_some());
        // No flush: the drop has to persist these two touches.
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cache = open(dir.path(), 2 * len as u64, 0).await;
    assert_eq!(present(&cache, 10).await, HashSet::from([0, 1]));
}

#[tokio::test]
async fn crash_leftovers_are_cleaned_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|k| variant(k, k, 20_000));
    {
        let cache = open(dir.path(), 1024 * KIB, 0).await;
        for v in [&a, &b, &c, &d] {
            assert!(cache.put("b", &v.object_key, v.clone()).await);
        }
        cache.flush().await.unwrap();
    }
    // a: a torn body (the crash hit mid-write of a body that was somehow renamed).
    let a_file = file_with(dir.path(), &a.bytes);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&a_file)
        .unwrap()
        .set_len(5_000)
        .unwrap();
    // b: garbage of the right length (unsynced data after a power loss).
    let b_file = file_with(dir.path(), &b.bytes);
    std::fs::write(&b_file, vec![0u8; 20_000]).unwrap();
    // d: the row outlived its file.
    std::fs::remove_file(file_with(dir.path(), &d.bytes)).unwrap();
    // Leftovers of interrupted puts and foreign junk.
    std::fs::write(dir.path().join("tmp/00000000000000ff.tmp"), b"half a body").unwrap();
    let orphan = dir.path().join("v/ff/00000000000fffff");
    std::fs::write(&orphan, b"renamed but never indexed").unwrap();
    std::fs::write(dir.path().join("v/ab/garbage"), b"junk").unwrap();
    std::fs::create_dir_all(dir.path().join("v/zz")).unwrap();
    std::fs::write(dir.path().join("v/zz/x"), b"junk").unwrap();

    let cache = open(dir.path(), 1024 * KIB, 0).await;
    assert!(!a_file.exists(), "torn body removed at open");
    assert!(!orphan.exists());
    assert!(!dir.path().join("v/ab/garbage").exists());
    assert!(!dir.path().join("v/zz").exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
    // b's length is right, so only reading it finds it bad.
    assert_eq!(cache.stats().entries, 2);

    assert!(cache.get("b", "a").await.is_none());
    assert!(
        cache.get("b", "b").await.is_none(),
        "checksum mismatch must not be served"
    );
    assert!(cache.get("b", "d").await.is_none());
    assert_eq!(cache.get("b", "c").await.expect("intact").bytes, c.bytes);
    assert!(!b_file.exists());
    assert_eq!(files(dir.path()).len(), 1);
    assert_eq!(cache.stats().entries, 1);
    drop(cache);

    // The bad rows are gone from the index too.
    let cache = open(dir.path(), 1024 * KIB, 0).await;
    assert_eq!(cache.stats().entries, 1);
}

#[tokio::test]
async fn invalidation_and_purges_remove_entries_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 4096 * KIB, 1024 * KIB).await;
    let mut wm = variant("c.jpg", "c-wm", 1000);
    wm.depends_on = vec!["logo.png".into()];
    let puts = [
        ("b", "a|w100", variant("a.jpg", "a1", 1000)),
        ("b", "a|w200", variant("a.jpg", "a2", 1000)),
        ("b", "c|wm", wm),
        ("b", "logo|x", variant("logo.png", "logo", 1000)),
        ("b", "dir/x|w", variant("dir/x.jpg", "dx", 1000)),
        ("b", "dir/y|w", variant("dir/y.jpg", "dy", 1000)),
        ("b", "dirz|w", variant("dirz.jpg", "dz", 1000)),
        ("other", "a|w100", variant("a.jpg", "oa", 1000)),
        ("other", "dir/x|w", variant("dir/x.jpg", "odx", 1000)),
    ];
    for (bucket, lookup, v) in &puts {
        assert!(cache.put(bucket, lookup, v.clone()).await);
    }
    assert_eq!(files(dir.path()).len(), 9);

    assert_eq!(cache.invalidate_object("b", "a.jpg").await, 2);
    assert!(cache.get("b", "a|w100").await.is_none());
    assert!(cache.get("b", "a|w200").await.is_none());
    assert!(cache.get("other", "a|w100").await.is_some());
    assert_eq!(files(dir.path()).len(), 7);

    // The watermark goes with the logo it was drawn from.
    assert_eq!(cache.invalidate_object("b", "logo.png").await, 2);
    assert!(cache.get("b", "c|wm").await.is_none());
    assert!(cache.get("b", "logo|x").await.is_none());
    assert_eq!(files(dir.path()).len(), 5);

    assert_eq!(cache.purge_prefix("b", "dir/").await, 2);
    assert!(cache.get("b", "dir/x|w").await.is_none());
    assert!(cache.get("b", "dirz|w").await.is_some());
    assert!(cache.get("other", "dir/x|w").await.is_some());
    assert_eq!(files(dir.path()).len(), 3);

    assert_eq!(cache.invalidate_object("b", "nothing").await, 0);
    assert_eq!(cache.purge_bucket("b").await, 1);
    assert!(cache.get("b", "dirz|w").await.is_none());
    assert_eq!(files(dir.path()).len(), 2);

    assert_eq!(cache.purge_all().await, 2);
    assert!(cache.get("other", "a|w100").await.is_none());
    assert_eq!(files(dir.path()).len(), 0);
    let stats = cache.stats();
    assert_eq!(
        (stats.entries, stats.disk_bytes, stats.memory_bytes),
        (0, 0, 0)
    );
    drop(cache);

    let cache = open(dir.path(), 4096 * KIB, 1024 * KIB).await;
    assert_eq!(cache.stats().entries, 0, "invalidations are persisted");
}

#[tokio::test]
async fn a_put_rendered_before_an_invalidation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 1024 * KIB, 1024 * KIB).await;
    let mut v = variant("a.jpg", "old", 1000);
    v.depends_on = vec!["logo.png".into()];

    let ticket = cache.ticket();
    cache.invalidate_object("b", "logo.png").await;
    assert!(!cache.put_with_ticket(ticket, "b", "a|wm", v.clone()).await);
    assert!(cache.get("b", "a|wm").await.is_none());

    // Unrelated invalidations do not refuse it.
    let ticket = cache.ticket();
    cache.invalidate_object("b", "other.jpg").await;
    cache.purge_bucket("c").await;
    assert!(cache.put_with_ticket(ticket, "b", "a|wm", v).await);
    assert_eq!(files(dir.path()).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_gets_puts_and_invalidations() {
    let dir = tempfile::tempdir().unwrap();
    let bound = 512 * KIB;
    let cache = open(dir.path(), bound, 64 * KIB).await;
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let cache = cache.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x1234_5678 + t * 7919);
            for _ in 0..300 {
                let bucket = if rng.below(4) == 0 { "x" } else { "b" };
                let key = format!("o{}", rng.below(40));
                let lookup = format!("{key}|w{}", rng.below(3));
                match rng.below(10) {
                    0..=4 => {
                        if let Some(got) = cache.get(bucket, &lookup).await {
                            // The bytes always belong to the etag they came with.
                            assert_eq!(got.bytes, body(&got.etag, got.bytes.len()));
                            assert_eq!(got.object_key, key);
                        }
                    }
                    5..=7 => {
                        let tag = format!("{lookup}#{}", rng.next());
                        let len = (5 * KIB + rng.below(15 * KIB)) as usize;
                        let mut v = variant(&key, &tag, len);
                        v.depends_on = vec![format!("o{}", rng.below(40))];
                        cache.put(bucket, &lookup, v).await;
                    }
                    8 => {
                        cache.invalidate_object(bucket, &key).await;
                    }
                    _ => {
                        if rng.below(10) == 0 {
                            cache.purge_prefix(bucket, "o1").await;
                        } else {
                            cache.flush().await.expect("flush");
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("no panics");
    }
    let stats = cache.stats();
    let on_disk = disk_bytes(dir.path());
    assert!(on_disk <= bound, "{on_disk}");
    assert_eq!(stats.disk_bytes, on_disk);
    assert_eq!(stats.entries as usize, files(dir.path()).len());
    assert!(stats.memory_bytes <= 64 * KIB);
    assert!(stats.hits > 0 && stats.evictions > 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_get_returns_an_entry_after_its_invalidation() {
    let dir = tempfile::tempdir().unwrap();
    // No memory tier: every get takes the slow path, whose window is the widest.
    let cache = open(dir.path(), 8192 * KIB, 0).await;
    for round in 0..20 {
        let v = variant("a.jpg", &format!("r{round}"), 200_000);
        assert!(cache.put("b", "a|w", v).await);
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    for _ in 0..20 {
                        cache.get("b", "a|w").await;
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(cache.invalidate_object("b", "a.jpg").await, 1);
        assert!(cache.get("b", "a|w").await.is_none(), "round {round}");
        for r in readers {
            r.await.expect("reader");
        }
        assert!(cache.get("b", "a|w").await.is_none(), "round {round}");
        assert_eq!(files(dir.path()).len(), 0);
    }
}

#[tokio::test]
async fn one_cache_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 1024 * KIB, 0).await;
    let second = VariantCache::open(CacheConfig {
        dir: dir.path().to_path_buf(),
        max_disk_bytes: 1024 * KIB,
        max_memory_bytes: 0,
    })
    .await;
    assert!(matches!(second, Err(varcache::CacheError::Locked(_))));
    drop(cache);
    open(dir.path(), 1024 * KIB, 0).await;
}
