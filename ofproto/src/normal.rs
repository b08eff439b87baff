//! The NORMAL pipeline: a MAC-learning L2 switch with VLANs.
//!
//! This is what `output:NORMAL` runs and what a bridge in
//! `fail_mode=standalone` runs for every packet when no controller is
//! connected.  It is deliberately small and deterministic: time is passed
//! in (`now_ms`), the table is bounded, and every decision is a pure
//! function of the packet's key, the port VLAN configuration and the
//! learning table.
//!
//! # Learning table
//!
//! [`MacLearning`] maps `(mac, vlan)` to `(port, last_seen)`.  It holds at
//! most `max_entries` entries (default [`DEFAULT_MAX_ENTRIES`]); learning a
//! new address into a full table evicts the least recently seen entry.
//! Entries older than the aging time (default [`DEFAULT_AGING_MS`]) are
//! invisible to [`MacLearning::lookup`] and removed by
//! [`MacLearning::expire`].  Only valid unicast sources are learned (not
//! multicast/broadcast, not all-zero).
//!
//! # Megaflows and the generation counter
//!
//! A NORMAL decision depends on the table, not only on the packet, so a
//! megaflow made from it is correct only while the entries it read are
//! unchanged.  Every change that can alter a lookup result (a new entry,
//! a station moving port, eviction, expiry, flush) bumps
//! [`MacLearning::generation`].  The translation reports the generation it
//! saw; the owner of the megaflow cache revalidates (re-translates, then
//! fixes or deletes) the megaflows made by NORMAL whenever the generation
//! has moved.  Aging is time-driven: the owner must call
//! [`MacLearning::expire`] periodically (e.g. once a second) so that the
//! generation moves when entries age out.
//!
//! # VLANs
//!
//! Each port has a [`PortVlan`] in one of Open vSwitch's `vlan_mode`s:
//! `access` (untagged frames belong to `tag`; tagged frames other than
//! priority tags are dropped; output untagged), `trunk` (a tagged frame
//! belongs to its VID if `trunks` allows it, an untagged one to VLAN 0;
//! output tagged except on VLAN 0), `native-tagged` and `native-untagged`
//! (untagged frames belong to `tag`; output on the native VLAN is tagged
//! resp. untagged).  An empty `trunks` list allows every VLAN.  A priority
//! tag (VID 0) counts as untagged.

use std::collections::{BTreeMap, HashMap};

use datapath::flow::{Field, FlowKey, FlowMask, VLAN_PRESENT, mac_to_u64};

/// Default bound of the learning table.
pub const DEFAULT_MAX_ENTRIES: usize = 8192;
/// Default aging time (300 s, as Open vSwitch).
pub const DEFAULT_AGING_MS: u64 = 300_000;

/// One learned station, as `fdb/show` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacEntry {
    /// The station's MAC address.
    pub mac: [u8; 6],
    /// The VLAN it was seen on.
    pub vlan: u16,
    /// The OpenFlow port it was seen on.
    pub port: u32,
    /// When it was last seen (ms, caller's clock).
    pub last_seen_ms: u64,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    port: u32,
    last_seen_ms: u64,
    seq: u64,
}

/// A bounded, aging MAC learning table (see the module documentation).
#[derive(Debug)]
pub struct MacLearning {
    map: HashMap<(u64, u16), Slot>,
    /// `(last_seen, seq)` -> key, oldest first.
    age: BTreeMap<(u64, u64), (u64, u16)>,
    max_entries: usize,
    aging_ms: u64,
    seq: u64,
    generation: u64,
}

impl Default for MacLearning {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES, DEFAULT_AGING_MS)
    }
}

/// Whether `mac` may be learned: unicast and not all-zero.
pub fn is_learnable(mac: [u8; 6]) -> bool {
    mac[0] & 1 == 0 && mac != [0; 6]
}

impl MacLearning {
    /// An empty table holding at most `max_entries` (at least 1) entries
    /// that age out after `aging_ms`.
    pub fn new(max_entries: usize, aging_ms: u64) -> Self {
        Self {
            map: HashMap::new(),
            age: BTreeMap::new(),
            max_entries: max_entries.max(1),
            aging_ms,
            seq: 0,
            generation: 0,
        }
    }

    /// The number of entries (aged ones not yet expired included).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Changes the aging time.
    pub fn set_aging_ms(&mut self, aging_ms: u64) {
        self.aging_ms = aging_ms;
        self.generation += 1;
    }

    /// Bumped by every change that can alter a lookup result.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn fresh(&self, s: &Slot, now_ms: u64) -> bool {
        now_ms.saturating_sub(s.last_seen_ms) < self.aging_ms
    }

    /// Records that `mac` was seen on `port` in `vlan` at `now_ms`.
    /// Returns true if the entry is new or moved to another port (the
    /// generation moved); refreshing an entry returns false.  Addresses
    /// that are not [`is_learnable`] are ignored (false).
    pub fn learn(&mut self, mac: [u8; 6], vlan: u16, port: u32, now_ms: u64) -> bool {
        if !is_learnable(mac) {
            return false;
        }
        let k = (mac_to_u64(mac), vlan);
        self.seq += 1;
        let seq = self.seq;
        let fresh_same = self
            .map
            .get(&k)
            .is_some_and(|s| s.port == port && self.fresh(s, now_ms));
        if let Some(old) = self.map.get(&k).copied() {
            self.age.remove(&(old.last_seen_ms, old.seq));
        } else if self.map.len() >= self.max_entries {
            if let Some((_, victim)) = self.age.pop_first() {
                self.map.remove(&victim);
            }
        }
        self.map.insert(
            k,
            Slot {
                port,
                last_seen_ms: now_ms,
                seq,
            },
        );
        self.age.insert((now_ms, seq), k);
        if fresh_same {
            false
        } else {
            self.generation += 1;
            true
        }
    }

    /// The port `mac` was learned on in `vlan`, unless the entry aged out.
    pub fn lookup(&self, mac: [u8; 6], vlan: u16, now_ms: u64) -> Option<u32> {
        self.map
            .get(&(mac_to_u64(mac), vlan))
            .filter(|s| self.fresh(s, now_ms))
            .map(|s| s.port)
    }

    /// Removes the entries aged out at `now_ms`; returns how many.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let mut n = 0;
        while let Some((&(seen, seq), &k)) = self.age.first_key_value() {
            if now_ms.saturating_sub(seen) < self.aging_ms {
                break;
            }
            self.age.remove(&(seen, seq));
            self.map.remove(&k);
            n += 1;
        }
        if n > 0 {
            self.generation += 1;
        }
        n
    }

    /// Removes every entry.
    pub fn flush(&mut self) {
        self.map.clear();
        self.age.clear();
        self.generation += 1;
    }

    /// Removes the entries learned on `port` (port deleted or down).
    pub fn flush_port(&mut self, port: u32) {
        let before = self.map.len();
        self.map.retain(|_, s| s.port != port);
        self.age.retain(|_, k| self_contains(&self.map, k));
        if self.map.len() != before {
            self.generation += 1;
        }
    }

    /// The live entries, oldest first.
    pub fn entries(&self, now_ms: u64) -> Vec<MacEntry> {
        self.age
            .values()
            .filter_map(|k| {
                let s = self.map.get(k)?;
                self.fresh(s, now_ms).then(|| MacEntry {
                    mac: datapath::flow::u64_to_mac(k.0),
                    vlan: k.1,
                    port: s.port,
                    last_seen_ms: s.last_seen_ms,
                })
            })
            .collect()
    }
}

fn self_contains(map: &HashMap<(u64, u16), Slot>, k: &(u64, u16)) -> bool {
    map.contains_key(k)
}

/// A port's VLAN mode (Open vSwitch's `vlan_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VlanMode {
    /// One untagged VLAN (`tag`).
    Access,
    /// Tagged VLANs (`trunks`); untagged frames are VLAN 0.
    #[default]
    Trunk,
    /// Like trunk, untagged frames are `tag`; output on `tag` is tagged.
    NativeTagged,
    /// Like trunk, untagged frames are `tag`; output on `tag` is untagged.
    NativeUntagged,
}

/// A port's VLAN configuration.  The default is a trunk of every VLAN
/// (Open vSwitch's default for a port with neither `tag` nor `trunks`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortVlan {
    /// The mode.
    pub mode: VlanMode,
    /// Access or native VLAN (0..4095).
    pub tag: u16,
    /// Allowed tagged VLANs; empty = all.
    pub trunks: Vec<u16>,
}

impl PortVlan {
    /// An access port of `tag`.
    pub fn access(tag: u16) -> Self {
        Self {
            mode: VlanMode::Access,
            tag: tag & 0xfff,
            trunks: Vec::new(),
        }
    }

    /// A trunk allowing `trunks` (empty = all).
    pub fn trunk(trunks: &[u16]) -> Self {
        Self {
            mode: VlanMode::Trunk,
            tag: 0,
            trunks: trunks.to_vec(),
        }
    }

    fn trunk_allows(&self, vid: u16) -> bool {
        self.trunks.is_empty() || self.trunks.contains(&vid)
    }

    /// The VLAN a frame received here belongs to (`vid` is the outer
    /// tag's VID, `None` untagged), or `None` if the port drops it.
    pub fn input_vlan(&self, vid: Option<u16>) -> Option<u16> {
        let vid = vid.filter(|&v| v != 0);
        match (self.mode, vid) {
            (VlanMode::Access, None) => Some(self.tag),
            (VlanMode::Access, Some(_)) => None,
            (VlanMode::Trunk, None) => Some(0),
            (VlanMode::NativeTagged | VlanMode::NativeUntagged, None) => Some(self.tag),
            (VlanMode::Trunk, Some(v)) => self.trunk_allows(v).then_some(v),
            (VlanMode::NativeTagged | VlanMode::NativeUntagged, Some(v)) => {
                (v == self.tag || self.trunk_allows(v)).then_some(v)
            }
        }
    }

    /// Whether frames of `vlan` may leave through this port, and if so
    /// whether they leave tagged.
    pub fn output(&self, vlan: u16) -> Option<bool> {
        match self.mode {
            VlanMode::Access => (vlan == self.tag).then_some(false),
            VlanMode::Trunk => self.trunk_allows(vlan).then_some(vlan != 0),
            VlanMode::NativeTagged => (vlan == self.tag || self.trunk_allows(vlan)).then_some(true),
            VlanMode::NativeUntagged => {
                if vlan == self.tag {
                    Some(false)
                } else {
                    self.trunk_allows(vlan).then_some(true)
                }
            }
        }
    }
}

/// What NORMAL decided for one packet.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NormalDecision {
    /// The VLAN the packet belongs to.
    pub vlan: u16,
    /// Output ports, each with whether the frame leaves tagged with
    /// `vlan`.  Empty = drop.
    pub outputs: Vec<(u32, bool)>,
    /// Whether the packet was flooded (destination unknown or
    /// multicast).
    pub flooded: bool,
}

/// Runs the L2 switch on `key` (its `in_port` is the OpenFlow input
/// port).  `ports` lists every port that NORMAL may flood to with its VLAN
/// configuration (the caller leaves out ports with `OFPPC_NO_FLOOD`
/// for flooding purposes by passing `floodable = false`); `in_cfg` is the
/// input port's configuration.  Learns the source when `may_learn`.
/// Un-wildcards in `wc` every key bit the decision read: `in_port`,
/// `eth_src`, `eth_dst` and the outer `vlan_tci`.
pub fn decide(
    ml: &mut MacLearning,
    may_learn: bool,
    key: &FlowKey,
    wc: &mut FlowMask,
    in_cfg: &PortVlan,
    ports: &[(u32, PortVlan, bool)],
    now_ms: u64,
) -> NormalDecision {
    wc.set_exact(Field::InPort)
        .set_exact(Field::EthSrc)
        .set_exact(Field::EthDst)
        .set_exact(Field::VlanTci);
    let in_port = key.in_port();
    let tci = key.vlan_tci();
    let vid = (tci & VLAN_PRESENT != 0).then_some(tci & 0xfff);
    let Some(vlan) = in_cfg.input_vlan(vid) else {
        return NormalDecision::default();
    };
    let src = key.eth_src();
    if !is_learnable(src) && src[0] & 1 == 1 {
        // A multicast source is invalid; drop as Open vSwitch does.
        return NormalDecision {
            vlan,
            ..Default::default()
        };
    }
    if may_learn {
        ml.learn(src, vlan, in_port, now_ms);
    }
    let dst = key.eth_dst();
    let known = if dst[0] & 1 == 0 {
        ml.lookup(dst, vlan, now_ms)
    } else {
        None
    };
    let mut d = NormalDecision {
        vlan,
        ..Default::default()
    };
    match known {
        Some(p) if p == in_port => {}
        Some(p) => {
            if let Some((_, cfg, _)) = ports.iter().find(|(n, _, _)| *n == p) {
                if let Some(tagged) = cfg.output(vlan) {
                    d.outputs.push((p, tagged));
                }
            }
        }
        None => {
            d.flooded = true;
            for (p, cfg, floodable) in ports {
                if *p == in_port || !*floodable {
                    continue;
                }
                if let Some(tagged) = cfg.output(vlan) {
                    d.outputs.push((*p, tagged));
                }
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_vlan_modes() {
        let nt = PortVlan {
            mode: VlanMode::NativeTagged,
            tag: 7,
            trunks: vec![8],
        };
        let nu = PortVlan {
            mode: VlanMode::NativeUntagged,
            ..nt.clone()
        };
        for p in [&nt, &nu] {
            assert_eq!(p.input_vlan(None), Some(7));
            assert_eq!(p.input_vlan(Some(0)), Some(7), "priority tag is untagged");
            assert_eq!(p.input_vlan(Some(7)), Some(7));
            assert_eq!(p.input_vlan(Some(8)), Some(8));
            assert_eq!(p.input_vlan(Some(9)), None);
            assert_eq!(p.output(8), Some(true));
            assert_eq!(p.output(9), None);
        }
        assert_eq!(nt.output(7), Some(true));
        assert_eq!(nu.output(7), Some(false));
        let tr = PortVlan::trunk(&[]);
        assert_eq!(tr.input_vlan(None), Some(0));
        assert_eq!(tr.output(0), Some(false));
        assert_eq!(tr.output(4094), Some(true));
        let ac = PortVlan::access(3);
        assert_eq!(ac.input_vlan(Some(0)), Some(3));
        assert_eq!(ac.input_vlan(Some(3)), None);
        assert_eq!(ac.output(3), Some(false));
        assert_eq!(ac.output(4), None);
    }

    #[test]
    fn multicast_source_is_dropped_and_not_learned() {
        let mut ml = MacLearning::default();
        let mut k = FlowKey::ZERO;
        k.set_in_port(1);
        k.set_eth_src([1, 0, 0, 0, 0, 1]);
        k.set_eth_dst([0xff; 6]);
        let ports = [
            (1, PortVlan::default(), true),
            (2, PortVlan::default(), true),
        ];
        let mut wc = FlowMask::default();
        let d = decide(&mut ml, true, &k, &mut wc, &PortVlan::default(), &ports, 0);
        assert!(d.outputs.is_empty());
        assert!(ml.is_empty());
    }

    #[test]
    fn moving_station_bumps_generation_and_refresh_does_not() {
        let mut ml = MacLearning::default();
        let m = [2, 0, 0, 0, 0, 1];
        assert!(ml.learn(m, 1, 1, 0));
        let g = ml.generation();
        assert!(!ml.learn(m, 1, 1, 10));
        assert_eq!(ml.generation(), g);
        assert!(ml.learn(m, 1, 2, 20));
        assert!(ml.generation() > g);
        assert_eq!(ml.lookup(m, 1, 20), Some(2));
        assert_eq!(ml.lookup(m, 2, 20), None, "per VLAN");
        assert_eq!(ml.entries(20).len(), 1);
    }
}
