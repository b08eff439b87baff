//! Stable-Rust fuzzing of `ofproto::wire::decode`: a seeded PRNG drives one
//! million inputs (release builds; 100,000 in debug builds unless
//! `RVS_FUZZ_ITERATIONS` says otherwise), structured so that most get past
//! the header: valid headers with random bodies, multipart requests/replies
//! of every type with random bodies, and bit-flipped, truncated, spliced and
//! overwritten copies of the golden vectors captured from ovs-ofctl.
//!
//! Oracle: no panic; and whenever an input decodes, encoding the message and
//! decoding that again gives the same message (the encoder's output is
//! always accepted by the decoder).  The seed is printed; rerun one with
//! `RVS_FUZZ_SEED=<n>`.

use bytes::BytesMut;
use ofproto::wire::{decode, encode};

mod wire_support;

/// SplitMix64: tiny, fast, good enough to drive a fuzzer.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    fn fill(&mut self, v: &mut Vec<u8>, n: usize) {
        v.extend((0..n).map(|_| self.byte()));
    }
}

fn set_len(m: &mut [u8]) {
    let n = u16::try_from(m.len()).unwrap_or(u16::MAX);
    if m.len() >= 4 {
        m[2..4].copy_from_slice(&n.to_be_bytes());
    }
}

fn generate(rng: &mut Rng, golden: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    let g = &golden[rng.below(golden.len())];
    match rng.below(10) {
        // Valid header, random body.
        0 | 1 => {
            let ty = if rng.below(4) == 0 {
                rng.byte()
            } else {
                rng.below(30) as u8
            };
            out.extend_from_slice(&[4, ty, 0, 0]);
            rng.fill(out, 4);
            let max = if rng.below(8) == 0 { 2048 } else { 128 };
            let n = rng.below(max);
            rng.fill(out, n);
            set_len(out);
        }
        // Multipart request/reply of any type, random body.
        2 => {
            let ty = if rng.below(2) == 0 { 18 } else { 19 };
            out.extend_from_slice(&[4, ty, 0, 0]);
            rng.fill(out, 4);
            let mp = if rng.below(8) == 0 {
                0xffff
            } else {
                rng.below(15) as u16
            };
            out.extend_from_slice(&mp.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            let n = rng.below(256);
            rng.fill(out, n);
            set_len(out);
        }
        // Golden vector with 1-4 bit flips (header length kept right half the time).
        3 | 4 => {
            out.extend_from_slice(g);
            for _ in 0..=rng.below(4) {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            if rng.below(2) == 0 {
                set_len(out);
            }
        }
        // Golden vector truncated, length fixed up.
        5 => {
            let n = rng.below(g.len() + 1);
            out.extend_from_slice(&g[..n]);
            set_len(out);
        }
        // Golden vector with random bytes overwritten.
        6 => {
            out.extend_from_slice(g);
            let start = rng.below(out.len());
            let n = rng.below(8).min(out.len() - start);
            for b in &mut out[start..start + n] {
                *b = rng.byte();
            }
            set_len(out);
        }
        // Golden vector with bytes inserted or removed in the body.
        7 => {
            out.extend_from_slice(g);
            let at = 8 + rng.below(out.len().saturating_sub(8));
            if rng.below(2) == 0 {
                let ins: Vec<u8> = (0..rng.below(16) + 1).map(|_| rng.byte()).collect();
                out.splice(at.min(out.len())..at.min(out.len()), ins);
            } else {
                let end = (at + rng.below(16) + 1).min(out.len());
                out.drain(at.min(end)..end);
            }
            set_len(out);
        }
        // Two golden vectors spliced: header of one, body of the other.
        8 => {
            let h = &golden[rng.below(golden.len())];
            out.extend_from_slice(&h[..8]);
            out.extend_from_slice(&g[8.min(g.len())..]);
            set_len(out);
        }
        // Plain random bytes.
        _ => {
            let n = rng.below(64);
            rng.fill(out, n);
        }
    }
}

#[test]
fn a_million_mutated_inputs_never_panic_and_decoded_ones_round_trip() {
    let iterations: u64 = std::env::var("RVS_FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            100_000
        } else {
            1_000_000
        });
    let seed: u64 = std::env::var("RVS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x005e_ed0f_0f13);
    let golden = wire_support::golden_messages();
    let mut rng = Rng(seed);
    let mut input = Vec::with_capacity(4096);
    let mut enc = BytesMut::with_capacity(4096);
    let (mut ok, mut past_header) = (0u64, 0u64);
    let mut failures = Vec::new();
    let mut failure_kinds = std::collections::BTreeSet::new();
    let started = std::time::Instant::now();
    for _ in 0..iterations {
        generate(&mut rng, &golden, &mut input);
        match decode(&input) {
            Ok(msg) => {
                ok += 1;
                past_header += 1;
                enc.clear();
                encode(&msg, &mut enc);
                match decode(&enc) {
                    Ok(again) if again == msg => {}
                    // Report the first failure of each message (and multipart) type.
                    other
                        if failure_kinds.insert((
                            input[1],
                            if matches!(input[1], 18 | 19) {
                                input.get(8..10).map(<[u8]>::to_vec)
                            } else {
                                None
                            },
                        )) =>
                    {
                        failures.push(format!(
                            "input {}\n decoded {msg:?}\n re-encoded {}\n re-decoded {other:?}",
                            hex::encode(&input),
                            hex::encode(&enc)
                        ))
                    }
                    _ => {}
                }
            }
            Err(e) => {
                if !e.is(
                    ofproto::wire::ErrorType::BAD_REQUEST,
                    ofproto::wire::error::bad_request::BAD_LEN,
                ) || input.len() > 8
                {
                    past_header += 1;
                }
            }
        }
    }
    println!(
        "seed {seed:#x}: {iterations} inputs in {:?}, {ok} decoded, {past_header} got past the header checks",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "round-trip failures (seed {seed:#x}):\n{}",
        failures.join("\n")
    );
    assert!(
        ok > iterations / 50,
        "too few inputs decode ({ok}); the generator is too blunt"
    );
}
