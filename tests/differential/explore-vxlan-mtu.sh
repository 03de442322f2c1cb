#!/usr/bin/env bash
# explore-vxlan-mtu.sh -- not a differential case (no yaml): what the kernel does with
# full-size packets on an overlay, printed as `label: outcome` lines, with the ICMP
# errors seen on c1's eth0 and on the underlay (h1's eth0). Root; needs tcpdump, python3.
#
#   bash tests/differential/explore-vxlan-mtu.sh
#
# Variants: NET = network MTU on vxlan0 and veths 1500 over a 1500 underlay (Docker's
# com.docker.network.driver.mtu "1500"); MISMATCH = container veths 1500 but vxlan0 1450
# (the bridge's port towards VXLAN is smaller than the containers' MTU), with
# br_netfilter's bridge-nf-call-iptables on (as on a Docker host) or off, with and
# without GSO/TSO on c1's eth0.
. "$(dirname "$0")/lib.sh"
need tcpdump python3
BASE=$P
variant() { # label vxlan-mtu container-mtu brnf(0/1) gso(on/off) order(pings|tcp)
  local label=$1 vm=$2 cm=$3 brnf=$4 gso=$5 order=$6
  (
    P=$BASE-$label; _NLD_NS=(); _NLD_PIDS=()
    trap nld_cleanup EXIT
    overlay_lan "$vm" "$cm"
    x h1 sysctl -qw net.bridge.bridge-nf-call-iptables="$brnf" 2>/dev/null
    x h2 sysctl -qw net.bridge.bridge-nf-call-iptables="$brnf" 2>/dev/null
    x c1 ethtool -K eth0 tso "$gso" gso "$gso" >/dev/null 2>&1 || [[ $gso == on ]] || unsupported "ethtool"
    local tc=/tmp/$P-c1.txt tu=/tmp/$P-u.txt
    x c1 timeout 40 tcpdump -l -n -i eth0 'icmp[0] = 3' >"$tc" 2>/dev/null & _NLD_PIDS+=($!)
    x h1 timeout 40 tcpdump -l -n -i eth0 'icmp or (ip[6:2] & 0x3fff != 0)' >"$tu" 2>/dev/null & _NLD_PIDS+=($!)
    sleep 1
    echo "[$label] vxlan0 mtu $vm, container mtu $cm, bridge-nf-call-iptables $brnf, c1 gso/tso $gso"
    if [[ $order == tcp ]]; then echo "  bulk TCP c1 -> c2 (fresh path): $(transfer_step c1 c2 10.0.9.3 2>/dev/null)"; fi
    echo "  ping -M do -s 1472:   $(ping_step c1 10.0.9.3 -M do -s 1472 2>/dev/null)"
    echo "  ping -s 1472 (want):  $(ping_step c1 10.0.9.3 -s 1472 2>/dev/null)"
    echo "  ping -M dont -s 1472: $(ping_step c1 10.0.9.3 -M dont -s 1472 2>/dev/null)"
    if [[ $order != tcp ]]; then echo "  bulk TCP c1 -> c2:    $(transfer_step c1 c2 10.0.9.3 2>/dev/null)"; fi
    sleep 1
    echo "  ICMP unreachable seen on c1's eth0: $(wc -l <"$tc")"; sort -u -k2 "$tc" | cut -d' ' -f2- | sort -u | head -3 | sed 's/^/    /'
    echo "  ICMP or IP fragments seen on h1's eth0 (underlay): $(wc -l <"$tu")"; cut -d' ' -f2- "$tu" | sort -u | head -3 | sed 's/^/    /'
    echo "  h1: $(x h1 nstat -az IpFragOKs IpFragFails IpFragCreates IpReasmOKs 2>/dev/null | awk 'NR>1{printf "%s=%s ", $1, $2}')"
    rm -f "$tc" "$tu"
  )
}
variant net 1500 1500 1 on pings
variant nettcp 1500 1500 1 on tcp
variant mm 1450 1500 1 on tcp
variant mmnognf 1450 1500 0 on tcp
variant mmnogso 1450 1500 1 off tcp
