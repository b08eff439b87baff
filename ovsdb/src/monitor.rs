//! Monitors: `monitor` (RFC 7047 `update`), `monitor_cond` (`update2`) and
//! `monitor_cond_since` (`update3`), with `monitor_cond_change`.
//!
//! A [`Monitor`] is pure data: it is built from the client's request,
//! produces the initial contents from a [`Database`], and turns each
//! [`Commit`] into the table-updates object for one notification. The
//! server owns the sessions and sends what this module computes.
//!
//! Update formats (ovsdb-server(5)):
//! * `update` (v1): `{"old": {...}, "new": {...}}` per row; on modify,
//!   `old` carries only the monitored columns that changed and `new` all
//!   monitored columns.
//! * `update2`/`update3`: `{"insert": row}`, `{"delete": null}`,
//!   `{"modify": diff}` (or `{"initial": row}`), where a diff column holds
//!   the new value for a scalar, the symmetric difference for a set, and for
//!   a map the pairs added or changed (new value) plus the pairs removed
//!   (old value). Rows entering or leaving a monitor's condition are sent as
//!   `insert` and `delete`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::condition::Condition;
use crate::data::{Datum, Row};
use crate::db::Database;
use crate::error::Error;
use crate::schema::{DatabaseSchema, TableSchema};
use crate::txn::{Commit, RowChange};

/// Which protocol version a monitor speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorVersion {
    /// `monitor`, notifications `update`.
    V1,
    /// `monitor_cond`, notifications `update2`.
    V2,
    /// `monitor_cond_since`, notifications `update3`.
    V3,
}

impl MonitorVersion {
    /// The notification method carrying this version's updates.
    pub fn method(self) -> &'static str {
        match self {
            MonitorVersion::V1 => "update",
            MonitorVersion::V2 => "update2",
            MonitorVersion::V3 => "update3",
        }
    }
}

/// The `select` flags of a monitor request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Select {
    /// Send the initial contents.
    pub initial: bool,
    /// Send inserted rows.
    pub insert: bool,
    /// Send deleted rows.
    pub delete: bool,
    /// Send modified rows.
    pub modify: bool,
}

impl Select {
    const ALL: Select = Select {
        initial: true,
        insert: true,
        delete: true,
        modify: true,
    };
    const NONE: Select = Select {
        initial: false,
        insert: false,
        delete: false,
        modify: false,
    };

    fn or(self, o: Select) -> Select {
        Select {
            initial: self.initial || o.initial,
            insert: self.insert || o.insert,
            delete: self.delete || o.delete,
            modify: self.modify || o.modify,
        }
    }
}

/// What one monitor watches in one table.
#[derive(Debug, Clone)]
pub struct TableMonitor {
    /// Monitored columns (never `_uuid`).
    pub columns: Vec<String>,
    /// Which kinds of change are sent.
    pub select: Select,
    /// Row filter (`None`: every row).
    pub condition: Option<Condition>,
}

impl TableMonitor {
    fn matches(&self, row: &Row) -> bool {
        // As in ovsdb-server, an empty condition selects every row; otherwise
        // a row is selected when any clause holds.
        self.condition
            .as_ref()
            .is_none_or(|c| c.clauses.is_empty() || c.matches_any(row))
    }
}

/// One monitor of one session.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// Database monitored.
    pub db: String,
    /// The client's monitor id (any JSON value).
    pub id: Value,
    /// Protocol version.
    pub version: MonitorVersion,
    /// Per-table requests.
    pub tables: BTreeMap<String, TableMonitor>,
}

fn syntax(j: &Value, details: impl Into<String>) -> Error {
    Error::syntax(Some(j), None, details)
}

fn parse_select(j: Option<&Value>) -> Result<Select, Error> {
    let Some(j) = j else { return Ok(Select::ALL) };
    let Some(o) = j.as_object() else {
        return Err(syntax(j, "select must be an object"));
    };
    let flag = |k: &str| -> Result<bool, Error> {
        match o.get(k) {
            None => Ok(true),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(syntax(v, format!("{k} must be a boolean"))),
        }
    };
    Ok(Select {
        initial: flag("initial")?,
        insert: flag("insert")?,
        delete: flag("delete")?,
        modify: flag("modify")?,
    })
}

fn parse_condition(table: &TableSchema, j: Option<&Value>) -> Result<Option<Condition>, Error> {
    match j {
        None => Ok(None),
        Some(w) => Condition::from_json(table, w, &mut |_| None).map(Some),
    }
}

fn parse_table_request(
    table: &TableSchema,
    req: &Value,
    conditional: bool,
) -> Result<(Vec<String>, Select, Option<Condition>), Error> {
    let Some(o) = req.as_object() else {
        return Err(syntax(req, "monitor request must be an object"));
    };
    for k in o.keys() {
        let ok = matches!(k.as_str(), "columns" | "select") || (conditional && k == "where");
        if !ok {
            return Err(syntax(
                req,
                format!("unknown member {k} in monitor request"),
            ));
        }
    }
    let columns = match o.get("columns") {
        None => table.columns.keys().cloned().collect(),
        Some(Value::Array(cols)) => {
            let mut v = Vec::new();
            for c in cols {
                let Some(name) = c.as_str() else {
                    return Err(syntax(c, "column name must be a string"));
                };
                if !table.columns.contains_key(name) && name != "_version" {
                    return Err(syntax(c, format!("{name} is not a valid column name")));
                }
                if v.iter().any(|x: &String| x == name) {
                    return Err(syntax(c, format!("column {name} mentioned more than once")));
                }
                v.push(name.to_string());
            }
            v
        }
        Some(other) => return Err(syntax(other, "columns must be an array")),
    };
    let select = parse_select(o.get("select"))?;
    let cond = if conditional {
        parse_condition(table, o.get("where"))?
    } else {
        None
    };
    Ok((columns, select, cond))
}

impl Monitor {
    /// Builds a monitor from the `<monitor-requests>` object of a
    /// `monitor`/`monitor_cond`/`monitor_cond_since` request.
    pub fn parse(
        schema: &DatabaseSchema,
        db: &str,
        id: Value,
        version: MonitorVersion,
        requests: &Value,
    ) -> Result<Monitor, Error> {
        let Some(reqs) = requests.as_object() else {
            return Err(syntax(requests, "monitor requests must be an object"));
        };
        let mut tables = BTreeMap::new();
        for (tname, req) in reqs {
            let Some(table) = schema.table(tname) else {
                return Err(syntax(requests, format!("no table named {tname}")));
            };
            let list: Vec<&Value> = match req {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            let mut tm = TableMonitor {
                columns: Vec::new(),
                select: Select::NONE,
                condition: None,
            };
            for r in list {
                let (cols, sel, cond) =
                    parse_table_request(table, r, version != MonitorVersion::V1)?;
                for c in cols {
                    if !tm.columns.contains(&c) {
                        tm.columns.push(c);
                    }
                }
                tm.select = tm.select.or(sel);
                if cond.is_some() {
                    tm.condition = cond;
                }
            }
            tables.insert(tname.clone(), tm);
        }
        Ok(Monitor {
            db: db.to_string(),
            id,
            version,
            tables,
        })
    }

    /// The initial contents, as the reply's table-updates object.
    pub fn initial(&self, db: &Database) -> Value {
        let schema = db.schema().clone();
        let mut out = Map::new();
        for (tname, tm) in &self.tables {
            if !tm.select.initial {
                continue;
            }
            let Some(table) = schema.table(tname) else {
                continue;
            };
            let mut rows = Map::new();
            for row in db.table_rows(tname) {
                if !tm.matches(row) {
                    continue;
                }
                let upd = match self.version {
                    MonitorVersion::V1 => json!({ "new": row.to_json(table, Some(&tm.columns)) }),
                    _ => json!({ "initial": non_default(row, table, &tm.columns) }),
                };
                rows.insert(row.uuid.to_string(), upd);
            }
            if !rows.is_empty() {
                out.insert(tname.clone(), Value::Object(rows));
            }
        }
        Value::Object(out)
    }

    /// The table-updates for one commit, or `None` when nothing monitored
    /// changed.
    pub fn updates_for(&self, schema: &DatabaseSchema, commit: &Commit) -> Option<Value> {
        self.updates_for_changes(schema, &commit.changes)
    }

    /// The table-updates for a set of row changes (one commit, or several
    /// merged by [`merge_changes`]).
    pub fn updates_for_changes(&self, schema: &DatabaseSchema, all: &Changes) -> Option<Value> {
        let mut out = Map::new();
        for (tname, changes) in all {
            let (Some(tm), Some(table)) = (self.tables.get(tname), schema.table(tname)) else {
                continue;
            };
            let mut rows = Map::new();
            for (uuid, ch) in changes {
                if let Some(u) = self.row_update(table, tm, ch) {
                    rows.insert(uuid.to_string(), u);
                }
            }
            if !rows.is_empty() {
                out.insert(tname.clone(), Value::Object(rows));
            }
        }
        if out.is_empty() {
            None
        } else {
            Some(Value::Object(out))
        }
    }

    fn row_update(&self, table: &TableSchema, tm: &TableMonitor, ch: &RowChange) -> Option<Value> {
        let old = ch.old.as_ref().filter(|r| tm.matches(r));
        let new = ch.new.as_ref().filter(|r| tm.matches(r));
        let cols = Some(&tm.columns[..]);
        let v1 = self.version == MonitorVersion::V1;
        match (old, new) {
            (None, None) => None,
            (None, Some(n)) => {
                if !tm.select.insert {
                    return None;
                }
                Some(if v1 {
                    json!({ "new": n.to_json(table, cols) })
                } else {
                    json!({ "insert": non_default(n, table, &tm.columns) })
                })
            }
            (Some(o), None) => {
                if !tm.select.delete {
                    return None;
                }
                Some(if v1 {
                    json!({ "old": o.to_json(table, cols) })
                } else {
                    json!({ "delete": null })
                })
            }
            (Some(o), Some(n)) => {
                if !tm.select.modify {
                    return None;
                }
                let changed: Vec<&String> =
                    tm.columns.iter().filter(|c| o.get(c) != n.get(c)).collect();
                if changed.is_empty() {
                    return None;
                }
                if v1 {
                    let mut old = Map::new();
                    for c in &changed {
                        if let (Some(ty), Some(d)) = (table.column_type(c), o.get(c)) {
                            old.insert((*c).clone(), d.to_json(ty));
                        }
                    }
                    Some(json!({ "old": old, "new": n.to_json(table, cols) }))
                } else {
                    let mut diff = Map::new();
                    for c in changed {
                        let (Some(ty), Some(a), Some(b)) =
                            (table.column_type(c), o.get(c), n.get(c))
                        else {
                            continue;
                        };
                        let d = if ty.is_scalar() {
                            b.into_owned()
                        } else {
                            datum_diff(&a, &b)
                        };
                        diff.insert(c.clone(), d.to_json(ty));
                    }
                    Some(json!({ "modify": diff }))
                }
            }
        }
    }

    /// Replaces the conditions (and optionally columns) per
    /// `monitor_cond_change` and returns the updates for rows that entered
    /// or left the monitor, computed against `db`.
    pub fn change_conditions(
        &mut self,
        db: &Database,
        changes: &Value,
    ) -> Result<Option<Value>, Error> {
        let schema = db.schema().clone();
        let Some(reqs) = changes.as_object() else {
            return Err(syntax(
                changes,
                "monitor-cond-change request must be an object",
            ));
        };
        let mut out = Map::new();
        for (tname, req) in reqs {
            let (Some(table), Some(tm)) = (schema.table(tname), self.tables.get_mut(tname)) else {
                return Err(syntax(
                    changes,
                    format!("no table named {tname} in monitor"),
                ));
            };
            let list: Vec<&Value> = match req {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            let mut new_tm = tm.clone();
            for r in list {
                let Some(o) = r.as_object() else {
                    return Err(syntax(r, "condition change must be an object"));
                };
                if let Some(cols) = o.get("columns") {
                    let (c, _, _) = parse_table_request(table, &json!({ "columns": cols }), false)?;
                    new_tm.columns = c;
                }
                if o.contains_key("where") {
                    new_tm.condition = parse_condition(table, o.get("where"))?;
                }
            }
            let mut rows = Map::new();
            for row in db.table_rows(tname) {
                let was = tm.matches(row);
                let is = new_tm.matches(row);
                if was && !is {
                    rows.insert(row.uuid.to_string(), json!({ "delete": null }));
                } else if is && !was {
                    let data = non_default(row, table, &new_tm.columns);
                    rows.insert(row.uuid.to_string(), json!({ "insert": data }));
                }
            }
            *tm = new_tm;
            if !rows.is_empty() {
                out.insert(tname.clone(), Value::Object(rows));
            }
        }
        Ok(if out.is_empty() {
            None
        } else {
            Some(Value::Object(out))
        })
    }

    /// The notification params for `updates`.
    pub fn notification_params(&self, updates: Value, last_txn: Uuid) -> Value {
        match self.version {
            MonitorVersion::V3 => json!([self.id, last_txn.to_string(), updates]),
            _ => json!([self.id, updates]),
        }
    }
}

/// The columns of `row` among `columns` that differ from their default
/// value: what `update2` carries for `initial` and `insert` (the client
/// fills in defaults).
fn non_default(row: &Row, table: &TableSchema, columns: &[String]) -> Value {
    let mut m = Map::new();
    for c in columns {
        let (Some(ty), Some(d)) = (table.column_type(c), row.get(c)) else {
            continue;
        };
        if c == "_version" || *d != Datum::default_for(ty) {
            m.insert(c.clone(), d.to_json(ty));
        }
    }
    Value::Object(m)
}

/// Row changes by table and row UUID, as in [`Commit::changes`].
pub type Changes = BTreeMap<String, BTreeMap<Uuid, RowChange>>;

/// Folds consecutive commits into one change set: each row keeps the old
/// value from before the first commit and the new value after the last.
pub fn merge_changes<'a>(commits: impl IntoIterator<Item = &'a Commit>) -> Changes {
    let mut out: Changes = BTreeMap::new();
    for c in commits {
        for (t, rows) in &c.changes {
            let tab = out.entry(t.clone()).or_default();
            for (u, ch) in rows {
                match tab.get_mut(u) {
                    Some(prev) => prev.new = ch.new.clone(),
                    None => {
                        tab.insert(
                            *u,
                            RowChange {
                                old: ch.old.clone(),
                                new: ch.new.clone(),
                            },
                        );
                    }
                }
            }
        }
    }
    for tab in out.values_mut() {
        tab.retain(|_, ch| ch.old.is_some() || ch.new.is_some());
    }
    out
}

/// The update2 difference of two sets or maps of the same type.
fn datum_diff(a: &Datum, b: &Datum) -> Datum {
    match (a, b) {
        (Datum::Map(x), Datum::Map(y)) => {
            let mut out = Vec::new();
            for (k, v) in y {
                if a.get(k) != Some(v) {
                    out.push((k.clone(), v.clone()));
                }
            }
            for (k, v) in x {
                if !b.contains_key(k) {
                    out.push((k.clone(), v.clone()));
                }
            }
            Datum::map_from(out)
        }
        _ => {
            let mut out: Vec<_> = a
                .as_set()
                .iter()
                .filter(|x| !b.contains_key(x))
                .cloned()
                .collect();
            out.extend(b.as_set().iter().filter(|x| !a.contains_key(x)).cloned());
            Datum::set_from(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Atom;

    #[test]
    fn set_and_map_diffs_follow_update2() {
        let s = |v: &[i64]| Datum::set_from(v.iter().map(|i| Atom::Integer(*i)).collect());
        assert_eq!(datum_diff(&s(&[1, 2, 3]), &s(&[2, 3, 4])), s(&[1, 4]));
        let m = |v: &[(i64, i64)]| {
            Datum::map_from(
                v.iter()
                    .map(|(k, x)| (Atom::Integer(*k), Atom::Integer(*x)))
                    .collect(),
            )
        };
        assert_eq!(
            datum_diff(&m(&[(1, 1), (2, 2), (3, 3)]), &m(&[(2, 2), (3, 4), (5, 5)])),
            m(&[(1, 1), (3, 4), (5, 5)])
        );
    }
}
