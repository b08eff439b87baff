//! The switch core in memory: every request message, bytes in, exact
//! replies and errors out; group and meter semantics; timeouts with a fake
//! clock; large replies split at 64 KiB.

use ofproto::switch::{ConnCtx, Switch, SwitchSettings};
use ofproto::wire::action::Action;
use ofproto::wire::consts::{self, OFP_NO_BUFFER};
use ofproto::wire::error::{
    bad_action, bad_instruction, bad_request, flow_mod_failed, group_mod_failed, meter_mod_failed,
    port_mod_failed, queue_op_failed, switch_config_failed, table_features_failed,
    table_mod_failed,
};
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{
    Bucket, FlowMod, GroupMod, MeterMod, PacketIn, PacketOut, Port, PortMod, Role, SwitchConfig,
    TableMod, config_flags, flow_mod_command, flow_mod_flags, flow_removed_reason,
    group_mod_command, group_type, meter_flags, meter_mod_command, port_config, port_reason,
};
use ofproto::wire::multipart::{FlowStatsRequest, MeterBand, OFPMPF_REPLY_MORE};
use ofproto::wire::oxm::{BasicField, Match, OxmField};
use ofproto::wire::{
    Body, ErrorType, Message, MultipartReply, MultipartReplyBody, MultipartRequest,
    MultipartRequestBody,
};

const XID: u32 = 0x77;
const MASTER: ConnCtx = ConnCtx { is_slave: false };

fn port(n: u32) -> Port {
    Port {
        port_no: n,
        hw_addr: [0x02, 0, 0, 0, 0, n as u8],
        name: format!("p{n}"),
        ..Port::default()
    }
}

fn switch() -> Switch {
    let mut sw = Switch::new(SwitchSettings::default());
    let mut out = Vec::new();
    sw.add_port(port(1), 0, &mut out);
    sw.add_port(port(2), 0, &mut out);
    assert_eq!(out.len(), 2);
    sw
}

fn send_at(sw: &mut Switch, conn: ConnCtx, body: Body, now: u64) -> Vec<Message> {
    let raw = Message::new(XID, body).to_vec();
    let mut out = Vec::new();
    sw.handle(conn, &raw, now, &mut out);
    // Everything we produce must encode and decode back to itself.
    for m in &out {
        let bytes = m.to_vec();
        assert!(bytes.len() <= 65535);
        assert_eq!(&Message::decode(&bytes).expect("reply decodes"), m);
    }
    out
}

fn send(sw: &mut Switch, body: Body) -> Vec<Message> {
    send_at(sw, MASTER, body, 0)
}

fn error(out: &[Message]) -> (ErrorType, u16) {
    assert_eq!(out.len(), 1, "expected one error, got {out:?}");
    assert_eq!(out[0].xid, XID);
    match &out[0].body {
        Body::Error(e) => (e.etype, e.code),
        b => panic!("expected an error, got {b:?}"),
    }
}

fn flow_mod(table_id: u8, command: u8, m: Match, ins: Vec<Instruction>) -> FlowMod {
    FlowMod {
        cookie: 0,
        cookie_mask: 0,
        table_id,
        command,
        idle_timeout: 0,
        hard_timeout: 0,
        priority: 100,
        buffer_id: OFP_NO_BUFFER,
        out_port: consts::port::ANY,
        out_group: consts::group::ANY,
        flags: 0,
        match_: m,
        instructions: ins,
    }
}

fn output(p: u32) -> Vec<Instruction> {
    vec![Instruction::ApplyActions(vec![Action::Output {
        port: p,
        max_len: 0,
    }])]
}

fn m_in_port(p: u32) -> Match {
    Match {
        fields: vec![OxmField::exact(BasicField::IN_PORT, u128::from(p))],
    }
}

fn add(sw: &mut Switch, fm: FlowMod) {
    let out = send(sw, Body::FlowMod(fm));
    assert!(out.is_empty(), "add failed: {out:?}");
}

fn mp(sw: &mut Switch, body: MultipartRequestBody, now: u64) -> Vec<MultipartReply> {
    send_at(
        sw,
        MASTER,
        Body::MultipartRequest(MultipartRequest { flags: 0, body }),
        now,
    )
    .into_iter()
    .map(|m| match m.body {
        Body::MultipartReply(r) => r,
        b => panic!("expected a multipart reply, got {b:?}"),
    })
    .collect()
}

fn mp_one(sw: &mut Switch, body: MultipartRequestBody, now: u64) -> MultipartReplyBody {
    let mut v = mp(sw, body, now);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].flags, 0);
    v.remove(0).body
}

fn all_flows() -> FlowStatsRequest {
    FlowStatsRequest {
        table_id: consts::table::ALL,
        out_port: consts::port::ANY,
        out_group: consts::group::ANY,
        cookie: 0,
        cookie_mask: 0,
        match_: Match::new(),
    }
}

fn flow_count(sw: &mut Switch) -> usize {
    match mp_one(sw, MultipartRequestBody::Flow(all_flows()), 0) {
        MultipartReplyBody::Flow(v) => v.len(),
        b => panic!("{b:?}"),
    }
}

fn removed(out: &[Message]) -> Vec<(u8, u16)> {
    out.iter()
        .filter_map(|m| match &m.body {
            Body::FlowRemoved(f) => {
                assert_eq!(m.xid, 0);
                Some((f.reason, f.priority))
            }
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Simple requests.

#[test]
fn echo_features_barrier_config() {
    let mut sw = switch();
    let out = send(&mut sw, Body::EchoRequest(b"abc".to_vec()));
    assert_eq!(
        out,
        vec![Message::new(XID, Body::EchoReply(b"abc".to_vec()))]
    );

    let out = send(&mut sw, Body::FeaturesRequest);
    match &out[..] {
        [
            Message {
                xid: XID,
                body: Body::FeaturesReply(f),
            },
        ] => {
            assert_eq!(f.datapath_id, 1);
            assert_eq!(f.n_tables, 255);
            assert_eq!(f.n_buffers, 0);
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        send(&mut sw, Body::BarrierRequest),
        vec![Message::new(XID, Body::BarrierReply)]
    );

    let cfg = SwitchConfig {
        flags: config_flags::FRAG_DROP,
        miss_send_len: 0xffff,
    };
    assert!(send(&mut sw, Body::SetConfig(cfg.clone())).is_empty());
    assert_eq!(
        send(&mut sw, Body::GetConfigRequest),
        vec![Message::new(XID, Body::GetConfigReply(cfg))]
    );
    let reasm = SwitchConfig {
        flags: config_flags::FRAG_REASM,
        miss_send_len: 128,
    };
    assert_eq!(
        error(&send(&mut sw, Body::SetConfig(reasm))),
        (
            ErrorType::SWITCH_CONFIG_FAILED,
            switch_config_failed::BAD_FLAGS
        )
    );
}

#[test]
fn channel_messages_get_no_answer_and_replies_are_bad_type() {
    let mut sw = switch();
    assert!(send(&mut sw, Body::RoleRequest(Role::default())).is_empty());
    assert!(send(&mut sw, Body::GetAsyncRequest).is_empty());
    assert!(send(&mut sw, Body::EchoReply(vec![])).is_empty());
    let pin = PacketIn {
        buffer_id: OFP_NO_BUFFER,
        total_len: 0,
        reason: 0,
        table_id: 0,
        cookie: 0,
        match_: Match::new(),
        data: vec![],
    };
    for b in [
        Body::PacketIn(pin),
        Body::BarrierReply,
        Body::GetConfigReply(SwitchConfig::default()),
    ] {
        assert_eq!(
            error(&send(&mut sw, b)),
            (ErrorType::BAD_REQUEST, bad_request::BAD_TYPE)
        );
    }
    let exp = Body::Experimenter {
        experimenter: 0x2320,
        exp_type: 1,
        data: vec![],
    };
    assert_eq!(
        error(&send(&mut sw, exp)),
        (ErrorType::BAD_REQUEST, bad_request::BAD_EXPERIMENTER)
    );
}

#[test]
fn undecodable_message_is_answered_with_its_error() {
    let mut sw = switch();
    let mut raw = Message::new(XID, Body::BarrierRequest).to_vec();
    raw[0] = 1; // OpenFlow 1.0
    let mut out = Vec::new();
    sw.handle(MASTER, &raw, 0, &mut out);
    assert_eq!(
        error(&out),
        (ErrorType::BAD_REQUEST, bad_request::BAD_VERSION)
    );
    match &out[0].body {
        Body::Error(e) => assert_eq!(e.data, raw),
        _ => unreachable!(),
    }
}

#[test]
fn slave_cannot_change_state() {
    let mut sw = switch();
    let slave = ConnCtx { is_slave: true };
    let fm = flow_mod(0, flow_mod_command::ADD, Match::new(), output(1));
    let out = send_at(&mut sw, slave, Body::FlowMod(fm), 0);
    assert_eq!(error(&out), (ErrorType::BAD_REQUEST, bad_request::IS_SLAVE));
    assert_eq!(flow_count(&mut sw), 0);
    // Reading is fine.
    let out = send_at(&mut sw, slave, Body::FeaturesRequest, 0);
    assert!(matches!(out[0].body, Body::FeaturesReply(_)));
}

// ---------------------------------------------------------------------------
// FLOW_MOD.

#[test]
fn flow_mod_errors() {
    let mut sw = switch();
    let cases: Vec<(FlowMod, (ErrorType, u16))> = vec![
        (
            flow_mod(255, flow_mod_command::ADD, Match::new(), output(1)),
            (ErrorType::FLOW_MOD_FAILED, flow_mod_failed::BAD_TABLE_ID),
        ),
        (
            flow_mod(255, flow_mod_command::MODIFY, Match::new(), output(1)),
            (ErrorType::FLOW_MOD_FAILED, flow_mod_failed::BAD_TABLE_ID),
        ),
        (
            flow_mod(0, 9, Match::new(), output(1)),
            (ErrorType::FLOW_MOD_FAILED, flow_mod_failed::BAD_COMMAND),
        ),
        (
            flow_mod(
                3,
                flow_mod_command::ADD,
                Match::new(),
                vec![Instruction::GotoTable(3)],
            ),
            (ErrorType::BAD_INSTRUCTION, bad_instruction::BAD_TABLE_ID),
        ),
        (
            flow_mod(
                3,
                flow_mod_command::ADD,
                Match::new(),
                vec![Instruction::GotoTable(1)],
            ),
            (ErrorType::BAD_INSTRUCTION, bad_instruction::BAD_TABLE_ID),
        ),
        (
            flow_mod(
                254,
                flow_mod_command::ADD,
                Match::new(),
                vec![Instruction::GotoTable(255)],
            ),
            (ErrorType::BAD_INSTRUCTION, bad_instruction::BAD_TABLE_ID),
        ),
        (
            flow_mod(
                0,
                flow_mod_command::ADD,
                Match::new(),
                vec![Instruction::ApplyActions(vec![Action::Group(5)])],
            ),
            (ErrorType::BAD_ACTION, bad_action::BAD_OUT_GROUP),
        ),
        (
            flow_mod(
                0,
                flow_mod_command::ADD,
                Match::new(),
                vec![Instruction::Meter(1)],
            ),
            (ErrorType::METER_MOD_FAILED, meter_mod_failed::UNKNOWN_METER),
        ),
        (
            // tcp_dst without ip_proto=6 in the match.
            flow_mod(
                0,
                flow_mod_command::ADD,
                Match::new(),
                vec![Instruction::ApplyActions(vec![Action::SetField(
                    OxmField::exact(BasicField::TCP_DST, 80),
                )])],
            ),
            (ErrorType::BAD_ACTION, bad_action::MATCH_INCONSISTENT),
        ),
        (
            flow_mod(0, flow_mod_command::ADD, Match::new(), output(0)),
            (ErrorType::BAD_ACTION, bad_action::BAD_OUT_PORT),
        ),
        (
            flow_mod(0, flow_mod_command::ADD, Match::new(), output(0xffff_fff0)),
            (ErrorType::BAD_ACTION, bad_action::BAD_OUT_PORT),
        ),
        (
            FlowMod {
                buffer_id: 7,
                ..flow_mod(0, flow_mod_command::ADD, Match::new(), output(1))
            },
            (ErrorType::BAD_REQUEST, bad_request::BUFFER_UNKNOWN),
        ),
        (
            FlowMod {
                flags: 1 << 7,
                ..flow_mod(0, flow_mod_command::ADD, Match::new(), output(1))
            },
            (ErrorType::FLOW_MOD_FAILED, flow_mod_failed::BAD_FLAGS),
        ),
    ];
    for (fm, want) in cases {
        assert_eq!(
            error(&send(&mut sw, Body::FlowMod(fm.clone()))),
            want,
            "{fm:?}"
        );
    }
    assert_eq!(flow_count(&mut sw), 0);
}

#[test]
fn flow_mod_accepts_what_ovs_accepts() {
    let mut sw = switch();
    // Output to a port that does not exist (yet): accepted, as OVS does.
    add(
        &mut sw,
        flow_mod(0, flow_mod_command::ADD, m_in_port(1), output(99)),
    );
    // Goto forward, reserved ports, set-field with its prerequisite.
    let tcp = Match {
        fields: vec![
            OxmField::exact(BasicField::ETH_TYPE, 0x0800),
            OxmField::exact(BasicField::IP_PROTO, 6),
        ],
    };
    let ins = vec![
        Instruction::ApplyActions(vec![
            Action::SetField(OxmField::exact(BasicField::TCP_DST, 80)),
            Action::Output {
                port: consts::port::CONTROLLER,
                max_len: 128,
            },
        ]),
        Instruction::GotoTable(254),
    ];
    add(&mut sw, flow_mod(0, flow_mod_command::ADD, tcp, ins));
    // Push VLAN makes a VLAN set-field consistent, push MPLS an MPLS one.
    let ins = vec![Instruction::ApplyActions(vec![
        Action::PushVlan(0x8100),
        Action::SetField(OxmField::exact(BasicField::VLAN_VID, 0x1000 | 10)),
        Action::PushMpls(0x8847),
        Action::SetField(OxmField::exact(BasicField::MPLS_LABEL, 10)),
        Action::Output {
            port: consts::port::TABLE,
            max_len: 0,
        },
    ])];
    add(
        &mut sw,
        flow_mod(1, flow_mod_command::ADD, Match::new(), ins),
    );
    // ... but a pop takes the VLAN away again.
    let ins = vec![Instruction::ApplyActions(vec![
        Action::PushVlan(0x8100),
        Action::PopVlan,
        Action::SetField(OxmField::exact(BasicField::VLAN_PCP, 1)),
    ])];
    assert_eq!(
        error(&send(
            &mut sw,
            Body::FlowMod(flow_mod(1, flow_mod_command::ADD, Match::new(), ins))
        )),
        (ErrorType::BAD_ACTION, bad_action::MATCH_INCONSISTENT)
    );
    assert_eq!(flow_count(&mut sw), 3);
}

#[test]
fn overlap_modify_delete_and_flow_removed() {
    let mut sw = switch();
    let mut fm = flow_mod(0, flow_mod_command::ADD, m_in_port(1), output(2));
    fm.flags = flow_mod_flags::SEND_FLOW_REM;
    fm.cookie = 0x10;
    add(&mut sw, fm.clone());
    let mut fm2 = flow_mod(0, flow_mod_command::ADD, Match::new(), output(1));
    fm2.flags = flow_mod_flags::CHECK_OVERLAP;
    assert_eq!(
        error(&send(&mut sw, Body::FlowMod(fm2.clone()))),
        (ErrorType::FLOW_MOD_FAILED, flow_mod_failed::OVERLAP)
    );
    fm2.priority = 50;
    add(&mut sw, fm2);
    let mut fm3 = flow_mod(5, flow_mod_command::ADD, m_in_port(2), output(1));
    fm3.flags = flow_mod_flags::SEND_FLOW_REM;
    fm3.cookie = 0x20;
    add(&mut sw, fm3);

    // Modify with a cookie filter changes only the matching rule.
    let mut m = flow_mod(
        0,
        flow_mod_command::MODIFY,
        Match::new(),
        output(consts::port::LOCAL),
    );
    m.cookie = 0x10;
    m.cookie_mask = 0xff;
    add(&mut sw, m);
    match mp_one(&mut sw, MultipartRequestBody::Flow(all_flows()), 0) {
        MultipartReplyBody::Flow(v) => {
            assert_eq!(v.len(), 3);
            let changed: Vec<_> = v
                .iter()
                .filter(|f| f.instructions == output(consts::port::LOCAL))
                .collect();
            assert_eq!(changed.len(), 1);
            assert_eq!(changed[0].cookie, 0x10);
        }
        b => panic!("{b:?}"),
    }

    // Delete across all tables, filtered by out_port: only the rule that
    // outputs to port 1 in table 5 and the priority-50 one in table 0.
    let mut d = flow_mod(255, flow_mod_command::DELETE, Match::new(), vec![]);
    d.out_port = 1;
    let out = send(&mut sw, Body::FlowMod(d));
    // Only the table-5 one has SEND_FLOW_REM.
    assert_eq!(removed(&out), vec![(flow_removed_reason::DELETE, 100)]);
    assert_eq!(out.len(), 1);
    assert_eq!(flow_count(&mut sw), 1);

    // Delete strict needs the exact priority.
    let mut d = flow_mod(0, flow_mod_command::DELETE_STRICT, m_in_port(1), vec![]);
    d.priority = 99;
    assert!(send(&mut sw, Body::FlowMod(d.clone())).is_empty());
    d.priority = 100;
    let out = send(&mut sw, Body::FlowMod(d));
    assert_eq!(removed(&out), vec![(flow_removed_reason::DELETE, 100)]);
    assert_eq!(flow_count(&mut sw), 0);
}

#[test]
fn timeouts_with_a_fake_clock() {
    let mut sw = switch();
    let mut hard = flow_mod(0, flow_mod_command::ADD, m_in_port(1), output(2));
    hard.hard_timeout = 10;
    hard.flags = flow_mod_flags::SEND_FLOW_REM;
    add(&mut sw, hard);
    let mut idle = flow_mod(1, flow_mod_command::ADD, m_in_port(2), output(1));
    idle.idle_timeout = 5;
    idle.priority = 7;
    idle.flags = flow_mod_flags::SEND_FLOW_REM;
    add(&mut sw, idle);
    let mut quiet = flow_mod(2, flow_mod_command::ADD, m_in_port(2), output(1));
    quiet.idle_timeout = 1;
    add(&mut sw, quiet);
    assert_eq!(sw.next_expiry(), Some(1000));

    let mut out = Vec::new();
    sw.expire(999, &mut out);
    assert!(out.is_empty());
    assert_eq!(flow_count(&mut sw), 3);
    sw.expire(1000, &mut out);
    assert!(out.is_empty(), "no SEND_FLOW_REM on the quiet rule");
    assert_eq!(flow_count(&mut sw), 2);
    sw.expire(5000, &mut out);
    assert_eq!(removed(&out), vec![(flow_removed_reason::IDLE_TIMEOUT, 7)]);
    out.clear();
    sw.expire(10_000, &mut out);
    assert_eq!(
        removed(&out),
        vec![(flow_removed_reason::HARD_TIMEOUT, 100)]
    );
    match &out[0].body {
        Body::FlowRemoved(f) => {
            assert_eq!(f.duration_sec, 10);
            assert_eq!(f.table_id, 0);
            assert_eq!(f.hard_timeout, 10);
        }
        _ => unreachable!(),
    }
    assert_eq!(flow_count(&mut sw), 0);
}

// ---------------------------------------------------------------------------
// GROUP_MOD.

fn group(id: u32, gtype: u8, buckets: Vec<Vec<Action>>) -> GroupMod {
    GroupMod {
        command: group_mod_command::ADD,
        group_type: gtype,
        group_id: id,
        buckets: buckets
            .into_iter()
            .map(|actions| Bucket {
                weight: if gtype == group_type::SELECT { 1 } else { 0 },
                watch_port: if gtype == group_type::FF {
                    1
                } else {
                    consts::port::ANY
                },
                watch_group: consts::group::ANY,
                actions,
            })
            .collect(),
    }
}

fn out_act(p: u32) -> Vec<Action> {
    vec![Action::Output {
        port: p,
        max_len: 0,
    }]
}

#[test]
fn group_mod_semantics() {
    let mut sw = switch();
    let g1 = group(1, group_type::ALL, vec![out_act(1), out_act(2)]);
    assert!(send(&mut sw, Body::GroupMod(g1.clone())).is_empty());
    assert_eq!(
        error(&send(&mut sw, Body::GroupMod(g1.clone()))),
        (ErrorType::GROUP_MOD_FAILED, group_mod_failed::GROUP_EXISTS)
    );
    let bad: Vec<(GroupMod, (ErrorType, u16))> = vec![
        (
            group(2, group_type::INDIRECT, vec![out_act(1), out_act(2)]),
            (ErrorType::GROUP_MOD_FAILED, group_mod_failed::INVALID_GROUP),
        ),
        (
            group(consts::group::ALL, group_type::ALL, vec![out_act(1)]),
            (ErrorType::GROUP_MOD_FAILED, group_mod_failed::INVALID_GROUP),
        ),
        (
            group(2, 9, vec![out_act(1)]),
            (ErrorType::GROUP_MOD_FAILED, group_mod_failed::BAD_TYPE),
        ),
        (
            group(2, group_type::ALL, vec![vec![Action::Group(3)]]),
            (ErrorType::BAD_ACTION, bad_action::BAD_OUT_GROUP),
        ),
        (
            group(2, group_type::ALL, vec![vec![Action::Group(2)]]),
            (ErrorType::GROUP_MOD_FAILED, group_mod_failed::LOOP),
        ),
        (
            GroupMod {
                command: group_mod_command::MODIFY,
                ..group(3, group_type::ALL, vec![out_act(1)])
            },
            (ErrorType::GROUP_MOD_FAILED, group_mod_failed::UNKNOWN_GROUP),
        ),
        (
            GroupMod {
                command: 7,
                ..group(3, group_type::ALL, vec![out_act(1)])
            },
            (ErrorType::GROUP_MOD_FAILED, group_mod_failed::BAD_COMMAND),
        ),
    ];
    for (gm, want) in bad {
        assert_eq!(
            error(&send(&mut sw, Body::GroupMod(gm.clone()))),
            want,
            "{gm:?}"
        );
    }
    // Bucket rules (as Open vSwitch checks them).
    let mut ff = group(4, group_type::FF, vec![out_act(1)]);
    ff.buckets[0].watch_port = consts::port::ANY;
    assert_eq!(
        error(&send(&mut sw, Body::GroupMod(ff.clone()))),
        (ErrorType::GROUP_MOD_FAILED, group_mod_failed::INVALID_GROUP)
    );
    ff.buckets[0].watch_port = 0xffff_ff10;
    assert_eq!(
        error(&send(&mut sw, Body::GroupMod(ff.clone()))),
        (ErrorType::GROUP_MOD_FAILED, group_mod_failed::BAD_WATCH)
    );
    let mut watched_all = group(5, group_type::ALL, vec![out_act(1)]);
    watched_all.buckets[0].watch_port = 1;
    assert_eq!(
        error(&send(&mut sw, Body::GroupMod(watched_all))),
        (
            ErrorType::GROUP_MOD_FAILED,
            group_mod_failed::WATCH_UNSUPPORTED
        )
    );
    let mut weighted_all = group(5, group_type::ALL, vec![out_act(1)]);
    weighted_all.buckets[0].weight = 3;
    assert_eq!(
        error(&send(&mut sw, Body::GroupMod(weighted_all))),
        (ErrorType::GROUP_MOD_FAILED, group_mod_failed::INVALID_GROUP)
    );
    ff.buckets[0].watch_port = 1;
    assert!(send(&mut sw, Body::GroupMod(ff)).is_empty());

    // Chain 2 -> 1, then try to close 1 -> 2: a loop.
    let g2 = group(2, group_type::INDIRECT, vec![vec![Action::Group(1)]]);
    assert!(send(&mut sw, Body::GroupMod(g2)).is_empty());
    let loop_ = GroupMod {
        command: group_mod_command::MODIFY,
        ..group(1, group_type::ALL, vec![vec![Action::Group(2)]])
    };
    assert_eq!(
        error(&send(&mut sw, Body::GroupMod(loop_))),
        (ErrorType::GROUP_MOD_FAILED, group_mod_failed::LOOP)
    );
    // Group 1 is chained from 2: cannot be deleted.
    let del1 = GroupMod {
        command: group_mod_command::DELETE,
        ..group(1, group_type::ALL, vec![])
    };
    assert_eq!(
        error(&send(&mut sw, Body::GroupMod(del1.clone()))),
        (ErrorType::GROUP_MOD_FAILED, group_mod_failed::CHAINED_GROUP)
    );

    // A flow using group 2; stats show the references.
    let mut fm = flow_mod(
        0,
        flow_mod_command::ADD,
        Match::new(),
        vec![Instruction::WriteActions(vec![Action::Group(2)])],
    );
    fm.flags = flow_mod_flags::SEND_FLOW_REM;
    add(&mut sw, fm);
    match mp_one(
        &mut sw,
        MultipartRequestBody::Group(consts::group::ALL),
        3000,
    ) {
        MultipartReplyBody::Group(v) => {
            let refs: Vec<(u32, u32)> = v.iter().map(|g| (g.group_id, g.ref_count)).collect();
            assert_eq!(refs, vec![(1, 1), (2, 1), (4, 0)]);
            assert_eq!(v[0].duration_sec, 3);
            assert_eq!(v[0].bucket_stats.len(), 2);
        }
        b => panic!("{b:?}"),
    }
    match mp_one(&mut sw, MultipartRequestBody::Group(2), 0) {
        MultipartReplyBody::Group(v) => assert_eq!(v.len(), 1),
        b => panic!("{b:?}"),
    }
    match mp_one(&mut sw, MultipartRequestBody::GroupDesc, 0) {
        MultipartReplyBody::GroupDesc(v) => {
            assert_eq!(v.len(), 3);
            assert_eq!(v[0].buckets, g1.buckets);
        }
        b => panic!("{b:?}"),
    }
    match mp_one(&mut sw, MultipartRequestBody::GroupFeatures, 0) {
        MultipartReplyBody::GroupFeatures(f) => {
            assert_eq!(f.types, 0b1111);
            assert!(f.actions[0] & 1 != 0);
        }
        b => panic!("{b:?}"),
    }

    // Deleting group 2 removes the flow (GROUP_DELETE); then 1 can go.
    let del2 = GroupMod {
        command: group_mod_command::DELETE,
        ..group(2, group_type::ALL, vec![])
    };
    let out = send(&mut sw, Body::GroupMod(del2));
    assert_eq!(
        removed(&out),
        vec![(flow_removed_reason::GROUP_DELETE, 100)]
    );
    assert_eq!(flow_count(&mut sw), 0);
    assert!(send(&mut sw, Body::GroupMod(del1.clone())).is_empty());
    // Deleting an unknown group is not an error; OFPG_ALL empties the table.
    assert!(send(&mut sw, Body::GroupMod(del1)).is_empty());
    let all = GroupMod {
        command: group_mod_command::DELETE,
        ..group(consts::group::ALL, group_type::ALL, vec![])
    };
    assert!(send(&mut sw, Body::GroupMod(all)).is_empty());
    assert!(sw.groups().is_empty());
}

// ---------------------------------------------------------------------------
// METER_MOD.

fn meter(command: u16, id: u32, flags: u16, bands: Vec<MeterBand>) -> MeterMod {
    MeterMod {
        command,
        flags,
        meter_id: id,
        bands,
    }
}

fn drop_band(rate: u32) -> MeterBand {
    MeterBand::Drop {
        rate,
        burst_size: 0,
    }
}

#[test]
fn meter_mod_semantics() {
    let mut sw = switch();
    let m1 = meter(
        meter_mod_command::ADD,
        1,
        meter_flags::KBPS | meter_flags::STATS,
        vec![drop_band(1000)],
    );
    assert!(send(&mut sw, Body::MeterMod(m1.clone())).is_empty());
    let bad: Vec<(MeterMod, u16)> = vec![
        (m1.clone(), meter_mod_failed::METER_EXISTS),
        (
            meter(
                meter_mod_command::ADD,
                0,
                meter_flags::KBPS,
                vec![drop_band(1)],
            ),
            meter_mod_failed::INVALID_METER,
        ),
        (
            meter(
                meter_mod_command::ADD,
                consts::meter::CONTROLLER,
                meter_flags::KBPS,
                vec![drop_band(1)],
            ),
            meter_mod_failed::INVALID_METER,
        ),
        (
            meter(
                meter_mod_command::MODIFY,
                9,
                meter_flags::KBPS,
                vec![drop_band(1)],
            ),
            meter_mod_failed::UNKNOWN_METER,
        ),
        (
            meter(
                meter_mod_command::ADD,
                2,
                meter_flags::KBPS | meter_flags::PKTPS,
                vec![drop_band(1)],
            ),
            meter_mod_failed::BAD_FLAGS,
        ),
        (
            meter(
                meter_mod_command::ADD,
                2,
                meter_flags::KBPS,
                vec![drop_band(0)],
            ),
            meter_mod_failed::BAD_RATE,
        ),
        (
            meter(
                meter_mod_command::ADD,
                2,
                meter_flags::KBPS,
                vec![MeterBand::Experimenter {
                    rate: 5,
                    burst_size: 0,
                    experimenter: 0x2320,
                    data: vec![],
                }],
            ),
            meter_mod_failed::BAD_BAND,
        ),
        (
            meter(9, 2, meter_flags::KBPS, vec![drop_band(1)]),
            meter_mod_failed::BAD_COMMAND,
        ),
    ];
    for (mm, code) in bad {
        assert_eq!(
            error(&send(&mut sw, Body::MeterMod(mm.clone()))),
            (ErrorType::METER_MOD_FAILED, code),
            "{mm:?}"
        );
    }
    // Modify keeps the id; bands change.
    let m1b = meter(
        meter_mod_command::MODIFY,
        1,
        meter_flags::PKTPS,
        vec![
            drop_band(100),
            MeterBand::DscpRemark {
                rate: 50,
                burst_size: 0,
                prec_level: 1,
            },
        ],
    );
    assert!(send(&mut sw, Body::MeterMod(m1b.clone())).is_empty());
    match mp_one(
        &mut sw,
        MultipartRequestBody::MeterConfig(consts::meter::ALL),
        0,
    ) {
        MultipartReplyBody::MeterConfig(v) => {
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].flags, meter_flags::PKTPS);
            assert_eq!(v[0].bands, m1b.bands);
        }
        b => panic!("{b:?}"),
    }
    let mut fm = flow_mod(
        0,
        flow_mod_command::ADD,
        m_in_port(1),
        vec![Instruction::Meter(1)],
    );
    fm.flags = flow_mod_flags::SEND_FLOW_REM;
    add(&mut sw, fm);
    match mp_one(&mut sw, MultipartRequestBody::Meter(1), 2500) {
        MultipartReplyBody::Meter(v) => {
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].flow_count, 1);
            assert_eq!(v[0].duration_sec, 2);
            assert_eq!(v[0].band_stats.len(), 2);
        }
        b => panic!("{b:?}"),
    }
    match mp_one(&mut sw, MultipartRequestBody::MeterFeatures, 0) {
        MultipartReplyBody::MeterFeatures(f) => {
            assert_eq!(f.band_types, 0b110);
            assert!(f.max_bands >= 2);
        }
        b => panic!("{b:?}"),
    }
    // Deleting the meter removes its flow (METER_DELETE).
    let out = send(
        &mut sw,
        Body::MeterMod(meter(
            meter_mod_command::DELETE,
            consts::meter::ALL,
            0,
            vec![],
        )),
    );
    assert_eq!(
        removed(&out),
        vec![(flow_removed_reason::METER_DELETE, 100)]
    );
    assert!(sw.meters().is_empty());
    assert_eq!(flow_count(&mut sw), 0);
}

// ---------------------------------------------------------------------------
// PORT_MOD, TABLE_MOD, QUEUE_GET_CONFIG, PACKET_OUT.

#[test]
fn port_mod_semantics() {
    let mut sw = switch();
    let pm = PortMod {
        port_no: 1,
        hw_addr: port(1).hw_addr,
        config: port_config::PORT_DOWN,
        mask: port_config::PORT_DOWN,
        advertise: 0,
    };
    let out = send(&mut sw, Body::PortMod(pm.clone()));
    match &out[..] {
        [
            Message {
                xid: 0,
                body: Body::PortStatus(s),
            },
        ] => {
            assert_eq!(s.reason, port_reason::MODIFY);
            assert_eq!(s.desc.config, port_config::PORT_DOWN);
        }
        o => panic!("{o:?}"),
    }
    // No change, no PORT_STATUS.
    assert!(send(&mut sw, Body::PortMod(pm.clone())).is_empty());
    let pmf = ErrorType::PORT_MOD_FAILED;
    let cases = [
        (
            PortMod {
                port_no: 9,
                ..pm.clone()
            },
            port_mod_failed::BAD_PORT,
        ),
        (
            PortMod {
                hw_addr: [0; 6],
                ..pm.clone()
            },
            port_mod_failed::BAD_HW_ADDR,
        ),
        (
            PortMod {
                config: 1 << 1,
                mask: 1 << 1,
                ..pm.clone()
            },
            port_mod_failed::BAD_CONFIG,
        ),
    ];
    for (pm, code) in cases {
        assert_eq!(error(&send(&mut sw, Body::PortMod(pm))), (pmf, code));
    }
    match mp_one(&mut sw, MultipartRequestBody::PortDesc, 0) {
        MultipartReplyBody::PortDesc(v) => {
            assert_eq!(v.len(), 2);
            assert_eq!(v[0].config, port_config::PORT_DOWN);
        }
        b => panic!("{b:?}"),
    }
}

#[test]
fn table_mod_queue_config_packet_out() {
    let mut sw = switch();
    assert!(
        send(
            &mut sw,
            Body::TableMod(TableMod {
                table_id: 3,
                config: 3
            })
        )
        .is_empty()
    );
    assert_eq!(sw.table_config(3), Some(3));
    assert!(
        send(
            &mut sw,
            Body::TableMod(TableMod {
                table_id: 255,
                config: 0
            })
        )
        .is_empty()
    );
    assert_eq!(
        error(&send(
            &mut sw,
            Body::TableMod(TableMod {
                table_id: 0,
                config: 4
            })
        )),
        (ErrorType::TABLE_MOD_FAILED, table_mod_failed::BAD_CONFIG)
    );

    match &send(&mut sw, Body::QueueGetConfigRequest(1))[..] {
        [
            Message {
                xid: XID,
                body: Body::QueueGetConfigReply(q),
            },
        ] => {
            assert_eq!(q.port, 1);
            assert!(q.queues.is_empty());
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        error(&send(&mut sw, Body::QueueGetConfigRequest(9))),
        (ErrorType::QUEUE_OP_FAILED, queue_op_failed::BAD_PORT)
    );

    let po = PacketOut {
        buffer_id: OFP_NO_BUFFER,
        in_port: consts::port::CONTROLLER,
        actions: vec![Action::Output {
            port: consts::port::TABLE,
            max_len: 0,
        }],
        data: vec![1, 2, 3],
    };
    assert!(send(&mut sw, Body::PacketOut(po.clone())).is_empty());
    assert_eq!(sw.out_packets.len(), 1);
    assert_eq!(sw.out_packets[0].data, vec![1, 2, 3]);
    assert_eq!(sw.out_packets[0].in_port, consts::port::CONTROLLER);
    let cases = [
        (
            PacketOut {
                buffer_id: 5,
                ..po.clone()
            },
            (ErrorType::BAD_REQUEST, bad_request::BUFFER_UNKNOWN),
        ),
        (
            PacketOut {
                in_port: 0,
                ..po.clone()
            },
            (ErrorType::BAD_REQUEST, bad_request::BAD_PORT),
        ),
        (
            PacketOut {
                actions: vec![Action::Group(3)],
                ..po.clone()
            },
            (ErrorType::BAD_ACTION, bad_action::BAD_OUT_GROUP),
        ),
    ];
    for (po, want) in cases {
        assert_eq!(error(&send(&mut sw, Body::PacketOut(po))), want);
    }
    assert_eq!(sw.out_packets.len(), 1);
}

// ---------------------------------------------------------------------------
// MULTIPART.

#[test]
fn stats_requests() {
    let mut sw = switch();
    match mp_one(&mut sw, MultipartRequestBody::Desc, 0) {
        MultipartReplyBody::Desc(d) => assert_eq!(d.mfr_desc, "rvs"),
        b => panic!("{b:?}"),
    }
    add(
        &mut sw,
        flow_mod(0, flow_mod_command::ADD, m_in_port(1), output(2)),
    );
    add(
        &mut sw,
        flow_mod(7, flow_mod_command::ADD, m_in_port(2), output(1)),
    );
    let rule = sw.tables()[7].classifier().iter().next().unwrap().clone();
    rule.data.record(3, 300, 500);
    match mp_one(&mut sw, MultipartRequestBody::Table, 0) {
        MultipartReplyBody::Table(v) => {
            assert_eq!(v.len(), 255);
            assert_eq!(v[0].active_count, 1);
            assert_eq!(v[7].active_count, 1);
            assert_eq!(v[8].active_count, 0);
            assert_eq!(v[254].table_id, 254);
        }
        b => panic!("{b:?}"),
    }
    let mut req = all_flows();
    req.table_id = 7;
    match mp_one(&mut sw, MultipartRequestBody::Flow(req.clone()), 1500) {
        MultipartReplyBody::Flow(v) => {
            assert_eq!(v.len(), 1);
            assert_eq!((v[0].packet_count, v[0].byte_count), (3, 300));
            assert_eq!((v[0].duration_sec, v[0].duration_nsec), (1, 500_000_000));
            assert_eq!(v[0].table_id, 7);
        }
        b => panic!("{b:?}"),
    }
    match mp_one(&mut sw, MultipartRequestBody::Aggregate(all_flows()), 0) {
        MultipartReplyBody::Aggregate(a) => {
            assert_eq!((a.flow_count, a.packet_count, a.byte_count), (2, 3, 300))
        }
        b => panic!("{b:?}"),
    }
    req.table_id = 255;
    req.out_port = 2;
    match mp_one(&mut sw, MultipartRequestBody::Aggregate(req.clone()), 0) {
        MultipartReplyBody::Aggregate(a) => assert_eq!(a.flow_count, 1),
        b => panic!("{b:?}"),
    }
    match mp_one(
        &mut sw,
        MultipartRequestBody::PortStats(consts::port::ANY),
        2000,
    ) {
        MultipartReplyBody::PortStats(v) => {
            assert_eq!(v.len(), 2);
            assert_eq!(v[1].port_no, 2);
            assert_eq!(v[1].duration_sec, 2);
        }
        b => panic!("{b:?}"),
    }
    let queue = MultipartRequestBody::Queue {
        port_no: consts::port::ANY,
        queue_id: 0xffff_ffff,
    };
    assert_eq!(mp_one(&mut sw, queue, 0), MultipartReplyBody::Queue(vec![]));

    let req_err = |sw: &mut Switch, body| {
        error(&send(
            sw,
            Body::MultipartRequest(MultipartRequest { flags: 0, body }),
        ))
    };
    assert_eq!(
        req_err(&mut sw, MultipartRequestBody::PortStats(9)),
        (ErrorType::BAD_REQUEST, bad_request::BAD_PORT)
    );
    assert_eq!(
        req_err(
            &mut sw,
            MultipartRequestBody::Queue {
                port_no: 9,
                queue_id: 0xffff_ffff
            }
        ),
        (ErrorType::QUEUE_OP_FAILED, queue_op_failed::BAD_PORT)
    );
    assert_eq!(
        req_err(
            &mut sw,
            MultipartRequestBody::Experimenter {
                experimenter: 0x2320,
                exp_type: 0,
                data: vec![],
            }
        ),
        (ErrorType::BAD_REQUEST, bad_request::BAD_EXPERIMENTER)
    );
}

fn check_split(replies: &[MultipartReply]) {
    assert!(replies.len() > 1, "expected a split reply");
    for (i, r) in replies.iter().enumerate() {
        let last = i + 1 == replies.len();
        assert_eq!(r.flags & OFPMPF_REPLY_MORE != 0, !last);
    }
}

#[test]
fn table_features_are_split_and_set_is_eperm() {
    let mut sw = switch();
    let replies = mp(&mut sw, MultipartRequestBody::TableFeatures(vec![]), 0);
    check_split(&replies);
    let mut tables = Vec::new();
    for r in replies {
        match r.body {
            MultipartReplyBody::TableFeatures(v) => tables.extend(v),
            b => panic!("{b:?}"),
        }
    }
    assert_eq!(tables.len(), 255);
    assert!(
        tables
            .iter()
            .enumerate()
            .all(|(i, t)| usize::from(t.table_id) == i)
    );
    let set = tables[..1].to_vec();
    let out = send(
        &mut sw,
        Body::MultipartRequest(MultipartRequest {
            flags: 0,
            body: MultipartRequestBody::TableFeatures(set),
        }),
    );
    assert_eq!(
        error(&out),
        (
            ErrorType::TABLE_FEATURES_FAILED,
            table_features_failed::EPERM
        )
    );
}

#[test]
fn large_flow_dump_is_split_at_64k() {
    let mut sw = switch();
    let n = 3000u32;
    for i in 0..n {
        let m = Match {
            fields: vec![
                OxmField::exact(BasicField::ETH_TYPE, 0x0800),
                OxmField::exact(BasicField::IPV4_SRC, u128::from(0x0a00_0000 + i)),
            ],
        };
        add(&mut sw, flow_mod(0, flow_mod_command::ADD, m, output(1)));
    }
    let replies = mp(&mut sw, MultipartRequestBody::Flow(all_flows()), 0);
    check_split(&replies);
    let total: usize = replies
        .iter()
        .map(|r| match &r.body {
            MultipartReplyBody::Flow(v) => v.len(),
            b => panic!("{b:?}"),
        })
        .sum();
    assert_eq!(total, n as usize);
}

#[test]
fn table_features_content_and_table_full() {
    use ofproto::wire::instruction::InstructionType;
    use ofproto::wire::table_features::TableFeatureProp;
    let sw = switch();
    let tf = sw.table_features();
    let next = |t: usize| {
        tf[t].properties.iter().find_map(|p| match p {
            TableFeatureProp::NextTables {
                miss: false,
                tables,
            } => Some(tables.clone()),
            _ => None,
        })
    };
    let has_goto = |t: usize| {
        tf[t].properties.iter().any(|p| {
            matches!(p, TableFeatureProp::Instructions { miss: false, ids }
                if ids.iter().any(|i| i.id_type == InstructionType::GOTO_TABLE.0))
        })
    };
    assert_eq!(next(0).unwrap(), (1..=254).collect::<Vec<u8>>());
    assert_eq!(next(254).unwrap(), Vec::<u8>::new());
    assert!(has_goto(0));
    assert!(!has_goto(254));

    let mut small = Switch::new(SwitchSettings {
        max_flows_per_table: 1,
        n_tables: 4,
        ..SwitchSettings::default()
    });
    add(
        &mut small,
        flow_mod(0, flow_mod_command::ADD, m_in_port(1), output(2)),
    );
    // Replacing the same rule is allowed; a new one is not.
    add(
        &mut small,
        flow_mod(0, flow_mod_command::ADD, m_in_port(1), output(3)),
    );
    assert_eq!(
        error(&send(
            &mut small,
            Body::FlowMod(flow_mod(0, flow_mod_command::ADD, m_in_port(2), output(1)))
        )),
        (ErrorType::FLOW_MOD_FAILED, flow_mod_failed::TABLE_FULL)
    );
    // Only tables 0..4 exist.
    assert_eq!(
        error(&send(
            &mut small,
            Body::FlowMod(flow_mod(4, flow_mod_command::ADD, m_in_port(2), output(1)))
        )),
        (ErrorType::FLOW_MOD_FAILED, flow_mod_failed::BAD_TABLE_ID)
    );
    assert_eq!(
        error(&send(
            &mut small,
            Body::FlowMod(flow_mod(
                2,
                flow_mod_command::ADD,
                m_in_port(2),
                vec![Instruction::GotoTable(4)]
            ))
        )),
        (ErrorType::BAD_INSTRUCTION, bad_instruction::BAD_TABLE_ID)
    );
    match mp_one(&mut small, MultipartRequestBody::Table, 0) {
        MultipartReplyBody::Table(v) => assert_eq!(v.len(), 4),
        b => panic!("{b:?}"),
    }
}

#[test]
fn replace_and_modify_keep_counters_unless_reset_counts() {
    let mut sw = switch();
    let counts = |sw: &mut Switch| match mp_one(sw, MultipartRequestBody::Flow(all_flows()), 0) {
        MultipartReplyBody::Flow(v) => {
            assert_eq!(v.len(), 1);
            (v[0].packet_count, v[0].instructions.clone())
        }
        b => panic!("{b:?}"),
    };
    let credit = |sw: &Switch| {
        let r = sw.tables()[0].classifier().iter().next().unwrap().clone();
        r.data.record(5, 500, 10);
    };
    add(
        &mut sw,
        flow_mod(0, flow_mod_command::ADD, m_in_port(1), output(2)),
    );
    credit(&sw);
    // Identical match and priority: replaced, counters kept.
    add(
        &mut sw,
        flow_mod(0, flow_mod_command::ADD, m_in_port(1), output(3)),
    );
    assert_eq!(counts(&mut sw), (5, output(3)));
    // Modify without and with RESET_COUNTS.
    add(
        &mut sw,
        flow_mod(0, flow_mod_command::MODIFY, Match::new(), output(4)),
    );
    assert_eq!(counts(&mut sw), (5, output(4)));
    let mut m = flow_mod(0, flow_mod_command::MODIFY_STRICT, m_in_port(1), output(1));
    m.flags = flow_mod_flags::RESET_COUNTS;
    add(&mut sw, m);
    assert_eq!(counts(&mut sw), (0, output(1)));
    credit(&sw);
    let mut r = flow_mod(0, flow_mod_command::ADD, m_in_port(1), output(2));
    r.flags = flow_mod_flags::RESET_COUNTS;
    add(&mut sw, r);
    assert_eq!(counts(&mut sw), (0, output(2)));
    // Modify selecting nothing adds nothing (OpenFlow 1.2+).
    add(
        &mut sw,
        flow_mod(3, flow_mod_command::MODIFY, Match::new(), output(4)),
    );
    assert_eq!(flow_count(&mut sw), 1);
}
