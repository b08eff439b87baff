//! Barrier semantics under concurrent traffic: while a sender thread keeps
//! the datapath busy with upcalls (many destination ports, one megaflow
//! each), the rules are changed again and again; every packet sent after a
//! BARRIER_REPLY must be forwarded by the rules of that barrier or later
//! ones, never older (revalidation plus the datapath's epoch check).

mod bridge_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bridge_support::*;
use datapath::packet::Offload;
use ofproto::wire::message::flow_mod_command;
use ofproto::wire::oxm::BasicField as B;

const ROUNDS: u32 = 6;

#[test]
fn no_packet_after_a_barrier_reply_uses_older_rules() {
    // Port 1 sends; round i forwards to port 2 + i.
    let mut h = harness(2 + ROUNDS);
    let rules = |h: &mut Harness, port: u32, command: u8| {
        let mut wide = fm(
            0,
            10,
            m(&[(B::IN_PORT, 1), (B::ETH_TYPE, 0x0800), (B::IP_PROTO, 17)]),
            vec![apply(vec![out(port)])],
        );
        wide.command = command;
        h.flow(wide);
        // A narrower rule makes every megaflow exact on tp_dst: each new
        // destination port is an upcall.
        let mut narrow = fm(
            0,
            20,
            m(&[
                (B::IN_PORT, 1),
                (B::ETH_TYPE, 0x0800),
                (B::IP_PROTO, 17),
                (B::UDP_DST, 7),
            ]),
            vec![apply(vec![out(port)])],
        );
        narrow.command = command;
        h.flow(narrow);
    };
    rules(&mut h, 2, flow_mod_command::ADD);
    h.barrier();

    let seq = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let host = h.hosts.remove(0);
        let seq = seq.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let s = seq.fetch_add(1, Ordering::SeqCst) + 1;
                // The sequence number travels as the IPv4 source.
                let f = udp(mac(1), mac(2), s, 2, (s % 4000 + 100) as u16);
                while host.send_frame(&f, Offload::default()) == 0 {
                    if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                        return host;
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            host
        })
    };
    // After barrier i, remember the last sequence number handed out.
    let mut marks = Vec::new();
    for i in 1..ROUNDS {
        std::thread::sleep(Duration::from_millis(30));
        rules(&mut h, 2 + i, flow_mod_command::MODIFY_STRICT);
        h.barrier();
        marks.push((seq.load(Ordering::SeqCst), 2 + i));
        let _ = h.run();
    }
    std::thread::sleep(Duration::from_millis(30));
    stop.store(true, Ordering::Relaxed);
    let host = sender.join().expect("sender");
    h.hosts.insert(0, host);
    let sent = u64::from(seq.load(Ordering::SeqCst));
    let dp = h.br.dpif().clone();
    // Everything sent was processed (the last fetch_add may not have been
    // sent: stop can win the race).
    assert!(wait(|| {
        let s = dp.pmd_stats();
        s.emc_hits + s.megaflow_hits + s.upcalls + 1 >= sent
    }));
    std::thread::sleep(Duration::from_millis(50));
    let mut checked = 0;
    let upcalls = dp.pmd_stats().upcalls;
    for port in 2..2 + ROUNDS {
        for f in h.rx(port) {
            let s = u32::from_be_bytes([f[26], f[27], f[28], f[29]]);
            // The newest barrier before this packet was sent.
            if let Some(&(_, min_port)) = marks.iter().rev().find(|(mark, _)| s > *mark) {
                assert!(
                    port >= min_port,
                    "packet {s} sent after the barrier for port {min_port} went to port {port}"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 100,
        "too little traffic after barriers: {checked}"
    );
    assert!(upcalls > 100, "upcalls ran concurrently: {upcalls}");
    h.br.shutdown();
}
