//! Durability of rvs-ovsdb-server: every acknowledged transaction survives
//! a SIGKILL at an arbitrary point, and a log with a torn last record
//! opens with every complete record.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ovsdb::client::Client;
use ovsdb::remote::Remote;
use rvs_tests::ovsdb_support::{Kind, Server, require_ovs};
use serde_json::{Value, json};

const TOTAL: usize = 10_000;
const CLIENTS: usize = 4;

fn pseudo_random(lo: usize, hi: usize) -> usize {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7) as usize;
    lo + (n.wrapping_mul(2654435761) % (hi - lo))
}

fn insert_op(key: &str) -> Value {
    json!({"op": "insert", "table": "QoS",
           "row": {"type": "linux-htb", "external_ids": ["map", [["k", key]]]}})
}

/// Runs clients until `stop_at` acknowledgements in total (or the server
/// dies); returns every acknowledged key.
async fn load(remote: Remote, start: usize, stop_at: usize, acked: Arc<Mutex<BTreeSet<String>>>) {
    let next = Arc::new(Mutex::new(start));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let remote = remote.clone();
        let acked = acked.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(client) = Client::connect(&remote).await else {
                return;
            };
            loop {
                let n = {
                    let mut g = next.lock().expect("lock");
                    if *g >= stop_at {
                        return;
                    }
                    *g += 1;
                    *g
                };
                let key = format!("c{c}-{n}");
                match client.transact("Open_vSwitch", vec![insert_op(&key)]).await {
                    Ok(r) => {
                        let ok = r
                            .as_array()
                            .is_some_and(|a| a.iter().all(|x| x.get("error").is_none()));
                        assert!(ok, "transaction failed: {r}");
                        acked.lock().expect("lock").insert(key);
                    }
                    Err(_) => return, // server killed
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn stored_keys(remote: &Remote) -> BTreeSet<String> {
    let client = Client::connect(remote)
        .await
        .expect("connect after restart");
    let r = client
        .transact(
            "Open_vSwitch",
            vec![json!({"op": "select", "table": "QoS", "where": [], "columns": ["external_ids"]})],
        )
        .await
        .expect("select");
    let mut keys = BTreeSet::new();
    for row in r[0]["rows"].as_array().expect("rows") {
        for pair in row["external_ids"][1].as_array().expect("map") {
            if let Some(k) = pair[1].as_str() {
                keys.insert(k.to_string());
            }
        }
    }
    keys
}

#[test]
fn acknowledged_transactions_survive_sigkill() {
    if !require_ovs("acknowledged_transactions_survive_sigkill", &["ovs-vsctl"]) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut server = Server::start(Kind::Rvs).expect("start");
    let remote = Remote::parse(&server.remote()).expect("remote");
    let acked = Arc::new(Mutex::new(BTreeSet::new()));

    // Phase 1: load, and SIGKILL the server while clients are mid-flight.
    let kill_at = pseudo_random(1_000, 9_000);
    {
        let (remote, acked2) = (remote.clone(), acked.clone());
        let h = rt.spawn(load(remote, 0, TOTAL, acked2));
        loop {
            std::thread::sleep(Duration::from_millis(2));
            if acked.lock().expect("lock").len() >= kill_at || h.is_finished() {
                break;
            }
        }
        server.kill9();
        rt.block_on(h).expect("load task");
    }
    let phase1 = acked.lock().expect("lock").clone();
    assert!(
        phase1.len() >= kill_at,
        "only {} acknowledged before the kill",
        phase1.len()
    );

    // Restart: every acknowledged key is there.
    server.spawn().expect("restart");
    let stored = rt.block_on(stored_keys(&remote));
    let lost: Vec<&String> = phase1.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged transactions lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );

    // Phase 2: complete 10,000 acknowledged transactions, kill, restart, check all.
    let done = phase1.len();
    rt.block_on(load(
        remote.clone(),
        100_000,
        100_000 + TOTAL - done,
        acked.clone(),
    ));
    let all = acked.lock().expect("lock").clone();
    assert!(all.len() >= TOTAL, "{} acknowledged", all.len());
    server.kill9();
    server.spawn().expect("second restart");
    let stored = rt.block_on(stored_keys(&remote));
    assert!(
        all.is_subset(&stored),
        "{} acknowledged transactions lost",
        all.difference(&stored).count()
    );
    // ovsdb-tool (the real one) can read our log.
    if let Some(tool) = rvs_tests::ovs::find_program("ovsdb-tool") {
        let f = rvs_tests::ovs::run_with_timeout(
            &tool,
            &["query".into(), server.db.display().to_string(),
              r#"["Open_vSwitch",{"op":"select","table":"QoS","where":[],"columns":["external_ids"]}]"#.into()],
            Duration::from_secs(60),
        )
        .expect("ovsdb-tool query");
        assert!(f.status.success(), "ovsdb-tool query failed: {}", f.stderr);
        let v: Value = serde_json::from_str(&f.stdout).expect("query output is JSON");
        assert_eq!(v[0]["rows"].as_array().map(Vec::len), Some(stored.len()));
    }
}

#[test]
fn torn_last_record_is_dropped_and_earlier_records_kept() {
    if !require_ovs(
        "torn_last_record_is_dropped_and_earlier_records_kept",
        &["ovs-vsctl", "ovsdb-tool"],
    ) {
        return;
    }
    let mut server = Server::start(Kind::Rvs).expect("start");
    for cmd in [
        &["init"][..],
        &["add-br", "br0"],
        &["add-br", "br1"],
        &["add-port", "br0", "p1"],
    ] {
        let f = server.vsctl(cmd).expect("vsctl");
        assert!(f.status.success(), "{cmd:?}: {}", f.stderr);
    }
    server.stop();
    let full = std::fs::read(&server.db).expect("read db");

    // Case 1: garbage half-record appended after the last complete one.
    let mut torn = full.clone();
    torn.extend_from_slice(
        b"OVSDB JSON 200 0123456789abcdef0123456789abcdef01234567\n{\"Bridge\":{\"",
    );
    std::fs::write(&server.db, &torn).expect("write");
    server.spawn().expect("start on torn log");
    let f = server.vsctl(&["list-br"]).expect("list-br");
    assert_eq!(f.stdout, "br0\nbr1\n", "{}", server.log());
    let f = server.vsctl(&["list-ports", "br0"]).expect("list-ports");
    assert_eq!(f.stdout, "p1\n");
    // Writing continues after the truncated tail and stays readable.
    let f = server.vsctl(&["add-br", "br2"]).expect("add-br");
    assert!(f.status.success(), "{}", f.stderr);
    server.stop();
    let tool = rvs_tests::ovs::find_program("ovsdb-tool").expect("ovsdb-tool");
    let f = rvs_tests::ovs::run_with_timeout(
        &tool,
        &["show-log".into(), server.db.display().to_string()],
        Duration::from_secs(30),
    )
    .expect("show-log");
    assert!(f.status.success(), "ovsdb-tool show-log: {}", f.stderr);
    assert!(f.stdout.contains("add-br br2"), "{}", f.stdout);

    // Case 2: the last complete record cut in the middle: it is lost, the rest kept.
    let cut = full.len() - 20;
    std::fs::write(&server.db, &full[..cut]).expect("write");
    server.spawn().expect("start on cut log");
    let f = server.vsctl(&["list-br"]).expect("list-br");
    assert_eq!(f.stdout, "br0\nbr1\n");
    let f = server.vsctl(&["list-ports", "br0"]).expect("list-ports");
    assert_eq!(
        f.stdout, "",
        "the add-port record was cut, so p1 must be gone"
    );
}
