//! A small checker for JSON objects with named members, reporting errors the
//! way ovsdb-server does ("Parsing `what` failed: Required 'x' member is
//! missing.", "Type mismatch for member 'x'.", unknown members rejected).

use crate::error::Error;
use serde_json::{Map, Value};

/// Kinds of JSON a member may have (bit set).
pub(crate) mod kind {
    pub(crate) const NULL: u32 = 1;
    pub(crate) const FALSE: u32 = 2;
    pub(crate) const TRUE: u32 = 4;
    pub(crate) const BOOLEAN: u32 = FALSE | TRUE;
    pub(crate) const INTEGER: u32 = 8;
    pub(crate) const REAL: u32 = 16;
    pub(crate) const NUMBER: u32 = INTEGER | REAL;
    pub(crate) const STRING: u32 = 32;
    pub(crate) const OBJECT: u32 = 64;
    pub(crate) const ARRAY: u32 = 128;
    pub(crate) const ANY: u32 = 255;
    /// A string that is a valid `<id>`.
    pub(crate) const ID: u32 = 256;
    /// The member may be absent.
    pub(crate) const OPTIONAL: u32 = 512;
}

/// True if `s` is an RFC 7047 `<id>`: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_id(s: &str) -> bool {
    let mut chars = s.bytes();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

pub(crate) fn json_kind(v: &Value) -> u32 {
    match v {
        Value::Null => kind::NULL,
        Value::Bool(false) => kind::FALSE,
        Value::Bool(true) => kind::TRUE,
        Value::Number(n) => {
            if n.is_i64() {
                kind::INTEGER
            } else {
                kind::REAL
            }
        }
        Value::String(_) => kind::STRING,
        Value::Object(_) => kind::OBJECT,
        Value::Array(_) => kind::ARRAY,
    }
}

/// Parses members out of one JSON object.
pub(crate) struct Parser<'a> {
    json: &'a Value,
    obj: Option<&'a Map<String, Value>>,
    name: String,
    used: Vec<&'a str>,
    error: Option<Error>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(json: &'a Value, name: String) -> Self {
        let mut p = Parser {
            json,
            obj: json.as_object(),
            name,
            used: Vec::new(),
            error: None,
        };
        if p.obj.is_none() {
            p.raise("Object expected.".to_string());
        }
        p
    }

    pub(crate) fn raise(&mut self, msg: String) {
        if self.error.is_none() {
            let j = if self.obj.is_some() {
                Some(self.json)
            } else {
                None
            };
            self.error = Some(Error::syntax(
                j,
                None,
                format!("Parsing {} failed: {}", self.name, msg),
            ));
        }
    }

    /// The object being parsed (None if it was not an object).
    pub(crate) fn json(&self) -> Option<&'a Value> {
        self.obj.map(|_| self.json)
    }

    pub(crate) fn error(&self) -> Option<Error> {
        self.error.clone()
    }

    /// Looks up member `name` and checks its kind.
    pub(crate) fn member(&mut self, name: &str, kinds: u32) -> Option<&'a Value> {
        let obj = self.obj?;
        let Some((k, v)) = obj.get_key_value(name) else {
            if kinds & kind::OPTIONAL == 0 {
                self.raise(format!("Required '{name}' member is missing."));
            }
            return None;
        };
        let ok =
            kinds & json_kind(v) != 0 || (kinds & kind::ID != 0 && v.as_str().is_some_and(is_id));
        if ok {
            if !self.used.contains(&k.as_str()) {
                self.used.push(k.as_str());
            }
            Some(v)
        } else {
            self.raise(format!("Type mismatch for member '{name}'."));
            None
        }
    }

    /// Ends parsing: unknown members are an error.
    pub(crate) fn finish(mut self) -> Result<(), Error> {
        if self.error.is_none() {
            if let Some(obj) = self.obj {
                let n_unused = obj.len().saturating_sub(self.used.len());
                if n_unused > 0 {
                    if let Some(k) = obj.keys().find(|k| !self.used.contains(&k.as_str())) {
                        let msg = if n_unused > 1 {
                            format!(
                                "Member '{k}' and {} other member{} are present but not allowed here.",
                                n_unused - 1,
                                if n_unused > 2 { "s" } else { "" }
                            )
                        } else {
                            format!("Member '{k}' is present but not allowed here.")
                        };
                        self.raise(msg);
                    }
                }
            }
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids() {
        assert!(is_id("a") && is_id("_x9") && is_id("Open_vSwitch"));
        assert!(!is_id("") && !is_id("9a") && !is_id("a-b") && !is_id("a b"));
    }

    #[test]
    fn member_errors_match_ovs_wording() {
        let j = json!({"a": 1, "b": "x"});
        let mut p = Parser::new(&j, "thing".into());
        assert!(p.member("a", kind::STRING).is_none());
        let e = p.finish().unwrap_err();
        assert_eq!(
            e.details.as_deref(),
            Some("Parsing thing failed: Type mismatch for member 'a'.")
        );
        let mut p = Parser::new(&j, "thing".into());
        p.member("z", kind::ANY);
        assert_eq!(
            p.finish().unwrap_err().details.as_deref(),
            Some("Parsing thing failed: Required 'z' member is missing.")
        );
        let mut p = Parser::new(&j, "thing".into());
        p.member("a", kind::INTEGER);
        assert_eq!(
            p.finish().unwrap_err().details.as_deref(),
            Some("Parsing thing failed: Member 'b' is present but not allowed here.")
        );
        let mut p = Parser::new(&j, "thing".into());
        assert!(p.member("b", kind::ID).is_some());
        assert!(p.member("a", kind::NUMBER | kind::OPTIONAL).is_some());
        assert!(p.member("c", kind::NUMBER | kind::OPTIONAL).is_none());
        assert!(p.finish().is_ok());
        let arr = json!([1]);
        let p = Parser::new(&arr, "thing".into());
        let e = p.finish().unwrap_err();
        assert_eq!(
            e.details.as_deref(),
            Some("Parsing thing failed: Object expected.")
        );
        assert_eq!(e.syntax, None);
    }
}
