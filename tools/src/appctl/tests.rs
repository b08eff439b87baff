//! The appctl commands on a real [`OfBridge`] with in-memory ports (PMD
//! thread, megaflow cache, upcalls: everything but the devices), driven
//! through a [`UnixctlServer`] as the daemon registers them, and once
//! through the socket with the real `ovs-appctl`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use datapath::dpif::DpifConfig;
use datapath::packet::Offload;
use datapath::pmd::{Clock, MonotonicClock};
use datapath::port::MemPort;
use ofproto::bridge::{BridgeConfig, OfBridge, PortSpec};
use ofproto::flow_text::{FlowCommand, parse_flow};
use ofproto::service::OpenFlowSwitch;
use ofproto::switch::{ConnCtx, SwitchSettings};
use ofproto::wire::action::Action;
use ofproto::wire::consts;
use ofproto::wire::message::{Bucket, GroupMod, group_mod_command, group_type};
use ofproto::wire::{Body, Message};

use super::*;
use crate::unixctl::UnixctlServer;

const MASTER: ConnCtx = ConnCtx { is_slave: false };

struct Rig {
    bridges: BridgeMap,
    br: Arc<Mutex<OfBridge>>,
    hosts: Vec<MemPort>,
    server: UnixctlServer,
    exit: tokio::sync::watch::Receiver<bool>,
    sent: u64,
}

fn now() -> u64 {
    MonotonicClock.now_ms()
}

fn rig(n_ports: u32) -> Rig {
    let cfg = BridgeConfig {
        name: "br0".into(),
        settings: SwitchSettings::default(),
        dpif: DpifConfig {
            pmd_threads: 1,
            poll_timeout: Duration::from_millis(5),
            ..DpifConfig::default()
        },
    };
    let mut br = OfBridge::new(cfg).expect("bridge starts");
    let mut hosts = Vec::new();
    for i in 1..=n_ports {
        let (h, d) = MemPort::pair(&format!("h{i}"), &format!("p{i}"), 1024).expect("mem port");
        let of = br
            .add_port(
                Box::new(d),
                PortSpec {
                    name: format!("p{i}"),
                    ofport_request: Some(i),
                    hw_addr: [2, 0, 0, 0, 0, i as u8],
                    ..PortSpec::default()
                },
                now(),
            )
            .expect("port added");
        assert_eq!(of, i);
        hosts.push(h);
    }
    let br = Arc::new(Mutex::new(br));
    let bridges: BridgeMap = Arc::new(RwLock::new(BTreeMap::from([(
        "br0".to_owned(),
        br.clone(),
    )])));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut server = UnixctlServer::new();
    register_all_with_clock(&mut server, bridges.clone(), tx, Arc::new(now));
    Rig {
        bridges,
        br,
        hosts,
        server,
        exit: rx,
        sent: 0,
    }
}

impl Rig {
    fn send(&self, body: Body) {
        let msg = Message::new(7, body);
        let raw = msg.to_vec();
        let mut out = Vec::new();
        self.br
            .lock()
            .unwrap()
            .handle_message(MASTER, &msg, &raw, now(), &mut out);
        assert!(
            out.iter().all(|m| !matches!(m.body, Body::Error(_))),
            "{out:?}"
        );
    }

    fn flow(&self, text: &str) {
        let fm = parse_flow(text, FlowCommand::Add)
            .expect(text)
            .to_flow_mod();
        self.send(Body::FlowMod(fm));
    }

    fn barrier(&self) {
        self.send(Body::BarrierRequest);
    }

    fn cmd(&self, line: &[&str]) -> Result<String, String> {
        let args: Vec<String> = line[1..].iter().map(|s| s.to_string()).collect();
        self.server.dispatch(line[0], &args)
    }

    /// Sends `n` copies of `frame` from host port `port` and waits
    /// (bounded) until the datapath processed them.
    fn tx(&mut self, port: u32, frame: &[u8], n: u64) {
        let h = &self.hosts[(port - 1) as usize];
        for _ in 0..n {
            assert_eq!(h.send_frame(frame, Offload::default()), 1);
        }
        self.sent += n;
        let dp = self.br.lock().unwrap().dpif().clone();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let s = dp.pmd_stats();
            if s.emc_hits + s.megaflow_hits + s.upcalls >= self.sent {
                break;
            }
            assert!(Instant::now() < deadline, "datapath stuck: {s:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn shutdown(self) {
        drop(self.server);
        self.bridges.write().unwrap().clear();
        if let Ok(m) = Arc::try_unwrap(self.br) {
            m.into_inner().unwrap().shutdown();
        }
    }
}

fn mac(i: u8) -> [u8; 6] {
    [0, 0, 0, 0, 0, i]
}

/// An Ethernet/IPv4/UDP frame (checksums left zero: nothing checks them).
fn udp(src: [u8; 6], dst: [u8; 6], sip: [u8; 4], dip: [u8; 4], dport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    let payload = 8u16;
    let ip_len = 20 + 8 + payload;
    f.extend_from_slice(&[
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&sip);
    f.extend_from_slice(&dip);
    let udp_len = 8 + payload;
    f.extend_from_slice(&[0x30, 0x39, (dport >> 8) as u8, dport as u8]);
    f.extend_from_slice(&[(udp_len >> 8) as u8, udp_len as u8, 0, 0]);
    f.extend_from_slice(&[0u8; 8]);
    f
}

fn group_all(id: u32, ports: &[u32]) -> Body {
    Body::GroupMod(GroupMod {
        command: group_mod_command::ADD,
        group_type: group_type::ALL,
        group_id: id,
        buckets: ports
            .iter()
            .map(|&p| Bucket {
                weight: 0,
                watch_port: consts::port::ANY,
                watch_group: consts::group::ANY,
                actions: vec![Action::Output {
                    port: p,
                    max_len: 0,
                }],
            })
            .collect(),
    })
}

fn three_table_pipeline(r: &Rig) {
    r.send(group_all(7, &[2, 3]));
    r.flow("table=0,priority=10,in_port=1 actions=goto_table:1");
    r.flow(
        "table=1,priority=100,cookie=0x5,udp,tp_dst=53 actions=write_metadata:0x1/0x1,goto_table:2",
    );
    r.flow("table=1,priority=1 actions=drop");
    r.flow("table=2,priority=5,ip,metadata=0x1/0x1 actions=group:7");
    r.barrier();
}

#[test]
fn trace_explains_a_three_table_pipeline_with_a_group() {
    let r = rig(3);
    three_table_pipeline(&r);
    let text = r
        .cmd(&[
            "ofproto/trace",
            "br0",
            "in_port=p1,udp,nw_dst=10.0.0.2,tp_dst=53",
        ])
        .unwrap();
    assert!(
        text.starts_with("Flow: udp,in_port=1,nw_dst=10.0.0.2,tp_dst=53\n\nbridge(\"br0\")\n"),
        "{text}"
    );
    assert!(
        text.contains(" 0. in_port=1, priority 10\n    goto_table:1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            " 1. udp,tp_dst=53, priority 100, cookie 0x5\n    write_metadata:0x1/0x1\n    goto_table:2\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(" 2. ip,metadata=0x1/0x1, priority 5\n    group:7\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "    group:7
    group 7 bucket 0
            output:2
"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "    group 7 bucket 1
            output:3
"
        ),
        "{text}"
    );
    let mega = text
        .lines()
        .find(|l| l.starts_with("Megaflow: "))
        .expect(&text);
    assert!(
        mega.contains("in_port=1") && mega.contains("tp_dst=53"),
        "{mega}"
    );
    assert!(!mega.contains("nw_dst"), "no lookup read nw_dst: {mega}");
    assert!(
        !mega.contains("metadata"),
        "pipeline state is not a datapath field: {mega}"
    );
    let dp = text
        .lines()
        .find(|l| l.starts_with("Datapath actions: "))
        .expect(&text);
    assert!(dp.contains('2') && dp.contains('3'), "{dp}");

    // Names in the datapath actions with the port names of the datapath.
    let miss = r.cmd(&["ofproto/trace", "br0", "in_port=2,udp"]).unwrap();
    assert!(miss.contains(" 0. No match.\n    drop\n"), "{miss}");
    assert!(miss.ends_with("Datapath actions: drop\n"), "{miss}");

    // Second table's catch-all.
    let other = r
        .cmd(&["ofproto/trace", "br0", "in_port=1,udp,tp_dst=54"])
        .unwrap();
    assert!(other.contains(" 1. priority 1\n    drop\n"), "{other}");

    // JSON.
    let j = r
        .cmd(&[
            "ofproto/trace",
            "--format=json",
            "br0",
            "in_port=1,udp,tp_dst=53",
        ])
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["bridge"], "br0");
    let tables = v["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 3);
    assert_eq!(tables[1]["rule"]["priority"], 100);
    assert_eq!(tables[1]["rule"]["cookie"], "0x5");
    assert_eq!(tables[2]["groups"].as_array().unwrap().len(), 2);
    assert!(
        v["megaflow_datapath"]
            .as_str()
            .unwrap()
            .contains("udp(dst=53)"),
        "{j}"
    );

    // Errors.
    assert_eq!(
        r.cmd(&["ofproto/trace", "nobr", "in_port=1"]).unwrap_err(),
        "no such bridge"
    );
    assert!(
        r.cmd(&["ofproto/trace", "br0", "in_port=zz"])
            .unwrap_err()
            .contains("zz")
    );
    assert!(r.cmd(&["ofproto/trace", "br0", "bogus_field=1"]).is_err());
    r.shutdown();
}

#[test]
fn dump_flows_shows_the_megaflows_traffic_created() {
    let mut r = rig(3);
    r.flow("priority=10,in_port=1 actions=output:2");
    r.flow("priority=20,udp,in_port=1,tp_dst=53 actions=output:3");
    r.barrier();
    assert_eq!(r.cmd(&["dpctl/dump-flows"]).unwrap(), "");
    let f80 = udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], 80);
    let f53 = udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], 53);
    r.tx(1, &f80, 3);
    r.tx(1, &f53, 2);
    let out = r.cmd(&["dpctl/dump-flows"]).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "flow-dump from the main thread:");
    let l80 = lines.iter().find(|l| l.ends_with("actions:2")).expect(&out);
    let l53 = lines.iter().find(|l| l.ends_with("actions:3")).expect(&out);
    assert!(
        l80.starts_with("recirc_id(0),in_port(1),packet_type(ns=0,id=0),"),
        "{l80}"
    );
    assert!(
        l80.contains("udp(dst=80/") || l80.contains("udp(dst=80"),
        "{l80}"
    );
    assert!(l80.contains(", packets:3, bytes:"), "{l80}");
    assert!(
        l53.contains("udp(dst=53)") && l53.contains(", packets:2, "),
        "{l53}"
    );
    assert!(!l53.contains("ipv4(src="), "nw_src stays wildcarded: {l53}");
    assert!(
        l53.contains(", used:0.") || l53.contains(", used:1."),
        "{l53}"
    );

    let named = r.cmd(&["dpctl/dump-flows", "--names"]).unwrap();
    assert!(
        named.contains("in_port(p1)") && named.contains("actions:p3"),
        "{named}"
    );
    let verbose = r.cmd(&["dpctl/dump-flows", "-m", "rvs@br0"]).unwrap();
    let first = verbose.lines().nth(1).unwrap_or_default();
    assert!(first.starts_with("ufid:"), "{verbose}");
    assert!(
        first.contains(
            ", skb_priority(0/0),skb_mark(0/0),ct_state(0/0),ct_zone(0/0),ct_mark(0/0),\
             ct_label(0/0),recirc_id(0),dp_hash(0/0),in_port(p1),packet_type(ns=0,id=0),"
        ),
        "{verbose}"
    );
    // Wildcarded fields show the packet's values with a zero mask, as OVS.
    assert!(
        first.contains("eth(src=00:00:00:00:00:01/00:00:00:00:00:00,"),
        "{verbose}"
    );
    assert!(first.contains("udp(src=12345/0,"), "{verbose}");
    assert!(verbose.contains(", dp:ovs, actions:p"), "{verbose}");
    assert!(verbose.contains("in_port(p1)"), "-m shows names: {verbose}");
    let numbered = r.cmd(&["dpctl/dump-flows", "-m", "--no-names"]).unwrap();
    assert!(numbered.contains("in_port(1)"), "{numbered}");
    assert_eq!(
        r.cmd(&["dpctl/dump-flows", "-x"]).unwrap_err(),
        "Unrecognized option -x"
    );
    assert!(r.cmd(&["dpctl/dump-flows", "rvs@nope"]).is_err());

    let show = r.cmd(&["dpctl/show"]).unwrap();
    assert!(show.starts_with("rvs@br0:\n  lookups: hit:"), "{show}");
    assert!(show.contains("  flows: 2\n"), "{show}");
    assert!(show.contains("  port 1: p1 (memory)\n"), "{show}");
    let stats = r.cmd(&["dpctl/show", "-s"]).unwrap();
    assert!(stats.contains("    RX packets:5 errors:0"), "{stats}");

    let dpif = r.cmd(&["dpif/show"]).unwrap();
    assert!(dpif.starts_with("rvs@br0: hit:"), "{dpif}");
    assert!(dpif.contains("  br0:\n    p1 1/1: (memory)\n"), "{dpif}");

    let bf = r.cmd(&["bridge/dump-flows", "br0"]).unwrap();
    assert!(
        bf.contains("n_packets=2, n_bytes=")
            || bf.contains("priority=20,udp,in_port=1,tp_dst=53,actions=output:3"),
        "{bf}"
    );
    assert!(
        bf.contains("priority=20,udp,in_port=1,tp_dst=53,actions=output:3\n"),
        "{bf}"
    );

    let cov = r.cmd(&["coverage/show"]).unwrap();
    assert!(cov.contains("dpif_upcall"), "{cov}");
    let mem = r.cmd(&["memory/show"]).unwrap();
    assert!(
        mem.starts_with("bridges:1 ") && mem.contains("udpif keys:2") && mem.contains("rules:2"),
        "{mem}"
    );

    assert_eq!(r.cmd(&["dpctl/del-flows"]).unwrap(), "");
    assert_eq!(r.cmd(&["dpctl/dump-flows"]).unwrap(), "");
    r.shutdown();
}

#[test]
fn fdb_show_and_flush_follow_normal_learning() {
    let mut r = rig(2);
    r.flow("priority=0 actions=NORMAL");
    r.barrier();
    r.tx(1, &udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], 9), 1);
    r.tx(2, &udp(mac(2), mac(1), [10, 0, 0, 2], [10, 0, 0, 1], 9), 1);
    let fdb = r.cmd(&["fdb/show", "br0"]).unwrap();
    assert!(
        fdb.starts_with(" port  VLAN  MAC                Age\n"),
        "{fdb}"
    );
    assert!(
        fdb.contains("    1     0  00:00:00:00:00:01    0\n"),
        "{fdb}"
    );
    assert!(
        fdb.contains("    2     0  00:00:00:00:00:02    0\n"),
        "{fdb}"
    );
    assert_eq!(r.cmd(&["fdb/show", "nobr"]).unwrap_err(), "no such bridge");
    assert_eq!(
        r.cmd(&["fdb/flush", "br0"]).unwrap(),
        "table successfully flushed"
    );
    assert_eq!(
        r.cmd(&["fdb/show", "br0"]).unwrap(),
        " port  VLAN  MAC                Age\n"
    );
    r.shutdown();
}

#[test]
fn exit_signals_the_daemon() {
    let r = rig(1);
    assert!(!*r.exit.borrow());
    assert_eq!(r.cmd(&["exit"]).unwrap(), "");
    assert!(*r.exit.borrow());
    let list = r.cmd(&["list-commands"]).unwrap();
    for c in [
        "dpctl/dump-flows",
        "dpctl/show",
        "dpif/show",
        "fdb/show",
        "fdb/flush",
        "ofproto/trace",
        "bridge/dump-flows",
        "coverage/show",
        "vlog/list",
        "vlog/set",
        "memory/show",
        "exit",
    ] {
        assert!(list.contains(&format!("\n  {c} ")), "{c} missing: {list}");
    }
    r.shutdown();
}

/// The real `ovs-appctl` reads the same dump through our socket.
#[test]
fn real_ovs_appctl_dumps_our_megaflows() {
    let appctl = match ["/usr/bin/ovs-appctl", "/usr/local/bin/ovs-appctl"]
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
    {
        Some(p) => *p,
        None => {
            if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() == Ok("1") {
                eprintln!("skipped: ovs-appctl not installed");
                return;
            }
            panic!(
                "ovs-appctl not found (install openvswitch-common, or set RVS_SKIP_SYSTEM_TESTS=1)"
            );
        }
    };
    let mut r = rig(2);
    r.flow("priority=10,in_port=1 actions=output:2");
    r.barrier();
    r.tx(1, &udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], 80), 1);
    /// Removes the directory even when an assertion fails.
    struct DirGuard(std::path::PathBuf);
    impl Drop for DirGuard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = std::env::temp_dir().join(format!("rvs-appctl-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _guard = DirGuard(dir.clone());
    let sock = dir.join("rvs-vswitchd.ctl");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = std::mem::take(&mut r.server);
    let task = rt.spawn({
        let bound = rt.block_on(async { server.bind(sock.clone()) }).unwrap();
        bound.run(stop_rx)
    });
    let run = |args: &[&str]| {
        std::process::Command::new(appctl)
            .arg("-t")
            .arg(&sock)
            .arg("--timeout=10")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["dpctl/dump-flows"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("in_port(1)") && text.contains("actions:2\n"),
        "{text}"
    );
    let tr = run(&["ofproto/trace", "br0", "in_port=1,ip"]);
    assert!(tr.status.success(), "{tr:?}");
    let tr_text = String::from_utf8(tr.stdout).unwrap();
    assert!(tr_text.contains("Datapath actions: 2\n"), "{tr_text}");
    let bad = run(&["fdb/show", "nobr"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8(bad.stderr)
            .unwrap()
            .starts_with("no such bridge")
    );
    let ex = run(&["exit"]);
    assert!(ex.status.success());
    stop_tx.send(true).unwrap();
    rt.block_on(task).unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    r.shutdown();
}
