//! Datapath statistics commands in OVS's shapes: `dpif-netdev/pmd-stats-show`
//! and `-clear`, `upcall/show`, `coverage/read-counter`.
//!
//! What maps onto what (rvs's datapath vs OVS 3.1's userspace datapath):
//!
//! * `pmd-stats-show` prints one block per datapath (rvs has one datapath per
//!   bridge), its PMD threads' counters summed: rvs keeps no per-thread
//!   breakdown outside the datapath, so there is no `-pmd CORE` selection
//!   (asking for one is an error).  Lines printed: `packets received`
//!   (EMC hits + megaflow hits + upcalls), `packet recirculations` (always 0:
//!   rvs's datapath has no recirculation action), `avg. datapath passes per
//!   packet`, `emc hits`, `megaflow hits`, `miss with success upcall`,
//!   `miss with failed upcall`, and rvs's own `iterations` / `busy
//!   iterations`.  OVS's lines for caches and mechanisms rvs has not (SMC,
//!   simple match, partial hardware offload, miniflow-extract optimisation,
//!   subtable lookups per hit, output batching, cycle accounting) are left
//!   out rather than printed as zeros.
//! * `pmd-stats-clear` does what OVS does: it remembers the counters at that
//!   moment and `pmd-stats-show` prints the difference.  Only these two
//!   commands see the reset (`dpctl/show`, `dpif/show`, `coverage/*` keep
//!   totals since start, as in OVS).
//! * `upcall/show` prints `flows : (current N) (limit L)` per datapath; rvs's
//!   limit is the fixed megaflow limit of the datapath (OVS's is dynamic and
//!   also shows an average and maximum, which rvs does not track).
//! * `coverage/read-counter NAME` answers a counter of [`coverage_counters`]
//!   (the names `coverage/show` prints) or an OVS name with the same meaning
//!   ([`OVS_COVERAGE_ALIASES`]); any other name is OVS's `No such counter`
//!   error, never a made-up zero.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use datapath::dpif::Dpif;
use datapath::pmd::PmdStats;

/// The process-wide coverage counters rvs keeps, in `coverage/show` order,
/// summed over `bridges` (`(name, datapath, dropped packet-ins)`).
pub fn coverage_counters(bridges: &[(String, Arc<Dpif>, u64)]) -> Vec<(&'static str, u64)> {
    let mut total = PmdStats::default();
    let mut dropped_pins = 0;
    for (_, d, pins) in bridges {
        total.add(&d.pmd_stats());
        dropped_pins += pins;
    }
    vec![
        ("dpif_emc_hit", total.emc_hits),
        ("dpif_megaflow_hit", total.megaflow_hits),
        ("dpif_upcall", total.upcalls),
        ("dpif_upcall_error", total.upcall_errors),
        ("dpif_flow_limit_hit", total.flow_limit_hits),
        ("dpif_no_port_drop", total.no_port_drops),
        ("pmd_iterations", total.iterations),
        ("pmd_busy_iterations", total.busy_iterations),
        ("packet_in_overflow", dropped_pins),
    ]
}

/// OVS coverage counter names that mean exactly what one of rvs's counters
/// counts: `(ovs name, rvs name)`.  `upcall_flow_limit_hit`: an upcall's
/// megaflow was not installed because the datapath held its flow limit.
pub const OVS_COVERAGE_ALIASES: &[(&str, &str)] =
    &[("upcall_flow_limit_hit", "dpif_flow_limit_hit")];

/// `coverage/read-counter NAME`: the counter's total followed by a newline
/// (OVS's reply), or OVS's `No such counter` error.
pub fn coverage_read_counter(
    counters: &[(&'static str, u64)],
    name: &str,
) -> Result<String, String> {
    let rvs_name = OVS_COVERAGE_ALIASES
        .iter()
        .find(|(o, _)| *o == name)
        .map_or(name, |(_, r)| *r);
    counters
        .iter()
        .find(|(n, _)| *n == rvs_name)
        .map(|(_, v)| format!("{v}\n"))
        .ok_or_else(|| "No such counter".to_owned())
}

/// `a - b` field by field (a counter read before a clear never exceeds one
/// read after it; saturating keeps a restarted datapath at zero, not at a
/// wrapped value).
pub fn stats_since(a: &PmdStats, b: &PmdStats) -> PmdStats {
    PmdStats {
        emc_hits: a.emc_hits.saturating_sub(b.emc_hits),
        megaflow_hits: a.megaflow_hits.saturating_sub(b.megaflow_hits),
        upcalls: a.upcalls.saturating_sub(b.upcalls),
        upcall_errors: a.upcall_errors.saturating_sub(b.upcall_errors),
        flow_limit_hits: a.flow_limit_hits.saturating_sub(b.flow_limit_hits),
        no_port_drops: a.no_port_drops.saturating_sub(b.no_port_drops),
        iterations: a.iterations.saturating_sub(b.iterations),
        busy_iterations: a.busy_iterations.saturating_sub(b.busy_iterations),
    }
}

/// The counters `pmd-stats-clear` saved, per datapath name.  An entry
/// belongs to one datapath instance: a bridge deleted and re-created
/// under the same name does not inherit the old baseline.
#[derive(Default)]
pub struct PmdBaselines {
    saved: Mutex<BTreeMap<String, (Weak<Dpif>, PmdStats)>>,
}

impl std::fmt::Debug for PmdBaselines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmdBaselines").finish_non_exhaustive()
    }
}

impl PmdBaselines {
    /// No baselines.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Weak<Dpif>, PmdStats)>> {
        match self.saved.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// `pmd-stats-clear` for datapath `name`: remembers its counters now.
    /// Entries of datapaths that are gone are dropped here, so the map
    /// holds at most one entry per live datapath.
    pub fn clear(&self, name: &str, dpif: &Arc<Dpif>) {
        let mut m = self.map();
        m.retain(|_, (w, _)| w.strong_count() > 0);
        m.insert(name.to_owned(), (Arc::downgrade(dpif), dpif.pmd_stats()));
    }

    /// The counters of `dpif` since the last [`PmdBaselines::clear`] of
    /// this very datapath (since start if none).
    pub fn since_clear(&self, name: &str, dpif: &Arc<Dpif>) -> PmdStats {
        let now = dpif.pmd_stats();
        match self.map().get(name) {
            Some((w, base)) if w.upgrade().is_some_and(|d| Arc::ptr_eq(&d, dpif)) => {
                stats_since(&now, base)
            }
            _ => now,
        }
    }
}

/// One datapath's block of `dpif-netdev/pmd-stats-show`.
pub fn pmd_stats_show(dp_name: &str, st: &PmdStats) -> String {
    let received = st.emc_hits + st.megaflow_hits + st.upcalls;
    let passes = if received == 0 { "0.00" } else { "1.00" };
    format!(
        "pmd threads of {dp_name} (counters summed over its threads):\n\
         \x20 packets received: {received}\n\
         \x20 packet recirculations: 0\n\
         \x20 avg. datapath passes per packet: {passes}\n\
         \x20 emc hits: {}\n\
         \x20 megaflow hits: {}\n\
         \x20 miss with success upcall: {}\n\
         \x20 miss with failed upcall: {}\n\
         \x20 iterations: {}\n\
         \x20 busy iterations: {}\n",
        st.emc_hits,
        st.megaflow_hits,
        st.upcalls.saturating_sub(st.upcall_errors),
        st.upcall_errors,
        st.iterations,
        st.busy_iterations,
    )
}

/// Parses `pmd-stats-show` / `-clear` arguments (`[-pmd CORE] [DP]`):
/// the datapath name, if given.  `-pmd` is refused: rvs reports per
/// datapath, not per thread.
pub fn pmd_stats_args(args: &[String]) -> Result<Option<&str>, String> {
    match args {
        [] => Ok(None),
        [dp] if !dp.starts_with('-') => Ok(Some(dp.as_str())),
        [opt, ..] if opt == "-pmd" => Err(
            "-pmd: rvs keeps these counters per datapath, not per thread; \
             omit -pmd"
                .to_owned(),
        ),
        [a, ..] if a.starts_with('-') => Err(format!("{a}: unknown option")),
        _ => Err("too many arguments: [-pmd core] [dp]".to_owned()),
    }
}

/// One datapath's block of `upcall/show`.
pub fn upcall_show(dp_name: &str, current: usize, limit: usize) -> String {
    format!("{dp_name}:\n  flows         : (current {current}) (limit {limit})\n")
}
