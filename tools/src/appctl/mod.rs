//! The daemon's `ovs-appctl` commands: text producers over a bridge's
//! datapath, pipeline and MAC table, and [`register_all`], which puts them
//! on a [`UnixctlServer`].
//!
//! Output follows Open vSwitch 3.1 where our model has the same thing
//! (see docs/rvs-appctl.md for each command and what differs).  Every
//! producer is a plain function of its inputs (`now_ms` is an argument),
//! so tests drive them without a socket; the handlers registered by
//! [`register_all`] only look bridges up, take the bridge lock briefly
//! (cloning what they need, e.g. the datapath handle), and format.

pub mod dpstats;
pub mod odp;
pub mod vlog;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use datapath::dpif::Dpif;
use ofproto::bridge::OfBridge;
use ofproto::flow_text;
use ofproto::normal::MacLearning;
use ofproto::switch::Switch;
use ofproto::trace::{Trace, parse_trace_flow, trace};
use ofproto::wire::consts::port as ofport;
use ofproto::xlate::{PipelineView, XlateCtx};
use serde_json::json;

use crate::unixctl::{Handler, UnixctlServer};

/// The daemon's bridges by name, kept current by the daemon.
pub type BridgeMap = Arc<RwLock<BTreeMap<String, Arc<Mutex<OfBridge>>>>>;

/// Name of the datapath of bridge `br` (OVS's is `netdev@ovs-netdev`;
/// rvs has one datapath per bridge).
pub fn dp_name(br: &str) -> String {
    format!("rvs@{br}")
}

/// Port numbering: datapath port number -> name.
pub type PortNames = BTreeMap<u32, String>;

/// The datapath's port names.
pub fn dp_port_names(dpif: &Dpif) -> PortNames {
    dpif.list_ports()
        .into_iter()
        .map(|p| (p.port_no, p.name))
        .collect()
}

/// `dpctl/dump-flows`: one line per megaflow, OVS's format:
/// `[ufid:U, ]KEY, packets:N, bytes:N, used:X.XXXs|never[, flags:F], actions:A`.
/// `verbose` (`-m`) adds the ufid and prints wildcarded fields with their
/// masks; `names` prints port names instead of numbers.  `now_ms` is on
/// the datapath's clock (used times are relative to it).
pub fn dpctl_dump_flows(dpif: &Dpif, verbose: bool, names: bool, now_ms: u64) -> String {
    let pn = if names {
        dp_port_names(dpif)
    } else {
        PortNames::new()
    };
    let lookup = |p: u32| pn.get(&p).cloned();
    let mut flows = dpif.flow_dump();
    flows.sort_by_key(|f| f.ufid);
    let mut s = String::new();
    if !flows.is_empty() {
        // OVS's userspace datapath names the thread owning the flows; rvs's
        // megaflow cache is one table shared by its PMD threads.
        s.push_str("flow-dump from the main thread:\n");
    }
    for f in flows {
        if verbose {
            s.push_str(&format!("ufid:{}, ", ufid_text(f.ufid)));
        }
        let key = if verbose { f.orig_key } else { f.key };
        s.push_str(&odp::format_key(&key, &f.mask, verbose, &lookup));
        let st = f.stats();
        s.push_str(&format!(
            ", packets:{}, bytes:{}, used:",
            st.packets, st.bytes
        ));
        if st.used_ms == 0 {
            s.push_str("never");
        } else {
            let age = now_ms.saturating_sub(st.used_ms);
            s.push_str(&format!("{}.{:03}s", age / 1000, age % 1000));
        }
        if st.tcp_flags != 0 {
            s.push_str(&format!(", flags:{}", odp::stats_tcp_flags(st.tcp_flags)));
        }
        if verbose {
            s.push_str(", dp:ovs");
        }
        s.push_str(", actions:");
        s.push_str(&odp::format_actions(&f.actions, &f.key, &lookup));
        s.push('\n');
    }
    s
}

/// A ufid in OVS's UUID-like layout.
pub fn ufid_text(u: u128) -> String {
    let h = format!("{u:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `dpctl/show [-s]` for one datapath.
pub fn dpctl_show(name: &str, dpif: &Dpif, stats: bool) -> String {
    let st = dpif.pmd_stats();
    let mut s = format!(
        "{name}:\n  lookups: hit:{} missed:{} lost:{}\n  flows: {}\n",
        st.emc_hits + st.megaflow_hits,
        st.upcalls,
        st.upcall_errors,
        dpif.flow_count()
    );
    for p in dpif.list_ports() {
        s.push_str(&format!("  port {}: {}", p.port_no, p.name));
        if p.kind.as_str() != "system" {
            s.push_str(&format!(" ({})", p.kind.as_str()));
        }
        s.push('\n');
        if stats {
            let ps = p.stats;
            s.push_str(&format!(
                "    RX packets:{} errors:{} dropped:{} overruns:? frame:?\n",
                ps.rx_packets, ps.rx_errors, ps.rx_dropped
            ));
            s.push_str(&format!(
                "    TX packets:{} errors:{} dropped:{} aborted:? carrier:?\n",
                ps.tx_packets, ps.tx_errors, ps.tx_dropped
            ));
            s.push_str("    collisions:?\n");
            s.push_str(&format!(
                "    RX bytes:{}{}  TX bytes:{}{}\n",
                ps.rx_bytes,
                human_size(ps.rx_bytes),
                ps.tx_bytes,
                human_size(ps.tx_bytes)
            ));
        }
    }
    s
}

/// ` (1.5 KiB)` for sizes of 1 KiB and more, as `ovs-dpctl` prints them.
fn human_size(v: u64) -> String {
    const K: f64 = 1024.0;
    let f = v as f64;
    match v {
        _ if f >= K * K * K * K => format!(" ({:.1} TiB)", f / (K * K * K * K)),
        _ if f >= K * K * K => format!(" ({:.1} GiB)", f / (K * K * K)),
        _ if f >= K * K => format!(" ({:.1} MiB)", f / (K * K)),
        _ if v >= 1024 => format!(" ({:.1} KiB)", f / K),
        _ => String::new(),
    }
}

/// OpenFlow port number as OVS prints it in `dpif/show` (OpenFlow 1.0
/// numbering: `LOCAL` is 65534).
fn of10_port(p: u32) -> u32 {
    if p > 0xff00 {
        p.wrapping_sub(0xffff_0000)
    } else {
        p
    }
}

/// `dpif/show` for one bridge: `name: hit:N missed:N`, then
/// `    PORT OFPORT/DPPORT: (TYPE)` per port, sorted by name.
pub fn dpif_show(bridge: &str, dpif: &Dpif, ofport_of: &dyn Fn(&str) -> Option<u32>) -> String {
    let st = dpif.pmd_stats();
    let mut s = format!(
        "{}: hit:{} missed:{}\n  {bridge}:\n",
        dp_name(bridge),
        st.emc_hits + st.megaflow_hits,
        st.upcalls
    );
    let mut ports = dpif.list_ports();
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    for p in ports {
        let of = ofport_of(&p.name)
            .map(|o| of10_port(o).to_string())
            .unwrap_or_else(|| "none".to_owned());
        s.push_str(&format!(
            "    {} {of}/{}: ({})\n",
            p.name,
            p.port_no,
            p.kind.as_str()
        ));
    }
    s
}

fn of_port_text(p: u32) -> String {
    match p {
        ofport::LOCAL => "LOCAL".to_owned(),
        ofport::CONTROLLER => "CONTROLLER".to_owned(),
        _ => p.to_string(),
    }
}

/// `fdb/show`: ` port  VLAN  MAC                Age` then one line per
/// learned address, most recently seen last (OVS's LRU order).
pub fn fdb_show(mac: &MacLearning, now_ms: u64) -> String {
    let mut s = String::from(" port  VLAN  MAC                Age\n");
    let mut entries = mac.entries(now_ms);
    entries.sort_by_key(|e| e.last_seen_ms);
    for e in entries {
        let m = e.mac;
        s.push_str(&format!(
            "{:>5}  {:>4}  {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}  {:>3}\n",
            of_port_text(e.port),
            e.vlan,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            now_ms.saturating_sub(e.last_seen_ms) / 1000
        ));
    }
    s
}

/// `bridge/dump-flows`: every flow of every table, OVS's format
/// (`[table_id=N, ]duration=Ns, n_packets=N, n_bytes=N, MATCH,actions=A`).
pub fn bridge_dump_flows(sw: &Switch, now_ms: u64) -> String {
    let mut s = String::new();
    for (tid, table) in sw.tables().iter().enumerate() {
        let mut rules: Vec<_> = table.classifier().iter().cloned().collect();
        rules.sort_by_key(|r| std::cmp::Reverse(r.data.priority));
        for r in rules {
            let e = &r.data;
            if tid != 0 {
                s.push_str(&format!("table_id={tid}, "));
            }
            s.push_str(&format!(
                "duration={}s, n_packets={}, n_bytes={}, ",
                now_ms.saturating_sub(e.created_ms) / 1000,
                e.packet_count(),
                e.byte_count()
            ));
            s.push_str(&flow_text::format_match(&e.match_, e.priority));
            s.push_str(",actions=");
            s.push_str(&flow_text::format_instructions(&e.instructions));
            s.push('\n');
        }
    }
    s
}

/// Output format of `ofproto/trace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// Readable text (OVS-like).
    Text,
    /// One JSON object.
    Json,
}

/// `ofproto/trace`: parses `flow_text`, traces it on `view` and formats
/// the result.  `ctx` is the bridge's translation state (learning is
/// off during the trace); `port_no` resolves `in_port=NAME`.  Datapath
/// actions print port numbers, as OVS's trace does.
pub fn ofproto_trace(
    bridge: &str,
    view: &impl PipelineView,
    ctx: &mut XlateCtx,
    flow_text: &str,
    format: TraceFormat,
    port_no: &dyn Fn(&str) -> Option<u32>,
) -> Result<String, String> {
    let flow = parse_trace_flow(flow_text, port_no).map_err(|e| e.to_string())?;
    let t = trace(view, &flow, ctx);
    let names = |_: u32| None;
    let acts = |a: &[datapath::actions::DpAction]| odp::format_actions(a, &t.dp_key, &names);
    Ok(match format {
        TraceFormat::Text => t.to_text(bridge, &acts),
        TraceFormat::Json => {
            let mut v = trace_json(bridge, &t, &acts);
            v["megaflow_datapath"] =
                json!(odp::format_key(&t.dp_key, &t.result.wc, false, &|_| None));
            let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
            s.push('\n');
            s
        }
    })
}

fn trace_json(
    bridge: &str,
    t: &Trace,
    acts: &dyn Fn(&[datapath::actions::DpAction]) -> String,
) -> serde_json::Value {
    let tables: Vec<_> = t
        .steps
        .iter()
        .map(|st| {
            let rule = st.rule.as_ref().map(|r| {
                json!({
                    "match": flow_text::format_match(&r.data.match_, flow_text::DEFAULT_PRIORITY),
                    "priority": r.data.priority,
                    "cookie": format!("{:#x}", r.data.cookie),
                    "actions": flow_text::format_instructions(&r.data.instructions),
                })
            });
            let groups: Vec<_> = st
                .groups
                .iter()
                .map(|g| {
                    json!({
                        "group_id": g.group_id,
                        "bucket": g.bucket,
                        "actions": flow_text::format_actions(&g.actions),
                    })
                })
                .collect();
            json!({"table_id": st.table_id, "rule": rule, "groups": groups})
        })
        .collect();
    let packet_ins: Vec<_> = t
        .result
        .packet_ins
        .iter()
        .map(|p| {
            json!({
                "reason": p.reason,
                "table_id": p.table_id,
                "cookie": format!("{:#x}", p.cookie),
                "max_len": p.max_len,
            })
        })
        .collect();
    json!({
        "bridge": bridge,
        "flow": t.flow_text(),
        "in_port": t.in_port_text(),
        "tables": tables,
        "megaflow": t.megaflow_text(),
        "datapath_actions": acts(&t.result.actions),
        "packet_ins": packet_ins,
        "skipped": t.result.skipped,
        "truncated": t.result.truncated,
    })
}

/// `coverage/show`: event totals (rvs keeps no per-interval rates).
pub fn coverage_show(bridges: &[(String, Arc<Dpif>, u64)]) -> String {
    let rows = dpstats::coverage_counters(bridges);
    let mut s = String::from("Event coverage (totals since start; no rate history in rvs):\n");
    for (n, v) in rows {
        s.push_str(&format!("{n:<24} total: {v}\n"));
    }
    s
}

/// Resident set size of this process in KiB (Linux `/proc`), if known.
fn rss_kib() -> Option<u64> {
    let st = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = st.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A clock in milliseconds: must be the bridges' datapath clock
/// (megaflow "used" times, MAC ages and rule durations are read on it).
pub type NowFn = Arc<dyn Fn() -> u64 + Send + Sync>;

fn get_bridge(bridges: &BridgeMap, name: &str) -> Result<Arc<Mutex<OfBridge>>, String> {
    let map = bridges
        .read()
        .map_err(|_| "bridge table unavailable".to_owned())?;
    map.get(name)
        .cloned()
        .ok_or_else(|| "no such bridge".to_owned())
}

/// A bridge with its name.
type NamedBridge = (String, Arc<Mutex<OfBridge>>);

fn all_bridges(bridges: &BridgeMap) -> Vec<NamedBridge> {
    match bridges.read() {
        Ok(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Err(_) => Vec::new(),
    }
}

fn with_bridge<R>(b: &Arc<Mutex<OfBridge>>, f: impl FnOnce(&OfBridge) -> R) -> Result<R, String> {
    let g = b
        .lock()
        .map_err(|_| "bridge unavailable (lock poisoned)".to_owned())?;
    Ok(f(&g))
}

/// What the coverage counters are computed from, for every bridge.
fn coverage_inputs(bridges: &BridgeMap) -> Result<Vec<(String, Arc<Dpif>, u64)>, String> {
    let mut v = Vec::new();
    for (n, br) in all_bridges(bridges) {
        v.push(with_bridge(&br, |x| {
            (n.clone(), x.dpif().clone(), x.dropped_packet_ins())
        })?);
    }
    Ok(v)
}

/// Picks the bridges a dpctl command applies to: `rvs@BR` or `BR`, or all.
fn dp_targets(bridges: &BridgeMap, dp: Option<&str>) -> Result<Vec<NamedBridge>, String> {
    match dp {
        None => Ok(all_bridges(bridges)),
        Some(d) => {
            let br = d.strip_prefix("rvs@").unwrap_or(d);
            let b = get_bridge(bridges, br)
                .map_err(|_| format!("opening datapath {d} failed (No such device)"))?;
            Ok(vec![(br.to_owned(), b)])
        }
    }
}

/// dpctl options, parsed as OVS's dpctl does (options first).
#[derive(Debug, Default, Clone, Copy)]
struct DpctlOpts {
    verbose: bool,
    stats: bool,
    names: bool,
}

/// Parses dpctl options and at most one datapath name.  Port names are
/// shown by default only with `-m`, as in OVS.
fn dpctl_args(args: &[String]) -> Result<(DpctlOpts, Option<&str>), String> {
    let mut o = DpctlOpts::default();
    let mut names: Option<bool> = None;
    let mut rest = args.iter().map(String::as_str).peekable();
    while let Some(a) = rest.peek().copied() {
        if let Some(long) = a.strip_prefix("--") {
            match long {
                "statistics" => o.stats = true,
                "more" => o.verbose = true,
                "names" => names = Some(true),
                "no-names" => names = Some(false),
                _ => return Err(format!("Unrecognized option {a}")),
            }
        } else if let Some(short) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            for c in short.chars() {
                match c {
                    'm' => o.verbose = true,
                    's' => o.stats = true,
                    _ => return Err(format!("Unrecognized option -{c}")),
                }
            }
        } else {
            break;
        }
        rest.next();
    }
    o.names = names.unwrap_or(o.verbose);
    let dp = rest.next();
    if let Some(extra) = rest.next() {
        return Err(format!(
            "{extra}: unexpected argument (flow filters are not supported)"
        ));
    }
    Ok((o, dp))
}

fn handler(f: impl Fn(&[String]) -> Result<String, String> + Send + Sync + 'static) -> Handler {
    Arc::new(f)
}

/// Registers the daemon's commands on `server`: `dpctl/dump-flows`,
/// `dpctl/show`, `dpctl/dump-dps`, `dpctl/del-flows`, `dpif/show`,
/// `fdb/show`, `fdb/flush`, `ofproto/trace`, `bridge/dump-flows`,
/// `coverage/show`, `coverage/read-counter`, `upcall/show`,
/// `revalidator/purge`, `dpif-netdev/pmd-stats-show`,
/// `dpif-netdev/pmd-stats-clear` (see [`dpstats`]), `memory/show`, `vlog/list`, `vlog/set` (read-only
/// until [`vlog::register_vlog`] gives it a reload handle) and `exit`
/// (sets `exit` to true after replying).
///
/// Times are read on [`ofproto::channel::now_ms`], the clock the daemon
/// gives its bridges; use [`register_all_with_clock`] for another.
pub fn register_all(
    server: &mut UnixctlServer,
    bridges: BridgeMap,
    exit: tokio::sync::watch::Sender<bool>,
) {
    register_all_with_clock(server, bridges, exit, Arc::new(ofproto::channel::now_ms));
}

/// [`register_all`] with the bridges' clock given explicitly.
pub fn register_all_with_clock(
    server: &mut UnixctlServer,
    bridges: BridgeMap,
    exit: tokio::sync::watch::Sender<bool>,
    now: NowFn,
) {
    let b = bridges.clone();
    let clk = now.clone();
    server.register(
        "dpctl/dump-flows",
        "[-m] [--names | --no-names] [dp]",
        0,
        usize::MAX,
        handler(move |args| {
            let (o, dp) = dpctl_args(args)?;
            let mut s = String::new();
            for (_, br) in dp_targets(&b, dp)? {
                let dpif = with_bridge(&br, |x| x.dpif().clone())?;
                s.push_str(&dpctl_dump_flows(&dpif, o.verbose, o.names, clk()));
            }
            Ok(s)
        }),
    );
    let b = bridges.clone();
    server.register(
        "dpctl/show",
        "[-s] [dp]",
        0,
        usize::MAX,
        handler(move |args| {
            let (o, dp) = dpctl_args(args)?;
            let mut s = String::new();
            for (name, br) in dp_targets(&b, dp)? {
                let dpif = with_bridge(&br, |x| x.dpif().clone())?;
                s.push_str(&dpctl_show(&dp_name(&name), &dpif, o.stats));
            }
            Ok(s)
        }),
    );
    let b = bridges.clone();
    server.register(
        "dpctl/dump-dps",
        "",
        0,
        0,
        handler(move |_| {
            Ok(all_bridges(&b)
                .iter()
                .map(|(n, _)| format!("{}\n", dp_name(n)))
                .collect())
        }),
    );
    let b = bridges.clone();
    server.register(
        "dpctl/del-flows",
        "[dp]",
        0,
        1,
        handler(move |args| {
            let (_, dp) = dpctl_args(args)?;
            for (_, br) in dp_targets(&b, dp)? {
                with_bridge(&br, |x| x.dpif().flow_flush())?;
            }
            Ok(String::new())
        }),
    );
    let b = bridges.clone();
    server.register(
        "dpif/show",
        "",
        0,
        0,
        handler(move |_| {
            let mut s = String::new();
            for (name, br) in all_bridges(&b) {
                s.push_str(&with_bridge(&br, |x| {
                    dpif_show(&name, x.dpif(), &|n| x.port_no(n))
                })?);
            }
            Ok(s)
        }),
    );
    let b = bridges.clone();
    let clk = now.clone();
    server.register(
        "fdb/show",
        "bridge",
        1,
        1,
        handler(move |args| {
            let br = get_bridge(&b, args.first().map(String::as_str).unwrap_or(""))?;
            let now = clk();
            with_bridge(&br, |x| x.with_xlate_ctx(|c| fdb_show(&c.mac, now)))?
                .ok_or_else(|| "MAC table unavailable".to_owned())
        }),
    );
    let b = bridges.clone();
    server.register(
        "fdb/flush",
        "[bridge]",
        0,
        1,
        handler(move |args| {
            let targets = match args.first() {
                Some(n) => vec![(n.clone(), get_bridge(&b, n)?)],
                None => all_bridges(&b),
            };
            for (_, br) in targets {
                with_bridge(&br, |x| x.with_xlate_ctx(|c| c.mac.flush()))?;
            }
            Ok("table successfully flushed".to_owned())
        }),
    );
    let b = bridges.clone();
    server.register(
        "ofproto/trace",
        "[--format=text|json] bridge br_flow",
        2,
        3,
        handler(move |args| {
            let mut format = TraceFormat::Text;
            let mut rest = Vec::new();
            for a in args {
                match a.as_str() {
                    "--format=json" | "--json" | "-f=json" => format = TraceFormat::Json,
                    "--format=text" => format = TraceFormat::Text,
                    s if s.starts_with("--") => {
                        return Err(format!("{s}: unknown option"));
                    }
                    _ => rest.push(a.as_str()),
                }
            }
            let [bridge, flow] = rest[..] else {
                return Err("syntax: ofproto/trace [--format=json] bridge br_flow".to_owned());
            };
            let br = get_bridge(&b, bridge)?;
            let (view, port_map) = with_bridge(&br, |x| {
                let ports: BTreeMap<String, u32> = dp_port_names(x.dpif())
                    .into_values()
                    .filter_map(|n| x.port_no(&n).map(|o| (n, o)))
                    .collect();
                (x.snapshot(), ports)
            })?;
            let port_no = |n: &str| port_map.get(n).copied();
            // The bridge's own translation context (its MAC table), with
            // learning switched off for the trace and restored after.
            with_bridge(&br, |x| {
                x.with_xlate_ctx(|c| ofproto_trace(bridge, &*view, c, flow, format, &port_no))
            })?
            .unwrap_or_else(|| Err("translation context unavailable".to_owned()))
        }),
    );
    let b = bridges.clone();
    let clk = now.clone();
    server.register(
        "bridge/dump-flows",
        "bridge",
        1,
        1,
        handler(move |args| {
            let br = get_bridge(&b, args.first().map(String::as_str).unwrap_or(""))?;
            with_bridge(&br, |x| bridge_dump_flows(x.switch(), clk()))
        }),
    );
    let b = bridges.clone();
    server.register(
        "coverage/show",
        "",
        0,
        0,
        handler(move |_| Ok(coverage_show(&coverage_inputs(&b)?))),
    );
    let b = bridges.clone();
    server.register(
        "coverage/read-counter",
        "COUNTER",
        1,
        1,
        handler(move |args| {
            let v = coverage_inputs(&b)?;
            let name = args.first().map(String::as_str).unwrap_or("");
            dpstats::coverage_read_counter(&dpstats::coverage_counters(&v), name)
        }),
    );
    let b = bridges.clone();
    server.register(
        "upcall/show",
        "",
        0,
        0,
        handler(move |_| {
            let mut s = String::new();
            for (name, br) in all_bridges(&b) {
                let dpif = with_bridge(&br, |x| x.dpif().clone())?;
                s.push_str(&dpstats::upcall_show(
                    &dp_name(&name),
                    dpif.flow_count(),
                    dpif.flow_limit(),
                ));
            }
            Ok(s)
        }),
    );
    let b = bridges.clone();
    server.register(
        "revalidator/purge",
        "",
        0,
        0,
        handler(move |_| {
            for (_, br) in all_bridges(&b) {
                with_bridge(&br, |x| x.dpif().flow_flush())?;
            }
            Ok(String::new())
        }),
    );
    let baselines = Arc::new(dpstats::PmdBaselines::new());
    let b = bridges.clone();
    let base = baselines.clone();
    server.register(
        "dpif-netdev/pmd-stats-show",
        "[-pmd core] [dp]",
        0,
        3,
        handler(move |args| {
            let dp = dpstats::pmd_stats_args(args)?;
            let mut s = String::new();
            for (name, br) in dp_targets(&b, dp)? {
                let dpif = with_bridge(&br, |x| x.dpif().clone())?;
                let dn = dp_name(&name);
                s.push_str(&dpstats::pmd_stats_show(&dn, &base.since_clear(&dn, &dpif)));
            }
            Ok(s)
        }),
    );
    let b = bridges.clone();
    let base = baselines;
    server.register(
        "dpif-netdev/pmd-stats-clear",
        "[-pmd core] [dp]",
        0,
        3,
        handler(move |args| {
            let dp = dpstats::pmd_stats_args(args)?;
            for (name, br) in dp_targets(&b, dp)? {
                let dpif = with_bridge(&br, |x| x.dpif().clone())?;
                base.clear(&dp_name(&name), &dpif);
            }
            Ok(String::new())
        }),
    );
    let b = bridges.clone();
    server.register(
        "memory/show",
        "",
        0,
        0,
        handler(move |_| {
            let (mut ports, mut rules, mut flows, mut macs) = (0usize, 0usize, 0usize, 0usize);
            let all = all_bridges(&b);
            for (_, br) in &all {
                with_bridge(br, |x| {
                    ports += x.dpif().list_ports().len();
                    rules += x.switch().tables().iter().map(|t| t.len()).sum::<usize>();
                    flows += x.dpif().flow_count();
                    macs += x.with_xlate_ctx(|c| c.mac.len()).unwrap_or(0);
                })?;
            }
            // OVS's keys where rvs has the same thing ("udpif keys" are
            // the datapath flows), sorted as OVS sorts them.
            let mut s = format!(
                "bridges:{} mac_entries:{macs} ports:{ports} rules:{rules} udpif keys:{flows}",
                all.len()
            );
            if let Some(kib) = rss_kib() {
                s.push_str(&format!(" rss_kib:{kib}"));
            }
            s.push('\n');
            Ok(s)
        }),
    );
    vlog::register_vlog(server, None);
    let exit = Arc::new(exit);
    server.register(
        "exit",
        "[--cleanup]",
        0,
        1,
        handler(move |_| {
            let _ = exit.send(true);
            Ok(String::new())
        }),
    );
}

#[cfg(test)]
mod tests;
