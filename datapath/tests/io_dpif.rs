//! The datapath end to end on in-memory ports (unprivileged): PMD thread,
//! upcall + megaflow install, cache hits, flow control operations,
//! packet-out, port removal, software offload completion on egress.

mod netns_common;

use datapath::actions::DpAction;
use datapath::dpif::{Dpif, DpifConfig, DpifError};
use datapath::flow::{Field, FlowKey, FlowMask};
use datapath::packet::{Offload, Packet};
use datapath::pmd::ManualClock;
use datapath::port::offload::{csum_add, csum_fold};
use datapath::port::{MemPort, Port};
use netns_common::crossover::Crossover;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Ethernet/IPv4/UDP frame from 10.0.0.1:sport to 10.0.0.2:9.
fn udp(sport: u16, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; 42];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((28 + len) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    let c = !csum_fold(csum_add(0, &f[14..34]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    f.extend(std::iter::repeat_n(0xab, len));
    f
}

/// Waits (bounded, 5 s) until `port` has `n` frames pending.
fn wait_pending(port: &MemPort, n: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if port.pending() >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

struct Rig {
    dp: Dpif,
    h1: MemPort,
    h2: MemPort,
    clock: Arc<ManualClock>,
}

fn rig(h1_offload: bool) -> Rig {
    let (h1, d1) = MemPort::pair("h1", "d1", 256).unwrap();
    let (h2, d2) = MemPort::pair("h2", "d2", 256).unwrap();
    let h1 = h1.with_offload(h1_offload);
    let clock = Arc::new(ManualClock::default());
    clock.0.store(1000, Ordering::Relaxed);
    let dp = Dpif::with_clock(DpifConfig::default(), Arc::new(Crossover), clock.clone()).unwrap();
    assert_eq!(dp.add_port(Box::new(d1) as Box<dyn Port>, None).unwrap(), 1);
    assert_eq!(dp.add_port(Box::new(d2) as Box<dyn Port>, None).unwrap(), 2);
    Rig { dp, h1, h2, clock }
}

fn in_port_mask() -> FlowMask {
    let mut m = FlowMask::CATCHALL;
    m.set_exact(Field::InPort);
    m
}

#[test]
fn forwards_through_one_megaflow_per_direction() {
    let r = rig(false);
    for i in 0..100u16 {
        assert_eq!(r.h1.send_frame(&udp(1000 + i, 18), Offload::default()), 1);
    }
    assert!(wait_pending(&r.h2, 100), "only {} arrived", r.h2.pending());
    for i in 0..100u16 {
        let (f, _) = r.h2.recv_frame().unwrap();
        assert_eq!(f, udp(1000 + i, 18), "frame {i} changed or reordered");
    }
    r.h2.send_frame(&udp(7, 18), Offload::default());
    assert!(wait_pending(&r.h1, 1));

    // One upcall per direction; the megaflows match in_port only, so all
    // 100 distinct UDP flows shared one.
    let flows = r.dp.flow_dump();
    assert_eq!(flows.len(), 2, "{flows:?}");
    let ps = r.dp.pmd_stats();
    assert_eq!(ps.upcalls, 2, "{ps:?}");
    assert_eq!(ps.upcall_errors, 0);
    let f1 = flows.iter().find(|f| f.key.in_port() == 1).unwrap();
    assert_eq!(f1.mask, in_port_mask());
    assert_eq!(&f1.actions[..], &[DpAction::Output(2)]);
    let st = f1.stats();
    assert_eq!(st.packets, 100);
    assert_eq!(st.bytes, 100 * 60);
    assert_eq!(st.used_ms, 1000, "used time comes from the injected clock");

    let p1 = r.dp.port_stats(1).unwrap();
    let p2 = r.dp.port_stats(2).unwrap();
    assert_eq!((p1.rx_packets, p2.tx_packets), (100, 100));
    assert_eq!((p2.rx_packets, p1.tx_packets), (1, 1));
    let ports = r.dp.list_ports();
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[0].name, "d1");
    assert_eq!(r.dp.port_no("d2"), Some(2));
}

#[test]
fn flow_operations_are_synchronous() {
    let r = rig(false);
    // A flow put by the control side is used without any upcall.
    let mut key = FlowKey::default();
    key.set_in_port(1);
    r.dp.flow_put(
        key,
        in_port_mask(),
        vec![DpAction::Output(2), DpAction::Output(2)],
    )
    .unwrap();
    assert!(r.dp.flow_get(&key, &in_port_mask()).is_some());
    r.h1.send_frame(&udp(1, 18), Offload::default());
    assert!(wait_pending(&r.h2, 2), "both outputs executed");
    assert_eq!(r.dp.pmd_stats().upcalls, 0);

    // Delete: the next packet goes up again (the EMC must not keep the
    // dead flow) and the upcall installs the single-output flow.
    let gone = r.dp.flow_del(&key, &in_port_mask()).expect("deleted");
    assert_eq!(gone.stats().packets, 1);
    r.clock.0.store(2000, Ordering::Relaxed);
    r.h1.send_frame(&udp(1, 18), Offload::default());
    assert!(wait_pending(&r.h2, 3));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(r.h2.pending(), 3, "deleted flow still executed");
    assert_eq!(r.dp.pmd_stats().upcalls, 1);
    assert_eq!(r.dp.flow_count(), 1);

    // Flush empties the cache; traffic re-installs.
    r.dp.flow_flush();
    assert_eq!(r.dp.flow_count(), 0);
    r.h1.send_frame(&udp(1, 18), Offload::default());
    assert!(wait_pending(&r.h2, 4));
    assert_eq!(r.dp.pmd_stats().upcalls, 2);
}

#[test]
fn packet_out_and_port_removal() {
    let r = rig(false);
    r.dp.execute(Packet::from_slice(&udp(5, 10)), 1, &[DpAction::Output(2)]);
    assert_eq!(r.h2.pending(), 1, "packet-out is sent synchronously");
    assert_eq!(r.h2.recv_frame().unwrap().0, udp(5, 10));

    r.dp.remove_port(2).unwrap();
    assert!(matches!(r.dp.remove_port(2), Err(DpifError::NoSuchPort(2))));
    assert_eq!(r.dp.list_ports().len(), 1);
    r.h1.send_frame(&udp(6, 10), Offload::default());
    let deadline = Instant::now() + Duration::from_secs(5);
    while r.dp.pmd_stats().no_port_drops == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(r.dp.pmd_stats().no_port_drops, 1);
    assert_eq!(r.h2.pending(), 0);

    // Numbers and names are unique.
    let (_x, d3) = MemPort::pair("x", "d1", 4).unwrap();
    assert!(matches!(
        r.dp.add_port(Box::new(d3) as Box<dyn Port>, None),
        Err(DpifError::PortExists(_))
    ));
    let (_y, d4) = MemPort::pair("y", "d4", 4).unwrap();
    assert!(matches!(
        r.dp.add_port(Box::new(d4) as Box<dyn Port>, Some(1)),
        Err(DpifError::PortNumberInUse(1))
    ));
}

/// TCPv4 frame with a partial checksum, `payload` bytes.
fn tcp4_partial(payload: usize) -> Vec<u8> {
    let mut f = vec![0u8; 54];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    let c = !csum_fold(csum_add(0, &f[14..34]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[46] = 5 << 4;
    f[47] = 0x10;
    f.extend((0..payload).map(|i| i as u8));
    let mut acc = csum_add(0, &f[26..34]);
    acc += 6 + (20 + payload) as u64;
    f[50..52].copy_from_slice(&csum_fold(acc).to_be_bytes());
    f
}

#[test]
fn gso_frame_to_a_port_without_vnet_is_segmented() {
    // h1's side carries offload metadata into the datapath (like a veth
    // host with TSO on); d2 cannot take it, so the datapath segments.
    let r = rig(true);
    let off = Offload {
        flags: Offload::F_NEEDS_CSUM,
        gso_type: 1,
        hdr_len: 54,
        gso_size: 1000,
        csum_start: 34,
        csum_offset: 16,
    };
    assert_eq!(r.h1.send_frame(&tcp4_partial(4500), off), 1);
    assert!(wait_pending(&r.h2, 5), "got {}", r.h2.pending());
    let mut total = 0;
    while let Some((f, o)) = r.h2.recv_frame() {
        assert_eq!(o, Offload::default());
        assert!(f.len() <= 54 + 1000);
        let l4 = &f[34..];
        let mut acc = csum_add(0, &f[26..34]);
        acc += 6 + l4.len() as u64;
        assert_eq!(csum_fold(csum_add(acc, l4)), 0xffff, "bad TCP checksum");
        total += f.len() - 54;
    }
    assert_eq!(total, 4500);
}

#[test]
fn two_pmd_threads_forward_across_threads() {
    let (h1, d1) = MemPort::pair("h1", "d1", 256).unwrap();
    let (h2, d2) = MemPort::pair("h2", "d2", 256).unwrap();
    let cfg = DpifConfig {
        pmd_threads: 2,
        ..DpifConfig::default()
    };
    let dp = Dpif::new(cfg, Arc::new(Crossover)).unwrap();
    dp.add_port(Box::new(d1) as Box<dyn Port>, None).unwrap();
    dp.add_port(Box::new(d2) as Box<dyn Port>, None).unwrap();
    // Each port's receive half went to a different thread; both transmit.
    for i in 0..50u16 {
        h1.send_frame(&udp(i, 18), Offload::default());
        h2.send_frame(&udp(i, 18), Offload::default());
    }
    assert!(wait_pending(&h2, 50) && wait_pending(&h1, 50));
    assert_eq!(dp.flow_count(), 2);
    let ps = dp.pmd_stats();
    assert_eq!(ps.upcalls, 2, "{ps:?}");
}

/// Records userspace and meter call-backs; meter 7 drops everything.
#[derive(Default)]
struct Recorder {
    seen: std::sync::Mutex<Vec<(u64, u32, usize)>>,
}

impl datapath::upcall::Upcall for Recorder {
    fn upcall(
        &self,
        _pkt: &Packet,
        _key: &FlowKey,
        out: &mut datapath::upcall::UpcallResult,
    ) -> Result<(), datapath::upcall::UpcallError> {
        // Controller flow: send up, install so later packets hit the cache.
        out.actions.push(DpAction::Userspace {
            cookie: 42,
            max_len: 0,
        });
        out.mask = in_port_mask();
        out.install = true;
        Ok(())
    }
    fn userspace(&self, pkt: &Packet, cookie: u64, max_len: u32) {
        self.seen.lock().unwrap().push((cookie, max_len, pkt.len()));
    }
    fn meter(&self, meter: u32, _pkt: &Packet, _now: u64) -> bool {
        meter != 7
    }
}

#[test]
fn userspace_and_meter_actions_reach_the_slow_path() {
    let (h1, d1) = MemPort::pair("h1", "d1", 64).unwrap();
    let (h2, d2) = MemPort::pair("h2", "d2", 64).unwrap();
    let rec = Arc::new(Recorder::default());
    let dp = Dpif::new(DpifConfig::default(), rec.clone()).unwrap();
    dp.add_port(Box::new(d1) as Box<dyn Port>, None).unwrap();
    dp.add_port(Box::new(d2) as Box<dyn Port>, None).unwrap();
    for i in 0..3u16 {
        h1.send_frame(&udp(i, 18), Offload::default());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while rec.seen.lock().unwrap().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(*rec.seen.lock().unwrap(), vec![(42, 0, 60); 3]);
    assert_eq!(dp.pmd_stats().upcalls, 1);

    // Packet-out through a meter: meter 7 drops, meter 1 passes.
    let pkt = Packet::from_slice(&udp(9, 10));
    dp.execute(pkt.clone(), 1, &[DpAction::Meter(7), DpAction::Output(2)]);
    assert_eq!(h2.pending(), 0);
    dp.execute(pkt, 1, &[DpAction::Meter(1), DpAction::Output(2)]);
    assert_eq!(h2.pending(), 1);
}

#[test]
fn control_handle_is_shareable_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Dpif>();
    shareable::<Arc<dyn datapath::port::PortTx>>();
}
