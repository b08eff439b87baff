//! Drives the switch core with the requests real `ovs-ofctl` sent (the
//! captures in `tests/vectors/`), checks each gets the answer its type
//! calls for, and that `ovs-ofctl ofp-print` decodes every reply.
//!
//! Needs `ovs-ofctl`; fails without it unless `RVS_SKIP_SYSTEM_TESTS=1`
//! (then only the in-memory part runs).

use std::process::Command;

use ofproto::switch::{ConnCtx, Switch, SwitchSettings};
use ofproto::wire::message::{Port, group_mod_command, group_type, meter_mod_command};
use ofproto::wire::{Body, Message, MsgType};

/// The messages of one vector file, in order.
fn vector_files() -> Vec<(String, Vec<Vec<u8>>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    let mut files = Vec::new();
    for e in entries {
        let text = std::fs::read_to_string(e.path()).expect("vector file");
        let mut msgs = Vec::new();
        let mut cur = String::new();
        for line in text.lines().chain(std::iter::once("")) {
            if line.starts_with('#') || line.trim().is_empty() {
                if !cur.is_empty() {
                    msgs.push(hex::decode(&cur).expect("vector hex"));
                    cur.clear();
                }
            } else {
                cur.push_str(line.trim());
            }
        }
        files.push((e.file_name().to_string_lossy().into_owned(), msgs));
    }
    assert!(
        files.len() > 60,
        "expected the golden vectors in {}",
        dir.display()
    );
    files
}

fn have_ovs_ofctl() -> bool {
    let ok = Command::new("ovs-ofctl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() == Ok("1") {
            eprintln!("skipped: ovs-ofctl not found (ofp-print checks)");
            return false;
        }
        panic!("ovs-ofctl not found: install openvswitch-common or set RVS_SKIP_SYSTEM_TESTS=1");
    }
    true
}

/// A switch the captured commands can act on: ports 1 and 2 with the
/// addresses the captures' `PORT_MOD`s name, groups 1..=8 and meters 1..=8.
fn prepared_switch(port_mods: &[Port], msgs: &[Vec<u8>]) -> Switch {
    // Groups and meters the file itself adds are left to it.
    let added: Vec<Body> = msgs
        .iter()
        .filter_map(|raw| Message::decode(raw).ok().map(|m| m.body))
        .collect();
    let adds_group = |id: u32| {
        added.iter().any(
            |b| matches!(b, Body::GroupMod(g) if g.group_id == id && g.command == group_mod_command::ADD),
        )
    };
    let adds_meter = |id: u32| {
        added.iter().any(
            |b| matches!(b, Body::MeterMod(m) if m.meter_id == id && m.command == meter_mod_command::ADD),
        )
    };
    let mut sw = Switch::new(SwitchSettings::default());
    let mut out = Vec::new();
    for n in 1..=4u32 {
        let hw = port_mods
            .iter()
            .find(|p| p.port_no == n)
            .map_or([2, 0, 0, 0, 0, n as u8], |p| p.hw_addr);
        sw.add_port(
            Port {
                port_no: n,
                hw_addr: hw,
                name: format!("p{n}"),
                ..Port::default()
            },
            0,
            &mut out,
        );
    }
    for id in 1..=8u32 {
        if adds_group(id) {
            continue;
        }
        let g = ofproto::wire::message::GroupMod {
            command: group_mod_command::ADD,
            group_type: group_type::ALL,
            group_id: id,
            buckets: vec![],
        };
        let raw = Message::new(1, Body::GroupMod(g)).to_vec();
        sw.handle(ConnCtx::default(), &raw, 0, &mut out);
    }
    for id in 1..=8u32 {
        if adds_meter(id) {
            continue;
        }
        let m = ofproto::wire::message::MeterMod {
            command: meter_mod_command::ADD,
            flags: 1,
            meter_id: id,
            bands: vec![ofproto::wire::multipart::MeterBand::Drop {
                rate: 1000,
                burst_size: 0,
            }],
        };
        let raw = Message::new(1, Body::MeterMod(m)).to_vec();
        sw.handle(ConnCtx::default(), &raw, 0, &mut out);
    }
    assert!(
        out.iter().all(|m| !matches!(m.body, Body::Error(_))),
        "{out:?}"
    );
    sw
}

/// True if `ovs-ofctl ofp-print` decodes `msg` without complaint.
fn ofp_print_ok(msg: &[u8]) -> Result<(), String> {
    let hex: String = msg.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new("ovs-ofctl")
        .args(["ofp-print", &hex])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() || text.contains("decode error") {
        return Err(format!("{text}{err}"));
    }
    Ok(())
}

#[test]
fn golden_requests_get_answers_ofp_print_accepts() {
    let check_print = have_ovs_ofctl();
    let files = vector_files();
    // The PORT_MODs carry the addresses the capture switch reported.
    let port_mods: Vec<Port> = files
        .iter()
        .flat_map(|(_, msgs)| msgs.iter())
        .filter_map(|raw| match Message::decode(raw) {
            Ok(Message {
                body: Body::PortMod(pm),
                ..
            }) => Some(Port {
                port_no: pm.port_no,
                hw_addr: pm.hw_addr,
                ..Port::default()
            }),
            _ => None,
        })
        .collect();
    let mut replies = Vec::new();
    let mut problems = Vec::new();
    let mut requests = 0;
    for (name, msgs) in &files {
        let mut sw = prepared_switch(&port_mods, msgs);
        for raw in msgs {
            let Ok(req) = Message::decode(raw) else {
                problems.push(format!("{name}: request does not decode"));
                continue;
            };
            let t = req.body.msg_type();
            if t == MsgType::HELLO {
                continue;
            }
            requests += 1;
            let mut out = Vec::new();
            sw.handle(ConnCtx::default(), raw, 1000, &mut out);
            for m in &out {
                if m.xid == req.xid
                    && let Body::Error(e) = &m.body
                {
                    problems.push(format!(
                        "{name}: {t:?} answered with {:?}",
                        e.to_ofp_error()
                    ));
                }
            }
            let wants_reply = matches!(
                t,
                MsgType::ECHO_REQUEST
                    | MsgType::FEATURES_REQUEST
                    | MsgType::GET_CONFIG_REQUEST
                    | MsgType::MULTIPART_REQUEST
                    | MsgType::BARRIER_REQUEST
                    | MsgType::QUEUE_GET_CONFIG_REQUEST
            );
            if wants_reply && !out.iter().any(|m| m.xid == req.xid) {
                problems.push(format!("{name}: {t:?} got no reply"));
            }
            replies.extend(out.iter().map(Message::to_vec));
        }
    }
    assert!(requests > 80, "only {requests} requests");
    // What this switch answers differently from Open vSwitch, on purpose:
    // Nicira experimenter actions are not supported, and there are no queues.
    let expected = [
        "flow-experimenter-action.hex: OFPT_FLOW_MOD answered with OFPET_BAD_ACTION/BAD_EXPERIMENTER",
        "queue-stats-one.hex: OFPT_MULTIPART_REQUEST answered with OFPET_QUEUE_OP_FAILED/BAD_QUEUE",
    ];
    problems.retain(|p| !expected.contains(&p.as_str()));
    assert!(problems.is_empty(), "{problems:#?}");
    if check_print {
        // Identical replies (barriers, PORT_STATUS, ...) are printed once.
        let distinct: std::collections::BTreeSet<&Vec<u8>> = replies.iter().collect();
        let bad: Vec<String> = distinct
            .into_iter()
            .filter_map(|r| ofp_print_ok(r).err())
            .collect();
        assert!(bad.is_empty(), "ofp-print rejected: {bad:#?}");
    }
    eprintln!("{requests} requests, {} replies checked", replies.len());
}
