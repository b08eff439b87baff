//! Output of `list`/`find` (and friends) in ovs-vsctl's table styles:
//! `table`, `list`, `csv`, `json`, `html`, with cells as OVSDB strings,
//! bare text or JSON.

use ovsdb::{Datum, Type};
use serde_json::Value;

use super::value::datum_to_bare;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    List,
    Csv,
    Json,
    Html,
}

/// `--data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellFormat {
    String,
    Bare,
    Json,
}

/// The table style of one invocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) format: Format,
    pub(crate) cell: CellFormat,
    pub(crate) headings: bool,
    pub(crate) pretty: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            format: Format::List,
            cell: CellFormat::String,
            headings: true,
            pretty: false,
        }
    }
}

/// One cell: a value and its column type.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) datum: Datum,
    pub(crate) ty: Type,
}

impl Cell {
    fn text(&self, style: &Style) -> String {
        match style.cell {
            CellFormat::String => self.datum.to_ovs_string(&self.ty),
            CellFormat::Bare => datum_to_bare(&self.datum),
            CellFormat::Json => self.datum.to_json(&self.ty).to_string(),
        }
    }
}

/// Renders a table of `rows` under `headings`.
pub(crate) fn render(headings: &[String], rows: &[Vec<Cell>], style: &Style) -> String {
    match style.format {
        Format::Table => table(headings, rows, style),
        Format::List => list(headings, rows, style),
        Format::Csv => csv(headings, rows, style),
        Format::Json => json(headings, rows, style),
        Format::Html => html(headings, rows, style),
    }
}

/// Display width as OVS computes it (`printf("%-*s")` pads by bytes).
fn width(s: &str) -> usize {
    s.len()
}

fn table(headings: &[String], rows: &[Vec<Cell>], style: &Style) -> String {
    let texts: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| c.text(style)).collect())
        .collect();
    let mut widths: Vec<usize> = headings
        .iter()
        .map(|h| if style.headings { width(h) } else { 0 })
        .collect();
    for r in &texts {
        for (i, t) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(t));
            }
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let n = cells.len();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(c);
            if i + 1 < n {
                let w = widths.get(i).copied().unwrap_or(0);
                for _ in width(c)..w {
                    out.push(' ');
                }
            }
        }
        out.push('\n');
    };
    if style.headings {
        line(headings, &mut out);
        let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&dashes, &mut out);
    }
    for r in &texts {
        line(r, &mut out);
    }
    out
}

fn list(headings: &[String], rows: &[Vec<Cell>], style: &Style) -> String {
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for (h, c) in headings.iter().zip(r) {
            if style.headings {
                out.push_str(&format!("{h:<20}: "));
            }
            out.push_str(&c.text(style));
            out.push('\n');
        }
    }
    out
}

fn csv_cell(s: &str) -> String {
    if s.contains(['\n', '"', ',']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(headings: &[String], rows: &[Vec<Cell>], style: &Style) -> String {
    let mut out = String::new();
    if style.headings {
        let h: Vec<String> = headings.iter().map(|h| csv_cell(h)).collect();
        out.push_str(&h.join(","));
        out.push('\n');
    }
    for r in rows {
        let c: Vec<String> = r.iter().map(|c| csv_cell(&c.text(style))).collect();
        out.push_str(&c.join(","));
        out.push('\n');
    }
    out
}

fn json(headings: &[String], rows: &[Vec<Cell>], style: &Style) -> String {
    let data: Vec<Value> = rows
        .iter()
        .map(|r| Value::Array(r.iter().map(|c| c.datum.to_json(&c.ty)).collect()))
        .collect();
    let mut m = serde_json::Map::new();
    m.insert("data".into(), Value::Array(data));
    if style.headings {
        m.insert(
            "headings".into(),
            Value::Array(headings.iter().map(|h| Value::String(h.clone())).collect()),
        );
    }
    let v = Value::Object(m);
    let mut out = if style.pretty {
        let mut s = String::new();
        pretty_json(&v, 0, &mut s);
        s
    } else {
        v.to_string()
    };
    out.push('\n');
    out
}

/// JSON in OVS's pretty style: members on their own lines indented by
/// two, closing brackets right after the last member, object keys sorted.
pub(crate) fn pretty_json(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Array(a) if !a.is_empty() => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.push_str(&" ".repeat(indent + 2));
                pretty_json(e, indent + 2, out);
            }
            out.push(']');
        }
        Value::Object(m) if !m.is_empty() => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.push_str(&" ".repeat(indent + 2));
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push_str(": ");
                if let Some(x) = m.get(*k) {
                    pretty_json(x, indent + 2, out);
                }
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

fn html(headings: &[String], rows: &[Vec<Cell>], style: &Style) -> String {
    let mut out = String::from("<table border=1>\n");
    if style.headings {
        out.push_str("  <tr>\n");
        for h in headings {
            out.push_str(&format!("    <th>{}</th>\n", html_escape(h)));
        }
        out.push_str("  </tr>\n");
    }
    for r in rows {
        out.push_str("  <tr>\n");
        for c in r {
            out.push_str(&format!("    <td>{}</td>\n", html_escape(&c.text(style))));
        }
        out.push_str("  </tr>\n");
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ovsdb::{Atom, AtomicType};

    fn cells() -> (Vec<String>, Vec<Vec<Cell>>) {
        let st = Type::scalar(AtomicType::String);
        let mut set = Type::scalar(AtomicType::Integer);
        set.min = 0;
        set.max = u32::MAX;
        let h = vec!["name".to_string(), "trunks".to_string()];
        let rows = vec![
            vec![
                Cell {
                    datum: Datum::scalar(Atom::String("p1".into())),
                    ty: st.clone(),
                },
                Cell {
                    datum: Datum::set_from(vec![Atom::Integer(1), Atom::Integer(2)]),
                    ty: set.clone(),
                },
            ],
            vec![
                Cell {
                    datum: Datum::scalar(Atom::String("a b".into())),
                    ty: st,
                },
                Cell {
                    datum: Datum::Set(vec![]),
                    ty: set,
                },
            ],
        ];
        (h, rows)
    }

    #[test]
    fn table_pads_all_but_last_column() {
        let (h, r) = cells();
        let s = Style {
            format: Format::Table,
            ..Style::default()
        };
        assert_eq!(
            render(&h, &r, &s),
            "name  trunks\n----- ------\np1    [1, 2]\n\"a b\" []\n"
        );
    }

    #[test]
    fn list_csv_bare_json() {
        let (h, r) = cells();
        let s = Style::default();
        assert_eq!(
            render(&h, &r, &s),
            "name                : p1\ntrunks              : [1, 2]\n\nname                : \"a b\"\ntrunks              : []\n"
        );
        let s = Style {
            format: Format::Csv,
            ..Style::default()
        };
        assert_eq!(
            render(&h, &r, &s),
            "name,trunks\np1,\"[1, 2]\"\n\"\"\"a b\"\"\",[]\n"
        );
        let s = Style {
            cell: CellFormat::Bare,
            headings: false,
            ..Style::default()
        };
        assert_eq!(render(&h, &r, &s), "p1\n1 2\n\na b\n\n");
        let s = Style {
            format: Format::Json,
            ..Style::default()
        };
        assert_eq!(
            render(&h, &r, &s),
            "{\"data\":[[\"p1\",[\"set\",[1,2]]],[\"a b\",[\"set\",[]]]],\"headings\":[\"name\",\"trunks\"]}\n"
        );
        let mut out = String::new();
        pretty_json(&serde_json::json!({"b": [1, [2]], "a": []}), 0, &mut out);
        assert_eq!(
            out,
            "{\n  \"a\": [],\n  \"b\": [\n    1,\n    [\n      2]]}"
        );
    }
}
