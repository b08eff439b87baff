//! The test upcall that forwards port 1 <-> port 2 and installs in_port-only
//! megaflows.

use datapath::actions::DpAction;
use datapath::flow::{Field, FlowKey, FlowMask};
use datapath::packet::Packet;
use datapath::upcall::{Upcall, UpcallError, UpcallResult};

/// Port 1 <-> port 2.
#[derive(Debug)]
pub struct Crossover;

impl Upcall for Crossover {
    fn upcall(
        &self,
        pkt: &Packet,
        _key: &FlowKey,
        out: &mut UpcallResult,
    ) -> Result<(), UpcallError> {
        let other = match pkt.in_port {
            1 => 2,
            2 => 1,
            _ => return Err(UpcallError::Failed("unknown port".into())),
        };
        out.actions.push(DpAction::Output(other));
        let mut mask = FlowMask::CATCHALL;
        mask.set_exact(Field::InPort);
        out.mask = mask;
        out.install = true;
        Ok(())
    }
}
