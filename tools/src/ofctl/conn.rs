//! A blocking OpenFlow 1.3 client connection, the way `ovs-ofctl` uses one:
//! connect, exchange HELLO, send requests, wait for replies matched by
//! transaction id, barriers after state changes.
//!
//! Transaction ids come from one process-wide counter starting at 1, as in
//! Open vSwitch, so the `(xid=0x..)` that `rvs-ofctl` prints are the same
//! numbers `ovs-ofctl` prints for the same command (see [`skip_xids`]).
//!
//! Every read has a deadline (`--timeout`, else 60 s per message), every
//! message is at most 64 kB (the OpenFlow limit) and the read buffer never
//! holds more than one partial message plus one read's worth of bytes.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ofproto::wire::consts::OFP_MAX_MESSAGE_LEN;
use ofproto::wire::framing::split_messages;
use ofproto::wire::multipart::{MultipartReply, MultipartRequest, MultipartRequestBody};
use ofproto::wire::{Body, Frame, Hello, Message};

use super::OfctlError;

static NEXT_XID: AtomicU32 = AtomicU32::new(1);

/// Allocates the next transaction id.
pub fn alloc_xid() -> u32 {
    NEXT_XID.fetch_add(1, Ordering::Relaxed)
}

/// Skips `n` transaction ids.  `ovs-ofctl` opens extra connections to
/// fetch port and table names before some commands; `rvs-ofctl` does not
/// need them but skips their ids so that printed xids stay identical.
pub fn skip_xids(n: u32) {
    NEXT_XID.fetch_add(n, Ordering::Relaxed);
}

/// Default OpenFlow TCP port.
pub const OFP_TCP_PORT: u16 = 6653;

/// Default per-message wait when no `--timeout` is given.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

trait Stream: Read + Write + Send {
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()>;
    fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()>;
}

impl Stream for UnixStream {
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()> {
        UnixStream::set_read_timeout(self, t)?;
        self.set_write_timeout(t)
    }
    fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        UnixStream::set_read_timeout(self, t)
    }
}

impl Stream for TcpStream {
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()> {
        TcpStream::set_read_timeout(self, t)?;
        self.set_write_timeout(t)
    }
    fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        TcpStream::set_read_timeout(self, t)
    }
}

/// Where to connect, resolved from the command line's switch argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A unix socket (`unix:PATH`).
    Unix(PathBuf),
    /// A unix socket found from a bare name (a path, or a bridge's
    /// `.mgmt` socket); failures name the path.
    UnixFound(PathBuf),
    /// A TCP address (host, port).
    Tcp(String, u16),
}

impl Target {
    /// Resolves `name` like `ovs-ofctl`: `unix:PATH`, `tcp:IP[:PORT]`
    /// (port 6653 by default), an existing socket path, or a bridge name
    /// (`<rundir>/<name>.mgmt`).
    pub fn resolve(name: &str, rundir: &Path) -> Result<Target, OfctlError> {
        if let Some(path) = name.strip_prefix("unix:") {
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = name.strip_prefix("tcp:") {
            let (host, port) = split_host_port(rest)
                .ok_or_else(|| OfctlError::Usage(format!("{name}: bad peer name format")))?;
            return Ok(Target::Tcp(host, port.unwrap_or(OFP_TCP_PORT)));
        }
        if let Some((kind, _)) = name.split_once(':') {
            return Err(OfctlError::Usage(format!(
                "{name}: connection type \"{kind}\" is not supported (use unix: or tcp:)"
            )));
        }
        // Like ovs-ofctl: the name as a socket path, then the bridge's
        // management socket; a path that exists but is no socket fails
        // when connecting.
        let p = Path::new(name);
        if p.exists() {
            return Ok(Target::UnixFound(p.to_owned()));
        }
        let mgmt = rundir.join(format!("{name}.mgmt"));
        if mgmt.exists() {
            return Ok(Target::UnixFound(mgmt));
        }
        Err(OfctlError::Fatal(format!(
            "{name} is not a bridge or a socket"
        )))
    }
}

/// Splits `IP[:PORT]` / `[IPv6][:PORT]`.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_owned(), Some(p.parse().ok()?))),
        Some(_) => Some((s.to_owned(), None)),
        None if s.is_empty() => None,
        None => Some((s.to_owned(), None)),
    }
}

/// An I/O error as C's `strerror` words it (without Rust's
/// "(os error N)" suffix).
pub fn strerror(e: &std::io::Error) -> String {
    let t = e.to_string();
    match t.find(" (os error ") {
        Some(i) => t.get(..i).unwrap_or_default().to_owned(),
        None => t,
    }
}

/// An open OpenFlow connection after the HELLO exchange.
pub struct Conn {
    stream: Box<dyn Stream>,
    rbuf: BytesMut,
    pending: VecDeque<Frame>,
    name: String,
    deadline: Option<Instant>,
    forever: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What an OFPT_ERROR answered: the error message and the raw request it
/// answers (when this side still has it).
#[derive(Debug)]
pub struct ErrorReply {
    /// The `OFPT_ERROR` as received.
    pub error: Frame,
    /// The full request that failed, when known.
    pub request: Option<Vec<u8>>,
}

impl Conn {
    /// Connects to `target` and exchanges HELLO (OpenFlow 1.3 only).
    /// `deadline` bounds the whole program (`--timeout`).
    pub fn open(
        name: &str,
        target: &Target,
        deadline: Option<Instant>,
    ) -> Result<Conn, OfctlError> {
        let wait = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(DEFAULT_WAIT)
            .max(Duration::from_millis(1));
        // ovs-ofctl's wording: a unix socket fails while "connecting", a
        // TCP connection while waiting for it to complete.
        let unix_fail = |e: std::io::Error| {
            OfctlError::Fatal(format!("connecting to {name} ({})", strerror(&e)))
        };
        let tcp_fail = |e: std::io::Error| {
            OfctlError::Fatal(format!(
                "{name}: failed to connect to socket ({})",
                strerror(&e)
            ))
        };
        let stream: Box<dyn Stream> = match target {
            Target::Unix(p) => Box::new(UnixStream::connect(p).map_err(unix_fail)?),
            Target::UnixFound(p) => Box::new(UnixStream::connect(p).map_err(|e| {
                OfctlError::Fatal(format!(
                    "{}: failed to open socket ({})",
                    p.display(),
                    strerror(&e)
                ))
            })?),
            Target::Tcp(h, port) => {
                let addr = (h.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(tcp_fail)?
                    .next()
                    .ok_or_else(|| OfctlError::Fatal(format!("{name}: cannot resolve {h}")))?;
                let s = TcpStream::connect_timeout(&addr, wait).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::TimedOut {
                        tcp_fail(e)
                    } else {
                        unix_fail(e)
                    }
                })?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
        };
        let mut c = Conn {
            stream,
            rbuf: BytesMut::new(),
            pending: VecDeque::new(),
            name: name.to_owned(),
            deadline,
            forever: false,
        };
        let xid = alloc_xid();
        c.send(&Message::new(xid, Body::Hello(Hello::with_versions(&[4]))))?;
        let f = c.recv()?;
        let ok = match &f.msg {
            Ok(Message {
                body: Body::Hello(h),
                ..
            }) => match h.versions() {
                Some(v) => v.contains(&4),
                None => h.version >= 4,
            },
            _ => false,
        };
        if !ok {
            return Err(OfctlError::Fatal(format!(
                "{name}: failed to connect to socket (Protocol error: version negotiation failed; \
                 rvs-ofctl speaks only OpenFlow 1.3)"
            )));
        }
        Ok(c)
    }

    /// The name given on the command line.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn io_err(&self, what: &str, e: std::io::Error) -> OfctlError {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            OfctlError::Timeout
        } else {
            OfctlError::Fatal(format!("{}: {what} ({})", self.name, strerror(&e)))
        }
    }

    fn wait(&self) -> Result<Option<Duration>, OfctlError> {
        match self.deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(OfctlError::Timeout)
                } else {
                    Ok(Some(left))
                }
            }
            None if self.forever => Ok(None),
            None => Ok(Some(DEFAULT_WAIT)),
        }
    }

    /// Makes reads wait without limit when there is no deadline.
    pub(crate) fn set_block_forever(&mut self) {
        self.forever = true;
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &Message) -> Result<(), OfctlError> {
        let mut b = BytesMut::new();
        msg.encode(&mut b);
        self.send_raw(&b)
    }

    /// Sends already-encoded bytes (one or more whole messages).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), OfctlError> {
        let w = self.wait()?;
        self.stream
            .set_timeouts(w.or(Some(DEFAULT_WAIT)))
            .map_err(|e| self.io_err("send failed", e))?;
        self.stream
            .write_all(bytes)
            .map_err(|e| self.io_err("failed to send packet to switch", e))
    }

    /// Receives the next message (answering the switch's echo requests on
    /// the way).
    pub fn recv(&mut self) -> Result<Frame, OfctlError> {
        loop {
            if let Some(f) = self.pending.pop_front() {
                if let Ok(Message {
                    xid,
                    body: Body::EchoRequest(d),
                }) = &f.msg
                {
                    let reply = Message::new(*xid, Body::EchoReply(d.clone()));
                    self.send(&reply)?;
                    continue;
                }
                return Ok(f);
            }
            let w = self.wait()?;
            self.stream
                .set_read_timeout(w)
                .map_err(|e| self.io_err("receive failed", e))?;
            let mut chunk = [0u8; 16384];
            let n = self
                .stream
                .read(&mut chunk)
                .map_err(|e| self.io_err("OpenFlow packet receive failed", e))?;
            if n == 0 {
                return Err(OfctlError::Fatal(format!(
                    "{}: OpenFlow packet receive failed (End of file)",
                    self.name
                )));
            }
            self.rbuf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
            let frames = split_messages(&mut self.rbuf, OFP_MAX_MESSAGE_LEN).map_err(|e| {
                OfctlError::Fatal(format!(
                    "{}: OpenFlow packet receive failed ({e})",
                    self.name
                ))
            })?;
            self.pending.extend(frames);
        }
    }

    /// Receives the next message whose xid is `xid` (others are dropped,
    /// as `ovs-ofctl` does).
    pub fn recv_xid(&mut self, xid: u32) -> Result<Frame, OfctlError> {
        loop {
            let f = self.recv()?;
            if f.header.xid == xid {
                return Ok(f);
            }
        }
    }

    /// Sends `body` with a fresh xid and returns the reply with that xid.
    pub fn transact(&mut self, body: Body) -> Result<Frame, OfctlError> {
        let xid = alloc_xid();
        self.send(&Message::new(xid, body))?;
        self.recv_xid(xid)
    }

    /// Sends a multipart request and hands every reply message (or the
    /// error) to `each`, until the last part.
    pub fn dump(
        &mut self,
        body: MultipartRequestBody,
        mut each: impl FnMut(&Frame) -> Result<(), OfctlError>,
    ) -> Result<(), OfctlError> {
        let xid = alloc_xid();
        let req = Body::MultipartRequest(MultipartRequest { flags: 0, body });
        self.send(&Message::new(xid, req))?;
        loop {
            let f = self.recv_xid(xid)?;
            each(&f)?;
            match &f.msg {
                Ok(Message {
                    body: Body::MultipartReply(MultipartReply { flags, .. }),
                    ..
                }) if flags & 1 != 0 => continue,
                Ok(Message {
                    body: Body::MultipartReply(_) | Body::Error(_),
                    ..
                }) => return Ok(()),
                _ => {
                    return Err(OfctlError::Fatal(format!(
                        "received bad reply: {}",
                        super::print::message_to_string(&f.raw)
                    )));
                }
            }
        }
    }

    /// Sends `bodies` as one bundle (the ONF extension `ovs-ofctl
    /// --bundle` uses with OpenFlow 1.3): open, one add per request, commit,
    /// all `ATOMIC | ORDERED`.  Returns the first error the switch sent: a
    /// failing request's own error comes before the commit's
    /// `OFPBFC_MSG_FAILED`.
    pub fn bundle_transact(&mut self, bodies: Vec<Body>) -> Result<Option<ErrorReply>, OfctlError> {
        use ofproto::bundle::{BundleAdd, BundleCtrl, ctrl_type, flags};
        let f = flags::ATOMIC | flags::ORDERED;
        let ctrl = |t| {
            BundleCtrl {
                bundle_id: 0,
                ctrl_type: t,
                flags: f,
            }
            .to_body()
        };
        let open = self.transact(ctrl(ctrl_type::OPEN_REQUEST))?;
        if matches!(
            open.msg,
            Ok(Message {
                body: Body::Error(_),
                ..
            })
        ) {
            return Ok(Some(ErrorReply {
                error: open,
                request: None,
            }));
        }
        let mut requests: HashMap<u32, Vec<u8>> = HashMap::new();
        let mut buf = BytesMut::new();
        for body in bodies {
            let xid = alloc_xid();
            let inner = Message::new(xid, body).to_vec();
            Message::new(
                xid,
                BundleAdd {
                    bundle_id: 0,
                    flags: f,
                    msg: inner.clone(),
                }
                .to_body(),
            )
            .encode(&mut buf);
            requests.insert(xid, inner);
            if buf.len() >= 1 << 16 {
                self.send_raw(&buf)?;
                buf.clear();
            }
        }
        let commit_xid = alloc_xid();
        Message::new(commit_xid, ctrl(ctrl_type::COMMIT_REQUEST)).encode(&mut buf);
        self.send_raw(&buf)?;
        let mut first: Option<ErrorReply> = None;
        loop {
            let f = self.recv()?;
            let xid = f.header.xid;
            let is_err = matches!(
                f.msg,
                Ok(Message {
                    body: Body::Error(_),
                    ..
                })
            );
            if is_err && first.is_none() {
                first = Some(ErrorReply {
                    request: requests.remove(&xid),
                    error: f,
                });
            }
            if xid == commit_xid {
                return Ok(first);
            }
        }
    }

    /// Sends each request followed by a barrier (`ovs-ofctl`'s
    /// "transact_noreply"), and stops at the first error.
    pub fn transact_noreply(
        &mut self,
        bodies: Vec<Body>,
    ) -> Result<Option<ErrorReply>, OfctlError> {
        let mut s = Streamer::new(1, 1);
        for b in bodies {
            if let Some(e) = s.push(self, b)? {
                return Ok(Some(e));
            }
        }
        s.finish(self)
    }
}

/// Streams requests with barriers and a bounded window of outstanding
/// barriers (bulk `add-flows`).  Xids are allocated as if every request
/// were followed by its own barrier (as `ovs-ofctl` does), so error
/// messages print the same xids; barriers are only sent every `batch`
/// requests.
#[derive(Debug)]
pub struct Streamer {
    batch: usize,
    window: usize,
    wbuf: BytesMut,
    in_batch: usize,
    /// Barrier xids sent and not yet answered, oldest first.
    outstanding: VecDeque<u32>,
    /// Raw requests not yet confirmed by a barrier reply (at most
    /// `batch * (window + 1)`), by xid.
    unconfirmed: HashMap<u32, Vec<u8>>,
    unconfirmed_order: VecDeque<(u32, u32)>,
    last_barrier_xid: u32,
    /// Requests confirmed so far.
    pub confirmed: u64,
    sent: u64,
}

impl Streamer {
    /// A streamer sending a barrier every `batch` requests and keeping at
    /// most `window` barriers outstanding.
    pub fn new(batch: usize, window: usize) -> Self {
        Streamer {
            batch: batch.max(1),
            window: window.max(1),
            wbuf: BytesMut::new(),
            in_batch: 0,
            outstanding: VecDeque::new(),
            unconfirmed: HashMap::new(),
            unconfirmed_order: VecDeque::new(),
            last_barrier_xid: 0,
            confirmed: 0,
            sent: 0,
        }
    }

    /// Queues one request; may block waiting for barrier replies.  Returns
    /// the first error the switch answered with, if any.
    pub fn push(&mut self, c: &mut Conn, body: Body) -> Result<Option<ErrorReply>, OfctlError> {
        let xid = alloc_xid();
        let barrier_xid = alloc_xid();
        let start = self.wbuf.len();
        Message::new(xid, body).encode(&mut self.wbuf);
        let raw = self.wbuf.get(start..).unwrap_or_default().to_vec();
        self.unconfirmed.insert(xid, raw);
        self.unconfirmed_order.push_back((xid, barrier_xid));
        self.in_batch += 1;
        self.sent += 1;
        self.last_barrier_xid = barrier_xid;
        if self.in_batch >= self.batch {
            self.send_barrier(c)?;
            while self.outstanding.len() >= self.window {
                if let Some(e) = self.wait_oldest(c)? {
                    return Ok(Some(e));
                }
            }
        }
        Ok(None)
    }

    fn send_barrier(&mut self, c: &mut Conn) -> Result<(), OfctlError> {
        if self.in_batch == 0 {
            return Ok(());
        }
        Message::new(self.last_barrier_xid, Body::BarrierRequest).encode(&mut self.wbuf);
        let bytes = std::mem::take(&mut self.wbuf);
        c.send_raw(&bytes)?;
        self.outstanding.push_back(self.last_barrier_xid);
        self.in_batch = 0;
        Ok(())
    }

    fn wait_oldest(&mut self, c: &mut Conn) -> Result<Option<ErrorReply>, OfctlError> {
        let Some(bxid) = self.outstanding.front().copied() else {
            return Ok(None);
        };
        loop {
            let f = c.recv()?;
            let xid = f.header.xid;
            if matches!(
                &f.msg,
                Ok(Message {
                    body: Body::Error(_),
                    ..
                })
            ) {
                if let Some(raw) = self.unconfirmed.remove(&xid) {
                    return Ok(Some(ErrorReply {
                        error: f,
                        request: Some(raw),
                    }));
                }
                if self.outstanding.contains(&xid) {
                    return Ok(Some(ErrorReply {
                        error: f,
                        request: None,
                    }));
                }
                continue;
            }
            if xid == bxid
                && matches!(
                    &f.msg,
                    Ok(Message {
                        body: Body::BarrierReply,
                        ..
                    })
                )
            {
                self.outstanding.pop_front();
                while let Some(&(rx, rb)) = self.unconfirmed_order.front() {
                    if rb > bxid {
                        break;
                    }
                    self.unconfirmed_order.pop_front();
                    self.unconfirmed.remove(&rx);
                    self.confirmed += 1;
                }
                return Ok(None);
            }
        }
    }

    /// Sends the last barrier and waits for every outstanding one.
    pub fn finish(&mut self, c: &mut Conn) -> Result<Option<ErrorReply>, OfctlError> {
        self.send_barrier(c)?;
        while !self.outstanding.is_empty() {
            if let Some(e) = self.wait_oldest(c)? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// Requests queued so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1"),
            Some(("127.0.0.1".into(), None))
        );
        assert_eq!(
            split_host_port("127.0.0.1:6654"),
            Some(("127.0.0.1".into(), Some(6654)))
        );
        assert_eq!(split_host_port("[::1]:7"), Some(("::1".into(), Some(7))));
        assert_eq!(split_host_port("1.2.3.4:x"), None);
        assert_eq!(split_host_port(""), None);
    }

    #[test]
    fn resolve_targets() {
        let rd = Path::new("/nonexistent-rundir");
        assert_eq!(
            Target::resolve("unix:/tmp/x", rd).unwrap(),
            Target::Unix("/tmp/x".into())
        );
        assert_eq!(
            Target::resolve("tcp:10.0.0.1", rd).unwrap(),
            Target::Tcp("10.0.0.1".into(), 6653)
        );
        assert!(Target::resolve("ssl:1.2.3.4", rd).is_err());
        let e = Target::resolve("br0", rd).unwrap_err();
        assert_eq!(e.to_string(), "br0 is not a bridge or a socket");
    }
}
