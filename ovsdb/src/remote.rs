//! OVS connection method strings: `punix:PATH`, `ptcp:PORT[:IP]` (passive)
//! and `unix:PATH`, `tcp:IP:PORT` (active), as ovsdb-server(1) and
//! ovs-vsctl(8) spell them. IPv6 addresses are written in brackets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// A parsed connection method.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remote {
    /// Listen on a Unix domain socket.
    PUnix(PathBuf),
    /// Listen on TCP.
    PTcp(SocketAddr),
    /// Connect to a Unix domain socket.
    Unix(PathBuf),
    /// Connect over TCP.
    Tcp(SocketAddr),
}

/// A connection method string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: unsupported or malformed remote")]
pub struct RemoteError(pub String);

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// Splits "A:B" where A may be a bracketed IPv6 address.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('[') {
        let end = s.find(']')?;
        let rest = s.get(end + 1..)?;
        Some((s.get(..=end)?, rest.strip_prefix(':')?))
    } else {
        s.rsplit_once(':')
    }
}

impl Remote {
    /// Parses a connection method.
    pub fn parse(s: &str) -> Result<Remote, RemoteError> {
        let err = || RemoteError(s.to_string());
        let (kind, rest) = s.split_once(':').ok_or_else(err)?;
        match kind {
            "punix" | "unix" if !rest.is_empty() => {
                let p = PathBuf::from(rest);
                Ok(if kind == "punix" {
                    Remote::PUnix(p)
                } else {
                    Remote::Unix(p)
                })
            }
            "ptcp" => {
                // PORT or PORT:IP (IP may be bracketed IPv6, which contains colons).
                let (port, ip) = match rest.split_once(':') {
                    Some((p, ip)) => (p, parse_ip(ip).ok_or_else(err)?),
                    None => (rest, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                };
                let port: u16 = port.parse().map_err(|_| err())?;
                Ok(Remote::PTcp(SocketAddr::new(ip, port)))
            }
            "tcp" => {
                let (host, port) = split_host_port(rest).ok_or_else(err)?;
                let ip = parse_ip(host).ok_or_else(err)?;
                let port: u16 = port.parse().map_err(|_| err())?;
                Ok(Remote::Tcp(SocketAddr::new(ip, port)))
            }
            _ => Err(err()),
        }
    }

    /// True for the listening (`p...`) forms.
    pub fn is_passive(&self) -> bool {
        matches!(self, Remote::PUnix(_) | Remote::PTcp(_))
    }

    /// True for Unix-socket forms (which get no inactivity probe by
    /// default, like OVS).
    pub fn is_unix(&self) -> bool {
        matches!(self, Remote::PUnix(_) | Remote::Unix(_))
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn ip(a: &SocketAddr) -> String {
            match a.ip() {
                IpAddr::V4(v) => v.to_string(),
                IpAddr::V6(v) => format!("[{v}]"),
            }
        }
        match self {
            Remote::PUnix(p) => write!(f, "punix:{}", p.display()),
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::PTcp(a) => write!(f, "ptcp:{}:{}", a.port(), ip(a)),
            Remote::Tcp(a) => write!(f, "tcp:{}:{}", ip(a), a.port()),
        }
    }
}

impl std::str::FromStr for Remote {
    type Err = RemoteError;
    fn from_str(s: &str) -> Result<Remote, RemoteError> {
        Remote::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ovs_forms() {
        assert_eq!(
            Remote::parse("punix:/tmp/db.sock").unwrap(),
            Remote::PUnix("/tmp/db.sock".into())
        );
        assert_eq!(
            Remote::parse("unix:db.sock").unwrap(),
            Remote::Unix("db.sock".into())
        );
        assert_eq!(
            Remote::parse("ptcp:6640").unwrap(),
            Remote::PTcp("0.0.0.0:6640".parse().unwrap())
        );
        assert_eq!(
            Remote::parse("ptcp:6640:127.0.0.1").unwrap(),
            Remote::PTcp("127.0.0.1:6640".parse().unwrap())
        );
        assert_eq!(
            Remote::parse("ptcp:6640:[::1]").unwrap(),
            Remote::PTcp("[::1]:6640".parse().unwrap())
        );
        assert_eq!(
            Remote::parse("tcp:127.0.0.1:6640").unwrap(),
            Remote::Tcp("127.0.0.1:6640".parse().unwrap())
        );
        assert_eq!(
            Remote::parse("tcp:[::1]:6640").unwrap(),
            Remote::Tcp("[::1]:6640".parse().unwrap())
        );
        for r in ["punix:/a", "ptcp:1:10.0.0.1", "tcp:[::1]:7", "unix:x"] {
            assert_eq!(Remote::parse(r).unwrap().to_string(), r);
        }
    }

    #[test]
    fn rejects_malformed_forms() {
        for r in [
            "",
            "punix:",
            "ssl:1.2.3.4:6640",
            "ptcp:x",
            "ptcp:70000",
            "tcp:1.2.3.4",
            "tcp:host:1",
            "db:Open_vSwitch,Open_vSwitch,manager_options",
        ] {
            assert!(Remote::parse(r).is_err(), "{r}");
        }
    }
}
