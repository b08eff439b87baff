//! `rvs-appctl` against real Open vSwitch daemons, side by side with the
//! real `ovs-appctl`: same output, same exit codes, same target lookup.
//!
//! The reference server is Debian's `ovsdb-server --unixctl` in a private
//! temporary directory (started by PID, killed on Drop).  The appctl
//! commands of the switch itself are tested in `tools` (`appctl::tests`,
//! on an `OfBridge` with in-memory ports) and against `rvs-vswitchd` by
//! the test at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rvs_tests::ovs::require_program;
use rvs_tests::vswitchd_support::{Scratch, Vswitchd, rvs_bin};

/// A real `ovsdb-server` with its unixctl socket in a private directory.
struct OvsdbServer {
    child: Child,
    dir: Scratch,
}

impl OvsdbServer {
    fn start(server: &Path, tool: &Path) -> OvsdbServer {
        let dir = Scratch::new("rvst-appctl").expect("temp dir");
        let db = dir.path().join("conf.db");
        let st = Command::new(tool)
            .arg("create")
            .arg(&db)
            .arg("/usr/share/openvswitch/vswitch.ovsschema")
            .status()
            .expect("ovsdb-tool runs");
        assert!(st.success(), "ovsdb-tool create failed");
        // Default unixctl path: <OVS_RUNDIR>/ovsdb-server.<pid>.ctl, as a
        // daemon started without --unixctl gets.
        let child = Command::new(server)
            .arg(&db)
            .arg(format!(
                "--remote=punix:{}",
                dir.path().join("db.sock").display()
            ))
            .arg(format!(
                "--pidfile={}",
                dir.path().join("ovsdb-server.pid").display()
            ))
            .arg("--no-chdir")
            .arg(format!(
                "--log-file={}",
                dir.path().join("ovsdb-server.log").display()
            ))
            .arg("-vconsole:off")
            .env("OVS_RUNDIR", dir.path())
            .env("OVS_DBDIR", dir.path())
            .env("OVS_LOGDIR", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ovsdb-server starts");
        let s = OvsdbServer { child, dir };
        let ctl = s.ctl();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(ctl.exists() && s.dir.path().join("ovsdb-server.pid").exists()) {
            assert!(
                Instant::now() < deadline,
                "ovsdb-server did not create {}",
                ctl.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn ctl(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("ovsdb-server.{}.ctl", self.child.id()))
    }

    fn rundir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for OvsdbServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(prog: &Path, rundir: &Path, args: &[&str]) -> Output {
    // Both tools get a response deadline, so this is bounded.
    Command::new(prog)
        .arg("--timeout=10")
        .args(args)
        .env("OVS_RUNDIR", rundir)
        .stdin(Stdio::null())
        .output()
        .expect("tool runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Drops OVS's own log lines (`2026-...|unixctl|WARN|...`) from stderr;
/// the tool's message proper is what must agree.
fn messages(stderr: &[u8], program: &str) -> Vec<String> {
    text(stderr)
        .lines()
        .filter(|l| !l.contains("|WARN|") && !l.contains("|INFO|"))
        .map(|l| {
            // getopt prefixes argv[0] as given (`/usr/bin/ovs-appctl: ...`).
            let tag = format!("{program}: ");
            match l.find(&tag) {
                Some(i) => format!("TOOL: {}", &l[i + tag.len()..]),
                None => l.to_owned(),
            }
        })
        .collect()
}

struct Tools {
    ovs: PathBuf,
    rvs: PathBuf,
    server: PathBuf,
    tool: PathBuf,
}

fn tools(test: &str) -> Option<Tools> {
    let ovs = require_program("ovs-appctl", test)?;
    let server = require_program("ovsdb-server", test)?;
    let tool = require_program("ovsdb-tool", test)?;
    let rvs = rvs_bin("rvs-appctl").expect("rvs-appctl builds");
    Some(Tools {
        ovs,
        rvs,
        server,
        tool,
    })
}

#[test]
fn rvs_appctl_matches_ovs_appctl_against_real_ovsdb_server() {
    let Some(t) = tools("rvs_appctl_matches_ovs_appctl_against_real_ovsdb_server") else {
        return;
    };
    let srv = OvsdbServer::start(&t.server, &t.tool);
    let ctl = srv.ctl().display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["-t", &ctl, "list-commands"],
        vec!["-t", &ctl, "version"],
        vec!["-t", &ctl, "ovsdb-server/list-dbs"],
        vec!["-t", &ctl, "nosuch/command", "x"],
        vec!["-t", &ctl, "version", "extra"],
        vec!["-t", &ctl, "ovsdb-server/add-db"],
        // Target by name: <OVS_RUNDIR>/ovsdb-server.pid -> .<pid>.ctl
        vec!["-t", "ovsdb-server", "list-commands"],
        vec!["--target=ovsdb-server", "coverage/read-counter", "nosuch"],
        vec!["-t", "no-such-daemon", "version"],
        vec!["-t", "/nonexistent/sock.ctl", "version"],
        vec!["-t", &ctl],
        vec!["--bogus-option", "version"],
    ];
    for args in cases {
        let o = run(&t.ovs, srv.rundir(), &args);
        let r = run(&t.rvs, srv.rundir(), &args);
        assert_eq!(
            r.status.code(),
            o.status.code(),
            "exit status for {args:?}: ovs {o:?} rvs {r:?}"
        );
        assert_eq!(text(&r.stdout), text(&o.stdout), "stdout for {args:?}");
        assert_eq!(
            messages(&r.stderr, "rvs-appctl"),
            messages(&o.stderr, "ovs-appctl"),
            "stderr for {args:?}"
        );
    }
    // Sanity: the comparison above saw real output.
    let l = run(&t.rvs, srv.rundir(), &["-t", &ctl, "list-commands"]);
    assert!(text(&l.stdout).contains("\n  ovsdb-server/list-dbs"));
}

#[test]
fn rvs_appctl_exit_stops_the_real_server() {
    let Some(t) = tools("rvs_appctl_exit_stops_the_real_server") else {
        return;
    };
    let mut srv = OvsdbServer::start(&t.server, &t.tool);
    let ctl = srv.ctl().display().to_string();
    let r = run(&t.rvs, srv.rundir(), &["-t", &ctl, "exit"]);
    assert!(r.status.success(), "{r:?}");
    assert_eq!(text(&r.stdout), "");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if srv.child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ovsdb-server still running after exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rvs_appctl_help_and_usage_errors() {
    let rvs = rvs_bin("rvs-appctl").expect("rvs-appctl builds");
    let dir = Scratch::new("rvst-appctl-usage").expect("temp dir");
    let h = run(&rvs, dir.path(), &["--help"]);
    assert!(h.status.success());
    assert!(text(&h.stdout).contains("-t, --target=TARGET"));
    let v = run(&rvs, dir.path(), &["-V"]);
    assert!(text(&v.stdout).starts_with("rvs-appctl (rvs) "));
    let none = run(&rvs, dir.path(), &[]);
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).contains("at least one non-option argument is required"));
    // Default target rvs-vswitchd, looked up in OVS_RUNDIR.
    let d = run(&rvs, dir.path(), &["version"]);
    assert_eq!(d.status.code(), Some(1));
    assert_eq!(
        text(&d.stderr),
        format!(
            "rvs-appctl: cannot read pidfile \"{}/rvs-vswitchd.pid\" (No such file or directory)\n",
            dir.path().display()
        )
    );
    let bad = run(&rvs, dir.path(), &["--timeout=abc", "version"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("value abc on -T or --timeout is invalid"));
}

#[test]
fn both_appctls_talk_to_rvs_vswitchd() {
    let Some(ovs) = require_program("ovs-appctl", "both_appctls_talk_to_rvs_vswitchd") else {
        return;
    };
    let rvs = rvs_bin("rvs-appctl").expect("rvs-appctl builds");
    let d = Vswitchd::start(None).expect("rvs-vswitchd starts");
    let ctl = d.ctl_path().display().to_string();
    for args in [
        vec!["-t", ctl.as_str(), "list-commands"],
        vec!["-t", ctl.as_str(), "version"],
        vec!["-t", ctl.as_str(), "no/such-command"],
    ] {
        let o = run(&ovs, &d.rundir(), &args);
        let r = run(&rvs, &d.rundir(), &args);
        assert_eq!(r.status.code(), o.status.code(), "{args:?}: {o:?} {r:?}");
        assert_eq!(text(&r.stdout), text(&o.stdout), "{args:?}");
    }
    let l = run(&rvs, &d.rundir(), &["-t", &ctl, "list-commands"]);
    assert!(text(&l.stdout).starts_with("The available commands are:\n"));
}
