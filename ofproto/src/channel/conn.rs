//! Per-connection protocol rules without I/O: version negotiation, the
//! master election id, asynchronous-message masks and role status.

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::consts::OFP_VERSION;
use crate::wire::error::{ErrorType, hello_failed};
use crate::wire::message::{AsyncConfig, ErrorMsg, controller_role};
use crate::wire::{Body, Hello, Message};

/// The ONF experimenter id.
pub(crate) const ONF_EXPERIMENTER: u32 = 0x4f4e_4600;
/// `ONFT_ROLE_STATUS` (the OpenFlow 1.3 extension of 1.4's role status).
pub(crate) const ONFT_ROLE_STATUS: u32 = 1911;
/// `OFPCRR_MASTER_REQUEST`: another controller asked to be master.
pub(crate) const OFPCRR_MASTER_REQUEST: u8 = 0;

/// The versions a hello advertises: its bitmap, or without one every
/// version from 1 up to the header's.
pub(crate) fn peer_versions(h: &Hello) -> Vec<u8> {
    match h.versions() {
        Some(v) => v,
        None => (1..=h.version).collect(),
    }
}

fn version_list(v: &[u8]) -> String {
    let names: Vec<String> = v.iter().map(|x| format!("0x{x:02x}")).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Whether OpenFlow 1.3 is common to us and the peer; the error is the
/// readable text for `OFPHFC_INCOMPATIBLE`.
pub(crate) fn negotiate(h: &Hello) -> Result<(), String> {
    let theirs = peer_versions(h);
    if theirs.contains(&OFP_VERSION) {
        Ok(())
    } else if h.versions().is_some() {
        Err(format!(
            "We support version 0x{OFP_VERSION:02x} (OpenFlow 1.3) only; \
             the peer's version bitmap lists {}",
            version_list(&theirs)
        ))
    } else {
        Err(format!(
            "We support version 0x{OFP_VERSION:02x} (OpenFlow 1.3) only; \
             the peer supports version 0x{:02x} and earlier",
            h.version
        ))
    }
}

/// The `OFPET_HELLO_FAILED`/`OFPHFC_INCOMPATIBLE` error with `text`,
/// sent with the header version the peer can read (its own, at most 1.3).
pub(crate) fn hello_failed(peer_version: u8, xid: u32, text: &str) -> Bytes {
    let msg = Message::new(
        xid,
        Body::Error(ErrorMsg {
            etype: ErrorType::HELLO_FAILED,
            code: hello_failed::INCOMPATIBLE,
            experimenter: None,
            data: text.as_bytes().to_vec(),
        }),
    );
    let mut b = BytesMut::new();
    msg.encode(&mut b);
    if let Some(v) = b.first_mut() {
        *v = peer_version.clamp(1, OFP_VERSION);
    }
    b.freeze()
}

/// The spec's initial asynchronous configuration (1.3.5 section 6.1.1;
/// Open vSwitch uses the same): master/equal get packet-ins for no-match
/// and action, every port status and flow-removed reason; slaves only port
/// status.
pub(crate) fn default_async() -> AsyncConfig {
    AsyncConfig {
        packet_in_mask: [0b011, 0],
        port_status_mask: [0b111, 0b111],
        flow_removed_mask: [0b1111, 0],
    }
}

/// The kind of an asynchronous message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AsyncKind {
    PacketIn,
    PortStatus,
    FlowRemoved,
}

/// The kind and reason of an asynchronous body.
pub(crate) fn classify(body: &Body) -> Option<(AsyncKind, u8)> {
    match body {
        Body::PacketIn(p) => Some((AsyncKind::PacketIn, p.reason)),
        Body::PortStatus(p) => Some((AsyncKind::PortStatus, p.reason)),
        // METER_DELETE (4) is a 1.4 reason: 1.3 controllers see it as a
        // delete, so the delete bit governs it.
        Body::FlowRemoved(f) => Some((
            AsyncKind::FlowRemoved,
            if f.reason == 4 { 2 } else { f.reason },
        )),
        _ => None,
    }
}

/// Whether a connection in `role` with `cfg` wants the message.
pub(crate) fn wants(cfg: &AsyncConfig, role: u32, kind: AsyncKind, reason: u8) -> bool {
    let i = usize::from(role == controller_role::SLAVE);
    let mask = match kind {
        AsyncKind::PacketIn => cfg.packet_in_mask[i],
        AsyncKind::PortStatus => cfg.port_status_mask[i],
        AsyncKind::FlowRemoved => cfg.flow_removed_mask[i],
    };
    reason < 32 && mask & (1u32 << reason) != 0
}

/// The master election generation id shared by a switch's connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Election {
    generation: Option<u64>,
}

impl Election {
    /// Records `id` unless it is older than the last one (compared as the
    /// spec says: the unsigned difference read as signed, so ids may wrap).
    pub(crate) fn offer(&mut self, id: u64) -> bool {
        if let Some(cur) = self.generation {
            #[allow(clippy::cast_possible_wrap)]
            let diff = id.wrapping_sub(cur) as i64;
            if diff < 0 {
                return false;
            }
        }
        self.generation = Some(id);
        true
    }

    /// The id to put in role replies (0 while none was ever given).
    pub(crate) fn current(&self) -> Option<u64> {
        self.generation
    }
}

/// The ONF role-status message telling a connection its role changed.
pub(crate) fn role_status(role: u32, reason: u8, generation_id: u64) -> Message {
    let mut data = Vec::with_capacity(16);
    data.put_u32(role);
    data.put_u8(reason);
    data.put_slice(&[0, 0, 0]);
    data.put_u64(generation_id);
    Message::new(
        0,
        Body::Experimenter {
            experimenter: ONF_EXPERIMENTER,
            exp_type: ONFT_ROLE_STATUS,
            data,
        },
    )
}

/// The status-table name of a role.
pub(crate) fn role_name(role: u32) -> &'static str {
    match role {
        controller_role::MASTER => "master",
        controller_role::SLAVE => "slave",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::HelloElement;

    #[test]
    fn negotiates_like_ovs() {
        // 1.3 bitmap.
        assert!(negotiate(&Hello::with_versions(&[4])).is_ok());
        // 1.0..1.5 bitmap.
        assert!(negotiate(&Hello::with_versions(&[1, 2, 3, 4, 5, 6])).is_ok());
        // 1.0 bitmap only.
        let e = negotiate(&Hello::with_versions(&[1])).unwrap_err();
        assert!(e.contains("0x01"), "{e}");
        // No bitmap: everything up to the header version.
        for (v, ok) in [(1u8, false), (3, false), (4, true), (5, true), (6, true)] {
            let h = Hello {
                version: v,
                elements: vec![],
            };
            assert_eq!(negotiate(&h).is_ok(), ok, "version {v}");
        }
        // A 1.0 header with a bitmap that includes 1.3.
        let h = Hello {
            version: 1,
            elements: vec![HelloElement::VersionBitmap(vec![0b10010])],
        };
        assert!(negotiate(&h).is_ok());
    }

    #[test]
    fn hello_failed_uses_the_peer_version() {
        let b = hello_failed(1, 7, "nope");
        assert_eq!(b[0], 1);
        assert_eq!(&b[8..12], &[0, 0, 0, 0]);
        assert_eq!(&b[12..], b"nope");
        let b = hello_failed(6, 7, "x");
        assert_eq!(b[0], 4);
    }

    #[test]
    fn election_compares_with_wrap_around() {
        let mut e = Election::default();
        assert_eq!(e.current(), None);
        assert!(e.offer(10));
        assert!(e.offer(10));
        assert!(!e.offer(9));
        assert!(e.offer(11));
        let mut e = Election::default();
        assert!(e.offer(u64::MAX - 1));
        assert!(e.offer(2)); // wrapped: newer
        assert!(!e.offer(u64::MAX)); // older than 2 after wrap
        assert!(!e.offer(2 + (1 << 63) + 1)); // more than half the space ahead = behind
    }

    #[test]
    fn default_masks_are_the_specs() {
        let c = default_async();
        use controller_role::*;
        assert!(wants(&c, EQUAL, AsyncKind::PacketIn, 0));
        assert!(wants(&c, MASTER, AsyncKind::PacketIn, 1));
        assert!(!wants(&c, MASTER, AsyncKind::PacketIn, 2));
        assert!(!wants(&c, SLAVE, AsyncKind::PacketIn, 0));
        assert!(wants(&c, SLAVE, AsyncKind::PortStatus, 2));
        assert!(!wants(&c, SLAVE, AsyncKind::FlowRemoved, 0));
        assert!(wants(&c, EQUAL, AsyncKind::FlowRemoved, 3));
        assert!(!wants(&c, EQUAL, AsyncKind::FlowRemoved, 40));
    }
}
