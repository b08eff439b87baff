//! Keeping a bridge's OpenFlow state across daemon restarts.
//!
//! The state (meters, groups, flows of every table) is written as the
//! OpenFlow 1.3 requests that rebuild it: a magic line followed by
//! `METER_MOD`/`GROUP_MOD`/`FLOW_MOD` add messages, each framed by its own
//! header length.  Restoring feeds them to the switch like a controller
//! would, before the bridge's ports are attached, so packets never meet an
//! empty table.  Counters and flow ages are not kept (OpenFlow has no way
//! to set them).
//!
//! Files are replaced atomically (write to a temporary name, then
//! rename), so a crash leaves the previous or the new snapshot.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ofproto::flow_table::FlowTable;
use ofproto::service::OpenFlowSwitch;
use ofproto::switch::{ConnCtx, Group, Meter, Switch};
use ofproto::wire::message::{
    FlowMod, GroupMod, MeterMod, flow_mod_command, group_mod_command, meter_mod_command,
};
use ofproto::wire::{Body, Message};

/// First bytes of a flow file.
pub const MAGIC: &[u8] = b"RVSFLOWS1\n";

/// Largest flow file read back (bounds memory on a corrupt or foreign
/// file).
pub const MAX_FILE: u64 = 1 << 30;

/// Where bridge `bridge`'s state is kept under `dbdir`.
pub fn flow_file(dbdir: &Path, bridge: &str) -> PathBuf {
    dbdir.join(format!("{bridge}.flows"))
}

/// What a snapshot is made of, taken under the bridge lock: meters and
/// groups copied, tables shared (`Arc`s, so taking them is cheap and the
/// encoding can run after the lock is released).
#[derive(Debug)]
pub struct Captured {
    meters: Vec<(u32, Meter)>,
    groups: Vec<(u32, Group)>,
    tables: Vec<Arc<FlowTable>>,
}

/// Takes what [`encode`] needs from `sw`.
pub fn capture(sw: &Switch) -> Captured {
    Captured {
        meters: sw.meters().iter().map(|(k, v)| (*k, v.clone())).collect(),
        groups: sw.groups().iter().map(|(k, v)| (*k, v.clone())).collect(),
        tables: sw.tables().to_vec(),
    }
}

/// Encodes the switch's meters, groups and flows as add requests.
pub fn snapshot(sw: &Switch) -> Vec<u8> {
    encode(&capture(sw))
}

/// Encodes captured meters, groups and flows as add requests.
pub fn encode(c: &Captured) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    out.extend_from_slice(MAGIC);
    for (id, m) in &c.meters {
        Message::new(
            0,
            Body::MeterMod(MeterMod {
                command: meter_mod_command::ADD,
                flags: m.flags,
                meter_id: *id,
                bands: m.bands.clone(),
            }),
        )
        .encode(&mut out);
    }
    for (id, g) in &c.groups {
        Message::new(
            0,
            Body::GroupMod(GroupMod {
                command: group_mod_command::ADD,
                group_type: g.group_type,
                group_id: *id,
                buckets: g.buckets.clone(),
            }),
        )
        .encode(&mut out);
    }
    for (t, table) in c.tables.iter().enumerate() {
        let Ok(table_id) = u8::try_from(t) else {
            break;
        };
        for rule in table.classifier().iter() {
            let e = &rule.data;
            Message::new(
                0,
                Body::FlowMod(FlowMod {
                    cookie: e.cookie,
                    cookie_mask: 0,
                    table_id,
                    command: flow_mod_command::ADD,
                    idle_timeout: e.idle_timeout,
                    hard_timeout: e.hard_timeout,
                    priority: e.priority,
                    buffer_id: ofproto::wire::consts::OFP_NO_BUFFER,
                    out_port: ofproto::wire::consts::port::ANY,
                    out_group: ofproto::wire::consts::group::ANY,
                    flags: e.flags,
                    match_: e.match_.clone(),
                    instructions: e.instructions.clone(),
                }),
            )
            .encode(&mut out);
        }
    }
    out.to_vec()
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// File system error.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Not a flow file, or cut short.
    #[error("{0}")]
    Format(String),
}

/// Splits a snapshot into its messages.
pub fn parse(buf: &[u8]) -> Result<Vec<Message>, PersistError> {
    let mut rest = buf
        .strip_prefix(MAGIC)
        .ok_or_else(|| PersistError::Format("not an rvs flow file".into()))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len = match rest.get(2..4) {
            Some(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
            None => return Err(PersistError::Format("truncated header".into())),
        };
        if len < 8 || len > rest.len() {
            return Err(PersistError::Format(format!("bad message length {len}")));
        }
        let (one, tail) = rest.split_at(len);
        let m = Message::decode(one)
            .map_err(|e| PersistError::Format(format!("undecodable message: {e:?}")))?;
        out.push(m);
        rest = tail;
    }
    Ok(out)
}

/// Reads a snapshot file; `Ok(None)` when there is none.
pub fn load(path: &Path) -> Result<Option<Vec<Message>>, PersistError> {
    match std::fs::metadata(path) {
        Ok(md) if md.len() > MAX_FILE => {
            return Err(PersistError::Format(format!("{} too big", path.display())));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let buf = std::fs::read(path)?;
    parse(&buf).map(Some)
}

/// Writes `data` to `path` atomically.
pub fn store(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("flows.tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// Feeds restored requests to a switch (in file order: meters, groups,
/// flows; a group that refers to a later group is retried once).
/// Returns how many were refused.
pub fn restore<S: OpenFlowSwitch + ?Sized>(sw: &mut S, msgs: &[Message], now_ms: u64) -> usize {
    let mut failed = Vec::new();
    for m in msgs {
        if !apply_one(sw, m, now_ms) {
            failed.push(m);
        }
    }
    // Second pass for forward references (group chains, flows to them).
    failed.retain(|m| !apply_one(sw, m, now_ms));
    for m in &failed {
        tracing::warn!("restoring saved state: request refused: {:?}", m.body);
    }
    failed.len()
}

fn apply_one<S: OpenFlowSwitch + ?Sized>(sw: &mut S, m: &Message, now_ms: u64) -> bool {
    let raw = m.to_vec();
    let mut out = Vec::new();
    sw.handle_message(ConnCtx::default(), m, &raw, now_ms, &mut out);
    !out.iter().any(|r| matches!(r.body, Body::Error(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ofproto::flow_text::{FlowCommand, parse_flow};
    use ofproto::switch::SwitchSettings;

    fn add(sw: &mut Switch, text: &str) {
        let fm = parse_flow(text, FlowCommand::Add).unwrap().to_flow_mod();
        let m = Message::new(1, Body::FlowMod(fm));
        let mut out = Vec::new();
        OpenFlowSwitch::handle_message(sw, ConnCtx::default(), &m, &m.to_vec(), 0, &mut out);
        assert!(
            out.iter().all(|r| !matches!(r.body, Body::Error(_))),
            "{out:?}"
        );
    }

    fn flows(sw: &Switch) -> Vec<String> {
        let mut v = Vec::new();
        for table in sw.tables() {
            for r in table.classifier().iter() {
                v.push(ofproto::flow_text::format_flow(
                    r.data.priority,
                    &r.data.match_,
                    &r.data.instructions,
                ));
            }
        }
        v.sort();
        v
    }

    #[test]
    fn snapshot_round_trips_through_restore() {
        let mut a = Switch::new(SwitchSettings::default());
        add(&mut a, "priority=0,actions=NORMAL");
        add(&mut a, "table=0,priority=100,in_port=1,actions=output:2");
        add(
            &mut a,
            "table=3,priority=7,ip,nw_dst=10.0.0.0/8,idle_timeout=30,actions=drop",
        );
        let snap = snapshot(&a);
        let msgs = parse(&snap).unwrap();
        assert_eq!(msgs.len(), 3);
        let mut b = Switch::new(SwitchSettings::default());
        assert_eq!(restore(&mut b, &msgs, 0), 0);
        assert_eq!(flows(&a), flows(&b));
        assert_eq!(snapshot(&b).len(), snap.len());
    }

    #[test]
    fn corrupt_files_are_errors() {
        assert!(parse(b"nope").is_err());
        let mut s = MAGIC.to_vec();
        s.extend_from_slice(&[4, 14, 0]);
        assert!(parse(&s).is_err());
        let mut s = MAGIC.to_vec();
        s.extend_from_slice(&[4, 14, 0xff, 0xff, 0, 0, 0, 0]);
        assert!(parse(&s).is_err());
        let mut s = MAGIC.to_vec();
        s.extend_from_slice(&[4, 14, 0, 8, 0, 0, 0, 0]);
        assert!(parse(&s).is_err(), "a flow-mod without a body");
        assert!(parse(MAGIC).unwrap().is_empty());
    }

    #[test]
    fn store_and_load() {
        let dir = tempdir();
        let p = flow_file(&dir, "br0");
        assert!(load(&p).unwrap().is_none());
        let mut a = Switch::new(SwitchSettings::default());
        add(&mut a, "priority=5,actions=drop");
        store(&p, &snapshot(&a)).unwrap();
        assert_eq!(load(&p).unwrap().unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("rvs-persist-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    }
}
