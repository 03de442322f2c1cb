#!/usr/bin/env bash
# netloom-differential: vm (this machine's kernel has no ipvlan; see record.sh)
# Kernel side of ipvlan-l2.yaml: as macvlan-bridge, with ipvlan l2 children (which share
# eth0's MAC address).
. "$(dirname "$0")/lib.sh"
lan office
FORWARD=1 node h1
plug h1 eth0 office
addr h1 eth0 192.168.1.10/24
node laptop
plug laptop eth0 office
addr laptop eth0 192.168.1.50/24
child ipvlan h1 eth0 a 192.168.1.128/24 mode l2
route a default via 192.168.1.1
child ipvlan h1 eth0 b 192.168.1.129/24 mode l2
route b default via 192.168.1.1

ping_step a 192.168.1.129       # a -> b
ping_step a 192.168.1.50        # a -> laptop
ping_step laptop 192.168.1.128  # laptop -> a
ping_step a 192.168.1.10        # a -> h1
ping_step h1 192.168.1.128      # h1 -> a
