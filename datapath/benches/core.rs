//! Fast-path micro-benchmarks: flow-key extraction, exact-match cache hit,
//! megaflow hit with 1/10/100 subtables, and executing an output action.
//! Run: `cargo bench -p datapath --bench core`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datapath::actions::{ActionSink, DpAction, execute};
use datapath::emc::Emc;
use datapath::flow::{Field, FlowKey, FlowMask, extract};
use datapath::megaflow::MegaflowCache;
use datapath::packet::Packet;

/// A 64-byte Ethernet/IPv4/UDP frame (60 bytes + FCS on the wire).
fn udp64() -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&46u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let c = datapath::csum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&1234u16.to_be_bytes());
    udp[2..4].copy_from_slice(&5678u16.to_be_bytes());
    udp[4..6].copy_from_slice(&26u16.to_be_bytes());
    f
}

fn bench_extract(c: &mut Criterion) {
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(1));
    let mut p = Packet::from_slice(&udp64());
    let mut k = FlowKey::default();
    g.bench_function("udp4_64B", |b| {
        b.iter(|| {
            extract(black_box(&mut p), &mut k);
            black_box(&k);
        })
    });
    g.finish();
}

/// A cache with `n` subtables (distinct masks); the packet's megaflow is
/// in the last-ranked subtable, so a hit visits all `n`.
fn cache_with(n: usize, pkt_key: &FlowKey) -> MegaflowCache {
    let mut c = MegaflowCache::new(200_000);
    let fields = [Field::Ipv4Src, Field::TpSrc, Field::TpDst, Field::EthSrc];
    for i in 0..n {
        let mut m = FlowMask::default();
        m.set_exact(Field::InPort);
        // A distinct mask per subtable: a different prefix length on ipv4_dst
        // combined with a field chosen by i.
        m.set_field(Field::Ipv4Dst, (0xffff_ffffu128 << (i % 32)) & 0xffff_ffff);
        m.set_exact(fields[(i / 32) % fields.len()]);
        if i + 1 == n {
            c.insert(*pkt_key, m, Arc::from(vec![DpAction::Output(2)]))
                .unwrap();
        } else {
            // 10 non-matching flows per subtable (other in_port).
            for j in 0..10u32 {
                let mut k = *pkt_key;
                k.set_in_port(1000 + j);
                c.insert(k, m, Arc::from(vec![DpAction::Output(3)]))
                    .unwrap();
            }
        }
    }
    c
}

fn bench_caches(c: &mut Criterion) {
    let mut p = Packet::from_slice(&udp64());
    p.in_port = 1;
    let mut key = FlowKey::default();
    extract(&mut p, &mut key);

    let mut g = c.benchmark_group("megaflow_hit");
    g.throughput(Throughput::Elements(1));
    for n in [1usize, 10, 100] {
        let cache = cache_with(n, &key);
        assert_eq!(cache.subtable_count(), n);
        assert!(cache.lookup(&key).is_some());
        g.bench_function(format!("{n}_subtables"), |b| {
            b.iter(|| black_box(cache.lookup_ref(black_box(&key)).is_some()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("emc_hit");
    g.throughput(Throughput::Elements(1));
    let cache = cache_with(1, &key);
    let flow = cache.lookup(&key).unwrap();
    let mut emc = Emc::default();
    emc.insert_always(&key, Emc::hash(&key), &flow);
    g.bench_function("hash_and_lookup", |b| {
        b.iter(|| {
            let k = black_box(&key);
            black_box(emc.lookup(k, Emc::hash(k)).is_some())
        })
    });
    g.finish();
}

struct CountSink(u64);

impl ActionSink for CountSink {
    fn output(&mut self, port: u32, pkt: &Packet) {
        self.0 += u64::from(port) + pkt.len() as u64;
    }
    fn userspace(&mut self, _: &Packet, _: u64, _: u32) {}
    fn meter(&mut self, _: u32, _: &Packet) -> bool {
        true
    }
}

fn bench_execute(c: &mut Criterion) {
    let mut g = c.benchmark_group("execute");
    g.throughput(Throughput::Elements(1));
    let mut p = Packet::from_slice(&udp64());
    let mut key = FlowKey::default();
    extract(&mut p, &mut key);
    let mut sink = CountSink(0);
    let out = [DpAction::Output(2)];
    g.bench_function("output", |b| {
        b.iter(|| execute(black_box(&out), &mut p, &key, &mut sink))
    });
    let rewrite = [
        DpAction::SetMasked(datapath::actions::SetField::exact(
            Field::Ipv4Dst,
            0x0a00_0003,
        )),
        DpAction::SetMasked(datapath::actions::SetField::exact(Field::TpDst, 53)),
        DpAction::Output(2),
    ];
    g.bench_function("set_ipv4_dst_tp_dst_output", |b| {
        b.iter(|| execute(black_box(&rewrite), &mut p, &key, &mut sink))
    });
    g.finish();
    black_box(sink.0);
}

criterion_group!(benches, bench_extract, bench_caches, bench_execute);
criterion_main!(benches);
