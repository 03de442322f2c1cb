//! Links: what joins two ports, with the impairments the core applies.
//!
//! A frame entering a link passes a verdict chain in a fixed order — state, MTU,
//! random loss, queue — and the first verdict other than "pass" decides its fate.
//! Elements never re-implement impairments.

use serde::Serialize;

use crate::time::{BitRate, SimDuration, SimTime};
use crate::trace::{ElemId, PortId};

/// Index of a link in the fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LinkId(pub u32);

/// The properties of a link, the same in both directions.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub latency: SimDuration,
    /// Extra delay drawn uniformly from `[0, jitter]` for each frame. Unless
    /// `reorder` is set, a frame never arrives before the one sent before it in the
    /// same direction (it waits for it), as on a real cable or a queue: jitter delays
    /// packets, it does not overtake them.
    pub jitter: SimDuration,
    /// Lets jitter reorder frames, each arriving at its own drawn time (netem's
    /// behaviour when jitter is used without a rate).
    pub reorder: bool,
    /// Serialisation rate; `None` means infinitely fast.
    pub rate: Option<BitRate>,
    /// Probability in `[0, 1]` that a frame is lost.
    pub loss: f64,
    /// Largest L3 payload the link carries (frames above it are dropped, as a
    /// receiving NIC or bridge port drops them); `None` = no limit.
    pub mtu: Option<u32>,
    /// Whether the link carries frames.
    pub up: bool,
    /// Most bytes waiting for serialisation per direction before tail drop
    /// (only meaningful with a `rate`).
    pub queue_bytes: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: SimDuration::from_micros(10),
            jitter: SimDuration::ZERO,
            reorder: false,
            rate: None,
            loss: 0.0,
            mtu: None,
            up: true,
            // Linux's default txqueuelen of 1000 full-size frames.
            queue_bytes: 1000 * 1514,
        }
    }
}

/// A link between two element ports.
#[derive(Clone, Debug)]
pub struct Link {
    /// A human name (`host1.eth0 <-> office`).
    pub name: String,
    /// The two ends.
    pub ends: [(ElemId, PortId); 2],
    /// The current properties.
    pub config: LinkConfig,
    /// Per direction (0: from end 0, 1: from end 1), when the transmitter is next free.
    pub(crate) busy_until: [SimTime; 2],
    /// Frames that crossed, per direction.
    pub tx_frames: [u64; 2],
    /// Per direction, when the last frame put on the link arrives at the far end.
    pub(crate) last_arrival: [SimTime; 2],
}

impl Link {
    pub(crate) fn new(name: String, ends: [(ElemId, PortId); 2], config: LinkConfig) -> Self {
        Link {
            name,
            ends,
            config,
            busy_until: [SimTime::ZERO; 2],
            tx_frames: [0; 2],
            last_arrival: [SimTime::ZERO; 2],
        }
    }
}
