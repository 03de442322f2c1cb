//! The fabric: elements, links and the scheduler that owns simulated time.
//!
//! Frames move synchronously from an element into a link, where the impairment chain
//! decides their fate and the arrival time; the scheduler, a priority queue ordered by
//! `(time, sequence number)`, owns everything pending. The same seed and the same
//! inputs therefore give the same trace, byte for byte.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

use petgraph::Undirected;
use petgraph::stable_graph::StableGraph;

use crate::capture::{CaptureSink, Captured};
use crate::element::{Ctx, Element, as_any, as_any_mut};
use crate::frame::{Frame, FrameId};
use crate::link::{Link, LinkConfig, LinkId};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::trace::{DropReason, ElemId, EventKind, Fate, PortId, Stage, Trace, TraceEvent, TraceLevel};

/// Counters of the whole fabric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FabricStats {
    /// Frames handed to an element (one per hop).
    pub frame_hops: u64,
    /// Timer firings.
    pub timers: u64,
    /// Frames dropped by links (state, MTU, loss, queue).
    pub link_drops: u64,
}

/// The simulation: a set of elements joined by links, driven in simulated time.
pub struct Fabric {
    elements: Vec<Slot>,
    core: Core,
}

struct Slot {
    name: String,
    elem: Box<dyn Element>,
}

/// Everything the elements share, split from them so an element and the core can be
/// borrowed at once.
pub(crate) struct Core {
    pub(crate) now: SimTime,
    seq: u64,
    queue: Queue,
    pub(crate) links: Vec<Link>,
    ports: Vec<Vec<Option<(LinkId, usize)>>>,
    pub(crate) rng: SimRng,
    pub(crate) level: TraceLevel,
    trace: Trace,
    next_frame: u64,
    pub(crate) held: BTreeMap<FrameId, ElemId>,
    graph: StableGraph<ElemId, LinkId, Undirected>,
    nodes: Vec<petgraph::stable_graph::NodeIndex>,
    capture: Option<Capture>,
    stats: FabricStats,
    /// Hop-level events that may still be recorded.
    hop_budget: u64,
    /// Fate events (origin, copy, delivery) that may still be recorded.
    fate_budget: u64,
    /// Drop events that may still be recorded.
    drop_budget: u64,
    /// Events left out because a budget ran out, since the budgets were last set.
    unrecorded: u64,
    /// Says what a frame is when it is born (protocol knowledge lives in the drivers).
    pub(crate) describer: Option<fn(&[u8]) -> String>,
}

/// Where captured frames go.
enum Capture {
    /// Kept per link, for [`Fabric::captured`].
    Memory(Vec<Vec<Captured>>),
    /// Handed over as they cross.
    Sink(Box<dyn CaptureSink>),
}

/// How many events of each kind a trace may still record (see
/// [`Fabric::set_trace_budget`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceBudget {
    /// Transmissions, receptions, notes and holds.
    pub hops: u64,
    /// Origins, copies and deliveries.
    pub fates: u64,
    /// Drops.
    pub drops: u64,
}

impl TraceBudget {
    /// What one scenario step may record: enough to explain any ping or connect and
    /// the start of a bulk transfer, without holding every segment of a 100 GB one.
    pub const STEP: TraceBudget = TraceBudget {
        hops: 200_000,
        fates: 100_000,
        drops: 20_000,
    };
    /// No bound (the default).
    pub const UNBOUNDED: TraceBudget = TraceBudget {
        hops: u64::MAX,
        fates: u64::MAX,
        drops: u64::MAX,
    };
}

/// Takes one from `budget`, or counts the event as left out.
fn take(budget: &mut u64, unrecorded: &mut u64) -> bool {
    if *budget == 0 {
        *unrecorded += 1;
        return false;
    }
    *budget -= 1;
    true
}

/// Pending events bucketed by time; within one time, FIFO. Because `seq` grows with
/// every push, FIFO within a bucket is exactly `(time, seq)` order.
#[derive(Default)]
struct Queue {
    buckets: BTreeMap<SimTime, VecDeque<Scheduled>>,
    spare: Vec<VecDeque<Scheduled>>,
}

impl Queue {
    fn push(&mut self, s: Scheduled) {
        let spare = &mut self.spare;
        self.buckets
            .entry(s.at)
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push_back(s);
    }
    fn pop(&mut self) -> Option<Scheduled> {
        let mut e = self.buckets.first_entry()?;
        let s = e.get_mut().pop_front();
        if e.get().is_empty() {
            let q = e.remove();
            if self.spare.len() < 64 {
                self.spare.push(q);
            }
        }
        s
    }
    fn peek_at(&self) -> Option<SimTime> {
        self.buckets.first_key_value().map(|(t, _)| *t)
    }
    fn iter(&self) -> impl Iterator<Item = &Scheduled> {
        self.buckets.values().flatten()
    }
}

struct Scheduled {
    at: SimTime,
    seq: u64,
    ev: Ev,
}

enum Ev {
    Deliver { to: (ElemId, PortId), frame: Frame },
    Timer { elem: ElemId, token: u64 },
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    // Reversed: the BinaryHeap is a max-heap and the earliest event must come first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

impl Fabric {
    /// An empty fabric whose randomness is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Fabric {
            elements: Vec::new(),
            core: Core {
                now: SimTime::ZERO,
                seq: 0,
                queue: Queue::default(),
                links: Vec::new(),
                ports: Vec::new(),
                rng: SimRng::new(seed),
                level: TraceLevel::Hops,
                trace: Trace::default(),
                next_frame: 1,
                held: BTreeMap::new(),
                graph: StableGraph::default(),
                nodes: Vec::new(),
                capture: None,
                stats: FabricStats::default(),
                hop_budget: u64::MAX,
                fate_budget: u64::MAX,
                drop_budget: u64::MAX,
                unrecorded: 0,
                describer: None,
            },
        }
    }

    /// Sets how much the trace records (default: every hop).
    pub fn set_trace_level(&mut self, level: TraceLevel) {
        self.core.level = level;
    }

    /// How much the trace records.
    pub fn trace_level(&self) -> TraceLevel {
        self.core.level
    }

    /// Gives every frame's origin event a one-line description of the frame (`ARP
    /// who-has …`, `TCP a > b [S]`), computed only when the trace keeps hop details.
    pub fn set_frame_describer(&mut self, describe: fn(&[u8]) -> String) {
        self.core.describer = Some(describe);
    }

    /// Bounds every kind of event the trace may still record: hops, fates (origins,
    /// copies, deliveries) and drops, each with its own allowance, so that a step's
    /// trace is bounded whatever the number of packets it moves. Without a call nothing
    /// is bounded (property tests count every fate). Resets [`Fabric::unrecorded`].
    pub fn set_trace_budget(&mut self, budget: TraceBudget) {
        self.core.hop_budget = budget.hops;
        self.core.fate_budget = budget.fates;
        self.core.drop_budget = budget.drops;
        self.core.unrecorded = 0;
    }

    /// Events left out of the trace since [`Fabric::set_trace_budget`] because a budget
    /// ran out (hops beyond the hop budget included).
    pub fn unrecorded(&self) -> u64 {
        self.core.unrecorded
    }

    /// Starts recording every frame crossing every link in memory, for
    /// [`Fabric::captured`] (tests; memory grows with the frames).
    pub fn enable_capture(&mut self) {
        let n = self.core.links.len();
        self.core.capture = Some(Capture::Memory(vec![Vec::new(); n]));
    }

    /// Hands every frame crossing every link to `sink` as it crosses (pcap files written
    /// as the run goes: memory does not grow with the frames).
    pub fn enable_capture_to(&mut self, sink: Box<dyn CaptureSink>) {
        self.core.capture = Some(Capture::Sink(sink));
    }

    /// Ends a capture given to [`Fabric::enable_capture_to`]: the sink flushes and is
    /// dropped; capture stops.
    ///
    /// # Errors
    /// The first error the sink met.
    pub fn finish_capture(&mut self) -> std::io::Result<()> {
        match self.core.capture.take() {
            Some(Capture::Sink(mut s)) => s.finish(),
            other => {
                self.core.capture = other;
                Ok(())
            }
        }
    }

    /// Adds an element; its id is its index.
    pub fn add_element(&mut self, name: impl Into<String>, elem: Box<dyn Element>) -> ElemId {
        let id = ElemId(self.elements.len() as u32);
        self.elements.push(Slot {
            name: name.into(),
            elem,
        });
        self.core.ports.push(Vec::new());
        let node = self.core.graph.add_node(id);
        self.core.nodes.push(node);
        id
    }

    /// Joins port `a` to port `b` with a link of `config`.
    ///
    /// # Panics
    /// If an element id is not from this fabric or a port is already connected: both
    /// are bugs of the code building the topology.
    pub fn connect(&mut self, a: (ElemId, PortId), b: (ElemId, PortId), config: LinkConfig) -> LinkId {
        let id = LinkId(self.core.links.len() as u32);
        let name = format!(
            "{}.{} <-> {}.{}",
            self.elements[a.0.0 as usize].name,
            self.elements[a.0.0 as usize].elem.port_name(a.1),
            self.elements[b.0.0 as usize].name,
            self.elements[b.0.0 as usize].elem.port_name(b.1)
        );
        for (side, (e, p)) in [a, b].into_iter().enumerate() {
            let ports = &mut self.core.ports[e.0 as usize];
            if ports.len() <= p as usize {
                ports.resize(p as usize + 1, None);
            }
            assert!(
                ports[p as usize].is_none(),
                "port {p} of element {} connected twice",
                e.0
            );
            ports[p as usize] = Some((id, side));
        }
        self.core.links.push(Link::new(name, [a, b], config));
        let (na, nb) = (self.core.nodes[a.0.0 as usize], self.core.nodes[b.0.0 as usize]);
        self.core.graph.add_edge(na, nb, id);
        if let Some(Capture::Memory(c)) = &mut self.core.capture {
            c.push(Vec::new());
        }
        id
    }

    /// Renames link `id` (its name is what captures are named after); the default is
    /// `elem.port <-> elem.port`.
    pub fn set_link_name(&mut self, id: LinkId, name: impl Into<String>) {
        if let Some(l) = self.core.links.get_mut(id.0 as usize) {
            l.name = name.into();
        }
    }

    /// The link `id`.
    pub fn link(&self, id: LinkId) -> &Link {
        &self.core.links[id.0 as usize]
    }

    /// The properties of link `id`, to change its state or impairments from now on.
    pub fn link_config_mut(&mut self, id: LinkId) -> &mut LinkConfig {
        &mut self.core.links[id.0 as usize].config
    }

    /// Every link, by id.
    pub fn links(&self) -> impl Iterator<Item = (LinkId, &Link)> {
        self.core
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| (LinkId(i as u32), l))
    }

    /// The link on `port` of `elem`, if connected.
    pub fn link_of(&self, elem: ElemId, port: PortId) -> Option<LinkId> {
        self.core.port_link(elem, port).map(|(l, _)| l)
    }

    /// The topology: elements as nodes, links as edges.
    pub fn topology(&self) -> &StableGraph<ElemId, LinkId, Undirected> {
        &self.core.graph
    }

    /// Puts `elem` in the place of element `id` (same id, ports and links); returns
    /// whether `id` exists. Used to swap a modelled machine for a real one.
    pub fn replace_element(&mut self, id: ElemId, elem: Box<dyn Element>) -> bool {
        match self.elements.get_mut(id.0 as usize) {
            Some(slot) => {
                slot.elem = elem;
                true
            }
            None => false,
        }
    }

    /// The name given to `elem`.
    pub fn element_name(&self, elem: ElemId) -> &str {
        self.elements
            .get(elem.0 as usize)
            .map_or("?", |s| s.name.as_str())
    }

    /// The name of `port` on `elem`.
    pub fn port_name(&self, elem: ElemId, port: PortId) -> String {
        self.elements
            .get(elem.0 as usize)
            .map_or_else(|| format!("p{port}"), |s| s.elem.port_name(port))
    }

    /// How many elements there are.
    pub fn element_count(&self) -> usize {
        self.elements.len()
    }

    /// The element `id` as its concrete type, if it is a `T` (to read it).
    pub fn element<T: Element>(&self, id: ElemId) -> Option<&T> {
        let slot = self.elements.get(id.0 as usize)?;
        as_any(slot.elem.as_ref()).downcast_ref::<T>()
    }

    /// The element `id` as its concrete type, if it is a `T`.
    pub fn element_mut<T: Element>(&mut self, id: ElemId) -> Option<&mut T> {
        let slot = self.elements.get_mut(id.0 as usize)?;
        as_any_mut(slot.elem.as_mut()).downcast_mut::<T>()
    }

    /// Runs `f` on element `id` (if it is a `T`) with a context, so code outside the
    /// fabric can make an element act now (start a ping, open a connection).
    pub fn with_element<T: Element, R>(
        &mut self,
        id: ElemId,
        f: impl FnOnce(&mut T, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let slot = self.elements.get_mut(id.0 as usize)?;
        let elem = as_any_mut(slot.elem.as_mut()).downcast_mut::<T>()?;
        let mut ctx = Ctx {
            core: &mut self.core,
            elem: id,
            current: None,
            disposed: false,
            fresh: Vec::new(),
        };
        Some(f(elem, &mut ctx))
    }

    /// The simulated time now.
    pub fn now(&self) -> SimTime {
        self.core.now
    }

    /// The time of the next pending event, if any.
    pub fn next_event(&self) -> Option<SimTime> {
        self.core.queue.peek_at()
    }

    /// Handles the next pending event; returns `false` when nothing is pending.
    pub fn step(&mut self) -> bool {
        let Some(Scheduled { at, ev, .. }) = self.core.queue.pop() else {
            return false;
        };
        self.core.now = at;
        match ev {
            Ev::Deliver {
                to: (elem, port),
                frame,
            } => {
                self.core.stats.frame_hops += 1;
                let id = frame.id;
                if self.core.take_hop() {
                    self.core
                        .record(id, elem, Some(port), EventKind::Received, String::new);
                }
                let slot = &mut self.elements[elem.0 as usize];
                let mut ctx = Ctx {
                    core: &mut self.core,
                    elem,
                    current: Some(id),
                    disposed: false,
                    fresh: Vec::new(),
                };
                slot.elem.on_frame(&mut ctx, port, frame);
                let disposed = ctx.disposed;
                drop(ctx);
                if !disposed {
                    self.core.record_always(
                        id,
                        elem,
                        Some(port),
                        EventKind::Dropped {
                            reason: DropReason::Unaccounted,
                            stage: Stage::ErrorDrop,
                        },
                        || "the element gave this frame no fate".to_string(),
                    );
                }
            }
            Ev::Timer { elem, token } => {
                self.core.stats.timers += 1;
                let slot = &mut self.elements[elem.0 as usize];
                let mut ctx = Ctx {
                    core: &mut self.core,
                    elem,
                    current: None,
                    disposed: false,
                    fresh: Vec::new(),
                };
                slot.elem.on_timer(&mut ctx, token);
            }
        }
        true
    }

    /// Handles every event up to and including `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: SimTime) {
        while self.core.queue.peek_at().is_some_and(|t| t <= until) {
            self.step();
        }
        self.core.now = self.core.now.max(until);
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: SimDuration) {
        let until = self.core.now + d;
        self.run_until(until);
    }

    /// Handles events until none is pending or `max_events` were handled; returns how
    /// many were handled.
    pub fn run_until_idle(&mut self, max_events: u64) -> u64 {
        let mut n = 0;
        while n < max_events && self.step() {
            n += 1;
        }
        n
    }

    /// The recorded trace.
    pub fn trace(&self) -> &Trace {
        &self.core.trace
    }

    /// Forgets recorded events (keeps time, links and elements).
    pub fn clear_trace(&mut self) {
        self.core.trace.events.clear();
    }

    /// Counters of the whole run.
    pub fn stats(&self) -> FabricStats {
        self.core.stats
    }

    /// Frames that are on a link, in a queue, or held by an element, in id order.
    pub fn in_flight(&self) -> Vec<FrameId> {
        let mut v: Vec<FrameId> = self
            .core
            .queue
            .iter()
            .filter_map(|s| match &s.ev {
                Ev::Deliver { frame, .. } => Some(frame.id),
                Ev::Timer { .. } => None,
            })
            .chain(self.core.held.keys().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// How `id` ended, from the trace (only complete at [`TraceLevel::Fates`] or above).
    pub fn fate(&self, id: FrameId) -> Fate {
        for e in self.core.trace.events.iter().rev().filter(|e| e.frame == id) {
            match e.kind {
                EventKind::Delivered => return Fate::Delivered,
                EventKind::Dropped { reason, .. } => return Fate::Dropped { reason },
                _ => {}
            }
        }
        Fate::InFlight
    }

    /// The frames captured on link `id` (empty unless capture is enabled).
    pub fn captured(&self, id: LinkId) -> &[Captured] {
        match &self.core.capture {
            Some(Capture::Memory(c)) => c.get(id.0 as usize).map_or(&[], |v| v.as_slice()),
            _ => &[],
        }
    }

    /// Injects `frame` as if `elem` had sent it out of `port` (for tests and TAP ports).
    pub fn inject(&mut self, elem: ElemId, port: PortId, data: bytes::Bytes) -> FrameId {
        self.inject_offload(elem, port, data, None)
    }

    /// [`Fabric::inject`] of a frame with segmentation-offload metadata (from a TAP
    /// with offloads).
    pub fn inject_offload(
        &mut self,
        elem: ElemId,
        port: PortId,
        data: bytes::Bytes,
        offload: Option<crate::frame::Offload>,
    ) -> FrameId {
        let mut ctx = Ctx {
            core: &mut self.core,
            elem,
            current: None,
            disposed: false,
            fresh: Vec::new(),
        };
        let mut frame = ctx.originate(data);
        frame.offload = offload;
        let id = frame.id;
        ctx.send(port, frame);
        id
    }
}

impl Core {
    pub(crate) fn next_id(&mut self) -> FrameId {
        let id = FrameId(self.next_frame);
        self.next_frame += 1;
        id
    }

    pub(crate) fn port_link(&self, elem: ElemId, port: PortId) -> Option<(LinkId, usize)> {
        self.ports
            .get(elem.0 as usize)?
            .get(port as usize)
            .copied()
            .flatten()
    }

    pub(crate) fn push_timer(&mut self, at: SimTime, elem: ElemId, token: u64) {
        let seq = self.seq;
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq,
            ev: Ev::Timer { elem, token },
        });
    }

    /// Records an event when the level keeps this kind (fates are always kept).
    pub(crate) fn record(
        &mut self,
        frame: FrameId,
        elem: ElemId,
        port: Option<PortId>,
        kind: EventKind,
        detail: impl FnOnce() -> String,
    ) {
        if self.level == TraceLevel::Off {
            return;
        }
        let keep = match kind {
            EventKind::Originated | EventKind::Copied { .. } | EventKind::Delivered => {
                take(&mut self.fate_budget, &mut self.unrecorded)
            }
            EventKind::Dropped { .. } => take(&mut self.drop_budget, &mut self.unrecorded),
            EventKind::Transmitted | EventKind::Received | EventKind::Note { .. } | EventKind::Held => {
                self.take_hop()
            }
        };
        if keep {
            let detail = if self.level >= TraceLevel::Hops {
                detail()
            } else {
                String::new()
            };
            self.trace.events.push(TraceEvent {
                time: self.now,
                frame,
                elem,
                port,
                kind,
                detail,
                snapshot: None,
            });
        }
    }

    /// Whether a hop-level event may be recorded now (and counts it against the budget).
    fn take_hop(&mut self) -> bool {
        if self.level < TraceLevel::Hops {
            return false;
        }
        take(&mut self.hop_budget, &mut self.unrecorded)
    }

    /// Records an event whose detail is always worth formatting (drops).
    pub(crate) fn record_always(
        &mut self,
        frame: FrameId,
        elem: ElemId,
        port: Option<PortId>,
        kind: EventKind,
        detail: impl FnOnce() -> String,
    ) {
        if self.level == TraceLevel::Off {
            return;
        }
        let budget = match kind {
            EventKind::Dropped { .. } => &mut self.drop_budget,
            EventKind::Transmitted | EventKind::Received | EventKind::Note { .. } | EventKind::Held => {
                &mut self.hop_budget
            }
            _ => &mut self.fate_budget,
        };
        if !take(budget, &mut self.unrecorded) {
            return;
        }
        let detail = detail();
        self.trace.events.push(TraceEvent {
            time: self.now,
            frame,
            elem,
            port,
            kind,
            detail,
            snapshot: None,
        });
    }

    /// Puts `frame` onto the link of `port`: the impairment chain in order, then the
    /// arrival at the far end is scheduled.
    pub(crate) fn transmit(&mut self, elem: ElemId, port: PortId, frame: Frame) {
        if self.take_hop() {
            let snapshot =
                (self.level >= TraceLevel::Snapshots).then(|| frame.data.slice(..frame.data.len().min(128)));
            self.trace.events.push(TraceEvent {
                time: self.now,
                frame: frame.id,
                elem,
                port: Some(port),
                kind: EventKind::Transmitted,
                detail: String::new(),
                snapshot,
            });
        }
        let Some((link_id, side)) = self.port_link(elem, port) else {
            self.link_drop(&frame, elem, port, DropReason::LinkDown, || {
                "the port is not connected".into()
            });
            return;
        };
        let link = &self.links[link_id.0 as usize];
        let cfg = &link.config;
        if !cfg.up {
            self.link_drop(&frame, elem, port, DropReason::LinkDown, || {
                "the link is down".into()
            });
            return;
        }
        if let Some(mtu) = cfg.mtu
            && frame.wire_l3_len() > mtu as usize
        {
            let len = frame.wire_l3_len();
            self.link_drop(&frame, elem, port, DropReason::MtuExceeded, || {
                format!(
                    "{len}-byte packet exceeds the link MTU of {mtu}: the receiving port discards it \
                     silently (no ICMP goes back; a sender that sets DF never learns why)"
                )
            });
            return;
        }
        if cfg.loss > 0.0 && self.rng.next_f64() < cfg.loss {
            let loss = cfg.loss;
            self.link_drop(&frame, elem, port, DropReason::RandomLoss, || {
                format!("lost by the link ({:.2}% loss)", loss * 100.0)
            });
            return;
        }
        let (latency, jitter, rate, queue_bytes) = (cfg.latency, cfg.jitter, cfg.rate, cfg.queue_bytes);
        let mut depart = self.now;
        if let Some(rate) = rate {
            let busy = self.links[link_id.0 as usize].busy_until[side];
            let start = busy.max(self.now);
            let backlog_ns = start.saturating_since(self.now).as_nanos() as u128;
            let backlog_bytes = (backlog_ns * rate.0 as u128 / 8 / 1_000_000_000) as usize;
            if backlog_bytes + frame.len() > queue_bytes {
                self.link_drop(&frame, elem, port, DropReason::QueueFull, || {
                    format!("the link queue holds {backlog_bytes} bytes; the limit is {queue_bytes}")
                });
                return;
            }
            depart = start + rate.serialisation(frame.len() + 24);
            self.links[link_id.0 as usize].busy_until[side] = depart;
        }
        let extra = if jitter.as_nanos() > 0 {
            SimDuration(self.rng.below(jitter.as_nanos() + 1))
        } else {
            SimDuration::ZERO
        };
        let mut at = depart + latency + extra;
        let reorder = self.links[link_id.0 as usize].config.reorder;
        let link = &mut self.links[link_id.0 as usize];
        if !reorder {
            // FIFO: no overtaking the frame sent before (equal times keep send order
            // through the scheduler's sequence number).
            at = at.max(link.last_arrival[side]);
        }
        link.last_arrival[side] = at;
        link.tx_frames[side] += 1;
        let to = link.ends[1 - side];
        match &mut self.capture {
            Some(Capture::Memory(c)) => {
                if let Some(v) = c.get_mut(link_id.0 as usize) {
                    v.push(Captured {
                        time: self.now,
                        data: frame.data.clone(),
                    });
                }
            }
            Some(Capture::Sink(s)) => s.frame(link_id, self.now, &frame.data),
            None => {}
        }
        let mut frame = frame;
        frame.hops += 1;
        let seq = self.seq;
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq,
            ev: Ev::Deliver { to, frame },
        });
    }

    fn link_drop(
        &mut self,
        frame: &Frame,
        elem: ElemId,
        port: PortId,
        reason: DropReason,
        detail: impl FnOnce() -> String,
    ) {
        self.stats.link_drops += 1;
        self.record_always(
            frame.id,
            elem,
            Some(port),
            EventKind::Dropped {
                reason,
                stage: Stage::LinkTransmit,
            },
            detail,
        );
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::time::BitRate;

    /// Delivers everything it receives; optionally forwards out of port 1 instead.
    struct Sink {
        forward: bool,
    }

    impl Element for Sink {
        fn on_frame(&mut self, ctx: &mut Ctx<'_>, _port: PortId, frame: Frame) {
            if self.forward {
                ctx.send(1, frame);
            } else {
                ctx.deliver(&frame, String::new);
            }
        }
    }

    /// Receives frames and gives them no fate: a buggy element.
    struct Forgetful;

    impl Element for Forgetful {
        fn on_frame(&mut self, _ctx: &mut Ctx<'_>, _port: PortId, _frame: Frame) {}
    }

    fn pair(cfg: LinkConfig) -> (Fabric, ElemId, ElemId) {
        let mut f = Fabric::new(1);
        let a = f.add_element("a", Box::new(Sink { forward: false }));
        let b = f.add_element("b", Box::new(Sink { forward: false }));
        f.connect((a, 0), (b, 0), cfg);
        (f, a, b)
    }

    fn frame(len: usize) -> Bytes {
        let mut v = vec![0u8; len];
        v[12] = 0x08;
        Bytes::from(v)
    }

    fn drops(f: &Fabric) -> Vec<DropReason> {
        f.trace()
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Dropped { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn latency_delays_delivery() {
        // Proves the frame arrives exactly one latency later.
        let (mut f, a, _) = pair(LinkConfig {
            latency: SimDuration::from_millis(5),
            ..LinkConfig::default()
        });
        let id = f.inject(a, 0, frame(60));
        f.run_until_idle(10);
        assert_eq!(f.fate(id), Fate::Delivered);
        let at = f
            .trace()
            .events
            .iter()
            .find(|e| e.kind == EventKind::Delivered)
            .map(|e| e.time);
        assert_eq!(at, Some(SimTime(5_000_000)));
    }

    #[test]
    fn verdict_chain_state_then_mtu() {
        // A down link drops with link-down even when the frame is also too big.
        let (mut f, a, _) = pair(LinkConfig {
            up: false,
            mtu: Some(100),
            ..LinkConfig::default()
        });
        f.inject(a, 0, frame(600));
        assert_eq!(drops(&f), vec![DropReason::LinkDown]);
        let (mut f, a, _) = pair(LinkConfig {
            mtu: Some(100),
            ..LinkConfig::default()
        });
        f.inject(a, 0, frame(14 + 100));
        f.inject(a, 0, frame(14 + 101));
        f.run_until_idle(10);
        assert_eq!(drops(&f), vec![DropReason::MtuExceeded]);
    }

    #[test]
    fn rate_serialises_and_queue_overflows() {
        // 1 Mbit/s, queue of 3000 bytes: 1000-byte frames sent at once queue up; the
        // fourth does not fit. Arrivals are spaced by serialisation time.
        let cfg = LinkConfig {
            rate: Some(BitRate(1_000_000)),
            queue_bytes: 3000,
            latency: SimDuration::ZERO,
            ..LinkConfig::default()
        };
        let (mut f, a, _) = pair(cfg);
        for _ in 0..5 {
            f.inject(a, 0, frame(1000));
        }
        f.run_until_idle(100);
        let q = drops(&f).iter().filter(|r| **r == DropReason::QueueFull).count();
        assert!(q >= 1, "{:?}", drops(&f));
        let times: Vec<u64> = f
            .trace()
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Delivered)
            .map(|e| e.time.0)
            .collect();
        assert!(times.windows(2).all(|w| w[1] - w[0] == 8_192_000), "{times:?}");
    }

    #[test]
    fn jitter_keeps_order_unless_reorder() {
        // Proves jitter delays frames without letting one overtake the frame sent
        // before it, and that `reorder: true` lets them overtake (netem without a
        // rate): 64 frames sent back to back over 10 ms ± 5 ms.
        let order = |reorder: bool| {
            let (mut f, a, _) = pair(LinkConfig {
                latency: SimDuration::from_millis(10),
                jitter: SimDuration::from_millis(5),
                reorder,
                ..LinkConfig::default()
            });
            let ids: Vec<FrameId> = (0..64).map(|_| f.inject(a, 0, frame(60))).collect();
            f.run_until_idle(1000);
            let delivered: Vec<(FrameId, SimTime)> = f
                .trace()
                .events
                .iter()
                .filter(|e| e.kind == EventKind::Delivered)
                .map(|e| (e.frame, e.time))
                .collect();
            assert_eq!(delivered.len(), ids.len());
            let last = delivered.iter().map(|d| d.1).max();
            assert!(
                last.is_some_and(|t| t <= SimTime(15_000_000)),
                "no frame waits past 15 ms"
            );
            delivered.iter().map(|d| d.0).collect::<Vec<_>>() == ids
        };
        assert!(order(false), "frames arrived out of order");
        assert!(!order(true), "reorder: true still delivered in order");
    }

    #[test]
    fn loss_is_seeded() {
        // Same seed, same losses; every frame is delivered or lost, nothing else.
        let run = |seed| {
            let mut f = Fabric::new(seed);
            let a = f.add_element("a", Box::new(Sink { forward: false }));
            let b = f.add_element("b", Box::new(Sink { forward: false }));
            f.connect(
                (a, 0),
                (b, 0),
                LinkConfig {
                    loss: 0.5,
                    ..LinkConfig::default()
                },
            );
            let ids: Vec<FrameId> = (0..64).map(|_| f.inject(a, 0, frame(60))).collect();
            f.run_until_idle(1000);
            ids.iter().map(|i| f.fate(*i)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        let fates = run(3);
        assert!(fates.iter().all(|f| matches!(
            f,
            Fate::Delivered
                | Fate::Dropped {
                    reason: DropReason::RandomLoss
                }
        )));
        assert!(
            fates.contains(&Fate::Delivered)
                && fates.contains(&Fate::Dropped {
                    reason: DropReason::RandomLoss
                })
        );
    }

    #[test]
    fn a_frame_without_fate_is_reported() {
        // An element that forgets a frame gets it recorded as unaccounted, so tests see it.
        let mut f = Fabric::new(0);
        let a = f.add_element("a", Box::new(Sink { forward: false }));
        let b = f.add_element("b", Box::new(Forgetful));
        f.connect((a, 0), (b, 0), LinkConfig::default());
        let id = f.inject(a, 0, frame(60));
        f.run_until_idle(10);
        assert_eq!(
            f.fate(id),
            Fate::Dropped {
                reason: DropReason::Unaccounted
            }
        );
    }

    #[test]
    fn unconnected_port_and_in_flight() {
        // Sending out of a port with no link is link-down; frames on a long link are in flight.
        let mut f = Fabric::new(0);
        let a = f.add_element("a", Box::new(Sink { forward: true }));
        let b = f.add_element("b", Box::new(Sink { forward: false }));
        f.connect(
            (b, 0),
            (a, 0),
            LinkConfig {
                latency: SimDuration::from_secs(10),
                ..LinkConfig::default()
            },
        );
        let id = f.inject(b, 0, frame(60));
        f.run_until(SimTime(1_000));
        assert_eq!(f.in_flight(), vec![id]);
        f.run_until_idle(10);
        assert_eq!(drops(&f), vec![DropReason::LinkDown]);
        assert!(f.in_flight().is_empty());
    }

    /// Takes every frame and sends a relayed one of its own out of port 1 (an
    /// application proxying datagrams).
    struct Relay;

    impl Element for Relay {
        fn on_frame(&mut self, ctx: &mut Ctx<'_>, _port: PortId, frame: Frame) {
            ctx.deliver(&frame, String::new);
            let out = ctx.originate_from(&frame, frame.data.clone(), &[]);
            ctx.send(1, out);
        }
    }

    #[test]
    fn a_relayed_frame_is_a_copy_with_a_fate_of_its_own() {
        // Proves `originate_from` records the relayed frame as a copy of the one it
        // came from (so it is followed with it), each with exactly one fate, and that
        // it carries the parent's link count on.
        let mut f = Fabric::new(0);
        let a = f.add_element("a", Box::new(Sink { forward: false }));
        let r = f.add_element("r", Box::new(Relay));
        let b = f.add_element("b", Box::new(Sink { forward: false }));
        f.connect((a, 0), (r, 0), LinkConfig::default());
        f.connect((r, 1), (b, 0), LinkConfig::default());
        let id = f.inject(a, 0, frame(60));
        f.run_until_idle(10);
        let copy = f
            .trace()
            .events
            .iter()
            .find_map(|e| match e.kind {
                EventKind::Copied { parent } if parent == id => Some(e.frame),
                _ => None,
            })
            .expect("the relayed frame is recorded as a copy");
        assert_eq!(f.fate(id), Fate::Delivered);
        assert_eq!(f.fate(copy), Fate::Delivered);
        let counts = f.trace().terminal_counts();
        assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    }
}
