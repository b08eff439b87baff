//! The client-side replica of the Open_vSwitch database (kept current by
//! an RFC 7047 `monitor`) and the transaction a run of commands builds on
//! top of it: inserts, column writes, deletes, and `wait` operations that
//! verify the columns the commands relied on (optimistic concurrency, as
//! the OVS IDL does).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ovsdb::data::Row;
use ovsdb::{DatabaseSchema, Datum, TableSchema};
use serde_json::{Value, json};
use uuid::Uuid;

/// Rows of every table.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pub(crate) schema: Arc<DatabaseSchema>,
    pub(crate) tables: BTreeMap<String, BTreeMap<Uuid, Row>>,
}

impl Db {
    pub(crate) fn new(schema: Arc<DatabaseSchema>) -> Db {
        let tables = schema
            .tables
            .keys()
            .map(|k| (k.clone(), BTreeMap::new()))
            .collect();
        Db { schema, tables }
    }

    /// Applies a `monitor` `table-updates` object. Malformed parts are
    /// skipped (the server is trusted to send its own schema's data).
    pub(crate) fn apply_updates(&mut self, upd: &Value) {
        let Some(obj) = upd.as_object() else { return };
        for (tname, rows) in obj {
            let Some(ts) = self.schema.tables.get(tname).cloned() else {
                continue;
            };
            let Some(rows) = rows.as_object() else {
                continue;
            };
            let table = self.tables.entry(tname.clone()).or_default();
            for (ustr, ru) in rows {
                let Ok(u) = Uuid::parse_str(ustr) else {
                    continue;
                };
                match ru.get("new").and_then(Value::as_object) {
                    None => {
                        table.remove(&u);
                    }
                    Some(new) => {
                        let row = table
                            .entry(u)
                            .or_insert_with(|| Row::new_default(&ts, u, Uuid::nil()));
                        for (c, j) in new {
                            if let Some(col) = ts.columns.get(c) {
                                if let Ok(d) = Datum::from_json_plain(j, &col.ty) {
                                    row.columns.insert(c.clone(), d);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn table(&self, name: &str) -> Option<&BTreeMap<Uuid, Row>> {
        self.tables.get(name)
    }

    pub(crate) fn row(&self, table: &str, u: &Uuid) -> Option<&Row> {
        self.tables.get(table).and_then(|t| t.get(u))
    }

    /// The single Open_vSwitch row, if any.
    pub(crate) fn ovs_uuid(&self) -> Option<Uuid> {
        self.tables
            .get("Open_vSwitch")
            .and_then(|t| t.keys().next().copied())
    }

    pub(crate) fn get(&self, table: &str, u: &Uuid, col: &str) -> Datum {
        self.row(table, u)
            .and_then(|r| r.columns.get(col).cloned())
            .unwrap_or(Datum::Set(Vec::new()))
    }

    pub(crate) fn get_str(&self, table: &str, u: &Uuid, col: &str) -> String {
        self.row(table, u)
            .and_then(|r| r.get_str(col))
            .unwrap_or_default()
            .to_string()
    }
}

/// Monitor request for every column of every table of `schema`.
pub(crate) fn monitor_request(schema: &DatabaseSchema) -> Value {
    let mut m = serde_json::Map::new();
    for (name, t) in &schema.tables {
        let cols: Vec<Value> = t.columns.keys().map(|c| json!(c)).collect();
        m.insert(name.clone(), json!({ "columns": cols }));
    }
    Value::Object(m)
}

/// A transaction under construction.
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    /// The database as the server last showed it.
    pub(crate) orig: Db,
    /// The database with this transaction's changes applied.
    pub(crate) db: Db,
    /// Rows inserted here: uuid -> (table, uuid-name).
    pub(crate) inserted: BTreeMap<Uuid, (String, String)>,
    /// UUIDs of `inserted` rows in the order they were inserted (rows
    /// deleted again stay listed; check `inserted`).
    pub(crate) insert_order: Vec<Uuid>,
    /// Rows deleted here (that existed before).
    pub(crate) deleted: BTreeSet<(String, Uuid)>,
    /// Columns written on pre-existing rows.
    pub(crate) written: BTreeMap<(String, Uuid), BTreeSet<String>>,
    /// Columns whose original values the result depends on.
    pub(crate) verified: BTreeSet<(String, Uuid, String)>,
}

impl Txn {
    pub(crate) fn new(orig: Db) -> Txn {
        Txn {
            db: orig.clone(),
            orig,
            inserted: BTreeMap::new(),
            insert_order: Vec::new(),
            deleted: BTreeSet::new(),
            written: BTreeMap::new(),
            verified: BTreeSet::new(),
        }
    }

    pub(crate) fn schema(&self) -> &Arc<DatabaseSchema> {
        &self.db.schema
    }

    pub(crate) fn ts(&self, table: &str) -> Option<&TableSchema> {
        self.db.schema.tables.get(table)
    }

    /// Inserts a row with default values (and the given UUID, e.g. a
    /// symbol's); returns its UUID.
    pub(crate) fn insert(&mut self, table: &str, uuid: Option<Uuid>) -> Uuid {
        let u = uuid.unwrap_or_else(Uuid::new_v4);
        if let Some(ts) = self.db.schema.tables.get(table) {
            let row = Row::new_default(ts, u, Uuid::nil());
            self.db
                .tables
                .entry(table.to_string())
                .or_default()
                .insert(u, row);
        }
        let name = format!("rvs{}", u.simple());
        self.inserted.insert(u, (table.to_string(), name));
        self.insert_order.push(u);
        u
    }

    /// Writes a column.
    pub(crate) fn set(&mut self, table: &str, u: &Uuid, col: &str, d: Datum) {
        if let Some(r) = self.db.tables.get_mut(table).and_then(|t| t.get_mut(u)) {
            r.columns.insert(col.to_string(), d);
            if !self.inserted.contains_key(u) {
                self.written
                    .entry((table.to_string(), *u))
                    .or_default()
                    .insert(col.to_string());
            }
        }
    }

    /// Deletes a row (a no-op for the server when the table is not a root
    /// table: unreferenced rows there are garbage-collected).
    pub(crate) fn delete(&mut self, table: &str, u: &Uuid) {
        if let Some(t) = self.db.tables.get_mut(table) {
            t.remove(u);
        }
        if self.inserted.remove(u).is_none() {
            self.deleted.insert((table.to_string(), *u));
        }
    }

    /// Records that the result depends on a column's original value.
    pub(crate) fn verify(&mut self, table: &str, u: &Uuid, col: &str) {
        if self.orig.row(table, u).is_some() {
            self.verified
                .insert((table.to_string(), *u, col.to_string()));
        }
    }

    /// True if the transaction changes anything.
    pub(crate) fn has_changes(&self) -> bool {
        !self.inserted.is_empty()
            || self
                .deleted
                .iter()
                .any(|(t, _)| self.ts(t).is_some_and(|ts| ts.is_root))
            || self.written.iter().any(|((t, u), cols)| {
                cols.iter()
                    .any(|c| self.orig.get(t, u, c) != self.db.get(t, u, c))
            })
    }

    /// The JSON of a datum with this transaction's new rows as named UUIDs.
    fn datum_json(&self, d: &Datum, ty: &ovsdb::Type) -> Value {
        let mut j = d.to_json(ty);
        self.name_uuids(&mut j);
        j
    }

    fn name_uuids(&self, j: &mut Value) {
        if let Value::Array(a) = j {
            if let [Value::String(tag), Value::String(s)] = a.as_slice() {
                if tag == "uuid" {
                    if let Some((_, name)) =
                        Uuid::parse_str(s).ok().and_then(|u| self.inserted.get(&u))
                    {
                        *j = json!(["named-uuid", name]);
                        return;
                    }
                }
            }
            for e in a.iter_mut() {
                self.name_uuids(e);
            }
        }
    }

    /// The operations of the transaction (without the `next_cfg` bump).
    pub(crate) fn ops(&self, comment: Option<&str>) -> Vec<Value> {
        let mut ops = Vec::new();
        let where_uuid = |u: &Uuid| json!([["_uuid", "==", ["uuid", u.to_string()]]]);
        for ((t, u, c), ()) in self.verified.iter().map(|k| (k, ())) {
            if self.deleted.contains(&(t.clone(), *u)) && !self.ts(t).is_some_and(|s| s.is_root) {
                continue;
            }
            let (Some(ts), Some(_)) = (self.ts(t), self.orig.row(t, u)) else {
                continue;
            };
            let Some(ty) = ts.column_type(c) else {
                continue;
            };
            let old = self.orig.get(t, u, c).to_json(ty);
            ops.push(json!({
                "op": "wait", "timeout": 0, "table": t, "where": where_uuid(u),
                "columns": [c], "until": "==", "rows": [{ c: old }]
            }));
        }
        for (u, (t, name)) in &self.inserted {
            let (Some(ts), Some(row)) = (self.ts(t), self.db.row(t, u)) else {
                continue;
            };
            let mut m = serde_json::Map::new();
            for (c, d) in &row.columns {
                if let Some(col) = ts.columns.get(c) {
                    if *d != Datum::default_for(&col.ty) {
                        m.insert(c.clone(), self.datum_json(d, &col.ty));
                    }
                }
            }
            ops.push(json!({"op": "insert", "table": t, "uuid-name": name, "row": m}));
        }
        for ((t, u), cols) in &self.written {
            if self.deleted.contains(&(t.clone(), *u)) {
                continue;
            }
            let Some(ts) = self.ts(t) else { continue };
            let mut m = serde_json::Map::new();
            for c in cols {
                let Some(col) = ts.columns.get(c) else {
                    continue;
                };
                let new = self.db.get(t, u, c);
                if new != self.orig.get(t, u, c) {
                    m.insert(c.clone(), self.datum_json(&new, &col.ty));
                }
            }
            if !m.is_empty() {
                ops.push(json!({"op": "update", "table": t, "where": where_uuid(u), "row": m}));
            }
        }
        for (t, u) in &self.deleted {
            if self.ts(t).is_some_and(|s| s.is_root) {
                ops.push(json!({"op": "delete", "table": t, "where": where_uuid(u)}));
            }
        }
        if let Some(c) = comment {
            ops.push(json!({"op": "comment", "comment": c}));
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ovsdb::Atom;

    #[test]
    fn ops_verify_insert_update_and_name_new_rows() {
        let schema = ovsdb::vswitch::vswitch_schema_arc();
        let mut db = Db::new(schema);
        let ovs = Uuid::new_v4();
        db.apply_updates(&json!({"Open_vSwitch": {ovs.to_string(): {"new": {"next_cfg": 3}}}}));
        assert_eq!(db.ovs_uuid(), Some(ovs));
        assert_eq!(db.get("Open_vSwitch", &ovs, "next_cfg").as_i64(), Some(3));
        let mut txn = Txn::new(db);
        assert!(!txn.has_changes());
        txn.verify("Open_vSwitch", &ovs, "bridges");
        let b = txn.insert("Bridge", None);
        txn.set(
            "Bridge",
            &b,
            "name",
            Datum::scalar(Atom::String("br0".into())),
        );
        txn.set(
            "Open_vSwitch",
            &ovs,
            "bridges",
            Datum::scalar(Atom::Uuid(b)),
        );
        assert!(txn.has_changes());
        let ops = txn.ops(None);
        let name = format!("rvs{}", b.simple());
        assert_eq!(ops.len(), 3, "{ops:?}");
        assert_eq!(ops[0]["op"], "wait");
        assert_eq!(ops[0]["rows"], json!([{"bridges": ["set", []]}]));
        assert_eq!(ops[1]["op"], "insert");
        assert_eq!(ops[1]["uuid-name"], json!(name));
        assert_eq!(ops[1]["row"], json!({"name": "br0"}));
        assert_eq!(ops[2]["op"], "update");
        assert_eq!(ops[2]["row"], json!({"bridges": ["named-uuid", name]}));
        // Deleting a non-root row is left to the server's garbage collection.
        let mut txn2 = Txn::new(txn.orig.clone());
        let p = Uuid::new_v4();
        txn2.db
            .apply_updates(&json!({"Port": {p.to_string(): {"new": {"name": "p"}}}}));
        txn2.orig = txn2.db.clone();
        txn2.delete("Port", &p);
        assert!(!txn2.has_changes());
        assert!(txn2.ops(None).is_empty());
        // Removing the row again is seen by later commands.
        assert!(txn2.db.row("Port", &p).is_none());
    }
}
