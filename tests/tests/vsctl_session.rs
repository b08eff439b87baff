//! rvs-vsctl against real ovs-vsctl: the same scripted session, run once
//! with each tool on a fresh server, must print the same text (stdout,
//! stderr, exit status; UUIDs normalized) and leave the same database.
//! Plus the `next_cfg`/`cur_cfg` wait against a daemon double.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rvs_tests::ovs::{Finished, find_program, run_with_timeout};
use rvs_tests::ovsdb_support::{Kind, Server, normalize_uuids, require_ovs, sort_outline};

/// Path of `rvs-vsctl`: `$RVS_VSCTL`, or built next to this test's target
/// directory.
fn rvs_vsctl_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("RVS_VSCTL") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?
        .to_path_buf();
    let target_dir = profile_dir.parent().context("no target dir")?.to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "rvs-tools", "--bin", "rvs-vsctl"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    if !cmd.status().context("cargo build rvs-vsctl")?.success() {
        bail!("building rvs-vsctl failed");
    }
    let bin = profile_dir.join("rvs-vsctl");
    if !bin.exists() {
        bail!("{} missing after build", bin.display());
    }
    Ok(bin)
}

/// Splits a command line on spaces; single quotes group words.
fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// (command line, sort the output before comparing). Rows of `list`,
/// `find` and `show` come in UUID/hash order, which differs between runs.
const SESSION: &[(&str, bool)] = &[
    ("init", false),
    ("add-br br0", false),
    ("add-port br0 p1", false),
    ("add-port br0 p2 -- set Interface p2 type=internal", false),
    ("list-br", false),
    ("list-ports br0", false),
    ("list-ifaces br0", false),
    ("br-exists br0", false),
    ("br-exists nosuch", false),
    ("port-to-br p2", false),
    ("iface-to-br p2", false),
    (
        "set Bridge br0 other_config:hwaddr=00:11:22:33:44:55 external_ids:owner=test",
        false,
    ),
    ("get Bridge br0 other_config", false),
    ("get Bridge br0 external_ids:owner", false),
    ("get Bridge br0 name datapath_type fail_mode", false),
    ("set Port p1 tag=10", false),
    ("get Port p1 tag", false),
    ("list Interface p2", false),
    ("list Port p1", false),
    ("--columns=name,tag find Port tag=10", false),
    ("--columns=name,tag,trunks find Port tag!=10", true),
    ("--columns=name find Port 'tag>3'", true),
    ("--columns=name find Port 'tag{>=}[10]'", true),
    (
        "--format=table --columns=name,tag,trunks list Port p1",
        false,
    ),
    (
        "--format=table --columns=name,tag,trunks,_uuid list Port",
        true,
    ),
    ("--format=csv --columns=name,tag,trunks list Port p1", false),
    (
        "--format=json --columns=name,tag,trunks list Port p1",
        false,
    ),
    (
        "--format=json --pretty --columns=name,tag,trunks list Port p1",
        false,
    ),
    (
        "--format=html --columns=name,tag,trunks list Port p1",
        false,
    ),
    ("--bare --columns=name,tag,trunks list Port p1", false),
    ("--data=json --columns=name,interfaces list Port p1", false),
    (
        "--format=table --data=bare --no-headings --columns=name,tag list Port p1",
        false,
    ),
    ("add Bridge br0 flood_vlans 1 2 3", false),
    ("remove Bridge br0 flood_vlans 2", false),
    ("get Bridge br0 flood_vlans", false),
    ("add Port p2 trunks 5-7", false),
    ("get Port p2 trunks", false),
    (
        "set Interface p2 options:foo=bar 'options:baz=\"a b\"'",
        false,
    ),
    ("get Interface p2 options", false),
    (
        "--format=csv --columns=name,options list Interface p2",
        false,
    ),
    ("remove Interface p2 options foo", false),
    ("remove Interface p2 options 'baz=\"a b\"'", false),
    ("get Interface p2 options", false),
    (
        "set Bridge br0 external_ids:e='\"\"' external_ids:n=123 external_ids:t=true external_ids:q='\"x\\\"y\"' external_ids:c='\"a,b\"'",
        false,
    ),
    ("get Bridge br0 external_ids", false),
    ("--bare --columns=external_ids list Bridge br0", false),
    ("--format=csv --columns=external_ids list Bridge br0", false),
    (
        "--format=json --columns=external_ids list Bridge br0",
        false,
    ),
    ("add Bridge br0 external_ids e=changed newkey=v", false),
    ("remove Bridge br0 external_ids nokey n=999 t", false),
    ("get Bridge br0 external_ids", false),
    ("--columns=name find Port 'trunks{in}[1,5,6,7]'", true),
    ("--columns=name find Port 'trunks{not-in}[6]'", true),
    ("--columns=name find Port 'tag<11' 'tag>9'", true),
    ("set Port p2 trunks=4095-4094", false),
    ("set Port p2 lacp=", false),
    ("set Bridge br0 protocols=OpenFlow10,OpenFlow13", false),
    ("get Bridge br0 protocols stp_enable", false),
    ("add-br fb br0 7", false),
    ("list-br", false),
    ("--real list-br", false),
    ("--fake list-br", false),
    ("br-to-vlan fb", false),
    ("br-to-parent fb", false),
    ("add-port fb fp1", false),
    ("list-ports fb", false),
    ("list-ports br0", false),
    ("port-to-br fp1", false),
    ("get Port fp1 tag", false),
    ("br-set-external-id fb k v", false),
    ("br-get-external-id fb", false),
    ("br-get-external-id fb k", false),
    ("br-set-external-id br0 a b", false),
    ("br-get-external-id br0", false),
    (
        "set-controller br0 tcp:127.0.0.1:6653 tcp:127.0.0.1:6654",
        false,
    ),
    ("get-controller br0", false),
    ("get-controller fb", false),
    ("set-fail-mode br0 secure", false),
    ("get-fail-mode br0", false),
    ("set-manager ptcp:6640", false),
    ("get-manager", false),
    ("add-bond br0 bond0 e1 e2 lacp=active", false),
    ("--fake-iface add-bond br0 bond1 e3 e4", false),
    ("list-ifaces br0", false),
    ("get Port bond1 bond_fake_iface lacp", false),
    ("add-bond-iface bond1 e5", false),
    ("--may-exist add-bond-iface bond1 e5", false),
    ("--may-exist add-bond-iface p1 e5", false),
    ("del-bond-iface bond1 e3", false),
    ("del-bond-iface p1 e4", false),
    ("del-bond-iface p1", false),
    ("list-ifaces br0", false),
    ("set-ssl /k /c /ca", false),
    ("--bootstrap set-ssl /k2 /c2 /ca2", false),
    ("get-ssl", false),
    ("--dry-run add-br brd -- list-br", false),
    ("list-br", false),
    ("-fcsv -dbare --columns=name,tag list Port p1", false),
    ("--format=table --columns=name find Bridge name=nob", false),
    ("--format=json --columns=name find Bridge name=nob", false),
    ("comment hello -- br-exists br0", false),
    (
        "--id=@b get Bridge br0 -- set Bridge br0 external_ids:self=@b",
        false,
    ),
    (
        "--id=@q create QoS type=linux-htb -- set Port p1 qos=@q",
        false,
    ),
    ("--columns=type list QoS", false),
    ("get QoS p1 type", false),
    ("wait-until Bridge br0 fail_mode=secure", false),
    ("--oneline list-br -- list-ports br0", false),
    ("show", true),
    ("del-controller br0", false),
    ("get-controller br0", false),
    ("del-fail-mode br0", false),
    ("get-fail-mode br0", false),
    ("del-manager", false),
    ("del-port br0 p2", false),
    ("--with-iface del-port e1", false),
    ("list-ports br0", false),
    ("--if-exists del-port nop", false),
    ("del-br fb", false),
    ("list-br", false),
    ("add-br br1", false),
    ("add-port br1 q1 -- add-port br1 q2", false),
    ("list-ports br1", false),
    ("del-br br1", false),
    ("--may-exist add-br br0", false),
    ("--may-exist add-port br0 p1", false),
    ("emer-reset", false),
    ("--columns=name,tag,qos list Port p1", false),
    ("clear Port p1 tag qos", false),
    ("--all destroy QoS", false),
    ("--columns=name,tag,qos list Port p1", false),
    ("show", true),
    // Errors: same message, same exit status.
    ("add-br br0", false),
    ("add-br p1", false),
    ("add-br x br0", false),
    ("add-br x nob 3", false),
    ("add-br x br0 5000", false),
    ("add-port nob p", false),
    ("add-port br0 p1", false),
    ("add-bond br0 b1 i1 tag=3", false),
    ("del-port nop", false),
    ("del-port br0 br0", false),
    ("--with-iface del-port nop", false),
    ("port-to-br nop", false),
    ("iface-to-br nop", false),
    ("get Bridge nob name", false),
    ("get Bridge br0 nocol", false),
    ("get Bridge br0 n", false),
    ("get Bridge br0 external_ids:nokey", false),
    ("--if-exists get Bridge br0 external_ids:nokey", false),
    ("get Nosuch br0 name", false),
    ("set Bridge br0 fail_mode=bad", false),
    ("set Port p1 tag=5000", false),
    ("set Port p1 tag=x", false),
    ("set Bridge br0 name", false),
    ("clear Bridge br0 name", false),
    ("clear Port p1 interfaces", false),
    ("set-fail-mode br0 bad", false),
    ("set Bridge br0 ports=@nowhere", false),
    ("--id=x create Port name=x", false),
    ("set Port p1 trunks=[1", false),
    ("set Interface p1 options=a", false),
    ("frob", false),
    ("add-br", false),
    ("list-br x", false),
    ("--may-exist list-br", false),
    ("--columns=name,tag list Port p1 nosuchport", false),
    ("-t", false),
    ("--frob list-br", false),
    ("-x list-br", false),
    ("--format=xml list-br", false),
    ("--if-exists list-br", false),
    ("list-br --", false),
    ("del-ssl", false),
    ("get-ssl", false),
];

fn normalize(text: &str, path: &Path) -> String {
    // getopt messages carry the program as invoked (its full path).
    let full = path.display().to_string();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    let t = text.replace(&full, "VSCTL").replace(name, "VSCTL");
    // Log lines: drop the timestamp and sequence number.
    let t: Vec<String> = t
        .lines()
        .map(|l| match l.split_once('|') {
            Some((ts, rest)) if ts.ends_with('Z') && ts.contains('T') => rest
                .split_once('|')
                .map(|x| x.1)
                .unwrap_or(rest)
                .to_string(),
            _ => l.to_string(),
        })
        .collect();
    normalize_uuids(&t.join("\n"))
}

/// Replaces every UUID by `<uuid>` (row order, hence first-appearance
/// numbering, is not comparable in sorted outputs).
fn blank_uuids(s: &str) -> String {
    let n = normalize_uuids(s);
    let mut o = String::new();
    let mut skip = false;
    for c in n.chars() {
        if c == '<' {
            skip = true;
            o.push_str("<uuid>");
        } else if c == '>' && skip {
            skip = false;
        } else if !skip {
            o.push(c);
        }
    }
    o
}

/// Waits (bounded) until the server accepts connections.
fn wait_ready(server: &Server) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f = server.client(&["list-dbs", "@REMOTE@"])?;
        if f.status.success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("server not ready: {}", f.stderr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sort_output(cmd: &str, out: &str) -> String {
    if cmd.contains("show") {
        return sort_outline(&normalize_uuids(out));
    }
    let s = blank_uuids(out);
    if s.contains("\n\n") {
        let mut blocks: Vec<&str> = s.split("\n\n").map(str::trim_end).collect();
        blocks.sort();
        blocks.join("\n\n")
    } else {
        let mut lines: Vec<&str> = s.lines().collect();
        lines.sort();
        lines.join("\n")
    }
}

fn run_tool(prog: &Path, server: &Server, line: &str, no_wait: bool) -> Result<Finished> {
    let mut a = vec![format!("--db={}", server.remote()), "--timeout=20".into()];
    if no_wait {
        a.push("--no-wait".into());
    }
    a.extend(split(line));
    run_with_timeout(prog, &a, Duration::from_secs(30))
}

/// Normalized record of the session, and a dump of the final database.
fn session(prog: &Path, kind: Kind) -> Result<(Vec<String>, String)> {
    let server = Server::start(kind)?;
    wait_ready(&server)?;
    let mut out = Vec::new();
    for (line, sort) in SESSION {
        let f = run_tool(prog, &server, line, true)?;
        let stdout = if *sort {
            sort_output(line, &f.stdout)
        } else {
            f.stdout.clone()
        };
        out.push(format!(
            "$ vsctl {line}\n[exit {:?}]\n{}\n{}",
            f.status.code(),
            normalize(&stdout, prog),
            normalize(&f.stderr, prog)
        ));
    }
    Ok((out, dump(&server)?))
}

/// `ovsdb-client dump` with UUIDs blanked and lines sorted (row order
/// follows UUIDs, which differ between runs).
fn dump(server: &Server) -> Result<String> {
    let f = server.client(&["dump", "@REMOTE@", "Open_vSwitch"])?;
    if !f.status.success() {
        bail!("ovsdb-client dump: {}", f.stderr);
    }
    let mut lines: Vec<String> = f
        .stdout
        .lines()
        .map(|l| blank_uuids(l).trim_end().to_string())
        .filter(|l| !l.chars().all(|c| c == '-' || c == ' '))
        .collect();
    lines.sort();
    Ok(lines.join("\n"))
}

fn compare(kind: Kind) {
    let real = find_program("ovs-vsctl").expect("ovs-vsctl");
    let rvs = rvs_vsctl_bin().expect("rvs-vsctl binary");
    let (want, want_db) = session(&real, kind).expect("ovs-vsctl session");
    let (got, got_db) = session(&rvs, kind).expect("rvs-vsctl session");
    let mut bad = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        if w != g {
            bad.push(format!("--- ovs-vsctl:\n{w}\n--- rvs-vsctl:\n{g}\n"));
        }
    }
    assert!(
        bad.is_empty(),
        "{:?}: {} of {} commands differ:\n{}",
        kind,
        bad.len(),
        want.len(),
        bad.join("\n")
    );
    assert_eq!(want_db, got_db, "{kind:?}: final databases differ");
}

#[test]
fn vsctl_session_matches_ovs_vsctl_on_rvs_server() {
    if !require_ovs(
        "vsctl_session_matches_ovs_vsctl_on_rvs_server",
        &["ovs-vsctl", "ovsdb-client"],
    ) {
        return;
    }
    compare(Kind::Rvs);
}

#[test]
fn vsctl_session_matches_ovs_vsctl_on_real_server() {
    if !require_ovs(
        "vsctl_session_matches_ovs_vsctl_on_real_server",
        &["ovs-vsctl", "ovsdb-client", "ovsdb-server", "ovsdb-tool"],
    ) {
        return;
    }
    compare(Kind::Real);
}

/// Without `--no-wait`, rvs-vsctl bumps `next_cfg` and returns only once
/// `cur_cfg` reaches it. The switch daemon is played by this test (a
/// double): it copies `next_cfg` to `cur_cfg` when told to.
#[test]
fn vsctl_waits_for_cur_cfg() {
    if !require_ovs("vsctl_waits_for_cur_cfg", &["ovs-vsctl"]) {
        return;
    }
    let rvs = rvs_vsctl_bin().expect("rvs-vsctl binary");
    let ovs = find_program("ovs-vsctl").expect("ovs-vsctl");
    let server = Server::start(Kind::Rvs).expect("server");
    wait_ready(&server).expect("server ready");
    let get = |col: &str| -> i64 {
        let f = run_tool(&ovs, &server, &format!("get Open_vSwitch . {col}"), true).expect("get");
        f.stdout.trim().parse().unwrap_or(-1)
    };
    assert!(
        run_tool(&rvs, &server, "init", true)
            .expect("init")
            .status
            .success()
    );
    assert_eq!(get("next_cfg"), 0);

    let mut child = Command::new(&rvs)
        .arg(format!("--db={}", server.remote()))
        .args(["--timeout=30", "add-br", "brw", "--", "br-exists", "brw"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rvs-vsctl");
    // Wait (bounded) until the transaction is in: next_cfg becomes 1.
    let deadline = Instant::now() + Duration::from_secs(30);
    while get("next_cfg") < 1 {
        assert!(Instant::now() < deadline, "next_cfg never incremented");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get("cur_cfg"), 0);
    // The daemon has not caught up: the tool must still be waiting.
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "rvs-vsctl returned before cur_cfg reached next_cfg"
    );
    // The double "reconfigures".
    let f = run_tool(&ovs, &server, "set Open_vSwitch . cur_cfg=1", true).expect("set cur_cfg");
    assert!(f.status.success(), "{}", f.stderr);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rvs-vsctl did not return after cur_cfg reached next_cfg");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "rvs-vsctl failed: {status:?}");

    // A read-only command changes nothing, so it neither bumps nor waits.
    let f = run_tool(&rvs, &server, "list-br", false).expect("list-br");
    assert_eq!(f.stdout, "brw\n");
    assert_eq!(get("next_cfg"), 1);

    // Nobody raises cur_cfg now: --timeout ends the wait with status 142
    // (ovs-vsctl dies of SIGALRM, which shells report as 142).
    let mut a = vec![
        format!("--db={}", server.remote()),
        "--timeout=1".to_string(),
    ];
    a.extend(split("add-br brx"));
    let f = run_with_timeout(&rvs, &a, Duration::from_secs(30)).expect("timeout run");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        f.status.code() == Some(142) || f.status.signal() == Some(14),
        "status {:?}, stderr: {}",
        f.status,
        f.stderr
    );
    assert!(
        f.stderr
            .contains("terminating with signal 14 (Alarm clock)")
    );
    assert_eq!(get("next_cfg"), 2);
}

/// Concurrent read-modify-write commands lose nothing: each rvs-vsctl
/// verifies what it read (OVSDB `wait`) and runs again when another
/// client changed it in between.
#[test]
fn vsctl_concurrent_updates_are_not_lost() {
    if !require_ovs("vsctl_concurrent_updates_are_not_lost", &["ovs-vsctl"]) {
        return;
    }
    let rvs = rvs_vsctl_bin().expect("rvs-vsctl binary");
    let server = Server::start(Kind::Rvs).expect("server");
    wait_ready(&server).expect("server ready");
    assert!(
        run_tool(&rvs, &server, "add-br br0", true)
            .expect("add-br")
            .status
            .success()
    );
    const N: usize = 12;
    let mut children = Vec::new();
    for k in 1..=N {
        let c = Command::new(&rvs)
            .arg(format!("--db={}", server.remote()))
            .args([
                "--no-wait",
                "--timeout=60",
                "add",
                "Bridge",
                "br0",
                "flood_vlans",
            ])
            .arg(k.to_string())
            .args(["--", "add-port", "br0", &format!("cp{k}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        children.push(c);
    }
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let f = run_tool(&rvs, &server, "get Bridge br0 flood_vlans", true).expect("get");
    let want: Vec<String> = {
        let mut v: Vec<usize> = (1..=N).collect();
        v.sort();
        v.iter().map(|k| k.to_string()).collect()
    };
    assert_eq!(f.stdout.trim(), format!("[{}]", want.join(", ")));
    let f = run_tool(&rvs, &server, "list-ports br0", true).expect("list-ports");
    assert_eq!(f.stdout.lines().count(), N, "{}", f.stdout);
}
