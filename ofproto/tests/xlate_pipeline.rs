//! Pipeline translation tests: tables, instructions, the action set,
//! groups, reserved ports, NORMAL, and end-to-end execution on packets.

mod xlate_support;

use datapath::actions::{ActionSink, DpAction, SetField, execute};
use datapath::flow::{Field, FlowKey, extract};
use datapath::packet::Packet;
use ofproto::normal::{MacLearning, PortVlan};
use ofproto::wire::action::Action;
use ofproto::wire::consts::port;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{group_type, packet_in_reason};
use ofproto::wire::oxm::{BasicField as B, Match};
use ofproto::xlate::{
    ControllerCookie, XlateCtx, translate, translate_normal, translate_packet_out,
};
use xlate_support::*;

fn ctx() -> XlateCtx {
    XlateCtx {
        may_learn: true,
        ..Default::default()
    }
}

fn key1() -> FlowKey {
    udp_key(1, 0x0a00_0001, 0x0a00_0002, 1000, 53)
}

#[test]
fn goto_table_with_metadata_selects_the_rule_in_the_next_table() {
    let mut v = View::new(3, &[1, 2, 3]);
    v.add(
        0,
        10,
        m(&[(B::IN_PORT, 1)]),
        vec![
            Instruction::GotoTable(2),
            Instruction::WriteMetadata {
                metadata: 0xab,
                mask: 0xff,
            },
        ],
    );
    v.add(2, 10, m(&[(B::METADATA, 0xab)]), vec![apply(vec![out(2)])]);
    v.add(2, 5, Match::new(), vec![apply(vec![out(3)])]);
    let r = translate(&v, &key1(), &mut ctx());
    assert_eq!(r.actions, vec![DpAction::Output(2)]);
    assert_eq!(r.rules_hit.len(), 2);
    assert!(r.wc.is_exact(Field::InPort));
    // From another port, table 0 misses: drop.
    let mut k = key1();
    k.set_in_port(3);
    let r = translate(&v, &k, &mut ctx());
    assert!(r.actions.is_empty());
    assert!(r.rules_hit.is_empty());
}

#[test]
fn apply_actions_rewrite_is_seen_by_the_next_table() {
    let mut v = View::new(2, &[1, 2, 3, 4]);
    v.add(
        0,
        10,
        Match::new(),
        vec![
            apply(vec![setf(B::ETH_DST, 0x0000_0000_0099)]),
            Instruction::GotoTable(1),
        ],
    );
    v.add(1, 10, m(&[(B::ETH_DST, 0x99)]), vec![apply(vec![out(4)])]);
    v.add(1, 1, Match::new(), vec![apply(vec![out(3)])]);
    let r = translate(&v, &key1(), &mut ctx());
    assert_eq!(
        r.actions,
        vec![
            DpAction::SetMasked(SetField::exact(Field::EthDst, 0x99)),
            DpAction::Output(4)
        ]
    );
}

#[test]
fn action_set_runs_in_spec_order_after_apply_actions() {
    let mut v = View::new(1, &[1, 2, 5]);
    v.add(
        0,
        10,
        Match::new(),
        vec![
            write(vec![
                out(2),
                setf(B::IPV4_DST, 0x0a00_0063),
                Action::DecNwTtl,
                Action::PushVlan(0x8100),
                Action::PopVlan,
            ]),
            apply(vec![out(5)]),
        ],
    );
    let mut k = key1();
    k.set_vlan_tci(0x1000 | 7);
    k.set_vlan_tpid(0x8100);
    let r = translate(&v, &k, &mut ctx());
    assert_eq!(
        r.actions,
        vec![
            DpAction::Output(5),
            DpAction::PopVlan,
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x1000
            },
            DpAction::DecIpTtl,
            DpAction::SetMasked(SetField::exact(Field::Ipv4Dst, 0x0a00_0063)),
            DpAction::Output(2),
        ]
    );
}

#[test]
fn write_actions_replace_same_type_and_clear_empties_the_set() {
    let mut v = View::new(3, &[1, 2, 3]);
    v.add(
        0,
        10,
        Match::new(),
        vec![
            write(vec![out(2), setf(B::IPV4_SRC, 1), setf(B::IPV4_DST, 2)]),
            Instruction::GotoTable(1),
        ],
    );
    v.add(
        1,
        10,
        Match::new(),
        vec![write(vec![out(3), setf(B::IPV4_SRC, 9)])],
    );
    let r = translate(&v, &key1(), &mut ctx());
    assert_eq!(
        r.actions,
        vec![
            DpAction::SetMasked(SetField::exact(Field::Ipv4Src, 9)),
            DpAction::SetMasked(SetField::exact(Field::Ipv4Dst, 2)),
            DpAction::Output(3),
        ]
    );
    // Clear in table 1 drops what table 0 wrote.
    let mut v2 = View::new(2, &[1, 2, 3]);
    v2.add(
        0,
        10,
        Match::new(),
        vec![write(vec![out(2)]), Instruction::GotoTable(1)],
    );
    v2.add(1, 10, Match::new(), vec![Instruction::ClearActions]);
    assert!(translate(&v2, &key1(), &mut ctx()).actions.is_empty());
}

#[test]
fn group_in_action_set_overrides_output() {
    let mut v = View::new(1, &[1, 2, 3]);
    v.group(
        7,
        group_type::INDIRECT,
        vec![bucket(0, port::ANY, vec![out(3)])],
    );
    v.add(
        0,
        1,
        Match::new(),
        vec![write(vec![out(2), Action::Group(7)])],
    );
    let r = translate(&v, &key1(), &mut ctx());
    assert_eq!(r.actions, vec![DpAction::Clone(vec![DpAction::Output(3)])]);
}

#[test]
fn meter_instruction_comes_first() {
    let mut v = View::new(1, &[1, 2]);
    v.add(
        0,
        1,
        Match::new(),
        vec![apply(vec![out(2)]), Instruction::Meter(4)],
    );
    let r = translate(&v, &key1(), &mut ctx());
    assert_eq!(r.actions, vec![DpAction::Meter(4), DpAction::Output(2)]);
}

#[test]
fn controller_reason_is_no_match_only_for_the_table_miss_entry() {
    let mut v = View::new(1, &[1, 2]);
    v.add_cookie(
        0,
        0,
        Match::new(),
        vec![apply(vec![Action::Output {
            port: port::CONTROLLER,
            max_len: 128,
        }])],
        0xfeed,
    );
    v.add_cookie(
        0,
        5,
        m(&[(B::IN_PORT, 2)]),
        vec![apply(vec![Action::Output {
            port: port::CONTROLLER,
            max_len: 0xffff,
        }])],
        0xbeef,
    );
    let mut c = ctx();
    let r = translate(&v, &key1(), &mut c);
    assert_eq!(r.packet_ins.len(), 1);
    let pi = r.packet_ins[0];
    assert_eq!(pi.reason, packet_in_reason::NO_MATCH);
    assert_eq!(pi.cookie, 0xfeed);
    assert_eq!(
        r.actions,
        vec![DpAction::Userspace {
            cookie: pi.dp_cookie,
            max_len: 128
        }]
    );
    let cc = ControllerCookie::unpack(pi.dp_cookie).expect("our cookie");
    assert_eq!(cc.table_id, 0);
    assert_eq!(c.cookies.get(cc.slot), (0xfeed, 0));
    let mut k = key1();
    k.set_in_port(2);
    let r = translate(&v, &k, &mut c);
    assert_eq!(r.packet_ins[0].reason, packet_in_reason::ACTION);
    assert_eq!(
        r.actions,
        vec![DpAction::Userspace {
            cookie: r.packet_ins[0].dp_cookie,
            max_len: 0
        }]
    );
}

#[test]
fn reserved_ports() {
    let mut v = View::new(1, &[1, 2, 3, 4, 5]);
    v.no_fwd.insert(4);
    v.no_flood.insert(5);
    v.local = Some(100);
    let run = |v: &View, p: u32| {
        let mut v2 = View::new(1, &v.ports);
        v2.no_fwd = v.no_fwd.clone();
        v2.no_flood = v.no_flood.clone();
        v2.local = v.local;
        v2.add(0, 1, Match::new(), vec![apply(vec![out(p)])]);
        translate(&v2, &key1(), &mut ctx())
    };
    let outs = |ps: &[u32]| ps.iter().map(|&p| DpAction::Output(p)).collect::<Vec<_>>();
    let r = run(&v, port::IN_PORT);
    assert_eq!(r.actions, outs(&[1]));
    assert!(r.wc.is_exact(Field::InPort));
    assert_eq!(run(&v, port::ALL).actions, outs(&[2, 3, 5, 100]));
    assert_eq!(run(&v, port::FLOOD).actions, outs(&[2, 3, 100]));
    assert_eq!(run(&v, port::LOCAL).actions, outs(&[100]));
    // A physical port equal to in_port is not sent back.
    assert!(run(&v, 1).actions.is_empty());
    assert_eq!(run(&v, 3).actions, outs(&[3]));
    // TABLE outside packet-out is ignored.
    let r = run(&v, port::TABLE);
    assert!(r.actions.is_empty());
    assert!(!r.skipped.is_empty());
    let _ = &mut v;
}

#[test]
fn packet_out_table_runs_the_pipeline() {
    let mut v = View::new(1, &[1, 2, 3]);
    v.add(0, 1, m(&[(B::IN_PORT, 1)]), vec![apply(vec![out(3)])]);
    let r = translate_packet_out(&v, &key1(), &[out(2), out(port::TABLE)], &mut ctx());
    assert_eq!(r.actions, vec![DpAction::Output(2), DpAction::Output(3)]);
}

#[test]
fn all_group_clones_per_bucket() {
    let mut v = View::new(1, &[1, 2, 3]);
    v.group(
        1,
        group_type::ALL,
        vec![
            bucket(0, port::ANY, vec![setf(B::IPV4_DST, 5), out(2)]),
            bucket(0, port::ANY, vec![out(3)]),
        ],
    );
    v.add(
        0,
        1,
        Match::new(),
        vec![apply(vec![Action::Group(1), out(3)])],
    );
    let r = translate(&v, &key1(), &mut ctx());
    assert_eq!(
        r.actions,
        vec![
            DpAction::Clone(vec![
                DpAction::SetMasked(SetField::exact(Field::Ipv4Dst, 5)),
                DpAction::Output(2)
            ]),
            DpAction::Clone(vec![DpAction::Output(3)]),
            DpAction::Output(3),
        ]
    );
}

#[test]
fn select_group_is_stable_covers_buckets_and_unwildcards_the_hash_fields() {
    let mut v = View::new(1, &[1, 2, 3, 4, 5]);
    v.group(
        1,
        group_type::SELECT,
        vec![
            bucket(1, port::ANY, vec![out(2)]),
            bucket(1, port::ANY, vec![out(3)]),
            bucket(2, port::ANY, vec![out(4)]),
            bucket(0, port::ANY, vec![out(5)]),
        ],
    );
    v.add(0, 1, Match::new(), vec![apply(vec![Action::Group(1)])]);
    let mut seen = [0usize; 6];
    for i in 0..400u16 {
        let k = udp_key(1, 0x0a00_0001, 0x0a00_0002, 1000 + i, 53);
        let a = translate(&v, &k, &mut ctx());
        let b = translate(&v, &k, &mut ctx());
        assert_eq!(a.actions, b.actions, "stable for one flow");
        for f in [
            Field::Ipv4Src,
            Field::Ipv4Dst,
            Field::TpSrc,
            Field::TpDst,
            Field::NwProto,
        ] {
            assert!(a.wc.is_exact(f), "{f:?} hashed, so exact");
        }
        match a.actions.as_slice() {
            [DpAction::Clone(inner)] => match inner.as_slice() {
                [DpAction::Output(p)] => seen[*p as usize] += 1,
                o => panic!("unexpected {o:?}"),
            },
            o => panic!("unexpected {o:?}"),
        }
    }
    assert!(seen[2] > 40 && seen[3] > 40 && seen[4] > 100, "{seen:?}");
    assert_eq!(seen[5], 0, "weight 0 is never chosen");
}

#[test]
fn select_group_skips_dead_buckets() {
    let mut v = View::new(1, &[1, 2, 3]);
    v.group(
        1,
        group_type::SELECT,
        vec![bucket(1, 2, vec![out(2)]), bucket(1, 3, vec![out(3)])],
    );
    v.add(0, 1, Match::new(), vec![apply(vec![Action::Group(1)])]);
    v.down.insert(2);
    for i in 0..50u16 {
        let k = udp_key(1, 0x0a00_0001, 0x0a00_0002, 1000 + i, 53);
        let r = translate(&v, &k, &mut ctx());
        assert_eq!(r.actions, vec![DpAction::Clone(vec![DpAction::Output(3)])]);
        assert!(r.reads_port_state);
    }
}

#[test]
fn output_to_a_missing_port_drops() {
    let mut v = View::new(1, &[1, 2]);
    v.add(0, 1, Match::new(), vec![apply(vec![out(9), out(2)])]);
    assert_eq!(
        translate(&v, &key1(), &mut ctx()).actions,
        vec![DpAction::Output(2)]
    );
}

#[test]
fn fast_failover_takes_the_first_live_bucket() {
    let mut v = View::new(1, &[1, 2, 3, 4]);
    v.group(
        9,
        group_type::FF,
        vec![
            bucket(0, 2, vec![out(2)]),
            bucket(0, 3, vec![out(3)]),
            bucket(0, port::ANY, vec![out(4)]),
        ],
    );
    v.group(10, group_type::FF, vec![bucket(0, 2, vec![out(2)])]);
    v.group(
        11,
        group_type::FF,
        vec![
            ofproto::wire::message::Bucket {
                weight: 0,
                watch_port: port::ANY,
                watch_group: 10,
                actions: vec![Action::Group(10)],
            },
            bucket(0, 3, vec![out(3)]),
        ],
    );
    v.add(
        0,
        1,
        m(&[(B::IN_PORT, 1)]),
        vec![apply(vec![Action::Group(9)])],
    );
    v.add(
        0,
        1,
        m(&[(B::IN_PORT, 4)]),
        vec![apply(vec![Action::Group(11)])],
    );
    let one = |v: &View, k: &FlowKey| translate(v, k, &mut ctx()).actions;
    let clone = |p| vec![DpAction::Clone(vec![DpAction::Output(p)])];
    let mut k4 = key1();
    k4.set_in_port(4);
    assert_eq!(one(&v, &key1()), clone(2));
    assert_eq!(
        one(&v, &k4),
        vec![DpAction::Clone(vec![DpAction::Clone(vec![
            DpAction::Output(2)
        ])])]
    );
    v.down.insert(2);
    assert_eq!(one(&v, &key1()), clone(3));
    assert_eq!(one(&v, &k4), clone(3), "watch_group dead too");
    v.down.insert(3);
    assert_eq!(one(&v, &key1()), clone(4));
    assert!(one(&v, &k4).is_empty());
    assert!(translate(&v, &key1(), &mut ctx()).reads_port_state);
}

#[test]
fn invalid_ttl_goes_to_controller_only_when_asked() {
    let mut v = View::new(1, &[1, 2]);
    v.add(
        0,
        1,
        Match::new(),
        vec![apply(vec![Action::DecNwTtl, out(2)])],
    );
    let mut k = key1();
    k.set_nw_ttl(1);
    let r = translate(&v, &k, &mut ctx());
    assert_eq!(r.actions, vec![DpAction::DecIpTtl, DpAction::Output(2)]);
    assert!(!r.wc.is_exact(Field::NwTtl), "the datapath checks the TTL");
    let mut c = ctx();
    c.invalid_ttl_to_controller = true;
    let r = translate(&v, &k, &mut c);
    assert_eq!(r.packet_ins.len(), 1);
    assert_eq!(r.packet_ins[0].reason, packet_in_reason::INVALID_TTL);
    assert!(matches!(r.actions.as_slice(), [DpAction::Userspace { .. }]));
    assert!(r.wc.is_exact(Field::NwTtl));
    k.set_nw_ttl(9);
    let r = translate(&v, &k, &mut c);
    assert_eq!(r.actions, vec![DpAction::DecIpTtl, DpAction::Output(2)]);
}

#[test]
fn set_field_on_an_absent_header_is_skipped() {
    let mut v = View::new(1, &[1, 2]);
    v.add(
        0,
        1,
        Match::new(),
        vec![apply(vec![
            setf(B::TCP_DST, 80),
            setf(B::VLAN_VID, 0x1005),
            out(2),
        ])],
    );
    let r = translate(&v, &key1(), &mut ctx()); // UDP, untagged
    assert_eq!(r.actions, vec![DpAction::Output(2)]);
    assert!(r.wc.is_exact(Field::NwProto));
}

#[test]
fn push_mpls_copy_ttl_out_reads_ip_ttl() {
    let mut v = View::new(1, &[1, 2]);
    v.add(
        0,
        1,
        Match::new(),
        vec![apply(vec![
            Action::PushMpls(0x8847),
            Action::CopyTtlOut,
            Action::DecMplsTtl,
            out(2),
        ])],
    );
    let r = translate(&v, &key1(), &mut ctx());
    assert_eq!(
        r.actions,
        vec![
            DpAction::PushMpls {
                ethertype: 0x8847,
                lse: 64
            },
            DpAction::SetMplsTtl(64),
            DpAction::DecMplsTtl,
            DpAction::Output(2)
        ]
    );
}

// ---- NORMAL ----

fn l2_key(in_port: u32, src: u8, dst: [u8; 6], tci: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_in_port(in_port);
    k.set_eth_src([2, 0, 0, 0, 0, src]);
    k.set_eth_dst(dst);
    k.set_eth_type(0x0800);
    if tci != 0 {
        k.set_vlan_tci(tci | 0x1000);
        k.set_vlan_tpid(0x8100);
    }
    k
}

fn mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, n]
}

#[test]
fn normal_learns_floods_and_forwards() {
    let v = View::new(1, &[1, 2, 3]);
    let mut c = ctx();
    let r = translate_normal(&v, &l2_key(1, 0xa, mac(0xb), 0), &mut c);
    assert_eq!(r.actions, vec![DpAction::Output(2), DpAction::Output(3)]);
    let g0 = r.mac_generation.expect("normal ran");
    for f in [Field::InPort, Field::EthSrc, Field::EthDst, Field::VlanTci] {
        assert!(r.wc.is_exact(f));
    }
    let r = translate_normal(&v, &l2_key(2, 0xb, mac(0xa), 0), &mut c);
    assert_eq!(r.actions, vec![DpAction::Output(1)]);
    assert!(r.mac_generation.expect("normal ran") > g0);
    // Now B is known: A -> B goes to 2 only.
    let r = translate_normal(&v, &l2_key(1, 0xa, mac(0xb), 0), &mut c);
    assert_eq!(r.actions, vec![DpAction::Output(2)]);
    // Destination on the input port: drop.
    let r = translate_normal(&v, &l2_key(2, 0xc, mac(0xb), 0), &mut c);
    assert!(r.actions.is_empty());
    // Broadcast floods.
    let r = translate_normal(&v, &l2_key(3, 0xd, [0xff; 6], 0), &mut c);
    assert_eq!(r.actions, vec![DpAction::Output(1), DpAction::Output(2)]);
    // Station moves: B now on 3.
    translate_normal(&v, &l2_key(3, 0xb, [0xff; 6], 0), &mut c);
    let r = translate_normal(&v, &l2_key(1, 0xa, mac(0xb), 0), &mut c);
    assert_eq!(r.actions, vec![DpAction::Output(3)]);
}

#[test]
fn normal_via_openflow_output_normal() {
    let mut v = View::new(1, &[1, 2, 3]);
    v.add(0, 0, Match::new(), vec![apply(vec![out(port::NORMAL)])]);
    let r = translate(&v, &l2_key(1, 0xa, mac(0xb), 0), &mut ctx());
    assert_eq!(r.actions, vec![DpAction::Output(2), DpAction::Output(3)]);
}

#[test]
fn normal_vlan_access_and_trunk() {
    let mut v = View::new(1, &[1, 2, 3, 4]);
    v.vlans.insert(1, PortVlan::access(10));
    v.vlans.insert(2, PortVlan::trunk(&[10, 20]));
    v.vlans.insert(3, PortVlan::access(20));
    v.vlans.insert(4, PortVlan::access(10));
    let mut c = ctx();
    // Untagged on access 10 floods: tagged on the trunk, untagged on 4.
    let r = translate_normal(&v, &l2_key(1, 0xa, mac(0xb), 0), &mut c);
    assert_eq!(
        r.actions,
        vec![DpAction::Clone(vec![
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x1000 | 10
            },
            DpAction::Output(2),
            DpAction::PopVlan,
            DpAction::Output(4),
        ])]
    );
    // Tagged 20 from the trunk: popped towards access 20.
    let r = translate_normal(&v, &l2_key(2, 0xc, mac(0xd), 20), &mut c);
    assert_eq!(
        r.actions,
        vec![DpAction::Clone(vec![
            DpAction::PopVlan,
            DpAction::Output(3)
        ])]
    );
    // Tagged 30 is not allowed on the trunk: drop.
    assert!(
        translate_normal(&v, &l2_key(2, 0xc, mac(0xd), 30), &mut c)
            .actions
            .is_empty()
    );
    // A tagged frame on an access port: drop.
    assert!(
        translate_normal(&v, &l2_key(1, 0xa, mac(0xd), 10), &mut c)
            .actions
            .is_empty()
    );
    // A learned in VLAN 10 from port 1; reply from trunk in VLAN 10.
    let r = translate_normal(&v, &l2_key(2, 0xb, mac(0xa), 10), &mut c);
    assert_eq!(
        r.actions,
        vec![DpAction::Clone(vec![
            DpAction::PopVlan,
            DpAction::Output(1)
        ])]
    );
    // Same MAC in VLAN 20 is unknown: flood to port 3 only.
    let r = translate_normal(&v, &l2_key(2, 0xb, mac(0xa), 20), &mut c);
    assert_eq!(
        r.actions,
        vec![DpAction::Clone(vec![
            DpAction::PopVlan,
            DpAction::Output(3)
        ])]
    );
}

#[test]
fn normal_entries_age_out_with_the_clock() {
    let v = View::new(1, &[1, 2, 3]);
    let mut c = ctx();
    c.now_ms = 1_000;
    translate_normal(&v, &l2_key(2, 0xb, [0xff; 6], 0), &mut c);
    c.now_ms = 1_000 + 299_000;
    let r = translate_normal(&v, &l2_key(1, 0xa, mac(0xb), 0), &mut c);
    assert_eq!(r.actions, vec![DpAction::Output(2)]);
    c.now_ms = 1_000 + 300_000;
    let r = translate_normal(&v, &l2_key(1, 0xa, mac(0xb), 0), &mut c);
    assert_eq!(r.actions, vec![DpAction::Output(2), DpAction::Output(3)]);
    let g = c.mac.generation();
    assert_eq!(c.mac.expire(c.now_ms), 1, "b expired (a was refreshed)");
    assert!(c.mac.generation() > g);
    assert_eq!(c.mac.entries(c.now_ms).len(), 1);
}

#[test]
fn mac_table_is_bounded_and_evicts_the_oldest() {
    let mut ml = MacLearning::new(3, 300_000);
    for i in 1..=3u8 {
        assert!(ml.learn(mac(i), 0, u32::from(i), u64::from(i)));
    }
    assert!(!ml.learn(mac(1), 0, 1, 10), "refresh is not a change");
    assert!(ml.learn(mac(4), 0, 4, 11));
    assert_eq!(ml.len(), 3);
    assert_eq!(ml.lookup(mac(2), 0, 11), None, "oldest (2) evicted");
    assert_eq!(ml.lookup(mac(1), 0, 11), Some(1));
    assert!(!ml.learn([0xff; 6], 0, 1, 12), "broadcast never learned");
    assert!(
        !ml.learn([1, 0, 0, 0, 0, 1], 0, 1, 12),
        "multicast never learned"
    );
    ml.flush_port(4);
    assert_eq!(ml.lookup(mac(4), 0, 12), None);
    ml.flush();
    assert!(ml.is_empty());
}

// ---- end to end on real packets ----

#[derive(Default)]
struct Sink {
    out: Vec<(u32, Vec<u8>)>,
}

impl ActionSink for Sink {
    fn output(&mut self, port: u32, pkt: &Packet) {
        self.out.push((port, pkt.data().to_vec()));
    }
    fn userspace(&mut self, _pkt: &Packet, _cookie: u64, _max_len: u32) {}
    fn meter(&mut self, _meter: u32, _pkt: &Packet) -> bool {
        true
    }
}

#[test]
fn translated_actions_rewrite_real_packets() {
    let mut v = View::new(2, &[1, 2, 3]);
    v.add(
        0,
        10,
        m(&[(B::ETH_TYPE, 0x0800), (B::IPV4_DST, 0x0a00_0002)]),
        vec![
            apply(vec![setf(B::IPV4_DST, 0x0a00_0063)]),
            write(vec![Action::DecNwTtl, out(2)]),
            Instruction::GotoTable(1),
        ],
    );
    v.add(
        1,
        10,
        m(&[(B::ETH_TYPE, 0x0800), (B::IPV4_DST, 0x0a00_0063)]),
        vec![write(vec![
            Action::PushVlan(0x8100),
            setf(B::VLAN_VID, 0x1000 | 42),
        ])],
    );
    let frame = udp_frame(mac(1), mac(2), 0x0a00_0001, 0x0a00_0002, 64);
    let mut pkt = Packet::from_slice(&frame);
    let mut k = FlowKey::ZERO;
    extract(&mut pkt, &mut k);
    k.set_in_port(1);
    let r = translate(&v, &k, &mut ctx());
    let mut sink = Sink::default();
    execute(&r.actions, &mut pkt, &k, &mut sink);
    assert_eq!(sink.out.len(), 1);
    let (p, data) = &sink.out[0];
    assert_eq!(*p, 2);
    let mut outp = Packet::from_slice(data);
    let mut ok = FlowKey::ZERO;
    extract(&mut outp, &mut ok);
    assert_eq!(ok.vlan_tci(), 0x1000 | 42);
    assert_eq!(ok.ipv4_dst(), 0x0a00_0063);
    assert_eq!(ok.nw_ttl(), 63);
    // The megaflow covers another source address, with the same actions.
    assert!(!r.wc.is_wild(Field::Ipv4Dst));
    assert!(r.wc.is_wild(Field::Ipv4Src), "no rule reads ipv4_src");
    let frame2 = udp_frame(mac(1), mac(2), 0x0a00_0077, 0x0a00_0002, 64);
    let mut p2 = Packet::from_slice(&frame2);
    let mut k2 = FlowKey::ZERO;
    extract(&mut p2, &mut k2);
    k2.set_in_port(1);
    assert!(k2.matches(&k.masked(&r.wc), &r.wc));
    assert_eq!(translate(&v, &k2, &mut ctx()).actions, r.actions);
}

#[test]
fn normal_vlan_tagging_on_real_packets() {
    let mut v = View::new(1, &[1, 2, 3, 4]);
    v.vlans.insert(1, PortVlan::access(10));
    v.vlans.insert(2, PortVlan::trunk(&[]));
    v.vlans.insert(3, PortVlan::access(20));
    v.vlans.insert(4, PortVlan::access(10));
    v.add(
        0,
        0,
        Match::new(),
        vec![apply(vec![out(port::NORMAL), out(3)])],
    );
    let frame = udp_frame(mac(1), mac(2), 0x0a00_0001, 0x0a00_0002, 64);
    let mut pkt = Packet::from_slice(&frame);
    let mut k = FlowKey::ZERO;
    extract(&mut pkt, &mut k);
    k.set_in_port(1);
    let r = translate(&v, &k, &mut ctx());
    let mut sink = Sink::default();
    execute(&r.actions, &mut pkt, &k, &mut sink);
    let ports: Vec<u32> = sink.out.iter().map(|(p, _)| *p).collect();
    assert_eq!(ports, vec![2, 4, 3]);
    let tagged = &sink.out[0].1;
    assert_eq!(tagged.len(), frame.len() + 4);
    assert_eq!(&tagged[12..16], &[0x81, 0x00, 0x00, 10]);
    assert_eq!(&tagged[16..], &frame[12..]);
    assert_eq!(sink.out[1].1, frame, "access port gets it untagged");
    assert_eq!(
        sink.out[2].1, frame,
        "actions after NORMAL see the original"
    );
}

#[test]
fn revalidation_keeps_updates_or_deletes() {
    use ofproto::xlate::{Revalidation, revalidate};
    let mut v = View::new(1, &[1, 2, 3]);
    v.add(0, 10, m(&[(B::IN_PORT, 1)]), vec![apply(vec![out(2)])]);
    let k = key1();
    let r = translate(&v, &k, &mut ctx());
    let (verdict, _) = revalidate(&v, &k, &r.wc, &r.actions, &mut ctx());
    assert_eq!(verdict, Revalidation::Keep);
    // Same match, new actions: update in place.
    v.add(0, 10, m(&[(B::IN_PORT, 1)]), vec![apply(vec![out(3)])]);
    let (verdict, _) = revalidate(&v, &k, &r.wc, &r.actions, &mut ctx());
    assert_eq!(verdict, Revalidation::Update(vec![DpAction::Output(3)]));
    // A more specific rule now needs more bits: delete.
    v.add(
        0,
        20,
        m(&[
            (B::IN_PORT, 1),
            (B::ETH_TYPE, 0x0800),
            (B::IPV4_DST, 0x0a00_0009),
        ]),
        vec![apply(vec![out(2)])],
    );
    let (verdict, _) = revalidate(&v, &k, &r.wc, &r.actions, &mut ctx());
    assert_eq!(verdict, Revalidation::Delete);
}

#[test]
fn group_chains_deeper_than_the_datapath_clone_limit_drop() {
    let mut v = View::new(1, &[1, 2]);
    for g in 1..=12u32 {
        let next = if g == 12 {
            out(2)
        } else {
            Action::Group(g + 1)
        };
        v.group(
            g,
            group_type::INDIRECT,
            vec![bucket(0, port::ANY, vec![next])],
        );
    }
    v.add(
        0,
        10,
        m(&[(B::IN_PORT, 1)]),
        vec![apply(vec![Action::Group(5)])],
    );
    v.add(
        0,
        10,
        m(&[(B::IN_PORT, 2)]),
        vec![apply(vec![Action::Group(1)])],
    );
    // Groups 5..12: 8 levels, within the limit.
    let r = translate(&v, &key1(), &mut ctx());
    assert!(!r.truncated);
    assert!(!r.actions.is_empty());
    let mut k = key1();
    k.set_in_port(2);
    let r = translate(&v, &k, &mut ctx());
    assert!(r.truncated);
    assert!(r.actions.is_empty());
}

#[test]
fn packet_in_carries_the_pipeline_metadata() {
    let mut v = View::new(2, &[1, 2]);
    v.add(
        0,
        5,
        Match::new(),
        vec![
            Instruction::WriteMetadata {
                metadata: 0x1234,
                mask: 0xffff,
            },
            Instruction::GotoTable(1),
        ],
    );
    v.add_cookie(
        1,
        5,
        Match::new(),
        vec![apply(vec![Action::Output {
            port: port::CONTROLLER,
            max_len: 0xffff,
        }])],
        77,
    );
    let mut c = ctx();
    let r = translate(&v, &key1(), &mut c);
    let pi = r.packet_ins[0];
    assert_eq!(
        (pi.reason, pi.table_id, pi.cookie, pi.metadata),
        (packet_in_reason::ACTION, 1, 77, 0x1234)
    );
    let cc = ControllerCookie::unpack(pi.dp_cookie).expect("our cookie");
    assert_eq!(c.cookies.get(cc.slot), (77, 0x1234));
    assert!(r.wc.is_exact(Field::Metadata));
}

/// Not a pass/fail test: prints the translation rate for a two-table
/// pipeline of 1,000 L4 rules (run with `--ignored --nocapture`, in
/// release mode).
#[test]
#[ignore]
fn measure_translation_rate() {
    let mut v = View::new(2, &[1, 2, 3]);
    v.add(
        0,
        10,
        m(&[(B::IN_PORT, 1)]),
        vec![Instruction::GotoTable(1)],
    );
    for p in 1..=1000u128 {
        v.add(
            1,
            10,
            m(&[(B::ETH_TYPE, 0x0800), (B::IP_PROTO, 17), (B::UDP_DST, p)]),
            vec![apply(vec![Action::DecNwTtl, out(2)])],
        );
    }
    let mut c = ctx();
    let n = 200_000u32;
    let t = std::time::Instant::now();
    let mut acts = 0usize;
    for i in 0..n {
        let k = udp_key(1, 0x0a00_0001, 0x0a00_0002, 1000, (i % 2000) as u16 + 1);
        acts += translate(&v, &k, &mut c).actions.len();
    }
    let el = t.elapsed();
    println!(
        "{n} translations in {el:?}: {:.0}/s ({acts} actions)",
        f64::from(n) / el.as_secs_f64()
    );
}
