//! The translation as the datapath's slow path, end to end on in-memory
//! ports (unprivileged): PMD thread, upcall into [`XlateUpcall`], megaflow
//! install with the translation's mask, packet-in through `userspace`.

mod xlate_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use datapath::dpif::{Dpif, DpifConfig};
use datapath::flow::Field;
use datapath::packet::Offload;
use datapath::pmd::ManualClock;
use datapath::port::{MemPort, Port};
use ofproto::wire::action::Action;
use ofproto::wire::consts::port;
use ofproto::wire::message::packet_in_reason;
use ofproto::wire::oxm::{BasicField as B, Match};
use ofproto::xlate::{XlateCtx, XlateUpcall};
use xlate_support::*;

/// Waits (bounded, 5 s) until `cond` holds.
fn wait(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn upcalls_translate_install_megaflows_and_send_packet_ins() {
    let mut v = View::new(1, &[1, 2]);
    v.add(
        0,
        10,
        m(&[(B::IN_PORT, 1), (B::ETH_TYPE, 0x0800)]),
        vec![apply(vec![Action::DecNwTtl, out(2)])],
    );
    v.add_cookie(
        0,
        0,
        Match::new(),
        vec![apply(vec![Action::Output {
            port: port::CONTROLLER,
            max_len: 20,
        }])],
        0xc0c0,
    );
    let v = Arc::new(v);
    let clock = Arc::new(ManualClock::default());
    clock.0.store(5_000, Ordering::Relaxed);
    let up = Arc::new(XlateUpcall::new(
        v.clone(),
        XlateCtx::default(),
        clock.clone(),
    ));
    let (h1, d1) = MemPort::pair("h1", "d1", 256).expect("mem port");
    let (h2, d2) = MemPort::pair("h2", "d2", 256).expect("mem port");
    let dp = Dpif::with_clock(DpifConfig::default(), up.clone(), clock).expect("dpif");
    assert_eq!(
        dp.add_port(Box::new(d1) as Box<dyn Port>, None)
            .expect("port"),
        1
    );
    assert_eq!(
        dp.add_port(Box::new(d2) as Box<dyn Port>, None)
            .expect("port"),
        2
    );

    for i in 0..20u32 {
        let f = udp_frame(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            0x0a00_0001 + i,
            0x0a00_0002,
            64,
        );
        assert_eq!(h1.send_frame(&f, Offload::default()), 1);
    }
    assert!(wait(|| h2.pending() >= 20), "only {} arrived", h2.pending());
    let (f, _) = h2.recv_frame().expect("frame");
    assert_eq!(f[14 + 8], 63, "TTL decremented");

    // One megaflow: in_port and eth_type exact, addresses wild.
    let flows = dp.flow_dump();
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert!(flows[0].mask.is_exact(Field::InPort));
    assert!(flows[0].mask.is_exact(Field::EthType));
    assert!(flows[0].mask.is_wild(Field::Ipv4Src));
    let rule = v.tables[0]
        .lookup(&udp_key(1, 1, 2, 3, 4), &mut Default::default())
        .cloned();
    // An installed translation is counted by its megaflow (the bridge
    // credits the rule from the megaflow's statistics), not by the upcall.
    assert_eq!(rule.expect("rule").data.packet_count(), 0);
    assert_eq!(flows[0].stats().packets, 20);

    // From port 2 the table-miss entry sends to the controller.
    let f = udp_frame(
        [2, 0, 0, 0, 0, 2],
        [2, 0, 0, 0, 0, 1],
        0x0a00_0002,
        0x0a00_0001,
        64,
    );
    h2.send_frame(&f, Offload::default());
    let mut pins = Vec::new();
    assert!(wait(|| {
        pins.extend(up.take_packet_ins());
        !pins.is_empty()
    }));
    assert_eq!(pins[0].reason, packet_in_reason::NO_MATCH);
    assert_eq!(pins[0].cookie, 0xc0c0);
    assert_eq!(pins[0].in_port, 2);
    // The whole packet travels up; truncation is the bridge's decision.
    assert_eq!(pins[0].data, f.to_vec());
    assert_eq!(pins[0].max_len, 20);
    assert_eq!(pins[0].total_len, f.len());
    dp.shutdown();
}
