//! The in-memory index: every disk entry's metadata, both LRU orders, the memory tier's
//! bytes, and the recent invalidations that late puts are checked against.
//!
//! It lives behind one `std::sync::Mutex` and never does I/O, so a memory hit is a hash
//! lookup plus two ordered-set updates under a lock held for well under a microsecond.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// How many invalidations a [`crate::PutTicket`] can be checked against. A ticket older
/// than the oldest one kept is refused outright: refusing a put costs one re-render,
/// accepting a stale one would serve it until the next invalidation.
const RECENT_INVALIDATIONS: usize = 4096;

/// What the caller told us about a variant, shared between the index and the
/// [`crate::CachedVariant`]s built from it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub object_key: String,
    pub depends_on: Vec<String>,
    pub source_etag: String,
    pub etag: String,
    pub content_type: String,
    pub last_modified_ms: i64,
    pub vary_accept: bool,
    pub cache_control: Option<String>,
}

pub(crate) struct Entry {
    pub bucket: String,
    pub lookup: String,
    pub meta: Arc<Meta>,
    pub size: u64,
    pub crc: u32,
    /// Position in the LRU orders; larger is more recent. Persisted, so the order
    /// survives restarts.
    pub tick: u64,
    /// Set while the entry is also in the memory tier.
    pub mem: Option<Bytes>,
}

#[derive(Default)]
struct BucketIndex {
    by_lookup: HashMap<String, u64>,
    /// Ordered so `purge_prefix` is a range scan.
    by_object: BTreeMap<String, HashSet<u64>>,
    by_dependency: BTreeMap<String, HashSet<u64>>,
}

impl BucketIndex {
    fn is_empty(&self) -> bool {
        self.by_lookup.is_empty()
    }
}

/// What an invalidation covered, remembered so a put that started before it can be
/// refused.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    Object { bucket: String, key: String },
    Prefix { bucket: String, prefix: String },
    Bucket(String),
    All,
}

impl Scope {
    fn covers(&self, bucket: &str, meta: &Meta) -> bool {
        match self {
            Scope::Object { bucket: b, key } => {
                b == bucket && (meta.object_key == *key || meta.depends_on.contains(key))
            }
            Scope::Prefix { bucket: b, prefix } => {
                b == bucket && meta.object_key.starts_with(prefix.as_str())
            }
            Scope::Bucket(b) => b == bucket,
            Scope::All => true,
        }
    }
}

#[derive(Default)]
struct Invalidations {
    seq: u64,
    /// Sequence number of the newest invalidation already forgotten.
    forgotten: u64,
    recent: VecDeque<(u64, Scope)>,
}

pub(crate) struct Index {
    entries: HashMap<u64, Entry>,
    buckets: HashMap<String, BucketIndex>,
    /// `(tick, id)`: ticks are unique within a run, the id breaks ties between ticks
    /// loaded from an index written by runs that crashed before flushing.
    disk_lru: BTreeSet<(u64, u64)>,
    mem_lru: BTreeSet<(u64, u64)>,
    next_tick: u64,
    disk_bytes: u64,
    mem_bytes: u64,
    max_mem: u64,
    /// Largest entry the memory tier takes; larger ones would flush too much of it.
    max_mem_entry: u64,
    /// Entries whose tick changed since the last flush.
    dirty: HashSet<u64>,
    invalidations: Invalidations,
}

impl Index {
    pub fn new(max_memory_bytes: u64) -> Index {
        Index {
            entries: HashMap::new(),
            buckets: HashMap::new(),
            disk_lru: BTreeSet::new(),
            mem_lru: BTreeSet::new(),
            next_tick: 1,
            disk_bytes: 0,
            mem_bytes: 0,
            max_mem: max_memory_bytes,
            max_mem_entry: max_memory_bytes / 8,
            dirty: HashSet::new(),
            invalidations: Invalidations::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }

    pub fn mem_bytes(&self) -> u64 {
        self.mem_bytes
    }

    pub fn get(&self, id: u64) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub fn lookup(&self, bucket: &str, lookup: &str) -> Option<u64> {
        self.buckets.get(bucket)?.by_lookup.get(lookup).copied()
    }

    pub fn fresh_tick(&mut self) -> u64 {
        let tick = self.next_tick;
        self.next_tick += 1;
        tick
    }

    /// Makes `id` the most recently used entry of both tiers.
    pub fn touch(&mut self, id: u64) -> Option<&Entry> {
        let tick = self.next_tick;
        let entry = self.entries.get_mut(&id)?;
        // Repeated hits on the hottest entry need no reordering.
        if entry.tick + 1 != tick {
            self.next_tick += 1;
            let old = entry.tick;
            entry.tick = tick;
            self.disk_lru.remove(&(old, id));
            self.disk_lru.insert((tick, id));
            if entry.mem.is_some() {
                self.mem_lru.remove(&(old, id));
                self.mem_lru.insert((tick, id));
            }
            self.dirty.insert(id);
        }
        Some(entry)
    }

    /// Adds an entry (without memory bytes; see [`Index::promote`]). The caller has
    /// removed any entry with the same bucket and lookup.
    pub fn insert(&mut self, id: u64, mut entry: Entry) {
        entry.mem = None;
        self.next_tick = self.next_tick.max(entry.tick + 1);
        let bucket = self.buckets.entry(entry.bucket.clone()).or_default();
        bucket.by_lookup.insert(entry.lookup.clone(), id);
        bucket
            .by_object
            .entry(entry.meta.object_key.clone())
            .or_default()
            .insert(id);
        for dep in &entry.meta.depends_on {
            bucket
                .by_dependency
                .entry(dep.clone())
                .or_default()
                .insert(id);
        }
        self.disk_lru.insert((entry.tick, id));
        self.disk_bytes += entry.size;
        self.entries.insert(id, entry);
    }

    /// Puts `bytes` in the memory tier if the entry is still indexed and small enough,
    /// pushing out the least recently used memory entries to make room.
    pub fn promote(&mut self, id: u64, bytes: Bytes) {
        let size = bytes.len() as u64;
        if size > self.max_mem_entry {
            return;
        }
        let Some(entry) = self.entries.get(&id) else {
            return;
        };
        if entry.mem.is_some() {
            return;
        }
        let tick = entry.tick;
        while self.mem_bytes + size > self.max_mem {
            let Some((_, victim)) = self.mem_lru.pop_first() else {
                break;
            };
            if let Some(v) = self.entries.get_mut(&victim)
                && let Some(b) = v.mem.take()
            {
                self.mem_bytes -= b.len() as u64;
            }
        }
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.mem = Some(bytes);
            self.mem_bytes += size;
            self.mem_lru.insert((tick, id));
        }
    }

    pub fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.disk_lru.remove(&(entry.tick, id));
        self.disk_bytes -= entry.size;
        if let Some(b) = &entry.mem {
            self.mem_lru.remove(&(entry.tick, id));
            self.mem_bytes -= b.len() as u64;
        }
        self.dirty.remove(&id);
        if let Some(bucket) = self.buckets.get_mut(&entry.bucket) {
            if bucket.by_lookup.get(&entry.lookup) == Some(&id) {
                bucket.by_lookup.remove(&entry.lookup);
            }
            remove_from_set(&mut bucket.by_object, &entry.meta.object_key, id);
            for dep in &entry.meta.depends_on {
                remove_from_set(&mut bucket.by_dependency, dep, id);
            }
            if bucket.is_empty() {
                self.buckets.remove(&entry.bucket);
            }
        }
        Some(entry)
    }

    /// The least recently used entries (never `keep`) that must go so that `incoming`
    /// more bytes fit under `max`, once `keep` itself is gone too.
    pub fn disk_victims(&self, incoming: u64, max: u64, keep: Option<u64>) -> Vec<u64> {
        let keep_size = keep
            .and_then(|id| self.entries.get(&id))
            .map_or(0, |e| e.size);
        let mut total = self.disk_bytes - keep_size + incoming;
        let mut victims = Vec::new();
        for &(_, id) in &self.disk_lru {
            if total <= max {
                break;
            }
            if Some(id) == keep {
                continue;
            }
            if let Some(e) = self.entries.get(&id) {
                total -= e.size;
                victims.push(id);
            }
        }
        victims
    }

    pub fn matching(&self, scope: &Scope) -> Vec<u64> {
        let mut ids = HashSet::new();
        match scope {
            Scope::Object { bucket, key } => {
                if let Some(b) = self.buckets.get(bucket) {
                    ids.extend(b.by_object.get(key).into_iter().flatten());
                    ids.extend(b.by_dependency.get(key).into_iter().flatten());
                }
            }
            Scope::Prefix { bucket, prefix } => {
                if let Some(b) = self.buckets.get(bucket) {
                    let under = b
                        .by_object
                        .range::<str, _>((
                            std::ops::Bound::Included(prefix.as_str()),
                            std::ops::Bound::Unbounded,
                        ))
                        .take_while(|(k, _)| k.starts_with(prefix.as_str()));
                    for (_, set) in under {
                        ids.extend(set);
                    }
                }
            }
            Scope::Bucket(bucket) => {
                if let Some(b) = self.buckets.get(bucket) {
                    ids.extend(b.by_lookup.values());
                }
            }
            Scope::All => ids.extend(self.entries.keys()),
        }
        ids.into_iter().collect()
    }

    pub fn invalidation_seq(&self) -> u64 {
        self.invalidations.seq
    }

    pub fn record_invalidation(&mut self, scope: Scope) {
        let inv = &mut self.invalidations;
        inv.seq += 1;
        inv.recent.push_back((inv.seq, scope));
        if inv.recent.len() > RECENT_INVALIDATIONS
            && let Some((seq, _)) = inv.recent.pop_front()
        {
            inv.forgotten = seq;
        }
    }

    /// Whether an invalidation after sequence number `since` covers this variant.
    pub fn invalidated_since(&self, since: u64, bucket: &str, meta: &Meta) -> bool {
        let inv = &self.invalidations;
        if since < inv.forgotten {
            return true;
        }
        inv.recent
            .iter()
            .rev()
            .take_while(|(seq, _)| *seq > since)
            .any(|(_, scope)| scope.covers(bucket, meta))
    }

    /// The ticks to persist since the last call.
    pub fn take_dirty(&mut self) -> Vec<(u64, u64)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .filter_map(|id| self.entries.get(&id).map(|e| (id, e.tick)))
            .collect()
    }

    /// Puts back ticks whose flush failed, so the next flush retries them.
    pub fn mark_dirty(&mut self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            if self.entries.contains_key(&id) {
                self.dirty.insert(id);
            }
        }
    }
}

fn remove_from_set(map: &mut BTreeMap<String, HashSet<u64>>, key: &str, id: u64) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(bucket: &str, lookup: &str, key: &str, deps: &[&str], size: u64, tick: u64) -> Entry {
        Entry {
            bucket: bucket.into(),
            lookup: lookup.into(),
            meta: Arc::new(Meta {
                object_key: key.into(),
                depends_on: deps.iter().map(|d| d.to_string()).collect(),
                source_etag: String::new(),
                etag: String::new(),
                content_type: String::new(),
                last_modified_ms: 0,
                vary_accept: false,
                cache_control: None,
            }),
            size,
            crc: 0,
            tick,
            mem: None,
        }
    }

    #[test]
    fn victims_are_least_recent_first_and_skip_the_replaced_entry() {
        let mut ix = Index::new(0);
        for (id, tick) in [(1, 10), (2, 5), (3, 7)] {
            ix.insert(id, entry("b", &format!("l{id}"), "k", &[], 10, tick));
        }
        assert_eq!(ix.disk_victims(10, 30, None), vec![2]);
        assert_eq!(ix.disk_victims(20, 30, None), vec![2, 3]);
        // Replacing entry 2: its own bytes are freed, nothing else needs to go.
        assert!(ix.disk_victims(10, 30, Some(2)).is_empty());
        ix.touch(2);
        assert_eq!(ix.disk_victims(10, 30, None), vec![3]);
    }

    #[test]
    fn prefix_matching_is_bounded_by_the_prefix() {
        let mut ix = Index::new(0);
        ix.insert(1, entry("b", "1", "a/x", &[], 1, 1));
        ix.insert(2, entry("b", "2", "a/y", &[], 1, 2));
        ix.insert(3, entry("b", "3", "ab", &[], 1, 3));
        ix.insert(4, entry("c", "4", "a/z", &[], 1, 4));
        let mut ids = ix.matching(&Scope::Prefix {
            bucket: "b".into(),
            prefix: "a/".into(),
        });
        ids.sort();
        assert_eq!(ids, vec![1, 2]);
    }

    #[test]
    fn removal_cleans_every_map() {
        let mut ix = Index::new(100);
        ix.insert(1, entry("b", "1", "k", &["wm"], 10, 1));
        ix.promote(1, Bytes::from_static(b"0123456789"));
        assert_eq!(ix.mem_bytes(), 10);
        ix.remove(1);
        assert_eq!((ix.len(), ix.disk_bytes(), ix.mem_bytes()), (0, 0, 0));
        assert!(ix.buckets.is_empty() && ix.disk_lru.is_empty() && ix.mem_lru.is_empty());
    }

    #[test]
    fn tickets_see_later_invalidations_only() {
        let mut ix = Index::new(0);
        let e = entry("b", "1", "k", &["wm"], 1, 1);
        let before = ix.invalidation_seq();
        ix.record_invalidation(Scope::Object {
            bucket: "b".into(),
            key: "wm".into(),
        });
        assert!(ix.invalidated_since(before, "b", &e.meta));
        assert!(!ix.invalidated_since(ix.invalidation_seq(), "b", &e.meta));
        assert!(!ix.invalidated_since(before, "other", &e.meta));
        for _ in 0..RECENT_INVALIDATIONS {
            ix.record_invalidation(Scope::Bucket("x".into()));
        }
        // The covering invalidation was forgotten: refuse rather than guess.
        assert!(ix.invalidated_since(before, "b", &e.meta));
    }
}
