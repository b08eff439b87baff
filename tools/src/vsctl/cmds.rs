//! The Open vSwitch specific commands: bridges (real and VLAN "fake"
//! bridges), ports, bonds, interfaces, controllers, fail mode, managers,
//! `emer-reset` and `show`, over ovs-vsctl's view of the configuration.

use std::collections::BTreeMap;

use ovsdb::{Atom, Datum};
use uuid::Uuid;

use super::dbcmd::{column_type, set_column};
use super::{Ctx, Fail};

type R<T> = Result<T, Fail>;

fn fatal<T>(msg: impl Into<String>) -> R<T> {
    Err(Fail::Fatal(msg.into()))
}

/// A bridge as ovs-vsctl sees it.
#[derive(Debug, Clone)]
struct VBridge {
    name: String,
    /// The Bridge row (the parent's for a fake bridge).
    br: Uuid,
    parent: Option<String>,
    vlan: i64,
}

#[derive(Debug, Clone)]
struct VPort {
    uuid: Uuid,
    bridge: String,
}

#[derive(Debug, Clone)]
struct VIface {
    port: String,
}

#[derive(Debug, Default)]
struct Cache {
    bridges: BTreeMap<String, VBridge>,
    ports: BTreeMap<String, VPort>,
    ifaces: BTreeMap<String, VIface>,
}

fn fake_vlan(ctx: &Ctx<'_>, p: &Uuid) -> Option<i64> {
    let db = &ctx.txn.db;
    if db.get("Port", p, "fake_bridge").as_bool() == Some(true) {
        db.get("Port", p, "tag")
            .as_i64()
            .filter(|t| (0..4096).contains(t))
    } else {
        None
    }
}

fn cache(ctx: &mut Ctx<'_>) -> Cache {
    let mut c = Cache::default();
    let Some(ovs) = ctx.txn.db.ovs_uuid() else {
        return c;
    };
    ctx.txn.verify("Open_vSwitch", &ovs, "bridges");
    let brs = ctx.txn.db.get("Open_vSwitch", &ovs, "bridges").uuids();
    let mut real = Vec::new();
    for b in &brs {
        if ctx.txn.db.row("Bridge", b).is_none() {
            continue;
        }
        let name = ctx.txn.db.get_str("Bridge", b, "name");
        if c.bridges.contains_key(&name) {
            continue;
        }
        ctx.txn.verify("Bridge", b, "ports");
        c.bridges.insert(
            name.clone(),
            VBridge {
                name: name.clone(),
                br: *b,
                parent: None,
                vlan: 0,
            },
        );
        real.push((name.clone(), *b));
        for p in ctx.txn.db.get("Bridge", b, "ports").uuids() {
            if let Some(vlan) = fake_vlan(ctx, &p) {
                let pn = ctx.txn.db.get_str("Port", &p, "name");
                c.bridges.entry(pn.clone()).or_insert(VBridge {
                    name: pn,
                    br: *b,
                    parent: Some(name.clone()),
                    vlan,
                });
            }
        }
    }
    for (bname, b) in real {
        for p in ctx.txn.db.get("Bridge", &b, "ports").uuids() {
            if ctx.txn.db.row("Port", &p).is_none() {
                continue;
            }
            let pn = ctx.txn.db.get_str("Port", &p, "name");
            if c.ports.contains_key(&pn) {
                continue;
            }
            ctx.txn.verify("Port", &p, "interfaces");
            let tag = ctx.txn.db.get("Port", &p, "tag").as_i64();
            let owner = tag
                .filter(|t| (0..4096).contains(t))
                .and_then(|t| {
                    c.bridges
                        .values()
                        .find(|x| x.parent.as_deref() == Some(bname.as_str()) && x.vlan == t)
                        .map(|x| x.name.clone())
                })
                .unwrap_or_else(|| bname.clone());
            c.ports.insert(
                pn.clone(),
                VPort {
                    uuid: p,
                    bridge: owner,
                },
            );
            for i in ctx.txn.db.get("Port", &p, "interfaces").uuids() {
                if ctx.txn.db.row("Interface", &i).is_none() {
                    continue;
                }
                let iname = ctx.txn.db.get_str("Interface", &i, "name");
                c.ifaces.entry(iname).or_insert(VIface { port: pn.clone() });
            }
        }
    }
    c
}

fn find_bridge<'c>(c: &'c Cache, name: &str, must: bool) -> R<Option<&'c VBridge>> {
    match c.bridges.get(name) {
        Some(b) => Ok(Some(b)),
        None if must => fatal(format!("no bridge named {name}")),
        None => Ok(None),
    }
}

fn find_port<'c>(c: &'c Cache, name: &str, must: bool) -> R<Option<&'c VPort>> {
    match c.ports.get(name) {
        Some(p) => Ok(Some(p)),
        None if must => fatal(format!("no port named {name}")),
        None => Ok(None),
    }
}

fn check_conflicts(c: &Cache, name: &str, msg: &str) -> R<()> {
    if c.bridges.contains_key(name) {
        return fatal(format!(
            "{msg} because a bridge named {name} already exists"
        ));
    }
    if let Some(p) = c.ports.get(name) {
        return fatal(format!(
            "{msg} because a port named {name} already exists on bridge {}",
            p.bridge
        ));
    }
    if let Some(i) = c.ifaces.get(name) {
        let br = c
            .ports
            .get(&i.port)
            .map(|p| p.bridge.clone())
            .unwrap_or_default();
        return fatal(format!(
            "{msg} because an interface named {name} already exists on bridge {br}"
        ));
    }
    Ok(())
}

fn s(v: &str) -> Datum {
    Datum::scalar(Atom::String(v.to_string()))
}

fn add_uuid(ctx: &mut Ctx<'_>, table: &str, row: &Uuid, col: &str, u: Uuid) {
    let mut v = ctx.txn.db.get(table, row, col).as_set().to_vec();
    v.push(Atom::Uuid(u));
    ctx.txn.set(table, row, col, Datum::set_from(v));
}

fn del_uuid(ctx: &mut Ctx<'_>, table: &str, row: &Uuid, col: &str, u: &Uuid) {
    let v: Vec<Atom> = ctx
        .txn
        .db
        .get(table, row, col)
        .as_set()
        .iter()
        .filter(|a| a.as_uuid() != Some(*u))
        .cloned()
        .collect();
    ctx.txn.set(table, row, col, Datum::Set(v));
}

/// The Open_vSwitch row (the engine inserts it when missing).
fn ovs(ctx: &Ctx<'_>) -> R<Uuid> {
    ctx.txn
        .db
        .ovs_uuid()
        .ok_or_else(|| Fail::Fatal("database has no Open_vSwitch row".into()))
}

fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = body
        .chars()
        .take_while(char::is_ascii_digit)
        .take(18)
        .collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg { -v } else { v }
}

pub(crate) fn cmd_init(_ctx: &mut Ctx<'_>) -> R<()> {
    Ok(())
}

pub(crate) fn cmd_add_br(ctx: &mut Ctx<'_>) -> R<()> {
    let a = ctx.args.to_vec();
    let name = a[1].clone();
    let (parent, vlan) = match a.len() {
        2 => (None, 0),
        4 => {
            let v = atoi(&a[3]);
            if !(0..=4095).contains(&v) {
                return fatal(format!("{}: vlan must be between 0 and 4095", a[0]));
            }
            (Some(a[2].clone()), v)
        }
        _ => return fatal(format!("'{}' command takes exactly 1 or 3 arguments", a[0])),
    };
    let c = cache(ctx);
    if ctx.has("--may-exist") {
        if let Some(br) = c.bridges.get(&name) {
            match &parent {
                None => {
                    if br.parent.is_some() {
                        return fatal(format!(
                            "\"--may-exist add-br {name}\" but {name} is a VLAN bridge for VLAN {}",
                            br.vlan
                        ));
                    }
                }
                Some(p) => {
                    let cmd = format!("\"--may-exist add-br {name} {p} {vlan}\"");
                    match &br.parent {
                        None => return fatal(format!("{cmd} but {name} is not a VLAN bridge")),
                        Some(bp) if bp != p => {
                            return fatal(format!("{cmd} but {name} has the wrong parent {bp}"));
                        }
                        Some(_) if br.vlan != vlan => {
                            return fatal(format!(
                                "{cmd} but {name} is a VLAN bridge for the wrong VLAN {}",
                                br.vlan
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            return Ok(());
        }
    }
    check_conflicts(&c, &name, &format!("cannot create a bridge named {name}"))?;
    let ovs = ovs(ctx)?;
    match parent {
        None => {
            let i = ctx.txn.insert("Interface", None);
            ctx.txn.set("Interface", &i, "name", s(&name));
            ctx.txn.set("Interface", &i, "type", s("internal"));
            let p = ctx.txn.insert("Port", None);
            ctx.txn.set("Port", &p, "name", s(&name));
            ctx.txn
                .set("Port", &p, "interfaces", Datum::scalar(Atom::Uuid(i)));
            let b = ctx.txn.insert("Bridge", None);
            ctx.txn.set("Bridge", &b, "name", s(&name));
            ctx.txn
                .set("Bridge", &b, "ports", Datum::scalar(Atom::Uuid(p)));
            add_uuid(ctx, "Open_vSwitch", &ovs, "bridges", b);
        }
        Some(pname) => {
            let par = match c.bridges.get(&pname) {
                Some(p) if p.parent.is_some() => {
                    return fatal("cannot create bridge with fake bridge as parent");
                }
                Some(p) => p.clone(),
                None => return fatal(format!("parent bridge {pname} does not exist")),
            };
            let i = ctx.txn.insert("Interface", None);
            ctx.txn.set("Interface", &i, "name", s(&name));
            ctx.txn.set("Interface", &i, "type", s("internal"));
            let p = ctx.txn.insert("Port", None);
            ctx.txn.set("Port", &p, "name", s(&name));
            ctx.txn
                .set("Port", &p, "interfaces", Datum::scalar(Atom::Uuid(i)));
            ctx.txn.set(
                "Port",
                &p,
                "fake_bridge",
                Datum::scalar(Atom::Boolean(true)),
            );
            ctx.txn
                .set("Port", &p, "tag", Datum::scalar(Atom::Integer(vlan)));
            add_uuid(ctx, "Bridge", &par.br, "ports", p);
        }
    }
    Ok(())
}

fn del_port_rows(ctx: &mut Ctx<'_>, c: &Cache, pname: &str) {
    let Some(p) = c.ports.get(pname) else { return };
    let Some(br) = c.bridges.get(&p.bridge) else {
        return;
    };
    del_uuid(ctx, "Bridge", &br.br.clone(), "ports", &p.uuid);
    for i in ctx.txn.db.get("Port", &p.uuid, "interfaces").uuids() {
        ctx.txn.delete("Interface", &i);
    }
    ctx.txn.delete("Port", &p.uuid);
}

fn del_bridge(ctx: &mut Ctx<'_>, c: &Cache, name: &str) -> R<()> {
    let children: Vec<String> = c
        .bridges
        .values()
        .filter(|b| b.parent.as_deref() == Some(name))
        .map(|b| b.name.clone())
        .collect();
    for ch in children {
        del_bridge(ctx, c, &ch)?;
    }
    let ports: Vec<String> = c
        .ports
        .iter()
        .filter(|(_, p)| p.bridge == name)
        .map(|(n, _)| n.clone())
        .collect();
    for p in ports {
        del_port_rows(ctx, c, &p);
    }
    if let Some(b) = c.bridges.get(name) {
        if b.parent.is_none() {
            let ovs = ovs(ctx)?;
            del_uuid(ctx, "Open_vSwitch", &ovs, "bridges", &b.br);
            ctx.txn.delete("Bridge", &b.br);
        }
    }
    Ok(())
}

pub(crate) fn cmd_del_br(ctx: &mut Ctx<'_>) -> R<()> {
    let name = ctx.args[1].clone();
    let c = cache(ctx);
    if find_bridge(&c, &name, !ctx.has("--if-exists"))?.is_some() {
        del_bridge(ctx, &c, &name)?;
    }
    Ok(())
}

fn lines(ctx: &mut Ctx<'_>, mut v: Vec<String>) {
    v.sort();
    for l in v {
        ctx.out.push_str(&l);
        ctx.out.push('\n');
    }
}

pub(crate) fn cmd_list_br(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    let (real, fake) = (ctx.has("--real"), ctx.has("--fake"));
    let (real, fake) = if !real && !fake {
        (true, true)
    } else {
        (real, fake)
    };
    let v = c
        .bridges
        .values()
        .filter(|b| if b.parent.is_some() { fake } else { real })
        .map(|b| b.name.clone())
        .collect();
    lines(ctx, v);
    Ok(())
}

pub(crate) fn cmd_br_exists(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    if c.bridges.contains_key(&ctx.args[1]) {
        Ok(())
    } else {
        Err(Fail::Exit(2))
    }
}

pub(crate) fn cmd_br_to_vlan(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    let b = find_bridge(&c, &ctx.args[1], true)?
        .map(|b| b.vlan)
        .unwrap_or(0);
    ctx.out.push_str(&format!("{b}\n"));
    Ok(())
}

pub(crate) fn cmd_br_to_parent(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    let b = find_bridge(&c, &ctx.args[1], true)?
        .map(|b| b.parent.clone().unwrap_or_else(|| b.name.clone()))
        .unwrap_or_default();
    ctx.out.push_str(&format!("{b}\n"));
    Ok(())
}

/// (table, row, key prefix) holding a bridge's external ids.
fn ext_ids_target(ctx: &Ctx<'_>, c: &Cache, name: &str) -> R<(&'static str, Uuid, &'static str)> {
    let _ = ctx;
    let b = find_bridge(c, name, true)?
        .cloned()
        .ok_or(Fail::Fatal(String::new()))?;
    if b.parent.is_none() {
        Ok(("Bridge", b.br, ""))
    } else {
        let p = find_port(c, name, true)?
            .cloned()
            .ok_or(Fail::Fatal(String::new()))?;
        Ok(("Port", p.uuid, "fake-bridge-"))
    }
}

pub(crate) fn cmd_br_set_external_id(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    let (t, u, pre) = ext_ids_target(ctx, &c, &ctx.args[1].clone())?;
    let key = format!("{pre}{}", ctx.args[2]);
    let mut m: Vec<(Atom, Atom)> = ctx
        .txn
        .db
        .get(t, &u, "external_ids")
        .as_map()
        .iter()
        .filter(|(k, _)| k.as_str() != Some(&key))
        .cloned()
        .collect();
    if let Some(v) = ctx.args.get(3) {
        m.push((Atom::String(key), Atom::String(v.clone())));
    }
    ctx.txn.verify(t, &u, "external_ids");
    ctx.txn.set(t, &u, "external_ids", Datum::map_from(m));
    Ok(())
}

pub(crate) fn cmd_br_get_external_id(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    let (t, u, pre) = ext_ids_target(ctx, &c, &ctx.args[1].clone())?;
    ctx.txn.verify(t, &u, "external_ids");
    let d = ctx.txn.db.get(t, &u, "external_ids");
    let m = d.string_map();
    if let Some(k) = ctx.args.get(2) {
        if let Some(v) = m.get(format!("{pre}{k}").as_str()) {
            ctx.out.push_str(&format!("{v}\n"));
        }
    } else {
        let v = m
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(pre).map(|k| format!("{k}={v}")))
            .collect();
        lines(ctx, v);
    }
    Ok(())
}

pub(crate) fn cmd_list_ports(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    let b = ctx.args[1].clone();
    find_bridge(&c, &b, true)?;
    let v = c
        .ports
        .iter()
        .filter(|(n, p)| p.bridge == b && **n != b)
        .map(|(n, _)| n.clone())
        .collect();
    lines(ctx, v);
    Ok(())
}

fn add_port(
    ctx: &mut Ctx<'_>,
    br_name: &str,
    port_name: &str,
    ifaces: &[String],
    fake_iface: bool,
    settings: &[String],
) -> R<()> {
    let c = cache(ctx);
    if ctx.has("--may-exist") {
        if let Some(p) = c.ports.get(port_name) {
            let cmd = if ctx.args[0] == "add-port" {
                format!("--may-exist add-port {br_name} {port_name}")
            } else {
                format!(
                    "--may-exist add-bond {br_name} {port_name} {}",
                    ifaces.join(" ")
                )
            };
            if p.bridge != br_name {
                return fatal(format!(
                    "\"{cmd}\" but {port_name} is actually attached to bridge {}",
                    p.bridge
                ));
            }
            let mut want: Vec<String> = ifaces.to_vec();
            want.sort();
            let mut have: Vec<String> = c
                .ifaces
                .iter()
                .filter(|(_, i)| i.port == port_name)
                .map(|(n, _)| n.clone())
                .collect();
            have.sort();
            if want != have {
                return fatal(format!(
                    "\"{cmd}\" but {port_name} actually has interface(s) {}",
                    have.join(", ")
                ));
            }
            return Ok(());
        }
    }
    check_conflicts(
        &c,
        port_name,
        &format!("cannot create a port named {port_name}"),
    )?;
    for i in ifaces {
        check_conflicts(&c, i, &format!("cannot create an interface named {i}"))?;
    }
    let br = find_bridge(&c, br_name, true)?
        .cloned()
        .ok_or(Fail::Fatal(String::new()))?;
    let mut iu = Vec::new();
    for i in ifaces {
        let u = ctx.txn.insert("Interface", None);
        ctx.txn.set("Interface", &u, "name", s(i));
        iu.push(Atom::Uuid(u));
    }
    let p = ctx.txn.insert("Port", None);
    ctx.txn.set("Port", &p, "name", s(port_name));
    ctx.txn.set("Port", &p, "interfaces", Datum::set_from(iu));
    if fake_iface {
        ctx.txn.set(
            "Port",
            &p,
            "bond_fake_iface",
            Datum::scalar(Atom::Boolean(true)),
        );
    }
    if br.parent.is_some() {
        ctx.txn
            .set("Port", &p, "tag", Datum::scalar(Atom::Integer(br.vlan)));
    }
    for st in settings {
        set_column(ctx, "Port", &p, st)?;
    }
    add_uuid(ctx, "Bridge", &br.br, "ports", p);
    Ok(())
}

pub(crate) fn cmd_add_port(ctx: &mut Ctx<'_>) -> R<()> {
    let a = ctx.args.to_vec();
    add_port(ctx, &a[1], &a[2], &a[2..3], false, &a[3..])
}

pub(crate) fn cmd_add_bond(ctx: &mut Ctx<'_>) -> R<()> {
    let a = ctx.args.to_vec();
    let mut n = 3;
    while n < a.len() && !a[n].contains('=') {
        n += 1;
    }
    let ifaces = &a[3..n];
    if ifaces.len() < 2 {
        return fatal(format!(
            "add-bond requires at least 2 interfaces, but only {} were specified",
            ifaces.len()
        ));
    }
    let fake = ctx.has("--fake-iface");
    add_port(ctx, &a[1], &a[2], ifaces, fake, &a[n..])
}

pub(crate) fn cmd_del_port(ctx: &mut Ctx<'_>) -> R<()> {
    let a = ctx.args.to_vec();
    let target = a[a.len() - 1].clone();
    let must = !ctx.has("--if-exists");
    let c = cache(ctx);
    let port: Option<String> = if !ctx.has("--with-iface") {
        find_port(&c, &target, must)?.map(|_| target.clone())
    } else {
        let p = if c.ports.contains_key(&target) {
            Some(target.clone())
        } else {
            c.ifaces.get(&target).map(|i| i.port.clone())
        };
        if p.is_none() && must {
            return fatal(format!("no port or interface named {target}"));
        }
        p
    };
    let Some(pn) = port else { return Ok(()) };
    let Some(vp) = c.ports.get(&pn).cloned() else {
        return Ok(());
    };
    if pn == vp.bridge {
        return fatal(format!(
            "cannot delete port {pn} because it is the local port for bridge {} (deleting this port requires deleting the entire bridge)",
            vp.bridge
        ));
    }
    if a.len() == 3 {
        let b = find_bridge(&c, &a[1], true)?
            .cloned()
            .ok_or(Fail::Fatal(String::new()))?;
        if vp.bridge != b.name {
            let owner = c.bridges.get(&vp.bridge);
            if owner.and_then(|o| o.parent.as_deref()) == Some(b.name.as_str()) {
                return fatal(format!(
                    "bridge {} does not have a port {} (although its child bridge {} does)",
                    a[1], a[2], vp.bridge
                ));
            }
            return fatal(format!("bridge {} does not have a port {}", a[1], a[2]));
        }
    }
    del_port_rows(ctx, &c, &pn);
    Ok(())
}

pub(crate) fn cmd_port_to_br(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    let b = find_port(&c, &ctx.args[1], true)?
        .map(|p| p.bridge.clone())
        .unwrap_or_default();
    ctx.out.push_str(&format!("{b}\n"));
    Ok(())
}

pub(crate) fn cmd_list_ifaces(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    let b = ctx.args[1].clone();
    find_bridge(&c, &b, true)?;
    let v = c
        .ifaces
        .iter()
        .filter(|(n, i)| **n != b && c.ports.get(&i.port).is_some_and(|p| p.bridge == b))
        .map(|(n, _)| n.clone())
        .collect();
    lines(ctx, v);
    Ok(())
}

pub(crate) fn cmd_iface_to_br(ctx: &mut Ctx<'_>) -> R<()> {
    let c = cache(ctx);
    let name = ctx.args[1].clone();
    let Some(i) = c.ifaces.get(&name) else {
        return fatal(format!("no interface named {name}"));
    };
    let b = c
        .ports
        .get(&i.port)
        .map(|p| p.bridge.clone())
        .unwrap_or_default();
    ctx.out.push_str(&format!("{b}\n"));
    Ok(())
}

fn real_bridge(ctx: &mut Ctx<'_>) -> R<Uuid> {
    let c = cache(ctx);
    let b = find_bridge(&c, &ctx.args[1], true)?
        .map(|b| b.br)
        .ok_or(Fail::Fatal(String::new()))?;
    Ok(b)
}

fn targets(ctx: &Ctx<'_>, table: &str, refs: &Datum) -> Vec<String> {
    refs.uuids()
        .iter()
        .filter(|u| ctx.txn.db.row(table, u).is_some())
        .map(|u| ctx.txn.db.get_str(table, u, "target"))
        .collect()
}

pub(crate) fn cmd_get_controller(ctx: &mut Ctx<'_>) -> R<()> {
    let b = real_bridge(ctx)?;
    ctx.txn.verify("Bridge", &b, "controller");
    let t = targets(
        ctx,
        "Controller",
        &ctx.txn.db.get("Bridge", &b, "controller"),
    );
    lines(ctx, t);
    Ok(())
}

fn delete_refs(ctx: &mut Ctx<'_>, table: &str, row: &Uuid, col: &str, ref_table: &str) {
    ctx.txn.verify(table, row, col);
    for u in ctx.txn.db.get(table, row, col).uuids() {
        ctx.txn.delete(ref_table, &u);
    }
    let ty = ctx
        .txn
        .ts(table)
        .map(|t| column_type(t, col))
        .map(|t| Datum::empty(&t))
        .unwrap_or(Datum::Set(Vec::new()));
    ctx.txn.set(table, row, col, ty);
}

pub(crate) fn cmd_del_controller(ctx: &mut Ctx<'_>) -> R<()> {
    let b = real_bridge(ctx)?;
    delete_refs(ctx, "Bridge", &b, "controller", "Controller");
    Ok(())
}

fn insert_targets(ctx: &mut Ctx<'_>, table: &str, targets: &[String]) -> R<Datum> {
    let probe = ctx.opts.get("--inactivity-probe").cloned().flatten();
    let probe = match probe {
        Some(p) => match p.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => return fatal(format!("--inactivity-probe={p}: invalid value")),
        },
        None => None,
    };
    let mut v = Vec::new();
    for t in targets {
        let u = ctx.txn.insert(table, None);
        ctx.txn.set(table, &u, "target", s(t));
        if let Some(p) = probe {
            ctx.txn.set(
                table,
                &u,
                "inactivity_probe",
                Datum::scalar(Atom::Integer(p)),
            );
        }
        v.push(Atom::Uuid(u));
    }
    Ok(Datum::set_from(v))
}

pub(crate) fn cmd_set_controller(ctx: &mut Ctx<'_>) -> R<()> {
    let b = real_bridge(ctx)?;
    delete_refs(ctx, "Bridge", &b, "controller", "Controller");
    let t = ctx.args[2..].to_vec();
    let d = insert_targets(ctx, "Controller", &t)?;
    ctx.txn.set("Bridge", &b, "controller", d);
    Ok(())
}

pub(crate) fn cmd_get_fail_mode(ctx: &mut Ctx<'_>) -> R<()> {
    let b = real_bridge(ctx)?;
    ctx.txn.verify("Bridge", &b, "fail_mode");
    if let Some(m) = ctx.txn.db.get("Bridge", &b, "fail_mode").as_str() {
        let m = m.to_string();
        ctx.out.push_str(&format!("{m}\n"));
    }
    Ok(())
}

pub(crate) fn cmd_del_fail_mode(ctx: &mut Ctx<'_>) -> R<()> {
    let b = real_bridge(ctx)?;
    ctx.txn
        .set("Bridge", &b, "fail_mode", Datum::Set(Vec::new()));
    Ok(())
}

pub(crate) fn cmd_set_fail_mode(ctx: &mut Ctx<'_>) -> R<()> {
    let b = real_bridge(ctx)?;
    let m = ctx.args[2].clone();
    if m != "standalone" && m != "secure" {
        return fatal("fail-mode must be \"standalone\" or \"secure\"");
    }
    ctx.txn.set("Bridge", &b, "fail_mode", s(&m));
    Ok(())
}

pub(crate) fn cmd_get_manager(ctx: &mut Ctx<'_>) -> R<()> {
    let o = ovs(ctx)?;
    ctx.txn.verify("Open_vSwitch", &o, "manager_options");
    let t = targets(
        ctx,
        "Manager",
        &ctx.txn.db.get("Open_vSwitch", &o, "manager_options"),
    );
    lines(ctx, t);
    Ok(())
}

pub(crate) fn cmd_del_manager(ctx: &mut Ctx<'_>) -> R<()> {
    let o = ovs(ctx)?;
    delete_refs(ctx, "Open_vSwitch", &o, "manager_options", "Manager");
    Ok(())
}

pub(crate) fn cmd_set_manager(ctx: &mut Ctx<'_>) -> R<()> {
    let o = ovs(ctx)?;
    delete_refs(ctx, "Open_vSwitch", &o, "manager_options", "Manager");
    let t = ctx.args[1..].to_vec();
    let d = insert_targets(ctx, "Manager", &t)?;
    ctx.txn.set("Open_vSwitch", &o, "manager_options", d);
    Ok(())
}

fn all_rows(ctx: &Ctx<'_>, table: &str) -> Vec<Uuid> {
    ctx.txn
        .db
        .table(table)
        .map(|t| t.keys().copied().collect())
        .unwrap_or_default()
}

pub(crate) fn cmd_emer_reset(ctx: &mut Ctx<'_>) -> R<()> {
    let o = ovs(ctx)?;
    let empty = Datum::Set(Vec::new());
    ctx.txn
        .set("Open_vSwitch", &o, "manager_options", empty.clone());
    ctx.txn.set("Open_vSwitch", &o, "ssl", empty.clone());
    for b in all_rows(ctx, "Bridge") {
        for col in [
            "controller",
            "fail_mode",
            "mirrors",
            "netflow",
            "sflow",
            "ipfix",
            "flood_vlans",
        ] {
            ctx.txn.set("Bridge", &b, col, empty.clone());
        }
        let oc = ctx.txn.db.get("Bridge", &b, "other_config");
        let keep: Vec<(Atom, Atom)> = oc
            .as_map()
            .iter()
            .filter(|(k, _)| k.as_str() == Some("hwaddr"))
            .cloned()
            .collect();
        ctx.txn.set("Bridge", &b, "other_config", Datum::Map(keep));
    }
    for p in all_rows(ctx, "Port") {
        ctx.txn
            .set("Port", &p, "other_config", Datum::Map(Vec::new()));
    }
    for i in all_rows(ctx, "Interface") {
        ctx.txn.set(
            "Interface",
            &i,
            "ingress_policing_rate",
            Datum::scalar(Atom::Integer(0)),
        );
        ctx.txn.set(
            "Interface",
            &i,
            "ingress_policing_burst",
            Datum::scalar(Atom::Integer(0)),
        );
    }
    for t in [
        "Mirror",
        "Controller",
        "Manager",
        "NetFlow",
        "sFlow",
        "IPFIX",
        "Flow_Sample_Collector_Set",
    ] {
        for u in all_rows(ctx, t) {
            ctx.txn.delete(t, &u);
        }
    }
    Ok(())
}

/// `show`: tables printed, their name column and the columns shown.
const SHOW: &[(&str, Option<&str>, &[&str])] = &[
    (
        "Open_vSwitch",
        None,
        &["manager_options", "bridges", "ovs_version"],
    ),
    (
        "Bridge",
        Some("name"),
        &["controller", "fail_mode", "datapath_type", "ports"],
    ),
    ("Port", Some("name"), &["tag", "trunks", "interfaces"]),
    (
        "Interface",
        Some("name"),
        &["type", "options", "error", "bfd_status"],
    ),
    ("Controller", Some("target"), &["is_connected"]),
    ("Manager", Some("target"), &["is_connected"]),
];

fn show_row(
    ctx: &Ctx<'_>,
    table: &str,
    u: &Uuid,
    level: usize,
    shown: &mut Vec<String>,
    out: &mut String,
) {
    let Some(&(_, name_col, cols)) = SHOW.iter().find(|(t, _, _)| *t == table) else {
        return;
    };
    let Some(ts) = ctx.txn.ts(table) else { return };
    out.push_str(&" ".repeat(level * 4));
    match name_col {
        Some(nc) => {
            let d = ctx.txn.db.get(table, u, nc);
            out.push_str(&format!(
                "{table} {}",
                d.to_ovs_string(&column_type(ts, nc))
            ));
        }
        None => out.push_str(&u.to_string()),
    }
    out.push('\n');
    if shown.iter().any(|s| s == table) {
        return;
    }
    shown.push(table.to_string());
    for col in cols {
        let Some(ty) = ts.column_type(col) else {
            continue;
        };
        let d = ctx.txn.db.get(table, u, col);
        if let Some(rt) = ty.key.ref_table.as_deref() {
            if SHOW.iter().any(|(t, _, _)| *t == rt) {
                for r in d.uuids() {
                    if ctx.txn.db.row(rt, &r).is_some() {
                        show_row(ctx, rt, &r, level + 1, shown, out);
                    }
                }
                continue;
            }
        }
        if d != Datum::default_for(ty) {
            out.push_str(&" ".repeat((level + 1) * 4));
            out.push_str(&format!("{col}: {}\n", d.to_ovs_string(ty)));
        }
    }
    shown.pop();
}

pub(crate) fn cmd_show(ctx: &mut Ctx<'_>) -> R<()> {
    let mut out = String::new();
    let mut shown = Vec::new();
    for u in all_rows(ctx, "Open_vSwitch") {
        show_row(ctx, "Open_vSwitch", &u, 0, &mut shown, &mut out);
    }
    ctx.out.push_str(&out);
    Ok(())
}

pub(crate) fn cmd_add_bond_iface(ctx: &mut Ctx<'_>) -> R<()> {
    let (bond, iface) = (ctx.args[1].clone(), ctx.args[2].clone());
    let c = cache(ctx);
    let port = find_port(&c, &bond, true)?
        .cloned()
        .ok_or(Fail::Fatal(String::new()))?;
    if ctx.has("--may-exist") {
        if let Some(i) = c.ifaces.get(&iface) {
            if i.port == bond {
                return Ok(());
            }
            return fatal(format!(
                "\"--may-exist add-bond-iface {bond} {iface}\" but {iface} is actually attached to port {}",
                i.port
            ));
        }
    }
    check_conflicts(
        &c,
        &iface,
        &format!("cannot create an interface named {iface}"),
    )?;
    let u = ctx.txn.insert("Interface", None);
    ctx.txn.set("Interface", &u, "name", s(&iface));
    ctx.txn.verify("Port", &port.uuid, "interfaces");
    add_uuid(ctx, "Port", &port.uuid, "interfaces", u);
    Ok(())
}

pub(crate) fn cmd_del_bond_iface(ctx: &mut Ctx<'_>) -> R<()> {
    let a = ctx.args.to_vec();
    let name = a[a.len() - 1].clone();
    let c = cache(ctx);
    let Some(i) = c.ifaces.get(&name) else {
        if ctx.has("--if-exists") {
            return Ok(());
        }
        return fatal(format!("no interface named {name}"));
    };
    let pname = if a.len() == 3 {
        find_port(&c, &a[1], true)?;
        if i.port != a[1] {
            return fatal(format!("port {} does not have an interface {name}", a[1]));
        }
        a[1].clone()
    } else {
        i.port.clone()
    };
    let Some(p) = c.ports.get(&pname).cloned() else {
        return Ok(());
    };
    let members = ctx.txn.db.get("Port", &p.uuid, "interfaces").uuids();
    if members.len() <= 1 {
        return fatal(format!("cannot delete last interface from port {pname}"));
    }
    let iu = members
        .into_iter()
        .find(|u| ctx.txn.db.get_str("Interface", u, "name") == name);
    if let Some(iu) = iu {
        ctx.txn.verify("Port", &p.uuid, "interfaces");
        del_uuid(ctx, "Port", &p.uuid, "interfaces", &iu);
        ctx.txn.delete("Interface", &iu);
    }
    Ok(())
}

pub(crate) fn cmd_get_ssl(ctx: &mut Ctx<'_>) -> R<()> {
    let o = ovs(ctx)?;
    ctx.txn.verify("Open_vSwitch", &o, "ssl");
    let refs = ctx.txn.db.get("Open_vSwitch", &o, "ssl").uuids();
    if let Some(u) = refs.first().filter(|u| ctx.txn.db.row("SSL", u).is_some()) {
        let db = &ctx.txn.db;
        let text = format!(
            "Private key: {}\nCertificate: {}\nCA Certificate: {}\nBootstrap: {}\n",
            db.get_str("SSL", u, "private_key"),
            db.get_str("SSL", u, "certificate"),
            db.get_str("SSL", u, "ca_cert"),
            db.get("SSL", u, "bootstrap_ca_cert").as_bool() == Some(true)
        );
        ctx.out.push_str(&text);
    }
    Ok(())
}

pub(crate) fn cmd_del_ssl(ctx: &mut Ctx<'_>) -> R<()> {
    let o = ovs(ctx)?;
    delete_refs(ctx, "Open_vSwitch", &o, "ssl", "SSL");
    Ok(())
}

pub(crate) fn cmd_set_ssl(ctx: &mut Ctx<'_>) -> R<()> {
    let o = ovs(ctx)?;
    delete_refs(ctx, "Open_vSwitch", &o, "ssl", "SSL");
    let u = ctx.txn.insert("SSL", None);
    ctx.txn
        .set("SSL", &u, "private_key", s(&ctx.args[1].clone()));
    ctx.txn
        .set("SSL", &u, "certificate", s(&ctx.args[2].clone()));
    ctx.txn.set("SSL", &u, "ca_cert", s(&ctx.args[3].clone()));
    let boot = ctx.has("--bootstrap");
    ctx.txn.set(
        "SSL",
        &u,
        "bootstrap_ca_cert",
        Datum::scalar(Atom::Boolean(boot)),
    );
    ctx.txn
        .set("Open_vSwitch", &o, "ssl", Datum::scalar(Atom::Uuid(u)));
    Ok(())
}
