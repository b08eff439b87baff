//! Shared helpers of the xlate tests: an in-memory [`PipelineView`].
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

use datapath::flow::FlowKey;
use ofproto::flow_table::{FlowSpec, FlowTable};
use ofproto::normal::PortVlan;
use ofproto::wire::action::Action;
use ofproto::wire::instruction::Instruction;
use ofproto::wire::message::Bucket;
use ofproto::wire::oxm::{BasicField, Match, OxmField};
use ofproto::xlate::{GroupView, PipelineView};

/// A switch in memory: tables, groups and ports.
pub(crate) struct View {
    pub(crate) tables: Vec<FlowTable>,
    pub(crate) groups: HashMap<u32, (u8, Vec<Bucket>)>,
    pub(crate) ports: Vec<u32>,
    pub(crate) down: HashSet<u32>,
    pub(crate) no_fwd: HashSet<u32>,
    pub(crate) no_flood: HashSet<u32>,
    pub(crate) vlans: HashMap<u32, PortVlan>,
    pub(crate) local: Option<u32>,
}

impl View {
    pub(crate) fn new(n_tables: usize, ports: &[u32]) -> Self {
        Self {
            tables: (0..n_tables).map(|_| FlowTable::new(10_000)).collect(),
            groups: HashMap::new(),
            ports: ports.to_vec(),
            down: HashSet::new(),
            no_fwd: HashSet::new(),
            no_flood: HashSet::new(),
            vlans: HashMap::new(),
            local: None,
        }
    }

    pub(crate) fn add(&mut self, table: usize, priority: u16, m: Match, ins: Vec<Instruction>) {
        self.add_cookie(table, priority, m, ins, 0);
    }

    pub(crate) fn add_cookie(
        &mut self,
        table: usize,
        priority: u16,
        m: Match,
        ins: Vec<Instruction>,
        cookie: u64,
    ) {
        let spec = FlowSpec {
            match_: m,
            priority,
            cookie,
            instructions: ins,
            ..Default::default()
        };
        self.tables[table].add(spec, 0).expect("valid flow");
    }

    pub(crate) fn group(&mut self, id: u32, ty: u8, buckets: Vec<Bucket>) {
        self.groups.insert(id, (ty, buckets));
    }
}

impl PipelineView for View {
    fn table(&self, id: u8) -> Option<&FlowTable> {
        self.tables.get(usize::from(id))
    }
    fn group(&self, id: u32) -> Option<GroupView<'_>> {
        self.groups.get(&id).map(|(t, b)| GroupView {
            group_type: *t,
            buckets: b,
        })
    }
    fn port_is_live(&self, port: u32) -> bool {
        self.ports.contains(&port) && !self.down.contains(&port)
    }
    fn ports(&self) -> Vec<u32> {
        self.ports.clone()
    }
    fn port_config(&self, port: u32) -> u32 {
        if self.no_fwd.contains(&port) {
            ofproto::wire::message::port_config::NO_FWD
        } else {
            0
        }
    }
    fn port_no_flood(&self, port: u32) -> bool {
        self.no_flood.contains(&port)
    }
    fn port_vlan(&self, port: u32) -> PortVlan {
        self.vlans.get(&port).cloned().unwrap_or_default()
    }
    fn local_port(&self) -> Option<u32> {
        self.local
    }
}

/// A match of exact basic fields.
pub(crate) fn m(fields: &[(BasicField, u128)]) -> Match {
    Match {
        fields: fields.iter().map(|&(f, v)| OxmField::exact(f, v)).collect(),
    }
}

pub(crate) fn out(port: u32) -> Action {
    Action::Output { port, max_len: 0 }
}

pub(crate) fn apply(a: Vec<Action>) -> Instruction {
    Instruction::ApplyActions(a)
}

pub(crate) fn write(a: Vec<Action>) -> Instruction {
    Instruction::WriteActions(a)
}

pub(crate) fn setf(f: BasicField, v: u128) -> Action {
    Action::SetField(OxmField::exact(f, v))
}

pub(crate) fn bucket(weight: u16, watch_port: u32, actions: Vec<Action>) -> Bucket {
    Bucket {
        weight,
        watch_port,
        watch_group: ofproto::wire::consts::group::ANY,
        actions,
    }
}

/// A UDP/IPv4 key from `in_port`.
pub(crate) fn udp_key(in_port: u32, src: u32, dst: u32, sport: u16, dport: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_in_port(in_port);
    k.set_eth_src([0, 0, 0, 0, 0, 1]);
    k.set_eth_dst([0, 0, 0, 0, 0, 2]);
    k.set_eth_type(0x0800);
    k.set_nw_proto(17);
    k.set_nw_ttl(64);
    k.set_ipv4_src(src);
    k.set_ipv4_dst(dst);
    k.set_tp_src(sport);
    k.set_tp_dst(dport);
    k
}

/// A UDP/IPv4 frame (valid IPv4 header checksum, UDP checksum 0).
pub(crate) fn udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: u32,
    dst: u32,
    ttl: u8,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let payload = b"hello";
    let total = 20 + 8 + payload.len();
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, ttl, 17, 0, 0];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&src.to_be_bytes());
    ip.extend_from_slice(&dst.to_be_bytes());
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
    f.extend_from_slice(&1234u16.to_be_bytes());
    f.extend_from_slice(&5678u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}
