//! Timing runs (not assertions): `cargo test -p ovsdb --release --test
//! engine_perf -- --ignored --nocapture`.

use std::time::Instant;

use ovsdb::{Database, TxnOutcome};
use serde_json::{Value, json};

fn run(db: &mut Database, ops: &[Value]) -> Value {
    match db.transact(ops, 0, &|_| false) {
        TxnOutcome::Done { results, commit } => {
            assert!(commit.is_some(), "{results}");
            results
        }
        TxnOutcome::Blocked { .. } => panic!("blocked"),
    }
}

fn setup() -> Database {
    let mut db = Database::new(ovsdb::vswitch_schema());
    run(
        &mut db,
        json!([{"op":"insert","table":"Open_vSwitch","row":{"bridges":["named-uuid","b"]}},
        {"op":"insert","table":"Bridge","uuid-name":"b","row":{"name":"br0"}}])
        .as_array()
        .unwrap(),
    );
    db
}

#[test]
#[ignore]
fn perf_thousand_ports_one_transaction() {
    let mut db = setup();
    let n = 1000;
    let mut ops = Vec::new();
    let mut ports = Vec::new();
    for i in 0..n {
        ops.push(json!({"op":"insert","table":"Interface","uuid-name":format!("i{i}"),"row":{"name":format!("p{i}")}}));
        ops.push(json!({"op":"insert","table":"Port","uuid-name":format!("p{i}"),"row":{"name":format!("p{i}"),"interfaces":["named-uuid",format!("i{i}")]}}));
        ports.push(json!(["named-uuid", format!("p{i}")]));
    }
    ops.push(json!({"op":"update","table":"Bridge","where":[["name","==","br0"]],"row":{"ports":["set",ports]}}));
    let t = Instant::now();
    run(&mut db, &ops);
    let el = t.elapsed();
    println!("1000 ports in one transaction: {:?}", el);
    assert_eq!(db.row_count("Port"), n);
}

#[test]
#[ignore]
fn perf_add_ports_one_by_one() {
    let mut db = setup();
    let n = 1000;
    let t = Instant::now();
    let mut engine = std::time::Duration::ZERO;
    let ports_ty = ovsdb::vswitch_schema().tables["Bridge"].columns["ports"]
        .ty
        .clone();
    for i in 0..n {
        let br = db.table_rows("Bridge").next().unwrap().clone();
        let ports = br.columns["ports"].to_json(&ports_ty);
        let ops = json!([
            {"op":"wait","table":"Bridge","where":[["_uuid","==",["uuid",br.uuid.to_string()]]],"columns":["ports"],"until":"==","rows":[{"ports":ports}],"timeout":0},
            {"op":"insert","table":"Interface","uuid-name":"i","row":{"name":format!("p{i}")}},
            {"op":"insert","table":"Port","uuid-name":"p","row":{"name":format!("p{i}"),"interfaces":["named-uuid","i"]}},
            {"op":"mutate","table":"Bridge","where":[["_uuid","==",["uuid",br.uuid.to_string()]]],"mutations":[["ports","insert",["set",[["named-uuid","p"]]]]]},
            {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["next_cfg","+=",1]]}
        ]);
        let t1 = Instant::now();
        run(&mut db, ops.as_array().unwrap());
        engine += t1.elapsed();
    }
    let el = t.elapsed();
    println!(
        "{n} add-port transactions: {:?} total, {:?} in the engine ({:.0} txn/s)",
        el,
        engine,
        n as f64 / engine.as_secs_f64()
    );
}

#[test]
#[ignore]
fn perf_small_transactions() {
    let mut db = setup();
    let n = 20000;
    let ops = json!([{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["next_cfg","+=",1]]}]);
    let t = Instant::now();
    for _ in 0..n {
        run(&mut db, ops.as_array().unwrap());
    }
    let el = t.elapsed();
    println!(
        "{n} small transactions: {:?} ({:.0} txn/s)",
        el,
        n as f64 / el.as_secs_f64()
    );
}

#[test]
#[ignore]
fn perf_durable_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut log = ovsdb::LogFile::create(&path, &ovsdb::vswitch_schema()).unwrap();
    let mut db = setup();
    let n = 2000;
    let ops = json!([{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["next_cfg","+=",1]]}]);
    let t = Instant::now();
    for i in 0..n {
        let TxnOutcome::Done { commit, .. } = db.transact(ops.as_array().unwrap(), i, &|_| false)
        else {
            panic!()
        };
        log.append(&commit.unwrap()).unwrap();
    }
    let el = t.elapsed();
    println!(
        "{n} transactions with fsync'd appends: {:?} ({:.0} txn/s)",
        el,
        n as f64 / el.as_secs_f64()
    );
    let t = Instant::now();
    drop(log);
    let (_l, replayed) = ovsdb::LogFile::open(&path).unwrap();
    println!("replay of {n} records: {:?}", t.elapsed());
    assert_eq!(
        replayed
            .table_rows("Open_vSwitch")
            .next()
            .unwrap()
            .get_i64("next_cfg"),
        Some(n)
    );
}
