//! The hot-chunk cache: recently read chunks kept on local disk, bounded by total bytes
//! with least-recently-used eviction, so a popular image does not go to Telegram on every
//! read and stays readable while Telegram is out of reach.
//!
//! Chunks never change (a blob is written once, under a fresh name), so an entry is never
//! stale; it only leaves by eviction or when its blob is deleted. The index lives in
//! memory behind a `std` mutex that is never held across I/O. Start-up rebuilds it from
//! the directory (oldest modification time first), so the cache survives restarts.
//!
//! A reader opens an entry's file before using it, and eviction only unlinks, so a file
//! evicted while it is being streamed stays readable through the open handle.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub(crate) struct ChunkCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    /// name → (size, tick)
    entries: HashMap<String, (u64, u64)>,
    /// tick → name: the LRU order.
    order: BTreeMap<u64, String>,
    bytes: u64,
    next_tick: u64,
}

impl Index {
    fn touch(&mut self, name: &str) -> bool {
        let tick = self.next_tick;
        let Some((_, old)) = self.entries.get_mut(name) else {
            return false;
        };
        self.order.remove(old);
        *old = tick;
        self.order.insert(tick, name.to_owned());
        self.next_tick += 1;
        true
    }

    fn insert(&mut self, name: String, size: u64) {
        self.remove(&name);
        let tick = self.next_tick;
        self.next_tick += 1;
        self.entries.insert(name.clone(), (size, tick));
        self.order.insert(tick, name);
        self.bytes += size;
    }

    fn remove(&mut self, name: &str) -> bool {
        match self.entries.remove(name) {
            Some((size, tick)) => {
                self.order.remove(&tick);
                self.bytes -= size;
                true
            }
            None => false,
        }
    }

    /// The least recently used entries to drop so that `bytes` fits in `max`.
    fn evict_to(&mut self, max: u64) -> Vec<String> {
        let mut victims = Vec::new();
        while self.bytes > max {
            let Some((_, name)) = self.order.pop_first() else {
                break;
            };
            if let Some((size, _)) = self.entries.remove(&name) {
                self.bytes -= size;
            }
            victims.push(name);
        }
        victims
    }
}

impl ChunkCache {
    /// Opens the cache directory, removing unfinished downloads and indexing the rest.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("tmp"))?;
        for entry in std::fs::read_dir(dir.join("tmp"))? {
            let _ = std::fs::remove_file(entry?.path());
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            found.push((modified, name, meta.len()));
        }
        found.sort();
        let mut index = Index::default();
        for (_, name, size) in found {
            index.insert(name, size);
        }
        let cache = ChunkCache {
            dir: dir.to_path_buf(),
            max_bytes,
            index: Mutex::new(index),
        };
        let victims = cache.lock().evict_to(max_bytes);
        cache.unlink(&victims);
        Ok(cache)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        // The index holds no invariant a panicking holder could break half-way that a
        // later user would trip on (sizes are only summed), so a poisoned lock is used.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file of a cached chunk, marked as just used.
    pub fn get(&self, name: &str) -> Option<PathBuf> {
        if self.lock().touch(name) {
            Some(self.dir.join(name))
        } else {
            None
        }
    }

    /// A fresh path under `tmp/` to download into before [`ChunkCache::insert`].
    pub fn temp_path(&self) -> PathBuf {
        self.dir
            .join("tmp")
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Moves a completely downloaded chunk into the cache and evicts what no longer
    /// fits. A chunk larger than the whole cache is not kept: `None`, and the caller
    /// reads the temporary file once and removes it.
    pub fn insert(&self, name: &str, temp: &Path, size: u64) -> std::io::Result<Option<PathBuf>> {
        if size > self.max_bytes {
            return Ok(None);
        }
        let path = self.dir.join(name);
        std::fs::rename(temp, &path)?;
        let victims = {
            let mut index = self.lock();
            index.insert(name.to_owned(), size);
            index.evict_to(self.max_bytes)
        };
        self.unlink(&victims);
        Ok(Some(path))
    }

    /// Drops the chunks of a deleted blob.
    pub fn forget(&self, names: &[String]) {
        let gone: Vec<String> = {
            let mut index = self.lock();
            names.iter().filter(|n| index.remove(n)).cloned().collect()
        };
        self.unlink(&gone);
    }

    fn unlink(&self, names: &[String]) {
        for name in names {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }

    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(cache: &ChunkCache, name: &str, size: usize) {
        let temp = cache.temp_path();
        std::fs::write(&temp, vec![7u8; size]).unwrap();
        if cache.insert(name, &temp, size as u64).unwrap().is_none() {
            std::fs::remove_file(temp).unwrap();
        }
    }

    #[test]
    fn evicts_least_recently_used_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChunkCache::open(dir.path(), 250).unwrap();
        put(&cache, "a", 100);
        put(&cache, "b", 100);
        assert!(cache.get("a").is_some()); // b is now the oldest
        put(&cache, "c", 100);
        assert!(cache.get("b").is_none());
        assert!(!dir.path().join("b").exists());
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert_eq!(cache.bytes(), 200);
        // A chunk larger than the whole cache is not kept, and evicts nothing.
        put(&cache, "huge", 300);
        assert!(cache.get("huge").is_none());
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        drop(cache);
        std::fs::write(dir.path().join("tmp").join("partial"), b"x").unwrap();
        let reopened = ChunkCache::open(dir.path(), 250).unwrap();
        assert_eq!(reopened.bytes(), 200);
        assert!(!dir.path().join("tmp").join("partial").exists());
        reopened.forget(&["a".to_owned()]);
        assert!(reopened.get("a").is_none() && !dir.path().join("a").exists());
        assert_eq!(reopened.bytes(), 100);
    }
}
