//! The `firewall:` section: each rule checked as iptables and the kernel would check it,
//! then turned into a [`UserRule`] on its host or router, in file order.
//!
//! What is refused, each at the value at fault: an unknown machine, a chain the machine
//! does not have, `in` on OUTPUT / `out` on INPUT, a bad interface name, address or
//! port, ports without `proto: tcp|udp` (iptables: `unknown option "--dport"`), an ICMP
//! type without `proto: icmp|icmpv6` or not in iptables' list, `reject_with` without
//! `action: reject`, `tcp-reset` without `proto: tcp` (the kernel's REJECT refuses it),
//! and a rule whose addresses or protocol belong to two families.

use ipnet::IpNet;
use netloom_drivers::docker::{Model, UserRule};
use netloom_drivers::netfilter::{self, CtStates, Neg, PortRange, Rule, Target};

use super::{Validator, nearest};
use crate::error::location_of;
use crate::format::{
    CtState, FirewallAction, FirewallProto, FirewallRule, Location, Name, RejectWith, Scalar, Scenario,
    Spanned,
};

/// A host's filter chains a rule may be appended to.
const HOST_CHAINS: &[&str] = &["DOCKER-USER", "INPUT", "OUTPUT", "FORWARD"];
/// A router's: it runs no Docker.
const ROUTER_CHAINS: &[&str] = &["FORWARD", "INPUT", "OUTPUT"];

/// What kind of machine the rules are for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Host,
    Router,
}

impl Validator<'_> {
    /// Checks `s.firewall` and appends each valid rule to its machine in `m`.
    pub(super) fn firewall(&mut self, s: &Scenario, m: &mut Model) {
        for (machine, rules) in &s.firewall {
            let Some(kind) = self.firewall_machine(s, m, machine) else {
                continue;
            };
            let mut out = Vec::new();
            for (k, r) in rules.iter().enumerate() {
                if let Some(rule) = self.firewall_rule(kind, &r.value) {
                    out.push(UserRule {
                        chain: r.value.chain.value.clone(),
                        rule,
                        origin: format!("firewall.{machine}[{k}]"),
                    });
                }
            }
            match kind {
                Kind::Host => {
                    if m.hosts.is_empty() {
                        // The default host, made explicit to carry its rules.
                        m.hosts
                            .push(netloom_drivers::docker::HostDef::new(machine.as_str()));
                    }
                    if let Some(h) = m.hosts.iter_mut().find(|h| h.name == machine.as_str()) {
                        h.firewall.extend(out);
                    }
                }
                Kind::Router => {
                    if let Some(r) = m.routers.iter_mut().find(|r| r.name == machine.as_str()) {
                        r.firewall.extend(out);
                    }
                }
            }
        }
    }

    /// Whether `machine` is a host or a router; an error naming the nearest one if not.
    fn firewall_machine(&mut self, s: &Scenario, m: &Model, machine: &Name) -> Option<Kind> {
        let hosts: Vec<String> = if s.hosts.is_empty() {
            vec!["host1".into()]
        } else {
            m.hosts.iter().map(|h| h.name.clone()).collect()
        };
        if hosts.iter().any(|h| h == machine.as_str()) {
            return Some(Kind::Host);
        }
        if m.routers.iter().any(|r| r.name == machine.as_str()) {
            return Some(Kind::Router);
        }
        let mut known = hosts;
        known.extend(m.routers.iter().map(|r| r.name.clone()));
        let other = if s.externals.contains_key(machine.as_str()) {
            Some("an external")
        } else if s.containers.contains_key(machine.as_str()) {
            Some("a container")
        } else {
            None
        };
        let hint = format!("firewall rules belong to hosts and routers: {}", known.join(", "));
        match other {
            Some(what) => self.err(
                machine,
                format!("'{machine}' is {what}: only hosts and routers have firewall rules here"),
                Some(hint),
            ),
            None => self.err(
                machine,
                format!("unknown machine '{machine}'"),
                nearest(machine.as_str(), &known).or(Some(hint)),
            ),
        }
        None
    }

    /// One rule as data, or `None` after reporting what is wrong with it.
    fn firewall_rule(&mut self, kind: Kind, r: &FirewallRule) -> Option<Rule> {
        let before = self.errs.len();
        let chain = r.chain.value.as_str();
        self.chain(kind, &r.chain);

        let in_if = r.in_iface.as_ref().and_then(|v| self.iface(v, "in"));
        let out_if = r.out_iface.as_ref().and_then(|v| self.iface(v, "out"));
        if let Some(v) = &r.in_iface
            && chain == "OUTPUT"
        {
            self.err(
                v,
                "a rule in OUTPUT cannot match `in` (iptables: Can't use -i with OUTPUT)",
                Some("locally sent packets have no input interface; use `out`, or another chain".into()),
            );
        }
        if let Some(v) = &r.out_iface
            && chain == "INPUT"
        {
            self.err(
                v,
                "a rule in INPUT cannot match `out` (iptables: Can't use -o with INPUT)",
                Some("locally delivered packets have no output interface; use `in`, or another chain".into()),
            );
        }

        let proto = r.proto.as_ref().map(|p| p.value);
        let l4 = matches!(proto, Some(FirewallProto::Tcp | FirewallProto::Udp));
        let src = r.source.as_ref().and_then(|v| self.net(v, "source"));
        let dst = r.destination.as_ref().and_then(|v| self.net(v, "destination"));
        let ctorigdst = r.ctorigdst.as_ref().and_then(|v| self.net(v, "ctorigdst"));

        let mut ports = |v: &Option<Spanned<Scalar>>, key: &str, needs_l4: bool| {
            let v = v.as_ref()?;
            let p = self.ports(v, key)?;
            if needs_l4 && !l4 {
                let said = match proto {
                    Some(FirewallProto::All) | None => "no protocol".to_string(),
                    Some(p) => format!("proto {}", proto_word(p)),
                };
                self.err(
                    v,
                    format!("'{key}' needs proto tcp or udp, and this rule has {said} (iptables: unknown option \"--{key}\")"),
                    Some("add `proto: tcp` or `proto: udp`: ports belong to those protocols".into()),
                );
                return None;
            }
            Some(p)
        };
        let sport = ports(&r.sport, "sport", true);
        let dport = ports(&r.dport, "dport", true);
        // The conntrack match takes a port without `-p` (the connection's own
        // protocol decides what its ports are).
        let ctorigdstport = ports(&r.ctorigdstport, "ctorigdstport", false);

        let icmp_type = r.icmp_type.as_ref().and_then(|v| self.icmp_type(v, proto));
        let ctstate = r.ctstate.as_ref().and_then(|v| self.ctstate(v));

        let target = match r.action.value {
            FirewallAction::Accept => Target::Accept,
            FirewallAction::Drop => Target::Drop,
            FirewallAction::Return => Target::Return,
            FirewallAction::Reject => Target::Reject(
                r.reject_with
                    .as_ref()
                    .map_or_else(netfilter::RejectWith::default, |w| reject_with(w.value)),
            ),
        };
        if let Some(w) = &r.reject_with {
            if r.action.value != FirewallAction::Reject {
                self.err(
                    w,
                    "'reject_with' is an option of `action: reject`",
                    Some("set `action: reject`, or remove `reject_with`".into()),
                );
            } else if w.value == RejectWith::TcpReset && proto != Some(FirewallProto::Tcp) {
                self.err(
                    w,
                    "'tcp-reset' needs `proto: tcp` (the kernel refuses a TCP reset for other packets: \
                     RULE_APPEND failed (Invalid argument))",
                    Some(
                        "add `proto: tcp`, or reject with an ICMP error such as icmp-port-unreachable".into(),
                    ),
                );
            }
        }

        self.families(
            r,
            proto,
            [(&src, "source"), (&dst, "destination"), (&ctorigdst, "ctorigdst")],
        );

        if self.errs.len() > before {
            return None;
        }
        Some(Rule {
            src,
            dst,
            in_if,
            out_if,
            proto: proto.and_then(rule_proto).map(Neg::is),
            sport,
            dport,
            icmp_type,
            ctstate: ctstate.map(Neg::is),
            ctorigdst,
            ctorigdstport,
            target: Some(target),
            ..Rule::default()
        })
    }

    /// Reports a chain the machine does not have.
    fn chain(&mut self, kind: Kind, v: &Spanned<String>) {
        let name = v.value.as_str();
        let valid = match kind {
            Kind::Host => HOST_CHAINS,
            Kind::Router => ROUTER_CHAINS,
        };
        if valid.contains(&name) {
            return;
        }
        let list = valid.join(", ");
        if kind == Kind::Router && name.eq_ignore_ascii_case("DOCKER-USER") {
            self.err(
                v,
                "a router has no DOCKER-USER chain: routers have no Docker chains",
                Some(format!(
                    "a router's chains are {list}; FORWARD sees what it routes"
                )),
            );
            return;
        }
        let hint = match valid.iter().find(|c| c.eq_ignore_ascii_case(name)) {
            Some(c) => format!("chain names are upper case: '{c}'"),
            None => match ["PREROUTING", "POSTROUTING"]
                .iter()
                .find(|c| c.eq_ignore_ascii_case(name))
            {
                Some(c) => format!(
                    "{c} is a chain of the nat, raw and mangle tables; rules here go in the filter table: {list}"
                ),
                None => {
                    let known: Vec<String> = valid.iter().map(|c| (*c).to_string()).collect();
                    let upper = name.to_ascii_uppercase();
                    nearest(&upper, &known).unwrap_or_else(|| format!("the chains here are {list}"))
                }
            },
        };
        let what = match kind {
            Kind::Host => "host",
            Kind::Router => "router",
        };
        self.err(v, format!("unknown chain '{name}' on a {what}"), Some(hint));
    }

    /// `in` / `out`: an interface name, `!` negates, a trailing `+` matches a prefix.
    fn iface(&mut self, v: &Spanned<Scalar>, key: &str) -> Option<Neg<String>> {
        let (negated, name) = split_bang(&v.value);
        let stem = name.strip_suffix('+').unwrap_or(name);
        let problem = if stem.is_empty() && !name.is_empty() {
            None // `+` alone: every interface
        } else {
            crate::names::problem(stem, crate::names::MAX_IFNAME)
        };
        if let Some(p) = problem {
            self.err(
                v,
                format!("'{}' is not an interface name for `{key}`: {p}", v.value),
                Some(format!(
                    "an interface name such as eth0 (at most {} characters), `eth+` for every eth…, \"!eth0\" for \
                     all but eth0",
                    crate::names::MAX_IFNAME
                )),
            );
            return None;
        }
        Some(Neg {
            value: name.to_string(),
            negated,
        })
    }

    /// An address or CIDR, `!` negates; host bits are cleared as iptables clears them.
    fn net(&mut self, v: &Spanned<Scalar>, key: &str) -> Option<Neg<IpNet>> {
        let (negated, text) = split_bang(&v.value);
        let parsed = text
            .parse::<IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
        match parsed {
            Ok(n) => Some(Neg { value: n, negated }),
            Err(_) => {
                self.err(
                    v,
                    format!("'{}' is not an address or CIDR for `{key}`", v.value),
                    Some(
                        "an address (192.168.1.10) or a CIDR (10.0.0.0/8, 2001:db8::/32); \"!10.0.0.0/8\" negates \
                         (quoted: YAML reads a bare `!` as a tag)"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    /// A port or a range `a-b` (also iptables' `a:b`), 0 to 65535, `!` negates.
    fn ports(&mut self, v: &Spanned<Scalar>, key: &str) -> Option<Neg<PortRange>> {
        let (negated, text) = split_bang(&v.value);
        let one = |t: &str| -> Option<u16> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.parse().ok()
        };
        let range = match text.split_once(['-', ':']) {
            Some((a, b)) => one(a).zip(one(b)),
            None => one(text).map(|p| (p, p)),
        };
        match range {
            Some((lo, hi)) if lo <= hi => Some(Neg {
                value: PortRange { lo, hi },
                negated,
            }),
            Some(_) => {
                self.err(
                    v,
                    format!(
                        "port range '{}' runs backwards (iptables: invalid portrange (min > max))",
                        v.value
                    ),
                    Some("write the lower port first: 1024-65535".into()),
                );
                None
            }
            None => {
                self.err(
                    v,
                    format!("'{}' is not a port or port range for `{key}`", v.value),
                    Some("a port from 0 to 65535 (80) or a range (\"1024-65535\"); \"!22\" negates".into()),
                );
                None
            }
        }
    }

    /// `icmp_type`: an iptables name, a number or `type/code`, for `proto: icmp` (IPv4
    /// names) or `proto: icmpv6` (ip6tables' names).
    fn icmp_type(
        &mut self,
        v: &Spanned<Scalar>,
        proto: Option<FirewallProto>,
    ) -> Option<Neg<(u8, Option<u8>)>> {
        let table = match proto {
            Some(FirewallProto::Icmp) => ICMP_TYPES,
            Some(FirewallProto::Icmpv6) => ICMPV6_TYPES,
            _ => {
                self.err(
                    v,
                    "'icmp_type' needs proto icmp or icmpv6 (iptables: unknown option \"--icmp-type\")",
                    Some("add `proto: icmp` (IPv4) or `proto: icmpv6` (IPv6)".into()),
                );
                return None;
            }
        };
        let (negated, text) = split_bang(&v.value);
        let number = |t: &str| -> Option<u8> {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse().ok())
                .flatten()
        };
        let value = match text.split_once('/') {
            Some((t, c)) => number(t).zip(number(c)).map(|(t, c)| (t, Some(c))),
            None => match number(text) {
                Some(t) => Some((t, None)),
                None => table
                    .iter()
                    .find(|(n, ..)| n.eq_ignore_ascii_case(text))
                    .map(|&(_, t, c)| (t, c)),
            },
        };
        if let Some(value) = value {
            return Some(Neg { value, negated });
        }
        let family = if proto == Some(FirewallProto::Icmp) {
            "ICMP"
        } else {
            "ICMPv6"
        };
        let (other_table, other, other_proto) = if proto == Some(FirewallProto::Icmp) {
            (ICMPV6_TYPES, "ICMPv6", "icmpv6")
        } else {
            (ICMP_TYPES, "ICMP", "icmp")
        };
        let hint = if text.eq_ignore_ascii_case("any") {
            "leave `icmp_type` out to match every type".to_string()
        } else if other_table.iter().any(|(n, ..)| n.eq_ignore_ascii_case(text)) {
            format!("'{text}' is an {other} type: set `proto: {other_proto}`, or name an {family} type")
        } else {
            let names: Vec<String> = table.iter().map(|(n, ..)| n.to_string()).collect();
            nearest(&text.to_ascii_lowercase(), &names).unwrap_or_else(|| {
                let main: Vec<&str> = table
                    .iter()
                    .filter(|(_, _, c)| c.is_none())
                    .map(|(n, ..)| *n)
                    .collect();
                format!("a number, `type/code` (3/4), or one of: {}", main.join(", "))
            })
        };
        self.err(v, format!("unknown {family} type '{}'", v.value), Some(hint));
        None
    }

    fn ctstate(&mut self, v: &Spanned<crate::format::OneOrMany<CtState>>) -> Option<CtStates> {
        if let Some(word) = &v.value.1 {
            const STATES: &[&str] = &["new", "established", "related", "invalid", "untracked"];
            self.err(
                v,
                format!("unknown value '{word}'"),
                Some(crate::error::suggest(word, STATES, "valid values here")),
            );
            return None;
        }
        if v.value.is_empty() {
            self.err(
                v,
                "'ctstate' lists no state",
                Some("ctstate: [new], or [established, related]".into()),
            );
            return None;
        }
        Some(v.value.iter().fold(CtStates::default(), |acc, s| {
            acc.with(match s {
                CtState::New => CtStates::NEW,
                CtState::Established => CtStates::ESTABLISHED,
                CtState::Related => CtStates::RELATED,
                CtState::Invalid => CtStates::INVALID,
                CtState::Untracked => CtStates::UNTRACKED,
            })
        }))
    }

    /// Reports a rule that names both families: iptables takes IPv4 only, ip6tables IPv6
    /// only, so such a rule can be written in neither.
    fn families(
        &mut self,
        r: &FirewallRule,
        proto: Option<FirewallProto>,
        nets: [(&Option<Neg<IpNet>>, &str); 3],
    ) {
        let value_of = |key: &str| -> Option<&Spanned<Scalar>> {
            match key {
                "source" => r.source.as_ref(),
                "destination" => r.destination.as_ref(),
                _ => r.ctorigdst.as_ref(),
            }
        };
        let mut first: Option<(bool, String)> = match proto {
            Some(FirewallProto::Icmp) => Some((true, "proto icmp (IPv4's ICMP)".into())),
            Some(FirewallProto::Icmpv6) => Some((false, "proto icmpv6 (IPv6's ICMP)".into())),
            _ => None,
        };
        for (n, key) in nets {
            let Some(n) = n else { continue };
            let v4 = n.value.addr().is_ipv4();
            let fam = |v4: bool| if v4 { "IPv4" } else { "IPv6" };
            let this = format!("{key} {}", n.value);
            match &first {
                Some((f4, what)) if *f4 != v4 => {
                    let at: Location = value_of(key).map_or(Location::UNKNOWN, location_of);
                    self.err(
                        &at,
                        format!(
                            "{this} is {} but {what} is {}: a rule matches one address family",
                            fam(v4),
                            fam(*f4)
                        ),
                        Some("write one rule per family".into()),
                    );
                    return;
                }
                Some(_) => {}
                None => first = Some((v4, this)),
            }
        }
    }
}

/// `"!x"` → `(true, "x")`; surrounding spaces are ignored, as iptables' `! x`.
fn split_bang(s: &str) -> (bool, &str) {
    let t = s.trim();
    match t.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t),
    }
}

fn proto_word(p: FirewallProto) -> &'static str {
    match p {
        FirewallProto::Tcp => "tcp",
        FirewallProto::Udp => "udp",
        FirewallProto::Icmp => "icmp",
        FirewallProto::Icmpv6 => "icmpv6",
        FirewallProto::All => "all",
    }
}

fn rule_proto(p: FirewallProto) -> Option<netfilter::Proto> {
    match p {
        FirewallProto::Tcp => Some(netfilter::Proto::Tcp),
        FirewallProto::Udp => Some(netfilter::Proto::Udp),
        FirewallProto::Icmp => Some(netfilter::Proto::Icmp),
        FirewallProto::Icmpv6 => Some(netfilter::Proto::Icmpv6),
        FirewallProto::All => None,
    }
}

fn reject_with(w: RejectWith) -> netfilter::RejectWith {
    match w {
        RejectWith::IcmpPortUnreachable => netfilter::RejectWith::IcmpPortUnreachable,
        RejectWith::TcpReset => netfilter::RejectWith::TcpReset,
        RejectWith::IcmpHostProhibited => netfilter::RejectWith::IcmpHostProhibited,
        RejectWith::IcmpNetUnreachable => netfilter::RejectWith::IcmpNetUnreachable,
        RejectWith::IcmpHostUnreachable => netfilter::RejectWith::IcmpHostUnreachable,
        RejectWith::IcmpAdminProhibited => netfilter::RejectWith::IcmpAdminProhibited,
    }
}

/// iptables' ICMP type names (`extensions/libxt_icmp.c`): name, type, and the code
/// when the name pins one (`None`: every code).
const ICMP_TYPES: &[(&str, u8, Option<u8>)] = &[
    ("echo-reply", 0, None),
    ("pong", 0, None),
    ("destination-unreachable", 3, None),
    ("network-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("fragmentation-needed", 3, Some(4)),
    ("source-route-failed", 3, Some(5)),
    ("network-unknown", 3, Some(6)),
    ("host-unknown", 3, Some(7)),
    ("network-prohibited", 3, Some(9)),
    ("host-prohibited", 3, Some(10)),
    ("TOS-network-unreachable", 3, Some(11)),
    ("TOS-host-unreachable", 3, Some(12)),
    ("communication-prohibited", 3, Some(13)),
    ("host-precedence-violation", 3, Some(14)),
    ("precedence-cutoff", 3, Some(15)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("network-redirect", 5, Some(0)),
    ("host-redirect", 5, Some(1)),
    ("TOS-network-redirect", 5, Some(2)),
    ("TOS-host-redirect", 5, Some(3)),
    ("echo-request", 8, None),
    ("ping", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, None),
    ("ttl-zero-during-transit", 11, Some(0)),
    ("ttl-zero-during-reassembly", 11, Some(1)),
    ("parameter-problem", 12, None),
    ("ip-header-bad", 12, Some(0)),
    ("required-option-missing", 12, Some(1)),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("address-mask-request", 17, None),
    ("address-mask-reply", 18, None),
];

/// ip6tables' ICMPv6 type names (`extensions/libip6t_icmp6.c`).
const ICMPV6_TYPES: &[(&str, u8, Option<u8>)] = &[
    ("destination-unreachable", 1, None),
    ("no-route", 1, Some(0)),
    ("communication-prohibited", 1, Some(1)),
    ("beyond-scope", 1, Some(2)),
    ("address-unreachable", 1, Some(3)),
    ("port-unreachable", 1, Some(4)),
    ("failed-policy", 1, Some(5)),
    ("reject-route", 1, Some(6)),
    ("packet-too-big", 2, None),
    ("time-exceeded", 3, None),
    ("ttl-exceeded", 3, None),
    ("ttl-zero-during-transit", 3, Some(0)),
    ("ttl-zero-during-reassembly", 3, Some(1)),
    ("parameter-problem", 4, None),
    ("bad-header", 4, Some(0)),
    ("unknown-header-type", 4, Some(1)),
    ("unknown-option", 4, Some(2)),
    ("echo-request", 128, None),
    ("ping", 128, None),
    ("echo-reply", 129, None),
    ("pong", 129, None),
    ("mld-listener-query", 130, None),
    ("mld-listener-report", 131, None),
    ("mld-listener-done", 132, None),
    ("mld-listener-reduction", 132, None),
    ("router-solicitation", 133, None),
    ("router-advertisement", 134, None),
    ("neighbour-solicitation", 135, None),
    ("neighbor-solicitation", 135, None),
    ("neighbour-advertisement", 136, None),
    ("neighbor-advertisement", 136, None),
    ("redirect", 137, None),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_names_are_iptables_numbers() {
        // Proves the table agrees with iptables-save on this machine: `--icmp-type
        // echo-request` printed as 8, `port-unreachable` as 3/3.
        let find = |t: &[(&str, u8, Option<u8>)], n: &str| t.iter().find(|x| x.0 == n).map(|x| (x.1, x.2));
        assert_eq!(find(ICMP_TYPES, "echo-request"), Some((8, None)));
        assert_eq!(find(ICMP_TYPES, "port-unreachable"), Some((3, Some(3))));
        assert_eq!(find(ICMPV6_TYPES, "echo-request"), Some((128, None)));
        assert_eq!(find(ICMPV6_TYPES, "packet-too-big"), Some((2, None)));
    }

    #[test]
    fn bang_splits_like_iptables() {
        assert_eq!(split_bang("!10.0.0.0/8"), (true, "10.0.0.0/8"));
        assert_eq!(split_bang("! eth0"), (true, "eth0"));
        assert_eq!(split_bang("eth0"), (false, "eth0"));
    }
}
