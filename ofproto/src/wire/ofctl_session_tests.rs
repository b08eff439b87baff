//! `ovs-ofctl` talks to a scripted switch built on this codec (included
//! from `framing.rs`).
//!
//! Each test runs one real `ovs-ofctl -O OpenFlow13 COMMAND tcp:127.0.0.1:P`
//! against a loopback listener that frames with [`OfpCodec`], decodes every
//! message OVS sends, checks it re-encodes to the identical bytes, and
//! answers requests with replies encoded by this codec.  The command's
//! output then shows that OVS understood those replies.  So every request
//! type OVS emits is decoded exactly, and every reply type we emit is
//! accepted by OVS.
//!
//! Needs `ovs-ofctl`; fails without it unless `RVS_SKIP_SYSTEM_TESTS=1`.
//! Bounded: every socket read has a timeout, ovs-ofctl runs with
//! `--timeout`, and the child is killed (by its own handle) if it lingers.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::OfpCodec;
use crate::wire::action::Action;
use crate::wire::consts::{group, port};
use crate::wire::instruction::Instruction;
use crate::wire::message::tests::{sample_match, sample_port};
use crate::wire::message::*;
use crate::wire::multipart::*;
use crate::wire::oxm::{BasicField, OxmId};
use crate::wire::table_features::{TableFeatureProp, TableFeatures, TypeId};

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

fn reply_body(req: &MultipartRequestBody) -> MultipartReplyBody {
    match req {
        MultipartRequestBody::Desc => MultipartReplyBody::Desc(Desc {
            mfr_desc: "rvs project".into(),
            hw_desc: "rvs userspace".into(),
            sw_desc: "0.1".into(),
            serial_num: "None".into(),
            dp_desc: "scripted".into(),
        }),
        MultipartRequestBody::Flow(_) => MultipartReplyBody::Flow(vec![FlowStats {
            table_id: 0,
            duration_sec: 2,
            duration_nsec: 0,
            priority: 10,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            cookie: 0x77,
            packet_count: 4,
            byte_count: 400,
            match_: sample_match(),
            instructions: vec![Instruction::ApplyActions(vec![Action::Output {
                port: 2,
                max_len: 0,
            }])],
        }]),
        MultipartRequestBody::Aggregate(_) => MultipartReplyBody::Aggregate(AggregateStats {
            packet_count: 11,
            byte_count: 1100,
            flow_count: 3,
        }),
        MultipartRequestBody::Table => MultipartReplyBody::Table(vec![TableStats {
            table_id: 0,
            active_count: 3,
            lookup_count: 50,
            matched_count: 40,
        }]),
        MultipartRequestBody::PortStats(_) => MultipartReplyBody::PortStats(vec![PortStats {
            port_no: 7,
            rx_packets: 123,
            tx_packets: 456,
            ..Default::default()
        }]),
        MultipartRequestBody::Queue { .. } => MultipartReplyBody::Queue(vec![QueueStats {
            port_no: 7,
            queue_id: 1,
            tx_bytes: 99,
            tx_packets: 9,
            ..Default::default()
        }]),
        MultipartRequestBody::Group(_) => MultipartReplyBody::Group(vec![GroupStats {
            group_id: 1,
            ref_count: 0,
            packet_count: 5,
            byte_count: 500,
            duration_sec: 1,
            duration_nsec: 0,
            bucket_stats: vec![Counter {
                packet_count: 5,
                byte_count: 500,
            }],
        }]),
        MultipartRequestBody::GroupDesc => MultipartReplyBody::GroupDesc(vec![GroupDesc {
            group_type: group_type::ALL,
            group_id: 1,
            buckets: vec![Bucket {
                weight: 0,
                watch_port: port::ANY,
                watch_group: group::ANY,
                actions: vec![Action::Output {
                    port: 1,
                    max_len: 0,
                }],
            }],
        }]),
        MultipartRequestBody::GroupFeatures => MultipartReplyBody::GroupFeatures(GroupFeatures {
            types: 0xf,
            capabilities: 0x3,
            max_groups: [100, 100, 100, 100],
            actions: [1, 1, 1, 1],
        }),
        MultipartRequestBody::Meter(_) => MultipartReplyBody::Meter(vec![MeterStats {
            meter_id: 1,
            flow_count: 1,
            packet_in_count: 8,
            byte_in_count: 800,
            duration_sec: 3,
            duration_nsec: 0,
            band_stats: vec![Counter {
                packet_count: 2,
                byte_count: 200,
            }],
        }]),
        MultipartRequestBody::MeterConfig(_) => {
            MultipartReplyBody::MeterConfig(vec![MeterConfig {
                flags: meter_flags::KBPS,
                meter_id: 1,
                bands: vec![MeterBand::Drop {
                    rate: 100,
                    burst_size: 0,
                }],
            }])
        }
        MultipartRequestBody::MeterFeatures => MultipartReplyBody::MeterFeatures(MeterFeatures {
            max_meter: 64,
            band_types: 0b110,
            capabilities: 0b1111,
            max_bands: 2,
            max_color: 0,
        }),
        MultipartRequestBody::TableFeatures(_) => {
            MultipartReplyBody::TableFeatures(vec![TableFeatures {
                table_id: 0,
                name: "classifier".into(),
                metadata_match: u64::MAX,
                metadata_write: u64::MAX,
                config: 0,
                max_entries: 4096,
                properties: vec![
                    TableFeatureProp::Instructions {
                        miss: false,
                        ids: vec![TypeId::new(1), TypeId::new(4)],
                    },
                    TableFeatureProp::NextTables {
                        miss: false,
                        tables: vec![1],
                    },
                    TableFeatureProp::WriteActions {
                        miss: false,
                        ids: vec![TypeId::new(0)],
                    },
                    TableFeatureProp::ApplyActions {
                        miss: false,
                        ids: vec![TypeId::new(0)],
                    },
                    TableFeatureProp::Match(vec![OxmId::basic(BasicField::IN_PORT)]),
                    TableFeatureProp::Wildcards(vec![OxmId::basic(BasicField::IN_PORT)]),
                    TableFeatureProp::WriteSetfield {
                        miss: false,
                        ids: vec![OxmId::basic(BasicField::ETH_DST)],
                    },
                    TableFeatureProp::ApplySetfield {
                        miss: false,
                        ids: vec![OxmId::basic(BasicField::ETH_DST)],
                    },
                ],
            }])
        }
        MultipartRequestBody::PortDesc => MultipartReplyBody::PortDesc(vec![sample_port()]),
        MultipartRequestBody::Experimenter {
            experimenter,
            exp_type,
            ..
        } => MultipartReplyBody::Experimenter {
            experimenter: *experimenter,
            exp_type: *exp_type,
            data: vec![],
        },
    }
}

/// What the scripted switch answers to `m`, if anything.
fn answer(m: &Message, config: &mut SwitchConfig) -> Option<Body> {
    Some(match &m.body {
        Body::SetConfig(c) => {
            *config = c.clone();
            return None;
        }
        Body::EchoRequest(d) => Body::EchoReply(d.clone()),
        Body::FeaturesRequest => Body::FeaturesReply(FeaturesReply {
            datapath_id: 0xabc,
            n_buffers: 0,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: capabilities::FLOW_STATS | capabilities::PORT_STATS,
            reserved: 0,
        }),
        Body::GetConfigRequest => Body::GetConfigReply(config.clone()),
        Body::BarrierRequest => Body::BarrierReply,
        Body::QueueGetConfigRequest(p) => Body::QueueGetConfigReply(QueueGetConfigReply {
            port: *p,
            queues: vec![PacketQueue {
                queue_id: 1,
                port: 7,
                properties: vec![QueueProp::MinRate(200), QueueProp::MaxRate(800)],
            }],
        }),
        Body::RoleRequest(r) => Body::RoleReply(r.clone()),
        Body::GetAsyncRequest => Body::GetAsyncReply(AsyncConfig::default()),
        Body::MultipartRequest(r) => Body::MultipartReply(MultipartReply {
            flags: 0,
            body: reply_body(&r.body),
        }),
        _ => return None,
    })
}

/// Serves one connection: says hello, decodes and checks every message,
/// answers requests, until the peer closes.
fn serve(mut sock: TcpStream, seen: &mut Vec<Message>) {
    sock.set_nonblocking(false).expect("blocking");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut out = BytesMut::new();
    encode(
        &Message::new(1, Body::Hello(Hello::with_versions(&[4]))),
        &mut out,
    );
    sock.write_all(&out).expect("send hello");
    let mut codec = OfpCodec::new();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let mut config = SwitchConfig {
        flags: config_flags::FRAG_DROP,
        miss_send_len: 128,
    };
    // Bounded: at most 200 reads, each with a timeout.
    for _ in 0..200 {
        let n = match sock.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(frame) = codec.decode(&mut buf).expect("framing") {
            let m = frame
                .msg
                .unwrap_or_else(|e| panic!("cannot decode {:02x?}: {e}", &frame.raw[..]));
            assert_eq!(
                m.to_vec(),
                frame.raw.to_vec(),
                "re-encoding differs for {m:?}"
            );
            if let Some(body) = answer(&m, &mut config) {
                let mut out = BytesMut::new();
                encode(&Message::new(m.xid, body), &mut out);
                // The peer may already have gone.
                let _ = sock.write_all(&out);
            }
            seen.push(m);
        }
    }
}

/// Runs `ovs-ofctl -O OpenFlow13 <cmd> tcp:... <args>` against the
/// scripted switch.  Returns ovs-ofctl's stdout and every message it sent.
fn session(protocols: &str, cmd: &str, args: &[&str]) -> (String, Vec<Message>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let done = Arc::new(AtomicBool::new(false));
    let server_done = Arc::clone(&done);
    // ovs-ofctl may open several connections in turn (e.g. one to learn
    // port names); serve them one after the other until it exits.
    let server = std::thread::spawn(move || {
        let mut seen = Vec::new();
        // Bounded: at most 20 s of polling.
        for _ in 0..2000 {
            match listener.accept() {
                Ok((sock, _)) => serve(sock, &mut seen),
                Err(_) if server_done.load(Ordering::SeqCst) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        seen
    });
    let target = format!("tcp:{addr}");
    let mut child = Command::new("ovs-ofctl")
        .args(["-O", protocols, "--timeout=10", cmd, &target])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ovs-ofctl");
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().expect("wait ovs-ofctl");
    done.store(true, Ordering::SeqCst);
    let seen = server.join().expect("scripted switch panicked");
    assert!(
        status.success(),
        "ovs-ofctl {cmd} {args:?} failed: {stderr}\n{stdout}\nsent: {seen:#?}"
    );
    (stdout, seen)
}

fn run(cmd: &str, args: &[&str], expect: &[&str]) -> Vec<Message> {
    let (out, seen) = session("OpenFlow13", cmd, args);
    for e in expect {
        assert!(
            out.contains(e),
            "ovs-ofctl {cmd} output lacks {e:?}:\n{out}"
        );
    }
    seen
}

#[test]
fn ofctl_stats_commands_against_scripted_switch() {
    if !have_ovs_ofctl() {
        return;
    }
    run(
        "dump-desc",
        &[],
        &["Manufacturer: rvs project", "DP Description: scripted"],
    );
    let seen = run(
        "dump-flows",
        &["ip,in_port=1,nw_src=10.0.0.0/8"],
        &[
            "cookie=0x77",
            "n_packets=4, n_bytes=400",
            "priority=10,ip,in_port=1,nw_src=10.0.0.0/8 actions=output:2",
        ],
    );
    assert!(seen.iter().any(|m| matches!(
        &m.body,
        Body::MultipartRequest(MultipartRequest { body: MultipartRequestBody::Flow(f), .. })
            if f.match_ == sample_match()
    )));
    run(
        "dump-aggregate",
        &[],
        &["packet_count=11 byte_count=1100 flow_count=3"],
    );
    run("dump-tables", &[], &["active=3, lookup=50, matched=40"]);
    run(
        "dump-table-features",
        &[],
        &[
            "table 0 (\"classifier\")",
            "max_entries=4096",
            "next tables: 1",
        ],
    );
    run("dump-ports", &[], &["rx pkts=123", "tx pkts=456"]);
    run(
        "dump-ports-desc",
        &[],
        &["7(veth7): addr:02:00:00:00:00:07"],
    );
    run(
        "dump-groups",
        &[],
        &["group_id=1,type=all,bucket=actions=output:1"],
    );
    run(
        "dump-group-stats",
        &[],
        &["group_id=1", "packet_count=5,byte_count=500"],
    );
    run("dump-group-features", &[], &["max_groups=0x64"]);
    run("queue-stats", &[], &["queue 1: bytes=99, pkts=9"]);
    run(
        "queue-get-config",
        &["7"],
        &["queue 1:", "min_rate:20.0%", "max_rate:80.0%"],
    );
    run(
        "dump-meters",
        &[],
        &["meter=1 kbps bands=", "type=drop rate=100"],
    );
    run(
        "meter-stats",
        &[],
        &["meter:1 flow_count:1 packet_in_count:8 byte_in_count:800"],
    );
    run("meter-features", &[], &["max_meter:64 max_bands:2"]);
    run("get-frags", &[], &["drop"]);
}

#[test]
fn ofctl_modify_commands_send_what_we_decode() {
    if !have_ovs_ofctl() {
        return;
    }
    let seen = run(
        "add-flow",
        &["priority=5,ip,nw_dst=10.1.0.0/16,actions=output:3"],
        &[],
    );
    let fm = seen
        .iter()
        .find_map(|m| match &m.body {
            Body::FlowMod(f) => Some(f.clone()),
            _ => None,
        })
        .expect("a FLOW_MOD");
    assert_eq!(fm.priority, 5);
    assert_eq!(fm.command, flow_mod_command::ADD);
    assert_eq!(
        fm.instructions,
        vec![Instruction::ApplyActions(vec![Action::Output {
            port: 3,
            max_len: 0
        }])]
    );
    let seen = run(
        "add-group",
        &["group_id=4,type=select,bucket=weight:2,output:1,bucket=weight:3,output:2"],
        &[],
    );
    let gm = seen
        .iter()
        .find_map(|m| match &m.body {
            Body::GroupMod(g) => Some(g.clone()),
            _ => None,
        })
        .expect("a GROUP_MOD");
    assert_eq!((gm.group_id, gm.group_type), (4, group_type::SELECT));
    assert_eq!(
        gm.buckets.iter().map(|b| b.weight).collect::<Vec<_>>(),
        [2, 3]
    );
    let seen = run(
        "add-meter",
        &["meter=2,pktps,burst,stats,bands=type=dscp_remark,rate=50,burst_size=5,prec_level=1"],
        &[],
    );
    let mm = seen
        .iter()
        .find_map(|m| match &m.body {
            Body::MeterMod(m) => Some(m.clone()),
            _ => None,
        })
        .expect("a METER_MOD");
    assert_eq!(
        mm.bands,
        vec![MeterBand::DscpRemark {
            rate: 50,
            burst_size: 5,
            prec_level: 1
        }]
    );
    let seen = run("mod-port", &["7", "down"], &[]);
    let pm = seen
        .iter()
        .find_map(|m| match &m.body {
            Body::PortMod(p) => Some(p.clone()),
            _ => None,
        })
        .expect("a PORT_MOD");
    assert_eq!((pm.port_no, pm.hw_addr), (7, sample_port().hw_addr));
    assert_eq!(pm.mask & port_config::PORT_DOWN, port_config::PORT_DOWN);
    let seen = run("set-frags", &["reassemble"], &[]);
    assert!(
        seen.iter()
            .any(|m| matches!(&m.body, Body::SetConfig(c) if c.flags == config_flags::FRAG_REASM))
    );
    let seen = run(
        "packet-out",
        &["in_port=controller packet=ffffffffffff000000000001080600 actions=output:7"],
        &[],
    );
    let po = seen
        .iter()
        .find_map(|m| match &m.body {
            Body::PacketOut(p) => Some(p.clone()),
            _ => None,
        })
        .expect("a PACKET_OUT");
    assert_eq!(po.in_port, port::CONTROLLER);
    assert_eq!(
        po.actions,
        vec![Action::Output {
            port: 7,
            max_len: 0
        }]
    );
    assert_eq!(po.data.len(), 15);
    run("del-flows", &[], &[]);
    run("del-groups", &[], &[]);
    run("del-meters", &[], &[]);
}

#[test]
fn ofctl_offering_several_versions_negotiates_1_3() {
    if !have_ovs_ofctl() {
        return;
    }
    let (out, seen) = session("OpenFlow10,OpenFlow13,OpenFlow15", "dump-desc", &[]);
    assert!(out.contains("Manufacturer: rvs project"), "{out}");
    // OVS's hello carries its highest version and a bitmap of all three.
    let hello = seen
        .iter()
        .find_map(|m| match &m.body {
            Body::Hello(h) => Some(h.clone()),
            _ => None,
        })
        .expect("a HELLO");
    assert_eq!(hello.version, 6);
    assert_eq!(hello.versions(), Some(vec![1, 4, 6]));
}
