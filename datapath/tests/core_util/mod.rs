//! Packet builders for the datapath core tests, built with `pnet_packet`
//! so the parser is checked against an independent encoder.
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, Ipv6Addr};

use pnet_packet::arp::{ArpHardwareTypes, ArpOperation, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, MutableEthernetPacket};
use pnet_packet::icmp::{IcmpCode, IcmpType, MutableIcmpPacket};
use pnet_packet::ip::IpNextHeaderProtocol;
use pnet_packet::ipv4::MutableIpv4Packet;
use pnet_packet::ipv6::MutableIpv6Packet;
use pnet_packet::tcp::MutableTcpPacket;
use pnet_packet::udp::MutableUdpPacket;

pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
pub const IP4_SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const IP4_DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const IP6_SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
pub const IP6_DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + payload.len()];
    let mut e = MutableEthernetPacket::new(&mut buf).unwrap();
    e.set_ethertype(EtherType(ethertype));
    e.set_payload(payload);
    buf[..6].copy_from_slice(&DST_MAC);
    buf[6..12].copy_from_slice(&SRC_MAC);
    buf
}

/// Inserts VLAN tags (outer first) after the MAC addresses.
pub fn with_vlans(frame: &[u8], tags: &[(u16, u16)]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    for (tpid, tci) in tags {
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&tci.to_be_bytes());
    }
    out.extend_from_slice(&frame[12..]);
    out
}

pub struct V4 {
    pub proto: u8,
    pub ttl: u8,
    pub tos: u8,
    pub options: Vec<u8>,
    pub more_frags: bool,
    pub frag_offset: u16,
}

impl Default for V4 {
    fn default() -> Self {
        V4 {
            proto: 17,
            ttl: 64,
            tos: 0,
            options: vec![],
            more_frags: false,
            frag_offset: 0,
        }
    }
}

pub fn ipv4(p: &V4, l4: &[u8]) -> Vec<u8> {
    let hl = 20 + p.options.len();
    let mut buf = vec![0u8; hl + l4.len()];
    let mut ip = MutableIpv4Packet::new(&mut buf).unwrap();
    ip.set_version(4);
    ip.set_header_length((hl / 4) as u8);
    ip.set_dscp(p.tos >> 2);
    ip.set_ecn(p.tos & 3);
    ip.set_total_length((hl + l4.len()) as u16);
    ip.set_identification(0x1234);
    ip.set_flags(if p.more_frags { 1 } else { 0 });
    ip.set_fragment_offset(p.frag_offset);
    ip.set_ttl(p.ttl);
    ip.set_next_level_protocol(IpNextHeaderProtocol(p.proto));
    ip.set_source(IP4_SRC);
    ip.set_destination(IP4_DST);
    drop(ip);
    buf[20..hl].copy_from_slice(&p.options);
    buf[hl..].copy_from_slice(l4);
    let c = pnet_packet::util::checksum(&buf[..hl], 5);
    buf[10..12].copy_from_slice(&c.to_be_bytes());
    buf
}

pub fn ipv6(next: u8, tc: u8, label: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 40 + payload.len()];
    let mut ip = MutableIpv6Packet::new(&mut buf).unwrap();
    ip.set_version(6);
    ip.set_traffic_class(tc);
    ip.set_flow_label(label);
    ip.set_payload_length(payload.len() as u16);
    ip.set_next_header(IpNextHeaderProtocol(next));
    ip.set_hop_limit(63);
    ip.set_source(IP6_SRC);
    ip.set_destination(IP6_DST);
    ip.set_payload(payload);
    buf
}

pub fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 20 + payload.len()];
    let mut t = MutableTcpPacket::new(&mut buf).unwrap();
    t.set_source(sport);
    t.set_destination(dport);
    t.set_sequence(1000);
    t.set_data_offset(5);
    t.set_flags(flags);
    t.set_window(8192);
    t.set_payload(payload);
    buf
}

pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 8 + payload.len()];
    let mut u = MutableUdpPacket::new(&mut buf).unwrap();
    u.set_source(sport);
    u.set_destination(dport);
    u.set_length((8 + payload.len()) as u16);
    u.set_payload(payload);
    buf
}

pub fn sctp(sport: u16, dport: u16) -> Vec<u8> {
    let mut b = vec![0u8; 12 + 16];
    b[0..2].copy_from_slice(&sport.to_be_bytes());
    b[2..4].copy_from_slice(&dport.to_be_bytes());
    b[4..8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    b
}

pub fn icmp(ty: u8, code: u8) -> Vec<u8> {
    let mut buf = vec![0u8; 8 + 8];
    let mut i = MutableIcmpPacket::new(&mut buf).unwrap();
    i.set_icmp_type(IcmpType(ty));
    i.set_icmp_code(IcmpCode(code));
    let c = pnet_packet::icmp::checksum(&i.to_immutable());
    i.set_checksum(c);
    buf
}

/// ICMPv6 NS (135, with SLL option) or NA (136, with TLL option).
pub fn nd(ty: u8, target: Ipv6Addr, ll: Option<[u8; 6]>) -> Vec<u8> {
    let mut b = vec![ty, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    if let Some(m) = ll {
        b.push(if ty == 135 { 1 } else { 2 });
        b.push(1);
        b.extend_from_slice(&m);
    }
    b
}

pub fn arp(op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut buf = vec![0u8; 28];
    let mut a = MutableArpPacket::new(&mut buf).unwrap();
    a.set_hardware_type(ArpHardwareTypes::Ethernet);
    a.set_protocol_type(EtherType(0x0800));
    a.set_hw_addr_len(6);
    a.set_proto_addr_len(4);
    a.set_operation(ArpOperation(op));
    a.set_sender_proto_addr(spa);
    a.set_target_proto_addr(tpa);
    buf[8..14].copy_from_slice(&sha);
    buf[18..24].copy_from_slice(&tha);
    buf
}

pub fn udp4_frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = eth(0x0800, &ipv4(&V4::default(), &udp(sport, dport, payload)));
    fix_checksums(&mut f);
    f
}

pub fn tcp4_frame(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut f = eth(
        0x0800,
        &ipv4(
            &V4 {
                proto: 6,
                ..V4::default()
            },
            &tcp(sport, dport, flags, b"hello"),
        ),
    );
    fix_checksums(&mut f);
    f
}

pub fn tcp6_frame(sport: u16, dport: u16) -> Vec<u8> {
    let mut f = eth(
        0x86dd,
        &ipv6(6, 0, 0x12345, &tcp(sport, dport, 0x12, b"hi6")),
    );
    fix_checksums(&mut f);
    f
}

pub fn udp6_frame(sport: u16, dport: u16) -> Vec<u8> {
    let mut f = eth(0x86dd, &ipv6(17, 0, 0, &udp(sport, dport, b"data6")));
    fix_checksums(&mut f);
    f
}

fn l3_start(f: &[u8]) -> (usize, u16) {
    let mut pos = 12;
    let mut ty = u16::from_be_bytes([f[12], f[13]]);
    while ty == 0x8100 || ty == 0x88a8 {
        pos += 4;
        ty = u16::from_be_bytes([f[pos], f[pos + 1]]);
    }
    (pos + 2, ty)
}

/// Computes the L4 checksum from scratch (pnet) for the frame's addresses:
/// returns (ip header ok, stored L4 checksum, correct L4 checksum).
pub fn l4_checksums(f: &[u8]) -> (bool, u16, u16) {
    let (l3, ty) = l3_start(f);
    match ty {
        0x0800 => {
            let hl = usize::from(f[l3] & 0xf) * 4;
            let ip_ok = pnet_packet::util::checksum(&f[l3..l3 + hl], 5)
                == u16::from_be_bytes([f[l3 + 10], f[l3 + 11]]);
            let src = Ipv4Addr::new(f[l3 + 12], f[l3 + 13], f[l3 + 14], f[l3 + 15]);
            let dst = Ipv4Addr::new(f[l3 + 16], f[l3 + 17], f[l3 + 18], f[l3 + 19]);
            let l4 = &f[l3 + hl..];
            match f[l3 + 9] {
                6 => {
                    let t = pnet_packet::tcp::TcpPacket::new(l4).unwrap();
                    (
                        ip_ok,
                        t.get_checksum(),
                        pnet_packet::tcp::ipv4_checksum(&t, &src, &dst),
                    )
                }
                17 => {
                    let u = pnet_packet::udp::UdpPacket::new(l4).unwrap();
                    (
                        ip_ok,
                        u.get_checksum(),
                        pnet_packet::udp::ipv4_checksum(&u, &src, &dst),
                    )
                }
                1 => {
                    let i = pnet_packet::icmp::IcmpPacket::new(l4).unwrap();
                    (ip_ok, i.get_checksum(), pnet_packet::icmp::checksum(&i))
                }
                _ => (ip_ok, 0, 0),
            }
        }
        0x86dd => {
            let ip = pnet_packet::ipv6::Ipv6Packet::new(&f[l3..]).unwrap();
            let (src, dst) = (ip.get_source(), ip.get_destination());
            let l4 = &f[l3 + 40..];
            match ip.get_next_header().0 {
                6 => {
                    let t = pnet_packet::tcp::TcpPacket::new(l4).unwrap();
                    (
                        true,
                        t.get_checksum(),
                        pnet_packet::tcp::ipv6_checksum(&t, &src, &dst),
                    )
                }
                17 => {
                    let u = pnet_packet::udp::UdpPacket::new(l4).unwrap();
                    (
                        true,
                        u.get_checksum(),
                        pnet_packet::udp::ipv6_checksum(&u, &src, &dst),
                    )
                }
                58 => {
                    let i = pnet_packet::icmpv6::Icmpv6Packet::new(l4).unwrap();
                    (
                        true,
                        i.get_checksum(),
                        pnet_packet::icmpv6::checksum(&i, &src, &dst),
                    )
                }
                _ => (true, 0, 0),
            }
        }
        _ => (true, 0, 0),
    }
}

/// Writes correct L4 checksums into a frame built by the helpers above.
pub fn fix_checksums(f: &mut [u8]) {
    let (l3, ty) = l3_start(f);
    let (_, _, good) = l4_checksums(f);
    let l4 = match ty {
        0x0800 => l3 + usize::from(f[l3] & 0xf) * 4,
        _ => l3 + 40,
    };
    let proto = if ty == 0x0800 { f[l3 + 9] } else { f[l3 + 6] };
    let at = match proto {
        6 => l4 + 16,
        17 => l4 + 6,
        1 | 58 => l4 + 2,
        _ => return,
    };
    f[at..at + 2].copy_from_slice(&good.to_be_bytes());
}
