//! rvs userspace datapath: packets, flow keys, caches, actions and ports.
//!
//! Knows nothing of OpenFlow or OVSDB.  Only the `sys` module may use
//! `unsafe`, and every block there carries a `// SAFETY:` comment.
#![deny(unsafe_code)]
#![warn(missing_docs)]
pub mod sys;
pub mod port;
pub mod packet;
pub mod wire;
pub mod flow;
pub mod csum;
pub mod actions;
pub mod emc;
pub mod megaflow;
pub mod upcall;
pub mod pmd;
pub mod dpif;
