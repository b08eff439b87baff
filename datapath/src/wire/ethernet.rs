//! Ethernet II / 802.3 frames, 802.1Q/802.1ad VLAN tags, MPLS label stack
//! entries and ARP/RARP (Ethernet + IPv4 flavour).

use super::{Error, get16, get32, mac, put16, put32, view_common};

mod field {
    use core::ops::Range;
    pub(super) const DST: Range<usize> = 0..6;
    pub(super) const SRC: Range<usize> = 6..12;
    pub(super) const ETHERTYPE: usize = 12;
    pub(super) const PAYLOAD: usize = 14;
}

/// An Ethernet header view (destination, source, EtherType/length).
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(EthernetFrame);

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Length of the untagged header.
    pub const HEADER_LEN: usize = field::PAYLOAD;

    /// Ok if the buffer holds the 14-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < field::PAYLOAD {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Destination MAC.
    #[inline]
    pub fn dst(&self) -> [u8; 6] {
        mac(self.buffer.as_ref(), field::DST.start)
    }
    /// Source MAC.
    #[inline]
    pub fn src(&self) -> [u8; 6] {
        mac(self.buffer.as_ref(), field::SRC.start)
    }
    /// EtherType (or 802.3 length if below 0x600).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        get16(self.buffer.as_ref(), field::ETHERTYPE)
    }
    /// Bytes after the 14-byte header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC.
    #[inline]
    pub fn set_dst(&mut self, m: [u8; 6]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&m);
    }
    /// Sets the source MAC.
    #[inline]
    pub fn set_src(&mut self, m: [u8; 6]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&m);
    }
    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::ETHERTYPE, v)
    }
}

/// 802.2 LLC + SNAP header following an 802.3 length field: if it is
/// `AA AA 03 00 00 00 <type>`, the frame carries that EtherType.
pub fn snap_ethertype(payload: &[u8]) -> Option<u16> {
    match payload {
        [0xaa, 0xaa, 0x03, 0, 0, 0, a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    }
}

/// A VLAN tag body as it follows a TPID: TCI then the inner EtherType.
#[derive(Debug, Clone)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(VlanTag);

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Length of the tag body (TCI + inner EtherType).
    pub const LEN: usize = 4;
    /// Ok if the buffer holds TCI and inner EtherType.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < 4 {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Tag control information (PCP, DEI, VID).
    #[inline]
    pub fn tci(&self) -> u16 {
        get16(self.buffer.as_ref(), 0)
    }
    /// EtherType following the tag.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        get16(self.buffer.as_ref(), 2)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    /// Sets the TCI.
    #[inline]
    pub fn set_tci(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 0, v)
    }
}

/// One MPLS label stack entry (label 20 bits, TC 3, bottom-of-stack 1, TTL 8).
#[derive(Debug, Clone)]
pub struct MplsLse<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(MplsLse);

impl<T: AsRef<[u8]>> MplsLse<T> {
    /// Length of one entry.
    pub const LEN: usize = 4;
    /// Ok if the buffer holds one entry.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < 4 {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// The whole 32-bit entry.
    #[inline]
    pub fn lse(&self) -> u32 {
        get32(self.buffer.as_ref(), 0)
    }
    /// Label.
    #[inline]
    pub fn label(&self) -> u32 {
        self.lse() >> 12
    }
    /// Traffic class.
    #[inline]
    pub fn tc(&self) -> u8 {
        ((self.lse() >> 9) & 7) as u8
    }
    /// Bottom of stack.
    #[inline]
    pub fn bos(&self) -> bool {
        self.lse() & 0x100 != 0
    }
    /// TTL.
    #[inline]
    pub fn ttl(&self) -> u8 {
        (self.lse() & 0xff) as u8
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MplsLse<T> {
    /// Sets the whole entry.
    #[inline]
    pub fn set_lse(&mut self, v: u32) {
        put32(self.buffer.as_mut(), 0, v)
    }
}

mod arp_field {
    pub(super) const HTYPE: usize = 0;
    pub(super) const PTYPE: usize = 2;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: usize = 6;
    pub(super) const SHA: usize = 8;
    pub(super) const SPA: usize = 14;
    pub(super) const THA: usize = 18;
    pub(super) const TPA: usize = 24;
    pub(super) const END: usize = 28;
}

/// ARP/RARP packet for Ethernet hardware and IPv4 protocol addresses.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(ArpPacket);

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Length of an Ethernet/IPv4 ARP body.
    pub const LEN: usize = arp_field::END;
    /// Ok if the buffer holds an Ethernet/IPv4 ARP body (htype 1,
    /// ptype 0x0800, hlen 6, plen 4); other flavours are `Malformed`.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < arp_field::END {
            return Err(Error::Truncated);
        }
        if get16(b, arp_field::HTYPE) != 1
            || get16(b, arp_field::PTYPE) != 0x0800
            || b[arp_field::HLEN] != 6
            || b[arp_field::PLEN] != 4
        {
            return Err(Error::Malformed);
        }
        Ok(())
    }
    /// Operation (1 request, 2 reply, 3/4 RARP).
    #[inline]
    pub fn oper(&self) -> u16 {
        get16(self.buffer.as_ref(), arp_field::OPER)
    }
    /// Sender hardware address.
    #[inline]
    pub fn sha(&self) -> [u8; 6] {
        mac(self.buffer.as_ref(), arp_field::SHA)
    }
    /// Sender protocol address.
    #[inline]
    pub fn spa(&self) -> u32 {
        get32(self.buffer.as_ref(), arp_field::SPA)
    }
    /// Target hardware address.
    #[inline]
    pub fn tha(&self) -> [u8; 6] {
        mac(self.buffer.as_ref(), arp_field::THA)
    }
    /// Target protocol address.
    #[inline]
    pub fn tpa(&self) -> u32 {
        get32(self.buffer.as_ref(), arp_field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the operation.
    #[inline]
    pub fn set_oper(&mut self, v: u16) {
        put16(self.buffer.as_mut(), arp_field::OPER, v)
    }
    /// Sets the sender hardware address.
    #[inline]
    pub fn set_sha(&mut self, m: [u8; 6]) {
        self.buffer.as_mut()[arp_field::SHA..arp_field::SHA + 6].copy_from_slice(&m)
    }
    /// Sets the sender protocol address.
    #[inline]
    pub fn set_spa(&mut self, v: u32) {
        put32(self.buffer.as_mut(), arp_field::SPA, v)
    }
    /// Sets the target hardware address.
    #[inline]
    pub fn set_tha(&mut self, m: [u8; 6]) {
        self.buffer.as_mut()[arp_field::THA..arp_field::THA + 6].copy_from_slice(&m)
    }
    /// Sets the target protocol address.
    #[inline]
    pub fn set_tpa(&mut self, v: u32) {
        put32(self.buffer.as_mut(), arp_field::TPA, v)
    }
}
