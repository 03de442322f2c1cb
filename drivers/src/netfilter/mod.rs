//! Netfilter as data: tables of chains of [`Rule`]s, evaluated at the hooks where
//! Linux evaluates them, with connection tracking and NAT.
//!
//! - [`rule`]: one rule (matches, target) and its `iptables-save` text.
//! - [`Ruleset`]: the `raw`, `nat` and `filter` tables of one family, built with
//!   `append`/`insert` as iptables builds them (rule order is creation order), printed
//!   with [`Ruleset::save`].
//! - [`eval`]: first-match evaluation of a hook's chains for one packet, naming the rule
//!   that decided (table, chain, 1-based index, text).
//! - [`compile`]: the same evaluation over rules compiled into per-chain interface
//!   sets, intervals and bit-vector classifiers ([`Compiled`]), for the packet path.
//! - [`conntrack`]: connections, their states and timeouts, NAT bindings with unique
//!   tuples.
//!
//! The packet walk (PREROUTING → routing → INPUT / FORWARD → OUTPUT → POSTROUTING) is
//! the namespace model's (`router`); this module only answers "what do the rules say".

pub mod bridge;
pub mod compile;
pub mod conntrack;
pub mod eval;
pub mod machine;
pub mod rule;

use std::fmt::Write as _;

pub use compile::Compiled;
pub use eval::{Decision, Hook, Packet, Verdict};
pub use machine::Netfilter;
pub use rule::{CtStates, Neg, PortRange, Proto, RejectWith, Rule, RuleNote, Target};

/// An iptables table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableId {
    /// `raw`: before conntrack (PREROUTING, OUTPUT).
    Raw,
    /// `nat`: first packet of a connection only (PREROUTING, INPUT, OUTPUT, POSTROUTING).
    Nat,
    /// `filter`: INPUT, FORWARD, OUTPUT.
    Filter,
}

impl TableId {
    /// Every table, in the order `iptables-save` prints... and in hook order.
    pub const ALL: [TableId; 3] = [TableId::Raw, TableId::Nat, TableId::Filter];

    /// Its name (`raw`, `nat`, `filter`).
    pub fn name(self) -> &'static str {
        match self {
            TableId::Raw => "raw",
            TableId::Nat => "nat",
            TableId::Filter => "filter",
        }
    }

    /// Its built-in chains, in `iptables-save` order.
    pub fn builtins(self) -> &'static [&'static str] {
        match self {
            TableId::Raw => &["PREROUTING", "OUTPUT"],
            TableId::Nat => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
            TableId::Filter => &["INPUT", "FORWARD", "OUTPUT"],
        }
    }
}

/// A chain: built-in (with a policy) or user-defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Its name.
    pub name: String,
    /// Its rules in order.
    pub rules: Vec<Rule>,
    /// Built-in chains' policy: `true` = ACCEPT, `false` = DROP. `None` for user chains.
    pub policy: Option<bool>,
}

/// One table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Which.
    pub id: TableId,
    /// Built-in chains first (in `iptables-save` order), then user chains by creation.
    pub chains: Vec<Chain>,
}

impl Table {
    /// A table with its built-in chains, empty, policy ACCEPT.
    pub fn new(id: TableId) -> Self {
        Table {
            id,
            chains: id
                .builtins()
                .iter()
                .map(|n| Chain {
                    name: (*n).to_string(),
                    rules: Vec::new(),
                    policy: Some(true),
                })
                .collect(),
        }
    }

    /// The chain named `name`.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The chain named `name`, created (user chain) if missing: `iptables -N`.
    pub fn chain_mut(&mut self, name: &str) -> &mut Chain {
        let i = match self.chains.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                self.chains.push(Chain {
                    name: name.to_string(),
                    rules: Vec::new(),
                    policy: None,
                });
                self.chains.len() - 1
            }
        };
        &mut self.chains[i]
    }
}

/// The tables of one address family (what `iptables-save` or `ip6tables-save` shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    /// `raw`, `nat`, `filter`, in that order.
    pub tables: [Table; 3],
}

impl Default for Ruleset {
    fn default() -> Self {
        Ruleset {
            tables: TableId::ALL.map(Table::new),
        }
    }
}

impl Ruleset {
    /// The table `id`.
    pub fn table(&self, id: TableId) -> &Table {
        &self.tables[id as usize]
    }

    /// The table `id`, to change.
    pub fn table_mut(&mut self, id: TableId) -> &mut Table {
        &mut self.tables[id as usize]
    }

    /// `iptables -N CHAIN` (no-op when it exists).
    pub fn new_chain(&mut self, t: TableId, chain: &str) {
        self.table_mut(t).chain_mut(chain);
    }

    /// `iptables -t T -A CHAIN RULE`.
    pub fn append(&mut self, t: TableId, chain: &str, rule: Rule) {
        self.table_mut(t).chain_mut(chain).rules.push(rule);
    }

    /// `iptables -t T -I CHAIN RULE` (at the head).
    pub fn insert(&mut self, t: TableId, chain: &str, rule: Rule) {
        self.table_mut(t).chain_mut(chain).rules.insert(0, rule);
    }

    /// Whether no table has a rule (a machine nobody configured: nothing to evaluate).
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| {
            t.chains
                .iter()
                .all(|c| c.rules.is_empty() && c.policy != Some(false))
        })
    }

    /// The tables in `iptables-save` format without counters: `*table`, `:CHAIN POLICY
    /// [0:0]` (`-` for user chains), `-A` lines, `COMMIT`. Tables with no rules and no
    /// user chains are left out, as on a host where they were never loaded.
    ///
    /// Chains print as iptables-save prints them: built-ins first in hook order, then
    /// user chains sorted by name (libiptc and iptables-nft keep them sorted, whatever
    /// the order they were created in) — for the `:` lines and the `-A` lines alike.
    pub fn save(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            if t.chains.iter().all(|c| c.rules.is_empty() && c.policy.is_some()) {
                continue;
            }
            let mut chains: Vec<&Chain> = t.chains.iter().filter(|c| c.policy.is_some()).collect();
            let mut user: Vec<&Chain> = t.chains.iter().filter(|c| c.policy.is_none()).collect();
            user.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
            chains.extend(user);
            let _ = writeln!(out, "*{}", t.id.name());
            for c in &chains {
                let policy = match c.policy {
                    Some(true) => "ACCEPT",
                    Some(false) => "DROP",
                    None => "-",
                };
                let _ = writeln!(out, ":{} {policy} [0:0]", c.name);
            }
            for c in &chains {
                for r in &c.rules {
                    let _ = writeln!(out, "-A {} {r}", c.name);
                }
            }
            let _ = writeln!(out, "COMMIT");
        }
        out
    }
}
