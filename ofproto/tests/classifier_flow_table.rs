//! Flow-table semantics: add (overlap, replacement, counters, size limit),
//! strict and non-strict modify/delete with cookie and out_port/out_group
//! filters, timeouts on a fake clock.

use datapath::flow::{FlowKey, FlowMask};
use ofproto::flow_table::{FlowSpec, FlowTable, FlowTableError, Selector};
use ofproto::wire::action::Action;
use ofproto::wire::consts::{group, port};
use ofproto::wire::error::flow_mod_failed;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{FlowMod, flow_mod_command, flow_mod_flags, flow_removed_reason};
use ofproto::wire::oxm::{BasicField as B, Match, OxmField};
use ofproto::wire::{ErrorType, OfpError};

fn tcp(dst: Option<u128>) -> Match {
    let mut fields = vec![
        OxmField::exact(B::ETH_TYPE, 0x0800),
        OxmField::exact(B::IP_PROTO, 6),
    ];
    if let Some(d) = dst {
        fields.push(OxmField::exact(B::TCP_DST, d));
    }
    Match { fields }
}

fn out(p: u32) -> Vec<Instruction> {
    vec![Instruction::ApplyActions(vec![Action::Output {
        port: p,
        max_len: 0,
    }])]
}

fn spec(m: Match, priority: u16, cookie: u64, ins: Vec<Instruction>) -> FlowSpec {
    FlowSpec {
        match_: m,
        priority,
        cookie,
        instructions: ins,
        ..FlowSpec::default()
    }
}

fn tcp_pkt(dst: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_eth_type(0x0800);
    k.set_nw_proto(6);
    k.set_tp_dst(dst);
    k
}

fn hit(t: &FlowTable, k: &FlowKey) -> Option<u64> {
    let mut wc = FlowMask::default();
    t.lookup(k, &mut wc).map(|r| r.data.cookie)
}

#[test]
fn classifier_flow_table_replacement_keeps_or_resets_counters() {
    let mut t = FlowTable::new(100);
    assert!(
        t.add(spec(tcp(Some(80)), 10, 1, out(1)), 1_000)
            .unwrap()
            .is_none()
    );
    let mut wc = FlowMask::default();
    t.lookup(&tcp_pkt(80), &mut wc)
        .unwrap()
        .data
        .record(3, 300, 2_000);
    // Identical match and priority: replaced, counters kept, new duration.
    let old = t
        .add(spec(tcp(Some(80)), 10, 2, out(2)), 5_000)
        .unwrap()
        .unwrap();
    assert_eq!(old.data.cookie, 1);
    assert_eq!(t.len(), 1);
    let r = t.lookup(&tcp_pkt(80), &mut wc).unwrap().clone();
    assert_eq!(
        (r.data.cookie, r.data.packet_count(), r.data.byte_count()),
        (2, 3, 300)
    );
    assert_eq!(r.data.duration(6_500), (1, 500_000_000));
    // RESET_COUNTS clears them.
    let mut s = spec(tcp(Some(80)), 10, 3, out(2));
    s.flags = flow_mod_flags::RESET_COUNTS;
    t.add(s, 7_000).unwrap();
    let r = t.lookup(&tcp_pkt(80), &mut wc).unwrap();
    assert_eq!((r.data.cookie, r.data.packet_count()), (3, 0));
    // Same match, other priority: a second rule.
    t.add(spec(tcp(Some(80)), 11, 4, out(2)), 7_000).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(hit(&t, &tcp_pkt(80)), Some(4));
    assert_eq!(t.lookup_count(), 4);
    assert_eq!(t.matched_count(), 4);
}

#[test]
fn classifier_flow_table_check_overlap() {
    let mut t = FlowTable::new(100);
    t.add(spec(tcp(None), 10, 1, out(1)), 0).unwrap();
    let mut s = spec(tcp(Some(80)), 10, 2, out(1));
    s.flags = flow_mod_flags::CHECK_OVERLAP;
    let e = t.add(s.clone(), 0).unwrap_err();
    assert_eq!(e, FlowTableError::Overlap);
    assert!(OfpError::from(e).is(ErrorType::FLOW_MOD_FAILED, flow_mod_failed::OVERLAP));
    // Another priority does not overlap.
    s.priority = 11;
    t.add(s.clone(), 0).unwrap();
    // Disjoint matches at the same priority do not overlap.
    let mut u = spec(tcp(Some(443)), 11, 3, out(1));
    u.flags = flow_mod_flags::CHECK_OVERLAP;
    t.add(u, 0).unwrap();
    // Without the flag, overlap is fine.
    s.priority = 10;
    s.flags = 0;
    t.add(s, 0).unwrap();
    assert_eq!(t.len(), 4);
}

#[test]
fn classifier_flow_table_full() {
    let mut t = FlowTable::new(2);
    t.add(spec(tcp(Some(1)), 1, 1, out(1)), 0).unwrap();
    t.add(spec(tcp(Some(2)), 1, 2, out(1)), 0).unwrap();
    let e = t.add(spec(tcp(Some(3)), 1, 3, out(1)), 0).unwrap_err();
    assert!(OfpError::from(e).is(ErrorType::FLOW_MOD_FAILED, flow_mod_failed::TABLE_FULL));
    // Replacing is not growing.
    assert!(
        t.add(spec(tcp(Some(2)), 1, 4, out(1)), 0)
            .unwrap()
            .is_some()
    );
}

fn table_with_three() -> FlowTable {
    let mut t = FlowTable::new(100);
    t.add(spec(tcp(Some(80)), 10, 0x11, out(1)), 0).unwrap();
    t.add(spec(tcp(Some(443)), 20, 0x12, out(2)), 0).unwrap();
    t.add(
        spec(
            Match {
                fields: vec![OxmField::exact(B::ETH_TYPE, 0x0806)],
            },
            5,
            0x21,
            vec![Instruction::WriteActions(vec![Action::Group(7)])],
        ),
        0,
    )
    .unwrap();
    t
}

fn cookies(rules: &[std::sync::Arc<ofproto::flow_table::Rule>]) -> Vec<u64> {
    let mut v: Vec<u64> = rules.iter().map(|r| r.data.cookie).collect();
    v.sort_unstable();
    v
}

#[test]
fn classifier_flow_table_loose_and_strict_selection() {
    let t = table_with_three();
    let all = Selector::new(&Match::new(), 0, false).unwrap();
    assert_eq!(cookies(&t.select(&all)), [0x11, 0x12, 0x21]);
    let tcp_any = Selector::new(&tcp(None), 0, false).unwrap();
    assert_eq!(cookies(&t.select(&tcp_any)), [0x11, 0x12]);
    // Strict needs the identical match and priority.
    let strict = Selector::new(&tcp(Some(443)), 20, true).unwrap();
    assert_eq!(cookies(&t.select(&strict)), [0x12]);
    let wrong_prio = Selector::new(&tcp(Some(443)), 21, true).unwrap();
    assert!(t.select(&wrong_prio).is_empty());
    let wider = Selector::new(&tcp(None), 20, true).unwrap();
    assert!(t.select(&wider).is_empty());
    // Cookie filter.
    let mut c = all.clone();
    c.cookie = 0x10;
    c.cookie_mask = 0xf0;
    assert_eq!(cookies(&t.select(&c)), [0x11, 0x12]);
    // out_port / out_group filters (apply- and write-actions).
    let mut p = all.clone();
    p.out_port = 2;
    assert_eq!(cookies(&t.select(&p)), [0x12]);
    let mut g = all.clone();
    g.out_group = 7;
    assert_eq!(cookies(&t.select(&g)), [0x21]);
    g.out_port = 2;
    assert!(t.select(&g).is_empty());
}

#[test]
fn classifier_flow_table_modify_and_delete() {
    let mut t = table_with_three();
    let mut wc = FlowMask::default();
    t.lookup(&tcp_pkt(80), &mut wc)
        .unwrap()
        .data
        .record(1, 60, 10);
    let tcp_any = Selector::new(&tcp(None), 0, false).unwrap();
    assert_eq!(t.modify(&tcp_any, &out(9), false), 2);
    let r = t.lookup(&tcp_pkt(80), &mut wc).unwrap();
    assert_eq!(r.data.instructions, out(9));
    assert_eq!(
        (r.data.cookie, r.data.priority, r.data.packet_count()),
        (0x11, 10, 1)
    );
    assert_eq!(t.modify(&tcp_any, &out(8), true), 2);
    assert_eq!(
        t.lookup(&tcp_pkt(80), &mut wc).unwrap().data.packet_count(),
        0
    );
    // Nothing selected: nothing added.
    let none = Selector::new(&tcp(Some(22)), 0, false).unwrap();
    assert_eq!(t.modify(&none, &out(1), false), 0);
    assert_eq!(t.len(), 3);
    // Strict delete.
    let strict = Selector::new(&tcp(Some(443)), 20, true).unwrap();
    assert_eq!(cookies(&t.delete(&strict)), [0x12]);
    assert_eq!(hit(&t, &tcp_pkt(443)), None);
    // Non-strict delete with an out_group filter.
    let mut g = Selector::new(&Match::new(), 0, false).unwrap();
    g.out_group = 7;
    assert_eq!(cookies(&t.delete(&g)), [0x21]);
    assert_eq!(t.len(), 1);
    assert_eq!(g.out_port, port::ANY);
    let mut all = g.clone();
    all.out_group = group::ANY;
    assert_eq!(cookies(&t.delete(&all)), [0x11]);
    assert!(t.is_empty());
}

#[test]
fn classifier_flow_table_selector_from_flow_mod() {
    let mut fm = FlowMod {
        cookie: 5,
        cookie_mask: 0xff,
        table_id: 0,
        command: flow_mod_command::MODIFY,
        idle_timeout: 0,
        hard_timeout: 0,
        priority: 7,
        buffer_id: u32::MAX,
        out_port: 3,
        out_group: 4,
        flags: 0,
        match_: tcp(Some(80)),
        instructions: out(1),
    };
    let s = Selector::from_flow_mod(&fm).unwrap();
    assert!(!s.strict);
    assert_eq!((s.out_port, s.out_group), (port::ANY, group::ANY));
    assert_eq!((s.cookie, s.cookie_mask), (5, 0xff));
    fm.command = flow_mod_command::DELETE_STRICT;
    let s = Selector::from_flow_mod(&fm).unwrap();
    assert!(s.strict);
    assert_eq!((s.out_port, s.out_group, s.priority), (3, 4, 7));
    let add = FlowSpec::from_flow_mod(&fm);
    assert_eq!((add.priority, add.cookie, add.instructions), (7, 5, out(1)));
}

#[test]
fn classifier_flow_table_timeouts_on_fake_clock() {
    let mut t = FlowTable::new(100);
    let mut idle = spec(tcp(Some(80)), 10, 1, out(1));
    idle.idle_timeout = 10;
    let mut hard = spec(tcp(Some(443)), 10, 2, out(1));
    hard.hard_timeout = 5;
    hard.idle_timeout = 1;
    hard.flags = flow_mod_flags::SEND_FLOW_REM;
    t.add(idle, 0).unwrap();
    t.add(hard, 0).unwrap();
    t.add(spec(tcp(Some(22)), 10, 3, out(1)), 0).unwrap();
    assert_eq!(t.next_expiry(), Some(1_000));
    let mut wc = FlowMask::default();
    // Traffic keeps the idle rules alive.
    for now in [900, 1_800, 2_700, 3_600, 4_500] {
        t.lookup(&tcp_pkt(443), &mut wc)
            .unwrap()
            .data
            .record(1, 100, now);
        assert!(t.expire(now).is_empty());
    }
    // Hard timeout wins at 5 s even though the rule is in use.
    let gone = t.expire(5_000);
    assert_eq!(gone.len(), 1);
    let (r, reason) = &gone[0];
    assert_eq!(
        (r.data.cookie, *reason),
        (2, flow_removed_reason::HARD_TIMEOUT)
    );
    let fr = r.data.flow_removed(*reason, 0, 5_000);
    assert_eq!(
        (fr.duration_sec, fr.packet_count, fr.byte_count),
        (5, 5, 500)
    );
    assert_eq!((fr.idle_timeout, fr.hard_timeout, fr.priority), (1, 5, 10));
    assert_eq!(fr.match_, tcp(Some(443)));
    // Idle: 10 s after the last use (the add, here).
    t.lookup(&tcp_pkt(80), &mut wc)
        .unwrap()
        .data
        .record(1, 100, 3_000);
    assert!(t.expire(12_999).is_empty());
    assert_eq!(t.next_expiry(), Some(13_000));
    let gone = t.expire(13_000);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].1, flow_removed_reason::IDLE_TIMEOUT);
    assert_eq!(t.len(), 1);
    assert_eq!(t.next_expiry(), None);
    assert!(t.expire(u64::MAX).is_empty());
}

#[test]
fn classifier_flow_table_unsupported_match_field() {
    let mut t = FlowTable::new(10);
    let m = Match {
        fields: vec![
            OxmField::exact(B::IN_PHY_PORT, 1),
            OxmField::exact(B::IN_PORT, 1),
        ],
    };
    let e = t.add(spec(m, 1, 1, out(1)), 0).unwrap_err();
    assert!(OfpError::from(e).is(ErrorType::BAD_MATCH, 6));
    assert!(t.is_empty());
}

mod model {
    //! Random flow-mod sequences against a linear model written from the
    //! spec text.

    use super::*;
    use datapath::flow::FLOW_WORDS;
    use ofproto::match_key::match_to_key;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    struct M {
        dst: Option<u8>,
        net: u8,
        prio: u16,
    }

    fn arb_m() -> impl Strategy<Value = M> {
        (prop::option::of(0u8..3), 0u8..4, 0u16..3).prop_map(|(dst, net, prio)| M {
            dst,
            net,
            prio,
        })
    }

    impl M {
        fn to_match(&self) -> Match {
            let mut m = tcp(self.dst.map(|d| [80u128, 443, 22][usize::from(d)]));
            // 0: no ip match, 1: 10/8, 2: 10.1/16, 3: 10.1.0.1/32
            let (v, mask) = [
                (0, 0),
                (0x0a00_0000, 0xff00_0000u128),
                (0x0a01_0000, 0xffff_0000),
                (0x0a01_0001, 0xffff_ffff),
            ][usize::from(self.net)];
            if mask != 0 {
                m.fields.push(OxmField::masked(B::IPV4_DST, v, mask));
            }
            m
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add {
            m: M,
            cookie: u64,
            port: u32,
            overlap: bool,
            reset: bool,
        },
        Modify {
            m: M,
            strict: bool,
            cookie: u64,
            cmask: u64,
            port: u32,
            reset: bool,
        },
        Delete {
            m: M,
            strict: bool,
            cookie: u64,
            cmask: u64,
            out_port: Option<u32>,
        },
        Hit {
            dst: u16,
            addr: u32,
        },
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (arb_m(), 0u64..4, 1u32..4, any::<bool>(), any::<bool>())
                .prop_map(|(m, cookie, port, overlap, reset)| Op::Add { m, cookie, port, overlap, reset }),
            1 => (arb_m(), any::<bool>(), 0u64..4, 0u64..4, 1u32..4, any::<bool>())
                .prop_map(|(m, strict, cookie, cmask, port, reset)| Op::Modify { m, strict, cookie, cmask, port, reset }),
            1 => (arb_m(), any::<bool>(), 0u64..4, 0u64..4, prop::option::of(1u32..4))
                .prop_map(|(m, strict, cookie, cmask, out_port)| Op::Delete { m, strict, cookie, cmask, out_port }),
            2 => (prop::sample::select(vec![80u16, 443, 22, 8080]), prop::sample::select(vec![0x0a01_0001u32, 0x0a01_0203, 0x0a02_0001, 0xc0a8_0001]))
                .prop_map(|(dst, addr)| Op::Hit { dst, addr }),
        ]
    }

    #[derive(Clone, Debug)]
    struct Entry {
        key: FlowKey,
        mask: FlowMask,
        prio: u16,
        cookie: u64,
        port: u32,
        packets: u64,
    }

    fn overlap(a: &Entry, k: &FlowKey, m: &FlowMask) -> bool {
        (0..FLOW_WORDS).all(|i| {
            (a.key.as_words()[i] ^ k.as_words()[i]) & a.mask.key.as_words()[i] & m.key.as_words()[i]
                == 0
        })
    }

    fn selected(
        e: &Entry,
        k: &FlowKey,
        m: &FlowMask,
        prio: u16,
        strict: bool,
        cookie: u64,
        cmask: u64,
    ) -> bool {
        let by_match = if strict {
            e.mask == *m && e.key == k.masked(m) && e.prio == prio
        } else {
            m.is_subset_of(&e.mask) && e.key.masked(m) == k.masked(m)
        };
        by_match && (e.cookie ^ cookie) & cmask == 0
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn classifier_flow_table_matches_model(ops in prop::collection::vec(arb_op(), 1..50)) {
            let mut t = FlowTable::new(1000);
            let mut model: Vec<Entry> = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                let now = i as u64;
                match op {
                    Op::Add { m, cookie, port, overlap: ov, reset } => {
                        let (k, mask) = match_to_key(&m.to_match()).unwrap();
                        let k = k.masked(&mask);
                        let mut s = spec(m.to_match(), m.prio, *cookie, out(*port));
                        if *ov { s.flags |= flow_mod_flags::CHECK_OVERLAP; }
                        if *reset { s.flags |= flow_mod_flags::RESET_COUNTS; }
                        let got = t.add(s, now);
                        if *ov && model.iter().any(|e| e.prio == m.prio && overlap(e, &k, &mask)) {
                            prop_assert_eq!(got.unwrap_err(), FlowTableError::Overlap);
                            continue;
                        }
                        let replaced = got.unwrap();
                        let old = model.iter().position(|e| e.key == k && e.mask == mask && e.prio == m.prio);
                        prop_assert_eq!(replaced.is_some(), old.is_some());
                        let packets = match old {
                            Some(j) => {
                                let o = model.remove(j);
                                if *reset { 0 } else { o.packets }
                            }
                            None => 0,
                        };
                        model.push(Entry { key: k, mask, prio: m.prio, cookie: *cookie, port: *port, packets });
                    }
                    Op::Modify { m, strict, cookie, cmask, port, reset } => {
                        let mut sel = Selector::new(&m.to_match(), m.prio, *strict).unwrap();
                        sel.cookie = *cookie;
                        sel.cookie_mask = *cmask;
                        let n = t.modify(&sel, &out(*port), *reset);
                        let mut want = 0;
                        for e in model.iter_mut() {
                            if selected(e, &sel.key, &sel.mask, m.prio, *strict, *cookie, *cmask) {
                                want += 1;
                                e.port = *port;
                                if *reset { e.packets = 0; }
                            }
                        }
                        prop_assert_eq!(n, want);
                    }
                    Op::Delete { m, strict, cookie, cmask, out_port } => {
                        let mut sel = Selector::new(&m.to_match(), m.prio, *strict).unwrap();
                        sel.cookie = *cookie;
                        sel.cookie_mask = *cmask;
                        sel.out_port = out_port.unwrap_or(port::ANY);
                        let n = t.delete(&sel).len();
                        let before = model.len();
                        model.retain(|e| {
                            !(selected(e, &sel.key, &sel.mask, m.prio, *strict, *cookie, *cmask)
                                && out_port.is_none_or(|p| p == e.port))
                        });
                        prop_assert_eq!(n, before - model.len());
                    }
                    Op::Hit { dst, addr } => {
                        let mut k = tcp_pkt(*dst);
                        k.set_ipv4_dst(*addr);
                        let best = model.iter().filter(|e| k.matches(&e.key, &e.mask)).map(|e| e.prio).max();
                        let mut wc = FlowMask::default();
                        let r = t.lookup(&k, &mut wc).cloned();
                        prop_assert_eq!(r.as_ref().map(|r| r.data.priority), best);
                        if let Some(r) = r {
                            r.data.record(1, 64, now);
                            let e = model.iter_mut().find(|e| e.key == *r.key() && e.mask == *r.mask() && e.prio == r.data.priority).unwrap();
                            e.packets += 1;
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for e in &model {
                    let mut sel = Selector::new(&Match::new(), e.prio, true).unwrap();
                    sel.key = e.key;
                    sel.mask = e.mask;
                    let got = t.select(&sel);
                    prop_assert_eq!(got.len(), 1);
                    let d = &got[0].data;
                    prop_assert_eq!((d.cookie, d.packet_count()), (e.cookie, e.packets));
                    prop_assert_eq!(&d.instructions, &out(e.port));
                }
            }
        }
    }
}
