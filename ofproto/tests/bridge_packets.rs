//! The bridge's packet paths: PACKET_OUT (ports, TABLE, in_port
//! CONTROLLER/LOCAL), PACKET_IN contents, packet buffers with expiry, and
//! meters applied to datapath packets.

mod bridge_support;

use std::sync::atomic::Ordering;

use bridge_support::*;
use ofproto::bridge::PortSpec;
use ofproto::service::OpenFlowSwitch;
use ofproto::wire::action::Action;
use ofproto::wire::consts::{self, OFP_NO_BUFFER, OFPCML_NO_BUFFER};
use ofproto::wire::error::bad_request;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{
    MeterMod, PacketIn, PacketOut, meter_flags, meter_mod_command, packet_in_reason,
};
use ofproto::wire::multipart::MeterBand;
use ofproto::wire::oxm::{BasicField as B, OxmField};
use ofproto::wire::{Body, ErrorType, Message, MultipartReplyBody, MultipartRequestBody};

use datapath::port::MemPort;

fn packet_out(in_port: u32, actions: Vec<Action>, data: Vec<u8>) -> Body {
    Body::PacketOut(PacketOut {
        buffer_id: OFP_NO_BUFFER,
        in_port,
        actions,
        data,
    })
}

fn packet_ins(out: &[Message]) -> Vec<PacketIn> {
    out.iter()
        .filter_map(|m| match &m.body {
            Body::PacketIn(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn err(out: &[Message]) -> (ErrorType, u16) {
    match out.iter().find_map(|m| match &m.body {
        Body::Error(e) => Some((e.etype, e.code)),
        _ => None,
    }) {
        Some(e) => e,
        None => panic!("expected an error: {out:?}"),
    }
}

fn to_controller(max_len: u16) -> Instruction {
    apply(vec![Action::Output {
        port: consts::port::CONTROLLER,
        max_len,
    }])
}

#[test]
fn packet_out_to_ports_table_and_in_port() {
    let mut h = harness(3);
    let (lhost, ldp) = MemPort::pair("hl", "brt", 64).expect("pair");
    let now = h.now();
    h.br.add_port(
        Box::new(ldp),
        PortSpec {
            name: "brt".into(),
            ofport_request: Some(consts::port::LOCAL),
            ..PortSpec::default()
        },
        now,
    )
    .expect("local");
    let f = udp(mac(9), mac(1), 1, 2, 80);
    // Direct output from the controller.
    let r = h.send(packet_out(
        consts::port::CONTROLLER,
        vec![out(1), out(3)],
        f.clone(),
    ));
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(h.rx_wait(1, 1), vec![f.clone()]);
    assert_eq!(h.rx_wait(3, 1), vec![f.clone()]);
    // TABLE: through the flow table, which was changed without a barrier.
    h.flow(fm(0, 5, m(&[]), vec![apply(vec![out(2)])]));
    let r = h.send(packet_out(
        consts::port::CONTROLLER,
        vec![out(consts::port::TABLE)],
        f.clone(),
    ));
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(h.rx_wait(2, 1), vec![f.clone()]);
    match h.mp(MultipartRequestBody::Flow(all_flows())) {
        MultipartReplyBody::Flow(v) => assert_eq!(v[0].packet_count, 1, "TABLE hit counted"),
        b => panic!("{b:?}"),
    }
    // in_port LOCAL with IN_PORT output goes back to the local port; FLOOD
    // from port 1 leaves out port 1.
    let r = h.send(packet_out(
        consts::port::LOCAL,
        vec![out(consts::port::IN_PORT)],
        f.clone(),
    ));
    assert!(r.is_empty(), "{r:?}");
    assert!(wait(|| lhost.pending() == 1));
    let r = h.send(packet_out(1, vec![out(consts::port::FLOOD)], f.clone()));
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(h.rx_wait(2, 1).len(), 1);
    assert_eq!(h.rx_wait(3, 1).len(), 1);
    assert!(wait(|| lhost.pending() == 2), "FLOOD includes LOCAL");
    assert!(h.rx(1).is_empty());
    h.br.shutdown();
}

#[test]
fn packet_in_carries_the_whole_packet_and_pipeline_fields() {
    let mut h = harness(2);
    let mut miss = fm(0, 0, m(&[]), vec![to_controller(OFPCML_NO_BUFFER)]);
    miss.cookie = 0x1234;
    h.flow(miss);
    let mut md = fm(
        0,
        10,
        m(&[(B::IN_PORT, 2)]),
        vec![
            Instruction::WriteMetadata {
                metadata: 0xbeef,
                mask: u64::MAX,
            },
            Instruction::GotoTable(3),
        ],
    );
    md.cookie = 0x77;
    h.flow(md);
    let mut t3 = fm(3, 1, m(&[]), vec![to_controller(64)]);
    t3.cookie = 0x33;
    h.flow(t3);
    h.barrier();
    let wakes_before = h.wakes.load(Ordering::Relaxed);
    let f = udp(mac(1), mac(2), 1, 2, 80);
    h.tx(1, &f);
    assert!(
        wait(|| h.wakes.load(Ordering::Relaxed) > wakes_before),
        "waker called"
    );
    let mut pins = Vec::new();
    assert!(wait(|| {
        pins.extend(packet_ins(&h.run()));
        !pins.is_empty()
    }));
    let p = &pins[0];
    assert_eq!(p.reason, packet_in_reason::NO_MATCH);
    assert_eq!(p.table_id, 0);
    assert_eq!(p.cookie, 0x1234);
    assert_eq!(p.buffer_id, OFP_NO_BUFFER);
    assert_eq!(p.data, f, "whole packet without buffers");
    assert_eq!(usize::from(p.total_len), f.len());
    assert_eq!(p.match_.fields, vec![OxmField::exact(B::IN_PORT, 1)]);

    // From port 2: table 3 sends with reason ACTION and the metadata.
    // No buffers configured: the whole packet even though max_len is 64.
    let big = {
        let mut b = udp(mac(2), mac(1), 1, 2, 80);
        b.extend_from_slice(&[0xaa; 100]);
        b
    };
    h.tx(2, &big);
    let mut pins = Vec::new();
    assert!(wait(|| {
        pins.extend(packet_ins(&h.run()));
        !pins.is_empty()
    }));
    let p = &pins[0];
    assert_eq!(p.reason, packet_in_reason::ACTION);
    assert_eq!(p.table_id, 3);
    assert_eq!(p.cookie, 0x33);
    assert_eq!(p.data, big);
    assert_eq!(
        p.match_.fields,
        vec![
            OxmField::exact(B::IN_PORT, 2),
            OxmField::exact(B::METADATA, 0xbeef)
        ]
    );
    assert_eq!(h.br.features().n_buffers, 0);
    h.br.shutdown();
}

#[test]
fn buffered_packet_ins_cut_to_max_len_and_buffers_expire() {
    let mut h = harness_with(2, |o| {
        o.n_buffers = 8;
        o.buffer_timeout_ms = 1000;
    });
    assert_eq!(h.br.features().n_buffers, 8);
    h.flow(fm(0, 0, m(&[]), vec![to_controller(40)]));
    h.barrier();
    let f = {
        let mut b = udp(mac(1), mac(2), 1, 2, 80);
        b.extend_from_slice(&[0xaa; 60]);
        b
    };
    let next_pin = |h: &mut Harness, port: u32, frame: &[u8]| -> PacketIn {
        h.tx(port, frame);
        let mut pins = Vec::new();
        assert!(wait(|| {
            pins.extend(packet_ins(&h.run()));
            !pins.is_empty()
        }));
        pins.remove(0)
    };
    let p = next_pin(&mut h, 1, &f);
    assert_ne!(p.buffer_id, OFP_NO_BUFFER);
    assert_eq!(p.data, f[..40].to_vec(), "cut to max_len");
    assert_eq!(usize::from(p.total_len), f.len());

    // PACKET_OUT with the buffer id sends the whole stored packet.
    let po = |id: u32| {
        Body::PacketOut(PacketOut {
            buffer_id: id,
            in_port: 1,
            actions: vec![out(2)],
            data: Vec::new(),
        })
    };
    let r = h.send(po(p.buffer_id));
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(h.rx_wait(2, 1), vec![f.clone()]);
    // A buffer is used once.
    assert_eq!(
        err(&h.send(po(p.buffer_id))),
        (ErrorType::BAD_REQUEST, bad_request::BUFFER_EMPTY)
    );
    assert_eq!(
        err(&h.send(po(0x00ab_0003))),
        (ErrorType::BAD_REQUEST, bad_request::BUFFER_UNKNOWN)
    );
    // Expiry.
    let p2 = next_pin(&mut h, 1, &f);
    h.advance(1500);
    let _ = h.run();
    assert_eq!(
        err(&h.send(po(p2.buffer_id))),
        (ErrorType::BAD_REQUEST, bad_request::BUFFER_EMPTY)
    );
    assert!(h.rx(2).is_empty());

    // FLOW_MOD with a buffer id: the rule goes in, and the stored packet
    // goes through the tables.
    let p3 = next_pin(&mut h, 1, &f);
    let mut rule = fm(0, 10, m(&[(B::IN_PORT, 1)]), vec![apply(vec![out(2)])]);
    rule.buffer_id = p3.buffer_id;
    h.flow(rule);
    assert_eq!(h.rx_wait(2, 1), vec![f.clone()]);
    let mut rule = fm(0, 11, m(&[(B::IN_PORT, 1)]), vec![apply(vec![out(2)])]);
    rule.buffer_id = p3.buffer_id;
    assert_eq!(
        err(&h.send(Body::FlowMod(rule))),
        (ErrorType::BAD_REQUEST, bad_request::BUFFER_EMPTY)
    );
    match h.mp(MultipartRequestBody::Flow(all_flows())) {
        MultipartReplyBody::Flow(v) => assert_eq!(v.len(), 2, "failed flow-mod not applied"),
        b => panic!("{b:?}"),
    }
    h.br.shutdown();
}

#[test]
fn meters_drop_packets_over_the_rate() {
    let mut h = harness(2);
    let r = h.send(Body::MeterMod(MeterMod {
        command: meter_mod_command::ADD,
        flags: meter_flags::PKTPS | meter_flags::BURST | meter_flags::STATS,
        meter_id: 1,
        bands: vec![MeterBand::Drop {
            rate: 10,
            burst_size: 10,
        }],
    }));
    assert!(r.is_empty(), "{r:?}");
    h.flow(fm(
        0,
        10,
        m(&[(B::IN_PORT, 1)]),
        vec![Instruction::Meter(1), apply(vec![out(2)])],
    ));
    h.barrier();
    let f = udp(mac(1), mac(2), 1, 2, 80);
    // 30 packets at one instant: the burst (10) passes, the rest drops.
    h.tx_n(1, &f, 30);
    assert_eq!(h.rx_wait(2, 10).len(), 10);
    // One second later the bucket holds 10 packets again.
    h.advance(1000);
    h.tx_n(1, &f, 15);
    assert_eq!(h.rx_wait(2, 10).len(), 10);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(h.rx(2).is_empty(), "over-rate packets were dropped");
    match h.mp(MultipartRequestBody::Meter(1)) {
        MultipartReplyBody::Meter(v) => {
            assert_eq!(v[0].packet_in_count, 45);
            assert_eq!(v[0].band_stats[0].packet_count, 25);
        }
        b => panic!("{b:?}"),
    }
    // Reconfiguring the meter (higher rate) takes effect for the next
    // packets without a new megaflow.
    let r = h.send(Body::MeterMod(MeterMod {
        command: meter_mod_command::MODIFY,
        flags: meter_flags::PKTPS | meter_flags::BURST,
        meter_id: 1,
        bands: vec![MeterBand::Drop {
            rate: 1000,
            burst_size: 1000,
        }],
    }));
    assert!(r.is_empty(), "{r:?}");
    h.tx_n(1, &f, 30);
    assert_eq!(h.rx_wait(2, 30).len(), 30);
    h.br.shutdown();
}

fn ip_checksum_ok(frame: &[u8]) -> bool {
    let mut sum = 0u32;
    for c in frame[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

#[test]
fn dscp_remark_band_raises_drop_precedence() {
    let mut h = harness(2);
    let r = h.send(Body::MeterMod(MeterMod {
        command: meter_mod_command::ADD,
        flags: meter_flags::PKTPS | meter_flags::BURST,
        meter_id: 2,
        bands: vec![MeterBand::DscpRemark {
            rate: 1,
            burst_size: 2,
            prec_level: 1,
        }],
    }));
    assert!(r.is_empty(), "{r:?}");
    h.flow(fm(
        0,
        10,
        m(&[(B::IN_PORT, 1)]),
        vec![Instruction::Meter(2), apply(vec![out(2)])],
    ));
    h.barrier();
    let mut f = udp(mac(1), mac(2), 1, 2, 80);
    // DSCP AF11 (10): tos 0x28; fix the header checksum.
    f[15] = 0x28;
    f[24] = 0;
    f[25] = 0;
    let mut sum = 0u32;
    for c in f[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let cs = !(sum as u16);
    f[24..26].copy_from_slice(&cs.to_be_bytes());
    h.tx_n(1, &f, 4);
    let got = h.rx_wait(2, 4);
    assert_eq!(got.len(), 4, "remarked, not dropped");
    assert_eq!(got[0][15], 0x28, "within the burst: unchanged");
    assert_eq!(got[1][15], 0x28);
    assert_eq!(got[2][15], 0x30, "AF11 -> AF12");
    assert_eq!(got[3][15], 0x30);
    assert!(got.iter().all(|g| ip_checksum_ok(g)));
    h.br.shutdown();
}

#[test]
fn port_config_no_recv_no_fwd_and_no_packet_in() {
    use ofproto::wire::message::{PortMod, port_config};
    let mut h = harness(3);
    h.flow(fm(0, 0, m(&[]), vec![to_controller(OFPCML_NO_BUFFER)]));
    h.flow(fm(
        0,
        10,
        m(&[(B::IN_PORT, 1)]),
        vec![apply(vec![out(consts::port::FLOOD)])],
    ));
    h.barrier();
    let port_mod = |h: &mut Harness, port: u32, config: u32, mask: u32| {
        let r = h.send(Body::PortMod(PortMod {
            port_no: port,
            hw_addr: mac(port as u8),
            config,
            mask,
            advertise: 0,
        }));
        assert!(
            r.iter().all(|m| matches!(m.body, Body::PortStatus(_))),
            "{r:?}"
        );
    };
    let f = udp(mac(1), mac(2), 1, 2, 80);
    h.tx(1, &f);
    assert_eq!(h.rx_wait(2, 1).len(), 1);
    assert_eq!(h.rx_wait(3, 1).len(), 1);
    // NO_FWD on 3: flooding leaves it out (after the barrier).
    port_mod(&mut h, 3, port_config::NO_FWD, port_config::NO_FWD);
    h.barrier();
    h.tx(1, &f);
    assert_eq!(h.rx_wait(2, 1).len(), 1);
    assert!(h.rx(3).is_empty());
    // NO_RECV on 1: its packets are dropped.
    port_mod(&mut h, 1, port_config::NO_RECV, port_config::NO_RECV);
    h.barrier();
    h.tx(1, &f);
    assert!(h.rx(2).is_empty() && h.rx(3).is_empty());
    // NO_PACKET_IN on 2: the table-miss sends nothing for it, but does
    // for port 3.
    port_mod(
        &mut h,
        2,
        port_config::NO_PACKET_IN,
        port_config::NO_PACKET_IN,
    );
    h.barrier();
    let _ = h.run();
    h.tx(2, &f);
    h.tx(3, &f);
    let mut pins = Vec::new();
    assert!(wait(|| {
        pins.extend(packet_ins(&h.run()));
        !pins.is_empty()
    }));
    std::thread::sleep(std::time::Duration::from_millis(20));
    pins.extend(packet_ins(&h.run()));
    assert_eq!(pins.len(), 1, "{pins:?}");
    assert_eq!(pins[0].match_.fields, vec![OxmField::exact(B::IN_PORT, 3)]);
    h.br.shutdown();
}
