//! `ofproto/trace`: explain what the pipeline does with a flow.
//!
//! [`parse_trace_flow`] reads a flow in `ovs-ofctl` match syntax
//! (`in_port=1,tcp,nw_dst=10.0.0.1,tp_dst=80`; `in_port` may also be a
//! port name or `LOCAL`); fields not given are zero, as in OVS.  [`trace`]
//! runs it through [`translate_datapath`] on a read-only
//! [`PipelineView`] — the very code the datapath's upcalls run — with MAC
//! learning switched off, and records each table looked up with the rule
//! matched ([`XlateResult::tables_visited`]) and the group buckets taken
//! ([`XlateResult::groups_hit`]).  [`Trace::to_text`] prints it in the
//! spirit of Open vSwitch's `ofproto/trace`:
//!
//! ```text
//! Flow: tcp,in_port=1,nw_dst=10.0.0.1,tp_dst=80
//!
//! bridge("br0")
//! -------------
//!  0. in_port=1, priority 32768
//!     goto_table:1
//!  1. tcp,tp_dst=80, priority 100, cookie 0x5
//!     group:7
//!     group 7 bucket 0
//!             output:2
//!
//! Megaflow: recirc_id=0,tcp,in_port=1,tp_dst=80
//! Datapath actions: 2
//! ```
//!
//! The datapath actions use datapath port numbers (as OVS's do); the flow
//! and megaflow lines use OpenFlow numbers.  Unlike OVS, the trace does
//! not show the flow as rewritten by set-field actions ("Final flow"), nor
//! resubmits or conntrack (which rvs does not have).

use std::sync::Arc;

use datapath::actions::DpAction;
use datapath::flow::{FRAG_ANY, FRAG_LATER, Field, FlowKey, FlowMask};

use crate::flow_table::Rule;
use crate::flow_text::{self, FlowCommand, FlowTextError};
use crate::match_key::{MatchKeyError, key_to_match, match_to_key};
use crate::wire::action::Action;
use crate::wire::consts::port as ofport;
use crate::wire::instruction::Instruction;
use crate::wire::oxm::{Match, OxmField};
use crate::xlate::{PipelineView, XlateCtx, XlateResult, translate_datapath};

/// Why a trace request is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The flow text does not parse.
    #[error("{0}")]
    Syntax(#[from] FlowTextError),
    /// The match is not a valid flow (e.g. missing prerequisites).
    #[error("invalid flow: {0}")]
    Match(#[from] MatchKeyError),
    /// `in_port=NAME` names no port of the bridge.
    #[error("{0}: unknown port name")]
    UnknownPort(String),
}

/// A parsed trace flow: OpenFlow port numbering, unspecified fields zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceFlow {
    /// The flow's fields.
    pub key: FlowKey,
    /// The fields the text gave (for printing it back).
    pub given: FlowMask,
}

/// Parses `text` (ovs-ofctl match syntax); `port_no` resolves a port name
/// given as `in_port` to its OpenFlow number.
pub fn parse_trace_flow(
    text: &str,
    port_no: &dyn Fn(&str) -> Option<u32>,
) -> Result<TraceFlow, TraceError> {
    // Resolve `in_port=NAME` first: the flow parser knows numbers and
    // reserved names only.
    let mut parts = Vec::new();
    for tok in text.split(',') {
        let t = tok.trim();
        let (k, v) = match t.split_once('=').or_else(|| t.split_once(':')) {
            Some(kv) => kv,
            None => {
                parts.push(t.to_owned());
                continue;
            }
        };
        if k.trim() == "in_port" {
            let v = v.trim();
            let known = v.parse::<u32>().is_ok()
                || v.starts_with("0x")
                || matches!(
                    v.to_ascii_uppercase().as_str(),
                    "LOCAL" | "IN_PORT" | "CONTROLLER" | "NORMAL" | "FLOOD" | "ALL" | "ANY"
                );
            if !known {
                let n = port_no(v).ok_or_else(|| TraceError::UnknownPort(v.to_owned()))?;
                parts.push(format!("in_port={n}"));
                continue;
            }
        }
        parts.push(t.to_owned());
    }
    let spec = flow_text::parse_flow(&parts.join(","), FlowCommand::Delete)?;
    let m = spec.oxm_match();
    // OVS adds an opaque packet_type entry for prerequisite-less fields;
    // only the basic OpenFlow 1.3 fields describe the packet.
    let basic = Match {
        fields: m
            .fields
            .into_iter()
            .filter(|f| matches!(f, OxmField::Basic { .. }))
            .collect(),
    };
    let (key, given) = match_to_key(&basic)?;
    Ok(TraceFlow { key, given })
}

/// One group bucket the packet went through.
#[derive(Clone, Debug)]
pub struct GroupStep {
    /// Group id.
    pub group_id: u32,
    /// Bucket index within the group.
    pub bucket: usize,
    /// The bucket's actions.
    pub actions: Vec<Action>,
}

/// One table lookup.
#[derive(Clone, Debug)]
pub struct TraceStep {
    /// The table.
    pub table_id: u8,
    /// The rule matched (`None`: a miss, the packet is dropped).
    pub rule: Option<Arc<Rule>>,
    /// Group buckets taken because of this rule's actions.
    pub groups: Vec<GroupStep>,
}

/// The outcome of [`trace`].
#[derive(Clone, Debug)]
pub struct Trace {
    /// The flow traced (OpenFlow port numbers).
    pub flow: TraceFlow,
    /// The key handed to translation (datapath port numbers).
    pub dp_key: FlowKey,
    /// The tables looked up, in order.
    pub steps: Vec<TraceStep>,
    /// The translation: datapath actions, megaflow mask, packet-ins.
    pub result: XlateResult,
}

fn groups_in_actions(acts: &[Action], out: &mut Vec<u32>) {
    for a in acts {
        if let Action::Group(g) = a {
            out.push(*g);
        }
    }
}

fn groups_of_rule(rule: &Rule) -> Vec<u32> {
    let mut out = Vec::new();
    for i in &rule.data.instructions {
        match i {
            Instruction::ApplyActions(a) | Instruction::WriteActions(a) => {
                groups_in_actions(a, &mut out)
            }
            _ => {}
        }
    }
    out
}

/// Traces `flow` through `view`.  `ctx` is the bridge's translation state;
/// learning is switched off for the trace and restored afterwards.
pub fn trace(view: &impl PipelineView, flow: &TraceFlow, ctx: &mut XlateCtx) -> Trace {
    let of_in = flow.key.in_port();
    let mut dp_key = flow.key;
    dp_key.set_in_port(view.of_to_dp(of_in).unwrap_or(of_in));
    let learn = ctx.may_learn;
    ctx.may_learn = false;
    let result = translate_datapath(view, &dp_key, ctx);
    ctx.may_learn = learn;

    // Attach the buckets taken to the rule whose actions named the group
    // (nested groups follow their parent bucket).
    let mut hits = result.groups_hit.iter().peekable();
    let mut steps: Vec<TraceStep> = Vec::new();
    for (table_id, rule) in &result.tables_visited {
        let mut groups = Vec::new();
        if let Some(r) = rule {
            let mut wanted = groups_of_rule(r);
            while let Some(&&(g, b)) = hits.peek() {
                if !wanted.contains(&g) {
                    break;
                }
                hits.next();
                let actions = view
                    .group(g)
                    .and_then(|gv| gv.buckets.get(b).map(|bk| bk.actions.clone()))
                    .unwrap_or_default();
                groups_in_actions(&actions, &mut wanted);
                groups.push(GroupStep {
                    group_id: g,
                    bucket: b,
                    actions,
                });
            }
        }
        steps.push(TraceStep {
            table_id: *table_id,
            rule: rule.clone(),
            groups,
        });
    }
    // Buckets from the action set run after the last lookup.
    if let Some(last) = steps.last_mut() {
        for &(g, b) in hits {
            let actions = view
                .group(g)
                .and_then(|gv| gv.buckets.get(b).map(|bk| bk.actions.clone()))
                .unwrap_or_default();
            last.groups.push(GroupStep {
                group_id: g,
                bucket: b,
                actions,
            });
        }
    }
    Trace {
        flow: *flow,
        dp_key,
        steps,
        result,
    }
}

fn frag_text(v: u8) -> &'static str {
    if v & FRAG_LATER != 0 {
        "later"
    } else if v & FRAG_ANY != 0 {
        "first"
    } else {
        "no"
    }
}

/// Prints `key & mask` in ovs-ofctl match syntax, with OVS's `recirc_id=`
/// and `nw_frag=` for the bits OpenFlow 1.3 cannot express.
pub fn format_masked_flow(key: &FlowKey, mask: &FlowMask) -> String {
    let mut m = *mask;
    let recirc = m.field(Field::RecircId) != 0;
    let frag = m.field(Field::NwFrag) != 0;
    for f in [
        Field::RecircId,
        Field::DpHash,
        Field::PktMark,
        Field::NwFrag,
        Field::TcpFlags,
        Field::VlanTpid,
        Field::VlanInnerTpid,
        Field::VlanInnerTci,
        Field::MplsLse1,
        Field::MplsLse2,
        Field::NwTtl,
    ] {
        m.key.set(f, 0);
    }
    let k = key.masked(&m);
    let body = match key_to_match(&k, &m) {
        Ok(om) => flow_text::format_match(&om, flow_text::DEFAULT_PRIORITY),
        Err(_) => {
            let mut s = String::new();
            let _ = k.fmt_masked(&m, &mut s);
            s
        }
    };
    let mut parts = Vec::new();
    if recirc {
        parts.push(format!("recirc_id={}", key.recirc_id()));
    }
    if !body.is_empty() {
        parts.push(body);
    }
    if frag {
        parts.push(format!("nw_frag={}", frag_text(key.nw_frag())));
    }
    parts.join(",")
}

/// Splits an action list at the commas outside parentheses (one action
/// per line, as OVS's trace prints them).
fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.retain(|a| !a.is_empty());
    out
}

fn port_name(p: u32) -> String {
    match p {
        ofport::LOCAL => "LOCAL".to_owned(),
        ofport::CONTROLLER => "CONTROLLER".to_owned(),
        _ => p.to_string(),
    }
}

impl Trace {
    /// The traced flow in ovs-ofctl syntax (the fields given).
    pub fn flow_text(&self) -> String {
        format_masked_flow(&self.flow.key, &self.flow.given)
    }

    /// The megaflow the datapath would install, in ovs-ofctl syntax with
    /// OpenFlow port numbers.
    /// Pipeline state (metadata, registers) is left out: it is not a
    /// packet field and is zero in every datapath key.
    pub fn megaflow_text(&self) -> String {
        let mut k = self.dp_key;
        k.set_in_port(self.flow.key.in_port());
        let mut wc = self.result.wc;
        for f in std::iter::once(Field::Metadata).chain(crate::match_key::REG_FIELDS) {
            wc.key.set(f, 0);
        }
        format_masked_flow(&k, &wc)
    }

    /// One line per rule: `match, priority N[, cookie 0xC]`.
    pub fn rule_text(rule: &Rule) -> String {
        let e = &rule.data;
        let m = flow_text::format_match(&e.match_, flow_text::DEFAULT_PRIORITY);
        let mut s = if m.is_empty() {
            format!("priority {}", e.priority)
        } else {
            format!("{m}, priority {}", e.priority)
        };
        if e.cookie != 0 {
            s.push_str(&format!(", cookie {:#x}", e.cookie));
        }
        s
    }

    /// The readable report (see the module documentation); datapath
    /// actions are printed by `actions` (the caller knows port names).
    pub fn to_text(&self, bridge: &str, actions: &dyn Fn(&[DpAction]) -> String) -> String {
        let mut s = format!("Flow: {}\n\n", self.flow_text());
        let title = format!("bridge(\"{bridge}\")");
        s.push_str(&title);
        s.push('\n');
        s.push_str(&"-".repeat(title.len()));
        s.push('\n');
        for st in &self.steps {
            match &st.rule {
                Some(r) => {
                    s.push_str(&format!("{:2}. {}\n", st.table_id, Self::rule_text(r)));
                    for a in split_top_level(&flow_text::format_instructions(&r.data.instructions))
                    {
                        s.push_str(&format!("    {a}\n"));
                    }
                    for g in &st.groups {
                        s.push_str(&format!("    group {} bucket {}\n", g.group_id, g.bucket));
                        let a = flow_text::format_actions(&g.actions);
                        for a in split_top_level(if a.is_empty() { "drop" } else { &a }) {
                            s.push_str(&format!("            {a}\n"));
                        }
                    }
                }
                None => {
                    s.push_str(&format!("{:2}. No match.\n    drop\n", st.table_id));
                }
            }
        }
        if self.steps.is_empty() {
            s.push_str("No table looked up (fail-open: NORMAL).\n");
        }
        s.push('\n');
        for p in &self.result.packet_ins {
            s.push_str(&format!(
                "Packet-in: reason {}, table {}, cookie {:#x}, max_len {}\n",
                p.reason, p.table_id, p.cookie, p.max_len
            ));
        }
        if !self.result.skipped.is_empty() {
            s.push_str(&format!(
                "Skipped actions: {}\n",
                self.result.skipped.join(", ")
            ));
        }
        if self.result.truncated {
            s.push_str("Translation truncated (depth or size limit): packet dropped\n");
        }
        s.push_str(&format!("Megaflow: {}\n", self.megaflow_text()));
        s.push_str(&format!(
            "Datapath actions: {}\n",
            actions(&self.result.actions)
        ));
        s
    }

    /// The input port as text (`LOCAL` for the local port).
    pub fn in_port_text(&self) -> String {
        port_name(self.flow.key.in_port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_table::{FlowSpec as TableSpec, FlowTable};
    use crate::wire::message::{Bucket, group_type};
    use crate::xlate::GroupView;

    /// A pipeline double: three tables and one group.
    struct View {
        tables: Vec<FlowTable>,
        buckets: Vec<Bucket>,
    }

    impl PipelineView for View {
        fn table(&self, id: u8) -> Option<&FlowTable> {
            self.tables.get(usize::from(id))
        }
        fn group(&self, id: u32) -> Option<GroupView<'_>> {
            (id == 7).then_some(GroupView {
                group_type: group_type::ALL,
                buckets: &self.buckets,
            })
        }
        fn port_is_live(&self, _: u32) -> bool {
            true
        }
        fn ports(&self) -> Vec<u32> {
            vec![1, 2, 3]
        }
    }

    fn add(t: &mut FlowTable, text: &str) {
        let spec = flow_text::parse_flow(text, FlowCommand::Add).unwrap();
        let fm = spec.to_flow_mod();
        t.add(TableSpec::from_flow_mod(&fm), 0).expect("flow added");
    }

    fn view() -> View {
        let mut tables: Vec<FlowTable> = (0..3).map(|_| FlowTable::new(100)).collect();
        add(&mut tables[0], "priority=10,in_port=1 actions=goto_table:1");
        add(
            &mut tables[1],
            "priority=100,cookie=0x5,tcp,tp_dst=80 actions=write_metadata:0x1/0x1,goto_table:2",
        );
        add(&mut tables[2], "priority=5,ip actions=group:7");
        let buckets = vec![
            Bucket {
                weight: 0,
                watch_port: ofport::ANY,
                watch_group: u32::MAX,
                actions: vec![Action::Output {
                    port: 2,
                    max_len: 0,
                }],
            },
            Bucket {
                weight: 0,
                watch_port: ofport::ANY,
                watch_group: u32::MAX,
                actions: vec![Action::Output {
                    port: 3,
                    max_len: 0,
                }],
            },
        ];
        View { tables, buckets }
    }

    fn no_port(_: &str) -> Option<u32> {
        None
    }

    #[test]
    fn explains_three_tables_and_a_group() {
        let v = view();
        let flow = parse_trace_flow("in_port=1,tcp,nw_dst=10.0.0.1,tp_dst=80", &no_port).unwrap();
        let mut ctx = XlateCtx::default();
        let t = trace(&v, &flow, &mut ctx);
        assert_eq!(t.steps.len(), 3, "{t:?}");
        assert_eq!(t.steps[0].table_id, 0);
        assert_eq!(t.steps[2].table_id, 2);
        assert_eq!(t.steps[2].groups.len(), 2);
        let text = t.to_text("br0", &|a: &[DpAction]| {
            let mut s = String::new();
            datapath::actions::write_actions(&mut s, a).unwrap();
            s
        });
        assert!(
            text.starts_with(
                "Flow: tcp,in_port=1,nw_dst=10.0.0.1,tp_dst=80\n\nbridge(\"br0\")\n-------------\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(" 0. in_port=1, priority 10\n    goto_table:1\n"),
            "{text}"
        );
        assert!(
            text.contains(" 1. tcp,tp_dst=80, priority 100, cookie 0x5\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "    group:7
    group 7 bucket 0
            output:2
"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "    group 7 bucket 1
            output:3
"
            ),
            "{text}"
        );
        assert!(
            text.contains("Datapath actions: clone(2),clone(3)\n")
                || text.contains("Datapath actions: 2,3\n"),
            "{text}"
        );
        let mega = t.megaflow_text();
        assert!(
            mega.contains("in_port=1") && mega.contains("tp_dst=80"),
            "{mega}"
        );
        assert!(
            !mega.contains("nw_dst"),
            "table lookups never read nw_dst: {mega}"
        );
    }

    #[test]
    fn a_miss_drops_and_says_so() {
        let v = view();
        let flow = parse_trace_flow("in_port=2,udp", &no_port).unwrap();
        let t = trace(&v, &flow, &mut XlateCtx::default());
        assert_eq!(t.steps.len(), 1);
        assert!(t.steps[0].rule.is_none());
        assert!(t.result.actions.is_empty());
        let text = t.to_text("br0", &|_: &[DpAction]| "drop".to_owned());
        assert!(text.contains(" 0. No match.\n    drop\n"), "{text}");
    }

    #[test]
    fn port_names_and_bad_flows() {
        let names = |n: &str| (n == "p1").then_some(1);
        let f = parse_trace_flow("in_port=p1,ip", &names).unwrap();
        assert_eq!(f.key.in_port(), 1);
        assert!(matches!(
            parse_trace_flow("in_port=nope", &names),
            Err(TraceError::UnknownPort(_))
        ));
        assert!(matches!(
            parse_trace_flow("nw_srcx=1", &names),
            Err(TraceError::Syntax(_))
        ));
    }
}
