//! A scripted OpenDaylight-style session over a controller channel: the
//! handshake and discovery requests ODL's OpenFlow plugin sends, role
//! negotiation, then periodic statistics polling, every reply checked.

mod channel_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use channel_support::*;
use ofproto::wire::action::Action;
use ofproto::wire::consts::{self, OFP_NO_BUFFER};
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{
    Bucket, FlowMod, GroupMod, MeterMod, Role, controller_role, flow_mod_command,
    group_mod_command, group_type, meter_flags, meter_mod_command,
};
use ofproto::wire::multipart::{FlowStatsRequest, MeterBand, OFPMPF_REPLY_MORE};
use ofproto::wire::oxm::{BasicField, Match, OxmField};
use ofproto::wire::{
    Body, Message, MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody,
};

fn mp(body: MultipartRequestBody) -> Body {
    Body::MultipartRequest(MultipartRequest { flags: 0, body })
}

/// Sends a multipart request and collects every reply part (checking
/// xids and the MORE flag).
async fn multipart(c: &mut Peer, body: MultipartRequestBody) -> Vec<MultipartReplyBody> {
    let xid = c.request(mp(body)).await;
    let mut parts = Vec::new();
    for _ in 0..10_000 {
        let m = c.recv().await;
        assert_eq!(m.xid, xid, "reply to our request: {m:?}");
        match m.body {
            Body::MultipartReply(MultipartReply { flags, body }) => {
                parts.push(body);
                if flags & OFPMPF_REPLY_MORE == 0 {
                    return parts;
                }
            }
            b => panic!("expected a multipart reply, got {b:?}"),
        }
    }
    panic!("endless multipart reply");
}

async fn single(c: &mut Peer, body: MultipartRequestBody) -> MultipartReplyBody {
    let mut p = multipart(c, body).await;
    assert_eq!(p.len(), 1);
    p.remove(0)
}

fn all_flows() -> FlowStatsRequest {
    FlowStatsRequest {
        table_id: consts::table::ALL,
        out_port: consts::port::ANY,
        out_group: consts::group::ANY,
        cookie: 0,
        cookie_mask: 0,
        match_: Match::default(),
    }
}

#[tokio::test]
async fn opendaylight_style_session() {
    let (l, t) = controller_listener().await;
    let sw = Arc::new(Mutex::new(switch()));
    let ch = spawn(&sw, config(&[t]));
    let mut c = accept(&l).await;

    // Discovery.
    match c.call(Body::FeaturesRequest).await.body {
        Body::FeaturesReply(f) => {
            assert_eq!(f.datapath_id, 0x0000_1234_5678_9abc);
            assert_eq!(f.n_tables, 255);
            assert_eq!(f.auxiliary_id, 0);
        }
        b => panic!("{b:?}"),
    }
    match single(&mut c, MultipartRequestBody::Desc).await {
        MultipartReplyBody::Desc(d) => {
            assert_eq!(d.mfr_desc, "rvs");
            assert_eq!(d.hw_desc, "rvs userspace switch");
        }
        b => panic!("{b:?}"),
    }
    match single(&mut c, MultipartRequestBody::MeterFeatures).await {
        MultipartReplyBody::MeterFeatures(m) => {
            assert!(m.max_meter > 0);
            assert!(m.band_types & (1 << 1) != 0, "drop bands");
        }
        b => panic!("{b:?}"),
    }
    match single(&mut c, MultipartRequestBody::GroupFeatures).await {
        MultipartReplyBody::GroupFeatures(g) => {
            assert_eq!(g.types & 0b1111, 0b1111, "all, select, indirect, ff");
            assert!(g.max_groups[0] > 0);
        }
        b => panic!("{b:?}"),
    }
    let parts = multipart(&mut c, MultipartRequestBody::TableFeatures(vec![])).await;
    assert!(parts.len() > 1, "table features come in several parts");
    let ids: Vec<u8> = parts
        .iter()
        .flat_map(|p| match p {
            MultipartReplyBody::TableFeatures(t) => {
                t.iter().map(|f| f.table_id).collect::<Vec<_>>()
            }
            b => panic!("{b:?}"),
        })
        .collect();
    assert_eq!(ids, (0..=254).collect::<Vec<u8>>());
    match single(&mut c, MultipartRequestBody::PortDesc).await {
        MultipartReplyBody::PortDesc(ports) => {
            let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, vec!["p1", "p2"]);
            assert_eq!(ports[0].port_no, 1);
        }
        b => panic!("{b:?}"),
    }

    // Roles: NOCHANGE to learn the current state, then MASTER.
    let role = |r, g| {
        Body::RoleRequest(Role {
            role: r,
            generation_id: g,
        })
    };
    assert_eq!(
        c.call(role(controller_role::NOCHANGE, 0)).await.body,
        Body::RoleReply(Role {
            role: controller_role::EQUAL,
            generation_id: 0
        })
    );
    assert_eq!(
        c.call(role(controller_role::MASTER, 1)).await.body,
        Body::RoleReply(Role {
            role: controller_role::MASTER,
            generation_id: 1
        })
    );
    assert_eq!(ch.status()[0].role, "master");

    // Program a flow, a group and a meter, then barrier.
    c.request(Body::GroupMod(GroupMod {
        command: group_mod_command::ADD,
        group_type: group_type::ALL,
        group_id: 7,
        buckets: vec![Bucket {
            weight: 0,
            watch_port: consts::port::ANY,
            watch_group: consts::group::ANY,
            actions: vec![Action::Output {
                port: 2,
                max_len: 0,
            }],
        }],
    }))
    .await;
    c.request(Body::MeterMod(MeterMod {
        command: meter_mod_command::ADD,
        flags: meter_flags::KBPS | meter_flags::STATS,
        meter_id: 3,
        bands: vec![MeterBand::Drop {
            rate: 1000,
            burst_size: 0,
        }],
    }))
    .await;
    c.request(Body::FlowMod(FlowMod {
        cookie: 0xabc,
        cookie_mask: 0,
        table_id: 0,
        command: flow_mod_command::ADD,
        idle_timeout: 0,
        hard_timeout: 0,
        priority: 200,
        buffer_id: OFP_NO_BUFFER,
        out_port: consts::port::ANY,
        out_group: consts::group::ANY,
        flags: 0,
        match_: Match {
            fields: vec![OxmField::exact(BasicField::IN_PORT, 1)],
        },
        instructions: vec![
            Instruction::Meter(3),
            Instruction::ApplyActions(vec![Action::Group(7)]),
        ],
    }))
    .await;
    assert!(matches!(
        c.call(Body::BarrierRequest).await.body,
        Body::BarrierReply
    ));

    // Periodic statistics, as the plugin polls them (every 1.1 s here,
    // real time; the flow's age can only grow).
    for round in 0..4u32 {
        let echo = c
            .request(Body::EchoRequest(round.to_be_bytes().to_vec()))
            .await;
        let m = c.recv().await;
        assert_eq!(
            m,
            Message::new(echo, Body::EchoReply(round.to_be_bytes().to_vec()))
        );

        match single(&mut c, MultipartRequestBody::Flow(all_flows())).await {
            MultipartReplyBody::Flow(f) => {
                assert_eq!(f.len(), 1);
                assert_eq!((f[0].cookie, f[0].priority, f[0].table_id), (0xabc, 200, 0));
                assert!(
                    f[0].duration_sec >= round,
                    "round {round}: {}",
                    f[0].duration_sec
                );
            }
            b => panic!("{b:?}"),
        }
        match single(&mut c, MultipartRequestBody::Table).await {
            MultipartReplyBody::Table(t) => {
                assert_eq!(t.len(), 255);
                assert_eq!(t[0].active_count, 1);
                assert!(t[1..].iter().all(|x| x.active_count == 0));
            }
            b => panic!("{b:?}"),
        }
        match single(&mut c, MultipartRequestBody::PortStats(consts::port::ANY)).await {
            MultipartReplyBody::PortStats(p) => {
                let nos: Vec<u32> = p.iter().map(|x| x.port_no).collect();
                assert_eq!(nos, vec![1, 2]);
            }
            b => panic!("{b:?}"),
        }
        match single(&mut c, MultipartRequestBody::Group(consts::group::ALL)).await {
            MultipartReplyBody::Group(g) => {
                assert_eq!(g.len(), 1);
                assert_eq!((g[0].group_id, g[0].ref_count), (7, 1));
                assert_eq!(g[0].bucket_stats.len(), 1);
            }
            b => panic!("{b:?}"),
        }
        match single(&mut c, MultipartRequestBody::Meter(consts::meter::ALL)).await {
            MultipartReplyBody::Meter(m) => {
                assert_eq!(m.len(), 1);
                assert_eq!((m[0].meter_id, m[0].flow_count), (3, 1));
                assert_eq!(m[0].band_stats.len(), 1);
            }
            b => panic!("{b:?}"),
        }
        let st = &ch.status()[0];
        assert_eq!(
            (st.is_connected, st.state, st.role),
            (true, "ACTIVE", "master")
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    ch.shutdown().await;
    assert!(c.expect_eof(10).await.is_empty(), "closed at shutdown");
}
