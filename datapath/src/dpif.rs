//! The datapath's control handle ([`Dpif`]): ports, flows, packet-out and
//! statistics, for the rest of rvs.
//!
//! # Threading
//!
//! A `Dpif` starts `pmd_threads` poll-mode threads ([`crate::pmd`]) and is
//! itself `Send + Sync`: any control thread may call it.
//!
//! * **Ports** travel to the PMD threads as messages on a bounded channel
//!   (capacity 64) followed by a wake-up on the thread's eventfd; `add_port`
//!   and `remove_port` wait for the PMD threads to acknowledge, so when they
//!   return the port is polled (or no longer touched).  A port's receive
//!   half goes to exactly one PMD thread (the one with fewest ports); its
//!   transmit half (`Arc<dyn PortTx>`, safe to share) goes to every PMD
//!   thread and stays in the control thread's port table for packet-out.
//! * **Flows** live in one [`FlowTable`]: the megaflow cache behind a
//!   reader/writer lock.  PMD threads take the read lock once per batch that
//!   missed their exact-match cache, and the write lock only to install a
//!   megaflow after an upcall; control operations take it directly, so a
//!   `flow_put` is visible to the next batch without a round trip.  A
//!   removed megaflow is marked dead, and an exact-match cache entry that
//!   still points at it stops hitting, so no thread keeps executing a
//!   deleted flow.
//! * **Statistics** are atomics (per port, per PMD thread, per megaflow),
//!   read without stopping anything.
//!
//! Messages were chosen for ports because a port's receive half is owned
//! (`&mut`) by one thread and must be handed over; a lock was chosen for
//! flows because lookups vastly outnumber changes and the control side
//! needs synchronous results (put/del/dump with stats).

use crate::actions::{ActionSink, DpAction, MeterVerdict, execute};
use crate::flow::{FlowKey, FlowMask, extract};
use crate::megaflow::{CacheError, Megaflow, MegaflowCache};
use crate::packet::Packet;
use crate::pmd::{Clock, MonotonicClock, Pmd, PmdCmd, PmdHandle, PmdStats};
use crate::port::{Port, PortCounters, PortKind, PortNo, PortStats, PortTx};
use crate::upcall::Upcall;
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// Highest datapath port number.
pub const MAX_PORT_NO: PortNo = 4095;

/// Errors of the control API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DpifError {
    /// A port with this name is already attached.
    #[error("port {0} already exists")]
    PortExists(String),
    /// The requested port number is taken.
    #[error("port number {0} in use")]
    PortNumberInUse(PortNo),
    /// No port with this number.
    #[error("no such port {0}")]
    NoSuchPort(PortNo),
    /// Port numbers exhausted or out of range.
    #[error("no port number available (max {MAX_PORT_NO})")]
    TooManyPorts,
    /// The megaflow cache refused the flow (limit reached or invalid).
    #[error("flow not installed: {0}")]
    FlowRejected(String),
    /// A PMD thread is gone.
    #[error("poll-mode thread not running")]
    PmdGone,
    /// System error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Configuration of a datapath.
#[derive(Debug, Clone)]
pub struct DpifConfig {
    /// Poll-mode threads (at least 1).
    pub pmd_threads: usize,
    /// Megaflow limit.
    pub flow_limit: usize,
    /// Longest sleep in `poll` (bounds stop latency).
    pub poll_timeout: Duration,
}

impl Default for DpifConfig {
    fn default() -> Self {
        DpifConfig {
            pmd_threads: 1,
            flow_limit: 200_000,
            poll_timeout: Duration::from_millis(100),
        }
    }
}

/// The megaflow cache shared by PMD threads and the control thread.
#[derive(Debug)]
pub struct FlowTable {
    cache: RwLock<MegaflowCache>,
    /// Revalidation epoch: bumped (under the write lock) when the slow
    /// path's state changes; an upcall decided in an older epoch is not
    /// installed ([`FlowTable::insert_in_epoch`]).
    epoch: AtomicU64,
    /// Bumped (under the write lock) by every change of the set of
    /// megaflows or of their actions ([`FlowTable::version`]).
    version: AtomicU64,
}

impl FlowTable {
    /// An empty table holding at most `limit` megaflows.
    pub fn new(limit: usize) -> FlowTable {
        FlowTable {
            cache: RwLock::new(MegaflowCache::new(limit)),
            epoch: AtomicU64::new(0),
            version: AtomicU64::new(0),
        }
    }

    /// Re-sorts the subtables by recent hits.
    pub fn rerank(&self) {
        self.write().rerank();
    }

    /// Runs `f` under the read lock.
    pub fn with_read<R>(&self, f: impl FnOnce(&MegaflowCache) -> R) -> R {
        let g = match self.cache.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&g)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, MegaflowCache> {
        match self.cache.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The write lock, for a change of the megaflows: bumps the version.
    fn write_changing(&self) -> std::sync::RwLockWriteGuard<'_, MegaflowCache> {
        let g = self.write();
        self.version.fetch_add(1, Ordering::AcqRel);
        g
    }

    /// A number that changes whenever a megaflow is installed, deleted or
    /// given new actions (so a caller can tell whether a dump it kept is
    /// still the set of megaflows).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current revalidation epoch (read before an upcall).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Starts a new epoch: upcalls that began earlier will not install
    /// their megaflows.  Returns the new epoch.
    pub fn bump_epoch(&self) -> u64 {
        let _g = self.write();
        self.epoch.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Installs `key & mask -> actions` if the epoch is still `epoch`
    /// (else [`CacheError::Stale`]).  The check and the insert happen
    /// under one write lock, so a revalidation that bumped the epoch and
    /// then dumped the cache sees every megaflow installed in the old
    /// epoch.
    pub fn insert_in_epoch(
        &self,
        key: FlowKey,
        mask: FlowMask,
        actions: Arc<[DpAction]>,
        epoch: u64,
    ) -> Result<Arc<Megaflow>, CacheError> {
        let mut g = self.write_changing();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return Err(CacheError::Stale);
        }
        g.insert(key, mask, actions)
    }

    /// Installs `key & mask -> actions`.
    pub fn insert(
        &self,
        key: FlowKey,
        mask: FlowMask,
        actions: Arc<[DpAction]>,
    ) -> Result<Arc<Megaflow>, CacheError> {
        self.write_changing().insert(key, mask, actions)
    }
}

/// A port as the control API lists it.
#[derive(Debug, Clone)]
pub struct PortInfo {
    /// Datapath port number.
    pub port_no: PortNo,
    /// Device name.
    pub name: String,
    /// Port kind.
    pub kind: PortKind,
    /// Counters at the time of the call.
    pub stats: PortStats,
}

struct PortEntry {
    name: String,
    kind: PortKind,
    counters: Arc<PortCounters>,
    tx: Arc<dyn PortTx>,
    pmd: usize,
}

struct Inner {
    ports: Mutex<BTreeMap<PortNo, PortEntry>>,
    pmds: Vec<PmdHandle>,
    table: Arc<FlowTable>,
    upcall: Arc<dyn Upcall>,
    clock: Arc<dyn Clock>,
}

/// The datapath control handle; see the module documentation.
pub struct Dpif {
    inner: Inner,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Dpif {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dpif")
            .field("pmd_threads", &self.inner.pmds.len())
            .finish()
    }
}

impl Dpif {
    /// Starts a datapath with the real clock.
    pub fn new(config: DpifConfig, upcall: Arc<dyn Upcall>) -> Result<Dpif, DpifError> {
        Self::with_clock(config, upcall, Arc::new(MonotonicClock))
    }

    /// Starts a datapath whose PMD threads read `clock`.
    pub fn with_clock(
        config: DpifConfig,
        upcall: Arc<dyn Upcall>,
        clock: Arc<dyn Clock>,
    ) -> Result<Dpif, DpifError> {
        let table = Arc::new(FlowTable::new(config.flow_limit));
        let stop = Arc::new(AtomicBool::new(false));
        let mut pmds = Vec::new();
        let mut threads = Vec::new();
        for id in 0..config.pmd_threads.max(1) {
            let (pmd, handle) = Pmd::new(id, table.clone(), upcall.clone(), clock.clone())?;
            let st = stop.clone();
            let timeout = config.poll_timeout;
            let t = std::thread::Builder::new()
                .name(format!("pmd{id}"))
                .spawn(move || pmd.run(st, timeout))?;
            pmds.push(handle);
            threads.push(t);
        }
        Ok(Dpif {
            inner: Inner {
                ports: Mutex::new(BTreeMap::new()),
                pmds,
                table,
                upcall,
                clock,
            },
            stop,
            threads,
        })
    }

    fn ports(&self) -> MutexGuard<'_, BTreeMap<PortNo, PortEntry>> {
        match self.inner.ports.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn send(&self, pmd: usize, cmd: PmdCmd) -> Result<(), DpifError> {
        let h = self.inner.pmds.get(pmd).ok_or(DpifError::PmdGone)?;
        h.cmds.send(cmd).map_err(|_| DpifError::PmdGone)?;
        h.wake.signal()?;
        Ok(())
    }

    /// Waits until every PMD thread has applied earlier commands.
    fn sync_all(&self) -> Result<(), DpifError> {
        for i in 0..self.inner.pmds.len() {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            self.send(i, PmdCmd::Sync(tx))?;
            rx.recv_timeout(Duration::from_secs(10))
                .map_err(|_| DpifError::PmdGone)?;
        }
        Ok(())
    }

    /// Attaches `port`, as number `requested` if given (else the lowest
    /// free number from 1).  Returns the port number once it is polled.
    pub fn add_port(
        &self,
        port: Box<dyn Port>,
        requested: Option<PortNo>,
    ) -> Result<PortNo, DpifError> {
        let name = port.name().to_owned();
        let kind = port.kind();
        let counters = port.counters().clone();
        let no = {
            let mut ports = self.ports();
            if ports.values().any(|p| p.name == name) {
                return Err(DpifError::PortExists(name));
            }
            let no = match requested {
                Some(n) if n == 0 || n > MAX_PORT_NO => return Err(DpifError::TooManyPorts),
                Some(n) if ports.contains_key(&n) => return Err(DpifError::PortNumberInUse(n)),
                Some(n) => n,
                None => (1..=MAX_PORT_NO)
                    .find(|n| !ports.contains_key(n))
                    .ok_or(DpifError::TooManyPorts)?,
            };
            // Least-loaded PMD thread gets the receive half.
            let pmd = (0..self.inner.pmds.len())
                .min_by_key(|&i| {
                    self.inner.pmds[i]
                        .n_rx
                        .lock()
                        .map(|g| *g)
                        .unwrap_or(usize::MAX)
                })
                .unwrap_or(0);
            let parts = port.into_parts();
            for i in 0..self.inner.pmds.len() {
                self.send(i, PmdCmd::AddTx(no, parts.tx.clone(), counters.clone()))?;
            }
            self.send(pmd, PmdCmd::AddRx(no, parts.rx))?;
            if let Ok(mut g) = self.inner.pmds[pmd].n_rx.lock() {
                *g += 1;
            }
            ports.insert(
                no,
                PortEntry {
                    name,
                    kind,
                    counters,
                    tx: parts.tx,
                    pmd,
                },
            );
            no
        };
        self.sync_all()?;
        Ok(no)
    }

    /// Detaches port `no`; when this returns no thread touches it any more
    /// (its sockets close once the last handle is gone).
    pub fn remove_port(&self, no: PortNo) -> Result<(), DpifError> {
        let entry = self.ports().remove(&no).ok_or(DpifError::NoSuchPort(no))?;
        if let Ok(mut g) = self.inner.pmds[entry.pmd].n_rx.lock() {
            *g = g.saturating_sub(1);
        }
        for i in 0..self.inner.pmds.len() {
            self.send(i, PmdCmd::RemovePort(no))?;
        }
        self.sync_all()
    }

    /// All ports with their counters.
    pub fn list_ports(&self) -> Vec<PortInfo> {
        self.ports()
            .iter()
            .map(|(&no, p)| PortInfo {
                port_no: no,
                name: p.name.clone(),
                kind: p.kind,
                stats: p.counters.snapshot(),
            })
            .collect()
    }

    /// The number of the port named `name`.
    pub fn port_no(&self, name: &str) -> Option<PortNo> {
        self.ports()
            .iter()
            .find(|(_, p)| p.name == name)
            .map(|(&no, _)| no)
    }

    /// Counters of port `no`.
    pub fn port_stats(&self, no: PortNo) -> Result<PortStats, DpifError> {
        self.ports()
            .get(&no)
            .map(|p| p.counters.snapshot())
            .ok_or(DpifError::NoSuchPort(no))
    }

    /// Installs (or replaces) the megaflow `key & mask -> actions`.
    pub fn flow_put(
        &self,
        key: FlowKey,
        mask: FlowMask,
        actions: Vec<DpAction>,
    ) -> Result<Arc<Megaflow>, DpifError> {
        let mut cache = self.inner.table.write_changing();
        cache.remove(&key, &mask);
        cache
            .insert(key, mask, actions.into())
            .map_err(|e| DpifError::FlowRejected(e.to_string()))
    }

    /// The megaflow installed with exactly this key and mask.
    pub fn flow_get(&self, key: &FlowKey, mask: &FlowMask) -> Option<Arc<Megaflow>> {
        self.inner.table.with_read(|c| c.get(key, mask))
    }

    /// The megaflow a packet with exact key `key` would hit.
    pub fn flow_lookup(&self, key: &FlowKey) -> Option<Arc<Megaflow>> {
        self.inner.table.with_read(|c| c.lookup(key))
    }

    /// Removes the megaflow with exactly this key and mask; returns it (with
    /// its final statistics).
    pub fn flow_del(&self, key: &FlowKey, mask: &FlowMask) -> Option<Arc<Megaflow>> {
        self.inner.table.write_changing().remove(key, mask)
    }

    /// Every megaflow, with live statistics.
    pub fn flow_dump(&self) -> Vec<Arc<Megaflow>> {
        self.inner.table.with_read(|c| c.dump())
    }

    /// Changes whenever a megaflow is installed, deleted or modified.
    pub fn flow_version(&self) -> u64 {
        self.inner.table.version()
    }

    /// Number of megaflows.
    pub fn flow_count(&self) -> usize {
        self.inner.table.with_read(|c| c.len())
    }

    /// The megaflow limit ([`DpifConfig::flow_limit`]).
    pub fn flow_limit(&self) -> usize {
        self.inner.table.with_read(|c| c.limit())
    }

    /// Starts a revalidation: megaflows whose upcall started before this
    /// call are not installed (their decision may predate the new state
    /// the caller just published).  Call after publishing, before
    /// [`Dpif::flow_dump`].
    pub fn begin_revalidation(&self) -> u64 {
        self.inner.table.bump_epoch()
    }

    /// Replaces the actions of an installed megaflow (same key and mask),
    /// keeping its statistics.  Returns the megaflow now installed, `None`
    /// if it is gone.
    pub fn flow_modify(&self, flow: &Megaflow, actions: Vec<DpAction>) -> Option<Arc<Megaflow>> {
        let mut cache = self.inner.table.write_changing();
        let old = cache.remove(&flow.key, &flow.mask)?;
        let new = Megaflow::new(old.orig_key, old.mask, actions.into());
        let st = old.stats();
        new.record(st.packets, st.bytes, st.tcp_flags, st.used_ms);
        let new = Arc::new(new);
        cache.insert_flow(Arc::clone(&new)).ok().map(|_| new)
    }

    /// Removes every megaflow.
    pub fn flow_flush(&self) {
        self.inner.table.write_changing().flush();
    }

    /// Executes `actions` on `pkt` as if it had arrived on `in_port`
    /// (OpenFlow packet-out).  Outputs are sent at once from the calling
    /// thread.
    pub fn execute(&self, mut pkt: Packet, in_port: PortNo, actions: &[DpAction]) {
        pkt.in_port = in_port;
        let mut key = FlowKey::default();
        extract(&mut pkt, &mut key);
        let txs: Vec<(PortNo, Arc<dyn PortTx>)> = self
            .ports()
            .iter()
            .map(|(&no, p)| (no, p.tx.clone()))
            .collect();
        let mut sink = DirectSink {
            txs: &txs,
            upcall: &*self.inner.upcall,
            now: self.inner.clock.now_ms(),
        };
        execute(actions, &mut pkt, &key, &mut sink);
    }

    /// Summed counters of every PMD thread.
    pub fn pmd_stats(&self) -> PmdStats {
        let mut s = PmdStats::default();
        for h in &self.inner.pmds {
            s.add(&h.counters.snapshot());
        }
        s
    }

    /// Stops the PMD threads and waits for them.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::Release);
        for h in &self.inner.pmds {
            let _ = h.wake.signal();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Dpif {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// Packet-out sink: sends each output immediately.
struct DirectSink<'a> {
    txs: &'a [(PortNo, Arc<dyn PortTx>)],
    upcall: &'a dyn Upcall,
    now: u64,
}

impl ActionSink for DirectSink<'_> {
    fn output(&mut self, port: u32, pkt: &Packet) {
        if let Some((_, tx)) = self.txs.iter().find(|(no, _)| *no == port) {
            tx.tx(std::slice::from_ref(pkt));
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
