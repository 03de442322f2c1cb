//! Simulation fidelity (issue 10): behaviours that need a scenario built in code
//! (hundreds of steps) or a look inside the run's report.

use netloom_scenarios::{RunOptions, Status, load, report, run};

fn run_text(name: &str, text: &str) -> netloom_scenarios::Report {
    let loaded = load(name, text).unwrap_or_else(|e| panic!("{e}"));
    run(&loaded, &RunOptions::default()).report
}

/// Every ping step gets its own 16-bit echo identifier, as a fresh ICMP socket does:
/// the 257th ping from one machine used to reuse the first one's identifier (8 bits)
/// and get no reply. 320 pings from one container, alternately to a container on
/// its network and, through the host's masquerade, to a machine on the LAN: all reply.
#[test]
fn hundreds_of_pings_from_one_container_all_reply() {
    let mut text = String::from(
        "name: many-pings\n\
         hosts:\n  host1:\n    interfaces:\n      eth0: { address: 192.168.1.10/24, lan: office }\n\
         \x20   gateway: 192.168.1.1\n\
         lans:\n  office: {}\n\
         externals:\n  web: { address: 192.168.1.50/24, lan: office }\n\
         containers:\n  a: {}\n  b: {}\n\
         steps:\n",
    );
    for i in 0..320 {
        // b is 172.17.0.3: the default bridge has no embedded DNS.
        let to = if i % 2 == 0 { "web" } else { "172.17.0.3" };
        text.push_str(&format!(
            "  - ping: {{ from: a, to: {to}, count: 1 }}\n    expect: reach\n"
        ));
    }
    let r = run_text("many-pings.yaml", &text);
    assert_eq!(r.steps.len(), 320);
    let failed: Vec<usize> = r
        .steps
        .iter()
        .filter(|s| s.status != Status::Passed)
        .map(|s| s.index)
        .collect();
    assert!(
        failed.is_empty(),
        "steps {failed:?} failed:\n{}",
        report::text(&r)
    );
}
