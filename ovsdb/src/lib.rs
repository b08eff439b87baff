//! OVSDB (RFC 7047) for rvs: schema, data, transactions, log storage,
//! monitors, and the JSON-RPC 1.0 server and client.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
