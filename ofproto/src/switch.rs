//! The OpenFlow 1.3 switch object: every controller request handled in
//! memory, bytes in, replies and asynchronous messages out.
//!
//! # What it owns
//!
//! [`Switch`] holds the state a controller can read and write: the array of
//! flow tables (`0..n_tables`, 255 by default, each a [`FlowTable`]), the
//! group table, the meter table, the port list with its counters, the
//! switch configuration (`SET_CONFIG` flags and `miss_send_len`) and the
//! description strings.  [`Switch::handle`] decodes one message and answers
//! it; [`Switch::handle_message`] does the same for an already decoded one;
//! [`Switch::expire`] runs the flow timeouts.  Time is always an argument
//! (milliseconds of a monotonic clock), so tests drive it with a fake clock.
//!
//! Every reply goes to `out` in order, and so do the asynchronous messages
//! the request caused (`FLOW_REMOVED` for rules a delete, a group delete or
//! a meter delete removed, `PORT_STATUS` after a `PORT_MOD`), with xid 0.
//! Because everything is in memory and handled to completion, a
//! `BARRIER_REPLY` is simply pushed after the replies of everything before
//! it.
//!
//! # Behaviour choices (OpenFlow 1.3.5, and Open vSwitch where the spec
//! # leaves room)
//!
//! * `FLOW_MOD`: unknown commands are `OFPFMFC_BAD_COMMAND`; a table id of
//!   `OFPTT_ALL` is valid only for deletes, any other id outside the table
//!   array is `OFPFMFC_BAD_TABLE_ID`; unknown flag bits are
//!   `OFPFMFC_BAD_FLAGS`; a `buffer_id` other than `OFP_NO_BUFFER` is
//!   `OFPBRC_BUFFER_UNKNOWN` (the switch alone has no packet buffers; the
//!   flow-mod is then not applied; [`crate::bridge`] resolves buffer ids
//!   before handing requests over).  Instructions of adds and modifies are checked:
//!   goto-table only forward and inside the array (`OFPBIC_BAD_TABLE_ID`),
//!   meter ids must name an existing meter (`OFPMMFC_UNKNOWN_METER`),
//!   experimenter instructions are `OFPBIC_UNKNOWN_INST`.  Actions: group
//!   actions must name an existing group (`OFPBAC_BAD_OUT_GROUP`); an
//!   output to port 0, `OFPP_ANY` or an unassigned reserved number is
//!   `OFPBAC_BAD_OUT_PORT` (`OFPP_TABLE` is accepted in flows too, as Open
//!   vSwitch does, which resubmits to table 0), while an
//!   output to a port number that does not exist (yet) is accepted, as Open
//!   vSwitch does (ports come and go; the flow simply outputs nowhere);
//!   set-field prerequisites are checked against the flow's match
//!   (`OFPBAC_MATCH_INCONSISTENT`), as updated by the push/pop actions before
//!   them in the same list (a set of `mpls_label` after `push_mpls` is
//!   consistent); push-VLAN/MPLS/PBB ethertypes
//!   must be the spec's (`OFPBAC_BAD_ARGUMENT`); experimenter actions are
//!   `OFPBAC_BAD_EXPERIMENTER`.  A write-actions list may repeat an action
//!   type: the action set keeps the last one (executing the set is the
//!   pipeline's job).
//! * Deletes send `FLOW_REMOVED` (reason `DELETE`) for removed rules that
//!   have `OFPFF_SEND_FLOW_REM`; group deletes (`GROUP_DELETE`) and meter
//!   deletes (`METER_DELETE`) remove the flows using them likewise.
//! * `GROUP_MOD`: ids above `OFPG_MAX` are `OFPGMFC_INVALID_GROUP` for add
//!   and modify; add of an existing id `OFPGMFC_GROUP_EXISTS`; modify of an
//!   unknown one `OFPGMFC_UNKNOWN_GROUP`; an unknown type
//!   `OFPGMFC_BAD_TYPE`; an indirect group must have exactly one bucket
//!   (`OFPGMFC_INVALID_GROUP`).  Buckets are checked as Open vSwitch does:
//!   a non-zero weight outside a select group is `OFPGMFC_INVALID_GROUP`, a
//!   watch port or group in an all/indirect group
//!   `OFPGMFC_WATCH_UNSUPPORTED`, a fast-failover bucket without either
//!   `OFPGMFC_INVALID_GROUP`, an unassigned reserved watch port number
//!   `OFPGMFC_BAD_WATCH`; a watched group need not exist (a missing group
//!   is simply not live); a group action in a bucket must name an
//!   existing group (`OFPBAC_BAD_OUT_GROUP`) and must not create a cycle
//!   (`OFPGMFC_LOOP`).  Deleting a group another group forwards to is
//!   `OFPGMFC_CHAINED_GROUP` (1.3.5 section 6.5); deleting an unknown id is
//!   not an error; `OFPG_ALL` deletes every group.
//! * `METER_MOD`: ids 0 and above `OFPM_MAX` (the virtual meters
//!   included: they are not supported) are `OFPMMFC_INVALID_METER` (except
//!   `OFPM_ALL` for delete); both `KBPS` and `PKTPS` or unknown flag bits
//!   `OFPMMFC_BAD_FLAGS` (neither means kb/s); a zero band rate
//!   `OFPMMFC_BAD_RATE`; experimenter bands `OFPMMFC_BAD_BAND`; more than
//!   [`MAX_BANDS`] bands `OFPMMFC_OUT_OF_BANDS`.
//! * `PORT_MOD`: unknown port `OFPPMFC_BAD_PORT`, hardware address
//!   mismatch `OFPPMFC_BAD_HW_ADDR`, config bits outside the four 1.3 ones
//!   `OFPPMFC_BAD_CONFIG`; a change is announced with `PORT_STATUS`
//!   (`MODIFY`).  `advertise` is accepted and not acted upon.
//! * `TABLE_MOD`: configs with bits outside `OFPTC_DEPRECATED_MASK` (3) are
//!   `OFPTMFC_BAD_CONFIG`; the deprecated bits are accepted and stored.
//! * `SET_CONFIG`: fragment handling `NORMAL` and `DROP` are accepted;
//!   `REASM` and unknown bits are `OFPSCFC_BAD_FLAGS` (the spec's answer
//!   for a mode the switch lacks; Open vSwitch instead logs and keeps the
//!   previous mode, without an error).  The configuration is
//!   switch-wide here (Open vSwitch keeps `miss_send_len` per connection;
//!   the channel layer may override it per connection).
//! * Table features: a request without a body gets every table's features,
//!   split over several replies with `OFPMPF_REPLY_MORE`; a request with a
//!   body (the "set" form) is `OFPTFFC_EPERM`: tables are not
//!   reconfigurable.
//! * Multipart replies longer than 65535 bytes are split with
//!   `OFPMPF_REPLY_MORE` ([`MultipartReply::split`]).  An unknown table in a
//!   flow/aggregate request is `OFPBRC_BAD_TABLE_ID`, an unknown port in a
//!   port-stats or queue request `OFPBRC_BAD_PORT` /
//!   `OFPQOFC_BAD_PORT`; experimenter requests `OFPBRC_BAD_EXPERIMENTER`.
//! * Messages a switch never receives (replies, `PACKET_IN`,
//!   `FLOW_REMOVED`, `PORT_STATUS`, errors) are `OFPBRC_BAD_TYPE`, as Open
//!   vSwitch answers; experimenter messages `OFPBRC_BAD_EXPERIMENTER`.
//! * A connection in the slave role ([`ConnCtx::is_slave`]) gets
//!   `OFPBRC_IS_SLAVE` for `PACKET_OUT`, `FLOW_MOD`, `GROUP_MOD`,
//!   `PORT_MOD`, `TABLE_MOD`, `METER_MOD` and table-features "set".
//!
//! # What it does not do (the other layers)
//!
//! * `HELLO`, `ECHO_REPLY`, `ROLE_REQUEST`, `GET_ASYNC_REQUEST` and
//!   `SET_ASYNC` get no answer here: version negotiation, keepalives, roles
//!   and per-connection async filters are the controller-channel layer's,
//!   which also decides which connections see the asynchronous messages
//!   pushed to `out`.
//! * `PACKET_OUT` is validated and queued on [`Switch::out_packets`]; executing
//!   its actions (including `OFPP_TABLE`) is the bridge's ([`crate::bridge`]).
//! * Flow lookups, the action-set execution, group bucket selection and
//!   liveness, meter enforcement on packets and megaflow revalidation are
//!   the pipeline and xlate layers'.  They read the tables through
//!   [`Switch::tables`], credit counters through [`FlowEntry::record`],
//!   [`Group::record`] and [`Meter::admit`].
//!
//! # Not built yet
//!
//! * Packet buffers (`n_buffers` is what [`Switch::set_n_buffers`] says,
//!   0 by default; the buffers themselves are the bridge's), queues (`QUEUE_GET_CONFIG` and
//!   queue stats answer with empty lists; a specific queue id is
//!   `OFPQOFC_BAD_QUEUE`), table-features "set", eviction, bundles.
//! * Table features advertise every OXM basic field but `in_phy_port`,
//!   `pbb_isid` and `ipv6_exthdr` (the flow key has no room for them).
//! * Group reference counts and meter flow counts are computed by scanning
//!   the tables when stats are asked for (fine for thousands of rules, a
//!   cost for very large tables).
//! * `PACKET_OUT` accepts any `in_port` up to `OFPP_MAX` plus
//!   `OFPP_CONTROLLER`, `OFPP_LOCAL` and `OFPP_ANY` (port 0 and unassigned
//!   reserved numbers are `OFPBRC_BAD_PORT`); the packet is not parsed here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::flow_table::{FlowEntry, FlowSpec, FlowTable, Rule, Selector};
use crate::wire::action::Action;
use crate::wire::consts::{self, OFP_MAX_MESSAGE_LEN, OFP_NO_BUFFER};
use crate::wire::error::{
    bad_action, bad_instruction, bad_request, flow_mod_failed, group_mod_failed, meter_mod_failed,
    port_mod_failed, queue_op_failed, switch_config_failed, table_features_failed,
    table_mod_failed,
};
use crate::wire::instruction::{Instruction, InstructionType};
use crate::wire::message::{
    Bucket, FeaturesReply, FlowMod, GroupMod, MeterMod, PacketOut, Port, PortMod, PortStatus,
    QueueGetConfigReply, SwitchConfig, TableMod, capabilities, config_flags, flow_mod_command,
    flow_mod_flags, flow_removed_reason, group_mod_command, group_type, meter_flags,
    meter_mod_command, port_config, port_reason,
};
use crate::wire::multipart::{
    AggregateStats, Counter, Desc, FlowStats, FlowStatsRequest, GroupDesc, GroupFeatures,
    GroupStats, MeterBand, MeterConfig, MeterFeatures, MeterStats, PortStats, TableStats,
};
use crate::wire::oxm::{BasicField, Match, OFPVID_PRESENT, OxmField, OxmId};
use crate::wire::table_features::{TableFeatureProp, TableFeatures, TypeId};
use crate::wire::{
    Body, ErrorType, Message, MultipartReply, MultipartReplyBody, MultipartRequestBody, OfpError,
};

/// Most bands a meter may have (`OFPMMFC_OUT_OF_BANDS` beyond).
pub const MAX_BANDS: usize = 8;

/// `OFPTC_DEPRECATED_MASK`: the only table-config bits OpenFlow 1.3 knows.
pub const OFPTC_DEPRECATED_MASK: u32 = 3;

/// `OFPQ_ALL`: every queue.
pub const OFPQ_ALL: u32 = 0xffff_ffff;

/// Static configuration of a [`Switch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchSettings {
    /// Datapath id reported in `FEATURES_REPLY`.
    pub datapath_id: u64,
    /// Number of flow tables (1..=255; tables `0..n_tables`).
    pub n_tables: u8,
    /// Most rules per table (`OFPFMFC_TABLE_FULL` beyond).
    pub max_flows_per_table: usize,
    /// Most groups (`OFPGMFC_OUT_OF_GROUPS` beyond).
    pub max_groups: usize,
    /// Most meters (`OFPMMFC_OUT_OF_METERS` beyond).
    pub max_meters: usize,
    /// The `OFPMP_DESC` strings.
    pub desc: Desc,
}

impl Default for SwitchSettings {
    fn default() -> Self {
        Self {
            datapath_id: 1,
            n_tables: 255,
            max_flows_per_table: 1_000_000,
            max_groups: 65_536,
            max_meters: 65_536,
            desc: Desc {
                mfr_desc: "rvs".into(),
                hw_desc: "rvs userspace switch".into(),
                sw_desc: env!("CARGO_PKG_VERSION").into(),
                serial_num: "None".into(),
                dp_desc: "None".into(),
            },
        }
    }
}

/// Per-connection facts the switch core needs.  Roles themselves are the
/// controller-channel layer's; it only tells whether this connection is a
/// slave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnCtx {
    /// The connection is in the slave role: state-changing requests are
    /// refused with `OFPBRC_IS_SLAVE`.
    pub is_slave: bool,
}

/// A packet handed to the datapath layer by a `PACKET_OUT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOutput {
    /// The packet's input port (`OFPP_CONTROLLER` when the controller made it).
    pub in_port: u32,
    /// The actions to execute.
    pub actions: Vec<Action>,
    /// The packet.
    pub data: Vec<u8>,
}

/// A port with its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchPort {
    /// The port description (port number, address, config, state, ...).
    pub desc: Port,
    /// Counters (`port_no` and durations are filled in on reply).
    pub stats: PortStats,
    /// When the port was added (ms).
    pub created_ms: u64,
}

/// A group table entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// `OFPGT_*` type.
    pub group_type: u8,
    /// Buckets.
    pub buckets: Vec<Bucket>,
    /// When the group was added (ms); a modify keeps it.
    pub created_ms: u64,
    /// Packets processed.
    pub packet_count: u64,
    /// Bytes processed.
    pub byte_count: u64,
    /// Per-bucket counters.
    pub bucket_counters: Vec<Counter>,
}

impl Group {
    /// Credits one packet of `bytes` to the group and to bucket `bucket`
    /// (ignored if out of range).
    pub fn record(&mut self, bucket: usize, bytes: u64) {
        self.packet_count = self.packet_count.saturating_add(1);
        self.byte_count = self.byte_count.saturating_add(bytes);
        if let Some(c) = self.bucket_counters.get_mut(bucket) {
            c.packet_count = c.packet_count.saturating_add(1);
            c.byte_count = c.byte_count.saturating_add(bytes);
        }
    }

    /// Credits `packets` packets and `bytes` bytes to the group and to
    /// bucket `bucket` (ignored if out of range).
    pub fn record_n(&mut self, bucket: usize, packets: u64, bytes: u64) {
        self.packet_count = self.packet_count.saturating_add(packets);
        self.byte_count = self.byte_count.saturating_add(bytes);
        if let Some(c) = self.bucket_counters.get_mut(bucket) {
            c.packet_count = c.packet_count.saturating_add(packets);
            c.byte_count = c.byte_count.saturating_add(bytes);
        }
    }

    /// Credits `packets` and `bytes` to bucket `bucket` only (a packet
    /// going through several buckets of one group counts once for the
    /// group: use [`Group::record_n`] for the first bucket).
    pub fn record_bucket_n(&mut self, bucket: usize, packets: u64, bytes: u64) {
        if let Some(c) = self.bucket_counters.get_mut(bucket) {
            c.packet_count = c.packet_count.saturating_add(packets);
            c.byte_count = c.byte_count.saturating_add(bytes);
        }
    }

    fn referenced_groups(&self) -> impl Iterator<Item = u32> + '_ {
        self.buckets.iter().flat_map(|b| {
            b.actions.iter().filter_map(|a| match a {
                Action::Group(g) => Some(*g),
                _ => None,
            })
        })
    }
}

/// What a meter does to a packet that exceeds a band's rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandAction {
    /// Drop the packet.
    Drop,
    /// Raise the drop precedence of the DSCP by `prec_level`.
    DscpRemark {
        /// Drop precedence levels to add.
        prec_level: u8,
    },
}

/// A meter: its configuration, one token bucket per band, and counters.
///
/// Each band is a token bucket filled at the band's rate and holding at
/// most its burst size (with `OFPMF_BURST` and a non-zero `burst_size`) or
/// one second of its rate otherwise.  Tokens are counted in thousandths:
/// bits for kb/s meters (a kb/s rate adds `rate` bits per ms) and
/// milli-packets for packet/s meters (a rate adds `rate` milli-packets per
/// ms).  A packet takes its cost from every band that still has it; the
/// bands that do not are exceeded, and the exceeded band with the highest
/// rate applies (OpenFlow 1.3.5 section 5.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meter {
    /// `OFPMF_*` flags.
    pub flags: u16,
    /// Bands as configured.
    pub bands: Vec<MeterBand>,
    /// When the meter was added (ms).
    pub created_ms: u64,
    /// Packets seen.
    pub packet_in_count: u64,
    /// Bytes seen.
    pub byte_in_count: u64,
    /// Per-band counters (packets that exceeded the band and got its action).
    pub band_counters: Vec<Counter>,
    tokens: Vec<u64>,
    last_ms: u64,
}

fn band_rate_burst(b: &MeterBand) -> (u32, u32) {
    match b {
        MeterBand::Drop { rate, burst_size }
        | MeterBand::DscpRemark {
            rate, burst_size, ..
        }
        | MeterBand::Experimenter {
            rate, burst_size, ..
        } => (*rate, *burst_size),
    }
}

impl Meter {
    /// A meter with `flags` and `bands`, full buckets, created at `now_ms`.
    pub fn new(flags: u16, bands: Vec<MeterBand>, now_ms: u64) -> Self {
        let mut m = Self {
            flags,
            band_counters: vec![Counter::default(); bands.len()],
            bands,
            created_ms: now_ms,
            packet_in_count: 0,
            byte_in_count: 0,
            tokens: Vec::new(),
            last_ms: now_ms,
        };
        m.tokens = (0..m.bands.len()).map(|i| m.capacity(i)).collect();
        m
    }

    fn capacity(&self, band: usize) -> u64 {
        let Some((rate, burst)) = self.bands.get(band).map(band_rate_burst) else {
            return 0;
        };
        if self.flags & meter_flags::BURST != 0 && burst != 0 {
            u64::from(burst) * 1000
        } else {
            u64::from(rate) * 1000
        }
    }

    fn pktps(&self) -> bool {
        self.flags & meter_flags::PKTPS != 0
    }

    /// Meters one packet of `bytes` at `now_ms`: `None` if it conforms,
    /// otherwise the action of the exceeded band with the highest rate.
    /// Counters are updated.
    pub fn admit(&mut self, now_ms: u64, bytes: u64) -> Option<BandAction> {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        self.packet_in_count = self.packet_in_count.saturating_add(1);
        self.byte_in_count = self.byte_in_count.saturating_add(bytes);
        let cost = if self.pktps() {
            1000
        } else {
            bytes.saturating_mul(8)
        };
        let mut exceeded: Option<(u32, usize)> = None;
        for i in 0..self.bands.len() {
            let cap = self.capacity(i);
            let (rate, _) = self.bands.get(i).map(band_rate_burst).unwrap_or((0, 0));
            let Some(t) = self.tokens.get_mut(i) else {
                continue;
            };
            *t = t
                .saturating_add(elapsed.saturating_mul(u64::from(rate)))
                .min(cap);
            if *t >= cost {
                *t -= cost;
            } else if exceeded.is_none_or(|(r, _)| rate > r) {
                exceeded = Some((rate, i));
            }
        }
        let (_, i) = exceeded?;
        if let Some(c) = self.band_counters.get_mut(i) {
            c.packet_count = c.packet_count.saturating_add(1);
            c.byte_count = c.byte_count.saturating_add(bytes);
        }
        match self.bands.get(i)? {
            MeterBand::Drop { .. } => Some(BandAction::Drop),
            MeterBand::DscpRemark { prec_level, .. } => Some(BandAction::DscpRemark {
                prec_level: *prec_level,
            }),
            MeterBand::Experimenter { .. } => None,
        }
    }
}

/// The switch core: tables, groups, meters, ports and configuration.
#[derive(Debug)]
pub struct Switch {
    settings: SwitchSettings,
    /// Shared with published snapshots; see [`Switch::table_mut`].
    tables: Vec<Arc<FlowTable>>,
    /// Per table, the copy a publish before the last one shared (double
    /// buffering; see [`Switch::table_mut`]).
    spares: Vec<Option<Arc<FlowTable>>>,
    /// See [`Switch::take_rule_changes`].
    rule_changes: Vec<(u8, Arc<Rule>)>,
    rule_changes_lost: bool,
    /// Bumped by every change of tables, groups, meters or ports.
    generation: u64,
    n_buffers: u32,
    table_config: Vec<u32>,
    groups: BTreeMap<u32, Group>,
    meters: BTreeMap<u32, Meter>,
    ports: BTreeMap<u32, SwitchPort>,
    config: SwitchConfig,
    /// Packets from `PACKET_OUT` waiting for the datapath layer (which
    /// drains this list and executes the actions).
    pub out_packets: Vec<PacketOutput>,
}

/// A journal this short is always worth keeping (see [`Switch::table_mut`]).
const JOURNAL_MIN: usize = 1024;

/// Rule changes remembered between two [`Switch::take_rule_changes`]
/// (beyond, they are dropped and reported as unknown).
const MAX_RULE_CHANGES: usize = 4096;

fn is_slave_err() -> OfpError {
    OfpError::bad_request(bad_request::IS_SLAVE, "connection is a slave")
}

fn fm_err(code: u16, reason: &'static str) -> OfpError {
    OfpError::new(ErrorType::FLOW_MOD_FAILED, code, reason)
}

fn gm_err(code: u16, reason: &'static str) -> OfpError {
    OfpError::new(ErrorType::GROUP_MOD_FAILED, code, reason)
}

fn mm_err(code: u16, reason: &'static str) -> OfpError {
    OfpError::new(ErrorType::METER_MOD_FAILED, code, reason)
}

const FLOW_MOD_FLAGS_ALL: u16 = flow_mod_flags::SEND_FLOW_REM
    | flow_mod_flags::CHECK_OVERLAP
    | flow_mod_flags::RESET_COUNTS
    | flow_mod_flags::NO_PKT_COUNTS
    | flow_mod_flags::NO_BYT_COUNTS;

fn instruction_meter(ins: &[Instruction]) -> Option<u32> {
    ins.iter().find_map(|i| match i {
        Instruction::Meter(m) => Some(*m),
        _ => None,
    })
}

/// Replaces `field` in `m` (if any) by an exact `value`, or removes it.
fn set_exact(m: &mut Option<Match>, field: BasicField, value: Option<u128>) {
    if let Some(c) = m.as_mut() {
        c.fields.retain(|f| f.basic_field() != Some(field));
        if let Some(v) = value {
            c.fields.push(OxmField::exact(field, v));
        }
    }
}

fn duration(created_ms: u64, now_ms: u64) -> (u32, u32) {
    let ms = now_ms.saturating_sub(created_ms);
    let sec = u32::try_from(ms / 1000).unwrap_or(u32::MAX);
    (sec, (ms % 1000) as u32 * 1_000_000)
}

impl Switch {
    /// A switch with `settings`, no ports, empty tables.
    pub fn new(settings: SwitchSettings) -> Self {
        let n = usize::from(settings.n_tables.clamp(1, 255));
        let mut settings = settings;
        settings.n_tables = n as u8;
        Self {
            tables: (0..n)
                .map(|_| Arc::new(FlowTable::new(settings.max_flows_per_table)))
                .collect(),
            spares: vec![None; n],
            rule_changes: Vec::new(),
            rule_changes_lost: false,
            generation: 0,
            n_buffers: 0,
            table_config: vec![0; n],
            settings,
            groups: BTreeMap::new(),
            meters: BTreeMap::new(),
            ports: BTreeMap::new(),
            config: SwitchConfig {
                flags: config_flags::FRAG_NORMAL,
                miss_send_len: 128,
            },
            out_packets: Vec::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SwitchSettings {
        &self.settings
    }

    /// Changes the datapath id reported in `FEATURES_REPLY`.
    pub fn set_datapath_id(&mut self, dpid: u64) {
        self.settings.datapath_id = dpid;
    }

    /// The flow tables, indexed by table id (shared with published
    /// snapshots; see [`Switch::generation`]).
    pub fn tables(&self) -> &[Arc<FlowTable>] {
        &self.tables
    }

    /// A counter bumped by every change of the tables, groups, meters or
    /// ports (a publisher compares it to know whether to publish).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Sets the `n_buffers` reported in `FEATURES_REPLY` (the owner of the
    /// packet buffers intercepts `buffer_id`s before this switch sees them).
    pub fn set_n_buffers(&mut self, n: u32) {
        self.n_buffers = n;
    }

    /// Table `id` for changing.
    ///
    /// Tables are shared with published snapshots (`Arc`).  A table no
    /// snapshot holds is changed in place.  A published one is double
    /// buffered: the switch keeps the copy it wrote before the previous
    /// publish (the spare) and, once no reader holds that copy any more,
    /// brings it up to date by replaying the published copy's journal and
    /// writes to it, keeping the published copy as the next spare.  A
    /// change after a publish therefore costs its own edits (twice), not
    /// a copy of the table, which keeps `ovs-ofctl add-flows` (a barrier
    /// after every flow-mod) linear.  The table is copied only when the
    /// spare is still held (a translation in flight) or the journal grew
    /// longer than the table (replaying would cost more than copying).
    fn table_mut(&mut self, id: usize) -> Option<&mut FlowTable> {
        self.generation += 1;
        let live = self.tables.get_mut(id)?;
        let spare = self.spares.get_mut(id)?;
        if Arc::get_mut(live).is_none() {
            let mut next = None;
            if let Some(mut s) = spare.take() {
                if Arc::get_mut(&mut s).is_some_and(|t| t.catch_up(live)) {
                    next = Some(s);
                }
            }
            let mut next = next.unwrap_or_else(|| Arc::new(FlowTable::clone(live)));
            if let Some(t) = Arc::get_mut(&mut next) {
                t.start_journal();
            }
            *spare = Some(std::mem::replace(live, next));
        }
        let t = Arc::get_mut(live)?;
        if t.journal_len()
            .is_some_and(|n| n > t.len().max(JOURNAL_MIN))
        {
            t.stop_journal();
            *spare = None;
        }
        Some(t)
    }

    /// Runs `f` on table `id` for changing ([`Switch::table_mut`]) and
    /// notes the rules it inserted or removed (see
    /// [`Switch::take_rule_changes`]).
    fn edit_table<R>(&mut self, id: usize, f: impl FnOnce(&mut FlowTable) -> R) -> Option<R> {
        let t = self.table_mut(id)?;
        let r = f(t);
        let changed = t.take_changed();
        if !self.rule_changes_lost {
            let tid = u8::try_from(id).unwrap_or(u8::MAX);
            self.rule_changes
                .extend(changed.into_iter().map(|rule| (tid, rule)));
            if self.rule_changes.len() > MAX_RULE_CHANGES {
                self.rule_changes_lost = true;
                self.rule_changes = Vec::new();
            }
        }
        Some(r)
    }

    /// The rules inserted into or removed from the tables since the last
    /// call, with their table ids (a modified rule appears as its
    /// replacement): what a publisher needs to revalidate only the cached
    /// decisions a change can touch.  `None` when that is not known (more
    /// than a few thousand changes, or a failed bundle put older tables
    /// back): revalidate everything.
    pub fn take_rule_changes(&mut self) -> Option<Vec<(u8, Arc<Rule>)>> {
        let lost = std::mem::replace(&mut self.rule_changes_lost, false);
        let changes = std::mem::take(&mut self.rule_changes);
        (!lost).then_some(changes)
    }

    /// The groups by id.
    pub fn groups(&self) -> &BTreeMap<u32, Group> {
        &self.groups
    }

    /// A group, mutable (for crediting counters).
    pub fn group_mut(&mut self, id: u32) -> Option<&mut Group> {
        self.groups.get_mut(&id)
    }

    /// The meters by id.
    pub fn meters(&self) -> &BTreeMap<u32, Meter> {
        &self.meters
    }

    /// A meter, mutable (for [`Meter::admit`]).
    pub fn meter_mut(&mut self, id: u32) -> Option<&mut Meter> {
        self.meters.get_mut(&id)
    }

    /// The ports by number.
    pub fn ports(&self) -> &BTreeMap<u32, SwitchPort> {
        &self.ports
    }

    /// A port, mutable (for counters and state changes by the datapath).
    pub fn port_mut(&mut self, port_no: u32) -> Option<&mut SwitchPort> {
        self.ports.get_mut(&port_no)
    }

    /// The `SET_CONFIG` state.
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// The `TABLE_MOD` config of table `id`.
    pub fn table_config(&self, id: u8) -> Option<u32> {
        self.table_config.get(usize::from(id)).copied()
    }

    /// Adds (or replaces) a port and announces it with `PORT_STATUS`
    /// (`ADD`).
    pub fn add_port(&mut self, desc: Port, now_ms: u64, out: &mut Vec<Message>) {
        self.generation += 1;
        out.push(Message::new(
            0,
            Body::PortStatus(PortStatus {
                reason: port_reason::ADD,
                desc: desc.clone(),
            }),
        ));
        let stats = PortStats {
            port_no: desc.port_no,
            ..PortStats::default()
        };
        self.ports.insert(
            desc.port_no,
            SwitchPort {
                desc,
                stats,
                created_ms: now_ms,
            },
        );
    }

    /// Removes a port and announces it with `PORT_STATUS` (`DELETE`);
    /// returns it.
    pub fn remove_port(&mut self, port_no: u32, out: &mut Vec<Message>) -> Option<SwitchPort> {
        self.generation += 1;
        let p = self.ports.remove(&port_no)?;
        out.push(Message::new(
            0,
            Body::PortStatus(PortStatus {
                reason: port_reason::DELETE,
                desc: p.desc.clone(),
            }),
        ));
        Some(p)
    }

    /// Sets a port's `state` bits (link down, live, ...) and announces a
    /// change with `PORT_STATUS` (`MODIFY`).  False if there is no such port.
    pub fn set_port_state(&mut self, port_no: u32, state: u32, out: &mut Vec<Message>) -> bool {
        self.generation += 1;
        let Some(p) = self.ports.get_mut(&port_no) else {
            return false;
        };
        if p.desc.state != state {
            p.desc.state = state;
            out.push(Message::new(
                0,
                Body::PortStatus(PortStatus {
                    reason: port_reason::MODIFY,
                    desc: p.desc.clone(),
                }),
            ));
        }
        true
    }

    /// The `FEATURES_REPLY` body.
    pub fn features(&self) -> FeaturesReply {
        FeaturesReply {
            datapath_id: self.settings.datapath_id,
            n_buffers: self.n_buffers,
            n_tables: self.settings.n_tables,
            auxiliary_id: 0,
            capabilities: capabilities::FLOW_STATS
                | capabilities::TABLE_STATS
                | capabilities::PORT_STATS
                | capabilities::GROUP_STATS,
            reserved: 0,
        }
    }

    /// Decodes one message (exactly one, header included) and handles it.
    /// A message that does not decode is answered with its error.
    pub fn handle(
        &mut self,
        conn: ConnCtx,
        request_bytes: &[u8],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        match crate::wire::decode(request_bytes) {
            Ok(msg) => self.handle_message(conn, &msg, request_bytes, now_ms, out),
            Err(e) => out.push(Message::error_reply(&e, request_bytes)),
        }
    }

    /// Handles one decoded message; `raw` is its encoding (for error
    /// replies, which quote the first 64 bytes).
    pub fn handle_message(
        &mut self,
        conn: ConnCtx,
        msg: &Message,
        raw: &[u8],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        if let Err(e) = self.dispatch(conn, msg, now_ms, out) {
            out.push(Message::error_reply(&e, raw));
        }
    }

    fn dispatch(
        &mut self,
        conn: ConnCtx,
        msg: &Message,
        now_ms: u64,
        out: &mut Vec<Message>,
    ) -> Result<(), OfpError> {
        let xid = msg.xid;
        let state_change = matches!(
            msg.body,
            Body::PacketOut(_)
                | Body::FlowMod(_)
                | Body::GroupMod(_)
                | Body::PortMod(_)
                | Body::TableMod(_)
                | Body::MeterMod(_)
        );
        if conn.is_slave && state_change {
            return Err(is_slave_err());
        }
        if matches!(
            msg.body,
            Body::GroupMod(_) | Body::MeterMod(_) | Body::PortMod(_) | Body::TableMod(_)
        ) {
            self.generation += 1;
        }
        match &msg.body {
            Body::EchoRequest(d) => out.push(Message::new(xid, Body::EchoReply(d.clone()))),
            Body::FeaturesRequest => {
                out.push(Message::new(xid, Body::FeaturesReply(self.features())))
            }
            Body::GetConfigRequest => {
                out.push(Message::new(xid, Body::GetConfigReply(self.config.clone())))
            }
            Body::SetConfig(c) => self.set_config(c)?,
            Body::BarrierRequest => out.push(Message::new(xid, Body::BarrierReply)),
            Body::FlowMod(fm) => self.flow_mod(fm, now_ms, out)?,
            Body::GroupMod(gm) => self.group_mod(gm, now_ms, out)?,
            Body::MeterMod(mm) => self.meter_mod(mm, now_ms, out)?,
            Body::PortMod(pm) => self.port_mod(pm, out)?,
            Body::TableMod(tm) => self.table_mod(tm)?,
            Body::PacketOut(po) => self.packet_out(po)?,
            Body::QueueGetConfigRequest(port) => {
                if *port != consts::port::ANY && !self.ports.contains_key(port) {
                    return Err(OfpError::new(
                        ErrorType::QUEUE_OP_FAILED,
                        queue_op_failed::BAD_PORT,
                        "no such port",
                    ));
                }
                out.push(Message::new(
                    xid,
                    Body::QueueGetConfigReply(QueueGetConfigReply {
                        port: *port,
                        queues: Vec::new(),
                    }),
                ));
            }
            Body::MultipartRequest(req) => {
                if conn.is_slave
                    && matches!(&req.body, MultipartRequestBody::TableFeatures(t) if !t.is_empty())
                {
                    return Err(is_slave_err());
                }
                let reply = self.multipart(&req.body, now_ms)?;
                for piece in reply.split(OFP_MAX_MESSAGE_LEN) {
                    out.push(Message::new(xid, Body::MultipartReply(piece)));
                }
            }
            // The controller-channel layer's: version negotiation,
            // keepalive answers, roles and asynchronous configuration.
            Body::Hello(_)
            | Body::EchoReply(_)
            | Body::RoleRequest(_)
            | Body::GetAsyncRequest
            | Body::SetAsync(_) => {}
            Body::Experimenter { .. } => {
                return Err(OfpError::bad_request(
                    bad_request::BAD_EXPERIMENTER,
                    "no experimenter messages supported",
                ));
            }
            _ => {
                return Err(OfpError::bad_request(
                    bad_request::BAD_TYPE,
                    "message type not accepted by a switch",
                ));
            }
        }
        Ok(())
    }

    fn set_config(&mut self, c: &SwitchConfig) -> Result<(), OfpError> {
        let frag = c.flags & config_flags::FRAG_MASK;
        if c.flags & !config_flags::FRAG_MASK != 0 || frag == config_flags::FRAG_REASM {
            return Err(OfpError::new(
                ErrorType::SWITCH_CONFIG_FAILED,
                switch_config_failed::BAD_FLAGS,
                "unsupported fragment handling",
            ));
        }
        self.config = c.clone();
        Ok(())
    }

    // -----------------------------------------------------------------
    // Validation of actions and instructions.

    fn check_output_port(port: u32) -> Result<(), OfpError> {
        use consts::port as p;
        let ok = match port {
            0 | p::ANY => false,
            p::TABLE => true,
            p::IN_PORT | p::NORMAL | p::FLOOD | p::ALL | p::CONTROLLER | p::LOCAL => true,
            n => n <= p::MAX,
        };
        if ok {
            Ok(())
        } else {
            Err(OfpError::bad_action(
                bad_action::BAD_OUT_PORT,
                "invalid output port",
            ))
        }
    }

    /// Checks an action list; `m` is the flow's match for set-field
    /// prerequisites (none for group buckets and packet-outs).  Push and
    /// pop actions update a copy of the match as they go, so a set-field
    /// after `push_vlan` or `push_mpls` sees the header they add.
    fn check_actions(&self, actions: &[Action], m: Option<&Match>) -> Result<(), OfpError> {
        let mut cur: Option<Match> = m.cloned();
        for a in actions {
            match a {
                Action::Output { port, .. } => Self::check_output_port(*port)?,
                Action::Group(g) if !self.groups.contains_key(g) => {
                    return Err(OfpError::bad_action(
                        bad_action::BAD_OUT_GROUP,
                        "group does not exist",
                    ));
                }
                Action::PushVlan(et) => {
                    if !matches!(*et, 0x8100 | 0x88a8) {
                        return Err(OfpError::bad_action(
                            bad_action::BAD_ARGUMENT,
                            "push_vlan ethertype must be 0x8100 or 0x88a8",
                        ));
                    }
                    set_exact(
                        &mut cur,
                        BasicField::VLAN_VID,
                        Some(u128::from(OFPVID_PRESENT)),
                    );
                }
                Action::PushMpls(et) => {
                    if !matches!(*et, 0x8847 | 0x8848) {
                        return Err(OfpError::bad_action(
                            bad_action::BAD_ARGUMENT,
                            "push_mpls ethertype must be 0x8847 or 0x8848",
                        ));
                    }
                    set_exact(&mut cur, BasicField::ETH_TYPE, Some(u128::from(*et)));
                }
                Action::PushPbb(et) => {
                    if *et != 0x88e7 {
                        return Err(OfpError::bad_action(
                            bad_action::BAD_ARGUMENT,
                            "push_pbb ethertype must be 0x88e7",
                        ));
                    }
                    set_exact(&mut cur, BasicField::ETH_TYPE, Some(u128::from(*et)));
                }
                Action::PopVlan => set_exact(&mut cur, BasicField::VLAN_VID, None),
                Action::PopMpls(et) => {
                    set_exact(&mut cur, BasicField::ETH_TYPE, Some(u128::from(*et)));
                }
                Action::SetField(f) => {
                    let info = match f {
                        OxmField::Basic { field, .. } => field.info(),
                        _ => None,
                    };
                    let Some(info) = info.filter(|i| i.settable) else {
                        return Err(OfpError::bad_action(
                            bad_action::BAD_SET_TYPE,
                            "field cannot be set",
                        ));
                    };
                    if let Some(m) = &cur {
                        if !m.prereq_met(info.prereq) {
                            return Err(OfpError::bad_action(
                                bad_action::MATCH_INCONSISTENT,
                                "set-field prerequisites not met by the match",
                            ));
                        }
                    }
                }
                Action::Experimenter { .. } => {
                    return Err(OfpError::bad_action(
                        bad_action::BAD_EXPERIMENTER,
                        "no experimenter actions supported",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_instructions(
        &self,
        table_id: u8,
        ins: &[Instruction],
        m: &Match,
    ) -> Result<(), OfpError> {
        for i in ins {
            match i {
                Instruction::GotoTable(t) => {
                    if *t <= table_id || *t >= self.settings.n_tables {
                        return Err(OfpError::bad_instruction(
                            bad_instruction::BAD_TABLE_ID,
                            "goto_table must go forward to an existing table",
                        ));
                    }
                }
                Instruction::Meter(id) => {
                    if !self.meters.contains_key(id) {
                        return Err(mm_err(meter_mod_failed::UNKNOWN_METER, "no such meter"));
                    }
                }
                Instruction::ApplyActions(a) | Instruction::WriteActions(a) => {
                    self.check_actions(a, Some(m))?
                }
                Instruction::WriteMetadata { .. } | Instruction::ClearActions => {}
                Instruction::Experimenter { .. } => {
                    return Err(OfpError::bad_instruction(
                        bad_instruction::UNKNOWN_INST,
                        "no experimenter instructions supported",
                    ));
                }
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------
    // FLOW_MOD

    fn flow_mod(
        &mut self,
        fm: &FlowMod,
        now_ms: u64,
        out: &mut Vec<Message>,
    ) -> Result<(), OfpError> {
        use flow_mod_command as c;
        if fm.command > c::DELETE_STRICT {
            return Err(fm_err(
                flow_mod_failed::BAD_COMMAND,
                "unknown flow-mod command",
            ));
        }
        let delete = matches!(fm.command, c::DELETE | c::DELETE_STRICT);
        let all_tables = fm.table_id == consts::table::ALL;
        if (all_tables && !delete) || (!all_tables && fm.table_id >= self.settings.n_tables) {
            return Err(fm_err(flow_mod_failed::BAD_TABLE_ID, "invalid table id"));
        }
        if delete {
            let sel = Selector::from_flow_mod(fm).map_err(|e| e.to_ofp_error())?;
            let ids: Vec<u8> = if all_tables {
                (0..self.settings.n_tables).collect()
            } else {
                vec![fm.table_id]
            };
            for t in ids {
                if self.tables.get(usize::from(t)).is_none_or(|t| t.is_empty()) {
                    continue;
                }
                let Some(removed) = self.edit_table(usize::from(t), |table| table.delete(&sel))
                else {
                    continue;
                };
                Self::send_removed(&removed, flow_removed_reason::DELETE, t, now_ms, out);
            }
            return Ok(());
        }
        if fm.flags & !FLOW_MOD_FLAGS_ALL != 0 {
            return Err(fm_err(flow_mod_failed::BAD_FLAGS, "unknown flow-mod flags"));
        }
        self.check_instructions(fm.table_id, &fm.instructions, &fm.match_)?;
        if fm.buffer_id != OFP_NO_BUFFER {
            return Err(OfpError::bad_request(
                bad_request::BUFFER_UNKNOWN,
                "no packet buffers",
            ));
        }
        let sel = if fm.command == c::ADD {
            None
        } else {
            Some(Selector::from_flow_mod(fm).map_err(|e| e.to_ofp_error())?)
        };
        let reset = fm.flags & flow_mod_flags::RESET_COUNTS != 0;
        let done = self.edit_table(usize::from(fm.table_id), |table| match &sel {
            None => table.add(FlowSpec::from_flow_mod(fm), now_ms).map(|_| ()),
            Some(sel) => {
                table.modify(sel, &fm.instructions, reset);
                Ok(())
            }
        });
        match done {
            Some(r) => r.map_err(OfpError::from),
            None => Err(fm_err(flow_mod_failed::BAD_TABLE_ID, "invalid table id")),
        }
    }

    fn send_removed(
        removed: &[Arc<Rule>],
        reason: u8,
        table_id: u8,
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        for r in removed {
            if r.data.has_flag(flow_mod_flags::SEND_FLOW_REM) {
                out.push(Message::new(
                    0,
                    Body::FlowRemoved(r.data.flow_removed(reason, table_id, now_ms)),
                ));
            }
        }
    }

    /// Removes every rule whose instructions satisfy `pred`, sending
    /// `FLOW_REMOVED` with `reason`.
    fn remove_flows_where(
        &mut self,
        pred: impl Fn(&FlowEntry) -> bool,
        reason: u8,
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        for t in 0..self.tables.len() {
            let doomed: Vec<Arc<Rule>> = self.tables[t]
                .classifier()
                .iter()
                .filter(|r| pred(&r.data))
                .cloned()
                .collect();
            if doomed.is_empty() {
                continue;
            }
            let Some(removed) = self.edit_table(t, |table| {
                let mut removed = Vec::new();
                for r in doomed {
                    removed.extend(table.delete(&Selector::for_rule(&r)));
                }
                removed
            }) else {
                continue;
            };
            Self::send_removed(&removed, reason, t as u8, now_ms, out);
        }
    }

    /// Removes the rules whose timeouts have passed at `now_ms`, sending
    /// `FLOW_REMOVED` (idle or hard timeout) for those with
    /// `OFPFF_SEND_FLOW_REM`.
    pub fn expire(&mut self, now_ms: u64, out: &mut Vec<Message>) {
        for t in 0..self.tables.len() {
            if self.tables[t].next_expiry().is_none_or(|at| at > now_ms) {
                continue;
            }
            let Some(expired) = self.edit_table(t, |table| table.expire(now_ms)) else {
                continue;
            };
            for (r, reason) in expired {
                Self::send_removed(&[r], reason, t as u8, now_ms, out);
            }
        }
    }

    /// The earliest time any rule may expire (to schedule [`Switch::expire`]).
    pub fn next_expiry(&self) -> Option<u64> {
        self.tables.iter().filter_map(|t| t.next_expiry()).min()
    }

    /// Applies bundled requests atomically (see
    /// [`crate::service::OpenFlowSwitch::commit_bundle`]).  The state a
    /// failed message could have touched (tables, groups, ports, queued
    /// packet-outs) is saved first and put back on failure; saving the
    /// tables is a pointer copy per table.
    pub fn commit_bundle(
        &mut self,
        conn: ConnCtx,
        msgs: &[(Message, Vec<u8>)],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) -> bool {
        let tables = self.tables.clone();
        let groups = self.groups.clone();
        let ports = self.ports.clone();
        let n_out_packets = self.out_packets.len();
        let mut produced = Vec::new();
        for (m, raw) in msgs {
            let before = produced.len();
            self.handle_message(conn, m, raw, now_ms, &mut produced);
            let failed = produced
                .get(before..)
                .unwrap_or_default()
                .iter()
                .any(|r| r.xid == m.xid && matches!(r.body, Body::Error(_)));
            if failed {
                self.tables = tables;
                // The spares may be ahead of the restored tables: drop them.
                self.spares.iter_mut().for_each(|s| *s = None);
                self.rule_changes_lost = true;
                self.rule_changes = Vec::new();
                self.groups = groups;
                self.ports = ports;
                self.out_packets.truncate(n_out_packets);
                self.generation += 1;
                out.extend(
                    produced
                        .drain(before..)
                        .filter(|r| r.xid == m.xid && matches!(r.body, Body::Error(_))),
                );
                return false;
            }
        }
        out.append(&mut produced);
        true
    }

    // -----------------------------------------------------------------
    // GROUP_MOD

    fn group_reaches(&self, from: u32, target: u32, new: &Group, new_id: u32) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(g) = stack.pop() {
            if g == target {
                return true;
            }
            if !seen.insert(g) {
                continue;
            }
            let grp = if g == new_id {
                Some(new)
            } else {
                self.groups.get(&g)
            };
            if let Some(grp) = grp {
                stack.extend(grp.referenced_groups());
            }
        }
        false
    }

    fn check_group(&self, gm: &GroupMod) -> Result<(), OfpError> {
        if gm.group_id > consts::group::MAX {
            return Err(gm_err(group_mod_failed::INVALID_GROUP, "invalid group id"));
        }
        if gm.group_type > group_type::FF {
            return Err(gm_err(group_mod_failed::BAD_TYPE, "unknown group type"));
        }
        if gm.group_type == group_type::INDIRECT && gm.buckets.len() != 1 {
            return Err(gm_err(
                group_mod_failed::INVALID_GROUP,
                "indirect group needs exactly one bucket",
            ));
        }
        for b in &gm.buckets {
            if b.weight != 0 && gm.group_type != group_type::SELECT {
                return Err(gm_err(
                    group_mod_failed::INVALID_GROUP,
                    "bucket weight outside a select group",
                ));
            }
            if b.watch_port > consts::port::MAX && b.watch_port < consts::port::IN_PORT {
                return Err(gm_err(group_mod_failed::BAD_WATCH, "invalid watch port"));
            }
            let liveness = b.watch_port != consts::port::ANY || b.watch_group != consts::group::ANY;
            match gm.group_type {
                group_type::ALL | group_type::INDIRECT if liveness => {
                    return Err(gm_err(
                        group_mod_failed::WATCH_UNSUPPORTED,
                        "watch port/group only in fast-failover and select groups",
                    ));
                }
                group_type::FF if !liveness => {
                    return Err(gm_err(
                        group_mod_failed::INVALID_GROUP,
                        "fast-failover bucket without watch port or group",
                    ));
                }
                _ => {}
            }
            if b.actions
                .iter()
                .any(|a| matches!(a, Action::Group(g) if *g == gm.group_id))
            {
                return Err(gm_err(group_mod_failed::LOOP, "group forwards to itself"));
            }
            self.check_actions(&b.actions, None)?;
        }
        Ok(())
    }

    fn group_mod(
        &mut self,
        gm: &GroupMod,
        now_ms: u64,
        out: &mut Vec<Message>,
    ) -> Result<(), OfpError> {
        match gm.command {
            group_mod_command::ADD | group_mod_command::MODIFY => {
                self.check_group(gm)?;
                let exists = self.groups.contains_key(&gm.group_id);
                if gm.command == group_mod_command::ADD && exists {
                    return Err(gm_err(group_mod_failed::GROUP_EXISTS, "group exists"));
                }
                if gm.command == group_mod_command::MODIFY && !exists {
                    return Err(gm_err(group_mod_failed::UNKNOWN_GROUP, "no such group"));
                }
                if !exists && self.groups.len() >= self.settings.max_groups {
                    return Err(gm_err(group_mod_failed::OUT_OF_GROUPS, "group table full"));
                }
                let old = self.groups.get(&gm.group_id);
                let new = Group {
                    group_type: gm.group_type,
                    buckets: gm.buckets.clone(),
                    created_ms: old.map_or(now_ms, |g| g.created_ms),
                    packet_count: old.map_or(0, |g| g.packet_count),
                    byte_count: old.map_or(0, |g| g.byte_count),
                    bucket_counters: vec![Counter::default(); gm.buckets.len()],
                };
                // A modify may close a cycle through other groups.
                for g in new.referenced_groups() {
                    if self.group_reaches(g, gm.group_id, &new, gm.group_id) {
                        return Err(gm_err(group_mod_failed::LOOP, "group chain loops"));
                    }
                }
                self.groups.insert(gm.group_id, new);
            }
            group_mod_command::DELETE => {
                let ids: Vec<u32> = if gm.group_id == consts::group::ALL {
                    self.groups.keys().copied().collect()
                } else if self.groups.contains_key(&gm.group_id) {
                    if self.groups.iter().any(|(id, g)| {
                        *id != gm.group_id && g.referenced_groups().any(|r| r == gm.group_id)
                    }) {
                        return Err(gm_err(
                            group_mod_failed::CHAINED_GROUP,
                            "another group forwards to this group",
                        ));
                    }
                    vec![gm.group_id]
                } else {
                    Vec::new()
                };
                if ids.is_empty() {
                    return Ok(());
                }
                let set: BTreeSet<u32> = ids.iter().copied().collect();
                for id in &ids {
                    self.groups.remove(id);
                }
                self.remove_flows_where(
                    |e| {
                        e.instructions.iter().any(|i| match i {
                            Instruction::ApplyActions(a) | Instruction::WriteActions(a) => a
                                .iter()
                                .any(|a| matches!(a, Action::Group(g) if set.contains(g))),
                            _ => false,
                        })
                    },
                    flow_removed_reason::GROUP_DELETE,
                    now_ms,
                    out,
                );
            }
            _ => {
                return Err(gm_err(
                    group_mod_failed::BAD_COMMAND,
                    "unknown group-mod command",
                ));
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------
    // METER_MOD

    fn meter_mod(
        &mut self,
        mm: &MeterMod,
        now_ms: u64,
        out: &mut Vec<Message>,
    ) -> Result<(), OfpError> {
        let valid_id = mm.meter_id != 0 && mm.meter_id <= consts::meter::MAX;
        match mm.command {
            meter_mod_command::ADD | meter_mod_command::MODIFY => {
                if !valid_id {
                    return Err(mm_err(meter_mod_failed::INVALID_METER, "invalid meter id"));
                }
                let known = meter_flags::KBPS
                    | meter_flags::PKTPS
                    | meter_flags::BURST
                    | meter_flags::STATS;
                if mm.flags & !known != 0
                    || (mm.flags & meter_flags::KBPS != 0 && mm.flags & meter_flags::PKTPS != 0)
                {
                    return Err(mm_err(meter_mod_failed::BAD_FLAGS, "invalid meter flags"));
                }
                if mm.bands.len() > MAX_BANDS {
                    return Err(mm_err(meter_mod_failed::OUT_OF_BANDS, "too many bands"));
                }
                for b in &mm.bands {
                    if matches!(b, MeterBand::Experimenter { .. }) {
                        return Err(mm_err(meter_mod_failed::BAD_BAND, "experimenter band"));
                    }
                    if band_rate_burst(b).0 == 0 {
                        return Err(mm_err(meter_mod_failed::BAD_RATE, "band rate is zero"));
                    }
                }
                let exists = self.meters.contains_key(&mm.meter_id);
                if mm.command == meter_mod_command::ADD {
                    if exists {
                        return Err(mm_err(meter_mod_failed::METER_EXISTS, "meter exists"));
                    }
                    if self.meters.len() >= self.settings.max_meters {
                        return Err(mm_err(meter_mod_failed::OUT_OF_METERS, "meter table full"));
                    }
                } else if !exists {
                    return Err(mm_err(meter_mod_failed::UNKNOWN_METER, "no such meter"));
                }
                let mut m = Meter::new(mm.flags, mm.bands.clone(), now_ms);
                if let Some(old) = self.meters.get(&mm.meter_id) {
                    m.created_ms = old.created_ms;
                    m.packet_in_count = old.packet_in_count;
                    m.byte_in_count = old.byte_in_count;
                }
                self.meters.insert(mm.meter_id, m);
            }
            meter_mod_command::DELETE => {
                let ids: Vec<u32> = if mm.meter_id == consts::meter::ALL {
                    self.meters.keys().copied().collect()
                } else if !valid_id {
                    return Err(mm_err(meter_mod_failed::INVALID_METER, "invalid meter id"));
                } else if self.meters.contains_key(&mm.meter_id) {
                    vec![mm.meter_id]
                } else {
                    Vec::new()
                };
                if ids.is_empty() {
                    return Ok(());
                }
                let set: BTreeSet<u32> = ids.iter().copied().collect();
                for id in &ids {
                    self.meters.remove(id);
                }
                self.remove_flows_where(
                    |e| instruction_meter(&e.instructions).is_some_and(|m| set.contains(&m)),
                    flow_removed_reason::METER_DELETE,
                    now_ms,
                    out,
                );
            }
            _ => {
                return Err(mm_err(
                    meter_mod_failed::BAD_COMMAND,
                    "unknown meter-mod command",
                ));
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------
    // PORT_MOD, TABLE_MOD, PACKET_OUT

    fn port_mod(&mut self, pm: &PortMod, out: &mut Vec<Message>) -> Result<(), OfpError> {
        let pmf = |code, reason| OfpError::new(ErrorType::PORT_MOD_FAILED, code, reason);
        let Some(p) = self.ports.get_mut(&pm.port_no) else {
            return Err(pmf(port_mod_failed::BAD_PORT, "no such port"));
        };
        if p.desc.hw_addr != pm.hw_addr {
            return Err(pmf(
                port_mod_failed::BAD_HW_ADDR,
                "hardware address mismatch",
            ));
        }
        let known = port_config::PORT_DOWN
            | port_config::NO_RECV
            | port_config::NO_FWD
            | port_config::NO_PACKET_IN;
        if pm.mask & !known != 0 || pm.config & pm.mask & !known != 0 {
            return Err(pmf(port_mod_failed::BAD_CONFIG, "unknown port config bits"));
        }
        let config = (p.desc.config & !pm.mask) | (pm.config & pm.mask);
        if config != p.desc.config {
            p.desc.config = config;
            out.push(Message::new(
                0,
                Body::PortStatus(PortStatus {
                    reason: port_reason::MODIFY,
                    desc: p.desc.clone(),
                }),
            ));
        }
        Ok(())
    }

    fn table_mod(&mut self, tm: &TableMod) -> Result<(), OfpError> {
        let tmf = |code, reason| OfpError::new(ErrorType::TABLE_MOD_FAILED, code, reason);
        if tm.table_id != consts::table::ALL && tm.table_id >= self.settings.n_tables {
            return Err(tmf(table_mod_failed::BAD_TABLE, "no such table"));
        }
        if tm.config & !OFPTC_DEPRECATED_MASK != 0 {
            return Err(tmf(
                table_mod_failed::BAD_CONFIG,
                "unknown table config bits",
            ));
        }
        if tm.table_id == consts::table::ALL {
            self.table_config.iter_mut().for_each(|c| *c = tm.config);
        } else if let Some(c) = self.table_config.get_mut(usize::from(tm.table_id)) {
            *c = tm.config;
        }
        Ok(())
    }

    fn packet_out(&mut self, po: &PacketOut) -> Result<(), OfpError> {
        use consts::port as p;
        if po.buffer_id != OFP_NO_BUFFER {
            return Err(OfpError::bad_request(
                bad_request::BUFFER_UNKNOWN,
                "no packet buffers",
            ));
        }
        let in_port_ok = matches!(po.in_port, p::CONTROLLER | p::LOCAL | p::ANY)
            || (po.in_port != 0 && po.in_port <= p::MAX);
        if !in_port_ok {
            return Err(OfpError::bad_request(
                bad_request::BAD_PORT,
                "invalid in_port",
            ));
        }
        self.check_actions(&po.actions, None)?;
        self.out_packets.push(PacketOutput {
            in_port: po.in_port,
            actions: po.actions.clone(),
            data: po.data.clone(),
        });
        Ok(())
    }

    // -----------------------------------------------------------------
    // MULTIPART

    fn flow_stats_tables(&self, req: &FlowStatsRequest) -> Result<Vec<u8>, OfpError> {
        if req.table_id == consts::table::ALL {
            Ok((0..self.settings.n_tables).collect())
        } else if req.table_id < self.settings.n_tables {
            Ok(vec![req.table_id])
        } else {
            Err(OfpError::bad_request(
                bad_request::BAD_TABLE_ID,
                "no such table",
            ))
        }
    }

    fn selected_flows(&self, req: &FlowStatsRequest) -> Result<Vec<(u8, Arc<Rule>)>, OfpError> {
        let tables = self.flow_stats_tables(req)?;
        let mut sel = Selector::new(&req.match_, 0, false).map_err(|e| e.to_ofp_error())?;
        sel.cookie = req.cookie;
        sel.cookie_mask = req.cookie_mask;
        sel.out_port = req.out_port;
        sel.out_group = req.out_group;
        let mut v = Vec::new();
        for t in tables {
            if let Some(table) = self.tables.get(usize::from(t)) {
                let mut rules = table.select(&sel);
                // Highest priority first, a stable order for dumps.
                rules.sort_by_key(|r| std::cmp::Reverse(r.priority()));
                v.extend(rules.into_iter().map(|r| (t, r)));
            }
        }
        Ok(v)
    }

    fn group_ref_count(&self, id: u32) -> u32 {
        let flows: usize = self
            .tables
            .iter()
            .map(|t| {
                t.classifier()
                    .iter()
                    .filter(|r| r.data.passes_out_filter(consts::port::ANY, id))
                    .count()
            })
            .sum();
        let groups = self
            .groups
            .values()
            .filter(|g| g.referenced_groups().any(|r| r == id))
            .count();
        u32::try_from(flows + groups).unwrap_or(u32::MAX)
    }

    fn meter_flow_count(&self, id: u32) -> u32 {
        let n: usize = self
            .tables
            .iter()
            .map(|t| {
                t.classifier()
                    .iter()
                    .filter(|r| instruction_meter(&r.data.instructions) == Some(id))
                    .count()
            })
            .sum();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn multipart(
        &self,
        body: &MultipartRequestBody,
        now_ms: u64,
    ) -> Result<MultipartReply, OfpError> {
        use MultipartReplyBody as R;
        use MultipartRequestBody as Q;
        let reply = match body {
            Q::Desc => R::Desc(self.settings.desc.clone()),
            Q::Flow(req) => R::Flow(
                self.selected_flows(req)?
                    .into_iter()
                    .map(|(t, r)| {
                        let e = &r.data;
                        let (duration_sec, duration_nsec) = e.duration(now_ms);
                        FlowStats {
                            table_id: t,
                            duration_sec,
                            duration_nsec,
                            priority: e.priority,
                            idle_timeout: e.idle_timeout,
                            hard_timeout: e.hard_timeout,
                            flags: e.flags,
                            cookie: e.cookie,
                            packet_count: e.packet_count(),
                            byte_count: e.byte_count(),
                            match_: e.match_.clone(),
                            instructions: e.instructions.clone(),
                        }
                    })
                    .collect(),
            ),
            Q::Aggregate(req) => {
                let flows = self.selected_flows(req)?;
                R::Aggregate(AggregateStats {
                    packet_count: flows.iter().map(|(_, r)| r.data.packet_count()).sum(),
                    byte_count: flows.iter().map(|(_, r)| r.data.byte_count()).sum(),
                    flow_count: u32::try_from(flows.len()).unwrap_or(u32::MAX),
                })
            }
            Q::Table => R::Table(
                self.tables
                    .iter()
                    .enumerate()
                    .map(|(i, t)| TableStats {
                        table_id: i as u8,
                        active_count: u32::try_from(t.len()).unwrap_or(u32::MAX),
                        lookup_count: t.lookup_count(),
                        matched_count: t.matched_count(),
                    })
                    .collect(),
            ),
            Q::PortStats(port) => {
                if *port != consts::port::ANY && !self.ports.contains_key(port) {
                    return Err(OfpError::bad_request(bad_request::BAD_PORT, "no such port"));
                }
                R::PortStats(
                    self.ports
                        .values()
                        .filter(|p| *port == consts::port::ANY || p.desc.port_no == *port)
                        .map(|p| {
                            let (duration_sec, duration_nsec) = duration(p.created_ms, now_ms);
                            PortStats {
                                port_no: p.desc.port_no,
                                duration_sec,
                                duration_nsec,
                                ..p.stats.clone()
                            }
                        })
                        .collect(),
                )
            }
            Q::PortDesc => R::PortDesc(self.ports.values().map(|p| p.desc.clone()).collect()),
            Q::Queue { port_no, queue_id } => {
                if *port_no != consts::port::ANY && !self.ports.contains_key(port_no) {
                    return Err(OfpError::new(
                        ErrorType::QUEUE_OP_FAILED,
                        queue_op_failed::BAD_PORT,
                        "no such port",
                    ));
                }
                if *queue_id != OFPQ_ALL {
                    return Err(OfpError::new(
                        ErrorType::QUEUE_OP_FAILED,
                        queue_op_failed::BAD_QUEUE,
                        "no such queue",
                    ));
                }
                R::Queue(Vec::new())
            }
            Q::Group(id) => R::Group(
                self.groups
                    .iter()
                    .filter(|(g, _)| *id == consts::group::ALL || **g == *id)
                    .map(|(g, grp)| {
                        let (duration_sec, duration_nsec) = duration(grp.created_ms, now_ms);
                        GroupStats {
                            group_id: *g,
                            ref_count: self.group_ref_count(*g),
                            packet_count: grp.packet_count,
                            byte_count: grp.byte_count,
                            duration_sec,
                            duration_nsec,
                            bucket_stats: grp.bucket_counters.clone(),
                        }
                    })
                    .collect(),
            ),
            Q::GroupDesc => R::GroupDesc(
                self.groups
                    .iter()
                    .map(|(g, grp)| GroupDesc {
                        group_type: grp.group_type,
                        group_id: *g,
                        buckets: grp.buckets.clone(),
                    })
                    .collect(),
            ),
            Q::GroupFeatures => R::GroupFeatures(self.group_features()),
            Q::Meter(id) => R::Meter(
                self.meters
                    .iter()
                    .filter(|(m, _)| *id == consts::meter::ALL || **m == *id)
                    .map(|(m, mt)| {
                        let (duration_sec, duration_nsec) = duration(mt.created_ms, now_ms);
                        MeterStats {
                            meter_id: *m,
                            flow_count: self.meter_flow_count(*m),
                            packet_in_count: mt.packet_in_count,
                            byte_in_count: mt.byte_in_count,
                            duration_sec,
                            duration_nsec,
                            band_stats: mt.band_counters.clone(),
                        }
                    })
                    .collect(),
            ),
            Q::MeterConfig(id) => R::MeterConfig(
                self.meters
                    .iter()
                    .filter(|(m, _)| *id == consts::meter::ALL || **m == *id)
                    .map(|(m, mt)| MeterConfig {
                        flags: mt.flags,
                        meter_id: *m,
                        bands: mt.bands.clone(),
                    })
                    .collect(),
            ),
            Q::MeterFeatures => R::MeterFeatures(MeterFeatures {
                max_meter: u32::try_from(self.settings.max_meters).unwrap_or(u32::MAX),
                band_types: (1 << 1) | (1 << 2),
                capabilities: u32::from(
                    meter_flags::KBPS
                        | meter_flags::PKTPS
                        | meter_flags::BURST
                        | meter_flags::STATS,
                ),
                max_bands: MAX_BANDS as u8,
                max_color: 0,
            }),
            Q::TableFeatures(set) => {
                if !set.is_empty() {
                    return Err(OfpError::new(
                        ErrorType::TABLE_FEATURES_FAILED,
                        table_features_failed::EPERM,
                        "tables are not reconfigurable",
                    ));
                }
                R::TableFeatures(self.table_features())
            }
            Q::Experimenter { .. } => {
                return Err(OfpError::bad_request(
                    bad_request::BAD_EXPERIMENTER,
                    "no experimenter multipart supported",
                ));
            }
        };
        Ok(MultipartReply {
            flags: 0,
            body: reply,
        })
    }

    fn supported_action_bitmap() -> u32 {
        crate::wire::action::ActionType::ALL
            .iter()
            .filter(|t| t.0 < 32)
            .fold(0, |acc, t| acc | (1u32 << t.0))
    }

    fn group_features(&self) -> GroupFeatures {
        // OFPGFC_SELECT_WEIGHT | SELECT_LIVENESS | CHAINING | CHAINING_CHECKS.
        let max = u32::try_from(self.settings.max_groups).unwrap_or(u32::MAX);
        let actions = Self::supported_action_bitmap();
        GroupFeatures {
            types: 0b1111,
            capabilities: 0b1111,
            max_groups: [max; 4],
            actions: [actions; 4],
        }
    }

    /// The features of every table, as `OFPMP_TABLE_FEATURES` reports them.
    pub fn table_features(&self) -> Vec<TableFeatures> {
        let actions: Vec<TypeId> = crate::wire::action::ActionType::ALL
            .iter()
            .filter(|t| **t != crate::wire::action::ActionType::EXPERIMENTER)
            .map(|t| TypeId::new(t.0))
            .collect();
        // The fields the flow key has no room for (see `match_key`) are
        // not offered.
        let unsupported = [
            BasicField::IN_PHY_PORT,
            BasicField::PBB_ISID,
            BasicField::IPV6_EXTHDR,
        ];
        let supported = || {
            BasicField::all()
                .iter()
                .filter(move |i| !unsupported.contains(&i.field))
        };
        let fields: Vec<OxmId> = supported().map(|i| OxmId::basic(i.field)).collect();
        let settable: Vec<OxmId> = supported()
            .filter(|i| i.settable)
            .map(|i| OxmId::basic(i.field))
            .collect();
        let n = self.settings.n_tables;
        (0..n)
            .map(|t| {
                let last = t + 1 >= n;
                let ins: Vec<TypeId> = InstructionType::ALL
                    .iter()
                    .filter(|i| **i != InstructionType::EXPERIMENTER)
                    .filter(|i| !(last && **i == InstructionType::GOTO_TABLE))
                    .map(|i| TypeId::new(i.0))
                    .collect();
                let next: Vec<u8> = ((t + 1)..n).collect();
                let mut properties = Vec::new();
                for miss in [false, true] {
                    properties.push(TableFeatureProp::Instructions {
                        miss,
                        ids: ins.clone(),
                    });
                    properties.push(TableFeatureProp::NextTables {
                        miss,
                        tables: next.clone(),
                    });
                    properties.push(TableFeatureProp::WriteActions {
                        miss,
                        ids: actions.clone(),
                    });
                    properties.push(TableFeatureProp::ApplyActions {
                        miss,
                        ids: actions.clone(),
                    });
                }
                properties.push(TableFeatureProp::Match(fields.clone()));
                properties.push(TableFeatureProp::Wildcards(fields.clone()));
                for miss in [false, true] {
                    properties.push(TableFeatureProp::WriteSetfield {
                        miss,
                        ids: settable.clone(),
                    });
                    properties.push(TableFeatureProp::ApplySetfield {
                        miss,
                        ids: settable.clone(),
                    });
                }
                TableFeatures {
                    table_id: t,
                    name: format!("table{t}"),
                    metadata_match: u64::MAX,
                    metadata_write: u64::MAX,
                    config: self.table_config.get(usize::from(t)).copied().unwrap_or(0),
                    max_entries: u32::try_from(self.settings.max_flows_per_table)
                        .unwrap_or(u32::MAX),
                    properties,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_meter(flags: u16, rate: u32, burst: u32) -> Meter {
        Meter::new(
            flags,
            vec![MeterBand::Drop {
                rate,
                burst_size: burst,
            }],
            0,
        )
    }

    #[test]
    fn pktps_meter_admits_burst_then_drops_then_refills() {
        // 10 packets/s, burst 2 packets.
        let mut m = drop_meter(meter_flags::PKTPS | meter_flags::BURST, 10, 2);
        assert_eq!(m.admit(0, 100), None);
        assert_eq!(m.admit(0, 100), None);
        assert_eq!(m.admit(0, 100), Some(BandAction::Drop));
        // 100 ms later one packet's worth of tokens is back.
        assert_eq!(m.admit(100, 100), None);
        assert_eq!(m.admit(100, 100), Some(BandAction::Drop));
        assert_eq!(m.packet_in_count, 5);
        assert_eq!(m.band_counters[0].packet_count, 2);
        assert_eq!(m.band_counters[0].byte_count, 200);
    }

    #[test]
    fn kbps_meter_counts_bits() {
        // 8 kb/s, burst 8 kbit = 1000 bytes.
        let mut m = drop_meter(meter_flags::KBPS | meter_flags::BURST, 8, 8);
        assert_eq!(m.admit(0, 1000), None);
        assert_eq!(m.admit(0, 1), Some(BandAction::Drop));
        // 8 kb/s = 8 bits per ms: after 1000 ms, 8000 bits are back.
        assert_eq!(m.admit(1000, 1000), None);
        assert_eq!(m.admit(1000, 1000), Some(BandAction::Drop));
    }

    #[test]
    fn highest_exceeded_band_wins() {
        let bands = vec![
            MeterBand::Drop {
                rate: 20,
                burst_size: 2,
            },
            MeterBand::DscpRemark {
                rate: 10,
                burst_size: 1,
                prec_level: 1,
            },
        ];
        let mut m = Meter::new(meter_flags::PKTPS | meter_flags::BURST, bands, 0);
        assert_eq!(m.admit(0, 64), None);
        // Only the 10 pkt/s band is exceeded.
        assert_eq!(
            m.admit(0, 64),
            Some(BandAction::DscpRemark { prec_level: 1 })
        );
        // Both exceeded: the 20 pkt/s band (drop) applies.
        assert_eq!(m.admit(0, 64), Some(BandAction::Drop));
    }

    #[test]
    fn clock_going_backwards_adds_nothing() {
        let mut m = drop_meter(meter_flags::PKTPS | meter_flags::BURST, 10, 1);
        assert_eq!(m.admit(1000, 1), None);
        assert_eq!(m.admit(500, 1), Some(BandAction::Drop));
    }
}
