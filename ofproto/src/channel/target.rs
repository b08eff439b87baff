//! Controller target strings (`tcp:`, `ptcp:`, `unix:`, `punix:`, ...).

use std::path::PathBuf;

use crate::wire::consts::OFP_TCP_PORT;

/// A parsed controller target.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// `tcp:HOST[:PORT]`: connect to `host` (an IP address or a name;
    /// IPv6 in brackets) on `port`.
    Tcp {
        /// Host part.
        host: String,
        /// Port (6653 by default).
        port: u16,
    },
    /// `unix:PATH`: connect to a unix socket.
    Unix(PathBuf),
    /// `ptcp:[PORT][:IP]`: listen on `ip` (all IPv4 addresses by default)
    /// and `port` (6653 by default; 0 picks a free one).
    PTcp {
        /// Address to bind.
        ip: String,
        /// Port to bind.
        port: u16,
    },
    /// `punix:PATH`: listen on a unix socket.
    PUnix(PathBuf),
}

impl Target {
    /// Parses a target; the error is the readable reason (for the status).
    pub fn parse(s: &str) -> Result<Target, String> {
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("{s}: target has no connection type"))?;
        match scheme {
            "tcp" => {
                let (host, port) = split_host_port(rest, s)?;
                if host.is_empty() {
                    return Err(format!("{s}: tcp target needs a host"));
                }
                Ok(Target::Tcp {
                    host,
                    port: port.unwrap_or(OFP_TCP_PORT),
                })
            }
            "ptcp" => {
                // ptcp:[PORT][:IP]
                let (port_s, ip) = match rest.split_once(':') {
                    Some((p, ip)) => (p, ip.trim_start_matches('[').trim_end_matches(']')),
                    None => (rest, ""),
                };
                let port = if port_s.is_empty() {
                    OFP_TCP_PORT
                } else {
                    port_s
                        .parse::<u16>()
                        .map_err(|_| format!("{s}: bad port {port_s:?}"))?
                };
                let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
                ip.parse::<std::net::IpAddr>()
                    .map_err(|_| format!("{s}: bad address {ip:?}"))?;
                Ok(Target::PTcp {
                    ip: ip.to_string(),
                    port,
                })
            }
            "unix" | "punix" => {
                if rest.is_empty() {
                    return Err(format!("{s}: unix target needs a path"));
                }
                let p = PathBuf::from(rest);
                Ok(if scheme == "unix" {
                    Target::Unix(p)
                } else {
                    Target::PUnix(p)
                })
            }
            "ssl" | "pssl" => Err(format!(
                "{s}: SSL connections are not supported by rvs (use tcp: or ptcp:)"
            )),
            other => Err(format!("{s}: unknown connection type {other:?}")),
        }
    }

    /// Whether this target listens (passive) rather than connects.
    pub fn is_passive(&self) -> bool {
        matches!(self, Target::PTcp { .. } | Target::PUnix(_))
    }
}

/// Splits `HOST[:PORT]` (IPv6 as `[ADDR][:PORT]`).
fn split_host_port(rest: &str, whole: &str) -> Result<(String, Option<u16>), String> {
    let bad_port = |p: &str| format!("{whole}: bad port {p:?}");
    if let Some(after) = rest.strip_prefix('[') {
        let (host, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("{whole}: missing ']'"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad_port(p))?),
            None if tail.is_empty() => None,
            None => return Err(format!("{whole}: junk after address")),
        };
        return Ok((host.to_string(), port));
    }
    match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((
            h.to_string(),
            Some(p.parse::<u16>().map_err(|_| bad_port(p))?),
        )),
        _ => Ok((rest.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ovs_target_forms() {
        assert_eq!(
            Target::parse("tcp:127.0.0.1").unwrap(),
            Target::Tcp {
                host: "127.0.0.1".into(),
                port: 6653
            }
        );
        assert_eq!(
            Target::parse("tcp:10.0.0.1:6633").unwrap(),
            Target::Tcp {
                host: "10.0.0.1".into(),
                port: 6633
            }
        );
        assert_eq!(
            Target::parse("tcp:[::1]:7000").unwrap(),
            Target::Tcp {
                host: "::1".into(),
                port: 7000
            }
        );
        assert_eq!(
            Target::parse("ptcp:").unwrap(),
            Target::PTcp {
                ip: "0.0.0.0".into(),
                port: 6653
            }
        );
        assert_eq!(
            Target::parse("ptcp:0:127.0.0.1").unwrap(),
            Target::PTcp {
                ip: "127.0.0.1".into(),
                port: 0
            }
        );
        assert_eq!(
            Target::parse("punix:/tmp/x.sock").unwrap(),
            Target::PUnix("/tmp/x.sock".into())
        );
        assert!(Target::parse("unix:/a").unwrap() == Target::Unix("/a".into()));
        assert!(Target::parse("ssl:1.2.3.4").unwrap_err().contains("SSL"));
        assert!(Target::parse("pssl:").unwrap_err().contains("SSL"));
        assert!(Target::parse("tcp:1.2.3.4:99999").is_err());
        assert!(Target::parse("foo:bar").is_err());
        assert!(Target::parse("nocolon").is_err());
        assert!(Target::parse("ptcp:1:notanip").is_err());
    }
}
