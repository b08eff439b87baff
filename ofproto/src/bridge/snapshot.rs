//! [`Snapshot`]: the read-only pipeline state translation runs on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::flow_table::FlowTable;
use crate::normal::PortVlan;
use crate::switch::Group;
use crate::wire::consts::port as ofport;
use crate::wire::message::{port_config, port_state};
use crate::xlate::{GroupView, PipelineView};

/// One port as translation sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotPort {
    /// Datapath port number.
    pub dp_port: u32,
    /// `OFPPC_*` bits.
    pub config: u32,
    /// `OFPPS_*` bits.
    pub state: u32,
    /// NORMAL's VLAN configuration.
    pub vlan: PortVlan,
    /// Left out of FLOOD and NORMAL flooding.
    pub no_flood: bool,
}

/// An immutable copy of a bridge's pipeline state (tables, groups, ports,
/// meters, fail-open), published to the datapath's slow path.  Tables
/// are shared with the switch (`Arc`), so building one costs a pointer
/// copy per table plus the groups and ports.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub(crate) version: u64,
    pub(crate) tables: Vec<Arc<FlowTable>>,
    pub(crate) groups: Arc<BTreeMap<u32, Group>>,
    /// By OpenFlow port number (`OFPP_LOCAL` included).
    pub(crate) ports: BTreeMap<u32, SnapshotPort>,
    pub(crate) dp_to_of: HashMap<u32, u32>,
    pub(crate) meters: BTreeSet<u32>,
    pub(crate) fail_open: bool,
}

impl Snapshot {
    /// Publication number (increases with every publish).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The port `of` (OpenFlow number, `OFPP_LOCAL` for the local port).
    pub fn port(&self, of: u32) -> Option<&SnapshotPort> {
        self.ports.get(&of)
    }

    /// Whether fail-open (NORMAL only) was on when this was taken.
    pub fn is_fail_open(&self) -> bool {
        self.fail_open
    }
}

impl PipelineView for Snapshot {
    fn table(&self, id: u8) -> Option<&FlowTable> {
        self.tables.get(usize::from(id)).map(|t| &**t)
    }

    fn group(&self, id: u32) -> Option<GroupView<'_>> {
        self.groups.get(&id).map(|g| GroupView {
            group_type: g.group_type,
            buckets: &g.buckets,
        })
    }

    fn port_is_live(&self, port: u32) -> bool {
        self.ports.get(&port).is_some_and(|p| {
            p.config & port_config::PORT_DOWN == 0
                && p.state & port_state::LINK_DOWN == 0
                && p.state & port_state::LIVE != 0
        })
    }

    fn ports(&self) -> Vec<u32> {
        self.ports
            .keys()
            .copied()
            .filter(|&p| p <= ofport::MAX)
            .collect()
    }

    fn port_exists(&self, port: u32) -> bool {
        self.ports.contains_key(&port)
    }

    fn port_config(&self, port: u32) -> u32 {
        self.ports.get(&port).map_or(0, |p| p.config)
    }

    fn port_no_flood(&self, port: u32) -> bool {
        self.ports.get(&port).is_some_and(|p| p.no_flood)
    }

    fn port_vlan(&self, port: u32) -> PortVlan {
        self.ports
            .get(&port)
            .map(|p| p.vlan.clone())
            .unwrap_or_default()
    }

    fn local_port(&self) -> Option<u32> {
        self.ports
            .contains_key(&ofport::LOCAL)
            .then_some(ofport::LOCAL)
    }

    fn meter_exists(&self, id: u32) -> bool {
        self.meters.contains(&id)
    }

    fn dp_to_of(&self, dp: u32) -> u32 {
        match self.dp_to_of.get(&dp) {
            Some(&of) => of,
            // Reserved numbers (a packet-out from the controller) stand
            // for themselves; a datapath port the bridge does not know
            // (removed meanwhile) is no OpenFlow port at all.
            None if dp > ofport::MAX => dp,
            None => ofport::ANY,
        }
    }

    fn of_to_dp(&self, of: u32) -> Option<u32> {
        self.ports.get(&of).map(|p| p.dp_port)
    }

    fn fail_open(&self) -> bool {
        self.fail_open
    }
}
