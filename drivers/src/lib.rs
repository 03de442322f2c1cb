//! netloom-drivers: everything that gives a packet its fate.
//!
//! | module | what it models |
//! | --- | --- |
//! | [`bridge`] | Linux's learning bridge: FDB with ageing, flooding, no reflection |
//! | [`cni`] | CNI configurations of the reference plugins: ADD/DEL/CHECK, host-local, the plugins' iptables rules |
//! | [`dns`] | DNS messages (simple-dns), resolv.conf and glibc search rules, the embedded server's directory |
//! | [`router`] | a network namespace's kernel as subsystems (addresses, routes, neighbours, reassembly, sockets and applications) and the packet walk through them: ICMP errors, fragmentation, forwarding |
//! | [`netfilter`] | rules as data (raw, nat, filter), conntrack, masquerade and published ports (DNAT) |
//! | [`policy`] | Kubernetes NetworkPolicy semantics: selectors, peers, ports, policyTypes defaulting; a pure allow/deny verdict naming the deciding policies |
//! | [`host`] | smoltcp sockets and the step applications (connect, transfer, echo listeners) |
//! | [`docker`] | the Docker model: hosts, networks, IPAM results, containers, compiled into elements |
//! | [`nic`] | a physical NIC with 802.1Q subinterfaces, macvlan and ipvlan children |
//! | [`net`] | packet helpers over `smoltcp::wire` |
//! | [`summary`] | one line saying what a frame is, for traces |

#![warn(missing_docs)]

pub mod bridge;
pub mod cni;
pub mod dns;
pub mod docker;
pub mod host;
pub mod net;
pub mod netfilter;
pub mod nic;
pub mod policy;
pub mod router;
pub mod summary;
pub mod tap;
