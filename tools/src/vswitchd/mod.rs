//! `rvs-vswitchd`: the daemon that turns the `Open_vSwitch` database into
//! running bridges.
//!
//! One process: the embedded OVSDB server (or, in drop-in mode, a client
//! of an external one), one [`ofproto::bridge::OfBridge`] per bridge with
//! its controller channels and `<rundir>/<bridge>.mgmt` listener, and the
//! unixctl server.
//!
//! - [`args`]: the command line;
//! - [`db`]: the monitor-fed replica of the database and write-back;
//! - [`model`]: the configuration read out of the replica;
//! - [`persist`]: OpenFlow state kept across restarts;
//! - [`switchd`]: the reconciler (bridges, ports, channels, write-back);
//! - [`daemon`]: the process (flags, detach, signals, unixctl, main loop).

pub mod args;
pub mod daemon;
pub mod db;
pub mod model;
pub mod persist;
pub mod switchd;
