//! Actions and instructions: parsing into OpenFlow 1.3 (as `ovs-ofctl`
//! encodes them), the consistency checks against the match that decide
//! whether OpenFlow 1.3 can carry them, and printing.

use super::fields::{self, F, FlowFields, hex_c};
use super::lex::{self, KeyValue, KeyValues};
use super::{ErrorKind, FlowTextError};
use crate::wire::action::Action;
use crate::wire::instruction::Instruction;
use crate::wire::oxm::{BasicField, OxmField, OxmHeader};

const CFI: u16 = 0x1000;

/// What the actions so far have done to the packet, as far as later
/// actions' checks care (OVS's copy of the match's flow).
#[derive(Clone, Copy, Debug)]
struct Ctx {
    dl_type: u16,
    nw_proto: u8,
    tp_src: u16,
    tp_dst: u16,
    tci: u16,
}

impl Ctx {
    fn is_ip_any(&self) -> bool {
        matches!(self.dl_type, 0x0800 | 0x86dd)
    }
    fn is_mpls(&self) -> bool {
        matches!(self.dl_type, 0x8847 | 0x8848)
    }
}

/// One parsed item, before grouping into instructions.
enum Item {
    Meter(u32),
    Apply(Action),
    Clear,
    Write(Vec<Action>),
    WriteMetadata(u64, u64),
    Goto(u8),
}

impl Item {
    /// Position in OpenFlow 1.1+'s required instruction order.
    fn rank(&self) -> u8 {
        match self {
            Item::Meter(_) => 0,
            Item::Apply(_) => 1,
            Item::Clear => 2,
            Item::Write(_) => 3,
            Item::WriteMetadata(..) => 4,
            Item::Goto(_) => 5,
        }
    }
}

const RANK_NAMES: [&str; 6] = [
    "meter",
    "apply_actions",
    "clear_actions",
    "write_actions",
    "write_metadata",
    "goto_table",
];

fn bad(kv: &KeyValue<'_>, detail: &str) -> FlowTextError {
    let token = if kv.value.is_empty() {
        kv.key
    } else {
        kv.value
    };
    let col = if kv.value.is_empty() {
        kv.key_col
    } else {
        kv.value_col
    };
    FlowTextError::new(
        ErrorKind::BadValue,
        token,
        col,
        format!("{}: {detail}", kv.key),
    )
}

fn unsupported(kv: &KeyValue<'_>, detail: &str) -> FlowTextError {
    FlowTextError::new(ErrorKind::Unsupported, kv.key, kv.key_col, detail)
}

fn inconsistent(kv: &KeyValue<'_>, detail: &str) -> FlowTextError {
    FlowTextError::new(ErrorKind::Inconsistent, kv.key, kv.key_col, detail)
}

fn uint(kv: &KeyValue<'_>, max: u128, what: &str) -> Result<u128, FlowTextError> {
    lex::parse_c_uint(kv.value)
        .filter(|&v| v <= max)
        .ok_or_else(|| bad(kv, &format!("invalid {what}")))
}

fn set_field(field: BasicField, value: u128) -> Action {
    Action::SetField(OxmField::exact(field, value))
}

/// Parses the text after `actions=` (`base` is its byte offset in the
/// whole flow, for columns).  `table` is the flow's table, for
/// `goto_table` checks.
pub(crate) fn parse_actions(
    text: &str,
    base: usize,
    flow: &FlowFields,
    table: u8,
) -> Result<Vec<Instruction>, FlowTextError> {
    let mut ctx = Ctx {
        dl_type: flow.dl_type_value(),
        nw_proto: flow.nw_proto_value(),
        tp_src: u16::try_from(flow.tp_src.0 & 0xffff).unwrap_or(0),
        tp_dst: u16::try_from(flow.tp_dst.0 & 0xffff).unwrap_or(0),
        tci: u16::try_from(flow.vlan_tci.0 & 0xffff).unwrap_or(0),
    };
    let mut items = Vec::new();
    let mut drop = None;
    parse_list(text, base, &mut ctx, table, true, &mut items, &mut drop)?;
    if let Some((tok, col)) = drop {
        if !items.is_empty() {
            return Err(FlowTextError::new(
                ErrorKind::DropWithOthers,
                tok,
                col,
                "\"drop\" must not be accompanied by any other action or instruction",
            ));
        }
    }
    Ok(group(items))
}

/// Groups items into instructions in text order, consecutive applied
/// actions into one Apply-Actions, as OVS encodes them.
fn group(items: Vec<(Item, usize)>) -> Vec<Instruction> {
    let mut out: Vec<Instruction> = Vec::new();
    let mut apply: Vec<Action> = Vec::new();
    for (item, _) in items {
        if let Item::Apply(a) = item {
            apply.push(a);
            continue;
        }
        if !apply.is_empty() {
            out.push(Instruction::ApplyActions(std::mem::take(&mut apply)));
        }
        match item {
            Item::Meter(m) => out.push(Instruction::Meter(m)),
            Item::Clear => out.push(Instruction::ClearActions),
            Item::Write(list) if list.is_empty() => {}
            Item::Write(list) => out.push(Instruction::WriteActions(list)),
            Item::WriteMetadata(metadata, mask) => {
                out.push(Instruction::WriteMetadata { metadata, mask })
            }
            Item::Goto(t) => out.push(Instruction::GotoTable(t)),
            Item::Apply(_) => {}
        }
    }
    if !apply.is_empty() {
        out.push(Instruction::ApplyActions(apply));
    }
    out
}

#[allow(clippy::too_many_lines)]
fn parse_list<'a>(
    text: &'a str,
    base: usize,
    ctx: &mut Ctx,
    table: u8,
    top: bool,
    items: &mut Vec<(Item, usize)>,
    drop: &mut Option<(&'a str, usize)>,
) -> Result<(), FlowTextError> {
    let mut rank = 1u8;
    for kv in KeyValues::new(text, base) {
        let kv = kv?;
        let key = kv.key.to_ascii_lowercase();
        let item: Item = match key.as_str() {
            "drop" => {
                *drop = Some((kv.key, kv.key_col));
                continue;
            }
            "output" => {
                if kv.value.contains('[') || kv.value.contains('=') {
                    return Err(unsupported(
                        &kv,
                        "output to a field or with max_len needs Nicira extensions",
                    ));
                }
                let p = fields::parse_port(kv.value)
                    .ok_or_else(|| bad(&kv, "output to unknown port"))?;
                Item::Apply(output(&kv, p)?)
            }
            "controller" => Item::Apply(controller(&kv)?),
            "group" => Item::Apply(Action::Group(narrow(uint(&kv, u32::MAX.into(), "group")?))),
            "set_queue" => Item::Apply(Action::SetQueue(narrow(uint(
                &kv,
                u32::MAX.into(),
                "queue",
            )?))),
            "set_field" => {
                let mut acts = parse_set_field(&kv, ctx)?;
                let last = acts.pop();
                for a in acts {
                    items.push((Item::Apply(a), kv.key_col));
                }
                match last {
                    Some(a) => Item::Apply(a),
                    None => continue,
                }
            }
            "mod_vlan_vid" | "set_vlan_vid" => {
                let vid = uint(&kv, 0xffff, "VLAN VID")?;
                if vid & !0xfff != 0 {
                    return Err(bad(&kv, "not a valid VLAN VID"));
                }
                push_vlan_if_needed(&kv, ctx, key == "mod_vlan_vid", items)?;
                Item::Apply(set_field(BasicField::VLAN_VID, vid | u128::from(CFI)))
            }
            "mod_vlan_pcp" | "set_vlan_pcp" => {
                let pcp = uint(&kv, 0xff, "VLAN PCP")?;
                if pcp > 7 {
                    return Err(bad(&kv, "not a valid VLAN PCP"));
                }
                push_vlan_if_needed(&kv, ctx, key == "mod_vlan_pcp", items)?;
                Item::Apply(set_field(BasicField::VLAN_PCP, pcp))
            }
            "strip_vlan" | "pop_vlan" => {
                if ctx.tci & CFI == 0 && top {
                    return Err(inconsistent(&kv, "no VLAN to pop (OpenFlow 1.0 only)"));
                }
                ctx.tci = 0;
                Item::Apply(Action::PopVlan)
            }
            "push_vlan" => {
                let e = uint(&kv, 0xffff, "ethertype")?;
                if e != 0x8100 && e != 0x88a8 {
                    return Err(bad(&kv, "not a valid VLAN ethertype"));
                }
                ctx.tci |= CFI;
                Item::Apply(Action::PushVlan(narrow(e)))
            }
            "mod_dl_src" | "mod_dl_dst" => {
                let mac = fields::parse_eth(kv.value)
                    .ok_or_else(|| bad(&kv, "invalid Ethernet address"))?;
                let f = if key == "mod_dl_src" {
                    BasicField::ETH_SRC
                } else {
                    BasicField::ETH_DST
                };
                Item::Apply(set_field(f, mac))
            }
            "mod_nw_src" | "mod_nw_dst" => {
                let ip =
                    fields::parse_ip4(kv.value).ok_or_else(|| bad(&kv, "invalid IP address"))?;
                if ctx.dl_type != 0x0800 {
                    check(top, &kv, "needs an IPv4 match")?;
                }
                let f = if key == "mod_nw_src" {
                    BasicField::IPV4_SRC
                } else {
                    BasicField::IPV4_DST
                };
                Item::Apply(set_field(f, ip))
            }
            "mod_nw_tos" => {
                let tos = uint(&kv, 0xff, "TOS")?;
                if tos & !0xfc != 0 {
                    return Err(bad(&kv, "not a valid TOS"));
                }
                if !ctx.is_ip_any() {
                    check(top, &kv, "needs an IP match")?;
                }
                Item::Apply(set_field(BasicField::IP_DSCP, tos >> 2))
            }
            "mod_nw_ecn" => {
                let ecn = uint(&kv, 0xff, "ECN")?;
                if ecn > 3 {
                    return Err(bad(&kv, "not a valid ECN"));
                }
                if !ctx.is_ip_any() {
                    check(top, &kv, "needs an IP match")?;
                }
                Item::Apply(set_field(BasicField::IP_ECN, ecn))
            }
            "mod_nw_ttl" | "set_nw_ttl" => {
                let ttl = uint(&kv, 0xff, "TTL")?;
                if !ctx.is_ip_any() {
                    check(top, &kv, "needs an IP match")?;
                }
                Item::Apply(Action::SetNwTtl(narrow(ttl)))
            }
            "mod_tp_src" | "mod_tp_dst" => {
                let port = uint(&kv, 0xffff, "port")?;
                let src = key == "mod_tp_src";
                let f = match (ctx.is_ip_any(), ctx.nw_proto, src) {
                    (true, 6, true) => BasicField::TCP_SRC,
                    (true, 6, false) => BasicField::TCP_DST,
                    (true, 17, true) => BasicField::UDP_SRC,
                    (true, 17, false) => BasicField::UDP_DST,
                    (true, 132, true) => BasicField::SCTP_SRC,
                    (true, 132, false) => BasicField::SCTP_DST,
                    _ => {
                        return Err(inconsistent(
                            &kv,
                            "needs a TCP, UDP or SCTP match (OpenFlow 1.0 only)",
                        ));
                    }
                };
                Item::Apply(set_field(f, port))
            }
            "dec_ttl" => {
                if !kv.value.is_empty() {
                    return Err(unsupported(
                        &kv,
                        "dec_ttl with controller ids needs Nicira extensions",
                    ));
                }
                if !ctx.is_ip_any() {
                    check(top, &kv, "needs an IP match")?;
                }
                Item::Apply(Action::DecNwTtl)
            }
            "set_mpls_label" | "set_mpls_tc" | "set_mpls_ttl" | "dec_mpls_ttl" => {
                let action = match key.as_str() {
                    "set_mpls_label" => {
                        set_field(BasicField::MPLS_LABEL, uint(&kv, 0xfffff, "MPLS label")?)
                    }
                    "set_mpls_tc" => set_field(BasicField::MPLS_TC, uint(&kv, 7, "MPLS TC")?),
                    "set_mpls_ttl" => Action::SetMplsTtl(narrow(uint(&kv, 0xff, "MPLS TTL")?)),
                    _ => Action::DecMplsTtl,
                };
                if !ctx.is_mpls() {
                    check(top, &kv, "needs an MPLS match")?;
                }
                Item::Apply(action)
            }
            "push_mpls" => {
                let e = uint(&kv, 0xffff, "ethertype")?;
                if e != 0x8847 && e != 0x8848 {
                    return Err(bad(&kv, "not a valid MPLS ethertype"));
                }
                ctx.dl_type = narrow(e);
                Item::Apply(Action::PushMpls(narrow(e)))
            }
            "pop_mpls" => {
                let e: u16 = narrow(uint(&kv, 0xffff, "ethertype")?);
                if !ctx.is_mpls() {
                    check(top, &kv, "needs an MPLS match")?;
                }
                ctx.dl_type = e;
                Item::Apply(Action::PopMpls(e))
            }
            "meter" => Item::Meter(narrow(uint(&kv, u32::MAX.into(), "meter")?)),
            "clear_actions" => Item::Clear,
            "write_actions" => {
                if !top {
                    return Err(nested(&kv));
                }
                let mut inner_ctx = *ctx;
                let mut inner = Vec::new();
                let mut inner_drop = None;
                parse_list(
                    kv.value,
                    kv.value_col - 1,
                    &mut inner_ctx,
                    table,
                    false,
                    &mut inner,
                    &mut inner_drop,
                )?;
                let mut list = Vec::new();
                for (item, _) in inner {
                    if let Item::Apply(a) = item {
                        list.push(a);
                    }
                }
                Item::Write(list)
            }
            "write_metadata" => {
                let (v, m) = match kv.value.split_once('/') {
                    Some((v, m)) => (v, Some(m)),
                    None => (kv.value, None),
                };
                let v = lex::parse_c_uint(v)
                    .and_then(|x| u64::try_from(x).ok())
                    .ok_or_else(|| bad(&kv, "invalid metadata"))?;
                let m = match m {
                    Some(m) => lex::parse_c_uint(m)
                        .and_then(|x| u64::try_from(x).ok())
                        .ok_or_else(|| bad(&kv, "invalid metadata mask"))?,
                    None => u64::MAX,
                };
                Item::WriteMetadata(v, m)
            }
            "goto_table" => {
                let t: u8 = narrow(uint(&kv, 0xff, "table id")?);
                if t <= table {
                    return Err(inconsistent(
                        &kv,
                        "goto_table must name a later table (OFPBIC_BAD_TABLE_ID)",
                    ));
                }
                Item::Goto(t)
            }
            "apply_actions" => {
                return Err(unsupported(&kv, "apply_actions is the default instruction"));
            }
            "enqueue" => {
                // enqueue:PORT:QUEUE or enqueue(PORT,QUEUE): OVS sends
                // set_queue, output, Nicira pop_queue.
                let Some((p, q)) = kv.value.split_once([':', ',']) else {
                    return Err(bad(
                        &kv,
                        "syntax is enqueue:PORT:QUEUE or enqueue(PORT,QUEUE)",
                    ));
                };
                let p = fields::parse_port(p).ok_or_else(|| bad(&kv, "enqueue to unknown port"))?;
                let q = lex::parse_c_uint(q)
                    .and_then(|q| u32::try_from(q).ok())
                    .ok_or_else(|| bad(&kv, "invalid queue"))?;
                let mut out = output(&kv, p)?;
                if let Action::Output { max_len, .. } = &mut out {
                    *max_len = u16::MAX;
                }
                items.push((Item::Apply(Action::SetQueue(q)), kv.key_col));
                items.push((Item::Apply(out), kv.key_col));
                Item::Apply(pop_queue())
            }
            "pop_queue" => Item::Apply(pop_queue()),
            "resubmit" | "learn" | "load" | "move" | "note" | "set_tunnel" | "set_tunnel64"
            | "ct" | "ct_clear" | "multipath" | "bundle" | "bundle_load" | "output_reg"
            | "push" | "pop" | "fin_timeout" | "sample" | "exit" | "conjunction" | "clone"
            | "check_pkt_larger" => {
                return Err(unsupported(&kv, "Nicira extension action, not implemented"));
            }
            _ => match fields::parse_port(kv.key) {
                Some(p) => Item::Apply(output(&kv, p)?),
                None => {
                    return Err(FlowTextError::new(
                        ErrorKind::UnknownAction,
                        kv.key,
                        kv.key_col,
                        "unknown action",
                    ));
                }
            },
        };
        if !top && !matches!(item, Item::Apply(_)) {
            return Err(nested(&kv));
        }
        let next = item.rank();
        if rank != 1 && next <= rank {
            let detail = if next == rank {
                format!(
                    "duplicate {} instruction not allowed, for OpenFlow 1.1+ compatibility",
                    RANK_NAMES[usize::from(rank)]
                )
            } else {
                format!(
                    "invalid instruction ordering: {} must appear before {}, for OpenFlow 1.1+ compatibility",
                    RANK_NAMES[usize::from(next)],
                    RANK_NAMES[usize::from(rank)]
                )
            };
            return Err(FlowTextError::new(
                ErrorKind::BadOrder,
                kv.key,
                kv.key_col,
                detail,
            ));
        }
        rank = next;
        items.push((item, kv.key_col));
    }
    Ok(())
}

fn nested(kv: &KeyValue<'_>) -> FlowTextError {
    FlowTextError::new(
        ErrorKind::BadOrder,
        kv.key,
        kv.key_col,
        "instruction not allowed inside write_actions",
    )
}

/// Inside `write_actions` OVS does not judge consistency (an action set
/// is not ordered); at top level an inconsistent action means "OpenFlow
/// 1.0 only", which `-O OpenFlow13` refuses.
fn check(top: bool, kv: &KeyValue<'_>, why: &str) -> Result<(), FlowTextError> {
    if top {
        Err(inconsistent(kv, &format!("{why} (OpenFlow 1.0 only)")))
    } else {
        Ok(())
    }
}

fn narrow<T: TryFrom<u128> + Default>(v: u128) -> T {
    T::try_from(v).unwrap_or_default()
}

fn output(kv: &KeyValue<'_>, p: u16) -> Result<Action, FlowTextError> {
    // Valid: real ports and the reserved ports IN_PORT..LOCAL; not ANY.
    if (0xff00..0xfff8).contains(&p) || p == 0xffff {
        return Err(FlowTextError::new(
            ErrorKind::Inconsistent,
            if kv.value.is_empty() {
                kv.key
            } else {
                kv.value
            },
            if kv.value.is_empty() {
                kv.key_col
            } else {
                kv.value_col
            },
            "invalid output port (OFPBAC_BAD_OUT_PORT)",
        ));
    }
    Ok(Action::Output {
        port: fields::port_to_ofp11(p),
        max_len: if p == 0xfffd { 0xffff } else { 0 },
    })
}

/// Nicira's experimenter id.
const NX_VENDOR_ID: u32 = 0x0000_2320;
/// `NXAST_CONTROLLER` subtype.
const NXAST_CONTROLLER: u16 = 20;
/// Packet-in reasons by their `ovs-ofctl` names (OpenFlow 1.3 numbering).
const REASONS: [&str; 6] = [
    "no_match",
    "action",
    "invalid_ttl",
    "action_set",
    "group",
    "packet_out",
];

/// `controller`, `controller:N`, `controller(key=value,...)`.  With only
/// `max_len` (or the defaults) this is an output to CONTROLLER; with a
/// reason other than `action` or a controller id it is Nicira's
/// `NXAST_CONTROLLER`, as `ovs-ofctl` encodes it.
fn controller(kv: &KeyValue<'_>) -> Result<Action, FlowTextError> {
    let mut max_len: u16 = 0xffff;
    let mut reason: u8 = 1;
    let mut id: u16 = 0;
    if kv.value.contains('=') {
        for inner in KeyValues::new(kv.value, kv.value_col - 1) {
            let inner = inner?;
            match inner.key {
                "max_len" => max_len = inner.u16_value("max_len")?,
                "reason" => {
                    let r = REASONS
                        .iter()
                        .position(|n| *n == inner.value)
                        .ok_or_else(|| inner.value_err(ErrorKind::BadValue, "unknown reason"))?;
                    reason = u8::try_from(r).unwrap_or(1);
                }
                "id" => id = inner.u16_value("controller id")?,
                _ => {
                    return Err(FlowTextError::new(
                        ErrorKind::Unsupported,
                        inner.key,
                        inner.key_col,
                        "controller option not implemented (needs NXAST_CONTROLLER2)",
                    ));
                }
            }
        }
    } else if !kv.value.is_empty() {
        max_len = narrow(uint(kv, 0xffff, "max_len")?);
    }
    if reason == 1 && id == 0 {
        return Ok(Action::Output {
            port: crate::wire::consts::port::CONTROLLER,
            max_len,
        });
    }
    let mut data = Vec::with_capacity(8);
    data.extend_from_slice(&NXAST_CONTROLLER.to_be_bytes());
    data.extend_from_slice(&max_len.to_be_bytes());
    data.extend_from_slice(&id.to_be_bytes());
    data.push(reason);
    data.push(0);
    Ok(Action::Experimenter {
        experimenter: NX_VENDOR_ID,
        data,
    })
}

/// `NXAST_POP_QUEUE` subtype.
const NXAST_POP_QUEUE: u16 = 5;

/// Nicira's pop_queue action.
fn pop_queue() -> Action {
    let mut data = NXAST_POP_QUEUE.to_be_bytes().to_vec();
    data.extend_from_slice(&[0; 6]);
    Action::Experimenter {
        experimenter: NX_VENDOR_ID,
        data,
    }
}

/// Prints the Nicira actions this module writes (`NXAST_CONTROLLER`,
/// `NXAST_POP_QUEUE`) as OVS does, or `None` for other experimenter
/// actions.
fn format_nx_controller(experimenter: u32, data: &[u8]) -> Option<String> {
    if experimenter != NX_VENDOR_ID || data.len() != 8 {
        return None;
    }
    let subtype = u16::from_be_bytes([data[0], data[1]]);
    if subtype == NXAST_POP_QUEUE {
        return Some("pop_queue".into());
    }
    if subtype != NXAST_CONTROLLER {
        return None;
    }
    let max_len = u16::from_be_bytes([data[2], data[3]]);
    let id = u16::from_be_bytes([data[4], data[5]]);
    let reason = data[6];
    if reason == 1 && id == 0 {
        return Some(format!("CONTROLLER:{max_len}"));
    }
    let mut parts = Vec::new();
    if reason != 1 {
        let name = REASONS
            .get(usize::from(reason))
            .map_or_else(|| reason.to_string(), |n| (*n).to_string());
        parts.push(format!("reason={name}"));
    }
    if max_len != u16::MAX {
        parts.push(format!("max_len={max_len}"));
    }
    if id != 0 {
        parts.push(format!("id={id}"));
    }
    Some(format!("controller({})", parts.join(",")))
}

fn push_vlan_if_needed(
    kv: &KeyValue<'_>,
    ctx: &mut Ctx,
    may_push: bool,
    items: &mut Vec<(Item, usize)>,
) -> Result<(), FlowTextError> {
    if ctx.tci & CFI == 0 {
        if !may_push {
            return Err(inconsistent(kv, "no VLAN to modify (OpenFlow 1.0 only)"));
        }
        items.push((Item::Apply(Action::PushVlan(0x8100)), kv.key_col));
    }
    ctx.tci |= CFI;
    Ok(())
}

/// The OpenFlow 1.3 field a `set_field` name writes, with its value
/// limit (`mf_is_value_valid`) and whether the match allows it.
fn set_field_target(f: F, ctx: &Ctx) -> Option<(BasicField, u128, bool)> {
    use F::*;
    let ip = ctx.is_ip_any();
    let v4 = ctx.dl_type == 0x0800;
    let v6 = ctx.dl_type == 0x86dd;
    let arp = matches!(ctx.dl_type, 0x0806 | 0x8035);
    let l4 = |p: u8| ip && ctx.nw_proto == p;
    let icmp6 = v6 && ctx.nw_proto == 58;
    let nd = |t: &[u16]| icmp6 && ctx.tp_dst == 0 && t.contains(&ctx.tp_src);
    let e = u128::MAX;
    Some(match f {
        EthSrc => (BasicField::ETH_SRC, e, true),
        EthDst => (BasicField::ETH_DST, e, true),
        VlanVid => (BasicField::VLAN_VID, 0x1fff, ctx.tci & CFI != 0),
        VlanPcp => (BasicField::VLAN_PCP, 7, true),
        IpDscp => (BasicField::IP_DSCP, 63, ip),
        NwEcn => (BasicField::IP_ECN, 3, ip),
        Ipv4Src => (BasicField::IPV4_SRC, e, v4),
        Ipv4Dst => (BasicField::IPV4_DST, e, v4),
        TcpSrc => (BasicField::TCP_SRC, e, l4(6)),
        TcpDst => (BasicField::TCP_DST, e, l4(6)),
        UdpSrc => (BasicField::UDP_SRC, e, l4(17)),
        UdpDst => (BasicField::UDP_DST, e, l4(17)),
        SctpSrc => (BasicField::SCTP_SRC, e, l4(132)),
        SctpDst => (BasicField::SCTP_DST, e, l4(132)),
        IcmpType => (BasicField::ICMPV4_TYPE, e, v4 && ctx.nw_proto == 1),
        IcmpCode => (BasicField::ICMPV4_CODE, e, v4 && ctx.nw_proto == 1),
        Icmp6Type => (BasicField::ICMPV6_TYPE, e, icmp6),
        Icmp6Code => (BasicField::ICMPV6_CODE, e, icmp6),
        ArpOp => (BasicField::ARP_OP, e, arp),
        ArpSpa => (BasicField::ARP_SPA, e, arp),
        ArpTpa => (BasicField::ARP_TPA, e, arp),
        ArpSha => (BasicField::ARP_SHA, e, arp),
        ArpTha => (BasicField::ARP_THA, e, arp),
        Ipv6Src => (BasicField::IPV6_SRC, e, v6),
        Ipv6Dst => (BasicField::IPV6_DST, e, v6),
        Ipv6Label => (BasicField::IPV6_FLABEL, 0xfffff, v6),
        NdTarget => (BasicField::IPV6_ND_TARGET, e, nd(&[135, 136])),
        NdSll => (BasicField::IPV6_ND_SLL, e, nd(&[135])),
        NdTll => (BasicField::IPV6_ND_TLL, e, nd(&[136])),
        MplsLabel => (BasicField::MPLS_LABEL, 0xfffff, ctx.is_mpls()),
        MplsTc => (BasicField::MPLS_TC, 7, ctx.is_mpls()),
        TunId => (BasicField::TUNNEL_ID, e, true),
        Metadata => (BasicField::METADATA, e, true),
        _ => return None,
    })
}

/// Fields OpenFlow 1.3 cannot name with a basic OXM that `ovs-ofctl`
/// still sets with OFPAT_SET_FIELD, using Nicira's NXM header.
fn nxm_set_field(f: F) -> Option<(OxmHeader, &'static str)> {
    Some(match f {
        F::InPort => (OxmHeader(0x0000_0002), "in_port"),
        F::NwTos => (OxmHeader(0x0000_0a01), "nw_tos"),
        F::VlanTci => (OxmHeader(0x0000_0802), "vlan_tci"),
        _ => return None,
    })
}

/// NXM/OXM header, name and bit width OVS uses as the destination of
/// `NXAST_REG_LOAD` when a masked `set_field` writes `f`.
const LOAD_TARGETS: &[(F, u32, &str, u32)] = &[
    (F::EthSrc, 0x0000_0406, "NXM_OF_ETH_SRC", 48),
    (F::EthDst, 0x0000_0206, "NXM_OF_ETH_DST", 48),
    (F::VlanTci, 0x0000_0802, "NXM_OF_VLAN_TCI", 16),
    (F::Ipv4Src, 0x0000_0e04, "NXM_OF_IP_SRC", 32),
    (F::Ipv4Dst, 0x0000_1004, "NXM_OF_IP_DST", 32),
    (F::TcpSrc, 0x0000_1202, "NXM_OF_TCP_SRC", 16),
    (F::TcpDst, 0x0000_1402, "NXM_OF_TCP_DST", 16),
    (F::UdpSrc, 0x0000_1602, "NXM_OF_UDP_SRC", 16),
    (F::UdpDst, 0x0000_1802, "NXM_OF_UDP_DST", 16),
    (F::ArpSpa, 0x0000_2004, "NXM_OF_ARP_SPA", 32),
    (F::ArpTpa, 0x0000_2204, "NXM_OF_ARP_TPA", 32),
    (F::TunId, 0x0001_2008, "NXM_NX_TUN_ID", 64),
    (F::ArpSha, 0x0001_2206, "NXM_NX_ARP_SHA", 48),
    (F::ArpTha, 0x0001_2406, "NXM_NX_ARP_THA", 48),
    (F::Ipv6Src, 0x0001_2610, "NXM_NX_IPV6_SRC", 128),
    (F::Ipv6Dst, 0x0001_2810, "NXM_NX_IPV6_DST", 128),
    (F::NdTarget, 0x0001_2e10, "NXM_NX_ND_TARGET", 128),
    (F::NdSll, 0x0001_3006, "NXM_NX_ND_SLL", 48),
    (F::NdTll, 0x0001_3206, "NXM_NX_ND_TLL", 48),
    (F::Ipv6Label, 0x0001_3604, "NXM_NX_IPV6_LABEL", 20),
    (F::Metadata, 0x8000_0408, "OXM_OF_METADATA", 64),
    (F::SctpSrc, 0x8000_2202, "OXM_OF_SCTP_SRC", 16),
    (F::SctpDst, 0x8000_2402, "OXM_OF_SCTP_DST", 16),
];

/// `NXAST_REG_LOAD` subtype.
const NXAST_REG_LOAD: u16 = 7;

/// The `NXAST_REG_LOAD`s OVS writes for a masked set_field: one per run
/// of one bits in the mask (at most 64 bits each), lowest first.
fn reg_loads(dst: u32, bits: u32, v: u128, m: u128) -> Vec<Action> {
    let bit = |x: u128, i: u32| i < 128 && (x >> i) & 1 == 1;
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let mut ofs = start;
        while ofs < bits && !bit(m, ofs) {
            ofs += 1;
        }
        if ofs >= bits {
            break;
        }
        let limit = (ofs + 64).min(bits);
        let mut end = ofs + 1;
        while end < limit && bit(m, end) {
            end += 1;
        }
        let n = end - ofs;
        let value = u64::try_from((v >> ofs) & ((1u128 << n) - 1)).unwrap_or(0);
        let ofs_nbits = u16::try_from((ofs << 6) | (n - 1)).unwrap_or(0);
        let mut data = NXAST_REG_LOAD.to_be_bytes().to_vec();
        data.extend_from_slice(&ofs_nbits.to_be_bytes());
        data.extend_from_slice(&dst.to_be_bytes());
        data.extend_from_slice(&value.to_be_bytes());
        out.push(Action::Experimenter {
            experimenter: NX_VENDOR_ID,
            data,
        });
        start = end;
    }
    out
}

fn parse_set_field(kv: &KeyValue<'_>, ctx: &mut Ctx) -> Result<Vec<Action>, FlowTextError> {
    let Some((value, name)) = kv.value.split_once("->") else {
        return Err(bad(kv, "missing `->'"));
    };
    let name_col = kv.value_col + value.len() + 2;
    let Some(f) = fields::field_by_name(name) else {
        return Err(FlowTextError::new(
            ErrorKind::UnknownField,
            name,
            name_col,
            "unknown field",
        ));
    };
    if matches!(f, F::EthType | F::NwProto | F::MplsBos) {
        return Err(FlowTextError::new(
            ErrorKind::BadValue,
            name,
            name_col,
            format!("{name} is read-only"),
        ));
    }
    let (v, m) = fields::parse_value(f, value)
        .map_err(|e| FlowTextError::new(ErrorKind::BadValue, value, kv.value_col, e))?;
    let invalid = || {
        FlowTextError::new(
            ErrorKind::BadValue,
            value,
            kv.value_col,
            format!("{value} is not a valid value for field {name}"),
        )
    };
    let prereq = || {
        FlowTextError::new(
            ErrorKind::Inconsistent,
            name,
            name_col,
            format!("set_field {name} lacks correct prerequisites (OFPBAC_MATCH_INCONSISTENT)"),
        )
    };
    let masked = m != f.full();
    if let (false, Some((header, _))) = (masked, nxm_set_field(f)) {
        if f == F::NwTos {
            if v & 3 != 0 {
                return Err(invalid());
            }
            if !ctx.is_ip_any() {
                return Err(prereq());
            }
        }
        if f == F::VlanTci {
            ctx.tci = u16::try_from(v & 0xffff).unwrap_or(0);
        }
        let width = usize::from(header.length());
        let bytes = v.to_be_bytes();
        return Ok(vec![Action::SetField(OxmField::Opaque {
            header,
            payload: bytes[16 - width..].to_vec(),
        })]);
    }
    if masked {
        let Some(&(_, dst, _, bits)) = LOAD_TARGETS.iter().find(|t| t.0 == f) else {
            return Err(FlowTextError::new(
                ErrorKind::Unsupported,
                value,
                kv.value_col,
                "masked set_field of this field is not implemented",
            ));
        };
        if let Some((_, _, false)) = set_field_target(f, ctx) {
            return Err(prereq());
        }
        return Ok(reg_loads(dst, bits, v, m));
    }
    let Some((field, max, ok)) = set_field_target(f, ctx) else {
        return Err(FlowTextError::new(
            ErrorKind::Unsupported,
            name,
            name_col,
            "field cannot be set with an OpenFlow 1.3 set_field",
        ));
    };
    if v > max {
        return Err(invalid());
    }
    if !ok {
        return Err(prereq());
    }
    Ok(vec![set_field(field, v)])
}

/// Prints `NXAST_REG_LOAD` as OVS does (`load:0xa->NXM_OF_IP_SRC[24..31]`).
fn format_reg_load(data: &[u8]) -> Option<String> {
    if data.len() != 16 || u16::from_be_bytes([data[0], data[1]]) != NXAST_REG_LOAD {
        return None;
    }
    let ofs_nbits = u32::from(u16::from_be_bytes([data[2], data[3]]));
    let dst = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    let mut v = [0u8; 8];
    v.copy_from_slice(&data[8..16]);
    let value = u64::from_be_bytes(v);
    let &(_, _, name, bits) = LOAD_TARGETS.iter().find(|t| t.1 == dst)?;
    let (ofs, n) = (ofs_nbits >> 6, (ofs_nbits & 63) + 1);
    let range = if ofs == 0 && n == bits {
        String::new()
    } else if n == 1 {
        ofs.to_string()
    } else {
        format!("{ofs}..{}", ofs + n - 1)
    };
    Some(format!("load:{value:#x}->{name}[{range}]"))
}

// ------------------------------------------------------------ printing

/// OVS's name for a basic field in `set_field:V->NAME`.
fn ovs_field_name(f: BasicField) -> &'static str {
    match f {
        BasicField::IN_PORT => "in_port_oxm",
        BasicField::ETH_DST => "eth_dst",
        BasicField::ETH_SRC => "eth_src",
        BasicField::ETH_TYPE => "eth_type",
        BasicField::VLAN_VID => "vlan_vid",
        BasicField::VLAN_PCP => "vlan_pcp",
        BasicField::IP_DSCP => "ip_dscp",
        BasicField::IP_ECN => "nw_ecn",
        BasicField::IP_PROTO => "nw_proto",
        BasicField::IPV4_SRC => "ip_src",
        BasicField::IPV4_DST => "ip_dst",
        BasicField::TCP_SRC => "tcp_src",
        BasicField::TCP_DST => "tcp_dst",
        BasicField::UDP_SRC => "udp_src",
        BasicField::UDP_DST => "udp_dst",
        BasicField::SCTP_SRC => "sctp_src",
        BasicField::SCTP_DST => "sctp_dst",
        BasicField::ICMPV4_TYPE => "icmp_type",
        BasicField::ICMPV4_CODE => "icmp_code",
        BasicField::ICMPV6_TYPE => "icmpv6_type",
        BasicField::ICMPV6_CODE => "icmpv6_code",
        BasicField::ARP_OP => "arp_op",
        BasicField::ARP_SPA => "arp_spa",
        BasicField::ARP_TPA => "arp_tpa",
        BasicField::ARP_SHA => "arp_sha",
        BasicField::ARP_THA => "arp_tha",
        BasicField::IPV6_SRC => "ipv6_src",
        BasicField::IPV6_DST => "ipv6_dst",
        BasicField::IPV6_FLABEL => "ipv6_label",
        BasicField::IPV6_ND_TARGET => "nd_target",
        BasicField::IPV6_ND_SLL => "nd_sll",
        BasicField::IPV6_ND_TLL => "nd_tll",
        BasicField::MPLS_LABEL => "mpls_label",
        BasicField::MPLS_TC => "mpls_tc",
        BasicField::MPLS_BOS => "mpls_bos",
        BasicField::PBB_ISID => "pbb_isid",
        BasicField::TUNNEL_ID => "tun_id",
        BasicField::METADATA => "metadata",
        _ => "?",
    }
}

fn format_field_value(f: BasicField, v: u128) -> String {
    match f {
        BasicField::ETH_DST
        | BasicField::ETH_SRC
        | BasicField::ARP_SHA
        | BasicField::ARP_THA
        | BasicField::IPV6_ND_SLL
        | BasicField::IPV6_ND_TLL => fields::eth_str(v),
        BasicField::IPV4_SRC | BasicField::IPV4_DST | BasicField::ARP_SPA | BasicField::ARP_TPA => {
            fields::ip4_str(v)
        }
        BasicField::IPV6_SRC | BasicField::IPV6_DST | BasicField::IPV6_ND_TARGET => {
            fields::ip6_str(v)
        }
        BasicField::TUNNEL_ID
        | BasicField::METADATA
        | BasicField::IPV6_FLABEL
        | BasicField::ETH_TYPE
        | BasicField::PBB_ISID => format!("{v:#x}"),
        _ => v.to_string(),
    }
}

/// Prints one action as `ovs-ofctl` does for OpenFlow 1.3.
pub(crate) fn format_action(a: &Action) -> String {
    match a {
        Action::Output { port, max_len } => {
            let p = fields::port_from_ofp11(*port);
            let mut s = String::new();
            if p < 0xff00 {
                s.push_str("output:");
            }
            s.push_str(&fields::format_port(p));
            if p == 0xfffd {
                s.push_str(&format!(":{max_len}"));
            }
            s
        }
        Action::CopyTtlOut => "copy_ttl_out".into(),
        Action::CopyTtlIn => "copy_ttl_in".into(),
        Action::SetMplsTtl(t) => format!("set_mpls_ttl({t})"),
        Action::DecMplsTtl => "dec_mpls_ttl".into(),
        Action::PushVlan(e) => format!("push_vlan:0x{e:04x}"),
        Action::PopVlan => "pop_vlan".into(),
        Action::PushMpls(e) => format!("push_mpls:0x{e:04x}"),
        Action::PopMpls(e) => format!("pop_mpls:0x{e:04x}"),
        Action::SetQueue(q) => format!("set_queue:{q}"),
        Action::Group(g) => format!("group:{g}"),
        Action::SetNwTtl(t) => format!("mod_nw_ttl:{t}"),
        Action::DecNwTtl => "dec_ttl".into(),
        Action::SetField(OxmField::Basic { field, value, .. }) => {
            format!(
                "set_field:{}->{}",
                format_field_value(*field, *value),
                ovs_field_name(*field)
            )
        }
        Action::SetField(OxmField::Opaque { header, payload }) => {
            let v = payload
                .iter()
                .fold(0u128, |acc, &x| (acc << 8) | u128::from(x));
            match header.0 {
                0x0000_0002 => format!(
                    "set_field:{}->in_port",
                    fields::format_port(u16::try_from(v).unwrap_or(0))
                ),
                0x0000_0a01 => format!("set_field:{v}->nw_tos"),
                0x0000_0802 => format!("set_field:{v:#x}->vlan_tci"),
                h => {
                    let hex: String = payload.iter().map(|x| format!("{x:02x}")).collect();
                    format!("set_field:0x{hex}->oxm({h:#010x})")
                }
            }
        }
        Action::PushPbb(e) => format!("push_pbb:0x{e:04x}"),
        Action::PopPbb => "pop_pbb".into(),
        Action::Experimenter { experimenter, data } => format_nx_controller(*experimenter, data)
            .or_else(|| {
                (*experimenter == NX_VENDOR_ID)
                    .then(|| format_reg_load(data))
                    .flatten()
            })
            .unwrap_or_else(|| {
                let hex: String = data.iter().map(|x| format!("{x:02x}")).collect();
                format!("experimenter({experimenter:#x},{hex})")
            }),
    }
}

fn format_actions(list: &[Action]) -> String {
    list.iter().map(format_action).collect::<Vec<_>>().join(",")
}

/// Prints instructions in OVS's order (meter, apply, clear, write-actions,
/// write-metadata, goto-table); `drop` for none.
pub(crate) fn format_instructions(list: &[Instruction]) -> String {
    let rank = |i: &Instruction| match i {
        Instruction::Meter(_) => 0,
        Instruction::ApplyActions(_) => 1,
        Instruction::ClearActions => 2,
        Instruction::WriteActions(_) => 3,
        Instruction::WriteMetadata { .. } => 4,
        Instruction::GotoTable(_) => 5,
        Instruction::Experimenter { .. } => 6,
    };
    let mut sorted: Vec<&Instruction> = list.iter().collect();
    sorted.sort_by_key(|i| rank(i));
    let mut parts = Vec::new();
    for i in sorted {
        match i {
            Instruction::Meter(m) => parts.push(format!("meter:{m}")),
            Instruction::ApplyActions(a) if a.is_empty() => {}
            Instruction::ApplyActions(a) => parts.push(format_actions(a)),
            Instruction::ClearActions => parts.push("clear_actions".into()),
            Instruction::WriteActions(a) => {
                parts.push(format!("write_actions({})", format_actions(a)))
            }
            Instruction::WriteMetadata { metadata, mask } => {
                let mut s = format!("write_metadata:{}", hex_c(u128::from(*metadata)));
                if *mask != u64::MAX {
                    s.push_str(&format!("/{}", hex_c(u128::from(*mask))));
                }
                parts.push(s);
            }
            Instruction::GotoTable(t) => parts.push(format!("goto_table:{t}")),
            Instruction::Experimenter { experimenter, .. } => {
                parts.push(format!("experimenter_instruction({experimenter:#x})"))
            }
        }
    }
    if parts.is_empty() {
        "drop".into()
    } else {
        parts.join(",")
    }
}
