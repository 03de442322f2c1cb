//! The real-time loop: the fabric's clock follows the wall clock; frames the real
//! namespaces write to their TAPs enter the fabric at the matching [`TapPort`], and
//! frames the fabric delivers there are written back out. One thread, no locks: other
//! threads talk to it through [`LiveHandle`] (a channel plus a wake-up pipe).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use std::collections::VecDeque;

use netloom_core::{DropReason, ElemId, EventKind, Offload, PortId, SimTime, TraceLevel};

use super::device::{VNET_HDR_LEN, poll_fds};
use super::{Tap, TapPort};
use crate::docker::{Impair, Lab};

/// What another thread may ask of the running loop.
pub enum Command {
    /// Change a link (`link` steps).
    SetLink {
        /// The two ends.
        between: [String; 2],
        /// The change.
        impair: Impair,
        /// The answer.
        reply: mpsc::Sender<Result<(), String>>,
    },
    /// Stop or start a modelled container (`container` steps).
    SetRunning {
        /// The container.
        name: String,
        /// Start (true) or stop.
        running: bool,
        /// The answer.
        reply: mpsc::Sender<Result<(), String>>,
    },
    /// The drops recorded since drop number `since` (the reply carries the next
    /// number to ask from).
    Drops {
        /// First drop number wanted.
        since: u64,
        /// The answer: next number, and (reason, explanation) per drop.
        reply: mpsc::Sender<(u64, Vec<(DropReason, String)>)>,
    },
    /// Run this on the loop's thread, with the loop (steps that run on the model of
    /// a machine, through [`Live::paced`]; `on_wire` checks of the trace).
    Run(Box<dyn FnOnce(&mut Live) + Send>),
    /// Leave the loop.
    Stop,
}

/// A sender of [`Command`]s that wakes the loop.
#[derive(Clone)]
pub struct LiveHandle {
    tx: mpsc::Sender<Command>,
    wake: Arc<OwnedFd>,
}

impl LiveHandle {
    /// Sends `cmd` and wakes the loop.
    pub fn send(&self, cmd: Command) {
        let _ = self.tx.send(cmd);
        let _ = nix::unistd::write(self.wake.as_fd(), &[1u8]);
    }

    /// Sends a command carrying a reply channel and waits for the answer.
    ///
    /// # Errors
    /// The loop's answer, or that the loop is gone.
    pub fn ask(&self, make: impl FnOnce(mpsc::Sender<Result<(), String>>) -> Command) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        self.send(make(tx));
        self.wait_reply(&rx)
            .ok_or_else(|| "the forwarding loop did not answer".to_string())?
    }

    /// Waits at most 10 s for an answer of the loop; gives up at once when the run is
    /// being stopped ([`STOP`](super::STOP)), since a stopped loop answers nothing.
    pub fn wait_reply<T>(&self, rx: &mpsc::Receiver<T>) -> Option<T> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(v) => return Some(v),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if super::STOP.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        return None;
                    }
                }
            }
        }
    }
}

/// Counters of a live run (direction-first, as firecracker names them).
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveStats {
    /// Frames read from TAPs.
    pub rx_frames: u64,
    /// Frames written to TAPs.
    pub tx_frames: u64,
    /// Frames that could not be written (TAP queue full, interface gone).
    pub tx_dropped: u64,
    /// Loop iterations.
    pub wakeups: u64,
}

/// The fabric running in real time between TAP devices.
pub struct Live {
    /// The lab whose fabric forwards.
    pub lab: Lab,
    /// The TAPs and their buffers (lent to the lab as its [`Pacer`] while a step runs
    /// on the model of a machine).
    io: Box<Io>,
    rx: mpsc::Receiver<Command>,
    /// The pipe's write end, kept open while the loop may register it for the
    /// signal handler.
    wake_tx: Arc<OwnedFd>,
    /// Recent drops with their number (for `dropped:` expectations), and the next number.
    drops: VecDeque<(u64, DropReason, String)>,
    next_drop: u64,
    scanned: usize,
    /// While an `on_wire` step runs: keep the trace whole (no clearing) for its check.
    keep_trace: bool,
}

/// The real side of the loop: TAPs, the wake-up pipe, buffers, counters.
struct Io {
    taps: Vec<(Tap, ElemId, PortId)>,
    /// Per element with TAPs: the TAP index of each of its ports.
    outputs: Vec<(ElemId, Vec<Option<usize>>)>,
    wake_rx: Option<OwnedFd>,
    t0: Instant,
    stats: LiveStats,
    buf: Vec<u8>,
    /// `ppoll`'s array: every TAP, then the wake-up pipe (kept between wake-ups).
    pollfds: Vec<libc::pollfd>,
    /// TAPs found readable by the last `ppoll`.
    ready: Vec<usize>,
    /// TAPs that gave frames at their last read (read again before sleeping).
    hot: Vec<bool>,
}

/// Drops kept for `dropped:` checks.
const DROP_LOG: usize = 4096;

/// Frames read from one TAP per wake-up before the others get their turn.
const RX_BURST: usize = 64;
/// How far ahead of the wall clock the fabric may run.
const LOOKAHEAD: netloom_core::SimDuration = netloom_core::SimDuration::from_micros(50);
/// Longest sleep when nothing is scheduled (to notice a stop flag).
const IDLE: Duration = Duration::from_millis(100);

impl Live {
    /// A loop over `lab` with `taps`, each attached at `(element, port)` (a
    /// [`TapPort`]). The fabric's time starts now.
    ///
    /// # Errors
    /// When the wake-up pipe cannot be made.
    pub fn new(mut lab: Lab, taps: Vec<(Tap, ElemId, PortId)>) -> io::Result<(Live, LiveHandle)> {
        let (wake_rx, wake_tx) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(io::Error::from)?;
        let (tx, rx) = mpsc::channel();
        let wake_tx = Arc::new(wake_tx);
        // Fates only: a live network runs for hours; nobody reads its hops.
        lab.fabric.set_trace_level(TraceLevel::Fates);
        let mut outputs: Vec<(ElemId, Vec<Option<usize>>)> = Vec::new();
        for (i, (_, elem, port)) in taps.iter().enumerate() {
            let slot = match outputs.iter().position(|(e, _)| e == elem) {
                Some(s) => s,
                None => {
                    outputs.push((*elem, Vec::new()));
                    outputs.len() - 1
                }
            };
            let v = &mut outputs[slot].1;
            if v.len() <= *port as usize {
                v.resize(*port as usize + 1, None);
            }
            v[*port as usize] = Some(i);
        }
        let pollfds = taps
            .iter()
            .map(|(t, _, _)| t.as_fd().as_raw_fd())
            .chain(std::iter::once(wake_rx.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let hot = vec![false; taps.len()];
        let io = Io {
            taps,
            outputs,
            wake_rx: Some(wake_rx),
            t0: Instant::now(),
            stats: LiveStats::default(),
            buf: vec![0u8; 65536 + 64],
            pollfds,
            ready: Vec::new(),
            hot,
        };
        let live = Live {
            lab,
            io: Box::new(io),
            rx,
            wake_tx: Arc::clone(&wake_tx),
            drops: VecDeque::new(),
            next_drop: 0,
            scanned: 0,
            keep_trace: false,
        };
        let handle = LiveHandle { tx, wake: wake_tx };
        Ok((live, handle))
    }

    /// Counters.
    pub fn stats(&self) -> LiveStats {
        self.io.stats
    }

    /// Runs `f` (a step on the model of a machine) with the lab paced to the wall
    /// clock: while its operation waits, real frames keep moving in both directions,
    /// so the modelled machine talks with the real namespaces in real time. A stop
    /// signal cuts the operation short.
    pub fn paced<R>(&mut self, f: impl FnOnce(&mut Lab) -> R) -> R {
        self.log_drops();
        let placeholder = Io {
            taps: Vec::new(),
            outputs: Vec::new(),
            wake_rx: None,
            t0: self.io.t0,
            stats: LiveStats::default(),
            buf: Vec::new(),
            pollfds: Vec::new(),
            ready: Vec::new(),
            hot: Vec::new(),
        };
        let io = std::mem::replace(&mut self.io, Box::new(placeholder));
        self.lab.set_pacer(io);
        let r = f(&mut self.lab);
        if let Some(Ok(io)) = self.lab.take_pacer().map(|a| a.downcast::<Io>()) {
            self.io = io;
        }
        // The step may have bounded the trace (the loop clears it instead) and cleared
        // it: scan it from its start.
        self.lab
            .fabric
            .set_trace_budget(netloom_core::TraceBudget::UNBOUNDED);
        self.scanned = 0;
        self.log_drops();
        r
    }

    /// Records hops with the frames' first bytes and keeps the trace whole (an
    /// `on_wire` step begins); returns where its events begin in the trace.
    pub fn begin_wire(&mut self) -> usize {
        self.log_drops();
        // The step's trace is its own and bounded, as under `run`.
        self.lab.fabric.clear_trace();
        self.scanned = 0;
        self.lab.fabric.set_trace_budget(netloom_core::TraceBudget::STEP);
        self.lab.fabric.set_trace_level(TraceLevel::Snapshots);
        self.keep_trace = true;
        0
    }

    /// Back to fates only (the `on_wire` step is checked).
    pub fn end_wire(&mut self) {
        self.lab.fabric.set_trace_level(TraceLevel::Fates);
        self.lab
            .fabric
            .set_trace_budget(netloom_core::TraceBudget::UNBOUNDED);
        self.keep_trace = false;
    }

    /// Forwards until a [`Command::Stop`] arrives or `stop` is set (a signal handler's
    /// flag). While it runs, the stop signals wake it through its pipe.
    pub fn run(&mut self, stop: &AtomicBool) {
        super::device::set_wake_fd(Some(self.wake_tx.as_raw_fd()));
        self.forward(stop);
        super::device::set_wake_fd(None);
    }

    fn forward(&mut self, stop: &AtomicBool) {
        // Sleep as long as asked, not the default 50 µs longer.
        let _ = nix::sys::prctl::set_timerslack(1);
        // Commands are read when the wake-up pipe says so (and once at the start).
        let mut woken = true;
        loop {
            let now = self.io.now();
            // Events due within the look-ahead run now: a veth's 2 µs is not worth a
            // sleep (which costs tens of µs to wake from); modelled delays of
            // milliseconds are still kept to within the look-ahead.
            self.lab.fabric.run_until(now + LOOKAHEAD);
            self.io.flush(&mut self.lab.fabric);
            self.log_drops();
            if (woken && self.commands()) || stop.load(Ordering::Relaxed) {
                return;
            }
            woken = self.io.step(&mut self.lab.fabric, SimTime(u64::MAX));
        }
    }

    /// Handles pending commands; returns whether the loop must stop.
    fn commands(&mut self) -> bool {
        self.io.drain_wake();
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::SetLink {
                    between,
                    impair,
                    reply,
                } => {
                    let _ = reply.send(self.lab.set_link(&between[0], &between[1], &impair));
                }
                Command::SetRunning { name, running, reply } => {
                    let _ = reply.send(self.lab.set_running(&name, running));
                }
                Command::Drops { since, reply } => {
                    self.log_drops();
                    let v = self
                        .drops
                        .iter()
                        .filter(|(n, _, _)| *n >= since)
                        .map(|(_, r, d)| (*r, d.clone()))
                        .collect();
                    let _ = reply.send((self.next_drop, v));
                }
                Command::Run(f) => f(self),
                Command::Stop => return true,
            }
        }
        false
    }

    /// Moves new drops from the trace into the drop log, and forgets the trace when it
    /// grows (fates of frames long gone).
    fn log_drops(&mut self) {
        let events = &self.lab.fabric.trace().events;
        for e in &events[self.scanned.min(events.len())..] {
            if let EventKind::Dropped { reason, .. } = e.kind
                && !matches!(reason, DropReason::NotForUs | DropReason::Malformed)
            {
                self.drops.push_back((self.next_drop, reason, e.detail.clone()));
                self.next_drop += 1;
                if self.drops.len() > DROP_LOG {
                    self.drops.pop_front();
                }
            }
        }
        self.scanned = events.len();
        if self.scanned > 100_000 && !self.keep_trace {
            self.lab.fabric.clear_trace();
            self.scanned = 0;
        }
    }
}

impl Io {
    /// The fabric time that corresponds to now.
    fn now(&self) -> SimTime {
        SimTime(self.t0.elapsed().as_nanos() as u64)
    }

    /// Empties the wake-up pipe.
    fn drain_wake(&mut self) {
        let mut drain = [0u8; 64];
        if let Some(w) = &self.wake_rx {
            while nix::unistd::read(w, &mut drain).is_ok_and(|n| n > 0) {}
        }
    }

    /// Reads the TAPs that just had frames, sleeps until a TAP is readable, a command
    /// arrives, the next event is due or `limit` comes, and reads what is ready.
    /// Returns whether a command (or a signal) woke it.
    fn step(&mut self, fabric: &mut netloom_core::Fabric, limit: SimTime) -> bool {
        self.stats.wakeups += 1;
        let ahead = (self.now() + LOOKAHEAD).0;
        let next = fabric.next_event().map_or(limit.0, |t| t.0.min(limit.0));
        let wait = Duration::from_nanos(next.saturating_sub(ahead)).min(IDLE);
        // While frames flow, read the TAPs that just had some without sleeping first
        // (a sleep and a wake-up per frame cost more than the frame); sleep in
        // `ppoll` only once they are dry.
        let mut moved = 0;
        for i in 0..self.taps.len() {
            if self.hot[i] {
                let got = self.receive(fabric, i);
                self.hot[i] = got > 0;
                moved += got;
            }
        }
        let woken = self.wait(if moved > 0 { Duration::ZERO } else { wait });
        for k in 0..self.ready.len() {
            let i = self.ready[k];
            if !self.hot[i] {
                self.hot[i] = self.receive(fabric, i) > 0;
            }
        }
        woken
    }

    /// Sleeps until a TAP is readable, a command arrives, or `wait` passes; returns the
    /// readable TAPs and whether a command woke it.
    fn wait(&mut self, wait: Duration) -> bool {
        self.ready.clear();
        for f in &mut self.pollfds {
            f.revents = 0;
        }
        if poll_fds(&mut self.pollfds, wait).unwrap_or(0) == 0 {
            return false;
        }
        let n = self.taps.len();
        for (i, f) in self.pollfds.iter().take(n).enumerate() {
            if f.revents & libc::POLLIN != 0 {
                self.ready.push(i);
            }
        }
        self.pollfds.get(n).is_some_and(|f| f.revents & libc::POLLIN != 0)
    }

    /// Reads a burst of frames from TAP `i` into the fabric.
    fn receive(&mut self, fabric: &mut netloom_core::Fabric, i: usize) -> usize {
        let mut got = 0;
        for _ in 0..RX_BURST {
            let (tap, elem, port) = &self.taps[i];
            let skip = if tap.offload() { VNET_HDR_LEN } else { 0 };
            let n = match tap.recv(&mut self.buf) {
                Ok(n) if n >= skip + 14 => n,
                Ok(_) => continue,
                Err(_) => return got,
            };
            got += 1;
            self.stats.rx_frames += 1;
            let (elem, port) = (*elem, *port);
            let offload = (skip > 0).then(|| parse_vnet_header(&self.buf[..VNET_HDR_LEN]));
            let offload = offload.filter(|o| o.flags != 0 || o.gso_type != 0);
            let data = Bytes::copy_from_slice(&self.buf[skip..n]);
            fabric.inject_offload(elem, port, data, offload);
        }
        got
    }

    /// Writes what the fabric delivered to the TAP ports.
    fn flush(&mut self, fabric: &mut netloom_core::Fabric) {
        for (elem, ports) in &self.outputs {
            let Some(tp) = fabric.element_mut::<TapPort>(*elem) else {
                continue;
            };
            while let Some((port, frame, offload)) = tp.outbound.pop_front() {
                let Some(Some(i)) = ports.get(port as usize) else {
                    self.stats.tx_dropped += 1;
                    continue;
                };
                let tap = &self.taps[*i].0;
                let sent = if tap.offload() {
                    tap.send_vectored(&vnet_header(offload), &frame)
                } else if offload.is_some_and(|o| o.is_gso() || o.flags & 1 != 0) {
                    // A TAP without offloads takes only finished wire frames.
                    let mut r = Ok(0);
                    for piece in crate::net::resolve_offload(&frame, &offload.unwrap_or_default()) {
                        r = tap.send(&piece);
                    }
                    r
                } else {
                    tap.send(&frame)
                };
                match sent {
                    Ok(_) => self.stats.tx_frames += 1,
                    Err(_) => self.stats.tx_dropped += 1,
                }
            }
        }
    }
}

impl crate::docker::Pacer for Io {
    fn advance(&mut self, fabric: &mut netloom_core::Fabric, limit: SimTime) -> bool {
        if super::STOP.load(Ordering::Relaxed) {
            return false;
        }
        let now = self.now();
        fabric.run_until((now + LOOKAHEAD).min(limit));
        self.flush(fabric);
        if fabric.now() >= limit {
            return true;
        }
        if self.step(fabric, limit) {
            // Commands wait for the step's end (the worker that sends them is
            // waiting for it); a signal sets STOP, seen at the next advance.
            self.drain_wake();
        }
        true
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// Reads `struct virtio_net_hdr` (little-endian fields).
fn parse_vnet_header(h: &[u8]) -> Offload {
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    Offload {
        flags: h[0],
        gso_type: h[1],
        hdr_len: u16_at(2),
        gso_size: u16_at(4),
        csum_start: u16_at(6),
        csum_offset: u16_at(8),
    }
}

/// Writes `struct virtio_net_hdr` for a frame (all zero: an ordinary, finished frame).
fn vnet_header(o: Option<Offload>) -> [u8; VNET_HDR_LEN] {
    let o = o.unwrap_or_default();
    let mut h = [0u8; VNET_HDR_LEN];
    h[0] = o.flags;
    h[1] = o.gso_type;
    h[2..4].copy_from_slice(&o.hdr_len.to_le_bytes());
    h[4..6].copy_from_slice(&o.gso_size.to_le_bytes());
    h[6..8].copy_from_slice(&o.csum_start.to_le_bytes());
    h[8..10].copy_from_slice(&o.csum_offset.to_le_bytes());
    h
}
