//! The server's JSON-RPC behaviour, in process (no root, no OVS tools):
//! methods, monitors of every version, locks, blocked transactions,
//! cancel, ordering of updates before replies, and the embedding API.

use std::time::Duration;

use ovsdb::client::{Client, ClientError};
use ovsdb::embed::ServerHandle;
use ovsdb::jsonrpc::Msg;
use ovsdb::server::{DbFile, ServerConfig};
use ovsdb::{Database, vswitch_schema};
use serde_json::{Value, json};
use tokio::sync::mpsc::Receiver;

fn start() -> ServerHandle {
    start_with(ServerConfig::default())
}

fn start_with(cfg: ServerConfig) -> ServerHandle {
    let db = DbFile {
        db: Database::new(vswitch_schema()),
        log: None,
    };
    ServerHandle::start(vec![db], cfg).expect("start")
}

fn connect(h: &ServerHandle) -> Client {
    let (a, b) = tokio::io::duplex(1 << 16);
    h.serve_stream(a, "test");
    Client::over(b)
}

async fn next_note(rx: &mut Receiver<Msg>) -> (String, Value) {
    match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
        Ok(Some(Msg::Notify { method, params })) => (method, params),
        other => panic!("expected a notification, got {other:?}"),
    }
}

fn init_ops() -> Vec<Value> {
    vec![json!({"op": "insert", "table": "Open_vSwitch", "row": {}})]
}

fn add_bridge(name: &str) -> Vec<Value> {
    vec![
        json!({"op": "insert", "table": "Bridge", "row": {"name": name}, "uuid-name": "b"}),
        json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
               "mutations": [["bridges", "insert", ["set", [["named-uuid", "b"]]]]]}),
    ]
}

#[tokio::test]
async fn basic_methods_answer_like_ovsdb_server() {
    let h = start();
    let c = connect(&h);
    assert_eq!(c.list_dbs().await.unwrap(), vec!["Open_vSwitch", "_Server"]);
    assert_eq!(
        c.get_schema("Open_vSwitch").await.unwrap()["name"],
        "Open_vSwitch"
    );
    assert_eq!(
        c.request("echo", json!(["x", 1])).await.unwrap(),
        json!(["x", 1])
    );
    let id = c.request("get_server_id", json!([])).await.unwrap();
    assert!(uuid::Uuid::parse_str(id.as_str().unwrap()).is_ok());
    assert_eq!(
        c.request("set_db_change_aware", json!([true]))
            .await
            .unwrap(),
        json!({})
    );
    match c.request("frobnicate", json!([])).await {
        Err(ClientError::Rpc(e)) => assert_eq!(e, json!("unknown method")),
        other => panic!("{other:?}"),
    }
    match c.get_schema("nosuch").await {
        Err(ClientError::Rpc(e)) => assert_eq!(e["error"], "unknown database"),
        other => panic!("{other:?}"),
    }
    match c.transact("nosuch", vec![]).await {
        Err(ClientError::Rpc(e)) => assert_eq!(e["error"], "unknown database"),
        other => panic!("{other:?}"),
    }
    // Still connected after the errors.
    assert_eq!(c.request("echo", json!([])).await.unwrap(), json!([]));
    // _Server describes both databases.
    let r = c
        .transact("_Server", vec![json!({"op": "select", "table": "Database", "where": [], "columns": ["name", "model", "connected", "leader"]})])
        .await
        .unwrap();
    let mut names: Vec<&str> = r[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Open_vSwitch", "_Server"]);
    assert_eq!(r[0]["rows"][0]["model"], "standalone");
    // ... and is read-only.
    let r = c
        .transact(
            "_Server",
            vec![json!({"op": "delete", "table": "Database", "where": []})],
        )
        .await
        .unwrap();
    assert!(r[0]["error"].is_string(), "{r}");
    h.shutdown();
}

#[tokio::test]
async fn own_monitor_update_arrives_before_transact_reply() {
    let h = start();
    let mut c = connect(&h);
    let mut notes = c.notifications().unwrap();
    c.transact("Open_vSwitch", init_ops()).await.unwrap();
    let init = c
        .monitor(
            "monitor",
            "Open_vSwitch",
            json!("m1"),
            json!({"Bridge": {"columns": ["name"]}}),
        )
        .await
        .unwrap();
    assert_eq!(init, json!({}));
    let r = c.transact("Open_vSwitch", add_bridge("br0")).await.unwrap();
    // The reply has arrived; the update must already be queued.
    let (method, params) = notes
        .try_recv()
        .map(|m| match m {
            Msg::Notify { method, params } => (method, params),
            other => panic!("{other:?}"),
        })
        .expect("update queued before the transact reply");
    assert_eq!(method, "update");
    let uuid = r[0]["uuid"][1].as_str().unwrap();
    assert_eq!(
        params,
        json!(["m1", {"Bridge": {uuid: {"new": {"name": "br0"}}}}])
    );
    h.shutdown();
}

#[tokio::test]
async fn monitor_versions_report_insert_modify_delete() {
    let h = start();
    let mut c = connect(&h);
    let mut notes = c.notifications().unwrap();
    c.transact("Open_vSwitch", init_ops()).await.unwrap();
    let r = c.transact("Open_vSwitch", add_bridge("br0")).await.unwrap();
    let br0 = r[0]["uuid"][1].as_str().unwrap().to_string();
    let cols = json!(["name", "fail_mode", "external_ids"]);
    let i1 = c
        .monitor(
            "monitor",
            "Open_vSwitch",
            json!(1),
            json!({"Bridge": {"columns": cols}}),
        )
        .await
        .unwrap();
    assert_eq!(
        i1["Bridge"][&br0]["new"],
        json!({"name": "br0", "fail_mode": ["set", []], "external_ids": ["map", []]})
    );
    let i2 = c
        .monitor(
            "monitor_cond",
            "Open_vSwitch",
            json!(2),
            json!({"Bridge": [{"columns": cols, "where": [["fail_mode", "!=", "standalone"]]}]}),
        )
        .await
        .unwrap();
    // update2 omits default values.
    assert_eq!(i2["Bridge"][&br0], json!({"initial": {"name": "br0"}}));
    let i3 = c
        .request("monitor_cond_since", json!(["Open_vSwitch", 3, {"Bridge": [{"columns": cols}]}, "00000000-0000-0000-0000-000000000000"]))
        .await
        .unwrap();
    assert_eq!(i3[0], json!(false));
    let last = i3[1].as_str().unwrap().to_string();

    c.transact(
        "Open_vSwitch",
        vec![json!({"op": "update", "table": "Bridge", "where": [["name", "==", "br0"]],
                    "row": {"fail_mode": "secure", "external_ids": ["map", [["a", "1"], ["b", "2"]]]}})],
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_note(&mut notes).await);
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got[0].0, "update");
    assert_eq!(
        got[0].1[1]["Bridge"][&br0]["old"],
        json!({"fail_mode": ["set", []], "external_ids": ["map", []]})
    );
    assert_eq!(got[1].0, "update2");
    assert_eq!(
        got[1].1,
        json!([2, {"Bridge": {&br0: {"modify": {"fail_mode": "secure", "external_ids": ["map", [["a", "1"], ["b", "2"]]]}}}}])
    );
    assert_eq!(got[2].0, "update3");
    let txn1 = got[2].1[1].as_str().unwrap().to_string();
    assert_ne!(txn1, last);

    // Map diff: changed value and removed key.
    c.transact(
        "Open_vSwitch",
        vec![json!({"op": "update", "table": "Bridge", "where": [], "row": {"external_ids": ["map", [["a", "9"]]]}})],
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_note(&mut notes).await);
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got[1].1[1]["Bridge"][&br0]["modify"]["external_ids"],
        json!(["map", [["a", "9"], ["b", "2"]]])
    );

    // fail_mode=standalone moves the bridge out of monitor 2's condition: a delete there.
    let r = c
        .transact("Open_vSwitch", vec![json!({"op": "update", "table": "Bridge", "where": [], "row": {"fail_mode": "standalone"}})])
        .await
        .unwrap();
    assert_eq!(r[0]["count"], 1, "{r}");
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_note(&mut notes).await);
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got[1].1[1]["Bridge"][&br0], json!({"delete": null}));

    // monitor_cond_since with a known id answers found=true with only the changes since.
    let r = c
        .request(
            "monitor_cond_since",
            json!(["Open_vSwitch", 4, {"Bridge": [{"columns": ["fail_mode"]}]}, txn1]),
        )
        .await
        .unwrap();
    assert_eq!(r[0], json!(true), "{r}");
    // Optional scalars are sets: the diff is the symmetric difference.
    assert_eq!(
        r[2]["Bridge"][&br0]["modify"],
        json!({"fail_mode": ["set", ["secure", "standalone"]]})
    );
    // Duplicate monitor id is refused; monitor_cancel works once.
    assert!(matches!(
        c.monitor("monitor", "Open_vSwitch", json!(1), json!({}))
            .await,
        Err(ClientError::Rpc(_))
    ));
    assert_eq!(
        c.request("monitor_cancel", json!([1])).await.unwrap(),
        json!({})
    );
    assert!(
        matches!(c.request("monitor_cancel", json!([1])).await, Err(ClientError::Rpc(e)) if e == json!("unknown monitor"))
    );

    // Delete: update2 "delete".
    c.request("monitor_cancel", json!([3])).await.unwrap();
    c.request("monitor_cancel", json!([4])).await.unwrap();
    c.request(
        "monitor_cond_change",
        json!([2, 22, {"Bridge": [{"where": [true]}]}]),
    )
    .await
    .unwrap();
    let (m, p) = next_note(&mut notes).await;
    assert_eq!((m.as_str(), &p[0]), ("update2", &json!(22)));
    assert_eq!(
        p[1]["Bridge"][&br0],
        json!({"insert": {"name": "br0", "fail_mode": "standalone", "external_ids": ["map", [["a", "9"]]]}})
    );
    c.transact(
        "Open_vSwitch",
        vec![json!({"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["bridges", "delete", ["set", [["uuid", br0]]]]]})],
    )
    .await
    .unwrap();
    let (m, p) = next_note(&mut notes).await;
    assert_eq!(m, "update2");
    assert_eq!(p[1]["Bridge"][&br0], json!({"delete": null}));
    h.shutdown();
}

#[tokio::test]
async fn locks_notify_locked_and_stolen() {
    let h = start();
    let a = connect(&h);
    let mut b = connect(&h);
    let mut bn = b.notifications().unwrap();
    let mut a = a;
    let mut an = a.notifications().unwrap();
    assert_eq!(
        a.request("lock", json!(["L"])).await.unwrap(),
        json!({"locked": true})
    );
    assert_eq!(
        b.request("lock", json!(["L"])).await.unwrap(),
        json!({"locked": false})
    );
    assert!(
        matches!(a.request("lock", json!(["L"])).await, Err(ClientError::Rpc(e)) if e["error"] == "syntax error")
    );
    // assert op needs the lock.
    let r = b
        .transact("Open_vSwitch", vec![json!({"op": "assert", "lock": "L"})])
        .await
        .unwrap();
    assert_eq!(r[0]["error"], "not owner");
    let r = a
        .transact("Open_vSwitch", vec![json!({"op": "assert", "lock": "L"})])
        .await
        .unwrap();
    assert_eq!(r[0], json!({}));
    assert_eq!(a.request("unlock", json!(["L"])).await.unwrap(), json!({}));
    assert_eq!(
        next_note(&mut bn).await,
        ("locked".to_string(), json!(["L"]))
    );
    assert_eq!(
        a.request("steal", json!(["L"])).await.unwrap(),
        json!({"locked": true})
    );
    assert_eq!(
        next_note(&mut bn).await,
        ("stolen".to_string(), json!(["L"]))
    );
    // When the thief disconnects, the victim gets the lock back.
    drop(a);
    assert_eq!(
        next_note(&mut bn).await,
        ("locked".to_string(), json!(["L"]))
    );
    assert!(an.try_recv().is_err());
    h.shutdown();
}

#[tokio::test]
async fn wait_blocks_until_a_commit_satisfies_it_and_cancel_aborts() {
    let h = start();
    let a = connect(&h);
    a.transact("Open_vSwitch", init_ops()).await.unwrap();
    let wait = json!({"op": "wait", "table": "Bridge", "where": [], "columns": ["name"], "until": "==",
                      "rows": [{"name": "br0"}], "timeout": 600000});
    let a2 = std::sync::Arc::new(a);
    let waiter = {
        let a = a2.clone();
        let wait = wait.clone();
        tokio::spawn(async move {
            a.transact(
                "Open_vSwitch",
                vec![wait, json!({"op": "comment", "comment": "after wait"})],
            )
            .await
        })
    };
    let b = connect(&h);
    // The waiter is blocked: other transactions go on.
    b.transact(
        "Open_vSwitch",
        vec![json!({"op": "select", "table": "Bridge", "where": []})],
    )
    .await
    .unwrap();
    assert!(!waiter.is_finished());
    b.transact("Open_vSwitch", add_bridge("br0")).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(r, json!([{}, {}]));

    // A wait that is never satisfied times out (after its deadline, whenever
    // the server gets to it) with the RFC 7047 "timed out" error.
    let short = json!({"op": "wait", "table": "Bridge", "where": [], "columns": ["name"], "until": "==",
                       "rows": [], "timeout": 50});
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        b.transact("Open_vSwitch", vec![short]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r[0]["error"], "timed out", "{r}");

    // cancel: the blocked request is answered with "canceled".
    let never = json!({"op": "wait", "table": "Bridge", "where": [], "columns": ["name"], "until": "==",
                       "rows": [], "timeout": 600000});
    let (x, y) = tokio::io::duplex(1 << 16);
    h.serve_stream(x, "raw");
    let (rd, mut wr) = tokio::io::split(y);
    use tokio::io::AsyncWriteExt;
    wr.write_all(
        json!({"method": "transact", "params": ["Open_vSwitch", never], "id": 77})
            .to_string()
            .as_bytes(),
    )
    .await
    .unwrap();
    wr.write_all(
        json!({"method": "cancel", "params": [77], "id": null})
            .to_string()
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut frames =
        tokio_util::codec::FramedRead::new(rd, ovsdb::jsonrpc::JsonRpcCodec::default());
    use futures::StreamExt;
    let m = tokio::time::timeout(Duration::from_secs(20), frames.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        m,
        Msg::Error {
            error: json!({"error": "canceled"}),
            id: json!(77)
        }
    );
    h.shutdown();
}

#[tokio::test]
async fn embedded_api_transacts_reads_and_subscribes() {
    let h = start();
    let mut sub = h.subscribe();
    h.transact("Open_vSwitch", init_ops()).await.unwrap();
    let r = h.transact("Open_vSwitch", add_bridge("br0")).await.unwrap();
    assert!(r[0]["uuid"].is_array(), "{r}");
    let ev = sub.recv().await.unwrap();
    assert_eq!(ev.db, "Open_vSwitch");
    let ev = sub.recv().await.unwrap();
    assert!(ev.commit.changes.contains_key("Bridge"));
    let n = h
        .read("Open_vSwitch", |db| db.table_rows("Bridge").count())
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(h.read("nosuch", |_| ()).await.is_err());
    assert!(h.transact("nosuch", vec![]).await.is_err());
    // A socket client sees what the embedded API wrote.
    let dir = std::env::temp_dir().join(format!("rvs-ovsdb-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("db.sock");
    let l = h
        .start_listener(&ovsdb::remote::Remote::PUnix(sock.clone()))
        .await
        .unwrap();
    let c = Client::connect(&ovsdb::remote::Remote::Unix(sock.clone()))
        .await
        .unwrap();
    let r = c
        .transact(
            "Open_vSwitch",
            vec![json!({"op": "select", "table": "Bridge", "where": [], "columns": ["name"]})],
        )
        .await
        .unwrap();
    assert_eq!(r[0]["rows"], json!([{"name": "br0"}]));
    let t = h
        .start_listener(&"ptcp:0:127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    let c2 = Client::connect(&t.local().parse().unwrap()).await.unwrap();
    assert_eq!(c2.list_dbs().await.unwrap().len(), 2);
    drop(l);
    assert!(!sock.exists());
    let _ = std::fs::remove_dir_all(&dir);
    h.shutdown();
}

#[tokio::test]
async fn silent_peer_is_probed_then_dropped() {
    let cfg = ServerConfig {
        unix_probe: Some(Duration::from_millis(50)),
        ..ServerConfig::default()
    };
    let h = start_with(cfg);
    let dir = std::env::temp_dir().join(format!("rvs-ovsdb-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("db.sock");
    let _l = h
        .start_listener(&ovsdb::remote::Remote::PUnix(sock.clone()))
        .await
        .unwrap();
    let s = tokio::net::UnixStream::connect(&sock).await.unwrap();
    let mut frames = tokio_util::codec::Framed::new(s, ovsdb::jsonrpc::JsonRpcCodec::default());
    use futures::StreamExt;
    let m = tokio::time::timeout(Duration::from_secs(20), frames.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m, Msg::request("echo", json!([]), json!("echo")));
    // We never answer: the server hangs up.
    let end = tokio::time::timeout(Duration::from_secs(20), frames.next())
        .await
        .unwrap();
    assert!(end.is_none(), "{end:?}");
    // A client that answers echoes (ours does) stays connected.
    let c = Client::connect(&ovsdb::remote::Remote::Unix(sock.clone()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.request("echo", json!([1])).await.unwrap(), json!([1]));
    let _ = std::fs::remove_dir_all(&dir);
    h.shutdown();
}
