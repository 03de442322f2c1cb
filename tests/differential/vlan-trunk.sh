#!/usr/bin/env bash
# netloom-differential: vm (this machine's kernel has no 8021q; see record.sh)
# Kernel side of vlan-trunk.yaml: external tr on a trunk port [10] has its address on
# its subinterface eth0.10; acc10/acc20 are on access ports of VLANs 10/20, plain on an
# untagged port; all in 192.168.10.0/24.
. "$(dirname "$0")/lib.sh"
lan office vlan
node tr
plug tr eth0 office trunk:10
must ip -n "$P-tr" link add link eth0 name eth0.10 type vlan id 10
must ip -n "$P-tr" link set eth0.10 up
addr tr eth0.10 192.168.10.5/24
for e in acc10:192.168.10.6:access:10 acc20:192.168.10.7:access:20 plain:192.168.10.8:; do
  IFS=: read -r n ip m v <<<"$e"
  node "$n"; plug "$n" eth0 office "${m:+$m:$v}"; addr "$n" eth0 "$ip/24"
done

ping_step tr 192.168.10.6      # tr (tagged 10) -> acc10
ping_step acc10 192.168.10.5   # acc10 -> tr
ping_step tr 192.168.10.7      # tr -> acc20
ping_step tr 192.168.10.8      # tr -> plain
ping_step plain 192.168.10.6   # plain -> acc10
