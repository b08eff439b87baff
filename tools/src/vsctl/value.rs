//! The ovs-vsctl text syntax for OVSDB values: tokens, atoms, datums
//! (`key=value` maps, bracketed sets, integer ranges, `@name` row
//! references) and the three text renderings (string, bare, JSON).

use std::collections::BTreeMap;

use ovsdb::data::parse_uuid_str;
use ovsdb::{Atom, AtomicType, BaseType, Datum, Type};
use uuid::Uuid;

/// Characters that end an unquoted token.
pub(crate) fn is_delim(c: char) -> bool {
    ":=, []{}!<>".contains(c)
}

/// One `@name` symbol of a command line.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub(crate) uuid: Uuid,
    pub(crate) created: bool,
    pub(crate) strong_ref: bool,
    pub(crate) weak_ref: bool,
}

/// The `@name` symbols of one invocation (shared by all its commands).
#[derive(Debug, Default, Clone)]
pub(crate) struct Symtab {
    pub(crate) syms: BTreeMap<String, Symbol>,
}

impl Symtab {
    /// The symbol `name` (with its `@`), created with a fresh UUID if new.
    pub(crate) fn insert(&mut self, name: &str) -> &mut Symbol {
        self.syms.entry(name.to_string()).or_insert_with(|| Symbol {
            uuid: Uuid::new_v4(),
            created: false,
            strong_ref: false,
            weak_ref: false,
        })
    }
}

/// Splits one token off the front of `s` (ovs-vsctl rules: ends at an
/// unquoted delimiter; a backslash escapes the next character; double
/// quotes are kept and protect delimiters). Returns the token and the rest.
pub(crate) fn token_parse(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut in_quotes = false;
    let mut it = s.char_indices();
    let mut end = s.len();
    while let Some((i, c)) = it.next() {
        if c == '\\' {
            if in_quotes {
                out.push('\\');
            }
            match it.next() {
                Some((_, n)) => out.push(n),
                None => return Err(format!("{s}: backslash at end of argument")),
            }
        } else if !in_quotes && is_delim(c) {
            end = i;
            break;
        } else {
            out.push(c);
            if c == '"' {
                in_quotes = !in_quotes;
            }
        }
    }
    if in_quotes {
        return Err(format!("{s}: quoted string extends past end of argument"));
    }
    Ok((out, &s[end..]))
}

fn skip_spaces(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_ascii_whitespace())
}

/// Parses a decimal integer like `str_to_llong` (whole string, optional sign).
fn parse_int(s: &str) -> Option<i64> {
    if s.is_empty() || s.starts_with('+') && s.len() == 1 {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Parses one atom of type `base` from a token. Integer ranges `A-B` are
/// accepted when `allow_range` (and expand to every integer in them).
pub(crate) fn atoms_from_string(
    base: &BaseType,
    s: &str,
    symtab: &mut Symtab,
    allow_range: bool,
) -> Result<Vec<Atom>, String> {
    let atoms = match base.atomic {
        AtomicType::Integer => {
            if let Some(i) = parse_int(s) {
                vec![Atom::Integer(i)]
            } else if let Some((a, b)) = allow_range.then(|| split_range(s)).flatten() {
                if b < a {
                    return Err(format!(
                        "\"{s}\" is not a valid range. Range end cannot be before start."
                    ));
                }
                if b - a >= 4096 {
                    return Err(format!(
                        "Range \"{a}-{b}\" is too big (4096 elements at most)"
                    ));
                }
                (a..=b).map(Atom::Integer).collect()
            } else {
                return Err(format!("\"{s}\" is not a valid integer or range"));
            }
        }
        AtomicType::Real => match s.trim_start().parse::<f64>() {
            Ok(r) if !s.is_empty() => vec![Atom::Real(if r == 0.0 { 0.0 } else { r })],
            _ => return Err(format!("\"{s}\" is not a valid real number")),
        },
        AtomicType::Boolean => match s {
            "true" | "yes" | "on" | "1" => vec![Atom::Boolean(true)],
            "false" | "no" | "off" | "0" => vec![Atom::Boolean(false)],
            _ => {
                return Err(format!(
                    "\"{s}\" is not a valid boolean (use \"true\" or \"false\")"
                ));
            }
        },
        AtomicType::String => {
            if s.is_empty() {
                return Err(
                    "An empty string is not valid as input; use \"\" to represent the empty string"
                        .into(),
                );
            } else if s.starts_with('"') {
                if s.len() < 2 || !s.ends_with('"') {
                    return Err(format!("{s}: missing quote at end of quoted string"));
                }
                match serde_json::from_str::<serde_json::Value>(s) {
                    Ok(serde_json::Value::String(v)) => vec![Atom::String(v)],
                    _ => return Err(format!("{s}: syntax error in quoted string")),
                }
            } else {
                vec![Atom::String(s.to_string())]
            }
        }
        AtomicType::Uuid => {
            if s.starts_with('@') {
                let sym = symtab.insert(s);
                if base.ref_table.is_some() {
                    if base.is_weak_ref() {
                        sym.weak_ref = true;
                    } else {
                        sym.strong_ref = true;
                    }
                }
                vec![Atom::Uuid(sym.uuid)]
            } else if let Some(u) = parse_uuid_str(s) {
                vec![Atom::Uuid(u)]
            } else {
                return Err(format!("\"{s}\" is not a valid UUID"));
            }
        }
    };
    for a in &atoms {
        a.check_constraints(base).map_err(|e| e.to_string())?;
    }
    Ok(atoms)
}

fn split_range(s: &str) -> Option<(i64, i64)> {
    // "A-B" where A may carry a sign.
    let body = s.strip_prefix('-').unwrap_or(s);
    let pos = body.find('-')? + (s.len() - body.len());
    let (a, b) = (&s[..pos], &s[pos + 1..]);
    Some((parse_int(a)?, parse_int(b)?))
}

/// Parses a single atom (no ranges).
pub(crate) fn atom_from_string(
    base: &BaseType,
    s: &str,
    symtab: &mut Symtab,
) -> Result<Atom, String> {
    let mut v = atoms_from_string(base, s, symtab, false)?;
    v.pop().ok_or_else(|| format!("\"{s}\": no value"))
}

/// Parses a datum of type `ty` (ovs-vsctl syntax: atoms separated by
/// spaces or commas, `key=value` pairs for maps, optional `[]`/`{}`).
pub(crate) fn datum_from_string(ty: &Type, s: &str, symtab: &mut Symtab) -> Result<Datum, String> {
    let is_map = ty.is_map();
    let mut p = skip_spaces(s);
    let end_delim = if p.starts_with(if is_map { '{' } else { '[' }) {
        p = skip_spaces(&p[1..]);
        Some(if is_map { '}' } else { ']' })
    } else if p.is_empty() {
        return Err(if is_map {
            "use \"{}\" to specify the empty map".into()
        } else {
            "use \"[]\" to specify the empty set".into()
        });
    } else {
        None
    };
    let mut keys: Vec<Atom> = Vec::new();
    let mut pairs: Vec<(Atom, Atom)> = Vec::new();
    let at_end = |p: &str| match end_delim {
        Some(d) => p.is_empty() || p.starts_with(d),
        None => p.is_empty(),
    };
    while !at_end(p) {
        if let Some(c) = p.chars().next().filter(|c| is_delim(*c)) {
            return Err(format!(
                "{s}: unexpected \"{c}\" parsing {}",
                ty.to_english()
            ));
        }
        let start = p;
        let (tok, rest) = token_parse(p)?;
        p = rest;
        let ks = atoms_from_string(&ty.key, &tok, symtab, !is_map)?;
        if let Some(vt) = &ty.value {
            p = skip_spaces(p);
            if let Some(r) = p.strip_prefix('=') {
                p = skip_spaces(r);
                let (vtok, rest) = token_parse(p)?;
                p = rest;
                let v = atom_from_string(vt, &vtok, symtab)?;
                for k in ks {
                    pairs.push((k, v.clone()));
                }
            } else {
                // OVS prints the offending character with %c; at the end
                // of the string that is a NUL, which ends its message.
                return Err(match p.chars().next() {
                    Some(c) => format!("{start}: syntax error at \"{c}\" expecting \"=\""),
                    None => format!("{start}: syntax error at \""),
                });
            }
        } else {
            keys.extend(ks);
        }
        p = skip_spaces(p);
        if let Some(r) = p.strip_prefix(',') {
            p = skip_spaces(r);
        }
    }
    if let Some(d) = end_delim {
        if !p.starts_with(d) {
            return Err(format!("{s}: missing \"{d}\" at end of data"));
        }
        if !skip_spaces(&p[1..]).is_empty() {
            return Err(format!("{s}: trailing garbage after \"{d}\""));
        }
    }
    let n = if is_map { pairs.len() } else { keys.len() };
    let what = if is_map { "pair(s)" } else { "value(s)" };
    if (n as u64) < u64::from(ty.min) {
        return Err(format!(
            "{s}: {n} {what} specified but the minimum number is {}",
            ty.min
        ));
    }
    if (n as u64) > u64::from(ty.max) {
        return Err(format!(
            "{s}: {n} {what} specified but the maximum number is {}",
            ty.max
        ));
    }
    if is_map {
        let d = Datum::map_from(pairs);
        if d.len() != n {
            return Err(format!("{s}: map contains duplicate key"));
        }
        Ok(d)
    } else {
        let d = Datum::set_from(keys);
        if d.len() != n {
            return Err(format!("{s}: set contains duplicate value"));
        }
        Ok(d)
    }
}

/// The bare rendering of an atom (strings unquoted).
pub(crate) fn atom_to_bare(a: &Atom) -> String {
    match a {
        Atom::String(s) => s.clone(),
        other => other.to_ovs_string(),
    }
}

/// The bare rendering of a datum: elements separated by spaces.
pub(crate) fn datum_to_bare(d: &Datum) -> String {
    match d {
        Datum::Set(v) => v.iter().map(atom_to_bare).collect::<Vec<_>>().join(" "),
        Datum::Map(v) => v
            .iter()
            .map(|(k, x)| format!("{}={}", atom_to_bare(k), atom_to_bare(x)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A type with the size bounds relaxed to `min..=max`.
pub(crate) fn with_bounds(ty: &Type, min: u32, max: u32) -> Type {
    let mut t = ty.clone();
    t.min = min;
    t.max = max;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(j: &str) -> Type {
        Type::from_json(&serde_json::from_str(j).expect("json")).expect("type")
    }

    #[test]
    fn tokens() {
        assert_eq!(token_parse("abc=def").expect("ok"), ("abc".into(), "=def"));
        assert_eq!(
            token_parse("\"a b\"=x").expect("ok"),
            ("\"a b\"".into(), "=x")
        );
        assert_eq!(token_parse("a\\:b:c").expect("ok"), ("a:b".into(), ":c"));
        assert!(token_parse("\"abc").is_err());
    }

    #[test]
    fn datums() {
        let mut st = Symtab::default();
        let m = ty(r#"{"key":"string","value":"string","min":0,"max":"unlimited"}"#);
        let d = datum_from_string(&m, "{b=\"a b\", x=y}", &mut st).expect("map");
        assert_eq!(d.to_ovs_string(&m), "{b=\"a b\", x=y}");
        let d = datum_from_string(&m, "k=v", &mut st).expect("map");
        assert_eq!(d.to_ovs_string(&m), "{k=v}");
        assert!(datum_from_string(&m, "k", &mut st).is_err());
        let s =
            ty(r#"{"key":{"type":"integer","minInteger":0,"maxInteger":4095},"min":0,"max":4096}"#);
        let d = datum_from_string(&s, "1,2 5-7", &mut st).expect("set");
        assert_eq!(d.to_ovs_string(&s), "[1, 2, 5, 6, 7]");
        assert_eq!(datum_to_bare(&d), "1 2 5 6 7");
        assert!(
            datum_from_string(&s, "5000", &mut st)
                .unwrap_err()
                .contains("not in the valid range 0 to 4095")
        );
        assert!(datum_from_string(&s, "[1,1]", &mut st).is_err());
        assert!(datum_from_string(&s, "[1", &mut st).is_err());
        let u = ty(r#"{"key":{"type":"uuid","refTable":"Port"},"min":0,"max":"unlimited"}"#);
        let d = datum_from_string(&u, "@p", &mut st).expect("sym");
        assert_eq!(d.len(), 1);
        assert!(st.syms["@p"].strong_ref);
    }
}
