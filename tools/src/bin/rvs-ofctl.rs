//! `rvs-ofctl`: the `ovs-ofctl` command line for OpenFlow 1.3 switches
//! (see `docs/rvs-ofctl.md` and `rvs-ofctl --help`).
//!
//! Exit status: 0 on success, 1 on errors (the message on standard
//! error), 2 when `diff-flows` found differences.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use rvs_tools::ofctl::{self, OfctlError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match ofctl::run(&args, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match &e {
                OfctlError::Switch(text) => eprint!("{text}"),
                OfctlError::Differences | OfctlError::OutputClosed => {}
                OfctlError::Timeout => eprintln!("rvs-ofctl: timeout"),
                other => eprintln!("rvs-ofctl: {other}"),
            }
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
