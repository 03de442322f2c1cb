//! Name resolution inside a namespace, with real DNS packets: the stub resolver every
//! machine runs (glibc's `res_search`/`res_send`: search list, ndots, name servers
//! in turn, timeout and attempts), Docker's embedded DNS server at 127.0.0.11 in
//! containers on user-defined networks (answers from the directory, forwards the rest
//! upstream, SERVFAIL when upstream fails), and authoritative servers on machines that
//! serve records.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use netloom_core::{Ctx, DropReason, Frame, FrameId, SimTime, Stage};

use super::packet::udp;
use super::{Node, TOK_DNS};
use crate::dns::{
    self, Directory, EMBEDDED, EMBEDDED_TTL, FORWARD_TIMEOUT, Lookup, MAX_UPSTREAM, Message, QType, Rcode,
    ResolvConf, ZONE_TTL, Zone,
};
use crate::net::{self, IpInfo};

/// glibc uses at most three name servers (`MAXNS`).
const MAXNS: usize = 3;

/// The DNS roles of a namespace.
#[derive(Clone, Debug, Default)]
pub struct NodeDns {
    /// The stub resolver's `resolv.conf`. No name server at all stands for a world
    /// outside the lab that knows none of its names: lookups end in NXDOMAIN at once.
    pub resolv: ResolvConf,
    /// Docker's embedded DNS server (containers on user-defined networks).
    pub embedded: Option<Embedded>,
    /// Records this machine serves on UDP port 53 of its addresses.
    pub zone: Option<Zone>,
    /// Loopback addresses where a local caching stub listens (systemd-resolved's
    /// 127.0.0.53) whose upstreams lie outside the lab: it answers NXDOMAIN.
    pub stub_at: Vec<IpAddr>,
    /// Embedded servers this machine (a Docker host) runs on behalf of real containers
    /// under emulation, by the container's address: they answer on the host's own
    /// addresses (the network's gateway), as Podman's aardvark-dns does.
    pub proxied: std::collections::BTreeMap<IpAddr, Embedded>,
    /// `/etc/hosts` beyond localhost (`--add-host`, compose `extra_hosts`), in file
    /// order: glibc's `files` source, asked before DNS as `hosts: files dns` says.
    pub hosts: Vec<(String, IpAddr)>,
}

impl NodeDns {
    /// The `/etc/hosts` addresses of `name` (case-insensitive, a trailing dot ignored)
    /// of the asked families, in file order; empty when the file does not name it.
    pub fn hosts_lookup(&self, name: &str, v4: bool, v6: bool) -> Vec<IpAddr> {
        let name = name.strip_suffix('.').unwrap_or(name);
        self.hosts
            .iter()
            .filter(|(n, a)| n.eq_ignore_ascii_case(name) && ((a.is_ipv4() && v4) || (a.is_ipv6() && v6)))
            .map(|&(_, a)| a)
            .collect()
    }
}

/// Docker's embedded DNS server of one container.
#[derive(Clone, Debug)]
pub struct Embedded {
    /// What Docker knows: names per network, running containers.
    pub directory: Arc<Directory>,
    /// The container's networks (indices into the directory), in endpoint order.
    pub networks: Vec<usize>,
    /// Upstream servers for names Docker does not know (at most three are tried).
    pub upstream: Vec<IpAddr>,
    /// Loopback addresses of the host's own stub resolver: an upstream there is asked
    /// from the host's namespace (its upstreams lie outside the lab).
    pub host_stub: Vec<IpAddr>,
    /// The container set an ndots option: unknown single-label names stay local.
    pub ndots_set: bool,
    /// With no upstream server: `true` answers NXDOMAIN (no resolver was declared: the
    /// outside world knows none of the lab's names), `false` SERVFAIL (Docker 28 with
    /// an empty list: "no external nameservers defined").
    pub world: bool,
}

/// What Docker's embedded server does with a query, before any packet moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A container or alias of the asker's networks: these addresses (none: NOERROR
    /// without records).
    Found {
        /// Addresses of the asked family, in directory order.
        addrs: Vec<IpAddr>,
        /// The network that answered.
        network: String,
    },
    /// An unknown single-label name with ndots set: NOERROR, no answer.
    KeptLocal,
    /// Unknown, and no upstream server: NXDOMAIN when `world`, else SERVFAIL.
    NoUpstream {
        /// Whether the outside world stands for the missing resolver.
        world: bool,
    },
    /// Unknown: relay to the upstream servers.
    Forward,
}

impl Embedded {
    /// What the server does with `name` of type `qtype`, answering from `directory`
    /// (the lab's current one: containers that stopped are gone from it).
    pub fn verdict(&self, directory: &Directory, name: &str, qtype: QType) -> Verdict {
        let found = match qtype {
            QType::A | QType::Aaaa => directory.lookup(&self.networks, name, qtype),
            QType::Other(_) => Lookup::Unknown,
        };
        match found {
            Lookup::Found { addrs, network } => Verdict::Found { addrs, network },
            Lookup::Unknown
                if self.ndots_set && !name.contains('.') && matches!(qtype, QType::A | QType::Aaaa) =>
            {
                Verdict::KeptLocal
            }
            Lookup::Unknown if self.upstream.is_empty() => Verdict::NoUpstream { world: self.world },
            Lookup::Unknown => Verdict::Forward,
        }
    }
}

/// How a name lookup ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupOutcome {
    /// Addresses, in the order the answer gave them.
    Addresses(Vec<IpAddr>),
    /// No such name (every candidate got NXDOMAIN).
    NxDomain,
    /// The name exists but has no address of the asked families.
    NoData,
    /// The servers failed (SERVFAIL).
    ServFail,
    /// No answer came: timeouts, port unreachable, no route; the text says which.
    NoAnswer(String),
}

/// A stub resolver lookup (`getent ahosts NAME`) in progress or finished.
#[derive(Clone, Debug)]
pub struct LookupApp {
    /// The name asked for.
    pub name: String,
    /// The names tried, in order (search list and ndots applied).
    pub candidates: Vec<String>,
    /// One line per query and answer, for reports.
    pub log: Vec<String>,
    /// The frames of the lookup's queries.
    pub frames: Vec<FrameId>,
    /// The outcome, once known.
    pub outcome: Option<LookupOutcome>,
    /// When it started.
    pub started: SimTime,
    /// When the outcome was known.
    pub finished: Option<SimTime>,
    qtypes: Vec<QType>,
    /// The name servers, timeout and attempts of the resolv.conf it started with.
    servers: Vec<IpAddr>,
    timeout: netloom_core::SimDuration,
    attempts: u32,
    cand: usize,
    attempt: u32,
    server: usize,
    port: u16,
    /// The query ids of the current candidate, one per type: glibc sends the same
    /// query (same id) to every server and attempt, and takes a late answer.
    ids: Vec<(QType, u16)>,
    /// Bumped at every try; a refusal or a send loop of an older try is stale.
    generation: u32,
    refused_generation: Option<u32>,
    pending: Vec<(u16, QType, Option<Message>)>,
    deadline: Option<SimTime>,
    got_nodata: bool,
    got_servfail: bool,
    /// Per candidate: the worst failure of a try (timeout beats refused beats servfail).
    failed: Option<TryFail>,
    hint: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TryFail {
    ServFail,
    Refused(String),
    Timeout,
}

/// A query the embedded server relays upstream.
#[derive(Clone, Debug)]
pub(super) struct Forward {
    /// The address the client asked (127.0.0.11, or a gateway when proxied).
    server: IpAddr,
    client: (IpAddr, u16),
    query: Vec<u8>,
    client_id: u16,
    name: String,
    upstream: usize,
    port: u16,
    id: u16,
    deadline: Option<SimTime>,
}

/// Whether a lookup in progress or a forwarded query uses local UDP port `p`.
pub(super) fn dns_uses_port(lookups: &[LookupApp], forwards: &[Forward], p: u16) -> bool {
    lookups.iter().any(|l| l.port == p && l.outcome.is_none()) || forwards.iter().any(|f| f.port == p)
}

impl LookupApp {
    /// The longest the lookup can take: every candidate, attempt and server timing
    /// out (with glibc's growing per-server timeouts), plus slack for forwarding.
    pub fn worst_case(&self) -> netloom_core::SimDuration {
        let servers = self.servers.len().max(1) as u64;
        let per_attempt: u64 = (0..servers)
            .map(|n| {
                let t = self.timeout.as_nanos().saturating_mul(1 << n.min(8));
                if n > 0 { t / servers } else { t }.max(1_000_000_000)
            })
            .sum();
        let total = per_attempt
            .saturating_mul(self.attempts as u64)
            .saturating_mul(self.candidates.len().max(1) as u64);
        netloom_core::SimDuration::from_nanos(total.saturating_add(60_000_000_000))
    }
}

impl Node {
    /// Starts resolving `name` as `getent ahosts` does: A, and AAAA too when `v6`.
    /// `hint` is noted on the lookup's first query (why it may fail). Returns the
    /// lookup's index for [`Node::lookup`].
    pub fn start_lookup(&mut self, ctx: &mut Ctx<'_>, name: &str, v6: bool, hint: Option<String>) -> usize {
        let rc = &self.apps.dns.resolv;
        let servers: Vec<IpAddr> = rc.nameservers.iter().take(MAXNS).copied().collect();
        let (timeout, attempts) = (rc.timeout, rc.attempts);
        let mut qtypes = vec![QType::A];
        if v6 {
            qtypes.push(QType::Aaaa);
        }
        let app = LookupApp {
            name: name.to_string(),
            candidates: rc.candidates(name),
            log: Vec::new(),
            frames: Vec::new(),
            outcome: None,
            started: ctx.now(),
            finished: None,
            qtypes,
            servers,
            timeout,
            attempts,
            cand: 0,
            attempt: 0,
            server: 0,
            port: 0,
            ids: Vec::new(),
            generation: 0,
            refused_generation: None,
            pending: Vec::new(),
            deadline: None,
            got_nodata: false,
            got_servfail: false,
            failed: None,
            hint,
        };
        self.apps.lookups.push(app);
        let idx = self.apps.lookups.len() - 1;
        let from_file = self.apps.dns.hosts_lookup(name, true, v6);
        if !from_file.is_empty() {
            // `hosts: files dns`: /etc/hosts answers and DNS is never asked.
            let l = &mut self.apps.lookups[idx];
            let shown: Vec<String> = from_file.iter().map(ToString::to_string).collect();
            l.log.push(format!(
                "{}: /etc/hosts: {} (no DNS query)",
                l.name,
                shown.join(", ")
            ));
            l.outcome = Some(LookupOutcome::Addresses(from_file));
            l.finished = Some(ctx.now());
            return idx;
        }
        if self.apps.lookups[idx].servers.is_empty() {
            let l = &mut self.apps.lookups[idx];
            l.log.push(format!(
                "{}: the scenario declares no resolver for this machine; the world outside the lab knows \
                 no such name",
                l.name
            ));
            if let Some(h) = &l.hint {
                l.log.push(h.clone());
            }
            l.outcome = Some(LookupOutcome::NxDomain);
            l.finished = Some(ctx.now());
            return idx;
        }
        self.apps.lookups[idx].port = self.free_port(ctx);
        self.lookup_send(ctx, idx);
        self.arm_dns(ctx);
        idx
    }

    /// Lookup number `i`.
    pub fn lookup(&self, i: usize) -> Option<&LookupApp> {
        self.apps.lookups.get(i)
    }

    /// Takes finished lookup `i` out (the latest one; earlier indices stay valid).
    pub fn take_lookup(&mut self, i: usize) -> Option<LookupApp> {
        if i + 1 == self.apps.lookups.len() && self.apps.lookups[i].outcome.is_some() {
            self.apps.lookups.pop()
        } else {
            self.apps.lookups.get(i).cloned()
        }
    }

    /// A random unused local UDP port in Linux's ephemeral range.
    fn free_port(&mut self, ctx: &mut Ctx<'_>) -> u16 {
        loop {
            let p = 32768 + ctx.rng().below(61000 - 32768) as u16;
            let used = dns_uses_port(&self.apps.lookups, &self.apps.forwards, p)
                || self
                    .apps
                    .stack
                    .as_ref()
                    .is_some_and(|s| s.accepts(net::L4::Udp, IpAddr::from([0, 0, 0, 0]), p));
            if !used {
                return p;
            }
        }
    }

    /// Sends the current try of lookup `idx`: one query per type to the current server.
    fn lookup_send(&mut self, ctx: &mut Ctx<'_>, idx: usize) {
        loop {
            let Some(l) = self.apps.lookups.get(idx) else {
                return;
            };
            if l.outcome.is_some() {
                return;
            }
            let (Some(&server), Some(qname)) = (l.servers.get(l.server), l.candidates.get(l.cand).cloned())
            else {
                return;
            };
            let Some(src) = self.source_for(server) else {
                let l = &mut self.apps.lookups[idx];
                l.log
                    .push(format!("{qname}: sendto {server}: Network is unreachable"));
                if !self.lookup_next_try(ctx, idx, TryFail::Refused("network is unreachable".into())) {
                    return;
                }
                continue;
            };
            let l = &mut self.apps.lookups[idx];
            if l.ids.is_empty() {
                for qt in l.qtypes.clone() {
                    l.ids.push((qt, ctx.rng().below(65536) as u16));
                }
            }
            let mut queries = Vec::new();
            for &(qt, id) in &l.ids {
                let Some(q) = dns::query(id, &qname, qt) else {
                    l.log.push(format!("{qname}: not a valid domain name"));
                    self.lookup_finish(ctx, idx, LookupOutcome::NxDomain);
                    return;
                };
                queries.push((id, qt, q));
            }
            let port = l.port;
            let hint = if l.frames.is_empty() { l.hint.clone() } else { None };
            // glibc waits `timeout << n / servers` for server n > 0 (at least 1 s).
            let n = l.server as u32;
            let mut wait = l.timeout.as_nanos().saturating_mul(1 << n.min(8));
            if n > 0 {
                wait /= l.servers.len() as u64;
            }
            let wait = netloom_core::SimDuration::from_nanos(wait.max(1_000_000_000));
            // Every query of the try is pending (and the deadline set) before the first
            // leaves: over loopback the answer comes back while we are still sending.
            l.generation += 1;
            let generation = l.generation;
            l.pending = queries.iter().map(|(id, qt, _)| (*id, *qt, None)).collect();
            l.deadline = Some(ctx.now() + wait);
            for (id, qt, q) in queries {
                let pkt = udp(src, server, port, dns::PORT, self.next_ip_id(), &q);
                let frame = ctx.originate_about(Bytes::new(), &pkt);
                ctx.note(&frame, Stage::DnsResolve, || {
                    format!("query {} {qname}? to {server}:53 (id {id:#06x})", qt.name())
                });
                if let Some(h) = &hint {
                    ctx.note(&frame, Stage::DnsResolve, || h.clone());
                }
                self.apps.lookups[idx].frames.push(frame.id);
                self.send_originated(ctx, frame, pkt, None);
                // An answer or a refusal over loopback may have moved the lookup on.
                let l = &self.apps.lookups[idx];
                if l.generation != generation || l.outcome.is_some() {
                    return;
                }
            }
            return;
        }
    }

    /// Moves lookup `idx` past a failed try: the next server, then the next attempt,
    /// then (the candidate having failed) the next candidate or the end. Returns whether
    /// another try is due.
    fn lookup_next_try(&mut self, ctx: &mut Ctx<'_>, idx: usize, why: TryFail) -> bool {
        let l = &mut self.apps.lookups[idx];
        let (nscount, attempts) = (l.servers.len(), l.attempts);
        l.pending.clear();
        l.deadline = None;
        if l.failed.as_ref().is_none_or(|f| why > *f) {
            l.failed = Some(why);
        }
        l.server += 1;
        if l.server < nscount {
            return true;
        }
        l.server = 0;
        l.attempt += 1;
        if l.attempt < attempts {
            return true;
        }
        // Every server and attempt failed for this candidate (glibc's res_search: a
        // SERVFAIL moves on to the next search domain, a timeout or refusal ends it).
        match l.failed.take() {
            Some(TryFail::ServFail) | None => {
                l.got_servfail = true;
                self.lookup_next_candidate(ctx, idx)
            }
            Some(TryFail::Timeout) => {
                self.lookup_finish(
                    ctx,
                    idx,
                    LookupOutcome::NoAnswer("no name server answered (timed out)".into()),
                );
                false
            }
            Some(TryFail::Refused(why)) => {
                self.lookup_finish(
                    ctx,
                    idx,
                    LookupOutcome::NoAnswer(format!("no name server answered ({why})")),
                );
                false
            }
        }
    }

    fn lookup_next_candidate(&mut self, ctx: &mut Ctx<'_>, idx: usize) -> bool {
        let l = &mut self.apps.lookups[idx];
        l.cand += 1;
        l.attempt = 0;
        l.server = 0;
        l.ids.clear();
        l.failed = None;
        l.pending.clear();
        l.deadline = None;
        if l.cand < l.candidates.len() {
            return true;
        }
        let outcome = if l.got_servfail {
            LookupOutcome::ServFail
        } else if l.got_nodata {
            LookupOutcome::NoData
        } else {
            LookupOutcome::NxDomain
        };
        self.lookup_finish(ctx, idx, outcome);
        false
    }

    fn lookup_finish(&mut self, ctx: &mut Ctx<'_>, idx: usize, outcome: LookupOutcome) {
        let l = &mut self.apps.lookups[idx];
        l.outcome = Some(outcome);
        l.finished = Some(ctx.now());
        l.pending.clear();
        l.deadline = None;
    }

    /// An answer for lookup `idx`. Once every query of the try is answered, decides.
    fn lookup_answer(&mut self, ctx: &mut Ctx<'_>, idx: usize, from: IpAddr, m: Message) {
        let l = &mut self.apps.lookups[idx];
        let qname = l.candidates.get(l.cand).cloned().unwrap_or_default();
        let shown = if m.addrs.is_empty() {
            m.rcode.name()
        } else {
            m.addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        l.log
            .push(format!("{qname} {} from {from}: {shown}", m.qtype.name()));
        let Some(slot) = l
            .pending
            .iter_mut()
            .find(|(id, qt, a)| *id == m.id && *qt == m.qtype && a.is_none())
        else {
            return;
        };
        slot.2 = Some(m);
        if l.pending.iter().any(|(_, _, a)| a.is_none()) {
            return;
        }
        let answers: Vec<Message> = l.pending.drain(..).filter_map(|(_, _, a)| a).collect();
        l.deadline = None;
        let failed = answers
            .iter()
            .any(|a| !matches!(a.rcode, Rcode::NoError | Rcode::NxDomain));
        let again = if failed {
            // glibc: SERVFAIL, REFUSED and friends send the query to the next server.
            self.lookup_next_try(ctx, idx, TryFail::ServFail)
        } else if answers.iter().all(|a| a.rcode == Rcode::NxDomain) {
            self.lookup_next_candidate(ctx, idx)
        } else {
            let addrs: Vec<IpAddr> = answers.iter().flat_map(|a| a.addrs.iter().copied()).collect();
            if addrs.is_empty() {
                self.apps.lookups[idx].got_nodata = true;
                self.lookup_next_candidate(ctx, idx)
            } else {
                self.lookup_finish(ctx, idx, LookupOutcome::Addresses(addrs));
                false
            }
        };
        if again {
            self.lookup_send(ctx, idx);
        }
    }

    /// Takes a UDP datagram that belongs to a DNS role: a query to the embedded server
    /// or to this machine's zone, an answer to a lookup or to a forwarded query.
    /// Returns whether it was taken (and the frame's fate recorded).
    pub(super) fn dns_input(&mut self, ctx: &mut Ctx<'_>, frame: &Frame, pkt: &[u8], info: &IpInfo) -> bool {
        let t = info.tuple;
        let Some(payload) = pkt.get(info.header_len + 8..) else {
            return false;
        };
        let to_embedded = (t.dst == IpAddr::V4(EMBEDDED) && self.apps.dns.embedded.is_some())
            || (self.apps.dns.proxied.contains_key(&t.src) && self.is_local(t.dst));
        let to_stub = self.apps.dns.stub_at.contains(&t.dst);
        let to_zone = self.apps.dns.zone.is_some() && !t.dst.is_loopback();
        if t.dport == dns::PORT && (to_embedded || to_stub || to_zone) {
            let Some(q) = dns::parse(payload).filter(|m| !m.response) else {
                ctx.deliver(frame, || "not a DNS query: ignored by the name server".into());
                return true;
            };
            if to_embedded {
                self.serve_embedded(ctx, frame, t.dst, (t.src, t.sport), q);
            } else if to_stub {
                ctx.deliver(frame, || {
                    format!(
                        "{} {}? to the host's local stub resolver at {}: its upstreams are outside the \
                         lab, which knows no such name: NXDOMAIN",
                        q.qtype.name(),
                        q.name,
                        t.dst
                    )
                });
                let r = dns::reply(&q, Rcode::NxDomain, &[], 0, false);
                self.dns_send(ctx, (t.dst, dns::PORT), (t.src, t.sport), r, None);
            } else {
                self.serve_zone(ctx, frame, (t.dst, t.src, t.sport), q);
            }
            self.arm_dns(ctx);
            return true;
        }
        if t.sport != dns::PORT {
            return false;
        }
        let Some(m) = dns::parse(payload).filter(|m| m.response) else {
            return false;
        };
        if let Some(idx) = self
            .apps
            .lookups
            .iter()
            .position(|l| l.outcome.is_none() && l.port == t.dport)
        {
            if !self.apps.lookups[idx]
                .pending
                .iter()
                .any(|p| p.0 == m.id && p.2.is_none())
            {
                ctx.deliver(frame, || {
                    format!(
                        "late or unexpected answer for {} (id {:#06x}): ignored",
                        m.name, m.id
                    )
                });
                return true;
            }
            ctx.deliver(frame, || {
                format!(
                    "answer {} {}: {} ({} address(es))",
                    m.qtype.name(),
                    m.name,
                    m.rcode.name(),
                    m.addrs.len()
                )
            });
            self.lookup_answer(ctx, idx, t.src, m);
            self.arm_dns(ctx);
            return true;
        }
        if let Some(fi) = self
            .apps
            .forwards
            .iter()
            .position(|f| f.port == t.dport && f.id == m.id)
        {
            if matches!(m.rcode, Rcode::ServFail | Rcode::Refused) {
                // libnetwork tries the next upstream on SERVFAIL and REFUSED.
                ctx.deliver(frame, || {
                    format!(
                        "upstream {} answered {}: trying the next upstream",
                        t.src,
                        m.rcode.name()
                    )
                });
                self.apps.forwards[fi].upstream += 1;
                self.forward_send(ctx, fi);
                self.arm_dns(ctx);
                return true;
            }
            let f = self.apps.forwards.remove(fi);
            ctx.deliver(frame, || {
                format!(
                    "upstream {} answered {} {}: {}; relayed to {}",
                    t.src,
                    m.qtype.name(),
                    m.name,
                    m.rcode.name(),
                    net::sock(f.client.0, f.client.1)
                )
            });
            let mut bytes = payload.to_vec();
            dns::set_id(&mut bytes, f.client_id);
            self.dns_send(ctx, (f.server, dns::PORT), f.client, bytes, None);
            self.arm_dns(ctx);
            return true;
        }
        false
    }

    /// Docker's embedded server: names of the container's networks from the directory,
    /// NOERROR without records for a known name lacking the asked family, single-label
    /// unknown names kept local when the user set ndots, the rest relayed upstream.
    fn serve_embedded(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        server: IpAddr,
        client: (IpAddr, u16),
        q: Message,
    ) {
        let Some(emb) = self.embedded_for(server, client.0) else {
            return;
        };
        match emb.verdict(&emb.directory, &q.name, q.qtype) {
            Verdict::Found { mut addrs, network } => {
                // libnetwork shuffles several addresses (Fisher–Yates) for each answer.
                for i in (1..addrs.len()).rev() {
                    let j = ctx.rng().below(i as u64 + 1) as usize;
                    addrs.swap(i, j);
                }
                ctx.deliver(frame, || {
                    if addrs.is_empty() {
                        format!(
                            "embedded DNS: {} is known on network {network} but has no {} record: NOERROR, no answer",
                            q.name,
                            q.qtype.name()
                        )
                    } else {
                        let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                        format!("embedded DNS: {} -> {} (network {network})", q.name, list.join(", "))
                    }
                });
                let r = dns::reply(&q, Rcode::NoError, &addrs, EMBEDDED_TTL, false);
                self.dns_send(ctx, (server, dns::PORT), client, r, None);
            }
            Verdict::KeptLocal => {
                ctx.deliver(frame, || {
                    format!(
                        "embedded DNS: {} is no container or alias on this container's networks; with ndots set, \
                         Docker does not forward single-label names: NOERROR, no answer",
                        q.name
                    )
                });
                let r = dns::reply(&q, Rcode::NoError, &[], 0, false);
                self.dns_send(ctx, (server, dns::PORT), client, r, None);
            }
            Verdict::NoUpstream { world } => {
                let rcode = if world { Rcode::NxDomain } else { Rcode::ServFail };
                ctx.deliver(frame, || {
                        if world {
                            format!(
                                "embedded DNS: {} is no container or alias on a network this container is on; \
                                 no upstream resolver is declared and the world outside the lab knows no such \
                                 name: NXDOMAIN",
                                q.name
                            )
                        } else {
                            format!(
                                "embedded DNS: {} is not a container name here and no external name server is \
                                 defined: SERVFAIL",
                                q.name
                            )
                        }
                    });
                let r = dns::reply(&q, rcode, &[], 0, false);
                self.dns_send(ctx, (server, dns::PORT), client, r, None);
            }
            Verdict::Forward => {
                ctx.deliver(frame, || {
                    format!(
                        "embedded DNS: {} is no container or alias on this container's networks: forwarded upstream",
                        q.name
                    )
                });
                let Some(query) = dns::query(q.id, &q.name, q.qtype) else {
                    return;
                };
                self.apps.forwards.push(Forward {
                    server,
                    client,
                    query,
                    client_id: q.id,
                    name: q.name.clone(),
                    upstream: 0,
                    port: 0,
                    id: 0,
                    deadline: None,
                });
                let fi = self.apps.forwards.len() - 1;
                self.forward_send(ctx, fi);
            }
        }
    }

    /// Sends forward `fi` to its current upstream server, moving on past servers it
    /// cannot reach; answers SERVFAIL when none is left.
    fn forward_send(&mut self, ctx: &mut Ctx<'_>, fi: usize) {
        let Some(f) = self.apps.forwards.get(fi) else {
            return;
        };
        let emb = self.embedded_for(f.server, f.client.0);
        let upstream: Vec<IpAddr> = emb
            .map(|e| e.upstream.iter().take(MAX_UPSTREAM).copied().collect())
            .unwrap_or_default();
        let stubs: Vec<IpAddr> = emb.map(|e| e.host_stub.clone()).unwrap_or_default();
        loop {
            let Some(f) = self.apps.forwards.get(fi) else {
                return;
            };
            let Some(&server) = upstream.get(f.upstream) else {
                let f = self.apps.forwards.remove(fi);
                self.forward_fail(ctx, f);
                return;
            };
            let host_stub = stubs.contains(&server);
            if server.is_loopback() && !host_stub {
                // The container's own loopback: nothing serves DNS there.
                self.apps.forwards[fi].upstream += 1;
                continue;
            }
            if host_stub {
                // Docker queries the host's own loopback resolver from the host's
                // namespace; its upstreams are outside the lab.
                let f = self.apps.forwards.remove(fi);
                let frame = ctx.originate(Bytes::new());
                ctx.note(&frame, Stage::DnsForward, || {
                    format!(
                        "{} forwarded to the host's loopback resolver {server} (from the host's namespace); its \
                         upstreams are outside the lab, which knows no such name: NXDOMAIN",
                        f.name
                    )
                });
                ctx.deliver(&frame, String::new);
                if let Some(q) = dns::parse(&f.query) {
                    let r = dns::reply(&q, Rcode::NxDomain, &[], 0, false);
                    self.dns_send(ctx, (f.server, dns::PORT), f.client, r, None);
                }
                return;
            }
            if let Some(why) = self.forward_denied(f.server, f.client.0, server, &f.name) {
                // Docker forwards from the container's namespace: the query would be
                // dropped at the container's port, and the forward times out.
                let f = &mut self.apps.forwards[fi];
                f.deadline = Some(ctx.now() + FORWARD_TIMEOUT);
                let frame = ctx.originate(Bytes::new());
                ctx.drop_frame(&frame, DropReason::Policy, Stage::Policy, || why);
                return;
            }
            let Some(src) = self.source_for(server) else {
                self.apps.forwards[fi].upstream += 1;
                continue;
            };
            let port = self.free_port(ctx);
            let id = ctx.rng().below(65536) as u16;
            let f = &mut self.apps.forwards[fi];
            f.port = port;
            f.id = id;
            f.deadline = Some(ctx.now() + FORWARD_TIMEOUT);
            let mut bytes = f.query.clone();
            dns::set_id(&mut bytes, id);
            let note = format!("embedded DNS forwards {} to upstream {server}:53", f.name);
            self.dns_send(
                ctx,
                (src, port),
                (server, dns::PORT),
                bytes,
                Some((Stage::DnsForward, note)),
            );
            return;
        }
    }

    /// Why the container `client`'s egress policy denies the query the embedded DNS
    /// this host serves for it (proxied, under emulation) forwards to `upstream`, if it
    /// does. The container's own embedded server (under `run`) sends from the
    /// container, whose bridge port polices it.
    fn forward_denied(&self, asked: IpAddr, client: IpAddr, upstream: IpAddr, name: &str) -> Option<String> {
        if asked == IpAddr::V4(EMBEDDED) {
            return None;
        }
        let engine = self.policy.as_ref().filter(|e| e.enforced)?;
        let pod = engine.pod_of(client)?;
        let udp = Some(crate::policy::PolicyProto::Udp);
        engine
            .side(
                crate::policy::Direction::Egress,
                pod,
                upstream,
                upstream,
                udp,
                dns::PORT,
            )
            .is_err()
            .then(|| {
                let q = crate::policy::Query {
                    direction: crate::policy::Direction::Egress,
                    pod,
                    remote: upstream,
                    dst: upstream,
                    proto: udp,
                    port: dns::PORT,
                };
                let who = engine.pods().get(pod).map_or("", |p| p.name.as_str());
                format!(
                    "NetworkPolicy: the embedded DNS forwards {name} for {who} from {who}'s namespace to \
                     {upstream}:53, and {who}'s egress denies it: {}",
                    engine.explain(&q)
                )
            })
    }

    fn forward_fail(&mut self, ctx: &mut Ctx<'_>, f: Forward) {
        let frame = ctx.originate(Bytes::new());
        ctx.note(&frame, Stage::DnsForward, || {
            format!(
                "no upstream server answered for {}: the embedded DNS answers SERVFAIL",
                f.name
            )
        });
        ctx.deliver(&frame, String::new);
        if let Some(q) = dns::parse(&f.query) {
            let r = dns::reply(&q, Rcode::ServFail, &[], 0, false);
            self.dns_send(ctx, (f.server, dns::PORT), f.client, r, None);
        }
    }

    /// The embedded server a query to `server` from `client` goes to.
    fn embedded_for(&self, server: IpAddr, client: IpAddr) -> Option<&Embedded> {
        if server == IpAddr::V4(EMBEDDED) {
            self.apps.dns.embedded.as_ref()
        } else {
            self.apps.dns.proxied.get(&client)
        }
    }

    /// An authoritative answer from this machine's records.
    fn serve_zone(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        (at, src, sport): (IpAddr, IpAddr, u16),
        q: Message,
    ) {
        let Some(zone) = self.apps.dns.zone.as_ref() else {
            return;
        };
        let (rcode, addrs) = match crate::dns::zone_lookup(zone, &q.name) {
            Some(all) => (Rcode::NoError, all.clone()),
            None => (Rcode::NxDomain, Vec::new()),
        };
        let r = dns::reply(&q, rcode, &addrs, ZONE_TTL, true);
        let answered = dns::parse(&r).map(|m| m.addrs).unwrap_or_default();
        ctx.deliver(frame, || {
            let list: Vec<String> = answered.iter().map(ToString::to_string).collect();
            format!(
                "name server {}: {} {} -> {}{}",
                self.name,
                q.qtype.name(),
                q.name,
                rcode.name(),
                if list.is_empty() {
                    String::new()
                } else {
                    format!(" {}", list.join(", "))
                }
            )
        });
        self.dns_send(ctx, (at, dns::PORT), (src, sport), r, None);
    }

    /// Sends a DNS message in a UDP datagram from `from` to `to`.
    fn dns_send(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: (IpAddr, u16),
        to: (IpAddr, u16),
        msg: Vec<u8>,
        note: Option<(Stage, String)>,
    ) {
        let pkt = udp(from.0, to.0, from.1, to.1, self.next_ip_id(), &msg);
        let frame = ctx.originate_about(Bytes::new(), &pkt);
        if let Some((stage, text)) = note {
            ctx.note(&frame, stage, || text);
        }
        self.send_originated(ctx, frame, pkt, None);
    }

    /// An ICMP error came back for a datagram sent from local UDP port `port` to `dst`.
    pub(super) fn dns_refused(&mut self, ctx: &mut Ctx<'_>, port: u16, dst: IpAddr, text: &str) {
        if let Some(idx) = self.apps.lookups.iter().position(|l| {
            l.outcome.is_none()
                && l.port == port
                && !l.pending.is_empty()
                && l.servers.get(l.server) == Some(&dst)
                && l.refused_generation != Some(l.generation)
        }) {
            // One refusal per try: the A and the AAAA query both bring one back.
            let l = &mut self.apps.lookups[idx];
            l.refused_generation = Some(l.generation);
            let qname = l.candidates.get(l.cand).cloned().unwrap_or_default();
            l.log.push(format!("{qname}: query to {dst}: {text}"));
            if self.lookup_next_try(ctx, idx, TryFail::Refused(text.to_string())) {
                self.lookup_send(ctx, idx);
            }
        }
        if let Some(fi) = self.apps.forwards.iter().position(|f| f.port == port) {
            self.apps.forwards[fi].upstream += 1;
            self.forward_send(ctx, fi);
        }
        self.arm_dns(ctx);
    }

    /// Timeouts of lookups and forwards.
    pub(super) fn dns_timer(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        for idx in 0..self.apps.lookups.len() {
            let l = &self.apps.lookups[idx];
            if l.outcome.is_none() && l.deadline.is_some_and(|d| d <= now) {
                let qname = l.candidates.get(l.cand).cloned().unwrap_or_default();
                let partial: Vec<IpAddr> = l
                    .pending
                    .iter()
                    .filter_map(|p| p.2.as_ref())
                    .flat_map(|m| m.addrs.iter().copied())
                    .collect();
                if !partial.is_empty() {
                    // One family answered, the other never did: take what came.
                    self.lookup_finish(ctx, idx, LookupOutcome::Addresses(partial));
                    continue;
                }
                self.apps.lookups[idx]
                    .log
                    .push(format!("{qname}: no answer within the timeout"));
                if self.lookup_next_try(ctx, idx, TryFail::Timeout) {
                    self.lookup_send(ctx, idx);
                }
            }
        }
        let mut fi = 0;
        while fi < self.apps.forwards.len() {
            if self.apps.forwards[fi].deadline.is_some_and(|d| d <= now) {
                self.apps.forwards[fi].upstream += 1;
                let before = self.apps.forwards.len();
                self.forward_send(ctx, fi);
                if self.apps.forwards.len() < before {
                    continue;
                }
            }
            fi += 1;
        }
        self.arm_dns(ctx);
    }

    fn arm_dns(&mut self, ctx: &mut Ctx<'_>) {
        let next = self
            .apps
            .lookups
            .iter()
            .filter(|l| l.outcome.is_none())
            .filter_map(|l| l.deadline)
            .chain(self.apps.forwards.iter().filter_map(|f| f.deadline))
            .min();
        if let Some(at) = next {
            self.arm(ctx, TOK_DNS, at);
        }
    }
}
