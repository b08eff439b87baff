//! OpenFlow controller channels: the connections between a switch and its
//! controllers (and the `ovs-ofctl` management socket).
//!
//! # What it does
//!
//! [`ChannelHandle::spawn`] starts, on the current tokio runtime, everything
//! a bridge needs to talk OpenFlow 1.3 to the outside world:
//!
//! * one task per configured **active** target (`tcp:`, `unix:`) that
//!   connects, keeps the connection alive and reconnects with exponential
//!   backoff (1 s doubling up to `max_backoff_ms`);
//! * one accept loop per **passive** target (`ptcp:`, `punix:`) and for the
//!   management socket (`mgmt_path`), bounded by
//!   [`ChannelLimits::max_passive_conns`];
//! * per connection a reader (handshake, liveness, roles, requests) and a
//!   writer draining a byte-bounded send queue, so a peer that stops
//!   reading stalls only its own writer;
//! * a runner that calls [`OpenFlowSwitch::run`] when the switch's waker
//!   fires, after requests, and no later than `next_wake_ms`, routes the
//!   asynchronous messages, and drives fail-open.
//!
//! The switch is shared as `Arc<std::sync::Mutex<S>>`.  The channel layer
//! holds that lock only to hand over one request (or to call `run`) and to
//! put the results on in-memory send queues; it never holds it across a
//! socket operation.
//!
//! # Connection kinds (as Open vSwitch)
//!
//! * **Primary** controllers are the active targets.  They count for
//!   fail-open and their status is reported by [`ChannelHandle::status`].
//! * **Service** connections are those accepted on passive targets and on
//!   the management socket.  They do not count for fail-open and, as in
//!   Open vSwitch, receive asynchronous messages only after they set a
//!   non-zero `miss_send_len` with `SET_CONFIG` (this is what
//!   `ovs-ofctl monitor BR 65535` does).
//!
//! # Protocol behaviour
//!
//! * `HELLO` is sent at once with a version bitmap containing only 1.3.
//!   The peer's bitmap (or, without one, every version up to its header
//!   version) must contain 1.3; otherwise `OFPET_HELLO_FAILED`/
//!   `OFPHFC_INCOMPATIBLE` with a readable text is sent (in the peer's
//!   version) and the connection closed.  A first message that is not a
//!   hello closes the connection.
//! * `ECHO_REQUEST` is answered by the channel layer itself, at once and in
//!   order with the other replies; `FEATURES_REQUEST` from
//!   [`OpenFlowSwitch::features`].
//! * Liveness: after `inactivity_probe_ms` without receiving anything an
//!   `ECHO_REQUEST` is sent; after another interval of silence the
//!   connection is dropped ("IDLE" state in between).
//! * Roles: every connection starts EQUAL.  `ROLE_REQUEST` MASTER/SLAVE
//!   carries a generation id compared with wrap-around arithmetic against
//!   the last one seen (`OFPRRFC_STALE` when older); a new MASTER demotes
//!   the old one to SLAVE and the demoted connection is told with the ONF
//!   role-status extension message (experimenter `0x4f4e4600`, type 1911),
//!   as Open vSwitch does for OpenFlow 1.3.  Slaves get `OFPBRC_IS_SLAVE`
//!   for state-changing requests (the switch checks [`ConnCtx::is_slave`]).
//! * `SET_ASYNC`/`GET_ASYNC_REQUEST` are per connection; the defaults are
//!   the spec's: master/equal get packet-ins for no-match and action (not
//!   invalid-TTL), every port status and every flow-removed reason; slaves
//!   get only port status.
//! * Replies go to the requesting connection in request order; the
//!   asynchronous `PACKET_IN`, `FLOW_REMOVED` and `PORT_STATUS` messages
//!   go to every connection whose role and masks want them, unchanged
//!   (truncation is the switch's).  Packet-ins to a primary controller with
//!   `rate_limit` pass a token bucket (`burst_limit` tokens, default a
//!   quarter of the rate); the excess is dropped and counted.
//!
//! # Limits
//!
//! See [`ChannelLimits`].  Per connection, asynchronous messages are
//! dropped (and counted) once the send queue holds
//! [`ChannelLimits::async_queue_bytes`]; the connection's requests are not
//! read while that much is queued (back-pressure, as Open vSwitch stops
//! reading a connection with too many queued replies); a reply that would
//! take the queue above [`ChannelLimits::max_queue_bytes`] disconnects the
//! peer.  Messages longer than [`ChannelLimits::max_message_len`]
//! disconnect too (the stream can no longer be split).
//!
//! # Fail modes
//!
//! With at least one primary controller configured and
//! [`FailMode::Standalone`], once no primary controller has been
//! *admitted* (connected and sent something other than hello/echo) for
//! three times the largest inactivity probe interval, the channel layer
//! calls [`OpenFlowSwitch::set_fail_open`]`(true)`; it calls it with
//! `false` when a controller is admitted again, when the fail mode becomes
//! secure, or when the last primary controller is removed.
//! [`FailMode::Secure`] never touches the switch.
//!
//! [`ConnCtx::is_slave`]: crate::switch::ConnCtx::is_slave

mod conn;
mod queue;
mod rconn;
mod runtime;
mod target;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::service::OpenFlowSwitch;

pub use rconn::{Backoff, Liveness, LivenessAction, TokenBucket};
pub use target::Target;

/// What the switch does when no controller is reachable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailMode {
    /// Keep the flow tables as they are.
    Secure,
    /// Fall back to a plain learning switch (fail-open) after the
    /// controllers have been unreachable for three probe intervals.
    #[default]
    Standalone,
}

/// One configured controller (a row of the `Controller` table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `tcp:IP[:PORT]` (port 6653 by default), `unix:PATH`,
    /// `ptcp:[PORT][:IP]`, `punix:PATH`.  `ssl:`/`pssl:` are reported as
    /// unsupported in the status.
    pub target: String,
    /// Longest wait between connection attempts (ms), default 8000.
    pub max_backoff_ms: u64,
    /// Idle time before an echo request is sent (ms), default 5000; 0 turns
    /// probing off.
    pub inactivity_probe_ms: u64,
    /// Packet-ins per second to this controller (`controller_rate_limit`).
    pub rate_limit: Option<u32>,
    /// Packet-in burst (`controller_burst_limit`); default a quarter of the
    /// rate (at least 1).
    pub burst_limit: Option<u32>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            target: String::new(),
            max_backoff_ms: 8000,
            inactivity_probe_ms: 5000,
            rate_limit: None,
            burst_limit: None,
        }
    }
}

impl ControllerConfig {
    /// A controller for `target` with the default settings.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            ..Self::default()
        }
    }
}

/// Resource limits of the channel layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelLimits {
    /// Bytes a connection's send queue may hold; a reply that does not fit
    /// disconnects the peer.  Default 256 MiB: back-pressure already keeps
    /// the queue below `async_queue_bytes` plus the replies of one request,
    /// and one flow dump of a few hundred thousand flows is tens of MB.
    pub max_queue_bytes: usize,
    /// Queued bytes above which asynchronous messages to a connection are
    /// dropped (counted) and its requests are not read.  Default 1 MiB.
    pub async_queue_bytes: usize,
    /// Most connections accepted on passive targets and the management
    /// socket together; more are closed at once.  Default 64.
    pub max_passive_conns: usize,
    /// Longest OpenFlow message accepted; values are taken within
    /// 1024..=65535.  Default 65535.
    pub max_message_len: usize,
    /// Inactivity probe of connections on the management socket (ms);
    /// Open vSwitch uses 60 s.
    pub mgmt_probe_ms: u64,
}

impl Default for ChannelLimits {
    fn default() -> Self {
        Self {
            max_queue_bytes: 256 << 20,
            async_queue_bytes: 1 << 20,
            max_passive_conns: 64,
            max_message_len: crate::wire::consts::OFP_MAX_MESSAGE_LEN,
            mgmt_probe_ms: 60_000,
        }
    }
}

/// The channel configuration of one bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Bridge name (for messages).
    pub bridge: String,
    /// The configured controllers.
    pub controllers: Vec<ControllerConfig>,
    /// The fail mode (default standalone, as Open vSwitch).
    pub fail_mode: FailMode,
    /// Where to listen for `ovs-ofctl` ("service" connections), usually
    /// `<rundir>/<bridge>.mgmt`.
    pub mgmt_path: Option<PathBuf>,
    /// Resource limits.
    pub limits: ChannelLimits,
}

/// The state of one configured controller, for the `Controller` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerStatus {
    /// The configured target.
    pub target: String,
    /// A connection is established (handshake done).
    pub is_connected: bool,
    /// `"master"`, `"slave"` or `"other"` (equal, or not connected).
    pub role: &'static str,
    /// `"VOID"`, `"BACKOFF"`, `"CONNECTING"`, `"ACTIVE"` or `"IDLE"`.
    pub state: &'static str,
    /// Why the last connection failed or ended, if it did.
    pub last_error: Option<String>,
    /// Seconds since the current/last connection was made.
    pub sec_since_connect: Option<u64>,
    /// Seconds since the last disconnection.
    pub sec_since_disconnect: Option<u64>,
}

/// Counters of one live connection (for diagnostics and tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnStats {
    /// The target it belongs to (the configured target, or the management
    /// socket path prefixed with `punix:`).
    pub target: String,
    /// Peer description (address or `unix`).
    pub peer: String,
    /// Primary (active controller) rather than a service connection.
    pub primary: bool,
    /// The handshake is done.
    pub ready: bool,
    /// The role, as in [`ControllerStatus::role`].
    pub role: &'static str,
    /// Bytes waiting in the send queue (including a write in progress).
    pub queued_bytes: usize,
    /// The most bytes the send queue ever held.
    pub max_queued_bytes: usize,
    /// Asynchronous messages dropped because the queue was full.
    pub dropped_async: u64,
    /// Packet-ins dropped by the rate limiter.
    pub rate_limited: u64,
    /// Messages received.
    pub rx_msgs: u64,
    /// Messages queued for sending.
    pub tx_msgs: u64,
}

/// Errors of the channel layer's own set-up.  Per-controller problems
/// (bad targets, refused connections) are not errors: they show in
/// [`ControllerStatus::last_error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// [`ChannelHandle::spawn`] was called outside a tokio runtime.
    #[error("the channel layer needs a tokio runtime")]
    NoRuntime,
    /// The management socket could not be bound.
    #[error("cannot listen on management socket {path}: {source}")]
    Mgmt {
        /// The socket path.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// The clock the channel layer passes to the switch (ms since the first
/// call in this process, monotonic; follows tokio's paused clock in
/// tests).  The daemon should use it for its own calls into the switch so
/// that both agree on time.
pub fn now_ms() -> u64 {
    static BASE: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(tokio::time::Instant::now);
    let d = tokio::time::Instant::now().saturating_duration_since(base);
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The running channel layer of one bridge.
pub struct ChannelHandle {
    ctl: Arc<dyn runtime::Control>,
}

impl std::fmt::Debug for ChannelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelHandle").finish_non_exhaustive()
    }
}

impl ChannelHandle {
    /// Spawns the channel layer for `switch` on the current tokio runtime:
    /// binds the management socket (an error if that fails), starts the
    /// controllers (their failures show in [`ChannelHandle::status`]) and
    /// installs the switch's waker.
    pub fn spawn<S: OpenFlowSwitch + 'static>(
        switch: Arc<Mutex<S>>,
        cfg: ChannelConfig,
    ) -> Result<ChannelHandle, ChannelError> {
        let ctl = runtime::spawn(switch, cfg)?;
        Ok(ChannelHandle { ctl })
    }

    /// Applies a new configuration: controllers whose target is unchanged
    /// keep their connection (their settings are updated), removed ones are
    /// closed, new ones started; the management socket is re-bound if its
    /// path changed.
    pub fn reconfigure(&self, cfg: ChannelConfig) {
        self.ctl.reconfigure(cfg);
    }

    /// One entry per configured controller, in configuration order.
    pub fn status(&self) -> Vec<ControllerStatus> {
        self.ctl.status()
    }

    /// Counters of every live connection.
    pub fn conn_stats(&self) -> Vec<ConnStats> {
        self.ctl.conn_stats()
    }

    /// The local address a `ptcp:` target is listening on (useful with
    /// port 0).
    pub fn local_addr(&self, target: &str) -> Option<std::net::SocketAddr> {
        self.ctl.local_addr(target)
    }

    /// Whether fail-open is currently on.
    pub fn fail_open(&self) -> bool {
        self.ctl.fail_open()
    }

    /// The daemon changed the switch: call `run()` soon.
    pub fn wake(&self) {
        self.ctl.wake();
    }

    /// Closes the listeners (removing the unix socket files) and every
    /// connection, and waits for the tasks to end.
    pub async fn shutdown(self) {
        let tasks = self.ctl.begin_shutdown();
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
        self.ctl.finish_shutdown();
    }
}

impl Drop for ChannelHandle {
    /// Dropping the handle without [`ChannelHandle::shutdown`] stops
    /// everything too (without waiting, and without touching the switch,
    /// whose lock the caller may hold).
    fn drop(&mut self) {
        for t in self.ctl.begin_shutdown() {
            t.abort();
        }
    }
}
