//! netloom-core: the sans-IO engine of netloom.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`time`] | [`SimTime`], [`SimDuration`], [`BitRate`]: simulated time, never the wall clock |
//! | [`frame`] | [`Frame`]: owned wire bytes plus metadata that never changes them |
//! | [`element`] | the [`Element`] trait and the [`Ctx`] through which elements act |
//! | [`link`] | [`LinkConfig`]: latency, jitter, rate with a bounded queue, loss, MTU, up/down |
//! | [`fabric`] | [`Fabric`]: elements, links and the `(time, seq)`-ordered scheduler |
//! | [`trace`] | [`TraceEvent`], [`DropReason`], [`Fate`]: what happened to every frame |
//! | [`capture`] | pcap output with simulated timestamps |
//! | [`rng`] | [`SimRng`]: the only randomness, seeded per run |
//!
//! Guarantees: the core reads no clock and no unseeded RNG, performs no I/O, and gives
//! every frame exactly one fate — delivered, dropped with a reason, or in flight. The
//! same seed and inputs produce the same trace.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod capture;
pub mod element;
pub mod fabric;
pub mod frame;
pub mod link;
pub mod rng;
pub mod time;
pub mod trace;

pub use element::{Ctx, Element};
pub use fabric::{Fabric, FabricStats, TraceBudget};
pub use frame::{Frame, FrameId, Offload};
pub use link::{Link, LinkConfig, LinkId};
pub use rng::SimRng;
pub use time::{BitRate, SimDuration, SimTime};
pub use trace::{DropReason, ElemId, EventKind, Fate, PortId, Stage, Trace, TraceEvent, TraceLevel};
