//! First-match evaluation of a hook's chains for one packet.
//!
//! [`evaluate`] walks the rules as the kernel's `ipt_do_table` does: rules in order, a
//! jump descends into a user chain, `RETURN` (or the end of a user chain) comes back,
//! the end of a built-in chain applies its policy. It names the rule that decided.

use std::net::IpAddr;

use super::rule::{CtStates, Neg, PortRange, Proto, RejectWith, Rule, Target};
use super::{Ruleset, TableId};

/// A netfilter hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// Before routing, for every arriving packet.
    Prerouting,
    /// Routed to this machine.
    Input,
    /// Routed through this machine.
    Forward,
    /// Sent by this machine.
    Output,
    /// Leaving, after routing.
    Postrouting,
}

impl Hook {
    /// The built-in chain's name.
    pub fn chain(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }
}

/// What the rules see of a packet. Interfaces are indexes into the name table given
/// to [`evaluate`] (`None`: no such interface at this hook, as `-i` at OUTPUT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Arrival interface.
    pub in_if: Option<u16>,
    /// Departure interface.
    pub out_if: Option<u16>,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number.
    pub proto: u8,
    /// TCP/UDP source port (0 otherwise).
    pub sport: u16,
    /// TCP/UDP destination port (0 otherwise).
    pub dport: u16,
    /// ICMP type and code.
    pub icmp: Option<(u8, u8)>,
    /// The packet's conntrack state (one bit of [`CtStates`]).
    pub ctstate: CtStates,
    /// The connection's original destination address (before DNAT).
    pub ct_orig_dst: IpAddr,
    /// … and port.
    pub ct_orig_dport: u16,
    /// Whether the source is an address of this machine (`--src-type LOCAL`).
    pub src_local: bool,
    /// Whether the destination is an address of this machine (`--dst-type LOCAL`).
    pub dst_local: bool,
}

/// What a hook's rules decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on (ACCEPT, or the policy ACCEPT, or no rule in a NAT table).
    Accept,
    /// Dropped silently.
    Drop,
    /// Dropped, an error sent back.
    Reject(RejectWith),
    /// Destination NAT to this address and port (the port already mapped for ranges).
    Dnat {
        /// New destination.
        addr: IpAddr,
        /// New destination port (`None`: unchanged).
        port: Option<u16>,
    },
    /// Source NAT to this address.
    Snat {
        /// New source.
        addr: IpAddr,
    },
    /// Source NAT to the address of the way out.
    Masquerade,
}

/// The rule that decided: its table, chain (index into [`super::Table::chains`]) and
/// 0-based position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleRef {
    /// Table.
    pub table: TableId,
    /// Chain index in the table.
    pub chain: u16,
    /// Rule index in the chain (0-based; iptables numbers from 1).
    pub rule: u16,
}

/// A verdict and the rule that gave it (`None`: the built-in chain's policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// The deciding rule.
    pub by: Option<RuleRef>,
}

impl Decision {
    /// `-A CHAIN …` of the deciding rule with its number, or the policy.
    pub fn describe(&self, rs: &Ruleset, hook: Hook, table: TableId) -> String {
        match self.by {
            Some(r) => {
                let t = rs.table(r.table);
                let Some(c) = t.chains.get(r.chain as usize) else {
                    return String::new();
                };
                let text = c
                    .rules
                    .get(r.rule as usize)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                format!(
                    "{} {} rule {} `-A {} {text}`",
                    t.id.name(),
                    c.name,
                    r.rule + 1,
                    c.name
                )
            }
            None => format!("{} {} policy", table.name(), hook.chain()),
        }
    }
}

/// Jumps deeper than this are treated as RETURN (iptables refuses loops at load time).
pub const MAX_DEPTH: usize = 32;

/// Evaluates `table`'s chain for `hook` on `pkt` by a direct first-match walk.
/// `ifnames[i]` is the name of interface `i`.
pub fn evaluate<S: AsRef<str>>(
    rs: &Ruleset,
    ifnames: &[S],
    table: TableId,
    hook: Hook,
    pkt: &Packet,
) -> Decision {
    let t = rs.table(table);
    let Some(start) = t.chains.iter().position(|c| c.name == hook.chain()) else {
        return Decision {
            verdict: Verdict::Accept,
            by: None,
        };
    };
    // (chain, next rule) frames, as the kernel's jump stack.
    let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
    while let Some((ci, ri)) = stack.pop() {
        let chain = &t.chains[ci];
        let mut i = ri;
        let mut descended = false;
        while i < chain.rules.len() {
            let r = &chain.rules[i];
            if !matches(r, ifnames, pkt) {
                i += 1;
                continue;
            }
            let by = Some(RuleRef {
                table,
                chain: ci as u16,
                rule: i as u16,
            });
            let verdict = match &r.target {
                None => {
                    i += 1;
                    continue;
                }
                Some(Target::Accept) => Verdict::Accept,
                Some(Target::Drop) => Verdict::Drop,
                Some(Target::Reject(w)) => Verdict::Reject(*w),
                Some(Target::Masquerade) => Verdict::Masquerade,
                Some(Target::Snat { addr }) => Verdict::Snat { addr: *addr },
                Some(Target::Dnat { addr, port }) => Verdict::Dnat {
                    addr: *addr,
                    port: port.map(|p| dnat_port(r, p, pkt.dport)),
                },
                Some(Target::Return) => break,
                Some(Target::Jump(name)) => match t.chains.iter().position(|c| &c.name == name) {
                    Some(next) if stack.len() + 1 < MAX_DEPTH => {
                        stack.push((ci, i + 1));
                        stack.push((next, 0));
                        descended = true;
                        break;
                    }
                    _ => {
                        i += 1;
                        continue;
                    }
                },
            };
            return Decision { verdict, by };
        }
        if descended {
            continue;
        }
        if chain.policy.is_some() && stack.is_empty() {
            // The end (or a RETURN) of the built-in chain: its policy.
            let verdict = if chain.policy == Some(false) {
                Verdict::Drop
            } else {
                Verdict::Accept
            };
            return Decision { verdict, by: None };
        }
    }
    Decision {
        verdict: Verdict::Accept,
        by: None,
    }
}

/// The DNAT port for a packet to `dport`: a range target maps the matched port range
/// onto itself in order (`--dport 8000:8010 -j DNAT --to :9000-9010`), one port maps
/// every matched port to it.
pub fn dnat_port(r: &Rule, to: PortRange, dport: u16) -> u16 {
    if to.lo == to.hi {
        return to.lo;
    }
    let from = r
        .dport
        .as_ref()
        .filter(|d| !d.negated)
        .map_or(to.lo, |d| d.value.lo);
    let off = dport.saturating_sub(from);
    to.lo.saturating_add(off).min(to.hi)
}

fn neg<T>(m: &Option<Neg<T>>, f: impl FnOnce(&T) -> bool) -> bool {
    match m {
        None => true,
        Some(n) => f(&n.value) != n.negated,
    }
}

fn if_matches(pat: &str, name: Option<&str>) -> bool {
    let Some(name) = name else { return false };
    match pat.strip_suffix('+') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pat,
    }
}

/// Whether every match of `r` holds for `pkt`.
pub fn matches<S: AsRef<str>>(r: &Rule, ifnames: &[S], pkt: &Packet) -> bool {
    let name = |i: Option<u16>| i.and_then(|i| ifnames.get(i as usize).map(AsRef::as_ref));
    let l4_ports = matches!(pkt.proto, 6 | 17);
    neg(&r.src, |n| n.contains(&pkt.src))
        && neg(&r.dst, |n| n.contains(&pkt.dst))
        && neg(&r.in_if, |p| if_matches(p, name(pkt.in_if)))
        && neg(&r.out_if, |p| if_matches(p, name(pkt.out_if)))
        && neg(&r.proto, |p| proto_matches(*p, pkt.proto))
        && neg(&r.sport, |p| l4_ports && p.contains(pkt.sport))
        && neg(&r.dport, |p| l4_ports && p.contains(pkt.dport))
        && neg(&r.icmp_type, |&(t, c)| {
            pkt.icmp
                .is_some_and(|(pt, pc)| pt == t && c.is_none_or(|c| c == pc))
        })
        && neg(&r.ctstate, |s| s.intersects(pkt.ctstate))
        && neg(&r.ctorigdst, |n| n.contains(&pkt.ct_orig_dst))
        && neg(&r.ctorigdstport, |p| p.contains(pkt.ct_orig_dport))
        && neg(&r.src_local, |_| pkt.src_local)
        && neg(&r.dst_local, |_| pkt.dst_local)
}

fn proto_matches(p: Proto, n: u8) -> bool {
    p.number() == n
}
