//! The OpenFlow classifier: priority-ordered tuple space search over
//! masked [`FlowKey`]s that reports the bits it consulted.
//!
//! # What it does
//!
//! A [`Classifier`] holds rules, each a `(key, mask, priority)` triple plus
//! a payload.  [`Classifier::lookup`] returns the highest-priority rule
//! whose masked key equals the packet's key under the same mask, and ORs
//! into a caller-supplied [`FlowMask`] (the *wildcard mask* of the megaflow
//! being built) every key bit the answer depended on.  The contract that
//! makes megaflows correct is:
//!
//! > For every packet `p2` that agrees with `p` on all bits of the reported
//! > mask, `lookup(p2)` returns the same rule as `lookup(p)`.
//!
//! The rest of the design is about keeping that mask as narrow as the rules
//! allow, so that one megaflow covers many connections.
//!
//! # Design
//!
//! * **Tuple space search.**  Rules are grouped by mask into *subtables*;
//!   each subtable is a hash map from the hash of the masked key to the
//!   rules with that hash (highest priority first; a probe compares keys).
//!   A lookup hashes the packet under each subtable's mask and probes the
//!   map: cost grows with the number of distinct masks, not of rules.
//! * **Priority order with early exit.**  Subtables are kept sorted by the
//!   highest priority they hold.  Once a match of priority `P` is found, a
//!   subtable whose maximum is `<= P` cannot improve it, so the search
//!   stops there and never consults (never un-wildcards) the rest.  Among
//!   rules of equal priority that match one packet, OpenFlow leaves the
//!   choice undefined; here it is deterministic (the first one met).
//! * **Staged lookup.**  The key's words are grouped into four stages
//!   (metadata, L2, L3, L4; [`STAGE_ENDS`]).  For every stage before the
//!   last one its mask touches, a subtable keeps the set of hashes of its
//!   rules' keys masked up to that stage (with a reference count).  The
//!   lookup checks stage by stage; when a stage's hash is absent, no rule of
//!   the subtable can match and only the bits of the stages consulted so
//!   far are added to the wildcard mask.  So an L2 rule that misses on
//!   `eth_dst` leaves L3/L4 wildcarded.  (A hash collision only makes the
//!   lookup go on to the next stage: correct, just less narrow.)
//! * **Prefix tracking.**  For `ipv4_src`, `ipv4_dst`, `ipv6_src` and
//!   `ipv6_dst`, a binary trie holds the prefix of every rule whose mask on
//!   that field is a CIDR prefix.  Before probing a subtable whose mask has
//!   prefix length `L` on a tracked field, the lookup asks the trie which
//!   prefix lengths exist along the packet's address and how many leading
//!   address bits that answer depended on (`checkbits`).  If no rule prefix
//!   of length `L` lies on the path, the subtable is skipped and only
//!   `min(checkbits, L)` leading bits of the address are un-wildcarded,
//!   instead of `L` (or the whole address, for host routes).  Rules
//!   `10.1.2.3/32` and `0.0.0.0/0`, lookup `192.168.0.1`: the trie
//!   diverges at the first bit, so one bit of `nw_dst` is un-wildcarded.
//!
//! # Invariants
//!
//! * A rule's stored key is already masked by its mask.
//! * No two rules share `(masked key, mask, priority)`: inserting such a
//!   rule replaces the old one (the old one is returned).
//! * Every subtable holds at least one rule; its `max_priority` is the
//!   largest priority among its rules (kept with a priority histogram so
//!   removal is `O(log n)`); subtables are sorted by it, descending.
//! * Each stage hash set counts each distinct masked key of the subtable
//!   once; each trie counts each rule with a prefix mask (length > 0) on
//!   its field once.
//! * Every decision a lookup takes (skip by trie, miss at a stage, hit,
//!   early exit) depends only on key bits it adds to the wildcard mask, and
//!   the subtable order does not depend on the packet; hence the contract.
//!   (A trie test that *passes* is not recorded: if the subtable then
//!   misses at a stage, the outcome is a miss either way; if it hits, the
//!   whole prefix is un-wildcarded with the subtable's mask.  So the mask
//!   is sound but not canonical: two packets agreeing on it get the same
//!   rule, not necessarily the same mask.)
//!
//! # Snapshots
//!
//! Rules are stored as `Arc<ClsRule<T>>`, so [`Clone`] copies pointers, not
//! rules: a table can be cloned into an immutable snapshot for translation
//! threads while the next version is edited.  The clone is `O(rules)`
//! pointer copies; the switch avoids paying it per publish by keeping two
//! copies and replaying edits (`FlowTable`'s journal, `Switch::table_mut`).
//! Payloads that need to change in place in a published snapshot (rule
//! counters) use interior atomics.
//!
//! # Not built (yet)
//!
//! * The tries are plain binary tries, one node per bit (no path
//!   compression): `O(prefix length)` per insert/lookup and about 12 bytes
//!   per node.
//! * Subtables are found by a linear scan of masks on insert/remove
//!   (lookups never search by mask).
//! * No partitioning by `metadata` and no per-port ("in_port") index.
//! * No prefix tracking for L4 ports (Open vSwitch's "ports trie"): a
//!   subtable with exact `tp_dst` that misses un-wildcards all 16 bits.
//! * Each rule stores its own copy of the mask (a `FlowKey`, 200 bytes);
//!   sharing the subtable's would save that much per rule.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datapath::flow::{FLOW_WORDS, Field, FlowKey, FlowMask, STAGE_ENDS};

/// A rule: masked key, mask, priority and a payload.  The mask is shared
/// (`Arc`) by the rules of a table that have the same one
/// ([`ClsRule::with_shared_mask`], [`Classifier::shared_mask`]): a
/// 200-byte copy per rule is most of a rule's match.
#[derive(Debug)]
pub struct ClsRule<T> {
    key: FlowKey,
    mask: Arc<FlowMask>,
    priority: u32,
    /// What the rule carries (actions, counters, ...).
    pub data: T,
}

impl<T> ClsRule<T> {
    /// A rule matching `key` under `mask` (the key is masked here).
    pub fn new(key: FlowKey, mask: FlowMask, priority: u32, data: T) -> Self {
        Self::with_shared_mask(key, Arc::new(mask), priority, data)
    }

    /// [`ClsRule::new`] with a mask other rules may share.
    pub fn with_shared_mask(key: FlowKey, mask: Arc<FlowMask>, priority: u32, data: T) -> Self {
        Self {
            key: key.masked(&mask),
            mask,
            priority,
            data,
        }
    }

    /// The rule's mask, shared.
    pub fn mask_arc(&self) -> &Arc<FlowMask> {
        &self.mask
    }

    /// The rule's key, masked by its mask.
    pub fn key(&self) -> &FlowKey {
        &self.key
    }

    /// The rule's mask.
    pub fn mask(&self) -> &FlowMask {
        &self.mask
    }

    /// The rule's priority (higher wins).
    pub fn priority(&self) -> u32 {
        self.priority
    }

    /// True if the rule matches packet key `pkt`.
    pub fn matches(&self, pkt: &FlowKey) -> bool {
        pkt.matches(&self.key, &self.mask)
    }

    /// True if this rule has the same match as `(key, mask)` (`key` need
    /// not be masked).
    pub fn same_match(&self, key: &FlowKey, mask: &FlowMask) -> bool {
        *self.mask == *mask && key.masked(mask) == self.key
    }

    /// True if this rule's match is at least as specific as `(key, mask)`:
    /// every packet it matches is matched by `(key, mask)`.  This is the
    /// OpenFlow non-strict modify/delete selection.
    pub fn is_within(&self, key: &FlowKey, mask: &FlowMask) -> bool {
        mask.is_subset_of(&self.mask) && self.key.matches(key, mask)
    }

    /// True if some packet matches both this rule and `(key, mask)`.
    pub fn overlaps(&self, key: &FlowKey, mask: &FlowMask) -> bool {
        let a = self.key.as_words();
        let b = key.as_words();
        let ma = self.mask.key.as_words();
        let mb = mask.key.as_words();
        (0..FLOW_WORDS).all(|i| match (a.get(i), b.get(i), ma.get(i), mb.get(i)) {
            (Some(x), Some(y), Some(mx), Some(my)) => (x ^ y) & mx & my == 0,
            _ => true,
        })
    }
}

/// The address fields with prefix tracking, in trie order.
const TRIE_FIELDS: [Field; 4] = [
    Field::Ipv4Src,
    Field::Ipv4Dst,
    Field::Ipv6Src,
    Field::Ipv6Dst,
];

/// The mask of the `plen` leading bits of a `width`-bit field.
fn prefix_mask(width: u32, plen: u32) -> u128 {
    let full = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    if plen == 0 {
        0
    } else if plen >= width {
        full
    } else {
        full & !(full >> plen)
    }
}

/// The prefix length of `mask` if it is a CIDR prefix of a `width`-bit field.
fn prefix_len(mask: u128, width: u32) -> Option<u32> {
    let plen = mask.count_ones();
    (mask == prefix_mask(width, plen)).then_some(plen)
}

/// A field value moved to the top bits of a `u128`.
fn left_align(v: u128, width: u32) -> u128 {
    if width >= 128 { v } else { v << (128 - width) }
}

#[derive(Clone, Copy, Debug, Default)]
struct TrieNode {
    /// Child node indices for bit 0 and 1; 0 means none (0 is the root).
    child: [u32; 2],
    /// Prefixes ending exactly here.
    here: u32,
    /// Prefixes ending here or below.
    below: u32,
}

/// What a trie lookup learnt about one address.
#[derive(Clone, Copy, Debug, Default)]
struct TrieResult {
    /// Bit `l` set: some tracked prefix of length `l` contains the address.
    plens: [u64; 3],
    /// Leading address bits the answer depends on.
    checkbits: u32,
}

impl TrieResult {
    fn set(&mut self, plen: u32) {
        let i = (plen / 64) as usize;
        if let Some(w) = self.plens.get_mut(i) {
            *w |= 1u64 << (plen % 64);
        }
    }
    fn has(&self, plen: u32) -> bool {
        let i = (plen / 64) as usize;
        self.plens
            .get(i)
            .is_some_and(|w| w & (1u64 << (plen % 64)) != 0)
    }
}

/// A binary trie of prefixes (left-aligned in a `u128`), with reference
/// counts, for one address field.
#[derive(Clone, Debug)]
struct Trie {
    nodes: Vec<TrieNode>,
    free: Vec<u32>,
}

#[inline]
fn bit_at(addr: u128, i: u32) -> usize {
    ((addr >> (127 - i)) & 1) as usize
}

impl Trie {
    fn new() -> Self {
        Self {
            nodes: vec![TrieNode::default()],
            free: Vec::new(),
        }
    }

    fn node(&self, i: u32) -> TrieNode {
        self.nodes.get(i as usize).copied().unwrap_or_default()
    }

    fn node_mut(&mut self, i: u32) -> Option<&mut TrieNode> {
        self.nodes.get_mut(i as usize)
    }

    fn alloc(&mut self) -> u32 {
        if let Some(i) = self.free.pop() {
            if let Some(n) = self.node_mut(i) {
                *n = TrieNode::default();
            }
            i
        } else {
            self.nodes.push(TrieNode::default());
            u32::try_from(self.nodes.len() - 1).unwrap_or(u32::MAX)
        }
    }

    fn insert(&mut self, addr: u128, plen: u32) {
        let mut node = 0u32;
        if let Some(n) = self.node_mut(0) {
            n.below += 1;
        }
        for i in 0..plen.min(128) {
            let b = bit_at(addr, i);
            let mut c = self.node(node).child[b];
            if c == 0 {
                c = self.alloc();
                if let Some(n) = self.node_mut(node) {
                    n.child[b] = c;
                }
            }
            node = c;
            if let Some(n) = self.node_mut(node) {
                n.below += 1;
            }
        }
        if let Some(n) = self.node_mut(node) {
            n.here += 1;
        }
    }

    fn remove(&mut self, addr: u128, plen: u32) {
        // Find the path first, so a missing prefix changes nothing.
        let mut path = vec![0u32];
        let mut node = 0u32;
        for i in 0..plen.min(128) {
            let c = self.node(node).child[bit_at(addr, i)];
            if c == 0 {
                return;
            }
            path.push(c);
            node = c;
        }
        if self.node(node).here == 0 {
            return;
        }
        if let Some(n) = self.node_mut(node) {
            n.here -= 1;
        }
        for &p in &path {
            if let Some(n) = self.node_mut(p) {
                n.below = n.below.saturating_sub(1);
            }
        }
        // Unlink the topmost emptied node; free it and everything under it
        // on the path (an emptied subtree holds nothing off the path).
        for d in 1..path.len() {
            let (parent, me) = (path[d - 1], path[d]);
            if self.node(me).below == 0 {
                let b = bit_at(addr, (d - 1) as u32);
                if let Some(n) = self.node_mut(parent) {
                    n.child[b] = 0;
                }
                for &q in &path[d..] {
                    if let Some(n) = self.node_mut(q) {
                        *n = TrieNode::default();
                    }
                    self.free.push(q);
                }
                break;
            }
        }
    }

    fn lookup(&self, addr: u128, width: u32) -> TrieResult {
        let mut r = TrieResult::default();
        let mut node = self.node(0);
        if node.here > 0 {
            r.set(0);
        }
        let mut depth = 0;
        loop {
            if depth >= width || node.child == [0, 0] {
                // Nothing deeper: the answer needs only the bits walked.
                r.checkbits = depth;
                break;
            }
            let c = node.child[bit_at(addr, depth)];
            if c == 0 {
                // The path ends on this bit: it was consulted.
                r.checkbits = depth + 1;
                break;
            }
            node = self.node(c);
            depth += 1;
            if node.here > 0 {
                r.set(depth);
            }
        }
        r
    }
}

/// One intermediate stage of a subtable: the subtable's mask cut at the
/// end of the stage, and the hashes of its keys under that mask.
#[derive(Clone, Debug)]
struct Stage {
    mask: FlowMask,
    words: Vec<u8>,
    hashes: HashKeyed<u32>,
}

/// Stage hashes use a fixed basis: they never leave the process.
const STAGE_BASIS: u64 = 0x5eed_c1a5_5f1e_0001;

/// A fast hasher for the subtable maps (masked keys, stage hashes): a
/// multiply-fold over 8-byte words.  The maps' keys come from rules (the
/// controller, trusted); packets only probe them, so flooding a map with
/// colliding keys is not open to them.
#[derive(Clone, Copy, Debug, Default)]
struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, w: u64) {
        let r = u128::from(self.0 ^ w) * 0x9e37_79b9_7f4a_7c15u128;
        self.0 = (r as u64) ^ ((r >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        let r = u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db) * 0x8ebc_6af0_9c88_c6e3u128;
        (r as u64) ^ ((r >> 64) as u64)
    }
}

type HashKeyed<V> = HashMap<u64, V, std::hash::BuildHasherDefault<WordHasher>>;

/// Basis of the hash that indexes a subtable's rules.
const RULE_BASIS: u64 = 0x0c1a_55f1_e7ab_1e00;

/// All rules sharing one mask.
///
/// Rules are indexed by the hash of their masked key (not the key itself,
/// which would store a second 200-byte copy per key); a bucket holds the
/// rules of every key with that hash, highest priority first, and a probe
/// compares keys.
#[derive(Debug)]
struct Subtable<T> {
    mask: FlowMask,
    /// Non-zero words of `mask`.
    words: Vec<u8>,
    stages: Vec<Stage>,
    rules: HashKeyed<Vec<Arc<ClsRule<T>>>>,
    priorities: BTreeMap<u32, u32>,
    max_priority: u32,
    n_rules: usize,
    /// `(trie index, prefix length)` for each tracked field whose mask
    /// here is a non-empty prefix.
    tries: Vec<(usize, u32)>,
}

impl<T> Clone for Subtable<T> {
    fn clone(&self) -> Self {
        Self {
            mask: self.mask,
            words: self.words.clone(),
            stages: self.stages.clone(),
            rules: self.rules.clone(),
            priorities: self.priorities.clone(),
            max_priority: self.max_priority,
            n_rules: self.n_rules,
            tries: self.tries.clone(),
        }
    }
}

impl<T> Subtable<T> {
    fn new(mask: FlowMask) -> Self {
        let words = mask.key.as_words();
        let stage_used: Vec<bool> = (0..STAGE_ENDS.len())
            .map(|s| {
                let start = if s == 0 { 0 } else { STAGE_ENDS[s - 1] };
                words
                    .get(start..STAGE_ENDS[s])
                    .is_some_and(|ws| ws.iter().any(|&w| w != 0))
            })
            .collect();
        let last_used = stage_used.iter().rposition(|&u| u).unwrap_or(0);
        let mut stages = Vec::new();
        for s in 0..last_used {
            if !stage_used[s] {
                continue;
            }
            let mut cut = FlowKey::ZERO;
            for (i, w) in cut.words_mut().iter_mut().enumerate().take(STAGE_ENDS[s]) {
                *w = words.get(i).copied().unwrap_or(0);
            }
            let smask = FlowMask { key: cut };
            let sw = smask
                .nonzero_words()
                .filter_map(|i| u8::try_from(i).ok())
                .collect();
            stages.push(Stage {
                mask: smask,
                words: sw,
                hashes: HashKeyed::default(),
            });
        }
        let tries = TRIE_FIELDS
            .iter()
            .enumerate()
            .filter_map(|(t, &f)| match prefix_len(mask.field(f), f.bits()) {
                Some(p) if p > 0 => Some((t, p)),
                _ => None,
            })
            .collect();
        Self {
            mask,
            words: mask
                .nonzero_words()
                .filter_map(|i| u8::try_from(i).ok())
                .collect(),
            stages,
            rules: HashKeyed::default(),
            priorities: BTreeMap::new(),
            max_priority: 0,
            n_rules: 0,
            tries,
        }
    }

    fn stage_hash(st: &Stage, key: &FlowKey) -> u64 {
        key.hash_words(&st.mask, &st.words, STAGE_BASIS)
    }

    fn key_hash(&self, key: &FlowKey) -> u64 {
        key.hash_words(&self.mask, &self.words, RULE_BASIS)
    }

    /// The rule with masked key `mkey` and `priority`.
    fn find(&self, mkey: &FlowKey, priority: u32) -> Option<&Arc<ClsRule<T>>> {
        self.rules
            .get(&self.key_hash(mkey))?
            .iter()
            .find(|r| r.key == *mkey && r.priority == priority)
    }

    /// Probes this subtable stage by stage, un-wildcarding what it reads.
    fn lookup(&self, key: &FlowKey, wc: &mut FlowMask) -> Option<&Arc<ClsRule<T>>> {
        for st in &self.stages {
            if !st.hashes.contains_key(&Self::stage_hash(st, key)) {
                wc.union_with(&st.mask);
                return None;
            }
        }
        wc.union_with(&self.mask);
        self.rules
            .get(&self.key_hash(key))?
            .iter()
            .find(|r| key.matches_words(&r.key, &self.mask, &self.words))
    }

    fn recompute_max(&mut self) {
        self.max_priority = self.priorities.keys().next_back().copied().unwrap_or(0);
    }
}

/// A set of rules searched by priority; see the module documentation.
#[derive(Debug)]
pub struct Classifier<T> {
    subtables: Vec<Subtable<T>>,
    tries: [Trie; 4],
    n_rules: usize,
}

impl<T> Clone for Classifier<T> {
    fn clone(&self) -> Self {
        Self {
            subtables: self.subtables.clone(),
            tries: self.tries.clone(),
            n_rules: self.n_rules,
        }
    }
}

impl<T> Default for Classifier<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Classifier<T> {
    /// An empty classifier.
    pub fn new() -> Self {
        Self {
            subtables: Vec::new(),
            tries: [Trie::new(), Trie::new(), Trie::new(), Trie::new()],
            n_rules: 0,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    /// True if there are no rules.
    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// Number of distinct masks (subtables).
    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    fn sort_subtables(&mut self) {
        // Stable and nearly sorted already: cheap.
        self.subtables.sort_by_key(|s| Reverse(s.max_priority));
    }

    /// Inserts `rule`.  A rule with the same match and priority is
    /// replaced and returned.
    pub fn insert(&mut self, rule: Arc<ClsRule<T>>) -> Option<Arc<ClsRule<T>>> {
        let idx = match self.subtables.iter().position(|s| s.mask == *rule.mask) {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable::new(*rule.mask));
                self.subtables.len() - 1
            }
        };
        let Self {
            subtables, tries, ..
        } = self;
        let st = subtables.get_mut(idx)?;
        let h = st.key_hash(&rule.key);
        let bucket = st.rules.entry(h).or_default();
        if let Some(old) = bucket
            .iter_mut()
            .find(|r| r.key == rule.key && r.priority == rule.priority)
        {
            return Some(std::mem::replace(old, rule));
        }
        let new_key = !bucket.iter().any(|r| r.key == rule.key);
        let pos = bucket
            .iter()
            .position(|r| r.priority < rule.priority)
            .unwrap_or(bucket.len());
        bucket.insert(pos, Arc::clone(&rule));
        if new_key {
            for stage in &mut st.stages {
                *stage
                    .hashes
                    .entry(Subtable::<T>::stage_hash(stage, &rule.key))
                    .or_insert(0) += 1;
            }
        }
        *st.priorities.entry(rule.priority).or_insert(0) += 1;
        st.recompute_max();
        st.n_rules += 1;
        for &(t, plen) in &st.tries {
            if let (Some(trie), Some(&f)) = (tries.get_mut(t), TRIE_FIELDS.get(t)) {
                trie.insert(left_align(rule.key.get(f), f.bits()), plen);
            }
        }
        self.n_rules += 1;
        self.sort_subtables();
        None
    }

    /// Removes the rule with exactly this match and priority.
    pub fn remove(
        &mut self,
        key: &FlowKey,
        mask: &FlowMask,
        priority: u32,
    ) -> Option<Arc<ClsRule<T>>> {
        let idx = self.subtables.iter().position(|s| s.mask == *mask)?;
        let mkey = key.masked(mask);
        let Self {
            subtables, tries, ..
        } = self;
        let st = subtables.get_mut(idx)?;
        let h = st.key_hash(&mkey);
        let bucket = st.rules.get_mut(&h)?;
        let pos = bucket
            .iter()
            .position(|r| r.key == mkey && r.priority == priority)?;
        let rule = bucket.remove(pos);
        let key_gone = !bucket.iter().any(|r| r.key == mkey);
        if bucket.is_empty() {
            st.rules.remove(&h);
        }
        if key_gone {
            for stage in &mut st.stages {
                let h = Subtable::<T>::stage_hash(stage, &mkey);
                if let Some(c) = stage.hashes.get_mut(&h) {
                    *c -= 1;
                    if *c == 0 {
                        stage.hashes.remove(&h);
                    }
                }
            }
        }
        if let Some(c) = st.priorities.get_mut(&priority) {
            *c -= 1;
            if *c == 0 {
                st.priorities.remove(&priority);
            }
        }
        st.recompute_max();
        st.n_rules -= 1;
        for &(t, plen) in &st.tries {
            if let (Some(trie), Some(&f)) = (tries.get_mut(t), TRIE_FIELDS.get(t)) {
                trie.remove(left_align(mkey.get(f), f.bits()), plen);
            }
        }
        if st.n_rules == 0 {
            self.subtables.remove(idx);
        }
        self.n_rules -= 1;
        self.sort_subtables();
        Some(rule)
    }

    /// The mask of the rules already using `mask`, to share
    /// ([`ClsRule::with_shared_mask`]); `None` if no rule has it.
    pub fn shared_mask(&self, mask: &FlowMask) -> Option<Arc<FlowMask>> {
        let st = self.subtables.iter().find(|s| s.mask == *mask)?;
        st.rules
            .values()
            .flatten()
            .next()
            .map(|r| Arc::clone(&r.mask))
    }

    /// The rule with exactly this match and priority (OpenFlow "strict").
    pub fn find_exact(
        &self,
        key: &FlowKey,
        mask: &FlowMask,
        priority: u32,
    ) -> Option<&Arc<ClsRule<T>>> {
        let st = self.subtables.iter().find(|s| s.mask == *mask)?;
        st.find(&key.masked(mask), priority)
    }

    /// Every rule, subtable by subtable (no particular order).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ClsRule<T>>> + '_ {
        self.subtables
            .iter()
            .flat_map(|s| s.rules.values().flatten())
    }

    /// Every rule whose match is at least as specific as `(key, mask)`
    /// (OpenFlow "non-strict" selection; priorities are ignored).
    pub fn iter_loose<'a>(
        &'a self,
        key: &'a FlowKey,
        mask: &'a FlowMask,
    ) -> impl Iterator<Item = &'a Arc<ClsRule<T>>> + 'a {
        self.subtables
            .iter()
            .filter(move |s| mask.is_subset_of(&s.mask))
            .flat_map(|s| s.rules.values().flatten())
            .filter(move |r| r.key.matches(key, mask))
    }

    /// A rule of priority `priority` that some packet could match together
    /// with `(key, mask)` (the `OFPFF_CHECK_OVERLAP` test).  A rule with
    /// the identical match counts as overlapping.
    pub fn find_overlap(
        &self,
        key: &FlowKey,
        mask: &FlowMask,
        priority: u32,
    ) -> Option<&Arc<ClsRule<T>>> {
        self.subtables
            .iter()
            .filter(|s| s.priorities.contains_key(&priority))
            .flat_map(|s| s.rules.values().flatten())
            .find(|r| r.priority == priority && r.overlaps(key, mask))
    }

    /// The highest-priority rule matching `key`, ORing into `wc` every key
    /// bit the answer depends on (see the module documentation).
    pub fn lookup(&self, key: &FlowKey, wc: &mut FlowMask) -> Option<&Arc<ClsRule<T>>> {
        let mut best: Option<&Arc<ClsRule<T>>> = None;
        let mut trie_cache: [Option<TrieResult>; 4] = [None; 4];
        'subtables: for st in &self.subtables {
            if best.is_some_and(|b| b.priority >= st.max_priority) {
                break;
            }
            for &(t, plen) in &st.tries {
                let (Some(&f), Some(trie), Some(slot)) =
                    (TRIE_FIELDS.get(t), self.tries.get(t), trie_cache.get_mut(t))
                else {
                    continue;
                };
                let width = f.bits();
                let res =
                    *slot.get_or_insert_with(|| trie.lookup(left_align(key.get(f), width), width));
                if !res.has(plen) {
                    wc.set_field(f, prefix_mask(width, res.checkbits.min(plen)));
                    continue 'subtables;
                }
            }
            if let Some(r) = st.lookup(key, wc) {
                if best.is_none_or(|b| r.priority > b.priority) {
                    best = Some(r);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(k: FlowKey, m: FlowMask, p: u32) -> Arc<ClsRule<u32>> {
        Arc::new(ClsRule::new(k, m, p, p))
    }

    fn dst_rule(addr: u32, plen: u32, p: u32) -> Arc<ClsRule<u32>> {
        let mut k = FlowKey::ZERO;
        k.set_ipv4_dst(addr);
        let mut m = FlowMask::default();
        m.set_field(Field::Ipv4Dst, prefix_mask(32, plen));
        rule(k, m, p)
    }

    #[test]
    fn classifier_prefix_helpers() {
        assert_eq!(prefix_mask(32, 8), 0xff00_0000);
        assert_eq!(prefix_mask(32, 32), 0xffff_ffff);
        assert_eq!(prefix_mask(128, 128), u128::MAX);
        assert_eq!(prefix_mask(128, 1), 1u128 << 127);
        assert_eq!(prefix_len(0xffff_0000, 32), Some(16));
        assert_eq!(prefix_len(0xff00_ff00, 32), None);
        assert_eq!(prefix_len(0, 32), Some(0));
    }

    #[test]
    fn classifier_trie_insert_remove_frees_nodes() {
        let mut t = Trie::new();
        t.insert(left_align(0x0a01_0000, 32), 16);
        t.insert(left_align(0x0a00_0000, 32), 8);
        let r = t.lookup(left_align(0x0a01_0203, 32), 32);
        assert!(r.has(8) && r.has(16) && !r.has(32));
        t.remove(left_align(0x0a01_0000, 32), 16);
        let r = t.lookup(left_align(0x0a01_0203, 32), 32);
        assert!(r.has(8) && !r.has(16));
        assert_eq!(r.checkbits, 8);
        t.remove(left_align(0x0a00_0000, 32), 8);
        assert_eq!(t.node(0).child, [0, 0]);
        assert_eq!(t.free.len(), t.nodes.len() - 1);
        // Removing what is not there is harmless.
        t.remove(left_align(0x0a00_0000, 32), 8);
        assert_eq!(t.node(0).below, 0);
    }

    #[test]
    fn classifier_prefix_tracking_limits_unwildcarding() {
        let mut c = Classifier::new();
        c.insert(dst_rule(0x0a00_0000, 8, 10));
        c.insert(dst_rule(0x0a01_0000, 16, 20));
        let mut k = FlowKey::ZERO;
        k.set_ipv4_dst(0x0a02_0304);
        let mut wc = FlowMask::default();
        let r = c.lookup(&k, &mut wc).map(|r| r.data);
        assert_eq!(r, Some(10));
        assert!(wc.field(Field::Ipv4Dst).count_ones() <= 16);
        assert_eq!(
            wc.field(Field::Ipv4Dst),
            prefix_mask(32, wc.field(Field::Ipv4Dst).count_ones())
        );

        // A host route and a default route: a far-away address needs one bit.
        let mut c = Classifier::new();
        c.insert(dst_rule(0x0a01_0203, 32, 10));
        c.insert(rule(FlowKey::ZERO, FlowMask::default(), 0));
        k.set_ipv4_dst(0xc0a8_0001);
        let mut wc = FlowMask::default();
        assert_eq!(c.lookup(&k, &mut wc).map(|r| r.data), Some(0));
        assert_eq!(wc.field(Field::Ipv4Dst), prefix_mask(32, 1));
        assert_eq!(wc, {
            let mut m = FlowMask::default();
            m.set_field(Field::Ipv4Dst, prefix_mask(32, 1));
            m
        });
    }

    #[test]
    fn classifier_staged_miss_keeps_later_stages_wild() {
        let mut c = Classifier::new();
        let mut k = FlowKey::ZERO;
        k.set_in_port(1);
        k.set_eth_type(0x0800);
        k.set_tp_dst(80);
        let mut m = FlowMask::default();
        m.set_exact(Field::InPort)
            .set_exact(Field::EthType)
            .set_exact(Field::TpDst);
        c.insert(rule(k, m, 5));
        let mut p = k;
        p.set_in_port(2);
        let mut wc = FlowMask::default();
        assert!(c.lookup(&p, &mut wc).is_none());
        let mut want = FlowMask::default();
        want.set_exact(Field::InPort);
        assert_eq!(wc, want);
    }

    #[test]
    fn classifier_replace_remove_and_priority_order() {
        let mut c = Classifier::new();
        assert!(c.insert(dst_rule(0x0a00_0000, 8, 10)).is_none());
        assert!(c.insert(dst_rule(0x0a00_0000, 8, 10)).is_some());
        c.insert(dst_rule(0x0a00_0000, 8, 30));
        c.insert(dst_rule(0x0a01_0000, 16, 20));
        assert_eq!(c.len(), 3);
        assert_eq!(c.n_subtables(), 2);
        let mut k = FlowKey::ZERO;
        k.set_ipv4_dst(0x0a01_0101);
        let mut wc = FlowMask::default();
        assert_eq!(c.lookup(&k, &mut wc).map(|r| r.data), Some(30));
        let (rk, rm) = {
            let r = dst_rule(0x0a00_0000, 8, 30);
            (*r.key(), *r.mask())
        };
        assert!(c.find_exact(&rk, &rm, 30).is_some());
        assert!(c.remove(&rk, &rm, 30).is_some());
        assert!(c.remove(&rk, &rm, 30).is_none());
        let mut wc = FlowMask::default();
        assert_eq!(c.lookup(&k, &mut wc).map(|r| r.data), Some(20));
        assert_eq!(c.iter_loose(&rk, &rm).count(), 2);
        assert!(c.find_overlap(&k, &FlowMask::exact(), 20).is_some());
        assert!(c.find_overlap(&k, &FlowMask::exact(), 21).is_none());
        assert!(c.remove(&rk, &rm, 10).is_some());
        let r = dst_rule(0x0a01_0000, 16, 20);
        assert!(c.remove(r.key(), r.mask(), 20).is_some());
        assert!(c.is_empty());
        assert_eq!(c.n_subtables(), 0);
        assert!(c.tries.iter().all(|t| t.node(0).below == 0));
    }
}
