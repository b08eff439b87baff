//! Unit tests of multipart requests and replies (included from
//! `multipart.rs`), using the message-test helpers (`check` runs the real
//! `ovs-ofctl ofp-print`).

use super::*;
use crate::wire::action::Action;
use crate::wire::consts::{group, meter, port, table};
use crate::wire::error::{ErrorType, bad_request, table_features_failed};
use crate::wire::message::tests::{
    check, check_codec, expect_err, ofp_print_raw, sample_match, sample_port,
};
use crate::wire::message::{Body, Message, group_type};
use crate::wire::oxm::{BasicField, OxmId};
use crate::wire::table_features::{TableFeatureProp, TypeId};

fn req(flags: u16, body: MultipartRequestBody) -> Message {
    Message::new(
        0x10,
        Body::MultipartRequest(MultipartRequest { flags, body }),
    )
}

fn rep(flags: u16, body: MultipartReplyBody) -> Message {
    Message::new(0x10, Body::MultipartReply(MultipartReply { flags, body }))
}

fn flow_req() -> FlowStatsRequest {
    FlowStatsRequest {
        table_id: table::ALL,
        out_port: port::ANY,
        out_group: group::ANY,
        cookie: 0x10,
        cookie_mask: 0xff,
        match_: sample_match(),
    }
}

#[test]
fn empty_requests() {
    for (body, text) in [
        (MultipartRequestBody::Desc, "OFPST_DESC request"),
        (MultipartRequestBody::Table, "OFPST_TABLE request"),
        (MultipartRequestBody::GroupDesc, "OFPST_GROUP_DESC request"),
        (
            MultipartRequestBody::GroupFeatures,
            "OFPST_GROUP_FEATURES request",
        ),
        (
            MultipartRequestBody::MeterFeatures,
            "OFPST_METER_FEATURES request",
        ),
        (MultipartRequestBody::PortDesc, "OFPST_PORT_DESC request"),
        (
            MultipartRequestBody::TableFeatures(vec![]),
            "OFPST_TABLE_FEATURES request",
        ),
    ] {
        let b = check(&req(0, body), &[text]);
        assert_eq!(b.len(), 16);
    }
}

#[test]
fn request_flags_round_trip() {
    let b = check(
        &req(OFPMPF_REQ_MORE, MultipartRequestBody::Desc),
        &["flags=[more]"],
    );
    assert_eq!(&b[10..12], &[0, 1]);
}

#[test]
fn flow_and_aggregate_requests() {
    let b = check(
        &req(0, MultipartRequestBody::Flow(flow_req())),
        &["OFPST_FLOW request", "in_port=1", "nw_src=10.0.0.0/8"],
    );
    assert_eq!(hex::encode(&b[32..48]), "000000000000001000000000000000ff");
    assert_eq!(&b[48..50], &[0, 1], "match at 16 + 32");
    let r = FlowStatsRequest {
        table_id: 3,
        out_port: 2,
        out_group: group::ANY,
        cookie: 0,
        cookie_mask: 0,
        match_: Match::new(),
    };
    check(
        &req(0, MultipartRequestBody::Aggregate(r)),
        &["OFPST_AGGREGATE request", "table=3 out_port=2"],
    );
}

#[test]
fn id_requests() {
    check(
        &req(0, MultipartRequestBody::PortStats(port::ANY)),
        &["OFPST_PORT request", "port_no=ANY"],
    );
    check(
        &req(
            0,
            MultipartRequestBody::Queue {
                port_no: 1,
                queue_id: 0xffff_ffff,
            },
        ),
        &["OFPST_QUEUE request", "port=1 queue=ALL"],
    );
    check(
        &req(0, MultipartRequestBody::Group(group::ALL)),
        &["OFPST_GROUP request", "group_id=ALL"],
    );
    check(
        &req(0, MultipartRequestBody::Meter(meter::ALL)),
        &["OFPST_METER request", "meter=all"],
    );
    check(
        &req(0, MultipartRequestBody::MeterConfig(5)),
        &["OFPST_METER_CONFIG request", "meter=5"],
    );
}

#[test]
fn experimenter_multipart() {
    let m = req(
        0,
        MultipartRequestBody::Experimenter {
            experimenter: 0x00a0_a0a0,
            exp_type: 1,
            data: vec![1, 2, 3],
        },
    );
    let b = check_codec(&m);
    assert_eq!(hex::encode(&b[16..]), "00a0a0a000000001010203");
    let m = rep(
        OFPMPF_REPLY_MORE,
        MultipartReplyBody::Experimenter {
            experimenter: 0x00a0_a0a0,
            exp_type: 2,
            data: vec![],
        },
    );
    check_codec(&m);
}

#[test]
fn unknown_multipart_type_is_bad_multipart() {
    let b = hex::decode("0412001000000001000e000000000000").unwrap();
    expect_err(&b, ErrorType::BAD_REQUEST, bad_request::BAD_MULTIPART);
    let b = hex::decode("04130010000000010063000000000000").unwrap();
    expect_err(&b, ErrorType::BAD_REQUEST, bad_request::BAD_MULTIPART);
}

#[test]
fn request_length_errors() {
    // DESC request with a body.
    expect_err(
        &hex::decode("041200180000000100000000000000000000000000000000").unwrap(),
        ErrorType::BAD_REQUEST,
        bad_request::BAD_LEN,
    );
    // PORT_STATS request cut short.
    expect_err(
        &hex::decode("04120014000000010004000000000000ffffffff").unwrap(),
        ErrorType::BAD_REQUEST,
        bad_request::BAD_LEN,
    );
    // Multipart header cut short.
    expect_err(
        &hex::decode("0412000c0000000100040000").unwrap(),
        ErrorType::BAD_REQUEST,
        bad_request::BAD_LEN,
    );
}

#[test]
fn desc_reply() {
    let d = Desc {
        mfr_desc: "rvs project".into(),
        hw_desc: "userspace".into(),
        sw_desc: "0.1".into(),
        serial_num: "None".into(),
        dp_desc: "br0".into(),
    };
    let b = check(
        &rep(0, MultipartReplyBody::Desc(d)),
        &[
            "OFPST_DESC reply",
            "Manufacturer: rvs project",
            "Hardware: userspace",
            "Software: 0.1",
            "Serial Num: None",
            "DP Description: br0",
        ],
    );
    assert_eq!(b.len(), 16 + 1056);
}

#[test]
fn flow_stats_reply() {
    let fs = FlowStats {
        table_id: 0,
        duration_sec: 1,
        duration_nsec: 500_000_000,
        priority: 10,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: 0,
        cookie: 0xabc,
        packet_count: 5,
        byte_count: 300,
        match_: sample_match(),
        instructions: vec![crate::wire::instruction::Instruction::ApplyActions(vec![
            Action::Output {
                port: 2,
                max_len: 0,
            },
        ])],
    };
    let mut second = fs.clone();
    second.priority = 0;
    second.match_ = Match::new();
    second.instructions = vec![];
    let b = check(
        &rep(
            OFPMPF_REPLY_MORE,
            MultipartReplyBody::Flow(vec![fs, second]),
        ),
        &[
            "OFPST_FLOW reply",
            "flags=[more]",
            "cookie=0xabc, duration=1.500s, table=0, n_packets=5, n_bytes=300, priority=10,ip,in_port=1,nw_src=10.0.0.0/8 actions=output:2",
            "priority=0 actions=drop",
        ],
    );
    // First record length: 48 + match 32 + instruction 24.
    assert_eq!(&b[16..18], &[0, 104]);
    // Record length below the minimum.
    let mut bad = b.clone();
    bad[17] = 40;
    expect_err(&bad, ErrorType::BAD_REQUEST, bad_request::BAD_LEN);
    // Record length past the message.
    let mut bad = b.clone();
    bad[16] = 1;
    expect_err(&bad, ErrorType::BAD_REQUEST, bad_request::BAD_LEN);
}

#[test]
fn aggregate_table_port_queue_replies() {
    let b = check(
        &rep(
            0,
            MultipartReplyBody::Aggregate(AggregateStats {
                packet_count: 7,
                byte_count: 700,
                flow_count: 3,
            }),
        ),
        &[
            "OFPST_AGGREGATE reply",
            "packet_count=7 byte_count=700 flow_count=3",
        ],
    );
    assert_eq!(b.len(), 40);
    let t = TableStats {
        table_id: 0,
        active_count: 4,
        lookup_count: 100,
        matched_count: 90,
    };
    let b = check(
        &rep(
            0,
            MultipartReplyBody::Table(vec![t.clone(), TableStats { table_id: 1, ..t }]),
        ),
        &[
            "OFPST_TABLE reply",
            "table 0:",
            "active=4, lookup=100, matched=90",
        ],
    );
    assert_eq!(b.len(), 16 + 48);
    let p = PortStats {
        port_no: 1,
        rx_packets: 10,
        tx_packets: 20,
        rx_bytes: 1000,
        tx_bytes: 2000,
        rx_dropped: 1,
        tx_dropped: 2,
        rx_errors: 3,
        tx_errors: 4,
        rx_frame_err: 5,
        rx_over_err: 6,
        rx_crc_err: 7,
        collisions: 8,
        duration_sec: 9,
        duration_nsec: 0,
    };
    let b = check(
        &rep(0, MultipartReplyBody::PortStats(vec![p])),
        &[
            "OFPST_PORT reply",
            "port  1: rx pkts=10, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7",
            "tx pkts=20, bytes=2000, drop=2, errs=4, coll=8",
            "duration=9s",
        ],
    );
    assert_eq!(b.len(), 16 + 112);
    // A port-stats array that is not a whole number of records.
    let mut bad = b[..b.len() - 8].to_vec();
    let n = u16::try_from(bad.len()).unwrap();
    bad[2..4].copy_from_slice(&n.to_be_bytes());
    expect_err(&bad, ErrorType::BAD_REQUEST, bad_request::BAD_LEN);
    let q = QueueStats {
        port_no: 1,
        queue_id: 2,
        tx_bytes: 300,
        tx_packets: 3,
        tx_errors: 0,
        duration_sec: 4,
        duration_nsec: 0,
    };
    let b = check(
        &rep(0, MultipartReplyBody::Queue(vec![q])),
        &[
            "OFPST_QUEUE reply",
            "port 1 queue 2: bytes=300, pkts=3, errors=0, duration=4s",
        ],
    );
    assert_eq!(b.len(), 16 + 40);
}

#[test]
fn group_replies() {
    let g = GroupStats {
        group_id: 1,
        ref_count: 2,
        packet_count: 3,
        byte_count: 4,
        duration_sec: 5,
        duration_nsec: 0,
        bucket_stats: vec![
            Counter {
                packet_count: 1,
                byte_count: 2,
            },
            Counter {
                packet_count: 2,
                byte_count: 2,
            },
        ],
    };
    let b = check(
        &rep(0, MultipartReplyBody::Group(vec![g])),
        &[
            "OFPST_GROUP reply",
            "group_id=1,duration=5s,ref_count=2,packet_count=3,byte_count=4,bucket0:packet_count=1,byte_count=2,bucket1:packet_count=2,byte_count=2",
        ],
    );
    assert_eq!(&b[16..18], &[0, 72]);
    // Bucket counters not a multiple of 16.
    let mut bad = b.clone();
    bad[17] = 64;
    let n = 16 + 64;
    let mut bad: Vec<u8> = bad.drain(..n).collect();
    bad[3] = u8::try_from(n).unwrap();
    expect_err(&bad, ErrorType::BAD_REQUEST, bad_request::BAD_LEN);

    let d = GroupDesc {
        group_type: group_type::SELECT,
        group_id: 9,
        buckets: vec![crate::wire::message::Bucket {
            weight: 5,
            watch_port: port::ANY,
            watch_group: group::ANY,
            actions: vec![Action::Output {
                port: 3,
                max_len: 0,
            }],
        }],
    };
    check(
        &rep(0, MultipartReplyBody::GroupDesc(vec![d])),
        &[
            "OFPST_GROUP_DESC reply",
            "group_id=9,type=select,bucket=weight:5,actions=output:3",
        ],
    );
    let f = GroupFeatures {
        types: 0b1111,
        capabilities: 0b11,
        max_groups: [10, 20, 30, 40],
        actions: [1, 1, 1, 1],
    };
    let b = check(
        &rep(0, MultipartReplyBody::GroupFeatures(f)),
        &[
            "OFPST_GROUP_FEATURES reply",
            "Group table:",
            "Types:  0xf",
            "all group:",
            "max_groups=0xa",
            "actions: output",
        ],
    );
    assert_eq!(b.len(), 56);
}

#[test]
fn meter_replies() {
    let s = MeterStats {
        meter_id: 1,
        flow_count: 2,
        packet_in_count: 3,
        byte_in_count: 4,
        duration_sec: 5,
        duration_nsec: 0,
        band_stats: vec![Counter {
            packet_count: 6,
            byte_count: 7,
        }],
    };
    let b = check(
        &rep(0, MultipartReplyBody::Meter(vec![s])),
        &[
            "OFPST_METER reply",
            "meter:1 flow_count:2 packet_in_count:3 byte_in_count:4 duration:5s bands:",
            "0: packet_count:6 byte_count:7",
        ],
    );
    assert_eq!(&b[20..22], &[0, 56], "meter stats len at offset 4");
    let c = MeterConfig {
        flags: crate::wire::message::meter_flags::KBPS,
        meter_id: 1,
        bands: vec![MeterBand::Drop {
            rate: 100,
            burst_size: 0,
        }],
    };
    check(
        &rep(0, MultipartReplyBody::MeterConfig(vec![c])),
        &[
            "OFPST_METER_CONFIG reply",
            "meter=1 kbps bands=",
            "type=drop rate=100",
        ],
    );
    let f = MeterFeatures {
        max_meter: 100,
        band_types: 0b110,
        capabilities: 0b1111,
        max_bands: 4,
        max_color: 0,
    };
    let b = check(
        &rep(0, MultipartReplyBody::MeterFeatures(f)),
        &[
            "OFPST_METER_FEATURES reply",
            "max_meter:100 max_bands:4 max_color:0",
            "band_types: drop dscp_remark",
            "capabilities: kbps pktps burst stats",
        ],
    );
    assert_eq!(b.len(), 32);
}

#[test]
fn port_desc_reply() {
    let mut p2 = sample_port();
    p2.port_no = port::LOCAL;
    p2.name = "br0".into();
    let b = check(
        &rep(0, MultipartReplyBody::PortDesc(vec![sample_port(), p2])),
        &[
            "OFPST_PORT_DESC reply",
            "7(veth7): addr:02:00:00:00:00:07",
            "LOCAL(br0)",
        ],
    );
    assert_eq!(b.len(), 16 + 128);
    let mut bad = b[..b.len() - 4].to_vec();
    let n = u16::try_from(bad.len()).unwrap();
    bad[2..4].copy_from_slice(&n.to_be_bytes());
    expect_err(&bad, ErrorType::BAD_REQUEST, bad_request::BAD_LEN);
}

fn features(table_id: u8) -> crate::wire::table_features::TableFeatures {
    crate::wire::table_features::TableFeatures {
        table_id,
        name: format!("table{table_id}"),
        metadata_match: u64::MAX,
        metadata_write: u64::MAX,
        config: 0,
        max_entries: 1_000_000,
        properties: vec![
            TableFeatureProp::Instructions {
                miss: false,
                ids: vec![TypeId::new(1), TypeId::new(4)],
            },
            TableFeatureProp::Instructions {
                miss: true,
                ids: vec![TypeId::new(1), TypeId::new(4)],
            },
            TableFeatureProp::NextTables {
                miss: false,
                tables: vec![table_id + 1],
            },
            TableFeatureProp::NextTables {
                miss: true,
                tables: vec![table_id + 1],
            },
            TableFeatureProp::WriteActions {
                miss: false,
                ids: vec![TypeId::new(0)],
            },
            TableFeatureProp::WriteActions {
                miss: true,
                ids: vec![TypeId::new(0)],
            },
            TableFeatureProp::ApplyActions {
                miss: false,
                ids: vec![TypeId::new(0), TypeId::new(17)],
            },
            TableFeatureProp::ApplyActions {
                miss: true,
                ids: vec![TypeId::new(0), TypeId::new(17)],
            },
            TableFeatureProp::Match(vec![
                OxmId::basic(BasicField::IN_PORT),
                OxmId::basic(BasicField::ETH_DST),
            ]),
            TableFeatureProp::Wildcards(vec![
                OxmId::basic(BasicField::IN_PORT),
                OxmId::basic(BasicField::ETH_DST),
            ]),
            TableFeatureProp::WriteSetfield {
                miss: false,
                ids: vec![OxmId::basic(BasicField::ETH_DST)],
            },
            TableFeatureProp::WriteSetfield {
                miss: true,
                ids: vec![OxmId::basic(BasicField::ETH_DST)],
            },
            TableFeatureProp::ApplySetfield {
                miss: false,
                ids: vec![OxmId::basic(BasicField::ETH_DST)],
            },
            TableFeatureProp::ApplySetfield {
                miss: true,
                ids: vec![OxmId::basic(BasicField::ETH_DST)],
            },
        ],
    }
}

#[test]
fn table_features_reply_and_set_request() {
    let text = [
        "OFPST_TABLE_FEATURES reply",
        "table 0 (\"table0\"):",
        "max_entries=1000000",
        "instructions: apply_actions goto_table",
        "next tables: 1",
        "Write-Actions features:\n        actions: output\n        supported on Set-Field: eth_dst",
        "Apply-Actions features:\n        actions: output push_vlan",
        "exact match or wildcard: in_port_oxm eth_dst",
        "table 1 (\"table1\"):",
        "next tables: 2",
    ];
    let b = check(
        &rep(
            0,
            MultipartReplyBody::TableFeatures(vec![features(0), features(1)]),
        ),
        &text,
    );
    // A "set" request carries the same records.
    check(
        &req(0, MultipartRequestBody::TableFeatures(vec![features(0)])),
        &["OFPST_TABLE_FEATURES request", "table 0 (\"table0\"):"],
    );
    // Record length below 64: OFPTFFC_BAD_LEN.
    let mut bad = b.clone();
    bad[17] = 8;
    bad[16] = 0;
    expect_err(
        &bad,
        ErrorType::TABLE_FEATURES_FAILED,
        table_features_failed::BAD_LEN,
    );
    // Experimenter and unknown properties round-trip (OVS skips them).
    let mut f = features(2);
    f.properties.push(TableFeatureProp::Experimenter {
        miss: false,
        experimenter: 0x00a0_a0a0,
        exp_type: 1,
        data: vec![7; 3],
    });
    f.properties.push(TableFeatureProp::Experimenter {
        miss: true,
        experimenter: 0x00a0_a0a0,
        exp_type: 2,
        data: vec![],
    });
    f.properties.push(TableFeatureProp::Unknown {
        ptype: 0x20,
        data: vec![1],
    });
    let b = check_codec(&rep(0, MultipartReplyBody::TableFeatures(vec![f])));
    if let Some(t) = ofp_print_raw(&b) {
        assert!(t.contains("OFPST_TABLE_FEATURES reply"), "{t}");
    }
}

#[test]
fn mp_type_names() {
    assert_eq!(
        MultipartType::TABLE_FEATURES.name(),
        Some("OFPMP_TABLE_FEATURES")
    );
    assert_eq!(format!("{:?}", MultipartType(0x42)), "MultipartType(0x42)");
}

/// One sample of every message type, multipart type and table-features
/// property, for the mutation test below.
fn all_samples() -> Vec<Message> {
    use crate::wire::message::tests::sample_flow_mod;
    let mut v = vec![
        req(OFPMPF_REQ_MORE, MultipartRequestBody::Flow(flow_req())),
        req(0, MultipartRequestBody::Aggregate(flow_req())),
        req(0, MultipartRequestBody::TableFeatures(vec![features(0)])),
        req(
            0,
            MultipartRequestBody::Queue {
                port_no: 1,
                queue_id: 2,
            },
        ),
        rep(
            0,
            MultipartReplyBody::TableFeatures(vec![features(0), features(1)]),
        ),
        rep(0, MultipartReplyBody::PortDesc(vec![sample_port()])),
        rep(
            0,
            MultipartReplyBody::Group(vec![GroupStats {
                bucket_stats: vec![Counter::default()],
                ..Default::default()
            }]),
        ),
        rep(
            0,
            MultipartReplyBody::Meter(vec![MeterStats {
                band_stats: vec![Counter::default()],
                ..Default::default()
            }]),
        ),
        rep(
            0,
            MultipartReplyBody::MeterConfig(vec![MeterConfig {
                flags: 1,
                meter_id: 1,
                bands: vec![
                    MeterBand::Drop {
                        rate: 1,
                        burst_size: 2,
                    },
                    MeterBand::Experimenter {
                        rate: 1,
                        burst_size: 2,
                        experimenter: 3,
                        data: vec![0; 4],
                    },
                ],
            }]),
        ),
        rep(
            0,
            MultipartReplyBody::GroupDesc(vec![GroupDesc {
                group_type: 1,
                group_id: 2,
                buckets: vec![crate::wire::message::Bucket {
                    weight: 1,
                    watch_port: 2,
                    watch_group: 3,
                    actions: vec![Action::Output {
                        port: 1,
                        max_len: 0,
                    }],
                }],
            }]),
        ),
        Message::new(1, Body::FlowMod(sample_flow_mod())),
    ];
    v.push(Message::new(
        2,
        Body::QueueGetConfigReply(crate::wire::message::QueueGetConfigReply {
            port: 1,
            queues: vec![crate::wire::message::PacketQueue {
                queue_id: 1,
                port: 1,
                properties: vec![crate::wire::message::QueueProp::MinRate(5)],
            }],
        }),
    ));
    v
}

#[test]
fn mutated_messages_never_panic_and_decoded_ones_are_stable() {
    // A small deterministic xorshift generator: reproducible, no clock.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded = 0usize;
    for m in all_samples() {
        let orig = m.to_vec();
        assert_eq!(crate::wire::message::decode(&orig).as_ref(), Ok(&m));
        for _ in 0..3000 {
            let mut t = orig.clone();
            let flips = 1 + next() % 4;
            for _ in 0..flips {
                let i = usize::try_from(next() % t.len() as u64).unwrap_or(0);
                t[i] = u8::try_from(next() & 0xff).unwrap_or(0);
            }
            // Keep the header length honest half the time so the body
            // parsers, not just the length check, see the mutations.
            if next() % 2 == 0 {
                let n = u16::try_from(t.len()).unwrap_or(u16::MAX);
                t[2..4].copy_from_slice(&n.to_be_bytes());
                t[0] = 4;
            }
            if let Ok(d) = crate::wire::message::decode(&t) {
                decoded += 1;
                let again = d.to_vec();
                assert_eq!(
                    crate::wire::message::decode(&again).as_ref(),
                    Ok(&d),
                    "{t:02x?}"
                );
            }
        }
    }
    assert!(decoded > 0);
}

#[test]
fn long_replies_split_into_messages_that_fit_and_merge_back() {
    let flows: Vec<FlowStats> = (0..2000u16)
        .map(|i| FlowStats {
            table_id: 0,
            duration_sec: 0,
            duration_nsec: 0,
            priority: i,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            cookie: u64::from(i),
            packet_count: 0,
            byte_count: 0,
            match_: sample_match(),
            instructions: vec![crate::wire::instruction::Instruction::ApplyActions(vec![
                Action::Output {
                    port: 1,
                    max_len: 0,
                },
            ])],
        })
        .collect();
    let whole = MultipartReply {
        flags: 0,
        body: MultipartReplyBody::Flow(flows.clone()),
    };
    let pieces = whole.split(crate::wire::consts::OFP_MAX_MESSAGE_LEN);
    assert!(pieces.len() > 1);
    let mut merged: Option<MultipartReplyBody> = None;
    for (i, p) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        assert_eq!(p.flags, if last { 0 } else { OFPMPF_REPLY_MORE });
        let m = Message::new(1, Body::MultipartReply(p.clone()));
        let b = m.to_vec();
        assert!(b.len() <= crate::wire::consts::OFP_MAX_MESSAGE_LEN);
        assert_eq!(crate::wire::message::decode(&b).as_ref(), Ok(&m));
        match &mut merged {
            None => merged = Some(p.body.clone()),
            Some(acc) => acc.merge(p.body.clone()).unwrap(),
        }
    }
    assert_eq!(merged, Some(MultipartReplyBody::Flow(flows)));
    // A small budget: one record per piece, the last one keeps the flags.
    let ports = MultipartReply {
        flags: 0,
        body: MultipartReplyBody::PortDesc(vec![sample_port(), sample_port(), sample_port()]),
    };
    let pieces = ports.split(16 + 64);
    assert_eq!(pieces.len(), 3);
    // Non-array bodies and empty arrays travel whole.
    let desc = MultipartReply {
        flags: 0,
        body: MultipartReplyBody::Desc(Desc::default()),
    };
    assert_eq!(desc.clone().split(100), vec![desc]);
    let empty = MultipartReply {
        flags: 0,
        body: MultipartReplyBody::Flow(vec![]),
    };
    assert_eq!(empty.clone().split(100), vec![empty]);
    // Merging different types fails and leaves the body alone.
    let mut a = MultipartReplyBody::Flow(vec![]);
    assert!(a.merge(MultipartReplyBody::Table(vec![])).is_err());
    assert_eq!(a, MultipartReplyBody::Flow(vec![]));
    let mut r = MultipartRequestBody::TableFeatures(vec![features(0)]);
    r.merge(MultipartRequestBody::TableFeatures(vec![features(1)]))
        .unwrap();
    assert_eq!(
        r,
        MultipartRequestBody::TableFeatures(vec![features(0), features(1)])
    );
    assert!(r.merge(MultipartRequestBody::Desc).is_err());
}
