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

/// The steps of `r` that did not pass (a step without expectations is `Done`).
fn failed_steps(r: &netloom_scenarios::Report) -> Vec<usize> {
    r.steps
        .iter()
        .filter(|s| !matches!(s.status, Status::Passed | Status::Done))
        .map(|s| s.index)
        .collect()
}

/// `-p 0.0.0.0:8080:80` (compose `"0.0.0.0:8080:80"`, a common spelling of "every
/// address") publishes on every IPv4 address of the host, exactly as `-p 8080:80` does
/// for IPv4: docker-proxy binds 0.0.0.0 and the DNAT rule has no `-d`. It used to be
/// taken as a literal address, so neither the host's loopback nor its LAN address
/// answered; and a second container's `127.0.0.1:8080` must clash with it.
#[test]
fn publishing_on_0_0_0_0_means_every_ipv4_address() {
    let text = "name: unspecified-host-ip\n\
         hosts:\n  host1:\n    interfaces:\n      eth0: { address: 192.168.1.10/24, lan: office }\n\
         lans:\n  office: {}\n\
         externals:\n  laptop: { address: 192.168.1.50/24, lan: office }\n\
         containers:\n  web: { ports: [\"0.0.0.0:8080:80\"], listen: [tcp/80] }\n\
         steps:\n\
         \x20 - connect: { from: host1, to: \"127.0.0.1:8080\" }\n    expect: ok\n\
         \x20 - connect: { from: laptop, to: \"192.168.1.10:8080\" }\n    expect: ok\n";
    let r = run_text("unspecified-host-ip.yaml", text);
    assert_eq!(r.steps.len(), 2);
    assert!(
        failed_steps(&r).is_empty(),
        "failed steps: {:?}",
        failed_steps(&r)
    );

    let clash = format!(
        "{}  other: {{ ports: [\"127.0.0.1:8080:81\"], listen: [tcp/81] }}\n",
        text.split("steps:").next().unwrap_or_default()
    );
    let err = load("clash.yaml", &clash)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("port is already allocated"),
        "127.0.0.1:8080 must clash with 0.0.0.0:8080: {err}"
    );
}

/// The macvlan (and ipvlan) driver ignores published ports: moby logs "macvlan driver
/// does not support port mappings" and programs no DNAT and no docker-proxy. So the
/// host's port 8080 stays closed (refused) and free - a host-network container can
/// bind it - while the container answers on its own address and container port.
/// netloom used to publish them through the macvlan address as if it were a bridge.
#[test]
fn ports_on_a_macvlan_network_are_not_published() {
    let text = "name: macvlan-ports\n\
         hosts:\n  host1:\n    interfaces:\n      eth0: { address: 192.168.1.10/24, lan: office }\n\
         lans:\n  office: {}\n\
         externals:\n  laptop: { address: 192.168.1.50/24, lan: office }\n\
         networks:\n  lan:\n    driver: macvlan\n    host: host1\n\
         \x20   ipam: { config: [ { subnet: 192.168.1.0/24, gateway: 192.168.1.1, ip_range: 192.168.1.128/25 } ] }\n\
         \x20   driver_opts: { parent: eth0 }\n  ipl:\n    driver: ipvlan\n    host: host1\n\
         \x20   ipam: { config: [ { subnet: 10.9.0.0/24 } ] }\n\
         \x20   driver_opts: { parent: eth0.20, ipvlan_mode: l3 }\n\
         containers:\n\
         \x20 web: { networks: { lan: {} }, ports: [\"8080:80\"], listen: [tcp/80] }\n\
         \x20 web2: { networks: { lan: {} }, ports: [\"8080:80\"], listen: [tcp/80] }\n\
         \x20 api: { networks: { ipl: {} }, ports: [\"8081:80\"], listen: [tcp/80] }\n\
         \x20 tool: { networks: { host: {} }, listen: [tcp/8080, tcp/8081] }\n\
         steps:\n\
         \x20 - connect: { from: laptop, to: \"192.168.1.10:8080\" }\n    expect: ok\n\
         \x20 - connect: { from: laptop, to: \"web:80\" }\n    expect: ok\n\
         \x20 - container: { name: tool, state: stopped }\n\
         \x20 - connect: { from: laptop, to: \"192.168.1.10:8080\" }\n    expect: refused\n\
         \x20 - connect: { from: laptop, to: \"192.168.1.10:8081\" }\n    expect: refused\n";
    let r = run_text("macvlan-ports.yaml", text);
    assert_eq!(r.steps.len(), 5);
    // Step 1 reaches `tool` (the host-network container bound 8080 without a clash);
    // once it stops, nothing holds 8080 or 8081 on the host. Two macvlan containers
    // "publishing" 8080 do not clash either: no port is allocated for them.
    assert!(
        failed_steps(&r).is_empty(),
        "failed steps: {:?}",
        failed_steps(&r)
    );
    // Each ignored mapping is reported, as dockerd logs it: web and web2 (macvlan), api
    // (ipvlan).
    let count = |said: &str| r.warnings.iter().filter(|w| w.contains(said)).count();
    assert_eq!(
        count("macvlan driver does not support port mappings"),
        2,
        "{:?}",
        r.warnings
    );
    assert_eq!(
        count("ipvlan driver does not support port mappings"),
        1,
        "{:?}",
        r.warnings
    );
}

/// A network created with `com.docker.network.bridge.enable_ip_masquerade=false` has no
/// MASQUERADE rule: its containers' packets leave the host with their own source
/// address (172.18.0.2 on the wire of eth0), the router beyond the LAN has no route
/// back to 172.18.0.0/16, and nothing answers - while a container on a default network
/// beside it is masqueraded to the host's address and gets its answer.
#[test]
fn enable_ip_masquerade_false_leaves_the_container_source_unnatted() {
    let text = "name: no-masquerade\n\
         hosts:\n  host1:\n    interfaces:\n      eth0: { address: 192.168.1.10/24, lan: office }\n\
         \x20   gateway: 192.168.1.1\n\
         lans:\n  office: {}\n  internet: {}\n\
         routers:\n  gw:\n    interfaces:\n\
         \x20     lan: { address: 192.168.1.1/24, lan: office }\n\
         \x20     wan: { address: 203.0.113.1/24, lan: internet }\n\
         externals:\n  web: { address: 203.0.113.10/24, lan: internet, gateway: 203.0.113.1, listen: [tcp/80] }\n\
         networks:\n  plain:\n    driver_opts: { com.docker.network.bridge.enable_ip_masquerade: \"false\" }\n  natted: {}\n\
         containers:\n  a: { networks: [plain] }\n  b: { networks: [natted] }\n\
         steps:\n\
         \x20 - connect: { from: a, to: \"203.0.113.10:80\" }\n\
         \x20   expect: { result: timeout, dropped: no-route, on_wire: { at: host1.eth0, src: 172.18.0.2 } }\n\
         \x20 - connect: { from: b, to: \"203.0.113.10:80\" }\n\
         \x20   expect: { result: ok, on_wire: { at: host1.eth0, src: 192.168.1.10 } }\n";
    let r = run_text("no-masquerade.yaml", text);
    assert_eq!(r.steps.len(), 2);
    assert!(
        failed_steps(&r).is_empty(),
        "failed steps: {:?}",
        failed_steps(&r)
    );
    // A typo is an error naming the value, not a silent default.
    let bad = text
        .replace("\\\"false\\\"", "\\\"flase\\\"")
        .replace("\"false\"", "\"flase\"");
    let err = load("bad.yaml", &bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("'flase' is not a boolean"), "{err}");
}
