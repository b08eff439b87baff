//! The megaflow dump targeted revalidation keeps between barriers, with
//! an index that finds the megaflows a changed rule can overlap without
//! testing every one.
//!
//! Megaflows are grouped by mask.  For a changed rule with mask `R` and a
//! group with mask `M`, the megaflows of the group the rule overlaps are
//! exactly those whose key agrees with the rule's on `R & M`; each
//! `(group, R)` pair gets a hash index of the group's keys under `R & M`,
//! built the first time a rule with that mask changes and kept while the
//! dump is.  Candidates from the index (and every megaflow whose
//! translation rewrote the key before some table) then go through the
//! exact test ([`RuleChange::matters`]), which also rules out hash
//! collisions and tables the translation never reached.

use std::collections::HashMap;
use std::sync::Arc;

use datapath::flow::{FLOW_WORDS, FlowKey, FlowMask};
use datapath::megaflow::Megaflow;

use crate::xlate::RuleChange;

/// Basis of the index hashes (they never leave the process).
const INDEX_BASIS: u64 = 0x1d3a_77c0_5eed_0003;

/// Indexes kept at most; beyond, they are dropped and rebuilt on demand.
const MAX_INDEXES: usize = 32;

/// One megaflow, with what [`RuleChange::matters`] needs.
#[derive(Debug)]
pub(super) struct CachedFlow {
    pub(super) flow: Arc<Megaflow>,
    /// The megaflow's key with `in_port` in OpenFlow numbering.
    pub(super) key: FlowKey,
    pub(super) tables: Vec<u8>,
    pub(super) input_key_tables: usize,
}

impl CachedFlow {
    fn rewrites(&self) -> bool {
        self.input_key_tables < self.tables.len()
    }

    fn matters(&self, ch: &RuleChange) -> bool {
        ch.matters(
            self.tables.iter().copied(),
            self.input_key_tables,
            &self.key,
            &self.flow.mask,
        )
    }
}

/// The kept dump (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct DumpCache {
    /// `Dpif::flow_version` the dump corresponds to.
    pub(super) dp_version: u64,
    /// `None`: deleted since the dump (indices stay stable).
    flows: Vec<Option<CachedFlow>>,
    /// Megaflows whose translation rewrote the key before some table.
    rewritten: Vec<usize>,
    /// Megaflows by mask.
    groups: Vec<(FlowMask, Vec<usize>)>,
    /// `(group, changed rule's mask)` -> key hash under both -> megaflows.
    indexes: HashMap<(usize, FlowMask), HashMap<u64, Vec<usize>>>,
}

/// The words of `a & b` that are not zero, and that mask.
fn intersection(a: &FlowMask, b: &FlowMask) -> (FlowMask, Vec<u8>) {
    let mut w = [0u64; FLOW_WORDS];
    let (x, y) = (a.key.as_words(), b.key.as_words());
    for (i, o) in w.iter_mut().enumerate() {
        *o = x.get(i).copied().unwrap_or(0) & y.get(i).copied().unwrap_or(0);
    }
    let words = w
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0)
        .filter_map(|(i, _)| u8::try_from(i).ok())
        .collect();
    (
        FlowMask {
            key: FlowKey::from_words(w),
        },
        words,
    )
}

impl DumpCache {
    /// An empty dump of datapath version `dp_version`.
    pub(super) fn new(dp_version: u64) -> Self {
        Self {
            dp_version,
            ..Self::default()
        }
    }

    /// Adds a megaflow.
    pub(super) fn push(&mut self, c: CachedFlow) {
        let i = self.flows.len();
        if c.rewrites() {
            self.rewritten.push(i);
        }
        match self.groups.iter_mut().find(|(m, _)| *m == c.flow.mask) {
            Some((_, members)) => members.push(i),
            None => self.groups.push((c.flow.mask, vec![i])),
        }
        self.flows.push(Some(c));
        // The indexes do not know it: rebuild them when next needed.
        self.indexes.clear();
    }

    /// Megaflow `i`, unless deleted.
    pub(super) fn get(&self, i: usize) -> Option<&CachedFlow> {
        self.flows.get(i).and_then(Option::as_ref)
    }

    /// Replaces megaflow `i` by `c`: the same megaflow (same key and
    /// mask) after revalidation.  Anything else is removed and added.
    pub(super) fn replace(&mut self, i: usize, c: CachedFlow) {
        let same = self.get(i).is_some_and(|old| {
            old.key == c.key && old.flow.mask == c.flow.mask && old.rewrites() == c.rewrites()
        });
        if same {
            if let Some(slot) = self.flows.get_mut(i) {
                *slot = Some(c);
            }
        } else {
            self.remove(i);
            self.push(c);
        }
    }

    /// Forgets megaflow `i`.
    pub(super) fn remove(&mut self, i: usize) {
        if let Some(slot) = self.flows.get_mut(i) {
            *slot = None;
        }
    }

    /// The megaflows (indices, ascending) one of `changes` can touch.
    pub(super) fn affected(&mut self, changes: &[RuleChange]) -> Vec<usize> {
        let Self {
            flows,
            rewritten,
            groups,
            indexes,
            ..
        } = self;
        let mut out = Vec::new();
        for ch in changes {
            for &i in rewritten.iter() {
                if flows
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|c| c.matters(ch))
                {
                    out.push(i);
                }
            }
            let rmask = *ch.rule().mask();
            for (gi, (gmask, members)) in groups.iter().enumerate() {
                let (inter, words) = intersection(&rmask, gmask);
                if indexes.len() >= MAX_INDEXES && !indexes.contains_key(&(gi, rmask)) {
                    indexes.clear();
                }
                let index = indexes.entry((gi, rmask)).or_insert_with(|| {
                    let mut idx: HashMap<u64, Vec<usize>> = HashMap::new();
                    for &i in members {
                        if let Some(c) = flows.get(i).and_then(Option::as_ref) {
                            let h = c.key.hash_words(&inter, &words, INDEX_BASIS);
                            idx.entry(h).or_default().push(i);
                        }
                    }
                    idx
                });
                let h = ch.rule().key().hash_words(&inter, &words, INDEX_BASIS);
                for &i in index.get(&h).map(Vec::as_slice).unwrap_or_default() {
                    if flows
                        .get(i)
                        .and_then(Option::as_ref)
                        .is_some_and(|c| c.matters(ch))
                    {
                        out.push(i);
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::ClsRule;
    use crate::flow_table::{FlowEntry, FlowSpec};
    use datapath::flow::Field;
    use proptest::prelude::*;

    /// A key/mask from a small pool, so overlaps are frequent.
    fn km(in_port: Option<u32>, tp_dst: Option<u16>, nw: Option<u32>) -> (FlowKey, FlowMask) {
        let mut k = FlowKey::ZERO;
        let mut m = FlowMask::default();
        k.set(Field::EthType, 0x0800);
        m.set_exact(Field::EthType);
        if let Some(p) = in_port {
            k.set(Field::InPort, u128::from(p));
            m.set_exact(Field::InPort);
        }
        if let Some(d) = tp_dst {
            k.set(Field::TpDst, u128::from(d));
            m.set_exact(Field::TpDst);
        }
        if let Some(a) = nw {
            k.set(Field::Ipv4Dst, u128::from(a));
            m.set_exact(Field::Ipv4Dst);
        }
        (k.masked(&m), m)
    }

    fn pick((a, b, c): (Option<u32>, Option<u16>, Option<u32>)) -> (FlowKey, FlowMask) {
        km(a, b, c)
    }

    fn dims() -> impl Strategy<Value = (Option<u32>, Option<u16>, Option<u32>)> {
        (
            prop::option::of(1u32..4),
            prop::option::of(1u16..5),
            prop::option::of(prop::sample::select(vec![1u32, 2, 3])),
        )
    }

    proptest! {
        /// The index finds exactly what testing every megaflow finds.
        #[test]
        fn index_agrees_with_a_scan(
            flows in prop::collection::vec((dims(), prop::collection::vec(0u8..3, 1..3), 0usize..3), 0..40),
            changes in prop::collection::vec((dims(), 0u8..3), 1..5),
            deleted in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        ) {
            let mut cache = DumpCache::new(0);
            for (d, tables, ikt) in &flows {
                let (k, m) = pick(*d);
                cache.push(CachedFlow {
                    flow: Arc::new(Megaflow::new(k, m, Arc::from(Vec::new()))),
                    key: k,
                    tables: tables.clone(),
                    input_key_tables: (*ikt).min(tables.len()),
                });
            }
            for ix in &deleted {
                if !flows.is_empty() {
                    cache.remove(ix.index(flows.len()));
                }
            }
            let changes: Vec<RuleChange> = changes
                .iter()
                .map(|(d, t)| {
                    let (k, m) = pick(*d);
                    let entry = FlowEntry::new(FlowSpec::default(), 0);
                    RuleChange::new(*t, Arc::new(ClsRule::new(k, m, 1, entry)))
                })
                .collect();
            let scan: Vec<usize> = (0..flows.len())
                .filter(|&i| {
                    cache.get(i).is_some_and(|c| changes.iter().any(|ch| c.matters(ch)))
                })
                .collect();
            // Twice: the second answer comes from the kept indexes.
            prop_assert_eq!(cache.affected(&changes), scan.clone());
            prop_assert_eq!(cache.affected(&changes), scan);
        }
    }
}
