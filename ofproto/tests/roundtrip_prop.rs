//! Property test: random *valid* messages built from the public types
//! round-trip: `decode(encode(m)) == m`, and encoding the decoded message
//! gives the same bytes.  Matches are generated to satisfy the OpenFlow 1.3
//! prerequisites (computed here independently of the codec), values stay
//! within their field widths, masks only on maskable fields.

use bytes::BytesMut;
use ofproto::wire::action::Action;
use ofproto::wire::error::bad_request;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{
    AsyncConfig, Body, Bucket, ErrorMsg, FeaturesReply, FlowMod, FlowRemoved, GroupMod, Hello,
    Message, MeterMod, PacketIn, PacketOut, Port, PortMod, PortStatus, Role, SwitchConfig,
};
use ofproto::wire::multipart::{
    AggregateStats, Counter, Desc, FlowStats, FlowStatsRequest, GroupDesc, GroupStats, MeterBand,
    MeterConfig, MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody,
    PortStats, TableStats,
};
use ofproto::wire::oxm::{BasicField, Match, OxmField, Prereq};
use ofproto::wire::{ErrorType, decode, encode};
use proptest::collection::vec as pvec;
use proptest::prelude::*;

/// The choices that decide which fields' prerequisites hold.
#[derive(Clone, Copy, Debug)]
struct Base {
    in_port: Option<u32>,
    /// `Some((vid, mask))`: vlan_vid with OFPVID_PRESENT set in both.
    vlan: Option<(u16, Option<u16>)>,
    eth_type: Option<u16>,
    ip_proto: Option<u8>,
    icmpv6_type: Option<u8>,
}

impl Base {
    fn met(&self, p: Prereq) -> bool {
        let ipv4 = self.eth_type == Some(0x0800);
        let ipv6 = self.eth_type == Some(0x86dd);
        let ip = ipv4 || ipv6;
        let icmp6 = ipv6 && self.ip_proto == Some(58);
        match p {
            Prereq::None => true,
            Prereq::InPort => self.in_port.is_some(),
            Prereq::VlanPresent => self.vlan.is_some(),
            Prereq::IpAny => ip,
            Prereq::Ipv4 => ipv4,
            Prereq::Ipv6 => ipv6,
            Prereq::Arp => self.eth_type == Some(0x0806),
            Prereq::Mpls => matches!(self.eth_type, Some(0x8847 | 0x8848)),
            Prereq::Pbb => self.eth_type == Some(0x88e7),
            Prereq::Tcp => ip && self.ip_proto == Some(6),
            Prereq::Udp => ip && self.ip_proto == Some(17),
            Prereq::Sctp => ip && self.ip_proto == Some(132),
            Prereq::Icmpv4 => ipv4 && self.ip_proto == Some(1),
            Prereq::Icmpv6 => icmp6,
            Prereq::Nd => icmp6 && matches!(self.icmpv6_type, Some(135 | 136)),
            Prereq::NdSolicit => icmp6 && self.icmpv6_type == Some(135),
            Prereq::NdAdvert => icmp6 && self.icmpv6_type == Some(136),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

fn arb_base() -> impl Strategy<Value = Base> {
    let eth = prop_oneof![
        Just(None),
        Just(Some(0x0800u16)),
        Just(Some(0x86dd)),
        Just(Some(0x0806)),
        Just(Some(0x8847)),
        Just(Some(0x88e7)),
        Just(Some(0x1234)),
    ];
    let proto = prop_oneof![
        Just(None),
        Just(Some(6u8)),
        Just(Some(17)),
        Just(Some(132)),
        Just(Some(1)),
        Just(Some(58)),
        Just(Some(47))
    ];
    let nd = prop_oneof![
        Just(None),
        Just(Some(135u8)),
        Just(Some(136)),
        Just(Some(128))
    ];
    let vlan = prop_oneof![
        Just(None),
        (0u16..0x1000).prop_map(|v| Some((0x1000 | v, None))),
        (0u16..0x1000, 0u16..0x1000).prop_map(|(v, m)| Some((0x1000 | (v & m), Some(0x1000 | m)))),
    ];
    (
        proptest::option::of(1u32..0xffff_ff00),
        vlan,
        eth,
        proto,
        nd,
    )
        .prop_map(|(in_port, vlan, eth_type, proto, nd)| {
            let ip = matches!(eth_type, Some(0x0800 | 0x86dd));
            let ip_proto = if ip { proto } else { None };
            let icmpv6_type = if eth_type == Some(0x86dd) && ip_proto == Some(58) {
                nd
            } else {
                None
            };
            Base {
                in_port,
                vlan,
                eth_type,
                ip_proto,
                icmpv6_type,
            }
        })
}

/// Extra fields: (field code, value, mask, use the mask).
fn arb_match() -> impl Strategy<Value = Match> {
    (
        arb_base(),
        pvec(
            (0u8..40, any::<u128>(), any::<u128>(), any::<bool>()),
            0..10,
        ),
    )
        .prop_map(|(base, extras)| {
            let mut fields = Vec::new();
            if let Some(p) = base.in_port {
                fields.push(OxmField::exact(BasicField::IN_PORT, p.into()));
            }
            if let Some((v, m)) = base.vlan {
                fields.push(match m {
                    Some(m) => OxmField::masked(BasicField::VLAN_VID, v.into(), m.into()),
                    None => OxmField::exact(BasicField::VLAN_VID, v.into()),
                });
            }
            if let Some(e) = base.eth_type {
                fields.push(OxmField::exact(BasicField::ETH_TYPE, e.into()));
            }
            if let Some(p) = base.ip_proto {
                fields.push(OxmField::exact(BasicField::IP_PROTO, p.into()));
            }
            if let Some(t) = base.icmpv6_type {
                fields.push(OxmField::exact(BasicField::ICMPV6_TYPE, t.into()));
            }
            let fixed = [
                BasicField::IN_PORT,
                BasicField::VLAN_VID,
                BasicField::ETH_TYPE,
                BasicField::IP_PROTO,
                BasicField::ICMPV6_TYPE,
            ];
            let mut used: Vec<BasicField> = fixed.to_vec();
            for (code, v, m, use_mask) in extras {
                let field = BasicField(code);
                let info = field.info().expect("40 basic fields");
                if used.contains(&field) || !base.met(info.prereq) {
                    continue;
                }
                used.push(field);
                if info.maskable && use_mask {
                    let mask = m & info.width_mask();
                    fields.push(OxmField::masked(field, v & info.value_mask() & mask, mask));
                } else {
                    fields.push(OxmField::exact(field, v & info.value_mask()));
                }
            }
            Match { fields }
        })
}

fn arb_port_no() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..0xffff_ff00, 0xffff_fff8u32..=0xffff_fffe]
}

fn arb_set_field() -> impl Strategy<Value = OxmField> {
    (0u8..40, any::<u128>()).prop_filter_map("settable fields only", |(code, v)| {
        let field = BasicField(code);
        let info = field.info()?;
        if !info.settable {
            return None;
        }
        let mut value = v & info.value_mask();
        if field == BasicField::VLAN_VID {
            value |= 0x1000;
        }
        Some(OxmField::exact(field, value))
    })
}

fn arb_bytes8(max_words: usize) -> impl Strategy<Value = Vec<u8>> {
    pvec(any::<[u8; 8]>(), 0..=max_words).prop_map(|w| w.concat())
}

fn arb_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (arb_port_no(), any::<u16>()).prop_map(|(port, max_len)| Action::Output { port, max_len }),
        1 => Just(Action::CopyTtlOut),
        1 => Just(Action::CopyTtlIn),
        1 => any::<u8>().prop_map(Action::SetMplsTtl),
        1 => Just(Action::DecMplsTtl),
        1 => prop_oneof![Just(0x8100u16), Just(0x88a8)].prop_map(Action::PushVlan),
        1 => Just(Action::PopVlan),
        1 => prop_oneof![Just(0x8847u16), Just(0x8848)].prop_map(Action::PushMpls),
        1 => any::<u16>().prop_map(Action::PopMpls),
        1 => any::<u32>().prop_map(Action::SetQueue),
        1 => any::<u32>().prop_map(Action::Group),
        1 => any::<u8>().prop_map(Action::SetNwTtl),
        1 => Just(Action::DecNwTtl),
        4 => arb_set_field().prop_map(Action::SetField),
        1 => Just(Action::PushPbb(0x88e7)),
        1 => Just(Action::PopPbb),
        1 => (any::<u32>(), arb_bytes8(3)).prop_map(|(experimenter, data)| Action::Experimenter { experimenter, data }),
    ]
}

fn arb_actions() -> impl Strategy<Value = Vec<Action>> {
    pvec(arb_action(), 0..6)
}

/// At most one instruction of each type (repeats are OFPBIC_UNSUP_INST).
fn arb_instructions() -> impl Strategy<Value = Vec<Instruction>> {
    (
        proptest::option::of(any::<u32>()),
        proptest::option::of(arb_actions()),
        any::<bool>(),
        proptest::option::of(arb_actions()),
        proptest::option::of((any::<u64>(), any::<u64>())),
        proptest::option::of(0u8..=254),
        proptest::option::of((any::<u32>(), arb_bytes8(2))),
    )
        .prop_map(|(meter, apply, clear, write, meta, goto, exp)| {
            let mut v = Vec::new();
            v.extend(meter.map(Instruction::Meter));
            v.extend(apply.map(Instruction::ApplyActions));
            if clear {
                v.push(Instruction::ClearActions);
            }
            v.extend(write.map(Instruction::WriteActions));
            v.extend(meta.map(|(metadata, mask)| Instruction::WriteMetadata { metadata, mask }));
            v.extend(goto.map(Instruction::GotoTable));
            v.extend(
                exp.map(|(experimenter, data)| Instruction::Experimenter { experimenter, data }),
            );
            v
        })
}

fn arb_name(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9_.-]{{0,{max}}}")).expect("regex")
}

fn arb_port() -> impl Strategy<Value = Port> {
    (
        arb_port_no(),
        any::<[u8; 6]>(),
        arb_name(15),
        any::<[u32; 8]>(),
    )
        .prop_map(|(port_no, hw_addr, name, x)| Port {
            port_no,
            hw_addr,
            name,
            config: x[0],
            state: x[1],
            curr: x[2],
            advertised: x[3],
            supported: x[4],
            peer: x[5],
            curr_speed: x[6],
            max_speed: x[7],
        })
}

fn arb_buckets() -> impl Strategy<Value = Vec<Bucket>> {
    pvec(
        (any::<u16>(), any::<u32>(), any::<u32>(), arb_actions()).prop_map(
            |(weight, watch_port, watch_group, actions)| Bucket {
                weight,
                watch_port,
                watch_group,
                actions,
            },
        ),
        0..4,
    )
}

fn arb_bands() -> impl Strategy<Value = Vec<MeterBand>> {
    pvec(
        prop_oneof![
            (any::<u32>(), any::<u32>())
                .prop_map(|(rate, burst_size)| MeterBand::Drop { rate, burst_size }),
            (any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(rate, burst_size, prec_level)| {
                MeterBand::DscpRemark {
                    rate,
                    burst_size,
                    prec_level,
                }
            }),
            (any::<u32>(), any::<u32>(), any::<u32>(), arb_bytes8(2)).prop_map(
                |(rate, burst_size, experimenter, data)| {
                    MeterBand::Experimenter {
                        rate,
                        burst_size,
                        experimenter,
                        data,
                    }
                }
            ),
        ],
        0..4,
    )
}

fn arb_flow_mod() -> impl Strategy<Value = Body> {
    (
        any::<[u64; 2]>(),
        0u8..=255,
        0u8..=4,
        any::<[u16; 4]>(),
        any::<u32>(),
        arb_port_no(),
        any::<u32>(),
        arb_match(),
        arb_instructions(),
    )
        .prop_map(
            |(c, table_id, command, t, buffer_id, out_port, out_group, match_, instructions)| {
                Body::FlowMod(FlowMod {
                    cookie: c[0],
                    cookie_mask: c[1],
                    table_id,
                    command,
                    idle_timeout: t[0],
                    hard_timeout: t[1],
                    priority: t[2],
                    buffer_id,
                    out_port,
                    out_group,
                    flags: t[3] & 0x1f,
                    match_,
                    instructions,
                })
            },
        )
}

fn arb_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        4 => arb_flow_mod(),
        2 => (any::<u32>(), any::<u16>(), 0u8..3, any::<u8>(), any::<u64>(), arb_match(), pvec(any::<u8>(), 0..200)).prop_map(
            |(buffer_id, total_len, reason, table_id, cookie, match_, data)| Body::PacketIn(PacketIn {
                buffer_id, total_len, reason, table_id, cookie, match_, data })),
        2 => (any::<u32>(), arb_port_no(), arb_actions(), pvec(any::<u8>(), 0..200)).prop_map(
            |(buffer_id, in_port, actions, data)| Body::PacketOut(PacketOut { buffer_id, in_port, actions, data })),
        1 => (any::<u64>(), any::<u16>(), 0u8..4, any::<u8>(), any::<[u32; 2]>(), any::<[u16; 2]>(), any::<[u64; 2]>(), arb_match()).prop_map(
            |(cookie, priority, reason, table_id, d, t, n, match_)| Body::FlowRemoved(FlowRemoved {
                cookie, priority, reason, table_id, duration_sec: d[0], duration_nsec: d[1],
                idle_timeout: t[0], hard_timeout: t[1], packet_count: n[0], byte_count: n[1], match_ })),
        1 => (0u16..3, 0u8..4, any::<u32>(), arb_buckets()).prop_map(|(command, group_type, group_id, buckets)| {
            Body::GroupMod(GroupMod { command, group_type, group_id, buckets })
        }),
        1 => (0u16..3, any::<u16>(), any::<u32>(), arb_bands()).prop_map(|(command, flags, meter_id, bands)| {
            Body::MeterMod(MeterMod { command, flags: flags & 0xf, meter_id, bands })
        }),
        1 => (arb_port_no(), any::<[u8; 6]>(), any::<[u32; 3]>()).prop_map(|(port_no, hw_addr, x)| {
            Body::PortMod(PortMod { port_no, hw_addr, config: x[0], mask: x[1], advertise: x[2] })
        }),
        1 => (0u8..3, arb_port()).prop_map(|(reason, desc)| Body::PortStatus(PortStatus { reason, desc })),
        1 => (any::<u64>(), any::<u32>(), any::<u8>(), any::<u8>(), any::<[u32; 2]>()).prop_map(|(datapath_id, n_buffers, n_tables, auxiliary_id, c)| {
            Body::FeaturesReply(FeaturesReply { datapath_id, n_buffers, n_tables, auxiliary_id, capabilities: c[0], reserved: c[1] })
        }),
        1 => pvec(1u8..=6, 1..4).prop_map(|v| Body::Hello(Hello::with_versions(&v))),
        1 => pvec(any::<u8>(), 0..64).prop_map(Body::EchoRequest),
        1 => pvec(any::<u8>(), 0..64).prop_map(Body::EchoReply),
        1 => (0u16..14, any::<u16>(), pvec(any::<u8>(), 0..64)).prop_map(|(t, code, data)| {
            Body::Error(ErrorMsg { etype: ErrorType(t), code, experimenter: None, data })
        }),
        1 => (any::<u16>(), any::<u32>(), pvec(any::<u8>(), 0..64)).prop_map(|(code, exp, data)| {
            Body::Error(ErrorMsg { etype: ErrorType::EXPERIMENTER, code, experimenter: Some(exp), data })
        }),
        1 => (0u32..4, any::<u64>()).prop_map(|(role, generation_id)| Body::RoleRequest(Role { role, generation_id })),
        1 => (0u32..4, any::<u64>()).prop_map(|(role, generation_id)| Body::RoleReply(Role { role, generation_id })),
        1 => any::<[u32; 6]>().prop_map(|m| Body::SetAsync(AsyncConfig {
            packet_in_mask: [m[0], m[1]], port_status_mask: [m[2], m[3]], flow_removed_mask: [m[4], m[5]] })),
        1 => (any::<u16>(), any::<u16>()).prop_map(|(flags, miss_send_len)| Body::SetConfig(SwitchConfig { flags: flags & 3, miss_send_len })),
        1 => Just(Body::BarrierRequest),
        1 => Just(Body::FeaturesRequest),
        // Multipart requests with bodies.
        1 => (any::<bool>(), 0u8..=255, arb_port_no(), any::<u32>(), any::<[u64; 2]>(), arb_match()).prop_map(|(agg, table_id, out_port, out_group, c, match_)| {
            let r = FlowStatsRequest { table_id, out_port, out_group, cookie: c[0], cookie_mask: c[1], match_ };
            let body = if agg { MultipartRequestBody::Aggregate(r) } else { MultipartRequestBody::Flow(r) };
            Body::MultipartRequest(MultipartRequest { flags: 0, body })
        }),
        // Multipart replies.
        1 => (pvec((any::<u8>(), any::<[u32; 2]>(), any::<[u16; 4]>(), any::<[u64; 3]>(), arb_match(), arb_instructions()), 0..3), any::<bool>()).prop_map(|(v, more)| {
            let flows = v.into_iter().map(|(table_id, d, t, n, match_, instructions)| FlowStats {
                table_id, duration_sec: d[0], duration_nsec: d[1], priority: t[0], idle_timeout: t[1],
                hard_timeout: t[2], flags: t[3] & 0x1f, cookie: n[0], packet_count: n[1], byte_count: n[2],
                match_, instructions }).collect();
            Body::MultipartReply(MultipartReply { flags: u16::from(more), body: MultipartReplyBody::Flow(flows) })
        }),
        1 => pvec((0u8..4, any::<u32>(), arb_buckets()), 0..3).prop_map(|v| Body::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::GroupDesc(v.into_iter().map(|(group_type, group_id, buckets)| GroupDesc { group_type, group_id, buckets }).collect()),
        })),
        1 => pvec((any::<u16>(), any::<u32>(), arb_bands()), 0..3).prop_map(|v| Body::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::MeterConfig(v.into_iter().map(|(flags, meter_id, bands)| MeterConfig { flags: flags & 0xf, meter_id, bands }).collect()),
        })),
        1 => pvec((any::<[u32; 4]>(), any::<[u64; 2]>(), pvec(any::<[u64; 2]>(), 0..3)), 0..3).prop_map(|v| Body::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::Group(v.into_iter().map(|(a, b, c)| GroupStats {
                group_id: a[0], ref_count: a[1], packet_count: b[0], byte_count: b[1], duration_sec: a[2], duration_nsec: a[3],
                bucket_stats: c.into_iter().map(|x| Counter { packet_count: x[0], byte_count: x[1] }).collect() }).collect()),
        })),
        1 => pvec((any::<u8>(), any::<u32>(), any::<[u64; 2]>()), 0..4).prop_map(|v| Body::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::Table(v.into_iter().map(|(table_id, active_count, n)| TableStats {
                table_id, active_count, lookup_count: n[0], matched_count: n[1] }).collect()),
        })),
        1 => pvec((arb_port_no(), any::<[u64; 12]>(), any::<[u32; 2]>()), 0..3).prop_map(|v| Body::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::PortStats(v.into_iter().map(|(port_no, s, d)| PortStats {
                port_no, rx_packets: s[0], tx_packets: s[1], rx_bytes: s[2], tx_bytes: s[3], rx_dropped: s[4],
                tx_dropped: s[5], rx_errors: s[6], tx_errors: s[7], rx_frame_err: s[8], rx_over_err: s[9],
                rx_crc_err: s[10], collisions: s[11], duration_sec: d[0], duration_nsec: d[1] }).collect()),
        })),
        1 => pvec(arb_port(), 0..4).prop_map(|v| Body::MultipartReply(MultipartReply { flags: 0, body: MultipartReplyBody::PortDesc(v) })),
        1 => (arb_name(255), arb_name(255), arb_name(31), arb_name(255)).prop_map(|(a, b, s, d)| Body::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::Desc(Desc { mfr_desc: a, hw_desc: b, sw_desc: "rvs".into(), serial_num: s, dp_desc: d }),
        })),
        1 => any::<[u64; 2]>().prop_map(|n| Body::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::Aggregate(AggregateStats { packet_count: n[0], byte_count: n[1], flow_count: n[0] as u32 }),
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn valid_messages_round_trip(xid in any::<u32>(), body in arb_body()) {
        let msg = Message::new(xid, body);
        let mut bytes = BytesMut::new();
        encode(&msg, &mut bytes);
        prop_assert_eq!(usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), bytes.len());
        let back = decode(&bytes);
        prop_assert_eq!(back.as_ref(), Ok(&msg), "bytes {}", hex::encode(&bytes));
        let mut again = BytesMut::new();
        encode(back.as_ref().expect("checked"), &mut again);
        prop_assert_eq!(&again[..], &bytes[..]);
    }

    #[test]
    fn generated_matches_pass_validation(m in arb_match()) {
        prop_assert_eq!(m.validate(), Ok(()), "{:?}", m);
    }
}

/// Names are fixed-size byte fields on the wire and are kept as `String`.
/// Found by `decode_fuzz`: a name that is not UTF-8 (here a PORT_STATUS
/// whose 16-byte port name is all 0xff) could not be re-encoded to the bytes
/// received, so it is refused with the structure's length/format error
/// instead of being altered.  A UTF-8 name that fills the field, and one
/// too long for it, stay valid UTF-8 on the way out.
#[test]
fn port_names_that_are_not_utf8_are_refused_and_long_names_cut_cleanly() {
    let head = hex::decode("040c005000000001020000000000000000000001000000000200000000010000")
        .expect("hex");
    let mut m = head.clone();
    m.extend_from_slice(&[0xff; 16]);
    m.extend_from_slice(&[0; 32]);
    assert_eq!(m.len(), 0x50);
    let err = decode(&m).expect_err("a non-UTF-8 port name is refused");
    assert!(
        err.is(ErrorType::BAD_REQUEST, bad_request::BAD_LEN),
        "{err}"
    );

    // 15 two-byte characters: 30 bytes, cut to 16 at a character boundary.
    let mut m = head;
    m.extend_from_slice("é".repeat(8).as_bytes());
    m.extend_from_slice(&[0; 32]);
    let mut msg = decode(&m).expect("a UTF-8 name that fills the field decodes");
    let mut out = BytesMut::new();
    encode(&msg, &mut out);
    assert_eq!(hex::encode(&out), hex::encode(&m));
    if let Body::PortStatus(ps) = &mut msg.body {
        ps.desc.name = "é".repeat(15);
    } else {
        panic!("not a PORT_STATUS: {msg:?}");
    }
    let mut out = BytesMut::new();
    encode(&msg, &mut out);
    let back = decode(&out).expect("a cut name is still UTF-8");
    match back.body {
        Body::PortStatus(ps) => assert_eq!(ps.desc.name, "é".repeat(8)),
        other => panic!("not a PORT_STATUS: {other:?}"),
    }
}
