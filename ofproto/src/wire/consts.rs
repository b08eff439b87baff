//! Protocol constants of OpenFlow 1.3 that several modules share.

/// The OpenFlow 1.3 wire version.
pub const OFP_VERSION: u8 = 0x04;
/// Size of `ofp_header`.
pub const OFP_HEADER_LEN: usize = 8;
/// `OFP_NO_BUFFER`: the packet is not buffered on the switch.
pub const OFP_NO_BUFFER: u32 = 0xffff_ffff;
/// Default TCP port for OpenFlow.
pub const OFP_TCP_PORT: u16 = 6653;
/// Largest possible OpenFlow message.
pub const OFP_MAX_MESSAGE_LEN: usize = 0xffff;
/// Maximum length of a port name, including the NUL.
pub const OFP_MAX_PORT_NAME_LEN: usize = 16;
/// Maximum length of a table name, including the NUL.
pub const OFP_MAX_TABLE_NAME_LEN: usize = 32;
/// Length of the description strings in `ofp_desc`.
pub const DESC_STR_LEN: usize = 256;
/// Length of the serial number string in `ofp_desc`.
pub const SERIAL_NUM_LEN: usize = 32;

/// Reserved and maximum port numbers (`ofp_port_no`).
pub mod port {
    /// Largest number of a physical or logical port.
    pub const MAX: u32 = 0xffff_ff00;
    /// Send the packet out the input port.
    pub const IN_PORT: u32 = 0xffff_fff8;
    /// Submit the packet to the first flow table (packet-out only).
    pub const TABLE: u32 = 0xffff_fff9;
    /// Forward using the non-OpenFlow pipeline.
    pub const NORMAL: u32 = 0xffff_fffa;
    /// Flood using the non-OpenFlow pipeline.
    pub const FLOOD: u32 = 0xffff_fffb;
    /// All standard ports except the input port.
    pub const ALL: u32 = 0xffff_fffc;
    /// Send to the controller.
    pub const CONTROLLER: u32 = 0xffff_fffd;
    /// The switch's local networking stack.
    pub const LOCAL: u32 = 0xffff_fffe;
    /// Wildcard: no port.
    pub const ANY: u32 = 0xffff_ffff;
}

/// Reserved group numbers (`ofp_group`).
pub mod group {
    /// Last usable group number.
    pub const MAX: u32 = 0xffff_ff00;
    /// All groups (group delete, group stats).
    pub const ALL: u32 = 0xffff_fffc;
    /// Wildcard group.
    pub const ANY: u32 = 0xffff_ffff;
}

/// Reserved meter numbers (`ofp_meter`).
pub mod meter {
    /// Last usable meter.
    pub const MAX: u32 = 0xffff_0000;
    /// Meter for slow datapath.
    pub const SLOWPATH: u32 = 0xffff_fffd;
    /// Meter for controller connection.
    pub const CONTROLLER: u32 = 0xffff_fffe;
    /// All meters (stats and delete).
    pub const ALL: u32 = 0xffff_ffff;
}

/// Reserved table numbers.
pub mod table {
    /// Last usable table number.
    pub const MAX: u8 = 0xfe;
    /// Wildcard table (flow stats, flow delete).
    pub const ALL: u8 = 0xff;
}

/// Controller maximum length value meaning "send the whole packet, no buffer".
pub const OFPCML_NO_BUFFER: u16 = 0xffff;
/// Controller maximum length ceiling.
pub const OFPCML_MAX: u16 = 0xffe5;
