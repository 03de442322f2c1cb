#!/usr/bin/env bash
# Kernel side of cni-hairpin.yaml: a CNI node h1 with bridges cni0 (hairpin on its
# ports, as the bridge plugin's hairpinMode sets) and cni1 (hairpin off), its tables
# being exactly what `netloom iptables cni-hairpin.yaml --host h1` prints, loaded with
# iptables-restore (the NETLOOM variable names the binary; the harness sets it).
. "$(dirname "$0")/lib.sh"
need iptables-restore sysctl python3
[[ -n ${NETLOOM:-} ]] || unsupported "NETLOOM (the netloom binary) is not set"
rules=$("$NETLOOM" iptables "$(dirname "$0")/cni-hairpin.yaml" --host h1) || unsupported "netloom iptables failed"
lan office
FORWARD=1 node h1
plug h1 eth0 office
addr h1 eth0 192.168.1.10/24
for br in cni0 cni1; do
  must x h1 ip link add "$br" type bridge
  must x h1 ip link set "$br" up
done
addr h1 cni0 10.4.0.1/24
addr h1 cni1 10.5.0.1/24
vethc h1 cni0 c1 10.4.0.2/24 0a:58:0a:04:00:02 1500
vethc h1 cni0 c2 10.4.0.3/24 0a:58:0a:04:00:03 1500
vethc h1 cni1 c3 10.5.0.2/24 0a:58:0a:05:00:02 1500
vethc h1 cni1 c4 10.5.0.3/24 0a:58:0a:05:00:03 1500
for c in c1 c2; do route "$c" default via 10.4.0.1; must ip -n "$P-h1" link set "v-$c" type bridge_slave hairpin on; done
for c in c3 c4; do route "$c" default via 10.5.0.1; done
node laptop
plug laptop eth0 office
addr laptop eth0 192.168.1.50/24
# br_netfilter, as Kubernetes requires it on a CNI node (per namespace since 5.3).
x h1 sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || unsupported "no br_netfilter (net.bridge.bridge-nf-call-iptables)"
printf '%s\n' "$rules" | x h1 iptables-restore || unsupported "iptables-restore refused netloom's rules (or nf_tables is missing)"

# listeners on port 80 in c1 and c3 (netloom's `listen: [tcp/80]`)
for c in c1 c3; do
  x "$c" timeout 60 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(16)
while True:
    c, _ = s.accept(); c.close()
' >/dev/null 2>&1 &
  _NLD_PIDS+=("$!")
done
sleep 0.5

# connect_step FROM DST PORT: `ok` when the TCP handshake completes within 3 s,
# `refused` on a reset, else `timeout` (netloom's `connect` outcomes).
connect_step() {
  local out
  out=$(x "$1" timeout 10 python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close(); print("ok")
except ConnectionRefusedError:
    print("refused")
except OSError:
    print("timeout")
' "$2" "$3" 2>&1)
  echo "${out:-timeout}"
}

ping_step c1 10.4.0.3
ping_step c1 192.168.1.50
connect_step laptop 192.168.1.10 8080
connect_step c1 192.168.1.10 8080
connect_step c3 192.168.1.10 8081
connect_step c4 192.168.1.10 8081
