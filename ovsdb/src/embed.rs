//! In-process API to a running server: what `rvs-ovsdb-server` and the
//! switch daemon use.
//!
//! [`ServerHandle::start`] spawns the server core on its own thread;
//! [`ServerHandle::start_listener`] adds `punix:`/`ptcp:` remotes at any
//! time (the Manager table does this at run time). In-process users
//! transact and read without any JSON-RPC round trip and subscribe to
//! commits through a broadcast channel.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc as std_mpsc;

use serde_json::Value;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::db::Database;
use crate::error::Error;
use crate::log::LogFile;
use crate::remote::Remote;
use crate::schema::DatabaseSchema;
use crate::server::{
    Cmd, CommitEvent, Core, CoreTx, DbFile, ServerConfig, run_core, run_session, wall_ms,
};

/// A running server.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    core: CoreTx,
    commits: broadcast::Sender<CommitEvent>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

/// A listening remote; dropping it (or [`Listener::stop`]) stops accepting.
/// Connections already accepted stay up.
#[derive(Debug)]
pub struct Listener {
    remote: Remote,
    task: JoinHandle<()>,
    local: String,
}

impl Listener {
    /// The remote as configured.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// The bound address (`ptcp:` with port 0 gets its real port here), in
    /// active form (`tcp:IP:PORT` or `unix:PATH`).
    pub fn local(&self) -> &str {
        &self.local
    }

    /// Stops accepting.
    pub fn stop(self) {}
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
        if let Remote::PUnix(p) = &self.remote {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Opens (or creates from `schema`) a database file.
pub fn open_or_create(path: &Path, schema: &DatabaseSchema) -> Result<DbFile, Error> {
    if path.exists() {
        let (log, db) = LogFile::open(path)?;
        Ok(DbFile { db, log: Some(log) })
    } else {
        let log = LogFile::create(path, schema)?;
        Ok(DbFile {
            db: Database::new(schema.clone()),
            log: Some(log),
        })
    }
}

impl ServerHandle {
    /// Starts a server over the given databases (keyed by their schema name).
    pub fn start(dbs: Vec<DbFile>, config: ServerConfig) -> Result<ServerHandle, Error> {
        let mut map = BTreeMap::new();
        for f in dbs {
            let name = f.db.schema().name.clone();
            if map.insert(name.clone(), f).is_some() {
                return Err(Error::new("duplicate database", name));
            }
        }
        let (commits, _) = broadcast::channel(1024);
        let core = Core::new(map, config.clone(), commits.clone(), wall_ms())?;
        let (tx, rx) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ovsdb-core".into())
            .spawn(move || run_core(core, rx))
            .map_err(Error::from)?;
        Ok(ServerHandle {
            core: CoreTx {
                tx,
                next_sid: Arc::new(AtomicU64::new(1)),
                config: Arc::new(config),
            },
            commits,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    fn send(&self, cmd: Cmd) -> Result<(), Error> {
        self.core
            .tx
            .send(cmd)
            .map_err(|_| Error::new("server stopped", "the OVSDB server has shut down"))
    }

    /// Executes a transaction (the `ops` of a `transact` request) on `db`.
    /// `Ok` carries the RFC 7047 result array (which reports per-operation
    /// errors itself); `Err` is a request-level error such as an unknown
    /// database.
    pub async fn transact(&self, db: &str, ops: Vec<Value>) -> Result<Value, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Transact {
            db: db.to_string(),
            ops,
            reply,
        })?;
        rx.await
            .map_err(|_| Error::new("server stopped", "transaction dropped"))?
    }

    /// Runs `f` on the current contents of database `db`, in the server's
    /// thread, between transactions (a consistent snapshot).
    pub async fn read<R, F>(&self, db: &str, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&Database) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let name = db.to_string();
        self.send(Cmd::Read {
            f: Box::new(move |dbs| {
                let r = dbs.get(&name).map(|d| f(&d.db));
                let _ = tx.send(r);
            }),
        })?;
        rx.await
            .map_err(|_| Error::new("server stopped", "read dropped"))?
            .ok_or_else(|| Error::new("unknown database", format!("unknown database {db}")))
    }

    /// Receives every commit from now on (a lagging receiver loses the
    /// oldest events and is told so by `RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<CommitEvent> {
        self.commits.subscribe()
    }

    /// Starts listening on a passive remote (`punix:` or `ptcp:`). Must be
    /// called inside a tokio runtime.
    pub async fn start_listener(&self, remote: &Remote) -> Result<Listener, Error> {
        let core = self.core.clone();
        let cfg = core.config.clone();
        match remote {
            Remote::PUnix(path) => {
                if path.exists() {
                    // Like ovsdb-server: a stale socket from a previous run is replaced.
                    let _ = std::fs::remove_file(path);
                }
                let l = tokio::net::UnixListener::bind(path)?;
                let local = format!("unix:{}", path.display());
                let peer = local.clone();
                let task = tokio::spawn(async move {
                    loop {
                        match l.accept().await {
                            Ok((s, _)) => {
                                tokio::spawn(run_session(
                                    s,
                                    core.clone(),
                                    peer.clone(),
                                    cfg.unix_probe,
                                ));
                            }
                            Err(e) => {
                                tracing::warn!("{peer}: accept failed: {e}");
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                        }
                    }
                });
                Ok(Listener {
                    remote: remote.clone(),
                    task,
                    local,
                })
            }
            Remote::PTcp(addr) => {
                let l = tokio::net::TcpListener::bind(addr).await?;
                let local = format!("tcp:{}", l.local_addr()?);
                let task = tokio::spawn(async move {
                    loop {
                        match l.accept().await {
                            Ok((s, a)) => {
                                let _ = s.set_nodelay(true);
                                tokio::spawn(run_session(
                                    s,
                                    core.clone(),
                                    format!("tcp:{a}"),
                                    cfg.probe,
                                ));
                            }
                            Err(e) => {
                                tracing::warn!("accept failed: {e}");
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                        }
                    }
                });
                Ok(Listener {
                    remote: remote.clone(),
                    task,
                    local,
                })
            }
            other => Err(Error::new(
                "not supported",
                format!("{other} is not a passive remote"),
            )),
        }
    }

    /// Serves one already-connected stream (for tests and socket
    /// activation).
    pub fn serve_stream<S>(&self, stream: S, peer: &str)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        tokio::spawn(run_session(
            stream,
            self.core.clone(),
            peer.to_string(),
            None,
        ));
    }

    /// Stops the server: closes every session and ends the core thread
    /// after the batch being processed (so no acknowledged commit is lost).
    /// Blocks the calling thread until the core thread has ended.
    pub fn shutdown(&self) {
        let _ = self.core.tx.send(Cmd::Shutdown);
        let t = self.thread.lock().ok().and_then(|mut g| g.take());
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}
