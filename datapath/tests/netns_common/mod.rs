//! Shared helpers of the datapath's namespace tests (root only).
//!
//! Safety rules: every namespace is created with `ip netns add` under a
//! unique `rvst<pid>...` name and removed by a Drop guard (also on panic);
//! devices are created directly inside those namespaces; processes are
//! started with `timeout` and killed by their own PID only; loops are
//! bounded.
#![allow(dead_code, unreachable_pub)]

pub mod crossover;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Returns false (after printing "skipped: ...") when system tests are
/// disabled with RVS_SKIP_SYSTEM_TESTS=1; panics with a clear message when
/// they cannot run (not root, a program missing).
pub fn system_tests_enabled(test: &str, programs: &[&str]) -> bool {
    if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() == Ok("1") {
        println!("skipped: {test} (RVS_SKIP_SYSTEM_TESTS=1)");
        return false;
    }
    let uid = Command::new("id").arg("-u").output().expect("run id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "{test} needs root (network namespaces); set RVS_SKIP_SYSTEM_TESTS=1 to skip"
    );
    for p in programs {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {p}"))
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "{test} needs the program `{p}`; install it or set RVS_SKIP_SYSTEM_TESTS=1"
        );
    }
    true
}

/// Runs a command, panicking with its output on failure.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command, returning whether it succeeded.
pub fn try_run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A network namespace removed on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        // A left-over from a killed earlier run with the same PID.
        let _ = try_run(&["ip", "netns", "del", name]);
        run(&["ip", "netns", "add", name]);
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        let _ = try_run(&[
            "ip",
            "netns",
            "exec",
            name,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
        ]);
        ns
    }

    /// Runs a command inside the namespace (panics on failure).
    pub fn exec(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", self.name.as_str()];
        v.extend_from_slice(args);
        run(&v)
    }

    /// Runs a command inside the namespace, returning success.
    pub fn try_exec(&self, args: &[&str]) -> bool {
        let mut v = vec!["ip", "netns", "exec", self.name.as_str()];
        v.extend_from_slice(args);
        try_run(&v)
    }

    /// Starts a background process inside the namespace.
    pub fn spawn(&self, args: &[&str]) -> Proc {
        let child = Command::new("ip")
            .args(["netns", "exec", self.name.as_str()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
        Proc { child }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = try_run(&["ip", "netns", "del", &self.name]);
    }
}

/// A child process killed (by its own PID) on drop.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Unique namespace name prefix for this process and test.
pub fn prefix(tag: &str) -> String {
    format!("rvst{}{}", std::process::id(), tag)
}

/// Runs `f` on a fresh thread that first enters namespace `ns`; whatever `f`
/// opens (sockets, TAP devices) belongs to that namespace.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        datapath::sys::setns_by_name(&ns).expect("setns");
        f()
    })
    .join()
    .expect("netns thread panicked")
}

/// The classic topology: h1 -- p1 [sw] p2 -- h2, hosts at 10.79.0.1/.2.
#[derive(Debug)]
pub struct Topo {
    pub h1: Netns,
    pub h2: Netns,
    pub sw: Netns,
}

pub const H1_IP: &str = "10.79.0.1";
pub const H2_IP: &str = "10.79.0.2";

impl Topo {
    /// Namespaces only (no links).
    pub fn namespaces(tag: &str) -> Topo {
        let p = prefix(tag);
        Topo {
            h1: Netns::new(&format!("{p}-h1")),
            h2: Netns::new(&format!("{p}-h2")),
            sw: Netns::new(&format!("{p}-sw")),
        }
    }

    /// Namespaces plus veth pairs p1/p2 (in sw) to eth0 in h1/h2, addressed
    /// and up.  Host offloads stay at their defaults (on).
    pub fn veth(tag: &str) -> Topo {
        let t = Topo::namespaces(tag);
        for (p, h, ip) in [("p1", &t.h1, H1_IP), ("p2", &t.h2, H2_IP)] {
            t.sw.exec(&[
                "ip", "link", "add", p, "type", "veth", "peer", "name", "eth0", "netns", &h.name,
            ]);
            t.sw.exec(&["ip", "link", "set", p, "up"]);
            h.exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            h.exec(&["ip", "link", "set", "eth0", "up"]);
        }
        t
    }
}

/// Pings `dst` from `ns` until one reply arrives (bounded: `tries` x 1 s).
pub fn ping_ok(ns: &Netns, dst: &str, tries: u32) -> bool {
    for _ in 0..tries {
        if ns.try_exec(&["ping", "-c", "1", "-W", "1", dst]) {
            return true;
        }
    }
    false
}

/// Runs a bounded iperf3 TCP test h1 -> h2 and returns the receiver's
/// bits per second.
pub fn iperf_tcp(client: &Netns, server: &Netns, server_ip: &str, secs: u32) -> f64 {
    let _srv = server.spawn(&["timeout", "30", "iperf3", "-s", "-1", "-B", server_ip]);
    // Wait (bounded) for the server to listen.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if server.try_exec(&["sh", "-c", "ss -ltn | grep -q ':5201 '"]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = client.exec(&[
        "timeout",
        "30",
        "iperf3",
        "-c",
        server_ip,
        "-t",
        &secs.to_string(),
        "-J",
    ]);
    parse_receiver_bps(&out).unwrap_or_else(|| panic!("no receiver rate in iperf3 output: {out}"))
}

/// Finds `end.sum_received.bits_per_second` in iperf3 JSON output.
pub fn parse_receiver_bps(json: &str) -> Option<f64> {
    let at = json.find("\"sum_received\"")?;
    let rest = &json[at..];
    let k = rest.find("\"bits_per_second\"")?;
    let v = &rest[k + "\"bits_per_second\"".len()..];
    let v = v.trim_start().strip_prefix(':')?.trim_start();
    let end = v
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
        })
        .unwrap_or(v.len());
    v[..end].parse().ok()
}
