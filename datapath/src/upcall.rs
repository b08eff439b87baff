//! The slow-path interface: what the datapath asks when its caches miss.
//!
//! On a megaflow miss the PMD thread calls [`Upcall::upcall`] synchronously
//! with the packet and its extracted key.  The implementation (the OpenFlow
//! translation, or the tiny forwarder of `rvs-fwd`) fills an
//! [`UpcallResult`]: the datapath actions for this packet, the wildcard mask
//! saying which key bits the decision depended on, and whether the pair may
//! be installed as a megaflow.  The PMD executes the actions on the packet
//! and, if `install` is set, inserts `key & mask -> actions` into the
//! megaflow cache so later packets of the same class never come here.
//!
//! The same trait carries the two other call-backs the actions need from
//! above the datapath: `userspace` (send-to-controller) and `meter` (band
//! decision).  All methods run on PMD threads: they must not block for long
//! and must bound whatever they queue.

use crate::actions::{DpAction, MeterVerdict};
use crate::flow::{FlowKey, FlowMask};
use crate::packet::Packet;

/// What the slow path decided for a packet.
#[derive(Debug, Clone, Default)]
pub struct UpcallResult {
    /// Datapath actions to apply (empty = drop).
    pub actions: Vec<DpAction>,
    /// Key bits the decision depended on; becomes the megaflow's mask.
    pub mask: FlowMask,
    /// Whether `key & mask -> actions` may be cached as a megaflow.
    pub install: bool,
}

impl UpcallResult {
    /// Clears the result for reuse (keeps the action vector's allocation).
    pub fn clear(&mut self) {
        self.actions.clear();
        self.mask = FlowMask::default();
        self.install = false;
    }
}

/// Why an upcall produced no decision; the packet is dropped and counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpcallError {
    /// The slow path is not ready (e.g. still starting or reconfiguring).
    #[error("slow path unavailable")]
    Unavailable,
    /// The slow path refused the packet (rate limit, queue full).
    #[error("upcall dropped: {0}")]
    Dropped(String),
    /// Translation failed.
    #[error("translation failed: {0}")]
    Failed(String),
}

/// The slow path, called by PMD threads on cache misses.
pub trait Upcall: Send + Sync {
    /// Decides what to do with `pkt` (whose key is `key`), filling `out`
    /// (which the caller has cleared).
    fn upcall(
        &self,
        pkt: &Packet,
        key: &FlowKey,
        out: &mut UpcallResult,
    ) -> Result<(), UpcallError>;

    /// A `userspace` action fired (send to controller); `max_len` bytes of
    /// the packet are wanted.  Default: ignored.
    fn userspace(&self, pkt: &Packet, cookie: u64, max_len: u32) {
        let _ = (pkt, cookie, max_len);
    }

    /// A `meter` action: returns false if the meter drops the packet.
    /// `now_ms` is the PMD's clock.  Default: every packet passes.
    fn meter(&self, meter: u32, pkt: &Packet, now_ms: u64) -> bool {
        let _ = (meter, pkt, now_ms);
        true
    }

    /// A `meter` action with DSCP remarking.  Default: [`Upcall::meter`]
    /// (pass or drop).
    fn meter_verdict(&self, meter: u32, pkt: &Packet, now_ms: u64) -> MeterVerdict {
        if self.meter(meter, pkt, now_ms) {
            MeterVerdict::Pass
        } else {
            MeterVerdict::Drop
        }
    }
}
