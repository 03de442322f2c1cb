//! The parts of the compose specification that matter for networking. Unknown keys are
//! ignored (no `deny_unknown_fields`), as they do not change the network.

use std::fmt;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
pub struct Compose {
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub services: IndexMap<String, Spanned<Service>>,
    pub networks: Option<IndexMap<String, Option<Spanned<Network>>>>,
    #[serde(default)]
    pub include: Vec<Spanned<Include>>,
}

/// A top-level `include:` entry: a path, or `{ path, project_directory, env_file }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Include {
    Path(String),
    Long { path: OneOrMany },
}

impl Include {
    pub fn paths(&self) -> Vec<String> {
        match self {
            Include::Path(p) => vec![p.clone()],
            Include::Long { path } => path.list(),
        }
    }
}

/// `extends: NAME` or `extends: { service, file }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Extends {
    Name(String),
    Long { service: String, file: Option<String> },
}

/// `extra_hosts`: a list of `name:addr` / `name=addr`, or a map name → address(es).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ExtraHosts {
    List(Vec<String>),
    Map(IndexMap<String, OneOrMany>),
}

impl ExtraHosts {
    /// Entries as `name=addr`.
    pub fn entries(&self) -> Vec<String> {
        match self {
            ExtraHosts::List(l) => l.clone(),
            ExtraHosts::Map(m) => m
                .iter()
                .flat_map(|(k, v)| v.list().into_iter().map(move |a| format!("{k}={a}")))
                .collect(),
        }
    }
}

/// A string, number or boolean scalar, as compose accepts for ports and options.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(u64),
    Bool(bool),
    Str(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Str(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Service {
    pub extends: Option<Spanned<Extends>>,
    pub image: Option<String>,
    pub container_name: Option<Spanned<String>>,
    pub extra_hosts: Option<Spanned<ExtraHosts>>,
    pub mac_address: Option<Spanned<String>>,
    /// Keys that matter for networking but are not simulated: warned at their line.
    pub links: Option<Spanned<serde::de::IgnoredAny>>,
    pub external_links: Option<Spanned<serde::de::IgnoredAny>>,
    pub sysctls: Option<Spanned<serde::de::IgnoredAny>>,
    pub networks: Option<Spanned<NetList>>,
    pub network_mode: Option<Spanned<String>>,
    #[serde(default)]
    pub ports: Vec<Spanned<Port>>,
    #[serde(default)]
    pub expose: Vec<Spanned<Scalar>>,
    #[serde(default)]
    pub depends_on: DependsOn,
    pub deploy: Option<Deploy>,
    pub scale: Option<Spanned<Count>>,
    #[serde(default)]
    pub dns: OneOrMany,
    #[serde(default)]
    pub dns_search: OneOrMany,
    #[serde(default)]
    pub dns_opt: OneOrMany,
    #[serde(default)]
    pub profiles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deploy {
    pub mode: Option<Spanned<String>>,
    pub replicas: Option<Spanned<Count>>,
    pub endpoint_mode: Option<Spanned<String>>,
}

/// A service's `networks:`, a list of keys or a map of key → settings (or null).
/// Deserialised by hand: an untagged enum buffers the value and loses nulls.
#[derive(Debug, Clone)]
pub enum NetList {
    List(Vec<String>),
    Map(IndexMap<String, Option<ServiceNet>>),
}

impl<'de> Deserialize<'de> for NetList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NetList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of network names or a map of network name to settings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NetList, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element::<String>()? {
                    v.push(x);
                }
                Ok(NetList::List(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<NetList, A::Error> {
                IndexMap::<String, Option<ServiceNet>>::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )
                .map(NetList::Map)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceNet {
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub mac_address: Option<String>,
    /// Connection order: the highest first (eth0), ties by network key.
    #[serde(default)]
    pub priority: i64,
    /// Which network gives the default route (Docker 28+); not modelled.
    pub gw_priority: Option<i64>,
    /// Not modelled (warned).
    pub interface_name: Option<String>,
    pub link_local_ips: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Port {
    Long(Long),
    Short(Scalar),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Long {
    pub target: u16,
    pub published: Option<Scalar>,
    pub host_ip: Option<String>,
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum DependsOn {
    #[default]
    None,
    List(Vec<String>),
    Map(IndexMap<String, serde::de::IgnoredAny>),
}

impl DependsOn {
    pub fn names(&self) -> Vec<String> {
        match self {
            DependsOn::None => Vec::new(),
            DependsOn::List(l) => l.clone(),
            DependsOn::Map(m) => m.keys().cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Network {
    pub name: Option<Spanned<String>>,
    pub driver: Option<Spanned<String>>,
    #[serde(default)]
    pub driver_opts: IndexMap<String, Scalar>,
    pub internal: Option<Spanned<Flag>>,
    pub enable_ipv6: Option<Spanned<Flag>>,
    pub external: Option<Spanned<External>>,
    pub ipam: Option<Spanned<Ipam>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum External {
    Bool(bool),
    Named { name: Option<String> },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ipam {
    #[serde(default)]
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IpamConfig {
    pub subnet: Option<String>,
    pub ip_range: Option<String>,
    pub gateway: Option<String>,
    #[serde(default)]
    pub aux_addresses: IndexMap<String, String>,
}

/// A boolean, or a string compose-go casts to one (`"true"`, `"0"`… after
/// interpolation), as the schema allows.
#[derive(Debug, Clone, Copy)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Flag, E> {
                match v {
                    "1" | "t" | "T" | "TRUE" | "true" | "True" | "y" | "Y" | "yes" | "Yes" | "YES" | "on"
                    | "On" | "ON" => Ok(Flag(true)),
                    "0" | "f" | "F" | "FALSE" | "false" | "False" | "n" | "N" | "no" | "No" | "NO"
                    | "off" | "Off" | "OFF" => Ok(Flag(false)),
                    _ => Err(E::custom(format!("invalid boolean {v:?}: true or false"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A count: a number, or a string of digits (what interpolation leaves).
#[derive(Debug, Clone, Copy)]
pub struct Count(pub u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of replicas")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count)
                    .map_err(|_| E::custom(format!("{v} replicas is too many")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count)
                    .map_err(|_| E::custom(format!("invalid number of replicas {v}")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Count, E> {
                v.trim()
                    .parse()
                    .map(Count)
                    .map_err(|_| E::custom(format!("invalid number of replicas {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}
