//! The policy keys: `policy_enforcement`, `namespaces:`, the container keys `labels`,
//! `namespace` and `named_ports`, and `policies:` — checked as the Kubernetes API server
//! checks a NetworkPolicy, then turned into the drivers' [`Cluster`] and the
//! containers' pod fields. The semantics live in `netloom_drivers::policy`; this file
//! only translates and places errors.
//!
//! What is refused, each at the value at fault: a namespace name that is not a DNS-1123
//! label, a policy name that is not a DNS-1123 subdomain (upstream's
//! `ValidateNetworkPolicyName`), a policy name used twice in one namespace, a label key
//! or value Kubernetes would refuse, a port that does not parse, a named container port
//! whose name is not an IANA service name or whose value is not one protocol and port,
//! `to:` in an ingress rule or `from:` in an egress rule, an empty peer, `cidr` mixed
//! with selectors, `except` without `cidr` or not strictly inside it, an unknown
//! operator, `In`/`NotIn` without values, `Exists`/`DoesNotExist` with values.
//! Namespaces need not be declared: an undeclared one (like `default`) exists with only
//! its `kubernetes.io/metadata.name` label.

use netloom_drivers::docker::{ContainerDef, Model};
use netloom_drivers::policy::{
    Direction, IpBlock, Labels, NAMESPACE_NAME_LABEL, NamedPort, NetworkPolicy, Peer, PolicyError,
    PolicyPort, PolicyRule as Rule, PortMatch, Requirement, Selector, SelectorOp,
};

use super::Validator;
use crate::error::{Located, location_of};
use crate::format::{
    Container, Expression, LabelMap, Location, Operator, PolicyPeer, PolicyRule, PolicyType, Scenario,
    Spanned,
};

/// What `ports:` items look like, for hints.
const PORT_FORMS: &str =
    "tcp/80, udp/53, tcp/9000-9010 (a range), tcp/http (a named container port), tcp (every TCP port)";
/// The shape of a label name (the part after an optional `prefix/`), for hints.
const LABEL_NAME_RULE: &str =
    "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";

impl Validator<'_> {
    /// A container's `namespace`, `labels` and `named_ports` into its definition.
    pub(super) fn container_policy_keys(&mut self, path: &str, c: &Container, cd: &mut ContainerDef) {
        if let Some(ns) = &c.namespace {
            self.at(format!("{path}.namespace"), location_of(ns));
            if self.namespace_name(&ns.value, ns) {
                cd.namespace = ns.value.clone();
            }
        }
        if let Some(l) = &c.labels {
            self.at(format!("{path}.labels"), location_of(l));
            cd.labels = self.labels(&l.value);
        }
        if let Some(ports) = &c.named_ports {
            self.at(format!("{path}.named_ports"), location_of(ports));
            for (name, v) in &ports.value {
                self.at(format!("{path}.named_ports.{name}"), name.location);
                let name_ok = port_name_ok(name);
                if !name_ok {
                    self.err(
                        name,
                        format!("'{name}' is not a valid port name"),
                        Some(
                            "an IANA service name: 1 to 15 lower-case letters, digits and '-', with at \
                             least one letter, no '-' at either end and no '--' (http, dns-tcp)"
                                .into(),
                        ),
                    );
                }
                let port = match PolicyPort::parse(&v.value) {
                    Ok(PolicyPort {
                        proto,
                        port: PortMatch::Range(a, b),
                    }) if a == b => Some((proto, a)),
                    Ok(_) => {
                        self.err(
                            v,
                            format!(
                                "'{}' is not one port: a named port is one protocol and number",
                                v.value
                            ),
                            Some("write e.g. `http: tcp/80` or `dns: udp/53`".into()),
                        );
                        None
                    }
                    Err(e) => {
                        self.err(
                            v,
                            e.to_string(),
                            Some("write e.g. `http: tcp/80` or `dns: udp/53`".into()),
                        );
                        None
                    }
                };
                if let (true, Some((proto, port))) = (name_ok, port) {
                    cd.named_ports.push(NamedPort {
                        name: name.value.clone(),
                        proto,
                        port,
                    });
                }
            }
        }
    }

    /// `policy_enforcement`, `namespaces:` and `policies:` into `m.cluster`.
    pub(super) fn policies(&mut self, s: &Scenario, m: &mut Model) {
        if let Some(v) = &s.policy_enforcement {
            m.policies_ignored = !v.value;
        }
        for (name, ns) in &s.namespaces {
            self.at(format!("namespaces.{name}"), name.location);
            let name_ok = self.namespace_name(name, name);
            let labels = self.labels(&ns.labels);
            if let Some((k, v)) = ns.labels.get_key_value(NAMESPACE_NAME_LABEL)
                && v.value != name.value
            {
                self.err(
                    k,
                    format!("'{NAMESPACE_NAME_LABEL}' of namespace '{name}' is always '{name}'"),
                    Some("Kubernetes sets this label to the namespace's name; remove it".into()),
                );
            }
            if name_ok {
                m.cluster.namespaces.insert(name.value.clone(), labels);
            }
        }
        // `namespace/name` → where the policy's name is written, for duplicates and for
        // mapping the policy module's own checks back to the file.
        let mut seen: Vec<(String, Location)> = Vec::new();
        for (k, p) in s.policies.iter().enumerate() {
            let before = self.errs.len();
            let pol = &p.value;
            self.at(format!("policies.{k}"), location_of(p));
            self.at(format!("policies.{k}.name"), location_of(&pol.name));
            let name_ok = dns_subdomain_ok(&pol.name.value);
            if !name_ok {
                self.err(
                    &pol.name,
                    format!("'{}' is not a valid policy name", pol.name.value),
                    Some(
                        "a DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' and '.', \
                         starting and ending with a letter or digit"
                            .into(),
                    ),
                );
            }
            let namespace = match &pol.namespace {
                Some(ns) => {
                    self.at(format!("policies.{k}.namespace"), location_of(ns));
                    self.namespace_name(&ns.value, ns);
                    ns.value.clone()
                }
                None => "default".to_owned(),
            };
            let id = format!("{namespace}/{}", pol.name.value);
            if let Some((_, first)) = seen.iter().find(|(i, _)| *i == id) {
                self.err(
                    &pol.name,
                    format!(
                        "policy '{}' is defined twice in namespace '{namespace}'",
                        pol.name.value
                    ),
                    Some(format!(
                        "first defined at line {}; a policy's name is unique within its namespace",
                        first.line()
                    )),
                );
            } else if name_ok {
                seen.push((id, location_of(&pol.name)));
            }
            let select = self.selector(pol.select.as_ref(), pol.select_expressions.as_ref());
            let types = pol.types.as_ref().map(|t| {
                t.value
                    .iter()
                    .map(|d| match d.value {
                        PolicyType::Ingress => Direction::Ingress,
                        PolicyType::Egress => Direction::Egress,
                    })
                    .collect()
            });
            let ingress = self.rules(pol.ingress.as_ref(), Direction::Ingress);
            let egress = self.rules(pol.egress.as_ref(), Direction::Egress);
            if self.errs.len() == before {
                m.cluster.policies.push(NetworkPolicy {
                    name: pol.name.value.clone(),
                    namespace,
                    select,
                    types,
                    ingress,
                    egress,
                });
            }
        }
        // The policy module's own checks, as a net under the ones above: whatever they
        // find is reported at the policy's name.
        if let Err(e) = m.cluster.validate() {
            let at = match &e {
                PolicyError::Policy { policy, .. } => seen
                    .iter()
                    .find(|(i, _)| i == policy)
                    .map_or(Location::UNKNOWN, |(_, l)| *l),
                _ => Location::UNKNOWN,
            };
            self.err(&at, e.to_string(), None);
        }
    }

    /// Checks a namespace name (DNS-1123 label), reporting it at `at` when bad.
    fn namespace_name(&mut self, name: &str, at: &impl Located) -> bool {
        let ok = dns_label_ok(name);
        if !ok {
            self.err(
                at,
                format!("'{name}' is not a valid namespace name"),
                Some(
                    "a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and \
                     ending with a letter or digit"
                        .into(),
                ),
            );
        }
        ok
    }

    /// A label map, each key and value checked as Kubernetes checks labels.
    fn labels(&mut self, l: &LabelMap) -> Labels {
        let mut out = Labels::new();
        for (k, v) in l {
            let mut ok = true;
            if !label_key_ok(k) {
                ok = false;
                self.err(
                    k,
                    format!("'{k}' is not a valid label key"),
                    Some(format!(
                        "a name ({LABEL_NAME_RULE}), optionally after a DNS prefix and '/': \
                         app.kubernetes.io/name"
                    )),
                );
            }
            if !label_value_ok(&v.value) {
                ok = false;
                self.err(
                    v,
                    format!("'{}' is not a valid label value", v.value),
                    Some(format!("{LABEL_NAME_RULE}, or empty (\"\")")),
                );
            }
            if ok {
                out.insert(k.value.clone(), v.value.clone());
            }
        }
        out
    }

    /// A selector from its matchLabels and matchExpressions; `{}` when neither is given.
    fn selector(
        &mut self,
        labels: Option<&Spanned<LabelMap>>,
        exprs: Option<&Spanned<Vec<Spanned<Expression>>>>,
    ) -> Selector {
        Selector {
            match_labels: labels.map_or_else(Labels::new, |l| self.labels(&l.value)),
            match_expressions: exprs.map_or_else(Vec::new, |e| {
                e.value.iter().filter_map(|x| self.requirement(x)).collect()
            }),
        }
    }

    /// One matchExpressions item.
    fn requirement(&mut self, x: &Spanned<Expression>) -> Option<Requirement> {
        let before = self.errs.len();
        let e = &x.value;
        if !label_key_ok(&e.key.value) {
            self.err(
                &e.key,
                format!("'{}' is not a valid label key", e.key.value),
                Some(format!(
                    "a name ({LABEL_NAME_RULE}), optionally after a DNS prefix and '/'"
                )),
            );
        }
        let values: Vec<String> = match &e.values {
            Some(vs) => vs
                .value
                .iter()
                .filter(|v| {
                    let ok = label_value_ok(&v.value);
                    if !ok {
                        self.err(
                            *v,
                            format!("'{}' is not a valid label value", v.value),
                            Some(format!("{LABEL_NAME_RULE}, or empty (\"\")")),
                        );
                    }
                    ok
                })
                .map(|v| v.value.clone())
                .collect(),
            None => Vec::new(),
        };
        let op = match e.operator.value {
            Operator::In => SelectorOp::In,
            Operator::NotIn => SelectorOp::NotIn,
            Operator::Exists => SelectorOp::Exists,
            Operator::DoesNotExist => SelectorOp::DoesNotExist,
        };
        let r = Requirement {
            key: e.key.value.clone(),
            op,
            values,
        };
        if let Err(err) = r.validate() {
            // `In` without values: point at the operator; `Exists` with values: at them.
            let at = match (&e.values, op) {
                (Some(vs), SelectorOp::Exists | SelectorOp::DoesNotExist) => location_of(vs),
                _ => location_of(&e.operator),
            };
            self.err(
                &at,
                err.to_string(),
                Some("In and NotIn take `values: [..]`; Exists and DoesNotExist take none".into()),
            );
        }
        (self.errs.len() == before).then_some(r)
    }

    /// A policy's `ingress:` or `egress:` rules.
    fn rules(&mut self, rules: Option<&Spanned<Vec<Spanned<PolicyRule>>>>, d: Direction) -> Vec<Rule> {
        let Some(rules) = rules else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in &rules.value {
            let r = &r.value;
            let (peers, wrong, right, wrong_key) = match d {
                Direction::Ingress => (&r.from, &r.to, "from", "to"),
                Direction::Egress => (&r.to, &r.from, "to", "from"),
            };
            if let Some(w) = wrong {
                self.err(
                    w,
                    format!("an {} rule takes `{right}:`, not `{wrong_key}:`", d.name()),
                    Some(match d {
                        Direction::Ingress => {
                            "ingress rules list the sources they admit under `from:`; `to:` belongs \
                             to egress rules"
                                .into()
                        }
                        Direction::Egress => {
                            "egress rules list the destinations they allow under `to:`; `from:` \
                             belongs to ingress rules"
                                .into()
                        }
                    }),
                );
            }
            let peers = peers.as_ref().map_or_else(Vec::new, |ps| {
                ps.value.iter().filter_map(|p| self.peer(p)).collect()
            });
            let mut ports = Vec::new();
            for p in &r.ports {
                match PolicyPort::parse(&p.value) {
                    Ok(pp) => ports.push(pp),
                    Err(e) => self.err(p, e.to_string(), Some(PORT_FORMS.into())),
                }
            }
            out.push(Rule { peers, ports });
        }
        out
    }

    /// One `from:`/`to:` item.
    fn peer(&mut self, p: &Spanned<PolicyPeer>) -> Option<Peer> {
        let before = self.errs.len();
        let v = &p.value;
        let pods = (v.labels.is_some() || v.label_expressions.is_some())
            .then(|| self.selector(v.labels.as_ref(), v.label_expressions.as_ref()));
        let namespaces = (v.namespace_labels.is_some() || v.namespace_expressions.is_some())
            .then(|| self.selector(v.namespace_labels.as_ref(), v.namespace_expressions.as_ref()));
        let ip_block = match (&v.cidr, &v.except) {
            (Some(c), except) => {
                let cidr = c.value.trunc();
                let mut block = IpBlock {
                    cidr,
                    except: Vec::new(),
                };
                for e in except.iter().flat_map(|e| &e.value) {
                    let one = Peer {
                        ip_block: Some(IpBlock {
                            cidr,
                            except: vec![e.value.trunc()],
                        }),
                        ..Peer::default()
                    };
                    match one.validate() {
                        Ok(()) => block.except.push(e.value.trunc()),
                        Err(err) => self.err(
                            e,
                            err.to_string(),
                            Some("an except range carves a smaller range out of the cidr".into()),
                        ),
                    }
                }
                Some(block)
            }
            (None, Some(e)) => {
                self.err(
                    e,
                    "'except' needs a 'cidr' to carve its ranges from",
                    Some("write e.g. `{ cidr: 10.0.0.0/8, except: [10.1.0.0/16] }`".into()),
                );
                None
            }
            (None, None) => None,
        };
        if self.errs.len() != before {
            return None;
        }
        let peer = Peer {
            pods,
            namespaces,
            ip_block,
        };
        if let Err(e) = peer.validate() {
            let (at, hint) = match &v.cidr {
                Some(c) => (
                    location_of(c),
                    "an ipBlock stands alone: put `cidr` in a peer of its own (peers are OR'ed)",
                ),
                None => (
                    location_of(p),
                    "a peer needs labels/label_expressions (pods), namespace_labels/\
                     namespace_expressions (namespaces) or cidr (addresses)",
                ),
            };
            self.err(&at, e.to_string(), Some(hint.into()));
            return None;
        }
        Some(peer)
    }
}

/// A named container port's name, by the same rule as a named port in `ports:`
/// (IANA_SVC_NAME as `PolicyPort::parse` applies it), so every name that may be
/// declared may also be referred to.
fn port_name_ok(name: &str) -> bool {
    matches!(
        PolicyPort::parse(&format!("tcp/{name}")),
        Ok(PolicyPort {
            port: PortMatch::Named(_),
            ..
        })
    )
}

/// DNS-1123 label: 1–63 of `[a-z0-9-]`, alphanumeric at both ends (namespace names).
fn dns_label_ok(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain: 1–253 characters, dot-separated parts of `[a-z0-9-]`, each
/// alphanumeric at both ends (object names, label key prefixes).
fn dns_subdomain_ok(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !p.starts_with('-')
                && !p.ends_with('-')
        })
}

/// A label name (Kubernetes' qualified-name part): 1–63 of `[A-Za-z0-9_.-]`,
/// alphanumeric at both ends.
fn label_name_ok(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    (1..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alnum(s.chars().next())
        && alnum(s.chars().last())
}

/// A label key: `name` or `prefix/name`, the prefix a DNS-1123 subdomain.
fn label_key_ok(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => dns_subdomain_ok(prefix) && label_name_ok(name),
        None => label_name_ok(k),
    }
}

/// A label value: empty, or a label name.
fn label_value_ok(v: &str) -> bool {
    v.is_empty() || label_name_ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_and_values_follow_kubernetes() {
        for k in [
            "app",
            "app.kubernetes.io/name",
            "kubernetes.io/metadata.name",
            "A_b-c.9",
        ] {
            assert!(label_key_ok(k), "{k}");
        }
        for k in [
            "",
            "-app",
            "app-",
            "a/b/c",
            "/app",
            "Example.com/app",
            "a b",
            &"x".repeat(64),
        ] {
            assert!(!label_key_ok(k), "{k}");
        }
        assert!(label_value_ok(""));
        assert!(label_value_ok("v1.2_x"));
        assert!(!label_value_ok("a/b"));
        assert!(!label_value_ok("-x"));
    }

    #[test]
    fn names_follow_dns_1123() {
        assert!(dns_label_ok("prod-1"));
        assert!(!dns_label_ok("Prod"));
        assert!(!dns_label_ok("a.b"));
        assert!(!dns_label_ok(&"a".repeat(64)));
        assert!(dns_subdomain_ok("allow.web-1"));
        assert!(!dns_subdomain_ok("allow..web"));
        assert!(!dns_subdomain_ok("allow_web"));
    }

    #[test]
    fn port_names_are_iana_service_names() {
        assert!(port_name_ok("http"));
        assert!(port_name_ok("dns-tcp"));
        assert!(!port_name_ok("HTTP"));
        assert!(!port_name_ok("a--b"));
        assert!(!port_name_ok("a-very-long-port-name"));
        assert!(!port_name_ok("8080"));
    }
}
