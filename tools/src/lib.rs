//! Shared code of the rvs command-line tools and daemons.
//!
//! - [`vswitchd`]: the `rvs-vswitchd` daemon's bridge glue (OVSDB to bridges).
//! - [`ofctl`], [`vsctl`]: `rvs-ofctl` and `rvs-vsctl`, ovs-ofctl's and
//!   ovs-vsctl's command lines.
//! - [`detach`]: `--detach` for the daemons.
//! - [`unixctl`] and [`appctl`]: the control-socket protocol and the
//!   `rvs-appctl` commands the daemon serves.
pub mod appctl;
pub mod detach;
pub mod ofctl;
pub mod unixctl;
pub mod vsctl;
pub mod vswitchd;
