//! The megaflow cache: tuple space search over masked flow keys.
//!
//! # What a megaflow is
//!
//! A megaflow is a (masked key, mask, actions) triple installed after a
//! miss was translated by the slow path: every packet whose key agrees with
//! `key` on the bits set in `mask` gets `actions`.  The translation reports
//! exactly which bits it consulted, so one megaflow usually covers many
//! microflows (connections).
//!
//! # Structure
//!
//! Megaflows are grouped by mask into *subtables* (the "tuples" of tuple
//! space search).  Each subtable keeps the list of key words its mask
//! touches, and a hash table from the hash of the masked key over just
//! those words to a short bucket of megaflows (more than one only on a
//! 64-bit hash collision).  A lookup walks the subtables in rank order,
//! hashes the packet key under each mask, and checks the bucket; the cost
//! is one hash + one probe per subtable visited, independent of the number
//! of megaflows.
//!
//! # Invariants
//!
//! * The cache does not order megaflows: the datapath's owner guarantees
//!   that installed megaflows never overlap (no packet matches two), as
//!   the translation produces them.  If two did overlap, a lookup would
//!   return whichever subtable comes first; that is the only effect.
//! * A stored key is always pre-masked (`key == key.masked(&mask)`), and at
//!   most one megaflow exists per (masked key, mask): inserting it again is
//!   [`CacheError::Exists`].
//! * The number of megaflows never exceeds the limit given to
//!   [`MegaflowCache::new`] ([`CacheError::Full`]).
//! * A subtable exists only while it holds at least one megaflow.
//! * A megaflow removed from the cache (remove, flush) is marked dead, so
//!   that an exact-match cache entry still holding its `Arc` stops
//!   matching (see [`crate::emc`]).
//!
//! # Ranking
//!
//! Each subtable counts its hits (a relaxed atomic updated without a
//! locked instruction, so [`MegaflowCache::lookup`] takes `&self` and stays
//! cheap; concurrent updates may lose counts, which only blurs ranking).
//! [`MegaflowCache::rerank`] re-sorts subtables by hits since the previous
//! call and resets the counters; the poll-mode thread calls it
//! periodically (Open vSwitch does so every second), so the subtables that
//! catch most traffic are tried first.
//!
//! # Statistics
//!
//! Per-megaflow packets, bytes, last-used time (milliseconds, passed in by
//! the caller) and the OR of TCP flags are relaxed atomics in [`Megaflow`]:
//! the forwarding thread updates them through its `Arc` while a dump reads
//! them, with no lock.  Readers may see a packet counted before its bytes;
//! nothing depends on the counters being mutually consistent.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};

use crate::actions::DpAction;
use crate::flow::{FlowKey, FlowMask};

/// Why an insert into the megaflow cache failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The cache holds its limit of megaflows.
    #[error("megaflow cache full")]
    Full,
    /// A megaflow with the same masked key and mask is installed.
    #[error("megaflow already exists")]
    Exists,
    /// The slow path's state changed while the decision was being made
    /// (a revalidation started): the decision may be stale and is not
    /// cached.
    #[error("decision made against a superseded slow-path state")]
    Stale,
}

/// A snapshot of a megaflow's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Packets matched.
    pub packets: u64,
    /// Bytes matched.
    pub bytes: u64,
    /// Time of the last hit in milliseconds (0 = never), caller's clock.
    pub used_ms: u64,
    /// OR of the TCP flags seen.
    pub tcp_flags: u16,
}

/// One installed megaflow.
#[derive(Debug)]
pub struct Megaflow {
    /// The masked key.
    pub key: FlowKey,
    /// The full key of the packet whose upcall created the megaflow (the
    /// key to re-translate it with: a translation of the masked key may
    /// consult bits the original did not).
    pub orig_key: FlowKey,
    /// The mask.
    pub mask: FlowMask,
    /// Actions to execute on a hit.
    pub actions: Arc<[DpAction]>,
    /// Unique flow id, derived from key and mask (stable across re-installs).
    pub ufid: u128,
    packets: AtomicU64,
    bytes: AtomicU64,
    used_ms: AtomicU64,
    tcp_flags: AtomicU16,
    dead: AtomicBool,
}

impl Megaflow {
    /// A megaflow outside any cache (key is masked here).
    pub fn new(key: FlowKey, mask: FlowMask, actions: Arc<[DpAction]>) -> Megaflow {
        let orig_key = key;
        let key = key.masked(&mask);
        Megaflow {
            ufid: ufid_of(&key, &mask),
            orig_key,
            key,
            mask,
            actions,
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            used_ms: AtomicU64::new(0),
            tcp_flags: AtomicU16::new(0),
            dead: AtomicBool::new(false),
        }
    }

    /// Accounts `packets` packets of `bytes` bytes seen at `now_ms`.
    #[inline]
    pub fn record(&self, packets: u64, bytes: u64, tcp_flags: u16, now_ms: u64) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if self.used_ms.load(Ordering::Relaxed) < now_ms {
            self.used_ms.store(now_ms, Ordering::Relaxed);
        }
        if tcp_flags != 0 {
            self.tcp_flags.fetch_or(tcp_flags, Ordering::Relaxed);
        }
    }

    /// Current counters.
    pub fn stats(&self) -> FlowStats {
        FlowStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            used_ms: self.used_ms.load(Ordering::Relaxed),
            tcp_flags: self.tcp_flags.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the counters (used time and flags too).
    pub fn clear_stats(&self) {
        self.packets.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.used_ms.store(0, Ordering::Relaxed);
        self.tcp_flags.store(0, Ordering::Relaxed);
    }

    /// True once the megaflow was removed from its cache.
    #[inline]
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }

    fn kill(&self) {
        self.dead.store(true, Ordering::Relaxed);
    }
}

/// The ufid a megaflow with this masked key and mask gets.
pub fn ufid_of(key: &FlowKey, mask: &FlowMask) -> u128 {
    let a = key.hash_masked(mask, 0x5bd1_e995) ^ mask.key.hash(7);
    let b = key.hash_masked(mask, 0x1b87_3593) ^ mask.key.hash(11);
    (u128::from(a) << 64) | u128::from(b)
}

/// Hasher for keys that are already good hashes.
#[derive(Default, Debug, Clone, Copy)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Buckets = HashMap<u64, Vec<Arc<Megaflow>>, BuildHasherDefault<PreHashed>>;

const BASIS: u64 = 0x2545_f491_4f6c_dd1d;

#[derive(Debug)]
struct Subtable {
    mask: FlowMask,
    /// Indices of the key words the mask touches.
    words: Vec<u8>,
    flows: Buckets,
    count: usize,
    hits: AtomicU64,
}

impl Subtable {
    fn new(mask: FlowMask) -> Subtable {
        Subtable {
            words: mask.nonzero_words().map(|i| i as u8).collect(),
            mask,
            flows: Buckets::default(),
            count: 0,
            hits: AtomicU64::new(0),
        }
    }

    #[inline]
    fn hash(&self, key: &FlowKey) -> u64 {
        key.hash_words(&self.mask, &self.words, BASIS)
    }

    #[inline]
    fn find(&self, key: &FlowKey, h: u64) -> Option<&Arc<Megaflow>> {
        self.flows
            .get(&h)?
            .iter()
            .find(|f| key.matches_words(&f.key, &self.mask, &self.words))
    }
}

/// Tuple-space-search megaflow cache (see the module documentation).
#[derive(Debug)]
pub struct MegaflowCache {
    subtables: Vec<Subtable>,
    len: usize,
    limit: usize,
}

impl MegaflowCache {
    /// An empty cache holding at most `limit` megaflows.
    pub fn new(limit: usize) -> Self {
        MegaflowCache {
            subtables: Vec::new(),
            len: 0,
            limit,
        }
    }

    /// The megaflow matching `key`, if any.  Counts a hit on its subtable.
    /// Allocates nothing.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<Arc<Megaflow>> {
        self.lookup_ref(key).cloned()
    }

    /// Like [`MegaflowCache::lookup`] without cloning the `Arc`.
    #[inline]
    pub fn lookup_ref(&self, key: &FlowKey) -> Option<&Arc<Megaflow>> {
        for st in &self.subtables {
            if let Some(f) = st.find(key, st.hash(key)) {
                // A plain load/store, not a locked add: hit counts only
                // steer ranking, so a count lost to a concurrent reader's
                // reset or another thread's increment does no harm.
                st.hits
                    .store(st.hits.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                return Some(f);
            }
        }
        None
    }

    /// Installs a megaflow.  `key` is masked by `mask` first.
    pub fn insert(
        &mut self,
        key: FlowKey,
        mask: FlowMask,
        actions: Arc<[DpAction]>,
    ) -> Result<Arc<Megaflow>, CacheError> {
        let flow = Arc::new(Megaflow::new(key, mask, actions));
        self.insert_flow(flow.clone())?;
        Ok(flow)
    }

    /// Installs an already built megaflow (e.g. moved from another cache).
    pub fn insert_flow(&mut self, flow: Arc<Megaflow>) -> Result<(), CacheError> {
        let idx = match self.subtables.iter().position(|s| s.mask == flow.mask) {
            Some(i) => i,
            None => {
                if self.len >= self.limit {
                    return Err(CacheError::Full);
                }
                self.subtables.push(Subtable::new(flow.mask));
                self.subtables.len() - 1
            }
        };
        let st = &mut self.subtables[idx];
        let h = st.hash(&flow.key);
        if st.find(&flow.key, h).is_some() {
            return Err(CacheError::Exists);
        }
        if self.len >= self.limit {
            return Err(CacheError::Full);
        }
        st.flows.entry(h).or_default().push(flow);
        st.count += 1;
        self.len += 1;
        Ok(())
    }

    /// The megaflow installed with exactly this (masked) key and mask.
    pub fn get(&self, key: &FlowKey, mask: &FlowMask) -> Option<Arc<Megaflow>> {
        let st = self.subtables.iter().find(|s| s.mask == *mask)?;
        let k = key.masked(mask);
        st.flows
            .get(&st.hash(&k))?
            .iter()
            .find(|f| f.key == k)
            .cloned()
    }

    /// Removes the megaflow with exactly this key and mask, marking it dead.
    pub fn remove(&mut self, key: &FlowKey, mask: &FlowMask) -> Option<Arc<Megaflow>> {
        let idx = self.subtables.iter().position(|s| s.mask == *mask)?;
        let st = &mut self.subtables[idx];
        let k = key.masked(mask);
        let h = st.hash(&k);
        let bucket = st.flows.get_mut(&h)?;
        let pos = bucket.iter().position(|f| f.key == k)?;
        let flow = bucket.swap_remove(pos);
        if bucket.is_empty() {
            st.flows.remove(&h);
        }
        st.count -= 1;
        self.len -= 1;
        if st.count == 0 {
            self.subtables.remove(idx);
        }
        flow.kill();
        Some(flow)
    }

    /// Removes the megaflow with this ufid.
    pub fn remove_ufid(&mut self, ufid: u128) -> Option<Arc<Megaflow>> {
        let f = self.find_ufid(ufid)?;
        self.remove(&f.key, &f.mask)
    }

    /// The megaflow with this ufid (a scan; for control-plane use).
    pub fn find_ufid(&self, ufid: u128) -> Option<Arc<Megaflow>> {
        self.iter().find(|f| f.ufid == ufid).cloned()
    }

    /// Removes every megaflow for which `pred` returns false (revalidation).
    /// Returns the removed ones.
    pub fn retain(&mut self, mut pred: impl FnMut(&Megaflow) -> bool) -> Vec<Arc<Megaflow>> {
        let mut gone = Vec::new();
        for st in &mut self.subtables {
            st.flows.retain(|_, b| {
                b.retain(|f| {
                    let keep = pred(f);
                    if !keep {
                        f.kill();
                        gone.push(f.clone());
                    }
                    keep
                });
                !b.is_empty()
            });
            st.count = st.flows.values().map(Vec::len).sum();
        }
        self.subtables.retain(|s| s.count > 0);
        self.len -= gone.len();
        gone
    }

    /// Every installed megaflow.
    pub fn dump(&self) -> Vec<Arc<Megaflow>> {
        self.iter().cloned().collect()
    }

    /// Iterates over the installed megaflows.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Megaflow>> + '_ {
        self.subtables
            .iter()
            .flat_map(|s| s.flows.values().flatten())
    }

    /// Removes every megaflow (marking each dead).
    pub fn flush(&mut self) {
        for f in self.iter() {
            f.kill();
        }
        self.subtables.clear();
        self.len = 0;
    }

    /// Number of megaflows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if no megaflow is installed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of distinct masks (subtables).
    pub fn subtable_count(&self) -> usize {
        self.subtables.len()
    }

    /// The flow limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the flow limit (existing flows stay even if above it).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Re-sorts subtables by hits since the last call (most first) and
    /// resets the hit counters.
    pub fn rerank(&mut self) {
        self.subtables
            .sort_by_cached_key(|s| std::cmp::Reverse(s.hits.swap(0, Ordering::Relaxed)));
    }

    /// The subtable masks in lookup order (for tests and debugging).
    pub fn masks(&self) -> Vec<FlowMask> {
        self.subtables.iter().map(|s| s.mask).collect()
    }
}
