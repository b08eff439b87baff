//! rvs userspace datapath: packets, flow keys, caches, actions and ports.
//!
//! Knows nothing of OpenFlow or OVSDB.  Only the `sys` module may use
//! `unsafe`, and every block there carries a `// SAFETY:` comment.
#![deny(unsafe_code)]
#![warn(missing_docs)]
