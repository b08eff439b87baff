//! The `ovs-ofctl` flow syntax for OpenFlow 1.3: parser and printer.
//!
//! [`parse_flow`] reads the text people give `ovs-ofctl add-flow`,
//! `mod-flows` and `del-flows` (ovs-fields(7), ovs-actions(7), the "Flow
//! Syntax" section of ovs-ofctl(8)) and produces a [`FlowSpec`], which
//! [`FlowSpec::to_flow_mod`] turns into the wire [`FlowMod`] that
//! `ovs-ofctl -O OpenFlow13` itself would send for the same text, byte for
//! byte (checked against the real program by `tests/flow_text_ovs.rs`).
//! [`format_flow`] and [`format_flow_mod`] print a match and its
//! instructions back the way `ovs-ofctl` does (`dump-flows`, `ofp-print`).
//!
//! # How the text becomes OpenFlow 1.3
//!
//! Open vSwitch does not map names to OXM entries one by one.  It first
//! builds its own flow-and-wildcards record (one slot per packet field:
//! `nw_src` is also `arp_spa`, `tp_src` is also `icmp_type`, the VLAN is a
//! single 16-bit TCI), and only when sending emits OXM entries from that
//! record, in a fixed order, and only for fields whose protocol the match
//! pins down: `tp_dst=80` without `tcp` is accepted and silently sent as
//! nothing.  This module keeps that record ([`FlowFields`]) so the same text
//! gives the same bytes, including the quirks (`dl_vlan_pcp=3` alone becomes
//! `vlan_vid=0x1000/0x1000,vlan_pcp=3`; `mod_vlan_vid` pushes a tag first
//! when the match has none; `mod_tp_src` picks TCP, UDP or SCTP from the
//! match).  The printer goes the other way: OXM entries back into the
//! record, then OVS's field order and shorthands (`tcp6`, `dl_vlan`,
//! `nw_tos`).
//!
//! # Why a hand lexer and not `nom`
//!
//! The grammar is OVS's key/value splitter: `key`, `key=value`,
//! `key:value` or `key(value)`, separated by commas or blanks, with
//! parentheses nesting inside values.  That is about sixty lines by hand,
//! keeps exact byte offsets for error columns without a span wrapper, and
//! matches OVS's splitting rules (which are not a tidy grammar: `actions`
//! is found by substring search, the value of `set_field` contains `->`).
//! A parser-combinator crate would not remove any of the per-field value
//! parsing, which is where the work is.
//!
//! # Errors
//!
//! Every failure is a [`FlowTextError`] naming the offending token and its
//! 1-based column in the input, e.g. `unknown field "nw_srcx" at column
//! 4`.  Actions that `ovs-ofctl` would accept only for OpenFlow 1.0
//! (`mod_nw_src` on a non-IP match, `strip_vlan` without a VLAN, ...) or
//! answers with `OFPBAC_MATCH_INCONSISTENT` / `OFPBIC_BAD_TABLE_ID`
//! (`set_field:..->ip_src` without `ip`, `goto_table` backwards) are
//! [`ErrorKind::Inconsistent`], as `ovs-ofctl -O OpenFlow13` refuses them
//! too (`tests/data/flows_invalid.txt` checks the two agree).  Valid OVS
//! syntax this module does not implement is [`ErrorKind::Unsupported`].
//!
//! # Supported through Nicira encodings
//!
//! Where OpenFlow 1.3 has no form, OVS sends Nicira extensions even with
//! `-O OpenFlow13`; these are produced and printed the same way: `nw_ttl`
//! (an NXM OXM), `controller(reason=..,id=..,max_len=..)`
//! (`NXAST_CONTROLLER`), `enqueue` and `pop_queue` (`NXAST_POP_QUEUE`),
//! masked `set_field` (`NXAST_REG_LOAD`, printed `load:V->NXM_..[a..b]`)
//! and `set_field` of `in_port`, `nw_tos`, `vlan_tci` (NXM headers).
//!
//! # Not implemented
//!
//! Other Nicira-only fields and actions (registers, `ct_*`, `resubmit`,
//! `learn`, `load`, `move`, `note`, `set_tunnel`,
//! `output(port=..,max_len=..)`, `controller(userdata=..,pause,meter_id=..)`,
//! `dec_ttl(ids)`, `nw_frag`, `tcp_flags`, `mpls_ttl`, masked `set_field`
//! of `vlan_vid`), port and table names from the switch (`--names`),
//! `pbb_isid` and `ipv6_exthdr` (which `ovs-ofctl` cannot write either),
//! and the `importance` keyword (OpenFlow 1.4).  The printer shows
//! experimenter actions and OXMs it does not know as hex.
//!
//! # Deliberate differences from `ovs-ofctl`
//!
//! - Malformed numbers inside addresses (`1.2.3.400`) are errors here;
//!   OVS wraps them (`1.2.3.144`).
//! - `push_mpls` with a non-MPLS ethertype is an error here; OVS sends it
//!   and then cannot decode what it sent (`OFPBAC_BAD_ARGUMENT`).
//!
//! As in OVS, values wider than a field's bits but within its bytes
//! (`vlan_pcp=9`, `arp_op=0x102`) are truncated to the field, not refused.
//!
//! # The `packet_type` entry
//!
//! When a field with prerequisites (`nw_src`, `tp_dst`, ...) is given
//! without an ethertype, OVS pins its packet type to Ethernet and sends
//! OpenFlow 1.5's `packet_type` OXM (basic class, field 44, value 0) first,
//! even to an OpenFlow 1.3 switch.  [`FlowFields::to_oxm`] does the same
//! (as an opaque entry, since [`crate::wire::oxm`] knows only the 1.3
//! fields); the printers ignore it, as OVS's do.

mod actions;
mod fields;
mod lex;

use std::fmt;

use crate::wire::action::Action;
use crate::wire::consts::{OFP_NO_BUFFER, group, port};
use crate::wire::instruction::Instruction;
use crate::wire::message::{FlowMod, flow_mod_command, flow_mod_flags};
use crate::wire::oxm::Match;

pub use fields::{FlowFields, Wc};

/// What went wrong while parsing flow text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A match keyword that is neither a field nor a flow-mod keyword.
    UnknownField,
    /// An action or instruction name that is not known.
    UnknownAction,
    /// A value that does not parse or is out of range for its field.
    BadValue,
    /// A keyword that needs a value was given without one.
    MissingValue,
    /// `add-flow`/`mod-flows` text without `actions=`.
    MissingActions,
    /// A keyword not allowed for this flow-mod command (e.g. `out_port`
    /// with `add-flow`, a cookie mask with `add-flow`).
    NotAllowed,
    /// Valid `ovs-ofctl` syntax that OpenFlow 1.3 cannot express, or that
    /// this module does not implement.
    Unsupported,
    /// Actions that contradict the match (e.g. `set_field:..->ip_src`
    /// without `ip`); `ovs-ofctl` answers `OFPBAC_MATCH_INCONSISTENT` or
    /// refuses OpenFlow 1.3 for these.
    Inconsistent,
    /// Instructions in an order OpenFlow 1.1+ cannot express, or repeated.
    BadOrder,
    /// `drop` together with other actions.
    DropWithOthers,
}

/// A parse error: its kind, the offending token, where it starts (1-based
/// column, in bytes) and a short explanation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FlowTextError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The offending token (a keyword, value or action).
    pub token: String,
    /// 1-based byte column of `token` in the parsed text.
    pub column: usize,
    /// A short explanation in OVS's words where practical.
    pub detail: String,
}

impl fmt::Display for FlowTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::UnknownField => write!(f, "unknown field \"{}\"", self.token)?,
            ErrorKind::UnknownAction => write!(f, "unknown action \"{}\"", self.token)?,
            _ => write!(f, "{} (\"{}\")", self.detail, self.token)?,
        }
        write!(f, " at column {}", self.column)
    }
}

impl FlowTextError {
    pub(crate) fn new(
        kind: ErrorKind,
        token: &str,
        column: usize,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            token: token.to_owned(),
            column,
            detail: detail.into(),
        }
    }
}

/// The flow-mod command the text is parsed for; it decides which keywords
/// are allowed, as in `ovs-ofctl` (`add-flow`, `mod-flows [--strict]`,
/// `del-flows [--strict]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowCommand {
    /// `add-flow`: actions, timeouts, priority, flags, cookie.
    Add,
    /// `mod-flows`: like add, a cookie mask selects flows.
    Modify,
    /// `mod-flows --strict`.
    ModifyStrict,
    /// `del-flows`: match, `out_port`, `out_group`, cookie mask; no
    /// priority, no actions.
    Delete,
    /// `del-flows --strict`: as delete, plus `priority`.
    DeleteStrict,
}

impl FlowCommand {
    /// The `ofp_flow_mod_command` value.
    pub fn code(self) -> u8 {
        match self {
            Self::Add => flow_mod_command::ADD,
            Self::Modify => flow_mod_command::MODIFY,
            Self::ModifyStrict => flow_mod_command::MODIFY_STRICT,
            Self::Delete => flow_mod_command::DELETE,
            Self::DeleteStrict => flow_mod_command::DELETE_STRICT,
        }
    }
    fn has_actions(self) -> bool {
        matches!(self, Self::Add | Self::Modify | Self::ModifyStrict)
    }
    fn has_priority(self) -> bool {
        !matches!(self, Self::Delete)
    }
    fn has_out_port(self) -> bool {
        matches!(self, Self::Delete | Self::DeleteStrict)
    }
}

/// OpenFlow's default priority (0x8000), which the printers leave out.
pub const DEFAULT_PRIORITY: u16 = 0x8000;

/// A parsed flow: everything a flow mod carries, plus the OVS-style field
/// record the match came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSpec {
    /// The command this text was parsed for.
    pub command: FlowCommand,
    /// `table=N`, or `None` (table 0 for add/modify, all tables for delete).
    pub table_id: Option<u8>,
    /// `priority=N` ([`DEFAULT_PRIORITY`] unless given).
    pub priority: u16,
    /// `cookie=V` (the cookie to set, add/modify).
    pub new_cookie: Option<u64>,
    /// `cookie=V/M` (modify/delete: which flows), as (cookie, mask).
    pub cookie_match: Option<(u64, u64)>,
    /// `idle_timeout=N` (0: none).
    pub idle_timeout: u16,
    /// `hard_timeout=N` (0: none).
    pub hard_timeout: u16,
    /// `send_flow_rem`, `check_overlap`, ... as `flow_mod_flags` bits.
    pub flags: u16,
    /// `out_port=P` (delete), OpenFlow 1.3 numbering; `OFPP_ANY` if absent.
    pub out_port: u32,
    /// `out_group=G` (delete); `OFPG_ANY` if absent.
    pub out_group: u32,
    /// The match as Open vSwitch records it (see the module docs).
    pub fields: FlowFields,
    /// The instructions (empty for `drop` and for delete).
    pub instructions: Vec<Instruction>,
}

impl FlowSpec {
    /// The OXM match `ovs-ofctl` sends for this flow.
    pub fn oxm_match(&self) -> Match {
        self.fields.to_oxm()
    }

    /// The OpenFlow 1.3 flow mod `ovs-ofctl -O OpenFlow13` sends for this
    /// text with this spec's command.
    pub fn to_flow_mod(&self) -> FlowMod {
        self.to_flow_mod_as(self.command)
    }

    /// The flow mod for `command` (the text's keywords stay as parsed).
    /// Follows OVS's OpenFlow 1.1+ encoder: an add carries the new cookie,
    /// other commands carry the cookie to match; an unspecified table is 0
    /// for add/modify and all tables for delete.
    pub fn to_flow_mod_as(&self, command: FlowCommand) -> FlowMod {
        let is_add = command == FlowCommand::Add;
        let is_delete = matches!(command, FlowCommand::Delete | FlowCommand::DeleteStrict);
        let (cookie, cookie_mask) = match (is_add, self.cookie_match) {
            (true, _) => (self.new_cookie.unwrap_or(0), 0),
            (false, Some((c, m))) => (c, m),
            (false, None) => (0, 0),
        };
        let table_id = match self.table_id {
            Some(t) => t,
            None if is_delete => crate::wire::consts::table::ALL,
            None => 0,
        };
        FlowMod {
            cookie,
            cookie_mask,
            table_id,
            command: command.code(),
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            priority: self.priority,
            buffer_id: OFP_NO_BUFFER,
            out_port: self.out_port,
            out_group: self.out_group,
            flags: self.flags,
            match_: self.oxm_match(),
            instructions: self.instructions.clone(),
        }
    }
}

/// Parses one flow in `ovs-ofctl` syntax for `command`.
///
/// Match fields, flow-mod keywords and `actions=...` as `ovs-ofctl
/// -O OpenFlow13` accepts them; see the module docs for what is missing.
pub fn parse_flow(text: &str, command: FlowCommand) -> Result<FlowSpec, FlowTextError> {
    let mut spec = FlowSpec {
        command,
        table_id: None,
        priority: DEFAULT_PRIORITY,
        new_cookie: None,
        cookie_match: None,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: 0,
        out_port: port::ANY,
        out_group: group::ANY,
        fields: FlowFields::default(),
        instructions: Vec::new(),
    };
    // Like OVS: the actions start after the first "action...=".
    let (match_text, actions) = if command.has_actions() {
        let Some(at) = text.find("action") else {
            return Err(FlowTextError::new(
                ErrorKind::MissingActions,
                text,
                1,
                "must specify an action",
            ));
        };
        let Some(eq) = text[at..].find('=') else {
            return Err(FlowTextError::new(
                ErrorKind::MissingActions,
                &text[at..],
                at + 1,
                "must specify an action",
            ));
        };
        (&text[..at], Some(at + eq + 1))
    } else {
        (text, None)
    };
    for kv in lex::KeyValues::new(match_text, 0) {
        let kv = kv?;
        parse_keyword(&mut spec, &kv)?;
    }
    if let Some(start) = actions {
        let table = spec.table_id.unwrap_or(0);
        spec.instructions = actions::parse_actions(&text[start..], start, &spec.fields, table)?;
    }
    Ok(spec)
}

fn parse_keyword(spec: &mut FlowSpec, kv: &lex::KeyValue<'_>) -> Result<(), FlowTextError> {
    let name = kv.key;
    let command = spec.command;
    if fields::apply_shorthand(&mut spec.fields, name) {
        return Ok(());
    }
    let flag = match name {
        "send_flow_rem" => Some(flow_mod_flags::SEND_FLOW_REM),
        "check_overlap" => Some(flow_mod_flags::CHECK_OVERLAP),
        "reset_counts" => Some(flow_mod_flags::RESET_COUNTS),
        "no_packet_counts" => Some(flow_mod_flags::NO_PKT_COUNTS),
        "no_byte_counts" => Some(flow_mod_flags::NO_BYT_COUNTS),
        _ => None,
    };
    if let Some(bit) = flag {
        if !command.has_actions() {
            return Err(kv.err(ErrorKind::NotAllowed, "flag not allowed for this command"));
        }
        spec.flags |= bit;
        return Ok(());
    }
    if matches!(name, "no_readonly_table" | "allow_hidden_fields") {
        return Ok(());
    }
    if let Some(field) = fields::field_by_name(name) {
        return spec.fields.set_from_text(field, kv);
    }
    if kv.value.is_empty() {
        return Err(FlowTextError::new(
            ErrorKind::MissingValue,
            name,
            kv.key_col,
            format!("field {name} missing value"),
        ));
    }
    let v = kv.value;
    match name {
        "table" => {
            let t = lex::parse_c_uint(v)
                .filter(|&t| t <= 255)
                .ok_or_else(|| kv.value_err(ErrorKind::BadValue, "unknown table"))?;
            let t = u8::try_from(t).unwrap_or(u8::MAX);
            spec.table_id = (t != 0xff).then_some(t);
        }
        "priority" if command.has_priority() => spec.priority = kv.u16_value("priority")?,
        "idle_timeout" if command.has_actions() => {
            spec.idle_timeout = kv.u16_value("idle_timeout")?
        }
        "hard_timeout" if command.has_actions() => {
            spec.hard_timeout = kv.u16_value("hard_timeout")?
        }
        "out_port" if command.has_out_port() => {
            let p = fields::parse_port(v)
                .ok_or_else(|| kv.value_err(ErrorKind::BadValue, "not a valid OpenFlow port"))?;
            spec.out_port = fields::port_to_ofp11(p);
        }
        "out_group" if command.has_out_port() => {
            spec.out_group = match v.to_ascii_lowercase().as_str() {
                "all" => group::ALL,
                "any" => group::ANY,
                _ => lex::parse_c_uint(v)
                    .and_then(|g| u32::try_from(g).ok())
                    .ok_or_else(|| {
                        kv.value_err(ErrorKind::BadValue, "not a valid OpenFlow group")
                    })?,
            };
        }
        "cookie" => {
            if let Some((c, m)) = v.split_once('/') {
                if command == FlowCommand::Add {
                    return Err(kv.value_err(
                        ErrorKind::NotAllowed,
                        "flow additions cannot use a cookie mask",
                    ));
                }
                let c = lex::parse_c_uint(c).and_then(|x| u64::try_from(x).ok());
                let m = lex::parse_c_uint(m).and_then(|x| u64::try_from(x).ok());
                match (c, m) {
                    (Some(c), Some(m)) => spec.cookie_match = Some((c, m)),
                    _ => return Err(kv.value_err(ErrorKind::BadValue, "invalid cookie")),
                }
            } else {
                if !command.has_actions() {
                    return Err(kv.value_err(ErrorKind::NotAllowed, "cannot set cookie"));
                }
                let c = lex::parse_c_uint(v)
                    .and_then(|x| u64::try_from(x).ok())
                    .ok_or_else(|| kv.value_err(ErrorKind::BadValue, "invalid cookie"))?;
                spec.new_cookie = Some(c);
            }
        }
        // dump-flows output fed back in: ignored, as OVS does.
        "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
        _ => {
            return Err(FlowTextError::new(
                ErrorKind::UnknownField,
                name,
                kv.key_col,
                "unknown keyword",
            ));
        }
    }
    Ok(())
}

/// Prints a flow the way `ovs-ofctl dump-flows` prints its match and
/// actions (without the counters): `priority=100,tcp,in_port=1,tp_dst=80
/// actions=output:2`.  The priority is left out when it is the default.
pub fn format_flow(priority: u16, m: &Match, instructions: &[Instruction]) -> String {
    let mut s = format_match(m, priority);
    if !s.is_empty() {
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(&format_instructions(instructions));
    s
}

/// Prints a match as `ovs-ofctl` does, with `priority=N,` first unless
/// `priority` is [`DEFAULT_PRIORITY`].  OXM entries of other classes that
/// OVS would print with Nicira names are shown as `oxm(0xHEADER:payload)`,
/// except `nw_ttl`.
pub fn format_match(m: &Match, priority: u16) -> String {
    FlowFields::from_oxm(m).format(priority)
}

/// Prints instructions as `ovs-ofctl` does after `actions=`: meter, the
/// applied actions, `clear_actions`, `write_actions(...)`,
/// `write_metadata:V/M`, `goto_table:N`, or `drop` when there are none.
pub fn format_instructions(instructions: &[Instruction]) -> String {
    actions::format_instructions(instructions)
}

/// Prints an action list (e.g. a group bucket's) as `ovs-ofctl` does,
/// comma-separated; empty for no actions.
pub fn format_actions(actions: &[Action]) -> String {
    actions
        .iter()
        .map(actions::format_action)
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a bare action list (no instructions), e.g. the `actions=` of a
/// group bucket, checked against `fields` the way a flow with that match
/// would be (pass `&FlowFields::default()` for none).  `drop` or nothing
/// gives an empty list.
pub fn parse_action_list(text: &str, fields: &FlowFields) -> Result<Vec<Action>, FlowTextError> {
    let mut out = Vec::new();
    for inst in actions::parse_actions(text, 0, fields, 0)? {
        match inst {
            Instruction::ApplyActions(list) => out.extend(list),
            other => {
                return Err(FlowTextError::new(
                    ErrorKind::Unsupported,
                    text,
                    1,
                    format!("instruction not allowed in an action list: {other:?}"),
                ));
            }
        }
    }
    Ok(out)
}

/// Prints a flow mod as `ovs-ofctl ofp-print` does after the
/// `OFPT_FLOW_MOD (OF1.3) (xid=0x..): ` prefix, e.g. `ADD table:3
/// priority=5,ip cookie:0x123 idle:10 send_flow_rem actions=drop`.
pub fn format_flow_mod(fm: &FlowMod) -> String {
    let mut s = String::from(match fm.command {
        flow_mod_command::ADD => "ADD",
        flow_mod_command::MODIFY => "MOD",
        flow_mod_command::MODIFY_STRICT => "MOD_STRICT",
        flow_mod_command::DELETE => "DEL",
        flow_mod_command::DELETE_STRICT => "DEL_STRICT",
        _ => "cmd:?",
    });
    if fm.table_id != 0 {
        s.push_str(&format!(" table:{}", fm.table_id));
    }
    s.push(' ');
    s.push_str(&format_match(&fm.match_, fm.priority));
    if !s.ends_with(' ') {
        s.push(' ');
    }
    let is_add = fm.command == flow_mod_command::ADD;
    if is_add && fm.cookie != 0 && fm.cookie != u64::MAX {
        s.push_str(&format!("cookie:{:#x} ", fm.cookie));
    }
    if fm.cookie_mask != 0 {
        s.push_str(&format!("cookie:{:#x}/{:#x} ", fm.cookie, fm.cookie_mask));
    }
    if fm.idle_timeout != 0 {
        s.push_str(&format!("idle:{} ", fm.idle_timeout));
    }
    if fm.hard_timeout != 0 {
        s.push_str(&format!("hard:{} ", fm.hard_timeout));
    }
    if fm.buffer_id != OFP_NO_BUFFER {
        s.push_str(&format!("buf:{:#x} ", fm.buffer_id));
    }
    if fm.out_port != port::ANY {
        s.push_str("out_port:");
        s.push_str(&fields::format_port(fields::port_from_ofp11(fm.out_port)));
        s.push(' ');
    }
    for (bit, name) in [
        (flow_mod_flags::SEND_FLOW_REM, "send_flow_rem"),
        (flow_mod_flags::CHECK_OVERLAP, "check_overlap"),
        (flow_mod_flags::RESET_COUNTS, "reset_counts"),
        (flow_mod_flags::NO_PKT_COUNTS, "no_packet_counts"),
        (flow_mod_flags::NO_BYT_COUNTS, "no_byte_counts"),
    ] {
        if fm.flags & bit != 0 {
            s.push_str(name);
            s.push(' ');
        }
    }
    s.push_str("actions=");
    s.push_str(&format_instructions(&fm.instructions));
    s
}

#[cfg(test)]
mod tests;
