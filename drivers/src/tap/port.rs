//! The element that stands for a real network namespace: frames the fabric delivers to
//! it wait in an outbound queue until the real-time loop writes them to the TAP.

use std::collections::VecDeque;

use bytes::Bytes;
use netloom_core::{Ctx, Element, Frame, Offload, PortId};

/// A real machine's interfaces, one port each (`eth0`, `eth1`…).
pub struct TapPort {
    names: Vec<String>,
    /// Frames to write, with the port (interface) they leave through and their
    /// offload metadata.
    pub outbound: VecDeque<(PortId, Bytes, Option<Offload>)>,
    /// Frames dropped because the queue was full (the TAP writer fell behind).
    pub tx_dropped: u64,
}

/// Frames a TAP port keeps waiting for the writer before it drops.
const QUEUE: usize = 4096;

impl TapPort {
    /// A port per interface name, in order.
    pub fn new(names: Vec<String>) -> Self {
        TapPort {
            names,
            outbound: VecDeque::new(),
            tx_dropped: 0,
        }
    }
}

impl Element for TapPort {
    fn on_frame(&mut self, ctx: &mut Ctx<'_>, port: PortId, frame: Frame) {
        if self.outbound.len() >= QUEUE {
            self.tx_dropped += 1;
            ctx.drop_frame(
                &frame,
                netloom_core::DropReason::QueueFull,
                netloom_core::Stage::InterfaceOutput,
                || "the TAP writer fell behind".into(),
            );
            return;
        }
        ctx.deliver(&frame, || "to the real namespace".into());
        self.outbound.push_back((port, frame.data, frame.offload));
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_>, _token: u64) {}

    fn port_name(&self, port: PortId) -> String {
        self.names
            .get(port as usize)
            .cloned()
            .unwrap_or_else(|| format!("p{port}"))
    }
}
