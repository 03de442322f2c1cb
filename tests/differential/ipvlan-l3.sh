#!/usr/bin/env bash
# netloom-differential: vm (this machine's kernel has no ipvlan; see record.sh)
# Kernel side of ipvlan-l3.yaml: two ipvlan l3 children in different subnets on h1's eth0.
. "$(dirname "$0")/lib.sh"
ipvlan_l3_lan l3

ping_step a 10.1.2.2              # a -> b (other subnet, same parent)
ping_step a 192.168.1.50          # a -> laptop (which has no route back)
ping_step laptop 10.1.1.2         # laptop -> a, no route
ping_step laptop2 10.1.1.2        # laptop2 -> a, route 10.1.1.0/24 via h1
ping_step a 192.168.1.51          # a -> laptop2
ping_step a 192.168.1.10          # a -> h1's own address
ping_step h1 10.1.1.2             # h1 -> a
