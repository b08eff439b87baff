//! Shared helpers of the channel tests: a scripted controller peer over a
//! loopback socket, and a switch test double that produces asynchronous
//! messages on demand.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use ofproto::channel::{ChannelConfig, ChannelHandle, ControllerConfig};
use ofproto::service::{OpenFlowSwitch, Waker};
use ofproto::switch::{ConnCtx, Switch, SwitchSettings};
use ofproto::wire::framing::{Frame, OfpCodec};
use ofproto::wire::message::{FeaturesReply, PacketIn, Port, PortStatus, port_reason};
use ofproto::wire::oxm::{BasicField, Match, OxmField};
use ofproto::wire::{Body, Hello, Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;

/// How long a test waits for one message before failing (virtual time
/// under a paused clock).
pub const RECV_TIMEOUT: Duration = Duration::from_secs(30);

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A scripted controller (or ovs-ofctl-like client) on one connection.
pub struct Peer {
    io: Box<dyn Io>,
    buf: BytesMut,
    pub xid: u32,
}

impl Peer {
    pub fn new(io: impl Io + 'static) -> Self {
        Self {
            io: Box::new(io),
            buf: BytesMut::new(),
            xid: 1000,
        }
    }

    pub async fn connect_unix(path: &Path) -> Self {
        for _ in 0..200 {
            if let Ok(s) = tokio::net::UnixStream::connect(path).await {
                return Self::new(s);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("cannot connect to {}", path.display());
    }

    pub async fn send_raw(&mut self, b: &[u8]) {
        self.io.write_all(b).await.expect("write");
    }

    pub async fn send(&mut self, m: &Message) {
        self.send_raw(&m.to_vec()).await;
    }

    /// Sends `body` with a fresh xid; returns the xid.
    pub async fn request(&mut self, body: Body) -> u32 {
        self.xid += 1;
        let xid = self.xid;
        self.send(&Message::new(xid, body)).await;
        xid
    }

    /// The next frame, or `None` at end of stream.
    pub async fn recv_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = OfpCodec::new().decode(&mut self.buf).expect("framing") {
                return Some(f);
            }
            let n = tokio::time::timeout(RECV_TIMEOUT, self.io.read_buf(&mut self.buf))
                .await
                .expect("timed out waiting for a message")
                .expect("read");
            if n == 0 {
                return None;
            }
        }
    }

    /// The next message (panics at end of stream or on a decode error).
    pub async fn recv(&mut self) -> Message {
        let f = self.recv_frame().await.expect("connection closed");
        f.msg.expect("switch sent an undecodable message")
    }

    /// Waits for end of stream, skipping messages (at most `max`).
    pub async fn expect_eof(&mut self, max: usize) -> Vec<Message> {
        let mut got = Vec::new();
        for _ in 0..max {
            match self.recv_frame().await {
                None => return got,
                Some(f) => got.push(f.msg.expect("decodes")),
            }
        }
        panic!("no end of stream after {max} messages: {got:?}");
    }

    /// Receives the switch's hello and answers with a 1.3 one.
    pub async fn handshake(&mut self) {
        let m = self.recv().await;
        match &m.body {
            Body::Hello(h) => assert_eq!(h.versions(), Some(vec![4])),
            b => panic!("expected hello, got {b:?}"),
        }
        self.send(&Message::new(1, Body::Hello(Hello::with_versions(&[4]))))
            .await;
        // The switch has taken the hello once it answers an echo.
        let early = self.fence().await;
        assert!(
            early.is_empty(),
            "unexpected before the handshake ended: {early:?}"
        );
    }

    /// Sends an echo request and returns every message received before its
    /// reply: everything the switch queued for us before it handled the
    /// echo.
    pub async fn fence(&mut self) -> Vec<Message> {
        let xid = self.request(Body::EchoRequest(b"fence".to_vec())).await;
        let mut got = Vec::new();
        for _ in 0..1_000_000 {
            let m = self.recv().await;
            if m.xid == xid && matches!(m.body, Body::EchoReply(_)) {
                return got;
            }
            got.push(m);
        }
        panic!("fence reply never came");
    }

    /// Sends `body` and returns the first non-asynchronous message after
    /// it (asynchronous ones are skipped).
    pub async fn call(&mut self, body: Body) -> Message {
        let xid = self.request(body).await;
        for _ in 0..100_000 {
            let m = self.recv().await;
            if let Body::EchoRequest(d) = &m.body {
                // The switch's keepalive: answer it, as a controller does.
                self.send(&Message::new(m.xid, Body::EchoReply(d.clone())))
                    .await;
                continue;
            }
            if !ofproto::service::is_async(&m.body) && !matches!(m.body, Body::Experimenter { .. })
            {
                assert_eq!(m.xid, xid, "reply to another request: {m:?}");
                return m;
            }
        }
        panic!("no reply");
    }

    /// Reads raw bytes (to drop the reader's state after a shutdown).
    pub fn into_inner(self) -> Box<dyn Io> {
        self.io
    }
}

/// A unique temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "rvst{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        Self(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn port(n: u32) -> Port {
    Port {
        port_no: n,
        hw_addr: [0x02, 0, 0, 0, 0, n as u8],
        name: format!("p{n}"),
        curr_speed: 10_000_000,
        max_speed: 10_000_000,
        ..Port::default()
    }
}

/// An in-memory switch with ports 1 and 2.
pub fn switch() -> Switch {
    let mut sw = Switch::new(SwitchSettings {
        datapath_id: 0x0000_1234_5678_9abc,
        ..SwitchSettings::default()
    });
    let mut out = Vec::new();
    sw.add_port(port(1), 0, &mut out);
    sw.add_port(port(2), 0, &mut out);
    sw
}

/// Test double of a switch with a datapath: the in-memory [`Switch`] for
/// requests, plus asynchronous messages the test injects as if the
/// datapath produced them (drained by `run`, announced through the waker),
/// and a record of the fail-open calls.
pub struct Double {
    pub sw: Switch,
    pub pending: Vec<Message>,
    pub waker: Option<Waker>,
    pub fail_open_calls: Vec<(u64, bool)>,
    pub runs: u64,
}

impl Double {
    pub fn new() -> Self {
        Self {
            sw: switch(),
            pending: Vec::new(),
            waker: None,
            fail_open_calls: Vec::new(),
            runs: 0,
        }
    }
}

impl OpenFlowSwitch for Double {
    fn features(&self) -> FeaturesReply {
        self.sw.features()
    }

    fn handle_message(
        &mut self,
        conn: ConnCtx,
        msg: &Message,
        raw: &[u8],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        self.sw.handle_message(conn, msg, raw, now_ms, out);
    }

    fn run(&mut self, now_ms: u64, out: &mut Vec<Message>) {
        self.runs += 1;
        self.sw.expire(now_ms, out);
        out.append(&mut self.pending);
    }

    fn next_wake_ms(&self) -> Option<u64> {
        self.sw.next_expiry()
    }

    fn set_waker(&mut self, waker: Waker) {
        self.waker = Some(waker);
    }

    fn set_fail_open(&mut self, on: bool) {
        self.fail_open_calls.push((ofproto::channel::now_ms(), on));
    }

    fn commit_bundle(
        &mut self,
        conn: ConnCtx,
        msgs: &[(Message, Vec<u8>)],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) -> bool {
        self.sw.commit_bundle(conn, msgs, now_ms, out)
    }
}

/// Injects asynchronous messages into the double and waits (bounded)
/// until the channel layer's `run` took them.
pub async fn inject(sw: &Arc<Mutex<Double>>, msgs: Vec<Message>) {
    let waker = {
        let mut d = sw.lock().unwrap();
        d.pending.extend(msgs);
        d.waker.clone().expect("channel installed a waker")
    };
    waker();
    for _ in 0..10_000 {
        if sw.lock().unwrap().pending.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("run() never drained the injected messages");
}

pub fn packet_in(reason: u8, n: usize, tag: u8) -> Message {
    Message::new(
        0,
        Body::PacketIn(PacketIn {
            buffer_id: ofproto::wire::consts::OFP_NO_BUFFER,
            total_len: 1500,
            reason,
            table_id: 0,
            cookie: 0xc0ffee,
            match_: Match {
                fields: vec![OxmField::exact(BasicField::IN_PORT, 1)],
            },
            data: vec![tag; n],
        }),
    )
}

pub fn port_status(reason: u8, n: u32) -> Message {
    Message::new(
        0,
        Body::PortStatus(PortStatus {
            reason,
            desc: port(n),
        }),
    )
}

pub fn port_add(n: u32) -> Message {
    port_status(port_reason::ADD, n)
}

/// A config with one controller per target (defaults otherwise).
pub fn config(targets: &[String]) -> ChannelConfig {
    ChannelConfig {
        bridge: "br0".into(),
        controllers: targets.iter().map(ControllerConfig::new).collect(),
        ..ChannelConfig::default()
    }
}

/// Binds a loopback TCP listener the switch will connect to; returns the
/// listener and the `tcp:` target.
pub async fn controller_listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().unwrap().port();
    (l, format!("tcp:127.0.0.1:{port}"))
}

/// A unix-socket controller listener in `dir` (unix sockets deliver
/// without TCP's delayed acknowledgements, so tests under a paused clock
/// never see the clock jump while data is in flight).
pub fn unix_controller(dir: &TempDir, name: &str) -> (tokio::net::UnixListener, String) {
    let p = dir.path(name);
    let l = tokio::net::UnixListener::bind(&p).expect("bind unix");
    (l, format!("unix:{}", p.display()))
}

/// Accepts the switch's unix connection and does the handshake.
pub async fn accept_unix(l: &tokio::net::UnixListener) -> Peer {
    let (s, _) = tokio::time::timeout(RECV_TIMEOUT, l.accept())
        .await
        .expect("switch never connected")
        .expect("accept");
    let mut p = Peer::new(s);
    p.handshake().await;
    p
}

/// Accepts the switch's connection (bounded wait) and does the handshake.
pub async fn accept(l: &tokio::net::TcpListener) -> Peer {
    let (s, _) = tokio::time::timeout(RECV_TIMEOUT, l.accept())
        .await
        .expect("switch never connected")
        .expect("accept");
    let mut p = Peer::new(s);
    p.handshake().await;
    p
}

/// Spawns a channel for `sw`.
pub fn spawn<S: OpenFlowSwitch + 'static>(sw: &Arc<Mutex<S>>, cfg: ChannelConfig) -> ChannelHandle {
    ChannelHandle::spawn(sw.clone(), cfg).expect("spawn channel")
}

/// Waits (bounded) until `f` holds.
pub async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..5000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("timed out waiting for {what}");
}
