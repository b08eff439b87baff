//! Ports: where packets enter and leave the datapath.
//!
//! Every port kind implements [`Port`]: batched receive into caller-owned
//! [`Packet`]s (so the poll loop allocates nothing per packet), batched
//! transmit, and live counters ([`PortCounters`]) that the control thread can
//! read while a PMD thread drives the port.
//!
//! A port splits into two halves ([`Port::into_parts`]): the receive half
//! ([`PortRx`], `&mut`, owned by exactly one PMD thread) and the transmit half
//! ([`PortTx`], `&self`, shared through an `Arc` by every thread that may send
//! to the port: all PMD threads and the control thread's packet-out).  Each
//! kind makes its transmit path safe to call concurrently (a shared socket
//! descriptor for `sendmmsg`/`writev`, a mutex for the in-memory queue).
//!
//! Kinds:
//! * [`SystemPort`]: an existing interface through `AF_PACKET` (ring +
//!   `sendmmsg`, virtio-net headers, VLAN tags recovered from the kernel);
//! * [`TapPort`]: a TAP device through `/dev/net/tun` (`IFF_VNET_HDR`);
//! * [`InternalPort`]: a TAP device named after the bridge (its local port);
//! * [`MemPort`]: an in-memory pair for tests.
//!
//! Offloads: received frames keep their virtio-net metadata in
//! [`Packet::offload`].  A port that can pass the header on to the kernel
//! ([`PortTx::offload_capable`]) does so; any other finishes the checksum and
//! cuts GSO frames in software ([`offload`]).

pub mod offload;

mod mem;
mod system;
mod tap;

pub use mem::MemPort;
pub use system::{SystemPort, SystemPortOptions};
pub use tap::{InternalPort, TapPort};

use crate::packet::{Offload, Packet};
use crate::sys::{VlanTag, VnetHdr};
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Datapath port number.
pub type PortNo = u32;

/// Largest frame a port accepts (a 64 KiB GSO frame plus two VLAN tags and
/// an Ethernet header).
pub const MAX_FRAME: usize = 65536 + 64;

/// What kind of port this is (as `ovs-vsctl` would name its type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortKind {
    /// An existing network device through `AF_PACKET`.
    System,
    /// A TAP device.
    Tap,
    /// The bridge's own port (a TAP device named after the bridge).
    Internal,
    /// In-memory test port.
    Memory,
}

impl PortKind {
    /// The OVS-style type name.
    pub fn as_str(self) -> &'static str {
        match self {
            PortKind::System => "system",
            PortKind::Tap => "tap",
            PortKind::Internal => "internal",
            PortKind::Memory => "memory",
        }
    }
}

/// A snapshot of a port's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets lost on receive (kernel ring/queue overflow).
    pub rx_dropped: u64,
    /// Frames received but unusable (truncated, too big, read errors).
    pub rx_errors: u64,
    /// Packets (wire frames, after any software segmentation) sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets dropped on transmit (queue full).
    pub tx_dropped: u64,
    /// Transmit errors (rejected by the kernel, offload not finishable).
    pub tx_errors: u64,
}

/// Live counters, written by the threads driving the port, read by anyone.
#[derive(Debug, Default)]
pub struct PortCounters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_dropped: AtomicU64,
    rx_errors: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
    tx_errors: AtomicU64,
}

impl PortCounters {
    /// Reads all counters.
    pub fn snapshot(&self) -> PortStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PortStats {
            rx_packets: r(&self.rx_packets),
            rx_bytes: r(&self.rx_bytes),
            rx_dropped: r(&self.rx_dropped),
            rx_errors: r(&self.rx_errors),
            tx_packets: r(&self.tx_packets),
            tx_bytes: r(&self.tx_bytes),
            tx_dropped: r(&self.tx_dropped),
            tx_errors: r(&self.tx_errors),
        }
    }

    pub(crate) fn rx(&self, packets: u64, bytes: u64) {
        if packets > 0 {
            self.rx_packets.fetch_add(packets, Ordering::Relaxed);
            self.rx_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    pub(crate) fn rx_dropped(&self, n: u64) {
        if n > 0 {
            self.rx_dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn rx_error(&self) {
        self.rx_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tx(&self, packets: u64, bytes: u64) {
        if packets > 0 {
            self.tx_packets.fetch_add(packets, Ordering::Relaxed);
            self.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    pub(crate) fn tx_dropped(&self, n: u64) {
        if n > 0 {
            self.tx_dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn tx_error(&self) {
        self.tx_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// The receive half of a port, driven by one thread.
pub trait PortRx: Send {
    /// Fills `batch[..n]` with up to `batch.len()` received frames and
    /// returns `n` (0 when nothing is waiting; never blocks).  Each packet is
    /// reset first; its `offload` carries the frame's virtio-net metadata.
    fn rx(&mut self, batch: &mut [Packet]) -> io::Result<usize>;
    /// A descriptor that becomes readable when frames are waiting.
    fn poll_fd(&self) -> Option<RawFd>;
    /// Collects a pending error that keeps the descriptor readable although
    /// no frame is waiting (called after such a wake-up).
    fn clear_error(&mut self) {}
}

/// The transmit half of a port, shareable between threads.
pub trait PortTx: Send + Sync {
    /// Sends `pkts`; returns how many frames went out.  Failures are
    /// counted in the port's counters, never returned.
    fn tx(&self, pkts: &[Packet]) -> usize;
    /// Whether virtio-net metadata is passed to the kernel (otherwise the
    /// port finishes checksums / segments GSO frames itself).
    fn offload_capable(&self) -> bool;
}

/// The two halves of a port, see the module documentation.
pub struct PortParts {
    /// Receive half.
    pub rx: Box<dyn PortRx>,
    /// Transmit half.
    pub tx: Arc<dyn PortTx>,
}

impl std::fmt::Debug for PortParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortParts")
            .field("poll_fd", &self.rx.poll_fd())
            .field("offload_capable", &self.tx.offload_capable())
            .finish()
    }
}

/// A datapath port: batched receive and transmit plus counters.
pub trait Port: Send {
    /// Device (or test) name.
    fn name(&self) -> &str;
    /// Port kind.
    fn kind(&self) -> PortKind;
    /// The live counters (shared with the halves after a split).
    fn counters(&self) -> &Arc<PortCounters>;
    /// See [`PortRx::rx`].
    fn rx(&mut self, batch: &mut [Packet]) -> io::Result<usize>;
    /// See [`PortTx::tx`].
    fn tx(&mut self, pkts: &[Packet]) -> usize;
    /// See [`PortRx::poll_fd`].
    fn poll_fd(&self) -> Option<RawFd>;
    /// Splits the port into its receive and transmit halves.
    fn into_parts(self: Box<Self>) -> PortParts;
}

/// Converts the datapath's offload metadata into a virtio-net header for
/// transmit.  Only `NEEDS_CSUM` means anything on transmit.
pub(crate) fn vnet_from_offload(o: &Offload) -> VnetHdr {
    VnetHdr {
        flags: o.flags & VnetHdr::F_NEEDS_CSUM,
        gso_type: o.gso_type,
        hdr_len: o.hdr_len,
        gso_size: o.gso_size,
        csum_start: o.csum_start,
        csum_offset: o.csum_offset,
    }
}

/// Converts a received virtio-net header into offload metadata; `shift` is
/// added to the offsets (a VLAN tag re-inserted in front of them).
pub(crate) fn offload_from_vnet(h: &VnetHdr, shift: u16) -> Offload {
    let needs = h.flags & VnetHdr::F_NEEDS_CSUM != 0;
    let gso = h.gso_type != VnetHdr::GSO_NONE;
    Offload {
        flags: h.flags,
        gso_type: h.gso_type,
        hdr_len: if gso {
            h.hdr_len.saturating_add(shift)
        } else {
            h.hdr_len
        },
        gso_size: h.gso_size,
        csum_start: if needs {
            h.csum_start.saturating_add(shift)
        } else {
            h.csum_start
        },
        csum_offset: h.csum_offset,
    }
}

/// Whether a packet still needs work the hardware would do (partial
/// checksum or GSO).
pub(crate) fn needs_offload_work(o: &Offload) -> bool {
    o.flags & VnetHdr::F_NEEDS_CSUM != 0 || o.gso_type != VnetHdr::GSO_NONE
}

/// Copies a received frame into `pkt`, putting back a VLAN tag the kernel
/// stripped, and records its offload metadata.  Returns false (and leaves
/// the packet empty) if the frame does not fit.
pub(crate) fn fill_packet(
    pkt: &mut Packet,
    frame: &[u8],
    vlan: Option<VlanTag>,
    vnet: Option<&VnetHdr>,
) -> bool {
    pkt.reset();
    let tag_len = if vlan.is_some() && frame.len() >= 12 {
        4
    } else {
        0
    };
    let total = frame.len() + tag_len;
    let spare = pkt.spare_mut();
    if total > spare.len() {
        return false;
    }
    match vlan {
        Some(tag) if tag_len == 4 => {
            spare[..12].copy_from_slice(&frame[..12]);
            spare[12..14].copy_from_slice(&tag.tpid.to_be_bytes());
            spare[14..16].copy_from_slice(&tag.tci.to_be_bytes());
            spare[16..total].copy_from_slice(&frame[12..]);
        }
        _ => spare[..total].copy_from_slice(frame),
    }
    pkt.set_len(total);
    pkt.offload = match vnet {
        Some(h) => offload_from_vnet(h, tag_len as u16),
        None => Offload::default(),
    };
    true
}

/// Sends `pkt` through a port that cannot take virtio-net headers: frames
/// needing checksum or GSO work are finished in `scratch` and each result is
/// handed to `send`; other frames go out as they are.  Returns the number
/// of frames produced, or None if the frame could not be finished.
pub(crate) fn tx_software(
    pkt: &Packet,
    scratch: &mut Vec<u8>,
    mut send: impl FnMut(&[u8]),
) -> Option<usize> {
    if !needs_offload_work(&pkt.offload) {
        send(pkt.data());
        return Some(1);
    }
    let hdr = vnet_from_offload(&pkt.offload);
    offload::segment(pkt.data(), &hdr, scratch, send).ok()
}
