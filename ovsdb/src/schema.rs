//! Database schemas (RFC 7047 section 3.2): tables, columns and types.
//!
//! [`DatabaseSchema::from_json`] accepts any `.ovsschema` document and checks
//! it the way ovsdb-server does (valid ids, no reserved `_` names, refTables
//! that exist, sane min/max). [`DatabaseSchema::to_json`] produces the
//! normalized form that `get_schema` returns (defaults omitted).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::data::{Atom, Datum};
use crate::error::Error;
use crate::parser::{Parser, is_id, kind};

/// The five atomic types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AtomicType {
    /// 64-bit signed integer.
    Integer,
    /// IEEE double.
    Real,
    /// true/false.
    Boolean,
    /// UTF-8 string.
    String,
    /// UUID.
    Uuid,
}

impl AtomicType {
    /// The schema name of the type.
    pub fn name(self) -> &'static str {
        match self {
            AtomicType::Integer => "integer",
            AtomicType::Real => "real",
            AtomicType::Boolean => "boolean",
            AtomicType::String => "string",
            AtomicType::Uuid => "uuid",
        }
    }

    /// Parses a schema type name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            _ => return None,
        })
    }

    /// The default atom of this type (0, 0.0, false, "", all-zero UUID).
    pub fn default_atom(self) -> Atom {
        match self {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(uuid::Uuid::nil()),
        }
    }
}

/// Strength of a reference to another table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefType {
    /// The referenced row may not be deleted while referenced.
    Strong,
    /// The reference disappears when the referenced row is deleted.
    Weak,
}

/// An atomic type plus its constraints.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseType {
    /// The atomic type.
    pub atomic: AtomicType,
    /// Allowed values, sorted and distinct, if constrained.
    pub enum_: Option<Vec<Atom>>,
    /// minInteger.
    pub min_integer: Option<i64>,
    /// maxInteger.
    pub max_integer: Option<i64>,
    /// minReal.
    pub min_real: Option<f64>,
    /// maxReal.
    pub max_real: Option<f64>,
    /// minLength (in characters).
    pub min_length: Option<u32>,
    /// maxLength (in characters).
    pub max_length: Option<u32>,
    /// refTable.
    pub ref_table: Option<String>,
    /// refType (meaningful only with `ref_table`).
    pub ref_type: RefType,
}

impl BaseType {
    /// An unconstrained base type.
    pub fn new(atomic: AtomicType) -> Self {
        BaseType {
            atomic,
            enum_: None,
            min_integer: None,
            max_integer: None,
            min_real: None,
            max_real: None,
            min_length: None,
            max_length: None,
            ref_table: None,
            ref_type: RefType::Strong,
        }
    }

    /// True if this is a strong reference to some table.
    pub fn is_strong_ref(&self) -> bool {
        self.ref_table.is_some() && self.ref_type == RefType::Strong
    }

    /// True if this is a weak reference to some table.
    pub fn is_weak_ref(&self) -> bool {
        self.ref_table.is_some() && self.ref_type == RefType::Weak
    }

    fn has_constraints(&self) -> bool {
        self.enum_.is_some()
            || self.min_integer.is_some()
            || self.max_integer.is_some()
            || self.min_real.is_some()
            || self.max_real.is_some()
            || self.min_length.is_some()
            || self.max_length.is_some()
            || self.ref_table.is_some()
    }

    /// Parses a base type: a type name or an object with constraints.
    pub fn from_json(j: &Value) -> Result<Self, Error> {
        if let Value::String(s) = j {
            return AtomicType::from_name(s)
                .map(BaseType::new)
                .ok_or_else(|| Error::syntax(Some(j), None, "atomic-type expected"));
        }
        let mut p = Parser::new(j, "ovsdb type".into());
        let ty = p.member("type", kind::STRING);
        let Some(ty) = ty else {
            return p
                .finish()
                .and(Err(Error::syntax(Some(j), None, "ovsdb type expected")));
        };
        let atomic = AtomicType::from_name(ty.as_str().unwrap_or(""))
            .ok_or_else(|| Error::syntax(Some(ty), None, "atomic-type expected"))?;
        let mut b = BaseType::new(atomic);
        let mut err: Option<Error> = None;
        if let Some(e) = p.member("enum", kind::ANY | kind::OPTIONAL) {
            let et = Type {
                key: BaseType::new(atomic),
                value: None,
                min: 1,
                max: u32::MAX,
            };
            match Datum::from_json(e, &et, &mut |_| None) {
                Ok(d) => b.enum_ = Some(d.as_set().to_vec()),
                Err(e) => err = Some(e),
            }
        } else {
            match atomic {
                AtomicType::Integer => {
                    b.min_integer = p
                        .member("minInteger", kind::INTEGER | kind::OPTIONAL)
                        .and_then(Value::as_i64);
                    b.max_integer = p
                        .member("maxInteger", kind::INTEGER | kind::OPTIONAL)
                        .and_then(Value::as_i64);
                    if b.min_integer.unwrap_or(i64::MIN) > b.max_integer.unwrap_or(i64::MAX) {
                        err = Some(Error::syntax(
                            Some(j),
                            None,
                            "minInteger exceeds maxInteger",
                        ));
                    }
                }
                AtomicType::Real => {
                    b.min_real = p
                        .member("minReal", kind::NUMBER | kind::OPTIONAL)
                        .and_then(Value::as_f64);
                    b.max_real = p
                        .member("maxReal", kind::NUMBER | kind::OPTIONAL)
                        .and_then(Value::as_f64);
                    if b.min_real.unwrap_or(f64::MIN) > b.max_real.unwrap_or(f64::MAX) {
                        err = Some(Error::syntax(Some(j), None, "minReal exceeds maxReal"));
                    }
                }
                AtomicType::String => {
                    for (name, slot) in [
                        ("minLength", &mut b.min_length),
                        ("maxLength", &mut b.max_length),
                    ] {
                        if let Some(v) = p.member(name, kind::INTEGER | kind::OPTIONAL) {
                            match v.as_i64().and_then(|n| u32::try_from(n).ok()) {
                                Some(n) => *slot = Some(n),
                                None => {
                                    if err.is_none() {
                                        err = Some(Error::syntax(
                                            Some(v),
                                            None,
                                            format!("{name} out of valid range 0 to {}", u32::MAX),
                                        ))
                                    }
                                }
                            }
                        }
                    }
                    if err.is_none() && b.min_length.unwrap_or(0) > b.max_length.unwrap_or(u32::MAX)
                    {
                        err = Some(Error::syntax(Some(j), None, "minLength exceeds maxLength"));
                    }
                }
                AtomicType::Uuid => {
                    if let Some(rt) = p.member("refTable", kind::ID | kind::OPTIONAL) {
                        b.ref_table = rt.as_str().map(str::to_string);
                        if let Some(ty) = p.member("refType", kind::ID | kind::OPTIONAL) {
                            match ty.as_str() {
                                Some("strong") => b.ref_type = RefType::Strong,
                                Some("weak") => b.ref_type = RefType::Weak,
                                other => {
                                    err = Some(Error::syntax(
                                        Some(j),
                                        None,
                                        format!(
                                            "refType must be \"strong\" or \"weak\" (not \"{}\")",
                                            other.unwrap_or("")
                                        ),
                                    ))
                                }
                            }
                        }
                    }
                }
                AtomicType::Boolean => {}
            }
        }
        let fin = p.finish();
        if let Some(e) = err {
            return Err(e);
        }
        fin?;
        Ok(b)
    }

    /// The normalized JSON form (a bare type name when unconstrained).
    pub fn to_json(&self) -> Value {
        if !self.has_constraints() {
            return Value::String(self.atomic.name().into());
        }
        let mut m = Map::new();
        m.insert("type".into(), self.atomic.name().into());
        if let Some(e) = &self.enum_ {
            let d = Datum::Set(e.clone());
            let et = Type {
                key: BaseType::new(self.atomic),
                value: None,
                min: 1,
                max: u32::MAX,
            };
            m.insert("enum".into(), d.to_json(&et));
        }
        if let Some(v) = self.min_integer {
            m.insert("minInteger".into(), v.into());
        }
        if let Some(v) = self.max_integer {
            m.insert("maxInteger".into(), v.into());
        }
        if let Some(v) = self.min_real {
            m.insert("minReal".into(), real_json(v));
        }
        if let Some(v) = self.max_real {
            m.insert("maxReal".into(), real_json(v));
        }
        if let Some(v) = self.min_length.filter(|&v| v != 0) {
            m.insert("minLength".into(), v.into());
        }
        if let Some(v) = self.max_length.filter(|&v| v != u32::MAX) {
            m.insert("maxLength".into(), v.into());
        }
        if let Some(t) = &self.ref_table {
            m.insert("refTable".into(), t.clone().into());
            if self.ref_type == RefType::Weak {
                m.insert("refType".into(), "weak".into());
            }
        }
        Value::Object(m)
    }
}

/// JSON for a real, written like OVS does (`%.17g`): integral values
/// without a fraction (`2`, not `2.0`). Readers accept integers for reals.
pub(crate) fn real_json(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 && !(v == 0.0 && v.is_sign_negative())
    {
        return Value::from(v as i64);
    }
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// A column type: key, optional value (for maps), and size bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Type {
    /// Key (or element) type.
    pub key: BaseType,
    /// Value type for maps.
    pub value: Option<BaseType>,
    /// Minimum number of elements (0 or 1).
    pub min: u32,
    /// Maximum number of elements; `u32::MAX` means unlimited.
    pub max: u32,
}

impl Type {
    /// A scalar of the given unconstrained type.
    pub fn scalar(atomic: AtomicType) -> Self {
        Type {
            key: BaseType::new(atomic),
            value: None,
            min: 1,
            max: 1,
        }
    }

    /// True for a map type.
    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }

    /// True for a single-valued, non-map type.
    pub fn is_scalar(&self) -> bool {
        self.min == 1 && self.max == 1 && self.value.is_none()
    }

    /// True for an optional scalar (set of 0 or 1 element).
    pub fn is_optional_scalar(&self) -> bool {
        self.min == 0 && self.max == 1 && self.value.is_none()
    }

    /// True if this is a set type (not a map, not a plain scalar).
    pub fn is_set(&self) -> bool {
        self.value.is_none() && (self.min != 1 || self.max != 1)
    }

    /// Parses a column type.
    pub fn from_json(j: &Value) -> Result<Self, Error> {
        match j {
            Value::String(_) => Ok(Type {
                key: BaseType::from_json(j)?,
                value: None,
                min: 1,
                max: 1,
            }),
            Value::Object(_) => {
                let mut p = Parser::new(j, "ovsdb type".into());
                let key = p.member("key", kind::STRING | kind::OBJECT);
                let value = p.member("value", kind::STRING | kind::OBJECT | kind::OPTIONAL);
                let min = p.member("min", kind::INTEGER | kind::OPTIONAL);
                let max = p.member("max", kind::INTEGER | kind::STRING | kind::OPTIONAL);
                p.finish()?;
                let key = BaseType::from_json(key.unwrap_or(&Value::Null))?;
                let value = value.map(BaseType::from_json).transpose()?;
                let n = |v: Option<&Value>, dflt: u32| -> Result<u32, Error> {
                    match v {
                        None => Ok(dflt),
                        Some(v) => v
                            .as_i64()
                            .filter(|&n| n >= 0 && n < i64::from(u32::MAX))
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| Error::syntax(Some(v), None, "bad min or max value")),
                    }
                };
                let min = n(min, 1)?;
                let max = match max {
                    Some(Value::String(s)) if s == "unlimited" => u32::MAX,
                    other => n(other, 1)?,
                };
                if min > 1 || max < 1 {
                    return Err(Error::syntax(
                        Some(j),
                        None,
                        "ovsdb type fails constraint checks",
                    ));
                }
                Ok(Type {
                    key,
                    value,
                    min,
                    max,
                })
            }
            _ => Err(Error::syntax(Some(j), None, "ovsdb type expected")),
        }
    }

    /// The normalized JSON form.
    pub fn to_json(&self) -> Value {
        if self.is_scalar() && !self.key.has_constraints() {
            return self.key.to_json();
        }
        let mut m = Map::new();
        m.insert("key".into(), self.key.to_json());
        if let Some(v) = &self.value {
            m.insert("value".into(), v.to_json());
        }
        if self.min != 1 {
            m.insert("min".into(), self.min.into());
        }
        if self.max == u32::MAX {
            m.insert("max".into(), "unlimited".into());
        } else if self.max != 1 {
            m.insert("max".into(), self.max.into());
        }
        Value::Object(m)
    }

    /// English description like OVS's `ovsdb_type_to_english`.
    pub fn to_english(&self) -> String {
        let key = self.key.atomic.name();
        if self.is_scalar() {
            return key.to_string();
        }
        let mut s = String::from(if self.is_map() { "map" } else { "set" });
        if self.max == u32::MAX {
            if self.min > 0 {
                s.push_str(&format!(" of {} or more", self.min));
            } else {
                s.push_str(" of");
            }
        } else if self.min > 0 {
            s.push_str(&format!(" of {} to {}", self.min, self.max));
        } else {
            s.push_str(&format!(" of up to {}", self.max));
        }
        match &self.value {
            None => s.push_str(&format!(" {key}s")),
            Some(v) => s.push_str(&format!(" ({key}, {}) pairs", v.atomic.name())),
        }
        s
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSchema {
    /// Column name.
    pub name: String,
    /// Column type.
    pub ty: Type,
    /// Not persisted to disk.
    pub ephemeral: bool,
    /// May be changed after insertion.
    pub mutable: bool,
}

impl ColumnSchema {
    /// Parses a column.
    pub fn from_json(j: &Value, name: &str) -> Result<Self, Error> {
        let mut p = Parser::new(j, format!("schema for column {name}"));
        let mutable = p.member("mutable", kind::BOOLEAN | kind::OPTIONAL);
        let ephemeral = p.member("ephemeral", kind::BOOLEAN | kind::OPTIONAL);
        let ty = p.member("type", kind::STRING | kind::OBJECT);
        p.finish()?;
        let ty = Type::from_json(ty.unwrap_or(&Value::Null))?;
        let mut mutable = mutable.and_then(Value::as_bool).unwrap_or(true);
        if !mutable
            && (ty.key.is_weak_ref() || ty.value.as_ref().is_some_and(BaseType::is_weak_ref))
        {
            mutable = true;
        }
        Ok(ColumnSchema {
            name: name.to_string(),
            ty,
            ephemeral: ephemeral.and_then(Value::as_bool).unwrap_or(false),
            mutable,
        })
    }

    /// The normalized JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.mutable {
            m.insert("mutable".into(), false.into());
        }
        if self.ephemeral {
            m.insert("ephemeral".into(), true.into());
        }
        m.insert("type".into(), self.ty.to_json());
        Value::Object(m)
    }
}

/// One table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// Table name.
    pub name: String,
    /// Columns, not including `_uuid` and `_version`.
    pub columns: BTreeMap<String, ColumnSchema>,
    /// Rows are kept even when unreferenced.
    pub is_root: bool,
    /// Table-level `mutable` flag (false forbids updates).
    pub mutable: bool,
    /// maxRows.
    pub max_rows: Option<u64>,
    /// Unique indexes: each a list of column names.
    pub indexes: Vec<Vec<String>>,
}

/// The type of the `_uuid` and `_version` columns.
pub fn uuid_type() -> &'static Type {
    static T: std::sync::OnceLock<Type> = std::sync::OnceLock::new();
    T.get_or_init(|| Type::scalar(AtomicType::Uuid))
}

impl TableSchema {
    /// Looks up a column's type, including `_uuid` and `_version`.
    pub fn column_type(&self, name: &str) -> Option<&Type> {
        match name {
            "_uuid" | "_version" => Some(uuid_type()),
            _ => self.columns.get(name).map(|c| &c.ty),
        }
    }

    /// Parses a table.
    pub fn from_json(j: &Value, name: &str) -> Result<Self, Error> {
        let mut p = Parser::new(j, format!("table schema for table {name}"));
        let columns = p.member("columns", kind::OBJECT);
        let mutable = p.member("mutable", kind::BOOLEAN | kind::OPTIONAL);
        let max_rows = p.member("maxRows", kind::INTEGER | kind::OPTIONAL);
        let is_root = p.member("isRoot", kind::BOOLEAN | kind::OPTIONAL);
        let indexes = p.member("indexes", kind::ARRAY | kind::OPTIONAL);
        p.finish()?;
        let max_rows = match max_rows {
            Some(v) => {
                let n = v.as_i64().unwrap_or(0);
                if n <= 0 {
                    return Err(Error::syntax(Some(j), None, "maxRows must be at least 1"));
                }
                Some(n.min(i64::from(u32::MAX)) as u64)
            }
            None => None,
        };
        let cols = columns
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if cols.is_empty() {
            return Err(Error::syntax(
                Some(j),
                None,
                "table must have at least one column",
            ));
        }
        let mut ts = TableSchema {
            name: name.to_string(),
            columns: BTreeMap::new(),
            is_root: is_root.and_then(Value::as_bool).unwrap_or(false),
            mutable: mutable.and_then(Value::as_bool).unwrap_or(true),
            max_rows,
            indexes: Vec::new(),
        };
        for (cname, cj) in &cols {
            if cname.starts_with('_') {
                return Err(Error::syntax(
                    Some(j),
                    None,
                    "names beginning with \"_\" are reserved",
                ));
            }
            if !is_id(cname) {
                return Err(Error::syntax(Some(j), None, "name must be a valid id"));
            }
            ts.columns
                .insert(cname.clone(), ColumnSchema::from_json(cj, cname)?);
        }
        if let Some(Value::Array(idx)) = indexes {
            for ij in idx {
                let set = ts.column_set_from_json(Some(ij))?;
                if set.is_empty() {
                    return Err(Error::syntax(
                        Some(j),
                        None,
                        "index must have at least one column",
                    ));
                }
                for c in &set {
                    if ts.columns.get(c).is_some_and(|c| c.ephemeral) {
                        return Err(Error::syntax(
                            Some(j),
                            None,
                            format!("ephemeral columns (such as {c}) may not be indexed"),
                        ));
                    }
                }
                ts.indexes.push(set);
            }
        }
        Ok(ts)
    }

    /// Parses an array of distinct column names (`None` = all columns,
    /// including `_uuid` and `_version`).
    pub fn column_set_from_json(&self, j: Option<&Value>) -> Result<Vec<String>, Error> {
        let Some(j) = j else {
            let mut all = vec!["_uuid".to_string(), "_version".to_string()];
            all.extend(self.columns.keys().cloned());
            return Ok(all);
        };
        let bad = || Error::syntax(Some(j), None, "array of distinct column names expected");
        let arr = j.as_array().ok_or_else(bad)?;
        let mut out: Vec<String> = Vec::with_capacity(arr.len().min(self.columns.len() + 2));
        for e in arr {
            let s = e.as_str().ok_or_else(bad)?;
            if self.column_type(s).is_none() {
                return Err(Error::syntax(
                    Some(j),
                    None,
                    format!("{s} is not a valid column name"),
                ));
            }
            if out.iter().any(|c| c == s) {
                return Err(bad());
            }
            out.push(s.to_string());
        }
        Ok(out)
    }

    /// The normalized JSON form; `default_is_root` as in OVS (isRoot is
    /// written only when it differs from the default).
    pub fn to_json(&self, default_is_root: bool) -> Value {
        let mut m = Map::new();
        if !self.mutable {
            m.insert("mutable".into(), false.into());
        }
        if default_is_root != self.is_root {
            m.insert("isRoot".into(), self.is_root.into());
        }
        let cols: Map<String, Value> = self
            .columns
            .iter()
            .map(|(k, c)| (k.clone(), c.to_json()))
            .collect();
        m.insert("columns".into(), Value::Object(cols));
        if let Some(n) = self.max_rows {
            m.insert("maxRows".into(), n.into());
        }
        if !self.indexes.is_empty() {
            m.insert("indexes".into(), json!(self.indexes));
        }
        Value::Object(m)
    }
}

/// A whole database schema.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSchema {
    /// Database name.
    pub name: String,
    /// Version "x.y.z" (may be empty for old schemas).
    pub version: String,
    /// Checksum string, if any.
    pub cksum: Option<String>,
    /// Tables by name.
    pub tables: BTreeMap<String, TableSchema>,
}

fn valid_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 10
                && p.bytes().all(|c| c.is_ascii_digit())
                && p.parse::<u32>().is_ok()
        })
}

impl DatabaseSchema {
    /// Parses and validates a schema document.
    pub fn from_json(j: &Value) -> Result<Self, Error> {
        let mut p = Parser::new(j, "database schema".into());
        let name = p.member("name", kind::ID);
        let version = p.member("version", kind::STRING | kind::OPTIONAL);
        let cksum = p.member("cksum", kind::STRING | kind::OPTIONAL);
        let tables = p.member("tables", kind::OBJECT);
        p.finish()?;
        let version = match version.and_then(Value::as_str) {
            Some(v) => {
                if !valid_version(v) {
                    return Err(Error::syntax(
                        Some(j),
                        None,
                        format!("schema version \"{v}\" not in format x.y.z"),
                    ));
                }
                v.to_string()
            }
            None => String::new(),
        };
        let mut schema = DatabaseSchema {
            name: name.and_then(Value::as_str).unwrap_or("").to_string(),
            version,
            cksum: cksum
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            tables: BTreeMap::new(),
        };
        if let Some(Value::Object(t)) = tables {
            for (tname, tj) in t {
                if tname.starts_with('_') {
                    return Err(Error::syntax(
                        Some(j),
                        None,
                        "names beginning with \"_\" are reserved",
                    ));
                }
                if !is_id(tname) {
                    return Err(Error::syntax(Some(j), None, "name must be a valid id"));
                }
                schema
                    .tables
                    .insert(tname.clone(), TableSchema::from_json(tj, tname)?);
            }
        }
        if !schema.tables.values().any(|t| t.is_root) {
            for t in schema.tables.values_mut() {
                t.is_root = true;
            }
        }
        for t in schema.tables.values() {
            for c in t.columns.values() {
                for (bt, what) in [(Some(&c.ty.key), "key"), (c.ty.value.as_ref(), "value")] {
                    if let Some(rt) = bt.and_then(|b| b.ref_table.as_ref()) {
                        if !schema.tables.contains_key(rt) {
                            return Err(Error::syntax(
                                None,
                                None,
                                format!(
                                    "column {} {} refers to undefined table {}",
                                    c.name, what, rt
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(schema)
    }

    /// Parses schema text (e.g. a `.ovsschema` file's contents).
    pub fn parse_text(text: &str) -> Result<Self, Error> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::new("syntax error", format!("schema is not valid JSON: {e}")))?;
        Self::from_json(&v)
    }

    /// The normalized schema as `get_schema` returns it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.clone().into());
        if !self.version.is_empty() {
            m.insert("version".into(), self.version.clone().into());
        }
        if let Some(c) = &self.cksum {
            m.insert("cksum".into(), c.clone().into());
        }
        let default_is_root = self.tables.values().all(|t| t.is_root);
        let tables: Map<String, Value> = self
            .tables
            .iter()
            .map(|(k, t)| (k.clone(), t.to_json(default_is_root)))
            .collect();
        m.insert("tables".into(), Value::Object(tables));
        Value::Object(m)
    }

    /// Looks up a table.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }
}
