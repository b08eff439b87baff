//! Netns test: two hosts joined through the datapath by `system` ports
//! (AF_PACKET on veth ends inside a switch namespace), host offloads ON.
//! Root only; RVS_SKIP_SYSTEM_TESTS=1 skips.

mod netns_common;

use datapath::dpif::{Dpif, DpifConfig};
use datapath::port::{Port, SystemPort, SystemPortOptions};
use netns_common::{H2_IP, Topo, in_netns, iperf_tcp, ping_ok, system_tests_enabled};
use std::sync::Arc;

#[test]
fn system_ports_forward_ping_and_tcp_with_offloads_on() {
    if !system_tests_enabled(
        "system_ports_forward_ping_and_tcp_with_offloads_on",
        &["ip", "ping", "iperf3", "timeout", "ss", "ethtool"],
    ) {
        return;
    }
    let t = Topo::veth("s");
    // Offloads are left at the veth defaults: checksum offload and TSO on.
    let feats = t.h1.exec(&["ethtool", "-k", "eth0"]);
    assert!(
        feats.contains("tx-checksumming: on") && feats.contains("tcp-segmentation-offload: on"),
        "expected host offloads on: {feats}"
    );
    let sw = t.sw.name.clone();
    let (p1, p2) = in_netns(&sw, || {
        let o = SystemPortOptions::default();
        (
            SystemPort::open("p1", &o).expect("open p1"),
            SystemPort::open("p2", &o).expect("open p2"),
        )
    });
    let dp = Dpif::new(
        DpifConfig::default(),
        Arc::new(netns_common::crossover::Crossover),
    )
    .unwrap();
    assert_eq!(
        dp.add_port(Box::new(p1) as Box<dyn Port>, Some(1)).unwrap(),
        1
    );
    assert_eq!(
        dp.add_port(Box::new(p2) as Box<dyn Port>, Some(2)).unwrap(),
        2
    );

    assert!(
        ping_ok(&t.h1, H2_IP, 10),
        "h1 cannot ping h2 through the datapath"
    );
    let bps = iperf_tcp(&t.h1, &t.h2, H2_IP, 3);
    println!("system ports: TCP {:.2} Gbit/s", bps / 1e9);
    assert!(
        bps > 100e6,
        "TCP through system ports too slow or stalled: {bps} bit/s"
    );

    // The forwarding decisions came from two megaflows (one per
    // direction, in_port only); everything else hit the caches.
    assert_eq!(dp.flow_count(), 2, "{:?}", dp.flow_dump());
    let ps = dp.pmd_stats();
    assert!(ps.upcalls >= 2 && ps.upcalls < 100, "{ps:?}");
    assert!(ps.emc_hits + ps.megaflow_hits > 1000, "{ps:?}");
    // TSO super-frames crossed the switch intact (offloads really on).
    let s1 = dp.port_stats(1).unwrap();
    let s2 = dp.port_stats(2).unwrap();
    assert!(s1.rx_packets > 0 && s2.tx_packets > 0);
    assert!(
        s1.rx_bytes / s1.rx_packets.max(1) > 2000,
        "no GSO frames seen on p1: {s1:?}"
    );
    assert_eq!(s2.tx_errors, 0, "{s2:?}");
    dp.shutdown();
}

#[test]
fn pmd_sleeps_when_a_port_device_goes_down() {
    if !system_tests_enabled("pmd_sleeps_when_a_port_device_goes_down", &["ip"]) {
        return;
    }
    let ns = netns_common::Netns::new(&format!("{}-dn", netns_common::prefix("d")));
    ns.exec(&[
        "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb",
    ]);
    ns.exec(&["ip", "link", "set", "va", "up"]);
    ns.exec(&["ip", "link", "set", "vb", "up"]);
    let name = ns.name.clone();
    let pa = in_netns(&name, || {
        SystemPort::open("va", &SystemPortOptions::default()).expect("open va")
    });
    let dp = Dpif::new(
        DpifConfig::default(),
        Arc::new(netns_common::crossover::Crossover),
    )
    .unwrap();
    dp.add_port(Box::new(pa) as Box<dyn Port>, Some(1)).unwrap();
    // ENETDOWN is reported on the socket; it must be collected, not make
    // poll() return at once forever.
    ns.exec(&["ip", "link", "set", "va", "down"]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let before = dp.pmd_stats().iterations;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let spins = dp.pmd_stats().iterations - before;
    // Asleep in poll (100 ms timeout) the thread wakes ~5 times; spinning,
    // it would loop hundreds of thousands of times.
    assert!(
        spins < 1000,
        "PMD thread spins on a downed port: {spins} iterations"
    );
    assert!(dp.port_stats(1).unwrap().rx_errors <= 1);
    dp.shutdown();
}
