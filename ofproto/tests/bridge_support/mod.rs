//! An [`OfBridge`] on in-memory ports with a fake clock, for the bridge
//! tests.  The PMD thread is real: helpers wait (bounded, 5 s) for the
//! datapath to have processed what was sent before asserting.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use datapath::dpif::DpifConfig;
use datapath::packet::Offload;
use datapath::pmd::ManualClock;
use datapath::port::MemPort;
use ofproto::bridge::{BridgeConfig, BridgeOptions, OfBridge, PortSpec};
use ofproto::service::OpenFlowSwitch;
use ofproto::switch::{ConnCtx, SwitchSettings};
use ofproto::wire::action::Action;
use ofproto::wire::consts::{self, OFP_NO_BUFFER};
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{FlowMod, flow_mod_command};
use ofproto::wire::multipart::FlowStatsRequest;
use ofproto::wire::oxm::{BasicField, Match, OxmField};
use ofproto::wire::{Body, Message, MultipartReplyBody, MultipartRequest, MultipartRequestBody};

pub(crate) const MASTER: ConnCtx = ConnCtx { is_slave: false };
pub(crate) const T0: u64 = 10_000;

pub(crate) struct Harness {
    pub(crate) br: OfBridge,
    pub(crate) clock: Arc<ManualClock>,
    /// Host ends; `hosts[i]` is attached as OpenFlow port `i + 1`.
    pub(crate) hosts: Vec<MemPort>,
    pub(crate) wakes: Arc<AtomicUsize>,
    sent: u64,
}

pub(crate) fn opts(clock: &Arc<ManualClock>) -> BridgeOptions {
    BridgeOptions {
        clock: clock.clone(),
        ..BridgeOptions::default()
    }
}

pub(crate) fn harness(n_ports: u32) -> Harness {
    harness_with(n_ports, |_| {})
}

pub(crate) fn harness_with(n_ports: u32, tune: impl FnOnce(&mut BridgeOptions)) -> Harness {
    let clock = Arc::new(ManualClock::default());
    clock.0.store(T0, Ordering::Relaxed);
    let mut o = opts(&clock);
    tune(&mut o);
    let cfg = BridgeConfig {
        name: "brt".into(),
        settings: SwitchSettings::default(),
        dpif: DpifConfig {
            pmd_threads: 1,
            poll_timeout: Duration::from_millis(5),
            ..DpifConfig::default()
        },
    };
    let mut br = OfBridge::with_options(cfg, o).expect("bridge starts");
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = wakes.clone();
    br.set_waker(Arc::new(move || {
        w.fetch_add(1, Ordering::Relaxed);
    }));
    let mut hosts = Vec::new();
    for i in 1..=n_ports {
        let (h, d) = MemPort::pair(&format!("h{i}"), &format!("d{i}"), 4096).expect("mem port");
        let of = br
            .add_port(
                Box::new(d),
                PortSpec {
                    name: format!("d{i}"),
                    ofport_request: Some(i),
                    hw_addr: [2, 0, 0, 0, 0, i as u8],
                    ..PortSpec::default()
                },
                T0,
            )
            .expect("port added");
        assert_eq!(of, i);
        hosts.push(h);
    }
    let mut h = Harness {
        br,
        clock,
        hosts,
        wakes,
        sent: 0,
    };
    // Drain the PORT_STATUS of the ports added above.
    let _ = h.run();
    h
}

/// Waits (bounded, 5 s) until `cond` holds.
pub(crate) fn wait(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

impl Harness {
    pub(crate) fn now(&self) -> u64 {
        self.clock.0.load(Ordering::Relaxed)
    }

    pub(crate) fn advance(&self, ms: u64) {
        self.clock.0.fetch_add(ms, Ordering::Relaxed);
    }

    /// Handles `body`; every produced message must round-trip the codec.
    pub(crate) fn send(&mut self, body: Body) -> Vec<Message> {
        let msg = Message::new(0x42, body);
        let raw = msg.to_vec();
        let mut out = Vec::new();
        let now = self.now();
        self.br.handle_message(MASTER, &msg, &raw, now, &mut out);
        for m in &out {
            assert_eq!(
                &Message::decode(&m.to_vec()).expect("reply decodes"),
                m,
                "codec round trip"
            );
        }
        out
    }

    pub(crate) fn barrier(&mut self) {
        let out = self.send(Body::BarrierRequest);
        assert!(
            matches!(out.last().map(|m| &m.body), Some(Body::BarrierReply)),
            "{out:?}"
        );
    }

    pub(crate) fn run(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        let now = self.now();
        self.br.run(now, &mut out);
        out
    }

    pub(crate) fn flow(&mut self, fm: FlowMod) {
        let out = self.send(Body::FlowMod(fm));
        assert!(out.is_empty(), "flow-mod failed: {out:?}");
    }

    /// Sends `frame` from host `i` (1-based port number) and waits until
    /// the datapath has processed it.
    pub(crate) fn tx(&mut self, port: u32, frame: &[u8]) {
        self.tx_n(port, frame, 1);
    }

    pub(crate) fn tx_n(&mut self, port: u32, frame: &[u8], n: u64) {
        let h = &self.hosts[(port - 1) as usize];
        for _ in 0..n {
            assert_eq!(
                h.send_frame(frame, Offload::default()),
                1,
                "host queue full"
            );
        }
        self.sent += n;
        let want = self.sent;
        let dp = self.br.dpif().clone();
        assert!(
            wait(|| {
                let s = dp.pmd_stats();
                s.emc_hits + s.megaflow_hits + s.upcalls >= want
            }),
            "datapath did not process the packets: {:?}",
            dp.pmd_stats()
        );
    }

    /// Frames received by host `port` so far (drained).
    pub(crate) fn rx(&self, port: u32) -> Vec<Vec<u8>> {
        let h = &self.hosts[(port - 1) as usize];
        let mut v = Vec::new();
        while let Some((f, _)) = h.recv_frame() {
            v.push(f);
        }
        v
    }

    /// Waits until host `port` has `n` frames pending, then drains them.
    pub(crate) fn rx_wait(&self, port: u32, n: usize) -> Vec<Vec<u8>> {
        let h = &self.hosts[(port - 1) as usize];
        assert!(
            wait(|| h.pending() >= n),
            "port {port}: {} of {n} frames",
            h.pending()
        );
        self.rx(port)
    }

    pub(crate) fn mp(&mut self, body: MultipartRequestBody) -> MultipartReplyBody {
        let out = self.send(Body::MultipartRequest(MultipartRequest { flags: 0, body }));
        assert_eq!(out.len(), 1, "{out:?}");
        match out.into_iter().next().map(|m| m.body) {
            Some(Body::MultipartReply(r)) => r.body,
            b => panic!("expected a multipart reply, got {b:?}"),
        }
    }
}

pub(crate) fn fm(table_id: u8, priority: u16, m: Match, ins: Vec<Instruction>) -> FlowMod {
    FlowMod {
        cookie: 0,
        cookie_mask: 0,
        table_id,
        command: flow_mod_command::ADD,
        idle_timeout: 0,
        hard_timeout: 0,
        priority,
        buffer_id: OFP_NO_BUFFER,
        out_port: consts::port::ANY,
        out_group: consts::group::ANY,
        flags: 0,
        match_: m,
        instructions: ins,
    }
}

pub(crate) fn m(fields: &[(BasicField, u128)]) -> Match {
    Match {
        fields: fields.iter().map(|&(f, v)| OxmField::exact(f, v)).collect(),
    }
}

pub(crate) fn out(port: u32) -> Action {
    Action::Output { port, max_len: 0 }
}

pub(crate) fn apply(a: Vec<Action>) -> Instruction {
    Instruction::ApplyActions(a)
}

pub(crate) fn all_flows() -> FlowStatsRequest {
    FlowStatsRequest {
        table_id: consts::table::ALL,
        out_port: consts::port::ANY,
        out_group: consts::group::ANY,
        cookie: 0,
        cookie_mask: 0,
        match_: Match::new(),
    }
}

pub(crate) fn mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, n]
}

/// A UDP/IPv4 frame (IPv4 header checksum valid, UDP checksum 0).
pub(crate) fn udp(src_mac: [u8; 6], dst_mac: [u8; 6], src: u32, dst: u32, dport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let payload = [0x55u8; 18];
    let total = 20 + 8 + payload.len();
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&src.to_be_bytes());
    ip.extend_from_slice(&dst.to_be_bytes());
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
    f.extend_from_slice(&1234u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// Counts calls (for wakers).
pub(crate) fn counter() -> (Arc<AtomicU64>, impl Fn() + Send + Sync + 'static) {
    let c = Arc::new(AtomicU64::new(0));
    let c2 = c.clone();
    (c, move || {
        c2.fetch_add(1, Ordering::Relaxed);
    })
}
