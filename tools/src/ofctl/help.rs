//! Usage text: the overall `--help` and one paragraph per command.

/// (name, usage arguments, min args, max args, description)
const COMMANDS: &[(&str, &str, usize, usize, &str)] = &[
    (
        "show",
        "SWITCH",
        1,
        1,
        "show OpenFlow information (features, ports, configuration)",
    ),
    ("dump-desc", "SWITCH", 1, 1, "print switch description"),
    ("dump-tables", "SWITCH", 1, 1, "print table statistics"),
    (
        "dump-table-features",
        "SWITCH",
        1,
        1,
        "print table features",
    ),
    ("dump-ports", "SWITCH [PORT]", 1, 2, "print port statistics"),
    (
        "dump-ports-desc",
        "SWITCH [PORT]",
        1,
        2,
        "print port descriptions",
    ),
    (
        "mod-port",
        "SWITCH IFACE ACT",
        3,
        3,
        "modify port behavior: ACT is up|down|receive|no-receive|forward|no-forward|packet-in|no-packet-in",
    ),
    (
        "get-frags",
        "SWITCH",
        1,
        1,
        "print fragment handling behavior",
    ),
    (
        "set-frags",
        "SWITCH FRAG_MODE",
        2,
        2,
        "set fragment handling behavior (normal, drop, reassemble)",
    ),
    (
        "dump-flows",
        "SWITCH [FLOW]",
        1,
        2,
        "print all flow entries, or those matching FLOW (--no-stats, --sort[=FIELD], --rsort[=FIELD])",
    ),
    (
        "dump-aggregate",
        "SWITCH [FLOW]",
        1,
        2,
        "print aggregate flow statistics",
    ),
    (
        "add-flow",
        "SWITCH FLOW",
        2,
        2,
        "add flow described by FLOW",
    ),
    (
        "add-flows",
        "SWITCH FILE",
        2,
        2,
        "add flows from FILE (`-` for standard input), streamed with barriers",
    ),
    (
        "mod-flows",
        "SWITCH FLOW",
        2,
        2,
        "modify actions of matching FLOWs (--strict: exact match and priority)",
    ),
    (
        "del-flows",
        "SWITCH [FLOW]",
        1,
        2,
        "delete matching FLOWs, all flows without FLOW (--strict: exact match and priority)",
    ),
    (
        "replace-flows",
        "SWITCH FILE",
        2,
        2,
        "replace flows with those in FILE (--readd: re-add unchanged flows too)",
    ),
    (
        "diff-flows",
        "SOURCE1 SOURCE2",
        2,
        2,
        "compare flows from two sources (switches or files); exit status 2 if they differ",
    ),
    (
        "add-group",
        "SWITCH GROUP",
        2,
        2,
        "add group described by GROUP",
    ),
    ("add-groups", "SWITCH FILE", 2, 2, "add groups from FILE"),
    ("mod-group", "SWITCH GROUP", 2, 2, "modify specific group"),
    (
        "del-groups",
        "SWITCH [GROUP]",
        1,
        2,
        "delete matching GROUPs (group_id=N), all groups without GROUP",
    ),
    (
        "dump-groups",
        "SWITCH [GROUP]",
        1,
        2,
        "print group descriptions",
    ),
    (
        "dump-group-stats",
        "SWITCH [GROUP]",
        1,
        2,
        "print group statistics",
    ),
    (
        "dump-group-features",
        "SWITCH",
        1,
        1,
        "print group features (printed as a hex dump)",
    ),
    (
        "add-meter",
        "SWITCH METER",
        2,
        2,
        "add meter described by METER",
    ),
    ("mod-meter", "SWITCH METER", 2, 2, "modify specific METER"),
    (
        "del-meter",
        "SWITCH [METER]",
        1,
        2,
        "delete METER (meter=N), all meters without METER",
    ),
    (
        "del-meters",
        "SWITCH [METER]",
        1,
        2,
        "delete meters (same as del-meter)",
    ),
    (
        "dump-meter",
        "SWITCH [METER]",
        1,
        2,
        "print METER configuration",
    ),
    (
        "dump-meters",
        "SWITCH [METER]",
        1,
        2,
        "print meter configuration",
    ),
    (
        "meter-stats",
        "SWITCH [METER]",
        1,
        2,
        "print meter statistics",
    ),
    ("meter-features", "SWITCH", 1, 1, "print meter features"),
    (
        "packet-out",
        "SWITCH \"in_port=PORT packet=HEX actions=...\"",
        2,
        64,
        "execute actions on a packet (also the old form: SWITCH IN_PORT ACTIONS PACKET...)",
    ),
    (
        "monitor",
        "SWITCH [MISSLEN]",
        1,
        2,
        "print packet-ins, flow-removed and port-status messages as they arrive (MISSLEN sets miss_send_len)",
    ),
    ("probe", "TARGET", 1, 1, "probe whether TARGET is up"),
    (
        "ping",
        "TARGET [N]",
        1,
        2,
        "latency of 10 echo requests with N-byte payloads (default 64)",
    ),
    (
        "ofp-print",
        "HEX | -",
        1,
        64,
        "print an OpenFlow message given as hex (`-`: read it from stdin)",
    ),
    ("help", "", 0, 64, "print this help"),
    (
        "list-commands",
        "",
        0,
        64,
        "list the commands and their arguments",
    ),
];

/// `ovs-ofctl` commands that `rvs-ofctl` knows of but does not implement
/// (OpenFlow 1.0/1.4/1.5 features, Nicira extensions, file tools).
pub(crate) const NOT_IMPLEMENTED: &[&str] = &[
    "snoop",
    "dump-table-desc",
    "queue-stats",
    "queue-get-config",
    "mod-table",
    "benchmark",
    "dump-ipfix-bridge",
    "dump-ipfix-flow",
    "ct-flush-zone",
    "ct-flush",
    "ofp-parse",
    "ofp-parse-pcap",
    "insert-buckets",
    "remove-buckets",
    "bundle",
    "add-tlv-map",
    "del-tlv-map",
    "dump-tlv-map",
    "parse-flow",
    "parse-flows",
    "compose-packet",
    "parse-packet",
];

/// The overall usage text.
pub(crate) const USAGE: &str = "\
rvs-ofctl: OpenFlow 1.3 switch management utility (ovs-ofctl compatible)
usage: rvs-ofctl [OPTIONS] COMMAND [ARG...]

OpenFlow switch commands:
  show SWITCH                 show OpenFlow information
  dump-desc SWITCH            print switch description
  dump-tables SWITCH          print table stats
  dump-table-features SWITCH  print table features
  dump-ports SWITCH [PORT]    print port statistics
  dump-ports-desc SWITCH [PORT]  print port descriptions
  mod-port SWITCH IFACE ACT   modify port behavior
  get-frags SWITCH            print fragment handling behavior
  set-frags SWITCH FRAG_MODE  set fragment handling behavior
  dump-flows SWITCH           print all flow entries
  dump-flows SWITCH FLOW      print matching FLOWs
  dump-aggregate SWITCH       print aggregate flow statistics
  dump-aggregate SWITCH FLOW  print aggregate stats for FLOWs
  add-flow SWITCH FLOW        add flow described by FLOW
  add-flows SWITCH FILE       add flows from FILE (- for stdin)
  mod-flows SWITCH FLOW       modify actions of matching FLOWs
  del-flows SWITCH [FLOW]     delete matching FLOWs
  replace-flows SWITCH FILE   replace flows with those in FILE
  diff-flows SOURCE1 SOURCE2  compare flows from two sources
  packet-out SWITCH \"in_port=P packet=HEX actions=...\"
                              execute ACTIONS on PACKET
  monitor SWITCH [MISSLEN]    print packets received from SWITCH
  add-group SWITCH GROUP      add group described by GROUP
  add-groups SWITCH FILE      add group from FILE
  mod-group SWITCH GROUP      modify specific group
  del-groups SWITCH [GROUP]   delete matching GROUPs
  dump-groups SWITCH [GROUP]  print group description
  dump-group-stats SWITCH [GROUP]  print group statistics
  dump-group-features SWITCH  print group features
  add-meter SWITCH METER      add meter described by METER
  mod-meter SWITCH METER      modify specific METER
  del-meter(s) SWITCH [METER] delete METER (all meters without METER)
  dump-meter(s) SWITCH [METER]  print METER configuration
  meter-stats SWITCH [METER]  print meter statistics
  meter-features SWITCH       print meter features

OpenFlow switch and controller commands:
  probe TARGET                probe whether TARGET is up
  ping TARGET [N]             latency of N-byte echos

Other commands:
  ofp-print HEX               decode and print an OpenFlow message
  help                        print this help
  list-commands               list commands with their arguments
  COMMAND --help              help for one command

SWITCH is a bridge name (socket <rundir>/BRIDGE.mgmt, rundir from
$OVS_RUNDIR, default /var/run/rvs), a socket path, unix:PATH or
tcp:IP[:PORT] (port 6653 by default).

Options:
  -O, --protocols=OpenFlow13  accepted; OpenFlow 1.3 is the only version
  --strict                    use strict match for mod-flows, del-flows
  --no-stats                  dump-flows: omit statistics
  --sort[=FIELD], --rsort[=FIELD]  dump-flows: sort (by priority by default)
  --readd                     replace-flows: re-add unchanged flows too
  --bundle                    flow changes as one atomic bundle (add-flow[s], mod-flows, del-flows, replace-flows)
  --no-names                  accepted (port names are never shown)
  -t, --timeout=SECS          give up after SECS seconds
  -h, --help                  display this help message
  -V, --version               display version information
";

/// `(min, max)` argument counts of a command, `None` if unknown.
pub(crate) fn arity(cmd: &str) -> Option<(usize, usize)> {
    COMMANDS.iter().find(|c| c.0 == cmd).map(|c| (c.2, c.3))
}

/// The help paragraph of one command.
pub(crate) fn command_help(cmd: &str) -> Option<String> {
    let c = COMMANDS.iter().find(|c| c.0 == cmd)?;
    Some(format!(
        "usage: rvs-ofctl [OPTIONS] {} {}\n  {}\n",
        c.0, c.1, c.4
    ))
}

/// `list-commands` output.
pub(crate) fn list_commands() -> String {
    let mut s = String::from("The available commands are:\n");
    for c in COMMANDS {
        s.push_str(&format!("  {:<22}{}\n", c.0, c.1));
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_has_help() {
        for c in super::COMMANDS {
            assert!(super::command_help(c.0).is_some());
            assert!(c.2 <= c.3, "{}", c.0);
        }
    }
}
