//! Random Docker models: 1–3 user bridge networks (some internal, some with
//! `enable_icc: false`), 1–6 containers on random subsets of them (none: the default
//! bridge), echo listeners on some, and pings and connects among them through [`Lab`].

use std::net::IpAddr;

use netloom_drivers::docker::{ContainerDef, EndpointDef, Lab, Model, NetworkDef};
use netloom_drivers::net::L4;
use proptest::prelude::*;

use super::{echo_listeners, pick};

/// A user network.
#[derive(Clone, Debug)]
pub struct NetSpec {
    /// `internal: true`.
    pub internal: bool,
    /// `com.docker.network.bridge.enable_icc`.
    pub icc: bool,
}

/// A container.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    /// Attached to network `i` when `member[i]` (and `i` exists); none: the default bridge.
    pub member: [bool; 3],
    /// Whether it serves the echo port.
    pub listen: bool,
}

/// What a step does: from container `from` to the address container `to` has on its
/// endpoint `endpoint` (indices modulo the counts).
#[derive(Clone, Debug)]
pub struct Step {
    /// The sender.
    pub from: u16,
    /// The receiver.
    pub to: u16,
    /// Which of the receiver's endpoints gives the address.
    pub endpoint: u16,
    /// Ping or connect.
    pub what: StepKind,
}

/// Ping or connect.
#[derive(Clone, Debug)]
pub enum StepKind {
    /// One or two echo requests of `size` payload bytes (no DF, so large ones fragment).
    Ping {
        /// Requests.
        count: u32,
        /// Payload bytes.
        size: usize,
    },
    /// A TCP connect or UDP probe to `port`.
    Connect {
        /// TCP when true, UDP otherwise.
        tcp: bool,
        /// [`super::ECHO_PORT`] or [`super::CLOSED_PORT`].
        port: u16,
    },
}

/// A model and its steps.
#[derive(Clone, Debug)]
pub struct DockerSpec {
    /// User networks `n0`, `n1`, `n2`.
    pub networks: Vec<NetSpec>,
    /// Containers `c0`, `c1`, …
    pub containers: Vec<ContainerSpec>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// 1–3 networks, 1–6 containers, 1–6 steps.
pub fn docker_spec() -> impl Strategy<Value = DockerSpec> {
    let net = (proptest::bool::weighted(0.3), proptest::bool::weighted(0.85))
        .prop_map(|(internal, icc)| NetSpec { internal, icc });
    let container =
        (any::<[bool; 3]>(), any::<bool>()).prop_map(|(member, listen)| ContainerSpec { member, listen });
    let what = prop_oneof![
        3 => (1..=2u32, prop_oneof![Just(56usize), 0..3_000usize])
            .prop_map(|(count, size)| StepKind::Ping { count, size }),
        1 => (any::<bool>(), prop_oneof![Just(super::ECHO_PORT), Just(super::CLOSED_PORT)])
            .prop_map(|(tcp, port)| StepKind::Connect { tcp, port }),
    ];
    let step = (any::<u16>(), any::<u16>(), any::<u16>(), what).prop_map(|(from, to, endpoint, what)| Step {
        from,
        to,
        endpoint,
        what,
    });
    (
        proptest::collection::vec(net, 1..=3),
        proptest::collection::vec(container, 1..=6),
        proptest::collection::vec(step, 1..=6),
    )
        .prop_map(|(networks, containers, steps)| DockerSpec {
            networks,
            containers,
            steps,
        })
}

/// What a step is about, decided from the resolved model.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Sender name.
    pub from: String,
    /// Receiver name.
    pub to: String,
    /// The receiver's address on the chosen endpoint.
    pub addr: IpAddr,
    /// Name of the network of that endpoint.
    pub network: String,
    /// Whether the sender is attached to that network.
    pub shared: bool,
    /// Whether that network lets its containers talk (`enable_icc`).
    pub icc: bool,
    /// Whether the sender has a default route (an endpoint on a non-internal network).
    pub sender_routed: bool,
    /// Whether the receiver serves the echo port.
    pub listens: bool,
}

impl std::fmt::Display for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -> {} at {} on {} ({}shared, icc {}, sender {}routed, receiver {}listening)",
            self.from,
            self.to,
            self.addr,
            self.network,
            if self.shared { "" } else { "not " },
            self.icc,
            if self.sender_routed { "" } else { "not " },
            if self.listens { "" } else { "not " },
        )
    }
}

impl DockerSpec {
    /// The Docker model.
    pub fn model(&self) -> Model {
        let mut m = Model::default();
        for (i, n) in self.networks.iter().enumerate() {
            let mut d = NetworkDef::bridge(format!("n{i}"));
            d.internal = n.internal;
            d.icc = Some(n.icc);
            m.networks.push(d);
        }
        for (i, c) in self.containers.iter().enumerate() {
            let mut d = ContainerDef::new(format!("c{i}"));
            for (ni, _) in c
                .member
                .iter()
                .enumerate()
                .filter(|(ni, on)| **on && *ni < self.networks.len())
            {
                d.networks.push(EndpointDef {
                    network: format!("n{ni}"),
                    ipv4: None,
                    ipv6: None,
                    mac: None,
                    aliases: vec![],
                });
            }
            if c.listen {
                d.listen.extend(echo_listeners());
            }
            m.containers.push(d);
        }
        m
    }

    /// Runs every step on `lab` without judging the outcomes (for replay checks).
    ///
    /// # Errors
    /// When a step names a machine the lab does not have.
    pub fn play(&self, lab: &mut Lab) -> Result<(), String> {
        for step in &self.steps {
            let r = self.resolve(lab, step);
            match step.what {
                StepKind::Ping { count, size } => {
                    lab.ping(&r.from, r.addr, count, size, false)?;
                }
                StepKind::Connect { tcp, port } => {
                    let l4 = if tcp { L4::Tcp } else { L4::Udp };
                    lab.connect(&r.from, r.addr, port, l4)?;
                }
            }
        }
        Ok(())
    }

    /// What `step` means in the built `lab`.
    pub fn resolve(&self, lab: &Lab, step: &Step) -> Resolved {
        let r = &lab.resolved;
        let n = self.containers.len();
        let (ci, cj) = (pick(step.from, n), pick(step.to, n));
        let eps = &r.endpoints[cj];
        let ep = &eps[pick(step.endpoint, eps.len())];
        let net = &r.networks[ep.network];
        let mine = &r.endpoints[ci];
        Resolved {
            from: format!("c{ci}"),
            to: format!("c{cj}"),
            addr: IpAddr::V4(ep.v4.expect("bridge endpoints have an IPv4 address")),
            network: net.name.clone(),
            shared: mine.iter().any(|e| e.network == ep.network),
            icc: net.icc || ci == cj,
            sender_routed: mine.iter().any(|e| !r.networks[e.network].internal),
            listens: self.containers[cj].listen,
        }
    }
}
