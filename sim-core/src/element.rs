//! The element trait and the context through which elements act.

use std::any::Any;

use bytes::Bytes;

use crate::fabric::Core;
use crate::frame::{Frame, FrameId};
use crate::rng::SimRng;
use crate::time::SimTime;
use crate::trace::{DropReason, ElemId, EventKind, PortId, Stage, TraceLevel};

/// A node of the topology: bridge, router, host stack, NAT, VTEP, TAP port…
///
/// An element reacts to frames arriving on its ports and to its own timers. It acts
/// only through [`Ctx`]: it sends, delivers, holds or drops every frame it receives,
/// arms timers, reads the simulated clock and draws from the seeded RNG. It performs no
/// I/O of its own.
pub trait Element: Any {
    /// A frame arrived on `port`. The element must give it a fate through `ctx`.
    fn on_frame(&mut self, ctx: &mut Ctx<'_>, port: PortId, frame: Frame);

    /// A timer armed with [`Ctx::schedule`] fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        let _ = (ctx, token);
    }

    /// The name of `port` for traces (`eth0`, `veth-api`...).
    fn port_name(&self, port: PortId) -> String {
        format!("p{port}")
    }
}

/// What an element can do while handling an input.
pub struct Ctx<'a> {
    pub(crate) core: &'a mut Core,
    pub(crate) elem: ElemId,
    /// The frame being handled, if the input is a frame.
    pub(crate) current: Option<FrameId>,
    /// Whether `current` has been given a fate (sent, delivered, held or dropped).
    pub(crate) disposed: bool,
    /// Frames originated during this input that have not been given a fate yet.
    pub(crate) fresh: Vec<FrameId>,
}

impl<'a> Ctx<'a> {
    /// The simulated time now.
    pub fn now(&self) -> SimTime {
        self.core.now
    }

    /// This element's id.
    pub fn elem(&self) -> ElemId {
        self.elem
    }

    /// The run's seeded RNG.
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.core.rng
    }

    /// Whether hop-level events are being recorded (so notes are worth formatting).
    pub fn tracing(&self) -> bool {
        self.core.level >= TraceLevel::Hops
    }

    /// Creates a frame that this element originates (a stack's packet, an ICMP error,
    /// an ARP request).
    pub fn originate(&mut self, data: Bytes) -> Frame {
        let id = self.record_origin(&data);
        self.born(id, data)
    }

    /// [`Ctx::originate`] of a frame whose bytes come later (a packet waiting for its
    /// link-layer header): the trace describes it from `packet`.
    pub fn originate_about(&mut self, data: Bytes, packet: &[u8]) -> Frame {
        let id = self.record_origin(packet);
        self.born(id, data)
    }

    /// Creates a frame made from `parent`'s content by an application that relays it
    /// (docker-proxy's UDP side sends each datagram it receives on as a new one): the
    /// trace records it as a copy of `parent`, so it belongs to the same step and
    /// `parent`'s sender, while `parent` keeps its own fate. `packet` describes it, as
    /// in [`Ctx::originate_about`].
    pub fn originate_from(&mut self, parent: &Frame, data: Bytes, packet: &[u8]) -> Frame {
        let id = self.core.next_id();
        let describe = self.core.describer;
        self.core.record(
            id,
            self.elem,
            None,
            EventKind::Copied { parent: parent.id },
            || describe.map_or_else(String::new, |d| d(packet)),
        );
        let mut frame = self.born(id, data);
        frame.born = parent.born;
        frame.hops = parent.hops;
        frame
    }

    fn record_origin(&mut self, packet: &[u8]) -> FrameId {
        let id = self.core.next_id();
        let describe = self.core.describer;
        self.core.record(id, self.elem, None, EventKind::Originated, || {
            describe.map_or_else(String::new, |d| d(packet))
        });
        id
    }

    fn born(&mut self, id: FrameId, data: Bytes) -> Frame {
        let frame = Frame {
            id,
            data,
            born: self.core.now,
            hops: 0,
            offload: None,
        };
        self.fresh.push(id);
        frame
    }

    /// Sends `frame` out of `port` onto its link.
    ///
    /// The frame keeps its id the first time the frame being handled is sent; further
    /// sends of it (flooding) are recorded as copies with new ids.
    pub fn send(&mut self, port: PortId, mut frame: Frame) {
        frame.id = self.claim(frame.id);
        self.core.transmit(self.elem, port, frame);
    }

    /// Records that `frame` reached a stack on this element.
    pub fn deliver(&mut self, frame: &Frame, detail: impl FnOnce() -> String) {
        let id = self.claim(frame.id);
        self.core
            .record(id, self.elem, None, EventKind::Delivered, detail);
    }

    /// Drops `frame` for `reason` at `stage`; `detail` explains it for a human and is
    /// only called when hop-level tracing is on or the drop is recorded.
    pub fn drop_frame(
        &mut self,
        frame: &Frame,
        reason: DropReason,
        stage: Stage,
        detail: impl FnOnce() -> String,
    ) {
        let id = self.claim(frame.id);
        self.core
            .record_always(id, self.elem, None, EventKind::Dropped { reason, stage }, detail);
    }

    /// Keeps `frame` in this element (waiting for address resolution). It stays in
    /// flight until the element sends or drops it.
    pub fn hold(&mut self, frame: &Frame) {
        let id = frame.id;
        if self.current == Some(id) && !self.disposed {
            self.disposed = true;
        }
        self.fresh.retain(|f| *f != id);
        self.core.held.insert(id, self.elem);
        self.core
            .record(id, self.elem, None, EventKind::Held, String::new);
    }

    /// Records a decision about `frame` (a NAT rewrite, a route chosen).
    pub fn note(&mut self, frame: &Frame, stage: Stage, detail: impl FnOnce() -> String) {
        self.core
            .record(frame.id, self.elem, None, EventKind::Note { stage }, detail);
    }

    /// Arms a timer that calls [`Element::on_timer`] with `token` at `at`.
    pub fn schedule(&mut self, at: SimTime, token: u64) {
        let at = at.max(self.core.now);
        self.core.push_timer(at, self.elem, token);
    }

    /// The MTU of the link on `port`, if it has one.
    pub fn port_mtu(&self, port: PortId) -> Option<u32> {
        self.core
            .port_link(self.elem, port)
            .and_then(|(l, _)| self.core.links[l.0 as usize].config.mtu)
    }

    /// Whether `port` is connected to a link that is up.
    pub fn port_up(&self, port: PortId) -> bool {
        self.core
            .port_link(self.elem, port)
            .is_some_and(|(l, _)| self.core.links[l.0 as usize].config.up)
    }

    /// Gives `id` its fate-carrying identity: the frame being handled keeps its id the
    /// first time, a held frame keeps its id when released, anything else is a copy.
    fn claim(&mut self, id: FrameId) -> FrameId {
        if self.current == Some(id) && !self.disposed {
            self.disposed = true;
            return id;
        }
        if let Some(i) = self.fresh.iter().position(|f| *f == id) {
            self.fresh.swap_remove(i);
            return id;
        }
        if self.core.held.get(&id) == Some(&self.elem) {
            self.core.held.remove(&id);
            return id;
        }
        let copy = self.core.next_id();
        self.core.record(
            copy,
            self.elem,
            None,
            EventKind::Copied { parent: id },
            String::new,
        );
        copy
    }
}

impl Drop for Ctx<'_> {
    /// Frames originated and then forgotten are recorded, so no frame is lost silently.
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.fresh) {
            self.core.record_always(
                id,
                self.elem,
                None,
                EventKind::Dropped {
                    reason: DropReason::Unaccounted,
                    stage: Stage::ErrorDrop,
                },
                || "originated but never sent, delivered, held or dropped".to_string(),
            );
        }
    }
}

/// Downcasting helper for reading concrete elements.
pub(crate) fn as_any(e: &dyn Element) -> &dyn Any {
    e
}

/// Downcasting helper for the runner, which needs to reach concrete elements.
pub(crate) fn as_any_mut(e: &mut dyn Element) -> &mut dyn Any {
    e
}
