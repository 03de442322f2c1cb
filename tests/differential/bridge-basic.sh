#!/usr/bin/env bash
# Kernel side of bridge-basic.yaml: a Docker bridge network = a bridge with the gateway
# address in the host's namespace and one veth per container.
. "$(dirname "$0")/lib.sh"
lan office
FORWARD=1 node h1
plug h1 eth0 office
addr h1 eth0 192.168.1.10/24
must x h1 ip link add br-app type bridge
must x h1 ip link set br-app up
addr h1 br-app 172.20.0.1/24
vethc h1 br-app c1 172.20.0.2/24 02:42:ac:14:00:02 1500
vethc h1 br-app c2 172.20.0.3/24 02:42:ac:14:00:03 1500
route c1 default via 172.20.0.1
route c2 default via 172.20.0.1

ping_step c1 172.20.0.3     # c1 -> c2
ping_step c1 172.20.0.1     # c1 -> its gateway
ping_step c1 192.168.1.10   # c1 -> the host's LAN address
