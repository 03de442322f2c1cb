//! A minimal, synchronous rtnetlink client: links up with a MAC, MTU and ARP flag,
//! addresses and routes, sent from the calling thread's network namespace (a thread
//! that entered the namespace opens the socket there; the socket stays in it).
//!
//! Why not `rtnetlink` (the async crate): the set-up runs on plain threads that enter
//! one namespace after another, and every request of a namespace goes out in one
//! `send` with its acknowledgements read back together — one system call each way per
//! namespace, no runtime, no per-namespace task. The messages are five fixed C
//! structures and a handful of attributes, written here byte for byte as
//! `<linux/rtnetlink.h>` lays them out. No name ever passes through a parser: an
//! interface is addressed by its index.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send, socket,
};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const IFLA_ADDRESS: u16 = 1;
const IFLA_MTU: u16 = 4;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;
const IN6_ADDR_GEN_MODE_NONE: u8 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const IFF_UP: u32 = 0x1;
const IFF_NOARP: u32 = 0x80;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// How a link is to be set.
pub struct LinkSettings {
    /// The interface index.
    pub index: u32,
    /// Its MAC, if it is to change.
    pub mac: Option<[u8; 6]>,
    /// Its MTU, if it is to change.
    pub mtu: Option<u32>,
    /// No ARP on it.
    pub noarp: bool,
}

/// A batch of requests for one namespace: built, then sent at once with
/// [`Batch::commit`]. Each request carries a description for its error message.
pub struct Batch {
    buf: Vec<u8>,
    what: Vec<String>,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch {
            buf: Vec::with_capacity(1024),
            what: Vec::new(),
        }
    }

    /// Sets a link up (with its MAC, MTU and ARP flag): `ip link set … up`.
    pub fn link_up(&mut self, link: &LinkSettings, what: String) {
        let at = self.begin(RTM_NEWLINK, 0);
        // struct ifinfomsg: family, pad, type, index, flags, change.
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(&(link.index as i32).to_ne_bytes());
        let flags = IFF_UP | if link.noarp { IFF_NOARP } else { 0 };
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&(IFF_UP | IFF_NOARP).to_ne_bytes());
        if let Some(mac) = link.mac {
            self.attr(IFLA_ADDRESS, &mac);
        }
        if let Some(mtu) = link.mtu {
            self.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        self.end(at, what);
    }

    /// Makes the link generate no IPv6 link-local address when it comes up
    /// (`ip link set … addrgenmode none`): with no address, it sends no IPv6 at all —
    /// no duplicate address detection, router solicitation or MLD report. Must come
    /// before the link goes up.
    pub fn no_ipv6_link_local(&mut self, index: u32, what: String) {
        let at = self.begin(RTM_NEWLINK, 0);
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(&(index as i32).to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        // IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE: u8 } }, each level a
        // 4-byte attribute header; the u8 is padded to 4 bytes.
        self.buf.extend_from_slice(&16u16.to_ne_bytes());
        self.buf.extend_from_slice(&IFLA_AF_SPEC.to_ne_bytes());
        self.buf.extend_from_slice(&12u16.to_ne_bytes());
        self.buf.extend_from_slice(&u16::from(AF_INET6).to_ne_bytes());
        self.attr(IFLA_INET6_ADDR_GEN_MODE, &[IN6_ADDR_GEN_MODE_NONE]);
        self.end(at, what);
    }

    /// Adds an address (IPv6 without duplicate address detection, as Docker adds
    /// them): `ip addr add ADDR/LEN dev IF [nodad]`.
    pub fn address(&mut self, index: u32, addr: IpAddr, prefix: u8, what: String) {
        let at = self.begin(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        let (family, flags) = match addr {
            IpAddr::V4(_) => (AF_INET, 0),
            IpAddr::V6(_) => (AF_INET6, IFA_F_NODAD),
        };
        // struct ifaddrmsg: family, prefixlen, flags, scope, index.
        self.buf.extend_from_slice(&[family, prefix, flags, 0]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        let bytes = ip_bytes(addr);
        self.attr(IFA_LOCAL, &bytes);
        self.attr(IFA_ADDRESS, &bytes);
        self.end(at, what);
    }

    /// Adds a route in the main table: through `via`, or on-link (scope link) when
    /// `via` is `None`. A prefix length of 0 is the default route.
    pub fn route(&mut self, index: u32, dst: IpAddr, prefix: u8, via: Option<IpAddr>, what: String) {
        let at = self.begin(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        let family = if dst.is_ipv4() { AF_INET } else { AF_INET6 };
        let scope = if via.is_some() {
            RT_SCOPE_UNIVERSE
        } else {
            RT_SCOPE_LINK
        };
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        self.buf.extend_from_slice(&[
            family,
            prefix,
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            scope,
            RTN_UNICAST,
        ]);
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        if prefix > 0 {
            self.attr(RTA_DST, &ip_bytes(dst));
        }
        if let Some(gw) = via {
            self.attr(RTA_GATEWAY, &ip_bytes(gw));
        }
        self.attr(RTA_OIF, &index.to_ne_bytes());
        self.end(at, what);
    }

    /// Sends every request in one message on a new socket of the calling thread's
    /// namespace and reads every acknowledgement.
    ///
    /// # Errors
    /// The first request the kernel refused, with its description and the kernel's
    /// error (`File exists`, `Invalid argument`…).
    pub fn commit(self) -> Result<(), String> {
        if self.what.is_empty() {
            return Ok(());
        }
        let sock = open().map_err(|e| format!("netlink socket: {e}"))?;
        let fd = sock.as_raw_fd();
        let mut off = 0;
        while off < self.buf.len() {
            off += send(fd, &self.buf[off..], MsgFlags::empty()).map_err(|e| format!("netlink send: {e}"))?;
        }
        let mut pending = self.what.len();
        let mut first_error: Option<String> = None;
        let mut rx = vec![0u8; 32 * 1024];
        while pending > 0 {
            let n = recv(fd, &mut rx, MsgFlags::empty()).map_err(|e| format!("netlink receive: {e}"))?;
            let mut at = 0;
            while at + NLMSG_HDRLEN <= n {
                let len = u32::from_ne_bytes([rx[at], rx[at + 1], rx[at + 2], rx[at + 3]]) as usize;
                let kind = u16::from_ne_bytes([rx[at + 4], rx[at + 5]]);
                let seq = u32::from_ne_bytes([rx[at + 8], rx[at + 9], rx[at + 10], rx[at + 11]]) as usize;
                if len < NLMSG_HDRLEN || at + len > n {
                    return Err("netlink: a malformed answer from the kernel".into());
                }
                if kind == NLMSG_ERROR && len >= NLMSG_HDRLEN + 4 {
                    let p = at + NLMSG_HDRLEN;
                    let errno = i32::from_ne_bytes([rx[p], rx[p + 1], rx[p + 2], rx[p + 3]]);
                    pending = pending.saturating_sub(1);
                    if errno != 0 && first_error.is_none() {
                        let what = seq
                            .checked_sub(1)
                            .and_then(|i| self.what.get(i))
                            .map_or("a request", String::as_str);
                        let err = nix::errno::Errno::from_raw(-errno);
                        first_error = Some(format!("{what}: {}", err.desc()));
                    }
                }
                at += align(len);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Starts a message; returns where it starts. Sequence numbers count from 1, so
    /// an acknowledgement names the request it answers.
    fn begin(&mut self, kind: u16, extra: u16) -> usize {
        let at = self.buf.len();
        let seq = (self.what.len() + 1) as u32;
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf
            .extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | extra).to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        at
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(self.buf.len() + align(len) - len, 0);
    }

    fn end(&mut self, at: usize, what: String) {
        let len = (self.buf.len() - at) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_ne_bytes());
        self.what.push(what);
    }
}

fn open() -> nix::Result<OwnedFd> {
    let sock = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    bind(sock.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
    Ok(sock)
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn ip_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of `ip addr add 10.1.2.3/24 dev <index 2>` as `<linux/rtnetlink.h>`
    /// lays them out: header, ifaddrmsg, IFA_LOCAL and IFA_ADDRESS.
    #[test]
    fn address_message_layout() {
        let mut b = Batch::new();
        b.address(2, IpAddr::V4([10, 1, 2, 3].into()), 24, "x".into());
        let m = &b.buf;
        assert_eq!(m.len(), 16 + 8 + 8 + 8);
        assert_eq!(u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize, m.len());
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWADDR);
        assert_eq!(
            u16::from_ne_bytes([m[6], m[7]]),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        );
        assert_eq!(u32::from_ne_bytes([m[8], m[9], m[10], m[11]]), 1);
        assert_eq!(&m[16..20], &[AF_INET, 24, 0, 0]);
        assert_eq!(u32::from_ne_bytes([m[20], m[21], m[22], m[23]]), 2);
        let mut local = 8u16.to_ne_bytes().to_vec();
        local.extend(IFA_LOCAL.to_ne_bytes());
        local.extend([10, 1, 2, 3]);
        assert_eq!(&m[24..32], &local[..]);
    }

    /// A default route via a gateway carries no RTA_DST; sequence numbers follow the
    /// order of the requests.
    #[test]
    fn default_route_has_no_destination() {
        let mut b = Batch::new();
        b.link_up(
            &LinkSettings {
                index: 1,
                mac: None,
                mtu: None,
                noarp: false,
            },
            "lo".into(),
        );
        let start = b.buf.len();
        let any = IpAddr::V4([0, 0, 0, 0].into());
        let gw = IpAddr::V4([10, 0, 0, 1].into());
        b.route(3, any, 0, Some(gw), "default".into());
        let m = &b.buf[start..];
        assert_eq!(u32::from_ne_bytes([m[8], m[9], m[10], m[11]]), 2);
        assert_eq!(m[16 + 1], 0, "dst_len 0");
        assert_eq!(m[16 + 6], RT_SCOPE_UNIVERSE);
        // Attributes: RTA_GATEWAY (8 bytes) then RTA_OIF (8 bytes), nothing else.
        assert_eq!(m.len(), 16 + 12 + 8 + 8);
        assert_eq!(u16::from_ne_bytes([m[30], m[31]]), RTA_GATEWAY);
        assert_eq!(u16::from_ne_bytes([m[38], m[39]]), RTA_OIF);
    }
}
