//! Group syntax of `ovs-ofctl` (the "Group Syntax" section of
//! ovs-ofctl(8)) for OpenFlow 1.3: `group_id=N,type=T,bucket=...`.
//!
//! Keywords before the first `bucket=`: `group_id` (a number or `all`),
//! `type` (`all`, `select`, `indirect`, `ff`/`fast_failover`).  Each
//! bucket: `weight:N`, `watch_port:P`, `watch_group:G`, `actions=...` or
//! bare actions.  OpenFlow 1.5 keywords (`bucket_id`,
//! `command_bucket_id`, `selection_method`, `fields`) are refused, since
//! OpenFlow 1.3 cannot carry them.

use ofproto::flow_text::{FlowFields, parse_action_list};
use ofproto::wire::message::{Bucket, GroupMod, group_mod_command};

/// The largest group id (`OFPG_MAX`).
pub const OFPG_MAX: u32 = 0xffff_ff00;
/// All groups (`OFPG_ALL`).
pub const OFPG_ALL: u32 = 0xffff_fffc;
/// No group (`OFPG_ANY`).
pub const OFPG_ANY: u32 = 0xffff_ffff;

/// Splits at commas and blanks outside parentheses.
pub(crate) fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | ' ' | '\t' | '\r' | '\n' if depth <= 0 => {
                if i > start {
                    out.push(&s[start..i]);
                }
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Splits a token into key and value at the first `=`, `:` or `(`
/// (dropping a closing parenthesis).
pub(crate) fn key_value(tok: &str) -> (&str, &str) {
    match tok.find(['=', ':', '(']) {
        Some(i) => {
            let v = &tok[i + 1..];
            let v = if tok.as_bytes().get(i) == Some(&b'(') {
                v.strip_suffix(')').unwrap_or(v)
            } else {
                v
            };
            (&tok[..i], v)
        }
        None => (tok, ""),
    }
}

pub(crate) fn parse_u32(v: &str) -> Option<u32> {
    if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else {
        v.parse().ok()
    }
}

fn parse_port(v: &str) -> Option<u32> {
    Some(match v.to_ascii_uppercase().as_str() {
        "IN_PORT" => 0xffff_fff8,
        "TABLE" => 0xffff_fff9,
        "NORMAL" => 0xffff_fffa,
        "FLOOD" => 0xffff_fffb,
        "ALL" => 0xffff_fffc,
        "CONTROLLER" => 0xffff_fffd,
        "LOCAL" => 0xffff_fffe,
        "ANY" | "NONE" => 0xffff_ffff,
        _ => {
            let n = parse_u32(v)?;
            // OpenFlow 1.0-style numbers of the reserved ports.
            if (0xfff8..=0xffff).contains(&n) {
                0xffff_0000 | n
            } else {
                n
            }
        }
    })
}

fn parse_bucket(text: &str, group_type: u8) -> Result<Bucket, String> {
    let mut b = Bucket {
        weight: if group_type == 1 { 1 } else { 0 },
        watch_port: 0xffff_ffff,
        watch_group: OFPG_ANY,
        actions: Vec::new(),
    };
    let mut actions: Vec<&str> = Vec::new();
    for tok in tokens(text) {
        let (k, v) = key_value(tok);
        match k.to_ascii_lowercase().as_str() {
            "weight" => {
                b.weight = v.parse().map_err(|_| format!("invalid weight \"{v}\""))?;
            }
            "watch_port" => {
                let p = parse_port(v).ok_or_else(|| format!("{v}: invalid watch_port"))?;
                if p >= 0xffff_ff00 && p != 0xffff_ffff && p != 0xffff_fffd {
                    return Err(format!("{v}: invalid watch_port"));
                }
                b.watch_port = p;
            }
            "watch_group" => {
                let g = parse_u32(v).ok_or_else(|| format!("invalid watch_group \"{v}\""))?;
                if g > OFPG_MAX {
                    return Err(format!("invalid watch_group id {g}"));
                }
                b.watch_group = g;
            }
            "bucket_id" => {
                return Err("bucket_id needs OpenFlow 1.5, which rvs-ofctl does not speak".into());
            }
            "action" | "actions" => actions.push(v),
            _ => actions.push(tok),
        }
    }
    if actions.is_empty() {
        return Err("bucket must specify actions".into());
    }
    if group_type == 3 && b.watch_port == 0xffff_ffff && b.watch_group == OFPG_ANY {
        return Err("fast failover bucket requires watch_port or watch_group".into());
    }
    b.actions =
        parse_action_list(&actions.join(","), &FlowFields::default()).map_err(|e| e.to_string())?;
    Ok(b)
}

/// Parses a group for `command` (a [`group_mod_command`] value).  For
/// delete, an empty text means all groups.
pub fn parse_group(text: &str, command: u16) -> Result<GroupMod, String> {
    let mut gm = GroupMod {
        command,
        group_type: 0,
        group_id: OFPG_ANY,
        buckets: Vec::new(),
    };
    let is_delete = command == group_mod_command::DELETE;
    if is_delete && text.trim().is_empty() {
        gm.group_id = OFPG_ALL;
        return Ok(gm);
    }
    let (head, buckets) = match text.find("bucket=") {
        Some(i) => {
            if is_delete {
                return Err("bucket is not needed".into());
            }
            (&text[..i], Some(&text[i..]))
        }
        None => (text, None),
    };
    let mut had_type = false;
    for tok in tokens(head) {
        let (k, v) = key_value(tok);
        match k {
            "group_id" => {
                gm.group_id = if v == "all" {
                    OFPG_ALL
                } else {
                    let g = parse_u32(v).ok_or_else(|| format!("invalid group id \"{v}\""))?;
                    if g != OFPG_ALL && g > OFPG_MAX {
                        return Err(format!("invalid group id {g}"));
                    }
                    g
                };
            }
            "type" => {
                if is_delete {
                    return Err("type is not needed".into());
                }
                gm.group_type = match v {
                    "all" => 0,
                    "select" => 1,
                    "indirect" => 2,
                    "ff" | "fast_failover" => 3,
                    _ => return Err(format!("invalid group type {v}")),
                };
                had_type = true;
            }
            "selection_method" | "selection_method_param" | "fields" | "command_bucket_id" => {
                return Err(format!(
                    "{k} needs OpenFlow 1.5, which rvs-ofctl does not speak"
                ));
            }
            _ => return Err(format!("unknown keyword {k}")),
        }
    }
    if gm.group_id == OFPG_ANY {
        return Err("must specify a group_id".into());
    }
    if !is_delete && !had_type {
        return Err("must specify a type".into());
    }
    if let Some(mut rest) = buckets {
        loop {
            // `rest` starts with "bucket=".
            let body = &rest["bucket=".len()..];
            let (this, next) = match body.find("bucket=") {
                Some(i) => (&body[..i], Some(&body[i..])),
                None => (body, None),
            };
            let b = parse_bucket(this, gm.group_type)?;
            if gm.group_type != 1 && b.weight != 0 {
                return Err("Only select groups can have bucket weights.".into());
            }
            gm.buckets.push(b);
            match next {
                Some(n) => rest = n,
                None => break,
            }
        }
    }
    if gm.group_type == 2 && gm.buckets.len() > 1 {
        return Err("Indirect groups can have at most one bucket.".into());
    }
    Ok(gm)
}

/// Parses a `group_id=N` filter (dump-groups, dump-group-stats); `None`
/// text means all groups.
pub fn parse_group_filter(text: Option<&str>) -> Result<u32, String> {
    let Some(text) = text else {
        return Ok(OFPG_ALL);
    };
    let gm = parse_group(text, group_mod_command::DELETE)?;
    Ok(gm.group_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::print;

    fn round(text: &str) -> String {
        let g = parse_group(text, group_mod_command::ADD).unwrap();
        print::group(g.group_id, g.group_type, &g.buckets, false)
    }

    #[test]
    fn groups_print_back_like_ovs() {
        assert_eq!(
            round("group_id=1,type=all,bucket=output:1,bucket=actions=output:2"),
            "group_id=1,type=all,bucket=actions=output:1,bucket=actions=output:2"
        );
        assert_eq!(
            round(
                "group_id=2,type=select,bucket=weight:10,output:1,bucket=weight:20,actions=output:2"
            ),
            "group_id=2,type=select,bucket=weight:10,actions=output:1,bucket=weight:20,actions=output:2"
        );
        assert_eq!(
            round("group_id=3,type=ff,bucket=watch_port:1,output:1"),
            "group_id=3,type=ff,bucket=watch_port:1,actions=output:1"
        );
    }

    #[test]
    fn group_errors() {
        let add = group_mod_command::ADD;
        assert_eq!(
            parse_group("type=all", add).unwrap_err(),
            "must specify a group_id"
        );
        assert_eq!(
            parse_group("group_id=1", add).unwrap_err(),
            "must specify a type"
        );
        assert_eq!(
            parse_group("group_id=1,type=ff,bucket=output:1", add).unwrap_err(),
            "fast failover bucket requires watch_port or watch_group"
        );
        assert_eq!(
            parse_group("group_id=1,type=all,bucket=weight:3,output:1", add).unwrap_err(),
            "Only select groups can have bucket weights."
        );
        assert_eq!(
            parse_group("", group_mod_command::DELETE).unwrap().group_id,
            OFPG_ALL
        );
    }
}
