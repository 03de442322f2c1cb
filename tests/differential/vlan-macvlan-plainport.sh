#!/usr/bin/env bash
# netloom-differential: vm (this machine's kernel has no 8021q; see record.sh)
# Kernel side of vlan-macvlan-plainport.yaml: as vlan-macvlan, but h1's eth0 is plugged
# into a plain (untagged, vid 1) port: the switch drops its VLAN-10 frames.
. "$(dirname "$0")/lib.sh"
lan office vlan
FORWARD=1 node h1
plug h1 eth0 office
addr h1 eth0 192.168.1.10/24
for e in laptop10:192.168.1.50:access:10 plain:192.168.1.52:; do
  IFS=: read -r n ip m v <<<"$e"
  node "$n"; plug "$n" eth0 office "${m:+$m:$v}"; addr "$n" eth0 "$ip/24"
done
must ip -n "$P-h1" link add link eth0 name eth0.10 type vlan id 10
must ip -n "$P-h1" link set eth0.10 up
child macvlan h1 eth0.10 a 192.168.1.128/24 mode bridge
route a default via 192.168.1.1

ping_step a 192.168.1.50          # a -> laptop10 (VLAN 10)
ping_step laptop10 192.168.1.128  # laptop10 -> a
ping_step plain 192.168.1.128     # plain -> a
ping_step plain 192.168.1.10      # plain -> h1
