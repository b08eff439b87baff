//! `rvs-vsctl`: configure rvs (or Open vSwitch) through its OVSDB
//! database with ovs-vsctl's commands and output. See docs/rvs-vsctl.md.
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(rvs_tools::vsctl::main_with_args(args));
}
