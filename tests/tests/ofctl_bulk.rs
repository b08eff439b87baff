//! Bulk `rvs-ofctl add-flows` of 100,000 flows into a switch served by the
//! channel layer: streamed with barriers every few hundred flows and a
//! bounded window, every flow lands, and a bad flow in the middle of the
//! stream reports the switch's error with the failing request.
//!
//! Bounded: the tool runs with `--timeout`, the child is killed by its
//! own handle after a deadline.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ofproto::channel::{ChannelConfig, ChannelHandle};
use ofproto::switch::{Switch, SwitchSettings};
use rvs_tests::vswitchd_support::rvs_bin;

struct Served {
    rt: tokio::runtime::Runtime,
    handle: Option<ChannelHandle>,
    switch: Arc<Mutex<Switch>>,
}

impl Served {
    fn start(rundir: &Path) -> Served {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let switch = Arc::new(Mutex::new(Switch::new(SwitchSettings::default())));
        let cfg = ChannelConfig {
            bridge: "br0".into(),
            mgmt_path: Some(rundir.join("br0.mgmt")),
            ..ChannelConfig::default()
        };
        let handle = {
            let _g = rt.enter();
            ChannelHandle::spawn(switch.clone(), cfg).expect("channel spawn")
        };
        Served {
            rt,
            handle: Some(handle),
            switch,
        }
    }

    fn flow_count(&self) -> usize {
        let g = self.switch.lock().expect("lock");
        g.tables().iter().map(|t| t.len()).sum()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

fn run(args: &[&str], rundir: &Path, limit: Duration) -> (Option<i32>, String, String, Duration) {
    let bin = rvs_bin("rvs-ofctl").expect("rvs-ofctl binary");
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .env("OVS_RUNDIR", rundir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rvs-ofctl");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut so, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut se, &mut s);
        s
    });
    let deadline = start + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = start.elapsed();
    (
        status.code(),
        t_out.join().unwrap_or_default(),
        t_err.join().unwrap_or_default(),
        took,
    )
}

const N: u32 = 100_000;

#[test]
fn add_flows_100k_streams_with_barriers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path());
    let mut text = String::with_capacity(N as usize * 80);
    for i in 0..N {
        let (a, b, c) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        text.push_str(&format!(
            "table={},priority={},ip,nw_dst=10.{a}.{b}.{c},actions=output:{}\n",
            i % 4,
            100 + i % 7,
            1 + i % 3
        ));
    }
    let file = dir.path().join("flows.txt");
    std::fs::write(&file, &text).expect("write flows");
    let file_s = file.display().to_string();
    let (code, out, err, took) = run(
        &["--timeout=600", "add-flows", "br0", &file_s],
        dir.path(),
        Duration::from_secs(900),
    );
    assert_eq!(code, Some(0), "add-flows failed: {out}{err}");
    assert_eq!(served.flow_count(), N as usize);
    println!(
        "add-flows of {N} flows: {:.2} s ({:.0} flows/s)",
        took.as_secs_f64(),
        f64::from(N) / took.as_secs_f64()
    );
    let (code, out, _, _) = run(
        &["--timeout=60", "dump-aggregate", "br0"],
        dir.path(),
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(0));
    assert!(out.contains(&format!("flow_count={N}")), "{out}");

    // A flow the switch refuses in the middle of a stream: the error is
    // printed (with the request it answers) and the exit status is 1.
    let mut bad = String::new();
    for i in 0..2000u32 {
        if i == 1500 {
            bad.push_str("table=5,priority=1,actions=group:4242\n");
        } else {
            bad.push_str(&format!(
                "table=6,priority=1,in_port={},actions=drop\n",
                i + 1
            ));
        }
    }
    let bad_file = dir.path().join("bad.txt");
    std::fs::write(&bad_file, &bad).expect("write");
    let bad_s = bad_file.display().to_string();
    let (code, _, err, _) = run(
        &["--timeout=60", "add-flows", "br0", &bad_s],
        dir.path(),
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("OFPBAC_BAD_OUT_GROUP"), "{err}");
    assert!(err.contains("OFPT_FLOW_MOD (OF1.3)"), "{err}");

    // A parse error sends nothing at all.
    let before = served.flow_count();
    std::fs::write(
        &bad_file,
        "priority=1,actions=drop\nnw_srcx=1,actions=drop\n",
    )
    .expect("write");
    let (code, _, err, _) = run(
        &["add-flows", "br0", &bad_s],
        dir.path(),
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains(":2: "), "{err}");
    assert_eq!(served.flow_count(), before);
}

/// `rvs-ofctl --bundle`: 20,000 flows in one atomic bundle land whole; a
/// bundle with one refused flow lands not at all, and the tool prints the
/// refused flow's error and fails (as `ovs-ofctl --bundle` does).
#[test]
fn add_flows_bundle_is_atomic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path());
    let n = 20_000u32;
    let text: String = (0..n)
        .map(|i| {
            format!(
                "priority=100,udp,tp_src={},tp_dst={},actions=output:2\n",
                i / 1000,
                i % 1000 + 1
            )
        })
        .collect();
    let file = dir.path().join("flows.txt");
    std::fs::write(&file, &text).expect("write flows");
    let file_s = file.display().to_string();
    let (code, out, err, _) = run(
        &["--timeout=300", "--bundle", "add-flows", "br0", &file_s],
        dir.path(),
        Duration::from_secs(400),
    );
    assert_eq!(code, Some(0), "--bundle add-flows failed: {out}{err}");
    assert_eq!(served.flow_count(), n as usize);

    let bad = "priority=5,in_port=7,actions=drop\ntable=5,priority=1,actions=group:4242\n";
    let bad_file = dir.path().join("bad.txt");
    std::fs::write(&bad_file, bad).expect("write");
    let bad_s = bad_file.display().to_string();
    let (code, _, err, _) = run(
        &["--timeout=60", "--bundle", "add-flows", "br0", &bad_s],
        dir.path(),
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("OFPBAC_BAD_OUT_GROUP"), "{err}");
    assert_eq!(
        served.flow_count(),
        n as usize,
        "nothing of the failed bundle stayed"
    );

    // del-flows --bundle empties the tables in one commit.
    let (code, out, err, _) = run(
        &["--timeout=60", "--bundle", "del-flows", "br0"],
        dir.path(),
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(served.flow_count(), 0);
}
