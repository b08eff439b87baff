//! Property test: random transaction sequences keep the database's
//! invariants (no dangling strong or weak references, exact reference
//! counts, no unreferenced non-root rows, unique indexes, maxRows, column
//! sizes), failed transactions change nothing, and replaying the commits'
//! log records rebuilds the same state.

use std::collections::HashSet;
use std::path::Path;

use ovsdb::{Database, DatabaseSchema, TxnOutcome};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

fn schema() -> DatabaseSchema {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test.ovsschema");
    DatabaseSchema::parse_text(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn uuids(db: &Database, t: &str) -> Vec<Uuid> {
    db.table_rows(t).map(|r| r.uuid).collect()
}

fn pick_ref(rng: &mut StdRng, existing: &[Uuid], named: &[&str]) -> Value {
    match rng.gen_range(0..10) {
        0 => json!(["uuid", Uuid::new_v4().to_string()]),
        1..=3 if !named.is_empty() => json!(["named-uuid", named[rng.gen_range(0..named.len())]]),
        _ if !existing.is_empty() => json!([
            "uuid",
            existing[rng.gen_range(0..existing.len())].to_string()
        ]),
        _ => json!(["uuid", Uuid::new_v4().to_string()]),
    }
}

fn gen_txn(rng: &mut StdRng, db: &Database) -> Vec<Value> {
    let leaves = uuids(db, "Leaf");
    let kids = uuids(db, "Child");
    let grands = uuids(db, "Grand");
    let names = ["a", "b", "c", "d"];
    let mut ops = Vec::new();
    let mut named_leaf = Vec::new();
    let mut named_child = Vec::new();
    let mut named_grand = Vec::new();
    let n_ops = rng.gen_range(1..5);
    for i in 0..n_ops {
        let op = match rng.gen_range(0..13) {
            0 | 1 => {
                let name: &'static str = ["l0", "l1", "l2", "l3"][i];
                named_leaf.push(name);
                json!({"op":"insert","table":"Leaf","uuid-name":name,"row":{"n":rng.gen_range(0..4),"k":names[rng.gen_range(0..2)]}})
            }
            2 | 3 => {
                let weak: Vec<Value> = (0..rng.gen_range(0..3))
                    .map(|_| pick_ref(rng, &leaves, &named_leaf))
                    .collect();
                let kidv: Vec<Value> = (0..rng.gen_range(0..3))
                    .map(|_| pick_ref(rng, &kids, &named_child))
                    .collect();
                json!({"op":"insert","table":"Root","row":{
                    "name": names[rng.gen_range(0..4)],
                    "weak1": pick_ref(rng, &leaves, &named_leaf),
                    "weak": ["set", weak],
                    "kids": ["set", kidv],
                    "kidmap": ["map", [["x", pick_ref(rng, &kids, &named_child)]]]}})
            }
            4 => {
                let name: &'static str = ["c0", "c1", "c2", "c3"][i];
                named_child.push(name);
                let g = if rng.gen_bool(0.5) {
                    json!(["set", [pick_ref(rng, &grands, &named_grand)]])
                } else {
                    json!(["set", []])
                };
                json!({"op":"insert","table":"Child","uuid-name":name,"row":{"name":name,"grand":g}})
            }
            5 => {
                let name: &'static str = ["g0", "g1", "g2", "g3"][i];
                named_grand.push(name);
                json!({"op":"insert","table":"Grand","uuid-name":name,"row":{"n":1}})
            }
            6 => json!({"op":"insert","table":"Single","row":{"x":rng.gen_range(0..3)}}),
            7 => {
                let kidv: Vec<Value> = (0..rng.gen_range(0..3))
                    .map(|_| pick_ref(rng, &kids, &named_child))
                    .collect();
                json!({"op":"update","table":"Root","where":[["name","==",names[rng.gen_range(0..4)]]],"row":{"kids":["set",kidv]}})
            }
            8 => {
                let m = if rng.gen_bool(0.5) {
                    "insert"
                } else {
                    "delete"
                };
                json!({"op":"mutate","table":"Root","where":[],"mutations":[["kids",m,pick_ref(rng, &kids, &named_child)],
                    ["weak",m,pick_ref(rng, &leaves, &named_leaf)]]})
            }
            9 => json!({"op":"delete","table":"Leaf","where":[["n","==",rng.gen_range(0..4)]]}),
            10 => {
                json!({"op":"delete","table":"Root","where":[["name","==",names[rng.gen_range(0..4)]]]})
            }
            11 => {
                let mut k = kids.clone();
                k.shuffle(rng);
                match k.first() {
                    Some(u) => {
                        json!({"op":"delete","table":"Child","where":[["_uuid","==",["uuid",u.to_string()]]]})
                    }
                    None => {
                        json!({"op":"delete","table":"Single","where":[["x","==",rng.gen_range(0..3)]]})
                    }
                }
            }
            _ => {
                json!({"op":"update","table":"Leaf","where":[["n","==",rng.gen_range(0..4)]],"row":{"n":rng.gen_range(0..4)}})
            }
        };
        ops.push(op);
    }
    ops
}

fn dump(db: &Database) -> Vec<(String, Vec<ovsdb::Row>)> {
    db.schema()
        .tables
        .keys()
        .map(|t| {
            let mut rows: Vec<ovsdb::Row> = db
                .table_rows(t)
                .map(|r| {
                    let mut r = (**r).clone();
                    r.version = Uuid::nil();
                    r.columns.remove("eph");
                    r
                })
                .collect();
            rows.sort_by_key(|r| r.uuid);
            (t.clone(), rows)
        })
        .collect()
}

fn check_invariants(db: &Database) -> Result<(), String> {
    let schema = db.schema().clone();
    let mut counts: std::collections::HashMap<(String, Uuid), u32> = Default::default();
    for (t, ts) in &schema.tables {
        let mut index_keys: Vec<HashSet<String>> = vec![HashSet::new(); ts.indexes.len()];
        let n = db.row_count(t);
        if let Some(max) = ts.max_rows {
            if n as u64 > max {
                return Err(format!("{t} has {n} rows > maxRows {max}"));
            }
        }
        for r in db.table_rows(t) {
            for (c, cs) in &ts.columns {
                let d = &r.columns[c];
                if (d.len() as u64) < u64::from(cs.ty.min)
                    || (d.len() as u64) > u64::from(cs.ty.max)
                {
                    return Err(format!("{t}.{c} size {} out of bounds", d.len()));
                }
                for (bt, atoms) in [
                    (Some(&cs.ty.key), d.keys().collect::<Vec<_>>()),
                    (
                        cs.ty.value.as_ref(),
                        d.as_map().iter().map(|p| &p.1).collect(),
                    ),
                ] {
                    let Some(bt) = bt else { continue };
                    let Some(rt) = &bt.ref_table else { continue };
                    for a in atoms {
                        let u = a.as_uuid().unwrap();
                        if db.get_row(rt, &u).is_none() {
                            return Err(format!(
                                "{t}.{c} row {} references missing {rt} {u}",
                                r.uuid
                            ));
                        }
                        if bt.is_strong_ref() {
                            *counts.entry((rt.clone(), u)).or_insert(0) += 1;
                        }
                    }
                }
            }
            for (i, cols) in ts.indexes.iter().enumerate() {
                let k: Vec<String> = cols.iter().map(|c| format!("{:?}", r.columns[c])).collect();
                if !index_keys[i].insert(k.join("|")) {
                    return Err(format!("duplicate index value in {t}: {k:?}"));
                }
            }
        }
    }
    for (t, ts) in &schema.tables {
        for r in db.table_rows(t) {
            let expected = counts.get(&(t.clone(), r.uuid)).copied().unwrap_or(0);
            if db.ref_count(t, &r.uuid) != expected {
                return Err(format!(
                    "{t} {} refcount {} != {expected}",
                    r.uuid,
                    db.ref_count(t, &r.uuid)
                ));
            }
            if !ts.is_root && expected == 0 {
                return Err(format!("{t} {} is unreferenced but not collected", r.uuid));
            }
        }
    }
    Ok(())
}

fn run_sequence(seed: u64, n_txns: usize) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut db = Database::new(schema());
    let mut records = Vec::new();
    let mut n_commits = 0;
    for i in 0..n_txns {
        let ops = gen_txn(&mut rng, &db);
        let before = dump(&db);
        match db.transact(&ops, i as i64, &|_| false) {
            TxnOutcome::Done { results, commit } => {
                let failed = results
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r.get("error").is_some());
                match commit {
                    Some(c) => {
                        if failed {
                            return Err(format!("commit despite error: {results}"));
                        }
                        n_commits += 1;
                        if !c.log_record.is_null() {
                            records.push(c.log_record.clone());
                        }
                    }
                    None => {
                        if dump(&db) != before {
                            return Err(format!("state changed without commit: {results}"));
                        }
                    }
                }
            }
            TxnOutcome::Blocked { .. } => return Err("blocked".into()),
        }
        check_invariants(&db)
            .map_err(|e| format!("after txn {i} {}: {e}", Value::Array(ops.clone())))?;
    }
    let mut replay = Database::new(schema());
    for r in &records {
        replay
            .apply_log_record(r)
            .map_err(|e| format!("replay: {e}"))?;
    }
    if dump(&replay) != dump(&db) {
        return Err("replayed state differs".into());
    }
    check_invariants(&replay)?;
    let _ = n_commits;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_transactions_keep_invariants(seed in any::<u64>()) {
        if let Err(e) = run_sequence(seed, 60) {
            prop_assert!(false, "seed {}: {}", seed, e);
        }
    }
}

#[test]
fn many_transactions_commit_some() {
    // Sanity: the generator produces a mix of commits and failures.
    let mut rng = StdRng::seed_from_u64(7);
    let mut db = Database::new(schema());
    let (mut ok, mut bad) = (0, 0);
    for i in 0..300 {
        let ops = gen_txn(&mut rng, &db);
        if let TxnOutcome::Done { commit, .. } = db.transact(&ops, i, &|_| false) {
            if commit.is_some() { ok += 1 } else { bad += 1 }
        }
    }
    assert!(ok > 30 && bad > 30, "commits {ok}, others {bad}");
    check_invariants(&db).unwrap();
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1e10f64..1e10).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "Root",
            "Leaf",
            "Child",
            "Grand",
            "Single",
            "name",
            "i",
            "r",
            "b",
            "tags",
            "m",
            "kids",
            "weak",
            "weak1",
            "ints",
            "==",
            "!=",
            "<",
            "includes",
            "excludes",
            "+=",
            "*=",
            "/=",
            "%=",
            "insert",
            "delete",
            "set",
            "map",
            "uuid",
            "named-uuid",
            "x",
            "",
            "11111111-1111-4111-8111-111111111111",
            "insert",
            "select",
            "update",
            "mutate",
            "wait",
            "commit",
            "abort",
            "comment",
            "assert",
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "op",
                        "table",
                        "where",
                        "row",
                        "columns",
                        "mutations",
                        "until",
                        "rows",
                        "timeout",
                        "uuid",
                        "uuid-name",
                        "durable",
                        "comment",
                        "lock",
                        "sort",
                        "name",
                        "i",
                        "tags",
                        "m",
                        "kids",
                        "weak1",
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
    /// Arbitrary JSON as operations never panics, always answers one
    /// result per operation (plus at most one commit error), and keeps
    /// the invariants.
    #[test]
    fn arbitrary_operations_never_panic(ops in prop::collection::vec(arb_json(), 0..6), seed in any::<u64>()) {
        let mut db = Database::new(schema());
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..3 {
            let t = gen_txn(&mut rng, &db);
            let _ = db.transact(&t, 0, &|_| false);
        }
        match db.transact(&ops, 0, &|_| false) {
            TxnOutcome::Done { results, .. } => {
                let n = results.as_array().unwrap().len();
                prop_assert!(n == ops.len() || n == ops.len() + 1);
            }
            TxnOutcome::Blocked { .. } => {}
        }
        if let Err(e) = check_invariants(&db) {
            prop_assert!(false, "{}", e);
        }
    }
}
