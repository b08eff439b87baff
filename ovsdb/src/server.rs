//! The OVSDB server: JSON-RPC sessions over Unix and TCP sockets in front
//! of the transaction engine.
//!
//! # Shape
//!
//! One *core* owns everything shared: the databases with their logs, the
//! recent-commit history, the monitors and the lock table. It runs on its
//! own thread and is driven by one command queue, so every request is
//! handled in arrival order. Requests are taken in batches (everything
//! already queued, up to 256): they are executed in order, their commits
//! written to the log as one merged record with one fsync (group commit),
//! and only then are the batch's replies, monitor updates and commit events
//! released, in the order they were produced. That gives two guarantees
//! clients rely on for free: a commit is on disk before anyone hears about
//! it, and a client's own monitor updates come before its `transact` reply.
//!
//! Each connection is two small tokio tasks: a reader that frames JSON-RPC
//! messages (bounded by [`ServerConfig::max_message`]) and runs the
//! inactivity probe, and a writer that drains the session's outbox. The
//! core never blocks on a slow client: it appends to the outbox and counts
//! the bytes queued; a session whose backlog passes
//! [`ServerConfig::max_backlog`] is disconnected (and its memory freed).
//!
//! Time: the core's logic takes `now_ms` as an argument; only the thread
//! loop reads the clock. The probe is a small state machine ([`Probe`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::codec::FramedRead;
use uuid::Uuid;

use crate::db::Database;
use crate::error::Error;
use crate::jsonrpc::{JsonRpcCodec, JsonRpcError, Msg};
use crate::lock::{LockError, LockEvent, LockTable, SessionId};
use crate::log::LogFile;
use crate::monitor::{Monitor, MonitorVersion, merge_changes};
use crate::server_db::{SERVER_DB, database_row_insert, server_schema};
use crate::txn::{Commit, TxnOutcome, TxnParams};

/// Tunables of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest incoming JSON-RPC message, bytes.
    pub max_message: usize,
    /// Largest amount of unsent output queued for one client, bytes; past
    /// it the client is disconnected.
    pub max_backlog: usize,
    /// Inactivity probe for TCP sessions (`None`: no probe). Unix-socket
    /// sessions get [`ServerConfig::unix_probe`].
    pub probe: Option<Duration>,
    /// Inactivity probe for Unix-socket sessions (OVS: none).
    pub unix_probe: Option<Duration>,
    /// Number of recent commits kept per database to answer
    /// `monitor_cond_since` with `found: true`.
    pub history: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message: 16 << 20,
            max_backlog: 64 << 20,
            probe: Some(Duration::from_secs(5)),
            unix_probe: None,
            history: 100,
        }
    }
}

/// A database served, with its on-disk log (none for `_Server` or purely
/// in-memory databases).
#[derive(Debug)]
pub struct DbFile {
    /// The data.
    pub db: Database,
    /// Its log, appended (with fsync) before each commit is acknowledged.
    pub log: Option<LogFile>,
}

/// A commit as seen by in-process subscribers.
#[derive(Debug, Clone)]
pub struct CommitEvent {
    /// Database name.
    pub db: String,
    /// The committed changes.
    pub commit: Arc<Commit>,
}

/// Output queue of one session, shared by the core and the session's own
/// reader (echo replies), drained by the writer task.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
    close: Arc<watch::Sender<bool>>,
}

impl Outbox {
    /// Queues `msg`; returns false if the backlog is now over `limit`.
    fn send(&self, msg: &Msg, limit: usize) -> bool {
        let mut v = Vec::new();
        msg.encode(&mut v);
        let n = v.len();
        let total = self.queued.fetch_add(n, Ordering::SeqCst) + n;
        if self.tx.send(Bytes::from(v)).is_err() {
            return false;
        }
        total <= limit
    }

    fn close(&self) {
        let _ = self.close.send(true);
    }
}

/// Blocked (`wait`) transactions one client may have pending; more are
/// refused with a `"resources exhausted"` error.
pub const MAX_BLOCKED_PER_CLIENT: usize = 1000;

/// A read-only visit of every database, run on the core's thread.
pub(crate) type ReadFn = Box<dyn FnOnce(&BTreeMap<String, DbFile>) + Send>;

/// Commands to the core.
pub(crate) enum Cmd {
    Open {
        sid: SessionId,
        out: Outbox,
        peer: String,
    },
    Rpc {
        sid: SessionId,
        msg: Msg,
        /// Input budget held until the core has handled the message.
        _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    },
    Closed {
        sid: SessionId,
    },
    Transact {
        db: String,
        ops: Vec<Value>,
        reply: oneshot::Sender<Result<Value, Error>>,
    },
    Read {
        f: ReadFn,
    },
    Shutdown,
}

struct Session {
    out: Outbox,
    monitors: Vec<Monitor>,
    peer: String,
}

struct Pending {
    sid: Option<SessionId>,
    id: Value,
    db: String,
    ops: Vec<Value>,
    /// Time of first submission (timeouts of `wait` count from here).
    start_ms: i64,
    until_ms: i64,
    reply: Option<oneshot::Sender<Result<Value, Error>>>,
}

/// All shared server state; driven by [`Core::handle`].
pub(crate) struct Core {
    dbs: BTreeMap<String, DbFile>,
    history: HashMap<String, VecDeque<Arc<Commit>>>,
    sessions: HashMap<SessionId, Session>,
    locks: LockTable,
    pending: Vec<Pending>,
    commits: broadcast::Sender<CommitEvent>,
    server_id: Uuid,
    config: ServerConfig,
    doomed: Vec<SessionId>,
    batch: Option<Batch>,
}

/// Something held back until the batch's commits are on disk.
enum Deferred {
    Msg(SessionId, Msg),
    Reply(oneshot::Sender<Result<Value, Error>>, Result<Value, Error>),
    Event(CommitEvent),
}

/// One commit's log record within a batch.
struct BatchRecord {
    record: Value,
    /// (table, uuid) of the rows this commit inserted.
    inserted: std::collections::HashSet<(String, String)>,
}

#[derive(Default)]
struct Batch {
    out: Vec<Deferred>,
    records: BTreeMap<String, Vec<BatchRecord>>,
}

/// Folds the log records of consecutive commits into one record with the
/// same meaning (ovsdb(5) standalone format: per row, the new values of the
/// changed columns, or `null` for a deletion): later column values win, a
/// row inserted and deleted within the batch disappears, comments are
/// joined, the last `_date` is kept. `None` if nothing is left to write.
fn merge_records(recs: &[BatchRecord]) -> Option<Value> {
    if let [one] = recs {
        return Some(one.record.clone());
    }
    let mut out = serde_json::Map::new();
    let mut comments: Vec<String> = Vec::new();
    let mut born: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    let mut tables = 0usize;
    for r in recs {
        born.extend(r.inserted.iter().cloned());
        let Some(obj) = r.record.as_object() else {
            continue;
        };
        for (k, v) in obj {
            if k == "_comment" {
                if let Some(c) = v.as_str() {
                    comments.push(c.to_string());
                }
                continue;
            }
            if k.starts_with('_') {
                out.insert(k.clone(), v.clone());
                continue;
            }
            let Some(rows) = v.as_object() else { continue };
            let t = out
                .entry(k.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            let Some(t) = t.as_object_mut() else { continue };
            for (uuid, row) in rows {
                match (row, t.get_mut(uuid)) {
                    (Value::Null, _) if born.contains(&(k.clone(), uuid.clone())) => {
                        t.remove(uuid);
                    }
                    (Value::Null, _) => {
                        t.insert(uuid.clone(), Value::Null);
                    }
                    (Value::Object(cols), Some(Value::Object(prev))) => {
                        for (c, x) in cols {
                            prev.insert(c.clone(), x.clone());
                        }
                    }
                    (other, _) => {
                        t.insert(uuid.clone(), other.clone());
                    }
                }
            }
        }
    }
    out.retain(|k, v| k.starts_with('_') || v.as_object().is_some_and(|m| !m.is_empty()));
    for k in out.keys() {
        if !k.starts_with('_') {
            tables += 1;
        }
    }
    if tables == 0 {
        return None;
    }
    if !comments.is_empty() {
        out.insert("_comment".into(), Value::String(comments.join("\n")));
    }
    Some(Value::Object(out))
}

fn unknown_db(method: &str, params: &Value, name: &str) -> Value {
    Error::syntax(
        Some(params),
        Some("unknown database"),
        format!("{method} request specifies unknown database {name}"),
    )
    .to_json()
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Core {
    pub(crate) fn new(
        mut dbs: BTreeMap<String, DbFile>,
        config: ServerConfig,
        commits: broadcast::Sender<CommitEvent>,
        now_ms: i64,
    ) -> Result<Core, Error> {
        let mut server = Database::new(server_schema()?);
        let mut ops = Vec::new();
        for (name, f) in &dbs {
            ops.push(database_row_insert(name, &f.db.schema().to_json()));
        }
        ops.push(database_row_insert(SERVER_DB, &server.schema().to_json()));
        let params = TxnParams {
            now_ms,
            started_ms: now_ms,
            locks: &|_| false,
            internal: true,
            read_only: false,
        };
        if let TxnOutcome::Done { results, .. } = server.transact_with(&ops, &params) {
            if let Some(e) = results
                .as_array()
                .and_then(|a| a.iter().find(|r| r.get("error").is_some()))
            {
                return Err(Error::new(
                    "internal error",
                    format!("building _Server: {e}"),
                ));
            }
        }
        dbs.insert(
            SERVER_DB.to_string(),
            DbFile {
                db: server,
                log: None,
            },
        );
        Ok(Core {
            dbs,
            history: HashMap::new(),
            sessions: HashMap::new(),
            locks: LockTable::new(),
            pending: Vec::new(),
            commits,
            server_id: Uuid::new_v4(),
            config,
            doomed: Vec::new(),
            batch: None,
        })
    }

    /// Earliest deadline of a blocked transaction.
    pub(crate) fn next_deadline(&self) -> Option<i64> {
        self.pending.iter().map(|p| p.until_ms).min()
    }

    fn send(&mut self, sid: SessionId, msg: Msg) {
        if let Some(b) = self.batch.as_mut() {
            if self.sessions.contains_key(&sid) {
                b.out.push(Deferred::Msg(sid, msg));
            }
            return;
        }
        self.send_now(sid, &msg);
    }

    fn send_now(&mut self, sid: SessionId, msg: &Msg) {
        if let Some(s) = self.sessions.get(&sid) {
            if !s.out.send(msg, self.config.max_backlog) {
                self.doomed.push(sid);
            }
        }
    }

    /// Starts collecting commits and outgoing messages: nothing leaves the
    /// core until [`Core::end_batch`] has written every commit of the batch
    /// to the logs with one fsync per database (group commit).
    pub(crate) fn begin_batch(&mut self) {
        if self.batch.is_none() {
            self.batch = Some(Batch::default());
        }
    }

    /// Writes the batch's commits (fsync), then releases its replies,
    /// notifications and events. If the write fails nothing of the batch is
    /// acknowledged: waiting sessions are disconnected and in-process
    /// callers get the error.
    pub(crate) fn end_batch(&mut self) {
        let Some(b) = self.batch.take() else { return };
        let mut failure: Option<Error> = None;
        for (db, recs) in &b.records {
            let Some(f) = self.dbs.get_mut(db) else {
                continue;
            };
            let Some(log) = f.log.as_mut() else { continue };
            let Some(rec) = merge_records(recs) else {
                continue;
            };
            if let Err(e) = log.append_record(&rec) {
                tracing::error!("{db}: writing log failed: {e}");
                failure = Some(e);
                break;
            }
            if log.should_compact() {
                if let Err(e) = log.compact(&f.db) {
                    tracing::warn!("{db}: compaction failed: {e}");
                }
            }
        }
        for d in b.out {
            match (d, &failure) {
                (Deferred::Msg(sid, m), None) => self.send_now(sid, &m),
                (Deferred::Msg(sid, _), Some(_)) => self.doomed.push(sid),
                (Deferred::Reply(tx, r), None) => {
                    let _ = tx.send(r);
                }
                (Deferred::Reply(tx, _), Some(e)) => {
                    let _ = tx.send(Err(e.clone()));
                }
                (Deferred::Event(ev), None) => {
                    let _ = self.commits.send(ev);
                }
                (Deferred::Event(_), Some(_)) => {}
            }
        }
        self.reap();
    }

    fn reply(&mut self, sid: SessionId, id: Value, result: Result<Value, Value>) {
        let msg = match result {
            Ok(result) => Msg::Reply { result, id },
            Err(error) => Msg::Error { error, id },
        };
        self.send(sid, msg);
    }

    /// Processes one command. Returns false on shutdown.
    pub(crate) fn handle(&mut self, cmd: Cmd, now_ms: i64) -> bool {
        match cmd {
            Cmd::Open { sid, out, peer } => {
                tracing::debug!("{peer}: connection {sid} opened");
                self.sessions.insert(
                    sid,
                    Session {
                        out,
                        monitors: Vec::new(),
                        peer,
                    },
                );
            }
            Cmd::Closed { sid } => self.close_session(sid),
            Cmd::Rpc { sid, msg, .. } => self.rpc(sid, msg, now_ms),
            Cmd::Transact { db, ops, reply } => {
                self.start_transact(None, Value::Null, db, ops, Some(reply), now_ms);
            }
            Cmd::Read { f } => f(&self.dbs),
            Cmd::Shutdown => {
                self.end_batch();
                for s in self.sessions.values() {
                    s.out.close();
                }
                return false;
            }
        }
        self.reap();
        true
    }

    fn reap(&mut self) {
        while let Some(sid) = self.doomed.pop() {
            if let Some(s) = self.sessions.get(&sid) {
                tracing::warn!(
                    "{}: output backlog over {} bytes, disconnecting",
                    s.peer,
                    self.config.max_backlog
                );
                s.out.close();
            }
            self.close_session(sid);
        }
    }

    fn close_session(&mut self, sid: SessionId) {
        if self.sessions.remove(&sid).is_none() {
            return;
        }
        let ev = self.locks.release_all(sid);
        self.lock_events(ev);
        self.pending.retain(|p| p.sid != Some(sid));
    }

    fn lock_events(&mut self, ev: Vec<LockEvent>) {
        for e in ev {
            match e {
                LockEvent::Locked { session, name } => {
                    self.send(session, Msg::notify("locked", json!([name])));
                }
                LockEvent::Stolen { session, name } => {
                    self.send(session, Msg::notify("stolen", json!([name])));
                }
            }
        }
    }

    fn rpc(&mut self, sid: SessionId, msg: Msg, now_ms: i64) {
        match msg {
            Msg::Request { method, params, id } => self.request(sid, &method, params, id, now_ms),
            Msg::Notify { method, params } => {
                if method == "cancel" {
                    self.cancel(sid, &params);
                }
                // Other notifications (and replies to our echo) need no action.
            }
            Msg::Reply { .. } | Msg::Error { .. } => {}
        }
    }

    fn cancel(&mut self, sid: SessionId, params: &Value) {
        let Some(id) = params.get(0) else { return };
        if let Some(pos) = self
            .pending
            .iter()
            .position(|p| p.sid == Some(sid) && &p.id == id)
        {
            let p = self.pending.remove(pos);
            self.reply(sid, p.id, Err(json!({"error": "canceled"})));
        }
    }

    fn request(&mut self, sid: SessionId, method: &str, params: Value, id: Value, now_ms: i64) {
        let p0 = params.get(0).and_then(Value::as_str).map(str::to_string);
        let result: Result<Value, Value> = match method {
            "echo" => Ok(params),
            "list_dbs" => Ok(json!(self.dbs.keys().collect::<Vec<_>>())),
            "get_server_id" => Ok(json!(self.server_id.to_string())),
            "set_db_change_aware" => Ok(json!({})),
            "get_schema" => match p0.as_deref().and_then(|n| self.dbs.get(n)) {
                Some(f) => Ok(f.db.schema().to_json()),
                None => Err(unknown_db(
                    "get_schema",
                    &params,
                    p0.as_deref().unwrap_or(""),
                )),
            },
            "transact" => {
                let Some(name) = p0 else {
                    let e = Error::syntax(
                        Some(&params),
                        None,
                        "transact request params must begin with <db-name>",
                    );
                    return self.reply(sid, id, Err(e.to_json()));
                };
                if !self.dbs.contains_key(&name) {
                    return self.reply(sid, id, Err(unknown_db("transact", &params, &name)));
                }
                let ops = params
                    .as_array()
                    .map(|a| a.iter().skip(1).cloned().collect())
                    .unwrap_or_default();
                return self.start_transact(Some(sid), id, name, ops, None, now_ms);
            }
            "monitor" => self.monitor(sid, &params, MonitorVersion::V1),
            "monitor_cond" => self.monitor(sid, &params, MonitorVersion::V2),
            "monitor_cond_since" => self.monitor(sid, &params, MonitorVersion::V3),
            "monitor_cond_change" => return self.monitor_cond_change(sid, id, &params),
            "monitor_cancel" => self.monitor_cancel(sid, &params),
            "lock" | "steal" | "unlock" => self.lock_op(sid, method, &params),
            _ => Err(json!("unknown method")),
        };
        self.reply(sid, id, result);
    }

    fn lock_op(&mut self, sid: SessionId, method: &str, params: &Value) -> Result<Value, Value> {
        let Some(name) = params
            .get(0)
            .and_then(Value::as_str)
            .filter(|_| params.as_array().is_some_and(|a| a.len() == 1))
        else {
            return Err(Error::syntax(
                Some(params),
                None,
                format!("{method} request params must be <lock-name>"),
            )
            .to_json());
        };
        let r: Result<(Value, Vec<LockEvent>), LockError> = match method {
            "lock" => self
                .locks
                .lock(sid, name)
                .map(|l| (json!({"locked": l}), Vec::new())),
            "steal" => self
                .locks
                .steal(sid, name)
                .map(|ev| (json!({"locked": true}), ev)),
            _ => self.locks.unlock(sid, name).map(|ev| (json!({}), ev)),
        };
        match r {
            Ok((v, ev)) => {
                self.lock_events(ev);
                Ok(v)
            }
            Err(e) => Err(e.to_json(method, params)),
        }
    }

    fn monitor(
        &mut self,
        sid: SessionId,
        params: &Value,
        version: MonitorVersion,
    ) -> Result<Value, Value> {
        let expected = if version == MonitorVersion::V3 { 4 } else { 3 };
        let arr = params
            .as_array()
            .filter(|a| a.len() == expected || (a.len() == 2 && version == MonitorVersion::V1));
        let Some(arr) = arr else {
            return Err(Error::syntax(Some(params), None, "invalid parameters").to_json());
        };
        let Some(dbname) = arr.first().and_then(Value::as_str) else {
            return Err(Error::syntax(Some(params), None, "invalid parameters").to_json());
        };
        let Some(f) = self.dbs.get(dbname) else {
            return Err(unknown_db("monitor", params, dbname));
        };
        let id = arr.get(1).cloned().unwrap_or(Value::Null);
        let reqs = arr.get(2).cloned().unwrap_or_else(|| json!({}));
        let Some(session) = self.sessions.get(&sid) else {
            return Ok(Value::Null);
        };
        if session.monitors.iter().any(|m| m.id == id) {
            return Err(Error::syntax(Some(&id), None, "duplicate monitor ID").to_json());
        }
        let m =
            Monitor::parse(f.db.schema(), dbname, id, version, &reqs).map_err(|e| e.to_json())?;
        let result = if version == MonitorVersion::V3 {
            let last = arr
                .get(3)
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok());
            let cur = f.db.txn_id();
            let hist = self.history.get(dbname);
            let since = match last {
                Some(l) if !l.is_nil() && l == cur => Some(Some(json!({}))),
                Some(l) if !l.is_nil() => hist.and_then(|h| {
                    h.iter().position(|c| c.txn_id == l).map(|pos| {
                        let ch = merge_changes(h.iter().skip(pos + 1).map(|c| c.as_ref()));
                        Some(
                            m.updates_for_changes(f.db.schema(), &ch)
                                .unwrap_or_else(|| json!({})),
                        )
                    })
                }),
                _ => None,
            };
            match since {
                Some(Some(upd)) => json!([true, cur.to_string(), upd]),
                _ => json!([false, cur.to_string(), m.initial(&f.db)]),
            }
        } else {
            m.initial(&f.db)
        };
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.monitors.push(m);
        }
        Ok(result)
    }

    fn monitor_cancel(&mut self, sid: SessionId, params: &Value) -> Result<Value, Value> {
        let id = params.get(0).cloned().unwrap_or(Value::Null);
        let s = self.sessions.get_mut(&sid).ok_or(Value::Null)?;
        match s.monitors.iter().position(|m| m.id == id) {
            Some(pos) => {
                s.monitors.remove(pos);
                Ok(json!({}))
            }
            None => Err(json!("unknown monitor")),
        }
    }

    fn monitor_cond_change(&mut self, sid: SessionId, id: Value, params: &Value) {
        let (Some(old), Some(new), Some(changes)) = (params.get(0), params.get(1), params.get(2))
        else {
            let e = Error::syntax(Some(params), None, "invalid parameters").to_json();
            return self.reply(sid, id, Err(e));
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let Some(pos) = s.monitors.iter().position(|m| &m.id == old) else {
            let e = Error::syntax(Some(params), None, "unknown monitor session").to_json();
            return self.reply(sid, id, Err(e));
        };
        if old != new && s.monitors.iter().any(|m| &m.id == new) {
            let e = Error::syntax(Some(params), None, "duplicate monitor ID").to_json();
            return self.reply(sid, id, Err(e));
        }
        let Some(mon) = s.monitors.get_mut(pos) else {
            return;
        };
        let Some(f) = self.dbs.get(&mon.db) else {
            return;
        };
        if mon.version == MonitorVersion::V1 {
            let e = Error::syntax(
                Some(params),
                None,
                "monitor_cond_change on a monitor without conditions",
            )
            .to_json();
            return self.reply(sid, id, Err(e));
        }
        let mut updated = mon.clone();
        match updated.change_conditions(&f.db, changes) {
            Ok(upd) => {
                updated.id = new.clone();
                let note = upd.map(|u| {
                    Msg::notify(
                        updated.version.method(),
                        updated.notification_params(u, f.db.txn_id()),
                    )
                });
                *mon = updated;
                self.reply(sid, id, Ok(json!({})));
                if let Some(n) = note {
                    self.send(sid, n);
                }
            }
            Err(e) => self.reply(sid, id, Err(e.to_json())),
        }
    }

    fn start_transact(
        &mut self,
        sid: Option<SessionId>,
        id: Value,
        db: String,
        ops: Vec<Value>,
        reply: Option<oneshot::Sender<Result<Value, Error>>>,
        now_ms: i64,
    ) {
        let p = Pending {
            sid,
            id,
            db,
            ops,
            start_ms: now_ms,
            until_ms: i64::MAX,
            reply,
        };
        if let Some(p) = self.run_transact(p, now_ms) {
            let mine = self.pending.iter().filter(|q| q.sid == p.sid).count();
            if mine >= MAX_BLOCKED_PER_CLIENT {
                let e = Error::new(
                    "resources exhausted",
                    format!(
                        "more than {MAX_BLOCKED_PER_CLIENT} blocked transactions from one client"
                    ),
                );
                self.finish(p, Err(e));
            } else {
                self.pending.push(p);
            }
        }
        self.retry_pending(now_ms);
    }

    /// Runs (or re-runs) a transaction; returns it back if still blocked.
    fn run_transact(&mut self, mut p: Pending, now_ms: i64) -> Option<Pending> {
        let Some(f) = self.dbs.get_mut(&p.db) else {
            let e = Error::new(
                "unknown database",
                format!("transact request specifies unknown database {}", p.db),
            );
            self.finish(p, Err(e));
            return None;
        };
        let locks = &self.locks;
        let sid = p.sid;
        let owns = |name: &str| sid.is_some_and(|s| locks.owns(s, name));
        let params = TxnParams {
            now_ms,
            started_ms: p.start_ms,
            locks: &owns,
            internal: false,
            read_only: false,
        };
        let outcome = f.db.transact_with(&p.ops, &params);
        match outcome {
            TxnOutcome::Blocked { until_ms } => {
                p.until_ms = until_ms;
                Some(p)
            }
            TxnOutcome::Done {
                mut results,
                commit,
            } => {
                if let Some(commit) = commit {
                    let logged = f.log.is_some() && !commit.log_record.is_null();
                    if let (Some(b), true) = (self.batch.as_mut(), logged) {
                        let inserted = commit
                            .changes
                            .iter()
                            .flat_map(|(t, rows)| {
                                rows.iter()
                                    .filter(|(_, ch)| ch.old.is_none())
                                    .map(move |(u, _)| (t.clone(), u.to_string()))
                            })
                            .collect();
                        b.records
                            .entry(p.db.clone())
                            .or_default()
                            .push(BatchRecord {
                                record: commit.log_record.clone(),
                                inserted,
                            });
                    } else if let Some(log) = f.log.as_mut().filter(|_| logged) {
                        if let Err(e) = log.append(&commit) {
                            tracing::error!("{}: writing log failed: {e}", p.db);
                            if let Some(a) = results.as_array_mut() {
                                a.push(e.to_json());
                            }
                        } else if log.should_compact() {
                            if let Err(e) = log.compact(&f.db) {
                                tracing::warn!("{}: compaction failed: {e}", p.db);
                            }
                        }
                    }
                    self.publish(&p.db, commit);
                }
                self.finish(p, Ok(results));
                None
            }
        }
    }

    fn finish(&mut self, p: Pending, r: Result<Value, Error>) {
        if let Some(tx) = p.reply {
            match self.batch.as_mut() {
                Some(b) => b.out.push(Deferred::Reply(tx, r)),
                None => {
                    let _ = tx.send(r);
                }
            }
        } else if let Some(sid) = p.sid {
            self.reply(sid, p.id, r.map_err(|e| e.to_json()));
        }
    }

    /// Records a commit and sends it to every monitor and subscriber.
    fn publish(&mut self, db: &str, commit: Commit) {
        let commit = Arc::new(commit);
        let Some(f) = self.dbs.get(db) else { return };
        let schema = f.db.schema().clone();
        let mut notes = Vec::new();
        for (sid, s) in &self.sessions {
            for m in s.monitors.iter().filter(|m| m.db == db) {
                if let Some(u) = m.updates_for(&schema, &commit) {
                    notes.push((
                        *sid,
                        Msg::notify(m.version.method(), m.notification_params(u, commit.txn_id)),
                    ));
                }
            }
        }
        for (sid, n) in notes {
            self.send(sid, n);
        }
        let h = self.history.entry(db.to_string()).or_default();
        h.push_back(commit.clone());
        while h.len() > self.config.history {
            h.pop_front();
        }
        let ev = CommitEvent {
            db: db.to_string(),
            commit,
        };
        match self.batch.as_mut() {
            Some(b) => b.out.push(Deferred::Event(ev)),
            None => {
                let _ = self.commits.send(ev);
            }
        }
    }

    /// Re-runs blocked transactions after a commit or when their deadline passed.
    pub(crate) fn retry_pending(&mut self, now_ms: i64) {
        loop {
            let mut progressed = false;
            let pending = std::mem::take(&mut self.pending);
            for p in pending {
                match self.run_transact(p, now_ms) {
                    Some(p) => self.pending.push(p),
                    None => progressed = true,
                }
            }
            if !progressed {
                break;
            }
        }
        self.reap();
    }
}

/// Runs the core on the current thread until shutdown or until every
/// command sender is gone.
pub(crate) fn run_core(mut core: Core, rx: std_mpsc::Receiver<Cmd>) {
    loop {
        let now = wall_ms();
        let cmd = match core.next_deadline() {
            Some(d) => {
                let wait = u64::try_from(d.saturating_sub(now)).unwrap_or(0);
                match rx.recv_timeout(Duration::from_millis(wait)) {
                    Ok(c) => Some(c),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            None => match rx.recv() {
                Ok(c) => Some(c),
                Err(_) => break,
            },
        };
        let now = wall_ms();
        // Group commit: take everything already queued (bounded), then
        // write all of it with one fsync before anything is acknowledged.
        core.begin_batch();
        let mut next = cmd;
        let mut budget = 256;
        while let Some(cmd) = next.take() {
            if matches!(cmd, Cmd::Read { .. }) {
                // In-process reads see only what is on disk.
                core.end_batch();
                core.begin_batch();
            }
            if !core.handle(cmd, now) {
                core.end_batch();
                return;
            }
            budget -= 1;
            if budget > 0 {
                next = rx.try_recv().ok();
            }
        }
        if core.next_deadline().is_some_and(|d| d <= now) {
            core.retry_pending(now);
        }
        core.end_batch();
    }
}

/// Inactivity probe state machine (OVS `reconnect`'s idle handling): after
/// `interval` without receiving anything, send an echo request; after
/// another `interval` of silence, give up on the peer.
#[derive(Debug, Clone)]
pub struct Probe {
    interval_ms: u64,
    last_rx_ms: u64,
    echo_sent: bool,
}

/// What the probe wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeAction {
    /// Nothing until the given time.
    WaitUntil(u64),
    /// Send an echo request now.
    SendEcho,
    /// The peer has been silent too long.
    Disconnect,
}

impl Probe {
    /// A probe with the given interval, started at `now_ms`.
    pub fn new(interval_ms: u64, now_ms: u64) -> Probe {
        Probe {
            interval_ms,
            last_rx_ms: now_ms,
            echo_sent: false,
        }
    }

    /// Something arrived from the peer.
    pub fn received(&mut self, now_ms: u64) {
        self.last_rx_ms = now_ms;
        self.echo_sent = false;
    }

    /// What to do at `now_ms`.
    pub fn poll(&mut self, now_ms: u64) -> ProbeAction {
        let idle = now_ms.saturating_sub(self.last_rx_ms);
        if !self.echo_sent {
            if idle >= self.interval_ms {
                self.echo_sent = true;
                return ProbeAction::SendEcho;
            }
            ProbeAction::WaitUntil(self.last_rx_ms.saturating_add(self.interval_ms))
        } else if idle >= self.interval_ms.saturating_mul(2) {
            ProbeAction::Disconnect
        } else {
            ProbeAction::WaitUntil(
                self.last_rx_ms
                    .saturating_add(self.interval_ms.saturating_mul(2)),
            )
        }
    }
}

/// Handle on the core's command queue used by sessions.
#[derive(Debug, Clone)]
pub(crate) struct CoreTx {
    pub(crate) tx: std_mpsc::Sender<Cmd>,
    pub(crate) next_sid: Arc<AtomicU64>,
    pub(crate) config: Arc<ServerConfig>,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cmd::Open { .. } => "Open",
            Cmd::Rpc { .. } => "Rpc",
            Cmd::Closed { .. } => "Closed",
            Cmd::Transact { .. } => "Transact",
            Cmd::Read { .. } => "Read",
            Cmd::Shutdown => "Shutdown",
        })
    }
}

/// Serves one connection until it closes or misbehaves.
pub(crate) async fn run_session<S>(stream: S, core: CoreTx, peer: String, probe: Option<Duration>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let sid = core.next_sid.fetch_add(1, Ordering::SeqCst);
    let (rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let (close_tx, mut close_rx) = watch::channel(false);
    let out = Outbox {
        tx,
        queued: Arc::new(AtomicUsize::new(0)),
        close: Arc::new(close_tx),
    };
    let limit = core.config.max_backlog;
    if core
        .tx
        .send(Cmd::Open {
            sid,
            out: out.clone(),
            peer: peer.clone(),
        })
        .is_err()
    {
        return;
    }

    let queued = out.queued.clone();
    let mut wclose = close_rx.clone();
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                b = rx.recv() => {
                    let Some(b) = b else { break };
                    let n = b.len();
                    tokio::select! {
                        r = wr.write_all(&b) => if r.is_err() { break },
                        _ = wclose.changed() => break,
                    }
                    queued.fetch_sub(n, Ordering::SeqCst);
                }
                _ = wclose.changed() => break,
            }
        }
        let _ = wr.shutdown().await;
    });

    let mut frames = FramedRead::new(rd, JsonRpcCodec::new(core.config.max_message));
    let t0 = tokio::time::Instant::now();
    let now_ms = move || u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut probe =
        probe.map(|p| Probe::new(u64::try_from(p.as_millis()).unwrap_or(u64::MAX), now_ms()));
    let mut graceful = false;
    let budget_kib = u32::try_from(core.config.max_message / 1024 + 1024).unwrap_or(u32::MAX >> 4);
    let input = Arc::new(tokio::sync::Semaphore::new(budget_kib as usize));
    // "Never" for the probe timer, safely representable.
    let far = t0 + Duration::from_secs(86400 * 365);
    loop {
        let wake = match probe.as_mut().map(|p| p.poll(now_ms())) {
            Some(ProbeAction::SendEcho) => {
                if !out.send(&Msg::request("echo", json!([]), json!("echo")), limit) {
                    break;
                }
                continue;
            }
            Some(ProbeAction::Disconnect) => {
                tracing::info!("{peer}: no response to inactivity probe, disconnecting");
                break;
            }
            Some(ProbeAction::WaitUntil(t)) => {
                t0.checked_add(Duration::from_millis(t)).unwrap_or(far)
            }
            None => far,
        };
        tokio::select! {
            item = frames.next() => match item {
                None => { graceful = true; break }
                Some(Ok(msg)) => {
                    if let Some(p) = probe.as_mut() { p.received(now_ms()); }
                    if let Msg::Request { method, params, id } = &msg {
                        if method == "echo" {
                            // Answered here so a busy core never delays liveness checks.
                            let m = Msg::Reply { result: params.clone(), id: id.clone() };
                            if !out.send(&m, limit) { break }
                            continue;
                        }
                    }
                    // Back-pressure: a session may have at most about one
                    // maximum-size message worth of input waiting for the
                    // core; past that we stop reading its socket.
                    let kib = u32::try_from(frames.decoder().last_len() / 1024 + 1).unwrap_or(u32::MAX).min(budget_kib);
                    let permit = tokio::select! {
                        p = input.clone().acquire_many_owned(kib) => p.ok(),
                        _ = close_rx.changed() => break,
                    };
                    if core.tx.send(Cmd::Rpc { sid, msg, _permit: permit }).is_err() { break }
                }
                Some(Err(e)) => {
                    tracing::warn!("{peer}: {e}, disconnecting");
                    if !matches!(e, JsonRpcError::Io(_)) {
                        let err = match &e {
                            JsonRpcError::TooLarge { .. } => "message too large",
                            _ => "syntax error",
                        };
                        let m = Msg::Error { error: json!({"error": err, "details": e.to_string()}), id: Value::Null };
                        let _ = out.send(&m, usize::MAX);
                        graceful = true;
                    }
                    break;
                }
            },
            _ = tokio::time::sleep_until(wake) => {}
            _ = close_rx.changed() => break,
        }
    }
    let _ = core.tx.send(Cmd::Closed { sid });
    drop(frames);
    if graceful {
        // Let queued output drain (bounded in time), then close.
        let Outbox { tx, close, .. } = out;
        drop(tx);
        let mut w = writer;
        if tokio::time::timeout(Duration::from_secs(5), &mut w)
            .await
            .is_err()
        {
            let _ = close.send(true);
            let _ = w.await;
        }
    } else {
        out.close();
        let _ = writer.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: Value, inserted: &[(&str, &str)]) -> BatchRecord {
        BatchRecord {
            record: v,
            inserted: inserted
                .iter()
                .map(|(t, u)| (t.to_string(), u.to_string()))
                .collect(),
        }
    }

    #[test]
    fn merged_records_keep_the_meaning_of_the_sequence() {
        let recs = [
            rec(
                json!({"T": {"a": {"x": 1, "y": 2}, "b": {"x": 5}}, "_date": 1, "_comment": "one"}),
                &[("T", "a"), ("T", "b")],
            ),
            rec(
                json!({"T": {"a": {"y": 3}, "c": {"x": 9}}, "_date": 2}),
                &[],
            ),
            rec(
                json!({"T": {"b": null, "c": null}, "U": {"d": {"z": true}}, "_date": 3, "_comment": "three"}),
                &[("U", "d")],
            ),
        ];
        let m = merge_records(&recs).expect("record");
        // b was born and died in the batch: gone; c existed before: deleted.
        assert_eq!(
            m,
            json!({"T": {"a": {"x": 1, "y": 3}, "c": null}, "U": {"d": {"z": true}}, "_date": 3, "_comment": "one\nthree"})
        );
        let born_and_dead = [
            rec(json!({"T": {"a": {"x": 1}}, "_date": 1}), &[("T", "a")]),
            rec(json!({"T": {"a": null}, "_date": 2}), &[]),
        ];
        assert_eq!(merge_records(&born_and_dead), None);
    }

    #[test]
    fn probe_sends_echo_then_gives_up() {
        let mut p = Probe::new(5000, 0);
        assert_eq!(p.poll(1000), ProbeAction::WaitUntil(5000));
        assert_eq!(p.poll(5000), ProbeAction::SendEcho);
        assert_eq!(p.poll(6000), ProbeAction::WaitUntil(10000));
        p.received(7000);
        assert_eq!(p.poll(7000), ProbeAction::WaitUntil(12000));
        assert_eq!(p.poll(12000), ProbeAction::SendEcho);
        assert_eq!(p.poll(17000), ProbeAction::Disconnect);
    }
}
