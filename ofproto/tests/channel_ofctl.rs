//! Interoperability with the real `ovs-ofctl` (Open vSwitch's own client)
//! over the management socket: `show`, `add-flow`, `dump-flows`,
//! `del-flows`, `dump-ports-desc` and a bounded `monitor` session.
//!
//! Needs `ovs-ofctl` (Debian `openvswitch-common`); without it the test
//! fails unless `RVS_SKIP_SYSTEM_TESTS=1`.

mod channel_support;

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use channel_support::*;
use ofproto::channel::ChannelConfig;

fn have_ovs_ofctl() -> bool {
    let found = std::process::Command::new("ovs-ofctl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() == Ok("1") {
            eprintln!("skipped: ovs-ofctl not installed");
            return false;
        }
        panic!(
            "ovs-ofctl is required (Debian openvswitch-common); set RVS_SKIP_SYSTEM_TESTS=1 to skip"
        );
    }
    true
}

/// Runs `ovs-ofctl -O OpenFlow13 ARGS...` against `sock` (bounded in time)
/// and returns its stdout; panics with its stderr on failure.
async fn ofctl(sock: &Path, cmd: &str, extra: &[&str]) -> String {
    let mut args = vec![cmd, "SOCK"];
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = ofctl_status(sock, &args).await;
    assert!(ok, "ovs-ofctl {args:?} failed: {stderr}\n{stdout}");
    stdout
}

#[tokio::test]
async fn ovs_ofctl_show_add_dump_and_monitor() {
    if !have_ovs_ofctl() {
        return;
    }
    let dir = TempDir::new("ofctl");
    let sock = dir.path("br0.mgmt");
    let sw = Arc::new(Mutex::new(Double::new()));
    let ch = spawn(
        &sw,
        ChannelConfig {
            bridge: "br0".into(),
            mgmt_path: Some(sock.clone()),
            ..ChannelConfig::default()
        },
    );

    let show = ofctl(&sock, "show", &[]).await;
    assert!(show.contains("OFPT_FEATURES_REPLY (OF1.3)"), "{show}");
    assert!(show.contains("dpid:0000123456789abc"), "{show}");
    assert!(show.contains(" 1(p1): addr:02:00:00:00:00:01"), "{show}");
    assert!(show.contains(" 2(p2): addr:02:00:00:00:00:02"), "{show}");
    assert!(show.contains("OFPT_GET_CONFIG_REPLY"), "{show}");

    ofctl(
        &sock,
        "add-flow",
        &["priority=10,in_port=1,actions=output:2"],
    )
    .await;
    ofctl(
        &sock,
        "add-flow",
        &["table=3,priority=5,ip,nw_dst=10.0.0.1,actions=drop"],
    )
    .await;
    assert_eq!(sw.lock().unwrap().sw.tables()[0].len(), 1);
    let dump = ofctl(&sock, "dump-flows", &[]).await;
    let lines: Vec<&str> = dump.lines().filter(|l| l.contains("priority=")).collect();
    assert_eq!(lines.len(), 2, "{dump}");
    assert!(
        lines[0].contains("priority=10,in_port=") && lines[0].contains("actions=output:"),
        "{dump}"
    );
    assert!(
        lines[1].contains("table=3") && lines[1].contains("nw_dst=10.0.0.1"),
        "{dump}"
    );
    ofctl(&sock, "del-flows", &["table=3"]).await;
    let dump = ofctl(&sock, "dump-flows", &[]).await;
    assert_eq!(
        dump.lines().filter(|l| l.contains("priority=")).count(),
        1,
        "{dump}"
    );
    // Without -O ovs-ofctl speaks only 1.0: it reports the failed
    // negotiation (as against an OVS bridge with protocols=OpenFlow13).
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("ovs-ofctl")
            .args(["show", &format!("unix:{}", sock.display())])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ovs-ofctl hung")
    .expect("run ovs-ofctl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("version negotiation failed"), "{err}");
    assert!(err.contains("peer supports version 0x04"), "{err}");
    let ports = ofctl(&sock, "dump-ports-desc", &[]).await;
    assert!(ports.contains("OFPST_PORT_DESC reply (OF1.3)"), "{ports}");

    // monitor with a miss length: asynchronous messages reach it.
    let target = format!("unix:{}", sock.display());
    // Its output goes to files (ovs-ofctl prints the messages on stderr,
    // unbuffered, and block-buffers stdout when it is not a terminal).
    let out_path = dir.path("monitor.out");
    let err_path = dir.path("monitor.err");
    let mut mon = tokio::process::Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13", "monitor", target.as_str(), "65535"])
        // monitor opens a unixctl socket in the run directory.
        .env("OVS_RUNDIR", &dir.0)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ovs-ofctl monitor");
    let read = || {
        let mut t = std::fs::read_to_string(&out_path).unwrap_or_default();
        t.push_str(&std::fs::read_to_string(&err_path).unwrap_or_default());
        t
    };
    let mut seen = false;
    for i in 0..100 {
        // A packet-in and a port status "from the datapath".
        inject(&sw, vec![packet_in(0, 60, i), port_add(10 + u32::from(i))]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = read();
        if t.contains("OFPT_PACKET_IN") && t.contains("OFPT_PORT_STATUS") {
            seen = true;
            break;
        }
    }
    let _ = mon.start_kill();
    let _ = mon.wait().await;
    let text = read();
    assert!(seen, "monitor output: {text}");
    assert!(text.contains("total_len=1500"), "{text}");
    assert!(text.contains("cookie=0xc0ffee"), "{text}");

    ch.shutdown().await;
    assert!(!sock.exists());
}

/// Runs `ovs-ofctl -O OpenFlow13 ARGS...` (`SOCK` stands for `sock`'s
/// target) bounded in time; returns (success, stdout, stderr).
async fn ofctl_status(sock: &Path, args: &[&str]) -> (bool, String, String) {
    let target = format!("unix:{}", sock.display());
    let all: Vec<String> = ["-O", "OpenFlow13"]
        .iter()
        .chain(args)
        .map(|a| {
            if *a == "SOCK" {
                target.clone()
            } else {
                a.to_string()
            }
        })
        .collect();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("ovs-ofctl")
            .args(&all)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("ovs-ofctl {all:?} hung"))
    .expect("run ovs-ofctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `ovs-ofctl --bundle` (the ONF bundle extension over 1.3): a good
/// bundle is applied whole, a bundle with one bad request is applied not
/// at all and the tool reports the request's error.
#[tokio::test]
async fn ovs_ofctl_bundles_are_atomic() {
    if !have_ovs_ofctl() {
        return;
    }
    let dir = TempDir::new("ofctl-bundle");
    let sock = dir.path("br0.mgmt");
    let sw = Arc::new(Mutex::new(Double::new()));
    let ch = spawn(
        &sw,
        ChannelConfig {
            bridge: "br0".into(),
            mgmt_path: Some(sock.clone()),
            ..ChannelConfig::default()
        },
    );
    let flows = dir.path("flows.txt");
    let mut text: String = (1..=300)
        .map(|i| format!("priority=100,udp,tp_dst={i},actions=output:2\n"))
        .collect();
    text.push_str("delete udp,tp_dst=300\n");
    std::fs::write(&flows, &text).unwrap();
    let (ok, out, err) = ofctl_status(
        &sock,
        &["--bundle", "add-flows", "SOCK", flows.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert_eq!(sw.lock().unwrap().sw.tables()[0].len(), 299);

    // One flow to a table that does not exist: nothing of the bundle
    // (which also deletes every earlier flow) may stay.
    let bad = dir.path("bad.txt");
    std::fs::write(
        &bad,
        "delete\npriority=5,in_port=1,actions=output:2\ntable=254,priority=5,actions=goto_table:1\n",
    )
    .unwrap();
    let (ok, out, err) = ofctl_status(
        &sock,
        &["--bundle", "add-flows", "SOCK", bad.to_str().unwrap()],
    )
    .await;
    assert!(!ok, "the bad bundle was accepted: {out}{err}");
    assert!(err.contains("OFPBIC_BAD_TABLE_ID"), "{out}{err}");
    assert_eq!(sw.lock().unwrap().sw.tables()[0].len(), 299);
    let dump = ofctl(&sock, "dump-flows", &[]).await;
    assert!(!dump.contains("priority=5"), "{dump}");

    // replace-flows --bundle: the table becomes exactly the file's.
    let repl = dir.path("repl.txt");
    std::fs::write(&repl, "priority=7,in_port=2,actions=output:1\n").unwrap();
    let (ok, out, err) = ofctl_status(
        &sock,
        &["--bundle", "replace-flows", "SOCK", repl.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}{err}");
    let dump = ofctl(&sock, "dump-flows", &[]).await;
    let lines: Vec<&str> = dump.lines().filter(|l| l.contains("priority=")).collect();
    assert_eq!(lines.len(), 1, "{dump}");
    assert!(lines[0].contains("priority=7,in_port="), "{dump}");

    ch.shutdown().await;
}
