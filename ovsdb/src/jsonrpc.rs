//! JSON-RPC 1.0 as OVSDB peers speak it (RFC 7047 section 4, OVS `lib/jsonrpc.c`).
//!
//! Two pieces, both sans-IO:
//!
//! * [`Msg`]: the four message shapes. A request has a `method`, `params`
//!   (an array) and a non-null `id`; a notification is a request whose `id`
//!   is `null`; a reply carries `result` with `error: null`; an error reply
//!   carries any JSON value in `error` with `result: null`. There is no
//!   `"jsonrpc": "2.0"` member, and either side may send requests (the server
//!   sends `echo`, `update`, `locked`, `stolen`).
//! * [`Framer`]: splits a byte stream into JSON texts sent back to back, with
//!   or without whitespace between them (not line-delimited). It scans each
//!   byte once, tracking string/escape state and bracket depth, and refuses a
//!   message that grows past a byte limit before it is complete, so a peer
//!   can never make the buffer grow without bound.
//!
//! [`JsonRpcCodec`] adapts the framer to `tokio_util::codec`.

use bytes::{Buf, BytesMut};
use serde_json::{Map, Value};

/// Default bound on one incoming JSON-RPC message, in bytes (64 MiB).
///
/// ovsdb-server has no limit; the largest legitimate messages are
/// `transact` requests adding thousands of rows, a few MiB each. A peer
/// exceeding the bound gets an error and is disconnected.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// Errors from framing or interpreting JSON-RPC messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonRpcError {
    /// The peer sent bytes that are not JSON.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// A message grew past the size bound before it was complete.
    #[error("message exceeds {limit} bytes")]
    TooLarge {
        /// The bound that was exceeded.
        limit: usize,
    },
    /// Valid JSON that is not a JSON-RPC 1.0 message.
    #[error("invalid JSON-RPC message: {0}")]
    Invalid(String),
    /// Transport failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// One JSON-RPC 1.0 message.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A request expecting a reply with the same `id`.
    Request {
        /// Method name.
        method: String,
        /// Parameters (OVSDB always uses an array).
        params: Value,
        /// Request id, any JSON value except `null`.
        id: Value,
    },
    /// A request without reply (`id` is `null` on the wire).
    Notify {
        /// Method name.
        method: String,
        /// Parameters.
        params: Value,
    },
    /// A successful reply.
    Reply {
        /// The result.
        result: Value,
        /// Id of the request answered.
        id: Value,
    },
    /// A failed reply; `error` may be any JSON value.
    Error {
        /// The error object (OVSDB uses `{"error": ..., "details": ...}`).
        error: Value,
        /// Id of the request answered (`null` when it could not be known).
        id: Value,
    },
}

impl Msg {
    /// A request.
    pub fn request(method: impl Into<String>, params: Value, id: Value) -> Msg {
        Msg::Request {
            method: method.into(),
            params,
            id,
        }
    }

    /// A notification.
    pub fn notify(method: impl Into<String>, params: Value) -> Msg {
        Msg::Notify {
            method: method.into(),
            params,
        }
    }

    /// Interprets a parsed JSON value as a message.
    pub fn from_value(v: Value) -> Result<Msg, JsonRpcError> {
        let Value::Object(mut o) = v else {
            return Err(JsonRpcError::Invalid("message is not a JSON object".into()));
        };
        for k in o.keys() {
            if !matches!(k.as_str(), "method" | "params" | "id" | "result" | "error") {
                return Err(JsonRpcError::Invalid(format!(
                    "message has unexpected member \"{k}\""
                )));
            }
        }
        let id = o.remove("id");
        if let Some(m) = o.remove("method") {
            let Value::String(method) = m else {
                return Err(JsonRpcError::Invalid("method is not a string".into()));
            };
            if o.contains_key("result") || o.contains_key("error") {
                return Err(JsonRpcError::Invalid("request has result or error".into()));
            }
            let params = match o.remove("params") {
                Some(p @ Value::Array(_)) => p,
                Some(_) => return Err(JsonRpcError::Invalid("params is not an array".into())),
                None => return Err(JsonRpcError::Invalid("request lacks params".into())),
            };
            return Ok(match id {
                None | Some(Value::Null) => Msg::Notify { method, params },
                Some(id) => Msg::Request { method, params, id },
            });
        }
        let Some(id) = id else {
            return Err(JsonRpcError::Invalid("reply lacks id".into()));
        };
        if o.contains_key("params") {
            return Err(JsonRpcError::Invalid("reply has params".into()));
        }
        let result = o.remove("result").unwrap_or(Value::Null);
        let error = o.remove("error").unwrap_or(Value::Null);
        match (result, error) {
            (r, Value::Null) => Ok(Msg::Reply { result: r, id }),
            (Value::Null, e) => Ok(Msg::Error { error: e, id }),
            _ => Err(JsonRpcError::Invalid(
                "reply has both result and error".into(),
            )),
        }
    }

    /// The wire form of this message.
    pub fn to_value(&self) -> Value {
        let mut o = Map::new();
        match self {
            Msg::Request { method, params, id } => {
                o.insert("method".into(), Value::String(method.clone()));
                o.insert("params".into(), params.clone());
                o.insert("id".into(), id.clone());
            }
            Msg::Notify { method, params } => {
                o.insert("method".into(), Value::String(method.clone()));
                o.insert("params".into(), params.clone());
                o.insert("id".into(), Value::Null);
            }
            Msg::Reply { result, id } => {
                o.insert("result".into(), result.clone());
                o.insert("error".into(), Value::Null);
                o.insert("id".into(), id.clone());
            }
            Msg::Error { error, id } => {
                o.insert("result".into(), Value::Null);
                o.insert("error".into(), error.clone());
                o.insert("id".into(), id.clone());
            }
        }
        Value::Object(o)
    }

    /// Appends the serialized message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Serializing a `Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &self.to_value());
    }
}

/// Incremental splitter of back-to-back JSON texts.
///
/// Feed bytes with [`Framer::push`] (or operate on a `BytesMut` with
/// [`Framer::next_in`]); each complete top-level object or array is returned
/// once. Scanning state survives between calls, so each byte is looked at
/// once no matter how the stream is split.
#[derive(Debug, Clone)]
pub struct Framer {
    max: usize,
    /// Bytes of the buffer already scanned for the current value.
    scanned: usize,
    /// Offset of the first byte of the current value (after whitespace).
    start: Option<usize>,
    depth: usize,
    in_string: bool,
    escape: bool,
    /// Length in bytes of the last complete value returned.
    last_len: usize,
}

impl Framer {
    /// A framer refusing messages longer than `max` bytes.
    pub fn new(max: usize) -> Framer {
        Framer {
            max,
            scanned: 0,
            start: None,
            depth: 0,
            in_string: false,
            escape: false,
            last_len: 0,
        }
    }

    /// The size bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Length in bytes of the last value returned by [`Framer::next_in`].
    pub fn last_len(&self) -> usize {
        self.last_len
    }

    /// Extracts the next complete JSON value from the front of `buf`,
    /// consuming its bytes (and the whitespace before it). Returns `None`
    /// when more bytes are needed.
    pub fn next_in(&mut self, buf: &mut BytesMut) -> Result<Option<Value>, JsonRpcError> {
        let mut i = self.scanned;
        while i < buf.len() {
            let b = buf[i];
            i += 1;
            if self.start.is_none() {
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b'{' | b'[' => {
                        self.start = Some(i - 1);
                        self.depth = 1;
                        continue;
                    }
                    _ => {
                        return Err(JsonRpcError::Syntax(format!(
                            "unexpected byte 0x{b:02x} outside a JSON object"
                        )));
                    }
                }
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let start = self.start.unwrap_or(0);
                        if i - start > self.max {
                            return Err(JsonRpcError::TooLarge { limit: self.max });
                        }
                        let text = buf.split_to(i);
                        self.reset();
                        self.last_len = i - start;
                        return serde_json::from_slice(&text[start..])
                            .map(Some)
                            .map_err(|e| JsonRpcError::Syntax(e.to_string()));
                    }
                }
                _ => {}
            }
        }
        self.scanned = i;
        match self.start {
            Some(start) if buf.len() - start > self.max => {
                Err(JsonRpcError::TooLarge { limit: self.max })
            }
            None => {
                // Only whitespace so far: drop it so idle keepalive bytes do not pile up.
                buf.advance(buf.len());
                self.scanned = 0;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.start = None;
        self.depth = 0;
        self.in_string = false;
        self.escape = false;
    }
}

/// `tokio_util` codec: JSON-RPC messages over a byte stream.
#[derive(Debug, Clone)]
pub struct JsonRpcCodec {
    framer: Framer,
}

impl JsonRpcCodec {
    /// A codec with the given incoming message bound.
    pub fn new(max_message: usize) -> JsonRpcCodec {
        JsonRpcCodec {
            framer: Framer::new(max_message),
        }
    }
}

impl JsonRpcCodec {
    /// Size in bytes of the last message decoded.
    pub fn last_len(&self) -> usize {
        self.framer.last_len()
    }
}

impl Default for JsonRpcCodec {
    fn default() -> Self {
        JsonRpcCodec::new(DEFAULT_MAX_MESSAGE)
    }
}

impl tokio_util::codec::Decoder for JsonRpcCodec {
    type Item = Msg;
    type Error = JsonRpcError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Msg>, JsonRpcError> {
        match self.framer.next_in(src)? {
            Some(v) => Msg::from_value(v).map(Some),
            None => Ok(None),
        }
    }
}

impl tokio_util::codec::Encoder<Msg> for JsonRpcCodec {
    type Error = JsonRpcError;

    fn encode(&mut self, item: Msg, dst: &mut BytesMut) -> Result<(), JsonRpcError> {
        let mut v = Vec::new();
        item.encode(&mut v);
        dst.extend_from_slice(&v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(framer: &mut Framer, chunks: &[&[u8]]) -> Result<Vec<Value>, JsonRpcError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(v) = framer.next_in(&mut buf)? {
                out.push(v);
            }
        }
        Ok(out)
    }

    #[test]
    fn splits_back_to_back_values_across_any_boundary() {
        let text = br#"{"a":"}{\"x"} [1,[2]]
 {"b":{"c":"\\"}}"#;
        let want = vec![
            json!({"a":"}{\"x"}),
            json!([1, [2]]),
            json!({"b":{"c":"\\"}}),
        ];
        for cut in 0..text.len() {
            let mut f = Framer::new(1000);
            let got = all(&mut f, &[&text[..cut], &text[cut..]]).unwrap();
            assert_eq!(got, want, "cut at {cut}");
        }
        let mut f = Framer::new(1000);
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(all(&mut f, &bytes).unwrap(), want);
    }

    #[test]
    fn rejects_oversized_message_before_it_completes() {
        let mut f = Framer::new(16);
        let mut buf = BytesMut::from(&b"{\"method\":\"xxxxxxxxxxxxxxxxxxxxxx"[..]);
        assert!(matches!(
            f.next_in(&mut buf),
            Err(JsonRpcError::TooLarge { limit: 16 })
        ));
    }

    #[test]
    fn rejects_garbage_and_bad_json() {
        let mut f = Framer::new(100);
        assert!(matches!(
            all(&mut f, &[b"hello"]),
            Err(JsonRpcError::Syntax(_))
        ));
        let mut f = Framer::new(100);
        assert!(matches!(
            all(&mut f, &[b"{\"a\":,}"]),
            Err(JsonRpcError::Syntax(_))
        ));
    }

    #[test]
    fn message_shapes_round_trip() {
        let cases = [
            Msg::request("echo", json!([]), json!("echo")),
            Msg::notify("update", json!([null, {}])),
            Msg::Reply {
                result: json!({"x": 1}),
                id: json!(3),
            },
            Msg::Error {
                error: json!({"error": "unknown method"}),
                id: json!(4),
            },
        ];
        for m in cases {
            assert_eq!(Msg::from_value(m.to_value()).unwrap(), m);
        }
        assert_eq!(
            Msg::notify("update", json!([])).to_value(),
            json!({"method":"update","params":[],"id":null})
        );
    }

    #[test]
    fn rejects_non_rpc_objects() {
        for v in [
            json!([1]),
            json!({"method": 1, "params": [], "id": 1}),
            json!({"method": "x", "params": {}, "id": 1}),
            json!({"result": 1}),
            json!({"result": 1, "error": 2, "id": 1}),
            json!({"jsonrpc": "2.0", "method": "x", "params": [], "id": 1}),
        ] {
            assert!(Msg::from_value(v.clone()).is_err(), "{v}");
        }
    }

    proptest::proptest! {
        /// Arbitrary bytes, split anywhere: the framer never panics, never
        /// keeps more than its bound, and every value it yields is a
        /// complete object or array.
        #[test]
        fn framer_survives_arbitrary_input(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2048),
                                           cut in 0usize..2048) {
            let mut f = Framer::new(512);
            let mut buf = BytesMut::new();
            let cut = cut.min(data.len());
            'outer: for part in [&data[..cut], &data[cut..]] {
                buf.extend_from_slice(part);
                loop {
                    match f.next_in(&mut buf) {
                        Ok(Some(v)) => proptest::prop_assert!(v.is_object() || v.is_array()),
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
                proptest::prop_assert!(buf.len() <= 512 + part.len());
            }
        }

        /// Valid messages survive any split point and any whitespace between them.
        #[test]
        fn framer_round_trips_messages(n in 1usize..20, ws in "[ \t\r\n]{0,3}", cut in 0usize..4096) {
            let msgs: Vec<Msg> = (0..n).map(|i| Msg::request("echo", json!([i, "a\"}]{", {"k": [i]}]), json!(i))).collect();
            let mut text = Vec::new();
            for m in &msgs {
                m.encode(&mut text);
                text.extend_from_slice(ws.as_bytes());
            }
            let cut = cut.min(text.len());
            let mut f = Framer::new(1 << 20);
            let got = all(&mut f, &[&text[..cut], &text[cut..]]).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let got: Vec<Msg> = got.into_iter().map(|v| Msg::from_value(v).expect("msg")).collect();
            proptest::prop_assert_eq!(got, msgs);
        }
    }
}
