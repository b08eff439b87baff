//! Netns test: two hosts joined through the datapath by `tap` ports.  Each
//! TAP device is created inside its host's namespace (the datapath holds
//! the descriptors) and carries the host's address; TAP offloads
//! (TUNSETOFFLOAD csum+TSO) are on.  Root only; RVS_SKIP_SYSTEM_TESTS=1
//! skips.

mod netns_common;

use datapath::dpif::{Dpif, DpifConfig};
use datapath::port::{Port, TapPort};
use datapath::sys::TapOptions;
use netns_common::{
    H1_IP, H2_IP, Netns, in_netns, iperf_tcp, ping_ok, prefix, system_tests_enabled,
};
use std::sync::Arc;

fn tap_in(ns: &Netns, name: &'static str, ip: &str) -> TapPort {
    let tap = in_netns(&ns.name, move || {
        TapPort::open(name, &TapOptions::default()).expect("open tap")
    });
    ns.exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", name]);
    ns.exec(&["ip", "link", "set", name, "up"]);
    tap
}

#[test]
fn tap_ports_forward_ping_and_tcp_with_offloads_on() {
    if !system_tests_enabled(
        "tap_ports_forward_ping_and_tcp_with_offloads_on",
        &["ip", "ping", "iperf3", "timeout", "ss", "ethtool"],
    ) {
        return;
    }
    let p = prefix("t");
    let h1 = Netns::new(&format!("{p}-h1"));
    let h2 = Netns::new(&format!("{p}-h2"));
    let t1 = tap_in(&h1, "tap1", H1_IP);
    let t2 = tap_in(&h2, "tap2", H2_IP);
    let feats = h1.exec(&["ethtool", "-k", "tap1"]);
    assert!(
        feats.contains("tcp-segmentation-offload: on"),
        "TUNSETOFFLOAD did not enable TSO on the tap: {feats}"
    );
    let dp = Dpif::new(
        DpifConfig::default(),
        Arc::new(netns_common::crossover::Crossover),
    )
    .unwrap();
    assert_eq!(
        dp.add_port(Box::new(t1) as Box<dyn Port>, Some(1)).unwrap(),
        1
    );
    assert_eq!(
        dp.add_port(Box::new(t2) as Box<dyn Port>, Some(2)).unwrap(),
        2
    );

    assert!(
        ping_ok(&h1, H2_IP, 10),
        "h1 cannot ping h2 through tap ports"
    );
    let bps = iperf_tcp(&h1, &h2, H2_IP, 3);
    println!("tap ports: TCP {:.2} Gbit/s", bps / 1e9);
    assert!(
        bps > 100e6,
        "TCP through tap ports too slow or stalled: {bps} bit/s"
    );
    assert_eq!(dp.flow_count(), 2);
    let s1 = dp.port_stats(1).unwrap();
    let s2 = dp.port_stats(2).unwrap();
    assert!(
        s1.rx_bytes / s1.rx_packets.max(1) > 2000,
        "no TSO frames read from tap1: {s1:?}"
    );
    assert_eq!(s2.tx_errors, 0, "{s2:?}");
    // The taps go away with the datapath (not persistent).
    dp.shutdown();
    assert!(
        !h1.try_exec(&["ip", "link", "show", "tap1"]),
        "tap1 outlived its port"
    );
}
