//! The process: command line, logging, `--detach`, pidfile, the database
//! (embedded server or external), signals, unixctl, and the main loop that
//! feeds database changes and clock ticks to the reconciler.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use ovsdb::client::Client;
use ovsdb::embed::{Listener, ServerHandle, open_or_create};
use ovsdb::remote::Remote;
use ovsdb::server::ServerConfig;
use serde_json::json;

use super::args::{self, Action, Args};
use super::db::{DbConn, Replica, str_col};
use super::model::{self, read_config};
use super::switchd::{Settings, Switchd};

/// Environment variable through which a `--detach`ing parent learns that
/// its child is ready (or why it failed: same path plus `.err`).
const READY_ENV: &str = "RVS_VSWITCHD_READY_FILE";

/// Interface types the daemon builds (written to `iface_types`).
pub const IFACE_TYPES: &[&str] = &["internal", "patch", "system", "tap"];
/// Datapath types accepted (all run on the userspace datapath).
pub const DATAPATH_TYPES: &[&str] = &["netdev", "system"];

/// The program's version line.
pub fn version_line() -> String {
    format!("rvs-vswitchd (rvs) {}", env!("CARGO_PKG_VERSION"))
}

/// Entry point of the `rvs-vswitchd` binary.
pub fn main() -> ! {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let a = match args::parse(&argv) {
        Ok(Action::Run(a)) => *a,
        Ok(Action::Version) => {
            println!("{}", version_line());
            std::process::exit(0)
        }
        Ok(Action::Help) => {
            println!("{}", args::USAGE);
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("rvs-vswitchd: {e}");
            std::process::exit(1)
        }
    };
    if a.detach {
        match crate::detach::detach(&argv, READY_ENV, "rvs-vswitchd", Duration::from_secs(60)) {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("rvs-vswitchd: {e:#}");
                std::process::exit(1)
            }
        }
    }
    let filter = match init_logging(&a) {
        Ok(f) => f,
        Err(e) => fail(&format!("{e:#}")),
    };
    // Fewer malloc arenas: flow tables are built and freed on different
    // threads, and with glibc's default (8 per core) freed memory stays
    // spread out (flowscale: 338 MB after three 100k-rule rounds, 216 MB
    // with a cap; docs/performance.md).
    datapath::sys::limit_malloc_arenas(2);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("vswitchd")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(&e.to_string()),
    };
    match rt.block_on(run(a, filter)) {
        Ok(()) => {
            rt.shutdown_timeout(Duration::from_secs(2));
            std::process::exit(0)
        }
        Err(e) => {
            tracing::error!("{e:#}");
            fail(&format!("{e:#}"))
        }
    }
}

/// Reports a fatal error (also to a detaching parent) and exits.
fn fail(msg: &str) -> ! {
    eprintln!("rvs-vswitchd: {msg}");
    crate::detach::report_failure(READY_ENV, msg);
    std::process::exit(1)
}

/// The log filter `vlog/set` changes at run time.
type Filter = std::sync::Arc<dyn crate::appctl::vlog::LogFilter>;

fn init_logging(a: &Args) -> Result<Filter> {
    use tracing_subscriber::prelude::*;
    let env = tracing_subscriber::EnvFilter::try_from_env("RVS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(env);
    let file = match &a.log_file {
        Some(p) => {
            if let Some(d) = p.parent() {
                let _ = std::fs::create_dir_all(d);
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("{}", p.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(f)),
            )
        }
        None => None,
    };
    let console = a
        .console
        .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    tracing_subscriber::registry()
        .with(filter)
        .with(file)
        .with(console)
        .try_init()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(std::sync::Arc::new(handle))
}

/// The database side: the embedded server (with its listeners) if any.
struct Embedded {
    server: ServerHandle,
    listeners: Vec<Listener>,
    managers: BTreeMap<String, Listener>,
}

async fn connect_external(remote: &str) -> Result<Client> {
    let r = Remote::parse(remote).map_err(|e| anyhow!("{e}"))?;
    let mut delay = Duration::from_millis(100);
    let mut attempt: u32 = 0;
    loop {
        match Client::connect(&r).await {
            Ok(c) => return Ok(c),
            Err(e) => {
                if attempt % 10 == 0 {
                    tracing::warn!("{remote}: {e} (retrying)");
                }
            }
        }
        attempt = attempt.wrapping_add(1);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

async fn start_embedded(a: &Args) -> Result<(Embedded, Client)> {
    std::fs::create_dir_all(&a.dbdir).with_context(|| format!("{}", a.dbdir.display()))?;
    let path = a.dbdir.join("conf.db");
    let file = open_or_create(&path, &ovsdb::vswitch_schema())
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let server =
        ServerHandle::start(vec![file], ServerConfig::default()).map_err(|e| anyhow!("{e}"))?;
    let mut listeners = Vec::new();
    let sock = a.rundir.join("db.sock");
    let mut remotes = vec![format!("punix:{}", sock.display())];
    remotes.extend(a.remotes.iter().cloned());
    for r in remotes {
        let remote = Remote::parse(&r).map_err(|e| anyhow!("{e}"))?;
        let l = server
            .start_listener(&remote)
            .await
            .map_err(|e| anyhow!("{r}: {e}"))?;
        tracing::info!("{r}: listening");
        listeners.push(l);
    }
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    server.serve_stream(theirs, "rvs-vswitchd");
    Ok((
        Embedded {
            server,
            listeners,
            managers: BTreeMap::new(),
        },
        Client::over(ours),
    ))
}

/// Creates the `Open_vSwitch` row if missing and records what we are.
async fn init_db(db: &DbConn, replica: &Replica) -> Result<()> {
    let db_version = ovsdb::vswitch_schema().version;
    let want = json!({
        "ovs_version": env!("CARGO_PKG_VERSION"),
        "db_version": db_version,
        "datapath_types": ["set", DATAPATH_TYPES],
        "iface_types": ["set", IFACE_TYPES],
    });
    let op = match replica.rows("Open_vSwitch").next() {
        None => json!({"op": "insert", "table": "Open_vSwitch", "row": want}),
        Some((uuid, row)) => {
            let same = str_col(row, "ovs_version") == want["ovs_version"].as_str()
                && str_col(row, "db_version") == Some(db_version.as_str())
                && super::db::set_elems(row.get("iface_types")).len() == IFACE_TYPES.len()
                && super::db::set_elems(row.get("datapath_types")).len() == DATAPATH_TYPES.len();
            if same {
                return Ok(());
            }
            json!({"op": "update", "table": "Open_vSwitch",
                   "where": [["_uuid", "==", ["uuid", uuid]]], "row": want})
        }
    };
    db.transact(vec![op]).await.map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

async fn sync_managers(emb: &mut Embedded, cfg: &model::Config) {
    emb.managers.retain(|t, _| cfg.managers.contains(t));
    for t in &cfg.managers {
        if emb.managers.contains_key(t) {
            continue;
        }
        match Remote::parse(t) {
            Ok(r) if r.is_passive() => match emb.server.start_listener(&r).await {
                Ok(l) => {
                    tracing::info!("manager {t}: listening");
                    emb.managers.insert(t.clone(), l);
                }
                Err(e) => tracing::warn!("manager {t}: {e}"),
            },
            _ => tracing::info!("manager {t}: only passive ptcp:/punix: targets are served"),
        }
    }
}

fn register_unixctl(
    srv: &mut crate::unixctl::UnixctlServer,
    exit: tokio::sync::watch::Sender<bool>,
    bridges: super::switchd::BridgeMap,
) {
    let exit2 = exit.clone();
    srv.set_version(format!("{}\n", version_line()));
    srv.register(
        "exit",
        "[--cleanup]",
        0,
        1,
        std::sync::Arc::new(move |_args: &[String]| {
            let _ = exit2.send(true);
            Ok(String::new())
        }),
    );
    let _ = (exit, bridges);
}

async fn run(a: Args, filter: Filter) -> Result<()> {
    // From here on SIGTERM/SIGINT end the main loop (a signal that arrives
    // during start-up is acted on once it is reached).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    std::fs::create_dir_all(&a.rundir).with_context(|| format!("{}", a.rundir.display()))?;
    let _ = std::fs::create_dir_all(&a.dbdir);
    let (mut embedded, client) = match &a.db_remote {
        Some(r) => {
            tracing::info!("drop-in mode: database {r}");
            (None, connect_external(r).await?)
        }
        None => {
            let (e, c) = start_embedded(&a).await?;
            (Some(e), c)
        }
    };
    let (mut db, mut replica) = DbConn::start(client)
        .await
        .map_err(|e| anyhow!("monitoring the database: {e}"))?;
    init_db(&db, &replica).await?;
    let mut sw = Switchd::new(Settings {
        rundir: a.rundir.clone(),
        dbdir: a.dbdir.clone(),
        pmd_threads: a.pmd_threads,
    });
    let mut cfg = read_config(&replica);
    if let Some(e) = embedded.as_mut() {
        sync_managers(e, &cfg).await;
    }
    sw.reconcile(&cfg, &db, &replica).await;

    // unixctl
    let (exit_tx, mut exit_rx) = tokio::sync::watch::channel(false);
    let ctl_path = a.unixctl.clone().unwrap_or_else(|| {
        a.rundir
            .join(format!("rvs-vswitchd.{}.ctl", std::process::id()))
    });
    let mut srv = crate::unixctl::UnixctlServer::new();
    register_unixctl(&mut srv, exit_tx.clone(), sw.bridge_map());
    crate::appctl::register_all(&mut srv, sw.bridge_map(), exit_tx.clone());
    crate::appctl::vlog::register_vlog(&mut srv, Some(filter));
    let bound = srv
        .bind(ctl_path.clone())
        .with_context(|| format!("{}", ctl_path.display()))?;
    let (ctl_stop_tx, ctl_stop_rx) = tokio::sync::watch::channel(false);
    let ctl_task = tokio::spawn(bound.run(ctl_stop_rx));

    if let Some(p) = &a.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("{}", p.display()))?;
    }
    crate::detach::report_ready(READY_ENV);
    tracing::info!("{} ready", version_line());

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n_tick: u64 = 0;
    let mut db_lost = false;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM"); break }
            _ = int.recv() => { tracing::info!("SIGINT"); break }
            _ = exit_rx.changed() => { tracing::info!("exit requested"); break }
            u = db.next_update(&mut replica) => {
                if u.is_none() {
                    db_lost = true;
                    break;
                }
                cfg = read_config(&replica);
                if let Some(e) = embedded.as_mut() {
                    sync_managers(e, &cfg).await;
                }
                sw.reconcile(&cfg, &db, &replica).await;
            }
            _ = tick.tick() => {
                n_tick += 1;
                sw.tick(&cfg, &db, &replica, n_tick % 5 == 0).await;
                if n_tick % 2 == 0 {
                    sw.save_all();
                }
            }
        }
    }
    if db_lost {
        tracing::error!("database connection lost; exiting");
    }
    sw.shutdown().await;
    let _ = ctl_stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), ctl_task).await;
    drop(db);
    if let Some(e) = embedded.take() {
        drop(e.managers);
        drop(e.listeners);
        let server = e.server;
        let _ = tokio::task::spawn_blocking(move || server.shutdown()).await;
    }
    if let Some(p) = &a.pidfile {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(&ctl_path);
    tracing::info!("exiting");
    Ok(())
}
