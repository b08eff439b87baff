//! Poll-mode threads: the datapath's fast path.
//!
//! Each PMD thread owns a set of receive queues (port receive halves) and a
//! transmit handle for every port.  One iteration ([`Pmd::run_once`]):
//!
//! ```text
//! for each rx queue:  rx batch (<= 32 packets, into reused buffers)
//!   -> extract FlowKey -> exact-match cache -> megaflow cache
//!   -> miss: Upcall (actions + mask), install the megaflow, execute
//!   -> execute actions: outputs are queued per egress port
//! flush every egress queue (one sendmmsg per port and batch)
//! ```
//!
//! Bounded by design: the batch is fixed (32), each egress queue holds at
//! most 32 copies before it is flushed, commands arrive through a bounded
//! channel, and the megaflow cache has a flow limit.  Nothing is allocated
//! per packet on the hit path: packet buffers, keys and egress copies are
//! allocated once per thread and reused.  Frames too large for an egress
//! slot (GSO super-frames) are sent straight from the receive buffer after
//! flushing what is queued for that port, so order is kept.
//!
//! The thread sleeps in `poll(2)` on all its queues plus an eventfd the
//! control thread signals after queueing a command; it only polls when a
//! whole round found no packet (no busy polling: on small machines the
//! hosts need the CPU more than we need the microseconds).
//!
//! Time is an argument: the loop reads its [`Clock`] once per iteration and
//! passes `now` to the megaflow statistics ("used") and meters.

use crate::actions::{ActionSink, DpAction, MeterVerdict, execute};
use crate::emc::Emc;
use crate::flow::{FlowKey, extract};
use crate::megaflow::{CacheError, Megaflow};
use crate::packet::{BATCH_SIZE, Packet};
use crate::port::{MAX_FRAME, PortCounters, PortNo, PortRx, PortTx};
use crate::sys::{EventFd, poll_fds};
use crate::upcall::{Upcall, UpcallResult};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::dpif::FlowTable;

/// Egress copies up to this size are queued; larger frames are sent at once.
const SLOT_SIZE: usize = 2048 + 64;

/// A millisecond clock, passed in so tests can use a fake one.
pub trait Clock: Send + Sync {
    /// Milliseconds on a monotonic scale.
    fn now_ms(&self) -> u64;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        let start = START.get_or_init(std::time::Instant::now);
        u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct ManualClock(pub AtomicU64);

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one PMD thread (live; read with [`PmdCounters::snapshot`]).
#[derive(Debug, Default)]
pub struct PmdCounters {
    emc_hits: AtomicU64,
    megaflow_hits: AtomicU64,
    upcalls: AtomicU64,
    upcall_errors: AtomicU64,
    flow_limit_hits: AtomicU64,
    no_port_drops: AtomicU64,
    iterations: AtomicU64,
    busy_iterations: AtomicU64,
}

/// A snapshot of PMD counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PmdStats {
    /// Packets whose flow was found in the exact-match cache.
    pub emc_hits: u64,
    /// Packets found in the megaflow cache (after an EMC miss).
    pub megaflow_hits: u64,
    /// Packets sent to the slow path.
    pub upcalls: u64,
    /// Upcalls that failed (packet dropped).
    pub upcall_errors: u64,
    /// Megaflows not installed because the flow limit was reached.
    pub flow_limit_hits: u64,
    /// Outputs to a port that does not exist (dropped).
    pub no_port_drops: u64,
    /// Loop iterations.
    pub iterations: u64,
    /// Iterations that received at least one packet.
    pub busy_iterations: u64,
}

impl PmdStats {
    /// Adds another thread's counters.
    pub fn add(&mut self, o: &PmdStats) {
        self.emc_hits += o.emc_hits;
        self.megaflow_hits += o.megaflow_hits;
        self.upcalls += o.upcalls;
        self.upcall_errors += o.upcall_errors;
        self.flow_limit_hits += o.flow_limit_hits;
        self.no_port_drops += o.no_port_drops;
        self.iterations += o.iterations;
        self.busy_iterations += o.busy_iterations;
    }
}

impl PmdCounters {
    /// Reads the counters.
    pub fn snapshot(&self) -> PmdStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PmdStats {
            emc_hits: r(&self.emc_hits),
            megaflow_hits: r(&self.megaflow_hits),
            upcalls: r(&self.upcalls),
            upcall_errors: r(&self.upcall_errors),
            flow_limit_hits: r(&self.flow_limit_hits),
            no_port_drops: r(&self.no_port_drops),
            iterations: r(&self.iterations),
            busy_iterations: r(&self.busy_iterations),
        }
    }
}

fn bump(a: &AtomicU64, n: u64) {
    if n > 0 {
        a.fetch_add(n, Ordering::Relaxed);
    }
}

/// Commands from the control thread (see `dpif`).
pub(crate) enum PmdCmd {
    /// Start polling a port's receive half.
    AddRx(PortNo, Box<dyn PortRx>),
    /// Learn a port's transmit half.
    AddTx(PortNo, Arc<dyn PortTx>, Arc<PortCounters>),
    /// Forget a port (both halves).
    RemovePort(PortNo),
    /// Reply once every earlier command has been applied.
    Sync(SyncSender<()>),
}

struct RxQueue {
    port: PortNo,
    rx: Box<dyn PortRx>,
    /// `poll` reported the queue readable (data or a pending error).
    polled_ready: bool,
}

/// Per-egress-port queue of packet copies.
struct TxQueue {
    tx: Arc<dyn PortTx>,
    counters: Arc<PortCounters>,
    slots: Vec<Packet>,
    n: usize,
}

impl TxQueue {
    fn flush(&mut self) {
        if self.n > 0 {
            // Failures are counted by the port itself.
            self.tx.tx(&self.slots[..self.n]);
            self.n = 0;
        }
    }
}

/// The egress side an action list writes to: per-port queues of one PMD.
struct PmdSink<'a> {
    txqs: &'a mut [Option<TxQueue>],
    upcall: &'a dyn Upcall,
    counters: &'a PmdCounters,
    now: u64,
}

impl ActionSink for PmdSink<'_> {
    fn output(&mut self, port: u32, pkt: &Packet) {
        let Some(q) = usize::try_from(port)
            .ok()
            .and_then(|i| self.txqs.get_mut(i))
            .and_then(|q| q.as_mut())
        else {
            bump(&self.counters.no_port_drops, 1);
            return;
        };
        if pkt.len() > SLOT_SIZE {
            // Keep order: what is queued goes first.
            q.flush();
            q.tx.tx(std::slice::from_ref(pkt));
            return;
        }
        if q.n == q.slots.len() {
            q.flush();
        }
        let slot = &mut q.slots[q.n];
        slot.reset();
        let len = pkt.len();
        let spare = slot.spare_mut();
        if len > spare.len() {
            q.counters.tx_error();
            return;
        }
        spare[..len].copy_from_slice(pkt.data());
        slot.set_len(len);
        slot.offload = pkt.offload;
        slot.in_port = pkt.in_port;
        q.n += 1;
        if q.n == q.slots.len() {
            q.flush();
        }
    }

    fn userspace(&mut self, pkt: &Packet, cookie: u64, max_len: u32) {
        self.upcall.userspace(pkt, cookie, max_len);
    }

    fn meter(&mut self, meter: u32, pkt: &Packet) -> bool {
        self.upcall.meter(meter, pkt, self.now)
    }

    fn meter_verdict(&mut self, meter: u32, pkt: &Packet) -> MeterVerdict {
        self.upcall.meter_verdict(meter, pkt, self.now)
    }
}

/// One poll-mode thread's state.  [`Pmd::run_once`] is the whole fast path;
/// [`Pmd::run`] wraps it in the poll loop.  Tests drive `run_once` directly.
pub struct Pmd {
    id: usize,
    rxqs: Vec<RxQueue>,
    txqs: Vec<Option<TxQueue>>,
    batch: Vec<Packet>,
    keys: Vec<FlowKey>,
    hashes: Vec<u64>,
    hits: Vec<Option<Arc<Megaflow>>>,
    emc: Emc,
    last_rerank: u64,
    table: Arc<FlowTable>,
    upcall: Arc<dyn Upcall>,
    result: UpcallResult,
    counters: Arc<PmdCounters>,
    cmds: Receiver<PmdCmd>,
    wake: Arc<EventFd>,
    clock: Arc<dyn Clock>,
    fds: Vec<i32>,
    /// For `fds[i]` (i >= 1), the index of its receive queue.
    fd_queue: Vec<usize>,
    ready: Vec<bool>,
}

impl std::fmt::Debug for Pmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pmd")
            .field("id", &self.id)
            .field(
                "rx_ports",
                &self.rxqs.iter().map(|q| q.port).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The handles the control thread keeps for a PMD thread.
pub(crate) struct PmdHandle {
    pub(crate) cmds: SyncSender<PmdCmd>,
    pub(crate) wake: Arc<EventFd>,
    pub(crate) counters: Arc<PmdCounters>,
    pub(crate) n_rx: Mutex<usize>,
}

impl Pmd {
    /// A PMD with no ports yet, plus the handle to command it.
    pub(crate) fn new(
        id: usize,
        table: Arc<FlowTable>,
        upcall: Arc<dyn Upcall>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<(Pmd, PmdHandle)> {
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let wake = Arc::new(EventFd::new()?);
        let counters = Arc::new(PmdCounters::default());
        let pmd = Pmd {
            id,
            rxqs: Vec::new(),
            txqs: Vec::new(),
            batch: (0..BATCH_SIZE)
                .map(|_| Packet::new(MAX_FRAME + 64))
                .collect(),
            keys: (0..BATCH_SIZE).map(|_| FlowKey::default()).collect(),
            hashes: vec![0; BATCH_SIZE],
            hits: vec![None; BATCH_SIZE],
            emc: Emc::default(),
            last_rerank: 0,
            table,
            upcall,
            result: UpcallResult::default(),
            counters: counters.clone(),
            cmds: rx,
            wake: wake.clone(),
            clock,
            fds: Vec::new(),
            fd_queue: Vec::new(),
            ready: Vec::new(),
        };
        let handle = PmdHandle {
            cmds: tx,
            wake,
            counters,
            n_rx: Mutex::new(0),
        };
        Ok((pmd, handle))
    }

    /// Applies queued control commands.  Returns false when the control
    /// side has gone away (the thread should stop).
    fn apply_commands(&mut self) -> bool {
        loop {
            match self.cmds.try_recv() {
                Ok(PmdCmd::AddRx(port, rx)) => {
                    self.rxqs.retain(|q| q.port != port);
                    self.rxqs.push(RxQueue {
                        port,
                        rx,
                        polled_ready: false,
                    });
                    self.refresh_fds();
                }
                Ok(PmdCmd::AddTx(port, tx, counters)) => {
                    let Ok(i) = usize::try_from(port) else {
                        continue;
                    };
                    if self.txqs.len() <= i {
                        self.txqs.resize_with(i + 1, || None);
                    }
                    self.txqs[i] = Some(TxQueue {
                        tx,
                        counters,
                        slots: (0..BATCH_SIZE).map(|_| Packet::new(SLOT_SIZE)).collect(),
                        n: 0,
                    });
                }
                Ok(PmdCmd::RemovePort(port)) => {
                    self.rxqs.retain(|q| q.port != port);
                    if let Some(q) = usize::try_from(port)
                        .ok()
                        .and_then(|i| self.txqs.get_mut(i))
                    {
                        if let Some(t) = q.as_mut() {
                            t.flush();
                        }
                        *q = None;
                    }
                    self.refresh_fds();
                }
                Ok(PmdCmd::Sync(reply)) => {
                    let _ = reply.send(());
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn refresh_fds(&mut self) {
        self.fds.clear();
        self.fd_queue.clear();
        self.fds.push(self.wake.raw_fd());
        self.fd_queue.push(usize::MAX);
        for (i, q) in self.rxqs.iter().enumerate() {
            if let Some(fd) = q.rx.poll_fd() {
                self.fds.push(fd);
                self.fd_queue.push(i);
            }
        }
        self.ready.resize(self.fds.len(), false);
    }

    /// One pass over every receive queue; returns the packets received.
    pub fn run_once(&mut self) -> usize {
        let now = self.clock.now_ms();
        // Re-sort megaflow subtables by hits about once a second (only the
        // first PMD thread does it; it needs the write lock briefly).
        if self.id == 0 && now.saturating_sub(self.last_rerank) >= 1000 {
            self.last_rerank = now;
            self.table.rerank();
        }
        let mut total = 0;
        for qi in 0..self.rxqs.len() {
            let port = self.rxqs[qi].port;
            let n = match self.rxqs[qi].rx.rx(&mut self.batch) {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(port, error = %e, "rx error");
                    0
                }
            };
            if n > 0 {
                self.process(port, n, now);
                total += n;
            } else if self.rxqs[qi].polled_ready {
                // Readable but nothing to read: a pending socket error
                // (e.g. the device went down) would keep poll() returning
                // at once; collect it.
                self.rxqs[qi].rx.clear_error();
            }
            self.rxqs[qi].polled_ready = false;
        }
        for q in self.txqs.iter_mut().flatten() {
            q.flush();
        }
        bump(&self.counters.iterations, 1);
        if total > 0 {
            bump(&self.counters.busy_iterations, 1);
        }
        total
    }

    /// Classifies and executes `batch[..n]` received on `port`.
    fn process(&mut self, port: PortNo, n: usize, now: u64) {
        let mut emc_hits = 0;
        let mut mf_hits = 0;
        let mut misses = 0;
        for i in 0..n {
            let pkt = &mut self.batch[i];
            pkt.in_port = port;
            extract(pkt, &mut self.keys[i]);
            self.hashes[i] = Emc::hash(&self.keys[i]);
            self.hits[i] = self.emc.lookup(&self.keys[i], self.hashes[i]).cloned();
            if self.hits[i].is_some() {
                emc_hits += 1;
            } else {
                misses += 1;
            }
        }
        if misses > 0 {
            self.table.with_read(|cache| {
                for i in 0..n {
                    if self.hits[i].is_none() {
                        if let Some(f) = cache.lookup(&self.keys[i]) {
                            self.emc.insert(&self.keys[i], self.hashes[i], &f);
                            self.hits[i] = Some(f);
                            mf_hits += 1;
                        }
                    }
                }
            });
        }
        bump(&self.counters.emc_hits, emc_hits);
        bump(&self.counters.megaflow_hits, mf_hits);
        for i in 0..n {
            let flow = match self.hits[i].take() {
                Some(f) => f,
                None => match self.handle_miss(i, now) {
                    Some(f) => f,
                    None => continue,
                },
            };
            flow.record(1, self.batch[i].len() as u64, self.keys[i].tcp_flags(), now);
            let mut sink = PmdSink {
                txqs: &mut self.txqs,
                upcall: &*self.upcall,
                counters: &self.counters,
                now,
            };
            execute(&flow.actions, &mut self.batch[i], &self.keys[i], &mut sink);
        }
    }

    /// Slow path for packet `i`: a megaflow installed by an earlier packet
    /// of this batch, or an upcall.  Returns the flow to execute, or None
    /// when the packet was handled (or dropped) here.
    fn handle_miss(&mut self, i: usize, now: u64) -> Option<Arc<Megaflow>> {
        if let Some(f) = self.table.with_read(|c| c.lookup(&self.keys[i])) {
            self.emc.insert(&self.keys[i], self.hashes[i], &f);
            bump(&self.counters.megaflow_hits, 1);
            return Some(f);
        }
        bump(&self.counters.upcalls, 1);
        self.result.clear();
        let epoch = self.table.epoch();
        if let Err(e) = self
            .upcall
            .upcall(&self.batch[i], &self.keys[i], &mut self.result)
        {
            tracing::debug!(error = %e, "upcall failed");
            bump(&self.counters.upcall_errors, 1);
            return None;
        }
        if self.result.install {
            let actions: Arc<[DpAction]> = self.result.actions.clone().into();
            match self
                .table
                .insert_in_epoch(self.keys[i], self.result.mask, actions, epoch)
            {
                Ok(f) => {
                    self.emc.insert(&self.keys[i], self.hashes[i], &f);
                    return Some(f);
                }
                // Another thread installed the same megaflow meanwhile.
                Err(CacheError::Exists) => {
                    if let Some(f) = self.table.with_read(|c| c.lookup(&self.keys[i])) {
                        return Some(f);
                    }
                }
                // A revalidation started meanwhile: run this decision
                // once, the next packet asks again.
                Err(CacheError::Stale) => {}
                Err(_) => bump(&self.counters.flow_limit_hits, 1),
            }
        }
        // Not installed: execute this once.
        let mut sink = PmdSink {
            txqs: &mut self.txqs,
            upcall: &*self.upcall,
            counters: &self.counters,
            now,
        };
        execute(
            &self.result.actions,
            &mut self.batch[i],
            &self.keys[i],
            &mut sink,
        );
        None
    }

    /// Runs until `stop` is set (or the control side goes away).
    pub fn run(mut self, stop: Arc<AtomicBool>, poll_timeout: Duration) {
        self.refresh_fds();
        while !stop.load(Ordering::Acquire) {
            if !self.apply_commands() {
                break;
            }
            if self.run_once() > 0 {
                continue;
            }
            // Idle: sleep until a queue or the control eventfd is readable.
            match poll_fds(&self.fds, &mut self.ready, poll_timeout) {
                Ok(_) => {
                    if self.ready.first().copied().unwrap_or(false) {
                        self.wake.drain();
                    }
                    for (i, &r) in self.ready.iter().enumerate().skip(1) {
                        if r {
                            if let Some(q) =
                                self.fd_queue.get(i).and_then(|&qi| self.rxqs.get_mut(qi))
                            {
                                q.polled_ready = true;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(pmd = self.id, error = %e, "poll failed");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        for q in self.txqs.iter_mut().flatten() {
            q.flush();
        }
    }

    /// Applies pending commands (for tests driving [`Pmd::run_once`]).
    pub fn sync_commands(&mut self) -> bool {
        self.apply_commands()
    }

    /// This PMD's counters.
    pub fn counters(&self) -> &Arc<PmdCounters> {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Field, FlowMask};
    use crate::port::{MemPort, Port};
    use crate::upcall::UpcallError;

    /// Port 1 -> port 2, decided on in_port.
    struct Fwd;

    impl Upcall for Fwd {
        fn upcall(
            &self,
            _pkt: &Packet,
            _key: &FlowKey,
            out: &mut UpcallResult,
        ) -> Result<(), UpcallError> {
            out.actions.push(DpAction::Output(2));
            let mut m = FlowMask::CATCHALL;
            m.set_exact(Field::InPort);
            out.mask = m;
            out.install = true;
            Ok(())
        }
    }

    fn attach(h: &PmdHandle, no: PortNo, port: MemPort) {
        let counters = port.counters().clone();
        let parts = Box::new(port).into_parts();
        h.cmds.send(PmdCmd::AddTx(no, parts.tx, counters)).unwrap();
        h.cmds.send(PmdCmd::AddRx(no, parts.rx)).unwrap();
    }

    #[test]
    fn run_once_is_batch_bounded_and_uses_the_given_clock() {
        let table = Arc::new(FlowTable::new(16));
        let clock = Arc::new(ManualClock::default());
        clock.0.store(5000, Ordering::Relaxed);
        let (mut pmd, h) = Pmd::new(0, table.clone(), Arc::new(Fwd), clock.clone()).unwrap();
        let (a, d1) = MemPort::pair("a", "d1", 128).unwrap();
        let (b, d2) = MemPort::pair("b", "d2", 128).unwrap();
        attach(&h, 1, d1);
        attach(&h, 2, d2);
        assert!(pmd.sync_commands());
        let frame = [0x5au8; 60];
        for _ in 0..40 {
            a.send_frame(&frame, Default::default());
        }
        // One pass takes at most one batch per queue.
        assert_eq!(pmd.run_once(), BATCH_SIZE);
        assert_eq!(pmd.run_once(), 40 - BATCH_SIZE);
        assert_eq!(pmd.run_once(), 0);
        assert_eq!(b.pending(), 40);
        let st = pmd.counters().snapshot();
        assert_eq!(st.upcalls, 1);
        assert_eq!(st.iterations, 3);
        assert_eq!(st.busy_iterations, 2);
        let flow = table.with_read(|c| c.dump()).pop().unwrap();
        assert_eq!(flow.stats().packets, 40);
        assert_eq!(flow.stats().used_ms, 5000);

        // Time only moves when the caller says so.
        clock.0.store(7000, Ordering::Relaxed);
        a.send_frame(&frame, Default::default());
        assert_eq!(pmd.run_once(), 1);
        assert_eq!(flow.stats().used_ms, 7000);

        // Removing the egress port: outputs to it are counted as drops.
        h.cmds.send(PmdCmd::RemovePort(2)).unwrap();
        assert!(pmd.sync_commands());
        a.send_frame(&frame, Default::default());
        assert_eq!(pmd.run_once(), 1);
        assert_eq!(pmd.counters().snapshot().no_port_drops, 1);
        assert_eq!(b.pending(), 41);
    }
}
