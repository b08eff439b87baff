//! The generic database commands (`list`, `find`, `get`, `set`, `add`,
//! `remove`, `clear`, `create`, `destroy`, `wait-until`) and the lookups
//! they share: tables and columns by unique prefix, records by name, UUID
//! or UUID prefix, `COLUMN[:KEY]=VALUE` arguments.

use std::cmp::Ordering;

use ovsdb::{Atom, Datum, TableSchema, Type};
use uuid::Uuid;

use super::format::{Cell, render};
use super::value::{atom_from_string, datum_from_string, token_parse, with_bounds};
use super::{Ctx, Fail, warn};

type R<T> = Result<T, Fail>;

fn fatal<T>(msg: impl Into<String>) -> R<T> {
    Err(Fail::Fatal(msg.into()))
}

/// How well `s` matches `name` (OVS's partial-match score).
fn score(name: &str, s: &str) -> usize {
    if name == s {
        return usize::MAX;
    }
    let (n, b) = (name.as_bytes(), s.as_bytes());
    let mut i = 0;
    loop {
        let (a, c) = (n.get(i), b.get(i));
        match (a, c) {
            (None, None) => return usize::MAX - 1,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => i += 1,
            (_, None) => return i,
            _ => return 0,
        }
    }
}

/// The table named (or uniquely abbreviated) by `name`.
pub(crate) fn get_table(ctx: &Ctx<'_>, name: &str) -> R<String> {
    let mut best: Option<&str> = None;
    let mut best_score = 0;
    for t in ctx.txn.schema().tables.keys() {
        let sc = score(t, name);
        if sc > best_score {
            best = Some(t);
            best_score = sc;
        } else if sc == best_score {
            best = None;
        }
    }
    match best {
        Some(t) => Ok(t.to_string()),
        None if best_score > 0 => fatal(format!("multiple table names match \"{name}\"")),
        None => fatal(format!("unknown table \"{name}\"")),
    }
}

/// The column named (or uniquely abbreviated) by `name`; `_uuid` too.
pub(crate) fn get_column(ts: &TableSchema, name: &str) -> R<String> {
    if name == "_uuid" {
        return Ok("_uuid".into());
    }
    let mut best: Option<&str> = None;
    let mut best_score = 0;
    let mut tied: Vec<&str> = Vec::new();
    for c in ts.columns.keys() {
        let sc = score(c, name);
        if sc == 0 {
            continue;
        }
        if sc > best_score {
            best = Some(c);
            best_score = sc;
            tied = vec![c];
        } else if sc == best_score {
            best = None;
            tied.push(c);
        }
    }
    match best {
        Some(c) => Ok(c.to_string()),
        None if best_score > 0 => fatal(format!(
            "{} contains more than one column whose name matches \"{name}\": {}",
            ts.name,
            tied.join(", ")
        )),
        None => fatal(format!(
            "{} does not contain a column whose name matches \"{name}\"",
            ts.name
        )),
    }
}

/// The type of a column (`_uuid` included).
pub(crate) fn column_type(ts: &TableSchema, col: &str) -> Type {
    ts.column_type(col)
        .cloned()
        .unwrap_or_else(|| ovsdb::schema::uuid_type().clone())
}

/// A column's value, `_uuid` included.
pub(crate) fn read(ctx: &Ctx<'_>, table: &str, u: &Uuid, col: &str) -> Datum {
    if col == "_uuid" {
        return Datum::scalar(Atom::Uuid(*u));
    }
    ctx.txn.db.get(table, u, col)
}

/// How records of each table are named (ovs-vsctl's row ids): the table
/// itself by a column, or another table's named row and its reference.
fn row_ids(table: &str) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    Some(match table {
        "Bridge" => ("Bridge", "name", None),
        "Controller" => ("Bridge", "name", Some("controller")),
        "Interface" => ("Interface", "name", None),
        "Mirror" => ("Mirror", "name", None),
        "Manager" => ("Manager", "target", None),
        "NetFlow" => ("Bridge", "name", Some("netflow")),
        "Port" => ("Port", "name", None),
        "QoS" => ("Port", "name", Some("qos")),
        "sFlow" => ("Bridge", "name", Some("sflow")),
        "Flow_Table" => ("Flow_Table", "name", None),
        "IPFIX" => ("Bridge", "name", Some("ipfix")),
        "AutoAttach" => ("Bridge", "name", Some("auto_attach")),
        "Flow_Sample_Collector_Set" => ("Flow_Sample_Collector_Set", "id", None),
        _ => return None,
    })
}

/// Finds a record by `.`, UUID, UUID prefix (4+ hex digits) or name.
pub(crate) fn get_row(
    ctx: &mut Ctx<'_>,
    table: &str,
    id: &str,
    must_exist: bool,
) -> R<Option<Uuid>> {
    let rows: Vec<Uuid> = ctx
        .txn
        .db
        .table(table)
        .map(|t| t.keys().copied().collect())
        .unwrap_or_default();
    let mut found: Option<Uuid> = None;
    if id == "." && rows.len() == 1 {
        found = rows.first().copied();
    }
    if found.is_none() {
        if let Some(u) = ovsdb::data::parse_uuid_str(id) {
            if rows.contains(&u) {
                found = Some(u);
            }
        }
    }
    if found.is_none() {
        if let Some((src, col, refcol)) = row_ids(table) {
            let ts = ctx.txn.ts(src).cloned();
            if let Some(ts) = ts {
                let kt = column_type(&ts, col);
                if let Ok(key) = atom_from_string(&kt.key, id, &mut ctx.symtab.clone()) {
                    let src_rows: Vec<Uuid> = ctx
                        .txn
                        .db
                        .table(src)
                        .map(|t| t.keys().copied().collect())
                        .unwrap_or_default();
                    let mut matches: Vec<Uuid> = Vec::new();
                    for r in src_rows {
                        let d = ctx.txn.db.get(src, &r, col);
                        if d.first() == Some(&key) && d.len() == 1 {
                            match refcol {
                                None => matches.push(r),
                                Some(rc) => {
                                    let refs = ctx.txn.db.get(src, &r, rc).uuids();
                                    if refs.len() == 1 {
                                        matches
                                            .extend(refs.into_iter().filter(|u| rows.contains(u)));
                                    } else if refs.len() > 1 {
                                        return fatal(format!(
                                            "multiple rows in {table} match \"{id}\""
                                        ));
                                    }
                                }
                            }
                        }
                    }
                    matches.dedup();
                    if matches.len() > 1 {
                        return fatal(format!("multiple rows in {table} match \"{id}\""));
                    }
                    found = matches.first().copied();
                }
            }
        }
    }
    if found.is_none() && id.len() >= 4 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        let low = id.to_ascii_lowercase();
        let m: Vec<Uuid> = rows
            .iter()
            .filter(|u| u.to_string().starts_with(&low))
            .copied()
            .collect();
        if m.len() > 1 {
            return fatal(format!("multiple rows in {table} match \"{id}\""));
        }
        found = m.first().copied();
    }
    if found.is_none() && must_exist {
        return fatal(format!("no row \"{id}\" in table {table}"));
    }
    Ok(found)
}

/// `COLUMN[:KEY][OP VALUE]` split into parts. `ops` lists the accepted
/// operators (empty: no value allowed).
struct Ckv {
    column: String,
    key: Option<String>,
    op: Option<&'static str>,
    value: Option<String>,
}

const COND_OPS: &[&str] = &[
    "{not-in}", "{in}", "{>=}", "{<=}", "{!=}", "{=}", "{<}", "{>}", "!=", "<=", ">=", "=", "<",
    ">",
];

fn parse_ckv(ts: &TableSchema, arg: &str, ops: &[&'static str]) -> R<Ckv> {
    let (col, rest) = token_parse(arg).map_err(Fail::Fatal)?;
    if col.is_empty() {
        return fatal(format!("{arg}: missing column name"));
    }
    let column = get_column(ts, &col)?;
    let mut p = rest;
    let mut key = None;
    if let Some(r) = p.strip_prefix(':') {
        let (k, r2) = token_parse(r).map_err(Fail::Fatal)?;
        key = Some(k);
        p = r2;
    }
    if ops.is_empty() {
        if !p.is_empty() {
            return fatal(format!("{arg}: trailing garbage \"{p}\" in argument"));
        }
        return Ok(Ckv {
            column,
            key,
            op: None,
            value: None,
        });
    }
    for op in ops {
        if let Some(v) = p.strip_prefix(op).filter(|v| !v.is_empty()) {
            return Ok(Ckv {
                column,
                key,
                op: Some(op),
                value: Some(v.to_string()),
            });
        }
    }
    if ops.len() == 1 {
        fatal(format!(
            "{arg}: argument does not end in \"=\" followed by a value."
        ))
    } else {
        fatal(format!(
            "{arg}: argument does not end in \"=\", \"!=\", \"<\", \">\", \"<=\", \">=\", \"{{=}}\", \"{{!=}}\", \"{{<}}\", \"{{>}}\", \"{{<=}}\", \"{{>=}}\", \"{{in}}\", or \"{{not-in}}\" followed by a value."
        ))
    }
}

fn check_mutable(ctx: &Ctx<'_>, ts: &TableSchema, u: &Uuid, col: &str) -> R<()> {
    if ctx.txn.inserted.contains_key(u) {
        return Ok(());
    }
    let mutable = ts.mutable && ts.columns.get(col).is_some_and(|c| c.mutable);
    if !mutable || col == "_uuid" {
        return fatal(format!(
            "cannot modify read-only column {col} in table {}",
            ts.name
        ));
    }
    Ok(())
}

/// Applies one `COLUMN[:KEY]=VALUE` to a row.
pub(crate) fn set_column(ctx: &mut Ctx<'_>, table: &str, u: &Uuid, arg: &str) -> R<()> {
    let ts = ctx
        .txn
        .ts(table)
        .cloned()
        .ok_or_else(|| Fail::Fatal(format!("unknown table \"{table}\"")))?;
    let ckv = parse_ckv(&ts, arg, &["="])?;
    let col = ckv.column;
    check_mutable(ctx, &ts, u, &col)?;
    let ty = column_type(&ts, &col);
    let value = ckv.value.unwrap_or_default();
    if let Some(k) = ckv.key {
        let Some(vt) = &ty.value else {
            return fatal(format!(
                "cannot specify key to set for non-map column {col}"
            ));
        };
        let ka = atom_from_string(&ty.key, &k, ctx.symtab).map_err(Fail::Fatal)?;
        let va = atom_from_string(vt, &value, ctx.symtab).map_err(Fail::Fatal)?;
        let old = ctx.txn.db.get(table, u, &col);
        let mut pairs: Vec<(Atom, Atom)> = old
            .as_map()
            .iter()
            .filter(|(x, _)| *x != ka)
            .cloned()
            .collect();
        pairs.push((ka, va));
        ctx.txn.verify(table, u, &col);
        ctx.txn.set(table, u, &col, Datum::map_from(pairs));
    } else {
        let d = datum_from_string(&ty, &value, ctx.symtab).map_err(Fail::Fatal)?;
        ctx.txn.set(table, u, &col, d);
    }
    Ok(())
}

fn columns_option(ctx: &Ctx<'_>, ts: &TableSchema) -> R<Vec<String>> {
    match ctx.opts.get("--columns").cloned().flatten() {
        Some(list) => list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|c| get_column(ts, c.trim()))
            .collect(),
        None => {
            let mut v = vec!["_uuid".to_string()];
            v.extend(ts.columns.keys().cloned());
            Ok(v)
        }
    }
}

fn print_rows(ctx: &mut Ctx<'_>, table: &str, rows: &[Uuid]) -> R<()> {
    let ts = ctx
        .txn
        .ts(table)
        .cloned()
        .ok_or(Fail::Fatal(String::new()))?;
    let cols = columns_option(ctx, &ts)?;
    let mut cells = Vec::new();
    for u in rows {
        let row: Vec<Cell> = cols
            .iter()
            .map(|c| Cell {
                datum: read(ctx, table, u, c),
                ty: column_type(&ts, c),
            })
            .collect();
        cells.push(row);
    }
    let text = render(&cols, &cells, &ctx.style);
    ctx.out.push_str(&text);
    Ok(())
}

/// `list TABLE [RECORD]...`
pub(crate) fn cmd_list(ctx: &mut Ctx<'_>) -> R<()> {
    let table = get_table(ctx, &ctx.args[1].clone())?;
    let if_exists = ctx.has("--if-exists");
    let rows: Vec<Uuid> = if ctx.args.len() > 2 {
        let mut v = Vec::new();
        let args = ctx.args;
        for id in &args[2..] {
            if let Some(u) = get_row(ctx, &table, id, !if_exists)? {
                v.push(u);
            }
        }
        v
    } else {
        ctx.txn
            .db
            .table(&table)
            .map(|t| t.keys().copied().collect())
            .unwrap_or_default()
    };
    print_rows(ctx, &table, &rows)
}

/// `find TABLE [COLUMN[:KEY]OP VALUE]...`
pub(crate) fn cmd_find(ctx: &mut Ctx<'_>) -> R<()> {
    let table = get_table(ctx, &ctx.args[1].clone())?;
    let all: Vec<Uuid> = ctx
        .txn
        .db
        .table(&table)
        .map(|t| t.keys().copied().collect())
        .unwrap_or_default();
    let conds = ctx.args[2..].to_vec();
    let mut rows = Vec::new();
    for u in all {
        let mut ok = true;
        for c in &conds {
            if !condition(ctx, &table, &u, c)? {
                ok = false;
                break;
            }
        }
        if ok {
            rows.push(u);
        }
    }
    print_rows(ctx, &table, &rows)
}

fn includes_all(a: &Datum, b: &Datum) -> bool {
    match (a, b) {
        (Datum::Map(x), Datum::Map(y)) => x.iter().all(|p| y.contains(p)),
        _ => a.keys().all(|k| b.contains_key(k)),
    }
}

fn relop(a: &Datum, b: &Datum, op: &str) -> bool {
    let c = a.ovs_cmp(b);
    match op {
        "=" | "{=}" => c == Ordering::Equal,
        "!=" | "{!=}" => c != Ordering::Equal,
        "<" => c == Ordering::Less,
        ">" => c == Ordering::Greater,
        "<=" => c != Ordering::Greater,
        ">=" => c != Ordering::Less,
        "{<}" => b.len() > a.len() && includes_all(a, b),
        "{>}" => a.len() > b.len() && includes_all(b, a),
        "{<=}" => includes_all(a, b),
        "{>=}" => includes_all(b, a),
        "{in}" => includes_all(a, b),
        "{not-in}" => a.keys().all(|k| match (a, b) {
            (Datum::Map(x), Datum::Map(_)) => {
                !x.iter().any(|p| &p.0 == k && b.get(k) == Some(&p.1))
            }
            _ => !b.contains_key(k),
        }),
        _ => false,
    }
}

/// Evaluates one condition on a row.
pub(crate) fn condition(ctx: &mut Ctx<'_>, table: &str, u: &Uuid, arg: &str) -> R<bool> {
    let ts = ctx
        .txn
        .ts(table)
        .cloned()
        .ok_or(Fail::Fatal(String::new()))?;
    let ckv = parse_ckv(&ts, arg, COND_OPS)?;
    let op = ckv.op.unwrap_or("=");
    let set_op = op.starts_with('{');
    let ty = column_type(&ts, &ckv.column);
    let have = read(ctx, table, u, &ckv.column);
    let value = ckv.value.unwrap_or_default();
    match ckv.key {
        Some(k) => {
            let Some(vt) = &ty.value else {
                return fatal(format!(
                    "cannot specify key to check for non-map column {}",
                    ckv.column
                ));
            };
            let ka = atom_from_string(&ty.key, &k, ctx.symtab).map_err(Fail::Fatal)?;
            let vty = Type {
                key: vt.clone(),
                value: None,
                min: 0,
                max: if set_op { u32::MAX } else { 1 },
            };
            let want = datum_from_string(&vty, &value, ctx.symtab).map_err(Fail::Fatal)?;
            match have.get(&ka) {
                None if !set_op => Ok(false),
                got => {
                    let a = Datum::set_from(got.cloned().into_iter().collect());
                    Ok(relop(&a, &want, op))
                }
            }
        }
        None => {
            let t = if set_op {
                with_bounds(&ty, 0, u32::MAX)
            } else {
                with_bounds(&ty, 0, ty.max)
            };
            let want = datum_from_string(&t, &value, ctx.symtab).map_err(Fail::Fatal)?;
            Ok(relop(&have, &want, op))
        }
    }
}

/// `get TABLE RECORD [COLUMN[:KEY]]...`
pub(crate) fn cmd_get(ctx: &mut Ctx<'_>) -> R<()> {
    let table = get_table(ctx, &ctx.args[1].clone())?;
    let id = ctx.args[2].clone();
    let if_exists = ctx.has("--if-exists");
    let sym = ctx.opts.get("--id").cloned().flatten();
    if let Some(s) = &sym {
        if !s.starts_with('@') {
            return fatal(format!("row id \"{s}\" does not begin with \"@\""));
        }
        if ctx.symtab.syms.get(s).is_some_and(|x| x.created) {
            return fatal(format!(
                "row id \"{s}\" may only be specified on one --id option"
            ));
        }
    }
    let Some(u) = get_row(ctx, &table, &id, !if_exists)? else {
        return Ok(());
    };
    if let Some(s) = sym {
        let e = ctx.symtab.insert(&s);
        e.uuid = u;
        e.created = true;
        e.strong_ref = true;
    }
    let ts = ctx
        .txn
        .ts(&table)
        .cloned()
        .ok_or(Fail::Fatal(String::new()))?;
    let args = ctx.args;
    for arg in &args[3..] {
        let ckv = parse_ckv(&ts, arg, &[])?;
        let ty = column_type(&ts, &ckv.column);
        let d = read(ctx, &table, &u, &ckv.column);
        ctx.txn.verify(&table, &u, &ckv.column);
        match ckv.key {
            Some(k) => {
                let Some(_) = &ty.value else {
                    return fatal(format!(
                        "cannot specify key to get for non-map column {}",
                        ckv.column
                    ));
                };
                let ka = atom_from_string(&ty.key, &k, ctx.symtab).map_err(Fail::Fatal)?;
                match d.get(&ka) {
                    Some(v) => ctx.out.push_str(&v.to_ovs_string()),
                    None if if_exists => {}
                    None => {
                        return fatal(format!(
                            "no key \"{k}\" in {table} record \"{id}\" column {}",
                            ckv.column
                        ));
                    }
                }
            }
            None => ctx.out.push_str(&d.to_ovs_string(&ty)),
        }
        ctx.out.push('\n');
    }
    Ok(())
}

/// Resolves TABLE RECORD for the modifying commands (`None` with
/// `--if-exists` and no such record).
fn table_row(ctx: &mut Ctx<'_>) -> R<Option<(String, Uuid, TableSchema)>> {
    let table = get_table(ctx, &ctx.args[1].clone())?;
    let id = ctx.args[2].clone();
    let if_exists = ctx.has("--if-exists");
    let Some(u) = get_row(ctx, &table, &id, !if_exists)? else {
        return Ok(None);
    };
    let ts = ctx
        .txn
        .ts(&table)
        .cloned()
        .ok_or(Fail::Fatal(String::new()))?;
    Ok(Some((table, u, ts)))
}

/// `set TABLE RECORD COLUMN[:KEY]=VALUE...`
pub(crate) fn cmd_set(ctx: &mut Ctx<'_>) -> R<()> {
    let Some((table, u, _)) = table_row(ctx)? else {
        return Ok(());
    };
    let args = ctx.args;
    for arg in &args[3..] {
        set_column(ctx, &table, &u, arg)?;
    }
    Ok(())
}

fn kind_words(ty: &Type) -> &'static str {
    if ty.is_map() { "pairs" } else { "values" }
}

/// `add TABLE RECORD COLUMN [KEY=]VALUE...`
pub(crate) fn cmd_add(ctx: &mut Ctx<'_>) -> R<()> {
    let Some((table, u, ts)) = table_row(ctx)? else {
        return Ok(());
    };
    let col = get_column(&ts, &ctx.args[3].clone())?;
    check_mutable(ctx, &ts, &u, &col)?;
    let ty = column_type(&ts, &col);
    let add_ty = with_bounds(&ty, 1, u32::MAX);
    let old = ctx.txn.db.get(&table, &u, &col);
    let mut new = old.clone();
    let args = ctx.args;
    for arg in &args[4..] {
        let add = datum_from_string(&add_ty, arg, ctx.symtab).map_err(Fail::Fatal)?;
        new = match (&new, &add) {
            (Datum::Map(a), Datum::Map(b)) => {
                // ovs-vsctl 3.1 replaces the value of a key already there.
                let mut v: Vec<(Atom, Atom)> = a
                    .iter()
                    .filter(|p| !add.contains_key(&p.0))
                    .cloned()
                    .collect();
                v.extend(b.iter().cloned());
                Datum::map_from(v)
            }
            _ => {
                let mut v: Vec<Atom> = new.as_set().to_vec();
                v.extend(add.as_set().iter().cloned());
                Datum::set_from(v)
            }
        };
    }
    if (new.len() as u64) > u64::from(ty.max) {
        return fatal(format!(
            "\"add\" operation would put {} {} in column {col} of table {table} but the maximum number is {}",
            new.len(),
            kind_words(&ty),
            ty.max
        ));
    }
    ctx.txn.verify(&table, &u, &col);
    ctx.txn.set(&table, &u, &col, new);
    Ok(())
}

/// `remove TABLE RECORD COLUMN KEY|VALUE|KEY=VALUE...`
pub(crate) fn cmd_remove(ctx: &mut Ctx<'_>) -> R<()> {
    let Some((table, u, ts)) = table_row(ctx)? else {
        return Ok(());
    };
    let col = get_column(&ts, &ctx.args[3].clone())?;
    check_mutable(ctx, &ts, &u, &col)?;
    let ty = column_type(&ts, &col);
    let rm_ty = with_bounds(&ty, 1, u32::MAX);
    let mut new = ctx.txn.db.get(&table, &u, &col);
    let args = ctx.args;
    for arg in &args[4..] {
        match datum_from_string(&rm_ty, arg, ctx.symtab) {
            Ok(rm) => {
                new = match (&new, &rm) {
                    (Datum::Map(a), Datum::Map(b)) => {
                        Datum::Map(a.iter().filter(|p| !b.contains(p)).cloned().collect())
                    }
                    _ => Datum::Set(
                        new.as_set()
                            .iter()
                            .filter(|x| !rm.contains_key(x))
                            .cloned()
                            .collect(),
                    ),
                };
            }
            Err(e) => {
                if !ty.is_map() {
                    return Err(Fail::Fatal(e));
                }
                let mut kt = rm_ty.clone();
                kt.value = None;
                let _ = e;
                let keys = datum_from_string(&kt, arg, ctx.symtab).map_err(Fail::Fatal)?;
                new = Datum::Map(
                    new.as_map()
                        .iter()
                        .filter(|p| !keys.contains_key(&p.0))
                        .cloned()
                        .collect(),
                );
            }
        }
    }
    if (new.len() as u64) < u64::from(ty.min) {
        return fatal(format!(
            "\"remove\" operation would put {} {} in column {col} of table {table} but the minimum number is {}",
            new.len(),
            kind_words(&ty),
            ty.min
        ));
    }
    ctx.txn.verify(&table, &u, &col);
    ctx.txn.set(&table, &u, &col, new);
    Ok(())
}

/// `clear TABLE RECORD COLUMN...`
pub(crate) fn cmd_clear(ctx: &mut Ctx<'_>) -> R<()> {
    let Some((table, u, ts)) = table_row(ctx)? else {
        return Ok(());
    };
    let args = ctx.args;
    for arg in &args[3..] {
        let col = get_column(&ts, arg)?;
        check_mutable(ctx, &ts, &u, &col)?;
        let ty = column_type(&ts, &col);
        if ty.min > 0 {
            return fatal(format!(
                "\"clear\" operation cannot be applied to column {col} of table {table}, which is not allowed to be empty"
            ));
        }
        ctx.txn.set(&table, &u, &col, Datum::empty(&ty));
    }
    Ok(())
}

/// `create TABLE COLUMN[:KEY]=VALUE...`
pub(crate) fn cmd_create(ctx: &mut Ctx<'_>) -> R<()> {
    let table = get_table(ctx, &ctx.args[1].clone())?;
    let is_root = ctx.txn.ts(&table).is_some_and(|t| t.is_root);
    let sym = ctx.opts.get("--id").cloned().flatten();
    let uuid = match &sym {
        None => {
            if !is_root {
                warn(
                    "db_ctl_base",
                    &format!(
                        "applying \"create\" command to table {table} without --id option will have no effect"
                    ),
                );
            }
            None
        }
        Some(s) => {
            if !s.starts_with('@') {
                return fatal(format!("row id \"{s}\" does not begin with \"@\""));
            }
            let e = ctx.symtab.insert(s);
            if e.created {
                return fatal(format!(
                    "row id \"{s}\" may only be specified on one --id option"
                ));
            }
            e.created = true;
            if is_root {
                e.strong_ref = true;
            }
            Some(e.uuid)
        }
    };
    let u = ctx.txn.insert(&table, uuid);
    let args = ctx.args;
    for arg in &args[2..] {
        set_column(ctx, &table, &u, arg)?;
    }
    ctx.out.push_str(&format!("{u}\n"));
    Ok(())
}

/// `destroy TABLE [RECORD]...` and `--all destroy TABLE`.
pub(crate) fn cmd_destroy(ctx: &mut Ctx<'_>) -> R<()> {
    let table = get_table(ctx, &ctx.args[1].clone())?;
    let all = ctx.has("--all");
    let if_exists = ctx.has("--if-exists");
    if all && ctx.args.len() > 2 {
        return fatal("--all and records argument should not be specified together");
    }
    if !all && ctx.args.len() < 3 {
        return fatal("either --all or records argument should be specified");
    }
    let rows: Vec<Uuid> = if all {
        ctx.txn
            .db
            .table(&table)
            .map(|t| t.keys().copied().collect())
            .unwrap_or_default()
    } else {
        let mut v = Vec::new();
        let args = ctx.args;
        for id in &args[2..] {
            if let Some(u) = get_row(ctx, &table, id, !if_exists)? {
                v.push(u);
            }
        }
        v
    };
    for u in rows {
        ctx.txn.delete(&table, &u);
    }
    Ok(())
}

/// `wait-until TABLE RECORD [COLUMN[:KEY]=VALUE]...`: `TryAgain` until
/// the record exists and every condition holds.
pub(crate) fn cmd_wait_until(ctx: &mut Ctx<'_>) -> R<()> {
    let table = get_table(ctx, &ctx.args[1].clone())?;
    let id = ctx.args[2].clone();
    let Some(u) = get_row(ctx, &table, &id, false)? else {
        return Err(Fail::TryAgain);
    };
    let args = ctx.args;
    for c in &args[3..] {
        if !condition(ctx, &table, &u, c)? {
            return Err(Fail::TryAgain);
        }
    }
    Ok(())
}
