//! rvs-fwd: a minimal two-port forwarder on the rvs datapath.
//!
//! Attaches two ports (`--port NAME` for existing devices through
//! AF_PACKET, `--tap NAME` for TAP devices; `--port`s are numbered first, in
//! command-line order, then `--tap`s) and forwards every frame from port 1
//! out of port 2 and back.  The decision is made in an upcall that installs a
//! megaflow matching only `in_port`, so after the first packet in each
//! direction everything is handled by the PMD thread's caches: this is the
//! datapath's fast path without any OpenFlow in front.
//!
//! Runs until SIGTERM/SIGINT, then prints port, PMD and flow statistics.
//! `--pidfile F` is written once both ports are attached (a wrapper can wait
//! for it to know the forwarder is ready).

use anyhow::{Context, bail};
use clap::Parser;
use datapath::actions::DpAction;
use datapath::dpif::{Dpif, DpifConfig};
use datapath::flow::{Field, FlowKey, FlowMask};
use datapath::packet::Packet;
use datapath::port::{Port, SystemPort, SystemPortOptions, TapPort};
use datapath::sys::{TapOptions, block_termination_signals, wait_termination_signal};
use datapath::upcall::{Upcall, UpcallError, UpcallResult};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "rvs-fwd",
    about = "Forward between two ports on the rvs datapath"
)]
struct Args {
    /// Existing network device to attach through AF_PACKET (repeatable).
    #[arg(long = "port")]
    ports: Vec<String>,
    /// TAP device to create/attach (repeatable).
    #[arg(long = "tap")]
    taps: Vec<String>,
    /// Write our PID here once the ports are attached.
    #[arg(long)]
    pidfile: Option<std::path::PathBuf>,
    /// Poll-mode threads.
    #[arg(long, default_value_t = 1)]
    pmd_threads: usize,
    /// Frames in each AF_PACKET receive ring (0 = recvmmsg, no ring).
    #[arg(long, default_value_t = 2048)]
    ring_frames: u32,
    /// Bytes per ring frame (bigger frames use the copy path).
    #[arg(long, default_value_t = 2048)]
    ring_frame_size: u32,
    /// Do not exchange virtio-net headers with the kernel.
    #[arg(long)]
    no_vnet: bool,
}

/// Port 1 <-> port 2, decided on `in_port` alone.
struct Crossover;

impl Upcall for Crossover {
    fn upcall(
        &self,
        pkt: &Packet,
        key: &FlowKey,
        out: &mut UpcallResult,
    ) -> Result<(), UpcallError> {
        let other = match pkt.in_port {
            1 => 2,
            2 => 1,
            _ => return Err(UpcallError::Failed("packet from unknown port".into())),
        };
        out.actions.push(DpAction::Output(other));
        let mut mask = FlowMask::CATCHALL;
        mask.set_exact(Field::InPort);
        out.mask = mask;
        let _ = key;
        out.install = true;
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.ports.len() + args.taps.len() != 2 {
        bail!("give exactly two ports (--port and/or --tap)");
    }
    // Before any thread exists, so every thread inherits the mask.
    block_termination_signals().context("blocking SIGTERM/SIGINT")?;

    let cfg = DpifConfig {
        pmd_threads: args.pmd_threads.max(1),
        ..DpifConfig::default()
    };
    let dp = Dpif::new(cfg, Arc::new(Crossover)).context("starting the datapath")?;
    let mut sopts = SystemPortOptions::default();
    sopts.socket.ring_frames = args.ring_frames;
    sopts.socket.ring_frame_size = args.ring_frame_size;
    sopts.socket.vnet_hdr = !args.no_vnet;
    let topts = TapOptions {
        vnet_hdr: !args.no_vnet,
        offload: !args.no_vnet,
        ..TapOptions::default()
    };
    let mut no = 1;
    for name in &args.ports {
        let p = SystemPort::open(name, &sopts).with_context(|| format!("opening {name}"))?;
        dp.add_port(Box::new(p) as Box<dyn Port>, Some(no))
            .with_context(|| format!("adding {name}"))?;
        eprintln!("rvs-fwd: port {no}: {name} (system)");
        no += 1;
    }
    for name in &args.taps {
        let p = TapPort::open(name, &topts).with_context(|| format!("opening tap {name}"))?;
        datapath::sys::netdev::set_up(name, true).with_context(|| format!("bringing {name} up"))?;
        dp.add_port(Box::new(p) as Box<dyn Port>, Some(no))
            .with_context(|| format!("adding tap {name}"))?;
        eprintln!("rvs-fwd: port {no}: {name} (tap)");
        no += 1;
    }
    if let Some(pf) = &args.pidfile {
        std::fs::write(pf, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", pf.display()))?;
    }
    let sig = wait_termination_signal().context("waiting for a signal")?;
    eprintln!("rvs-fwd: signal {sig}, stopping");

    // Let in-flight batches drain, then report.
    std::thread::sleep(Duration::from_millis(10));
    for p in dp.list_ports() {
        let s = p.stats;
        println!(
            "port {} {} ({}): rx {} pkts {} bytes, {} dropped, {} errors; tx {} pkts {} bytes, {} dropped, {} errors",
            p.port_no,
            p.name,
            p.kind.as_str(),
            s.rx_packets,
            s.rx_bytes,
            s.rx_dropped,
            s.rx_errors,
            s.tx_packets,
            s.tx_bytes,
            s.tx_dropped,
            s.tx_errors
        );
    }
    let ps = dp.pmd_stats();
    println!(
        "pmd: emc hits {}, megaflow hits {}, upcalls {} ({} failed), flow-limit hits {}, iterations {} ({} busy)",
        ps.emc_hits,
        ps.megaflow_hits,
        ps.upcalls,
        ps.upcall_errors,
        ps.flow_limit_hits,
        ps.iterations,
        ps.busy_iterations
    );
    println!("megaflows: {}", dp.flow_count());
    dp.shutdown();
    if let Some(pf) = &args.pidfile {
        let _ = std::fs::remove_file(pf);
    }
    Ok(())
}
