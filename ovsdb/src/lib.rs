//! OVSDB (RFC 7047) for rvs: schema, data, transactions, log storage,
//! monitors, and the JSON-RPC 1.0 server and client.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
pub mod condition;
pub mod data;
pub mod db;
pub mod error;
pub mod jsonrpc;
pub mod lock;
pub mod log;
pub mod mutation;
mod parser;
pub mod remote;
pub mod schema;
pub mod txn;
pub mod vswitch;

pub use data::{Atom, Datum, Row};
pub use db::Database;
pub use error::Error;
pub use log::LogFile;
pub use parser::is_id;
pub use schema::{AtomicType, BaseType, ColumnSchema, DatabaseSchema, RefType, TableSchema, Type};
pub use txn::{Commit, RowChange, TxnOutcome, TxnParams};
pub use vswitch::vswitch_schema;
pub mod client;
pub mod embed;
pub mod monitor;
pub mod server;
pub mod server_db;
