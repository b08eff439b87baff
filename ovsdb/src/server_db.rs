//! The `_Server` database: one read-only `Database` table describing each
//! database the server serves (ovsdb-server(5)). Clients such as the OVS
//! IDL monitor it to learn whether a database is connected and whether its
//! schema changed.
//!
//! Columns as OVS 3.1 has them: `name`, `model` (`standalone`, `clustered`
//! or `relay`), `connected`, `leader`, `schema` (the schema JSON as a
//! string), and the cluster-only `cid`, `sid`, `index`, which stay empty for
//! standalone databases.

use serde_json::{Value, json};

use crate::error::Error;
use crate::schema::DatabaseSchema;

/// Name of the server's own database.
pub const SERVER_DB: &str = "_Server";

/// The `_Server` schema as JSON (version 1.2.0).
pub fn server_schema_json() -> Value {
    json!({
        "name": SERVER_DB,
        "version": "1.2.0",
        "cksum": "3009684573 744",
        "tables": {
            "Database": {
                "columns": {
                    "name": {"type": "string"},
                    "model": {"type": {"key": {"type": "string",
                        "enum": ["set", ["clustered", "relay", "standalone"]]}}},
                    "connected": {"type": "boolean"},
                    "leader": {"type": "boolean"},
                    "schema": {"type": {"key": {"type": "string"}, "min": 0, "max": 1}},
                    "cid": {"type": {"key": {"type": "uuid"}, "min": 0, "max": 1}},
                    "sid": {"type": {"key": {"type": "uuid"}, "min": 0, "max": 1}},
                    "index": {"type": {"key": {"type": "integer"}, "min": 0, "max": 1}}
                },
                "isRoot": true
            }
        }
    })
}

/// The parsed `_Server` schema.
pub fn server_schema() -> Result<DatabaseSchema, Error> {
    DatabaseSchema::from_json(&server_schema_json())
}

/// The `insert` operation describing a standalone database `name` with
/// schema `schema` (as ovsdb-server fills the row).
pub fn database_row_insert(name: &str, schema: &Value) -> Value {
    json!({
        "op": "insert",
        "table": "Database",
        "row": {
            "name": name,
            "model": "standalone",
            "connected": true,
            "leader": true,
            "schema": crate::error::json_to_sorted_string(schema),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_schema_parses_and_round_trips_columns() {
        let s = server_schema().expect("valid schema");
        let t = s.table("Database").expect("Database table");
        for c in [
            "name",
            "model",
            "connected",
            "leader",
            "schema",
            "cid",
            "sid",
            "index",
        ] {
            assert!(t.columns.contains_key(c), "{c}");
        }
    }
}
