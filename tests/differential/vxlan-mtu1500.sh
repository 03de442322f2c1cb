#!/usr/bin/env bash
# Kernel side of vxlan-mtu1500.yaml: the overlay with com.docker.network.driver.mtu
# "1500" on a 1500-byte underlay, so encapsulated full-size frames (1550) do not fit.
# The VXLAN device answers a DF packet that does not fit with ICMP "fragmentation
# needed, mtu 1450", sourced from the inner destination (10.0.9.3); see the report.
. "$(dirname "$0")/lib.sh"
overlay_lan 1500

ping_step c1 10.0.9.3 -M do -s 1472   # 1500 bytes, DF: frag needed (mtu 1450)
ping_step c1 10.0.9.3 -s 1472         # Linux's default: DF while it fits the known PMTU
transfer_step c1 c2 10.0.9.3       # bulk TCP c1 -> c2
