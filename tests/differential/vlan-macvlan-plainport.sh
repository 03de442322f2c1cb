#!/usr/bin/env bash
# netloom-differential: vm (this machine's kernel has no 8021q; see record.sh)
# Kernel side of vlan-macvlan-plainport.yaml: as vlan-macvlan, but h1's eth0 is plugged
# into a plain (untagged, vid 1) port: the switch drops its VLAN-10 frames.
. "$(dirname "$0")/lib.sh"
vlan_macvlan_lan "" laptop10:192.168.1.50:access:10 plain:192.168.1.52:

ping_step a 192.168.1.50          # a -> laptop10 (VLAN 10)
ping_step laptop10 192.168.1.128  # laptop10 -> a
ping_step plain 192.168.1.128     # plain -> a
ping_step plain 192.168.1.10      # plain -> h1
