//! OpenFlow 1.3 for rvs.
//!
//! - [`wire`]: the sans-IO codec (bytes to typed messages and back).
//!
//! Later layers (flow tables, pipeline, translation into datapath actions,
//! controller channels) build on the codec and live in their own modules.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod wire;
pub mod classifier;
pub mod match_key;
pub mod flow_table;
pub mod flow_text;
pub mod xlate;
pub mod normal;
pub mod switch;
