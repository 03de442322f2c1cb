#!/usr/bin/env bash
# Emulation speed, in one go: TCP throughput (iperf3), 64-byte UDP packet rate,
# ping round trip and 1-byte TCP request/response between two namespaces joined by
#   bridge   a kernel bridge,
#   vde      vde_switch with its own TAPs (the classic userspace switch),
#   tapfwd   a minimal C TAP<->TAP forwarder (one read and one write per frame),
#   netloom  netloom's engine: TAP -> TapPort -> veth link -> bridge -> link -> TAP,
# measured side by side by ../shared/peers/run-peers.sh, which prints the table.
# Run as root. Needs iperf3, vde2, iputils-ping, gcc (apt-get install -y iperf3 vde2
# iputils-ping gcc). Env: REPS (3), DUR (5 s), and run-peers.sh's own.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
[ -x "$PEERS/run-peers.sh" ] || { echo "run-peers.sh not found in $PEERS (set PEERS=...)" >&2; exit 2; }
cargo build --release -q -p netloom-scenarios --bin netloom --manifest-path "$ROOT/Cargo.toml"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/netloom
export SUT_CMD="$BIN forward --tap {NSA}:{IFA} --tap {NSB}:{IFB}"
export SUT_NAME=netloom
export SCENARIOS=${SCENARIOS:-"bridge vde tapfwd sut"}
export REPS=${REPS:-3} DUR=${DUR:-5}
exec "$PEERS/run-peers.sh"
