//! Frames: owned Ethernet frames plus metadata that never changes their wire image.

use bytes::Bytes;
use serde::Serialize;

use crate::time::SimTime;

/// Identifies one frame (and, across hops, its rewrites) in the trace.
///
/// A frame keeps its id while it is forwarded, rewritten (TTL, NAT) or encapsulated;
/// a copy (flooding, fragmentation) gets a new id whose parent is recorded in the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FrameId(pub u64);

impl std::fmt::Display for FrameId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An Ethernet frame in the fabric.
///
/// `data` is the complete wire image from the destination MAC onwards, without the
/// FCS. VLAN tags, VXLAN headers and NAT rewrites live in these bytes, as on a wire.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The trace identity of this frame.
    pub id: FrameId,
    /// The wire bytes.
    pub data: Bytes,
    /// When the frame (or the frame it was copied from) entered the fabric.
    pub born: SimTime,
    /// How many links this frame and its ancestors have crossed.
    pub hops: u32,
    /// Segmentation offload: set when the frame stands for several wire frames (a
    /// TCP segment larger than the MTU from a TAP with TSO) or carries a partial
    /// checksum, as Linux's virtio-net header describes it. `None` for ordinary frames.
    pub offload: Option<Offload>,
}

/// A virtio-net header's fields (`struct virtio_net_hdr`): what a TAP with offloads
/// says about a frame, and what must be said when writing one back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offload {
    /// `VIRTIO_NET_HDR_F_*` (1 = the checksum at `csum_start + csum_offset` is partial).
    pub flags: u8,
    /// `VIRTIO_NET_HDR_GSO_*` (0 none, 1 TCPv4, 4 TCPv6; 0x80 = ECN).
    pub gso_type: u8,
    /// Length of the headers (a hint).
    pub hdr_len: u16,
    /// Payload bytes per segment when cut.
    pub gso_size: u16,
    /// Where the checksum's coverage starts.
    pub csum_start: u16,
    /// Where the checksum sits, from `csum_start`.
    pub csum_offset: u16,
}

impl Offload {
    /// Whether the frame must be cut into segments before it meets a real MTU.
    pub fn is_gso(&self) -> bool {
        self.gso_type & 0x7f != 0 && self.gso_size > 0
    }
}

impl Frame {
    /// The frame's length on the wire, without preamble and FCS.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the frame has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The destination MAC, if the frame is long enough to have one.
    pub fn dst_mac(&self) -> Option<[u8; 6]> {
        self.data.get(0..6).and_then(|s| s.try_into().ok())
    }

    /// The source MAC, if the frame is long enough to have one.
    pub fn src_mac(&self) -> Option<[u8; 6]> {
        self.data.get(6..12).and_then(|s| s.try_into().ok())
    }

    /// The size of the L3 payload, i.e. what counts against an interface MTU
    /// (the frame minus its Ethernet header and any 802.1Q tags).
    pub fn l3_len(&self) -> usize {
        let mut off = 12;
        while let Some(t) = self.data.get(off..off + 2) {
            let ethertype = u16::from_be_bytes([t[0], t[1]]);
            if ethertype == 0x8100 || ethertype == 0x88a8 {
                off += 4;
            } else {
                break;
            }
        }
        self.data.len().saturating_sub(off + 2)
    }

    /// The L3 size of the largest wire frame this frame stands for: [`Frame::l3_len`],
    /// or for a segmentation-offload frame its IP and TCP headers plus one segment.
    pub fn wire_l3_len(&self) -> usize {
        let l3 = self.l3_len();
        let Some(o) = self.offload.filter(Offload::is_gso) else {
            return l3;
        };
        let ip = self.data.len() - l3;
        let headers = match self.data.get(ip).map(|b| b >> 4) {
            Some(4) => {
                let ihl = (self.data.get(ip).copied().unwrap_or(0x45) & 0x0f) as usize * 4;
                let doff = self.data.get(ip + ihl + 12).map_or(20, |b| (b >> 4) as usize * 4);
                ihl + doff
            }
            Some(6) => 40 + self.data.get(ip + 40 + 12).map_or(20, |b| (b >> 4) as usize * 4),
            _ => return l3,
        };
        (headers + o.gso_size as usize).min(l3)
    }
}

/// A MAC address, printed as Linux prints it.
pub struct MacDisplay(pub [u8; 6]);

impl std::fmt::Display for MacDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l3_len_skips_vlan_tags() {
        let mut plain = vec![0u8; 14 + 100];
        plain[12] = 0x08;
        let f = Frame {
            id: FrameId(1),
            data: Bytes::from(plain),
            born: SimTime::ZERO,
            hops: 0,
            offload: None,
        };
        assert_eq!(f.l3_len(), 100);
        let mut tagged = vec![0u8; 18 + 100];
        tagged[12] = 0x81;
        tagged[16] = 0x08;
        let f = Frame {
            id: FrameId(2),
            data: Bytes::from(tagged),
            born: SimTime::ZERO,
            hops: 0,
            offload: None,
        };
        assert_eq!(f.l3_len(), 100);
    }
}
