//! Translation: running the OpenFlow 1.3.5 pipeline on a flow key.
//!
//! When the datapath misses its caches it hands the slow path a packet's
//! [`FlowKey`].  [`translate`] runs that key through the OpenFlow
//! pipeline of a read-only [`PipelineView`] (flow tables, groups, ports)
//! and answers with three things:
//!
//! * the datapath actions ([`DpAction`]) that do to the packet what the
//!   pipeline would do;
//! * a wildcard mask ([`FlowMask`]): the key bits the decision depended
//!   on, so `key & wc -> actions` can be installed as a megaflow;
//! * the rules hit (for their counters) and the packet-ins the actions
//!   send (for the controller channel).
//!
//! # The pipeline
//!
//! Processing starts in table 0.  A lookup that finds no rule ends the
//! pipeline and the packet is dropped (the OpenFlow 1.3 default: a
//! table-miss flow entry, priority 0 with an empty match, is how a
//! controller asks for anything else).  A rule's instructions run in the
//! spec's order whatever their order in the list: meter, apply-actions,
//! clear-actions, write-actions, write-metadata, goto-table.  Apply-actions
//! run immediately: each emits datapath actions and updates a *working
//! copy* of the key so that later set-fields, group hashing and table
//! lookups see the rewritten packet, exactly as the spec's pipeline does.
//! Write-actions merge into the action set (one action per type, one
//! set-field per field, a later write replacing an earlier one).
//! Goto-table only goes forward (the flow-mod layer rejects the rest; a
//! backward goto is ignored here).  When no goto is left the action set
//! runs in the spec's order: copy TTL inwards, pop, push-MPLS, push-PBB,
//! push-VLAN, copy TTL outwards, decrement TTL, set, QoS, group, output;
//! an output in the set is ignored when the set also has a group.
//!
//! # Wildcards
//!
//! The mask must be *sound*: every packet that agrees with the key on the
//! mask's bits must translate to the same actions.  Lookups contribute
//! the bits the classifier consulted ([`FlowTable::lookup`]); because the
//! lookups run on the working key, a field rewritten by a set-field is
//! still un-wildcarded if a later lookup consults it, which is
//! conservative and so sound.  Actions that *read* the packet
//! un-wildcard what they read: output to a port reads `in_port` (a packet
//! is never sent back to its input port unless through `IN_PORT`),
//! set-field and the TTL and tag actions read the prerequisites of their
//! header (`eth_type`, `nw_proto`, the VLAN-present bit, `nw_frag`), push
//! VLAN/MPLS read the fields they copy, the select group reads the fields
//! it hashes, NORMAL reads `in_port`, `eth_src`, `eth_dst` and `vlan_tci`.
//! Tag pushes and pops shift key fields (outer tag becomes inner), so they
//! un-wildcard every tag field they move.
//!
//! Some decisions depend on state outside the key: port liveness
//! (fast-failover and select groups, flooding), the group table and the
//! MAC-learning table.  Such megaflows must be revalidated when that state
//! changes; [`XlateResult::reads_port_state`] and
//! [`XlateResult::mac_generation`] say which state a translation read, and
//! [`revalidate`] re-translates a cached megaflow and answers keep,
//! update or delete.
//!
//! # Copies
//!
//! Group buckets run on a copy of the packet ([`DpAction::Clone`]), with
//! the working key restored afterwards, so actions after a group see the
//! packet as it was.  NORMAL, when it must retag the frame for some
//! ports, emits its outputs inside one `Clone` for the same reason.
//! Clones nest at most [`MAX_CLONE_DEPTH`] deep (the datapath's limit); a
//! deeper translation, or one beyond [`MAX_ACTIONS`], is reported as
//! [`XlateResult::truncated`] and drops the packet.
//!
//! # Driving it from the datapath
//!
//! [`XlateUpcall`] implements the datapath's
//! [`datapath::upcall::Upcall`] over a published snapshot of a view (see
//! its documentation for the install policy and the packet-in queue).
//!
//! # Ports
//!
//! The pipeline works in OpenFlow port numbers: the key's `in_port` is
//! read as an OpenFlow port and `Output(p)` is emitted for OpenFlow port
//! `p` (`LOCAL` through [`PipelineView::local_port`]).  For the datapath,
//! [`translate_datapath`] converts the key's datapath in_port to its
//! OpenFlow number and every output back ([`PipelineView::dp_to_of`],
//! [`PipelineView::of_to_dp`], [`map_outputs`]); the bridge's snapshot
//! maps OpenFlow numbers up to 65279 and `LOCAL` onto the datapath's
//! 1..4095.  Reserved ports: `IN_PORT` outputs to
//! the key's `in_port`; `ALL` to every standard port
//! ([`PipelineView::ports`] and `LOCAL`) but the input port and ports with
//! `OFPPC_NO_FWD`; `FLOOD` like `ALL`
//! but also leaving out [`PipelineView::port_no_flood`] ports;
//! `CONTROLLER` becomes a [`DpAction::Userspace`] whose cookie packs the
//! packet-in reason, the table id and a slot of the [`CookieRegistry`]
//! holding the rule cookie and the pipeline metadata ([`ControllerCookie`]); `NORMAL` runs
//! [`crate::normal`]; `TABLE` is honoured only in packet-out
//! ([`translate_packet_out`]) and ignored elsewhere; `ANY`, invalid
//! ports, ports the view does not have ([`PipelineView::port_exists`])
//! and `OFPPC_NO_FWD` ports drop, as does `IN_PORT` when the input port is
//! a reserved one (a packet-out from the controller).
//!
//! # TTLs
//!
//! `dec_nw_ttl` and `dec_mpls_ttl` become [`DpAction::DecIpTtl`] /
//! [`DpAction::DecMplsTtl`]: the datapath drops a packet whose TTL would
//! expire, without reading the TTL here.  When the asynchronous
//! configuration asks for `OFPR_INVALID_TTL` packet-ins
//! ([`XlateCtx::invalid_ttl_to_controller`]), `dec_nw_ttl` reads the TTL
//! (un-wildcarding it): at TTL <= 1 the translation emits a packet-in with
//! reason `INVALID_TTL` and stops, as the spec requires.  `copy_ttl_out`
//! after a `push_mpls` becomes a `SetMplsTtl` of the IP TTL (reading it);
//! `copy_ttl_in` needs the IP header under an MPLS stack, which the
//! datapath cannot reach, so it is skipped and reported in
//! [`XlateResult::skipped`].
//!
//! # Absent headers
//!
//! A flow-mod whose set-field or tag action is inconsistent with its
//! match is rejected by the flow-mod layer
//! (`OFPBAC_MATCH_INCONSISTENT`).  A packet that nevertheless reaches such
//! an action without the header (e.g. after an earlier pop) has the
//! action skipped, as Open vSwitch does; the prerequisite bits read are
//! un-wildcarded.
//!
//! # Not (yet) done
//!
//! PBB push/pop, `set_queue` (no datapath queue action; recorded in
//! [`XlateResult::queue`]), experimenter actions and instructions, and
//! fields under a popped MPLS stack (Open vSwitch recirculates; here later
//! lookups see the pre-pop L3 fields, which are zero in a key extracted
//! from an MPLS packet) are skipped and listed in
//! [`XlateResult::skipped`].  `set_field:vlan_vid` on an untagged packet
//! is skipped (no implicit push).  `dec_mpls_ttl` never produces an
//! `INVALID_TTL` packet-in (the datapath drops silently).  Port config
//! `OFPPC_NO_RECV` is honoured by [`translate_datapath`] only, and
//! `OFPPC_NO_PACKET_IN` by the bridge when it turns packet-ins into
//! messages.  Crediting
//! megaflow hits to rules is the bridge's job ([`crate::bridge`]), with
//! the `rules_hit` and `groups_hit` of a re-translation.

mod upcall;

pub use upcall::{MAX_PACKET_IN_BYTES, MAX_PACKET_INS, MeterDecider, PacketInEvent, XlateUpcall};

use std::collections::HashMap;
use std::sync::Arc;

use datapath::actions::{DpAction, SetField};
use datapath::flow::{FRAG_LATER, Field, FlowKey, FlowMask, VLAN_PRESENT};

use crate::flow_table::{FlowTable, Rule};
use crate::normal::{self, MacLearning, PortVlan};
use crate::wire::action::Action;
use crate::wire::consts::{OFPCML_NO_BUFFER, group as ofgroup, port as ofport};
use crate::wire::instruction::Instruction;
use crate::wire::message::{Bucket, group_type, packet_in_reason, port_config};
use crate::wire::oxm::{BasicField, OxmField};

/// Deepest chain of groups (and nested NORMAL/TABLE) followed.
pub const MAX_DEPTH: usize = 32;
/// Deepest nesting of [`DpAction::Clone`] emitted (the datapath executes
/// at most 8 levels); a deeper translation is cut short and drops.
pub const MAX_CLONE_DEPTH: usize = 8;
/// Most datapath actions one translation may emit; beyond it the
/// translation stops and the packet is dropped.
pub const MAX_ACTIONS: usize = 4096;

/// A group as translation sees it.
#[derive(Clone, Copy, Debug)]
pub struct GroupView<'a> {
    /// `OFPGT_*` ([`group_type`]).
    pub group_type: u8,
    /// The buckets, in order.
    pub buckets: &'a [Bucket],
}

/// The read-only state translation needs from a switch.  The switch
/// implements it on a snapshot of its tables.
pub trait PipelineView {
    /// Flow table `id`, or `None` if it does not exist.
    fn table(&self, id: u8) -> Option<&FlowTable>;
    /// Group `id`, or `None` if it does not exist.
    fn group(&self, id: u32) -> Option<GroupView<'_>>;
    /// Whether OpenFlow port `port` is live (fast-failover watch).
    fn port_is_live(&self, port: u32) -> bool;
    /// The standard OpenFlow ports, in ascending order (outputs to ALL,
    /// FLOOD and NORMAL follow this order).
    fn ports(&self) -> Vec<u32>;
    /// Whether OpenFlow port `port` exists (default: it is in
    /// [`PipelineView::ports`]).  Output to a missing port drops.
    fn port_exists(&self, port: u32) -> bool {
        self.ports().contains(&port)
    }
    /// The `OFPPC_*` config bits of `port` (0 if unknown).  Here and in
    /// the next two methods `port` is an OpenFlow port number, `OFPP_LOCAL`
    /// for the local port.
    fn port_config(&self, port: u32) -> u32 {
        let _ = port;
        0
    }
    /// Whether `port` is left out of FLOOD and NORMAL flooding.
    fn port_no_flood(&self, port: u32) -> bool {
        let _ = port;
        false
    }
    /// The VLAN configuration NORMAL uses for `port`.
    fn port_vlan(&self, port: u32) -> PortVlan {
        let _ = port;
        PortVlan::default()
    }
    /// The datapath port of `OFPP_LOCAL`, if the bridge has one.
    fn local_port(&self) -> Option<u32> {
        None
    }
    /// Whether meter `id` exists (a missing meter drops).
    fn meter_exists(&self, id: u32) -> bool {
        let _ = id;
        true
    }
    /// The OpenFlow port of datapath port `dp` (default: the same
    /// number).  Used by [`translate_datapath`] only; the rest of the
    /// translation works in OpenFlow numbers.
    fn dp_to_of(&self, dp: u32) -> u32 {
        dp
    }
    /// The datapath port of OpenFlow port `of` (default: the same
    /// number), `None` if it has none (outputs to it are dropped).
    fn of_to_dp(&self, of: u32) -> Option<u32> {
        Some(of)
    }
    /// Fail-open: translate every packet as NORMAL, whatever the tables
    /// say (default: false).  Honoured by [`translate_datapath`].
    fn fail_open(&self) -> bool {
        false
    }
}

/// What a `userspace` cookie made by translation means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerCookie {
    /// `OFPR_*` ([`packet_in_reason`]).
    pub reason: u8,
    /// The table the sending rule is in.
    pub table_id: u8,
    /// Slot of the rule cookie and metadata in the [`CookieRegistry`].
    pub slot: u32,
}

/// Tag in the top byte of a controller cookie.
const COOKIE_TAG: u64 = 0x0f;

impl ControllerCookie {
    /// Packs into a datapath userspace cookie:
    /// `tag(8) | reason(8) | table(8) | 0(8) | slot(32)`.
    pub fn pack(self) -> u64 {
        (COOKIE_TAG << 56)
            | (u64::from(self.reason) << 48)
            | (u64::from(self.table_id) << 40)
            | u64::from(self.slot)
    }

    /// Unpacks a cookie made by [`ControllerCookie::pack`].
    pub fn unpack(c: u64) -> Option<Self> {
        (c >> 56 == COOKIE_TAG).then_some(Self {
            reason: ((c >> 48) & 0xff) as u8,
            table_id: ((c >> 40) & 0xff) as u8,
            slot: (c & 0xffff_ffff) as u32,
        })
    }
}

/// Interns what a packet-in needs besides the packet, a rule cookie and
/// the pipeline's `metadata` (64 bits each), into 32-bit slots that fit
/// in a datapath userspace cookie.  Bounded: when full, new pairs get
/// [`CookieRegistry::NONE`] and packet-ins report cookie `-1` and
/// metadata 0.
#[derive(Debug, Default)]
pub struct CookieRegistry {
    by_pair: HashMap<(u64, u64), u32>,
    slots: Vec<(u64, u64)>,
}

impl CookieRegistry {
    /// The slot meaning "unknown" (cookie `0xffff_ffff_ffff_ffff`,
    /// metadata 0).
    pub const NONE: u32 = u32::MAX;
    /// Most distinct pairs held.
    pub const MAX: usize = 65_536;

    /// The slot of `(cookie, metadata)`, interning it.
    pub fn intern(&mut self, cookie: u64, metadata: u64) -> u32 {
        if let Some(&s) = self.by_pair.get(&(cookie, metadata)) {
            return s;
        }
        if self.slots.len() >= Self::MAX {
            return Self::NONE;
        }
        let s = u32::try_from(self.slots.len()).unwrap_or(Self::NONE);
        self.slots.push((cookie, metadata));
        self.by_pair.insert((cookie, metadata), s);
        s
    }

    /// The `(cookie, metadata)` in `slot` (`(u64::MAX, 0)` for
    /// [`CookieRegistry::NONE`] or an unknown slot).
    pub fn get(&self, slot: u32) -> (u64, u64) {
        usize::try_from(slot)
            .ok()
            .and_then(|i| self.slots.get(i))
            .copied()
            .unwrap_or((u64::MAX, 0))
    }
}

/// Mutable state translation uses across calls (one per bridge).
#[derive(Debug, Default)]
pub struct XlateCtx {
    /// Caller's clock (ms), for MAC learning and aging.
    pub now_ms: u64,
    /// NORMAL's learning table.
    pub mac: MacLearning,
    /// Whether NORMAL may learn (true for real packets, false for
    /// revalidation and tracing).
    pub may_learn: bool,
    /// Send `OFPR_INVALID_TTL` packet-ins (async config) instead of
    /// silently dropping on TTL expiry at `dec_nw_ttl`.
    pub invalid_ttl_to_controller: bool,
    /// Rule cookies of controller userspace cookies.
    pub cookies: CookieRegistry,
}

/// A packet-in the translated actions send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInInfo {
    /// `OFPR_*`.
    pub reason: u8,
    /// Table of the rule that sent it.
    pub table_id: u8,
    /// The rule's cookie (`u64::MAX` when not from a rule).
    pub cookie: u64,
    /// The pipeline's `metadata` at the output (for the packet-in match).
    pub metadata: u64,
    /// Bytes requested (`OFPCML_NO_BUFFER` = all).
    pub max_len: u16,
    /// The userspace cookie in the datapath actions.
    pub dp_cookie: u64,
}

/// The outcome of a translation.
#[derive(Clone, Debug, Default)]
pub struct XlateResult {
    /// Datapath actions (empty = drop).
    pub actions: Vec<DpAction>,
    /// Key bits the decision depended on.
    pub wc: FlowMask,
    /// Packet-ins the actions send.
    pub packet_ins: Vec<PacketInInfo>,
    /// Rules matched, in pipeline order (credit their counters).
    pub rules_hit: Vec<Arc<Rule>>,
    /// The learning-table generation read, if NORMAL ran.
    pub mac_generation: Option<u64>,
    /// Whether a fast-failover group, FLOOD, ALL or NORMAL read port
    /// state (revalidate on port status changes).
    pub reads_port_state: bool,
    /// Last `set_queue` seen (no datapath queue action exists yet).
    pub queue: Option<u32>,
    /// Names of actions skipped as unsupported or inapplicable.
    pub skipped: Vec<&'static str>,
    /// Whether the translation was cut short (depth or size limit).
    pub truncated: bool,
    /// Every table looked up, in order, with the rule matched (`None`:
    /// a miss, which ends the pipeline).  Translation does not count table
    /// lookups itself; credit them from this
    /// ([`FlowTable::record_lookups`]).
    pub tables_visited: Vec<(u8, Option<Arc<Rule>>)>,
    /// Group buckets the packet went through: `(group id, bucket index)`
    /// (credit the group and bucket counters).
    pub groups_hit: Vec<(u32, usize)>,
    /// How many leading entries of `tables_visited` were looked up with
    /// the key translation started from (no set-field, push/pop or
    /// metadata write before them).  A rule change in such a table can
    /// only matter to packets the changed rule's match overlaps.
    pub input_key_tables: usize,
}

/// Spec order rank of an action-set entry.
fn set_rank(a: &Action) -> u8 {
    match a {
        Action::CopyTtlIn => 0,
        Action::PopVlan | Action::PopMpls(_) | Action::PopPbb => 1,
        Action::PushMpls(_) => 2,
        Action::PushPbb(_) => 3,
        Action::PushVlan(_) => 4,
        Action::CopyTtlOut => 5,
        Action::DecMplsTtl | Action::DecNwTtl => 6,
        Action::SetField(_) | Action::SetMplsTtl(_) | Action::SetNwTtl(_) => 7,
        Action::SetQueue(_) => 8,
        Action::Group(_) => 9,
        Action::Output { .. } => 10,
        _ => 11,
    }
}

/// Identity of an action-set slot: the type, plus the field for set-field.
fn set_slot(a: &Action) -> (u16, Option<crate::wire::oxm::OxmHeader>) {
    let t = a.action_type().0;
    match a {
        Action::SetField(f) => (t, Some(f.header())),
        _ => (t, None),
    }
}

/// The OpenFlow action set (write-actions).
#[derive(Clone, Debug, Default)]
pub struct ActionSet {
    acts: Vec<Action>,
}

impl ActionSet {
    /// Merges `acts` in: each replaces an entry of the same type (same
    /// field for set-field).
    pub fn write(&mut self, acts: &[Action]) {
        for a in acts {
            let slot = set_slot(a);
            if let Some(e) = self.acts.iter_mut().find(|e| set_slot(e) == slot) {
                *e = a.clone();
            } else {
                self.acts.push(a.clone());
            }
        }
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.acts.clear();
    }

    /// The actions in execution order (output dropped if a group is
    /// present).
    pub fn ordered(&self) -> Vec<Action> {
        let has_group = self.acts.iter().any(|a| matches!(a, Action::Group(_)));
        let mut v: Vec<Action> = self
            .acts
            .iter()
            .filter(|a| !(has_group && matches!(a, Action::Output { .. })))
            .cloned()
            .collect();
        v.sort_by_key(set_rank);
        v
    }
}

/// Where an OXM set-field lands in the key: field, shift, value mask
/// (before shifting).
fn oxm_target(f: BasicField) -> Option<(Field, u32, u128)> {
    use BasicField as B;
    use Field as F;
    Some(match f {
        B::METADATA => (F::Metadata, 0, u128::from(u64::MAX)),
        B::ETH_DST => (F::EthDst, 0, 0xffff_ffff_ffff),
        B::ETH_SRC => (F::EthSrc, 0, 0xffff_ffff_ffff),
        B::VLAN_VID => (F::VlanTci, 0, 0x0fff),
        B::VLAN_PCP => (F::VlanTci, 13, 0x7),
        B::IP_DSCP => (F::NwTos, 2, 0x3f),
        B::IP_ECN => (F::NwTos, 0, 0x3),
        B::IPV4_SRC | B::ARP_SPA => (F::Ipv4Src, 0, 0xffff_ffff),
        B::IPV4_DST | B::ARP_TPA => (F::Ipv4Dst, 0, 0xffff_ffff),
        B::TCP_SRC | B::UDP_SRC | B::SCTP_SRC => (F::TpSrc, 0, 0xffff),
        B::TCP_DST | B::UDP_DST | B::SCTP_DST => (F::TpDst, 0, 0xffff),
        B::ICMPV4_TYPE | B::ICMPV6_TYPE => (F::TpSrc, 0, 0xff),
        B::ICMPV4_CODE | B::ICMPV6_CODE => (F::TpDst, 0, 0xff),
        B::ARP_OP => (F::NwProto, 0, 0xff),
        B::ARP_SHA | B::IPV6_ND_SLL => (F::ArpSha, 0, 0xffff_ffff_ffff),
        B::ARP_THA | B::IPV6_ND_TLL => (F::ArpTha, 0, 0xffff_ffff_ffff),
        B::IPV6_SRC => (F::Ipv6Src, 0, u128::MAX),
        B::IPV6_DST => (F::Ipv6Dst, 0, u128::MAX),
        B::IPV6_FLABEL => (F::Ipv6Label, 0, 0xf_ffff),
        B::IPV6_ND_TARGET => (F::NdTarget, 0, u128::MAX),
        B::MPLS_LABEL => (F::MplsLse0, 12, 0xf_ffff),
        B::MPLS_TC => (F::MplsLse0, 9, 0x7),
        B::TUNNEL_ID => (F::TunId, 0, u128::from(u64::MAX)),
        _ => return None,
    })
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_ARP: u16 = 0x0806;
const ETH_RARP: u16 = 0x8035;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MCAST: u16 = 0x8848;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_SCTP: u8 = 132;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;

/// Translation state for one key.
struct Xlate<'v, 'c, V: PipelineView> {
    view: &'v V,
    ctx: &'c mut XlateCtx,
    key: FlowKey,
    /// The key translation started from.
    input_key: FlowKey,
    in_port: u32,
    res: XlateResult,
    /// Table and cookie slot of the rule whose actions are running.
    table_id: u8,
    rule_cookie: u64,
    table_miss_rule: bool,
    packet_out: bool,
    depth: usize,
    /// Current `Clone` nesting.
    clones: usize,
    stop: bool,
}

impl<V: PipelineView> Xlate<'_, '_, V> {
    fn emit(&mut self, a: DpAction) {
        if self.res.actions.len() >= MAX_ACTIONS {
            self.res.truncated = true;
            self.stop = true;
            return;
        }
        self.res.actions.push(a);
    }

    fn exact(&mut self, f: Field) {
        self.res.wc.set_exact(f);
    }

    fn is_ip(&mut self) -> bool {
        self.exact(Field::EthType);
        matches!(self.key.eth_type(), ETH_IPV4 | ETH_IPV6)
    }

    fn is_mpls(&mut self) -> bool {
        self.exact(Field::EthType);
        matches!(self.key.eth_type(), ETH_MPLS | ETH_MPLS_MCAST)
    }

    fn has_vlan(&mut self) -> bool {
        self.res.wc.set_field(
            Field::VlanTci,
            self.res.wc.field(Field::VlanTci) | u128::from(VLAN_PRESENT),
        );
        self.key.vlan_tci() & VLAN_PRESENT != 0
    }

    /// Whether the header `f` lives in is present in the working key.
    fn field_present(&mut self, f: BasicField) -> bool {
        use BasicField as B;
        let ty = |x: &mut Self, t: &[u16]| {
            x.exact(Field::EthType);
            t.contains(&x.key.eth_type())
        };
        let l4 = |x: &mut Self, p: &[u8]| {
            if !ty(x, &[ETH_IPV4, ETH_IPV6]) {
                return false;
            }
            x.exact(Field::NwProto);
            x.res.wc.set_field(
                Field::NwFrag,
                x.res.wc.field(Field::NwFrag) | u128::from(FRAG_LATER),
            );
            p.contains(&x.key.nw_proto()) && x.key.nw_frag() & FRAG_LATER == 0
        };
        match f {
            B::METADATA | B::ETH_DST | B::ETH_SRC | B::TUNNEL_ID => true,
            B::VLAN_VID | B::VLAN_PCP => self.has_vlan(),
            B::IP_DSCP | B::IP_ECN => ty(self, &[ETH_IPV4, ETH_IPV6]),
            B::IPV4_SRC | B::IPV4_DST => ty(self, &[ETH_IPV4]),
            B::ARP_OP | B::ARP_SPA | B::ARP_TPA | B::ARP_SHA | B::ARP_THA => {
                ty(self, &[ETH_ARP, ETH_RARP])
            }
            B::IPV6_SRC | B::IPV6_DST | B::IPV6_FLABEL => ty(self, &[ETH_IPV6]),
            B::TCP_SRC | B::TCP_DST => l4(self, &[IPPROTO_TCP]),
            B::UDP_SRC | B::UDP_DST => l4(self, &[IPPROTO_UDP]),
            B::SCTP_SRC | B::SCTP_DST => l4(self, &[IPPROTO_SCTP]),
            B::ICMPV4_TYPE | B::ICMPV4_CODE => ty(self, &[ETH_IPV4]) && l4(self, &[IPPROTO_ICMP]),
            B::ICMPV6_TYPE | B::ICMPV6_CODE => ty(self, &[ETH_IPV6]) && l4(self, &[IPPROTO_ICMPV6]),
            B::IPV6_ND_TARGET | B::IPV6_ND_SLL | B::IPV6_ND_TLL => {
                if !(ty(self, &[ETH_IPV6]) && l4(self, &[IPPROTO_ICMPV6])) {
                    return false;
                }
                self.exact(Field::TpSrc);
                let t = self.key.icmp_type();
                match f {
                    B::IPV6_ND_SLL => t == 135,
                    B::IPV6_ND_TLL => t == 136,
                    _ => t == 135 || t == 136,
                }
            }
            B::MPLS_LABEL | B::MPLS_TC => self.is_mpls(),
            _ => false,
        }
    }

    /// Un-wildcards every tag field a push or pop moves.
    fn pin_tags(&mut self) {
        for f in [
            Field::EthType,
            Field::VlanTci,
            Field::VlanTpid,
            Field::VlanInnerTci,
            Field::VlanInnerTpid,
            Field::MplsLse0,
            Field::MplsLse1,
            Field::MplsLse2,
        ] {
            self.exact(f);
        }
    }

    fn set_field(&mut self, f: &OxmField) {
        let OxmField::Basic { field, value, mask } = f else {
            self.res.skipped.push("set_field of a non-basic field");
            return;
        };
        let Some((kf, shift, vm)) = oxm_target(*field) else {
            self.res.skipped.push("set_field of an unsupported field");
            return;
        };
        if !self.field_present(*field) {
            return;
        }
        let m = mask.map_or(vm, |m| m & vm);
        let v = *value & m;
        self.key.set_masked(kf, v << shift, m << shift);
        match kf {
            // Pipeline-only fields: nothing to write in the packet.
            Field::Metadata | Field::TunId => {}
            _ => self.emit(DpAction::SetMasked(SetField {
                field: kf,
                value: v << shift,
                mask: m << shift,
            })),
        }
    }

    fn push_vlan(&mut self, tpid: u16) {
        self.pin_tags();
        let old = self.key.vlan_tci();
        let old_tpid = self.key.vlan_tpid();
        let tci = if old & VLAN_PRESENT != 0 {
            old
        } else {
            VLAN_PRESENT
        };
        self.key.set_vlan_inner_tci(old);
        self.key
            .set_vlan_inner_tpid(if old & VLAN_PRESENT != 0 { old_tpid } else { 0 });
        self.key.set_vlan_tci(tci);
        self.key.set_vlan_tpid(tpid);
        self.emit(DpAction::PushVlan { tpid, tci });
    }

    fn pop_vlan(&mut self) {
        self.pin_tags();
        if self.key.vlan_tci() & VLAN_PRESENT == 0 {
            return;
        }
        let (it, ip) = (self.key.vlan_inner_tci(), self.key.vlan_inner_tpid());
        self.key.set_vlan_tci(it);
        self.key.set_vlan_tpid(ip);
        self.key.set_vlan_inner_tci(0);
        self.key.set_vlan_inner_tpid(0);
        self.emit(DpAction::PopVlan);
    }

    fn push_mpls(&mut self, ety: u16) {
        self.pin_tags();
        let lse = if self.is_mpls() {
            self.key.mpls_lse(0) & !0x100
        } else if self.is_ip() {
            self.exact(Field::NwTtl);
            u32::from(self.key.nw_ttl())
        } else {
            0
        };
        let bos = if self.is_mpls() { 0 } else { 0x100 };
        self.key.set_mpls_lse(2, self.key.mpls_lse(1));
        self.key.set_mpls_lse(1, self.key.mpls_lse(0));
        self.key.set_mpls_lse(0, lse | bos);
        self.key.set_eth_type(ety);
        self.emit(DpAction::PushMpls {
            ethertype: ety,
            lse,
        });
    }

    fn pop_mpls(&mut self, ety: u16) {
        self.pin_tags();
        if !self.is_mpls() {
            return;
        }
        let bos = self.key.mpls_lse(0) & 0x100 != 0;
        self.key.set_mpls_lse(0, self.key.mpls_lse(1));
        self.key.set_mpls_lse(1, self.key.mpls_lse(2));
        self.key.set_mpls_lse(2, 0);
        if bos {
            self.key.set_eth_type(ety);
            if !matches!(ety, ETH_MPLS | ETH_MPLS_MCAST) {
                self.res.skipped.push("fields under a popped MPLS stack");
            }
        }
        self.emit(DpAction::PopMpls { ethertype: ety });
    }

    fn dec_nw_ttl(&mut self) {
        if !self.is_ip() {
            return;
        }
        if self.ctx.invalid_ttl_to_controller {
            self.exact(Field::NwTtl);
            if self.key.nw_ttl() <= 1 {
                self.controller(OFPCML_NO_BUFFER, packet_in_reason::INVALID_TTL);
                self.stop = true;
                return;
            }
        }
        self.key.set_nw_ttl(self.key.nw_ttl().wrapping_sub(1));
        self.emit(DpAction::DecIpTtl);
    }

    fn controller(&mut self, max_len: u16, reason: u8) {
        // The metadata travels in the action: it derives from the key's
        // metadata (always 0 from the datapath) and constant writes.
        self.exact(Field::Metadata);
        let metadata = self.key.metadata();
        let slot = self.ctx.cookies.intern(self.rule_cookie, metadata);
        let cookie = ControllerCookie {
            reason,
            table_id: self.table_id,
            slot,
        }
        .pack();
        self.res.packet_ins.push(PacketInInfo {
            reason,
            table_id: self.table_id,
            cookie: self.rule_cookie,
            metadata,
            max_len,
            dp_cookie: cookie,
        });
        let ml = if max_len == OFPCML_NO_BUFFER {
            0
        } else {
            u32::from(max_len)
        };
        self.emit(DpAction::Userspace {
            cookie,
            max_len: ml,
        });
    }

    /// The standard ports as `(OpenFlow port, datapath port)`: the view's
    /// ports, then `LOCAL` if the bridge has one.
    fn std_ports(&self) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = self.view.ports().into_iter().map(|p| (p, p)).collect();
        if let Some(l) = self.view.local_port() {
            if !v.iter().any(|&(_, dp)| dp == l) {
                v.push((ofport::LOCAL, l));
            }
        }
        v
    }

    fn output_ports(&mut self, flood: bool) {
        self.exact(Field::InPort);
        self.res.reads_port_state = true;
        for (of, dp) in self.std_ports() {
            if dp == self.in_port || self.view.port_config(of) & port_config::NO_FWD != 0 {
                continue;
            }
            if flood && self.view.port_no_flood(of) {
                continue;
            }
            self.emit(DpAction::Output(dp));
        }
    }

    fn output(&mut self, port: u32, max_len: u16) {
        match port {
            ofport::IN_PORT => {
                self.exact(Field::InPort);
                // A packet-out "from the controller" has no input port.
                if self.in_port <= ofport::MAX || self.in_port == ofport::LOCAL {
                    self.emit(DpAction::Output(self.in_port));
                }
            }
            ofport::ALL => self.output_ports(false),
            ofport::FLOOD => self.output_ports(true),
            ofport::CONTROLLER => {
                let reason = if self.table_miss_rule {
                    packet_in_reason::NO_MATCH
                } else {
                    packet_in_reason::ACTION
                };
                self.controller(max_len, reason);
            }
            ofport::LOCAL => {
                if let Some(p) = self.view.local_port() {
                    self.exact(Field::InPort);
                    if p != self.in_port {
                        self.emit(DpAction::Output(p));
                    }
                }
            }
            ofport::NORMAL => self.normal(),
            ofport::TABLE => {
                if self.packet_out && self.depth < MAX_DEPTH {
                    self.depth += 1;
                    let saved = (self.table_id, self.rule_cookie, self.table_miss_rule);
                    self.pipeline(0);
                    (self.table_id, self.rule_cookie, self.table_miss_rule) = saved;
                    self.depth -= 1;
                } else {
                    self.res.skipped.push("output:TABLE outside packet-out");
                }
            }
            p if p <= ofport::MAX => {
                self.exact(Field::InPort);
                if p != self.in_port
                    && self.view.port_exists(p)
                    && self.view.port_config(p) & port_config::NO_FWD == 0
                {
                    self.emit(DpAction::Output(p));
                }
            }
            _ => {}
        }
    }

    fn normal(&mut self) {
        self.res.reads_port_state = true;
        let in_cfg = self.view.port_vlan(self.in_port);
        let ports: Vec<(u32, PortVlan, bool)> = self
            .std_ports()
            .into_iter()
            .filter(|&(of, _)| self.view.port_config(of) & port_config::NO_FWD == 0)
            .map(|(of, dp)| (dp, self.view.port_vlan(of), !self.view.port_no_flood(of)))
            .collect();
        // The key's in_port is the working key's (same as the packet's).
        let d = normal::decide(
            &mut self.ctx.mac,
            self.ctx.may_learn,
            &self.key,
            &mut self.res.wc,
            &in_cfg,
            &ports,
            self.ctx.now_ms,
        );
        self.res.mac_generation = Some(self.ctx.mac.generation());
        // Emit outputs, adjusting the outer tag as each port wants it; if
        // the tag changed, the outputs run on a copy so that actions after
        // NORMAL see the packet as it was.
        let orig = self.key.vlan_tci();
        let mut cur = orig;
        let pcp = if orig & VLAN_PRESENT != 0 {
            orig & 0xe000
        } else {
            0
        };
        let mut acts = Vec::new();
        for (p, tagged) in d.outputs {
            let want = if tagged {
                VLAN_PRESENT | pcp | (d.vlan & 0xfff)
            } else {
                0
            };
            if want != cur {
                acts.push(match (cur & VLAN_PRESENT != 0, want & VLAN_PRESENT != 0) {
                    (true, false) => DpAction::PopVlan,
                    (false, true) => DpAction::PushVlan {
                        tpid: 0x8100,
                        tci: want,
                    },
                    _ => DpAction::SetMasked(SetField {
                        field: Field::VlanTci,
                        value: u128::from(want),
                        mask: 0xefff,
                    }),
                });
                cur = want;
            }
            acts.push(DpAction::Output(p));
        }
        let retagged = acts.iter().any(|a| !matches!(a, DpAction::Output(_)));
        if retagged && self.clones >= MAX_CLONE_DEPTH {
            self.res.truncated = true;
            self.stop = true;
        } else if retagged {
            self.emit(DpAction::Clone(acts));
        } else {
            for a in acts {
                self.emit(a);
            }
        }
    }

    fn group(&mut self, id: u32) {
        let Some(g) = self.view.group(id) else {
            return;
        };
        if self.depth >= MAX_DEPTH {
            self.res.truncated = true;
            return;
        }
        self.depth += 1;
        match g.group_type {
            group_type::ALL => {
                for (i, b) in g.buckets.iter().enumerate() {
                    self.res.groups_hit.push((id, i));
                    self.bucket(b);
                }
            }
            group_type::INDIRECT => {
                if let Some(b) = g.buckets.first() {
                    self.res.groups_hit.push((id, 0));
                    self.bucket(b);
                }
            }
            group_type::SELECT => {
                if let Some(b) = self.select_bucket(g.buckets) {
                    let i = g
                        .buckets
                        .iter()
                        .position(|x| std::ptr::eq(x, b))
                        .unwrap_or(0);
                    self.res.groups_hit.push((id, i));
                    self.bucket(b);
                }
            }
            group_type::FF => {
                self.res.reads_port_state = true;
                let live = g.buckets.iter().position(|b| self.bucket_live(b, 0));
                if let Some(i) = live {
                    self.res.groups_hit.push((id, i));
                    if let Some(b) = g.buckets.get(i) {
                        self.bucket(b);
                    }
                }
            }
            _ => self.res.skipped.push("unknown group type"),
        }
        self.depth -= 1;
    }

    fn bucket_live(&self, b: &Bucket, depth: usize) -> bool {
        let port_ok = b.watch_port == ofport::ANY || self.view.port_is_live(b.watch_port);
        let group_ok = b.watch_group == ofgroup::ANY || self.group_live(b.watch_group, depth + 1);
        port_ok && group_ok
    }

    fn group_live(&self, id: u32, depth: usize) -> bool {
        if depth >= MAX_DEPTH {
            return false;
        }
        self.view
            .group(id)
            .is_some_and(|g| g.buckets.iter().any(|b| self.bucket_live(b, depth)))
    }

    /// The select group's bucket for this key: among the live buckets,
    /// weighted, by a stable hash of the 5-tuple (of the MAC pair for
    /// non-IP packets).
    fn select_bucket<'b>(&mut self, all: &'b [Bucket]) -> Option<&'b Bucket> {
        if all
            .iter()
            .any(|b| b.watch_port != ofport::ANY || b.watch_group != ofgroup::ANY)
        {
            self.res.reads_port_state = true;
        }
        let buckets: Vec<&Bucket> = all.iter().filter(|b| self.bucket_live(b, 0)).collect();
        let total: u64 = buckets.iter().map(|b| u64::from(b.weight)).sum();
        if total == 0 {
            return None;
        }
        let mut hm = FlowMask::default();
        hm.set_exact(Field::EthType);
        if self.is_ip() {
            for f in [
                Field::NwProto,
                Field::Ipv4Src,
                Field::Ipv4Dst,
                Field::Ipv6Src,
                Field::Ipv6Dst,
                Field::TpSrc,
                Field::TpDst,
            ] {
                hm.set_exact(f);
            }
        } else {
            hm.set_exact(Field::EthSrc).set_exact(Field::EthDst);
        }
        self.res.wc.union_with(&hm);
        let h = self.key.hash_masked(&hm, 0x5eed_0f5e_1ec7) % total;
        let mut acc = 0u64;
        buckets.into_iter().find(|b| {
            acc += u64::from(b.weight);
            h < acc
        })
    }

    /// Runs a bucket on a copy of the packet: the bucket's actions in a
    /// `Clone`, the working key restored afterwards.
    fn bucket(&mut self, b: &Bucket) {
        if self.clones >= MAX_CLONE_DEPTH {
            self.res.truncated = true;
            self.stop = true;
            return;
        }
        self.clones += 1;
        let saved_key = self.key;
        let saved_acts = std::mem::take(&mut self.res.actions);
        let mut set = ActionSet::default();
        set.write(&b.actions);
        // Bucket actions are an action set (spec 5.6.1): run them in
        // the set's order.
        for a in set.ordered() {
            if self.stop {
                break;
            }
            self.action(&a);
        }
        let inner = std::mem::replace(&mut self.res.actions, saved_acts);
        self.key = saved_key;
        self.clones -= 1;
        if self.stop && !self.res.truncated {
            // An invalid-TTL stop inside a bucket only ends that bucket.
            self.stop = false;
        }
        if !inner.is_empty() {
            self.emit(DpAction::Clone(inner));
        }
    }

    fn action(&mut self, a: &Action) {
        match a {
            Action::Output { port, max_len } => self.output(*port, *max_len),
            Action::SetField(f) => self.set_field(f),
            Action::PushVlan(t) => self.push_vlan(*t),
            Action::PopVlan => self.pop_vlan(),
            Action::PushMpls(t) => self.push_mpls(*t),
            Action::PopMpls(t) => self.pop_mpls(*t),
            Action::SetNwTtl(t) => {
                if self.is_ip() {
                    self.key.set_nw_ttl(*t);
                    self.emit(DpAction::SetIpTtl(*t));
                }
            }
            Action::DecNwTtl => self.dec_nw_ttl(),
            Action::SetMplsTtl(t) => {
                if self.is_mpls() {
                    let l = self.key.mpls_lse(0);
                    self.key.set_mpls_lse(0, (l & !0xff) | u32::from(*t));
                    self.emit(DpAction::SetMplsTtl(*t));
                }
            }
            Action::DecMplsTtl => {
                if self.is_mpls() {
                    let l = self.key.mpls_lse(0);
                    self.key
                        .set_mpls_lse(0, (l & !0xff) | ((l & 0xff).wrapping_sub(1) & 0xff));
                    self.emit(DpAction::DecMplsTtl);
                }
            }
            Action::CopyTtlOut => {
                // Only meaningful right after push_mpls onto IP: the key
                // still holds the inner IP TTL.
                if self.is_mpls() {
                    self.exact(Field::NwTtl);
                    let t = self.key.nw_ttl();
                    if t != 0 {
                        let l = self.key.mpls_lse(0);
                        self.key.set_mpls_lse(0, (l & !0xff) | u32::from(t));
                        self.emit(DpAction::SetMplsTtl(t));
                    }
                }
            }
            Action::CopyTtlIn => self.res.skipped.push("copy_ttl_in"),
            Action::SetQueue(q) => self.res.queue = Some(*q),
            Action::Group(g) => self.group(*g),
            Action::PushPbb(_) => self.res.skipped.push("push_pbb"),
            Action::PopPbb => self.res.skipped.push("pop_pbb"),
            Action::Experimenter { .. } => self.res.skipped.push("experimenter action"),
        }
    }

    fn actions(&mut self, acts: &[Action]) {
        for a in acts {
            if self.stop {
                return;
            }
            self.action(a);
        }
    }

    /// Runs the pipeline from table `start` with an empty action set.
    fn pipeline(&mut self, start: u8) {
        let mut set = ActionSet::default();
        let mut table = Some(start);
        while let Some(tid) = table.take() {
            if self.stop {
                return;
            }
            let Some(t) = self.view.table(tid) else {
                break;
            };
            // Table counters are the caller's to credit, per packet, from
            // `tables_visited` (one translation may stand for a megaflow's
            // many packets, or for none when revalidating or tracing).
            if self.res.input_key_tables == self.res.tables_visited.len()
                && self.key == self.input_key
            {
                self.res.input_key_tables += 1;
            }
            let Some(rule) = t.lookup_uncounted(&self.key, &mut self.res.wc).cloned() else {
                // Table miss without a table-miss entry: drop.
                self.res.tables_visited.push((tid, None));
                return;
            };
            self.res.tables_visited.push((tid, Some(rule.clone())));
            self.res.rules_hit.push(rule.clone());
            self.table_id = tid;
            self.rule_cookie = rule.data.cookie;
            self.table_miss_rule = rule.priority() == 0 && *rule.mask() == FlowMask::CATCHALL;
            let mut ins: Vec<&Instruction> = rule.data.instructions.iter().collect();
            ins.sort_by_key(|i| match i {
                Instruction::Meter(_) => 0,
                Instruction::ApplyActions(_) => 1,
                Instruction::ClearActions => 2,
                Instruction::WriteActions(_) => 3,
                Instruction::WriteMetadata { .. } => 4,
                Instruction::GotoTable(_) => 5,
                _ => 6,
            });
            for i in ins {
                if self.stop {
                    return;
                }
                match i {
                    Instruction::Meter(m) => {
                        if self.view.meter_exists(*m) {
                            self.emit(DpAction::Meter(*m));
                        } else {
                            return;
                        }
                    }
                    Instruction::ApplyActions(a) => self.actions(a),
                    Instruction::ClearActions => set.clear(),
                    Instruction::WriteActions(a) => set.write(a),
                    Instruction::WriteMetadata { metadata, mask } => {
                        let md = (self.key.metadata() & !mask) | (metadata & mask);
                        self.key.set_metadata(md);
                    }
                    Instruction::GotoTable(n) if *n > tid => table = Some(*n),
                    Instruction::GotoTable(_) => self.res.skipped.push("backward goto_table"),
                    _ => self.res.skipped.push("experimenter instruction"),
                }
            }
        }
        for a in set.ordered() {
            if self.stop {
                return;
            }
            self.action(&a);
        }
    }
}

impl<'v, 'c, V: PipelineView> Xlate<'v, 'c, V> {
    fn new(view: &'v V, key: &FlowKey, ctx: &'c mut XlateCtx, packet_out: bool) -> Self {
        let mut res = XlateResult::default();
        // The datapath's own match fields are always exact.
        res.wc.set_exact(Field::RecircId);
        Self {
            view,
            ctx,
            key: *key,
            input_key: *key,
            in_port: key.in_port(),
            res,
            table_id: 0,
            rule_cookie: u64::MAX,
            table_miss_rule: false,
            packet_out,
            depth: 0,
            clones: 0,
            stop: false,
        }
    }

    fn finish(self) -> XlateResult {
        let mut res = self.res;
        if res.truncated {
            res.actions.clear();
        }
        res
    }
}

/// Runs the OpenFlow pipeline of `view` on `key` (see the module
/// documentation).
pub fn translate(view: &impl PipelineView, key: &FlowKey, ctx: &mut XlateCtx) -> XlateResult {
    let mut x = Xlate::new(view, key, ctx, false);
    x.pipeline(0);
    x.finish()
}

/// Translates the action list of a packet-out whose packet has `key`
/// (its `in_port` is the packet-out's in_port): the actions run as
/// apply-actions, and `output:TABLE` submits the packet to table 0.
pub fn translate_packet_out(
    view: &impl PipelineView,
    key: &FlowKey,
    actions: &[Action],
    ctx: &mut XlateCtx,
) -> XlateResult {
    let mut x = Xlate::new(view, key, ctx, true);
    x.actions(actions);
    x.finish()
}

/// Runs only NORMAL on `key`: what a bridge in `fail_mode=standalone`
/// does when no controller is connected.
pub fn translate_normal(
    view: &impl PipelineView,
    key: &FlowKey,
    ctx: &mut XlateCtx,
) -> XlateResult {
    let mut x = Xlate::new(view, key, ctx, false);
    x.normal();
    x.finish()
}

/// Whether adding, removing or modifying `rule` in table `table_id` can
/// change the translation of the megaflow `(key, mask)` (in OpenFlow port
/// numbers, as translation sees it), whose translation looked up
/// `visited` (table ids, in order) and of which the first
/// `input_key_tables` saw the packet's own key
/// ([`XlateResult::input_key_tables`]).
///
/// A table the translation never reached cannot matter.  In a table it
/// reached with the packet's own key, the change matters only if the
/// rule's match overlaps the megaflow's: otherwise the megaflow fixes a
/// bit to a value the rule's match excludes, for every packet it covers.
/// In a table reached after a rewrite, any change may matter.
pub fn rule_change_matters(
    visited: impl IntoIterator<Item = u8>,
    input_key_tables: usize,
    key: &FlowKey,
    mask: &FlowMask,
    table_id: u8,
    rule: &Arc<Rule>,
) -> bool {
    RuleChange::new(table_id, Arc::clone(rule)).matters(visited, input_key_tables, key, mask)
}

/// A changed rule, prepared for testing many megaflows against it
/// ([`rule_change_matters`]): the words its mask uses, last first (the L4
/// and L3 words tell megaflows apart soonest).
#[derive(Clone, Debug)]
pub struct RuleChange {
    table_id: u8,
    rule: Arc<Rule>,
    words: Vec<usize>,
}

impl RuleChange {
    /// Prepares `rule`, changed in table `table_id`.
    pub fn new(table_id: u8, rule: Arc<Rule>) -> Self {
        let words = rule
            .mask()
            .key
            .as_words()
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, w)| **w != 0)
            .map(|(i, _)| i)
            .collect();
        Self {
            table_id,
            rule,
            words,
        }
    }

    /// The changed rule.
    pub fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    /// See [`rule_change_matters`].
    pub fn matters(
        &self,
        visited: impl IntoIterator<Item = u8>,
        input_key_tables: usize,
        key: &FlowKey,
        mask: &FlowMask,
    ) -> bool {
        match visited.into_iter().position(|t| t == self.table_id) {
            None => false,
            Some(i) if i >= input_key_tables => true,
            Some(_) => {
                let (rk, rm) = (self.rule.key().as_words(), self.rule.mask().key.as_words());
                let (k, m) = (key.as_words(), mask.key.as_words());
                self.words
                    .iter()
                    .all(|&w| match (rk.get(w), rm.get(w), k.get(w), m.get(w)) {
                        (Some(a), Some(ma), Some(b), Some(mb)) => (a ^ b) & ma & mb == 0,
                        _ => true,
                    })
            }
        }
    }
}

/// Credits the table lookup counters of `view` for `packets` packets that
/// went through the tables `r` visited.
pub fn credit_tables(view: &impl PipelineView, r: &XlateResult, packets: u64) {
    for (tid, hit) in &r.tables_visited {
        if let Some(t) = view.table(*tid) {
            t.record_lookups(packets, if hit.is_some() { packets } else { 0 });
        }
    }
}

/// Translates a packet as the datapath sees it: `key` and the result's
/// actions use datapath port numbers, converted with
/// [`PipelineView::dp_to_of`] / [`PipelineView::of_to_dp`] around the
/// pipeline (which works in OpenFlow numbers).  With
/// [`PipelineView::fail_open`] only NORMAL runs; packets from a port
/// with `OFPPC_NO_RECV` are dropped.  The in_port mapping is
/// a bijection and `in_port` is matched exactly or not at all, so the
/// mask holds for the datapath key as it is.
pub fn translate_datapath(
    view: &impl PipelineView,
    key: &FlowKey,
    ctx: &mut XlateCtx,
) -> XlateResult {
    let mut k = *key;
    let in_port = view.dp_to_of(key.in_port());
    k.set_in_port(in_port);
    if view.port_config(in_port) & port_config::NO_RECV != 0 {
        // OFPPC_NO_RECV: everything received on the port is dropped.
        let mut r = XlateResult::default();
        r.wc.set_exact(Field::RecircId).set_exact(Field::InPort);
        return r;
    }
    let mut r = if view.fail_open() {
        translate_normal(view, &k, ctx)
    } else {
        translate(view, &k, ctx)
    };
    map_outputs(view, &mut r.actions);
    r
}

/// Rewrites every `Output` (also inside `Clone`) from an OpenFlow port to
/// its datapath port ([`PipelineView::of_to_dp`]); outputs to ports
/// without one are removed.
pub fn map_outputs(view: &impl PipelineView, actions: &mut Vec<DpAction>) {
    actions.retain_mut(|a| match a {
        DpAction::Output(p) => match view.of_to_dp(*p) {
            Some(dp) => {
                *p = dp;
                true
            }
            None => false,
        },
        DpAction::Clone(inner) => {
            map_outputs(view, inner);
            true
        }
        _ => true,
    });
}

/// What revalidation decided for a cached megaflow.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revalidation {
    /// Still correct as it is.
    Keep,
    /// The mask still covers the decision but the actions changed.
    Update(Vec<DpAction>),
    /// The megaflow is too wide now (or the translation failed): delete.
    Delete,
}

/// Re-translates a cached megaflow (`mask` and `actions` as installed,
/// `key` any key the megaflow matches) against `view`, without learning,
/// and says whether it may stay.  The megaflow stays valid iff the new
/// translation's mask is within `mask`: every packet the megaflow
/// matches then agrees with `key` on every bit the new decision read.
/// Prefer the full key of the packet that created the megaflow: the
/// classifier may read different bits for different keys of one
/// megaflow (e.g. a prefix trie rules a subtable out for the all-zero
/// masked address but not for the real one), so the masked key can
/// cause needless deletes (never wrong keeps).
/// The switch runs this over the affected megaflows after each table,
/// group or port change (and when the MAC-learning generation moved)
/// before answering a barrier.  The result's `rules_hit` are the rules
/// to credit with the megaflow's new packets.
pub fn revalidate(
    view: &impl PipelineView,
    key: &FlowKey,
    mask: &FlowMask,
    actions: &[DpAction],
    ctx: &mut XlateCtx,
) -> (Revalidation, XlateResult) {
    let learn = std::mem::replace(&mut ctx.may_learn, false);
    let r = translate(view, key, ctx);
    ctx.may_learn = learn;
    let verdict = if r.truncated || !r.wc.is_subset_of(mask) {
        Revalidation::Delete
    } else if r.actions == actions {
        Revalidation::Keep
    } else {
        Revalidation::Update(r.actions.clone())
    };
    (verdict, r)
}
