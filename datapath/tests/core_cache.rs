//! Megaflow cache against a linear reference, and exact-match cache
//! behaviour.

use std::sync::Arc;

use datapath::actions::DpAction;
use datapath::emc::Emc;
use datapath::flow::{Field, FlowKey, FlowMask};
use datapath::megaflow::{CacheError, MegaflowCache};
use proptest::prelude::*;

const FIELDS: [Field; 9] = [
    Field::InPort,
    Field::EthType,
    Field::VlanTci,
    Field::Ipv4Src,
    Field::Ipv4Dst,
    Field::NwProto,
    Field::TpSrc,
    Field::TpDst,
    Field::Ipv6Src,
];

/// A key whose fields take values 0..4, from 2 bits per field of `seed`.
fn key_from(seed: u32) -> FlowKey {
    let mut k = FlowKey::default();
    for (i, f) in FIELDS.iter().enumerate() {
        let v = (seed >> (2 * i)) & 3;
        // Spread the bits so high parts of wide fields are exercised too.
        let wide = u128::from(v) | (u128::from(v & 2) << (f.bits() - 2));
        k.set(*f, wide);
    }
    k
}

/// A mask from 3 bits per field: mostly wildcard, else exact, low bit
/// only or high bit only.
fn mask_from(seed: u32) -> FlowMask {
    let mut m = FlowMask::default();
    for (i, f) in FIELDS.iter().enumerate() {
        match (seed >> (3 * i)) & 7 {
            0..=4 => {}
            5 => {
                m.set_exact(*f);
            }
            6 => {
                m.set_field(*f, 1);
            }
            _ => {
                m.set_field(*f, 1u128 << (f.bits() - 1));
            }
        }
    }
    m
}

fn overlaps(a: (&FlowKey, &FlowMask), b: (&FlowKey, &FlowMask)) -> bool {
    let mut common = *a.1;
    for (w, (x, y)) in common
        .key
        .words_mut()
        .iter_mut()
        .zip(a.1.key.as_words().iter().zip(b.1.key.as_words()))
    {
        *w = x & y;
    }
    a.0.matches(b.0, &common)
}

#[derive(Debug, Clone)]
enum Op {
    Insert { mask: u32, key: u32 },
    Remove(prop::sample::Index),
    Lookup(u32),
    Flush,
    Rerank,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..8, any::<u32>()).prop_map(|(m, key)| Op::Insert { mask: m, key }),
        2 => any::<prop::sample::Index>().prop_map(Op::Remove),
        8 => any::<u32>().prop_map(Op::Lookup),
        1 => Just(Op::Flush),
        1 => Just(Op::Rerank),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The megaflow cache returns exactly what a linear scan over the
    /// installed (non-overlapping) megaflows returns, through inserts,
    /// removes, flushes and re-ranking.
    #[test]
    fn megaflow_matches_linear_reference(masks in prop::collection::vec(any::<u32>(), 8),
                                         ops in prop::collection::vec(op(), 1..300)) {
        let mut cache = MegaflowCache::new(64);
        let mut hits = 0usize;
        let mut model: Vec<(FlowKey, FlowMask, u32)> = Vec::new();
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Insert { mask, key } => {
                    let m = mask_from(masks[mask as usize]);
                    let k = key_from(key).masked(&m);
                    let exists = model.iter().any(|(mk, mm, _)| *mm == m && *mk == k);
                    if !exists && model.iter().any(|(mk, mm, _)| overlaps((mk, mm), (&k, &m))) {
                        continue; // the datapath never installs overlapping megaflows
                    }
                    let acts: Arc<[DpAction]> = Arc::from(vec![DpAction::Output(n as u32)]);
                    match cache.insert(k, m, acts) {
                        Ok(f) => {
                            prop_assert!(!exists);
                            prop_assert!(model.len() < 64);
                            prop_assert_eq!(f.key, k);
                            model.push((k, m, n as u32));
                        }
                        Err(CacheError::Exists) => prop_assert!(exists),
                        Err(CacheError::Full) => prop_assert_eq!(model.len(), 64),
                        Err(e) => prop_assert!(false, "unexpected {e:?}"),
                    }
                }
                Op::Remove(i) => {
                    if model.is_empty() {
                        continue;
                    }
                    let (k, m, tag) = model.swap_remove(i.index(model.len()));
                    let f = cache.remove(&k, &m);
                    prop_assert!(f.is_some());
                    let f = f.unwrap();
                    prop_assert!(f.is_dead());
                    prop_assert_eq!(&f.actions[..], &[DpAction::Output(tag)][..]);
                    prop_assert!(cache.remove(&k, &m).is_none());
                }
                Op::Lookup(seed) => {
                    let pk = key_from(seed);
                    let want = model.iter().find(|(k, m, _)| pk.matches(k, m)).map(|x| x.2);
                    let got = cache.lookup(&pk).map(|f| match f.actions[0] {
                        DpAction::Output(t) => t,
                        _ => u32::MAX,
                    });
                    prop_assert_eq!(got, want);
                    hits += usize::from(got.is_some());
                }
                Op::Flush => {
                    let all = cache.dump();
                    cache.flush();
                    prop_assert!(all.iter().all(|f| f.is_dead()));
                    model.clear();
                }
                Op::Rerank => cache.rerank(),
            }
            prop_assert_eq!(cache.len(), model.len());
            let mut distinct: Vec<FlowMask> = Vec::new();
            for (_, m, _) in &model {
                if !distinct.contains(m) {
                    distinct.push(*m);
                }
            }
            prop_assert_eq!(cache.subtable_count(), distinct.len());
            prop_assert_eq!(cache.dump().len(), model.len());
        }
        if std::env::var_os("RVS_CACHE_TEST_VERBOSE").is_some() {
            eprintln!("lookup hits: {hits}");
        }
    }
}

fn acts(p: u32) -> Arc<[DpAction]> {
    Arc::from(vec![DpAction::Output(p)])
}

#[test]
fn rerank_puts_busiest_subtable_first() {
    let mut c = MegaflowCache::new(10);
    let mut m1 = FlowMask::default();
    m1.set_exact(Field::InPort);
    let mut m2 = FlowMask::default();
    m2.set_exact(Field::TpDst);
    let mut k = FlowKey::default();
    k.set_in_port(1);
    c.insert(k, m1, acts(1)).unwrap();
    let mut k2 = FlowKey::default();
    k2.set_in_port(2);
    k2.set_tp_dst(80);
    c.insert(k2, m2, acts(2)).unwrap();
    assert_eq!(c.masks(), vec![m1, m2]);
    for _ in 0..5 {
        assert!(c.lookup(&k2).is_some());
    }
    c.rerank();
    assert_eq!(c.masks(), vec![m2, m1]);
}

#[test]
fn stats_ufid_and_retain() {
    let mut c = MegaflowCache::new(10);
    let mut m = FlowMask::default();
    m.set_exact(Field::Ipv4Dst);
    let mut k = FlowKey::default();
    k.set_ipv4_dst(0x0a00_0002);
    k.set_tp_dst(99); // outside the mask: stored key is masked
    let f = c.insert(k, m, acts(3)).unwrap();
    assert_eq!(f.key.tp_dst(), 0);
    f.record(2, 128, 0x02, 1000);
    f.record(1, 64, 0x10, 900);
    let s = c.lookup(&k).unwrap().stats();
    assert_eq!(
        (s.packets, s.bytes, s.used_ms, s.tcp_flags),
        (3, 192, 1000, 0x12)
    );
    assert_eq!(c.find_ufid(f.ufid).unwrap().ufid, f.ufid);
    assert!(Arc::ptr_eq(&c.get(&k, &m).unwrap(), &f));
    let gone = c.retain(|fl| fl.ufid != f.ufid);
    assert_eq!(gone.len(), 1);
    assert!(f.is_dead());
    assert!(c.is_empty());
    assert_eq!(c.subtable_count(), 0);
}

#[test]
fn limit_is_enforced() {
    let mut c = MegaflowCache::new(2);
    let mut m = FlowMask::default();
    m.set_exact(Field::TpDst);
    for p in 0..2u16 {
        let mut k = FlowKey::default();
        k.set_tp_dst(p);
        c.insert(k, m, acts(0)).unwrap();
    }
    let mut k = FlowKey::default();
    k.set_tp_dst(9);
    assert_eq!(c.insert(k, m, acts(0)).unwrap_err(), CacheError::Full);
    let mut m2 = FlowMask::default();
    m2.set_exact(Field::InPort);
    assert_eq!(c.insert(k, m2, acts(0)).unwrap_err(), CacheError::Full);
    assert_eq!(c.subtable_count(), 1);
}

#[test]
fn emc_hits_and_is_invalidated_by_megaflow_removal() {
    let mut c = MegaflowCache::new(10);
    let mut m = FlowMask::default();
    m.set_exact(Field::InPort);
    let mut k = FlowKey::default();
    k.set_in_port(4);
    k.set_tp_src(1000);
    let f = c.insert(k, m, acts(1)).unwrap();
    let mut emc = Emc::new(64);
    emc.set_insert_inv_prob(1);
    let h = Emc::hash(&k);
    assert!(emc.lookup(&k, h).is_none());
    emc.insert(&k, h, &f);
    assert!(Arc::ptr_eq(emc.lookup(&k, h).unwrap(), &f));
    let mut other = k;
    other.set_tp_src(1001);
    assert!(
        emc.lookup(&other, Emc::hash(&other)).is_none(),
        "exact match only"
    );
    c.remove(&k, &m);
    assert!(emc.lookup(&k, h).is_none(), "dead megaflow must not hit");
    assert_eq!(emc.live_entries(), 0);
}

#[test]
fn emc_is_bounded_and_probabilistic() {
    let mut c = MegaflowCache::new(10);
    let f = c
        .insert(FlowKey::default(), FlowMask::default(), acts(1))
        .unwrap();
    let mut emc = Emc::new(128);
    emc.set_insert_inv_prob(0);
    let k = FlowKey::default();
    emc.insert(&k, Emc::hash(&k), &f);
    assert_eq!(emc.live_entries(), 0, "insertion disabled");

    emc.set_insert_inv_prob(1);
    for p in 0..10_000u32 {
        let mut k = FlowKey::default();
        k.set_in_port(p);
        emc.insert(&k, Emc::hash(&k), &f);
    }
    assert!(emc.live_entries() <= 128);
    assert_eq!(emc.capacity(), 128);

    let mut emc = Emc::new(8192);
    emc.set_insert_inv_prob(100);
    for p in 0..10_000u32 {
        let mut k = FlowKey::default();
        k.set_tp_dst(p as u16);
        k.set_in_port(p);
        emc.insert(&k, Emc::hash(&k), &f);
    }
    let n = emc.live_entries();
    assert!((30..300).contains(&n), "about 1 in 100 inserted, got {n}");
}
