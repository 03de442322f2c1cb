//! The typed form of a scenario file (SCENARIO-FORMAT.md, format 1).
//!
//! [`parse_scenario`] turns YAML text into a [`Scenario`] or one [`ScenarioError`] that
//! points at `file:line:column`. Every struct denies unknown keys, so a misspelt key is
//! an error that names the nearest valid one.
//!
//! What this module checks and what it leaves to the validator:
//! - here: YAML syntax, the shape of every value, key names, enum words (`driver`,
//!   `expect`, drop reasons…), IP addresses and CIDRs (typed on parse), and that a
//!   step has exactly one action;
//! - later, through the `parse_*` helpers: compact strings (durations, rates, sizes,
//!   percentages, port publications, listen specs, step targets). They stay
//!   [`Spanned<String>`] so the validator can point at the exact value.
//!
//! Name-keyed maps are [`IndexMap`]s keyed by [`Name`], which keeps declaration order
//! (interface `eth0`, `eth1`… and IPAM allocation depend on it) and the key's location,
//! and still looks up by `&str` (`map.get("host1")`).
//!
//! Keys that are in the contract but not implemented yet parse normally;
//! [`reject_unsupported`] reports them.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Deref;
use std::time::Duration;

use indexmap::IndexMap;
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, Visitor};
pub use serde_saphyr::{Location, Spanned};

use crate::error::{ScenarioError, hinted, location_of};

mod policy;
pub use policy::{Expression, LabelMap, Namespace, Operator, Policy, PolicyPeer, PolicyRule, PolicyType};

/// A name-keyed map in declaration order.
pub type NameMap<T> = IndexMap<Name, T>;

/// Largest scenario file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

// ---------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------

/// Parses a scenario file.
///
/// `file` is only used in error messages. Input is bounded (size, nesting depth,
/// node count, alias expansion), so hostile input gives an error, never a hang or a
/// panic.
///
/// # Errors
///
/// The first syntax or shape error, with its line, column and, where one helps, a hint.
pub fn parse_scenario(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ScenarioError::new(
            file,
            1,
            1,
            format!(
                "the file is {} bytes, more than the {MAX_FILE_BYTES} a scenario may have",
                text.len()
            ),
        ));
    }
    if is_blank_yaml(text) {
        return Err(ScenarioError::new(file, 1, 1, "the file is empty")
            .with_hint("a scenario needs at least `name:` and `steps:`"));
    }
    let options = serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: 32,
            flow_nesting_limit: 32,
            max_events: 500_000,
            max_nodes: 200_000,
            max_aliases: 2_000,
            max_anchors: 2_000,
            max_recorded_anchor_events: 100_000,
            max_recorded_anchor_bytes: 4 * 1024 * 1024,
            max_total_scalar_bytes: MAX_FILE_BYTES,
            max_documents: 1,
            max_inclusion_depth: 0,
            max_merge_keys: 1_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 1_000,
        },
    };
    serde_saphyr::from_str_with_options::<Scenario>(text, options).map_err(|e| {
        let mut e = [ScenarioError::from_yaml(file, &e)];
        crate::error::link_sections(&mut e, text);
        let [e] = e;
        e
    })
}

/// Reports every key of `s` that this version parses but does not implement yet, each
/// at its value's location, in file order within each section.
pub fn reject_unsupported(file: &str, s: &Scenario) -> Vec<ScenarioError> {
    let mut out = Vec::new();
    let mut flag = |at: Location, key: &str, capability: &str| {
        out.push(ScenarioError::at(
            file,
            &at,
            format!("'{key}' is not supported yet ({capability}: coming in a later version)"),
        ));
    };

    for router in s.routers.values() {
        for iface in router.interfaces.values() {
            if let Some(v) = &iface.macvlan_of {
                flag(location_of(v), "macvlan_of", "macvlan shims on routers");
            }
            if let Some(v) = &iface.mode {
                flag(location_of(v), "mode", "macvlan shims on routers");
            }
            if let Some(v) = &iface.routes {
                flag(
                    location_of(v),
                    "routes",
                    "per-interface routes on routers (use the router's `routes:`)",
                );
            }
        }
    }
    out
}

/// True when the text holds no YAML content (only whitespace, comments, `---`/`...`).
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

// ---------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------

/// A map key (a host, LAN, network, container… name) with the location where it was
/// written. Equality and hashing use the text only, so `NameMap::get("api")` works.
#[derive(Clone, Debug)]
pub struct Name {
    /// The name as written.
    pub value: String,
    /// Where the key appears in the file.
    pub location: Location,
}

impl Name {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl Eq for Name {}
impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly as `str` does for `Borrow<str>` lookups.
        self.value.as_str().hash(state);
    }
}
impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.value
    }
}
impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.value
    }
}
impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.value
    }
}
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}
impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<String>::deserialize(d)?;
        let location = location_of(&s);
        Ok(Name {
            value: s.value,
            location,
        })
    }
}

/// A name map whose values may be written as nothing (`office:`), meaning all defaults.
/// Each entry goes straight into the map (no second map of `Option`s to convert): a
/// file of 10,000 containers moves each one once.
fn name_map_nullable<'de, D, T>(d: D) -> Result<NameMap<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    struct Nullable<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de> + Default> serde::de::Visitor<'de> for Nullable<T> {
        type Value = NameMap<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of names")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(NameMap::default())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(NameMap::default())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            let mut m = NameMap::with_capacity(a.size_hint().unwrap_or(0).min(1 << 16));
            while let Some((k, v)) = a.next_entry::<Name, Option<T>>()? {
                m.insert(k, v.unwrap_or_default());
            }
            Ok(m)
        }
    }
    d.deserialize_option(Nullable(std::marker::PhantomData))
}

/// A name map that may itself be written as nothing (`externals:`).
fn name_map<'de, D, T>(d: D) -> Result<NameMap<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<NameMap<T>>::deserialize(d)?.unwrap_or_default())
}

/// A list that may be written as nothing (`steps:`).
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------
// The file
// ---------------------------------------------------------------------------------

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Scenario {
    /// Required scenario name.
    pub name: Spanned<String>,
    /// Free text shown by `netloom run` and in reports.
    #[serde(default)]
    pub description: Option<String>,
    /// Seed of every random draw; default 0.
    #[serde(default)]
    pub seed: u64,
    /// Docker hosts. Empty here means the default (one host `host1`, no NICs); the
    /// validator fills that in.
    #[serde(default, deserialize_with = "name_map_nullable")]
    pub hosts: NameMap<Host>,
    /// Physical L2 segments, a switch each.
    #[serde(default, deserialize_with = "name_map_nullable")]
    pub lans: NameMap<Lan>,
    /// Plain L3 routers between LANs.
    #[serde(default, deserialize_with = "name_map_nullable")]
    pub routers: NameMap<Router>,
    /// Plain machines outside any Docker host.
    #[serde(default, deserialize_with = "name_map")]
    pub externals: NameMap<External>,
    /// User-defined Docker networks (the predefined `bridge`/`host`/`none` are implied).
    #[serde(default, deserialize_with = "name_map_nullable")]
    pub networks: NameMap<Network>,
    /// Containers.
    #[serde(default, deserialize_with = "name_map_nullable")]
    pub containers: NameMap<Container>,
    /// Link impairments.
    #[serde(default, deserialize_with = "list")]
    pub links: Vec<Spanned<Link>>,
    /// Firewall rules per host or router, each list in file order.
    #[serde(default, deserialize_with = "name_map_nullable")]
    pub firewall: NameMap<Vec<Spanned<FirewallRule>>>,
    /// `false`: the network plugin ignores NetworkPolicies (default `true`).
    #[serde(default)]
    pub policy_enforcement: Option<Spanned<bool>>,
    /// Kubernetes-style namespaces and their labels, for policies.
    #[serde(default, deserialize_with = "name_map_nullable")]
    pub namespaces: NameMap<Namespace>,
    /// Kubernetes NetworkPolicies, in file order.
    #[serde(default, deserialize_with = "list")]
    pub policies: Vec<Spanned<Policy>>,
    /// Steps, run in order. The `Spanned` gives each step's position.
    #[serde(default, deserialize_with = "list")]
    pub steps: Vec<Spanned<Step>>,
}

/// A Docker host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Host {
    /// Physical NICs and shims, in declaration order.
    #[serde(default, deserialize_with = "name_map")]
    pub interfaces: NameMap<Interface>,
    /// Default route of the host.
    #[serde(default)]
    pub gateway: Option<Spanned<IpAddr>>,
    /// Default MTU of the host's NICs.
    #[serde(default)]
    pub mtu: Option<Spanned<u32>>,
    /// Upstream resolvers, like daemon.json `dns`.
    #[serde(default)]
    pub dns: Option<Spanned<Vec<Spanned<IpAddr>>>>,
    /// The Docker daemon's settings.
    #[serde(default)]
    pub daemon: Option<Daemon>,
}

/// A host or router interface.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Interface {
    /// Address with prefix length, e.g. `192.168.1.10/24`.
    #[serde(default)]
    pub address: Option<Spanned<IpNet>>,
    /// The LAN the NIC is plugged into.
    #[serde(default)]
    pub lan: Option<Spanned<String>>,
    /// Access port in this VLAN.
    #[serde(default)]
    pub vlan: Option<Spanned<u16>>,
    /// Tagged trunk carrying these VLANs.
    #[serde(default)]
    pub trunk: Option<Spanned<Vec<Spanned<u16>>>>,
    /// Makes this a macvlan shim on that interface.
    #[serde(default)]
    pub macvlan_of: Option<Spanned<String>>,
    /// Macvlan mode of the shim.
    #[serde(default)]
    pub mode: Option<Spanned<MacvlanMode>>,
    /// Host routes sent through this interface.
    #[serde(default)]
    pub routes: Option<Spanned<Vec<Spanned<IpNet>>>>,
    /// The NIC's own MTU (an addition; default: the host's `mtu`, else 1500). A LAN's
    /// `mtu` does not change it.
    #[serde(default)]
    pub mtu: Option<Spanned<u32>>,
}

/// Docker daemon settings, with daemon.json's key names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Daemon {
    /// Default MTU of bridge networks.
    #[serde(default)]
    pub mtu: Option<Spanned<u32>>,
    /// Inter-container traffic on the default bridge.
    #[serde(default)]
    pub icc: Option<Spanned<bool>>,
    /// Whether docker-proxy handles published ports.
    #[serde(default)]
    pub userland_proxy: Option<Spanned<bool>>,
    /// Address pools for networks without a subnet; Docker's defaults when omitted.
    #[serde(default)]
    pub default_address_pools: Option<Spanned<Vec<Spanned<AddressPool>>>>,
    /// The host's `net.ipv4.ip_forward`.
    #[serde(default)]
    pub ip_forward: Option<Spanned<bool>>,
    /// The filter FORWARD chain's policy once Docker has started: `drop` where Docker
    /// had to enable `ip_forward` itself (and `ip-forward-no-drop` is not set), `accept`
    /// (the default) where forwarding was on before (an addition).
    #[serde(default)]
    pub forward_policy: Option<Spanned<String>>,
    /// The host's own resolv.conf nameservers.
    #[serde(default)]
    pub resolv_conf: Option<Spanned<Vec<Spanned<IpAddr>>>>,
    /// The Docker release whose iptables rules the host gets: 28 or 29 (an addition;
    /// default 29).
    #[serde(default)]
    pub version: Option<Spanned<u32>>,
}

/// One `default-address-pools` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AddressPool {
    /// The pool, e.g. `172.17.0.0/16`.
    pub base: Spanned<IpNet>,
    /// Prefix length of each network carved from it.
    pub size: Spanned<u8>,
}

/// A physical L2 segment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Lan {
    /// MTU of the segment.
    #[serde(default)]
    pub mtu: Option<Spanned<u32>>,
    /// Reflective relay (VEPA): frames may leave through the port they came in.
    #[serde(default)]
    pub hairpin: Option<Spanned<bool>>,
    /// Port security: each port accepts only frames from the MAC of the NIC cabled
    /// to it (VMware vSwitch rejecting forged transmits, cloud VPCs).
    #[serde(default)]
    pub port_security: Option<Spanned<bool>>,
}

/// A plain L3 router.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Router {
    /// Interfaces, in declaration order.
    #[serde(default, deserialize_with = "name_map")]
    pub interfaces: NameMap<Interface>,
    /// Static routes.
    #[serde(default, deserialize_with = "list")]
    pub routes: Vec<Spanned<Route>>,
    /// Interface name out of which to source-NAT.
    #[serde(default)]
    pub masquerade: Option<Spanned<String>>,
}

/// A static route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Route {
    /// Destination prefix.
    pub to: Spanned<IpNet>,
    /// Next hop.
    pub via: Spanned<IpAddr>,
}

/// A plain machine outside any Docker host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct External {
    /// Address with prefix length.
    pub address: Spanned<IpNet>,
    /// The LAN it is plugged into.
    pub lan: Spanned<String>,
    /// Default route.
    #[serde(default)]
    pub gateway: Option<Spanned<IpAddr>>,
    /// Echo listeners, `tcp/80` etc. (see [`parse_listen`]).
    #[serde(default, deserialize_with = "list")]
    pub listen: Vec<Spanned<String>>,
    /// Access port in this VLAN.
    #[serde(default)]
    pub vlan: Option<Spanned<u16>>,
    /// Tagged trunk.
    #[serde(default)]
    pub trunk: Option<Spanned<Vec<Spanned<u16>>>>,
    /// A real namespace under `netloom emulate`.
    #[serde(default)]
    pub emulate: Option<Spanned<bool>>,
    /// Records served by this machine as a DNS server on UDP port 53.
    #[serde(default)]
    pub dns_records: Option<Spanned<IndexMap<String, Vec<Spanned<IpAddr>>>>>,
    /// Its own resolvers (an addition; default: none, a world that knows no lab names).
    #[serde(default)]
    pub dns: Option<Spanned<Vec<Spanned<IpAddr>>>>,
    /// Its NIC's MTU (an addition; default 1500).
    #[serde(default)]
    pub mtu: Option<Spanned<u32>>,
}

/// A Docker network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Network {
    /// The driver; `bridge` when omitted.
    #[serde(default)]
    pub driver: Option<Spanned<NetworkDriver>>,
    /// The host of a local-scope network.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// The hosts of an overlay network.
    #[serde(default)]
    pub hosts: Option<Spanned<Vec<Spanned<String>>>>,
    /// No route out of the network.
    #[serde(default)]
    pub internal: Option<Spanned<bool>>,
    /// IPv6 on the network.
    #[serde(default)]
    pub enable_ipv6: Option<Spanned<bool>>,
    /// Address management.
    #[serde(default)]
    pub ipam: Option<Ipam>,
    /// Driver options, with Docker's names.
    #[serde(default)]
    pub driver_opts: Option<DriverOpts>,
    /// An addition: the network is made by CNI's reference plugins (what `netloom
    /// import cni` writes); its host runs no Docker and gets the plugins' rules.
    #[serde(default)]
    pub cni: Option<Spanned<CniNet>>,
}

/// `cni:` of a network: the plugin settings that change packets' fate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CniNet {
    /// The CNI network's `name` (chain names hash it; default: the network's key).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// bridge `ipMasq`: the `CNI-<hash>` masquerade chains.
    #[serde(default)]
    pub ip_masq: bool,
    /// bridge `hairpinMode`.
    #[serde(default)]
    pub hairpin_mode: bool,
    /// The portmap plugin is chained: container `ports:` become its DNAT rules.
    #[serde(default)]
    pub portmap: bool,
    /// portmap `snat` (default true).
    #[serde(default)]
    pub portmap_snat: Option<bool>,
    /// portmap `markMasqBit` (default 13).
    #[serde(default)]
    pub portmap_mark_bit: Option<Spanned<u32>>,
    /// The firewall plugin is chained (`CNI-FORWARD`, `CNI-ADMIN`).
    #[serde(default)]
    pub firewall: bool,
    /// firewall `iptablesAdminChainName` (default `CNI-ADMIN`).
    #[serde(default)]
    pub firewall_admin_chain: Option<Spanned<String>>,
    /// firewall `ingressPolicy`: `open` (default), `same-bridge` or `isolated`.
    #[serde(default)]
    pub firewall_ingress_policy: Option<Spanned<String>>,
}

/// Network drivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkDriver {
    /// A Linux bridge with NAT (Docker's default).
    Bridge,
    /// The host's own network stack.
    Host,
    /// Loopback only.
    None,
    /// VXLAN across hosts (not supported yet).
    Overlay,
    /// Macvlan on a parent interface (not supported yet).
    Macvlan,
    /// Ipvlan on a parent interface (not supported yet).
    Ipvlan,
}

impl fmt::Display for NetworkDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkDriver::Bridge => "bridge",
            NetworkDriver::Host => "host",
            NetworkDriver::None => "none",
            NetworkDriver::Overlay => "overlay",
            NetworkDriver::Macvlan => "macvlan",
            NetworkDriver::Ipvlan => "ipvlan",
        })
    }
}

/// Macvlan modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    /// Sub-interfaces of one parent talk directly.
    Bridge,
    /// No traffic between sub-interfaces.
    Private,
    /// Everything goes out to the switch (reflective relay needed).
    Vepa,
    /// One sub-interface owns the parent.
    Passthru,
}

/// A network's `ipam` block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Ipam {
    /// Subnets, in order.
    #[serde(default, deserialize_with = "list")]
    pub config: Vec<Spanned<IpamConfig>>,
}

/// One IPAM subnet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IpamConfig {
    /// The subnet.
    pub subnet: Spanned<IpNet>,
    /// The gateway; default: first usable address.
    #[serde(default)]
    pub gateway: Option<Spanned<IpAddr>>,
    /// Sub-range from which container addresses are allocated.
    #[serde(default)]
    pub ip_range: Option<Spanned<IpNet>>,
    /// Addresses IPAM must never allocate (a router, a NAS already on the range), by
    /// name, as compose's `aux_addresses` and `--aux-address`.
    #[serde(default)]
    pub aux_addresses: Option<Spanned<NameMap<Spanned<IpAddr>>>>,
}

/// `driver_opts`, with the names Docker uses. Values are strings, as in Docker.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DriverOpts {
    /// Macvlan/ipvlan parent, `eth0.10` = 802.1Q subinterface.
    #[serde(default)]
    pub parent: Option<Spanned<String>>,
    /// `bridge | private | vepa | passthru`.
    #[serde(default)]
    pub macvlan_mode: Option<Spanned<String>>,
    /// `l2 | l3 | l3s`.
    #[serde(default)]
    pub ipvlan_mode: Option<Spanned<String>>,
    /// Overlay encryption.
    #[serde(default)]
    pub encrypted: Option<Spanned<String>>,
    /// `com.docker.network.driver.mtu`.
    #[serde(default, rename = "com.docker.network.driver.mtu")]
    pub mtu: Option<Spanned<String>>,
    /// `com.docker.network.driver.overlay.vxlanid_list`.
    #[serde(default, rename = "com.docker.network.driver.overlay.vxlanid_list")]
    pub overlay_vxlanid_list: Option<Spanned<String>>,
    /// `com.docker.network.bridge.enable_icc`.
    #[serde(default, rename = "com.docker.network.bridge.enable_icc")]
    pub bridge_enable_icc: Option<Spanned<String>>,
    /// `com.docker.network.bridge.enable_ip_masquerade` (an addition): `"false"` =
    /// no MASQUERADE rule for the network's subnet.
    #[serde(default, rename = "com.docker.network.bridge.enable_ip_masquerade")]
    pub bridge_enable_ip_masquerade: Option<Spanned<String>>,
    /// `com.docker.network.bridge.name`: the bridge device's name (an addition).
    #[serde(default, rename = "com.docker.network.bridge.name")]
    pub bridge_name: Option<Spanned<String>>,
    /// `com.docker.network.bridge.gateway_mode_ipv4`: `nat`, `nat-unprotected` or
    /// `routed` (an addition).
    #[serde(default, rename = "com.docker.network.bridge.gateway_mode_ipv4")]
    pub bridge_gateway_mode_ipv4: Option<Spanned<String>>,
}

/// A container.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Container {
    /// The Docker host it runs on.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Networks in attachment order (`eth0`, `eth1`…). `None` = the host's `bridge`.
    #[serde(default)]
    pub networks: Option<Spanned<ContainerNetworks>>,
    /// Published ports, compose short syntax (see [`parse_port_publish`]).
    #[serde(default, deserialize_with = "list")]
    pub ports: Vec<Spanned<String>>,
    /// Echo listeners inside (see [`parse_listen`]).
    #[serde(default, deserialize_with = "list")]
    pub listen: Vec<Spanned<String>>,
    /// Resolvers (`--dns`).
    #[serde(default)]
    pub dns: Option<Spanned<Vec<Spanned<IpAddr>>>>,
    /// Search domains (not supported yet).
    #[serde(default)]
    pub dns_search: Option<Spanned<Vec<Spanned<String>>>>,
    /// Resolver options (`--dns-opt`).
    #[serde(default)]
    pub dns_opt: Option<Spanned<Vec<Spanned<String>>>>,
    /// Labels, for policies.
    #[serde(default)]
    pub labels: Option<Spanned<LabelMap>>,
    /// Namespace, for policies; `default` when omitted.
    #[serde(default)]
    pub namespace: Option<Spanned<String>>,
    /// Named container ports, `http: tcp/80`, for policies' named ports (an addition).
    #[serde(default)]
    pub named_ports: Option<Spanned<NameMap<Spanned<Scalar>>>>,
    /// `/etc/hosts` entries (`--add-host`): see [`ExtraHosts`].
    #[serde(default)]
    pub extra_hosts: Option<ExtraHosts>,
    /// `--mac-address`: the MAC of the first network's interface.
    #[serde(default)]
    pub mac_address: Option<Spanned<String>>,
}

/// A container's networks, in attachment order. Written as a map (an entry may be
/// empty: `appnet:` or `appnet: {}`) or, as compose allows, a list: `[appnet, other]`.
#[derive(Debug, Clone, Default)]
pub struct ContainerNetworks(pub NameMap<ContainerNetwork>);

impl Deref for ContainerNetworks {
    type Target = NameMap<ContainerNetwork>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ContainerNetworks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContainerNetworksVisitor)
    }
}

struct ContainerNetworksVisitor;

impl<'de> Visitor<'de> for ContainerNetworksVisitor {
    type Value = ContainerNetworks;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of network names (or a list of them)")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let raw =
            NameMap::<Option<ContainerNetwork>>::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(ContainerNetworks(
            raw.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect(),
        ))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = NameMap::new();
        while let Some(name) = seq.next_element::<Name>()? {
            if out.contains_key(name.as_str()) {
                return Err(de::Error::custom(format!("network '{name}' is listed twice")));
            }
            out.insert(name, ContainerNetwork::default());
        }
        Ok(ContainerNetworks(out))
    }
}

/// One attachment of a container to a network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ContainerNetwork {
    /// Fixed address; else IPAM allocates in order.
    #[serde(default)]
    pub ipv4_address: Option<Spanned<Ipv4Addr>>,
    /// Fixed IPv6 address, on a network with `enable_ipv6`.
    #[serde(default)]
    pub ipv6_address: Option<Spanned<Ipv6Addr>>,
    /// Extra DNS names on this network.
    #[serde(default, deserialize_with = "list")]
    pub aliases: Vec<Spanned<String>>,
    /// The interface's MAC address (`02:42:ac:14:00:0a`); else Docker's, from the IPv4
    /// address.
    #[serde(default)]
    pub mac_address: Option<Spanned<String>>,
}

/// `extra_hosts`: `["name:addr", "name=addr"]` as compose and `--add-host` write them,
/// or a map `{ name: addr }`. Each entry is kept as `name=addr` text with its position.
#[derive(Debug, Clone, Default)]
pub struct ExtraHosts(pub Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for ExtraHosts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ExtraHostsVisitor)
    }
}

struct ExtraHostsVisitor;

impl<'de> Visitor<'de> for ExtraHostsVisitor {
    type Value = ExtraHosts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of \"name:address\" entries (or a map of name: address)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Spanned<Scalar>>()? {
            out.push(Spanned {
                value: format!("{k}={}", v.value.0),
                referenced: v.referenced,
                defined: v.defined,
            });
        }
        Ok(ExtraHosts(out))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(e) = seq.next_element::<Spanned<String>>()? {
            out.push(e);
        }
        Ok(ExtraHosts(out))
    }
}

/// One `extra_hosts` entry split as Docker's `ValidateExtraHost` splits it: at the
/// first `=`, else at the first `:`; an IPv6 address may be in brackets; the address
/// may be `host-gateway`.
///
/// # Errors
/// Docker's message for an entry it refuses.
pub fn parse_extra_host(entry: &str) -> Result<(String, Option<IpAddr>), String> {
    let (name, addr) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .ok_or_else(|| format!("bad format for add-host: {entry:?}"))?;
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(format!("bad format for add-host: {entry:?}"));
    }
    let addr = if addr.len() > 2 && addr.starts_with('[') && addr.ends_with(']') {
        &addr[1..addr.len() - 1]
    } else {
        addr
    };
    if addr == "host-gateway" {
        return Ok((name.to_string(), None));
    }
    addr.parse::<IpAddr>()
        .map(|a| (name.to_string(), Some(a)))
        .map_err(|_| format!("invalid IP address in add-host: {addr:?}"))
}

/// A MAC address as `ip link` and Docker write it (`02:42:ac:11:00:02`, `-` also taken).
///
/// # Errors
/// Anything else.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!("invalid MAC address: {text}"));
    }
    for (m, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(format!("invalid MAC address: {text}"));
        }
        *m = u8::from_str_radix(p, 16).map_err(|_| format!("invalid MAC address: {text}"))?;
    }
    Ok(mac)
}

/// A link's impairments (top-level `links:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Link {
    /// The two endpoints: `node.iface` or a LAN name.
    pub between: Spanned<[Spanned<String>; 2]>,
    /// One-way latency, see [`parse_duration`].
    #[serde(default)]
    pub latency: Option<Spanned<String>>,
    /// Latency jitter, see [`parse_duration`].
    #[serde(default)]
    pub jitter: Option<Spanned<String>>,
    /// `true` lets jitter reorder packets; by default each packet leaves the link no
    /// earlier than the one before it.
    #[serde(default)]
    pub reorder: Option<Spanned<bool>>,
    /// Random loss, see [`parse_percent`].
    #[serde(default)]
    pub loss: Option<Spanned<String>>,
    /// Rate limit, see [`parse_rate`].
    #[serde(default)]
    pub rate: Option<Spanned<String>>,
    /// MTU.
    #[serde(default)]
    pub mtu: Option<Spanned<u32>>,
}

/// A firewall rule: `iptables -A CHAIN …` in the filter table of a host or router
/// (`firewall: { MACHINE: [rule, …] }`), appended in file order after Docker's rules.
///
/// Values that iptables negates with `!` (`in`, `out`, `source`, `destination`, and as an
/// addition `sport`, `dport`, `ctorigdst`, `ctorigdstport`, `icmp_type`) stay text here;
/// the validator parses them so that each error points at its own value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FirewallRule {
    /// Chain: `DOCKER-USER`, `INPUT`, `OUTPUT`, `FORWARD` (routers: no `DOCKER-USER`).
    pub chain: Spanned<String>,
    /// Input interface (`-i`), `!` negates, a trailing `+` matches a prefix.
    #[serde(default, rename = "in", deserialize_with = "written")]
    pub in_iface: Option<Spanned<Scalar>>,
    /// Output interface (`-o`).
    #[serde(default, rename = "out", deserialize_with = "written")]
    pub out_iface: Option<Spanned<Scalar>>,
    /// Protocol (`-p`); `all` is the same as leaving it out.
    #[serde(default)]
    pub proto: Option<Spanned<FirewallProto>>,
    /// Source address or CIDR (`-s`), `!` negates.
    #[serde(default, deserialize_with = "written")]
    pub source: Option<Spanned<Scalar>>,
    /// Destination address or CIDR (`-d`), `!` negates.
    #[serde(default, deserialize_with = "written")]
    pub destination: Option<Spanned<Scalar>>,
    /// Source port or range `a-b` (`--sport`, needs `proto: tcp|udp`).
    #[serde(default, deserialize_with = "written")]
    pub sport: Option<Spanned<Scalar>>,
    /// Destination port or range (`--dport`, needs `proto: tcp|udp`).
    #[serde(default, deserialize_with = "written")]
    pub dport: Option<Spanned<Scalar>>,
    /// Conntrack states (`-m conntrack --ctstate`), a list or one word.
    #[serde(default)]
    pub ctstate: Option<Spanned<OneOrMany<CtState>>>,
    /// The connection's original destination, before DNAT (`--ctorigdst`).
    #[serde(default, deserialize_with = "written")]
    pub ctorigdst: Option<Spanned<Scalar>>,
    /// The connection's original destination port or range (`--ctorigdstport`).
    #[serde(default, deserialize_with = "written")]
    pub ctorigdstport: Option<Spanned<Scalar>>,
    /// ICMP type: an iptables name, a number or `type/code` (needs `proto: icmp|icmpv6`).
    #[serde(default, deserialize_with = "written")]
    pub icmp_type: Option<Spanned<Scalar>>,
    /// Target (`-j`).
    pub action: Spanned<FirewallAction>,
    /// `--reject-with` (only with `action: reject`).
    #[serde(default)]
    pub reject_with: Option<Spanned<RejectWith>>,
}

/// A firewall rule's `proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirewallProto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (IPv4 only).
    Icmp,
    /// ICMPv6 (IPv6 only); `ipv6-icmp` as iptables prints it is accepted too.
    #[serde(alias = "ipv6-icmp")]
    Icmpv6,
    /// Every protocol (as if not written).
    All,
}

/// A firewall rule's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirewallAction {
    /// `-j ACCEPT`.
    Accept,
    /// `-j DROP`.
    Drop,
    /// `-j REJECT` (with `reject_with`, default `icmp-port-unreachable`).
    Reject,
    /// `-j RETURN`.
    Return,
}

/// `reject_with`, iptables' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectWith {
    /// ICMP port unreachable (iptables' default).
    IcmpPortUnreachable,
    /// A TCP reset (needs `proto: tcp`).
    TcpReset,
    /// ICMP host prohibited.
    IcmpHostProhibited,
    /// ICMP net unreachable.
    IcmpNetUnreachable,
    /// ICMP host unreachable (an addition).
    IcmpHostUnreachable,
    /// ICMP administratively prohibited (an addition).
    IcmpAdminProhibited,
}

/// A conntrack state, as `ctstate` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CtState {
    /// The first packet of a connection.
    New,
    /// A packet of a connection that has seen traffic both ways.
    Established,
    /// A packet related to a connection (an ICMP error about it).
    Related,
    /// A packet conntrack could not place.
    Invalid,
    /// A packet conntrack does not follow (an addition).
    Untracked,
}

/// One value or a list of them (`ctstate: new` or `ctstate: [new, established]`). The
/// second field holds a lone word that is no `T`: validation reports it at the word
/// (an error raised while parsing would point at the key).
#[derive(Debug, Clone, Default)]
pub struct OneOrMany<T>(pub Vec<T>, pub Option<String>);

impl<T> Deref for OneOrMany<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
    type Value = OneOrMany<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one value or a list of them")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match T::deserialize(de::value::StrDeserializer::<E>::new(v)) {
            Ok(x) => OneOrMany(vec![x], None),
            Err(_) => OneOrMany(Vec::new(), Some(v.to_owned())),
        })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(x) = seq.next_element()? {
            out.push(x);
        }
        Ok(OneOrMany(out, None))
    }
}

/// A value that, when its key is written, must hold something: YAML reads `!x` as a tag
/// on an empty value, which would otherwise quietly drop a negated match.
fn written<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Spanned<Scalar>>, D::Error> {
    Spanned::<Scalar>::deserialize(d).map(Some)
}

/// A scalar written as text or as a number (`dport: 80`, `dport: "8000-8080"`), kept
/// as its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scalar(pub String);

impl Deref for Scalar {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a single value (text or a number)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(v.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Err(E::custom(hinted(
            "this value is empty",
            "a value starting with `!` must be quoted, as YAML reads `!…` as a tag: source: \"!10.0.0.0/8\"",
        )))
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        self.visit_unit()
    }
}

// ---------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------

/// One step: exactly one action, an optional expectation and an optional label.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Step {
    /// Human label (an addition to the contract).
    pub name: Option<Spanned<String>>,
    /// What the step does.
    pub action: Action,
    /// What must hold afterwards.
    pub expect: Option<Spanned<Expect>>,
}

/// A step's action; each payload's `Spanned` locates the action's value.
// A file has a handful of steps, so the size spread costs nothing; boxing would only
// make every match noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Action {
    /// `ping: { from, to, count, size, dont_fragment }`.
    Ping(Spanned<Ping>),
    /// `connect: { from, to, proto }`.
    Connect(Spanned<Connect>),
    /// `transfer: { from, to, bytes }`.
    Transfer(Spanned<Transfer>),
    /// `resolve: { from, name }`.
    Resolve(Spanned<Resolve>),
    /// `link: { between, state, … }`.
    Link(Spanned<LinkChange>),
    /// `container: { name, state }`.
    Container(Spanned<ContainerChange>),
    /// `wait: 2s` (see [`parse_duration`]).
    Wait(Spanned<String>),
    /// `exec: { in, run }` (emulation only).
    Exec(Spanned<Exec>),
    /// `reachability: { port }`: the policy matrix (an addition).
    Reachability(Spanned<Reachability>),
}

/// The action keys, in the order the format lists them.
pub const ACTION_KEYS: &[&str] = &[
    "ping",
    "connect",
    "transfer",
    "resolve",
    "link",
    "container",
    "wait",
    "exec",
    "reachability",
];
const STEP_KEYS: &[&str] = &[
    "ping",
    "connect",
    "transfer",
    "resolve",
    "link",
    "container",
    "wait",
    "exec",
    "reachability",
    "expect",
    "name",
];

impl Action {
    /// The action's key as written (`ping`, `connect`, …).
    pub fn keyword(&self) -> &'static str {
        match self {
            Action::Ping(_) => "ping",
            Action::Connect(_) => "connect",
            Action::Transfer(_) => "transfer",
            Action::Resolve(_) => "resolve",
            Action::Link(_) => "link",
            Action::Container(_) => "container",
            Action::Wait(_) => "wait",
            Action::Exec(_) => "exec",
            Action::Reachability(_) => "reachability",
        }
    }

    /// Where the action's value starts.
    pub fn location(&self) -> Location {
        match self {
            Action::Ping(s) => location_of(s),
            Action::Connect(s) => location_of(s),
            Action::Transfer(s) => location_of(s),
            Action::Resolve(s) => location_of(s),
            Action::Link(s) => location_of(s),
            Action::Container(s) => location_of(s),
            Action::Wait(s) => location_of(s),
            Action::Exec(s) => location_of(s),
            Action::Reachability(s) => location_of(s),
        }
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Step;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a step: a map with one action key (ping, connect, transfer, resolve, link, container, wait, exec or \
             reachability)",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
        let mut name = None;
        let mut expect: Option<Spanned<Expect>> = None;
        let mut action: Option<Action> = None;
        while let Some(key) = map.next_key::<Name>()? {
            let new_action = match key.as_str() {
                "name" => {
                    name = Some(map.next_value()?);
                    continue;
                }
                "expect" => {
                    expect = Some(map.next_value()?);
                    continue;
                }
                "ping" => Action::Ping(map.next_value()?),
                "connect" => Action::Connect(map.next_value()?),
                "transfer" => Action::Transfer(map.next_value()?),
                "resolve" => Action::Resolve(map.next_value()?),
                "link" => Action::Link(map.next_value()?),
                "container" => Action::Container(map.next_value()?),
                "wait" => Action::Wait(map.next_value()?),
                "exec" => Action::Exec(map.next_value()?),
                "reachability" => Action::Reachability(map.next_value()?),
                other => return Err(de::Error::unknown_field(other, STEP_KEYS)),
            };
            if let Some(first) = &action {
                return Err(de::Error::custom(hinted(
                    &format!(
                        "a step has exactly one action, but this one has '{}' and '{}' (line {})",
                        first.keyword(),
                        new_action.keyword(),
                        key.location.line()
                    ),
                    "start a new list item (`- `) for the second action",
                )));
            }
            action = Some(new_action);
        }
        let Some(action) = action else {
            return Err(de::Error::custom(hinted(
                "this step has no action",
                "add one of: ping, connect, transfer, resolve, link, container, wait, exec, reachability",
            )));
        };
        // A bare `expect: reach` has no location of its own for `result`; use the
        // expectation's.
        if let Some(e) = &mut expect {
            let at = location_of(e);
            if let Some(r) = &mut e.value.result
                && location_of(r) == Location::UNKNOWN
            {
                *r = Spanned::new(r.value, at, at);
            }
            if let Some(w) = &mut e.value.unknown_outcome {
                *w = Spanned::new(std::mem::take(&mut w.value), at, at);
            }
        }
        Ok(Step { name, action, expect })
    }
}

/// `ping`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Ping {
    /// Source, see the format's "Names".
    pub from: Spanned<String>,
    /// Destination, see [`parse_target`].
    pub to: Spanned<String>,
    /// Echo requests to send; default 3.
    #[serde(default)]
    pub count: Option<Spanned<u32>>,
    /// Payload bytes; default 56.
    #[serde(default)]
    pub size: Option<Spanned<u32>>,
    /// Set the DF bit.
    #[serde(default)]
    pub dont_fragment: Option<Spanned<bool>>,
}

/// `connect`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Connect {
    /// Source.
    pub from: Spanned<String>,
    /// Destination with port, see [`parse_target`].
    pub to: Spanned<String>,
    /// Transport; default tcp.
    #[serde(default)]
    pub proto: Option<Spanned<Proto>>,
}

/// `transfer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Transfer {
    /// Source.
    pub from: Spanned<String>,
    /// Destination with port, see [`parse_target`].
    pub to: Spanned<String>,
    /// Amount, see [`parse_size`].
    pub bytes: Spanned<String>,
}

/// `resolve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Resolve {
    /// Where the query is made.
    pub from: Spanned<String>,
    /// The name to resolve.
    pub name: Spanned<String>,
}

/// `link` step: change a link's state or impairments from now on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LinkChange {
    /// The two endpoints, as in [`Link::between`].
    pub between: Spanned<[Spanned<String>; 2]>,
    /// `up` or `down`.
    #[serde(default)]
    pub state: Option<Spanned<LinkState>>,
    /// New latency.
    #[serde(default)]
    pub latency: Option<Spanned<String>>,
    /// New jitter.
    #[serde(default)]
    pub jitter: Option<Spanned<String>>,
    /// New reordering setting, as in [`Link::reorder`].
    #[serde(default)]
    pub reorder: Option<Spanned<bool>>,
    /// New loss.
    #[serde(default)]
    pub loss: Option<Spanned<String>>,
    /// New rate.
    #[serde(default)]
    pub rate: Option<Spanned<String>>,
    /// New MTU.
    #[serde(default)]
    pub mtu: Option<Spanned<u32>>,
}

/// A link's administrative state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Carrying frames.
    Up,
    /// Dropping every frame (`link-down`).
    Down,
}

/// `container` step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ContainerChange {
    /// Container name.
    pub name: Spanned<String>,
    /// Target state.
    pub state: Spanned<ContainerState>,
}

/// A container's run state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    /// Stopped.
    Stopped,
    /// Started.
    Started,
}

/// `reachability` step: every container probed from every container on one port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Reachability {
    /// `tcp/80`, `udp/53`.
    pub port: Spanned<String>,
}

/// `exec` step (emulation only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Exec {
    /// Container or external to run in.
    #[serde(rename = "in")]
    pub inside: Spanned<String>,
    /// Shell command.
    pub run: Spanned<String>,
}

/// Transport protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

// ---------------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------------

/// A step's expectation. `expect: reach` is `Expect { result: Some(reach), .. }`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Expect {
    /// The outcome.
    pub result: Option<Spanned<Outcome>>,
    /// Why the first dropped packet of the step was dropped.
    pub dropped: Option<Spanned<DropReason>>,
    /// What the step's packets looked like at a point.
    pub on_wire: Option<Spanned<OnWire>>,
    /// Bound on every ping reply's round trip, see [`parse_duration`].
    pub max_rtt: Option<Spanned<String>>,
    /// Lower bound of a transfer's rate, see [`parse_rate`].
    pub min_rate: Option<Spanned<String>>,
    /// Resolved addresses, compared as a set.
    pub addresses: Option<Spanned<Vec<Spanned<IpAddr>>>>,
    /// A `container` step that must fail, with this text in its error.
    pub error: Option<Spanned<String>>,
    /// `exec` exit status.
    pub exit: Option<Spanned<i32>>,
    /// Text `exec`'s standard output must contain (an addition).
    pub stdout: Option<Spanned<String>>,
    /// A `reachability` step's truth table (an addition).
    pub matrix: Option<Spanned<String>>,
    /// A bare `expect: WORD` whose word is no outcome, kept so that validation reports
    /// it at the word itself (an error raised while parsing would point at `expect`).
    pub unknown_outcome: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectMap {
    #[serde(default)]
    result: Option<Spanned<Outcome>>,
    #[serde(default)]
    dropped: Option<Spanned<DropReason>>,
    #[serde(default)]
    on_wire: Option<Spanned<OnWire>>,
    #[serde(default)]
    max_rtt: Option<Spanned<String>>,
    #[serde(default)]
    min_rate: Option<Spanned<String>>,
    #[serde(default)]
    addresses: Option<Spanned<Vec<Spanned<IpAddr>>>>,
    #[serde(default)]
    error: Option<Spanned<String>>,
    #[serde(default)]
    exit: Option<Spanned<i32>>,
    #[serde(default)]
    stdout: Option<Spanned<String>>,
    #[serde(default)]
    matrix: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ExpectVisitor)
    }
}

struct ExpectVisitor;

impl<'de> Visitor<'de> for ExpectVisitor {
    type Value = Expect;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "an outcome (reach, no-reach, ok, refused, timeout, closed, nxdomain, servfail) or a map of expectations",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Expect, E> {
        // The word's position is known only to the caller (the step, through the
        // `Spanned<Expect>`), which fills it in; an error returned from here would be
        // placed at the key `expect`.
        let word: de::value::StrDeserializer<'_, E> = v.into_deserializer();
        Ok(match Outcome::deserialize(word) {
            Ok(outcome) => Expect {
                result: Some(Spanned::new(outcome, Location::UNKNOWN, Location::UNKNOWN)),
                ..Expect::default()
            },
            Err(_) => Expect {
                unknown_outcome: Some(Spanned::new(v.to_owned(), Location::UNKNOWN, Location::UNKNOWN)),
                ..Expect::default()
            },
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Expect, A::Error> {
        let m = ExpectMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Expect {
            result: m.result,
            dropped: m.dropped,
            on_wire: m.on_wire,
            max_rtt: m.max_rtt,
            min_rate: m.min_rate,
            addresses: m.addresses,
            error: m.error,
            exit: m.exit,
            stdout: m.stdout,
            matrix: m.matrix,
            unknown_outcome: None,
        })
    }
}

/// A step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// `ping`: at least one reply came back.
    Reach,
    /// `ping`: no reply came back.
    NoReach,
    /// `connect`/`transfer`/`exec`/`container`: it worked.
    Ok,
    /// `connect`: RST or ICMP unreachable.
    Refused,
    /// `connect`/`resolve`: nothing came back in time.
    Timeout,
    /// `connect` (tcp): the handshake completed, then the peer closed the connection
    /// (FIN or RST) before sending any data — docker-proxy when it cannot reach the
    /// container.
    Closed,
    /// `resolve`: the name does not exist.
    Nxdomain,
    /// `resolve`: the server failed.
    Servfail,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Reach => "reach",
            Outcome::NoReach => "no-reach",
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Timeout => "timeout",
            Outcome::Closed => "closed",
            Outcome::Nxdomain => "nxdomain",
            Outcome::Servfail => "servfail",
        })
    }
}

/// Drop reasons as written in `dropped:` (kebab-case, SCENARIO-FORMAT.md's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum DropReason {
    NoRoute,
    TtlExceeded,
    MtuExceeded,
    LinkDown,
    QueueFull,
    RandomLoss,
    ArpUnresolved,
    Firewall,
    Policy,
    ParentIsolation,
    NetworkIsolation,
    NoNatMapping,
    PortUnreachable,
    NoListener,
    PortSecurity,
}

/// `expect.on_wire`: what the step's requests looked like at a point.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OnWire {
    /// `node.iface` or a LAN name.
    pub at: Spanned<String>,
    /// Source address.
    #[serde(default)]
    pub src: Option<Spanned<IpAddr>>,
    /// Destination address.
    #[serde(default)]
    pub dst: Option<Spanned<IpAddr>>,
    /// 802.1Q VLAN id.
    #[serde(default)]
    pub vlan: Option<Spanned<u16>>,
    /// VXLAN network identifier.
    #[serde(default)]
    pub vxlan_vni: Option<Spanned<u32>>,
    /// IP TTL / hop limit.
    #[serde(default)]
    pub ttl: Option<Spanned<u8>>,
    /// IP payload protocol.
    #[serde(default)]
    pub proto: Option<Spanned<WireProto>>,
}

/// Protocols `on_wire.proto` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireProto {
    /// ICMP (v4).
    Icmp,
    /// ICMPv6.
    Icmpv6,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

// ---------------------------------------------------------------------------------
// Compact values
// ---------------------------------------------------------------------------------

/// An inclusive port range; a single port has `start == end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port (inclusive).
    pub end: u16,
}

impl PortRange {
    /// Number of ports in the range.
    pub fn len(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }
}

/// A port publication, compose short syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPublish {
    /// Host address to bind; `None` = all addresses.
    pub host_ip: Option<IpAddr>,
    /// Host ports; `None` = an ephemeral port chosen by Docker.
    pub host_ports: Option<PortRange>,
    /// Container ports.
    pub container_ports: PortRange,
    /// Transport; tcp when not written.
    pub proto: Proto,
}

/// A listener or policy port spec: `tcp/80`, `udp/53`, `tcp/127.0.0.1:8081`,
/// `tcp/[::1]:80`, `tcp/9000-9010`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenSpec {
    /// Transport.
    pub proto: Proto,
    /// Address the listener is bound to; `None` = all.
    pub addr: Option<IpAddr>,
    /// Port or range.
    pub ports: PortRange,
}

/// Where a step's `to` points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetHost {
    /// A container, alias, external, router or host name.
    Name(String),
    /// A literal address.
    Ip(IpAddr),
}

/// A step target: `name`, `name:port`, `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:80`,
/// `2001:db8::1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Name or address.
    pub host: TargetHost,
    /// Port, when written.
    pub port: Option<u16>,
}

/// Parses a duration: a decimal number and a unit `ns`, `us` (or `µs`), `ms`, `s`,
/// `m`, `h`: `2ms`, `500us`, `1.5s`, `100ns`. `0` alone is allowed.
///
/// # Errors
///
/// A message saying what is wrong, for the validator to place.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let (num, unit) = split_number(t);
    let scale: u128 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => {
            return Err(format!(
                "'{s}' has no unit; write e.g. '{num}ms' (units: ns, us, ms, s, m, h)"
            ));
        }
        u => {
            return Err(format!(
                "'{s}': unknown duration unit '{u}' (use ns, us, ms, s, m or h)"
            ));
        }
    };
    let nanos = scaled_decimal(num, scale).map_err(|e| format!("'{s}' is not a valid duration: {e}"))?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| format!("'{s}' is too long a duration"))?;
    // Both casts are exact: the remainder is below 10^9.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

/// Parses a rate in bits per second: `100mbit`, `1gbit`, `500kbit`, `64000bit`, also
/// `bps`/`kbps`/`mbps`/`gbps` and `bit/s`, `kbit/s`… (case-insensitive, SI multiples
/// of 1000). Note: unlike `tc`, `mbps` here means megabits per second.
///
/// # Errors
///
/// A message saying what is wrong; a rate of zero is an error.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = split_number(t);
    let unit = unit.trim().to_ascii_lowercase();
    let base = unit.strip_suffix("/s").unwrap_or(&unit);
    let scale: u128 = match base {
        "bit" | "bps" => 1,
        "kbit" | "kbps" => 1_000,
        "mbit" | "mbps" => 1_000_000,
        "gbit" | "gbps" => 1_000_000_000,
        "tbit" | "tbps" => 1_000_000_000_000,
        "" => {
            return Err(format!(
                "'{s}' has no unit; write e.g. '{num}mbit' (units: bit, kbit, mbit, gbit)"
            ));
        }
        _ => {
            return Err(format!(
                "'{s}': unknown rate unit '{unit}' (use bit, kbit, mbit, gbit or bps, kbps, mbps, gbps)"
            ));
        }
    };
    let v = scaled_decimal(num, scale).map_err(|e| format!("'{s}' is not a valid rate: {e}"))?;
    if v == 0 {
        return Err(format!("'{s}': a rate must be more than zero"));
    }
    u64::try_from(v).map_err(|_| format!("'{s}' is too large a rate"))
}

/// Parses a size in bytes: `1500`, `64kB`, `10MB` (SI: 10^6), `1KiB`, `4MiB` (2^20),
/// `2GB`, `1GiB`, also `B`. `k`/`K` are the same.
///
/// # Errors
///
/// A message saying what is wrong.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = split_number(t);
    let scale: u128 = match unit.trim() {
        "" | "B" | "b" => 1,
        "kB" | "KB" | "k" | "K" => 1_000,
        "MB" | "M" => 1_000_000,
        "GB" | "G" => 1_000_000_000,
        "TB" | "T" => 1_000_000_000_000,
        "KiB" | "kiB" | "Ki" => 1 << 10,
        "MiB" | "Mi" => 1 << 20,
        "GiB" | "Gi" => 1 << 30,
        "TiB" | "Ti" => 1 << 40,
        u => {
            return Err(format!(
                "'{s}': unknown size unit '{u}' (use B, kB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    let v = scaled_decimal(num, scale).map_err(|e| format!("'{s}' is not a valid size: {e}"))?;
    u64::try_from(v).map_err(|_| format!("'{s}' is too large a size"))
}

/// Parses a percentage, `1%`, `0.5%`, `100%`, into a fraction in `0.0..=1.0`.
///
/// # Errors
///
/// A message saying what is wrong (no `%`, out of range, not a number).
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let Some(num) = t.strip_suffix('%') else {
        return Err(format!("'{s}' is not a percentage; write e.g. '1%'"));
    };
    let num = num.trim_end();
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("'{s}' is not a percentage; write e.g. '0.5%'"));
    }
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a percentage; write e.g. '0.5%'"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("'{s}' is out of range (0% to 100%)"));
    }
    Ok(v / 100.0)
}

/// Parses a port publication in compose short syntax: `"80"` (container port, host
/// port ephemeral), `"8080:80"`, `"5353:53/udp"`, `"9000-9002:9000-9002"`,
/// `"127.0.0.1:9443:443"`, `"127.0.0.1::80"`, `"[::1]:8080:80"`.
///
/// # Errors
///
/// A message saying what is wrong.
pub fn parse_port_publish(s: &str) -> Result<PortPublish, String> {
    let t = s.trim();
    let bad = |why: &str| format!("'{s}' is not a port publication: {why}");
    let (spec, proto) = match t.rsplit_once('/') {
        Some((spec, p)) => (spec, parse_proto(p).map_err(|e| bad(&e))?),
        None => (t, Proto::Tcp),
    };
    let (host_ip, rest): (Option<IpAddr>, &str) = if let Some(after) = spec.strip_prefix('[') {
        let (ip, rest) = after
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after the IPv6 address"))?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| bad(&format!("'{ip}' is not an IP address")))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| bad("expected ':' after the host address"))?;
        (Some(ip), rest)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 | 2 => (None, spec),
            3 => {
                let ip: IpAddr = parts[0]
                    .parse()
                    .map_err(|_| bad(&format!("'{}' is not an IP address", parts[0])))?;
                (Some(ip), &spec[parts[0].len() + 1..])
            }
            _ => {
                return Err(bad(
                    "write an IPv6 host address in brackets, e.g. '[::1]:8080:80'",
                ));
            }
        }
    };
    let (host_ports, container) = match rest.split_once(':') {
        Some(("", c)) => (None, c),
        Some((h, c)) => (Some(parse_port_range(h).map_err(|e| bad(&e))?), c),
        None if host_ip.is_some() => return Err(bad("expected HOST_PORT:CONTAINER_PORT after the address")),
        None => (None, rest),
    };
    let container_ports = parse_port_range(container).map_err(|e| bad(&e))?;
    if let Some(h) = host_ports
        && h.len() != container_ports.len()
    {
        return Err(bad(
            "the host and container port ranges must have the same length",
        ));
    }
    Ok(PortPublish {
        host_ip,
        host_ports,
        container_ports,
        proto,
    })
}

/// Parses a listener or policy port spec: `tcp/80`, `udp/53`, `tcp/127.0.0.1:8081`,
/// `tcp/[::1]:8081`, `tcp/9000-9010`.
///
/// # Errors
///
/// A message saying what is wrong.
pub fn parse_listen(s: &str) -> Result<ListenSpec, String> {
    let t = s.trim();
    let bad = |why: &str| format!("'{s}' is not a listen spec (like 'tcp/80'): {why}");
    let (p, rest) = t
        .split_once('/')
        .ok_or_else(|| bad("it needs a protocol, e.g. 'tcp/80' or 'udp/53'"))?;
    let proto = parse_proto(p).map_err(|e| bad(&e))?;
    let (addr, ports) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, port) = after
            .split_once("]:")
            .ok_or_else(|| bad("expected '[ADDRESS]:PORT'"))?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| bad(&format!("'{ip}' is not an IP address")))?;
        (Some(ip), port)
    } else if let Some((ip, port)) = rest.rsplit_once(':') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| bad(&format!("'{ip}' is not an IP address")))?;
        if ip.is_ipv6() {
            return Err(bad("write an IPv6 address in brackets, e.g. 'tcp/[::1]:80'"));
        }
        (Some(ip), port)
    } else {
        (None, rest)
    };
    let ports = parse_port_range(ports).map_err(|e| bad(&e))?;
    Ok(ListenSpec { proto, addr, ports })
}

/// Parses a step target: `name`, `name:port`, `1.2.3.4`, `1.2.3.4:80`,
/// `[2001:db8::1]:80`, `2001:db8::1`.
///
/// # Errors
///
/// A message saying what is wrong.
pub fn parse_target(s: &str) -> Result<Target, String> {
    let t = s.trim();
    let bad = |why: &str| format!("'{s}' is not a target: {why}");
    if t.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(Target {
            host: TargetHost::Ip(ip),
            port: None,
        });
    }
    if let Some(after) = t.strip_prefix('[') {
        let (ip, rest) = after
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after the IPv6 address"))?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| bad(&format!("'{ip}' is not an IP address")))?;
        let port = match rest {
            "" => None,
            r => Some(
                parse_port(
                    r.strip_prefix(':')
                        .ok_or_else(|| bad("expected ':PORT' after ']'"))?,
                )
                .map_err(|e| bad(&e))?,
            ),
        };
        return Ok(Target {
            host: TargetHost::Ip(ip),
            port,
        });
    }
    let (host, port) = match t.split_once(':') {
        Some((_, p)) if p.contains(':') => {
            return Err(bad(
                "write an IPv6 address with a port in brackets, e.g. '[2001:db8::1]:80'",
            ));
        }
        Some((h, p)) => (h, Some(parse_port(p).map_err(|e| bad(&e))?)),
        None => (t, None),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Target {
            host: TargetHost::Ip(ip),
            port,
        });
    }
    if host.is_empty() {
        return Err(bad("the name is empty"));
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(bad(&format!("'{c}' is not allowed in a name")));
    }
    Ok(Target {
        host: TargetHost::Name(host.to_owned()),
        port,
    })
}

/// Parses a port, 1–65535.
fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not a port number"));
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port '{s}' is out of range (1-65535)")),
        Ok(p) => Ok(p),
    }
}

/// Parses `80` or `9000-9010`.
fn parse_port_range(s: &str) -> Result<PortRange, String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (start, end) = (parse_port(a)?, parse_port(b)?);
    if start > end {
        return Err(format!("port range '{s}' runs backwards"));
    }
    Ok(PortRange { start, end })
}

fn parse_proto(s: &str) -> Result<Proto, String> {
    match s {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        other => Err(format!("unknown protocol '{other}' (use tcp or udp)")),
    }
}

/// Splits `"1.5ms"` into `("1.5", "ms")`.
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// `num × scale` exactly, for a non-negative decimal `num`; rejects results that are
/// not whole (finer than the unit allows) and overflow.
fn scaled_decimal(num: &str, scale: u128) -> Result<u128, String> {
    if num.is_empty() {
        return Err("it does not start with a number".into());
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err("it is not a number".into());
    }
    if int.len() > 30 || frac.len() > 30 {
        return Err("too many digits".into());
    }
    let digits = |d: &str| -> u128 { d.bytes().fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0')) };
    let whole = digits(int)
        .checked_mul(scale)
        .ok_or_else(|| "too large".to_string())?;
    let frac_digits = frac.trim_end_matches('0');
    let denom = 10u128.pow(u32::try_from(frac_digits.len()).unwrap_or(30));
    let frac_scaled = digits(frac_digits)
        .checked_mul(scale)
        .ok_or_else(|| "too large".to_string())?;
    if frac_scaled % denom != 0 {
        return Err("finer than the unit allows".into());
    }
    whole
        .checked_add(frac_scaled / denom)
        .ok_or_else(|| "too large".to_string())
}
