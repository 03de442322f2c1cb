#!/usr/bin/env bash
# netloom-differential: vm (this machine's kernel has no ESP / rfc4106(gcm(aes)); see record.sh)
# Kernel side of vxlan-encrypted.yaml: an encrypted overlay network (VNI 42) across h1/h2.
# As Docker programs it for `--opt encrypted`: IPsec ESP in transport mode with
# rfc4106(gcm(aes)) and a 64-bit ICV, policies selecting UDP to port 4789 between the
# hosts' underlay addresses (out and in, on both hosts), and the overlay's MTU (vxlan0
# and the containers' veths) lowered to 1424 = 1500 - 50 (VXLAN) - 26 (ESP), rounded
# down to a multiple of 4.
#
# Besides the steps, when tcpdump is installed, the outer IP lengths of the ESP packets
# seen on h1's eth0 for a 1396-byte and a 56-byte ping are printed to stderr
# (`esp-sizes: ...`), to compare with netloom's ESP sizing.
. "$(dirname "$0")/lib.sh"
overlay_lan 1424

# IPsec SAs and policies as Docker's overlay driver sets them (libnetwork's
# encryption.go): one SA per direction (20-byte key = 16 bytes of AES key + 4 of salt).
K12=0x0102030405060708090a0b0c0d0e0f1011121314
K21=0x2122232425262728292a2b2c2d2e2f3031323334
A=192.168.1.10 B=192.168.1.11
sa() { # NODE SRC DST SPI KEY
  local out
  if ! out=$(x "$1" ip xfrm state add src "$2" dst "$3" proto esp spi "$4" reqid 1 mode transport \
    aead 'rfc4106(gcm(aes))' "$5" 64 2>&1); then
    unsupported "the kernel cannot add an ESP rfc4106(gcm(aes)) SA (no esp4/xfrm/AES-GCM here?): $out"
  fi
}
sp() { # NODE DIR SRC DST SPI
  must x "$1" ip xfrm policy add dir "$2" src "$3/32" dst "$4/32" proto udp dport 4789 \
    tmpl src "$3" dst "$4" proto esp spi "$5" reqid 1 mode transport
}
for h in h1 h2; do
  sa "$h" $A $B 0x0000a12b $K12
  sa "$h" $B $A 0x0000b21a $K21
done
sp h1 out $A $B 0x0000a12b
sp h1 in  $B $A 0x0000b21a
sp h2 out $B $A 0x0000b21a
sp h2 in  $A $B 0x0000a12b

cap=
if command -v tcpdump >/dev/null; then
  cap=$(mktemp /tmp/"$P"-esp.XXXXXX)
  trap 'rm -f "$cap"; nld_cleanup' EXIT
  x h1 timeout 30 tcpdump -l -n -v -i eth0 "esp and src $A" >"$cap" 2>/dev/null &
  _NLD_PIDS+=($!)
  sleep 1
fi

ping_step c1 10.0.9.3                  # c1 -> c2 through ESP
ping_step c1 10.0.9.3 -M do -s 1396    # 1396 + 28 = 1424: fits; outer ESP packet 1500
ping_step c1 10.0.9.3 -M do -s 1397    # 1425 > the container's MTU 1424

# Not a step: the outer (ESP) IP lengths on the underlay, from h1 to h2.
if [[ -n $cap ]]; then
  esp_len() { # ping args... -> the outer length of the ESP packets from h1 that 3 echo
    # requests caused (the most frequent length in that window; others, such as a
    # flooded ARP or IPv6 neighbour discovery frame, follow in parentheses)
    local before
    before=$(grep -c 'proto ESP' "$cap")
    x c1 timeout 5 ping -n -c 3 -i 0.2 -W 1 "$@" 10.0.9.3 >/dev/null 2>&1
    sleep 0.5
    grep 'proto ESP' "$cap" | tail -n +$((before + 1)) | sed -n 's/.*, length \([0-9]*\)).*/\1/p' |
      sort | uniq -c | sort -rn | awk 'NR == 1 {m = $2} NR > 1 {o = o " " $2}
        END {printf "%s", m; if (o != "") printf " (also%s)", o}'
  }
  echo "esp-sizes: ping -s 1396 -M do (inner IP 1424): outer $(esp_len -M do -s 1396);" \
    "ping -s 56 (inner IP 84): outer $(esp_len -s 56)" >&2
  rm -f "$cap"
fi
