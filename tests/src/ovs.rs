//! Running the real Open vSwitch command-line tools from tests.
//!
//! - [`require_program`] finds a tool (`ovs-ofctl`, ...) or fails the test with
//!   a clear message, unless `RVS_SKIP_SYSTEM_TESTS=1` asks to skip.
//! - [`ofp_print`] runs `ovs-ofctl ofp-print HEX` on a message we encoded.
//! - [`capture_ofctl`] plays an OpenFlow switch on 127.0.0.1 (an ephemeral
//!   port), runs `ovs-ofctl <args>` against it and records every OpenFlow
//!   message the tool sends.  What the "switch" answers is decided by the
//!   caller's responder, so tests can answer with messages built by our codec.
//!
//! Everything here is bounded: every connection, read and child process has a
//! deadline, a message is at most 64 KiB (the OpenFlow length field), and the
//! child is killed by its own PID if it outlives its deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// Environment variable that turns missing system programs into skips.
pub const SKIP_ENV: &str = "RVS_SKIP_SYSTEM_TESTS";

/// Placeholder in [`capture_ofctl`] arguments replaced by `tcp:127.0.0.1:PORT`.
pub const TARGET: &str = "{target}";

/// True when `RVS_SKIP_SYSTEM_TESTS=1` is set.
pub fn skip_system_tests() -> bool {
    std::env::var(SKIP_ENV).is_ok_and(|v| v == "1")
}

/// Looks `name` up in `PATH` (and the usual sbin directories).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds a required system program.
///
/// Returns `None` (after printing `skipped: ...`) only when
/// `RVS_SKIP_SYSTEM_TESTS=1`; otherwise a missing program panics with a
/// message saying what to install, so the test fails loudly.
pub fn require_program(name: &str, test: &str) -> Option<PathBuf> {
    match find_program(name) {
        Some(p) => Some(p),
        None if skip_system_tests() => {
            println!("skipped: {test}: `{name}` not found ({SKIP_ENV}=1)");
            None
        }
        None => panic!(
            "{test}: required program `{name}` not found in PATH; install the Debian \
             packages with `sudo tests/run-all.sh` (or set {SKIP_ENV}=1 to skip)"
        ),
    }
}

/// Output of a finished child process.
#[derive(Debug)]
pub struct Finished {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

/// Runs `program args...` with no stdin and a deadline.
pub fn run_with_timeout(program: &Path, args: &[String], timeout: Duration) -> Result<Finished> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {}", program.display()))?;
    wait_with_deadline(child, Instant::now() + timeout)
}

/// Waits for `child` (stdout/stderr piped) until `deadline`, killing it
/// (by its own PID) after.
pub fn wait_with_deadline(mut child: Child, deadline: Instant) -> Result<Finished> {
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let out = child.stdout.take().map(spawn_reader);
    let err = child.stderr.take().map(spawn_reader);
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "child pid {} did not exit before its deadline; killed",
                child.id()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    Ok(Finished {
        status,
        stdout: join(out),
        stderr: join(err),
    })
}

fn spawn_reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        // Bounded: a tool's output is far below this; stop keeping bytes after it.
        let mut buf = [0u8; 8192];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            if v.len() < 16 << 20 {
                v.extend_from_slice(&buf[..n]);
            }
        }
        v
    })
}

/// Runs `ovs-ofctl ofp-print HEX` and returns its standard output.
pub fn ofp_print(ofctl: &Path, msg: &[u8]) -> Result<String> {
    let args = vec!["ofp-print".to_string(), hex::encode(msg)];
    let f = run_with_timeout(ofctl, &args, Duration::from_secs(10))?;
    if !f.status.success() {
        bail!("ovs-ofctl ofp-print failed ({}): {}", f.status, f.stderr);
    }
    Ok(f.stdout)
}

/// What one `ovs-ofctl` run sent to the fake switch.
#[derive(Debug)]
pub struct Capture {
    /// The arguments, with [`TARGET`] replaced.
    pub args: Vec<String>,
    /// Every complete OpenFlow message received, in order (all connections).
    pub messages: Vec<Vec<u8>>,
    /// How ovs-ofctl ended.
    pub finished: Finished,
}

/// Largest OpenFlow message (the 16-bit length field).
const MAX_MSG: usize = 0xffff;

/// Plays switch for one `ovs-ofctl` run.
///
/// `args` are passed to `ofctl`, with the argument equal to [`TARGET`]
/// replaced by `tcp:127.0.0.1:PORT`.  For every message received, `respond`
/// returns the complete messages (bytes) to send back.  The capture ends
/// when ovs-ofctl exits, or fails after `timeout`.
pub fn capture_ofctl(
    ofctl: &Path,
    args: &[&str],
    timeout: Duration,
    respond: &mut dyn FnMut(&[u8]) -> Vec<Vec<u8>>,
) -> Result<Capture> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let target = format!("tcp:{}", listener.local_addr()?);
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == TARGET {
                target.clone()
            } else {
                a.to_string()
            }
        })
        .collect();
    let deadline = Instant::now() + timeout;
    let mut child = Command::new(ofctl)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {}", ofctl.display()))?;
    let out = child.stdout.take().map(spawn_reader);
    let err = child.stderr.take().map(spawn_reader);

    let mut messages = Vec::new();
    // ovs-ofctl may open a second connection while the first stays open
    // (`show` does), so every connection is polled without blocking.
    let mut conns: Vec<Conn> = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut exited = None;
    loop {
        let mut idle = true;
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                stream.set_nodelay(true)?;
                conns.push(Conn {
                    stream,
                    buf: Vec::new(),
                    open: true,
                });
                idle = false;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("accept"),
        }
        for c in conns.iter_mut().filter(|c| c.open) {
            match c.poll(&mut messages, respond) {
                Ok(true) => idle = false,
                Ok(false) => {}
                Err(e) => {
                    c.open = false;
                    failure.get_or_insert(e);
                }
            }
        }
        if exited.is_some() && idle {
            // The child is gone and every socket has been drained.
            break;
        }
        if exited.is_none() {
            exited = child.try_wait()?;
        }
        if exited.is_none() && Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "ovs-ofctl {:?} still running after {:?}; killed pid {}",
                args,
                timeout,
                child.id()
            );
        }
        if idle {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let status = exited.ok_or_else(|| anyhow!("no exit status"))?;
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    let finished = Finished {
        status,
        stdout: join(out),
        stderr: join(err),
    };
    if let Some(e) = failure {
        return Err(e.context(format!(
            "serving ovs-ofctl {args:?}; stderr: {}",
            finished.stderr
        )));
    }
    Ok(Capture {
        args,
        messages,
        finished,
    })
}

/// One accepted connection of the fake switch.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    open: bool,
}

impl Conn {
    /// Reads what is available, answers every complete message.  Returns
    /// whether anything happened.
    fn poll(
        &mut self,
        messages: &mut Vec<Vec<u8>>,
        respond: &mut dyn FnMut(&[u8]) -> Vec<Vec<u8>>,
    ) -> Result<bool> {
        let mut chunk = [0u8; 16384];
        let got = match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.open = false;
                return Ok(true);
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.open = false;
                return Ok(true);
            }
            Err(e) => return Err(e).context("reading from ovs-ofctl"),
        };
        if self.buf.len() + got > 2 * MAX_MSG {
            bail!("peer sent more than two maximum-size messages without a complete one");
        }
        self.buf.extend_from_slice(&chunk[..got]);
        while self.buf.len() >= 8 {
            let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
            if len < 8 {
                bail!(
                    "peer sent a message with length {len} < 8: {}",
                    hex::encode(&self.buf)
                );
            }
            if self.buf.len() < len {
                break;
            }
            let msg: Vec<u8> = self.buf.drain(..len).collect();
            for reply in respond(&msg) {
                write_all_blocking(&mut self.stream, &reply)?;
            }
            messages.push(msg);
        }
        Ok(true)
    }
}

/// `write_all` on a non-blocking socket (replies are small; the peer reads).
fn write_all_blocking(stream: &mut TcpStream, mut data: &[u8]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => bail!("peer closed while we were writing"),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    bail!("peer did not read our reply within 5 s");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e)
                if e.kind() == ErrorKind::BrokenPipe || e.kind() == ErrorKind::ConnectionReset =>
            {
                // ovs-ofctl may close as soon as it has what it wanted.
                return Ok(());
            }
            Err(e) => return Err(e).context("writing a reply"),
        }
    }
    Ok(())
}
