//! OpenFlow 1.3 actions (OpenFlow 1.3.5, section 7.2.5).
//!
//! Every action starts with `type: u16, len: u16`; `len` covers the whole
//! action and is a multiple of 8.  Fixed-size actions must have exactly
//! their size.  Decoding follows the order Open vSwitch uses: first the
//! length frame (`OFPBAC_BAD_LEN`), then the type (`OFPBAC_BAD_TYPE`), then
//! the type's own size and arguments.
//!
//! Padding inside fixed-size actions is ignored when decoding and written as
//! zeros, so any action with zero padding re-encodes to the same bytes.  In
//! Set-Field the padding after the OXM must be zero (`OFPBAC_BAD_SET_ARGUMENT`,
//! as Open vSwitch answers).
//!
//! Experimenter actions (Nicira extensions that `ovs-ofctl` sends for
//! `resubmit`, `learn`, `ct`, ...) are kept opaque: whether they are
//! supported is decided where the flow is installed.
//!
//! Stateless argument checks match Open vSwitch's decoder: an output port
//! must be a port number below `OFPP_MAX` or one of the reserved ports
//! IN_PORT..LOCAL (`OFPBAC_BAD_OUT_PORT`; `OFPP_ANY` is not a port), and
//! push-VLAN/MPLS/PBB must carry an ethertype of their kind
//! (`OFPBAC_BAD_ARGUMENT`).  Whether a port, group or queue exists is the
//! switch's business, not the codec's.

use bytes::{BufMut, BytesMut};

use super::codec::{Reader, pad_to, patch_u16};
use super::consts;
use super::error::{OfpError, bad_action};
use super::oxm::{OFPVID_PRESENT, OxmClass, OxmField, OxmHeader};

/// An `ofp_action_type` value.  Open: unknown values can be named.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionType(pub u16);

impl ActionType {
    /// Output to switch port.
    pub const OUTPUT: Self = Self(0);
    /// Copy TTL "outwards" from next-to-outermost to outermost.
    pub const COPY_TTL_OUT: Self = Self(11);
    /// Copy TTL "inwards" from outermost to next-to-outermost.
    pub const COPY_TTL_IN: Self = Self(12);
    /// MPLS TTL.
    pub const SET_MPLS_TTL: Self = Self(15);
    /// Decrement MPLS TTL.
    pub const DEC_MPLS_TTL: Self = Self(16);
    /// Push a new VLAN tag.
    pub const PUSH_VLAN: Self = Self(17);
    /// Pop the outer VLAN tag.
    pub const POP_VLAN: Self = Self(18);
    /// Push a new MPLS tag.
    pub const PUSH_MPLS: Self = Self(19);
    /// Pop the outer MPLS tag.
    pub const POP_MPLS: Self = Self(20);
    /// Set queue id when outputting to a port.
    pub const SET_QUEUE: Self = Self(21);
    /// Apply group.
    pub const GROUP: Self = Self(22);
    /// IP TTL.
    pub const SET_NW_TTL: Self = Self(23);
    /// Decrement IP TTL.
    pub const DEC_NW_TTL: Self = Self(24);
    /// Set a header field using OXM TLV format.
    pub const SET_FIELD: Self = Self(25);
    /// Push a new PBB service tag (I-TAG).
    pub const PUSH_PBB: Self = Self(26);
    /// Pop the outer PBB service tag (I-TAG).
    pub const POP_PBB: Self = Self(27);
    /// Experimenter action.
    pub const EXPERIMENTER: Self = Self(0xffff);

    /// Every action type OpenFlow 1.3 defines, in code order.
    pub const ALL: [Self; 17] = [
        Self::OUTPUT,
        Self::COPY_TTL_OUT,
        Self::COPY_TTL_IN,
        Self::SET_MPLS_TTL,
        Self::DEC_MPLS_TTL,
        Self::PUSH_VLAN,
        Self::POP_VLAN,
        Self::PUSH_MPLS,
        Self::POP_MPLS,
        Self::SET_QUEUE,
        Self::GROUP,
        Self::SET_NW_TTL,
        Self::DEC_NW_TTL,
        Self::SET_FIELD,
        Self::PUSH_PBB,
        Self::POP_PBB,
        Self::EXPERIMENTER,
    ];

    /// The spec name (`OFPAT_OUTPUT`), or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "OFPAT_OUTPUT",
            11 => "OFPAT_COPY_TTL_OUT",
            12 => "OFPAT_COPY_TTL_IN",
            15 => "OFPAT_SET_MPLS_TTL",
            16 => "OFPAT_DEC_MPLS_TTL",
            17 => "OFPAT_PUSH_VLAN",
            18 => "OFPAT_POP_VLAN",
            19 => "OFPAT_PUSH_MPLS",
            20 => "OFPAT_POP_MPLS",
            21 => "OFPAT_SET_QUEUE",
            22 => "OFPAT_GROUP",
            23 => "OFPAT_SET_NW_TTL",
            24 => "OFPAT_DEC_NW_TTL",
            25 => "OFPAT_SET_FIELD",
            26 => "OFPAT_PUSH_PBB",
            27 => "OFPAT_POP_PBB",
            0xffff => "OFPAT_EXPERIMENTER",
            _ => return None,
        })
    }

    /// The exact wire length of this type's action, or `None` when the
    /// length varies (set-field, experimenter) or the type is unknown.
    pub fn fixed_len(self) -> Option<usize> {
        match self.0 {
            0 => Some(16),
            11 | 12 | 15..=24 | 26 | 27 => Some(8),
            _ => None,
        }
    }
}

impl std::fmt::Debug for ActionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "ActionType({:#x})", self.0),
        }
    }
}

/// An OpenFlow 1.3 action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Output to `port`; `max_len` bytes go to the controller.
    Output {
        /// Output port (or a reserved port, `consts::port`).
        port: u32,
        /// Max bytes to send when `port` is the controller.
        max_len: u16,
    },
    /// Copy TTL outwards.
    CopyTtlOut,
    /// Copy TTL inwards.
    CopyTtlIn,
    /// Set the MPLS TTL.
    SetMplsTtl(u8),
    /// Decrement the MPLS TTL.
    DecMplsTtl,
    /// Push a VLAN tag with this ethertype (0x8100 or 0x88a8).
    PushVlan(u16),
    /// Pop the outer VLAN tag.
    PopVlan,
    /// Push an MPLS label with this ethertype (0x8847 or 0x8848).
    PushMpls(u16),
    /// Pop the outer MPLS label; the argument is the new ethertype.
    PopMpls(u16),
    /// Set the queue for output.
    SetQueue(u32),
    /// Process through this group.
    Group(u32),
    /// Set the IP TTL.
    SetNwTtl(u8),
    /// Decrement the IP TTL.
    DecNwTtl,
    /// Set a header field: an unmasked basic field, or an opaque entry of
    /// another class.  Decoding accepts only unmasked settable fields with a
    /// valid value (`vlan_vid` with `OFPVID_PRESENT`); encoding writes the
    /// entry as given, so a masked field comes out in the OpenFlow 1.5 form.
    SetField(OxmField),
    /// Push a PBB service tag with this ethertype (0x88e7).
    PushPbb(u16),
    /// Pop the outer PBB service tag.
    PopPbb,
    /// An experimenter action, kept as it was on the wire.  `data` is
    /// everything after the experimenter id, padding included.  Encoding
    /// pads `data` with zeros to a multiple of 8.
    Experimenter {
        /// The experimenter id (0x00002320 for Nicira).
        experimenter: u32,
        /// The bytes after the experimenter id.
        data: Vec<u8>,
    },
}

const BAD_LEN: OfpError = OfpError::bad_action(bad_action::BAD_LEN, "action length invalid");
const SET_LEN: OfpError =
    OfpError::bad_action(bad_action::BAD_SET_LEN, "set-field OXM length invalid");

fn set_arg(reason: &'static str) -> OfpError {
    OfpError::bad_action(bad_action::BAD_SET_ARGUMENT, reason)
}

impl Action {
    /// This action's type code.
    pub fn action_type(&self) -> ActionType {
        match self {
            Self::Output { .. } => ActionType::OUTPUT,
            Self::CopyTtlOut => ActionType::COPY_TTL_OUT,
            Self::CopyTtlIn => ActionType::COPY_TTL_IN,
            Self::SetMplsTtl(_) => ActionType::SET_MPLS_TTL,
            Self::DecMplsTtl => ActionType::DEC_MPLS_TTL,
            Self::PushVlan(_) => ActionType::PUSH_VLAN,
            Self::PopVlan => ActionType::POP_VLAN,
            Self::PushMpls(_) => ActionType::PUSH_MPLS,
            Self::PopMpls(_) => ActionType::POP_MPLS,
            Self::SetQueue(_) => ActionType::SET_QUEUE,
            Self::Group(_) => ActionType::GROUP,
            Self::SetNwTtl(_) => ActionType::SET_NW_TTL,
            Self::DecNwTtl => ActionType::DEC_NW_TTL,
            Self::SetField(_) => ActionType::SET_FIELD,
            Self::PushPbb(_) => ActionType::PUSH_PBB,
            Self::PopPbb => ActionType::POP_PBB,
            Self::Experimenter { .. } => ActionType::EXPERIMENTER,
        }
    }

    /// Reads an action list filling all of `r`.  Errors are
    /// `OFPET_BAD_ACTION`, whatever `r`'s own short-input error is.
    pub fn decode_list(r: &mut Reader<'_>) -> Result<Vec<Action>, OfpError> {
        let mut r = Reader::new(r.take_rest(), BAD_LEN);
        let mut list = Vec::with_capacity(r.remaining() / 8);
        while !r.is_empty() {
            list.push(Self::decode(&mut r)?);
        }
        Ok(list)
    }

    /// Reads one action.  Errors are `OFPET_BAD_ACTION`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Action, OfpError> {
        let atype = ActionType(r.peek_u16(0).map_err(|_| BAD_LEN)?);
        let len = usize::from(r.peek_u16(2).map_err(|_| BAD_LEN)?);
        if len < 8 || len % 8 != 0 || len > r.remaining() {
            return Err(BAD_LEN);
        }
        let mut b = r.sub_with(len, BAD_LEN)?;
        b.skip(4)?;
        if atype.name().is_none() {
            return Err(OfpError::bad_action(
                bad_action::BAD_TYPE,
                "unknown action type",
            ));
        }
        if atype.fixed_len().is_some_and(|n| n != len) {
            return Err(BAD_LEN);
        }
        Ok(match atype {
            ActionType::OUTPUT => {
                let port = b.u32()?;
                let max_len = b.u16()?;
                if port == consts::port::ANY
                    || (consts::port::MAX..consts::port::IN_PORT).contains(&port)
                {
                    return Err(OfpError::bad_action(
                        bad_action::BAD_OUT_PORT,
                        "invalid output port",
                    ));
                }
                Self::Output { port, max_len }
            }
            ActionType::COPY_TTL_OUT => Self::CopyTtlOut,
            ActionType::COPY_TTL_IN => Self::CopyTtlIn,
            ActionType::SET_MPLS_TTL => Self::SetMplsTtl(b.u8()?),
            ActionType::DEC_MPLS_TTL => Self::DecMplsTtl,
            ActionType::PUSH_VLAN => Self::PushVlan(ethertype(&mut b, &[0x8100, 0x88a8])?),
            ActionType::POP_VLAN => Self::PopVlan,
            ActionType::PUSH_MPLS => Self::PushMpls(ethertype(&mut b, &[0x8847, 0x8848])?),
            ActionType::POP_MPLS => Self::PopMpls(b.u16()?),
            ActionType::SET_QUEUE => Self::SetQueue(b.u32()?),
            ActionType::GROUP => Self::Group(b.u32()?),
            ActionType::SET_NW_TTL => Self::SetNwTtl(b.u8()?),
            ActionType::DEC_NW_TTL => Self::DecNwTtl,
            ActionType::PUSH_PBB => Self::PushPbb(ethertype(&mut b, &[0x88e7])?),
            ActionType::POP_PBB => Self::PopPbb,
            ActionType::SET_FIELD => Self::SetField(decode_set_field(&mut b)?),
            ActionType::EXPERIMENTER => {
                let experimenter = b.u32()?;
                Self::Experimenter {
                    experimenter,
                    data: b.take_rest().to_vec(),
                }
            }
            _ => {
                return Err(OfpError::bad_action(
                    bad_action::BAD_TYPE,
                    "unknown action type",
                ));
            }
        })
    }

    /// Writes every action of `list`, in order.
    pub fn encode_list(list: &[Action], w: &mut BytesMut) {
        for a in list {
            a.encode(w);
        }
    }

    /// Bytes [`Action::encode_list`] writes for `list`.
    pub fn list_len(list: &[Action]) -> usize {
        list.iter().map(Action::encoded_len).sum()
    }

    /// Writes this action, padded to a multiple of 8.
    pub fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u16(self.action_type().0);
        w.put_u16(0);
        match self {
            Self::Output { port, max_len } => {
                w.put_u32(*port);
                w.put_u16(*max_len);
            }
            Self::CopyTtlOut
            | Self::CopyTtlIn
            | Self::DecMplsTtl
            | Self::PopVlan
            | Self::DecNwTtl
            | Self::PopPbb => {}
            Self::SetMplsTtl(t) | Self::SetNwTtl(t) => w.put_u8(*t),
            Self::PushVlan(e) | Self::PushMpls(e) | Self::PopMpls(e) | Self::PushPbb(e) => {
                w.put_u16(*e)
            }
            Self::SetQueue(v) | Self::Group(v) => w.put_u32(*v),
            Self::SetField(f) => f.encode(w),
            Self::Experimenter { experimenter, data } => {
                w.put_u32(*experimenter);
                w.put_slice(data);
            }
        }
        if w.len() - start < 8 {
            w.put_bytes(0, 8 - (w.len() - start));
        }
        pad_to(w, start, 8);
        patch_u16(w, start, 2);
    }

    /// Bytes [`Action::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        let body = match self {
            Self::Output { .. } => 12,
            Self::SetField(f) => f.encoded_len(),
            Self::Experimenter { data, .. } => 4 + data.len(),
            _ => 4,
        };
        (4 + body).div_ceil(8) * 8
    }
}

/// Reads the ethertype of a push action, which must be one of `allowed`.
fn ethertype(b: &mut Reader<'_>, allowed: &[u16]) -> Result<u16, OfpError> {
    let e = b.u16()?;
    if allowed.contains(&e) {
        Ok(e)
    } else {
        Err(OfpError::bad_action(
            bad_action::BAD_ARGUMENT,
            "ethertype not allowed for this push",
        ))
    }
}

/// Reads the OXM of a Set-Field action from `b` (the action body after
/// type and length) and checks it: one unmasked basic field that may be
/// written with a valid value, or an opaque entry of another class; the
/// rest of the action is zero padding.
fn decode_set_field(b: &mut Reader<'_>) -> Result<OxmField, OfpError> {
    let header = OxmHeader(b.u32().map_err(|_| SET_LEN)?);
    let oxm_len = usize::from(header.length());
    // The action is exactly the OXM padded to 8: 4 (type, len) + 4 + oxm_len.
    if (8 + oxm_len).div_ceil(8) * 8 != b.remaining() + 8 {
        return Err(SET_LEN);
    }
    let payload = b.bytes(oxm_len).map_err(|_| SET_LEN)?;
    if b.take_rest().iter().any(|&x| x != 0) {
        return Err(set_arg("non-zero padding after set-field OXM"));
    }
    let Some(field) = header.basic_field() else {
        if header.class() == OxmClass::EXPERIMENTER && oxm_len < 4 {
            return Err(SET_LEN);
        }
        return Ok(OxmField::Opaque {
            header,
            payload: payload.to_vec(),
        });
    };
    let Some(info) = field.info() else {
        return Err(OfpError::bad_action(
            bad_action::BAD_SET_TYPE,
            "unknown set-field field",
        ));
    };
    let width = usize::from(info.width);
    if oxm_len != if header.has_mask() { 2 * width } else { width } {
        return Err(SET_LEN);
    }
    if header.has_mask() {
        // Open vSwitch answers ONF experimenter error 4250 (BAD_SET_MASK),
        // which OpenFlow 1.3 itself lacks; BAD_SET_ARGUMENT is the nearest
        // standard code.
        return Err(set_arg("masked set-field needs OpenFlow 1.5"));
    }
    if !info.settable {
        return Err(set_arg("set-field on a read-only field"));
    }
    let value = payload
        .iter()
        .fold(0u128, |acc, &x| (acc << 8) | u128::from(x));
    if value & !info.value_mask() != 0 {
        return Err(set_arg("set-field value out of range"));
    }
    if field == super::oxm::BasicField::VLAN_VID && value & u128::from(OFPVID_PRESENT) == 0 {
        return Err(set_arg("set-field vlan_vid without OFPVID_PRESENT"));
    }
    Ok(OxmField::Basic {
        field,
        value,
        mask: None,
    })
}

#[cfg(test)]
#[path = "action_tests.rs"]
mod tests;
