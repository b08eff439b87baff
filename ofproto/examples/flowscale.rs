//! The flow-table scale experiment of `../shared/bench/flowscale.sh`
//! (variant `l4`), in process: one bridge with two in-memory ports,
//! 100,000 L4 rules (`udp,tp_dst=1..65535` and `tcp,tp_dst=1..34465`,
//! priority 100, `output:2`) over `priority=1,in_port=1/2` rules,
//! installed as encoded FLOW_MODs (decoded and handled one by one, as the
//! channel layer would) followed by a barrier; then UDP traffic from port
//! 1 to 10,000 distinct destination ports, three passes.  Reports
//! install time, megaflows, upcalls and the process's RSS.
//!
//! `cargo run --release -p ofproto --example flowscale [N_FLOWS] [TRAFFIC_FLOWS]`

use std::time::{Duration, Instant};

use datapath::dpif::DpifConfig;
use datapath::packet::Offload;
use datapath::pmd::{Clock, MonotonicClock};
use datapath::port::MemPort;
use ofproto::bridge::{BridgeConfig, OfBridge, PortSpec};
use ofproto::service::OpenFlowSwitch;
use ofproto::switch::{ConnCtx, SwitchSettings};
use ofproto::wire::action::Action;
use ofproto::wire::consts::{self, OFP_NO_BUFFER};
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{FlowMod, flow_mod_command};
use ofproto::wire::oxm::{BasicField as B, Match, OxmField};
use ofproto::wire::{Body, Message};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn flow_mod(priority: u16, fields: &[(B, u128)], out_port: u32) -> FlowMod {
    FlowMod {
        cookie: 0,
        cookie_mask: 0,
        table_id: 0,
        command: flow_mod_command::ADD,
        idle_timeout: 0,
        hard_timeout: 0,
        priority,
        buffer_id: OFP_NO_BUFFER,
        out_port: consts::port::ANY,
        out_group: consts::group::ANY,
        flags: 0,
        match_: Match {
            fields: fields.iter().map(|&(f, v)| OxmField::exact(f, v)).collect(),
        },
        instructions: vec![Instruction::ApplyActions(vec![Action::Output {
            port: out_port,
            max_len: 0,
        }])],
    }
}

fn udp_frame(dport: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let mut ip = vec![
        0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let mut sum = 0u32;
    for c in ip.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let cs = !(sum as u16);
    ip[10..12].copy_from_slice(&cs.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&26u16.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x55; 18]);
    f
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n_flows: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let n_traffic: u16 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rss0 = rss_kb();
    let mut br = OfBridge::new(BridgeConfig {
        name: "br0".into(),
        settings: SwitchSettings::default(),
        dpif: DpifConfig::default(),
    })
    .expect("bridge");
    let (h1, d1) = MemPort::pair("h1", "d1", 4096).expect("port");
    let (h2, d2) = MemPort::pair("h2", "d2", 4096).expect("port");
    let clock = MonotonicClock;
    for (i, d) in [(1u32, d1), (2, d2)] {
        br.add_port(
            Box::new(d),
            PortSpec {
                name: format!("d{i}"),
                ofport_request: Some(i),
                ..PortSpec::default()
            },
            clock.now_ms(),
        )
        .expect("add port");
    }
    // The messages as a controller would send them, encoded and decoded
    // one at a time (so the RSS figures hold the bridge, not a backlog).
    let rule = |i: u32| -> FlowMod {
        match i {
            0 => flow_mod(1, &[(B::IN_PORT, 1)], 2),
            1 => flow_mod(1, &[(B::IN_PORT, 2)], 1),
            _ => {
                let i = i - 1;
                let (proto, field, port) = if i <= 65_535 {
                    (17u128, B::UDP_DST, i)
                } else {
                    (6, B::TCP_DST, i - 65_535)
                };
                flow_mod(
                    100,
                    &[
                        (B::ETH_TYPE, 0x0800),
                        (B::IP_PROTO, proto),
                        (field, u128::from(port)),
                    ],
                    2,
                )
            }
        }
    };
    let rss_before = rss_kb();
    let conn = ConnCtx::default();
    let mut out = Vec::new();
    // Only the switch side is timed: decoding and handling each message,
    // run() after every 64 (as the channel layer does after a batch),
    // and the final barrier (publish + revalidate).  Encoding is the
    // controller's work and is left out.
    let mut install = Duration::ZERO;
    let mut batch = Vec::new();
    let all = n_flows + 2;
    let mut i = 0;
    while i < all {
        batch.clear();
        let end = (i + 64).min(all);
        batch.extend((i..end).map(|j| Message::new(j + 1, Body::FlowMod(rule(j))).to_vec()));
        i = end;
        let t0 = Instant::now();
        for raw in &batch {
            let msg = Message::decode(raw).expect("decodes");
            br.handle_message(conn, &msg, raw, clock.now_ms(), &mut out);
        }
        br.run(clock.now_ms(), &mut out);
        install += t0.elapsed();
        out.retain(|m| !matches!(m.body, Body::PortStatus(_)));
        assert!(out.is_empty(), "flow-mod failed: {out:?}");
    }
    let barrier = Message::new(0xb, Body::BarrierRequest);
    let t0 = Instant::now();
    br.handle_message(conn, &barrier, &barrier.to_vec(), clock.now_ms(), &mut out);
    let barrier_ms = t0.elapsed().as_millis();
    install += t0.elapsed();
    assert!(matches!(
        out.last().map(|m| &m.body),
        Some(Body::BarrierReply)
    ));
    out.clear();
    let rss_installed = rss_kb();

    // Traffic: three passes over n_traffic destination ports.
    let frames: Vec<Vec<u8>> = (1..=n_traffic).map(udp_frame).collect();
    let mut pass_ms = Vec::new();
    let mut received = 0u64;
    for pass in 0..3u64 {
        let tp = Instant::now();
        let mut sent = 0u64;
        for chunk in frames.chunks(1024) {
            for f in chunk {
                while h1.send_frame(f, Offload::default()) == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
                sent += 1;
            }
            let want = pass * u64::from(n_traffic) + sent;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                while h2.recv_frame().is_some() {
                    received += 1;
                }
                let s = br.dpif().pmd_stats();
                if s.emc_hits + s.megaflow_hits + s.upcalls >= want || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        pass_ms.push(tp.elapsed().as_millis());
        br.run(clock.now_ms(), &mut out);
        out.clear();
    }
    // The last outputs may still be on their way to h2.
    let deadline = Instant::now() + Duration::from_secs(5);
    while received < 3 * u64::from(n_traffic) && Instant::now() < deadline {
        while h2.recv_frame().is_some() {
            received += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let st = br.dpif().pmd_stats();
    let megaflows = br.dpif().flow_count();
    let rss_traffic = rss_kb();

    // Delete everything and revalidate (all megaflows go).
    let mut del = flow_mod(0, &[], 0);
    del.command = flow_mod_command::DELETE;
    del.table_id = consts::table::ALL;
    del.instructions.clear();
    let del = Message::new(0xd, Body::FlowMod(del));
    let td = Instant::now();
    br.handle_message(conn, &del, &del.to_vec(), clock.now_ms(), &mut out);
    br.handle_message(conn, &barrier, &barrier.to_vec(), clock.now_ms(), &mut out);
    let del_ms = td.elapsed().as_millis();
    let megaflows_after_del = br.dpif().flow_count();

    println!("flows installed:        {}", n_flows + 2);
    println!(
        "install (decode+handle+run+barrier): {} ms (final barrier {barrier_ms} ms)",
        install.as_millis()
    );
    println!("traffic passes (ms):    {pass_ms:?}");
    println!(
        "packets forwarded:      {received} of {}",
        3 * u64::from(n_traffic)
    );
    println!(
        "port 2 tx drops:        {}",
        br.port_stats(2).map_or(0, |p| p.tx_dropped)
    );
    println!("megaflows:              {megaflows}");
    println!("upcalls:                {}", st.upcalls);
    println!(
        "emc hits / megaflow hits: {} / {}",
        st.emc_hits, st.megaflow_hits
    );
    println!("flow limit hits:        {}", st.flow_limit_hits);
    println!(
        "RSS (MB): start {:.1}, before install {:.1}, installed {:.1}, after traffic {:.1}",
        rss0 as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        rss_installed as f64 / 1024.0,
        rss_traffic as f64 / 1024.0
    );
    println!(
        "delete all + barrier:   {del_ms} ms; megaflows kept but revalidated to drop: {megaflows_after_del} (drop actions: {})",
        br.dpif()
            .flow_dump()
            .iter()
            .filter(|f| f.actions.is_empty())
            .count()
    );
    br.shutdown();
}
