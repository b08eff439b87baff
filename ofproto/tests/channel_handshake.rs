//! Controller channels: version negotiation, features, echo, inactivity
//! probing and disconnection, reconnect backoff, status, management socket
//! lifecycle, limits on message size and passive connections.

mod channel_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use channel_support::*;
use ofproto::channel::{ChannelConfig, ChannelHandle, ChannelLimits, ControllerConfig};
use ofproto::wire::error::{ErrorType, bad_request, hello_failed};
use ofproto::wire::message::HelloElement;
use ofproto::wire::{Body, Hello, Message};

fn mgmt_config(dir: &TempDir) -> ChannelConfig {
    ChannelConfig {
        bridge: "br0".into(),
        mgmt_path: Some(dir.path("br0.mgmt")),
        ..ChannelConfig::default()
    }
}

/// Connects to the management socket and reads the switch's hello.
async fn raw_peer(dir: &TempDir) -> Peer {
    let mut p = Peer::connect_unix(&dir.path("br0.mgmt")).await;
    match p.recv().await.body {
        Body::Hello(h) => {
            assert_eq!(h.version, 4);
            assert_eq!(h.versions(), Some(vec![4]), "1.3 only in the bitmap");
        }
        b => panic!("expected hello first, got {b:?}"),
    }
    p
}

fn hello(version: u8, bitmap: Option<&[u8]>) -> Message {
    let mut h = match bitmap {
        Some(v) => Hello::with_versions(v),
        None => Hello {
            version,
            elements: vec![],
        },
    };
    h.version = version;
    Message::new(77, Body::Hello(h))
}

#[tokio::test]
async fn negotiates_1_3_like_open_vswitch() {
    let dir = TempDir::new("hs");
    let sw = Arc::new(Mutex::new(switch()));
    let ch = spawn(&sw, mgmt_config(&dir));
    // (header version, bitmap, accepted)
    let cases: &[(u8, Option<&[u8]>, bool)] = &[
        (4, Some(&[4]), true),
        (6, Some(&[1, 2, 3, 4, 5, 6]), true),
        (1, Some(&[1, 4]), true),
        (4, None, true),
        (5, None, true),
        (6, None, true),
        (1, None, false),
        (3, None, false),
        (1, Some(&[1]), false),
        (6, Some(&[5, 6]), false),
    ];
    for &(version, bitmap, ok) in cases {
        let mut p = raw_peer(&dir).await;
        p.send(&hello(version, bitmap)).await;
        if ok {
            let m = p.call(Body::FeaturesRequest).await;
            match m.body {
                Body::FeaturesReply(f) => {
                    assert_eq!(f.datapath_id, 0x0000_1234_5678_9abc);
                    assert_eq!(f.auxiliary_id, 0);
                }
                b => panic!("{version}/{bitmap:?}: expected features, got {b:?}"),
            }
        } else {
            let f = p.recv_frame().await.expect("an error before closing");
            assert_eq!(
                f.header.version,
                version.min(4),
                "error in the peer's version"
            );
            assert_eq!(f.header.xid, 77);
            let raw = &f.raw;
            assert_eq!(
                &raw[8..12],
                &[0, 0, 0, 0],
                "OFPET_HELLO_FAILED/OFPHFC_INCOMPATIBLE"
            );
            let text = String::from_utf8_lossy(&raw[12..]).to_string();
            assert!(text.contains("0x04"), "readable reason: {text}");
            if bitmap.is_none() {
                assert!(text.contains(&format!("0x{version:02x}")), "{text}");
            }
            assert!(p.expect_eof(10).await.is_empty(), "closed after the error");
        }
    }
    // The hello-failed error decodes as such for a 1.3 peer too.
    let mut p = raw_peer(&dir).await;
    p.send(&hello(4, Some(&[5]))).await;
    match p.recv().await.body {
        Body::Error(e) => {
            assert_eq!(e.etype, ErrorType::HELLO_FAILED);
            assert_eq!(e.code, hello_failed::INCOMPATIBLE);
        }
        b => panic!("{b:?}"),
    }
    ch.shutdown().await;
}

#[tokio::test]
async fn hello_with_unknown_elements_and_a_non_hello_first_message() {
    let dir = TempDir::new("hs2");
    let sw = Arc::new(Mutex::new(switch()));
    let ch = spawn(&sw, mgmt_config(&dir));
    // Unknown hello elements are ignored.
    let mut p = raw_peer(&dir).await;
    let mut h = Hello::with_versions(&[4]);
    h.elements.insert(
        0,
        HelloElement::Unknown {
            etype: 99,
            data: vec![1, 2, 3],
        },
    );
    p.send(&Message::new(1, Body::Hello(h))).await;
    assert!(matches!(
        p.call(Body::BarrierRequest).await.body,
        Body::BarrierReply
    ));
    // A first message that is not a hello ends the connection.
    let mut p = raw_peer(&dir).await;
    p.send(&Message::new(5, Body::FeaturesRequest)).await;
    assert!(p.expect_eof(10).await.is_empty());
    ch.shutdown().await;
}

#[tokio::test]
async fn errors_and_echo_are_answered_in_order() {
    let dir = TempDir::new("echo");
    let sw = Arc::new(Mutex::new(switch()));
    let ch = spawn(&sw, mgmt_config(&dir));
    let mut p = raw_peer(&dir).await;
    p.send(&hello(4, Some(&[4]))).await;
    // Undecodable type, then echo, then a wrong-version message.
    p.send_raw(&[4, 0x63, 0, 8, 0, 0, 0, 1]).await;
    p.send(&Message::new(2, Body::EchoRequest(b"abc".to_vec())))
        .await;
    p.send_raw(&[3, 18, 0, 16, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0])
        .await;
    let a = p.recv().await;
    let b = p.recv().await;
    let c = p.recv().await;
    match a.body {
        Body::Error(e) => {
            assert_eq!(
                (a.xid, e.etype, e.code),
                (1, ErrorType::BAD_REQUEST, bad_request::BAD_TYPE)
            );
            assert_eq!(e.data, vec![4, 0x63, 0, 8, 0, 0, 0, 1]);
        }
        x => panic!("{x:?}"),
    }
    assert_eq!(b, Message::new(2, Body::EchoReply(b"abc".to_vec())));
    match c.body {
        Body::Error(e) => assert_eq!((c.xid, e.code), (3, bad_request::BAD_VERSION)),
        x => panic!("{x:?}"),
    }
    ch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn probes_an_idle_controller_then_disconnects() {
    let dir = TempDir::new("probe");
    let (l, target) = unix_controller(&dir, "ctl.sock");
    let sw = Arc::new(Mutex::new(switch()));
    let mut cfg = config(std::slice::from_ref(&target));
    cfg.controllers[0].inactivity_probe_ms = 5000;
    let ch = spawn(&sw, cfg);
    let mut p = accept_unix(&l).await;
    // Traffic keeps it alive: no probe while we talk every 3 s.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let got = p.fence().await;
        assert!(got.is_empty(), "unexpected {got:?}");
    }
    let st = &ch.status()[0];
    assert_eq!((st.is_connected, st.state), (true, "ACTIVE"));
    // Silence: the probe comes 5 s after our last message.
    let t0 = tokio::time::Instant::now();
    let m = p.recv().await;
    let waited = t0.elapsed();
    assert!(matches!(m.body, Body::EchoRequest(_)), "{m:?}");
    assert!(
        waited >= Duration::from_millis(4990) && waited <= Duration::from_millis(5100),
        "{waited:?}"
    );
    assert_eq!(ch.status()[0].state, "IDLE");
    // Answering the probe makes it active again.
    p.send(&Message::new(m.xid, Body::EchoReply(vec![]))).await;
    wait_for("ACTIVE again", || ch.status()[0].state == "ACTIVE").await;
    // Probe again, stay silent: disconnected one interval after the probe.
    let m = p.recv().await;
    assert!(matches!(m.body, Body::EchoRequest(_)));
    let t1 = tokio::time::Instant::now();
    assert!(p.expect_eof(10).await.is_empty());
    let waited = t1.elapsed();
    assert!(
        waited >= Duration::from_millis(4990) && waited <= Duration::from_millis(5100),
        "{waited:?}"
    );
    let err = ch.status()[0].last_error.clone().unwrap_or_default();
    assert!(err.contains("inactivity probe"), "{err}");
    // It reconnects (backoff 1 s).
    let mut p = accept_unix(&l).await;
    assert!(p.fence().await.is_empty());
    wait_for("connected", || ch.status()[0].is_connected).await;
    let st = &ch.status()[0];
    assert_eq!(st.sec_since_disconnect, Some(1));
    ch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn reconnects_with_exponential_backoff() {
    let dir = TempDir::new("backoff");
    let path = dir.path("ctl.sock");
    let l = tokio::net::UnixListener::bind(&path).unwrap();
    let sw = Arc::new(Mutex::new(switch()));
    let mut c = ControllerConfig::new(format!("unix:{}", path.display()));
    c.max_backoff_ms = 8000;
    let cfg = ChannelConfig {
        controllers: vec![c],
        ..ChannelConfig::default()
    };
    let ch = spawn(&sw, cfg);
    // A controller that hangs up at once: each attempt fails before the
    // handshake, so the wait doubles up to the maximum.
    let mut times = Vec::new();
    for _ in 0..7 {
        let (s, _) = tokio::time::timeout(Duration::from_secs(60), l.accept())
            .await
            .expect("reconnect attempt")
            .unwrap();
        times.push(tokio::time::Instant::now());
        drop(s);
        if times.len() == 3 {
            let st = &ch.status()[0];
            assert!(!st.is_connected);
        }
    }
    let gaps: Vec<u64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis() as u64)
        .collect();
    let want = [1000u64, 2000, 4000, 8000, 8000, 8000];
    for (g, w) in gaps.iter().zip(want) {
        assert!(*g >= w && *g <= w + 50, "gaps {gaps:?}, want {want:?}");
    }
    wait_for("backoff state", || ch.status()[0].state == "BACKOFF").await;
    assert!(ch.status()[0].last_error.is_some());
    // A connection that completes the handshake and stays up resets the
    // backoff to 1 s after it ends (it stayed up longer than the 8 s
    // backoff).
    let (s, _) = l.accept().await.unwrap();
    let mut p = Peer::new(s);
    p.handshake().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(p.fence().await.is_empty());
    }
    drop(p);
    let t = tokio::time::Instant::now();
    let (_s, _) = l.accept().await.unwrap();
    let g = t.elapsed().as_millis() as u64;
    assert!((1000..=1050).contains(&g), "{g}");
    ch.shutdown().await;
}

#[tokio::test]
async fn ssl_and_bad_targets_are_reported_in_status() {
    let sw = Arc::new(Mutex::new(switch()));
    let cfg = config(&["ssl:127.0.0.1:6653".into(), "pssl:".into(), "bogus".into()]);
    let ch = spawn(&sw, cfg);
    let st = ch.status();
    assert_eq!(st.len(), 3);
    for s in &st {
        assert!(!s.is_connected);
        assert_eq!(s.state, "VOID");
    }
    assert!(st[0].last_error.as_ref().unwrap().contains("SSL"));
    assert!(st[1].last_error.as_ref().unwrap().contains("SSL"));
    assert!(st[2].last_error.is_some());
    ch.shutdown().await;
}

#[tokio::test]
async fn mgmt_socket_is_replaced_and_removed() {
    let dir = TempDir::new("mgmt");
    let path = dir.path("br0.mgmt");
    // A stale socket file from an earlier run.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let sw = Arc::new(Mutex::new(switch()));
    let ch = spawn(&sw, mgmt_config(&dir));
    let mut p = raw_peer(&dir).await;
    p.send(&hello(4, Some(&[4]))).await;
    assert!(p.fence().await.is_empty());
    // Moving the socket.
    let mut cfg = mgmt_config(&dir);
    cfg.mgmt_path = Some(dir.path("other.mgmt"));
    ch.reconfigure(cfg);
    assert!(!path.exists());
    let mut q = Peer::connect_unix(&dir.path("other.mgmt")).await;
    q.handshake().await;
    assert!(q.fence().await.is_empty());
    ch.shutdown().await;
    assert!(
        !dir.path("other.mgmt").exists(),
        "socket file removed on shutdown"
    );
    assert!(q.expect_eof(10).await.is_empty());
    // Binding fails: an error from spawn.
    let bad = ChannelConfig {
        mgmt_path: Some(dir.path("no/such/dir/x.mgmt")),
        ..ChannelConfig::default()
    };
    assert!(ChannelHandle::spawn(sw.clone(), bad).is_err());
}

#[tokio::test]
async fn oversized_messages_and_too_many_passive_connections() {
    let dir = TempDir::new("limits");
    let sw = Arc::new(Mutex::new(switch()));
    let mut cfg = mgmt_config(&dir);
    cfg.limits = ChannelLimits {
        max_message_len: 1024,
        max_passive_conns: 2,
        ..ChannelLimits::default()
    };
    let ch = spawn(&sw, cfg);
    let mut a = raw_peer(&dir).await;
    a.send(&hello(4, Some(&[4]))).await;
    let mut b = raw_peer(&dir).await;
    b.send(&hello(4, Some(&[4]))).await;
    assert!(b.fence().await.is_empty());
    // A third is closed at once, without a hello.
    let mut c = Peer::connect_unix(&dir.path("br0.mgmt")).await;
    assert!(c.expect_eof(1).await.is_empty());
    // A message over the limit ends that connection only.
    let mut big = Message::new(9, Body::EchoRequest(vec![0; 2000])).to_vec();
    big.truncate(8);
    a.send_raw(&big).await;
    assert!(a.expect_eof(10).await.is_empty());
    assert!(b.fence().await.is_empty());
    // Its slot is free again.
    wait_for("slot freed", || ch.conn_stats().len() == 1).await;
    let mut d = raw_peer(&dir).await;
    d.send(&hello(4, Some(&[4]))).await;
    assert!(d.fence().await.is_empty());
    ch.shutdown().await;
}

#[tokio::test]
async fn reconfigure_keeps_unchanged_controllers() {
    let (la, ta) = controller_listener().await;
    let (lb, tb) = controller_listener().await;
    let (lc, tc) = controller_listener().await;
    let sw = Arc::new(Mutex::new(switch()));
    let ch = spawn(&sw, config(&[ta.clone(), tb.clone()]));
    let mut a = accept(&la).await;
    let mut b = accept(&lb).await;
    ch.reconfigure(config(&[ta.clone(), tc.clone()]));
    // B is closed, C connects, A keeps its connection (and its state).
    assert!(b.expect_eof(10).await.is_empty());
    let mut c = accept(&lc).await;
    assert!(a.fence().await.is_empty());
    assert!(c.fence().await.is_empty());
    let targets: Vec<String> = ch.status().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, vec![ta.clone(), tc.clone()]);
    wait_for("both connected", || {
        ch.status().iter().all(|s| s.is_connected)
    })
    .await;
    // No second connection from A's target.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), la.accept())
            .await
            .is_err()
    );
    // Dropping the handle ends everything.
    drop(ch);
    assert!(a.expect_eof(10).await.is_empty());
    assert!(c.expect_eof(10).await.is_empty());
}

#[tokio::test]
async fn absurd_settings_do_not_panic() {
    let (l, t) = controller_listener().await;
    let sw = Arc::new(Mutex::new(switch()));
    let mut cfg = config(&[t, "tcp:127.0.0.1:1".into()]);
    for c in &mut cfg.controllers {
        c.inactivity_probe_ms = u64::MAX;
        c.max_backoff_ms = u64::MAX;
        c.rate_limit = Some(u32::MAX);
        c.burst_limit = Some(u32::MAX);
    }
    cfg.limits.max_message_len = 0;
    cfg.limits.max_queue_bytes = usize::MAX;
    cfg.limits.async_queue_bytes = usize::MAX;
    let ch = spawn(&sw, cfg);
    let mut p = accept(&l).await;
    assert!(matches!(
        p.call(Body::BarrierRequest).await.body,
        Body::BarrierReply
    ));
    ch.shutdown().await;
}

#[tokio::test]
async fn ptcp_targets_accept_service_connections() {
    let sw = Arc::new(Mutex::new(switch()));
    let target = "ptcp:0:127.0.0.1".to_string();
    let ch = spawn(&sw, config(std::slice::from_ref(&target)));
    let addr = ch.local_addr(&target).expect("bound");
    assert_eq!(ch.status()[0].state, "VOID");
    let mut p = Peer::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    p.handshake().await;
    assert!(matches!(
        p.call(Body::FeaturesRequest).await.body,
        Body::FeaturesReply(_)
    ));
    let st = &ch.status()[0];
    assert_eq!(
        (st.is_connected, st.state, st.role),
        (true, "ACTIVE", "other")
    );
    let stats = ch.conn_stats();
    assert_eq!(stats.len(), 1);
    assert!(!stats[0].primary, "passive targets are service connections");
    assert!(stats[0].peer.starts_with("127.0.0.1:"), "{}", stats[0].peer);
    // Removing the target closes its connections.
    ch.reconfigure(config(&[]));
    assert!(p.expect_eof(10).await.is_empty());
    assert!(ch.status().is_empty());
    ch.shutdown().await;
}
