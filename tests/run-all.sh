#!/usr/bin/env bash
# rvs: run every test on a fresh Debian 12 machine.
#
#   sudo tests/run-all.sh
#
# 1. installs the Debian packages the tests drive for real (Open vSwitch tools,
#    Mininet, iproute2, iperf3, ...), without leaving OVS daemons running;
# 2. makes a Python venv with the PyPI packages the tests use (the `ovs` IDL,
#    os-ken for the controller tests), at ${RVS_VENV:-/opt/rvs-venv}, and
#    exports RVS_PYTHON=<venv>/bin/python;
# 3. runs `cargo test --release --no-fail-fast --workspace` and prints cargo's summary lines.
#
# Safe to run again: steps already done are skipped.  Any failure stops the
# script with a non-zero exit status.
#
# Knobs: RVS_VENV (venv path), RVS_SKIP_INSTALL=1 (skip steps 1-2, e.g. when
# not root on a prepared machine).  Arguments, if any, replace `--workspace`:
# `tests/run-all.sh -p ofproto` runs `cargo test --release -p ofproto`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

log() { printf '[run-all] %s\n' "$*" >&2; }
die() { printf '[run-all] FAILED: %s\n' "$*" >&2; exit 1; }

start=$(date +%s)

DEB_PACKAGES=(openvswitch-common openvswitch-switch iproute2 iputils-ping iperf3
    ethtool procps psmisc python3-venv mininet tcpdump jq)
# ovs: the Python IDL; os-ken 3.1.1: the last release with `osken-manager`,
# which runs the learning-switch app in tests/controllers/ (e2e tests).
PY_PACKAGES=("ovs>=3.1" "os-ken==3.1.1")
PY_CHECK='import ovs.db.idl, os_ken.cmd.manager'
RVS_VENV="${RVS_VENV:-/opt/rvs-venv}"

# --- 1. Debian packages -----------------------------------------------------
missing_debs() {
    local p status
    for p in "${DEB_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || printf '%s\n' "$p"
    done
}

# PIDs of running OVS daemons, read from their packaged pidfiles.
ovs_daemon_pids() {
    local f pid
    for f in /run/openvswitch/ovsdb-server.pid /run/openvswitch/ovs-vswitchd.pid; do
        [ -r "$f" ] || continue
        pid=$(tr -dc '0-9' <"$f")
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
    done
    return 0
}

install_debs() {
    local missing
    missing=$(missing_debs)
    if [ -z "$missing" ]; then
        log "Debian packages: all present"
        return
    fi
    [ "$(id -u)" = 0 ] || die "Debian packages missing (${missing//$'\n'/ }); run as root: sudo $0"
    log "Debian packages: installing ${missing//$'\n'/ }"

    # The packaged OVS service must not start on the host: tests run their own
    # private daemons.  A policy-rc.d that denies every start does that; we add
    # one only if the machine has none, and remove it afterwards.
    local before policy=/usr/sbin/policy-rc.d made_policy=0
    before=$(ovs_daemon_pids | sort)
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# rvs tests/run-all.sh: no service starts during install\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q &&
            apt-get install -y -q "${DEB_PACKAGES[@]}"
    } || rc=$?
    [ "$made_policy" = 1 ] && rm -f "$policy"
    [ "$rc" = 0 ] || die "apt-get failed (exit $rc)"

    # If a daemon started anyway (systemd ignores policy-rc.d on some setups),
    # stop exactly the ones the install started, by the PIDs in their pidfiles.
    local pid
    for pid in $(ovs_daemon_pids | sort); do
        if ! grep -qx "$pid" <<<"$before"; then
            log "stopping OVS daemon pid $pid started by the package install"
            kill "$pid" 2>/dev/null || true
        fi
    done
    [ -z "$(missing_debs)" ] || die "packages still missing after install: $(missing_debs | tr '\n' ' ')"
}

# --- 2. Python venv ----------------------------------------------------------
install_venv() {
    local py=/usr/bin/python3
    [ -x "$py" ] || py=$(command -v python3) || die "python3 not found"
    if [ -x "$RVS_VENV/bin/python" ] && [ -x "$RVS_VENV/bin/osken-manager" ] &&
        PYTHONWARNINGS=ignore "$RVS_VENV/bin/python" -c "$PY_CHECK" 2>/dev/null; then
        log "Python venv $RVS_VENV: ready"
        return
    fi
    log "Python venv $RVS_VENV: creating, installing ${PY_PACKAGES[*]}"
    [ -x "$RVS_VENV/bin/python" ] || "$py" -m venv "$RVS_VENV" || die "python3 -m venv $RVS_VENV failed"
    "$RVS_VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}" ||
        die "pip install ${PY_PACKAGES[*]} failed"
    PYTHONWARNINGS=ignore "$RVS_VENV/bin/python" -c "$PY_CHECK" || die "the venv cannot run: $PY_CHECK"
    [ -x "$RVS_VENV/bin/osken-manager" ] || die "the venv has no osken-manager"
}

if [ "${RVS_SKIP_INSTALL:-0}" = 1 ]; then
    log "RVS_SKIP_INSTALL=1: not installing packages"
else
    install_debs
    install_venv
fi
[ -x "$RVS_VENV/bin/python" ] && export RVS_PYTHON="$RVS_VENV/bin/python"

# --- 3. The suite --------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found (install the Rust toolchain)"

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
cargo_log=$(mktemp /tmp/rvs-run-all.XXXXXX)
trap 'rm -f "$cargo_log"' EXIT

scope=(--workspace)
[ "$#" -gt 0 ] && scope=("$@")
log "cargo test --release --no-fail-fast ${scope[*]}"
rc=0
cargo test --release --no-fail-fast "${scope[@]}" 2>&1 | tee "$cargo_log" || rc=$?

passed=0 failed=0 ignored=0
while read -r p f i; do
    passed=$((passed + p)) failed=$((failed + f)) ignored=$((ignored + i))
done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$cargo_log")

echo
echo "=== summary (cargo's result lines) ==="
grep -E '^(test result:|     Running|   Doc-tests)' "$cargo_log" || true
echo "elapsed: $(( $(date +%s) - start ))s"
echo "$passed passed, $failed failed, $ignored skipped"
if [ "$rc" != 0 ] || [ "$failed" != 0 ]; then
    die "cargo test exited with status $rc"
fi
if [ "$passed" = 0 ]; then
    die "no test ran"
fi
