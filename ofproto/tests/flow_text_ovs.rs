//! The flow-text parser and printer against real `ovs-ofctl`.
//!
//! For every line of `tests/data/flows.txt`, real `ovs-ofctl -O
//! OpenFlow13 --no-names` sends its FLOW_MOD to a scripted switch on
//! 127.0.0.1 (HELLO, then FEATURES/ECHO/BARRIER answered); the test
//! checks that
//!
//! 1. our parser plus `FlowSpec::to_flow_mod` encodes the same bytes
//!    (the xid aside),
//! 2. `format_flow_mod` of our flow mod prints what `ovs-ofctl ofp-print`
//!    prints for OVS's bytes, and
//! 3. `format_flow_mod` of OVS's bytes decoded by our codec prints the same.
//!
//! Every line of `tests/data/flows_invalid.txt` must be refused both by
//! `ovs-ofctl -O OpenFlow13 parse-flow` and by our parser.
//!
//! Needs `ovs-ofctl`; fails without it unless `RVS_SKIP_SYSTEM_TESTS=1`.
//! Bounded: sockets have read timeouts, ovs-ofctl runs with `--timeout`,
//! the accept loop gives up after a few seconds, and each child is waited
//! for (killed by its own handle if it lingers).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ofproto::flow_text::{FlowCommand, format_flow, format_flow_mod, parse_flow};
use ofproto::wire::action::Action;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{Body, FlowMod, Message};
use ofproto::wire::multipart::{FlowStats, MultipartReply, MultipartReplyBody, OFPMPF_REPLY_MORE};

/// Header of OpenFlow 1.5's `packet_type` OXM (basic class, field 44).
const PACKET_TYPE_OXM: [u8; 4] = [0x80, 0x00, 0x58, 0x04];

fn have_ovs_ofctl() -> bool {
    let ok = Command::new("ovs-ofctl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() == Ok("1") {
            eprintln!("skipped: ovs-ofctl not found");
            return false;
        }
        panic!("ovs-ofctl not found: install openvswitch-common or set RVS_SKIP_SYSTEM_TESTS=1");
    }
    true
}

fn corpus(name: &str) -> Vec<String> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Splits an optional `@cmd ` prefix: our command and ovs-ofctl's args.
fn command_of(line: &str) -> (FlowCommand, Vec<&'static str>, &str) {
    for (prefix, cmd, args) in [
        (
            "@mod_strict",
            FlowCommand::ModifyStrict,
            vec!["mod-flows", "--strict"],
        ),
        ("@mod", FlowCommand::Modify, vec!["mod-flows"]),
        (
            "@del_strict",
            FlowCommand::DeleteStrict,
            vec!["del-flows", "--strict"],
        ),
        ("@del", FlowCommand::Delete, vec!["del-flows"]),
    ] {
        if let Some(rest) = line.strip_prefix(prefix) {
            if rest.is_empty() || rest.starts_with(' ') {
                return (cmd, args, rest.trim());
            }
        }
    }
    (FlowCommand::Add, vec!["add-flow"], line)
}

/// Kills and reaps the child if the test bails out early.
struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn read_msg(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).ok()?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if len < 8 {
        return None;
    }
    let mut m = h.to_vec();
    m.resize(len, 0);
    s.read_exact(&mut m[8..]).ok()?;
    Some(m)
}

fn reply(s: &mut TcpStream, ty: u8, xid: &[u8], body: &[u8]) {
    let len = u16::try_from(8 + body.len()).expect("short reply");
    let mut m = vec![4, ty];
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(xid);
    m.extend_from_slice(body);
    let _ = s.write_all(&m);
}

/// Runs ovs-ofctl with `args` + target + flow against a scripted switch;
/// returns the FLOW_MODs it sent, or its stderr if it failed.
fn capture(args: &[&str], flow: &str) -> Result<Vec<Vec<u8>>, String> {
    capture_with(args, flow, &[]).map(|(mods, _)| mods)
}

/// As [`capture`], answering a multipart request with `replies` (their
/// xid replaced by the request's); also returns ovs-ofctl's stdout.
fn capture_with(
    args: &[&str],
    flow: &str,
    replies: &[Message],
) -> Result<(Vec<Vec<u8>>, String), String> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let target = format!("tcp:127.0.0.1:{port}");
    let mut cmd = Command::new("ovs-ofctl");
    cmd.args(["-O", "OpenFlow13", "--no-names", "--timeout=10"]);
    cmd.args(args).arg(&target);
    if !flow.is_empty() {
        cmd.arg(flow);
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ovs-ofctl");
    let mut child = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = None;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((s, _)) => {
                conn = Some(s);
                break;
            }
            Err(_) => {
                if let Ok(Some(_)) = child.0.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    let mut flow_mods = Vec::new();
    if let Some(mut s) = conn {
        s.set_nonblocking(false).expect("blocking");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        reply(&mut s, 0, &[0, 0, 0, 1], &[]); // HELLO
        while let Some(m) = read_msg(&mut s) {
            let xid = &m[4..8];
            match m[1] {
                2 => reply(&mut s, 3, xid, &m[8..]), // echo
                5 => {
                    // features: datapath id 1, no buffers, 1 table
                    let mut body = vec![0, 0, 0, 0, 0, 0, 0, 1];
                    body.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                    reply(&mut s, 6, xid, &body);
                }
                14 => flow_mods.push(m),
                18 => {
                    let xid = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
                    for r in replies {
                        let mut b = BytesMut::new();
                        Message::new(xid, r.body.clone()).encode(&mut b);
                        let _ = s.write_all(&b);
                    }
                }
                20 => reply(&mut s, 21, xid, &[]), // barrier
                _ => {}
            }
        }
    }
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut o) = child.0.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = child.0.wait().expect("wait ovs-ofctl");
    if status.success() {
        Ok((flow_mods, out))
    } else {
        Err(err)
    }
}

fn ofp_print(msg: &[u8]) -> String {
    let hex: String = msg.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new("ovs-ofctl")
        .args(["ofp-print", &hex])
        .output()
        .expect("run ovs-ofctl ofp-print");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").trim_end();
    match line.split_once("): ") {
        Some((_, rest)) => rest.to_string(),
        None => format!("<unexpected ofp-print output: {text}>"),
    }
}

#[test]
fn corpus_matches_ovs_ofctl_bytes_and_text() {
    if !have_ovs_ofctl() {
        return;
    }
    let lines = corpus("flows.txt");
    assert!(lines.len() >= 150, "corpus too small: {}", lines.len());
    let (mut bytes_ok, mut text_ok, mut decoded_ok) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut codec_gaps = Vec::new();
    let mut installed = Vec::new();
    for line in &lines {
        let (command, args, flow) = command_of(line);
        let theirs = match capture(&args, flow) {
            Ok(mut v) if v.len() == 1 => v.remove(0),
            Ok(v) => {
                failures.push(format!("{line}: ovs-ofctl sent {} flow mods", v.len()));
                continue;
            }
            Err(e) => {
                failures.push(format!("{line}: ovs-ofctl refused it: {}", e.trim()));
                continue;
            }
        };
        let spec = match parse_flow(flow, command) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{line}: we refused it: {e}"));
                continue;
            }
        };
        let xid = u32::from_be_bytes([theirs[4], theirs[5], theirs[6], theirs[7]]);
        let ours_fm = spec.to_flow_mod();
        let mut ours = BytesMut::new();
        Message::new(xid, Body::FlowMod(ours_fm.clone())).encode(&mut ours);
        if ours[..] == theirs[..] {
            bytes_ok += 1;
            if matches!(command, FlowCommand::Add) {
                installed.push(ours_fm.clone());
            }
        } else {
            failures.push(format!(
                "{line}: bytes differ\n  ovs:  {}\n  ours: {}",
                hex::encode(&theirs),
                hex::encode(&ours)
            ));
        }
        let want = ofp_print(&theirs);
        let got = format_flow_mod(&ours_fm);
        if got == want {
            text_ok += 1;
        } else {
            failures.push(format!(
                "{line}: text differs\n  ovs:  {want}\n  ours: {got}"
            ));
        }
        match Message::decode(&theirs) {
            Ok(Message {
                body: Body::FlowMod(fm),
                ..
            }) => {
                let got = format_flow_mod(&fm);
                if got == want {
                    decoded_ok += 1;
                } else {
                    failures.push(format!(
                        "{line}: text of decoded OVS bytes differs\n  ovs:  {want}\n  ours: {got}"
                    ));
                }
            }
            Err(e) if theirs.windows(4).any(|w| w == PACKET_TYPE_OXM) => {
                // Known gap of the wire codec (not this module): OVS sends
                // OpenFlow 1.5's packet_type OXM in 1.3 flow mods when a
                // field with prerequisites is given without an ethertype.
                codec_gaps.push(format!("{line}: {e}"));
            }
            other => failures.push(format!("{line}: our codec decoded OVS bytes as {other:?}")),
        }
    }
    eprintln!(
        "flow_text corpus: {} flows; bytes identical {bytes_ok}, text identical {text_ok}, \
         text from decoded OVS bytes identical {decoded_ok}; \
         OVS bytes our codec cannot decode (packet_type OXM) {}",
        lines.len(),
        codec_gaps.len()
    );
    for g in &codec_gaps {
        eprintln!("  codec gap: {g}");
    }
    let dump_ok = check_dump_flows(&installed, &mut failures);
    eprintln!(
        "flow_text dump-flows: {} flows shown by ovs-ofctl dump-flows, {dump_ok} identical to format_flow",
        installed.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Serves `flows` as a flow-stats reply to real `ovs-ofctl dump-flows`
/// and checks that each line, counters aside, is our `format_flow`.
fn check_dump_flows(flows: &[FlowMod], failures: &mut Vec<String>) -> usize {
    let stats: Vec<FlowStats> = flows
        .iter()
        .map(|fm| FlowStats {
            table_id: 0,
            duration_sec: 0,
            duration_nsec: 0,
            priority: fm.priority,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            cookie: 0,
            packet_count: 0,
            byte_count: 0,
            match_: fm.match_.clone(),
            instructions: fm.instructions.clone(),
        })
        .collect();
    let chunks: Vec<&[FlowStats]> = stats.chunks(50).collect();
    let replies: Vec<Message> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let more = i + 1 < chunks.len();
            Message::new(
                0,
                Body::MultipartReply(MultipartReply {
                    flags: if more { OFPMPF_REPLY_MORE } else { 0 },
                    body: MultipartReplyBody::Flow(c.to_vec()),
                }),
            )
        })
        .collect();
    let out = match capture_with(&["dump-flows"], "", &replies) {
        Ok((_, out)) => out,
        Err(e) => {
            failures.push(format!("dump-flows failed: {e}"));
            return 0;
        }
    };
    const PREFIX: &str = "cookie=0x0, duration=0s, table=0, n_packets=0, n_bytes=0, ";
    let shown: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(PREFIX))
        .collect();
    if shown.len() != flows.len() {
        failures.push(format!(
            "dump-flows showed {} of {} flows:\n{out}",
            shown.len(),
            flows.len()
        ));
    }
    let mut ok = 0;
    for (fm, want) in flows.iter().zip(shown) {
        let got = format_flow(fm.priority, &fm.match_, &fm.instructions);
        if got == want {
            ok += 1;
        } else {
            failures.push(format!(
                "dump-flows text differs\n  ovs:  {want}\n  ours: {got}"
            ));
        }
    }
    ok
}

#[test]
fn invalid_corpus_is_refused_by_both() {
    if !have_ovs_ofctl() {
        return;
    }
    let lines = corpus("flows_invalid.txt");
    let mut failures = Vec::new();
    for line in &lines {
        let ovs = Command::new("ovs-ofctl")
            .args(["-O", "OpenFlow13", "parse-flow", line])
            .output()
            .expect("run ovs-ofctl parse-flow");
        if ovs.status.success() {
            failures.push(format!("{line}: ovs-ofctl accepts it (fix the corpus)"));
        }
        if let Ok(spec) = parse_flow(line, FlowCommand::Add) {
            failures.push(format!("{line}: we accept it as {spec:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// OVS's text shows max_len only for CONTROLLER (`enqueue` sends 65535 to
/// other ports), so that is the one thing a re-parse cannot restore.
fn norm(list: &[Instruction]) -> Vec<Instruction> {
    let fix = |a: &Action| match a {
        Action::Output { port, .. } if *port != 0xffff_fffd => Action::Output {
            port: *port,
            max_len: 0,
        },
        other => other.clone(),
    };
    list.iter()
        .map(|i| match i {
            Instruction::ApplyActions(l) => Instruction::ApplyActions(l.iter().map(fix).collect()),
            Instruction::WriteActions(l) => Instruction::WriteActions(l.iter().map(fix).collect()),
            other => other.clone(),
        })
        .collect()
}

/// Without ovs-ofctl: what the printer writes parses back to the same
/// match (OVS's implicit packet_type entry aside), priority and
/// instructions, for every add/modify line of the corpus.
#[test]
fn printed_text_parses_back_to_the_same_flow() {
    let strip = |m: &ofproto::wire::oxm::Match| {
        m.fields
            .iter()
            .filter(|f| f.header().0 != u32::from_be_bytes(PACKET_TYPE_OXM))
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut checked = 0;
    for line in corpus("flows.txt") {
        let (command, _, flow) = command_of(&line);
        if !matches!(
            command,
            FlowCommand::Add | FlowCommand::Modify | FlowCommand::ModifyStrict
        ) {
            continue;
        }
        let fm = parse_flow(flow, command)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .to_flow_mod();
        let text = format_flow(fm.priority, &fm.match_, &fm.instructions);
        if text.contains("load:") {
            // OVS prints masked set_field as Nicira `load`, which this
            // parser (load-free by design) does not read.
            continue;
        }
        let again = parse_flow(&text, FlowCommand::Add)
            .unwrap_or_else(|e| panic!("{line}: printed as {text:?}, which fails: {e}"))
            .to_flow_mod();
        assert_eq!(strip(&again.match_), strip(&fm.match_), "{line} -> {text}");
        assert_eq!(again.priority, fm.priority, "{line} -> {text}");
        assert_eq!(
            norm(&again.instructions),
            norm(&fm.instructions),
            "{line} -> {text}"
        );
        checked += 1;
    }
    assert!(checked >= 150, "only {checked} lines checked");
}
