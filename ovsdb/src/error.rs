//! The OVSDB error object of RFC 7047 section 3.1.
//!
//! Every failure the engine reports carries the protocol's own `error` tag
//! (for example `"constraint violation"` or `"syntax error"`), an optional
//! human-readable `details` string and, for syntax errors, the offending JSON
//! text in `syntax`, exactly the members ovsdb-server puts on the wire.

use serde_json::{Map, Value};

/// An RFC 7047 error object: `{"error": <tag>, "details": <string>, ...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.display())]
pub struct Error {
    /// The RFC 7047 error tag, e.g. `"constraint violation"`.
    pub error: String,
    /// Free-form explanation.
    pub details: Option<String>,
    /// For syntax errors: the JSON text that failed to parse (compact,
    /// keys sorted), as ovsdb-server reports it in the `syntax` member.
    pub syntax: Option<String>,
}

impl Error {
    /// An error with the given tag and details.
    pub fn new(tag: impl Into<String>, details: impl Into<String>) -> Self {
        Error {
            error: tag.into(),
            details: Some(details.into()),
            syntax: None,
        }
    }

    /// A `"syntax error"` about `json` (or with another tag, if given).
    pub fn syntax(json: Option<&Value>, tag: Option<&str>, details: impl Into<String>) -> Self {
        Error {
            error: tag.unwrap_or("syntax error").to_string(),
            details: Some(details.into()),
            syntax: json.map(json_to_sorted_string),
        }
    }

    /// `"constraint violation"`.
    pub fn constraint(details: impl Into<String>) -> Self {
        Error::new("constraint violation", details)
    }

    /// `"referential integrity violation"`.
    pub fn referential(details: impl Into<String>) -> Self {
        Error::new("referential integrity violation", details)
    }

    /// An internal or I/O error (tag `"ovsdb error"` like OVS's untagged errors).
    pub fn io(details: impl Into<String>) -> Self {
        Error::new("I/O error", details)
    }

    /// The JSON error object sent to clients.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("error".into(), Value::String(self.error.clone()));
        if let Some(d) = &self.details {
            m.insert("details".into(), Value::String(d.clone()));
        }
        if let Some(s) = &self.syntax {
            m.insert("syntax".into(), Value::String(s.clone()));
        }
        Value::Object(m)
    }

    fn display(&self) -> String {
        let mut s = String::new();
        if let Some(syn) = &self.syntax {
            s.push_str(&format!("syntax \"{syn}\": "));
        }
        s.push_str(&self.error);
        if let Some(d) = &self.details {
            s.push_str(": ");
            s.push_str(d);
        }
        s
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io(e.to_string())
    }
}

/// Serializes `v` compactly with object keys sorted, like OVS's
/// `json_to_string(json, JSSF_SORT)`.
pub fn json_to_sorted_string(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    if let Some(x) = m.get(k) {
                        out.insert(k.clone(), sort(x));
                    }
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}
