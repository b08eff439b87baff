//! Datapath action execution: header rewrites with checksum fix-ups
//! (checked against checksums recomputed from scratch by pnet), VLAN/MPLS
//! push/pop, TTL handling, truncate, clone, meter, userspace and batches.

mod core_util;

use core_util::*;
use datapath::actions::{ActionSink, DpAction, SetField, execute, execute_batch};
use datapath::flow::{Field, FlowKey, VLAN_PRESENT, extract};
use datapath::packet::{Offload, Packet};

#[derive(Default)]
struct Sink {
    out: Vec<(u32, Vec<u8>, Offload)>,
    up: Vec<(u64, u32, usize)>,
    ttl: usize,
    meter_ok: bool,
    metered: usize,
}

impl ActionSink for Sink {
    fn output(&mut self, port: u32, pkt: &Packet) {
        self.out.push((port, pkt.data().to_vec(), pkt.offload));
    }
    fn userspace(&mut self, pkt: &Packet, cookie: u64, max_len: u32) {
        self.up.push((cookie, max_len, pkt.len()));
    }
    fn meter(&mut self, _meter: u32, _pkt: &Packet) -> bool {
        self.metered += 1;
        self.meter_ok
    }
    fn ttl_exceeded(&mut self, _pkt: &Packet) {
        self.ttl += 1;
    }
}

fn run(frame: &[u8], actions: &[DpAction]) -> (Sink, Packet) {
    let mut p = Packet::from_slice(frame);
    let mut k = FlowKey::default();
    extract(&mut p, &mut k);
    let mut s = Sink {
        meter_ok: true,
        ..Sink::default()
    };
    execute(actions, &mut p, &k, &mut s);
    (s, p)
}

fn set(f: Field, v: u128) -> DpAction {
    DpAction::SetMasked(SetField::exact(f, v))
}

fn key(frame: &[u8]) -> FlowKey {
    let mut p = Packet::from_slice(frame);
    let mut k = FlowKey::default();
    extract(&mut p, &mut k);
    k
}

fn assert_checksums_ok(f: &[u8]) {
    let (ip_ok, stored, good) = l4_checksums(f);
    assert!(ip_ok, "IPv4 header checksum");
    // 0x0000 and 0xffff are the same ones'-complement value.
    let norm = |c: u16| if c == 0xffff { 0 } else { c };
    assert_eq!(norm(stored), norm(good), "L4 checksum");
}

#[test]
fn ipv4_address_and_port_rewrites_fix_checksums() {
    for frame in [tcp4_frame(1000, 80, 0x18), udp4_frame(1000, 53, b"query")] {
        assert_checksums_ok(&frame);
        let acts = [
            set(Field::Ipv4Src, 0xc0a8_0101),
            set(Field::Ipv4Dst, 0x0808_0808),
            set(Field::TpSrc, 40000),
            set(Field::TpDst, 8080),
            set(Field::NwTos, 0xb8),
            set(Field::NwTtl, 5),
            DpAction::Output(2),
        ];
        let (s, _) = run(&frame, &acts);
        let out = &s.out[0].1;
        assert_checksums_ok(out);
        let k = key(out);
        assert_eq!((k.ipv4_src(), k.ipv4_dst()), (0xc0a8_0101, 0x0808_0808));
        assert_eq!(
            (k.tp_src(), k.tp_dst(), k.nw_tos(), k.nw_ttl()),
            (40000, 8080, 0xb8, 5)
        );
    }
}

#[test]
fn udp_without_checksum_stays_without() {
    let mut f = udp4_frame(1, 2, b"abc");
    f[14 + 20 + 6] = 0;
    f[14 + 20 + 7] = 0;
    let (s, _) = run(&f, &[set(Field::Ipv4Src, 0x0101_0101), DpAction::Output(1)]);
    assert_eq!(&s.out[0].1[40..42], &[0, 0]);
}

#[test]
fn ipv6_rewrites_fix_checksums() {
    let new_src: std::net::Ipv6Addr = "2001:db8:1::5".parse().unwrap();
    for frame in [tcp6_frame(1, 2), udp6_frame(3, 4)] {
        assert_checksums_ok(&frame);
        let acts = [
            set(Field::Ipv6Src, u128::from(new_src)),
            set(Field::TpDst, 4242),
            set(Field::Ipv6Label, 0xabcde),
            set(Field::NwTtl, 9),
            DpAction::Output(1),
        ];
        let (s, _) = run(&frame, &acts);
        let out = &s.out[0].1;
        assert_checksums_ok(out);
        let k = key(out);
        assert_eq!(k.ipv6_src(), new_src.octets());
        assert_eq!((k.tp_dst(), k.ipv6_label(), k.nw_ttl()), (4242, 0xabcde, 9));
    }
}

#[test]
fn icmp_and_nd_rewrites_fix_checksums() {
    let mut f = eth(
        0x0800,
        &ipv4(
            &V4 {
                proto: 1,
                ..V4::default()
            },
            &icmp(8, 0),
        ),
    );
    fix_checksums(&mut f);
    let (s, _) = run(
        &f,
        &[
            set(Field::TpSrc, 0),
            set(Field::Ipv4Dst, 7),
            DpAction::Output(1),
        ],
    );
    assert_checksums_ok(&s.out[0].1);
    assert_eq!(key(&s.out[0].1).icmp_type(), 0);

    let target: std::net::Ipv6Addr = "2001:db8::99".parse().unwrap();
    let mut f = eth(0x86dd, &ipv6(58, 0, 0, &nd(135, target, Some(SRC_MAC))));
    fix_checksums(&mut f);
    assert_checksums_ok(&f);
    let new_t: std::net::Ipv6Addr = "2001:db8::77".parse().unwrap();
    let acts = [
        set(Field::NdTarget, u128::from(new_t)),
        set(Field::ArpSha, 0x0a0b_0c0d_0e0f),
        DpAction::Output(1),
    ];
    let (s, _) = run(&f, &acts);
    assert_checksums_ok(&s.out[0].1);
    let k = key(&s.out[0].1);
    assert_eq!(k.nd_target(), new_t.octets());
    assert_eq!(k.arp_sha(), [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
}

#[test]
fn sctp_port_rewrite_recomputes_crc32c() {
    let f = eth(
        0x0800,
        &ipv4(
            &V4 {
                proto: 132,
                ..V4::default()
            },
            &sctp(1, 2),
        ),
    );
    let (s, _) = run(&f, &[set(Field::TpDst, 77), DpAction::Output(1)]);
    let out = &s.out[0].1;
    let l4 = &out[34..];
    let mut z = l4.to_vec();
    z[8..12].fill(0);
    assert_eq!(&l4[8..12], &datapath::csum::crc32c(&z).to_le_bytes());
    assert_eq!(key(out).tp_dst(), 77);
}

#[test]
fn masked_set_and_arp() {
    let f = udp4_frame(1, 2, b"");
    let acts = [
        DpAction::SetMasked(SetField {
            field: Field::EthDst,
            value: 0xffff_0000_0000,
            mask: 0xff00_0000_0000,
        }),
        DpAction::SetMasked(SetField {
            field: Field::Ipv4Dst,
            value: 0x0000_00ff,
            mask: 0x0000_000f,
        }),
        DpAction::Output(1),
    ];
    let (s, _) = run(&f, &acts);
    let k = key(&s.out[0].1);
    assert_eq!(k.eth_dst(), [0xff, 0, 0, 0, 0, 2]);
    assert_eq!(k.ipv4_dst(), 0x0a00_000f);
    assert_checksums_ok(&s.out[0].1);

    let a = eth(0x0806, &arp(1, SRC_MAC, IP4_SRC, [0; 6], IP4_DST));
    let acts = [
        set(Field::NwProto, 2),
        set(Field::ArpTha, 0x0200_0000_0009),
        set(Field::Ipv4Src, 0x0a00_0009),
        DpAction::Output(1),
    ];
    let (s, _) = run(&a, &acts);
    let k = key(&s.out[0].1);
    assert_eq!(
        (k.arp_op(), k.ipv4_src(), k.arp_tha()),
        (2, 0x0a00_0009, [2, 0, 0, 0, 0, 9])
    );
}

#[test]
fn vlan_push_pop_round_trip() {
    let f = tcp4_frame(5, 6, 0x10);
    let (s, p) = run(
        &f,
        &[
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x0064 | VLAN_PRESENT,
            },
            DpAction::Output(1),
            DpAction::PushVlan {
                tpid: 0x88a8,
                tci: 0x0005 | VLAN_PRESENT,
            },
            DpAction::Output(2),
            set(Field::VlanTci, 0x0007 | u128::from(VLAN_PRESENT)),
            set(Field::TpDst, 99),
            DpAction::Output(3),
            DpAction::PopVlan,
            DpAction::PopVlan,
            DpAction::Output(4),
        ],
    );
    assert_eq!(
        &s.out[0].1[12..16],
        &[0x81, 0x00, 0x00, 0x64],
        "present bit not on the wire"
    );
    let k = key(&s.out[0].1);
    assert_eq!(
        (k.vlan_tci(), k.eth_type(), k.tp_dst()),
        (0x0064 | VLAN_PRESENT, 0x0800, 6)
    );
    let k = key(&s.out[1].1);
    assert_eq!(
        (k.vlan_tpid(), k.vlan_tci()),
        (0x88a8, 0x0005 | VLAN_PRESENT)
    );
    assert_eq!(k.vlan_inner_tci(), 0x0064 | VLAN_PRESENT);
    let k = key(&s.out[2].1);
    assert_eq!((k.vlan_tci(), k.tp_dst()), (0x0007 | VLAN_PRESENT, 99));
    assert_checksums_ok(&s.out[2].1);
    let mut expect = f.clone();
    expect[36..38].copy_from_slice(&99u16.to_be_bytes());
    fix_checksums(&mut expect);
    assert_eq!(s.out[3].1, expect);
    assert_eq!(p.l3_ofs(), Some(14));
}

#[test]
fn mpls_push_pop_and_ttl() {
    let f = udp4_frame(5, 6, b"m");
    let lse = (1000u32 << 12) | 64;
    let (s, _) = run(
        &f,
        &[
            DpAction::PushMpls {
                ethertype: 0x8847,
                lse,
            },
            DpAction::Output(1),
            DpAction::PushMpls {
                ethertype: 0x8847,
                lse: (7 << 12) | 10,
            },
            DpAction::DecMplsTtl,
            DpAction::Output(2),
            DpAction::PopMpls { ethertype: 0x8847 },
            DpAction::SetMplsTtl(3),
            DpAction::PopMpls { ethertype: 0x0800 },
            set(Field::TpDst, 1234),
            DpAction::Output(3),
        ],
    );
    let k = key(&s.out[0].1);
    assert_eq!(
        (k.eth_type(), k.mpls_lse(0)),
        (0x8847, lse | 0x100),
        "bottom of stack set"
    );
    let k = key(&s.out[1].1);
    assert_eq!(k.mpls_lse(0), (7 << 12) | 9, "not bottom, TTL decremented");
    assert_eq!(k.mpls_lse(1), lse | 0x100);
    let out = &s.out[2].1;
    assert_eq!(out.len(), f.len());
    let k = key(out);
    assert_eq!((k.eth_type(), k.tp_dst()), (0x0800, 1234));
    assert_checksums_ok(out);
}

#[test]
fn ttl_decrement_and_expiry() {
    let f = udp4_frame(1, 2, b"");
    let (s, _) = run(&f, &[DpAction::DecIpTtl, DpAction::Output(1)]);
    assert_eq!(key(&s.out[0].1).nw_ttl(), 63);
    assert_checksums_ok(&s.out[0].1);
    let (s, _) = run(
        &f,
        &[
            DpAction::SetIpTtl(1),
            DpAction::DecIpTtl,
            DpAction::Output(1),
        ],
    );
    assert!(s.out.is_empty());
    assert_eq!(s.ttl, 1);
    let (s, _) = run(
        &tcp6_frame(1, 2),
        &[DpAction::DecIpTtl, DpAction::Output(1)],
    );
    assert_eq!(key(&s.out[0].1).nw_ttl(), 62);
}

#[test]
fn truncate_clone_meter_userspace_drop() {
    let f = udp4_frame(1, 2, &[0u8; 100]);
    let (s, p) = run(
        &f,
        &[
            DpAction::Truncate(60),
            DpAction::Output(1),
            DpAction::Output(2),
            DpAction::Clone(vec![set(Field::TpDst, 7), DpAction::Output(3)]),
            DpAction::Userspace {
                cookie: 42,
                max_len: 128,
            },
            DpAction::Meter(1),
            DpAction::Output(4),
        ],
    );
    let lens: Vec<(u32, usize)> = s.out.iter().map(|(p, d, _)| (*p, d.len())).collect();
    assert_eq!(
        lens,
        vec![(1, 60), (2, f.len()), (3, f.len()), (4, f.len())]
    );
    assert_eq!(key(&s.out[2].1).tp_dst(), 7);
    assert_eq!(key(&s.out[3].1).tp_dst(), 2, "clone does not leak");
    assert_eq!(s.up, vec![(42, 128, f.len())]);
    assert_eq!(p.len(), f.len());

    let mut pk = Packet::from_slice(&f);
    let mut k = FlowKey::default();
    extract(&mut pk, &mut k);
    let mut sink = Sink {
        meter_ok: false,
        ..Sink::default()
    };
    execute(
        &[DpAction::Meter(3), DpAction::Output(1)],
        &mut pk,
        &k,
        &mut sink,
    );
    assert!(sink.out.is_empty());
    assert_eq!(sink.metered, 1);
    let (s, _) = run(&f, &[DpAction::Drop, DpAction::Output(1)]);
    assert!(s.out.is_empty());
}

#[test]
fn checksum_partial_packets() {
    // A TCP frame whose checksum field holds only the pseudo-header sum.
    let mut f = tcp4_frame(1, 2, 0x10);
    let pseudo = |f: &[u8]| {
        let mut ph = f[26..34].to_vec();
        ph.extend_from_slice(&[0, 6]);
        ph.extend_from_slice(&((f.len() - 34) as u16).to_be_bytes());
        datapath::csum::fold(datapath::csum::sum(0, &ph))
    };
    let s0 = pseudo(&f);
    f[50..52].copy_from_slice(&s0.to_be_bytes());
    let mut p = Packet::from_slice(&f);
    p.offload = Offload {
        flags: Offload::F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 16,
        ..Offload::default()
    };
    let mut k = FlowKey::default();
    extract(&mut p, &mut k);
    let mut sink = Sink::default();
    execute(
        &[
            set(Field::Ipv4Src, 0xac10_0001),
            set(Field::TpDst, 9999),
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 5,
            },
            DpAction::Output(1),
        ],
        &mut p,
        &k,
        &mut sink,
    );
    let (_, out, off) = &sink.out[0];
    assert_eq!(off.csum_start, 38, "offload offsets follow the pushed tag");
    assert_eq!(off.flags, Offload::F_NEEDS_CSUM);
    let untagged: Vec<u8> = out[..12].iter().chain(&out[16..]).copied().collect();
    assert_eq!(
        &untagged[50..52],
        &pseudo(&untagged).to_be_bytes(),
        "field is the new pseudo sum"
    );
    let (ip_ok, _, _) = l4_checksums(&untagged);
    assert!(ip_ok);
}

#[test]
fn batch_executes_selected_packets_action_by_action() {
    let mut batch: Vec<Packet> = (0..5u16)
        .map(|i| Packet::from_slice(&udp4_frame(i, 100, b"")))
        .collect();
    let mut keys = vec![FlowKey::default(); 5];
    for (p, k) in batch.iter_mut().zip(keys.iter_mut()) {
        extract(p, k);
    }
    let mut s = Sink {
        meter_ok: true,
        ..Sink::default()
    };
    let acts = [
        set(Field::TpDst, 200),
        DpAction::Output(1),
        DpAction::Output(2),
    ];
    execute_batch(&acts, &mut batch, &keys, 0b10110, &mut s);
    let seen: Vec<(u32, u16)> = s
        .out
        .iter()
        .map(|(p, d, _)| (*p, key(d).tp_src()))
        .collect();
    assert_eq!(seen, vec![(1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4)]);
    assert!(s.out.iter().all(|(_, d, _)| key(d).tp_dst() == 200));
    assert_eq!(
        key(batch[0].data()).tp_dst(),
        100,
        "unselected packet untouched"
    );
}

/// Every rewrite on every truncation of the crafted frames: no panic.
#[test]
fn actions_on_truncated_frames_never_panic() {
    let frames = [
        tcp4_frame(1, 2, 0x10),
        udp6_frame(3, 4),
        with_vlans(&udp4_frame(1, 2, b""), &[(0x8100, 1)]),
        eth(
            0x86dd,
            &ipv6(58, 0, 0, &nd(136, "::1".parse().unwrap(), Some(DST_MAC))),
        ),
        eth(0x0806, &arp(1, SRC_MAC, IP4_SRC, [0; 6], IP4_DST)),
    ];
    let mut acts: Vec<DpAction> = Field::ALL.iter().map(|f| set(*f, u128::MAX)).collect();
    acts.extend([
        DpAction::PushMpls {
            ethertype: 0x8847,
            lse: 0,
        },
        DpAction::SetMplsTtl(1),
        DpAction::PopMpls { ethertype: 0x0800 },
        DpAction::PushVlan {
            tpid: 0x8100,
            tci: 0,
        },
        DpAction::PopVlan,
        DpAction::PopVlan,
        DpAction::DecIpTtl,
        DpAction::Output(1),
    ]);
    for f in &frames {
        for n in 0..=f.len() {
            let _ = run(&f[..n], &acts);
        }
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const REWRITABLE: [Field; 10] = [
        Field::Ipv4Src,
        Field::Ipv4Dst,
        Field::Ipv6Src,
        Field::Ipv6Dst,
        Field::NwTos,
        Field::NwTtl,
        Field::TpSrc,
        Field::TpDst,
        Field::EthSrc,
        Field::TcpFlags,
    ];

    fn frames() -> Vec<Vec<u8>> {
        vec![
            tcp4_frame(1, 2, 0x18),
            udp4_frame(3, 4, b"abcde"),
            tcp6_frame(5, 6),
            udp6_frame(7, 8),
            with_vlans(&tcp4_frame(9, 10, 0x02), &[(0x8100, 3)]),
        ]
    }

    proptest! {
        /// Any sequence of masked rewrites keeps every checksum valid, and
        /// the rewritten fields read back as written.
        #[test]
        fn random_rewrites_keep_checksums_valid(
            which in 0usize..5,
            sets in prop::collection::vec((0usize..10, any::<u128>(), any::<u128>()), 1..8),
        ) {
            let f = frames().swap_remove(which);
            let mut acts: Vec<DpAction> = sets
                .iter()
                .map(|(i, v, m)| {
                    let field = REWRITABLE[*i];
                    DpAction::SetMasked(SetField { field, value: *v, mask: *m & field.full_mask() })
                })
                .collect();
            acts.push(DpAction::Output(1));
            let (s, _) = run(&f, &acts);
            let out = &s.out[0].1;
            let (ip_ok, stored, good) = l4_checksums(out);
            prop_assert!(ip_ok);
            let norm = |c: u16| if c == 0xffff { 0 } else { c };
            prop_assert_eq!(norm(stored), norm(good));
            // The last write to each field wins (for fields the frame has).
            let mut expect = key(&f);
            for (i, v, m) in &sets {
                let field = REWRITABLE[*i];
                let present = match field {
                    Field::Ipv4Src | Field::Ipv4Dst => expect.eth_type() == 0x0800,
                    Field::Ipv6Src | Field::Ipv6Dst => expect.eth_type() == 0x86dd,
                    Field::TcpFlags => expect.nw_proto() == 6,
                    _ => true,
                };
                if present {
                    let m = *m & field.full_mask();
                    let m = if field == Field::TcpFlags { m & 0x0fff } else { m };
                    expect.set_masked(field, *v, m);
                }
            }
            prop_assert_eq!(key(out), expect);
        }

        /// Random action lists on random truncations never panic.
        #[test]
        fn random_actions_never_panic(
            which in 0usize..5,
            cut in any::<prop::sample::Index>(),
            ops in prop::collection::vec((0u8..8, any::<u16>(), any::<u32>()), 0..10),
        ) {
            let f = frames().swap_remove(which);
            let n = cut.index(f.len() + 1);
            let acts: Vec<DpAction> = ops
                .iter()
                .map(|(op, a, b)| match op {
                    0 => DpAction::PushVlan { tpid: 0x8100, tci: *a },
                    1 => DpAction::PopVlan,
                    2 => DpAction::PushMpls { ethertype: 0x8847, lse: *b },
                    3 => DpAction::PopMpls { ethertype: *a },
                    4 => DpAction::DecIpTtl,
                    5 => DpAction::Truncate(*b % 100),
                    6 => set(Field::ALL[usize::from(*a) % Field::ALL.len()], u128::from(*b)),
                    _ => DpAction::Output(*b),
                })
                .collect();
            let _ = run(&f[..n], &acts);
        }
    }
}
