//! The `Open_vSwitch` database schema, embedded in the crate.
//!
//! `vswitch.ovsschema` next to this file is our rendering of the schema of
//! Open vSwitch 3.1 (version 8.3.1): the same tables, columns, types,
//! constraints, indexes, root flags and row limits as OVS's
//! `vswitch.ovsschema`, written in a normalized form (one column per line,
//! unconstrained types in their short form). A test checks that it is
//! semantically equal to the file Debian's `openvswitch-common` installs.

use std::sync::{Arc, OnceLock};

use crate::schema::DatabaseSchema;

/// The schema text.
pub const VSWITCH_SCHEMA_TEXT: &str = include_str!("vswitch.ovsschema");

fn parsed() -> &'static Arc<DatabaseSchema> {
    static S: OnceLock<Arc<DatabaseSchema>> = OnceLock::new();
    S.get_or_init(|| match DatabaseSchema::parse_text(VSWITCH_SCHEMA_TEXT) {
        Ok(s) => Arc::new(s),
        // The text is a compile-time constant covered by tests; an empty
        // schema here would only mean a broken build.
        Err(e) => {
            tracing::error!("embedded Open_vSwitch schema does not parse: {e}");
            Arc::new(DatabaseSchema {
                name: "Open_vSwitch".into(),
                version: String::new(),
                cksum: None,
                tables: Default::default(),
            })
        }
    })
}

/// The embedded Open_vSwitch schema.
pub fn vswitch_schema() -> DatabaseSchema {
    (**parsed()).clone()
}

/// The embedded Open_vSwitch schema, shared.
pub fn vswitch_schema_arc() -> Arc<DatabaseSchema> {
    Arc::clone(parsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schema_parses() {
        let s = DatabaseSchema::parse_text(VSWITCH_SCHEMA_TEXT).expect("parses");
        assert_eq!(s.name, "Open_vSwitch");
        assert_eq!(s.version, "8.3.1");
        assert_eq!(s.tables.len(), 19);
        assert!(s.tables["Open_vSwitch"].is_root);
        assert_eq!(s.tables["Open_vSwitch"].max_rows, Some(1));
        assert!(!s.tables["Port"].is_root);
        assert_eq!(
            s.tables["Interface"].indexes,
            vec![vec!["name".to_string()]]
        );
    }
}
