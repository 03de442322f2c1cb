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

#[derive(Debug, Default, Deserialize)]
pub struct Service {
    pub container_name: Option<Spanned<String>>,
    pub networks: Option<Spanned<NetList>>,
    pub network_mode: Option<Spanned<String>>,
    #[serde(default)]
    pub ports: Vec<Spanned<Port>>,
    #[serde(default)]
    pub expose: Vec<Spanned<Scalar>>,
    #[serde(default)]
    pub depends_on: DependsOn,
    pub deploy: Option<Deploy>,
    pub scale: Option<Spanned<u32>>,
    #[serde(default)]
    pub dns: OneOrMany,
    #[serde(default)]
    pub dns_search: OneOrMany,
    #[serde(default)]
    pub dns_opt: OneOrMany,
    #[serde(default)]
    pub profiles: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Deploy {
    pub mode: Option<Spanned<String>>,
    pub replicas: Option<Spanned<u32>>,
    pub endpoint_mode: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum NetList {
    List(Vec<String>),
    Map(IndexMap<String, Option<ServiceNet>>),
}

#[derive(Debug, Deserialize)]
pub struct ServiceNet {
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Port {
    Long(Long),
    Short(Scalar),
}

#[derive(Debug, Deserialize)]
pub struct Long {
    pub target: u16,
    pub published: Option<Scalar>,
    pub host_ip: Option<String>,
    pub protocol: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
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

#[derive(Debug, Default, Deserialize)]
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
    pub internal: Option<Spanned<bool>>,
    pub enable_ipv6: Option<Spanned<bool>>,
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
