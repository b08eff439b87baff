//! OVS's key/value splitter, with byte positions for error columns.
//!
//! A pair is `key`, `key=value`, `key:value` or `key(value)`; pairs are
//! separated by commas and blanks.  A value after `=`/`:` runs to the next
//! comma or blank outside parentheses; a value after `(` runs to the
//! matching `)`.

use super::{ErrorKind, FlowTextError};

/// One key/value pair and where it was.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyValue<'a> {
    pub(crate) key: &'a str,
    /// 1-based column of the key.
    pub(crate) key_col: usize,
    /// The value, empty when there is none.
    pub(crate) value: &'a str,
    /// 1-based column of the value.
    pub(crate) value_col: usize,
}

impl KeyValue<'_> {
    pub(crate) fn err(&self, kind: ErrorKind, detail: &str) -> FlowTextError {
        FlowTextError::new(kind, self.key, self.key_col, detail)
    }
    pub(crate) fn value_err(&self, kind: ErrorKind, detail: &str) -> FlowTextError {
        FlowTextError::new(
            kind,
            self.value,
            self.value_col,
            format!("{}: {detail}", self.key),
        )
    }
    pub(crate) fn u16_value(&self, what: &str) -> Result<u16, FlowTextError> {
        parse_c_uint(self.value)
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| self.value_err(ErrorKind::BadValue, &format!("invalid {what}")))
    }
}

/// Iterator over the pairs of `text`; `base` is the byte offset of `text`
/// in the whole input (for columns).
pub(crate) struct KeyValues<'a> {
    text: &'a str,
    pos: usize,
    base: usize,
}

impl<'a> KeyValues<'a> {
    pub(crate) fn new(text: &'a str, base: usize) -> Self {
        Self { text, pos: 0, base }
    }
}

fn is_sep(c: u8) -> bool {
    matches!(c, b',' | b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Iterator for KeyValues<'a> {
    type Item = Result<KeyValue<'a>, FlowTextError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.text.as_bytes();
        while self.pos < b.len() && is_sep(b[self.pos]) {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let key_start = self.pos;
        while self.pos < b.len()
            && !is_sep(b[self.pos])
            && !matches!(b[self.pos], b':' | b'=' | b'(')
        {
            self.pos += 1;
        }
        let key = &self.text[key_start..self.pos];
        let key_col = self.base + key_start + 1;
        let delim = b.get(self.pos).copied();
        if delim.is_some() {
            self.pos += 1;
        }
        let value_start = self.pos;
        let value_col = self.base + value_start + 1;
        let paren = match delim {
            Some(b':' | b'=') => false,
            Some(b'(') => true,
            _ => {
                return Some(Ok(KeyValue {
                    key,
                    key_col,
                    value: "",
                    value_col,
                }));
            }
        };
        // Scan the value; parentheses nest.
        let mut depth: usize = 0;
        let mut end = None;
        while self.pos < b.len() {
            let c = b[self.pos];
            if c == b'(' {
                depth += 1;
            } else if c == b')' {
                if depth == 0 {
                    if paren {
                        end = Some(self.pos);
                        break;
                    }
                } else {
                    depth -= 1;
                }
            } else if depth == 0 && !paren && is_sep(c) {
                end = Some(self.pos);
                break;
            }
            self.pos += 1;
        }
        if paren && end.is_none() {
            return Some(Err(FlowTextError::new(
                ErrorKind::BadValue,
                &self.text[key_start..],
                key_col,
                "unbalanced parentheses",
            )));
        }
        let value_end = end.unwrap_or(b.len());
        let value = &self.text[value_start..value_end];
        if paren {
            self.pos = value_end + 1; // past ')'
        }
        Some(Ok(KeyValue {
            key,
            key_col,
            value,
            value_col,
        }))
    }
}

/// Parses an unsigned integer as C's `strtoull(s, _, 0)` would accept the
/// whole string: `0x` hex, leading-zero octal, or decimal.
pub(crate) fn parse_c_uint(s: &str) -> Option<u128> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.bytes().all(|c| (c as char).is_digit(radix)) {
        return None;
    }
    u128::from_str_radix(digits, radix).ok()
}

/// Parses a decimal unsigned integer (OVS's `str_to_uint(s, 10, ..)`).
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
