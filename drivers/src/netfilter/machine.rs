//! One machine's netfilter: its IPv4 and IPv6 rulesets, the interface names its rules
//! are evaluated against, and its conntrack table.

use super::compile::Compiled;
use super::conntrack::Conntrack;
use super::eval::{Decision, Hook, Packet, Verdict};
use super::{Ruleset, TableId};

/// A machine's netfilter state.
#[derive(Clone, Debug, Default)]
pub struct Netfilter {
    /// Rules, interface names and their compiled form; `None` for a machine nobody
    /// gave rules (most machines — containers — never get any, and pay nothing).
    loaded: Option<Box<Loaded>>,
    /// Connection tracking.
    pub ct: Conntrack,
    /// Whether connections are tracked at all (a machine with rules, NAT or Docker).
    pub track: bool,
    /// Per family: whether the nat table has rules.
    nat: [bool; 2],
    /// Per family: whether the nat table has `-j MARK` rules.
    marks: [bool; 2],
    /// `net.bridge.bridge-nf-call-iptables`: bridged IPv4 traffic of this machine's
    /// bridges passes its PREROUTING / FORWARD / POSTROUTING too (br_netfilter).
    pub bridge_nf: bool,
}

#[derive(Clone, Debug, Default)]
struct Loaded {
    v4: Ruleset,
    v6: Ruleset,
    /// Interface names by port; the last is `lo`.
    ifnames: Vec<String>,
    /// The rulesets compiled for `ifnames` (IPv4, IPv6): what packets are evaluated by.
    compiled: Option<Box<[Compiled; 2]>>,
}

impl Loaded {
    fn compile(&mut self) {
        let mut names: Vec<&str> = self.ifnames.iter().map(String::as_str).collect();
        if names.last() != Some(&"lo") {
            names.push("lo");
        }
        self.compiled = Some(Box::new([
            Compiled::new(&self.v4, &names),
            Compiled::new(&self.v6, &names),
        ]));
    }
}

/// The rules of a machine that has none.
static EMPTY: std::sync::LazyLock<Ruleset> = std::sync::LazyLock::new(Ruleset::default);

impl Netfilter {
    fn loaded(&mut self) -> &mut Loaded {
        self.loaded.get_or_insert_with(|| {
            Box::new(Loaded {
                ifnames: vec!["lo".into()],
                ..Loaded::default()
            })
        })
    }

    /// Replaces the rulesets (tracking turns on when any rule exists).
    pub fn set_rules(&mut self, v4: Ruleset, v6: Ruleset) {
        self.track |= !v4.is_empty() || !v6.is_empty();
        for (f, rs) in [&v4, &v6].into_iter().enumerate() {
            self.nat[f] = rs.table(TableId::Nat).chains.iter().any(|c| !c.rules.is_empty());
            self.marks[f] = rs.table(TableId::Nat).chains.iter().any(|c| {
                c.rules
                    .iter()
                    .any(|r| matches!(r.target, Some(super::Target::Mark { .. })))
            });
        }
        let l = self.loaded();
        l.v4 = v4;
        l.v6 = v6;
        l.compile();
    }

    /// The ruleset of a family.
    pub fn rules(&self, v4: bool) -> &Ruleset {
        match &self.loaded {
            Some(l) if v4 => &l.v4,
            Some(l) => &l.v6,
            None => &EMPTY,
        }
    }

    /// Sets the interface names, by port (`lo` is added last).
    pub fn set_ifnames(&mut self, names: impl IntoIterator<Item = String>) {
        let l = self.loaded();
        l.ifnames = names.into_iter().collect();
        l.ifnames.push("lo".into());
        if l.compiled.is_some() {
            l.compile();
        }
    }

    /// The packet's mark after `table`'s rules at `hook` (its own mark when the table
    /// has no `-j MARK` rule: the common case costs nothing).
    pub fn mark(&self, v4: bool, table: TableId, hook: Hook, pkt: &Packet) -> u32 {
        let f = usize::from(!v4);
        if table != TableId::Nat || !self.marks[f] {
            return pkt.mark;
        }
        match &self.loaded {
            Some(l) => {
                let rs = if v4 { &l.v4 } else { &l.v6 };
                super::eval::evaluate_mark(rs, &l.ifnames, table, hook, pkt).1
            }
            None => pkt.mark,
        }
    }

    /// The id `lo` has in [`Packet::in_if`] / [`Packet::out_if`].
    pub fn lo(&self) -> u16 {
        self.loaded
            .as_ref()
            .map_or(0, |l| l.ifnames.len().saturating_sub(1) as u16)
    }

    /// Whether `table`'s chain for `hook` can only say ACCEPT (no rule, policy ACCEPT).
    pub fn trivial(&self, v4: bool, table: TableId, hook: Hook) -> bool {
        self.loaded
            .as_ref()
            .and_then(|l| l.compiled.as_ref())
            .is_none_or(|c| c[usize::from(!v4)].is_trivial(table, hook))
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
        if table == TableId::Nat
            && self.marks[usize::from(!v4)]
            && let Some(l) = &self.loaded
        {
            // A MARK rule may change what a later `-m mark` of the same walk sees: walk
            // the rules themselves (the compiled form leaves MARK out).
            let rs = if v4 { &l.v4 } else { &l.v6 };
            return super::eval::evaluate_mark(rs, &l.ifnames, table, hook, pkt).0;
        }
        match self.loaded.as_ref().and_then(|l| l.compiled.as_ref()) {
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
}
