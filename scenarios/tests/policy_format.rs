//! The policy keys of the scenario format — `policy_enforcement`, `namespaces:`, the
//! container keys `labels` / `namespace` / `named_ports`, and `policies:` — what a valid
//! file becomes in the model (the drivers' `policy::Cluster` and the containers' pod
//! fields), and every refusal at its `file:line:column` with a hint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use netloom_drivers::policy::{
    Cluster, Direction, IpBlock, Labels, NamedPort, NetworkPolicy, Peer, PolicyPort, PolicyProto, PolicyRule,
    PortMatch, Requirement, Selector, SelectorOp,
};
use netloom_scenarios::error::ScenarioError;
use netloom_scenarios::{Loaded, load};

/// One network and three containers: `api` in `prod`, `web` and `db` in `default`.
const HEAD: &str = "name: pol
networks:
  app: {}
containers:
  api:
    networks: [app]
    namespace: prod
    labels: { role: api, app.kubernetes.io/name: shop }
    named_ports: { http: tcp/80, dns: udp/53, metrics: 9090 }
  web: { networks: [app], labels: { role: web, tier: \"\" } }
  db: { networks: [app] }
";

fn ok(yaml: &str) -> Loaded {
    load("t.yaml", yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// The first error of `yaml`, checked to sit at the first occurrence of `at` on the
/// line that contains `line_has`, with `msg` in its message and `hint` in its hint.
fn refused(yaml: &str, line_has: &str, at: &str, msg: &str, hint: &str) -> ScenarioError {
    let errs = match load("t.yaml", yaml) {
        Ok(_) => panic!("loaded, but it is invalid:\n{yaml}"),
        Err(e) => e,
    };
    let first = errs.iter().next().expect("one error").clone();
    let (line, text) = yaml
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(line_has))
        .unwrap_or_else(|| panic!("no line has {line_has:?}"));
    let col = text[..text.find(at).expect("marker on the line")].chars().count() + 1;
    assert_eq!(
        (first.line, first.column),
        (line as u64 + 1, col as u64),
        "{errs}"
    );
    assert!(first.message.contains(msg), "message: {first}");
    assert!(
        first.hint.as_deref().unwrap_or("").contains(hint),
        "hint: {first}"
    );
    assert!(
        first
            .to_string()
            .starts_with(&format!("t.yaml:{}:{col}: error: ", line + 1)),
        "{first}"
    );
    first
}

fn with_policies(policies: &str) -> String {
    format!("{HEAD}policies:\n{policies}")
}

fn labels(kv: &[(&str, &str)]) -> Labels {
    kv.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn port(proto: PolicyProto, port: PortMatch) -> PolicyPort {
    PolicyPort { proto, port }
}

/// Proves every policy key reaches the drivers' model with its meaning: selectors
/// (labels AND expressions), peers of each kind, ipBlocks (host bits cleared), every
/// port form, `types` kept as written or left to defaulting, `ingress: []` as no rules.
#[test]
fn every_key_reaches_the_model() {
    let yaml = format!(
        "{HEAD}namespaces:
  prod: {{ labels: {{ purpose: production }} }}
  empty:
policies:
  - name: api-allow
    namespace: prod
    select: {{ role: api }}
    select_expressions:
      - {{ key: tier, operator: NotIn, values: [legacy, old] }}
    types: [ingress, egress]
    ingress:
      - from:
          - {{ labels: {{ role: web }} }}
          - {{ namespace_labels: {{ purpose: production }}, labels: {{ role: web }} }}
          - {{ namespace_labels: {{}} }}
          - label_expressions: [{{ key: role, operator: Exists }}]
          - namespace_expressions: [{{ key: purpose, operator: In, values: [production] }}]
          - {{ cidr: 10.0.0.7/24, except: [10.0.0.1/32] }}
        ports: [tcp/80, \"tcp/9000-9010\", tcp/http, sctp/80, tcp, udp/53]
      - ports: [udp/53]
    egress:
      - to: [{{ namespace_labels: {{ purpose: production }} }}]
  - name: deny-all
    select: {{}}
    ingress: []
  - name: defaulted
    egress:
      - ports: [tcp/443]
"
    );
    let l = ok(&yaml);
    let m = &l.model;
    assert!(!m.policies_ignored, "policies are enforced by default");

    let web = || Some(Selector::labels([("role", "web")]));
    let expected = Cluster {
        namespaces: BTreeMap::from([
            ("empty".to_owned(), Labels::new()),
            ("prod".to_owned(), labels(&[("purpose", "production")])),
        ]),
        policies: vec![
            NetworkPolicy {
                name: "api-allow".into(),
                namespace: "prod".into(),
                select: Selector {
                    match_labels: labels(&[("role", "api")]),
                    match_expressions: vec![Requirement {
                        key: "tier".into(),
                        op: SelectorOp::NotIn,
                        values: vec!["legacy".into(), "old".into()],
                    }],
                },
                types: Some(vec![Direction::Ingress, Direction::Egress]),
                ingress: vec![
                    PolicyRule {
                        peers: vec![
                            Peer {
                                pods: web(),
                                ..Peer::default()
                            },
                            Peer {
                                pods: web(),
                                namespaces: Some(Selector::labels([("purpose", "production")])),
                                ip_block: None,
                            },
                            Peer {
                                namespaces: Some(Selector::everything()),
                                ..Peer::default()
                            },
                            // Only expressions: still a pod selector.
                            Peer {
                                pods: Some(Selector {
                                    match_labels: Labels::new(),
                                    match_expressions: vec![Requirement {
                                        key: "role".into(),
                                        op: SelectorOp::Exists,
                                        values: vec![],
                                    }],
                                }),
                                ..Peer::default()
                            },
                            Peer {
                                namespaces: Some(Selector {
                                    match_labels: Labels::new(),
                                    match_expressions: vec![Requirement {
                                        key: "purpose".into(),
                                        op: SelectorOp::In,
                                        values: vec!["production".into()],
                                    }],
                                }),
                                ..Peer::default()
                            },
                            // Host bits cleared, as Go's ParseCIDR returns the network.
                            Peer {
                                ip_block: Some(IpBlock {
                                    cidr: "10.0.0.0/24".parse().unwrap(),
                                    except: vec!["10.0.0.1/32".parse().unwrap()],
                                }),
                                ..Peer::default()
                            },
                        ],
                        ports: vec![
                            port(PolicyProto::Tcp, PortMatch::Range(80, 80)),
                            port(PolicyProto::Tcp, PortMatch::Range(9000, 9010)),
                            port(PolicyProto::Tcp, PortMatch::Named("http".into())),
                            port(PolicyProto::Sctp, PortMatch::Range(80, 80)),
                            port(PolicyProto::Tcp, PortMatch::All),
                            port(PolicyProto::Udp, PortMatch::Range(53, 53)),
                        ],
                    },
                    PolicyRule {
                        peers: vec![],
                        ports: vec![port(PolicyProto::Udp, PortMatch::Range(53, 53))],
                    },
                ],
                egress: vec![PolicyRule {
                    peers: vec![Peer {
                        namespaces: Some(Selector::labels([("purpose", "production")])),
                        ..Peer::default()
                    }],
                    ports: vec![],
                }],
            },
            NetworkPolicy {
                name: "deny-all".into(),
                namespace: "default".into(),
                select: Selector::everything(),
                types: None,
                ingress: vec![],
                egress: vec![],
            },
            NetworkPolicy {
                name: "defaulted".into(),
                namespace: "default".into(),
                select: Selector::everything(),
                types: None,
                ingress: vec![],
                egress: vec![PolicyRule {
                    peers: vec![],
                    ports: vec![port(PolicyProto::Tcp, PortMatch::Range(443, 443))],
                }],
            },
        ],
    };
    assert_eq!(m.cluster, expected);
    // `types` omitted: Ingress always, Egress because there is an egress rule.
    assert!(m.cluster.policies[2].has_type(Direction::Ingress));
    assert!(m.cluster.policies[2].has_type(Direction::Egress));
    // `ingress: []` without types: isolates ingress, not egress.
    assert!(!m.cluster.policies[1].has_type(Direction::Egress));

    let c = |n: &str| m.containers.iter().find(|c| c.name == n).unwrap();
    assert_eq!(c("api").namespace, "prod");
    assert_eq!(
        c("api").labels,
        labels(&[("role", "api"), ("app.kubernetes.io/name", "shop")])
    );
    assert_eq!(
        c("api").named_ports,
        [
            NamedPort {
                name: "http".into(),
                proto: PolicyProto::Tcp,
                port: 80
            },
            NamedPort {
                name: "dns".into(),
                proto: PolicyProto::Udp,
                port: 53
            },
            // A bare number is TCP, as a containerPort's protocol defaults to TCP.
            NamedPort {
                name: "metrics".into(),
                proto: PolicyProto::Tcp,
                port: 9090
            },
        ]
    );
    assert_eq!(c("web").namespace, "default");
    assert_eq!(c("web").labels, labels(&[("role", "web"), ("tier", "")]));
    assert!(c("db").labels.is_empty() && c("db").named_ports.is_empty());
    assert_eq!(c("db").namespace, "default");
}

/// Proves `policy_enforcement: false` reaches the model (the plugin ignores policies),
/// and `true` is the same as leaving it out.
#[test]
fn policy_enforcement_false_sets_policies_ignored() {
    let l = ok(&format!("{HEAD}policy_enforcement: false\n"));
    assert!(l.model.policies_ignored);
    let l = ok(&format!("{HEAD}policy_enforcement: true\n"));
    assert!(!l.model.policies_ignored);
    refused(
        &format!("{HEAD}policy_enforcement: sometimes\n"),
        "policy_enforcement:",
        "sometimes",
        "boolean",
        "",
    );
}

/// Proves the decision a user would see follows from what the file says: `web`
/// (default) may reach `api` (prod) on tcp/80 through the named port, not on tcp/81,
/// and `db` not at all.
#[test]
fn loaded_policies_decide_as_written() {
    use netloom_drivers::policy::{Endpoint, Pod};
    let l = ok(&with_policies(
        "  - name: api-in
    namespace: prod
    select: { role: api }
    ingress:
      - from: [{ namespace_labels: {}, labels: { role: web } }]
        ports: [tcp/http]
",
    ));
    let pod = |n: &str| {
        let c = l.model.containers.iter().find(|c| c.name == n).unwrap();
        Pod {
            name: c.name.clone(),
            namespace: c.namespace.clone(),
            labels: c.labels.clone(),
            ip: None,
            ports: c.named_ports.clone(),
        }
    };
    let (api, web, db) = (pod("api"), pod("web"), pod("db"));
    let cl = &l.model.cluster;
    let tcp = PolicyProto::Tcp;
    assert!(
        cl.decide(Endpoint::Pod(&web), Endpoint::Pod(&api), tcp, 80)
            .allowed()
    );
    assert!(
        !cl.decide(Endpoint::Pod(&web), Endpoint::Pod(&api), tcp, 81)
            .allowed()
    );
    let v = cl.decide(Endpoint::Pod(&db), Endpoint::Pod(&api), tcp, 80);
    assert_eq!(v.deciding_policies(), ["prod/api-in"]);
}

#[test]
fn bad_ports_are_refused_at_their_value() {
    let yaml = with_policies(
        "  - name: p
    ingress:
      - ports: [tcp/80, tcp/0]
",
    );
    refused(
        &yaml,
        "- ports: [tcp/80",
        "tcp/0",
        "not a port 1-65535",
        "tcp/9000-9010",
    );
    let yaml = with_policies(
        "  - name: p
    egress:
      - ports:
          - \"tcp/90-80\"
",
    );
    refused(
        &yaml,
        "tcp/90-80",
        "\"tcp/90-80",
        "endPort 80 is below port 90",
        "tcp/http",
    );
    let yaml = with_policies(
        "  - name: p
    egress:
      - ports: [icmp/1]
",
    );
    refused(&yaml, "icmp/1", "icmp/1", "unknown protocol", "udp/53");
    let yaml = with_policies(
        "  - name: p
    egress:
      - ports: [tcp/Http]
",
    );
    refused(
        &yaml,
        "tcp/Http",
        "tcp/Http",
        "neither a port number nor a port name",
        "",
    );
}

#[test]
fn rules_use_the_right_peer_key() {
    let yaml = with_policies(
        "  - name: p
    ingress:
      - to: [{ labels: { role: web } }]
",
    );
    refused(
        &yaml,
        "- to:",
        "[{",
        "an ingress rule takes `from:`, not `to:`",
        "egress",
    );
    let yaml = with_policies(
        "  - name: p
    egress:
      - from:
          - labels: { role: web }
",
    );
    refused(
        &yaml,
        "- labels: { role: web }",
        "-",
        "an egress rule takes `to:`, not `from:`",
        "ingress",
    );
}

#[test]
fn bad_peers_are_refused_where_written() {
    // Empty peer.
    let yaml = with_policies(
        "  - name: p
    ingress:
      - from: [{ labels: { role: web } }, {}]
",
    );
    refused(&yaml, "from:", "{}", "empty peer", "label_expressions");
    // cidr with selectors: at the cidr.
    let yaml = with_policies(
        "  - name: p
    ingress:
      - from: [{ labels: { role: web }, cidr: 10.0.0.0/8 }]
",
    );
    refused(
        &yaml,
        "from:",
        "10.0.0.0/8",
        "cidr cannot be combined",
        "a peer of its own",
    );
    // except outside cidr: at that except.
    let yaml = with_policies(
        "  - name: p
    egress:
      - to: [{ cidr: 10.0.0.0/8, except: [10.1.0.0/16, 192.168.0.0/16] }]
",
    );
    refused(
        &yaml,
        "to:",
        "192.168",
        "strictly inside cidr 10.0.0.0/8",
        "carves",
    );
    // except equal to cidr is not strictly inside either.
    let yaml = with_policies(
        "  - name: p
    egress:
      - to: [{ cidr: 10.0.0.0/8, except: [10.0.0.0/8] }]
",
    );
    refused(&yaml, "to:", "10.0.0.0/8]", "strictly inside", "");
    // except without cidr.
    let yaml = with_policies(
        "  - name: p
    egress:
      - to: [{ except: [10.0.0.0/8] }]
",
    );
    refused(&yaml, "to:", "[10.0", "needs a 'cidr'", "cidr: 10.0.0.0/8");
    // Not a CIDR at all: the parser says so at the value.
    let yaml = with_policies(
        "  - name: p
    egress:
      - to: [{ cidr: ten }]
",
    );
    refused(&yaml, "to:", "ten", "", "");
}

#[test]
fn bad_expressions_are_refused_where_written() {
    let yaml = with_policies(
        "  - name: p
    select_expressions:
      - { key: role, operator: Within, values: [a] }
",
    );
    refused(&yaml, "Within", "Within", "unknown value 'Within'", "NotIn");
    let yaml = with_policies(
        "  - name: p
    select_expressions:
      - { key: role, operator: In }
",
    );
    refused(
        &yaml,
        "operator: In",
        "In }",
        "In/NotIn need at least one value",
        "values",
    );
    let yaml = with_policies(
        "  - name: p
    ingress:
      - from:
          - label_expressions: [{ key: role, operator: Exists, values: [x] }]
",
    );
    refused(&yaml, "Exists", "[x]", "Exists/DoesNotExist take no values", "");
    let yaml = with_policies(
        "  - name: p
    ingress:
      - from:
          - namespace_expressions: [{ key: -bad, operator: Exists }]
",
    );
    refused(&yaml, "-bad", "-bad", "'-bad' is not a valid label key", "63");
}

#[test]
fn policy_names_and_namespaces_are_checked() {
    let yaml = with_policies(
        "  - name: allow-web
    namespace: prod
  - name: allow-web
  - { name: allow-web, namespace: prod }
",
    );
    let e = refused(
        &yaml,
        "{ name: allow-web",
        "allow-web",
        "policy 'allow-web' is defined twice in namespace 'prod'",
        "first defined at line",
    );
    // The error is on the third policy (the second in `prod`), not the first.
    assert_eq!(e.line as usize, HEAD.lines().count() + 5);
    let yaml = with_policies("  - name: Allow_Web\n");
    refused(
        &yaml,
        "Allow_Web",
        "Allow_Web",
        "not a valid policy name",
        "DNS-1123 subdomain",
    );
    let yaml = with_policies("  - name: p\n    namespace: Prod\n");
    refused(
        &yaml,
        "namespace: Prod",
        "Prod",
        "not a valid namespace name",
        "DNS-1123 label",
    );
    let yaml = format!("{HEAD}namespaces:\n  my.ns: {{}}\n");
    refused(
        &yaml,
        "my.ns",
        "my.ns",
        "not a valid namespace name",
        "DNS-1123 label",
    );
    let yaml = HEAD.replace("namespace: prod", "namespace: prod_1");
    refused(&yaml, "prod_1", "prod_1", "not a valid namespace name", "");
    // Undeclared namespaces are fine (like `default`).
    let l = ok(&HEAD.replace("namespace: prod", "namespace: staging"));
    assert_eq!(l.model.containers[0].namespace, "staging");
    // kubernetes.io/metadata.name is the namespace's name, always.
    let yaml = format!("{HEAD}namespaces:\n  prod: {{ labels: {{ kubernetes.io/metadata.name: other }} }}\n");
    refused(
        &yaml,
        "metadata.name",
        "kubernetes.io",
        "is always 'prod'",
        "remove it",
    );
}

#[test]
fn labels_and_named_ports_are_checked() {
    let yaml = HEAD.replace("role: web,", "role: web/x,");
    refused(
        &yaml,
        "web/x",
        "web/x",
        "'web/x' is not a valid label value",
        "63",
    );
    let yaml = HEAD.replace("tier: \"\"", "bad key: x");
    refused(
        &yaml,
        "bad key",
        "bad key",
        "'bad key' is not a valid label key",
        "prefix",
    );
    let yaml = with_policies("  - name: p\n    select: { role: \"a b\" }\n");
    refused(&yaml, "a b", "\"a b\"", "not a valid label value", "");
    let yaml = HEAD.replace("dns: udp/53", "DNS: udp/53");
    refused(&yaml, "DNS:", "DNS", "'DNS' is not a valid port name", "IANA");
    let yaml = HEAD.replace("dns: udp/53", "dns: udp/53-54");
    refused(&yaml, "udp/53-54", "udp/53-54", "is not one port", "dns: udp/53");
    let yaml = HEAD.replace("dns: udp/53", "dns: udp/0");
    refused(&yaml, "udp/0", "udp/0", "not a port 1-65535", "http: tcp/80");
    let yaml = HEAD.replace("dns: udp/53", "dns: udp");
    refused(&yaml, "dns: udp,", "udp,", "is not one port", "");
}

/// Every bad value is reported, not only the first, each at its place.
#[test]
fn several_errors_are_all_reported() {
    let yaml = with_policies(
        "  - name: p
    ingress:
      - from: [{}]
        ports: [tcp/0]
  - name: q
    egress:
      - to: [{ cidr: 10.0.0.0/8, except: [11.0.0.0/16] }]
",
    );
    let errs = load("t.yaml", &yaml).expect_err("invalid");
    let got: Vec<(u64, u64, &str)> = errs
        .iter()
        .map(|e| (e.line, e.column, e.message.split(':').next().unwrap_or("")))
        .collect();
    let h = HEAD.lines().count() as u64;
    assert_eq!(
        got,
        [(h + 4, 16, "peer"), (h + 5, 17, "port"), (h + 8, 43, "peer")],
        "{errs}"
    );
}

/// Label values are text, as Kubernetes' are: an unquoted number is its digits, and
/// `select:` matches it written either way.
#[test]
fn label_values_are_text() {
    let yaml = HEAD.replace("labels: { role: web,", "labels: { version: 1, role: web,");
    let l = ok(&format!(
        "{yaml}policies:\n  - name: v1\n    select: {{ version: \"1\" }}\n"
    ));
    let web = l.model.containers.iter().find(|c| c.name == "web").unwrap();
    assert_eq!(web.labels.get("version").map(String::as_str), Some("1"));
    assert!(l.model.cluster.policies[0].select.matches(&web.labels));
}

/// A `reachability` step: its port and its expected matrix are checked at load, each
/// error at the step's value.
#[test]
fn reachability_steps_are_checked_at_load() {
    let good = format!(
        "{HEAD}steps:\n  - reachability: {{ port: tcp/80 }}\n    expect:\n      matrix: |\n        -   api web db\n        api .   .   .\n        web .   .   .\n        db  .   .   .\n"
    );
    let l = ok(&good);
    assert_eq!(l.steps.len(), 1);
    assert!(l.steps[0].expect.matrix.is_some());

    refused(
        &format!("{HEAD}steps:\n  - reachability: {{ port: icmp/1 }}\n"),
        "reachability",
        "icmp/1",
        "tcp or udp",
        "tcp/80",
    );
    refused(
        &format!(
            "{HEAD}steps:\n  - reachability: {{ port: tcp/80 }}\n    expect:\n      matrix: |\n        -   api web\n        api . ?\n"
        ),
        "api . ?",
        "api",
        "matrix line 2",
        "a cell per column",
    );
    refused(
        &format!(
            "{HEAD}steps:\n  - reachability: {{ port: tcp/80 }}\n    expect:\n      matrix: |\n        -   api webb\n        api . .\n"
        ),
        "-   api webb",
        "-",
        "'webb', which is not a container",
        "did you mean 'web'?",
    );
}
