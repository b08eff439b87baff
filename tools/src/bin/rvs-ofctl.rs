//! `rvs-ofctl`: OpenFlow tool of rvs (first version).
//!
//! ```text
//! rvs-ofctl ofp-print HEX...    decode one OpenFlow 1.3 message and print it
//! rvs-ofctl ofp-print -         the same, hex read from standard input
//! ```
//!
//! The hex may be split over several arguments and contain spaces, colons or
//! a `0x` prefix.  When the message decodes, its structure is printed and the
//! exit status is 0.  When it does not, the tool prints the `OFPT_ERROR`
//! (type and code) a switch built on `ofproto::wire` would answer with, and
//! the bytes of that error message, and exits with status 1.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use ofproto::wire::message::Message;

const USAGE: &str = "usage: rvs-ofctl ofp-print HEX...   (or `-` to read the hex from stdin)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rvs-ofctl: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    match args.first().map(String::as_str) {
        Some("ofp-print") => ofp_print(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
        None => bail!("{USAGE}"),
    }
}

/// Turns the arguments (or stdin for `-`) into bytes.
fn parse_hex(args: &[String]) -> Result<Vec<u8>> {
    let text = if args.len() == 1 && args[0] == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(1 << 20)
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        args.join(" ")
    };
    if text.trim().is_empty() {
        bail!("no hex given\n{USAGE}");
    }
    let digits: String = text
        .split_whitespace()
        .map(|w| w.strip_prefix("0x").unwrap_or(w))
        .flat_map(|w| w.chars())
        .filter(|c| *c != ':' && *c != '-' && *c != ',')
        .collect();
    hex::decode(&digits).with_context(|| format!("not hex: {}", text.trim()))
}

fn ofp_print(args: &[String]) -> Result<ExitCode> {
    let bytes = parse_hex(args)?;
    match ofproto::wire::decode(&bytes) {
        Ok(msg) => {
            println!(
                "{:?} (xid={:#x}, {} bytes)",
                msg.body.msg_type(),
                msg.xid,
                bytes.len()
            );
            println!("{:#?}", msg.body);
            // Say so if our encoding would differ from the input (e.g. a
            // non-zero pad byte the decoder ignored).
            let mut again = BytesMut::new();
            ofproto::wire::encode(&msg, &mut again);
            if again[..] != bytes[..] {
                println!("note: re-encodes differently: {}", hex::encode(&again));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            let reply = Message::error_reply(&err, &bytes);
            println!("decode error: {err}");
            println!(
                "a switch answers OFPT_ERROR type={} ({}) code={} ({})",
                err.etype,
                err.etype.0,
                ofproto::wire::error::code_name(err.etype, err.code).unwrap_or("?"),
                err.code
            );
            println!("error message: {}", hex::encode(reply.to_vec()));
            Ok(ExitCode::from(1))
        }
    }
}
