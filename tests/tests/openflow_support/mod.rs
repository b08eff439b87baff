//! Shared pieces of the OpenFlow interop tests: a fake switch whose replies
//! are built with our codec, and the round-trip check every captured
//! message must pass.
#![allow(dead_code)]

use bytes::BytesMut;
use ofproto::wire::message::{
    AsyncConfig, Body, FeaturesReply, Hello, Message, Port, QueueGetConfigReply, Role, SwitchConfig,
};
use ofproto::wire::multipart::{
    AggregateStats, Desc, GroupFeatures, MeterFeatures, MultipartReply, MultipartReplyBody,
    MultipartRequestBody,
};

/// Decodes `m`, re-encodes it and requires identical bytes.
pub(crate) fn check_round_trip(m: &[u8]) -> Result<Message, String> {
    let msg = ofproto::wire::decode(m)
        .map_err(|e| format!("decode failed with {e:?} on {}", hex::encode(m)))?;
    let mut out = BytesMut::new();
    ofproto::wire::encode(&msg, &mut out);
    if out[..] != m[..] {
        return Err(format!(
            "re-encoding differs\n  captured: {}\n  ours:     {}\n  decoded:  {msg:?}",
            hex::encode(m),
            hex::encode(&out)
        ));
    }
    Ok(msg)
}

/// A switch that answers what `ovs-ofctl` asks with minimal valid replies,
/// all encoded by `ofproto::wire`.  It has one port, `1` named `p1`, and
/// remembers the last SET_CONFIG.
#[derive(Debug, Default)]
pub(crate) struct FakeSwitch {
    /// Requests we could not decode or answer.
    pub(crate) errors: Vec<String>,
    config: SwitchConfig,
}

/// The port the fake switch has.
pub(crate) fn port1() -> Port {
    Port {
        port_no: 1,
        hw_addr: [2, 0, 0, 0, 0, 1],
        name: "p1".into(),
        curr_speed: 10_000_000,
        max_speed: 10_000_000,
        ..Port::default()
    }
}

impl FakeSwitch {
    /// The replies to one received message.
    pub(crate) fn respond(&mut self, raw: &[u8]) -> Vec<Vec<u8>> {
        let msg = match ofproto::wire::decode(raw) {
            Ok(m) => m,
            Err(e) => {
                self.errors
                    .push(format!("cannot decode {}: {e:?}", hex::encode(raw)));
                return vec![Message::error_reply(&e, raw).to_vec()];
            }
        };
        let body = match msg.body {
            Body::Hello(_) => Body::Hello(Hello::with_versions(&[4])),
            Body::EchoRequest(d) => Body::EchoReply(d),
            Body::FeaturesRequest => Body::FeaturesReply(FeaturesReply {
                datapath_id: 1,
                n_buffers: 0,
                n_tables: 254,
                auxiliary_id: 0,
                capabilities: 0x4f,
                reserved: 0,
            }),
            Body::GetConfigRequest => Body::GetConfigReply(self.config.clone()),
            Body::SetConfig(c) => {
                self.config = c;
                return vec![];
            }
            Body::BarrierRequest => Body::BarrierReply,
            Body::QueueGetConfigRequest(port) => Body::QueueGetConfigReply(QueueGetConfigReply {
                port,
                queues: vec![],
            }),
            Body::RoleRequest(r) => Body::RoleReply(Role {
                role: r.role,
                generation_id: r.generation_id,
            }),
            Body::GetAsyncRequest => Body::GetAsyncReply(AsyncConfig::default()),
            Body::MultipartRequest(req) => {
                let body = match req.body {
                    MultipartRequestBody::Desc => MultipartReplyBody::Desc(Desc {
                        mfr_desc: "rvs tests".into(),
                        hw_desc: "fake switch".into(),
                        sw_desc: "ofproto::wire".into(),
                        serial_num: "1".into(),
                        dp_desc: "golden".into(),
                    }),
                    MultipartRequestBody::Flow(_) => MultipartReplyBody::Flow(vec![]),
                    MultipartRequestBody::Aggregate(_) => {
                        MultipartReplyBody::Aggregate(AggregateStats::default())
                    }
                    MultipartRequestBody::Table => MultipartReplyBody::Table(vec![]),
                    MultipartRequestBody::PortStats(_) => MultipartReplyBody::PortStats(vec![]),
                    MultipartRequestBody::Queue { .. } => MultipartReplyBody::Queue(vec![]),
                    MultipartRequestBody::Group(_) => MultipartReplyBody::Group(vec![]),
                    MultipartRequestBody::GroupDesc => MultipartReplyBody::GroupDesc(vec![]),
                    MultipartRequestBody::GroupFeatures => {
                        MultipartReplyBody::GroupFeatures(GroupFeatures::default())
                    }
                    MultipartRequestBody::Meter(_) => MultipartReplyBody::Meter(vec![]),
                    MultipartRequestBody::MeterConfig(_) => MultipartReplyBody::MeterConfig(vec![]),
                    MultipartRequestBody::MeterFeatures => {
                        MultipartReplyBody::MeterFeatures(MeterFeatures::default())
                    }
                    MultipartRequestBody::TableFeatures(_) => {
                        MultipartReplyBody::TableFeatures(vec![table_features_minimal(0)])
                    }
                    MultipartRequestBody::PortDesc => MultipartReplyBody::PortDesc(vec![port1()]),
                    other => {
                        self.errors
                            .push(format!("no reply for multipart {other:?}"));
                        return vec![];
                    }
                };
                Body::MultipartReply(MultipartReply { flags: 0, body })
            }
            // Modifications, packet-out, echo replies: no answer.
            _ => return vec![],
        };
        vec![Message::new(msg.xid, body).to_vec()]
    }
}

/// One table's features with the eight properties OVS requires, all empty.
pub(crate) fn table_features_minimal(table_id: u8) -> ofproto::wire::table_features::TableFeatures {
    use ofproto::wire::table_features::{TableFeatureProp, TableFeatures};
    TableFeatures {
        table_id,
        name: format!("table{table_id}"),
        metadata_match: u64::MAX,
        metadata_write: u64::MAX,
        config: 0,
        max_entries: 1_000_000,
        properties: vec![
            TableFeatureProp::Instructions {
                miss: false,
                ids: vec![],
            },
            TableFeatureProp::NextTables {
                miss: false,
                tables: vec![],
            },
            TableFeatureProp::WriteActions {
                miss: false,
                ids: vec![],
            },
            TableFeatureProp::ApplyActions {
                miss: false,
                ids: vec![],
            },
            TableFeatureProp::Match(vec![]),
            TableFeatureProp::Wildcards(vec![]),
            TableFeatureProp::WriteSetfield {
                miss: false,
                ids: vec![],
            },
            TableFeatureProp::ApplySetfield {
                miss: false,
                ids: vec![],
            },
        ],
    }
}
