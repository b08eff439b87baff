//! The flow sets of `shared/bench/flowscale.sh`, scaled down, in memory:
//! how many megaflows (distinct masked key + wildcard mask) the traffic
//! needs, and which bits each one un-wildcards.  Not a timing test.

use std::collections::HashSet;

use datapath::flow::{Field, FlowKey, FlowMask};
use ofproto::flow_table::{FlowSpec, FlowTable};
use ofproto::wire::action::Action;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::oxm::{BasicField as B, Match, OxmField};

fn output(p: u32) -> Vec<Instruction> {
    vec![Instruction::ApplyActions(vec![Action::Output {
        port: p,
        max_len: 0,
    }])]
}

fn add(t: &mut FlowTable, fields: Vec<OxmField>, priority: u16, port: u32) {
    let spec = FlowSpec {
        match_: Match { fields },
        priority,
        instructions: output(port),
        ..FlowSpec::default()
    };
    t.add(spec, 0).unwrap();
}

fn base(t: &mut FlowTable) {
    add(t, vec![OxmField::exact(B::IN_PORT, 1)], 1, 2);
    add(t, vec![OxmField::exact(B::IN_PORT, 2)], 1, 1);
}

/// h1 -> h2 UDP from in_port 1.
fn udp(dst_ip: u32, dst_port: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_in_port(1);
    k.set_eth_src([0, 0, 0, 0, 0, 1]);
    k.set_eth_dst([0, 0, 0, 0, 0, 2]);
    k.set_eth_type(0x0800);
    k.set_ipv4_src(0x0a00_0001);
    k.set_ipv4_dst(dst_ip);
    k.set_nw_proto(17);
    k.set_nw_ttl(64);
    k.set_tp_src(40000);
    k.set_tp_dst(dst_port);
    k
}

/// Runs the packets through the table the way the datapath would: a
/// packet covered by an installed megaflow does not reach the table.
/// Returns the megaflows and the number of upcalls.
fn run(t: &FlowTable, pkts: &[FlowKey]) -> (Vec<(FlowKey, FlowMask)>, usize) {
    let mut megaflows: Vec<(FlowKey, FlowMask)> = Vec::new();
    let mut seen: HashSet<(FlowKey, FlowMask)> = HashSet::new();
    let mut upcalls = 0;
    for p in pkts {
        if megaflows.iter().any(|(k, m)| p.matches(k, m)) {
            continue;
        }
        upcalls += 1;
        let mut wc = FlowMask::default();
        t.lookup(p, &mut wc);
        let mf = (p.masked(&wc), wc);
        assert!(seen.insert(mf), "a megaflow was installed twice");
        megaflows.push(mf);
    }
    (megaflows, upcalls)
}

#[test]
fn classifier_megaflow_l4_variant() {
    let mut t = FlowTable::new(100_000);
    base(&mut t);
    let ip = |proto: u128, port: u128| {
        vec![
            OxmField::exact(B::ETH_TYPE, 0x0800),
            OxmField::exact(B::IP_PROTO, proto),
            OxmField::exact(if proto == 17 { B::UDP_DST } else { B::TCP_DST }, port),
        ]
    };
    for p in 1..=3000u128 {
        add(&mut t, ip(17, p), 100, 2);
    }
    for p in 1..=1000u128 {
        add(&mut t, ip(6, p), 100, 2);
    }
    assert_eq!(t.len(), 4002);
    assert_eq!(t.classifier().n_subtables(), 2);
    let pkts: Vec<FlowKey> = (1..=500u16).map(|p| udp(0x0a00_0002, p)).collect();
    let (mf, upcalls) = run(&t, &pkts);
    // One megaflow per destination port, as in Open vSwitch; each
    // un-wildcards only what the L4 rules look at (the in_port rules are
    // never consulted: lower priority, early exit).
    assert_eq!(mf.len(), 500);
    assert_eq!(upcalls, 500);
    let mut want = FlowMask::default();
    want.set_exact(Field::EthType)
        .set_exact(Field::NwProto)
        .set_exact(Field::TpDst);
    assert!(mf.iter().all(|(_, m)| *m == want));
    // Ports beyond the UDP rules fall to in_port=1 and still need tp_dst.
    let (mf, _) = run(&t, &[udp(0x0a00_0002, 4000), udp(0x0a00_0002, 4001)]);
    assert_eq!(mf.len(), 2);
    assert!(mf.iter().all(|(_, m)| m.is_exact(Field::InPort)));
}

#[test]
fn classifier_megaflow_ip_variant() {
    let mut t = FlowTable::new(100_000);
    base(&mut t);
    let net = 0x0a4e_0000u32; // 10.78.0.0
    for i in 1..=3000u32 {
        add(
            &mut t,
            vec![
                OxmField::exact(B::ETH_TYPE, 0x0800),
                OxmField::exact(B::IPV4_DST, u128::from(net + i)),
            ],
            100,
            2,
        );
    }
    let pkts: Vec<FlowKey> = (1..=500u32).map(|i| udp(net + i, 9)).collect();
    let (mf, upcalls) = run(&t, &pkts);
    assert_eq!((mf.len(), upcalls), (500, 500));
    let mut want = FlowMask::default();
    want.set_exact(Field::EthType).set_exact(Field::Ipv4Dst);
    assert!(mf.iter().all(|(_, m)| *m == want));
    // Traffic outside 10.78.0.0/20 needs only a prefix of nw_dst to
    // miss every /32 (prefix tracking), not the whole address: a
    // handful of megaflows cover a whole /8 of destinations.
    let far: Vec<FlowKey> = (0..2000u32)
        .map(|i| udp(0x0b00_0000 + i * 7919, 9))
        .collect();
    let (mf, _) = run(&t, &far);
    assert!(mf.len() <= 2, "{} megaflows", mf.len());
    for (_, m) in &mf {
        assert!(m.field(Field::Ipv4Dst).count_ones() <= 8);
        assert!(m.is_exact(Field::InPort));
        assert!(m.is_wild(Field::TpDst));
    }
}
