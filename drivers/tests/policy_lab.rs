//! NetworkPolicies enforced in the model: at pod ports, with conntrack letting replies
//! through, and the reachability matrix measured by probes equal to the definitions.

use std::net::IpAddr;

use netloom_core::{DropReason, EventKind, TraceLevel};
use netloom_drivers::docker::{ContainerDef, EndpointDef, Lab, Model, NetworkDef, Reach};
use netloom_drivers::host::{ConnOutcome, Listen};
use netloom_drivers::net::L4;
use netloom_drivers::policy::{
    Cluster, Direction, Endpoint, IpBlock, NetworkPolicy, Peer, Pod, PolicyPort, PolicyProto, PolicyRule,
    Selector,
};
use proptest::prelude::*;

fn container(name: &str, ns: &str, labels: &[(&str, &str)]) -> ContainerDef {
    let mut c = ContainerDef::new(name);
    c.networks.push(EndpointDef {
        network: "app".into(),
        ipv4: None,
        ipv6: None,
        mac: None,
        aliases: vec![],
    });
    c.namespace = ns.into();
    c.labels = labels
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for port in [80, 443] {
        c.listen.push(Listen {
            l4: L4::Tcp,
            addr: None,
            port,
        });
    }
    c.listen.push(Listen {
        l4: L4::Udp,
        addr: None,
        port: 53,
    });
    c
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

fn model(containers: Vec<ContainerDef>, policies: Vec<NetworkPolicy>) -> Model {
    let mut m = Model::default();
    m.networks.push(NetworkDef::bridge("app"));
    m.containers = containers;
    m.cluster = Cluster {
        namespaces: Default::default(),
        policies,
    };
    m
}

fn ip_of(lab: &Lab, name: &str) -> IpAddr {
    let ci = lab
        .resolved
        .model
        .containers
        .iter()
        .position(|c| c.name == name)
        .expect("container");
    IpAddr::V4(lab.resolved.endpoints[ci][0].v4.expect("an IPv4 address"))
}

/// db admits web on tcp/80 only: web connects, other gets nothing (dropped with reason
/// `policy` naming the policy), and db's own connection out still works, its replies
/// passing db's ingress isolation.
#[test]
fn ingress_policy_admits_only_the_selected_peer_and_port() {
    let mut p = policy("default", "db-allow-web", Selector::labels([("role", "db")]));
    p.ingress.push(PolicyRule {
        peers: vec![Peer {
            pods: Some(Selector::labels([("role", "web")])),
            ..Peer::default()
        }],
        ports: vec![PolicyPort::parse("tcp/80").expect("port")],
    });
    let m = model(
        vec![
            container("web", "default", &[("role", "web")]),
            container("db", "default", &[("role", "db")]),
            container("other", "default", &[]),
        ],
        vec![p],
    );
    let mut lab = Lab::build(&m, 1).expect("valid model");
    lab.fabric.set_trace_level(TraceLevel::Hops);
    let db = ip_of(&lab, "db");
    let web = ip_of(&lab, "web");
    assert_eq!(
        lab.connect("web", db, 80, L4::Tcp).expect("connect").outcome,
        ConnOutcome::Ok
    );
    assert_eq!(
        lab.connect("web", db, 443, L4::Tcp).expect("connect").outcome,
        ConnOutcome::Timeout,
        "tcp/443 is not in the rule's ports"
    );
    lab.fabric.clear_trace();
    assert_eq!(
        lab.connect("other", db, 80, L4::Tcp).expect("connect").outcome,
        ConnOutcome::Timeout
    );
    let drop = lab
        .fabric
        .trace()
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Dropped { reason, .. } => Some((*reason, e.detail.clone())),
            _ => None,
        })
        .expect("a drop");
    assert_eq!(drop.0, DropReason::Policy);
    assert!(
        drop.1.contains("default/db-allow-web")
            && drop.1.contains("ingress")
            && drop.1.contains("peer not matched"),
        "{}",
        drop.1
    );
    // The resident node (the Docker host) always reaches its pods (kubelet probes).
    let host = m.default_host();
    assert_eq!(
        lab.connect(&host, db, 443, L4::Tcp).expect("connect").outcome,
        ConnOutcome::Ok
    );
    // ICMP to db matches no rule with ports: denied.
    assert_eq!(lab.ping("web", db, 1, 56, false).expect("ping").received, 0);
    // db is isolated for ingress only: its own connections leave, and their replies come in.
    assert_eq!(
        lab.connect("db", web, 80, L4::Tcp).expect("connect").outcome,
        ConnOutcome::Ok
    );
    assert_eq!(lab.ping("db", web, 2, 56, false).expect("ping").received, 2);
}

/// `policies_ignored` (flannel alone): the same policy lets everything through.
#[test]
fn a_plugin_that_ignores_policies_enforces_nothing() {
    let p = policy("default", "deny-all", Selector::everything());
    let mut m = model(
        vec![container("a", "default", &[]), container("b", "default", &[])],
        vec![p],
    );
    m.policies_ignored = true;
    let mut lab = Lab::build(&m, 1).expect("valid model");
    let b = ip_of(&lab, "b");
    assert_eq!(
        lab.connect("a", b, 80, L4::Tcp).expect("connect").outcome,
        ConnOutcome::Ok
    );
    let mx = lab.policy_matrix(&[(L4::Tcp, 80)]);
    assert!(!mx.enforced);
    assert!(mx.cells[0].iter().flatten().all(Reach::reached));
    // a→b and b→a would have been denied (a pod to itself never is).
    assert_eq!(mx.unenforced_denials.len(), 2, "{:?}", mx.unenforced_denials);
}

/// Default deny egress in x: x's pods reach nobody but themselves; replies to
/// connections into x still pass.
#[test]
fn default_deny_egress_blocks_new_connections_out_but_not_replies() {
    let mut p = policy("x", "deny-egress", Selector::everything());
    p.types = Some(vec![Direction::Egress]);
    let m = model(
        vec![
            container("xa", "x", &[]),
            container("xb", "x", &[]),
            container("ya", "y", &[]),
        ],
        vec![p],
    );
    let mut lab = Lab::build(&m, 1).expect("valid model");
    let mx = lab.policy_matrix(&[(L4::Tcp, 80)]);
    let cell = |s: usize, d: usize| mx.cells[0][s][d].reached();
    assert!(cell(0, 0) && cell(1, 1) && cell(2, 2), "a pod reaches itself");
    assert!(!cell(0, 1) && !cell(0, 2) && !cell(1, 0) && !cell(1, 2));
    assert!(
        cell(2, 0) && cell(2, 1),
        "y → x: replies pass x's egress isolation"
    );
    match &mx.cells[0][0][2] {
        Reach::Blocked(by) => {
            assert_eq!(by, &vec![(Direction::Egress, 0)]);
            assert_eq!(mx.policies[0], "x/deny-egress");
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// The matrix forwarded through the model equals the one computed from definitions.
// ---------------------------------------------------------------------------------

const KEYS: [&str; 2] = ["app", "tier"];
const VALUES: [&str; 2] = ["a", "b"];

fn labels_strategy() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..=2)
}

fn selector_strategy() -> impl Strategy<Value = Selector> {
    prop_oneof![
        Just(Selector::everything()),
        (0..KEYS.len(), 0..VALUES.len()).prop_map(|(k, v)| Selector::labels([(KEYS[k], VALUES[v])])),
    ]
}

fn peer_strategy() -> impl Strategy<Value = Peer> {
    prop_oneof![
        selector_strategy().prop_map(|s| Peer {
            pods: Some(s),
            ..Peer::default()
        }),
        (selector_strategy(), selector_strategy()).prop_map(|(p, n)| Peer {
            pods: Some(p),
            namespaces: Some(n),
            ip_block: None,
        }),
        selector_strategy().prop_map(|n| Peer {
            namespaces: Some(n),
            ..Peer::default()
        }),
        // The model's first user network is 172.18.0.0/16; .2–.7 are the pods.
        (0u8..4).prop_map(|x| Peer {
            ip_block: Some(IpBlock {
                cidr: "172.18.0.0/29".parse().expect("cidr"),
                except: if x == 0 {
                    vec![]
                } else {
                    vec![format!("172.18.0.{}/32", x + 1).parse().expect("cidr")]
                },
            }),
            ..Peer::default()
        }),
    ]
}

fn rule_strategy() -> impl Strategy<Value = PolicyRule> {
    (
        prop::collection::vec(peer_strategy(), 0..=2),
        prop::collection::vec(
            prop_oneof![
                Just("tcp/80"),
                Just("tcp/443"),
                Just("tcp/80-443"),
                Just("udp/53"),
                Just("tcp/http")
            ],
            0..=2,
        ),
    )
        .prop_map(|(peers, ports)| PolicyRule {
            peers,
            ports: ports
                .into_iter()
                .map(|p| PolicyPort::parse(p).expect("port"))
                .collect(),
        })
}

fn policy_strategy() -> impl Strategy<Value = NetworkPolicy> {
    (
        0..2usize,
        selector_strategy(),
        prop::option::of(prop_oneof![
            Just(vec![Direction::Ingress]),
            Just(vec![Direction::Egress]),
            Just(vec![Direction::Ingress, Direction::Egress]),
        ]),
        prop::collection::vec(rule_strategy(), 0..=2),
        prop::collection::vec(rule_strategy(), 0..=2),
    )
        .prop_map(|(ns, select, types, ingress, egress)| NetworkPolicy {
            name: "p".into(),
            namespace: ["x", "y"][ns].into(),
            select,
            types,
            ingress,
            egress,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn forwarded_matrix_equals_the_definitions(
        pods in prop::collection::vec((0..2usize, labels_strategy(), any::<bool>()), 2..=6),
        policies in prop::collection::vec(policy_strategy(), 1..=3),
        ns_labels in prop::collection::vec(labels_strategy(), 2),
    ) {
        let containers: Vec<ContainerDef> = pods
            .iter()
            .enumerate()
            .map(|(i, (ns, labels, named))| {
                let l: Vec<(&str, &str)> = labels.iter().map(|&(k, v)| (KEYS[k], VALUES[v])).collect();
                let mut c = container(&format!("p{i}"), ["x", "y"][*ns], &l);
                if *named {
                    c.named_ports.push(netloom_drivers::policy::NamedPort {
                        name: "http".into(),
                        proto: PolicyProto::Tcp,
                        port: 80,
                    });
                }
                c
            })
            .collect();
        let mut policies = policies;
        for (i, p) in policies.iter_mut().enumerate() {
            p.name = format!("p{i}");
        }
        let mut m = model(containers, policies);
        for (i, l) in ns_labels.iter().enumerate() {
            m.cluster.namespaces.insert(
                ["x", "y"][i].into(),
                l.iter().map(|&(k, v)| (KEYS[k].to_owned(), VALUES[v].to_owned())).collect(),
            );
        }
        let mut lab = Lab::build(&m, 3).expect("valid model");
        let defs: Vec<Pod> = m
            .containers
            .iter()
            .map(|c| Pod {
                name: c.name.clone(),
                namespace: c.namespace.clone(),
                labels: c.labels.clone(),
                ip: Some(ip_of(&lab, &c.name)),
                ports: c.named_ports.clone(),
            })
            .collect();
        let ports = [(L4::Tcp, 80), (L4::Tcp, 443), (L4::Udp, 53)];
        let mx = lab.policy_matrix(&ports);
        prop_assert_eq!(&mx.names, &m.containers.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
        for (pi, &(l4, port)) in ports.iter().enumerate() {
            let proto = if l4 == L4::Tcp { PolicyProto::Tcp } else { PolicyProto::Udp };
            for (si, s) in defs.iter().enumerate() {
                for (di, d) in defs.iter().enumerate() {
                    let v = m.cluster.decide(Endpoint::Pod(s), Endpoint::Pod(d), proto, port);
                    let got = &mx.cells[pi][si][di];
                    prop_assert_eq!(
                        got.reached(),
                        v.allowed(),
                        "{} → {} {:?}/{}: forwarded {:?}, definitions say {}",
                        s.name, d.name, l4, port, got, v
                    );
                    if let Reach::Blocked(by) = got {
                        let mut by: Vec<&str> = by.iter().map(|&(_, p)| mx.policies[p].as_str()).collect();
                        by.sort_unstable();
                        by.dedup();
                        let mut want = v.deciding_policies();
                        want.sort_unstable();
                        want.dedup();
                        // The packet stops at the first side that denies it: egress first.
                        prop_assert!(by.iter().all(|p| want.contains(p)), "{:?} vs {:?}", by, want);
                        prop_assert!(!by.is_empty());
                    }
                }
            }
        }
    }
}
