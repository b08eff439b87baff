//! The OpenFlow 1.3.5 wire codec: bytes to typed messages and back, no I/O.
#![allow(missing_docs)] // TODO(codec helpers): remove once every item is documented

pub mod codec;
pub mod consts;
pub mod error;

pub mod oxm;
pub mod action;
pub mod instruction;

pub mod message;
pub mod multipart;
pub mod table_features;
pub mod framing;

pub use error::{ErrorType, OfpError};
