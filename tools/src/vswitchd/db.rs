//! The daemon's view of the `Open_vSwitch` database: a monitor-fed replica
//! of the tables it reads, and transactions for what it writes back.
//!
//! Both modes use the same JSON-RPC client: in embedded mode it talks to
//! the in-process server through an in-memory stream
//! ([`ovsdb::embed::ServerHandle::serve_stream`]), in drop-in mode to the
//! external server's socket.  Values are kept in RFC 7047 JSON notation;
//! the helpers here read atoms, sets and maps out of it.

use std::collections::BTreeMap;

use ovsdb::client::{Client, ClientError};
use ovsdb::jsonrpc::Msg;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

/// The database name.
pub const DB: &str = "Open_vSwitch";

/// Tables the daemon monitors (all columns).
pub const TABLES: &[&str] = &[
    "Open_vSwitch",
    "Bridge",
    "Port",
    "Interface",
    "Controller",
    "Manager",
];

/// One row: column name to RFC 7047 JSON datum.
pub type RowJson = Map<String, Value>;

/// Table name to (row UUID to row).
#[derive(Debug, Default, Clone)]
pub struct Replica {
    /// The tables.
    pub tables: BTreeMap<String, BTreeMap<String, RowJson>>,
}

impl Replica {
    /// Applies a `monitor` table-updates object (`{table: {uuid: {"old":
    /// .., "new": ..}}}`; a missing `new` deletes the row).  Malformed parts
    /// are skipped.
    pub fn apply(&mut self, updates: &Value) {
        let Some(tables) = updates.as_object() else {
            return;
        };
        for (table, rows) in tables {
            let Some(rows) = rows.as_object() else {
                continue;
            };
            let t = self.tables.entry(table.clone()).or_default();
            for (uuid, upd) in rows {
                match upd.get("new").and_then(Value::as_object) {
                    Some(new) => {
                        t.insert(uuid.clone(), new.clone());
                    }
                    None => {
                        t.remove(uuid);
                    }
                }
            }
        }
    }

    /// A table's rows (empty if unknown).
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&String, &RowJson)> {
        self.tables.get(table).into_iter().flatten()
    }

    /// One row.
    pub fn row(&self, table: &str, uuid: &str) -> Option<&RowJson> {
        self.tables.get(table)?.get(uuid)
    }
}

/// The elements of a datum: a set's members, or the datum itself when it
/// is a bare atom.
pub fn set_elems(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => Vec::new(),
        Some(Value::Array(a)) if a.first().and_then(Value::as_str) == Some("set") => a
            .get(1)
            .and_then(Value::as_array)
            .map(|s| s.iter().collect())
            .unwrap_or_default(),
        Some(other) => vec![other],
    }
}

/// A UUID atom's text.
pub fn uuid_atom(v: &Value) -> Option<&str> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::String(u)]) if tag.as_str() == Some("uuid") => Some(u),
        _ => None,
    }
}

/// A string column (or a 0/1 set of strings).
pub fn str_col<'a>(row: &'a RowJson, col: &str) -> Option<&'a str> {
    set_elems(row.get(col)).first().and_then(|v| v.as_str())
}

/// An integer column (or a 0/1 set of integers).
pub fn int_col(row: &RowJson, col: &str) -> Option<i64> {
    set_elems(row.get(col)).first().and_then(|v| v.as_i64())
}

/// A boolean column (or a 0/1 set of booleans).
pub fn bool_col(row: &RowJson, col: &str) -> Option<bool> {
    set_elems(row.get(col)).first().and_then(|v| v.as_bool())
}

/// The UUIDs in a set-of-references column.
pub fn uuids_col(row: &RowJson, col: &str) -> Vec<String> {
    set_elems(row.get(col))
        .into_iter()
        .filter_map(|v| uuid_atom(v).map(str::to_string))
        .collect()
}

/// The integers in a set column.
pub fn ints_col(row: &RowJson, col: &str) -> Vec<i64> {
    set_elems(row.get(col))
        .into_iter()
        .filter_map(Value::as_i64)
        .collect()
}

/// A string-to-string map column.
pub fn map_col(row: &RowJson, col: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(Value::Array(a)) = row.get(col) else {
        return out;
    };
    if a.first().and_then(Value::as_str) != Some("map") {
        return out;
    }
    for pair in a.get(1).and_then(Value::as_array).into_iter().flatten() {
        if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
            let val = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Some(k) = k.as_str() {
                out.insert(k.to_string(), val);
            }
        }
    }
    out
}

/// JSON for an optional (0/1 set) atom.
pub fn opt_json(v: Option<Value>) -> Value {
    match v {
        Some(v) => v,
        None => json!(["set", []]),
    }
}

/// JSON for a string-keyed map.
pub fn map_json<V: Into<Value> + Clone>(m: &BTreeMap<String, V>) -> Value {
    let pairs: Vec<Value> = m
        .iter()
        .map(|(k, v)| json!([k, v.clone().into()]))
        .collect();
    json!(["map", pairs])
}

/// JSON for a set of strings.
pub fn str_set_json(v: &[&str]) -> Value {
    json!(["set", v])
}

/// A connection to the database with the monitor running.
#[derive(Debug)]
pub struct DbConn {
    client: Client,
    notes: mpsc::Receiver<Msg>,
}

/// The monitor id used for our single monitor.
const MONITOR_ID: &str = "rvs-vswitchd";

impl DbConn {
    /// Starts the monitor on `client`; returns the connection and the
    /// replica's initial contents.
    pub async fn start(mut client: Client) -> Result<(DbConn, Replica), ClientError> {
        let notes = client.notifications().ok_or(ClientError::Closed)?;
        let mut req = Map::new();
        for t in TABLES {
            req.insert((*t).to_string(), json!({}));
        }
        let initial = client
            .monitor("monitor", DB, json!(MONITOR_ID), Value::Object(req))
            .await?;
        let mut replica = Replica::default();
        replica.apply(&initial);
        Ok((DbConn { client, notes }, replica))
    }

    /// Waits for the next monitor update and applies it (and any others
    /// already queued) to `replica`.  `None` when the connection is gone.
    pub async fn next_update(&mut self, replica: &mut Replica) -> Option<()> {
        let mut got = false;
        loop {
            let m = if got {
                match self.notes.try_recv() {
                    Ok(m) => m,
                    Err(mpsc::error::TryRecvError::Empty) => return Some(()),
                    Err(mpsc::error::TryRecvError::Disconnected) => return Some(()),
                }
            } else {
                self.notes.recv().await?
            };
            if let Msg::Notify { method, params } = m
                && method == "update"
                && let Some(upd) = params.as_array().and_then(|p| p.get(1))
            {
                replica.apply(upd);
                got = true;
            }
        }
    }

    /// Runs a transaction; per-operation errors come back as `Err` text.
    pub async fn transact(&self, ops: Vec<Value>) -> Result<Value, String> {
        let r = self
            .client
            .transact(DB, ops)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(a) = r.as_array() {
            for o in a {
                if let Some(e) = o.get("error") {
                    return Err(format!(
                        "{}: {}",
                        e.as_str().unwrap_or("error"),
                        o.get("details").and_then(Value::as_str).unwrap_or("")
                    ));
                }
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_applies_inserts_modifies_deletes() {
        let mut r = Replica::default();
        r.apply(&json!({"Bridge": {"u1": {"new": {"name": "br0", "ports": ["set", [["uuid", "p1"], ["uuid", "p2"]]]}}}}));
        let row = r.row("Bridge", "u1").unwrap();
        assert_eq!(str_col(row, "name"), Some("br0"));
        assert_eq!(uuids_col(row, "ports"), vec!["p1", "p2"]);
        r.apply(&json!({"Bridge": {"u1": {"old": {}, "new": {"name": "br1", "ports": ["uuid", "p3"]}}}}));
        let row = r.row("Bridge", "u1").unwrap();
        assert_eq!(str_col(row, "name"), Some("br1"));
        assert_eq!(uuids_col(row, "ports"), vec!["p3"]);
        r.apply(&json!({"Bridge": {"u1": {"old": {}}}}));
        assert!(r.row("Bridge", "u1").is_none());
        // Garbage is ignored.
        r.apply(&json!([1, 2]));
        r.apply(&json!({"Bridge": 5}));
    }

    #[test]
    fn datum_helpers() {
        let row: RowJson = serde_json::from_value(json!({
            "tag": ["set", []],
            "ofport_request": 7,
            "trunks": ["set", [10, 20]],
            "other_config": ["map", [["datapath-id", "0000000000000001"], ["k", 5]]],
            "fail_mode": ["set", ["secure"]],
        }))
        .unwrap();
        assert_eq!(int_col(&row, "tag"), None);
        assert_eq!(int_col(&row, "ofport_request"), Some(7));
        assert_eq!(ints_col(&row, "trunks"), vec![10, 20]);
        let m = map_col(&row, "other_config");
        assert_eq!(
            m.get("datapath-id").map(String::as_str),
            Some("0000000000000001")
        );
        assert_eq!(m.get("k").map(String::as_str), Some("5"));
        assert_eq!(str_col(&row, "fail_mode"), Some("secure"));
        assert_eq!(opt_json(None), json!(["set", []]));
    }
}
