//! `--detach` for the rvs daemons, shared by `rvs-vswitchd` and
//! `rvs-ovsdb-server`.
//!
//! The parent starts a copy of itself without `--detach`, in its own
//! process group, with no inherited standard descriptors (a caller that
//! captures the parent's output must see EOF when it returns), and waits
//! until the child reports, through files named in an environment
//! variable, that it is ready ([`report_ready`]) or why it failed
//! ([`report_failure`]): the failure text comes back to the parent, which
//! prints it and exits non-zero, as `ovs-vswitchd --detach` does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Runs this program again without `--detach` and returns once the copy is
/// ready.  `ready_env` names the variable that carries the ready file's
/// path to the child; `program` is used in messages.
pub fn detach(argv: &[String], ready_env: &str, program: &str, timeout: Duration) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let ready = std::env::temp_dir().join(format!("{program}-ready-{}", std::process::id()));
    let err_file = failure_file(&ready);
    let _ = std::fs::remove_file(&ready);
    let _ = std::fs::remove_file(&err_file);
    let args: Vec<&String> = argv.iter().filter(|a| a.as_str() != "--detach").collect();
    let mut child = Command::new(exe)
        .args(args)
        .env(ready_env, &ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ready.exists() {
            let _ = std::fs::remove_file(&ready);
            return Ok(());
        }
        if let Some(st) = child.try_wait()? {
            let why = std::fs::read_to_string(&err_file).unwrap_or_default();
            let _ = std::fs::remove_file(&err_file);
            bail!("exited during startup ({st}): {}", why.trim());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{program} did not become ready in {} s", timeout.as_secs())
}

/// In a detached child: tells the waiting parent that start-up is done.
/// Does nothing when not started by [`detach`].
pub fn report_ready(ready_env: &str) {
    if let Some(r) = std::env::var_os(ready_env) {
        let _ = std::fs::write(Path::new(&r), b"ready\n");
    }
}

/// In a detached child: hands the parent the reason start-up failed.
/// Does nothing when not started by [`detach`].
pub fn report_failure(ready_env: &str, msg: &str) {
    if let Some(r) = std::env::var_os(ready_env) {
        let _ = std::fs::write(failure_file(Path::new(&r)), format!("{msg}\n"));
    }
}

fn failure_file(ready: &Path) -> PathBuf {
    ready.with_extension("err")
}
