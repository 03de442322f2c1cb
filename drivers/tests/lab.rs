//! End-to-end checks of the Docker model compiled into a fabric.

use std::net::{IpAddr, Ipv4Addr};

use netloom_drivers::docker::{ContainerDef, EndpointDef, Lab, Model, NetworkDef};
use netloom_drivers::host::{ConnOutcome, Listen};
use netloom_drivers::net::L4;

fn ep(net: &str) -> EndpointDef {
    EndpointDef {
        network: net.into(),
        ipv4: None,
        ipv6: None,
        mac: None,
        aliases: vec![],
    }
}

#[test]
fn containers_on_one_network_ping_and_connect() {
    let mut m = Model::default();
    m.networks.push(NetworkDef::bridge("app"));
    let mut a = ContainerDef::new("a");
    a.networks.push(ep("app"));
    let mut b = ContainerDef::new("b");
    b.networks.push(ep("app"));
    b.listen.push(Listen {
        l4: L4::Tcp,
        addr: None,
        port: 80,
    });
    b.listen.push(Listen {
        l4: L4::Udp,
        addr: None,
        port: 53,
    });
    m.containers = vec![a, b];
    let mut lab = Lab::build(&m, 1).expect("valid model");
    let b_ip = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 3));
    let p = lab.ping("a", b_ip, 3, 56, false).expect("ping runs");
    assert_eq!(p.received, 3, "{p:?}");
    let c = lab.connect("a", b_ip, 80, L4::Tcp).expect("runs");
    assert_eq!(c.outcome, ConnOutcome::Ok);
    let c = lab.connect("a", b_ip, 81, L4::Tcp).expect("runs");
    assert!(matches!(c.outcome, ConnOutcome::Refused(_)), "{c:?}");
    let c = lab.connect("a", b_ip, 53, L4::Udp).expect("runs");
    assert_eq!(c.outcome, ConnOutcome::Ok);
    let c = lab.connect("a", b_ip, 54, L4::Udp).expect("runs");
    assert!(matches!(c.outcome, ConnOutcome::Refused(_)), "{c:?}");
    let t = lab.transfer("a", b_ip, 80, 1_000_000).expect("runs");
    assert_eq!(t.outcome, ConnOutcome::Ok, "{t:?}");
    assert_eq!(t.acked, 1_000_000);
    // The gateway answers.
    let p = lab
        .ping("a", IpAddr::V4(Ipv4Addr::new(172, 18, 0, 1)), 1, 56, false)
        .expect("runs");
    assert_eq!(p.received, 1);
}

#[test]
fn two_user_networks_are_isolated() {
    let mut m = Model::default();
    m.networks.push(NetworkDef::bridge("n1"));
    m.networks.push(NetworkDef::bridge("n2"));
    let mut a = ContainerDef::new("a");
    a.networks.push(ep("n1"));
    let mut b = ContainerDef::new("b");
    b.networks.push(ep("n2"));
    m.containers = vec![a, b];
    let mut lab = Lab::build(&m, 1).expect("valid model");
    let p = lab
        .ping("a", IpAddr::V4(Ipv4Addr::new(172, 19, 0, 2)), 1, 56, false)
        .expect("runs");
    assert_eq!(p.received, 0);
    let dropped = lab.fabric.trace().events.iter().any(|e| {
        matches!(
            e.kind,
            netloom_core::EventKind::Dropped {
                reason: netloom_core::DropReason::NetworkIsolation,
                ..
            }
        )
    });
    assert!(dropped);
    // The other network's gateway is the host's own address: it answers.
    let p = lab
        .ping("a", IpAddr::V4(Ipv4Addr::new(172, 19, 0, 1)), 1, 56, false)
        .expect("runs");
    assert_eq!(p.received, 1);
}

/// docker-proxy's UDP side as the host's owner sees it: a container reaching a UDP port
/// published on its own network (here through the gateway, one of the host's
/// addresses) gets its answer through the proxy, which opens one connection for that
/// client and closes it after 90 s of silence — not before. The datagrams it relays
/// are frames with a fate of their own, like any other.
#[test]
fn udp_proxy_connection_expires_after_90_seconds() {
    use netloom_core::SimDuration;
    use netloom_drivers::docker::PublishDef;
    use netloom_drivers::router::Node;

    let mut m = Model::default();
    m.networks.push(NetworkDef::bridge("app"));
    let mut dns = ContainerDef::new("dns");
    dns.networks.push(ep("app"));
    dns.ports.push(PublishDef {
        host_ip: None,
        host_port: Some(5353),
        container_port: 53,
        count: 1,
        l4: L4::Udp,
    });
    dns.listen.push(Listen {
        l4: L4::Udp,
        addr: None,
        port: 53,
    });
    let mut client = ContainerDef::new("client");
    client.networks.push(ep("app"));
    m.containers = vec![dns, client];
    let mut lab = Lab::build(&m, 1).expect("valid model");
    let gw = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 1));
    let c = lab.connect("client", gw, 5353, L4::Udp).expect("runs");
    assert_eq!(c.outcome, ConnOutcome::Ok, "answered through docker-proxy");
    // Every frame, the relayed datagrams included, has exactly one fate.
    let fates = lab.fabric.trace().terminal_counts();
    assert!(fates.len() >= 4, "{fates:?}");
    assert!(fates.values().all(|n| *n == 1), "{fates:?}");
    let host = lab.node("host1").expect("the host");
    let stats = |lab: &Lab| {
        lab.fabric
            .element::<Node>(host)
            .map(|n| n.proxy_stats().udp)
            .expect("a machine")
    };
    let s = stats(&lab);
    assert_eq!((s.opened, s.to_container, s.to_client, s.expired), (1, 1, 1, 0));
    // The connect step took about 200 ms; the connection opened at its start.
    lab.wait(SimDuration::from_secs(89));
    assert_eq!(stats(&lab).expired, 0, "still open after 89 s");
    lab.wait(SimDuration::from_secs(2));
    assert_eq!(stats(&lab).expired, 1, "closed at 90 s");
    // The next datagram opens a new connection.
    let c = lab.connect("client", gw, 5353, L4::Udp).expect("runs");
    assert_eq!(c.outcome, ConnOutcome::Ok);
    assert_eq!(stats(&lab).opened, 2);
}
