//! Datapath actions and their execution.
//!
//! Actions run in order on one packet ([`execute`]) or on a selected subset
//! of an rx batch that shares them ([`execute_batch`], action by action, so
//! a sink sees the packets for one output port back to back and can send
//! them as one batch).  Effects that leave the datapath (output, sending to
//! the slow path, meter decisions, TTL expiry) go through an
//! [`ActionSink`]; everything else rewrites the packet in place.
//!
//! Header rewrites read the packet through checked [`crate::wire`] views
//! and skip (without panicking) a rewrite whose header is absent or
//! truncated.  The layer offsets recorded by [`crate::flow::extract`] must
//! be current (they are kept in step by the push/pop actions).  Every L3/L4
//! rewrite fixes the affected checksums incrementally; on a
//! checksum-partial packet (see [`crate::csum`]) only pseudo-header changes
//! are folded into the L4 field.  VLAN and MPLS pushes/pops move the
//! packet's [`crate::packet::Offload`] offsets with the data.
//!
//! Simple actions allocate nothing.  `Clone` copies the packet (one
//! allocation) unless it is the last action, and `Truncate` applies to the
//! next output only, as in Open vSwitch.

use crate::csum;
use crate::flow::{Field, FlowKey, VLAN_PRESENT};
use crate::packet::{BATCH_SIZE, Packet};
use crate::wire::transport::{
    ICMP_CSUM_OFS, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ND_OPT_SLL, ND_OPT_TLL, SCTP_CSUM_OFS,
    TCP_CSUM_OFS, UDP_CSUM_OFS,
};
use crate::wire::{
    ArpPacket, IcmpPacket, Ipv4Packet, Ipv6Packet, NdOption, ethertype, get16, get32, ipproto,
    put16, put32,
};

/// A masked write of one flow-key field into the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetField {
    /// The field (its flow-key meaning; see [`crate::flow`]).
    pub field: Field,
    /// New value, in the key's integer representation.
    pub value: u128,
    /// Bits of the field to write (`field.full_mask()` for a plain set).
    pub mask: u128,
}

impl SetField {
    /// An unmasked set of `field` to `value`.
    pub fn exact(field: Field, value: u128) -> SetField {
        SetField {
            field,
            value,
            mask: field.full_mask(),
        }
    }
}

/// One datapath action.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpAction {
    /// Send a copy to a datapath port.
    Output(u32),
    /// Rewrite a header field under a mask.  Fields with no packet
    /// representation (registers, metadata, tunnel placeholders, `in_port`,
    /// `nw_frag`, `tcp_flags` on non-TCP, ...) are ignored.
    SetMasked(SetField),
    /// Push a VLAN tag; `tci` uses the key convention (the
    /// [`VLAN_PRESENT`] bit is cleared on the wire).
    PushVlan {
        /// 0x8100 or 0x88a8.
        tpid: u16,
        /// Tag control information.
        tci: u16,
    },
    /// Pop the outer VLAN tag.
    PopVlan,
    /// Push an MPLS label stack entry (BOS is set by the datapath).
    PushMpls {
        /// 0x8847 or 0x8848.
        ethertype: u16,
        /// Label stack entry.
        lse: u32,
    },
    /// Pop the top MPLS entry; the frame's EtherType becomes `ethertype`.
    PopMpls {
        /// EtherType of what follows the popped entry.
        ethertype: u16,
    },
    /// Set the IPv4 TTL / IPv6 hop limit.
    SetIpTtl(u8),
    /// Decrement the IP TTL; a packet with TTL <= 1 goes to
    /// [`ActionSink::ttl_exceeded`] and is dropped.
    DecIpTtl,
    /// Set the top MPLS TTL.
    SetMplsTtl(u8),
    /// Decrement the top MPLS TTL (like [`DpAction::DecIpTtl`]).
    DecMplsTtl,
    /// Truncate the packet to at most this many bytes for the next output.
    Truncate(u32),
    /// Execute the nested actions on a copy of the packet.
    Clone(Vec<DpAction>),
    /// Ask the sink's meter for a decision; drop on "no".
    Meter(u32),
    /// Send to the slow path (controller, sFlow, ...).
    Userspace {
        /// Opaque cookie for the slow path.
        cookie: u64,
        /// Bytes of the packet to send (0 = all).
        max_len: u32,
    },
    /// Stop processing (drop).
    Drop,
}

/// What a meter decided for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterVerdict {
    /// The packet conforms: continue.
    Pass,
    /// A drop band was exceeded: drop the packet.
    Drop,
    /// A DSCP-remark band was exceeded: raise the drop precedence of an
    /// IP packet's DSCP by this many levels (saturating at 3), then
    /// continue.
    Remark(u8),
}

/// Where executed actions send packets.
pub trait ActionSink {
    /// Transmit `pkt` on `port` (copy or queue it; the packet is reused).
    fn output(&mut self, port: u32, pkt: &Packet);
    /// Pass `pkt` to the slow path.
    fn userspace(&mut self, pkt: &Packet, cookie: u64, max_len: u32);
    /// Meter decision for `pkt`: false drops it.
    fn meter(&mut self, meter: u32, pkt: &Packet) -> bool;
    /// Meter decision with DSCP remarking.  Default: [`ActionSink::meter`]
    /// (pass or drop).
    fn meter_verdict(&mut self, meter: u32, pkt: &Packet) -> MeterVerdict {
        if self.meter(meter, pkt) {
            MeterVerdict::Pass
        } else {
            MeterVerdict::Drop
        }
    }
    /// `pkt` hit TTL <= 1 on a decrement (it is then dropped).
    fn ttl_exceeded(&mut self, pkt: &Packet) {
        let _ = pkt;
    }
}

/// Executes `actions` on one packet.  `key` is the packet's extracted key.
pub fn execute(actions: &[DpAction], pkt: &mut Packet, key: &FlowKey, sink: &mut impl ActionSink) {
    let mut cut = None;
    run(actions, pkt, key, sink, &mut cut, 0);
}

/// Executes `actions` on the packets of `batch` whose bit is set in
/// `select` (bit i = `batch[i]`, at most [`BATCH_SIZE`] packets), action
/// by action.  `keys[i]` is the key of `batch[i]`.
pub fn execute_batch(
    actions: &[DpAction],
    batch: &mut [Packet],
    keys: &[FlowKey],
    select: u32,
    sink: &mut impl ActionSink,
) {
    let n = batch.len().min(keys.len()).min(BATCH_SIZE);
    let mut alive = if n >= 32 {
        select
    } else {
        select & ((1u32 << n) - 1)
    };
    let mut cuts: [Option<u32>; BATCH_SIZE] = [None; BATCH_SIZE];
    for (ai, a) in actions.iter().enumerate() {
        if alive == 0 {
            return;
        }
        let mut m = alive;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            let (Some(pkt), Some(key)) = (batch.get_mut(i), keys.get(i)) else {
                continue;
            };
            let last = ai + 1 == actions.len();
            if !step(a, pkt, key, sink, &mut cuts[i], last, 0) {
                alive &= !(1 << i);
            }
        }
    }
}

/// Deepest nesting of `Clone` actions executed.
const MAX_CLONE_DEPTH: usize = 8;

fn run(
    actions: &[DpAction],
    pkt: &mut Packet,
    key: &FlowKey,
    sink: &mut impl ActionSink,
    cut: &mut Option<u32>,
    depth: usize,
) {
    for (ai, a) in actions.iter().enumerate() {
        if !step(a, pkt, key, sink, cut, ai + 1 == actions.len(), depth) {
            return;
        }
    }
}

/// Executes one action; false = the packet is dropped.
fn step(
    a: &DpAction,
    pkt: &mut Packet,
    key: &FlowKey,
    sink: &mut impl ActionSink,
    cut: &mut Option<u32>,
    last: bool,
    depth: usize,
) -> bool {
    match a {
        DpAction::Output(port) => {
            match cut.take() {
                Some(c) if (c as usize) < pkt.len() => {
                    let full = pkt.len();
                    pkt.truncate(c as usize);
                    sink.output(*port, pkt);
                    pkt.set_len(full);
                }
                _ => sink.output(*port, pkt),
            }
            true
        }
        DpAction::SetMasked(sf) => {
            set_field(pkt, key, sf);
            true
        }
        DpAction::PushVlan { tpid, tci } => {
            push_vlan(pkt, *tpid, *tci & !VLAN_PRESENT);
            true
        }
        DpAction::PopVlan => {
            pop_vlan(pkt);
            true
        }
        DpAction::PushMpls { ethertype, lse } => {
            push_mpls(pkt, *ethertype, *lse);
            true
        }
        DpAction::PopMpls { ethertype } => {
            pop_mpls(pkt, *ethertype);
            true
        }
        DpAction::SetIpTtl(t) => {
            set_ip_ttl(pkt, |_| Some(*t));
            true
        }
        DpAction::DecIpTtl => {
            if set_ip_ttl(pkt, |t| t.checked_sub(1).filter(|&t| t > 0)) {
                true
            } else {
                sink.ttl_exceeded(pkt);
                false
            }
        }
        DpAction::SetMplsTtl(t) => {
            set_mpls_ttl(pkt, |_| Some(*t));
            true
        }
        DpAction::DecMplsTtl => {
            if set_mpls_ttl(pkt, |t| t.checked_sub(1).filter(|&t| t > 0)) {
                true
            } else {
                sink.ttl_exceeded(pkt);
                false
            }
        }
        DpAction::Truncate(n) => {
            *cut = Some(*n);
            true
        }
        DpAction::Clone(inner) => {
            if depth >= MAX_CLONE_DEPTH {
                return true;
            }
            if last {
                run(inner, pkt, key, sink, cut, depth + 1);
                false
            } else {
                let mut copy = pkt.clone();
                let mut c = *cut;
                run(inner, &mut copy, key, sink, &mut c, depth + 1);
                true
            }
        }
        DpAction::Meter(id) => match sink.meter_verdict(*id, pkt) {
            MeterVerdict::Pass => true,
            MeterVerdict::Drop => false,
            MeterVerdict::Remark(levels) => {
                remark_dscp(pkt, key, levels);
                true
            }
        },
        DpAction::Userspace { cookie, max_len } => {
            sink.userspace(pkt, *cookie, *max_len);
            true
        }
        DpAction::Drop => false,
    }
}

/// Raises the drop precedence (DSCP bits 1-2, as in the assured-forwarding
/// classes) of an IP packet by `levels`, saturating at 3; other packets
/// are left alone.
fn remark_dscp(pkt: &mut Packet, key: &FlowKey, levels: u8) {
    if !matches!(key.eth_type(), 0x0800 | 0x86dd) || levels == 0 {
        return;
    }
    let tos = key.nw_tos();
    let dscp = tos >> 2;
    let prec = ((dscp >> 1) & 3).saturating_add(levels).min(3);
    let new_dscp = (dscp & !0b110) | (prec << 1);
    if new_dscp == dscp {
        return;
    }
    let sf = SetField {
        field: Field::NwTos,
        value: u128::from(new_dscp << 2),
        mask: 0xfc,
    };
    set_field(pkt, key, &sf);
}

/// Offset of the EtherType field after any VLAN tags, and its value.
fn ethertype_pos(d: &[u8]) -> Option<(usize, u16)> {
    let mut pos = 12;
    let mut ty = get16(d.get(..14)?, 12);
    while ty == ethertype::VLAN || ty == ethertype::QINQ {
        pos += 4;
        let b = d.get(pos..pos + 2)?;
        ty = u16::from_be_bytes([b[0], b[1]]);
    }
    Some((pos, ty))
}

fn push_vlan(pkt: &mut Packet, tpid: u16, tci: u16) {
    if pkt.len() < 12 {
        return;
    }
    if let Some(gap) = pkt.insert_at(12, 4) {
        gap[..2].copy_from_slice(&tpid.to_be_bytes());
        gap[2..].copy_from_slice(&tci.to_be_bytes());
        pkt.offload.shift(4);
    }
}

fn pop_vlan(pkt: &mut Packet) {
    let d = pkt.data();
    if d.len() < 18 {
        return;
    }
    let tpid = get16(d, 12);
    if (tpid == ethertype::VLAN || tpid == ethertype::QINQ) && pkt.remove_at(12, 4) {
        pkt.offload.shift(-4);
    }
}

fn push_mpls(pkt: &mut Packet, ety: u16, lse: u32) {
    let Some((pos, ty)) = ethertype_pos(pkt.data()) else {
        return;
    };
    let at = pos + 2;
    let is_mpls = ty == ethertype::MPLS || ty == ethertype::MPLS_MCAST;
    let lse = if is_mpls { lse & !0x100 } else { lse | 0x100 };
    let Some(gap) = pkt.insert_at(at, 4) else {
        return;
    };
    gap.copy_from_slice(&lse.to_be_bytes());
    pkt.offload.shift(4);
    // The EtherType field moved with the bytes before it.
    put16(pkt.data_mut(), pos, ety);
    let l2 = pkt.l2_ofs();
    pkt.set_offsets(l2, Some(at), None);
}

fn pop_mpls(pkt: &mut Packet, ety: u16) {
    let Some((pos, ty)) = ethertype_pos(pkt.data()) else {
        return;
    };
    if ty != ethertype::MPLS && ty != ethertype::MPLS_MCAST {
        return;
    }
    let at = pos + 2;
    if !pkt.remove_at(at, 4) {
        return;
    }
    pkt.offload.shift(-4);
    // remove_at keeps the bytes in front of `at` at their frame offsets.
    put16(pkt.data_mut(), pos, ety);
    let l2 = pkt.l2_ofs();
    let l4 = if ety == ethertype::IPV4 {
        pkt.data()
            .get(at..)
            .and_then(|b| Ipv4Packet::new_checked(b).ok())
            .filter(|ip| ip.frag_offset() == 0)
            .map(|ip| at + ip.header_len())
    } else {
        None
    };
    pkt.set_offsets(l2, Some(at), l4);
}

/// Applies `f` to the IP TTL; false if there is no IP header or `f`
/// returned None (TTL would expire).
fn set_ip_ttl(pkt: &mut Packet, f: impl Fn(u8) -> Option<u8>) -> bool {
    let Some((pos, ty)) = ethertype_pos(pkt.data()) else {
        return false;
    };
    let l3 = pos + 2;
    let Some(b) = pkt.data_mut().get_mut(l3..) else {
        return false;
    };
    match ty {
        ethertype::IPV4 => {
            let Ok(mut ip) = Ipv4Packet::new_checked(b) else {
                return false;
            };
            let old = ip.ttl();
            let Some(new) = f(old) else { return false };
            let oldw = u16::from_be_bytes([old, ip.protocol()]);
            let neww = u16::from_be_bytes([new, ip.protocol()]);
            ip.set_ttl(new);
            let c = csum::adjust16(ip.checksum(), oldw, neww, false);
            ip.set_checksum(c);
            true
        }
        ethertype::IPV6 => {
            let Ok(mut ip) = Ipv6Packet::new_checked(b) else {
                return false;
            };
            let Some(new) = f(ip.hop_limit()) else {
                return false;
            };
            ip.set_hop_limit(new);
            true
        }
        _ => false,
    }
}

fn set_mpls_ttl(pkt: &mut Packet, f: impl Fn(u8) -> Option<u8>) -> bool {
    let Some((pos, ty)) = ethertype_pos(pkt.data()) else {
        return false;
    };
    if ty != ethertype::MPLS && ty != ethertype::MPLS_MCAST {
        return false;
    }
    let at = pos + 2;
    let Some(b) = pkt.data_mut().get_mut(at..at + 4) else {
        return false;
    };
    let lse = get32(b, 0);
    let Some(t) = f((lse & 0xff) as u8) else {
        return false;
    };
    put32(b, 0, (lse & !0xff) | u32::from(t));
    true
}

#[inline]
fn merge(old: u128, sf: &SetField) -> u128 {
    (old & !sf.mask) | (sf.value & sf.mask)
}

/// Which L4 checksum a rewrite must fix.
#[derive(Clone, Copy)]
struct L4Ctx {
    ofs: usize,
    proto: u8,
    v6: bool,
    partial: bool,
}

impl L4Ctx {
    /// Offset of the checksum field and whether the pseudo-header covers it.
    fn csum_field(&self) -> Option<usize> {
        match self.proto {
            ipproto::TCP => Some(self.ofs + TCP_CSUM_OFS),
            ipproto::UDP => Some(self.ofs + UDP_CSUM_OFS),
            ipproto::ICMP if !self.v6 => Some(self.ofs + ICMP_CSUM_OFS),
            ipproto::ICMPV6 if self.v6 => Some(self.ofs + ICMP_CSUM_OFS),
            _ => None,
        }
    }

    fn has_pseudo(&self) -> bool {
        matches!(self.proto, ipproto::TCP | ipproto::UDP)
            || (self.v6 && self.proto == ipproto::ICMPV6)
    }

    /// Folds the change `old` -> `new` into the L4 checksum.  `pseudo`:
    /// the bytes belong to the pseudo-header (addresses), otherwise to the
    /// L4 header itself.
    fn fix(&self, d: &mut [u8], old: &[u8], new: &[u8], pseudo: bool) {
        if pseudo && !self.has_pseudo() {
            return;
        }
        let Some(at) = self.csum_field() else { return };
        let Some(b) = d.get_mut(at..at + 2) else {
            return;
        };
        let check = u16::from_be_bytes([b[0], b[1]]);
        let partial = self.partial && matches!(self.proto, ipproto::TCP | ipproto::UDP);
        if partial {
            if pseudo {
                b.copy_from_slice(&csum::adjust(check, old, new, true).to_be_bytes());
            }
            return;
        }
        if self.proto == ipproto::UDP && !self.v6 && check == 0 {
            return; // no UDP checksum over IPv4
        }
        let mut c = csum::adjust(check, old, new, false);
        if self.proto == ipproto::UDP && c == 0 {
            c = 0xffff;
        }
        b.copy_from_slice(&c.to_be_bytes());
    }
}

fn l4_ctx(pkt: &Packet, key: &FlowKey, l3: usize, v6: bool) -> Option<L4Ctx> {
    let ofs = pkt.l4_ofs()?;
    let proto = if v6 {
        key.nw_proto()
    } else {
        pkt.data().get(l3 + 9).copied()?
    };
    Some(L4Ctx {
        ofs,
        proto,
        v6,
        partial: pkt.offload.csum_partial(),
    })
}

fn set_field(pkt: &mut Packet, key: &FlowKey, sf: &SetField) {
    let f = sf.field;
    match f {
        Field::EthSrc | Field::EthDst => {
            let at = if f == Field::EthDst { 0 } else { 6 };
            let Some(b) = pkt.data_mut().get_mut(at..at + 6) else {
                return;
            };
            let mut cur = [0u8; 16];
            cur[10..].copy_from_slice(b);
            let new = merge(u128::from_be_bytes(cur), sf).to_be_bytes();
            b.copy_from_slice(&new[10..]);
        }
        Field::VlanTci | Field::VlanTpid | Field::VlanInnerTci | Field::VlanInnerTpid => {
            let inner = matches!(f, Field::VlanInnerTci | Field::VlanInnerTpid);
            let tag = if inner { 16 } else { 12 };
            let d = pkt.data_mut();
            let Some(b) = d.get_mut(12..tag + 4) else {
                return;
            };
            let t0 = get16(b, 0);
            if t0 != ethertype::VLAN && t0 != ethertype::QINQ {
                return;
            }
            let Some(b) = d.get_mut(tag..tag + 4) else {
                return;
            };
            let tpid = get16(b, 0);
            if tpid != ethertype::VLAN && tpid != ethertype::QINQ {
                return;
            }
            if matches!(f, Field::VlanTci | Field::VlanInnerTci) {
                let sf2 = SetField {
                    mask: sf.mask & !u128::from(VLAN_PRESENT),
                    ..*sf
                };
                put16(b, 2, merge(u128::from(get16(b, 2)), &sf2) as u16);
            } else {
                put16(b, 0, merge(u128::from(tpid), sf) as u16);
            }
        }
        Field::EthType => {
            let Some((pos, ty)) = ethertype_pos(pkt.data()) else {
                return;
            };
            put16(pkt.data_mut(), pos, merge(u128::from(ty), sf) as u16);
        }
        Field::MplsLse0 | Field::MplsLse1 | Field::MplsLse2 => {
            let Some((pos, ty)) = ethertype_pos(pkt.data()) else {
                return;
            };
            if ty != ethertype::MPLS && ty != ethertype::MPLS_MCAST {
                return;
            }
            let idx = match f {
                Field::MplsLse0 => 0,
                Field::MplsLse1 => 1,
                _ => 2,
            };
            let d = pkt.data_mut();
            // Only entries that are really in the stack (walk BOS).
            let mut at = pos + 2;
            for _ in 0..idx {
                let Some(b) = d.get(at..at + 4) else { return };
                if get32(b, 0) & 0x100 != 0 {
                    return;
                }
                at += 4;
            }
            let Some(b) = d.get_mut(at..at + 4) else {
                return;
            };
            put32(b, 0, merge(u128::from(get32(b, 0)), sf) as u32);
        }
        _ => set_l3_l4(pkt, key, sf),
    }
}

fn set_l3_l4(pkt: &mut Packet, key: &FlowKey, sf: &SetField) {
    let Some((pos, ty)) = ethertype_pos(pkt.data()) else {
        return;
    };
    let l3 = pos + 2;
    match ty {
        ethertype::IPV4 => set_ipv4(pkt, key, sf, l3),
        ethertype::IPV6 => set_ipv6(pkt, key, sf, l3),
        ethertype::ARP | ethertype::RARP => set_arp(pkt, sf, l3),
        _ => {}
    }
}

fn set_arp(pkt: &mut Packet, sf: &SetField, l3: usize) {
    let Some(b) = pkt.data_mut().get_mut(l3..) else {
        return;
    };
    let Ok(mut arp) = ArpPacket::new_checked(b) else {
        return;
    };
    match sf.field {
        Field::NwProto => {
            let old = arp.oper();
            let new = merge(u128::from(old & 0xff), sf) as u16;
            arp.set_oper((old & 0xff00) | (new & 0xff));
        }
        Field::Ipv4Src => arp.set_spa(merge(u128::from(arp.spa()), sf) as u32),
        Field::Ipv4Dst => arp.set_tpa(merge(u128::from(arp.tpa()), sf) as u32),
        Field::ArpSha => {
            let v = merge(u128::from(crate::flow::mac_to_u64(arp.sha())), sf) as u64;
            arp.set_sha(crate::flow::u64_to_mac(v));
        }
        Field::ArpTha => {
            let v = merge(u128::from(crate::flow::mac_to_u64(arp.tha())), sf) as u64;
            arp.set_tha(crate::flow::u64_to_mac(v));
        }
        _ => {}
    }
}

fn set_ipv4(pkt: &mut Packet, key: &FlowKey, sf: &SetField, l3: usize) {
    let l4 = l4_ctx(pkt, key, l3, false);
    let d = pkt.data_mut();
    let Some(b) = d.get_mut(l3..) else { return };
    let Ok(mut ip) = Ipv4Packet::new_checked(b) else {
        return;
    };
    match sf.field {
        Field::Ipv4Src | Field::Ipv4Dst => {
            let src = sf.field == Field::Ipv4Src;
            let old = if src { ip.src() } else { ip.dst() };
            let new = merge(u128::from(old), sf) as u32;
            if old == new {
                return;
            }
            if src {
                ip.set_src(new)
            } else {
                ip.set_dst(new)
            }
            let c = csum::adjust32(ip.checksum(), old, new, false);
            ip.set_checksum(c);
            if let Some(l4) = l4 {
                l4.fix(d, &old.to_be_bytes(), &new.to_be_bytes(), true);
            }
        }
        Field::NwTos | Field::NwTtl => {
            let (old, new) = if sf.field == Field::NwTos {
                let old = ip.tos();
                let new = merge(u128::from(old), sf) as u8;
                ip.set_tos(new);
                (
                    u16::from_be_bytes([0x45, old]),
                    u16::from_be_bytes([0x45, new]),
                )
            } else {
                let old = ip.ttl();
                let new = merge(u128::from(old), sf) as u8;
                ip.set_ttl(new);
                (u16::from_be_bytes([old, 0]), u16::from_be_bytes([new, 0]))
            };
            // The constant byte of each 16-bit word cancels out.
            let c = csum::adjust16(ip.checksum(), old, new, false);
            ip.set_checksum(c);
        }
        _ => {
            if let Some(l4) = l4 {
                set_l4(d, l4, sf);
            }
        }
    }
}

fn set_ipv6(pkt: &mut Packet, key: &FlowKey, sf: &SetField, l3: usize) {
    let l4 = l4_ctx(pkt, key, l3, true);
    let d = pkt.data_mut();
    let Some(b) = d.get_mut(l3..) else { return };
    let Ok(mut ip) = Ipv6Packet::new_checked(b) else {
        return;
    };
    match sf.field {
        Field::Ipv6Src | Field::Ipv6Dst => {
            let src = sf.field == Field::Ipv6Src;
            let old = if src { ip.src() } else { ip.dst() };
            let new = merge(u128::from_be_bytes(old), sf).to_be_bytes();
            if src {
                ip.set_src(new)
            } else {
                ip.set_dst(new)
            }
            if let Some(l4) = l4 {
                l4.fix(d, &old, &new, true);
            }
        }
        Field::Ipv6Label => {
            let v = merge(u128::from(ip.flow_label()), sf) as u32;
            ip.set_flow_label(v);
        }
        Field::NwTos => {
            let v = merge(u128::from(ip.traffic_class()), sf) as u8;
            ip.set_traffic_class(v);
        }
        Field::NwTtl => {
            let v = merge(u128::from(ip.hop_limit()), sf) as u8;
            ip.set_hop_limit(v);
        }
        Field::NdTarget | Field::ArpSha | Field::ArpTha => {
            if let Some(l4) = l4 {
                set_nd(d, l4, sf);
            }
        }
        _ => {
            if let Some(l4) = l4 {
                set_l4(d, l4, sf);
            }
        }
    }
}

fn set_l4(d: &mut [u8], l4: L4Ctx, sf: &SetField) {
    let at = l4.ofs;
    match (sf.field, l4.proto) {
        (Field::TpSrc | Field::TpDst, ipproto::TCP | ipproto::UDP | ipproto::SCTP) => {
            let need = match l4.proto {
                ipproto::TCP => 20,
                ipproto::UDP => 8,
                _ => 12,
            };
            if d.len() < at + need {
                return;
            }
            let fo = at + if sf.field == Field::TpSrc { 0 } else { 2 };
            let old = get16(d, fo);
            let new = merge(u128::from(old), sf) as u16;
            put16(d, fo, new);
            if l4.proto == ipproto::SCTP {
                if !l4.partial {
                    let Some(b) = d.get_mut(at..) else { return };
                    b[SCTP_CSUM_OFS..SCTP_CSUM_OFS + 4].fill(0);
                    let crc = csum::crc32c(b);
                    b[SCTP_CSUM_OFS..SCTP_CSUM_OFS + 4].copy_from_slice(&crc.to_le_bytes());
                }
            } else {
                l4.fix(d, &old.to_be_bytes(), &new.to_be_bytes(), false);
            }
        }
        (Field::TpSrc | Field::TpDst, ipproto::ICMP | ipproto::ICMPV6) => {
            if d.len() < at + 4 {
                return;
            }
            let old = get16(d, at);
            let [t, c] = old.to_be_bytes();
            let new = if sf.field == Field::TpSrc {
                u16::from_be_bytes([merge(u128::from(t), sf) as u8, c])
            } else {
                u16::from_be_bytes([t, merge(u128::from(c), sf) as u8])
            };
            put16(d, at, new);
            l4.fix(d, &old.to_be_bytes(), &new.to_be_bytes(), false);
        }
        (Field::TcpFlags, ipproto::TCP) => {
            if d.len() < at + 20 {
                return;
            }
            let old = get16(d, at + 12);
            let nf = merge(u128::from(old & 0x0fff), sf) as u16 & 0x0fff;
            let new = (old & 0xf000) | nf;
            put16(d, at + 12, new);
            l4.fix(d, &old.to_be_bytes(), &new.to_be_bytes(), false);
        }
        _ => {}
    }
}

fn set_nd(d: &mut [u8], l4: L4Ctx, sf: &SetField) {
    if l4.proto != ipproto::ICMPV6 {
        return;
    }
    let at = l4.ofs;
    let Some(b) = d.get(at..) else { return };
    let Ok(icmp) = IcmpPacket::new_checked(b) else {
        return;
    };
    let t = icmp.msg_type();
    if (t != ND_NEIGHBOR_SOLICIT && t != ND_NEIGHBOR_ADVERT) || icmp.check_nd().is_err() {
        return;
    }
    let (lo, hi) = match sf.field {
        Field::NdTarget => (at + 8, at + 24),
        Field::ArpSha | Field::ArpTha => {
            let want = if sf.field == Field::ArpSha {
                ND_OPT_SLL
            } else {
                ND_OPT_TLL
            };
            let mut o = at + IcmpPacket::<&[u8]>::ND_LEN;
            let mut found = None;
            while let Some(rest) = d.get(o..) {
                if rest.is_empty() {
                    break;
                }
                let Ok(opt) = NdOption::new_checked(rest) else {
                    break;
                };
                if opt.opt_type() == want && opt.ll_addr().is_some() {
                    found = Some((o + 2, o + 8));
                    break;
                }
                o += opt.option_len();
            }
            match found {
                Some(r) => r,
                None => return,
            }
        }
        _ => return,
    };
    let Some(b) = d.get_mut(lo..hi) else { return };
    let mut old = [0u8; 16];
    old[16 - b.len()..].copy_from_slice(b);
    let new = merge(u128::from_be_bytes(old), sf).to_be_bytes();
    let n = b.len();
    b.copy_from_slice(&new[16 - n..]);
    // The 6-byte MAC starts at an even offset (option start + 2).
    l4.fix(d, &old[16 - n..], &new[16 - n..], false);
}

impl std::fmt::Display for SetField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.mask == self.field.full_mask() {
            write!(f, "{}={:#x}", self.field.name(), self.value)
        } else {
            write!(
                f,
                "{}={:#x}/{:#x}",
                self.field.name(),
                self.value & self.mask,
                self.mask
            )
        }
    }
}

/// Text in the spirit of `ovs-dpctl dump-flows` (`2`, `push_vlan(...)`,
/// `set(ipv4_src=0x...)`, `userspace(cookie=...)`, `drop`).
impl std::fmt::Display for DpAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DpAction::Output(p) => write!(f, "{p}"),
            DpAction::SetMasked(sf) => write!(f, "set({sf})"),
            DpAction::PushVlan { tpid, tci } => {
                write!(
                    f,
                    "push_vlan(tpid={tpid:#06x},vid={},pcp={})",
                    tci & 0xfff,
                    tci >> 13
                )
            }
            DpAction::PopVlan => f.write_str("pop_vlan"),
            DpAction::PushMpls { ethertype, lse } => write!(
                f,
                "push_mpls(label={},tc={},ttl={},bos={},eth_type={ethertype:#06x})",
                lse >> 12,
                (lse >> 9) & 7,
                lse & 0xff,
                (lse >> 8) & 1
            ),
            DpAction::PopMpls { ethertype } => write!(f, "pop_mpls(eth_type={ethertype:#06x})"),
            DpAction::SetIpTtl(t) => write!(f, "set(ttl={t})"),
            DpAction::DecIpTtl => f.write_str("dec_ttl"),
            DpAction::SetMplsTtl(t) => write!(f, "set(mpls_ttl={t})"),
            DpAction::DecMplsTtl => f.write_str("dec_mpls_ttl"),
            DpAction::Truncate(n) => write!(f, "trunc({n})"),
            DpAction::Clone(inner) => {
                f.write_str("clone(")?;
                write_actions(f, inner)?;
                f.write_str(")")
            }
            DpAction::Meter(m) => write!(f, "meter({m})"),
            DpAction::Userspace { cookie, max_len } => {
                write!(f, "userspace(cookie={cookie:#x},max_len={max_len})")
            }
            DpAction::Drop => f.write_str("drop"),
        }
    }
}

/// Writes an action list comma-separated (`drop` if empty).
pub fn write_actions(out: &mut impl std::fmt::Write, actions: &[DpAction]) -> std::fmt::Result {
    if actions.is_empty() {
        return out.write_str("drop");
    }
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        write!(out, "{a}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_print() {
        let acts = [
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x2064,
            },
            DpAction::SetMasked(SetField::exact(Field::TpDst, 80)),
            DpAction::SetMasked(SetField {
                field: Field::Ipv4Dst,
                value: 0x0a00_0000,
                mask: 0xff00_0000,
            }),
            DpAction::Clone(vec![DpAction::Output(3)]),
            DpAction::Output(2),
        ];
        let mut s = String::new();
        write_actions(&mut s, &acts).unwrap();
        assert_eq!(
            s,
            "push_vlan(tpid=0x8100,vid=100,pcp=1),set(tp_dst=0x50),\
             set(ipv4_dst=0xa000000/0xff000000),clone(3),2"
        );
        let mut e = String::new();
        write_actions(&mut e, &[]).unwrap();
        assert_eq!(e, "drop");
    }
}
