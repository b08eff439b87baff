//! The real `ovsdb-client` against rvs-ovsdb-server prints what it prints
//! against ovsdb-server: list-dbs, get-schema, transact (every operation and
//! error case), dump, monitor and monitor-cond.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rvs_tests::ovs::find_program;
use rvs_tests::ovsdb_support::{Kind, Server, normalize_uuids, require_ovs};

const PROGRAMS: &[&str] = &["ovs-vsctl", "ovsdb-client", "ovsdb-server", "ovsdb-tool"];

/// Transactions (the `transact` params after the database name), run in
/// order on one database. Covers every operation, named UUIDs, every
/// mutator, conditions, wait/commit/abort/comment/assert, and the errors.
const TXNS: &[&str] = &[
    // insert + uuid-name, select back
    r#"{"op":"insert","table":"Open_vSwitch","row":{}}"#,
    r#"{"op":"insert","table":"QoS","row":{"type":"linux-htb","other_config":["map",[["max-rate","1000"]]],"external_ids":["map",[["n","1"]]]},"uuid-name":"q"},
       {"op":"insert","table":"Queue","row":{"dscp":5,"other_config":["map",[["min-rate","10"]]]},"uuid-name":"qu"},
       {"op":"mutate","table":"QoS","where":[["_uuid","==",["named-uuid","q"]]],"mutations":[["queues","insert",["map",[[1,["named-uuid","qu"]]]]]]}"#,
    r#"{"op":"select","table":"QoS","where":[],"columns":["type","other_config","external_ids"]}"#,
    r#"{"op":"select","table":"Queue","where":[["dscp","==",5]],"columns":["dscp","other_config"]}"#,
    // update
    r#"{"op":"update","table":"QoS","where":[["type","==","linux-htb"]],"row":{"external_ids":["map",[["n","2"],["m","x"]]]}}"#,
    r#"{"op":"select","table":"QoS","where":[["external_ids","includes",["map",[["m","x"]]]]],"columns":["external_ids"]}"#,
    // mutate: every mutator
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["dscp","+=",2]]}"#,
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["dscp","*=",3]]}"#,
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["dscp","-=",1]]}"#,
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["dscp","/=",4]]}"#,
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["dscp","%=",3]]}"#,
    r#"{"op":"select","table":"Queue","where":[],"columns":["dscp"]}"#,
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["other_config","insert",["map",[["a","1"],["min-rate","99"]]]]]}"#,
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["other_config","delete",["set",["a"]]]]}"#,
    r#"{"op":"select","table":"Queue","where":[],"columns":["other_config"]}"#,
    // mutate errors: range, type
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["dscp","+=",100]]}"#,
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["dscp","/=",0]]}"#,
    r#"{"op":"mutate","table":"Queue","where":[],"mutations":[["dscp","+=","x"]]}"#,
    // conditions
    r#"{"op":"select","table":"Queue","where":[["dscp","<",10],["dscp",">=",0],["dscp","!=",7]],"columns":["dscp"]}"#,
    r#"{"op":"select","table":"QoS","where":[["other_config","excludes",["map",[["max-rate","5"]]]]],"columns":["type"]}"#,
    r#"{"op":"select","table":"QoS","where":[["type","includes","linux-htb"]],"columns":["type"]}"#,
    // wait: satisfied, and timing out at once
    r#"{"op":"wait","table":"QoS","where":[],"columns":["type"],"until":"==","rows":[{"type":"linux-htb"}],"timeout":0}"#,
    r#"{"op":"wait","table":"QoS","where":[],"columns":["type"],"until":"!=","rows":[{"type":"linux-htb"}],"timeout":0}"#,
    // comment, commit, abort, assert
    r#"{"op":"comment","comment":"hello"},{"op":"commit","durable":false}"#,
    r#"{"op":"insert","table":"QoS","row":{"type":"x"}},{"op":"abort"}"#,
    r#"{"op":"assert","lock":"nosuchlock"}"#,
    // errors: unknown table/column, bad types, constraint, referential integrity, index
    r#"{"op":"insert","table":"NoSuchTable","row":{}}"#,
    r#"{"op":"insert","table":"QoS","row":{"nosuchcolumn":1}}"#,
    r#"{"op":"insert","table":"QoS","row":{"type":5}}"#,
    r#"{"op":"insert","table":"Queue","row":{"dscp":64}}"#,
    r#"{"op":"insert","table":"Open_vSwitch","row":{}}"#,
    r#"{"op":"insert","table":"Bridge","row":{"name":"b","ports":["set",[["uuid","6f9a3a4c-0000-4000-8000-000000000001"]]]}}"#,
    r#"{"op":"insert","table":"Bridge","row":{"name":"b1"},"uuid-name":"b1"},{"op":"insert","table":"Bridge","row":{"name":"b1"},"uuid-name":"b2"},{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["set",[["named-uuid","b1"],["named-uuid","b2"]]]]]}"#,
    r#"{"op":"select","table":"QoS","where":[["nosuchcolumn","==",1]]}"#,
    r#"{"op":"select","table":"QoS","where":[["type","<","a"]]}"#,
    r#"{"op":"frobnicate","table":"QoS"}"#,
    r#"{"op":"update","table":"Bridge","where":[],"row":{"name":"x"}}"#,
    // delete: strong reference keeps the row, then garbage collection
    r#"{"op":"delete","table":"Queue","where":[]}"#,
    r#"{"op":"mutate","table":"QoS","where":[],"mutations":[["queues","delete",["set",[1]]]]}"#,
    r#"{"op":"select","table":"Queue","where":[],"columns":["dscp"]}"#,
    r#"{"op":"delete","table":"QoS","where":[["type","==","linux-htb"]]}"#,
    r#"{"op":"select","table":"QoS","where":[],"columns":["type"]}"#,
];

fn transact_outputs(kind: Kind) -> Vec<String> {
    let s = Server::start(kind).expect("start");
    TXNS.iter()
        .map(|t| {
            let txn = format!("[\"Open_vSwitch\",{t}]");
            let f = s
                .client(&["transact", "@REMOTE@", &txn])
                .expect("ovsdb-client");
            // Which of two duplicate rows is "first" follows their (random)
            // UUIDs on either server: put them in one order.
            let out = normalize_uuids(&f.stdout).replace(
                "UUID <1>, was inserted by this transaction.  Second row, with UUID <0>",
                "UUID <0>, was inserted by this transaction.  Second row, with UUID <1>",
            );
            format!("{txn}\n[exit {:?}]\n{out}{}", f.status.code(), f.stderr)
        })
        .collect()
}

fn compare(what: &str, want: &[String], got: &[String]) {
    let bad: Vec<String> = want
        .iter()
        .zip(got)
        .filter(|(w, g)| w != g)
        .map(|(w, g)| format!("--- ovsdb-server:\n{w}\n--- rvs-ovsdb-server:\n{g}\n"))
        .collect();
    assert_eq!(want.len(), got.len());
    assert!(
        bad.is_empty(),
        "{what}: {} of {} differ:\n{}",
        bad.len(),
        want.len(),
        bad.join("\n")
    );
}

#[test]
fn transact_results_match_ovsdb_server() {
    if !require_ovs("transact_results_match_ovsdb_server", PROGRAMS) {
        return;
    }
    compare(
        "transact",
        &transact_outputs(Kind::Real),
        &transact_outputs(Kind::Rvs),
    );
}

fn info_outputs(kind: Kind) -> Vec<String> {
    let s = Server::start(kind).expect("start");
    for cmd in [
        &["init"][..],
        &["add-br", "br0"],
        &["add-port", "br0", "p1"],
        &["set", "Bridge", "br0", "fail_mode=secure"],
    ] {
        let f = s.vsctl(cmd).expect("vsctl");
        assert!(f.status.success(), "{}", f.stderr);
    }
    let mut out = Vec::new();
    for args in [
        &["list-dbs", "@REMOTE@"][..],
        &["list-tables", "@REMOTE@", "Open_vSwitch"],
        &["list-columns", "@REMOTE@", "Open_vSwitch", "Bridge"],
        &["get-schema-version", "@REMOTE@", "Open_vSwitch"],
        &["get-schema-cksum", "@REMOTE@", "Open_vSwitch"],
        &["get-schema", "@REMOTE@", "_Server"],
        &[
            "dump",
            "@REMOTE@",
            "Open_vSwitch",
            "Bridge",
            "Port",
            "Interface",
        ],
        &[
            "--format=json",
            "dump",
            "@REMOTE@",
            "Open_vSwitch",
            "Bridge",
        ],
        &["get-schema", "@REMOTE@", "nosuchdb"],
        &["dump", "@REMOTE@", "nosuchdb"],
    ] {
        let f = s.client(args).expect("ovsdb-client");
        let mut stdout = f.stdout.clone();
        if args[0].starts_with("list-") {
            // ovsdb-client prints tables and columns in the order of its
            // own hash table, which depends on the order the server sent
            // them in; ovsdb-server sends them in hash order, we send them
            // sorted. Same set, compared sorted.
            let mut l: Vec<&str> = stdout.lines().collect();
            l.sort();
            stdout = l.join("\n");
        }
        out.push(format!(
            "{args:?}\n[exit {:?}]\n{}{}",
            f.status.code(),
            normalize_uuids(&stdout),
            f.stderr
        ));
    }
    // get-schema: same schema, compared as JSON (member order may differ).
    let f = s
        .client(&["get-schema", "@REMOTE@", "Open_vSwitch"])
        .expect("ovsdb-client");
    let v: serde_json::Value = serde_json::from_str(&f.stdout).expect("schema JSON");
    out.push(format!("get-schema Open_vSwitch: {}", v));
    out
}

#[test]
fn info_and_dump_match_ovsdb_server() {
    if !require_ovs("info_and_dump_match_ovsdb_server", PROGRAMS) {
        return;
    }
    compare(
        "list-dbs/get-schema/dump",
        &info_outputs(Kind::Real),
        &info_outputs(Kind::Rvs),
    );
}

/// Runs `ovsdb-client ARGS` in the background while `steps` (ovs-vsctl
/// commands) are applied one at a time, each after the previous update
/// has been printed; returns the normalized output.
fn monitor_output(
    kind: Kind,
    args: &[&str],
    steps: &[&[&str]],
    updates_per_step: &[usize],
) -> String {
    let s = Server::start(kind).expect("start");
    for cmd in [&["init"][..], &["add-br", "b0"]] {
        let f = s.vsctl(cmd).expect("vsctl");
        assert!(f.status.success(), "{}", f.stderr);
    }
    let out_path = s.dir.path().join("monitor.out");
    let out = std::fs::File::create(&out_path).expect("create");
    let prog = find_program("ovsdb-client").expect("ovsdb-client");
    let a: Vec<String> = args
        .iter()
        .map(|x| x.replace("@REMOTE@", &s.remote()))
        .collect();
    let mut child = Command::new(prog)
        .args(&a)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let wait_blocks = |n: usize| {
        // Each printed update is a table block that opens with a `row ...`
        // heading line.  (Counting dash runs instead would count several per
        // separator line and stop waiting before the last update arrived.)
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            if text.lines().filter(|l| l.starts_with("row ")).count() >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{kind:?}: monitor printed {text:?}, waiting for {n} updates"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_blocks(1);
    let mut blocks = 1;
    for (step, n) in steps.iter().zip(updates_per_step) {
        let f = s.vsctl(step).expect("vsctl");
        assert!(f.status.success(), "{step:?}: {}", f.stderr);
        blocks += n;
        wait_blocks(blocks);
    }
    let _ = child.kill();
    let _ = child.wait();
    normalize_uuids(&std::fs::read_to_string(&out_path).unwrap_or_default())
}

const STEPS: &[&[&str]] = &[
    &["add-br", "b1"],
    &["set-fail-mode", "b1", "secure"],
    &["set", "Bridge", "b0", "external_ids:a=b"],
    &["del-br", "b0"],
];

#[test]
fn monitor_updates_match_ovsdb_server() {
    if !require_ovs("monitor_updates_match_ovsdb_server", PROGRAMS) {
        return;
    }
    let args = [
        "monitor",
        "@REMOTE@",
        "Open_vSwitch",
        "Bridge",
        "name,fail_mode",
    ];
    // The external_ids change is not monitored: no block for it.
    let per = [1, 1, 0, 1];
    let steps: Vec<&[&str]> = STEPS.iter().copied().filter(|s| s[0] != "set").collect();
    let per: Vec<usize> = per.iter().copied().filter(|n| *n > 0).collect();
    let want = monitor_output(Kind::Real, &args, &steps, &per);
    let got = monitor_output(Kind::Rvs, &args, &steps, &per);
    assert!(
        got.contains("insert") && got.contains("delete") && got.contains("new"),
        "{got}"
    );
    assert_eq!(got, want);
}

#[test]
fn monitor_cond_updates_match_ovsdb_server() {
    if !require_ovs("monitor_cond_updates_match_ovsdb_server", PROGRAMS) {
        return;
    }
    let args = [
        "monitor-cond",
        "@REMOTE@",
        "Open_vSwitch",
        r#"[["name","!=","zzz"]]"#,
        "Bridge",
        "name,fail_mode,external_ids",
    ];
    let per = [1, 1, 1, 1];
    let want = monitor_output(Kind::Real, &args, STEPS, &per);
    let got = monitor_output(Kind::Rvs, &args, STEPS, &per);
    assert!(got.contains("insert") && got.contains("delete"), "{got}");
    assert_eq!(got, want);
}
