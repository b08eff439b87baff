//! Atoms, datums and rows, and their RFC 7047 JSON forms (section 5.1).
//!
//! A [`Datum`] is always canonical: set elements and map keys are sorted
//! by the total order of [`Atom`] and distinct, so two equal values compare
//! equal and serialize identically. Parsing enforces the column type's
//! size bounds and the base types' constraints (enum, ranges, lengths) with
//! the same error tags and messages as ovsdb-server.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::Error;
use crate::parser::is_id;
use crate::schema::{AtomicType, BaseType, TableSchema, Type, real_json};

/// One scalar value.
#[derive(Debug, Clone)]
pub enum Atom {
    /// integer
    Integer(i64),
    /// real
    Real(f64),
    /// boolean
    Boolean(bool),
    /// string
    String(String),
    /// uuid
    Uuid(Uuid),
}

impl Atom {
    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
        }
    }

    /// The atomic type of this atom.
    pub fn atomic_type(&self) -> AtomicType {
        match self {
            Atom::Integer(_) => AtomicType::Integer,
            Atom::Real(_) => AtomicType::Real,
            Atom::Boolean(_) => AtomicType::Boolean,
            Atom::String(_) => AtomicType::String,
            Atom::Uuid(_) => AtomicType::Uuid,
        }
    }

    /// The UUID, if this is a UUID atom.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    /// The string, if this is a string atom.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer atom.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// JSON form: numbers, booleans, strings, `["uuid", "..."]`.
    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => real_json(*r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
        }
    }

    /// Parses an atom of base type `base` and checks its constraints.
    /// `names` resolves `["named-uuid", name]`; when it returns `None` the
    /// named form is rejected.
    pub fn from_json(
        j: &Value,
        base: &BaseType,
        names: &mut dyn FnMut(&str) -> Option<Uuid>,
    ) -> Result<Atom, Error> {
        let a = Self::from_json_unchecked(j, base.atomic, names)?;
        a.check_constraints(base)?;
        Ok(a)
    }

    /// Parses an atom of the given atomic type without constraint checks.
    pub fn from_json_unchecked(
        j: &Value,
        ty: AtomicType,
        names: &mut dyn FnMut(&str) -> Option<Uuid>,
    ) -> Result<Atom, Error> {
        match (ty, j) {
            (AtomicType::Integer, Value::Number(n)) if n.is_i64() => {
                return Ok(Atom::Integer(n.as_i64().unwrap_or_default()));
            }
            (AtomicType::Real, Value::Number(n)) => {
                if let Some(f) = n.as_f64() {
                    return Ok(Atom::Real(f));
                }
            }
            (AtomicType::Boolean, Value::Bool(b)) => return Ok(Atom::Boolean(*b)),
            (AtomicType::String, Value::String(s)) => return Ok(Atom::String(s.clone())),
            (AtomicType::Uuid, _) => return parse_uuid(j, names).map(Atom::Uuid),
            _ => {}
        }
        Err(Error::syntax(
            Some(j),
            None,
            format!("expected {}", ty.name()),
        ))
    }

    /// Checks enum, range and length constraints (not references).
    pub fn check_constraints(&self, base: &BaseType) -> Result<(), Error> {
        if let Some(e) = &base.enum_ {
            if e.binary_search(self).is_err() {
                let valid = Datum::Set(e.clone());
                let et = Type {
                    key: BaseType::new(base.atomic),
                    value: None,
                    min: 1,
                    max: u32::MAX,
                };
                return Err(Error::constraint(format!(
                    "{} is not one of the allowed values ({})",
                    self.to_ovs_string(),
                    valid.to_ovs_string(&et)
                )));
            }
        }
        match self {
            Atom::Integer(i) => {
                let (min, max) = (
                    base.min_integer.unwrap_or(i64::MIN),
                    base.max_integer.unwrap_or(i64::MAX),
                );
                if *i >= min && *i <= max {
                    Ok(())
                } else if min != i64::MIN {
                    if max != i64::MAX {
                        Err(Error::constraint(format!(
                            "{i} is not in the valid range {min} to {max} (inclusive)"
                        )))
                    } else {
                        Err(Error::constraint(format!(
                            "{i} is less than minimum allowed value {min}"
                        )))
                    }
                } else {
                    Err(Error::constraint(format!(
                        "{i} is greater than maximum allowed value {max}"
                    )))
                }
            }
            Atom::Real(r) => {
                let (min, max) = (
                    base.min_real.unwrap_or(f64::MIN),
                    base.max_real.unwrap_or(f64::MAX),
                );
                if *r >= min && *r <= max {
                    Ok(())
                } else if min != f64::MIN {
                    if max != f64::MAX {
                        Err(Error::constraint(format!(
                            "{} is not in the valid range {} to {} (inclusive)",
                            fmt_g15(*r),
                            fmt_g15(min),
                            fmt_g15(max)
                        )))
                    } else {
                        Err(Error::constraint(format!(
                            "{} is less than minimum allowed value {}",
                            fmt_g15(*r),
                            fmt_g15(min)
                        )))
                    }
                } else {
                    Err(Error::constraint(format!(
                        "{} is greater than maximum allowed value {}",
                        fmt_g15(*r),
                        fmt_g15(max)
                    )))
                }
            }
            Atom::String(s) => {
                let n = s.chars().count();
                let (min, max) = (
                    base.min_length.unwrap_or(0),
                    base.max_length.unwrap_or(u32::MAX),
                );
                if (n as u64) < u64::from(min) {
                    Err(Error::constraint(format!(
                        "\"{s}\" length {n} is less than minimum allowed length {min}"
                    )))
                } else if (n as u64) > u64::from(max) {
                    Err(Error::constraint(format!(
                        "\"{s}\" length {n} is greater than maximum allowed length {max}"
                    )))
                } else {
                    Ok(())
                }
            }
            Atom::Boolean(_) | Atom::Uuid(_) => Ok(()),
        }
    }

    /// The text form OVS uses in messages (`ovsdb_atom_to_string`): strings
    /// are quoted only when they would not parse back as a bare word.
    pub fn to_ovs_string(&self) -> String {
        match self {
            Atom::Integer(i) => i.to_string(),
            Atom::Real(r) => fmt_g15(*r),
            Atom::Boolean(b) => b.to_string(),
            Atom::String(s) => {
                if string_needs_quotes(s) {
                    Value::String(s.clone()).to_string()
                } else {
                    s.clone()
                }
            }
            Atom::Uuid(u) => u.to_string(),
        }
    }
}

fn string_needs_quotes(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return true,
    }
    if b.iter()
        .skip(1)
        .any(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-' || *c == b'.'))
    {
        return true;
    }
    s == "true" || s == "false" || Uuid::parse_str(s).is_ok_and(|_| s.len() == 36)
}

/// `%.*g` with 15 significant digits, as in OVS constraint messages.
pub(crate) fn fmt_g15(v: f64) -> String {
    fmt_g(v, 15)
}

fn fmt_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let exp = v.abs().log10().floor() as i32;
    if exp < -4 || exp >= prec as i32 {
        let s = format!("{:.*e}", prec.saturating_sub(1), v);
        // Rust prints 1.5e10; C prints 1.5e+10.
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = trim_zeros(m);
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn parse_uuid(j: &Value, names: &mut dyn FnMut(&str) -> Option<Uuid>) -> Result<Uuid, Error> {
    fn unwrap<'v>(j: &'v Value, name: &str) -> Option<&'v str> {
        match j.as_array().map(Vec::as_slice) {
            Some([Value::String(tag), Value::String(s)]) if tag == name => Some(s),
            _ => None,
        }
    }
    if let Some(s) = unwrap(j, "uuid") {
        return parse_uuid_str(s)
            .ok_or_else(|| Error::syntax(Some(j), None, format!("\"{s}\" is not a valid UUID")));
    }
    if let Some(name) = unwrap(j, "named-uuid") {
        if let Some(u) = names(name) {
            if !is_id(name) {
                return Err(Error::syntax(
                    Some(j),
                    None,
                    "named-uuid string is not a valid <id>",
                ));
            }
            return Ok(u);
        }
    }
    Err(Error::syntax(
        Some(j),
        None,
        "expected [\"uuid\", <string>]",
    ))
}

/// Parses the canonical 36-character UUID form only (as OVS does).
pub fn parse_uuid_str(s: &str) -> Option<Uuid> {
    if s.len() != 36 {
        return None;
    }
    let b = s.as_bytes();
    for (i, c) in b.iter().enumerate() {
        let dash = matches!(i, 8 | 13 | 18 | 23);
        if dash != (*c == b'-') || (!dash && !c.is_ascii_hexdigit()) {
            return None;
        }
    }
    Uuid::parse_str(s).ok()
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Atom {}
impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Atom {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.partial_cmp(b).unwrap_or_else(|| a.total_cmp(b)),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}
impl Hash for Atom {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Atom::Integer(i) => i.hash(state),
            Atom::Real(r) => (if *r == 0.0 { 0.0f64 } else { *r }).to_bits().hash(state),
            Atom::Boolean(b) => b.hash(state),
            Atom::String(s) => s.hash(state),
            Atom::Uuid(u) => u.hash(state),
        }
    }
}

/// A column value: a set of atoms or a map of atoms to atoms, canonical
/// (sorted, distinct keys). Scalars are one-element sets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Datum {
    /// Set (or scalar) value, sorted and distinct.
    Set(Vec<Atom>),
    /// Map value, sorted by key, keys distinct.
    Map(Vec<(Atom, Atom)>),
}

impl Datum {
    /// A scalar datum.
    pub fn scalar(a: Atom) -> Self {
        Datum::Set(vec![a])
    }

    /// An empty datum of the shape of `ty`.
    pub fn empty(ty: &Type) -> Self {
        if ty.is_map() {
            Datum::Map(Vec::new())
        } else {
            Datum::Set(Vec::new())
        }
    }

    /// The default value of a column of type `ty`.
    pub fn default_for(ty: &Type) -> Datum {
        if ty.min == 0 {
            Datum::empty(ty)
        } else {
            match &ty.value {
                None => Datum::Set(vec![ty.key.atomic.default_atom()]),
                Some(v) => Datum::Map(vec![(
                    ty.key.atomic.default_atom(),
                    v.atomic.default_atom(),
                )]),
            }
        }
    }

    /// Builds a canonical set from arbitrary atoms (sorted, deduplicated).
    pub fn set_from(mut atoms: Vec<Atom>) -> Self {
        atoms.sort();
        atoms.dedup();
        Datum::Set(atoms)
    }

    /// Builds a canonical map from pairs (sorted; later duplicates dropped).
    pub fn map_from(mut pairs: Vec<(Atom, Atom)>) -> Self {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|a, b| a.0 == b.0);
        Datum::Map(pairs)
    }

    /// Number of elements or pairs.
    pub fn len(&self) -> usize {
        match self {
            Datum::Set(v) => v.len(),
            Datum::Map(v) => v.len(),
        }
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The set elements (empty for maps).
    pub fn as_set(&self) -> &[Atom] {
        match self {
            Datum::Set(v) => v,
            Datum::Map(_) => &[],
        }
    }

    /// The map pairs (empty for sets).
    pub fn as_map(&self) -> &[(Atom, Atom)] {
        match self {
            Datum::Map(v) => v,
            Datum::Set(_) => &[],
        }
    }

    /// The single atom of a scalar (or first element of a set).
    pub fn first(&self) -> Option<&Atom> {
        match self {
            Datum::Set(v) => v.first(),
            Datum::Map(v) => v.first().map(|p| &p.0),
        }
    }

    /// The string of a scalar or optional string column.
    pub fn as_str(&self) -> Option<&str> {
        self.first().and_then(Atom::as_str)
    }

    /// The integer of a scalar or optional integer column.
    pub fn as_i64(&self) -> Option<i64> {
        self.first().and_then(Atom::as_i64)
    }

    /// The boolean of a scalar or optional boolean column.
    pub fn as_bool(&self) -> Option<bool> {
        match self.first() {
            Some(Atom::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    /// Every UUID key (e.g. the rows a reference set points to).
    pub fn uuids(&self) -> Vec<Uuid> {
        self.keys().filter_map(Atom::as_uuid).collect()
    }

    /// A string-to-string map column as borrowed pairs (e.g.
    /// `other_config`, `external_ids`).
    pub fn string_map(&self) -> BTreeMap<&str, &str> {
        self.as_map()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?, v.as_str()?)))
            .collect()
    }

    /// Keys (set elements or map keys), in order.
    pub fn keys(&self) -> Box<dyn Iterator<Item = &Atom> + '_> {
        match self {
            Datum::Set(v) => Box::new(v.iter()),
            Datum::Map(v) => Box::new(v.iter().map(|p| &p.0)),
        }
    }

    /// Every atom (keys and values).
    pub fn atoms(&self) -> Box<dyn Iterator<Item = &Atom> + '_> {
        match self {
            Datum::Set(v) => Box::new(v.iter()),
            Datum::Map(v) => Box::new(v.iter().flat_map(|p| [&p.0, &p.1])),
        }
    }

    /// True if the set contains `a` / the map has key `a`.
    pub fn contains_key(&self, a: &Atom) -> bool {
        match self {
            Datum::Set(v) => v.binary_search(a).is_ok(),
            Datum::Map(v) => v.binary_search_by(|p| p.0.cmp(a)).is_ok(),
        }
    }

    /// The value for key `a` in a map.
    pub fn get(&self, a: &Atom) -> Option<&Atom> {
        match self {
            Datum::Map(v) => v
                .binary_search_by(|p| p.0.cmp(a))
                .ok()
                .and_then(|i| v.get(i))
                .map(|p| &p.1),
            Datum::Set(_) => None,
        }
    }

    /// JSON form per RFC 7047: maps as `["map", ...]`, one-element sets as
    /// the bare atom, other sets as `["set", ...]`.
    pub fn to_json(&self, ty: &Type) -> Value {
        match self {
            Datum::Map(v) => {
                json!([
                    "map",
                    v.iter()
                        .map(|(k, x)| json!([k.to_json(), x.to_json()]))
                        .collect::<Vec<_>>()
                ])
            }
            Datum::Set(v) if v.len() == 1 && !ty.is_map() => {
                v.first().map(Atom::to_json).unwrap_or(Value::Null)
            }
            Datum::Set(v) => {
                if ty.is_map() {
                    json!(["map", []])
                } else {
                    json!(["set", v.iter().map(Atom::to_json).collect::<Vec<_>>()])
                }
            }
        }
    }

    /// Parses a datum of type `ty`, enforcing size bounds and constraints.
    /// `names` resolves named UUIDs (return `None` to reject them).
    pub fn from_json(
        j: &Value,
        ty: &Type,
        names: &mut dyn FnMut(&str) -> Option<Uuid>,
    ) -> Result<Datum, Error> {
        Self::from_json_bounds(j, ty, ty.min, ty.max, names)
    }

    /// Parses a datum without named UUIDs.
    pub fn from_json_plain(j: &Value, ty: &Type) -> Result<Datum, Error> {
        Self::from_json(j, ty, &mut |_| None)
    }

    pub(crate) fn from_json_bounds(
        j: &Value,
        ty: &Type,
        min: u32,
        max: u32,
        names: &mut dyn FnMut(&str) -> Option<Uuid>,
    ) -> Result<Datum, Error> {
        let is_tagged_set =
            matches!(j.as_array().and_then(|a| a.first()), Some(Value::String(s)) if s == "set");
        if !ty.is_map() && !is_tagged_set {
            return Ok(Datum::Set(vec![Atom::from_json(j, &ty.key, names)?]));
        }
        let class = if ty.is_map() { "map" } else { "set" };
        let inner = match j.as_array().map(Vec::as_slice) {
            Some([Value::String(tag), Value::Array(inner)]) if tag == class => inner,
            _ => {
                return Err(Error::syntax(
                    Some(j),
                    None,
                    format!("expected [\"{class}\", <array>]"),
                ));
            }
        };
        let n = inner.len();
        if (n as u64) < u64::from(min) || (n as u64) > u64::from(max) {
            return Err(if min == 1 && max == 1 {
                Error::syntax(
                    Some(j),
                    None,
                    format!("{class} must have exactly one member but {n} are present"),
                )
            } else {
                Error::syntax(
                    Some(j),
                    None,
                    format!("{class} must have {min} to {max} members but {n} are present"),
                )
            });
        }
        match &ty.value {
            None => {
                let mut v = Vec::with_capacity(n);
                for e in inner {
                    v.push(Atom::from_json(e, &ty.key, names)?);
                }
                v.sort();
                if v.windows(2).any(|w| w[0] == w[1]) {
                    return Err(Error::new("ovsdb error", "set contains duplicate"));
                }
                Ok(Datum::Set(v))
            }
            Some(vt) => {
                let mut v = Vec::with_capacity(n);
                for e in inner {
                    let (kj, vj) = match e.as_array().map(Vec::as_slice) {
                        Some([k, x]) => (k, x),
                        _ => return Err(Error::syntax(Some(e), None, "expected 2-element array")),
                    };
                    let k = Atom::from_json(kj, &ty.key, names)?;
                    let x = Atom::from_json(vj, vt, names)?;
                    v.push((k, x));
                }
                v.sort_by(|a, b| a.0.cmp(&b.0));
                if v.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(Error::new("ovsdb error", "map contains duplicate key"));
                }
                Ok(Datum::Map(v))
            }
        }
    }

    /// OVS's datum order (`ovsdb_datum_compare_3way`): by size first, then
    /// element by element (keys, then values). Used for `sort` and messages.
    pub fn ovs_cmp(&self, other: &Datum) -> Ordering {
        self.len()
            .cmp(&other.len())
            .then_with(|| match (self, other) {
                (Datum::Set(a), Datum::Set(b)) => a.cmp(b),
                (Datum::Map(a), Datum::Map(b)) => a
                    .iter()
                    .map(|p| &p.0)
                    .cmp(b.iter().map(|p| &p.0))
                    .then_with(|| a.iter().map(|p| &p.1).cmp(b.iter().map(|p| &p.1))),
                _ => self.cmp(other),
            })
    }

    /// Checks every atom against the type's base constraints.
    pub fn check_constraints(&self, ty: &Type) -> Result<(), Error> {
        match self {
            Datum::Set(v) => v.iter().try_for_each(|a| a.check_constraints(&ty.key)),
            Datum::Map(v) => v.iter().try_for_each(|(k, x)| {
                k.check_constraints(&ty.key)?;
                match &ty.value {
                    Some(vt) => x.check_constraints(vt),
                    None => Ok(()),
                }
            }),
        }
    }

    /// Text form as in OVS messages (`ovsdb_datum_to_string`).
    pub fn to_ovs_string(&self, ty: &Type) -> String {
        let bracket = ty.max > 1 || self.is_empty();
        let mut s = String::new();
        if bracket {
            s.push(if ty.is_map() { '{' } else { '[' });
        }
        match self {
            Datum::Set(v) => {
                let parts: Vec<String> = v.iter().map(Atom::to_ovs_string).collect();
                s.push_str(&parts.join(", "));
            }
            Datum::Map(v) => {
                let parts: Vec<String> = v
                    .iter()
                    .map(|(k, x)| format!("{}={}", k.to_ovs_string(), x.to_ovs_string()))
                    .collect();
                s.push_str(&parts.join(", "));
            }
        }
        if bracket {
            s.push(if ty.is_map() { '}' } else { ']' });
        }
        s
    }
}

/// One row: its UUID, its version and its column values. Every column of
/// the table is present (defaults filled in at insert).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `_uuid`.
    pub uuid: Uuid,
    /// `_version`: changes on every modification.
    pub version: Uuid,
    /// Column values by name (without `_uuid`/`_version`).
    pub columns: BTreeMap<String, Datum>,
}

impl Row {
    /// A row with every column at its default value.
    pub fn new_default(table: &TableSchema, uuid: Uuid, version: Uuid) -> Row {
        Row {
            uuid,
            version,
            columns: table
                .columns
                .iter()
                .map(|(k, c)| (k.clone(), Datum::default_for(&c.ty)))
                .collect(),
        }
    }

    /// The value of a column, including `_uuid` and `_version`.
    pub fn get(&self, column: &str) -> Option<Cow<'_, Datum>> {
        match column {
            "_uuid" => Some(Cow::Owned(Datum::scalar(Atom::Uuid(self.uuid)))),
            "_version" => Some(Cow::Owned(Datum::scalar(Atom::Uuid(self.version)))),
            _ => self.columns.get(column).map(Cow::Borrowed),
        }
    }

    /// A string column's value (scalar or optional).
    pub fn get_str(&self, column: &str) -> Option<&str> {
        self.columns.get(column).and_then(Datum::as_str)
    }

    /// An integer column's value (scalar or optional).
    pub fn get_i64(&self, column: &str) -> Option<i64> {
        self.columns.get(column).and_then(Datum::as_i64)
    }

    /// JSON object of the given columns (`None`: `_uuid`, `_version` and
    /// every column), as in `select` results.
    pub fn to_json(&self, table: &TableSchema, columns: Option<&[String]>) -> Value {
        let mut m = Map::new();
        match columns {
            Some(cols) => {
                for c in cols {
                    self.put_column(&mut m, table, c);
                }
            }
            None => {
                self.put_column(&mut m, table, "_uuid");
                self.put_column(&mut m, table, "_version");
                for c in table.columns.keys() {
                    self.put_column(&mut m, table, c);
                }
            }
        }
        Value::Object(m)
    }

    fn put_column(&self, m: &mut Map<String, Value>, table: &TableSchema, c: &str) {
        if let (Some(ty), Some(d)) = (table.column_type(c), self.get(c)) {
            m.insert(c.to_string(), d.to_json(ty));
        }
    }
}
