//! `vlog/list` and `vlog/set` over `tracing-subscriber`'s reloadable
//! filter.
//!
//! OVS log "modules" are our crates' tracing targets; OVS levels map to
//! tracing levels (`emer`/`err` -> error, `warn`, `info`, `dbg` -> debug,
//! `off`).  Destinations (`console`, `syslog`, `file`) share one filter in
//! rvs, so a destination word is accepted and applies to all; syslog is
//! never used and always shows `OFF`.  A word containing `=` is passed to
//! the filter as a raw `tracing` directive (`ofproto::xlate=trace`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;

use crate::unixctl::UnixctlServer;

/// A log filter that can be read and replaced at run time.
pub trait LogFilter: Send + Sync {
    /// The current filter directives (`info,ofproto=debug`).
    fn directives(&self) -> String;
    /// Replaces the filter with `directives`.
    fn set_directives(&self, directives: &str) -> Result<(), String>;
}

impl<S: 'static> LogFilter for tracing_subscriber::reload::Handle<EnvFilter, S> {
    fn directives(&self) -> String {
        self.with_current(|f| f.to_string()).unwrap_or_default()
    }
    fn set_directives(&self, directives: &str) -> Result<(), String> {
        let f = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        self.reload(f).map_err(|e| e.to_string())
    }
}

/// The modules `vlog/list` shows (tracing targets of rvs's crates).
pub const MODULES: &[&str] = &["datapath", "ofproto", "ovsdb", "rvs_tools", "rvs_vswitchd"];

/// An OVS level word as a tracing level name.
fn level_of(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_lowercase().as_str() {
        "off" => "off",
        "emer" | "err" | "error" => "error",
        "warn" => "warn",
        "info" => "info",
        "dbg" | "debug" => "debug",
        "trace" => "trace",
        _ => return None,
    })
}

/// A tracing level name as OVS prints it.
fn ovs_level(l: &str) -> &'static str {
    match l {
        "off" => "OFF",
        "error" => "ERR",
        "warn" => "WARN",
        "info" => "INFO",
        "debug" => "DBG",
        "trace" => "DBG",
        _ => "INFO",
    }
}

/// The level for `module` given filter directives: the most specific
/// `target=level` prefix match, else the bare default, else `error`
/// (tracing's default when nothing is set is to log errors).
fn level_for(directives: &str, module: &str) -> String {
    let mut default = "error".to_owned();
    let mut best: Option<(usize, String)> = None;
    for d in directives
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        match d.split_once('=') {
            None => {
                if let Some(l) = level_of(d) {
                    default = l.to_owned();
                }
            }
            Some((t, l)) => {
                let Some(l) = level_of(l) else { continue };
                let matches = module == t || module.starts_with(&format!("{t}::"));
                if matches && best.as_ref().is_none_or(|(n, _)| t.len() > *n) {
                    best = Some((t.len(), l.to_owned()));
                }
            }
        }
    }
    best.map(|(_, l)| l).unwrap_or(default)
}

/// `vlog/list` text for `directives`, in OVS's table layout.
pub fn vlog_list(directives: &str) -> String {
    let mut s = String::from("                 console    syslog    file\n");
    s.push_str("                 -------    ------    ------\n");
    for m in MODULES {
        let l = ovs_level(&level_for(directives, m));
        s.push_str(&format!(
            "{m:<16}  {l:>4}       {:>4}       {l:>4}\n",
            "OFF"
        ));
    }
    s
}

/// Applies `vlog/set` words to `directives`, returning the new filter.
pub fn apply_vlog_set(directives: &str, args: &[String]) -> Result<String, String> {
    let mut default: Option<String> = None;
    let mut per: BTreeMap<String, String> = BTreeMap::new();
    for d in directives
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        match d.split_once('=') {
            None => default = Some(d.to_owned()),
            Some((t, l)) => {
                per.insert(t.to_owned(), l.to_owned());
            }
        }
    }
    let words: Vec<&str> = args
        .iter()
        .flat_map(|a| a.split([' ', ',']))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        // OVS: `vlog/set` alone sets every module to debug.
        return Ok("debug".to_owned());
    }
    for w in words {
        if w.contains('=') {
            let (t, l) = w.split_once('=').unwrap_or((w, ""));
            per.insert(t.to_owned(), l.to_owned());
            continue;
        }
        let mut module: Option<&str> = None;
        let mut level: Option<&str> = None;
        for part in w.split(':') {
            if let Some(l) = level_of(part) {
                level = Some(l);
            } else if matches!(
                part.to_ascii_lowercase().as_str(),
                "console" | "syslog" | "file" | "any"
            ) {
                // A destination (or ANY module): applies to all.
            } else if MODULES.contains(&part) || part.contains("::") {
                module = Some(part);
            } else if part.eq_ignore_ascii_case("pattern") {
                return Err("log patterns are not supported by rvs".to_owned());
            } else {
                return Err(format!("unknown module \"{part}\""));
            }
        }
        let level = level.unwrap_or("debug");
        match module {
            Some(m) => {
                per.insert(m.to_owned(), level.to_owned());
            }
            None => {
                default = Some(level.to_owned());
                per.clear();
            }
        }
    }
    let mut parts: Vec<String> = default.into_iter().collect();
    parts.extend(per.into_iter().map(|(t, l)| format!("{t}={l}")));
    Ok(parts.join(","))
}

/// Registers `vlog/list` and `vlog/set`.  With `filter` `None` the levels
/// are read from tracing's global maximum and cannot be changed
/// (`vlog/set` answers an error).
pub fn register_vlog(server: &mut UnixctlServer, filter: Option<Arc<dyn LogFilter>>) {
    let f = filter.clone();
    server.register(
        "vlog/list",
        "",
        0,
        0,
        Arc::new(move |_: &[String]| {
            let d = match &f {
                Some(f) => f.directives(),
                None => tracing::level_filters::LevelFilter::current()
                    .to_string()
                    .to_ascii_lowercase(),
            };
            Ok(vlog_list(&d))
        }),
    );
    let lock = Arc::new(Mutex::new(()));
    server.register(
        "vlog/set",
        "{spec | PATTERN:destination:pattern}",
        0,
        usize::MAX,
        Arc::new(move |args: &[String]| {
            let Some(f) = &filter else {
                return Err("log levels cannot be changed in this process\n".to_owned());
            };
            let _g = lock.lock().map_err(|_| "vlog lock poisoned".to_owned())?;
            let new = apply_vlog_set(&f.directives(), args)?;
            f.set_directives(&new)?;
            Ok(String::new())
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn set_translates_ovs_specs() {
        assert_eq!(
            apply_vlog_set("info", &s(&["ofproto:dbg"])).unwrap(),
            "info,ofproto=debug"
        );
        assert_eq!(
            apply_vlog_set("info,ofproto=debug", &s(&["ANY:console:warn"])).unwrap(),
            "warn"
        );
        assert_eq!(
            apply_vlog_set("info", &s(&["datapath:file:err"])).unwrap(),
            "info,datapath=error"
        );
        assert_eq!(
            apply_vlog_set("info", &s(&["ofproto::xlate=trace"])).unwrap(),
            "info,ofproto::xlate=trace"
        );
        assert!(apply_vlog_set("info", &s(&["nosuch:dbg"])).is_err());
    }

    #[test]
    fn list_shows_ovs_table() {
        let t = vlog_list("info,ofproto=debug");
        assert!(t.starts_with("                 console    syslog    file\n"));
        assert!(
            t.contains("\nofproto            DBG        OFF        DBG\n"),
            "{t}"
        );
        assert!(
            t.contains("\ndatapath          INFO        OFF       INFO\n"),
            "{t}"
        );
    }

    #[test]
    fn reload_handle_round_trip() {
        let (layer, handle) = tracing_subscriber::reload::Layer::<
            EnvFilter,
            tracing_subscriber::Registry,
        >::new(EnvFilter::new("info"));
        let _keep = layer;
        let f: Arc<dyn LogFilter> = Arc::new(handle);
        let mut srv = UnixctlServer::new();
        register_vlog(&mut srv, Some(f.clone()));
        srv.dispatch("vlog/set", &s(&["ovsdb:dbg"])).unwrap();
        assert_eq!(f.directives(), "ovsdb=debug,info");
        let list = srv.dispatch("vlog/list", &[]).unwrap();
        assert!(
            list.contains("\novsdb              DBG        OFF        DBG\n"),
            "{list}"
        );
    }
}
