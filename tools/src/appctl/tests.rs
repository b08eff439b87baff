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
    rig_with_limit(n_ports, DpifConfig::default().flow_limit)
}

/// A rig whose datapath holds at most `flow_limit` megaflows.
fn rig_with_limit(n_ports: u32, flow_limit: usize) -> Rig {
    let cfg = BridgeConfig {
        name: "br0".into(),
        settings: SwitchSettings::default(),
        dpif: DpifConfig {
            pmd_threads: 1,
            poll_timeout: Duration::from_millis(5),
            flow_limit,
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
        "coverage/read-counter",
        "upcall/show",
        "revalidator/purge",
        "dpif-netdev/pmd-stats-show",
        "dpif-netdev/pmd-stats-clear",
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
    // What bench/flowscale.sh parses, through the real client.
    let up = run(&["upcall/show"]);
    assert!(up.status.success(), "{up:?}");
    assert_eq!(
        String::from_utf8(up.stdout).unwrap(),
        "rvs@br0:\n  flows         : (current 1) (limit 200000)\n"
    );
    let pmd = run(&["dpif-netdev/pmd-stats-show"]);
    let pmd_text = String::from_utf8(pmd.stdout).unwrap();
    assert!(
        pmd_text.contains("  miss with success upcall: 1\n"),
        "{pmd_text}"
    );
    let cnt = run(&["coverage/read-counter", "upcall_flow_limit_hit"]);
    assert_eq!(String::from_utf8(cnt.stdout).unwrap(), "0\n");
    let ex = run(&["exit"]);
    assert!(ex.status.success());
    stop_tx.send(true).unwrap();
    rt.block_on(task).unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    r.shutdown();
}

/// Sum of the last field of every line containing `key:` (what
/// bench/flowscale.sh's `pmd_field` computes with awk).
fn pmd_field(text: &str, key: &str) -> u64 {
    let k = format!("{key}:");
    text.lines()
        .filter(|l| l.contains(&k))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// `upcall/show`'s `(limit N)`, as flowscale.sh's sed extracts it.
fn limit_of(text: &str) -> Option<u64> {
    let i = text.find("(limit ")? + "(limit ".len();
    let rest = &text[i..];
    rest[..rest.find(')')?].parse().ok()
}

#[test]
fn pmd_stats_show_and_clear_count_since_the_clear() {
    let mut r = rig(2);
    r.flow("priority=10,in_port=1 actions=output:2");
    // One rule per destination port used below, so that (as in
    // flowscale.sh) every port needs a megaflow of its own.
    for port in [53, 80, 81, 82] {
        r.flow(&format!("priority=20,udp,tp_dst={port} actions=output:2"));
    }
    r.barrier();
    let empty = r.cmd(&["dpif-netdev/pmd-stats-show"]).unwrap();
    assert!(
        empty.starts_with("pmd threads of rvs@br0 (counters summed over its threads):\n"),
        "{empty}"
    );
    assert_eq!(pmd_field(&empty, "packets received"), 0);
    assert!(empty.contains("  avg. datapath passes per packet: 0.00\n"));
    // Three distinct UDP ports: three upcalls.
    for port in [53u16, 80, 81] {
        r.tx(
            1,
            &udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], port),
            1,
        );
    }
    // Repeats hit the caches.
    for port in [53u16, 80, 81] {
        r.tx(
            1,
            &udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], port),
            2,
        );
    }
    let s1 = r.cmd(&["dpif-netdev/pmd-stats-show"]).unwrap();
    assert_eq!(pmd_field(&s1, "packets received"), 9, "{s1}");
    assert_eq!(pmd_field(&s1, "miss with success upcall"), 3, "{s1}");
    assert_eq!(pmd_field(&s1, "miss with failed upcall"), 0, "{s1}");
    assert_eq!(
        pmd_field(&s1, "emc hits") + pmd_field(&s1, "megaflow hits"),
        6,
        "{s1}"
    );
    assert!(s1.contains("  packet recirculations: 0\n"), "{s1}");
    assert!(s1.contains("  avg. datapath passes per packet: 1.00\n"));
    assert!(!s1.contains("smc hits"), "rvs has no SMC: {s1}");
    // The datapath name selects; a wrong one is an error.
    // (The PMD thread keeps iterating, so compare without those lines.)
    let no_iter = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.contains("iterations"))
            .map(str::to_owned)
            .collect()
    };
    for dp in ["rvs@br0", "br0"] {
        let named = r.cmd(&["dpif-netdev/pmd-stats-show", dp]).unwrap();
        assert_eq!(no_iter(&named), no_iter(&s1), "{dp}");
    }
    assert!(r.cmd(&["dpif-netdev/pmd-stats-show", "rvs@nope"]).is_err());
    assert!(r.cmd(&["dpif-netdev/pmd-stats-show", "-pmd", "1"]).is_err());

    assert_eq!(r.cmd(&["dpif-netdev/pmd-stats-clear"]).unwrap(), "");
    let s2 = r.cmd(&["dpif-netdev/pmd-stats-show"]).unwrap();
    assert_eq!(pmd_field(&s2, "packets received"), 0, "{s2}");
    assert_eq!(pmd_field(&s2, "miss with success upcall"), 0, "{s2}");
    r.tx(1, &udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], 82), 1);
    r.tx(1, &udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], 53), 1);
    let s3 = r.cmd(&["dpif-netdev/pmd-stats-show"]).unwrap();
    assert_eq!(pmd_field(&s3, "packets received"), 2, "{s3}");
    assert_eq!(pmd_field(&s3, "miss with success upcall"), 1, "{s3}");
    // Totals elsewhere are not reset by the clear (as in OVS).
    assert_eq!(
        r.cmd(&["coverage/read-counter", "dpif_upcall"]).unwrap(),
        "4\n"
    );
    let show = r.cmd(&["dpctl/show"]).unwrap();
    assert!(show.contains("lookups: hit:7 missed:4 lost:0\n"), "{show}");
    r.shutdown();
}

#[test]
fn upcall_show_purge_and_read_counter_follow_the_datapath() {
    // Room for two megaflows only.
    let mut r = rig_with_limit(2, 2);
    r.flow("priority=10,in_port=1 actions=output:2");
    // One rule per destination port used below, so that (as in
    // flowscale.sh) every port needs a megaflow of its own.
    for port in [53, 80, 81, 82] {
        r.flow(&format!("priority=20,udp,tp_dst={port} actions=output:2"));
    }
    r.barrier();
    let up0 = r.cmd(&["upcall/show"]).unwrap();
    assert_eq!(up0, "rvs@br0:\n  flows         : (current 0) (limit 2)\n");
    assert_eq!(limit_of(&up0), Some(2));
    for port in [53u16, 80, 81, 82] {
        r.tx(
            1,
            &udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], port),
            1,
        );
    }
    let up1 = r.cmd(&["upcall/show"]).unwrap();
    assert!(up1.contains("(current 2) (limit 2)"), "{up1}");
    let dump = r.cmd(&["dpctl/dump-flows"]).unwrap();
    assert_eq!(
        dump.lines().filter(|l| l.starts_with("recirc_id")).count(),
        2,
        "{dump}"
    );
    // Two upcalls found the datapath full: OVS's name and rvs's agree.
    assert_eq!(
        r.cmd(&["coverage/read-counter", "upcall_flow_limit_hit"])
            .unwrap(),
        "2\n"
    );
    assert_eq!(
        r.cmd(&["coverage/read-counter", "dpif_flow_limit_hit"])
            .unwrap(),
        "2\n"
    );
    assert_eq!(
        r.cmd(&["coverage/read-counter", "dpif_upcall"]).unwrap(),
        "4\n"
    );
    assert_eq!(
        r.cmd(&["coverage/read-counter", "no_such_thing"])
            .unwrap_err(),
        "No such counter"
    );
    assert!(r.cmd(&["coverage/read-counter"]).is_err());
    // Packets over the limit were still forwarded (executed once each).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = 0;
    while got < 4 && Instant::now() < deadline {
        match r.hosts[1].recv_frame() {
            Some(_) => got += 1,
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    assert_eq!(got, 4);

    assert_eq!(r.cmd(&["revalidator/purge"]).unwrap(), "");
    assert!(
        r.cmd(&["upcall/show"])
            .unwrap()
            .contains("(current 0) (limit 2)")
    );
    assert_eq!(r.cmd(&["dpctl/dump-flows"]).unwrap(), "");
    // After the purge the next packets install megaflows again.
    r.tx(1, &udp(mac(1), mac(2), [10, 0, 0, 1], [10, 0, 0, 2], 53), 1);
    assert!(
        r.cmd(&["upcall/show"])
            .unwrap()
            .contains("(current 1) (limit 2)")
    );
    r.shutdown();
}

#[test]
fn pmd_stats_helpers() {
    use datapath::pmd::PmdStats;
    let a = PmdStats {
        emc_hits: 5,
        megaflow_hits: 7,
        upcalls: 3,
        upcall_errors: 1,
        ..PmdStats::default()
    };
    let b = PmdStats {
        emc_hits: 2,
        megaflow_hits: 9,
        ..PmdStats::default()
    };
    let d = dpstats::stats_since(&a, &b);
    assert_eq!((d.emc_hits, d.megaflow_hits, d.upcalls), (3, 0, 3));
    let text = dpstats::pmd_stats_show("rvs@x", &a);
    assert_eq!(pmd_field(&text, "packets received"), 15);
    assert_eq!(pmd_field(&text, "miss with success upcall"), 2);
    assert_eq!(pmd_field(&text, "miss with failed upcall"), 1);
    assert_eq!(dpstats::pmd_stats_args(&[]).unwrap(), None);
    assert_eq!(
        dpstats::pmd_stats_args(&["rvs@x".to_owned()]).unwrap(),
        Some("rvs@x")
    );
    assert!(dpstats::pmd_stats_args(&["-x".to_owned()]).is_err());
    assert!(dpstats::pmd_stats_args(&["a".to_owned(), "b".to_owned()]).is_err());
}
