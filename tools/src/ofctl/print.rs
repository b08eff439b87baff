//! OpenFlow 1.3 messages as text, the way `ovs-ofctl` 3.1 prints them
//! (its `ofp-print` conventions): a header line `NAME (OF1.3)
//! (xid=0x..):` followed by the body, for the message types `rvs-ofctl`
//! receives or quotes in errors.  Types without a printer here show the
//! header and a hex dump.

use std::fmt::Write as _;

use ofproto::flow_text;
use ofproto::wire::error::code_name;
use ofproto::wire::message::{
    Body, Bucket, ErrorMsg, FeaturesReply, FlowRemoved, GroupMod, Header, Message, MeterMod,
    MsgType, PacketIn, Port, PortStatus, SwitchConfig,
};
use ofproto::wire::multipart::{
    Desc, FlowStats, GroupDesc, GroupStats, MeterBand, MeterConfig, MeterFeatures, MeterStats,
    MultipartReply, MultipartReplyBody, MultipartRequestBody, MultipartType, PortStats, TableStats,
};
use ofproto::wire::{ErrorType, decode};

/// `ofp_to_string` for one raw message: the header line, the body, a
/// trailing newline; truncated messages (as quoted by errors) show the
/// header line, the truncation note and a hex dump.
pub fn message_to_string(raw: &[u8]) -> String {
    let mut s = String::new();
    if raw.is_empty() {
        return "OpenFlow message is empty\n".into();
    }
    let Ok(h) = Header::peek(raw) else {
        let _ = writeln!(s, "OpenFlow packet too short (only {} bytes):", raw.len());
        hex_dump(&mut s, raw);
        return s;
    };
    let len = usize::from(h.length);
    if len > raw.len() {
        s.push_str(&header_line(h, raw));
        s.push('\n');
        let _ = writeln!(s, "(***truncated to {} bytes from {}***)", raw.len(), len);
        hex_dump(&mut s, raw);
        return s;
    }
    if len < raw.len() {
        let _ = writeln!(s, "(***only uses {} bytes out of {}***)", len, raw.len());
        hex_dump(&mut s, raw);
        return s;
    }
    s.push_str(&header_line(h, raw));
    match decode(raw) {
        Ok(msg) => {
            format_body(&mut s, &msg);
            while s.ends_with(' ') {
                s.pop();
            }
        }
        Err(e) => {
            let name = error_name(e.etype, e.code);
            let _ = write!(s, " ***decode error: {name}***");
            add_newline(&mut s);
            hex_dump(&mut s, raw);
        }
    }
    add_newline(&mut s);
    s
}

fn add_newline(s: &mut String) {
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
}

/// `NAME (OF1.3) (xid=0x..):` for a message's header (multipart messages
/// are named after their type, e.g. `OFPST_FLOW reply`).
pub fn header_line(h: Header, raw: &[u8]) -> String {
    let name = match h.msg_type {
        MsgType::MULTIPART_REQUEST | MsgType::MULTIPART_REPLY => {
            let t = raw
                .get(8..10)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .unwrap_or(0xfffe);
            let dir = if h.msg_type == MsgType::MULTIPART_REQUEST {
                "request"
            } else {
                "reply"
            };
            format!("{} {dir}", stats_name(MultipartType(t)))
        }
        t => t
            .name()
            .map_or_else(|| format!("OFPT_{}", t.0), str::to_owned),
    };
    let version = match h.version {
        1 => "OF1.0",
        2 => "OF1.1",
        3 => "OF1.2",
        4 => "OF1.3",
        5 => "OF1.4",
        6 => "OF1.5",
        _ => "OF?",
    };
    format!("{name} ({version}) (xid={:#x}):", h.xid)
}

fn stats_name(t: MultipartType) -> String {
    match t.name() {
        Some(n) => n
            .replacen("OFPMP_", "OFPST_", 1)
            .replace("PORT_STATS", "PORT"),
        None => format!("OFPST_{}", t.0),
    }
}

/// The OVS name of an error (`OFPBAC_BAD_OUT_GROUP`).
pub fn error_name(etype: ErrorType, code: u16) -> String {
    let prefix = match etype.0 {
        0 => "OFPHFC_",
        1 => "OFPBRC_",
        2 => "OFPBAC_",
        3 => "OFPBIC_",
        4 => "OFPBMC_",
        5 => "OFPFMFC_",
        6 => "OFPGMFC_",
        7 => "OFPPMFC_",
        8 => "OFPTMFC_",
        9 => "OFPQOFC_",
        10 => "OFPSCFC_",
        11 => "OFPRRFC_",
        12 => "OFPMMFC_",
        13 => "OFPTFFC_",
        _ => "",
    };
    match code_name(etype, code) {
        Some(n) if !prefix.is_empty() => format!("{prefix}{n}"),
        _ => format!("OFPET_{}_{}", etype.0, code),
    }
}

/// OVS's hex dump: offset, 16 bytes with a `-` after the 8th, ASCII.
pub fn hex_dump(s: &mut String, data: &[u8]) {
    for (i, line) in data.chunks(16).enumerate() {
        let _ = write!(s, "{:08x}  ", i * 16);
        for j in 0..16 {
            match line.get(j) {
                Some(b) => {
                    let sep = if j == 7 { '-' } else { ' ' };
                    let _ = write!(s, "{b:02x}{sep}");
                }
                None => s.push_str("   "),
            }
        }
        s.push('|');
        for j in 0..16 {
            match line.get(j) {
                Some(&c) if (32..127).contains(&c) => s.push(char::from(c)),
                Some(_) => s.push('.'),
                None => s.push(' '),
            }
        }
        s.push_str("|\n");
    }
}

/// OVS's duration: seconds, then milliseconds or the exact fraction.
pub fn duration(sec: u32, nsec: u32) -> String {
    let mut s = sec.to_string();
    if nsec > 0 {
        let ms = nsec / 1_000_000;
        if ms * 1_000_000 == nsec {
            let _ = write!(s, ".{ms:03}");
        } else {
            let frac = format!("{nsec:09}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
    }
    s.push('s');
    s
}

/// An OpenFlow 1.3 port number as OVS prints it (`LOCAL`, `CONTROLLER`,
/// decimal otherwise).
pub fn port_name(p: u32) -> String {
    match p {
        0xffff_fff8 => "IN_PORT".into(),
        0xffff_fff9 => "TABLE".into(),
        0xffff_fffa => "NORMAL".into(),
        0xffff_fffb => "FLOOD".into(),
        0xffff_fffc => "ALL".into(),
        0xffff_fffd => "CONTROLLER".into(),
        0xffff_fffe => "LOCAL".into(),
        0xffff_ffff => "ANY".into(),
        n => n.to_string(),
    }
}

fn bit_names(bits: u32, name: impl Fn(u32) -> Option<&'static str>) -> String {
    if bits == 0 {
        return "0".into();
    }
    let mut out: Vec<String> = Vec::new();
    let mut rest = bits;
    for i in 0..32 {
        let bit = 1u32 << i;
        if rest & bit != 0 {
            if let Some(n) = name(bit) {
                out.push(n.into());
                rest &= !bit;
            }
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out.join(" ")
}

fn capability_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x1 => "FLOW_STATS",
        0x2 => "TABLE_STATS",
        0x4 => "PORT_STATS",
        0x8 => "GROUP_STATS",
        0x20 => "IP_REASM",
        0x40 => "QUEUE_STATS",
        0x100 => "PORT_BLOCKED",
        _ => return None,
    })
}

fn capabilities(bits: u32) -> String {
    // OVS maps the OpenFlow bits to its own order (GROUP_STATS after
    // PORT_STATS, PORT_BLOCKED last), which is this bit order too.
    bit_names(bits, capability_name)
}

fn feature_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x1 => "10MB-HD",
        0x2 => "10MB-FD",
        0x4 => "100MB-HD",
        0x8 => "100MB-FD",
        0x10 => "1GB-HD",
        0x20 => "1GB-FD",
        0x40 => "10GB-FD",
        0x80 => "40GB-FD",
        0x100 => "100GB-FD",
        0x200 => "1TB-FD",
        0x400 => "OTHER",
        0x800 => "COPPER",
        0x1000 => "FIBER",
        0x2000 => "AUTO_NEG",
        0x4000 => "AUTO_PAUSE",
        0x8000 => "AUTO_PAUSE_ASYM",
        _ => return None,
    })
}

fn config_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x1 => "PORT_DOWN",
        0x4 => "NO_RECV",
        0x20 => "NO_FWD",
        0x40 => "NO_PACKET_IN",
        _ => return None,
    })
}

fn state_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x1 => "LINK_DOWN",
        0x2 => "BLOCKED",
        0x4 => "LIVE",
        _ => return None,
    })
}

/// One port description (`ofputil_phy_port_format`), starting with a
/// space and ending with a newline.
pub fn phy_port(s: &mut String, p: &Port) {
    let name: String = p
        .name
        .chars()
        .take_while(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    let a = p.hw_addr;
    let _ = writeln!(
        s,
        " {}({}): addr:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        port_name(p.port_no),
        name,
        a[0],
        a[1],
        a[2],
        a[3],
        a[4],
        a[5]
    );
    let _ = writeln!(s, "     config:     {}", bit_names(p.config, config_name));
    let _ = writeln!(s, "     state:      {}", bit_names(p.state, state_name));
    for (v, label) in [
        (p.curr, "current:    "),
        (p.advertised, "advertised: "),
        (p.supported, "supported:  "),
        (p.peer, "peer:       "),
    ] {
        if v != 0 {
            let _ = writeln!(s, "     {label}{}", bit_names(v, feature_name));
        }
    }
    let _ = writeln!(
        s,
        "     speed: {} Mbps now, {} Mbps max",
        p.curr_speed / 1000,
        p.max_speed / 1000
    );
}

/// Flow-mod flag words (each followed by a space), as in flow dumps.
pub fn flow_flags(flags: u16) -> String {
    let mut s = String::new();
    for (bit, name) in [
        (1u16, "send_flow_rem "),
        (2, "check_overlap "),
        (4, "reset_counts "),
        (8, "no_packet_counts "),
        (16, "no_byte_counts "),
    ] {
        if flags & bit != 0 {
            s.push_str(name);
        }
    }
    s
}

/// One flow of a flow-stats reply (`ofputil_flow_stats_format`), without
/// the leading space.
pub fn flow_stats(fs: &FlowStats, show_stats: bool) -> String {
    let mut s = String::new();
    if show_stats || fs.cookie != 0 {
        let _ = write!(s, "cookie={:#x}, ", fs.cookie);
    }
    if show_stats {
        let _ = write!(
            s,
            "duration={}, ",
            duration(fs.duration_sec, fs.duration_nsec)
        );
    }
    if show_stats || fs.table_id != 0 {
        let _ = write!(s, "table={}, ", fs.table_id);
    }
    if show_stats {
        let _ = write!(s, "n_packets={}, ", stat(fs.packet_count));
        let _ = write!(s, "n_bytes={}, ", stat(fs.byte_count));
    }
    if fs.idle_timeout != 0 {
        let _ = write!(s, "idle_timeout={}, ", fs.idle_timeout);
    }
    if fs.hard_timeout != 0 {
        let _ = write!(s, "hard_timeout={}, ", fs.hard_timeout);
    }
    s.push_str(&flow_flags(fs.flags));
    s.push_str(&flow_text::format_flow(
        fs.priority,
        &fs.match_,
        &fs.instructions,
    ));
    s
}

fn stat(v: u64) -> String {
    if v == u64::MAX {
        "?".into()
    } else {
        v.to_string()
    }
}

/// A bucket list as OVS prints it inside a group (`bucket=...`, comma
/// separated, no trailing comma).
pub fn buckets(group_type: u8, list: &[Bucket]) -> String {
    let mut s = String::new();
    for b in list {
        s.push_str("bucket=");
        let default_weight = if group_type == 1 { 1 } else { 0 };
        if b.weight != default_weight {
            let _ = write!(s, "weight:{},", b.weight);
        }
        if b.watch_port != 0xffff_ffff {
            let _ = write!(s, "watch_port:{},", port_name(b.watch_port));
        }
        if b.watch_group != 0xffff_ffff {
            let _ = write!(s, "watch_group:{},", b.watch_group);
        }
        s.push_str("actions=");
        let a = flow_text::format_actions(&b.actions);
        s.push_str(if a.is_empty() { "drop" } else { &a });
        s.push(',');
    }
    if s.ends_with(',') {
        s.pop();
    }
    s
}

/// `group_id=N,type=T,bucket=...` (`ofp_print_group`).
pub fn group(group_id: u32, group_type: u8, list: &[Bucket], suppress_type: bool) -> String {
    let mut s = format!("group_id={group_id}");
    if !suppress_type {
        let t = ["all", "select", "indirect", "ff"]
            .get(usize::from(group_type))
            .copied()
            .unwrap_or("unknown");
        let _ = write!(s, ",type={t}");
    }
    s.push(',');
    s.push_str(&buckets(group_type, list));
    if s.ends_with(',') {
        s.pop();
    }
    s
}

fn meter_id(id: u32, sep: char) -> String {
    match id {
        0..=0xffff_0000 => format!("meter{sep}{id}"),
        0xffff_fffd => format!("meter{sep}slowpath"),
        0xffff_fffe => format!("meter{sep}controller"),
        0xffff_ffff => format!("meter{sep}all"),
        _ => format!("meter{sep}unknown"),
    }
}

/// A meter configuration (`ofputil_format_meter_config`), ending in a
/// newline.
pub fn meter_config(flags: u16, id: u32, bands: &[MeterBand]) -> String {
    let mut s = meter_id(id, '=');
    s.push(' ');
    for (bit, name) in [(1u16, "kbps "), (2, "pktps "), (4, "burst "), (8, "stats ")] {
        if flags & bit != 0 {
            s.push_str(name);
        }
    }
    let rest = flags & !0xf;
    if rest != 0 {
        let _ = write!(s, "flags:{rest:#x} ");
    }
    s.push_str("bands=");
    for b in bands {
        let (t, rate, burst, prec) = match b {
            MeterBand::Drop { rate, burst_size } => ("drop".to_string(), *rate, *burst_size, None),
            MeterBand::DscpRemark {
                rate,
                burst_size,
                prec_level,
            } => (
                "dscp_remark".to_string(),
                *rate,
                *burst_size,
                Some(*prec_level),
            ),
            MeterBand::Experimenter {
                rate, burst_size, ..
            } => ("65535".to_string(), *rate, *burst_size, None),
        };
        let _ = write!(s, "\ntype={t} rate={rate}");
        if flags & 4 != 0 {
            let _ = write!(s, " burst_size={burst}");
        }
        if let Some(p) = prec {
            let _ = write!(s, " prec_level={p}");
        }
    }
    s.push('\n');
    s
}

fn meter_stats(s: &mut String, m: &MeterStats) {
    let _ = writeln!(
        s,
        "{} flow_count:{} packet_in_count:{} byte_in_count:{} duration:{} bands:",
        meter_id(m.meter_id, ':'),
        m.flow_count,
        m.packet_in_count,
        m.byte_in_count,
        duration(m.duration_sec, m.duration_nsec)
    );
    for (i, b) in m.band_stats.iter().enumerate() {
        let _ = writeln!(
            s,
            "{i}: packet_count:{} byte_count:{}",
            b.packet_count, b.byte_count
        );
    }
}

fn group_stats(s: &mut String, g: &GroupStats) {
    let _ = write!(s, "\n group_id={},", g.group_id);
    if g.duration_sec != u32::MAX {
        let _ = write!(s, "duration={},", duration(g.duration_sec, g.duration_nsec));
    }
    let _ = write!(
        s,
        "ref_count={},packet_count={},byte_count={}",
        g.ref_count, g.packet_count, g.byte_count
    );
    for (i, b) in g.bucket_stats.iter().enumerate() {
        if b.packet_count != u64::MAX {
            let _ = write!(
                s,
                ",bucket{i}:packet_count={},byte_count={}",
                b.packet_count, b.byte_count
            );
        }
    }
}

fn port_stats(s: &mut String, p: &PortStats) {
    s.push_str("  port ");
    if p.port_no < 10 {
        s.push(' ');
    }
    s.push_str(&port_name(p.port_no));
    let _ = writeln!(
        s,
        ": rx pkts={}, bytes={}, drop={}, errs={}, frame={}, over={}, crc={}",
        stat(p.rx_packets),
        stat(p.rx_bytes),
        stat(p.rx_dropped),
        stat(p.rx_errors),
        stat(p.rx_frame_err),
        stat(p.rx_over_err),
        stat(p.rx_crc_err)
    );
    let _ = writeln!(
        s,
        "           tx pkts={}, bytes={}, drop={}, errs={}, coll={}",
        stat(p.tx_packets),
        stat(p.tx_bytes),
        stat(p.tx_dropped),
        stat(p.tx_errors),
        stat(p.collisions)
    );
    if p.duration_sec != u32::MAX {
        let _ = writeln!(
            s,
            "           duration={}",
            duration(p.duration_sec, p.duration_nsec)
        );
    }
}

/// Table statistics with OVS's "ditto" compression.
fn table_stats(s: &mut String, list: &[TableStats]) {
    let mut ditto: Option<(u8, u8)> = None;
    let finish = |s: &mut String, d: &mut Option<(u8, u8)>| {
        if let Some((a, b)) = d.take() {
            if a == b {
                let _ = write!(s, "\n  table {a}: ditto\n");
            } else {
                let _ = write!(s, "\n  tables {a}...{b}: ditto\n");
            }
        }
    };
    let mut prev: Option<&TableStats> = None;
    for t in list {
        let same = prev.is_some_and(|p| {
            p.active_count == t.active_count
                && p.lookup_count == t.lookup_count
                && p.matched_count == t.matched_count
        });
        if same {
            ditto = Some(match ditto {
                Some((a, _)) => (a, t.table_id),
                None => (t.table_id, t.table_id),
            });
        } else {
            finish(s, &mut ditto);
            let _ = write!(
                s,
                "\n  table {}:\n    active={}, lookup={}, matched={}\n",
                t.table_id, t.active_count, t.lookup_count, t.matched_count
            );
        }
        prev = Some(t);
    }
    finish(s, &mut ditto);
}

fn desc(s: &mut String, d: &Desc) {
    let _ = write!(
        s,
        "\nManufacturer: {}\nHardware: {}\nSoftware: {}\nSerial Num: {}\nDP Description: {}\n",
        d.mfr_desc, d.hw_desc, d.sw_desc, d.serial_num, d.dp_desc
    );
}

fn features(s: &mut String, f: &FeaturesReply) {
    let _ = writeln!(s, " dpid:{:016x}", f.datapath_id);
    let _ = write!(s, "n_tables:{}, n_buffers:{}", f.n_tables, f.n_buffers);
    if f.auxiliary_id != 0 {
        let _ = write!(s, ", auxiliary_id:{}", f.auxiliary_id);
    }
    s.push('\n');
    let _ = writeln!(s, "capabilities: {}", capabilities(f.capabilities));
}

fn switch_config(s: &mut String, c: &SwitchConfig) {
    let frag = match c.flags & 3 {
        0 => "normal",
        1 => "drop",
        2 => "reassemble",
        _ => "nx-match",
    };
    let _ = write!(s, " frags={frag}");
    if c.flags & 4 != 0 {
        s.push_str(" invalid_ttl_to_controller");
    }
    let _ = writeln!(s, " miss_send_len={}", c.miss_send_len);
}

fn error_msg(s: &mut String, e: &ErrorMsg) {
    let _ = writeln!(s, " {}", error_name(e.etype, e.code));
    if e.etype.0 == 0 {
        s.push_str(&String::from_utf8_lossy(&e.data));
    } else {
        s.push_str(&message_to_string(&e.data));
    }
}

fn flow_removed(s: &mut String, f: &FlowRemoved) {
    s.push(' ');
    s.push_str(&flow_text::format_match(&f.match_, f.priority));
    let reason = match f.reason {
        0 => "idle".to_string(),
        1 => "hard".into(),
        2 => "delete".into(),
        3 => "group_delete".into(),
        4 => "meter_delete".into(),
        r => r.to_string(),
    };
    let _ = write!(s, " reason={reason}");
    if f.table_id != 255 {
        let _ = write!(s, " table_id={}", f.table_id);
    }
    if f.cookie != 0 {
        let _ = write!(s, " cookie:{:#x}", f.cookie);
    }
    let _ = write!(s, " duration{}", duration(f.duration_sec, f.duration_nsec));
    let _ = write!(s, " idle{}", f.idle_timeout);
    if f.hard_timeout != 0 {
        let _ = write!(s, " hard{}", f.hard_timeout);
    }
    let _ = writeln!(s, " pkts{} bytes{}", f.packet_count, f.byte_count);
}

fn packet_in(s: &mut String, p: &PacketIn) {
    // OVS also dissects the packet into a flow; rvs prints the metadata
    // match and the frame as hex instead.
    let _ = write!(s, " table_id={}", p.table_id);
    if p.cookie != 0 {
        let _ = write!(s, " cookie={:#x}", p.cookie);
    }
    let _ = write!(s, " total_len={}", p.total_len);
    let m = flow_text::format_match(&p.match_, flow_text::DEFAULT_PRIORITY);
    if !m.is_empty() {
        let _ = write!(s, " {m}");
    }
    let reason = match p.reason {
        0 => "no_match".to_string(),
        1 => "action".into(),
        2 => "invalid_ttl".into(),
        r => r.to_string(),
    };
    let _ = write!(s, " (via {reason}) data_len={}", p.data.len());
    if p.buffer_id == 0xffff_ffff {
        s.push_str(" (unbuffered)\n");
    } else {
        let _ = writeln!(s, " buffer={:#010x}", p.buffer_id);
    }
    hex_dump(s, &p.data);
}

fn port_status(s: &mut String, p: &PortStatus) {
    match p.reason {
        0 => s.push_str(" ADD:"),
        1 => s.push_str(" DEL:"),
        2 => s.push_str(" MOD:"),
        _ => {}
    }
    phy_port(s, &p.desc);
}

fn group_mod(s: &mut String, g: &GroupMod) {
    s.push_str("\n ");
    s.push_str(match g.command {
        0 => "ADD",
        1 => "MOD",
        2 => "DEL",
        _ => "cmd:?",
    });
    s.push(' ');
    s.push_str(&group(g.group_id, g.group_type, &g.buckets, false));
}

fn meter_mod(s: &mut String, m: &MeterMod) {
    s.push_str(match m.command {
        0 => " ADD ",
        1 => " MOD ",
        2 => " DEL ",
        _ => " cmd:? ",
    });
    s.push_str(&meter_config(m.flags, m.meter_id, &m.bands));
}

fn stats_flags(s: &mut String, flags: u16) {
    if flags != 0 {
        s.push_str(" flags=");
        if flags & 1 != 0 {
            s.push_str("[more]");
        }
        let rest = flags & !1;
        if rest != 0 {
            let _ = write!(s, "[***unknown flags {rest:#06x}***]");
        }
    }
}

fn multipart_reply(s: &mut String, r: &MultipartReply) {
    stats_flags(s, r.flags);
    match &r.body {
        MultipartReplyBody::Desc(d) => desc(s, d),
        MultipartReplyBody::Flow(list) => {
            for f in list {
                s.push_str("\n ");
                s.push_str(&flow_stats(f, true));
            }
        }
        MultipartReplyBody::Aggregate(a) => {
            let _ = write!(
                s,
                " packet_count={} byte_count={} flow_count={}",
                a.packet_count, a.byte_count, a.flow_count
            );
        }
        MultipartReplyBody::Table(list) => table_stats(s, list),
        MultipartReplyBody::PortStats(list) => {
            let _ = writeln!(s, " {} ports", list.len());
            for p in list {
                port_stats(s, p);
            }
        }
        MultipartReplyBody::PortDesc(list) => {
            let mut ports: Vec<&Port> = list.iter().collect();
            ports.sort_by_key(|p| p.port_no);
            s.push('\n');
            for p in ports {
                phy_port(s, p);
            }
        }
        MultipartReplyBody::GroupDesc(list) => {
            for g in list {
                group_desc(s, g);
            }
        }
        MultipartReplyBody::Group(list) => {
            for g in list {
                group_stats(s, g);
            }
        }
        MultipartReplyBody::MeterConfig(list) => {
            for m in list {
                meter_config_entry(s, m);
            }
        }
        MultipartReplyBody::Meter(list) => {
            for m in list {
                s.push('\n');
                meter_stats(s, m);
            }
        }
        MultipartReplyBody::MeterFeatures(f) => meter_features(s, f),
        MultipartReplyBody::GroupFeatures(g) => {
            let _ = write!(
                s,
                "\n Group table:\n    Types:  {:#x}\n    Capabilities:  {:#x}\n",
                g.types, g.capabilities
            );
            for (i, name) in ["all", "select", "indirect", "fast failover"]
                .iter()
                .enumerate()
            {
                if g.types & (1 << i) != 0 {
                    let max = g.max_groups.get(i).copied().unwrap_or(0);
                    let acts = g.actions.get(i).copied().unwrap_or(0);
                    let _ = write!(
                        s,
                        "    {name} group:\n       max_groups={max:#x}\n       actions: {}\n",
                        super::table_features::action_bitmap_names(acts)
                    );
                }
            }
        }
        _ => {}
    }
}

fn group_desc(s: &mut String, g: &GroupDesc) {
    s.push_str("\n ");
    s.push_str(&group(g.group_id, g.group_type, &g.buckets, false));
}

fn meter_config_entry(s: &mut String, m: &MeterConfig) {
    s.push('\n');
    s.push_str(&meter_config(m.flags, m.meter_id, &m.bands));
}

fn meter_features(s: &mut String, f: &MeterFeatures) {
    let _ = write!(
        s,
        "\nmax_meter:{} max_bands:{} max_color:{}\n",
        f.max_meter, f.max_bands, f.max_color
    );
    let bands = bit_names(f.band_types, |b| match b {
        2 => Some("drop"),
        4 => Some("dscp_remark"),
        _ => None,
    });
    let _ = writeln!(s, "band_types: {bands}");
    let caps = bit_names(f.capabilities, |b| match b {
        1 => Some("kbps"),
        2 => Some("pktps"),
        4 => Some("burst"),
        8 => Some("stats"),
        _ => None,
    });
    let _ = writeln!(s, "capabilities: {caps}");
}

fn multipart_request(s: &mut String, body: &MultipartRequestBody) {
    match body {
        MultipartRequestBody::PortDesc | MultipartRequestBody::PortStats(_) => {}
        MultipartRequestBody::Group(g) => {
            let _ = write!(s, " group_id={}", group_id_name(*g));
        }
        MultipartRequestBody::Meter(m) | MultipartRequestBody::MeterConfig(m) => {
            let _ = write!(s, " {}", meter_id(*m, '='));
        }
        _ => {}
    }
}

fn group_id_name(g: u32) -> String {
    match g {
        0xffff_fffc => "ALL".into(),
        0xffff_ffff => "ANY".into(),
        n => n.to_string(),
    }
}

fn format_body(s: &mut String, msg: &Message) {
    match &msg.body {
        Body::FeaturesReply(f) => features(s, f),
        Body::GetConfigReply(c) | Body::SetConfig(c) => switch_config(s, c),
        Body::MultipartReply(r) => multipart_reply(s, r),
        Body::MultipartRequest(r) => {
            stats_flags(s, r.flags);
            multipart_request(s, &r.body)
        }
        Body::Error(e) => error_msg(s, e),
        Body::EchoRequest(d) | Body::EchoReply(d) => {
            let _ = writeln!(s, " {} bytes of payload", d.len());
        }
        Body::FlowMod(fm) => {
            s.push(' ');
            s.push_str(&flow_text::format_flow_mod(fm));
        }
        Body::GroupMod(g) => group_mod(s, g),
        Body::MeterMod(m) => meter_mod(s, m),
        Body::FlowRemoved(f) => flow_removed(s, f),
        Body::PacketIn(p) => packet_in(s, p),
        Body::PortStatus(p) => port_status(s, p),
        Body::PortMod(pm) => port_mod(s, pm),
        Body::Hello(_) | Body::BarrierRequest | Body::BarrierReply | Body::FeaturesRequest => {}
        Body::GetConfigRequest | Body::GetAsyncRequest => {}
        _ => {
            s.push('\n');
            hex_dump(s, &msg.to_vec());
        }
    }
}

/// A port mod (`ofputil_port_mod_format`), after the header line.
pub fn port_mod(s: &mut String, pm: &ofproto::wire::message::PortMod) {
    let a = pm.hw_addr;
    let _ = writeln!(
        s,
        " port: {}: addr:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        port_name(pm.port_no),
        a[0],
        a[1],
        a[2],
        a[3],
        a[4],
        a[5]
    );
    let _ = writeln!(s, "     config: {}", bit_names(pm.config, config_name));
    let _ = writeln!(s, "     mask:   {}", bit_names(pm.mask, config_name));
    if pm.advertise != 0 {
        let _ = writeln!(
            s,
            "     advertise: {}",
            bit_names(pm.advertise, feature_name)
        );
    } else {
        s.push_str("     advertise: UNCHANGED\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(3, 0), "3s");
        assert_eq!(duration(3, 660_000_000), "3.660s");
        assert_eq!(duration(0, 1_500), "0.0000015s");
    }

    #[test]
    fn hexdump_layout() {
        let mut s = String::new();
        hex_dump(
            &mut s,
            &[
                0x04, 0x0e, 0x00, 0x58, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 5, 0x41,
            ],
        );
        assert_eq!(
            s,
            "00000000  04 0e 00 58 00 00 00 06-00 00 00 00 00 00 00 05 |...X............|\n\
             00000010  41                                              |A               |\n"
        );
    }
}
