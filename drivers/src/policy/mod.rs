//! Kubernetes NetworkPolicy semantics as a pure function.
//!
//! The data types mirror the scenario format's `namespaces:`, container `labels:` /
//! `namespace:` and `policies:` keys; [`Cluster::decide`] answers, with upstream
//! Kubernetes semantics, whether a connection from one endpoint to a pod (or from a
//! pod to an external address) on `proto/port` is allowed, and names the policies that
//! decided. Nothing here touches packets: the packet path asks this module.
//!
//! Semantics (from `k8s.io/api/networking/v1/types.go` and the netpol e2e):
//! - A pod is isolated for a direction only if some policy in its namespace selects it
//!   and has that direction in its (defaulted) `policyTypes`. Unselected pods allow all.
//! - `policyTypes` omitted: `Ingress` always, `Egress` only if the policy has at least
//!   one egress rule (`len(egress) != 0` as in upstream `SetDefaults_NetworkPolicy`;
//!   `egress: []` therefore does not add `Egress`).
//! - Allowed = some rule of some selecting policy matches (union; rules OR'ed, peers
//!   OR'ed, ports OR'ed; an empty/missing `from`/`to` or `ports` matches everything).
//! - Inside one peer the keys are AND'ed; a peer with only a pod selector matches pods
//!   in the policy's own namespace; a namespace selector `{}` matches every namespace.
//! - `ipBlock` matches an address inside `cidr` and outside every `except`. It matches
//!   external addresses and, as the upstream e2e cases expect (`should enforce except
//!   clause while egress access to server in CIDR block`), pod IPs too.
//! - A named port is resolved against the destination pod's container ports (name and
//!   protocol); it never matches an external destination.
//! - Traffic from a pod to itself is always allowed. A connection needs both the
//!   egress side of the source and the ingress side of the destination.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// Labels of a pod or namespace.
pub type Labels = BTreeMap<String, String>;

/// The label Kubernetes puts on every namespace (since 1.21): its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A transport protocol a NetworkPolicy can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyProto {
    /// TCP (the default when a port omits the protocol).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl PolicyProto {
    /// Parses `tcp`, `udp`, `sctp` (any case).
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(PolicyProto::Tcp),
            "udp" => Ok(PolicyProto::Udp),
            "sctp" => Ok(PolicyProto::Sctp),
            _ => Err(PolicyError::Port(format!(
                "unknown protocol `{s}` (tcp, udp or sctp)"
            ))),
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyProto::Tcp => "tcp",
            PolicyProto::Udp => "udp",
            PolicyProto::Sctp => "sctp",
        }
    }
}

/// An error in a policy definition, naming what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A `ports:` item that does not parse.
    #[error("port: {0}")]
    Port(String),
    /// A peer that is empty or mixes `cidr` with selectors.
    #[error("peer: {0}")]
    Peer(String),
    /// A matchExpressions requirement that is malformed.
    #[error("selector: {0}")]
    Selector(String),
    /// A policy-level problem (name, namespace).
    #[error("policy `{policy}`: {what}")]
    Policy {
        /// `namespace/name`.
        policy: String,
        /// What is wrong.
        what: Box<PolicyError>,
    },
}

/// A matchExpressions operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorOp {
    /// The key is present and its value is one of `values`.
    In,
    /// The key is absent or its value is none of `values`.
    NotIn,
    /// The key is present.
    Exists,
    /// The key is absent.
    DoesNotExist,
}

/// One matchExpressions requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub op: SelectorOp,
    /// Values (non-empty for In/NotIn, empty for Exists/DoesNotExist).
    pub values: Vec<String>,
}

impl Requirement {
    /// Checks the shape upstream validation requires.
    pub fn validate(&self) -> Result<(), PolicyError> {
        match self.op {
            SelectorOp::In | SelectorOp::NotIn if self.values.is_empty() => Err(PolicyError::Selector(
                format!("`{}`: In/NotIn need at least one value", self.key),
            )),
            SelectorOp::Exists | SelectorOp::DoesNotExist if !self.values.is_empty() => Err(
                PolicyError::Selector(format!("`{}`: Exists/DoesNotExist take no values", self.key)),
            ),
            _ => Ok(()),
        }
    }

    fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.key);
        match self.op {
            SelectorOp::In => v.is_some_and(|v| self.values.contains(v)),
            SelectorOp::NotIn => v.is_none_or(|v| !self.values.contains(v)),
            SelectorOp::Exists => v.is_some(),
            SelectorOp::DoesNotExist => v.is_none(),
        }
    }
}

/// A label selector (matchLabels AND matchExpressions); empty selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    /// Every key must have exactly this value.
    pub match_labels: Labels,
    /// Every requirement must hold.
    pub match_expressions: Vec<Requirement>,
}

impl Selector {
    /// The selector `{}`: matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A matchLabels-only selector.
    pub fn labels<'a>(kv: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            match_labels: kv
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// Does it select these labels?
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Checks every requirement.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.match_expressions.iter().try_for_each(Requirement::validate)
    }
}

/// An ipBlock: `cidr` minus `except`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpBlock {
    /// The allowed range.
    pub cidr: IpNet,
    /// Sub-ranges carved out.
    pub except: Vec<IpNet>,
}

impl IpBlock {
    /// Does the block contain this address?
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(&ip) && !self.except.iter().any(|e| e.contains(&ip))
    }
}

/// One `from`/`to` element: `{labels, namespace_labels}` (AND'ed) or `{cidr, except}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// podSelector (`labels:`).
    pub pods: Option<Selector>,
    /// namespaceSelector (`namespace_labels:`).
    pub namespaces: Option<Selector>,
    /// ipBlock (`cidr:` / `except:`).
    pub ip_block: Option<IpBlock>,
}

impl Peer {
    /// Upstream validation: exactly one of ipBlock or (pod and/or namespace selector);
    /// `except` inside `cidr`.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let selectors = self.pods.is_some() || self.namespaces.is_some();
        match (&self.ip_block, selectors) {
            (None, false) => Err(PolicyError::Peer(
                "empty peer: give labels, namespace_labels or cidr".into(),
            )),
            (Some(_), true) => Err(PolicyError::Peer(
                "cidr cannot be combined with labels or namespace_labels".into(),
            )),
            (Some(b), false) => {
                for e in &b.except {
                    if !b.cidr.contains(e) || e.prefix_len() <= b.cidr.prefix_len() {
                        return Err(PolicyError::Peer(format!(
                            "except {e} must be strictly inside cidr {}",
                            b.cidr
                        )));
                    }
                }
                Ok(())
            }
            (None, true) => {
                if let Some(s) = &self.pods {
                    s.validate()?;
                }
                if let Some(s) = &self.namespaces {
                    s.validate()?;
                }
                Ok(())
            }
        }
    }
}

/// Which port(s) a `ports:` item names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortMatch {
    /// Every port of the protocol (`tcp`).
    All,
    /// `port`..=`end_port` (`tcp/80`, `tcp/9000-9010`).
    Range(u16, u16),
    /// A named container port (`tcp/http`).
    Named(String),
}

/// One `ports:` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyPort {
    /// Protocol (default TCP).
    pub proto: PolicyProto,
    /// Which ports.
    pub port: PortMatch,
}

impl PolicyPort {
    /// Parses `tcp`, `tcp/80`, `tcp/9000-9010`, `tcp/http`, `80`, `http`.
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        let s = s.trim();
        let (proto, rest) = match s.split_once('/') {
            Some((p, r)) => (PolicyProto::parse(p)?, Some(r)),
            None => match PolicyProto::parse(s) {
                Ok(p) => (p, None),
                Err(_) => (PolicyProto::Tcp, Some(s)),
            },
        };
        let port = match rest {
            None => PortMatch::All,
            Some(r) if r.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                let num = |t: &str| {
                    t.parse::<u16>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| PolicyError::Port(format!("`{s}`: `{t}` is not a port 1-65535")))
                };
                match r.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (num(a)?, num(b)?);
                        if b < a {
                            return Err(PolicyError::Port(format!("`{s}`: endPort {b} is below port {a}")));
                        }
                        PortMatch::Range(a, b)
                    }
                    None => {
                        let a = num(r)?;
                        PortMatch::Range(a, a)
                    }
                }
            }
            Some(r) => {
                // IANA_SVC_NAME: 1-15 chars, lower-case alphanumerics and '-', a letter.
                let ok = !r.is_empty()
                    && r.len() <= 15
                    && r.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && r.chars().any(|c| c.is_ascii_lowercase())
                    && !r.starts_with('-')
                    && !r.ends_with('-')
                    && !r.contains("--");
                if !ok {
                    return Err(PolicyError::Port(format!(
                        "`{s}`: `{r}` is neither a port number nor a port name"
                    )));
                }
                PortMatch::Named(r.to_owned())
            }
        };
        Ok(Self { proto, port })
    }

    pub(crate) fn matches(&self, proto: PolicyProto, port: u16, dst: &Endpoint<'_>) -> bool {
        if self.proto != proto {
            return false;
        }
        match &self.port {
            PortMatch::All => true,
            PortMatch::Range(a, b) => (*a..=*b).contains(&port),
            PortMatch::Named(name) => match dst {
                Endpoint::Pod(p) => p
                    .ports
                    .iter()
                    .any(|c| &c.name == name && c.proto == proto && c.port == port),
                Endpoint::External(_) => false,
            },
        }
    }
}

impl fmt::Display for PolicyPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.port {
            PortMatch::All => write!(f, "{}", self.proto.name()),
            PortMatch::Range(a, b) if a == b => write!(f, "{}/{a}", self.proto.name()),
            PortMatch::Range(a, b) => write!(f, "{}/{a}-{b}", self.proto.name()),
            PortMatch::Named(n) => write!(f, "{}/{n}", self.proto.name()),
        }
    }
}

/// One ingress or egress rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRule {
    /// `from:` (ingress) or `to:` (egress); empty = every peer.
    pub peers: Vec<Peer>,
    /// `ports:`; empty = every port.
    pub ports: Vec<PolicyPort>,
}

/// `Ingress` or `Egress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Traffic into the selected pod.
    Ingress,
    /// Traffic out of the selected pod.
    Egress,
}

impl Direction {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// One NetworkPolicy (`policies:` item).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Name.
    pub name: String,
    /// Namespace (`default` when omitted in the format).
    pub namespace: String,
    /// podSelector (`select:`); `{}` selects every pod of the namespace.
    pub select: Selector,
    /// `types:` as written; `None` (or empty) = defaulted.
    pub types: Option<Vec<Direction>>,
    /// Ingress rules.
    pub ingress: Vec<PolicyRule>,
    /// Egress rules.
    pub egress: Vec<PolicyRule>,
}

impl NetworkPolicy {
    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Does the policy affect this direction (policyTypes, defaulted as upstream)?
    pub fn has_type(&self, d: Direction) -> bool {
        match self.types.as_deref() {
            Some(t) if !t.is_empty() => t.contains(&d),
            _ => match d {
                Direction::Ingress => true,
                Direction::Egress => !self.egress.is_empty(),
            },
        }
    }

    /// Does it select this pod?
    pub fn selects(&self, pod: &Pod) -> bool {
        pod.namespace == self.namespace && self.select.matches(&pod.labels)
    }

    pub(crate) fn rules(&self, d: Direction) -> &[PolicyRule] {
        match d {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// Checks every selector, peer and port; errors name the policy.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let wrap = |e| PolicyError::Policy {
            policy: self.id(),
            what: Box::new(e),
        };
        if self.name.is_empty() {
            return Err(wrap(PolicyError::Peer("policy without a name".into())));
        }
        self.select.validate().map_err(wrap)?;
        for r in self.ingress.iter().chain(&self.egress) {
            r.peers.iter().try_for_each(Peer::validate).map_err(wrap)?;
        }
        Ok(())
    }
}

/// A container port a named port can resolve to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPort {
    /// Its name (`http`).
    pub name: String,
    /// Its protocol.
    pub proto: PolicyProto,
    /// Its number.
    pub port: u16,
}

/// A pod: a container with `namespace:` and `labels:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Labels.
    pub labels: Labels,
    /// Its address, for ipBlock peers (`None`: ipBlocks never match it).
    pub ip: Option<IpAddr>,
    /// Named container ports.
    pub ports: Vec<NamedPort>,
}

/// One side of a connection.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint<'a> {
    /// A pod of the cluster.
    Pod(&'a Pod),
    /// An address outside the cluster.
    External(IpAddr),
}

impl Endpoint<'_> {
    fn ip(&self) -> Option<IpAddr> {
        match self {
            Endpoint::Pod(p) => p.ip,
            Endpoint::External(ip) => Some(*ip),
        }
    }
}

impl fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Pod(p) => write!(f, "{}/{}", p.namespace, p.name),
            Endpoint::External(ip) => write!(f, "{ip}"),
        }
    }
}

/// Why one rule of a selecting policy did not allow the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleMiss {
    /// No `from`/`to` peer matched.
    Peer,
    /// No `ports` item matched.
    Port,
    /// Neither matched.
    PeerAndPort,
}

/// Why a selecting policy did not allow the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyMiss {
    /// The policy has no rules for this direction: it denies everything.
    NoRules,
    /// Each rule (in order, 1-based in the text) missed for this reason.
    Rules(Vec<RuleMiss>),
}

/// One direction's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Side {
    /// No policy isolates the pod in this direction (or the side is external).
    NotIsolated,
    /// Allowed by rule `rule` (0-based) of policy `policy` (`namespace/name`).
    Allowed {
        /// `namespace/name` of the first allowing policy.
        policy: String,
        /// 0-based index of its allowing rule.
        rule: usize,
    },
    /// Isolated and no selecting policy allowed it: every selecting policy and why.
    Denied(Vec<(String, PolicyMiss)>),
}

impl Side {
    /// Not denied.
    pub fn allows(&self) -> bool {
        !matches!(self, Side::Denied(_))
    }
}

/// The answer for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyVerdict {
    /// Source and destination are the same pod: always allowed.
    pub same_pod: bool,
    /// The source pod's egress.
    pub egress: Side,
    /// The destination pod's ingress.
    pub ingress: Side,
}

impl PolicyVerdict {
    /// Both directions allow it (or it is a pod to itself).
    pub fn allowed(&self) -> bool {
        self.same_pod || (self.egress.allows() && self.ingress.allows())
    }

    /// Every policy that denied (`namespace/name`), egress side first.
    pub fn deciding_policies(&self) -> Vec<&str> {
        if self.same_pod {
            return Vec::new();
        }
        [&self.egress, &self.ingress]
            .into_iter()
            .filter_map(|s| match s {
                Side::Denied(v) => Some(v.iter().map(|(p, _)| p.as_str())),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

impl fmt::Display for PolicyVerdict {
    /// The explanation for a `policy` drop, e.g. `ingress denied: selected by
    /// prod/api-allow (rule 1: port; rule 2: peer)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.allowed() {
            return f.write_str("allowed");
        }
        let mut first = true;
        for (d, side) in [("egress", &self.egress), ("ingress", &self.ingress)] {
            let Side::Denied(v) = side else { continue };
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{d} denied: selected by ")?;
            for (i, (p, miss)) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{p} (")?;
                match miss {
                    PolicyMiss::NoRules => write!(f, "no {d} rules")?,
                    PolicyMiss::Rules(r) => {
                        for (j, m) in r.iter().enumerate() {
                            if j > 0 {
                                f.write_str("; ")?;
                            }
                            let why = match m {
                                RuleMiss::Peer => "peer not matched",
                                RuleMiss::Port => "port not matched",
                                RuleMiss::PeerAndPort => "peer and port not matched",
                            };
                            write!(f, "rule {}: {why}", j + 1)?;
                        }
                    }
                }
                f.write_str(")")?;
            }
        }
        Ok(())
    }
}

/// Namespaces with their labels and the policies: everything a decision reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Declared namespaces and their labels (`namespaces:`). Undeclared namespaces
    /// (e.g. `default`) exist with only [`NAMESPACE_NAME_LABEL`].
    pub namespaces: BTreeMap<String, Labels>,
    /// Every policy, in definition order.
    pub policies: Vec<NetworkPolicy>,
}

impl Cluster {
    /// The labels of a namespace, including [`NAMESPACE_NAME_LABEL`] as Kubernetes adds it.
    pub fn namespace_labels(&self, ns: &str) -> Labels {
        let mut l = self.namespaces.get(ns).cloned().unwrap_or_default();
        l.insert(NAMESPACE_NAME_LABEL.to_owned(), ns.to_owned());
        l
    }

    /// Validates every policy.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.policies.iter().try_for_each(NetworkPolicy::validate)
    }

    pub(crate) fn peer_matches(&self, policy: &NetworkPolicy, peer: &Peer, ep: &Endpoint<'_>) -> bool {
        if let Some(block) = &peer.ip_block {
            return ep.ip().is_some_and(|ip| block.contains(ip));
        }
        let Endpoint::Pod(pod) = ep else {
            return false;
        };
        let ns_ok = match &peer.namespaces {
            None => pod.namespace == policy.namespace,
            Some(sel) => sel.matches(&self.namespace_labels(&pod.namespace)),
        };
        let pod_ok = peer.pods.as_ref().is_none_or(|s| s.matches(&pod.labels));
        // A peer with neither selector is invalid; it matches nothing here.
        (peer.pods.is_some() || peer.namespaces.is_some()) && ns_ok && pod_ok
    }

    /// One direction for `pod`: isolation, then the union of its selecting policies.
    /// `other` is the remote end; `dst` the destination (for named ports).
    /// `proto` is `None` for protocols a policy port cannot name (ICMP): only rules
    /// without `ports` match them.
    pub(crate) fn side(
        &self,
        d: Direction,
        pod: &Pod,
        other: &Endpoint<'_>,
        dst: &Endpoint<'_>,
        proto: Option<PolicyProto>,
        port: u16,
    ) -> Side {
        let mut denials = Vec::new();
        for p in self.policies.iter().filter(|p| p.has_type(d) && p.selects(pod)) {
            let rules = p.rules(d);
            if rules.is_empty() {
                denials.push((p.id(), PolicyMiss::NoRules));
                continue;
            }
            let mut misses = Vec::with_capacity(rules.len());
            for (i, r) in rules.iter().enumerate() {
                let peer_ok =
                    r.peers.is_empty() || r.peers.iter().any(|peer| self.peer_matches(p, peer, other));
                let port_ok = r.ports.is_empty()
                    || proto.is_some_and(|pr| r.ports.iter().any(|pp| pp.matches(pr, port, dst)));
                match (peer_ok, port_ok) {
                    (true, true) => {
                        return Side::Allowed {
                            policy: p.id(),
                            rule: i,
                        };
                    }
                    (false, true) => misses.push(RuleMiss::Peer),
                    (true, false) => misses.push(RuleMiss::Port),
                    (false, false) => misses.push(RuleMiss::PeerAndPort),
                }
            }
            denials.push((p.id(), PolicyMiss::Rules(misses)));
        }
        if denials.is_empty() {
            Side::NotIsolated
        } else {
            Side::Denied(denials)
        }
    }

    /// May `src` open a connection to `dst` on `proto/port`? Replies of an allowed
    /// connection are the caller's (conntrack's) business and always pass.
    pub fn decide(
        &self,
        src: Endpoint<'_>,
        dst: Endpoint<'_>,
        proto: PolicyProto,
        port: u16,
    ) -> PolicyVerdict {
        if let (Endpoint::Pod(a), Endpoint::Pod(b)) = (&src, &dst)
            && a.namespace == b.namespace
            && a.name == b.name
        {
            return PolicyVerdict {
                same_pod: true,
                egress: Side::NotIsolated,
                ingress: Side::NotIsolated,
            };
        }
        let egress = match &src {
            Endpoint::Pod(a) => self.side(Direction::Egress, a, &dst, &dst, Some(proto), port),
            Endpoint::External(_) => Side::NotIsolated,
        };
        let ingress = match &dst {
            Endpoint::Pod(b) => self.side(Direction::Ingress, b, &src, &dst, Some(proto), port),
            Endpoint::External(_) => Side::NotIsolated,
        };
        PolicyVerdict {
            same_pod: false,
            egress,
            ingress,
        }
    }
}

mod engine;
pub use engine::{Denied, GuardVerdict, Guards, PolicyEngine, Query};

#[cfg(test)]
mod tests;
