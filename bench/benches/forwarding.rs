//! Forwarding rate in simulated time, in frame-hops per second of wall time.
//!
//! `l2-bridge-chain/N`: 64-byte unicast frames across N learning bridges between two
//! sinks. `l3-router-chain/N`: 64-byte IPv4 packets across N routers between two
//! nodes. Each iteration injects a batch of frames at once and runs the fabric until
//! idle; the injection is inside the timed region, trace clearing is not. Throughput
//! is `batch * (N + 1)` frame-hops (checked after every iteration).
//! `docker-path/overlay` and `docker-path/macvlan-vlan`: the same through compiled
//! Docker labs (see `DockerPath`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netloom_bench::{Chain, DockerPath, L2Chain, L3Chain};

/// Frames injected per iteration.
const BATCH: usize = 10_000;
/// Chain lengths, as the ns-3 peer measured.
const LENGTHS: [usize; 3] = [1, 4, 16];

fn l2(c: &mut Criterion) {
    let mut g = c.benchmark_group("l2-bridge-chain");
    g.sample_size(10);
    for n in LENGTHS {
        let mut chain = L2Chain::new(n);
        let hops = BATCH as u64 * chain.hops_per_frame();
        g.throughput(Throughput::Elements(hops));
        g.bench_function(n.to_string(), |b| {
            b.iter_custom(|iters| timed(iters, hops, &mut chain))
        });
    }
    g.finish();
}

fn l3(c: &mut Criterion) {
    let mut g = c.benchmark_group("l3-router-chain");
    g.sample_size(10);
    for n in LENGTHS {
        let mut chain = L3Chain::new(n);
        let hops = BATCH as u64 * chain.hops_per_frame();
        g.throughput(Throughput::Elements(hops));
        g.bench_function(n.to_string(), |b| {
            b.iter_custom(|iters| timed(iters, hops, &mut chain))
        });
    }
    g.finish();
}

/// The Docker drivers' paths: overlay (VXLAN between hosts) and macvlan on a VLAN.
fn docker(c: &mut Criterion) {
    let mut g = c.benchmark_group("docker-path");
    g.sample_size(10);
    for (name, mut path) in [
        ("overlay", DockerPath::overlay()),
        ("macvlan-vlan", DockerPath::macvlan()),
    ] {
        let hops = BATCH as u64 * path.hops_per_frame();
        g.throughput(Throughput::Elements(hops));
        g.bench_function(name, |b| b.iter_custom(|iters| timed(iters, hops, &mut path)));
    }
    g.finish();
}

/// Routed forwarding through a Docker host's netfilter: 100 bridge networks, with no
/// DOCKER-USER rule and with 1,000 (none matching, so every packet walks them all).
fn firewall(c: &mut Criterion) {
    let mut g = c.benchmark_group("firewall-path");
    g.sample_size(10);
    for (name, rules) in [
        ("100-networks/0-user-rules", 0),
        ("100-networks/1000-user-rules", 1000),
    ] {
        let mut path = DockerPath::firewalled(100, rules);
        let hops = BATCH as u64 * path.hops_per_frame();
        g.throughput(Throughput::Elements(hops));
        g.bench_function(name, |b| b.iter_custom(|iters| timed(iters, hops, &mut path)));
    }
    g.finish();
}

/// Runs `iters` batches, timing only the batches, and checks each did `hops`.
fn timed(iters: u64, hops: u64, chain: &mut impl Chain) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        chain.clear_trace();
        let t = Instant::now();
        let done = black_box(chain.run_batch(BATCH));
        total += t.elapsed();
        assert_eq!(done, hops, "every frame must cross the whole chain");
    }
    total
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = l2, l3, docker, firewall
}
criterion_main!(benches);
