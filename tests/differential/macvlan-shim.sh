#!/usr/bin/env bash
# Kernel side of macvlan-shim.yaml: macvlan-bridge plus the usual fix on h1, a macvlan
# `mvshim` (bridge mode) with 192.168.1.2/32 and a route to the containers' range.
. "$(dirname "$0")/lib.sh"
macvlan_lan bridge
must ip -n "$P-h1" link add link eth0 name mvshim type macvlan mode bridge
addr h1 mvshim 192.168.1.2/32
must ip -n "$P-h1" link set mvshim up
route h1 192.168.1.128/25 dev mvshim

ping_step h1 192.168.1.128  # h1 -> a (through the shim, source 192.168.1.2)
ping_step a 192.168.1.2     # a -> the shim's address
ping_step a 192.168.1.10    # a -> h1's eth0 address
ping_step a 192.168.1.129   # a -> b
ping_step laptop 192.168.1.128  # laptop -> a
