//! The reconciler: running bridges, ports and controller channels made to
//! match the configuration, and the state written back to the database.
//!
//! Each pass diffs the configuration ([`model::Config`]) against what runs
//! and touches only what differs: adding one port to a bridge of a thousand
//! opens one device.  Interfaces that fail to open are retried on the next
//! pass that changes them, and on the periodic tick.
//!
//! Write-back (one transaction per pass, only columns whose value changed
//! since we last wrote them): `Interface` ofport/error/admin_state/
//! link_state/mac_in_use/ifindex/mtu (statistics on the slower tick),
//! `Bridge.datapath_id`, `Controller` status, and last `Open_vSwitch.cur_cfg
//! = next_cfg`, so a waiting `ovs-vsctl` sees its change applied with the
//! port numbers already filled in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use datapath::port::{InternalPort, MemPort, Port, SystemPort, SystemPortOptions, TapPort};
use datapath::sys::netdev;
use ofproto::bridge::{BridgeConfig, BridgeOptions, OfBridge, PortSpec};
use ofproto::channel::{ChannelConfig, ChannelHandle, ControllerConfig};
use ofproto::flow_text::{FlowCommand, parse_flow};
use ofproto::service::OpenFlowSwitch;
use ofproto::switch::{ConnCtx, SwitchSettings};
use ofproto::wire::{Body, Message};
use serde_json::{Value, json};

use super::db::{DbConn, Replica, map_json, opt_json};
use super::model::{self, Config, FailMode, IfaceKind, OFPP_LOCAL, format_mac};
use super::persist;

/// The bridges as the unixctl commands see them.
pub type BridgeMap = Arc<RwLock<BTreeMap<String, Arc<Mutex<OfBridge>>>>>;

/// The datapath clock agreeing with the channel layer's `now_ms`.
#[derive(Debug)]
struct ChannelClock;

impl datapath::pmd::Clock for ChannelClock {
    fn now_ms(&self) -> u64 {
        ofproto::channel::now_ms()
    }
}

/// Frames each direction of a patch-port pair holds.
const PATCH_QUEUE: usize = 4096;

/// Static settings of the reconciler.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Run directory (`<bridge>.mgmt` sockets).
    pub rundir: PathBuf,
    /// State directory (saved flows).
    pub dbdir: PathBuf,
    /// Poll threads per datapath.
    pub pmd_threads: usize,
}

/// A running port.
#[derive(Debug)]
struct RunPort {
    iface: model::Iface,
    kind: IfaceKind,
    ofport: u32,
    admin_up: bool,
    link_up: bool,
    /// A patch port whose peer is missing: the other end of its pair is
    /// parked here (frames sent to it are dropped once its queue fills).
    parked: Option<MemPort>,
    /// Address, ifindex and MTU of the device (read when the port is
    /// added and on the statistics tick, not on every pass).
    facts: Facts,
    /// The state last written to the database (write-back skips the port
    /// while it is unchanged, so a pass costs little per idle port).
    wrote: Option<PortState>,
}

/// What write-back records per port.
type PortState = (u32, bool, bool, Facts);

/// What `device_facts` reads.
type Facts = (Option<[u8; 6]>, Option<i32>, Option<u32>);

/// A running bridge.
struct RunBridge {
    cfg: model::Bridge,
    br: Arc<Mutex<OfBridge>>,
    chan: Option<ChannelHandle>,
    ports: BTreeMap<String, RunPort>,
    /// Interfaces that failed: name -> (config, error).
    failed: BTreeMap<String, (model::Iface, String)>,
    dpid: u64,
    /// The flow file as last written (or restored), and the switch
    /// generation it was taken at.
    saved: Vec<u8>,
    saved_gen: u64,
}

/// The daemon's switching state.
pub struct Switchd {
    settings: Settings,
    bridges: BTreeMap<String, RunBridge>,
    map: BridgeMap,
    /// Last value written per (table, uuid, column).
    written: Written,
    /// Saved flows are restored only for bridges present at start-up.
    startup: bool,
    retry_due: bool,
    /// Megaflow idle time for every bridge (`other_config:max-idle`).
    max_idle_ms: u64,
}

impl std::fmt::Debug for Switchd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switchd")
            .field("settings", &self.settings)
            .field("bridges", &self.bridges.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn channel_config(settings: &Settings, br: &model::Bridge) -> ChannelConfig {
    let mut c = ChannelConfig {
        bridge: br.name.clone(),
        ..ChannelConfig::default()
    };
    c.controllers = br
        .controllers
        .iter()
        .map(|m| ControllerConfig {
            target: m.target.clone(),
            max_backoff_ms: m.max_backoff_ms,
            inactivity_probe_ms: m.inactivity_probe_ms,
            rate_limit: m.rate_limit,
            burst_limit: m.burst_limit,
        })
        .collect();
    c.fail_mode = match br.fail_mode {
        FailMode::Secure => ofproto::channel::FailMode::Secure,
        FailMode::Standalone => ofproto::channel::FailMode::Standalone,
    };
    c.mgmt_path = Some(settings.rundir.join(format!("{}.mgmt", br.name)));
    c
}

/// Sends one flow-mod given in ovs-ofctl syntax to the bridge.
fn flow_mod(br: &mut OfBridge, text: &str, cmd: FlowCommand, now_ms: u64) {
    let fm = match parse_flow(text, cmd) {
        Ok(f) => f.to_flow_mod(),
        Err(e) => {
            tracing::error!("internal flow {text:?}: {e}");
            return;
        }
    };
    let m = Message::new(0, Body::FlowMod(fm));
    let mut out = Vec::new();
    OpenFlowSwitch::handle_message(br, ConnCtx::default(), &m, &m.to_vec(), now_ms, &mut out);
    for r in out {
        if let Body::Error(e) = r.body {
            tracing::warn!("internal flow {text:?} refused: {e:?}");
        }
    }
}

const DEFAULT_FLOW: &str = "priority=0,actions=NORMAL";

/// Whether a bridge has an active (connecting-out) controller.  As in
/// ovs-vswitchd, only those replace the default NORMAL flow: passive
/// `ptcp:`/`punix:` targets (Mininet's `ptcp:6654`, say) leave it.
fn has_active_controller(ctls: &[model::Controller]) -> bool {
    ctls.iter().any(|c| {
        ["tcp:", "unix:", "ssl:"]
            .iter()
            .any(|p| c.target.starts_with(p))
    })
}

impl Switchd {
    /// An empty daemon state.
    pub fn new(settings: Settings) -> Switchd {
        Switchd {
            settings,
            bridges: BTreeMap::new(),
            map: Arc::new(RwLock::new(BTreeMap::new())),
            written: HashMap::new(),
            startup: true,
            retry_due: false,
            max_idle_ms: model::DEFAULT_MAX_IDLE_MS,
        }
    }

    /// The bridge map (shared with the unixctl commands).
    pub fn bridge_map(&self) -> BridgeMap {
        self.map.clone()
    }

    /// The channel layer's clock (the bridges see one time base).
    fn now_ms(&self) -> u64 {
        ofproto::channel::now_ms()
    }

    fn publish_map(&self) {
        let mut m = self.map.write().unwrap_or_else(|e| e.into_inner());
        m.clear();
        for (n, b) in &self.bridges {
            m.insert(n.clone(), b.br.clone());
        }
    }

    /// Makes the running state match `cfg`, then writes back what changed.
    pub async fn reconcile(&mut self, cfg: &Config, db: &DbConn, replica: &Replica) {
        let started = std::time::Instant::now();
        let now = self.now_ms();
        let retry = std::mem::take(&mut self.retry_due);
        let max_idle = cfg.max_idle_ms.unwrap_or(model::DEFAULT_MAX_IDLE_MS);
        if max_idle != self.max_idle_ms {
            self.max_idle_ms = max_idle;
            for rb in self.bridges.values() {
                lock(&rb.br).set_max_idle_ms(max_idle);
            }
        }
        // 1. Bridges that went away.
        let gone: Vec<String> = self
            .bridges
            .iter()
            .filter(|(n, rb)| {
                // A bridge deleted and re-added under the same name (one
                // transaction, as Mininet does) starts afresh, as in OVS.
                cfg.bridges.get(*n).is_none_or(|b| b.uuid != rb.cfg.uuid)
            })
            .map(|(n, _)| n.clone())
            .collect();
        let mut drop_patch_peers = BTreeSet::new();
        for n in gone {
            if let Some(rb) = self.bridges.remove(&n) {
                for p in rb.ports.values() {
                    if let IfaceKind::Patch { peer } = &p.kind {
                        drop_patch_peers.insert(peer.clone());
                    }
                }
                self.publish_map();
                self.destroy_bridge(rb, true).await;
            }
        }
        // 2. Ports that went away or must be re-created (and their patch peers).
        for (bn, rb) in &mut self.bridges {
            let Some(want) = cfg.bridges.get(bn) else {
                continue;
            };
            let stale: Vec<String> = rb
                .ports
                .iter()
                .filter(|(name, p)| match want.ifaces.get(*name) {
                    None => true,
                    Some(w) => {
                        p.iface.needs_recreate(w)
                            || (p.parked.is_some() && patch_peer_ready(cfg, name, &p.kind))
                    }
                })
                .map(|(n, _)| n.clone())
                .collect();
            for name in stale {
                if let Some(p) = rb.ports.remove(&name) {
                    if let IfaceKind::Patch { peer } = &p.kind {
                        drop_patch_peers.insert(peer.clone());
                    }
                    if let Err(e) = lock(&rb.br).remove_port(p.ofport, now) {
                        tracing::warn!("{bn}: removing port {name}: {e}");
                    }
                    tracing::info!("{bn}: removed port {name} (ofport {})", p.ofport);
                }
            }
            rb.failed
                .retain(|n, (i, _)| want.ifaces.get(n) == Some(i) && !retry);
        }
        for rb in self.bridges.values_mut() {
            let peers: Vec<String> = rb
                .ports
                .keys()
                .filter(|n| drop_patch_peers.contains(*n))
                .cloned()
                .collect();
            for name in peers {
                if let Some(p) = rb.ports.remove(&name)
                    && let Err(e) = lock(&rb.br).remove_port(p.ofport, now)
                {
                    tracing::warn!("removing patch port {name}: {e}");
                }
            }
        }
        // 3. New bridges.
        for (bn, want) in &cfg.bridges {
            if self.bridges.contains_key(bn) {
                continue;
            }
            match self.create_bridge(want, now) {
                Ok(rb) => {
                    self.bridges.insert(bn.clone(), rb);
                }
                Err(e) => tracing::error!("{bn}: cannot create bridge: {e}"),
            }
        }
        self.startup = false;
        self.publish_map();
        // 4. New ports, then patch pairs.
        let mut patches = Vec::new();
        for (bn, rb) in &mut self.bridges {
            let Some(want) = cfg.bridges.get(bn) else {
                continue;
            };
            for (name, iface) in &want.ifaces {
                if rb.ports.contains_key(name) {
                    continue;
                }
                let is_patch = matches!(iface.kind, Ok(IfaceKind::Patch { .. }));
                if rb.failed.contains_key(name) && !is_patch {
                    continue;
                }
                match &iface.kind {
                    Err(e) => {
                        rb.failed.insert(name.clone(), (iface.clone(), e.clone()));
                    }
                    Ok(IfaceKind::Patch { peer }) => {
                        patches.push((bn.clone(), iface.clone(), peer.clone()));
                    }
                    Ok(kind) => match open_port(
                        &want.name,
                        iface,
                        kind,
                        want.hwaddr
                            .unwrap_or_else(|| model::derived_mac(&want.name)),
                    ) {
                        Ok((port, hw)) => add_port(rb, iface, kind.clone(), port, hw, now),
                        Err(e) => {
                            tracing::warn!("{bn}: {name}: {e}");
                            rb.failed.insert(name.clone(), (iface.clone(), e));
                        }
                    },
                }
            }
        }
        self.add_patches(patches, now);
        // 5. Per-bridge settings: VLANs, controllers, fail mode.
        for (bn, rb) in &mut self.bridges {
            let Some(want) = cfg.bridges.get(bn) else {
                continue;
            };
            for (name, p) in &mut rb.ports {
                if let Some(w) = want.ifaces.get(name)
                    && w.vlan != p.iface.vlan
                {
                    if let Err(e) = lock(&rb.br).set_port_vlan(p.ofport, w.vlan.clone()) {
                        tracing::warn!("{bn}: {name}: vlan: {e}");
                    }
                    p.iface.vlan = w.vlan.clone();
                }
                if let Some(w) = want.ifaces.get(name) {
                    p.iface.port_uuid = w.port_uuid.clone();
                    p.iface.mtu_request = w.mtu_request;
                }
            }
            let dpid = model::datapath_id(want);
            if dpid != rb.dpid {
                lock(&rb.br).set_datapath_id(dpid);
                rb.dpid = dpid;
            }
            let had_ctl = has_active_controller(&rb.cfg.controllers);
            let has_ctl = has_active_controller(&want.controllers);
            let mode_changed = rb.cfg.fail_mode != want.fail_mode;
            if mode_changed || had_ctl != has_ctl || rb.cfg.controllers != want.controllers {
                {
                    let mut br = lock(&rb.br);
                    if mode_changed && !has_ctl {
                        // As ovs-vswitchd: a new fail mode without
                        // controllers starts from empty tables.
                        flow_mod(&mut br, "", FlowCommand::Delete, now);
                    }
                    if !has_ctl
                        && want.fail_mode == FailMode::Standalone
                        && (mode_changed || had_ctl)
                    {
                        flow_mod(&mut br, DEFAULT_FLOW, FlowCommand::Add, now);
                    }
                    if has_ctl && !had_ctl {
                        // Delete commands take no actions: the match-all
                        // priority-0 flow is the default one.
                        flow_mod(&mut br, "priority=0", FlowCommand::DeleteStrict, now);
                    }
                }
                if let Some(ch) = &rb.chan {
                    ch.reconfigure(channel_config(&self.settings, want));
                    ch.wake();
                }
            }
            rb.cfg = want.clone();
        }
        let applied = started.elapsed();
        self.write_back(cfg, db, replica, false).await;
        tracing::debug!(
            "reconciled in {applied:?} (+ write-back {:?})",
            started.elapsed().saturating_sub(applied)
        );
    }

    fn add_patches(&mut self, patches: Vec<(String, model::Iface, String)>, now: u64) {
        let by_name: BTreeMap<&str, (&String, &model::Iface, &String)> = patches
            .iter()
            .map(|(b, i, p)| (i.name.as_str(), (b, i, p)))
            .collect();
        let mut done = BTreeSet::new();
        for (bn, iface, peer) in &patches {
            if done.contains(&iface.name) {
                continue;
            }
            let paired = by_name
                .get(peer.as_str())
                .filter(|(_, pi, pp)| **pp == iface.name && pi.name != iface.name);
            let Some((pbn, piface, _)) = paired else {
                // As OVS: the port exists (it has a number) but leads
                // nowhere until its peer appears.
                let running_peer = self.bridges.values().any(|b| b.ports.contains_key(peer));
                if running_peer {
                    if let Some(rb) = self.bridges.get_mut(bn) {
                        let err = format!("patch peer {peer} is paired with another port");
                        rb.failed.insert(iface.name.clone(), (iface.clone(), err));
                    }
                    continue;
                }
                let parked_name = format!("{}-parked", iface.name);
                match MemPort::pair(&iface.name, &parked_name, 64) {
                    Ok((a, parked)) => {
                        if let Some(rb) = self.bridges.get_mut(bn) {
                            let kind = IfaceKind::Patch { peer: peer.clone() };
                            let hw = model::derived_mac(&iface.name);
                            add_port(rb, iface, kind, Box::new(a), hw, now);
                            if let Some(p) = rb.ports.get_mut(&iface.name) {
                                p.parked = Some(parked);
                            }
                        }
                    }
                    Err(e) => tracing::error!("patch {}: {e}", iface.name),
                }
                continue;
            };
            done.insert(iface.name.clone());
            done.insert(piface.name.clone());
            let (a, b) = match MemPort::pair(&iface.name, &piface.name, PATCH_QUEUE) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("patch {}-{}: {e}", iface.name, piface.name);
                    continue;
                }
            };
            let kind_a = IfaceKind::Patch { peer: peer.clone() };
            let kind_b = IfaceKind::Patch {
                peer: iface.name.clone(),
            };
            let hw_a = model::derived_mac(&iface.name);
            let hw_b = model::derived_mac(&piface.name);
            if let Some(rb) = self.bridges.get_mut(bn) {
                add_port(rb, iface, kind_a, Box::new(a.with_offload(true)), hw_a, now);
            }
            if let Some(rb) = self.bridges.get_mut(*pbn) {
                add_port(
                    rb,
                    piface,
                    kind_b,
                    Box::new(b.with_offload(true)),
                    hw_b,
                    now,
                );
            }
        }
    }

    fn create_bridge(&mut self, want: &model::Bridge, now: u64) -> Result<RunBridge, String> {
        let dpid = model::datapath_id(want);
        let settings = SwitchSettings {
            datapath_id: dpid,
            ..SwitchSettings::default()
        };
        let dpif = datapath::dpif::DpifConfig {
            pmd_threads: self.settings.pmd_threads,
            ..datapath::dpif::DpifConfig::default()
        };
        let opts = BridgeOptions {
            clock: Arc::new(ChannelClock),
            max_idle_ms: self.max_idle_ms,
            ..BridgeOptions::default()
        };
        let mut br = OfBridge::with_options(
            BridgeConfig {
                name: want.name.clone(),
                settings,
                dpif,
            },
            opts,
        )
        .map_err(|e| e.to_string())?;
        br.set_datapath_id(dpid);
        // Saved OpenFlow state goes in before any port can forward.
        let file = persist::flow_file(&self.settings.dbdir, &want.name);
        let mut restored = false;
        if self.startup {
            match persist::load(&file) {
                Ok(Some(msgs)) => {
                    let refused = persist::restore(&mut br, &msgs, now);
                    tracing::info!(
                        "{}: restored {} saved OpenFlow requests ({refused} refused)",
                        want.name,
                        msgs.len()
                    );
                    restored = true;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("{}: {e}", file.display()),
            }
        } else {
            // A bridge created now starts empty, whatever an old file says.
            let _ = std::fs::remove_file(&file);
        }
        if !restored
            && !has_active_controller(&want.controllers)
            && want.fail_mode == FailMode::Standalone
        {
            flow_mod(&mut br, DEFAULT_FLOW, FlowCommand::Add, now);
        }
        let (saved, saved_gen) = if restored {
            (persist::snapshot(br.switch()), br.switch().generation())
        } else {
            (Vec::new(), u64::MAX)
        };
        let br = Arc::new(Mutex::new(br));
        let chan = match ChannelHandle::spawn(br.clone(), channel_config(&self.settings, want)) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!("{}: controller channels: {e}", want.name);
                None
            }
        };
        tracing::info!("{}: bridge created (datapath id {dpid:016x})", want.name);
        Ok(RunBridge {
            cfg: want.clone(),
            br,
            chan,
            ports: BTreeMap::new(),
            failed: BTreeMap::new(),
            dpid,
            saved,
            saved_gen,
        })
    }

    async fn destroy_bridge(&mut self, mut rb: RunBridge, forget_flows: bool) {
        let name = rb.cfg.name.clone();
        if let Some(ch) = rb.chan.take() {
            ch.shutdown().await;
        }
        let now = self.now_ms();
        if forget_flows {
            let _ = std::fs::remove_file(persist::flow_file(&self.settings.dbdir, &name));
        } else {
            save_flows(&self.settings, &mut rb);
        }
        {
            let mut br = lock(&rb.br);
            for (pname, p) in std::mem::take(&mut rb.ports) {
                if let Err(e) = br.remove_port(p.ofport, now) {
                    tracing::warn!("{name}: removing {pname}: {e}");
                }
            }
        }
        match Arc::try_unwrap(rb.br) {
            Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()).shutdown(),
            Err(_) => tracing::warn!("{name}: bridge still referenced; left to drop"),
        }
        tracing::info!("{name}: bridge removed");
    }

    /// Saves changed OpenFlow state of every bridge.
    pub fn save_all(&mut self) {
        for rb in self.bridges.values_mut() {
            save_flows(&self.settings, rb);
        }
    }

    /// Periodic work: link state (PORT_STATUS and the database), failed
    /// interfaces retried, statistics when `stats`.
    pub async fn tick(&mut self, cfg: &Config, db: &DbConn, replica: &Replica, stats: bool) {
        let now = self.now_ms();
        let mut changed = false;
        for rb in self.bridges.values_mut() {
            for (name, p) in &mut rb.ports {
                if stats {
                    let f = device_facts(name, &p.kind);
                    if f != p.facts {
                        p.facts = f;
                        changed = true;
                    }
                }
                let (admin, link) = link_state(name, &p.kind);
                if admin != p.admin_up || link != p.link_up {
                    p.admin_up = admin;
                    p.link_up = link;
                    changed = true;
                    if let Err(e) = lock(&rb.br).set_port_link(p.ofport, link, now) {
                        tracing::warn!("{name}: link state: {e}");
                    }
                    if let Some(ch) = &rb.chan {
                        ch.wake();
                    }
                }
            }
            if stats && !rb.failed.is_empty() {
                self.retry_due = true;
            }
        }
        if self.retry_due {
            self.reconcile(cfg, db, replica).await;
        }
        if changed || stats {
            self.write_back(cfg, db, replica, stats).await;
        }
    }

    async fn write_back(&mut self, cfg: &Config, db: &DbConn, replica: &Replica, stats: bool) {
        let mut ops = Vec::new();
        let mut live = BTreeSet::new();
        let written = &mut self.written;
        for rb in self.bridges.values_mut() {
            live.insert(rb.cfg.uuid.clone());
            set(
                written,
                &mut ops,
                "Bridge",
                &rb.cfg.uuid,
                "datapath_id",
                json!(format!("{:016x}", rb.dpid)),
            );
            for p in rb.ports.values_mut() {
                live.insert(p.iface.uuid.clone());
                let uuid = &p.iface.uuid;
                let state = (p.ofport, p.admin_up, p.link_up, p.facts);
                let fresh = p.wrote != Some(state);
                p.wrote = Some(state);
                if fresh {
                    set(
                        written,
                        &mut ops,
                        "Interface",
                        uuid,
                        "ofport",
                        json!(p.ofport_db()),
                    );
                    set(
                        written,
                        &mut ops,
                        "Interface",
                        uuid,
                        "error",
                        opt_json(None),
                    );
                    let up = |b: bool| json!(if b { "up" } else { "down" });
                    set(
                        written,
                        &mut ops,
                        "Interface",
                        uuid,
                        "admin_state",
                        up(p.admin_up),
                    );
                    set(
                        written,
                        &mut ops,
                        "Interface",
                        uuid,
                        "link_state",
                        up(p.link_up),
                    );
                    let (mac, ifindex, mtu) = p.facts;
                    if let Some(m) = mac {
                        set(
                            written,
                            &mut ops,
                            "Interface",
                            uuid,
                            "mac_in_use",
                            json!(format_mac(&m)),
                        );
                    }
                    set(
                        written,
                        &mut ops,
                        "Interface",
                        uuid,
                        "ifindex",
                        opt_json(ifindex.map(|i| json!(i))),
                    );
                    set(
                        written,
                        &mut ops,
                        "Interface",
                        uuid,
                        "mtu",
                        opt_json(mtu.map(|m| json!(m))),
                    );
                }
                if stats && let Some(s) = lock(&rb.br).port_stats(p.ofport) {
                    let mut m = BTreeMap::new();
                    m.insert("rx_packets".to_string(), s.rx_packets);
                    m.insert("rx_bytes".to_string(), s.rx_bytes);
                    m.insert("rx_dropped".to_string(), s.rx_dropped);
                    m.insert("rx_errors".to_string(), s.rx_errors);
                    m.insert("tx_packets".to_string(), s.tx_packets);
                    m.insert("tx_bytes".to_string(), s.tx_bytes);
                    m.insert("tx_dropped".to_string(), s.tx_dropped);
                    m.insert("tx_errors".to_string(), s.tx_errors);
                    set(
                        written,
                        &mut ops,
                        "Interface",
                        uuid,
                        "statistics",
                        map_json(&m),
                    );
                }
            }
            for (iface, err) in rb.failed.values() {
                live.insert(iface.uuid.clone());
                set(
                    written,
                    &mut ops,
                    "Interface",
                    &iface.uuid,
                    "ofport",
                    json!(-1),
                );
                set(
                    written,
                    &mut ops,
                    "Interface",
                    &iface.uuid,
                    "error",
                    json!(err),
                );
            }
            if let Some(ch) = &rb.chan {
                let st = ch.status();
                for c in &rb.cfg.controllers {
                    live.insert(c.uuid.clone());
                    let Some(s) = st.iter().find(|s| s.target == c.target) else {
                        continue;
                    };
                    set(
                        written,
                        &mut ops,
                        "Controller",
                        &c.uuid,
                        "is_connected",
                        json!(s.is_connected),
                    );
                    set(
                        written,
                        &mut ops,
                        "Controller",
                        &c.uuid,
                        "role",
                        opt_json(s.is_connected.then(|| json!(s.role))),
                    );
                    let mut m: BTreeMap<String, String> = BTreeMap::new();
                    m.insert("state".into(), s.state.to_string());
                    if let Some(e) = &s.last_error {
                        m.insert("last_error".into(), e.clone());
                    }
                    if let Some(t) = s.sec_since_connect {
                        m.insert("sec_since_connect".into(), t.to_string());
                    }
                    if let Some(t) = s.sec_since_disconnect {
                        m.insert("sec_since_disconnect".into(), t.to_string());
                    }
                    set(
                        written,
                        &mut ops,
                        "Controller",
                        &c.uuid,
                        "status",
                        map_json(&m),
                    );
                }
            }
        }
        // Forget rows that are gone (their cache entries would only grow).
        self.written.retain(|(_, u, _), _| live.contains(u));
        if let Some(ovs) = &cfg.ovs_uuid
            && cfg.cur_cfg != cfg.next_cfg
        {
            ops.push(json!({
                "op": "update", "table": "Open_vSwitch",
                "where": [["_uuid", "==", ["uuid", ovs]]],
                "row": {"cur_cfg": cfg.next_cfg}
            }));
        }
        let _ = replica;
        if ops.is_empty() {
            return;
        }
        if let Err(e) = db.transact(ops).await {
            tracing::warn!("database write-back failed: {e}");
            // Write everything again next time.
            self.written.clear();
            for rb in self.bridges.values_mut() {
                for p in rb.ports.values_mut() {
                    p.wrote = None;
                }
            }
        }
    }

    /// Stops everything: flows saved, channels closed, ports and devices
    /// removed, datapaths stopped.
    pub async fn shutdown(&mut self) {
        let bridges = std::mem::take(&mut self.bridges);
        self.publish_map();
        for (_, rb) in bridges {
            self.destroy_bridge(rb, false).await;
        }
    }
}

type Written = HashMap<(String, String, String), Value>;

/// Queues an update of one column unless that value was written last.
fn set(written: &mut Written, ops: &mut Vec<Value>, table: &str, uuid: &str, col: &str, v: Value) {
    let key = (table.to_string(), uuid.to_string(), col.to_string());
    if written.get(&key) == Some(&v) {
        return;
    }
    ops.push(json!({
        "op": "update", "table": table,
        "where": [["_uuid", "==", ["uuid", uuid]]],
        "row": {col: v.clone()}
    }));
    written.insert(key, v);
}

impl RunPort {
    fn ofport_db(&self) -> i64 {
        if self.ofport == OFPP_LOCAL {
            65534
        } else {
            i64::from(self.ofport)
        }
    }
}

/// Whether the peer of running patch port `name` is now configured and
/// points back (so a parked port can be paired).
fn patch_peer_ready(cfg: &Config, name: &str, kind: &IfaceKind) -> bool {
    let IfaceKind::Patch { peer } = kind else {
        return false;
    };
    cfg.bridges.values().any(|b| {
        b.ifaces.get(peer).is_some_and(|i| {
            i.kind
                == Ok(IfaceKind::Patch {
                    peer: name.to_string(),
                })
        })
    })
}

/// Writes the bridge's flow file if its OpenFlow state changed.  Only
/// the capture (a pointer copy per table) runs under the bridge lock; the
/// encoding, comparison and write run outside it.
fn save_flows(settings: &Settings, rb: &mut RunBridge) {
    let (generation, cap) = {
        let br = lock(&rb.br);
        let generation = br.switch().generation();
        if generation == rb.saved_gen {
            return;
        }
        (generation, persist::capture(br.switch()))
    };
    let snap = persist::encode(&cap);
    drop(cap);
    if snap == rb.saved {
        rb.saved_gen = generation;
        return;
    }
    let file = persist::flow_file(&settings.dbdir, &rb.cfg.name);
    match persist::store(&file, &snap) {
        Ok(()) => {
            rb.saved = snap;
            rb.saved_gen = generation;
        }
        Err(e) => tracing::warn!("{}: {e}", file.display()),
    }
}

fn link_state(name: &str, kind: &IfaceKind) -> (bool, bool) {
    match kind {
        IfaceKind::Patch { .. } => (true, true),
        _ => {
            let admin = netdev::is_up(name).unwrap_or(false);
            let carrier = netdev::carrier(name).unwrap_or(false);
            (admin, admin && carrier)
        }
    }
}

fn device_facts(name: &str, kind: &IfaceKind) -> Facts {
    match kind {
        IfaceKind::Patch { .. } => (Some(model::derived_mac(name)), None, None),
        _ => (
            netdev::mac(name).ok(),
            netdev::ifindex(name).ok(),
            netdev::mtu(name).ok(),
        ),
    }
}

/// An I/O error as ovs-vswitchd words it: the system's message alone,
/// without Rust's " (os error N)" suffix.
fn os_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

/// Opens the device of a non-patch interface; returns it and its address.
fn open_port(
    bridge: &str,
    iface: &model::Iface,
    kind: &IfaceKind,
    bridge_mac: [u8; 6],
) -> Result<(Box<dyn Port>, [u8; 6]), String> {
    let name = &iface.name;
    let port: Box<dyn Port> = match kind {
        IfaceKind::System => Box::new(
            SystemPort::open(name, &SystemPortOptions::default())
                .map_err(|e| format!("could not open network device {name} ({})", os_text(&e)))?,
        ),
        IfaceKind::Internal => {
            Box::new(InternalPort::open(name).map_err(|e| {
                format!("could not create internal device {name} ({})", os_text(&e))
            })?)
        }
        IfaceKind::Tap => Box::new(
            TapPort::open(name, &datapath::sys::TapOptions::default())
                .map_err(|e| format!("could not open tap device {name} ({})", os_text(&e)))?,
        ),
        IfaceKind::Patch { .. } => return Err("patch ports are built in pairs".into()),
    };
    // Addresses: the local port carries the bridge address
    // (`other_config:hwaddr` or one derived from the name; the datapath id
    // is derived from it unless set), other internal ports `Interface.mac`.
    let want_mac = if iface.is_bridge_local {
        Some(bridge_mac)
    } else if matches!(kind, IfaceKind::Internal | IfaceKind::Tap) {
        iface.mac
    } else {
        None
    };
    if let Some(m) = want_mac
        && let Err(e) = netdev::set_mac(name, m)
    {
        tracing::warn!("{bridge}: {name}: setting address: {e}");
    }
    if let Some(mtu) = iface.mtu_request
        && let Err(e) = netdev::set_mtu(name, mtu)
    {
        tracing::warn!("{bridge}: {name}: setting mtu {mtu}: {e}");
    }
    if kind == &IfaceKind::Tap {
        // Internal ports start down, as in OVS (the user configures and
        // raises them); tap devices are raised so they forward at once.
        let _ = netdev::set_up(name, true);
    }
    let hw = netdev::mac(name).unwrap_or_else(|_| model::derived_mac(name));
    Ok((port, hw))
}

fn add_port(
    rb: &mut RunBridge,
    iface: &model::Iface,
    kind: IfaceKind,
    port: Box<dyn Port>,
    hw: [u8; 6],
    now: u64,
) {
    let spec = PortSpec {
        name: iface.name.clone(),
        ofport_request: iface.ofport_request,
        hw_addr: hw,
        vlan: iface.vlan.clone(),
        curr_speed_kbps: 10_000_000,
    };
    let res = lock(&rb.br).add_port(port, spec, now);
    match res {
        Ok(ofport) => {
            let (admin, link) = link_state(&iface.name, &kind);
            let facts = device_facts(&iface.name, &kind);
            if !link && let Err(e) = lock(&rb.br).set_port_link(ofport, false, now) {
                tracing::warn!("{}: {e}", iface.name);
            }
            tracing::info!(
                "{}: added port {} (ofport {ofport})",
                rb.cfg.name,
                iface.name
            );
            rb.ports.insert(
                iface.name.clone(),
                RunPort {
                    iface: iface.clone(),
                    kind,
                    ofport,
                    admin_up: admin,
                    link_up: link,
                    parked: None,
                    facts,
                    wrote: None,
                },
            );
            rb.failed.remove(&iface.name);
            if let Some(ch) = &rb.chan {
                ch.wake();
            }
        }
        Err(e) => {
            tracing::warn!("{}: adding {}: {e}", rb.cfg.name, iface.name);
            rb.failed
                .insert(iface.name.clone(), (iface.clone(), e.to_string()));
        }
    }
}
