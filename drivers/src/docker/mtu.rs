//! The one rule that decides an interface's MTU.
//!
//! Every interface the Docker model creates takes its MTU from [`mtu`]; the compiler
//! and the IPAM phase describe the interface with a [`Device`] and never work an MTU
//! out themselves. Ground truth, as of moby docker-v29.7:
//!
//! - daemon.json `mtu` reaches only the default bridge: `initBridgeDriver`
//!   (daemon/daemon_unix.go) passes it as docker0's `com.docker.network.driver.mtu`.
//!   User bridge networks and `docker_gwbridge` take their own option, default 1500.
//! - overlay: the option (default 1500) less VXLAN's 50 bytes, and ESP's overhead
//!   when encrypted (`ov_network.go`).
//! - macvlan / ipvlan children: the drivers create the child with no MTU
//!   (`macvlan_setup.go`), so the kernel gives it the parent's; the driver ignores
//!   `com.docker.network.driver.mtu`. The kernel refuses a child MTU above the
//!   parent's (`macvlan_common_newlink`: EINVAL), so a child can never outgrow it.
//! - a NIC keeps its own MTU (its link's `mtu`, else its host's `mtu`, else 1500); a
//!   LAN's `mtu` is the switch's frame limit, not a setting of the NICs on it.

use super::{Driver, Model};

/// An interface, as far as its MTU is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Device {
    /// A NIC of a host, router or external machine: its own `mtu`, else the `mtu` of
    /// its link in `links:`, else its owner's `mtu`, else 1500.
    Nic {
        own: Option<u32>,
        link: Option<u32>,
        owner: Option<u32>,
    },
    /// docker0: daemon.json `mtu`.
    DefaultBridge { daemon: u32 },
    /// A user bridge network or `docker_gwbridge`: the driver option, else 1500.
    Bridge { option: Option<u32> },
    /// An overlay network's devices.
    Overlay { option: Option<u32>, encrypted: bool },
    /// A macvlan / ipvlan child or a host's macvlan shim: its parent's MTU.
    Child { parent: u32 },
    /// A container's end of its attachment: the `mtu` of its link in `links:`,
    /// else its network's.
    Endpoint { link: Option<u32>, network: u32 },
}

/// The MTU of `d`.
pub(crate) fn mtu(d: Device) -> u32 {
    const DEFAULT: u32 = 1500;
    match d {
        Device::Nic { own, link, owner } => own.or(link).or(owner).unwrap_or(DEFAULT),
        Device::DefaultBridge { daemon } => daemon,
        Device::Bridge { option } => option.unwrap_or(DEFAULT),
        Device::Overlay { option, encrypted } => {
            let mut m = option
                .unwrap_or(DEFAULT)
                .saturating_sub(crate::router::VXLAN_OVERHEAD);
            if encrypted {
                m = m.saturating_sub(crate::router::ESP_OVERHEAD);
                m -= m % 4;
            }
            m
        }
        Device::Child { parent } => parent,
        Device::Endpoint { link, network } => link.unwrap_or(network),
    }
}

/// The `mtu` that `links:` gives the attachment `key` (`node.iface`).
pub(crate) fn link_mtu(m: &Model, key: &str) -> Option<u32> {
    m.links
        .iter()
        .find(|l| l.between.iter().any(|b| b == key))
        .and_then(|l| l.impair.mtu)
}

/// The MTU of NIC `nic` of host `host` (a shim's is its parent's), `None` when the
/// host has no such NIC.
pub(crate) fn host_nic_mtu(m: &Model, host: &str, nic: &str) -> Option<u32> {
    let h = m.hosts.iter().find(|h| h.name == host)?;
    let n = h.interfaces.iter().find(|n| n.name == nic)?;
    if let Some(parent) = &n.macvlan_of
        && parent != nic
    {
        return host_nic_mtu(m, host, parent).map(|p| mtu(Device::Child { parent: p }));
    }
    Some(mtu(Device::Nic {
        own: n.mtu,
        link: link_mtu(m, &format!("{host}.{nic}")),
        owner: h.mtu,
    }))
}

/// The device a network's interfaces are, given its parent NIC's MTU (macvlan /
/// ipvlan).
pub(crate) fn network_device(
    driver: Driver,
    default_bridge: bool,
    option: Option<u32>,
    daemon: u32,
    encrypted: bool,
    parent: Option<u32>,
) -> Device {
    match driver {
        Driver::Bridge if default_bridge => Device::DefaultBridge { daemon },
        Driver::Overlay => Device::Overlay { option, encrypted },
        Driver::Macvlan | Driver::Ipvlan => Device::Child {
            parent: parent.unwrap_or(1500),
        },
        _ => Device::Bridge { option },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the rules of the module doc: daemon `mtu` is docker0's alone, user
    /// bridges default to 1500, children follow their parent whatever the option
    /// says, NICs never take a LAN's limit.
    #[test]
    fn one_rule_per_device() {
        assert_eq!(
            mtu(network_device(Driver::Bridge, true, None, 1400, false, None)),
            1400
        );
        assert_eq!(
            mtu(network_device(Driver::Bridge, false, None, 1400, false, None)),
            1500
        );
        assert_eq!(
            mtu(network_device(
                Driver::Bridge,
                false,
                Some(9000),
                1400,
                false,
                None
            )),
            9000
        );
        assert_eq!(
            mtu(network_device(Driver::Overlay, false, None, 1400, false, None)),
            1450
        );
        assert_eq!(
            mtu(network_device(
                Driver::Macvlan,
                false,
                Some(1500),
                1500,
                false,
                Some(1400)
            )),
            1400
        );
        assert_eq!(
            mtu(network_device(
                Driver::Ipvlan,
                false,
                None,
                1500,
                false,
                Some(9000)
            )),
            9000
        );
        assert_eq!(
            mtu(Device::Nic {
                own: None,
                link: None,
                owner: None
            }),
            1500
        );
        assert_eq!(
            mtu(Device::Nic {
                own: None,
                link: Some(1400),
                owner: Some(9000)
            }),
            1400
        );
        assert_eq!(
            mtu(Device::Endpoint {
                link: None,
                network: 1450
            }),
            1450
        );
    }
}
