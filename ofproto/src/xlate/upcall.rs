//! [`XlateUpcall`]: the datapath's [`Upcall`] answered by translation.
//!
//! The adapter holds the current [`PipelineView`] snapshot behind an
//! `RwLock<Arc<V>>` (the switch publishes a new snapshot after every
//! table change with [`XlateUpcall::publish`]), the [`XlateCtx`] (MAC
//! table, cookie registry) behind a mutex, and a clock.  On an upcall it
//! translates the key, credits the rules hit with this packet, and
//! answers the actions and mask.  Upcalls of all PMD threads serialize on
//! the context mutex (translation is short; the learning table needs one
//! writer); a per-thread context would need a shared learning table.
//!
//! Ports: the datapath's numbers are converted to and from OpenFlow
//! numbers by the view ([`super::translate_datapath`]), which also
//! honours fail-open (NORMAL only).
//!
//! Install policy: a translation is installed as a megaflow unless it was
//! cut short.  NORMAL results are installed too: the owner (the bridge)
//! revalidates every megaflow when the learning table's generation moves
//! ([`XlateUpcall::set_waker`] is called when an upcall changed it, so
//! the owner runs soon), and the datapath refuses to install a decision
//! made before a revalidation began ([`datapath::dpif::Dpif::begin_revalidation`]).
//! Port-state-dependent megaflows (fast-failover, flooding) are
//! revalidated on port changes the same way.
//!
//! Counters: a packet whose translation is installed is counted by its
//! megaflow (the owner credits the rules from megaflow statistics); a
//! packet executed once without a megaflow credits the rules it hit here.
//!
//! Packet-ins: the `userspace` callback decodes the cookie and queues a
//! [`PacketInEvent`] holding the whole packet and the requested length
//! (bounded by [`MAX_PACKET_INS`] events and [`MAX_PACKET_IN_BYTES`];
//! beyond either, events are dropped and counted); the owner drains them with [`XlateUpcall::take_packet_ins`]
//! (and decides about buffering and truncation).  Meters: the `meter`
//! callback asks the [`MeterDecider`] installed with
//! [`XlateUpcall::set_meter_decider`] (every packet passes without one).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use datapath::actions::MeterVerdict;
use datapath::flow::FlowKey;
use datapath::packet::Packet;
use datapath::pmd::Clock;
use datapath::upcall::{Upcall, UpcallError, UpcallResult};

use super::{ControllerCookie, PipelineView, XlateCtx, translate_datapath};
use crate::service::Waker;

/// Decides meter bands for packets (shared with the PMD threads: must not
/// block for long).
pub trait MeterDecider: Send + Sync {
    /// Meters one packet of `bytes` through meter `meter` at `now_ms`.
    fn decide(&self, meter: u32, bytes: u64, now_ms: u64) -> MeterVerdict;
}

/// Most packet-ins queued before new ones are dropped.
pub const MAX_PACKET_INS: usize = 1024;
/// Most packet bytes queued in packet-ins before new ones are dropped.
pub const MAX_PACKET_IN_BYTES: usize = 8 << 20;

/// A packet the datapath sent to the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketInEvent {
    /// `OFPR_*`.
    pub reason: u8,
    /// Table of the sending rule.
    pub table_id: u8,
    /// Cookie of the sending rule (`u64::MAX`: none).
    pub cookie: u64,
    /// The OpenFlow input port (`OFPP_CONTROLLER` for a packet-out's).
    pub in_port: u32,
    /// The pipeline's `metadata` when the packet was sent.
    pub metadata: u64,
    /// The whole packet.
    pub data: Vec<u8>,
    /// The packet's full length.
    pub total_len: usize,
    /// Bytes the action asked for (0: all, `OFPCML_NO_BUFFER`).
    pub max_len: u32,
}

/// The translation as the datapath's slow path (see the module
/// documentation).
pub struct XlateUpcall<V> {
    view: RwLock<Arc<V>>,
    ctx: Mutex<XlateCtx>,
    clock: Arc<dyn Clock>,
    /// Queued packet-ins and the packet bytes they hold.
    packet_ins: Mutex<(VecDeque<PacketInEvent>, usize)>,
    dropped_packet_ins: AtomicU64,
    waker: RwLock<Option<Waker>>,
    meters: RwLock<Option<Arc<dyn MeterDecider>>>,
    mac_generation: AtomicU64,
}

impl<V> std::fmt::Debug for XlateUpcall<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XlateUpcall")
            .field("dropped_packet_ins", &self.dropped_packet_ins())
            .finish_non_exhaustive()
    }
}

impl<V: PipelineView + Send + Sync> XlateUpcall<V> {
    /// An adapter over `view`, with `ctx` and `clock`.
    pub fn new(view: Arc<V>, ctx: XlateCtx, clock: Arc<dyn Clock>) -> Self {
        Self {
            view: RwLock::new(view),
            ctx: Mutex::new(ctx),
            clock,
            packet_ins: Mutex::new((VecDeque::new(), 0)),
            dropped_packet_ins: AtomicU64::new(0),
            waker: RwLock::new(None),
            meters: RwLock::new(None),
            mac_generation: AtomicU64::new(0),
        }
    }

    /// The current snapshot.
    pub fn view(&self) -> Option<Arc<V>> {
        self.view.read().ok().map(|v| Arc::clone(&v))
    }

    /// Installs the callback run (from PMD threads) when a packet-in was
    /// queued or an upcall moved the MAC-learning generation.
    pub fn set_waker(&self, waker: Option<Waker>) {
        if let Ok(mut w) = self.waker.write() {
            *w = waker;
        }
    }

    /// Installs the meter band decider.
    pub fn set_meter_decider(&self, d: Option<Arc<dyn MeterDecider>>) {
        if let Ok(mut m) = self.meters.write() {
            *m = d;
        }
    }

    fn wake(&self) {
        if let Some(w) = self.waker.read().ok().and_then(|w| w.clone()) {
            w();
        }
    }

    /// Publishes a new snapshot; later upcalls translate against it.
    pub fn publish(&self, view: Arc<V>) {
        let old = match self.view.write() {
            Ok(mut v) => std::mem::replace(&mut *v, view),
            Err(_) => return,
        };
        // The previous snapshot may be the last owner of big table
        // copies: free them outside the lock upcalls take.
        drop(old);
    }

    /// Runs `f` on the translation context (e.g. `fdb/show`, aging).
    pub fn with_ctx<R>(&self, f: impl FnOnce(&mut XlateCtx) -> R) -> Option<R> {
        self.ctx.lock().ok().map(|mut c| f(&mut c))
    }

    /// Takes the queued packet-ins.
    pub fn take_packet_ins(&self) -> Vec<PacketInEvent> {
        self.packet_ins
            .lock()
            .map(|mut q| {
                q.1 = 0;
                q.0.drain(..).collect()
            })
            .unwrap_or_default()
    }
}

impl<V> XlateUpcall<V> {
    /// Packet-ins dropped because the queue was full.
    pub fn dropped_packet_ins(&self) -> u64 {
        self.dropped_packet_ins.load(Ordering::Relaxed)
    }
}

impl<V: PipelineView + Send + Sync> Upcall for XlateUpcall<V> {
    fn upcall(
        &self,
        pkt: &Packet,
        key: &FlowKey,
        out: &mut UpcallResult,
    ) -> Result<(), UpcallError> {
        let view = self
            .view
            .read()
            .map(|v| Arc::clone(&v))
            .map_err(|_| UpcallError::Unavailable)?;
        let mut ctx = self.ctx.lock().map_err(|_| UpcallError::Unavailable)?;
        let now = self.clock.now_ms();
        ctx.now_ms = now;
        ctx.may_learn = true;
        let r = translate_datapath(&*view, key, &mut ctx);
        let generation = ctx.mac.generation();
        drop(ctx);
        out.install = !r.truncated;
        if !out.install {
            let len = u64::try_from(pkt.len()).unwrap_or(u64::MAX);
            for rule in &r.rules_hit {
                rule.data.record(1, len, now);
            }
            super::credit_tables(&*view, &r, 1);
        }
        out.actions = r.actions;
        out.mask = r.wc;
        if self.mac_generation.swap(generation, Ordering::Relaxed) != generation {
            self.wake();
        }
        Ok(())
    }

    fn userspace(&self, pkt: &Packet, cookie: u64, max_len: u32) {
        let Some(cc) = ControllerCookie::unpack(cookie) else {
            return;
        };
        let (rule_cookie, metadata) = self
            .ctx
            .lock()
            .map(|c| c.cookies.get(cc.slot))
            .unwrap_or((u64::MAX, 0));
        let data = pkt.data();
        let in_port = self
            .view
            .read()
            .map(|v| v.dp_to_of(pkt.in_port))
            .unwrap_or(pkt.in_port);
        let ev = PacketInEvent {
            reason: cc.reason,
            table_id: cc.table_id,
            cookie: rule_cookie,
            in_port,
            metadata,
            data: data.to_vec(),
            total_len: data.len(),
            max_len,
        };
        let queued = match self.packet_ins.lock() {
            Ok(mut q)
                if q.0.len() < MAX_PACKET_INS
                    && q.1.saturating_add(ev.data.len()) <= MAX_PACKET_IN_BYTES =>
            {
                q.1 += ev.data.len();
                q.0.push_back(ev);
                true
            }
            _ => {
                self.dropped_packet_ins.fetch_add(1, Ordering::Relaxed);
                false
            }
        };
        if queued {
            self.wake();
        }
    }

    fn meter(&self, meter: u32, pkt: &Packet, now_ms: u64) -> bool {
        self.meter_verdict(meter, pkt, now_ms) != MeterVerdict::Drop
    }

    fn meter_verdict(&self, meter: u32, pkt: &Packet, now_ms: u64) -> MeterVerdict {
        let d = self.meters.read().ok().and_then(|m| m.clone());
        match d {
            Some(d) => d.decide(meter, u64::try_from(pkt.len()).unwrap_or(u64::MAX), now_ms),
            None => MeterVerdict::Pass,
        }
    }
}
