//! The seam between an OpenFlow switch and its controller channels.
//!
//! [`OpenFlowSwitch`] is what the channel layer ([`crate::channel`]) needs
//! from a switch, and nothing more: answer a request, do periodic work,
//! say when it next needs to run, report features for the handshake, and
//! wake the channel layer when something asynchronous happened (a
//! packet-in from the datapath).  Two implementations exist: the
//! in-memory [`Switch`] (tables only, used by tests) and the bridge
//! ([`crate::bridge`]) that drives a datapath.
//!
//! # Contract
//!
//! * Requests of one connection are handed over in the order they
//!   arrived, each completely handled before the next: replies are pushed
//!   to `out` in request order.
//! * Everything pushed to `out` whose body is a reply or an error answers
//!   the request being handled (the channel layer sends it to that
//!   connection only).  `PACKET_IN`, `FLOW_REMOVED` and `PORT_STATUS`
//!   bodies (xid 0) are asynchronous: the channel layer decides, per
//!   connection role and asynchronous configuration, who receives them.
//! * A `BARRIER_REPLY` pushed by `handle_message` means every earlier
//!   request's effects are visible to packets (the implementation
//!   publishes and revalidates before answering a barrier).
//! * `run` drains asynchronous messages produced outside requests
//!   (timeouts, datapath packet-ins, port changes made by the daemon) and
//!   does the periodic work due at `now_ms`.  The channel layer calls it
//!   after every batch of requests, when the waker fires, and no later
//!   than [`OpenFlowSwitch::next_wake_ms`].
//! * Time is an argument (ms of a monotonic clock).

use std::sync::Arc;

use crate::switch::{ConnCtx, Switch};
use crate::wire::message::FeaturesReply;
use crate::wire::{Body, Message};

/// A callback the switch calls (from any thread, without blocking) when it
/// has asynchronous work for [`OpenFlowSwitch::run`].
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// What the controller-channel layer needs from a switch (see the module
/// documentation for the contract).
pub trait OpenFlowSwitch: Send {
    /// The `FEATURES_REPLY` body (datapath id, buffers, tables,
    /// capabilities).
    fn features(&self) -> FeaturesReply;

    /// Handles one decoded request from a connection; `raw` is its
    /// encoding (error replies quote it).  Replies, then the asynchronous
    /// messages the request caused, go to `out`.
    fn handle_message(
        &mut self,
        conn: ConnCtx,
        msg: &Message,
        raw: &[u8],
        now_ms: u64,
        out: &mut Vec<Message>,
    );

    /// Periodic work due at `now_ms`; asynchronous messages produced since
    /// the last call go to `out`.
    fn run(&mut self, now_ms: u64, out: &mut Vec<Message>);

    /// The latest time `run` should next be called, if any.
    fn next_wake_ms(&self) -> Option<u64>;

    /// Installs the waker (replacing any earlier one).  Default: ignored
    /// (a switch without outside events never needs it).
    fn set_waker(&mut self, waker: Waker) {
        let _ = waker;
    }

    /// Fail-open: while `on`, forward as a plain learning switch (NORMAL)
    /// whatever the tables say.  The channel layer turns it on in
    /// `standalone` fail mode when no controller has been reachable for a
    /// while, and off when one connects.  Default: ignored.
    fn set_fail_open(&mut self, on: bool) {
        let _ = on;
    }

    /// Applies a committed bundle's requests (`FLOW_MOD`, `GROUP_MOD`,
    /// `PORT_MOD`, each decoded with its encoding) atomically and in order:
    /// either every one takes effect, and the asynchronous messages they
    /// caused go to `out`, or none does, the first failure's error reply
    /// goes to `out` and the result is false.  Default: bundles are not
    /// supported (`OFPBFC_MSG_UNSUP` for the first request).
    fn commit_bundle(
        &mut self,
        conn: ConnCtx,
        msgs: &[(Message, Vec<u8>)],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) -> bool {
        let _ = (conn, now_ms);
        if let Some((m, raw)) = msgs.first() {
            out.push(crate::bundle::bundle_error(
                m.xid,
                crate::bundle::failed::MSG_UNSUP,
                raw,
            ));
            return false;
        }
        true
    }
}

/// Whether a message body is asynchronous (switch-initiated, for the
/// channel layer to route) rather than a reply to the request.
pub fn is_async(body: &Body) -> bool {
    matches!(
        body,
        Body::PacketIn(_) | Body::FlowRemoved(_) | Body::PortStatus(_)
    )
}

impl OpenFlowSwitch for Switch {
    fn features(&self) -> FeaturesReply {
        Switch::features(self)
    }

    fn handle_message(
        &mut self,
        conn: ConnCtx,
        msg: &Message,
        raw: &[u8],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) {
        Switch::handle_message(self, conn, msg, raw, now_ms, out);
    }

    fn run(&mut self, now_ms: u64, out: &mut Vec<Message>) {
        self.expire(now_ms, out);
    }

    fn next_wake_ms(&self) -> Option<u64> {
        self.next_expiry()
    }

    fn commit_bundle(
        &mut self,
        conn: ConnCtx,
        msgs: &[(Message, Vec<u8>)],
        now_ms: u64,
        out: &mut Vec<Message>,
    ) -> bool {
        Switch::commit_bundle(self, conn, msgs, now_ms, out)
    }
}
