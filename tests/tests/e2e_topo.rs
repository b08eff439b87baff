//! The topology harness itself (tests/src/topo.rs), with a Linux bridge as
//! the switch so no OpenFlow switch is involved: namespaces and veth pairs
//! are built as described, hosts reach each other only through the
//! switch, iperf3 measures, and everything is gone after Drop.
//!
//! Run as root: `cargo test -p rvs-tests --test e2e_topo`.

use std::time::Duration;

use anyhow::{Result, ensure};
use rvs_tests::topo::{Topo, require_system};

fn netns_names() -> Result<Vec<String>> {
    let f = rvs_tests::topo::run_ok("ip", &["netns", "list"])?;
    Ok(f.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

#[test]
fn linear_topology_over_linux_bridges_pings_and_cleans_up() -> Result<()> {
    let test = "e2e_topo linear,3,2";
    if !require_system(test, &["ip", "ping", "sysctl"]) {
        return Ok(());
    }
    let topo = Topo::linear(3, 2)?;
    let prefix = topo.prefix().to_string();
    ensure!(topo.hosts().len() == 6 && topo.switches().len() == 3);
    // s2: two hosts, then the links to s1 and s3.
    ensure!(
        topo.switches()[1].ports == ["s2-eth1", "s2-eth2", "s2-eth3", "s2-eth4"],
        "{:?}",
        topo.switches()
    );

    // Before any switch exists, hosts are isolated.
    let (h1, h6) = (&topo.hosts()[0], &topo.hosts()[5]);
    let lone = topo.ping(h1, h6.ip, 1, Duration::from_secs(1))?;
    ensure!(
        lone.received == 0,
        "hosts reach each other without a switch"
    );

    topo.linux_bridges()?;
    let all = topo.ping_all(3)?;
    println!("{all}");
    ensure!(all.unreachable().is_empty(), "{all}");
    ensure!(all.pairs.len() == 30);

    let names = netns_names()?;
    ensure!(
        names
            .iter()
            .filter(|n| n.starts_with(&format!("{prefix}-")))
            .count()
            == 7
    );
    drop(topo);
    let names = netns_names()?;
    ensure!(
        !names.iter().any(|n| n.starts_with(&format!("{prefix}-"))),
        "namespaces left behind: {names:?}"
    );
    Ok(())
}

#[test]
fn cleanup_happens_when_the_test_panics() -> Result<()> {
    let test = "e2e_topo panic cleanup";
    if !require_system(test, &["ip"]) {
        return Ok(());
    }
    let prefix = std::sync::Mutex::new(String::new());
    let r = std::panic::catch_unwind(|| {
        let topo = Topo::single(2).expect("topology");
        *prefix.lock().expect("lock") = topo.prefix().to_string();
        panic!("deliberate");
    });
    ensure!(r.is_err());
    let prefix = prefix.into_inner().expect("lock");
    ensure!(!prefix.is_empty());
    let names = netns_names()?;
    ensure!(
        !names.iter().any(|n| n.starts_with(&format!("{prefix}-"))),
        "namespaces left behind after a panic: {names:?}"
    );
    Ok(())
}

#[test]
fn tree_topology_and_iperf() -> Result<()> {
    let test = "e2e_topo tree,2,2";
    if !require_system(test, &["ip", "ping", "sysctl", "iperf3", "ss"]) {
        return Ok(());
    }
    let topo = Topo::tree(2, 2)?;
    ensure!(topo.switches().len() == 3 && topo.hosts().len() == 4);
    topo.linux_bridges()?;
    let all = topo.ping_all(3)?;
    ensure!(all.unreachable().is_empty(), "{all}");
    let bps = topo.iperf(&topo.hosts()[0], &topo.hosts()[3], 1)?;
    println!(
        "iperf3 h1 -> h4 through 3 Linux bridges: {:.2} Gbit/s",
        bps / 1e9
    );
    ensure!(bps > 1e6, "iperf3 measured only {bps} bit/s");
    Ok(())
}
