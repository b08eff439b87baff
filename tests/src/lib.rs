//! Helpers for rvs end-to-end tests: real OVS tools, namespaces, daemons.
