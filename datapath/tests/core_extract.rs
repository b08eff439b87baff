//! Flow-key extraction from crafted packets of every supported protocol,
//! malformed and truncated ones included.

mod core_util;

use core_util::*;
use datapath::flow::{FRAG_ANY, FRAG_LATER, FlowKey, VLAN_PRESENT, extract};
use datapath::packet::Packet;
use proptest::prelude::*;

fn key_of(frame: &[u8]) -> (FlowKey, Packet) {
    let mut p = Packet::from_slice(frame);
    p.in_port = 7;
    let mut k = FlowKey::default();
    extract(&mut p, &mut k);
    (k, p)
}

fn v4(a: std::net::Ipv4Addr) -> u32 {
    u32::from(a)
}

#[test]
fn udp_over_ipv4() {
    let f = udp4_frame(1234, 53, b"payload");
    let (k, p) = key_of(&f);
    assert_eq!(k.in_port(), 7);
    assert_eq!(k.eth_src(), SRC_MAC);
    assert_eq!(k.eth_dst(), DST_MAC);
    assert_eq!(k.eth_type(), 0x0800);
    assert_eq!(k.vlan_tci(), 0);
    assert_eq!(k.ipv4_src(), v4(IP4_SRC));
    assert_eq!(k.ipv4_dst(), v4(IP4_DST));
    assert_eq!(k.nw_proto(), 17);
    assert_eq!(k.nw_ttl(), 64);
    assert_eq!(k.nw_frag(), 0);
    assert_eq!((k.tp_src(), k.tp_dst()), (1234, 53));
    assert_eq!(
        (p.l2_ofs(), p.l3_ofs(), p.l4_ofs()),
        (Some(0), Some(14), Some(34))
    );
}

#[test]
fn tcp_flags_and_tos() {
    let l4 = tcp(80, 4000, 0x12, b"");
    let f = eth(
        0x0800,
        &ipv4(
            &V4 {
                proto: 6,
                tos: 0xb9,
                ..V4::default()
            },
            &l4,
        ),
    );
    let (k, _) = key_of(&f);
    assert_eq!(k.nw_proto(), 6);
    assert_eq!(k.nw_tos(), 0xb9);
    assert_eq!(k.tcp_flags(), 0x12);
    assert_eq!((k.tp_src(), k.tp_dst()), (80, 4000));
}

#[test]
fn ipv4_options_are_skipped() {
    let opts = vec![0x94, 0x04, 0, 0, 1, 1, 1, 0]; // router alert + NOPs + EOL
    let f = eth(
        0x0800,
        &ipv4(
            &V4 {
                options: opts,
                ..V4::default()
            },
            &udp(9, 10, b"x"),
        ),
    );
    let (k, p) = key_of(&f);
    assert_eq!((k.tp_src(), k.tp_dst()), (9, 10));
    assert_eq!(p.l4_ofs(), Some(14 + 28));
}

#[test]
fn ipv4_fragments() {
    let first = eth(
        0x0800,
        &ipv4(
            &V4 {
                more_frags: true,
                ..V4::default()
            },
            &udp(1, 2, b"ab"),
        ),
    );
    let (k, _) = key_of(&first);
    assert_eq!(k.nw_frag(), FRAG_ANY);
    assert_eq!((k.tp_src(), k.tp_dst()), (1, 2));
    let later = eth(
        0x0800,
        &ipv4(
            &V4 {
                frag_offset: 10,
                ..V4::default()
            },
            &udp(1, 2, b"ab"),
        ),
    );
    let (k, p) = key_of(&later);
    assert_eq!(k.nw_frag(), FRAG_ANY | FRAG_LATER);
    assert_eq!(k.nw_proto(), 17);
    assert_eq!((k.tp_src(), k.tp_dst()), (0, 0));
    assert_eq!(p.l4_ofs(), None);
}

#[test]
fn single_and_double_vlan() {
    let f = with_vlans(&udp4_frame(5, 6, b""), &[(0x8100, 0x2064)]);
    let (k, p) = key_of(&f);
    assert_eq!(k.vlan_tci(), 0x2064 | VLAN_PRESENT);
    assert_eq!(k.vlan_tpid(), 0x8100);
    assert_eq!(k.vlan_inner_tci(), 0);
    assert_eq!(k.eth_type(), 0x0800);
    assert_eq!((k.tp_src(), k.tp_dst()), (5, 6));
    assert_eq!(p.l3_ofs(), Some(18));

    let f = with_vlans(
        &udp4_frame(5, 6, b""),
        &[(0x88a8, 0x0010), (0x8100, 0xe020)],
    );
    let (k, p) = key_of(&f);
    assert_eq!(
        (k.vlan_tpid(), k.vlan_tci()),
        (0x88a8, 0x0010 | VLAN_PRESENT)
    );
    assert_eq!(
        (k.vlan_inner_tpid(), k.vlan_inner_tci()),
        (0x8100, 0xe020 | VLAN_PRESENT)
    );
    assert_eq!(k.eth_type(), 0x0800);
    assert_eq!(p.l3_ofs(), Some(22));
    assert_eq!(k.tp_dst(), 6);
}

fn lse(label: u32, tc: u32, bos: bool, ttl: u32) -> u32 {
    (label << 12) | (tc << 9) | (u32::from(bos) << 8) | ttl
}

#[test]
fn mpls_label_stack() {
    let ip = ipv4(&V4::default(), &udp(1, 2, b""));
    let mut body = Vec::new();
    body.extend_from_slice(&lse(100, 1, false, 64).to_be_bytes());
    body.extend_from_slice(&lse(200, 0, true, 63).to_be_bytes());
    body.extend_from_slice(&ip);
    let (k, p) = key_of(&eth(0x8847, &body));
    assert_eq!(k.eth_type(), 0x8847);
    assert_eq!(k.mpls_lse(0), lse(100, 1, false, 64));
    assert_eq!(k.mpls_lse(1), lse(200, 0, true, 63));
    assert_eq!(k.mpls_lse(2), 0);
    assert_eq!(k.ipv4_src(), 0, "no L3 parsing below MPLS");
    assert_eq!(p.l3_ofs(), Some(14));

    let mut deep = Vec::new();
    for i in 0..5 {
        deep.extend_from_slice(&lse(i + 1, 0, i == 4, 9).to_be_bytes());
    }
    let (k, _) = key_of(&eth(0x8848, &deep));
    assert_eq!(k.mpls_lse(2), lse(3, 0, false, 9));
}

#[test]
fn arp_and_rarp() {
    let a = arp(1, SRC_MAC, IP4_SRC, [0; 6], IP4_DST);
    let (k, p) = key_of(&eth(0x0806, &a));
    assert_eq!(k.eth_type(), 0x0806);
    assert_eq!(k.arp_op(), 1);
    assert_eq!(k.ipv4_src(), v4(IP4_SRC));
    assert_eq!(k.ipv4_dst(), v4(IP4_DST));
    assert_eq!(k.arp_sha(), SRC_MAC);
    assert_eq!(k.arp_tha(), [0; 6]);
    assert_eq!(p.l3_ofs(), Some(14));
    let r = arp(3, SRC_MAC, IP4_SRC, DST_MAC, IP4_DST);
    let (k, _) = key_of(&eth(0x8035, &r));
    assert_eq!((k.eth_type(), k.arp_op()), (0x8035, 3));
    assert_eq!(k.arp_tha(), DST_MAC);
    // An opcode that does not fit in 8 bits is not recorded.
    let big = arp(0x0101, SRC_MAC, IP4_SRC, DST_MAC, IP4_DST);
    assert_eq!(key_of(&eth(0x0806, &big)).0.arp_op(), 0);
}

#[test]
fn ieee_802_3_and_snap() {
    let llc = [0x42u8, 0x42, 0x03, 0, 0, 0, 0, 0, 0, 0];
    let (k, p) = key_of(&eth(llc.len() as u16, &llc));
    assert_eq!(k.eth_type(), 0x05ff);
    assert_eq!(p.l3_ofs(), None);
    let mut snap = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
    snap.extend_from_slice(&ipv4(&V4::default(), &udp(7, 8, b"")));
    let (k, p) = key_of(&eth(snap.len() as u16, &snap));
    assert_eq!(k.eth_type(), 0x0800);
    assert_eq!(k.tp_dst(), 8);
    assert_eq!(p.l3_ofs(), Some(22));
}

#[test]
fn ipv6_tcp() {
    let (k, p) = key_of(&tcp6_frame(443, 5555));
    assert_eq!(k.eth_type(), 0x86dd);
    assert_eq!(k.ipv6_src(), IP6_SRC.octets());
    assert_eq!(k.ipv6_dst(), IP6_DST.octets());
    assert_eq!(k.ipv6_label(), 0x12345);
    assert_eq!(k.nw_proto(), 6);
    assert_eq!(k.nw_ttl(), 63);
    assert_eq!((k.tp_src(), k.tp_dst(), k.tcp_flags()), (443, 5555, 0x12));
    assert_eq!(p.l4_ofs(), Some(54));
}

fn ext(next: u8, len8: u8) -> Vec<u8> {
    let mut v = vec![next, len8];
    v.resize((usize::from(len8) + 1) * 8, 0);
    v
}

#[test]
fn ipv6_extension_headers() {
    // hop-by-hop -> routing -> AH -> destination options -> UDP
    let mut pl = ext(43, 0);
    pl.extend(ext(51, 1));
    let mut ah = vec![60u8, 4]; // AH length: (4 + 2) * 4 = 24 bytes
    ah.resize(24, 0);
    pl.extend(ah);
    pl.extend(ext(17, 0));
    pl.extend(udp(11, 22, b"z"));
    let (k, p) = key_of(&eth(0x86dd, &ipv6(0, 0, 0, &pl)));
    assert_eq!(k.nw_proto(), 17);
    assert_eq!((k.tp_src(), k.tp_dst()), (11, 22));
    assert_eq!(p.l4_ofs(), Some(14 + 40 + 8 + 16 + 24 + 8));
}

fn frag6(next: u8, offset: u16, more: bool) -> Vec<u8> {
    let fo = (offset << 3) | u16::from(more);
    let mut v = vec![next, 0];
    v.extend_from_slice(&fo.to_be_bytes());
    v.extend_from_slice(&0xabcdu32.to_be_bytes());
    v
}

#[test]
fn ipv6_fragments() {
    let mut first = frag6(17, 0, true);
    first.extend(udp(3, 4, b""));
    let (k, _) = key_of(&eth(0x86dd, &ipv6(44, 0, 0, &first)));
    assert_eq!((k.nw_frag(), k.nw_proto()), (FRAG_ANY, 17));
    assert_eq!(k.tp_dst(), 4);
    let mut later = frag6(17, 100, false);
    later.extend(udp(3, 4, b""));
    let (k, p) = key_of(&eth(0x86dd, &ipv6(44, 0, 0, &later)));
    assert_eq!((k.nw_frag(), k.nw_proto()), (FRAG_ANY | FRAG_LATER, 17));
    assert_eq!((k.tp_src(), k.tp_dst()), (0, 0));
    assert_eq!(p.l4_ofs(), None);
}

#[test]
fn icmpv4_and_sctp() {
    let f = eth(
        0x0800,
        &ipv4(
            &V4 {
                proto: 1,
                ..V4::default()
            },
            &icmp(8, 0),
        ),
    );
    let (k, _) = key_of(&f);
    assert_eq!((k.nw_proto(), k.icmp_type(), k.icmp_code()), (1, 8, 0));
    let f = eth(
        0x0800,
        &ipv4(
            &V4 {
                proto: 132,
                ..V4::default()
            },
            &sctp(2905, 2906),
        ),
    );
    let (k, _) = key_of(&f);
    assert_eq!((k.nw_proto(), k.tp_src(), k.tp_dst()), (132, 2905, 2906));
}

#[test]
fn icmpv6_neighbour_discovery() {
    let target: std::net::Ipv6Addr = "2001:db8::99".parse().unwrap();
    let ns = nd(135, target, Some(SRC_MAC));
    let (k, _) = key_of(&eth(0x86dd, &ipv6(58, 0, 0, &ns)));
    assert_eq!((k.nw_proto(), k.icmp_type(), k.icmp_code()), (58, 135, 0));
    assert_eq!(k.nd_target(), target.octets());
    assert_eq!(k.arp_sha(), SRC_MAC);
    assert_eq!(k.arp_tha(), [0; 6]);

    let na = nd(136, target, Some(DST_MAC));
    let (k, _) = key_of(&eth(0x86dd, &ipv6(58, 0, 0, &na)));
    assert_eq!(k.nd_target(), target.octets());
    assert_eq!((k.arp_sha(), k.arp_tha()), ([0; 6], DST_MAC));

    // A zero-length option makes the ND fields invalid: all cleared.
    let mut bad = nd(135, target, Some(SRC_MAC));
    bad.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    let (k, _) = key_of(&eth(0x86dd, &ipv6(58, 0, 0, &bad)));
    assert_eq!(k.icmp_type(), 135);
    assert_eq!(k.nd_target(), [0; 16]);
    assert_eq!(k.arp_sha(), [0; 6]);

    // Other ICMPv6: only type and code.
    let echo = [128u8, 0, 0, 0, 0, 1, 0, 1];
    let (k, _) = key_of(&eth(0x86dd, &ipv6(58, 0, 0, &echo)));
    assert_eq!((k.icmp_type(), k.nd_target()), (128, [0; 16]));
}

#[test]
fn truncated_tcp_leaves_ports_zero() {
    let f = tcp4_frame(80, 81, 0x02);
    let (k, _) = key_of(&f[..14 + 20 + 10]);
    assert_eq!(k.nw_proto(), 6);
    assert_eq!(k.ipv4_src(), v4(IP4_SRC));
    assert_eq!((k.tp_src(), k.tp_dst(), k.tcp_flags()), (0, 0, 0));
}

#[test]
fn malformed_ip_headers() {
    let mut f = udp4_frame(1, 2, b"");
    f[14] = 0x43; // IHL 3 < 5
    let (k, _) = key_of(&f);
    assert_eq!((k.eth_type(), k.ipv4_src(), k.nw_proto()), (0x0800, 0, 0));
    let mut f = udp4_frame(1, 2, b"");
    f[14] = 0x4f; // IHL 15: header longer than the frame
    assert_eq!(key_of(&f).0.ipv4_src(), 0);
    let mut f = tcp6_frame(1, 2);
    f[14] = 0x45; // version 4 in an IPv6 ethertype
    assert_eq!(key_of(&f).0.nw_proto(), 0);
}

fn all_frames() -> Vec<Vec<u8>> {
    let target: std::net::Ipv6Addr = "2001:db8::99".parse().unwrap();
    let mut ext6 = ext(43, 0);
    ext6.extend(ext(44, 0));
    ext6.extend(frag6(6, 0, true));
    ext6.extend(tcp(1, 2, 0x10, b"abc"));
    let mut mpls = lse(5, 0, true, 3).to_be_bytes().to_vec();
    mpls.extend(ipv4(&V4::default(), &udp(1, 2, b"")));
    vec![
        udp4_frame(1, 2, b"x"),
        tcp4_frame(3, 4, 0x18),
        tcp6_frame(5, 6),
        udp6_frame(7, 8),
        with_vlans(&tcp4_frame(3, 4, 0x18), &[(0x88a8, 1), (0x8100, 2)]),
        eth(0x8847, &mpls),
        eth(0x0806, &arp(2, SRC_MAC, IP4_SRC, DST_MAC, IP4_DST)),
        eth(
            0x0800,
            &ipv4(
                &V4 {
                    proto: 1,
                    options: vec![1, 1, 1, 0],
                    ..V4::default()
                },
                &icmp(0, 0),
            ),
        ),
        eth(
            0x0800,
            &ipv4(
                &V4 {
                    proto: 132,
                    ..V4::default()
                },
                &sctp(9, 9),
            ),
        ),
        eth(0x86dd, &ipv6(58, 0, 0, &nd(135, target, Some(SRC_MAC)))),
        eth(0x86dd, &ipv6(58, 0, 0, &nd(136, target, Some(DST_MAC)))),
        eth(0x86dd, &ipv6(0, 0, 0, &ext6)),
        eth(30, &[0xaa, 0xaa, 3, 0, 0, 0, 0x86, 0xdd, 1, 2]),
    ]
}

/// Every prefix of every crafted frame parses without panic, keeps its
/// metadata, and never reports fields the prefix does not contain.
#[test]
fn every_truncation_parses() {
    for f in all_frames() {
        let (full, _) = key_of(&f);
        for n in 0..=f.len() {
            let (k, p) = key_of(&f[..n]);
            assert_eq!(k.in_port(), 7);
            if n < 14 {
                assert_eq!(k.eth_type(), 0);
            }
            for o in [p.l3_ofs(), p.l4_ofs()].into_iter().flatten() {
                assert!(o <= n, "offset {o} past prefix {n}");
            }
            // A prefix never invents values: each word is either what the full
            // frame gives or zero-prefix-consistent (field absent -> 0).
            if k.tp_dst() != 0 {
                assert_eq!(k.tp_dst(), full.tp_dst());
            }
        }
        assert_eq!(key_of(&f).0, full, "extraction is deterministic");
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                ty in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8100),
                                                   Just(0x88a8), Just(0x8847), Just(0x0806), any::<u16>()]) {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ty.to_be_bytes());
        f.extend_from_slice(&bytes);
        let (_, p) = key_of(&f);
        for o in [p.l3_ofs(), p.l4_ofs()].into_iter().flatten() {
            prop_assert!(o <= f.len());
        }
    }

    #[test]
    fn mutated_frames_never_panic(which in 0usize..13, pos in any::<prop::sample::Index>(), val in any::<u8>()) {
        let mut f = all_frames().swap_remove(which);
        let i = pos.index(f.len());
        f[i] = val;
        let _ = key_of(&f);
    }
}
