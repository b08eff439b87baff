//! `rvs-vswitchd`: the rvs switch daemon, a drop-in for `ovs-vswitchd`
//! with its OVSDB server built in.  See `rvs_tools::vswitchd`.

fn main() {
    rvs_tools::vswitchd::daemon::main()
}
