//! OpenFlow 1.3 instructions (OpenFlow 1.3.5, section 7.2.4).
//!
//! Every instruction starts with `type: u16, len: u16`; `len` covers the
//! whole instruction and is a multiple of 8.  Goto-Table, Clear-Actions and
//! Meter are 8 bytes, Write-Metadata 24; Write-/Apply-Actions are 8 bytes
//! followed by an action list, whose errors surface as `OFPET_BAD_ACTION`.
//!
//! An instruction list holds at most one instruction of each type.  A
//! repeated type is answered with `OFPBIC_UNSUP_INST`: OpenFlow 1.3 has no
//! "duplicate instruction" code (`OFPBIC_DUP_INST` is 1.4+), and Open
//! vSwitch answers 1.3 peers with the ONF experimenter error 2600, which
//! [`OfpError`] cannot carry; UNSUP_INST ("switch or table does not support
//! the instruction") is the nearest standard code.  Two experimenter
//! instructions count as the same type only with the same experimenter id.
//!
//! Padding is ignored when decoding and written as zeros.  Experimenter
//! instructions are kept opaque; table ids, meter ids and metadata masks are
//! checked where the flow is installed, not here.

use bytes::{BufMut, BytesMut};

use super::action::Action;
use super::codec::{Reader, pad_to, patch_u16};
use super::error::{OfpError, bad_instruction};

/// An `ofp_instruction_type` value.  Open: unknown values can be named.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstructionType(pub u16);

impl InstructionType {
    /// Setup the next table in the lookup pipeline.
    pub const GOTO_TABLE: Self = Self(1);
    /// Setup the metadata field for use later in pipeline.
    pub const WRITE_METADATA: Self = Self(2);
    /// Write the action(s) onto the datapath action set.
    pub const WRITE_ACTIONS: Self = Self(3);
    /// Applies the action(s) immediately.
    pub const APPLY_ACTIONS: Self = Self(4);
    /// Clears all actions from the datapath action set.
    pub const CLEAR_ACTIONS: Self = Self(5);
    /// Apply meter (rate limiter).
    pub const METER: Self = Self(6);
    /// Experimenter instruction.
    pub const EXPERIMENTER: Self = Self(0xffff);

    /// Every instruction type OpenFlow 1.3 defines, in code order.
    pub const ALL: [Self; 7] = [
        Self::GOTO_TABLE,
        Self::WRITE_METADATA,
        Self::WRITE_ACTIONS,
        Self::APPLY_ACTIONS,
        Self::CLEAR_ACTIONS,
        Self::METER,
        Self::EXPERIMENTER,
    ];

    /// The spec name (`OFPIT_GOTO_TABLE`), or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "OFPIT_GOTO_TABLE",
            2 => "OFPIT_WRITE_METADATA",
            3 => "OFPIT_WRITE_ACTIONS",
            4 => "OFPIT_APPLY_ACTIONS",
            5 => "OFPIT_CLEAR_ACTIONS",
            6 => "OFPIT_METER",
            0xffff => "OFPIT_EXPERIMENTER",
            _ => return None,
        })
    }
}

impl std::fmt::Debug for InstructionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "InstructionType({:#x})", self.0),
        }
    }
}

/// An OpenFlow 1.3 instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Instruction {
    /// Continue in this table.
    GotoTable(u8),
    /// Write `metadata` under `mask` into the metadata register.
    WriteMetadata {
        /// The bits to write.
        metadata: u64,
        /// Which bits to write.
        mask: u64,
    },
    /// Merge these actions into the action set.
    WriteActions(Vec<Action>),
    /// Apply these actions now.
    ApplyActions(Vec<Action>),
    /// Empty the action set.
    ClearActions,
    /// Send the packet through this meter.
    Meter(u32),
    /// An experimenter instruction, kept as it was on the wire.  `data` is
    /// everything after the experimenter id; encoding pads it to 8.
    Experimenter {
        /// The experimenter id.
        experimenter: u32,
        /// The bytes after the experimenter id.
        data: Vec<u8>,
    },
}

const BAD_LEN: OfpError =
    OfpError::bad_instruction(bad_instruction::BAD_LEN, "instruction length invalid");

impl Instruction {
    /// This instruction's type code.
    pub fn instruction_type(&self) -> InstructionType {
        match self {
            Self::GotoTable(_) => InstructionType::GOTO_TABLE,
            Self::WriteMetadata { .. } => InstructionType::WRITE_METADATA,
            Self::WriteActions(_) => InstructionType::WRITE_ACTIONS,
            Self::ApplyActions(_) => InstructionType::APPLY_ACTIONS,
            Self::ClearActions => InstructionType::CLEAR_ACTIONS,
            Self::Meter(_) => InstructionType::METER,
            Self::Experimenter { .. } => InstructionType::EXPERIMENTER,
        }
    }

    /// Reads an instruction list filling all of `r`, and rejects a repeated
    /// instruction type (see the module docs).  Errors are
    /// `OFPET_BAD_INSTRUCTION`, or `OFPET_BAD_ACTION` from an action list.
    pub fn decode_list(r: &mut Reader<'_>) -> Result<Vec<Instruction>, OfpError> {
        let mut r = Reader::new(r.take_rest(), BAD_LEN);
        let mut list: Vec<Instruction> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while !r.is_empty() {
            let inst = Self::decode(&mut r)?;
            if !seen.insert(kind(&inst)) {
                return Err(OfpError::bad_instruction(
                    bad_instruction::UNSUP_INST,
                    "instruction type repeated in one list",
                ));
            }
            list.push(inst);
        }
        Ok(list)
    }

    /// Reads one instruction.
    pub fn decode(r: &mut Reader<'_>) -> Result<Instruction, OfpError> {
        let itype = InstructionType(r.peek_u16(0).map_err(|_| BAD_LEN)?);
        let len = usize::from(r.peek_u16(2).map_err(|_| BAD_LEN)?);
        if len < 8 || len % 8 != 0 || len > r.remaining() {
            return Err(BAD_LEN);
        }
        let mut b = r.sub_with(len, BAD_LEN)?;
        b.skip(4)?;
        let fixed = match itype {
            InstructionType::GOTO_TABLE
            | InstructionType::CLEAR_ACTIONS
            | InstructionType::METER => Some(8),
            InstructionType::WRITE_METADATA => Some(24),
            InstructionType::WRITE_ACTIONS
            | InstructionType::APPLY_ACTIONS
            | InstructionType::EXPERIMENTER => None,
            _ => {
                return Err(OfpError::bad_instruction(
                    bad_instruction::UNKNOWN_INST,
                    "unknown instruction type",
                ));
            }
        };
        if fixed.is_some_and(|n| n != len) {
            return Err(BAD_LEN);
        }
        Ok(match itype {
            InstructionType::GOTO_TABLE => Self::GotoTable(b.u8()?),
            InstructionType::WRITE_METADATA => {
                b.skip(4)?;
                let metadata = b.u64()?;
                let mask = b.u64()?;
                Self::WriteMetadata { metadata, mask }
            }
            InstructionType::WRITE_ACTIONS => {
                b.skip(4)?;
                Self::WriteActions(Action::decode_list(&mut b)?)
            }
            InstructionType::APPLY_ACTIONS => {
                b.skip(4)?;
                Self::ApplyActions(Action::decode_list(&mut b)?)
            }
            InstructionType::CLEAR_ACTIONS => Self::ClearActions,
            InstructionType::METER => Self::Meter(b.u32()?),
            _ => {
                let experimenter = b.u32()?;
                Self::Experimenter {
                    experimenter,
                    data: b.take_rest().to_vec(),
                }
            }
        })
    }

    /// Writes every instruction of `list`, in order.
    pub fn encode_list(list: &[Instruction], w: &mut BytesMut) {
        for i in list {
            i.encode(w);
        }
    }

    /// Bytes [`Instruction::encode_list`] writes for `list`.
    pub fn list_len(list: &[Instruction]) -> usize {
        list.iter().map(Instruction::encoded_len).sum()
    }

    /// Writes this instruction, padded to a multiple of 8.
    pub fn encode(&self, w: &mut BytesMut) {
        let start = w.len();
        w.put_u16(self.instruction_type().0);
        w.put_u16(0);
        match self {
            Self::GotoTable(t) => w.put_u8(*t),
            Self::WriteMetadata { metadata, mask } => {
                w.put_u32(0);
                w.put_u64(*metadata);
                w.put_u64(*mask);
            }
            Self::WriteActions(list) | Self::ApplyActions(list) => {
                w.put_u32(0);
                Action::encode_list(list, w);
            }
            Self::ClearActions => {}
            Self::Meter(m) => w.put_u32(*m),
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

    /// Bytes [`Instruction::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::GotoTable(_) | Self::ClearActions | Self::Meter(_) => 8,
            Self::WriteMetadata { .. } => 24,
            Self::WriteActions(list) | Self::ApplyActions(list) => 8 + Action::list_len(list),
            Self::Experimenter { data, .. } => (8 + data.len()).div_ceil(8) * 8,
        }
    }
}

/// What the one-per-type rule compares: the type, and for experimenter
/// instructions the experimenter id.
fn kind(i: &Instruction) -> (u16, u32) {
    match i {
        Instruction::Experimenter { experimenter, .. } => {
            (InstructionType::EXPERIMENTER.0, *experimenter)
        }
        _ => (i.instruction_type().0, 0),
    }
}

#[cfg(test)]
#[path = "instruction_tests.rs"]
mod tests;
