//! OpenFlow 1.3 for rvs.
//!
//! Layers, bottom up (each module opens with an essay on its contract):
//!
//! - [`wire`]: the sans-IO codec (bytes to typed messages and back).
//! - [`flow_text`]: the ovs-ofctl flow syntax, parser and printer.
//! - [`match_key`]: OXM matches to and from the datapath's `FlowKey`/`FlowMask`.
//! - [`classifier`]: priority tuple-space search that reports the wildcard
//!   mask it consulted; [`flow_table`]: one OpenFlow table.
//! - [`switch`]: the in-memory switch answering every OpenFlow request;
//!   [`service`]: the trait the controller channels drive a switch through.
//! - [`xlate`] and [`normal`]: the pipeline run on a flow key, producing
//!   datapath actions and a megaflow mask; NORMAL MAC learning;
//!   [`trace`]: the same run explained step by step (`ofproto/trace`).
//! - [`bridge`]: a switch wired to a datapath (snapshots of double-buffered
//!   tables, targeted revalidation before barrier replies, counters, meters,
//!   packet-ins);
//!   [`buffers`]: the optional packet-in buffer pool.
//! - [`channel`]: controller connections, roles, asynchronous messages and
//!   their limits (the tokio layer around a [`service::OpenFlowSwitch`]);
//!   [`bundle`]: the ONF bundle extension's messages and per-connection
//!   state (committed bundles are applied by the switch, atomically).
//!
//! The daemon that wires bridges to ports and OVSDB is `rvs-vswitchd` in
//! the `rvs-tools` crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bridge;
pub mod buffers;
pub mod bundle;
pub mod channel;
pub mod classifier;
pub mod flow_table;
pub mod flow_text;
pub mod match_key;
pub mod normal;
pub mod service;
pub mod switch;
pub mod trace;
pub mod wire;
pub mod xlate;
