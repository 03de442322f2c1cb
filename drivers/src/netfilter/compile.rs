//! Rules compiled for the packet path: [`Compiled`] answers exactly what
//! [`eval::evaluate`](super::eval::evaluate) answers — the same verdict, the same
//! deciding rule — without scanning long chains rule by rule.
//!
//! What compilation does, once per rule change:
//! - jump targets become chain indexes; rules that can never decide (no target, a jump
//!   to a chain that does not exist) are left out, their numbers kept on the others;
//! - `-i`/`-o` patterns become sets of interface ids (a `+` pattern is the set of every
//!   name with its prefix; a name nobody has is the empty set);
//! - addresses become integer ranges, `DNAT` port mappings their offsets;
//! - a chain with more than [`LINEAR_MAX`] such rules gets a bit-vector classifier
//!   (Lakshman–Stiliadis, the idea behind ipset's and nftables' sets): for each
//!   dimension that some rule of the chain constrains — `-i`, `-o`, `-p`, `--ctstate`,
//!   `--sport`, `--dport`, `-s`, `-d` — the values a packet can have are cut into
//!   classes on which every rule's match (negation included) is constant, and each
//!   class keeps the bit set of the rules whose match holds there. A packet's classes
//!   are found by table look-up (interfaces, protocol, state) or binary search over
//!   the sorted class starts (ports, addresses); the AND of their bit sets, word by
//!   word, yields the candidate rules in order, and only the matches the classifier
//!   does not cover (ICMP type, conntrack original destination, address types) are
//!   checked on each candidate.
//!
//! A class set with few rules (fewer than two per 64 rules of the chain, in chains of
//! 193 rules or more) is stored as the sorted list of their indexes, any other as bits;
//! identical sets are stored once. When one of the packet's sets is such a list, the
//! shortest one is walked from the resuming rule on, each candidate tested for
//! membership in the other dimensions' sets; otherwise the bit sets are ANDed.
//!
//! `-j MARK` never decides and is left out: the verdict is the same, but a `-m mark`
//! later in the same walk would not see the new mark, so
//! [`Netfilter`](super::Netfilter) walks a table that has MARK rules with
//! [`eval::evaluate_mark`](super::eval::evaluate_mark) instead (CNI's small nat table).
//!
//! Evaluation allocates nothing and takes no lock: jump frames live in a fixed array of
//! [`MAX_DEPTH`] entries and bit sets are ANDed as they are read. Memory of a classified
//! chain of `n` rules is, per distinct class set, its members' indexes or `n` bits,
//! whichever is smaller: linear in `n` for Docker's raw PREROUTING (`n` disjoint `-d`
//! addresses, one rule each), still `n` sets of `n` bits for `n` disjoint negated
//! networks (each class then holds all rules but one).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::eval::{Decision, Hook, MAX_DEPTH, Packet, RuleRef, Verdict};
use super::rule::{Neg, PortRange, Rule, Target};
use super::{Ruleset, TableId};

/// Chains with at most this many rules that can decide are scanned in order; longer
/// ones get a classifier.
pub const LINEAR_MAX: usize = 8;

/// A [`Ruleset`] compiled for one name table of interfaces: evaluates like
/// [`eval::evaluate`](super::eval::evaluate), faster on long chains. Rebuild it when
/// the rules or the interface names change.
#[derive(Clone, Debug)]
pub struct Compiled {
    tables: [CTable; 3],
}

impl Compiled {
    /// Compiles `rs` for packets whose interface ids index `ifnames`.
    pub fn new(rs: &Ruleset, ifnames: &[&str]) -> Self {
        // Packets name interfaces by a u16: names past that are unreachable.
        let names = &ifnames[..ifnames.len().min(1 << 16)];
        let mut ifsets: HashMap<String, IfSet> = HashMap::new();
        let tables = TableId::ALL.map(|id| CTable::new(rs, id, names, &mut ifsets));
        Compiled { tables }
    }

    /// What `table`'s chain for `hook` decides for `pkt`: exactly
    /// [`eval::evaluate`](super::eval::evaluate)`(rs, ifnames, table, hook, pkt)` for
    /// the ruleset and names this was compiled from.
    pub fn evaluate(&self, table: TableId, hook: Hook, pkt: &Packet) -> Decision {
        let t = &self.tables[table as usize];
        let Some(start) = t.start[hook as usize] else {
            return ACCEPTED;
        };
        if let Some(c) = t.chains.get(start as usize)
            && c.rules.is_empty()
        {
            return policy(c.policy);
        }
        // (chain, next rule) of the callers, as the kernel's jump stack.
        let mut stack = [(0u32, 0u32); MAX_DEPTH];
        let mut depth = 0usize;
        let (mut ci, mut from) = (start, 0u32);
        loop {
            let chain = &t.chains[ci as usize];
            if let Some(k) = chain.next_match(from as usize, pkt) {
                let r = &chain.rules[k];
                let by = Some(RuleRef {
                    table,
                    chain: ci as u16,
                    rule: r.pos,
                });
                match r.action {
                    Action::Decide(verdict) => return Decision { verdict, by },
                    Action::DnatRange { addr, to, from } => {
                        let port = to.lo.saturating_add(pkt.dport.saturating_sub(from)).min(to.hi);
                        return Decision {
                            verdict: Verdict::Dnat {
                                addr,
                                port: Some(port),
                            },
                            by,
                        };
                    }
                    Action::Jump(next) => {
                        // `depth` callers + this frame: the walk's limit counts frames.
                        if depth + 1 < MAX_DEPTH {
                            stack[depth] = (ci, k as u32 + 1);
                            depth += 1;
                            (ci, from) = (next, 0);
                        } else {
                            from = k as u32 + 1;
                        }
                        continue;
                    }
                    Action::Return => {}
                }
            }
            // The end of the chain or a RETURN.
            if depth == 0 {
                return policy(chain.policy);
            }
            depth -= 1;
            (ci, from) = stack[depth];
        }
    }

    /// Whether `table`'s chain for `hook` accepts every packet by its policy (no rule
    /// that could decide, policy ACCEPT, or no such chain): callers may skip the hook.
    pub fn is_trivial(&self, table: TableId, hook: Hook) -> bool {
        let t = &self.tables[table as usize];
        match t.start[hook as usize] {
            None => true,
            Some(ci) => {
                let c = &t.chains[ci as usize];
                c.rules.is_empty() && c.policy != Some(false)
            }
        }
    }
}

/// The end of the walk: a built-in chain's policy (a user chain's end accepts).
fn policy(p: Option<bool>) -> Decision {
    match p {
        Some(false) => Decision {
            verdict: Verdict::Drop,
            by: None,
        },
        _ => ACCEPTED,
    }
}

const ACCEPTED: Decision = Decision {
    verdict: Verdict::Accept,
    by: None,
};

const HOOKS: [Hook; 5] = [
    Hook::Prerouting,
    Hook::Input,
    Hook::Forward,
    Hook::Output,
    Hook::Postrouting,
];

#[derive(Clone, Debug)]
struct CTable {
    chains: Vec<CChain>,
    /// Per hook (in [`Hook`] order), the chain evaluation starts from.
    start: [Option<u32>; 5],
}

impl CTable {
    fn new(rs: &Ruleset, id: TableId, names: &[&str], ifsets: &mut HashMap<String, IfSet>) -> Self {
        let t = rs.table(id);
        // The first chain of a name is the one `eval` finds.
        let find = |name: &str| t.chains.iter().position(|c| c.name == name).map(|i| i as u32);
        let chains = t
            .chains
            .iter()
            .map(|c| {
                let rules: Vec<CRule> = c
                    .rules
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| {
                        let action = action(r, &find)?;
                        let m = Match::new(r, names, ifsets);
                        Some(CRule {
                            check: !m.is_empty(),
                            m,
                            action,
                            pos: i as u16,
                        })
                    })
                    .collect();
                CChain::new(c.policy, rules, names.len())
            })
            .collect();
        CTable {
            chains,
            start: HOOKS.map(|h| find(h.chain())),
        }
    }
}

/// What a matching rule does; `None` for rules that never decide anything.
fn action(r: &Rule, find: &impl Fn(&str) -> Option<u32>) -> Option<Action> {
    let v = match r.target.as_ref()? {
        Target::Accept => Verdict::Accept,
        Target::Drop => Verdict::Drop,
        Target::Reject(w) => Verdict::Reject(*w),
        Target::Masquerade => Verdict::Masquerade,
        // Non-terminating: it changes the mark and the walk goes on. The compiled form
        // decides verdicts only; the mark is found by `eval::evaluate_mark`.
        Target::Mark { .. } => return None,
        Target::Snat { addr } => Verdict::Snat { addr: *addr },
        Target::Dnat { addr, port: None } => Verdict::Dnat {
            addr: *addr,
            port: None,
        },
        Target::Dnat { addr, port: Some(to) } => {
            if to.lo == to.hi {
                Verdict::Dnat {
                    addr: *addr,
                    port: Some(to.lo),
                }
            } else {
                // The matched range maps onto the target range from its first port.
                let from = r
                    .dport
                    .as_ref()
                    .filter(|d| !d.negated)
                    .map_or(to.lo, |d| d.value.lo);
                return Some(Action::DnatRange {
                    addr: *addr,
                    to: *to,
                    from,
                });
            }
        }
        Target::Return => return Some(Action::Return),
        Target::Jump(name) => return find(name).map(Action::Jump),
    };
    Some(Action::Decide(v))
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Decide(Verdict),
    DnatRange { addr: IpAddr, to: PortRange, from: u16 },
    Return,
    Jump(u32),
}

#[derive(Clone, Debug)]
struct CRule {
    /// What is left to check once the chain's classifier (if any) has chosen the rule.
    m: Match,
    /// Whether `m` has a match at all (most rules of a classified chain have none left).
    check: bool,
    action: Action,
    /// Its index in the source chain.
    pos: u16,
}

impl CRule {
    #[inline]
    fn holds(&self, pkt: &Packet) -> bool {
        !self.check || self.m.holds(pkt)
    }
}

#[derive(Clone, Debug)]
struct CChain {
    policy: Option<bool>,
    rules: Vec<CRule>,
    index: Option<Classifier>,
}

impl CChain {
    fn new(policy: Option<bool>, mut rules: Vec<CRule>, names: usize) -> Self {
        let index = if rules.len() > LINEAR_MAX {
            Classifier::new(&mut rules, names)
        } else {
            None
        };
        CChain { policy, rules, index }
    }

    /// The first rule at or after `from` whose matches hold.
    fn next_match(&self, from: usize, pkt: &Packet) -> Option<usize> {
        match &self.index {
            None => (from..self.rules.len()).find(|&k| self.rules[k].holds(pkt)),
            Some(ix) => ix.next_match(&self.rules, from, pkt),
        }
    }
}

/// An address range of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddrRange {
    V4(u32, u32),
    V6(u128, u128),
}

impl AddrRange {
    fn new(n: &IpNet) -> Self {
        match n {
            IpNet::V4(n) => AddrRange::V4(n.network().into(), n.broadcast().into()),
            IpNet::V6(n) => AddrRange::V6(n.network().into(), n.broadcast().into()),
        }
    }

    fn contains(self, a: IpAddr) -> bool {
        match (self, a) {
            (AddrRange::V4(lo, hi), IpAddr::V4(a)) => (lo..=hi).contains(&u32::from(a)),
            (AddrRange::V6(lo, hi), IpAddr::V6(a)) => (lo..=hi).contains(&u128::from(a)),
            _ => false,
        }
    }
}

/// The interface ids an `-i`/`-o` pattern names.
#[derive(Clone, Debug)]
enum IfSet {
    Never,
    One(u16),
    Bits(Box<[u64]>),
}

impl IfSet {
    fn new(pat: &str, names: &[&str]) -> Self {
        let hit = |n: &str| match pat.strip_suffix('+') {
            Some(prefix) => n.starts_with(prefix),
            None => n == pat,
        };
        let ids: Vec<usize> = (0..names.len()).filter(|&i| hit(names[i])).collect();
        match ids[..] {
            [] => IfSet::Never,
            [one] => IfSet::One(one as u16),
            _ => {
                let mut bits = vec![0u64; names.len().div_ceil(64)];
                for i in ids {
                    bits[i / 64] |= 1 << (i % 64);
                }
                IfSet::Bits(bits.into())
            }
        }
    }

    fn contains(&self, id: Option<u16>) -> bool {
        let Some(id) = id else { return false };
        match self {
            IfSet::Never => false,
            IfSet::One(one) => *one == id,
            IfSet::Bits(b) => {
                let i = id as usize;
                b.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
            }
        }
    }
}

/// A rule's matches, resolved: `(value, negated)`.
#[derive(Clone, Debug, Default)]
struct Match {
    src: Option<(AddrRange, bool)>,
    dst: Option<(AddrRange, bool)>,
    in_if: Option<(IfSet, bool)>,
    out_if: Option<(IfSet, bool)>,
    proto: Option<(u8, bool)>,
    sport: Option<(PortRange, bool)>,
    dport: Option<(PortRange, bool)>,
    icmp: Option<((u8, Option<u8>), bool)>,
    ctstate: Option<(u8, bool)>,
    ctorigdst: Option<(AddrRange, bool)>,
    ctorigdstport: Option<(PortRange, bool)>,
    /// `negated` of `--src-type LOCAL`.
    src_local: Option<bool>,
    dst_local: Option<bool>,
    mark: Option<((u32, u32), bool)>,
    multiport: Option<(Vec<PortRange>, bool)>,
}

fn resolve<T, U>(m: &Option<Neg<T>>, f: impl FnOnce(&T) -> U) -> Option<(U, bool)> {
    m.as_ref().map(|n| (f(&n.value), n.negated))
}

fn test<T>(m: &Option<(T, bool)>, f: impl FnOnce(&T) -> bool) -> bool {
    match m {
        None => true,
        Some((v, negated)) => f(v) != *negated,
    }
}

impl Match {
    fn is_empty(&self) -> bool {
        let Match {
            src,
            dst,
            in_if,
            out_if,
            proto,
            sport,
            dport,
            icmp,
            ctstate,
            ctorigdst,
            ctorigdstport,
            src_local,
            dst_local,
            mark,
            multiport,
        } = self;
        src.is_none()
            && dst.is_none()
            && in_if.is_none()
            && out_if.is_none()
            && proto.is_none()
            && sport.is_none()
            && dport.is_none()
            && icmp.is_none()
            && ctstate.is_none()
            && ctorigdst.is_none()
            && ctorigdstport.is_none()
            && src_local.is_none()
            && dst_local.is_none()
            && mark.is_none()
            && multiport.is_none()
    }

    fn new(r: &Rule, names: &[&str], ifsets: &mut HashMap<String, IfSet>) -> Self {
        let mut ifset = |p: &String| {
            ifsets
                .entry(p.clone())
                .or_insert_with(|| IfSet::new(p, names))
                .clone()
        };
        Match {
            src: resolve(&r.src, AddrRange::new),
            dst: resolve(&r.dst, AddrRange::new),
            in_if: resolve(&r.in_if, &mut ifset),
            out_if: resolve(&r.out_if, &mut ifset),
            proto: resolve(&r.proto, |p| p.number()),
            sport: resolve(&r.sport, |p| *p),
            dport: resolve(&r.dport, |p| *p),
            icmp: resolve(&r.icmp_type, |t| *t),
            ctstate: resolve(&r.ctstate, |s| s.0),
            ctorigdst: resolve(&r.ctorigdst, AddrRange::new),
            ctorigdstport: resolve(&r.ctorigdstport, |p| *p),
            src_local: r.src_local.as_ref().map(|n| n.negated),
            dst_local: r.dst_local.as_ref().map(|n| n.negated),
            mark: resolve(&r.mark, |m| *m),
            multiport: resolve(&r.multiport, Clone::clone),
        }
    }

    fn holds(&self, p: &Packet) -> bool {
        let l4 = matches!(p.proto, 6 | 17);
        test(&self.src, |n| n.contains(p.src))
            && test(&self.dst, |n| n.contains(p.dst))
            && test(&self.in_if, |s| s.contains(p.in_if))
            && test(&self.out_if, |s| s.contains(p.out_if))
            && test(&self.proto, |&n| n == p.proto)
            && test(&self.sport, |r| l4 && r.contains(p.sport))
            && test(&self.dport, |r| l4 && r.contains(p.dport))
            && test(&self.icmp, |&(t, c)| {
                p.icmp
                    .is_some_and(|(pt, pc)| pt == t && c.is_none_or(|c| c == pc))
            })
            && test(&self.ctstate, |&s| s & p.ctstate.0 != 0)
            && test(&self.ctorigdst, |n| n.contains(p.ct_orig_dst))
            && test(&self.ctorigdstport, |r| r.contains(p.ct_orig_dport))
            && self.src_local.is_none_or(|neg| p.src_local != neg)
            && self.dst_local.is_none_or(|neg| p.dst_local != neg)
            && test(&self.mark, |&(v, m)| p.mark & m == v)
            && test(&self.multiport, |l| l4 && l.iter().any(|r| r.contains(p.dport)))
    }
}

/// Dimensions a classifier can index, at most one of each.
const MAX_DIMS: usize = 8;

/// How a packet's value in one dimension becomes a class.
#[derive(Clone, Debug)]
enum Key {
    /// Class = the id below `n`, or `n` for none (or an unknown id).
    InIf(u32),
    OutIf(u32),
    /// Class = the byte.
    Proto,
    CtState,
    /// Class = index of the last start <= port for TCP/UDP, `len()` otherwise.
    Sport(Cuts<u16>),
    Dport(Cuts<u16>),
    /// Class = index among IPv4 starts, or the IPv4 count + index among IPv6 starts.
    Src(Cuts<u32>, Cuts<u128>),
    Dst(Cuts<u32>, Cuts<u128>),
}

impl Key {
    #[inline]
    fn class(&self, p: &Packet) -> usize {
        match self {
            Key::InIf(n) => iface_class(p.in_if, *n),
            Key::OutIf(n) => iface_class(p.out_if, *n),
            Key::Proto => p.proto as usize,
            Key::CtState => p.ctstate.0 as usize,
            Key::Sport(s) => port_class(s, p.proto, p.sport),
            Key::Dport(s) => port_class(s, p.proto, p.dport),
            Key::Src(v4, v6) => addr_class(v4, v6, p.src),
            Key::Dst(v4, v6) => addr_class(v4, v6, p.dst),
        }
    }
}

fn iface_class(id: Option<u16>, n: u32) -> usize {
    match id {
        Some(i) if u32::from(i) < n => i as usize,
        _ => n as usize,
    }
}

/// Index of the class (sorted starts, the first 0) holding `v`.
fn class_of<T: Ord + Copy>(starts: &[T], v: T) -> usize {
    starts.partition_point(|&s| s <= v).saturating_sub(1)
}

fn port_class(starts: &Cuts<u16>, proto: u8, port: u16) -> usize {
    if matches!(proto, 6 | 17) {
        starts.class(port)
    } else {
        starts.len()
    }
}

fn addr_class(v4: &Cuts<u32>, v6: &Cuts<u128>, a: IpAddr) -> usize {
    match a {
        IpAddr::V4(a) => v4.class(u32::from(a)),
        IpAddr::V6(a) => v4.len() + v6.class(u128::from(a)),
    }
}

/// Sorted class starts (the first 0) with a bucket index over them, so that finding a
/// value's class is a table look-up and a search among a few starts rather than a
/// binary search over all of them.
#[derive(Clone, Debug)]
struct Cuts<T> {
    starts: Box<[T]>,
    /// The first start after 0: bucket `b` covers `lo + (b << shift)` onwards.
    lo: u128,
    shift: u32,
    /// Per bucket, the class of its first value; one more entry closes the last.
    hint: Box<[u32]>,
}

/// Fewer starts than this are searched directly.
const CUTS_DIRECT: usize = 8;

impl<T: Copy + Ord + Into<u128>> Cuts<T> {
    /// `starts` sorted, deduplicated, beginning with 0.
    fn new(starts: Vec<T>) -> Self {
        let (lo, shift, hint) = match (starts.get(1), starts.last()) {
            (Some(&first), Some(&last)) if starts.len() >= CUTS_DIRECT => {
                let (lo, hi): (u128, u128) = (first.into(), last.into());
                // About two buckets per start over [lo, hi].
                let want = (2 * starts.len()).next_power_of_two().trailing_zeros();
                let bits = 128 - (hi - lo).leading_zeros();
                let shift = bits.saturating_sub(want);
                let buckets = ((hi - lo) >> shift) as usize + 1;
                let all: Vec<u128> = starts.iter().map(|&s| s.into()).collect();
                let hint = (0..=buckets)
                    .map(|b| {
                        let v = (b as u128)
                            .checked_mul(1 << shift)
                            .and_then(|o| lo.checked_add(o))
                            .unwrap_or(u128::MAX);
                        class_of(&all, v) as u32
                    })
                    .collect();
                (lo, shift, hint)
            }
            _ => (0, 0, Box::default()),
        };
        Cuts {
            starts: starts.into(),
            lo,
            shift,
            hint,
        }
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    /// The class holding `v`.
    #[inline]
    fn class(&self, v: T) -> usize {
        let x: u128 = v.into();
        if self.hint.is_empty() {
            return class_of(&self.starts, v);
        }
        if x < self.lo {
            return 0;
        }
        // Its class lies between the classes of the bucket's first value and the next's
        // (past the last bucket: between the last's and the last class).
        let bucket = usize::try_from((x - self.lo) >> self.shift)
            .ok()
            .and_then(|b| Some((*self.hint.get(b)?, *self.hint.get(b.checked_add(1)?)?)));
        let (a, z) = match bucket {
            Some((a, z)) => (a as usize, z as usize),
            None => (self.hint.last().map_or(0, |&a| a as usize), self.starts.len() - 1),
        };
        a + self.starts.get(a..=z).map_or(0, |s| class_of(s, v))
    }
}

/// Where a class's rule set is stored: `len` sorted rule indexes from `at` in
/// [`Classifier::idx`] (a sparse set), or, when `len` is [`DENSE`], `words` words of
/// bits from `at * words` in [`Classifier::bits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Loc {
    at: u32,
    len: u32,
}

/// [`Loc::len`] of a set stored as bits.
const DENSE: u32 = u32::MAX;

/// Rule sets of fewer words are all stored as bits: a few words cost little, and ANDing
/// them beats walking lists.
const SPARSE_MIN_WORDS: usize = 4;

impl Loc {
    const EMPTY: Loc = Loc { at: 0, len: 0 };

    #[inline(always)]
    fn is_dense(self) -> bool {
        self.len == DENSE
    }
}

#[derive(Clone, Debug)]
struct Dim {
    key: Key,
    /// Class → its rule set.
    set: Box<[Loc]>,
}

impl Dim {
    /// The packet's rule set in this dimension.
    #[inline(always)]
    fn loc(&self, pkt: &Packet) -> Loc {
        self.set.get(self.key.class(pkt)).copied().unwrap_or(Loc::EMPTY)
    }
}

/// The bit-vector classifier of one chain. A rule set with fewer members than twice
/// its number of words is kept as a sorted list of rule indexes (fewer bytes than its
/// bits) when the chain needs [`SPARSE_MIN_WORDS`] words or more, any other as bits;
/// identical sets are stored once. Memory is thus linear in
/// the rules for chains whose classes hold few rules each (one `-d` address per rule),
/// and a set of `n` bits per distinct set of many rules.
#[derive(Clone, Debug)]
struct Classifier {
    /// Words per dense rule set.
    words: usize,
    dims: Vec<Dim>,
    /// The distinct dense rule sets, `words` each.
    bits: Vec<u64>,
    /// The distinct sparse rule sets, each a sorted run of rule indexes.
    idx: Vec<u32>,
    /// Whether any set is sparse.
    sparse: bool,
}

impl Classifier {
    /// Indexes `rules` and strips the matches it covers from them; `None` (rules left
    /// untouched) when no rule constrains an indexed dimension.
    fn new(rules: &mut [CRule], names: usize) -> Option<Self> {
        let mut sets = Sets::new(rules.len());
        let mut dims = Vec::new();
        let names = names as u32;
        let n = names as usize;
        if let Some(set) = sets.discrete(rules, n + 1, |m| &m.in_if, |(s, _), c| s.contains(id(c, n))) {
            dims.push(Dim {
                key: Key::InIf(names),
                set,
            });
        }
        if let Some(set) = sets.discrete(rules, n + 1, |m| &m.out_if, |(s, _), c| s.contains(id(c, n))) {
            dims.push(Dim {
                key: Key::OutIf(names),
                set,
            });
        }
        if let Some(set) = sets.discrete(rules, 256, |m| &m.proto, |&(p, _), c| p as usize == c) {
            dims.push(Dim { key: Key::Proto, set });
        }
        if let Some(set) = sets.discrete(rules, 256, |m| &m.ctstate, |&(s, _), c| s as usize & c != 0) {
            dims.push(Dim {
                key: Key::CtState,
                set,
            });
        }
        if let Some((starts, set)) = sets.ports(rules, |m| &m.sport) {
            dims.push(Dim {
                key: Key::Sport(starts),
                set,
            });
        }
        if let Some((starts, set)) = sets.ports(rules, |m| &m.dport) {
            dims.push(Dim {
                key: Key::Dport(starts),
                set,
            });
        }
        if let Some((v4, v6, set)) = sets.addrs(rules, |m| &m.src) {
            dims.push(Dim {
                key: Key::Src(v4, v6),
                set,
            });
        }
        if let Some((v4, v6, set)) = sets.addrs(rules, |m| &m.dst) {
            dims.push(Dim {
                key: Key::Dst(v4, v6),
                set,
            });
        }
        if dims.is_empty() {
            return None;
        }
        // Each indexed dimension is exact (a class's set holds exactly the rules whose
        // match holds on it), so candidates need only the other matches checked.
        for r in rules.iter_mut() {
            r.m = Match {
                in_if: None,
                out_if: None,
                proto: None,
                ctstate: None,
                sport: None,
                dport: None,
                src: None,
                dst: None,
                ..std::mem::take(&mut r.m)
            };
            r.check = !r.m.is_empty();
        }
        // The sparsest dimension first: the AND of a word stops at the first zero, and
        // a candidate of a sparse walk fails the most selective test first.
        let density = |d: &Dim| -> u64 {
            let ones = d.set.iter().map(|&l| sets.ones(l));
            ones.sum::<u64>() / d.set.len().max(1) as u64
        };
        dims.sort_by_cached_key(density);
        let Sets { words, bits, idx, .. } = sets;
        Some(Classifier {
            sparse: dims.iter().any(|d| d.set.iter().any(|l| !l.is_dense())),
            words,
            dims,
            bits,
            idx,
        })
    }

    /// Dense set `l`'s words from word `w0` on.
    #[inline(always)]
    fn dense(&self, l: Loc, w0: usize) -> &[u64] {
        let at = l.at as usize * self.words;
        self.bits.get(at + w0..at + self.words).unwrap_or_default()
    }

    /// Sparse set `l`'s rule indexes.
    #[inline(always)]
    fn list(&self, l: Loc) -> &[u32] {
        let at = l.at as usize;
        self.idx.get(at..at + l.len as usize).unwrap_or_default()
    }

    /// Whether rule `k` is in set `l`.
    #[inline(always)]
    fn has(&self, l: Loc, k: u32) -> bool {
        if l.is_dense() {
            let i = l.at as usize * self.words + (k / 64) as usize;
            self.bits.get(i).is_some_and(|w| (w >> (k % 64)) & 1 == 1)
        } else {
            self.list(l).binary_search(&k).is_ok()
        }
    }

    #[inline]
    fn next_match(&self, rules: &[CRule], from: usize, pkt: &Packet) -> Option<usize> {
        if self.sparse {
            return self.next_match_sparse(rules, from, pkt);
        }
        let w0 = from / 64;
        self.and_scan(rules, from, pkt, &self.dims, |d: &Dim| self.dense(d.loc(pkt), w0))
    }

    /// [`Self::next_match`] of a chain whose classes may have sparse sets.
    #[inline(never)]
    fn next_match_sparse(&self, rules: &[CRule], from: usize, pkt: &Packet) -> Option<usize> {
        let dims = &self.dims[..self.dims.len().min(MAX_DIMS)];
        let w0 = from / 64;
        let mut locs = [Loc::EMPTY; MAX_DIMS];
        // The shortest sparse set among the packet's, if any.
        let mut short: Option<usize> = None;
        for (i, d) in dims.iter().enumerate() {
            let l = d.loc(pkt);
            locs[i] = l;
            if !l.is_dense() && short.is_none_or(|s| l.len < locs[s].len) {
                short = Some(i);
            }
        }
        let locs = &locs[..dims.len()];
        let Some(s) = short else {
            return self.and_scan(rules, from, pkt, locs, |l: &Loc| self.dense(*l, w0));
        };
        // Its members from `from` on, in order, are the only candidates.
        let list = self.list(locs[s]);
        let start = list.partition_point(|&k| (k as usize) < from);
        'next: for &k in &list[start..] {
            for (i, &l) in locs.iter().enumerate() {
                if i != s && !self.has(l, k) {
                    continue 'next;
                }
            }
            if rules.get(k as usize).is_some_and(|r| r.holds(pkt)) {
                return Some(k as usize);
            }
        }
        None
    }

    /// The first rule at or after `from` in the AND of the dense sets `set` gives for
    /// `items` (one per dimension) whose remaining matches hold.
    #[inline(always)]
    fn and_scan<'a, T>(
        &'a self,
        rules: &[CRule],
        from: usize,
        pkt: &Packet,
        items: &[T],
        set: impl Fn(&T) -> &'a [u64],
    ) -> Option<usize> {
        let words = self.words;
        let w0 = from / 64;
        let shift = (from % 64) as u32;
        // One, two and three dimensions (most chains) as plain zipped slices.
        match items {
            [a] => scan(rules, pkt, w0, shift, set(a).iter().copied()),
            [a, b] => scan(
                rules,
                pkt,
                w0,
                shift,
                set(a).iter().zip(set(b)).map(|(x, y)| x & y),
            ),
            [a, b, c] => scan(
                rules,
                pkt,
                w0,
                shift,
                (set(a).iter().zip(set(b)).zip(set(c))).map(|((x, y), z)| x & y & z),
            ),
            items => {
                let mut sets: [&[u64]; MAX_DIMS] = [&[]; MAX_DIMS];
                for (s, t) in sets.iter_mut().zip(items) {
                    *s = set(t);
                }
                let sets = &sets[..items.len().min(MAX_DIMS)];
                scan(
                    rules,
                    pkt,
                    w0,
                    shift,
                    (0..words.saturating_sub(w0)).map(|j| {
                        let mut m = !0u64;
                        for s in sets {
                            m &= s.get(j).copied().unwrap_or(0);
                            if m == 0 {
                                break;
                            }
                        }
                        m
                    }),
                )
            }
        }
    }

    /// What the classifier stores, in 32-bit units: dense words, sparse indexes and the
    /// class tables.
    #[cfg(test)]
    fn stored(&self) -> usize {
        let classes: usize = self.dims.iter().map(|d| d.set.len()).sum();
        2 * self.bits.len() + self.idx.len() + 2 * classes
    }
}

/// The first rule whose bit is set in `words` (word `w0` onwards, bits below `shift`
/// of the first word ignored) and whose remaining matches hold.
#[inline]
fn scan(
    rules: &[CRule],
    pkt: &Packet,
    w0: usize,
    shift: u32,
    words: impl Iterator<Item = u64>,
) -> Option<usize> {
    let mut mask = !0u64 << shift;
    for (j, word) in words.enumerate() {
        let mut m = word & mask;
        mask = !0;
        while m != 0 {
            let k = (w0 + j) * 64 + m.trailing_zeros() as usize;
            if rules.get(k).is_some_and(|r| r.holds(pkt)) {
                return Some(k);
            }
            m &= m - 1;
        }
    }
    None
}

/// Class `c` of an interface dimension as a packet's id (`n`: none).
fn id(c: usize, n: usize) -> Option<u16> {
    (c < n).then_some(c as u16)
}

/// A hash of a set's stored form (`seed` tells sparse from dense).
fn mix(seed: u64, xs: impl Iterator<Item = u64>) -> u64 {
    xs.fold(seed, |h, x| {
        (h.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
    })
}

/// The distinct rule sets of one classifier, interned. Sets are found by a hash of
/// their stored form and compared against the store, so nothing is kept twice.
struct Sets {
    words: usize,
    bits: Vec<u64>,
    idx: Vec<u32>,
    /// Hash → the last set stored with it.
    seen: HashMap<u64, u32>,
    /// Per set stored: where it is, and the set stored before it with the same hash.
    all: Vec<(Loc, Option<u32>)>,
    /// The set being interned, as rule indexes.
    scratch: Vec<u32>,
}

impl Sets {
    fn new(rules: usize) -> Self {
        Sets {
            words: rules.div_ceil(64),
            bits: Vec::new(),
            idx: Vec::new(),
            seen: HashMap::new(),
            all: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Members of set `l`.
    fn ones(&self, l: Loc) -> u64 {
        if l.is_dense() {
            let at = l.at as usize * self.words;
            self.bits[at..at + self.words]
                .iter()
                .map(|w| u64::from(w.count_ones()))
                .sum()
        } else {
            u64::from(l.len)
        }
    }

    /// Stores set `s` of `ones` members unless an equal one is stored.
    fn intern(&mut self, s: &[u64], ones: usize) -> Loc {
        // Sparse when its indexes take fewer bytes than its bits (and their store stays
        // addressable by a u32).
        let sparse = self.words >= SPARSE_MIN_WORDS
            && ones * 32 < self.words * 64
            && self.idx.len() + ones < DENSE as usize;
        let h = if sparse {
            self.scratch.clear();
            for (j, &w) in s.iter().enumerate() {
                if self.scratch.len() == ones {
                    break;
                }
                let mut m = w;
                while m != 0 {
                    self.scratch.push(j as u32 * 64 + m.trailing_zeros());
                    m &= m - 1;
                }
            }
            mix(1, self.scratch.iter().map(|&k| u64::from(k)))
        } else {
            mix(2, s.iter().copied())
        };
        let head = self.seen.get(&h).copied();
        let mut at = head;
        while let Some(i) = at {
            let (l, before) = self.all[i as usize];
            let same = if sparse {
                let a = l.at as usize;
                !l.is_dense() && self.idx[a..a + l.len as usize] == self.scratch[..]
            } else {
                let a = l.at as usize * self.words;
                l.is_dense() && self.bits[a..a + self.words] == *s
            };
            if same {
                return l;
            }
            at = before;
        }
        let l = if sparse {
            let l = Loc {
                at: self.idx.len() as u32,
                len: self.scratch.len() as u32,
            };
            self.idx.extend_from_slice(&self.scratch);
            l
        } else {
            let l = Loc {
                at: (self.bits.len() / self.words) as u32,
                len: DENSE,
            };
            self.bits.extend_from_slice(s);
            l
        };
        self.seen.insert(h, self.all.len() as u32);
        self.all.push((l, head));
        l
    }

    /// The rules that leave a dimension unconstrained, their count, and whether any
    /// rule constrains it.
    fn base<T>(&self, rules: &[CRule], get: impl Fn(&Match) -> &Option<T>) -> (Vec<u64>, usize, bool) {
        let mut base = vec![0u64; self.words];
        let mut ones = 0;
        for (k, r) in rules.iter().enumerate() {
            if get(&r.m).is_none() {
                base[k / 64] |= 1 << (k % 64);
                ones += 1;
            }
        }
        let any = ones < rules.len();
        (base, ones, any)
    }

    /// A dimension of `classes` values, each tested against each constraining rule.
    fn discrete<T>(
        &mut self,
        rules: &[CRule],
        classes: usize,
        get: impl Fn(&Match) -> &Option<(T, bool)>,
        hit: impl Fn(&(T, bool), usize) -> bool,
    ) -> Option<Box<[Loc]>> {
        let (base, base_ones, any) = self.base(rules, &get);
        if !any {
            return None;
        }
        let mut set = Vec::with_capacity(classes);
        let mut cur = base.clone();
        for c in 0..classes {
            cur.copy_from_slice(&base);
            let mut ones = base_ones;
            for (k, r) in rules.iter().enumerate() {
                if let Some(v) = get(&r.m)
                    && hit(v, c) != v.1
                {
                    cur[k / 64] |= 1 << (k % 64);
                    ones += 1;
                }
            }
            set.push(self.intern(&cur, ones));
        }
        Some(set.into())
    }

    /// A dimension of `classes` consecutive classes where each constraining rule's match
    /// holds on the classes `[a, b)` of `cover(rule)`, or off them when negated.
    fn sweep(
        &mut self,
        rules: &[CRule],
        classes: usize,
        (base, base_ones): (&[u64], usize),
        cover: impl Fn(&Match) -> Option<(usize, usize, bool)>,
    ) -> Box<[Loc]> {
        // (class, rule, on) events; sorted, a running set walks the classes once.
        let mut events: Vec<(usize, usize, bool)> = Vec::new();
        for (k, r) in rules.iter().enumerate() {
            let Some((a, b, negated)) = cover(&r.m) else {
                continue;
            };
            let spans = if negated {
                [(0, a), (b, classes)]
            } else {
                [(a, b), (0, 0)]
            };
            for (x, y) in spans {
                if x < y {
                    events.push((x, k, true));
                    events.push((y, k, false));
                }
            }
        }
        events.sort_unstable();
        let mut cur = base.to_vec();
        let mut ones = base_ones;
        let mut set = Vec::with_capacity(classes);
        let mut e = 0;
        for c in 0..classes {
            while let Some(&(at, k, on)) = events.get(e)
                && at == c
            {
                let (w, bit) = (&mut cur[k / 64], 1u64 << (k % 64));
                if on && *w & bit == 0 {
                    *w |= bit;
                    ones += 1;
                } else if !on && *w & bit != 0 {
                    *w &= !bit;
                    ones -= 1;
                }
                e += 1;
            }
            set.push(self.intern(&cur, ones));
        }
        set.into()
    }

    /// A port dimension: classes cut at every range's ends, then "not TCP/UDP".
    fn ports(
        &mut self,
        rules: &[CRule],
        get: impl Fn(&Match) -> &Option<(PortRange, bool)>,
    ) -> Option<(Cuts<u16>, Box<[Loc]>)> {
        let (base, base_ones, any) = self.base(rules, &get);
        if !any {
            return None;
        }
        let mut starts = vec![0u16];
        for r in rules {
            if let Some((p, _)) = get(&r.m)
                && p.lo <= p.hi
            {
                starts.push(p.lo);
                if let Some(end) = p.hi.checked_add(1) {
                    starts.push(end);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let l4 = starts.len();
        let set = self.sweep(rules, l4 + 1, (&base, base_ones), |m| {
            let &(p, negated) = get(m).as_ref()?;
            if p.lo > p.hi {
                // An empty range: never holds.
                return Some((0, 0, negated));
            }
            let a = starts.partition_point(|&s| s < p.lo);
            let b =
                p.hi.checked_add(1)
                    .map_or(l4, |e| starts.partition_point(|&s| s < e));
            Some((a, b, negated))
        });
        Some((Cuts::new(starts), set))
    }

    /// An address dimension: IPv4 classes cut at every IPv4 network's ends, then IPv6's.
    #[allow(clippy::type_complexity)]
    fn addrs(
        &mut self,
        rules: &[CRule],
        get: impl Fn(&Match) -> &Option<(AddrRange, bool)>,
    ) -> Option<(Cuts<u32>, Cuts<u128>, Box<[Loc]>)> {
        let (base, base_ones, any) = self.base(rules, &get);
        if !any {
            return None;
        }
        let (mut v4, mut v6) = (vec![0u32], vec![0u128]);
        for r in rules {
            match get(&r.m) {
                Some((AddrRange::V4(lo, hi), _)) => {
                    v4.push(*lo);
                    v4.extend(hi.checked_add(1));
                }
                Some((AddrRange::V6(lo, hi), _)) => {
                    v6.push(*lo);
                    v6.extend(hi.checked_add(1));
                }
                None => {}
            }
        }
        v4.sort_unstable();
        v4.dedup();
        v6.sort_unstable();
        v6.dedup();
        let (n4, n6) = (v4.len(), v6.len());
        let set = self.sweep(rules, n4 + n6, (&base, base_ones), |m| {
            let &(r, negated) = get(m).as_ref()?;
            let (a, b) = match r {
                AddrRange::V4(lo, hi) => (
                    v4.partition_point(|&s| s < lo),
                    hi.checked_add(1).map_or(n4, |e| v4.partition_point(|&s| s < e)),
                ),
                AddrRange::V6(lo, hi) => (
                    n4 + v6.partition_point(|&s| s < lo),
                    n4 + hi.checked_add(1).map_or(n6, |e| v6.partition_point(|&s| s < e)),
                ),
            };
            Some((a, b, negated))
        });
        Some((Cuts::new(v4), Cuts::new(v6), set))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;
    use crate::netfilter::eval::evaluate;
    use crate::netfilter::{CtStates, Proto, RejectWith, Table};

    /// Interface names (one twice, as a name table may hold a stale entry).
    const IFS: &[&str] = &[
        "eth0", "eth1", "veth0", "vethab", "br-1", "docker0", "veth0", "lo",
    ];
    const PATTERNS: &[&str] = &[
        "eth0", "eth+", "veth+", "veth0", "+", "br-1", "nope", "docker0", "lo", "vethab", "veth",
    ];
    const V4: &[[u8; 4]] = &[
        [10, 0, 0, 0],
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        [10, 0, 0, 5],
        [10, 0, 1, 1],
        [10, 1, 0, 1],
        [192, 168, 0, 1],
        [0, 0, 0, 0],
        [255, 255, 255, 255],
    ];
    const V6: &[u128] = &[
        0xfd00 << 112,
        (0xfd00 << 112) | 1,
        (0xfd00 << 112) | 2,
        (0xfd00_0001 << 96) | 1,
        0,
        u128::MAX,
    ];
    const PORTS: &[u16] = &[0, 1, 22, 79, 80, 81, 443, 1024, 8080, 65534, 65535];
    const PROTOS: &[u8] = &[6, 17, 1, 58, 47, 0, 255];
    /// Chains jumps may name: the user chains, built-ins, and one that never exists.
    const TARGETS: &[&str] = &["U0", "U1", "U2", "U3", "FORWARD", "PREROUTING", "MISSING"];
    /// Most rules a walk may visit in a generated ruleset (cycles grow exponentially).
    const WALK_LIMIT: u64 = 50_000;

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            select(V4).prop_map(|a| IpAddr::from(Ipv4Addr::from(a))),
            select(V6).prop_map(|a| IpAddr::from(Ipv6Addr::from(a))),
            // The address spaces of the long chains' narrow rules.
            (0..300u32).prop_map(|k| IpAddr::from(Ipv4Addr::new(10, 0, (k / 256) as u8 + 100, k as u8))),
            (0..1500u32).prop_map(|k| IpAddr::from(Ipv4Addr::new(10, 1, (k / 256) as u8, k as u8))),
            (0..300u128).prop_map(|k| IpAddr::from(Ipv6Addr::from((0xfd00_0002 << 96) | k))),
        ]
    }

    fn net() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (select(V4), select(&[0u8, 8, 16, 24, 30, 31, 32][..])).prop_map(|(a, p)| IpNet::new(
                Ipv4Addr::from(a).into(),
                p
            )
            .expect("prefix fits")),
            (select(V6), select(&[0u8, 16, 64, 126, 127, 128][..])).prop_map(|(a, p)| IpNet::new(
                Ipv6Addr::from(a).into(),
                p
            )
            .expect("prefix fits")),
        ]
    }

    fn neg<T: std::fmt::Debug + Clone>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<Neg<T>>> {
        prop_oneof![
            3 => Just(None),
            1 => (s, any::<bool>()).prop_map(|(value, negated)| Some(Neg { value, negated })),
        ]
    }

    fn ports() -> impl Strategy<Value = PortRange> {
        prop_oneof![
            9 => (select(PORTS), select(PORTS)).prop_map(|(a, b)| PortRange { lo: a.min(b), hi: a.max(b) }),
            // Reversed ranges match nothing; the classifier must agree.
            1 => (select(PORTS), select(PORTS)).prop_map(|(lo, hi)| PortRange { lo, hi }),
        ]
    }

    fn proto() -> impl Strategy<Value = Proto> {
        select(
            &[
                Proto::Tcp,
                Proto::Udp,
                Proto::Icmp,
                Proto::Icmpv6,
                Proto::Num(47),
                Proto::Num(0),
                Proto::Num(255),
            ][..],
        )
    }

    fn states() -> impl Strategy<Value = CtStates> {
        prop_oneof![3 => (1..32u8).prop_map(CtStates), 1 => any::<u8>().prop_map(CtStates)]
    }

    fn target() -> impl Strategy<Value = Option<Target>> {
        prop_oneof![
            3 => Just(Some(Target::Accept)),
            3 => Just(Some(Target::Drop)),
            2 => Just(Some(Target::Return)),
            1 => Just(Some(Target::Reject(RejectWith::TcpReset))),
            3 => select(TARGETS).prop_map(|c| Some(Target::Jump(c.into()))),
            1 => (addr(), prop::option::of(ports())).prop_map(|(addr, port)| Some(Target::Dnat { addr, port })),
            1 => addr().prop_map(|addr| Some(Target::Snat { addr })),
            1 => Just(Some(Target::Masquerade)),
            1 => Just(None),
        ]
    }

    fn rule() -> impl Strategy<Value = Rule> {
        let ifs = || neg(select(PATTERNS).prop_map(String::from));
        (
            (neg(net()), neg(net()), ifs(), ifs(), neg(proto())),
            (
                neg(ports()),
                neg(ports()),
                neg((0..3u8, prop::option::of(0..3u8))),
            ),
            (
                neg(states()),
                neg(net()),
                neg(ports()),
                neg(Just(())),
                neg(Just(())),
            ),
            (
                target(),
                any::<bool>(),
                neg(select(&[(0x2000u32, 0x2000u32), (0, 0x2000), (1, 1)][..])),
                neg(prop::collection::vec(ports(), 1..4)),
            ),
        )
            .prop_map(
                |(
                    (src, dst, in_if, out_if, proto),
                    (sport, dport, icmp_type),
                    (ctstate, ctorigdst, ctorigdstport, src_local, dst_local),
                    (target, bare, mark, multiport),
                )| {
                    // Half the jumps match everything, so that cycles reach the depth limit.
                    if let (true, Some(Target::Jump(j))) = (bare, &target) {
                        return Rule::jump(Target::Jump(j.clone()));
                    }
                    Rule {
                        src,
                        dst,
                        in_if,
                        out_if,
                        proto,
                        sport,
                        dport,
                        icmp_type,
                        ctstate,
                        ctorigdst,
                        ctorigdstport,
                        src_local,
                        dst_local,
                        target,
                        mark,
                        multiport,
                        ..Rule::default()
                    }
                },
            )
    }

    /// A long chain: rules drawn from a pool of 40, each mostly narrowed by a positive
    /// match on one of 300 IPv4 or IPv6 addresses or ports, or on an IPv4 address of its
    /// own (positive or negated), so that walks go deep before a rule matches and classes
    /// are stored both sparse and dense. (Drawing from a pool keeps 1,500-rule chains
    /// cheap to generate.)
    fn long_chain() -> impl Strategy<Value = Vec<Rule>> {
        let picks = vec((0..40usize, 0..10u8, 0..300u16), 0..1500);
        (vec(rule(), 40), picks, 0..3u8).prop_map(|(pool, picks, mode)| {
            picks
                .into_iter()
                .enumerate()
                .map(|(at, (i, how, k))| {
                    // Mode 1: (almost) every rule has an address of its own, so that the
                    // `-d` classes hold few rules.
                    let how = match mode {
                        0 => how % 6,
                        1 if how == 9 && k < 3 => 9,
                        1 => 6,
                        _ => how,
                    };
                    let mut r = pool[i].clone();
                    let host = Ipv4Addr::new(10, 0, (k / 256) as u8 + 100, k as u8);
                    // An address of its own per rule (Docker's raw PREROUTING: one `-d`
                    // per container): classes of one rule, stored sparse; negated, classes
                    // of all rules but one, stored dense.
                    let own = Ipv4Addr::new(10, 1, (at / 256) as u8, at as u8);
                    match how {
                        6..=8 => r.dst = Some(Neg::is(IpNet::new(own.into(), 32).expect("prefix fits"))),
                        9 => {
                            r.dst = Some(Neg {
                                value: IpNet::new(own.into(), 32).expect("prefix fits"),
                                negated: true,
                            })
                        }
                        0 => r.src = Some(Neg::is(IpNet::new(host.into(), 32).expect("prefix fits"))),
                        1 => r.dst = Some(Neg::is(IpNet::new(host.into(), 31).expect("prefix fits"))),
                        2 => r.dport = Some(Neg::is(PortRange::one(1000 + k))),
                        4 => {
                            let v6 = Ipv6Addr::from((0xfd00_0002 << 96) | u128::from(k));
                            let prefix = if k % 3 == 0 { 126 } else { 128 };
                            r.src = Some(Neg::is(IpNet::new(v6.into(), prefix).expect("prefix fits")));
                        }
                        3 => {
                            r.sport = Some(Neg::is(PortRange {
                                lo: 1000 + k,
                                hi: 1002 + k,
                            }))
                        }
                        _ => {}
                    }
                    r
                })
                .collect()
        })
    }

    fn packet() -> impl Strategy<Value = Packet> {
        let iface = || prop::option::of(0..=IFS.len() as u16);
        let port = || prop_oneof![select(PORTS), 1000..1300u16];
        (
            (iface(), iface(), addr(), addr(), select(PROTOS)),
            (port(), port(), prop::option::of((0..3u8, 0..3u8))),
            (states(), addr(), port(), any::<bool>(), any::<bool>()),
            select(&[0u32, 0x2000, 0x2001, 1][..]),
        )
            .prop_map(
                |(
                    (in_if, out_if, src, dst, proto),
                    (sport, dport, icmp),
                    (ctstate, ct_orig_dst, ct_orig_dport, src_local, dst_local),
                    mark,
                )| Packet {
                    in_if,
                    out_if,
                    src,
                    dst,
                    proto,
                    sport,
                    dport,
                    icmp,
                    ctstate,
                    ct_orig_dst,
                    ct_orig_dport,
                    src_local,
                    dst_local,
                    mark,
                },
            )
    }

    /// Random policies, up to four user chains, 0..12 rules a chain, and sometimes one
    /// chain of 0..1,500 rules.
    fn ruleset() -> impl Strategy<Value = Ruleset> {
        let table = || (vec(any::<bool>(), 4), 0..=4usize, vec(vec(rule(), 0..12), 8));
        let long = prop::option::weighted(0.4, (0..3usize, 0..8usize, long_chain()));
        ((table(), table(), table()), long).prop_map(|((raw, nat, filter), long)| {
            let mut rs = Ruleset::default();
            for (id, (policies, users, rules)) in TableId::ALL.into_iter().zip([raw, nat, filter]) {
                let t = rs.table_mut(id);
                for u in 0..users {
                    t.chain_mut(&format!("U{u}"));
                }
                for (c, p) in t.chains.iter_mut().zip(policies) {
                    if c.policy.is_some() {
                        c.policy = Some(p);
                    }
                }
                let n = t.chains.len();
                for (c, rules) in t.chains.iter_mut().zip(rules).take(n) {
                    c.rules = rules;
                }
            }
            if let Some((ti, ci, rules)) = long {
                let t = &mut rs.tables[ti];
                let ci = ci % t.chains.len();
                t.chains[ci].rules = rules;
            }
            for t in &mut rs.tables {
                tame(t);
            }
            rs
        })
    }

    /// The most rules a walk from any chain may visit (jumps descend while allowed),
    /// given each chain's length and the chains its jumps reach.
    fn walk_bound(lens: &[u64], jumps: &[Vec<usize>]) -> u64 {
        let mut deeper = vec![0u64; lens.len()];
        for depth in (1..=MAX_DEPTH).rev() {
            deeper = (0..lens.len())
                .map(|c| {
                    let below = jumps[c].iter().map(|&j| deeper[j]);
                    let below = if depth < MAX_DEPTH {
                        below.fold(0u64, u64::saturating_add)
                    } else {
                        0
                    };
                    lens[c].saturating_add(below)
                })
                .collect();
        }
        deeper.into_iter().max().unwrap_or(0)
    }

    /// Turns jumps into jumps to a missing chain, shortest chains first, until no walk
    /// can visit more than [`WALK_LIMIT`] rules.
    fn tame(t: &mut Table) {
        let find = |t: &Table, name: &str| t.chains.iter().position(|c| c.name == name);
        let lens: Vec<u64> = t.chains.iter().map(|c| c.rules.len() as u64).collect();
        // (rule, target chain) of every jump that descends, per chain.
        let mut jumps: Vec<Vec<(usize, usize)>> = t
            .chains
            .iter()
            .map(|c| {
                (c.rules.iter().enumerate())
                    .filter_map(|(k, r)| match &r.target {
                        Some(Target::Jump(j)) => Some((k, find(t, j)?)),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        let mut order: Vec<usize> = (0..t.chains.len()).collect();
        order.sort_by_key(|&c| lens[c]);
        for c in order {
            loop {
                let targets: Vec<Vec<usize>> = jumps
                    .iter()
                    .map(|j| j.iter().map(|&(_, t)| t).collect())
                    .collect();
                if walk_bound(&lens, &targets) <= WALK_LIMIT {
                    return;
                }
                let Some((k, _)) = jumps[c].pop() else { break };
                t.chains[c].rules[k].target = Some(Target::Jump("MISSING".into()));
            }
        }
    }

    proptest! {
        #![proptest_config(Config { cases: 256, ..Config::default() })]

        #[test]
        fn compiled_evaluation_is_the_direct_walks(rs in ruleset(), pkts in vec(packet(), 1..16)) {
            // Proves Compiled::evaluate gives the same verdict and names the same rule as
            // eval::evaluate for every table and hook: jumps (to missing chains, in
            // cycles up to the depth limit), RETURN, policies, every match kind with
            // negation, and long chains answered by the classifier. And that a hook
            // called trivial accepts by policy.
            let c = Compiled::new(&rs, IFS);
            for p in &pkts {
                for t in TableId::ALL {
                    for h in HOOKS {
                        let want = evaluate(&rs, IFS, t, h, p);
                        prop_assert_eq!(c.evaluate(t, h, p), want, "{:?} {:?} {:?}", t, h, p);
                        if c.is_trivial(t, h) {
                            prop_assert_eq!(want, ACCEPTED);
                        }
                    }
                }
            }
        }
    }

    /// Sorted, deduplicated starts beginning with 0, of values near the ends and from a
    /// small range, so that both the bucket index and its overflow at the top are used.
    fn starts<T: Ord + Copy + std::fmt::Debug>(
        value: impl Strategy<Value = T>,
        zero: T,
    ) -> impl Strategy<Value = Vec<T>> {
        vec(value, 0..60).prop_map(move |mut v| {
            v.push(zero);
            v.sort_unstable();
            v.dedup();
            v
        })
    }

    proptest! {
        #[test]
        fn bucket_indexes_find_the_class_a_binary_search_finds(
            s16 in prop_oneof![
                starts(prop_oneof![any::<u16>(), 0..40u16, Just(u16::MAX)], 0),
                starts(0..40u16, 0),
            ],
            s32 in prop_oneof![
                starts(prop_oneof![any::<u32>(), 0..40u32, Just(u32::MAX), Just(1)], 0),
                starts(0..40u32, 0),
            ],
            s128 in prop_oneof![
                starts(prop_oneof![any::<u128>(), 0..40u128, u128::MAX - 40.., Just(1)], 0),
                starts(0..40u128, 0),
                starts(u128::MAX - 40.., 0),
            ],
            probes in vec((any::<u128>(), 0..40u128, any::<bool>()), 1..40),
        ) {
            // Proves Cuts::class is class_of over the same starts, for any spread of
            // starts (ports, IPv4, IPv6 up to the last address) and any value.
            let (c16, c32, c128) = (Cuts::new(s16.clone()), Cuts::new(s32.clone()), Cuts::new(s128.clone()));
            for (x, near, top) in probes {
                let v = if top { u128::MAX - near } else { x };
                prop_assert_eq!(c16.class(v as u16), class_of(&s16, v as u16));
                prop_assert_eq!(c16.class(near as u16), class_of(&s16, near as u16));
                prop_assert_eq!(c32.class(v as u32), class_of(&s32, v as u32));
                prop_assert_eq!(c32.class(near as u32), class_of(&s32, near as u32));
                prop_assert_eq!(c128.class(v), class_of(&s128, v));
                prop_assert_eq!(c128.class(near), class_of(&s128, near));
                // Values whose bucket number does not fit a usize.
                let far = (near << 64).checked_shl(c128.shift).and_then(|o| c128.lo.checked_add(o));
                if let Some(far) = far {
                    prop_assert_eq!(c128.class(far), class_of(&s128, far));
                }
            }
        }
    }

    #[test]
    fn the_generated_cases_reach_what_the_property_is_about() {
        // Proves the property above is not vacuous: among generated cases, decisions come
        // from rules deep in classified chains (past the first 64), from user chains
        // reached by jumps, from DROP policies and from DNAT port ranges, and classifiers
        // look addresses up through bucket indexes of both families, and classifiers keep
        // many sets sparse next to dense ones.
        let mut runner = TestRunner::deterministic();
        let strategy = (ruleset(), vec(packet(), 16));
        let (mut deep, mut jumped, mut policy_drop, mut dnat_range, mut bucketed) = (0, 0, 0, 0, 0);
        let mut mixed = 0;
        for _ in 0..100 {
            let (rs, pkts) = strategy.new_tree(&mut runner).expect("a case").current();
            let c = Compiled::new(&rs, IFS);
            let indexes = c.tables.iter().flat_map(|t| &t.chains).flat_map(|c| &c.index);
            mixed += indexes
                .clone()
                .filter(|i| i.idx.len() > 100 && !i.bits.is_empty())
                .count();
            let dims = indexes.flat_map(|i| &i.dims);
            bucketed += dims
                .filter(|d| matches!(&d.key, Key::Src(v4, v6) if !v4.hint.is_empty() && !v6.hint.is_empty()))
                .count();
            for p in &pkts {
                for t in TableId::ALL {
                    for h in HOOKS {
                        let d = c.evaluate(t, h, p);
                        let tab = &c.tables[t as usize];
                        match d.by {
                            None if d.verdict == Verdict::Drop => policy_drop += 1,
                            None => {}
                            Some(r) => {
                                let chain = &tab.chains[r.chain as usize];
                                if chain.index.is_some() && r.rule >= 64 {
                                    deep += 1;
                                }
                                if Some(u32::from(r.chain)) != tab.start[h as usize] {
                                    jumped += 1;
                                }
                                if matches!(d.verdict, Verdict::Dnat { port: Some(_), .. }) {
                                    dnat_range += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(deep > 10, "{deep} decisions deep in classified chains");
        assert!(bucketed > 5, "{bucketed} source dimensions with bucket indexes");
        assert!(mixed > 5, "{mixed} classifiers with both sparse and dense sets");
        assert!(jumped > 100, "{jumped} decisions in jumped-to chains");
        assert!(policy_drop > 100, "{policy_drop} policy drops");
        assert!(dnat_range > 10, "{dnat_range} DNATs with a port");
    }

    #[test]
    fn a_jump_cycle_ends_at_the_same_depth() {
        // Proves the compiled walk stops descending at exactly the depth of the direct
        // walk: in `A: -j B, -j DROP` / `B: -j A, -j ACCEPT` the chain found at the
        // limit decides, so one level more or less would change the verdict.
        let mut rs = Ruleset::default();
        rs.append(TableId::Filter, "FORWARD", Rule::jump(Target::Jump("A".into())));
        rs.append(TableId::Filter, "A", Rule::jump(Target::Jump("B".into())));
        rs.append(TableId::Filter, "A", Rule::jump(Target::Drop));
        rs.append(TableId::Filter, "B", Rule::jump(Target::Jump("A".into())));
        rs.append(TableId::Filter, "B", Rule::jump(Target::Accept));
        let p = Packet {
            in_if: None,
            out_if: None,
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            dst: Ipv4Addr::new(10, 0, 0, 2).into(),
            proto: 6,
            sport: 1,
            dport: 2,
            icmp: None,
            ctstate: CtStates::NEW,
            ct_orig_dst: Ipv4Addr::new(10, 0, 0, 2).into(),
            ct_orig_dport: 2,
            src_local: false,
            dst_local: false,
            mark: 0,
        };
        let want = evaluate(&rs, IFS, TableId::Filter, Hook::Forward, &p);
        assert!(want.by.is_some_and(|r| r.rule == 1), "{want:?}");
        let c = Compiled::new(&rs, IFS);
        assert_eq!(c.evaluate(TableId::Filter, Hook::Forward, &p), want);
    }

    #[test]
    fn a_long_chain_gets_a_classifier_and_keeps_rule_order() {
        // Proves a chain past LINEAR_MAX is indexed and still first-match: of 1,000
        // `-s 10.X.Y.0/24 -j DROP` rules and a later broader `-s 10.0.0.0/8 -j ACCEPT`,
        // a packet from 10.3.7.9 is dropped by rule 3*256+7 (0-based), one from 10.9.9.9
        // accepted by the broad rule, and one from elsewhere gets the policy.
        let mut rs = Ruleset::default();
        for k in 0..1000u32 {
            let net = IpNet::new(Ipv4Addr::new(10, (k / 256) as u8, k as u8, 0).into(), 24).expect("prefix");
            let r = Rule {
                src: Some(Neg::is(net)),
                ..Rule::jump(Target::Drop)
            };
            rs.append(TableId::Filter, "DOCKER-USER", r);
        }
        let broad = Rule {
            src: Some(Neg::is("10.0.0.0/8".parse().expect("net"))),
            ..Rule::jump(Target::Accept)
        };
        rs.append(TableId::Filter, "DOCKER-USER", broad);
        rs.append(
            TableId::Filter,
            "FORWARD",
            Rule::jump(Target::Jump("DOCKER-USER".into())),
        );
        rs.table_mut(TableId::Filter).chain_mut("FORWARD").policy = Some(false);
        let c = Compiled::new(&rs, IFS);
        let user = rs
            .table(TableId::Filter)
            .chains
            .iter()
            .position(|c| c.name == "DOCKER-USER");
        let user = user.expect("chain") as u16;
        assert!(
            c.tables[TableId::Filter as usize].chains[user as usize]
                .index
                .is_some()
        );
        let from = |a: [u8; 4]| Packet {
            in_if: Some(0),
            out_if: Some(1),
            src: Ipv4Addr::from(a).into(),
            dst: Ipv4Addr::new(192, 0, 2, 1).into(),
            proto: 6,
            sport: 1,
            dport: 2,
            icmp: None,
            ctstate: CtStates::NEW,
            ct_orig_dst: Ipv4Addr::new(192, 0, 2, 1).into(),
            ct_orig_dport: 2,
            src_local: false,
            dst_local: false,
            mark: 0,
        };
        let by = |rule| {
            Some(RuleRef {
                table: TableId::Filter,
                chain: user,
                rule,
            })
        };
        for (a, verdict, rule) in [
            ([10, 3, 7, 9], Verdict::Drop, by(3 * 256 + 7)),
            ([10, 9, 9, 9], Verdict::Accept, by(1000)),
            ([192, 168, 0, 1], Verdict::Drop, None),
        ] {
            let d = c.evaluate(TableId::Filter, Hook::Forward, &from(a));
            assert_eq!(d, Decision { verdict, by: rule }, "from {a:?}");
            assert_eq!(d, evaluate(&rs, IFS, TableId::Filter, Hook::Forward, &from(a)));
        }
        assert!(!c.is_trivial(TableId::Filter, Hook::Forward));
        assert!(c.is_trivial(TableId::Filter, Hook::Input));
        assert!(c.is_trivial(TableId::Raw, Hook::Forward));
    }

    #[test]
    fn a_rule_per_container_address_compiles_to_memory_linear_in_the_rules() {
        // Proves issue 11's memory fix: Docker's raw PREROUTING holds one
        // `-d <container>/32 ! -i <bridge> -j DROP` per container endpoint; for 50,000 of
        // them the classifier stores under 8 32-bit units per rule (dense bit sets, one of
        // 50,000 bits per distinct class set, stored 2 × 782 × 50,000 units), and the
        // compiled walk still names the rule of the packet's address.
        const N: u32 = 50_000;
        let base = u32::from(Ipv4Addr::new(172, 18, 0, 2));
        let mut rs = Ruleset::default();
        for k in 0..N {
            let net = IpNet::new(Ipv4Addr::from(base + k).into(), 32).expect("prefix");
            let r = Rule {
                dst: Some(Neg::is(net)),
                in_if: Some(Neg {
                    value: "br-1".into(),
                    negated: true,
                }),
                ..Rule::jump(Target::Drop)
            };
            rs.append(TableId::Raw, "PREROUTING", r);
        }
        let c = Compiled::new(&rs, IFS);
        let raw = &c.tables[TableId::Raw as usize];
        let pre = raw.start[Hook::Prerouting as usize].expect("PREROUTING");
        let ix = raw.chains[pre as usize].index.as_ref().expect("a classifier");
        assert!(
            ix.stored() < 8 * N as usize,
            "{} units stored for {N} rules",
            ix.stored()
        );
        let to = |dst: u32, in_if| Packet {
            in_if: Some(in_if),
            out_if: None,
            src: Ipv4Addr::new(192, 0, 2, 1).into(),
            dst: Ipv4Addr::from(dst).into(),
            proto: 6,
            sport: 1,
            dport: 2,
            icmp: None,
            ctstate: CtStates::NEW,
            ct_orig_dst: Ipv4Addr::from(dst).into(),
            ct_orig_dport: 2,
            src_local: false,
            dst_local: false,
            mark: 0,
        };
        let dropped_by = |rule| Decision {
            verdict: Verdict::Drop,
            by: Some(RuleRef {
                table: TableId::Raw,
                chain: pre as u16,
                rule,
            }),
        };
        // From eth0 (id 0) to containers early, deep and last; from their bridge (id 4);
        // to an address no rule names.
        for (dst, in_if, want) in [
            (base + 7, 0, dropped_by(7)),
            (base + 31_337, 0, dropped_by(31_337)),
            (base + N - 1, 0, dropped_by(N as u16 - 1)),
            (base + 31_337, 4, ACCEPTED),
            (base + N, 0, ACCEPTED),
        ] {
            let p = to(dst, in_if);
            assert_eq!(c.evaluate(TableId::Raw, Hook::Prerouting, &p), want, "{p:?}");
            assert_eq!(
                evaluate(&rs, IFS, TableId::Raw, Hook::Prerouting, &p),
                want,
                "{p:?}"
            );
        }
    }
}
