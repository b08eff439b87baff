//! The packet buffer every port, cache and action works on.
//!
//! A [`Packet`] owns one heap buffer, allocated once and reused for the
//! life of a poll-mode thread: a port receives straight into
//! [`Packet::spare_mut`] after [`Packet::reset`], so the receive path
//! allocates nothing per packet.  The frame starts [`HEADROOM`] bytes into
//! the buffer so VLAN/MPLS pushes and tunnel encapsulation grow the frame in
//! place; only a push larger than the remaining headroom reallocates.
//!
//! Besides the bytes, a packet carries:
//! * `in_port`, the datapath port it arrived on;
//! * [`Offload`], the virtio-net header fields (checksum-partial and GSO
//!   information) so that a frame from a veth or TAP peer with offloads on
//!   is forwarded with its offload request intact;
//! * the layer offsets (`l2`, `l3`, `l4`) that [`crate::flow::extract`]
//!   fills and the actions use.  Offsets are relative to the start of the
//!   frame and are kept in step by [`Packet::push_front`] and
//!   [`Packet::pull_front`].

/// Bytes reserved in front of a freshly reset frame for header pushes.
pub const HEADROOM: usize = 128;

/// Largest number of packets processed together (rx batch, action batch).
pub const BATCH_SIZE: usize = 32;

/// Default frame room of [`Packet::default`]: a 64 KiB GSO frame fits.
pub const DEFAULT_CAPACITY: usize = 65536;

/// Marker for an absent layer offset.
const NONE: u16 = u16::MAX;

/// The virtio-net header fields of a frame, in host byte order.
///
/// `Offload::default()` means "nothing to do": no partial checksum and
/// `gso_type` `VIRTIO_NET_HDR_GSO_NONE`.  `csum_start` counts from the
/// first byte of the Ethernet frame, as in the virtio specification.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offload {
    /// `VIRTIO_NET_HDR_F_*` flags (1 = `NEEDS_CSUM`, 2 = `DATA_VALID`).
    pub flags: u8,
    /// `VIRTIO_NET_HDR_GSO_*` type (0 none, 1 TCPv4, 3 UDP, 4 TCPv6, 0x80 ECN bit).
    pub gso_type: u8,
    /// Length of the headers to copy in front of every segment.
    pub hdr_len: u16,
    /// Segment payload size for GSO.
    pub gso_size: u16,
    /// Where checksumming starts, from the start of the frame.
    pub csum_start: u16,
    /// Where, from `csum_start`, the checksum is stored.
    pub csum_offset: u16,
}

impl Offload {
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the L4 checksum field holds only the
    /// pseudo-header sum; the transmitter finishes it.
    pub const F_NEEDS_CSUM: u8 = 1;
    /// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was already verified.
    pub const F_DATA_VALID: u8 = 2;

    /// True if the L4 checksum is only partial (pseudo-header sum).
    #[inline]
    pub fn csum_partial(&self) -> bool {
        self.flags & Self::F_NEEDS_CSUM != 0
    }

    /// Moves the frame-relative offsets after `n` bytes were added
    /// (`n > 0`) or removed (`n < 0`) in front of the L3 header.
    #[inline]
    pub fn shift(&mut self, n: isize) {
        let adj = |v: u16| -> u16 {
            let r = v as isize + n;
            if r < 0 {
                0
            } else {
                r.min(u16::MAX as isize) as u16
            }
        };
        if self.csum_partial() {
            self.csum_start = adj(self.csum_start);
        }
        if self.gso_type != 0 && self.hdr_len != 0 {
            self.hdr_len = adj(self.hdr_len);
        }
    }
}

/// An owned frame with headroom, metadata and layer offsets.
#[derive(Clone)]
pub struct Packet {
    buf: Box<[u8]>,
    start: usize,
    len: usize,
    /// Datapath port the packet arrived on.
    pub in_port: u32,
    /// virtio-net offload information travelling with the frame.
    pub offload: Offload,
    /// Recirculation id (0 for a packet fresh from a port).
    pub recirc_id: u32,
    l2: u16,
    l3: u16,
    l4: u16,
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len)
            .field("in_port", &self.in_port)
            .field("offload", &self.offload)
            .field("l3", &self.l3_ofs())
            .field("l4", &self.l4_ofs())
            .finish()
    }
}

impl Default for Packet {
    fn default() -> Self {
        Packet::new(DEFAULT_CAPACITY)
    }
}

impl Packet {
    /// A packet with room for `capacity` frame bytes after [`HEADROOM`].
    #[inline]
    pub fn new(capacity: usize) -> Packet {
        Packet {
            buf: vec![0u8; HEADROOM + capacity].into_boxed_slice(),
            start: HEADROOM,
            len: 0,
            in_port: 0,
            offload: Offload::default(),
            recirc_id: 0,
            l2: NONE,
            l3: NONE,
            l4: NONE,
        }
    }

    /// A packet holding a copy of `frame`.
    #[inline]
    pub fn from_slice(frame: &[u8]) -> Packet {
        let mut p = Packet::new(frame.len());
        p.buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        p.len = frame.len();
        p
    }

    /// The frame bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The frame bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Frame length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the frame is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes available from the start of the frame to the end of the buffer.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes available in front of the frame.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Makes the packet ready for reuse: frame start back at [`HEADROOM`],
    /// length 0, metadata and offsets cleared.  Keeps the buffer.
    #[inline]
    pub fn reset(&mut self) {
        self.start = HEADROOM.min(self.buf.len());
        self.len = 0;
        self.in_port = 0;
        self.offload = Offload::default();
        self.recirc_id = 0;
        self.clear_offsets();
    }

    /// The writable area from the frame start to the end of the buffer; a
    /// port receives into it and then calls [`Packet::set_len`].
    #[inline]
    pub fn spare_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    /// Sets the frame length, clamped to [`Packet::capacity`].
    #[inline]
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity());
    }

    /// Grows the frame by `n` bytes at the front and returns them (their
    /// content is unspecified).  Uses the headroom; reallocates with fresh
    /// headroom if there is not enough.  Layer offsets move with the data.
    #[inline]
    pub fn push_front(&mut self, n: usize) -> &mut [u8] {
        if n > self.start {
            let room = HEADROOM.max(n);
            let mut nb = vec![0u8; room + self.len + (self.buf.len() - self.start - self.len)]
                .into_boxed_slice();
            nb[room..room + self.len].copy_from_slice(self.data());
            self.buf = nb;
            self.start = room;
        }
        self.start -= n;
        self.len += n;
        self.shift_offsets(n as isize);
        &mut self.buf[self.start..self.start + n]
    }

    /// Removes `n` bytes (at most the frame length) from the front.
    #[inline]
    pub fn pull_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.start += n;
        self.len -= n;
        self.shift_offsets(-(n as isize));
    }

    /// Shortens the frame to `len` bytes (no effect if already shorter).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }

    /// Appends `bytes` at the end of the frame; false if there is no room.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> bool {
        let end = self.start + self.len;
        match self.buf.get_mut(end..end + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
                true
            }
            None => false,
        }
    }

    /// Moves the `n` bytes in front of offset `at` forward by `delta` bytes
    /// into the headroom, opening a gap of `delta` bytes at `at - delta`..`at`
    /// (used to insert a header in the middle, e.g. a VLAN tag after the
    /// MAC addresses).  Returns the gap, or None if `at` is past the frame.
    #[inline]
    pub fn insert_at(&mut self, at: usize, delta: usize) -> Option<&mut [u8]> {
        if at > self.len {
            return None;
        }
        // Offsets at or after `at` stay attached to their bytes.
        self.push_front(delta);
        let s = self.start;
        self.buf.copy_within(s + delta..s + delta + at, s);
        // push_front shifted every offset; ones before `at` did not move.
        for o in [&mut self.l2, &mut self.l3, &mut self.l4] {
            if *o != NONE && (*o as usize) < at + delta {
                *o = (*o as usize - delta) as u16;
            }
        }
        Some(&mut self.buf[s + at..s + at + delta])
    }

    /// Removes `delta` bytes at `at`..`at + delta` by moving the bytes in
    /// front of them back.  Offsets of later layers move accordingly.
    /// Returns false (nothing changed) if the range is outside the frame.
    #[inline]
    pub fn remove_at(&mut self, at: usize, delta: usize) -> bool {
        if at + delta > self.len {
            return false;
        }
        let s = self.start;
        self.buf.copy_within(s..s + at, s + delta);
        for o in [&mut self.l2, &mut self.l3, &mut self.l4] {
            if *o != NONE && (*o as usize) < at {
                *o = (*o as usize + delta) as u16;
            } else if *o != NONE && (*o as usize) < at + delta {
                *o = at as u16 + delta as u16;
            }
        }
        self.pull_front(delta);
        true
    }

    /// Offset of the L2 (Ethernet) header, if extracted.
    #[inline]
    pub fn l2_ofs(&self) -> Option<usize> {
        (self.l2 != NONE).then_some(self.l2 as usize)
    }

    /// Offset of the L3 header (after VLAN/MPLS), if extracted.
    #[inline]
    pub fn l3_ofs(&self) -> Option<usize> {
        (self.l3 != NONE).then_some(self.l3 as usize)
    }

    /// Offset of the L4 header, if extracted.
    #[inline]
    pub fn l4_ofs(&self) -> Option<usize> {
        (self.l4 != NONE).then_some(self.l4 as usize)
    }

    /// Records the layer offsets (None = absent); values past 65534 are
    /// treated as absent.
    #[inline]
    pub fn set_offsets(&mut self, l2: Option<usize>, l3: Option<usize>, l4: Option<usize>) {
        let f = |o: Option<usize>| match o {
            Some(v) if v < NONE as usize => v as u16,
            _ => NONE,
        };
        self.l2 = f(l2);
        self.l3 = f(l3);
        self.l4 = f(l4);
    }

    /// Forgets the layer offsets.
    #[inline]
    pub fn clear_offsets(&mut self) {
        self.l2 = NONE;
        self.l3 = NONE;
        self.l4 = NONE;
    }

    fn shift_offsets(&mut self, n: isize) {
        for o in [&mut self.l2, &mut self.l3, &mut self.l4] {
            if *o != NONE {
                let v = *o as isize + n;
                *o = if v < 0 || v >= NONE as isize {
                    NONE
                } else {
                    v as u16
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pull_keep_offsets() {
        let mut p = Packet::from_slice(&[1, 2, 3, 4, 5, 6]);
        p.set_offsets(Some(0), Some(2), Some(4));
        p.push_front(2).copy_from_slice(&[9, 9]);
        assert_eq!(p.data(), &[9, 9, 1, 2, 3, 4, 5, 6]);
        assert_eq!(
            (p.l2_ofs(), p.l3_ofs(), p.l4_ofs()),
            (Some(2), Some(4), Some(6))
        );
        p.pull_front(3);
        assert_eq!(p.data(), &[2, 3, 4, 5, 6]);
        assert_eq!((p.l2_ofs(), p.l3_ofs()), (None, Some(1)));
    }

    #[test]
    fn push_beyond_headroom_reallocates() {
        let mut p = Packet::from_slice(&[7; 10]);
        p.push_front(HEADROOM + 50);
        assert_eq!(p.len(), HEADROOM + 60);
        assert_eq!(&p.data()[HEADROOM + 50..], &[7; 10]);
    }

    #[test]
    fn insert_and_remove_in_middle() {
        let mut p = Packet::from_slice(&[1, 2, 3, 4, 5, 6]);
        p.set_offsets(Some(0), Some(2), None);
        p.insert_at(2, 2).unwrap().copy_from_slice(&[8, 8]);
        assert_eq!(p.data(), &[1, 2, 8, 8, 3, 4, 5, 6]);
        assert_eq!((p.l2_ofs(), p.l3_ofs()), (Some(0), Some(4)));
        assert!(p.remove_at(2, 2));
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!((p.l2_ofs(), p.l3_ofs()), (Some(0), Some(2)));
        assert!(!p.remove_at(5, 2));
    }

    #[test]
    fn reset_and_spare() {
        let mut p = Packet::new(100);
        p.pull_front(0);
        p.spare_mut()[..3].copy_from_slice(&[1, 2, 3]);
        p.set_len(1000);
        assert_eq!(p.len(), 100);
        p.set_len(3);
        p.truncate(2);
        assert_eq!(p.data(), &[1, 2]);
        p.in_port = 5;
        p.reset();
        assert!(p.is_empty());
        assert_eq!(p.in_port, 0);
        assert_eq!(p.spare_mut().len(), 100);
    }
}
