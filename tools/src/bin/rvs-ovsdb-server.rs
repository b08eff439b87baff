//! `rvs-ovsdb-server`: a drop-in for `ovsdb-server` serving one standalone
//! database file.
//!
//! ```text
//! rvs-ovsdb-server [DB-FILE] [--remote=REMOTE]... [--pidfile[=FILE]]
//!     [--log-file[=FILE]] [--unixctl=SOCKET] [-vconsole:off] [--no-chdir]
//!     [--detach] [--inactivity-probe=MS] [--max-message=BYTES]
//!     [--max-backlog=BYTES]
//! ```
//!
//! DB-FILE defaults to `$OVS_DBDIR/conf.db` (`/etc/openvswitch/conf.db`)
//! and is created from the embedded `Open_vSwitch` schema when missing.
//! REMOTE is `punix:PATH`, `ptcp:PORT[:IP]`, or
//! `db:DB,TABLE,COLUMN` (listeners follow the targets named there, as
//! ovsdb-server does for `Open_vSwitch,Open_vSwitch,manager_options`).
//! `--detach` re-executes the program in the background (no fork) and
//! returns once it serves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::{SinkExt, StreamExt};
use ovsdb::embed::{Listener, ServerHandle, open_or_create};
use ovsdb::jsonrpc::{JsonRpcCodec, Msg};
use ovsdb::remote::Remote;
use ovsdb::server::ServerConfig;
use serde_json::json;
use tokio_util::codec::Framed;

const READY_ENV: &str = "RVS_OVSDB_READY_FILE";

#[derive(Debug, Default)]
struct Args {
    db: Option<PathBuf>,
    remotes: Vec<String>,
    pidfile: Option<PathBuf>,
    log_file: Option<PathBuf>,
    unixctl: Option<PathBuf>,
    console: bool,
    detach: bool,
    probe_ms: Option<u64>,
    max_message: Option<usize>,
    max_backlog: Option<usize>,
}

fn rundir() -> PathBuf {
    std::env::var_os("OVS_RUNDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/run/openvswitch".into())
}

fn usage() -> ! {
    println!(
        "rvs-ovsdb-server: OVSDB server (ovsdb-server compatible)\n\
         usage: rvs-ovsdb-server [DB-FILE] [--remote=REMOTE]... [--pidfile[=FILE]]\n\
         \x20      [--log-file[=FILE]] [--unixctl=SOCKET] [-vconsole:off] [--no-chdir] [--detach]\n\
         \x20      [--inactivity-probe=MS] [--max-message=BYTES] [--max-backlog=BYTES]\n\
         REMOTE: punix:PATH | ptcp:PORT[:IP] | db:DB,TABLE,COLUMN"
    );
    std::process::exit(0)
}

fn parse_args(argv: &[String]) -> Result<Args> {
    let mut a = Args {
        console: true,
        ..Args::default()
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let (name, val) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut need = |v: Option<String>| -> Result<String> {
            match v {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| anyhow!("{name} requires an argument")),
            }
        };
        match name {
            "-h" | "--help" => usage(),
            "-V" | "--version" => {
                println!("rvs-ovsdb-server (rvs) {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0)
            }
            "--remote" => a.remotes.push(need(val)?),
            "--pidfile" => {
                a.pidfile = Some(
                    val.map(PathBuf::from)
                        .unwrap_or_else(|| rundir().join("ovsdb-server.pid")),
                )
            }
            "--log-file" => {
                a.log_file = Some(val.map(PathBuf::from).unwrap_or_else(|| {
                    std::env::var_os("OVS_LOGDIR")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| "/var/log/openvswitch".into())
                        .join("ovsdb-server.log")
                }))
            }
            "--unixctl" => a.unixctl = Some(PathBuf::from(need(val)?)),
            "--detach" => a.detach = true,
            "--inactivity-probe" => {
                a.probe_ms = Some(need(val)?.parse().context("--inactivity-probe")?)
            }
            "--max-message" => a.max_message = Some(need(val)?.parse().context("--max-message")?),
            "--max-backlog" => a.max_backlog = Some(need(val)?.parse().context("--max-backlog")?),
            // Accepted for compatibility; they change nothing here.
            "--no-chdir" | "--monitor" | "--overwrite-pidfile" | "--mlockall" => {}
            "--private-key" | "--certificate" | "--ca-cert" | "--bootstrap-ca-cert" => {
                let v = need(val)?;
                if !v.starts_with("db:") {
                    bail!("{name}: SSL is not supported by rvs-ovsdb-server");
                }
            }
            _ if name.starts_with("-v") || name.starts_with("--verbose") => {
                if arg.contains("console:off") {
                    a.console = false;
                }
            }
            _ if !name.starts_with('-') => {
                if a.db.is_some() {
                    bail!("only one database file is supported");
                }
                a.db = Some(PathBuf::from(arg));
            }
            _ => bail!("unknown option {arg} (try --help)"),
        }
    }
    Ok(a)
}

fn init_logging(a: &Args) -> Result<()> {
    use tracing_subscriber::prelude::*;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("RVS_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let file = match &a.log_file {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("{}", p.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(f))
                    .with_filter(filter()),
            )
        }
        None => None,
    };
    let console = a.console.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    tracing_subscriber::registry()
        .with(file)
        .with(console)
        .init();
    Ok(())
}

/// The passive targets named in `db:DB,TABLE,COLUMN` remotes (columns that
/// are strings, or references to rows with a `target` column, like
/// `Open_vSwitch.manager_options` -> `Manager.target`).
fn db_targets(db: &ovsdb::Database, table: &str, column: &str) -> Vec<String> {
    let Some(ts) = db.schema().table(table) else {
        return Vec::new();
    };
    let Some(ty) = ts.column_type(column) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for row in db.table_rows(table) {
        let Some(d) = row.get(column) else { continue };
        for atom in d.keys() {
            if let Some(s) = atom.as_str() {
                out.push(s.to_string());
            } else if let (Some(u), Some(rt)) = (atom.as_uuid(), ty.key.ref_table.as_deref())
                && let Some(target) = db
                    .get_row(rt, &u)
                    .and_then(|r| r.get("target").map(|d| d.into_owned()))
            {
                out.extend(target.keys().filter_map(|a| a.as_str().map(str::to_string)));
            }
        }
    }
    out
}

async fn sync_db_remotes(
    h: &ServerHandle,
    specs: &[(String, String, String)],
    active: &mut BTreeMap<String, Listener>,
) {
    let mut want = BTreeSet::new();
    for (db, t, c) in specs {
        let (t2, c2) = (t.clone(), c.clone());
        if let Ok(v) = h.read(db, move |d| db_targets(d, &t2, &c2)).await {
            for target in v {
                match Remote::parse(&target) {
                    Ok(r) if r.is_passive() => {
                        want.insert(target);
                    }
                    _ => tracing::info!(
                        "{target}: only passive punix:/ptcp: targets are served, ignoring"
                    ),
                }
            }
        }
    }
    active.retain(|k, _| want.contains(k));
    for t in want {
        if active.contains_key(&t) {
            continue;
        }
        let Ok(r) = Remote::parse(&t) else { continue };
        match h.start_listener(&r).await {
            Ok(l) => {
                tracing::info!("{t}: listening");
                active.insert(t, l);
            }
            Err(e) => tracing::warn!("{t}: {e}"),
        }
    }
}

async fn unixctl(path: PathBuf, stop: tokio::sync::mpsc::Sender<()>) -> Result<()> {
    let _ = std::fs::remove_file(&path);
    let l = tokio::net::UnixListener::bind(&path).with_context(|| format!("{}", path.display()))?;
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut f = Framed::new(s, JsonRpcCodec::new(1 << 20));
                while let Some(Ok(Msg::Request { method, id, .. })) = f.next().await {
                    let reply = match method.as_str() {
                        "exit" => {
                            let _ = stop.send(()).await;
                            Msg::Reply {
                                result: json!(""),
                                id,
                            }
                        }
                        "version" => Msg::Reply {
                            result: json!(format!(
                                "rvs-ovsdb-server (rvs) {}\n",
                                env!("CARGO_PKG_VERSION")
                            )),
                            id,
                        },
                        "list-commands" => Msg::Reply {
                            result: json!(
                                "The available commands are:\n  exit\n  list-commands\n  version\n"
                            ),
                            id,
                        },
                        _ => Msg::Error {
                            error: json!(format!("\"{method}\" is not a valid command")),
                            id,
                        },
                    };
                    if f.send(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(())
}

async fn run(a: Args) -> Result<()> {
    let db_path = a.db.clone().unwrap_or_else(|| {
        std::env::var_os("OVS_DBDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/etc/openvswitch".into())
            .join("conf.db")
    });
    let file = open_or_create(&db_path, &ovsdb::vswitch_schema())
        .map_err(|e| anyhow!("{}: {e}", db_path.display()))?;
    let mut config = ServerConfig::default();
    if let Some(ms) = a.probe_ms {
        config.probe = (ms > 0).then(|| Duration::from_millis(ms));
    }
    if let Some(m) = a.max_message {
        config.max_message = m;
    }
    if let Some(b) = a.max_backlog {
        config.max_backlog = b;
    }
    let h = ServerHandle::start(vec![file], config).map_err(|e| anyhow!("{e}"))?;
    let mut listeners = Vec::new();
    let mut db_specs = Vec::new();
    for r in &a.remotes {
        if let Some(spec) = r.strip_prefix("db:") {
            let parts: Vec<&str> = spec.split(',').collect();
            let [d, t, c] = parts[..] else {
                bail!("{r}: expected db:DB,TABLE,COLUMN")
            };
            db_specs.push((d.to_string(), t.to_string(), c.to_string()));
            continue;
        }
        let remote = Remote::parse(r).map_err(|e| anyhow!("{e}"))?;
        listeners.push(
            h.start_listener(&remote)
                .await
                .map_err(|e| anyhow!("{r}: {e}"))?,
        );
        tracing::info!("{r}: listening");
    }
    let mut db_listeners = BTreeMap::new();
    let mut commits = h.subscribe();
    sync_db_remotes(&h, &db_specs, &mut db_listeners).await;
    let (stop_tx, mut stop_rx) = tokio::sync::mpsc::channel(1);
    if let Some(p) = &a.unixctl {
        unixctl(p.clone(), stop_tx.clone()).await?;
    }
    if let Some(p) = &a.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("{}", p.display()))?;
    }
    rvs_tools::detach::report_ready(READY_ENV);
    tracing::info!("{}: serving", db_path.display());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = stop_rx.recv() => break,
            ev = commits.recv() => {
                let relevant = match &ev {
                    Ok(e) => db_specs.iter().any(|(d, _, _)| *d == e.db),
                    Err(_) => true,
                };
                if relevant && !db_specs.is_empty() {
                    sync_db_remotes(&h, &db_specs, &mut db_listeners).await;
                }
            }
        }
    }
    tracing::info!("exiting");
    drop(listeners);
    drop(db_listeners);
    h.shutdown();
    if let Some(p) = &a.pidfile {
        let _ = std::fs::remove_file(p);
    }
    if let Some(p) = &a.unixctl {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let a = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rvs-ovsdb-server: {e}");
            std::process::exit(1);
        }
    };
    if a.detach {
        if let Err(e) = rvs_tools::detach::detach(
            &argv,
            READY_ENV,
            "rvs-ovsdb-server",
            Duration::from_secs(30),
        ) {
            eprintln!("rvs-ovsdb-server: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = init_logging(&a) {
        fail(&format!("{e:#}"));
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rvs-ovsdb-server: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(a)) {
        tracing::error!("{e:#}");
        fail(&format!("{e:#}"));
    }
}

/// Reports a fatal error (also to a detaching parent) and exits.
fn fail(msg: &str) -> ! {
    eprintln!("rvs-ovsdb-server: {msg}");
    rvs_tools::detach::report_failure(READY_ENV, msg);
    std::process::exit(1)
}
