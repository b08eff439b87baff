//! On-disk log: replay equals live state, torn tails recover every complete
//! record, compaction keeps the data.

use std::path::Path;

use ovsdb::log::{LogFile, encode_record, scan_records};
use ovsdb::{Database, DatabaseSchema, TxnOutcome};
use serde_json::{Value, json};

fn test_schema() -> DatabaseSchema {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test.ovsschema");
    DatabaseSchema::parse_text(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Every row of every table as comparable JSON (without `_version`).
fn dump(db: &Database) -> Value {
    let mut out = serde_json::Map::new();
    for (t, ts) in &db.schema().tables {
        let cols: Vec<String> = std::iter::once("_uuid".to_string())
            .chain(
                ts.columns
                    .keys()
                    .filter(|c| !ts.columns[*c].ephemeral)
                    .cloned(),
            )
            .collect();
        let rows: Vec<Value> = db
            .table_rows(t)
            .map(|r| r.to_json(ts, Some(&cols)))
            .collect();
        out.insert(t.clone(), Value::Array(rows));
    }
    Value::Object(out)
}

fn commit(db: &mut Database, log: &mut LogFile, ops: Value, now: i64) -> Value {
    let ops = ops.as_array().unwrap().clone();
    match db.transact(&ops, now, &|_| false) {
        TxnOutcome::Done { results, commit } => {
            if let Some(c) = commit {
                log.append(&c).unwrap();
            }
            results
        }
        TxnOutcome::Blocked { .. } => panic!("blocked"),
    }
}

fn workload(db: &mut Database, log: &mut LogFile) {
    commit(
        db,
        log,
        json!([
            {"op":"insert","table":"Leaf","uuid-name":"l1","row":{"n":1,"k":"a"}},
            {"op":"insert","table":"Leaf","uuid-name":"l2","row":{"n":2,"k":"b"}},
            {"op":"insert","table":"Root","row":{"name":"r1","weak1":["named-uuid","l1"],"weak":["set",[["named-uuid","l1"],["named-uuid","l2"]]],
              "kids":["named-uuid","c"],"m":["map",[["a",1]]],"tags":["set",["x","y"]],"r":2.5,"eph":["map",[["e","1"]]]}},
            {"op":"insert","table":"Child","uuid-name":"c","row":{"name":"c","grand":["named-uuid","g"]}},
            {"op":"insert","table":"Grand","uuid-name":"g","row":{"n":9}},
            {"op":"comment","comment":"first"}
        ]),
        1000,
    );
    for i in 0..20 {
        commit(
            db,
            log,
            json!([{"op":"mutate","table":"Root","where":[],"mutations":[["i","+=",1],["ints","insert",i]]}]),
            2000 + i,
        );
    }
    commit(
        db,
        log,
        json!([{"op":"mutate","table":"Root","where":[],"mutations":[["tags","delete","x"],["m","insert",["map",[["b",2]]]]]}]),
        3000,
    );
    // Ephemeral-only change: no log record.
    commit(
        db,
        log,
        json!([{"op":"update","table":"Root","where":[],"row":{"eph":["map",[["e","2"]]]}}]),
        3001,
    );
    // Weak reference cleanup and garbage collection.
    commit(
        db,
        log,
        json!([{"op":"delete","table":"Leaf","where":[["n","==",2]]}]),
        4000,
    );
    commit(
        db,
        log,
        json!([{"op":"update","table":"Root","where":[],"row":{"kids":["set",[]]}}]),
        5000,
    );
    commit(
        db,
        log,
        json!([{"op":"insert","table":"Single","row":{"x":1}}]),
        6000,
    );
}

#[test]
fn replay_equals_live_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut log = LogFile::create(&path, &test_schema()).unwrap();
    let mut db = Database::new(test_schema());
    workload(&mut db, &mut log);
    assert_eq!(db.row_count("Child"), 0, "garbage collected");
    assert_eq!(db.row_count("Grand"), 0, "garbage collected transitively");
    drop(log);
    let (_log, replayed) = LogFile::open(&path).unwrap();
    assert_eq!(dump(&replayed), dump(&db));
}

#[test]
fn torn_tail_at_every_offset_keeps_complete_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut log = LogFile::create(&path, &test_schema()).unwrap();
    let mut db = Database::new(test_schema());
    workload(&mut db, &mut log);
    drop(log);
    let full = std::fs::read(&path).unwrap();
    let scan = scan_records(&full);
    assert!(scan.error.is_none());
    let n = scan.records.len();
    // Offset where the last record starts.
    let last_len = encode_record(&scan.records[n - 1]).len();
    let last_start = full.len() - last_len;
    // The state before the last record.
    let before = {
        let mut d = Database::new(test_schema());
        for r in &scan.records[1..n - 1] {
            d.apply_log_record(r).unwrap();
        }
        dump(&d)
    };
    let torn = dir.path().join("torn");
    for cut in last_start..full.len() {
        std::fs::write(&torn, &full[..cut]).unwrap();
        let (mut log2, db2) = LogFile::open(&torn).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(dump(&db2), before, "cut at {cut}");
        assert_eq!(
            std::fs::metadata(&torn).unwrap().len(),
            last_start as u64,
            "truncated at {cut}"
        );
        // Appending after recovery produces a valid file.
        log2.append_record(&scan.records[n - 1]).unwrap();
        drop(log2);
        let (_l, db3) = LogFile::open(&torn).unwrap();
        assert_eq!(dump(&db3), dump(&db));
    }
    // A flipped byte in the last record's body is a checksum failure.
    let mut bad = full.clone();
    let i = full.len() - 3;
    bad[i] ^= 0x20;
    std::fs::write(&torn, &bad).unwrap();
    let (_l, db4) = LogFile::open(&torn).unwrap();
    assert_eq!(dump(&db4), before);
}

#[test]
fn corrupt_schema_record_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::fs::write(
        &path,
        b"OVSDB JSON 5 0000000000000000000000000000000000000000\n{}\n\n",
    )
    .unwrap();
    assert!(LogFile::open(&path).is_err());
    std::fs::write(&path, b"").unwrap();
    assert!(LogFile::open(&path).is_err());
    std::fs::write(&path, encode_record(&json!({"name":"x"}))).unwrap();
    let e = LogFile::open(&path).unwrap_err();
    assert_eq!(e.error, "syntax error");
}

#[test]
fn create_refuses_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    LogFile::create(&path, &test_schema()).unwrap();
    assert!(LogFile::create(&path, &test_schema()).is_err());
}

#[test]
fn compaction_keeps_data_and_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut log = LogFile::create(&path, &test_schema()).unwrap();
    let mut db = Database::new(test_schema());
    workload(&mut db, &mut log);
    let before = log.size();
    log.compact(&db).unwrap();
    assert!(log.size() < before);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), log.size());
    // Keep appending after compaction.
    commit(
        &mut db,
        &mut log,
        json!([{"op":"insert","table":"Single","row":{"x":2}}]),
        7000,
    );
    drop(log);
    let recs = scan_records(&std::fs::read(&path).unwrap());
    assert_eq!(recs.records.len(), 3, "schema, snapshot, one transaction");
    let (_l, replayed) = LogFile::open(&path).unwrap();
    assert_eq!(dump(&replayed), dump(&db));
}

#[test]
fn should_compact_after_growth() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut log = LogFile::create(&path, &test_schema()).unwrap();
    assert!(!log.should_compact());
    let big = "x".repeat(1 << 20);
    for _ in 0..11 {
        log.append_record(&json!({"_comment": big, "_date": 1}))
            .unwrap();
    }
    assert!(log.should_compact());
}

#[test]
fn group_commit_writes_then_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut log = LogFile::create(&path, &test_schema()).unwrap();
    let mut db = Database::new(test_schema());
    for x in 0..10 {
        let ops = json!([{"op":"insert","table":"Leaf","row":{"n":x,"k":"g"}}]);
        let TxnOutcome::Done { commit, .. } = db.transact(ops.as_array().unwrap(), x, &|_| false)
        else {
            panic!()
        };
        log.write(&commit.unwrap()).unwrap();
    }
    log.sync().unwrap();
    drop(log);
    let (_l, replayed) = LogFile::open(&path).unwrap();
    assert_eq!(dump(&replayed), dump(&db));
}
