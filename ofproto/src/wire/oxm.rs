//! OXM: the OpenFlow Extensible Match (OpenFlow 1.3.5, section 7.2.3).
//!
//! A match is a list of type-length-value entries.  Each entry starts with a
//! 32-bit header:
//!
//! ```text
//!  31            16 15       9  8  7          0
//! +----------------+----------+---+------------+
//! |   oxm_class    | oxm_field| HM| oxm_length |
//! +----------------+----------+---+------------+
//! ```
//!
//! followed by `oxm_length` bytes: the value, and when HM is set a mask of
//! the same width.  Entries of class `OPENFLOW_BASIC` are the 40 fields of
//! OpenFlow 1.3 and are decoded into [`OxmField::Basic`], checked against
//! the field table ([`BasicField::info`]): width, maskability, value range,
//! value bits outside the mask, duplicates and prerequisites, each failure
//! answered with its `OFPBMC_*` code.  Entries of any other class (Nicira
//! `NXM_0`/`NXM_1`, experimenter `0xffff`, ...) are kept as
//! [`OxmField::Opaque`] bytes and re-encoded byte for byte; deciding whether
//! they are supported is the job of the layer that installs the flow.
//!
//! # Contracts
//!
//! - Decoding never panics and never reads past the declared lengths.
//! - For every input [`Match::decode`] accepts, [`Match::encode`] writes the
//!   same bytes again, except that padding is always written as zeros.
//! - Fields keep their wire order; nothing is sorted or merged.
//! - Prerequisites are checked against the whole match, so a prerequisite may
//!   come after the field that needs it.  (Open vSwitch checks them against
//!   the entries seen so far, so it needs prerequisites first; what it sends
//!   always has them first, so accepting both orders only accepts more.)
//!
//! # Maskable fields
//!
//! The spec allows masks on metadata, eth_src/dst, vlan_vid, ipv4_src/dst,
//! arp_spa/tpa/sha/tha, ipv6_src/dst, ipv6_flabel, pbb_isid, tunnel_id and
//! ipv6_exthdr.  Open vSwitch also accepts (and `ovs-ofctl` also sends)
//! masks on the TCP/UDP/SCTP ports and on ipv6_nd_target/sll/tll; those are
//! accepted here too, so real `ovs-ofctl` output decodes.
//!
//! # Where the answers differ from Open vSwitch 3.1
//!
//! The interop tests (`oxm_interop_tests.rs`) send the same bad input to
//! this codec and to `ovs-ofctl ofp-print` and check both answers; they
//! agree except for these deliberate choices:
//!
//! | input | here | Open vSwitch |
//! |---|---|---|
//! | basic OXM with a wrong length | `OFPBMC_BAD_LEN` | `OFPBMC_BAD_FIELD` |
//! | all-ones mask on a non-maskable field | `OFPBMC_BAD_MASK` | accepted |
//! | prerequisite after its dependent field | accepted | `OFPBMC_BAD_PREREQ` |
//! | `OFPMT_STANDARD` (1.1) match | `OFPBMC_BAD_TYPE` | accepted |
//! | Set-Field of an unknown basic field | `OFPBAC_BAD_SET_TYPE` | `OFPBAC_BAD_SET_LEN` |
//! | masked Set-Field | `OFPBAC_BAD_SET_ARGUMENT` | ONF error 4250 (`BAD_SET_MASK`) |
//! | repeated instruction type | `OFPBIC_UNSUP_INST` | ONF error 2600 (`DUP_INST`) |
//!
//! The last two are OpenFlow 1.4+ codes that Open vSwitch sends to 1.3
//! peers as ONF experimenter errors, which [`OfpError`] cannot carry.
//! Experimenter actions and instructions are kept here; Open vSwitch
//! rejects the ones it does not know while decoding.  Open vSwitch does not
//! implement `in_phy_port`, `pbb_isid` and `ipv6_exthdr` (it answers
//! `OFPBMC_BAD_FIELD`); this codec decodes them.

use bytes::{BufMut, BytesMut};

use super::codec::{Reader, pad_to, padding};
use super::error::{OfpError, bad_match};

/// An `oxm_class` value.  Open: unknown classes survive decoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OxmClass(pub u16);

impl OxmClass {
    /// Backward-compatible Nicira NXM class 0.
    pub const NXM_0: Self = Self(0x0000);
    /// Backward-compatible Nicira NXM class 1.
    pub const NXM_1: Self = Self(0x0001);
    /// The basic class of OpenFlow fields.
    pub const OPENFLOW_BASIC: Self = Self(0x8000);
    /// Experimenter class: the payload starts with a 32-bit experimenter id.
    pub const EXPERIMENTER: Self = Self(0xffff);

    /// The spec name (`OFPXMC_OPENFLOW_BASIC`), or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0000 => "OFPXMC_NXM_0",
            0x0001 => "OFPXMC_NXM_1",
            0x8000 => "OFPXMC_OPENFLOW_BASIC",
            0xffff => "OFPXMC_EXPERIMENTER",
            _ => return None,
        })
    }
}

impl std::fmt::Debug for OxmClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "OxmClass({:#06x})", self.0),
        }
    }
}

/// A raw 32-bit OXM header: class, field, has-mask bit and payload length.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OxmHeader(pub u32);

impl OxmHeader {
    /// Builds a header from its parts.  `field` is truncated to 7 bits.
    pub const fn new(class: OxmClass, field: u8, has_mask: bool, length: u8) -> Self {
        Self(
            (class.0 as u32) << 16
                | ((field as u32) & 0x7f) << 9
                | (has_mask as u32) << 8
                | length as u32,
        )
    }
    /// The `oxm_class`.
    #[allow(clippy::cast_possible_truncation)] // shifted/masked to fit: lossless
    pub const fn class(self) -> OxmClass {
        OxmClass((self.0 >> 16) as u16)
    }
    /// The 7-bit `oxm_field`.
    #[allow(clippy::cast_possible_truncation)] // shifted/masked to fit: lossless
    pub const fn field(self) -> u8 {
        ((self.0 >> 9) & 0x7f) as u8
    }
    /// The `oxm_hasmask` bit.
    pub const fn has_mask(self) -> bool {
        self.0 & 0x100 != 0
    }
    /// The `oxm_length`: payload bytes after the header.
    #[allow(clippy::cast_possible_truncation)] // shifted/masked to fit: lossless
    pub const fn length(self) -> u8 {
        (self.0 & 0xff) as u8
    }
    /// Class and field without the has-mask bit and length (`oxm_type`).
    pub const fn oxm_type(self) -> u32 {
        self.0 >> 9
    }
    /// The basic field this header names, when its class is `OPENFLOW_BASIC`.
    pub const fn basic_field(self) -> Option<BasicField> {
        if self.class().0 == OxmClass::OPENFLOW_BASIC.0 {
            Some(BasicField(self.field()))
        } else {
            None
        }
    }
}

impl std::fmt::Debug for OxmHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OxmHeader({:#010x}: ", self.0)?;
        match self.basic_field().and_then(BasicField::info) {
            Some(i) => f.write_str(i.name)?,
            None => write!(f, "{:?}/{}", self.class(), self.field())?,
        }
        write!(
            f,
            "{} len {})",
            if self.has_mask() { "/masked" } else { "" },
            self.length()
        )
    }
}

/// Prerequisite of a basic field (OpenFlow 1.3.5, table 12).
///
/// A prerequisite holds when the match contains the fields it names with
/// exact values, e.g. [`Prereq::Tcp`] needs `eth_type` 0x0800 or 0x86dd and
/// `ip_proto` 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Prereq {
    /// Always satisfied.
    None,
    /// `in_port` is present.
    InPort,
    /// `vlan_vid` is present with `OFPVID_PRESENT` set in value and mask.
    VlanPresent,
    /// `eth_type` is IPv4 (0x0800) or IPv6 (0x86dd).
    IpAny,
    /// `eth_type` is IPv4 (0x0800).
    Ipv4,
    /// `eth_type` is IPv6 (0x86dd).
    Ipv6,
    /// `eth_type` is ARP (0x0806), or RARP (0x8035) as Open vSwitch also allows.
    Arp,
    /// `eth_type` is MPLS unicast (0x8847) or multicast (0x8848).
    Mpls,
    /// `eth_type` is PBB (0x88e7).
    Pbb,
    /// [`Prereq::IpAny`] and `ip_proto` 6.
    Tcp,
    /// [`Prereq::IpAny`] and `ip_proto` 17.
    Udp,
    /// [`Prereq::IpAny`] and `ip_proto` 132.
    Sctp,
    /// [`Prereq::Ipv4`] and `ip_proto` 1.
    Icmpv4,
    /// [`Prereq::Ipv6`] and `ip_proto` 58.
    Icmpv6,
    /// [`Prereq::Icmpv6`] and `icmpv6_type` 135 or 136.
    Nd,
    /// [`Prereq::Icmpv6`] and `icmpv6_type` 135 (neighbor solicitation).
    NdSolicit,
    /// [`Prereq::Icmpv6`] and `icmpv6_type` 136 (neighbor advertisement).
    NdAdvert,
}

/// One row of the basic field table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// The field code.
    pub field: BasicField,
    /// Lowercase name without the `OXM_OF_` prefix (`"tcp_dst"`).
    pub name: &'static str,
    /// Value width in bytes (the payload is twice this when masked).
    pub width: u8,
    /// Number of low-order value bits in use; higher bits must be zero.
    pub bits: u8,
    /// True when a mask may be given (spec, plus what Open vSwitch accepts).
    pub maskable: bool,
    /// What the rest of the match must contain.
    pub prereq: Prereq,
    /// True when a Set-Field action may write the field.  Read-only:
    /// `in_port` and `in_phy_port` (the spec: not header fields),
    /// `eth_type`, `ip_proto` and `mpls_bos` (read-only in Open vSwitch),
    /// and the `ipv6_exthdr` pseudo-field.  `metadata` and `tunnel_id` are
    /// settable, as Open vSwitch allows.
    pub settable: bool,
    /// How the value is usually written for people.
    pub format: FieldFormat,
}

/// How a field's value is usually shown (the formatting column of Open
/// vSwitch's field table), for printers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldFormat {
    /// A decimal number.
    Decimal,
    /// A `0x`-prefixed hexadecimal number.
    Hex,
    /// An Ethernet address, `aa:bb:cc:dd:ee:ff`.
    Ethernet,
    /// An IPv4 address, dotted quad.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An OpenFlow port number (reserved ports by name).
    Port,
}

impl FieldInfo {
    /// All-ones value of this field's in-use bits.
    pub const fn value_mask(&self) -> u128 {
        if self.bits >= 128 {
            u128::MAX
        } else {
            (1u128 << self.bits) - 1
        }
    }
    /// All-ones over the whole width (the mask meaning "exact").
    pub const fn width_mask(&self) -> u128 {
        let bits = self.width as u32 * 8;
        if bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        }
    }
}

/// An `oxm_field` code within [`OxmClass::OPENFLOW_BASIC`].  Open: codes
/// beyond OpenFlow 1.3 can be named, but [`BasicField::info`] knows only
/// the 40 fields of 1.3 and decoding rejects the rest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BasicField(pub u8);

macro_rules! basic_fields {
    ($( $(#[$m:meta])* $konst:ident = $code:expr, $name:literal, $width:expr, $bits:expr,
        $maskable:expr, $prereq:ident, $settable:expr, $format:ident; )*) => {
        impl BasicField {
            $( $(#[$m])* pub const $konst: Self = Self($code); )*
        }
        /// The OpenFlow 1.3 basic fields, indexed by field code.
        static FIELDS: &[FieldInfo] = &[
            $( FieldInfo {
                field: BasicField($code),
                name: $name,
                width: $width,
                bits: $bits,
                maskable: $maskable,
                prereq: Prereq::$prereq,
                settable: $settable,
                format: FieldFormat::$format,
            }, )*
        ];
    };
}

const Y: bool = true;
const N: bool = false;

basic_fields! {
    /// Switch input port (32 bits).
    IN_PORT = 0, "in_port", 4, 32, N, None, N, Port;
    /// Switch physical input port (32 bits).
    IN_PHY_PORT = 1, "in_phy_port", 4, 32, N, InPort, N, Port;
    /// Metadata passed between tables (64 bits).
    METADATA = 2, "metadata", 8, 64, Y, None, Y, Hex;
    /// Ethernet destination address (48 bits).
    ETH_DST = 3, "eth_dst", 6, 48, Y, None, Y, Ethernet;
    /// Ethernet source address (48 bits).
    ETH_SRC = 4, "eth_src", 6, 48, Y, None, Y, Ethernet;
    /// Ethernet frame type (16 bits).
    ETH_TYPE = 5, "eth_type", 2, 16, N, None, N, Hex;
    /// VLAN id with `OFPVID_PRESENT` (13 bits).
    VLAN_VID = 6, "vlan_vid", 2, 13, Y, None, Y, Decimal;
    /// VLAN priority (3 bits).
    VLAN_PCP = 7, "vlan_pcp", 1, 3, N, VlanPresent, Y, Decimal;
    /// IP DSCP (6 bits in ToS field).
    IP_DSCP = 8, "ip_dscp", 1, 6, N, IpAny, Y, Decimal;
    /// IP ECN (2 bits in ToS field).
    IP_ECN = 9, "ip_ecn", 1, 2, N, IpAny, Y, Decimal;
    /// IP protocol (8 bits).
    IP_PROTO = 10, "ip_proto", 1, 8, N, IpAny, N, Decimal;
    /// IPv4 source address (32 bits).
    IPV4_SRC = 11, "ipv4_src", 4, 32, Y, Ipv4, Y, Ipv4;
    /// IPv4 destination address (32 bits).
    IPV4_DST = 12, "ipv4_dst", 4, 32, Y, Ipv4, Y, Ipv4;
    /// TCP source port (16 bits).
    TCP_SRC = 13, "tcp_src", 2, 16, Y, Tcp, Y, Decimal;
    /// TCP destination port (16 bits).
    TCP_DST = 14, "tcp_dst", 2, 16, Y, Tcp, Y, Decimal;
    /// UDP source port (16 bits).
    UDP_SRC = 15, "udp_src", 2, 16, Y, Udp, Y, Decimal;
    /// UDP destination port (16 bits).
    UDP_DST = 16, "udp_dst", 2, 16, Y, Udp, Y, Decimal;
    /// SCTP source port (16 bits).
    SCTP_SRC = 17, "sctp_src", 2, 16, Y, Sctp, Y, Decimal;
    /// SCTP destination port (16 bits).
    SCTP_DST = 18, "sctp_dst", 2, 16, Y, Sctp, Y, Decimal;
    /// ICMPv4 type (8 bits).
    ICMPV4_TYPE = 19, "icmpv4_type", 1, 8, N, Icmpv4, Y, Decimal;
    /// ICMPv4 code (8 bits).
    ICMPV4_CODE = 20, "icmpv4_code", 1, 8, N, Icmpv4, Y, Decimal;
    /// ARP opcode (16 bits).
    ARP_OP = 21, "arp_op", 2, 16, N, Arp, Y, Decimal;
    /// ARP source IPv4 address (32 bits).
    ARP_SPA = 22, "arp_spa", 4, 32, Y, Arp, Y, Ipv4;
    /// ARP target IPv4 address (32 bits).
    ARP_TPA = 23, "arp_tpa", 4, 32, Y, Arp, Y, Ipv4;
    /// ARP source hardware address (48 bits).
    ARP_SHA = 24, "arp_sha", 6, 48, Y, Arp, Y, Ethernet;
    /// ARP target hardware address (48 bits).
    ARP_THA = 25, "arp_tha", 6, 48, Y, Arp, Y, Ethernet;
    /// IPv6 source address (128 bits).
    IPV6_SRC = 26, "ipv6_src", 16, 128, Y, Ipv6, Y, Ipv6;
    /// IPv6 destination address (128 bits).
    IPV6_DST = 27, "ipv6_dst", 16, 128, Y, Ipv6, Y, Ipv6;
    /// IPv6 flow label (20 bits).
    IPV6_FLABEL = 28, "ipv6_flabel", 4, 20, Y, Ipv6, Y, Hex;
    /// ICMPv6 type (8 bits).
    ICMPV6_TYPE = 29, "icmpv6_type", 1, 8, N, Icmpv6, Y, Decimal;
    /// ICMPv6 code (8 bits).
    ICMPV6_CODE = 30, "icmpv6_code", 1, 8, N, Icmpv6, Y, Decimal;
    /// Target address for IPv6 neighbor discovery (128 bits).
    IPV6_ND_TARGET = 31, "ipv6_nd_target", 16, 128, Y, Nd, Y, Ipv6;
    /// Source link-layer address for ND solicitation (48 bits).
    IPV6_ND_SLL = 32, "ipv6_nd_sll", 6, 48, Y, NdSolicit, Y, Ethernet;
    /// Target link-layer address for ND advertisement (48 bits).
    IPV6_ND_TLL = 33, "ipv6_nd_tll", 6, 48, Y, NdAdvert, Y, Ethernet;
    /// MPLS label (20 bits).
    MPLS_LABEL = 34, "mpls_label", 4, 20, N, Mpls, Y, Decimal;
    /// MPLS traffic class (3 bits).
    MPLS_TC = 35, "mpls_tc", 1, 3, N, Mpls, Y, Decimal;
    /// MPLS bottom-of-stack bit (1 bit).
    MPLS_BOS = 36, "mpls_bos", 1, 1, N, Mpls, N, Decimal;
    /// PBB I-SID (24 bits).
    PBB_ISID = 37, "pbb_isid", 3, 24, Y, Pbb, Y, Hex;
    /// Logical port metadata of a tunnel (64 bits).
    TUNNEL_ID = 38, "tunnel_id", 8, 64, Y, None, Y, Hex;
    /// IPv6 extension header pseudo-field (9 bits).
    IPV6_EXTHDR = 39, "ipv6_exthdr", 2, 9, Y, Ipv6, N, Hex;
}

impl BasicField {
    /// The table row for this field, or `None` beyond OpenFlow 1.3.
    pub fn info(self) -> Option<&'static FieldInfo> {
        FIELDS.get(usize::from(self.0))
    }

    /// Every OpenFlow 1.3 basic field, in code order.
    pub fn all() -> &'static [FieldInfo] {
        FIELDS
    }

    /// Lowercase name without the `OXM_OF_` prefix, or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        self.info().map(|i| i.name)
    }

    /// The OXM header of this field: class `OPENFLOW_BASIC`, the right
    /// length for a masked or unmasked entry.  Unknown fields get length 0.
    pub fn header(self, masked: bool) -> OxmHeader {
        let width = self.info().map_or(0, |i| i.width);
        let len = if masked { width * 2 } else { width };
        OxmHeader::new(OxmClass::OPENFLOW_BASIC, self.0, masked, len)
    }
}

impl std::fmt::Debug for BasicField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "BasicField({})", self.0),
        }
    }
}

/// `OFPVID_PRESENT`: set in `vlan_vid` when a VLAN tag is present.
pub const OFPVID_PRESENT: u16 = 0x1000;
/// `OFPVID_NONE`: the `vlan_vid` value meaning "no VLAN tag".
pub const OFPVID_NONE: u16 = 0x0000;

/// Bits of the `ipv6_exthdr` pseudo-field (`ofp_ipv6exthdr_flags`).
pub mod ipv6_exthdr {
    /// "No next header" encountered.
    pub const NONEXT: u16 = 1 << 0;
    /// Encrypted Sec Payload header present.
    pub const ESP: u16 = 1 << 1;
    /// Authentication header present.
    pub const AUTH: u16 = 1 << 2;
    /// 1 or 2 dest headers present.
    pub const DEST: u16 = 1 << 3;
    /// Fragment header present.
    pub const FRAG: u16 = 1 << 4;
    /// Router header present.
    pub const ROUTER: u16 = 1 << 5;
    /// Hop-by-hop header present.
    pub const HOP: u16 = 1 << 6;
    /// Unexpected repeats encountered.
    pub const UNREP: u16 = 1 << 7;
    /// Unexpected sequencing encountered.
    pub const UNSEQ: u16 = 1 << 8;
}

/// One OXM entry of a match or a Set-Field action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OxmField {
    /// A field of class `OPENFLOW_BASIC`.
    ///
    /// `value` and `mask` hold the field's big-endian bytes as an unsigned
    /// number (a MAC address in the low 48 bits, an IPv6 address in all
    /// 128).  `mask: None` is an exact match; `Some(m)` is written with the
    /// HM bit even when `m` is all ones, so decoding then encoding keeps the
    /// form that was on the wire.  Encoding writes the low `width` bytes.
    Basic {
        /// Which field.
        field: BasicField,
        /// The value, right-aligned.
        value: u128,
        /// The mask (1 bits are matched), right-aligned.
        mask: Option<u128>,
    },
    /// An entry of another class, kept as it was on the wire.  `payload` is
    /// exactly `header.length()` bytes; for the experimenter class it starts
    /// with the 32-bit experimenter id.
    Opaque {
        /// The raw header.
        header: OxmHeader,
        /// The bytes after the header.
        payload: Vec<u8>,
    },
}

impl OxmField {
    /// An exact-match basic field.
    pub fn exact(field: BasicField, value: u128) -> Self {
        Self::Basic {
            field,
            value,
            mask: None,
        }
    }

    /// A masked basic field.
    pub fn masked(field: BasicField, value: u128, mask: u128) -> Self {
        Self::Basic {
            field,
            value,
            mask: Some(mask),
        }
    }

    /// The header this entry encodes with.
    pub fn header(&self) -> OxmHeader {
        match self {
            Self::Basic { field, mask, .. } => field.header(mask.is_some()),
            Self::Opaque { header, .. } => *header,
        }
    }

    /// The basic field, if this is one.
    pub fn basic_field(&self) -> Option<BasicField> {
        match self {
            Self::Basic { field, .. } => Some(*field),
            Self::Opaque { .. } => None,
        }
    }

    /// Bytes this entry takes on the wire, header included.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Basic { field, mask, .. } => {
                let width = field.info().map_or(0, |i| usize::from(i.width));
                4 + if mask.is_some() { 2 * width } else { width }
            }
            Self::Opaque { payload, .. } => 4 + payload.len().min(255),
        }
    }

    /// Writes header and payload (no padding).
    ///
    /// A basic field unknown to [`BasicField::info`] is written with an
    /// empty payload.  An opaque entry is written with its header's length
    /// set to the payload's (at most 255; [`Match::validate`] rejects a
    /// payload that does not fit or disagrees with the header).
    pub fn encode(&self, w: &mut BytesMut) {
        match self {
            Self::Basic { field, value, mask } => {
                w.put_u32(field.header(mask.is_some()).0);
                let width = field.info().map_or(0, |i| usize::from(i.width));
                put_be(w, *value, width);
                if let Some(m) = mask {
                    put_be(w, *m, width);
                }
            }
            Self::Opaque { header, payload } => {
                let len = u8::try_from(payload.len()).unwrap_or(u8::MAX);
                w.put_u32((header.0 & !0xff) | u32::from(len));
                w.put_slice(payload.get(..usize::from(len)).unwrap_or(payload));
            }
        }
    }

    /// Reads one entry and checks it on its own (length, mask, value), with
    /// `OFPBMC_*` errors.  Checks that need the whole match (duplicates,
    /// prerequisites) are [`Match::validate`]'s.
    pub fn decode(r: &mut Reader<'_>) -> Result<OxmField, OfpError> {
        let header = OxmHeader(r.u32().map_err(|_| MATCH_BAD_LEN)?);
        let payload = r
            .bytes(usize::from(header.length()))
            .map_err(|_| MATCH_BAD_LEN)?;
        let Some(field) = header.basic_field() else {
            if header.class() == OxmClass::EXPERIMENTER && payload.len() < 4 {
                return Err(OfpError::bad_match(
                    bad_match::BAD_LEN,
                    "experimenter OXM shorter than its experimenter id",
                ));
            }
            return Ok(Self::Opaque {
                header,
                payload: payload.to_vec(),
            });
        };
        let Some(info) = field.info() else {
            // Open vSwitch puts OpenFlow 1.5's `packet_type` (field 44, 32
            // bits, never masked) into the 1.3 matches it sends whenever a
            // field with prerequisites comes without an ethertype.  Keep it
            // opaque so such flow mods decode; the switch decides whether
            // the value is one it handles.
            if field == PACKET_TYPE_FIELD && !header.has_mask() && payload.len() == 4 {
                return Ok(Self::Opaque {
                    header,
                    payload: payload.to_vec(),
                });
            }
            return Err(OfpError::bad_match(
                bad_match::BAD_FIELD,
                "unknown OXM basic field",
            ));
        };
        let width = usize::from(info.width);
        let hm = header.has_mask();
        if payload.len() != if hm { 2 * width } else { width } {
            return Err(OfpError::bad_match(
                bad_match::BAD_LEN,
                "OXM length wrong for its field",
            ));
        }
        let value = get_be(payload.get(..width).unwrap_or_default());
        let mask = hm.then(|| get_be(payload.get(width..).unwrap_or_default()));
        check_basic(field, value, mask)?;
        Ok(Self::Basic { field, value, mask })
    }
}

/// OpenFlow 1.5's `packet_type` basic field, which Open vSwitch also sends
/// in OpenFlow 1.3 matches (see [`OxmField::decode`]).
pub const PACKET_TYPE_FIELD: BasicField = BasicField(44);

const MATCH_BAD_LEN: OfpError = OfpError::bad_match(bad_match::BAD_LEN, "match truncated");
const DUP_FIELD: OfpError = OfpError::bad_match(bad_match::DUP_FIELD, "field appears twice");

/// Writes the low `width` bytes of `v` big-endian.
fn put_be(w: &mut BytesMut, v: u128, width: usize) {
    let b = v.to_be_bytes();
    let width = width.min(b.len());
    w.put_slice(&b[b.len() - width..]);
}

/// Reads up to 16 big-endian bytes as a number.
fn get_be(b: &[u8]) -> u128 {
    b.iter()
        .take(16)
        .fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
}

/// `OFPMT_OXM`, the only match type of OpenFlow 1.3.
pub const OFPMT_OXM: u16 = 1;
/// `OFPMT_STANDARD`, the OpenFlow 1.1 match type (rejected).
pub const OFPMT_STANDARD: u16 = 0;

/// An `ofp_match` of type `OFPMT_OXM`: its entries in wire order.
#[derive(Clone, Debug, PartialEq, Eq, Default, Hash)]
pub struct Match {
    /// The entries, in wire order.
    pub fields: Vec<OxmField>,
}

impl Match {
    /// A match on everything (no fields).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a whole `ofp_match`: type, length, the entries and the padding
    /// to a multiple of 8, then validates it ([`Match::validate`]).
    ///
    /// Errors are `OFPET_BAD_MATCH`: `BAD_TYPE` for a type other than
    /// `OFPMT_OXM`; `BAD_LEN` for a length below 4, a match or padding that
    /// runs past the input, or a malformed entry length; and the per-field
    /// codes of [`OxmField::decode`] and [`Match::validate`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Match, OfpError> {
        let mtype = r.u16().map_err(|_| MATCH_BAD_LEN)?;
        let length = usize::from(r.u16().map_err(|_| MATCH_BAD_LEN)?);
        if mtype != OFPMT_OXM {
            return Err(OfpError::bad_match(
                bad_match::BAD_TYPE,
                "match type is not OFPMT_OXM",
            ));
        }
        if length < 4 {
            return Err(OfpError::bad_match(
                bad_match::BAD_LEN,
                "match length below 4",
            ));
        }
        let mut body = r.sub_with(length - 4, MATCH_BAD_LEN)?;
        r.skip(padding(length, 8)).map_err(|_| MATCH_BAD_LEN)?;
        let mut fields = Vec::new();
        while !body.is_empty() {
            fields.push(OxmField::decode(&mut body)?);
        }
        let m = Match { fields };
        m.validate()?;
        Ok(m)
    }

    /// Writes the `ofp_match`, padding included.
    pub fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        let body: usize = self.fields.iter().map(OxmField::encoded_len).sum();
        w.put_u16(OFPMT_OXM);
        w.put_u16(u16::try_from(4 + body).unwrap_or(u16::MAX));
        for f in &self.fields {
            f.encode(w);
        }
        pad_to(w, start, 8);
    }

    /// Bytes [`Match::encode`] writes, padding included.
    pub fn encoded_len(&self) -> usize {
        let len = 4 + self.fields.iter().map(OxmField::encoded_len).sum::<usize>();
        len + padding(len, 8)
    }

    /// Checks what needs the whole match: no field twice
    /// (`OFPBMC_DUP_FIELD`) and every basic field's prerequisites met
    /// (`OFPBMC_BAD_PREREQ`).  Also re-checks each basic entry as
    /// [`OxmField::decode`] does, so a match built in code can be validated
    /// before use.  Opaque entries are checked for duplicates only (same
    /// class and field, and for the experimenter class the same id).
    pub fn validate(&self) -> Result<(), OfpError> {
        let mut seen_basic: u64 = 0;
        let mut opaque = Vec::new();
        for f in &self.fields {
            match f {
                OxmField::Basic { field, value, mask } => {
                    check_basic(*field, *value, *mask)?;
                    let bit = 1u64 << (field.0 & 63);
                    if seen_basic & bit != 0 {
                        return Err(DUP_FIELD);
                    }
                    seen_basic |= bit;
                }
                OxmField::Opaque { header, payload } => {
                    let short_exp = header.class() == OxmClass::EXPERIMENTER && payload.len() < 4;
                    if usize::from(header.length()) != payload.len() || short_exp {
                        return Err(OfpError::bad_match(
                            bad_match::BAD_LEN,
                            "OXM length disagrees with its payload",
                        ));
                    }
                    opaque.push(opaque_key(*header, payload));
                }
            }
        }
        // Sorting keeps this O(n log n) for matches of thousands of entries.
        opaque.sort_unstable();
        if opaque.windows(2).any(|w| w[0] == w[1]) {
            return Err(DUP_FIELD);
        }
        let ctx = PrereqCtx::of(self);
        for f in &self.fields {
            if let OxmField::Basic { field, .. } = f {
                let prereq = field.info().map_or(Prereq::None, |i| i.prereq);
                if !ctx.met(prereq) {
                    return Err(OfpError::bad_match(
                        bad_match::BAD_PREREQ,
                        "match field prerequisite not met",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The first entry for basic field `field`.
    pub fn get(&self, field: BasicField) -> Option<&OxmField> {
        self.fields.iter().find(|f| f.basic_field() == Some(field))
    }

    /// Value and mask of basic field `field`, if present.
    pub fn basic(&self, field: BasicField) -> Option<(u128, Option<u128>)> {
        self.fields.iter().find_map(|f| match f {
            OxmField::Basic {
                field: g,
                value,
                mask,
            } if *g == field => Some((*value, *mask)),
            _ => None,
        })
    }

    /// The exact value of `field`: present, and unmasked or with an
    /// all-ones mask.
    pub fn exact_value(&self, field: BasicField) -> Option<u128> {
        let (value, mask) = self.basic(field)?;
        let full = field.info()?.width_mask();
        match mask {
            None => Some(value),
            Some(m) if m & full == full => Some(value),
            Some(_) => None,
        }
    }

    /// Whether this match satisfies `prereq`.  Also used to check that a
    /// Set-Field action is consistent with a flow's match.
    pub fn prereq_met(&self, prereq: Prereq) -> bool {
        PrereqCtx::of(self).met(prereq)
    }
}

/// What makes two opaque entries "the same field": class and field, and
/// for the experimenter class the experimenter id.
fn opaque_key(h: OxmHeader, payload: &[u8]) -> (u32, Option<u32>) {
    let exp = (h.class() == OxmClass::EXPERIMENTER).then(|| {
        payload
            .iter()
            .take(4)
            .fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
    });
    (h.oxm_type(), exp)
}

/// The values prerequisites look at, gathered once per match.
struct PrereqCtx {
    eth_type: Option<u128>,
    ip_proto: Option<u128>,
    icmpv6_type: Option<u128>,
    in_port: bool,
    vlan_present: bool,
}

impl PrereqCtx {
    fn of(m: &Match) -> Self {
        let present = u128::from(OFPVID_PRESENT);
        Self {
            eth_type: m.exact_value(BasicField::ETH_TYPE),
            ip_proto: m.exact_value(BasicField::IP_PROTO),
            icmpv6_type: m.exact_value(BasicField::ICMPV6_TYPE),
            in_port: m.basic(BasicField::IN_PORT).is_some(),
            vlan_present: matches!(m.basic(BasicField::VLAN_VID),
                Some((v, mask)) if v & present != 0 && mask.is_none_or(|m| m & present != 0)),
        }
    }

    fn met(&self, prereq: Prereq) -> bool {
        let is = |v: u128| self.eth_type == Some(v);
        let proto = self.ip_proto;
        let ip_any = is(0x0800) || is(0x86dd);
        let icmpv6 = is(0x86dd) && proto == Some(58);
        match prereq {
            Prereq::None => true,
            Prereq::InPort => self.in_port,
            Prereq::VlanPresent => self.vlan_present,
            Prereq::IpAny => ip_any,
            Prereq::Ipv4 => is(0x0800),
            Prereq::Ipv6 => is(0x86dd),
            Prereq::Arp => is(0x0806) || is(0x8035),
            Prereq::Mpls => is(0x8847) || is(0x8848),
            Prereq::Pbb => is(0x88e7),
            Prereq::Tcp => ip_any && proto == Some(6),
            Prereq::Udp => ip_any && proto == Some(17),
            Prereq::Sctp => ip_any && proto == Some(132),
            Prereq::Icmpv4 => is(0x0800) && proto == Some(1),
            Prereq::Icmpv6 => icmpv6,
            Prereq::Nd => icmpv6 && matches!(self.icmpv6_type, Some(135 | 136)),
            Prereq::NdSolicit => icmpv6 && self.icmpv6_type == Some(135),
            Prereq::NdAdvert => icmpv6 && self.icmpv6_type == Some(136),
        }
    }
}

/// Checks one basic entry on its own: known field, mask allowed, no value
/// bits outside the mask, value in range.
fn check_basic(
    field: BasicField,
    value: u128,
    mask: Option<u128>,
) -> Result<&'static FieldInfo, OfpError> {
    let Some(info) = field.info() else {
        return Err(OfpError::bad_match(
            bad_match::BAD_FIELD,
            "unknown OXM basic field",
        ));
    };
    // A mask wider than the field can only come from code, not the wire.
    if mask.is_some_and(|m| !info.maskable || m & !info.width_mask() != 0) {
        return Err(OfpError::bad_match(
            bad_match::BAD_MASK,
            "mask on a non-maskable field",
        ));
    }
    if mask.is_some_and(|m| value & !m != 0) {
        return Err(OfpError::bad_match(
            bad_match::BAD_WILDCARDS,
            "OXM value has bits set outside its mask",
        ));
    }
    if value & !info.value_mask() != 0 {
        return Err(OfpError::bad_match(
            bad_match::BAD_VALUE,
            "OXM value out of range",
        ));
    }
    Ok(info)
}

/// An OXM id as listed in table-features properties (`OFPTFPT_MATCH`,
/// `OFPTFPT_WILDCARDS`, `OFPTFPT_*_SETFIELD*`): a bare header, 4 bytes,
/// or for the experimenter class the header and the experimenter id,
/// 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OxmId {
    /// The header as sent (its length and HM bit are kept as they were).
    pub header: OxmHeader,
    /// The experimenter id, present exactly when the class is experimenter.
    pub experimenter: Option<u32>,
}

impl OxmId {
    /// The id of basic field `field`, unmasked.
    pub fn basic(field: BasicField) -> Self {
        Self {
            header: field.header(false),
            experimenter: None,
        }
    }

    /// Bytes this id takes on the wire.
    pub fn encoded_len(&self) -> usize {
        if self.header.class() == OxmClass::EXPERIMENTER {
            8
        } else {
            4
        }
    }
}

/// Reads a list of OXM ids filling all of `r` (the body of a table-features
/// OXM property, without its padding).  Runs out of input with `r`'s own
/// short-input error, so the caller picks e.g. `OFPTFFC_BAD_LEN`.
pub fn decode_oxm_ids(r: &mut Reader<'_>) -> Result<Vec<OxmId>, OfpError> {
    let mut ids = Vec::with_capacity(r.remaining() / 4);
    while !r.is_empty() {
        let header = OxmHeader(r.u32()?);
        let experimenter = if header.class() == OxmClass::EXPERIMENTER {
            Some(r.u32()?)
        } else {
            None
        };
        ids.push(OxmId {
            header,
            experimenter,
        });
    }
    Ok(ids)
}

/// Writes a list of OXM ids (no padding; the property owns its padding).
/// The experimenter id is written exactly when the class is experimenter
/// (0 if missing); it is ignored for other classes.
pub fn encode_oxm_ids(ids: &[OxmId], w: &mut BytesMut) {
    for id in ids {
        w.put_u32(id.header.0);
        if id.header.class() == OxmClass::EXPERIMENTER {
            w.put_u32(id.experimenter.unwrap_or(0));
        }
    }
}

#[cfg(test)]
#[path = "oxm_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "oxm_interop_tests.rs"]
mod interop_tests;
