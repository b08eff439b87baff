//! Transactions per second: the engine alone, the engine with the durable
//! log (fsync per commit), and the whole server over an in-process
//! JSON-RPC connection.
//!
//! `cargo bench -p ovsdb --bench ovsdb_txn`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ovsdb::client::Client;
use ovsdb::embed::ServerHandle;
use ovsdb::server::{DbFile, ServerConfig};
use ovsdb::{Database, LogFile, TxnOutcome, vswitch_schema};
use serde_json::{Value, json};

fn insert_qos(n: u64) -> Vec<Value> {
    vec![json!({"op": "insert", "table": "QoS",
                "row": {"type": "linux-htb", "external_ids": ["map", [["n", n.to_string()]]]}})]
}

fn add_port(n: u64) -> Vec<Value> {
    let name = format!("p{n}");
    vec![
        json!({"op": "insert", "table": "Interface", "row": {"name": name, "type": "internal"}, "uuid-name": "i"}),
        json!({"op": "insert", "table": "Port", "row": {"name": name, "interfaces": ["named-uuid", "i"]}, "uuid-name": "p"}),
        json!({"op": "mutate", "table": "Bridge", "where": [], "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]]]}),
    ]
}

fn setup_bridge() -> Vec<Value> {
    vec![
        json!({"op": "insert", "table": "Open_vSwitch", "row": {"bridges": ["named-uuid", "b"]}}),
        json!({"op": "insert", "table": "Bridge", "row": {"name": "br0"}, "uuid-name": "b"}),
    ]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ovsdb");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);

    let mut db = Database::new(vswitch_schema());
    let mut n = 0u64;
    g.bench_function("engine_insert", |b| {
        b.iter(|| {
            n += 1;
            match db.transact(&insert_qos(n), 0, &|_| false) {
                TxnOutcome::Done {
                    commit: Some(_), ..
                } => {}
                other => panic!("{other:?}"),
            }
        })
    });

    let mut db = Database::new(vswitch_schema());
    let _ = db.transact(&setup_bridge(), 0, &|_| false);
    let mut n = 0u64;
    g.bench_function("engine_add_port", |b| {
        b.iter(|| {
            n += 1;
            match db.transact(&add_port(n), 0, &|_| false) {
                TxnOutcome::Done {
                    commit: Some(_), ..
                } => {}
                other => panic!("{other:?}"),
            }
        })
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("conf.db");
    let schema = vswitch_schema();
    let mut log = LogFile::create(&path, &schema).expect("create");
    let mut db = Database::new(schema);
    let mut n = 0u64;
    g.bench_function("engine_insert_logged_fsync", |b| {
        b.iter(|| {
            n += 1;
            match db.transact(&insert_qos(n), 0, &|_| false) {
                TxnOutcome::Done {
                    commit: Some(c), ..
                } => log.append(&c).expect("append"),
                other => panic!("{other:?}"),
            }
        })
    });

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (log, db) = LogFile::open(&path).expect("open");
    let h = ServerHandle::start(vec![DbFile { db, log: Some(log) }], ServerConfig::default())
        .expect("server");
    let client = rt.block_on(async {
        let (a, b) = tokio::io::duplex(1 << 20);
        h.serve_stream(a, "bench");
        Client::over(b)
    });
    let mut n = 1u64 << 32;
    g.bench_function("server_jsonrpc_insert_logged", |b| {
        b.iter(|| {
            n += 1;
            let r = rt
                .block_on(client.transact("Open_vSwitch", insert_qos(n)))
                .expect("transact");
            assert!(r[0]["uuid"].is_array());
        })
    });
    g.finish();
    h.shutdown();
}

criterion_group!(benches, bench);
criterion_main!(benches);
