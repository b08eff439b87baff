//! One OpenFlow flow table in memory: rules with priority, cookie, flags,
//! timeouts and counters, edited with the flow-mod semantics of OpenFlow
//! 1.3.5 (section 6.4) on top of the [`Classifier`].
//!
//! # Semantics
//!
//! * **Add** ([`FlowTable::add`]): with `OFPFF_CHECK_OVERLAP`, a rule of
//!   the same priority that some packet could match together with the new
//!   one (an identical match included) fails the add with
//!   `OFPFMFC_OVERLAP`.  A rule with an identical match and priority is
//!   replaced: the new entry starts a new duration, and keeps the old
//!   counters unless `OFPFF_RESET_COUNTS` is set.  The replaced entry is
//!   returned (no `FLOW_REMOVED` is due for it in OpenFlow 1.3).  A table
//!   at its size limit refuses new rules with `OFPFMFC_TABLE_FULL` (a
//!   replacement is always allowed).
//! * **Modify** ([`FlowTable::modify`]): the selected rules get the new
//!   instructions; match, priority, cookie, timeouts, flags and duration are
//!   kept; counters are cleared only with `OFPFF_RESET_COUNTS`.  Selecting
//!   nothing is not an error and adds nothing (OpenFlow 1.2+).
//! * **Delete** ([`FlowTable::delete`]): removes and returns the selected
//!   rules; the caller sends `FLOW_REMOVED` (reason `DELETE`) for those
//!   with `OFPFF_SEND_FLOW_REM`.
//! * **Selection** ([`Selector`]): strict picks the rule with the identical
//!   match and priority; non-strict picks every rule whose match is at
//!   least as specific as the request's, any priority.  Both are filtered
//!   by `cookie`/`cookie_mask` (when the mask is non-zero) and by
//!   `out_port`/`out_group` (when not `ANY`): the rule must have an output
//!   to that port, or a group action for that group, in its apply- or
//!   write-actions.  OpenFlow 1.3 applies the port/group filter to deletes
//!   only; [`Selector::from_flow_mod`] follows that.
//! * **Timeouts** ([`FlowTable::expire`]): time is an argument, in
//!   milliseconds of a monotonic clock.  A rule expires on its hard
//!   timeout `hard_timeout` seconds after it was added (or replaced), and on
//!   its idle timeout `idle_timeout` seconds after it last matched a packet
//!   (or was added); hard is checked first.
//! * **Counters**: per rule, packets, bytes and last use are atomics, so
//!   translation threads working on a published snapshot can credit the
//!   rule they hit ([`FlowEntry::record`]) without a lock.  The
//!   `NO_PKT_COUNTS`/`NO_BYT_COUNTS` flags are accepted and stored, and the
//!   counts are kept anyway (the spec allows it; Open vSwitch does the
//!   same).  Per table, lookups and matches are counted the same way, in
//!   counters every copy of the table shares (so lookups made on a
//!   published snapshot count for the switch's table).
//!
//! # Not here yet
//!
//! The 255-table array, `TABLE_MOD`, table features, eviction, the
//! version-free `FlowMod` validation (bad table, instruction checks) and
//! the `FLOW_REMOVED` sending are the next layer's; snapshots are the
//! bridge's (cloning a [`FlowTable`] copies the index; rules are shared
//! `Arc`s).
//!
//! # Journal (double buffering)
//!
//! A table can keep a journal of its index edits (every rule inserted or
//! removed, as the shared `Arc`).  An older copy of the table plus the
//! journal of the newer one is the newer one: `FlowTable::catch_up`
//! replays the journal onto the older copy.  The switch uses this to keep
//! two copies of a published table and write to whichever no reader
//! holds, so a change after a publish costs its own edits twice instead
//! of a copy of the whole table.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datapath::flow::{FlowKey, FlowMask};

use crate::classifier::{Classifier, ClsRule};
use crate::match_key::{MatchKeyError, match_to_key};
use crate::wire::OfpError;
use crate::wire::action::Action;
use crate::wire::consts;
use crate::wire::error::flow_mod_failed;
use crate::wire::instruction::Instruction;
use crate::wire::message::{FlowMod, FlowRemoved, flow_mod_command, flow_mod_flags};
use crate::wire::oxm::Match;

/// A classifier rule carrying a flow entry.
pub type Rule = ClsRule<FlowEntry>;

/// Why a flow-table edit failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowTableError {
    /// `OFPFF_CHECK_OVERLAP` and an overlapping rule exists.
    #[error("flow overlaps an existing flow of the same priority")]
    Overlap,
    /// The table holds its maximum number of rules.
    #[error("flow table full")]
    TableFull,
    /// The match could not be converted to a flow key.
    #[error(transparent)]
    Match(#[from] MatchKeyError),
}

impl FlowTableError {
    /// The OpenFlow error to answer the flow-mod with.
    pub fn to_ofp_error(&self) -> OfpError {
        match self {
            Self::Overlap => OfpError::new(
                crate::wire::ErrorType::FLOW_MOD_FAILED,
                flow_mod_failed::OVERLAP,
                "overlapping flow with CHECK_OVERLAP",
            ),
            Self::TableFull => OfpError::new(
                crate::wire::ErrorType::FLOW_MOD_FAILED,
                flow_mod_failed::TABLE_FULL,
                "flow table full",
            ),
            Self::Match(e) => e.to_ofp_error(),
        }
    }
}

impl From<FlowTableError> for OfpError {
    fn from(e: FlowTableError) -> Self {
        e.to_ofp_error()
    }
}

/// What an add installs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlowSpec {
    /// The match, as the controller sent it.
    pub match_: Match,
    /// Priority.
    pub priority: u16,
    /// Cookie.
    pub cookie: u64,
    /// `OFPFF_*` flags.
    pub flags: u16,
    /// Idle timeout in seconds (0: none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0: none).
    pub hard_timeout: u16,
    /// Instructions.
    pub instructions: Vec<Instruction>,
}

impl FlowSpec {
    /// The add part of a flow-mod.
    pub fn from_flow_mod(fm: &FlowMod) -> Self {
        Self {
            match_: fm.match_.clone(),
            priority: fm.priority,
            cookie: fm.cookie,
            flags: fm.flags,
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            instructions: fm.instructions.clone(),
        }
    }
}

/// A flow entry: everything about a rule but its key, mask and priority.
#[derive(Debug)]
pub struct FlowEntry {
    /// The match as the controller sent it (for stats and `FLOW_REMOVED`).
    pub match_: Match,
    /// Priority (also the classifier priority).
    pub priority: u16,
    /// Cookie.
    pub cookie: u64,
    /// `OFPFF_*` flags.
    pub flags: u16,
    /// Idle timeout in seconds (0: none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0: none).
    pub hard_timeout: u16,
    /// Instructions.
    pub instructions: Vec<Instruction>,
    /// When the entry was added or replaced (ms).
    pub created_ms: u64,
    packets: AtomicU64,
    bytes: AtomicU64,
    last_used_ms: AtomicU64,
}

impl FlowEntry {
    /// A fresh entry for `spec`, added at `now_ms`.
    pub fn new(spec: FlowSpec, now_ms: u64) -> Self {
        Self {
            match_: spec.match_,
            priority: spec.priority,
            cookie: spec.cookie,
            flags: spec.flags,
            idle_timeout: spec.idle_timeout,
            hard_timeout: spec.hard_timeout,
            instructions: spec.instructions,
            created_ms: now_ms,
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_used_ms: AtomicU64::new(now_ms),
        }
    }

    /// Packets counted.
    pub fn packet_count(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Bytes counted.
    pub fn byte_count(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Last time a packet matched (or the add time), ms.
    pub fn last_used_ms(&self) -> u64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }

    /// Credits `packets`/`bytes` seen at `now_ms` (datapath traffic also
    /// refreshes the idle timeout through this).
    pub fn record(&self, packets: u64, bytes: u64, now_ms: u64) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.last_used_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    fn copy_counters_from(&self, other: &FlowEntry) {
        self.packets.store(other.packet_count(), Ordering::Relaxed);
        self.bytes.store(other.byte_count(), Ordering::Relaxed);
        self.last_used_ms
            .fetch_max(other.last_used_ms(), Ordering::Relaxed);
    }

    /// Whether the entry has an idle or hard timeout.
    pub fn is_timed(&self) -> bool {
        self.idle_timeout != 0 || self.hard_timeout != 0
    }

    /// True if the flags include `flag` (`flow_mod_flags::*`).
    pub fn has_flag(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// True if the apply- or write-actions output to `out_port` (unless it
    /// is `OFPP_ANY`) and use group `out_group` (unless `OFPG_ANY`): the
    /// flow-mod/flow-stats port and group filter.
    pub fn passes_out_filter(&self, out_port: u32, out_group: u32) -> bool {
        instructions_pass_out_filter(&self.instructions, out_port, out_group)
    }

    /// Seconds and nanoseconds alive at `now_ms`.
    pub fn duration(&self, now_ms: u64) -> (u32, u32) {
        let ms = now_ms.saturating_sub(self.created_ms);
        let sec = u32::try_from(ms / 1000).unwrap_or(u32::MAX);
        (sec, (ms % 1000) as u32 * 1_000_000)
    }

    /// The `FLOW_REMOVED` message for this entry.
    pub fn flow_removed(&self, reason: u8, table_id: u8, now_ms: u64) -> FlowRemoved {
        let (duration_sec, duration_nsec) = self.duration(now_ms);
        FlowRemoved {
            cookie: self.cookie,
            priority: self.priority,
            reason,
            table_id,
            duration_sec,
            duration_nsec,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            packet_count: self.packet_count(),
            byte_count: self.byte_count(),
            match_: self.match_.clone(),
        }
    }
}

/// The out_port/out_group test over an instruction list (see
/// [`FlowEntry::passes_out_filter`]).
pub fn instructions_pass_out_filter(ins: &[Instruction], out_port: u32, out_group: u32) -> bool {
    let actions = || {
        ins.iter().flat_map(|i| match i {
            Instruction::ApplyActions(a) | Instruction::WriteActions(a) => a.as_slice(),
            _ => &[],
        })
    };
    let port_ok = out_port == consts::port::ANY
        || actions().any(|a| matches!(a, Action::Output { port, .. } if *port == out_port));
    let group_ok = out_group == consts::group::ANY
        || actions().any(|a| matches!(a, Action::Group(g) if *g == out_group));
    port_ok && group_ok
}

/// Which rules a modify, delete or stats request selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// The request's key.
    pub key: FlowKey,
    /// The request's mask.
    pub mask: FlowMask,
    /// Priority (strict only).
    pub priority: u16,
    /// Strict (identical match and priority) or not.
    pub strict: bool,
    /// Cookie value to require under `cookie_mask`.
    pub cookie: u64,
    /// Cookie bits to compare (0: any cookie).
    pub cookie_mask: u64,
    /// Required output port (`OFPP_ANY`: no filter).
    pub out_port: u32,
    /// Required group (`OFPG_ANY`: no filter).
    pub out_group: u32,
}

impl Selector {
    /// The strict selector of exactly `rule` (its match and priority, no
    /// cookie or port/group filter).
    pub fn for_rule(rule: &Rule) -> Self {
        Self {
            key: *rule.key(),
            mask: *rule.mask(),
            priority: u16::try_from(rule.priority()).unwrap_or(u16::MAX),
            strict: true,
            cookie: 0,
            cookie_mask: 0,
            out_port: crate::wire::consts::port::ANY,
            out_group: crate::wire::consts::group::ANY,
        }
    }

    /// A selector for `m`, with no cookie or port/group filter.
    pub fn new(m: &Match, priority: u16, strict: bool) -> Result<Self, MatchKeyError> {
        let (key, mask) = match_to_key(m)?;
        Ok(Self {
            key,
            mask,
            priority,
            strict,
            cookie: 0,
            cookie_mask: 0,
            out_port: consts::port::ANY,
            out_group: consts::group::ANY,
        })
    }

    /// The selector of a modify or delete flow-mod (strictness from the
    /// command; out_port/out_group only for deletes, as the spec says).
    pub fn from_flow_mod(fm: &FlowMod) -> Result<Self, MatchKeyError> {
        let strict = matches!(
            fm.command,
            flow_mod_command::MODIFY_STRICT | flow_mod_command::DELETE_STRICT
        );
        let delete = matches!(
            fm.command,
            flow_mod_command::DELETE | flow_mod_command::DELETE_STRICT
        );
        let mut s = Self::new(&fm.match_, fm.priority, strict)?;
        s.cookie = fm.cookie;
        s.cookie_mask = fm.cookie_mask;
        if delete {
            s.out_port = fm.out_port;
            s.out_group = fm.out_group;
        }
        Ok(s)
    }

    /// True if the filters (cookie, out_port, out_group) accept `e`.
    pub fn filters_accept(&self, e: &FlowEntry) -> bool {
        (e.cookie ^ self.cookie) & self.cookie_mask == 0
            && e.passes_out_filter(self.out_port, self.out_group)
    }
}

/// One flow table.
#[derive(Debug)]
pub struct FlowTable {
    cls: Classifier<FlowEntry>,
    max_entries: usize,
    /// Rules with an idle or hard timeout (timeout scans are skipped
    /// while there are none).
    n_timed: usize,
    /// Shared by every copy of the table (a published snapshot and the
    /// switch's copy count into the same table statistics).
    lookups: Arc<AtomicU64>,
    matches: Arc<AtomicU64>,
    /// Index edits since the journal was started (see the module
    /// documentation); `None` when not journaling.
    journal: Option<Vec<Edit>>,
    /// Rules inserted or removed since the owner last took them
    /// ([`FlowTable::take_changed`]), replays excepted.
    changed: Vec<Arc<Rule>>,
}

/// One index edit, as journaled.
#[derive(Clone, Debug)]
enum Edit {
    Insert(Arc<Rule>),
    Remove(Arc<Rule>),
}

impl Clone for FlowTable {
    /// Copies the index (rules are shared); the copy keeps no journal.
    fn clone(&self) -> Self {
        Self {
            cls: self.cls.clone(),
            max_entries: self.max_entries,
            n_timed: self.n_timed,
            lookups: Arc::clone(&self.lookups),
            matches: Arc::clone(&self.matches),
            journal: None,
            changed: Vec::new(),
        }
    }
}

impl FlowTable {
    /// An empty table holding at most `max_entries` rules.
    pub fn new(max_entries: usize) -> Self {
        Self {
            cls: Classifier::new(),
            max_entries,
            n_timed: 0,
            lookups: Arc::new(AtomicU64::new(0)),
            matches: Arc::new(AtomicU64::new(0)),
            journal: None,
            changed: Vec::new(),
        }
    }

    /// Inserts `rule` into the index (journaled, and noted as changed
    /// unless replaying), keeping `n_timed`.
    fn index_insert(&mut self, rule: Arc<Rule>, replay: bool) -> Option<Arc<Rule>> {
        if let Some(j) = self.journal.as_mut() {
            j.push(Edit::Insert(Arc::clone(&rule)));
        }
        if !replay {
            self.changed.push(Arc::clone(&rule));
        }
        if rule.data.is_timed() {
            self.n_timed += 1;
        }
        let replaced = self.cls.insert(rule);
        if replaced.as_ref().is_some_and(|r| r.data.is_timed()) {
            self.n_timed = self.n_timed.saturating_sub(1);
        }
        replaced
    }

    /// Removes the rule with `r`'s match and priority from the index
    /// (journaled), keeping `n_timed`.
    fn index_remove(&mut self, r: &Rule, replay: bool) -> Option<Arc<Rule>> {
        let gone = self.cls.remove(r.key(), r.mask(), r.priority())?;
        if !replay {
            self.changed.push(Arc::clone(&gone));
        }
        if gone.data.is_timed() {
            self.n_timed = self.n_timed.saturating_sub(1);
        }
        if let Some(j) = self.journal.as_mut() {
            j.push(Edit::Remove(Arc::clone(&gone)));
        }
        Some(gone)
    }

    /// The rules inserted or removed (a replaced rule counts once, as its
    /// replacement) since the last call.
    pub(crate) fn take_changed(&mut self) -> Vec<Arc<Rule>> {
        std::mem::take(&mut self.changed)
    }

    /// Starts (or restarts) the journal, empty.
    pub(crate) fn start_journal(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// Stops journaling and drops the journal.
    pub(crate) fn stop_journal(&mut self) {
        self.journal = None;
    }

    /// Number of journaled edits, `None` when not journaling.
    pub(crate) fn journal_len(&self) -> Option<usize> {
        self.journal.as_ref().map(Vec::len)
    }

    /// Replays `newer`'s journal onto this table, which must be the copy
    /// `newer` was when its journal started.  Returns false (and changes
    /// nothing) if `newer` keeps no journal.  This table's own journal
    /// is stopped.
    pub(crate) fn catch_up(&mut self, newer: &FlowTable) -> bool {
        let Some(edits) = newer.journal.as_ref() else {
            return false;
        };
        self.journal = None;
        for e in edits {
            match e {
                Edit::Insert(r) => {
                    self.index_insert(Arc::clone(r), true);
                }
                Edit::Remove(r) => {
                    self.index_remove(r, true);
                }
            }
        }
        true
    }

    /// Number of rules (the table's active count).
    pub fn len(&self) -> usize {
        self.cls.len()
    }

    /// True if the table has no rules.
    pub fn is_empty(&self) -> bool {
        self.cls.is_empty()
    }

    /// The size limit.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The classifier (read-only).
    pub fn classifier(&self) -> &Classifier<FlowEntry> {
        &self.cls
    }

    /// Lookups counted by [`FlowTable::lookup`].
    pub fn lookup_count(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Lookups that found a rule.
    pub fn matched_count(&self) -> u64 {
        self.matches.load(Ordering::Relaxed)
    }

    /// Adds a rule (see the module documentation); returns the entry it
    /// replaced, if any.
    pub fn add(
        &mut self,
        spec: FlowSpec,
        now_ms: u64,
    ) -> Result<Option<Arc<Rule>>, FlowTableError> {
        let (key, mask) = match_to_key(&spec.match_)?;
        let prio = u32::from(spec.priority);
        if spec.flags & flow_mod_flags::CHECK_OVERLAP != 0
            && self.cls.find_overlap(&key, &mask, prio).is_some()
        {
            return Err(FlowTableError::Overlap);
        }
        let old = self.cls.find_exact(&key, &mask, prio).cloned();
        if old.is_none() && self.cls.len() >= self.max_entries {
            return Err(FlowTableError::TableFull);
        }
        let reset = spec.flags & flow_mod_flags::RESET_COUNTS != 0;
        let entry = FlowEntry::new(spec, now_ms);
        if let (Some(o), false) = (&old, reset) {
            entry.copy_counters_from(&o.data);
        }
        let mask = self
            .cls
            .shared_mask(&mask)
            .unwrap_or_else(|| Arc::new(mask));
        Ok(self.index_insert(
            Arc::new(ClsRule::with_shared_mask(key, mask, prio, entry)),
            false,
        ))
    }

    /// The rules `sel` selects.
    pub fn select(&self, sel: &Selector) -> Vec<Arc<Rule>> {
        if sel.strict {
            self.cls
                .find_exact(&sel.key, &sel.mask, u32::from(sel.priority))
                .filter(|r| sel.filters_accept(&r.data))
                .cloned()
                .into_iter()
                .collect()
        } else {
            self.cls
                .iter_loose(&sel.key, &sel.mask)
                .filter(|r| sel.filters_accept(&r.data))
                .cloned()
                .collect()
        }
    }

    /// Gives the selected rules `instructions` (clearing their counters if
    /// `reset_counts`); returns how many were modified.
    pub fn modify(
        &mut self,
        sel: &Selector,
        instructions: &[Instruction],
        reset_counts: bool,
    ) -> usize {
        let chosen = self.select(sel);
        for r in &chosen {
            let d = &r.data;
            let e = FlowEntry {
                match_: d.match_.clone(),
                priority: d.priority,
                cookie: d.cookie,
                flags: d.flags,
                idle_timeout: d.idle_timeout,
                hard_timeout: d.hard_timeout,
                instructions: instructions.to_vec(),
                created_ms: d.created_ms,
                packets: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                last_used_ms: AtomicU64::new(d.last_used_ms()),
            };
            if !reset_counts {
                e.copy_counters_from(d);
            }
            self.index_insert(
                Arc::new(ClsRule::with_shared_mask(
                    *r.key(),
                    Arc::clone(r.mask_arc()),
                    r.priority(),
                    e,
                )),
                false,
            );
        }
        chosen.len()
    }

    /// Removes and returns the selected rules.
    pub fn delete(&mut self, sel: &Selector) -> Vec<Arc<Rule>> {
        let chosen = self.select(sel);
        for r in &chosen {
            self.index_remove(r, false);
        }
        chosen
    }

    /// The highest-priority rule for `key`, adding the consulted bits to
    /// `wc`; counts the lookup.  (Packet counters are credited separately,
    /// with [`FlowEntry::record`].)
    pub fn lookup(&self, key: &FlowKey, wc: &mut FlowMask) -> Option<&Arc<Rule>> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let r = self.cls.lookup(key, wc);
        if r.is_some() {
            self.matches.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    /// [`FlowTable::lookup`] without counting it: for translations that
    /// stand for many packets (or none), whose owner credits the table
    /// with [`FlowTable::record_lookups`] per packet instead.
    pub fn lookup_uncounted(&self, key: &FlowKey, wc: &mut FlowMask) -> Option<&Arc<Rule>> {
        self.cls.lookup(key, wc)
    }

    /// Counts `lookups` lookups of which `matched` found a rule.
    pub fn record_lookups(&self, lookups: u64, matched: u64) {
        self.lookups.fetch_add(lookups, Ordering::Relaxed);
        self.matches.fetch_add(matched, Ordering::Relaxed);
    }

    /// Removes the rules whose hard or idle timeout has passed at `now_ms`,
    /// returning each with its `flow_removed_reason`.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(Arc<Rule>, u8)> {
        use crate::wire::message::flow_removed_reason as reason;
        if self.n_timed == 0 {
            return Vec::new();
        }
        let due: Vec<(Arc<Rule>, u8)> = self
            .cls
            .iter()
            .filter_map(|r| {
                let e = &r.data;
                let hard = e.hard_timeout != 0
                    && now_ms
                        >= e.created_ms
                            .saturating_add(u64::from(e.hard_timeout) * 1000);
                let idle = e.idle_timeout != 0
                    && now_ms
                        >= e.last_used_ms()
                            .saturating_add(u64::from(e.idle_timeout) * 1000);
                if hard {
                    Some((Arc::clone(r), reason::HARD_TIMEOUT))
                } else if idle {
                    Some((Arc::clone(r), reason::IDLE_TIMEOUT))
                } else {
                    None
                }
            })
            .collect();
        for (r, _) in &due {
            self.index_remove(r, false);
        }
        due
    }

    /// The earliest time (ms) at which [`FlowTable::expire`] could remove
    /// something, if any rule has a timeout (for scheduling the next call).
    pub fn next_expiry(&self) -> Option<u64> {
        if self.n_timed == 0 {
            return None;
        }
        self.cls
            .iter()
            .filter_map(|r| {
                let e = &r.data;
                let hard = (e.hard_timeout != 0).then(|| {
                    e.created_ms
                        .saturating_add(u64::from(e.hard_timeout) * 1000)
                });
                let idle = (e.idle_timeout != 0).then(|| {
                    e.last_used_ms()
                        .saturating_add(u64::from(e.idle_timeout) * 1000)
                });
                match (hard, idle) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }
}
