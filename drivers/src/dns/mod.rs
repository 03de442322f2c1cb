//! DNS as the lab speaks it: messages on the wire (through `simple-dns`), a stub
//! resolver's configuration (`resolv.conf`, with glibc's search rules), and the
//! directory behind Docker's embedded DNS server (container names and network-scoped
//! aliases, per network, running containers only).
//!
//! The applications that use these — the stub resolver every machine runs, the embedded
//! server at 127.0.0.11 inside containers on user-defined networks, and authoritative
//! servers on external machines — live with the namespace model in
//! [`crate::router::Node`], because they send and receive real UDP packets there.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netloom_core::SimDuration;
use simple_dns::rdata::{A, AAAA, RData};
use simple_dns::{CLASS, Name, PacketFlag, QCLASS, QTYPE, Question, RCODE, ResourceRecord, TYPE};

/// The address of Docker's embedded DNS server inside a container.
pub const EMBEDDED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// The DNS port.
pub const PORT: u16 = 53;
/// The TTL of the embedded server's answers (libnetwork's `respTTL`).
pub const EMBEDDED_TTL: u32 = 600;
/// The TTL of the answers of the modelled upstream servers (`dns_records:`).
pub const ZONE_TTL: u32 = 300;
/// How long the embedded server waits for an upstream server (libnetwork's
/// `extIOTimeout`) before it tries the next one.
pub const FORWARD_TIMEOUT: SimDuration = SimDuration::from_secs(4);
/// How many upstream servers the embedded server tries (libnetwork's `maxExtDNS`).
pub const MAX_UPSTREAM: usize = 3;

/// The question types the lab answers (anything else is relayed or refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Any other type, by number.
    Other(u16),
}

impl QType {
    /// The name `dig` prints.
    pub fn name(self) -> String {
        match self {
            QType::A => "A".into(),
            QType::Aaaa => "AAAA".into(),
            QType::Other(n) => format!("TYPE{n}"),
        }
    }
}

/// A response code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    /// NOERROR.
    NoError,
    /// SERVFAIL.
    ServFail,
    /// NXDOMAIN.
    NxDomain,
    /// REFUSED.
    Refused,
    /// Anything else, by number.
    Other(u16),
}

impl Rcode {
    /// The name `dig` prints.
    pub fn name(self) -> String {
        match self {
            Rcode::NoError => "NOERROR".into(),
            Rcode::ServFail => "SERVFAIL".into(),
            Rcode::NxDomain => "NXDOMAIN".into(),
            Rcode::Refused => "REFUSED".into(),
            Rcode::Other(n) => format!("RCODE{n}"),
        }
    }
}

/// The parts of a DNS message the lab looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Transaction id.
    pub id: u16,
    /// A response (QR set).
    pub response: bool,
    /// Response code.
    pub rcode: Rcode,
    /// The question's name, lower-cased, without a trailing dot (for comparisons).
    pub name: String,
    /// The question's name as asked (servers echo it unchanged).
    pub qname: String,
    /// The question's type.
    pub qtype: QType,
    /// A and AAAA records of the answer section.
    pub addrs: Vec<IpAddr>,
}

/// The payload of a one-datagram UDP probe to `port` (a `connect` step with `proto:
/// udp`, a reachability probe): a well-formed DNS query for `netloom-probe.invalid`
/// (RFC 6761: never resolves) on the DNS and mDNS ports, so a capture decodes as what
/// it is and a name server answers it; elsewhere a line of text.
pub fn probe_payload(port: u16) -> Vec<u8> {
    match port {
        53 | 5353 => query(0x6e6c, "netloom-probe.invalid", QType::A).unwrap_or_default(),
        _ => b"netloom probe\n".to_vec(),
    }
}

/// A recursive query (RD set) for `name` of type `qtype`; `None` when `name` is not a
/// valid domain name.
pub fn query(id: u16, name: &str, qtype: QType) -> Option<Vec<u8>> {
    let mut p = simple_dns::Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    let qname = Name::new(name).ok()?;
    p.questions.push(Question::new(
        qname,
        qtype_wire(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    p.build_bytes_vec_compressed().ok()
}

/// Parses a DNS message; `None` for bytes that are not one (or carry no question).
pub fn parse(bytes: &[u8]) -> Option<Message> {
    let p = simple_dns::Packet::parse(bytes).ok()?;
    let q = p.questions.first()?;
    let qtype = match q.qtype {
        QTYPE::TYPE(TYPE::A) => QType::A,
        QTYPE::TYPE(TYPE::AAAA) => QType::Aaaa,
        other => QType::Other(u16::from(other)),
    };
    let rcode = match p.rcode() {
        RCODE::NoError => Rcode::NoError,
        RCODE::ServerFailure => Rcode::ServFail,
        RCODE::NameError => Rcode::NxDomain,
        RCODE::Refused => Rcode::Refused,
        other => Rcode::Other(other as u16),
    };
    let addrs = p
        .answers
        .iter()
        .filter_map(|rr| match &rr.rdata {
            RData::A(a) => Some(IpAddr::V4(Ipv4Addr::from(a.address))),
            RData::AAAA(a) => Some(IpAddr::V6(Ipv6Addr::from(a.address))),
            _ => None,
        })
        .collect();
    Some(Message {
        id: p.id(),
        response: p.has_flags(PacketFlag::RESPONSE),
        rcode,
        name: normalize(&q.qname.to_string()),
        qname: q.qname.to_string().trim_end_matches('.').to_string(),
        qtype,
        addrs,
    })
}

/// The answer to `q`: `rcode` and the addresses of `q`'s type among `addrs` (each an
/// A or AAAA record with `ttl`), with RA set and AA when `authoritative`.
pub fn reply(q: &Message, rcode: Rcode, addrs: &[IpAddr], ttl: u32, authoritative: bool) -> Vec<u8> {
    let mut p = simple_dns::Packet::new_reply(q.id);
    let mut flags = PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE;
    if authoritative {
        flags |= PacketFlag::AUTHORITATIVE_ANSWER;
    }
    p.set_flags(flags);
    *p.rcode_mut() = match rcode {
        Rcode::NoError => RCODE::NoError,
        Rcode::ServFail => RCODE::ServerFailure,
        Rcode::NxDomain => RCODE::NameError,
        Rcode::Refused => RCODE::Refused,
        Rcode::Other(_) => RCODE::ServerFailure,
    };
    let Ok(qname) = Name::new(&q.qname) else {
        return Vec::new();
    };
    p.questions.push(Question::new(
        qname.clone(),
        qtype_wire(q.qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    for a in addrs {
        let rdata = match (q.qtype, a) {
            (QType::A, IpAddr::V4(v4)) => RData::A(A {
                address: u32::from(*v4),
            }),
            (QType::Aaaa, IpAddr::V6(v6)) => RData::AAAA(AAAA {
                address: u128::from(*v6),
            }),
            _ => continue,
        };
        p.answers
            .push(ResourceRecord::new(qname.clone(), CLASS::IN, ttl, rdata));
    }
    p.build_bytes_vec_compressed().unwrap_or_default()
}

/// Rewrites the transaction id of an encoded message in place.
pub fn set_id(bytes: &mut [u8], id: u16) {
    if let Some(b) = bytes.get_mut(..2) {
        b.copy_from_slice(&id.to_be_bytes());
    }
}

/// Whether `name` is a domain name a resolver would send: labels of letters, digits,
/// hyphens and underscores, 1 to 63 characters each, 253 in all; one trailing dot
/// allowed.
pub fn valid_name(name: &str) -> bool {
    let n = name.strip_suffix('.').unwrap_or(name);
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A name as servers compare it: lower case, no trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn qtype_wire(t: QType) -> QTYPE {
    match t {
        QType::A => QTYPE::TYPE(TYPE::A),
        QType::Aaaa => QTYPE::TYPE(TYPE::AAAA),
        QType::Other(n) => QTYPE::TYPE(TYPE::from(n)),
    }
}

// ---- resolv.conf -------------------------------------------------------------------

/// A stub resolver's configuration, as glibc reads `/etc/resolv.conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvConf {
    /// Name servers, in order (glibc uses the first three).
    pub nameservers: Vec<IpAddr>,
    /// Search domains.
    pub search: Vec<String>,
    /// `options ndots:N` (glibc's default is 1).
    pub ndots: u8,
    /// `options timeout:N` (default 5 s).
    pub timeout: SimDuration,
    /// `options attempts:N` (default 2).
    pub attempts: u32,
    /// Whether an `ndots` option was written (Docker then stops forwarding single-label
    /// names it does not know).
    pub ndots_set: bool,
    /// The other options, verbatim.
    pub other: Vec<String>,
}

impl Default for ResolvConf {
    fn default() -> Self {
        ResolvConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: SimDuration::from_secs(5),
            attempts: 2,
            ndots_set: false,
            other: Vec::new(),
        }
    }
}

impl ResolvConf {
    /// Applies `options` entries (`ndots:2`, `timeout:1`, `attempts:3`, others kept).
    ///
    /// # Errors
    /// An option with a value that is not a number, naming it.
    pub fn apply_options(&mut self, opts: &[String]) -> Result<(), String> {
        for o in opts {
            let (key, val) = match o.split_once(':') {
                Some((k, v)) => (k, Some(v)),
                None => (o.as_str(), None),
            };
            let num = || {
                val.and_then(|v| v.parse::<u32>().ok())
                    .ok_or_else(|| format!("option '{o}' needs a number, as in `{key}:2`"))
            };
            match key {
                // glibc caps ndots at 15 and attempts at 5, and timeout at 30 s.
                "ndots" => {
                    self.ndots = num()?.min(15) as u8;
                    self.ndots_set = true;
                }
                "timeout" => self.timeout = SimDuration::from_secs(num()?.clamp(1, 30) as u64),
                "attempts" => self.attempts = num()?.clamp(1, 5),
                _ => self.other.push(o.clone()),
            }
        }
        Ok(())
    }

    /// The names glibc's `res_search` tries for `name`, in order: with fewer dots than
    /// `ndots` the search domains come first and the name as given last; otherwise the
    /// name as given first. A trailing dot means only the name itself.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(abs) = name.strip_suffix('.') {
            return vec![abs.to_string()];
        }
        let dots = name.matches('.').count();
        let searched: Vec<String> = self.search.iter().map(|d| format!("{name}.{d}")).collect();
        let mut out = Vec::new();
        if dots >= self.ndots as usize {
            out.push(name.to_string());
            out.extend(searched);
        } else {
            out.extend(searched);
            out.push(name.to_string());
        }
        out
    }

    /// The file as it would be written into the container.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for n in &self.nameservers {
            s.push_str(&format!("nameserver {n}\n"));
        }
        if !self.search.is_empty() {
            s.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        let mut opts = Vec::new();
        if self.ndots_set || self.ndots != 1 {
            opts.push(format!("ndots:{}", self.ndots));
        }
        opts.extend(self.other.iter().cloned());
        if !opts.is_empty() {
            s.push_str(&format!("options {}\n", opts.join(" ")));
        }
        s
    }
}

// ---- the embedded server's directory ------------------------------------------------

/// One name on one network: a container's name or one of its network-scoped aliases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The name, lower-cased.
    pub name: String,
    /// The container's index in the model.
    pub container: usize,
    /// Its IPv4 address on that network.
    pub v4: Option<Ipv4Addr>,
    /// Its IPv6 address on that network.
    pub v6: Option<Ipv6Addr>,
}

/// The names Docker's embedded DNS knows on one network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetRecords {
    /// The network's name (for `name.network` lookups).
    pub network: String,
    /// Whether the network serves names at all (user-defined networks do; the default
    /// bridge, `host` and `none` do not).
    pub serves: bool,
    /// Records, in endpoint order.
    pub records: Vec<Record>,
}

/// What the embedded server knows: per network (by index in the resolved model), its
/// records; per container, whether it runs (stopped containers vanish from answers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    /// Per network.
    pub networks: Vec<NetRecords>,
    /// Per container.
    pub running: Vec<bool>,
}

/// The embedded server's verdict on a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The name is a running container or alias on this network: its addresses of the
    /// asked family (none when it has no address of that family: NOERROR, no records).
    Found {
        /// Addresses of the asked family.
        addrs: Vec<IpAddr>,
        /// The network that answered.
        network: String,
    },
    /// Not a name of any network the asker is on.
    Unknown,
}

impl Directory {
    /// Resolves `name` for a container attached to `networks` (network indices in
    /// endpoint order), as libnetwork's `Sandbox.ResolveName` does: the whole name on
    /// any of them first, then `a.b` on network `c` for `a.b.c`, and so on; the first
    /// network (in endpoint order) that knows the name answers.
    pub fn lookup(&self, networks: &[usize], name: &str, qtype: QType) -> Lookup {
        let name = normalize(name);
        let mut tries: Vec<(&str, Option<&str>)> = vec![(name.as_str(), None)];
        let mut cut = name.as_str();
        while let Some(i) = cut.rfind('.') {
            tries.push((&name[..i], Some(&name[i + 1..])));
            cut = &name[..i];
        }
        for (n, net_name) in tries {
            for &ni in networks {
                let Some(net) = self.networks.get(ni) else {
                    continue;
                };
                if !net.serves || net_name.is_some_and(|x| x != net.network) {
                    continue;
                }
                let hits: Vec<&Record> = net
                    .records
                    .iter()
                    .filter(|r| r.name == n && self.running.get(r.container).copied().unwrap_or(false))
                    .collect();
                if hits.is_empty() {
                    continue;
                }
                let mut addrs: Vec<IpAddr> = Vec::new();
                for r in hits {
                    let a = match qtype {
                        QType::A => r.v4.map(IpAddr::V4),
                        QType::Aaaa => r.v6.map(IpAddr::V6),
                        QType::Other(_) => None,
                    };
                    if let Some(a) = a
                        && !addrs.contains(&a)
                    {
                        addrs.push(a);
                    }
                }
                return Lookup::Found {
                    addrs,
                    network: net.network.clone(),
                };
            }
        }
        Lookup::Unknown
    }
}

/// Records an authoritative server answers from: name (normalized) → addresses.
pub type Zone = BTreeMap<String, Vec<IpAddr>>;

/// The records `zone` answers for `name` (normalized), wildcards included as RFC 4592
/// has them: a name with records of its own gets those; otherwise the closest
/// encloser is the longest ancestor that exists in the zone (it has records, or names
/// below it do), and `*.<closest encloser>` answers when it is there. So with
/// `*.corp.example` in the zone, `api.example.com.corp.example` is answered by the
/// wildcard, while a name below an existing `db.corp.example` is not.
pub fn zone_lookup<'z>(zone: &'z Zone, name: &str) -> Option<&'z Vec<IpAddr>> {
    if let Some(r) = zone.get(name) {
        return Some(r);
    }
    let exists = |n: &str| {
        zone.keys().any(|k| {
            k == n || (k.len() > n.len() && k.ends_with(n) && k.as_bytes()[k.len() - n.len() - 1] == b'.')
        })
    };
    if exists(name) {
        // An empty non-terminal: the name exists, without records.
        return None;
    }
    let mut rest = name;
    while let Some((_, parent)) = rest.split_once('.') {
        if exists(parent) {
            return zone.get(&format!("*.{parent}"));
        }
        rest = parent;
    }
    zone.get("*")
}

#[cfg(test)]
mod tests {

    #[test]
    fn wildcards_answer_below_their_closest_encloser_only() {
        let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
        let mut z = Zone::new();
        z.insert("*.corp.example".into(), vec![ip("192.168.1.99")]);
        z.insert("db.corp.example".into(), vec![ip("192.168.1.20")]);
        z.insert("api.example.com".into(), vec![ip("203.0.113.10")]);
        // Exact names win.
        assert_eq!(
            zone_lookup(&z, "db.corp.example"),
            Some(&vec![ip("192.168.1.20")])
        );
        assert_eq!(
            zone_lookup(&z, "api.example.com"),
            Some(&vec![ip("203.0.113.10")])
        );
        // Any other name under corp.example is the wildcard's, however many labels.
        assert_eq!(zone_lookup(&z, "x.corp.example"), Some(&vec![ip("192.168.1.99")]));
        assert_eq!(
            zone_lookup(&z, "api.example.com.corp.example"),
            Some(&vec![ip("192.168.1.99")])
        );
        // Below an existing name the wildcard does not reach (RFC 4592 closest encloser).
        assert_eq!(zone_lookup(&z, "x.db.corp.example"), None);
        // corp.example itself exists (an empty non-terminal): no data, not the wildcard.
        assert_eq!(zone_lookup(&z, "corp.example"), None);
        assert_eq!(zone_lookup(&z, "www.example.com"), None);
        assert_eq!(zone_lookup(&z, "example.org"), None);
    }

    /// A UDP probe to the DNS ports is a DNS query a capture decodes as one (and a
    /// name server answers); elsewhere it stays text.
    #[test]
    fn udp_probes_to_dns_ports_are_well_formed_queries() {
        for port in [53, 5353] {
            let m = parse(&probe_payload(port)).expect("a DNS message");
            assert!(!m.response);
            assert_eq!(m.name, "netloom-probe.invalid");
        }
        assert_eq!(probe_payload(9), b"netloom probe\n".to_vec());
    }
    use super::*;

    // A query we build parses back to the same question, and a reply carries exactly
    // the addresses of the asked family.
    #[test]
    fn query_and_reply_round_trip() {
        let q = query(0x1234, "db.example", QType::A).expect("valid name");
        let m = parse(&q).expect("parses");
        assert_eq!(
            (m.id, m.response, m.name.as_str(), m.qtype),
            (0x1234, false, "db.example", QType::A)
        );
        let addrs = [
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)),
        ];
        let r = parse(&reply(&m, Rcode::NoError, &addrs, 600, false)).expect("parses");
        assert!(r.response);
        assert_eq!(r.rcode, Rcode::NoError);
        assert_eq!(r.addrs, vec![addrs[0], addrs[2]]);
        let nx = parse(&reply(&m, Rcode::NxDomain, &[], 600, true)).expect("parses");
        assert_eq!(nx.rcode, Rcode::NxDomain);
    }

    // Bytes on the wire match a dig-style query: header, then the name as labels.
    #[test]
    fn query_wire_bytes() {
        let q = query(7, "db", QType::Aaaa).expect("valid");
        assert_eq!(
            q,
            [0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, b'd', b'b', 0, 0, 28, 0, 1]
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("db") && valid_name("db.corp.example.") && valid_name("_srv.x"));
        assert!(!valid_name("a..b") && !valid_name("") && !valid_name(".") && !valid_name("a b"));
        assert!(!valid_name(&"x".repeat(64)));
    }

    #[test]
    fn garbage_is_not_a_message() {
        assert_eq!(parse(b"netloom probe\n"), None);
        assert_eq!(parse(&[]), None);
        assert!(query(1, &"x".repeat(70), QType::A).is_none());
    }

    // glibc: fewer dots than ndots → search list first; otherwise the name first.
    #[test]
    fn search_order_follows_ndots() {
        let mut rc = ResolvConf {
            search: vec!["corp.example".into()],
            ..ResolvConf::default()
        };
        assert_eq!(rc.candidates("db"), ["db.corp.example", "db"]);
        assert_eq!(rc.candidates("db.svc"), ["db.svc", "db.svc.corp.example"]);
        assert_eq!(rc.candidates("db."), ["db"]);
        rc.apply_options(&["ndots:0".into()]).expect("valid");
        assert_eq!(rc.candidates("db"), ["db", "db.corp.example"]);
        rc.apply_options(&["ndots:2".into()]).expect("valid");
        assert_eq!(rc.candidates("db.svc"), ["db.svc.corp.example", "db.svc"]);
        assert!(rc.apply_options(&["ndots:x".into()]).is_err());
        assert_eq!(rc.render(), "search corp.example\noptions ndots:2\n");
    }

    fn dir() -> Directory {
        let rec = |name: &str, c: usize, last: u8| Record {
            name: name.into(),
            container: c,
            v4: Some(Ipv4Addr::new(172, 20, 0, last)),
            v6: None,
        };
        Directory {
            networks: vec![
                NetRecords {
                    network: "bridge".into(),
                    serves: false,
                    records: vec![rec("old", 3, 9)],
                },
                NetRecords {
                    network: "front".into(),
                    serves: true,
                    records: vec![
                        rec("web", 0, 2),
                        rec("api", 1, 3),
                        rec("api", 2, 4),
                        rec("web.alias", 0, 2),
                    ],
                },
                NetRecords {
                    network: "back".into(),
                    serves: true,
                    records: vec![rec("db", 2, 5)],
                },
            ],
            running: vec![true, true, true, true],
        }
    }

    // Names answer only on networks the asker shares; aliases collect every holder;
    // `name.network` picks the network; stopped containers vanish.
    #[test]
    fn directory_scopes_names() {
        let mut d = dir();
        let v4 = |l: u8| IpAddr::V4(Ipv4Addr::new(172, 20, 0, l));
        let found = |addrs: Vec<IpAddr>, n: &str| Lookup::Found {
            addrs,
            network: n.into(),
        };
        assert_eq!(
            d.lookup(&[1], "api", QType::A),
            found(vec![v4(3), v4(4)], "front")
        );
        assert_eq!(d.lookup(&[1], "DB", QType::A), Lookup::Unknown);
        assert_eq!(d.lookup(&[1, 2], "DB.", QType::A), found(vec![v4(5)], "back"));
        assert_eq!(d.lookup(&[1, 2], "db.back", QType::A), found(vec![v4(5)], "back"));
        assert_eq!(d.lookup(&[1, 2], "db.front", QType::A), Lookup::Unknown);
        assert_eq!(d.lookup(&[0, 1], "old", QType::A), Lookup::Unknown);
        assert_eq!(d.lookup(&[1], "web.alias", QType::A), found(vec![v4(2)], "front"));
        assert_eq!(d.lookup(&[1], "api", QType::Aaaa), found(vec![], "front"));
        d.running[1] = false;
        assert_eq!(d.lookup(&[1], "api", QType::A), found(vec![v4(4)], "front"));
        d.running[2] = false;
        assert_eq!(d.lookup(&[1], "api", QType::A), Lookup::Unknown);
    }
}
