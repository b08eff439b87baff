//! rvs-vsctl against real ovs-vsctl: the same scripted session, run once
//! with each tool on a fresh database, must print the same text (stdout,
//! stderr, exit status; UUIDs normalized) and leave the same database.
//!
//! The session runs against three kinds of database:
//! - real `ovsdb-server` and `rvs-ovsdb-server` alone, with `--no-wait`
//!   (no switch daemon answers `next_cfg` there);
//! - a live `rvs-vswitchd` (embedded database), a fresh one per tool, each
//!   in its own network namespace, WITHOUT `--no-wait`: every changing
//!   command bumps `next_cfg` and waits until the daemon has applied it
//!   (`cur_cfg`), so what the daemon writes back is in place before the
//!   next command reads it and the two runs see the same daemon state.
//!   Compared that way: the tools' post-reload "Error detected while
//!   setting up 'IFACE'" messages, `show` (interface `error:` lines),
//!   `list Interface` (ofport, error, admin/link state, ifindex, mtu), and
//!   in the final database `Bridge.datapath_id`, the bridge port's
//!   `mac_in_use`, `cur_cfg`/`next_cfg`.  Both databases must end with
//!   `cur_cfg == next_cfg != 0`, and equal `next_cfg` (both tools bumped
//!   it for the same commands).
//!   Exception: `--dry-run` lines run with `--no-wait` there (ovs-vsctl
//!   would wait for a `next_cfg` value its rolled-back transaction never
//!   committed, i.e. hang until `--timeout`, whatever the daemon).
//!
//! What is normalized, beyond UUIDs (and row order of sorted outputs):
//! - against the daemon only, `Interface.statistics`: the daemon writes
//!   counters on its periodic (5 s) statistics tick, so whether and when a
//!   value appears depends on wall-clock time, not on the commands.  The
//!   value is replaced by `(timed)` in `list` output and in the final
//!   database;
//! - against the daemon only, `Interface.mac_in_use` of internal ports
//!   that are not a bridge's own port: the kernel gives a new TAP device a
//!   random address and the daemon (like ovs-vswitchd, unless
//!   `Interface.mac` is set) leaves it, so it differs between the two
//!   daemons.  Replaced by `(random)`.  A bridge's own port (its address
//!   is chosen by the daemon) is compared;
//! - against the daemon only, the log directory in "The default log
//!   directory is ..." (ovs-vsctl names OVS's `/var/log/openvswitch`,
//!   rvs-vsctl rvs's own default `/var/log/rvs`).
//!
//! Nothing else the daemon writes is normalized.
//!
//! Plus the `next_cfg`/`cur_cfg` wait against a daemon double.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rvs_tests::ovs::{Finished, find_program, run_with_timeout};
use rvs_tests::ovsdb_support::{Kind, Server, normalize_uuids, require_ovs, sort_outline};
use rvs_tests::topo::{Netns, require_system, unique_prefix};
use rvs_tests::vswitchd_support::{Vswitchd, rvs_bin};
use serde_json::Value;

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

/// Waits (bounded) until the database at `remote` accepts connections.
fn wait_ready(remote: &str) -> Result<()> {
    let client = find_program("ovsdb-client").context("ovsdb-client not found")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f = run_with_timeout(
            &client,
            &["list-dbs".to_string(), remote.to_string()],
            Duration::from_secs(30),
        )?;
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

fn run_tool(prog: &Path, remote: &str, line: &str, no_wait: bool) -> Result<Finished> {
    let mut a = vec![format!("--db={remote}"), "--timeout=20".into()];
    if no_wait {
        a.push("--no-wait".into());
    }
    a.extend(split(line));
    run_with_timeout(prog, &a, Duration::from_secs(30))
}

/// What a session runs against.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// A database server alone (`--no-wait`).
    Server(Kind),
    /// A live `rvs-vswitchd` with its embedded database, in a private
    /// network namespace (tools wait for `cur_cfg`).
    Vswitchd,
}

/// Columns a live daemon writes on a timer rather than in answer to a
/// command (see the module doc): (table, column).
const TIMED: &[(&str, &str)] = &[("Interface", "statistics")];

/// Bridge names the session uses: their own (internal) ports get an
/// address chosen by the daemon, compared as is.
const BRIDGES: &[&str] = &["br0", "br1", "fb", "brd"];

/// In `list` output, replaces the `mac_in_use` value of internal
/// interfaces other than a bridge's own port by `(random)`.
fn blank_random_macs(text: &str) -> String {
    let value = |block: &str, col: &str| -> Option<String> {
        block.lines().find_map(|l| {
            let (c, v) = l.split_once(" : ")?;
            (c.trim_end() == col).then(|| v.trim().trim_matches('"').to_string())
        })
    };
    text.split("\n\n")
        .map(|block| {
            let random = value(block, "type").as_deref() == Some("internal")
                && value(block, "name").is_some_and(|n| !BRIDGES.contains(&n.as_str()));
            if !random {
                return block.to_string();
            }
            block
                .split('\n')
                .map(|l| match l.split_once(" : ") {
                    Some((c, _)) if c.trim_end() == "mac_in_use" => format!("{c} : (random)"),
                    _ => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A started target; dropping it stops the daemon/server (the daemon
/// before its namespace: fields drop in declaration order).
enum Backend {
    Server(Server),
    Vswitchd { vs: Vswitchd, _ns: Netns },
}

impl Backend {
    fn start(target: Target) -> Result<Backend> {
        let b = match target {
            Target::Server(kind) => Backend::Server(Server::start(kind)?),
            Target::Vswitchd => {
                let ns = Netns::new(&unique_prefix())?;
                let vs = Vswitchd::start(Some(ns.name()))?;
                Backend::Vswitchd { vs, _ns: ns }
            }
        };
        wait_ready(&b.remote())?;
        Ok(b)
    }

    fn remote(&self) -> String {
        match self {
            Backend::Server(s) => s.remote(),
            Backend::Vswitchd { vs, .. } => {
                format!("unix:{}", vs.rundir().join("db.sock").display())
            }
        }
    }

    /// Whether tools run with `--no-wait`.
    fn no_wait(&self) -> bool {
        matches!(self, Backend::Server(_))
    }

    /// The last lines of the server's or daemon's log (for failures).
    fn log_tail(&self) -> String {
        let log = match self {
            Backend::Server(s) => s.log(),
            Backend::Vswitchd { vs, .. } => vs.log(),
        };
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// Replaces the value of `list`-format lines (`column   : value`) of the
/// [`TIMED`] columns by `(timed)`.
fn blank_timed_lines(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for l in text.split('\n') {
        let timed = l.split_once(" : ").is_some_and(|(col, _)| {
            let col = col.trim_end();
            TIMED.iter().any(|(_, c)| *c == col)
        });
        match l.split_once(" : ") {
            Some((col, _)) if timed => out.push(format!("{col} : (timed)")),
            _ => out.push(l.to_string()),
        }
    }
    out.join("\n")
}

/// Normalized record of the session, and a dump of the final database.
fn session(prog: &Path, target: Target) -> Result<(Vec<String>, String)> {
    let backend = Backend::start(target)?;
    let remote = backend.remote();
    let live = matches!(target, Target::Vswitchd);
    let mut out = Vec::new();
    for (line, sort) in SESSION {
        // ovs-vsctl (3.1) waits after `--dry-run` for the `next_cfg` its
        // rolled-back transaction computed but never committed: with any
        // daemon it hangs until `--timeout`.  So dry runs never wait.
        let no_wait = backend.no_wait() || line.contains("--dry-run");
        let f = run_tool(prog, &remote, line, no_wait)?;
        if f.stderr.contains("Alarm clock") {
            bail!(
                "`{} {line}` timed out: {}\nlog:\n{}",
                prog.display(),
                f.stderr.trim(),
                backend.log_tail()
            );
        }
        let (stdout, stderr) = if live {
            let logdir = |t: &str| {
                t.replace("/var/log/openvswitch", "LOGDIR")
                    .replace("/var/log/rvs", "LOGDIR")
            };
            (
                blank_random_macs(&blank_timed_lines(&f.stdout)),
                logdir(&f.stderr),
            )
        } else {
            (f.stdout.clone(), f.stderr.clone())
        };
        let stdout = if *sort {
            sort_output(line, &stdout)
        } else {
            stdout
        };
        out.push(format!(
            "$ vsctl {line}\n[exit {:?}]\n{}\n{}",
            f.status.code(),
            normalize(&stdout, prog),
            normalize(&stderr, prog)
        ));
    }
    let db = dump(&remote, live)?;
    if live {
        // Every change was waited for: the daemon caught up with the last.
        let f = run_tool(prog, &remote, "get Open_vSwitch . cur_cfg next_cfg", true)?;
        let v: Vec<&str> = f.stdout.lines().collect();
        if v.len() != 2 || v.first() != v.get(1) || v.first() == Some(&"0") {
            bail!(
                "{}: cur_cfg/next_cfg at the end: {:?} {}",
                prog.display(),
                f.stdout,
                f.stderr
            );
        }
    }
    Ok((out, db))
}

/// The database as sorted lines `Table: col=value ...` (from `ovsdb-client
/// --format=json dump`), UUIDs blanked (row order follows UUIDs, which
/// differ between runs); when `live` (a daemon's database), the [`TIMED`]
/// columns and random addresses (see the module doc) blanked.
fn dump(remote: &str, live: bool) -> Result<String> {
    let client = find_program("ovsdb-client").context("ovsdb-client not found")?;
    let args: Vec<String> = ["--format=json", "dump", remote, "Open_vSwitch"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let f = run_with_timeout(&client, &args, Duration::from_secs(30))?;
    if !f.status.success() {
        bail!("ovsdb-client dump: {}", f.stderr);
    }
    let mut lines = Vec::new();
    for t in serde_json::Deserializer::from_str(&f.stdout).into_iter::<Value>() {
        let t = t.context("ovsdb-client dump output")?;
        let caption = t["caption"].as_str().context("no caption")?;
        let table = caption.strip_suffix(" table").unwrap_or(caption);
        let headings: Vec<&str> = t["headings"]
            .as_array()
            .context("no headings")?
            .iter()
            .map(|h| h.as_str().unwrap_or("?"))
            .collect();
        for row in t["data"].as_array().context("no data")? {
            let cells = row.as_array().context("row is not an array")?;
            let cell = |col: &str| {
                headings
                    .iter()
                    .position(|h| *h == col)
                    .and_then(|i| cells.get(i))
                    .and_then(Value::as_str)
            };
            let random_mac = live
                && table == "Interface"
                && cell("type") == Some("internal")
                && cell("name").is_some_and(|n| !BRIDGES.contains(&n));
            let mut l = format!("{table}:");
            for (h, v) in headings.iter().zip(cells) {
                if live && TIMED.iter().any(|(t, c)| *t == table && c == h) {
                    l.push_str(&format!(" {h}=(timed)"));
                } else if random_mac && *h == "mac_in_use" {
                    l.push_str(&format!(" {h}=(random)"));
                } else {
                    l.push_str(&format!(" {h}={v}"));
                }
            }
            lines.push(blank_uuids(&l));
        }
    }
    if lines.is_empty() {
        bail!("empty dump: {}", f.stdout);
    }
    lines.sort();
    Ok(lines.join("\n"))
}

fn compare(target: Target) {
    let real = find_program("ovs-vsctl").expect("ovs-vsctl");
    let rvs = rvs_bin("rvs-vsctl").expect("rvs-vsctl binary");
    let (want, want_db) = session(&real, target).expect("ovs-vsctl session");
    let (got, got_db) = session(&rvs, target).expect("rvs-vsctl session");
    let mut bad = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        if w != g {
            bad.push(format!("--- ovs-vsctl:\n{w}\n--- rvs-vsctl:\n{g}\n"));
        }
    }
    assert!(
        bad.is_empty(),
        "{:?}: {} of {} commands differ:\n{}",
        target,
        bad.len(),
        want.len(),
        bad.join("\n")
    );
    if want_db != got_db {
        let w: Vec<&str> = want_db.lines().collect();
        let g: Vec<&str> = got_db.lines().collect();
        let only_w: Vec<&&str> = w.iter().filter(|l| !g.contains(l)).collect();
        let only_g: Vec<&&str> = g.iter().filter(|l| !w.contains(l)).collect();
        panic!(
            "{target:?}: final databases differ\nonly after ovs-vsctl:\n{}\nonly after rvs-vsctl:\n{}",
            only_w
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            only_g
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn vsctl_session_matches_ovs_vsctl_on_rvs_server() {
    if !require_ovs(
        "vsctl_session_matches_ovs_vsctl_on_rvs_server",
        &["ovs-vsctl", "ovsdb-client"],
    ) {
        return;
    }
    compare(Target::Server(Kind::Rvs));
}

#[test]
fn vsctl_session_matches_ovs_vsctl_on_real_server() {
    if !require_ovs(
        "vsctl_session_matches_ovs_vsctl_on_real_server",
        &["ovs-vsctl", "ovsdb-client", "ovsdb-server", "ovsdb-tool"],
    ) {
        return;
    }
    compare(Target::Server(Kind::Real));
}

/// The full session against a live rvs-vswitchd per tool (each in its own
/// network namespace), waiting for `cur_cfg` after every change.
#[test]
fn vsctl_session_matches_ovs_vsctl_on_rvs_vswitchd() {
    if !require_system(
        "vsctl_session_matches_ovs_vsctl_on_rvs_vswitchd",
        &["ovs-vsctl", "ovsdb-client", "ip"],
    ) {
        return;
    }
    compare(Target::Vswitchd);
}

/// Without `--no-wait`, rvs-vsctl bumps `next_cfg` and returns only once
/// `cur_cfg` reaches it. The switch daemon is played by this test (a
/// double): it copies `next_cfg` to `cur_cfg` when told to.
#[test]
fn vsctl_waits_for_cur_cfg() {
    if !require_ovs("vsctl_waits_for_cur_cfg", &["ovs-vsctl"]) {
        return;
    }
    let rvs = rvs_bin("rvs-vsctl").expect("rvs-vsctl binary");
    let ovs = find_program("ovs-vsctl").expect("ovs-vsctl");
    let server = Server::start(Kind::Rvs).expect("server");
    wait_ready(&server.remote()).expect("server ready");
    let get = |col: &str| -> i64 {
        let f = run_tool(
            &ovs,
            &server.remote(),
            &format!("get Open_vSwitch . {col}"),
            true,
        )
        .expect("get");
        f.stdout.trim().parse().unwrap_or(-1)
    };
    assert!(
        run_tool(&rvs, &server.remote(), "init", true)
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
    let f = run_tool(&ovs, &server.remote(), "set Open_vSwitch . cur_cfg=1", true)
        .expect("set cur_cfg");
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
    let f = run_tool(&rvs, &server.remote(), "list-br", false).expect("list-br");
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
    let rvs = rvs_bin("rvs-vsctl").expect("rvs-vsctl binary");
    let server = Server::start(Kind::Rvs).expect("server");
    wait_ready(&server.remote()).expect("server ready");
    assert!(
        run_tool(&rvs, &server.remote(), "add-br br0", true)
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
    let f = run_tool(&rvs, &server.remote(), "get Bridge br0 flood_vlans", true).expect("get");
    let want: Vec<String> = {
        let mut v: Vec<usize> = (1..=N).collect();
        v.sort();
        v.iter().map(|k| k.to_string()).collect()
    };
    assert_eq!(f.stdout.trim(), format!("[{}]", want.join(", ")));
    let f = run_tool(&rvs, &server.remote(), "list-ports br0", true).expect("list-ports");
    assert_eq!(f.stdout.lines().count(), N, "{}", f.stdout);
}
