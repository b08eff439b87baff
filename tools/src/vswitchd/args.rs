//! Command line of `rvs-vswitchd` (ovs-vswitchd's everyday flags plus the
//! rvs directories).
//!
//! ```text
//! rvs-vswitchd [DATABASE] [--rundir=DIR] [--dbdir=DIR] [--logdir=DIR]
//!     [--remote=REMOTE]... [--pidfile[=FILE]] [--detach] [--log-file[=FILE]]
//!     [--unixctl=SOCKET] [-vconsole:off] [--no-chdir] [--pmd-threads=N]
//!     [--version]
//! ```
//!
//! Without DATABASE the daemon embeds its OVSDB server (database
//! `<dbdir>/conf.db`, socket `<rundir>/db.sock`).  With DATABASE
//! (`unix:PATH` or `tcp:IP:PORT`, as ovs-vswitchd takes it) it embeds none
//! and is a client of that server ("drop-in mode").

use std::path::PathBuf;

use thiserror::Error;

/// rvs default run directory (sockets, pidfiles).
pub const DEFAULT_RUNDIR: &str = "/var/run/rvs";
/// rvs default state directory (database, persisted flows).
pub const DEFAULT_DBDIR: &str = "/var/lib/rvs";
/// rvs default log directory.
pub const DEFAULT_LOGDIR: &str = "/var/log/rvs";

/// A command line that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ArgsError {
    /// An option needs a value and got none.
    #[error("{0} requires an argument")]
    MissingValue(String),
    /// A value does not parse.
    #[error("{0}: invalid value {1:?}")]
    BadValue(String, String),
    /// Unknown option.
    #[error("unknown option {0} (try --help)")]
    Unknown(String),
    /// More than one database remote.
    #[error("only one database remote may be given")]
    TwoDatabases,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run the daemon.
    Run(Box<Args>),
    /// Print the version and exit.
    Version,
    /// Print the usage and exit.
    Help,
}

/// Parsed options, with directories resolved (flag > environment > default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// External database remote (drop-in mode), `None` = embedded server.
    pub db_remote: Option<String>,
    /// Run directory.
    pub rundir: PathBuf,
    /// Database / state directory.
    pub dbdir: PathBuf,
    /// Log directory.
    pub logdir: PathBuf,
    /// Extra OVSDB listeners of the embedded server (`punix:`, `ptcp:`).
    pub remotes: Vec<String>,
    /// Pidfile to write.
    pub pidfile: Option<PathBuf>,
    /// Log file to append to.
    pub log_file: Option<PathBuf>,
    /// unixctl socket (default `<rundir>/rvs-vswitchd.<pid>.ctl`).
    pub unixctl: Option<PathBuf>,
    /// Log to stderr.
    pub console: bool,
    /// Run in the background.
    pub detach: bool,
    /// Poll-mode threads per bridge datapath.
    pub pmd_threads: usize,
}

/// The usage text.
pub const USAGE: &str = "rvs-vswitchd: the rvs switch daemon (ovs-vswitchd compatible)
usage: rvs-vswitchd [DATABASE] [OPTIONS]
  DATABASE              unix:PATH | tcp:IP:PORT of an external OVSDB server
                        (default: embedded server on <dbdir>/conf.db,
                        listening on <rundir>/db.sock)
  --rundir=DIR          sockets and pidfiles ($OVS_RUNDIR, /var/run/rvs)
  --dbdir=DIR           database and saved flows ($OVS_DBDIR, /var/lib/rvs)
  --logdir=DIR          default log file directory ($OVS_LOGDIR, /var/log/rvs)
  --remote=REMOTE       extra OVSDB listener of the embedded server (punix:/ptcp:)
  --pidfile[=FILE]      write the PID (default <rundir>/rvs-vswitchd.pid)
  --log-file[=FILE]     log to FILE (default <logdir>/rvs-vswitchd.log)
  --unixctl=SOCKET      control socket (default <rundir>/rvs-vswitchd.<pid>.ctl)
  --detach              run in the background once ready
  -vconsole:off         no logging to stderr
  --no-chdir, --monitor, --overwrite-pidfile, --mlockall   accepted, no effect
  --pmd-threads=N       datapath poll threads per bridge (default 1)
  -V, --version         print the version";

fn env_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Parses `argv` (without the program name), reading `OVS_RUNDIR`,
/// `OVS_DBDIR` and `OVS_LOGDIR` for unset directories.
pub fn parse(argv: &[String]) -> Result<Action, ArgsError> {
    let mut db_remote = None;
    let mut rundir = None;
    let mut dbdir = None;
    let mut logdir = None;
    let mut remotes = Vec::new();
    let mut pidfile: Option<Option<PathBuf>> = None;
    let mut log_file: Option<Option<PathBuf>> = None;
    let mut unixctl = None;
    let mut console = true;
    let mut detach = false;
    let mut pmd_threads = 1usize;
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let (name, val) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut need = |v: Option<String>| -> Result<String, ArgsError> {
            match v {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| ArgsError::MissingValue(name.to_string())),
            }
        };
        match name {
            "-h" | "--help" => return Ok(Action::Help),
            "-V" | "--version" => return Ok(Action::Version),
            "--rundir" => rundir = Some(PathBuf::from(need(val)?)),
            "--dbdir" => dbdir = Some(PathBuf::from(need(val)?)),
            "--logdir" => logdir = Some(PathBuf::from(need(val)?)),
            "--remote" => remotes.push(need(val)?),
            "--pidfile" => pidfile = Some(val.map(PathBuf::from)),
            "--log-file" => log_file = Some(val.map(PathBuf::from)),
            "--unixctl" => unixctl = Some(PathBuf::from(need(val)?)),
            "--detach" => detach = true,
            "--pmd-threads" => {
                let v = need(val)?;
                pmd_threads = match v.parse::<usize>() {
                    Ok(n) if (1..=64).contains(&n) => n,
                    _ => return Err(ArgsError::BadValue(name.into(), v)),
                };
            }
            "--no-chdir"
            | "--monitor"
            | "--overwrite-pidfile"
            | "--mlockall"
            | "--disable-system"
            | "--disable-system-route" => {}
            _ if name.starts_with("-v") || name.starts_with("--verbose") => {
                if arg.contains("console:off") {
                    console = false;
                }
            }
            _ if !name.starts_with('-') => {
                if db_remote.is_some() {
                    return Err(ArgsError::TwoDatabases);
                }
                db_remote = Some(arg.clone());
            }
            _ => return Err(ArgsError::Unknown(arg.clone())),
        }
    }
    let rundir = rundir.unwrap_or_else(|| env_dir("OVS_RUNDIR", DEFAULT_RUNDIR));
    let dbdir = dbdir.unwrap_or_else(|| env_dir("OVS_DBDIR", DEFAULT_DBDIR));
    let logdir = logdir.unwrap_or_else(|| env_dir("OVS_LOGDIR", DEFAULT_LOGDIR));
    let pidfile = pidfile.map(|p| p.unwrap_or_else(|| rundir.join("rvs-vswitchd.pid")));
    let log_file = log_file.map(|p| p.unwrap_or_else(|| logdir.join("rvs-vswitchd.log")));
    Ok(Action::Run(Box::new(Args {
        db_remote,
        rundir,
        dbdir,
        logdir,
        remotes,
        pidfile,
        log_file,
        unixctl,
        console,
        detach,
        pmd_threads,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Args {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&v) {
            Ok(Action::Run(a)) => *a,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bench_command_line_is_accepted() {
        let a = run(&[
            "unix:/tmp/x/db.sock",
            "--pidfile=/tmp/x/p.pid",
            "--log-file=/tmp/x/l.log",
            "--unixctl=/tmp/x/c.ctl",
            "-vconsole:off",
            "--detach",
            "--no-chdir",
        ]);
        assert_eq!(a.db_remote.as_deref(), Some("unix:/tmp/x/db.sock"));
        assert_eq!(a.pidfile, Some(PathBuf::from("/tmp/x/p.pid")));
        assert_eq!(a.log_file, Some(PathBuf::from("/tmp/x/l.log")));
        assert_eq!(a.unixctl, Some(PathBuf::from("/tmp/x/c.ctl")));
        assert!(!a.console);
        assert!(a.detach);
    }

    #[test]
    fn flags_override_defaults() {
        let a = run(&[
            "--rundir",
            "/r",
            "--dbdir=/d",
            "--logdir=/l",
            "--pidfile",
            "--log-file",
        ]);
        assert_eq!(a.rundir, PathBuf::from("/r"));
        assert_eq!(a.dbdir, PathBuf::from("/d"));
        assert_eq!(a.pidfile, Some(PathBuf::from("/r/rvs-vswitchd.pid")));
        assert_eq!(a.log_file, Some(PathBuf::from("/l/rvs-vswitchd.log")));
        assert!(a.db_remote.is_none());
    }

    #[test]
    fn bad_input_is_an_error() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse(&v(&["--bogus"])),
            Err(ArgsError::Unknown("--bogus".into()))
        );
        assert_eq!(
            parse(&v(&["--unixctl"])),
            Err(ArgsError::MissingValue("--unixctl".into()))
        );
        assert!(matches!(
            parse(&v(&["--pmd-threads=0"])),
            Err(ArgsError::BadValue(..))
        ));
        assert_eq!(
            parse(&v(&["unix:/a", "unix:/b"])),
            Err(ArgsError::TwoDatabases)
        );
        assert_eq!(parse(&v(&["--version"])), Ok(Action::Version));
    }
}
