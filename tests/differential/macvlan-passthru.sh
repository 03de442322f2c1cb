#!/usr/bin/env bash
# Kernel side of macvlan-passthru.yaml: one passthru child a takes over h1's eth0 (it
# inherits eth0's MAC address and receives everything that arrives on eth0).
. "$(dirname "$0")/lib.sh"
MACVLAN_B=0 macvlan_lan passthru
# A second child on a passthru parent is refused; its error goes to stderr.
if ip -n "$P-h1" link add link eth0 name nldmv2 type macvlan mode passthru 2>"/tmp/$P-passthru2.err"; then
  echo "# second passthru child: accepted" >&2
else
  echo "# second passthru child: $(cat "/tmp/$P-passthru2.err")" >&2
fi
if ip -n "$P-h1" link add link eth0 name nldmv3 type macvlan mode bridge 2>"/tmp/$P-passthru2.err"; then
  echo "# bridge-mode child on a passthru parent: accepted" >&2
else
  echo "# bridge-mode child on a passthru parent: $(cat "/tmp/$P-passthru2.err")" >&2
fi
rm -f "/tmp/$P-passthru2.err"

ping_step a 192.168.1.50        # a -> laptop
ping_step laptop 192.168.1.128  # laptop -> a
ping_step h1 192.168.1.50       # h1 -> laptop (h1's eth0 lost its traffic to a)
ping_step laptop 192.168.1.10   # laptop -> h1
