//! Bundles: several modifications applied as one atomic, ordered change.
//!
//! OpenFlow 1.3 has no bundles; the ONF extension 230 (adopted into 1.4)
//! adds them as experimenter messages, and that is what `ovs-ofctl
//! --bundle` and OpenDaylight send to a 1.3 switch: experimenter id
//! `0x4F4E4600` with `exp_type` 2300 (`ONFT_BUNDLE_CONTROL`) or 2301
//! (`ONFT_BUNDLE_ADD_MESSAGE`), whose bodies are those of the 1.4
//! `OFPT_BUNDLE_CONTROL` / `OFPT_BUNDLE_ADD_MESSAGE`.
//!
//! * Control body: `bundle_id` (u32), `type` (u16: open, close, commit,
//!   discard requests and their replies), `flags` (u16: `ATOMIC`,
//!   `ORDERED`), then properties (ignored).  Replies carry the request's
//!   xid, bundle id and flags and `type + 1`.
//! * Add body: `bundle_id`, two bytes of padding, `flags`, then a whole
//!   OpenFlow message whose xid must equal the outer one, then properties
//!   (ignored).
//! * Errors are experimenter errors (type `0xffff`, experimenter
//!   `0x4F4E4600`) with code `2300 +` the 1.4 `OFPBFC_*` code, as Open
//!   vSwitch encodes them for 1.3.
//!
//! [`Bundles`] is one connection's bundle state (bundles belong to the
//! connection that opened them and vanish with it).  It answers the
//! control and add messages itself and hands a committed bundle's messages
//! back to the caller, which applies them through
//! [`crate::service::OpenFlowSwitch::commit_bundle`]: every bundle is
//! applied atomically and in order whatever its flags say (a switch may
//! always do more than asked).  What may be bundled: `FLOW_MOD`,
//! `GROUP_MOD` and `PORT_MOD` (Open vSwitch also takes `PACKET_OUT`; here it
//! is refused with `OFPBFC_MSG_UNSUP`).  Memory is bounded per connection
//! ([`MAX_BUNDLES`] open bundles, [`MAX_BUNDLE_BYTES`] of queued messages);
//! bundles do not time out.

use std::collections::BTreeMap;

use bytes::{BufMut, BytesMut};

use crate::wire::error::bad_request;
use crate::wire::message::ErrorMsg;
use crate::wire::{Body, ErrorType, Message, MsgType, OfpError};

/// The ONF experimenter id.
pub const ONF_EXPERIMENTER: u32 = 0x4F4E_4600;
/// `ONFT_BUNDLE_CONTROL`.
pub const ONFT_BUNDLE_CONTROL: u32 = 2300;
/// `ONFT_BUNDLE_ADD_MESSAGE`.
pub const ONFT_BUNDLE_ADD_MESSAGE: u32 = 2301;
/// Base of the 1.3 (ONF) encoding of `OFPBFC_*` codes.
pub const ONF_BUNDLE_ERROR_BASE: u16 = 2300;

/// Open bundles one connection may have.
pub const MAX_BUNDLES: usize = 64;
/// Bytes of bundled messages one connection may have queued.
pub const MAX_BUNDLE_BYTES: usize = 128 << 20;

/// `ofp_bundle_ctrl_type`.
pub mod ctrl_type {
    /// Open a bundle.
    pub const OPEN_REQUEST: u16 = 0;
    /// Reply to an open.
    pub const OPEN_REPLY: u16 = 1;
    /// Close a bundle (no more additions).
    pub const CLOSE_REQUEST: u16 = 2;
    /// Reply to a close.
    pub const CLOSE_REPLY: u16 = 3;
    /// Apply a bundle.
    pub const COMMIT_REQUEST: u16 = 4;
    /// Reply to a commit.
    pub const COMMIT_REPLY: u16 = 5;
    /// Drop a bundle.
    pub const DISCARD_REQUEST: u16 = 6;
    /// Reply to a discard.
    pub const DISCARD_REPLY: u16 = 7;
}

/// `ofp_bundle_flags`.
pub mod flags {
    /// Apply all or nothing.
    pub const ATOMIC: u16 = 1 << 0;
    /// Apply in the order added.
    pub const ORDERED: u16 = 1 << 1;
}

/// `ofp_bundle_failed_code` (OpenFlow 1.4 numbering).
pub mod failed {
    /// Unspecified error.
    pub const UNKNOWN: u16 = 0;
    /// Permissions error.
    pub const EPERM: u16 = 1;
    /// Bundle id doesn't exist.
    pub const BAD_ID: u16 = 2;
    /// Bundle id already exists.
    pub const BUNDLE_EXIST: u16 = 3;
    /// Bundle is closed.
    pub const BUNDLE_CLOSED: u16 = 4;
    /// Too many bundles.
    pub const OUT_OF_BUNDLES: u16 = 5;
    /// Unknown control type.
    pub const BAD_TYPE: u16 = 6;
    /// Unknown or inconsistent flags.
    pub const BAD_FLAGS: u16 = 7;
    /// Length problem in the included message.
    pub const MSG_BAD_LEN: u16 = 8;
    /// Inner and outer xid differ.
    pub const MSG_BAD_XID: u16 = 9;
    /// Message not allowed in a bundle.
    pub const MSG_UNSUP: u16 = 10;
    /// Too many messages.
    pub const MSG_TOO_MANY: u16 = 12;
    /// A message of the bundle failed.
    pub const MSG_FAILED: u16 = 13;
}

/// The experimenter error for `OFPBFC_*` code `code`, quoting `request`.
pub fn bundle_error(xid: u32, code: u16, request: &[u8]) -> Message {
    let n = request.len().min(crate::wire::message::ERROR_DATA_MAX);
    Message::new(
        xid,
        Body::Error(ErrorMsg {
            etype: ErrorType::EXPERIMENTER,
            code: ONF_BUNDLE_ERROR_BASE + code,
            experimenter: Some(ONF_EXPERIMENTER),
            data: request.get(..n).unwrap_or_default().to_vec(),
        }),
    )
}

/// A bundle control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleCtrl {
    /// Bundle id.
    pub bundle_id: u32,
    /// [`ctrl_type`].
    pub ctrl_type: u16,
    /// [`flags`].
    pub flags: u16,
}

impl BundleCtrl {
    /// Decodes the experimenter payload of an `ONFT_BUNDLE_CONTROL`.
    pub fn decode(data: &[u8]) -> Result<Self, u16> {
        let b = data.get(..8).ok_or(failed::MSG_BAD_LEN)?;
        Ok(Self {
            bundle_id: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            ctrl_type: u16::from_be_bytes([b[4], b[5]]),
            flags: u16::from_be_bytes([b[6], b[7]]),
        })
    }

    /// As a message body (no properties).
    pub fn to_body(self) -> Body {
        let mut d = BytesMut::with_capacity(8);
        d.put_u32(self.bundle_id);
        d.put_u16(self.ctrl_type);
        d.put_u16(self.flags);
        Body::Experimenter {
            experimenter: ONF_EXPERIMENTER,
            exp_type: ONFT_BUNDLE_CONTROL,
            data: d.to_vec(),
        }
    }
}

/// A bundle add message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleAdd {
    /// Bundle id.
    pub bundle_id: u32,
    /// [`flags`].
    pub flags: u16,
    /// The bundled message, whole (header included).
    pub msg: Vec<u8>,
}

impl BundleAdd {
    /// Decodes the experimenter payload of an `ONFT_BUNDLE_ADD_MESSAGE`
    /// sent with `xid`, checking the inner message's length, version,
    /// xid and type.
    pub fn decode(data: &[u8], xid: u32) -> Result<Self, u16> {
        let b = data.get(..8).ok_or(failed::MSG_BAD_LEN)?;
        let bundle_id = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let flags = u16::from_be_bytes([b[6], b[7]]);
        let inner = data.get(8..).unwrap_or_default();
        let h = inner.get(..8).ok_or(failed::MSG_BAD_LEN)?;
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if len < 8 || len > inner.len() {
            return Err(failed::MSG_BAD_LEN);
        }
        if h[0] != crate::wire::consts::OFP_VERSION {
            return Err(failed::MSG_UNSUP);
        }
        if u32::from_be_bytes([h[4], h[5], h[6], h[7]]) != xid {
            return Err(failed::MSG_BAD_XID);
        }
        if !is_bundlable(MsgType(h[1])) {
            return Err(failed::MSG_UNSUP);
        }
        Ok(Self {
            bundle_id,
            flags,
            msg: inner.get(..len).unwrap_or_default().to_vec(),
        })
    }

    /// As a message body (no properties).
    pub fn to_body(&self) -> Body {
        let mut d = BytesMut::with_capacity(8 + self.msg.len());
        d.put_u32(self.bundle_id);
        d.put_u16(0);
        d.put_u16(self.flags);
        d.put_slice(&self.msg);
        Body::Experimenter {
            experimenter: ONF_EXPERIMENTER,
            exp_type: ONFT_BUNDLE_ADD_MESSAGE,
            data: d.to_vec(),
        }
    }
}

/// Whether a request of type `t` may be bundled here.
pub fn is_bundlable(t: MsgType) -> bool {
    matches!(
        t,
        MsgType::FLOW_MOD | MsgType::GROUP_MOD | MsgType::PORT_MOD
    )
}

/// Whether `body` is a bundle message this module handles.
pub fn is_bundle_message(body: &Body) -> bool {
    matches!(
        body,
        Body::Experimenter {
            experimenter: ONF_EXPERIMENTER,
            exp_type: ONFT_BUNDLE_CONTROL | ONFT_BUNDLE_ADD_MESSAGE,
            ..
        }
    )
}

#[derive(Debug)]
struct Bundle {
    flags: u16,
    closed: bool,
    /// The bundled messages, raw, in order.
    msgs: Vec<Vec<u8>>,
}

/// A committed bundle for the caller to apply.
#[derive(Debug)]
pub struct Commit {
    /// The commit request's xid.
    pub xid: u32,
    /// The commit request, raw (for the error quoting it).
    pub raw: Vec<u8>,
    /// The reply to send once applied.
    pub reply: Message,
    /// The bundled messages, decoded, each with its encoding, in order;
    /// or the first that failed to decode, as its error reply.
    pub msgs: Result<Vec<(Message, Vec<u8>)>, Box<Message>>,
}

/// What a bundle message asks of the caller.
#[derive(Debug)]
pub enum Step {
    /// Send these (a control reply or an error; nothing for a good add).
    Reply(Vec<Message>),
    /// Apply this bundle, then send its reply or the failure.
    Commit(Box<Commit>),
}

/// One connection's bundles.
#[derive(Debug, Default)]
pub struct Bundles {
    open: BTreeMap<u32, Bundle>,
    bytes: usize,
}

impl Bundles {
    /// Number of open bundles.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// True if no bundle is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    fn remove(&mut self, id: u32) -> Option<Bundle> {
        let b = self.open.remove(&id)?;
        let n: usize = b.msgs.iter().map(Vec::len).sum();
        self.bytes = self.bytes.saturating_sub(n);
        Some(b)
    }

    /// Handles a bundle message (see [`is_bundle_message`]) from a
    /// connection; `is_slave` refuses it (`OFPBRC_IS_SLAVE`).
    pub fn handle(&mut self, msg: &Message, raw: &[u8], is_slave: bool) -> Step {
        let err = |code: u16| Step::Reply(vec![bundle_error(msg.xid, code, raw)]);
        let Body::Experimenter { exp_type, data, .. } = &msg.body else {
            return err(failed::UNKNOWN);
        };
        if is_slave {
            return Step::Reply(vec![Message::error_reply(
                &OfpError::bad_request(bad_request::IS_SLAVE, "connection is a slave"),
                raw,
            )]);
        }
        if *exp_type == ONFT_BUNDLE_ADD_MESSAGE {
            let add = match BundleAdd::decode(data, msg.xid) {
                Ok(a) => a,
                Err(code) => return err(code),
            };
            return self.add(add).map_or_else(err, |()| Step::Reply(Vec::new()));
        }
        let c = match BundleCtrl::decode(data) {
            Ok(c) => c,
            Err(code) => return err(code),
        };
        if c.flags & !(flags::ATOMIC | flags::ORDERED) != 0 {
            return err(failed::BAD_FLAGS);
        }
        let reply = |t: u16| Message::new(msg.xid, BundleCtrl { ctrl_type: t, ..c }.to_body());
        match c.ctrl_type {
            ctrl_type::OPEN_REQUEST => {
                if self.open.contains_key(&c.bundle_id) {
                    return err(failed::BUNDLE_EXIST);
                }
                if self.open.len() >= MAX_BUNDLES {
                    return err(failed::OUT_OF_BUNDLES);
                }
                self.open.insert(
                    c.bundle_id,
                    Bundle {
                        flags: c.flags,
                        closed: false,
                        msgs: Vec::new(),
                    },
                );
                Step::Reply(vec![reply(ctrl_type::OPEN_REPLY)])
            }
            ctrl_type::CLOSE_REQUEST => match self.open.get_mut(&c.bundle_id) {
                None => err(failed::BAD_ID),
                Some(b) if b.closed => err(failed::BUNDLE_CLOSED),
                Some(b) if b.flags != c.flags => err(failed::BAD_FLAGS),
                Some(b) => {
                    b.closed = true;
                    Step::Reply(vec![reply(ctrl_type::CLOSE_REPLY)])
                }
            },
            ctrl_type::DISCARD_REQUEST => match self.remove(c.bundle_id) {
                None => err(failed::BAD_ID),
                Some(_) => Step::Reply(vec![reply(ctrl_type::DISCARD_REPLY)]),
            },
            ctrl_type::COMMIT_REQUEST => {
                // The bundle goes whatever the outcome: a failed commit
                // discards it (1.4, 7.3.9.4).
                let Some(b) = self.remove(c.bundle_id) else {
                    return err(failed::BAD_ID);
                };
                if b.flags != c.flags {
                    return err(failed::BAD_FLAGS);
                }
                let msgs = b
                    .msgs
                    .into_iter()
                    .map(|m| match Message::decode(&m) {
                        Ok(d) => Ok((d, m)),
                        Err(e) => Err(Box::new(Message::error_reply(&e, &m))),
                    })
                    .collect();
                Step::Commit(Box::new(Commit {
                    xid: msg.xid,
                    raw: raw.to_vec(),
                    reply: reply(ctrl_type::COMMIT_REPLY),
                    msgs,
                }))
            }
            _ => err(failed::BAD_TYPE),
        }
    }

    fn add(&mut self, add: BundleAdd) -> Result<(), u16> {
        if !self.open.contains_key(&add.bundle_id) {
            // Adding to an unknown id opens it (1.4, 7.3.9.6).
            if self.open.len() >= MAX_BUNDLES {
                return Err(failed::OUT_OF_BUNDLES);
            }
            self.open.insert(
                add.bundle_id,
                Bundle {
                    flags: add.flags,
                    closed: false,
                    msgs: Vec::new(),
                },
            );
        }
        let b = self.open.get_mut(&add.bundle_id).ok_or(failed::BAD_ID)?;
        if b.closed {
            return Err(failed::BUNDLE_CLOSED);
        }
        if b.flags != add.flags {
            return Err(failed::BAD_FLAGS);
        }
        if self.bytes.saturating_add(add.msg.len()) > MAX_BUNDLE_BYTES {
            return Err(failed::MSG_TOO_MANY);
        }
        self.bytes += add.msg.len();
        b.msgs.push(add.msg);
        Ok(())
    }
}

/// The messages that finish a commit: the bundle's reply if `applied`,
/// else `OFPBFC_MSG_FAILED` for the commit request.
pub fn commit_outcome(c: &Commit, applied: bool) -> Message {
    if applied {
        c.reply.clone()
    } else {
        bundle_error(c.xid, failed::MSG_FAILED, &c.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::{FlowMod, flow_mod_command};

    fn ctrl(xid: u32, id: u32, t: u16, f: u16) -> (Message, Vec<u8>) {
        let m = Message::new(
            xid,
            BundleCtrl {
                bundle_id: id,
                ctrl_type: t,
                flags: f,
            }
            .to_body(),
        );
        let raw = m.to_vec();
        (Message::decode(&raw).expect("decodes"), raw)
    }

    fn add(xid: u32, id: u32, f: u16, inner: &Message) -> (Message, Vec<u8>) {
        let m = Message::new(
            xid,
            BundleAdd {
                bundle_id: id,
                flags: f,
                msg: inner.to_vec(),
            }
            .to_body(),
        );
        let raw = m.to_vec();
        (Message::decode(&raw).expect("decodes"), raw)
    }

    fn fm(xid: u32) -> Message {
        Message::new(
            xid,
            Body::FlowMod(FlowMod {
                cookie: 0,
                cookie_mask: 0,
                table_id: 0,
                command: flow_mod_command::ADD,
                idle_timeout: 0,
                hard_timeout: 0,
                priority: 1,
                buffer_id: crate::wire::consts::OFP_NO_BUFFER,
                out_port: crate::wire::consts::port::ANY,
                out_group: crate::wire::consts::group::ANY,
                flags: 0,
                match_: crate::wire::oxm::Match::new(),
                instructions: Vec::new(),
            }),
        )
    }

    fn code(step: &Step) -> Option<u16> {
        match step {
            Step::Reply(v) => v.iter().find_map(|m| match &m.body {
                Body::Error(e) if e.experimenter == Some(ONF_EXPERIMENTER) => {
                    Some(e.code - ONF_BUNDLE_ERROR_BASE)
                }
                _ => None,
            }),
            Step::Commit(_) => None,
        }
    }

    #[test]
    fn open_add_commit_and_errors() {
        let mut b = Bundles::default();
        let f = flags::ATOMIC | flags::ORDERED;
        let (m, r) = ctrl(1, 7, ctrl_type::OPEN_REQUEST, f);
        match b.handle(&m, &r, false) {
            Step::Reply(v) => {
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].xid, 1);
                let Body::Experimenter { data, .. } = &v[0].body else {
                    panic!("not a control reply");
                };
                let c = BundleCtrl::decode(data).expect("decodes");
                assert_eq!(
                    (c.bundle_id, c.ctrl_type, c.flags),
                    (7, ctrl_type::OPEN_REPLY, f)
                );
            }
            s => panic!("{s:?}"),
        }
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::BUNDLE_EXIST));
        let (m, r) = add(2, 7, f, &fm(2));
        assert!(matches!(b.handle(&m, &r, false), Step::Reply(v) if v.is_empty()));
        let (m, r) = add(3, 7, f, &fm(4));
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::MSG_BAD_XID));
        let (m, r) = add(5, 7, flags::ATOMIC, &fm(5));
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::BAD_FLAGS));
        let (m, r) = add(6, 7, f, &Message::new(6, Body::BarrierRequest));
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::MSG_UNSUP));
        let (m, r) = ctrl(8, 7, ctrl_type::CLOSE_REQUEST, f);
        assert!(matches!(b.handle(&m, &r, false), Step::Reply(v) if v.len() == 1));
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::BUNDLE_CLOSED));
        let (m, r) = add(9, 7, f, &fm(9));
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::BUNDLE_CLOSED));
        let (m, r) = ctrl(10, 7, ctrl_type::COMMIT_REQUEST, f);
        match b.handle(&m, &r, false) {
            Step::Commit(c) => {
                let msgs = c.msgs.expect("decoded");
                assert_eq!(msgs.len(), 1);
                assert_eq!(msgs[0].0.xid, 2);
                assert_eq!(commit_outcome(&c_ref(&c.reply), true).xid, 10);
            }
            s => panic!("{s:?}"),
        }
        assert!(b.is_empty());
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::BAD_ID));
        let (m, r) = ctrl(11, 9, 42, 0);
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::BAD_TYPE));
        let (m, r) = ctrl(12, 9, ctrl_type::OPEN_REQUEST, 0x80);
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::BAD_FLAGS));
    }

    fn c_ref(reply: &Message) -> Commit {
        Commit {
            xid: reply.xid,
            raw: Vec::new(),
            reply: reply.clone(),
            msgs: Ok(Vec::new()),
        }
    }

    #[test]
    fn limits_and_implicit_open() {
        let mut b = Bundles::default();
        for id in 0..MAX_BUNDLES as u32 {
            let (m, r) = add(id, id, 0, &fm(id));
            assert!(matches!(b.handle(&m, &r, false), Step::Reply(v) if v.is_empty()));
        }
        assert_eq!(b.len(), MAX_BUNDLES);
        let (m, r) = ctrl(1000, 1000, ctrl_type::OPEN_REQUEST, 0);
        assert_eq!(code(&b.handle(&m, &r, false)), Some(failed::OUT_OF_BUNDLES));
        let (m, r) = ctrl(1001, 3, ctrl_type::DISCARD_REQUEST, 0);
        assert!(matches!(b.handle(&m, &r, false), Step::Reply(v) if v.len() == 1));
        assert_eq!(b.len(), MAX_BUNDLES - 1);
        // Slaves are refused outright.
        let (m, r) = ctrl(1002, 3, ctrl_type::OPEN_REQUEST, 0);
        match b.handle(&m, &r, true) {
            Step::Reply(v) => assert!(matches!(&v[0].body, Body::Error(e)
                if e.etype == ErrorType::BAD_REQUEST && e.code == bad_request::IS_SLAVE)),
            s => panic!("{s:?}"),
        }
        // Truncated bodies.
        let m = Message::new(
            5,
            Body::Experimenter {
                experimenter: ONF_EXPERIMENTER,
                exp_type: ONFT_BUNDLE_ADD_MESSAGE,
                data: vec![0, 0, 0, 1, 0, 0, 0, 0, 4, 14, 0, 200],
            },
        );
        assert_eq!(
            code(&b.handle(&m, &m.to_vec(), false)),
            Some(failed::MSG_BAD_LEN)
        );
    }
}
