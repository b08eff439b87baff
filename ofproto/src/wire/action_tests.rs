//! Unit tests of the action codec (included from `action.rs`).

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::wire::error::ErrorType;
use crate::wire::oxm::{BasicField, OxmClass};

fn short() -> OfpError {
    OfpError::bad_len("outer")
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn decode_list(bytes: &[u8]) -> Result<Vec<Action>, OfpError> {
    let mut r = Reader::new(bytes, short());
    let list = Action::decode_list(&mut r)?;
    assert!(r.is_empty());
    Ok(list)
}

fn encode(a: &Action) -> Vec<u8> {
    let mut w = BytesMut::new();
    a.encode(&mut w);
    assert_eq!(w.len(), a.encoded_len(), "{a:?}");
    w.to_vec()
}

fn err_is(r: Result<Vec<Action>, OfpError>, code: u16) {
    match r {
        Err(e) => assert!(
            e.is(ErrorType::BAD_ACTION, code),
            "got {e}, want BAD_ACTION/{code}"
        ),
        Ok(l) => panic!("accepted {l:?}, want BAD_ACTION/{code}"),
    }
}

/// Every action with its exact wire form (OpenFlow 1.3.5 structures).
fn vectors() -> Vec<(Action, Vec<u8>)> {
    vec![
        (
            Action::Output {
                port: 1,
                max_len: 0,
            },
            h("0000 0010 00000001 0000 000000000000"),
        ),
        (
            Action::Output {
                port: 0xffff_fffd,
                max_len: 0xffff,
            },
            h("0000 0010 fffffffd ffff 000000000000"),
        ),
        (Action::CopyTtlOut, h("000b 0008 00000000")),
        (Action::CopyTtlIn, h("000c 0008 00000000")),
        (Action::SetMplsTtl(7), h("000f 0008 07 000000")),
        (Action::DecMplsTtl, h("0010 0008 00000000")),
        (Action::PushVlan(0x8100), h("0011 0008 8100 0000")),
        (Action::PopVlan, h("0012 0008 00000000")),
        (Action::PushMpls(0x8847), h("0013 0008 8847 0000")),
        (Action::PopMpls(0x0800), h("0014 0008 0800 0000")),
        (Action::SetQueue(0x0102_0304), h("0015 0008 01020304")),
        (Action::Group(9), h("0016 0008 00000009")),
        (Action::SetNwTtl(64), h("0017 0008 40 000000")),
        (Action::DecNwTtl, h("0018 0008 00000000")),
        (Action::PushPbb(0x88e7), h("001a 0008 88e7 0000")),
        (Action::PopPbb, h("001b 0008 00000000")),
        (
            Action::SetField(OxmField::exact(BasicField::VLAN_VID, 0x1005)),
            h("0019 0010 80000c02 1005 000000000000"),
        ),
        (
            Action::SetField(OxmField::exact(BasicField::IPV4_DST, 0x0102_0304)),
            h("0019 0010 80001804 01020304 00000000"),
        ),
        (
            Action::SetField(OxmField::exact(BasicField::IPV6_SRC, 1)),
            h("0019 0018 80003410 00000000000000000000000000000001"),
        ),
        (
            Action::SetField(OxmField::exact(BasicField::METADATA, 3)),
            h("0019 0010 80000408 0000000000000003"),
        ),
        (
            // NXM_1 reg0 (opaque).
            Action::SetField(OxmField::Opaque {
                header: OxmHeader(0x0001_0004),
                payload: vec![0, 0, 0, 7],
            }),
            h("0019 0010 00010004 00000007 00000000"),
        ),
        (
            // Nicira resubmit(,3), as ovs-ofctl 3.1.0 sends it.
            Action::Experimenter {
                experimenter: 0x2320,
                data: h("000e fff8 03 000000"),
            },
            h("ffff 0010 00002320 000e fff8 03000000"),
        ),
    ]
}

#[test]
fn every_action_round_trips() {
    let mut all = Vec::new();
    let mut list = Vec::new();
    for (a, bytes) in vectors() {
        assert_eq!(encode(&a), bytes, "{a:?}");
        assert_eq!(decode_list(&bytes).unwrap(), vec![a.clone()]);
        all.extend_from_slice(&bytes);
        list.push(a);
    }
    assert_eq!(decode_list(&all).unwrap(), list);
    let mut w = BytesMut::new();
    Action::encode_list(&list, &mut w);
    assert_eq!(w.to_vec(), all);
    assert_eq!(Action::list_len(&list), all.len());
    assert_eq!(decode_list(&[]).unwrap(), vec![]);
}

#[test]
fn type_codes_and_names() {
    for (a, bytes) in vectors() {
        let t = a.action_type();
        assert_eq!(t.0, u16::from_be_bytes([bytes[0], bytes[1]]));
        assert!(t.name().is_some());
        assert!(ActionType::ALL.contains(&t));
    }
    assert_eq!(ActionType::SET_FIELD.name(), Some("OFPAT_SET_FIELD"));
    assert_eq!(ActionType(1).name(), None);
    assert_eq!(format!("{:?}", ActionType(1)), "ActionType(0x1)");
}

#[test]
fn every_settable_field_round_trips_in_set_field() {
    for info in BasicField::all().iter().filter(|i| i.settable) {
        let mut value = 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10 & info.value_mask();
        if info.field == BasicField::VLAN_VID {
            value |= 0x1000;
        }
        let a = Action::SetField(OxmField::exact(info.field, value));
        let bytes = encode(&a);
        assert_eq!(bytes.len(), (8 + usize::from(info.width)).div_ceil(8) * 8);
        assert_eq!(decode_list(&bytes).unwrap(), vec![a], "{}", info.name);
    }
}

#[test]
fn rejects_bad_action_lengths() {
    // Shorter than a header, below 8, not a multiple of 8, past the input.
    err_is(decode_list(&h("0000")), bad_action::BAD_LEN);
    err_is(decode_list(&h("0000 0010 0000")), bad_action::BAD_LEN);
    err_is(decode_list(&h("0012 0004")), bad_action::BAD_LEN);
    err_is(decode_list(&h("0012 0000 00000000")), bad_action::BAD_LEN);
    err_is(
        decode_list(&h("0012 000c 00000000 00000000")),
        bad_action::BAD_LEN,
    );
    err_is(decode_list(&h("0012 0010 00000000")), bad_action::BAD_LEN);
    // Fixed-size actions with the wrong size.
    err_is(decode_list(&h("0000 0008 00000001")), bad_action::BAD_LEN);
    err_is(
        decode_list(&h("0000 0018 00000001 0000 000000000000 0000000000000000")),
        bad_action::BAD_LEN,
    );
    err_is(
        decode_list(&h("0012 0010 00000000 00000000")),
        bad_action::BAD_LEN,
    );
    err_is(
        decode_list(&h("0016 0010 00000001 00000000")),
        bad_action::BAD_LEN,
    );
    // A bad action after a good one.
    err_is(
        decode_list(&h("0012 0008 00000000 0012 0007 000000")),
        bad_action::BAD_LEN,
    );
}

#[test]
fn rejects_unknown_action_types() {
    // OpenFlow 1.0/1.1 set-* actions are gone in 1.3; 28+ are 1.4+.
    for t in [
        1u16, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 28, 29, 0x7fff, 0xfffe,
    ] {
        let mut b = t.to_be_bytes().to_vec();
        b.extend(h("0008 00000000"));
        err_is(decode_list(&b), bad_action::BAD_TYPE);
    }
}

#[test]
fn experimenter_actions_keep_every_byte() {
    // Nicira ct(commit) as ovs-ofctl 3.1.0 sends it.
    let bytes = h("ffff 0018 00002320 0023 0001 00000000 0000ff00 00000000");
    let list = decode_list(&bytes).unwrap();
    assert!(
        matches!(&list[..], [Action::Experimenter { experimenter: 0x2320, data }] if data.len() == 16)
    );
    assert_eq!(encode(&list[0]), bytes);
    // The shortest experimenter action is just the id.
    let bytes = h("ffff 0008 12345678");
    let list = decode_list(&bytes).unwrap();
    assert_eq!(
        list,
        vec![Action::Experimenter {
            experimenter: 0x1234_5678,
            data: vec![]
        }]
    );
    assert_eq!(encode(&list[0]), bytes);
    // Data not a multiple of 8 is padded on encode.
    let a = Action::Experimenter {
        experimenter: 1,
        data: vec![1, 2, 3],
    };
    assert_eq!(encode(&a), h("ffff 0010 00000001 01020300 00000000"));
}

#[test]
fn padding_in_fixed_actions_is_ignored() {
    let list = decode_list(&h("0000 0010 00000001 0000 010203040506")).unwrap();
    assert_eq!(
        list,
        vec![Action::Output {
            port: 1,
            max_len: 0
        }]
    );
    assert_eq!(encode(&list[0]), h("0000 0010 00000001 0000 000000000000"));
}

#[test]
fn set_field_errors() {
    let cases: &[(&str, u16)] = &[
        // Masked (OpenFlow 1.5 only).
        (
            "0019 0010 80000d04 10051fff 00000000",
            bad_action::BAD_SET_ARGUMENT,
        ),
        // Unknown basic field 40.
        (
            "0019 0010 80005004 00000000 00000000",
            bad_action::BAD_SET_TYPE,
        ),
        // OXM length wrong for the field (vlan_vid with 4 bytes).
        (
            "0019 0010 80000c04 00001005 00000000",
            bad_action::BAD_SET_LEN,
        ),
        // OXM longer than the action.
        (
            "0019 0010 80003410 00000000 00000000",
            bad_action::BAD_SET_LEN,
        ),
        // Action longer than the padded OXM.
        (
            "0019 0018 80000c02 1005 000000000000 0000000000000000",
            bad_action::BAD_SET_LEN,
        ),
        // Non-zero padding after the OXM.
        (
            "0019 0010 80000c02 1005 000000000001",
            bad_action::BAD_SET_ARGUMENT,
        ),
        // in_port may not be set; neither may eth_type, ip_proto, mpls_bos.
        (
            "0019 0010 80000004 00000001 00000000",
            bad_action::BAD_SET_ARGUMENT,
        ),
        (
            "0019 0010 80000a02 0800 000000000000",
            bad_action::BAD_SET_ARGUMENT,
        ),
        (
            "0019 0010 80001401 06 00000000000000",
            bad_action::BAD_SET_ARGUMENT,
        ),
        (
            "0019 0010 80004801 01 00000000000000",
            bad_action::BAD_SET_ARGUMENT,
        ),
        // Values out of range.
        (
            "0019 0010 80001001 40 00000000000000",
            bad_action::BAD_SET_ARGUMENT,
        ),
        (
            "0019 0010 80000c02 2005 000000000000",
            bad_action::BAD_SET_ARGUMENT,
        ),
        (
            "0019 0010 80004404 00100000 00000000",
            bad_action::BAD_SET_ARGUMENT,
        ),
        // vlan_vid without OFPVID_PRESENT.
        (
            "0019 0010 80000c02 0005 000000000000",
            bad_action::BAD_SET_ARGUMENT,
        ),
        // Experimenter-class OXM without room for the id.
        (
            "0019 0010 ffff0002 0000 000000000000",
            bad_action::BAD_SET_LEN,
        ),
        // Set-field of only a header: action too short for the OXM header.
        ("0019 0008 80000c02", bad_action::BAD_SET_LEN),
    ];
    for &(hexs, code) in cases {
        err_is(decode_list(&h(hexs)), code);
    }
}

#[test]
fn set_field_header_layout() {
    let a = Action::SetField(OxmField::exact(BasicField::ETH_DST, 0x0011_2233_4455));
    let bytes = encode(&a);
    assert_eq!(bytes, h("0019 0010 80000606 001122334455 0000"));
    assert_eq!(OxmClass::OPENFLOW_BASIC.0, 0x8000);
}

#[test]
fn truncated_action_lists_never_panic_and_always_fail() {
    let mut all = Vec::new();
    for (_, bytes) in vectors() {
        all.extend_from_slice(&bytes);
    }
    let ends: Vec<usize> = vectors()
        .iter()
        .scan(0, |acc, (_, b)| {
            *acc += b.len();
            Some(*acc)
        })
        .collect();
    for n in 0..all.len() {
        let r = decode_list(&all[..n]);
        if n == 0 || ends.contains(&n) {
            assert!(r.is_ok(), "prefix {n}");
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.etype, ErrorType::BAD_ACTION, "prefix {n}: {e}");
            assert!(
                e.code == bad_action::BAD_LEN || e.code == bad_action::BAD_SET_LEN,
                "prefix {n}: {e}"
            );
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(list) = decode_list(&bytes) {
            let mut w = BytesMut::new();
            Action::encode_list(&list, &mut w);
            prop_assert_eq!(w.len(), bytes.len());
            prop_assert_eq!(decode_list(&w).unwrap(), list);
        }
    }

    #[test]
    fn framed_soup_never_panics(
        items in proptest::collection::vec((0u16..30, 0u8..4, any::<[u8; 24]>()), 0..5),
    ) {
        let mut b = Vec::new();
        for (t, words, body) in items {
            let t = if t == 29 { 0xffff } else { t };
            let len = 8 * usize::from(words);
            b.extend(t.to_be_bytes());
            b.extend(u16::try_from(len).unwrap().to_be_bytes());
            b.extend(&body[..len.saturating_sub(4)]);
        }
        if let Ok(list) = decode_list(&b) {
            let mut w = BytesMut::new();
            Action::encode_list(&list, &mut w);
            prop_assert_eq!(decode_list(&w).unwrap(), list);
        }
    }
}

#[test]
fn rejects_invalid_output_ports() {
    for port in [0xffff_ffffu32, 0xffff_ff00, 0xffff_ff01, 0xffff_fff7] {
        let mut b = h("0000 0010");
        b.extend(port.to_be_bytes());
        b.extend(h("0000 000000000000"));
        err_is(decode_list(&b), bad_action::BAD_OUT_PORT);
    }
    for port in [0u32, 1, 0xffff_feff, 0xffff_fff8, 0xffff_fffe] {
        let a = Action::Output { port, max_len: 0 };
        assert_eq!(decode_list(&encode(&a)).unwrap(), vec![a]);
    }
}

#[test]
fn rejects_push_with_wrong_ethertype() {
    err_is(
        decode_list(&h("0011 0008 0800 0000")),
        bad_action::BAD_ARGUMENT,
    );
    err_is(
        decode_list(&h("0013 0008 8100 0000")),
        bad_action::BAD_ARGUMENT,
    );
    err_is(
        decode_list(&h("001a 0008 8847 0000")),
        bad_action::BAD_ARGUMENT,
    );
    let ok = [
        Action::PushVlan(0x88a8),
        Action::PushMpls(0x8848),
        Action::PushPbb(0x88e7),
    ];
    for a in ok {
        assert_eq!(decode_list(&encode(&a)).unwrap(), vec![a]);
    }
    // pop_mpls takes any ethertype.
    assert_eq!(
        decode_list(&h("0014 0008 86dd 0000")).unwrap(),
        vec![Action::PopMpls(0x86dd)]
    );
}
