# lib.sh -- sourced by every tests/differential/NAME.sh: builds netloom's topology out of
# real network namespaces, runs the checks, and prints one line per step of NAME.yaml
# (`reach` / `no-reach` for pings, `ok` / `stall` for transfers). Root only.
#
# Conventions (the mapping of a scenario onto kernel objects):
#   LAN            a namespace P-lan-NAME holding a Linux bridge br0; every NIC is a veth
#                  whose peer is a port of br0 (hairpin on every port for `hairpin: true`)
#   host/external  a namespace P-NAME with its NIC(s) (veth named as in the scenario)
#   container      a namespace P-NAME whose eth0 is the macvlan/ipvlan child or veth
# Namespace names are "$NLD_PREFIX-NAME" (default prefix `nld`), so runs with distinct
# prefixes can go on side by side. Everything created lives in those namespaces: the
# EXIT trap deletes them, and with them every link.
#
# Exit status: 0 = every step ran (its lines are on stdout), 3 = the topology could not
# be built here (module or tool missing; the reason is on stderr), anything else = bug.
# Diagnostics (ping and transfer output) go to stderr.

set -u
P=${NLD_PREFIX:-nld}
_NLD_NS=()
_NLD_PIDS=()

nld_cleanup() {
  local p n
  for p in "${_NLD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for n in "${_NLD_NS[@]}"; do ip netns del "$n" 2>/dev/null; done
  return 0
}
trap nld_cleanup EXIT
trap 'exit 130' INT TERM

# The topology cannot be built here: say why and exit 3 (the harness skips).
unsupported() { echo "unsupported: $*" >&2; exit 3; }
# A set-up command that must work; a failure means "cannot run here".
must() { "$@" || unsupported "failed: $*"; }

need() { local t; for t in "$@"; do command -v "$t" >/dev/null || unsupported "$t is not installed"; done; }
need ip bridge ping timeout

# x NODE CMD...: run CMD inside node NODE's namespace.
x() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }

# node NAME: a fresh namespace with lo up, no reverse-path filtering (netloom models
# none) and IPv4 forwarding as given (FORWARD=1 for Docker hosts, which Docker turns on).
node() {
  ip netns add "$P-$1" || unsupported "cannot create namespace $P-$1"
  _NLD_NS+=("$P-$1")
  ip -n "$P-$1" link set lo up
  x "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.ip_forward="${FORWARD:-0}" >/dev/null
}

# lan NAME [hairpin] [vlan]: a LAN = namespace lan-NAME with bridge br0.
declare -A _LAN_HAIRPIN=() _LAN_VLAN=()
lan() {
  local name=$1; shift
  local hp=0 vf=0 a
  for a in "$@"; do case $a in hairpin) hp=1 ;; vlan) vf=1 ;; esac; done
  node "lan-$name"
  if [[ $vf == 1 ]]; then
    must x "lan-$name" ip link add br0 type bridge vlan_filtering 1
  else
    must x "lan-$name" ip link add br0 type bridge
  fi
  must x "lan-$name" ip link set br0 up
  _LAN_HAIRPIN[$name]=$hp
  _LAN_VLAN[$name]=$vf
}

# plug NODE IF LAN [access:VID | trunk:VID,VID...]: NODE's NIC IF is a veth whose peer
# is a port of LAN's bridge. access = `vlan: VID` (pvid untagged, vid 1 removed);
# trunk = `trunk: [...]` (those vids tagged, vid 1 stays the untagged pvid); nothing =
# a plain port (vid 1 pvid untagged).
plug() {
  local n=$1 ifc=$2 l=$3 mode=${4:-}
  local port="$n-$ifc"; port=${port:0:15}
  local L="lan-$l"
  must ip -n "$P-$L" link add "$port" type veth peer name "$ifc" netns "$P-$n"
  must ip -n "$P-$L" link set "$port" master br0 up
  if [[ ${_LAN_HAIRPIN[$l]} == 1 ]]; then must x "$L" bridge link set dev "$port" hairpin on; fi
  case $mode in
    access:*)
      must x "$L" bridge vlan add vid "${mode#access:}" dev "$port" pvid untagged
      must x "$L" bridge vlan del vid 1 dev "$port" ;;
    trunk:*)
      local v; IFS=, read -ra vs <<<"${mode#trunk:}"
      for v in "${vs[@]}"; do must x "$L" bridge vlan add vid "$v" dev "$port"; done ;;
  esac
  must ip -n "$P-$n" link set "$ifc" up
}

# addr NODE IF CIDR; route NODE ARGS... (ip route add ARGS inside NODE)
addr() { must ip -n "$P-$1" addr add "$3" dev "$2"; }
route() { local n=$1; shift; must ip -n "$P-$n" route add "$@"; }

# child KIND HOST PARENT CONTAINER CIDR [ip-link-args...]: a macvlan/ipvlan child of
# HOST's PARENT, moved into a new namespace CONTAINER and renamed eth0, with CIDR.
child() {
  local kind=$1 h=$2 parent=$3 c=$4 cidr=$5; shift 5
  local tmp="nld$kind${c:0:8}"; tmp=${tmp:0:15}
  node "$c"
  must ip -n "$P-$h" link add link "$parent" name "$tmp" type "$kind" "$@"
  must ip -n "$P-$h" link set "$tmp" netns "$P-$c"
  must ip -n "$P-$c" link set "$tmp" name eth0
  must ip -n "$P-$c" link set eth0 up
  addr "$c" eth0 "$cidr"
}

# vethc HOST BRIDGE CONTAINER CIDR MAC MTU: a container on a bridge of HOST (a Docker
# bridge network or an overlay's bridge): veth eth0 <-> a port of BRIDGE.
vethc() {
  local h=$1 br=$2 c=$3 cidr=$4 mac=$5 mtu=$6
  node "$c"
  local port="v-$c"; port=${port:0:15}
  must ip -n "$P-$h" link add "$port" mtu "$mtu" type veth peer name eth0 netns "$P-$c"
  must ip -n "$P-$h" link set "$port" master "$br" up
  must ip -n "$P-$c" link set eth0 address "$mac" mtu "$mtu" up
  addr "$c" eth0 "$cidr"
}

# ping_step FROM DST [ping args]: `reach` when at least one of 2 echo requests (1 s
# apart, 1 s wait for the last) was answered, else `no-reach`.
ping_step() {
  local from=$1 dst=$2; shift 2
  local out
  if out=$(x "$from" timeout 10 ping -n -c 2 -W 1 "$@" "$dst" 2>&1); then
    echo reach
  else
    echo no-reach
  fi
  printf '# ping %s -> %s %s\n%s\n' "$from" "$dst" "$*" "$out" | sed 's/^/  /' >&2
}

# transfer_step FROM TO_NODE DST_IP [BYTES]: a bulk TCP send of BYTES (default 2 MiB,
# as netloom's `bytes: 2MiB`) from FROM to a sink on port 5201 in TO_NODE, which
# answers with the byte count once the sender has shut down its side. `ok` = that
# answer came, with every byte counted, within 10 s; `stall` = it did not (a path-MTU
# black hole shows as a sender that never finishes). Uses python3 (no iperf3 needed).
transfer_step() {
  local from=$1 to=$2 dst=$3 bytes=${4:-2097152}
  need python3
  x "$to" timeout 15 python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5201)); s.listen(1); s.settimeout(14)
c, _ = s.accept(); c.settimeout(14); n = 0
while True:
    d = c.recv(1 << 16)
    if not d: break
    n += len(d)
c.sendall(str(n).encode()); c.close()
' >/dev/null 2>&1 &
  local spid=$!
  _NLD_PIDS+=("$spid")
  local out
  if out=$(x "$from" timeout 10 python3 -c '
import socket, sys, time
dst, n = sys.argv[1], int(sys.argv[2])
t0 = time.monotonic()
while True:
    try:
        s = socket.create_connection((dst, 5201), timeout=3); break
    except ConnectionRefusedError:
        if time.monotonic() - t0 > 3: raise
        time.sleep(0.05)
s.settimeout(None)
s.sendall(b"x" * n); s.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = s.recv(64)
    if not d: break
    got += d
print("sent %d, the sink counted %s, %.3f s" % (n, got.decode() or "nothing", time.monotonic() - t0))
sys.exit(0 if got == str(n).encode() else 1)
' "$dst" "$bytes" 2>&1); then
    echo ok
  else
    echo stall
  fi
  printf '# transfer %s -> %s:5201, %s bytes\n%s\n' "$from" "$dst" "$bytes" "$out" | sed 's/^/  /' >&2
  kill "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
  return 0
}

# office_lan [hairpin]: LAN office (with hairpin when asked), Docker host h1 (eth0
# 192.168.1.10/24, forwarding) and external laptop (192.168.1.50/24).
office_lan() {
  lan office "$@"
  FORWARD=1 node h1
  plug h1 eth0 office
  addr h1 eth0 192.168.1.10/24
  node laptop
  plug laptop eth0 office
  addr laptop eth0 192.168.1.50/24
}

# child_lan KIND MODE [hairpin]: the macvlan / ipvlan l2 cases' common topology:
# office_lan, and containers a (.128) and b (.129) on a KIND (macvlan|ipvlan) network of
# mode MODE over h1's eth0, default route via the network's gateway 192.168.1.1.
# MACVLAN_B=0 leaves b out.
child_lan() {
  local kind=$1 mode=$2; shift 2
  office_lan "$@"
  child "$kind" h1 eth0 a 192.168.1.128/24 mode "$mode"
  route a default via 192.168.1.1
  if [[ ${MACVLAN_B:-1} == 1 ]]; then
    child "$kind" h1 eth0 b 192.168.1.129/24 mode "$mode"
    route b default via 192.168.1.1
  fi
}

# macvlan_lan MODE [hairpin]: child_lan with macvlan children.
macvlan_lan() {
  child_lan macvlan "$@"
}

# overlay_lan NET_MTU [CONTAINER_MTU]: the overlay cases' topology: LAN office, Docker
# hosts h1 (192.168.1.10) and h2 (192.168.1.11); on each an overlay bridge ov-br (here
# in the host's namespace) with a VXLAN port vxlan0 (VNI 42, port 4789, nolearning, no
# lower device, MTU NET_MTU); c1 (10.0.9.2, on h1) and c2 (10.0.9.3, on h2) with veths
# of CONTAINER_MTU (default NET_MTU) into ov-br. The VXLAN forwarding database floods
# to the remote VTEP (all-zeros entry, so ARP works) and has the remote container's MAC.
overlay_lan() {
  local mtu=$1 cmtu=${2:-$1}
  lan office
  local h ip
  for h in h1:192.168.1.10 h2:192.168.1.11; do
    ip=${h#*:}; h=${h%%:*}
    FORWARD=1 node "$h"
    plug "$h" eth0 office
    addr "$h" eth0 "$ip/24"
    must x "$h" ip link add ov-br type bridge
    must x "$h" ip link add vxlan0 type vxlan id 42 dstport 4789 nolearning
    must x "$h" ip link set vxlan0 mtu "$mtu" master ov-br up
    must x "$h" ip link set ov-br up
  done
  vethc h1 ov-br c1 10.0.9.2/24 02:42:0a:00:09:02 "$cmtu"
  vethc h2 ov-br c2 10.0.9.3/24 02:42:0a:00:09:03 "$cmtu"
  must x h1 bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 192.168.1.11
  must x h2 bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 192.168.1.10
  must x h1 bridge fdb add 02:42:0a:00:09:03 dev vxlan0 dst 192.168.1.11
  must x h2 bridge fdb add 02:42:0a:00:09:02 dev vxlan0 dst 192.168.1.10
}

# ipvlan_l3_lan MODE: the ipvlan l3/l3s cases' topology: LAN office, h1 (eth0
# 192.168.1.10/24, no route to the containers' subnets), laptop (192.168.1.50/24, no
# route either), laptop2 (192.168.1.51/24, a router with `10.1.1.0/24 via
# 192.168.1.10`), and on h1's eth0 in ipvlan mode MODE: a = 10.1.1.2/24 and
# b = 10.1.2.2/24 (two networks on one parent), each with `default dev eth0` as Docker
# sets for l3.
ipvlan_l3_lan() {
  local mode=$1
  office_lan
  FORWARD=1 node laptop2
  plug laptop2 eth0 office
  addr laptop2 eth0 192.168.1.51/24
  route laptop2 10.1.1.0/24 via 192.168.1.10
  child ipvlan h1 eth0 a 10.1.1.2/24 mode "$mode"
  route a default dev eth0
  child ipvlan h1 eth0 b 10.1.2.2/24 mode "$mode"
  route b default dev eth0
}

# ipvlan_l3_case MODE: the ipvlan l3/l3s cases, topology and steps (l3 and l3s behave
# alike for reachability; their cases differ only in the mode).
ipvlan_l3_case() {
  ipvlan_l3_lan "$1"
  ping_step a 10.1.2.2              # a -> b (other subnet, same parent)
  ping_step a 192.168.1.50          # a -> laptop (which has no route back)
  ping_step laptop 10.1.1.2         # laptop -> a, no route
  ping_step laptop2 10.1.1.2        # laptop2 -> a, route 10.1.1.0/24 via h1
  ping_step a 192.168.1.51          # a -> laptop2
  ping_step a 192.168.1.10          # a -> h1's own address
  ping_step h1 10.1.1.2             # h1 -> a
}

# vlan_macvlan_lan H1PORT MACHINE…: the 802.1Q macvlan cases' topology: a VLAN-filtering
# LAN office, h1 (eth0 192.168.1.10/24 on switch port H1PORT: `trunk:10,20` or empty
# for a plain port), machines NAME:IP:[access:VID] on their ports, and container a
# (192.168.1.128/24) on a macvlan (bridge) over h1's eth0.10.
vlan_macvlan_lan() {
  local h1port=$1 e n ip m v; shift
  lan office vlan
  FORWARD=1 node h1
  plug h1 eth0 office ${h1port:+"$h1port"}
  addr h1 eth0 192.168.1.10/24
  for e in "$@"; do
    IFS=: read -r n ip m v <<<"$e"
    node "$n"; plug "$n" eth0 office "${m:+$m:$v}"; addr "$n" eth0 "$ip/24"
  done
  must ip -n "$P-h1" link add link eth0 name eth0.10 type vlan id 10
  must ip -n "$P-h1" link set eth0.10 up
  child macvlan h1 eth0.10 a 192.168.1.128/24 mode bridge
  route a default via 192.168.1.1
}
