//! One iptables rule as data: its matches, its target, and its `iptables-save` text.

use std::fmt::{self, Display, Formatter};
use std::net::IpAddr;

use ipnet::IpNet;

/// A match that `!` may negate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Neg<T> {
    /// The value matched.
    pub value: T,
    /// `!`: the match holds when the value does not.
    pub negated: bool,
}

impl<T> Neg<T> {
    /// A positive match.
    pub fn is(value: T) -> Self {
        Neg {
            value,
            negated: false,
        }
    }

    /// A negated match (`! …`).
    pub fn not(value: T) -> Self {
        Neg { value, negated: true }
    }

    fn bang(&self) -> &'static str {
        if self.negated { "! " } else { "" }
    }
}

/// The protocol of `-p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `icmp` (IPv4).
    Icmp,
    /// `ipv6-icmp` (ip6tables prints it so).
    Icmpv6,
    /// Any other protocol number.
    Num(u8),
}

impl Proto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Icmp => 1,
            Proto::Icmpv6 => 58,
            Proto::Num(n) => n,
        }
    }

    /// The name `iptables-save` prints.
    pub fn name(self) -> String {
        match self {
            Proto::Tcp => "tcp".into(),
            Proto::Udp => "udp".into(),
            Proto::Icmp => "icmp".into(),
            Proto::Icmpv6 => "ipv6-icmp".into(),
            Proto::Num(n) => n.to_string(),
        }
    }
}

/// A port or an inclusive range of ports (`80`, `1024:65535`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port (equal to `lo` for one port).
    pub hi: u16,
}

impl PortRange {
    /// One port.
    pub fn one(p: u16) -> Self {
        PortRange { lo: p, hi: p }
    }

    /// Whether `p` is in the range.
    pub fn contains(self, p: u16) -> bool {
        (self.lo..=self.hi).contains(&p)
    }
}

impl Display for PortRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}:{}", self.lo, self.hi)
        }
    }
}

/// A set of conntrack states (`--ctstate NEW,ESTABLISHED`), as bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CtStates(pub u8);

impl CtStates {
    /// `INVALID`.
    pub const INVALID: CtStates = CtStates(1);
    /// `NEW`.
    pub const NEW: CtStates = CtStates(2);
    /// `ESTABLISHED`.
    pub const ESTABLISHED: CtStates = CtStates(4);
    /// `RELATED`.
    pub const RELATED: CtStates = CtStates(8);
    /// `UNTRACKED` (a packet conntrack does not follow).
    pub const UNTRACKED: CtStates = CtStates(16);

    /// The union of two sets.
    pub const fn with(self, o: CtStates) -> CtStates {
        CtStates(self.0 | o.0)
    }

    /// Whether the sets share a state.
    pub fn intersects(self, o: CtStates) -> bool {
        self.0 & o.0 != 0
    }
}

impl Display for CtStates {
    /// In the order `iptables-save` prints them.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let names = [
            (CtStates::INVALID, "INVALID"),
            (CtStates::NEW, "NEW"),
            (CtStates::RELATED, "RELATED"),
            (CtStates::ESTABLISHED, "ESTABLISHED"),
            (CtStates::UNTRACKED, "UNTRACKED"),
        ];
        let mut first = true;
        for (s, n) in names {
            if self.intersects(s) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// `-j REJECT --reject-with …`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RejectWith {
    /// ICMP port unreachable (the default).
    #[default]
    IcmpPortUnreachable,
    /// A TCP reset.
    TcpReset,
    /// ICMP host prohibited (type 3 code 10).
    IcmpHostProhibited,
    /// ICMP net unreachable.
    IcmpNetUnreachable,
    /// ICMP host unreachable.
    IcmpHostUnreachable,
    /// ICMP administratively prohibited (type 3 code 13).
    IcmpAdminProhibited,
}

impl RejectWith {
    /// The name `iptables-save` prints after `--reject-with`.
    pub fn name(self) -> &'static str {
        match self {
            RejectWith::IcmpPortUnreachable => "icmp-port-unreachable",
            RejectWith::TcpReset => "tcp-reset",
            RejectWith::IcmpHostProhibited => "icmp-host-prohibited",
            RejectWith::IcmpNetUnreachable => "icmp-net-unreachable",
            RejectWith::IcmpHostUnreachable => "icmp-host-unreachable",
            RejectWith::IcmpAdminProhibited => "icmp-admin-prohibited",
        }
    }
}

/// What a rule does when it matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `ACCEPT`: the packet leaves this table's hook accepted.
    Accept,
    /// `DROP`: silently.
    Drop,
    /// `RETURN`: back to the calling chain (in a built-in chain: its policy).
    Return,
    /// `REJECT`: dropped with an error sent back.
    Reject(RejectWith),
    /// `-j CHAIN`: a user chain.
    Jump(String),
    /// `DNAT --to-destination ADDR[:PORT[-PORT]]` (nat PREROUTING/OUTPUT).
    Dnat {
        /// New destination address.
        addr: IpAddr,
        /// New destination port (a range maps the first matched port to its first).
        port: Option<PortRange>,
    },
    /// `SNAT --to-source ADDR` (nat POSTROUTING/INPUT).
    Snat {
        /// New source address.
        addr: IpAddr,
    },
    /// `MASQUERADE`: SNAT to the address of the way out.
    Masquerade,
    /// `MARK --set-xmark VALUE/MASK`: clears the mask's bits of the packet's mark, then
    /// XORs the value in; evaluation goes on with the next rule (a non-terminating
    /// target, as CNI's portmap uses it in `CNI-HOSTPORT-SETMARK`).
    Mark {
        /// Bits XORed in.
        value: u32,
        /// Bits cleared first.
        mask: u32,
    },
}

/// Why a rule exists, for drop reasons and explanations; never printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RuleNote {
    /// A rule the user wrote (`firewall:`), or one with no special meaning.
    #[default]
    User,
    /// Docker's per-network default `DROP` in the filter DOCKER chain (nothing but
    /// published ports enters a bridge network from outside; other bridges are
    /// isolated from it).
    DockerDefaultDrop,
    /// Docker's `internal: true` rules (DOCKER-INTERNAL).
    DockerInternal,
    /// Docker's `enable_icc: false` rule.
    DockerIcc,
    /// Docker's raw-table drop of traffic routed directly to a container's address.
    DockerDirectAccess,
    /// Docker's raw-table drop of remote traffic to a port published on 127.0.0.1.
    DockerLoopbackPublish,
    /// Docker 28's DOCKER-ISOLATION-STAGE-1/2 drops.
    DockerIsolation,
    /// Docker's published-port DNAT.
    DockerPublish,
    /// Docker's masquerade of a network's traffic leaving the host.
    DockerMasquerade,
}

/// One rule: every present match must hold for the target to apply.
///
/// Absent matches match everything, as in iptables. Matches print in `iptables-save`
/// order: `-s -d -i -o -p`, then the modules (`-m tcp|udp|icmp`, `-m conntrack`,
/// `-m addrtype`), then `-j`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Rule {
    /// `-s`.
    pub src: Option<Neg<IpNet>>,
    /// `-d`.
    pub dst: Option<Neg<IpNet>>,
    /// `-i` (a trailing `+` matches every name with that prefix).
    pub in_if: Option<Neg<String>>,
    /// `-o`.
    pub out_if: Option<Neg<String>>,
    /// `-p`.
    pub proto: Option<Neg<Proto>>,
    /// `--sport` (needs `proto` tcp or udp).
    pub sport: Option<Neg<PortRange>>,
    /// `--dport` (needs `proto` tcp or udp).
    pub dport: Option<Neg<PortRange>>,
    /// `--icmp-type TYPE[/CODE]` (needs `proto` icmp).
    pub icmp_type: Option<Neg<(u8, Option<u8>)>>,
    /// `-m conntrack --ctstate`.
    pub ctstate: Option<Neg<CtStates>>,
    /// `-m conntrack --ctorigdst`.
    pub ctorigdst: Option<Neg<IpNet>>,
    /// `-m conntrack --ctorigdstport`.
    pub ctorigdstport: Option<Neg<PortRange>>,
    /// `-m mark --mark VALUE/MASK`: `packet mark & MASK == VALUE`.
    pub mark: Option<Neg<(u32, u32)>>,
    /// `-m comment --comment TEXT` (printed first among the modules; matches always).
    pub comment: Option<String>,
    /// `-m multiport --dports P[,P…]` (ports or `a:b` ranges; needs `proto` tcp or
    /// udp): the destination port is one of them.
    pub multiport: Option<Neg<Vec<PortRange>>>,
    /// `-m addrtype --src-type LOCAL` (`negated`: `! --src-type LOCAL`).
    pub src_local: Option<Neg<()>>,
    /// `-m addrtype --dst-type LOCAL`.
    pub dst_local: Option<Neg<()>>,
    /// `-j`.
    pub target: Option<Target>,
    /// Why the rule exists (not part of the rule's text).
    pub note: RuleNote,
}

impl Rule {
    /// A rule matching everything with target `t`.
    pub fn jump(t: Target) -> Self {
        Rule {
            target: Some(t),
            ..Rule::default()
        }
    }

    /// The same rule with note `n`.
    pub fn noted(self, n: RuleNote) -> Self {
        Rule { note: n, ..self }
    }
}

/// A comment as `iptables-save` quotes it: in double quotes when it has a space or a
/// quote, with `"` and `\` escaped.
fn quote(c: &str) -> String {
    if !c.is_empty() && !c.contains([' ', '"', '\\', '\'']) {
        return c.to_string();
    }
    let mut s = String::from("\"");
    for ch in c.chars() {
        if ch == '"' || ch == '\\' {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('"');
    s
}

fn net_text(n: &IpNet) -> String {
    // iptables-save prints host routes with their /32 (/128) too.
    format!("{}/{}", n.addr(), n.prefix_len())
}

impl Display for Rule {
    /// The rule's arguments as `iptables-save` prints them (after `-A CHAIN `).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(s) = &self.src {
            parts.push(format!("{}-s {}", s.bang(), net_text(&s.value)));
        }
        if let Some(d) = &self.dst {
            parts.push(format!("{}-d {}", d.bang(), net_text(&d.value)));
        }
        if let Some(i) = &self.in_if {
            parts.push(format!("{}-i {}", i.bang(), i.value));
        }
        if let Some(o) = &self.out_if {
            parts.push(format!("{}-o {}", o.bang(), o.value));
        }
        if let Some(p) = &self.proto {
            parts.push(format!("{}-p {}", p.bang(), p.value.name()));
        }
        if let Some(c) = &self.comment {
            parts.push(format!("-m comment --comment {}", quote(c)));
        }
        let l4 = self.proto.as_ref().filter(|p| !p.negated).map(|p| p.value);
        if let Some(m) = &self.multiport {
            let list: Vec<String> = m.value.iter().map(ToString::to_string).collect();
            parts.push(format!("-m multiport {}--dports {}", m.bang(), list.join(",")));
        }
        if matches!(l4, Some(Proto::Tcp | Proto::Udp)) && (self.sport.is_some() || self.dport.is_some()) {
            let m = l4.map(Proto::name).unwrap_or_default();
            let mut s = format!("-m {m}");
            if let Some(p) = &self.sport {
                s.push_str(&format!(" {}--sport {}", p.bang(), p.value));
            }
            if let Some(p) = &self.dport {
                s.push_str(&format!(" {}--dport {}", p.bang(), p.value));
            }
            parts.push(s);
        }
        if let Some(t) = &self.icmp_type {
            let (ty, code) = t.value;
            let v6 = self.proto.as_ref().is_some_and(|p| p.value == Proto::Icmpv6);
            // ip6tables-save: `-m icmp6 --icmpv6-type`.
            let mut s = if v6 {
                format!("-m icmp6 {}--icmpv6-type {ty}", t.bang())
            } else {
                format!("-m icmp {}--icmp-type {ty}", t.bang())
            };
            if let Some(c) = code {
                s.push_str(&format!("/{c}"));
            }
            parts.push(s);
        }
        if self.ctstate.is_some() || self.ctorigdst.is_some() || self.ctorigdstport.is_some() {
            let mut s = String::from("-m conntrack");
            if let Some(c) = &self.ctstate {
                s.push_str(&format!(" {}--ctstate {}", c.bang(), c.value));
            }
            if let Some(d) = &self.ctorigdst {
                // The conntrack match prints a host address without its /32 (/128).
                let text = if d.value.prefix_len() == d.value.max_prefix_len() {
                    d.value.addr().to_string()
                } else {
                    net_text(&d.value)
                };
                s.push_str(&format!(" {}--ctorigdst {text}", d.bang()));
            }
            if let Some(p) = &self.ctorigdstport {
                s.push_str(&format!(" {}--ctorigdstport {}", p.bang(), p.value));
            }
            parts.push(s);
        }
        if let Some(m) = &self.mark {
            parts.push(format!(
                "-m mark {}--mark {:#x}/{:#x}",
                m.bang(),
                m.value.0,
                m.value.1
            ));
        }
        if self.src_local.is_some() || self.dst_local.is_some() {
            let mut s = String::from("-m addrtype");
            if let Some(a) = &self.src_local {
                s.push_str(&format!(" {}--src-type LOCAL", a.bang()));
            }
            if let Some(a) = &self.dst_local {
                s.push_str(&format!(" {}--dst-type LOCAL", a.bang()));
            }
            parts.push(s);
        }
        match &self.target {
            None => {}
            Some(Target::Accept) => parts.push("-j ACCEPT".into()),
            Some(Target::Drop) => parts.push("-j DROP".into()),
            Some(Target::Return) => parts.push("-j RETURN".into()),
            Some(Target::Reject(w)) => parts.push(format!("-j REJECT --reject-with {}", w.name())),
            Some(Target::Jump(c)) => parts.push(format!("-j {c}")),
            Some(Target::Masquerade) => parts.push("-j MASQUERADE".into()),
            Some(Target::Mark { value, mask }) => {
                parts.push(format!("-j MARK --set-xmark {value:#x}/{mask:#x}"))
            }
            Some(Target::Snat { addr }) => parts.push(format!("-j SNAT --to-source {addr}")),
            Some(Target::Dnat { addr, port }) => {
                let a = match addr {
                    IpAddr::V6(a) if port.is_some() => format!("[{a}]"),
                    a => a.to_string(),
                };
                match port {
                    Some(p) if p.lo == p.hi => parts.push(format!("-j DNAT --to-destination {a}:{}", p.lo)),
                    Some(p) => parts.push(format!("-j DNAT --to-destination {a}:{}-{}", p.lo, p.hi)),
                    None => parts.push(format!("-j DNAT --to-destination {a}")),
                }
            }
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules_print_as_iptables_save_does() {
        // Proves the canonical order of iptables-save: addresses, interfaces, protocol,
        // then modules, then the target — the lines users compare with a real host.
        let r = Rule {
            dst: Some(Neg::is("192.0.2.2/32".parse().expect("a prefix"))),
            in_if: Some(Neg::not("bridge1".into())),
            out_if: Some(Neg::is("bridge1".into())),
            proto: Some(Neg::is(Proto::Tcp)),
            dport: Some(Neg::is(PortRange::one(80))),
            target: Some(Target::Accept),
            ..Rule::default()
        };
        assert_eq!(
            r.to_string(),
            "-d 192.0.2.2/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 80 -j ACCEPT"
        );
        let ct = Rule {
            out_if: Some(Neg::is("docker0".into())),
            ctstate: Some(Neg::is(CtStates::RELATED.with(CtStates::ESTABLISHED))),
            target: Some(Target::Accept),
            ..Rule::default()
        };
        assert_eq!(
            ct.to_string(),
            "-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        );
        let out = Rule {
            dst: Some(Neg::not("127.0.0.0/8".parse().expect("a prefix"))),
            dst_local: Some(Neg::is(())),
            target: Some(Target::Jump("DOCKER".into())),
            ..Rule::default()
        };
        assert_eq!(
            out.to_string(),
            "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"
        );
    }
}
