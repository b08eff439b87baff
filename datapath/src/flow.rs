//! Flow keys and masks, and one-pass extraction of a key from a packet.
//!
//! # Layout
//!
//! A [`FlowKey`] is a fixed array of [`FLOW_WORDS`] 64-bit words; every
//! field lives at a fixed bit position inside one word (128-bit addresses
//! take two whole words, high half first).  Values are stored as host-order
//! integers (an IPv4 address `10.0.0.1` is `0x0a00_0001`, a MAC is the
//! 48-bit big-endian number), so a prefix mask is "the high bits" in every
//! field and masking a key is one `AND` per word.  The words are grouped in
//! four stages, in the order a staged classifier consults them
//! ([`STAGE_ENDS`] gives the word index where each stage ends):
//!
//! | word | stage    | bits 0..16  | 16..32  | 32..48 | 48..64 |
//! |------|----------|-------------|---------|--------|--------|
//! | 0    | metadata | in_port (0..32) || recirc_id (32..64) ||
//! | 1    | metadata | dp_hash (0..32) || pkt_mark (32..64) ||
//! | 2    | metadata | OpenFlow metadata (u64) ||||
//! | 3    | metadata | tun_id (u64) ||||
//! | 4    | metadata | tun_src (0..32) || tun_dst (32..64) ||
//! | 5-8  | metadata | reg0..reg7, two per word (even reg low half) ||||
//! | 9    | L2       | eth_src (0..48) ||| eth_type |
//! | 10   | L2       | eth_dst (0..48) ||| vlan_tci (outer) |
//! | 11   | L2       | vlan_tpid | vlan_inner_tpid | vlan_inner_tci | - |
//! | 12   | L2       | mpls_lse0 (0..32) || mpls_lse1 (32..64) ||
//! | 13   | L2       | mpls_lse2 (0..32) || - ||
//! | 14   | L3       | ipv4_src (0..32) || ipv4_dst (32..64) ||
//! | 15-16| L3       | ipv6_src (128 bits) ||||
//! | 17-18| L3       | ipv6_dst (128 bits) ||||
//! | 19   | L3       | ipv6_label (0..32) || nw_proto, nw_tos | nw_ttl, nw_frag |
//! | 20   | L3       | arp_sha / nd_sll (0..48) ||| - |
//! | 21   | L3       | arp_tha / nd_tll (0..48) ||| - |
//! | 22-23| L3       | nd_target (128 bits) ||||
//! | 24   | L4       | tp_src | tp_dst | tcp_flags | - |
//!
//! Conventions follow Open vSwitch so that OpenFlow matches translate
//! one-to-one:
//! * an 802.3 frame (length field below 0x600) without a SNAP header has
//!   `eth_type` 0x05ff; with an LLC/SNAP header of OUI 0 the SNAP type is
//!   used and parsing continues;
//! * `vlan_tci` carries bit 0x1000 (CFI/DEI) set when a tag is present, so
//!   `vlan_tci == 0` means "no VLAN"; the packet's real DEI bit is not kept;
//!   with two tags the outer one is `vlan_tci`/`vlan_tpid` and the inner one
//!   `vlan_inner_*`; the `eth_type` is the one after the last tag;
//! * ARP/RARP: `nw_proto` is the low byte of the opcode (if it fits in 8
//!   bits), `ipv4_src`/`ipv4_dst` are SPA/TPA, `arp_sha`/`arp_tha` SHA/THA;
//! * ICMP and ICMPv6: `tp_src` is the type, `tp_dst` the code;
//! * ND (ICMPv6 135/136 code 0): `nd_target`, and the SLL/TLL option in
//!   `arp_sha`/`arp_tha`; a malformed option list clears all three;
//! * `nw_frag` has [`FRAG_ANY`] for any fragment and [`FRAG_LATER`] for one
//!   with a non-zero offset, which carries no L4 fields;
//! * `nw_tos` is the whole TOS/traffic-class byte (DSCP << 2 | ECN).
//!
//! Tunnel fields are placeholders (never filled by extraction yet);
//! connection-tracking fields are not in the key.
//!
//! # Why this shape
//!
//! A flat word array makes masking, hashing and comparing keys tight loops
//! with no per-field branches, needs no `unsafe` to view the key as words,
//! and lets a cache subtable precompute which words its mask touches.  The
//! stage grouping lets the OpenFlow classifier stop at the first stage that
//! rules out a subtable, so it un-wildcards only the stages it looked at.
//!
//! # Extraction contract
//!
//! [`extract`] reads the frame once, only through checked [`crate::wire`]
//! views, never panics, and fills as much of the key as parses: a frame
//! truncated inside a header leaves that header's fields (and everything
//! after it) zero.  It also records the layer offsets in the packet.

use crate::packet::Packet;
use crate::wire::ethernet::snap_ethertype;
use crate::wire::ip::is_ipv6_ext;
use crate::wire::transport::{ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ND_OPT_SLL, ND_OPT_TLL};
use crate::wire::{
    ArpPacket, EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6ExtHeader, Ipv6FragHeader, Ipv6Packet,
    MplsLse, NdOption, SctpPacket, TcpPacket, UdpPacket, VlanTag, ethertype, ipproto,
};

/// Number of 64-bit words in a [`FlowKey`].
pub const FLOW_WORDS: usize = 25;

/// Word index where the metadata, L2, L3 and L4 stages end (exclusive).
pub const STAGE_ENDS: [usize; 4] = [9, 14, 24, 25];

/// The word indices of stage `stage` (0 metadata, 1 L2, 2 L3, 3 L4);
/// empty for a stage past the last.
pub fn stage_words(stage: usize) -> std::ops::Range<usize> {
    let start = if stage == 0 {
        0
    } else {
        STAGE_ENDS.get(stage - 1).copied().unwrap_or(FLOW_WORDS)
    };
    let end = STAGE_ENDS.get(stage).copied().unwrap_or(FLOW_WORDS);
    start..end
}

/// `nw_frag` bit: the packet is a fragment.
pub const FRAG_ANY: u8 = 1;
/// `nw_frag` bit: the packet is a fragment with a non-zero offset.
pub const FRAG_LATER: u8 = 2;

/// `vlan_tci` bit meaning "a tag is present".
pub const VLAN_PRESENT: u16 = 0x1000;

/// Most MPLS label stack entries recorded in the key.
pub const MPLS_MAX_LSES: usize = 3;

/// A flow key: the packet's header fields in a fixed word layout (see the
/// module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
#[repr(C, align(8))]
pub struct FlowKey {
    w: [u64; FLOW_WORDS],
}

/// A flow mask: a [`FlowKey`] whose 1 bits mark the significant bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct FlowMask {
    /// The mask bits, in key layout.
    pub key: FlowKey,
}

#[inline]
fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $variant:ident = ($word:expr, $shift:expr, $bits:expr, $name:literal); )*) => {
        /// The fields of a [`FlowKey`], for generic access
        /// ([`FlowKey::get`], [`FlowKey::set`], [`FlowMask::set_field`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Field {
            $( $(#[$doc])* $variant, )*
        }

        impl Field {
            /// Every field, in layout order.
            pub const ALL: &'static [Field] = &[ $( Field::$variant, )* ];

            /// `(word, bit shift, width in bits)` of the field; a 128-bit
            /// field occupies `word` (high half) and `word + 1`.
            pub const fn layout(self) -> (usize, u32, u32) {
                match self { $( Field::$variant => ($word, $shift, $bits), )* }
            }

            /// Short lower-case name (as in `ovs-dpctl` output where one exists).
            pub const fn name(self) -> &'static str {
                match self { $( Field::$variant => $name, )* }
            }
        }
    };
}

fields! {
    /// Ingress datapath port.
    InPort = (0, 0, 32, "in_port");
    /// Recirculation id.
    RecircId = (0, 32, 32, "recirc_id");
    /// Datapath hash.
    DpHash = (1, 0, 32, "dp_hash");
    /// Packet mark.
    PktMark = (1, 32, 32, "pkt_mark");
    /// OpenFlow metadata.
    Metadata = (2, 0, 64, "metadata");
    /// Tunnel id (placeholder).
    TunId = (3, 0, 64, "tun_id");
    /// Tunnel IPv4 source (placeholder).
    TunSrc = (4, 0, 32, "tun_src");
    /// Tunnel IPv4 destination (placeholder).
    TunDst = (4, 32, 32, "tun_dst");
    /// Register 0.
    Reg0 = (5, 0, 32, "reg0");
    /// Register 1.
    Reg1 = (5, 32, 32, "reg1");
    /// Register 2.
    Reg2 = (6, 0, 32, "reg2");
    /// Register 3.
    Reg3 = (6, 32, 32, "reg3");
    /// Register 4.
    Reg4 = (7, 0, 32, "reg4");
    /// Register 5.
    Reg5 = (7, 32, 32, "reg5");
    /// Register 6.
    Reg6 = (8, 0, 32, "reg6");
    /// Register 7.
    Reg7 = (8, 32, 32, "reg7");
    /// Ethernet source.
    EthSrc = (9, 0, 48, "eth_src");
    /// EtherType after the VLAN tags (0x05ff for plain 802.3).
    EthType = (9, 48, 16, "eth_type");
    /// Ethernet destination.
    EthDst = (10, 0, 48, "eth_dst");
    /// Outer VLAN TCI, with [`VLAN_PRESENT`] set when tagged.
    VlanTci = (10, 48, 16, "vlan_tci");
    /// Outer VLAN TPID (0x8100 or 0x88a8).
    VlanTpid = (11, 0, 16, "vlan_tpid");
    /// Inner VLAN TPID.
    VlanInnerTpid = (11, 16, 16, "vlan_inner_tpid");
    /// Inner VLAN TCI, with [`VLAN_PRESENT`] set when present.
    VlanInnerTci = (11, 32, 16, "vlan_inner_tci");
    /// First (top) MPLS label stack entry.
    MplsLse0 = (12, 0, 32, "mpls_lse0");
    /// Second MPLS label stack entry.
    MplsLse1 = (12, 32, 32, "mpls_lse1");
    /// Third MPLS label stack entry.
    MplsLse2 = (13, 0, 32, "mpls_lse2");
    /// IPv4 source (ARP SPA).
    Ipv4Src = (14, 0, 32, "ipv4_src");
    /// IPv4 destination (ARP TPA).
    Ipv4Dst = (14, 32, 32, "ipv4_dst");
    /// IPv6 source.
    Ipv6Src = (15, 0, 128, "ipv6_src");
    /// IPv6 destination.
    Ipv6Dst = (17, 0, 128, "ipv6_dst");
    /// IPv6 flow label (20 bits).
    Ipv6Label = (19, 0, 32, "ipv6_label");
    /// IP protocol / ARP opcode.
    NwProto = (19, 32, 8, "nw_proto");
    /// IP TOS byte (DSCP << 2 | ECN).
    NwTos = (19, 40, 8, "nw_tos");
    /// IP TTL / hop limit.
    NwTtl = (19, 48, 8, "nw_ttl");
    /// Fragment bits ([`FRAG_ANY`], [`FRAG_LATER`]).
    NwFrag = (19, 56, 8, "nw_frag");
    /// ARP SHA / ND source link-layer address.
    ArpSha = (20, 0, 48, "arp_sha");
    /// ARP THA / ND target link-layer address.
    ArpTha = (21, 0, 48, "arp_tha");
    /// ND target.
    NdTarget = (22, 0, 128, "nd_target");
    /// L4 source port / ICMP type.
    TpSrc = (24, 0, 16, "tp_src");
    /// L4 destination port / ICMP code.
    TpDst = (24, 16, 16, "tp_dst");
    /// TCP flags (12 bits).
    TcpFlags = (24, 32, 16, "tcp_flags");
}

impl Field {
    /// Width of the field in bits.
    pub const fn bits(self) -> u32 {
        self.layout().2
    }

    /// The field's all-ones value.
    pub const fn full_mask(self) -> u128 {
        let b = self.bits();
        if b >= 128 {
            u128::MAX
        } else {
            (1u128 << b) - 1
        }
    }

    /// Stage (0 metadata, 1 L2, 2 L3, 3 L4) holding the field.
    pub fn stage(self) -> usize {
        let w = self.layout().0;
        STAGE_ENDS.iter().position(|&e| w < e).unwrap_or(3)
    }
}

macro_rules! int_accessors {
    ($( $get:ident, $set:ident, $ty:ty, $field:ident; )*) => {
        impl FlowKey { $(
            #[doc = concat!("The `", stringify!($get), "` field.")]
            #[inline]
            pub fn $get(&self) -> $ty {
                self.get(Field::$field) as $ty
            }
            #[doc = concat!("Sets the `", stringify!($get), "` field.")]
            #[inline]
            pub fn $set(&mut self, v: $ty) {
                self.set(Field::$field, v as u128)
            }
        )* }
    };
}

int_accessors! {
    in_port, set_in_port, u32, InPort;
    recirc_id, set_recirc_id, u32, RecircId;
    dp_hash, set_dp_hash, u32, DpHash;
    pkt_mark, set_pkt_mark, u32, PktMark;
    metadata, set_metadata, u64, Metadata;
    tun_id, set_tun_id, u64, TunId;
    tun_src, set_tun_src, u32, TunSrc;
    tun_dst, set_tun_dst, u32, TunDst;
    eth_type, set_eth_type, u16, EthType;
    vlan_tci, set_vlan_tci, u16, VlanTci;
    vlan_tpid, set_vlan_tpid, u16, VlanTpid;
    vlan_inner_tci, set_vlan_inner_tci, u16, VlanInnerTci;
    vlan_inner_tpid, set_vlan_inner_tpid, u16, VlanInnerTpid;
    ipv4_src, set_ipv4_src, u32, Ipv4Src;
    ipv4_dst, set_ipv4_dst, u32, Ipv4Dst;
    ipv6_label, set_ipv6_label, u32, Ipv6Label;
    nw_proto, set_nw_proto, u8, NwProto;
    nw_tos, set_nw_tos, u8, NwTos;
    nw_ttl, set_nw_ttl, u8, NwTtl;
    nw_frag, set_nw_frag, u8, NwFrag;
    tp_src, set_tp_src, u16, TpSrc;
    tp_dst, set_tp_dst, u16, TpDst;
    tcp_flags, set_tcp_flags, u16, TcpFlags;
}

macro_rules! mac_accessors {
    ($( $get:ident, $set:ident, $field:ident; )*) => {
        impl FlowKey { $(
            #[doc = concat!("The `", stringify!($get), "` MAC address.")]
            #[inline]
            pub fn $get(&self) -> [u8; 6] {
                u64_to_mac(self.get(Field::$field) as u64)
            }
            #[doc = concat!("Sets the `", stringify!($get), "` MAC address.")]
            #[inline]
            pub fn $set(&mut self, m: [u8; 6]) {
                self.set(Field::$field, u128::from(mac_to_u64(m)))
            }
        )* }
    };
}

mac_accessors! {
    eth_src, set_eth_src, EthSrc;
    eth_dst, set_eth_dst, EthDst;
    arp_sha, set_arp_sha, ArpSha;
    arp_tha, set_arp_tha, ArpTha;
}

macro_rules! ip6_accessors {
    ($( $get:ident, $set:ident, $field:ident; )*) => {
        impl FlowKey { $(
            #[doc = concat!("The `", stringify!($get), "` IPv6 address.")]
            #[inline]
            pub fn $get(&self) -> [u8; 16] {
                self.get(Field::$field).to_be_bytes()
            }
            #[doc = concat!("Sets the `", stringify!($get), "` IPv6 address.")]
            #[inline]
            pub fn $set(&mut self, a: [u8; 16]) {
                self.set(Field::$field, u128::from_be_bytes(a))
            }
        )* }
    };
}

ip6_accessors! {
    ipv6_src, set_ipv6_src, Ipv6Src;
    ipv6_dst, set_ipv6_dst, Ipv6Dst;
    nd_target, set_nd_target, NdTarget;
}

/// A MAC address as the 48-bit number stored in the key.
pub fn mac_to_u64(m: [u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

/// The inverse of [`mac_to_u64`].
pub fn u64_to_mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Per-word hashing constants (splitmix64 sequence), so that a word's
/// position matters.
const SECRETS: [[u64; 2]; FLOW_WORDS] = {
    let mut out = [[0u64; 2]; FLOW_WORDS];
    let mut s: u64 = 0x243f_6a88_85a3_08d3;
    let mut i = 0;
    while i < FLOW_WORDS {
        let mut j = 0;
        while j < 2 {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            out[i][j] = (z ^ (z >> 31)) | 1;
            j += 1;
        }
        i += 1;
    }
    out
};

/// Folded 64x64->128 multiply: the core of the word hash.  Each word is
/// hashed independently (so the multiplies pipeline) and the terms summed.
#[inline(always)]
fn term(s: &[u64; 2], w: u64) -> u64 {
    let r = u128::from(w ^ s[0]) * u128::from(s[1]);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn finish(h: u64) -> u64 {
    let r = u128::from(h ^ 0xe703_7ed1_a0b4_28db) * u128::from(0x8ebc_6af0_9c88_c6e3u64);
    (r as u64) ^ ((r >> 64) as u64)
}

impl FlowKey {
    /// A key with every field zero.
    pub const ZERO: FlowKey = FlowKey { w: [0; FLOW_WORDS] };

    /// The key as words (see the layout table).
    #[inline]
    pub fn as_words(&self) -> &[u64] {
        &self.w
    }

    /// The key as a mutable word array.
    #[inline]
    pub fn words_mut(&mut self) -> &mut [u64; FLOW_WORDS] {
        &mut self.w
    }

    /// A key from raw words.
    pub const fn from_words(w: [u64; FLOW_WORDS]) -> FlowKey {
        FlowKey { w }
    }

    /// Reads any field as an integer (MACs as 48-bit numbers, IPv6
    /// addresses as 128-bit numbers).
    #[inline]
    pub fn get(&self, f: Field) -> u128 {
        let (word, shift, bits) = f.layout();
        if bits == 128 {
            (u128::from(self.w[word]) << 64) | u128::from(self.w[word + 1])
        } else {
            u128::from((self.w[word] >> shift) & low_mask(bits))
        }
    }

    /// Writes any field; bits of `v` beyond the field width are ignored.
    #[inline]
    pub fn set(&mut self, f: Field, v: u128) {
        let (word, shift, bits) = f.layout();
        if bits == 128 {
            self.w[word] = (v >> 64) as u64;
            self.w[word + 1] = v as u64;
        } else {
            let m = low_mask(bits) << shift;
            self.w[word] = (self.w[word] & !m) | (((v as u64) << shift) & m);
        }
    }

    /// Writes the bits of `v` selected by `mask` into a field.
    #[inline]
    pub fn set_masked(&mut self, f: Field, v: u128, mask: u128) {
        let old = self.get(f);
        self.set(f, (old & !mask) | (v & mask));
    }

    /// The MPLS label stack entry `i` (0 = top), if `i < 3`.
    pub fn mpls_lse(&self, i: usize) -> u32 {
        match i {
            0 => self.get(Field::MplsLse0) as u32,
            1 => self.get(Field::MplsLse1) as u32,
            2 => self.get(Field::MplsLse2) as u32,
            _ => 0,
        }
    }

    /// Sets MPLS label stack entry `i` (ignored if `i >= 3`).
    pub fn set_mpls_lse(&mut self, i: usize, v: u32) {
        let f = match i {
            0 => Field::MplsLse0,
            1 => Field::MplsLse1,
            2 => Field::MplsLse2,
            _ => return,
        };
        self.set(f, u128::from(v));
    }

    /// OpenFlow register `i` (0..8); 0 for other `i`.
    pub fn reg(&self, i: usize) -> u32 {
        if i >= 8 {
            return 0;
        }
        (self.w[5 + i / 2] >> ((i % 2) * 32)) as u32
    }

    /// Sets OpenFlow register `i` (ignored if `i >= 8`).
    pub fn set_reg(&mut self, i: usize, v: u32) {
        if i < 8 {
            let shift = (i % 2) * 32;
            let w = &mut self.w[5 + i / 2];
            *w = (*w & !(0xffff_ffffu64 << shift)) | (u64::from(v) << shift);
        }
    }

    /// ICMP type (alias of `tp_src` for ICMP/ICMPv6 flows).
    pub fn icmp_type(&self) -> u8 {
        self.tp_src() as u8
    }

    /// ICMP code (alias of `tp_dst` for ICMP/ICMPv6 flows).
    pub fn icmp_code(&self) -> u8 {
        self.tp_dst() as u8
    }

    /// ARP opcode (alias of `nw_proto` for ARP flows).
    pub fn arp_op(&self) -> u8 {
        self.nw_proto()
    }

    /// This key with every bit outside `m` cleared.
    #[inline]
    pub fn masked(&self, m: &FlowMask) -> FlowKey {
        let mut out = FlowKey::ZERO;
        for ((o, k), mw) in out.w.iter_mut().zip(&self.w).zip(&m.key.w) {
            *o = k & mw;
        }
        out
    }

    /// Hash of the masked key (equal masked keys hash equal).
    #[inline]
    pub fn hash_masked(&self, m: &FlowMask, basis: u64) -> u64 {
        let mut h = basis;
        for ((k, mw), s) in self.w.iter().zip(&m.key.w).zip(&SECRETS) {
            h = h.wrapping_add(term(s, k & mw));
        }
        finish(h)
    }

    /// Hash of the masked key over only the words listed in `words`
    /// (those where the mask is non-zero); equal to itself for keys
    /// that agree on those masked words.
    #[inline]
    pub fn hash_words(&self, m: &FlowMask, words: &[u8], basis: u64) -> u64 {
        let mut h = basis;
        for &i in words {
            let i = usize::from(i);
            if let (Some(k), Some(mw), Some(s)) = (self.w.get(i), m.key.w.get(i), SECRETS.get(i)) {
                h = h.wrapping_add(term(s, k & mw));
            }
        }
        finish(h)
    }

    /// Hash of the whole key.
    #[inline]
    pub fn hash(&self, basis: u64) -> u64 {
        let mut h = basis;
        // Two words per multiply (wyhash-style); the odd last word alone.
        let mut pairs = self.w.chunks_exact(2);
        for (p, s) in (&mut pairs).zip(&SECRETS) {
            let r = u128::from(p[0] ^ s[0]) * u128::from(p[1] ^ s[1]);
            h = h.wrapping_add((r as u64) ^ ((r >> 64) as u64));
        }
        if let ([k], Some(s)) = (pairs.remainder(), SECRETS.last()) {
            h = h.wrapping_add(term(s, *k));
        }
        finish(h)
    }

    /// Like [`FlowKey::matches`] but only compares the listed words (the
    /// mask must be zero elsewhere).
    #[inline]
    pub fn matches_words(&self, rule: &FlowKey, m: &FlowMask, words: &[u8]) -> bool {
        words.iter().all(|&i| {
            let i = usize::from(i);
            match (self.w.get(i), rule.w.get(i), m.key.w.get(i)) {
                (Some(k), Some(r), Some(mw)) => (k ^ r) & mw == 0,
                _ => true,
            }
        })
    }

    /// True if this key, masked by `m`, equals `rule` masked by `m`
    /// (`rule` need not be pre-masked).
    #[inline]
    pub fn matches(&self, rule: &FlowKey, m: &FlowMask) -> bool {
        self.w
            .iter()
            .zip(&rule.w)
            .zip(&m.key.w)
            .all(|((k, r), mw)| (k ^ r) & mw == 0)
    }
}

impl FlowMask {
    /// The mask that matches everything (all bits wildcarded).
    pub const CATCHALL: FlowMask = FlowMask { key: FlowKey::ZERO };

    /// The mask with every bit significant.
    pub const fn exact() -> FlowMask {
        FlowMask {
            key: FlowKey {
                w: [u64::MAX; FLOW_WORDS],
            },
        }
    }

    /// Makes field `f` fully significant.
    pub fn set_exact(&mut self, f: Field) -> &mut Self {
        self.key.set(f, f.full_mask());
        self
    }

    /// ORs `mask` into field `f`'s significant bits.
    pub fn set_field(&mut self, f: Field, mask: u128) -> &mut Self {
        let old = self.key.get(f);
        self.key.set(f, old | mask);
        self
    }

    /// The significant bits of field `f`.
    pub fn field(&self, f: Field) -> u128 {
        self.key.get(f)
    }

    /// True if every bit of `f` is significant.
    pub fn is_exact(&self, f: Field) -> bool {
        self.key.get(f) == f.full_mask()
    }

    /// True if no bit of `f` is significant.
    pub fn is_wild(&self, f: Field) -> bool {
        self.key.get(f) == 0
    }

    /// Adds the significant bits of `other` to this mask.
    pub fn union_with(&mut self, other: &FlowMask) {
        for (a, b) in self.key.w.iter_mut().zip(&other.key.w) {
            *a |= b;
        }
    }

    /// True if every significant bit of `self` is significant in `other`.
    pub fn is_subset_of(&self, other: &FlowMask) -> bool {
        self.key
            .w
            .iter()
            .zip(&other.key.w)
            .all(|(a, b)| a & !b == 0)
    }

    /// This mask with every word from stage `stage + 1` on cleared: what
    /// a staged lookup that stopped after `stage` (0 metadata, 1 L2, 2 L3,
    /// 3 L4) has consulted.
    pub fn up_to_stage(&self, stage: usize) -> FlowMask {
        let end = STAGE_ENDS.get(stage).copied().unwrap_or(FLOW_WORDS);
        let mut m = *self;
        for w in m.key.w.iter_mut().skip(end) {
            *w = 0;
        }
        m
    }

    /// Indices of the non-zero mask words.
    pub fn nonzero_words(&self) -> impl Iterator<Item = usize> + '_ {
        self.key
            .w
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0)
            .map(|(i, _)| i)
    }
}

impl FlowKey {
    /// Writes the fields significant in `mask` as `name=value[/mask]`
    /// separated by commas (hex values; a fully wildcarded key prints
    /// nothing).  For logs and debugging dumps.
    pub fn fmt_masked(&self, mask: &FlowMask, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        let mut first = true;
        for &f in Field::ALL {
            let m = mask.field(f);
            if m == 0 {
                continue;
            }
            if !first {
                out.write_char(',')?;
            }
            first = false;
            let v = self.get(f) & m;
            if m == f.full_mask() {
                write!(out, "{}={:#x}", f.name(), v)?;
            } else {
                write!(out, "{}={:#x}/{:#x}", f.name(), v, m)?;
            }
        }
        Ok(())
    }
}

/// Upper bound on IPv6 extension headers walked (guards the loop).
const MAX_IPV6_EXT: usize = 16;

/// Extracts the flow key of `pkt` into `key` (overwriting it) and records
/// the packet's layer offsets.  `in_port` and `recirc_id` come from the
/// packet's metadata.  Never panics; see the module documentation.
pub fn extract(pkt: &mut Packet, key: &mut FlowKey) {
    *key = FlowKey::ZERO;
    key.set_in_port(pkt.in_port);
    key.set_recirc_id(pkt.recirc_id);
    let (l3, l4) = parse(pkt.data(), key);
    pkt.set_offsets(Some(0), l3, l4);
}

/// The parse proper: fills `key` from `frame`, returns the L3 and L4
/// offsets it reached.
fn parse(frame: &[u8], key: &mut FlowKey) -> (Option<usize>, Option<usize>) {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return (None, None);
    };
    key.set_eth_src(eth.src());
    key.set_eth_dst(eth.dst());
    let mut ofs = EthernetFrame::<&[u8]>::HEADER_LEN;
    let mut ty = eth.ethertype();

    // VLAN tags: up to two, outer first.
    let mut ntags = 0;
    while (ty == ethertype::VLAN || ty == ethertype::QINQ) && ntags < 2 {
        let Some(rest) = frame.get(ofs..) else {
            return (None, None);
        };
        let Ok(tag) = VlanTag::new_checked(rest) else {
            // Truncated tag: OVS leaves the key with no eth_type.
            return (None, None);
        };
        let tci = tag.tci() | VLAN_PRESENT;
        if ntags == 0 {
            key.set_vlan_tci(tci);
            key.set_vlan_tpid(ty);
        } else {
            key.set_vlan_inner_tci(tci);
            key.set_vlan_inner_tpid(ty);
        }
        ty = tag.ethertype();
        ofs += VlanTag::<&[u8]>::LEN;
        ntags += 1;
    }

    // 802.3 length field, possibly with an LLC/SNAP header.
    if ty < ethertype::MIN {
        let payload = frame.get(ofs..).unwrap_or(&[]);
        match snap_ethertype(payload) {
            Some(t) if t >= ethertype::MIN => {
                ty = t;
                ofs += 8;
            }
            _ => {
                key.set_eth_type(ethertype::NONE_802_3);
                return (None, None);
            }
        }
    }
    key.set_eth_type(ty);
    let l3 = ofs;
    let rest = frame.get(l3..).unwrap_or(&[]);

    match ty {
        ethertype::MPLS | ethertype::MPLS_MCAST => {
            let mut o = 0;
            let mut i = 0;
            while let Some(Ok(lse)) = rest.get(o..).map(MplsLse::new_checked) {
                key.set_mpls_lse(i, lse.lse());
                i += 1;
                o += 4;
                if lse.bos() || i >= MPLS_MAX_LSES {
                    break;
                }
            }
            (Some(l3), None)
        }
        ethertype::IPV4 => {
            let l4 = parse_ipv4(rest, key);
            (Some(l3), l4.map(|o| l3 + o))
        }
        ethertype::IPV6 => {
            let l4 = parse_ipv6(rest, key);
            (Some(l3), l4.map(|o| l3 + o))
        }
        ethertype::ARP | ethertype::RARP => {
            if let Ok(arp) = ArpPacket::new_checked(rest) {
                let op = arp.oper();
                if op <= 0xff {
                    key.set_nw_proto(op as u8);
                }
                key.set_ipv4_src(arp.spa());
                key.set_ipv4_dst(arp.tpa());
                key.set_arp_sha(arp.sha());
                key.set_arp_tha(arp.tha());
            }
            (Some(l3), None)
        }
        _ => (Some(l3), None),
    }
}

/// IPv4 header and L4; returns the L4 offset relative to `ip`.
fn parse_ipv4(ip: &[u8], key: &mut FlowKey) -> Option<usize> {
    let v4 = Ipv4Packet::new_checked(ip).ok()?;
    let hl = v4.header_len();
    key.set_ipv4_src(v4.src());
    key.set_ipv4_dst(v4.dst());
    key.set_nw_proto(v4.protocol());
    key.set_nw_tos(v4.tos());
    key.set_nw_ttl(v4.ttl());
    // Trim Ethernet padding when the total length is sane.
    let tot = usize::from(v4.total_len());
    let end = if tot >= hl && tot <= ip.len() {
        tot
    } else {
        ip.len()
    };
    if v4.more_frags() || v4.frag_offset() != 0 {
        let mut f = FRAG_ANY;
        if v4.frag_offset() != 0 {
            f |= FRAG_LATER;
            key.set_nw_frag(f);
            return None;
        }
        key.set_nw_frag(f);
    }
    let l4 = ip.get(hl..end)?;
    parse_l4(v4.protocol(), l4, key, false);
    Some(hl)
}

/// IPv6 header, extension headers and L4; returns the L4 offset.
fn parse_ipv6(ip: &[u8], key: &mut FlowKey) -> Option<usize> {
    let v6 = Ipv6Packet::new_checked(ip).ok()?;
    key.set_ipv6_src(v6.src());
    key.set_ipv6_dst(v6.dst());
    key.set_ipv6_label(v6.flow_label());
    let plen = usize::from(v6.payload_len());
    let end = if plen != 0 && Ipv6Packet::<&[u8]>::HEADER_LEN + plen <= ip.len() {
        Ipv6Packet::<&[u8]>::HEADER_LEN + plen
    } else {
        ip.len()
    };
    let mut ofs = Ipv6Packet::<&[u8]>::HEADER_LEN;
    let mut next = v6.next_header();
    let mut frag = 0u8;
    for _ in 0..MAX_IPV6_EXT {
        if !is_ipv6_ext(next) {
            break;
        }
        let rest = ip.get(ofs..end)?;
        if next == ipproto::FRAGMENT {
            let fh = Ipv6FragHeader::new_checked(rest).ok()?;
            frag = FRAG_ANY;
            next = fh.next_header();
            ofs += Ipv6FragHeader::<&[u8]>::LEN;
            if fh.frag_offset() != 0 {
                frag |= FRAG_LATER;
                break;
            }
        } else {
            let eh = Ipv6ExtHeader::new_checked(rest).ok()?;
            let len = eh.header_len(next);
            if rest.len() < len {
                return None;
            }
            next = eh.next_header();
            ofs += len;
        }
    }
    key.set_nw_proto(next);
    key.set_nw_tos(v6.traffic_class());
    key.set_nw_ttl(v6.hop_limit());
    key.set_nw_frag(frag);
    if frag & FRAG_LATER != 0 {
        return None;
    }
    let l4 = ip.get(ofs..end)?;
    parse_l4(next, l4, key, true);
    Some(ofs)
}

fn parse_l4(proto: u8, l4: &[u8], key: &mut FlowKey, v6: bool) {
    match proto {
        ipproto::TCP => {
            if let Ok(t) = TcpPacket::new_checked(l4) {
                key.set_tp_src(t.src_port());
                key.set_tp_dst(t.dst_port());
                key.set_tcp_flags(t.flags());
            }
        }
        ipproto::UDP => {
            if let Ok(u) = UdpPacket::new_checked(l4) {
                key.set_tp_src(u.src_port());
                key.set_tp_dst(u.dst_port());
            }
        }
        ipproto::SCTP => {
            if let Ok(s) = SctpPacket::new_checked(l4) {
                key.set_tp_src(s.src_port());
                key.set_tp_dst(s.dst_port());
            }
        }
        ipproto::ICMP if !v6 => {
            if let Ok(i) = IcmpPacket::new_checked(l4) {
                key.set_tp_src(u16::from(i.msg_type()));
                key.set_tp_dst(u16::from(i.code()));
            }
        }
        ipproto::ICMPV6 if v6 => {
            if let Ok(i) = IcmpPacket::new_checked(l4) {
                key.set_tp_src(u16::from(i.msg_type()));
                key.set_tp_dst(u16::from(i.code()));
                let t = i.msg_type();
                if (t == ND_NEIGHBOR_SOLICIT || t == ND_NEIGHBOR_ADVERT)
                    && i.code() == 0
                    && i.check_nd().is_ok()
                {
                    parse_nd(&i, key);
                }
            }
        }
        _ => {}
    }
}

fn parse_nd(i: &IcmpPacket<&[u8]>, key: &mut FlowKey) {
    let Some(target) = i.nd_target() else { return };
    key.set_nd_target(target);
    let solicit = i.msg_type() == ND_NEIGHBOR_SOLICIT;
    let mut opts = i.nd_options();
    let mut sll = None;
    let mut tll = None;
    let mut ok = true;
    while !opts.is_empty() {
        let Ok(o) = NdOption::new_checked(opts) else {
            ok = false;
            break;
        };
        let len = o.option_len();
        match (o.opt_type(), o.ll_addr()) {
            // A repeated SLL/TLL option makes the message invalid.
            (ND_OPT_SLL, Some(m)) if solicit && sll.replace(m).is_some() => {
                ok = false;
                break;
            }
            (ND_OPT_TLL, Some(m)) if !solicit && tll.replace(m).is_some() => {
                ok = false;
                break;
            }
            _ => {}
        }
        opts = opts.get(len..).unwrap_or(&[]);
    }
    if !ok {
        key.set_nd_target([0; 16]);
        return;
    }
    if let Some(m) = sll {
        key.set_arp_sha(m);
    }
    if let Some(m) = tll {
        key.set_arp_tha(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_get_set_roundtrip_and_isolation() {
        for &f in Field::ALL {
            let mut k = FlowKey::ZERO;
            k.set(f, u128::MAX);
            assert_eq!(k.get(f), f.full_mask(), "{f:?}");
            for &g in Field::ALL {
                if g != f {
                    assert_eq!(k.get(g), 0, "{f:?} leaks into {g:?}");
                }
            }
        }
    }

    #[test]
    fn fields_within_stage_bounds() {
        for &f in Field::ALL {
            let (w, s, b) = f.layout();
            let last = if b == 128 { w + 1 } else { w };
            assert!(last < FLOW_WORDS);
            assert!(b == 128 || s + b <= 64);
            assert_eq!(
                Field::stage(f),
                STAGE_ENDS.iter().position(|&e| last < e).unwrap()
            );
        }
    }

    #[test]
    fn stages() {
        assert_eq!(stage_words(0), 0..9);
        assert_eq!(stage_words(3), 24..25);
        assert_eq!(stage_words(4), 25..25);
        let mut m = FlowMask::default();
        m.set_exact(Field::InPort)
            .set_exact(Field::EthDst)
            .set_exact(Field::TpDst);
        let l2 = m.up_to_stage(1);
        assert!(l2.is_exact(Field::InPort) && l2.is_exact(Field::EthDst));
        assert!(l2.is_wild(Field::TpDst));
        assert_eq!(m.up_to_stage(3), m);
    }

    #[test]
    fn masked_match_and_hash() {
        let mut a = FlowKey::ZERO;
        a.set_ipv4_src(0x0a00_0001);
        a.set_tp_dst(80);
        let mut b = a;
        b.set_tp_dst(81);
        let mut m = FlowMask::default();
        m.set_exact(Field::Ipv4Src);
        assert!(a.matches(&b, &m));
        assert_eq!(a.hash_masked(&m, 1), b.hash_masked(&m, 1));
        let words: Vec<u8> = m.nonzero_words().map(|i| i as u8).collect();
        assert_eq!(a.hash_words(&m, &words, 1), b.hash_words(&m, &words, 1));
        m.set_exact(Field::TpDst);
        assert!(!a.matches(&b, &m));
        assert_eq!(a.masked(&m), a);
        m.set_field(Field::Ipv4Dst, 0xff00_0000);
        let mut s = String::new();
        a.fmt_masked(&m, &mut s).unwrap();
        assert_eq!(s, "ipv4_src=0xa000001,ipv4_dst=0x0/0xff000000,tp_dst=0x50");
    }
}
