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
    /// The packet's mark (`skb->mark`, set by `-j MARK`, read by `-m mark`).
    pub mark: u32,
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

/// A jump that would go deeper than this is passed over, as if its rule did not match
/// (iptables refuses loops when rules are loaded, so real rulesets never get here).
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
    walk(rs, ifnames, table, hook, pkt).0
}

/// [`evaluate`], and the packet's mark once the walk is over (`-j MARK` rules it
/// passed applied in order; a later `-m mark` in the same walk sees the new mark).
pub fn evaluate_mark<S: AsRef<str>>(
    rs: &Ruleset,
    ifnames: &[S],
    table: TableId,
    hook: Hook,
    pkt: &Packet,
) -> (Decision, u32) {
    walk(rs, ifnames, table, hook, pkt)
}

fn walk<S: AsRef<str>>(
    rs: &Ruleset,
    ifnames: &[S],
    table: TableId,
    hook: Hook,
    pkt: &Packet,
) -> (Decision, u32) {
    let mut pkt = *pkt;
    let t = rs.table(table);
    let Some(start) = t.chains.iter().position(|c| c.name == hook.chain()) else {
        return (
            Decision {
                verdict: Verdict::Accept,
                by: None,
            },
            pkt.mark,
        );
    };
    // (chain, next rule) frames, as the kernel's jump stack.
    let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
    while let Some((ci, ri)) = stack.pop() {
        let chain = &t.chains[ci];
        let mut i = ri;
        let mut descended = false;
        while i < chain.rules.len() {
            let r = &chain.rules[i];
            if !matches(r, ifnames, &pkt) {
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
                Some(Target::Mark { value, mask }) => {
                    pkt.mark = (pkt.mark & !mask) ^ value;
                    i += 1;
                    continue;
                }
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
            return (Decision { verdict, by }, pkt.mark);
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
            return (Decision { verdict, by: None }, pkt.mark);
        }
    }
    (
        Decision {
            verdict: Verdict::Accept,
            by: None,
        },
        pkt.mark,
    )
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
        && neg(&r.mark, |&(v, m)| pkt.mark & m == v)
        && neg(&r.multiport, |l| {
            l4_ports && l.iter().any(|p| p.contains(pkt.dport))
        })
}

fn proto_matches(p: Proto, n: u8) -> bool {
    p.number() == n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfilter::Neg;

    const IFS: &[&str] = &["eth0", "veth0", "vethabc", "veth", "docker0"];

    /// A TCP packet 10.0.0.2:40000 → 192.0.2.1:80 from eth0 to docker0, state NEW.
    fn pkt() -> Packet {
        Packet {
            in_if: Some(0),
            out_if: Some(4),
            src: "10.0.0.2".parse().expect("literal"),
            dst: "192.0.2.1".parse().expect("literal"),
            proto: 6,
            sport: 40000,
            dport: 80,
            icmp: None,
            ctstate: CtStates::NEW,
            ct_orig_dst: "192.0.2.1".parse().expect("literal"),
            ct_orig_dport: 80,
            src_local: false,
            dst_local: false,
            mark: 0,
        }
    }

    fn rule(t: Target) -> Rule {
        Rule::jump(t)
    }

    fn by(rs: &Ruleset, chain: &str, rule: u16) -> Option<RuleRef> {
        let t = rs.table(TableId::Filter);
        let chain = t.chains.iter().position(|c| c.name == chain).expect("chain") as u16;
        Some(RuleRef {
            table: TableId::Filter,
            chain,
            rule,
        })
    }

    fn forward(rs: &Ruleset, p: &Packet) -> Decision {
        evaluate(rs, IFS, TableId::Filter, Hook::Forward, p)
    }

    #[test]
    fn a_jump_descends_and_return_resumes_after_it() {
        // Proves a jump evaluates the user chain, RETURN comes back to the rule after
        // the jump (not to the start of the caller), and the deciding rule is named in
        // the chain where it sits.
        let mut rs = Ruleset::default();
        rs.append(TableId::Filter, "FORWARD", rule(Target::Jump("U".into())));
        rs.append(TableId::Filter, "FORWARD", rule(Target::Drop));
        let from_10 = Rule {
            src: Some(Neg::is("10.0.0.0/8".parse().expect("literal"))),
            ..rule(Target::Return)
        };
        rs.append(TableId::Filter, "U", from_10);
        rs.append(TableId::Filter, "U", rule(Target::Accept));
        let d = forward(&rs, &pkt());
        assert_eq!(d.verdict, Verdict::Drop);
        assert_eq!(d.by, by(&rs, "FORWARD", 1));
        let other = Packet {
            src: "192.168.1.1".parse().expect("literal"),
            ..pkt()
        };
        let d = forward(&rs, &other);
        assert_eq!(d.verdict, Verdict::Accept);
        assert_eq!(d.by, by(&rs, "U", 1));
    }

    #[test]
    fn falling_off_a_user_chain_returns_to_the_caller() {
        // Proves the end of a user chain acts as RETURN: the caller's next rule decides.
        let mut rs = Ruleset::default();
        rs.append(TableId::Filter, "FORWARD", rule(Target::Jump("U".into())));
        rs.append(
            TableId::Filter,
            "FORWARD",
            rule(Target::Reject(RejectWith::TcpReset)),
        );
        let udp_only = Rule {
            proto: Some(Neg::is(Proto::Udp)),
            ..rule(Target::Accept)
        };
        rs.append(TableId::Filter, "U", udp_only);
        let d = forward(&rs, &pkt());
        assert_eq!(d.verdict, Verdict::Reject(RejectWith::TcpReset));
        assert_eq!(d.by, by(&rs, "FORWARD", 1));
    }

    #[test]
    fn the_builtin_chains_policy_applies_at_its_end_and_on_return() {
        // Proves policy DROP decides (with no rule named) when no rule matches, and that
        // RETURN in a built-in chain goes straight to the policy, skipping later rules.
        let mut rs = Ruleset::default();
        rs.table_mut(TableId::Filter).chain_mut("FORWARD").policy = Some(false);
        let udp = Rule {
            proto: Some(Neg::is(Proto::Udp)),
            ..rule(Target::Accept)
        };
        rs.append(TableId::Filter, "FORWARD", udp);
        let d = forward(&rs, &pkt());
        assert_eq!(
            d,
            Decision {
                verdict: Verdict::Drop,
                by: None
            }
        );
        rs.insert(TableId::Filter, "FORWARD", rule(Target::Return));
        rs.append(TableId::Filter, "FORWARD", rule(Target::Accept));
        let d = forward(&rs, &pkt());
        assert_eq!(
            d,
            Decision {
                verdict: Verdict::Drop,
                by: None
            }
        );
        // A table without a chain for the hook accepts.
        let d = evaluate(&rs, IFS, TableId::Raw, Hook::Forward, &pkt());
        assert_eq!(
            d,
            Decision {
                verdict: Verdict::Accept,
                by: None
            }
        );
    }

    #[test]
    fn jumps_to_missing_chains_and_targetless_rules_are_passed_over() {
        // Proves a rule without target only counts (evaluation goes on) and a jump to a
        // chain that does not exist does not end the walk.
        let mut rs = Ruleset::default();
        rs.append(TableId::Filter, "FORWARD", Rule::default());
        rs.append(TableId::Filter, "FORWARD", rule(Target::Jump("NOPE".into())));
        rs.append(TableId::Filter, "FORWARD", rule(Target::Drop));
        let d = forward(&rs, &pkt());
        assert_eq!(d.by, by(&rs, "FORWARD", 2));
    }

    #[test]
    fn a_jump_loop_ends_at_the_depth_limit() {
        // Proves a chain jumping to itself (which iptables would refuse to load) ends:
        // past MAX_DEPTH the jump does not descend, and the rule after it decides.
        let mut rs = Ruleset::default();
        rs.append(TableId::Filter, "FORWARD", rule(Target::Jump("L".into())));
        rs.append(TableId::Filter, "L", rule(Target::Jump("L".into())));
        rs.append(TableId::Filter, "L", rule(Target::Drop));
        let d = forward(&rs, &pkt());
        assert_eq!(d.verdict, Verdict::Drop);
        assert_eq!(d.by, by(&rs, "L", 1));
    }

    #[test]
    fn a_negated_input_interface_matches_where_there_is_none() {
        // Proves at OUTPUT (no input interface) `! -i eth0` matches and `-i eth0` does
        // not, as the kernel compares the empty name with the pattern.
        let at_output = Packet { in_if: None, ..pkt() };
        let mut rs = Ruleset::default();
        let pos = Rule {
            in_if: Some(Neg::is("eth0".into())),
            ..rule(Target::Drop)
        };
        let neg = Rule {
            in_if: Some(Neg::not("eth0".into())),
            ..rule(Target::Reject(RejectWith::IcmpAdminProhibited))
        };
        rs.append(TableId::Filter, "OUTPUT", pos);
        rs.append(TableId::Filter, "OUTPUT", neg);
        let d = evaluate(&rs, IFS, TableId::Filter, Hook::Output, &at_output);
        assert_eq!(d.verdict, Verdict::Reject(RejectWith::IcmpAdminProhibited));
        assert_eq!(d.by.map(|r| r.rule), Some(1));
    }

    #[test]
    fn a_plus_pattern_matches_every_name_with_its_prefix() {
        // Proves `veth+` matches veth0, vethabc and veth itself, and not eth0 or an id
        // outside the name table.
        let mut rs = Ruleset::default();
        let veths = Rule {
            in_if: Some(Neg::is("veth+".into())),
            ..rule(Target::Drop)
        };
        rs.append(TableId::Filter, "FORWARD", veths);
        for (id, hit) in [
            (1, true),
            (2, true),
            (3, true),
            (0, false),
            (4, false),
            (9, false),
        ] {
            let p = Packet {
                in_if: Some(id),
                ..pkt()
            };
            assert_eq!(
                forward(&rs, &p).verdict == Verdict::Drop,
                hit,
                "interface id {id}"
            );
        }
    }

    #[test]
    fn ctstate_matches_any_listed_state() {
        // Proves `--ctstate RELATED,ESTABLISHED` holds for ESTABLISHED and not for NEW,
        // and its negation the other way round.
        let mut rs = Ruleset::default();
        let ct = Rule {
            ctstate: Some(Neg::is(CtStates::RELATED.with(CtStates::ESTABLISHED))),
            ..rule(Target::Accept)
        };
        rs.append(TableId::Filter, "FORWARD", ct);
        let not_new = Rule {
            ctstate: Some(Neg::not(CtStates::NEW)),
            ..rule(Target::Reject(RejectWith::TcpReset))
        };
        rs.append(TableId::Filter, "FORWARD", not_new);
        rs.append(TableId::Filter, "FORWARD", rule(Target::Drop));
        let est = Packet {
            ctstate: CtStates::ESTABLISHED,
            ..pkt()
        };
        assert_eq!(forward(&rs, &est).by, by(&rs, "FORWARD", 0));
        assert_eq!(forward(&rs, &pkt()).by, by(&rs, "FORWARD", 2));
        let invalid = Packet {
            ctstate: CtStates::INVALID,
            ..pkt()
        };
        assert_eq!(forward(&rs, &invalid).by, by(&rs, "FORWARD", 1));
    }

    #[test]
    fn addrtype_local_follows_the_packets_flags() {
        // Proves `--dst-type LOCAL` holds only for local destinations and
        // `! --src-type LOCAL` only for foreign sources (Docker's PREROUTING/OUTPUT jumps).
        let mut rs = Ruleset::default();
        let to_local = Rule {
            dst_local: Some(Neg::is(())),
            ..rule(Target::Jump("DOCKER".into()))
        };
        rs.append(TableId::Nat, "PREROUTING", to_local);
        let from_foreign = Rule {
            src_local: Some(Neg::not(())),
            ..rule(Target::Masquerade)
        };
        rs.append(TableId::Nat, "DOCKER", from_foreign);
        let nat = |p: &Packet| evaluate(&rs, IFS, TableId::Nat, Hook::Prerouting, p).verdict;
        assert_eq!(nat(&pkt()), Verdict::Accept);
        let local = Packet {
            dst_local: true,
            mark: 0,
            ..pkt()
        };
        assert_eq!(nat(&local), Verdict::Masquerade);
        let from_here = Packet {
            src_local: true,
            ..local
        };
        assert_eq!(nat(&from_here), Verdict::Accept);
    }

    #[test]
    fn dnat_port_ranges_map_in_order() {
        // Proves `--dport 8000:8010 -j DNAT --to-destination A:9000-9010` maps 8003 to
        // 9003, clamps past the target's end, that one target port takes every matched
        // port, and that no target port keeps the packet's.
        let to: IpAddr = "172.17.0.2".parse().expect("literal");
        let dnat = |port: Option<PortRange>| Rule {
            proto: Some(Neg::is(Proto::Tcp)),
            dport: Some(Neg::is(PortRange { lo: 8000, hi: 8020 })),
            ..rule(Target::Dnat { addr: to, port })
        };
        let verdict = |r: Rule, dport: u16| {
            let mut rs = Ruleset::default();
            rs.append(TableId::Nat, "PREROUTING", r);
            let p = Packet { dport, ..pkt() };
            evaluate(&rs, IFS, TableId::Nat, Hook::Prerouting, &p).verdict
        };
        let range = Some(PortRange { lo: 9000, hi: 9010 });
        assert_eq!(
            verdict(dnat(range), 8003),
            Verdict::Dnat {
                addr: to,
                port: Some(9003)
            }
        );
        assert_eq!(
            verdict(dnat(range), 8015),
            Verdict::Dnat {
                addr: to,
                port: Some(9010)
            }
        );
        let one = Some(PortRange::one(80));
        assert_eq!(
            verdict(dnat(one), 8015),
            Verdict::Dnat {
                addr: to,
                port: Some(80)
            }
        );
        assert_eq!(verdict(dnat(None), 8015), Verdict::Dnat { addr: to, port: None });
        assert_eq!(verdict(dnat(range), 7999), Verdict::Accept);
    }

    #[test]
    fn mark_goes_on_to_the_next_rule_and_later_matches_see_it() {
        // Proves portmap's pattern: `-j MARK` does not end the walk (the DNAT after it
        // still applies) and the mark it leaves is what `-m mark` matches afterwards.
        let mut rs = Ruleset::default();
        rs.append(TableId::Nat, "PREROUTING", rule(Target::Jump("SETMARK".into())));
        rs.append(
            TableId::Nat,
            "SETMARK",
            rule(Target::Mark {
                value: 0x2000,
                mask: 0x2000,
            }),
        );
        rs.append(
            TableId::Nat,
            "PREROUTING",
            Rule {
                mark: Some(Neg::is((0x2000, 0x2000))),
                ..rule(Target::Dnat {
                    addr: "10.0.0.9".parse().expect("literal"),
                    port: None,
                })
            },
        );
        let (d, mark) = evaluate_mark(&rs, IFS, TableId::Nat, Hook::Prerouting, &pkt());
        assert_eq!(mark, 0x2000);
        assert!(matches!(d.verdict, Verdict::Dnat { .. }), "{d:?}");
        assert_eq!(
            rs.table(TableId::Nat).chain("SETMARK").expect("chain").rules[0].to_string(),
            "-j MARK --set-xmark 0x2000/0x2000"
        );
        // Without the mark, the `-m mark` rule does not match.
        let other = Packet { mark: 0, ..pkt() };
        let mut plain = Ruleset::default();
        plain.append(
            TableId::Nat,
            "POSTROUTING",
            Rule {
                mark: Some(Neg::is((0x2000, 0x2000))),
                ..rule(Target::Masquerade)
            },
        );
        let d = evaluate(&plain, IFS, TableId::Nat, Hook::Postrouting, &other);
        assert_eq!(d.verdict, Verdict::Accept);
    }
}
