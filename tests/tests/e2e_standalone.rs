//! End to end: bridges in `fail_mode=standalone` whose only controller is
//! a passive listener (`ptcp:`), exactly what Mininet configures (it adds
//! `ptcp:6654`.. per switch, for `dpctl`).  Open vSwitch counts only
//! active controllers when deciding about its default flow: it keeps
//! `priority=0 actions=NORMAL` and forwards at once.  The switch under test
//! (`RVS_E2E_SWITCH=rvs|ovs`, default rvs) must do the same.
//!
//! Run as root: `cargo test -p rvs-tests --test e2e_standalone`.

use std::time::Instant;

use anyhow::{Result, ensure};
use rvs_tests::topo::{SwitchUnderTest, Topo, e2e_setup};

/// Creates the bridges of a linear,2,2 topology in standalone mode with a
/// passive controller per bridge, either in the bridge's own `ovs-vsctl`
/// transaction (`same_txn`, what Mininet does) or with `set-controller`
/// afterwards, then checks the default NORMAL flow and pings all.
fn passive_controller(test: &str, same_txn: bool) -> Result<()> {
    let Some((kind, _)) = e2e_setup(test, &["ping"], false) else {
        return Ok(());
    };
    let topo = Topo::linear(2, 2)?;
    let sw = SwitchUnderTest::start(kind, topo.switch_ns())?;
    let t = Instant::now();
    let ctl = vec!["ptcp:6654".to_string()];
    if same_txn {
        sw.add_topo_bridges(&topo, "standalone", &ctl)?;
    } else {
        sw.add_topo_bridges(&topo, "standalone", &[])?;
        for (i, s) in topo.switches().iter().enumerate() {
            let target = format!("ptcp:{}", 6654 + i);
            sw.vsctl(&["set-controller", &s.name, &target])?;
        }
    }
    for s in topo.switches() {
        let flows = sw.ofctl(&["dump-flows", &s.name])?;
        ensure!(
            flows.contains("priority=0 actions=NORMAL"),
            "{} [{}]: a standalone bridge with only a passive controller must keep \
             `priority=0 actions=NORMAL` (as ovs-vswitchd does):\n{flows}\n{}",
            s.name,
            kind.as_str(),
            sw.logs()
        );
    }
    let all = topo.ping_all(3)?;
    println!("{test} [{}]: {:?}\n{all}", kind.as_str(), t.elapsed());
    ensure!(
        all.unreachable().is_empty(),
        "{test} [{}]: {all}\n{}",
        kind.as_str(),
        sw.logs()
    );
    Ok(())
}

/// Mininet's way: `add-br` and the `ptcp:` controller in one transaction.
#[test]
fn standalone_bridge_created_with_passive_controller_forwards() -> Result<()> {
    passive_controller("e2e_standalone ptcp same transaction", true)
}

/// The passive controller added to running standalone bridges.
#[test]
fn standalone_bridge_given_passive_controller_later_forwards() -> Result<()> {
    passive_controller("e2e_standalone ptcp added later", false)
}

/// An active controller (even an unreachable one) takes the default flow
/// away, as in ovs-vswitchd; fail-open behaviour later is not checked here.
#[test]
fn active_controller_removes_default_normal_flow() -> Result<()> {
    let test = "e2e_standalone active controller";
    let Some((kind, _)) = e2e_setup(test, &[], false) else {
        return Ok(());
    };
    let topo = Topo::single(1)?;
    let sw = SwitchUnderTest::start(kind, topo.switch_ns())?;
    sw.add_topo_bridges(&topo, "standalone", &[])?;
    let flows = sw.ofctl(&["dump-flows", "s1"])?;
    ensure!(
        flows.contains("priority=0 actions=NORMAL"),
        "[{}] standalone, no controller: no default flow:\n{flows}",
        kind.as_str()
    );
    // Nothing listens on port 9 of the switch namespace's loopback.
    sw.vsctl(&["set-controller", "s1", "tcp:127.0.0.1:9"])?;
    let mut last = String::new();
    let gone = rvs_tests::topo::wait_until(
        std::time::Duration::from_secs(5),
        "default flow removed",
        || {
            last = sw.ofctl(&["dump-flows", "s1"])?;
            Ok(!last.contains("actions=NORMAL"))
        },
    );
    ensure!(
        gone.is_ok(),
        "[{}] an active controller must remove `priority=0 actions=NORMAL`:\n{last}\n{}",
        kind.as_str(),
        sw.logs()
    );
    Ok(())
}
