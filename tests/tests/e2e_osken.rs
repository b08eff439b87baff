//! End to end: an os-ken learning-switch controller (tests/controllers/
//! learning_switch.py) drives the switch under test (`RVS_E2E_SWITCH=rvs|ovs`,
//! default rvs) over OpenFlow 1.3; hosts in network namespaces ping each
//! other.  The bridges run with `fail_mode=secure`, so every forwarding
//! decision comes from the controller's flows and packet-outs, never from
//! a NORMAL fallback.
//!
//! Run as root: `cargo test -p rvs-tests --test e2e_osken`
//! (reference: `RVS_E2E_SWITCH=ovs cargo test -p rvs-tests --test e2e_osken`).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use rvs_tests::topo::{Controller, SwitchUnderTest, Topo, controllers_dir, e2e_setup};

const OF_PORT: u16 = 6653;

/// Builds `topo`, starts the controller and the switch (in the topology's
/// switch namespace), wires every switch to the controller, pings all.
fn run_learning_switch(test: &str, build: impl FnOnce() -> Result<Topo>) -> Result<()> {
    let Some((kind, manager)) = e2e_setup(test, &["ping", "ss"], true) else {
        return Ok(());
    };
    let topo = build()?;
    let manager = manager.context("osken-manager")?;
    // Resolve (and for rvs, build) the daemon before timing the set-up.
    kind.vswitchd_bin()?;
    let started = Instant::now();
    let app = controllers_dir().join("learning_switch.py");
    let mut ctl = Controller::start_osken(&manager, &app, topo.switch_ns(), OF_PORT)?;
    let sw = SwitchUnderTest::start(kind, topo.switch_ns())?;
    let ctx = |sw: &SwitchUnderTest, ctl: &Controller| {
        format!("\n{}\n--- controller log\n{}", sw.logs(), ctl.log_text())
    };

    sw.add_topo_bridges(&topo, "secure", &[ctl.target()])
        .with_context(|| ctx(&sw, &ctl))?;
    sw.wait_controllers_connected(&topo, Duration::from_secs(30))
        .with_context(|| ctx(&sw, &ctl))?;
    let setup = started.elapsed();

    let t = Instant::now();
    let result = topo.ping_all(3)?;
    let ping_time = t.elapsed();
    ctl.check_running().with_context(|| ctx(&sw, &ctl))?;
    println!(
        "{test} [{}]: setup {setup:?}, ping_all {ping_time:?}\n{result}",
        kind.as_str()
    );
    ensure!(
        result.unreachable().is_empty(),
        "{test} [{}]: unreachable pairs {:?}\n{result}{}",
        kind.as_str(),
        result.unreachable(),
        ctx(&sw, &ctl)
    );

    // The controller did the work: it learned every host's MAC, and the
    // switches hold the flows it installed (priority 1) beside its
    // table-miss flow (priority 0 -> CONTROLLER).
    let log = ctl.log_text();
    for h in topo.hosts() {
        let mac = rvs_tests::topo::mac_text(&h.mac);
        ensure!(
            log.contains(&format!("mac={mac}")),
            "controller never learned {} ({mac}):\n{log}",
            h.name
        );
    }
    for s in topo.switches() {
        let flows = sw.ofctl(&["dump-flows", &s.name])?;
        ensure!(
            flows.contains("priority=0 actions=CONTROLLER:65535"),
            "{}: no table-miss flow from the controller:\n{flows}",
            s.name
        );
        let learned = flows.lines().filter(|l| l.contains("priority=1,")).count();
        ensure!(
            learned > 0,
            "{}: no learned flows from the controller:\n{flows}",
            s.name
        );
        println!("{} [{}]: {learned} learned flows", s.name, kind.as_str());
    }
    Ok(())
}

/// Issue 6: os-ken learning switch, one switch, three hosts, all pairs ping.
#[test]
fn osken_learning_switch_single_3_hosts() -> Result<()> {
    let test = "e2e_osken single,3";
    run_learning_switch(test, || Topo::single(3))
}

/// Issue 7: os-ken learning switch on a linear topology of two bridges
/// with two hosts each (bridges linked by a veth pair), ping all.
#[test]
fn osken_learning_switch_linear_2x2() -> Result<()> {
    let test = "e2e_osken linear,2,2";
    run_learning_switch(test, || Topo::linear(2, 2))
}

/// Issue 6, fail modes: the controller learns both hosts, then dies.
/// `secure`: the flows it installed keep forwarding, and once they are
/// deleted nothing forwards any more.  `standalone`: after the controller
/// has been gone for a few probe intervals (inactivity_probe 1 s) the switch
/// fails open to NORMAL forwarding, even with its flow table emptied.
fn controller_loss(test: &str, fail_mode: &str) -> Result<()> {
    let Some((kind, manager)) = e2e_setup(test, &["ping", "ss"], true) else {
        return Ok(());
    };
    let manager = manager.context("osken-manager")?;
    kind.vswitchd_bin()?;
    let topo = Topo::single(2)?;
    let app = controllers_dir().join("learning_switch.py");
    let mut ctl = Controller::start_osken(&manager, &app, topo.switch_ns(), OF_PORT)?;
    let sw = SwitchUnderTest::start(kind, topo.switch_ns())?;
    sw.add_topo_bridges(&topo, fail_mode, &[ctl.target()])?;
    sw.vsctl(&[
        "set",
        "Controller",
        "s1",
        "inactivity_probe=1000",
        "max_backoff=1000",
    ])?;
    sw.wait_controllers_connected(&topo, Duration::from_secs(30))?;
    let all = topo.ping_all(3)?;
    ensure!(all.unreachable().is_empty(), "{all}\n{}", sw.logs());

    ctl.stop();
    let (h1, h2) = (&topo.hosts()[0], &topo.hosts()[1]);
    let k = kind.as_str();
    if fail_mode == "secure" {
        // The learned flows (and the hosts' ARP caches) carry on.
        let s = topo.ping(h1, h2.ip, 3, Duration::from_secs(5))?;
        ensure!(
            s.received > 0,
            "[{k}] secure: the controller's flows stopped forwarding when it died\n{}",
            sw.logs()
        );
        // Past the time a standalone switch would fail open.
        std::thread::sleep(Duration::from_secs(5));
        sw.ofctl(&["del-flows", "s1"])?;
        let s = topo.ping(h1, h2.ip, 3, Duration::from_secs(5))?;
        ensure!(
            s.received == 0,
            "[{k}] secure with no controller and no flows still forwards ({s:?})"
        );
    } else {
        let t = Instant::now();
        let mut last = None;
        let r =
            rvs_tests::topo::wait_until(Duration::from_secs(30), "fail-open forwarding", || {
                sw.ofctl(&["del-flows", "s1"])?;
                let s = topo.ping(h1, h2.ip, 1, Duration::from_secs(3))?;
                last = Some(s);
                Ok(s.received > 0)
            });
        ensure!(
            r.is_ok(),
            "[{k}] standalone did not fail open after losing its controller ({last:?})\n{}",
            sw.logs()
        );
        println!(
            "{test} [{k}]: forwarding without controller after {:?}",
            t.elapsed()
        );
    }
    Ok(())
}

#[test]
fn secure_mode_keeps_flows_when_controller_dies() -> Result<()> {
    controller_loss("e2e_osken secure controller loss", "secure")
}

#[test]
fn standalone_mode_fails_open_when_controller_dies() -> Result<()> {
    controller_loss("e2e_osken standalone controller loss", "standalone")
}
