//! Switch-side encodings checked by the real `ovs-ofctl ofp-print`.
//!
//! Each case builds a message with `ofproto::wire` types, encodes it, has
//! Open vSwitch 3.1's printer decode it, and requires (a) no decode-error or
//! truncation marker (`***`) in the text and (b) every expected fragment, in
//! OVS's printing conventions, with the values we put in.  Each message must
//! also round-trip through our own decoder.

mod openflow_support;

use ofproto::wire::action::Action;
use ofproto::wire::consts::{OFP_NO_BUFFER, port};
use ofproto::wire::error::ErrorType;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{
    AsyncConfig, Body, Bucket, ErrorMsg, FeaturesReply, FlowRemoved, Hello, Message, PacketIn,
    PacketQueue, Port, PortStatus, QueueGetConfigReply, QueueProp, Role, SwitchConfig,
};
use ofproto::wire::multipart::{
    AggregateStats, Counter, Desc, FlowStats, GroupDesc, GroupStats, MeterBand, MeterConfig,
    MeterFeatures, MeterStats, MultipartReply, MultipartReplyBody, PortStats, QueueStats,
    TableStats,
};
use ofproto::wire::oxm::{BasicField, Match, OxmField};
use ofproto::wire::table_features::{TableFeatureProp, TableFeatures, TypeId};
use rvs_tests::ovs;

fn mp(body: MultipartReplyBody) -> Body {
    Body::MultipartReply(MultipartReply { flags: 0, body })
}

fn tcp_match() -> Match {
    Match {
        fields: vec![
            OxmField::exact(BasicField::IN_PORT, 1),
            OxmField::exact(BasicField::ETH_TYPE, 0x0800),
            OxmField::masked(BasicField::IPV4_SRC, 0x0a00_0000, 0xff00_0000),
            OxmField::exact(BasicField::IP_PROTO, 6),
            OxmField::exact(BasicField::TCP_DST, 80),
        ],
    }
}

fn port(no: u32, name: &str) -> Port {
    Port {
        port_no: no,
        hw_addr: [2, 0, 0, 0, 0, no as u8],
        name: name.into(),
        config: 1,          // OFPPC_PORT_DOWN
        state: 1,           // OFPPS_LINK_DOWN
        curr: 0x40 | 0x800, // 10GB_FD | COPPER
        advertised: 0,
        supported: 0x40,
        peer: 0,
        curr_speed: 10_000_000,
        max_speed: 10_000_000,
    }
}

/// `(name, message, fragments the OVS text must contain)`.
fn cases() -> Vec<(&'static str, Message, Vec<&'static str>)> {
    let frame: Vec<u8> = {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 3, 0x08, 0x06]);
        f.resize(128, 0);
        f
    };
    vec![
        (
            "hello-bitmap",
            Message::new(1, Body::Hello(Hello::with_versions(&[1, 4]))),
            vec!["OFPT_HELLO (OF1.3) (xid=0x1)", "version bitmap: 0x01, 0x04"],
        ),
        (
            "echo-request",
            Message::new(2, Body::EchoRequest(b"abcd".to_vec())),
            vec!["OFPT_ECHO_REQUEST (OF1.3) (xid=0x2): 4 bytes of payload"],
        ),
        (
            "echo-reply",
            Message::new(3, Body::EchoReply(vec![])),
            vec!["OFPT_ECHO_REPLY (OF1.3) (xid=0x3): 0 bytes of payload"],
        ),
        (
            "features-reply",
            Message::new(
                4,
                Body::FeaturesReply(FeaturesReply {
                    datapath_id: 0xab,
                    n_buffers: 256,
                    n_tables: 254,
                    auxiliary_id: 0,
                    capabilities: 0x4f,
                    reserved: 0,
                }),
            ),
            vec![
                "OFPT_FEATURES_REPLY (OF1.3) (xid=0x4): dpid:00000000000000ab",
                "n_tables:254, n_buffers:256",
                "capabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS",
            ],
        ),
        (
            "get-config-reply",
            Message::new(
                5,
                Body::GetConfigReply(SwitchConfig {
                    flags: 1,
                    miss_send_len: 200,
                }),
            ),
            vec!["OFPT_GET_CONFIG_REPLY (OF1.3) (xid=0x5): frags=drop miss_send_len=200"],
        ),
        (
            "barrier-reply",
            Message::new(6, Body::BarrierReply),
            vec!["OFPT_BARRIER_REPLY (OF1.3) (xid=0x6)"],
        ),
        (
            "port-desc-reply",
            Message::new(
                7,
                mp(MultipartReplyBody::PortDesc(vec![
                    port(1, "eth1"),
                    port(2, "eth2"),
                ])),
            ),
            vec![
                "OFPST_PORT_DESC reply (OF1.3) (xid=0x7)",
                "1(eth1): addr:02:00:00:00:00:01",
                "2(eth2): addr:02:00:00:00:00:02",
                "config:     PORT_DOWN",
                "state:      LINK_DOWN",
                "current:    10GB-FD COPPER",
                "supported:  10GB-FD",
                "speed: 10000 Mbps now, 10000 Mbps max",
            ],
        ),
        (
            "port-status",
            Message::new(
                8,
                Body::PortStatus(PortStatus {
                    reason: 2,
                    desc: port(3, "p3"),
                }),
            ),
            vec!["OFPT_PORT_STATUS (OF1.3) (xid=0x8): MOD: 3(p3): addr:02:00:00:00:00:03"],
        ),
        (
            "flow-stats-reply",
            Message::new(
                9,
                mp(MultipartReplyBody::Flow(vec![FlowStats {
                    table_id: 1,
                    duration_sec: 1,
                    duration_nsec: 500_000_000,
                    priority: 100,
                    idle_timeout: 30,
                    hard_timeout: 0,
                    flags: 1,
                    cookie: 0x5,
                    packet_count: 10,
                    byte_count: 1000,
                    match_: tcp_match(),
                    instructions: vec![
                        Instruction::Meter(3),
                        Instruction::ApplyActions(vec![
                            Action::SetField(OxmField::exact(
                                BasicField::ETH_DST,
                                0x0000_0000_0009,
                            )),
                            Action::Output {
                                port: 2,
                                max_len: 0,
                            },
                        ]),
                        Instruction::WriteActions(vec![Action::Group(4)]),
                        Instruction::WriteMetadata {
                            metadata: 1,
                            mask: 0xff,
                        },
                        Instruction::GotoTable(2),
                    ],
                }])),
            ),
            vec![
                "OFPST_FLOW reply (OF1.3) (xid=0x9)",
                "cookie=0x5",
                "duration=1.500s",
                "table=1",
                "n_packets=10",
                "n_bytes=1000",
                "send_flow_rem",
                "idle_timeout=30",
                "priority=100",
                "tcp,in_port=1,nw_src=10.0.0.0/8,tp_dst=80",
                "actions=meter:3,set_field:00:00:00:00:00:09->eth_dst,output:2,write_actions(group:4),write_metadata:0x1/0xff,goto_table:2",
            ],
        ),
        (
            "table-stats-reply",
            Message::new(
                10,
                mp(MultipartReplyBody::Table(vec![
                    TableStats {
                        table_id: 0,
                        active_count: 5,
                        lookup_count: 100,
                        matched_count: 50,
                    },
                    TableStats {
                        table_id: 1,
                        active_count: 0,
                        lookup_count: 50,
                        matched_count: 0,
                    },
                ])),
            ),
            vec![
                "OFPST_TABLE reply (OF1.3) (xid=0xa)",
                "table 0:",
                "active=5, lookup=100, matched=50",
                "table 1:",
            ],
        ),
        (
            "aggregate-reply",
            Message::new(
                11,
                mp(MultipartReplyBody::Aggregate(AggregateStats {
                    packet_count: 7,
                    byte_count: 700,
                    flow_count: 3,
                })),
            ),
            vec![
                "OFPST_AGGREGATE reply (OF1.3) (xid=0xb): packet_count=7 byte_count=700 flow_count=3",
            ],
        ),
        (
            "desc-reply",
            Message::new(
                12,
                mp(MultipartReplyBody::Desc(Desc {
                    mfr_desc: "rvs project".into(),
                    hw_desc: "virtual".into(),
                    sw_desc: "rvs 0.1".into(),
                    serial_num: "42".into(),
                    dp_desc: "br0".into(),
                })),
            ),
            vec![
                "OFPST_DESC reply (OF1.3) (xid=0xc)",
                "Manufacturer: rvs project",
                "Hardware: virtual",
                "Software: rvs 0.1",
                "Serial Num: 42",
                "DP Description: br0",
            ],
        ),
        (
            "port-stats-reply",
            Message::new(
                13,
                mp(MultipartReplyBody::PortStats(vec![PortStats {
                    port_no: 1,
                    rx_packets: 11,
                    tx_packets: 22,
                    rx_bytes: 1100,
                    tx_bytes: 2200,
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
                }])),
            ),
            vec![
                "OFPST_PORT reply (OF1.3) (xid=0xd): 1 ports",
                "port  1: rx pkts=11, bytes=1100, drop=1, errs=3, frame=5, over=6, crc=7",
                "tx pkts=22, bytes=2200, drop=2, errs=4, coll=8",
                "duration=9s",
            ],
        ),
        (
            "queue-stats-reply",
            Message::new(
                14,
                mp(MultipartReplyBody::Queue(vec![QueueStats {
                    port_no: 1,
                    queue_id: 2,
                    tx_bytes: 300,
                    tx_packets: 3,
                    tx_errors: 0,
                    duration_sec: 4,
                    duration_nsec: 0,
                }])),
            ),
            vec![
                "OFPST_QUEUE reply (OF1.3) (xid=0xe): 1 queues",
                "port 1 queue 2: bytes=300, pkts=3, errors=0, duration=4s",
            ],
        ),
        (
            "packet-in",
            Message::new(
                15,
                Body::PacketIn(PacketIn {
                    buffer_id: OFP_NO_BUFFER,
                    total_len: 128,
                    reason: 1,
                    table_id: 3,
                    cookie: 0x77,
                    match_: Match {
                        fields: vec![OxmField::exact(BasicField::IN_PORT, 3)],
                    },
                    data: frame.clone(),
                }),
            ),
            vec![
                "OFPT_PACKET_IN (OF1.3) (xid=0xf): table_id=3 cookie=0x77 total_len=128 in_port=3 (via action) data_len=128 (unbuffered)",
                "dl_src=02:00:00:00:00:03,dl_dst=ff:ff:ff:ff:ff:ff",
            ],
        ),
        (
            "flow-removed",
            Message::new(
                16,
                Body::FlowRemoved(FlowRemoved {
                    cookie: 0x9,
                    priority: 7,
                    reason: 0,
                    table_id: 2,
                    duration_sec: 12,
                    duration_nsec: 0,
                    idle_timeout: 10,
                    hard_timeout: 0,
                    packet_count: 3,
                    byte_count: 300,
                    match_: tcp_match(),
                }),
            ),
            vec![
                "OFPT_FLOW_REMOVED (OF1.3) (xid=0x10): priority=7,tcp,in_port=1,nw_src=10.0.0.0/8,tp_dst=80 reason=idle table_id=2 cookie:0x9 duration12s idle10 pkts3 bytes300",
            ],
        ),
        (
            "error-bad-type",
            Message::new(
                17,
                Body::Error(ErrorMsg {
                    etype: ErrorType::BAD_REQUEST,
                    code: 1,
                    experimenter: None,
                    data: vec![4, 0x14, 0, 8, 0, 0, 0, 17],
                }),
            ),
            vec!["OFPT_ERROR (OF1.3) (xid=0x11): OFPBRC_BAD_TYPE"],
        ),
        (
            "error-bad-prereq",
            Message::new(
                18,
                Body::Error(ErrorMsg {
                    etype: ErrorType::BAD_MATCH,
                    code: ofproto::wire::error::bad_match::BAD_PREREQ,
                    experimenter: None,
                    data: vec![4, 0x07, 0, 8, 0, 0, 0, 18],
                }),
            ),
            vec!["OFPT_ERROR (OF1.3) (xid=0x12): OFPBMC_BAD_PREREQ"],
        ),
        (
            "error-table-full",
            Message::new(
                19,
                Body::Error(ErrorMsg {
                    etype: ErrorType::FLOW_MOD_FAILED,
                    code: ofproto::wire::error::flow_mod_failed::TABLE_FULL,
                    experimenter: None,
                    data: vec![4, 0x14, 0, 8, 0, 0, 0, 19],
                }),
            ),
            vec!["OFPT_ERROR (OF1.3) (xid=0x13): OFPFMFC_TABLE_FULL"],
        ),
        (
            "error-hello-failed",
            Message::new(
                20,
                Body::Error(ErrorMsg {
                    etype: ErrorType::HELLO_FAILED,
                    code: 0,
                    experimenter: None,
                    data: b"only OpenFlow 1.3".to_vec(),
                }),
            ),
            vec![
                "OFPT_ERROR (OF1.3) (xid=0x14): OFPHFC_INCOMPATIBLE",
                "only OpenFlow 1.3",
            ],
        ),
        (
            "error-experimenter-onf",
            Message::new(
                21,
                Body::Error(ErrorMsg {
                    etype: ErrorType::EXPERIMENTER,
                    code: 2600,
                    experimenter: Some(0x4f4e_4600),
                    data: vec![4, 0x14, 0, 8, 0, 0, 0, 21],
                }),
            ),
            vec!["OFPT_ERROR (OF1.3) (xid=0x15): OFPBIC_DUP_INST"],
        ),
        (
            "error-experimenter-nicira",
            Message::new(
                22,
                Body::Error(ErrorMsg {
                    etype: ErrorType::EXPERIMENTER,
                    code: 2,
                    experimenter: Some(0x2320),
                    data: vec![4, 0x14, 0, 8, 0, 0, 0, 22],
                }),
            ),
            vec!["OFPT_ERROR (OF1.3) (xid=0x16): NXBRC_NXM_INVALID"],
        ),
        (
            "group-desc-reply",
            Message::new(
                23,
                mp(MultipartReplyBody::GroupDesc(vec![
                    GroupDesc {
                        group_type: 1,
                        group_id: 1,
                        buckets: vec![
                            Bucket {
                                weight: 10,
                                watch_port: port::ANY,
                                watch_group: 0xffff_ffff,
                                actions: vec![Action::Output {
                                    port: 1,
                                    max_len: 0,
                                }],
                            },
                            Bucket {
                                weight: 20,
                                watch_port: port::ANY,
                                watch_group: 0xffff_ffff,
                                actions: vec![Action::Output {
                                    port: 2,
                                    max_len: 0,
                                }],
                            },
                        ],
                    },
                    GroupDesc {
                        group_type: 3,
                        group_id: 2,
                        buckets: vec![Bucket {
                            weight: 0,
                            watch_port: 1,
                            watch_group: 0xffff_ffff,
                            actions: vec![Action::Output {
                                port: 1,
                                max_len: 0,
                            }],
                        }],
                    },
                ])),
            ),
            vec![
                "OFPST_GROUP_DESC reply (OF1.3) (xid=0x17)",
                "group_id=1,type=select,bucket=weight:10,actions=output:1,bucket=weight:20,actions=output:2",
                "group_id=2,type=ff,bucket=watch_port:1,actions=output:1",
            ],
        ),
        (
            "group-stats-reply",
            Message::new(
                24,
                mp(MultipartReplyBody::Group(vec![GroupStats {
                    group_id: 1,
                    ref_count: 2,
                    packet_count: 10,
                    byte_count: 1000,
                    duration_sec: 5,
                    duration_nsec: 0,
                    bucket_stats: vec![
                        Counter {
                            packet_count: 6,
                            byte_count: 600,
                        },
                        Counter {
                            packet_count: 4,
                            byte_count: 400,
                        },
                    ],
                }])),
            ),
            vec![
                "OFPST_GROUP reply (OF1.3) (xid=0x18)",
                "group_id=1,duration=5s,ref_count=2,packet_count=10,byte_count=1000,bucket0:packet_count=6,byte_count=600,bucket1:packet_count=4,byte_count=400",
            ],
        ),
        (
            "meter-config-reply",
            Message::new(
                25,
                mp(MultipartReplyBody::MeterConfig(vec![MeterConfig {
                    flags: 1 | 4 | 8,
                    meter_id: 1,
                    bands: vec![
                        MeterBand::Drop {
                            rate: 1000,
                            burst_size: 100,
                        },
                        MeterBand::DscpRemark {
                            rate: 500,
                            burst_size: 50,
                            prec_level: 1,
                        },
                    ],
                }])),
            ),
            vec![
                "OFPST_METER_CONFIG reply (OF1.3) (xid=0x19)",
                "meter=1 kbps burst stats bands=",
                "type=drop rate=1000 burst_size=100",
                "type=dscp_remark rate=500 burst_size=50 prec_level=1",
            ],
        ),
        (
            "meter-stats-reply",
            Message::new(
                26,
                mp(MultipartReplyBody::Meter(vec![MeterStats {
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
                }])),
            ),
            vec![
                "OFPST_METER reply (OF1.3) (xid=0x1a)",
                "meter:1 flow_count:2 packet_in_count:3 byte_in_count:4 duration:5s bands:",
                "0: packet_count:6 byte_count:7",
            ],
        ),
        (
            "meter-features-reply",
            Message::new(
                27,
                mp(MultipartReplyBody::MeterFeatures(MeterFeatures {
                    max_meter: 100,
                    band_types: (1 << 1) | (1 << 2),
                    capabilities: 0xf,
                    max_bands: 4,
                    max_color: 0,
                })),
            ),
            vec![
                "OFPST_METER_FEATURES reply (OF1.3) (xid=0x1b)",
                "max_meter:100 max_bands:4 max_color:0",
                "band_types: drop dscp_remark",
                "capabilities: kbps pktps burst stats",
            ],
        ),
        (
            "table-features-reply",
            Message::new(
                28,
                mp(MultipartReplyBody::TableFeatures(vec![TableFeatures {
                    table_id: 0,
                    name: "classifier".into(),
                    metadata_match: u64::MAX,
                    metadata_write: u64::MAX,
                    config: 0,
                    max_entries: 1_000_000,
                    properties: vec![
                        TableFeatureProp::Instructions {
                            miss: false,
                            ids: [1u16, 2, 3, 4, 5, 6]
                                .iter()
                                .map(|&t| TypeId {
                                    id_type: t,
                                    data: vec![],
                                })
                                .collect(),
                        },
                        TableFeatureProp::NextTables {
                            miss: false,
                            tables: vec![1, 2],
                        },
                        TableFeatureProp::WriteActions {
                            miss: false,
                            ids: vec![
                                TypeId {
                                    id_type: 0,
                                    data: vec![],
                                },
                                TypeId {
                                    id_type: 22,
                                    data: vec![],
                                },
                            ],
                        },
                        TableFeatureProp::ApplyActions {
                            miss: false,
                            ids: vec![
                                TypeId {
                                    id_type: 0,
                                    data: vec![],
                                },
                                TypeId {
                                    id_type: 17,
                                    data: vec![],
                                },
                                TypeId {
                                    id_type: 18,
                                    data: vec![],
                                },
                            ],
                        },
                        TableFeatureProp::Match(vec![
                            ofproto::wire::oxm::OxmId::basic(BasicField::IN_PORT),
                            ofproto::wire::oxm::OxmId::basic(BasicField::ETH_TYPE),
                        ]),
                        TableFeatureProp::Wildcards(vec![ofproto::wire::oxm::OxmId::basic(
                            BasicField::IN_PORT,
                        )]),
                        TableFeatureProp::WriteSetfield {
                            miss: false,
                            ids: vec![ofproto::wire::oxm::OxmId::basic(BasicField::ETH_DST)],
                        },
                        TableFeatureProp::ApplySetfield {
                            miss: false,
                            ids: vec![ofproto::wire::oxm::OxmId::basic(BasicField::VLAN_VID)],
                        },
                    ],
                }])),
            ),
            vec![
                "OFPST_TABLE_FEATURES reply (OF1.3) (xid=0x1c)",
                "table 0 (\"classifier\"):",
                "max_entries=1000000",
                "next tables: 1-2",
                "instructions: meter apply_actions clear_actions write_actions write_metadata goto_table",
                "Write-Actions features:",
                "actions: output group",
                "Apply-Actions features:",
                "actions: output strip_vlan push_vlan",
                "supported on Set-Field: eth_dst",
                "supported on Set-Field: vlan_vid",
                "matching:",
                "exact match or wildcard: in_port_oxm",
                "must exact match: eth_type",
            ],
        ),
        (
            "queue-config-reply",
            Message::new(
                29,
                Body::QueueGetConfigReply(QueueGetConfigReply {
                    port: 1,
                    queues: vec![
                        PacketQueue {
                            queue_id: 1,
                            port: 1,
                            properties: vec![QueueProp::MinRate(500), QueueProp::MaxRate(800)],
                        },
                        PacketQueue {
                            queue_id: 2,
                            port: 1,
                            properties: vec![],
                        },
                    ],
                }),
            ),
            vec![
                "OFPT_QUEUE_GET_CONFIG_REPLY (OF1.3) (xid=0x1d): port=1",
                "queue 1: min_rate:50.0% max_rate:80.0%",
                "queue 2:",
            ],
        ),
        (
            "role-reply",
            Message::new(
                30,
                Body::RoleReply(Role {
                    role: 2,
                    generation_id: 7,
                }),
            ),
            vec!["OFPT_ROLE_REPLY (OF1.3) (xid=0x1e): role=primary generation_id=7"],
        ),
        (
            "get-async-reply",
            Message::new(
                31,
                Body::GetAsyncReply(AsyncConfig {
                    packet_in_mask: [0b11, 0b1],
                    port_status_mask: [0b111, 0],
                    flow_removed_mask: [0b1, 0],
                }),
            ),
            vec![
                "OFPT_GET_ASYNC_REPLY (OF1.3) (xid=0x1f)",
                "primary:\n       PACKET_IN: no_match action\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle\n",
                "secondary:\n       PACKET_IN: no_match\n     PORT_STATUS: (off)\n    FLOW_REMOVED: (off)\n",
            ],
        ),
    ]
}

#[test]
fn ovs_ofctl_prints_our_switch_side_messages() {
    let Some(ofctl) =
        ovs::require_program("ovs-ofctl", "ovs_ofctl_prints_our_switch_side_messages")
    else {
        return;
    };
    let mut failures = Vec::new();
    let verbose = std::env::var("RVS_SHOW_OFP_PRINT").is_ok();
    for (name, msg, expected) in cases() {
        let bytes = msg.to_vec();
        if let Err(e) = openflow_support::check_round_trip(&bytes) {
            failures.push(format!("{name}: our own round trip: {e}"));
        }
        match ofproto::wire::decode(&bytes) {
            Ok(back) if back == msg => {}
            other => failures.push(format!("{name}: decode gave {other:?}, built {msg:?}")),
        }
        let text = match ovs::ofp_print(&ofctl, &bytes) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: {e:#}"));
                continue;
            }
        };
        if verbose {
            println!("--- {name}: {}\n{text}", hex::encode(&bytes));
        }
        if text.contains("***") {
            failures.push(format!(
                "{name}: OVS reports a decode problem:\n{text}\nhex: {}",
                hex::encode(&bytes)
            ));
        }
        for frag in expected {
            if !text.contains(frag) {
                failures.push(format!("{name}: missing {frag:?} in:\n{text}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
