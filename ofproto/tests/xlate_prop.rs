//! Property test of wildcard soundness: for random small rule sets and
//! random keys, any key that agrees with `k` on the translation's mask
//! translates to the same actions and packet-ins.

mod xlate_support;

use datapath::flow::{FLOW_WORDS, FlowKey, FlowMask};
use ofproto::normal::PortVlan;
use ofproto::wire::action::Action;
use ofproto::wire::consts::port;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::group_type;
use ofproto::wire::oxm::{BasicField as B, Match, OxmField};
use ofproto::xlate::{Revalidation, XlateCtx, revalidate, translate};
use proptest::prelude::*;
use xlate_support::*;

/// A tiny deterministic generator (the proptest input is the seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }
}

const DSTS: [u128; 3] = [0x0a00_0001, 0x0a00_0002, 0x0a00_0102];
const SRCS: [u32; 3] = [0x0a00_0001, 0x0a00_0002, 0x0b00_0001];

fn rand_match(r: &mut Rng) -> Match {
    let mut f = Vec::new();
    if r.coin() {
        f.push(OxmField::exact(B::IN_PORT, u128::from(r.below(3) + 1)));
    }
    if r.below(4) == 0 {
        f.push(OxmField::exact(
            B::VLAN_VID,
            r.pick(&[0x1005u128, 0x1006, 0]),
        ));
    }
    match r.below(5) {
        0 => {}
        1 => f.push(OxmField::exact(B::ETH_TYPE, 0x0806)),
        2 => {
            f.push(OxmField::exact(B::ETH_TYPE, 0x8847));
            if r.coin() {
                f.push(OxmField::exact(B::MPLS_LABEL, r.pick(&[0u128, 7])));
            }
        }
        _ => {
            f.push(OxmField::exact(B::ETH_TYPE, 0x0800));
            if r.coin() {
                let mask = r.pick(&[0xffff_ffffu128, 0xffff_ff00, 0xffff_0000]);
                f.push(OxmField::masked(B::IPV4_DST, r.pick(&DSTS) & mask, mask));
            }
            if r.coin() {
                f.push(OxmField::exact(B::IP_PROTO, 17));
                if r.coin() {
                    f.push(OxmField::exact(B::UDP_DST, r.pick(&[53u128, 80])));
                }
            }
        }
    }
    if r.below(4) == 0 {
        f.push(OxmField::exact(B::ETH_DST, r.pick(&[2u128, 3])));
    }
    Match { fields: f }
}

fn rand_action(r: &mut Rng) -> Action {
    match r.below(18) {
        13 => Action::PushMpls(0x8847),
        14 => Action::PopMpls(0x0800),
        15 => setf(B::VLAN_VID, r.pick(&[0x1005u128, 0x1006])),
        16 => Action::CopyTtlOut,
        17 => setf(B::MPLS_LABEL, 7),
        0 => out(r.below(4) as u32 + 1),
        1 => out(port::IN_PORT),
        2 => out(port::ALL),
        3 => setf(B::IPV4_DST, r.pick(&DSTS)),
        4 => Action::DecNwTtl,
        5 => Action::Group(1),
        6 => Action::Group(2),
        7 => setf(B::ETH_DST, r.pick(&[2u128, 3])),
        8 => Action::PushVlan(0x8100),
        9 => Action::PopVlan,
        10 => setf(B::UDP_DST, 80),
        11 => out(port::NORMAL),
        _ => Action::Output {
            port: port::CONTROLLER,
            max_len: 64,
        },
    }
}

fn rand_actions(r: &mut Rng) -> Vec<Action> {
    (0..r.below(4)).map(|_| rand_action(r)).collect()
}

fn rand_view(r: &mut Rng) -> View {
    rand_view_with(r, false)
}

/// With `unique_priorities`, no two rules of a table share a priority
/// (OpenFlow leaves the choice between overlapping rules of equal
/// priority open, and a change may flip it).
fn rand_view_with(r: &mut Rng, unique_priorities: bool) -> View {
    let mut v = View::new(2, &[1, 2, 3, 4]);
    if r.coin() {
        v.vlans.insert(4, PortVlan::access(5));
        v.vlans.insert(1, PortVlan::trunk(&[5]));
    }
    if r.coin() {
        v.down.insert(2);
    }
    v.group(
        1,
        group_type::SELECT,
        vec![
            bucket(1, port::ANY, vec![out(2)]),
            bucket(2, port::ANY, vec![out(3)]),
            bucket(1, port::ANY, vec![setf(B::IPV4_SRC, 7), out(4)]),
        ],
    );
    v.group(
        2,
        group_type::FF,
        vec![bucket(0, 2, vec![out(2)]), bucket(0, 3, vec![out(3)])],
    );
    for table in 0..2 {
        for _ in 0..r.below(6) + 1 {
            let mut ins = Vec::new();
            if r.coin() {
                ins.push(Instruction::ApplyActions(rand_actions(r)));
            }
            if r.coin() {
                ins.push(Instruction::WriteActions(rand_actions(r)));
            }
            if r.below(4) == 0 {
                ins.push(Instruction::ClearActions);
            }
            if table == 0 && r.coin() {
                ins.push(Instruction::GotoTable(1));
            }
            let mut prio = r.below(4) as u16 * 10;
            if unique_priorities {
                prio = prio * 10 + v.tables[table].len() as u16;
            }
            v.add_cookie(table, prio, rand_match(r), ins, r.below(3));
        }
    }
    v
}

/// `k` where `wc` has 1 bits, `other` elsewhere: a key the megaflow
/// `(k, wc)` covers.
fn agreeing_on(k: &FlowKey, other: &FlowKey, wc: &FlowMask) -> FlowKey {
    let mut w = [0u64; FLOW_WORDS];
    let (kw, ow, mw) = (k.as_words(), other.as_words(), wc.key.as_words());
    for i in 0..FLOW_WORDS {
        w[i] = (kw[i] & mw[i]) | (ow[i] & !mw[i]);
    }
    FlowKey::from_words(w)
}

fn rand_key(r: &mut Rng) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_in_port(r.below(3) as u32 + 1);
    k.set_eth_src([0, 0, 0, 0, 0, r.pick(&[1u8, 9])]);
    k.set_eth_dst([0, 0, 0, 0, 0, r.pick(&[2u8, 3])]);
    k.set_eth_type(r.pick(&[0x0800, 0x0806, 0x86dd, 0x8847]));
    if k.eth_type() == 0x8847 {
        k.set_mpls_lse(0, r.pick(&[0x100 | 64, (7 << 12) | 0x100 | 5, 7 << 12]));
        k.set_mpls_lse(1, r.pick(&[0, 0x100 | 64]));
    }
    if r.below(4) == 0 {
        k.set_vlan_inner_tci(0x1000 | r.pick(&[5u16, 6]));
        k.set_vlan_inner_tpid(0x8100);
    }
    if r.coin() {
        k.set_vlan_tci(0x1000 | r.pick(&[5u16, 6]));
        k.set_vlan_tpid(0x8100);
    }
    k.set_nw_proto(r.pick(&[6, 17]));
    k.set_nw_ttl(r.pick(&[1, 64]));
    k.set_ipv4_src(r.pick(&SRCS));
    k.set_ipv4_dst(r.pick(&DSTS) as u32);
    k.set_tp_src(r.pick(&[1, 2]));
    k.set_tp_dst(r.pick(&[53, 80, 443]));
    k
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn megaflow_mask_is_sound(seed in 1u64.., inv_ttl in any::<bool>()) {
        let mut r = Rng(seed);
        let v = rand_view(&mut r);
        // NORMAL reads a learning table: pre-learn a few stations (the
        // same table for both translations; no learning during them).
        let ctx = || {
            let mut c = XlateCtx { invalid_ttl_to_controller: inv_ttl, ..Default::default() };
            c.mac.learn([0, 0, 0, 0, 0, 2], 0, 3, 0);
            c.mac.learn([0, 0, 0, 0, 0, 2], 5, 4, 0);
            c.mac.learn([0, 0, 0, 0, 0, 3], 6, 1, 0);
            c
        };
        for _ in 0..8 {
            let k = rand_key(&mut r);
            let res = translate(&v, &k, &mut ctx());
            let (verdict, _) = revalidate(&v, &k, &res.wc, &res.actions, &mut ctx());
            prop_assert_eq!(verdict, Revalidation::Keep, "an unchanged view keeps its megaflows");
            for _ in 0..8 {
                let k2 = agreeing_on(&k, &rand_key(&mut r), &res.wc);
                let res2 = translate(&v, &k2, &mut ctx());
                prop_assert_eq!(&res.actions, &res2.actions,
                    "seed {} key {:?} k2 {:?} wc {:?}", seed, k, k2, res.wc);
                prop_assert_eq!(&res.packet_ins, &res2.packet_ins);
                prop_assert_eq!(res.rules_hit.len(), res2.rules_hit.len());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Targeted revalidation is sound: when `rule_change_matters` says a
    /// rule change cannot touch a megaflow, every key the megaflow covers
    /// translates to the same actions after the change.
    #[test]
    fn unaffected_megaflows_keep_their_actions(seed in 1u64.., remove in any::<bool>()) {
        let mut r = Rng(seed);
        let v = rand_view_with(&mut r, true);
        // The same view again (same seed), then one rule changed in it.
        let mut v2 = rand_view_with(&mut Rng(seed), true);
        let table = r.below(2) as u8;
        let changed = if remove && !v2.tables[usize::from(table)].is_empty() {
            let all: Vec<_> = v2.tables[usize::from(table)].classifier().iter().cloned().collect();
            let victim = all[r.below(all.len() as u64) as usize].clone();
            let sel = ofproto::flow_table::Selector::for_rule(&victim);
            let gone = v2.tables[usize::from(table)].delete(&sel);
            prop_assert_eq!(gone.len(), 1);
            victim
        } else {
            let mut ins = vec![Instruction::ApplyActions(rand_actions(&mut r))];
            if table == 0 && r.coin() {
                ins.push(Instruction::GotoTable(1));
            }
            // Between or above the others, never equal to one.
            let prio = r.below(5) as u16 * 100 + 55;
            let m = rand_match(&mut r);
            v2.add(usize::from(table), prio, m.clone(), ins);
            let (key, mask) = ofproto::match_key::match_to_key(&m).expect("valid match");
            v2.tables[usize::from(table)]
                .classifier()
                .find_exact(&key, &mask, u32::from(prio))
                .cloned()
                .expect("the added rule")
        };
        let ctx = || {
            let mut c = XlateCtx::default();
            c.mac.learn([0, 0, 0, 0, 0, 2], 0, 3, 0);
            c.mac.learn([0, 0, 0, 0, 0, 3], 6, 1, 0);
            c
        };
        for _ in 0..8 {
            let k = rand_key(&mut r);
            let res = translate(&v, &k, &mut ctx());
            let mkey = k.masked(&res.wc);
            let matters = ofproto::xlate::rule_change_matters(
                res.tables_visited.iter().map(|(t, _)| *t),
                res.input_key_tables,
                &mkey,
                &res.wc,
                table,
                &changed,
            );
            if matters {
                continue;
            }
            for _ in 0..8 {
                let k2 = agreeing_on(&k, &rand_key(&mut r), &res.wc);
                let res2 = translate(&v2, &k2, &mut ctx());
                prop_assert_eq!(&res.actions, &res2.actions,
                    "seed {} key {:?} k2 {:?} wc {:?} changed {:?}", seed, k, k2, res.wc, changed);
                prop_assert_eq!(&res.packet_ins, &res2.packet_ins);
            }
        }
    }
}
