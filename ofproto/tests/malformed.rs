//! Malformed and truncated input: each case must be answered with the
//! OpenFlow 1.3.5 (type, code) pair a switch sends back in OFPT_ERROR.

use ofproto::wire::error::{ErrorType, bad_action, bad_instruction, bad_match, bad_request};
use ofproto::wire::{Body, Message, OfpError, decode};

mod wire_support;
use wire_support::golden_messages;

/// Builds a message: version 4, `ty`, xid 0x01020304, and `body`.
fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    msg_v(4, ty, body)
}

fn msg_v(version: u8, ty: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + body.len()).expect("test message fits");
    let mut v = vec![version, ty];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&[1, 2, 3, 4]);
    v.extend_from_slice(body);
    v
}

/// An OXM entry of class OPENFLOW_BASIC.
fn oxm(field: u8, hasmask: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![
        0x80,
        0x00,
        (field << 1) | u8::from(hasmask),
        payload.len() as u8,
    ];
    v.extend_from_slice(payload);
    v
}

/// An `ofp_match` of type OXM holding `oxms`, padded to 8.
fn ofp_match(oxms: &[u8]) -> Vec<u8> {
    let len = 4 + oxms.len();
    let mut v = vec![0, 1];
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v.extend_from_slice(oxms);
    while v.len() % 8 != 0 {
        v.push(0);
    }
    v
}

/// A FLOW_MOD (ADD, table 0) with this match and these raw instructions.
fn flow_mod(match_: &[u8], instructions: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[0; 16]); // cookie, cookie_mask
    b.extend_from_slice(&[0, 0]); // table_id, command
    b.extend_from_slice(&[0, 0, 0, 0]); // idle, hard timeouts
    b.extend_from_slice(&[0x80, 0]); // priority
    b.extend_from_slice(&[0xff; 4]); // buffer_id
    b.extend_from_slice(&[0xff; 4]); // out_port
    b.extend_from_slice(&[0xff; 4]); // out_group
    b.extend_from_slice(&[0, 0, 0, 0]); // flags, pad
    b.extend_from_slice(match_);
    b.extend_from_slice(instructions);
    msg(14, &b)
}

/// An apply-actions instruction holding raw `actions`.
fn apply_actions(actions: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 4];
    v.extend_from_slice(&((8 + actions.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(actions);
    v
}

/// OFPAT_OUTPUT to `port`.
fn output(port: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 16];
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(&[0xff, 0xe5, 0, 0, 0, 0, 0, 0]);
    v
}

fn expect_err(input: &[u8], etype: ErrorType, code: u16) -> OfpError {
    match decode(input) {
        Ok(m) => panic!(
            "decoded {m:?} from {}; expected {etype:?}/{code}",
            hex::encode(input)
        ),
        Err(e) => {
            assert!(
                e.is(etype, code),
                "{}: got {e}, expected {etype:?} code {code}",
                hex::encode(input)
            );
            e
        }
    }
}

#[test]
fn a_valid_flow_mod_from_these_helpers_decodes() {
    // The helpers build well-formed messages; each test below breaks one thing.
    let eth_ip = [
        oxm(5, false, &[0x08, 0x00]),
        oxm(10, false, &[6]),
        oxm(14, false, &[0, 80]),
    ]
    .concat();
    let m = flow_mod(&ofp_match(&eth_ip), &apply_actions(&output(2)));
    let decoded = decode(&m).expect("valid flow mod");
    assert!(matches!(decoded.body, Body::FlowMod(_)));
    assert_eq!(decoded.to_vec(), m);
}

#[test]
fn rejects_input_shorter_than_a_header() {
    for n in 0..8 {
        let m = &msg(2, &[])[..n];
        expect_err(m, ErrorType::BAD_REQUEST, bad_request::BAD_LEN);
    }
}

#[test]
fn rejects_header_length_below_8() {
    for len in 0u16..8 {
        let mut m = msg(2, &[]);
        m[2..4].copy_from_slice(&len.to_be_bytes());
        expect_err(&m, ErrorType::BAD_REQUEST, bad_request::BAD_LEN);
    }
}

#[test]
fn rejects_header_length_beyond_the_buffer() {
    let mut m = msg(2, b"payload");
    m[2..4].copy_from_slice(&100u16.to_be_bytes());
    expect_err(&m, ErrorType::BAD_REQUEST, bad_request::BAD_LEN);
}

#[test]
fn rejects_header_length_shorter_than_the_buffer() {
    let mut m = msg(2, b"payload");
    m[2..4].copy_from_slice(&10u16.to_be_bytes());
    expect_err(&m, ErrorType::BAD_REQUEST, bad_request::BAD_LEN);
}

#[test]
fn rejects_unknown_message_type() {
    for ty in [30u8, 31, 99, 200, 255] {
        expect_err(&msg(ty, &[]), ErrorType::BAD_REQUEST, bad_request::BAD_TYPE);
    }
}

#[test]
fn rejects_wrong_version_but_decodes_any_hello() {
    for v in [1u8, 2, 3, 5, 6, 0x7f] {
        expect_err(
            &msg_v(v, 5, &[]),
            ErrorType::BAD_REQUEST,
            bad_request::BAD_VERSION,
        );
        // HELLO of any version decodes, so that versions can be negotiated.
        let hello = msg_v(v, 0, &[]);
        let m = decode(&hello).unwrap_or_else(|e| panic!("hello v{v}: {e}"));
        assert!(matches!(m.body, Body::Hello(_)));
    }
}

#[test]
fn rejects_unknown_multipart_type() {
    for t in [14u16, 100, 0xfffe] {
        let mut body = t.to_be_bytes().to_vec();
        body.extend_from_slice(&[0; 6]);
        expect_err(
            &msg(18, &body),
            ErrorType::BAD_REQUEST,
            bad_request::BAD_MULTIPART,
        );
    }
}

#[test]
fn rejects_truncated_fixed_bodies() {
    // FEATURES_REPLY needs 24 body bytes, PORT_MOD 32, ROLE_REQUEST 16.
    for (ty, need) in [(6u8, 24usize), (16, 32), (24, 16), (9, 4)] {
        for n in 0..need {
            expect_err(
                &msg(ty, &vec![0; n]),
                ErrorType::BAD_REQUEST,
                bad_request::BAD_LEN,
            );
        }
    }
}

#[test]
fn rejects_trailing_bytes_after_a_fixed_body() {
    expect_err(
        &msg(20, &[0; 8]),
        ErrorType::BAD_REQUEST,
        bad_request::BAD_LEN,
    ); // barrier + junk
}

#[test]
fn rejects_oxm_whose_length_does_not_fit_the_field() {
    // eth_type is 2 bytes: length 3 is wrong; masked in_port is not allowed.
    let bad = [0x80, 0x00, 5 << 1, 3, 0x08, 0x00, 0x00];
    expect_err(
        &flow_mod(&ofp_match(&bad), &[]),
        ErrorType::BAD_MATCH,
        bad_match::BAD_LEN,
    );
    // An entry running past the end of the match.
    let past = [0x80, 0x00, 5 << 1, 40, 0x08, 0x00];
    expect_err(
        &flow_mod(&ofp_match(&past), &[]),
        ErrorType::BAD_MATCH,
        bad_match::BAD_LEN,
    );
}

#[test]
fn rejects_match_length_beyond_the_message() {
    let mut m = ofp_match(&oxm(0, false, &[0, 0, 0, 1]));
    m[2..4].copy_from_slice(&200u16.to_be_bytes());
    expect_err(&flow_mod(&m, &[]), ErrorType::BAD_MATCH, bad_match::BAD_LEN);
}

#[test]
fn rejects_standard_match_type() {
    let mut m = ofp_match(&[]);
    m[1] = 0; // OFPMT_STANDARD
    expect_err(
        &flow_mod(&m, &[]),
        ErrorType::BAD_MATCH,
        bad_match::BAD_TYPE,
    );
}

#[test]
fn rejects_missing_prerequisites() {
    // tcp_dst without eth_type / ip_proto.
    let tcp_only = oxm(14, false, &[0, 80]);
    expect_err(
        &flow_mod(&ofp_match(&tcp_only), &[]),
        ErrorType::BAD_MATCH,
        bad_match::BAD_PREREQ,
    );
    // ipv4_src with eth_type IPv6.
    let wrong = [oxm(5, false, &[0x86, 0xdd]), oxm(11, false, &[10, 0, 0, 1])].concat();
    expect_err(
        &flow_mod(&ofp_match(&wrong), &[]),
        ErrorType::BAD_MATCH,
        bad_match::BAD_PREREQ,
    );
    // vlan_pcp without a VLAN.
    let pcp = oxm(7, false, &[3]);
    expect_err(
        &flow_mod(&ofp_match(&pcp), &[]),
        ErrorType::BAD_MATCH,
        bad_match::BAD_PREREQ,
    );
    // A prerequisite that comes after the field needing it is still a
    // prerequisite (OVS accepts any order); the match must decode.
    let later = [
        oxm(14, false, &[0, 80]),
        oxm(5, false, &[0x08, 0x00]),
        oxm(10, false, &[6]),
    ]
    .concat();
    decode(&flow_mod(&ofp_match(&later), &[])).expect("prerequisites in any order");
}

#[test]
fn rejects_duplicate_field_and_bad_mask() {
    let dup = [oxm(0, false, &[0, 0, 0, 1]), oxm(0, false, &[0, 0, 0, 2])].concat();
    expect_err(
        &flow_mod(&ofp_match(&dup), &[]),
        ErrorType::BAD_MATCH,
        bad_match::DUP_FIELD,
    );
    // eth_type is not maskable.
    let masked = oxm(5, true, &[0x08, 0x00, 0xff, 0xff]);
    expect_err(
        &flow_mod(&ofp_match(&masked), &[]),
        ErrorType::BAD_MATCH,
        bad_match::BAD_MASK,
    );
}

#[test]
fn keeps_unknown_oxm_classes_as_opaque_entries() {
    // NXM_1 class (0x0001) field 16 (tun_id-like), 8 bytes: opaque, round-trips.
    let nx = [0x00, 0x01, 16 << 1, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    let m = flow_mod(&ofp_match(&nx), &[]);
    let decoded = decode(&m).expect("unknown OXM class is kept");
    assert_eq!(decoded.to_vec(), m);
}

#[test]
fn rejects_bad_action_lengths() {
    // Length 12 is not a multiple of 8.
    // The instruction itself stays a multiple of 8 long.
    let mut a = output(1);
    a[3] = 12;
    expect_err(
        &flow_mod(&ofp_match(&[]), &apply_actions(&a)),
        ErrorType::BAD_ACTION,
        bad_action::BAD_LEN,
    );
    // Length 0 would loop forever in a naive parser.
    let zero = [0u8, 0, 0, 0, 0, 0, 0, 0];
    expect_err(
        &flow_mod(&ofp_match(&[]), &apply_actions(&zero)),
        ErrorType::BAD_ACTION,
        bad_action::BAD_LEN,
    );
    // Output with length 8 (needs 16).
    let short = [0u8, 0, 0, 8, 0, 0, 0, 1];
    expect_err(
        &flow_mod(&ofp_match(&[]), &apply_actions(&short)),
        ErrorType::BAD_ACTION,
        bad_action::BAD_LEN,
    );
}

#[test]
fn rejects_unknown_action_type() {
    let a = [0u8, 99, 0, 8, 0, 0, 0, 0];
    expect_err(
        &flow_mod(&ofp_match(&[]), &apply_actions(&a)),
        ErrorType::BAD_ACTION,
        bad_action::BAD_TYPE,
    );
}

#[test]
fn rejects_unknown_instruction_and_bad_instruction_length() {
    let unknown = [0u8, 0x42, 0, 8, 0, 0, 0, 0];
    expect_err(
        &flow_mod(&ofp_match(&[]), &unknown),
        ErrorType::BAD_INSTRUCTION,
        bad_instruction::UNKNOWN_INST,
    );
    // goto_table with length 4.
    let short = [0u8, 1, 0, 4];
    expect_err(
        &flow_mod(&ofp_match(&[]), &short),
        ErrorType::BAD_INSTRUCTION,
        bad_instruction::BAD_LEN,
    );
}

#[test]
fn error_reply_carries_xid_type_code_and_at_most_64_bytes() {
    let big = flow_mod(
        &ofp_match(&oxm(14, false, &[0, 80])),
        &apply_actions(&output(1)),
    );
    assert!(big.len() > 64);
    let err = expect_err(&big, ErrorType::BAD_MATCH, bad_match::BAD_PREREQ);
    let reply = Message::error_reply(&err, &big);
    let wire = reply.to_vec();
    assert_eq!(&wire[..2], &[4, 1], "version 4, OFPT_ERROR");
    assert_eq!(&wire[4..8], &[1, 2, 3, 4], "same xid as the request");
    assert_eq!(
        u16::from_be_bytes([wire[8], wire[9]]),
        ErrorType::BAD_MATCH.0
    );
    assert_eq!(
        u16::from_be_bytes([wire[10], wire[11]]),
        bad_match::BAD_PREREQ
    );
    assert_eq!(&wire[12..], &big[..64]);
    assert_eq!(
        usize::from(u16::from_be_bytes([wire[2], wire[3]])),
        wire.len()
    );
}

#[test]
fn every_truncation_of_the_golden_vectors_is_an_error_not_a_panic() {
    for m in golden_messages() {
        for n in 0..m.len() {
            // Truncated buffer with the original header length.
            assert!(
                decode(&m[..n]).is_err(),
                "prefix {n} of {} decoded",
                hex::encode(&m)
            );
            // Truncated buffer with the header length fixed up: must not panic.
            if n >= 8 {
                let mut t = m[..n].to_vec();
                t[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                let _ = decode(&t);
            }
        }
    }
}
