//! rvs-vsctl against rvs-vswitchd, without `--no-wait`: every changing
//! command waits until the daemon has applied it (`cur_cfg`), and prints
//! the same text (and the same set-up errors) as ovs-vsctl does against
//! a second, identical daemon. Each daemon runs in its own network
//! namespace.

use std::path::Path;
use std::time::Duration;

use rvs_tests::ovs::{Finished, find_program, run_with_timeout};
use rvs_tests::ovsdb_support::normalize_uuids;
use rvs_tests::topo::{Netns, require_system, unique_prefix};
use rvs_tests::vswitchd_support::{Vswitchd, rvs_bin};

const SCRIPT: &[&str] = &[
    "add-br br0",
    "list-br",
    "add-port br0 v1 -- set Interface v1 type=internal",
    "add-port br0 nosuchdev",
    "list-ports br0",
    "set-fail-mode br0 secure",
    "get-fail-mode br0",
    "set-controller br0 tcp:127.0.0.1:1",
    "get-controller br0",
    "del-controller br0",
    "add-br fb br0 10",
    "list-br",
    "list-ports fb",
    "br-to-parent fb",
    "get Port fb tag fake_bridge",
    "get Interface v1 type",
    "del-port br0 nosuchdev",
    "del-br fb",
    "add-br br1 -- set Bridge br1 datapath_type=netdev",
    "list-br",
    "del-br br1",
    "list-br",
    "get Open_vSwitch . next_cfg",
];

fn run(prog: &Path, vs: &Vswitchd, line: &str) -> Finished {
    let mut a = vec![
        format!("--db=unix:{}", vs.rundir().join("db.sock").display()),
        "--timeout=20".to_string(),
    ];
    a.extend(line.split(' ').map(str::to_string));
    run_with_timeout(prog, &a, Duration::from_secs(30)).expect("run tool")
}

fn record(prog: &Path, vs: &Vswitchd) -> Vec<String> {
    let name = prog
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_string();
    SCRIPT
        .iter()
        .map(|line| {
            let f = run(prog, vs, line);
            let logdir = vs.dir.path().display().to_string();
            let norm = |s: &str| {
                normalize_uuids(
                    &s.replace(&name, "VSCTL")
                        .replace("/var/log/openvswitch", "LOGDIR")
                        .replace("/var/log/rvs", "LOGDIR")
                        .replace(&logdir, "LOGDIR"),
                )
            };
            format!(
                "$ vsctl {line}\n[exit {:?}]\n{}{}",
                f.status.code(),
                norm(&f.stdout),
                norm(&f.stderr)
            )
        })
        .collect()
}

#[test]
fn vsctl_against_rvs_vswitchd_waits_and_matches_ovs_vsctl() {
    if !require_system(
        "vsctl_against_rvs_vswitchd_waits_and_matches_ovs_vsctl",
        &["ovs-vsctl", "ip"],
    ) {
        return;
    }
    let real = find_program("ovs-vsctl").expect("ovs-vsctl");
    let rvs = rvs_bin("rvs-vsctl").expect("rvs-vsctl");
    let pfx = unique_prefix();
    let ns_a = Netns::new(&format!("{pfx}a")).expect("netns a");
    let ns_b = Netns::new(&format!("{pfx}b")).expect("netns b");
    let vs_a = Vswitchd::start(Some(ns_a.name())).expect("rvs-vswitchd a");
    let vs_b = Vswitchd::start(Some(ns_b.name())).expect("rvs-vswitchd b");
    let want = record(&real, &vs_a);
    let got = record(&rvs, &vs_b);
    let bad: Vec<String> = want
        .iter()
        .zip(&got)
        .filter(|(w, g)| w != g)
        .map(|(w, g)| format!("--- ovs-vsctl:\n{w}\n--- rvs-vsctl:\n{g}"))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} commands differ:\n{}\nlog a:\n{}\nlog b:\n{}",
        bad.len(),
        want.len(),
        bad.join("\n"),
        vs_a.log(),
        vs_b.log()
    );
    // Every change was waited for: the daemon caught up with each one.
    let f = run(&rvs, &vs_b, "get Open_vSwitch . cur_cfg next_cfg");
    let v: Vec<&str> = f.stdout.lines().collect();
    assert_eq!(v.len(), 2, "{}", f.stdout);
    assert_eq!(v[0], v[1], "cur_cfg behind next_cfg");
    drop(vs_a);
    drop(vs_b);
}
