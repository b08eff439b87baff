//! Framing: the thin `tokio_util::codec` adapter over [`decode`]/[`encode`].
//!
//! OpenFlow is a byte stream of messages, each starting with an 8-byte
//! header whose `length` covers the whole message.  [`OfpCodec`] peeks that
//! header, waits for the whole message, and hands it out as a [`Frame`]:
//! the raw bytes plus the decode result.  A message that frames correctly
//! but does not decode is *not* a stream error: the connection layer answers
//! it with `OFPT_ERROR` ([`Frame::error_reply`]) and carries on.  Only a
//! length that cannot be framed (below 8, or above the configured maximum)
//! is fatal ([`FramingError`]), since the stream can no longer be split.
//!
//! Memory is bounded: the decoder never reserves more than `max_len` bytes
//! for a message, whatever the header says.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::consts::{OFP_HEADER_LEN, OFP_MAX_MESSAGE_LEN};
use super::error::OfpError;
use super::message::{Header, Message, decode, encode};

/// A fatal stream error: the byte stream can no longer be split into
/// messages, or the transport failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The header's length is below the 8-byte header itself.
    #[error("OpenFlow message length {0} is shorter than the header")]
    TooShort(u16),
    /// The header's length exceeds the codec's limit.
    #[error("OpenFlow message length {length} exceeds the limit {max}")]
    TooLong {
        /// The length announced by the header.
        length: u16,
        /// The configured limit.
        max: usize,
    },
    /// The transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// One framed message: its raw bytes and the result of decoding them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The message header (valid even when decoding failed).
    pub header: Header,
    /// The whole message as received, header included.
    pub raw: Bytes,
    /// The decoded message, or the error to answer it with.
    pub msg: Result<Message, OfpError>,
}

impl Frame {
    /// The `OFPT_ERROR` to send back when decoding failed (same xid, the
    /// first 64 bytes of the message); `None` when it decoded.
    pub fn error_reply(&self) -> Option<Message> {
        match &self.msg {
            Ok(_) => None,
            Err(e) => Some(Message::error_reply(e, &self.raw)),
        }
    }
}

/// `tokio_util` codec for OpenFlow 1.3 streams.
#[derive(Clone, Debug)]
pub struct OfpCodec {
    max_len: usize,
}

impl Default for OfpCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl OfpCodec {
    /// A codec accepting messages up to the protocol maximum (65535 bytes).
    pub fn new() -> Self {
        Self {
            max_len: OFP_MAX_MESSAGE_LEN,
        }
    }

    /// A codec accepting messages up to `max_len` bytes (at least 8; values
    /// above the protocol maximum act as the protocol maximum).
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            max_len: max_len.clamp(OFP_HEADER_LEN, OFP_MAX_MESSAGE_LEN),
        }
    }

    /// The largest message this codec accepts.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}

impl Decoder for OfpCodec {
    type Item = Frame;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        let Ok(header) = Header::peek(src) else {
            src.reserve(OFP_HEADER_LEN);
            return Ok(None);
        };
        let len = usize::from(header.length);
        if len < OFP_HEADER_LEN {
            return Err(FramingError::TooShort(header.length));
        }
        if len > self.max_len {
            return Err(FramingError::TooLong {
                length: header.length,
                max: self.max_len,
            });
        }
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let raw = src.split_to(len).freeze();
        let msg = decode(&raw);
        Ok(Some(Frame { header, raw, msg }))
    }
}

impl Encoder<Message> for OfpCodec {
    type Error = FramingError;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), FramingError> {
        encode(&msg, dst);
        Ok(())
    }
}

impl Encoder<&Message> for OfpCodec {
    type Error = FramingError;

    fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), FramingError> {
        encode(msg, dst);
        Ok(())
    }
}

/// Splits every complete message off the front of `buf` without a codec
/// (for tests and tools); stops at the first incomplete message.
pub fn split_messages(buf: &mut BytesMut, max_len: usize) -> Result<Vec<Frame>, FramingError> {
    let mut codec = OfpCodec::with_max_len(max_len);
    let mut out = Vec::new();
    while let Some(f) = codec.decode(buf)? {
        out.push(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::error::{ErrorType, bad_request};
    use crate::wire::message::{Body, Hello};

    fn bytes_of(m: &Message) -> Vec<u8> {
        m.to_vec()
    }

    #[test]
    fn decodes_messages_split_at_every_byte() {
        let a = Message::new(1, Body::Hello(Hello::with_versions(&[4])));
        let b = Message::new(2, Body::EchoRequest(vec![1, 2, 3]));
        let mut all = bytes_of(&a);
        all.extend(bytes_of(&b));
        for cut in 0..=all.len() {
            let mut codec = OfpCodec::new();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            buf.extend_from_slice(&all[..cut]);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                got.push(f.msg.unwrap());
            }
            buf.extend_from_slice(&all[cut..]);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                got.push(f.msg.unwrap());
            }
            assert_eq!(got, vec![a.clone(), b.clone()], "cut at {cut}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn undecodable_message_is_delivered_with_its_error() {
        // Unknown type 0x63, then a good barrier request.
        let mut buf = BytesMut::from(&[4u8, 0x63, 0, 8, 0, 0, 0, 9][..]);
        buf.extend_from_slice(&bytes_of(&Message::new(10, Body::BarrierRequest)));
        let mut codec = OfpCodec::new();
        let f = codec.decode(&mut buf).unwrap().unwrap();
        let e = f.msg.clone().unwrap_err();
        assert!(e.is(ErrorType::BAD_REQUEST, bad_request::BAD_TYPE));
        let reply = f.error_reply().unwrap();
        assert_eq!(reply.xid, 9);
        match reply.body {
            Body::Error(em) => assert_eq!(em.data, f.raw.to_vec()),
            other => panic!("{other:?}"),
        }
        let g = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(g.msg.unwrap().body, Body::BarrierRequest);
    }

    #[test]
    fn bad_lengths_are_fatal() {
        let mut codec = OfpCodec::new();
        let mut buf = BytesMut::from(&[4u8, 0, 0, 7, 0, 0, 0, 0][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FramingError::TooShort(7))
        ));
        let mut codec = OfpCodec::with_max_len(1024);
        let mut buf = BytesMut::from(&[4u8, 0, 0x04, 0x01, 0, 0, 0, 0][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FramingError::TooLong {
                length: 1025,
                max: 1024
            })
        ));
    }

    #[test]
    fn does_not_reserve_beyond_the_limit() {
        let mut codec = OfpCodec::new();
        let mut buf = BytesMut::from(&[4u8, 0, 0xff, 0xff, 0, 0, 0, 0][..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= 2 * OFP_MAX_MESSAGE_LEN);
    }

    #[test]
    fn encoder_writes_the_message() {
        let m = Message::new(5, Body::FeaturesRequest);
        let mut codec = OfpCodec::new();
        let mut dst = BytesMut::new();
        codec.encode(&m, &mut dst).unwrap();
        codec.encode(m.clone(), &mut dst).unwrap();
        assert_eq!(&dst[..8], &[4, 5, 0, 8, 0, 0, 0, 5]);
        let frames = split_messages(&mut dst, 100).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].msg.as_ref().unwrap(), &m);
    }
}

#[cfg(test)]
#[path = "ofctl_session_tests.rs"]
mod ofctl_session_tests;
