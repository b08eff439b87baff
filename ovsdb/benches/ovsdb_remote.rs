//! Transactions per second against a running server (ours or the real
//! ovsdb-server), for side-by-side numbers:
//!
//! ```text
//! OVSDB_BENCH_REMOTE=unix:/path/db.sock [OVSDB_BENCH_CLIENTS=4] [OVSDB_BENCH_TXNS=2000] \
//!     cargo bench -p ovsdb --bench ovsdb_remote
//! ```
//!
//! Each client inserts QoS rows (a root table, so nothing is garbage
//! collected), one row per transaction, waiting for each reply. Without
//! `OVSDB_BENCH_REMOTE` the bench prints how to use it and exits.

use std::time::Instant;

use ovsdb::client::Client;
use ovsdb::remote::Remote;
use serde_json::json;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let Ok(remote) = std::env::var("OVSDB_BENCH_REMOTE") else {
        println!("ovsdb_remote: set OVSDB_BENCH_REMOTE=unix:PATH (see the file header); skipping");
        return;
    };
    let remote = Remote::parse(&remote).expect("remote");
    let clients = env("OVSDB_BENCH_CLIENTS", 4);
    let txns = env("OVSDB_BENCH_TXNS", 2000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for (label, n_clients) in [("1 client", 1), ("concurrent", clients)] {
        let t0 = Instant::now();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for c in 0..n_clients {
                let remote = remote.clone();
                tasks.push(tokio::spawn(async move {
                    let client = Client::connect(&remote).await.expect("connect");
                    for i in 0..txns / n_clients {
                        let op = json!({"op": "insert", "table": "QoS",
                                        "row": {"type": "bench", "external_ids": ["map", [["k", format!("{c}-{i}")]]]}});
                        let r = client.transact("Open_vSwitch", vec![op]).await.expect("transact");
                        assert!(r[0]["uuid"].is_array(), "{r}");
                    }
                }));
            }
            for t in tasks {
                t.await.expect("client task");
            }
        });
        let secs = t0.elapsed().as_secs_f64();
        let done = (txns / n_clients) * n_clients;
        println!(
            "{label:>10} ({n_clients} clients): {done} transactions in {secs:.2} s = {:.0} txn/s",
            done as f64 / secs
        );
    }
    // Leave the database as we found it (roughly): delete the bench rows.
    rt.block_on(async {
        let client = Client::connect(&remote).await.expect("connect");
        let _ = client
            .transact(
                "Open_vSwitch",
                vec![json!({"op": "delete", "table": "QoS", "where": [["type", "==", "bench"]]})],
            )
            .await;
    });
}
