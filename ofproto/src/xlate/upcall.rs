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
//! Install policy: a translation is installed as a megaflow unless it was
//! cut short or it ran NORMAL.  NORMAL's result depends on the learning
//! table, and until a revalidator re-translates megaflows when
//! [`crate::normal::MacLearning::generation`] moves, a cached NORMAL
//! decision could outlive the table entry it read; those packets take
//! the slow path each time instead.  Port-state-dependent megaflows
//! (fast-failover, flooding) are installed: the switch must flush or
//! revalidate them on port status changes.
//!
//! Packet-ins: the `userspace` callback decodes the cookie and queues a
//! [`PacketInEvent`] (bounded by [`MAX_PACKET_INS`]; beyond it events are
//! dropped and counted); the controller channel drains them with
//! [`XlateUpcall::take_packet_ins`].  Meters are not decided here (every
//! packet passes); the switch's meter implementation has to replace the
//! `meter` callback.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use datapath::flow::FlowKey;
use datapath::packet::Packet;
use datapath::pmd::Clock;
use datapath::upcall::{Upcall, UpcallError, UpcallResult};

use super::{ControllerCookie, PipelineView, XlateCtx, translate};

/// Most packet-ins queued before new ones are dropped.
pub const MAX_PACKET_INS: usize = 1024;

/// A packet the datapath sent to the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketInEvent {
    /// `OFPR_*`.
    pub reason: u8,
    /// Table of the sending rule.
    pub table_id: u8,
    /// Cookie of the sending rule (`u64::MAX`: none).
    pub cookie: u64,
    /// The input port (datapath numbering = OpenFlow numbering for now).
    pub in_port: u32,
    /// The pipeline's `metadata` when the packet was sent.
    pub metadata: u64,
    /// The packet, cut to the requested length.
    pub data: Vec<u8>,
    /// The packet's full length.
    pub total_len: usize,
}

/// The translation as the datapath's slow path (see the module
/// documentation).
pub struct XlateUpcall<V> {
    view: RwLock<Arc<V>>,
    ctx: Mutex<XlateCtx>,
    clock: Arc<dyn Clock>,
    packet_ins: Mutex<VecDeque<PacketInEvent>>,
    dropped_packet_ins: AtomicU64,
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
            packet_ins: Mutex::new(VecDeque::new()),
            dropped_packet_ins: AtomicU64::new(0),
        }
    }

    /// Publishes a new snapshot; later upcalls translate against it.
    pub fn publish(&self, view: Arc<V>) {
        if let Ok(mut v) = self.view.write() {
            *v = view;
        }
    }

    /// Runs `f` on the translation context (e.g. `fdb/show`, aging).
    pub fn with_ctx<R>(&self, f: impl FnOnce(&mut XlateCtx) -> R) -> Option<R> {
        self.ctx.lock().ok().map(|mut c| f(&mut c))
    }

    /// Takes the queued packet-ins.
    pub fn take_packet_ins(&self) -> Vec<PacketInEvent> {
        self.packet_ins
            .lock()
            .map(|mut q| q.drain(..).collect())
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
        let r = translate(&*view, key, &mut ctx);
        drop(ctx);
        let len = u64::try_from(pkt.len()).unwrap_or(u64::MAX);
        for rule in &r.rules_hit {
            rule.data.record(1, len, now);
        }
        out.install = !r.truncated && r.mac_generation.is_none();
        out.actions = r.actions;
        out.mask = r.wc;
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
        let cut = if max_len == 0 {
            data.len()
        } else {
            data.len()
                .min(usize::try_from(max_len).unwrap_or(usize::MAX))
        };
        let ev = PacketInEvent {
            reason: cc.reason,
            table_id: cc.table_id,
            cookie: rule_cookie,
            in_port: pkt.in_port,
            metadata,
            data: data.get(..cut).unwrap_or(data).to_vec(),
            total_len: data.len(),
        };
        if let Ok(mut q) = self.packet_ins.lock() {
            if q.len() >= MAX_PACKET_INS {
                self.dropped_packet_ins.fetch_add(1, Ordering::Relaxed);
            } else {
                q.push_back(ev);
            }
        }
    }
}
