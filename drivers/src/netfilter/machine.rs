//! One machine's netfilter: its IPv4 and IPv6 rulesets, the interface names its rules
//! are evaluated against, and its conntrack table.

use super::compile::Compiled;
use super::conntrack::Conntrack;
use super::eval::{Decision, Hook, Packet, Verdict};
use super::{Ruleset, TableId};

/// A machine's netfilter state.
#[derive(Clone, Debug)]
pub struct Netfilter {
    v4: Ruleset,
    v6: Ruleset,
    /// Interface names by port; the last is `lo`.
    ifnames: Vec<String>,
    /// The rulesets compiled for `ifnames` (IPv4, IPv6): what packets are evaluated by.
    /// `None` until rules are set (most machines — containers — never get any).
    compiled: Option<Box<[Compiled; 2]>>,
    /// Connection tracking.
    pub ct: Conntrack,
    /// Whether connections are tracked at all (a machine with rules, NAT or Docker).
    pub track: bool,
    /// Per family, table and hook: whether the chain can only say ACCEPT.
    trivial: [[[bool; 5]; 3]; 2],
    /// Per family: whether the nat table has rules.
    nat: [bool; 2],
    /// `net.bridge.bridge-nf-call-iptables`: bridged IPv4 traffic of this machine's
    /// bridges passes its PREROUTING / FORWARD / POSTROUTING too (br_netfilter).
    pub bridge_nf: bool,
}

impl Default for Netfilter {
    fn default() -> Self {
        Netfilter {
            v4: Ruleset::default(),
            v6: Ruleset::default(),
            ifnames: vec!["lo".into()],
            compiled: None,
            ct: Conntrack::default(),
            track: false,
            trivial: [[[true; 5]; 3]; 2],
            nat: [false; 2],
            bridge_nf: false,
        }
    }
}

impl Netfilter {
    /// Replaces the rulesets (tracking turns on when any rule exists).
    pub fn set_rules(&mut self, v4: Ruleset, v6: Ruleset) {
        self.track |= !v4.is_empty() || !v6.is_empty();
        self.v4 = v4;
        self.v6 = v6;
        for (f, rs) in [&self.v4, &self.v6].into_iter().enumerate() {
            for t in TableId::ALL {
                for h in [
                    Hook::Prerouting,
                    Hook::Input,
                    Hook::Forward,
                    Hook::Output,
                    Hook::Postrouting,
                ] {
                    self.trivial[f][t as usize][h as usize] = rs
                        .table(t)
                        .chain(h.chain())
                        .is_none_or(|c| c.rules.is_empty() && c.policy != Some(false));
                }
            }
            self.nat[f] = rs.table(TableId::Nat).chains.iter().any(|c| !c.rules.is_empty());
        }
        self.compile();
    }

    /// Compiles both rulesets for the current interface names.
    fn compile(&mut self) {
        let names: Vec<&str> = self.ifnames.iter().map(String::as_str).collect();
        self.compiled = Some(Box::new([
            Compiled::new(&self.v4, &names),
            Compiled::new(&self.v6, &names),
        ]));
    }

    /// The ruleset of a family.
    pub fn rules(&self, v4: bool) -> &Ruleset {
        if v4 { &self.v4 } else { &self.v6 }
    }

    /// Sets the interface names, by port (`lo` is added last).
    pub fn set_ifnames(&mut self, names: impl IntoIterator<Item = String>) {
        self.ifnames = names.into_iter().collect();
        self.ifnames.push("lo".into());
        if self.compiled.is_some() {
            self.compile();
        }
    }

    /// The id `lo` has in [`Packet::in_if`] / [`Packet::out_if`].
    pub fn lo(&self) -> u16 {
        self.ifnames.len().saturating_sub(1) as u16
    }

    /// Whether `table`'s chain for `hook` can only say ACCEPT (no rule, policy ACCEPT).
    pub fn trivial(&self, v4: bool, table: TableId, hook: Hook) -> bool {
        self.trivial[usize::from(!v4)][table as usize][hook as usize]
    }

    /// Whether the nat table has rules (its hooks run, and give every new connection
    /// a unique reply tuple).
    pub fn nat(&self, v4: bool) -> bool {
        self.nat[usize::from(!v4)]
    }

    /// What `table`'s rules at `hook` decide for `pkt`.
    pub fn decide(&self, v4: bool, table: TableId, hook: Hook, pkt: &Packet) -> Decision {
        if self.trivial(v4, table, hook) {
            return Decision {
                verdict: Verdict::Accept,
                by: None,
            };
        }
        match &self.compiled {
            Some(c) => c[usize::from(!v4)].evaluate(table, hook, pkt),
            None => Decision {
                verdict: Verdict::Accept,
                by: None,
            },
        }
    }

    /// The deciding rule of `d` as text (`filter DOCKER rule 2 \`-A DOCKER …\``).
    pub fn describe(&self, v4: bool, d: &Decision, table: TableId, hook: Hook) -> String {
        d.describe(self.rules(v4), hook, table)
    }

    /// The note of the rule that decided `d`.
    pub fn note(&self, v4: bool, d: &Decision) -> super::RuleNote {
        d.by.and_then(|r| {
            let t = self.rules(v4).table(r.table);
            t.chains
                .get(r.chain as usize)?
                .rules
                .get(r.rule as usize)
                .map(|x| x.note)
        })
        .unwrap_or_default()
    }

    /// The name of interface id `i`.
    pub fn ifname(&self, i: u16) -> &str {
        self.ifnames.get(i as usize).map_or("?", String::as_str)
    }
}
