//! The real `ovs-vsctl --no-wait` against rvs-ovsdb-server prints exactly
//! what it prints against the real ovsdb-server, command after command.

use rvs_tests::ovsdb_support::{Kind, Server, normalize_uuids, require_ovs, sort_outline};

/// (arguments, sort before comparing). Row order in `list`/`find` without
/// record arguments and in `show` follows UUIDs, which differ between any
/// two servers, so those outputs are compared with sibling lines (blocks,
/// for `show`) sorted.
const SCRIPT: &[(&str, bool)] = &[
    ("init", false),
    ("add-br br0", false),
    ("add-port br0 p1", false),
    ("add-port br0 p2", false),
    ("add-port br0 p3 -- set Interface p3 type=internal", false),
    ("list-br", false),
    ("list-ports br0", false),
    ("list-ifaces br0", false),
    ("br-exists br0", false),
    ("port-to-br p2", false),
    ("iface-to-br p3", false),
    (
        "set Bridge br0 other_config:hwaddr=00:11:22:33:44:55 external_ids:owner=test",
        false,
    ),
    ("get Bridge br0 other_config", false),
    ("get Bridge br0 external_ids:owner", false),
    ("get Bridge br0 name datapath_type fail_mode", false),
    ("set Port p1 tag=10", false),
    ("get Port p1 tag", false),
    (
        "set Interface p2 type=internal options:foo=bar options:baz=qux",
        false,
    ),
    ("list Interface p2", false),
    ("list Port p1", false),
    ("list Bridge br0", false),
    ("--bare --columns=name find Port tag=10", true),
    ("--bare --columns=name find Interface type=internal", true),
    ("--columns=name,type find Interface options:foo=bar", false),
    ("clear Port p1 tag", false),
    ("get Port p1 tag", false),
    ("add Bridge br0 flood_vlans 1 2 3", false),
    ("remove Bridge br0 flood_vlans 2", false),
    ("get Bridge br0 flood_vlans", false),
    ("add Port p2 trunks 5 7", false),
    ("get Port p2 trunks", false),
    ("remove Interface p2 options foo", false),
    ("get Interface p2 options", false),
    ("remove Interface p2 options baz=qux", false),
    ("get Interface p2 options", false),
    (
        "set-controller br0 tcp:127.0.0.1:6653 tcp:127.0.0.1:6654",
        false,
    ),
    ("get-controller br0", false),
    ("--bare --columns=target list Controller", true),
    ("set-fail-mode br0 secure", false),
    ("get-fail-mode br0", false),
    ("show", true),
    ("del-controller br0", false),
    ("--bare --columns=target list Controller", true),
    ("del-fail-mode br0", false),
    ("get-fail-mode br0", false),
    ("del-port br0 p2", false),
    ("list-ports br0", false),
    ("add-br br1", false),
    ("add-port br1 q1 -- add-port br1 q2", false),
    ("list-ports br1", false),
    ("del-br br1", false),
    ("list-br", false),
    ("--bare --columns=name list Port", true),
    ("--bare --columns=name list Interface", true),
    ("--bare --columns=name list Bridge", true),
    // Error cases: same message and exit status.
    ("add-br br0", false),
    ("del-port br0 nosuchport", false),
    ("get Bridge nosuchbr name", false),
    ("set Bridge br0 nosuchcolumn=1", false),
    ("get Nosuchtable br0 name", false),
    ("set Port p1 tag=abc", false),
    ("--if-exists del-port br0 nosuchport", false),
    (
        "-- --id=@m create Mirror name=m1 -- add Bridge br0 mirrors @m",
        false,
    ),
    ("--bare --columns=name list Mirror", false),
    ("clear Bridge br0 mirrors", false),
    ("--bare --columns=name list Mirror", false),
    ("show", true),
    ("del-br br0", false),
    ("show", true),
    ("--bare --columns=name list Port", false),
];

fn run_script(kind: Kind) -> Vec<String> {
    let server = Server::start(kind).expect("start server");
    let mut out = Vec::new();
    for (cmd, sort) in SCRIPT {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        let f = server.vsctl(&args).expect("run ovs-vsctl");
        let mut stdout = f.stdout.clone();
        if *sort && cmd.starts_with("show") {
            stdout = sort_outline(&normalize_uuids(&stdout));
        } else if *sort {
            let mut lines: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
            lines.sort();
            stdout = lines.join("\n");
        }
        out.push(format!(
            "$ ovs-vsctl {cmd}\n[exit {:?}]\n{}{}",
            f.status.code(),
            normalize_uuids(&stdout),
            normalize_uuids(&f.stderr)
        ));
    }
    out
}

#[test]
fn vsctl_script_output_matches_ovsdb_server() {
    if !require_ovs(
        "vsctl_script_output_matches_ovsdb_server",
        &["ovs-vsctl", "ovsdb-server", "ovsdb-tool"],
    ) {
        return;
    }
    let want = run_script(Kind::Real);
    let got = run_script(Kind::Rvs);
    let mut bad = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        if w != g {
            bad.push(format!(
                "--- ovsdb-server:\n{w}\n--- rvs-ovsdb-server:\n{g}\n"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} commands differ:\n{}",
        bad.len(),
        want.len(),
        bad.join("\n")
    );
}
