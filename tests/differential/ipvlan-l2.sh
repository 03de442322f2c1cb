#!/usr/bin/env bash
# netloom-differential: vm (this machine's kernel has no ipvlan; see record.sh)
# Kernel side of ipvlan-l2.yaml: as macvlan-bridge, with ipvlan l2 children (which share
# eth0's MAC address).
. "$(dirname "$0")/lib.sh"
child_lan ipvlan l2

ping_step a 192.168.1.129       # a -> b
ping_step a 192.168.1.50        # a -> laptop
ping_step laptop 192.168.1.128  # laptop -> a
ping_step a 192.168.1.10        # a -> h1
ping_step h1 192.168.1.128      # h1 -> a
