//! Engine behaviour that the comparison with ovsdb-server does not cover:
//! commits and their change sets, blocking waits, locks, reserved
//! databases, no-op transactions, log records.

use std::path::Path;

use ovsdb::{Commit, Database, DatabaseSchema, TxnOutcome, TxnParams};
use serde_json::{Value, json};
use uuid::Uuid;

fn db() -> Database {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test.ovsschema");
    Database::new(DatabaseSchema::parse_text(&std::fs::read_to_string(p).unwrap()).unwrap())
}

fn run(db: &mut Database, ops: Value) -> (Value, Option<Commit>) {
    match db.transact(ops.as_array().unwrap(), 1000, &|_| false) {
        TxnOutcome::Done { results, commit } => (results, commit),
        TxnOutcome::Blocked { until_ms } => panic!("blocked until {until_ms}"),
    }
}

fn uuid_of(v: &Value) -> Uuid {
    Uuid::parse_str(v["uuid"][1].as_str().unwrap()).unwrap()
}

fn seed(db: &mut Database) -> (Uuid, Uuid) {
    let (r, c) = run(
        db,
        json!([
            {"op":"insert","table":"Leaf","uuid-name":"l","row":{"n":1,"k":"a"}},
            {"op":"insert","table":"Root","row":{"name":"r","weak1":["named-uuid","l"],"kids":["named-uuid","c"],"eph":["map",[["a","b"]]]}},
            {"op":"insert","table":"Child","uuid-name":"c","row":{"name":"c","grand":["named-uuid","g"]}},
            {"op":"insert","table":"Grand","uuid-name":"g","row":{"n":3}}
        ]),
    );
    assert!(c.is_some(), "{r}");
    (uuid_of(&r[1]), uuid_of(&r[2]))
}

#[test]
fn insert_commit_lists_every_row_and_references_resolve() {
    let mut d = db();
    let (r, c) = run(
        &mut d,
        json!([
            {"op":"insert","table":"Leaf","uuid-name":"l","row":{"n":1,"k":"a"}},
            {"op":"insert","table":"Root","row":{"name":"r","weak1":["named-uuid","l"],"kids":["named-uuid","c"]}},
            {"op":"insert","table":"Child","uuid-name":"c","row":{"name":"c"}},
            {"op":"comment","comment":"one"},
            {"op":"comment","comment":"two"},
            {"op":"commit","durable":true}
        ]),
    );
    let c = c.expect("commit");
    assert_eq!(r.as_array().unwrap().len(), 6);
    assert_eq!(r[3], json!({}));
    assert_eq!(r[5], json!({}));
    assert!(c.durable);
    assert_eq!(c.comment.as_deref(), Some("one\ntwo"));
    assert_eq!(c.date_ms, 1000);
    assert_eq!(d.txn_id(), c.txn_id);
    assert_eq!(c.changes.len(), 3);
    let child = uuid_of(&r[2]);
    let root = uuid_of(&r[1]);
    let rc = &c.changes["Root"][&root];
    assert!(rc.old.is_none());
    let new = rc.new.as_ref().unwrap();
    assert_eq!(new.columns["kids"].as_set()[0].as_uuid(), Some(child));
    assert_eq!(d.ref_count("Child", &child), 1);
    assert_eq!(c.log_record["_comment"], "one\ntwo");
    assert_eq!(c.log_record["_date"], 1000);
    assert_eq!(
        c.log_record["Child"][child.to_string()],
        json!({"name":"c"})
    );
}

#[test]
fn noop_transactions_make_no_commit() {
    let mut d = db();
    let (root, _) = seed(&mut d);
    let before = d.txn_id();
    for ops in [
        json!([]),
        json!([{"op":"select","table":"Root","where":[]}]),
        json!([{"op":"update","table":"Root","where":[],"row":{"name":"r"}}]),
        json!([{"op":"mutate","table":"Root","where":[],"mutations":[["tags","delete","nothing"]]}]),
        json!([{"op":"comment","comment":"only a comment"}]),
        json!([{"op":"insert","table":"Single","row":{"x":1}},{"op":"delete","table":"Single","where":[]}]),
        json!([{"op":"insert","table":"Child","row":{"name":"orphan"}}]),
    ] {
        let (r, c) = run(&mut d, ops.clone());
        assert!(c.is_none(), "{ops} -> {r}");
        assert!(
            r.as_array()
                .unwrap()
                .iter()
                .all(|x| x.get("error").is_none()),
            "{r}"
        );
    }
    assert_eq!(d.txn_id(), before);
    assert_eq!(d.row_count("Child"), 1);
    assert!(d.get_row("Root", &root).is_some());
}

#[test]
fn garbage_collection_is_reported_in_changes() {
    let mut d = db();
    let (root, child) = seed(&mut d);
    let (_, c) = run(
        &mut d,
        json!([{"op":"update","table":"Root","where":[],"row":{"kids":["set",[]]}}]),
    );
    let c = c.unwrap();
    assert!(c.changes["Root"][&root].old.is_some() && c.changes["Root"][&root].new.is_some());
    assert!(c.changes["Child"][&child].new.is_none());
    assert_eq!(c.changes["Grand"].len(), 1, "transitive GC");
    assert_eq!(d.row_count("Child"), 0);
    assert_eq!(d.row_count("Grand"), 0);
    assert_eq!(c.log_record["Child"][child.to_string()], Value::Null);
}

#[test]
fn weak_reference_cleanup_is_a_change() {
    let mut d = db();
    let (root, _) = seed(&mut d);
    run(
        &mut d,
        json!([{"op":"insert","table":"Leaf","uuid-name":"m","row":{"n":2,"k":"b"}},
        {"op":"update","table":"Root","where":[],"row":{"weak1":["set",[["named-uuid","m"]]],"weak":["named-uuid","m"]}}]),
    );
    let (_, c) = run(
        &mut d,
        json!([{"op":"delete","table":"Leaf","where":[["n","==",1]]}]),
    );
    assert!(
        !c.unwrap().changes.contains_key("Root"),
        "Root no longer pointed at leaf 1"
    );
    let leaf = d.table_rows("Leaf").next().unwrap().uuid.to_string();
    let (r, c) = run(
        &mut d,
        json!([{"op":"update","table":"Root","where":[],"row":{"weak1":["set",[["uuid", Uuid::nil().to_string()], ["uuid", leaf]]]}}]),
    );
    assert!(
        c.is_none(),
        "{r}: the nil reference is dropped and the rest is unchanged"
    );
    let (_, c) = run(
        &mut d,
        json!([{"op":"insert","table":"Leaf","row":{"n":9,"k":"z"}},
        {"op":"mutate","table":"Root","where":[],"mutations":[["weak1","insert",["set",[["uuid","00000000-0000-4000-8000-000000000077"]]]]]}]),
    );
    let c = c.unwrap();
    assert!(
        !c.changes.contains_key("Root"),
        "a reference to a missing row vanished at commit"
    );
    let (r, c) = run(
        &mut d,
        json!([{"op":"delete","table":"Leaf","where":[["n","==",2]]}]),
    );
    assert!(c.is_none());
    assert_eq!(r[1]["error"], "constraint violation", "{r}");
    let _ = root;
}

#[test]
fn ephemeral_only_changes_commit_without_log_record() {
    let mut d = db();
    seed(&mut d);
    let (_, c) = run(
        &mut d,
        json!([{"op":"update","table":"Root","where":[],"row":{"eph":["map",[["a","c"]]]}}]),
    );
    let c = c.expect("monitors still see the change");
    assert_eq!(c.log_record, Value::Null);
}

#[test]
fn log_record_of_modify_has_only_changed_columns() {
    let mut d = db();
    let (root, _) = seed(&mut d);
    let (_, c) = run(
        &mut d,
        json!([{"op":"mutate","table":"Root","where":[],"mutations":[["i","+=",2],["tags","insert","t"]]}]),
    );
    let rec = &c.unwrap().log_record["Root"][root.to_string()];
    assert_eq!(rec, &json!({"i":2,"tags":"t"}));
}

#[test]
fn version_changes_on_modify_only() {
    let mut d = db();
    let (root, _) = seed(&mut d);
    let v0 = d.get_row("Root", &root).unwrap().version;
    run(
        &mut d,
        json!([{"op":"update","table":"Root","where":[],"row":{"name":"r"}}]),
    );
    assert_eq!(d.get_row("Root", &root).unwrap().version, v0);
    run(
        &mut d,
        json!([{"op":"update","table":"Root","where":[],"row":{"name":"s"}}]),
    );
    let v1 = d.get_row("Root", &root).unwrap().version;
    assert_ne!(v1, v0);
    let (r, _) = run(
        &mut d,
        json!([{"op":"select","table":"Root","where":[["_version","==",["uuid",v1.to_string()]]],"columns":["name","_version"]}]),
    );
    assert_eq!(r[0]["rows"][0]["_version"], json!(["uuid", v1.to_string()]));
}

#[test]
fn wait_blocks_until_satisfied_or_timeout() {
    let mut d = db();
    let ops = json!([{"op":"wait","table":"Single","where":[],"columns":["x"],"until":"==","rows":[{"x":5}],"timeout":500},
                     {"op":"insert","table":"Single","row":{"x":6}}]);
    let ops = ops.as_array().unwrap();
    let locks = |_: &str| false;
    let p = |now| TxnParams {
        now_ms: now,
        started_ms: 1000,
        locks: &locks,
        internal: false,
        read_only: false,
    };
    match d.transact_with(ops, &p(1000)) {
        TxnOutcome::Blocked { until_ms } => assert_eq!(until_ms, 1500),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.row_count("Single"), 0, "nothing applied while blocked");
    match d.transact_with(ops, &p(1600)) {
        TxnOutcome::Done { results, commit } => {
            assert!(commit.is_none());
            assert_eq!(
                results[0],
                json!({"error":"timed out","details":"\"wait\" timed out after 600 ms"})
            );
            assert_eq!(results[1], Value::Null);
        }
        other => panic!("{other:?}"),
    }
    run(
        &mut d,
        json!([{"op":"insert","table":"Single","row":{"x":5}}]),
    );
    match d.transact_with(ops, &p(1200)) {
        TxnOutcome::Done { commit, .. } => assert!(commit.is_some()),
        other => panic!("{other:?}"),
    }
    // Without a timeout the wait blocks forever.
    let ops =
        json!([{"op":"wait","table":"Single","where":[],"until":"!=","rows":[],"columns":[]}]);
    let ops2 =
        json!([{"op":"wait","table":"Single","where":[["x","==",99]],"until":"!=","rows":[]}]);
    match d.transact(ops2.as_array().unwrap(), 0, &locks) {
        TxnOutcome::Blocked { until_ms } => assert_eq!(until_ms, i64::MAX),
        other => panic!("{other:?}"),
    }
    let _ = ops;
}

#[test]
fn assert_checks_lock_ownership() {
    let mut d = db();
    let ops = json!([{"op":"assert","lock":"mine"},{"op":"insert","table":"Single","row":{"x":1}}]);
    let held = |l: &str| l == "mine";
    match d.transact(ops.as_array().unwrap(), 0, &held) {
        TxnOutcome::Done { results, commit } => {
            assert_eq!(results[0], json!({}));
            assert!(commit.is_some());
        }
        other => panic!("{other:?}"),
    }
    let (r, c) = run(&mut d, ops);
    assert!(c.is_none());
    assert_eq!(
        r[0],
        json!({"error":"not owner","details":"Asserted lock mine not held."})
    );
}

#[test]
fn reserved_database_rejects_writes_unless_internal() {
    let schema = DatabaseSchema::from_json(&json!({"name":"_Server","version":"1.0.0","tables":{"Database":{"columns":{"name":{"type":"string"}},"isRoot":true}}})).unwrap();
    let mut d = Database::new(schema);
    let ins = json!([{"op":"insert","table":"Database","row":{"name":"x"}}]);
    let (r, c) = run(&mut d, ins.clone());
    assert!(c.is_none());
    assert_eq!(r[0]["error"], "not allowed");
    assert_eq!(
        r[0]["details"],
        "insert operation not allowed on table in reserved database _Server"
    );
    let (r, _) = run(
        &mut d,
        json!([{"op":"select","table":"Database","where":[]}]),
    );
    assert_eq!(r[0], json!({"rows":[]}));
    let locks = |_: &str| false;
    let p = TxnParams {
        now_ms: 0,
        started_ms: 0,
        locks: &locks,
        internal: true,
        read_only: false,
    };
    let TxnOutcome::Done { commit, .. } = d.transact_with(ins.as_array().unwrap(), &p) else {
        panic!()
    };
    assert!(commit.is_some());
    assert_eq!(d.row_count("Database"), 1);
}

#[test]
fn read_only_rejects_writes() {
    let mut d = db();
    let locks = |_: &str| false;
    let p = TxnParams {
        now_ms: 0,
        started_ms: 0,
        locks: &locks,
        internal: false,
        read_only: true,
    };
    let ops = json!([{"op":"select","table":"Single","where":[]},{"op":"insert","table":"Single","row":{"x":1}}]);
    let TxnOutcome::Done { results, commit } = d.transact_with(ops.as_array().unwrap(), &p) else {
        panic!()
    };
    assert!(commit.is_none());
    assert_eq!(results[1]["error"], "not allowed");
}

#[test]
fn select_sorts_and_deduplicates() {
    let mut d = db();
    run(
        &mut d,
        json!([{"op":"insert","table":"Single","row":{"x":3}},{"op":"insert","table":"Single","row":{"x":1}}]),
    );
    let (r, _) = run(
        &mut d,
        json!([{"op":"select","table":"Single","where":[],"columns":["x"],"sort":["x"]}]),
    );
    assert_eq!(r[0]["rows"], json!([{"x":1},{"x":3}]));
    run(
        &mut d,
        json!([{"op":"update","table":"Single","where":[],"row":{"x":2}}]),
    );
    let (r, _) = run(
        &mut d,
        json!([{"op":"select","table":"Single","where":[],"columns":["x"]}]),
    );
    assert_eq!(
        r[0]["rows"],
        json!([{"x":2}]),
        "identical projections collapse like OVS"
    );
    let (r, _) = run(
        &mut d,
        json!([{"op":"select","table":"Single","where":[],"columns":["x","_uuid"]}]),
    );
    assert_eq!(r[0]["rows"].as_array().unwrap().len(), 2);
    let (r, _) = run(&mut d, json!([{"op":"select","table":"Single","where":[]}]));
    let row = &r[0]["rows"][0];
    assert!(row.get("_uuid").is_some() && row.get("_version").is_some() && row.get("x").is_some());
}

#[test]
fn failed_transaction_leaves_database_unchanged() {
    let mut d = db();
    let (root, _) = seed(&mut d);
    let snapshot: Vec<_> = d.table_rows("Root").map(|r| (**r).clone()).collect();
    let (r, c) = run(
        &mut d,
        json!([
            {"op":"update","table":"Root","where":[],"row":{"name":"changed"}},
            {"op":"insert","table":"Single","row":{"x":1}},
            {"op":"delete","table":"Child","where":[]}
        ]),
    );
    assert!(c.is_none());
    assert_eq!(r.as_array().unwrap().len(), 4, "commit error appended: {r}");
    assert_eq!(r[3]["error"], "referential integrity violation");
    assert_eq!(
        d.table_rows("Root")
            .map(|r| (**r).clone())
            .collect::<Vec<_>>(),
        snapshot
    );
    assert_eq!(d.row_count("Single"), 0);
    assert!(d.get_row("Root", &root).is_some());
}

#[test]
fn explicit_uuid_insert_and_named_uuid_binding() {
    let mut d = db();
    let u = "12345678-1234-4234-8234-123456789abc";
    let (r, c) = run(
        &mut d,
        json!([
            {"op":"insert","table":"Leaf","uuid":u,"uuid-name":"l","row":{"n":1,"k":"a"}},
            {"op":"insert","table":"Root","row":{"name":"r","weak1":["named-uuid","l"]}}
        ]),
    );
    assert!(c.is_some(), "{r}");
    assert_eq!(r[0]["uuid"][1], u);
    let root = uuid_of(&r[1]);
    assert_eq!(
        d.get_row("Root", &root).unwrap().columns["weak1"].as_set()[0].as_uuid(),
        Some(Uuid::parse_str(u).unwrap())
    );
}

#[test]
fn unknown_named_uuid_in_weak_reference_is_dropped_or_rejected() {
    let mut d = db();
    // weak1 has min 1, so a dangling named-uuid makes the column empty.
    let (r, c) = run(
        &mut d,
        json!([{"op":"insert","table":"Root","row":{"name":"r","weak1":["named-uuid","ghost"]}}]),
    );
    assert!(c.is_none());
    assert_eq!(r[1]["error"], "constraint violation");
}

#[test]
fn untrusted_sizes_do_not_allocate() {
    // A schema may say max 4294967294; parsing is driven by the data only.
    let schema = DatabaseSchema::from_json(&json!({"name":"B","tables":{"T":{"columns":{
        "s":{"type":{"key":"integer","min":0,"max":4294967294u64}}}}}}))
    .unwrap();
    let mut d = Database::new(schema);
    let (r, c) = run(
        &mut d,
        json!([{"op":"insert","table":"T","row":{"s":["set",[1,2,3]]}}]),
    );
    assert!(c.is_some(), "{r}");
    let (r, _) = run(
        &mut d,
        json!([{"op":"mutate","table":"T","where":[],"mutations":[["s","*=",9223372036854775807i64]]}]),
    );
    assert_eq!(r[0]["error"], "range error");
}
