//! The transaction executor (RFC 7047 section 5.2 and OVS extensions).
//!
//! [`Database::transact`] is pure: `(database, operations, now, locks)` in,
//! a [`TxnOutcome`] out. Operations run against an overlay of touched rows;
//! nothing in the database changes until every operation succeeded and the
//! commit checks passed, in OVS's order:
//!
//! 1. drop rows whose content did not change (a no-op transaction makes no
//!    commit and no log record);
//! 2. strong reference counting: a reference to a row that does not exist
//!    fails ("referential integrity violation ... references nonexistent
//!    row"), deleting a row that is still referenced fails;
//! 3. garbage collection: rows of non-root tables left without strong
//!    references are deleted, transitively;
//! 4. maxRows;
//! 5. weak references to missing rows are removed (failing if that takes a
//!    column below its minimum size);
//! 6. index uniqueness;
//! 7. new `_version` for every changed row.
//!
//! The result array matches ovsdb-server's: one object per operation; on
//! failure the error object at the failing operation's index and `null` for
//! the operations that did not run; a commit-time failure is appended after
//! the per-operation results.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::condition::Condition;
use crate::data::{Atom, Datum, Row};
use crate::db::{Database, index_key, ref_deltas, strong_refs};
use crate::error::Error;
use crate::mutation::MutationSet;
use crate::parser::{Parser, kind};
use crate::schema::TableSchema;

/// Result of [`Database::transact`].
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum TxnOutcome {
    /// The transaction finished (committed, failed, or changed nothing).
    Done {
        /// The JSON array to return as the `transact` result.
        results: Value,
        /// The commit, if the transaction changed the database.
        commit: Option<Commit>,
    },
    /// A `wait` operation is not satisfied yet: re-run the same transaction
    /// (with the same `started_ms`) after the next commit, or at `until_ms`
    /// (`i64::MAX`: no timeout), when it will time out.
    Blocked {
        /// Absolute time at which the wait times out.
        until_ms: i64,
    },
}

/// A committed transaction.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The id of this transaction (for `monitor_cond_since`).
    pub txn_id: Uuid,
    /// Every row change, including garbage-collected rows and weak
    /// reference cleanups: table -> row -> change.
    pub changes: BTreeMap<String, BTreeMap<Uuid, RowChange>>,
    /// Comments from `comment` operations, joined with newlines.
    pub comment: Option<String>,
    /// Commit time.
    pub date_ms: i64,
    /// A `commit` operation asked for durability.
    pub durable: bool,
    /// The record to append to the log (`Value::Null` if only ephemeral
    /// columns changed, in which case nothing needs to be written).
    pub log_record: Value,
}

/// One row's change: insert (`old` None), delete (`new` None) or modify.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// The row before the transaction.
    pub old: Option<Arc<Row>>,
    /// The row after the transaction.
    pub new: Option<Arc<Row>>,
}

/// Parameters of a transaction run.
#[derive(Clone, Copy)]
pub struct TxnParams<'a> {
    /// Current time (ms).
    pub now_ms: i64,
    /// When the client's request first arrived (for `wait` timeouts).
    pub started_ms: i64,
    /// Lock ownership test for `assert`.
    pub locks: &'a dyn Fn(&str) -> bool,
    /// Allow writes to a reserved (`_`-prefixed) database (server-internal
    /// updates of `_Server`).
    pub internal: bool,
    /// Reject every write with "not allowed" (read-only server).
    pub read_only: bool,
}

impl std::fmt::Debug for TxnParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnParams")
            .field("now_ms", &self.now_ms)
            .field("started_ms", &self.started_ms)
            .field("internal", &self.internal)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// A touched row in the overlay.
#[derive(Debug, Clone)]
struct TxnRow {
    old: Option<Arc<Row>>,
    new: Option<Row>,
}

struct Sym {
    uuid: Uuid,
    created: bool,
}

struct Txn<'a> {
    db: &'a Database,
    rows: BTreeMap<String, BTreeMap<Uuid, TxnRow>>,
    symtab: HashMap<String, Sym>,
    comments: Vec<String>,
    durable: bool,
    elapsed_ms: i64,
    timeout_ms: i64,
}

enum OpError {
    Fail(Error),
    /// An unsatisfied wait (OVS: "not supported" / "triggers not supported").
    Block,
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        OpError::Fail(e)
    }
}

impl<'a> Txn<'a> {
    fn names(&mut self) -> impl FnMut(&str) -> Option<Uuid> + '_ {
        |name: &str| {
            let s = self.symtab.entry(name.to_string()).or_insert_with(|| Sym {
                uuid: Uuid::new_v4(),
                created: false,
            });
            Some(s.uuid)
        }
    }

    /// The current content of a row, if it exists in the overlay view.
    fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        if let Some(tr) = self.rows.get(table).and_then(|t| t.get(uuid)) {
            return tr.new.as_ref();
        }
        self.db.get_row(table, uuid).map(|r| &**r)
    }

    /// UUIDs of the rows of `table` that match `cond`.
    fn query(&self, table: &str, cond: &Condition) -> Vec<Uuid> {
        if let Some(u) = cond.uuid_eq() {
            return match self.row(table, &u) {
                Some(r) if cond.matches_all(r) => vec![u],
                _ => vec![],
            };
        }
        let touched = self.rows.get(table);
        let mut out = Vec::new();
        if let Some(t) = self.db.tables.get(table) {
            for (u, r) in &t.rows {
                if touched.is_some_and(|t| t.contains_key(u)) {
                    continue;
                }
                if cond.matches_all(r) {
                    out.push(*u);
                }
            }
        }
        if let Some(t) = touched {
            for (u, tr) in t {
                if let Some(r) = &tr.new {
                    if cond.matches_all(r) {
                        out.push(*u);
                    }
                }
            }
        }
        out
    }

    /// A mutable copy of a row in the overlay.
    fn modify(&mut self, table: &str, uuid: Uuid) -> Option<&mut Row> {
        let t = self.rows.entry(table.to_string()).or_default();
        if let std::collections::btree_map::Entry::Vacant(e) = t.entry(uuid) {
            let old = self.db.get_row(table, &uuid)?;
            e.insert(TxnRow {
                old: Some(Arc::clone(old)),
                new: Some((**old).clone()),
            });
        }
        t.get_mut(&uuid).and_then(|tr| tr.new.as_mut())
    }

    fn delete(&mut self, table: &str, uuid: Uuid) {
        let t = self.rows.entry(table.to_string()).or_default();
        match t.get_mut(&uuid) {
            Some(tr) => tr.new = None,
            None => {
                let old = self.db.get_row(table, &uuid).map(Arc::clone);
                t.insert(uuid, TxnRow { old, new: None });
            }
        }
    }

    fn parse_table<'j>(&self, p: &mut Parser<'j>, member: &str) -> Option<&'a TableSchema> {
        let j = p.member(member, kind::ID)?;
        let name = j.as_str().unwrap_or("");
        let t = self.db.schema.tables.get(name);
        if t.is_none() {
            p.raise(format!("No table named {name}."));
        }
        t
    }

    /// Parses a row object; returns the columns given.
    fn parse_row(&mut self, ts: &TableSchema, j: &Value) -> Result<Vec<(String, Datum)>, Error> {
        let obj = j
            .as_object()
            .ok_or_else(|| Error::syntax(Some(j), None, "row must be JSON object"))?;
        let mut out = Vec::with_capacity(obj.len());
        for (cn, cv) in obj {
            let ty = ts.column_type(cn).ok_or_else(|| {
                Error::syntax(
                    Some(j),
                    Some("unknown column"),
                    format!("No column {cn} in table {}.", ts.name),
                )
            })?;
            let mut names = self.names();
            let d = Datum::from_json(cv, ty, &mut names)?;
            out.push((cn.clone(), d));
        }
        Ok(out)
    }

    fn op_insert(&mut self, p: &mut Parser<'_>) -> Result<Value, OpError> {
        let ts = self.parse_table(p, "table");
        let uuid_j = p.member("uuid", kind::STRING | kind::OPTIONAL);
        let name_j = p.member("uuid-name", kind::ID | kind::OPTIONAL);
        let row_j = p.member("row", kind::OBJECT);
        if let Some(e) = p.error() {
            return Err(e.into());
        }
        let (Some(ts), Some(row_j)) = (ts, row_j) else {
            return Err(Error::new("ovsdb error", "bad insert").into());
        };
        let mut uuid = None;
        if let Some(uj) = uuid_j {
            let s = uj.as_str().unwrap_or("");
            let u = crate::data::parse_uuid_str(s)
                .ok_or_else(|| Error::syntax(Some(uj), None, "bad uuid"))?;
            let in_txn = self.rows.get(&ts.name).is_some_and(|t| t.contains_key(&u));
            if in_txn || self.db.get_row(&ts.name, &u).is_some() {
                return Err(Error::syntax(
                    Some(uj),
                    Some("duplicate uuid"),
                    "This UUID would duplicate a UUID already present within the table or deleted within the same transaction.",
                )
                .into());
            }
            uuid = Some(u);
        }
        if let Some(nj) = name_j {
            let name = nj.as_str().unwrap_or("").to_string();
            let sym = self.symtab.entry(name).or_insert_with(|| Sym {
                uuid: Uuid::new_v4(),
                created: false,
            });
            if sym.created {
                return Err(Error::syntax(
                    Some(nj),
                    Some("duplicate uuid-name"),
                    "This \"uuid-name\" appeared on an earlier \"insert\" operation.",
                )
                .into());
            }
            match uuid {
                Some(u) => sym.uuid = u,
                None => uuid = Some(sym.uuid),
            }
            sym.created = true;
        }
        let uuid = uuid.unwrap_or_else(Uuid::new_v4);
        let given = self.parse_row(ts, row_j)?;
        let mut row = Row::new_default(ts, uuid, Uuid::new_v4());
        for (c, d) in given {
            if !c.starts_with('_') {
                row.columns.insert(c, d);
            }
        }
        for (c, cs) in &ts.columns {
            if let Some(d) = row.columns.get(c) {
                if d.len() == 1 {
                    d.check_constraints(&cs.ty)?;
                }
            }
        }
        let t = self.rows.entry(ts.name.clone()).or_default();
        // A UUID from a named-uuid may collide with an existing row only by
        // astronomically unlikely chance; treat it like an explicit uuid.
        let old = self.db.get_row(&ts.name, &uuid).map(Arc::clone);
        if old.is_some() || t.contains_key(&uuid) {
            return Err(Error::new(
                "duplicate uuid",
                "generated UUID collides with an existing row",
            )
            .into());
        }
        t.insert(
            uuid,
            TxnRow {
                old: None,
                new: Some(row),
            },
        );
        Ok(json!({"uuid": ["uuid", uuid.to_string()]}))
    }

    fn op_select(&mut self, p: &mut Parser<'_>) -> Result<Value, OpError> {
        let ts = self.parse_table(p, "table");
        let where_j = p.member("where", kind::ARRAY);
        let cols_j = p.member("columns", kind::ARRAY | kind::OPTIONAL);
        let sort_j = p.member("sort", kind::ARRAY | kind::OPTIONAL);
        if let Some(e) = p.error() {
            return Err(e.into());
        }
        let (Some(ts), Some(where_j)) = (ts, where_j) else {
            return Err(Error::new("ovsdb error", "bad select").into());
        };
        let cond = {
            let mut names = self.names();
            Condition::from_json(ts, where_j, &mut names)?
        };
        let columns = ts.column_set_from_json(cols_j)?;
        let sort = match sort_j {
            Some(s) => ts.column_set_from_json(Some(s))?,
            None => Vec::new(),
        };
        let uuids = self.query(&ts.name, &cond);
        let mut rows: Vec<&Row> = uuids.iter().filter_map(|u| self.row(&ts.name, u)).collect();
        if cols_j.is_some() && !columns.iter().any(|c| c == "_uuid") {
            let mut seen = HashSet::new();
            rows.retain(|r| seen.insert(index_key(r, &columns)));
        }
        if !sort.is_empty() {
            rows.sort_by(|a, b| {
                let (ka, kb) = (index_key(a, &sort), index_key(b, &sort));
                ka.iter()
                    .zip(kb.iter())
                    .map(|(x, y)| x.ovs_cmp(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        let out: Vec<Value> = rows.iter().map(|r| r.to_json(ts, Some(&columns))).collect();
        Ok(json!({ "rows": out }))
    }

    fn op_update(&mut self, p: &mut Parser<'_>) -> Result<Value, OpError> {
        let ts = self.parse_table(p, "table");
        let where_j = p.member("where", kind::ARRAY);
        let row_j = p.member("row", kind::OBJECT);
        if let Some(e) = p.error() {
            return Err(e.into());
        }
        let (Some(ts), Some(where_j), Some(row_j)) = (ts, where_j, row_j) else {
            return Err(Error::new("ovsdb error", "bad update").into());
        };
        let given = self.parse_row(ts, row_j)?;
        for (c, _) in &given {
            let mutable = ts.columns.get(c).is_some_and(|cs| cs.mutable);
            if !mutable {
                return Err(Error::syntax(
                    p_json(p),
                    Some("constraint violation"),
                    format!("Cannot update immutable column {c} in table {}.", ts.name),
                )
                .into());
            }
        }
        let cond = {
            let mut names = self.names();
            Condition::from_json(ts, where_j, &mut names)?
        };
        let uuids = self.query(&ts.name, &cond);
        for u in &uuids {
            let differs = self
                .row(&ts.name, u)
                .is_some_and(|r| given.iter().any(|(c, d)| r.columns.get(c) != Some(d)));
            if differs {
                if let Some(r) = self.modify(&ts.name, *u) {
                    for (c, d) in &given {
                        r.columns.insert(c.clone(), d.clone());
                    }
                }
            }
        }
        Ok(json!({ "count": uuids.len() }))
    }

    fn op_mutate(&mut self, p: &mut Parser<'_>) -> Result<Value, OpError> {
        let ts = self.parse_table(p, "table");
        let where_j = p.member("where", kind::ARRAY);
        let muts_j = p.member("mutations", kind::ARRAY);
        if let Some(e) = p.error() {
            return Err(e.into());
        }
        let (Some(ts), Some(where_j), Some(muts_j)) = (ts, where_j, muts_j) else {
            return Err(Error::new("ovsdb error", "bad mutate").into());
        };
        let muts = {
            let mut names = self.names();
            MutationSet::from_json(ts, muts_j, &mut names)?
        };
        let cond = {
            let mut names = self.names();
            Condition::from_json(ts, where_j, &mut names)?
        };
        let uuids = self.query(&ts.name, &cond);
        if muts.mutations.is_empty() {
            return Ok(json!({ "count": uuids.len() }));
        }
        for u in &uuids {
            let Some(r) = self.modify(&ts.name, *u) else {
                continue;
            };
            for m in &muts.mutations {
                if let Some(d) = r.columns.get_mut(&m.column) {
                    m.apply(d)?;
                }
            }
        }
        Ok(json!({ "count": uuids.len() }))
    }

    fn op_delete(&mut self, p: &mut Parser<'_>) -> Result<Value, OpError> {
        let where_j = p.member("where", kind::ARRAY);
        let ts = self.parse_table(p, "table");
        if let Some(e) = p.error() {
            return Err(e.into());
        }
        let (Some(ts), Some(where_j)) = (ts, where_j) else {
            return Err(Error::new("ovsdb error", "bad delete").into());
        };
        let cond = {
            let mut names = self.names();
            Condition::from_json(ts, where_j, &mut names)?
        };
        let uuids = self.query(&ts.name, &cond);
        for u in &uuids {
            self.delete(&ts.name, *u);
        }
        Ok(json!({ "count": uuids.len() }))
    }

    fn op_wait(&mut self, p: &mut Parser<'_>) -> Result<Value, OpError> {
        let timeout_j = p.member("timeout", kind::INTEGER | kind::OPTIONAL);
        let where_j = p.member("where", kind::ARRAY);
        let cols_j = p.member("columns", kind::ARRAY | kind::OPTIONAL);
        let until_j = p.member("until", kind::STRING);
        let rows_j = p.member("rows", kind::ARRAY);
        let ts = self.parse_table(p, "table");
        if let Some(e) = p.error() {
            return Err(e.into());
        }
        let (Some(ts), Some(where_j), Some(until_j), Some(rows_j)) = (ts, where_j, until_j, rows_j)
        else {
            return Err(Error::new("ovsdb error", "bad wait").into());
        };
        let cond = {
            let mut names = self.names();
            Condition::from_json(ts, where_j, &mut names)?
        };
        let columns = ts.column_set_from_json(cols_j)?;
        let timeout = match timeout_j {
            Some(t) => {
                let t = t.as_i64().unwrap_or(0);
                if t < 0 {
                    return Err(
                        Error::syntax(timeout_j, None, "timeout must be nonnegative").into(),
                    );
                }
                self.timeout_ms = self.timeout_ms.min(t);
                Some(t)
            }
            None => None,
        };
        let until = until_j.as_str().unwrap_or("");
        if until != "==" && until != "!=" {
            return Err(
                Error::syntax(Some(until_j), None, "\"until\" must be \"==\" or \"!=\"").into(),
            );
        }
        let mut expected: HashSet<Vec<Datum>> = HashSet::new();
        for rj in rows_j.as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let given = self.parse_row(ts, rj)?;
            let mut row = Row::new_default(ts, Uuid::nil(), Uuid::nil());
            for (c, d) in given {
                match c.as_str() {
                    "_uuid" => row.uuid = d.first().and_then(Atom::as_uuid).unwrap_or_default(),
                    "_version" => {
                        row.version = d.first().and_then(Atom::as_uuid).unwrap_or_default()
                    }
                    _ => {
                        row.columns.insert(c, d);
                    }
                }
            }
            expected.insert(index_key(&row, &columns));
        }
        let mut actual: HashSet<Vec<Datum>> = HashSet::new();
        let mut equal = true;
        for u in self.query(&ts.name, &cond) {
            if let Some(r) = self.row(&ts.name, &u) {
                let k = index_key(r, &columns);
                if expected.contains(&k) {
                    actual.insert(k);
                } else {
                    equal = false;
                    break;
                }
            }
        }
        if equal {
            equal = actual.len() == expected.len();
        }
        if (until == "==") != equal {
            if let Some(t) = timeout {
                if self.elapsed_ms >= t {
                    return Err(if self.elapsed_ms > 0 {
                        Error::new(
                            "timed out",
                            format!("\"wait\" timed out after {} ms", self.elapsed_ms),
                        )
                    } else {
                        Error::new("timed out", "\"where\" clause test failed")
                    }
                    .into());
                }
            }
            return Err(OpError::Block);
        }
        Ok(json!({}))
    }

    fn op_commit(&mut self, p: &mut Parser<'_>) -> Result<Value, OpError> {
        if let Some(d) = p.member("durable", kind::BOOLEAN) {
            if d.as_bool() == Some(true) {
                self.durable = true;
            }
        }
        Ok(json!({}))
    }

    fn op_comment(&mut self, p: &mut Parser<'_>) -> Result<Value, OpError> {
        if let Some(c) = p.member("comment", kind::STRING) {
            self.comments.push(c.as_str().unwrap_or("").to_string());
        }
        Ok(json!({}))
    }

    fn op_assert(
        &mut self,
        p: &mut Parser<'_>,
        locks: &dyn Fn(&str) -> bool,
    ) -> Result<Value, OpError> {
        let Some(l) = p.member("lock", kind::ID) else {
            return Ok(json!({}));
        };
        let name = l.as_str().unwrap_or("");
        if locks(name) {
            Ok(json!({}))
        } else {
            Err(Error::new("not owner", format!("Asserted lock {name} not held.")).into())
        }
    }
}

fn p_json<'j>(p: &Parser<'j>) -> Option<&'j Value> {
    p.json()
}

/// The log-file JSON of one row change: all non-default persistent columns
/// of an inserted row (`old` None, also used for snapshots); for a modified
/// row, the changed persistent columns, composite ones (sets and maps that
/// may hold more than one element) as OVS column diffs (`"_is_diff"`
/// records, as ovsdb-server 2.15+ writes them), others as new values.
pub(crate) fn row_record(ts: &TableSchema, old: Option<&Row>, new: &Row) -> Value {
    let mut m = Map::new();
    for (c, cs) in &ts.columns {
        if cs.ephemeral {
            continue;
        }
        let Some(d) = new.columns.get(c) else {
            continue;
        };
        match old {
            Some(o) => {
                let Some(od) = o.columns.get(c) else {
                    m.insert(c.clone(), d.to_json(&cs.ty));
                    continue;
                };
                if od == d {
                    continue;
                }
                if cs.ty.max > 1 {
                    m.insert(c.clone(), datum_diff(od, d).to_json(&cs.ty));
                } else {
                    m.insert(c.clone(), d.to_json(&cs.ty));
                }
            }
            None => {
                if *d != Datum::default_for(&cs.ty) {
                    m.insert(c.clone(), d.to_json(&cs.ty));
                }
            }
        }
    }
    Value::Object(m)
}

/// The OVS column diff from `a` to `b`: for sets the symmetric difference;
/// for maps the pairs added or changed (with their new value) plus the
/// pairs removed (with their old value).
pub(crate) fn datum_diff(a: &Datum, b: &Datum) -> Datum {
    match (a, b) {
        (Datum::Set(x), Datum::Set(y)) => {
            let mut out = Vec::new();
            let (mut i, mut j) = (0, 0);
            while i < x.len() || j < y.len() {
                match (x.get(i), y.get(j)) {
                    (Some(p), Some(q)) if p == q => {
                        i += 1;
                        j += 1;
                    }
                    (Some(p), Some(q)) if p < q => {
                        out.push(p.clone());
                        i += 1;
                    }
                    (Some(p), None) => {
                        out.push(p.clone());
                        i += 1;
                    }
                    (_, Some(q)) => {
                        out.push(q.clone());
                        j += 1;
                    }
                    (None, None) => break,
                }
            }
            Datum::Set(out)
        }
        (Datum::Map(x), Datum::Map(y)) => {
            let mut out = Vec::new();
            let (mut i, mut j) = (0, 0);
            while i < x.len() || j < y.len() {
                match (x.get(i), y.get(j)) {
                    (Some(p), Some(q)) if p.0 == q.0 => {
                        if p.1 != q.1 {
                            out.push(q.clone());
                        }
                        i += 1;
                        j += 1;
                    }
                    (Some(p), Some(q)) if p.0 < q.0 => {
                        out.push(p.clone());
                        i += 1;
                    }
                    (Some(p), None) => {
                        out.push(p.clone());
                        i += 1;
                    }
                    (_, Some(q)) => {
                        out.push(q.clone());
                        j += 1;
                    }
                    (None, None) => break,
                }
            }
            Datum::Map(out)
        }
        _ => b.clone(),
    }
}

impl Database {
    /// Runs a transaction. `ops` are the `transact` params after the
    /// database name; `locks` answers `assert` operations.
    pub fn transact(
        &mut self,
        ops: &[Value],
        now_ms: i64,
        locks: &dyn Fn(&str) -> bool,
    ) -> TxnOutcome {
        self.transact_with(
            ops,
            &TxnParams {
                now_ms,
                started_ms: now_ms,
                locks,
                internal: false,
                read_only: false,
            },
        )
    }

    /// Runs a transaction with full parameters. On success with changes,
    /// the database is updated and the commit returned; otherwise the
    /// database is unchanged.
    pub fn transact_with(&mut self, ops: &[Value], params: &TxnParams<'_>) -> TxnOutcome {
        let mut txn = Txn {
            db: self,
            rows: BTreeMap::new(),
            symtab: HashMap::new(),
            comments: Vec::new(),
            durable: false,
            elapsed_ms: params.now_ms.saturating_sub(params.started_ms).max(0),
            timeout_ms: i64::MAX,
        };
        let n = ops.len();
        let mut results: Vec<Value> = Vec::with_capacity(n);
        let mut failed = false;
        for (i, op) in ops.iter().enumerate() {
            let mut p = Parser::new(op, format!("ovsdb operation {} of {}", i + 1, n));
            let op_name = p
                .member("op", kind::ID)
                .and_then(Value::as_str)
                .map(str::to_string);
            let mut read_only_op = true;
            let r: Result<Value, OpError> = match op_name.as_deref() {
                None => Err(OpError::Fail(
                    p.error()
                        .unwrap_or_else(|| Error::new("syntax error", "bad op")),
                )),
                Some(name) => {
                    read_only_op = !matches!(name, "insert" | "update" | "mutate" | "delete");
                    match name {
                        "insert" => txn.op_insert(&mut p),
                        "select" => txn.op_select(&mut p),
                        "update" => txn.op_update(&mut p),
                        "mutate" => txn.op_mutate(&mut p),
                        "delete" => txn.op_delete(&mut p),
                        "wait" => txn.op_wait(&mut p),
                        "commit" => txn.op_commit(&mut p),
                        "abort" => Err(Error::new("aborted", "aborted by request").into()),
                        "comment" => txn.op_comment(&mut p),
                        "assert" => txn.op_assert(&mut p, params.locks),
                        other => {
                            p.raise(format!("No operation \"{other}\""));
                            read_only_op = true;
                            Err(OpError::Fail(
                                p.error()
                                    .unwrap_or_else(|| Error::new("syntax error", "bad op")),
                            ))
                        }
                    }
                }
            };
            let r = match p.finish() {
                Err(e) => Err(OpError::Fail(e)),
                Ok(()) => r,
            };
            let r = match r {
                Ok(_) if !read_only_op && params.read_only => Err(OpError::Fail(Error::new(
                    "not allowed",
                    format!(
                        "{} operation not allowed when database server is in read only mode",
                        op_name.as_deref().unwrap_or("")
                    ),
                ))),
                other => other,
            };
            let r = match r {
                Ok(_)
                    if !read_only_op && !params.internal && txn.db.schema.name.starts_with('_') =>
                {
                    Err(OpError::Fail(Error::new(
                        "not allowed",
                        format!(
                            "{} operation not allowed on table in reserved database {}",
                            op_name.as_deref().unwrap_or(""),
                            txn.db.schema.name
                        ),
                    )))
                }
                other => other,
            };
            match r {
                Ok(v) => results.push(v),
                Err(OpError::Fail(e)) => {
                    results.push(e.to_json());
                    failed = true;
                    break;
                }
                Err(OpError::Block) => {
                    let until = if txn.timeout_ms == i64::MAX {
                        i64::MAX
                    } else {
                        params.started_ms.saturating_add(txn.timeout_ms)
                    };
                    return TxnOutcome::Blocked { until_ms: until };
                }
            }
        }
        while results.len() < n {
            results.push(Value::Null);
        }
        if failed {
            return TxnOutcome::Done {
                results: Value::Array(results),
                commit: None,
            };
        }
        let durable = txn.durable;
        let comment = if txn.comments.is_empty() {
            None
        } else {
            Some(txn.comments.join("\n"))
        };
        let rows = std::mem::take(&mut txn.rows);
        drop(txn);
        match precommit(self, rows, params.now_ms) {
            Err(e) => {
                results.push(e.to_json());
                TxnOutcome::Done {
                    results: Value::Array(results),
                    commit: None,
                }
            }
            Ok(changes) if changes.is_empty() => TxnOutcome::Done {
                results: Value::Array(results),
                commit: None,
            },
            Ok(changes) => {
                let txn_id = Uuid::new_v4();
                let log_record = make_log_record(self, &changes, comment.as_deref(), params.now_ms);
                self.apply_changes(&changes);
                self.txn_id = txn_id;
                TxnOutcome::Done {
                    results: Value::Array(results),
                    commit: Some(Commit {
                        txn_id,
                        changes,
                        comment,
                        date_ms: params.now_ms,
                        durable,
                        log_record,
                    }),
                }
            }
        }
    }
}

fn make_log_record(
    db: &Database,
    changes: &BTreeMap<String, BTreeMap<Uuid, RowChange>>,
    comment: Option<&str>,
    date_ms: i64,
) -> Value {
    let mut m = Map::new();
    for (tname, rows) in changes {
        let Some(ts) = db.schema.tables.get(tname) else {
            continue;
        };
        let mut tm = Map::new();
        for (u, ch) in rows {
            match &ch.new {
                None => {
                    tm.insert(u.to_string(), Value::Null);
                }
                Some(new) => {
                    let rec = row_record(ts, ch.old.as_deref(), new);
                    if ch.old.is_none() || rec.as_object().is_some_and(|o| !o.is_empty()) {
                        tm.insert(u.to_string(), rec);
                    }
                }
            }
        }
        if !tm.is_empty() {
            m.insert(tname.clone(), Value::Object(tm));
        }
    }
    if m.is_empty() {
        return Value::Null;
    }
    if let Some(c) = comment {
        m.insert("_comment".into(), c.into());
    }
    m.insert("_is_diff".into(), true.into());
    m.insert("_date".into(), date_ms.into());
    Value::Object(m)
}

type Changes = BTreeMap<String, BTreeMap<Uuid, TxnRow>>;

fn get_new<'c>(db: &'c Database, rows: &'c Changes, table: &str, u: &Uuid) -> Option<&'c Row> {
    match rows.get(table).and_then(|t| t.get(u)) {
        Some(tr) => tr.new.as_ref(),
        None => db.get_row(table, u).map(|r| &**r),
    }
}

/// The commit checks; returns the final change set.
fn precommit(
    db: &Database,
    mut rows: Changes,
    _now_ms: i64,
) -> Result<BTreeMap<String, BTreeMap<Uuid, RowChange>>, Error> {
    let schema = Arc::clone(&db.schema);
    // 1. Drop unchanged rows (and insert-then-delete).
    for t in rows.values_mut() {
        t.retain(|_, tr| match (&tr.old, &tr.new) {
            (None, None) => false,
            (Some(o), Some(n)) => o.columns != n.columns,
            _ => true,
        });
    }
    rows.retain(|_, t| !t.is_empty());
    if rows.is_empty() {
        return Ok(BTreeMap::new());
    }

    // 2. Reference count deltas; references must point at existing rows.
    let mut delta: HashMap<(&str, Uuid), i64> = HashMap::new();
    for (tname, t) in &rows {
        let Some(ts) = schema.tables.get(tname) else {
            continue;
        };
        for (u, tr) in t {
            let mut err: Option<Error> = None;
            ref_deltas(ts, tr.old.as_deref(), tr.new.as_ref(), |rt, ru, d| {
                *delta.entry((rt, ru)).or_insert(0) += d;
                if d > 0 && err.is_none() {
                    let deleted_here = rows
                        .get(rt)
                        .is_some_and(|t| t.get(&ru).is_some_and(|x| x.old.is_some()));
                    if get_new(db, &rows, rt, &ru).is_none() && !deleted_here {
                        let col = ts
                            .columns
                            .values()
                            .find(|c| {
                                tr.new
                                    .as_ref()
                                    .and_then(|n| n.columns.get(&c.name))
                                    .is_some_and(|d| {
                                        d.atoms().any(|a| a.as_uuid() == Some(ru))
                                            && (c.ty.key.ref_table.as_deref() == Some(rt)
                                                || c.ty
                                                    .value
                                                    .as_ref()
                                                    .and_then(|v| v.ref_table.as_deref())
                                                    == Some(rt))
                                    })
                            })
                            .map(|c| c.name.as_str())
                            .unwrap_or("");
                        err = Some(Error::referential(format!(
                            "Table {tname} column {col} row {u} references nonexistent row {ru} in table {rt}."
                        )));
                    }
                }
            });
            if let Some(e) = err {
                return Err(e);
            }
        }
    }
    let count = |delta: &HashMap<(&str, Uuid), i64>, t: &str, u: &Uuid| -> i64 {
        i64::from(db.ref_count(t, u)) + delta.get(&(t, *u)).copied().unwrap_or(0)
    };
    // Deleted rows must be unreferenced.
    for (tname, t) in &rows {
        for (u, tr) in t {
            if tr.new.is_none() {
                let n = count(&delta, tname, u);
                if n > 0 {
                    return Err(Error::referential(format!(
                        "cannot delete {tname} row {u} because of {n} remaining reference(s)"
                    )));
                }
            }
        }
    }

    // 3. Garbage collection of unreferenced non-root rows.
    let mut work: Vec<(String, Uuid)> = Vec::new();
    for (tname, t) in &rows {
        if schema.tables.get(tname).is_some_and(|ts| !ts.is_root) {
            for (u, tr) in t {
                if tr.new.is_some() {
                    work.push((tname.clone(), *u));
                }
            }
        }
    }
    for ((tname, u), d) in &delta {
        if *d < 0 && schema.tables.get(*tname).is_some_and(|ts| !ts.is_root) {
            work.push((tname.to_string(), *u));
        }
    }
    let mut seen_gc: HashSet<(String, Uuid)> = HashSet::new();
    while let Some((tname, u)) = work.pop() {
        if count(&delta, &tname, &u) > 0 {
            continue;
        }
        let Some(ts) = schema.tables.get(&tname) else {
            continue;
        };
        let Some(row) = get_new(db, &rows, &tname, &u).cloned() else {
            continue;
        };
        if !seen_gc.insert((tname.clone(), u)) {
            continue;
        }
        for (rt, ru) in strong_refs(ts, &row) {
            *delta.entry((rt, ru)).or_insert(0) -= 1;
            if schema.tables.get(rt).is_some_and(|t| !t.is_root) {
                work.push((rt.to_string(), ru));
            }
        }
        let t = rows.entry(tname.clone()).or_default();
        match t.get_mut(&u) {
            Some(tr) => tr.new = None,
            None => {
                t.insert(
                    u,
                    TxnRow {
                        old: db.get_row(&tname, &u).map(Arc::clone),
                        new: None,
                    },
                );
            }
        }
    }
    for t in rows.values_mut() {
        t.retain(|_, tr| tr.old.is_some() || tr.new.is_some());
    }
    rows.retain(|_, t| !t.is_empty());

    // 4. maxRows.
    for (tname, t) in &rows {
        let Some(ts) = schema.tables.get(tname) else {
            continue;
        };
        if let Some(max) = ts.max_rows {
            let mut n = db.row_count(tname) as i64;
            for tr in t.values() {
                n += i64::from(tr.new.is_some()) - i64::from(tr.old.is_some());
            }
            if n > max as i64 {
                return Err(Error::constraint(format!(
                    "transaction causes \"{tname}\" table to contain {n} rows, greater than the schema-defined limit of {max} row(s)"
                )));
            }
        }
    }

    // 5. Weak references: drop references to rows that do not exist.
    let deleted: BTreeSet<(String, Uuid)> = rows
        .iter()
        .flat_map(|(t, rs)| {
            rs.iter()
                .filter(|(_, tr)| tr.new.is_none())
                .map(move |(u, _)| (t.clone(), *u))
        })
        .collect();
    let deleted_tables: BTreeSet<&str> = deleted.iter().map(|(t, _)| t.as_str()).collect();
    let mut weak_candidates: BTreeSet<(String, Uuid)> = BTreeSet::new();
    for (tname, ts) in &schema.tables {
        let weak_cols: Vec<_> = ts
            .columns
            .values()
            .filter(|c| {
                c.ty.key.is_weak_ref() || c.ty.value.as_ref().is_some_and(|v| v.is_weak_ref())
            })
            .collect();
        if weak_cols.is_empty() {
            continue;
        }
        // Rows touched by this transaction.
        if let Some(t) = rows.get(tname) {
            for (u, tr) in t {
                if tr.new.is_some() {
                    weak_candidates.insert((tname.clone(), *u));
                }
            }
        }
        // Untouched rows that may reference a deleted row.
        let targets_deleted = weak_cols.iter().any(|c| {
            [Some(&c.ty.key), c.ty.value.as_ref()]
                .into_iter()
                .flatten()
                .any(|b| {
                    b.is_weak_ref()
                        && b.ref_table
                            .as_deref()
                            .is_some_and(|rt| deleted_tables.contains(rt))
                })
        });
        if targets_deleted {
            for (u, r) in db.table_rows(tname).map(|r| (r.uuid, r)) {
                if rows.get(tname).is_some_and(|t| t.contains_key(&u)) {
                    continue;
                }
                let refs_deleted = weak_cols.iter().any(|c| {
                    let Some(d) = r.columns.get(&c.name) else {
                        return false;
                    };
                    let kt =
                        c.ty.key
                            .ref_table
                            .as_deref()
                            .filter(|_| c.ty.key.is_weak_ref());
                    let vt =
                        c.ty.value
                            .as_ref()
                            .and_then(|v| v.ref_table.as_deref().filter(|_| v.is_weak_ref()));
                    kt.is_some_and(|rt| {
                        d.keys().any(|a| {
                            a.as_uuid()
                                .is_some_and(|x| deleted.contains(&(rt.to_string(), x)))
                        })
                    }) || vt.is_some_and(|rt| {
                        d.as_map().iter().any(|p| {
                            p.1.as_uuid()
                                .is_some_and(|x| deleted.contains(&(rt.to_string(), x)))
                        })
                    })
                });
                if refs_deleted {
                    weak_candidates.insert((tname.clone(), u));
                }
            }
        }
    }
    for (tname, u) in weak_candidates {
        let Some(ts) = schema.tables.get(&tname) else {
            continue;
        };
        let Some(mut row) = get_new(db, &rows, &tname, &u).cloned() else {
            continue;
        };
        let is_insert = rows
            .get(&tname)
            .and_then(|t| t.get(&u))
            .is_some_and(|tr| tr.old.is_none());
        let mut changed = false;
        for cs in ts.columns.values() {
            let kt = cs
                .ty
                .key
                .ref_table
                .as_deref()
                .filter(|_| cs.ty.key.is_weak_ref());
            let vt = cs
                .ty
                .value
                .as_ref()
                .and_then(|v| v.ref_table.as_deref().filter(|_| v.is_weak_ref()));
            if kt.is_none() && vt.is_none() {
                continue;
            }
            let Some(d) = row.columns.get_mut(&cs.name) else {
                continue;
            };
            let orig_n = d.len();
            let mut zero = false;
            let alive = |rt: &str, a: &Atom, zero: &mut bool| -> bool {
                match a.as_uuid() {
                    Some(x) => {
                        let ok = get_new(db, &rows, rt, &x).is_some();
                        if !ok && x.is_nil() {
                            *zero = true;
                        }
                        ok
                    }
                    None => true,
                }
            };
            match d {
                Datum::Set(v) => {
                    if let Some(rt) = kt {
                        v.retain(|a| alive(rt, a, &mut zero));
                    }
                }
                Datum::Map(v) => v.retain(|(k, x)| {
                    kt.is_none_or(|rt| alive(rt, k, &mut zero))
                        && vt.is_none_or(|rt| alive(rt, x, &mut zero))
                }),
            }
            if d.len() != orig_n {
                changed = true;
                if (d.len() as u64) < u64::from(cs.ty.min) {
                    return Err(if zero && is_insert {
                        Error::constraint(format!(
                            "Weak reference column \"{}\" in \"{tname}\" row {u} (inserted within this transaction) contained all-zeros UUID (probably as the default value for this column) but deleting this value caused a constraint volation because this column is not allowed to be empty.",
                            cs.name
                        ))
                    } else {
                        Error::constraint(format!(
                            "Deletion of {} weak reference(s) to deleted (or never-existing) rows from column \"{}\" in \"{tname}\" row {u} {}caused this column to become empty, but constraints on this column disallow an empty column.",
                            orig_n - d.len(),
                            cs.name,
                            if is_insert {
                                "(inserted within this transaction) "
                            } else {
                                ""
                            }
                        ))
                    });
                }
            }
        }
        if changed {
            let t = rows.entry(tname.clone()).or_default();
            match t.get_mut(&u) {
                Some(tr) => tr.new = Some(row),
                None => {
                    t.insert(
                        u,
                        TxnRow {
                            old: db.get_row(&tname, &u).map(Arc::clone),
                            new: Some(row),
                        },
                    );
                }
            }
        }
    }

    // 6. Index uniqueness.
    for (tname, t) in &rows {
        let Some(ts) = schema.tables.get(tname) else {
            continue;
        };
        let Some(table) = db.tables.get(tname) else {
            continue;
        };
        for (i, cols) in ts.indexes.iter().enumerate() {
            let mut local: HashMap<Vec<Datum>, Uuid> = HashMap::new();
            for (u, tr) in t {
                let Some(n) = &tr.new else { continue };
                let k = index_key(n, cols);
                let other = local.get(&k).copied().or_else(|| {
                    table
                        .indexes
                        .get(i)
                        .and_then(|ix| ix.get(&k))
                        .copied()
                        .filter(|o| o != u && !t.contains_key(o))
                });
                if let Some(o) = other {
                    let orow = get_new(db, &rows, tname, &o)
                        .or_else(|| db.get_row(tname, &o).map(|r| &**r));
                    if let Some(orow) = orow {
                        return Err(index_error(&rows, ts, cols, orow, n));
                    }
                }
                local.insert(k, *u);
            }
        }
    }

    // Weak reference cleanup may have undone a modification.
    for t in rows.values_mut() {
        t.retain(|_, tr| match (&tr.old, &tr.new) {
            (Some(o), Some(n)) => o.columns != n.columns,
            _ => true,
        });
    }
    rows.retain(|_, t| !t.is_empty());

    // 7. New versions; build the change set.
    let mut out: BTreeMap<String, BTreeMap<Uuid, RowChange>> = BTreeMap::new();
    for (tname, t) in rows {
        let mut tm = BTreeMap::new();
        for (u, tr) in t {
            let new = tr.new.map(|mut r| {
                r.version = Uuid::new_v4();
                Arc::new(r)
            });
            tm.insert(u, RowChange { old: tr.old, new });
        }
        out.insert(tname, tm);
    }
    Ok(out)
}

/// Joins items as an English list: "a", "a and b", "a, b, and c".
fn english_list(items: &[String]) -> String {
    let n = items.len();
    let mut s = String::new();
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(if n == 2 {
                " and "
            } else if i == n - 1 {
                ", and "
            } else {
                ", "
            });
        }
        s.push_str(x);
    }
    s
}

fn index_error(rows: &Changes, ts: &TableSchema, cols: &[String], a: &Row, b: &Row) -> Error {
    let ty = |c: &str| {
        ts.column_type(c)
            .unwrap_or(crate::schema::uuid_type())
            .clone()
    };
    let values = |r: &Row| -> String {
        let v: Vec<String> = cols
            .iter()
            .map(|c| {
                r.get(c)
                    .map(|d| d.to_ovs_string(&ty(c)))
                    .unwrap_or_default()
            })
            .collect();
        english_list(&v)
    };
    // Like OVS: order the two rows by their non-UUID columns, greater first.
    let comparable: Vec<&String> = ts
        .columns
        .iter()
        .filter(|(_, c)| {
            c.ty.key.atomic != crate::schema::AtomicType::Uuid
                && c.ty
                    .value
                    .as_ref()
                    .is_none_or(|v| v.atomic != crate::schema::AtomicType::Uuid)
        })
        .map(|(n, _)| n)
        .collect();
    let cmp = comparable
        .iter()
        .map(|c| match (a.columns.get(*c), b.columns.get(*c)) {
            (Some(x), Some(y)) => x.ovs_cmp(y),
            _ => std::cmp::Ordering::Equal,
        })
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal);
    let (a, b) = if cmp.is_lt() { (b, a) } else { (a, b) };
    let describe = |title: &str, r: &Row| -> String {
        let tr = rows.get(&ts.name).and_then(|t| t.get(&r.uuid));
        let what = match tr {
            None => "existed in the database before this transaction and was not modified by the transaction."
                .to_string(),
            Some(tr) => match (tr.old.as_deref(), tr.new.as_ref()) {
                (None, _) => "was inserted by this transaction.".to_string(),
                (Some(o), Some(n)) if o.columns == n.columns => {
                    "existed in the database before this transaction and was not modified by the transaction."
                        .to_string()
                }
                (Some(o), Some(n)) if index_key(o, cols) == index_key(n, cols) => {
                    "existed in the database before this transaction, which modified some of the row's columns but not any columns in this index.".to_string()
                }
                (Some(o), _) => {
                    format!("had the following index values before the transaction: {}.", values(o))
                }
            },
        };
        format!("{title} row, with UUID {}, {what}", r.uuid)
    };
    let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
    Error::constraint(format!(
        "Transaction causes multiple rows in \"{}\" table to have identical values ({}) for index on column{} {}.  {}  {}",
        ts.name,
        values(a),
        if cols.len() > 1 { "s" } else { "" },
        english_list(&quoted),
        describe("First", a),
        describe("Second", b)
    ))
}
