//! Double-buffered flow tables: a switch whose tables are published
//! (held by snapshots, as the bridge does at every barrier) must end up
//! with exactly the rules of a switch that never publishes, and every
//! published copy must keep exactly the rules it had when it was taken,
//! whatever the interleaving of flow-mods, expiries, publishes and
//! snapshot drops.

use std::sync::Arc;

use ofproto::flow_table::FlowTable;
use ofproto::switch::{ConnCtx, Switch, SwitchSettings};
use ofproto::wire::action::Action;
use ofproto::wire::consts::{self, OFP_NO_BUFFER};
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::{FlowMod, flow_mod_command as c};
use ofproto::wire::oxm::{BasicField, Match, OxmField};
use ofproto::wire::{Body, Message};
use proptest::prelude::*;

const MASTER: ConnCtx = ConnCtx { is_slave: false };
const N_TABLES: u8 = 3;

#[derive(Clone, Debug)]
enum Op {
    /// A flow-mod: command, table, match choice, priority, out port,
    /// idle timeout (s).
    FlowMod {
        command: u8,
        table: u8,
        m: u8,
        priority: u16,
        out: u32,
        idle: u16,
    },
    /// Expire at this many seconds after the start.
    Expire(u16),
    /// Take a snapshot of every table (a publish).
    Publish,
    /// Drop the oldest snapshot still held.
    DropOldest,
    /// Drop every snapshot.
    DropAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            prop::sample::select(vec![
                c::ADD,
                c::ADD,
                c::ADD,
                c::MODIFY,
                c::MODIFY_STRICT,
                c::DELETE,
                c::DELETE_STRICT
            ]),
            0..N_TABLES,
            0u8..12,
            0u16..3,
            1u32..4,
            prop::sample::select(vec![0u16, 0, 5, 10]),
        )
            .prop_map(|(command, table, m, priority, out, idle)| Op::FlowMod {
                command,
                table,
                m,
                priority,
                out,
                idle
            }),
        1 => (0u16..30).prop_map(Op::Expire),
        3 => Just(Op::Publish),
        2 => Just(Op::DropOldest),
        1 => Just(Op::DropAll),
    ]
}

/// Match number `m`: nothing, an in_port, a UDP port, or both (so that
/// non-strict selections pick several rules).
fn match_of(m: u8) -> Match {
    let mut fields = Vec::new();
    if m % 3 != 0 {
        fields.push(OxmField::exact(BasicField::IN_PORT, u128::from(m % 3)));
    }
    if m >= 3 {
        fields.push(OxmField::exact(BasicField::ETH_TYPE, 0x0800));
        fields.push(OxmField::exact(BasicField::IP_PROTO, 17));
        fields.push(OxmField::exact(BasicField::UDP_DST, u128::from(m / 3)));
    }
    Match { fields }
}

fn apply(sw: &mut Switch, o: &Op) {
    let mut out = Vec::new();
    match *o {
        Op::FlowMod {
            command,
            table,
            m,
            priority,
            out: port,
            idle,
        } => {
            let fm = FlowMod {
                cookie: 0,
                cookie_mask: 0,
                table_id: table,
                command,
                idle_timeout: idle,
                hard_timeout: 0,
                priority,
                buffer_id: OFP_NO_BUFFER,
                out_port: consts::port::ANY,
                out_group: consts::group::ANY,
                flags: 0,
                match_: match_of(m),
                instructions: vec![Instruction::ApplyActions(vec![Action::Output {
                    port,
                    max_len: 0,
                }])],
            };
            let raw = Message::new(1, Body::FlowMod(fm)).to_vec();
            sw.handle(MASTER, &raw, 0, &mut out);
        }
        Op::Expire(s) => sw.expire(u64::from(s) * 1000, &mut out),
        _ => {}
    }
}

/// A table's rules, canonical: (priority, match, instructions), sorted.
fn dump(t: &FlowTable) -> Vec<String> {
    let mut v: Vec<String> = t
        .classifier()
        .iter()
        .map(|r| {
            format!(
                "{} {:?} {:?} idle={}",
                r.priority(),
                r.data.match_,
                r.data.instructions,
                r.data.idle_timeout
            )
        })
        .collect();
    v.sort();
    v
}

fn dump_all(tables: &[Arc<FlowTable>]) -> Vec<Vec<String>> {
    tables.iter().map(|t| dump(t)).collect()
}

/// A held snapshot and what its tables held when it was taken.
type Held = (Vec<Arc<FlowTable>>, Vec<Vec<String>>);

fn settings() -> SwitchSettings {
    SwitchSettings {
        n_tables: N_TABLES,
        ..SwitchSettings::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn published_tables_stay_consistent(ops in prop::collection::vec(op(), 1..120)) {
        let mut published = Switch::new(settings());
        let mut reference = Switch::new(settings());
        // Held snapshots with what they held when taken.
        let mut snaps: Vec<Held> = Vec::new();
        for o in &ops {
            match o {
                Op::Publish => {
                    let tables = published.tables().to_vec();
                    let seen = dump_all(&tables);
                    snaps.push((tables, seen));
                }
                Op::DropOldest => {
                    if !snaps.is_empty() {
                        snaps.remove(0);
                    }
                }
                Op::DropAll => snaps.clear(),
                _ => {
                    apply(&mut published, o);
                    apply(&mut reference, o);
                }
            }
            prop_assert_eq!(dump_all(published.tables()), dump_all(reference.tables()));
            for (tables, seen) in &snaps {
                prop_assert_eq!(&dump_all(tables), seen);
            }
            for (a, b) in published.tables().iter().zip(reference.tables()) {
                prop_assert_eq!(a.len(), b.len());
                prop_assert_eq!(a.next_expiry(), b.next_expiry());
            }
        }
    }
}

/// The point of double buffering: after a publish, the next change does
/// not copy the table (the spare copy is caught up instead), so the
/// published copy and the live one stop sharing nothing but rules.
#[test]
fn publish_then_change_reuses_the_spare_copy() {
    let mut sw = Switch::new(settings());
    let add = |sw: &mut Switch, m: u8| {
        apply(
            sw,
            &Op::FlowMod {
                command: c::ADD,
                table: 0,
                m,
                priority: 1,
                out: 1,
                idle: 0,
            },
        )
    };
    add(&mut sw, 3);
    let first = Arc::clone(&sw.tables()[0]);
    add(&mut sw, 4); // copies once: no spare yet
    let second = Arc::clone(&sw.tables()[0]);
    assert!(!Arc::ptr_eq(&first, &second));
    let first_ptr = Arc::as_ptr(&first);
    drop(first);
    add(&mut sw, 5); // the first copy is free: caught up and reused
    let third = Arc::clone(&sw.tables()[0]);
    assert_eq!(Arc::as_ptr(&third), first_ptr, "the spare copy was reused");
    assert_eq!(third.len(), 3);
    assert_eq!(second.len(), 2);
    drop(second);
    add(&mut sw, 6);
    assert_eq!(sw.tables()[0].len(), 4);
    assert_eq!(third.len(), 3);
}
