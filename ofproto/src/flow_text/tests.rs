//! Unit tests: parse errors with positions, and a few encodings checked
//! by hand against captures of `ovs-ofctl -O OpenFlow13` (the full corpus
//! runs against the real program in `tests/flow_text_ovs.rs`).

use super::*;
use crate::wire::action::Action;
use crate::wire::oxm::{BasicField, OxmField};

fn add(s: &str) -> FlowSpec {
    parse_flow(s, FlowCommand::Add).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> FlowTextError {
    match parse_flow(s, FlowCommand::Add) {
        Ok(f) => panic!("{s}: accepted as {f:?}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_field_names_token_and_column() {
    let e = err("ip,nw_srcx=1.2.3.4,actions=drop");
    assert_eq!(e.kind, ErrorKind::UnknownField);
    assert_eq!(e.token, "nw_srcx");
    assert_eq!(e.column, 4);
    assert_eq!(e.to_string(), "unknown field \"nw_srcx\" at column 4");
}

#[test]
fn unknown_action_names_token_and_column() {
    let e = err("in_port=1,actions=output:2,frobnicate");
    assert_eq!(e.kind, ErrorKind::UnknownAction);
    assert_eq!((e.token.as_str(), e.column), ("frobnicate", 28));
}

#[test]
fn bad_values_point_at_the_value() {
    let e = err("ip,nw_src=1.2.3.400,actions=drop");
    assert_eq!(e.kind, ErrorKind::BadValue);
    assert_eq!((e.token.as_str(), e.column), ("1.2.3.400", 11));
    let e = err("tcp,tp_dst=70000,actions=drop");
    assert_eq!(e.kind, ErrorKind::BadValue);
    let e = err("in_port=1/1,actions=drop");
    assert_eq!(e.kind, ErrorKind::BadValue);
    let e = err("nw_proto=6/0xf0,actions=drop");
    assert!(e.detail.contains("invalid mask"), "{e}");
    let e = err("dl_src=00:11:22:33:44,actions=drop");
    assert_eq!(e.kind, ErrorKind::BadValue);
    let e = err("actions=output:0xfffffff0");
    assert_eq!(e.kind, ErrorKind::BadValue);
    let e = err("actions=mod_vlan_vid:4096");
    assert_eq!(e.kind, ErrorKind::BadValue);
    let e = err("actions=push_vlan:0x0800");
    assert!(e.detail.contains("not a valid VLAN ethertype"), "{e}");
    let e = err("priority=70000,actions=drop");
    assert_eq!((e.token.as_str(), e.column), ("70000", 10));
}

#[test]
fn missing_actions_and_drop_with_others() {
    assert_eq!(err("in_port=1").kind, ErrorKind::MissingActions);
    assert_eq!(err("actions=drop,output:1").kind, ErrorKind::DropWithOthers);
    assert_eq!(err("actions=output(port=1").kind, ErrorKind::BadValue);
}

#[test]
fn instruction_order_is_enforced() {
    let e = err("actions=write_metadata:1,write_actions(output:1)");
    assert_eq!(e.kind, ErrorKind::BadOrder);
    assert!(
        e.detail
            .contains("write_actions must appear before write_metadata")
    );
    assert_eq!(
        err("actions=goto_table:1,goto_table:2").kind,
        ErrorKind::BadOrder
    );
    assert_eq!(
        err("actions=write_actions(goto_table:1)").kind,
        ErrorKind::BadOrder
    );
    // Applied actions after meter are fine.
    add("actions=meter:1,output:1");
}

#[test]
fn inconsistent_actions_are_refused_like_ofctl_13() {
    for s in [
        "actions=set_field:1.2.3.4->ip_src",
        "actions=mod_nw_src:1.2.3.4",
        "actions=dec_ttl",
        "tcp6,actions=mod_nw_dst:1.2.3.4",
        "ip,actions=mod_tp_src:1",
        "actions=strip_vlan",
        "actions=set_mpls_label:5",
        "table=2,actions=goto_table:1",
        "actions=output:ANY",
        "actions=set_field:4101->vlan_vid",
    ] {
        assert_eq!(err(s).kind, ErrorKind::Inconsistent, "{s}");
    }
    // ... but not inside write_actions, where OVS does not judge them.
    add("actions=write_actions(dec_ttl)");
}

#[test]
fn unsupported_forms_say_so() {
    for s in [
        "actions=resubmit(,2)",
        "actions=set_field:0x1000/0x1000->vlan_vid",
        "actions=controller(userdata=01.02)",
        "actions=output(port=1,max_len=100)",
        "actions=apply_actions(output:1)",
    ] {
        assert_eq!(err(s).kind, ErrorKind::Unsupported, "{s}");
    }
}

#[test]
fn keywords_depend_on_the_command() {
    assert_eq!(err("out_port=1,actions=drop").kind, ErrorKind::UnknownField);
    assert_eq!(err("cookie=1/1,actions=drop").kind, ErrorKind::NotAllowed);
    let d = parse_flow("out_port=1,cookie=0x5/0xff,ip", FlowCommand::Delete).expect("del");
    assert_eq!(d.out_port, 1);
    let fm = d.to_flow_mod();
    assert_eq!((fm.table_id, fm.cookie, fm.cookie_mask), (0xff, 5, 0xff));
    assert!(parse_flow("priority=5", FlowCommand::Delete).is_err());
    assert!(parse_flow("priority=5", FlowCommand::DeleteStrict).is_ok());
}

#[test]
fn tcp_shorthand_in_port_prefix_and_output() {
    let f = add("priority=100,tcp,in_port=1,nw_src=10.0.0.0/8,tp_dst=80,actions=output:2");
    let fm = f.to_flow_mod();
    assert_eq!(
        fm.match_.fields,
        vec![
            OxmField::exact(BasicField::IN_PORT, 1),
            OxmField::exact(BasicField::ETH_TYPE, 0x0800),
            OxmField::masked(BasicField::IPV4_SRC, 0x0a00_0000, 0xff00_0000),
            OxmField::exact(BasicField::IP_PROTO, 6),
            OxmField::exact(BasicField::TCP_DST, 80),
        ]
    );
    assert_eq!(
        fm.instructions,
        vec![Instruction::ApplyActions(vec![Action::Output {
            port: 2,
            max_len: 0
        }])]
    );
    assert_eq!(
        format_flow(fm.priority, &fm.match_, &fm.instructions),
        "priority=100,tcp,in_port=1,nw_src=10.0.0.0/8,tp_dst=80 actions=output:2"
    );
}

#[test]
fn fields_without_prerequisites_are_dropped_as_ovs_does() {
    // Only OVS's packet_type=Ethernet OXM remains (as ovs-ofctl sends it).
    let f = add("tp_dst=80,nw_src=1.2.3.4,actions=drop");
    let m = f.oxm_match();
    assert_eq!(m.fields.len(), 1);
    assert_eq!(m.fields[0].header().0, 0x8000_5804);
    assert_eq!(format_flow_mod(&f.to_flow_mod()), "ADD actions=drop");
    // With an ethertype there is no packet_type entry.
    let f = add("ip,tp_dst=80,actions=drop");
    assert_eq!(
        f.oxm_match().fields,
        vec![OxmField::exact(BasicField::ETH_TYPE, 0x0800)]
    );
}

#[test]
fn vlan_forms_map_like_ovs() {
    let m = add("dl_vlan_pcp=3,actions=drop").oxm_match();
    assert_eq!(
        m.fields,
        vec![
            OxmField::masked(BasicField::VLAN_VID, 0x1000, 0x1000),
            OxmField::exact(BasicField::VLAN_PCP, 3),
        ]
    );
    assert_eq!(format_match(&m, DEFAULT_PRIORITY), "dl_vlan_pcp=3");
    let m = add("vlan_tci=0,actions=drop").oxm_match();
    assert_eq!(m.fields, vec![OxmField::exact(BasicField::VLAN_VID, 0)]);
    assert_eq!(format_match(&m, DEFAULT_PRIORITY), "vlan_tci=0x0000/0x1fff");
    // mod_vlan_vid pushes a tag when the match has none.
    let f = add("actions=mod_vlan_vid:20");
    assert_eq!(
        f.instructions,
        vec![Instruction::ApplyActions(vec![
            Action::PushVlan(0x8100),
            Action::SetField(OxmField::exact(BasicField::VLAN_VID, 0x1014)),
        ])]
    );
    assert_eq!(
        format_instructions(&f.instructions),
        "push_vlan:0x8100,set_field:4116->vlan_vid"
    );
    let f = add("dl_vlan=10,actions=mod_vlan_vid:20");
    assert_eq!(
        format_instructions(&f.instructions),
        "set_field:4116->vlan_vid"
    );
}

#[test]
fn lexer_handles_parentheses_and_blanks() {
    let f = add("  in_port=1  ip actions=write_actions(output:1,group:3),goto_table:2");
    assert_eq!(
        format_instructions(&f.instructions),
        "write_actions(output:1,group:3),goto_table:2"
    );
}

#[test]
fn ipv6_printing_follows_inet_ntop() {
    use fields::ip6_str;
    let p = |s: &str| fields::parse_ip6(s).expect("ipv6");
    for s in [
        "::",
        "::1",
        "fe80::1",
        "2001:db8::",
        "2001:0:0:1::1",
        "1:0:1:0:1:0:1:0",
        "::ffff:1.2.3.4",
    ] {
        assert_eq!(ip6_str(p(s)), s);
    }
}

#[test]
fn garbage_never_panics() {
    for s in [
        "",
        "=",
        ",,,",
        "actions",
        "actions=",
        "actions=(",
        "actions=)",
        "a(b(c",
        "in_port=",
        "actions=set_field:->",
        "actions=set_field:1->",
        "actions=write_actions(",
        "nw_src=/",
        "ipv6_src=::/129",
        "actions=controller(max_len=)",
        "\u{e9}=\u{e9},actions=\u{e9}",
        "actions=write_metadata:/",
        "cookie=/",
        "table=x",
    ] {
        let _ = parse_flow(s, FlowCommand::Add);
        let _ = parse_flow(s, FlowCommand::Delete);
    }
}

#[test]
fn action_lists_for_group_buckets() {
    let l = parse_action_list("set_queue:1,output:2", &FlowFields::default()).expect("parse");
    assert_eq!(
        l,
        vec![
            Action::SetQueue(1),
            Action::Output {
                port: 2,
                max_len: 0
            }
        ]
    );
    assert_eq!(format_actions(&l), "set_queue:1,output:2");
    assert_eq!(
        parse_action_list("drop", &FlowFields::default()),
        Ok(vec![])
    );
    let e = parse_action_list("goto_table:1", &FlowFields::default()).expect_err("instr");
    assert_eq!(e.kind, ErrorKind::Unsupported);
}

#[test]
fn nicira_controller_round_trips_through_the_printer() {
    let f = add("actions=controller(reason=no_match,max_len=10,id=2)");
    assert_eq!(
        format_instructions(&f.instructions),
        "controller(reason=no_match,max_len=10,id=2)"
    );
    let e = err("actions=controller(reason=bogus)");
    assert_eq!((e.kind, e.token.as_str()), (ErrorKind::BadValue, "bogus"));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const TOKENS: &[&str] = &[
        "ip",
        "tcp6",
        "arp",
        "in_port=",
        "nw_src=",
        "1.2.3.4",
        "/24",
        "/",
        "::1",
        "dl_vlan=",
        "vlan_tci=",
        "0x1000",
        "actions=",
        "output:",
        "LOCAL",
        "set_field:",
        "->",
        "ip_src",
        "write_actions(",
        ")",
        "(",
        ",",
        " ",
        "goto_table:",
        "meter:",
        "drop",
        "mod_vlan_vid:",
        "controller(",
        "max_len=",
        "reason=",
        "enqueue:",
        ":",
        "0",
        "65535",
        "99999999999999999999",
        "tp_dst=",
        "cookie=",
        "table=",
        "priority=",
        "=",
        "metadata=",
        "/0xff",
        "load:",
    ];

    proptest! {
        #[test]
        fn random_text_never_panics(s in "[ -~]{0,80}") {
            let _ = parse_flow(&s, FlowCommand::Add);
            let _ = parse_flow(&s, FlowCommand::DeleteStrict);
        }

        #[test]
        fn token_soup_never_panics_and_output_prints(
            idx in proptest::collection::vec(0..TOKENS.len(), 0..24)
        ) {
            let s: String = idx.iter().map(|&i| TOKENS[i]).collect();
            if let Ok(f) = parse_flow(&s, FlowCommand::Add) {
                let fm = f.to_flow_mod();
                let _ = format_flow_mod(&fm);
            }
        }
    }
}
