//! Conditions (`where` clauses, RFC 7047 section 5.1) and their evaluation.
//!
//! A [`Condition`] is a list of clauses `[column, function, value]` (or the
//! OVS extension `true`/`false`). Transactions require every clause to hold
//! ([`Condition::matches_all`]); `monitor_cond` selects rows matching any
//! clause ([`Condition::matches_any`]).

use serde_json::{Value, json};
use uuid::Uuid;

use crate::data::{Datum, Row};
use crate::error::Error;
use crate::schema::{AtomicType, TableSchema, Type};

/// A comparison function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Function {
    /// Always true (OVS extension: the JSON literal `true`).
    True,
    /// Always false.
    False,
    /// `==`
    Eq,
    /// `includes`
    Includes,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `excludes`
    Excludes,
    /// `!=`
    Ne,
}

impl Function {
    /// Parses a function name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "==" => Function::Eq,
            "!=" => Function::Ne,
            "<" => Function::Lt,
            "<=" => Function::Le,
            ">" => Function::Gt,
            ">=" => Function::Ge,
            "includes" => Function::Includes,
            "excludes" => Function::Excludes,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Function::True => "true",
            Function::False => "false",
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Gt => ">",
            Function::Ge => ">=",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// One clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// Column name (may be `_uuid` / `_version`).
    pub column: String,
    /// Function.
    pub function: Function,
    /// Argument.
    pub arg: Datum,
    /// The column's type.
    pub ty: Type,
}

/// A list of clauses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Condition {
    /// The clauses.
    pub clauses: Vec<Clause>,
}

impl Clause {
    /// Parses one clause.
    pub fn from_json(
        table: &TableSchema,
        j: &Value,
        names: &mut dyn FnMut(&str) -> Option<Uuid>,
    ) -> Result<Clause, Error> {
        if let Value::Bool(b) = j {
            return Ok(Clause {
                column: "_uuid".into(),
                function: if *b { Function::True } else { Function::False },
                arg: Datum::Set(Vec::new()),
                ty: Type::scalar(AtomicType::Uuid),
            });
        }
        let (col, func, arg) = match j.as_array().map(Vec::as_slice) {
            Some([Value::String(c), Value::String(f), a]) => (c, f, a),
            _ => return Err(Error::syntax(Some(j), None, "Parse error in condition.")),
        };
        let ty = table.column_type(col).ok_or_else(|| {
            Error::syntax(
                Some(j),
                Some("unknown column"),
                format!("No column {col} in table {}.", table.name),
            )
        })?;
        let function = Function::from_name(func).ok_or_else(|| {
            Error::syntax(
                None,
                Some("unknown function"),
                format!("No function named {func}."),
            )
        })?;
        let (mut min, mut max) = (ty.min, ty.max);
        match function {
            Function::Lt | Function::Le | Function::Gt | Function::Ge => {
                if !(ty.is_scalar() || ty.is_optional_scalar())
                    || !matches!(ty.key.atomic, AtomicType::Integer | AtomicType::Real)
                {
                    return Err(Error::syntax(
                        Some(j),
                        None,
                        format!(
                            "Type mismatch: \"{}\" operator may not be applied to column {} of type {}.",
                            function.name(),
                            col,
                            ty.to_english()
                        ),
                    ));
                }
                min = 1;
            }
            Function::Excludes if !ty.is_scalar() => {
                min = 0;
                max = u32::MAX;
            }
            Function::Includes if !ty.is_scalar() => min = 0,
            _ => {}
        }
        let arg = Datum::from_json_bounds(arg, ty, min, max, names)?;
        Ok(Clause {
            column: col.clone(),
            function,
            arg,
            ty: ty.clone(),
        })
    }

    /// Evaluates the clause on a row.
    pub fn evaluate(&self, row: &Row) -> bool {
        let Some(field) = row.get(&self.column) else {
            return false;
        };
        self.evaluate_datum(&field)
    }

    /// Evaluates the clause on a column value.
    pub fn evaluate_datum(&self, field: &Datum) -> bool {
        use Function::*;
        let f = self.function;
        match f {
            True => return true,
            False => return false,
            _ => {}
        }
        let ty = &self.ty;
        let scalarish = ty.is_scalar() || ty.is_optional_scalar();
        if ty.is_optional_scalar() && field.is_empty() && matches!(f, Lt | Le | Gt | Ge) {
            return false;
        }
        if scalarish && field.len() == 1 && self.arg.len() == 1 {
            let (Some(a), Some(b)) = (field.first(), self.arg.first()) else {
                return false;
            };
            let c = a.cmp(b);
            return match f {
                Lt => c.is_lt(),
                Le => c.is_le(),
                Eq | Includes => c.is_eq(),
                Ne | Excludes => c.is_ne(),
                Ge => c.is_ge(),
                Gt => c.is_gt(),
                True | False => unreachable_false(),
            };
        }
        match f {
            Eq => field == &self.arg,
            Ne => field != &self.arg,
            Includes => includes_all(field, &self.arg),
            Excludes => excludes_all(field, &self.arg),
            _ => false,
        }
    }

    /// JSON form.
    pub fn to_json(&self) -> Value {
        match self.function {
            Function::True => Value::Bool(true),
            Function::False => Value::Bool(false),
            f => json!([self.column, f.name(), self.arg.to_json(&self.ty)]),
        }
    }
}

fn unreachable_false() -> bool {
    false
}

/// True if every element (pair) of `arg` is in `field`.
fn includes_all(field: &Datum, arg: &Datum) -> bool {
    match (field, arg) {
        (Datum::Set(f), Datum::Set(a)) => a.iter().all(|x| f.binary_search(x).is_ok()),
        (Datum::Map(f), Datum::Map(a)) => a.iter().all(|(k, v)| {
            f.binary_search_by(|p| p.0.cmp(k))
                .is_ok_and(|i| f.get(i).is_some_and(|p| &p.1 == v))
        }),
        _ => arg.is_empty(),
    }
}

/// True if no element (pair) of `arg` is in `field`.
fn excludes_all(field: &Datum, arg: &Datum) -> bool {
    match (field, arg) {
        (Datum::Set(f), Datum::Set(a)) => a.iter().all(|x| f.binary_search(x).is_err()),
        (Datum::Map(f), Datum::Map(a)) => a.iter().all(|(k, v)| {
            !f.binary_search_by(|p| p.0.cmp(k))
                .is_ok_and(|i| f.get(i).is_some_and(|p| &p.1 == v))
        }),
        _ => true,
    }
}

impl Condition {
    /// Parses a JSON array of clauses. `names` resolves named UUIDs.
    pub fn from_json(
        table: &TableSchema,
        j: &Value,
        names: &mut dyn FnMut(&str) -> Option<Uuid>,
    ) -> Result<Condition, Error> {
        let arr = j
            .as_array()
            .ok_or_else(|| Error::syntax(Some(j), None, "Parse error in condition."))?;
        let mut clauses = Vec::with_capacity(arr.len());
        for c in arr {
            clauses.push(Clause::from_json(table, c, names)?);
        }
        Ok(Condition { clauses })
    }

    /// True if every clause holds (an empty condition matches every row).
    pub fn matches_all(&self, row: &Row) -> bool {
        self.clauses.iter().all(|c| c.evaluate(row))
    }

    /// True if any clause holds (`monitor_cond` semantics; empty = false).
    pub fn matches_any(&self, row: &Row) -> bool {
        self.clauses.iter().any(|c| c.evaluate(row))
    }

    /// If the condition pins `_uuid == X`, returns X (a fast path).
    pub fn uuid_eq(&self) -> Option<Uuid> {
        self.clauses
            .iter()
            .find(|c| c.column == "_uuid" && c.function == Function::Eq && c.arg.len() == 1)
            .and_then(|c| c.arg.first())
            .and_then(|a| a.as_uuid())
    }

    /// JSON form.
    pub fn to_json(&self) -> Value {
        Value::Array(self.clauses.iter().map(Clause::to_json).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Atom;
    use serde_json::json;

    fn table() -> TableSchema {
        TableSchema::from_json(
            &json!({"columns":{
                "i":{"type":"integer"},
                "o":{"type":{"key":"integer","min":0,"max":1}},
                "s":{"type":{"key":"string","min":0,"max":"unlimited"}},
                "m":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}}}),
            "T",
        )
        .unwrap()
    }

    fn eval(cond: serde_json::Value, col: &str, d: Datum) -> bool {
        let t = table();
        let c = Clause::from_json(&t, &cond, &mut |_| None).unwrap();
        assert_eq!(c.column, col);
        c.evaluate_datum(&d)
    }

    #[test]
    fn scalar_comparisons() {
        let i = |v| Datum::scalar(Atom::Integer(v));
        assert!(eval(json!(["i", "<", 5]), "i", i(4)));
        assert!(!eval(json!(["i", "<", 5]), "i", i(5)));
        assert!(eval(json!(["i", "<=", 5]), "i", i(5)));
        assert!(eval(json!(["i", ">", 5]), "i", i(6)));
        assert!(eval(json!(["i", ">=", 5]), "i", i(5)));
        assert!(eval(json!(["i", "==", 5]), "i", i(5)));
        assert!(eval(json!(["i", "!=", 5]), "i", i(4)));
        assert!(eval(json!(["i", "includes", 5]), "i", i(5)));
        assert!(eval(json!(["i", "excludes", 5]), "i", i(4)));
    }

    #[test]
    fn optional_scalar_ordering_is_false_when_empty() {
        let empty = Datum::Set(vec![]);
        assert!(!eval(json!(["o", "<", 5]), "o", empty.clone()));
        assert!(!eval(json!(["o", ">=", 5]), "o", empty.clone()));
        assert!(eval(json!(["o", "==", ["set", []]]), "o", empty.clone()));
        assert!(eval(json!(["o", "!=", 1]), "o", empty));
        assert!(eval(
            json!(["o", "<", 5]),
            "o",
            Datum::scalar(Atom::Integer(1))
        ));
    }

    #[test]
    fn set_and_map_inclusion() {
        let s = Datum::set_from(vec![Atom::String("a".into()), Atom::String("b".into())]);
        assert!(eval(
            json!(["s", "includes", ["set", ["a"]]]),
            "s",
            s.clone()
        ));
        assert!(eval(json!(["s", "includes", ["set", []]]), "s", s.clone()));
        assert!(!eval(
            json!(["s", "includes", ["set", ["a", "c"]]]),
            "s",
            s.clone()
        ));
        assert!(eval(
            json!(["s", "excludes", ["set", ["c", "d"]]]),
            "s",
            s.clone()
        ));
        assert!(!eval(
            json!(["s", "excludes", ["set", ["c", "a"]]]),
            "s",
            s.clone()
        ));
        assert!(eval(json!(["s", "==", ["set", ["b", "a"]]]), "s", s));
        let m = Datum::map_from(vec![(Atom::String("k".into()), Atom::String("v".into()))]);
        assert!(eval(
            json!(["m", "includes", ["map", [["k", "v"]]]]),
            "m",
            m.clone()
        ));
        assert!(!eval(
            json!(["m", "includes", ["map", [["k", "w"]]]]),
            "m",
            m.clone()
        ));
        assert!(eval(
            json!(["m", "excludes", ["map", [["k", "w"]]]]),
            "m",
            m
        ));
    }

    #[test]
    fn type_errors() {
        let t = table();
        for bad in [
            json!(["s", "<", "a"]),
            json!(["x", "==", 1]),
            json!(["i", "~", 1]),
            json!(["i"]),
            json!(3),
        ] {
            assert!(Clause::from_json(&t, &bad, &mut |_| None).is_err(), "{bad}");
        }
        let e = Clause::from_json(&t, &json!(["s", "<", "a"]), &mut |_| None).unwrap_err();
        assert_eq!(
            e.details.as_deref(),
            Some(
                "Type mismatch: \"<\" operator may not be applied to column s of type set of strings."
            )
        );
        let c = Condition::from_json(&t, &json!([true, ["i", "==", 1]]), &mut |_| None).unwrap();
        assert_eq!(c.to_json(), json!([true, ["i", "==", 1]]));
    }
}
