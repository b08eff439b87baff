//! Mutations (RFC 7047 section 5.1): `+= -= *= /= %=` on integer and real
//! scalars or sets, `insert` and `delete` on sets and maps, with OVS's
//! overflow ("range error"), division by zero ("domain error") and
//! post-mutation constraint checks.

use serde_json::Value;
use uuid::Uuid;

use crate::data::{Atom, Datum};
use crate::error::Error;
use crate::schema::{BaseType, TableSchema, Type};

/// A mutator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutator {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `%=`
    Mod,
    /// `insert`
    Insert,
    /// `delete`
    Delete,
}

impl Mutator {
    /// Parses a mutator name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "+=" => Mutator::Add,
            "-=" => Mutator::Sub,
            "*=" => Mutator::Mul,
            "/=" => Mutator::Div,
            "%=" => Mutator::Mod,
            "insert" => Mutator::Insert,
            "delete" => Mutator::Delete,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// One parsed mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// Column name.
    pub column: String,
    /// Mutator.
    pub mutator: Mutator,
    /// Argument.
    pub arg: Datum,
    /// The column's type.
    pub ty: Type,
}

impl Mutation {
    /// Parses `[column, mutator, value]`.
    pub fn from_json(
        table: &TableSchema,
        j: &Value,
        names: &mut dyn FnMut(&str) -> Option<Uuid>,
    ) -> Result<Mutation, Error> {
        let (col, m, arg) = match j.as_array().map(Vec::as_slice) {
            Some([Value::String(c), Value::String(m), a]) => (c, m, a),
            _ => return Err(Error::syntax(Some(j), None, "Parse error in mutation.")),
        };
        let Some(cs) = table
            .columns
            .get(col.as_str())
            .filter(|_| !col.starts_with('_'))
        else {
            if col == "_uuid" || col == "_version" {
                return Err(Error::syntax(
                    Some(j),
                    Some("constraint violation"),
                    format!(
                        "Cannot mutate immutable column {col} in table {}.",
                        table.name
                    ),
                ));
            }
            return Err(Error::syntax(
                Some(j),
                Some("unknown column"),
                format!("No column {col} in table {}.", table.name),
            ));
        };
        if !cs.mutable {
            return Err(Error::syntax(
                Some(j),
                Some("constraint violation"),
                format!(
                    "Cannot mutate immutable column {col} in table {}.",
                    table.name
                ),
            ));
        }
        let ty = &cs.ty;
        let mutator = Mutator::from_name(m).ok_or_else(|| {
            Error::syntax(
                None,
                Some("unknown mutator"),
                format!("No mutator named {m}."),
            )
        })?;
        let mismatch = || {
            Error::syntax(
                Some(j),
                None,
                format!(
                    "Type mismatch: \"{}\" operator may not be applied to column {} of type {}.",
                    mutator.name(),
                    col,
                    ty.to_english()
                ),
            )
        };
        use crate::schema::AtomicType as A;
        let arg = match mutator {
            Mutator::Add | Mutator::Sub | Mutator::Mul | Mutator::Div | Mutator::Mod => {
                if (!ty.is_scalar() && !ty.is_set())
                    || !matches!(ty.key.atomic, A::Integer | A::Real)
                    || (mutator == Mutator::Mod && ty.key.atomic == A::Real)
                {
                    return Err(mismatch());
                }
                let at = Type {
                    key: BaseType::new(ty.key.atomic),
                    value: None,
                    min: 1,
                    max: 1,
                };
                Datum::from_json(arg, &at, names)?
            }
            Mutator::Insert | Mutator::Delete => {
                if !ty.is_set() && !ty.is_map() {
                    return Err(mismatch());
                }
                let max = if mutator == Mutator::Delete {
                    u32::MAX
                } else {
                    ty.max
                };
                match Datum::from_json_bounds(arg, ty, 0, max, names) {
                    Ok(d) => d,
                    Err(e) => {
                        if ty.is_map() && mutator == Mutator::Delete {
                            // A map delete may also name just the keys.
                            let kt = Type {
                                key: ty.key.clone(),
                                value: None,
                                min: 0,
                                max: u32::MAX,
                            };
                            Datum::from_json_bounds(arg, &kt, 0, u32::MAX, names)?
                        } else {
                            return Err(e);
                        }
                    }
                }
            }
        };
        Ok(Mutation {
            column: col.clone(),
            mutator,
            arg,
            ty: ty.clone(),
        })
    }

    /// Applies the mutation to a column value.
    pub fn apply(&self, dst: &mut Datum) -> Result<(), Error> {
        match self.mutator {
            Mutator::Insert => {
                match (&mut *dst, &self.arg) {
                    (Datum::Set(d), Datum::Set(a)) => {
                        for x in a {
                            if let Err(i) = d.binary_search(x) {
                                d.insert(i, x.clone());
                            }
                        }
                    }
                    (Datum::Map(d), Datum::Map(a)) => {
                        for (k, v) in a {
                            if let Err(i) = d.binary_search_by(|p| p.0.cmp(k)) {
                                d.insert(i, (k.clone(), v.clone()));
                            }
                        }
                    }
                    _ => {}
                }
                self.check_count(dst)
            }
            Mutator::Delete => {
                match (&mut *dst, &self.arg) {
                    (Datum::Set(d), Datum::Set(a)) => d.retain(|x| a.binary_search(x).is_err()),
                    (Datum::Map(d), Datum::Set(keys)) => {
                        d.retain(|p| keys.binary_search(&p.0).is_err())
                    }
                    (Datum::Map(d), Datum::Map(a)) => d.retain(|p| {
                        !a.binary_search_by(|q| q.0.cmp(&p.0))
                            .is_ok_and(|i| a.get(i).is_some_and(|q| q.1 == p.1))
                    }),
                    _ => {}
                }
                self.check_count(dst)
            }
            m => {
                let Some(y) = self.arg.first().cloned() else {
                    return Ok(());
                };
                let Datum::Set(d) = dst else { return Ok(()) };
                for x in d.iter_mut() {
                    *x = scalar_op(m, x, &y)?;
                }
                for x in d.iter() {
                    x.check_constraints(&self.ty.key)?;
                }
                d.sort();
                if d.windows(2).any(|w| w[0] == w[1]) {
                    return Err(Error::constraint(format!(
                        "Result of \"{}\" operation contains duplicates.",
                        m.name()
                    )));
                }
                Ok(())
            }
        }
    }

    fn check_count(&self, dst: &Datum) -> Result<(), Error> {
        let n = dst.len() as u64;
        if n < u64::from(self.ty.min) || n > u64::from(self.ty.max) {
            return Err(Error::constraint(format!(
                "Attempted to store {} elements in {}.",
                n,
                self.ty.to_english()
            )));
        }
        Ok(())
    }
}

fn range_error(m: Mutator) -> Error {
    Error::new(
        "range error",
        format!("Result of \"{}\" operation is out of range.", m.name()),
    )
}

fn scalar_op(m: Mutator, x: &Atom, y: &Atom) -> Result<Atom, Error> {
    match (x, y) {
        (Atom::Integer(x), Atom::Integer(y)) => {
            let (x, y) = (*x, *y);
            let r = match m {
                Mutator::Add => x.checked_add(y),
                Mutator::Sub => x.checked_sub(y),
                Mutator::Mul => mul_int(x, y),
                Mutator::Div | Mutator::Mod => {
                    if y == 0 {
                        return Err(Error::new("domain error", "Division by zero."));
                    }
                    if m == Mutator::Div {
                        x.checked_div(y)
                    } else {
                        x.checked_rem(y)
                    }
                }
                _ => Some(x),
            };
            r.map(Atom::Integer).ok_or_else(|| range_error(m))
        }
        (Atom::Real(x), Atom::Real(y)) => {
            let r = match m {
                Mutator::Add => x + y,
                Mutator::Sub => x - y,
                Mutator::Mul => x * y,
                Mutator::Div => {
                    if *y == 0.0 {
                        return Err(Error::new("domain error", "Division by zero."));
                    }
                    x / y
                }
                _ => return Err(Error::new("ovsdb error", "Operation not supported.")),
            };
            if r.is_finite() {
                Ok(Atom::Real(r))
            } else {
                Err(range_error(m))
            }
        }
        _ => Err(Error::new("ovsdb error", "Operation not supported.")),
    }
}

fn mul_int(x: i64, y: i64) -> Option<i64> {
    x.checked_mul(y)
}

/// A list of mutations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MutationSet {
    /// The mutations, applied in order.
    pub mutations: Vec<Mutation>,
}

impl MutationSet {
    /// Parses a JSON array of mutations.
    pub fn from_json(
        table: &TableSchema,
        j: &Value,
        names: &mut dyn FnMut(&str) -> Option<Uuid>,
    ) -> Result<MutationSet, Error> {
        let arr = j
            .as_array()
            .ok_or_else(|| Error::syntax(Some(j), None, "Parse error in mutation."))?;
        let mut mutations = Vec::with_capacity(arr.len());
        for m in arr {
            mutations.push(Mutation::from_json(table, m, names)?);
        }
        Ok(MutationSet { mutations })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{AtomicType, TableSchema};
    use serde_json::json;

    fn table() -> TableSchema {
        TableSchema::from_json(
            &json!({"columns":{
                "i":{"type":"integer"},
                "r":{"type":"real"},
                "s":{"type":{"key":{"type":"integer","maxInteger":10},"min":0,"max":"unlimited"}},
                "m":{"type":{"key":"string","value":"integer","min":0,"max":2}}}}),
            "T",
        )
        .unwrap()
    }

    fn apply(col: &str, m: &str, arg: serde_json::Value, start: Datum) -> Result<Datum, Error> {
        let t = table();
        let mu = Mutation::from_json(&t, &json!([col, m, arg]), &mut |_| None)?;
        let mut d = start;
        mu.apply(&mut d)?;
        Ok(d)
    }

    #[test]
    fn integer_arithmetic_and_errors() {
        let i = |v| Datum::scalar(Atom::Integer(v));
        assert_eq!(apply("i", "+=", json!(2), i(5)).unwrap(), i(7));
        assert_eq!(apply("i", "-=", json!(7), i(5)).unwrap(), i(-2));
        assert_eq!(apply("i", "*=", json!(3), i(5)).unwrap(), i(15));
        assert_eq!(
            apply("i", "/=", json!(2), i(-7)).unwrap(),
            i(-3),
            "C truncation"
        );
        assert_eq!(
            apply("i", "%=", json!(3), i(-7)).unwrap(),
            i(-1),
            "C remainder sign"
        );
        assert_eq!(
            apply("i", "/=", json!(0), i(1)).unwrap_err().error,
            "domain error"
        );
        assert_eq!(
            apply("i", "%=", json!(0), i(1)).unwrap_err().error,
            "domain error"
        );
        assert_eq!(
            apply("i", "/=", json!(-1), i(i64::MIN)).unwrap_err().error,
            "range error"
        );
        assert_eq!(
            apply("i", "*=", json!(2), i(i64::MAX)).unwrap_err().error,
            "range error"
        );
        assert_eq!(
            apply("i", "-=", json!(1), i(i64::MIN)).unwrap_err().error,
            "range error"
        );
        assert_eq!(
            apply("i", "insert", json!(1), i(1)).unwrap_err().error,
            "syntax error"
        );
    }

    #[test]
    fn real_arithmetic() {
        let r = |v| Datum::scalar(Atom::Real(v));
        assert_eq!(apply("r", "+=", json!(1), r(0.5)).unwrap(), r(1.5));
        assert_eq!(
            apply("r", "/=", json!(0), r(0.5)).unwrap_err().error,
            "domain error"
        );
        assert_eq!(
            apply("r", "*=", json!(1e308), r(1e308)).unwrap_err().error,
            "range error"
        );
        assert_eq!(
            apply("r", "%=", json!(1), r(0.5)).unwrap_err().error,
            "syntax error"
        );
    }

    #[test]
    fn set_arithmetic_checks_constraints_and_duplicates() {
        let s = |v: &[i64]| Datum::set_from(v.iter().map(|&x| Atom::Integer(x)).collect());
        assert_eq!(apply("s", "+=", json!(1), s(&[1, 2])).unwrap(), s(&[2, 3]));
        let e = apply("s", "+=", json!(9), s(&[1, 2])).unwrap_err();
        assert_eq!(
            e.details.as_deref(),
            Some("11 is greater than maximum allowed value 10")
        );
        let e = apply("s", "*=", json!(0), s(&[1, 2])).unwrap_err();
        assert_eq!(
            e.details.as_deref(),
            Some("Result of \"*=\" operation contains duplicates.")
        );
        assert_eq!(
            apply("s", "delete", json!(["set", [1, 7]]), s(&[1, 2])).unwrap(),
            s(&[2])
        );
        assert_eq!(
            apply("s", "insert", json!(["set", [3, 1]]), s(&[1, 2])).unwrap(),
            s(&[1, 2, 3])
        );
    }

    #[test]
    fn map_insert_keeps_existing_values_and_delete_by_key_or_pair() {
        let m = |v: &[(&str, i64)]| {
            Datum::map_from(
                v.iter()
                    .map(|(k, x)| (Atom::String((*k).into()), Atom::Integer(*x)))
                    .collect(),
            )
        };
        assert_eq!(
            apply(
                "m",
                "insert",
                json!(["map", [["a", 9], ["b", 2]]]),
                m(&[("a", 1)])
            )
            .unwrap(),
            m(&[("a", 1), ("b", 2)])
        );
        let e = apply(
            "m",
            "insert",
            json!(["map", [["c", 3]]]),
            m(&[("a", 1), ("b", 2)]),
        )
        .unwrap_err();
        assert_eq!(
            e.details.as_deref(),
            Some("Attempted to store 3 elements in map of up to 2 (string, integer) pairs.")
        );
        assert_eq!(
            apply(
                "m",
                "delete",
                json!(["set", ["a"]]),
                m(&[("a", 1), ("b", 2)])
            )
            .unwrap(),
            m(&[("b", 2)])
        );
        assert_eq!(
            apply("m", "delete", json!(["map", [["a", 2]]]), m(&[("a", 1)])).unwrap(),
            m(&[("a", 1)])
        );
        assert_eq!(
            apply("m", "delete", json!(["map", [["a", 1]]]), m(&[("a", 1)])).unwrap(),
            m(&[])
        );
        let _ = AtomicType::Integer;
    }
}
