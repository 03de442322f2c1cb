#!/usr/bin/env bash
# Kernel side of docker-rules.yaml: Docker host h1 with two bridge networks, its tables
# being exactly what `netloom iptables docker-rules.yaml --host h1` prints, loaded with
# iptables-restore (the NETLOOM variable names the binary; the harness sets it).
. "$(dirname "$0")/lib.sh"
need iptables-restore sysctl
[[ -n ${NETLOOM:-} ]] || unsupported "NETLOOM (the netloom binary) is not set"
rules=$("$NETLOOM" iptables "$(dirname "$0")/docker-rules.yaml" --host h1) || unsupported "netloom iptables failed"
lan office
FORWARD=1 node h1
plug h1 eth0 office
addr h1 eth0 192.168.1.10/24
for br in br-app br-quiet; do
  must x h1 ip link add "$br" type bridge
  must x h1 ip link set "$br" up
done
addr h1 br-app 172.20.0.1/24
addr h1 br-quiet 172.21.0.1/24
vethc h1 br-app c1 172.20.0.2/24 02:42:ac:14:00:02 1500
vethc h1 br-app c2 172.20.0.3/24 02:42:ac:14:00:03 1500
vethc h1 br-quiet c3 172.21.0.2/24 02:42:ac:15:00:02 1500
vethc h1 br-quiet c4 172.21.0.3/24 02:42:ac:15:00:03 1500
for c in c1 c2; do route "$c" default via 172.20.0.1; done
for c in c3 c4; do route "$c" default via 172.21.0.1; done
node laptop
plug laptop eth0 office
addr laptop eth0 192.168.1.50/24
route laptop default via 192.168.1.10
# Docker turns on br_netfilter for a network with ICC off (per namespace since 5.3).
x h1 sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || unsupported "no br_netfilter (net.bridge.bridge-nf-call-iptables)"
printf '%s\n' "$rules" | x h1 iptables-restore || unsupported "iptables-restore refused netloom's rules (or nf_tables is missing)"

ping_step c1 172.20.0.3
ping_step c1 172.21.0.2
ping_step c3 172.21.0.3
ping_step c3 172.21.0.1
ping_step c1 192.168.1.50
ping_step c2 192.168.1.50
ping_step laptop 172.20.0.2
