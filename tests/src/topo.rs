//! A Mininet-style topology harness for end-to-end tests.
//!
//! - [`Netns`]: a named network namespace (`ip netns add`), deleted on Drop.
//! - [`Topo`]: hosts (one namespace each, one `eth0`), a switch namespace that
//!   holds every switch-side veth end, and builders for the usual shapes
//!   ([`Topo::single`], [`Topo::linear`], [`Topo::tree`]).  [`Topo::ping`],
//!   [`Topo::ping_all`] and [`Topo::iperf`] measure reachability.
//! - [`SwitchKind`] / [`SwitchUnderTest`]: the switch the topology is wired
//!   to: real Open vSwitch (`ovsdb-server` + `ovs-vswitchd`, the reference) or
//!   `rvs-vswitchd` in drop-in mode beside the same real `ovsdb-server`.  Both
//!   run inside the topology's switch namespace with a private
//!   `OVS_RUNDIR`/`OVS_DBDIR`/`OVS_LOGDIR`, so their TAP devices and ports die
//!   with it.  Chosen with `RVS_E2E_SWITCH=rvs|ovs` (default `rvs`).
//! - [`Controller`]: an os-ken controller (`osken-manager` from the test
//!   venv) running one of the apps in `tests/controllers/`, listening on the
//!   switch namespace's loopback.
//!
//! Safety: names carry a per-process unique prefix (`rvse<pid>-<n>`); traffic
//! stays between namespaces this harness created; every wait and every
//! command has a deadline and every ping a bounded count; processes are
//! started by this harness and stopped by their own PID; namespaces and
//! temporary directories are removed on Drop, also when a test panics.

use std::fmt;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::ovs::{Finished, find_program, run_with_timeout, skip_system_tests, wait_with_deadline};

/// Environment variable selecting the switch under test (`rvs` or `ovs`).
pub const SWITCH_ENV: &str = "RVS_E2E_SWITCH";

/// Deadline for one short command (`ip`, `ovs-vsctl`, ...).
const CMD_TIMEOUT: Duration = Duration::from_secs(20);

/// Most pings one [`Topo::ping`] call may send.
pub const MAX_PING_COUNT: u32 = 100;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name prefix unique to this process and call: `rvse<pid>-<n>`.
pub fn unique_prefix() -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("rvse{}-{}", std::process::id(), n)
}

/// Checks that the test can run: root, and every program in `programs`.
///
/// Returns `false` (after printing `skipped: ...`) only under
/// `RVS_SKIP_SYSTEM_TESTS=1`; otherwise anything missing panics with a
/// message saying what is needed, so the test fails loudly.
pub fn require_system(test: &str, programs: &[&str]) -> bool {
    let mut missing: Vec<String> = programs
        .iter()
        .filter(|p| find_program(p).is_none())
        .map(|p| format!("program `{p}`"))
        .collect();
    if !is_root() {
        missing.push("root privileges (network namespaces)".to_string());
    }
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    if skip_system_tests() {
        println!("skipped: {test}: missing {what} (RVS_SKIP_SYSTEM_TESTS=1)");
        return false;
    }
    panic!(
        "{test}: missing {what}; run as root with the Debian packages installed \
         (`sudo tests/run-all.sh`), or set RVS_SKIP_SYSTEM_TESTS=1 to skip"
    );
}

/// True when the effective uid (from `/proc/self/status`) is 0.
fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Runs `program args` with [`CMD_TIMEOUT`] and fails unless it exits 0.
pub fn run_ok(program: &str, args: &[&str]) -> Result<Finished> {
    let path = find_program(program).with_context(|| format!("`{program}` not found"))?;
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let f = run_with_timeout(&path, &args, CMD_TIMEOUT)?;
    if !f.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}{}",
            args.join(" "),
            f.status,
            f.stderr.trim(),
            f.stdout.trim()
        );
    }
    Ok(f)
}

// ---------------------------------------------------------------------------
// Namespaces and temporary directories
// ---------------------------------------------------------------------------

/// Removes what an earlier, killed test process of this harness left
/// behind: namespaces `rvse<pid>-...` and directories `<tmp>/rvse<pid>-...`
/// whose `<pid>` no longer runs.  Only names of this harness's pattern are
/// touched; no process is signalled.
pub fn sweep_stale() {
    fn dead_owner(name: &str) -> bool {
        let Some(rest) = name.strip_prefix("rvse") else {
            return false;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let well_formed = !digits.is_empty() && rest[digits.len()..].starts_with('-');
        well_formed
            && digits.parse::<u32>().is_ok_and(|pid| {
                pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
            })
    }
    if let Ok(f) = run_ok("ip", &["netns", "list"]) {
        for name in f.stdout.lines().filter_map(|l| l.split_whitespace().next()) {
            if dead_owner(name) {
                let _ = run_ok("ip", &["netns", "del", name]);
            }
        }
    }
    if let Ok(rd) = fs::read_dir(std::env::temp_dir()) {
        for e in rd.flatten() {
            if e.file_name().to_str().is_some_and(dead_owner) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A named network namespace created by this harness; deleted on Drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` (which must not exist) with `lo` up.
    pub fn new(name: &str) -> Result<Netns> {
        ensure!(
            name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "bad namespace name {name:?}"
        );
        run_ok("ip", &["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (as in `ip netns list`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> args...`, failing unless it exits 0.
    pub fn ip(&self, args: &[&str]) -> Result<Finished> {
        let mut v = vec!["-n", self.name.as_str()];
        v.extend_from_slice(args);
        run_ok("ip", &v)
    }

    /// Runs `program args...` inside the namespace with a deadline; returns
    /// its output whatever the exit status.
    pub fn exec(&self, program: &str, args: &[&str], timeout: Duration) -> Result<Finished> {
        let ip = find_program("ip").context("`ip` not found")?;
        let mut v = vec![
            "netns".to_string(),
            "exec".to_string(),
            self.name.clone(),
            program.to_string(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        run_with_timeout(&ip, &v, timeout)
    }

    /// A command that runs `program` inside the namespace.  `ip netns exec`
    /// (and `setpriv`, when present) exec the program in place, so the
    /// child's PID is the program's.  With `setpriv --pdeathsig KILL` the
    /// program also dies if the test process is killed before its guards
    /// run (the signal follows the spawning thread, which owns the guard).
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(find_program("ip").unwrap_or_else(|| "ip".into()));
        c.args(["netns", "exec", &self.name]);
        if let Some(setpriv) = find_program("setpriv") {
            c.arg(setpriv).args(["--pdeathsig", "KILL", "--"]);
        }
        c.arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run_ok("ip", &["netns", "del", &self.name]) {
            eprintln!("topo: deleting namespace {}: {e:#}", self.name);
        }
    }
}

/// A private temporary directory (mode 0700), removed on Drop unless
/// `RVS_E2E_KEEP=1` (then its path is printed, to read the logs).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/<prefix>` .
    pub fn new(prefix: &str) -> Result<TempDir> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(prefix);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var("RVS_E2E_KEEP").is_ok_and(|v| v == "1") {
            eprintln!("topo: keeping {}", self.path.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Topology
// ---------------------------------------------------------------------------

/// One host: a namespace with `eth0` (address `10.0.0.<n>/8`).
#[derive(Debug)]
pub struct Host {
    /// Logical name (`h1`, ...).
    pub name: String,
    /// IPv4 address of `eth0`.
    pub ip: Ipv4Addr,
    /// MAC address of `eth0` (locally administered, from the host number).
    pub mac: [u8; 6],
    /// The host's namespace.
    pub ns: Netns,
}

/// A switch of the topology: just the names of its ports (veth ends in the
/// switch namespace), in port order.  Wiring it to a real switch is the
/// test's job (see [`SwitchUnderTest::add_topo_bridges`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchDesc {
    /// Logical name, also used as the bridge name (`s1`, ...).
    pub name: String,
    /// Interface names in the switch namespace; port `i` gets
    /// `ofport_request = i + 1`.
    pub ports: Vec<String>,
}

/// Hosts, switches and links in namespaces; everything removed on Drop.
#[derive(Debug)]
pub struct Topo {
    prefix: String,
    // Field order is drop order: hosts first, then the switch namespace.
    hosts: Vec<Host>,
    switches: Vec<SwitchDesc>,
    switch_ns: Netns,
}

/// Result of one [`Topo::ping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingStats {
    /// Echo requests sent.
    pub transmitted: u32,
    /// Echo replies received.
    pub received: u32,
}

/// Result of [`Topo::ping_all`]: one entry per ordered host pair.
#[derive(Debug, Clone)]
pub struct PingAll {
    /// `(from, to, stats)` by logical host name.
    pub pairs: Vec<(String, String, PingStats)>,
}

impl PingAll {
    /// Pairs with no reply at all.
    pub fn unreachable(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter(|(_, _, s)| s.received == 0)
            .map(|(a, b, _)| (a.clone(), b.clone()))
            .collect()
    }

    /// Percentage of echo requests without a reply (Mininet's "dropped").
    pub fn dropped_percent(&self) -> f64 {
        let tx: u32 = self.pairs.iter().map(|p| p.2.transmitted).sum();
        let rx: u32 = self.pairs.iter().map(|p| p.2.received).sum();
        if tx == 0 {
            return 100.0;
        }
        100.0 * f64::from(tx.saturating_sub(rx)) / f64::from(tx)
    }
}

impl fmt::Display for PingAll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (a, b, s) in &self.pairs {
            writeln!(f, "{a} -> {b}: {}/{} received", s.received, s.transmitted)?;
        }
        write!(f, "dropped {:.0}%", self.dropped_percent())
    }
}

impl Topo {
    /// An empty topology: a fresh switch namespace `<prefix>-sw` (after
    /// [`sweep_stale`]).
    pub fn new() -> Result<Topo> {
        sweep_stale();
        let prefix = unique_prefix();
        let switch_ns = Netns::new(&format!("{prefix}-sw"))?;
        Ok(Topo {
            prefix,
            hosts: Vec::new(),
            switches: Vec::new(),
            switch_ns,
        })
    }

    /// `n` hosts on one switch `s1` (ports `s1-eth1`..).
    pub fn single(n: usize) -> Result<Topo> {
        Topo::linear(1, n)
    }

    /// `k` switches in a chain, `n` hosts on each (Mininet's
    /// `linear,k,n`): hosts `h1`.. numbered switch by switch; switch `si`
    /// has its hosts' ports first, then the link to `s(i-1)`, then to `s(i+1)`.
    pub fn linear(k: usize, n: usize) -> Result<Topo> {
        ensure!(
            (1..=32).contains(&k) && (1..=32).contains(&n),
            "topology too large"
        );
        let mut t = Topo::new()?;
        for s in 1..=k {
            t.add_switch(&format!("s{s}"));
            for _ in 0..n {
                let h = t.add_host()?;
                t.link_host(h, s - 1)?;
            }
        }
        for s in 1..k {
            t.link_switches(s - 1, s)?;
        }
        Ok(t)
    }

    /// A tree of switches `depth` levels deep with `fanout` children per
    /// switch; hosts hang off the leaves (Mininet's `tree,depth,fanout`).
    pub fn tree(depth: usize, fanout: usize) -> Result<Topo> {
        ensure!(
            (1..=4).contains(&depth) && (1..=4).contains(&fanout),
            "topology too large"
        );
        let mut t = Topo::new()?;
        t.tree_level(None, depth, fanout)?;
        Ok(t)
    }

    fn tree_level(&mut self, parent: Option<usize>, depth: usize, fanout: usize) -> Result<()> {
        let s = self.add_switch(&format!("s{}", self.switches.len() + 1));
        if let Some(p) = parent {
            self.link_switches(p, s)?;
        }
        for _ in 0..fanout {
            if depth == 1 {
                let h = self.add_host()?;
                self.link_host(h, s)?;
            } else {
                self.tree_level(Some(s), depth - 1, fanout)?;
            }
        }
        Ok(())
    }

    /// The unique prefix of every name this topology created.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The namespace holding the switch-side veth ends (and, by convention,
    /// the switch daemons and controllers).
    pub fn switch_ns(&self) -> &Netns {
        &self.switch_ns
    }

    /// The hosts, in creation order (`h1` first).
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The switches, in creation order.
    pub fn switches(&self) -> &[SwitchDesc] {
        &self.switches
    }

    /// Adds a switch description (no namespace or daemon of its own).
    pub fn add_switch(&mut self, name: &str) -> usize {
        self.switches.push(SwitchDesc {
            name: name.to_string(),
            ports: Vec::new(),
        });
        self.switches.len() - 1
    }

    /// Adds host `h<n>` in namespace `<prefix>-h<n>`; no link yet.
    pub fn add_host(&mut self) -> Result<usize> {
        let n = self.hosts.len() + 1;
        ensure!(n < 250, "too many hosts");
        let name = format!("h{n}");
        let ns = Netns::new(&format!("{}-{name}", self.prefix))?;
        // No IPv6 noise (router solicitations, MLD) in the switch's path.
        ns.exec(
            "sysctl",
            &["-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"],
            CMD_TIMEOUT,
        )?;
        ns.exec(
            "sysctl",
            &["-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"],
            CMD_TIMEOUT,
        )?;
        let n8 = u8::try_from(n).context("host number")?;
        self.hosts.push(Host {
            name,
            ip: Ipv4Addr::new(10, 0, 0, n8),
            mac: [0x02, 0xe2, 0xe0, 0x00, 0x00, n8],
            ns,
        });
        Ok(self.hosts.len() - 1)
    }

    /// Links host `host`'s `eth0` to a new port `<switch>-eth<k>` of switch
    /// `switch` (a veth pair between the two namespaces), addresses it and
    /// brings both ends up.
    pub fn link_host(&mut self, host: usize, switch: usize) -> Result<String> {
        let sw_if = self.next_port_name(switch)?;
        let h = self.hosts.get(host).context("no such host")?;
        let mac = mac_text(&h.mac);
        h.ns.ip(&[
            "link",
            "add",
            "eth0",
            "address",
            &mac,
            "type",
            "veth",
            "peer",
            "name",
            &sw_if,
            "netns",
            self.switch_ns.name(),
        ])?;
        h.ns.ip(&["addr", "add", &format!("{}/8", h.ip), "dev", "eth0"])?;
        h.ns.ip(&["link", "set", "eth0", "up"])?;
        self.switch_ns.ip(&["link", "set", &sw_if, "up"])?;
        self.push_port(switch, sw_if.clone())?;
        Ok(sw_if)
    }

    /// Links two switches with a veth pair inside the switch namespace.
    pub fn link_switches(&mut self, a: usize, b: usize) -> Result<(String, String)> {
        let a_if = self.next_port_name(a)?;
        let mut b_if = self.next_port_name(b)?;
        if a == b {
            // Both ends on one switch: the second end is one further.
            let k = self.switches[b].ports.len() + 2;
            b_if = format!("{}-eth{k}", self.switches[b].name);
        }
        self.switch_ns
            .ip(&["link", "add", &a_if, "type", "veth", "peer", "name", &b_if])?;
        self.switch_ns.ip(&["link", "set", &a_if, "up"])?;
        self.switch_ns.ip(&["link", "set", &b_if, "up"])?;
        self.push_port(a, a_if.clone())?;
        self.push_port(b, b_if.clone())?;
        Ok((a_if, b_if))
    }

    fn next_port_name(&self, switch: usize) -> Result<String> {
        let s = self.switches.get(switch).context("no such switch")?;
        let name = format!("{}-eth{}", s.name, s.ports.len() + 1);
        ensure!(name.len() <= 15, "interface name {name} too long");
        Ok(name)
    }

    fn push_port(&mut self, switch: usize, name: String) -> Result<()> {
        self.switches
            .get_mut(switch)
            .context("no such switch")?
            .ports
            .push(name);
        Ok(())
    }

    /// Makes every switch a Linux bridge (`br-<name>`, STP off) in the
    /// switch namespace with all its ports: a kernel reference switch for
    /// comparisons and for testing the harness itself.
    pub fn linux_bridges(&self) -> Result<()> {
        let ns = &self.switch_ns;
        for s in &self.switches {
            let br = format!("br-{}", s.name);
            ensure!(br.len() <= 15, "bridge name {br} too long");
            ns.ip(&["link", "add", &br, "type", "bridge", "stp_state", "0"])?;
            for p in &s.ports {
                ns.ip(&["link", "set", p, "master", &br])?;
            }
            ns.ip(&["link", "set", &br, "up"])?;
        }
        Ok(())
    }

    /// Turns transmit checksum offload (and with it TSO) of every host's
    /// `eth0` on or off (`ethtool -K eth0 tx on|off`).  Veth pairs hand
    /// packets over with the checksum still to be filled in; a userspace
    /// switch reading them from AF_PACKET must cope with that (Open
    /// vSwitch's netdev datapath does not: TCP stalls unless it is off).
    pub fn set_host_tx_offload(&self, on: bool) -> Result<()> {
        let v = if on { "on" } else { "off" };
        for h in &self.hosts {
            let f =
                h.ns.exec("ethtool", &["-K", "eth0", "tx", v], CMD_TIMEOUT)?;
            ensure!(
                f.status.success(),
                "ethtool -K eth0 tx {v} in {}: {}",
                h.name,
                f.stderr.trim()
            );
        }
        Ok(())
    }

    /// Looks a host up by logical name.
    pub fn host(&self, name: &str) -> Result<&Host> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .with_context(|| format!("no host {name}"))
    }

    /// Pings `to` from host `from`: `count` (≤ [`MAX_PING_COUNT`]) echo
    /// requests 0.2 s apart, each waiting at most 1 s for its reply; the
    /// `ping` process is killed if it outlives `deadline`.
    pub fn ping(
        &self,
        from: &Host,
        to: Ipv4Addr,
        count: u32,
        deadline: Duration,
    ) -> Result<PingStats> {
        ensure!(
            (1..=MAX_PING_COUNT).contains(&count),
            "ping count {count} out of range"
        );
        let count_s = count.to_string();
        let to_s = to.to_string();
        let f = from.ns.exec(
            "ping",
            &["-n", "-q", "-c", &count_s, "-i", "0.2", "-W", "1", &to_s],
            deadline.max(Duration::from_millis(200 * u64::from(count) + 2000)),
        )?;
        parse_ping(&f.stdout).with_context(|| {
            format!(
                "ping {} -> {to}: unexpected output: {} {}",
                from.name, f.stdout, f.stderr
            )
        })
    }

    /// Every host pings every other host (ordered pairs, like Mininet's
    /// `pingall`): one echo request per try, at most `count` tries per pair,
    /// stopping at the first reply.
    pub fn ping_all(&self, count: u32) -> Result<PingAll> {
        ensure!(
            (1..=10).contains(&count),
            "ping_all count {count} out of range"
        );
        let mut pairs = Vec::new();
        for a in &self.hosts {
            for b in &self.hosts {
                if a.name == b.name {
                    continue;
                }
                let mut total = PingStats {
                    transmitted: 0,
                    received: 0,
                };
                for _ in 0..count {
                    let s = self.ping(a, b.ip, 1, Duration::from_secs(2))?;
                    total.transmitted += s.transmitted;
                    total.received += s.received;
                    if s.received > 0 {
                        break;
                    }
                }
                pairs.push((a.name.clone(), b.name.clone(), total));
            }
        }
        Ok(PingAll { pairs })
    }

    /// Runs `iperf3` from host `client` to host `server` for `secs` (1..=10)
    /// seconds of TCP and returns the receiver's bits per second.
    pub fn iperf(&self, client: &Host, server: &Host, secs: u32) -> Result<f64> {
        ensure!((1..=10).contains(&secs), "iperf duration out of range");
        let iperf3 = find_program("iperf3").context("`iperf3` not found")?;
        // One-shot server (-1): exits after one test; still killed by PID.
        let mut srv = ChildGuard::spawn(
            server
                .ns
                .command(&iperf3)
                .args(["-s", "-1", "-B", &server.ip.to_string(), "-p", "5201"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "iperf3 -s",
        )?;
        // Wait until the server listens (bounded).
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let f = server
                .ns
                .exec("ss", &["-Hltn", "sport = :5201"], CMD_TIMEOUT)?;
            if f.stdout.contains("5201") {
                break;
            }
            ensure!(Instant::now() < until, "iperf3 server did not start");
            srv.check_running()?;
            std::thread::sleep(Duration::from_millis(50));
        }
        let secs_s = secs.to_string();
        let f = client.ns.exec(
            "iperf3",
            &[
                "-c",
                &server.ip.to_string(),
                "-p",
                "5201",
                "-t",
                &secs_s,
                "-J",
            ],
            Duration::from_secs(u64::from(secs) + 20),
        )?;
        ensure!(
            f.status.success(),
            "iperf3 client failed: {}{}",
            f.stdout,
            f.stderr
        );
        let v: serde_json::Value = serde_json::from_str(&f.stdout).context("iperf3 -J output")?;
        v.pointer("/end/sum_received/bits_per_second")
            .and_then(serde_json::Value::as_f64)
            .context("iperf3 output without end.sum_received.bits_per_second")
    }
}

/// `aa:bb:..` text of a MAC address.
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses ping's summary line `N packets transmitted, M received, ...`.
pub fn parse_ping(out: &str) -> Option<PingStats> {
    let line = out.lines().find(|l| l.contains("packets transmitted"))?;
    let mut it = line.split(',');
    let tx = it.next()?.split_whitespace().next()?.parse().ok()?;
    let rx = it.next()?.split_whitespace().next()?.parse().ok()?;
    Some(PingStats {
        transmitted: tx,
        received: rx,
    })
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

/// A child process started by the harness; on Drop it gets SIGTERM, then
/// SIGKILL after 3 s, always by its own PID.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    what: String,
}

impl ChildGuard {
    /// Spawns `cmd`; `what` names it in messages.
    pub fn spawn(cmd: &mut Command, what: &str) -> Result<ChildGuard> {
        let child = cmd.spawn().with_context(|| format!("spawning {what}"))?;
        Ok(ChildGuard {
            child: Some(child),
            what: what.to_string(),
        })
    }

    /// The child's PID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails if the child has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(c) = self.child.as_mut()
            && let Some(st) = c.try_wait()?
        {
            bail!("{} exited early ({st})", self.what);
        }
        Ok(())
    }

    /// Stops the child (SIGTERM, then SIGKILL after `grace`) and reaps it.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        if matches!(c.try_wait(), Ok(Some(_))) {
            return;
        }
        if let Ok(pid) = i32::try_from(c.id()) {
            // Signals go to this one PID only.
            let _ = run_with_timeout(
                &find_program("kill").unwrap_or_else(|| PathBuf::from("/bin/kill")),
                &["-TERM".to_string(), pid.to_string()],
                Duration::from_secs(5),
            );
        }
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

/// Polls `cond` every 50 ms until it returns `Ok(true)` or `timeout`
/// passes (then fails with `what`).
pub fn wait_until(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let until = Instant::now() + timeout;
    loop {
        if cond()? {
            return Ok(());
        }
        if Instant::now() >= until {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// The switch under test
// ---------------------------------------------------------------------------

/// Which switch daemon a test drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchKind {
    /// Debian's `ovs-vswitchd` (the reference).
    Ovs,
    /// `rvs-vswitchd` in drop-in mode (`rvs-vswitchd unix:<db.sock>`).
    Rvs,
}

impl SwitchKind {
    /// From `RVS_E2E_SWITCH` (`rvs` or `ovs`; default `rvs`).
    pub fn from_env() -> Result<SwitchKind> {
        match std::env::var(SWITCH_ENV).as_deref() {
            Err(_) | Ok("") | Ok("rvs") => Ok(SwitchKind::Rvs),
            Ok("ovs") => Ok(SwitchKind::Ovs),
            Ok(other) => bail!("{SWITCH_ENV}={other:?}: expected `rvs` or `ovs`"),
        }
    }

    /// `rvs` or `ovs`.
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchKind::Ovs => "ovs",
            SwitchKind::Rvs => "rvs",
        }
    }

    /// The programs a test with this switch needs in PATH.
    pub fn programs(self) -> &'static [&'static str] {
        match self {
            SwitchKind::Ovs => &[
                "ip",
                "sysctl",
                "ovsdb-server",
                "ovsdb-tool",
                "ovs-vsctl",
                "ovs-ofctl",
                "ovs-vswitchd",
            ],
            SwitchKind::Rvs => &[
                "ip",
                "sysctl",
                "ovsdb-server",
                "ovsdb-tool",
                "ovs-vsctl",
                "ovs-ofctl",
            ],
        }
    }

    /// The daemon binary: `ovs-vswitchd` from PATH, or [`rvs_vswitchd_bin`].
    pub fn vswitchd_bin(self) -> Result<PathBuf> {
        match self {
            SwitchKind::Ovs => find_program("ovs-vswitchd").context("ovs-vswitchd not found"),
            SwitchKind::Rvs => rvs_vswitchd_bin(),
        }
    }
}

/// Path of `rvs-vswitchd`: `$RVS_VSWITCHD`, or the one in this test
/// executable's target directory, (re)built with cargo first (see
/// [`crate::vswitchd_support::rvs_bin`]).
pub fn rvs_vswitchd_bin() -> Result<PathBuf> {
    crate::vswitchd_support::rvs_bin("rvs-vswitchd")
}

/// The OVSDB schema shipped by `openvswitch-common`.
pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A real `ovsdb-server` plus the switch daemon under test, both running in
/// a namespace with a private rundir/dbdir/logdir; stopped by PID on Drop
/// (the switch first).
#[derive(Debug)]
pub struct SwitchUnderTest {
    kind: SwitchKind,
    // Drop order: the switch daemon, then the database, then the directory.
    vswitchd: ChildGuard,
    _ovsdb: ChildGuard,
    dir: TempDir,
}

impl SwitchUnderTest {
    /// Starts `ovsdb-server` (fresh database from [`VSWITCH_SCHEMA`]) and
    /// the `kind` switch daemon inside `ns`, and waits until the daemon has
    /// applied the initial configuration (`ovs-vsctl` without `--no-wait`
    /// returns).
    pub fn start(kind: SwitchKind, ns: &Netns) -> Result<SwitchUnderTest> {
        let dir = TempDir::new(&format!("{}-{}", unique_prefix(), kind.as_str()))?;
        let d = dir.path().to_path_buf();
        let db = d.join("conf.db");
        run_ok("ovsdb-tool", &["create", path_str(&db)?, VSWITCH_SCHEMA])?;
        let server = find_program("ovsdb-server").context("ovsdb-server not found")?;
        let sock = d.join("db.sock");
        let mut cmd = ns.command(&server);
        cmd.arg(&db)
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!(
                "--unixctl={}",
                d.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovsdb-server.log").display()
            ))
            .args(["-vconsole:off", "--no-chdir"]);
        set_ovs_env(&mut cmd, &d);
        let mut ovsdb = ChildGuard::spawn(quiet(&mut cmd), "ovsdb-server")?;
        wait_until(Duration::from_secs(10), "ovsdb-server socket", || {
            ovsdb.check_running()?;
            Ok(sock.exists())
        })
        .with_context(|| {
            let log = fs::read_to_string(d.join("ovsdb-server.log")).unwrap_or_default();
            format!("ovsdb-server log:\n{log}")
        })?;

        // Placeholder guard replaced right below; keeps the struct whole so
        // Drop cleans up whatever has started if a later step fails.
        let mut me = SwitchUnderTest {
            kind,
            vswitchd: ChildGuard {
                child: None,
                what: String::new(),
            },
            _ovsdb: ovsdb,
            dir,
        };
        me.vsctl(&["--no-wait", "init"])?;

        let bin = kind.vswitchd_bin()?;
        let mut cmd = ns.command(&bin);
        cmd.arg(format!("unix:{}", sock.display()))
            .arg(format!("--unixctl={}", d.join("vswitchd.ctl").display()))
            .arg(format!("--pidfile={}", d.join("vswitchd.pid").display()))
            .arg(format!("--log-file={}", d.join("vswitchd.log").display()))
            .args(["-vconsole:off", "--no-chdir"]);
        set_ovs_env(&mut cmd, &d);
        let what = format!("{} ({})", bin.display(), kind.as_str());
        me.vswitchd = ChildGuard::spawn(quiet(&mut cmd), &what)?;
        // A configuration change that only completes once the daemon has
        // read the database and bumped cur_cfg.
        let r = me.vsctl(&["set", "Open_vSwitch", ".", "external_ids:rvs-e2e=start"]);
        if let Err(e) = r {
            let state = match me.vswitchd.check_running() {
                Ok(()) => "running".to_string(),
                Err(x) => format!("{x:#}"),
            };
            return Err(e.context(format!(
                "{what} did not apply the configuration ({state})\n{}",
                me.logs()
            )));
        }
        Ok(me)
    }

    /// Which daemon runs.
    pub fn kind(&self) -> SwitchKind {
        self.kind
    }

    /// The private rundir (= dbdir = logdir).
    pub fn rundir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the real `ovs-vsctl --timeout=15 args...` against this database
    /// (OVS_RUNDIR set); fails unless it exits 0; returns stdout.
    pub fn vsctl(&self, args: &[&str]) -> Result<String> {
        self.tool("ovs-vsctl", &["--timeout=15"], args)
    }

    /// Runs the real `ovs-ofctl -O OpenFlow13 args...` with OVS_RUNDIR set
    /// (so `br0` resolves to `<rundir>/br0.mgmt`); returns stdout.
    pub fn ofctl(&self, args: &[&str]) -> Result<String> {
        self.tool("ovs-ofctl", &["-O", "OpenFlow13", "--timeout=10"], args)
    }

    fn tool(&self, prog: &str, pre: &[&str], args: &[&str]) -> Result<String> {
        let path = find_program(prog).with_context(|| format!("`{prog}` not found"))?;
        let mut cmd = Command::new(&path);
        cmd.args(pre).args(args);
        set_ovs_env(&mut cmd, self.dir.path());
        let child = quiet_piped(&mut cmd)
            .spawn()
            .with_context(|| format!("spawning {prog}"))?;
        let f = wait_with_deadline(child, Instant::now() + CMD_TIMEOUT)?;
        ensure!(
            f.status.success(),
            "`{prog} {}` failed ({}): {}",
            args.join(" "),
            f.status,
            f.stderr.trim()
        );
        Ok(f.stdout)
    }

    /// Creates one bridge per switch of `topo` (datapath_type=netdev,
    /// datapath-id = switch number, the given fail mode and controller
    /// targets) with its ports (`ofport_request` = position + 1) and its
    /// controllers, in one `ovs-vsctl` transaction per bridge (as Mininet
    /// does).
    pub fn add_topo_bridges(
        &self,
        topo: &Topo,
        fail_mode: &str,
        controllers: &[String],
    ) -> Result<()> {
        for (i, s) in topo.switches().iter().enumerate() {
            let mut args: Vec<String> = vec![
                "add-br".into(),
                s.name.clone(),
                "--".into(),
                "set".into(),
                "bridge".into(),
                s.name.clone(),
                "datapath_type=netdev".into(),
                format!("fail_mode={fail_mode}"),
                "protocols=OpenFlow13".into(),
                format!("other_config:datapath-id={:016x}", i + 1),
            ];
            for (k, p) in s.ports.iter().enumerate() {
                args.extend([
                    "--".into(),
                    "add-port".into(),
                    s.name.clone(),
                    p.clone(),
                    "--".into(),
                    "set".into(),
                    "Interface".into(),
                    p.clone(),
                    format!("ofport_request={}", k + 1),
                ]);
            }
            if !controllers.is_empty() {
                args.extend(["--".into(), "set-controller".into(), s.name.clone()]);
                args.extend(controllers.iter().cloned());
            }
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            self.vsctl(&a)?;
        }
        Ok(())
    }

    /// Waits until every bridge of `topo` reports a connected controller
    /// (Controller.is_connected, written by the daemon).
    pub fn wait_controllers_connected(&self, topo: &Topo, timeout: Duration) -> Result<()> {
        for s in topo.switches() {
            wait_until(
                timeout,
                &format!("{}: controller connected", s.name),
                || {
                    let ids = self.vsctl(&["get", "Bridge", &s.name, "controller"])?;
                    let ids = ids.trim().trim_start_matches('[').trim_end_matches(']');
                    for id in ids.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                        let c = self.vsctl(&["get", "Controller", id, "is_connected"])?;
                        if c.trim() == "true" {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                },
            )?;
        }
        Ok(())
    }

    /// The tail of the daemon logs (for failure messages).
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["vswitchd.log", "ovsdb-server.log"] {
            let text = fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            s.push_str(&format!("--- {f} (last {} lines)\n", tail.len()));
            for l in tail.iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", p.display()))
}

fn set_ovs_env(cmd: &mut Command, dir: &Path) {
    cmd.env("OVS_RUNDIR", dir)
        .env("OVS_DBDIR", dir)
        .env("OVS_LOGDIR", dir)
        .env("OVS_SYSCONFDIR", dir)
        .env("OVS_PKGDATADIR", "/usr/share/openvswitch");
}

fn quiet(cmd: &mut Command) -> &mut Command {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
}

fn quiet_piped(cmd: &mut Command) -> &mut Command {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
}

/// Common start of an end-to-end test: root, the programs for the selected
/// switch (plus `extra`), and `osken-manager` when `osken` is true.
/// Returns `None` (after printing `skipped: ...`) only under
/// `RVS_SKIP_SYSTEM_TESTS=1`; a missing requirement otherwise panics.
pub fn e2e_setup(test: &str, extra: &[&str], osken: bool) -> Option<(SwitchKind, Option<PathBuf>)> {
    let kind = match SwitchKind::from_env() {
        Ok(k) => k,
        Err(e) => panic!("{test}: {e:#}"),
    };
    let mut programs: Vec<&str> = kind.programs().to_vec();
    programs.extend_from_slice(extra);
    if !require_system(test, &programs) {
        return None;
    }
    let manager = if osken {
        Some(require_osken(test)?)
    } else {
        None
    };
    println!(
        "{test}: switch under test: {} ({SWITCH_ENV})",
        kind.as_str()
    );
    Some((kind, manager))
}

// ---------------------------------------------------------------------------
// os-ken controller
// ---------------------------------------------------------------------------

/// Directory of the controller apps shipped with the tests.
pub fn controllers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("controllers")
}

/// Finds `osken-manager`: `$RVS_OSKEN_MANAGER`, else next to
/// `$RVS_PYTHON` (the test venv's interpreter, exported by
/// `tests/run-all.sh`), else `/opt/rvs-venv/bin/osken-manager`, else PATH.
pub fn find_osken_manager() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RVS_OSKEN_MANAGER") {
        return Some(PathBuf::from(p));
    }
    let mut cands = Vec::new();
    if let Some(py) = std::env::var_os("RVS_PYTHON")
        && let Some(dir) = Path::new(&py).parent()
    {
        cands.push(dir.join("osken-manager"));
    }
    let venv =
        std::env::var_os("RVS_VENV").map_or_else(|| PathBuf::from("/opt/rvs-venv"), PathBuf::from);
    cands.push(venv.join("bin/osken-manager"));
    cands
        .into_iter()
        .find(|p| p.is_file())
        .or_else(|| find_program("osken-manager"))
}

/// Like [`require_system`] for `osken-manager` (installed into the test
/// venv by `tests/run-all.sh`).
pub fn require_osken(test: &str) -> Option<PathBuf> {
    if let Some(p) = find_osken_manager() {
        return Some(p);
    }
    if skip_system_tests() {
        println!("skipped: {test}: osken-manager not found (RVS_SKIP_SYSTEM_TESTS=1)");
        return None;
    }
    panic!(
        "{test}: `osken-manager` (os-ken 3.1.1) not found: set RVS_OSKEN_MANAGER or RVS_PYTHON, \
         or install the test venv with `sudo tests/run-all.sh` (or set RVS_SKIP_SYSTEM_TESTS=1 to skip)"
    );
}

/// An `osken-manager` process running `app` inside a namespace, listening
/// for switches on `127.0.0.1:<port>` there; stopped by PID on Drop.
#[derive(Debug)]
pub struct Controller {
    child: ChildGuard,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Controller {
    /// Starts `osken-manager` with `app` (a path, e.g.
    /// `controllers_dir().join("learning_switch.py")`) in `ns` and waits
    /// (bounded) until it listens.
    pub fn start_osken(manager: &Path, app: &Path, ns: &Netns, port: u16) -> Result<Controller> {
        ensure!(app.is_file(), "controller app {} missing", app.display());
        let dir = TempDir::new(&format!("{}-osken", unique_prefix()))?;
        let log = dir.path().join("osken.log");
        let out = fs::File::create(&log)?;
        let err = out.try_clone()?;
        let mut cmd = ns.command(manager);
        cmd.args(["--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port"])
            .arg(port.to_string())
            .arg(app)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONWARNINGS", "ignore")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = ChildGuard::spawn(&mut cmd, "osken-manager")?;
        let mut c = Controller {
            child,
            port,
            log,
            _dir: dir,
        };
        let sport = format!("sport = :{port}");
        let r = wait_until(Duration::from_secs(30), "osken-manager listening", || {
            c.child.check_running()?;
            let f = ns.exec("ss", &["-Hltn", &sport], CMD_TIMEOUT)?;
            Ok(f.stdout.contains(&format!(":{port}")))
        });
        if let Err(e) = r {
            return Err(e.context(format!("osken-manager log:\n{}", c.log_text())));
        }
        Ok(c)
    }

    /// The OpenFlow target for the switch (`tcp:127.0.0.1:<port>`).
    pub fn target(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }

    /// The controller's output so far (stdout + stderr, bounded to 1 MiB).
    pub fn log_text(&self) -> String {
        let mut s = fs::read_to_string(&self.log).unwrap_or_default();
        if s.len() > 1 << 20 {
            let mut cut = s.len() - (1 << 20);
            while !s.is_char_boundary(cut) {
                cut += 1;
            }
            s = s.split_off(cut);
        }
        s
    }

    /// Fails if the controller process died.
    pub fn check_running(&mut self) -> Result<()> {
        self.child.check_running()
    }

    /// Stops the controller (SIGTERM by PID, SIGKILL after 3 s): its
    /// OpenFlow connections close.
    pub fn stop(&mut self) {
        self.child.stop(Duration::from_secs(3));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ping_summary() {
        let out = "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.\n\n--- 10.0.0.2 ping statistics ---\n\
                   3 packets transmitted, 2 received, 33.3333% packet loss, time 401ms\n";
        assert_eq!(
            parse_ping(out),
            Some(PingStats {
                transmitted: 3,
                received: 2
            })
        );
        let err = "1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms\n";
        assert_eq!(
            parse_ping(err),
            Some(PingStats {
                transmitted: 1,
                received: 0
            })
        );
        assert_eq!(parse_ping("garbage"), None);
    }

    #[test]
    fn dropped_percent_counts_requests() {
        let p = |t, r| PingStats {
            transmitted: t,
            received: r,
        };
        let all = PingAll {
            pairs: vec![
                ("h1".into(), "h2".into(), p(1, 1)),
                ("h2".into(), "h1".into(), p(3, 0)),
            ],
        };
        assert_eq!(
            all.unreachable(),
            vec![("h2".to_string(), "h1".to_string())]
        );
        assert!((all.dropped_percent() - 75.0).abs() < 1e-9);
        assert!((PingAll { pairs: vec![] }.dropped_percent() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn prefixes_are_unique_and_short() {
        let a = unique_prefix();
        let b = unique_prefix();
        assert_ne!(a, b);
        assert!(a.starts_with("rvse"));
        // Namespace names "<prefix>-h249" stay well within limits.
        assert!(a.len() + 5 < 64);
    }

    #[test]
    fn mac_text_formats() {
        assert_eq!(mac_text(&[2, 0xe2, 0xe0, 0, 0, 17]), "02:e2:e0:00:00:11");
    }
}
