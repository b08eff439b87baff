//! The same scripted `ovs-ofctl` session run once with the real
//! `ovs-ofctl -O OpenFlow13` and once with `rvs-ofctl`, each against a
//! fresh switch: every command must print the same text (stdout and
//! stderr, durations normalized, the program name in fatal messages
//! aside) and exit the same way, and the final flow tables, groups and
//! meters must be identical.
//!
//! The switch is an in-memory `ofproto::switch::Switch` served by the
//! real channel layer (`ofproto::channel::ChannelHandle`) on a management
//! socket `<rundir>/br0.mgmt`, addressed by bridge name with `OVS_RUNDIR`
//! (each run has its own rundir and switch).  A second test watches
//! `monitor` print port-status and flow-removed messages as they arrive.
//!
//! Needs `ovs-ofctl`; fails without it unless `RVS_SKIP_SYSTEM_TESTS=1`.

#[path = "../../tools/src/ofctl/testswitch.rs"]
#[allow(dead_code, unreachable_pub)]
mod testswitch;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ofproto::channel::{ChannelConfig, ChannelHandle};

use ofproto::switch::{ConnCtx, Switch, SwitchSettings};
use ofproto::wire::message::{Body, Message};
use ofproto::wire::multipart::{
    FlowStatsRequest, MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody,
};
use ofproto::wire::oxm::Match;
use rvs_tests::ovs::require_program;

/// Path of `rvs-ofctl`: `$RVS_OFCTL`, or the binary in this test's target
/// directory, (re)built with cargo.
fn rvs_ofctl_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RVS_OFCTL") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "rvs-tools", "--bin", "rvs-ofctl"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let st = cmd.status().expect("running cargo build for rvs-ofctl");
    assert!(st.success(), "building rvs-ofctl failed");
    let bin = profile_dir.join("rvs-ofctl");
    assert!(bin.exists(), "{} missing after build", bin.display());
    bin
}

/// A switch with two ports, as both runs of the session start from.
fn fresh_switch() -> Switch {
    let mut sw = Switch::new(SwitchSettings::default());
    let mut out = Vec::new();
    for (no, name) in [(1u32, "p1"), (2, "p2")] {
        let desc = ofproto::wire::message::Port {
            port_no: no,
            hw_addr: [0x02, 0, 0, 0, 0, no as u8],
            name: name.into(),
            curr: 0x2820,
            curr_speed: 1_000_000,
            max_speed: 0,
            ..Default::default()
        };
        sw.add_port(desc, 0, &mut out);
    }
    sw
}

const FLOWS: &str = "\
# a comment, then flows of several tables
table=0,priority=100,tcp,in_port=1,tp_dst=80,actions=output:2
table=0,priority=90,udp,nw_dst=10.0.0.0/8,tp_dst=53,actions=mod_vlan_vid:10,output:2
cookie=0x10,table=0,priority=80,ip,nw_src=192.168.1.1,actions=goto_table:1
table=0,priority=70,arp,actions=normal
idle_timeout=300,hard_timeout=600,send_flow_rem,priority=60,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=flood

table=1,priority=10,ipv6,ipv6_src=2001:db8::/32,actions=drop
table=1,priority=5,actions=controller:128
";

const REPLACE: &str = "\
table=0,priority=100,tcp,in_port=1,tp_dst=80,actions=output:1
table=0,priority=70,arp,actions=normal
table=2,priority=1,actions=output:2
";

const GROUPS: &str = "\
group_id=10,type=all,bucket=output:1,bucket=output:2
group_id=11,type=indirect,bucket=actions=set_field:00:11:22:33:44:55->eth_dst,output:2
";

/// The session: each entry is the argument list after the program name;
/// `{sw}` is the switch, `{dir}` the temporary directory.
fn script() -> Vec<Vec<&'static str>> {
    vec![
        vec!["show", "{sw}"],
        vec!["dump-desc", "{sw}"],
        vec!["add-flow", "{sw}", "priority=1,actions=drop"],
        vec!["add-flows", "{sw}", "{dir}/flows.txt"],
        vec!["add-groups", "{sw}", "{dir}/groups.txt"],
        vec![
            "add-group",
            "{sw}",
            "group_id=1,type=select,bucket=weight:10,output:1,bucket=weight:20,actions=output:2",
        ],
        vec![
            "add-group",
            "{sw}",
            "group_id=2,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2",
        ],
        vec![
            "add-meter",
            "{sw}",
            "meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100",
        ],
        vec![
            "add-meter",
            "{sw}",
            "meter=2,pktps,bands=type=dscp_remark,rate=100,prec_level=1",
        ],
        vec![
            "add-flow",
            "{sw}",
            "table=3,priority=20,ip,actions=meter:1,group:1",
        ],
        vec![
            "add-flow",
            "{sw}",
            "table=3,priority=21,ip,actions=meter:2,group:10",
        ],
        // Errors from the switch: unknown group, unknown meter, duplicate group.
        vec!["add-flow", "{sw}", "table=3,priority=22,actions=group:99"],
        vec![
            "add-flow",
            "{sw}",
            "table=3,priority=23,actions=meter:99,output:1",
        ],
        vec!["add-group", "{sw}", "group_id=1,type=all,bucket=output:1"],
        vec!["dump-flows", "{sw}"],
        vec!["dump-flows", "{sw}", "table=0"],
        vec!["dump-flows", "{sw}", "tcp"],
        vec!["--no-stats", "dump-flows", "{sw}"],
        vec!["--sort", "dump-flows", "{sw}"],
        vec!["--rsort=priority", "dump-flows", "{sw}"],
        vec!["dump-aggregate", "{sw}"],
        vec!["dump-aggregate", "{sw}", "table=1"],
        vec!["mod-flows", "{sw}", "table=0,tcp,actions=output:1"],
        vec![
            "--strict",
            "mod-flows",
            "{sw}",
            "table=0,priority=70,arp,actions=drop",
        ],
        vec!["--strict", "del-flows", "{sw}", "table=1,priority=5"],
        vec![
            "del-flows",
            "{sw}",
            "--strict",
            "table=0,priority=60,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        ],
        vec!["del-flows", "{sw}", "table=1"],
        vec!["dump-flows", "{sw}"],
        vec!["dump-groups", "{sw}"],
        vec!["dump-group-stats", "{sw}"],
        vec!["dump-group-stats", "{sw}", "group_id=10"],
        vec!["mod-group", "{sw}", "group_id=10,type=all,bucket=output:2"],
        vec!["del-groups", "{sw}", "group_id=2"],
        vec!["dump-groups", "{sw}"],
        vec!["dump-meters", "{sw}"],
        vec!["meter-stats", "{sw}"],
        vec!["mod-meter", "{sw}", "meter=2,kbps,bands=type=drop,rate=50"],
        vec!["dump-meters", "{sw}", "meter=2"],
        vec!["meter-stats", "{sw}", "meter=1"],
        vec!["meter-features", "{sw}"],
        vec!["dump-tables", "{sw}"],
        vec!["dump-table-features", "{sw}"],
        vec!["dump-group-features", "{sw}"],
        vec!["dump-ports", "{sw}"],
        vec!["dump-ports", "{sw}", "2"],
        vec!["mod-port", "{sw}", "1", "down"],
        vec!["dump-ports-desc", "{sw}"],
        vec!["mod-port", "{sw}", "p1", "up"],
        vec!["replace-flows", "{sw}", "{dir}/replace.txt"],
        vec!["--no-stats", "--sort", "dump-flows", "{sw}"],
        vec!["diff-flows", "{sw}", "{dir}/replace.txt"],
        vec!["del-meter", "{sw}", "meter=2"],
        vec!["del-flows", "{sw}", "table=3"],
        vec!["del-meters", "{sw}"],
        vec!["probe", "{sw}"],
        vec!["dump-flows", "{sw}"],
        vec!["dump-meters", "{sw}"],
        vec!["dump-groups", "{sw}"],
    ]
}

/// Makes the two runs' text comparable: flow, port, group and meter
/// durations vary with timing, and fatal messages name the program.
fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines() {
        let line = line
            .replacen("ovs-ofctl: ", "OFCTL: ", 1)
            .replacen("rvs-ofctl: ", "OFCTL: ", 1);
        out.push_str(&mask_durations(&line));
        out.push('\n');
    }
    out
}

fn mask_durations(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("duration") {
        let (head, tail) = rest.split_at(i + "duration".len());
        out.push_str(head);
        let sep_len = usize::from(tail.starts_with('=') || tail.starts_with(':'));
        out.push_str(&tail[..sep_len]);
        let t = &tail[sep_len..];
        let n = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        if n > 0 && t[n..].starts_with('s') {
            out.push_str("<T>s");
            rest = &t[n + 1..];
        } else {
            rest = t;
        }
    }
    out.push_str(rest);
    out
}

/// Flows (durations zeroed), groups and meters of a switch, as the
/// switch's own replies.
fn switch_state(sw: &mut Switch) -> Vec<MultipartReplyBody> {
    let reqs = [
        MultipartRequestBody::Flow(FlowStatsRequest {
            table_id: 0xff,
            out_port: 0xffff_ffff,
            out_group: 0xffff_ffff,
            cookie: 0,
            cookie_mask: 0,
            match_: Match::default(),
        }),
        MultipartRequestBody::GroupDesc,
        MultipartRequestBody::MeterConfig(0xffff_ffff),
    ];
    let mut state = Vec::new();
    for body in reqs {
        let msg = Message::new(
            7,
            Body::MultipartRequest(MultipartRequest { flags: 0, body }),
        );
        let raw = msg.to_vec();
        let mut out = Vec::new();
        sw.handle_message(ConnCtx::default(), &msg, &raw, 0, &mut out);
        for m in out {
            if let Body::MultipartReply(MultipartReply { mut body, .. }) = m.body {
                if let MultipartReplyBody::Flow(list) = &mut body {
                    for f in list.iter_mut() {
                        f.duration_sec = 0;
                        f.duration_nsec = 0;
                    }
                }
                state.push(body);
            }
        }
    }
    state
}

struct Run {
    outputs: Vec<(String, String, Option<i32>)>,
    state: Vec<MultipartReplyBody>,
}

/// A program's output.
struct Output {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

/// Runs `program args` with `OVS_RUNDIR=rundir`, killed (by its own
/// handle) after `limit`.
fn run_tool(program: &Path, args: &[String], rundir: &Path, limit: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("OVS_RUNDIR", rundir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", program.display()));
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
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let st = child.wait().expect("wait");
            break st;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        code: status.code(),
    }
}

/// A fresh switch served by the channel layer on `<rundir>/br0.mgmt`.
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
        let switch = Arc::new(Mutex::new(fresh_switch()));
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

    /// Live connections on the management socket that finished the
    /// handshake.
    fn ready_conns(&self) -> usize {
        self.handle
            .as_ref()
            .map_or(0, |h| h.conn_stats().iter().filter(|c| c.ready).count())
    }

    fn state(&self) -> Vec<MultipartReplyBody> {
        let mut g = self.switch.lock().expect("switch lock");
        switch_state(&mut g)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

fn run_session(program: &Path, dir: &Path, name: &str) -> Run {
    let rundir = dir.join(name);
    std::fs::create_dir_all(&rundir).expect("rundir");
    let served = Served::start(&rundir);
    let dir_s = dir.display().to_string();
    let mut outputs = Vec::new();
    for step in script() {
        let mut args: Vec<String> = vec!["-O".into(), "OpenFlow13".into(), "--timeout=20".into()];
        args.extend(
            step.iter()
                .map(|a| a.replace("{sw}", "br0").replace("{dir}", &dir_s)),
        );
        let o = run_tool(program, &args, &rundir, Duration::from_secs(30));
        outputs.push((normalize(&o.stdout), normalize(&o.stderr), o.code));
    }
    let state = served.state();
    Run { outputs, state }
}

#[test]
fn same_session_same_text_same_tables() {
    let Some(ovs) = require_program("ovs-ofctl", "ofctl_session") else {
        return;
    };
    let rvs = rvs_ofctl_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("flows.txt"), FLOWS).expect("write flows");
    std::fs::write(dir.path().join("replace.txt"), REPLACE).expect("write flows");
    std::fs::write(dir.path().join("groups.txt"), GROUPS).expect("write groups");

    let real = run_session(&ovs, dir.path(), "ovs");
    let ours = run_session(&rvs, dir.path(), "rvs");

    // The transcript (shown with --nocapture or on failure).
    for (step, o) in script().iter().zip(&ours.outputs) {
        println!(
            "$ rvs-ofctl {}  (exit {:?})\n{}{}",
            step.join(" "),
            o.2,
            o.0,
            o.1
        );
    }
    let mut failures = Vec::new();
    for (i, (step, (a, b))) in script()
        .iter()
        .zip(real.outputs.iter().zip(&ours.outputs))
        .enumerate()
    {
        if a != b {
            failures.push(format!(
                "step {i} {step:?} differs:\n--- ovs-ofctl (exit {:?})\n{}{}--- rvs-ofctl (exit {:?})\n{}{}",
                a.2, a.0, a.1, b.2, b.0, b.1
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The script must have done something: flows, groups and meters were
    // added and some commands failed on purpose.
    assert!(real.outputs.iter().any(|o| o.2 == Some(1)));
    assert!(real.outputs.iter().any(|o| o.0.contains("group_id=10")));
    assert_eq!(real.state, ours.state, "final switch state differs");
    assert!(
        matches!(real.state.first(), Some(MultipartReplyBody::Flow(f)) if !f.is_empty()),
        "the session should leave flows behind"
    );
}

/// Runs `monitor br0 65534` with `program` (a service connection gets
/// asynchronous messages only with a miss length set, as in OVS) while the same program changes a
/// port and deletes a flow that asked for flow-removed messages; returns
/// what the monitor printed (on standard error, as ovs-ofctl does).
fn monitor_session(program: &Path, dir: &Path, name: &str) -> String {
    let rundir = dir.join(name);
    std::fs::create_dir_all(&rundir).expect("rundir");
    let served = Served::start(&rundir);
    let tool = |args: &[&str]| {
        let mut a: Vec<String> = vec!["-O".into(), "OpenFlow13".into(), "--timeout=20".into()];
        a.extend(args.iter().map(|s| s.to_string()));
        let o = run_tool(program, &a, &rundir, Duration::from_secs(30));
        assert_eq!(
            o.code,
            Some(0),
            "{} {args:?}: {}",
            program.display(),
            o.stderr
        );
    };
    tool(&[
        "add-flow",
        "br0",
        "send_flow_rem,priority=7,ip,actions=drop",
    ]);
    let mut child = Command::new(program)
        .args(["-O", "OpenFlow13", "monitor", "br0", "65534"])
        .env("OVS_RUNDIR", &rundir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn monitor");
    let text = Arc::new(Mutex::new(String::new()));
    let mut se = child.stderr.take().expect("stderr");
    let t2 = text.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut se, &mut buf) {
            if n == 0 {
                break;
            }
            let chunk = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
            t2.lock().expect("lock").push_str(&chunk);
        }
    });
    // Wait (bounded) until the monitor's connection is up.
    let until = Instant::now() + Duration::from_secs(20);
    while served.ready_conns() < 1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    tool(&["mod-port", "br0", "1", "down"]);
    tool(&["del-flows", "br0", "ip"]);
    let until = Instant::now() + Duration::from_secs(20);
    while !text.lock().expect("lock").contains("reason=delete") && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let out = text.lock().expect("lock").clone();
    normalize(&out)
}

#[test]
fn monitor_prints_port_status_and_flow_removed() {
    let Some(ovs) = require_program("ovs-ofctl", "ofctl_session") else {
        return;
    };
    let rvs = rvs_ofctl_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    let real = monitor_session(&ovs, dir.path(), "ovs-mon");
    let ours = monitor_session(&rvs, dir.path(), "rvs-mon");
    println!("ovs-ofctl monitor:\n{real}\nrvs-ofctl monitor:\n{ours}");
    assert!(
        real.contains("OFPT_PORT_STATUS"),
        "ovs-ofctl saw no port status:\n{real}"
    );
    assert!(
        real.contains("reason=delete"),
        "ovs-ofctl saw no flow removed:\n{real}"
    );
    assert_eq!(real, ours);
}

/// The same session against the real daemon: `rvs-vswitchd` in its own
/// network namespace with bridge `br0` and two veth ports `p1`/`p2`
/// (OpenFlow ports 1 and 2, fixed MACs, IPv6 off so that no kernel
/// chatter moves the counters), fresh for each tool.  The final state is
/// read with the real `ovs-ofctl`.
fn daemon_session(program: &Path, ovs: &Path, dir: &Path, tag: &str) -> (Run, String) {
    use rvs_tests::topo::Netns;
    use rvs_tests::vswitchd_support::Vswitchd;
    let ns = Netns::new(&format!("{}{tag}", rvs_tests::topo::unique_prefix())).expect("netns");
    for (i, name) in [(1, "p1"), (2, "p2")] {
        let peer = format!("{name}peer");
        ns.ip(&["link", "add", name, "type", "veth", "peer", "name", &peer])
            .expect("veth");
        ns.ip(&[
            "link",
            "set",
            name,
            "address",
            &format!("02:00:00:00:00:0{i}"),
        ])
        .expect("mac");
    }
    let sysctl = |key: &str| {
        let _ = ns.exec(
            "sysctl",
            &["-qw", &format!("{key}=1")],
            Duration::from_secs(10),
        );
    };
    sysctl("net.ipv6.conf.all.disable_ipv6");
    sysctl("net.ipv6.conf.default.disable_ipv6");
    let vs = Vswitchd::start(Some(ns.name())).expect("start rvs-vswitchd");
    vs.vsctl_ok(&["add-br", "br0"]).expect("add-br");
    for (i, name) in [(1, "p1"), (2, "p2")] {
        let req = format!("ofport_request={i}");
        vs.vsctl_ok(&[
            "add-port",
            "br0",
            name,
            "--",
            "set",
            "Interface",
            name,
            &req,
        ])
        .expect("add-port");
    }
    let rundir = vs.rundir();
    let dir_s = dir.display().to_string();
    let mut outputs = Vec::new();
    for step in script() {
        let mut args: Vec<String> = vec!["-O".into(), "OpenFlow13".into(), "--timeout=20".into()];
        args.extend(
            step.iter()
                .map(|a| a.replace("{sw}", "br0").replace("{dir}", &dir_s)),
        );
        let o = run_tool(program, &args, &rundir, Duration::from_secs(30));
        outputs.push((normalize(&o.stdout), normalize(&o.stderr), o.code));
    }
    let mut state = String::new();
    for cmd in [
        &["--no-stats", "--sort", "dump-flows", "br0"][..],
        &["dump-groups", "br0"],
        &["dump-meters", "br0"],
    ] {
        let mut a: Vec<String> = vec!["-O".into(), "OpenFlow13".into()];
        a.extend(cmd.iter().map(|s| s.to_string()));
        state.push_str(&run_tool(ovs, &a, &rundir, Duration::from_secs(30)).stdout);
    }
    drop(vs);
    drop(ns);
    (
        Run {
            outputs,
            state: Vec::new(),
        },
        state,
    )
}

#[test]
fn same_session_against_rvs_vswitchd() {
    if !rvs_tests::topo::require_system(
        "same_session_against_rvs_vswitchd",
        &["ip", "sysctl", "ovs-vsctl", "ovs-ofctl"],
    ) {
        return;
    }
    let Some(ovs) = require_program("ovs-ofctl", "ofctl_session") else {
        return;
    };
    let rvs = rvs_ofctl_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("flows.txt"), FLOWS).expect("write flows");
    std::fs::write(dir.path().join("replace.txt"), REPLACE).expect("write flows");
    std::fs::write(dir.path().join("groups.txt"), GROUPS).expect("write groups");
    let (real, real_state) = daemon_session(&ovs, &ovs, dir.path(), "o");
    let (ours, our_state) = daemon_session(&rvs, &ovs, dir.path(), "r");
    let mut failures = Vec::new();
    for (i, (step, (a, b))) in script()
        .iter()
        .zip(real.outputs.iter().zip(&ours.outputs))
        .enumerate()
    {
        if a != b {
            failures.push(format!(
                "step {i} {step:?} differs:\n--- ovs-ofctl (exit {:?})\n{}{}--- rvs-ofctl (exit {:?})\n{}{}",
                a.2, a.0, a.1, b.2, b.0, b.1
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(real.outputs.iter().any(|o| o.0.contains("group_id=10")));
    assert!(real_state.contains("actions="), "{real_state}");
    assert_eq!(real_state, our_state, "final daemon state differs");
}

/// Development aid (ignored): serves a fresh test switch on
/// `$RVS_OFCTL_DEV_SOCK` for at most ten minutes.
#[test]
#[ignore]
fn dev_serve() {
    let Some(path) = std::env::var_os("RVS_OFCTL_DEV_SOCK") else {
        return;
    };
    let _sw = testswitch::TestSwitch::serve(Path::new(&path), fresh_switch()).expect("serve");
    std::thread::sleep(Duration::from_secs(600));
}
