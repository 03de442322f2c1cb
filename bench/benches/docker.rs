//! `netloom docker SCRIPT`: shell histories replayed on a simulated host.
//!
//! - `docker/run-then-exec/100`: a network, 100 `docker run -d` (nginx), then 100
//!   `docker exec … curl` by name — one lab build, 100 steps.
//! - `docker/interleaved/50`: 50 times `docker run` then `docker exec … curl` of the one
//!   before — a rebuild of the lab before every exec, the worst case of a history.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use netloom_scenarios::dockercli::{Options, run_script};

fn run_then_exec(n: usize) -> String {
    let mut s = String::from("docker network create app\n");
    for i in 0..n {
        let _ = writeln!(s, "docker run -d --name web{i} --network app nginx");
    }
    for i in 0..n {
        let _ = writeln!(
            s,
            "docker exec web{i} curl -s -o /dev/null http://web{}/",
            (i + 1) % n
        );
    }
    s
}

fn interleaved(n: usize) -> String {
    let mut s = String::from("docker network create app\ndocker run -d --name web0 --network app nginx\n");
    for i in 1..n {
        let _ = writeln!(s, "docker run -d --name web{i} --network app nginx");
        let _ = writeln!(s, "docker exec web{i} curl -s -o /dev/null http://web{}/", i - 1);
    }
    s
}

fn replay(text: &str) -> u8 {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    run_script("bench.sh", text, &Options::default(), &mut out, &mut err)
}

fn docker_bench(c: &mut Criterion) {
    let a = run_then_exec(100);
    let b = interleaved(50);
    // Every curl connects: the replay exits 0.
    assert_eq!(replay(&a), 0);
    assert_eq!(replay(&b), 0);
    let mut g = c.benchmark_group("docker");
    g.sample_size(10);
    g.bench_function("run-then-exec/100", |x| x.iter(|| black_box(replay(&a))));
    g.bench_function("interleaved/50", |x| x.iter(|| black_box(replay(&b))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = docker_bench
}
criterion_main!(benches);
