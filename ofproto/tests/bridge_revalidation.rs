//! Targeted revalidation and idle megaflows: after a barrier that follows
//! rule changes only, the bridge re-translates just the megaflows a
//! changed rule can touch, yet no packet after the barrier sees an old
//! decision (also when an earlier table rewrote the key the changed table
//! matches on); megaflows that carry nothing are deleted after `max-idle`.

mod bridge_support;

use bridge_support::*;
use ofproto::wire::action::Action;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::oxm::BasicField as B;
use ofproto::wire::oxm::OxmField;

fn udp_m(dport: u16) -> Vec<(B, u128)> {
    vec![
        (B::ETH_TYPE, 0x0800),
        (B::IP_PROTO, 17),
        (B::UDP_DST, u128::from(dport)),
    ]
}

/// A bridge with rules `in_port=1,udp,tp_dst=1..20 -> output:2`, one
/// packet through each (20 megaflows), and a statistics pass that took
/// note of them (so barriers judge them by their translations).
fn twenty_megaflows() -> Harness {
    let mut h = harness(3);
    for d in 1..=20u16 {
        let mut f = vec![(B::IN_PORT, 1)];
        f.extend(udp_m(d));
        h.flow(fm(0, 100, m(&f), vec![apply(vec![out(2)])]));
    }
    h.barrier();
    for d in 1..=20u16 {
        h.tx(1, &udp(mac(1), mac(2), 1, 2, d));
    }
    assert_eq!(h.rx_wait(2, 20).len(), 20);
    h.advance(600);
    let _ = h.run();
    h
}

#[test]
fn unrelated_rule_changes_leave_megaflows_alone_related_ones_fix_them() {
    let mut h = twenty_megaflows();
    let before = h.br.dpif().flow_dump();
    assert_eq!(before.len(), 20, "one megaflow per port");
    let upcalls = h.br.dpif().pmd_stats().upcalls;

    // Rules no cached packet can match: on another in_port, and on a UDP
    // port nobody sent to.  Every megaflow stays as it was.
    let mut f = vec![(B::IN_PORT, 3)];
    f.extend(udp_m(5));
    h.flow(fm(0, 200, m(&f), vec![apply(vec![out(1)])]));
    let mut f = vec![(B::IN_PORT, 1)];
    f.extend(udp_m(999));
    h.flow(fm(0, 200, m(&f), vec![apply(vec![out(3)])]));
    h.barrier();
    let after = h.br.dpif().flow_dump();
    assert_eq!(after.len(), 20);
    for a in &after {
        let b = before
            .iter()
            .find(|b| b.ufid == a.ufid)
            .expect("same megaflow");
        assert_eq!(a.actions, b.actions);
    }

    // A rule that overlaps one megaflow (port 7): that one, and only that
    // one, changes before the barrier reply.
    let mut f = vec![(B::IN_PORT, 1)];
    f.extend(udp_m(7));
    h.flow(fm(0, 200, m(&f), vec![apply(vec![out(3)])]));
    h.barrier();
    h.tx(1, &udp(mac(1), mac(2), 1, 2, 7));
    h.tx(1, &udp(mac(1), mac(2), 1, 2, 8));
    assert_eq!(h.rx_wait(3, 1).len(), 1, "port 7 follows the new rule");
    assert_eq!(h.rx_wait(2, 1).len(), 1, "port 8 keeps its rule");
    let changed =
        h.br.dpif()
            .flow_dump()
            .iter()
            .filter(|a| {
                before
                    .iter()
                    .find(|b| b.ufid == a.ufid)
                    .is_none_or(|b| b.actions != a.actions)
            })
            .count();
    assert_eq!(changed, 1);
    assert_eq!(
        h.br.dpif().pmd_stats().upcalls,
        upcalls,
        "fixed in place, no new upcall"
    );

    // A catch-all at a higher priority overlaps everything.
    h.flow(fm(0, 300, m(&[]), vec![apply(vec![out(3)])]));
    h.barrier();
    for d in 1..=20u16 {
        h.tx(1, &udp(mac(1), mac(2), 1, 2, d));
    }
    assert_eq!(h.rx_wait(3, 20).len(), 20);
    assert!(h.rx(2).is_empty());
    h.br.shutdown();
}

#[test]
fn a_change_after_a_key_rewrite_is_caught() {
    let mut h = harness(3);
    // Table 0 rewrites the UDP port, table 1 decides on the new value.
    h.flow(fm(
        0,
        10,
        m(&[(B::IN_PORT, 1), (B::ETH_TYPE, 0x0800), (B::IP_PROTO, 17)]),
        vec![
            apply(vec![Action::SetField(OxmField::exact(B::UDP_DST, 53))]),
            Instruction::GotoTable(1),
        ],
    ));
    h.flow(fm(1, 10, m(&udp_m(53)), vec![apply(vec![out(2)])]));
    h.barrier();
    let frame = udp(mac(1), mac(2), 1, 2, 80);
    h.tx(1, &frame);
    assert_eq!(h.rx_wait(2, 1).len(), 1);
    // Let the bridge's statistics pass take note of the megaflow (so the
    // next barrier judges it by its translation, not as new).
    h.advance(600);
    let _ = h.run();
    // The packet's own port (80) does not overlap the new rule (53), but
    // the packet reaches table 1 with port 53: the megaflow must change.
    h.flow(fm(1, 20, m(&udp_m(53)), vec![apply(vec![out(3)])]));
    h.barrier();
    h.tx(1, &frame);
    assert_eq!(h.rx_wait(3, 1).len(), 1, "the new rule in table 1 applies");
    assert!(h.rx(2).is_empty());
    h.br.shutdown();
}

#[test]
fn idle_megaflows_expire_busy_ones_stay() {
    let mut h = harness_with(3, |o| o.max_idle_ms = 2_000);
    h.flow(fm(0, 10, m(&[(B::IN_PORT, 1)]), vec![apply(vec![out(2)])]));
    h.flow(fm(0, 10, m(&[(B::IN_PORT, 2)]), vec![apply(vec![out(1)])]));
    h.barrier();
    h.tx(1, &udp(mac(1), mac(2), 1, 2, 80));
    h.tx(2, &udp(mac(2), mac(1), 2, 1, 80));
    assert_eq!(h.br.dpif().flow_count(), 2);
    // Port 1 keeps sending, port 2 stops.
    for _ in 0..6 {
        h.advance(500);
        h.tx(1, &udp(mac(1), mac(2), 1, 2, 80));
        let _ = h.run();
    }
    let flows = h.br.dpif().flow_dump();
    assert_eq!(flows.len(), 1, "the idle megaflow went");
    assert_eq!(flows[0].key.in_port(), h.br.dp_port_no(1).expect("port 1"));
    // Its packets were credited to the rule before it went.
    assert_eq!(h.rx_wait(1, 1).len(), 1);
    h.br.shutdown();
}

/// A run of flow-mod + barrier pairs, each changing one cached decision,
/// with new megaflows appearing between them: every barrier must leave
/// every megaflow right (the targeted pass keeps its dump of the megaflows
/// between barriers and patches it; new megaflows must not slip past it).
#[test]
fn a_run_of_barriers_keeps_every_megaflow_right() {
    let mut h = twenty_megaflows();
    for d in 1..=20u16 {
        // Move port d to output 3; a new, unmatched port 100+d appears
        // (a drop megaflow installed after the previous barrier).
        let mut f = vec![(B::IN_PORT, 1)];
        f.extend(udp_m(d));
        h.flow(fm(0, 200, m(&f), vec![apply(vec![out(3)])]));
        if d > 1 {
            // The port that appeared last round now gets a rule.
            let mut f = vec![(B::IN_PORT, 1)];
            f.extend(udp_m(99 + d));
            h.flow(fm(0, 100, m(&f), vec![apply(vec![out(2)])]));
        }
        h.barrier();
        h.tx(1, &udp(mac(1), mac(2), 1, 2, d));
        assert_eq!(h.rx_wait(3, 1).len(), 1, "port {d} follows its new rule");
        if d < 20 {
            h.tx(1, &udp(mac(1), mac(2), 1, 2, d + 1));
            assert_eq!(h.rx_wait(2, 1).len(), 1, "port {} keeps its rule", d + 1);
        }
        if d > 1 {
            h.tx(1, &udp(mac(1), mac(2), 1, 2, 99 + d));
            assert_eq!(h.rx_wait(2, 1).len(), 1, "port {} got its new rule", 99 + d);
        }
        h.tx(1, &udp(mac(1), mac(2), 1, 2, 100 + d));
        assert!(
            h.rx(2).is_empty() && h.rx(3).is_empty(),
            "no rule for {}",
            100 + d
        );
    }
    h.br.shutdown();
}
