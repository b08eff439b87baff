//! OpenFlow 1.3 error registry and the error type every decoder returns.
//!
//! An [`OfpError`] is exactly what goes back to the peer in an `OFPT_ERROR`
//! message: an error type and a code from the tables below (OpenFlow 1.3.5,
//! section 7.4.4), plus a short static reason for logs.  Decoders never panic
//! on bad input; they return the pair the spec prescribes, and the caller
//! answers with it and the first bytes of the offending message.

use std::fmt;

/// An `ofp_error_type` value.  Open: unknown values survive decoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorType(pub u16);

impl ErrorType {
    /// Hello protocol failed.
    pub const HELLO_FAILED: Self = Self(0);
    /// Request was not understood.
    pub const BAD_REQUEST: Self = Self(1);
    /// Error in action description.
    pub const BAD_ACTION: Self = Self(2);
    /// Error in instruction list.
    pub const BAD_INSTRUCTION: Self = Self(3);
    /// Error in match.
    pub const BAD_MATCH: Self = Self(4);
    /// Problem modifying flow entry.
    pub const FLOW_MOD_FAILED: Self = Self(5);
    /// Problem modifying group entry.
    pub const GROUP_MOD_FAILED: Self = Self(6);
    /// Port mod request failed.
    pub const PORT_MOD_FAILED: Self = Self(7);
    /// Table mod request failed.
    pub const TABLE_MOD_FAILED: Self = Self(8);
    /// Queue operation failed.
    pub const QUEUE_OP_FAILED: Self = Self(9);
    /// Switch config request failed.
    pub const SWITCH_CONFIG_FAILED: Self = Self(10);
    /// Controller role request failed.
    pub const ROLE_REQUEST_FAILED: Self = Self(11);
    /// Error in meter.
    pub const METER_MOD_FAILED: Self = Self(12);
    /// Setting table features failed.
    pub const TABLE_FEATURES_FAILED: Self = Self(13);
    /// Experimenter error message.
    pub const EXPERIMENTER: Self = Self(0xffff);

    /// The OVS-style name (`OFPET_BAD_REQUEST`), or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "OFPET_HELLO_FAILED",
            1 => "OFPET_BAD_REQUEST",
            2 => "OFPET_BAD_ACTION",
            3 => "OFPET_BAD_INSTRUCTION",
            4 => "OFPET_BAD_MATCH",
            5 => "OFPET_FLOW_MOD_FAILED",
            6 => "OFPET_GROUP_MOD_FAILED",
            7 => "OFPET_PORT_MOD_FAILED",
            8 => "OFPET_TABLE_MOD_FAILED",
            9 => "OFPET_QUEUE_OP_FAILED",
            10 => "OFPET_SWITCH_CONFIG_FAILED",
            11 => "OFPET_ROLE_REQUEST_FAILED",
            12 => "OFPET_METER_MOD_FAILED",
            13 => "OFPET_TABLE_FEATURES_FAILED",
            0xffff => "OFPET_EXPERIMENTER",
            _ => return None,
        })
    }
}

impl fmt::Debug for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "ErrorType({:#x})", self.0),
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

macro_rules! codes {
    ($(#[$m:meta])* $modname:ident { $($(#[$cm:meta])* $name:ident = $val:expr,)* }) => {
        $(#[$m])*
        pub mod $modname {
            $($(#[$cm])* pub const $name: u16 = $val;)*
            /// The spec name of `code` within this error type.
            pub fn name(code: u16) -> Option<&'static str> {
                match code {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

codes!(
    /// Codes for [`ErrorType::HELLO_FAILED`] (`OFPHFC_*`).
    hello_failed {
        /// No compatible version.
        INCOMPATIBLE = 0,
        /// Permissions error.
        EPERM = 1,
    }
);
codes!(
    /// Codes for [`ErrorType::BAD_REQUEST`] (`OFPBRC_*`).
    bad_request {
        /// ofp_header.version not supported.
        BAD_VERSION = 0,
        /// ofp_header.type not supported.
        BAD_TYPE = 1,
        /// ofp_multipart_request.type not supported.
        BAD_MULTIPART = 2,
        /// Experimenter id not supported.
        BAD_EXPERIMENTER = 3,
        /// Experimenter type not supported.
        BAD_EXP_TYPE = 4,
        /// Permissions error.
        EPERM = 5,
        /// Wrong request length for type.
        BAD_LEN = 6,
        /// Specified buffer has already been used.
        BUFFER_EMPTY = 7,
        /// Specified buffer does not exist.
        BUFFER_UNKNOWN = 8,
        /// Specified table-id invalid or does not exist.
        BAD_TABLE_ID = 9,
        /// Denied because controller is slave.
        IS_SLAVE = 10,
        /// Invalid port.
        BAD_PORT = 11,
        /// Invalid packet in packet-out.
        BAD_PACKET = 12,
        /// Multipart request overflowed the assigned buffer.
        MULTIPART_BUFFER_OVERFLOW = 13,
    }
);
codes!(
    /// Codes for [`ErrorType::BAD_ACTION`] (`OFPBAC_*`).
    bad_action {
        /// Unknown or unsupported action type.
        BAD_TYPE = 0,
        /// Length problem in actions.
        BAD_LEN = 1,
        /// Unknown experimenter id specified.
        BAD_EXPERIMENTER = 2,
        /// Unknown action for experimenter id.
        BAD_EXP_TYPE = 3,
        /// Problem validating output port.
        BAD_OUT_PORT = 4,
        /// Bad action argument.
        BAD_ARGUMENT = 5,
        /// Permissions error.
        EPERM = 6,
        /// Can't handle this many actions.
        TOO_MANY = 7,
        /// Problem validating output queue.
        BAD_QUEUE = 8,
        /// Invalid group id in forward action.
        BAD_OUT_GROUP = 9,
        /// Action can't apply for this match, or Set-Field missing prerequisite.
        MATCH_INCONSISTENT = 10,
        /// Action order is unsupported for the action list in an Apply-Actions instruction.
        UNSUPPORTED_ORDER = 11,
        /// Actions uses an unsupported tag/encap.
        BAD_TAG = 12,
        /// Unsupported type in SET_FIELD action.
        BAD_SET_TYPE = 13,
        /// Length problem in SET_FIELD action.
        BAD_SET_LEN = 14,
        /// Bad argument in SET_FIELD action.
        BAD_SET_ARGUMENT = 15,
    }
);
codes!(
    /// Codes for [`ErrorType::BAD_INSTRUCTION`] (`OFPBIC_*`).
    bad_instruction {
        /// Unknown instruction.
        UNKNOWN_INST = 0,
        /// Switch or table does not support the instruction.
        UNSUP_INST = 1,
        /// Invalid Table-ID specified.
        BAD_TABLE_ID = 2,
        /// Metadata value unsupported by datapath.
        UNSUP_METADATA = 3,
        /// Metadata mask value unsupported by datapath.
        UNSUP_METADATA_MASK = 4,
        /// Unknown experimenter id specified.
        BAD_EXPERIMENTER = 5,
        /// Unknown instruction for experimenter id.
        BAD_EXP_TYPE = 6,
        /// Length problem in instructions.
        BAD_LEN = 7,
        /// Permissions error.
        EPERM = 8,
    }
);
codes!(
    /// Codes for [`ErrorType::BAD_MATCH`] (`OFPBMC_*`).
    bad_match {
        /// Unsupported match type specified by the match.
        BAD_TYPE = 0,
        /// Length problem in match.
        BAD_LEN = 1,
        /// Match uses an unsupported tag/encap.
        BAD_TAG = 2,
        /// Unsupported datalink addr mask.
        BAD_DL_ADDR_MASK = 3,
        /// Unsupported network addr mask.
        BAD_NW_ADDR_MASK = 4,
        /// Unsupported combination of fields masked or omitted in the match.
        BAD_WILDCARDS = 5,
        /// Unsupported field type in the match.
        BAD_FIELD = 6,
        /// Unsupported value in a match field.
        BAD_VALUE = 7,
        /// Unsupported mask specified in the match.
        BAD_MASK = 8,
        /// A prerequisite was not met.
        BAD_PREREQ = 9,
        /// A field type was duplicated.
        DUP_FIELD = 10,
        /// Permissions error.
        EPERM = 11,
    }
);
codes!(
    /// Codes for [`ErrorType::FLOW_MOD_FAILED`] (`OFPFMFC_*`).
    flow_mod_failed {
        /// Unspecified error.
        UNKNOWN = 0,
        /// Flow not added because table was full.
        TABLE_FULL = 1,
        /// Table does not exist.
        BAD_TABLE_ID = 2,
        /// Attempted to add overlapping flow with CHECK_OVERLAP flag set.
        OVERLAP = 3,
        /// Permissions error.
        EPERM = 4,
        /// Flow not added because of unsupported idle/hard timeout.
        BAD_TIMEOUT = 5,
        /// Unsupported or unknown command.
        BAD_COMMAND = 6,
        /// Unsupported or unknown flags.
        BAD_FLAGS = 7,
    }
);
codes!(
    /// Codes for [`ErrorType::GROUP_MOD_FAILED`] (`OFPGMFC_*`).
    group_mod_failed {
        /// Group not added because a group ADD attempted to replace an existing group.
        GROUP_EXISTS = 0,
        /// Group not added because Group specified is invalid.
        INVALID_GROUP = 1,
        /// Switch does not support unequal load sharing with select groups.
        WEIGHT_UNSUPPORTED = 2,
        /// The group table is full.
        OUT_OF_GROUPS = 3,
        /// The maximum number of action buckets for a group has been exceeded.
        OUT_OF_BUCKETS = 4,
        /// Switch does not support groups that forward to groups.
        CHAINING_UNSUPPORTED = 5,
        /// This group cannot watch the watch_port or watch_group specified.
        WATCH_UNSUPPORTED = 6,
        /// Group entry would cause a loop.
        LOOP = 7,
        /// Group not modified because a group MODIFY attempted to modify a non-existent group.
        UNKNOWN_GROUP = 8,
        /// Group not deleted because another group is forwarding to it.
        CHAINED_GROUP = 9,
        /// Unsupported or unknown group type.
        BAD_TYPE = 10,
        /// Unsupported or unknown command.
        BAD_COMMAND = 11,
        /// Error in bucket.
        BAD_BUCKET = 12,
        /// Error in watch port/group.
        BAD_WATCH = 13,
        /// Permissions error.
        EPERM = 14,
    }
);
codes!(
    /// Codes for [`ErrorType::PORT_MOD_FAILED`] (`OFPPMFC_*`).
    port_mod_failed {
        /// Specified port number does not exist.
        BAD_PORT = 0,
        /// Specified hardware address does not match the port number.
        BAD_HW_ADDR = 1,
        /// Specified config is invalid.
        BAD_CONFIG = 2,
        /// Specified advertise is invalid.
        BAD_ADVERTISE = 3,
        /// Permissions error.
        EPERM = 4,
    }
);
codes!(
    /// Codes for [`ErrorType::TABLE_MOD_FAILED`] (`OFPTMFC_*`).
    table_mod_failed {
        /// Specified table does not exist.
        BAD_TABLE = 0,
        /// Specified config is invalid.
        BAD_CONFIG = 1,
        /// Permissions error.
        EPERM = 2,
    }
);
codes!(
    /// Codes for [`ErrorType::QUEUE_OP_FAILED`] (`OFPQOFC_*`).
    queue_op_failed {
        /// Invalid port (or port does not exist).
        BAD_PORT = 0,
        /// Queue does not exist.
        BAD_QUEUE = 1,
        /// Permissions error.
        EPERM = 2,
    }
);
codes!(
    /// Codes for [`ErrorType::SWITCH_CONFIG_FAILED`] (`OFPSCFC_*`).
    switch_config_failed {
        /// Specified flags is invalid.
        BAD_FLAGS = 0,
        /// Specified miss send len is invalid.
        BAD_LEN = 1,
        /// Permissions error.
        EPERM = 2,
    }
);
codes!(
    /// Codes for [`ErrorType::ROLE_REQUEST_FAILED`] (`OFPRRFC_*`).
    role_request_failed {
        /// Stale message: old generation_id.
        STALE = 0,
        /// Controller role change unsupported.
        UNSUP = 1,
        /// Invalid role.
        BAD_ROLE = 2,
    }
);
codes!(
    /// Codes for [`ErrorType::METER_MOD_FAILED`] (`OFPMMFC_*`).
    meter_mod_failed {
        /// Unspecified error.
        UNKNOWN = 0,
        /// Meter not added because a Meter ADD attempted to replace an existing Meter.
        METER_EXISTS = 1,
        /// Meter not added because Meter specified is invalid.
        INVALID_METER = 2,
        /// Meter not modified because a Meter MODIFY attempted to modify a non-existent Meter.
        UNKNOWN_METER = 3,
        /// Unsupported or unknown command.
        BAD_COMMAND = 4,
        /// Flag configuration unsupported.
        BAD_FLAGS = 5,
        /// Rate unsupported.
        BAD_RATE = 6,
        /// Burst size unsupported.
        BAD_BURST = 7,
        /// Band unsupported.
        BAD_BAND = 8,
        /// Band value unsupported.
        BAD_BAND_VALUE = 9,
        /// No more meters available.
        OUT_OF_METERS = 10,
        /// The maximum number of properties for a meter has been exceeded.
        OUT_OF_BANDS = 11,
    }
);
codes!(
    /// Codes for [`ErrorType::TABLE_FEATURES_FAILED`] (`OFPTFFC_*`).
    table_features_failed {
        /// Specified table does not exist.
        BAD_TABLE = 0,
        /// Invalid metadata mask.
        BAD_METADATA = 1,
        /// Unknown property type.
        BAD_TYPE = 2,
        /// Length problem in properties.
        BAD_LEN = 3,
        /// Unsupported property value.
        BAD_ARGUMENT = 4,
        /// Permissions error.
        EPERM = 5,
    }
);

/// The spec name of `code` under `etype`, e.g. `Some("BAD_LEN")`.
pub fn code_name(etype: ErrorType, code: u16) -> Option<&'static str> {
    match etype.0 {
        0 => hello_failed::name(code),
        1 => bad_request::name(code),
        2 => bad_action::name(code),
        3 => bad_instruction::name(code),
        4 => bad_match::name(code),
        5 => flow_mod_failed::name(code),
        6 => group_mod_failed::name(code),
        7 => port_mod_failed::name(code),
        8 => table_mod_failed::name(code),
        9 => queue_op_failed::name(code),
        10 => switch_config_failed::name(code),
        11 => role_request_failed::name(code),
        12 => meter_mod_failed::name(code),
        13 => table_features_failed::name(code),
        _ => None,
    }
}

/// A protocol error: the `(type, code)` pair to send back in `OFPT_ERROR`.
///
/// `reason` is for humans (logs, tool output); it never goes on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OfpError {
    /// The error type.
    pub etype: ErrorType,
    /// The code within `etype`.
    pub code: u16,
    /// A short explanation of what was wrong.
    pub reason: &'static str,
}

impl OfpError {
    /// Builds an error from its parts.
    pub const fn new(etype: ErrorType, code: u16, reason: &'static str) -> Self {
        Self {
            etype,
            code,
            reason,
        }
    }
    /// `OFPET_BAD_REQUEST` with `code`.
    pub const fn bad_request(code: u16, reason: &'static str) -> Self {
        Self::new(ErrorType::BAD_REQUEST, code, reason)
    }
    /// `OFPET_BAD_ACTION` with `code`.
    pub const fn bad_action(code: u16, reason: &'static str) -> Self {
        Self::new(ErrorType::BAD_ACTION, code, reason)
    }
    /// `OFPET_BAD_INSTRUCTION` with `code`.
    pub const fn bad_instruction(code: u16, reason: &'static str) -> Self {
        Self::new(ErrorType::BAD_INSTRUCTION, code, reason)
    }
    /// `OFPET_BAD_MATCH` with `code`.
    pub const fn bad_match(code: u16, reason: &'static str) -> Self {
        Self::new(ErrorType::BAD_MATCH, code, reason)
    }
    /// `OFPET_BAD_REQUEST` / `OFPBRC_BAD_LEN`: the usual answer to a truncated message.
    pub const fn bad_len(reason: &'static str) -> Self {
        Self::bad_request(bad_request::BAD_LEN, reason)
    }
    /// True when this is `(etype, code)`, whatever the reason text.
    pub fn is(&self, etype: ErrorType, code: u16) -> bool {
        self.etype == etype && self.code == code
    }
}

impl fmt::Debug for OfpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for OfpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match code_name(self.etype, self.code) {
            Some(c) => write!(f, "{}/{}", self.etype, c)?,
            None => write!(f, "{}/{:#x}", self.etype, self.code)?,
        }
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for OfpError {}
