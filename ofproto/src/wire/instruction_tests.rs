//! Unit tests of the instruction codec (included from `instruction.rs`).

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::wire::error::{ErrorType, bad_action};

fn short() -> OfpError {
    OfpError::bad_len("outer")
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn decode_list(bytes: &[u8]) -> Result<Vec<Instruction>, OfpError> {
    let mut r = Reader::new(bytes, short());
    let list = Instruction::decode_list(&mut r)?;
    assert!(r.is_empty());
    Ok(list)
}

fn encode(i: &Instruction) -> Vec<u8> {
    let mut w = BytesMut::new();
    i.encode(&mut w);
    assert_eq!(w.len(), i.encoded_len(), "{i:?}");
    w.to_vec()
}

fn err_is(r: Result<Vec<Instruction>, OfpError>, etype: ErrorType, code: u16) {
    match r {
        Err(e) => assert!(e.is(etype, code), "got {e}, want {etype}/{code}"),
        Ok(l) => panic!("accepted {l:?}, want {etype}/{code}"),
    }
}

fn bic(r: Result<Vec<Instruction>, OfpError>, code: u16) {
    err_is(r, ErrorType::BAD_INSTRUCTION, code);
}

/// Every instruction with its exact wire form (OpenFlow 1.3.5 structures).
fn vectors() -> Vec<(Instruction, Vec<u8>)> {
    vec![
        (Instruction::GotoTable(3), h("0001 0008 03 000000")),
        (
            Instruction::WriteMetadata {
                metadata: 0x0102_0304_0506_0708,
                mask: 0xffff,
            },
            h("0002 0018 00000000 0102030405060708 000000000000ffff"),
        ),
        (
            Instruction::WriteActions(vec![Action::Output {
                port: 2,
                max_len: 0,
            }]),
            h("0003 0018 00000000 0000 0010 00000002 0000 000000000000"),
        ),
        (
            Instruction::ApplyActions(vec![Action::PopVlan, Action::Group(7)]),
            h("0004 0018 00000000 0012 0008 00000000 0016 0008 00000007"),
        ),
        (Instruction::ApplyActions(vec![]), h("0004 0008 00000000")),
        (Instruction::ClearActions, h("0005 0008 00000000")),
        (Instruction::Meter(5), h("0006 0008 00000005")),
        (
            Instruction::Experimenter {
                experimenter: 0x00a0_b0c0,
                data: h("0102030405060708"),
            },
            h("ffff 0010 00a0b0c0 0102030405060708"),
        ),
    ]
}

#[test]
fn every_instruction_round_trips() {
    for (i, bytes) in vectors() {
        assert_eq!(encode(&i), bytes, "{i:?}");
        assert_eq!(decode_list(&bytes).unwrap(), vec![i.clone()]);
        assert!(InstructionType::ALL.contains(&i.instruction_type()));
        assert!(i.instruction_type().name().is_some());
    }
    // One of each type (apply-actions once), in a list.
    let mut all = Vec::new();
    let mut list = Vec::new();
    for (i, bytes) in vectors()
        .into_iter()
        .filter(|(i, b)| !matches!(i, Instruction::ApplyActions(_)) || b.len() > 8)
    {
        all.extend_from_slice(&bytes);
        list.push(i);
    }
    assert_eq!(decode_list(&all).unwrap(), list);
    let mut w = BytesMut::new();
    Instruction::encode_list(&list, &mut w);
    assert_eq!(w.to_vec(), all);
    assert_eq!(Instruction::list_len(&list), all.len());
    assert_eq!(decode_list(&[]).unwrap(), vec![]);
}

#[test]
fn names() {
    assert_eq!(InstructionType::METER.name(), Some("OFPIT_METER"));
    assert_eq!(InstructionType(7).name(), None);
    assert_eq!(format!("{:?}", InstructionType(7)), "InstructionType(0x7)");
    assert_eq!(
        format!("{:?}", InstructionType::GOTO_TABLE),
        "OFPIT_GOTO_TABLE"
    );
}

#[test]
fn rejects_unknown_instruction_types() {
    for t in [0u16, 7, 8, 0x7fff, 0xfffe] {
        let mut b = t.to_be_bytes().to_vec();
        b.extend(h("0008 00000000"));
        bic(decode_list(&b), bad_instruction::UNKNOWN_INST);
    }
}

#[test]
fn rejects_bad_instruction_lengths() {
    let cases = [
        "0001",
        "0001 0008 0300",
        "0001 0004",
        "0001 0000 00000000",
        "0001 000c 03000000 00000000",
        "0001 0010 03000000 00000000",
        "0001 0010 03000000",
        "0002 0010 00000000 0102030405060708",
        "0002 0020 00000000 0102030405060708 000000000000ffff 0000000000000000",
        "0005 0010 00000000 00000000",
        "0006 0010 00000005 00000000",
        "0004 0018 00000000 0012 0008 00000000",
    ];
    for c in cases {
        bic(decode_list(&h(c)), bad_instruction::BAD_LEN);
    }
}

#[test]
fn action_errors_surface_as_bad_action() {
    // Unknown action type 1 inside apply-actions.
    err_is(
        decode_list(&h("0004 0010 00000000 0001 0008 00000000")),
        ErrorType::BAD_ACTION,
        bad_action::BAD_TYPE,
    );
    // Bad action length inside write-actions.
    err_is(
        decode_list(&h("0003 0010 00000000 0012 0010 00000000")),
        ErrorType::BAD_ACTION,
        bad_action::BAD_LEN,
    );
    // A bad set-field inside apply-actions.
    err_is(
        decode_list(&h(
            "0004 0018 00000000 0019 0010 80000004 00000001 00000000",
        )),
        ErrorType::BAD_ACTION,
        bad_action::BAD_SET_ARGUMENT,
    );
}

#[test]
fn rejects_repeated_instruction_types_with_unsup_inst() {
    bic(
        decode_list(&h("0001 0008 03000000 0001 0008 04000000")),
        bad_instruction::UNSUP_INST,
    );
    bic(
        decode_list(&h(
            "0005 0008 00000000 0006 0008 00000001 0005 0008 00000000",
        )),
        bad_instruction::UNSUP_INST,
    );
    bic(
        decode_list(&h("0004 0008 00000000 0004 0008 00000000")),
        bad_instruction::UNSUP_INST,
    );
    bic(
        decode_list(&h("ffff 0008 00000001 ffff 0008 00000001")),
        bad_instruction::UNSUP_INST,
    );
    // Experimenters with different ids are different instructions.
    assert_eq!(
        decode_list(&h("ffff 0008 00000001 ffff 0008 00000002"))
            .unwrap()
            .len(),
        2
    );
    // Write- and apply-actions are different types.
    assert_eq!(
        decode_list(&h("0003 0008 00000000 0004 0008 00000000"))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn padding_is_ignored_and_written_as_zeros() {
    let list = decode_list(&h("0001 0008 03 ffffff")).unwrap();
    assert_eq!(list, vec![Instruction::GotoTable(3)]);
    assert_eq!(encode(&list[0]), h("0001 0008 03 000000"));
}

#[test]
fn experimenter_data_is_padded_on_encode() {
    let i = Instruction::Experimenter {
        experimenter: 1,
        data: vec![9],
    };
    assert_eq!(encode(&i), h("ffff 0010 00000001 09000000 00000000"));
}

#[test]
fn truncated_instruction_lists_never_panic_and_always_fail() {
    let mut all = Vec::new();
    let mut ends = Vec::new();
    for (i, bytes) in vectors() {
        if matches!(&i, Instruction::ApplyActions(l) if l.is_empty()) {
            continue;
        }
        all.extend_from_slice(&bytes);
        ends.push(all.len());
    }
    for n in 1..all.len() {
        let r = decode_list(&all[..n]);
        if ends.contains(&n) {
            assert!(r.is_ok(), "prefix {n}");
        } else {
            bic(r, bad_instruction::BAD_LEN);
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(list) = decode_list(&bytes) {
            let mut w = BytesMut::new();
            Instruction::encode_list(&list, &mut w);
            prop_assert_eq!(w.len(), bytes.len());
            prop_assert_eq!(decode_list(&w).unwrap(), list);
        }
    }

    #[test]
    fn framed_soup_never_panics(
        items in proptest::collection::vec((0u16..8, 0u8..4, any::<[u8; 24]>()), 0..4),
    ) {
        let mut b = Vec::new();
        for (t, words, body) in items {
            let t = if t == 7 { 0xffff } else { t };
            let len = 8 * usize::from(words);
            b.extend(t.to_be_bytes());
            b.extend(u16::try_from(len).unwrap().to_be_bytes());
            b.extend(&body[..len.saturating_sub(4)]);
        }
        if let Ok(list) = decode_list(&b) {
            let mut w = BytesMut::new();
            Instruction::encode_list(&list, &mut w);
            prop_assert_eq!(decode_list(&w).unwrap(), list);
        }
    }
}

#[test]
fn long_experimenter_lists_decode_and_catch_late_duplicates() {
    let mut b = Vec::new();
    for id in 0..8000u32 {
        b.extend(h("ffff 0008"));
        b.extend(id.to_be_bytes());
    }
    assert_eq!(decode_list(&b).unwrap().len(), 8000);
    b.extend(h("ffff 0008 00000000"));
    bic(decode_list(&b), bad_instruction::UNSUP_INST);
}

/// An arbitrary valid action.
fn arb_action() -> impl Strategy<Value = Action> {
    use crate::wire::oxm::{BasicField, OxmField};
    let settable: Vec<BasicField> = BasicField::all()
        .iter()
        .filter(|i| i.settable)
        .map(|i| i.field)
        .collect();
    prop_oneof![
        (0u32..0xffff_ff00, any::<u16>())
            .prop_map(|(port, max_len)| Action::Output { port, max_len }),
        (0xffff_fff8u32..=0xffff_fffe).prop_map(|port| Action::Output {
            port,
            max_len: 0xffe5
        }),
        Just(Action::CopyTtlOut),
        Just(Action::CopyTtlIn),
        any::<u8>().prop_map(Action::SetMplsTtl),
        Just(Action::DecMplsTtl),
        prop_oneof![Just(0x8100u16), Just(0x88a8)].prop_map(Action::PushVlan),
        Just(Action::PopVlan),
        prop_oneof![Just(0x8847u16), Just(0x8848)].prop_map(Action::PushMpls),
        any::<u16>().prop_map(Action::PopMpls),
        any::<u32>().prop_map(Action::SetQueue),
        any::<u32>().prop_map(Action::Group),
        any::<u8>().prop_map(Action::SetNwTtl),
        Just(Action::DecNwTtl),
        Just(Action::PushPbb(0x88e7)),
        Just(Action::PopPbb),
        (proptest::sample::select(settable), any::<u128>()).prop_map(|(field, v)| {
            let info = field.info().unwrap();
            let mut value = v & info.value_mask();
            if field == BasicField::VLAN_VID {
                value |= 0x1000;
            }
            Action::SetField(OxmField::exact(field, value))
        }),
        (any::<u32>(), 0usize..3, any::<[u8; 16]>()).prop_map(|(experimenter, words, d)| {
            Action::Experimenter {
                experimenter,
                data: d[..8 * words].to_vec(),
            }
        }),
    ]
}

/// An arbitrary valid instruction list: at most one of each type.
fn arb_instructions() -> impl Strategy<Value = Vec<Instruction>> {
    let actions = || proptest::collection::vec(arb_action(), 0..5);
    (
        proptest::option::of(any::<u8>()),
        proptest::option::of((any::<u64>(), any::<u64>())),
        proptest::option::of(actions()),
        proptest::option::of(actions()),
        any::<bool>(),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(goto, meta, write, apply, clear, meter)| {
            let mut v = Vec::new();
            v.extend(meter.map(Instruction::Meter));
            v.extend(apply.map(Instruction::ApplyActions));
            if clear {
                v.push(Instruction::ClearActions);
            }
            v.extend(write.map(Instruction::WriteActions));
            v.extend(meta.map(|(metadata, mask)| Instruction::WriteMetadata { metadata, mask }));
            v.extend(goto.map(Instruction::GotoTable));
            v
        })
}

proptest! {
    #[test]
    fn valid_instruction_lists_round_trip(list in arb_instructions()) {
        let mut w = BytesMut::new();
        Instruction::encode_list(&list, &mut w);
        prop_assert_eq!(w.len(), Instruction::list_len(&list));
        let back = decode_list(&w).unwrap();
        prop_assert_eq!(&back, &list);
        let mut again = BytesMut::new();
        Instruction::encode_list(&back, &mut again);
        prop_assert_eq!(again, w);
    }
}
