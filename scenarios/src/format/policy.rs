//! The typed form of the policy sections: `namespaces:`, `policies:` and the shapes
//! they share (label maps, match expressions, peers, rules).
//!
//! Everything keeps its position ([`Spanned`] values, [`Name`](super::Name) keys) so that the validator
//! (`validate/policy.rs`) can point at the value at fault; nothing is checked here
//! beyond the shape and the enum words (`operator`, `types`).

use ipnet::IpNet;
use serde::Deserialize;

use super::{NameMap, Scalar, Spanned, list, name_map};

/// Labels as written (`{ role: api }`): each key and each value with its position.
pub type LabelMap = NameMap<Spanned<String>>;

/// A Kubernetes-style namespace (`namespaces: { prod: { labels: … } }`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Namespace {
    /// Its labels; `kubernetes.io/metadata.name: NAME` is added as Kubernetes adds it.
    #[serde(default, deserialize_with = "name_map")]
    pub labels: LabelMap,
}

/// One NetworkPolicy (`policies:` item).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Policy {
    /// Policy name, unique within its namespace.
    pub name: Spanned<String>,
    /// The namespace it belongs to and selects within; `default` when omitted.
    #[serde(default)]
    pub namespace: Option<Spanned<String>>,
    /// podSelector matchLabels; omitted or `{}` with no `select_expressions` selects
    /// every pod of the namespace.
    #[serde(default)]
    pub select: Option<Spanned<LabelMap>>,
    /// podSelector matchExpressions (an addition).
    #[serde(default)]
    pub select_expressions: Option<Spanned<Vec<Spanned<Expression>>>>,
    /// policyTypes; omitted = defaulted as Kubernetes does.
    #[serde(default)]
    pub types: Option<Spanned<Vec<Spanned<PolicyType>>>>,
    /// Ingress rules (`from:`); present and empty = no rule allows anything.
    #[serde(default)]
    pub ingress: Option<Spanned<Vec<Spanned<PolicyRule>>>>,
    /// Egress rules (`to:`); present and empty = no rule allows anything.
    #[serde(default)]
    pub egress: Option<Spanned<Vec<Spanned<PolicyRule>>>>,
}

/// A policyTypes entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyType {
    /// Ingress.
    Ingress,
    /// Egress.
    Egress,
}

/// An ingress (`from`) or egress (`to`) rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyRule {
    /// Ingress peers; omitted or empty = every source.
    #[serde(default)]
    pub from: Option<Spanned<Vec<Spanned<PolicyPeer>>>>,
    /// Egress peers; omitted or empty = every destination.
    #[serde(default)]
    pub to: Option<Spanned<Vec<Spanned<PolicyPeer>>>>,
    /// Ports (`tcp/80`, `udp/53`, `tcp/9000-9010`, `tcp/http`, `tcp`); omitted or
    /// empty = every port.
    #[serde(default, deserialize_with = "list")]
    pub ports: Vec<Spanned<Scalar>>,
}

/// A policy peer: selectors (AND'ed) or an ipBlock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyPeer {
    /// podSelector matchLabels.
    #[serde(default)]
    pub labels: Option<Spanned<LabelMap>>,
    /// podSelector matchExpressions (an addition).
    #[serde(default)]
    pub label_expressions: Option<Spanned<Vec<Spanned<Expression>>>>,
    /// namespaceSelector matchLabels; `{}` = every namespace.
    #[serde(default)]
    pub namespace_labels: Option<Spanned<LabelMap>>,
    /// namespaceSelector matchExpressions (an addition).
    #[serde(default)]
    pub namespace_expressions: Option<Spanned<Vec<Spanned<Expression>>>>,
    /// ipBlock cidr.
    #[serde(default)]
    pub cidr: Option<Spanned<IpNet>>,
    /// ipBlock except.
    #[serde(default)]
    pub except: Option<Spanned<Vec<Spanned<IpNet>>>>,
}

/// One matchExpressions requirement, Kubernetes' shape: `{key, operator, values}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Expression {
    /// The label key.
    pub key: Spanned<String>,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: Spanned<Operator>,
    /// Values: at least one for `In`/`NotIn`, none for `Exists`/`DoesNotExist`.
    #[serde(default)]
    pub values: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A matchExpressions operator, spelt as in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Operator {
    /// The key is present with one of the values.
    In,
    /// The key is absent or has none of the values.
    NotIn,
    /// The key is present.
    Exists,
    /// The key is absent.
    DoesNotExist,
}
