//! `netloom graph` and `netloom explain` on 10,000 containers (100 hosts of 100): from the Docker model
//! (IPAM resolution, then the text and dot drawings), and from the scenario file's
//! text (parsing, validation and the resolution it keeps) — what the command does
//! after reading the file.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use netloom_bench::{docker_model, docker_yaml};
use netloom_scenarios::graph;

fn graph_bench(c: &mut Criterion) {
    let (hosts, per_host) = (100, 100);
    let model = docker_model(hosts, per_host);
    let yaml = docker_yaml(hosts, per_host);
    let r = model.resolve().expect("valid model");
    // The same topology both ways, and every container drawn.
    let from_yaml = netloom_scenarios::load("scale.yaml", &yaml).expect("valid scenario");
    assert_eq!(from_yaml.model.containers.len(), hosts * per_host);
    let d = graph::dot(&r);
    assert!(
        d.contains("c99-99\\neth0 "),
        "every container is in the dot output"
    );

    let mut g = c.benchmark_group("graph");
    g.sample_size(10);
    g.bench_function("resolve+text+dot/10000", |b| {
        b.iter(|| {
            let r = model.resolve().expect("valid model");
            black_box((graph::text(&r), graph::dot(&r)))
        })
    });
    g.bench_function("text/10000", |b| b.iter(|| black_box(graph::text(&r))));
    g.bench_function("dot/10000", |b| b.iter(|| black_box(graph::dot(&r))));
    g.bench_function("mermaid/10000", |b| b.iter(|| black_box(graph::mermaid(&r))));
    // What `netloom graph FILE` does after reading the file: loading validates and
    // resolves the model once, and the drawing uses that resolution.
    g.bench_function("load+text+dot/10000", |b| {
        b.iter(|| {
            let l = netloom_scenarios::load("scale.yaml", &yaml).expect("valid scenario");
            black_box((graph::text(&l.resolved), graph::dot(&l.resolved)))
        })
    });
    g.finish();

    // `netloom explain` on the same file: load, build the lab (only the two Docker hosts
    // at the packet's ends: `explain::path_lab`), send one SYN and its answer, explain.
    let q = netloom_scenarios::explain::Query::parse("c0-0", "c57-1:80", None).expect("query");
    let mut e = c.benchmark_group("explain");
    e.sample_size(10);
    e.bench_function("load+explain/10000", |b| {
        b.iter(|| {
            let l = netloom_scenarios::load("scale.yaml", &yaml).expect("valid scenario");
            black_box(netloom_scenarios::explain::explain(&l, &q).expect("explained"))
        })
    });
    let l = netloom_scenarios::load("scale.yaml", &yaml).expect("valid scenario");
    e.bench_function("explain/10000", |b| {
        b.iter(|| black_box(netloom_scenarios::explain::explain(&l, &q).expect("explained")))
    });
    e.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = graph_bench
}
criterion_main!(benches);
