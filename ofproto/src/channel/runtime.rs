//! The async shell: tasks, sockets and the shared connection table.
//!
//! Lock order: the switch mutex, then the channel state mutex.  Neither is
//! ever held across an `.await`; sockets are only touched by the per
//! connection reader and writer tasks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::codec::Decoder;

use super::conn::{
    AsyncKind, Election, OFPCRR_MASTER_REQUEST, classify, default_async, hello_failed, negotiate,
    role_name, role_status, wants,
};
use super::queue::{Close, OutQueue};
use super::rconn::{Backoff, Liveness, LivenessAction, TokenBucket};
use super::target::Target;
use super::{
    ChannelConfig, ChannelError, ConnStats, ControllerConfig, ControllerStatus, FailMode, now_ms,
};
use crate::service::OpenFlowSwitch;
use crate::switch::ConnCtx;
use crate::wire::consts::OFP_VERSION;
use crate::wire::error::{ErrorType, OfpError, role_request_failed};
use crate::wire::message::{Role, controller_role};
use crate::wire::{Body, Hello, Message, OfpCodec};

/// The object-safe face of a running channel layer.
pub(crate) trait Control: Send + Sync {
    fn reconfigure(&self, cfg: ChannelConfig);
    fn status(&self) -> Vec<ControllerStatus>;
    fn conn_stats(&self) -> Vec<ConnStats>;
    fn local_addr(&self, target: &str) -> Option<SocketAddr>;
    fn fail_open(&self) -> bool;
    fn wake(&self);
    fn begin_shutdown(&self) -> Vec<JoinHandle<()>>;
    fn finish_shutdown(&self);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The tokio instant of a channel-clock time.
fn instant_at(ms: u64) -> tokio::time::Instant {
    let now = now_ms();
    let t = tokio::time::Instant::now();
    if ms >= now {
        // Capped so that absurd configured intervals cannot overflow.
        const YEAR_MS: u64 = 365 * 24 * 3600 * 1000;
        t + Duration::from_millis((ms - now).min(YEAR_MS))
    } else {
        t
    }
}

/// Status of one configured target.
#[derive(Debug, Default)]
struct SvcStatus {
    state: &'static str,
    last_error: Option<String>,
    last_connect_ms: Option<u64>,
    last_disconnect_ms: Option<u64>,
    local_addr: Option<SocketAddr>,
}

/// One configured controller target.
#[derive(Debug)]
struct Service {
    cfg: ControllerConfig,
    target: Result<Target, String>,
    task: Option<JoinHandle<()>>,
    status: SvcStatus,
    /// A punix socket file we created.
    unix_path: Option<PathBuf>,
}

impl Service {
    fn primary(&self) -> bool {
        matches!(&self.target, Ok(t) if !t.is_passive())
    }
}

/// One live connection.
#[derive(Debug)]
struct ConnEntry {
    target: String,
    peer: String,
    primary: bool,
    /// Accepted on a listener (counts against `max_passive_conns`).
    passive: bool,
    ready: bool,
    admitted: bool,
    role: u32,
    async_cfg: crate::wire::message::AsyncConfig,
    miss_send_len: u16,
    probe_ms: u64,
    idle: bool,
    queue: Arc<OutQueue>,
    bucket: Option<TokenBucket>,
    rate_limited: u64,
    rx_msgs: u64,
    abort: Option<AbortHandle>,
    /// Open bundles (they die with the connection).
    bundles: crate::bundle::Bundles,
}

/// The management listener.
#[derive(Debug)]
struct Mgmt {
    path: PathBuf,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    cfg: ChannelConfig,
    services: Vec<Service>,
    mgmt: Option<Mgmt>,
    conns: BTreeMap<u64, ConnEntry>,
    next_conn: u64,
    election: Election,
    fail_open: bool,
    /// Since when no primary controller has been admitted.
    failure_since: Option<u64>,
    shut: bool,
    runner: Option<JoinHandle<()>>,
}

fn bucket_for(cfg: &ControllerConfig, now: u64) -> Option<TokenBucket> {
    cfg.rate_limit.map(|r| {
        let burst = cfg.burst_limit.unwrap_or((r / 4).max(1));
        TokenBucket::new(r, burst, now)
    })
}

fn encode(m: &Message) -> Bytes {
    let mut b = BytesMut::new();
    m.encode(&mut b);
    b.freeze()
}

impl State {
    fn service(&self, target: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.cfg.target == target)
    }

    fn service_mut(&mut self, target: &str) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.cfg.target == target)
    }

    fn passive_conns(&self) -> usize {
        self.conns.values().filter(|c| c.passive).count()
    }

    /// Sends replies to `from` and asynchronous messages to whoever wants
    /// them.
    fn route(&mut self, from: Option<u64>, msgs: Vec<Message>, now: u64) {
        let max = self.cfg.limits.max_queue_bytes;
        let async_max = self.cfg.limits.async_queue_bytes;
        for m in msgs {
            if let Some((kind, reason)) = classify(&m.body) {
                let mut enc: Option<Bytes> = None;
                for c in self.conns.values_mut() {
                    if !c.ready || (!c.primary && c.miss_send_len == 0) {
                        continue;
                    }
                    if !wants(&c.async_cfg, c.role, kind, reason) {
                        continue;
                    }
                    if kind == AsyncKind::PacketIn {
                        if let Some(b) = &mut c.bucket {
                            if !b.admit(now) {
                                c.rate_limited += 1;
                                continue;
                            }
                        }
                    }
                    let b = enc.get_or_insert_with(|| encode(&m)).clone();
                    c.queue.push_async(b, async_max);
                }
            } else if let Some(c) = from.and_then(|id| self.conns.get(&id)) {
                c.queue.push_reply(encode(&m), max);
            }
        }
    }

    /// Handles a `ROLE_REQUEST`; returns the reply or error.
    fn role_request(&mut self, id: u64, xid: u32, r: &Role, raw: &[u8]) -> Message {
        let err = |code, why| {
            Message::error_reply(
                &OfpError::new(ErrorType::ROLE_REQUEST_FAILED, code, why),
                raw,
            )
        };
        if r.role > controller_role::SLAVE {
            return err(role_request_failed::BAD_ROLE, "unknown role");
        }
        let Some(cur) = self.conns.get(&id).map(|c| c.role) else {
            return err(role_request_failed::UNSUP, "connection gone");
        };
        if r.role != controller_role::NOCHANGE {
            if (r.role == controller_role::MASTER || r.role == controller_role::SLAVE)
                && !self.election.offer(r.generation_id)
            {
                return err(role_request_failed::STALE, "stale generation id");
            }
            if r.role == controller_role::MASTER && cur != controller_role::MASTER {
                let generation = self.election.current().unwrap_or(u64::MAX);
                let status = encode(&role_status(
                    controller_role::SLAVE,
                    OFPCRR_MASTER_REQUEST,
                    generation,
                ));
                let max = self.cfg.limits.max_queue_bytes;
                for (oid, o) in self.conns.iter_mut() {
                    if *oid != id && o.role == controller_role::MASTER {
                        o.role = controller_role::SLAVE;
                        o.queue.push_reply(status.clone(), max);
                    }
                }
            }
            if let Some(c) = self.conns.get_mut(&id) {
                c.role = r.role;
            }
        }
        let role = self.conns.get(&id).map_or(cur, |c| c.role);
        Message::new(
            xid,
            Body::RoleReply(Role {
                role,
                generation_id: self.election.current().unwrap_or(0),
            }),
        )
    }

    fn primaries(&self) -> impl Iterator<Item = &Service> {
        self.services.iter().filter(|s| s.primary())
    }

    /// Whether fail-open should be on at `now`.
    fn want_fail_open(&mut self, now: u64) -> bool {
        if self.cfg.fail_mode != FailMode::Standalone || self.primaries().next().is_none() {
            self.failure_since = None;
            return false;
        }
        if self.conns.values().any(|c| c.primary && c.admitted) {
            self.failure_since = None;
            return false;
        }
        let since = *self.failure_since.get_or_insert(now);
        let probe = self
            .primaries()
            .map(|s| s.cfg.inactivity_probe_ms)
            .max()
            .unwrap_or(0);
        let probe = if probe == 0 { 5000 } else { probe };
        now.saturating_sub(since) >= probe.saturating_mul(3)
    }
}

/// Everything shared by the tasks of one channel layer.
pub(crate) struct Shared<S> {
    switch: Arc<Mutex<S>>,
    st: Mutex<State>,
    run_wake: Arc<Notify>,
    rt: tokio::runtime::Handle,
    me: Weak<Shared<S>>,
}

pub(crate) fn spawn<S: OpenFlowSwitch + 'static>(
    switch: Arc<Mutex<S>>,
    cfg: ChannelConfig,
) -> Result<Arc<dyn Control>, ChannelError> {
    let rt = tokio::runtime::Handle::try_current().map_err(|_| ChannelError::NoRuntime)?;
    let shared = Arc::new_cyclic(|me| Shared {
        switch,
        st: Mutex::new(State {
            cfg: ChannelConfig {
                controllers: Vec::new(),
                mgmt_path: None,
                ..cfg.clone()
            },
            services: Vec::new(),
            mgmt: None,
            conns: BTreeMap::new(),
            next_conn: 1,
            election: Election::default(),
            fail_open: false,
            failure_since: None,
            shut: false,
            runner: None,
        }),
        run_wake: Arc::new(Notify::new()),
        rt,
        me: me.clone(),
    });
    if let Some(path) = &cfg.mgmt_path {
        let task = shared
            .listen_unix(path, format!("punix:{}", path.display()), None)
            .map_err(|source| ChannelError::Mgmt {
                path: path.clone(),
                source,
            })?;
        lock(&shared.st).mgmt = Some(Mgmt {
            path: path.clone(),
            task,
        });
    }
    {
        let wake = shared.run_wake.clone();
        lock(&shared.switch).set_waker(Arc::new(move || wake.notify_one()));
    }
    shared.apply_controllers(&cfg);
    let runner = shared.rt.spawn(run_loop(shared.clone()));
    lock(&shared.st).runner = Some(runner);
    Ok(shared)
}

/// Calls the switch's `run`, routes its output and drives fail-open.
async fn run_loop<S: OpenFlowSwitch + 'static>(sh: Arc<Shared<S>>) {
    loop {
        let now = now_ms();
        let mut out = Vec::new();
        let next = {
            let mut sw = lock(&sh.switch);
            sw.run(now, &mut out);
            let mut st = lock(&sh.st);
            st.route(None, out, now);
            let want = st.want_fail_open(now);
            if want != st.fail_open {
                st.fail_open = want;
                drop(st);
                sw.set_fail_open(want);
            }
            sw.next_wake_ms()
        };
        let tick = now.saturating_add(1000);
        let deadline = next.map_or(tick, |n| n.min(tick));
        tokio::select! {
            _ = sh.run_wake.notified() => {}
            _ = tokio::time::sleep_until(instant_at(deadline)) => {}
        }
    }
}

/// How a connection was made.
#[derive(Clone, Debug)]
struct ConnKind {
    target: String,
    peer: String,
    primary: bool,
    passive: bool,
    probe_ms: u64,
}

/// How a served connection ended.
struct Ended {
    /// When the handshake completed, if it did.
    ready_at: Option<u64>,
    reason: String,
}

/// What handling a frame asks the reader loop to do.
enum Next {
    /// Carry on; `true` when the request went to the switch.
    Continue(bool),
    /// Write what is queued, then close with this reason.
    Close(String),
}

impl<S: OpenFlowSwitch + 'static> Shared<S> {
    fn arc(&self) -> Option<Arc<Self>> {
        self.me.upgrade()
    }

    /// Starts, keeps or stops services to match `cfg`.
    fn apply_controllers(&self, cfg: &ChannelConfig) {
        let Some(me) = self.arc() else { return };
        let mut st = lock(&self.st);
        if st.shut {
            return;
        }
        st.cfg.bridge = cfg.bridge.clone();
        st.cfg.fail_mode = cfg.fail_mode;
        st.cfg.limits = cfg.limits.clone();
        let mut wanted: Vec<&ControllerConfig> = Vec::new();
        for c in &cfg.controllers {
            if !wanted.iter().any(|w| w.target == c.target) {
                wanted.push(c);
            }
        }
        // Remove the services no longer configured.
        let mut keep = Vec::new();
        for s in std::mem::take(&mut st.services) {
            if wanted.iter().any(|w| w.target == s.cfg.target) {
                keep.push(s);
            } else {
                if let Some(t) = &s.task {
                    t.abort();
                }
                for c in st.conns.values() {
                    if c.target == s.cfg.target {
                        if let Some(a) = &c.abort {
                            a.abort();
                        }
                        c.queue.close(Close::Now("controller removed".into()));
                    }
                }
                if let Some(p) = &s.unix_path {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        let now = now_ms();
        let mut services = Vec::new();
        for w in wanted {
            if let Some(pos) = keep.iter().position(|s| s.cfg.target == w.target) {
                let mut s = keep.swap_remove(pos);
                s.cfg = w.clone();
                for c in st.conns.values_mut() {
                    if c.target == w.target {
                        c.probe_ms = w.inactivity_probe_ms;
                        if c.primary {
                            c.bucket = bucket_for(w, now);
                        }
                    }
                }
                services.push(s);
                continue;
            }
            let target = Target::parse(&w.target);
            let mut s = Service {
                cfg: w.clone(),
                target: target.clone(),
                task: None,
                status: SvcStatus {
                    state: "VOID",
                    ..SvcStatus::default()
                },
                unix_path: None,
            };
            match target {
                Err(e) => s.status.last_error = Some(e),
                Ok(t @ (Target::Tcp { .. } | Target::Unix(_))) => {
                    s.status.state = "CONNECTING";
                    s.task = Some(self.rt.spawn(active_loop(me.clone(), w.target.clone(), t)));
                }
                Ok(Target::PUnix(p)) => {
                    match me.listen_unix(&p, w.target.clone(), Some(w.inactivity_probe_ms)) {
                        Ok(task) => {
                            s.task = Some(task);
                            s.unix_path = Some(p);
                        }
                        Err(e) => {
                            s.status.last_error = Some(format!("listen on {}: {e}", p.display()))
                        }
                    }
                }
                Ok(Target::PTcp { ip, port }) => {
                    match me.listen_tcp(&ip, port, w.target.clone(), w.inactivity_probe_ms) {
                        Ok((task, addr)) => {
                            s.task = Some(task);
                            s.status.local_addr = Some(addr);
                        }
                        Err(e) => s.status.last_error = Some(format!("listen on {ip}:{port}: {e}")),
                    }
                }
            }
            services.push(s);
        }
        st.services = services;
        drop(st);
        self.run_wake.notify_one();
    }

    fn listen_unix(
        &self,
        path: &Path,
        target: String,
        probe: Option<u64>,
    ) -> std::io::Result<JoinHandle<()>> {
        // A stale socket file from an earlier run would make bind fail.
        if let Ok(md) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::FileTypeExt;
            if md.file_type().is_socket() {
                let _ = std::fs::remove_file(path);
            }
        }
        let l = std::os::unix::net::UnixListener::bind(path)?;
        l.set_nonblocking(true)?;
        let me = self
            .arc()
            .ok_or_else(|| std::io::Error::other("shut down"))?;
        Ok(self.rt.spawn(async move {
            let l = match tokio::net::UnixListener::from_std(l) {
                Ok(l) => l,
                Err(e) => {
                    me.set_listen_error(&target, e.to_string());
                    return;
                }
            };
            loop {
                match l.accept().await {
                    Ok((s, _)) => {
                        let probe = probe.unwrap_or_else(|| lock(&me.st).cfg.limits.mgmt_probe_ms);
                        me.accepted(
                            s,
                            ConnKind {
                                target: target.clone(),
                                peer: "unix".into(),
                                primary: false,
                                passive: true,
                                probe_ms: probe,
                            },
                        );
                    }
                    Err(e) => {
                        me.set_listen_error(&target, e.to_string());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }))
    }

    fn listen_tcp(
        &self,
        ip: &str,
        port: u16,
        target: String,
        probe: u64,
    ) -> std::io::Result<(JoinHandle<()>, SocketAddr)> {
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|_| std::io::Error::other("bad address"))?;
        let l = std::net::TcpListener::bind((ip, port))?;
        l.set_nonblocking(true)?;
        let addr = l.local_addr()?;
        let me = self
            .arc()
            .ok_or_else(|| std::io::Error::other("shut down"))?;
        let task = self.rt.spawn(async move {
            let l = match tokio::net::TcpListener::from_std(l) {
                Ok(l) => l,
                Err(e) => {
                    me.set_listen_error(&target, e.to_string());
                    return;
                }
            };
            loop {
                match l.accept().await {
                    Ok((s, peer)) => {
                        let _ = s.set_nodelay(true);
                        me.accepted(
                            s,
                            ConnKind {
                                target: target.clone(),
                                peer: peer.to_string(),
                                primary: false,
                                passive: true,
                                probe_ms: probe,
                            },
                        );
                    }
                    Err(e) => {
                        me.set_listen_error(&target, e.to_string());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok((task, addr))
    }

    fn set_listen_error(&self, target: &str, e: String) {
        if let Some(s) = lock(&self.st).service_mut(target) {
            s.status.last_error = Some(e);
        }
    }

    /// A listener accepted `io`: serve it unless there are too many.
    fn accepted<IO>(&self, io: IO, kind: ConnKind)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let Some(me) = self.arc() else { return };
        let mut st = lock(&self.st);
        if st.shut || st.passive_conns() >= st.cfg.limits.max_passive_conns {
            return; // dropping `io` closes it
        }
        let (id, q) = Self::register(&mut st, &kind, None);
        let h = self.rt.spawn(async move {
            let _ = me.serve(id, q, io, kind).await;
        });
        if let Some(c) = st.conns.get_mut(&id) {
            c.abort = Some(h.abort_handle());
        } else {
            h.abort();
        }
    }

    fn register(
        st: &mut State,
        kind: &ConnKind,
        bucket: Option<TokenBucket>,
    ) -> (u64, Arc<OutQueue>) {
        let id = st.next_conn;
        st.next_conn += 1;
        let q = Arc::new(OutQueue::default());
        st.conns.insert(
            id,
            ConnEntry {
                target: kind.target.clone(),
                peer: kind.peer.clone(),
                primary: kind.primary,
                passive: kind.passive,
                ready: false,
                admitted: false,
                role: controller_role::EQUAL,
                async_cfg: default_async(),
                miss_send_len: 0,
                probe_ms: kind.probe_ms,
                idle: false,
                queue: q.clone(),
                bucket,
                rate_limited: 0,
                rx_msgs: 0,
                abort: None,
                bundles: crate::bundle::Bundles::default(),
            },
        );
        (id, q)
    }

    /// Serves one connection until it ends; the entry `id` is removed at
    /// the end (also when the task is aborted).
    async fn serve<IO>(&self, id: u64, q: Arc<OutQueue>, io: IO, kind: ConnKind) -> Ended
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut rd, wr) = tokio::io::split(io);
        let writer = self.rt.spawn(write_loop(q.clone(), wr));
        let _guard = ConnGuard {
            st: &self.st,
            id,
            queue: q.clone(),
            writer: writer.abort_handle(),
            run_wake: &self.run_wake,
        };
        let max_len = lock(&self.st).cfg.limits.max_message_len.max(1024);
        let hello = encode(&Message::new(
            0,
            Body::Hello(Hello::with_versions(&[OFP_VERSION])),
        ));
        q.push_reply(hello, usize::MAX);
        let mut codec = OfpCodec::with_max_len(max_len);
        let mut inbuf = BytesMut::with_capacity(8192);
        let mut eof = false;
        let mut live = Liveness::new(kind.probe_ms, now_ms());
        let mut ready_at = None;
        let mut echo_xid: u32 = 0x8000_0000;
        // Whether requests were handed to the switch since it last ran.
        let mut handled = false;
        let reason = loop {
            let (probe, soft) = {
                let st = lock(&self.st);
                let probe = st.conns.get(&id).map_or(kind.probe_ms, |c| c.probe_ms);
                (probe, st.cfg.limits.async_queue_bytes)
            };
            live.set_probe(probe);
            // Back-pressure: while our own send queue is full, read nothing.
            let paused = q.bytes() > soft;
            if !paused {
                // Hand over the next complete message already buffered.
                match codec.decode(&mut inbuf) {
                    Err(e) => break e.to_string(),
                    Ok(Some(frame)) => {
                        let was_idle = live.is_idle();
                        live.on_rx(now_ms());
                        if was_idle {
                            self.set_idle(id, &kind, false);
                        }
                        match self.handle_frame(id, &q, &kind, frame, &mut ready_at) {
                            Next::Continue(to_switch) => {
                                handled |= to_switch;
                                continue;
                            }
                            Next::Close(why) => {
                                q.close(Close::Flush(Some(why.clone())));
                                break why;
                            }
                        }
                    }
                    Ok(None) => {}
                }
            }
            // A batch of requests is done: let the switch run once.
            if std::mem::take(&mut handled) {
                self.run_wake.notify_one();
            }
            if eof && !paused {
                break "connection closed by peer".to_string();
            }
            let deadline = live.deadline();
            tokio::select! {
                biased;
                _ = q.to_reader.notified() => {
                    if let Some(Close::Now(e)) = q.closed() {
                        break e;
                    }
                }
                _ = tokio::time::sleep_until(instant_at(deadline.unwrap_or(0))), if deadline.is_some() => {
                    match live.poll(now_ms()) {
                        LivenessAction::None => {}
                        LivenessAction::SendProbe => {
                            echo_xid = echo_xid.wrapping_add(1);
                            let probe_msg = Message::new(echo_xid, Body::EchoRequest(Vec::new()));
                            q.push_reply(encode(&probe_msg), usize::MAX);
                            self.set_idle(id, &kind, true);
                        }
                        LivenessAction::Disconnect => {
                            break format!(
                                "no response to inactivity probe after {} seconds, disconnecting",
                                probe / 1000
                            );
                        }
                    }
                }
                r = rd.read_buf(&mut inbuf), if !paused && !eof => {
                    match r {
                        Ok(0) => eof = true,
                        Ok(_) => {}
                        Err(e) => break format!("read failed: {e}"),
                    }
                }
            }
        };
        // Let the writer flush what is queued (bounded), then close.
        q.close(Close::Flush(Some(reason.clone())));
        let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
        Ended { ready_at, reason }
    }

    /// A request from a service connection.  As in Open vSwitch, its
    /// `miss_send_len` is its own (it decides whether the connection gets
    /// asynchronous messages) and never changes the switch's: `SET_CONFIG`
    /// applies only the flags to the switch, `GET_CONFIG_REPLY` reports
    /// the connection's own value.
    #[allow(clippy::too_many_arguments)]
    fn service_request(
        &self,
        sw: &mut S,
        id: u64,
        is_slave: bool,
        msg: &Message,
        raw: &[u8],
        now: u64,
        out: &mut Vec<Message>,
    ) {
        let ctx = ConnCtx { is_slave };
        match &msg.body {
            Body::SetConfig(c) => {
                let mut cur = Vec::new();
                sw.handle_message(
                    ctx,
                    &Message::new(msg.xid, Body::GetConfigRequest),
                    raw,
                    now,
                    &mut cur,
                );
                let switch_len = cur.iter().find_map(|m| match &m.body {
                    Body::GetConfigReply(r) => Some(r.miss_send_len),
                    _ => None,
                });
                let fwd = Message::new(
                    msg.xid,
                    Body::SetConfig(crate::wire::message::SwitchConfig {
                        flags: c.flags,
                        miss_send_len: switch_len.unwrap_or(c.miss_send_len),
                    }),
                );
                let before = out.len();
                sw.handle_message(ctx, &fwd, raw, now, out);
                let failed = out[before..]
                    .iter()
                    .any(|m| matches!(m.body, Body::Error(_)));
                if !failed {
                    if let Some(e) = lock(&self.st).conns.get_mut(&id) {
                        e.miss_send_len = c.miss_send_len;
                    }
                }
            }
            Body::GetConfigRequest => {
                let before = out.len();
                sw.handle_message(ctx, msg, raw, now, out);
                let own = lock(&self.st).conns.get(&id).map_or(0, |c| c.miss_send_len);
                for m in &mut out[before..] {
                    if let Body::GetConfigReply(r) = &mut m.body {
                        r.miss_send_len = own;
                    }
                }
            }
            _ => sw.handle_message(ctx, msg, raw, now, out),
        }
    }

    fn set_idle(&self, id: u64, kind: &ConnKind, idle: bool) {
        let mut st = lock(&self.st);
        if let Some(c) = st.conns.get_mut(&id) {
            c.idle = idle;
        }
        if kind.primary {
            if let Some(s) = st.service_mut(&kind.target) {
                s.status.state = if idle { "IDLE" } else { "ACTIVE" };
            }
        }
    }

    fn handle_frame(
        &self,
        id: u64,
        q: &OutQueue,
        kind: &ConnKind,
        frame: crate::wire::Frame,
        ready_at: &mut Option<u64>,
    ) -> Next {
        let max = lock(&self.st).cfg.limits.max_queue_bytes;
        let reply = |m: Message| {
            q.push_reply(encode(&m), max);
        };
        if ready_at.is_none() {
            let msg = match &frame.msg {
                Ok(m) => m,
                Err(e) => return Next::Close(format!("bad first message: {e:?}")),
            };
            let Body::Hello(h) = &msg.body else {
                return Next::Close(format!(
                    "received {:?} while expecting hello",
                    frame.header.msg_type
                ));
            };
            if let Err(text) = negotiate(h) {
                q.push_reply(hello_failed(h.version, msg.xid, &text), usize::MAX);
                return Next::Close(format!("version negotiation failed: {text}"));
            }
            let now = now_ms();
            *ready_at = Some(now);
            let mut st = lock(&self.st);
            if let Some(c) = st.conns.get_mut(&id) {
                c.ready = true;
            }
            if kind.primary {
                if let Some(s) = st.service_mut(&kind.target) {
                    s.status.state = "ACTIVE";
                    s.status.last_connect_ms = Some(now);
                    s.status.last_error = None;
                }
            }
            return Next::Continue(false);
        }
        let msg = match frame.msg {
            Ok(m) => m,
            Err(e) => {
                reply(Message::error_reply(&e, &frame.raw));
                return Next::Continue(false);
            }
        };
        let admits = !matches!(
            msg.body,
            Body::Hello(_) | Body::EchoRequest(_) | Body::EchoReply(_)
        );
        let mut newly_admitted = false;
        let is_slave = {
            let mut st = lock(&self.st);
            let Some(c) = st.conns.get_mut(&id) else {
                return Next::Close("connection removed".into());
            };
            c.rx_msgs += 1;
            if admits && !c.admitted {
                c.admitted = true;
                newly_admitted = c.primary;
            }
            c.role == controller_role::SLAVE
        };
        if newly_admitted {
            self.run_wake.notify_one();
        }
        let mut to_switch = false;
        match &msg.body {
            Body::Hello(_) | Body::EchoReply(_) => {}
            Body::EchoRequest(d) => reply(Message::new(msg.xid, Body::EchoReply(d.clone()))),
            Body::FeaturesRequest => {
                let f = lock(&self.switch).features();
                reply(Message::new(msg.xid, Body::FeaturesReply(f)));
            }
            Body::RoleRequest(r) => {
                let m = lock(&self.st).role_request(id, msg.xid, r, &frame.raw);
                reply(m);
            }
            Body::GetAsyncRequest => {
                let cfg = lock(&self.st)
                    .conns
                    .get(&id)
                    .map(|c| c.async_cfg.clone())
                    .unwrap_or_default();
                reply(Message::new(msg.xid, Body::GetAsyncReply(cfg)));
            }
            Body::SetAsync(a) => {
                if let Some(c) = lock(&self.st).conns.get_mut(&id) {
                    c.async_cfg = a.clone();
                }
            }
            Body::Experimenter { .. } if crate::bundle::is_bundle_message(&msg.body) => {
                let step = match lock(&self.st).conns.get_mut(&id) {
                    Some(c) => c.bundles.handle(&msg, &frame.raw, is_slave),
                    None => return Next::Close("connection removed".into()),
                };
                match step {
                    crate::bundle::Step::Reply(v) => v.into_iter().for_each(&reply),
                    crate::bundle::Step::Commit(c) => {
                        let now = now_ms();
                        let mut out = Vec::new();
                        let mut sw = lock(&self.switch);
                        let applied = match &c.msgs {
                            Ok(msgs) => sw.commit_bundle(ConnCtx { is_slave }, msgs, now, &mut out),
                            Err(e) => {
                                out.push((**e).clone());
                                false
                            }
                        };
                        out.push(crate::bundle::commit_outcome(&c, applied));
                        lock(&self.st).route(Some(id), out, now);
                        to_switch = true;
                    }
                }
            }
            _ => {
                let now = now_ms();
                let mut out = Vec::new();
                {
                    let mut sw = lock(&self.switch);
                    if kind.primary {
                        sw.handle_message(ConnCtx { is_slave }, &msg, &frame.raw, now, &mut out);
                    } else {
                        self.service_request(
                            &mut *sw, id, is_slave, &msg, &frame.raw, now, &mut out,
                        );
                    }
                    lock(&self.st).route(Some(id), out, now);
                }
                to_switch = true;
            }
        }
        if let Some(Close::Now(e)) = q.closed() {
            return Next::Close(e);
        }
        Next::Continue(to_switch)
    }
}

/// Removes a connection's entry when its task ends or is aborted.
struct ConnGuard<'a> {
    st: &'a Mutex<State>,
    id: u64,
    queue: Arc<OutQueue>,
    writer: AbortHandle,
    run_wake: &'a Notify,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.queue.close(Close::Now("connection closed".into()));
        self.writer.abort();
        let mut st = lock(self.st);
        if let Some(c) = st.conns.remove(&self.id) {
            if c.primary && c.ready {
                let now = now_ms();
                if let Some(s) = st.service_mut(&c.target) {
                    s.status.last_disconnect_ms = Some(now);
                }
            }
        }
        drop(st);
        self.run_wake.notify_one();
    }
}

/// Writes the queue to the socket until it is closed.
async fn write_loop<W: AsyncWrite + Send + 'static>(
    q: Arc<OutQueue>,
    mut w: tokio::io::WriteHalf<W>,
) {
    let mut batch = Vec::new();
    let mut buf = BytesMut::new();
    loop {
        batch.clear();
        let closing = q.take(&mut batch);
        if matches!(closing, Some(Close::Now(_))) {
            return;
        }
        if batch.is_empty() {
            if closing.is_some() {
                let _ = w.shutdown().await;
                return;
            }
            q.to_writer.notified().await;
            continue;
        }
        // Coalesce into writes of up to 64 KiB.
        let mut pending = batch.drain(..).peekable();
        while pending.peek().is_some() {
            buf.clear();
            while let Some(b) = pending.peek() {
                if !buf.is_empty() && buf.len() + b.len() > 65536 {
                    break;
                }
                buf.extend_from_slice(b);
                pending.next();
            }
            if let Err(e) = w.write_all(&buf).await {
                q.close(Close::Now(format!("write failed: {e}")));
                return;
            }
            q.written(buf.len());
        }
    }
}

/// Connects to an active target forever, with backoff.
async fn active_loop<S: OpenFlowSwitch + 'static>(sh: Arc<Shared<S>>, target: String, t: Target) {
    let max = lock(&sh.st)
        .service(&target)
        .map_or(8000, |s| s.cfg.max_backoff_ms);
    let mut backoff = Backoff::new(max);
    loop {
        let (max, probe, bucket) = {
            let mut st = lock(&sh.st);
            let Some(s) = st.service_mut(&target) else {
                return;
            };
            s.status.state = "CONNECTING";
            let c = s.cfg.clone();
            (
                c.max_backoff_ms,
                c.inactivity_probe_ms,
                bucket_for(&c, now_ms()),
            )
        };
        backoff.set_max(max);
        let limit = Duration::from_millis(backoff.current().max(1000));
        let kind = ConnKind {
            target: target.clone(),
            peer: String::new(),
            primary: true,
            passive: false,
            probe_ms: probe,
        };
        let res = tokio::time::timeout(limit, connect(&t)).await;
        let (up, err) = match res {
            Err(_) => (None, "connection timed out".to_string()),
            Ok(Err(e)) => (None, e.to_string()),
            Ok(Ok((io, peer))) => {
                let kind = ConnKind { peer, ..kind };
                let (id, q) = {
                    let mut st = lock(&sh.st);
                    Shared::<S>::register(&mut st, &kind, bucket)
                };
                let ended = match io {
                    Stream::Tcp(s) => sh.serve(id, q, s, kind).await,
                    Stream::Unix(s) => sh.serve(id, q, s, kind).await,
                };
                let up = ended.ready_at.map(|t| now_ms().saturating_sub(t));
                (up, ended.reason)
            }
        };
        let wait = backoff.on_failure(up);
        {
            let mut st = lock(&sh.st);
            let Some(s) = st.service_mut(&target) else {
                return;
            };
            s.status.state = "BACKOFF";
            s.status.last_error = Some(err);
            if up.is_some() {
                s.status.last_disconnect_ms = Some(now_ms());
            }
        }
        sh.run_wake.notify_one();
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn connect(t: &Target) -> std::io::Result<(Stream, String)> {
    match t {
        Target::Tcp { host, port } => {
            let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            let _ = s.set_nodelay(true);
            let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            Ok((Stream::Tcp(s), peer))
        }
        Target::Unix(p) => {
            let s = tokio::net::UnixStream::connect(p).await?;
            Ok((Stream::Unix(s), "unix".into()))
        }
        Target::PTcp { .. } | Target::PUnix(_) => {
            Err(std::io::Error::other("passive target cannot connect"))
        }
    }
}

impl<S: OpenFlowSwitch + 'static> Control for Shared<S> {
    fn reconfigure(&self, cfg: ChannelConfig) {
        // Management socket.
        let rebind = {
            let st = lock(&self.st);
            if st.shut {
                return;
            }
            st.mgmt.as_ref().map(|m| &m.path) != cfg.mgmt_path.as_ref()
        };
        if rebind {
            let old = lock(&self.st).mgmt.take();
            if let Some(m) = old {
                m.task.abort();
                let _ = std::fs::remove_file(&m.path);
            }
            if let Some(path) = &cfg.mgmt_path {
                match self.listen_unix(path, format!("punix:{}", path.display()), None) {
                    Ok(task) => {
                        lock(&self.st).mgmt = Some(Mgmt {
                            path: path.clone(),
                            task,
                        })
                    }
                    Err(e) => eprintln!(
                        "{}: cannot listen on management socket {}: {e}",
                        cfg.bridge,
                        path.display()
                    ),
                }
            }
        }
        self.apply_controllers(&cfg);
    }

    fn status(&self) -> Vec<ControllerStatus> {
        let st = lock(&self.st);
        let now = now_ms();
        st.services
            .iter()
            .map(|s| {
                let conn = st
                    .conns
                    .values()
                    .find(|c| c.target == s.cfg.target && c.ready);
                let primary = s.primary();
                let state = if primary {
                    s.status.state
                } else if conn.is_some() {
                    "ACTIVE"
                } else {
                    "VOID"
                };
                ControllerStatus {
                    target: s.cfg.target.clone(),
                    is_connected: conn.is_some(),
                    role: conn.map_or("other", |c| role_name(c.role)),
                    state,
                    last_error: s.status.last_error.clone(),
                    sec_since_connect: s
                        .status
                        .last_connect_ms
                        .map(|t| now.saturating_sub(t) / 1000),
                    sec_since_disconnect: s
                        .status
                        .last_disconnect_ms
                        .map(|t| now.saturating_sub(t) / 1000),
                }
            })
            .collect()
    }

    fn conn_stats(&self) -> Vec<ConnStats> {
        let st = lock(&self.st);
        st.conns
            .values()
            .map(|c| {
                let (queued, max_q, dropped, tx) = c.queue.counters();
                ConnStats {
                    target: c.target.clone(),
                    peer: c.peer.clone(),
                    primary: c.primary,
                    ready: c.ready,
                    role: role_name(c.role),
                    queued_bytes: queued,
                    max_queued_bytes: max_q,
                    dropped_async: dropped,
                    rate_limited: c.rate_limited,
                    rx_msgs: c.rx_msgs,
                    tx_msgs: tx,
                }
            })
            .collect()
    }

    fn local_addr(&self, target: &str) -> Option<SocketAddr> {
        lock(&self.st)
            .service(target)
            .and_then(|s| s.status.local_addr)
    }

    fn fail_open(&self) -> bool {
        lock(&self.st).fail_open
    }

    fn wake(&self) {
        self.run_wake.notify_one();
    }

    fn begin_shutdown(&self) -> Vec<JoinHandle<()>> {
        let mut st = lock(&self.st);
        st.shut = true;
        let mut tasks = Vec::new();
        if let Some(r) = st.runner.take() {
            tasks.push(r);
        }
        if let Some(m) = st.mgmt.take() {
            tasks.push(m.task);
            let _ = std::fs::remove_file(&m.path);
        }
        for s in &mut st.services {
            if let Some(t) = s.task.take() {
                tasks.push(t);
            }
            if let Some(p) = s.unix_path.take() {
                let _ = std::fs::remove_file(p);
            }
        }
        for c in st.conns.values() {
            if let Some(a) = &c.abort {
                a.abort();
            }
            c.queue.close(Close::Now("shutting down".into()));
        }
        tasks
    }

    fn finish_shutdown(&self) {
        lock(&self.switch).set_waker(Arc::new(|| {}));
    }
}
