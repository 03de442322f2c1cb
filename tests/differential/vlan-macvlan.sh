#!/usr/bin/env bash
# netloom-differential: vm (this machine's kernel has no 8021q; see record.sh)
# Kernel side of vlan-macvlan.yaml: a macvlan network on parent eth0.10. h1's eth0 is
# a trunk port [10, 20] (its own address untagged, vid 1); laptop10 and laptop20 are on
# access ports of VLANs 10 and 20, plain on an untagged plain port, all in 192.168.1.0/24.
. "$(dirname "$0")/lib.sh"
vlan_macvlan_lan trunk:10,20 laptop10:192.168.1.50:access:10 laptop20:192.168.1.51:access:20 plain:192.168.1.52:

ping_step a 192.168.1.50          # a -> laptop10 (VLAN 10)
ping_step laptop10 192.168.1.128  # laptop10 -> a
ping_step a 192.168.1.51          # a -> laptop20 (VLAN 20)
ping_step laptop20 192.168.1.128  # laptop20 -> a
ping_step plain 192.168.1.128     # plain (untagged) -> a
ping_step plain 192.168.1.10      # plain -> h1's untagged eth0
ping_step laptop10 192.168.1.10   # laptop10 -> h1's untagged eth0
