//! Conversion between an OXM [`Match`] and the datapath's
//! `(FlowKey, FlowMask)`, the form the classifier stores.
//!
//! # Mapping
//!
//! The flow key follows Open vSwitch's conventions (see
//! `datapath::flow`), so most OXM fields are one key field; the rest share
//! a key field with others.  `v`/`m` are the OXM value and mask.
//!
//! | OXM field | key field, bits |
//! |---|---|
//! | `in_port` | `in_port` (the OpenFlow port number; see below) |
//! | `metadata` | `metadata` |
//! | `eth_dst`, `eth_src` | `eth_dst`, `eth_src` |
//! | `eth_type` | `eth_type` |
//! | `vlan_vid` | `vlan_tci` bits 0..13: the VID and bit 0x1000, which is both `OFPVID_PRESENT` and the key's "tag present" bit, so `vlan_vid=OFPVID_NONE` is `vlan_tci & 0x1fff == 0` (no tag) and `vlan_vid=0x1000/0x1000` is "any tag" |
//! | `vlan_pcp` | `vlan_tci` bits 13..16 (`v << 13`, mask `0xe000`) |
//! | `ip_dscp` | `nw_tos` bits 2..8 (`v << 2`, mask `0xfc`) |
//! | `ip_ecn` | `nw_tos` bits 0..2 (mask `0x03`) |
//! | `ip_proto` | `nw_proto` |
//! | `arp_op` | `nw_proto` (the key keeps the opcode's low byte; an opcode above 255 is `OFPBMC_BAD_VALUE`) |
//! | `ipv4_src`/`dst`, `arp_spa`/`tpa` | `ipv4_src`/`dst` |
//! | `tcp_*`, `udp_*`, `sctp_*` | `tp_src`/`tp_dst` |
//! | `icmpv4_*`, `icmpv6_*` type / code | `tp_src` / `tp_dst`, mask `0xff` |
//! | `arp_sha`/`tha`, `ipv6_nd_sll`/`tll` | `arp_sha`/`arp_tha` |
//! | `ipv6_src`/`dst`, `ipv6_nd_target` | `ipv6_src`/`dst`, `nd_target` |
//! | `ipv6_flabel` | `ipv6_label` (20 bits) |
//! | `mpls_label`, `mpls_tc`, `mpls_bos` | top label stack entry `mpls_lse0`: `v << 12` mask `0xfffff000`, `v << 9` mask `0xe00`, `v << 8` mask `0x100` |
//! | `tunnel_id` | `tun_id` |
//! | NXM_1 `reg0`..`reg7` (class 1, fields 0..7) | `reg0`..`reg7` |
//!
//! `in_phy_port`, `pbb_isid`, `ipv6_exthdr` and every other non-basic
//! entry have no key field: [`match_to_key`] answers
//! [`MatchKeyError::UnsupportedField`], which maps to `OFPBMC_BAD_FIELD`
//! (Open vSwitch answers the same for the first three).
//!
//! `in_port` in the classifier's key is the OpenFlow port number;
//! translating datapath port numbers to OpenFlow ones (and back) is the
//! translation layer's job.
//!
//! # Reverse direction and canonical form
//!
//! [`key_to_match`] rebuilds the OXM list from a key and mask.  The shared
//! key fields are told apart by the match's own `eth_type` and `ip_proto`
//! (`ipv4_src` is `arp_spa` under ARP, `tp_src` is `tcp_src` under TCP and
//! `icmpv4_type` under ICMP).  The result is in canonical order: basic
//! fields by code, then the registers; a mask covering all of a field's
//! value bits is written as an exact match; masked values are stored with
//! the bits outside the mask cleared.  Mask bits that have no OXM spelling
//! (recirculation id, TTL, fragment bits, inner VLAN, a partial `vlan_pcp`
//! mask, ...) are [`MatchKeyError::NotRepresentable`].
//!
//! For every valid match whose fields all map, `key_to_match(match_to_key(m))`
//! equals `m` in canonical form (tests: `tests/classifier_match_key.rs`).

use datapath::flow::{Field, FlowKey, FlowMask};

use crate::wire::OfpError;
use crate::wire::error::bad_match;
use crate::wire::oxm::{BasicField, Match, OxmClass, OxmField, OxmHeader};

/// Why a match and a flow key could not be converted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatchKeyError {
    /// The match has a field the flow key cannot hold (`OFPBMC_BAD_FIELD`).
    #[error("match field {0} is not supported")]
    UnsupportedField(&'static str),
    /// The field is supported but this value cannot be held
    /// (`OFPBMC_BAD_VALUE`).
    #[error("value of match field {0} is not supported")]
    UnsupportedValue(&'static str),
    /// The match itself is invalid (the codec's own error).
    #[error("invalid match: {0}")]
    Invalid(OfpError),
    /// The flow mask has bits of this key field that no OXM field spells.
    #[error("mask bits of key field {0} have no OXM equivalent")]
    NotRepresentable(&'static str),
}

impl MatchKeyError {
    /// The OpenFlow error to answer a flow-mod with.
    pub fn to_ofp_error(&self) -> OfpError {
        match self {
            Self::UnsupportedField(_) => {
                OfpError::bad_match(bad_match::BAD_FIELD, "match field not supported")
            }
            Self::UnsupportedValue(_) => {
                OfpError::bad_match(bad_match::BAD_VALUE, "match field value not supported")
            }
            Self::Invalid(e) => *e,
            Self::NotRepresentable(_) => {
                OfpError::bad_match(bad_match::BAD_WILDCARDS, "mask not expressible in OXM")
            }
        }
    }
}

impl From<MatchKeyError> for OfpError {
    fn from(e: MatchKeyError) -> Self {
        e.to_ofp_error()
    }
}

/// Number of NXM registers mapped (`reg0`..`reg7`).
const N_REGS: u8 = 8;

/// The datapath fields holding `reg0`..`reg7`.
pub(crate) const REG_FIELDS: [Field; 8] = [
    Field::Reg0,
    Field::Reg1,
    Field::Reg2,
    Field::Reg3,
    Field::Reg4,
    Field::Reg5,
    Field::Reg6,
    Field::Reg7,
];

fn put(key: &mut FlowKey, mask: &mut FlowMask, f: Field, v: u128, m: u128) {
    key.set_masked(f, v & m, m);
    mask.set_field(f, m);
}

/// Converts a match into the key and mask the classifier stores.  The
/// match is validated first ([`Match::validate`]); see the module
/// documentation for the mapping.
pub fn match_to_key(m: &Match) -> Result<(FlowKey, FlowMask), MatchKeyError> {
    m.validate().map_err(MatchKeyError::Invalid)?;
    let mut key = FlowKey::ZERO;
    let mut mask = FlowMask::default();
    for f in &m.fields {
        match f {
            OxmField::Basic {
                field,
                value,
                mask: fm,
            } => {
                let info = field
                    .info()
                    .ok_or(MatchKeyError::UnsupportedField("unknown basic field"))?;
                let vm = info.value_mask();
                let mm = fm.map_or(vm, |x| x & vm);
                let v = *value & mm;
                basic_to_key(&mut key, &mut mask, *field, info.name, v, mm)?;
            }
            OxmField::Opaque { header, payload }
                if header.basic_field() == Some(crate::wire::oxm::PACKET_TYPE_FIELD) =>
            {
                // packet_type (ns 0, type 0) is Ethernet, the only kind of
                // packet this switch sees: it constrains nothing.
                if payload.iter().any(|&b| b != 0) {
                    return Err(MatchKeyError::UnsupportedValue(
                        "packet_type other than Ethernet",
                    ));
                }
            }
            OxmField::Opaque { header, payload } => {
                let reg =
                    nxm_reg(*header).ok_or(MatchKeyError::UnsupportedField("non-basic OXM"))?;
                let num = |b: &[u8]| b.iter().fold(0u128, |a, &x| (a << 8) | u128::from(x));
                let (v, mm) = if header.has_mask() {
                    (
                        num(payload.get(0..4).unwrap_or(&[])),
                        num(payload.get(4..8).unwrap_or(&[])),
                    )
                } else {
                    (num(payload.get(0..4).unwrap_or(&[])), 0xffff_ffff)
                };
                let f = REG_FIELDS
                    .get(usize::from(reg))
                    .copied()
                    .ok_or(MatchKeyError::UnsupportedField("non-basic OXM"))?;
                put(&mut key, &mut mask, f, v, mm);
            }
        }
    }
    Ok((key, mask))
}

/// The register number of an NXM_1 `reg0`..`reg7` header with a valid
/// length.
fn nxm_reg(h: OxmHeader) -> Option<u8> {
    let len_ok = if h.has_mask() {
        h.length() == 8
    } else {
        h.length() == 4
    };
    (h.class() == OxmClass::NXM_1 && h.field() < N_REGS && len_ok).then_some(h.field())
}

fn basic_to_key(
    key: &mut FlowKey,
    mask: &mut FlowMask,
    field: BasicField,
    name: &'static str,
    v: u128,
    m: u128,
) -> Result<(), MatchKeyError> {
    use Field as F;
    let target = match field {
        BasicField::IN_PORT => (F::InPort, 0),
        BasicField::METADATA => (F::Metadata, 0),
        BasicField::ETH_DST => (F::EthDst, 0),
        BasicField::ETH_SRC => (F::EthSrc, 0),
        BasicField::ETH_TYPE => (F::EthType, 0),
        BasicField::VLAN_VID => (F::VlanTci, 0),
        BasicField::VLAN_PCP => (F::VlanTci, 13),
        BasicField::IP_DSCP => (F::NwTos, 2),
        BasicField::IP_ECN => (F::NwTos, 0),
        BasicField::IP_PROTO => (F::NwProto, 0),
        BasicField::IPV4_SRC | BasicField::ARP_SPA => (F::Ipv4Src, 0),
        BasicField::IPV4_DST | BasicField::ARP_TPA => (F::Ipv4Dst, 0),
        BasicField::TCP_SRC
        | BasicField::UDP_SRC
        | BasicField::SCTP_SRC
        | BasicField::ICMPV4_TYPE
        | BasicField::ICMPV6_TYPE => (F::TpSrc, 0),
        BasicField::TCP_DST
        | BasicField::UDP_DST
        | BasicField::SCTP_DST
        | BasicField::ICMPV4_CODE
        | BasicField::ICMPV6_CODE => (F::TpDst, 0),
        BasicField::ARP_OP => {
            if v > 0xff {
                return Err(MatchKeyError::UnsupportedValue(name));
            }
            (F::NwProto, 0)
        }
        BasicField::ARP_SHA | BasicField::IPV6_ND_SLL => (F::ArpSha, 0),
        BasicField::ARP_THA | BasicField::IPV6_ND_TLL => (F::ArpTha, 0),
        BasicField::IPV6_SRC => (F::Ipv6Src, 0),
        BasicField::IPV6_DST => (F::Ipv6Dst, 0),
        BasicField::IPV6_FLABEL => (F::Ipv6Label, 0),
        BasicField::IPV6_ND_TARGET => (F::NdTarget, 0),
        BasicField::MPLS_LABEL => (F::MplsLse0, 12),
        BasicField::MPLS_TC => (F::MplsLse0, 9),
        BasicField::MPLS_BOS => (F::MplsLse0, 8),
        BasicField::TUNNEL_ID => (F::TunId, 0),
        _ => return Err(MatchKeyError::UnsupportedField(name)),
    };
    let (f, shift) = target;
    // arp_op is 16 bits wide on the wire, 8 in the key.
    let m = if field == BasicField::ARP_OP {
        m & 0xff
    } else {
        m
    };
    put(key, mask, f, v << shift, m << shift);
    Ok(())
}

/// Accumulates the reverse conversion: the mask bits not yet explained and
/// the entries produced.
struct Rebuild<'a> {
    key: &'a FlowKey,
    left: FlowMask,
    out: Vec<(u32, OxmField)>,
}

impl Rebuild<'_> {
    /// Takes the mask bits `bits` of `f` (shifted down by `shift`) out of
    /// what is left; returns `(value, mask)` (mask 0: absent).
    fn take(&mut self, f: Field, bits: u128, shift: u32) -> (u128, u128) {
        let m = self.left.field(f) & bits;
        let cur = self.left.field(f);
        self.left.key.set(f, cur & !bits);
        ((self.key.get(f) & m) >> shift, m >> shift)
    }

    /// Emits `field` from key field `f` (bits `bits`, shifted by `shift`),
    /// masked if the field allows it, else only when fully masked.
    fn emit(
        &mut self,
        field: BasicField,
        f: Field,
        bits: u128,
        shift: u32,
    ) -> Result<(), MatchKeyError> {
        let (v, m) = self.take(f, bits, shift);
        if m == 0 {
            return Ok(());
        }
        let Some(info) = field.info() else {
            return Err(MatchKeyError::NotRepresentable(f.name()));
        };
        let vm = info.value_mask();
        let full = bits >> shift;
        let entry = if m == full || m & vm == vm {
            OxmField::exact(field, v & vm)
        } else if info.maskable {
            OxmField::masked(field, v & vm, m & vm)
        } else {
            return Err(MatchKeyError::NotRepresentable(f.name()));
        };
        self.out.push((u32::from(field.0), entry));
        Ok(())
    }

    /// Like [`Rebuild::emit`] but the field must be exact.
    fn emit_exact(
        &mut self,
        field: BasicField,
        f: Field,
        bits: u128,
        shift: u32,
        accept: &[u128],
    ) -> Result<(), MatchKeyError> {
        let (v, m) = self.take(f, bits, shift);
        if m == 0 {
            return Ok(());
        }
        if !accept.contains(&m) {
            return Err(MatchKeyError::NotRepresentable(f.name()));
        }
        self.out
            .push((u32::from(field.0), OxmField::exact(field, v)));
        Ok(())
    }
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_ARP: u16 = 0x0806;
const ETH_RARP: u16 = 0x8035;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MCAST: u16 = 0x8848;

/// Rebuilds the OXM match of a key and mask, in canonical form (see the
/// module documentation).
pub fn key_to_match(key: &FlowKey, mask: &FlowMask) -> Result<Match, MatchKeyError> {
    use BasicField as B;
    use Field as F;
    let mut r = Rebuild {
        key,
        left: *mask,
        out: Vec::new(),
    };
    let exact = |f: Field| mask.is_exact(f).then(|| key.get(f));
    let eth_type = exact(F::EthType).map(|v| v as u16);
    let nw_proto = exact(F::NwProto).map(|v| v as u8);

    r.emit_exact(B::IN_PORT, F::InPort, 0xffff_ffff, 0, &[0xffff_ffff])?;
    r.emit(B::METADATA, F::Metadata, u128::from(u64::MAX), 0)?;
    r.emit(B::ETH_DST, F::EthDst, F::EthDst.full_mask(), 0)?;
    r.emit(B::ETH_SRC, F::EthSrc, F::EthSrc.full_mask(), 0)?;
    r.emit_exact(B::ETH_TYPE, F::EthType, 0xffff, 0, &[0xffff])?;
    r.emit(B::VLAN_VID, F::VlanTci, 0x1fff, 0)?;
    r.emit_exact(B::VLAN_PCP, F::VlanTci, 0xe000, 13, &[0x7])?;
    r.emit_exact(B::IP_DSCP, F::NwTos, 0xfc, 2, &[0x3f])?;
    r.emit_exact(B::IP_ECN, F::NwTos, 0x03, 0, &[0x3])?;

    let ip = matches!(eth_type, Some(ETH_IPV4 | ETH_IPV6));
    let arp = matches!(eth_type, Some(ETH_ARP | ETH_RARP));
    let v6 = eth_type == Some(ETH_IPV6);
    if ip {
        r.emit_exact(B::IP_PROTO, F::NwProto, 0xff, 0, &[0xff])?;
    } else if arp {
        r.emit_exact(B::ARP_OP, F::NwProto, 0xff, 0, &[0xff])?;
    }
    if eth_type == Some(ETH_IPV4) {
        r.emit(B::IPV4_SRC, F::Ipv4Src, 0xffff_ffff, 0)?;
        r.emit(B::IPV4_DST, F::Ipv4Dst, 0xffff_ffff, 0)?;
    } else if arp {
        r.emit(B::ARP_SPA, F::Ipv4Src, 0xffff_ffff, 0)?;
        r.emit(B::ARP_TPA, F::Ipv4Dst, 0xffff_ffff, 0)?;
        r.emit(B::ARP_SHA, F::ArpSha, F::ArpSha.full_mask(), 0)?;
        r.emit(B::ARP_THA, F::ArpTha, F::ArpTha.full_mask(), 0)?;
    }
    if ip {
        match nw_proto {
            Some(6) => {
                r.emit(B::TCP_SRC, F::TpSrc, 0xffff, 0)?;
                r.emit(B::TCP_DST, F::TpDst, 0xffff, 0)?;
            }
            Some(17) => {
                r.emit(B::UDP_SRC, F::TpSrc, 0xffff, 0)?;
                r.emit(B::UDP_DST, F::TpDst, 0xffff, 0)?;
            }
            Some(132) => {
                r.emit(B::SCTP_SRC, F::TpSrc, 0xffff, 0)?;
                r.emit(B::SCTP_DST, F::TpDst, 0xffff, 0)?;
            }
            Some(1) if !v6 => {
                r.emit_exact(B::ICMPV4_TYPE, F::TpSrc, 0xffff, 0, &[0xff, 0xffff])?;
                r.emit_exact(B::ICMPV4_CODE, F::TpDst, 0xffff, 0, &[0xff, 0xffff])?;
            }
            Some(58) if v6 => {
                r.emit_exact(B::ICMPV6_TYPE, F::TpSrc, 0xffff, 0, &[0xff, 0xffff])?;
                r.emit_exact(B::ICMPV6_CODE, F::TpDst, 0xffff, 0, &[0xff, 0xffff])?;
            }
            _ => {}
        }
    }
    if v6 {
        r.emit(B::IPV6_SRC, F::Ipv6Src, u128::MAX, 0)?;
        r.emit(B::IPV6_DST, F::Ipv6Dst, u128::MAX, 0)?;
        r.emit(B::IPV6_FLABEL, F::Ipv6Label, 0xf_ffff, 0)?;
        if nw_proto == Some(58) {
            r.emit(B::IPV6_ND_TARGET, F::NdTarget, u128::MAX, 0)?;
            r.emit(B::IPV6_ND_SLL, F::ArpSha, F::ArpSha.full_mask(), 0)?;
            r.emit(B::IPV6_ND_TLL, F::ArpTha, F::ArpTha.full_mask(), 0)?;
        }
    }
    if matches!(eth_type, Some(ETH_MPLS | ETH_MPLS_MCAST)) {
        r.emit_exact(B::MPLS_LABEL, F::MplsLse0, 0xffff_f000, 12, &[0xf_ffff])?;
        r.emit_exact(B::MPLS_TC, F::MplsLse0, 0xe00, 9, &[0x7])?;
        r.emit_exact(B::MPLS_BOS, F::MplsLse0, 0x100, 8, &[0x1])?;
    }
    r.emit(B::TUNNEL_ID, F::TunId, u128::from(u64::MAX), 0)?;

    for (i, &f) in REG_FIELDS.iter().enumerate() {
        let (v, m) = r.take(f, 0xffff_ffff, 0);
        if m == 0 {
            continue;
        }
        let masked = m != 0xffff_ffff;
        let mut payload = (v as u32).to_be_bytes().to_vec();
        if masked {
            payload.extend_from_slice(&(m as u32).to_be_bytes());
        }
        let field = i as u8;
        let header = OxmHeader::new(OxmClass::NXM_1, field, masked, payload.len() as u8);
        r.out.push((
            0x1_0000 + u32::from(field),
            OxmField::Opaque { header, payload },
        ));
    }

    if let Some(&f) = F::ALL.iter().find(|&&f| !r.left.is_wild(f)) {
        return Err(MatchKeyError::NotRepresentable(f.name()));
    }
    r.out.sort_by_key(|(k, _)| *k);
    Ok(Match {
        fields: r.out.into_iter().map(|(_, f)| f).collect(),
    })
}

/// `m` in canonical form: entries sorted as [`key_to_match`] writes them,
/// masks covering all value bits written as exact, entries with an empty
/// mask dropped, value bits outside the mask cleared.  Two matches with the same canonical form match the same
/// packets (given the same field mapping).
pub fn canonical(m: &Match) -> Match {
    let mut out: Vec<(u32, OxmField)> = m
        .fields
        .iter()
        .filter_map(|f| match f {
            OxmField::Basic { field, value, mask } => {
                let vm = field.info().map_or(u128::MAX, |i| i.value_mask());
                let e = match mask {
                    // A zero mask matches everything: no entry at all.
                    Some(mm) if mm & vm == 0 => return None,
                    Some(mm) if mm & vm != vm => OxmField::masked(*field, value & mm & vm, mm & vm),
                    _ => OxmField::exact(*field, value & vm),
                };
                Some((u32::from(field.0), e))
            }
            OxmField::Opaque { header, .. } => Some((
                (u32::from(header.class().0) << 16) | u32::from(header.field()),
                f.clone(),
            )),
        })
        .collect();
    out.sort_by_key(|(k, _)| *k);
    Match {
        fields: out.into_iter().map(|(_, f)| f).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_match_key_vlan_and_tos_mapping() {
        let m = Match {
            fields: vec![
                OxmField::exact(BasicField::VLAN_VID, 0x1000 | 10),
                OxmField::exact(BasicField::VLAN_PCP, 5),
                OxmField::exact(BasicField::ETH_TYPE, 0x0800),
                OxmField::exact(BasicField::IP_DSCP, 46),
            ],
        };
        let (k, mask) = match_to_key(&m).unwrap();
        assert_eq!(mask.field(Field::VlanTci), 0xffff);
        assert_eq!(k.vlan_tci(), 0x1000 | 10 | (5 << 13));
        assert_eq!(mask.field(Field::NwTos), 0xfc);
        assert_eq!(k.nw_tos(), 46 << 2);
        let mut pkt = FlowKey::ZERO;
        pkt.set_vlan_tci(0x1000 | 10 | (5 << 13));
        pkt.set_eth_type(0x0800);
        pkt.set_nw_tos((46 << 2) | 1);
        assert!(pkt.matches(&k, &mask));
        // No tag: vlan_vid=OFPVID_NONE.
        let none = Match {
            fields: vec![OxmField::exact(BasicField::VLAN_VID, 0)],
        };
        let (k, mask) = match_to_key(&none).unwrap();
        assert!(!pkt.matches(&k, &mask));
        pkt.set_vlan_tci(0);
        assert!(pkt.matches(&k, &mask));
    }

    #[test]
    fn classifier_match_key_rejects_unsupported() {
        let m = Match {
            fields: vec![
                OxmField::exact(BasicField::ETH_TYPE, 0x88e7),
                OxmField::exact(BasicField::PBB_ISID, 5),
            ],
        };
        let e = match_to_key(&m).unwrap_err();
        assert_eq!(e, MatchKeyError::UnsupportedField("pbb_isid"));
        assert!(
            e.to_ofp_error()
                .is(crate::wire::ErrorType::BAD_MATCH, bad_match::BAD_FIELD)
        );
        let mut mask = FlowMask::default();
        mask.set_exact(Field::NwTtl);
        assert_eq!(
            key_to_match(&FlowKey::ZERO, &mask),
            Err(MatchKeyError::NotRepresentable("nw_ttl"))
        );
    }
}
