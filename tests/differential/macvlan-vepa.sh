#!/usr/bin/env bash
# Kernel side of macvlan-vepa.yaml.
. "$(dirname "$0")/lib.sh"
macvlan_lan vepa 

ping_step a 192.168.1.129   # a -> b
ping_step a 192.168.1.50    # a -> laptop
ping_step laptop 192.168.1.128  # laptop -> a
ping_step a 192.168.1.10    # a -> h1
ping_step h1 192.168.1.128  # h1 -> a
