//! Fuzz target: `ofproto::wire::decode` on arbitrary bytes.
//!
//! Oracle: decoding never panics; when it succeeds, encoding the message and
//! decoding that again gives the same message, and a second encoding gives
//! the same bytes (encode is a function of the decoded value).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = ofproto::wire::decode(data) else {
        return;
    };
    let mut once = BytesMut::new();
    ofproto::wire::encode(&msg, &mut once);
    let again = ofproto::wire::decode(&once).expect("our own encoding must decode");
    assert_eq!(again, msg, "decode(encode(m)) != m");
    let mut twice = BytesMut::new();
    ofproto::wire::encode(&again, &mut twice);
    assert_eq!(once, twice, "encoding is not stable");
});
