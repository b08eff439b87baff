//! The in-memory database: tables of rows plus the bookkeeping that makes
//! commits cheap — per-row strong reference counts (for referential
//! integrity and garbage collection) and a hash index per schema index (for
//! uniqueness checks).
//!
//! Rows are stored as `Arc<Row>` so readers (monitors, the embedded API)
//! can hold snapshots of rows without copying. The database is changed only
//! by [`Database::transact`](crate::db::Database::transact) (see `txn.rs`),
//! by replaying log records, or by loading a snapshot; all three go through
//! [`Database::apply_changes`], which keeps the counts and indexes exact.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::data::{Datum, Row};
use crate::error::Error;
use crate::schema::{DatabaseSchema, TableSchema};
use crate::txn::RowChange;

/// One table's rows and bookkeeping.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// Rows by UUID.
    pub(crate) rows: BTreeMap<Uuid, Arc<Row>>,
    /// Number of strong references to each row (absent = 0).
    pub(crate) refs: HashMap<Uuid, u32>,
    /// One map per schema index: index values -> row.
    pub(crate) indexes: Vec<HashMap<Vec<Datum>, Uuid>>,
}

/// An OVSDB database: schema plus data.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) schema: Arc<DatabaseSchema>,
    pub(crate) tables: BTreeMap<String, Table>,
    pub(crate) txn_id: Uuid,
}

/// Strong references held by `row` (of table `ts`): (table, uuid) pairs,
/// one per reference occurrence.
pub(crate) fn strong_refs<'s>(ts: &'s TableSchema, row: &Row) -> Vec<(&'s str, Uuid)> {
    let mut out: Vec<(&'s str, Uuid)> = Vec::new();
    for c in ts.columns.values() {
        let key_rt =
            c.ty.key
                .ref_table
                .as_deref()
                .filter(|_| c.ty.key.is_strong_ref());
        let val_rt =
            c.ty.value
                .as_ref()
                .and_then(|v| v.ref_table.as_deref().filter(|_| v.is_strong_ref()));
        let Some(d) = row.columns.get(&c.name) else {
            continue;
        };
        if let Some(rt) = key_rt {
            out.extend(d.keys().filter_map(|a| a.as_uuid()).map(|u| (rt, u)));
        }
        if let Some(rt) = val_rt {
            out.extend(
                d.as_map()
                    .iter()
                    .filter_map(|p| p.1.as_uuid())
                    .map(|u| (rt, u)),
            );
        }
    }
    out
}

/// Calls `f(table, uuid, delta)` for every strong reference that differs
/// between `old` and `new` (versions of one row of table `ts`): -1 for a
/// reference only in `old`, +1 for one only in `new`. Unchanged columns
/// cost one comparison; changed sets are merged, not recounted.
pub(crate) fn ref_deltas<'s>(
    ts: &'s TableSchema,
    old: Option<&Row>,
    new: Option<&Row>,
    mut f: impl FnMut(&'s str, Uuid, i64),
) {
    for c in ts.columns.values() {
        let key_rt =
            c.ty.key
                .ref_table
                .as_deref()
                .filter(|_| c.ty.key.is_strong_ref());
        let val_rt =
            c.ty.value
                .as_ref()
                .and_then(|v| v.ref_table.as_deref().filter(|_| v.is_strong_ref()));
        if key_rt.is_none() && val_rt.is_none() {
            continue;
        }
        let od = old.and_then(|r| r.columns.get(&c.name));
        let nd = new.and_then(|r| r.columns.get(&c.name));
        if od.is_some() && od == nd {
            continue;
        }
        match (od, nd, key_rt) {
            (Some(Datum::Set(a)), Some(Datum::Set(b)), Some(rt)) => {
                // Both sorted: walk them together.
                let (mut i, mut j) = (0, 0);
                while i < a.len() || j < b.len() {
                    match (a.get(i), b.get(j)) {
                        (Some(x), Some(y)) if x == y => {
                            i += 1;
                            j += 1;
                        }
                        (Some(x), Some(y)) if x < y => {
                            if let Some(u) = x.as_uuid() {
                                f(rt, u, -1);
                            }
                            i += 1;
                        }
                        (Some(x), None) => {
                            if let Some(u) = x.as_uuid() {
                                f(rt, u, -1);
                            }
                            i += 1;
                        }
                        (_, Some(y)) => {
                            if let Some(u) = y.as_uuid() {
                                f(rt, u, 1);
                            }
                            j += 1;
                        }
                        (None, None) => break,
                    }
                }
            }
            _ => {
                for (d, sign) in [(od, -1), (nd, 1)] {
                    let Some(d) = d else { continue };
                    if let Some(rt) = key_rt {
                        for a in d.keys() {
                            if let Some(u) = a.as_uuid() {
                                f(rt, u, sign);
                            }
                        }
                    }
                    if let Some(rt) = val_rt {
                        for (_, a) in d.as_map() {
                            if let Some(u) = a.as_uuid() {
                                f(rt, u, sign);
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn index_key(row: &Row, cols: &[String]) -> Vec<Datum> {
    cols.iter()
        .map(|c| {
            row.get(c)
                .map(|d| d.into_owned())
                .unwrap_or(Datum::Set(Vec::new()))
        })
        .collect()
}

impl Database {
    /// An empty database with the given schema.
    pub fn new(schema: DatabaseSchema) -> Self {
        Self::with_schema(Arc::new(schema))
    }

    /// An empty database sharing an existing schema.
    pub fn with_schema(schema: Arc<DatabaseSchema>) -> Self {
        let tables = schema
            .tables
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    Table {
                        indexes: vec![HashMap::new(); t.indexes.len()],
                        ..Table::default()
                    },
                )
            })
            .collect();
        Database {
            schema,
            tables,
            txn_id: Uuid::nil(),
        }
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<DatabaseSchema> {
        &self.schema
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.schema.name
    }

    /// Rows of `table` (empty if there is no such table), in UUID order.
    pub fn table_rows(&self, table: &str) -> impl Iterator<Item = &Arc<Row>> + '_ {
        self.tables
            .get(table)
            .into_iter()
            .flat_map(|t| t.rows.values())
    }

    /// Number of rows in `table`.
    pub fn row_count(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, |t| t.rows.len())
    }

    /// One row by UUID.
    pub fn get_row(&self, table: &str, uuid: &Uuid) -> Option<&Arc<Row>> {
        self.tables.get(table).and_then(|t| t.rows.get(uuid))
    }

    /// Number of strong references to a row.
    pub fn ref_count(&self, table: &str, uuid: &Uuid) -> u32 {
        self.tables
            .get(table)
            .and_then(|t| t.refs.get(uuid))
            .copied()
            .unwrap_or(0)
    }

    /// Id of the last committed transaction (nil before the first one).
    pub fn txn_id(&self) -> Uuid {
        self.txn_id
    }

    /// Sets the last transaction id (used when loading from storage).
    pub fn set_txn_id(&mut self, id: Uuid) {
        self.txn_id = id;
    }

    /// Applies a set of already-validated changes: rows, reference counts
    /// and indexes. `changes`: table -> row -> (old, new).
    pub fn apply_changes(&mut self, changes: &BTreeMap<String, BTreeMap<Uuid, RowChange>>) {
        let schema = Arc::clone(&self.schema);
        // Reference counts first (they may cross tables).
        for (tname, rows) in changes {
            let Some(ts) = schema.tables.get(tname) else {
                continue;
            };
            for ch in rows.values() {
                ref_deltas(ts, ch.old.as_deref(), ch.new.as_deref(), |rt, u, d| {
                    if let Some(t) = self.tables.get_mut(rt) {
                        let c = t.refs.entry(u).or_insert(0);
                        if d > 0 {
                            *c += 1;
                        } else {
                            *c = c.saturating_sub(1);
                            if *c == 0 {
                                t.refs.remove(&u);
                            }
                        }
                    }
                });
            }
        }
        for (tname, rows) in changes {
            let (Some(ts), Some(t)) = (schema.tables.get(tname), self.tables.get_mut(tname)) else {
                continue;
            };
            // Remove old index entries, then add new ones, so that swaps
            // within one transaction work.
            for (uuid, ch) in rows {
                if let Some(old) = &ch.old {
                    for (i, cols) in ts.indexes.iter().enumerate() {
                        if let Some(ix) = t.indexes.get_mut(i) {
                            let k = index_key(old, cols);
                            if ix.get(&k) == Some(uuid) {
                                ix.remove(&k);
                            }
                        }
                    }
                }
            }
            for (uuid, ch) in rows {
                match &ch.new {
                    Some(new) => {
                        for (i, cols) in ts.indexes.iter().enumerate() {
                            if let Some(ix) = t.indexes.get_mut(i) {
                                ix.insert(index_key(new, cols), *uuid);
                            }
                        }
                        t.rows.insert(*uuid, Arc::clone(new));
                    }
                    None => {
                        t.rows.remove(uuid);
                    }
                }
            }
        }
    }

    /// Applies one transaction record of the on-disk log (ovsdb(5)):
    /// `{"Table": {"uuid": {columns...} | null}, "_date": ms, "_comment": ...}`,
    /// optionally with `"_is_diff": true` (OVS 2.15+ column diffs).
    pub fn apply_log_record(&mut self, rec: &Value) -> Result<(), Error> {
        let changes = self.log_record_changes(rec)?;
        self.apply_changes(&changes);
        Ok(())
    }

    /// Computes the changes a log record describes, without applying them.
    pub fn log_record_changes(
        &self,
        rec: &Value,
    ) -> Result<BTreeMap<String, BTreeMap<Uuid, RowChange>>, Error> {
        let obj = rec
            .as_object()
            .ok_or_else(|| Error::syntax(Some(rec), None, "object expected"))?;
        let is_diff = obj.get("_is_diff") == Some(&Value::Bool(true));
        let mut changes: BTreeMap<String, BTreeMap<Uuid, RowChange>> = BTreeMap::new();
        for (tname, tj) in obj {
            let Some(ts) = self.schema.tables.get(tname) else {
                match (tname.as_str(), tj) {
                    ("_date", Value::Number(_))
                    | ("_is_diff", Value::Bool(_))
                    | ("_comment", _) => continue,
                    _ => {
                        return Err(Error::syntax(
                            Some(rec),
                            Some("unknown table"),
                            format!("No table named {tname}."),
                        ));
                    }
                }
            };
            let rows = tj
                .as_object()
                .ok_or_else(|| Error::syntax(Some(tj), None, "object expected"))?;
            let tch = changes.entry(tname.clone()).or_default();
            for (us, rj) in rows {
                let uuid = crate::data::parse_uuid_str(us).ok_or_else(|| {
                    Error::syntax(Some(tj), None, format!("\"{us}\" is not a valid UUID"))
                })?;
                let old: Option<Arc<Row>> = self.get_row(tname, &uuid).cloned();
                let new = match rj {
                    Value::Null => None,
                    Value::Object(cols) => {
                        let mut row = match &old {
                            Some(o) => (**o).clone(),
                            None => Row::new_default(ts, uuid, Uuid::new_v4()),
                        };
                        row.version = Uuid::new_v4();
                        for (cn, cv) in cols {
                            let cs = ts.columns.get(cn).ok_or_else(|| {
                                Error::syntax(
                                    Some(rj),
                                    Some("unknown column"),
                                    format!("No column {cn} in table {tname}."),
                                )
                            })?;
                            if is_diff && old.is_some() {
                                let d =
                                    Datum::from_json_bounds(cv, &cs.ty, 0, u32::MAX, &mut |_| {
                                        None
                                    })?;
                                let cur = row
                                    .columns
                                    .entry(cn.clone())
                                    .or_insert_with(|| Datum::default_for(&cs.ty));
                                apply_diff(cur, &d, &cs.ty)?;
                            } else {
                                let d = Datum::from_json(cv, &cs.ty, &mut |_| None)?;
                                row.columns.insert(cn.clone(), d);
                            }
                        }
                        Some(row)
                    }
                    _ => return Err(Error::syntax(Some(rj), None, "row must be JSON object")),
                };
                tch.insert(
                    uuid,
                    RowChange {
                        old,
                        new: new.map(Arc::new),
                    },
                );
            }
        }
        changes.retain(|_, v| !v.is_empty());
        Ok(changes)
    }

    /// The whole database as one log record (a snapshot), as written by
    /// compaction: every row with its non-default persistent columns.
    pub fn snapshot_record(&self, comment: Option<&str>, date_ms: i64) -> Value {
        let mut m = serde_json::Map::new();
        for (tname, t) in &self.tables {
            let Some(ts) = self.schema.tables.get(tname) else {
                continue;
            };
            if t.rows.is_empty() {
                continue;
            }
            let mut rows = serde_json::Map::new();
            for (u, r) in &t.rows {
                rows.insert(u.to_string(), crate::txn::row_record(ts, None, r));
            }
            m.insert(tname.clone(), Value::Object(rows));
        }
        if let Some(c) = comment {
            m.insert("_comment".into(), c.into());
        }
        m.insert("_date".into(), date_ms.into());
        Value::Object(m)
    }
}

/// Applies an OVS column diff to `cur` (sets: symmetric difference; maps:
/// add new keys, remove identical pairs, replace changed values).
fn apply_diff(cur: &mut Datum, diff: &Datum, ty: &crate::schema::Type) -> Result<(), Error> {
    if ty.is_scalar() {
        *cur = diff.clone();
        return Ok(());
    }
    match (&mut *cur, diff) {
        (Datum::Set(c), Datum::Set(d)) => {
            for x in d {
                match c.binary_search(x) {
                    Ok(i) => {
                        c.remove(i);
                    }
                    Err(i) => c.insert(i, x.clone()),
                }
            }
        }
        (Datum::Map(c), Datum::Map(d)) => {
            for (k, v) in d {
                match c.binary_search_by(|p| p.0.cmp(k)) {
                    Ok(i) => {
                        if c.get(i).is_some_and(|p| &p.1 == v) {
                            c.remove(i);
                        } else if let Some(p) = c.get_mut(i) {
                            p.1 = v.clone();
                        }
                    }
                    Err(i) => c.insert(i, (k.clone(), v.clone())),
                }
            }
        }
        _ => return Err(Error::new("ovsdb error", "diff type mismatch")),
    }
    let n = cur.len() as u64;
    if n < u64::from(ty.min) || n > u64::from(ty.max) {
        return Err(Error::new(
            "ovsdb error",
            "Datum crated by diff has size error",
        ));
    }
    Ok(())
}
