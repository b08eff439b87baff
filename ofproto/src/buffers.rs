//! Packet buffers for `PACKET_IN` (OpenFlow 1.3.5 sections 7.4.1, 7.3.7).
//!
//! A switch may keep the packet of a packet-in and send the controller
//! only its first `max_len` bytes with a `buffer_id`; a later
//! `PACKET_OUT` or `FLOW_MOD` naming that id applies to the whole stored
//! packet.  The pool here is that store: a fixed number of slots
//! (`n_buffers`, 0 by default, which is what Open vSwitch reports too:
//! then every packet-in carries the whole packet and `OFP_NO_BUFFER`),
//! handed out round-robin, each holding one packet for at most
//! `timeout_ms`.  A slot still holding a fresh packet is never
//! overwritten: the packet-in then goes out unbuffered.
//!
//! Ids: `slot | (sequence << 16)`, with the sequence counting how often
//! the slot was filled, so an id names one stored packet only; an id is
//! never `OFP_NO_BUFFER`.  Taking an id consumes it.  Errors follow the
//! spec: an id this pool never issued (or whose slot has since been
//! reused) is `OFPBRC_BUFFER_UNKNOWN`; an id already used or expired is
//! `OFPBRC_BUFFER_EMPTY`.
//!
//! Memory is bounded by `n_buffers` (at most [`MAX_BUFFERS`]) times the
//! largest frame.

use crate::wire::OfpError;
use crate::wire::consts::OFP_NO_BUFFER;
use crate::wire::error::bad_request;

/// Most buffers a pool may have.
pub const MAX_BUFFERS: u32 = 4096;

/// Bits of a buffer id that name the slot.
const SLOT_BITS: u32 = 16;

/// Why a buffer id could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BufferError {
    /// The id was never issued (or its slot was reused since).
    #[error("unknown buffer id")]
    Unknown,
    /// The buffer was already used or has expired.
    #[error("buffer empty (already used or expired)")]
    Empty,
}

impl BufferError {
    /// The OpenFlow error for a request naming the buffer.
    pub fn to_ofp_error(self) -> OfpError {
        match self {
            BufferError::Unknown => {
                OfpError::bad_request(bad_request::BUFFER_UNKNOWN, "unknown buffer id")
            }
            BufferError::Empty => {
                OfpError::bad_request(bad_request::BUFFER_EMPTY, "buffer already used or expired")
            }
        }
    }
}

/// A stored packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferedPacket {
    /// The OpenFlow input port of the packet.
    pub in_port: u32,
    /// The whole packet.
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Slot {
    /// Last id issued for this slot (None: never used).
    id: Option<u32>,
    /// Sequence of the last fill.
    seq: u32,
    packet: Option<BufferedPacket>,
    stored_ms: u64,
}

/// The buffer pool (see the module documentation).
#[derive(Debug)]
pub struct PacketBuffers {
    slots: Vec<Slot>,
    next: usize,
    timeout_ms: u64,
}

impl PacketBuffers {
    /// A pool of `n` buffers (capped at [`MAX_BUFFERS`]) keeping each
    /// packet at most `timeout_ms`.
    pub fn new(n: u32, timeout_ms: u64) -> Self {
        let n = n.min(MAX_BUFFERS) as usize;
        Self {
            slots: (0..n).map(|_| Slot::default()).collect(),
            next: 0,
            timeout_ms,
        }
    }

    /// Number of buffers (the `n_buffers` of `FEATURES_REPLY`).
    pub fn capacity(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }

    /// Packets currently stored (expired ones included until
    /// [`PacketBuffers::expire`]).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.packet.is_some()).count()
    }

    /// True if nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn fresh(&self, s: &Slot, now_ms: u64) -> bool {
        s.packet.is_some() && now_ms < s.stored_ms.saturating_add(self.timeout_ms)
    }

    /// Stores a packet; returns its id, or `None` if there are no buffers
    /// or the next slot still holds a fresh packet.
    pub fn store(&mut self, in_port: u32, data: Vec<u8>, now_ms: u64) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let i = self.next % self.slots.len();
        if self.fresh(&self.slots[i], now_ms) {
            return None;
        }
        self.next = (i + 1) % self.slots.len();
        let s = &mut self.slots[i];
        s.seq = s.seq.wrapping_add(1) & 0xffff;
        let mut id = (s.seq << SLOT_BITS) | i as u32;
        if id == OFP_NO_BUFFER {
            s.seq = 0;
            id = i as u32;
        }
        s.id = Some(id);
        s.packet = Some(BufferedPacket { in_port, data });
        s.stored_ms = now_ms;
        Some(id)
    }

    /// Takes the packet stored under `id` (consuming the id).
    pub fn take(&mut self, id: u32, now_ms: u64) -> Result<BufferedPacket, BufferError> {
        let i = (id & ((1 << SLOT_BITS) - 1)) as usize;
        let fresh = match self.slots.get(i) {
            Some(s) if s.id == Some(id) => self.fresh(s, now_ms),
            _ => return Err(BufferError::Unknown),
        };
        let s = &mut self.slots[i];
        let p = s.packet.take();
        match p {
            Some(p) if fresh => Ok(p),
            _ => Err(BufferError::Empty),
        }
    }

    /// Frees packets older than the timeout; returns how many.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let t = self.timeout_ms;
        let mut n = 0;
        for s in &mut self.slots {
            if s.packet.is_some() && now_ms >= s.stored_ms.saturating_add(t) {
                s.packet = None;
                n += 1;
            }
        }
        n
    }

    /// The earliest time a stored packet expires.
    pub fn next_expiry(&self) -> Option<u64> {
        self.slots
            .iter()
            .filter(|s| s.packet.is_some())
            .map(|s| s.stored_ms.saturating_add(self.timeout_ms))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_take_once_then_empty_and_unknown() {
        let mut b = PacketBuffers::new(2, 1000);
        let id = b.store(1, vec![1, 2, 3], 0).expect("stored");
        assert_ne!(id, OFP_NO_BUFFER);
        assert_eq!(b.take(id, 10).expect("fresh").data, vec![1, 2, 3]);
        assert_eq!(b.take(id, 10), Err(BufferError::Empty));
        assert_eq!(b.take(id ^ 0x1_0000, 10), Err(BufferError::Unknown));
        assert_eq!(b.take(77, 10), Err(BufferError::Unknown));
    }

    #[test]
    fn expiry_and_no_overwrite_of_fresh_packets() {
        let mut b = PacketBuffers::new(1, 1000);
        let a = b.store(1, vec![1], 0).expect("stored");
        // The only slot is fresh: no buffer for the next packet.
        assert_eq!(b.store(1, vec![2], 500), None);
        assert_eq!(b.take(a, 1000), Err(BufferError::Empty), "expired");
        let c = b.store(1, vec![3], 1000).expect("slot reusable");
        assert_ne!(a, c);
        assert_eq!(b.take(a, 1001), Err(BufferError::Unknown), "slot reused");
        assert_eq!(b.next_expiry(), Some(2000));
        assert_eq!(b.expire(2000), 1);
        assert!(b.is_empty());
        assert_eq!(PacketBuffers::new(0, 1000).store(1, vec![1], 0), None);
    }
}
