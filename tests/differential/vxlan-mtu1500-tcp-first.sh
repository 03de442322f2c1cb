#!/usr/bin/env bash
# Kernel side of vxlan-mtu1500-tcp-first.yaml: as vxlan-mtu1500, but the bulk TCP
# transfer comes first, before anything taught c1 the path MTU.
. "$(dirname "$0")/lib.sh"
overlay_lan 1500

transfer_step c1 c2 10.0.9.3       # bulk TCP c1 -> c2 on a fresh path
ping_step c1 10.0.9.3 -M do -s 1472   # the cached PMTU (1450) refuses it locally
ping_step c1 10.0.9.3 -M do -s 1422   # fits 1450
