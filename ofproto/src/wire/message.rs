//! OpenFlow 1.3.5 messages (section 7): the header, the [`Message`] /
//! [`Body`] pair and every message body except the multipart ones (in
//! [`super::multipart`]) and table features (in [`super::table_features`]).
//!
//! [`decode`] takes exactly one whole message; [`encode`] appends one.  Every
//! fixed-layout body is read through a [`Reader`] whose short-input error is
//! `OFPBRC_BAD_LEN`, and must be consumed exactly, so a message that is too
//! short or too long for its type answers `OFPBRC_BAD_LEN`.  Pieces with
//! their own length (matches, actions, instructions, buckets, bands, queue
//! properties) are read through bounded sub-readers that report their own
//! error codes.

use bytes::{BufMut, BytesMut};

use super::action::Action;
use super::codec::{Reader, pad_to, padding, patch_u16};
use super::consts::{OFP_HEADER_LEN, OFP_MAX_PORT_NAME_LEN, OFP_VERSION};
use super::error::{ErrorType, OfpError, bad_request, group_mod_failed, meter_mod_failed};
use super::instruction::Instruction;
use super::multipart::{MeterBand, MultipartReply, MultipartRequest};
use super::oxm::Match;

/// An `ofp_type` value.  Open: values outside the table are representable
/// (they are rejected by [`decode`] with `OFPBRC_BAD_TYPE`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgType(pub u8);

macro_rules! msg_types {
    ($($(#[$m:meta])* $name:ident = $val:expr,)*) => {
        impl MsgType {
            $($(#[$m])* pub const $name: Self = Self($val);)*

            /// The spec name (`OFPT_HELLO`), or `None` when unknown.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(concat!("OFPT_", stringify!($name))),)*
                    _ => None,
                }
            }
        }
    };
}

msg_types! {
    /// Symmetric: version negotiation.
    HELLO = 0,
    /// Symmetric: an error report.
    ERROR = 1,
    /// Symmetric: liveness request.
    ECHO_REQUEST = 2,
    /// Symmetric: liveness answer.
    ECHO_REPLY = 3,
    /// Symmetric: experimenter extension.
    EXPERIMENTER = 4,
    /// Controller to switch: ask for the switch features.
    FEATURES_REQUEST = 5,
    /// Switch to controller: the switch features.
    FEATURES_REPLY = 6,
    /// Controller to switch: ask for the configuration.
    GET_CONFIG_REQUEST = 7,
    /// Switch to controller: the configuration.
    GET_CONFIG_REPLY = 8,
    /// Controller to switch: set the configuration.
    SET_CONFIG = 9,
    /// Async: a packet for the controller.
    PACKET_IN = 10,
    /// Async: a flow entry was removed.
    FLOW_REMOVED = 11,
    /// Async: a port changed.
    PORT_STATUS = 12,
    /// Controller to switch: send a packet.
    PACKET_OUT = 13,
    /// Controller to switch: change a flow table.
    FLOW_MOD = 14,
    /// Controller to switch: change the group table.
    GROUP_MOD = 15,
    /// Controller to switch: change a port.
    PORT_MOD = 16,
    /// Controller to switch: configure a table.
    TABLE_MOD = 17,
    /// Controller to switch: a statistics/description request.
    MULTIPART_REQUEST = 18,
    /// Switch to controller: a statistics/description reply.
    MULTIPART_REPLY = 19,
    /// Controller to switch: barrier.
    BARRIER_REQUEST = 20,
    /// Switch to controller: barrier done.
    BARRIER_REPLY = 21,
    /// Controller to switch: ask for a port's queues.
    QUEUE_GET_CONFIG_REQUEST = 22,
    /// Switch to controller: a port's queues.
    QUEUE_GET_CONFIG_REPLY = 23,
    /// Controller to switch: set or query the controller role.
    ROLE_REQUEST = 24,
    /// Switch to controller: the controller role.
    ROLE_REPLY = 25,
    /// Controller to switch: ask for the async message filter.
    GET_ASYNC_REQUEST = 26,
    /// Switch to controller: the async message filter.
    GET_ASYNC_REPLY = 27,
    /// Controller to switch: set the async message filter.
    SET_ASYNC = 28,
    /// Controller to switch: change the meter table.
    METER_MOD = 29,
}

impl std::fmt::Debug for MsgType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "MsgType({:#x})", self.0),
        }
    }
}

/// One OpenFlow message: the header's transaction id and the typed body.
/// The header's version and length are implied (see [`encode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Transaction id.
    pub xid: u32,
    /// The typed body; its variant gives the message type.
    pub body: Body,
}

impl Message {
    /// A message with `xid` and `body`.
    pub fn new(xid: u32, body: Body) -> Self {
        Self { xid, body }
    }

    /// Decodes one whole message; see [`decode`].
    pub fn decode(buf: &[u8]) -> Result<Message, OfpError> {
        decode(buf)
    }

    /// Appends this message to `out`; see [`encode`].
    pub fn encode(&self, out: &mut BytesMut) {
        encode(self, out);
    }

    /// This message encoded into a fresh buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode(self, &mut b);
        b.to_vec()
    }

    /// The `OFPT_ERROR` answering `request` (the raw bytes of a message
    /// that failed with `err`): same xid, at most 64 bytes of the request.
    pub fn error_reply(err: &OfpError, request: &[u8]) -> Message {
        let xid = match request.get(4..8) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        };
        Message::new(xid, Body::Error(ErrorMsg::from_error(err, request)))
    }
}

/// The body of a message, one variant per `ofp_type`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// `OFPT_HELLO`.
    Hello(Hello),
    /// `OFPT_ERROR`.
    Error(ErrorMsg),
    /// `OFPT_ECHO_REQUEST` with its arbitrary payload.
    EchoRequest(Vec<u8>),
    /// `OFPT_ECHO_REPLY` with its arbitrary payload.
    EchoReply(Vec<u8>),
    /// `OFPT_EXPERIMENTER`.
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Experimenter-defined type.
        exp_type: u32,
        /// Experimenter-defined payload.
        data: Vec<u8>,
    },
    /// `OFPT_FEATURES_REQUEST`.
    FeaturesRequest,
    /// `OFPT_FEATURES_REPLY`.
    FeaturesReply(FeaturesReply),
    /// `OFPT_GET_CONFIG_REQUEST`.
    GetConfigRequest,
    /// `OFPT_GET_CONFIG_REPLY`.
    GetConfigReply(SwitchConfig),
    /// `OFPT_SET_CONFIG`.
    SetConfig(SwitchConfig),
    /// `OFPT_PACKET_IN`.
    PacketIn(PacketIn),
    /// `OFPT_FLOW_REMOVED`.
    FlowRemoved(FlowRemoved),
    /// `OFPT_PORT_STATUS`.
    PortStatus(PortStatus),
    /// `OFPT_PACKET_OUT`.
    PacketOut(PacketOut),
    /// `OFPT_FLOW_MOD`.
    FlowMod(FlowMod),
    /// `OFPT_GROUP_MOD`.
    GroupMod(GroupMod),
    /// `OFPT_PORT_MOD`.
    PortMod(PortMod),
    /// `OFPT_TABLE_MOD`.
    TableMod(TableMod),
    /// `OFPT_MULTIPART_REQUEST`.
    MultipartRequest(MultipartRequest),
    /// `OFPT_MULTIPART_REPLY`.
    MultipartReply(MultipartReply),
    /// `OFPT_BARRIER_REQUEST`.
    BarrierRequest,
    /// `OFPT_BARRIER_REPLY`.
    BarrierReply,
    /// `OFPT_QUEUE_GET_CONFIG_REQUEST`: the port whose queues are wanted
    /// (`OFPP_ANY` for all).
    QueueGetConfigRequest(u32),
    /// `OFPT_QUEUE_GET_CONFIG_REPLY`.
    QueueGetConfigReply(QueueGetConfigReply),
    /// `OFPT_ROLE_REQUEST`.
    RoleRequest(Role),
    /// `OFPT_ROLE_REPLY`.
    RoleReply(Role),
    /// `OFPT_GET_ASYNC_REQUEST`.
    GetAsyncRequest,
    /// `OFPT_GET_ASYNC_REPLY`.
    GetAsyncReply(AsyncConfig),
    /// `OFPT_SET_ASYNC`.
    SetAsync(AsyncConfig),
    /// `OFPT_METER_MOD`.
    MeterMod(MeterMod),
}

impl Body {
    /// The `ofp_type` this body is sent as.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Self::Hello(_) => MsgType::HELLO,
            Self::Error(_) => MsgType::ERROR,
            Self::EchoRequest(_) => MsgType::ECHO_REQUEST,
            Self::EchoReply(_) => MsgType::ECHO_REPLY,
            Self::Experimenter { .. } => MsgType::EXPERIMENTER,
            Self::FeaturesRequest => MsgType::FEATURES_REQUEST,
            Self::FeaturesReply(_) => MsgType::FEATURES_REPLY,
            Self::GetConfigRequest => MsgType::GET_CONFIG_REQUEST,
            Self::GetConfigReply(_) => MsgType::GET_CONFIG_REPLY,
            Self::SetConfig(_) => MsgType::SET_CONFIG,
            Self::PacketIn(_) => MsgType::PACKET_IN,
            Self::FlowRemoved(_) => MsgType::FLOW_REMOVED,
            Self::PortStatus(_) => MsgType::PORT_STATUS,
            Self::PacketOut(_) => MsgType::PACKET_OUT,
            Self::FlowMod(_) => MsgType::FLOW_MOD,
            Self::GroupMod(_) => MsgType::GROUP_MOD,
            Self::PortMod(_) => MsgType::PORT_MOD,
            Self::TableMod(_) => MsgType::TABLE_MOD,
            Self::MultipartRequest(_) => MsgType::MULTIPART_REQUEST,
            Self::MultipartReply(_) => MsgType::MULTIPART_REPLY,
            Self::BarrierRequest => MsgType::BARRIER_REQUEST,
            Self::BarrierReply => MsgType::BARRIER_REPLY,
            Self::QueueGetConfigRequest(_) => MsgType::QUEUE_GET_CONFIG_REQUEST,
            Self::QueueGetConfigReply(_) => MsgType::QUEUE_GET_CONFIG_REPLY,
            Self::RoleRequest(_) => MsgType::ROLE_REQUEST,
            Self::RoleReply(_) => MsgType::ROLE_REPLY,
            Self::GetAsyncRequest => MsgType::GET_ASYNC_REQUEST,
            Self::GetAsyncReply(_) => MsgType::GET_ASYNC_REPLY,
            Self::SetAsync(_) => MsgType::SET_ASYNC,
            Self::MeterMod(_) => MsgType::METER_MOD,
        }
    }
}

/// The fixed `ofp_header` of every message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Protocol version (4 for OpenFlow 1.3).
    pub version: u8,
    /// Message type.
    pub msg_type: MsgType,
    /// Length of the whole message, header included.
    pub length: u16,
    /// Transaction id.
    pub xid: u32,
}

impl Header {
    /// Reads the header from the first 8 bytes of `buf` (nothing else is
    /// checked).  Fails with `OFPBRC_BAD_LEN` when `buf` is shorter.
    pub fn peek(buf: &[u8]) -> Result<Header, OfpError> {
        let mut r = Reader::new(buf, OfpError::bad_len("message shorter than its header"));
        Ok(Header {
            version: r.u8()?,
            msg_type: MsgType(r.u8()?),
            length: r.u16()?,
            xid: r.u32()?,
        })
    }
}

fn short(what: &'static str) -> OfpError {
    OfpError::bad_len(what)
}

/// Decodes one whole message, header included.
///
/// `buf.len()` must equal the header's length (else `OFPBRC_BAD_LEN`).  A
/// HELLO of any version decodes (so versions can be negotiated); any other
/// message whose version is not 4 is `OFPBRC_BAD_VERSION`.  Unknown message
/// types are `OFPBRC_BAD_TYPE`.  Never panics; allocations are bounded by
/// `buf.len()`.
pub fn decode(buf: &[u8]) -> Result<Message, OfpError> {
    let h = Header::peek(buf)?;
    if usize::from(h.length) != buf.len() {
        return Err(short("header length differs from message size"));
    }
    if h.msg_type != MsgType::HELLO && h.version != OFP_VERSION {
        return Err(OfpError::bad_request(
            bad_request::BAD_VERSION,
            "only OpenFlow 1.3 (version 4) is supported",
        ));
    }
    let rest = buf.get(OFP_HEADER_LEN..).unwrap_or_default();
    let mut r = Reader::new(rest, short("message body truncated"));
    let body = decode_body(h, &mut r)?;
    r.expect_end()
        .map_err(|_| short("message longer than its body"))?;
    Ok(Message { xid: h.xid, body })
}

fn decode_body(h: Header, r: &mut Reader<'_>) -> Result<Body, OfpError> {
    Ok(match h.msg_type {
        MsgType::HELLO => Body::Hello(Hello::decode(h.version, r)?),
        MsgType::ERROR => Body::Error(ErrorMsg::decode(r)?),
        MsgType::ECHO_REQUEST => Body::EchoRequest(r.take_rest().to_vec()),
        MsgType::ECHO_REPLY => Body::EchoReply(r.take_rest().to_vec()),
        MsgType::EXPERIMENTER => Body::Experimenter {
            experimenter: r.u32()?,
            exp_type: r.u32()?,
            data: r.take_rest().to_vec(),
        },
        MsgType::FEATURES_REQUEST => Body::FeaturesRequest,
        MsgType::FEATURES_REPLY => Body::FeaturesReply(FeaturesReply::decode(r)?),
        MsgType::GET_CONFIG_REQUEST => Body::GetConfigRequest,
        MsgType::GET_CONFIG_REPLY => Body::GetConfigReply(SwitchConfig::decode(r)?),
        MsgType::SET_CONFIG => Body::SetConfig(SwitchConfig::decode(r)?),
        MsgType::PACKET_IN => Body::PacketIn(PacketIn::decode(r)?),
        MsgType::FLOW_REMOVED => Body::FlowRemoved(FlowRemoved::decode(r)?),
        MsgType::PORT_STATUS => Body::PortStatus(PortStatus::decode(r)?),
        MsgType::PACKET_OUT => Body::PacketOut(PacketOut::decode(r)?),
        MsgType::FLOW_MOD => Body::FlowMod(FlowMod::decode(r)?),
        MsgType::GROUP_MOD => Body::GroupMod(GroupMod::decode(r)?),
        MsgType::PORT_MOD => Body::PortMod(PortMod::decode(r)?),
        MsgType::TABLE_MOD => Body::TableMod(TableMod::decode(r)?),
        MsgType::MULTIPART_REQUEST => Body::MultipartRequest(MultipartRequest::decode(r)?),
        MsgType::MULTIPART_REPLY => Body::MultipartReply(MultipartReply::decode(r)?),
        MsgType::BARRIER_REQUEST => Body::BarrierRequest,
        MsgType::BARRIER_REPLY => Body::BarrierReply,
        MsgType::QUEUE_GET_CONFIG_REQUEST => {
            let port = r.u32()?;
            r.skip(4)?;
            Body::QueueGetConfigRequest(port)
        }
        MsgType::QUEUE_GET_CONFIG_REPLY => {
            Body::QueueGetConfigReply(QueueGetConfigReply::decode(r)?)
        }
        MsgType::ROLE_REQUEST => Body::RoleRequest(Role::decode(r)?),
        MsgType::ROLE_REPLY => Body::RoleReply(Role::decode(r)?),
        MsgType::GET_ASYNC_REQUEST => Body::GetAsyncRequest,
        MsgType::GET_ASYNC_REPLY => Body::GetAsyncReply(AsyncConfig::decode(r)?),
        MsgType::SET_ASYNC => Body::SetAsync(AsyncConfig::decode(r)?),
        MsgType::METER_MOD => Body::MeterMod(MeterMod::decode(r)?),
        _ => {
            return Err(OfpError::bad_request(
                bad_request::BAD_TYPE,
                "unknown message type",
            ));
        }
    })
}

/// Appends one whole message to `out`: header (version 4, except a
/// [`Hello`] which is sent with its own `version`), body, and the length
/// back-patched.  A body that would exceed 65535 bytes is the caller's bug;
/// its length field saturates so the peer rejects it rather than misframes.
pub fn encode(msg: &Message, out: &mut BytesMut) {
    let start = out.len();
    let version = match &msg.body {
        Body::Hello(h) => h.version,
        _ => OFP_VERSION,
    };
    out.put_u8(version);
    out.put_u8(msg.body.msg_type().0);
    out.put_u16(0);
    out.put_u32(msg.xid);
    encode_body(&msg.body, out);
    patch_u16(out, start, 2);
}

fn encode_body(body: &Body, w: &mut BytesMut) {
    match body {
        Body::Hello(h) => h.encode(w),
        Body::Error(e) => e.encode(w),
        Body::EchoRequest(d) | Body::EchoReply(d) => w.put_slice(d),
        Body::Experimenter {
            experimenter,
            exp_type,
            data,
        } => {
            w.put_u32(*experimenter);
            w.put_u32(*exp_type);
            w.put_slice(data);
        }
        Body::FeaturesRequest
        | Body::GetConfigRequest
        | Body::BarrierRequest
        | Body::BarrierReply
        | Body::GetAsyncRequest => {}
        Body::FeaturesReply(f) => f.encode(w),
        Body::GetConfigReply(c) | Body::SetConfig(c) => c.encode(w),
        Body::PacketIn(p) => p.encode(w),
        Body::FlowRemoved(f) => f.encode(w),
        Body::PortStatus(p) => p.encode(w),
        Body::PacketOut(p) => p.encode(w),
        Body::FlowMod(f) => f.encode(w),
        Body::GroupMod(g) => g.encode(w),
        Body::PortMod(p) => p.encode(w),
        Body::TableMod(t) => t.encode(w),
        Body::MultipartRequest(m) => m.encode(w),
        Body::MultipartReply(m) => m.encode(w),
        Body::QueueGetConfigRequest(port) => {
            w.put_u32(*port);
            w.put_u32(0);
        }
        Body::QueueGetConfigReply(q) => q.encode(w),
        Body::RoleRequest(r) | Body::RoleReply(r) => r.encode(w),
        Body::GetAsyncReply(a) | Body::SetAsync(a) => a.encode(w),
        Body::MeterMod(m) => m.encode(w),
    }
}

// ---------------------------------------------------------------------------
// Small shared helpers.

/// Reads a NUL-padded string field of `n` bytes: the bytes up to the first
/// NUL (all `n` if there is none), invalid UTF-8 replaced.
pub(crate) fn read_str(r: &mut Reader<'_>, n: usize) -> Result<String, OfpError> {
    let b = r.bytes(n)?;
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    // Names are kept as `String`.  A name that is not UTF-8 cannot be
    // re-encoded to the bytes received, so it is refused (with the reader's
    // own error: the length/format code of the enclosing structure) rather
    // than silently altered.
    match std::str::from_utf8(b.get(..end).unwrap_or_default()) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(r.short_error()),
    }
}

/// Writes `s` into an `n`-byte NUL-padded field (truncated to at most `n`
/// bytes, at a character boundary).
pub(crate) fn put_str(w: &mut BytesMut, s: &str, n: usize) {
    let b = s.as_bytes();
    // Cut at a character boundary so the field stays valid UTF-8.
    let mut len = b.len().min(n);
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    w.put_slice(b.get(..len).unwrap_or_default());
    w.put_bytes(0, n - len);
}

/// Length of a `u16` length field's item, checked against a minimum, as
/// `usize`.
pub(crate) fn check_len(len: u16, min: usize, err: OfpError) -> Result<usize, OfpError> {
    let len = usize::from(len);
    if len < min { Err(err) } else { Ok(len) }
}

// ---------------------------------------------------------------------------
// HELLO

/// `OFPHET_VERSIONBITMAP`.
pub const OFPHET_VERSIONBITMAP: u16 = 1;

/// `OFPT_HELLO`: the sender's version and optional hello elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The header version this hello was (or is to be) sent with.
    pub version: u8,
    /// The hello elements, in wire order.
    pub elements: Vec<HelloElement>,
}

impl Default for Hello {
    fn default() -> Self {
        Self {
            version: OFP_VERSION,
            elements: Vec::new(),
        }
    }
}

/// One hello element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelloElement {
    /// `OFPHET_VERSIONBITMAP`: bit `n` of the bitmap list (bit `n % 32`
    /// of word `n / 32`) set means version `n` is supported.
    VersionBitmap(Vec<u32>),
    /// An element of another type, kept as it was (without its padding).
    Unknown {
        /// Element type.
        etype: u16,
        /// Element body after the 4-byte element header.
        data: Vec<u8>,
    },
}

impl Hello {
    /// A version-4 hello advertising exactly the versions in `versions`.
    pub fn with_versions(versions: &[u8]) -> Self {
        let max = versions.iter().copied().max().unwrap_or(0);
        let mut words = vec![0u32; usize::from(max / 32) + 1];
        for &v in versions {
            if let Some(w) = words.get_mut(usize::from(v / 32)) {
                *w |= 1 << (v % 32);
            }
        }
        Self {
            version: OFP_VERSION,
            elements: vec![HelloElement::VersionBitmap(words)],
        }
    }

    /// The versions advertised by the first version bitmap, if any.
    pub fn versions(&self) -> Option<Vec<u8>> {
        self.elements.iter().find_map(|e| match e {
            HelloElement::VersionBitmap(words) => Some(
                words
                    .iter()
                    .enumerate()
                    .flat_map(|(i, w)| {
                        (0..32u32).filter_map(move |b| {
                            if w & (1 << b) == 0 {
                                return None;
                            }
                            u8::try_from(i * 32 + b as usize).ok()
                        })
                    })
                    .collect(),
            ),
            HelloElement::Unknown { .. } => None,
        })
    }

    fn decode(version: u8, r: &mut Reader<'_>) -> Result<Hello, OfpError> {
        let bad = short("hello element length invalid");
        let mut elements = Vec::new();
        while !r.is_empty() {
            let etype = r.peek_u16(0).map_err(|_| bad)?;
            let len = check_len(r.peek_u16(2).map_err(|_| bad)?, 4, bad)?;
            let mut e = r.sub_with(len, bad)?;
            // The padding of the last element may be missing in the wild;
            // take what there is of it.
            let pad = padding(len, 8).min(r.remaining());
            r.skip(pad)?;
            e.skip(4)?;
            if etype == OFPHET_VERSIONBITMAP {
                if e.remaining() % 4 != 0 {
                    return Err(bad);
                }
                let mut words = Vec::with_capacity(e.remaining() / 4);
                while !e.is_empty() {
                    words.push(e.u32()?);
                }
                elements.push(HelloElement::VersionBitmap(words));
            } else {
                elements.push(HelloElement::Unknown {
                    etype,
                    data: e.take_rest().to_vec(),
                });
            }
        }
        Ok(Hello { version, elements })
    }

    fn encode(&self, w: &mut BytesMut) {
        for el in &self.elements {
            let start = w.len();
            match el {
                HelloElement::VersionBitmap(words) => {
                    w.put_u16(OFPHET_VERSIONBITMAP);
                    w.put_u16(0);
                    for x in words {
                        w.put_u32(*x);
                    }
                }
                HelloElement::Unknown { etype, data } => {
                    w.put_u16(*etype);
                    w.put_u16(0);
                    w.put_slice(data);
                }
            }
            patch_u16(w, start, 2);
            pad_to(w, start, 8);
        }
    }
}

// ---------------------------------------------------------------------------
// ERROR

/// `OFPT_ERROR`.  For `etype == ErrorType::EXPERIMENTER` the `code` field
/// is the experimenter's `exp_type` and `experimenter` is `Some(id)`;
/// otherwise `experimenter` is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorMsg {
    /// Error type (open: unknown values are kept).
    pub etype: ErrorType,
    /// Error code, or `exp_type` for experimenter errors.
    pub code: u16,
    /// Experimenter id, present exactly for experimenter errors.
    pub experimenter: Option<u32>,
    /// Data: for most errors, at least 64 bytes of the failed request.
    pub data: Vec<u8>,
}

/// How many bytes of a failed request an error carries.
pub const ERROR_DATA_MAX: usize = 64;

impl ErrorMsg {
    /// The error answering a request that failed with `err`, carrying the
    /// first (at most 64) bytes of `request`.
    pub fn from_error(err: &OfpError, request: &[u8]) -> Self {
        let n = request.len().min(ERROR_DATA_MAX);
        Self {
            etype: err.etype,
            code: err.code,
            experimenter: None,
            data: request.get(..n).unwrap_or_default().to_vec(),
        }
    }

    /// The `(type, code)` pair as an [`OfpError`] (reason left empty).
    pub fn to_ofp_error(&self) -> OfpError {
        OfpError::new(self.etype, self.code, "")
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let etype = ErrorType(r.u16()?);
        let code = r.u16()?;
        let experimenter = if etype == ErrorType::EXPERIMENTER {
            Some(r.u32()?)
        } else {
            None
        };
        Ok(Self {
            etype,
            code,
            experimenter,
            data: r.take_rest().to_vec(),
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u16(self.etype.0);
        w.put_u16(self.code);
        if self.etype == ErrorType::EXPERIMENTER {
            w.put_u32(self.experimenter.unwrap_or(0));
        }
        w.put_slice(&self.data);
    }
}

// ---------------------------------------------------------------------------
// FEATURES_REPLY, configuration

/// `ofp_capabilities` bits of [`FeaturesReply::capabilities`].
pub mod capabilities {
    /// Flow statistics.
    pub const FLOW_STATS: u32 = 1 << 0;
    /// Table statistics.
    pub const TABLE_STATS: u32 = 1 << 1;
    /// Port statistics.
    pub const PORT_STATS: u32 = 1 << 2;
    /// Group statistics.
    pub const GROUP_STATS: u32 = 1 << 3;
    /// Can reassemble IP fragments.
    pub const IP_REASM: u32 = 1 << 5;
    /// Queue statistics.
    pub const QUEUE_STATS: u32 = 1 << 6;
    /// Switch will block looping ports.
    pub const PORT_BLOCKED: u32 = 1 << 8;
}

/// `OFPT_FEATURES_REPLY`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeaturesReply {
    /// Datapath unique id (low 48 bits: a MAC address).
    pub datapath_id: u64,
    /// Packets the switch can buffer at once.
    pub n_buffers: u32,
    /// Number of flow tables.
    pub n_tables: u8,
    /// Auxiliary connection id (0 for the main connection).
    pub auxiliary_id: u8,
    /// [`capabilities`] bits.
    pub capabilities: u32,
    /// Reserved field, kept as sent.
    pub reserved: u32,
}

impl FeaturesReply {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let datapath_id = r.u64()?;
        let n_buffers = r.u32()?;
        let n_tables = r.u8()?;
        let auxiliary_id = r.u8()?;
        r.skip(2)?;
        Ok(Self {
            datapath_id,
            n_buffers,
            n_tables,
            auxiliary_id,
            capabilities: r.u32()?,
            reserved: r.u32()?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u64(self.datapath_id);
        w.put_u32(self.n_buffers);
        w.put_u8(self.n_tables);
        w.put_u8(self.auxiliary_id);
        w.put_u16(0);
        w.put_u32(self.capabilities);
        w.put_u32(self.reserved);
    }
}

/// `ofp_config_flags` values of [`SwitchConfig::flags`].
pub mod config_flags {
    /// No special handling of IP fragments.
    pub const FRAG_NORMAL: u16 = 0;
    /// Drop IP fragments.
    pub const FRAG_DROP: u16 = 1;
    /// Reassemble IP fragments.
    pub const FRAG_REASM: u16 = 2;
    /// Mask of the fragment-handling bits.
    pub const FRAG_MASK: u16 = 3;
}

/// `ofp_switch_config`: body of GET_CONFIG_REPLY and SET_CONFIG.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwitchConfig {
    /// [`config_flags`].
    pub flags: u16,
    /// Bytes of a packet to send to the controller on a table miss.
    pub miss_send_len: u16,
}

impl SwitchConfig {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        Ok(Self {
            flags: r.u16()?,
            miss_send_len: r.u16()?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u16(self.flags);
        w.put_u16(self.miss_send_len);
    }
}

// ---------------------------------------------------------------------------
// PACKET_IN, FLOW_REMOVED, PORT_STATUS

/// `ofp_packet_in_reason` values.
pub mod packet_in_reason {
    /// No matching flow (table miss).
    pub const NO_MATCH: u8 = 0;
    /// Output to controller in an action.
    pub const ACTION: u8 = 1;
    /// Packet has an invalid TTL.
    pub const INVALID_TTL: u8 = 2;
}

/// `OFPT_PACKET_IN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    /// Buffer id, or `OFP_NO_BUFFER`.
    pub buffer_id: u32,
    /// Full length of the frame.
    pub total_len: u16,
    /// [`packet_in_reason`].
    pub reason: u8,
    /// The table that was looked up.
    pub table_id: u8,
    /// Cookie of the flow entry that sent the packet.
    pub cookie: u64,
    /// Packet metadata (in_port etc.).
    pub match_: Match,
    /// The frame (possibly truncated).
    pub data: Vec<u8>,
}

impl PacketIn {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let buffer_id = r.u32()?;
        let total_len = r.u16()?;
        let reason = r.u8()?;
        let table_id = r.u8()?;
        let cookie = r.u64()?;
        let match_ = Match::decode(r)?;
        r.skip(2)?;
        Ok(Self {
            buffer_id,
            total_len,
            reason,
            table_id,
            cookie,
            match_,
            data: r.take_rest().to_vec(),
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.buffer_id);
        w.put_u16(self.total_len);
        w.put_u8(self.reason);
        w.put_u8(self.table_id);
        w.put_u64(self.cookie);
        self.match_.encode(w);
        w.put_u16(0);
        w.put_slice(&self.data);
    }
}

/// `ofp_flow_removed_reason` values.
pub mod flow_removed_reason {
    /// Idle timeout expired.
    pub const IDLE_TIMEOUT: u8 = 0;
    /// Hard timeout expired.
    pub const HARD_TIMEOUT: u8 = 1;
    /// Evicted by a delete flow mod.
    pub const DELETE: u8 = 2;
    /// Group was removed.
    pub const GROUP_DELETE: u8 = 3;
    /// Meter was removed.
    pub const METER_DELETE: u8 = 4;
}

/// `OFPT_FLOW_REMOVED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRemoved {
    /// Flow cookie.
    pub cookie: u64,
    /// Flow priority.
    pub priority: u16,
    /// [`flow_removed_reason`].
    pub reason: u8,
    /// Table the flow was in.
    pub table_id: u8,
    /// Seconds the flow was alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Idle timeout from the flow mod.
    pub idle_timeout: u16,
    /// Hard timeout from the flow mod.
    pub hard_timeout: u16,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// The flow's match.
    pub match_: Match,
}

impl FlowRemoved {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        Ok(Self {
            cookie: r.u64()?,
            priority: r.u16()?,
            reason: r.u8()?,
            table_id: r.u8()?,
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
            idle_timeout: r.u16()?,
            hard_timeout: r.u16()?,
            packet_count: r.u64()?,
            byte_count: r.u64()?,
            match_: Match::decode(r)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u64(self.cookie);
        w.put_u16(self.priority);
        w.put_u8(self.reason);
        w.put_u8(self.table_id);
        w.put_u32(self.duration_sec);
        w.put_u32(self.duration_nsec);
        w.put_u16(self.idle_timeout);
        w.put_u16(self.hard_timeout);
        w.put_u64(self.packet_count);
        w.put_u64(self.byte_count);
        self.match_.encode(w);
    }
}

/// `ofp_port_config` bits.
pub mod port_config {
    /// Port is administratively down.
    pub const PORT_DOWN: u32 = 1 << 0;
    /// Drop all packets received by port.
    pub const NO_RECV: u32 = 1 << 2;
    /// Drop packets forwarded to port.
    pub const NO_FWD: u32 = 1 << 5;
    /// Do not send packet-in messages for port.
    pub const NO_PACKET_IN: u32 = 1 << 6;
}

/// `ofp_port_state` bits.
pub mod port_state {
    /// No physical link present.
    pub const LINK_DOWN: u32 = 1 << 0;
    /// Port is blocked.
    pub const BLOCKED: u32 = 1 << 1;
    /// Live for fast failover groups.
    pub const LIVE: u32 = 1 << 2;
}

/// `ofp_port_features` bits.
pub mod port_features {
    /// 10 Mb half-duplex.
    pub const F_10MB_HD: u32 = 1 << 0;
    /// 10 Mb full-duplex.
    pub const F_10MB_FD: u32 = 1 << 1;
    /// 100 Mb half-duplex.
    pub const F_100MB_HD: u32 = 1 << 2;
    /// 100 Mb full-duplex.
    pub const F_100MB_FD: u32 = 1 << 3;
    /// 1 Gb half-duplex.
    pub const F_1GB_HD: u32 = 1 << 4;
    /// 1 Gb full-duplex.
    pub const F_1GB_FD: u32 = 1 << 5;
    /// 10 Gb full-duplex.
    pub const F_10GB_FD: u32 = 1 << 6;
    /// 40 Gb full-duplex.
    pub const F_40GB_FD: u32 = 1 << 7;
    /// 100 Gb full-duplex.
    pub const F_100GB_FD: u32 = 1 << 8;
    /// 1 Tb full-duplex.
    pub const F_1TB_FD: u32 = 1 << 9;
    /// Other rate.
    pub const OTHER: u32 = 1 << 10;
    /// Copper medium.
    pub const COPPER: u32 = 1 << 11;
    /// Fiber medium.
    pub const FIBER: u32 = 1 << 12;
    /// Auto-negotiation.
    pub const AUTONEG: u32 = 1 << 13;
    /// Pause.
    pub const PAUSE: u32 = 1 << 14;
    /// Asymmetric pause.
    pub const PAUSE_ASYM: u32 = 1 << 15;
}

/// `ofp_port`: a port description (64 bytes on the wire).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Port {
    /// Port number.
    pub port_no: u32,
    /// Ethernet address.
    pub hw_addr: [u8; 6],
    /// Name; sent NUL-padded in 16 bytes (at most 16 bytes of it are sent;
    /// decoding stops at the first NUL).
    pub name: String,
    /// [`port_config`] bits.
    pub config: u32,
    /// [`port_state`] bits.
    pub state: u32,
    /// Current features ([`port_features`]).
    pub curr: u32,
    /// Advertised features.
    pub advertised: u32,
    /// Supported features.
    pub supported: u32,
    /// Features advertised by the peer.
    pub peer: u32,
    /// Current bit rate in kbps.
    pub curr_speed: u32,
    /// Maximum bit rate in kbps.
    pub max_speed: u32,
}

/// Size of `ofp_port`.
pub const PORT_LEN: usize = 64;

impl Port {
    /// Reads one `ofp_port`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let port_no = r.u32()?;
        r.skip(4)?;
        let hw_addr = r.array()?;
        r.skip(2)?;
        Ok(Self {
            port_no,
            hw_addr,
            name: read_str(r, OFP_MAX_PORT_NAME_LEN)?,
            config: r.u32()?,
            state: r.u32()?,
            curr: r.u32()?,
            advertised: r.u32()?,
            supported: r.u32()?,
            peer: r.u32()?,
            curr_speed: r.u32()?,
            max_speed: r.u32()?,
        })
    }

    /// Writes this `ofp_port` (64 bytes).
    pub fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.port_no);
        w.put_u32(0);
        w.put_slice(&self.hw_addr);
        w.put_u16(0);
        put_str(w, &self.name, OFP_MAX_PORT_NAME_LEN);
        for x in [
            self.config,
            self.state,
            self.curr,
            self.advertised,
            self.supported,
            self.peer,
            self.curr_speed,
            self.max_speed,
        ] {
            w.put_u32(x);
        }
    }
}

/// `ofp_port_reason` values.
pub mod port_reason {
    /// The port was added.
    pub const ADD: u8 = 0;
    /// The port was removed.
    pub const DELETE: u8 = 1;
    /// Some attribute of the port changed.
    pub const MODIFY: u8 = 2;
}

/// `OFPT_PORT_STATUS`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortStatus {
    /// [`port_reason`].
    pub reason: u8,
    /// The port.
    pub desc: Port,
}

impl PortStatus {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let reason = r.u8()?;
        r.skip(7)?;
        Ok(Self {
            reason,
            desc: Port::decode(r)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u8(self.reason);
        w.put_bytes(0, 7);
        self.desc.encode(w);
    }
}

// ---------------------------------------------------------------------------
// PACKET_OUT, FLOW_MOD, GROUP_MOD, PORT_MOD, TABLE_MOD

/// `OFPT_PACKET_OUT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOut {
    /// Buffer id, or `OFP_NO_BUFFER`.
    pub buffer_id: u32,
    /// Input port (or `OFPP_CONTROLLER`).
    pub in_port: u32,
    /// Actions to apply.
    pub actions: Vec<Action>,
    /// The frame, when `buffer_id` is `OFP_NO_BUFFER`.
    pub data: Vec<u8>,
}

impl PacketOut {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let buffer_id = r.u32()?;
        let in_port = r.u32()?;
        let actions_len = usize::from(r.u16()?);
        r.skip(6)?;
        let mut ar = r.sub(actions_len)?;
        let actions = Action::decode_list(&mut ar)?;
        Ok(Self {
            buffer_id,
            in_port,
            actions,
            data: r.take_rest().to_vec(),
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.buffer_id);
        w.put_u32(self.in_port);
        let at = w.len();
        w.put_u16(0);
        w.put_bytes(0, 6);
        let start = w.len();
        Action::encode_list(&self.actions, w);
        let len = u16::try_from(w.len() - start).unwrap_or(u16::MAX);
        w[at..at + 2].copy_from_slice(&len.to_be_bytes());
        w.put_slice(&self.data);
    }
}

/// `ofp_flow_mod_command` values.
pub mod flow_mod_command {
    /// New flow.
    pub const ADD: u8 = 0;
    /// Modify all matching flows.
    pub const MODIFY: u8 = 1;
    /// Modify entry strictly matching wildcards and priority.
    pub const MODIFY_STRICT: u8 = 2;
    /// Delete all matching flows.
    pub const DELETE: u8 = 3;
    /// Delete entry strictly matching wildcards and priority.
    pub const DELETE_STRICT: u8 = 4;
}

/// `ofp_flow_mod_flags` bits.
pub mod flow_mod_flags {
    /// Send flow removed message when flow expires or is deleted.
    pub const SEND_FLOW_REM: u16 = 1 << 0;
    /// Check for overlapping entries first.
    pub const CHECK_OVERLAP: u16 = 1 << 1;
    /// Reset flow packet and byte counts.
    pub const RESET_COUNTS: u16 = 1 << 2;
    /// Don't keep track of packet count.
    pub const NO_PKT_COUNTS: u16 = 1 << 3;
    /// Don't keep track of byte count.
    pub const NO_BYT_COUNTS: u16 = 1 << 4;
}

/// `OFPT_FLOW_MOD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMod {
    /// Opaque controller-issued identifier.
    pub cookie: u64,
    /// Mask restricting the cookie bits that must match (modify/delete).
    pub cookie_mask: u64,
    /// Table id (`OFPTT_ALL` for delete).
    pub table_id: u8,
    /// [`flow_mod_command`].
    pub command: u8,
    /// Idle time before discarding (seconds).
    pub idle_timeout: u16,
    /// Max time before discarding (seconds).
    pub hard_timeout: u16,
    /// Priority level.
    pub priority: u16,
    /// Buffered packet to apply to, or `OFP_NO_BUFFER`.
    pub buffer_id: u32,
    /// For delete: require an output to this port.
    pub out_port: u32,
    /// For delete: require an output to this group.
    pub out_group: u32,
    /// [`flow_mod_flags`].
    pub flags: u16,
    /// Fields to match.
    pub match_: Match,
    /// Instruction set.
    pub instructions: Vec<Instruction>,
}

impl FlowMod {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let cookie = r.u64()?;
        let cookie_mask = r.u64()?;
        let table_id = r.u8()?;
        let command = r.u8()?;
        let idle_timeout = r.u16()?;
        let hard_timeout = r.u16()?;
        let priority = r.u16()?;
        let buffer_id = r.u32()?;
        let out_port = r.u32()?;
        let out_group = r.u32()?;
        let flags = r.u16()?;
        r.skip(2)?;
        let match_ = Match::decode(r)?;
        let instructions = Instruction::decode_list(r)?;
        Ok(Self {
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            match_,
            instructions,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u64(self.cookie);
        w.put_u64(self.cookie_mask);
        w.put_u8(self.table_id);
        w.put_u8(self.command);
        w.put_u16(self.idle_timeout);
        w.put_u16(self.hard_timeout);
        w.put_u16(self.priority);
        w.put_u32(self.buffer_id);
        w.put_u32(self.out_port);
        w.put_u32(self.out_group);
        w.put_u16(self.flags);
        w.put_u16(0);
        self.match_.encode(w);
        Instruction::encode_list(&self.instructions, w);
    }
}

/// `ofp_group_mod_command` values.
pub mod group_mod_command {
    /// New group.
    pub const ADD: u16 = 0;
    /// Modify all matching groups.
    pub const MODIFY: u16 = 1;
    /// Delete all matching groups.
    pub const DELETE: u16 = 2;
}

/// `ofp_group_type` values.
pub mod group_type {
    /// All (multicast/broadcast) group.
    pub const ALL: u8 = 0;
    /// Select group.
    pub const SELECT: u8 = 1;
    /// Indirect group.
    pub const INDIRECT: u8 = 2;
    /// Fast failover group.
    pub const FF: u8 = 3;
}

/// `ofp_bucket`: one bucket of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Relative weight (select groups).
    pub weight: u16,
    /// Port whose liveness decides this bucket (fast failover).
    pub watch_port: u32,
    /// Group whose liveness decides this bucket (fast failover).
    pub watch_group: u32,
    /// Actions of the bucket.
    pub actions: Vec<Action>,
}

const BAD_BUCKET: OfpError = OfpError::new(
    ErrorType::GROUP_MOD_FAILED,
    group_mod_failed::BAD_BUCKET,
    "bucket length invalid",
);

impl Bucket {
    /// Reads a bucket list filling all of `r`.  Bucket length problems are
    /// `OFPGMFC_BAD_BUCKET`; action errors are `OFPET_BAD_ACTION`.
    pub fn decode_list(r: &mut Reader<'_>) -> Result<Vec<Bucket>, OfpError> {
        let mut list = Vec::new();
        while !r.is_empty() {
            let len = check_len(r.peek_u16(0).map_err(|_| BAD_BUCKET)?, 16, BAD_BUCKET)?;
            let mut b = r.sub_with(len, BAD_BUCKET)?;
            b.skip(2)?;
            let weight = b.u16()?;
            let watch_port = b.u32()?;
            let watch_group = b.u32()?;
            b.skip(4)?;
            list.push(Bucket {
                weight,
                watch_port,
                watch_group,
                actions: Action::decode_list(&mut b)?,
            });
        }
        Ok(list)
    }

    /// Writes every bucket of `list`.
    pub fn encode_list(list: &[Bucket], w: &mut BytesMut) {
        for b in list {
            let start = w.len();
            w.put_u16(0);
            w.put_u16(b.weight);
            w.put_u32(b.watch_port);
            w.put_u32(b.watch_group);
            w.put_u32(0);
            Action::encode_list(&b.actions, w);
            patch_u16(w, start, 0);
        }
    }
}

/// `OFPT_GROUP_MOD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMod {
    /// [`group_mod_command`].
    pub command: u16,
    /// [`group_type`].
    pub group_type: u8,
    /// Group id.
    pub group_id: u32,
    /// Buckets.
    pub buckets: Vec<Bucket>,
}

impl GroupMod {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let command = r.u16()?;
        let group_type = r.u8()?;
        r.skip(1)?;
        let group_id = r.u32()?;
        Ok(Self {
            command,
            group_type,
            group_id,
            buckets: Bucket::decode_list(r)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u16(self.command);
        w.put_u8(self.group_type);
        w.put_u8(0);
        w.put_u32(self.group_id);
        Bucket::encode_list(&self.buckets, w);
    }
}

/// `OFPT_PORT_MOD`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortMod {
    /// Port number.
    pub port_no: u32,
    /// Must match the port's hardware address.
    pub hw_addr: [u8; 6],
    /// [`port_config`] bits to set.
    pub config: u32,
    /// Which [`port_config`] bits to change.
    pub mask: u32,
    /// Features to advertise (0 to leave unchanged).
    pub advertise: u32,
}

impl PortMod {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let port_no = r.u32()?;
        r.skip(4)?;
        let hw_addr = r.array()?;
        r.skip(2)?;
        let config = r.u32()?;
        let mask = r.u32()?;
        let advertise = r.u32()?;
        r.skip(4)?;
        Ok(Self {
            port_no,
            hw_addr,
            config,
            mask,
            advertise,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.port_no);
        w.put_u32(0);
        w.put_slice(&self.hw_addr);
        w.put_u16(0);
        w.put_u32(self.config);
        w.put_u32(self.mask);
        w.put_u32(self.advertise);
        w.put_u32(0);
    }
}

/// `OFPT_TABLE_MOD`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableMod {
    /// Table id (`OFPTT_ALL` for all tables).
    pub table_id: u8,
    /// Table configuration bits (deprecated in 1.3; kept as sent).
    pub config: u32,
}

impl TableMod {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let table_id = r.u8()?;
        r.skip(3)?;
        Ok(Self {
            table_id,
            config: r.u32()?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u8(self.table_id);
        w.put_bytes(0, 3);
        w.put_u32(self.config);
    }
}

// ---------------------------------------------------------------------------
// QUEUE_GET_CONFIG_REPLY

/// `ofp_queue_properties` values.
pub mod queue_prop {
    /// Minimum datarate guaranteed.
    pub const MIN_RATE: u16 = 1;
    /// Maximum datarate.
    pub const MAX_RATE: u16 = 2;
    /// Experimenter property.
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// A queue property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueProp {
    /// `OFPQT_MIN_RATE`, in 1/10 of a percent (> 1000: disabled).
    MinRate(u16),
    /// `OFPQT_MAX_RATE`, in 1/10 of a percent (> 1000: disabled).
    MaxRate(u16),
    /// `OFPQT_EXPERIMENTER`.
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Bytes after the 16-byte property header and id.
        data: Vec<u8>,
    },
    /// A property of another type, kept as it was.
    Unknown {
        /// Property type.
        ptype: u16,
        /// Bytes after the 8-byte property header.
        data: Vec<u8>,
    },
}

/// `ofp_packet_queue`: one queue of a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketQueue {
    /// Queue id.
    pub queue_id: u32,
    /// Port the queue is attached to.
    pub port: u32,
    /// Properties.
    pub properties: Vec<QueueProp>,
}

/// `OFPT_QUEUE_GET_CONFIG_REPLY`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueGetConfigReply {
    /// The port that was queried.
    pub port: u32,
    /// Its queues.
    pub queues: Vec<PacketQueue>,
}

impl QueueProp {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let bad = short("queue property length invalid");
        let ptype = r.peek_u16(0).map_err(|_| bad)?;
        let len = check_len(r.peek_u16(2).map_err(|_| bad)?, 8, bad)?;
        let mut p = r.sub_with(len, bad)?;
        p.skip(8)?;
        Ok(match ptype {
            queue_prop::MIN_RATE | queue_prop::MAX_RATE => {
                if len != 16 {
                    return Err(bad);
                }
                let rate = p.u16()?;
                p.skip(6)?;
                if ptype == queue_prop::MIN_RATE {
                    Self::MinRate(rate)
                } else {
                    Self::MaxRate(rate)
                }
            }
            queue_prop::EXPERIMENTER => {
                let experimenter = p.u32()?;
                p.skip(4)?;
                Self::Experimenter {
                    experimenter,
                    data: p.take_rest().to_vec(),
                }
            }
            _ => Self::Unknown {
                ptype,
                data: p.take_rest().to_vec(),
            },
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        let ptype = match self {
            Self::MinRate(_) => queue_prop::MIN_RATE,
            Self::MaxRate(_) => queue_prop::MAX_RATE,
            Self::Experimenter { .. } => queue_prop::EXPERIMENTER,
            Self::Unknown { ptype, .. } => *ptype,
        };
        w.put_u16(ptype);
        w.put_u16(0);
        w.put_u32(0);
        match self {
            Self::MinRate(rate) | Self::MaxRate(rate) => {
                w.put_u16(*rate);
                w.put_bytes(0, 6);
            }
            Self::Experimenter { experimenter, data } => {
                w.put_u32(*experimenter);
                w.put_u32(0);
                w.put_slice(data);
            }
            Self::Unknown { data, .. } => w.put_slice(data),
        }
        patch_u16(w, start, 2);
    }
}

impl PacketQueue {
    /// Reads one `ofp_packet_queue`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let bad = short("queue length invalid");
        let queue_id = r.u32()?;
        let port = r.u32()?;
        let len = check_len(r.u16()?, 16, bad)?;
        r.skip(6)?;
        let mut p = r.sub_with(len - 16, bad)?;
        let mut properties = Vec::new();
        while !p.is_empty() {
            properties.push(QueueProp::decode(&mut p)?);
        }
        Ok(Self {
            queue_id,
            port,
            properties,
        })
    }

    /// Writes this `ofp_packet_queue`.
    pub fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u32(self.queue_id);
        w.put_u32(self.port);
        w.put_u16(0);
        w.put_bytes(0, 6);
        for p in &self.properties {
            p.encode(w);
        }
        patch_u16(w, start, 8);
    }
}

impl QueueGetConfigReply {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let port = r.u32()?;
        r.skip(4)?;
        let mut queues = Vec::new();
        while !r.is_empty() {
            queues.push(PacketQueue::decode(r)?);
        }
        Ok(Self { port, queues })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.port);
        w.put_u32(0);
        for q in &self.queues {
            q.encode(w);
        }
    }
}

// ---------------------------------------------------------------------------
// ROLE, ASYNC, METER_MOD

/// `ofp_controller_role` values.
pub mod controller_role {
    /// Don't change the current role.
    pub const NOCHANGE: u32 = 0;
    /// Default role, full access.
    pub const EQUAL: u32 = 1;
    /// Full access, at most one master.
    pub const MASTER: u32 = 2;
    /// Read-only access.
    pub const SLAVE: u32 = 3;
}

/// `ofp_role_request`: body of ROLE_REQUEST and ROLE_REPLY.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Role {
    /// [`controller_role`].
    pub role: u32,
    /// Master election generation id.
    pub generation_id: u64,
}

impl Role {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let role = r.u32()?;
        r.skip(4)?;
        Ok(Self {
            role,
            generation_id: r.u64()?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.role);
        w.put_u32(0);
        w.put_u64(self.generation_id);
    }
}

/// `ofp_async_config`: body of GET_ASYNC_REPLY and SET_ASYNC.  Index 0 of
/// each pair is for the master/equal role, index 1 for the slave role; bit
/// `n` enables reason `n`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AsyncConfig {
    /// PACKET_IN reasons.
    pub packet_in_mask: [u32; 2],
    /// PORT_STATUS reasons.
    pub port_status_mask: [u32; 2],
    /// FLOW_REMOVED reasons.
    pub flow_removed_mask: [u32; 2],
}

impl AsyncConfig {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        Ok(Self {
            packet_in_mask: [r.u32()?, r.u32()?],
            port_status_mask: [r.u32()?, r.u32()?],
            flow_removed_mask: [r.u32()?, r.u32()?],
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        for x in self
            .packet_in_mask
            .iter()
            .chain(&self.port_status_mask)
            .chain(&self.flow_removed_mask)
        {
            w.put_u32(*x);
        }
    }
}

/// `ofp_meter_mod_command` values.
pub mod meter_mod_command {
    /// New meter.
    pub const ADD: u16 = 0;
    /// Modify specified meter.
    pub const MODIFY: u16 = 1;
    /// Delete specified meter.
    pub const DELETE: u16 = 2;
}

/// `ofp_meter_flags` bits.
pub mod meter_flags {
    /// Rate value in kb/s.
    pub const KBPS: u16 = 1 << 0;
    /// Rate value in packets/s.
    pub const PKTPS: u16 = 1 << 1;
    /// Do burst size.
    pub const BURST: u16 = 1 << 2;
    /// Collect statistics.
    pub const STATS: u16 = 1 << 3;
}

/// `OFPT_METER_MOD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterMod {
    /// [`meter_mod_command`].
    pub command: u16,
    /// [`meter_flags`].
    pub flags: u16,
    /// Meter id.
    pub meter_id: u32,
    /// Bands.
    pub bands: Vec<MeterBand>,
}

impl MeterMod {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let command = r.u16()?;
        let flags = r.u16()?;
        let meter_id = r.u32()?;
        Ok(Self {
            command,
            flags,
            meter_id,
            bands: MeterBand::decode_list(r)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u16(self.command);
        w.put_u16(self.flags);
        w.put_u32(self.meter_id);
        MeterBand::encode_list(&self.bands, w);
    }
}

/// `OFPMMFC_BAD_BAND`: a meter band of unknown type.
pub(crate) const BAD_BAND: OfpError = OfpError::new(
    ErrorType::METER_MOD_FAILED,
    meter_mod_failed::BAD_BAND,
    "unknown meter band type",
);

#[cfg(test)]
#[path = "message_tests.rs"]
pub(crate) mod tests;
