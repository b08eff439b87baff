//! Running `rvs-vswitchd` from tests.
//!
//! - [`rvs_bin`]: path of an rvs binary (environment override, else built
//!   next to the test executable with cargo, once per test process).
//! - [`Vswitchd`]: the daemon with its embedded database in a private
//!   temporary run/db directory, optionally inside a network namespace,
//!   started by PID and stopped (SIGTERM, then SIGKILL) on Drop.  Helpers
//!   run the unchanged `ovs-vsctl` / `ovs-ofctl` / `ovs-appctl` with
//!   `OVS_RUNDIR` pointing at it.
//!
//! Everything is bounded: starting waits at most 30 s, every tool runs
//! with a deadline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::ovs::{Finished, find_program, run_with_timeout};

/// Deadline of one tool invocation.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable that overrides the path of binary `name`
/// (`rvs-vswitchd` -> `RVS_VSWITCHD`, ...).
pub fn bin_env_var(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// Path of rvs binary `name` (`rvs-vswitchd`, `rvs-ofctl`, `rvs-vsctl`,
/// `rvs-appctl`, `rvs-ovsdb-server`): `$RVS_VSWITCHD` (etc.) if set, else
/// the binary in this test executable's target directory, (re)built with
/// cargo on first use in this process.
pub fn rvs_bin(name: &str) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(bin_env_var(name)) {
        return Ok(PathBuf::from(p));
    }
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.as_ref().and_then(|m| m.get(name)) {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test-exe>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?
        .to_path_buf();
    let bin = profile_dir.join(name);
    let target_dir = profile_dir.parent().context("no target dir")?.to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "rvs-tools", "--bin", name])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let st = cmd
        .status()
        .with_context(|| format!("running cargo build for {name}"))?;
    if !st.success() {
        bail!("building {name} failed");
    }
    if !bin.exists() {
        bail!("{} missing after build", bin.display());
    }
    built
        .get_or_insert_with(HashMap::new)
        .insert(name.to_string(), bin.clone());
    Ok(bin)
}

/// A private temporary directory, removed on Drop (kept with
/// `RVS_E2E_KEEP=1`, to read logs).
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Creates `<tmp>/<prefix>-<pid>-<n>`.
    pub fn new(prefix: &str) -> Result<Scratch> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(Scratch(p))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var("RVS_E2E_KEEP").is_ok_and(|v| v == "1") {
            eprintln!("keeping {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `rvs-vswitchd` with its embedded database.
#[derive(Debug)]
pub struct Vswitchd {
    /// Private directory: `run/` (sockets), `db/` (database, flows), log.
    pub dir: Scratch,
    /// The namespace it runs in (`None`: the caller's).
    pub netns: Option<String>,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Vswitchd {
    /// Starts the daemon (in network namespace `netns` if given) with a
    /// fresh database and waits until `db.sock` answers.
    pub fn start(netns: Option<&str>) -> Result<Vswitchd> {
        Self::start_with(netns, &[])
    }

    /// Like [`Vswitchd::start`] with extra daemon arguments.
    pub fn start_with(netns: Option<&str>, extra: &[&str]) -> Result<Vswitchd> {
        let dir = Scratch::new("rvst-vswitchd")?;
        std::fs::create_dir_all(dir.path().join("run"))?;
        std::fs::create_dir_all(dir.path().join("db"))?;
        let mut v = Vswitchd {
            dir,
            netns: netns.map(str::to_string),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        v.spawn()?;
        Ok(v)
    }

    /// The run directory (`OVS_RUNDIR` for the tools).
    pub fn rundir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The database directory.
    pub fn dbdir(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    /// The log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("rvs-vswitchd.log")
    }

    /// The unixctl socket.
    pub fn ctl_path(&self) -> PathBuf {
        self.rundir().join("rvs-vswitchd.ctl")
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The daemon's PID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// (Re)starts the daemon on the existing directories; returns once the
    /// database socket exists and the process runs.
    pub fn spawn(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("already running");
        }
        let bin = rvs_bin("rvs-vswitchd")?;
        let sock = self.rundir().join("db.sock");
        let _ = std::fs::remove_file(&sock);
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new(find_program("ip").context("`ip` not found")?);
                c.args(["netns", "exec", ns]).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.arg(format!("--rundir={}", self.rundir().display()))
            .arg(format!("--dbdir={}", self.dbdir().display()))
            .arg(format!("--log-file={}", self.log_path().display()))
            .arg(format!("--unixctl={}", self.ctl_path().display()))
            .arg(format!(
                "--pidfile={}",
                self.rundir().join("rvs-vswitchd.pid").display()
            ))
            .arg("-vconsole:off")
            .args(&self.extra)
            .env("OVS_RUNDIR", self.rundir())
            .env("OVS_DBDIR", self.dbdir())
            .env("OVS_LOGDIR", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().context("spawning rvs-vswitchd")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        // The pidfile is written once the daemon has applied the database.
        let pidfile = self.rundir().join("rvs-vswitchd.pid");
        while !(sock.exists() && pidfile.exists()) {
            if let Some(st) = self
                .child
                .as_mut()
                .map(Child::try_wait)
                .transpose()?
                .flatten()
            {
                self.child = None;
                bail!("rvs-vswitchd exited at start ({st}); log:\n{}", self.log());
            }
            if Instant::now() > deadline {
                bail!("rvs-vswitchd did not start in 30 s; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Stops the daemon with SIGTERM and waits (SIGKILL after 15 s).
    /// Returns whether it exited by itself.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the daemon with SIGKILL (by PID) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn tool(&self, program: &str, args: &[&str]) -> Result<Finished> {
        let prog = find_program(program).with_context(|| format!("`{program}` not found"))?;
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        // run_with_timeout does not take an environment: go through env(1).
        let env = find_program("env").context("`env` not found")?;
        let mut ea = vec![
            format!("OVS_RUNDIR={}", self.rundir().display()),
            format!("OVS_DBDIR={}", self.dbdir().display()),
            format!("OVS_LOGDIR={}", self.dir.path().display()),
            prog.display().to_string(),
        ];
        ea.extend(a);
        run_with_timeout(&env, &ea, TOOL_TIMEOUT)
    }

    /// Runs the unchanged `ovs-vsctl ARGS` (with `--timeout=20`).
    pub fn vsctl(&self, args: &[&str]) -> Result<Finished> {
        let mut a = vec!["--timeout=20"];
        a.extend_from_slice(args);
        self.tool("ovs-vsctl", &a)
    }

    /// Runs `ovs-vsctl ARGS` and fails unless it exits 0; returns stdout.
    pub fn vsctl_ok(&self, args: &[&str]) -> Result<String> {
        let f = self.vsctl(args)?;
        if !f.status.success() {
            bail!(
                "ovs-vsctl {} failed ({}): {}\nlog:\n{}",
                args.join(" "),
                f.status,
                f.stderr.trim(),
                self.log()
            );
        }
        Ok(f.stdout)
    }

    /// Runs the unchanged `ovs-ofctl -O OpenFlow13 ARGS`.
    pub fn ofctl(&self, args: &[&str]) -> Result<Finished> {
        let mut a = vec!["-O", "OpenFlow13"];
        a.extend_from_slice(args);
        self.tool("ovs-ofctl", &a)
    }

    /// Runs `ovs-ofctl -O OpenFlow13 ARGS` and fails unless it exits 0.
    pub fn ofctl_ok(&self, args: &[&str]) -> Result<String> {
        let f = self.ofctl(args)?;
        if !f.status.success() {
            bail!(
                "ovs-ofctl {} failed ({}): {}",
                args.join(" "),
                f.status,
                f.stderr.trim()
            );
        }
        Ok(f.stdout)
    }

    /// Runs the unchanged `ovs-appctl -t <ctl socket> ARGS`.
    pub fn appctl(&self, args: &[&str]) -> Result<Finished> {
        let t = self.ctl_path().display().to_string();
        let mut a = vec!["-t", t.as_str()];
        a.extend_from_slice(args);
        self.tool("ovs-appctl", &a)
    }
}

impl Drop for Vswitchd {
    fn drop(&mut self) {
        if !self.stop() {
            eprintln!("rvs-vswitchd did not stop on SIGTERM; killed");
        }
    }
}
