//! `ofp_table_features` and its properties (OpenFlow 1.3.5 section
//! 7.3.5.5), carried by `OFPMP_TABLE_FEATURES` requests and replies.
//!
//! Each table-features record is length-prefixed; its properties are TLVs
//! padded to a multiple of 8 with the padding *excluded* from the property
//! length (the padding must be present).  Every length problem here is
//! `OFPTFFC_BAD_LEN`.  Unknown property types are kept opaque so they
//! round-trip; whether to accept them is the switch's decision
//! (`OFPTFFC_BAD_TYPE`), not the codec's.

use bytes::{BufMut, BytesMut};

use super::codec::{Reader, pad_to, padding, patch_u16};
use super::consts::OFP_MAX_TABLE_NAME_LEN;
use super::error::{ErrorType, OfpError, table_features_failed};
use super::message::{check_len, put_str, read_str};
use super::oxm::{OxmId, decode_oxm_ids, encode_oxm_ids};

const BAD_LEN: OfpError = OfpError::new(
    ErrorType::TABLE_FEATURES_FAILED,
    table_features_failed::BAD_LEN,
    "table features length invalid",
);

/// Size of the fixed part of `ofp_table_features`.
pub const TABLE_FEATURES_LEN: usize = 64;

/// `ofp_table_feature_prop_type` values.
pub mod prop_type {
    /// Instructions property.
    pub const INSTRUCTIONS: u16 = 0;
    /// Instructions for table-miss.
    pub const INSTRUCTIONS_MISS: u16 = 1;
    /// Next Table property.
    pub const NEXT_TABLES: u16 = 2;
    /// Next Table for table-miss.
    pub const NEXT_TABLES_MISS: u16 = 3;
    /// Write Actions property.
    pub const WRITE_ACTIONS: u16 = 4;
    /// Write Actions for table-miss.
    pub const WRITE_ACTIONS_MISS: u16 = 5;
    /// Apply Actions property.
    pub const APPLY_ACTIONS: u16 = 6;
    /// Apply Actions for table-miss.
    pub const APPLY_ACTIONS_MISS: u16 = 7;
    /// Match property.
    pub const MATCH: u16 = 8;
    /// Wildcards property.
    pub const WILDCARDS: u16 = 10;
    /// Write Set-Field property.
    pub const WRITE_SETFIELD: u16 = 12;
    /// Write Set-Field for table-miss.
    pub const WRITE_SETFIELD_MISS: u16 = 13;
    /// Apply Set-Field property.
    pub const APPLY_SETFIELD: u16 = 14;
    /// Apply Set-Field for table-miss.
    pub const APPLY_SETFIELD_MISS: u16 = 15;
    /// Experimenter property.
    pub const EXPERIMENTER: u16 = 0xfffe;
    /// Experimenter for table-miss.
    pub const EXPERIMENTER_MISS: u16 = 0xffff;
}

/// An instruction or action id as listed in table features: the `type`
/// and whatever followed the 4-byte `type`/`len` header (empty for
/// standard ids; the experimenter id and more for experimenter ones).  The
/// wire `len` is `4 + data.len()`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TypeId {
    /// Instruction or action type.
    pub id_type: u16,
    /// Bytes after the 4-byte header.
    pub data: Vec<u8>,
}

impl TypeId {
    /// A standard id of `id_type` (4 bytes on the wire).
    pub fn new(id_type: u16) -> Self {
        Self {
            id_type,
            data: Vec::new(),
        }
    }

    fn decode_list(r: &mut Reader<'_>) -> Result<Vec<TypeId>, OfpError> {
        let mut v = Vec::new();
        while !r.is_empty() {
            let id_type = r.u16()?;
            let len = check_len(r.u16()?, 4, BAD_LEN)?;
            v.push(TypeId {
                id_type,
                data: r.bytes(len - 4)?.to_vec(),
            });
        }
        Ok(v)
    }

    fn encode_list(list: &[TypeId], w: &mut BytesMut) {
        for id in list {
            w.put_u16(id.id_type);
            w.put_u16(u16::try_from(4 + id.data.len()).unwrap_or(u16::MAX));
            w.put_slice(&id.data);
        }
    }
}

/// One table-features property.  The `miss` flag selects the `*_MISS`
/// variant of the property type (the table-miss flow entry's capabilities).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableFeatureProp {
    /// `OFPTFPT_INSTRUCTIONS` / `_MISS`: supported instructions.
    Instructions {
        /// The `_MISS` variant.
        miss: bool,
        /// Instruction ids.
        ids: Vec<TypeId>,
    },
    /// `OFPTFPT_NEXT_TABLES` / `_MISS`: tables reachable by goto-table.
    NextTables {
        /// The `_MISS` variant.
        miss: bool,
        /// Table ids.
        tables: Vec<u8>,
    },
    /// `OFPTFPT_WRITE_ACTIONS` / `_MISS`: actions for write-actions.
    WriteActions {
        /// The `_MISS` variant.
        miss: bool,
        /// Action ids.
        ids: Vec<TypeId>,
    },
    /// `OFPTFPT_APPLY_ACTIONS` / `_MISS`: actions for apply-actions.
    ApplyActions {
        /// The `_MISS` variant.
        miss: bool,
        /// Action ids.
        ids: Vec<TypeId>,
    },
    /// `OFPTFPT_MATCH`: fields that can be matched.
    Match(Vec<OxmId>),
    /// `OFPTFPT_WILDCARDS`: fields that can be wildcarded.
    Wildcards(Vec<OxmId>),
    /// `OFPTFPT_WRITE_SETFIELD` / `_MISS`: fields settable by write-actions.
    WriteSetfield {
        /// The `_MISS` variant.
        miss: bool,
        /// Field ids.
        ids: Vec<OxmId>,
    },
    /// `OFPTFPT_APPLY_SETFIELD` / `_MISS`: fields settable by apply-actions.
    ApplySetfield {
        /// The `_MISS` variant.
        miss: bool,
        /// Field ids.
        ids: Vec<OxmId>,
    },
    /// `OFPTFPT_EXPERIMENTER` / `_MISS`.
    Experimenter {
        /// The `_MISS` variant.
        miss: bool,
        /// Experimenter id.
        experimenter: u32,
        /// Experimenter-defined type.
        exp_type: u32,
        /// Experimenter data (without the property padding).
        data: Vec<u8>,
    },
    /// A property of an unknown type, kept as it was (without padding).
    Unknown {
        /// Property type.
        ptype: u16,
        /// Bytes after the 4-byte property header.
        data: Vec<u8>,
    },
}

impl TableFeatureProp {
    /// The property type this is sent as.
    pub fn prop_type(&self) -> u16 {
        let m = |miss: &bool, base: u16| base + u16::from(*miss);
        match self {
            Self::Instructions { miss, .. } => m(miss, prop_type::INSTRUCTIONS),
            Self::NextTables { miss, .. } => m(miss, prop_type::NEXT_TABLES),
            Self::WriteActions { miss, .. } => m(miss, prop_type::WRITE_ACTIONS),
            Self::ApplyActions { miss, .. } => m(miss, prop_type::APPLY_ACTIONS),
            Self::Match(_) => prop_type::MATCH,
            Self::Wildcards(_) => prop_type::WILDCARDS,
            Self::WriteSetfield { miss, .. } => m(miss, prop_type::WRITE_SETFIELD),
            Self::ApplySetfield { miss, .. } => m(miss, prop_type::APPLY_SETFIELD),
            Self::Experimenter { miss, .. } => m(miss, prop_type::EXPERIMENTER),
            Self::Unknown { ptype, .. } => *ptype,
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let ptype = r.peek_u16(0)?;
        let len = check_len(r.peek_u16(2)?, 4, BAD_LEN)?;
        let mut p = r.sub(len)?;
        r.skip(padding(len, 8))?;
        p.skip(4)?;
        let miss = ptype & 1 == 1;
        use prop_type as t;
        Ok(match ptype {
            t::INSTRUCTIONS | t::INSTRUCTIONS_MISS => Self::Instructions {
                miss,
                ids: TypeId::decode_list(&mut p)?,
            },
            t::NEXT_TABLES | t::NEXT_TABLES_MISS => Self::NextTables {
                miss,
                tables: p.take_rest().to_vec(),
            },
            t::WRITE_ACTIONS | t::WRITE_ACTIONS_MISS => Self::WriteActions {
                miss,
                ids: TypeId::decode_list(&mut p)?,
            },
            t::APPLY_ACTIONS | t::APPLY_ACTIONS_MISS => Self::ApplyActions {
                miss,
                ids: TypeId::decode_list(&mut p)?,
            },
            t::MATCH => Self::Match(decode_oxm_ids(&mut p)?),
            t::WILDCARDS => Self::Wildcards(decode_oxm_ids(&mut p)?),
            t::WRITE_SETFIELD | t::WRITE_SETFIELD_MISS => Self::WriteSetfield {
                miss,
                ids: decode_oxm_ids(&mut p)?,
            },
            t::APPLY_SETFIELD | t::APPLY_SETFIELD_MISS => Self::ApplySetfield {
                miss,
                ids: decode_oxm_ids(&mut p)?,
            },
            t::EXPERIMENTER | t::EXPERIMENTER_MISS => Self::Experimenter {
                // EXPERIMENTER is even-valued 0xfffe, EXPERIMENTER_MISS 0xffff.
                miss,
                experimenter: p.u32()?,
                exp_type: p.u32()?,
                data: p.take_rest().to_vec(),
            },
            _ => Self::Unknown {
                ptype,
                data: p.take_rest().to_vec(),
            },
        })
    }

    fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u16(self.prop_type());
        w.put_u16(0);
        match self {
            Self::Instructions { ids, .. }
            | Self::WriteActions { ids, .. }
            | Self::ApplyActions { ids, .. } => TypeId::encode_list(ids, w),
            Self::NextTables { tables, .. } => w.put_slice(tables),
            Self::Match(ids)
            | Self::Wildcards(ids)
            | Self::WriteSetfield { ids, .. }
            | Self::ApplySetfield { ids, .. } => encode_oxm_ids(ids, w),
            Self::Experimenter {
                experimenter,
                exp_type,
                data,
                ..
            } => {
                w.put_u32(*experimenter);
                w.put_u32(*exp_type);
                w.put_slice(data);
            }
            Self::Unknown { data, .. } => w.put_slice(data),
        }
        patch_u16(w, start, 2);
        pad_to(w, start, 8);
    }
}

/// `ofp_table_features`: one table's capabilities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableFeatures {
    /// Table id.
    pub table_id: u8,
    /// Table name (NUL-padded to 32 bytes on the wire).
    pub name: String,
    /// Metadata bits the table can match.
    pub metadata_match: u64,
    /// Metadata bits the table can write.
    pub metadata_write: u64,
    /// `OFPTC_*` configuration bits.
    pub config: u32,
    /// Maximum number of entries supported.
    pub max_entries: u32,
    /// Properties, in wire order.
    pub properties: Vec<TableFeatureProp>,
}

impl TableFeatures {
    /// Reads a list of table-features records filling all of `r`.  Errors
    /// are `OFPTFFC_BAD_LEN` (plus whatever the OXM-id lists report).
    pub fn decode_list(r: &mut Reader<'_>) -> Result<Vec<TableFeatures>, OfpError> {
        let mut r = Reader::new(r.take_rest(), BAD_LEN);
        let mut v = Vec::new();
        while !r.is_empty() {
            v.push(Self::decode(&mut r)?);
        }
        Ok(v)
    }

    /// Reads one table-features record.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, OfpError> {
        let len = check_len(
            r.peek_u16(0).map_err(|_| BAD_LEN)?,
            TABLE_FEATURES_LEN,
            BAD_LEN,
        )?;
        let mut b = r.sub_with(len, BAD_LEN)?;
        b.skip(2)?;
        let table_id = b.u8()?;
        b.skip(5)?;
        let name = read_str(&mut b, OFP_MAX_TABLE_NAME_LEN)?;
        let metadata_match = b.u64()?;
        let metadata_write = b.u64()?;
        let config = b.u32()?;
        let max_entries = b.u32()?;
        let mut properties = Vec::new();
        while !b.is_empty() {
            properties.push(TableFeatureProp::decode(&mut b)?);
        }
        Ok(Self {
            table_id,
            name,
            metadata_match,
            metadata_write,
            config,
            max_entries,
            properties,
        })
    }

    /// Writes this record.
    pub fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u16(0);
        w.put_u8(self.table_id);
        w.put_bytes(0, 5);
        put_str(w, &self.name, OFP_MAX_TABLE_NAME_LEN);
        w.put_u64(self.metadata_match);
        w.put_u64(self.metadata_write);
        w.put_u32(self.config);
        w.put_u32(self.max_entries);
        for p in &self.properties {
            p.encode(w);
        }
        patch_u16(w, start, 0);
    }

    /// Writes every record of `list`.
    pub fn encode_list(list: &[TableFeatures], w: &mut BytesMut) {
        for t in list {
            t.encode(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::oxm::BasicField;

    fn roundtrip(t: &TableFeatures) -> Vec<u8> {
        let mut w = BytesMut::new();
        t.encode(&mut w);
        let mut r = Reader::new(&w, BAD_LEN);
        let back = TableFeatures::decode(&mut r).unwrap();
        assert!(r.is_empty());
        assert_eq!(&back, t);
        w.to_vec()
    }

    fn sample() -> TableFeatures {
        TableFeatures {
            table_id: 3,
            name: "classifier".into(),
            metadata_match: u64::MAX,
            metadata_write: 0xff00,
            config: 3,
            max_entries: 1_000_000,
            properties: vec![
                TableFeatureProp::Instructions {
                    miss: false,
                    ids: vec![TypeId::new(1), TypeId::new(4)],
                },
                TableFeatureProp::Instructions {
                    miss: true,
                    ids: vec![TypeId {
                        id_type: 0xffff,
                        data: vec![0, 0, 0x23, 0x20],
                    }],
                },
                TableFeatureProp::NextTables {
                    miss: false,
                    tables: vec![4, 5, 6],
                },
                TableFeatureProp::NextTables {
                    miss: true,
                    tables: vec![],
                },
                TableFeatureProp::WriteActions {
                    miss: false,
                    ids: vec![TypeId::new(0)],
                },
                TableFeatureProp::WriteActions {
                    miss: true,
                    ids: vec![TypeId::new(0), TypeId::new(17)],
                },
                TableFeatureProp::ApplyActions {
                    miss: false,
                    ids: vec![TypeId::new(25)],
                },
                TableFeatureProp::ApplyActions {
                    miss: true,
                    ids: vec![],
                },
                TableFeatureProp::Match(vec![
                    OxmId::basic(BasicField::IN_PORT),
                    OxmId::basic(BasicField::ETH_DST),
                ]),
                TableFeatureProp::Wildcards(vec![OxmId::basic(BasicField::ETH_DST)]),
                TableFeatureProp::WriteSetfield {
                    miss: false,
                    ids: vec![OxmId::basic(BasicField::VLAN_VID)],
                },
                TableFeatureProp::WriteSetfield {
                    miss: true,
                    ids: vec![],
                },
                TableFeatureProp::ApplySetfield {
                    miss: false,
                    ids: vec![OxmId::basic(BasicField::IPV4_SRC)],
                },
                TableFeatureProp::ApplySetfield {
                    miss: true,
                    ids: vec![OxmId::basic(BasicField::IPV4_DST)],
                },
                TableFeatureProp::Experimenter {
                    miss: false,
                    experimenter: 0x2320,
                    exp_type: 7,
                    data: vec![1, 2, 3],
                },
                TableFeatureProp::Experimenter {
                    miss: true,
                    experimenter: 0x2320,
                    exp_type: 8,
                    data: vec![],
                },
                TableFeatureProp::Unknown {
                    ptype: 0x77,
                    data: vec![9; 5],
                },
            ],
        }
    }

    #[test]
    fn every_property_round_trips() {
        let t = sample();
        let bytes = roundtrip(&t);
        assert_eq!(bytes.len() % 8, 0);
        // Every property type appears with the right code.
        let types: Vec<u16> = t.properties.iter().map(|p| p.prop_type()).collect();
        assert_eq!(
            types,
            [
                0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 13, 14, 15, 0xfffe, 0xffff, 0x77
            ]
        );
    }

    #[test]
    fn property_padding_is_excluded_from_length() {
        let t = TableFeatures {
            properties: vec![TableFeatureProp::NextTables {
                miss: false,
                tables: vec![1, 2, 3],
            }],
            ..Default::default()
        };
        let bytes = roundtrip(&t);
        // Property at 64: type 2, length 7, then 3 tables and 1 pad byte.
        assert_eq!(&bytes[64..72], &[0, 2, 0, 7, 1, 2, 3, 0]);
        assert_eq!(bytes.len(), 72);
        assert_eq!(&bytes[0..2], &[0, 72]);
    }

    #[test]
    fn rejects_bad_lengths_with_tffc_bad_len() {
        let t = TableFeatures {
            properties: vec![TableFeatureProp::NextTables {
                miss: false,
                tables: vec![1, 2, 3],
            }],
            ..Default::default()
        };
        let mut w = BytesMut::new();
        t.encode(&mut w);
        // Property length past the record.
        let mut bad = w.to_vec();
        bad[67] = 12;
        let e = TableFeatures::decode(&mut Reader::new(&bad, BAD_LEN)).unwrap_err();
        assert!(e.is(
            ErrorType::TABLE_FEATURES_FAILED,
            table_features_failed::BAD_LEN
        ));
        // Property length below its header.
        let mut bad = w.to_vec();
        bad[67] = 3;
        let e = TableFeatures::decode(&mut Reader::new(&bad, BAD_LEN)).unwrap_err();
        assert!(e.is(
            ErrorType::TABLE_FEATURES_FAILED,
            table_features_failed::BAD_LEN
        ));
        // Record length below 64.
        let mut bad = w.to_vec();
        bad[1] = 8;
        let e = TableFeatures::decode_list(&mut Reader::new(&bad, BAD_LEN)).unwrap_err();
        assert!(e.is(
            ErrorType::TABLE_FEATURES_FAILED,
            table_features_failed::BAD_LEN
        ));
        // Missing property padding.
        let mut bad = w.to_vec();
        bad.truncate(71);
        bad[1] = 71;
        let e = TableFeatures::decode(&mut Reader::new(&bad, BAD_LEN)).unwrap_err();
        assert!(e.is(
            ErrorType::TABLE_FEATURES_FAILED,
            table_features_failed::BAD_LEN
        ));
        // An instruction id whose len runs past the property.
        let t = TableFeatures {
            properties: vec![TableFeatureProp::Instructions {
                miss: false,
                ids: vec![TypeId::new(1)],
            }],
            ..Default::default()
        };
        let mut w = BytesMut::new();
        t.encode(&mut w);
        let mut bad = w.to_vec();
        bad[71] = 9;
        let e = TableFeatures::decode(&mut Reader::new(&bad, BAD_LEN)).unwrap_err();
        assert!(e.is(
            ErrorType::TABLE_FEATURES_FAILED,
            table_features_failed::BAD_LEN
        ));
    }
}
