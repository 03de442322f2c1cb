//! Unit tests: one per rule of the semantics, on the e2e model's x/y/z × a/b/c pods.

use super::*;
use proptest::prelude::*;

fn pod(ns: &str, name: &str, ip: &str) -> Pod {
    Pod {
        name: name.into(),
        namespace: ns.into(),
        labels: [("pod".to_owned(), name.to_owned())].into(),
        ip: Some(ip.parse().expect("test fixture")),
        ports: vec![
            NamedPort {
                name: "serve-80-tcp".into(),
                proto: PolicyProto::Tcp,
                port: 80,
            },
            NamedPort {
                name: "serve-81-udp".into(),
                proto: PolicyProto::Udp,
                port: 81,
            },
        ],
    }
}

/// The netpol e2e model: namespaces x, y, z each with pods a, b, c.
fn model() -> Vec<Pod> {
    let mut v = Vec::new();
    for (i, ns) in ["x", "y", "z"].iter().enumerate() {
        for (j, p) in ["a", "b", "c"].iter().enumerate() {
            v.push(pod(ns, p, &format!("10.0.{i}.{}", j + 10)));
        }
    }
    v
}

fn cluster(policies: Vec<NetworkPolicy>) -> Cluster {
    let mut namespaces = BTreeMap::new();
    for ns in ["x", "y", "z"] {
        namespaces.insert(ns.to_owned(), [("ns".to_owned(), ns.to_owned())].into());
    }
    Cluster { namespaces, policies }
}

fn policy(ns: &str, name: &str, select: Selector) -> NetworkPolicy {
    NetworkPolicy {
        name: name.into(),
        namespace: ns.into(),
        select,
        types: None,
        ingress: Vec::new(),
        egress: Vec::new(),
    }
}

fn find<'a>(pods: &'a [Pod], id: &str) -> &'a Pod {
    let (ns, name) = id.split_once('/').expect("test fixture");
    pods.iter()
        .find(|p| p.namespace == ns && p.name == name)
        .expect("test fixture")
}

fn tcp(c: &Cluster, pods: &[Pod], from: &str, to: &str, port: u16) -> bool {
    c.decide(
        Endpoint::Pod(find(pods, from)),
        Endpoint::Pod(find(pods, to)),
        PolicyProto::Tcp,
        port,
    )
    .allowed()
}

fn peer_pods(kv: &[(&str, &str)]) -> Peer {
    Peer {
        pods: Some(Selector::labels(kv.iter().copied())),
        ..Peer::default()
    }
}

fn peer_ns(kv: &[(&str, &str)]) -> Peer {
    Peer {
        namespaces: Some(Selector::labels(kv.iter().copied())),
        ..Peer::default()
    }
}

fn ports(list: &[&str]) -> Vec<PolicyPort> {
    list.iter()
        .map(|s| PolicyPort::parse(s).expect("test fixture"))
        .collect()
}

/// Every (from, to) pair that is allowed, as "x/a->y/b" strings.
fn allowed_pairs(c: &Cluster, pods: &[Pod], port: u16) -> Vec<String> {
    let mut v = Vec::new();
    for a in pods {
        for b in pods {
            if c.decide(Endpoint::Pod(a), Endpoint::Pod(b), PolicyProto::Tcp, port)
                .allowed()
            {
                v.push(format!("{}/{}->{}/{}", a.namespace, a.name, b.namespace, b.name));
            }
        }
    }
    v
}

#[test]
fn no_policies_allow_everything() {
    let pods = model();
    assert_eq!(allowed_pairs(&cluster(vec![]), &pods, 80).len(), 81);
}

#[test]
fn default_deny_ingress_isolates_only_selected_namespace() {
    let pods = model();
    let c = cluster(vec![policy("x", "deny-all", Selector::everything())]);
    assert!(!tcp(&c, &pods, "y/a", "x/a", 80));
    assert!(!tcp(&c, &pods, "x/b", "x/a", 80));
    // Egress of x pods is untouched (types default to Ingress only) and y is not isolated.
    assert!(tcp(&c, &pods, "x/a", "y/a", 80));
    // A pod to itself is always allowed.
    assert!(tcp(&c, &pods, "x/a", "x/a", 80));
    // 9 pods × 3 sources in x denied minus the 3 self pairs: 81 - 27 + 3.
    assert_eq!(allowed_pairs(&c, &pods, 80).len(), 57);
}

#[test]
fn only_selected_pods_are_isolated() {
    let pods = model();
    let c = cluster(vec![policy("x", "deny-a", Selector::labels([("pod", "a")]))]);
    assert!(!tcp(&c, &pods, "x/b", "x/a", 80));
    assert!(tcp(&c, &pods, "x/a", "x/b", 80));
    assert!(tcp(&c, &pods, "y/b", "x/c", 80));
    // Same labels in another namespace: not selected.
    assert!(tcp(&c, &pods, "x/b", "y/a", 80));
}

#[test]
fn bare_pod_selector_peer_stays_in_policy_namespace() {
    let pods = model();
    let mut p = policy("x", "allow-from-b", Selector::labels([("pod", "a")]));
    p.ingress.push(PolicyRule {
        peers: vec![peer_pods(&[("pod", "b")])],
        ports: vec![],
    });
    let c = cluster(vec![p]);
    assert!(tcp(&c, &pods, "x/b", "x/a", 80));
    assert!(
        !tcp(&c, &pods, "y/b", "x/a", 80),
        "y/b has the labels but another namespace"
    );
    assert!(!tcp(&c, &pods, "x/c", "x/a", 80));
}

#[test]
fn peer_keys_are_anded_items_are_ored() {
    let pods = model();
    // AND: namespace y AND pod b.
    let mut and = policy("x", "and", Selector::labels([("pod", "a")]));
    and.ingress.push(PolicyRule {
        peers: vec![Peer {
            pods: Some(Selector::labels([("pod", "b")])),
            namespaces: Some(Selector::labels([("ns", "y")])),
            ip_block: None,
        }],
        ports: vec![],
    });
    let c = cluster(vec![and]);
    assert!(tcp(&c, &pods, "y/b", "x/a", 80));
    assert!(!tcp(&c, &pods, "y/c", "x/a", 80));
    assert!(!tcp(&c, &pods, "z/b", "x/a", 80));
    assert!(!tcp(&c, &pods, "x/b", "x/a", 80), "AND with ns y excludes x/b");

    // OR: namespace y, or pod b (of x, the policy's namespace).
    let mut or = policy("x", "or", Selector::labels([("pod", "a")]));
    or.ingress.push(PolicyRule {
        peers: vec![peer_ns(&[("ns", "y")]), peer_pods(&[("pod", "b")])],
        ports: vec![],
    });
    let c = cluster(vec![or]);
    assert!(tcp(&c, &pods, "y/b", "x/a", 80));
    assert!(tcp(&c, &pods, "y/c", "x/a", 80));
    assert!(tcp(&c, &pods, "x/b", "x/a", 80));
    assert!(!tcp(&c, &pods, "z/b", "x/a", 80));
}

#[test]
fn empty_namespace_selector_matches_all_namespaces() {
    let pods = model();
    let mut p = policy("x", "any-ns-b", Selector::labels([("pod", "a")]));
    p.ingress.push(PolicyRule {
        peers: vec![Peer {
            pods: Some(Selector::labels([("pod", "b")])),
            namespaces: Some(Selector::everything()),
            ip_block: None,
        }],
        ports: vec![],
    });
    let c = cluster(vec![p]);
    for ns in ["x", "y", "z"] {
        assert!(tcp(&c, &pods, &format!("{ns}/b"), "x/a", 80));
        assert!(!tcp(&c, &pods, &format!("{ns}/c"), "x/a", 80));
    }
}

#[test]
fn namespace_name_label_is_implicit() {
    let pods = model();
    let mut p = policy("x", "from-z", Selector::everything());
    p.ingress.push(PolicyRule {
        peers: vec![peer_ns(&[(NAMESPACE_NAME_LABEL, "z")])],
        ports: vec![],
    });
    let c = cluster(vec![p]);
    assert!(tcp(&c, &pods, "z/c", "x/b", 80));
    assert!(!tcp(&c, &pods, "y/c", "x/b", 80));
}

#[test]
fn egress_only_rules_still_isolate_ingress_by_default() {
    let pods = model();
    // No `types:`; only egress rules → policyTypes = [Ingress, Egress]: ingress denied.
    let mut p = policy("x", "egress-to-y", Selector::labels([("pod", "a")]));
    p.egress.push(PolicyRule {
        peers: vec![peer_ns(&[("ns", "y")])],
        ports: vec![],
    });
    assert!(p.has_type(Direction::Ingress) && p.has_type(Direction::Egress));
    let c = cluster(vec![p.clone()]);
    assert!(tcp(&c, &pods, "x/a", "y/b", 80));
    assert!(!tcp(&c, &pods, "x/a", "z/b", 80));
    let v = c.decide(
        Endpoint::Pod(find(&pods, "x/b")),
        Endpoint::Pod(find(&pods, "x/a")),
        PolicyProto::Tcp,
        80,
    );
    assert!(!v.allowed());
    assert_eq!(
        v.ingress,
        Side::Denied(vec![("x/egress-to-y".into(), PolicyMiss::NoRules)])
    );
    // With `types: [egress]` ingress is not isolated.
    p.types = Some(vec![Direction::Egress]);
    let c = cluster(vec![p]);
    assert!(tcp(&c, &pods, "x/b", "x/a", 80));
}

#[test]
fn empty_egress_list_does_not_default_egress() {
    // Upstream SetDefaults_NetworkPolicy adds Egress only when len(egress) != 0.
    let pods = model();
    let p = policy("x", "empty-egress", Selector::everything());
    assert!(!p.has_type(Direction::Egress));
    let c = cluster(vec![p.clone()]);
    assert!(tcp(&c, &pods, "x/a", "y/a", 80));
    // Explicit types: [egress] with no rules = deny all egress.
    let mut q = p;
    q.types = Some(vec![Direction::Egress]);
    let c = cluster(vec![q]);
    assert!(!tcp(&c, &pods, "x/a", "y/a", 80));
    assert!(tcp(&c, &pods, "y/a", "x/a", 80));
}

#[test]
fn union_of_policies_selecting_a_pod() {
    let pods = model();
    let mut p1 = policy("x", "from-b", Selector::labels([("pod", "a")]));
    p1.ingress.push(PolicyRule {
        peers: vec![peer_pods(&[("pod", "b")])],
        ports: vec![],
    });
    let mut p2 = policy("x", "from-y", Selector::everything());
    p2.ingress.push(PolicyRule {
        peers: vec![peer_ns(&[("ns", "y")])],
        ports: vec![],
    });
    let c = cluster(vec![p1, p2]);
    assert!(tcp(&c, &pods, "x/b", "x/a", 80));
    assert!(tcp(&c, &pods, "y/c", "x/a", 80));
    assert!(!tcp(&c, &pods, "x/c", "x/a", 80));
    let v = c.decide(
        Endpoint::Pod(find(&pods, "z/c")),
        Endpoint::Pod(find(&pods, "x/a")),
        PolicyProto::Tcp,
        80,
    );
    assert_eq!(v.deciding_policies(), vec!["x/from-b", "x/from-y"]);
    assert_eq!(
        v.to_string(),
        "ingress denied: selected by x/from-b (rule 1: peer not matched), \
         x/from-y (rule 1: peer not matched)"
    );
}

#[test]
fn both_directions_are_required() {
    let pods = model();
    let mut eg = policy("x", "deny-egress", Selector::labels([("pod", "a")]));
    eg.types = Some(vec![Direction::Egress]);
    let c = cluster(vec![eg]);
    assert!(!tcp(&c, &pods, "x/a", "y/a", 80), "egress of the source denies");
    assert!(tcp(&c, &pods, "y/a", "x/a", 80));
    // Ingress allows x/a, but y/a's egress still blocks.
    let mut eg = policy("y", "deny-egress", Selector::labels([("pod", "a")]));
    eg.types = Some(vec![Direction::Egress]);
    let mut ing = policy("x", "allow-all", Selector::everything());
    ing.ingress.push(PolicyRule::default());
    let c = cluster(vec![eg, ing]);
    let v = c.decide(
        Endpoint::Pod(find(&pods, "y/a")),
        Endpoint::Pod(find(&pods, "x/a")),
        PolicyProto::Tcp,
        80,
    );
    assert!(!v.allowed());
    assert!(v.ingress.allows());
    assert!(!v.egress.allows());
}

#[test]
fn ports_protocol_range_and_named() {
    let pods = model();
    let mut p = policy("x", "ports", Selector::labels([("pod", "a")]));
    p.ingress.push(PolicyRule {
        peers: vec![],
        ports: ports(&["tcp/9000-9010", "serve-80-tcp", "udp/serve-81-udp"]),
    });
    let c = cluster(vec![p]);
    assert!(tcp(&c, &pods, "x/b", "x/a", 80), "named port resolves to 80/tcp");
    assert!(!tcp(&c, &pods, "x/b", "x/a", 81));
    assert!(tcp(&c, &pods, "x/b", "x/a", 9000));
    assert!(tcp(&c, &pods, "x/b", "x/a", 9010));
    assert!(!tcp(&c, &pods, "x/b", "x/a", 9011));
    let udp = |port| {
        c.decide(
            Endpoint::Pod(find(&pods, "x/b")),
            Endpoint::Pod(find(&pods, "x/a")),
            PolicyProto::Udp,
            port,
        )
        .allowed()
    };
    assert!(udp(81));
    assert!(!udp(80), "udp/80 is not the named tcp port");
    assert!(!udp(9000), "range is tcp only");
}

#[test]
fn named_egress_port_resolves_against_destination() {
    let mut pods = model();
    // y/b serves `http` on 8080; x/a's egress allows only tcp/http.
    pods.iter_mut()
        .find(|p| p.namespace == "y" && p.name == "b")
        .expect("test fixture")
        .ports
        .push(NamedPort {
            name: "http".into(),
            proto: PolicyProto::Tcp,
            port: 8080,
        });
    let mut p = policy("x", "egress-http", Selector::labels([("pod", "a")]));
    p.types = Some(vec![Direction::Egress]);
    p.egress.push(PolicyRule {
        peers: vec![],
        ports: ports(&["tcp/http"]),
    });
    let c = cluster(vec![p]);
    assert!(tcp(&c, &pods, "x/a", "y/b", 8080));
    assert!(!tcp(&c, &pods, "x/a", "y/c", 8080), "y/c has no port named http");
    let ext = c.decide(
        Endpoint::Pod(find(&pods, "x/a")),
        Endpoint::External("192.0.2.1".parse().expect("test fixture")),
        PolicyProto::Tcp,
        8080,
    );
    assert!(!ext.allowed(), "named ports never match external destinations");
}

#[test]
fn ip_block_with_except() {
    let pods = model();
    let block = |cidr: &str, except: &[&str]| Peer {
        ip_block: Some(IpBlock {
            cidr: cidr.parse().expect("test fixture"),
            except: except.iter().map(|e| e.parse().expect("test fixture")).collect(),
        }),
        ..Peer::default()
    };
    let mut p = policy("x", "cidr", Selector::labels([("pod", "a")]));
    p.ingress.push(PolicyRule {
        peers: vec![block("192.0.2.0/24", &["192.0.2.128/25"])],
        ports: vec![],
    });
    let c = cluster(vec![p]);
    let from = |ip: &str| {
        c.decide(
            Endpoint::External(ip.parse().expect("test fixture")),
            Endpoint::Pod(find(&pods, "x/a")),
            PolicyProto::Tcp,
            80,
        )
        .allowed()
    };
    assert!(from("192.0.2.1"));
    assert!(!from("192.0.2.200"));
    assert!(!from("198.51.100.1"));
    // An external source never matches a selector peer.
    let mut q = policy("x", "sel", Selector::labels([("pod", "b")]));
    q.ingress.push(PolicyRule {
        peers: vec![peer_ns(&[])],
        ports: vec![],
    });
    let c2 = cluster(vec![q]);
    assert!(
        !c2.decide(
            Endpoint::External("192.0.2.1".parse().expect("test fixture")),
            Endpoint::Pod(find(&pods, "x/b")),
            PolicyProto::Tcp,
            80,
        )
        .allowed()
    );

    // Pod IPs match ipBlocks (e2e: except clause on the server pod's /32).
    let mut e = policy("x", "egress-cidr", Selector::labels([("pod", "a")]));
    e.types = Some(vec![Direction::Egress]);
    e.egress.push(PolicyRule {
        peers: vec![block("10.0.1.0/24", &["10.0.1.11/32"])],
        ports: vec![],
    });
    let c3 = cluster(vec![e]);
    assert!(tcp(&c3, &pods, "x/a", "y/a", 80)); // 10.0.1.10
    assert!(!tcp(&c3, &pods, "x/a", "y/b", 80)); // 10.0.1.11 excepted
    assert!(!tcp(&c3, &pods, "x/a", "z/a", 80)); // 10.0.2.10 outside
}

#[test]
fn match_expressions_operators() {
    let l: Labels = [("env".to_owned(), "prod".to_owned())].into();
    let empty = Labels::new();
    let req = |op, vals: &[&str]| Selector {
        match_labels: Labels::new(),
        match_expressions: vec![Requirement {
            key: "env".into(),
            op,
            values: vals.iter().map(|s| s.to_string()).collect(),
        }],
    };
    assert!(req(SelectorOp::In, &["prod", "dev"]).matches(&l));
    assert!(!req(SelectorOp::In, &["dev"]).matches(&l));
    assert!(!req(SelectorOp::In, &["prod"]).matches(&empty));
    assert!(!req(SelectorOp::NotIn, &["prod"]).matches(&l));
    assert!(
        req(SelectorOp::NotIn, &["prod"]).matches(&empty),
        "NotIn holds for a missing key"
    );
    assert!(req(SelectorOp::Exists, &[]).matches(&l));
    assert!(!req(SelectorOp::Exists, &[]).matches(&empty));
    assert!(req(SelectorOp::DoesNotExist, &[]).matches(&empty));
    assert!(!req(SelectorOp::DoesNotExist, &[]).matches(&l));
    assert!(req(SelectorOp::In, &[]).validate().is_err());
    assert!(req(SelectorOp::Exists, &["x"]).validate().is_err());
    // matchLabels AND matchExpressions.
    let mut both = req(SelectorOp::Exists, &[]);
    both.match_labels.insert("tier".into(), "web".into());
    assert!(!both.matches(&l));
}

#[test]
fn port_parsing_and_errors() {
    assert_eq!(
        PolicyPort::parse("tcp/80").expect("test fixture"),
        PolicyPort {
            proto: PolicyProto::Tcp,
            port: PortMatch::Range(80, 80)
        }
    );
    assert_eq!(
        PolicyPort::parse("udp").expect("test fixture").port,
        PortMatch::All
    );
    assert_eq!(
        PolicyPort::parse("sctp/1-2").expect("test fixture").to_string(),
        "sctp/1-2"
    );
    assert_eq!(
        PolicyPort::parse("http").expect("test fixture").to_string(),
        "tcp/http"
    );
    for bad in [
        "tcp/0",
        "tcp/70000",
        "tcp/90-80",
        "icmp/1",
        "tcp/Http",
        "tcp/",
        "tcp/a--b",
    ] {
        let e = PolicyPort::parse(bad).expect_err("must be rejected");
        assert!(
            e.to_string()
                .contains(bad.split('/').next().expect("test fixture")),
            "{bad}: {e}"
        );
    }
}

#[test]
fn peer_validation() {
    assert!(Peer::default().validate().is_err());
    let mixed = Peer {
        pods: Some(Selector::everything()),
        namespaces: None,
        ip_block: Some(IpBlock {
            cidr: "10.0.0.0/8".parse().expect("test fixture"),
            except: vec![],
        }),
    };
    assert!(mixed.validate().is_err());
    let outside = Peer {
        ip_block: Some(IpBlock {
            cidr: "10.0.0.0/8".parse().expect("test fixture"),
            except: vec!["11.0.0.0/16".parse().expect("test fixture")],
        }),
        ..Peer::default()
    };
    assert!(outside.validate().is_err());
    let mut p = policy("x", "bad", Selector::everything());
    p.ingress.push(PolicyRule {
        peers: vec![Peer::default()],
        ports: vec![],
    });
    let e = p.validate().expect_err("must be rejected").to_string();
    assert!(e.contains("x/bad") && e.contains("empty peer"), "{e}");
}

// ---- property tests ----

fn arb_selector() -> impl Strategy<Value = Selector> {
    (
        proptest::option::of(prop_oneof![Just("a"), Just("b"), Just("c")]),
        proptest::option::of((
            prop_oneof![
                Just(SelectorOp::In),
                Just(SelectorOp::NotIn),
                Just(SelectorOp::Exists),
                Just(SelectorOp::DoesNotExist)
            ],
            prop_oneof![Just("a"), Just("b")],
        )),
    )
        .prop_map(|(l, e)| Selector {
            match_labels: l
                .map(|v| [("pod".to_owned(), v.to_owned())].into())
                .unwrap_or_default(),
            match_expressions: e
                .map(|(op, v)| Requirement {
                    key: "pod".into(),
                    op,
                    values: match op {
                        SelectorOp::In | SelectorOp::NotIn => vec![v.into()],
                        _ => vec![],
                    },
                })
                .into_iter()
                .collect(),
        })
}

fn arb_peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        arb_selector().prop_map(|s| Peer {
            pods: Some(s),
            ..Peer::default()
        }),
        prop_oneof![Just("x"), Just("y"), Just("z")].prop_map(|n| Peer {
            namespaces: Some(Selector::labels([("ns", n)])),
            ..Peer::default()
        }),
        (arb_selector(), prop_oneof![Just("x"), Just("y")]).prop_map(|(s, n)| Peer {
            pods: Some(s),
            namespaces: Some(Selector::labels([("ns", n)])),
            ip_block: None,
        }),
        (0u8..3).prop_map(|i| Peer {
            ip_block: Some(IpBlock {
                cidr: format!("10.0.{i}.0/24").parse().expect("test fixture"),
                except: vec![format!("10.0.{i}.11/32").parse().expect("test fixture")],
            }),
            ..Peer::default()
        }),
    ]
}

fn arb_rule() -> impl Strategy<Value = PolicyRule> {
    (
        proptest::collection::vec(arb_peer(), 0..3),
        proptest::collection::vec(
            prop_oneof![
                Just("tcp/80"),
                Just("tcp/81-90"),
                Just("serve-80-tcp"),
                Just("udp")
            ],
            0..2,
        ),
    )
        .prop_map(|(peers, p)| PolicyRule {
            peers,
            ports: ports(&p),
        })
}

fn arb_policy() -> impl Strategy<Value = NetworkPolicy> {
    (
        prop_oneof![Just("x"), Just("y"), Just("z")],
        arb_selector(),
        proptest::option::of(prop_oneof![
            Just(vec![Direction::Ingress]),
            Just(vec![Direction::Egress]),
            Just(vec![Direction::Ingress, Direction::Egress]),
        ]),
        proptest::collection::vec(arb_rule(), 0..3),
        proptest::collection::vec(arb_rule(), 0..3),
    )
        .prop_map(|(ns, select, types, ingress, egress)| NetworkPolicy {
            name: "p".into(),
            namespace: ns.into(),
            select,
            types,
            ingress,
            egress,
        })
}

fn matrix(c: &Cluster, pods: &[Pod]) -> Vec<bool> {
    let mut v = Vec::new();
    for a in pods {
        for b in pods {
            for port in [80, 85, 443] {
                v.push(
                    c.decide(Endpoint::Pod(a), Endpoint::Pod(b), PolicyProto::Tcp, port)
                        .allowed(),
                );
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A policy that selects no pod changes no cell of the matrix.
    #[test]
    fn policy_selecting_nothing_changes_nothing(
        policies in proptest::collection::vec(arb_policy(), 0..4),
        extra in arb_policy(),
    ) {
        let pods = model();
        let base = cluster(policies.clone());
        let mut extra = extra;
        // Select a label no pod has.
        extra.select.match_labels.insert("nobody".into(), "here".into());
        let mut more = policies;
        more.push(extra);
        let with = cluster(more);
        prop_assert_eq!(matrix(&base, &pods), matrix(&with, &pods));
    }

    /// A pod no policy selects (in a direction) is never the denying side, and a
    /// pod to itself is always allowed; the verdict's deciding policies are exactly
    /// those that select the denying pod.
    #[test]
    fn unselected_pods_are_open_and_denials_name_selectors(
        policies in proptest::collection::vec(arb_policy(), 0..5),
    ) {
        let pods = model();
        let c = cluster(policies);
        for a in &pods {
            for b in &pods {
                let v = c.decide(Endpoint::Pod(a), Endpoint::Pod(b), PolicyProto::Tcp, 80);
                if std::ptr::eq(a, b) {
                    prop_assert!(v.allowed());
                    continue;
                }
                let sel = |p: &Pod, d| c.policies.iter()
                    .filter(|q| q.has_type(d) && q.selects(p))
                    .map(|q| q.id())
                    .collect::<Vec<_>>();
                let eg = sel(a, Direction::Egress);
                let ing = sel(b, Direction::Ingress);
                if eg.is_empty() { prop_assert_eq!(&v.egress, &Side::NotIsolated); }
                if ing.is_empty() { prop_assert_eq!(&v.ingress, &Side::NotIsolated); }
                if let Side::Denied(d) = &v.egress {
                    prop_assert_eq!(d.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), eg);
                }
                if let Side::Denied(d) = &v.ingress {
                    prop_assert_eq!(d.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), ing);
                }
            }
        }
    }

    /// Adding a policy never turns a denied cell of a pod it does not select into an
    /// allowed one, and never denies a cell that was allowed for pods it does not select
    /// (policies only ever add allows for pods they select, and isolate only those).
    #[test]
    fn adding_a_policy_only_affects_selected_pods(
        policies in proptest::collection::vec(arb_policy(), 0..4),
        extra in arb_policy(),
    ) {
        let pods = model();
        let base = cluster(policies.clone());
        let mut more = policies;
        more.push(extra.clone());
        let with = cluster(more);
        for a in &pods {
            for b in &pods {
                if extra.selects(a) || extra.selects(b) {
                    continue;
                }
                let x = base.decide(Endpoint::Pod(a), Endpoint::Pod(b), PolicyProto::Tcp, 80);
                let y = with.decide(Endpoint::Pod(a), Endpoint::Pod(b), PolicyProto::Tcp, 80);
                prop_assert_eq!(x.allowed(), y.allowed());
            }
        }
    }
}

// ---- cases ported from the upstream netpol e2e (test/e2e/network/netpol/network_policy.go),
// checked cell by cell on the full 9-pod model; loopback is always allowed here (upstream
// ignores loopback cells).

/// The expected truth table: `default` everywhere, then `(from, to, allowed)` overrides
/// where `from`/`to` are `ns/pod`, `ns/*` or `*`.
fn expect_table(pods: &[Pod], default: bool, overrides: &[(&str, &str, bool)]) -> Vec<bool> {
    let m = |pat: &str, p: &Pod| {
        pat == "*" || pat == format!("{}/*", p.namespace) || pat == format!("{}/{}", p.namespace, p.name)
    };
    let mut v = Vec::new();
    for a in pods {
        for b in pods {
            let mut cell = default;
            for (f, t, allow) in overrides {
                if m(f, a) && m(t, b) {
                    cell = *allow;
                }
            }
            v.push(cell || std::ptr::eq(a, b));
        }
    }
    v
}

fn actual_table(c: &Cluster, pods: &[Pod]) -> Vec<bool> {
    let mut v = Vec::new();
    for a in pods {
        for b in pods {
            v.push(
                c.decide(Endpoint::Pod(a), Endpoint::Pod(b), PolicyProto::Tcp, 80)
                    .allowed(),
            );
        }
    }
    v
}

fn ns_expr(op: SelectorOp, ns: &str) -> Peer {
    Peer {
        namespaces: Some(Selector {
            match_labels: Labels::new(),
            match_expressions: vec![Requirement {
                key: NAMESPACE_NAME_LABEL.into(),
                op,
                values: vec![ns.into()],
            }],
        }),
        ..Peer::default()
    }
}

#[test]
fn e2e_truth_tables() {
    let pods = model();
    let rule = |peers: Vec<Peer>| PolicyRule { peers, ports: vec![] };
    let mut deny_all = policy("x", "deny-all", Selector::everything());
    deny_all.types = Some(vec![Direction::Ingress, Direction::Egress]);
    let mut allow_all_to_a = policy("x", "allow-all-to-a", Selector::labels([("pod", "a")]));
    allow_all_to_a.ingress.push(rule(vec![Peer {
        pods: Some(Selector::everything()),
        namespaces: Some(Selector::everything()),
        ip_block: None,
    }]));
    let mut x_a_from_x_b = policy("x", "x-a-allows-x-b", Selector::labels([("pod", "a")]));
    x_a_from_x_b.ingress.push(rule(vec![peer_pods(&[("pod", "b")])]));
    let mut from_y_in = policy("x", "allow-ns-y", Selector::labels([("pod", "a")]));
    from_y_in.ingress.push(rule(vec![ns_expr(SelectorOp::In, "y")]));
    let mut or = policy("x", "or", Selector::labels([("pod", "a")]));
    or.ingress.push(rule(vec![
        ns_expr(SelectorOp::NotIn, "x"),
        peer_pods(&[("pod", "b")]),
    ]));
    let mut and = policy("x", "and", Selector::labels([("pod", "a")]));
    let mut and_peer = ns_expr(SelectorOp::NotIn, "x");
    and_peer.pods = Some(Selector::labels([("pod", "b")]));
    and.ingress.push(rule(vec![and_peer]));

    type Case<'a> = (&'a str, Vec<NetworkPolicy>, Vec<(&'a str, &'a str, bool)>);
    let cases: Vec<Case> = vec![
        (
            "default-deny-ingress",
            vec![policy("x", "deny-ingress", Selector::everything())],
            vec![("*", "x/*", false)],
        ),
        (
            "default-deny-all",
            vec![deny_all.clone()],
            vec![("*", "x/*", false), ("x/*", "*", false)],
        ),
        (
            "allow from pods within server namespace (PodSelector)",
            vec![x_a_from_x_b],
            vec![("*", "x/a", false), ("x/b", "x/a", true)],
        ),
        (
            "allow ingress for a target",
            vec![policy("x", "deny-all", Selector::everything()), allow_all_to_a],
            vec![("*", "x/*", false), ("*", "x/a", true)],
        ),
        (
            "NamespaceSelector with MatchExpressions",
            vec![from_y_in],
            vec![("x/*", "x/a", false), ("z/*", "x/a", false)],
        ),
        (
            "PodSelector or NamespaceSelector",
            vec![or],
            vec![("x/c", "x/a", false)],
        ),
        (
            "PodSelector and NamespaceSelector",
            vec![and],
            vec![("*", "x/a", false), ("y/b", "x/a", true), ("z/b", "x/a", true)],
        ),
    ];
    for (name, policies, overrides) in cases {
        let c = cluster(policies);
        assert_eq!(
            actual_table(&c, &pods),
            expect_table(&pods, true, &overrides),
            "e2e case `{name}`"
        );
    }
}
