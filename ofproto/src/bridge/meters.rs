//! Meter token buckets shared with the PMD threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use datapath::actions::MeterVerdict;

use crate::switch::{BandAction, Meter, Switch};
use crate::xlate::MeterDecider;

/// The meters packets go through: one mutex per meter (PMD threads
/// metering different meters do not contend), the map behind a
/// reader/writer lock changed only by `METER_MOD`.  The bridge keeps the
/// [`Switch`]'s meters (configuration, what stats replies read) in step:
/// [`MeterTable::sync_from`] after a meter change, and
/// [`MeterTable::counters_to`] before the switch reports or changes
/// meters.
#[derive(Debug, Default)]
pub(crate) struct MeterTable {
    meters: RwLock<HashMap<u32, Arc<Mutex<Meter>>>>,
}

impl MeterTable {
    /// Takes the switch's meter set: new or reconfigured meters start
    /// from the switch's copy (full buckets), unchanged ones keep their
    /// buckets, deleted ones go.
    pub(crate) fn sync_from(&self, sw: &Switch) {
        let Ok(mut m) = self.meters.write() else {
            return;
        };
        m.retain(|id, _| sw.meters().contains_key(id));
        for (id, cfg) in sw.meters() {
            let same = m.get(id).is_some_and(|cur| {
                cur.lock()
                    .is_ok_and(|c| c.flags == cfg.flags && c.bands == cfg.bands)
            });
            if !same {
                m.insert(*id, Arc::new(Mutex::new(cfg.clone())));
            }
        }
    }

    /// Copies the live counters into the switch's meters.
    pub(crate) fn counters_to(&self, sw: &mut Switch) {
        let Ok(m) = self.meters.read() else {
            return;
        };
        for (id, live) in m.iter() {
            let (Some(dst), Ok(src)) = (sw.meter_mut(*id), live.lock()) else {
                continue;
            };
            if dst.flags == src.flags && dst.bands == src.bands {
                dst.packet_in_count = src.packet_in_count;
                dst.byte_in_count = src.byte_in_count;
                dst.band_counters = src.band_counters.clone();
            }
        }
    }
}

impl MeterDecider for MeterTable {
    fn decide(&self, meter: u32, bytes: u64, now_ms: u64) -> MeterVerdict {
        let m = self.meters.read().ok().and_then(|m| m.get(&meter).cloned());
        // Translation only emits existing meters; one deleted since
        // drops, as a missing meter does in translation.
        let Some(m) = m else {
            return MeterVerdict::Drop;
        };
        let Ok(mut m) = m.lock() else {
            return MeterVerdict::Drop;
        };
        match m.admit(now_ms, bytes) {
            None => MeterVerdict::Pass,
            Some(BandAction::Drop) => MeterVerdict::Drop,
            Some(BandAction::DscpRemark { prec_level }) => MeterVerdict::Remark(prec_level),
        }
    }
}
