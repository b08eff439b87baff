//! OXM match <-> (FlowKey, FlowMask): round trips in canonical form, the
//! errors for fields the key lacks, and matching real extracted packets.

use bytes::BytesMut;
use datapath::flow::{FlowKey, extract};
use datapath::packet::Packet;
use ofproto::match_key::{MatchKeyError, canonical, key_to_match, match_to_key};
use ofproto::wire::codec::Reader;
use ofproto::wire::error::bad_match;
use ofproto::wire::oxm::{BasicField as B, Match, OxmClass, OxmField, OxmHeader};
use ofproto::wire::{ErrorType, OfpError};
use proptest::prelude::*;

/// A context (fixed prerequisite fields) and the fields that may be added
/// to it.
struct Ctx {
    fixed: &'static [(B, u128)],
    optional: &'static [B],
}

const CTXS: &[Ctx] = &[
    Ctx {
        fixed: &[],
        optional: &[
            B::IN_PORT,
            B::METADATA,
            B::ETH_DST,
            B::ETH_SRC,
            B::ETH_TYPE,
            B::VLAN_VID,
            B::TUNNEL_ID,
        ],
    },
    Ctx {
        fixed: &[(B::VLAN_VID, 0x1007), (B::ETH_TYPE, 0x0800)],
        optional: &[
            B::VLAN_PCP,
            B::IP_DSCP,
            B::IP_ECN,
            B::IP_PROTO,
            B::IPV4_SRC,
            B::IPV4_DST,
        ],
    },
    Ctx {
        fixed: &[(B::ETH_TYPE, 0x0800), (B::IP_PROTO, 6)],
        optional: &[B::TCP_SRC, B::TCP_DST, B::IPV4_SRC, B::IP_DSCP],
    },
    Ctx {
        fixed: &[(B::ETH_TYPE, 0x86dd), (B::IP_PROTO, 17)],
        optional: &[
            B::UDP_SRC,
            B::UDP_DST,
            B::IPV6_SRC,
            B::IPV6_DST,
            B::IPV6_FLABEL,
        ],
    },
    Ctx {
        fixed: &[(B::ETH_TYPE, 0x0800), (B::IP_PROTO, 132)],
        optional: &[B::SCTP_SRC, B::SCTP_DST],
    },
    Ctx {
        fixed: &[(B::ETH_TYPE, 0x0800), (B::IP_PROTO, 1)],
        optional: &[B::ICMPV4_TYPE, B::ICMPV4_CODE],
    },
    Ctx {
        fixed: &[
            (B::ETH_TYPE, 0x86dd),
            (B::IP_PROTO, 58),
            (B::ICMPV6_TYPE, 135),
        ],
        optional: &[B::ICMPV6_CODE, B::IPV6_ND_TARGET, B::IPV6_ND_SLL],
    },
    Ctx {
        fixed: &[
            (B::ETH_TYPE, 0x86dd),
            (B::IP_PROTO, 58),
            (B::ICMPV6_TYPE, 136),
        ],
        optional: &[B::IPV6_ND_TARGET, B::IPV6_ND_TLL],
    },
    Ctx {
        fixed: &[(B::ETH_TYPE, 0x0806)],
        optional: &[B::ARP_OP, B::ARP_SPA, B::ARP_TPA, B::ARP_SHA, B::ARP_THA],
    },
    Ctx {
        fixed: &[(B::ETH_TYPE, 0x8035)],
        optional: &[B::ARP_OP, B::ARP_SPA, B::ARP_THA],
    },
    Ctx {
        fixed: &[(B::ETH_TYPE, 0x8847)],
        optional: &[B::MPLS_LABEL, B::MPLS_TC, B::MPLS_BOS],
    },
];

fn reg(i: u8, v: u32, m: Option<u32>) -> OxmField {
    let mut payload = v.to_be_bytes().to_vec();
    if let Some(m) = m {
        payload.extend_from_slice(&m.to_be_bytes());
    }
    OxmField::Opaque {
        header: OxmHeader::new(OxmClass::NXM_1, i, m.is_some(), payload.len() as u8),
        payload,
    }
}

/// A random valid match: a context, some of its optional fields with
/// random values and (where allowed) random masks, in shuffled order,
/// maybe a register.
fn arb_match() -> impl Strategy<Value = Match> {
    (
        0..CTXS.len(),
        prop::collection::vec(
            (
                any::<bool>(),
                any::<u128>(),
                any::<u128>(),
                any::<bool>(),
                0u8..4,
            ),
            8,
        ),
        any::<u64>(),
        prop::option::of((0u8..8, any::<u32>(), prop::option::of(any::<u32>()))),
    )
        .prop_map(|(ci, picks, shuffle, r)| {
            let ctx = &CTXS[ci];
            let mut fields: Vec<OxmField> = ctx
                .fixed
                .iter()
                .map(|&(f, v)| OxmField::exact(f, v))
                .collect();
            for (&f, &(inc, v, m, masked, shape)) in ctx.optional.iter().zip(&picks) {
                if !inc {
                    continue;
                }
                let info = f.info().unwrap();
                let mut vm = info.value_mask();
                if f == B::ARP_OP {
                    vm = 0xff;
                }
                if masked && info.maskable {
                    // Random, empty, full, or a prefix mask.
                    let m = match shape {
                        0 => m & vm,
                        1 => 0,
                        2 => vm,
                        _ => vm & !(vm >> ((m % 129) as u32).min(127)),
                    };
                    fields.push(OxmField::masked(f, v & m, m));
                } else {
                    fields.push(OxmField::exact(f, v & vm));
                }
            }
            if let Some((i, v, m)) = r {
                fields.push(reg(i, m.map_or(v, |m| v & m), m));
            }
            // Deterministic shuffle: prerequisites may come after their users.
            let n = fields.len();
            for i in (1..n).rev() {
                let j = (shuffle.rotate_left(i as u32) as usize) % (i + 1);
                fields.swap(i, j);
            }
            Match { fields }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn classifier_match_key_round_trip(m in arb_match()) {
        prop_assert!(m.validate().is_ok(), "generator made an invalid match {:?}", m);
        let (k, mask) = match_to_key(&m).unwrap();
        prop_assert_eq!(k.masked(&mask), k, "key is pre-masked");
        let back = key_to_match(&k, &mask).unwrap();
        prop_assert_eq!(&back, &canonical(&m));
        // Also through the wire encoding.
        let mut buf = BytesMut::new();
        back.encode(&mut buf);
        let decoded = Match::decode(&mut Reader::new(&buf, OfpError::bad_len("short"))).unwrap();
        prop_assert_eq!(match_to_key(&decoded).unwrap(), (k, mask));
    }
}

fn bad_field(e: &MatchKeyError) -> bool {
    OfpError::from(e.clone()).is(ErrorType::BAD_MATCH, bad_match::BAD_FIELD)
}

#[test]
fn classifier_match_key_unsupported_fields_are_bad_field() {
    let cases = [
        vec![
            OxmField::exact(B::IN_PORT, 1),
            OxmField::exact(B::IN_PHY_PORT, 1),
        ],
        vec![
            OxmField::exact(B::ETH_TYPE, 0x88e7),
            OxmField::exact(B::PBB_ISID, 7),
        ],
        vec![
            OxmField::exact(B::ETH_TYPE, 0x86dd),
            OxmField::exact(B::IPV6_EXTHDR, 1),
        ],
        vec![OxmField::Opaque {
            header: OxmHeader::new(OxmClass::NXM_0, 0, false, 2),
            payload: vec![0, 1],
        }],
        // NXM_1 field 8 is not a register.
        vec![OxmField::Opaque {
            header: OxmHeader::new(OxmClass::NXM_1, 8, false, 4),
            payload: vec![0, 0, 0, 1],
        }],
    ];
    for fields in cases {
        let m = Match { fields };
        let e = match_to_key(&m).unwrap_err();
        assert!(bad_field(&e), "{m:?} gave {e:?}");
    }
}

#[test]
fn classifier_match_key_arp_op_above_255_is_bad_value() {
    let m = Match {
        fields: vec![
            OxmField::exact(B::ETH_TYPE, 0x0806),
            OxmField::exact(B::ARP_OP, 0x100),
        ],
    };
    let e = match_to_key(&m).unwrap_err();
    assert!(OfpError::from(e).is(ErrorType::BAD_MATCH, bad_match::BAD_VALUE));
}

#[test]
fn classifier_match_key_invalid_match_keeps_codec_error() {
    let m = Match {
        fields: vec![OxmField::exact(B::TCP_DST, 80)],
    };
    let e = match_to_key(&m).unwrap_err();
    assert!(OfpError::from(e).is(ErrorType::BAD_MATCH, bad_match::BAD_PREREQ));
}

fn key_of(frame: &[u8], in_port: u32) -> FlowKey {
    let mut p = Packet::from_slice(frame);
    p.in_port = in_port;
    let mut k = FlowKey::ZERO;
    extract(&mut p, &mut k);
    k
}

fn hits(m: &[OxmField], k: &FlowKey) -> bool {
    let (rk, rm) = match_to_key(&Match { fields: m.to_vec() }).unwrap();
    k.matches(&rk, &rm)
}

/// A VLAN 10 / PCP 5 tagged IPv4 TCP frame, DSCP 46 ECN 1, 10.0.0.1:1234
/// -> 10.0.0.2:80.
fn tcp_frame() -> Vec<u8> {
    let mut f = vec![
        0x00, 0x00, 0x00, 0x00, 0x00, 0x02, // dst
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x81, 0x00, 0xa0, 0x0a, // tag: pcp 5, vid 10
        0x08, 0x00,
    ];
    f.extend_from_slice(&[
        0x45, 0xb9, 0x00, 0x28, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend_from_slice(&[
        0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    f
}

#[test]
fn classifier_match_key_matches_extracted_packets() {
    let k = key_of(&tcp_frame(), 3);
    let ip = [OxmField::exact(B::ETH_TYPE, 0x0800)];
    let with = |extra: &[OxmField]| {
        let mut v = ip.to_vec();
        v.extend_from_slice(extra);
        v
    };
    assert!(hits(&[OxmField::exact(B::IN_PORT, 3)], &k));
    assert!(!hits(&[OxmField::exact(B::IN_PORT, 4)], &k));
    assert!(hits(&[OxmField::exact(B::VLAN_VID, 0x1000 | 10)], &k));
    assert!(hits(&[OxmField::masked(B::VLAN_VID, 0x1000, 0x1000)], &k));
    assert!(!hits(&[OxmField::exact(B::VLAN_VID, 0)], &k));
    assert!(hits(
        &[
            OxmField::exact(B::VLAN_VID, 0x100a),
            OxmField::exact(B::VLAN_PCP, 5)
        ],
        &k
    ));
    assert!(hits(&with(&[OxmField::exact(B::IP_DSCP, 46)]), &k));
    assert!(hits(&with(&[OxmField::exact(B::IP_ECN, 1)]), &k));
    assert!(!hits(&with(&[OxmField::exact(B::IP_ECN, 0)]), &k));
    assert!(hits(
        &with(&[OxmField::masked(B::IPV4_DST, 0x0a00_0000, 0xff00_0000)]),
        &k
    ));
    assert!(hits(
        &with(&[
            OxmField::exact(B::IP_PROTO, 6),
            OxmField::exact(B::TCP_DST, 80),
            OxmField::masked(B::TCP_SRC, 0x0400, 0xff00),
        ]),
        &k
    ));
    assert!(!hits(
        &with(&[
            OxmField::exact(B::IP_PROTO, 17),
            OxmField::exact(B::UDP_DST, 80)
        ]),
        &k
    ));
    assert!(hits(&[OxmField::exact(B::ETH_SRC, 1)], &k));

    // Untagged ARP request 10.0.0.1 -> 10.0.0.2.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[0, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    arp.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    let k = key_of(&arp, 1);
    let a = OxmField::exact(B::ETH_TYPE, 0x0806);
    assert!(hits(&[a.clone(), OxmField::exact(B::ARP_OP, 1)], &k));
    assert!(!hits(&[a.clone(), OxmField::exact(B::ARP_OP, 2)], &k));
    assert!(hits(
        &[a.clone(), OxmField::exact(B::ARP_TPA, 0x0a00_0002)],
        &k
    ));
    assert!(hits(&[a.clone(), OxmField::exact(B::ARP_SHA, 1)], &k));
    assert!(hits(&[OxmField::exact(B::VLAN_VID, 0)], &k));
}
