#!/usr/bin/env bash
# Live start-up and teardown: `netloom emulate` of a generated scenario with N containers
# on 4 bridge networks and no steps, for each N given (default 1000 2000). Prints per N
# the wall time, netloom's own set-up/teardown phases (NETLOOM_TIMING=1) and the peak
# resident memory (GNU time's "Maximum resident set size"). Run as root.
# Usage: bench/emulation/startup.sh [N...]    Env: REPS (1), NETLOOM (binary to use),
#   TMPFS=1: run each in a private mount namespace with tmpfs on /run/netns and
#   /etc/netns (as on a host whose /run is a tmpfs; nobody else's namespaces are
#   hidden, the mounts are private to the run).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ -z "${NETLOOM:-}" ]; then
  cargo build --release -q -p netloom-scenarios --bin netloom --manifest-path "$ROOT/Cargo.toml"
  NETLOOM=${CARGO_TARGET_DIR:-$ROOT/target}/release/netloom
fi
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install -y time)" >&2; exit 2; }
REPS=${REPS:-1}
SIZES=${*:-1000 2000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

gen() { # N -> scenario on stdout
  local n=$1 nets=4
  echo "name: startup-$n"
  echo "networks:"
  for k in $(seq 0 $((nets - 1))); do
    echo "  n$k: { ipam: { config: [ { subnet: 10.$((64 + k)).0.0/16 } ] } }"
  done
  echo "containers:"
  for i in $(seq 0 $((n - 1))); do
    echo "  c$i: { networks: [n$((i % nets))] }"
  done
}

printf '%-8s %-4s %-10s %-12s %-40s %s\n' containers rep "wall s" "peak RSS MB" "set-up" "teardown"
for n in $SIZES; do
  gen "$n" >"$TMP/s$n.yaml"
  for r in $(seq 1 "$REPS"); do
    if [ "${TMPFS:-0}" = 1 ]; then
      run=(unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run/netns && mount -t tmpfs tmpfs /etc/netns && exec "$@"' sh)
    else
      run=()
    fi
    NETLOOM_TIMING=1 /usr/bin/time -f 'TIME %e %M' "${run[@]}" "$NETLOOM" emulate "$TMP/s$n.yaml" \
      >"$TMP/out" 2>"$TMP/err" || { echo "netloom emulate failed for $n:" >&2; tail -5 "$TMP/err" >&2; exit 1; }
    wall=$(awk '/^TIME/ {print $2}' "$TMP/err")
    rss=$(awk '/^TIME/ {printf "%.0f", $3 / 1024}' "$TMP/err")
    setup=$(grep -m1 '^setup:' "$TMP/err" | cut -d' ' -f2- || true)
    down=$(grep -m1 '^teardown:' "$TMP/err" | cut -d' ' -f2- || true)
    printf '%-8s %-4s %-10s %-12s %-40s %s\n' "$n" "$r" "$wall" "$rss" "$setup" "$down"
  done
done
