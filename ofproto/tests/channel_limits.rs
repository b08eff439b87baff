//! Controller channels under load: barrier ordering after 10,000
//! flow-mods, a controller that never reads, packet-in rate limiting,
//! reply overflow, and fail-open.

mod channel_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use channel_support::*;
use ofproto::channel::{ChannelConfig, ChannelLimits, ControllerConfig, FailMode};
use ofproto::wire::error::{ErrorType, flow_mod_failed};
use ofproto::wire::message::{FlowMod, flow_mod_command};
use ofproto::wire::oxm::{BasicField, Match, OxmField};
use ofproto::wire::{Body, Message, MultipartRequest, MultipartRequestBody};

/// A flow-mod adding `in_port=N,priority=100` (distinct matches: the
/// classifier keeps equal matches of different priorities in one list).
fn flow_mod(table_id: u8, n: u32) -> Body {
    Body::FlowMod(FlowMod {
        cookie: u64::from(n),
        cookie_mask: 0,
        table_id,
        command: flow_mod_command::ADD,
        idle_timeout: 0,
        hard_timeout: 0,
        priority: 100,
        buffer_id: ofproto::wire::consts::OFP_NO_BUFFER,
        out_port: ofproto::wire::consts::port::ANY,
        out_group: ofproto::wire::consts::group::ANY,
        flags: 0,
        match_: Match {
            fields: vec![OxmField::exact(BasicField::IN_PORT, u128::from(n))],
        },
        instructions: vec![],
    })
}

// On the multi-threaded runtime: the channel's tasks really run in
// parallel with the test's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barrier_reply_follows_every_reply_of_a_10000_flow_mod_burst() {
    let (l, t) = controller_listener().await;
    let sw = Arc::new(Mutex::new(switch()));
    let ch = spawn(&sw, config(&[t]));
    let mut c = accept(&l).await;
    // 10,000 flow-mods; every 100th names table 255 (OFPFMFC_BAD_TABLE_ID).
    let mut burst = Vec::new();
    let mut bad = Vec::new();
    for i in 0..10_000u32 {
        let xid = 50_000 + i;
        let table = if i % 100 == 99 {
            bad.push(xid);
            255
        } else {
            0
        };
        burst.extend(Message::new(xid, flow_mod(table, i + 1)).to_vec());
    }
    burst.extend(Message::new(99_999, Body::BarrierRequest).to_vec());
    c.send_raw(&burst).await;
    let mut errors = Vec::new();
    loop {
        let m = c.recv().await;
        match m.body {
            Body::Error(e) => {
                assert_eq!(
                    (e.etype, e.code),
                    (ErrorType::FLOW_MOD_FAILED, flow_mod_failed::BAD_TABLE_ID)
                );
                errors.push(m.xid);
            }
            Body::BarrierReply => {
                assert_eq!(m.xid, 99_999);
                break;
            }
            b => panic!("unexpected {b:?}"),
        }
    }
    assert_eq!(
        errors, bad,
        "every error, in request order, before the barrier reply"
    );
    // The effects are visible once the barrier is answered.
    assert_eq!(sw.lock().unwrap().tables()[0].len(), 9_900);
    let m = c
        .call(Body::MultipartRequest(MultipartRequest {
            flags: 0,
            body: MultipartRequestBody::Aggregate(ofproto::wire::multipart::FlowStatsRequest {
                table_id: 255,
                out_port: ofproto::wire::consts::port::ANY,
                out_group: ofproto::wire::consts::group::ANY,
                cookie: 0,
                cookie_mask: 0,
                match_: Match::default(),
            }),
        }))
        .await;
    match m.body {
        Body::MultipartReply(r) => match r.body {
            ofproto::wire::MultipartReplyBody::Aggregate(a) => assert_eq!(a.flow_count, 9_900),
            b => panic!("{b:?}"),
        },
        b => panic!("{b:?}"),
    }
    ch.shutdown().await;
}

// On the multi-threaded runtime: the channel's tasks really run in
// parallel with the test's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_that_never_reads_stalls_only_itself() {
    let dir = TempDir::new("stall");
    let pa = dir.path("a.sock");
    let pb = dir.path("b.sock");
    let la = tokio::net::UnixListener::bind(&pa).unwrap();
    let lb = tokio::net::UnixListener::bind(&pb).unwrap();
    let sw = Arc::new(Mutex::new(Double::new()));
    let limits = ChannelLimits {
        async_queue_bytes: 64 << 10,
        max_queue_bytes: 256 << 10,
        ..ChannelLimits::default()
    };
    let ctl = |p: &std::path::Path| ControllerConfig {
        inactivity_probe_ms: 0,
        ..ControllerConfig::new(format!("unix:{}", p.display()))
    };
    let cfg = ChannelConfig {
        controllers: vec![ctl(&pa), ctl(&pb)],
        limits,
        ..ChannelConfig::default()
    };
    let ch = spawn(&sw, cfg);
    let mut a = Peer::new(la.accept().await.unwrap().0);
    a.handshake().await;
    let mut b = Peer::new(lb.accept().await.unwrap().0);
    b.handshake().await;
    // From now on A never reads.  10,000 packet-ins of 1000 bytes (10 MB,
    // far beyond the socket buffers), in batches B can take.
    let mut received = 0;
    for batch in 0..200u32 {
        let msgs: Vec<Message> = (0..50)
            .map(|i| packet_in(0, 1000, (batch * 50 + i) as u8))
            .collect();
        inject(&sw, msgs).await;
        let got = b.fence().await;
        assert_eq!(got.len(), 50, "batch {batch}");
        received += got.len();
        // A's queue stays within the asynchronous limit throughout.
        let sa = ch
            .conn_stats()
            .into_iter()
            .find(|s| s.target.contains("a.sock"))
            .unwrap();
        assert!(sa.queued_bytes <= 64 << 10, "{sa:?}");
    }
    assert_eq!(received, 10_000);
    let stats = ch.conn_stats();
    let sa = stats.iter().find(|s| s.target.contains("a.sock")).unwrap();
    let sb = stats.iter().find(|s| s.target.contains("b.sock")).unwrap();
    assert!(sa.max_queued_bytes <= 64 << 10, "{sa:?}");
    assert!(
        sa.dropped_async > 5_000,
        "A's excess is dropped and counted: {sa:?}"
    );
    assert_eq!(sb.dropped_async, 0, "{sb:?}");
    // A is still connected (dropping asynchronous messages is not fatal)
    // and B keeps working.
    assert!(ch.status().iter().all(|s| s.is_connected));
    assert!(matches!(
        b.call(Body::BarrierRequest).await.body,
        Body::BarrierReply
    ));
    drop(a);
    ch.shutdown().await;
}

#[tokio::test]
async fn a_reply_that_does_not_fit_disconnects_the_peer() {
    let (l, t) = controller_listener().await;
    let sw = Arc::new(Mutex::new(switch()));
    let mut cfg = config(&[t]);
    cfg.limits.max_queue_bytes = 16 << 10;
    cfg.limits.async_queue_bytes = 8 << 10;
    let ch = spawn(&sw, cfg);
    let mut c = accept(&l).await;
    // Table features for 255 tables is far more than 16 KiB.
    c.request(Body::MultipartRequest(MultipartRequest {
        flags: 0,
        body: MultipartRequestBody::TableFeatures(vec![]),
    }))
    .await;
    let n = c.expect_eof(1000).await.len();
    assert!(n < 100, "{n}");
    wait_for("error in status", || {
        ch.status()[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("send queue overflow"))
    })
    .await;
    ch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn packet_in_flood_is_limited_to_the_configured_rate() {
    let dir = TempDir::new("rate");
    let (l1, t1) = unix_controller(&dir, "limited.sock");
    let (l2, t2) = unix_controller(&dir, "free.sock");
    let sw = Arc::new(Mutex::new(Double::new()));
    let mut cfg = config(&[t1, t2]);
    cfg.controllers[0].rate_limit = Some(100);
    cfg.controllers[0].burst_limit = Some(25);
    let ch = spawn(&sw, cfg);
    let mut limited = accept_unix(&l1).await;
    let mut free = accept_unix(&l2).await;
    let flood = |n: usize| {
        (0..n)
            .map(|i| packet_in(0, 10, i as u8))
            .collect::<Vec<_>>()
    };
    // A flood at one instant: the burst passes.
    inject(&sw, flood(1000)).await;
    assert_eq!(limited.fence().await.len(), 25);
    assert_eq!(free.fence().await.len(), 1000);
    // Ten seconds of floods, 1000 every 100 ms: 100/s pass.
    let mut got = 0;
    let t0 = ofproto::channel::now_ms();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        inject(&sw, flood(1000)).await;
        got += limited.fence().await.len();
    }
    // The bucket refills at 100/s of (virtual) time elapsed: about 10 s,
    // plus the few ms each injection waits for the channel to take it.
    let elapsed = ofproto::channel::now_ms() - t0;
    assert!((10_000..=10_200).contains(&elapsed), "{elapsed}");
    let want = elapsed as usize / 10;
    assert!(
        got.abs_diff(want) <= 2,
        "{got} passed in {elapsed} ms at 100/s"
    );
    let s = ch.conn_stats();
    let st = s.iter().find(|c| c.rate_limited > 0).unwrap();
    assert_eq!(st.rate_limited, 101_000 - 25 - got as u64);
    assert!(s.iter().any(|c| c.rate_limited == 0));
    // Other messages are not limited.
    inject(&sw, vec![port_add(5); 200]).await;
    assert_eq!(limited.fence().await.len(), 200);
    ch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn standalone_fails_open_after_three_probe_intervals_and_recovers() {
    let dir = TempDir::new("failopen");
    let path = dir.path("ctl.sock");
    let sw = Arc::new(Mutex::new(Double::new()));
    let cfg = ChannelConfig {
        controllers: vec![ControllerConfig::new(format!("unix:{}", path.display()))],
        fail_mode: FailMode::Standalone,
        ..ChannelConfig::default()
    };
    let t0 = ofproto::channel::now_ms();
    let ch = spawn(&sw, cfg);
    tokio::time::sleep(Duration::from_secs(14)).await;
    assert!(sw.lock().unwrap().fail_open_calls.is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let calls = sw.lock().unwrap().fail_open_calls.clone();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert!(calls[0].1);
        let after = calls[0].0 - t0;
        assert!((15_000..=16_000).contains(&after), "{after}");
    }
    assert!(ch.fail_open());
    // The controller comes up: the handshake alone is not enough.
    let l = tokio::net::UnixListener::bind(&path).unwrap();
    let mut c = Peer::new(
        tokio::time::timeout(Duration::from_secs(20), l.accept())
            .await
            .unwrap()
            .unwrap()
            .0,
    );
    c.handshake().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sw.lock().unwrap().fail_open_calls.len(), 1);
    // A real request admits it: fail-open ends.
    assert!(matches!(
        c.call(Body::FeaturesRequest).await.body,
        Body::FeaturesReply(_)
    ));
    wait_for("fail-open off", || {
        sw.lock().unwrap().fail_open_calls.len() == 2
    })
    .await;
    assert!(!sw.lock().unwrap().fail_open_calls[1].1);
    assert!(!ch.fail_open());
    // It goes away: fail-open again three intervals later; then
    // reconfiguring to secure turns it off.
    drop(c);
    drop(l);
    tokio::time::sleep(Duration::from_secs(17)).await;
    let last = sw.lock().unwrap().fail_open_calls.last().copied();
    assert_eq!(last.map(|c| c.1), Some(true), "fail-open again");
    ch.reconfigure(ChannelConfig {
        controllers: vec![ControllerConfig::new(format!("unix:{}", path.display()))],
        fail_mode: FailMode::Secure,
        ..ChannelConfig::default()
    });
    wait_for("off in secure mode", || !ch.fail_open()).await;
    assert!(!sw.lock().unwrap().fail_open_calls.last().unwrap().1);
    ch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn secure_mode_and_no_controllers_never_fail_open() {
    let sw = Arc::new(Mutex::new(Double::new()));
    let cfg = ChannelConfig {
        controllers: vec![ControllerConfig::new("unix:/nonexistent/rvs-test.sock")],
        fail_mode: FailMode::Secure,
        ..ChannelConfig::default()
    };
    let ch = spawn(&sw, cfg);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(sw.lock().unwrap().fail_open_calls.is_empty());
    // Standalone without any (primary) controller: nothing either.
    ch.reconfigure(ChannelConfig {
        controllers: vec![ControllerConfig::new("ptcp:0:127.0.0.1")],
        ..ChannelConfig::default()
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(sw.lock().unwrap().fail_open_calls.is_empty());
    assert!(ch.local_addr("ptcp:0:127.0.0.1").is_some());
    ch.shutdown().await;
}
