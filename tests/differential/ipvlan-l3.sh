#!/usr/bin/env bash
# netloom-differential: vm (this machine's kernel has no ipvlan; see record.sh)
# Kernel side of ipvlan-l3.yaml: two ipvlan l3 children in different subnets on h1's eth0.
. "$(dirname "$0")/lib.sh"
ipvlan_l3_case l3
