//! In-memory port pairs for tests: what one end transmits, the other end
//! receives, through a bounded queue (frames beyond the bound are dropped and
//! counted, like a full ring).  An eventfd makes the receive side pollable,
//! so the PMD loop waits on it like on a socket.
//!
//! By default a memory port behaves like a device *without* virtio-net
//! support: on transmit, partial checksums are completed and GSO frames
//! segmented in software.  [`MemPort::with_offload`] makes it carry the
//! metadata through instead (like a vnet-capable socket).

use super::{MAX_FRAME, Port, PortCounters, PortKind, PortParts, PortRx, PortTx, tx_software};
use crate::packet::{Offload, Packet};
use crate::sys::EventFd;
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug)]
struct Queue {
    frames: Mutex<VecDeque<(Vec<u8>, Offload)>>,
    capacity: usize,
    ready: EventFd,
}

impl Queue {
    fn new(capacity: usize) -> io::Result<Queue> {
        Ok(Queue {
            frames: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            ready: EventFd::new()?,
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(Vec<u8>, Offload)>> {
        match self.frames.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Queues a frame; false if the queue is full.
    fn push(&self, frame: &[u8], offload: Offload) -> bool {
        {
            let mut q = self.lock();
            if q.len() >= self.capacity {
                return false;
            }
            q.push_back((frame.to_vec(), offload));
        }
        let _ = self.ready.signal();
        true
    }
}

/// Receive half of a memory port.
#[derive(Debug)]
pub(crate) struct MemRx {
    inq: Arc<Queue>,
    counters: Arc<PortCounters>,
}

/// Transmit half of a memory port.
#[derive(Debug)]
pub(crate) struct MemTx {
    outq: Arc<Queue>,
    counters: Arc<PortCounters>,
    offload: bool,
    scratch: Mutex<Vec<u8>>,
}

/// One end of an in-memory port pair.
#[derive(Debug)]
pub struct MemPort {
    name: String,
    counters: Arc<PortCounters>,
    rx: MemRx,
    tx: MemTx,
}

impl MemPort {
    /// Two connected ends; each direction holds at most `capacity` frames.
    pub fn pair(a: &str, b: &str, capacity: usize) -> io::Result<(MemPort, MemPort)> {
        let ab = Arc::new(Queue::new(capacity)?);
        let ba = Arc::new(Queue::new(capacity)?);
        let end = |name: &str, inq: &Arc<Queue>, outq: &Arc<Queue>| {
            let counters = Arc::new(PortCounters::default());
            MemPort {
                name: name.to_owned(),
                counters: counters.clone(),
                rx: MemRx {
                    inq: inq.clone(),
                    counters: counters.clone(),
                },
                tx: MemTx {
                    outq: outq.clone(),
                    counters,
                    offload: false,
                    scratch: Mutex::new(Vec::new()),
                },
            }
        };
        Ok((end(a, &ba, &ab), end(b, &ab, &ba)))
    }

    /// Carry offload metadata through on transmit instead of finishing
    /// checksums and segmenting in software.
    pub fn with_offload(mut self, on: bool) -> MemPort {
        self.tx.offload = on;
        self
    }

    /// Test helper: transmits one frame with the given offload metadata
    /// (through the same path as [`Port::tx`]).
    pub fn send_frame(&self, frame: &[u8], offload: Offload) -> usize {
        let mut p = Packet::from_slice(frame);
        p.offload = offload;
        self.tx.tx(std::slice::from_ref(&p))
    }

    /// Test helper: takes the next received frame, if any.
    pub fn recv_frame(&self) -> Option<(Vec<u8>, Offload)> {
        let f = self.rx.inq.lock().pop_front();
        if let Some((data, _)) = &f {
            self.counters.rx(1, data.len() as u64);
        }
        f
    }

    /// Number of frames waiting to be received on this end.
    pub fn pending(&self) -> usize {
        self.rx.inq.lock().len()
    }
}

impl Port for MemPort {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> PortKind {
        PortKind::Memory
    }
    fn counters(&self) -> &Arc<PortCounters> {
        &self.counters
    }
    fn rx(&mut self, batch: &mut [Packet]) -> io::Result<usize> {
        self.rx.rx(batch)
    }
    fn tx(&mut self, pkts: &[Packet]) -> usize {
        self.tx.tx(pkts)
    }
    fn poll_fd(&self) -> Option<RawFd> {
        self.rx.poll_fd()
    }
    fn into_parts(self: Box<Self>) -> PortParts {
        PortParts {
            rx: Box::new(self.rx),
            tx: Arc::new(self.tx),
        }
    }
}

impl PortRx for MemRx {
    fn rx(&mut self, batch: &mut [Packet]) -> io::Result<usize> {
        // Reset readiness before draining: a frame pushed after this point
        // signals again, so no wake-up is lost.
        self.inq.ready.drain();
        let mut q = self.inq.lock();
        let mut n = 0;
        let mut bytes = 0u64;
        while n < batch.len() {
            let Some((frame, offload)) = q.pop_front() else {
                break;
            };
            let pkt = &mut batch[n];
            pkt.reset();
            let spare = pkt.spare_mut();
            if frame.len() > spare.len() {
                self.counters.rx_error();
                continue;
            }
            spare[..frame.len()].copy_from_slice(&frame);
            pkt.set_len(frame.len());
            pkt.offload = offload;
            bytes += frame.len() as u64;
            n += 1;
        }
        if !q.is_empty() {
            let _ = self.inq.ready.signal();
        }
        drop(q);
        self.counters.rx(n as u64, bytes);
        Ok(n)
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.inq.ready.raw_fd())
    }
}

impl MemTx {
    fn push(&self, frame: &[u8], offload: Offload) -> bool {
        if self.outq.push(frame, offload) {
            self.counters.tx(1, frame.len() as u64);
            true
        } else {
            self.counters.tx_dropped(1);
            false
        }
    }
}

impl PortTx for MemTx {
    fn tx(&self, pkts: &[Packet]) -> usize {
        let mut sent = 0;
        for pkt in pkts {
            if pkt.len() > MAX_FRAME {
                self.counters.tx_error();
                continue;
            }
            if self.offload || !super::needs_offload_work(&pkt.offload) {
                let off = if self.offload {
                    pkt.offload
                } else {
                    Offload::default()
                };
                if self.push(pkt.data(), off) {
                    sent += 1;
                }
                continue;
            }
            let mut scratch = match self.scratch.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let r = tx_software(pkt, &mut scratch, |f| {
                if self.push(f, Offload::default()) {
                    sent += 1;
                }
            });
            if r.is_none() {
                self.counters.tx_error();
            }
        }
        sent
    }

    fn offload_capable(&self) -> bool {
        self.offload
    }
}
