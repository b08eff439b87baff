//! rvs userspace datapath: packets, flow keys, caches, actions and ports.
//!
//! Knows nothing of OpenFlow or OVSDB.  Only the `sys` module may use
//! `unsafe`, and every block there carries a `// SAFETY:` comment.
#![deny(unsafe_code)]
#![warn(missing_docs)]
pub mod actions;
pub mod csum;
pub mod dpif;
pub mod emc;
pub mod flow;
pub mod megaflow;
pub mod packet;
pub mod pmd;
pub mod port;
pub mod sys;
pub mod upcall;
pub mod wire;
