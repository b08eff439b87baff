//! Helpers for rvs end-to-end tests: real OVS tools, namespaces, daemons.

pub mod ovs;
pub mod ovsdb_support;
pub mod topo;
pub mod vectors;
pub mod vswitchd_support;
