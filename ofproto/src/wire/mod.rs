//! The OpenFlow 1.3.5 wire codec: bytes to typed messages and back, no I/O.
//!
//! # Contract
//!
//! * **Sans-IO.**  [`decode`] takes the bytes of exactly one message and
//!   returns a [`Message`] or an [`OfpError`]; [`encode`] appends one
//!   message to a `BytesMut`.  Sockets, timers and state machines live
//!   elsewhere; [`framing::OfpCodec`] is the thin adapter that splits a
//!   byte stream into messages for `tokio_util`.
//! * **No panics, bounded memory.**  Every byte of outside input is read
//!   through a [`codec::Reader`], a bounds-checked cursor.  Every
//!   length-prefixed item (match, OXM, action, instruction, bucket, band,
//!   property, multipart record) is read through a sub-reader limited to
//!   its declared length, so an item can never read its neighbour's bytes,
//!   and a length field never causes an allocation larger than the input
//!   actually present: vectors grow as items are decoded.
//! * **Errors are the wire pair.**  A decode error *is* the
//!   `(type, code)` to put in the `OFPT_ERROR` reply: a truncated message
//!   is `OFPBRC_BAD_LEN`, a bad OXM `OFPBMC_*`, a bad action `OFPBAC_*`, an
//!   unknown meter band `OFPMMFC_BAD_BAND`, and so on.  Each reader carries
//!   the error it reports when input runs out, so the code of a nested
//!   structure is chosen once, where that structure starts.
//!   [`ErrorMsg::from_error`] / [`Message::error_reply`] build the reply
//!   with the first 64 bytes of the offending request.  A message that
//!   frames but fails to decode is answered, not fatal: only a length the
//!   stream cannot be split by ends a connection.
//! * **Exact round trips.**  Encoding a decoded message gives back the same
//!   bytes for every well-formed input: padding is written as zeros,
//!   lengths are back-patched from what was written, and everything the
//!   codec does not interpret (experimenter bodies, unknown hello elements,
//!   queue and table-feature properties of unknown types, OXMs of other
//!   classes) is kept as opaque bytes.  Registry values (message, error,
//!   multipart types, ...) are open newtypes so unknown values survive.
//!
//! # Three representations, kept apart
//!
//! This module is only the *wire* representation: structures shaped like
//! the OpenFlow 1.3 headers, with every field the spec defines, validated
//! only as far as the layout needs (lengths, types, the per-field checks of
//! OXM).  Semantic checks that depend on switch state (does the table
//! exist, is the port valid) belong to the layer above, which converts
//! these structures into the version-free flow-table model; that model is
//! in turn translated into datapath keys and actions.  Neither of those
//! depends on byte layouts, and this module depends on neither of them.
//!
//! # Layout
//!
//! - [`codec`]: the bounded reader and back-patching helpers.
//! - [`error`]: error types and codes ([`OfpError`]).
//! - [`consts`]: shared protocol constants.
//! - [`oxm`], [`action`], [`instruction`]: matches, actions, instructions.
//! - [`message`]: the header, [`Message`], [`Body`] and every
//!   non-multipart body.
//! - [`multipart`]: multipart requests/replies and meter bands.
//! - [`table_features`]: table features and their properties.
//! - [`framing`]: the stream adapter.

pub mod codec;
pub mod consts;
pub mod error;

pub mod action;
pub mod instruction;
pub mod oxm;

pub mod framing;
pub mod message;
pub mod multipart;
pub mod table_features;

pub use error::{ErrorType, OfpError};
pub use framing::{Frame, FramingError, OfpCodec};
pub use message::{Body, ErrorMsg, Header, Hello, HelloElement, Message, MsgType, decode, encode};
pub use multipart::{
    MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody, MultipartType,
};
