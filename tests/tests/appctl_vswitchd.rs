//! `rvs-appctl` (and the real `ovs-appctl`) against `rvs-vswitchd` with
//! real traffic (root needed): two hosts in network namespaces wired by
//! veth to the daemon's namespace, a three-table pipeline with a group
//! programmed by the unchanged `ovs-ofctl`, pings through it, then
//! `dpctl/dump-flows` must show the megaflows the pings created and
//! `ofproto/trace` must explain the pipeline.
//!
//! Names carry the prefix `rvsa<pid><n>`; namespaces and the daemon are
//! removed on Drop, also when the test fails.  Pings are bounded.

use std::time::Duration;

use anyhow::{Context, Result};
use rvs_tests::ovs::run_with_timeout;
use rvs_tests::topo::{Netns, require_system, run_ok};
use rvs_tests::vswitchd_support::{Vswitchd, rvs_bin};

const PROGRAMS: &[&str] = &["ip", "ping", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "env"];

/// Field order is drop order: the daemon stops before the namespaces go.
struct Lab {
    vs: Vswitchd,
    hosts: Vec<Netns>,
    _sw: Netns,
    pfx: String,
}

impl Lab {
    fn new() -> Result<Lab> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let pfx = format!(
            "rvsa{}{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let sw = Netns::new(&format!("{pfx}-sw"))?;
        let mut hosts = Vec::new();
        for i in 1..=2 {
            let h = Netns::new(&format!("{pfx}-h{i}"))?;
            let port = format!("{pfx}p{i}");
            run_ok(
                "ip",
                &[
                    "link",
                    "add",
                    &port,
                    "netns",
                    sw.name(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    h.name(),
                ],
            )?;
            h.ip(&["addr", "add", &format!("10.0.0.{i}/24"), "dev", "eth0"])?;
            h.ip(&["link", "set", "eth0", "up"])?;
            sw.ip(&["link", "set", &port, "up"])?;
            hosts.push(h);
        }
        let vs = Vswitchd::start(Some(sw.name()))?;
        Ok(Lab {
            vs,
            hosts,
            _sw: sw,
            pfx,
        })
    }

    fn ping(&self, from: usize, to: usize) -> Result<bool> {
        let h = self.hosts.get(from - 1).context("no such host")?;
        let f = h.exec(
            "ping",
            &[
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "1",
                "-q",
                &format!("10.0.0.{to}"),
            ],
            Duration::from_secs(15),
        )?;
        Ok(f.status.success())
    }

    /// `rvs-appctl -t <ctl> ARGS` with the daemon's OVS_RUNDIR.
    fn rvs_appctl(&self, args: &[&str]) -> Result<rvs_tests::ovs::Finished> {
        let bin = rvs_bin("rvs-appctl")?;
        let env = rvs_tests::ovs::find_program("env").context("env")?;
        let mut a = vec![
            format!("OVS_RUNDIR={}", self.vs.rundir().display()),
            bin.display().to_string(),
            "--timeout=20".to_string(),
            "-t".to_string(),
            self.vs.ctl_path().display().to_string(),
        ];
        a.extend(args.iter().map(|s| s.to_string()));
        run_with_timeout(&env, &a, Duration::from_secs(30))
    }
}

#[test]
fn appctl_shows_megaflows_from_traffic_and_traces_a_three_table_pipeline() -> Result<()> {
    if !require_system(
        "appctl_shows_megaflows_from_traffic_and_traces_a_three_table_pipeline",
        PROGRAMS,
    ) {
        return Ok(());
    }
    // Build the tool first: used times below are relative to the pings.
    rvs_bin("rvs-appctl")?;
    let lab = Lab::new()?;
    let vs = &lab.vs;
    let (p1, p2) = (format!("{}p1", lab.pfx), format!("{}p2", lab.pfx));
    vs.vsctl_ok(&["add-br", "br0", "--", "set-fail-mode", "br0", "secure"])?;
    vs.vsctl_ok(&[
        "add-port",
        "br0",
        &p1,
        "--",
        "set",
        "Interface",
        &p1,
        "ofport_request=1",
    ])?;
    vs.vsctl_ok(&[
        "add-port",
        "br0",
        &p2,
        "--",
        "set",
        "Interface",
        &p2,
        "ofport_request=2",
    ])?;
    vs.ofctl_ok(&["add-group", "br0", "group_id=1,type=all,bucket=output:2"])?;
    for f in [
        "table=0,priority=10 actions=goto_table:1",
        "table=1,priority=10 actions=write_metadata:0x1/0x1,goto_table:2",
        "table=2,priority=10,in_port=1,metadata=0x1/0x1 actions=group:1",
        "table=2,priority=10,in_port=2 actions=output:1",
    ] {
        vs.ofctl_ok(&["add-flow", "br0", f])?;
    }
    let mut ok = false;
    for _ in 0..3 {
        if lab.ping(1, 2)? {
            ok = true;
            break;
        }
    }
    assert!(
        ok,
        "h1 cannot ping h2 through the pipeline; log:\n{}",
        vs.log()
    );

    // dpctl/dump-flows: megaflows created by the pings, with counters.
    let d = lab.rvs_appctl(&["dpctl/dump-flows"])?;
    assert!(d.status.success(), "{d:?}");
    assert!(
        d.stdout.starts_with("flow-dump from the main thread:\n"),
        "{}",
        d.stdout
    );
    let flows: Vec<&str> = d.stdout.lines().skip(1).collect();
    assert!(flows.len() >= 2, "{}", d.stdout);
    for l in &flows {
        let used = l
            .split(", used:")
            .nth(1)
            .and_then(|u| u.split('s').next())
            .and_then(|u| u.parse::<f64>().ok());
        assert!(
            used.is_some_and(|u| u < 60.0),
            "used time should be recent: {l}"
        );
    }
    let hit: Vec<&&str> = flows
        .iter()
        .filter(|l| !l.contains(" packets:0,"))
        .collect();
    assert!(!hit.is_empty(), "no megaflow counted packets: {}", d.stdout);
    assert!(
        flows.iter().any(|l| l.contains("in_port(1)")
            && (l.ends_with("actions:2") || l.ends_with("actions:clone(2)"))),
        "{}",
        d.stdout
    );
    assert!(
        flows
            .iter()
            .any(|l| l.contains("in_port(2)") && l.ends_with("actions:1")),
        "{}",
        d.stdout
    );
    // The real ovs-appctl reads the same flows.
    let o = vs.appctl(&["dpctl/dump-flows"])?;
    assert!(o.status.success(), "{o:?}");
    assert_eq!(o.stdout.lines().count(), d.stdout.lines().count());

    // ofproto/trace explains the three tables and the group.
    let t = lab.rvs_appctl(&[
        "ofproto/trace",
        "br0",
        &format!("in_port={p1},icmp,nw_dst=10.0.0.2"),
    ])?;
    assert!(t.status.success(), "{t:?}");
    let text = &t.stdout;
    assert!(text.contains("bridge(\"br0\")"), "{text}");
    assert!(
        text.contains(" 0. priority 10\n    goto_table:1\n"),
        "{text}"
    );
    assert!(
        text.contains(" 1. priority 10\n    write_metadata:0x1/0x1\n    goto_table:2\n"),
        "{text}"
    );
    assert!(
        text.contains(" 2. metadata=0x1/0x1,in_port=1, priority 10\n    group:1\n"),
        "{text}"
    );
    assert!(
        text.contains("    group 1 bucket 0\n            output:2\n"),
        "{text}"
    );
    assert!(text.contains("\nDatapath actions: "), "{text}");
    let j = lab.rvs_appctl(&["ofproto/trace", "--format=json", "br0", "in_port=1,icmp"])?;
    let v: serde_json::Value = serde_json::from_str(&j.stdout).context("trace JSON")?;
    assert_eq!(
        v["tables"].as_array().map(Vec::len),
        Some(3),
        "{}",
        j.stdout
    );

    // The other views answer too.
    let s = lab.rvs_appctl(&["dpif/show"])?;
    assert!(s.stdout.contains(&format!("    {p1} 1/")), "{}", s.stdout);
    let b = lab.rvs_appctl(&["bridge/dump-flows", "br0"])?;
    assert!(b.stdout.contains("table_id=2, "), "{}", b.stdout);

    // other_config:max-idle: idle megaflows go after that long (here well
    // before the 10 s default).
    assert!(lab.ping(1, 2)?, "ping before max-idle");
    let d = lab.rvs_appctl(&["dpctl/dump-flows"])?;
    assert!(d.stdout.contains("recirc_id"), "{}", d.stdout);
    vs.vsctl_ok(&["set", "Open_vSwitch", ".", "other_config:max-idle=1000"])?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut left = String::new();
    while std::time::Instant::now() < deadline {
        left = lab.rvs_appctl(&["dpctl/dump-flows"])?.stdout;
        if !left.contains("recirc_id") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(!left.contains("recirc_id"), "megaflows still there: {left}");
    Ok(())
}
