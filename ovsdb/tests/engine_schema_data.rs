//! Schema parsing/validation and datum JSON forms.

use ovsdb::data::parse_uuid_str;
use ovsdb::schema::AtomicType;
use ovsdb::{Atom, DatabaseSchema, Datum, Type};
use serde_json::{Value, json};

fn schema_with_table(table: Value) -> Result<DatabaseSchema, ovsdb::Error> {
    DatabaseSchema::from_json(&json!({"name":"S","version":"1.0.0","tables":{"T": table}}))
}

fn col(ty: Value) -> Result<DatabaseSchema, ovsdb::Error> {
    schema_with_table(json!({"columns":{"c":{"type": ty}}}))
}

#[test]
fn parses_all_type_forms() {
    let s = DatabaseSchema::from_json(&json!({"name":"S","version":"1.2.3","cksum":"1 2","tables":{
        "T": {"columns": {
            "a": {"type":"string"},
            "b": {"type":{"key":"integer","min":0,"max":"unlimited"}},
            "c": {"type":{"key":{"type":"string","enum":["set",["x","y"]]},"value":{"type":"real","minReal":0,"maxReal":1.5},"min":0,"max":7}},
            "d": {"type":{"key":{"type":"uuid","refTable":"U","refType":"weak"}},"ephemeral":true},
            "e": {"type":{"key":{"type":"string","minLength":1,"maxLength":10}},"mutable":false},
            "f": {"type":{"key":{"type":"integer","enum":3}}},
            "g": {"type":{"key":{"type":"integer","minInteger":-5,"maxInteger":5}}}
        }, "isRoot": true, "maxRows": 3, "indexes": [["a","e"]]},
        "U": {"columns": {"x": {"type":"boolean"}}}
    }}))
    .unwrap();
    let t = &s.tables["T"];
    assert!(t.is_root && !s.tables["U"].is_root);
    assert_eq!(t.max_rows, Some(3));
    assert_eq!(t.indexes, vec![vec!["a".to_string(), "e".to_string()]]);
    assert_eq!(t.columns["b"].ty.max, u32::MAX);
    let c = &t.columns["c"].ty;
    assert_eq!(c.key.enum_.as_ref().unwrap().len(), 2);
    assert_eq!(c.value.as_ref().unwrap().max_real, Some(1.5));
    assert_eq!(c.max, 7);
    assert!(t.columns["d"].ephemeral && t.columns["d"].ty.key.is_weak_ref());
    assert!(!t.columns["e"].mutable);
    assert_eq!(t.columns["f"].ty.key.enum_, Some(vec![Atom::Integer(3)]));
    assert_eq!(t.columns["g"].ty.key.min_integer, Some(-5));
    assert_eq!(s.cksum.as_deref(), Some("1 2"));
    // Round trip through the normalized form.
    assert_eq!(DatabaseSchema::from_json(&s.to_json()).unwrap(), s);
    assert_eq!(
        s.to_json()["tables"]["T"]["columns"]["a"],
        json!({"type":"string"})
    );
    assert_eq!(
        s.to_json()["tables"]["T"]["columns"]["e"],
        json!({"mutable":false,"type":{"key":{"type":"string","minLength":1,"maxLength":10}}})
    );
}

#[test]
fn without_is_root_every_table_is_root() {
    let s = DatabaseSchema::from_json(&json!({"name":"S","tables":{"A":{"columns":{"x":{"type":"integer"}}},"B":{"columns":{"x":{"type":"integer"}}}}})).unwrap();
    assert!(s.tables.values().all(|t| t.is_root));
    assert!(s.to_json()["tables"]["A"].get("isRoot").is_none());
    assert_eq!(s.version, "");
}

#[test]
fn weak_references_are_always_mutable() {
    let s = col(json!({"key":{"type":"uuid","refTable":"T","refType":"weak"}})).unwrap();
    let _ = s;
    let s = schema_with_table(json!({"columns":{"c":{"type":{"key":{"type":"uuid","refTable":"T","refType":"weak"}},"mutable":false}}})).unwrap();
    assert!(s.tables["T"].columns["c"].mutable);
}

#[test]
fn rejects_invalid_schemas_with_syntax_errors() {
    let bad: Vec<Result<DatabaseSchema, ovsdb::Error>> = vec![
        DatabaseSchema::from_json(&json!({"name":"1bad","tables":{}})),
        DatabaseSchema::from_json(&json!({"name":"S","version":"1.2","tables":{}})),
        DatabaseSchema::from_json(
            &json!({"name":"S","tables":{"_T":{"columns":{"x":{"type":"integer"}}}}}),
        ),
        DatabaseSchema::from_json(
            &json!({"name":"S","tables":{"T":{"columns":{"_x":{"type":"integer"}}}}}),
        ),
        DatabaseSchema::from_json(&json!({"name":"S","tables":{"T":{"columns":{}}}})),
        DatabaseSchema::from_json(&json!({"name":"S"})),
        DatabaseSchema::from_json(&json!({"name":"S","tables":{},"extra":1})),
        DatabaseSchema::from_json(&json!([])),
        col(json!("int")),
        col(json!({"key":"integer","min":2})),
        col(json!({"key":"integer","max":0})),
        col(json!({"key":"integer","max":"lots"})),
        col(json!({"key":"integer","min":-1})),
        col(json!({"key":{"type":"integer","enum":["set",["a"]]}})),
        col(json!({"key":{"type":"integer","minInteger":5,"maxInteger":4}})),
        col(json!({"key":{"type":"real","minReal":5,"maxReal":4}})),
        col(json!({"key":{"type":"string","minLength":5,"maxLength":4}})),
        col(json!({"key":{"type":"string","maxLength":-1}})),
        col(json!({"key":{"type":"uuid","refTable":"Nope"}})),
        col(json!({"key":{"type":"uuid","refTable":"T","refType":"medium"}})),
        col(json!({"key":{"type":"string","bogus":1}})),
        col(json!(7)),
        schema_with_table(json!({"columns":{"c":{"type":"integer"}},"maxRows":0})),
        schema_with_table(json!({"columns":{"c":{"type":"integer"}},"indexes":[["nope"]]})),
        schema_with_table(json!({"columns":{"c":{"type":"integer"}},"indexes":[[]]})),
        schema_with_table(
            json!({"columns":{"c":{"type":"integer","ephemeral":true}},"indexes":[["c"]]}),
        ),
        schema_with_table(json!({"columns":{"c":{"type":"integer"}},"isRoot":"yes"})),
        schema_with_table(json!({"columns":{"c":{"type":"integer","color":"red"}}})),
    ];
    for (i, r) in bad.into_iter().enumerate() {
        let e = r.expect_err(&format!("case {i} should fail"));
        assert_eq!(e.error, "syntax error", "case {i}: {e}");
    }
}

#[test]
fn parses_system_schemas() {
    for p in [
        "/usr/share/openvswitch/vswitch.ovsschema",
        "/usr/share/openvswitch/local-config.ovsschema",
    ] {
        match std::fs::read_to_string(p) {
            Ok(t) => {
                let s = DatabaseSchema::parse_text(&t).unwrap_or_else(|e| panic!("{p}: {e}"));
                assert_eq!(DatabaseSchema::from_json(&s.to_json()).unwrap(), s);
            }
            Err(e) => {
                if std::env::var("RVS_SKIP_SYSTEM_TESTS").as_deref() != Ok("1") {
                    panic!("{p}: {e}");
                }
            }
        }
    }
    // The _Server schema shape (as in OVS's ovsdb/_server.ovsschema).
    let s = DatabaseSchema::from_json(
        &json!({"name":"_Server","version":"1.2.0","tables":{"Database":{"columns":{
        "name":{"type":"string"},
        "model":{"type":{"key":{"type":"string","enum":["set",["standalone","clustered","relay"]]}}},
        "connected":{"type":"boolean"},"leader":{"type":"boolean"},"schema":{"type":{"key":{"type":"string"},"min":0,"max":1}},
        "cid":{"type":{"key":{"type":"uuid"},"min":0,"max":1}},"sid":{"type":{"key":{"type":"uuid"},"min":0,"max":1}},
        "index":{"type":{"key":{"type":"integer"},"min":0,"max":1}}}}}}),
    );
    assert!(s.is_ok());
}

fn ty(v: Value) -> Type {
    Type::from_json(&v).unwrap()
}

#[test]
fn datum_json_forms() {
    let set = ty(json!({"key":"integer","min":0,"max":"unlimited"}));
    let d = Datum::from_json_plain(&json!(["set", [3, 1, 2]]), &set).unwrap();
    assert_eq!(d.to_json(&set), json!(["set", [1, 2, 3]]));
    let one = Datum::from_json_plain(&json!(5), &set).unwrap();
    assert_eq!(one.to_json(&set), json!(5));
    assert_eq!(
        Datum::from_json_plain(&json!(["set", []]), &set)
            .unwrap()
            .to_json(&set),
        json!(["set", []])
    );
    let map = ty(json!({"key":"string","value":"integer","min":0,"max":"unlimited"}));
    let m = Datum::from_json_plain(&json!(["map", [["b", 2], ["a", 1]]]), &map).unwrap();
    assert_eq!(m.to_json(&map), json!(["map", [["a", 1], ["b", 2]]]));
    assert_eq!(
        Datum::from_json_plain(&json!(["map", []]), &map)
            .unwrap()
            .to_json(&map),
        json!(["map", []])
    );
    assert!(Datum::from_json_plain(&json!({"a": 1}), &map).is_err());
    let scalar = ty(json!("string"));
    assert_eq!(
        Datum::from_json_plain(&json!(["set", ["x"]]), &scalar).unwrap(),
        Datum::scalar(Atom::String("x".into()))
    );
    let e = Datum::from_json_plain(&json!(["set", []]), &scalar).unwrap_err();
    assert_eq!(
        e.details.as_deref(),
        Some("set must have exactly one member but 0 are present")
    );
    let real = ty(json!("real"));
    assert_eq!(
        Datum::from_json_plain(&json!(2), &real)
            .unwrap()
            .to_json(&real),
        json!(2)
    );
    assert_eq!(
        Datum::from_json_plain(&json!(2.5), &real)
            .unwrap()
            .to_json(&real),
        json!(2.5)
    );
    let e = Datum::from_json_plain(&json!(2.5), &ty(json!("integer"))).unwrap_err();
    assert_eq!(e.details.as_deref(), Some("expected integer"));
    let uuid = ty(json!("uuid"));
    assert!(Datum::from_json_plain(&json!(["named-uuid", "x"]), &uuid).is_err());
    let u = "01234567-89ab-cdef-0123-456789abcdef";
    assert_eq!(
        Datum::from_json_plain(&json!(["uuid", u]), &uuid)
            .unwrap()
            .to_json(&uuid),
        json!(["uuid", u])
    );
    let mut names = |n: &str| if n == "x" { parse_uuid_str(u) } else { None };
    assert_eq!(
        Datum::from_json(&json!(["named-uuid", "x"]), &uuid, &mut names)
            .unwrap()
            .first()
            .unwrap()
            .as_uuid(),
        parse_uuid_str(u)
    );
    assert_eq!(
        Datum::default_for(&uuid).to_json(&uuid),
        json!(["uuid", "00000000-0000-0000-0000-000000000000"])
    );
    assert_eq!(
        Datum::default_for(&ty(json!("boolean"))).to_json(&ty(json!("boolean"))),
        json!(false)
    );
}

#[test]
fn uuid_strings_must_be_canonical() {
    assert!(parse_uuid_str("01234567-89ab-cdef-0123-456789abcdef").is_some());
    assert!(parse_uuid_str("01234567-89AB-CDEF-0123-456789ABCDEF").is_some());
    assert!(parse_uuid_str("0123456789abcdef0123456789abcdef").is_none());
    assert!(parse_uuid_str("{01234567-89ab-cdef-0123-456789abcdef}").is_none());
    assert!(parse_uuid_str("01234567-89ab-cdef-0123-456789abcdeg").is_none());
    assert!(parse_uuid_str("").is_none());
}

#[test]
fn atom_order_is_total_and_canonical() {
    let mut v = vec![Atom::Real(2.0), Atom::Real(-1.0), Atom::Real(0.5)];
    v.sort();
    assert_eq!(v, vec![Atom::Real(-1.0), Atom::Real(0.5), Atom::Real(2.0)]);
    let mut s = [
        Atom::String("b".into()),
        Atom::String("B".into()),
        Atom::String("a".into()),
    ];
    s.sort();
    assert_eq!(s[0], Atom::String("B".into()), "byte order like strcmp");
    assert_eq!(
        Datum::set_from(vec![Atom::Integer(2), Atom::Integer(1), Atom::Integer(2)]).len(),
        2
    );
    assert_eq!(
        Atom::String("has space".into()).to_ovs_string(),
        "\"has space\""
    );
    assert_eq!(
        Atom::String("plain-word.1".into()).to_ovs_string(),
        "plain-word.1"
    );
    assert_eq!(Atom::String("true".into()).to_ovs_string(), "\"true\"");
    assert_eq!(Atom::Real(1e-7).to_ovs_string(), "1e-07");
    assert_eq!(Atom::Real(2.5).to_ovs_string(), "2.5");
    assert_eq!(Atom::Real(3.0).to_ovs_string(), "3");
    let _ = AtomicType::Integer;
}

#[test]
fn error_objects_serialize_like_ovs() {
    let e = ovsdb::Error::syntax(Some(&json!({"b":1,"a":[2]})), None, "bad");
    assert_eq!(
        e.to_json(),
        json!({"error":"syntax error","details":"bad","syntax":"{\"a\":[2],\"b\":1}"})
    );
    assert_eq!(
        ovsdb::Error::constraint("x").to_json(),
        json!({"error":"constraint violation","details":"x"})
    );
    assert_eq!(
        e.to_string(),
        "syntax \"{\"a\":[2],\"b\":1}\": syntax error: bad"
    );
}

#[test]
fn datum_accessors() {
    let map = ty(json!({"key":"string","value":"string","min":0,"max":"unlimited"}));
    let m = Datum::from_json_plain(&json!(["map", [["a", "1"], ["b", "2"]]]), &map).unwrap();
    assert_eq!(m.string_map().get("b"), Some(&"2"));
    let s = Datum::from_json_plain(&json!("x"), &ty(json!("string"))).unwrap();
    assert_eq!(s.as_str(), Some("x"));
    assert_eq!(
        Datum::from_json_plain(&json!(4), &ty(json!("integer")))
            .unwrap()
            .as_i64(),
        Some(4)
    );
    assert_eq!(
        Datum::from_json_plain(&json!(true), &ty(json!("boolean")))
            .unwrap()
            .as_bool(),
        Some(true)
    );
    let u = "01234567-89ab-cdef-0123-456789abcdef";
    let set = ty(json!({"key":"uuid","min":0,"max":"unlimited"}));
    assert_eq!(
        Datum::from_json_plain(&json!(["uuid", u]), &set)
            .unwrap()
            .uuids(),
        vec![parse_uuid_str(u).unwrap()]
    );
}
