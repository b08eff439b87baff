//! What the OpenFlow bridge's revalidation needs from the datapath:
//! epochs that keep stale upcall decisions out of the cache, in-place
//! action changes that keep statistics, the original key of a megaflow,
//! and meter verdicts with DSCP remarking.

use std::sync::Arc;

use datapath::actions::{ActionSink, DpAction, MeterVerdict, execute};
use datapath::dpif::FlowTable;
use datapath::flow::{Field, FlowKey, FlowMask, extract};
use datapath::megaflow::CacheError;
use datapath::packet::Packet;

fn key(in_port: u32, dst: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_in_port(in_port);
    k.set_eth_type(0x0800);
    k.set_tp_dst(dst);
    k
}

fn in_port_mask() -> FlowMask {
    let mut m = FlowMask::CATCHALL;
    m.set_exact(Field::InPort);
    m
}

#[test]
fn decisions_from_an_older_epoch_are_not_installed() {
    let t = FlowTable::new(16);
    let e = t.epoch();
    let acts: Arc<[DpAction]> = vec![DpAction::Output(2)].into();
    let f = t
        .insert_in_epoch(key(1, 80), in_port_mask(), acts.clone(), e)
        .expect("same epoch installs");
    assert_eq!(f.orig_key, key(1, 80), "the full key is kept");
    assert_ne!(f.key, key(1, 80), "the cache key is masked");
    let e2 = t.bump_epoch();
    assert_eq!(e2, e + 1);
    assert_eq!(
        t.insert_in_epoch(key(2, 80), in_port_mask(), acts.clone(), e)
            .map(|_| ()),
        Err(CacheError::Stale)
    );
    assert!(
        t.insert_in_epoch(key(2, 80), in_port_mask(), acts, e2)
            .is_ok()
    );
    assert_eq!(t.with_read(|c| c.len()), 2);
}

#[derive(Default)]
struct RemarkSink {
    out: Vec<Vec<u8>>,
    verdict: Option<MeterVerdict>,
}

impl ActionSink for RemarkSink {
    fn output(&mut self, _port: u32, pkt: &Packet) {
        self.out.push(pkt.data().to_vec());
    }
    fn userspace(&mut self, _pkt: &Packet, _cookie: u64, _max_len: u32) {}
    fn meter(&mut self, _meter: u32, _pkt: &Packet) -> bool {
        true
    }
    fn meter_verdict(&mut self, _meter: u32, _pkt: &Packet) -> MeterVerdict {
        self.verdict.unwrap_or(MeterVerdict::Pass)
    }
}

fn ipv4_udp(tos: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![
        0x45, tos, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let mut sum = 0u32;
    for c in ip.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let cs = !(sum as u16);
    ip[10..12].copy_from_slice(&cs.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
    f
}

fn checksum_ok(f: &[u8]) -> bool {
    let mut sum = 0u32;
    for c in f[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

fn meter_then_output(tos: u8, v: MeterVerdict) -> Vec<Vec<u8>> {
    let frame = ipv4_udp(tos);
    let mut p = Packet::from_slice(&frame);
    let mut k = FlowKey::default();
    extract(&mut p, &mut k);
    let mut s = RemarkSink {
        verdict: Some(v),
        ..RemarkSink::default()
    };
    execute(
        &[DpAction::Meter(1), DpAction::Output(2)],
        &mut p,
        &k,
        &mut s,
    );
    s.out
}

#[test]
fn meter_verdicts_pass_drop_and_remark_dscp() {
    assert_eq!(meter_then_output(0x28, MeterVerdict::Pass)[0][15], 0x28);
    assert!(meter_then_output(0x28, MeterVerdict::Drop).is_empty());
    // AF11 (DSCP 10) + 1 level = AF12 (12); + 2 = AF13 (14); saturates.
    let o = meter_then_output(0x28, MeterVerdict::Remark(1));
    assert_eq!(o[0][15], 12 << 2);
    assert!(checksum_ok(&o[0]));
    assert_eq!(
        meter_then_output(0x28, MeterVerdict::Remark(2))[0][15],
        14 << 2
    );
    assert_eq!(
        meter_then_output(0x28, MeterVerdict::Remark(5))[0][15],
        14 << 2
    );
    // ECN bits are kept.
    assert_eq!(
        meter_then_output(0x29, MeterVerdict::Remark(1))[0][15],
        (12 << 2) | 1
    );
}
