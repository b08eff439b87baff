//! The configuration the database asks for, read out of the replica into
//! plain structures the reconciler diffs against what is running.
//!
//! Reading is pure (no I/O) and total: a row the daemon cannot honour
//! becomes an interface with an `error` text (written back to
//! `Interface.error`), never a failure of the whole configuration.

use std::collections::{BTreeMap, BTreeSet};

use ofproto::normal::{PortVlan, VlanMode};

use super::db::{Replica, RowJson, int_col, ints_col, map_col, str_col, uuids_col};

/// OpenFlow port number of a bridge's own (local) port.
pub const OFPP_LOCAL: u32 = 0xffff_fffe;
/// Highest ordinary OpenFlow port number (`OFPP_MAX`).
pub const OFPP_MAX: u32 = 0xffff_ff00;

/// What kind of device an interface is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfaceKind {
    /// An existing netdev through AF_PACKET (`type` empty or `system`).
    System,
    /// A TAP device we create (`internal`; the bridge's own port too).
    Internal,
    /// A TAP device we create (`tap`).
    Tap,
    /// One end of a patch-port pair (`options:peer`).
    Patch {
        /// The peer interface name.
        peer: String,
    },
}

impl IfaceKind {
    /// The OVS type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            IfaceKind::System => "system",
            IfaceKind::Internal => "internal",
            IfaceKind::Tap => "tap",
            IfaceKind::Patch { .. } => "patch",
        }
    }
}

/// One interface as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// `Interface` row UUID.
    pub uuid: String,
    /// `Port` row UUID.
    pub port_uuid: String,
    /// Interface (and device) name.
    pub name: String,
    /// Kind; `Err` carries why it cannot be built.
    pub kind: Result<IfaceKind, String>,
    /// `ofport_request`.
    pub ofport_request: Option<u32>,
    /// VLAN configuration of its port.
    pub vlan: PortVlan,
    /// `Interface.mac` (for internal/tap ports).
    pub mac: Option<[u8; 6]>,
    /// `Interface.mtu_request`.
    pub mtu_request: Option<u32>,
    /// The bridge's own (local) port.
    pub is_bridge_local: bool,
}

impl Iface {
    /// Whether changing from `self` to `new` needs the port re-created
    /// (anything but the VLAN configuration).
    pub fn needs_recreate(&self, new: &Iface) -> bool {
        self.kind != new.kind
            || self.ofport_request != new.ofport_request
            || self.mac != new.mac
            || self.uuid != new.uuid
    }
}

/// Bridge fail mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Forward with NORMAL when no controller is reachable (OVS default).
    #[default]
    Standalone,
    /// Never forward on our own.
    Secure,
}

/// One controller as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    /// `Controller` row UUID.
    pub uuid: String,
    /// `target`.
    pub target: String,
    /// `max_backoff` (ms).
    pub max_backoff_ms: u64,
    /// `inactivity_probe` (ms, 0 = off).
    pub inactivity_probe_ms: u64,
    /// `controller_rate_limit`.
    pub rate_limit: Option<u32>,
    /// `controller_burst_limit`.
    pub burst_limit: Option<u32>,
}

/// One bridge as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// `Bridge` row UUID.
    pub uuid: String,
    /// Name (also its local port's device name).
    pub name: String,
    /// Datapath id from `other_config:datapath-id`.
    pub dpid: Option<u64>,
    /// Address from `other_config:hwaddr`.
    pub hwaddr: Option<[u8; 6]>,
    /// `datapath_type` as written (all are served by the userspace datapath).
    pub datapath_type: String,
    /// Fail mode.
    pub fail_mode: FailMode,
    /// Controllers, in target order.
    pub controllers: Vec<Controller>,
    /// Interfaces by name.
    pub ifaces: BTreeMap<String, Iface>,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `Open_vSwitch` row UUID (none in an uninitialized database).
    pub ovs_uuid: Option<String>,
    /// `next_cfg`.
    pub next_cfg: i64,
    /// `cur_cfg`.
    pub cur_cfg: i64,
    /// Bridges by name.
    pub bridges: BTreeMap<String, Bridge>,
    /// Passive OVSDB targets of the `Manager` table (through
    /// `Open_vSwitch.manager_options`).
    pub managers: BTreeSet<String>,
    /// `Open_vSwitch.other_config:max-idle` (ms): how long an idle
    /// megaflow stays in the datapath; `None` if unset or invalid.
    pub max_idle_ms: Option<u64>,
}

/// Default idle time of a megaflow (ms), Open vSwitch's.
pub const DEFAULT_MAX_IDLE_MS: u64 = 10_000;

/// `other_config:max-idle` as Open vSwitch reads it: an integer of at
/// least 500 (ms); anything else is ignored (the default applies).
pub fn parse_max_idle(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok().filter(|&ms| ms >= 500)
}

/// Parses `xx:xx:xx:xx:xx:xx`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split(':') {
        let slot = out.get_mut(n)?;
        if part.len() != 2 {
            return None;
        }
        *slot = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

/// Formats a MAC address the OVS way.
pub fn format_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn vid(v: i64) -> Option<u16> {
    u16::try_from(v).ok().filter(|v| *v < 4096)
}

/// The VLAN configuration of a `Port` row (OVS rules: `vlan_mode` empty
/// means access when `tag` is set, trunk otherwise).
pub fn port_vlan(port: &RowJson) -> Result<PortVlan, String> {
    let tag = match int_col(port, "tag") {
        Some(t) => Some(vid(t).ok_or_else(|| format!("invalid tag {t}"))?),
        None => None,
    };
    let mut trunks = Vec::new();
    for t in ints_col(port, "trunks") {
        trunks.push(vid(t).ok_or_else(|| format!("invalid trunk {t}"))?);
    }
    trunks.sort_unstable();
    trunks.dedup();
    let mode = match str_col(port, "vlan_mode") {
        None => {
            if tag.is_some() {
                VlanMode::Access
            } else {
                VlanMode::Trunk
            }
        }
        Some("access") => VlanMode::Access,
        Some("trunk") => VlanMode::Trunk,
        Some("native-tagged") => VlanMode::NativeTagged,
        Some("native-untagged") => VlanMode::NativeUntagged,
        Some(other) => return Err(format!("unsupported vlan_mode {other}")),
    };
    Ok(match mode {
        VlanMode::Access => PortVlan::access(tag.unwrap_or(0)),
        VlanMode::Trunk => PortVlan::trunk(&trunks),
        m => PortVlan {
            mode: m,
            tag: tag.unwrap_or(0),
            trunks,
        },
    })
}

fn parse_dpid(s: &str) -> Option<u64> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() != 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

fn positive_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

fn controller(uuid: &str, row: &RowJson) -> Controller {
    Controller {
        uuid: uuid.to_string(),
        target: str_col(row, "target").unwrap_or("").to_string(),
        max_backoff_ms: int_col(row, "max_backoff")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(8000),
        inactivity_probe_ms: int_col(row, "inactivity_probe")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(5000),
        rate_limit: positive_u32(int_col(row, "controller_rate_limit")),
        burst_limit: positive_u32(int_col(row, "controller_burst_limit")),
    }
}

fn iface_kind(row: &RowJson) -> Result<IfaceKind, String> {
    let opts = map_col(row, "options");
    match str_col(row, "type").unwrap_or("") {
        "" | "system" => Ok(IfaceKind::System),
        "internal" => Ok(IfaceKind::Internal),
        "tap" => Ok(IfaceKind::Tap),
        "patch" => match opts.get("peer") {
            Some(p) if !p.is_empty() => Ok(IfaceKind::Patch { peer: p.clone() }),
            _ => Err("patch interface has no options:peer".into()),
        },
        other => Err(format!("unsupported interface type {other}")),
    }
}

/// Reads the configuration out of the replica.
pub fn read_config(r: &Replica) -> Config {
    let mut cfg = Config::default();
    let Some((ovs_uuid, ovs)) = r.rows("Open_vSwitch").next() else {
        return cfg;
    };
    cfg.ovs_uuid = Some(ovs_uuid.clone());
    cfg.next_cfg = int_col(ovs, "next_cfg").unwrap_or(0);
    cfg.cur_cfg = int_col(ovs, "cur_cfg").unwrap_or(0);
    cfg.max_idle_ms = map_col(ovs, "other_config")
        .get("max-idle")
        .and_then(|v| parse_max_idle(v));
    for m in uuids_col(ovs, "manager_options") {
        if let Some(t) = r.row("Manager", &m).and_then(|row| str_col(row, "target")) {
            cfg.managers.insert(t.to_string());
        }
    }
    let mut seen_ifaces = BTreeSet::new();
    for bu in uuids_col(ovs, "bridges") {
        let Some(brow) = r.row("Bridge", &bu) else {
            continue;
        };
        let Some(name) = str_col(brow, "name") else {
            continue;
        };
        if cfg.bridges.contains_key(name) {
            continue;
        }
        let oc = map_col(brow, "other_config");
        let mut br = Bridge {
            uuid: bu.clone(),
            name: name.to_string(),
            dpid: oc.get("datapath-id").and_then(|s| parse_dpid(s)),
            hwaddr: oc.get("hwaddr").and_then(|s| parse_mac(s)),
            datapath_type: str_col(brow, "datapath_type").unwrap_or("").to_string(),
            fail_mode: match str_col(brow, "fail_mode") {
                Some("secure") => FailMode::Secure,
                _ => FailMode::Standalone,
            },
            controllers: Vec::new(),
            ifaces: BTreeMap::new(),
        };
        for cu in uuids_col(brow, "controller") {
            if let Some(crow) = r.row("Controller", &cu) {
                br.controllers.push(controller(&cu, crow));
            }
        }
        br.controllers.sort_by(|a, b| a.target.cmp(&b.target));
        for pu in uuids_col(brow, "ports") {
            let Some(prow) = r.row("Port", &pu) else {
                continue;
            };
            let vlan = port_vlan(prow);
            let ius = uuids_col(prow, "interfaces");
            let bond = ius.len() > 1;
            for iu in ius {
                let Some(irow) = r.row("Interface", &iu) else {
                    continue;
                };
                let Some(iname) = str_col(irow, "name") else {
                    continue;
                };
                if !seen_ifaces.insert(iname.to_string()) {
                    continue;
                }
                let mut kind = iface_kind(irow);
                let local = iname == br.name;
                if local && kind == Ok(IfaceKind::Internal) {
                    // The bridge's own port.
                } else if local {
                    kind = Err("the bridge's own port must be of type internal".into());
                }
                if bond {
                    kind = Err("bonds are not supported by rvs".into());
                }
                let vlan = match &vlan {
                    Ok(v) => v.clone(),
                    Err(e) => {
                        kind = Err(e.clone());
                        PortVlan::default()
                    }
                };
                let ofport_request = if local {
                    Some(OFPP_LOCAL)
                } else {
                    positive_u32(int_col(irow, "ofport_request"))
                        .filter(|p| (1..OFPP_MAX).contains(p))
                };
                br.ifaces.insert(
                    iname.to_string(),
                    Iface {
                        uuid: iu.clone(),
                        port_uuid: pu.clone(),
                        name: iname.to_string(),
                        kind,
                        ofport_request,
                        vlan,
                        mac: str_col(irow, "mac").and_then(parse_mac),
                        mtu_request: positive_u32(int_col(irow, "mtu_request")),
                        is_bridge_local: local,
                    },
                );
            }
        }
        cfg.bridges.insert(br.name.clone(), br);
    }
    cfg
}

/// A stable locally-administered address for a bridge without
/// `other_config:hwaddr` (so its datapath id survives restarts).
pub fn derived_mac(bridge: &str) -> [u8; 6] {
    // FNV-1a over the name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bridge.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [(b[0] & 0xfe) | 0x02, b[1], b[2], b[3], b[4], b[5]]
}

/// The datapath id of a bridge: `other_config:datapath-id`, else derived
/// from its address (OVS: 16 bits of zero and the MAC).
pub fn datapath_id(br: &Bridge) -> u64 {
    if let Some(d) = br.dpid {
        return d;
    }
    let m = br.hwaddr.unwrap_or_else(|| derived_mac(&br.name));
    m.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn replica() -> Replica {
        let mut r = Replica::default();
        r.apply(&json!({
            "Open_vSwitch": {"o": {"new": {
                "bridges": ["set", [["uuid", "b0"], ["uuid", "b1"]]],
                "next_cfg": 3, "cur_cfg": 1,
                "manager_options": ["uuid", "m"]}}},
            "Manager": {"m": {"new": {"target": "ptcp:6640"}}},
            "Bridge": {
                "b0": {"new": {"name": "br0", "ports": ["set", [["uuid", "p0"], ["uuid", "p1"], ["uuid", "p2"]]],
                    "fail_mode": ["set", ["secure"]], "controller": ["uuid", "c"],
                    "other_config": ["map", [["datapath-id", "00000000000000aa"]]],
                    "datapath_type": "netdev"}},
                "b1": {"new": {"name": "br1", "ports": ["uuid", "p3"]}}},
            "Controller": {"c": {"new": {"target": "tcp:127.0.0.1:6653", "max_backoff": ["set", []]}}},
            "Port": {
                "p0": {"new": {"name": "br0", "interfaces": ["uuid", "i0"]}},
                "p1": {"new": {"name": "v1", "interfaces": ["uuid", "i1"], "tag": 10}},
                "p2": {"new": {"name": "pa", "interfaces": ["uuid", "i2"], "trunks": ["set", [20, 10]]}},
                "p3": {"new": {"name": "pb", "interfaces": ["uuid", "i3"], "vlan_mode": "bogus"}}},
            "Interface": {
                "i0": {"new": {"name": "br0", "type": "internal"}},
                "i1": {"new": {"name": "v1", "type": "", "ofport_request": 5}},
                "i2": {"new": {"name": "pa", "type": "patch", "options": ["map", [["peer", "pb"]]]}},
                "i3": {"new": {"name": "pb", "type": "patch", "options": ["map", [["peer", "pa"]]]}}},
        }));
        r
    }

    #[test]
    fn reads_bridges_ports_and_vlans() {
        let c = read_config(&replica());
        assert_eq!(c.next_cfg, 3);
        assert_eq!(c.cur_cfg, 1);
        assert!(c.managers.contains("ptcp:6640"));
        let b0 = &c.bridges["br0"];
        assert_eq!(b0.fail_mode, FailMode::Secure);
        assert_eq!(datapath_id(b0), 0xaa);
        assert_eq!(b0.controllers.len(), 1);
        assert_eq!(b0.controllers[0].max_backoff_ms, 8000);
        assert_eq!(b0.ifaces["br0"].ofport_request, Some(OFPP_LOCAL));
        assert_eq!(b0.ifaces["v1"].ofport_request, Some(5));
        assert_eq!(b0.ifaces["v1"].vlan, PortVlan::access(10));
        assert_eq!(b0.ifaces["pa"].vlan, PortVlan::trunk(&[10, 20]));
        assert_eq!(
            b0.ifaces["pa"].kind,
            Ok(IfaceKind::Patch { peer: "pb".into() })
        );
        let b1 = &c.bridges["br1"];
        assert_eq!(b1.fail_mode, FailMode::Standalone);
        assert!(b1.ifaces["pb"].kind.is_err());
    }

    #[test]
    fn macs_and_dpids() {
        assert_eq!(
            parse_mac("00:11:22:aa:bb:CC"),
            Some([0, 0x11, 0x22, 0xaa, 0xbb, 0xcc])
        );
        assert_eq!(parse_mac("00:11:22:aa:bb"), None);
        assert_eq!(parse_mac("00:11:22:aa:bb:cc:dd"), None);
        assert_eq!(parse_mac("zz:11:22:aa:bb:cc"), None);
        let m = derived_mac("br0");
        assert_eq!(m[0] & 0x03, 0x02);
        assert_eq!(format_mac(&[0, 1, 2, 0xa, 0xb, 0xc]), "00:01:02:0a:0b:0c");
        assert_eq!(parse_dpid("00000000000000ff"), Some(255));
        assert_eq!(parse_dpid("ff"), None);
    }
}

#[cfg(test)]
mod max_idle_tests {
    use super::parse_max_idle;

    #[test]
    fn max_idle_is_an_integer_of_at_least_500_ms() {
        assert_eq!(parse_max_idle("30000"), Some(30_000));
        assert_eq!(parse_max_idle(" 500 "), Some(500));
        assert_eq!(parse_max_idle("499"), None);
        assert_eq!(parse_max_idle("-1"), None);
        assert_eq!(parse_max_idle("ten"), None);
    }
}
