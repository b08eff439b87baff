//! IPv4 (with options), IPv6 and the IPv6 extension headers the datapath
//! walks (hop-by-hop, routing, destination options, fragment, AH).

use super::{Error, addr16, get16, get32, ipproto, put16, put32, view_common};

mod v4 {
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOS: usize = 1;
    pub(super) const LEN: usize = 2;
    pub(super) const ID: usize = 4;
    pub(super) const FLG_OFF: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTO: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC: usize = 12;
    pub(super) const DST: usize = 16;
    pub(super) const MIN: usize = 20;
}

/// An IPv4 header view.  `check_len` requires version 4, IHL >= 5 and the
/// whole header including options in the buffer.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(Ipv4Packet);

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Length of a header without options.
    pub const MIN_LEN: usize = v4::MIN;
    /// Checks version, IHL and that the header with options fits.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < v4::MIN {
            return Err(Error::Truncated);
        }
        if b[v4::VER_IHL] >> 4 != 4 || usize::from(b[v4::VER_IHL] & 0xf) * 4 < v4::MIN {
            return Err(Error::Malformed);
        }
        if b.len() < self.header_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// Header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[v4::VER_IHL] & 0xf) * 4
    }
    /// Type of service byte (DSCP << 2 | ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[v4::TOS]
    }
    /// Total length field.
    #[inline]
    pub fn total_len(&self) -> u16 {
        get16(self.buffer.as_ref(), v4::LEN)
    }
    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        get16(self.buffer.as_ref(), v4::ID)
    }
    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        get16(self.buffer.as_ref(), v4::FLG_OFF) & 0x2000 != 0
    }
    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        get16(self.buffer.as_ref(), v4::FLG_OFF) & 0x1fff
    }
    /// TTL.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[v4::TTL]
    }
    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[v4::PROTO]
    }
    /// Header checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), v4::CHECKSUM)
    }
    /// Source address.
    #[inline]
    pub fn src(&self) -> u32 {
        get32(self.buffer.as_ref(), v4::SRC)
    }
    /// Destination address.
    #[inline]
    pub fn dst(&self) -> u32 {
        get32(self.buffer.as_ref(), v4::DST)
    }
    /// Bytes after the header (options skipped).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the TOS byte.
    #[inline]
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[v4::TOS] = v
    }
    /// Sets the TTL.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[v4::TTL] = v
    }
    /// Sets the header checksum.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), v4::CHECKSUM, v)
    }
    /// Sets the source address.
    #[inline]
    pub fn set_src(&mut self, v: u32) {
        put32(self.buffer.as_mut(), v4::SRC, v)
    }
    /// Sets the destination address.
    #[inline]
    pub fn set_dst(&mut self, v: u32) {
        put32(self.buffer.as_mut(), v4::DST, v)
    }
}

mod v6 {
    pub(super) const VER_TC_FL: usize = 0;
    pub(super) const PAYLOAD_LEN: usize = 4;
    pub(super) const NEXT: usize = 6;
    pub(super) const HOP: usize = 7;
    pub(super) const SRC: usize = 8;
    pub(super) const DST: usize = 24;
    pub(super) const LEN: usize = 40;
}

/// An IPv6 fixed header view.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(Ipv6Packet);

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = v6::LEN;
    /// Checks the buffer holds 40 bytes and the version is 6.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < v6::LEN {
            return Err(Error::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        Ok(())
    }
    fn first_word(&self) -> u32 {
        get32(self.buffer.as_ref(), v6::VER_TC_FL)
    }
    /// Traffic class (DSCP << 2 | ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((self.first_word() >> 20) & 0xff) as u8
    }
    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0xf_ffff
    }
    /// Payload length.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        get16(self.buffer.as_ref(), v6::PAYLOAD_LEN)
    }
    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[v6::NEXT]
    }
    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[v6::HOP]
    }
    /// Source address.
    #[inline]
    pub fn src(&self) -> [u8; 16] {
        addr16(self.buffer.as_ref(), v6::SRC)
    }
    /// Destination address.
    #[inline]
    pub fn dst(&self) -> [u8; 16] {
        addr16(self.buffer.as_ref(), v6::DST)
    }
    /// Bytes after the fixed header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[v6::LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn set_first_word(&mut self, v: u32) {
        put32(self.buffer.as_mut(), v6::VER_TC_FL, v)
    }
    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = self.first_word();
        self.set_first_word((w & 0xf00f_ffff) | (u32::from(tc) << 20))
    }
    /// Sets the flow label (low 20 bits of `v`).
    #[inline]
    pub fn set_flow_label(&mut self, v: u32) {
        let w = self.first_word();
        self.set_first_word((w & 0xfff0_0000) | (v & 0xf_ffff))
    }
    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[v6::HOP] = v
    }
    /// Sets the source address.
    #[inline]
    pub fn set_src(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[v6::SRC..v6::SRC + 16].copy_from_slice(&a)
    }
    /// Sets the destination address.
    #[inline]
    pub fn set_dst(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[v6::DST..v6::DST + 16].copy_from_slice(&a)
    }
}

/// True for the extension headers [`Ipv6ExtHeader`] knows how to skip.
pub fn is_ipv6_ext(next: u8) -> bool {
    matches!(
        next,
        ipproto::HOPOPTS | ipproto::ROUTING | ipproto::DSTOPTS | ipproto::AH | ipproto::FRAGMENT
    )
}

/// A generic IPv6 extension header (hop-by-hop, routing, destination
/// options, AH): next header and a length byte.  The kind must be given
/// because AH counts its length in 4-byte units, the others in 8.
#[derive(Debug, Clone)]
pub struct Ipv6ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(Ipv6ExtHeader);

impl<T: AsRef<[u8]>> Ipv6ExtHeader<T> {
    /// Checks that the 2-byte prefix fits (use [`Self::header_len`] and
    /// compare with the buffer before skipping).
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < 8 {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Length of this header in bytes for header kind `kind`.
    #[inline]
    pub fn header_len(&self, kind: u8) -> usize {
        let l = usize::from(self.buffer.as_ref()[1]);
        if kind == ipproto::AH {
            (l + 2) * 4
        } else {
            (l + 1) * 8
        }
    }
}

/// IPv6 fragment header (8 bytes).
#[derive(Debug, Clone)]
pub struct Ipv6FragHeader<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(Ipv6FragHeader);

impl<T: AsRef<[u8]>> Ipv6FragHeader<T> {
    /// Length of the header.
    pub const LEN: usize = 8;
    /// Ok if the 8-byte header fits.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < 8 {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        get16(self.buffer.as_ref(), 2) >> 3
    }
    /// More fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        get16(self.buffer.as_ref(), 2) & 1 != 0
    }
    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        get32(self.buffer.as_ref(), 4)
    }
}
