//! Running an OVSDB server for interop tests: the real `ovsdb-server` (the
//! reference) or our `rvs-ovsdb-server`, each in its own temporary
//! directory, stopped by its own PID when the guard drops.
//!
//! The same test script runs against both and the outputs of the real OVS
//! clients are compared after [`normalize_uuids`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::ovs::{Finished, find_program, require_program, run_with_timeout};

/// Which server implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Debian's `ovsdb-server`.
    Real,
    /// Our `rvs-ovsdb-server`.
    Rvs,
}

/// The Open_vSwitch schema shipped by `openvswitch-common`.
pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// Checks that the OVS programs a test needs exist. Returns false (after
/// printing "skipped") only under `RVS_SKIP_SYSTEM_TESTS=1`; otherwise a
/// missing program fails the test.
pub fn require_ovs(test: &str, programs: &[&str]) -> bool {
    programs.iter().all(|p| require_program(p, test).is_some())
}

/// Path of the `rvs-ovsdb-server` binary: `$RVS_OVSDB_SERVER`, or the one
/// next to this test executable's target directory (built on demand with
/// cargo when missing).
pub fn rvs_server_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("RVS_OVSDB_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test-exe>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?
        .to_path_buf();
    let bin = profile_dir.join("rvs-ovsdb-server");
    let target_dir = profile_dir.parent().context("no target dir")?.to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    // Always (re)build: cargo is a no-op when it is current, and a stale
    // binary would test old code.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "rvs-tools",
        "--bin",
        "rvs-ovsdb-server",
    ])
    .env("CARGO_TARGET_DIR", &target_dir)
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let st = cmd
        .status()
        .context("running cargo build for rvs-ovsdb-server")?;
    if !st.success() {
        bail!("building rvs-ovsdb-server failed");
    }
    if !bin.exists() {
        bail!("{} missing after build", bin.display());
    }
    Ok(bin)
}

/// A private directory removed on drop (named `rvst-ovsdb-<pid>-<n>`; kept
/// with `RVS_E2E_KEEP=1`, see [`crate::vswitchd_support::Scratch`]).
#[derive(Debug)]
pub struct TempDir(crate::vswitchd_support::Scratch);

impl TempDir {
    /// Creates a fresh directory under the system temporary directory.
    pub fn new() -> Result<TempDir> {
        crate::vswitchd_support::Scratch::new("rvst-ovsdb").map(TempDir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A running server in a private temporary directory.
#[derive(Debug)]
pub struct Server {
    /// Which implementation.
    pub kind: Kind,
    /// Private directory (database, socket, log).
    pub dir: TempDir,
    /// The Unix socket clients connect to.
    pub sock: PathBuf,
    /// The database file.
    pub db: PathBuf,
    child: Option<Child>,
    extra_args: Vec<String>,
}

impl Server {
    /// Creates a fresh database and starts `kind` on it.
    pub fn start(kind: Kind) -> Result<Server> {
        Server::start_with(kind, &[])
    }

    /// Like [`Server::start`], with extra server arguments.
    pub fn start_with(kind: Kind, extra: &[&str]) -> Result<Server> {
        let dir = TempDir::new()?;
        let db = dir.path().join("conf.db");
        let sock = dir.path().join("db.sock");
        if kind == Kind::Real {
            let tool = find_program("ovsdb-tool").context("ovsdb-tool not found")?;
            let f = run_with_timeout(
                &tool,
                &[
                    "create".into(),
                    db.display().to_string(),
                    VSWITCH_SCHEMA.into(),
                ],
                Duration::from_secs(20),
            )?;
            if !f.status.success() {
                bail!("ovsdb-tool create: {}", f.stderr);
            }
        }
        let mut s = Server {
            kind,
            dir,
            sock,
            db,
            child: None,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn()?;
        Ok(s)
    }

    /// (Re)starts the server process on the existing database.
    pub fn spawn(&mut self) -> Result<()> {
        let bin = match self.kind {
            Kind::Real => find_program("ovsdb-server").context("ovsdb-server not found")?,
            Kind::Rvs => rvs_server_bin()?,
        };
        let _ = std::fs::remove_file(&self.sock);
        let log = self.dir.path().join("server.log");
        let child = Command::new(bin)
            .arg(&self.db)
            .arg(format!("--remote=punix:{}", self.sock.display()))
            .arg(format!("--log-file={}", log.display()))
            .arg(format!(
                "--unixctl={}",
                self.dir.path().join("ctl").display()
            ))
            .arg("-vconsole:off")
            .arg("--no-chdir")
            .args(&self.extra_args)
            .env("OVS_RUNDIR", self.dir.path())
            .env("OVS_DBDIR", self.dir.path())
            .env("OVS_LOGDIR", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning server")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.sock.exists() {
            if let Some(st) = self
                .child
                .as_mut()
                .map(Child::try_wait)
                .transpose()?
                .flatten()
            {
                bail!(
                    "{:?} server exited at start ({st}); log: {}",
                    self.kind,
                    self.log()
                );
            }
            if Instant::now() > deadline {
                bail!("{:?} server did not create its socket", self.kind);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The server's PID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server with SIGKILL (by its PID) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server with SIGTERM and waits (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // The `kill` program keeps this crate free of unsafe libc calls.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `unix:SOCK`.
    pub fn remote(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    /// Runs `ovs-vsctl --db=unix:SOCK --no-wait ARGS`.
    pub fn vsctl(&self, args: &[&str]) -> Result<Finished> {
        let prog = find_program("ovs-vsctl").context("ovs-vsctl not found")?;
        let mut a = vec![
            format!("--db={}", self.remote()),
            "--no-wait".into(),
            "--timeout=20".into(),
        ];
        a.extend(args.iter().map(|s| s.to_string()));
        run_with_timeout(&prog, &a, Duration::from_secs(30))
    }

    /// Runs `ovsdb-client ARGS` where `@REMOTE@` in an argument becomes the remote.
    pub fn client(&self, args: &[&str]) -> Result<Finished> {
        let prog = find_program("ovsdb-client").context("ovsdb-client not found")?;
        let a: Vec<String> = args
            .iter()
            .map(|s| s.replace("@REMOTE@", &self.remote()))
            .collect();
        run_with_timeout(&prog, &a, Duration::from_secs(30))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Replaces every UUID by `<N>`, numbered by order of first appearance,
/// so outputs of two servers (which pick different UUIDs) compare equal.
pub fn normalize_uuids(s: &str) -> String {
    let mut map: HashMap<String, usize> = HashMap::new();
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let is_hex = |c: u8| c.is_ascii_hexdigit();
    while i < b.len() {
        if i + 36 <= b.len() && looks_like_uuid(&b[i..i + 36], is_hex) {
            let u = &s[i..i + 36];
            let n = map.len();
            let id = *map.entry(u.to_string()).or_insert(n);
            out.push_str(&format!("<{id}>"));
            i += 36;
        } else {
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn looks_like_uuid(b: &[u8], is_hex: impl Fn(u8) -> bool) -> bool {
    b.iter().enumerate().all(|(i, &c)| {
        if matches!(i, 8 | 13 | 18 | 23) {
            c == b'-'
        } else {
            is_hex(c)
        }
    })
}

/// Sorts sibling blocks of an indented outline (such as `ovs-vsctl show`)
/// recursively, so outputs that list the same rows in different (UUID
/// hash) order compare equal while the nesting is still checked.
pub fn sort_outline(text: &str) -> String {
    fn indent(l: &str) -> usize {
        l.len() - l.trim_start().len()
    }
    fn render(lines: &[&str]) -> Vec<String> {
        // Split into blocks: a line and every following more-indented line.
        let mut blocks: Vec<String> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let head = lines[i];
            let d = indent(head);
            let mut j = i + 1;
            while j < lines.len() && indent(lines[j]) > d {
                j += 1;
            }
            let mut b = vec![head.to_string()];
            b.extend(render(&lines[i + 1..j]));
            blocks.push(b.join("\n"));
            i = j;
        }
        blocks.sort();
        blocks
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    render(&lines).join("\n")
}
