//! TCP, UDP, SCTP, ICMPv4/ICMPv6 headers and IPv6 neighbour-discovery
//! options.

use super::{Error, addr16, get16, mac, put16, view_common};

/// TCP header view; `check_len` requires the data offset to be at least 5
/// and the whole header with options to fit.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(TcpPacket);

mod tcp {
    pub(super) const SRC: usize = 0;
    pub(super) const DST: usize = 2;
    pub(super) const OFF_FLAGS: usize = 12;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const MIN: usize = 20;
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Length of a header without options.
    pub const MIN_LEN: usize = tcp::MIN;
    /// Checks the header (with options) fits and the data offset is sane.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < tcp::MIN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        if hl < tcp::MIN {
            return Err(Error::Malformed);
        }
        if b.len() < hl {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// Header length from the data offset.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[tcp::OFF_FLAGS] >> 4) * 4
    }
    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get16(self.buffer.as_ref(), tcp::SRC)
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get16(self.buffer.as_ref(), tcp::DST)
    }
    /// The 12 flag bits (NS CWR ECE URG ACK PSH RST SYN FIN and reserved).
    #[inline]
    pub fn flags(&self) -> u16 {
        get16(self.buffer.as_ref(), tcp::OFF_FLAGS) & 0x0fff
    }
    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), tcp::CHECKSUM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), tcp::SRC, v)
    }
    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), tcp::DST, v)
    }
    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), tcp::CHECKSUM, v)
    }
}

/// Byte offset of the checksum inside a TCP header.
pub const TCP_CSUM_OFS: usize = tcp::CHECKSUM;
/// Byte offset of the checksum inside a UDP header.
pub const UDP_CSUM_OFS: usize = 6;
/// Byte offset of the checksum inside an ICMP/ICMPv6 header.
pub const ICMP_CSUM_OFS: usize = 2;
/// Byte offset of the CRC32c inside an SCTP common header.
pub const SCTP_CSUM_OFS: usize = 8;

/// UDP header view (8 bytes).
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(UdpPacket);

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Header length.
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
    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get16(self.buffer.as_ref(), 0)
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get16(self.buffer.as_ref(), 2)
    }
    /// Length field.
    #[inline]
    pub fn len(&self) -> u16 {
        get16(self.buffer.as_ref(), 4)
    }
    /// True if the length field is zero.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Checksum (0 = none over IPv4).
    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), UDP_CSUM_OFS)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 0, v)
    }
    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v)
    }
    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), UDP_CSUM_OFS, v)
    }
}

/// SCTP common header view (12 bytes).
#[derive(Debug, Clone)]
pub struct SctpPacket<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(SctpPacket);

impl<T: AsRef<[u8]>> SctpPacket<T> {
    /// Common header length.
    pub const LEN: usize = 12;
    /// Ok if the common header fits.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < 12 {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get16(self.buffer.as_ref(), 0)
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get16(self.buffer.as_ref(), 2)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SctpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 0, v)
    }
    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v)
    }
}

/// ICMPv4 or ICMPv6 header view: type, code, checksum (4 bytes).  For
/// neighbour solicitation/advertisement, [`IcmpPacket::nd_target`] reads
/// the target after the 4 reserved bytes when present.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(IcmpPacket);

/// ICMPv6 neighbour solicitation.
pub const ND_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 neighbour advertisement.
pub const ND_NEIGHBOR_ADVERT: u8 = 136;
/// ND option: source link-layer address.
pub const ND_OPT_SLL: u8 = 1;
/// ND option: target link-layer address.
pub const ND_OPT_TLL: u8 = 2;

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Length of type/code/checksum.
    pub const LEN: usize = 4;
    /// Length of an NS/NA message up to the options.
    pub const ND_LEN: usize = 24;
    /// Ok if type, code and checksum fit.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < 4 {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Ok if the NS/NA body (reserved + target) fits.
    #[inline]
    pub fn check_nd(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < Self::ND_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), 2)
    }
    /// ND target address, if the buffer holds an NS/NA body.
    #[inline]
    pub fn nd_target(&self) -> Option<[u8; 16]> {
        self.buffer
            .as_ref()
            .get(8..Self::ND_LEN)
            .map(|b| addr16(b, 0))
    }
    /// ND options following the target (empty if there is no NS/NA body).
    #[inline]
    pub fn nd_options(&self) -> &[u8] {
        self.buffer.as_ref().get(Self::ND_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[0] = v
    }
    /// Sets the code.
    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[1] = v
    }
    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v)
    }
    /// Sets the ND target; false if the buffer holds no NS/NA body.
    #[inline]
    pub fn set_nd_target(&mut self, a: [u8; 16]) -> bool {
        match self.buffer.as_mut().get_mut(8..Self::ND_LEN) {
            Some(b) => {
                b.copy_from_slice(&a);
                true
            }
            None => false,
        }
    }
}

/// One neighbour-discovery option: type, length in 8-byte units, data.
#[derive(Debug, Clone)]
pub struct NdOption<T: AsRef<[u8]>> {
    buffer: T,
}
view_common!(NdOption);

impl<T: AsRef<[u8]>> NdOption<T> {
    /// Ok if the option's announced length is non-zero and fits.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < 2 {
            return Err(Error::Truncated);
        }
        if b[1] == 0 {
            return Err(Error::Malformed);
        }
        if b.len() < self.option_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// Option type.
    #[inline]
    pub fn opt_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Option length in bytes.
    #[inline]
    pub fn option_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[1]) * 8
    }
    /// Link-layer address of an SLL/TLL option for Ethernet (length 8).
    #[inline]
    pub fn ll_addr(&self) -> Option<[u8; 6]> {
        (self.option_len() == 8).then(|| mac(self.buffer.as_ref(), 2))
    }
}
