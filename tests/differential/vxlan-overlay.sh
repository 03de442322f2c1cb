#!/usr/bin/env bash
# Kernel side of vxlan-overlay.yaml: an overlay network (VNI 42, MTU 1450) across h1/h2.
. "$(dirname "$0")/lib.sh"
overlay_lan 1450

ping_step c1 10.0.9.3                  # c1 -> c2
ping_step c1 10.0.9.3 -M do -s 1422    # 1422 + 28 = 1450: fits
ping_step c1 10.0.9.3 -M do -s 1423    # 1451 > the container's MTU 1450
