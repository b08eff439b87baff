//! End to end: TCP (iperf3, 1 s) between two hosts on two bridges of the
//! switch under test (`RVS_E2E_SWITCH=rvs|ovs`, default rvs), standalone
//! mode (NORMAL).  Throughput is printed, not judged: the assertion is only
//! that TCP works (more than 1 Mbit/s arrives).
//!
//! Run as root: `cargo test -p rvs-tests --test e2e_tcp -- --nocapture`.

use anyhow::{Result, ensure};
use rvs_tests::topo::{SwitchKind, SwitchUnderTest, Topo, e2e_setup};

fn tcp(test: &str, tx_offload: bool) -> Result<()> {
    let Some((kind, _)) = e2e_setup(test, &["ping", "iperf3", "ethtool", "ss"], false) else {
        return Ok(());
    };
    if tx_offload && kind == SwitchKind::Ovs {
        // Measured: ovs-vswitchd 3.1's netdev datapath forwards veth packets
        // with the checksum left to offload, and the receiver drops them; the
        // iperf3 client stalls.  Nothing to compare against.
        println!("{test}: not run against ovs (its userspace datapath needs tx offload off)");
        return Ok(());
    }
    let topo = Topo::linear(2, 1)?;
    topo.set_host_tx_offload(tx_offload)?;
    let sw = SwitchUnderTest::start(kind, topo.switch_ns())?;
    sw.add_topo_bridges(&topo, "standalone", &[])?;
    let all = topo.ping_all(3)?;
    ensure!(all.unreachable().is_empty(), "{all}\n{}", sw.logs());
    let (h1, h2) = (&topo.hosts()[0], &topo.hosts()[1]);
    let bps = topo.iperf(h1, h2, 1)?;
    println!(
        "{test} [{}]: iperf3 h1 -> h2 over s1-s2: {:.3} Gbit/s (tx offload {})",
        kind.as_str(),
        bps / 1e9,
        if tx_offload { "on" } else { "off" }
    );
    ensure!(bps > 1e6, "[{}] only {bps} bit/s of TCP", kind.as_str());
    Ok(())
}

/// Host checksum offload off: the set-up in which the OVS reference works.
#[test]
fn tcp_through_two_bridges_tx_offload_off() -> Result<()> {
    tcp("e2e_tcp tx offload off", false)
}

/// Veth defaults (checksum offload on), as real hosts run: rvs must fill
/// in or pass through partial checksums correctly.
#[test]
fn tcp_through_two_bridges_default_offloads() -> Result<()> {
    tcp("e2e_tcp default offloads", true)
}
