//! The embedded Open_vSwitch schema equals Debian's vswitch.ovsschema.

use ovsdb::schema::DatabaseSchema;

const SYSTEM_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

#[test]
fn embedded_vswitch_schema_matches_system_schema() {
    let text = match std::fs::read_to_string(SYSTEM_SCHEMA) {
        Ok(t) => t,
        Err(e) => {
            if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() == Ok("1") {
                println!("skipped: {SYSTEM_SCHEMA}: {e}");
                return;
            }
            panic!("{SYSTEM_SCHEMA} is required (install openvswitch-common): {e}");
        }
    };
    let system = DatabaseSchema::parse_text(&text).expect("system schema parses");
    let ours = ovsdb::vswitch_schema();
    assert_eq!(ours.name, system.name);
    assert_eq!(ours.version, system.version);
    assert_eq!(
        ours.tables.keys().collect::<Vec<_>>(),
        system.tables.keys().collect::<Vec<_>>(),
        "same tables"
    );
    for (name, st) in &system.tables {
        let ot = &ours.tables[name];
        assert_eq!(
            ot.columns.keys().collect::<Vec<_>>(),
            st.columns.keys().collect::<Vec<_>>(),
            "columns of {name}"
        );
        for (cname, sc) in &st.columns {
            assert_eq!(&ot.columns[cname], sc, "column {name}.{cname}");
        }
        assert_eq!(ot.is_root, st.is_root, "isRoot of {name}");
        assert_eq!(ot.max_rows, st.max_rows, "maxRows of {name}");
        assert_eq!(ot.indexes, st.indexes, "indexes of {name}");
        assert_eq!(ot.mutable, st.mutable, "mutable of {name}");
    }
    assert_eq!(ours, system);
    // The normalized JSON forms are identical too.
    assert_eq!(ours.to_json(), system.to_json());
}
