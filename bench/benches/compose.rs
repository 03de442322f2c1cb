//! A compose project of 200 services, each on the project's default network with a
//! published port and an exposed one, each depending on the one before: converted to a
//! scenario, loaded, and run with its default checks (199 connects by name, 200
//! published ports tried from outside) — what `netloom run compose.yaml` does.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use netloom_scenarios::compose::{Options, convert};
use netloom_scenarios::{RunOptions, Status, load, run};

fn project(services: usize) -> String {
    let mut s = String::from("name: big\nservices:\n");
    for i in 0..services {
        let _ = writeln!(
            s,
            "  s{i}:\n    image: app\n    expose: [\"9000\"]\n    ports: [\"{}:80\"]",
            10000 + i
        );
        if i > 0 {
            let _ = writeln!(s, "    depends_on: [s{}]", i - 1);
        }
    }
    s
}

fn compose_bench(c: &mut Criterion) {
    let text = project(200);
    let opts = Options {
        env: Some(Default::default()),
        ..Options::default()
    };
    // The checks pass: every dependency answers by name, every published port answers.
    let converted = convert("compose.yaml", &text, &opts).expect("converts");
    let loaded = load("compose.yaml", &converted.yaml).expect("loads");
    let report = run(&loaded, &RunOptions::default()).report;
    assert_eq!(report.steps.len(), 399);
    assert!(report.steps.iter().all(|s| s.status == Status::Passed));

    let mut g = c.benchmark_group("compose");
    g.sample_size(10);
    g.bench_function("convert/200", |b| {
        b.iter(|| black_box(convert("compose.yaml", &text, &opts).expect("converts")))
    });
    g.bench_function("convert+load+run-checks/200", |b| {
        b.iter(|| {
            let c = convert("compose.yaml", &text, &opts).expect("converts");
            let l = load("compose.yaml", &c.yaml).expect("loads");
            black_box(run(&l, &RunOptions::default()).report)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = compose_bench
}
criterion_main!(benches);
