//! `rvs-ofctl`: the `ovs-ofctl` command line for OpenFlow 1.3 switches.
//!
//! The commands, arguments and printed text follow `ovs-ofctl` 3.1 run
//! with `-O OpenFlow13` (OpenFlow 1.3 is the only version spoken); see
//! `docs/rvs-ofctl.md` for the command reference and the differences.
//!
//! Layout: [`conn`] is the blocking client connection (HELLO, xids,
//! transactions, barrier streaming), [`print`] turns messages into
//! `ovs-ofctl`'s text, [`group`] and [`meter`] parse the group and meter
//! syntaxes (flows are parsed by `ofproto::flow_text`), [`testswitch`]
//! is a test double serving an in-memory switch, and this module holds
//! the option parser and one function per command.

pub mod conn;
pub mod group;
mod help;
pub mod meter;
pub mod print;
pub mod table_features;
pub mod testswitch;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ofproto::flow_text::{self, FlowCommand, FlowSpec};
use ofproto::wire::consts::{OFP_NO_BUFFER, group as ofpg, port as ofpp, table as ofptt};
use ofproto::wire::message::{
    Body, GroupMod, Message, MeterMod, PacketOut, PortMod, SwitchConfig, group_mod_command,
    meter_mod_command,
};
use ofproto::wire::multipart::{
    FlowStats, FlowStatsRequest, MultipartReplyBody, MultipartRequestBody,
};
use ofproto::wire::oxm::Match;

use conn::{Conn, ErrorReply, Streamer, Target, alloc_xid, skip_xids};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum OfctlError {
    /// Bad command line (unknown command or option, wrong arguments).
    #[error("{0}")]
    Usage(String),
    /// A fatal problem (connection, parse, bad reply), printed as
    /// `rvs-ofctl: MESSAGE`.
    #[error("{0}")]
    Fatal(String),
    /// `--timeout` (or the per-message wait) expired.
    #[error("timeout waiting for the switch")]
    Timeout,
    /// The switch answered with `OFPT_ERROR`; the text is what
    /// `ovs-ofctl` prints for it (already complete, printed as is).
    #[error("{0}")]
    Switch(String),
    /// `diff-flows` found differences (exit status 2, nothing more to say).
    #[error("differences found")]
    Differences,
    /// Standard output was closed (e.g. `| head`): stop quietly.
    #[error("output closed")]
    OutputClosed,
}

impl OfctlError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            OfctlError::Differences => 2,
            _ => 1,
        }
    }
}

type Res<T = ()> = Result<T, OfctlError>;

/// Command-line options (`ovs-ofctl`'s, as far as they make sense for
/// OpenFlow 1.3).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--strict`.
    pub strict: bool,
    /// `--no-stats` (dump-flows).
    pub no_stats: bool,
    /// `--sort[=FIELD]` / `--rsort[=FIELD]`: (field, ascending); `None`
    /// field means priority.
    pub sort: Vec<(Option<String>, bool)>,
    /// `--timeout=SECS` / `-t SECS`.
    pub timeout: Option<Duration>,
    /// `--readd` (replace-flows).
    pub readd: bool,
    /// `--bundle`: send the flow changes of `add-flow(s)`, `mod-flows`,
    /// `del-flows` and `replace-flows` as one atomic bundle.
    pub bundle: bool,
    /// The run directory for bridge names (`OVS_RUNDIR`, else `/var/run/rvs`).
    pub rundir: PathBuf,
}

fn fatal(msg: impl Into<String>) -> OfctlError {
    OfctlError::Fatal(msg.into())
}

/// Parses the command line (options may appear anywhere, as with
/// getopt), runs the command and writes its output to `out`.
pub fn run(args: &[String], out: &mut dyn Write) -> Res {
    let mut opts = Options {
        rundir: std::env::var_os("OVS_RUNDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/run/rvs")),
        ..Options::default()
    };
    let mut words: Vec<String> = Vec::new();
    let mut it = args.iter();
    let mut help = false;
    while let Some(a) = it.next() {
        if a == "--" {
            words.extend(it.by_ref().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            words.push(a.clone());
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (a.as_str(), None),
        };
        let mut value = |what: &str| -> Res<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().cloned().ok_or_else(|| {
                    OfctlError::Usage(format!("option '{what}' requires an argument"))
                }),
            }
        };
        match name {
            "-h" | "--help" => help = true,
            "-V" | "--version" => {
                let _ = writeln!(out, "rvs-ofctl (rvs) {}", env!("CARGO_PKG_VERSION"));
                let _ = writeln!(out, "OpenFlow versions 0x4:0x4");
                return Ok(());
            }
            "-O" | "--protocols" => {
                let v = value(name)?;
                let ok = v
                    .split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("OpenFlow13"));
                if !ok {
                    return Err(OfctlError::Usage(format!(
                        "{v}: rvs-ofctl speaks only OpenFlow13 (use -O OpenFlow13)"
                    )));
                }
            }
            "--strict" => opts.strict = true,
            "--no-stats" => opts.no_stats = true,
            "--stats" => opts.no_stats = false,
            "--readd" => opts.readd = true,
            "--bundle" => opts.bundle = true,
            "--no-names" => {}
            "--names" => {
                return Err(OfctlError::Usage(
                    "--names is not supported: rvs-ofctl prints and accepts port numbers only"
                        .into(),
                ));
            }
            "--sort" | "--rsort" => {
                let field = inline.clone().filter(|f| f != "priority");
                opts.sort.push((field, name == "--sort"));
            }
            "-t" | "--timeout" => {
                let v = value(name)?;
                let secs: u64 = v.parse().map_err(|_| {
                    OfctlError::Usage(format!("value {v} on -t or --timeout is invalid"))
                })?;
                if secs > 0 {
                    opts.timeout = Some(Duration::from_secs(secs));
                }
            }
            "-F" | "--flow-format" | "-P" | "--packet-in-format" | "--color" | "--unixctl"
            | "--detach" | "--pidfile" | "-m" | "--more" | "-v" | "--verbose" | "--read-only"
            | "--timestamp" | "--may-create" | "--rundir" => {
                return Err(OfctlError::Usage(format!(
                    "option {name} is not supported by rvs-ofctl (see docs/rvs-ofctl.md)"
                )));
            }
            _ => {
                return Err(OfctlError::Usage(format!(
                    "unrecognized option '{a}' (use --help for help)"
                )));
            }
        }
    }
    if help {
        match words.first() {
            Some(cmd) => match help::command_help(cmd) {
                Some(h) => {
                    let _ = out.write_all(h.as_bytes());
                }
                None => {
                    return Err(OfctlError::Usage(format!(
                        "unknown command '{cmd}'; use --help for help"
                    )));
                }
            },
            None => {
                let _ = out.write_all(help::USAGE.as_bytes());
            }
        }
        return Ok(());
    }
    let Some(cmd) = words.first().cloned() else {
        return Err(OfctlError::Usage(
            "missing command name; use --help for help".into(),
        ));
    };
    let rest: Vec<String> = words.get(1..).unwrap_or_default().to_vec();
    if rest.iter().any(|w| w == "--help") {
        if let Some(h) = help::command_help(&cmd) {
            let _ = out.write_all(h.as_bytes());
            return Ok(());
        }
    }
    let Some((min, max)) = help::arity(&cmd) else {
        if help::NOT_IMPLEMENTED.contains(&cmd.as_str()) {
            return Err(OfctlError::Usage(format!(
                "'{cmd}' is an ovs-ofctl command that rvs-ofctl does not implement \
                 (see docs/rvs-ofctl.md)"
            )));
        }
        return Err(OfctlError::Usage(format!(
            "unknown command '{cmd}'; use --help for help"
        )));
    };
    if rest.len() < min {
        return Err(OfctlError::Usage(format!(
            "'{cmd}' command requires at least {min} arguments"
        )));
    }
    if rest.len() > max {
        return Err(OfctlError::Usage(format!(
            "'{cmd}' command takes at most {max} arguments"
        )));
    }
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let cx = Ctx {
        opts: &opts,
        deadline,
        args: &rest,
    };
    let r = match cmd.as_str() {
        "show" => cx.show(out),
        "dump-desc" => cx.simple_dump(out, MultipartRequestBody::Desc),
        "dump-tables" => cx.simple_dump(out, MultipartRequestBody::Table),
        "dump-table-features" => {
            cx.simple_dump(out, MultipartRequestBody::TableFeatures(Vec::new()))
        }
        "dump-ports" => cx.dump_ports(out),
        "dump-ports-desc" => cx.dump_ports_desc(out),
        "mod-port" => cx.mod_port(),
        "get-frags" => cx.get_frags(out),
        "set-frags" => cx.set_frags(),
        "dump-flows" => cx.dump_flows(out, false),
        "dump-aggregate" => cx.dump_flows(out, true),
        "add-flow" => cx.flow_mod_one(FlowCommand::Add),
        "mod-flows" => cx.flow_mod_one(if opts.strict {
            FlowCommand::ModifyStrict
        } else {
            FlowCommand::Modify
        }),
        "del-flows" => cx.flow_mod_one(if opts.strict {
            FlowCommand::DeleteStrict
        } else {
            FlowCommand::Delete
        }),
        "add-flows" => cx.add_flows(),
        "replace-flows" => cx.replace_flows(),
        "diff-flows" => cx.diff_flows(out),
        "add-group" => cx.group_mod_one(group_mod_command::ADD),
        "mod-group" => cx.group_mod_one(group_mod_command::MODIFY),
        "del-groups" | "del-group" => cx.group_mod_one(group_mod_command::DELETE),
        "add-groups" => cx.add_groups(),
        "dump-groups" | "dump-group" => cx.dump_groups(out, false),
        "dump-group-stats" => cx.dump_groups(out, true),
        "dump-group-features" => cx.simple_dump(out, MultipartRequestBody::GroupFeatures),
        "add-meter" => cx.meter_mod(Some(meter_mod_command::ADD)),
        "mod-meter" => cx.meter_mod(Some(meter_mod_command::MODIFY)),
        "del-meter" | "del-meters" => cx.meter_mod(Some(meter_mod_command::DELETE)),
        "dump-meter" | "dump-meters" => cx.meter_dump(out, false),
        "meter-stats" => cx.meter_dump(out, true),
        "meter-features" => cx.simple_dump(out, MultipartRequestBody::MeterFeatures),
        "packet-out" => cx.packet_out(),
        "monitor" => cx.monitor(out),
        "probe" => cx.probe(),
        "ping" => cx.ping(out),
        "ofp-print" => cx.ofp_print(out),
        "list-commands" => {
            let _ = out.write_all(help::list_commands().as_bytes());
            Ok(())
        }
        "help" => {
            let _ = out.write_all(help::USAGE.as_bytes());
            Ok(())
        }
        other => Err(OfctlError::Usage(format!(
            "'{other}' is an ovs-ofctl command that rvs-ofctl does not implement (see docs/rvs-ofctl.md)"
        ))),
    };
    let _ = out.flush();
    r
}

struct Ctx<'a> {
    opts: &'a Options,
    deadline: Option<Instant>,
    args: &'a [String],
}

fn arg(args: &[String], i: usize) -> Option<&str> {
    args.get(i).map(String::as_str)
}

/// The switch's answer to a noreply transaction, as `ovs-ofctl` prints it.
fn switch_error(e: ErrorReply) -> OfctlError {
    OfctlError::Switch(print::message_to_string(&e.error.raw))
}

fn reply_body(f: &ofproto::wire::Frame) -> Res<&Body> {
    match &f.msg {
        Ok(m) => Ok(&m.body),
        Err(e) => Err(fatal(format!(
            "received undecodable reply: {}",
            print::error_name(e.etype, e.code)
        ))),
    }
}

impl Ctx<'_> {
    fn open(&self, name: &str) -> Res<Conn> {
        let target = Target::resolve(name, &self.opts.rundir)?;
        Conn::open(name, &target, self.deadline)
    }

    fn switch_name(&self) -> &str {
        arg(self.args, 0).unwrap_or_default()
    }

    fn write(&self, out: &mut dyn Write, s: &str) -> Res {
        out.write_all(s.as_bytes()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                OfctlError::OutputClosed
            } else {
                fatal(format!("writing output: {e}"))
            }
        })
    }

    /// `dump_transaction`: sends a multipart request and prints every
    /// reply message as it arrives.
    fn dump_print(&self, c: &mut Conn, out: &mut dyn Write, body: MultipartRequestBody) -> Res {
        c.dump(body, |f| self.write(out, &print::message_to_string(&f.raw)))
    }

    fn simple_dump(&self, out: &mut dyn Write, body: MultipartRequestBody) -> Res {
        let mut c = self.open(self.switch_name())?;
        if matches!(body, MultipartRequestBody::TableFeatures(_)) {
            // Tables are compared across reply messages, then printed
            // without message headers.
            let mut p = table_features::Printer::default();
            c.dump(body, |f| {
                match &f.msg {
                    Ok(Message {
                        body: Body::MultipartReply(r),
                        ..
                    }) => {
                        if let MultipartReplyBody::TableFeatures(list) = &r.body {
                            for t in list {
                                p.add(t);
                            }
                        }
                    }
                    _ => self.write(out, &print::message_to_string(&f.raw))?,
                }
                Ok(())
            })?;
            return self.write(out, &p.finish());
        }
        self.dump_print(&mut c, out, body)
    }

    fn show(&self, out: &mut dyn Write) -> Res {
        let mut c = self.open(self.switch_name())?;
        let f = c.transact(Body::FeaturesRequest)?;
        self.write(out, &print::message_to_string(&f.raw))?;
        self.dump_print(&mut c, out, MultipartRequestBody::PortDesc)?;
        // ovs-ofctl asks for the configuration on a second connection.
        skip_xids(1);
        let f = c.transact(Body::GetConfigRequest)?;
        self.write(out, &print::message_to_string(&f.raw))
    }

    fn get_frags(&self, out: &mut dyn Write) -> Res {
        let mut c = self.open(self.switch_name())?;
        let cfg = fetch_config(&mut c)?;
        let frag = match cfg.flags & 3 {
            0 => "normal",
            1 => "drop",
            2 => "reassemble",
            _ => "nx-match",
        };
        self.write(out, &format!("{frag}\n"))
    }

    fn set_frags(&self) -> Res {
        let mode = arg(self.args, 1).unwrap_or_default();
        let bits = match mode {
            "normal" => 0,
            "drop" => 1,
            "reassemble" => 2,
            _ => return Err(fatal(format!("{mode}: unknown fragment handling mode"))),
        };
        let mut c = self.open(self.switch_name())?;
        let mut cfg = fetch_config(&mut c)?;
        if cfg.flags & 3 == bits {
            return Ok(());
        }
        cfg.flags = (cfg.flags & !3) | bits;
        if let Some(e) = c.transact_noreply(vec![Body::SetConfig(cfg)])? {
            return Err(switch_error(e));
        }
        let after = fetch_config(&mut c)?;
        if after.flags & 3 != bits {
            return Err(fatal(format!(
                "{}: setting fragment handling mode failed (this switch does not support mode \"{mode}\")",
                self.switch_name()
            )));
        }
        Ok(())
    }

    fn port_arg(&self, c: &mut Conn, text: &str) -> Res<u32> {
        if let Some(p) = parse_port_number(text) {
            return Ok(p);
        }
        // A port name: look it up in the port descriptions.
        let ports = fetch_ports(c)?;
        ports
            .iter()
            .find(|p| p.name == text)
            .map(|p| p.port_no)
            .ok_or_else(|| fatal(format!("{text}: couldn't find port `{text}'")))
    }

    fn dump_ports(&self, out: &mut dyn Write) -> Res {
        let mut c = self.open(self.switch_name())?;
        let port = match arg(self.args, 1) {
            Some(p) => self.port_arg(&mut c, p)?,
            None => ofpp::ANY,
        };
        self.dump_print(&mut c, out, MultipartRequestBody::PortStats(port))
    }

    fn dump_ports_desc(&self, out: &mut dyn Write) -> Res {
        let mut c = self.open(self.switch_name())?;
        if let Some(p) = arg(self.args, 1) {
            // Checked, but OpenFlow 1.3's port-description request has no
            // port number: like ovs-ofctl, all ports are printed.
            self.port_arg(&mut c, p)?;
        }
        self.dump_print(&mut c, out, MultipartRequestBody::PortDesc)
    }

    fn mod_port(&self) -> Res {
        let mut c = self.open(self.switch_name())?;
        let which = arg(self.args, 1).unwrap_or_default();
        let ports = fetch_ports(&mut c)?;
        let found = match parse_port_number(which) {
            Some(n) => ports.iter().find(|p| p.port_no == n),
            None => ports.iter().find(|p| p.name == which),
        };
        let Some(port) = found else {
            return Err(fatal(format!("{which}: couldn't find port `{which}'")));
        };
        let action = arg(self.args, 2).unwrap_or_default();
        let lower = action.to_ascii_lowercase();
        let (cmd, not) = if let Some(r) = lower.strip_prefix("no-") {
            (r.to_owned(), true)
        } else if let Some(r) = lower.strip_prefix("no") {
            (r.to_owned(), true)
        } else {
            (lower.clone(), false)
        };
        // (name, bit, value when "on")
        let table: [(&str, u32, bool); 5] = [
            ("up", 1, false),
            ("down", 1, true),
            ("receive", 4, false),
            ("forward", 0x20, false),
            ("packet-in", 0x40, false),
        ];
        let Some(&(_, bit, on)) = table.iter().find(|(n, _, _)| *n == cmd) else {
            if matches!(cmd.as_str(), "stp" | "receive-stp" | "flood") {
                return Err(fatal(format!(
                    "mod-port command '{action}' needs an OpenFlow 1.0 port flag that OpenFlow 1.3 does not have"
                )));
            }
            return Err(fatal(format!("unknown mod-port command '{action}'")));
        };
        let pm = PortMod {
            port_no: port.port_no,
            hw_addr: port.hw_addr,
            config: if on ^ not { bit } else { 0 },
            mask: bit,
            advertise: 0,
        };
        // ovs-ofctl reconnects after looking the port up.
        skip_xids(1);
        match c.transact_noreply(vec![Body::PortMod(pm)])? {
            Some(e) => Err(switch_error(e)),
            None => Ok(()),
        }
    }

    fn flow_request(&self, text: &str) -> Res<FlowStatsRequest> {
        let spec =
            flow_text::parse_flow(text, FlowCommand::Delete).map_err(|e| fatal(e.to_string()))?;
        Ok(FlowStatsRequest {
            table_id: spec.table_id.unwrap_or(ofptt::ALL),
            out_port: spec.out_port,
            out_group: spec.out_group,
            cookie: spec.cookie_match.map_or(0, |c| c.0),
            cookie_mask: spec.cookie_match.map_or(0, |c| c.1),
            match_: spec.oxm_match(),
        })
    }

    fn dump_flows(&self, out: &mut dyn Write, aggregate: bool) -> Res {
        let filter = arg(self.args, 1).filter(|s| !s.is_empty());
        let req = self.flow_request(filter.unwrap_or(""))?;
        if filter.is_some() {
            skip_xids(4);
        }
        let mut c = self.open(self.switch_name())?;
        if aggregate {
            return self.dump_print(&mut c, out, MultipartRequestBody::Aggregate(req));
        }
        if self.opts.sort.is_empty() && !self.opts.no_stats {
            return self.dump_print(&mut c, out, MultipartRequestBody::Flow(req));
        }
        let mut flows = collect_flows(&mut c, req)?;
        if !self.opts.sort.is_empty() {
            let criteria = self
                .opts
                .sort
                .iter()
                .map(|(f, asc)| match f {
                    None => Ok((None, *asc)),
                    Some(name) => sort_field(name).map(|b| (Some(b), *asc)),
                })
                .collect::<Res<Vec<_>>>()?;
            flows.sort_by(|a, b| compare_flows(a, b, &criteria));
        }
        let mut s = String::new();
        for f in &flows {
            s.push(' ');
            s.push_str(&print::flow_stats(f, !self.opts.no_stats));
            s.push('\n');
        }
        self.write(out, &s)
    }

    fn flow_mod_one(&self, command: FlowCommand) -> Res {
        let text = arg(self.args, 1).unwrap_or("");
        let spec = flow_text::parse_flow(text, command).map_err(|e| fatal(e.to_string()))?;
        skip_xids(4);
        let mut c = self.open(self.switch_name())?;
        match self.send_mods(&mut c, vec![Body::FlowMod(spec.to_flow_mod())])? {
            Some(e) => Err(switch_error(e)),
            None => Ok(()),
        }
    }

    /// Sends flow changes each with a barrier, or as one bundle with
    /// `--bundle`.
    fn send_mods(&self, c: &mut Conn, mods: Vec<Body>) -> Res<Option<ErrorReply>> {
        if self.opts.bundle {
            c.bundle_transact(mods)
        } else {
            c.transact_noreply(mods)
        }
    }

    fn add_flows(&self) -> Res {
        let file = arg(self.args, 1).unwrap_or("-");
        let text = read_source(file)?;
        // Parse everything first, so a bad line sends nothing (as
        // ovs-ofctl does); then stream, re-parsing line by line.
        let mut n = 0u64;
        for_each_line(&text, |lineno, line| {
            flow_text::parse_flow(line, FlowCommand::Add)
                .map_err(|e| fatal(format!("{file}:{lineno}: {e}")))?;
            n += 1;
            Ok(())
        })?;
        skip_xids(4);
        let mut c = self.open(self.switch_name())?;
        if self.opts.bundle {
            let mut mods = Vec::new();
            for_each_line(&text, |_, line| {
                let spec = flow_text::parse_flow(line, FlowCommand::Add)
                    .map_err(|e| fatal(e.to_string()))?;
                mods.push(Body::FlowMod(spec.to_flow_mod()));
                Ok(())
            })?;
            return match c.bundle_transact(mods)? {
                Some(e) => Err(switch_error(e)),
                None => Ok(()),
            };
        }
        let progress = std::io::stderr().is_terminal() && n >= 1000;
        let mut st = Streamer::new(256, 16);
        let mut last_report = Instant::now();
        let mut failed: Option<ErrorReply> = None;
        for_each_line(&text, |_, line| {
            if failed.is_some() {
                return Ok(());
            }
            let spec =
                flow_text::parse_flow(line, FlowCommand::Add).map_err(|e| fatal(e.to_string()))?;
            if let Some(e) = st.push(&mut c, Body::FlowMod(spec.to_flow_mod()))? {
                failed = Some(e);
            }
            if progress && last_report.elapsed() >= Duration::from_millis(200) {
                last_report = Instant::now();
                eprint!(
                    "\radd-flows: {}/{} flows sent, {} confirmed",
                    st.sent(),
                    n,
                    st.confirmed
                );
            }
            Ok(())
        })?;
        if failed.is_none() {
            failed = st.finish(&mut c)?;
        }
        if progress {
            eprintln!(
                "\radd-flows: {}/{} flows sent, {} confirmed",
                st.sent(),
                n,
                st.confirmed
            );
        }
        match failed {
            Some(e) => Err(switch_error(e)),
            None => Ok(()),
        }
    }

    fn replace_flows(&self) -> Res {
        let file = arg(self.args, 1).unwrap_or("-");
        let text = read_source(file)?;
        let wanted = flows_from_text(file, &text)?;
        skip_xids(4);
        let mut c = self.open(self.switch_name())?;
        let have = flows_from_switch(&mut c)?;
        let mut mods: Vec<Body> = Vec::new();
        for (key, v) in &have {
            if !wanted.contains_key(key) {
                let mut fm = v.flow_mod();
                fm.command = FlowCommand::DeleteStrict.code();
                fm.instructions.clear();
                mods.push(Body::FlowMod(fm));
            }
        }
        for (key, v) in &wanted {
            let same = have.get(key).is_some_and(|h| h.same_as(v));
            if self.opts.readd || !same {
                mods.push(Body::FlowMod(v.flow_mod()));
            }
        }
        match self.send_mods(&mut c, mods)? {
            Some(e) => Err(switch_error(e)),
            None => Ok(()),
        }
    }

    fn flows_from_source(&self, source: &str) -> Res<BTreeMap<FlowKey, FlowVersion>> {
        let is_file = source.starts_with('/')
            || source.starts_with('.')
            || (!source.contains(':') && std::path::Path::new(source).is_file());
        if is_file {
            let text = read_source(source)?;
            flows_from_text(source, &text)
        } else {
            let mut c = self.open(source)?;
            flows_from_switch(&mut c)
        }
    }

    fn diff_flows(&self, out: &mut dyn Write) -> Res {
        let a = self.flows_from_source(arg(self.args, 0).unwrap_or_default())?;
        let b = self.flows_from_source(arg(self.args, 1).unwrap_or_default())?;
        let mut keys: Vec<&FlowKey> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut s = String::new();
        for k in keys {
            let (va, vb) = (a.get(k), b.get(k));
            let differ = match (va, vb) {
                (Some(x), Some(y)) => !x.same_as(y),
                _ => true,
            };
            if differ {
                if let Some(v) = va {
                    s.push('-');
                    s.push_str(&v.diff_text());
                }
                if let Some(v) = vb {
                    s.push('+');
                    s.push_str(&v.diff_text());
                }
            }
        }
        self.write(out, &s)?;
        if s.is_empty() {
            Ok(())
        } else {
            Err(OfctlError::Differences)
        }
    }

    fn group_mod_one(&self, command: u16) -> Res {
        let text = arg(self.args, 1).unwrap_or("");
        if command != group_mod_command::DELETE && arg(self.args, 1).is_none() {
            return Err(OfctlError::Usage(
                "'add-group'/'mod-group' command requires a group".into(),
            ));
        }
        let gm = group::parse_group(text, command).map_err(fatal)?;
        skip_xids(4);
        let mut c = self.open(self.switch_name())?;
        match c.transact_noreply(vec![Body::GroupMod(gm)])? {
            Some(e) => Err(switch_error(e)),
            None => Ok(()),
        }
    }

    fn add_groups(&self) -> Res {
        let file = arg(self.args, 1).unwrap_or("-");
        let text = read_source(file)?;
        let mut gms: Vec<GroupMod> = Vec::new();
        for_each_line(&text, |lineno, line| {
            let gm = group::parse_group(line, group_mod_command::ADD)
                .map_err(|e| fatal(format!("{file}:{lineno}: {e}")))?;
            gms.push(gm);
            Ok(())
        })?;
        skip_xids(4);
        let mut c = self.open(self.switch_name())?;
        match c.transact_noreply(gms.into_iter().map(Body::GroupMod).collect())? {
            Some(e) => Err(switch_error(e)),
            None => Ok(()),
        }
    }

    fn dump_groups(&self, out: &mut dyn Write, stats: bool) -> Res {
        let mut c;
        if stats {
            let id = group::parse_group_filter(arg(self.args, 1)).map_err(fatal)?;
            skip_xids(4);
            c = self.open(self.switch_name())?;
            return self.dump_print(&mut c, out, MultipartRequestBody::Group(id));
        }
        // dump-groups takes a bare group number; OpenFlow 1.3's
        // group-description request cannot carry it, so (as with
        // ovs-ofctl) every group is printed.
        if let Some(g) = arg(self.args, 1) {
            let valid = matches!(g.to_ascii_uppercase().as_str(), "ALL" | "ANY")
                || group::parse_u32(g).is_some();
            if !valid {
                eprintln!(
                    "rvs-ofctl: warning: {g} is not a valid group ID.  (Valid group IDs are 32-bit \
                     nonnegative integers or the keywords ANY or ALL.)"
                );
            }
        }
        c = self.open(self.switch_name())?;
        self.dump_print(&mut c, out, MultipartRequestBody::GroupDesc)
    }

    fn meter_mod(&self, command: Option<u16>) -> Res {
        let mm = match arg(self.args, 1) {
            Some(t) => meter::parse_meter(t, command).map_err(fatal)?,
            None if command == Some(meter_mod_command::DELETE) => MeterMod {
                command: meter_mod_command::DELETE,
                flags: 0,
                meter_id: meter::OFPM_ALL,
                bands: Vec::new(),
            },
            None => {
                return Err(OfctlError::Usage(
                    "'add-meter'/'mod-meter' command requires a meter".into(),
                ));
            }
        };
        let mut c = self.open(self.switch_name())?;
        match c.transact_noreply(vec![Body::MeterMod(mm)])? {
            Some(e) => Err(switch_error(e)),
            None => Ok(()),
        }
    }

    fn meter_dump(&self, out: &mut dyn Write, stats: bool) -> Res {
        let id = match arg(self.args, 1) {
            Some(t) => meter::parse_meter(t, None).map_err(fatal)?.meter_id,
            None => meter::OFPM_ALL,
        };
        let mut c = self.open(self.switch_name())?;
        let body = if stats {
            MultipartRequestBody::Meter(id)
        } else {
            MultipartRequestBody::MeterConfig(id)
        };
        self.dump_print(&mut c, out, body)
    }

    fn packet_out(&self) -> Res {
        let mut pos: Vec<PacketOut> = Vec::new();
        if self.args.len() == 2 {
            let text = arg(self.args, 1).unwrap_or_default();
            pos.push(parse_packet_out(text)?);
        } else {
            // Old form: in_port actions packet...
            let in_port_text = arg(self.args, 1).unwrap_or_default();
            let in_port = parse_port_number(in_port_text)
                .ok_or_else(|| fatal(format!("{in_port_text} is not a valid OpenFlow port")))?;
            let actions = flow_text::parse_action_list(
                arg(self.args, 2).unwrap_or_default(),
                &flow_text::FlowFields::default(),
            )
            .map_err(|e| fatal(e.to_string()))?;
            for p in self.args.get(3..).unwrap_or_default() {
                pos.push(PacketOut {
                    buffer_id: OFP_NO_BUFFER,
                    in_port,
                    actions: actions.clone(),
                    data: parse_packet_hex(p)?,
                });
            }
        }
        skip_xids(4);
        let mut c = self.open(self.switch_name())?;
        match c.transact_noreply(pos.into_iter().map(Body::PacketOut).collect())? {
            Some(e) => Err(switch_error(e)),
            None => Ok(()),
        }
    }

    fn monitor(&self, out: &mut dyn Write) -> Res {
        let mut c = self.open(self.switch_name())?;
        for a in self.args.get(1..).unwrap_or_default() {
            if a.starts_with(|ch: char| ch.is_ascii_digit()) {
                let mut cfg = fetch_config(&mut c)?;
                cfg.miss_send_len = a
                    .parse()
                    .map_err(|_| fatal(format!("{a}: bad miss length")))?;
                if let Some(e) = c.transact_noreply(vec![Body::SetConfig(cfg)])? {
                    return Err(switch_error(e));
                }
            } else if a == "invalid_ttl" || a.starts_with("watch:") || a == "resume" {
                return Err(fatal(format!(
                    "{a}: \"monitor\" argument not supported by rvs-ofctl (needs OpenFlow 1.0/1.4 or Nicira extensions)"
                )));
            } else {
                return Err(fatal(format!("{a}: unsupported \"monitor\" argument")));
            }
        }
        if self.deadline.is_none() {
            c.block_forever();
        }
        // Like ovs-ofctl, every message received is printed on standard
        // error as it arrives.
        let mut err = std::io::stderr();
        let _ = out.flush();
        loop {
            let f = match c.recv() {
                Ok(f) => f,
                Err(OfctlError::Timeout) if self.deadline.is_some() => {
                    return Err(OfctlError::Timeout);
                }
                Err(e) => return Err(e),
            };
            let _ = err.write_all(print::message_to_string(&f.raw).as_bytes());
            let _ = err.flush();
        }
    }

    fn probe(&self) -> Res {
        let mut c = self.open(self.switch_name())?;
        let f = c.transact(Body::EchoRequest(Vec::new()))?;
        match reply_body(&f)? {
            Body::EchoReply(d) if d.is_empty() => Ok(()),
            _ => Err(fatal("reply does not match request")),
        }
    }

    fn ping(&self, out: &mut dyn Write) -> Res {
        let payload: usize = match arg(self.args, 1) {
            Some(p) => p.parse().unwrap_or(0),
            None => 64,
        };
        if payload > 65535 - 8 {
            return Err(fatal("payload must be between 0 and 65527 bytes"));
        }
        let name = self.switch_name();
        let mut c = self.open(name)?;
        for i in 0..10u32 {
            // Payload bytes: a simple varying pattern (ovs-ofctl uses
            // random bytes; only the echo matters).
            let data: Vec<u8> = (0..payload)
                .map(|k| (k as u32).wrapping_mul(31).wrapping_add(i) as u8)
                .collect();
            let start = Instant::now();
            let xid = alloc_xid();
            c.send(&Message::new(xid, Body::EchoRequest(data.clone())))?;
            let f = c.recv_xid(xid)?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            let ok = matches!(&f.msg, Ok(Message { body: Body::EchoReply(d), .. }) if *d == data);
            let mut s = String::new();
            if !ok {
                s.push_str("Reply does not match request.  Request:\n");
                s.push_str(&print::message_to_string(
                    &Message::new(xid, Body::EchoRequest(data)).to_vec(),
                ));
                s.push_str("Reply:\n");
                s.push_str(&print::message_to_string(&f.raw));
            }
            s.push_str(&format!(
                "{} bytes from {name}: xid={:08x} time={ms:.1} ms\n",
                f.raw.len().saturating_sub(8),
                f.header.xid
            ));
            self.write(out, &s)?;
        }
        Ok(())
    }

    fn ofp_print(&self, out: &mut dyn Write) -> Res {
        let mut text = self.args.join(" ");
        if text.trim() == "-" {
            text.clear();
            std::io::stdin()
                .take(1 << 20)
                .read_to_string(&mut text)
                .map_err(|e| fatal(format!("reading standard input: {e}")))?;
        }
        let digits: String = text
            .split_whitespace()
            .map(|w| w.strip_prefix("0x").unwrap_or(w))
            .flat_map(|w| w.chars())
            .filter(|c| c.is_ascii_hexdigit())
            .collect();
        let bytes = hex::decode(&digits).map_err(|_| fatal(format!("not hex: {}", text.trim())))?;
        self.write(out, &print::message_to_string(&bytes))
    }
}

impl Conn {
    /// Waits without limit for messages (monitor without `--timeout`).
    pub fn block_forever(&mut self) {
        self.set_block_forever();
    }
}

fn fetch_config(c: &mut Conn) -> Res<SwitchConfig> {
    let f = c.transact(Body::GetConfigRequest)?;
    match reply_body(&f)? {
        Body::GetConfigReply(cfg) => Ok(cfg.clone()),
        _ => Err(fatal(format!("{}: bad reply to config request", c.name()))),
    }
}

fn fetch_ports(c: &mut Conn) -> Res<Vec<ofproto::wire::message::Port>> {
    let mut ports = Vec::new();
    let mut err = None;
    c.dump(MultipartRequestBody::PortDesc, |f| {
        match &f.msg {
            Ok(Message {
                body: Body::MultipartReply(r),
                ..
            }) => {
                if let MultipartReplyBody::PortDesc(list) = &r.body {
                    ports.extend(list.iter().cloned());
                }
            }
            _ => err = Some(print::message_to_string(&f.raw)),
        }
        Ok(())
    })?;
    match err {
        Some(e) => Err(OfctlError::Switch(e)),
        None => Ok(ports),
    }
}

fn collect_flows(c: &mut Conn, req: FlowStatsRequest) -> Res<Vec<FlowStats>> {
    let mut flows = Vec::new();
    let mut err = None;
    c.dump(MultipartRequestBody::Flow(req), |f| {
        match &f.msg {
            Ok(Message {
                body: Body::MultipartReply(r),
                ..
            }) => {
                if let MultipartReplyBody::Flow(list) = &r.body {
                    flows.extend(list.iter().cloned());
                }
            }
            _ => err = Some(print::message_to_string(&f.raw)),
        }
        Ok(())
    })?;
    match err {
        Some(e) => Err(OfctlError::Switch(e)),
        None => Ok(flows),
    }
}

/// A port number as given on the command line (decimal or a reserved
/// name); `None` for anything else (a port name).
fn parse_port_number(s: &str) -> Option<u32> {
    match s.to_ascii_uppercase().as_str() {
        "LOCAL" => Some(ofpp::LOCAL),
        "IN_PORT" => Some(0xffff_fff8),
        "TABLE" => Some(0xffff_fff9),
        "NORMAL" => Some(0xffff_fffa),
        "FLOOD" => Some(0xffff_fffb),
        "ALL" => Some(ofpp::ALL),
        "CONTROLLER" => Some(0xffff_fffd),
        "ANY" | "NONE" => Some(ofpp::ANY),
        _ => s.parse::<u32>().ok().map(|n| {
            if (0xfff8..=0xffff).contains(&n) {
                0xffff_0000 | n
            } else {
                n
            }
        }),
    }
}

fn parse_packet_hex(s: &str) -> Res<Vec<u8>> {
    let digits: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(digits.strip_prefix("0x").unwrap_or(&digits))
        .map_err(|_| fatal(format!("{s}: invalid packet hex")))
}

/// `in_port=P packet=HEX actions=...` (the 3.x single-argument form).
fn parse_packet_out(text: &str) -> Res<PacketOut> {
    let (head, actions) = match text.find("actions=") {
        Some(i) => (&text[..i], &text[i + "actions=".len()..]),
        None => return Err(fatal("must specify an action")),
    };
    let mut po = PacketOut {
        buffer_id: OFP_NO_BUFFER,
        in_port: ofpp::CONTROLLER,
        actions: Vec::new(),
        data: Vec::new(),
    };
    for tok in group::tokens(head) {
        let (k, v) = group::key_value(tok);
        match k {
            "in_port" => {
                po.in_port = parse_port_number(v)
                    .ok_or_else(|| fatal(format!("{v} is not a valid OpenFlow port")))?
            }
            "packet" => po.data = parse_packet_hex(v)?,
            "buffer_id" => {
                return Err(fatal(
                    "buffer_id is not supported (rvs switches do not buffer packets)",
                ));
            }
            "packet_type" => return Err(fatal("packet_type is not supported by OpenFlow 1.3")),
            _ => return Err(fatal(format!("unknown keyword {k}"))),
        }
    }
    if po.data.is_empty() {
        return Err(fatal("must specify packet"));
    }
    po.actions = flow_text::parse_action_list(actions, &flow_text::FlowFields::default())
        .map_err(|e| fatal(e.to_string()))?;
    Ok(po)
}

/// Reads a file, or standard input for `-` (at most 1 GiB).
fn read_source(file: &str) -> Res<String> {
    let mut text = String::new();
    let r = if file == "-" {
        std::io::stdin().take(1 << 30).read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(1 << 30).read_to_string(&mut text))
    };
    r.map_err(|e| fatal(format!("{file}: open failed ({e})")))?;
    Ok(text)
}

/// Calls `f(line_number, line)` for each non-blank line without its
/// `#` comment.
fn for_each_line(text: &str, mut f: impl FnMut(usize, &str) -> Res) -> Res {
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if !line.is_empty() {
            f(i + 1, line)?;
        }
    }
    Ok(())
}

/// A flow's identity for replace-flows and diff-flows: table, priority
/// and the match as printed.
type FlowKey = (u8, u16, String);

/// A flow's contents beyond its identity.
#[derive(Clone, Debug)]
struct FlowVersion {
    table_id: u8,
    priority: u16,
    match_: Match,
    cookie: u64,
    idle_timeout: u16,
    hard_timeout: u16,
    flags: u16,
    instructions: Vec<ofproto::wire::instruction::Instruction>,
}

impl FlowVersion {
    fn actions_text(&self) -> String {
        flow_text::format_instructions(&self.instructions)
    }

    fn same_as(&self, o: &FlowVersion) -> bool {
        self.cookie == o.cookie
            && self.idle_timeout == o.idle_timeout
            && self.hard_timeout == o.hard_timeout
            && self.table_id == o.table_id
            && self.actions_text() == o.actions_text()
    }

    fn flow_mod(&self) -> ofproto::wire::message::FlowMod {
        ofproto::wire::message::FlowMod {
            cookie: self.cookie,
            cookie_mask: 0,
            table_id: self.table_id,
            command: FlowCommand::Add.code(),
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            priority: self.priority,
            buffer_id: OFP_NO_BUFFER,
            out_port: ofpp::ANY,
            out_group: ofpg::ANY,
            flags: self.flags,
            match_: self.match_.clone(),
            instructions: self.instructions.clone(),
        }
    }

    /// `fte_version_format`.
    fn diff_text(&self) -> String {
        let mut s = String::new();
        if self.table_id != 0 {
            s.push_str(&format!("table={} ", self.table_id));
        }
        s.push_str(&flow_text::format_match(&self.match_, self.priority));
        if self.cookie != 0 {
            s.push_str(&format!(" cookie={:#x}", self.cookie));
        }
        if self.idle_timeout != 0 {
            s.push_str(&format!(" idle_timeout={}", self.idle_timeout));
        }
        if self.hard_timeout != 0 {
            s.push_str(&format!(" hard_timeout={}", self.hard_timeout));
        }
        s.push_str(" actions=");
        s.push_str(&self.actions_text());
        s.push('\n');
        s
    }

    fn key(&self) -> FlowKey {
        (
            self.table_id,
            self.priority,
            flow_text::format_match(&self.match_, self.priority),
        )
    }
}

fn version_from_spec(spec: &FlowSpec) -> FlowVersion {
    let fm = spec.to_flow_mod();
    FlowVersion {
        table_id: fm.table_id,
        priority: fm.priority,
        match_: fm.match_,
        cookie: fm.cookie,
        idle_timeout: fm.idle_timeout,
        hard_timeout: fm.hard_timeout,
        flags: fm.flags,
        instructions: fm.instructions,
    }
}

fn flows_from_text(file: &str, text: &str) -> Res<BTreeMap<FlowKey, FlowVersion>> {
    let mut map = BTreeMap::new();
    for_each_line(text, |lineno, line| {
        let spec = flow_text::parse_flow(line, FlowCommand::Add)
            .map_err(|e| fatal(format!("{file}:{lineno}: {e}")))?;
        let v = version_from_spec(&spec);
        map.insert(v.key(), v);
        Ok(())
    })?;
    Ok(map)
}

fn flows_from_switch(c: &mut Conn) -> Res<BTreeMap<FlowKey, FlowVersion>> {
    let req = FlowStatsRequest {
        table_id: ofptt::ALL,
        out_port: ofpp::ANY,
        out_group: ofpg::ANY,
        cookie: 0,
        cookie_mask: 0,
        match_: Match::default(),
    };
    let mut map = BTreeMap::new();
    for fs in collect_flows(c, req)? {
        let v = FlowVersion {
            table_id: fs.table_id,
            priority: fs.priority,
            match_: fs.match_,
            cookie: fs.cookie,
            idle_timeout: fs.idle_timeout,
            hard_timeout: fs.hard_timeout,
            flags: fs.flags,
            instructions: fs.instructions,
        };
        map.insert(v.key(), v);
    }
    Ok(map)
}

/// The OXM field a `--sort=FIELD` names.
fn sort_field(name: &str) -> Res<ofproto::wire::oxm::BasicField> {
    use ofproto::wire::oxm::BasicField as F;
    let alias = match name {
        "dl_src" => "eth_src",
        "dl_dst" => "eth_dst",
        "dl_type" => "eth_type",
        "dl_vlan" => "vlan_vid",
        "dl_vlan_pcp" => "vlan_pcp",
        "nw_src" => "ipv4_src",
        "nw_dst" => "ipv4_dst",
        "ip_src" => "ipv4_src",
        "ip_dst" => "ipv4_dst",
        "nw_proto" => "ip_proto",
        "nw_tos" => "ip_dscp",
        "tp_src" => "tcp_src",
        "tp_dst" => "tcp_dst",
        "tun_id" => "tunnel_id",
        other => other,
    };
    F::all()
        .iter()
        .find(|i| i.name == alias)
        .map(|i| i.field)
        .ok_or_else(|| fatal(format!("{name}: unknown field name")))
}

type Criterion = (Option<ofproto::wire::oxm::BasicField>, bool);

fn compare_flows(a: &FlowStats, b: &FlowStats, criteria: &[Criterion]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for &(field, asc) in criteria {
        let ord = match field {
            None => a.priority.cmp(&b.priority),
            Some(f) => {
                let (va, vb) = (a.match_.basic(f), b.match_.basic(f));
                match (va, vb) {
                    (Some(_), None) => return Ordering::Less,
                    (None, Some(_)) => return Ordering::Greater,
                    (None, None) => Ordering::Equal,
                    (Some((x, _)), Some((y, _))) => x.cmp(&y),
                }
            }
        };
        if ord != Ordering::Equal {
            return if asc { ord } else { ord.reverse() };
        }
    }
    Ordering::Equal
}
