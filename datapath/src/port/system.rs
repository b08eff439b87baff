//! `system` ports: an existing network device through `AF_PACKET`.
//!
//! Receive reads the `TPACKET_V2` ring (frames too big for a ring slot come
//! through the socket queue, see `sys`), re-inserts the VLAN tag the kernel
//! stripped, and keeps the virtio-net header in `Packet::offload`.  Transmit
//! is one `sendmmsg` per batch with each frame's virtio-net header, so the
//! kernel (and the veth peer) finish checksums and segmentation.

use super::{
    MAX_FRAME, Port, PortCounters, PortKind, PortParts, PortRx, PortTx, fill_packet, tx_software,
    vnet_from_offload,
};
use crate::packet::Packet;
use crate::sys::{PacketSender, PacketSocket, PacketSocketOptions, RecvMeta, VnetHdr};
use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

/// Options of a [`SystemPort`].
#[derive(Debug, Clone, Default)]
pub struct SystemPortOptions {
    /// Socket options (ring size, buffers, vnet headers, qdisc bypass).
    pub socket: PacketSocketOptions,
}

/// Receive half of a system port.
#[derive(Debug)]
pub(crate) struct SystemRx {
    sock: PacketSocket,
    counters: Arc<PortCounters>,
    polls: u32,
}

/// Transmit half of a system port.
#[derive(Debug)]
pub(crate) struct SystemTx {
    sender: PacketSender,
    counters: Arc<PortCounters>,
    scratch: Mutex<Vec<u8>>,
}

/// An existing network device attached through `AF_PACKET`.
#[derive(Debug)]
pub struct SystemPort {
    name: String,
    counters: Arc<PortCounters>,
    rx: SystemRx,
    tx: Arc<SystemTx>,
}

impl SystemPort {
    /// Attaches to device `name` in the calling thread's network namespace.
    pub fn open(name: &str, opts: &SystemPortOptions) -> io::Result<SystemPort> {
        let sock = PacketSocket::open(name, &opts.socket)?;
        let sender = sock.try_clone_sender()?;
        let counters = Arc::new(PortCounters::default());
        Ok(SystemPort {
            name: name.to_owned(),
            counters: counters.clone(),
            rx: SystemRx {
                sock,
                counters: counters.clone(),
                polls: 0,
            },
            tx: Arc::new(SystemTx {
                sender,
                counters,
                scratch: Mutex::new(Vec::new()),
            }),
        })
    }
}

impl Port for SystemPort {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> PortKind {
        PortKind::System
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
            tx: self.tx,
        }
    }
}

impl SystemRx {
    /// Stores one received frame; false if it had to be dropped.
    fn store(&self, pkt: &mut Packet, data: &[u8], meta: &RecvMeta) -> bool {
        if meta.outgoing {
            return false;
        }
        if meta.orig_len > data.len() || !fill_packet(pkt, data, meta.vlan, meta.vnet.as_ref()) {
            self.counters.rx_error();
            return false;
        }
        true
    }

    fn rx_ring(&mut self, batch: &mut [Packet]) -> io::Result<usize> {
        let mut n = 0;
        let mut bytes = 0u64;
        // Skipped frames (our own, unusable) also consume budget, so one
        // call is bounded even if the kernel refills the ring as fast.
        let mut budget = batch.len() * 2;
        while n < batch.len() && budget > 0 {
            budget -= 1;
            let Some(frame) = self.sock.peek_frame() else {
                break;
            };
            let ok = if frame.copied {
                // The whole frame waits on the socket queue.
                let pkt = &mut batch[n];
                pkt.reset();
                match self.sock.recv_one(pkt.spare_mut()) {
                    Ok(Some(meta)) if !meta.outgoing && meta.orig_len <= meta.len => {
                        let ok = finish_in_place(pkt, &meta);
                        if !ok {
                            self.counters.rx_error();
                        }
                        ok
                    }
                    Ok(Some(meta)) if meta.outgoing => false,
                    _ => {
                        self.counters.rx_error();
                        false
                    }
                }
            } else {
                let meta = frame.meta;
                self.store(&mut batch[n], frame.data, &meta)
            };
            self.sock.release_frame();
            if ok {
                bytes += batch[n].len() as u64;
                n += 1;
            }
        }
        self.counters.rx(n as u64, bytes);
        Ok(n)
    }

    fn rx_mmsg(&mut self, batch: &mut [Packet]) -> io::Result<usize> {
        const MAX: usize = 64;
        let want = batch.len().min(MAX);
        let mut metas = [RecvMeta::default(); MAX];
        let got = {
            // The slice array lives on the stack: no allocation per batch.
            let mut arr: [&mut [u8]; MAX] = std::array::from_fn(|_| &mut [][..]);
            for (slot, pkt) in arr.iter_mut().zip(batch.iter_mut()).take(want) {
                pkt.reset();
                *slot = pkt.spare_mut();
            }
            self.sock.recv_batch(&mut arr[..want], &mut metas[..want])?
        };
        // Compact: keep the usable frames at the front of the batch.
        let mut n = 0;
        let mut bytes = 0u64;
        for (i, &meta) in metas.iter().enumerate().take(got) {
            if meta.outgoing {
                continue;
            }
            if meta.orig_len > meta.len {
                self.counters.rx_error();
                continue;
            }
            if i != n {
                batch.swap(i, n);
            }
            let pkt = &mut batch[n];
            if !finish_in_place(pkt, &meta) {
                self.counters.rx_error();
                continue;
            }
            bytes += pkt.len() as u64;
            n += 1;
        }
        self.counters.rx(n as u64, bytes);
        Ok(n)
    }
}

/// Completes a packet whose frame was received straight into its spare
/// room: sets the length, re-inserts a stripped VLAN tag (moving the payload
/// 4 bytes up) and records the offload metadata.
fn finish_in_place(pkt: &mut Packet, meta: &RecvMeta) -> bool {
    let len = meta.len;
    let tag_len = match meta.vlan {
        Some(tag) if len >= 12 => {
            let spare = pkt.spare_mut();
            if len + 4 > spare.len() {
                return false;
            }
            spare.copy_within(12..len, 16);
            spare[12..14].copy_from_slice(&tag.tpid.to_be_bytes());
            spare[14..16].copy_from_slice(&tag.tci.to_be_bytes());
            4
        }
        _ => 0,
    };
    pkt.set_len(len + tag_len);
    pkt.offload = match meta.vnet.as_ref() {
        Some(h) => super::offload_from_vnet(h, tag_len as u16),
        None => Default::default(),
    };
    true
}

impl PortRx for SystemRx {
    fn rx(&mut self, batch: &mut [Packet]) -> io::Result<usize> {
        // Fold the kernel's drop counter in now and then (reading resets it).
        self.polls = self.polls.wrapping_add(1);
        if self.polls % 1024 == 0 {
            if let Ok(st) = self.sock.take_stats() {
                self.counters.rx_dropped(u64::from(st.drops));
            }
        }
        if self.sock.has_ring() {
            self.rx_ring(batch)
        } else {
            self.rx_mmsg(batch)
        }
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.sock.raw_fd())
    }

    fn clear_error(&mut self) {
        if let Some(e) = self.sock.take_error() {
            tracing::debug!(error = %e, "packet socket error");
            self.counters.rx_error();
        }
    }
}

impl SystemTx {
    fn send_soft(&self, pkt: &Packet) -> usize {
        let mut scratch = match self.scratch.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let none = VnetHdr::default();
        let mut sent = 0;
        let r = tx_software(pkt, &mut scratch, |frame| {
            match self.sender.send_one(&none, frame) {
                Ok(()) => {
                    self.counters.tx(1, frame.len() as u64);
                    sent += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.counters.tx_dropped(1),
                Err(_) => self.counters.tx_error(),
            }
        });
        if r.is_none() {
            self.counters.tx_error();
        }
        sent
    }
}

impl SystemTx {
    /// Sends `frames` (with `hdrs`) with as few `sendmmsg` calls as
    /// possible; a frame the kernel refuses is counted and skipped.
    fn send_all(&self, hdrs: &[VnetHdr], frames: &[&[u8]]) -> usize {
        let k = frames.len();
        let mut sent = 0;
        let mut i = 0;
        while i < k {
            match self.sender.send_batch(&hdrs[i..k], &frames[i..k]) {
                Ok(m) if m > 0 => {
                    let bytes: usize = frames[i..i + m].iter().map(|f| f.len()).sum();
                    self.counters.tx(m as u64, bytes as u64);
                    sent += m;
                    i += m;
                }
                Ok(_) => {
                    self.counters.tx_dropped(1);
                    i += 1;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::ENOBUFS)) => {
                    self.counters.tx_dropped(1);
                    i += 1;
                }
                Err(_) => {
                    self.counters.tx_error();
                    i += 1;
                }
            }
        }
        sent
    }
}

impl PortTx for SystemTx {
    fn tx(&self, pkts: &[Packet]) -> usize {
        const MAX: usize = 32;
        let vnet = self.sender.vnet_hdr();
        let mut sent = 0;
        for chunk in pkts.chunks(MAX) {
            let mut hdrs = [VnetHdr::default(); MAX];
            let mut frames: [&[u8]; MAX] = [&[]; MAX];
            let mut k = 0;
            for pkt in chunk {
                if pkt.len() < 14 || pkt.len() > MAX_FRAME {
                    self.counters.tx_error();
                    continue;
                }
                if !vnet && super::needs_offload_work(&pkt.offload) {
                    // Keep order: what is accumulated goes first.
                    sent += self.send_all(&hdrs[..k], &frames[..k]);
                    k = 0;
                    sent += self.send_soft(pkt);
                    continue;
                }
                hdrs[k] = vnet_from_offload(&pkt.offload);
                frames[k] = pkt.data();
                k += 1;
            }
            sent += self.send_all(&hdrs[..k], &frames[..k]);
        }
        sent
    }

    fn offload_capable(&self) -> bool {
        self.sender.vnet_hdr()
    }
}
