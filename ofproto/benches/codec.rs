//! Decode/encode throughput of the OpenFlow codec on two realistic messages:
//! a FLOW_MOD (6-field match, apply_actions with 4 actions) and a PACKET_IN
//! (in_port match, 128-byte frame).  Reported as messages per second.
//!
//! `cargo bench -p ofproto --bench codec -- --warm-up-time 1 --measurement-time 3`

use bytes::BytesMut;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use ofproto::wire::action::Action;
use ofproto::wire::consts::OFP_NO_BUFFER;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{Body, FlowMod, Message, PacketIn};
use ofproto::wire::oxm::{BasicField, Match, OxmField};

fn flow_mod() -> Message {
    let match_ = Match {
        fields: vec![
            OxmField::exact(BasicField::IN_PORT, 1),
            OxmField::exact(BasicField::ETH_TYPE, 0x0800),
            OxmField::masked(BasicField::IPV4_SRC, 0x0a00_0000, 0xff00_0000),
            OxmField::exact(BasicField::IPV4_DST, 0xc0a8_0101),
            OxmField::exact(BasicField::IP_PROTO, 6),
            OxmField::exact(BasicField::TCP_DST, 80),
        ],
    };
    let actions = vec![
        Action::SetField(OxmField::exact(BasicField::ETH_DST, 0x0000_0000_0002)),
        Action::DecNwTtl,
        Action::PushVlan(0x8100),
        Action::Output {
            port: 2,
            max_len: 0,
        },
    ];
    Message::new(
        0x1234,
        Body::FlowMod(FlowMod {
            cookie: 0x42,
            cookie_mask: 0,
            table_id: 0,
            command: 0,
            idle_timeout: 60,
            hard_timeout: 0,
            priority: 1000,
            buffer_id: OFP_NO_BUFFER,
            out_port: 0xffff_ffff,
            out_group: 0xffff_ffff,
            flags: 1,
            match_,
            instructions: vec![Instruction::ApplyActions(actions)],
        }),
    )
}

fn packet_in() -> Message {
    let frame: Vec<u8> = (0..128u32).map(|i| (i * 7) as u8).collect();
    Message::new(
        0,
        Body::PacketIn(PacketIn {
            buffer_id: OFP_NO_BUFFER,
            total_len: 128,
            reason: 0,
            table_id: 0,
            cookie: 0,
            match_: Match {
                fields: vec![OxmField::exact(BasicField::IN_PORT, 3)],
            },
            data: frame,
        }),
    )
}

fn bench(c: &mut Criterion) {
    for (name, msg) in [("flow_mod", flow_mod()), ("packet_in", packet_in())] {
        let mut bytes = BytesMut::new();
        ofproto::wire::encode(&msg, &mut bytes);
        let bytes = bytes.freeze();
        assert_eq!(
            ofproto::wire::decode(&bytes).as_ref(),
            Ok(&msg),
            "{name} must round-trip"
        );

        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        g.bench_function("decode", |b| {
            b.iter(|| ofproto::wire::decode(black_box(&bytes[..])).expect("decodes"))
        });
        let mut out = BytesMut::with_capacity(1024);
        g.bench_function("encode", |b| {
            b.iter(|| {
                out.clear();
                ofproto::wire::encode(black_box(&msg), &mut out);
                black_box(out.len())
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
