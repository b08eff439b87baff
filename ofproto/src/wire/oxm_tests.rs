//! Unit tests of the OXM match codec (included from `oxm.rs`).

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::wire::error::{ErrorType, bad_match};

const PATTERN: u128 = 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10;

fn short() -> OfpError {
    OfpError::bad_len("outer")
}

/// Wraps raw OXM entries in an `ofp_match` with its padding.
fn wrap(entries: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 1];
    v.extend_from_slice(&u16::try_from(4 + entries.len()).unwrap().to_be_bytes());
    v.extend_from_slice(entries);
    while v.len() % 8 != 0 {
        v.push(0);
    }
    v
}

fn decode(bytes: &[u8]) -> Result<Match, OfpError> {
    let mut r = Reader::new(bytes, short());
    let m = Match::decode(&mut r)?;
    assert!(r.is_empty(), "match decode must consume its padding");
    Ok(m)
}

fn encode(m: &Match) -> Vec<u8> {
    let mut w = BytesMut::new();
    m.encode(&mut w);
    assert_eq!(w.len(), m.encoded_len());
    w.to_vec()
}

/// Raw bytes of one basic entry.
fn raw(field: BasicField, value: u128, mask: Option<u128>) -> Vec<u8> {
    let mut w = BytesMut::new();
    OxmField::Basic { field, value, mask }.encode(&mut w);
    w.to_vec()
}

fn exact(field: BasicField, value: u128) -> OxmField {
    OxmField::exact(field, value)
}

/// Fields that satisfy `p`.
fn prereq_fields(p: Prereq) -> Vec<OxmField> {
    let eth = |t| exact(BasicField::ETH_TYPE, t);
    let proto = |p| exact(BasicField::IP_PROTO, p);
    let icmp6 = || vec![eth(0x86dd), proto(58)];
    match p {
        Prereq::None => vec![],
        Prereq::InPort => vec![exact(BasicField::IN_PORT, 1)],
        Prereq::VlanPresent => vec![exact(BasicField::VLAN_VID, 0x1001)],
        Prereq::IpAny | Prereq::Ipv4 => vec![eth(0x0800)],
        Prereq::Ipv6 => vec![eth(0x86dd)],
        Prereq::Arp => vec![eth(0x0806)],
        Prereq::Mpls => vec![eth(0x8847)],
        Prereq::Pbb => vec![eth(0x88e7)],
        Prereq::Tcp => vec![eth(0x0800), proto(6)],
        Prereq::Udp => vec![eth(0x86dd), proto(17)],
        Prereq::Sctp => vec![eth(0x0800), proto(132)],
        Prereq::Icmpv4 => vec![eth(0x0800), proto(1)],
        Prereq::Icmpv6 => icmp6(),
        Prereq::Nd | Prereq::NdSolicit => {
            let mut v = icmp6();
            v.push(exact(BasicField::ICMPV6_TYPE, 135));
            v
        }
        Prereq::NdAdvert => {
            let mut v = icmp6();
            v.push(exact(BasicField::ICMPV6_TYPE, 136));
            v
        }
    }
}

fn err_is(r: Result<Match, OfpError>, code: u16) {
    match r {
        Err(e) => assert!(
            e.is(ErrorType::BAD_MATCH, code),
            "got {e}, want BAD_MATCH/{code}"
        ),
        Ok(m) => panic!("accepted {m:?}, want BAD_MATCH/{code}"),
    }
}

#[test]
fn field_table_has_all_forty_fields_in_code_order() {
    assert_eq!(BasicField::all().len(), 40);
    for (i, info) in BasicField::all().iter().enumerate() {
        assert_eq!(usize::from(info.field.0), i);
        assert!(info.bits <= info.width * 8);
    }
    for info in BasicField::all() {
        let width = match info.format {
            FieldFormat::Ethernet => Some(6),
            FieldFormat::Ipv4 | FieldFormat::Port => Some(4),
            FieldFormat::Ipv6 => Some(16),
            FieldFormat::Decimal | FieldFormat::Hex => None,
        };
        assert!(width.is_none_or(|w| w == info.width), "{}", info.name);
    }
    assert_eq!(BasicField(40).info(), None);
    assert_eq!(BasicField::IPV6_EXTHDR.name(), Some("ipv6_exthdr"));
    assert_eq!(BasicField::PBB_ISID.info().unwrap().width, 3);
    assert_eq!(BasicField::TCP_DST.header(false), OxmHeader(0x8000_1c02));
    assert_eq!(BasicField::ETH_SRC.header(true), OxmHeader(0x8000_090c));
}

#[test]
fn header_accessors() {
    let h = OxmHeader(0x8000_1d04);
    assert_eq!(h.class(), OxmClass::OPENFLOW_BASIC);
    assert_eq!(h.field(), 14);
    assert!(h.has_mask());
    assert_eq!(h.length(), 4);
    assert_eq!(h.basic_field(), Some(BasicField::TCP_DST));
    assert_eq!(OxmHeader::new(OxmClass::OPENFLOW_BASIC, 14, true, 4), h);
    assert_eq!(OxmHeader(0x0001_0004).basic_field(), None);
    assert_eq!(format!("{:?}", OxmClass(7)), "OxmClass(0x0007)");
    assert_eq!(
        format!("{:?}", OxmClass::EXPERIMENTER),
        "OFPXMC_EXPERIMENTER"
    );
}

#[test]
fn every_field_round_trips_exact() {
    for info in BasicField::all() {
        let value = PATTERN & info.value_mask();
        let mut m = Match {
            fields: prereq_fields(info.prereq),
        };
        m.fields.push(exact(info.field, value));
        let bytes = encode(&m);
        // The entry itself: header then `width` value bytes, big-endian.
        let entry = raw(info.field, value, None);
        assert_eq!(entry.len(), 4 + usize::from(info.width));
        assert_eq!(&entry[..4], &info.field.header(false).0.to_be_bytes());
        let w = usize::from(info.width);
        assert_eq!(&entry[4..], &value.to_be_bytes()[16 - w..], "{}", info.name);
        assert!(bytes.windows(entry.len()).any(|x| x == entry.as_slice()));
        let back = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", info.name));
        assert_eq!(back, m, "{}", info.name);
        assert_eq!(encode(&back), bytes, "{}", info.name);
    }
}

#[test]
fn every_maskable_field_round_trips_masked() {
    for info in BasicField::all().iter().filter(|i| i.maskable) {
        let mask = info.width_mask() & !1;
        let value = PATTERN & info.value_mask() & mask;
        let mut m = Match {
            fields: prereq_fields(info.prereq),
        };
        m.fields.push(OxmField::masked(info.field, value, mask));
        let bytes = encode(&m);
        let entry = raw(info.field, value, Some(mask));
        assert_eq!(entry.len(), 4 + 2 * usize::from(info.width));
        assert_eq!(&entry[..4], &info.field.header(true).0.to_be_bytes());
        let back = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", info.name));
        assert_eq!(back, m, "{}", info.name);
        assert_eq!(encode(&back), bytes);
    }
}

#[test]
fn maskable_set_is_spec_plus_what_ovs_accepts() {
    let maskable: Vec<&str> = BasicField::all()
        .iter()
        .filter(|i| i.maskable)
        .map(|i| i.name)
        .collect();
    assert_eq!(
        maskable,
        [
            "metadata",
            "eth_dst",
            "eth_src",
            "vlan_vid",
            "ipv4_src",
            "ipv4_dst",
            "tcp_src",
            "tcp_dst",
            "udp_src",
            "udp_dst",
            "sctp_src",
            "sctp_dst",
            "arp_spa",
            "arp_tpa",
            "arp_sha",
            "arp_tha",
            "ipv6_src",
            "ipv6_dst",
            "ipv6_flabel",
            "ipv6_nd_target",
            "ipv6_nd_sll",
            "ipv6_nd_tll",
            "pbb_isid",
            "tunnel_id",
            "ipv6_exthdr",
        ]
    );
}

#[test]
fn rejects_mask_on_non_maskable_field() {
    for info in BasicField::all().iter().filter(|i| !i.maskable) {
        let mut entries: Vec<u8> = Vec::new();
        for f in prereq_fields(info.prereq) {
            let mut w = BytesMut::new();
            f.encode(&mut w);
            entries.extend_from_slice(&w);
        }
        entries.extend(raw(info.field, 0, Some(info.width_mask())));
        err_is(decode(&wrap(&entries)), bad_match::BAD_MASK);
    }
}

#[test]
fn rejects_wrong_oxm_length_for_every_field() {
    for info in BasicField::all() {
        let w = info.width;
        for (hm, len) in [
            (false, w - 1),
            (false, w + 1),
            (false, 2 * w),
            (true, w),
            (true, 2 * w + 1),
        ] {
            let h = OxmHeader::new(OxmClass::OPENFLOW_BASIC, info.field.0, hm, len);
            let mut e = h.0.to_be_bytes().to_vec();
            e.resize(4 + usize::from(len), 0);
            err_is(decode(&wrap(&e)), bad_match::BAD_LEN);
        }
    }
}

#[test]
fn rejects_value_bits_outside_mask() {
    let e = raw(
        BasicField::ETH_DST,
        0x0100_0000_0001,
        Some(0x0100_0000_0000),
    );
    err_is(decode(&wrap(&e)), bad_match::BAD_WILDCARDS);
    let e = raw(BasicField::METADATA, 3, Some(1));
    err_is(decode(&wrap(&e)), bad_match::BAD_WILDCARDS);
}

#[test]
fn rejects_out_of_range_values() {
    let cases: &[(BasicField, u128, Prereq)] = &[
        (BasicField::VLAN_VID, 0x2000, Prereq::None),
        (BasicField::VLAN_PCP, 8, Prereq::VlanPresent),
        (BasicField::IP_DSCP, 64, Prereq::IpAny),
        (BasicField::IP_ECN, 4, Prereq::IpAny),
        (BasicField::IPV6_FLABEL, 0x10_0000, Prereq::Ipv6),
        (BasicField::MPLS_LABEL, 0x10_0000, Prereq::Mpls),
        (BasicField::MPLS_TC, 8, Prereq::Mpls),
        (BasicField::MPLS_BOS, 2, Prereq::Mpls),
        (BasicField::IPV6_EXTHDR, 0x200, Prereq::Ipv6),
    ];
    for &(field, value, p) in cases {
        let mut e = Vec::new();
        for f in prereq_fields(p) {
            let mut w = BytesMut::new();
            f.encode(&mut w);
            e.extend_from_slice(&w);
        }
        e.extend(raw(field, value, None));
        err_is(decode(&wrap(&e)), bad_match::BAD_VALUE);
        // The largest valid value is accepted.
        let mut ok = Match {
            fields: prereq_fields(p),
        };
        ok.fields.push(exact(field, value - 1));
        assert_eq!(decode(&encode(&ok)).unwrap(), ok);
    }
    // Masked: the value must be in range too.
    err_is(
        decode(&wrap(&raw(BasicField::VLAN_VID, 0x2000, Some(0xffff)))),
        bad_match::BAD_VALUE,
    );
    // A mask wider than the field is accepted (only the value is checked).
    let m = Match {
        fields: vec![OxmField::masked(BasicField::VLAN_VID, 0x1000, 0xf000)],
    };
    assert_eq!(decode(&encode(&m)).unwrap(), m);
    // pbb_isid can't exceed 24 bits on the wire; a built match is checked.
    let m = Match {
        fields: vec![
            exact(BasicField::ETH_TYPE, 0x88e7),
            exact(BasicField::PBB_ISID, 0x100_0000),
        ],
    };
    err_is(m.validate().map(|()| Match::new()), bad_match::BAD_VALUE);
}

#[test]
fn rejects_duplicate_fields() {
    let mut e = raw(BasicField::IN_PORT, 1, None);
    e.extend(raw(BasicField::IN_PORT, 2, None));
    err_is(decode(&wrap(&e)), bad_match::DUP_FIELD);
    // Masked and unmasked forms of one field are still the same field.
    let mut e = raw(BasicField::METADATA, 1, None);
    e.extend(raw(BasicField::METADATA, 1, Some(1)));
    err_is(decode(&wrap(&e)), bad_match::DUP_FIELD);
    // Opaque entries too.
    let mut e = 0x0001_0004u32.to_be_bytes().to_vec();
    e.extend([0, 0, 0, 1]);
    e.extend(0x0001_0004u32.to_be_bytes());
    e.extend([0, 0, 0, 2]);
    err_is(decode(&wrap(&e)), bad_match::DUP_FIELD);
    // Experimenter entries with different ids are different fields.
    let mut e = 0xffff_0008u32.to_be_bytes().to_vec();
    e.extend([0x4f, 0x4e, 0x46, 0, 0, 0, 0, 1]);
    e.extend(0xffff_0008u32.to_be_bytes());
    e.extend([0, 0, 0x23, 0x20, 0, 0, 0, 1]);
    assert_eq!(decode(&wrap(&e)).unwrap().fields.len(), 2);
}

#[test]
fn rejects_every_field_without_its_prerequisites() {
    for info in BasicField::all()
        .iter()
        .filter(|i| i.prereq != Prereq::None)
    {
        let m = Match {
            fields: vec![exact(info.field, 0)],
        };
        let bytes = encode(&m);
        err_is(decode(&bytes), bad_match::BAD_PREREQ);
    }
}

#[test]
fn prerequisites_need_the_right_values() {
    let eth = |t| exact(BasicField::ETH_TYPE, t);
    let proto = |p| exact(BasicField::IP_PROTO, p);
    let bad: Vec<Vec<OxmField>> = vec![
        // tcp_dst with UDP.
        vec![eth(0x0800), proto(17), exact(BasicField::TCP_DST, 80)],
        // ip_proto with ARP.
        vec![eth(0x0806), proto(6)],
        // ipv4_src with IPv6.
        vec![eth(0x86dd), exact(BasicField::IPV4_SRC, 1)],
        // icmpv4 in IPv6.
        vec![eth(0x86dd), proto(1), exact(BasicField::ICMPV4_TYPE, 8)],
        // icmpv6 in IPv4.
        vec![eth(0x0800), proto(58), exact(BasicField::ICMPV6_TYPE, 135)],
        // vlan_pcp with OFPVID_NONE, or with the present bit masked out.
        vec![
            exact(BasicField::VLAN_VID, 0),
            exact(BasicField::VLAN_PCP, 1),
        ],
        vec![
            OxmField::masked(BasicField::VLAN_VID, 0, 0x0fff),
            exact(BasicField::VLAN_PCP, 1),
        ],
        // nd_sll needs a solicitation, nd_tll an advertisement.
        vec![
            eth(0x86dd),
            proto(58),
            exact(BasicField::ICMPV6_TYPE, 136),
            exact(BasicField::IPV6_ND_SLL, 1),
        ],
        vec![
            eth(0x86dd),
            proto(58),
            exact(BasicField::ICMPV6_TYPE, 135),
            exact(BasicField::IPV6_ND_TLL, 1),
        ],
        vec![
            eth(0x86dd),
            proto(58),
            exact(BasicField::ICMPV6_TYPE, 128),
            exact(BasicField::IPV6_ND_TARGET, 1),
        ],
        // mpls with IPv4, pbb with MPLS, exthdr with IPv4.
        vec![eth(0x0800), exact(BasicField::MPLS_LABEL, 1)],
        vec![eth(0x8847), exact(BasicField::PBB_ISID, 1)],
        vec![eth(0x0800), exact(BasicField::IPV6_EXTHDR, 1)],
        // in_phy_port needs in_port.
        vec![exact(BasicField::IN_PHY_PORT, 1)],
    ];
    for fields in bad {
        let m = Match { fields };
        err_is(decode(&encode(&m)), bad_match::BAD_PREREQ);
    }
    let good: Vec<Vec<OxmField>> = vec![
        vec![
            OxmField::masked(BasicField::VLAN_VID, 0x1000, 0x1000),
            exact(BasicField::VLAN_PCP, 1),
        ],
        vec![eth(0x8035), exact(BasicField::ARP_OP, 1)],
        vec![eth(0x8848), exact(BasicField::MPLS_BOS, 1)],
        vec![eth(0x86dd), proto(6), exact(BasicField::TCP_SRC, 1)],
        vec![
            exact(BasicField::IN_PORT, 1),
            exact(BasicField::IN_PHY_PORT, 1),
        ],
    ];
    for fields in good {
        let m = Match { fields };
        assert_eq!(decode(&encode(&m)).unwrap(), m);
    }
}

#[test]
fn prerequisites_may_follow_the_field() {
    let m = Match {
        fields: vec![
            exact(BasicField::TCP_DST, 80),
            exact(BasicField::IP_PROTO, 6),
            exact(BasicField::ETH_TYPE, 0x0800),
        ],
    };
    let bytes = encode(&m);
    let back = decode(&bytes).unwrap();
    assert_eq!(back, m);
    assert_eq!(encode(&back), bytes);
}

#[test]
fn rejects_non_oxm_match_type() {
    err_is(decode(&[0, 0, 0, 4, 0, 0, 0, 0]), bad_match::BAD_TYPE);
    err_is(decode(&[0, 2, 0, 4, 0, 0, 0, 0]), bad_match::BAD_TYPE);
}

#[test]
fn rejects_bad_match_lengths() {
    for len in 0..4u8 {
        err_is(decode(&[0, 1, 0, len, 0, 0, 0, 0]), bad_match::BAD_LEN);
    }
    // Length runs past the input.
    err_is(
        decode(&[0, 1, 0, 12, 0x80, 0, 0, 4, 0, 0, 0, 1]),
        bad_match::BAD_LEN,
    );
    // Padding runs past the input.
    err_is(
        decode(&[0, 1, 0, 12, 0x80, 0, 0, 4, 0, 0, 0, 1, 0, 0]),
        bad_match::BAD_LEN,
    );
    // An OXM header cut by the match length.
    err_is(decode(&[0, 1, 0, 6, 0x80, 0, 0, 0]), bad_match::BAD_LEN);
    // An OXM payload running past the match length (but not the input).
    let mut v = vec![0, 1, 0, 8, 0x80, 0, 0, 4, 0, 0, 0, 1];
    v.extend([0; 4]);
    err_is(decode(&v), bad_match::BAD_LEN);
}

#[test]
/// (44, `packet_type`, is the one exception: see `keeps_ovs_packet_type_entry_opaque`.)
fn rejects_unknown_basic_fields() {
    for field in [40u8, 41, 42, 43, 45, 127] {
        let h = OxmHeader::new(OxmClass::OPENFLOW_BASIC, field, false, 4);
        let mut e = h.0.to_be_bytes().to_vec();
        e.extend([0; 4]);
        err_is(decode(&wrap(&e)), bad_match::BAD_FIELD);
    }
}

#[test]
fn empty_match_is_eight_bytes() {
    let m = Match::new();
    assert_eq!(encode(&m), [0, 1, 0, 4, 0, 0, 0, 0]);
    assert_eq!(decode(&[0, 1, 0, 4, 0, 0, 0, 0]).unwrap(), m);
}

#[test]
fn padding_is_ignored_and_written_as_zeros() {
    let bytes = [0, 1, 0, 4, 9, 9, 9, 9];
    let m = decode(&bytes).unwrap();
    assert_eq!(encode(&m), [0, 1, 0, 4, 0, 0, 0, 0]);
}

#[test]
fn unknown_classes_round_trip_byte_identically() {
    // NXM_1 reg0 = 5 (what ovs-ofctl sends for reg0=5), masked NXM_0
    // eth_type, and an ONF experimenter tcp_flags entry with its mask.
    let mut e = vec![0x00, 0x01, 0x00, 0x04, 0, 0, 0, 5];
    e.extend([0x00, 0x00, 0x03, 0x04, 0x08, 0x00, 0xff, 0xff]);
    e.extend([
        0xff, 0xff, 0x55, 0x08, 0x4f, 0x4e, 0x46, 0x00, 0x00, 0x02, 0x00, 0x02,
    ]);
    let m = Match {
        fields: vec![
            exact(BasicField::ETH_TYPE, 0x0800),
            exact(BasicField::IP_PROTO, 6),
            exact(BasicField::TCP_DST, 22),
        ],
    };
    let mut all = Vec::new();
    for f in &m.fields {
        let mut w = BytesMut::new();
        f.encode(&mut w);
        all.extend_from_slice(&w);
    }
    all.extend_from_slice(&e);
    let bytes = wrap(&all);
    let back = decode(&bytes).unwrap();
    assert_eq!(back.fields.len(), 6);
    assert_eq!(
        back.fields[3],
        OxmField::Opaque {
            header: OxmHeader(0x0001_0004),
            payload: vec![0, 0, 0, 5]
        }
    );
    assert_eq!(back.fields[5].header().class(), OxmClass::EXPERIMENTER);
    assert_eq!(encode(&back), bytes);
}

#[test]
fn rejects_experimenter_entry_without_room_for_its_id() {
    let e = [0xff, 0xff, 0x00, 0x02, 0, 0];
    err_is(decode(&wrap(&e)), bad_match::BAD_LEN);
}

#[test]
fn matches_bytes_ovs_ofctl_sends() {
    // `ovs-ofctl -O OpenFlow13 parse-flow 'tcp,tp_dst=80,actions=output:1'`
    // (Open vSwitch 3.1.0), the match at offset 48 of the FLOW_MOD.
    let bytes =
        hex::decode("000100158000 0a020800 80001401 06 80001c020050 000000".replace(' ', ""))
            .unwrap();
    let m = decode(&bytes).unwrap();
    assert_eq!(
        m.fields,
        vec![
            exact(BasicField::ETH_TYPE, 0x0800),
            exact(BasicField::IP_PROTO, 6),
            exact(BasicField::TCP_DST, 80)
        ]
    );
    assert_eq!(encode(&m), bytes);
    assert_eq!(m.exact_value(BasicField::TCP_DST), Some(80));
    assert!(m.prereq_met(Prereq::Tcp));
    assert!(!m.prereq_met(Prereq::Udp));
}

#[test]
fn truncated_matches_never_panic_and_always_fail() {
    let mut fields = prereq_fields(Prereq::NdSolicit);
    fields.push(OxmField::masked(BasicField::IPV6_ND_TARGET, 1, u128::MAX));
    fields.push(exact(BasicField::IPV6_ND_SLL, 0x0011_2233_4455));
    fields.push(OxmField::masked(BasicField::METADATA, 0x10, 0xf0));
    let bytes = encode(&Match { fields });
    for n in 0..bytes.len() {
        let mut r = Reader::new(&bytes[..n], short());
        let e = Match::decode(&mut r).unwrap_err();
        assert!(
            e.is(ErrorType::BAD_MATCH, bad_match::BAD_LEN),
            "prefix {n}: {e}"
        );
    }
}

#[test]
fn oxm_id_lists_round_trip() {
    let ids = vec![
        OxmId::basic(BasicField::IN_PORT),
        OxmId {
            header: BasicField::METADATA.header(true),
            experimenter: None,
        },
        OxmId {
            header: OxmHeader(0xffff_5404),
            experimenter: Some(0x4f4e_4600),
        },
        OxmId {
            header: OxmHeader(0x0001_0004),
            experimenter: None,
        },
    ];
    let mut w = BytesMut::new();
    encode_oxm_ids(&ids, &mut w);
    assert_eq!(w.len(), ids.iter().map(OxmId::encoded_len).sum::<usize>());
    assert_eq!(w.len(), 20);
    let mut r = Reader::new(&w, short());
    assert_eq!(decode_oxm_ids(&mut r).unwrap(), ids);
    // Truncated lists fail with the reader's own error.
    for n in 1..w.len() {
        let mut r = Reader::new(&w[..n], short());
        if n % 4 != 0 || n == 12 {
            assert_eq!(decode_oxm_ids(&mut r).unwrap_err(), short(), "prefix {n}");
        } else {
            assert!(decode_oxm_ids(&mut r).is_ok(), "prefix {n}");
        }
    }
}

/// An arbitrary valid basic entry, with its prerequisites.
fn arb_basic() -> impl Strategy<Value = Vec<OxmField>> {
    (0u8..40, any::<u128>(), any::<u128>(), any::<bool>()).prop_map(|(code, v, m, masked)| {
        let info = BasicField(code).info().unwrap();
        let mut fields = prereq_fields(info.prereq);
        if fields.iter().any(|f| f.basic_field() == Some(info.field)) {
            return fields;
        }
        let mut value = v & info.value_mask();
        if info.field == BasicField::VLAN_VID {
            value |= 0x1000;
        }
        if masked && info.maskable {
            let mask = (m & info.width_mask()) | value;
            fields.push(OxmField::masked(info.field, value, mask));
        } else {
            fields.push(exact(info.field, value));
        }
        fields
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let mut r = Reader::new(&bytes, short());
        if let Ok(m) = Match::decode(&mut r) {
            let again = encode(&m);
            prop_assert_eq!(decode(&again).unwrap(), m);
            prop_assert_eq!(again.len(), r.position());
        }
    }

    #[test]
    fn arbitrary_header_soup_never_panics(
        entries in proptest::collection::vec((any::<u16>(), 0u8..50, any::<bool>(), 0u8..40), 0..6),
    ) {
        let mut e = Vec::new();
        for (class, field, hm, len) in entries {
            let class = if class % 2 == 0 { 0x8000 } else { class };
            e.put_u32(OxmHeader::new(OxmClass(class), field, hm, len).0);
            e.extend(std::iter::repeat_n(0u8, usize::from(len)));
        }
        if let Ok(m) = decode(&wrap(&e)) {
            prop_assert_eq!(encode(&m), wrap(&e));
        }
    }

    #[test]
    fn valid_matches_round_trip(one in arb_basic(), two in arb_basic()) {
        let mut fields = one;
        for f in two {
            if !fields.iter().any(|g| g.header().oxm_type() == f.header().oxm_type()) {
                fields.push(f);
            }
        }
        let m = Match { fields };
        let bytes = encode(&m);
        match decode(&bytes) {
            Ok(back) => {
                prop_assert_eq!(&back, &m);
                prop_assert_eq!(encode(&back), bytes);
            }
            // Two prerequisite sets can contradict (eth_type IPv4 vs IPv6).
            Err(e) => prop_assert!(e.is(ErrorType::BAD_MATCH, bad_match::BAD_PREREQ), "{}", e),
        }
    }
}

#[test]
fn huge_matches_decode_and_catch_late_duplicates() {
    // 16000 distinct empty NXM entries: the biggest match that fits.
    let mut e = Vec::new();
    for i in 0..16_000u32 {
        let class = OxmClass(u16::try_from(i >> 7).unwrap());
        let field = u8::try_from(i & 0x7f).unwrap();
        e.put_u32(OxmHeader::new(class, field, false, 0).0);
    }
    let m = decode(&wrap(&e)).unwrap();
    assert_eq!(m.fields.len(), 16_000);
    assert_eq!(encode(&m), wrap(&e));
    // The same with the first entry repeated at the end.
    let first: [u8; 4] = e[..4].try_into().unwrap();
    e.extend(first);
    err_is(decode(&wrap(&e)), bad_match::DUP_FIELD);
}

#[test]
fn validate_catches_what_only_code_can_build() {
    let bad_len = |m: Match| err_is(m.validate().map(|()| Match::new()), bad_match::BAD_LEN);
    // An opaque entry whose header length disagrees with its payload.
    bad_len(Match {
        fields: vec![OxmField::Opaque {
            header: OxmHeader(0x0001_0008),
            payload: vec![0; 4],
        }],
    });
    // An experimenter entry without its id.
    bad_len(Match {
        fields: vec![OxmField::Opaque {
            header: OxmHeader(0xffff_0002),
            payload: vec![0; 2],
        }],
    });
    // A mask wider than the field.
    let m = Match {
        fields: vec![OxmField::masked(BasicField::VLAN_VID, 0, 0x1_0000)],
    };
    err_is(m.validate().map(|()| Match::new()), bad_match::BAD_MASK);
    // An unknown basic field.
    let m = Match {
        fields: vec![exact(BasicField(40), 0)],
    };
    err_is(m.validate().map(|()| Match::new()), bad_match::BAD_FIELD);
    // Encoding writes an opaque entry's real length.
    let f = OxmField::Opaque {
        header: OxmHeader(0x0001_0000),
        payload: vec![0, 0, 0, 9],
    };
    let mut w = BytesMut::new();
    f.encode(&mut w);
    assert_eq!(&w[..], &[0, 1, 0, 4, 0, 0, 0, 9]);
    assert_eq!(f.encoded_len(), 8);
}

#[test]
fn keeps_ovs_packet_type_entry_opaque() {
    // ovs-ofctl 3.1 sends OF1.5's packet_type=0 (Ethernet) in 1.3 matches.
    let bytes = wrap(&[0x80, 0x00, 44 << 1, 4, 0, 0, 0, 0]);
    let m = decode(&bytes).unwrap();
    assert!(matches!(m.fields[0], OxmField::Opaque { .. }));
    assert_eq!(encode(&m), bytes);
    // Masked or with the wrong length it stays an unknown field.
    err_is(
        decode(&wrap(&[
            0x80,
            0x00,
            (44 << 1) | 1,
            8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ])),
        bad_match::BAD_FIELD,
    );
    err_is(
        decode(&wrap(&[0x80, 0x00, 44 << 1, 2, 0, 0])),
        bad_match::BAD_FIELD,
    );
}
