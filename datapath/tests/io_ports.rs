//! Port I/O: the in-memory pair (unprivileged) and, as root in private
//! namespaces, `system` (AF_PACKET) and `tap` ports against real devices.

mod netns_common;

use datapath::packet::{Offload, Packet};
use datapath::port::offload::{csum_add, csum_fold};
use datapath::port::{MemPort, Port, SystemPort, SystemPortOptions, TapPort};
use datapath::sys::{TapOptions, poll_fds};
use netns_common::{Netns, in_netns, prefix, system_tests_enabled};
use std::time::{Duration, Instant};

/// Ethernet/IPv4/TCP frame with `payload`; the TCP checksum field holds the
/// pseudo-header sum as the kernel leaves it for CHECKSUM_PARTIAL.
fn tcp4_partial(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 54];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    let tot = (40 + payload.len()) as u16;
    f[16..18].copy_from_slice(&tot.to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    let c = !csum_fold(csum_add(0, &f[14..34]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&40000u16.to_be_bytes());
    f[36..38].copy_from_slice(&5201u16.to_be_bytes());
    f[38..42].copy_from_slice(&7u32.to_be_bytes());
    f[46] = 5 << 4;
    f[47] = 0x18;
    f.extend_from_slice(payload);
    let mut acc = csum_add(0, &f[26..34]);
    acc += 6 + (20 + payload.len()) as u64;
    let pseudo = csum_fold(acc);
    f[50..52].copy_from_slice(&pseudo.to_be_bytes());
    f
}

fn tcp4_checksum_ok(f: &[u8]) -> bool {
    let tot = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let l4 = &f[34..14 + tot];
    let mut acc = csum_add(0, &f[26..34]);
    acc += 6 + l4.len() as u64;
    csum_fold(csum_add(acc, l4)) == 0xffff
}

fn batch() -> Vec<Packet> {
    (0..32).map(|_| Packet::new(65600)).collect()
}

#[test]
fn mem_pair_delivers_and_counts() {
    let (mut a, mut b) = MemPort::pair("a", "b", 16).unwrap();
    let frames: Vec<Packet> = (0..3u8).map(|i| Packet::from_slice(&[i; 60])).collect();
    assert_eq!(a.tx(&frames), 3);
    let mut bt = batch();
    assert_eq!(b.rx(&mut bt).unwrap(), 3);
    for (i, p) in bt.iter().take(3).enumerate() {
        assert_eq!(p.data(), &[i as u8; 60][..]);
    }
    assert_eq!(b.rx(&mut bt).unwrap(), 0);
    let sa = a.counters().snapshot();
    let sb = b.counters().snapshot();
    assert_eq!((sa.tx_packets, sa.tx_bytes), (3, 180));
    assert_eq!((sb.rx_packets, sb.rx_bytes), (3, 180));
}

#[test]
fn mem_queue_is_bounded() {
    let (mut a, b) = MemPort::pair("a", "b", 4).unwrap();
    let frames: Vec<Packet> = (0..10u8).map(|i| Packet::from_slice(&[i; 60])).collect();
    assert_eq!(a.tx(&frames), 4);
    assert_eq!(a.counters().snapshot().tx_dropped, 6);
    assert_eq!(b.pending(), 4);
}

#[test]
fn mem_rx_readiness_follows_queue() {
    let (mut a, b) = MemPort::pair("a", "b", 64).unwrap();
    let parts = Box::new(b).into_parts();
    let mut rx = parts.rx;
    let fd = rx.poll_fd().unwrap();
    let mut ready = [false];
    assert_eq!(poll_fds(&[fd], &mut ready, Duration::ZERO).unwrap(), 0);
    let frames: Vec<Packet> = (0..40u8).map(|i| Packet::from_slice(&[i; 60])).collect();
    a.tx(&frames);
    assert_eq!(poll_fds(&[fd], &mut ready, Duration::ZERO).unwrap(), 1);
    let mut bt = batch();
    assert_eq!(rx.rx(&mut bt).unwrap(), 32);
    // 8 left: still readable.
    assert_eq!(poll_fds(&[fd], &mut ready, Duration::ZERO).unwrap(), 1);
    assert_eq!(rx.rx(&mut bt).unwrap(), 8);
    assert_eq!(rx.rx(&mut bt).unwrap(), 0);
    assert_eq!(poll_fds(&[fd], &mut ready, Duration::ZERO).unwrap(), 0);
}

#[test]
fn port_without_vnet_segments_gso_and_finishes_checksums() {
    let payload: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
    let frame = tcp4_partial(&payload);
    let off = Offload {
        flags: Offload::F_NEEDS_CSUM,
        gso_type: 1,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    let (a, mut b) = MemPort::pair("a", "b", 64).unwrap();
    assert_eq!(a.send_frame(&frame, off), 3);
    let mut bt = batch();
    assert_eq!(b.rx(&mut bt).unwrap(), 3);
    let mut got = Vec::new();
    for p in &bt[..3] {
        assert!(p.len() <= 54 + 1448);
        assert!(tcp4_checksum_ok(p.data()));
        assert_eq!(p.offload, Offload::default());
        got.extend_from_slice(&p.data()[54..]);
    }
    assert_eq!(got, payload);

    // Checksum-partial without GSO: completed, one frame.
    let small = tcp4_partial(b"0123456789");
    let off1 = Offload {
        flags: Offload::F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 16,
        ..Offload::default()
    };
    assert!(!tcp4_checksum_ok(&small));
    assert_eq!(a.send_frame(&small, off1), 1);
    assert_eq!(b.rx(&mut bt).unwrap(), 1);
    assert!(tcp4_checksum_ok(bt[0].data()));
}

#[test]
fn vnet_capable_port_passes_offload_through() {
    let (a, mut b) = MemPort::pair("a", "b", 64).unwrap();
    let a = a.with_offload(true);
    let frame = tcp4_partial(&[1u8; 3000]);
    let off = Offload {
        flags: Offload::F_NEEDS_CSUM,
        gso_type: 1,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    assert_eq!(a.send_frame(&frame, off), 1);
    let mut bt = batch();
    assert_eq!(b.rx(&mut bt).unwrap(), 1);
    assert_eq!(bt[0].data(), &frame[..]);
    assert_eq!(bt[0].offload, off);
}

#[test]
fn bad_gso_frame_is_a_tx_error_not_a_panic() {
    let (a, b) = MemPort::pair("a", "b", 64).unwrap();
    let off = Offload {
        flags: Offload::F_NEEDS_CSUM,
        gso_type: 1,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    assert_eq!(a.send_frame(&[0u8; 20], off), 0);
    assert_eq!(a.counters().snapshot().tx_errors, 1);
    assert_eq!(b.pending(), 0);
}

/// Waits (bounded) for frames on `port` and returns the first.
fn recv_one(port: &mut dyn Port, fd: i32, bt: &mut [Packet]) -> Option<Packet> {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let mut ready = [false];
        let _ = poll_fds(&[fd], &mut ready, Duration::from_millis(100));
        if port.rx(bt).unwrap() > 0 {
            return Some(bt[0].clone());
        }
    }
    None
}

#[test]
fn system_port_ring_mode_restores_vlan_tags_and_carries_vnet_headers() {
    check_system_port("r", SystemPortOptions::default());
}

#[test]
fn system_port_recvmmsg_mode_restores_vlan_tags_and_carries_vnet_headers() {
    let mut o = SystemPortOptions::default();
    o.socket.ring_frames = 0;
    check_system_port("m", o);
}

/// A veth pair va/vb (MTU 9000) in a private namespace, a system port on
/// each end; frames sent on va must arrive on vb byte for byte with their
/// VLAN tag and virtio-net metadata.  With the default 2 KiB ring slots the
/// jumbo and GSO frames take the ring's copy path.
fn check_system_port(tag: &str, opts: SystemPortOptions) {
    if !system_tests_enabled("system_port_restores_vlan_tags", &["ip"]) {
        return;
    }
    let ns = Netns::new(&format!("{}-io", prefix(tag)));
    ns.exec(&[
        "ip", "link", "add", "va", "mtu", "9000", "type", "veth", "peer", "name", "vb", "mtu",
        "9000",
    ]);
    ns.exec(&["ip", "link", "set", "va", "up"]);
    ns.exec(&["ip", "link", "set", "vb", "up"]);
    let name = ns.name.clone();
    let (mut a, mut b) = in_netns(&name, move || {
        (
            SystemPort::open("va", &opts).unwrap(),
            SystemPort::open("vb", &opts).unwrap(),
        )
    });
    let fd_b = b.poll_fd().unwrap();
    let mut bt = batch();

    // 802.1Q-tagged frames: the kernel strips the tag on receive; the port
    // must put it back so the flow key sees it.  Small (ring slot) and
    // jumbo (copy path) sizes.
    for len in [50usize, 7000] {
        let mut tagged = vec![0xffu8; 6];
        tagged.extend_from_slice(&[0x02, 0, 0, 0, 0, 9]);
        tagged.extend_from_slice(&[0x81, 0x00, 0x20, 0x64]); // PCP 1, VID 100
        tagged.extend_from_slice(&[0x88, 0xb5]); // local experimental ethertype
        tagged.extend((0..len).map(|i| i as u8));
        assert_eq!(a.tx(&[Packet::from_slice(&tagged)]), 1);
        let got = recv_one(&mut b, fd_b, &mut bt).expect("tagged frame received");
        assert_eq!(got.data(), &tagged[..], "tagged frame of {len} bytes");
    }

    // Checksum-partial TCP frame with a virtio header: arrives with the
    // header intact (the kernel never finished the checksum in between).
    let frame = tcp4_partial(b"partial checksum payload");
    let off = Offload {
        flags: Offload::F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 16,
        ..Offload::default()
    };
    let mut p = Packet::from_slice(&frame);
    p.offload = off;
    assert_eq!(a.tx(&[p]), 1);
    let got = recv_one(&mut b, fd_b, &mut bt).expect("tcp frame received");
    assert_eq!(got.data(), &frame[..]);
    assert!(
        got.offload.csum_partial(),
        "offload lost: {:?}",
        got.offload
    );
    assert_eq!(got.offload.csum_start, 34);
    assert_eq!(got.offload.csum_offset, 16);

    // A 20 KB TSO frame crosses the veth as one GSO frame and keeps its
    // segmentation request.
    let big = tcp4_partial(&vec![7u8; 20000]);
    let gso = Offload {
        gso_type: 1,
        gso_size: 1448,
        hdr_len: 54,
        ..off
    };
    let mut p = Packet::from_slice(&big);
    p.offload = gso;
    assert_eq!(a.tx(&[p]), 1);
    let got = recv_one(&mut b, fd_b, &mut bt).expect("gso frame received");
    assert_eq!(got.len(), big.len());
    assert_eq!(got.data(), &big[..]);
    assert_eq!(got.offload.gso_type & 0x7f, 1, "{:?}", got.offload);
    assert_eq!(got.offload.gso_size, 1448);
    let st = a.counters().snapshot();
    assert_eq!((st.tx_packets, st.tx_errors), (4, 0));
    let sb = b.counters().snapshot();
    assert!(sb.rx_packets >= 4 && sb.rx_errors == 0, "{sb:?}");
}

#[test]
fn tap_port_exchanges_frames_with_the_host_stack() {
    if !system_tests_enabled("tap_port_exchanges_frames", &["ip"]) {
        return;
    }
    let ns = Netns::new(&format!("{}-io", prefix("t")));
    let name = ns.name.clone();
    let mut tap = in_netns(&name, || {
        TapPort::open("rvstap0", &TapOptions::default()).unwrap()
    });
    ns.exec(&["ip", "addr", "add", "10.80.0.1/24", "dev", "rvstap0"]);
    ns.exec(&["ip", "link", "set", "rvstap0", "up"]);
    // ARP request "who has 10.80.0.1, tell 10.80.0.2" from our MAC.
    let me = [0x02, 0x00, 0x00, 0x00, 0x00, 0x42];
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&me);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&me);
    arp.extend_from_slice(&[10, 80, 0, 2]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[10, 80, 0, 1]);
    let fd = tap.poll_fd().unwrap();
    let mut bt = batch();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reply = None;
    // The host may send its own frames (router solicitations, ...): look
    // for the ARP reply to us, bounded in time.
    while Instant::now() < deadline && reply.is_none() {
        assert_eq!(tap.tx(&[Packet::from_slice(&arp)]), 1);
        let mut ready = [false];
        let _ = poll_fds(&[fd], &mut ready, Duration::from_millis(200));
        let n = tap.rx(&mut bt).unwrap();
        reply = bt[..n]
            .iter()
            .find(|p| p.data().len() >= 42 && p.data()[..6] == me && p.data()[12..14] == [8, 6])
            .cloned();
    }
    let reply = reply.expect("ARP reply from the host stack");
    assert_eq!(&reply.data()[20..22], &[0, 2], "ARP op = reply");
    assert_eq!(&reply.data()[28..32], &[10, 80, 0, 1]);
    assert!(tap.counters().snapshot().rx_packets >= 1);
}

#[test]
fn internal_and_persistent_tap_ports() {
    if !system_tests_enabled("internal_and_persistent_tap_ports", &["ip"]) {
        return;
    }
    let ns = Netns::new(&format!("{}-io", prefix("i")));
    let name = ns.name.clone();
    let br = in_netns(&name, || {
        datapath::port::InternalPort::open("rvsbr0").unwrap()
    });
    assert_eq!(br.name(), "rvsbr0");
    assert_eq!(br.kind(), datapath::port::PortKind::Internal);
    assert!(ns.try_exec(&["ip", "link", "show", "rvsbr0"]));
    drop(br);
    assert!(
        !ns.try_exec(&["ip", "link", "show", "rvsbr0"]),
        "internal port outlived its descriptor"
    );

    // A persistent tap survives its port and can be attached again.
    let opts = TapOptions {
        persistent: true,
        ..TapOptions::default()
    };
    let o2 = opts.clone();
    let t = in_netns(&name, move || TapPort::open("rvspt0", &o2).unwrap());
    drop(t);
    assert!(ns.try_exec(&["ip", "link", "show", "rvspt0"]));
    let t = in_netns(&name, move || TapPort::open("rvspt0", &opts).unwrap());
    t.set_persistent(false).unwrap();
    drop(t);
    assert!(!ns.try_exec(&["ip", "link", "show", "rvspt0"]));
}

#[test]
fn system_port_without_vnet_segments_gso_frames_in_software() {
    if !system_tests_enabled("system_port_without_vnet_segments", &["ip"]) {
        return;
    }
    let ns = Netns::new(&format!("{}-io", prefix("n")));
    ns.exec(&[
        "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb",
    ]);
    ns.exec(&["ip", "link", "set", "va", "up"]);
    ns.exec(&["ip", "link", "set", "vb", "up"]);
    let name = ns.name.clone();
    let (mut a, mut b) = in_netns(&name, || {
        let mut plain = SystemPortOptions::default();
        plain.socket.vnet_hdr = false;
        (
            SystemPort::open("va", &plain).unwrap(),
            SystemPort::open("vb", &SystemPortOptions::default()).unwrap(),
        )
    });
    let fd_b = b.poll_fd().unwrap();
    let payload: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    let mut p = Packet::from_slice(&tcp4_partial(&payload));
    p.offload = Offload {
        flags: Offload::F_NEEDS_CSUM,
        gso_type: 1,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    // A plain frame queued before it must still go out first.
    let first = Packet::from_slice(&tcp4_partial(b"x"));
    let mut first_done = first.clone();
    first_done.offload = Offload::default();
    assert_eq!(a.tx(&[first_done, p]), 4);
    let mut bt = batch();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got.len() < 4 && Instant::now() < deadline {
        let mut ready = [false];
        let _ = poll_fds(&[fd_b], &mut ready, Duration::from_millis(100));
        let n = b.rx(&mut bt).unwrap();
        got.extend(bt[..n].iter().map(|p| p.data().to_vec()));
    }
    assert_eq!(got.len(), 4, "plain frame + 3 segments");
    assert_eq!(got[0], first.data());
    let mut rebuilt = Vec::new();
    for s in &got[1..] {
        assert!(s.len() <= 54 + 1448);
        assert!(tcp4_checksum_ok(s), "segment checksum");
        rebuilt.extend_from_slice(&s[54..]);
    }
    assert_eq!(rebuilt, payload);
}
