//! `dump-table-features` output: OpenFlow 1.3 table features the way
//! `ovs-ofctl` 3.1 prints them.
//!
//! Open vSwitch first converts each table's properties into its own
//! vocabulary — fields as its field names in its own field order
//! (`in_port_oxm`, `nw_proto`, `ip_dscp`, ...), actions as its action
//! names (`strip_vlan`, `mod_nw_ttl`, ...), instructions in its own
//! order — drops what it has no name for, copies missing `_MISS`
//! properties from their regular counterparts, and then prints tables
//! that equal their predecessor as `ditto` (a goto-table bitmap that only
//! lacks the next table counts as equal).  This module does the same on
//! small bitsets.

use std::fmt::Write as _;

use ofproto::wire::oxm::OxmId;
use ofproto::wire::table_features::{TableFeatureProp, TableFeatures, TypeId};

/// Open vSwitch's field order and names for the OpenFlow 1.3 basic
/// fields it knows, as (basic field code, name).
const FIELDS: &[(u8, &str)] = &[
    (38, "tun_id"),
    (2, "metadata"),
    (0, "in_port_oxm"),
    (4, "eth_src"),
    (3, "eth_dst"),
    (5, "eth_type"),
    (6, "vlan_vid"),
    (7, "vlan_pcp"),
    (34, "mpls_label"),
    (35, "mpls_tc"),
    (36, "mpls_bos"),
    (11, "ip_src"),
    (12, "ip_dst"),
    (26, "ipv6_src"),
    (27, "ipv6_dst"),
    (28, "ipv6_label"),
    (10, "nw_proto"),
    (8, "ip_dscp"),
    (9, "nw_ecn"),
    (21, "arp_op"),
    (22, "arp_spa"),
    (23, "arp_tpa"),
    (24, "arp_sha"),
    (25, "arp_tha"),
    (13, "tcp_src"),
    (14, "tcp_dst"),
    (15, "udp_src"),
    (16, "udp_dst"),
    (17, "sctp_src"),
    (18, "sctp_dst"),
    (19, "icmp_type"),
    (20, "icmp_code"),
    (29, "icmpv6_type"),
    (30, "icmpv6_code"),
    (31, "nd_target"),
    (32, "nd_sll"),
    (33, "nd_tll"),
];

/// Open vSwitch's action order and names for OpenFlow 1.3 action types,
/// as (action type, name).
const ACTIONS: &[(u16, &str)] = &[
    (0, "output"),
    (22, "group"),
    (25, "set_field"),
    (18, "strip_vlan"),
    (17, "push_vlan"),
    (23, "mod_nw_ttl"),
    (24, "dec_ttl"),
    (15, "set_mpls_ttl"),
    (16, "dec_mpls_ttl"),
    (19, "push_mpls"),
    (20, "pop_mpls"),
    (21, "set_queue"),
];

/// Open vSwitch's instruction order and names, as (instruction type, name).
const INSTRUCTIONS: &[(u16, &str)] = &[
    (6, "meter"),
    (4, "apply_actions"),
    (5, "clear_actions"),
    (3, "write_actions"),
    (2, "write_metadata"),
    (1, "goto_table"),
];

/// OVS's names, in OVS's order, of the OpenFlow action types whose bits
/// are set in `bitmap` (bit `n` = action type `n`), space separated.
pub fn action_bitmap_names(bitmap: u32) -> String {
    ACTIONS
        .iter()
        .filter(|(t, _)| *t < 32 && bitmap & (1u32 << t) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ActionFeatures {
    actions: u64,
    set_fields: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct InstructionFeatures {
    next: [u64; 4],
    instructions: u64,
    write: ActionFeatures,
    apply: ActionFeatures,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Features {
    table_id: u8,
    name: String,
    metadata_match: u64,
    metadata_write: u64,
    max_entries: u32,
    nonmiss: InstructionFeatures,
    miss: InstructionFeatures,
    match_: u64,
    mask: u64,
    wildcard: u64,
}

fn field_bits(ids: &[OxmId], only_masked: bool) -> u64 {
    let mut bits = 0;
    for id in ids {
        let Some(f) = id.header.basic_field() else {
            continue;
        };
        if only_masked && !id.header.has_mask() {
            continue;
        }
        if let Some(i) = FIELDS.iter().position(|(code, _)| *code == f.0) {
            bits |= 1 << i;
        }
    }
    bits
}

fn type_bits(ids: &[TypeId], table: &[(u16, &str)]) -> u64 {
    let mut bits = 0;
    for id in ids {
        if let Some(i) = table.iter().position(|(t, _)| *t == id.id_type) {
            bits |= 1 << i;
        }
    }
    bits
}

fn decode(tf: &TableFeatures) -> Features {
    let mut f = Features {
        table_id: tf.table_id,
        name: tf.name.clone(),
        metadata_match: tf.metadata_match,
        metadata_write: tf.metadata_write,
        max_entries: tf.max_entries,
        ..Features::default()
    };
    // Which _MISS properties were present: instructions, next, write
    // actions, apply actions, write set-field, apply set-field.
    let mut seen_miss = [false; 6];
    for p in &tf.properties {
        match p {
            TableFeatureProp::Instructions { miss, ids } => {
                let t = if *miss { &mut f.miss } else { &mut f.nonmiss };
                t.instructions = type_bits(ids, INSTRUCTIONS);
                seen_miss[0] |= *miss;
            }
            TableFeatureProp::NextTables { miss, tables } => {
                let t = if *miss { &mut f.miss } else { &mut f.nonmiss };
                t.next = [0; 4];
                for &n in tables.iter().filter(|&&n| n < 255) {
                    if let Some(w) = t.next.get_mut(usize::from(n / 64)) {
                        *w |= 1 << (n % 64);
                    }
                }
                seen_miss[1] |= *miss;
            }
            TableFeatureProp::WriteActions { miss, ids } => {
                let t = if *miss { &mut f.miss } else { &mut f.nonmiss };
                t.write.actions = type_bits(ids, ACTIONS);
                seen_miss[2] |= *miss;
            }
            TableFeatureProp::ApplyActions { miss, ids } => {
                let t = if *miss { &mut f.miss } else { &mut f.nonmiss };
                t.apply.actions = type_bits(ids, ACTIONS);
                seen_miss[3] |= *miss;
            }
            TableFeatureProp::WriteSetfield { miss, ids } => {
                let t = if *miss { &mut f.miss } else { &mut f.nonmiss };
                t.write.set_fields = field_bits(ids, false);
                seen_miss[4] |= *miss;
            }
            TableFeatureProp::ApplySetfield { miss, ids } => {
                let t = if *miss { &mut f.miss } else { &mut f.nonmiss };
                t.apply.set_fields = field_bits(ids, false);
                seen_miss[5] |= *miss;
            }
            TableFeatureProp::Match(ids) => {
                f.match_ = field_bits(ids, false);
                f.mask = field_bits(ids, true);
            }
            TableFeatureProp::Wildcards(ids) => f.wildcard = field_bits(ids, false),
            _ => {}
        }
    }
    if !tf.properties.is_empty() {
        if !seen_miss[0] {
            f.miss.instructions = f.nonmiss.instructions;
        }
        if !seen_miss[1] {
            f.miss.next = f.nonmiss.next;
        }
        if !seen_miss[2] {
            f.miss.write.actions = f.nonmiss.write.actions;
        }
        if !seen_miss[3] {
            f.miss.apply.actions = f.nonmiss.apply.actions;
        }
        if !seen_miss[4] {
            f.miss.write.set_fields = f.nonmiss.write.set_fields;
        }
        if !seen_miss[5] {
            f.miss.apply.set_fields = f.nonmiss.apply.set_fields;
        }
    }
    f.match_ |= f.mask;
    f.wildcard |= f.mask;
    f.wildcard &= f.match_;
    f
}

fn bit(next: &[u64; 4], n: u8) -> bool {
    next.get(usize::from(n / 64))
        .is_some_and(|w| w & (1 << (n % 64)) != 0)
}

fn next_equal(a: &[u64; 4], a_id: u8, b: &[u64; 4], b_id: u8) -> bool {
    if u16::from(b_id) == u16::from(a_id) + 1 && bit(a, b_id) && !bit(b, b_id) {
        let mut a2 = *a;
        if let Some(w) = a2.get_mut(usize::from(b_id / 64)) {
            *w &= !(1 << (b_id % 64));
        }
        a2 == *b
    } else if u16::from(a_id) == u16::from(b_id) + 1 {
        next_equal(b, b_id, a, a_id)
    } else {
        a == b
    }
}

fn tif_equal(a: &InstructionFeatures, a_id: u8, b: &InstructionFeatures, b_id: u8) -> bool {
    next_equal(&a.next, a_id, &b.next, b_id)
        && a.instructions == b.instructions
        && a.write == b.write
        && a.apply == b.apply
}

fn tif_empty(t: &InstructionFeatures) -> bool {
    t.next == [0; 4]
        && t.instructions == 0
        && t.write == ActionFeatures::default()
        && t.apply == ActionFeatures::default()
}

fn features_equal(a: &Features, b: &Features) -> bool {
    a.metadata_match == b.metadata_match
        && a.metadata_write == b.metadata_write
        && a.max_entries == b.max_entries
        && tif_equal(&a.nonmiss, a.table_id, &b.nonmiss, b.table_id)
        && tif_equal(&a.miss, a.table_id, &b.miss, b.table_id)
        && a.match_ == b.match_
}

fn names<'a>(bits: u64, table: &'a [(impl Copy, &'a str)]) -> Vec<&'a str> {
    table
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, (_, n))| *n)
        .collect()
}

/// Length of the longest common prefix of `a` and `b` ending in `_`.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut ret = 0;
    for (i, (x, y)) in a.bytes().zip(b.bytes()).enumerate() {
        if x != y {
            return ret;
        }
        if x == b'_' {
            ret = i + 1;
        }
    }
    ret
}

fn sequential(a: &str, b: &str) -> bool {
    fn split(s: &str) -> (&str, Option<u64>) {
        let n = s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        (
            s.get(..n).unwrap_or_default(),
            s.get(n..).and_then(|d| d.parse::<u64>().ok()),
        )
    }
    match (split(a), split(b)) {
        ((sa, Some(na)), (sb, Some(nb))) => sa == sb && nb == na + 1,
        _ => false,
    }
}

/// `print_names`: "eth_src eth_dst eth_type" => "eth_{src,dst,type}",
/// "reg0 reg1 reg2" => "reg0...reg2".
fn print_names(s: &mut String, ids: &[&str], prefix_len: usize) {
    let mut ids = ids;
    let mut group = 0;
    while !ids.is_empty() {
        if group > 0 {
            s.push(if prefix_len > 0 { ',' } else { ' ' });
        }
        group += 1;
        let tail = |x: &str| x.get(prefix_len..).unwrap_or_default().to_owned();
        let (prefix_run, extra) = if ids.len() < 2 {
            (ids.len(), 0)
        } else {
            let extra = common_prefix(&tail(ids[0]), &tail(ids[1]));
            if extra == 0 {
                (1, 0)
            } else {
                let mut i = 2;
                while i < ids.len() && common_prefix(&tail(ids[0]), &tail(ids[i])) > 0 {
                    i += 1;
                }
                (i, extra)
            }
        };
        let mut suffix_run = 1;
        while suffix_run < ids.len() && sequential(ids[suffix_run - 1], ids[suffix_run]) {
            suffix_run += 1;
        }
        if suffix_run == 2 {
            suffix_run = 1;
        }
        let run = prefix_run.max(suffix_run);
        if suffix_run >= prefix_run {
            s.push_str(&tail(ids[0]));
            if run > 1 {
                let _ = write!(s, "...{}", tail(ids[run - 1]));
            }
        } else {
            let t0 = tail(ids[0]);
            s.push_str(t0.get(..extra).unwrap_or_default());
            s.push('{');
            print_names(s, &ids[..run], prefix_len + extra);
            s.push('}');
        }
        ids = &ids[run..];
    }
}

fn print_fields(s: &mut String, bits: u64) {
    let n = names(bits, FIELDS);
    if !n.is_empty() {
        s.push(' ');
        print_names(s, &n, 0);
    }
}

fn print_action_features(s: &mut String, a: &ActionFeatures) {
    if a.actions != 0 {
        let _ = writeln!(
            s,
            "        actions: {}",
            names(a.actions, ACTIONS).join(" ")
        );
    }
    if a.set_fields != 0 {
        s.push_str("        supported on Set-Field:");
        print_fields(s, a.set_fields);
        s.push('\n');
    }
}

fn print_tif(s: &mut String, t: &InstructionFeatures, prev: Option<&InstructionFeatures>) {
    if t.next != [0; 4] {
        s.push_str("      next tables: ");
        let mut n: u16 = 0;
        let mut parts = Vec::new();
        while n < 255 {
            let Ok(start) = u8::try_from(n) else { break };
            if !bit(&t.next, start) {
                n += 1;
                continue;
            }
            let mut end = n + 1;
            while end < 255 && u8::try_from(end).is_ok_and(|e| bit(&t.next, e)) {
                end += 1;
            }
            if end == n + 1 {
                parts.push(format!("{n}"));
            } else {
                parts.push(format!("{n}-{}", end - 1));
            }
            n = end;
        }
        s.push_str(&parts.join(","));
        s.push('\n');
    }
    if t.instructions != 0 {
        if prev.is_some_and(|p| p.instructions == t.instructions) {
            s.push_str("      (same instructions)\n");
        } else {
            let _ = writeln!(
                s,
                "      instructions: {}",
                names(t.instructions, INSTRUCTIONS).join(" ")
            );
        }
    }
    if prev.is_some_and(|p| p.write == t.write && p.apply == t.apply) && t.write.set_fields != 0 {
        s.push_str("      (same actions)\n");
    } else if t.write != t.apply {
        s.push_str("      Write-Actions features:\n");
        print_action_features(s, &t.write);
        s.push_str("      Apply-Actions features:\n");
        print_action_features(s, &t.apply);
    } else if t.write.actions != 0 || t.write.set_fields != 0 {
        s.push_str("      Write-Actions and Apply-Actions features:\n");
        print_action_features(s, &t.write);
    }
}

/// Accumulates tables (possibly over several reply messages) and
/// produces the text `ovs-ofctl dump-table-features` prints.
#[derive(Debug, Default)]
pub struct Printer {
    s: String,
    prev: Option<Features>,
    ditto: Option<(u8, u8)>,
}

impl Printer {
    fn finish_ditto(&mut self) {
        if let Some((a, b)) = self.ditto.take() {
            if a == b {
                let _ = write!(self.s, "\n  table {a}: ditto\n");
            } else {
                let _ = write!(self.s, "\n  tables {a}...{b}: ditto\n");
            }
        }
    }

    /// Adds one table.
    pub fn add(&mut self, tf: &TableFeatures) {
        let f = decode(tf);
        let prev = self.prev.take();
        let same = prev.as_ref().is_some_and(|p| features_equal(&f, p));
        let s_before = same && f.name.is_empty();
        if s_before {
            let id = f.table_id;
            self.ditto = Some(match self.ditto {
                Some((a, _)) => (a, id),
                None => (id, id),
            });
            self.prev = Some(f);
            return;
        }
        self.finish_ditto();
        let _ = write!(self.s, "\n  table {}", f.table_id);
        if !f.name.is_empty() {
            let _ = write!(self.s, " (\"{}\")", f.name);
        }
        self.s.push(':');
        if same {
            self.s.push_str(" ditto");
            self.prev = Some(f);
            return;
        }
        self.s.push('\n');
        let s = &mut self.s;
        if f.metadata_match != 0 || f.metadata_write != 0 {
            let _ = writeln!(
                s,
                "    metadata: match={:#x} write={:#x}",
                f.metadata_match, f.metadata_write
            );
        }
        if f.max_entries != 0 {
            let _ = writeln!(s, "    max_entries={}", f.max_entries);
        }
        let pn = prev.as_ref().map(|p| &p.nonmiss);
        let pm = prev.as_ref().map(|p| &p.miss);
        let same_ins = prev.as_ref().is_some_and(|p| {
            tif_equal(&f.nonmiss, f.table_id, &p.nonmiss, p.table_id)
                && tif_equal(&f.miss, f.table_id, &p.miss, p.table_id)
        });
        if same_ins {
            if !tif_empty(&f.nonmiss) {
                s.push_str("    (same instructions)\n");
            }
        } else if !tif_equal(&f.nonmiss, f.table_id, &f.miss, f.table_id) {
            s.push_str("    instructions (other than table miss):\n");
            print_tif(s, &f.nonmiss, pn);
            s.push_str("    instructions (table miss):\n");
            print_tif(s, &f.miss, pm);
        } else if !tif_empty(&f.nonmiss) {
            s.push_str("    instructions (table miss and others):\n");
            print_tif(s, &f.nonmiss, pn);
        }
        if f.match_ != 0 {
            if prev.as_ref().is_some_and(|p| p.match_ == f.match_) {
                s.push_str("    (same matching)\n");
            } else {
                s.push_str("    matching:\n");
                for (title, bits) in [
                    ("arbitrary mask", f.match_ & f.mask & f.wildcard),
                    ("exact match or wildcard", f.match_ & !f.mask & f.wildcard),
                    ("must exact match", f.match_ & !f.mask & !f.wildcard),
                ] {
                    if bits != 0 {
                        let _ = write!(s, "      {title}:");
                        print_fields(s, bits);
                        s.push('\n');
                    }
                }
            }
        }
        self.prev = Some(f);
    }

    /// The text so far plus any pending `ditto` line, as `ovs-ofctl`
    /// prints it (without the leading newline, with a final one).
    pub fn finish(mut self) -> String {
        self.finish_ditto();
        let mut out = self.s.strip_prefix('\n').unwrap_or(&self.s).to_owned();
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_like_ovs() {
        let mut s = String::new();
        print_names(
            &mut s,
            &[
                "tun_id",
                "metadata",
                "eth_src",
                "eth_dst",
                "eth_type",
                "icmp_type",
                "icmp_code",
                "icmpv6_type",
            ],
            0,
        );
        assert_eq!(
            s,
            "tun_id metadata eth_{src,dst,type} icmp_{type,code} icmpv6_type"
        );
        let mut s = String::new();
        print_names(&mut s, &["reg0", "reg1", "reg2", "x"], 0);
        assert_eq!(s, "reg0...reg2 x");
    }
}
