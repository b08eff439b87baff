//! Our database files and real `ovsdb-tool`'s are interchangeable.

use std::path::Path;
use std::process::Command;

use ovsdb::log::LogFile;
use ovsdb::{Database, DatabaseSchema, TxnOutcome};
use serde_json::{Value, json};

fn have_tool() -> bool {
    if Command::new("ovsdb-tool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() == Ok("1") {
        println!("skipped: ovsdb-tool not installed");
        return false;
    }
    panic!("ovsdb-tool is required (apt install openvswitch-common)");
}

fn schema_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test.ovsschema")
}

fn tool(args: &[&str]) -> String {
    let out = Command::new("ovsdb-tool")
        .args(args)
        .output()
        .expect("run ovsdb-tool");
    assert!(
        out.status.success(),
        "ovsdb-tool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn query_rows(file: &Path, table: &str, columns: &[&str]) -> Vec<Value> {
    let q = json!(["Test", {"op":"select","table":table,"where":[],"columns":columns}]);
    let out = tool(&["query", file.to_str().unwrap(), &q.to_string()]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let mut rows = v[0]["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|r| r.to_string());
    rows
}

fn our_rows(db: &mut Database, table: &str, columns: &[&str]) -> Vec<Value> {
    let ops = vec![json!({"op":"select","table":table,"where":[],"columns":columns})];
    let TxnOutcome::Done { results, .. } = db.transact(&ops, 0, &|_| false) else {
        panic!()
    };
    let mut rows = results[0]["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|r| r.to_string());
    rows
}

const ROOT_COLS: &[&str] = &[
    "_uuid", "name", "i", "r", "b", "tags", "ints", "m", "kids", "weak", "weak1", "kidmap", "color",
];

#[test]
fn ovsdb_tool_reads_our_file() {
    if !have_tool() {
        return;
    }
    let schema =
        DatabaseSchema::parse_text(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.db");
    let mut log = LogFile::create(&path, &schema).unwrap();
    let mut db = Database::new(schema);
    let txns = [
        json!([{"op":"insert","table":"Leaf","uuid-name":"l","row":{"n":1,"k":"a"}},
               {"op":"insert","table":"Root","row":{"name":"r","weak1":["named-uuid","l"],"kids":["named-uuid","c"],
                 "tags":["set",["p","q"]],"m":["map",[["k",5]]],"r":0.5,"b":true,"color":"red"}},
               {"op":"insert","table":"Child","uuid-name":"c","row":{"name":"c"}},
               {"op":"comment","comment":"made by rvs"}]),
        json!([{"op":"mutate","table":"Root","where":[],"mutations":[["ints","insert",["set",[3,1,2]]],["i","+=",41]]}]),
        json!([{"op":"update","table":"Root","where":[],"row":{"tags":"z"}}]),
        json!([{"op":"update","table":"Root","where":[],"row":{"m":["map",[["k",6],["n",1]]]}}]),
        json!([{"op":"mutate","table":"Root","where":[],"mutations":[["m","delete",["set",["k"]]],["m","insert",["map",[["o",2]]]]]}]),
        json!([{"op":"insert","table":"Single","row":{"x":1}}, {"op":"insert","table":"Single","row":{"x":2}}]),
        json!([{"op":"delete","table":"Single","where":[["x","==",1]]}]),
    ];
    for (i, t) in txns.iter().enumerate() {
        let TxnOutcome::Done { commit, results } =
            db.transact(t.as_array().unwrap(), 1_700_000_000_000 + i as i64, &|_| {
                false
            })
        else {
            panic!()
        };
        log.append(&commit.unwrap_or_else(|| panic!("txn {i} committed nothing: {results}")))
            .unwrap();
    }
    drop(log);
    let shown = tool(&["show-log", path.to_str().unwrap()]);
    assert!(
        shown.contains("record 0: \"Test\" schema, version=\"1.2.3\""),
        "{shown}"
    );
    assert!(shown.contains("\"made by rvs\""), "{shown}");
    assert!(shown.contains("record 7:"), "{shown}");
    let detailed = tool(&["-mm", "show-log", path.to_str().unwrap()]);
    assert!(detailed.contains("Root"), "{detailed}");
    for (table, cols) in [
        ("Root", ROOT_COLS),
        ("Leaf", &["_uuid", "n", "k"][..]),
        ("Child", &["_uuid", "name"]),
        ("Single", &["_uuid", "x"]),
    ] {
        assert_eq!(
            query_rows(&path, table, cols),
            our_rows(&mut db, table, cols),
            "table {table}"
        );
    }
    assert_eq!(tool(&["db-name", path.to_str().unwrap()]).trim(), "Test");
    assert_eq!(
        tool(&["db-version", path.to_str().unwrap()]).trim(),
        "1.2.3"
    );
}

#[test]
fn we_read_ovsdb_tool_file() {
    if !have_tool() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.db");
    let p = path.to_str().unwrap();
    tool(&["create", p, schema_path().to_str().unwrap()]);
    let txns = [
        json!(["Test", {"op":"insert","table":"Leaf","uuid-name":"l","row":{"n":1,"k":"a"}},
               {"op":"insert","table":"Leaf","row":{"n":2,"k":"b"}},
               {"op":"insert","table":"Root","row":{"name":"r","weak1":["named-uuid","l"],"kids":["named-uuid","c"],
                 "tags":["set",["p","q"]],"m":["map",[["k",5],["j",6]]],"r":0.5,"b":true}},
               {"op":"insert","table":"Child","uuid-name":"c","row":{"name":"c"}}]),
        json!(["Test", {"op":"mutate","table":"Root","where":[],"mutations":[["tags","insert","z"],["tags","delete","p"],
               ["m","insert",["map",[["n",1]]]],["m","delete",["set",["j"]]],["i","+=",3]]}]),
        json!(["Test", {"op":"update","table":"Root","where":[],"row":{"m":["map",[["k",7],["n",1]]],"kids":["set",[]]}}]),
        json!(["Test", {"op":"delete","table":"Leaf","where":[["n","==",2]]}, {"op":"comment","comment":"c"}]),
        json!(["Test", {"op":"insert","table":"Single","row":{"x":5}}]),
    ];
    for t in &txns {
        tool(&["transact", p, &t.to_string()]);
    }
    let (_log, mut db) = LogFile::open(&path).unwrap();
    for (table, cols) in [
        ("Root", ROOT_COLS),
        ("Leaf", &["_uuid", "n", "k"][..]),
        ("Child", &["_uuid", "name"]),
        ("Single", &["_uuid", "x"]),
    ] {
        assert_eq!(
            our_rows(&mut db, table, cols),
            query_rows(&path, table, cols),
            "table {table}"
        );
    }
    assert_eq!(db.row_count("Child"), 0);
}

#[test]
fn ovsdb_tool_compacts_our_file_and_we_read_it_back() {
    if !have_tool() {
        return;
    }
    let schema =
        DatabaseSchema::parse_text(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut log = LogFile::create(&path, &schema).unwrap();
    let mut db = Database::new(schema);
    for i in 0..5 {
        let t = json!([{"op":"insert","table":"Leaf","row":{"n":i,"k":"k"}}]);
        let TxnOutcome::Done { commit, .. } = db.transact(t.as_array().unwrap(), i, &|_| false)
        else {
            panic!()
        };
        log.append(&commit.unwrap()).unwrap();
    }
    log.compact(&db).unwrap();
    drop(log);
    // Our compacted file is readable by ovsdb-tool, and its compaction by us.
    assert_eq!(
        query_rows(&path, "Leaf", &["_uuid", "n", "k"]),
        our_rows(&mut db, "Leaf", &["_uuid", "n", "k"])
    );
    tool(&["compact", path.to_str().unwrap()]);
    let (_l, mut db2) = LogFile::open(&path).unwrap();
    assert_eq!(
        our_rows(&mut db2, "Leaf", &["_uuid", "n", "k"]),
        our_rows(&mut db, "Leaf", &["_uuid", "n", "k"])
    );
}

/// A database written by a real ovsdb-server driven by ovs-vsctl replays
/// to the same content that `ovsdb-tool query` reports.
#[test]
fn we_read_a_file_written_by_ovsdb_server() {
    if !have_tool() {
        return;
    }
    let have = |p: &str| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("ovsdb-server") || !have("ovs-vsctl") {
        if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() == Ok("1") {
            println!("skipped: ovsdb-server/ovs-vsctl not installed");
            return;
        }
        panic!("ovsdb-server and ovs-vsctl are required");
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("conf.db");
    tool(&[
        "create",
        db.to_str().unwrap(),
        "/usr/share/openvswitch/vswitch.ovsschema",
    ]);
    let sock = d.join("db.sock");
    let pidfile = d.join("pid");
    struct Kill(std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            if let Ok(p) = std::fs::read_to_string(&self.0) {
                let _ = Command::new("kill").arg(p.trim()).status();
            }
        }
    }
    let st = Command::new("ovsdb-server")
        .arg(&db)
        .arg(format!("--remote=punix:{}", sock.display()))
        .arg(format!("--pidfile={}", pidfile.display()))
        .arg(format!("--unixctl={}", d.join("ctl").display()))
        .arg(format!("--log-file={}", d.join("log").display()))
        .args(["--detach", "--no-chdir"])
        .env("OVS_RUNDIR", d)
        .env("OVS_LOGDIR", d)
        .env("OVS_DBDIR", d)
        .status()
        .unwrap();
    assert!(st.success());
    let guard = Kill(pidfile.clone());
    let vsctl = |args: &[&str]| {
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db=unix:{}", sock.display()))
            .arg("--no-wait")
            .arg("--timeout=10")
            .args(args)
            .env("OVS_RUNDIR", d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ovs-vsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    vsctl(&["init"]);
    vsctl(&["add-br", "br0"]);
    for p in ["p1", "p2", "p3"] {
        vsctl(&["add-port", "br0", p]);
    }
    vsctl(&["set", "Port", "p1", "tag=5", "other_config:a=b"]);
    vsctl(&["set-controller", "br0", "tcp:127.0.0.1:6653"]);
    vsctl(&["set-fail-mode", "br0", "secure"]);
    vsctl(&["del-port", "br0", "p2"]);
    vsctl(&["add-br", "br1"]);
    vsctl(&["del-br", "br1"]);
    drop(guard);
    // Wait for the server to exit (pidfile removed) so the file is final.
    for _ in 0..100 {
        if !pidfile.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (_log, mut ours) = LogFile::open(&db).unwrap();
    let q = |table: &str, cols: &[&str]| -> Vec<Value> {
        let q = json!(["Open_vSwitch", {"op":"select","table":table,"where":[],"columns":cols}]);
        let out = tool(&["query", db.to_str().unwrap(), &q.to_string()]);
        let v: Value = serde_json::from_str(&out).unwrap();
        let mut rows = v[0]["rows"].as_array().unwrap().clone();
        rows.sort_by_key(|r| r.to_string());
        rows
    };
    let ours_q = |db: &mut Database, table: &str, cols: &[&str]| -> Vec<Value> {
        let ops = vec![json!({"op":"select","table":table,"where":[],"columns":cols})];
        let TxnOutcome::Done { results, .. } = db.transact(&ops, 0, &|_| false) else {
            panic!()
        };
        let mut rows = results[0]["rows"].as_array().unwrap().clone();
        rows.sort_by_key(|r| r.to_string());
        rows
    };
    let schema = ovsdb::vswitch_schema();
    for (t, ts) in &schema.tables {
        let cols: Vec<&str> = std::iter::once("_uuid")
            .chain(
                ts.columns
                    .values()
                    .filter(|c| !c.ephemeral)
                    .map(|c| c.name.as_str()),
            )
            .collect();
        assert_eq!(ours_q(&mut ours, t, &cols), q(t, &cols), "table {t}");
    }
    assert_eq!(ours.row_count("Port"), 3);
    assert_eq!(ours.row_count("Bridge"), 1);
}
