//! Wall time to validate, compile and settle a Docker model (`Lab::build` +
//! `run_until_idle`) of 1,000 and 10,000 containers, 100 per host. Resident memory
//! and the 100,000-container size are measured by the `scale` binary instead.
//!
//! `embedded-dns` measures one name lookup of a container on a 100-container network
//! (stub resolver → 127.0.0.11 → the embedded server's directory → answer, all real
//! DNS messages over the container's loopback), and one that Docker forwards to an
//! authoritative server on the host's LAN (bridge, masquerade, LAN, and back).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ipnet::IpNet;
use netloom_bench::{container_name, docker_model};
use netloom_drivers::docker::{ExternalDef, Lab};

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("docker-load-settle");
    g.sample_size(10);
    for containers in [1_000usize, 10_000] {
        let model = docker_model(containers / 100, 100);
        g.throughput(Throughput::Elements(containers as u64));
        g.bench_function(containers.to_string(), |b| {
            b.iter_batched(
                || model.clone(),
                |m| {
                    let mut lab = Lab::build(&m, 1).expect("valid model");
                    lab.fabric.run_until_idle(u64::MAX);
                    black_box(lab)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn lookups(c: &mut Criterion) {
    let mut m = docker_model(1, 100);
    let upstream = "10.9.9.9".parse().expect("address");
    m.hosts[0].dns = vec![upstream];
    m.externals.push(ExternalDef {
        vlan: None,
        trunk: None,
        name: "resolver".into(),
        address: IpNet::new(upstream, 8).expect("prefix"),
        lan: "underlay".into(),
        gateway: None,
        listen: Vec::new(),
        dns_records: Some(
            [(
                "example.com".to_string(),
                vec!["10.9.9.10".parse().expect("address")],
            )]
            .into(),
        ),
        dns: Vec::new(),
        mtu: None,
    });
    let mut lab = Lab::build(&m, 1).expect("valid model");
    let (from, to) = (container_name(0, 0), container_name(0, 99));
    let mut g = c.benchmark_group("embedded-dns");
    g.throughput(Throughput::Elements(1));
    g.bench_function("container-name", |b| {
        b.iter(|| black_box(lab.resolve(&from, &to).expect("runs")))
    });
    g.bench_function("forwarded-upstream", |b| {
        b.iter(|| black_box(lab.resolve(&from, "example.com").expect("runs")))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = build, lookups
}
criterion_main!(benches);
