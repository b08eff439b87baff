//! The Open vSwitch "unixctl" control protocol: server and client.
//!
//! Every OVS daemon listens on a Unix stream socket (`<rundir>/<program>.
//! <pid>.ctl`, or `--unixctl=PATH`) where `ovs-appctl` sends it commands.
//! The protocol is JSON-RPC 1.0 without any framing: JSON objects follow
//! each other on the stream, with no delimiter and no `jsonrpc` member.
//! Checked against Debian's Open vSwitch 3.1 (`ovs-appctl`, `ovsdb-server`):
//!
//! * request: `{"id":0,"method":"vlog/set","params":["ANY:dbg"]}` — the
//!   params are always an array of strings (the command's arguments);
//! * success: `{"id":0,"result":"text","error":null}` — the result is the
//!   text `ovs-appctl` prints verbatim (no newline is added);
//! * failure: `{"id":0,"error":"text"}` — `ovs-appctl` prints the text to
//!   stderr, then `ovs-appctl: TARGET: server returned an error`, and exits
//!   with status 2.  A result or error that is not a string (or null) is a
//!   transaction error for `ovs-appctl` (status 1).
//!
//! Built-in commands are `list-commands` (alias `help`), which lists every
//! command as `  %-23s %s` (name, usage) after `The available commands
//! are:`, and `version`.  Argument counts are checked before a handler runs,
//! with OVS's messages (`"x" command requires at least 1 arguments`, `"x"
//! command takes at most 0 arguments`); an unknown method gets `"x" is not a
//! valid command (use "list-commands" to see a list of valid commands)`.
//!
//! # Limits
//!
//! A request larger than [`ServerLimits::max_request`] bytes, a stream that
//! is not JSON, or a message that is not a JSON object drops that
//! connection only; other clients carry on.  At most
//! [`ServerLimits::max_connections`] connections are served at once (more
//! wait in the kernel backlog).  Handlers run on tokio's blocking pool so a
//! slow command (a large flow dump) never stalls the runtime; a client
//! gets its replies in request order.
//!
//! # Client
//!
//! [`call`] connects, sends one request with id 0, and reads the matching
//! reply, accepting OVS's reply shapes above (it talks to a real
//! `ovsdb-server --unixctl` or `ovs-vswitchd` socket as well as to ours).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// A command handler: gets the arguments (without the command name) and
/// returns the reply text or an error text.
pub type Handler = Arc<dyn Fn(&[String]) -> Result<String, String> + Send + Sync>;

/// Errors of the client side ([`call`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnixctlError {
    /// The socket could not be connected.
    #[error("cannot connect to \"{path}\" ({source})")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Reading or writing the socket failed (or the server closed it).
    #[error("transaction error ({0})")]
    Io(#[from] io::Error),
    /// The peer sent something that is not a unixctl reply.
    #[error("transaction error (protocol error: {0})")]
    Protocol(String),
    /// The server answered with an error; the text is its message.
    #[error("{0}")]
    Remote(String),
}

/// Resource limits of a [`UnixctlServer`].
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Largest request accepted, in bytes (default 1 MiB).
    pub max_request: usize,
    /// Most connections served at once (default 64).
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_request: 1 << 20,
            max_connections: 64,
        }
    }
}

struct Command {
    usage: String,
    min_args: usize,
    max_args: usize,
    handler: Option<Handler>,
}

/// A unixctl server: a registry of commands, then [`UnixctlServer::serve`].
pub struct UnixctlServer {
    commands: BTreeMap<String, Command>,
    version: String,
    limits: ServerLimits,
}

impl std::fmt::Debug for UnixctlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixctlServer")
            .field("commands", &self.commands.keys().collect::<Vec<_>>())
            .field("version", &self.version)
            .finish()
    }
}

impl Default for UnixctlServer {
    fn default() -> Self {
        Self::new()
    }
}

/// The `version` reply for `program`: `PROGRAM (rvs) VERSION\n`, shaped
/// like OVS's `ovs-vswitchd (Open vSwitch) 3.1.0\n`.
pub fn version_text(program: &str) -> String {
    format!("{program} (rvs) {}\n", env!("CARGO_PKG_VERSION"))
}

impl UnixctlServer {
    /// A server with the built-ins (`help`, `list-commands`, `version`);
    /// `version` names the running program (its executable's file name).
    pub fn new() -> Self {
        let program = std::env::args()
            .next()
            .and_then(|a| {
                Path::new(&a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "rvs".to_owned());
        let mut s = UnixctlServer {
            commands: BTreeMap::new(),
            version: version_text(&program),
            limits: ServerLimits::default(),
        };
        for name in ["help", "list-commands", "version"] {
            s.commands.insert(
                name.to_owned(),
                Command {
                    usage: String::new(),
                    min_args: 0,
                    max_args: 0,
                    handler: None,
                },
            );
        }
        s
    }

    /// Sets the text `version` answers (see [`version_text`]).
    pub fn set_version(&mut self, text: impl Into<String>) {
        self.version = text.into();
    }

    /// Replaces the resource limits.
    pub fn set_limits(&mut self, limits: ServerLimits) {
        self.limits = limits;
    }

    /// Registers (or replaces) command `name` taking `min_args..=max_args`
    /// arguments; `usage` is shown by `list-commands`.
    pub fn register(
        &mut self,
        name: &str,
        usage: &str,
        min_args: usize,
        max_args: usize,
        h: Handler,
    ) {
        self.commands.insert(
            name.to_owned(),
            Command {
                usage: usage.to_owned(),
                min_args,
                max_args,
                handler: Some(h),
            },
        );
    }

    /// The names of the registered commands, sorted.
    pub fn command_names(&self) -> Vec<String> {
        self.commands.keys().cloned().collect()
    }

    fn list_commands(&self) -> String {
        let mut s = String::from("The available commands are:\n");
        for (name, c) in &self.commands {
            s.push_str(&format!("  {name:<23} {}\n", c.usage));
        }
        s
    }

    /// Checks `method`'s argument count and finds what to run: the reply
    /// of a built-in, or the handler (sans I/O; the server calls it).
    fn resolve(&self, method: &str, args: &[String]) -> Result<Resolved, String> {
        let Some(c) = self.commands.get(method) else {
            return Err(format!(
                "\"{method}\" is not a valid command (use \"list-commands\" to see a list of valid commands)"
            ));
        };
        if args.len() < c.min_args {
            return Err(format!(
                "\"{method}\" command requires at least {} arguments",
                c.min_args
            ));
        }
        if args.len() > c.max_args {
            return Err(format!(
                "\"{method}\" command takes at most {} arguments",
                c.max_args
            ));
        }
        match (&c.handler, method) {
            (Some(h), _) => Ok(Resolved::Run(h.clone())),
            (None, "version") => Ok(Resolved::Text(self.version.clone())),
            (None, _) => Ok(Resolved::Text(self.list_commands())),
        }
    }

    /// Runs `method` with `args` synchronously, as a request would (for
    /// tests and in-process use).
    pub fn dispatch(&self, method: &str, args: &[String]) -> Result<String, String> {
        match self.resolve(method, args)? {
            Resolved::Text(t) => Ok(t),
            Resolved::Run(h) => h(args),
        }
    }

    /// Binds the socket at `path` (removing a stale socket file first).
    pub fn bind(self, path: PathBuf) -> io::Result<BoundUnixctl> {
        if let Ok(md) = std::fs::symlink_metadata(&path) {
            use std::os::unix::fs::FileTypeExt;
            if md.file_type().is_socket() {
                let _ = std::fs::remove_file(&path);
            }
        }
        let listener = UnixListener::bind(&path)?;
        Ok(BoundUnixctl {
            server: Arc::new(self),
            listener,
            path,
        })
    }

    /// Binds `path` and serves until `shutdown` becomes true (or its
    /// sender is dropped); removes the socket file on the way out.
    pub async fn serve(
        self,
        path: PathBuf,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> io::Result<()> {
        self.bind(path)?.run(shutdown).await
    }
}

enum Resolved {
    Text(String),
    Run(Handler),
}

/// A server bound to its socket (see [`UnixctlServer::bind`]).
#[derive(Debug)]
pub struct BoundUnixctl {
    server: Arc<UnixctlServer>,
    listener: UnixListener,
    path: PathBuf,
}

impl BoundUnixctl {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts and serves connections until `shutdown` becomes true (or
    /// its sender is dropped), then removes the socket file.  Connections
    /// still open are closed after their current request.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) -> io::Result<()> {
        let slots = Arc::new(tokio::sync::Semaphore::new(
            self.server.limits.max_connections.max(1),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        let result = loop {
            if *shutdown.borrow() {
                break Ok(());
            }
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break Ok(()),
                },
                r = shutdown.changed() => {
                    if r.is_err() { break Ok(()); }
                    continue;
                }
            };
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                r = shutdown.changed() => {
                    if r.is_err() { break Ok(()); }
                    continue;
                }
            };
            // Reap finished connections so the set stays small.
            while tasks.try_join_next().is_some() {}
            match accepted {
                Ok((stream, _)) => {
                    let server = self.server.clone();
                    let stop = shutdown.clone();
                    tasks.spawn(async move {
                        if let Err(e) = serve_conn(server, stream, stop).await {
                            tracing::debug!("unixctl connection dropped: {e}");
                        }
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of descriptors and the like: log, back off, retry.
                    tracing::warn!("unixctl accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        };
        // Let connections finish the request they are on (an `exit`
        // reply must still reach its client), then close the rest.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tasks.abort_all();
        let _ = std::fs::remove_file(&self.path);
        result
    }
}

/// What went wrong with one connection (it is dropped).
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("request larger than {0} bytes")]
    TooLarge(usize),
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    #[error("not a JSON-RPC request")]
    NotRequest,
}

async fn serve_conn(
    server: Arc<UnixctlServer>,
    mut stream: UnixStream,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ConnError> {
    let max = server.limits.max_request;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // Handle every complete message already buffered.
        loop {
            let start = buf
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(buf.len());
            buf.drain(..start);
            if buf.is_empty() {
                break;
            }
            let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
            match it.next() {
                Some(Ok(v)) => {
                    let used = it.byte_offset();
                    buf.drain(..used);
                    if let Some(reply) = handle_message(&server, v).await? {
                        let mut out = serde_json::to_vec(&reply)
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        out.shrink_to_fit();
                        stream.write_all(&out).await?;
                    }
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => return Err(ConnError::Json(e)),
                None => break,
            }
        }
        if buf.len() > max {
            return Err(ConnError::TooLarge(max));
        }
        let n = tokio::select! {
            r = stream.read(&mut chunk) => r?,
            _ = shutdown.changed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        let Some(data) = chunk.get(..n) else {
            return Ok(());
        };
        buf.extend_from_slice(data);
        if buf.len() > max {
            return Err(ConnError::TooLarge(max));
        }
    }
}

/// One message: a request gets a reply; a notification runs without one;
/// anything else drops the connection.
async fn handle_message(server: &Arc<UnixctlServer>, v: Value) -> Result<Option<Value>, ConnError> {
    let Value::Object(mut m) = v else {
        return Err(ConnError::NotRequest);
    };
    let Some(Value::String(method)) = m.remove("method") else {
        return Err(ConnError::NotRequest);
    };
    let id = m.remove("id").unwrap_or(Value::Null);
    let args: Result<Vec<String>, String> = match m.remove("params") {
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|p| match p {
                Value::String(s) => Ok(s),
                other => Err(format!("command has non-string argument: {other}")),
            })
            .collect(),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) => Err("\"params\" is not an array".to_owned()),
    };
    let outcome = match args {
        Err(e) => Err(e),
        Ok(args) => match server.resolve(&method, &args) {
            Err(e) => Err(e),
            Ok(Resolved::Text(t)) => Ok(t),
            Ok(Resolved::Run(h)) => tokio::task::spawn_blocking(move || h(&args))
                .await
                .unwrap_or_else(|e| Err(format!("command failed: {e}"))),
        },
    };
    if id.is_null() {
        return Ok(None);
    }
    Ok(Some(match outcome {
        Ok(text) => json!({"id": id, "result": text, "error": null}),
        Err(text) => json!({"id": id, "error": text}),
    }))
}

/// Largest reply [`call`] accepts (a full flow dump can be large).
pub const MAX_REPLY: usize = 256 << 20;

/// Sends `method args` to the unixctl server at `path` and returns its
/// reply text; a server error is [`UnixctlError::Remote`].
pub async fn call(path: &Path, method: &str, args: &[String]) -> Result<String, UnixctlError> {
    let mut stream = UnixStream::connect(path)
        .await
        .map_err(|source| UnixctlError::Connect {
            path: path.to_owned(),
            source,
        })?;
    let req = json!({"id": 0, "method": method, "params": args});
    let bytes = serde_json::to_vec(&req).map_err(|e| UnixctlError::Protocol(e.to_string()))?;
    stream.write_all(&bytes).await?;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(UnixctlError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by peer",
            )));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() > MAX_REPLY {
            return Err(UnixctlError::Protocol(format!(
                "reply larger than {MAX_REPLY} bytes"
            )));
        }
        // A reply is one object: it can only be complete when the data
        // ends with `}` (this keeps a large reply from being re-parsed
        // after every read).
        if buf.iter().rev().find(|b| !b.is_ascii_whitespace()) != Some(&b'}') {
            continue;
        }
        let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) => return parse_reply(v),
            Some(Err(e)) if e.is_eof() => continue,
            Some(Err(e)) => return Err(UnixctlError::Protocol(e.to_string())),
            None => continue,
        }
    }
}

/// Interprets a reply object the way `ovs-appctl` does.
fn parse_reply(v: Value) -> Result<String, UnixctlError> {
    let Value::Object(m) = v else {
        return Err(UnixctlError::Protocol("reply is not an object".into()));
    };
    if m.get("id") != Some(&json!(0)) {
        return Err(UnixctlError::Protocol("reply id does not match".into()));
    }
    match (m.get("error"), m.get("result")) {
        (Some(Value::String(e)), _) => Err(UnixctlError::Remote(e.clone())),
        (Some(e), _) if !e.is_null() => Err(UnixctlError::Protocol(format!(
            "unexpected error type in JSON RPC reply: {}",
            json_type(e)
        ))),
        (_, Some(Value::String(r))) => Ok(r.clone()),
        (_, Some(r)) => Err(UnixctlError::Protocol(format!(
            "unexpected result type in JSON rpc reply: {}",
            json_type(r)
        ))),
        (_, None) => Err(UnixctlError::Protocol("reply has no result".into())),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> UnixctlServer {
        let mut s = UnixctlServer::new();
        s.set_version(version_text("rvs-test"));
        s.register(
            "test/echo",
            "[ARG...]",
            0,
            usize::MAX,
            Arc::new(|a: &[String]| Ok(format!("{}\n", a.join(" ")))),
        );
        s.register(
            "test/fail",
            "",
            0,
            0,
            Arc::new(|_: &[String]| Err("it failed\n".to_owned())),
        );
        s.register(
            "test/two",
            "A B",
            2,
            2,
            Arc::new(|a: &[String]| Ok(a.concat())),
        );
        s
    }

    /// A private directory for one test's socket, removed on Drop (also
    /// when the test fails).
    struct TmpDir(PathBuf);

    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp_sock(tag: &str) -> (PathBuf, TmpDir) {
        let d = std::env::temp_dir().join(format!("rvs-unixctl-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        (d.join("ctl"), TmpDir(d))
    }

    #[test]
    fn list_commands_has_ovs_layout() {
        let s = echo_server();
        let text = s.dispatch("list-commands", &[]).unwrap();
        assert!(text.starts_with("The available commands are:\n"));
        assert!(text.contains("\n  test/two                A B\n"), "{text}");
        assert!(text.contains("\n  version                 \n"), "{text}");
        assert_eq!(s.dispatch("help", &[]).unwrap(), text);
    }

    #[test]
    fn argument_counts_and_unknown_commands_use_ovs_messages() {
        let s = echo_server();
        assert_eq!(
            s.dispatch("test/two", &["a".into()]).unwrap_err(),
            "\"test/two\" command requires at least 2 arguments"
        );
        assert_eq!(
            s.dispatch("version", &["x".into()]).unwrap_err(),
            "\"version\" command takes at most 0 arguments"
        );
        assert_eq!(
            s.dispatch("nosuch", &[]).unwrap_err(),
            "\"nosuch\" is not a valid command (use \"list-commands\" to see a list of valid commands)"
        );
        assert_eq!(
            s.dispatch("version", &[]).unwrap(),
            version_text("rvs-test")
        );
    }

    #[test]
    fn reply_shapes_follow_ovs_appctl() {
        assert_eq!(
            parse_reply(json!({"id":0,"result":"x","error":null})).unwrap(),
            "x"
        );
        assert!(matches!(
            parse_reply(json!({"id":0,"error":"bad\n"})),
            Err(UnixctlError::Remote(t)) if t == "bad\n"
        ));
        assert!(matches!(
            parse_reply(json!({"id":0,"result":{"a":1}})),
            Err(UnixctlError::Protocol(_))
        ));
        assert!(matches!(
            parse_reply(json!({"id":0,"error":{"a":1}})),
            Err(UnixctlError::Protocol(_))
        ));
        assert!(matches!(
            parse_reply(json!({"id":7,"result":"x"})),
            Err(UnixctlError::Protocol(_))
        ));
    }

    async fn raw_exchange(path: &Path, bytes: &[u8], replies: usize) -> Vec<Value> {
        let mut s = UnixStream::connect(path).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while out.len() < replies {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "server closed early");
            buf.extend_from_slice(&chunk[..n]);
            let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
            let mut used = 0;
            while let Some(Ok(v)) = it.next() {
                used = it.byte_offset();
                out.push(v);
            }
            buf.drain(..used);
        }
        out
    }

    #[tokio::test]
    async fn serves_pipelined_requests_and_survives_bad_clients() {
        let (path, _dir) = tmp_sock("pipe");
        let mut server = echo_server();
        server.set_limits(ServerLimits {
            max_request: 4096,
            max_connections: 8,
        });
        let (tx, rx) = tokio::sync::watch::channel(false);
        let bound = server.bind(path.clone()).unwrap();
        let task = tokio::spawn(bound.run(rx));

        // Two requests in one write, no delimiter, plus one split in two.
        let replies = raw_exchange(
            &path,
            br#"{"id":1,"method":"test/echo","params":["a","b"]}{"id":2,"method":"test/fail","params":[]}"#,
            2,
        )
        .await;
        assert_eq!(replies[0], json!({"id":1,"result":"a b\n","error":null}));
        assert_eq!(replies[1], json!({"id":2,"error":"it failed\n"}));
        assert_eq!(
            serde_json::to_string(&replies[0]).unwrap(),
            r#"{"id":1,"result":"a b\n","error":null}"#
        );

        // Garbage: that connection is dropped.
        let mut bad = UnixStream::connect(&path).await.unwrap();
        bad.write_all(b"}}}not json").await.unwrap();
        let mut b = [0u8; 16];
        assert_eq!(bad.read(&mut b).await.unwrap(), 0);

        // Oversized request: dropped too, without a reply.
        let mut big = UnixStream::connect(&path).await.unwrap();
        let huge = format!(
            r#"{{"id":1,"method":"test/echo","params":["{}"#,
            "x".repeat(10_000)
        );
        let _ = big.write_all(huge.as_bytes()).await;
        assert_eq!(big.read(&mut b).await.unwrap_or(0), 0);

        // A non-string argument gets an error reply.
        let r = raw_exchange(&path, br#"{"id":"q","method":"test/echo","params":[1]}"#, 1).await;
        assert_eq!(r[0]["id"], json!("q"));
        assert!(r[0]["error"].as_str().unwrap().contains("non-string"));

        // Meanwhile a well-behaved client is still served.
        let text = call(&path, "test/echo", &["ok".into()]).await.unwrap();
        assert_eq!(text, "ok\n");
        let err = call(&path, "test/two", &[]).await.unwrap_err();
        assert!(matches!(err, UnixctlError::Remote(_)), "{err:?}");

        tx.send(true).unwrap();
        task.await.unwrap().unwrap();
        assert!(!path.exists(), "socket file removed on shutdown");
    }

    #[tokio::test]
    async fn large_replies_arrive_whole() {
        let (path, _dir) = tmp_sock("big");
        let mut server = echo_server();
        server.register(
            "test/big",
            "",
            0,
            0,
            Arc::new(|_: &[String]| Ok("0123456789abcde}\n".repeat(100_000))),
        );
        let (tx, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(server.bind(path.clone()).unwrap().run(rx));
        let text = call(&path, "test/big", &[]).await.unwrap();
        assert_eq!(text.len(), 17 * 100_000);
        assert!(text.ends_with("cde}\n"));
        tx.send(true).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn call_reports_missing_socket() {
        let (path, _dir) = tmp_sock("missing");
        let path = path.with_file_name("nothing-here");
        let e = call(&path, "version", &[]).await.unwrap_err();
        assert!(matches!(e, UnixctlError::Connect { .. }), "{e:?}");
    }

    fn program(name: &str) -> Option<PathBuf> {
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    }

    /// Real `ovs-appctl` against our server: the interop proof.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn real_ovs_appctl_talks_to_our_server() {
        let Some(appctl) = program("ovs-appctl") else {
            if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() == Ok("1") {
                eprintln!("skipped: ovs-appctl not installed");
                return;
            }
            panic!(
                "ovs-appctl not found (install openvswitch-common, or set RVS_SKIP_SYSTEM_TESTS=1)"
            );
        };
        let (path, _dir) = tmp_sock("ovs");
        let (tx, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(echo_server().bind(path.clone()).unwrap().run(rx));
        let run = |args: Vec<String>| {
            let appctl = appctl.clone();
            let mut full = vec![
                "-t".to_owned(),
                path.display().to_string(),
                "--timeout=10".into(),
            ];
            full.extend(args);
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(appctl)
                    .args(full)
                    .output()
                    .unwrap()
            })
        };
        let help = run(vec!["help".into()]).await.unwrap();
        assert!(help.status.success(), "{help:?}");
        let text = String::from_utf8(help.stdout).unwrap();
        assert!(text.starts_with("The available commands are:\n"), "{text}");
        assert!(text.contains("  test/echo               [ARG...]\n"));

        let echo = run(vec!["test/echo".into(), "a b".into(), "c\"d".into()])
            .await
            .unwrap();
        assert!(echo.status.success());
        assert_eq!(String::from_utf8(echo.stdout).unwrap(), "a b c\"d\n");

        let fail = run(vec!["test/fail".into()]).await.unwrap();
        assert_eq!(fail.status.code(), Some(2));
        let err = String::from_utf8(fail.stderr).unwrap();
        assert!(err.starts_with("it failed\n"), "{err}");
        assert!(err.contains("server returned an error"), "{err}");

        let few = run(vec!["test/two".into(), "x".into()]).await.unwrap();
        assert_eq!(few.status.code(), Some(2));
        assert!(
            String::from_utf8(few.stderr)
                .unwrap()
                .contains("requires at least 2 arguments")
        );

        let v = run(vec!["version".into()]).await.unwrap();
        assert_eq!(
            String::from_utf8(v.stdout).unwrap(),
            version_text("rvs-test")
        );

        tx.send(true).unwrap();
        task.await.unwrap().unwrap();
    }
}
