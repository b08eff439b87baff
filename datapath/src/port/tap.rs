//! `tap` and `internal` ports: TAP devices through `/dev/net/tun`.
//!
//! The device is opened with `IFF_VNET_HDR` and offloads enabled, so frames
//! from the host stack arrive with partial checksums and as TSO super-frames
//! and keep that metadata in `Packet::offload`; on transmit the header is
//! written in front of each frame.  A TAP descriptor moves one frame per
//! `read`/`writev`; a batch is a loop until the queue is empty.

use super::{
    MAX_FRAME, Port, PortCounters, PortKind, PortParts, PortRx, PortTx, offload_from_vnet,
    tx_software, vnet_from_offload,
};
use crate::packet::Packet;
use crate::sys::{Tap, TapOptions, VnetHdr};
use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

/// Receive half of a TAP port.
#[derive(Debug)]
pub(crate) struct TapRx {
    tap: Tap,
    counters: Arc<PortCounters>,
}

/// Transmit half of a TAP port.
#[derive(Debug)]
pub(crate) struct TapTx {
    tap: Tap,
    counters: Arc<PortCounters>,
    scratch: Mutex<Vec<u8>>,
}

/// A TAP device.
#[derive(Debug)]
pub struct TapPort {
    name: String,
    kind: PortKind,
    counters: Arc<PortCounters>,
    rx: TapRx,
    tx: Arc<TapTx>,
}

impl TapPort {
    /// Creates (or attaches to a persistent) TAP device `name` in the calling
    /// thread's network namespace.
    pub fn open(name: &str, opts: &TapOptions) -> io::Result<TapPort> {
        Self::open_kind(name, opts, PortKind::Tap)
    }

    fn open_kind(name: &str, opts: &TapOptions, kind: PortKind) -> io::Result<TapPort> {
        let tap = Tap::open(name, opts)?;
        let txtap = tap.try_clone()?;
        let counters = Arc::new(PortCounters::default());
        Ok(TapPort {
            name: tap.name().to_owned(),
            kind,
            counters: counters.clone(),
            rx: TapRx {
                tap,
                counters: counters.clone(),
            },
            tx: Arc::new(TapTx {
                tap: txtap,
                counters,
                scratch: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Makes the device outlive (or not) the port.
    pub fn set_persistent(&self, on: bool) -> io::Result<()> {
        self.rx.tap.set_persistent(on)
    }
}

impl Port for TapPort {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> PortKind {
        self.kind
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

impl PortRx for TapRx {
    fn rx(&mut self, batch: &mut [Packet]) -> io::Result<usize> {
        let mut n = 0;
        let mut bytes = 0u64;
        // Bounded by the batch size; the errors below each consume a frame.
        let mut attempts = 0;
        while n < batch.len() && attempts < batch.len() * 2 {
            attempts += 1;
            let pkt = &mut batch[n];
            pkt.reset();
            match self.tap.recv(pkt.spare_mut()) {
                Ok(None) => break,
                Ok(Some((len, hdr))) => {
                    if len > pkt.spare_mut().len() || len < 14 {
                        self.counters.rx_error();
                        continue;
                    }
                    pkt.set_len(len);
                    pkt.offload = match hdr.as_ref() {
                        Some(h) => offload_from_vnet(h, 0),
                        None => Default::default(),
                    };
                    bytes += len as u64;
                    n += 1;
                }
                // The device is down or not yet attached: nothing to read.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
                Err(e) => {
                    self.counters.rx_error();
                    if n == 0 {
                        return Err(e);
                    }
                    break;
                }
            }
        }
        self.counters.rx(n as u64, bytes);
        Ok(n)
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.tap.raw_fd())
    }
}

impl TapTx {
    fn send_frame(&self, hdr: &VnetHdr, frame: &[u8]) -> bool {
        match self.tap.send(hdr, frame) {
            Ok(()) => {
                self.counters.tx(1, frame.len() as u64);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.counters.tx_dropped(1);
                false
            }
            Err(_) => {
                self.counters.tx_error();
                false
            }
        }
    }
}

impl PortTx for TapTx {
    fn tx(&self, pkts: &[Packet]) -> usize {
        let mut sent = 0;
        for pkt in pkts {
            if pkt.len() < 14 || pkt.len() > MAX_FRAME {
                self.counters.tx_error();
                continue;
            }
            if self.tap.vnet_hdr() || !super::needs_offload_work(&pkt.offload) {
                if self.send_frame(&vnet_from_offload(&pkt.offload), pkt.data()) {
                    sent += 1;
                }
            } else {
                let mut scratch = match self.scratch.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                let none = VnetHdr::default();
                match tx_software(pkt, &mut scratch, |f| {
                    if self.send_frame(&none, f) {
                        sent += 1;
                    }
                }) {
                    Some(_) => {}
                    None => self.counters.tx_error(),
                }
            }
        }
        sent
    }

    fn offload_capable(&self) -> bool {
        self.tap.vnet_hdr()
    }
}

/// The bridge's own port: a TAP device named after the bridge.
#[derive(Debug)]
pub struct InternalPort(TapPort);

impl InternalPort {
    /// Creates the internal port of bridge `bridge` (a non-persistent TAP
    /// device of that name, offloads on) in the calling thread's namespace.
    pub fn open(bridge: &str) -> io::Result<InternalPort> {
        TapPort::open_kind(bridge, &TapOptions::default(), PortKind::Internal).map(InternalPort)
    }
}

impl Port for InternalPort {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn kind(&self) -> PortKind {
        PortKind::Internal
    }
    fn counters(&self) -> &Arc<PortCounters> {
        self.0.counters()
    }
    fn rx(&mut self, batch: &mut [Packet]) -> io::Result<usize> {
        self.0.rx(batch)
    }
    fn tx(&mut self, pkts: &[Packet]) -> usize {
        self.0.tx(pkts)
    }
    fn poll_fd(&self) -> Option<RawFd> {
        self.0.poll_fd()
    }
    fn into_parts(self: Box<Self>) -> PortParts {
        Box::new(self.0).into_parts()
    }
}
