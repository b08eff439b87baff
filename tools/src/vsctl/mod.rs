//! `rvs-vsctl`: ovs-vsctl's command line over RFC 7047.
//!
//! The tool works like ovs-vsctl: it monitors the whole `Open_vSwitch`
//! database (a local replica), runs the `--`-separated commands against a
//! copy of it, and commits the differences as one transaction whose
//! `wait` operations check that the columns the commands read did not
//! change meanwhile (if they did, the commands run again on the fresh
//! data). Unless `--no-wait`, a transaction that changed something also
//! increments `Open_vSwitch.next_cfg` and the tool waits until the switch
//! daemon reports it in `cur_cfg`. Output is printed after the commit.
//!
//! Entry point: [`main_with_args`].

mod cmds;
mod db;
mod dbcmd;
mod format;
mod value;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use ovsdb::DatabaseSchema;
use ovsdb::client::Client;
use ovsdb::jsonrpc::Msg;
use ovsdb::remote::Remote;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use db::{Db, Txn};
use format::{CellFormat, Format, Style};
use value::Symtab;

/// Why a command stopped.
#[derive(Debug)]
pub(crate) enum Fail {
    /// Print `rvs-vsctl: MSG` and exit 1.
    Fatal(String),
    /// Exit with this status, silently (e.g. `br-exists`).
    Exit(i32),
    /// The condition (`wait-until`) is not met yet: retry on new data.
    TryAgain,
}

/// What one command sees.
pub(crate) struct Ctx<'a> {
    pub(crate) txn: &'a mut Txn,
    pub(crate) symtab: &'a mut Symtab,
    pub(crate) style: Style,
    pub(crate) args: &'a [String],
    pub(crate) opts: &'a BTreeMap<String, Option<String>>,
    pub(crate) out: String,
}

impl Ctx<'_> {
    pub(crate) fn has(&self, opt: &str) -> bool {
        self.opts.contains_key(opt)
    }
}

type CmdFn = fn(&mut Ctx<'_>) -> Result<(), Fail>;

/// name, min args, max args, options, handler.
struct CmdSpec {
    name: &'static str,
    min: usize,
    max: usize,
    options: &'static [&'static str],
    run: CmdFn,
}

const MANY: usize = usize::MAX;

const COMMANDS: &[CmdSpec] = &[
    CmdSpec {
        name: "init",
        min: 0,
        max: 0,
        options: &[],
        run: cmds::cmd_init,
    },
    CmdSpec {
        name: "show",
        min: 0,
        max: 0,
        options: &[],
        run: cmds::cmd_show,
    },
    CmdSpec {
        name: "emer-reset",
        min: 0,
        max: 0,
        options: &[],
        run: cmds::cmd_emer_reset,
    },
    CmdSpec {
        name: "add-br",
        min: 1,
        max: 3,
        options: &["--may-exist"],
        run: cmds::cmd_add_br,
    },
    CmdSpec {
        name: "del-br",
        min: 1,
        max: 1,
        options: &["--if-exists"],
        run: cmds::cmd_del_br,
    },
    CmdSpec {
        name: "list-br",
        min: 0,
        max: 0,
        options: &["--real", "--fake"],
        run: cmds::cmd_list_br,
    },
    CmdSpec {
        name: "br-exists",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_br_exists,
    },
    CmdSpec {
        name: "br-to-vlan",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_br_to_vlan,
    },
    CmdSpec {
        name: "br-to-parent",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_br_to_parent,
    },
    CmdSpec {
        name: "br-set-external-id",
        min: 2,
        max: 3,
        options: &[],
        run: cmds::cmd_br_set_external_id,
    },
    CmdSpec {
        name: "br-get-external-id",
        min: 1,
        max: 2,
        options: &[],
        run: cmds::cmd_br_get_external_id,
    },
    CmdSpec {
        name: "list-ports",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_list_ports,
    },
    CmdSpec {
        name: "add-port",
        min: 2,
        max: MANY,
        options: &["--may-exist"],
        run: cmds::cmd_add_port,
    },
    CmdSpec {
        name: "add-bond",
        min: 4,
        max: MANY,
        options: &["--may-exist", "--fake-iface"],
        run: cmds::cmd_add_bond,
    },
    CmdSpec {
        name: "del-port",
        min: 1,
        max: 2,
        options: &["--if-exists", "--with-iface"],
        run: cmds::cmd_del_port,
    },
    CmdSpec {
        name: "add-bond-iface",
        min: 2,
        max: 2,
        options: &["--may-exist"],
        run: cmds::cmd_add_bond_iface,
    },
    CmdSpec {
        name: "del-bond-iface",
        min: 1,
        max: 2,
        options: &["--if-exists"],
        run: cmds::cmd_del_bond_iface,
    },
    CmdSpec {
        name: "get-ssl",
        min: 0,
        max: 0,
        options: &[],
        run: cmds::cmd_get_ssl,
    },
    CmdSpec {
        name: "del-ssl",
        min: 0,
        max: 0,
        options: &[],
        run: cmds::cmd_del_ssl,
    },
    CmdSpec {
        name: "set-ssl",
        min: 3,
        max: 3,
        options: &["--bootstrap"],
        run: cmds::cmd_set_ssl,
    },
    CmdSpec {
        name: "port-to-br",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_port_to_br,
    },
    CmdSpec {
        name: "list-ifaces",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_list_ifaces,
    },
    CmdSpec {
        name: "iface-to-br",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_iface_to_br,
    },
    CmdSpec {
        name: "get-controller",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_get_controller,
    },
    CmdSpec {
        name: "del-controller",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_del_controller,
    },
    CmdSpec {
        name: "set-controller",
        min: 1,
        max: MANY,
        options: &["--inactivity-probe="],
        run: cmds::cmd_set_controller,
    },
    CmdSpec {
        name: "get-fail-mode",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_get_fail_mode,
    },
    CmdSpec {
        name: "del-fail-mode",
        min: 1,
        max: 1,
        options: &[],
        run: cmds::cmd_del_fail_mode,
    },
    CmdSpec {
        name: "set-fail-mode",
        min: 2,
        max: 2,
        options: &[],
        run: cmds::cmd_set_fail_mode,
    },
    CmdSpec {
        name: "get-manager",
        min: 0,
        max: 0,
        options: &[],
        run: cmds::cmd_get_manager,
    },
    CmdSpec {
        name: "del-manager",
        min: 0,
        max: 0,
        options: &[],
        run: cmds::cmd_del_manager,
    },
    CmdSpec {
        name: "set-manager",
        min: 1,
        max: MANY,
        options: &["--inactivity-probe="],
        run: cmds::cmd_set_manager,
    },
    CmdSpec {
        name: "comment",
        min: 0,
        max: MANY,
        options: &[],
        run: cmds::cmd_init,
    },
    CmdSpec {
        name: "get",
        min: 2,
        max: MANY,
        options: &["--if-exists", "--id="],
        run: dbcmd::cmd_get,
    },
    CmdSpec {
        name: "list",
        min: 1,
        max: MANY,
        options: &["--if-exists", "--columns="],
        run: dbcmd::cmd_list,
    },
    CmdSpec {
        name: "find",
        min: 1,
        max: MANY,
        options: &["--columns="],
        run: dbcmd::cmd_find,
    },
    CmdSpec {
        name: "set",
        min: 3,
        max: MANY,
        options: &["--if-exists"],
        run: dbcmd::cmd_set,
    },
    CmdSpec {
        name: "add",
        min: 4,
        max: MANY,
        options: &["--if-exists"],
        run: dbcmd::cmd_add,
    },
    CmdSpec {
        name: "remove",
        min: 4,
        max: MANY,
        options: &["--if-exists"],
        run: dbcmd::cmd_remove,
    },
    CmdSpec {
        name: "clear",
        min: 3,
        max: MANY,
        options: &["--if-exists"],
        run: dbcmd::cmd_clear,
    },
    CmdSpec {
        name: "create",
        min: 2,
        max: MANY,
        options: &["--id="],
        run: dbcmd::cmd_create,
    },
    CmdSpec {
        name: "destroy",
        min: 1,
        max: MANY,
        options: &["--if-exists", "--all"],
        run: dbcmd::cmd_destroy,
    },
    CmdSpec {
        name: "wait-until",
        min: 2,
        max: MANY,
        options: &[],
        run: dbcmd::cmd_wait_until,
    },
];

/// One parsed command.
#[derive(Debug, Clone)]
struct Command {
    spec: usize,
    opts: BTreeMap<String, Option<String>>,
    args: Vec<String>,
}

/// Global options.
#[derive(Debug, Clone)]
struct Options {
    db: String,
    no_wait: bool,
    dry_run: bool,
    oneline: bool,
    timeout: Option<u64>,
    retry: bool,
    style: Style,
}

const PROG: &str = "rvs-vsctl";

/// Times the commands are run again after a failed verification (or
/// while `wait-until` waits, each database change counts one).
const MAX_ATTEMPTS: u32 = 100_000;

/// Prints an OVS-style log line on stderr (`TIME|SEQ|MODULE|WARN|MSG`).
pub(crate) fn warn(module: &str, msg: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(1);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    eprintln!("{}|{n:05}|{module}|WARN|{msg}", utc_now());
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The default database: `unix:<rundir>/db.sock` (`OVS_RUNDIR`, else
/// `/var/run/rvs`).
pub fn default_db() -> String {
    let rundir = std::env::var("OVS_RUNDIR").unwrap_or_else(|_| "/var/run/rvs".into());
    format!("unix:{rundir}/db.sock")
}

fn usage() -> String {
    format!(
        "{PROG}: Open vSwitch configuration utility (rvs)
usage: {PROG} [OPTIONS] COMMAND [ARG...] [-- [OPTIONS] COMMAND [ARG...]]...

Open vSwitch commands:
  init                        initialize database, if not yet initialized
  show                        print overview of database contents
  emer-reset                  reset configuration to clean state

Bridge commands:
  add-br BRIDGE               create a new bridge named BRIDGE
  add-br BRIDGE PARENT VLAN   create new fake BRIDGE in PARENT on VLAN
  del-br BRIDGE               delete BRIDGE and all of its ports
  list-br                     print the names of all the bridges
  br-exists BRIDGE            exit 2 if BRIDGE does not exist
  br-to-vlan BRIDGE           print the VLAN which BRIDGE is on
  br-to-parent BRIDGE         print the parent of BRIDGE
  br-set-external-id BRIDGE KEY VALUE  set KEY on BRIDGE to VALUE
  br-set-external-id BRIDGE KEY  unset KEY on BRIDGE
  br-get-external-id BRIDGE KEY  print value of KEY on BRIDGE
  br-get-external-id BRIDGE  list key-value pairs on BRIDGE

Port commands (a bond is considered to be a single port):
  list-ports BRIDGE           print the names of all the ports on BRIDGE
  add-port BRIDGE PORT        add network device PORT to BRIDGE
  add-bond BRIDGE PORT IFACE...  add bonded port PORT in BRIDGE from IFACES
  del-port [BRIDGE] PORT      delete PORT (which may be bonded) from BRIDGE
  add-bond-iface BOND IFACE   add IFACE to bonded port BOND
  del-bond-iface [BOND] IFACE  delete IFACE from bonded port BOND
  port-to-br PORT             print name of bridge that contains PORT

Interface commands (a bond consists of multiple interfaces):
  list-ifaces BRIDGE          print the names of all interfaces on BRIDGE
  iface-to-br IFACE           print name of bridge that contains IFACE

Controller commands:
  get-controller BRIDGE      print the controllers for BRIDGE
  del-controller BRIDGE      delete the controllers for BRIDGE
  [--inactivity-probe=MSECS]
  set-controller BRIDGE TARGET...  set the controllers for BRIDGE
  get-fail-mode BRIDGE       print the fail-mode for BRIDGE
  del-fail-mode BRIDGE       delete the fail-mode for BRIDGE
  set-fail-mode BRIDGE MODE  set the fail-mode for BRIDGE to MODE

Manager commands:
  get-manager                print the managers
  del-manager                delete the managers
  [--inactivity-probe=MSECS]
  set-manager TARGET...      set the list of managers to TARGET...

SSL commands:
  get-ssl                     print the SSL configuration
  del-ssl                     delete the SSL configuration
  set-ssl PRIV-KEY CERT CA-CERT  set the SSL configuration
  [--bootstrap]               (with set-ssl) bootstrap the CA certificate

Database commands:
  list TBL [REC]              list RECord (or all records) in TBL
  find TBL CONDITION...       list records satisfying CONDITION in TBL
  get TBL REC COL[:KEY]       print values of COLumns in RECord in TBL
  set TBL REC COL[:KEY]=VALUE set COLumn values in RECord in TBL
  add TBL REC COL [KEY=]VALUE add (KEY=)VALUE to COLumn in RECord in TBL
  remove TBL REC COL [KEY=]VALUE  remove (KEY=)VALUE from COLumn
  clear TBL REC COL           clear values from COLumn in RECord in TBL
  create TBL COL[:KEY]=VALUE  create and initialize new record
  destroy TBL REC             delete RECord from TBL
  wait-until TBL REC [COL[:KEY]=VALUE]  wait until condition is true
Potentially unsafe database commands require --force option.

Options:
  --db=DATABASE               connect to DATABASE
                              (default: {})
  --no-wait                   do not wait for ovs-vswitchd to reconfigure
  --retry                     keep trying to connect to server forever
  -t, --timeout=SECS          wait at most SECS seconds for ovs-vswitchd
  --dry-run                   do not commit changes to database
  --oneline                   print exactly one line of output per command

Formatting options:
  -f, --format=FORMAT         set output formatting to FORMAT
                              (\"table\", \"html\", \"csv\", \"json\" or \"list\")
  -d, --data=FORMAT           set table cell output formatting to
                              FORMAT (\"string\", \"bare\", or \"json\")
  --no-headings               omit table heading row
  --pretty                    pretty-print JSON in output
  --bare                      equivalent to \"--format=list --data=bare --no-headings\"

Logging options (accepted, no effect):
  -v, --verbose[=SPEC]        set logging levels
  --no-syslog                 do not log to syslog

Other options:
  -h, --help                  display this help message
  -V, --version               display version information
",
        default_db()
    )
}

enum Parsed {
    Run(Options, Vec<Command>),
    Exit(i32),
}

fn find_spec(name: &str) -> Option<usize> {
    COMMANDS.iter().position(|c| c.name == name)
}

fn is_command_option(name: &str) -> bool {
    COMMANDS
        .iter()
        .any(|c| c.options.iter().any(|o| o.trim_end_matches('=') == name))
}

fn takes_value(name: &str) -> bool {
    COMMANDS
        .iter()
        .any(|c| c.options.iter().any(|o| o.strip_suffix('=') == Some(name)))
}

fn parse_args(argv: &[String]) -> Result<Parsed, String> {
    let mut o = Options {
        db: default_db(),
        no_wait: false,
        dry_run: false,
        oneline: false,
        timeout: None,
        retry: false,
        style: Style::default(),
    };
    let mut first_opts: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut i = 0;
    // Global options (and options of the first command) come first.
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if a.starts_with("--") => (n.to_string(), Some(v.to_string())),
            // Short options with the value attached: -t5, -fjson, -dbare.
            _ if !a.starts_with("--")
                && a.len() > 2
                && matches!(a.as_bytes().get(1), Some(b't' | b'f' | b'd')) =>
            {
                (a[..2].to_string(), Some(a[2..].to_string()))
            }
            _ => (a.clone(), None),
        };
        let value = |i: &mut usize| -> Result<String, String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            *i += 1;
            argv.get(*i)
                .cloned()
                .ok_or_else(|| match name.strip_prefix('-') {
                    Some(short) if !short.starts_with('-') => {
                        format!("\u{1}option requires an argument -- '{short}'")
                    }
                    _ => format!("\u{1}option '{name}' requires an argument"),
                })
        };
        match name.as_str() {
            "--db" => o.db = value(&mut i)?,
            "--no-wait" => o.no_wait = true,
            "--dry-run" => o.dry_run = true,
            "--oneline" => o.oneline = true,
            "--retry" => o.retry = true,
            "--no-syslog" => {}
            "-t" | "--timeout" => {
                let v = value(&mut i)?;
                o.timeout = match v.parse::<i64>() {
                    Ok(t) if t >= 0 => Some(t as u64),
                    _ => return Err(format!("value {v} on -t or --timeout is invalid")),
                };
            }
            "-f" | "--format" => {
                let v = value(&mut i)?;
                o.style.format = match v.as_str() {
                    "table" => Format::Table,
                    "list" => Format::List,
                    "csv" => Format::Csv,
                    "json" => Format::Json,
                    "html" => Format::Html,
                    _ => return Err(format!("unknown output format \"{v}\"")),
                };
            }
            "-d" | "--data" => {
                let v = value(&mut i)?;
                o.style.cell = match v.as_str() {
                    "string" => CellFormat::String,
                    "bare" => CellFormat::Bare,
                    "json" => CellFormat::Json,
                    _ => return Err(format!("unknown data format \"{v}\"")),
                };
            }
            "--no-headings" => o.style.headings = false,
            "--pretty" => o.style.pretty = true,
            "--bare" => {
                o.style.format = Format::List;
                o.style.cell = CellFormat::Bare;
                o.style.headings = false;
            }
            "-h" | "--help" => {
                print!("{}", usage());
                return Ok(Parsed::Exit(0));
            }
            "-V" | "--version" => {
                println!(
                    "{PROG} (rvs) {}\nDB Schema {}",
                    env!("CARGO_PKG_VERSION"),
                    ovsdb::vswitch::vswitch_schema_arc().version
                );
                return Ok(Parsed::Exit(0));
            }
            n if n == "-v" || n.starts_with("-v") || n == "--verbose" => {}
            n if n.starts_with("--log-file") => {}
            n if is_command_option(n) => {
                if first_opts.contains_key(n) {
                    return Err(format!("'{n}' option specified multiple times"));
                }
                let v = if takes_value(n) {
                    Some(value(&mut i)?)
                } else {
                    inline.clone()
                };
                first_opts.insert(n.to_string(), v);
            }
            _ if a.starts_with("--") => return Err(format!("\u{1}unrecognized option '{a}'")),
            _ => {
                let c = a.chars().nth(1).unwrap_or('-');
                return Err(format!("\u{1}invalid option -- '{c}'"));
            }
        }
        i += 1;
    }
    // Commands separated by "--".
    let mut cmds = Vec::new();
    let mut groups: Vec<&[String]> = Vec::new();
    let rest = &argv[i.min(argv.len())..];
    for g in rest.split(|a| a == "--") {
        groups.push(g);
    }
    if rest.is_empty() {
        return Err("missing command name (use --help for help)".into());
    }
    for (gi, g) in groups.iter().enumerate() {
        let mut opts = if gi == 0 {
            std::mem::take(&mut first_opts)
        } else {
            BTreeMap::new()
        };
        let mut j = 0;
        while j < g.len() && g[j].starts_with("--") {
            let (n, v) = match g[j].split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (g[j].clone(), None),
            };
            if opts.contains_key(&n) {
                return Err(format!("'{n}' option specified multiple times"));
            }
            opts.insert(n, v);
            j += 1;
        }
        let Some(name) = g.get(j) else {
            if g.is_empty() && groups.len() > 1 && gi == groups.len() - 1 {
                continue;
            }
            return Err("missing command name (use --help for help)".into());
        };
        let Some(si) = find_spec(name) else {
            return Err(format!("unknown command '{name}'; use --help for help"));
        };
        let spec = &COMMANDS[si];
        for (n, v) in &opts {
            let Some(decl) = spec.options.iter().find(|o| o.trim_end_matches('=') == n) else {
                return Err(format!("'{}' command has no '{n}' option", spec.name));
            };
            let wants_value = decl.ends_with('=');
            if wants_value && v.is_none() {
                return Err(format!(
                    "missing argument to '{n}' option on '{}' command",
                    spec.name
                ));
            }
            if !wants_value && v.is_some() {
                return Err(format!(
                    "'{n}' option on '{}' does not accept an argument",
                    spec.name
                ));
            }
        }
        let args: Vec<String> = g[j..].to_vec();
        let n = args.len() - 1;
        if n < spec.min {
            return Err(format!(
                "'{}' command requires at least {} arguments",
                spec.name, spec.min
            ));
        }
        if n > spec.max {
            return Err(format!(
                "'{}' command takes at most {} arguments",
                spec.name, spec.max
            ));
        }
        cmds.push(Command {
            spec: si,
            opts,
            args,
        });
    }
    Ok(Parsed::Run(o, cmds))
}

/// Runs rvs-vsctl with `argv` (without the program name); returns the
/// exit status. Output goes to stdout, errors to stderr.
pub fn main_with_args(argv: Vec<String>) -> i32 {
    let (opts, cmds) = match parse_args(&argv) {
        Ok(Parsed::Run(o, c)) => (o, c),
        Ok(Parsed::Exit(c)) => return c,
        Err(e) => {
            match e.strip_prefix('\u{1}') {
                // getopt's messages name the program as invoked.
                Some(m) => {
                    let argv0 = std::env::args().next().unwrap_or_else(|| PROG.to_string());
                    eprintln!("{argv0}: {m}");
                }
                None => eprintln!("{PROG}: {e}"),
            }
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return 1;
        }
    };
    let timeout = opts.timeout.filter(|t| *t > 0);
    let fut = run(opts, cmds);
    let res = rt.block_on(async move {
        match timeout {
            Some(t) => match tokio::time::timeout(Duration::from_secs(t), fut).await {
                Ok(r) => r,
                Err(_) => Err(Fail::Exit(142)),
            },
            None => fut.await,
        }
    });
    match res {
        Ok(text) => {
            let mut so = std::io::stdout().lock();
            let _ = so.write_all(text.as_bytes());
            let _ = so.flush();
            0
        }
        Err(Fail::Fatal(m)) => {
            eprintln!("{PROG}: {m}");
            1
        }
        Err(Fail::Exit(142)) => {
            // ovs-vsctl's --timeout is an alarm: it logs and dies of
            // SIGALRM. Do the same (through kill(1), keeping this crate
            // free of unsafe code); 142 is what a shell reports for it.
            warn("fatal_signal", "terminating with signal 14 (Alarm clock)");
            let _ = std::process::Command::new("kill")
                .args(["-s", "ALRM", &std::process::id().to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(100));
            142
        }
        Err(Fail::Exit(c)) => c,
        Err(Fail::TryAgain) => 1,
    }
}

fn strip_os_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(p) => s[..p].to_string(),
        None => s,
    }
}

struct Conn {
    client: Client,
    notes: mpsc::Receiver<Msg>,
    db: Db,
}

impl Conn {
    async fn open(target: &str, retry: bool) -> Result<Conn, Fail> {
        let remote = Remote::parse(target).map_err(|e| Fail::Fatal(format!("{target}: {e}")))?;
        let client = loop {
            match Client::connect(&remote).await {
                Ok(c) => break c,
                Err(ovsdb::client::ClientError::Io(e)) if !retry => {
                    return Err(Fail::Fatal(format!(
                        "{target}: database connection failed ({})",
                        strip_os_error(&e)
                    )));
                }
                Err(e) if !retry => {
                    return Err(Fail::Fatal(format!(
                        "{target}: database connection failed ({e})"
                    )));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        };
        let mut client = client;
        let notes = client
            .notifications()
            .ok_or_else(|| Fail::Fatal("internal: no notification stream".into()))?;
        let rpc = |e: ovsdb::client::ClientError| Fail::Fatal(format!("{target}: {e}"));
        let sj = client.get_schema("Open_vSwitch").await.map_err(rpc)?;
        let schema = DatabaseSchema::from_json(&sj)
            .map_err(|e| Fail::Fatal(format!("{target}: bad schema: {e}")))?;
        let schema = Arc::new(schema);
        let req = db::monitor_request(&schema);
        let init = client
            .monitor("monitor", "Open_vSwitch", json!("rvs-vsctl"), req)
            .await
            .map_err(rpc)?;
        let mut d = Db::new(schema);
        d.apply_updates(&init);
        Ok(Conn {
            client,
            notes,
            db: d,
        })
    }

    fn absorb(&mut self, m: Msg) {
        if let Msg::Notify { method, params } = m {
            if method == "update" {
                if let Some(u) = params.get(1) {
                    self.db.apply_updates(u);
                }
            }
        }
    }

    /// Applies every update already received.
    fn drain(&mut self) {
        while let Ok(m) = self.notes.try_recv() {
            self.absorb(m);
        }
    }

    /// Waits for at least one update.
    async fn wait_change(&mut self) -> Result<(), Fail> {
        match self.notes.recv().await {
            Some(m) => {
                self.absorb(m);
                self.drain();
                Ok(())
            }
            None => Err(Fail::Fatal("database connection closed".into())),
        }
    }
}

fn escape_oneline(s: &str) -> String {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '\n' => o.push_str("\\n"),
            '\\' => o.push_str("\\\\"),
            c => o.push(c),
        }
    }
    o.push('\n');
    o
}

async fn run(opts: Options, cmds: Vec<Command>) -> Result<String, Fail> {
    let mut conn = Conn::open(&opts.db, opts.retry).await?;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if attempts > MAX_ATTEMPTS {
            return Err(Fail::Fatal(format!(
                "transaction did not commit after {MAX_ATTEMPTS} attempts (the database keeps changing)"
            )));
        }
        conn.drain();
        let mut txn = Txn::new(conn.db.clone());
        if txn.db.ovs_uuid().is_none() {
            txn.insert("Open_vSwitch", None);
        }
        let mut symtab = Symtab::default();
        let mut outputs = Vec::new();
        let mut again = false;
        for c in &cmds {
            let mut ctx = Ctx {
                txn: &mut txn,
                symtab: &mut symtab,
                style: opts.style,
                args: &c.args,
                opts: &c.opts,
                out: String::new(),
            };
            match (COMMANDS[c.spec].run)(&mut ctx) {
                Ok(()) => {}
                Err(Fail::TryAgain) => {
                    again = true;
                    break;
                }
                Err(e) => return Err(e),
            }
            outputs.push(ctx.out);
        }
        if again {
            conn.wait_change().await?;
            continue;
        }
        for (name, sym) in &symtab.syms {
            if !sym.created {
                return Err(Fail::Fatal(format!(
                    "row id \"{name}\" is referenced but never created (e.g. with \"-- --id={name} create ...\")"
                )));
            }
        }
        for (name, sym) in &symtab.syms {
            if !sym.strong_ref {
                let how = if sym.weak_ref {
                    "only a weak reference"
                } else {
                    "no reference"
                };
                warn(
                    "vsctl",
                    &format!(
                        "row id \"{name}\" was created but {how} to it was inserted, so it will not actually appear in the database"
                    ),
                );
            }
        }
        let mut next_cfg: Option<i64> = None;
        // In the order the commands created them, as ovs-vsctl reports.
        let new_ifaces: Vec<String> = txn
            .insert_order
            .iter()
            .filter(|u| txn.inserted.get(u).is_some_and(|(t, _)| t == "Interface"))
            .map(|u| txn.db.get_str("Interface", u, "name"))
            .collect();
        if txn.has_changes() && !opts.dry_run {
            let ovs = txn.db.ovs_uuid();
            let bump = !opts.no_wait;
            let mut ops = txn.ops(None);
            ops.insert(0, json!("Open_vSwitch"));
            let mut select_at = None;
            if bump {
                if let Some(o) = ovs {
                    if let Some((_, name)) = txn.inserted.get(&o) {
                        let w = json!([["_uuid", "==", ["named-uuid", name]]]);
                        ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": w,
                            "mutations": [["next_cfg", "+=", 1]]}));
                        select_at = Some(ops.len() - 1);
                        ops.push(json!({"op": "select", "table": "Open_vSwitch", "where": w,
                            "columns": ["next_cfg"]}));
                    } else {
                        let w = json!([["_uuid", "==", ["uuid", o.to_string()]]]);
                        ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": w,
                            "mutations": [["next_cfg", "+=", 1]]}));
                        select_at = Some(ops.len() - 1);
                        ops.push(json!({"op": "select", "table": "Open_vSwitch", "where": w,
                            "columns": ["next_cfg"]}));
                    }
                }
            }
            let reply = conn
                .client
                .request("transact", Value::Array(ops.clone()))
                .await
                .map_err(|e| Fail::Fatal(format!("transaction error: {e}")))?;
            let results = reply.as_array().cloned().unwrap_or_default();
            // Errors: a failed verification means "try again".
            let mut retry = false;
            for r in &results {
                if let Some(err) = r.get("error").and_then(Value::as_str) {
                    if err == "timed out" {
                        retry = true;
                        break;
                    }
                    let m = format!(
                        "transaction error: {}",
                        ovsdb::error::json_to_sorted_string(r)
                    );
                    warn("ovsdb_idl", &m);
                    return Err(Fail::Fatal(m));
                }
            }
            if retry {
                // Let the replica catch up with whatever changed.
                let _ = tokio::time::timeout(Duration::from_millis(200), conn.wait_change()).await;
                continue;
            }
            // Map our provisional UUIDs to the server's.
            let mut map: BTreeMap<String, String> = BTreeMap::new();
            let inserts: Vec<(&uuid::Uuid, usize)> = {
                let mut v = Vec::new();
                for (k, op) in ops.iter().enumerate().skip(1) {
                    if op.get("op").and_then(Value::as_str) == Some("insert") {
                        if let Some(name) = op.get("uuid-name").and_then(Value::as_str) {
                            if let Some((u, _)) = txn.inserted.iter().find(|(_, (_, n))| n == name)
                            {
                                v.push((u, k - 1));
                            }
                        }
                    }
                }
                v
            };
            for (u, idx) in inserts {
                if let Some(real) = results
                    .get(idx)
                    .and_then(|r| r.get("uuid"))
                    .and_then(|j| j.get(1))
                    .and_then(Value::as_str)
                {
                    map.insert(u.to_string(), real.to_string());
                }
            }
            for o in outputs.iter_mut() {
                for (from, to) in &map {
                    if o.contains(from.as_str()) {
                        *o = o.replace(from.as_str(), to);
                    }
                }
            }
            if let Some(k) = select_at {
                next_cfg = results
                    .get(k)
                    .and_then(|r| r.get("rows"))
                    .and_then(|r| r.get(0))
                    .and_then(|r| r.get("next_cfg"))
                    .and_then(Value::as_i64);
            }
        }
        let mut text = String::new();
        for o in &outputs {
            if opts.oneline {
                text.push_str(&escape_oneline(o));
            } else {
                text.push_str(o);
            }
        }
        if let Some(n) = next_cfg {
            // Print first, as ovs-vsctl does, then wait for the daemon.
            let mut so = std::io::stdout().lock();
            let _ = so.write_all(text.as_bytes());
            let _ = so.flush();
            text.clear();
            loop {
                conn.drain();
                let cur = conn
                    .db
                    .ovs_uuid()
                    .map(|o| conn.db.get("Open_vSwitch", &o, "cur_cfg"))
                    .and_then(|d| d.as_i64())
                    .unwrap_or(0);
                if cur >= n {
                    break;
                }
                conn.wait_change().await?;
            }
            // As ovs-vsctl: complain about new interfaces the switch
            // could not set up (no OpenFlow port number, or -1), then
            // name the log directory once.
            let mut n_errors = 0usize;
            for name in &new_ifaces {
                let row = conn.db.table("Interface").and_then(|t| {
                    t.values()
                        .find(|r| r.get_str("name") == Some(name.as_str()))
                });
                let Some(row) = row else { continue };
                let failed = row
                    .columns
                    .get("ofport")
                    .is_none_or(|d| d.is_empty() || d.as_i64() == Some(-1));
                if failed {
                    match row.get_str("error") {
                        Some(err) => eprintln!(
                            "{PROG}: Error detected while setting up '{name}': {err}.  See ovs-vswitchd log for details."
                        ),
                        None => eprintln!(
                            "{PROG}: Error detected while setting up '{name}'.  See ovs-vswitchd log for details."
                        ),
                    }
                    n_errors += 1;
                }
            }
            if n_errors > 0 {
                let logdir = std::env::var("OVS_LOGDIR").unwrap_or_else(|_| "/var/log/rvs".into());
                eprintln!("{PROG}: The default log directory is \"{logdir}\".");
            }
        }
        return Ok(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (command name, options, arguments).
    type Parsed1 = (String, Vec<String>, Vec<String>);

    fn parse(line: &str) -> Result<Vec<Parsed1>, String> {
        let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        match parse_args(&argv)? {
            Parsed::Run(_, cmds) => Ok(cmds
                .into_iter()
                .map(|c| {
                    let opts = c
                        .opts
                        .iter()
                        .map(|(k, v)| match v {
                            Some(v) => format!("{k}={v}"),
                            None => k.clone(),
                        })
                        .collect();
                    (COMMANDS[c.spec].name.to_string(), opts, c.args)
                })
                .collect()),
            Parsed::Exit(_) => Err("exit".into()),
        }
    }

    #[test]
    fn command_lines() {
        let c = parse("--no-wait --if-exists del-br br0 -- --may-exist add-br x").expect("ok");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].0, "del-br");
        assert_eq!(c[0].1, vec!["--if-exists".to_string()]);
        assert_eq!(c[1].1, vec!["--may-exist".to_string()]);
        assert_eq!(c[1].2, vec!["add-br".to_string(), "x".to_string()]);
        let c = parse("--columns name list Port").expect("ok");
        assert_eq!(c[0].1, vec!["--columns=name".to_string()]);
        assert_eq!(parse("list-br --").expect("ok").len(), 1);
        assert!(
            parse("frob")
                .unwrap_err()
                .contains("unknown command 'frob'")
        );
        assert!(parse("").unwrap_err().contains("missing command name"));
        assert!(
            parse("--columns=x list-br")
                .unwrap_err()
                .contains("'list-br' command has no '--columns' option")
        );
        assert!(
            parse("add-br")
                .unwrap_err()
                .contains("'add-br' command requires at least 1 arguments")
        );
        assert!(
            parse("list-br x")
                .unwrap_err()
                .contains("'list-br' command takes at most 0 arguments")
        );
        assert!(
            parse("-t")
                .unwrap_err()
                .contains("option requires an argument -- 't'")
        );
        assert!(
            parse("--format=xml list-br")
                .unwrap_err()
                .contains("unknown output format")
        );
    }

    #[test]
    fn oneline_escapes() {
        assert_eq!(escape_oneline("a\nb\\c\n"), "a\\nb\\\\c\n");
        assert_eq!(escape_oneline(""), "\n");
    }
}
