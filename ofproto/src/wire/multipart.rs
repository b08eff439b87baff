//! `OFPT_MULTIPART_REQUEST` / `OFPT_MULTIPART_REPLY` bodies (OpenFlow
//! 1.3.5 section 7.3.5) and meter bands (shared with `OFPT_METER_MOD`).
//!
//! A multipart message is `type`, `flags` and a type-specific body.  Bodies
//! that are arrays of self-describing records (flow stats, group stats,
//! meter configs, ...) are read one record at a time through a sub-reader
//! bounded by the record's own length; fixed records (table, port and queue
//! stats) must tile the body exactly.  Unknown multipart types are
//! `OFPBRC_BAD_MULTIPART`; length problems are `OFPBRC_BAD_LEN`, except
//! inside a match, action list, instruction list, bucket or meter band,
//! whose own error codes apply.

use bytes::{BufMut, BytesMut};

use super::codec::{Reader, patch_u16};
use super::consts::{DESC_STR_LEN, SERIAL_NUM_LEN};
use super::error::{OfpError, bad_request};
use super::instruction::Instruction;
use super::message::{BAD_BAND, Bucket, PORT_LEN, Port, check_len, put_str, read_str};
use super::oxm::Match;
use super::table_features::TableFeatures;

/// An `ofp_multipart_type` value (open).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MultipartType(pub u16);

impl MultipartType {
    /// Switch description.
    pub const DESC: Self = Self(0);
    /// Individual flow statistics.
    pub const FLOW: Self = Self(1);
    /// Aggregate flow statistics.
    pub const AGGREGATE: Self = Self(2);
    /// Flow table statistics.
    pub const TABLE: Self = Self(3);
    /// Port statistics.
    pub const PORT_STATS: Self = Self(4);
    /// Queue statistics.
    pub const QUEUE: Self = Self(5);
    /// Group counter statistics.
    pub const GROUP: Self = Self(6);
    /// Group descriptions.
    pub const GROUP_DESC: Self = Self(7);
    /// Group features.
    pub const GROUP_FEATURES: Self = Self(8);
    /// Meter statistics.
    pub const METER: Self = Self(9);
    /// Meter configuration.
    pub const METER_CONFIG: Self = Self(10);
    /// Meter features.
    pub const METER_FEATURES: Self = Self(11);
    /// Table features.
    pub const TABLE_FEATURES: Self = Self(12);
    /// Port descriptions.
    pub const PORT_DESC: Self = Self(13);
    /// Experimenter extension.
    pub const EXPERIMENTER: Self = Self(0xffff);

    /// The spec name (`OFPMP_FLOW`), or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "OFPMP_DESC",
            1 => "OFPMP_FLOW",
            2 => "OFPMP_AGGREGATE",
            3 => "OFPMP_TABLE",
            4 => "OFPMP_PORT_STATS",
            5 => "OFPMP_QUEUE",
            6 => "OFPMP_GROUP",
            7 => "OFPMP_GROUP_DESC",
            8 => "OFPMP_GROUP_FEATURES",
            9 => "OFPMP_METER",
            10 => "OFPMP_METER_CONFIG",
            11 => "OFPMP_METER_FEATURES",
            12 => "OFPMP_TABLE_FEATURES",
            13 => "OFPMP_PORT_DESC",
            0xffff => "OFPMP_EXPERIMENTER",
            _ => return None,
        })
    }
}

impl std::fmt::Debug for MultipartType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "MultipartType({:#x})", self.0),
        }
    }
}

/// `OFPMPF_REQ_MORE`: more requests follow.
pub const OFPMPF_REQ_MORE: u16 = 1;
/// `OFPMPF_REPLY_MORE`: more replies follow.
pub const OFPMPF_REPLY_MORE: u16 = 1;

const BAD_MULTIPART: OfpError =
    OfpError::bad_request(bad_request::BAD_MULTIPART, "unknown multipart type");

fn bad_len(what: &'static str) -> OfpError {
    OfpError::bad_len(what)
}

/// `OFPT_MULTIPART_REQUEST`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartRequest {
    /// `OFPMPF_REQ_*` flags.
    pub flags: u16,
    /// The typed request body.
    pub body: MultipartRequestBody,
}

/// The body of a multipart request, one variant per multipart type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MultipartRequestBody {
    /// `OFPMP_DESC`.
    Desc,
    /// `OFPMP_FLOW`.
    Flow(FlowStatsRequest),
    /// `OFPMP_AGGREGATE`.
    Aggregate(FlowStatsRequest),
    /// `OFPMP_TABLE`.
    Table,
    /// `OFPMP_PORT_STATS` for this port (`OFPP_ANY` for all).
    PortStats(u32),
    /// `OFPMP_QUEUE`.
    Queue {
        /// Port (`OFPP_ANY` for all).
        port_no: u32,
        /// Queue (`OFPQ_ALL` for all).
        queue_id: u32,
    },
    /// `OFPMP_GROUP` for this group (`OFPG_ALL` for all).
    Group(u32),
    /// `OFPMP_GROUP_DESC`.
    GroupDesc,
    /// `OFPMP_GROUP_FEATURES`.
    GroupFeatures,
    /// `OFPMP_METER` for this meter (`OFPM_ALL` for all).
    Meter(u32),
    /// `OFPMP_METER_CONFIG` for this meter (`OFPM_ALL` for all).
    MeterConfig(u32),
    /// `OFPMP_METER_FEATURES`.
    MeterFeatures,
    /// `OFPMP_TABLE_FEATURES`: empty to query, non-empty to set.
    TableFeatures(Vec<TableFeatures>),
    /// `OFPMP_PORT_DESC`.
    PortDesc,
    /// `OFPMP_EXPERIMENTER`.
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Experimenter-defined type.
        exp_type: u32,
        /// Experimenter-defined body.
        data: Vec<u8>,
    },
}

/// Body of `OFPMP_FLOW` and `OFPMP_AGGREGATE` requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// Table to read (`OFPTT_ALL` for all).
    pub table_id: u8,
    /// Require an output to this port (`OFPP_ANY`: no restriction).
    pub out_port: u32,
    /// Require an output to this group (`OFPG_ANY`: no restriction).
    pub out_group: u32,
    /// Require these cookie bits ...
    pub cookie: u64,
    /// ... under this mask (0: no restriction).
    pub cookie_mask: u64,
    /// Fields to match.
    pub match_: Match,
}

impl FlowStatsRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let table_id = r.u8()?;
        r.skip(3)?;
        let out_port = r.u32()?;
        let out_group = r.u32()?;
        r.skip(4)?;
        Ok(Self {
            table_id,
            out_port,
            out_group,
            cookie: r.u64()?,
            cookie_mask: r.u64()?,
            match_: Match::decode(r)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u8(self.table_id);
        w.put_bytes(0, 3);
        w.put_u32(self.out_port);
        w.put_u32(self.out_group);
        w.put_u32(0);
        w.put_u64(self.cookie);
        w.put_u64(self.cookie_mask);
        self.match_.encode(w);
    }
}

impl MultipartRequestBody {
    /// The multipart type this body is sent as.
    pub fn mp_type(&self) -> MultipartType {
        match self {
            Self::Desc => MultipartType::DESC,
            Self::Flow(_) => MultipartType::FLOW,
            Self::Aggregate(_) => MultipartType::AGGREGATE,
            Self::Table => MultipartType::TABLE,
            Self::PortStats(_) => MultipartType::PORT_STATS,
            Self::Queue { .. } => MultipartType::QUEUE,
            Self::Group(_) => MultipartType::GROUP,
            Self::GroupDesc => MultipartType::GROUP_DESC,
            Self::GroupFeatures => MultipartType::GROUP_FEATURES,
            Self::Meter(_) => MultipartType::METER,
            Self::MeterConfig(_) => MultipartType::METER_CONFIG,
            Self::MeterFeatures => MultipartType::METER_FEATURES,
            Self::TableFeatures(_) => MultipartType::TABLE_FEATURES,
            Self::PortDesc => MultipartType::PORT_DESC,
            Self::Experimenter { .. } => MultipartType::EXPERIMENTER,
        }
    }
}

impl MultipartRequest {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let mp_type = MultipartType(r.u16()?);
        let flags = r.u16()?;
        r.skip(4)?;
        let body = match mp_type {
            MultipartType::DESC => MultipartRequestBody::Desc,
            MultipartType::FLOW => MultipartRequestBody::Flow(FlowStatsRequest::decode(r)?),
            MultipartType::AGGREGATE => {
                MultipartRequestBody::Aggregate(FlowStatsRequest::decode(r)?)
            }
            MultipartType::TABLE => MultipartRequestBody::Table,
            MultipartType::PORT_STATS => {
                let port = r.u32()?;
                r.skip(4)?;
                MultipartRequestBody::PortStats(port)
            }
            MultipartType::QUEUE => MultipartRequestBody::Queue {
                port_no: r.u32()?,
                queue_id: r.u32()?,
            },
            MultipartType::GROUP => {
                let g = r.u32()?;
                r.skip(4)?;
                MultipartRequestBody::Group(g)
            }
            MultipartType::GROUP_DESC => MultipartRequestBody::GroupDesc,
            MultipartType::GROUP_FEATURES => MultipartRequestBody::GroupFeatures,
            MultipartType::METER | MultipartType::METER_CONFIG => {
                let m = r.u32()?;
                r.skip(4)?;
                if mp_type == MultipartType::METER {
                    MultipartRequestBody::Meter(m)
                } else {
                    MultipartRequestBody::MeterConfig(m)
                }
            }
            MultipartType::METER_FEATURES => MultipartRequestBody::MeterFeatures,
            MultipartType::TABLE_FEATURES => {
                MultipartRequestBody::TableFeatures(TableFeatures::decode_list(r)?)
            }
            MultipartType::PORT_DESC => MultipartRequestBody::PortDesc,
            MultipartType::EXPERIMENTER => MultipartRequestBody::Experimenter {
                experimenter: r.u32()?,
                exp_type: r.u32()?,
                data: r.take_rest().to_vec(),
            },
            _ => return Err(BAD_MULTIPART),
        };
        Ok(Self { flags, body })
    }

    pub(crate) fn encode(&self, w: &mut BytesMut) {
        w.put_u16(self.body.mp_type().0);
        w.put_u16(self.flags);
        w.put_u32(0);
        match &self.body {
            MultipartRequestBody::Desc
            | MultipartRequestBody::Table
            | MultipartRequestBody::GroupDesc
            | MultipartRequestBody::GroupFeatures
            | MultipartRequestBody::MeterFeatures
            | MultipartRequestBody::PortDesc => {}
            MultipartRequestBody::Flow(f) | MultipartRequestBody::Aggregate(f) => f.encode(w),
            MultipartRequestBody::PortStats(x)
            | MultipartRequestBody::Group(x)
            | MultipartRequestBody::Meter(x)
            | MultipartRequestBody::MeterConfig(x) => {
                w.put_u32(*x);
                w.put_u32(0);
            }
            MultipartRequestBody::Queue { port_no, queue_id } => {
                w.put_u32(*port_no);
                w.put_u32(*queue_id);
            }
            MultipartRequestBody::TableFeatures(t) => TableFeatures::encode_list(t, w),
            MultipartRequestBody::Experimenter {
                experimenter,
                exp_type,
                data,
            } => {
                w.put_u32(*experimenter);
                w.put_u32(*exp_type);
                w.put_slice(data);
            }
        }
    }
}

/// `OFPT_MULTIPART_REPLY`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartReply {
    /// `OFPMPF_REPLY_*` flags.
    pub flags: u16,
    /// The typed reply body.
    pub body: MultipartReplyBody,
}

/// The body of a multipart reply, one variant per multipart type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MultipartReplyBody {
    /// `OFPMP_DESC`.
    Desc(Desc),
    /// `OFPMP_FLOW`.
    Flow(Vec<FlowStats>),
    /// `OFPMP_AGGREGATE`.
    Aggregate(AggregateStats),
    /// `OFPMP_TABLE`.
    Table(Vec<TableStats>),
    /// `OFPMP_PORT_STATS`.
    PortStats(Vec<PortStats>),
    /// `OFPMP_QUEUE`.
    Queue(Vec<QueueStats>),
    /// `OFPMP_GROUP`.
    Group(Vec<GroupStats>),
    /// `OFPMP_GROUP_DESC`.
    GroupDesc(Vec<GroupDesc>),
    /// `OFPMP_GROUP_FEATURES`.
    GroupFeatures(GroupFeatures),
    /// `OFPMP_METER`.
    Meter(Vec<MeterStats>),
    /// `OFPMP_METER_CONFIG`.
    MeterConfig(Vec<MeterConfig>),
    /// `OFPMP_METER_FEATURES`.
    MeterFeatures(MeterFeatures),
    /// `OFPMP_TABLE_FEATURES`.
    TableFeatures(Vec<TableFeatures>),
    /// `OFPMP_PORT_DESC`.
    PortDesc(Vec<Port>),
    /// `OFPMP_EXPERIMENTER`.
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Experimenter-defined type.
        exp_type: u32,
        /// Experimenter-defined body.
        data: Vec<u8>,
    },
}

impl MultipartReplyBody {
    /// The multipart type this body is sent as.
    pub fn mp_type(&self) -> MultipartType {
        match self {
            Self::Desc(_) => MultipartType::DESC,
            Self::Flow(_) => MultipartType::FLOW,
            Self::Aggregate(_) => MultipartType::AGGREGATE,
            Self::Table(_) => MultipartType::TABLE,
            Self::PortStats(_) => MultipartType::PORT_STATS,
            Self::Queue(_) => MultipartType::QUEUE,
            Self::Group(_) => MultipartType::GROUP,
            Self::GroupDesc(_) => MultipartType::GROUP_DESC,
            Self::GroupFeatures(_) => MultipartType::GROUP_FEATURES,
            Self::Meter(_) => MultipartType::METER,
            Self::MeterConfig(_) => MultipartType::METER_CONFIG,
            Self::MeterFeatures(_) => MultipartType::METER_FEATURES,
            Self::TableFeatures(_) => MultipartType::TABLE_FEATURES,
            Self::PortDesc(_) => MultipartType::PORT_DESC,
            Self::Experimenter { .. } => MultipartType::EXPERIMENTER,
        }
    }
}

/// Reads records until `r` is empty.
fn read_all<T>(
    r: &mut Reader<'_>,
    mut f: impl FnMut(&mut Reader<'_>) -> Result<T, OfpError>,
) -> Result<Vec<T>, OfpError> {
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(f(r)?);
    }
    Ok(v)
}

impl MultipartReply {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let mp_type = MultipartType(r.u16()?);
        let flags = r.u16()?;
        r.skip(4)?;
        let body = match mp_type {
            MultipartType::DESC => MultipartReplyBody::Desc(Desc::decode(r)?),
            MultipartType::FLOW => MultipartReplyBody::Flow(read_all(r, FlowStats::decode)?),
            MultipartType::AGGREGATE => MultipartReplyBody::Aggregate(AggregateStats::decode(r)?),
            MultipartType::TABLE => MultipartReplyBody::Table(read_all(r, TableStats::decode)?),
            MultipartType::PORT_STATS => {
                MultipartReplyBody::PortStats(read_all(r, PortStats::decode)?)
            }
            MultipartType::QUEUE => MultipartReplyBody::Queue(read_all(r, QueueStats::decode)?),
            MultipartType::GROUP => MultipartReplyBody::Group(read_all(r, GroupStats::decode)?),
            MultipartType::GROUP_DESC => {
                MultipartReplyBody::GroupDesc(read_all(r, GroupDesc::decode)?)
            }
            MultipartType::GROUP_FEATURES => {
                MultipartReplyBody::GroupFeatures(GroupFeatures::decode(r)?)
            }
            MultipartType::METER => MultipartReplyBody::Meter(read_all(r, MeterStats::decode)?),
            MultipartType::METER_CONFIG => {
                MultipartReplyBody::MeterConfig(read_all(r, MeterConfig::decode)?)
            }
            MultipartType::METER_FEATURES => {
                MultipartReplyBody::MeterFeatures(MeterFeatures::decode(r)?)
            }
            MultipartType::TABLE_FEATURES => {
                MultipartReplyBody::TableFeatures(TableFeatures::decode_list(r)?)
            }
            MultipartType::PORT_DESC => {
                if r.remaining() % PORT_LEN != 0 {
                    return Err(bad_len("port description array length"));
                }
                MultipartReplyBody::PortDesc(read_all(r, Port::decode)?)
            }
            MultipartType::EXPERIMENTER => MultipartReplyBody::Experimenter {
                experimenter: r.u32()?,
                exp_type: r.u32()?,
                data: r.take_rest().to_vec(),
            },
            _ => return Err(BAD_MULTIPART),
        };
        Ok(Self { flags, body })
    }

    pub(crate) fn encode(&self, w: &mut BytesMut) {
        w.put_u16(self.body.mp_type().0);
        w.put_u16(self.flags);
        w.put_u32(0);
        match &self.body {
            MultipartReplyBody::Desc(d) => d.encode(w),
            MultipartReplyBody::Flow(v) => v.iter().for_each(|x| x.encode(w)),
            MultipartReplyBody::Aggregate(a) => a.encode(w),
            MultipartReplyBody::Table(v) => v.iter().for_each(|x| x.encode(w)),
            MultipartReplyBody::PortStats(v) => v.iter().for_each(|x| x.encode(w)),
            MultipartReplyBody::Queue(v) => v.iter().for_each(|x| x.encode(w)),
            MultipartReplyBody::Group(v) => v.iter().for_each(|x| x.encode(w)),
            MultipartReplyBody::GroupDesc(v) => v.iter().for_each(|x| x.encode(w)),
            MultipartReplyBody::GroupFeatures(g) => g.encode(w),
            MultipartReplyBody::Meter(v) => v.iter().for_each(|x| x.encode(w)),
            MultipartReplyBody::MeterConfig(v) => v.iter().for_each(|x| x.encode(w)),
            MultipartReplyBody::MeterFeatures(m) => m.encode(w),
            MultipartReplyBody::TableFeatures(t) => TableFeatures::encode_list(t, w),
            MultipartReplyBody::PortDesc(v) => v.iter().for_each(|x| x.encode(w)),
            MultipartReplyBody::Experimenter {
                experimenter,
                exp_type,
                data,
            } => {
                w.put_u32(*experimenter);
                w.put_u32(*exp_type);
                w.put_slice(data);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Splitting replies that exceed one message, and merging them back.

/// Bytes of `ofp_header` plus the multipart header.
const MP_HEADER_LEN: usize = 16;

/// Encoded size of one record.
fn rec_len(f: impl FnOnce(&mut BytesMut)) -> usize {
    let mut w = BytesMut::new();
    f(&mut w);
    w.len()
}

/// Packs `items` greedily into chunks whose encodings fit in `budget`
/// bytes; a record larger than `budget` on its own gets a chunk of its
/// own.  Always returns at least one (possibly empty) chunk.
fn chunk<T>(items: Vec<T>, budget: usize, len: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut out = vec![Vec::new()];
    let mut used = 0;
    for item in items {
        let n = len(&item);
        let cur_nonempty = out.last().is_some_and(|c| !c.is_empty());
        if cur_nonempty && used + n > budget {
            out.push(Vec::new());
            used = 0;
        }
        used += n;
        if let Some(c) = out.last_mut() {
            c.push(item);
        }
    }
    out
}

impl MultipartReply {
    /// Splits this reply into replies whose whole messages (header
    /// included) are at most `max_len` bytes, as needed when a switch's
    /// flow, port, group, meter or table list outgrows one OpenFlow
    /// message.  Every piece but the last has `OFPMPF_REPLY_MORE` set; the
    /// last keeps this reply's flags.  Array bodies are split between
    /// records (a single record larger than the budget travels alone);
    /// other bodies are returned whole.
    pub fn split(self, max_len: usize) -> Vec<MultipartReply> {
        let budget = max_len.saturating_sub(MP_HEADER_LEN);
        let flags = self.flags;
        let bodies: Vec<MultipartReplyBody> = match self.body {
            MultipartReplyBody::Flow(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::Flow)
                .collect(),
            MultipartReplyBody::Table(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::Table)
                .collect(),
            MultipartReplyBody::PortStats(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::PortStats)
                .collect(),
            MultipartReplyBody::Queue(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::Queue)
                .collect(),
            MultipartReplyBody::Group(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::Group)
                .collect(),
            MultipartReplyBody::GroupDesc(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::GroupDesc)
                .collect(),
            MultipartReplyBody::Meter(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::Meter)
                .collect(),
            MultipartReplyBody::MeterConfig(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::MeterConfig)
                .collect(),
            MultipartReplyBody::TableFeatures(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::TableFeatures)
                .collect(),
            MultipartReplyBody::PortDesc(v) => chunk(v, budget, |x| rec_len(|w| x.encode(w)))
                .into_iter()
                .map(MultipartReplyBody::PortDesc)
                .collect(),
            other => vec![other],
        };
        let n = bodies.len();
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| MultipartReply {
                flags: if i + 1 < n {
                    flags | OFPMPF_REPLY_MORE
                } else {
                    flags
                },
                body,
            })
            .collect()
    }
}

impl MultipartReplyBody {
    /// Appends the records of `more` (the next piece of a reply sent with
    /// `OFPMPF_REPLY_MORE`) to this body.  Fails, leaving `self` as it
    /// was, when the types differ or the body is not an array (a
    /// well-behaved switch never splits those).
    pub fn merge(&mut self, more: MultipartReplyBody) -> Result<(), MultipartReplyBody> {
        use MultipartReplyBody as B;
        match (self, more) {
            (B::Flow(a), B::Flow(b)) => a.extend(b),
            (B::Table(a), B::Table(b)) => a.extend(b),
            (B::PortStats(a), B::PortStats(b)) => a.extend(b),
            (B::Queue(a), B::Queue(b)) => a.extend(b),
            (B::Group(a), B::Group(b)) => a.extend(b),
            (B::GroupDesc(a), B::GroupDesc(b)) => a.extend(b),
            (B::Meter(a), B::Meter(b)) => a.extend(b),
            (B::MeterConfig(a), B::MeterConfig(b)) => a.extend(b),
            (B::TableFeatures(a), B::TableFeatures(b)) => a.extend(b),
            (B::PortDesc(a), B::PortDesc(b)) => a.extend(b),
            (_, b) => return Err(b),
        }
        Ok(())
    }
}

impl MultipartRequestBody {
    /// Appends the next piece of a request sent with `OFPMPF_REQ_MORE`
    /// (only table-features "set" requests span messages).  Fails, leaving
    /// `self` as it was, for any other combination.
    pub fn merge(&mut self, more: MultipartRequestBody) -> Result<(), MultipartRequestBody> {
        match (self, more) {
            (MultipartRequestBody::TableFeatures(a), MultipartRequestBody::TableFeatures(b)) => {
                a.extend(b);
                Ok(())
            }
            (_, b) => Err(b),
        }
    }
}

// ---------------------------------------------------------------------------
// Reply records.

/// `ofp_desc`: the switch description.  Strings are NUL-padded on the wire
/// (256 bytes, 32 for the serial number); longer strings are truncated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    /// Manufacturer description.
    pub mfr_desc: String,
    /// Hardware description.
    pub hw_desc: String,
    /// Software description.
    pub sw_desc: String,
    /// Serial number.
    pub serial_num: String,
    /// Human readable description of the datapath.
    pub dp_desc: String,
}

impl Desc {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        Ok(Self {
            mfr_desc: read_str(r, DESC_STR_LEN)?,
            hw_desc: read_str(r, DESC_STR_LEN)?,
            sw_desc: read_str(r, DESC_STR_LEN)?,
            serial_num: read_str(r, SERIAL_NUM_LEN)?,
            dp_desc: read_str(r, DESC_STR_LEN)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        put_str(w, &self.mfr_desc, DESC_STR_LEN);
        put_str(w, &self.hw_desc, DESC_STR_LEN);
        put_str(w, &self.sw_desc, DESC_STR_LEN);
        put_str(w, &self.serial_num, SERIAL_NUM_LEN);
        put_str(w, &self.dp_desc, DESC_STR_LEN);
    }
}

/// `ofp_flow_stats`: one flow entry in an `OFPMP_FLOW` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStats {
    /// Table the flow is in.
    pub table_id: u8,
    /// Seconds the flow has been alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Priority.
    pub priority: u16,
    /// Idle timeout.
    pub idle_timeout: u16,
    /// Hard timeout.
    pub hard_timeout: u16,
    /// `OFPFF_*` flags.
    pub flags: u16,
    /// Cookie.
    pub cookie: u64,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// The match.
    pub match_: Match,
    /// The instructions.
    pub instructions: Vec<Instruction>,
}

impl FlowStats {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let bad = bad_len("flow stats length invalid");
        let len = check_len(r.peek_u16(0)?, 56, bad)?;
        let mut b = r.sub_with(len, bad)?;
        b.skip(2)?;
        let table_id = b.u8()?;
        b.skip(1)?;
        let duration_sec = b.u32()?;
        let duration_nsec = b.u32()?;
        let priority = b.u16()?;
        let idle_timeout = b.u16()?;
        let hard_timeout = b.u16()?;
        let flags = b.u16()?;
        b.skip(4)?;
        Ok(Self {
            table_id,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            flags,
            cookie: b.u64()?,
            packet_count: b.u64()?,
            byte_count: b.u64()?,
            match_: Match::decode(&mut b)?,
            instructions: Instruction::decode_list(&mut b)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u16(0);
        w.put_u8(self.table_id);
        w.put_u8(0);
        w.put_u32(self.duration_sec);
        w.put_u32(self.duration_nsec);
        w.put_u16(self.priority);
        w.put_u16(self.idle_timeout);
        w.put_u16(self.hard_timeout);
        w.put_u16(self.flags);
        w.put_u32(0);
        w.put_u64(self.cookie);
        w.put_u64(self.packet_count);
        w.put_u64(self.byte_count);
        self.match_.encode(w);
        Instruction::encode_list(&self.instructions, w);
        patch_u16(w, start, 0);
    }
}

/// `ofp_aggregate_stats_reply`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AggregateStats {
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// Number of flows.
    pub flow_count: u32,
}

impl AggregateStats {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let a = Self {
            packet_count: r.u64()?,
            byte_count: r.u64()?,
            flow_count: r.u32()?,
        };
        r.skip(4)?;
        Ok(a)
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u64(self.packet_count);
        w.put_u64(self.byte_count);
        w.put_u32(self.flow_count);
        w.put_u32(0);
    }
}

/// `ofp_table_stats` (24 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Table id.
    pub table_id: u8,
    /// Active entries.
    pub active_count: u32,
    /// Packets looked up.
    pub lookup_count: u64,
    /// Packets that hit.
    pub matched_count: u64,
}

impl TableStats {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let table_id = r.u8()?;
        r.skip(3)?;
        Ok(Self {
            table_id,
            active_count: r.u32()?,
            lookup_count: r.u64()?,
            matched_count: r.u64()?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u8(self.table_id);
        w.put_bytes(0, 3);
        w.put_u32(self.active_count);
        w.put_u64(self.lookup_count);
        w.put_u64(self.matched_count);
    }
}

/// `ofp_port_stats` (112 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Port number.
    pub port_no: u32,
    /// Received packets.
    pub rx_packets: u64,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Transmitted bytes.
    pub tx_bytes: u64,
    /// Packets dropped by RX.
    pub rx_dropped: u64,
    /// Packets dropped by TX.
    pub tx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Frame alignment errors.
    pub rx_frame_err: u64,
    /// Packets with RX overrun.
    pub rx_over_err: u64,
    /// CRC errors.
    pub rx_crc_err: u64,
    /// Collisions.
    pub collisions: u64,
    /// Seconds the port has been alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
}

impl PortStats {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let port_no = r.u32()?;
        r.skip(4)?;
        Ok(Self {
            port_no,
            rx_packets: r.u64()?,
            tx_packets: r.u64()?,
            rx_bytes: r.u64()?,
            tx_bytes: r.u64()?,
            rx_dropped: r.u64()?,
            tx_dropped: r.u64()?,
            rx_errors: r.u64()?,
            tx_errors: r.u64()?,
            rx_frame_err: r.u64()?,
            rx_over_err: r.u64()?,
            rx_crc_err: r.u64()?,
            collisions: r.u64()?,
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.port_no);
        w.put_u32(0);
        for x in [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ] {
            w.put_u64(x);
        }
        w.put_u32(self.duration_sec);
        w.put_u32(self.duration_nsec);
    }
}

/// `ofp_queue_stats` (40 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Port number.
    pub port_no: u32,
    /// Queue id.
    pub queue_id: u32,
    /// Transmitted bytes.
    pub tx_bytes: u64,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Packets dropped due to overrun.
    pub tx_errors: u64,
    /// Seconds the queue has been alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
}

impl QueueStats {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        Ok(Self {
            port_no: r.u32()?,
            queue_id: r.u32()?,
            tx_bytes: r.u64()?,
            tx_packets: r.u64()?,
            tx_errors: r.u64()?,
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.port_no);
        w.put_u32(self.queue_id);
        w.put_u64(self.tx_bytes);
        w.put_u64(self.tx_packets);
        w.put_u64(self.tx_errors);
        w.put_u32(self.duration_sec);
        w.put_u32(self.duration_nsec);
    }
}

/// `ofp_bucket_counter`: per-bucket counters of a group or meter band.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets.
    pub packet_count: u64,
    /// Bytes.
    pub byte_count: u64,
}

fn read_counters(r: &mut Reader<'_>, err: OfpError) -> Result<Vec<Counter>, OfpError> {
    if r.remaining() % 16 != 0 {
        return Err(err);
    }
    read_all(r, |r| {
        Ok(Counter {
            packet_count: r.u64()?,
            byte_count: r.u64()?,
        })
    })
}

fn put_counters(w: &mut BytesMut, v: &[Counter]) {
    for c in v {
        w.put_u64(c.packet_count);
        w.put_u64(c.byte_count);
    }
}

/// `ofp_group_stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Group id.
    pub group_id: u32,
    /// Flows or groups that forward to this group.
    pub ref_count: u32,
    /// Packets processed by the group.
    pub packet_count: u64,
    /// Bytes processed by the group.
    pub byte_count: u64,
    /// Seconds the group has been alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// One counter per bucket.
    pub bucket_stats: Vec<Counter>,
}

impl GroupStats {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let bad = bad_len("group stats length invalid");
        let len = check_len(r.peek_u16(0)?, 40, bad)?;
        let mut b = r.sub_with(len, bad)?;
        b.skip(4)?;
        let group_id = b.u32()?;
        let ref_count = b.u32()?;
        b.skip(4)?;
        Ok(Self {
            group_id,
            ref_count,
            packet_count: b.u64()?,
            byte_count: b.u64()?,
            duration_sec: b.u32()?,
            duration_nsec: b.u32()?,
            bucket_stats: read_counters(&mut b, bad)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u32(0);
        w.put_u32(self.group_id);
        w.put_u32(self.ref_count);
        w.put_u32(0);
        w.put_u64(self.packet_count);
        w.put_u64(self.byte_count);
        w.put_u32(self.duration_sec);
        w.put_u32(self.duration_nsec);
        put_counters(w, &self.bucket_stats);
        patch_u16(w, start, 0);
    }
}

/// `ofp_group_desc`: one group in an `OFPMP_GROUP_DESC` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDesc {
    /// `OFPGT_*` group type.
    pub group_type: u8,
    /// Group id.
    pub group_id: u32,
    /// Buckets.
    pub buckets: Vec<Bucket>,
}

impl GroupDesc {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let bad = bad_len("group desc length invalid");
        let len = check_len(r.peek_u16(0)?, 8, bad)?;
        let mut b = r.sub_with(len, bad)?;
        b.skip(2)?;
        let group_type = b.u8()?;
        b.skip(1)?;
        Ok(Self {
            group_type,
            group_id: b.u32()?,
            buckets: Bucket::decode_list(&mut b)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u16(0);
        w.put_u8(self.group_type);
        w.put_u8(0);
        w.put_u32(self.group_id);
        Bucket::encode_list(&self.buckets, w);
        patch_u16(w, start, 0);
    }
}

/// `ofp_group_features` (40 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupFeatures {
    /// Bitmap of supported group types (bit `n` = type `n`).
    pub types: u32,
    /// `OFPGFC_*` capability bits.
    pub capabilities: u32,
    /// Maximum groups per type.
    pub max_groups: [u32; 4],
    /// Bitmap of supported actions (bit `n` = action type `n`) per type.
    pub actions: [u32; 4],
}

impl GroupFeatures {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        Ok(Self {
            types: r.u32()?,
            capabilities: r.u32()?,
            max_groups: [r.u32()?, r.u32()?, r.u32()?, r.u32()?],
            actions: [r.u32()?, r.u32()?, r.u32()?, r.u32()?],
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.types);
        w.put_u32(self.capabilities);
        for x in self.max_groups.iter().chain(&self.actions) {
            w.put_u32(*x);
        }
    }
}

/// `ofp_meter_stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterStats {
    /// Meter id.
    pub meter_id: u32,
    /// Flows bound to the meter.
    pub flow_count: u32,
    /// Packets in input.
    pub packet_in_count: u64,
    /// Bytes in input.
    pub byte_in_count: u64,
    /// Seconds the meter has been alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// One counter per band.
    pub band_stats: Vec<Counter>,
}

impl MeterStats {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let bad = bad_len("meter stats length invalid");
        let len = check_len(r.peek_u16(4)?, 40, bad)?;
        let mut b = r.sub_with(len, bad)?;
        let meter_id = b.u32()?;
        b.skip(8)?;
        Ok(Self {
            meter_id,
            flow_count: b.u32()?,
            packet_in_count: b.u64()?,
            byte_in_count: b.u64()?,
            duration_sec: b.u32()?,
            duration_nsec: b.u32()?,
            band_stats: read_counters(&mut b, bad)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u32(self.meter_id);
        w.put_u16(0);
        w.put_bytes(0, 6);
        w.put_u32(self.flow_count);
        w.put_u64(self.packet_in_count);
        w.put_u64(self.byte_in_count);
        w.put_u32(self.duration_sec);
        w.put_u32(self.duration_nsec);
        put_counters(w, &self.band_stats);
        patch_u16(w, start, 4);
    }
}

/// `ofp_meter_config`: one meter in an `OFPMP_METER_CONFIG` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterConfig {
    /// `OFPMF_*` flags.
    pub flags: u16,
    /// Meter id.
    pub meter_id: u32,
    /// Bands.
    pub bands: Vec<MeterBand>,
}

impl MeterConfig {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let bad = bad_len("meter config length invalid");
        let len = check_len(r.peek_u16(0)?, 8, bad)?;
        let mut b = r.sub_with(len, bad)?;
        b.skip(2)?;
        Ok(Self {
            flags: b.u16()?,
            meter_id: b.u32()?,
            bands: MeterBand::decode_list(&mut b)?,
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u16(0);
        w.put_u16(self.flags);
        w.put_u32(self.meter_id);
        MeterBand::encode_list(&self.bands, w);
        patch_u16(w, start, 0);
    }
}

/// `ofp_meter_features` (16 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterFeatures {
    /// Maximum number of meters.
    pub max_meter: u32,
    /// Bitmap of supported band types (bit `n` = type `n`).
    pub band_types: u32,
    /// Bitmap of `OFPMF_*` flags supported.
    pub capabilities: u32,
    /// Maximum bands per meter.
    pub max_bands: u8,
    /// Maximum color value.
    pub max_color: u8,
}

impl MeterFeatures {
    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let m = Self {
            max_meter: r.u32()?,
            band_types: r.u32()?,
            capabilities: r.u32()?,
            max_bands: r.u8()?,
            max_color: r.u8()?,
        };
        r.skip(2)?;
        Ok(m)
    }

    fn encode(&self, w: &mut BytesMut) {
        w.put_u32(self.max_meter);
        w.put_u32(self.band_types);
        w.put_u32(self.capabilities);
        w.put_u8(self.max_bands);
        w.put_u8(self.max_color);
        w.put_u16(0);
    }
}

// ---------------------------------------------------------------------------
// Meter bands.

/// `ofp_meter_band_type` values.
pub mod meter_band_type {
    /// Drop packet.
    pub const DROP: u16 = 1;
    /// Remark DSCP in the IP header.
    pub const DSCP_REMARK: u16 = 2;
    /// Experimenter meter band.
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// A meter band.  Every band starts with `type`, `len`, `rate` and
/// `burst_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeterBand {
    /// `OFPMBT_DROP`.
    Drop {
        /// Rate for this band.
        rate: u32,
        /// Size of bursts.
        burst_size: u32,
    },
    /// `OFPMBT_DSCP_REMARK`.
    DscpRemark {
        /// Rate for this band.
        rate: u32,
        /// Size of bursts.
        burst_size: u32,
        /// Number of drop precedence levels to add.
        prec_level: u8,
    },
    /// `OFPMBT_EXPERIMENTER`.
    Experimenter {
        /// Rate for this band.
        rate: u32,
        /// Size of bursts.
        burst_size: u32,
        /// Experimenter id.
        experimenter: u32,
        /// Bytes after the experimenter id.
        data: Vec<u8>,
    },
}

/// Band length problems are `OFPBRC_BAD_LEN` (as Open vSwitch answers);
/// only an unknown band type is `OFPMMFC_BAD_BAND`.
const BAND_LEN: OfpError = OfpError::bad_len("meter band length invalid");

impl MeterBand {
    /// Reads a band list filling all of `r`.  Unknown band types are
    /// `OFPMMFC_BAD_BAND`; band length problems `OFPBRC_BAD_LEN`.
    pub fn decode_list(r: &mut Reader<'_>) -> Result<Vec<MeterBand>, OfpError> {
        read_all(r, |r| {
            let btype = r.peek_u16(0).map_err(|_| BAND_LEN)?;
            let len = check_len(r.peek_u16(2).map_err(|_| BAND_LEN)?, 16, BAND_LEN)?;
            let mut b = r.sub_with(len, BAND_LEN)?;
            b.skip(4)?;
            let rate = b.u32()?;
            let burst_size = b.u32()?;
            let band = match btype {
                meter_band_type::DROP | meter_band_type::DSCP_REMARK if len != 16 => {
                    return Err(BAND_LEN);
                }
                meter_band_type::DROP => Self::Drop { rate, burst_size },
                meter_band_type::DSCP_REMARK => Self::DscpRemark {
                    rate,
                    burst_size,
                    prec_level: b.u8()?,
                },
                meter_band_type::EXPERIMENTER => Self::Experimenter {
                    rate,
                    burst_size,
                    experimenter: b.u32()?,
                    data: b.take_rest().to_vec(),
                },
                _ => return Err(BAD_BAND),
            };
            // Remaining bytes of a fixed band are padding.
            b.take_rest();
            Ok(band)
        })
    }

    /// Writes every band of `list`.
    pub fn encode_list(list: &[MeterBand], w: &mut BytesMut) {
        for band in list {
            let start = w.len();
            match band {
                Self::Drop { rate, burst_size } => {
                    w.put_u16(meter_band_type::DROP);
                    w.put_u16(0);
                    w.put_u32(*rate);
                    w.put_u32(*burst_size);
                    w.put_u32(0);
                }
                Self::DscpRemark {
                    rate,
                    burst_size,
                    prec_level,
                } => {
                    w.put_u16(meter_band_type::DSCP_REMARK);
                    w.put_u16(0);
                    w.put_u32(*rate);
                    w.put_u32(*burst_size);
                    w.put_u8(*prec_level);
                    w.put_bytes(0, 3);
                }
                Self::Experimenter {
                    rate,
                    burst_size,
                    experimenter,
                    data,
                } => {
                    w.put_u16(meter_band_type::EXPERIMENTER);
                    w.put_u16(0);
                    w.put_u32(*rate);
                    w.put_u32(*burst_size);
                    w.put_u32(*experimenter);
                    w.put_slice(data);
                }
            }
            patch_u16(w, start, 2);
        }
    }
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
