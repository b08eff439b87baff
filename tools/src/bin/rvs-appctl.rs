//! `rvs-appctl`: sends a command to a running rvs (or Open vSwitch) daemon
//! over its unixctl socket, with `ovs-appctl`'s command line and output.
//!
//! ```text
//! rvs-appctl [-t TARGET] [--timeout=SECS] COMMAND [ARG...]
//! ```
//!
//! See docs/rvs-appctl.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use rvs_tools::unixctl::{UnixctlError, call};

const PROGRAM: &str = "rvs-appctl";
const DEFAULT_TARGET: &str = "rvs-vswitchd";
const DEFAULT_RUNDIR: &str = "/var/run/rvs";

fn usage() -> String {
    format!(
        "{PROGRAM}, for querying and controlling rvs (and Open vSwitch) daemons\n\
         usage: {PROGRAM} [TARGET] COMMAND [ARG...]\n\
         Targets:\n\
         \x20 -t, --target=TARGET  pidfile or socket to contact\n\
         Common commands:\n\
         \x20 list-commands      List commands supported by the target\n\
         \x20 version            Print version of the target\n\
         \x20 vlog/list          List current logging levels\n\
         \x20 vlog/set [SPEC]    Set log levels (MODULE:LEVEL or a tracing filter)\n\
         Other options:\n\
         \x20 --timeout=SECS     wait at most SECS seconds for a response\n\
         \x20 -h, --help         Print this helpful information\n\
         \x20 -V, --version      Display {PROGRAM} version information\n\
         TARGET is a daemon name (default {DEFAULT_TARGET}), looked up as\n\
         $OVS_RUNDIR/NAME.pid then $OVS_RUNDIR/NAME.PID.ctl (OVS_RUNDIR defaults\n\
         to {DEFAULT_RUNDIR}), or the absolute path of a unixctl socket.\n"
    )
}

/// A failure that ends the program: message (without the program prefix)
/// and exit status.
struct Fatal(String, u8);

#[derive(Debug, Default)]
struct Args {
    target: Option<String>,
    timeout: Option<u64>,
    command: Vec<String>,
}

enum Parsed {
    Run(Args),
    Exit(String),
}

fn parse_args(argv: &[String]) -> Result<Parsed, Fatal> {
    let mut a = Args::default();
    let mut e_seen = false;
    let mut i = 0;
    while let Some(arg) = argv.get(i) {
        i += 1;
        if !a.command.is_empty() || arg == "-" || !arg.starts_with('-') {
            // Options stop at the first non-option (getopt with "+").
            a.command.push(arg.clone());
            a.command.extend(argv.iter().skip(i).cloned());
            break;
        }
        if arg == "--" {
            a.command.extend(argv.iter().skip(i).cloned());
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if arg.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        // Short options with an attached value: -tTARGET, -T5.
        let (name, inline) = match name.char_indices().nth(2) {
            Some((at, _)) if !name.starts_with("--") && inline.is_none() => {
                let (opt, val) = name.split_at(at);
                (opt.to_owned(), Some(val.to_owned()))
            }
            _ => (name, inline),
        };
        let mut value = |opt: &str| -> Result<String, Fatal> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = argv
                .get(i)
                .cloned()
                .ok_or_else(|| Fatal(format!("option '{opt}' requires an argument"), 1))?;
            i += 1;
            Ok(v)
        };
        // OVS's logging options (-v[SPEC], --verbose[=SPEC], --log-file[=F],
        // --syslog-*) are accepted and ignored: rvs-appctl logs nothing.
        if name.starts_with("-v")
            || name == "--verbose"
            || name == "--log-file"
            || name.starts_with("--syslog-")
        {
            if name.starts_with("--syslog-") && inline.is_none() {
                i += 1;
            }
            continue;
        }
        match name.as_str() {
            "-t" | "--target" => {
                if a.target.is_some() {
                    return Err(Fatal("-t or --target may be specified only once".into(), 1));
                }
                a.target = Some(value(&name)?);
            }
            "-T" | "--timeout" => {
                let v = value(&name)?;
                let secs: u64 =
                    v.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                        Fatal(format!("value {v} on -T or --timeout is invalid"), 1)
                    })?;
                a.timeout = Some(secs);
            }
            "-e" | "--execute" => {
                // Accepted and ignored, as ovs-appctl does (old syntax).
                if e_seen {
                    return Err(Fatal(
                        "-e or --execute may be specified only once".into(),
                        1,
                    ));
                }
                e_seen = true;
            }
            "-h" | "--help" => return Ok(Parsed::Exit(usage())),
            "-o" | "--options" => {
                return Ok(Parsed::Exit(
                    "--target\n-t\n--timeout\n-T\n--execute\n-e\n--help\n-h\n--version\n-V\n"
                        .to_owned(),
                ));
            }
            "-V" | "--version" => {
                return Ok(Parsed::Exit(format!(
                    "{PROGRAM} (rvs) {}\n",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            _ if name.starts_with("--") => {
                return Err(Fatal(format!("unrecognized option '{name}'"), 1));
            }
            _ => {
                let opt = name.trim_start_matches('-');
                return Err(Fatal(format!("invalid option -- '{opt}'"), 1));
            }
        }
    }
    if a.command.is_empty() {
        return Err(Fatal(
            "at least one non-option argument is required (use --help for help)".into(),
            1,
        ));
    }
    Ok(Parsed::Run(a))
}

fn rundir() -> PathBuf {
    std::env::var_os("OVS_RUNDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNDIR))
}

/// Resolves TARGET as ovs-appctl does: an absolute path is the socket;
/// a name is `<rundir>/<name>.pid` -> `<rundir>/<name>.<pid>.ctl`.
fn socket_path(target: &str) -> Result<PathBuf, Fatal> {
    if target.starts_with('/') {
        return Ok(PathBuf::from(target));
    }
    let dir = rundir();
    let pidfile = dir.join(format!("{target}.pid"));
    let text = std::fs::read_to_string(&pidfile).map_err(|e| {
        Fatal(
            format!(
                "cannot read pidfile \"{}\" ({})",
                pidfile.display(),
                os_msg(&e)
            ),
            1,
        )
    })?;
    let pid: u32 = text.trim().parse().map_err(|_| {
        Fatal(
            format!(
                "cannot read pidfile \"{}\" (Invalid argument)",
                pidfile.display()
            ),
            1,
        )
    })?;
    Ok(dir.join(format!("{target}.{pid}.ctl")))
}

/// The C library's wording of an I/O error (without Rust's "(os error N)").
fn os_msg(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn run(argv: &[String]) -> Result<String, Fatal> {
    let args = match parse_args(argv)? {
        Parsed::Exit(text) => return Ok(text),
        Parsed::Run(a) => a,
    };
    let target = args.target.as_deref().unwrap_or(DEFAULT_TARGET);
    let path = socket_path(target)?;
    let Some((method, rest)) = args.command.split_first() else {
        return Err(Fatal("no command".into(), 1));
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fatal(format!("cannot start runtime ({e})"), 1))?;
    let fut = call(&path, method, rest);
    let out = rt.block_on(async {
        match args.timeout {
            Some(s) => tokio::time::timeout(Duration::from_secs(s), fut)
                .await
                .map_err(|_| s),
            None => Ok(fut.await),
        }
    });
    match out {
        // ovs-appctl dies of SIGALRM (status 142 in a shell).
        Err(secs) => Err(Fatal(
            format!("{target}: no response within {secs} seconds (timeout)"),
            142,
        )),
        Ok(Ok(text)) => Ok(text),
        Ok(Err(UnixctlError::Connect { path, source })) => Err(Fatal(
            format!(
                "cannot connect to \"{}\" ({})",
                path.display(),
                os_msg(&source)
            ),
            1,
        )),
        Ok(Err(UnixctlError::Remote(text))) => {
            eprint!("{text}");
            Err(Fatal(format!("{target}: server returned an error"), 2))
        }
        Ok(Err(UnixctlError::Io(e))) => Err(Fatal(
            format!("{target}: transaction error ({})", os_msg(&e)),
            1,
        )),
        Ok(Err(e)) => Err(Fatal(format!("{target}: {e}"), 1)),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(text) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            ExitCode::SUCCESS
        }
        Err(Fatal(msg, code)) => {
            eprintln!("{PROGRAM}: {msg}");
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Args, String> {
        let argv: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        match parse_args(&argv) {
            Ok(Parsed::Run(a)) => Ok(a),
            Ok(Parsed::Exit(t)) => Err(format!("exit: {t}")),
            Err(Fatal(m, c)) => Err(format!("{c}: {m}")),
        }
    }

    #[test]
    fn options_stop_at_the_command() {
        let a = parse(&["-t", "/x.ctl", "dpctl/dump-flows", "-m", "--names"]).unwrap();
        assert_eq!(a.target.as_deref(), Some("/x.ctl"));
        assert_eq!(a.command, ["dpctl/dump-flows", "-m", "--names"]);
        let b = parse(&["--target=br", "-T5", "-e", "-vconsole:off", "version"]).unwrap();
        assert_eq!(b.target.as_deref(), Some("br"));
        assert_eq!(b.timeout, Some(5));
        assert_eq!(b.command, ["version"]);
        let c = parse(&["-tfoo", "--", "-weird"]).unwrap();
        assert_eq!(c.target.as_deref(), Some("foo"));
        assert_eq!(c.command, ["-weird"]);
    }

    #[test]
    fn bad_command_lines_are_errors() {
        assert!(
            parse(&[])
                .unwrap_err()
                .starts_with("1: at least one non-option")
        );
        assert!(
            parse(&["-t", "a", "-t", "b", "x"])
                .unwrap_err()
                .contains("only once")
        );
        assert!(parse(&["-T", "0", "x"]).unwrap_err().contains("invalid"));
        assert!(parse(&["-é", "x"]).unwrap_err().contains("invalid option"));
        assert!(
            parse(&["--nope", "x"])
                .unwrap_err()
                .contains("unrecognized option '--nope'")
        );
        assert!(parse(&["-t"]).unwrap_err().contains("requires an argument"));
        assert!(
            parse(&["--help"])
                .unwrap_err()
                .starts_with("exit: rvs-appctl, for")
        );
    }

    #[test]
    fn names_resolve_through_the_pidfile() {
        assert_eq!(
            socket_path("/a/b.ctl").ok(),
            Some(PathBuf::from("/a/b.ctl"))
        );
    }
}
