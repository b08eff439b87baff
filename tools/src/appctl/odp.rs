//! Megaflows as Open vSwitch prints datapath flows (`odp-util`'s format):
//! `recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(src=..,dst=..),
//! eth_type(0x0800),ipv4(src=..,frag=no),tcp(dst=80)` and actions such as
//! `push_vlan(vid=10,pcp=0),2`.
//!
//! Rules followed (checked against OVS 3.1's `odp-util.c` behaviour):
//! an attribute whose mask is all zero is left out unless `verbose`;
//! inside an attribute a field with a zero mask is left out unless
//! `verbose`; a partly masked field prints `value/mask`; hexadecimal
//! numbers use C's `%#x` (zero prints as `0`).  Our datapath only carries
//! Ethernet packets, so `packet_type(ns=0,id=0)` is always printed, as the
//! OVS userspace datapath does.  Fields OVS's datapath has and ours does
//! not (skb priority, conntrack, tunnels) are not printed; OpenFlow-only
//! key words (metadata, registers) never reach a datapath flow.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use datapath::actions::{DpAction, SetField};
use datapath::flow::{FRAG_ANY, FRAG_LATER, Field, FlowKey, FlowMask, VLAN_PRESENT};
use ofproto::xlate::ControllerCookie;

/// C's `%#x`: `0` for zero, `0x..` otherwise.
fn hx(v: u128) -> String {
    if v == 0 {
        "0".to_owned()
    } else {
        format!("{v:#x}")
    }
}

fn mac(v: u128) -> String {
    let b = (v as u64).to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

fn ip4(v: u128) -> String {
    Ipv4Addr::from(v as u32).to_string()
}

fn ip6(v: u128) -> String {
    Ipv6Addr::from(v).to_string()
}

/// How a field's value prints.
#[derive(Clone, Copy)]
enum Style {
    Dec,
    Hex,
    Mac,
    Ip4,
    Ip6,
}

fn render(style: Style, v: u128) -> String {
    match style {
        Style::Dec => v.to_string(),
        Style::Hex => hx(v),
        Style::Mac => mac(v),
        Style::Ip4 => ip4(v),
        Style::Ip6 => ip6(v),
    }
}

fn render_mask(style: Style, m: u128) -> String {
    match style {
        Style::Mac => mac(m),
        Style::Ip4 => ip4(m),
        Style::Ip6 => ip6(m),
        Style::Dec | Style::Hex => hx(m),
    }
}

/// Collects the `name=value[/mask]` parts of one attribute.
struct Attr<'a> {
    key: &'a FlowKey,
    mask: &'a FlowMask,
    verbose: bool,
    parts: Vec<String>,
}

impl<'a> Attr<'a> {
    fn new(key: &'a FlowKey, mask: &'a FlowMask, verbose: bool) -> Self {
        Attr {
            key,
            mask,
            verbose,
            parts: Vec::new(),
        }
    }

    fn field(&mut self, name: &str, f: Field, style: Style) {
        self.value(
            name,
            self.key.get(f),
            self.mask.field(f),
            f.full_mask(),
            style,
        );
    }

    fn value(&mut self, name: &str, v: u128, m: u128, full: u128, style: Style) {
        if m == 0 && !self.verbose {
            return;
        }
        let shown = if self.verbose { v } else { v & m };
        let mut s = format!("{name}={}", render(style, shown));
        if m != full {
            let _ = write!(s, "/{}", render_mask(style, m));
        }
        self.parts.push(s);
    }

    fn frag(&mut self) {
        let m = self.mask.field(Field::NwFrag);
        if m == 0 {
            return;
        }
        let v = self.key.nw_frag();
        let t = if v & FRAG_LATER != 0 {
            "later"
        } else if v & FRAG_ANY != 0 {
            "first"
        } else {
            "no"
        };
        self.parts.push(format!("frag={t}"));
    }

    fn any(&self, fields: &[Field]) -> bool {
        self.verbose || fields.iter().any(|f| self.mask.field(*f) != 0)
    }

    fn finish(self, out: &mut Vec<String>, name: &str) {
        out.push(format!("{name}({})", self.parts.join(",")));
    }
}

fn port_text(port: u32, names: &dyn Fn(u32) -> Option<String>) -> String {
    names(port).unwrap_or_else(|| port.to_string())
}

/// TCP flag names by bit, as OVS prints them.
const TCP_FLAG_NAMES: [&str; 12] = [
    "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]",
];

/// `syn|ack` for an exact value; `+syn-ack` for a masked one.
pub fn tcp_flags_text(v: u16, m: u16) -> String {
    let mut s = String::new();
    if m & 0x0fff == 0x0fff {
        for (i, n) in TCP_FLAG_NAMES.iter().enumerate() {
            if v & (1 << i) != 0 {
                if !s.is_empty() {
                    s.push('|');
                }
                s.push_str(n);
            }
        }
        if s.is_empty() {
            s.push('0');
        }
    } else {
        for (i, n) in TCP_FLAG_NAMES.iter().enumerate() {
            if m & (1 << i) != 0 {
                s.push(if v & (1 << i) != 0 { '+' } else { '-' });
                s.push_str(n);
            }
        }
    }
    s
}

/// The flags part of `dpctl/dump-flows` (`S.` style is OVS's packet
/// flags format; this prints the flag names joined with `|`).
pub fn stats_tcp_flags(v: u16) -> String {
    tcp_flags_text(v, 0x0fff)
}

/// Formats the megaflow `key & mask` in OVS's datapath-flow syntax.
/// `names` maps a datapath port number to a name (return `None` to print
/// the number).
pub fn format_key(
    key: &FlowKey,
    mask: &FlowMask,
    verbose: bool,
    names: &dyn Fn(u32) -> Option<String>,
) -> String {
    // Wildcarded fields print as value/0 in verbose mode: OVS shows the
    // packet's values there, so the key is used as given (pass the
    // megaflow's original key for that); the masked key otherwise.
    let key = if verbose { *key } else { key.masked(mask) };
    let mut out: Vec<String> = Vec::new();
    let m = |f: Field| mask.field(f);
    let full = |f: Field| f.full_mask();

    let simple = |out: &mut Vec<String>, name: &str, f: Field| {
        let (v, mm) = (key.get(f), m(f));
        if mm == 0 && !verbose {
            return;
        }
        if mm == full(f) {
            out.push(format!("{name}({})", hx(v)));
        } else {
            out.push(format!("{name}({}/{})", hx(v), hx(mm)));
        }
    };
    if verbose {
        // Attributes of OVS's datapath that rvs's has not (always wild).
        out.push("skb_priority(0/0)".to_owned());
    }
    simple(&mut out, "skb_mark", Field::PktMark);
    if verbose {
        out.push("ct_state(0/0),ct_zone(0/0),ct_mark(0/0),ct_label(0/0)".to_owned());
    }
    simple(&mut out, "recirc_id", Field::RecircId);
    simple(&mut out, "dp_hash", Field::DpHash);
    let pm = m(Field::InPort);
    if pm == full(Field::InPort) {
        out.push(format!("in_port({})", port_text(key.in_port(), names)));
    } else if pm != 0 || verbose {
        out.push(format!("in_port({}/{})", key.in_port(), hx(pm)));
    }
    out.push("packet_type(ns=0,id=0)".to_owned());

    let mut eth = Attr::new(&key, mask, verbose);
    if eth.any(&[Field::EthSrc, Field::EthDst]) {
        eth.field("src", Field::EthSrc, Style::Mac);
        eth.field("dst", Field::EthDst, Style::Mac);
        eth.finish(&mut out, "eth");
    }

    // VLAN tags: eth_type(TPID),vlan(...),encap(...).
    let mut closers = 0;
    for (tci_f, tpid_f) in [
        (Field::VlanTci, Field::VlanTpid),
        (Field::VlanInnerTci, Field::VlanInnerTpid),
    ] {
        let tci = key.get(tci_f) as u16;
        if tci & VLAN_PRESENT == 0 {
            break;
        }
        let tpid = match key.get(tpid_f) as u16 {
            0 => 0x8100,
            t => t,
        };
        out.push(format!("eth_type(0x{tpid:04x})"));
        let tm = m(tci_f) as u16;
        out.push(format!("vlan({})", vlan_text(tci, tm, verbose)));
        out.push("encap(".to_owned());
        closers += 1;
    }

    let et_m = m(Field::EthType);
    let et = key.eth_type();
    if et_m != 0 || verbose {
        if et_m == full(Field::EthType) {
            out.push(format!("eth_type(0x{et:04x})"));
        } else {
            out.push(format!("eth_type(0x{et:04x}/0x{et_m:04x})"));
        }
    }
    let et_known = et_m as u16 == 0xffff;
    let proto_known = m(Field::NwProto) as u8 == 0xff;
    let later = key.nw_frag() & FRAG_LATER != 0;
    match et {
        0x0800 if et_known => {
            let mut a = Attr::new(&key, mask, verbose);
            if a.any(&[
                Field::Ipv4Src,
                Field::Ipv4Dst,
                Field::NwProto,
                Field::NwTos,
                Field::NwTtl,
                Field::NwFrag,
            ]) {
                a.field("src", Field::Ipv4Src, Style::Ip4);
                a.field("dst", Field::Ipv4Dst, Style::Ip4);
                a.field("proto", Field::NwProto, Style::Dec);
                a.field("tos", Field::NwTos, Style::Hex);
                a.field("ttl", Field::NwTtl, Style::Dec);
                a.frag();
                a.finish(&mut out, "ipv4");
            }
            if proto_known && !later {
                l4(&mut out, &key, mask, verbose, key.nw_proto(), false);
            }
        }
        0x86dd if et_known => {
            let mut a = Attr::new(&key, mask, verbose);
            if a.any(&[
                Field::Ipv6Src,
                Field::Ipv6Dst,
                Field::Ipv6Label,
                Field::NwProto,
                Field::NwTos,
                Field::NwTtl,
                Field::NwFrag,
            ]) {
                a.field("src", Field::Ipv6Src, Style::Ip6);
                a.field("dst", Field::Ipv6Dst, Style::Ip6);
                let lm = mask.field(Field::Ipv6Label) & 0xf_ffff;
                a.value("label", key.get(Field::Ipv6Label), lm, 0xf_ffff, Style::Hex);
                a.field("proto", Field::NwProto, Style::Dec);
                a.field("tclass", Field::NwTos, Style::Hex);
                a.field("hlimit", Field::NwTtl, Style::Dec);
                a.frag();
                a.finish(&mut out, "ipv6");
            }
            if proto_known && !later {
                l4(&mut out, &key, mask, verbose, key.nw_proto(), true);
            }
        }
        0x0806 | 0x8035 if et_known => {
            let mut a = Attr::new(&key, mask, verbose);
            if a.any(&[
                Field::Ipv4Src,
                Field::Ipv4Dst,
                Field::NwProto,
                Field::ArpSha,
                Field::ArpTha,
            ]) {
                a.field("sip", Field::Ipv4Src, Style::Ip4);
                a.field("tip", Field::Ipv4Dst, Style::Ip4);
                a.value(
                    "op",
                    key.get(Field::NwProto),
                    mask.field(Field::NwProto),
                    0xff,
                    Style::Dec,
                );
                a.field("sha", Field::ArpSha, Style::Mac);
                a.field("tha", Field::ArpTha, Style::Mac);
                a.finish(&mut out, "arp");
            }
        }
        0x8847 | 0x8848 if et_known => {
            let lses = [Field::MplsLse0, Field::MplsLse1, Field::MplsLse2];
            let mut parts = Vec::new();
            for f in lses {
                let (v, mm) = (key.get(f) as u32, mask.field(f) as u32);
                if mm == 0 && !(verbose && f == Field::MplsLse0) {
                    continue;
                }
                let (l, tc, ttl, bos) = (v >> 12, (v >> 9) & 7, v & 0xff, (v >> 8) & 1);
                if mm == u32::MAX {
                    parts.push(format!("label={l},tc={tc},ttl={ttl},bos={bos}"));
                } else {
                    parts.push(format!(
                        "label={l}/{:#x},tc={tc}/{:x},ttl={ttl}/{:#x},bos={bos}/{:x}",
                        mm >> 12,
                        (mm >> 9) & 7,
                        mm & 0xff,
                        (mm >> 8) & 1
                    ));
                }
            }
            if !parts.is_empty() {
                out.push(format!("mpls({})", parts.join(",")));
            }
        }
        _ => {}
    }
    let mut s = out.join(",");
    // encap( opened a nesting: fix the separators and close it.
    s = s.replace("encap(,", "encap(");
    for _ in 0..closers {
        s.push(')');
    }
    s
}

fn vlan_text(tci: u16, mask: u16, verbose: bool) -> String {
    let mut parts = Vec::new();
    let (vid, vm) = (tci & 0xfff, mask & 0xfff);
    if verbose || vid != 0 || vm != 0 {
        if vm == 0xfff {
            parts.push(format!("vid={vid}"));
        } else {
            parts.push(format!("vid={vid}/0x{vm:x}"));
        }
    }
    let (pcp, pm) = (tci >> 13, mask >> 13);
    if verbose || pcp != 0 || pm != 0 {
        if pm == 7 {
            parts.push(format!("pcp={pcp}"));
        } else {
            parts.push(format!("pcp={pcp}/0x{pm:x}"));
        }
    }
    if tci & VLAN_PRESENT == 0 {
        parts.push("cfi=0".to_owned());
    }
    parts.join(",")
}

fn l4(out: &mut Vec<String>, key: &FlowKey, mask: &FlowMask, verbose: bool, proto: u8, v6: bool) {
    let name = match (proto, v6) {
        (6, _) => "tcp",
        (17, _) => "udp",
        (132, _) => "sctp",
        (1, false) => "icmp",
        (58, true) => "icmpv6",
        _ => return,
    };
    let icmp = matches!(name, "icmp" | "icmpv6");
    let mut a = Attr::new(key, mask, verbose);
    if a.any(&[Field::TpSrc, Field::TpDst]) {
        if icmp {
            a.value(
                "type",
                key.get(Field::TpSrc) & 0xff,
                mask.field(Field::TpSrc) & 0xff,
                0xff,
                Style::Dec,
            );
            a.value(
                "code",
                key.get(Field::TpDst) & 0xff,
                mask.field(Field::TpDst) & 0xff,
                0xff,
                Style::Dec,
            );
        } else {
            a.field("src", Field::TpSrc, Style::Dec);
            a.field("dst", Field::TpDst, Style::Dec);
        }
        a.finish(out, name);
    }
    if name == "tcp" {
        let fm = mask.field(Field::TcpFlags) as u16 & 0x0fff;
        if fm != 0 || verbose {
            out.push(format!(
                "tcp_flags({})",
                tcp_flags_text(key.tcp_flags(), fm)
            ));
        }
    }
    if name == "icmpv6" && matches!(key.tp_src(), 135 | 136) {
        let mut nd = Attr::new(key, mask, verbose);
        if nd.any(&[Field::NdTarget, Field::ArpSha, Field::ArpTha]) {
            nd.field("target", Field::NdTarget, Style::Ip6);
            nd.field("sll", Field::ArpSha, Style::Mac);
            nd.field("tll", Field::ArpTha, Style::Mac);
            nd.finish(out, "nd");
        }
    }
}

/// The datapath attribute a set-field writes, given the flow it applies
/// to (the megaflow key tells IPv4 from IPv6 and TCP from UDP).
fn set_text(sf: &SetField, key: &FlowKey) -> String {
    let v6 = key.eth_type() == 0x86dd;
    let l4 = match key.nw_proto() {
        17 => "udp",
        132 => "sctp",
        _ => "tcp",
    };
    let (attr, name, style) = match sf.field {
        Field::EthSrc => ("eth", "src", Style::Mac),
        Field::EthDst => ("eth", "dst", Style::Mac),
        Field::Ipv4Src if key.eth_type() == 0x0806 => ("arp", "sip", Style::Ip4),
        Field::Ipv4Dst if key.eth_type() == 0x0806 => ("arp", "tip", Style::Ip4),
        Field::Ipv4Src => ("ipv4", "src", Style::Ip4),
        Field::Ipv4Dst => ("ipv4", "dst", Style::Ip4),
        Field::Ipv6Src => ("ipv6", "src", Style::Ip6),
        Field::Ipv6Dst => ("ipv6", "dst", Style::Ip6),
        Field::Ipv6Label => ("ipv6", "label", Style::Hex),
        Field::NwTos if v6 => ("ipv6", "tclass", Style::Hex),
        Field::NwTos => ("ipv4", "tos", Style::Hex),
        Field::NwTtl if v6 => ("ipv6", "hlimit", Style::Dec),
        Field::NwTtl => ("ipv4", "ttl", Style::Dec),
        Field::TpSrc => (l4, "src", Style::Dec),
        Field::TpDst => (l4, "dst", Style::Dec),
        Field::ArpSha if v6 => ("nd", "sll", Style::Mac),
        Field::ArpTha if v6 => ("nd", "tll", Style::Mac),
        Field::ArpSha => ("arp", "sha", Style::Mac),
        Field::ArpTha => ("arp", "tha", Style::Mac),
        Field::NdTarget => ("nd", "target", Style::Ip6),
        Field::PktMark => ("skb_mark", "", Style::Hex),
        _ => return format!("set({sf})"),
    };
    let mut body = if name.is_empty() {
        render(style, sf.value & sf.mask)
    } else {
        format!("{name}={}", render(style, sf.value & sf.mask))
    };
    if sf.mask != sf.field.full_mask() {
        let _ = write!(body, "/{}", render_mask(style, sf.mask));
    }
    format!("set({attr}({body}))")
}

/// Formats datapath actions as OVS does (`drop` for none).  `key` is the
/// flow they apply to (for naming set-field targets).
pub fn format_actions(
    actions: &[DpAction],
    key: &FlowKey,
    names: &dyn Fn(u32) -> Option<String>,
) -> String {
    if actions.is_empty() {
        return "drop".to_owned();
    }
    let parts: Vec<String> = actions.iter().map(|a| action_text(a, key, names)).collect();
    parts.join(",")
}

fn action_text(a: &DpAction, key: &FlowKey, names: &dyn Fn(u32) -> Option<String>) -> String {
    match a {
        DpAction::Output(p) => port_text(*p, names),
        DpAction::SetMasked(sf) => set_text(sf, key),
        DpAction::PushVlan { tpid, tci } => {
            let mut s = String::from("push_vlan(");
            if *tpid != 0x8100 {
                let _ = write!(s, "tpid=0x{tpid:04x},");
            }
            s.push_str(&vlan_text(*tci | VLAN_PRESENT, 0xffff, false));
            s.push(')');
            s
        }
        DpAction::PopVlan => "pop_vlan".to_owned(),
        DpAction::PushMpls { ethertype, lse } => format!(
            "push_mpls(label={},tc={},ttl={},bos={},eth_type={})",
            lse >> 12,
            (lse >> 9) & 7,
            lse & 0xff,
            (lse >> 8) & 1,
            hx(u128::from(*ethertype))
        ),
        DpAction::PopMpls { ethertype } => {
            format!("pop_mpls(eth_type={})", hx(u128::from(*ethertype)))
        }
        DpAction::SetIpTtl(t) if key.eth_type() == 0x86dd => format!("set(ipv6(hlimit={t}))"),
        DpAction::SetIpTtl(t) => format!("set(ipv4(ttl={t}))"),
        DpAction::SetMplsTtl(t) => format!("set(mpls(ttl={t}))"),
        DpAction::Clone(inner) => format!("clone({})", format_actions(inner, key, names)),
        DpAction::Userspace { cookie, max_len } => match ControllerCookie::unpack(*cookie) {
            Some(c) => format!(
                "userspace(pid=0,controller(reason={},table_id={},max_len={max_len}))",
                c.reason, c.table_id
            ),
            None => format!("userspace(pid=0,userdata({cookie:016x}))"),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_names(_: u32) -> Option<String> {
        None
    }

    #[test]
    fn ipv4_tcp_megaflow_prints_like_ovs() {
        let mut k = FlowKey::default();
        k.set_in_port(1);
        k.set_eth_type(0x0800);
        k.set_eth_dst([0, 0, 0, 0, 0, 2]);
        k.set_ipv4_dst(0x0a00_0001);
        k.set_nw_proto(6);
        k.set_tp_dst(80);
        let mut m = FlowMask::default();
        m.set_exact(Field::InPort)
            .set_exact(Field::EthType)
            .set_exact(Field::EthDst)
            .set_exact(Field::NwProto)
            .set_exact(Field::NwFrag)
            .set_exact(Field::TpDst)
            .set_field(Field::Ipv4Dst, 0xffff_ff00)
            .set_exact(Field::RecircId);
        assert_eq!(
            format_key(&k, &m, false, &no_names),
            "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(dst=00:00:00:00:00:02),\
             eth_type(0x0800),ipv4(dst=10.0.0.0/255.255.255.0,proto=6,frag=no),tcp(dst=80)"
        );
        let names = |p: u32| (p == 1).then(|| "p1".to_owned());
        assert!(format_key(&k, &m, false, &names).contains("in_port(p1)"));
        let v = format_key(&k, &m, true, &no_names);
        assert!(
            v.contains("eth(src=00:00:00:00:00:00/00:00:00:00:00:00,dst=00:00:00:00:00:02)"),
            "{v}"
        );
        assert!(v.contains("tos=0/0"), "{v}");
    }

    #[test]
    fn vlan_nests_in_encap() {
        let mut k = FlowKey::default();
        k.set_in_port(3);
        k.set_eth_type(0x0800);
        k.set_vlan_tci(VLAN_PRESENT | 10);
        k.set_vlan_tpid(0x8100);
        let mut m = FlowMask::default();
        m.set_exact(Field::InPort)
            .set_exact(Field::EthType)
            .set_exact(Field::VlanTci);
        assert_eq!(
            format_key(&k, &m, false, &no_names),
            "in_port(3),packet_type(ns=0,id=0),eth_type(0x8100),vlan(vid=10,pcp=0),encap(eth_type(0x0800))"
        );
    }

    #[test]
    fn actions_print_like_ovs() {
        let mut k = FlowKey::default();
        k.set_eth_type(0x0800);
        k.set_nw_proto(17);
        let acts = vec![
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x2064,
            },
            DpAction::SetMasked(SetField::exact(Field::TpDst, 53)),
            DpAction::SetMasked(SetField {
                field: Field::Ipv4Dst,
                value: 0x0a00_0000,
                mask: 0xff00_0000,
            }),
            DpAction::Clone(vec![DpAction::Output(3)]),
            DpAction::PopMpls { ethertype: 0x0800 },
            DpAction::Output(2),
        ];
        assert_eq!(
            format_actions(&acts, &k, &no_names),
            "push_vlan(vid=100,pcp=1),set(udp(dst=53)),set(ipv4(dst=10.0.0.0/255.0.0.0)),\
             clone(3),pop_mpls(eth_type=0x800),2"
        );
        assert_eq!(format_actions(&[], &k, &no_names), "drop");
    }

    #[test]
    fn tcp_flags_forms() {
        assert_eq!(tcp_flags_text(0x12, 0xfff), "syn|ack");
        assert_eq!(tcp_flags_text(0x02, 0x12), "+syn-ack");
    }
}
