//! NORMAL through the bridge: learning decisions cached as megaflows and
//! revalidated when the learning table changes (a MAC moving ports), and
//! fail-open.

mod bridge_support;

use bridge_support::*;
use ofproto::service::OpenFlowSwitch;
use ofproto::wire::consts;

fn normal_switch() -> Harness {
    let mut h = harness(3);
    h.flow(fm(
        0,
        0,
        m(&[]),
        vec![apply(vec![out(consts::port::NORMAL)])],
    ));
    h.barrier();
    h
}

#[test]
fn normal_megaflows_follow_learning_and_mac_moves() {
    let mut h = normal_switch();
    let a_to_b = udp(mac(0xa), mac(0xb), 1, 2, 80);
    let b_to_a = udp(mac(0xb), mac(0xa), 2, 1, 80);
    // b unknown: flooded to 2 and 3.
    h.tx(1, &a_to_b);
    assert_eq!(h.rx_wait(2, 1).len(), 1);
    assert_eq!(h.rx_wait(3, 1).len(), 1);
    // b answers from 2: a was learned on 1, unicast.
    h.tx(2, &b_to_a);
    assert_eq!(h.rx_wait(1, 1).len(), 1);
    assert!(h.rx(3).is_empty());
    // The learning table moved: the flooding megaflow for a->b is
    // revalidated (run() is due: the upcall woke the bridge).
    let _ = h.run();
    for _ in 0..3 {
        h.tx(1, &a_to_b);
    }
    assert_eq!(h.rx_wait(2, 3).len(), 3);
    assert!(
        h.rx(3).is_empty(),
        "a->b no longer flooded after learning b"
    );
    let upcalls = h.br.dpif().pmd_stats().upcalls;
    // Cached: more of the same traffic takes no upcall.
    for _ in 0..5 {
        h.tx(2, &b_to_a);
        h.tx(1, &a_to_b);
    }
    assert_eq!(
        h.br.dpif().pmd_stats().upcalls,
        upcalls,
        "NORMAL decisions cached"
    );
    assert_eq!(h.rx_wait(1, 5).len(), 5);
    assert_eq!(h.rx_wait(2, 5).len(), 5);

    // a moves to port 3.
    h.tx(3, &a_to_b);
    assert_eq!(h.rx_wait(2, 1).len(), 1);
    let _ = h.run();
    h.tx(2, &b_to_a);
    assert_eq!(h.rx_wait(3, 1).len(), 1, "b->a follows a to port 3");
    assert!(h.rx(1).is_empty(), "the old megaflow to port 1 is gone");
    // The megaflows agree with the learning table.
    let learned =
        h.br.with_xlate_ctx(|c| c.mac.lookup(mac(0xa), 0, c.now_ms))
            .flatten();
    assert_eq!(learned, Some(3));
    h.br.shutdown();
}

#[test]
fn fail_open_forwards_as_normal_whatever_the_tables_say() {
    let mut h = harness(3);
    let f = udp(mac(1), mac(2), 1, 2, 80);
    // No flows: dropped.
    h.tx(1, &f);
    assert!(h.rx(2).is_empty() && h.rx(3).is_empty());
    assert_eq!(h.br.dpif().flow_count(), 1, "the drop is cached");
    h.br.set_fail_open(true);
    assert!(h.br.is_fail_open());
    h.tx(1, &f);
    assert_eq!(h.rx_wait(2, 1).len(), 1, "flooded by NORMAL");
    assert_eq!(h.rx_wait(3, 1).len(), 1);
    h.br.set_fail_open(false);
    h.tx(1, &f);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(h.rx(2).is_empty() && h.rx(3).is_empty(), "tables again");
    // The snapshot says so too.
    h.br.set_fail_open(true);
    assert!(h.br.snapshot().is_fail_open());
    h.br.shutdown();
}
