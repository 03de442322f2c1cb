//! Property test of Docker's service discovery: for any set of user networks,
//! containers attached to random subsets of them with random network-scoped aliases,
//! some of them stopped, a name looked up by a running container (with real DNS
//! packets through its embedded server) resolves exactly to the addresses of the
//! running containers that hold that name — as container name or as an alias given on
//! that network — on the first of the asker's networks where anyone holds it (Docker
//! answers from one network, in endpoint order); and to nothing (NXDOMAIN) when no
//! network the asker shares has a running holder, or when the asker is only on the
//! default bridge.

use std::collections::BTreeSet;
use std::net::IpAddr;

use netloom_drivers::docker::{ContainerDef, EndpointDef, Lab, Model, NetworkDef};
use netloom_drivers::router::LookupOutcome;
use proptest::prelude::*;

const ALIASES: [&str; 3] = ["svc", "db", "c1"];

#[derive(Clone, Debug)]
struct Spec {
    networks: usize,
    /// Per container: per network, attached and which aliases (bit mask over ALIASES).
    containers: Vec<[(bool, u8); 3]>,
    stopped: Vec<bool>,
    queries: Vec<(usize, usize)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=3, prop::collection::vec(any::<[(bool, u8); 3]>(), 2..=6)).prop_flat_map(
        |(networks, containers)| {
            let n = containers.len();
            (
                Just(networks),
                Just(containers),
                prop::collection::vec(proptest::bool::weighted(0.25), n),
                prop::collection::vec((0..n, 0..n + ALIASES.len() + 1), 1..=6),
            )
                .prop_map(|(networks, containers, stopped, queries)| Spec {
                    networks,
                    containers,
                    stopped,
                    queries,
                })
        },
    )
}

fn model(s: &Spec) -> Model {
    let mut m = Model::default();
    for i in 0..s.networks {
        m.networks.push(NetworkDef::bridge(format!("n{i}")));
    }
    for (ci, eps) in s.containers.iter().enumerate() {
        let mut c = ContainerDef::new(format!("c{ci}"));
        for (ni, &(on, mask)) in eps.iter().enumerate().take(s.networks) {
            if on {
                c.networks.push(EndpointDef {
                    network: format!("n{ni}"),
                    ipv4: None,
                    ipv6: None,
                    mac: None,
                    aliases: ALIASES
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| mask & (1 << k) != 0)
                        .map(|(_, a)| a.to_string())
                        .collect(),
                });
            }
        }
        m.containers.push(c);
    }
    m
}

/// Docker's answer, computed from the model alone.
fn expected(lab: &Lab, stopped: &[bool], asker: usize, name: &str) -> BTreeSet<IpAddr> {
    let r = &lab.resolved;
    for ep in &r.endpoints[asker] {
        let net = &r.networks[ep.network];
        if net.default_bridge {
            continue;
        }
        let holders: BTreeSet<IpAddr> = r
            .endpoints
            .iter()
            .enumerate()
            .filter(|(ci, _)| !stopped[*ci])
            .flat_map(|(ci, eps)| {
                eps.iter()
                    .filter(move |e| e.network == ep.network)
                    .filter(move |e| {
                        r.model.containers[ci].name == name || e.aliases.iter().any(|a| a == name)
                    })
                    .filter_map(|e| e.v4.map(IpAddr::V4))
            })
            .collect();
        if !holders.is_empty() {
            return holders;
        }
    }
    BTreeSet::new()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn names_resolve_to_running_holders_on_a_shared_network(s in spec(), seed in any::<u64>()) {
        let m = model(&s);
        let mut lab = Lab::build(&m, seed).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        for (ci, &down) in s.stopped.iter().enumerate() {
            if down {
                lab.set_running(&format!("c{ci}"), false).map_err(TestCaseError::fail)?;
            }
        }
        for &(asker, which) in &s.queries {
            if s.stopped[asker] {
                continue;
            }
            let name = match which {
                w if w < s.containers.len() => format!("c{w}"),
                w if w < s.containers.len() + ALIASES.len() => ALIASES[w - s.containers.len()].to_string(),
                _ => "ghost".to_string(),
            };
            let want = expected(&lab, &s.stopped, asker, &name);
            let r = lab.resolve(&format!("c{asker}"), &name).map_err(TestCaseError::fail)?;
            let got: BTreeSet<IpAddr> = match &r.outcome {
                LookupOutcome::Addresses(a) => {
                    prop_assert_eq!(a.len(), a.iter().collect::<BTreeSet<_>>().len(), "duplicates: {:?}", a);
                    a.iter().copied().collect()
                }
                LookupOutcome::NxDomain => BTreeSet::new(),
                other => return Err(TestCaseError::fail(format!("c{asker} -> {name}: {other:?} {:?}", r.log))),
            };
            prop_assert_eq!(&got, &want, "c{} asked for {}: {:?}", asker, name, r.log);
        }
    }
}
