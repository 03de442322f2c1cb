//! Docker's iptables rules as data: what `dockerd` (29.x, or 28.5 with
//! `daemon: { version: 28 }`) programs into the raw, nat and filter tables for a host's
//! bridge networks, containers and published ports — in the order it programs them
//! (network creation order; per-port rules as containers start).
//!
//! Reference: moby's `integration/network/bridge/iptablesdoc/` at tag `docker-v29.7.2`
//! (and `v28.5.2`), and `daemon/libnetwork/drivers/bridge/internal/iptabler/`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::GatewayMode;
use crate::net::L4;
use crate::netfilter::Ruleset;

/// What Docker's rules depend on, for one host.
#[derive(Clone, Debug)]
pub struct DockerFirewall {
    /// Docker release: 28 or 29 (anything else: 29).
    pub version: u32,
    /// daemon.json `userland-proxy`.
    pub userland_proxy: bool,
    /// Bridge networks in creation order (`docker0` first).
    pub networks: Vec<BridgeNet>,
}

/// One bridge network.
#[derive(Clone, Debug)]
pub struct BridgeNet {
    /// The bridge device (`docker0`, `br-…`, or `com.docker.network.bridge.name`).
    pub device: String,
    /// IPv4 subnet.
    pub v4: Option<Ipv4Net>,
    /// IPv6 subnet.
    pub v6: Option<Ipv6Net>,
    /// Inter-container communication.
    pub icc: bool,
    /// `internal: true`.
    pub internal: bool,
    /// `com.docker.network.bridge.gateway_mode_ipv4`.
    pub gateway_mode: GatewayMode,
    /// Endpoints of running containers, in the order they started.
    pub endpoints: Vec<Endpoint>,
}

/// A running container's endpoint on a bridge network.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// IPv4 address.
    pub v4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub v6: Option<Ipv6Addr>,
    /// Published ports (only on the container's gateway endpoint).
    pub ports: Vec<PortBinding>,
}

/// One published port (`-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortBinding {
    /// Transport.
    pub l4: L4,
    /// Host address (`None` = every address).
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
}

/// The IPv4 tables Docker programs for `fw`.
pub fn ruleset_v4(fw: &DockerFirewall) -> Ruleset {
    let _ = fw;
    Ruleset::default()
}

/// The IPv6 tables Docker programs for `fw` (networks with `enable_ipv6`).
pub fn ruleset_v6(fw: &DockerFirewall) -> Ruleset {
    let _ = fw;
    Ruleset::default()
}
