//! Meter syntax of `ovs-ofctl` (the "Meter Syntax" section of
//! ovs-ofctl(8)): `meter=N,kbps|pktps[,burst][,stats],bands=type=drop,rate=R[,burst_size=B]...`.

use ofproto::wire::message::{MeterMod, meter_mod_command};
use ofproto::wire::multipart::MeterBand;

/// All meters (`OFPM_ALL`).
pub const OFPM_ALL: u32 = 0xffff_ffff;
const OFPM_MAX: u32 = 0xffff_0000;

fn blank_tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', ' ', '\t', '\r', '\n'])
        .filter(|t| !t.is_empty())
}

/// Splits OVS-style: names separated by `=`, `,` or blanks; values by `,`
/// or blanks.
fn name_values(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in blank_tokens(s) {
        // `a=b` gives two items; `a` alone one.
        let mut parts = t.splitn(2, '=');
        if let Some(a) = parts.next() {
            if !a.is_empty() {
                out.push(a.to_owned());
            }
        }
        if let Some(b) = parts.next() {
            if !b.is_empty() {
                out.push(b.to_owned());
            }
        }
    }
    out
}

fn parse_u32(v: &str) -> Result<u32, String> {
    let r = if let Some(h) = v.strip_prefix("0x") {
        u32::from_str_radix(h, 16)
    } else {
        v.parse()
    };
    r.map_err(|_| format!("invalid numeric format {v}"))
}

/// Parses a meter for `command` (`None`: only `meter=N`, as for the
/// dump and delete commands).
pub fn parse_meter(text: &str, command: Option<u16>) -> Result<MeterMod, String> {
    let with_bands = matches!(
        command,
        Some(meter_mod_command::ADD) | Some(meter_mod_command::MODIFY)
    );
    let mut mm = MeterMod {
        command: command.unwrap_or(meter_mod_command::DELETE),
        flags: 0,
        meter_id: 0,
        bands: Vec::new(),
    };
    let (head, band_text) = if with_bands {
        let at = text.find("band").ok_or("must specify bands")?;
        let eq = text[at..].find('=').ok_or("must specify bands")?;
        (&text[..at], Some(&text[at + eq + 1..]))
    } else {
        (text, None)
    };
    let items = name_values(head);
    let mut it = items.iter();
    while let Some(name) = it.next() {
        match name.as_str() {
            "kbps" if with_bands => mm.flags |= 1,
            "pktps" if with_bands => mm.flags |= 2,
            "burst" if with_bands => mm.flags |= 4,
            "stats" if with_bands => mm.flags |= 8,
            _ => {
                let value = it
                    .next()
                    .ok_or_else(|| format!("field {name} missing value"))?;
                if name != "meter" {
                    return Err(format!("unknown keyword {name}"));
                }
                mm.meter_id = match value.as_str() {
                    "all" => OFPM_ALL,
                    "controller" => 0xffff_fffe,
                    "slowpath" => 0xffff_fffd,
                    v => {
                        let id = parse_u32(v)?;
                        if id == 0 || id > OFPM_MAX {
                            return Err(format!("invalid value for {name}"));
                        }
                        id
                    }
                };
            }
        }
    }
    if mm.meter_id == 0 {
        return Err("must specify 'meter'".into());
    }
    if with_bands && mm.flags & 3 == 0 {
        return Err("meter must specify either 'kbps' or 'pktps'".into());
    }
    if let Some(bt) = band_text {
        // (type, rate, burst, prec)
        let mut bands: Vec<(u16, u32, u32, u8)> = Vec::new();
        let items = name_values(bt);
        let mut it = items.iter();
        while let Some(name) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| format!("field {name} missing value"))?;
            if name == "type" {
                let t = match value.as_str() {
                    "drop" => 1,
                    "dscp_remark" => 2,
                    v => return Err(format!("field {name} unknown value {v}")),
                };
                bands.push((t, 0, 0, 0));
                continue;
            }
            let Some(band) = bands.last_mut() else {
                return Err("band must start with the 'type' keyword".into());
            };
            match name.as_str() {
                "rate" => band.1 = parse_u32(value)?,
                "burst_size" => band.2 = parse_u32(value)?,
                "prec_level" => {
                    band.3 = value
                        .parse()
                        .map_err(|_| format!("invalid {name} \"{value}\""))?
                }
                _ => return Err(format!("unknown keyword {name}")),
            }
        }
        if bands.is_empty() {
            return Err("meter must have bands".into());
        }
        for &(t, rate, burst, prec) in &bands {
            if t == 2 && prec == 0 {
                return Err("'dscp_remark' band must have 'prec_level'".into());
            }
            if t != 2 && prec != 0 {
                return Err("Only 'dscp_remark' band may have 'prec_level'".into());
            }
            if rate == 0 {
                return Err("band must have 'rate'".into());
            }
            if mm.flags & 4 != 0 && burst == 0 {
                return Err("band must have 'burst_size' when 'burst' flag is set".into());
            }
            if mm.flags & 4 == 0 && burst != 0 {
                return Err("band may have 'burst_size' only when 'burst' flag is set".into());
            }
            mm.bands.push(if t == 1 {
                MeterBand::Drop {
                    rate,
                    burst_size: burst,
                }
            } else {
                MeterBand::DscpRemark {
                    rate,
                    burst_size: burst,
                    prec_level: prec,
                }
            });
        }
    }
    Ok(mm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::print;

    #[test]
    fn meters_print_back_like_ovs() {
        let m = parse_meter(
            "meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100",
            Some(meter_mod_command::ADD),
        )
        .unwrap();
        assert_eq!(
            print::meter_config(m.flags, m.meter_id, &m.bands),
            "meter=1 kbps burst stats bands=\ntype=drop rate=1000 burst_size=100\n"
        );
        let m = parse_meter(
            "meter=2,pktps,bands=type=dscp_remark,rate=100,prec_level=1",
            Some(meter_mod_command::ADD),
        )
        .unwrap();
        assert_eq!(
            print::meter_config(m.flags, m.meter_id, &m.bands),
            "meter=2 pktps bands=\ntype=dscp_remark rate=100 prec_level=1\n"
        );
    }

    #[test]
    fn meter_errors() {
        let add = Some(meter_mod_command::ADD);
        assert_eq!(
            parse_meter("meter=1,kbps", add).unwrap_err(),
            "must specify bands"
        );
        assert_eq!(
            parse_meter("meter=1,bands=type=drop,rate=1", add).unwrap_err(),
            "meter must specify either 'kbps' or 'pktps'"
        );
        assert_eq!(parse_meter("1", None).unwrap_err(), "field 1 missing value");
        assert_eq!(parse_meter("meter=all", None).unwrap().meter_id, OFPM_ALL);
    }
}
