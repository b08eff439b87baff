//! The Python `ovs` IDL (PyPI package `ovs`) works against
//! rvs-ovsdb-server: it creates a bridge with ports, reads them back
//! through its replica, and sees changes made by another client
//! (`ovs-vsctl`). The same script runs against the real ovsdb-server first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rvs_tests::ovs::{run_with_timeout, skip_system_tests};
use rvs_tests::ovsdb_support::{Kind, Server, require_ovs};

const SCRIPT: &str = r#"
import sys, time, subprocess
import ovs.db.idl, ovs.poller

remote, vsctl_db = sys.argv[1], sys.argv[2]
helper = ovs.db.idl.SchemaHelper(location="/usr/share/openvswitch/vswitch.ovsschema")
helper.register_all()
idl = ovs.db.idl.Idl(remote, helper)

def run_until(cond, what, secs=20):
    end = time.time() + secs
    while time.time() < end:
        idl.run()
        if cond():
            return
        p = ovs.poller.Poller()
        idl.wait(p)
        p.timer_wait(100)
        p.block()
    sys.exit("timed out waiting for " + what)

def names(table):
    return sorted(r.name for r in idl.tables[table].rows.values())

run_until(lambda: idl.has_ever_connected() and len(idl.tables["Open_vSwitch"].rows) == 1, "initial contents")

txn = ovs.db.idl.Transaction(idl)
br = txn.insert(idl.tables["Bridge"])
br.name = "idlbr"
br.external_ids = {"made-by": "python-idl"}
ports = []
for i in range(3):
    iface = txn.insert(idl.tables["Interface"])
    iface.name = "idlp%d" % i
    iface.type = "internal"
    port = txn.insert(idl.tables["Port"])
    port.name = "idlp%d" % i
    port.interfaces = [iface]
    ports.append(port)
br.ports = ports
root = next(iter(idl.tables["Open_vSwitch"].rows.values()))
root.addvalue("bridges", br.uuid)
status = txn.commit_block()
if status != ovs.db.idl.Transaction.SUCCESS:
    sys.exit("commit failed: " + ovs.db.idl.Transaction.status_to_string(status) + " " + str(txn.get_error()))
print("commit", ovs.db.idl.Transaction.status_to_string(status))

# Read back through the replica.
print("bridges", names("Bridge"))
print("ports", names("Port"))
print("interfaces", names("Interface"))
b = next(r for r in idl.tables["Bridge"].rows.values() if r.name == "idlbr")
print("bridge ports", sorted(p.name for p in b.ports))
print("external_ids", dict(b.external_ids))

# Another client changes the database; the replica follows.
def vsctl(*args):
    subprocess.run(["ovs-vsctl", "--db=" + vsctl_db, "--no-wait", "--timeout=20"] + list(args), check=True)

vsctl("add-port", "idlbr", "fromvsctl")
run_until(lambda: "fromvsctl" in names("Port"), "port added by ovs-vsctl")
vsctl("set", "Bridge", "idlbr", "external_ids:changed=yes")
run_until(lambda: b.external_ids.get("changed") == "yes", "external_ids change")
vsctl("del-port", "idlbr", "idlp1")
run_until(lambda: "idlp1" not in names("Port"), "port deletion")
print("after vsctl", names("Port"), names("Interface"), dict(b.external_ids))

# Modify through the IDL once more and check with ovs-vsctl.
txn = ovs.db.idl.Transaction(idl)
b.fail_mode = "secure"
status = txn.commit_block()
print("second commit", ovs.db.idl.Transaction.status_to_string(status))
out = subprocess.run(["ovs-vsctl", "--db=" + vsctl_db, "get-fail-mode", "idlbr"], capture_output=True, text=True, check=True).stdout
print("vsctl sees fail_mode", out.strip())
idl.close()
"#;

fn python() -> Option<PathBuf> {
    // $RVS_PYTHON, else $RVS_VENV/bin/python, else /opt/rvs-venv/bin/python.
    let p = match (std::env::var_os("RVS_PYTHON"), std::env::var_os("RVS_VENV")) {
        (Some(p), _) => PathBuf::from(p),
        (None, Some(v)) => PathBuf::from(v).join("bin/python"),
        (None, None) => PathBuf::from("/opt/rvs-venv/bin/python"),
    };
    if p.exists() {
        return Some(p);
    }
    if skip_system_tests() {
        println!("skipped: python IDL test: {} missing", p.display());
        return None;
    }
    panic!(
        "python IDL test: {} not found; create it with `python3 -m venv /opt/rvs-venv && \
         /opt/rvs-venv/bin/pip install ovs` or set RVS_PYTHON",
        p.display()
    );
}

fn run(kind: Kind, py: &Path) -> String {
    let server = Server::start(kind).expect("start server");
    let f = server.vsctl(&["init"]).expect("ovs-vsctl init");
    assert!(f.status.success(), "init: {}", f.stderr);
    let script = server.dir.path().join("idl.py");
    std::fs::write(&script, SCRIPT).expect("write script");
    let f = run_with_timeout(
        py,
        &[
            script.display().to_string(),
            server.remote(),
            server.remote(),
        ],
        Duration::from_secs(120),
    )
    .expect("run python");
    assert!(
        f.status.success(),
        "{kind:?}: python IDL script failed ({}):\n{}\n{}\nserver log:\n{}",
        f.status,
        f.stdout,
        f.stderr,
        server.log()
    );
    f.stdout
}

#[test]
fn python_idl_creates_reads_and_follows_changes() {
    if !require_ovs(
        "python_idl_creates_reads_and_follows_changes",
        &["ovs-vsctl", "ovsdb-server", "ovsdb-tool"],
    ) {
        return;
    }
    let Some(py) = python() else { return };
    let want = run(Kind::Real, &py);
    let got = run(Kind::Rvs, &py);
    assert!(
        got.contains("bridge ports ['idlp0', 'idlp1', 'idlp2']"),
        "{got}"
    );
    assert!(
        got.contains("after vsctl ['fromvsctl', 'idlp0', 'idlp2']"),
        "{got}"
    );
    assert!(got.contains("vsctl sees fail_mode secure"), "{got}");
    assert_eq!(got, want);
}
