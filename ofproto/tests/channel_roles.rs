//! Controller channels: roles and generation ids, slave write refusal,
//! asynchronous masks, packet-in delivery, service-connection rules.

mod channel_support;

use std::sync::{Arc, Mutex};

use channel_support::*;
use ofproto::wire::error::{ErrorType, bad_request, role_request_failed};
use ofproto::wire::message::{
    AsyncConfig, FlowMod, FlowRemoved, Role, SwitchConfig, controller_role, flow_mod_command,
    flow_removed_reason, packet_in_reason, port_reason,
};
use ofproto::wire::oxm::Match;
use ofproto::wire::{Body, Message};

fn role(r: u32, generation_id: u64) -> Body {
    Body::RoleRequest(Role {
        role: r,
        generation_id,
    })
}

fn role_reply(m: &Message) -> (u32, u64) {
    match &m.body {
        Body::RoleReply(r) => (r.role, r.generation_id),
        b => panic!("expected a role reply, got {b:?}"),
    }
}

fn error_of(m: &Message) -> (ErrorType, u16) {
    match &m.body {
        Body::Error(e) => (e.etype, e.code),
        b => panic!("expected an error, got {b:?}"),
    }
}

fn add_flow(priority: u16) -> Body {
    Body::FlowMod(FlowMod {
        cookie: 0,
        cookie_mask: 0,
        table_id: 0,
        command: flow_mod_command::ADD,
        idle_timeout: 0,
        hard_timeout: 0,
        priority,
        buffer_id: ofproto::wire::consts::OFP_NO_BUFFER,
        out_port: ofproto::wire::consts::port::ANY,
        out_group: ofproto::wire::consts::group::ANY,
        flags: 0,
        match_: Match::default(),
        instructions: vec![],
    })
}

#[tokio::test]
async fn two_controllers_change_roles_with_generation_ids() {
    let (l, target) = controller_listener().await;
    let sw = Arc::new(Mutex::new(switch()));
    // The same target twice is one controller; use two listeners.
    let (l2, target2) = controller_listener().await;
    let ch = spawn(&sw, config(&[target.clone(), target2.clone()]));
    let mut a = accept(&l).await;
    let mut b = accept(&l2).await;
    use controller_role::*;
    // Both start EQUAL; NOCHANGE reports it, generation id 0 until one is set.
    assert_eq!(role_reply(&a.call(role(NOCHANGE, 99)).await), (EQUAL, 0));
    assert_eq!(ch.status()[0].role, "other");
    // A becomes master with generation 5.
    assert_eq!(role_reply(&a.call(role(MASTER, 5)).await), (MASTER, 5));
    // B with an older generation is stale.
    let m = b.call(role(MASTER, 4)).await;
    assert_eq!(
        error_of(&m),
        (ErrorType::ROLE_REQUEST_FAILED, role_request_failed::STALE)
    );
    // B with a newer one takes over; A is demoted and told so.
    assert_eq!(role_reply(&b.call(role(MASTER, 6)).await), (MASTER, 6));
    let got = a.fence().await;
    assert_eq!(got.len(), 1, "{got:?}");
    match &got[0].body {
        Body::Experimenter {
            experimenter,
            exp_type,
            data,
        } => {
            assert_eq!((*experimenter, *exp_type), (0x4f4e_4600, 1911));
            assert_eq!(&data[0..4], &SLAVE.to_be_bytes());
            assert_eq!(data[4], 0, "reason OFPCRR_MASTER_REQUEST");
            assert_eq!(&data[8..16], &6u64.to_be_bytes());
        }
        b => panic!("expected role status, got {b:?}"),
    }
    assert_eq!(role_reply(&a.call(role(NOCHANGE, 0)).await), (SLAVE, 6));
    let st = ch.status();
    assert_eq!((st[0].role, st[1].role), ("slave", "master"));
    // The slave cannot write; the master can.
    let m = a.call(add_flow(10)).await;
    assert_eq!(
        error_of(&m),
        (ErrorType::BAD_REQUEST, bad_request::IS_SLAVE)
    );
    assert!(b.fence().await.is_empty());
    b.request(add_flow(10)).await;
    assert!(b.fence().await.is_empty());
    assert_eq!(sw.lock().unwrap().tables()[0].len(), 1);
    // Reads are fine for a slave.
    assert!(matches!(
        a.call(Body::BarrierRequest).await.body,
        Body::BarrierReply
    ));
    // Re-asserting MASTER with the same generation is allowed and sends
    // nobody a role status.
    assert_eq!(role_reply(&b.call(role(MASTER, 6)).await), (MASTER, 6));
    assert!(a.fence().await.is_empty());
    // EQUAL ignores the generation id (even an old one).
    assert_eq!(role_reply(&a.call(role(EQUAL, 1)).await), (EQUAL, 6));
    // SLAVE checks it.
    let m = a.call(role(SLAVE, 2)).await;
    assert_eq!(error_of(&m).1, role_request_failed::STALE);
    // Generation ids compare with wrap-around: 6 + 2^63 - 1 is newer,
    // then 5 (more than half the space "ahead") is older.
    let newer = 6u64.wrapping_add((1 << 63) - 1);
    assert_eq!(
        role_reply(&a.call(role(SLAVE, newer)).await),
        (SLAVE, newer)
    );
    let m = b.call(role(MASTER, 6)).await;
    assert_eq!(error_of(&m).1, role_request_failed::STALE);
    let wrapped = newer.wrapping_add((1 << 63) - 1);
    assert!(wrapped < newer, "the id wrapped");
    assert_eq!(
        role_reply(&b.call(role(MASTER, wrapped)).await),
        (MASTER, wrapped)
    );
    // Unknown roles.
    let m = b.call(role(7, wrapped)).await;
    assert_eq!(error_of(&m).1, role_request_failed::BAD_ROLE);
    // A reconnected controller starts EQUAL again.
    drop(a);
    let mut a = accept(&l).await;
    assert_eq!(role_reply(&a.call(role(NOCHANGE, 0)).await).0, EQUAL);
    ch.shutdown().await;
}

#[tokio::test]
async fn async_messages_follow_roles_and_masks() {
    let (l1, t1) = controller_listener().await;
    let (l2, t2) = controller_listener().await;
    let (l3, t3) = controller_listener().await;
    let sw = Arc::new(Mutex::new(Double::new()));
    let ch = spawn(&sw, config(&[t1, t2, t3]));
    let mut master = accept(&l1).await;
    let mut slave = accept(&l2).await;
    let mut equal = accept(&l3).await;
    use controller_role::*;
    assert_eq!(role_reply(&master.call(role(MASTER, 1)).await).0, MASTER);
    assert_eq!(role_reply(&slave.call(role(SLAVE, 1)).await).0, SLAVE);
    let fr = |reason| {
        Message::new(
            0,
            Body::FlowRemoved(FlowRemoved {
                cookie: 1,
                priority: 1,
                reason,
                table_id: 0,
                duration_sec: 0,
                duration_nsec: 0,
                idle_timeout: 0,
                hard_timeout: 0,
                packet_count: 0,
                byte_count: 0,
                match_: Match::default(),
            }),
        )
    };
    let all = vec![
        packet_in(packet_in_reason::NO_MATCH, 10, 1),
        packet_in(packet_in_reason::ACTION, 10, 2),
        packet_in(packet_in_reason::INVALID_TTL, 10, 3),
        port_status(port_reason::ADD, 7),
        port_status(port_reason::MODIFY, 7),
        fr(flow_removed_reason::IDLE_TIMEOUT),
        fr(flow_removed_reason::DELETE),
    ];
    inject(&sw, all.clone()).await;
    // The spec's defaults.
    let want_master: Vec<Message> = vec![
        all[0].clone(),
        all[1].clone(),
        all[3].clone(),
        all[4].clone(),
        all[5].clone(),
        all[6].clone(),
    ];
    assert_eq!(master.fence().await, want_master);
    assert_eq!(equal.fence().await, want_master);
    assert_eq!(slave.fence().await, vec![all[3].clone(), all[4].clone()]);
    // GET_ASYNC reports the defaults.
    let defaults = AsyncConfig {
        packet_in_mask: [0b11, 0],
        port_status_mask: [0b111, 0b111],
        flow_removed_mask: [0b1111, 0],
    };
    assert_eq!(
        master.call(Body::GetAsyncRequest).await.body,
        Body::GetAsyncReply(defaults.clone())
    );
    // Per-connection masks: the master wants only invalid-TTL packet-ins
    // and no port status; the slave wants flow-removed deletes.
    let m_cfg = AsyncConfig {
        packet_in_mask: [1 << packet_in_reason::INVALID_TTL, 0],
        port_status_mask: [0, 0],
        flow_removed_mask: [0, 0],
    };
    master.request(Body::SetAsync(m_cfg.clone())).await;
    let s_cfg = AsyncConfig {
        flow_removed_mask: [0, 1 << flow_removed_reason::DELETE],
        ..defaults.clone()
    };
    slave.request(Body::SetAsync(s_cfg.clone())).await;
    assert_eq!(
        master.call(Body::GetAsyncRequest).await.body,
        Body::GetAsyncReply(m_cfg)
    );
    assert_eq!(
        slave.call(Body::GetAsyncRequest).await.body,
        Body::GetAsyncReply(s_cfg)
    );
    inject(&sw, all.clone()).await;
    assert_eq!(master.fence().await, vec![all[2].clone()]);
    assert_eq!(
        slave.fence().await,
        vec![all[3].clone(), all[4].clone(), all[6].clone()]
    );
    assert_eq!(equal.fence().await, want_master, "others unaffected");
    // The master's mask index 0 applies while it is master; demoted to
    // slave (by the equal one becoming master) it uses index 1.
    assert_eq!(role_reply(&equal.call(role(MASTER, 2)).await).0, MASTER);
    let got = master.fence().await;
    assert!(
        matches!(
            got.as_slice(),
            [Message {
                body: Body::Experimenter { .. },
                ..
            }]
        ),
        "{got:?}"
    );
    inject(&sw, all.clone()).await;
    assert!(
        master.fence().await.is_empty(),
        "slave index of its mask is empty"
    );
    drop((l1, l2, l3));
    ch.shutdown().await;
}

#[tokio::test]
async fn packet_ins_are_delivered_as_the_switch_made_them() {
    let (l, t) = controller_listener().await;
    let sw = Arc::new(Mutex::new(Double::new()));
    let ch = spawn(&sw, config(&[t]));
    let mut c = accept(&l).await;
    // Truncated (total_len 1500, 128 bytes of data), and a full one.
    let short = packet_in(packet_in_reason::NO_MATCH, 128, 0xaa);
    let full = packet_in(packet_in_reason::ACTION, 1500, 0xbb);
    let raw_short = short.to_vec();
    inject(&sw, vec![short.clone(), full.clone()]).await;
    let got = c.fence().await;
    assert_eq!(got, vec![short, full]);
    assert_eq!(got[0].to_vec(), raw_short, "byte for byte");
    match &got[0].body {
        Body::PacketIn(p) => {
            assert_eq!(
                (p.total_len, p.data.len(), p.buffer_id),
                (1500, 128, u32::MAX)
            );
            assert_eq!(p.cookie, 0xc0ffee);
        }
        b => panic!("{b:?}"),
    }
    ch.shutdown().await;
}

#[tokio::test]
async fn service_connections_get_async_only_after_set_config() {
    let dir = TempDir::new("svc");
    let sw = Arc::new(Mutex::new(Double::new()));
    let mut cfg = config(&[]);
    cfg.mgmt_path = Some(dir.path("br0.mgmt"));
    let ch = spawn(&sw, cfg);
    let mut p = Peer::connect_unix(&dir.path("br0.mgmt")).await;
    p.handshake().await;
    assert!(p.fence().await.is_empty());
    inject(&sw, vec![packet_in(0, 10, 1), port_add(9)]).await;
    assert!(
        p.fence().await.is_empty(),
        "service connection without miss_send_len"
    );
    p.request(Body::SetConfig(SwitchConfig {
        flags: 0,
        miss_send_len: 65535,
    }))
    .await;
    assert!(p.fence().await.is_empty());
    inject(&sw, vec![packet_in(0, 10, 1), port_add(9)]).await;
    assert_eq!(p.fence().await.len(), 2);
    // The miss length is the connection's own, as in Open vSwitch: the
    // switch's stays at its default and GET_CONFIG shows each its own.
    assert_eq!(sw.lock().unwrap().sw.config().miss_send_len, 128);
    match p.call(Body::GetConfigRequest).await.body {
        Body::GetConfigReply(c) => assert_eq!(c.miss_send_len, 65535),
        b => panic!("{b:?}"),
    }
    let mut q = Peer::connect_unix(&dir.path("br0.mgmt")).await;
    q.handshake().await;
    match q.call(Body::GetConfigRequest).await.body {
        Body::GetConfigReply(c) => assert_eq!(c.miss_send_len, 0),
        b => panic!("{b:?}"),
    }
    // Flags still reach the switch (ovs-ofctl set-frags).
    q.request(Body::SetConfig(SwitchConfig {
        flags: ofproto::wire::message::config_flags::FRAG_DROP,
        miss_send_len: 0,
    }))
    .await;
    assert!(q.fence().await.is_empty());
    assert_eq!(sw.lock().unwrap().sw.config().flags, 1);
    assert_eq!(sw.lock().unwrap().sw.config().miss_send_len, 128);
    drop(q);
    // Service connections do not count as controllers for status.
    assert!(ch.status().is_empty());
    wait_for("second connection gone", || ch.conn_stats().len() == 1).await;
    let stats = ch.conn_stats();
    assert_eq!(stats.len(), 1);
    assert!(!stats[0].primary);
    ch.shutdown().await;
}

#[tokio::test]
async fn requests_are_answered_per_connection() {
    // Replies go to the requester only; the async PORT_STATUS a PORT_MOD
    // causes goes to everybody who wants it.
    let (l1, t1) = controller_listener().await;
    let (l2, t2) = controller_listener().await;
    let sw = Arc::new(Mutex::new(switch()));
    let ch = spawn(&sw, config(&[t1, t2]));
    let mut a = accept(&l1).await;
    let mut b = accept(&l2).await;
    let pm = Body::PortMod(ofproto::wire::message::PortMod {
        port_no: 1,
        hw_addr: port(1).hw_addr,
        config: ofproto::wire::message::port_config::NO_FWD,
        mask: ofproto::wire::message::port_config::NO_FWD,
        advertise: 0,
    });
    let x = a.request(pm).await;
    let got_a = a.fence().await;
    let got_b = b.fence().await;
    assert_eq!(got_a.len(), 1, "{got_a:?}");
    assert!(matches!(got_a[0].body, Body::PortStatus(_)));
    assert_eq!(got_a, got_b);
    let m = a.call(Body::FeaturesRequest).await;
    assert!(m.xid > x);
    assert!(b.fence().await.is_empty());
    ch.shutdown().await;
}
