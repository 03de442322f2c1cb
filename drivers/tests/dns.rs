//! Name resolution through real DNS packets: Docker's embedded server, its scoping,
//! and the default bridge that has none.

use std::net::{IpAddr, Ipv4Addr};

use netloom_drivers::docker::{ContainerDef, EndpointDef, Lab, Model, NetworkDef};
use netloom_drivers::router::LookupOutcome;

fn ep(net: &str, aliases: &[&str]) -> EndpointDef {
    EndpointDef {
        network: net.into(),
        ipv4: None,
        ipv6: None,
        mac: None,
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
    }
}

fn container(name: &str, eps: Vec<EndpointDef>) -> ContainerDef {
    let mut c = ContainerDef::new(name);
    c.networks = eps;
    c
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn sorted(o: LookupOutcome) -> LookupOutcome {
    match o {
        LookupOutcome::Addresses(mut a) => {
            a.sort();
            LookupOutcome::Addresses(a)
        }
        other => other,
    }
}

fn model() -> Model {
    let mut m = Model::default();
    m.networks.push(NetworkDef::bridge("front")); // 172.18.0.0/16
    m.networks.push(NetworkDef::bridge("back")); // 172.19.0.0/16
    m.containers = vec![
        container("web", vec![ep("front", &[])]),
        container("api1", vec![ep("front", &["api"]), ep("back", &[])]),
        container("api2", vec![ep("front", &["api"])]),
        container("db", vec![ep("back", &["database"])]),
        container("legacy", vec![]),
        container("legacy2", vec![]),
    ];
    m
}

// Names answer on shared networks only; an alias answers with every holder; an alias
// given on another network does not answer; stopped containers vanish.
#[test]
fn embedded_dns_scopes_names_to_shared_networks() {
    let mut lab = Lab::build(&model(), 3).expect("valid");
    let r = lab.resolve("web", "api1").expect("runs");
    assert_eq!(
        r.outcome,
        LookupOutcome::Addresses(vec![v4(172, 18, 0, 3)]),
        "{:?}",
        r.log
    );
    let r = lab.resolve("web", "api").expect("runs");
    assert_eq!(
        sorted(r.outcome),
        LookupOutcome::Addresses(vec![v4(172, 18, 0, 3), v4(172, 18, 0, 4)])
    );
    assert_eq!(
        lab.resolve("web", "db").expect("runs").outcome,
        LookupOutcome::NxDomain
    );
    assert_eq!(
        lab.resolve("web", "database").expect("runs").outcome,
        LookupOutcome::NxDomain
    );
    let r = lab.resolve("api1", "database").expect("runs");
    assert_eq!(r.outcome, LookupOutcome::Addresses(vec![v4(172, 19, 0, 3)]));
    // `name.network` picks the network.
    let r = lab.resolve("api1", "api1.back").expect("runs");
    assert_eq!(r.outcome, LookupOutcome::Addresses(vec![v4(172, 19, 0, 2)]));
    lab.set_running("api2", false).expect("stops");
    let r = lab.resolve("web", "api").expect("runs");
    assert_eq!(r.outcome, LookupOutcome::Addresses(vec![v4(172, 18, 0, 3)]));
    lab.set_running("api2", true).expect("starts");
    let r = lab.resolve("web", "api").expect("runs");
    assert_eq!(
        sorted(r.outcome).clone(),
        LookupOutcome::Addresses(vec![v4(172, 18, 0, 3), v4(172, 18, 0, 4)])
    );
}

// Round robin: over several queries, each holder of the alias comes first sometimes.
#[test]
fn alias_answers_rotate() {
    let mut lab = Lab::build(&model(), 11).expect("valid");
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..12 {
        if let LookupOutcome::Addresses(a) = lab.resolve("web", "api").expect("runs").outcome {
            firsts.insert(a[0]);
        }
    }
    assert_eq!(firsts.len(), 2, "{firsts:?}");
}

// The default bridge has no embedded DNS: the lookup fails and says why.
#[test]
fn default_bridge_has_no_embedded_dns() {
    let mut lab = Lab::build(&model(), 3).expect("valid");
    let r = lab.resolve("legacy", "legacy2").expect("runs");
    assert!(!matches!(r.outcome, LookupOutcome::Addresses(_)), "{r:?}");
    assert!(r.log.iter().any(|l| l.contains("no embedded DNS")), "{:?}", r.log);
}

// glibc's timeout and attempts: a name server that never answers costs exactly
// timeout × attempts × servers, then the lookup reports that nothing answered.
#[test]
fn resolver_options_bound_the_wait() {
    use netloom_drivers::docker::{ExternalDef, HostDef, LanDef, NicDef};
    let mut m = Model::default();
    let mut h = HostDef::new("host1");
    h.interfaces.push(NicDef {
        name: "eth0".into(),
        address: Some("192.168.1.10/24".parse().expect("net")),
        lan: Some("office".into()),
        ..NicDef::default()
    });
    m.hosts.push(h);
    m.lans.push(LanDef {
        name: "office".into(),
        mtu: None,
        hairpin: false,
        port_security: false,
    });
    // A machine at the resolver's address that serves nothing: port unreachable.
    m.externals.push(ExternalDef {
        vlan: None,
        trunk: None,
        name: "silent".into(),
        address: "192.168.1.53/24".parse().expect("net"),
        lan: "office".into(),
        gateway: None,
        listen: vec![],
        dns_records: None,
        dns: vec![],
        mtu: None,
    });
    let mut slow = container("slow", vec![]);
    slow.dns = vec![v4(192, 168, 1, 99)]; // nobody there: ARP fails, no answer
    slow.dns_opt = vec!["timeout:1".into(), "attempts:3".into()];
    let mut refused = container("refused", vec![]);
    refused.dns = vec![v4(192, 168, 1, 53)];
    m.containers = vec![slow, refused];
    let mut lab = Lab::build(&m, 5).expect("valid");
    let r = lab.resolve("slow", "example.com").expect("runs");
    assert!(matches!(r.outcome, LookupOutcome::NoAnswer(_)), "{r:?}");
    assert_eq!(r.elapsed, netloom_core::SimDuration::from_secs(3), "{:?}", r.log);
    assert_eq!(r.frames.len(), 3, "one query per attempt");
    let r = lab.resolve("refused", "example.com").expect("runs");
    assert!(
        matches!(&r.outcome, LookupOutcome::NoAnswer(w) if w.contains("Port Unreachable")),
        "{r:?}"
    );
    assert!(r.elapsed < netloom_core::SimDuration::from_secs(1), "{r:?}");
}
