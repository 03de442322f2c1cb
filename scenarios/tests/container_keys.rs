//! The container keys every front end needs (`docker run --add-host --ip6
//! --mac-address`, compose's `extra_hosts`, `ipv6_address`, `mac_address`): each
//! changes what a user sees in a run.

use netloom_scenarios::{RunOptions, Status, load, run};

fn steps(yaml: &str) -> Vec<(String, Status)> {
    let loaded = load("t.yaml", yaml).unwrap_or_else(|e| panic!("{e:?}"));
    run(&loaded, &RunOptions::default())
        .report
        .steps
        .iter()
        .map(|s| {
            (
                format!("{} [{}] {}", s.title, s.observed, s.failures.join("; ")),
                s.status,
            )
        })
        .collect()
}

fn errors(yaml: &str) -> String {
    match load("t.yaml", yaml) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.iter().map(|x| x.render(yaml)).collect::<Vec<_>>().join("\n"),
    }
}

const LEGACY: &str = r#"
name: extra-hosts
hosts:
  host1:
    interfaces: { eth0: { address: 192.168.65.10/24, lan: lan } }
lans: { lan: {} }
externals:
  legacy: { address: 192.168.65.50/24, lan: lan, listen: [tcp/5432] }
networks:
  appnet: { host: host1 }
containers:
  app:
    networks: [appnet]
    extra_hosts: ["legacy-db:192.168.65.50", "host.docker.internal:host-gateway"]
  other:
    networks: [appnet]
  mapped:
    networks: [appnet]
    extra_hosts: { legacy-db: 192.168.65.50 }
"#;

/// `--add-host` names answer from /etc/hosts before DNS, only in that container; the
/// map form means the same; `host-gateway` is docker0's address.
#[test]
fn extra_hosts_resolve_only_where_given() {
    let yaml = format!(
        "{LEGACY}steps:
  - resolve: {{ from: app, name: legacy-db }}
    expect: {{ addresses: [192.168.65.50] }}
  - connect: {{ from: app, to: \"legacy-db:5432\" }}
    expect: ok
  - resolve: {{ from: app, name: host.docker.internal }}
    expect: {{ addresses: [172.17.0.1] }}
  - resolve: {{ from: other, name: legacy-db }}
    expect: nxdomain
  - connect: {{ from: mapped, to: \"LEGACY-DB:5432\" }}
    expect: ok
"
    );
    for (t, s) in steps(&yaml) {
        assert_eq!(s, Status::Passed, "{t}");
    }
}

#[test]
fn bad_extra_hosts_are_refused_where_written() {
    let yaml = LEGACY.replace("\"legacy-db:192.168.65.50\"", "\"legacy-db:192.168.65\"");
    let e = errors(&yaml);
    assert!(
        e.contains("t.yaml:14:19") && e.contains("invalid IP address in add-host"),
        "{e}"
    );
    let yaml = LEGACY.replace("\"legacy-db:192.168.65.50\"", "\"nocolon\"");
    assert!(errors(&yaml).contains("bad format for add-host: \"nocolon\""));
}

const V6: &str = r#"
name: v6
networks:
  dual:
    enable_ipv6: true
    ipam: { config: [ { subnet: 172.30.0.0/24 }, { subnet: "fd00:30::/64" } ] }
  v4only: {}
containers:
  a:
    networks: { dual: { ipv6_address: "fd00:30::99" } }
    listen: [tcp/80]
  b:
    networks: [dual]
"#;

/// A fixed IPv6 address is the container's; dynamic ones skip it.
#[test]
fn a_fixed_ipv6_address_is_used_and_refused_where_docker_refuses_it() {
    let yaml = format!(
        "{V6}steps:
  - ping: {{ from: b, to: \"fd00:30::99\" }}
    expect: reach
  - connect: {{ from: b, to: \"[fd00:30::99]:80\" }}
    expect: ok
  - ping: {{ from: a, to: \"fd00:30::1\" }}
    expect: reach
"
    );
    for (t, s) in steps(&yaml) {
        assert_eq!(s, Status::Passed, "{t}");
    }
    let bad = V6.replace(
        "networks: [dual]",
        "networks: { v4only: { ipv6_address: \"fd00:30::5\" } }",
    );
    let e = errors(&bad);
    assert!(
        e.contains("no configured subnet contains IP address fd00:30::5"),
        "{e}"
    );
    let bad = V6.replace("fd00:30::99", "fd00:31::99");
    assert!(errors(&bad).contains("fd00:31::99"));
}

/// The MAC a user pins is the one on the wire (and in ARP replies).
#[test]
fn a_fixed_mac_is_the_one_on_the_wire() {
    let yaml = r#"
name: mac
networks:
  n: { ipam: { config: [ { subnet: 172.31.0.0/24 } ] } }
containers:
  a:
    networks: { n: { mac_address: "02:00:00:aa:bb:cc" } }
  b:
    networks: [n]
    mac_address: "02-00-00-11-22-33"
steps:
  - ping: { from: b, to: a }
    expect: reach
"#;
    let loaded = load("t.yaml", yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let r = run(
        &loaded,
        &RunOptions {
            trace_all: true,
            ..RunOptions::default()
        },
    );
    let text = r
        .report
        .steps
        .iter()
        .flat_map(|s| s.trace.iter())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        r.report.steps.iter().all(|s| s.status == Status::Passed),
        "{text}"
    );
    println!("{text}");
    assert!(
        text.contains("02:00:00:11:22:33") && text.contains("02:00:00:aa:bb:cc"),
        "{text}"
    );
    let bad = yaml.replace("02:00:00:aa:bb:cc", "01:00:5e:00:00:01");
    assert!(errors(&bad).contains("multicast"));
    let bad = yaml.replace("02:00:00:aa:bb:cc", "02:00:00:aa:bb");
    assert!(errors(&bad).contains("invalid MAC address: 02:00:00:aa:bb"));
}
