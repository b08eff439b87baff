//! Golden OpenFlow vectors stored in `tests/vectors/*.hex`.
//!
//! One file per `ovs-ofctl` command.  The file starts with comment lines
//! naming the command; then each message is a block of `#` comment lines
//! (the text `ovs-ofctl ofp-print` gave for it) followed by its bytes as hex
//! on one or more lines.  A blank or comment line ends a message's hex.
//!
//! ```text
//! # command: ovs-ofctl -O OpenFlow13 add-flow SWITCH in_port=1,actions=output:2
//!
//! # OFPT_HELLO (OF1.3) (xid=0x1):
//! #  version bitmap: 0x04
//! 0400001000000001 0001000800000010
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One stored `ovs-ofctl` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    /// The command line, with the switch address written `SWITCH`.
    pub command: String,
    /// The messages ovs-ofctl sent, in order.
    pub messages: Vec<VectorMsg>,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMsg {
    /// `ovs-ofctl ofp-print` output for the message (may be empty).
    pub print: String,
    /// The raw message.
    pub bytes: Vec<u8>,
}

/// The directory holding the vectors (`tests/vectors` in the source tree).
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Parses one vector file.
pub fn parse(text: &str) -> Result<Vector> {
    let mut command = None;
    let mut messages = Vec::new();
    let mut comments: Vec<&str> = Vec::new();
    let mut hex_buf = String::new();
    let flush =
        |hex_buf: &mut String, comments: &mut Vec<&str>, out: &mut Vec<VectorMsg>| -> Result<()> {
            if !hex_buf.is_empty() {
                let bytes =
                    hex::decode(&*hex_buf).with_context(|| format!("bad hex {hex_buf:?}"))?;
                out.push(VectorMsg {
                    print: comments.join("\n"),
                    bytes,
                });
                hex_buf.clear();
            }
            comments.clear();
            Ok(())
        };
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(c) = line.strip_prefix("# command: ") {
            command = Some(c.to_string());
        } else if let Some(c) = line.strip_prefix('#') {
            if !hex_buf.is_empty() {
                flush(&mut hex_buf, &mut comments, &mut messages)?;
            }
            comments.push(c.strip_prefix(' ').unwrap_or(c));
        } else if line.trim().is_empty() {
            flush(&mut hex_buf, &mut comments, &mut messages)?;
        } else {
            hex_buf.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
    }
    flush(&mut hex_buf, &mut comments, &mut messages)?;
    let Some(command) = command else {
        bail!("no `# command:` line")
    };
    Ok(Vector { command, messages })
}

/// Renders a vector in the file format [`parse`] reads.
pub fn render(v: &Vector, header: &[&str]) -> String {
    let mut s = format!("# command: {}\n", v.command);
    for h in header {
        s.push_str(&format!("# {h}\n"));
    }
    for m in &v.messages {
        s.push('\n');
        for l in m.print.lines() {
            s.push_str(if l.is_empty() { "#\n" } else { "# " });
            if !l.is_empty() {
                s.push_str(l);
                s.push('\n');
            }
        }
        for chunk in m.bytes.chunks(32) {
            s.push_str(&hex::encode(chunk));
            s.push('\n');
        }
    }
    s
}

/// Loads every `*.hex` file of [`dir`], sorted by name.
pub fn load_all() -> Result<Vec<(PathBuf, Vector)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir())
        .with_context(|| format!("reading {}", dir().display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).with_context(|| p.display().to_string())?;
            let v = parse(&text).with_context(|| p.display().to_string())?;
            Ok((p, v))
        })
        .collect()
}

/// The message with its transaction id zeroed: two captures of the same
/// request differ only there.
pub fn without_xid(msg: &[u8]) -> Vec<u8> {
    let mut m = msg.to_vec();
    if let Some(x) = m.get_mut(4..8) {
        x.fill(0);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse_is_identity() {
        let v = Vector {
            command: "ovs-ofctl -O OpenFlow13 probe SWITCH".into(),
            messages: vec![
                VectorMsg {
                    print: "OFPT_HELLO (OF1.3) (xid=0x1):\n version bitmap: 0x04".into(),
                    bytes: vec![4, 0, 0, 8, 0, 0, 0, 1],
                },
                VectorMsg {
                    print: "multi\n\nline".into(),
                    bytes: (0..70).collect(),
                },
            ],
        };
        let text = render(&v, &["header line"]);
        assert_eq!(parse(&text).unwrap(), v);
    }

    #[test]
    fn parse_rejects_bad_hex_and_missing_command() {
        assert!(parse("# command: x\n\n04zz\n").is_err());
        assert!(parse("\n0400000800000001\n").is_err());
    }
}
