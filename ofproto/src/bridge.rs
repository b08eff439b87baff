//! The bridge: the OpenFlow switch core wired to a datapath.
//!
//! [`OfBridge`] owns one [`Switch`] (tables, groups, meters, ports: what
//! the controller reads and writes), one [`Dpif`] (PMD threads, ports,
//! megaflow cache) and the [`XlateUpcall`] that answers the datapath's
//! cache misses by translating against a published [`Snapshot`].  It
//! implements [`OpenFlowSwitch`], so the controller channels drive it
//! exactly like the in-memory switch.
//!
//! # Publishing: lazy, with double-buffered tables
//!
//! The datapath never reads the switch directly: translation runs on an
//! immutable [`Snapshot`] behind an `Arc`, swapped in by a publish.  Two
//! choices keep loading 100,000 flows linear, whether they come as one
//! burst and a barrier or (as from `ovs-ofctl add-flows`) each with its
//! own barrier:
//!
//! * **Lazy publishing.**  A request that changes state only marks the
//!   bridge dirty (it compares [`Switch::generation`]).  The snapshot is
//!   published when it must be: before a `BARRIER_REPLY` (the contract:
//!   every earlier request is visible to packets after the reply), after
//!   a bundle commit, before a packet-out that resubmits to the tables,
//!   when the daemon changes ports or fail-open, and in
//!   [`OpenFlowSwitch::run`] at most every
//!   [`BridgeOptions::publish_interval_ms`] (stretched by 10 ms per 1,000
//!   rules), so changes reach the datapath soon without a barrier but a
//!   burst does not publish per message.
//! * **Double-buffered tables.**  A publish shares the switch's tables
//!   (`Arc<FlowTable>`, a pointer copy per table).  The next change to a
//!   published table does not copy it: the switch keeps the copy it wrote
//!   before the previous publish, replays onto it the edits made since
//!   (the published copy's journal of inserted and removed rules) once no
//!   translation holds it any more, and writes there (see
//!   `Switch::table_mut`).  A flow-mod plus barrier therefore costs the
//!   flow-mod's own edits twice, the snapshot (a pointer per table, the
//!   ports) and the revalidation of existing megaflows, whatever the
//!   table size.  The price is a second index per changed table (the
//!   rules themselves are shared).
//!
//! Figures: "Flow-table scale" in `docs/performance.md` (100,002 rules
//! through `ovs-ofctl add-flows`, a barrier after each: 7.1 s; OVS 12.1 s
//! on the same machine).
//!
//! # Revalidation
//!
//! After a publish every installed megaflow is re-translated against the
//! new snapshot from the key of the packet that created it
//! ([`datapath::megaflow::Megaflow::orig_key`]), without learning: a
//! translation whose mask is no longer within the megaflow's mask deletes
//! it, different actions replace its actions (statistics kept), the same
//! actions keep it.  Before dumping, the bridge starts a new datapath
//! epoch ([`Dpif::begin_revalidation`]): an upcall that began before (and
//! may have translated against the old snapshot) is executed once but not
//! installed, so no stale megaflow slips in behind the dump.  The same
//! pass runs on port and liveness changes, on fail-open changes, and when
//! the MAC-learning generation moved (NORMAL's megaflows are cached like
//! any other; the upcall wakes the bridge when it learned something).
//! A pass costs one translation per megaflow, so learning-driven passes
//! are rate-limited to one per publish interval once there are more than
//! a thousand megaflows (until then a NORMAL megaflow may flood to a
//! destination learned meanwhile, or follow a moved MAC late, for at
//! most that interval); barriers always revalidate.
//!
//! When only rules changed since the last pass (groups, meters, ports and
//! fail-open as they were; at most 1,024 rule changes), the pass is
//! targeted: the switch reports the rules it inserted or removed
//! ([`Switch::take_rule_changes`]) and a megaflow is re-translated only
//! if one of them can touch it ([`crate::xlate::rule_change_matters`]):
//! its translation looked the changed table up, and either the changed
//! rule's match overlaps the megaflow's or an earlier table had rewritten
//! the key.  Megaflows the bridge has not seen yet are always
//! re-translated.  The candidates come from the megaflow dump the bridge
//! keeps between passes, indexed by mask (`dump_cache`), so a flow-mod
//! plus barrier with 10,000 megaflows installed costs a hash lookup per
//! megaflow mask instead of a translation per megaflow.  One
//! consequence: of two overlapping rules with the same priority (which
//! one wins is undefined in OpenFlow), a change elsewhere in the table can
//! flip the choice for new translations while cached megaflows keep the
//! old one.
//!
//! Megaflows that carried no packet for [`BridgeOptions::max_idle_ms`]
//! (10 s, as Open vSwitch's `max-idle`) are deleted by the statistics
//! pass, after their counters are credited.
//!
//! # Counters
//!
//! A packet that creates a megaflow is counted by the megaflow, not by
//! the upcall.  For every megaflow the bridge remembers the rules and
//! group buckets its translation went through and the statistics already
//! credited; [`OpenFlowSwitch::run`] (every
//! [`BridgeOptions::stats_interval_ms`], and before flow/group stats
//! replies and timeout checks) credits the difference to those rules
//! (which refreshes their idle timeouts), groups and tables (one lookup
//! per packet and table visited).  Megaflows that
//! carried traffic and ran NORMAL are re-translated with learning on, so
//! MAC entries of active flows do not age out.  Port counters come from
//! the datapath's ports; meter counters from the shared token buckets.
//!
//! # Meters
//!
//! Meter token buckets live in a table shared with the PMD threads (one
//! mutex per meter); the datapath's `meter` action asks it per packet and
//! drops or remarks the DSCP drop precedence as the exceeded band says.
//! The switch's meters stay the configuration and what stats replies
//! read: counters are copied over before meter stats and meter changes.
//!
//! # Packet-in and buffers
//!
//! The datapath's `userspace` action queues the whole packet; `run`
//! turns the queue into `PACKET_IN` messages (reason, table, cookie,
//! match with `in_port` and a non-zero `metadata`).  With
//! [`BridgeOptions::n_buffers`] 0 (the default) every packet-in carries
//! the whole packet and `OFP_NO_BUFFER`.  With buffers, a packet-in whose
//! action asked for fewer bytes stores the packet ([`PacketBuffers`]) and
//! carries only `max_len` bytes and the buffer id; `PACKET_OUT` and
//! `FLOW_MOD` naming the id use the stored packet.
//!
//! # Ports
//!
//! OpenFlow port numbers (up to `0xfeff` as Open vSwitch allows, plus
//! `LOCAL` for the bridge's internal port) are mapped to datapath port
//! numbers (1..=4095): the same number when it is free, `LOCAL` on 4095
//! when free, otherwise the lowest free one.  Translation works in
//! OpenFlow numbers; [`crate::xlate::translate_datapath`] converts at the
//! edges.  Port config set by `PORT_MOD` is honoured: `NO_RECV` drops
//! what the port receives, `NO_FWD` keeps outputs and floods off it,
//! `NO_PACKET_IN` suppresses its packet-ins, `PORT_DOWN` (like a link
//! down from [`OfBridge::set_port_link`]) makes it not live.
//!
//! # Locking
//!
//! The bridge itself is single-threaded (`&mut self`; the daemon wraps it
//! in a mutex).  What the PMD threads share with it is behind short
//! locks: the published snapshot (`RwLock<Arc<Snapshot>>`, swapped, the
//! old one freed outside the lock), the translation context (MAC table;
//! one mutex, also taken by revalidation per megaflow), the packet-in
//! queue (bounded) and one mutex per meter.

mod dump_cache;
mod meters;
mod snapshot;

use dump_cache::{CachedFlow, DumpCache};

pub use snapshot::{Snapshot, SnapshotPort};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datapath::dpif::{Dpif, DpifConfig, DpifError, MAX_PORT_NO};
use datapath::flow::{FlowKey, extract};
use datapath::megaflow::Megaflow;
use datapath::packet::Packet;
use datapath::pmd::{Clock, MonotonicClock};
use datapath::port::{Port as DpPort, PortStats};

use crate::buffers::PacketBuffers;
use crate::flow_table::Rule;
use crate::normal::PortVlan;
use crate::service::{OpenFlowSwitch, Waker};
use crate::switch::{ConnCtx, Switch, SwitchSettings};
use crate::wire::action::Action;
use crate::wire::consts::{OFP_NO_BUFFER, port as ofport};
use crate::wire::message::{
    FeaturesReply, FlowMod, PacketIn, PacketOut, Port, flow_mod_command, port_config, port_state,
};
use crate::wire::oxm::{BasicField, Match, OxmField};
use crate::wire::{Body, Message, MultipartRequestBody};
use crate::xlate::{
    RuleChange, XlateCtx, XlateResult, XlateUpcall, credit_tables, map_outputs, translate_datapath,
    translate_packet_out,
};

use meters::MeterTable;

/// Below this many megaflows, a move of the MAC-learning table is
/// revalidated at the next `run`; above, at most once per publish
/// interval.
const MAC_REVALIDATE_FREE: usize = 1000;

/// Rule changes a targeted revalidation takes; more make a full pass
/// (each pending change is checked against every megaflow).
const MAX_PENDING_CHANGES: usize = 1024;

/// Highest OpenFlow port number handed out (Open vSwitch's limit for
/// `ofport_request`).
pub const MAX_OFPORT: u32 = 0xfeff;

/// What the daemon configures a bridge with.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Bridge name.
    pub name: String,
    /// Switch settings (datapath id, tables, limits, descriptions).
    pub settings: SwitchSettings,
    /// Datapath settings (PMD threads, megaflow limit).
    pub dpif: DpifConfig,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            name: "br0".into(),
            settings: SwitchSettings::default(),
            dpif: DpifConfig::default(),
        }
    }
}

/// Tuning beyond [`BridgeConfig`] (defaults suit the daemon).
#[derive(Clone)]
pub struct BridgeOptions {
    /// Packet buffers for packet-ins (0: none, every packet-in carries the
    /// whole packet).
    pub n_buffers: u32,
    /// How long a buffered packet is kept (ms).
    pub buffer_timeout_ms: u64,
    /// Least time between two publishes driven by `run` (ms); barriers
    /// publish at once.
    pub publish_interval_ms: u64,
    /// Period of the statistics pass (megaflow counters to rules) in
    /// `run` (ms).
    pub stats_interval_ms: u64,
    /// A megaflow that carried no packet for this long is deleted (ms;
    /// 0: never).  Default 10,000, Open vSwitch's `max-idle`.
    pub max_idle_ms: u64,
    /// The datapath's clock (PMD threads: megaflow "used", meters, MAC
    /// learning).  Must agree with the `now_ms` the caller passes.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for BridgeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeOptions")
            .field("n_buffers", &self.n_buffers)
            .field("buffer_timeout_ms", &self.buffer_timeout_ms)
            .field("publish_interval_ms", &self.publish_interval_ms)
            .field("stats_interval_ms", &self.stats_interval_ms)
            .finish_non_exhaustive()
    }
}

impl Default for BridgeOptions {
    fn default() -> Self {
        Self {
            n_buffers: 0,
            buffer_timeout_ms: 5_000,
            publish_interval_ms: 100,
            stats_interval_ms: 500,
            max_idle_ms: 10_000,
            clock: Arc::new(MonotonicClock),
        }
    }
}

/// What the daemon knows about a port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSpec {
    /// Device name (the OpenFlow port name).
    pub name: String,
    /// Wanted OpenFlow port number: honoured if free (`OFPP_LOCAL` for
    /// the bridge's internal port), else the lowest free number.
    pub ofport_request: Option<u32>,
    /// Ethernet address reported in the port description.
    pub hw_addr: [u8; 6],
    /// NORMAL's access/trunk configuration.
    pub vlan: PortVlan,
    /// Current speed for the port description (0 if unknown).
    pub curr_speed_kbps: u32,
}

/// Errors of the bridge's control API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The datapath refused (port exists, numbers exhausted, ...).
    #[error("datapath: {0}")]
    Datapath(#[from] DpifError),
    /// No port with this OpenFlow number.
    #[error("no such port {0}")]
    NoSuchPort(u32),
    /// A port with this name is already on the bridge.
    #[error("port {0} already exists")]
    PortExists(String),
    /// No OpenFlow port number is left.
    #[error("no OpenFlow port number available")]
    NoPortNumber,
}

#[derive(Debug)]
struct BridgePort {
    spec: PortSpec,
    dp_port: u32,
}

/// What the bridge remembers about an installed megaflow.
#[derive(Debug, Default)]
struct FlowState {
    packets: u64,
    bytes: u64,
    rules: Vec<Arc<Rule>>,
    groups: Vec<(u32, usize)>,
    /// Tables looked up, and whether the lookup matched.
    tables: Vec<(u8, bool)>,
    /// How many of `tables` saw the packet's own key
    /// ([`XlateResult::input_key_tables`]).
    input_key_tables: usize,
    normal: bool,
    /// When the bridge first saw the megaflow (ms): its age when it never
    /// carried a packet.
    seen_ms: u64,
}

/// The switch core wired to a datapath (see the module documentation).
pub struct OfBridge {
    name: String,
    switch: Switch,
    dpif: Arc<Dpif>,
    upcall: Arc<XlateUpcall<Snapshot>>,
    meters: Arc<MeterTable>,
    opts: BridgeOptions,
    snapshot: Arc<Snapshot>,
    /// `Switch::generation` at the last publish.
    published_gen: u64,
    /// Bridge-side changes (ports, fail-open) not yet published.
    dirty: bool,
    needs_revalidate: bool,
    /// Rule changes published but not yet revalidated (only rules
    /// changed; `needs_revalidate` asks for a full pass instead).
    pending_changes: Vec<(u8, Arc<Rule>)>,
    last_publish_ms: u64,
    last_stats_ms: u64,
    last_run_ms: u64,
    last_revalidate_ms: u64,
    last_mac_gen: u64,
    ports: BTreeMap<u32, BridgePort>,
    flows: HashMap<u128, FlowState>,
    fail_open: bool,
    buffers: PacketBuffers,
    pending: Vec<Message>,
    waker: Option<Waker>,
    dropped_packet_ins_seen: u64,
    /// See [`OfBridge::revalidate_changes`].
    dump_cache: Option<DumpCache>,
}

/// What [`OfBridge::revalidate_one`] did with a megaflow.
enum Revalidated {
    /// Still installed, same actions.
    Kept,
    /// Given new actions: the megaflow now installed.
    Modified(Arc<Megaflow>),
    /// Deleted (or already gone).
    Deleted,
}

impl std::fmt::Debug for OfBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfBridge")
            .field("name", &self.name)
            .field("ports", &self.ports.len())
            .field("megaflows", &self.flows.len())
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

fn features_of_speed(kbps: u32) -> u32 {
    use crate::wire::message::port_features as f;
    match kbps {
        10_000 => f::F_10MB_FD,
        100_000 => f::F_100MB_FD,
        1_000_000 => f::F_1GB_FD,
        10_000_000 => f::F_10GB_FD,
        40_000_000 => f::F_40GB_FD,
        100_000_000 => f::F_100GB_FD,
        1_000_000_000 => f::F_1TB_FD,
        0 => 0,
        _ => f::OTHER,
    }
}

/// Credits group buckets; each group counts the packets once, however
/// many of its buckets they went through.
fn credit_groups(sw: &mut Switch, hits: &[(u32, usize)], packets: u64, bytes: u64) {
    for (i, &(g, b)) in hits.iter().enumerate() {
        let first = !hits[..i].iter().any(|&(h, _)| h == g);
        if let Some(gr) = sw.group_mut(g) {
            if first {
                gr.record_n(b, packets, bytes);
            } else {
                gr.record_bucket_n(b, packets, bytes);
            }
        }
    }
}

impl OfBridge {
    /// Starts a bridge (its datapath's PMD threads) with default options.
    pub fn new(cfg: BridgeConfig) -> Result<OfBridge, BridgeError> {
        Self::with_options(cfg, BridgeOptions::default())
    }

    /// Starts a bridge with `opts`.
    pub fn with_options(cfg: BridgeConfig, opts: BridgeOptions) -> Result<OfBridge, BridgeError> {
        let mut switch = Switch::new(cfg.settings);
        let buffers = PacketBuffers::new(opts.n_buffers, opts.buffer_timeout_ms);
        switch.set_n_buffers(buffers.capacity());
        let snapshot = Arc::new(Snapshot {
            tables: switch.tables().to_vec(),
            ..Snapshot::default()
        });
        let upcall = Arc::new(XlateUpcall::new(
            snapshot.clone(),
            XlateCtx::default(),
            opts.clock.clone(),
        ));
        let meters = Arc::new(MeterTable::default());
        upcall.set_meter_decider(Some(meters.clone()));
        let dpif = Dpif::with_clock(cfg.dpif, upcall.clone(), opts.clock.clone())?;
        let now = opts.clock.now_ms();
        Ok(OfBridge {
            name: cfg.name,
            published_gen: switch.generation(),
            switch,
            dpif: Arc::new(dpif),
            upcall,
            meters,
            snapshot,
            dirty: false,
            needs_revalidate: false,
            pending_changes: Vec::new(),
            last_publish_ms: now,
            last_stats_ms: now,
            last_run_ms: now,
            last_revalidate_ms: now,
            last_mac_gen: 0,
            ports: BTreeMap::new(),
            flows: HashMap::new(),
            fail_open: false,
            buffers,
            pending: Vec::new(),
            waker: None,
            dropped_packet_ins_seen: 0,
            dump_cache: None,
            opts,
        })
    }

    /// The bridge name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Read access to the switch core (dumps, persistence).
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// The datapath (dpctl, dpif/show).
    pub fn dpif(&self) -> &Arc<Dpif> {
        &self.dpif
    }

    /// A snapshot of the current state (unpublished changes included), for
    /// tracing.  The datapath may still run on the previous one until the
    /// next publish.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        if self.is_dirty() {
            Arc::new(self.build_snapshot(self.snapshot.version + 1))
        } else {
            self.snapshot.clone()
        }
    }

    /// Runs `f` on the translation context (MAC table: fdb/show,
    /// fdb/flush).  `None` if the context is poisoned.
    pub fn with_xlate_ctx<R>(&self, f: impl FnOnce(&mut XlateCtx) -> R) -> Option<R> {
        self.upcall.with_ctx(f)
    }

    /// Changes the datapath id.
    pub fn set_datapath_id(&mut self, dpid: u64) {
        self.switch.set_datapath_id(dpid);
    }

    /// The OpenFlow number of port `name`.
    pub fn port_no(&self, name: &str) -> Option<u32> {
        self.ports
            .iter()
            .find(|(_, p)| p.spec.name == name)
            .map(|(&of, _)| of)
    }

    /// The datapath port number of OpenFlow port `ofport`.
    pub fn dp_port_no(&self, ofport: u32) -> Option<u32> {
        self.ports.get(&ofport).map(|p| p.dp_port)
    }

    /// The datapath's counters of OpenFlow port `ofport`.
    pub fn port_stats(&self, ofport: u32) -> Option<PortStats> {
        let p = self.ports.get(&ofport)?;
        self.dpif.port_stats(p.dp_port).ok()
    }

    /// Packet-ins dropped because the datapath's queue was full.
    pub fn dropped_packet_ins(&self) -> u64 {
        self.upcall.dropped_packet_ins()
    }

    /// Sets how long an idle megaflow stays (ms; 0: forever); see
    /// [`BridgeOptions::max_idle_ms`].
    pub fn set_max_idle_ms(&mut self, ms: u64) {
        self.opts.max_idle_ms = ms;
    }

    /// Whether fail-open is on.
    pub fn is_fail_open(&self) -> bool {
        self.fail_open
    }

    fn wake(&self) {
        if let Some(w) = &self.waker {
            w();
        }
    }

    fn pick_ofport(&self, req: Option<u32>) -> Result<u32, BridgeError> {
        if let Some(r) = req {
            let ok = r == ofport::LOCAL || (1..=MAX_OFPORT).contains(&r);
            if ok && !self.ports.contains_key(&r) {
                return Ok(r);
            }
        }
        (1..=MAX_OFPORT)
            .find(|n| !self.ports.contains_key(n))
            .ok_or(BridgeError::NoPortNumber)
    }

    fn pick_dp_port(&self, of: u32) -> Option<u32> {
        let used = |n: u32| self.ports.values().any(|p| p.dp_port == n);
        let want = if of == ofport::LOCAL { MAX_PORT_NO } else { of };
        if (1..=MAX_PORT_NO).contains(&want) && !used(want) {
            return Some(want);
        }
        (1..MAX_PORT_NO).find(|&n| !used(n))
    }

    /// Attaches a port; returns its OpenFlow number and queues
    /// `PORT_STATUS` (`ADD`).
    pub fn add_port(
        &mut self,
        port: Box<dyn DpPort>,
        spec: PortSpec,
        now_ms: u64,
    ) -> Result<u32, BridgeError> {
        if self.port_no(&spec.name).is_some() {
            return Err(BridgeError::PortExists(spec.name));
        }
        let of = self.pick_ofport(spec.ofport_request)?;
        let dp = self
            .pick_dp_port(of)
            .ok_or(BridgeError::Datapath(DpifError::TooManyPorts))?;
        let dp = self.dpif.add_port(port, Some(dp))?;
        let features = features_of_speed(spec.curr_speed_kbps);
        let desc = Port {
            port_no: of,
            hw_addr: spec.hw_addr,
            name: spec.name.clone(),
            config: 0,
            state: port_state::LIVE,
            curr: features,
            advertised: 0,
            supported: features,
            peer: 0,
            curr_speed: spec.curr_speed_kbps,
            max_speed: spec.curr_speed_kbps,
        };
        self.switch.add_port(desc, now_ms, &mut self.pending);
        self.ports.insert(of, BridgePort { spec, dp_port: dp });
        self.dirty = true;
        self.sync(now_ms);
        self.wake();
        Ok(of)
    }

    /// Detaches port `ofport` and queues `PORT_STATUS` (`DELETE`).
    pub fn remove_port(&mut self, ofport: u32, now_ms: u64) -> Result<(), BridgeError> {
        let p = self
            .ports
            .remove(&ofport)
            .ok_or(BridgeError::NoSuchPort(ofport))?;
        let r = self.dpif.remove_port(p.dp_port);
        self.switch.remove_port(ofport, &mut self.pending);
        self.upcall.with_ctx(|c| c.mac.flush_port(ofport));
        self.dirty = true;
        self.sync(now_ms);
        self.wake();
        r.map_err(BridgeError::from)
    }

    /// Changes NORMAL's VLAN configuration of a port (its learned MACs are
    /// forgotten).
    pub fn set_port_vlan(&mut self, ofport: u32, vlan: PortVlan) -> Result<(), BridgeError> {
        let p = self
            .ports
            .get_mut(&ofport)
            .ok_or(BridgeError::NoSuchPort(ofport))?;
        if p.spec.vlan != vlan {
            p.spec.vlan = vlan;
            self.upcall.with_ctx(|c| c.mac.flush_port(ofport));
            self.dirty = true;
            let now = self.opts.clock.now_ms();
            self.sync(now);
        }
        Ok(())
    }

    /// Sets a port's link state (carrier); a change queues `PORT_STATUS`
    /// (`MODIFY`) and revalidates (fast-failover, flooding).
    pub fn set_port_link(&mut self, ofport: u32, up: bool, now_ms: u64) -> Result<(), BridgeError> {
        if !self.ports.contains_key(&ofport) {
            return Err(BridgeError::NoSuchPort(ofport));
        }
        let Some(cur) = self.switch.ports().get(&ofport).map(|p| p.desc.state) else {
            return Err(BridgeError::NoSuchPort(ofport));
        };
        let keep = cur & !(port_state::LINK_DOWN | port_state::LIVE);
        let state = keep
            | if up {
                port_state::LIVE
            } else {
                port_state::LINK_DOWN
            };
        if state != cur {
            self.switch.set_port_state(ofport, state, &mut self.pending);
            if !up {
                self.upcall.with_ctx(|c| c.mac.flush_port(ofport));
            }
            self.dirty = true;
            self.sync(now_ms);
            self.wake();
        }
        Ok(())
    }

    /// Stops the PMD threads (once no one else holds the datapath) and
    /// closes the ports.
    pub fn shutdown(self) {
        for p in self.ports.values() {
            let _ = self.dpif.remove_port(p.dp_port);
        }
        self.upcall.set_waker(None);
        if let Ok(d) = Arc::try_unwrap(self.dpif) {
            d.shutdown();
        }
    }

    // -----------------------------------------------------------------
    // Publishing and revalidation.

    /// Least time between publishes driven by `run`: the configured
    /// interval, stretched in proportion to the number of rules (10 ms per
    /// 1,000) so that the table copy each publish causes stays a small
    /// fraction of the time spent editing, however big the tables get.
    fn publish_interval(&self) -> u64 {
        let rules: usize = self.switch.tables().iter().map(|t| t.len()).sum();
        let scaled = u64::try_from(rules / 100).unwrap_or(u64::MAX);
        self.opts.publish_interval_ms.max(scaled)
    }

    fn is_dirty(&self) -> bool {
        self.dirty || self.switch.generation() != self.published_gen
    }

    fn build_snapshot(&self, version: u64) -> Snapshot {
        let mut ports = BTreeMap::new();
        let mut dp_to_of = HashMap::new();
        for (&of, p) in &self.ports {
            let (config, state) = self
                .switch
                .ports()
                .get(&of)
                .map_or((0, 0), |sp| (sp.desc.config, sp.desc.state));
            ports.insert(
                of,
                SnapshotPort {
                    dp_port: p.dp_port,
                    config,
                    state,
                    vlan: p.spec.vlan.clone(),
                    no_flood: false,
                },
            );
            dp_to_of.insert(p.dp_port, of);
        }
        let groups = if self.groups_equal_snapshot() {
            self.snapshot.groups.clone()
        } else {
            Arc::new(self.switch.groups().clone())
        };
        Snapshot {
            version,
            tables: self.switch.tables().to_vec(),
            groups,
            ports,
            dp_to_of,
            meters: self.switch.meters().keys().copied().collect(),
            fail_open: self.fail_open,
        }
    }

    fn groups_equal_snapshot(&self) -> bool {
        let a = self.switch.groups();
        let b = &*self.snapshot.groups;
        a.len() == b.len()
            && a.iter().zip(b.iter()).all(|((ia, ga), (ib, gb))| {
                ia == ib && ga.group_type == gb.group_type && ga.buckets == gb.buckets
            })
    }

    /// Publishes the current state to the datapath's slow path.
    fn publish(&mut self, now_ms: u64) {
        let changes = self.switch.take_rule_changes();
        let snap = Arc::new(self.build_snapshot(self.snapshot.version + 1));
        let old = &self.snapshot;
        let only_rules = Arc::ptr_eq(&snap.groups, &old.groups)
            && snap.ports == old.ports
            && snap.dp_to_of == old.dp_to_of
            && snap.meters == old.meters
            && snap.fail_open == old.fail_open;
        match changes {
            Some(c)
                if only_rules
                    && !self.needs_revalidate
                    && self.pending_changes.len() + c.len() <= MAX_PENDING_CHANGES =>
            {
                self.pending_changes.extend(c);
            }
            _ => self.needs_revalidate = true,
        }
        self.snapshot = snap.clone();
        self.upcall.publish(snap);
        self.published_gen = self.switch.generation();
        self.dirty = false;
        self.last_publish_ms = now_ms;
    }

    /// Publishes if anything changed and revalidates if needed: after
    /// this, every packet sees the current state.
    fn sync(&mut self, now_ms: u64) {
        if self.is_dirty() {
            self.publish(now_ms);
        }
        let mac_gen = self.upcall.with_ctx(|c| c.mac.generation()).unwrap_or(0);
        if mac_gen != self.last_mac_gen {
            self.needs_revalidate = true;
        }
        if self.needs_revalidate {
            self.revalidate(now_ms);
        } else if !self.pending_changes.is_empty() {
            self.revalidate_changes(now_ms);
        }
    }

    /// Credits what megaflow `f` counted since last time.
    fn credit_delta(&mut self, f: &Megaflow, now_ms: u64) -> bool {
        let st = f.stats();
        let Some(s) = self.flows.get_mut(&f.ufid) else {
            return false;
        };
        let dp = st.packets.saturating_sub(s.packets);
        let db = st.bytes.saturating_sub(s.bytes);
        s.packets = st.packets;
        s.bytes = st.bytes;
        if dp == 0 {
            return false;
        }
        let used = if st.used_ms == 0 { now_ms } else { st.used_ms };
        for r in &s.rules {
            r.data.record(dp, db, used);
        }
        for &(tid, hit) in &s.tables {
            if let Some(t) = self.switch.tables().get(usize::from(tid)) {
                t.record_lookups(dp, if hit { dp } else { 0 });
            }
        }
        let groups = s.groups.clone();
        credit_groups(&mut self.switch, &groups, dp, db);
        true
    }

    fn remember(
        &mut self,
        f: &Megaflow,
        r: &XlateResult,
        credited: Option<(u64, u64)>,
        now_ms: u64,
    ) {
        self.dump_cache = None;
        let e = self.flows.entry(f.ufid).or_insert_with(|| FlowState {
            seen_ms: now_ms,
            ..FlowState::default()
        });
        e.input_key_tables = r.input_key_tables;
        if let Some((p, b)) = credited {
            e.packets = p;
            e.bytes = b;
        }
        e.rules = r.rules_hit.clone();
        e.groups = r.groups_hit.clone();
        e.tables = r
            .tables_visited
            .iter()
            .map(|(t, rule)| (*t, rule.is_some()))
            .collect();
        e.normal = r.mac_generation.is_some();
    }

    fn translate_flow(&self, key: &FlowKey, learn: bool, now_ms: u64) -> Option<XlateResult> {
        let snap = self.snapshot.clone();
        self.upcall.with_ctx(|c| {
            let saved = std::mem::replace(&mut c.may_learn, learn);
            c.now_ms = now_ms;
            let r = translate_datapath(&*snap, key, c);
            c.may_learn = saved;
            r
        })
    }

    /// Re-translates every megaflow against the published snapshot (see
    /// the module documentation).
    fn revalidate(&mut self, now_ms: u64) {
        self.needs_revalidate = false;
        self.pending_changes.clear();
        self.dpif.begin_revalidation();
        let flows = self.dpif.flow_dump();
        let mut live = HashMap::with_capacity(flows.len());
        for f in &flows {
            if !matches!(self.revalidate_one(f, now_ms), Revalidated::Deleted) {
                live.insert(f.ufid, ());
            }
        }
        self.flows.retain(|k, _| live.contains_key(k));
        self.last_mac_gen = self.upcall.with_ctx(|c| c.mac.generation()).unwrap_or(0);
        self.last_stats_ms = now_ms;
        self.last_revalidate_ms = now_ms;
    }

    /// Re-translates megaflow `f` and keeps, fixes or deletes it.
    fn revalidate_one(&mut self, f: &Arc<Megaflow>, now_ms: u64) -> Revalidated {
        // Credit under the old attribution first.
        let known = self.flows.contains_key(&f.ufid);
        if known {
            self.credit_delta(f, now_ms);
        }
        let Some(r) = self.translate_flow(&f.orig_key, false, now_ms) else {
            return Revalidated::Kept;
        };
        if r.truncated || !r.wc.is_subset_of(&f.mask) {
            if let Some(gone) = self.dpif.flow_del(&f.key, &f.mask) {
                if !known {
                    self.remember(&gone, &r, Some((0, 0)), now_ms);
                }
                self.credit_delta(&gone, now_ms);
            }
            self.flows.remove(&f.ufid);
            return Revalidated::Deleted;
        }
        if known {
            self.remember(f, &r, None, now_ms);
        } else {
            // Installed since the last pass: every packet is still to be
            // credited, under this translation.
            self.remember(f, &r, Some((0, 0)), now_ms);
            self.credit_delta(f, now_ms);
        }
        if *r.actions != *f.actions {
            return match self.dpif.flow_modify(f, r.actions.clone()) {
                Some(new) => Revalidated::Modified(new),
                None => Revalidated::Deleted,
            };
        }
        Revalidated::Kept
    }

    /// What the targeted pass keeps of megaflow `f`, from the bridge's
    /// notes on it (`None` if it has none).
    fn cached_flow(&self, f: Arc<Megaflow>, snap: &Snapshot) -> Option<CachedFlow> {
        let st = self.flows.get(&f.ufid)?;
        let mut key = f.key;
        key.set_in_port(crate::xlate::PipelineView::dp_to_of(snap, f.key.in_port()));
        Some(CachedFlow {
            key,
            tables: st.tables.iter().map(|&(t, _)| t).collect(),
            input_key_tables: st.input_key_tables,
            flow: f,
        })
    }

    /// Revalidates only the megaflows the pending rule changes can touch
    /// (when nothing but rules changed since the last pass): a megaflow
    /// whose translation looked up a changed table with the packet's own
    /// key is affected only if the changed rule's match overlaps the
    /// megaflow's; after a key rewrite, any change to a later table counts.
    /// Megaflows installed since the last pass are revalidated too.
    ///
    /// The megaflows and what the test needs of each are kept between
    /// passes ([`DumpCache`]) while the datapath's set of megaflows and the
    /// bridge's notes on them stay the same, so a run of flow-mods each
    /// followed by a barrier does not dump the datapath every time.
    fn revalidate_changes(&mut self, now_ms: u64) {
        let changes = std::mem::take(&mut self.pending_changes);
        self.dpif.begin_revalidation();
        let snap = self.snapshot.clone();
        let version = self.dpif.flow_version();
        // Megaflows not in the kept dump (new since it was taken) are
        // checked whatever the changes.
        let mut unknown = Vec::new();
        let mut cache = match self.dump_cache.take() {
            Some(c) if c.dp_version == version => c,
            _ => {
                let mut c = DumpCache::new(version);
                for f in self.dpif.flow_dump() {
                    match self.cached_flow(Arc::clone(&f), &snap) {
                        Some(cf) => c.push(cf),
                        None => unknown.push(f),
                    }
                }
                c
            }
        };
        let changes: Vec<RuleChange> = changes
            .into_iter()
            .map(|(tid, rule)| RuleChange::new(tid, rule))
            .collect();
        let affected = cache.affected(&changes);
        // Revalidate, then patch the kept dump: each fix or delete moves
        // the datapath's version by exactly one, so the dump stays valid
        // if nothing else (an upcall) changed the megaflows meanwhile.
        let mut own_changes = 0u64;
        for i in affected {
            let Some(f) = cache.get(i).map(|c| Arc::clone(&c.flow)) else {
                continue;
            };
            let f = match self.revalidate_one(&f, now_ms) {
                Revalidated::Deleted => {
                    own_changes += 1;
                    cache.remove(i);
                    continue;
                }
                Revalidated::Modified(new) => {
                    own_changes += 1;
                    new
                }
                Revalidated::Kept => f,
            };
            match self.cached_flow(f, &snap) {
                Some(c) => cache.replace(i, c),
                None => cache.remove(i),
            }
        }
        for f in &unknown {
            let kept = match self.revalidate_one(f, now_ms) {
                Revalidated::Deleted => {
                    own_changes += 1;
                    None
                }
                Revalidated::Modified(new) => {
                    own_changes += 1;
                    Some(new)
                }
                Revalidated::Kept => Some(Arc::clone(f)),
            };
            if let Some(c) = kept.and_then(|f| self.cached_flow(f, &snap)) {
                cache.push(c);
            }
        }
        cache.dp_version = version + own_changes;
        self.dump_cache = (self.dpif.flow_version() == cache.dp_version).then_some(cache);
        self.last_revalidate_ms = now_ms;
    }

    /// The statistics pass: credits megaflow counters to rules and groups,
    /// learns from active NORMAL megaflows, forgets deleted megaflows.
    fn credit_stats(&mut self, now_ms: u64) {
        self.last_stats_ms = now_ms;
        let flows = self.dpif.flow_dump();
        let mut live = HashMap::with_capacity(flows.len());
        for f in &flows {
            live.insert(f.ufid, ());
            if !self.flows.contains_key(&f.ufid) {
                let Some(r) = self.translate_flow(&f.orig_key, false, now_ms) else {
                    continue;
                };
                self.remember(f, &r, Some((0, 0)), now_ms);
            }
            let moved = self.credit_delta(f, now_ms);
            if moved && self.flows.get(&f.ufid).is_some_and(|s| s.normal) {
                // Keep the learning table fresh for active flows.
                let _ = self.translate_flow(&f.orig_key, true, now_ms);
            }
            // Idle megaflows go (as Open vSwitch's `max-idle`): they cost
            // memory, cache probes and revalidation.
            let seen = self.flows.get(&f.ufid).map_or(now_ms, |s| s.seen_ms);
            let last = f.stats().used_ms.max(seen);
            if self.opts.max_idle_ms > 0 && now_ms.saturating_sub(last) >= self.opts.max_idle_ms {
                if let Some(gone) = self.dpif.flow_del(&f.key, &f.mask) {
                    self.credit_delta(&gone, now_ms);
                }
                self.flows.remove(&f.ufid);
                live.remove(&f.ufid);
            }
        }
        self.flows.retain(|k, _| live.contains_key(k));
        // Port counters for PORT_STATS.
        for (&of, p) in &self.ports {
            let Ok(st) = self.dpif.port_stats(p.dp_port) else {
                continue;
            };
            if let Some(sp) = self.switch.port_mut(of) {
                sp.stats.rx_packets = st.rx_packets;
                sp.stats.tx_packets = st.tx_packets;
                sp.stats.rx_bytes = st.rx_bytes;
                sp.stats.tx_bytes = st.tx_bytes;
                sp.stats.rx_dropped = st.rx_dropped;
                sp.stats.tx_dropped = st.tx_dropped;
                sp.stats.rx_errors = st.rx_errors;
                sp.stats.tx_errors = st.tx_errors;
            }
        }
        self.meters.counters_to(&mut self.switch);
    }

    // -----------------------------------------------------------------
    // Packet-out, packet-in.

    /// The datapath in_port for a packet-out's OpenFlow in_port: the
    /// port's datapath number, or the reserved number itself (no such
    /// datapath port exists, so nothing is sent back to it).
    fn dp_in_port(&self, of: u32) -> u32 {
        self.ports.get(&of).map_or(of, |p| p.dp_port)
    }

    /// Executes one packet-out (after validation by the switch).
    fn execute_packet_out(&mut self, in_port: u32, actions: &[Action], data: &[u8], now_ms: u64) {
        if actions
            .iter()
            .any(|a| matches!(a, Action::Output { port, .. } if *port == ofport::TABLE))
        {
            self.sync(now_ms);
        }
        let mut pkt = Packet::from_slice(data);
        pkt.in_port = in_port;
        let mut key = FlowKey::default();
        extract(&mut pkt, &mut key);
        let snap = self.snapshot.clone();
        let r = self.upcall.with_ctx(|c| {
            c.now_ms = now_ms;
            c.may_learn = true;
            translate_packet_out(&*snap, &key, actions, c)
        });
        let Some(mut r) = r else {
            return;
        };
        map_outputs(&*snap, &mut r.actions);
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        for rule in &r.rules_hit {
            rule.data.record(1, len, now_ms);
        }
        credit_groups(&mut self.switch, &r.groups_hit, 1, len);
        credit_tables(&*snap, &r, 1);
        if r.actions.is_empty() {
            return;
        }
        let pkt = Packet::from_slice(data);
        self.dpif.execute(pkt, self.dp_in_port(in_port), &r.actions);
    }

    fn drain_packet_outs(&mut self, now_ms: u64) {
        let outs = std::mem::take(&mut self.switch.out_packets);
        for po in outs {
            self.execute_packet_out(po.in_port, &po.actions, &po.data, now_ms);
        }
    }

    fn packet_in_messages(&mut self, now_ms: u64, out: &mut Vec<Message>) {
        for ev in self.upcall.take_packet_ins() {
            let no_pin = self
                .switch
                .ports()
                .get(&ev.in_port)
                .is_some_and(|p| p.desc.config & port_config::NO_PACKET_IN != 0);
            if no_pin {
                continue;
            }
            let mut m = Match::new();
            m.fields
                .push(OxmField::exact(BasicField::IN_PORT, u128::from(ev.in_port)));
            if ev.metadata != 0 {
                m.fields.push(OxmField::exact(
                    BasicField::METADATA,
                    u128::from(ev.metadata),
                ));
            }
            let want = usize::try_from(ev.max_len).unwrap_or(usize::MAX);
            let (buffer_id, data) = if ev.max_len != 0 && want < ev.data.len() {
                match self.buffers.store(ev.in_port, ev.data.clone(), now_ms) {
                    Some(id) => {
                        let mut d = ev.data;
                        d.truncate(want);
                        (id, d)
                    }
                    None => (OFP_NO_BUFFER, ev.data),
                }
            } else {
                (OFP_NO_BUFFER, ev.data)
            };
            out.push(Message::new(
                0,
                Body::PacketIn(PacketIn {
                    buffer_id,
                    total_len: u16::try_from(ev.total_len).unwrap_or(u16::MAX),
                    reason: ev.reason,
                    table_id: ev.table_id,
                    cookie: ev.cookie,
                    match_: m,
                    data,
                }),
            ));
        }
        self.dropped_packet_ins_seen = self.upcall.dropped_packet_ins();
    }

    fn handle_packet_out(
        &mut self,
        conn: ConnCtx,
        msg: &Message,
        po: &PacketOut,
        raw: &[u8],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        if po.buffer_id == OFP_NO_BUFFER || conn.is_slave {
            self.switch.handle_message(conn, msg, raw, now_ms, out);
        } else {
            let p = match self.buffers.take(po.buffer_id, now_ms) {
                Ok(p) => p,
                Err(e) => {
                    out.push(Message::error_reply(&e.to_ofp_error(), raw));
                    return;
                }
            };
            let m = Message::new(
                msg.xid,
                Body::PacketOut(PacketOut {
                    buffer_id: OFP_NO_BUFFER,
                    in_port: po.in_port,
                    actions: po.actions.clone(),
                    data: p.data,
                }),
            );
            self.switch.handle_message(conn, &m, raw, now_ms, out);
        }
        self.drain_packet_outs(now_ms);
    }

    fn handle_buffered_flow_mod(
        &mut self,
        conn: ConnCtx,
        msg: &Message,
        fm: &FlowMod,
        raw: &[u8],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        let p = match self.buffers.take(fm.buffer_id, now_ms) {
            Ok(p) => p,
            Err(e) => {
                out.push(Message::error_reply(&e.to_ofp_error(), raw));
                return;
            }
        };
        let mut fm2 = fm.clone();
        fm2.buffer_id = OFP_NO_BUFFER;
        let m = Message::new(msg.xid, Body::FlowMod(fm2));
        let before = out.len();
        self.switch.handle_message(conn, &m, raw, now_ms, out);
        let failed = out[before..]
            .iter()
            .any(|m| matches!(m.body, Body::Error(_)));
        if !failed {
            // The buffered packet goes through the tables as they are now.
            let acts = [Action::Output {
                port: ofport::TABLE,
                max_len: 0,
            }];
            self.execute_packet_out(p.in_port, &acts, &p.data, now_ms);
        }
    }
}

impl OpenFlowSwitch for OfBridge {
    fn features(&self) -> FeaturesReply {
        self.switch.features()
    }

    fn handle_message(
        &mut self,
        conn: ConnCtx,
        msg: &Message,
        raw: &[u8],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        match &msg.body {
            Body::BarrierRequest => {
                self.sync(now_ms);
                self.switch.handle_message(conn, msg, raw, now_ms, out);
            }
            Body::PacketOut(po) => self.handle_packet_out(conn, msg, po, raw, now_ms, out),
            Body::FlowMod(fm)
                if fm.buffer_id != OFP_NO_BUFFER
                    && !conn.is_slave
                    && matches!(
                        fm.command,
                        flow_mod_command::ADD
                            | flow_mod_command::MODIFY
                            | flow_mod_command::MODIFY_STRICT
                    ) =>
            {
                self.handle_buffered_flow_mod(conn, msg, fm, raw, now_ms, out)
            }
            Body::MeterMod(_) => {
                self.meters.counters_to(&mut self.switch);
                self.switch.handle_message(conn, msg, raw, now_ms, out);
                self.meters.sync_from(&self.switch);
            }
            Body::MultipartRequest(req) => {
                if matches!(
                    req.body,
                    MultipartRequestBody::Flow(_)
                        | MultipartRequestBody::Aggregate(_)
                        | MultipartRequestBody::PortStats(_)
                        | MultipartRequestBody::Group(_)
                        | MultipartRequestBody::Meter(_)
                        | MultipartRequestBody::Table
                ) {
                    self.credit_stats(now_ms);
                }
                self.switch.handle_message(conn, msg, raw, now_ms, out);
            }
            _ => self.switch.handle_message(conn, msg, raw, now_ms, out),
        }
    }

    fn run(&mut self, now_ms: u64, out: &mut Vec<Message>) {
        self.last_run_ms = now_ms;
        let expiry_due = self.switch.next_expiry().is_some_and(|t| t <= now_ms);
        if expiry_due || now_ms.saturating_sub(self.last_stats_ms) >= self.opts.stats_interval_ms {
            self.credit_stats(now_ms);
        }
        if expiry_due {
            self.switch.expire(now_ms, out);
        }
        let aged = self.upcall.with_ctx(|c| c.mac.expire(now_ms)).unwrap_or(0);
        if aged > 0 {
            self.needs_revalidate = true;
        }
        if self.is_dirty() && now_ms.saturating_sub(self.last_publish_ms) >= self.publish_interval()
        {
            self.publish(now_ms);
        }
        let mac_gen = self.upcall.with_ctx(|c| c.mac.generation()).unwrap_or(0);
        // Learning may move on every upcall; with many megaflows, a pass
        // for it runs at most once per publish interval.
        let mac_due = mac_gen != self.last_mac_gen
            && (self.flows.len() < MAC_REVALIDATE_FREE
                || now_ms.saturating_sub(self.last_revalidate_ms) >= self.opts.publish_interval_ms);
        if self.needs_revalidate || mac_due {
            self.revalidate(now_ms);
        } else if !self.pending_changes.is_empty() {
            self.revalidate_changes(now_ms);
        }
        self.buffers.expire(now_ms);
        self.packet_in_messages(now_ms, out);
        out.append(&mut self.pending);
    }

    fn next_wake_ms(&self) -> Option<u64> {
        let mut t = self.last_run_ms.saturating_add(self.opts.stats_interval_ms);
        if let Some(e) = self.switch.next_expiry() {
            t = t.min(e);
        }
        if self.is_dirty() {
            t = t.min(self.last_publish_ms.saturating_add(self.publish_interval()));
        }
        if let Some(b) = self.buffers.next_expiry() {
            t = t.min(b);
        }
        Some(t)
    }

    fn commit_bundle(
        &mut self,
        conn: ConnCtx,
        msgs: &[(Message, Vec<u8>)],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) -> bool {
        let applied = self.switch.commit_bundle(conn, msgs, now_ms, out);
        // Packets after the COMMIT_REPLY see the whole bundle (as after a
        // barrier); a failed commit may have restored older tables.
        self.sync(now_ms);
        applied
    }

    fn set_waker(&mut self, waker: Waker) {
        self.upcall.set_waker(Some(waker.clone()));
        self.waker = Some(waker);
    }

    fn set_fail_open(&mut self, on: bool) {
        if self.fail_open != on {
            self.fail_open = on;
            self.dirty = true;
            let now = self.opts.clock.now_ms();
            self.sync(now);
        }
    }
}
