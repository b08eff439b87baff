#!/usr/bin/env bash
# Free-form hook that plugs rvs-fwd into the shared benchmarks
# (../shared/bench/switches/rvs.sh, "way B"): starts rvs-fwd inside the
# switch namespace $NS_SW on the veth ends $P1 (port 1) and $P2 (port 2),
# and stops it again by the PID it wrote itself.
#
#   H=$PWD/tools/bench/rvs-fwd-hook.sh
#   SWITCHES="rvs ovs-of linuxbridge direct" RVS_TXOFF=0 \
#     RVS_UP_CMD="$H up" RVS_DOWN_CMD="$H down" RVS_PIDS_CMD="$H pids" \
#     RVS_FWD_BIN=$CARGO_TARGET_DIR/release/rvs-fwd \
#     REPS=3 TCP_SECS=5 UDP_SECS=5 ../shared/bench/forwarding.sh
#
# RVS_TXOFF=0 keeps the hosts' checksum/TSO offloads on: rvs-fwd passes
# virtio-net headers through.  RVS_FWD_ARGS adds options (e.g.
# "--ring-frames 4096").  NS_SW, P1, P2 and WORK come from the bench.
set -euo pipefail
cmd=${1:?usage: rvs-fwd-hook.sh up|down|pids}
: "${NS_SW:?}" "${P1:?}" "${P2:?}" "${WORK:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${RVS_FWD_BIN:-$here/../../target/release/rvs-fwd}
pidf=$WORK/rvs-fwd.pid
logf=$WORK/rvs-fwd.log

case $cmd in
  up)
    [[ -x $bin ]] || { echo "rvs-fwd binary not found at $bin (set RVS_FWD_BIN)" >&2; exit 1; }
    mkdir -p "$WORK"
    rm -f "$pidf"
    # shellcheck disable=SC2086
    ip netns exec "$NS_SW" setsid "$bin" --port "$P1" --port "$P2" --pidfile "$pidf" \
      ${RVS_FWD_ARGS:-} >"$logf" 2>&1 </dev/null &
    starter=$!
    # Ready once the pidfile exists (written after both ports are attached).
    for ((i = 0; i < 100; i++)); do
      [[ -s $pidf ]] && exit 0
      kill -0 "$starter" 2>/dev/null || break
      sleep 0.1
    done
    echo "rvs-fwd did not come up; log:" >&2
    cat "$logf" >&2 || true
    exit 1
    ;;
  down)
    [[ -s $pidf ]] || exit 0
    pid=$(cat "$pidf")
    kill -TERM "$pid" 2>/dev/null || exit 0
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidf"
    # rvs-fwd prints its port/PMD/flow statistics on exit.
    { echo "--- rvs-fwd statistics ---"; cat "$logf"; } >&2 || true
    ;;
  pids)
    cat "$pidf" 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 up|down|pids" >&2
    exit 2
    ;;
esac
