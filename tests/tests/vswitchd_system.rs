//! `rvs-vswitchd` driven by the unchanged Debian `ovs-vsctl` / `ovs-ofctl`,
//! with hosts in network namespaces (root needed).
//!
//! Each test builds its own namespaces (names `rvsw<pid><n>...`), runs the
//! daemon inside its switch namespace with a private run/db directory, and
//! removes everything on Drop, also when it fails.  Pings are bounded in
//! count and time.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rvs_tests::topo::{Netns, require_system, run_ok};
use rvs_tests::vswitchd_support::Vswitchd;

const PROGRAMS: &[&str] = &["ip", "ping", "ovs-vsctl", "ovs-ofctl", "env", "kill"];

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "rvsw{}{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Hosts in namespaces, each with `eth0` = 10.0.0.<i+1>/24, wired by veth
/// to `<pfx>p<i+1>` in the switch namespace, and the daemon in there.
/// Field order is drop order: the daemon stops before the namespaces go.
struct Lab {
    vs: Vswitchd,
    hosts: Vec<Netns>,
    sw: Netns,
    pfx: String,
}

impl Lab {
    fn new(n_hosts: usize) -> Result<Lab> {
        let pfx = unique();
        let sw = Netns::new(&format!("{pfx}-sw"))?;
        let mut hosts = Vec::new();
        for i in 1..=n_hosts {
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
        Ok(Lab { vs, hosts, sw, pfx })
    }

    fn port(&self, i: usize) -> String {
        format!("{}p{i}", self.pfx)
    }

    /// Pings host `to` (1-based) from host `from`; true if any reply came.
    fn ping(&self, from: usize, to: usize, count: u32) -> Result<bool> {
        let h = self.hosts.get(from - 1).context("no such host")?;
        let c = count.to_string();
        let f = h.exec(
            "ping",
            &[
                "-c",
                &c,
                "-i",
                "0.2",
                "-W",
                "1",
                "-q",
                &format!("10.0.0.{to}"),
            ],
            Duration::from_secs(u64::from(count) + 10),
        )?;
        Ok(f.status.success())
    }

    /// Pings until one succeeds (the first packets may race port set-up),
    /// at most `tries` rounds of 3.
    fn ping_eventually(&self, from: usize, to: usize, tries: u32) -> Result<bool> {
        for _ in 0..tries {
            if self.ping(from, to, 3)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn ofport(vs: &Vswitchd, iface: &str) -> Result<i64> {
    let s = vs.vsctl_ok(&["get", "Interface", iface, "ofport"])?;
    s.trim()
        .parse::<i64>()
        .with_context(|| format!("ofport of {iface}: {s:?}"))
}

/// Sum of `n_packets=` over the flows in a dump.
fn n_packets(dump: &str) -> u64 {
    dump.split([',', ' '])
        .filter_map(|w| w.strip_prefix("n_packets="))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

#[test]
fn vswitchd_standalone_three_hosts_ping() -> Result<()> {
    if !require_system("vswitchd_standalone_three_hosts_ping", PROGRAMS) {
        return Ok(());
    }
    let lab = Lab::new(3)?;
    let vs = &lab.vs;
    let t = Instant::now();
    // Without --no-wait: returns once the daemon applied it.
    vs.vsctl_ok(&["add-br", "br0"])?;
    vs.vsctl_ok(&["set-fail-mode", "br0", "standalone"])?;
    for i in 1..=3 {
        vs.vsctl_ok(&["add-port", "br0", &lab.port(i)])?;
    }
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "five waiting ovs-vsctl calls took {took:?}"
    );
    for i in 1..=3 {
        let p = ofport(vs, &lab.port(i))?;
        assert!((1..0xff00).contains(&p), "ofport of port {i} is {p}");
    }
    let show = vs.vsctl_ok(&["show"])?;
    assert!(show.contains("Bridge br0"), "{show}");
    for i in 1..=3 {
        assert!(show.contains(&format!("Port {}", lab.port(i))), "{show}");
    }
    // The default flow OVS shows on a bridge without controller.
    let flows = vs.ofctl_ok(&["dump-flows", "br0"])?;
    assert!(flows.contains("actions=NORMAL"), "{flows}");
    for (a, b) in [(1, 2), (1, 3), (2, 3), (2, 1), (3, 1), (3, 2)] {
        assert!(
            lab.ping_eventually(a, b, 3)?,
            "h{a} cannot ping h{b}; log:\n{}",
            vs.log()
        );
    }
    // Statistics reach the database (written every few seconds).
    let p1 = lab.port(1);
    wait_for(Duration::from_secs(15), || {
        // A missing key is an error for ovs-vsctl: not written yet.
        let f = vs.vsctl(&["get", "Interface", &p1, "statistics:rx_packets"])?;
        Ok(f.status.success() && f.stdout.trim().parse::<u64>().unwrap_or(0) > 0)
    })
    .context("Interface statistics never written")?;
    // Link state: the device going down shows in the database and in the
    // OpenFlow port description.
    let p3 = lab.port(3);
    lab.sw.ip(&["link", "set", &p3, "down"])?;
    wait_for(Duration::from_secs(10), || {
        Ok(vs
            .vsctl_ok(&["get", "Interface", &p3, "link_state"])?
            .trim()
            == "down")
    })
    .context("link_state did not become down")?;
    let desc = vs.ofctl_ok(&["dump-ports-desc", "br0"])?;
    let p3_desc: String = desc
        .split(&format!("({p3})"))
        .nth(1)
        .map(|rest| rest.lines().take(4).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    assert!(p3_desc.contains("LINK_DOWN"), "{desc}");
    lab.sw.ip(&["link", "set", &p3, "up"])?;
    wait_for(Duration::from_secs(10), || {
        Ok(vs
            .vsctl_ok(&["get", "Interface", &p3, "link_state"])?
            .trim()
            == "up")
    })
    .context("link_state did not come back up")?;
    assert!(lab.ping_eventually(1, 3, 3)?);
    Ok(())
}

/// Polls `f` every 200 ms until it is true or `limit` passes.
fn wait_for(limit: Duration, mut f: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if f()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("condition not met within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn vswitchd_vlans_and_patch_trunk() -> Result<()> {
    if !require_system("vswitchd_vlans_and_patch_trunk", PROGRAMS) {
        return Ok(());
    }
    // h1,h2: VLAN 10 and h3: VLAN 20 on br0; h4: VLAN 10 and h5: VLAN 20
    // on br1; br0 and br1 joined by a patch-port trunk.
    let lab = Lab::new(5)?;
    let vs = &lab.vs;
    let pa = format!("{}pa", lab.pfx);
    let pb = format!("{}pb", lab.pfx);
    vs.vsctl_ok(&[
        "add-br",
        "br0",
        "--",
        "add-br",
        "br1",
        "--",
        "add-port",
        "br0",
        &lab.port(1),
        "tag=10",
        "--",
        "add-port",
        "br0",
        &lab.port(2),
        "tag=10",
        "--",
        "add-port",
        "br0",
        &lab.port(3),
        "tag=20",
        "--",
        "add-port",
        "br1",
        &lab.port(4),
        "tag=10",
        "--",
        "add-port",
        "br1",
        &lab.port(5),
        "tag=20",
    ])?;
    // The patch ends in two steps: the first leads nowhere until the
    // second appears (it still gets a port number, as in OVS).
    vs.vsctl_ok(&[
        "add-port",
        "br0",
        &pa,
        "trunks=10,20",
        "--",
        "set",
        "Interface",
        &pa,
        "type=patch",
        &format!("options:peer={pb}"),
    ])?;
    assert!(ofport(vs, &pa)? > 0, "lone patch port: log:\n{}", vs.log());
    vs.vsctl_ok(&[
        "add-port",
        "br1",
        &pb,
        "trunks=10,20",
        "--",
        "set",
        "Interface",
        &pb,
        "type=patch",
        &format!("options:peer={pa}"),
    ])?;
    assert!(ofport(vs, &pa)? > 0, "patch port a: log:\n{}", vs.log());
    assert!(ofport(vs, &pb)? > 0, "patch port b");
    let vlan = [10, 10, 20, 10, 20];
    for a in 1..=5usize {
        for b in (a + 1)..=5usize {
            let same = vlan[a - 1] == vlan[b - 1];
            let ok = if same {
                lab.ping_eventually(a, b, 3)?
            } else {
                lab.ping(a, b, 2)?
            };
            assert_eq!(
                ok,
                same,
                "h{a} (vlan {}) -> h{b} (vlan {}): ping {}",
                vlan[a - 1],
                vlan[b - 1],
                if ok { "worked" } else { "failed" }
            );
        }
    }
    Ok(())
}

fn secure_two_hosts(lab: &Lab) -> Result<()> {
    let vs = &lab.vs;
    vs.vsctl_ok(&[
        "add-br",
        "br0",
        "--",
        "set-fail-mode",
        "br0",
        "secure",
        "--",
        "add-port",
        "br0",
        &lab.port(1),
        "--",
        "set",
        "Interface",
        &lab.port(1),
        "ofport_request=1",
        "--",
        "add-port",
        "br0",
        &lab.port(2),
        "--",
        "set",
        "Interface",
        &lab.port(2),
        "ofport_request=2",
    ])?;
    assert_eq!(ofport(vs, &lab.port(1))?, 1);
    assert_eq!(ofport(vs, &lab.port(2))?, 2);
    Ok(())
}

#[test]
fn vswitchd_secure_mode_forwards_per_ofctl_flows() -> Result<()> {
    if !require_system("vswitchd_secure_mode_forwards_per_ofctl_flows", PROGRAMS) {
        return Ok(());
    }
    let lab = Lab::new(2)?;
    let vs = &lab.vs;
    secure_two_hosts(&lab)?;
    let flows = vs.ofctl_ok(&["dump-flows", "br0"])?;
    assert!(
        !flows.contains("actions="),
        "secure bridge has flows: {flows}"
    );
    assert!(
        !lab.ping(1, 2, 2)?,
        "a secure bridge without flows forwarded"
    );
    vs.ofctl_ok(&["add-flow", "br0", "in_port=1,actions=output:2"])?;
    vs.ofctl_ok(&["add-flow", "br0", "in_port=2,actions=output:1"])?;
    assert!(lab.ping_eventually(1, 2, 3)?, "log:\n{}", vs.log());
    // Counters (the bridge folds datapath counters into rules periodically).
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let n = n_packets(&vs.ofctl_ok(&["dump-flows", "br0"])?);
        if n > 0 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(first > 0, "flow counters stayed at 0");
    assert!(lab.ping(1, 2, 5)?);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dump = vs.ofctl_ok(&["dump-flows", "br0"])?;
        let n = n_packets(&dump);
        if n >= first + 10 {
            break;
        }
        if Instant::now() > deadline {
            bail!("counters did not increase past {first} + 10: {dump}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Only those flows: a third rule dropping h1's traffic wins by priority.
    vs.ofctl_ok(&["add-flow", "br0", "priority=40000,in_port=1,actions=drop"])?;
    std::thread::sleep(Duration::from_millis(300));
    assert!(!lab.ping(1, 2, 2)?, "the drop flow was not applied");
    Ok(())
}

#[test]
fn vswitchd_restart_keeps_flows_and_traffic() -> Result<()> {
    if !require_system("vswitchd_restart_keeps_flows_and_traffic", PROGRAMS) {
        return Ok(());
    }
    let mut lab = Lab::new(2)?;
    secure_two_hosts(&lab)?;
    lab.vs
        .ofctl_ok(&["add-flow", "br0", "cookie=0x5,in_port=1,actions=output:2"])?;
    lab.vs
        .ofctl_ok(&["add-flow", "br0", "cookie=0x6,in_port=2,actions=output:1"])?;
    assert!(lab.ping_eventually(1, 2, 3)?);
    // A 10 s ping (100 packets) across the restart.
    let h1 = lab.hosts.first().context("h1")?;
    let mut ping = h1
        .command(std::path::Path::new("ping"))
        .args(["-c", "100", "-i", "0.1", "-W", "1", "-q", "10.0.0.2"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    struct Reap<'a>(&'a mut std::process::Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let reap = Reap(&mut ping);
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab.vs.stop(), "rvs-vswitchd did not stop on SIGTERM");
    lab.vs.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = reap.0.try_wait()? {
            break st;
        }
        if Instant::now() > deadline {
            bail!("ping did not finish");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    if let Some(mut o) = reap.0.stdout.take() {
        use std::io::Read;
        o.read_to_string(&mut out)?;
    }
    drop(reap);
    let received: u64 = out
        .split(',')
        .find_map(|p| p.trim().strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("ping output: {out}"))?;
    assert!(status.success() || received > 0, "{out}");
    assert!(
        received >= 90,
        "lost {} of 100 pings across the restart: {out}\nlog:\n{}",
        100 - received,
        lab.vs.log()
    );
    let dump = lab.vs.ofctl_ok(&["dump-flows", "br0"])?;
    assert!(
        dump.contains("cookie=0x5") && dump.contains("cookie=0x6"),
        "flows not restored: {dump}"
    );
    assert!(
        dump.contains("in_port=1") && dump.contains("output:2"),
        "{dump}"
    );
    Ok(())
}

#[test]
fn vswitchd_manager_opens_ovsdb_listener() -> Result<()> {
    if !require_system("vswitchd_manager_opens_ovsdb_listener", PROGRAMS) {
        return Ok(());
    }
    // The daemon runs in the lab's switch namespace, so 127.0.0.1 there is
    // private to this test.
    let lab = Lab::new(0)?;
    let vs = &lab.vs;
    let port = 16640 + (std::process::id() % 1000);
    let target = format!("ptcp:{port}:127.0.0.1");
    vs.vsctl_ok(&["set-manager", &target])?;
    vs.vsctl_ok(&["add-br", "br7"])?;
    let db = format!("--db=tcp:127.0.0.1:{port}");
    let mut out = String::new();
    wait_for(Duration::from_secs(10), || {
        let f = lab.sw.exec(
            "ovs-vsctl",
            &[&db, "--no-wait", "--timeout=5", "list-br"],
            Duration::from_secs(10),
        )?;
        out = f.stdout;
        Ok(f.status.success())
    })
    .context("manager listener never answered")?;
    assert_eq!(out.trim(), "br7");
    // Removing the manager closes the listener.
    vs.vsctl_ok(&["del-manager"])?;
    wait_for(Duration::from_secs(10), || {
        let f = lab.sw.exec(
            "ovs-vsctl",
            &[&db, "--no-wait", "--timeout=2", "list-br"],
            Duration::from_secs(10),
        )?;
        Ok(!f.status.success())
    })
    .context("manager listener still open after del-manager")?;
    Ok(())
}

/// A minimal OpenFlow 1.3 controller on a Unix socket: answers the
/// handshake and echo requests until told to stop.
fn fake_controller(
    path: std::path::PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    use ofproto::wire::{Body, Hello, Message};
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let l = std::os::unix::net::UnixListener::bind(&path)?;
    l.set_nonblocking(true)?;
    Ok(std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut conn = None;
        while conn.is_none() && !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            match l.accept() {
                Ok((s, _)) => conn = Some(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let Some(mut s) = conn else { return };
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        let hello = Message::new(1, Body::Hello(Hello::default())).to_vec();
        let feat = Message::new(2, Body::FeaturesRequest).to_vec();
        if s.write_all(&hello)
            .and_then(|_| s.write_all(&feat))
            .is_err()
        {
            return;
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => continue,
            }
            // Bounded: frames are at most 64 KiB; drop garbage.
            while buf.len() >= 8 {
                let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                if len < 8 {
                    return;
                }
                if buf.len() < len {
                    break;
                }
                let frame: Vec<u8> = buf.drain(..len).collect();
                if let Ok(m) = Message::decode(&frame)
                    && let Body::EchoRequest(data) = m.body
                {
                    let r = Message::new(m.xid, Body::EchoReply(data)).to_vec();
                    if s.write_all(&r).is_err() {
                        return;
                    }
                }
            }
        }
    }))
}

#[test]
fn vswitchd_controller_status_and_default_flow() -> Result<()> {
    if !require_system("vswitchd_controller_status_and_default_flow", PROGRAMS) {
        return Ok(());
    }
    let lab = Lab::new(0)?;
    let vs = &lab.vs;
    vs.vsctl_ok(&["add-br", "br0"])?;
    assert!(
        vs.ofctl_ok(&["dump-flows", "br0"])?
            .contains("actions=NORMAL")
    );
    let sock = vs.dir.path().join("ctl.sock");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ctl = fake_controller(sock.clone(), stop.clone())?;
    struct Stop(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let guard = Stop(stop);
    let target = format!("unix:{}", sock.display());
    vs.vsctl_ok(&["set-controller", "br0", &target])?;
    wait_for(Duration::from_secs(20), || {
        let v = vs.vsctl_ok(&["get", "Controller", "br0", "is_connected"])?;
        Ok(v.trim() == "true")
    })
    .with_context(|| format!("controller never connected; log:\n{}", vs.log()))?;
    let st = vs.vsctl_ok(&["get", "Controller", "br0", "status"])?;
    assert!(st.contains("ACTIVE") || st.contains("IDLE"), "{st}");
    // A bridge with a controller loses the default NORMAL flow...
    let flows = vs.ofctl_ok(&["dump-flows", "br0"])?;
    assert!(!flows.contains("actions=NORMAL"), "{flows}");
    // ...and gets it back when the controller goes.
    vs.vsctl_ok(&["del-controller", "br0"])?;
    let flows = vs.ofctl_ok(&["dump-flows", "br0"])?;
    assert!(flows.contains("actions=NORMAL"), "{flows}");
    // A new fail mode without controllers starts from empty tables (and
    // standalone brings the default flow back), as in OVS.
    vs.ofctl_ok(&["add-flow", "br0", "priority=9,actions=drop"])?;
    vs.vsctl_ok(&["set-fail-mode", "br0", "secure"])?;
    let flows = vs.ofctl_ok(&["dump-flows", "br0"])?;
    assert!(!flows.contains("actions="), "{flows}");
    vs.vsctl_ok(&["set-fail-mode", "br0", "standalone"])?;
    let flows = vs.ofctl_ok(&["dump-flows", "br0"])?;
    assert!(
        flows.contains("actions=NORMAL") && !flows.contains("drop"),
        "{flows}"
    );
    drop(guard);
    let _ = ctl.join();
    Ok(())
}
