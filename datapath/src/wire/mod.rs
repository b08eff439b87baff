//! Zero-copy views of the packet headers the datapath parses.
//!
//! Every header type is a thin wrapper `Xxx<T: AsRef<[u8]>>` around a byte
//! buffer whose first byte is the first byte of that header.  Field
//! positions are named `Range`/`usize` constants in a private `field`
//! module of each file, so the layout is readable in one place.
//!
//! # The no-panic contract
//!
//! `new_unchecked` wraps any buffer.  `new_checked` (equivalently
//! `check_len` on an unchecked view) verifies that the buffer holds the
//! whole fixed header *and* any variable part the header announces (IPv4
//! IHL, TCP data offset, IPv6 extension length).  After a successful check
//! no getter or setter of that view can panic; on an unchecked view they
//! may.  Flow extraction only ever reads through checked views, so a
//! truncated or malformed frame ends parsing with an [`Error`] instead of a
//! panic, and is classified as far as it parsed.
//!
//! Multi-byte fields are big-endian on the wire and returned in host order.
//! Setters exist for `T: AsMut<[u8]>` where an action rewrites the field;
//! they do not touch checksums (see [`crate::csum`] for incremental fixes).

pub mod ethernet;
pub mod ip;
pub mod transport;

pub use ethernet::{ArpPacket, EthernetFrame, MplsLse, VlanTag};
pub use ip::{Ipv4Packet, Ipv6ExtHeader, Ipv6FragHeader, Ipv6Packet};
pub use transport::{IcmpPacket, NdOption, SctpPacket, TcpPacket, UdpPacket};

/// Why a header view could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the header (or its announced length).
    #[error("truncated header")]
    Truncated,
    /// A length or version field holds an impossible value.
    #[error("malformed header")]
    Malformed,
}

/// Well-known EtherType values (an open set: any `u16` is valid).
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// Reverse ARP.
    pub const RARP: u16 = 0x8035;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag.
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// MPLS unicast.
    pub const MPLS: u16 = 0x8847;
    /// MPLS multicast.
    pub const MPLS_MCAST: u16 = 0x8848;
    /// What the flow key records for an 802.3 frame with a length field
    /// (value below 0x600), as Open vSwitch does.
    pub const NONE_802_3: u16 = 0x05ff;
    /// Smallest value that is an EtherType rather than an 802.3 length.
    pub const MIN: u16 = 0x0600;
}

/// Well-known IP protocol numbers (an open set).
pub mod ipproto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPTS: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// No next header.
    pub const NONE: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

#[inline]
pub(crate) fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn mac(b: &[u8], at: usize) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    m
}

#[inline]
pub(crate) fn addr16(b: &[u8], at: usize) -> [u8; 16] {
    let mut m = [0u8; 16];
    m.copy_from_slice(&b[at..at + 16]);
    m
}

/// Common view plumbing: constructor, checked constructor, accessors.
macro_rules! view_common {
    ($name:ident) => {
        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps `buffer` without checking its length.
            #[inline]
            pub const fn new_unchecked(buffer: T) -> Self {
                Self { buffer }
            }

            /// Wraps `buffer` after [`Self::check_len`].
            #[inline]
            pub fn new_checked(buffer: T) -> Result<Self, $crate::wire::Error> {
                let v = Self::new_unchecked(buffer);
                v.check_len()?;
                Ok(v)
            }

            /// Returns the wrapped buffer.
            #[inline]
            pub fn into_inner(self) -> T {
                self.buffer
            }

            /// The whole wrapped buffer.
            #[inline]
            pub fn as_bytes(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }
    };
}
pub(crate) use view_common;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_views_report_truncation_and_malformation() {
        assert_eq!(
            EthernetFrame::new_checked(&[0u8; 13][..]).err(),
            Some(Error::Truncated)
        );
        let mut ip = [0u8; 24];
        ip[0] = 0x46;
        assert!(Ipv4Packet::new_checked(&ip[..]).is_ok());
        assert_eq!(
            Ipv4Packet::new_checked(&ip[..23]).err(),
            Some(Error::Truncated)
        );
        ip[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&ip[..]).err(),
            Some(Error::Malformed)
        );
        ip[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&ip[..]).err(),
            Some(Error::Malformed)
        );
        let mut tcp = [0u8; 20];
        tcp[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&tcp[..]).err(),
            Some(Error::Malformed)
        );
        tcp[12] = 0x60;
        assert_eq!(
            TcpPacket::new_checked(&tcp[..]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            NdOption::new_checked(&[1u8, 0][..]).err(),
            Some(Error::Malformed)
        );
        assert_eq!(
            NdOption::new_checked(&[1u8, 1, 0][..]).err(),
            Some(Error::Truncated)
        );
        let arp = [0u8; 28];
        assert_eq!(
            ArpPacket::new_checked(&arp[..]).err(),
            Some(Error::Malformed)
        );
        assert_eq!(
            IcmpPacket::new_checked(&[0u8; 4][..]).unwrap().nd_target(),
            None
        );
    }

    #[test]
    fn setters_round_trip() {
        let mut b = [0u8; 40];
        b[0] = 0x60;
        let mut v6 = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        v6.set_traffic_class(0xab);
        v6.set_flow_label(0x12345);
        assert_eq!((v6.traffic_class(), v6.flow_label()), (0xab, 0x12345));
        assert_eq!(b[0] >> 4, 6);
        let mut e = [0u8; 14];
        let mut eth = EthernetFrame::new_checked(&mut e[..]).unwrap();
        eth.set_src([1, 2, 3, 4, 5, 6]);
        eth.set_ethertype(ethertype::IPV6);
        assert_eq!((eth.src(), eth.ethertype()), ([1, 2, 3, 4, 5, 6], 0x86dd));
    }
}
