//! VXLAN tunnel endpoints of a Docker host (the overlay driver's `vxlan0`): frames
//! from the overlay bridge leave as UDP 4789 datagrams from the host's underlay
//! address, and datagrams arriving for a known VNI go back into the bridge.
//!
//! As Linux's vxlan driver with Docker's settings: no lower device, outer DF clear
//! (oversized outer packets are fragmented by the host), UDP checksum zero, a source
//! port hashed from the inner flow, static forwarding entries written by Docker's
//! control plane, ARP answered by the device for known remote containers (`proxy`,
//! as Docker creates it); Docker installs no flood entry, so other broadcasts and
//! unknown destinations stay on their host. Before
//! encapsulating, `skb_tunnel_check_pmtu`: an inner IPv4 packet with DF that does not
//! fit the underlay path minus the encapsulation is refused with an ICMP
//! "fragmentation needed" sent back into the bridge, as if from the destination.
//!
//! Encrypted overlays wrap each VXLAN datagram in ESP (transport mode, AES-GCM with an
//! 8-byte ICV, as Docker programs the kernel's IPsec): 8 bytes of SPI and sequence, an
//! 8-byte IV, padding to 4 bytes, 2 bytes of trailer and the ICV.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use netloom_core::{Ctx, DropReason, Frame, PortId, Stage};
use smoltcp::wire::IpProtocol;

use super::Node;
use crate::net::{self, ETH_IPV4, IpInfo, Mac, VXLAN_PORT};

/// Bytes VXLAN adds in front of an inner frame: outer IPv4, UDP and VXLAN headers
/// (the inner Ethernet header is counted by the inner MTU already, as Linux's
/// `VXLAN_HEADROOM` of 50 counts the outer Ethernet header).
pub const VXLAN_OVERHEAD: u32 = 50;
/// ESP's expansion as Docker accounts for it (SPI, sequence, IV, pad length, next
/// header, ICV).
pub const ESP_OVERHEAD: u32 = 26;

/// A VXLAN tunnel endpoint.
#[derive(Clone, Debug)]
pub struct Vtep {
    /// The node's port facing the overlay bridge.
    pub port: PortId,
    /// The VXLAN network identifier.
    pub vni: u32,
    /// The host's underlay address (the tunnel's source).
    pub local: Ipv4Addr,
    /// Where each remote inner MAC lives (Docker's static FDB entries).
    pub fdb: BTreeMap<Mac, Ipv4Addr>,
    /// Remote containers' addresses and MACs: Docker creates the VXLAN device with
    /// `proxy` and installs a permanent neighbour for each, so the device answers their
    /// ARP requests itself and no ARP crosses the underlay for them.
    pub neighbours: BTreeMap<Ipv4Addr, Mac>,
    /// Encrypted overlay (ESP between the hosts).
    pub esp: bool,
}

/// What encapsulation needs of a [`Vtep`], copied per frame without allocating.
#[derive(Clone, Copy, Debug)]
struct Tunnel {
    port: PortId,
    vni: u32,
    local: Ipv4Addr,
    esp: bool,
}

impl Vtep {
    fn tunnel(&self) -> Tunnel {
        Tunnel {
            port: self.port,
            vni: self.vni,
            local: self.local,
            esp: self.esp,
        }
    }
}

impl Tunnel {
    /// The outer IP packet's length for an inner IP packet of `inner` bytes.
    fn outer_len(&self, inner: u32) -> u32 {
        let udp = 8 + 8 + 14 + inner;
        if self.esp {
            let pad = (4 - (udp + 2) % 4) % 4;
            20 + 16 + udp + pad + 2 + 8
        } else {
            20 + udp
        }
    }

    /// The largest inner IP packet that fits an underlay MTU of `mtu`.
    fn room(&self, mtu: u32) -> u32 {
        let mut room = mtu.saturating_sub(VXLAN_OVERHEAD + if self.esp { ESP_OVERHEAD } else { 0 });
        while room > 0 && self.outer_len(room) > mtu {
            room -= 1;
        }
        room
    }

    fn overhead(&self, mtu: u32) -> u32 {
        mtu - self.room(mtu)
    }
}

const ESP_SPI: u32 = 0x0d0c_4e7e;

/// A machine's tunnel endpoints and the sequence number its ESP packets share.
#[derive(Default)]
pub(super) struct Vteps {
    pub(super) list: Vec<Vtep>,
    esp_seq: u32,
}

impl Node {
    /// Adds a tunnel endpoint behind a new interface `name` of MTU `mtu`; returns its port.
    pub fn add_vtep(&mut self, name: &str, mac: Mac, mtu: u32, mut vtep: Vtep) -> PortId {
        let port = self.add_iface(super::Iface {
            name: name.to_string(),
            mac,
            v4: Vec::new(),
            v6: Vec::new(),
            mtu,
            bridge: None,
        });
        vtep.port = port;
        self.vteps.list.push(vtep);
        port
    }

    /// Replaces the forwarding and neighbour entries of the endpoint for `vni` (Docker's
    /// control plane adding and withdrawing remote containers).
    pub fn set_vtep_entries(
        &mut self,
        vni: u32,
        fdb: BTreeMap<Mac, Ipv4Addr>,
        neighbours: BTreeMap<Ipv4Addr, Mac>,
    ) {
        if let Some(v) = self.vteps.list.iter_mut().find(|v| v.vni == vni) {
            v.fdb = fdb;
            v.neighbours = neighbours;
        }
    }

    /// A frame from the overlay bridge: refuse it (PMTU) or encapsulate and route it.
    pub(super) fn vxlan_encap(&mut self, ctx: &mut Ctx<'_>, vi: usize, frame: Frame) {
        let v = self.vteps.list[vi].tunnel();
        if self.vxlan_proxy_arp(ctx, vi, &frame) {
            return;
        }
        let dst = frame.dst_mac().unwrap_or_default();
        // Docker installs no flood entry: broadcasts, multicasts and unknown unicast do
        // not cross hosts (vxlan_xmit finds no target and drops them).
        let known = self.vteps.list[vi]
            .fdb
            .get(&dst)
            .copied()
            .filter(|_| !net::is_group(&dst));
        let Some(first) = known else {
            // An unknown unicast destination is a real dead end (a container that left);
            // a broadcast staying home is ordinary.
            let reason = if net::is_group(&dst) {
                DropReason::NotForUs
            } else {
                DropReason::NoRoute
            };
            ctx.drop_frame(&frame, reason, Stage::InterfaceOutput, || {
                if net::is_group(&dst) {
                    format!(
                        "VNI {}: broadcasts and multicasts do not cross hosts on a Docker overlay \
                         (no flood entry in the VXLAN forwarding table)",
                        v.vni
                    )
                } else {
                    format!(
                        "VNI {}: no forwarding entry for {}: no container with that MAC on another host",
                        v.vni,
                        netloom_core::frame::MacDisplay(dst)
                    )
                }
            });
            return;
        };
        // skb_tunnel_check_pmtu: the inner packet must fit the underlay path.
        if let Some(mtu) = self
            .route(IpAddr::V4(first))
            .map(|r| r.port)
            .and_then(|p| self.ifaces.get(p as usize))
            && let Some((et, off)) = net::ethertype(&frame.data)
            && et == ETH_IPV4
            && let Some(inner) = frame.data.get(off..).and_then(net::parse_ip)
        {
            let room = v.room(mtu.mtu);
            let df = frame.data.get(off + 6).is_some_and(|b| b & 0x40 != 0);
            if inner.total_len > room as usize && df && room >= 576 {
                let ifname = mtu.name.clone();
                let len = inner.total_len;
                let src = inner.tuple.src;
                ctx.drop_frame(&frame, DropReason::MtuExceeded, Stage::IpFragment, || {
                    format!(
                        "VXLAN: a {len}-byte inner packet with DF set does not fit the MTU {} of {ifname} less \
                         {} bytes of encapsulation ({room}): dropped, ICMP fragmentation needed (mtu {room}) \
                         sent back to {src}",
                        mtu.mtu,
                        v.overhead(mtu.mtu)
                    )
                });
                self.vxlan_frag_needed(ctx, &frame, off, &inner, room, v.port);
                return;
            }
        }
        let inner = frame.data.clone();
        let pkt = self.vxlan_packet(v, first, &inner);
        let f = Frame {
            data: Bytes::new(),
            ..frame
        };
        if ctx.tracing() {
            ctx.note(&f, Stage::InterfaceOutput, || {
                format!(
                    "VXLAN VNI {} encapsulated to {first}{}",
                    v.vni,
                    if v.esp { " (ESP)" } else { "" }
                )
            });
        }
        self.send_originated(ctx, f, pkt, None);
    }

    /// ARP suppression (`vxlan … proxy`): a request for a remote container's address
    /// is answered by the device with that container's MAC. Returns whether it did.
    fn vxlan_proxy_arp(&mut self, ctx: &mut Ctx<'_>, vi: usize, frame: &Frame) -> bool {
        let Some((crate::net::ETH_ARP, off)) = net::ethertype(&frame.data) else {
            return false;
        };
        let Some(a) = frame.data.get(off..).and_then(net::parse_arp) else {
            return false;
        };
        // With `proxy` the device consumes every ARP frame (arp_reduce): a request it
        // cannot answer goes nowhere.
        let Some(&mac) = self.vteps.list[vi].neighbours.get(&a.tpa).filter(|_| a.op == 1) else {
            let vni = self.vteps.list[vi].vni;
            if a.op != 1 {
                ctx.drop_frame(frame, DropReason::NotForUs, Stage::ArpResolve, || {
                    format!("VNI {vni}: the VXLAN device (proxy) consumes ARP; this reply stays on its host")
                });
                return true;
            }
            // Only this copy of the (flooded) request ends here: a container on this
            // host may still answer it. When no one does, the asker's resolution fails
            // and that is where `arp-unresolved` is recorded.
            ctx.drop_frame(frame, DropReason::NotForUs, Stage::ArpResolve, || {
                format!(
                    "VNI {vni}: the VXLAN device does not answer ARP for {}: it answers only for containers \
                     Docker's control plane knows on other hosts (a container on this host may)",
                    a.tpa
                )
            });
            return true;
        };
        let port = self.vteps.list[vi].port;
        ctx.deliver(frame, || {
            format!(
                "ARP who-has {} answered by the VXLAN device (proxy, Docker's neighbour entry)",
                a.tpa
            )
        });
        let reply = net::arp(2, mac, a.tpa, a.sha, a.spa);
        let f = ctx.originate(Bytes::from(net::ethernet(
            a.sha,
            mac,
            crate::net::ETH_ARP,
            &reply,
        )));
        ctx.send(port, f);
        true
    }

    /// The outer packet for `inner` towards `remote`.
    fn vxlan_packet(&mut self, v: Tunnel, remote: Ipv4Addr, inner: &[u8]) -> Vec<u8> {
        let sport = flow_port(inner);
        let mut udp = Vec::with_capacity(16 + inner.len());
        udp.extend_from_slice(&sport.to_be_bytes());
        udp.extend_from_slice(&VXLAN_PORT.to_be_bytes());
        udp.extend_from_slice(&((16 + inner.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]); // Linux's vxlan sends IPv4 without UDP checksum
        udp.extend_from_slice(&[0x08, 0, 0, 0]);
        udp.extend_from_slice(&(v.vni << 8).to_be_bytes());
        udp.extend_from_slice(inner);
        let id = self.next_ip_id();
        if v.esp {
            let esp = esp_wrap(&udp, 17, self.esp_seq());
            net::ipv4(v.local, remote, IpProtocol::IpSecEsp, 64, id, false, &esp)
        } else {
            net::ipv4(v.local, remote, IpProtocol::Udp, 64, id, false, &udp)
        }
    }

    fn esp_seq(&mut self) -> u32 {
        self.vteps.esp_seq = self.vteps.esp_seq.wrapping_add(1);
        self.vteps.esp_seq
    }

    /// `iptunnel_pmtud_build_icmp`: an ICMP "fragmentation needed" from the inner
    /// destination to the inner source, sent back into the overlay bridge.
    fn vxlan_frag_needed(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        off: usize,
        inner: &IpInfo,
        mtu: u32,
        port: PortId,
    ) {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (inner.tuple.src, inner.tuple.dst) else {
            return;
        };
        let Some(ip) = frame.data.get(off..) else { return };
        let quote = &ip[..ip.len().min(inner.header_len + 8)];
        let icmp = net::icmpv4(3, 4, [0, 0, (mtu >> 8) as u8, mtu as u8], quote);
        let pkt = net::ipv4(dst, src, IpProtocol::Icmp, 64, self.next_ip_id(), false, &icmp);
        let (Some(d), Some(s)) = (frame.dst_mac(), frame.src_mac()) else {
            return;
        };
        let reply = ctx.originate(Bytes::from(net::ethernet(s, d, ETH_IPV4, &pkt)));
        ctx.send(port, reply);
    }

    /// A datagram for UDP port 4789 of this host: back into the overlay bridge of its VNI.
    /// Returns false when no tunnel endpoint claims it.
    pub(super) fn vxlan_decap(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        pkt: &[u8],
        info: &IpInfo,
    ) -> bool {
        let Some(body) = pkt.get(info.header_len + 8..) else {
            return false;
        };
        if body.len() < 8 + 14 || body[0] & 0x08 == 0 {
            return false;
        }
        let vni = u32::from_be_bytes([0, body[4], body[5], body[6]]);
        let Some(v) = self.vteps.list.iter().find(|v| v.vni == vni) else {
            return false;
        };
        let port = v.port;
        let inner = Bytes::copy_from_slice(&body[8..]);
        if ctx.tracing() {
            let from = info.tuple.src;
            ctx.note(frame, Stage::LocalDeliver, || {
                format!("VXLAN VNI {vni} from {from} decapsulated")
            });
        }
        ctx.send(
            port,
            Frame {
                data: inner,
                ..frame.clone()
            },
        );
        true
    }

    /// An ESP packet for this host: unwrapped and handled as the datagram inside.
    /// Returns the inner IP packet, or `None` when it is not ours.
    pub(super) fn esp_unwrap(&self, pkt: &[u8], info: &IpInfo) -> Option<Vec<u8>> {
        if !self.vteps.list.iter().any(|v| v.esp) {
            return None;
        }
        let esp = pkt.get(info.header_len..)?;
        if esp.len() < 16 + 2 + 8 || esp[0..4] != ESP_SPI.to_be_bytes() {
            return None;
        }
        let body = &esp[16..esp.len() - 8];
        let mut plain: Vec<u8> = body.iter().enumerate().map(|(i, b)| b ^ keystream(i)).collect();
        let next = *plain.last()?;
        let pad = *plain.get(plain.len().checked_sub(2)?)? as usize;
        plain.truncate(plain.len().checked_sub(2 + pad)?);
        let (IpAddr::V4(s), IpAddr::V4(d)) = (info.tuple.src, info.tuple.dst) else {
            return None;
        };
        Some(net::ipv4(
            s,
            d,
            IpProtocol::from(next),
            info.ttl,
            0,
            false,
            &plain,
        ))
    }
}

/// Linux picks the outer source port from a hash of the inner flow, within the local
/// port range, so one flow keeps one outer port.
fn flow_port(inner: &[u8]) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in inner
        .get(..12)
        .unwrap_or_default()
        .iter()
        .chain(inner.get(26..34).unwrap_or_default())
    {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    32768 + (h % (60999 - 32768 + 1)) as u16
}

/// A stand-in for AES-GCM: the bytes on the wire differ from the plaintext, and the
/// receiving host recovers them. (No secrecy is modelled, only the sizes and headers.)
fn keystream(i: usize) -> u8 {
    (i as u8).wrapping_mul(0x9d) ^ 0x5a
}

/// ESP transport-mode payload: SPI, sequence, IV, the protected bytes with padding to
/// 4 bytes, pad length, next header, then an 8-byte ICV.
fn esp_wrap(payload: &[u8], next: u8, seq: u32) -> Vec<u8> {
    let pad = (4 - (payload.len() + 2) % 4) % 4;
    let mut plain = Vec::with_capacity(payload.len() + pad + 2);
    plain.extend_from_slice(payload);
    plain.extend((1..=pad as u8).collect::<Vec<u8>>());
    plain.push(pad as u8);
    plain.push(next);
    let mut v = Vec::with_capacity(16 + plain.len() + 8);
    v.extend_from_slice(&ESP_SPI.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&u64::from(seq).to_be_bytes());
    v.extend(plain.iter().enumerate().map(|(i, b)| b ^ keystream(i)));
    v.extend_from_slice(&[0xa5; 8]);
    v
}
