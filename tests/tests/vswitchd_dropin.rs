//! Drop-in mode: `rvs-vswitchd unix:PATH` beside the real `ovsdb-server`,
//! started with ovs-vswitchd's everyday flags (`--detach`, `--pidfile`,
//! `--log-file`, `--unixctl`, `-vconsole:off`, `--no-chdir`), configured
//! with the unchanged `ovs-vsctl` and inspected with `ovs-ofctl` and
//! `ovs-appctl` — what `../shared/bench/switches/rvs.sh` does.  Root needed
//! (the daemon runs in a namespace of its own).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rvs_tests::ovs::{find_program, run_with_timeout};
use rvs_tests::ovsdb_support::{Kind, Server};
use rvs_tests::topo::{Netns, require_system};
use rvs_tests::vswitchd_support::rvs_bin;

/// Kills the daemon named by a pidfile on Drop (it detached: not our child).
struct PidGuard(PathBuf);

impl PidGuard {
    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.0).ok()?.trim().parse().ok()
    }

    /// SIGTERM, then waits for the pidfile to go (the daemon removes it).
    fn stop(&self) -> bool {
        let Some(pid) = self.pid() else {
            return true;
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Path::new(&format!("/proc/{pid}")).exists() {
            if Instant::now() > deadline {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for PidGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tool(dir: &Path, program: &str, args: &[&str]) -> Result<String> {
    let env = find_program("env").context("env")?;
    let prog = find_program(program).with_context(|| program.to_string())?;
    let mut a = vec![
        format!("OVS_RUNDIR={}", dir.display()),
        format!("OVS_DBDIR={}", dir.display()),
        prog.display().to_string(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    let f = run_with_timeout(&env, &a, Duration::from_secs(30))?;
    if !f.status.success() {
        bail!("{program} {} failed: {}", args.join(" "), f.stderr.trim());
    }
    Ok(f.stdout)
}

#[test]
fn vswitchd_dropin_beside_real_ovsdb_server() -> Result<()> {
    let progs = [
        "ip",
        "ovsdb-server",
        "ovs-vsctl",
        "ovs-ofctl",
        "ovs-appctl",
        "env",
        "kill",
    ];
    if !require_system("vswitchd_dropin_beside_real_ovsdb_server", &progs) {
        return Ok(());
    }
    let db = Server::start(Kind::Real)?;
    let dir = db.dir.path().to_path_buf();
    tool(&dir, "ovs-vsctl", &["--no-wait", "init"])?;
    let ns = Netns::new(&format!("rvswd{}", std::process::id() % 100_000))?;
    let bin = rvs_bin("rvs-vswitchd")?;
    let pidfile = dir.join("ovs-vswitchd.pid");
    let ctl = dir.join("ovs-vswitchd.ctl");
    let ip = find_program("ip").context("ip")?;
    let args: Vec<String> = vec![
        "netns".into(),
        "exec".into(),
        ns.name().into(),
        "env".into(),
        format!("OVS_RUNDIR={}", dir.display()),
        format!("OVS_DBDIR={}", dir.display()),
        bin.display().to_string(),
        db.remote(),
        "-vconsole:off".into(),
        format!("--pidfile={}", pidfile.display()),
        format!("--log-file={}", dir.join("ovs-vswitchd.log").display()),
        format!("--unixctl={}", ctl.display()),
        "--detach".into(),
        "--no-chdir".into(),
    ];
    let guard = PidGuard(pidfile.clone());
    let f = run_with_timeout(&ip, &args, Duration::from_secs(60))?;
    assert!(f.status.success(), "--detach start failed: {}", f.stderr);
    assert!(guard.pid().is_some(), "no pidfile after --detach returned");
    let t = Instant::now();
    tool(
        &dir,
        "ovs-vsctl",
        &[
            "--timeout=20",
            "add-br",
            "br0",
            "--",
            "set",
            "bridge",
            "br0",
            "datapath_type=netdev",
            "--",
            "set-fail-mode",
            "br0",
            "secure",
        ],
    )?;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "ovs-vsctl waited {:?}",
        t.elapsed()
    );
    let ofport = tool(&dir, "ovs-vsctl", &["get", "Interface", "br0", "ofport"])?;
    assert_eq!(ofport.trim(), "65534");
    let dpid = tool(&dir, "ovs-vsctl", &["get", "Bridge", "br0", "datapath_id"])?;
    assert_eq!(dpid.trim().trim_matches('"').len(), 16, "{dpid}");
    tool(
        &dir,
        "ovs-ofctl",
        &[
            "-O",
            "OpenFlow13",
            "add-flow",
            "br0",
            "in_port=1,actions=output:2",
        ],
    )?;
    let dump = tool(
        &dir,
        "ovs-ofctl",
        &["-O", "OpenFlow13", "dump-flows", "br0"],
    )?;
    assert!(
        dump.contains("in_port=1") && dump.contains("output:2"),
        "{dump}"
    );
    let ctl_s = ctl.display().to_string();
    let v = tool(&dir, "ovs-appctl", &["-t", &ctl_s, "version"])?;
    assert!(v.contains("rvs"), "{v}");
    let vs = tool(
        &dir,
        "ovs-vsctl",
        &["get", "Open_vSwitch", ".", "iface_types"],
    )?;
    assert!(vs.contains("patch") && vs.contains("internal"), "{vs}");
    assert!(guard.stop(), "the daemon did not stop on SIGTERM");
    assert!(!pidfile.exists(), "pidfile left behind");
    // Its TAP device went with it.
    let links = ns.ip(&["-o", "link"])?.stdout;
    assert!(!links.contains("br0"), "{links}");
    drop(ns);
    drop(db);
    Ok(())
}
