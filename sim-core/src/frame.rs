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
        };
        assert_eq!(f.l3_len(), 100);
    }
}
