//! The exact-match cache: a small per-thread table from a packet's full
//! flow key to its megaflow, consulted before the megaflow cache.
//!
//! Like Open vSwitch's EMC it has 8192 entries by default, each key has two
//! candidate slots (two 13-bit slices of its hash), and a miss inserts only
//! with probability 1/`insert_inv_prob` (default 100) so that a flood of
//! short flows does not thrash the entries of long-lived ones.  Entries
//! hold an `Arc` to the megaflow; an entry whose megaflow was removed from
//! the megaflow cache (marked dead) no longer hits and is cleared on the
//! next lookup.  The table never grows; lookup and insert allocate nothing.

use std::sync::Arc;

use crate::flow::FlowKey;
use crate::megaflow::Megaflow;

/// Default number of entries.
pub const EMC_ENTRIES: usize = 8192;
/// Default inverse insertion probability.
pub const EMC_INSERT_INV_PROB: u32 = 100;

#[derive(Debug, Clone, Default)]
struct Entry {
    hash: u64,
    key: FlowKey,
    flow: Option<Arc<Megaflow>>,
}

/// A bounded exact-match cache (one per poll-mode thread).
#[derive(Debug)]
pub struct Emc {
    entries: Box<[Entry]>,
    mask: usize,
    shift: u32,
    inv_prob: u32,
    rng: u64,
}

impl Default for Emc {
    fn default() -> Self {
        Emc::new(EMC_ENTRIES)
    }
}

impl Emc {
    /// A cache with `entries` slots, rounded up to a power of two (min 2).
    pub fn new(entries: usize) -> Emc {
        let n = entries.max(2).next_power_of_two();
        Emc {
            entries: vec![Entry::default(); n].into_boxed_slice(),
            mask: n - 1,
            shift: n.trailing_zeros(),
            inv_prob: EMC_INSERT_INV_PROB,
            rng: 0x853c_49e6_748f_ea9b,
        }
    }

    /// Sets the inverse insertion probability: 0 disables insertion, 1
    /// inserts on every call, N inserts with probability 1/N.
    pub fn set_insert_inv_prob(&mut self, inv_prob: u32) {
        self.inv_prob = inv_prob;
    }

    /// The hash to pass to [`Emc::lookup`] and [`Emc::insert`].
    #[inline]
    pub fn hash(key: &FlowKey) -> u64 {
        key.hash(0x6a09_e667_f3bc_c908)
    }

    #[inline]
    fn slots(&self, hash: u64) -> [usize; 2] {
        let a = (hash as usize) & self.mask;
        let b = ((hash >> self.shift) as usize) & self.mask;
        [a, b]
    }

    /// The live megaflow cached for exactly `key` (`hash` from [`Emc::hash`]).
    #[inline]
    pub fn lookup(&mut self, key: &FlowKey, hash: u64) -> Option<&Arc<Megaflow>> {
        let [a, b] = self.slots(hash);
        for i in [a, b] {
            let e = &self.entries[i];
            if e.hash == hash && e.key == *key {
                match &e.flow {
                    Some(f) if !f.is_dead() => return self.entries[i].flow.as_ref(),
                    Some(_) => self.entries[i].flow = None,
                    None => {}
                }
            }
        }
        None
    }

    /// Maybe caches `flow` for `key` (see the insertion probability).
    #[inline]
    pub fn insert(&mut self, key: &FlowKey, hash: u64, flow: &Arc<Megaflow>) {
        if self.inv_prob == 0 {
            return;
        }
        if self.inv_prob > 1 {
            // xorshift64*
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
            if (r >> 32) % u64::from(self.inv_prob) != 0 {
                return;
            }
        }
        self.insert_always(key, hash, flow);
    }

    /// Caches `flow` for `key` regardless of the insertion probability.
    pub fn insert_always(&mut self, key: &FlowKey, hash: u64, flow: &Arc<Megaflow>) {
        let [a, b] = self.slots(hash);
        let pick = {
            let ea = &self.entries[a];
            let eb = &self.entries[b];
            let free = |e: &Entry| e.flow.as_ref().is_none_or(|f| f.is_dead());
            if ea.hash == hash && ea.key == *key {
                a
            } else if eb.hash == hash && eb.key == *key {
                b
            } else if free(ea) {
                a
            } else if free(eb) {
                b
            } else if ea.hash < eb.hash {
                a
            } else {
                b
            }
        };
        let e = &mut self.entries[pick];
        e.hash = hash;
        e.key = *key;
        e.flow = Some(flow.clone());
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        for e in self.entries.iter_mut() {
            e.flow = None;
            e.hash = 0;
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Number of slots holding a live megaflow.
    pub fn live_entries(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.flow.as_ref().is_some_and(|f| !f.is_dead()))
            .count()
    }
}
