//! Bad input to rvs-ovsdb-server: malformed JSON, wrong types, unknown
//! tables and columns, a 100 MiB message and a client that never reads
//! its updates each get an error or a disconnect of that client only,
//! while a second client keeps transacting; the server's memory stays
//! bounded.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rvs_tests::ovsdb_support::{Kind, Server, require_ovs};
use serde_json::{Value, json};

/// A blocking raw JSON-RPC connection.
struct Raw {
    s: UnixStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(server: &Server) -> Raw {
        let s = UnixStream::connect(&server.sock).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s.set_write_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Raw { s, buf: Vec::new() }
    }

    fn send(&mut self, text: &str) {
        self.s.write_all(text.as_bytes()).expect("write");
    }

    /// Next JSON value, or None on EOF/reset.
    fn recv(&mut self) -> Option<Value> {
        loop {
            let mut de = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match de.next() {
                Some(Ok(v)) => {
                    let used = de.byte_offset();
                    self.buf.drain(..used);
                    return Some(v);
                }
                Some(Err(e)) if !e.is_eof() => panic!("server sent bad JSON: {e}"),
                _ => {}
            }
            let mut chunk = [0u8; 65536];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
            assert!(self.buf.len() < 256 << 20, "reply too large");
        }
    }

    /// Reads until the reply with `id` (skipping notifications).
    fn reply(&mut self, id: u64) -> Option<Value> {
        loop {
            let v = self.recv()?;
            if v.get("id") == Some(&json!(id)) {
                return Some(v);
            }
        }
    }

    /// True if the server closed the connection (reads until EOF, bounded).
    fn closed(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut total = 0usize;
        let mut chunk = [0u8; 65536];
        while Instant::now() < deadline && total < 512 << 20 {
            match self.s.read(&mut chunk) {
                Ok(0) => return true,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false;
                }
                Err(_) => return true,
                Ok(n) => total += n,
            }
        }
        false
    }
}

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn transact(raw: &mut Raw, id: u64, ops: Value) -> Value {
    let mut p = vec![json!("Open_vSwitch")];
    p.extend(ops.as_array().cloned().unwrap_or_default());
    raw.send(&json!({"method": "transact", "params": p, "id": id}).to_string());
    raw.reply(id).expect("reply")
}

#[test]
fn bad_clients_are_cut_off_while_others_keep_working() {
    if !require_ovs(
        "bad_clients_are_cut_off_while_others_keep_working",
        &["ovs-vsctl"],
    ) {
        return;
    }
    // A small output backlog bound so the never-reading client trips it quickly.
    let server = Server::start_with(Kind::Rvs, &["--max-backlog=1048576"]).expect("start");
    let pid = server.pid().expect("pid");
    let f = server.vsctl(&["init"]).expect("init");
    assert!(f.status.success());

    // A well-behaved client transacting the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let good = Arc::new(AtomicUsize::new(0));
    let keeper = {
        let (stop, good) = (stop.clone(), good.clone());
        let mut raw = Raw::connect(&server);
        let big = "x".repeat(8192);
        std::thread::spawn(move || {
            let mut id = 1000;
            while !stop.load(Ordering::SeqCst) && id < 1000 + 20_000 {
                id += 1;
                let r = transact(
                    &mut raw,
                    id,
                    json!([{"op": "mutate", "table": "Open_vSwitch", "where": [],
                            "mutations": [["external_ids", "insert", ["map", [[format!("k{}", id % 50), big.clone()]]]]]},
                           {"op": "mutate", "table": "Open_vSwitch", "where": [],
                            "mutations": [["external_ids", "delete", ["set", [format!("k{}", (id + 25) % 50)]]]]}]),
                );
                assert!(
                    r["error"].is_null() && r["result"][0]["count"] == json!(1),
                    "keeper failed: {r}"
                );
                good.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let progress = |what: &str| {
        let before = good.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while good.load(Ordering::SeqCst) < before + 5 {
            assert!(
                Instant::now() < deadline,
                "keeper made no progress after {what}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    progress("start");

    // A client that monitors everything and never reads.
    let mut lazy = Raw::connect(&server);
    lazy.send(&json!({"method": "monitor", "params": ["Open_vSwitch", "lazy", {"Open_vSwitch": {}}], "id": 1}).to_string());

    // Wrong types, unknown table and column: errors, connection stays.
    let mut c = Raw::connect(&server);
    let r = transact(
        &mut c,
        1,
        json!([{"op": "insert", "table": "Bridge", "row": {"name": 5}}]),
    );
    assert_eq!(r["result"][0]["error"], "syntax error", "{r}");
    let r = transact(
        &mut c,
        2,
        json!([{"op": "insert", "table": "NoSuchTable", "row": {}}]),
    );
    assert!(r["result"][0]["error"].is_string(), "{r}");
    let r = transact(
        &mut c,
        3,
        json!([{"op": "select", "table": "Bridge", "where": [["nosuch", "==", 1]]}]),
    );
    assert!(r["result"][0]["error"].is_string(), "{r}");
    c.send(r#"{"method":"transact","params":["NoSuchDb"],"id":4}"#);
    assert_eq!(
        c.reply(4).expect("reply")["error"]["error"],
        "unknown database"
    );
    c.send(r#"{"method":"frobnicate","params":[],"id":5}"#);
    assert_eq!(c.reply(5).expect("reply")["error"], "unknown method");
    c.send(r#"{"method":"echo","params":["still here"],"id":6}"#);
    assert_eq!(c.reply(6).expect("reply")["result"], json!(["still here"]));
    progress("errors");

    // Malformed JSON: that client is disconnected.
    let mut m = Raw::connect(&server);
    m.send(r#"{"method":"echo","params":[1,,]}"#);
    assert!(m.closed(), "malformed JSON did not close the connection");
    // Valid JSON that is not JSON-RPC: disconnected too.
    let mut m = Raw::connect(&server);
    m.send(r#"{"method":"echo","params":"notalist","id":1}"#);
    assert!(m.closed(), "invalid JSON-RPC did not close the connection");
    progress("malformed JSON");

    // A 100 MiB message: refused and disconnected without buffering it all.
    let mut huge = Raw::connect(&server);
    huge.send(r#"{"method":"echo","id":1,"params":[""#);
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0usize;
    for _ in 0..100 {
        if huge.s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    if sent == 100 << 20 {
        let _ = huge.s.write_all(b"\"]}");
    }
    assert!(
        sent < 100 << 20 || huge.closed(),
        "100 MiB message was not refused"
    );
    progress("100 MiB message");
    let rss = rss_kb(pid);
    assert!(
        rss < 200 * 1024,
        "server RSS {rss} kB after the 100 MiB message"
    );

    // A client flooding requests without reading replies: the server stops
    // reading it when its input budget is used, cuts it off when its
    // replies pass the backlog bound, and others are unaffected.
    let mut flood = Raw::connect(&server);
    let req = r#"{"method":"transact","params":["Open_vSwitch",{"op":"select","table":"Open_vSwitch","where":[]}],"id":1}"#;
    let batch = req.repeat(1000);
    let mut flooded = 0usize;
    for _ in 0..500 {
        if flood.s.write_all(batch.as_bytes()).is_err() {
            break;
        }
        flooded += batch.len();
    }
    assert!(
        flood.closed(),
        "flooding client was not disconnected after {flooded} bytes"
    );
    progress("request flood");
    let rss = rss_kb(pid);
    assert!(
        rss < 200 * 1024,
        "server RSS {rss} kB after the request flood"
    );

    // The never-reading client has been cut off by now (its backlog passed 1 MiB).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.log().contains("backlog") {
        assert!(
            Instant::now() < deadline,
            "lazy client never disconnected; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(lazy.closed(), "lazy client's connection still open");
    progress("lazy client");

    stop.store(true, Ordering::SeqCst);
    keeper.join().expect("keeper thread");
    let rss = rss_kb(pid);
    assert!(rss < 200 * 1024, "server RSS {rss} kB at the end");
}
