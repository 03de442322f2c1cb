//! The `firewall:` section, `daemon.version` and the bridge driver options
//! `com.docker.network.bridge.name` / `gateway_mode_ipv4`: what a valid file becomes in
//! the model, and every refusal at its `file:line:column` with a hint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use netloom_drivers::docker::GatewayMode;
use netloom_scenarios::error::ScenarioError;
use netloom_scenarios::{Loaded, load};

/// A host with a NIC on a LAN, a router on it, and a container with a published port.
const HEAD: &str = "name: fw
hosts:
  host1:
    interfaces:
      eth0: { address: 192.168.1.10/24, lan: office }
lans:
  office: {}
routers:
  gw:
    interfaces:
      lan: { address: 192.168.1.1/24, lan: office }
networks:
  app: {}
containers:
  web: { networks: [app], ports: [\"8080:80\"], listen: [tcp/80] }
";

fn ok(yaml: &str) -> Loaded {
    load("t.yaml", yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// The first error of `yaml`, checked to sit at the first occurrence of `at` (on the
/// line that contains `line_has`), with `msg` in its message and `hint` in its hint.
fn refused(yaml: &str, line_has: &str, at: &str, msg: &str, hint: &str) -> ScenarioError {
    let errs = match load("t.yaml", yaml) {
        Ok(_) => panic!("loaded, but it is invalid:\n{yaml}"),
        Err(e) => e,
    };
    let first = errs.iter().next().expect("one error").clone();
    // A line that is exactly `line_has`, else the first that contains it.
    let (line, text) = yaml
        .lines()
        .enumerate()
        .find(|(_, l)| *l == line_has)
        .or_else(|| yaml.lines().enumerate().find(|(_, l)| l.contains(line_has)))
        .unwrap_or_else(|| panic!("no line has {line_has:?}"));
    let col = text[..text.find(at).expect("marker on the line")].chars().count() + 1;
    assert_eq!(
        (first.line, first.column),
        (line as u64 + 1, col as u64),
        "{first}"
    );
    assert!(first.message.contains(msg), "message: {first}");
    assert!(
        first.hint.as_deref().unwrap_or("").contains(hint),
        "hint: {first}"
    );
    assert!(
        first
            .to_string()
            .starts_with(&format!("t.yaml:{}:{col}: error: ", line + 1)),
        "{first}"
    );
    first
}

fn with_rules(machine: &str, rules: &str) -> String {
    format!("{HEAD}firewall:\n  {machine}:\n{rules}")
}

/// Proves each rule becomes a `UserRule` on its machine, in file order, with the
/// iptables text a user would type and its origin for explanations.
#[test]
fn rules_reach_their_machine_in_file_order() {
    let yaml = with_rules(
        "host1",
        "    - { chain: DOCKER-USER, in: eth0, source: \"!192.168.1.0/24\", action: drop }
    - chain: DOCKER-USER
      in: eth0
      proto: tcp
      source: 10.0.0.7/8
      destination: 172.18.0.0/16
      sport: 1024-65535
      dport: 80
      ctstate: [new, established]
      ctorigdst: 192.168.1.10
      ctorigdstport: 8080
      action: reject
      reject_with: tcp-reset
    - { chain: INPUT, proto: icmp, icmp_type: echo-request, action: accept }
    - { chain: INPUT, proto: icmp, icmp_type: 3/4, action: accept }
    - { chain: INPUT, proto: icmp, icmp_type: port-unreachable, action: drop }
    - { chain: FORWARD, out: \"!eth+\", proto: udp, dport: \"!53\", action: return }
    - { chain: OUTPUT, proto: icmpv6, icmp_type: neighbor-solicitation, destination: \"fe80::/10\", action: accept }
    - { chain: INPUT, proto: tcp, action: reject }
  gw:
    - { chain: FORWARD, proto: udp, dport: 4789, action: drop }
",
    );
    let l = ok(&yaml);
    let host = &l.model.hosts[0];
    let texts: Vec<String> = host
        .firewall
        .iter()
        .map(|u| format!("-A {} {}", u.chain, u.rule))
        .collect();
    assert_eq!(
        texts,
        [
            "-A DOCKER-USER ! -s 192.168.1.0/24 -i eth0 -j DROP",
            // Host bits are cleared as iptables clears them (10.0.0.7/8 → 10.0.0.0/8).
            "-A DOCKER-USER -s 10.0.0.0/8 -d 172.18.0.0/16 -i eth0 -p tcp -m tcp --sport 1024:65535 --dport 80 \
             -m conntrack --ctstate NEW,ESTABLISHED --ctorigdst 192.168.1.10 --ctorigdstport 8080 \
             -j REJECT --reject-with tcp-reset",
            "-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT",
            "-A INPUT -p icmp -m icmp --icmp-type 3/4 -j ACCEPT",
            "-A INPUT -p icmp -m icmp --icmp-type 3/3 -j DROP",
            "-A FORWARD ! -o eth+ -p udp -m udp ! --dport 53 -j RETURN",
            "-A OUTPUT -d fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT",
            "-A INPUT -p tcp -j REJECT --reject-with icmp-port-unreachable",
        ]
    );
    let origins: Vec<&str> = host.firewall.iter().map(|u| u.origin.as_str()).collect();
    assert_eq!(origins[0], "firewall.host1[0]");
    assert_eq!(origins[7], "firewall.host1[7]");
    let gw = &l.model.routers[0].firewall;
    assert_eq!(gw.len(), 1);
    assert_eq!(gw[0].origin, "firewall.gw[0]");
    assert_eq!(gw[0].rule.to_string(), "-p udp -m udp --dport 4789 -j DROP");
}

/// The default host `host1` (no `hosts:` section) takes rules too.
#[test]
fn the_default_host_takes_rules() {
    let l = ok("name: t\nfirewall:\n  host1:\n    - { chain: DOCKER-USER, ctstate: new, action: drop }\n");
    assert_eq!(l.model.hosts.len(), 1);
    assert_eq!(l.model.hosts[0].name, "host1");
    assert_eq!(
        l.model.hosts[0].firewall[0].rule.to_string(),
        "-m conntrack --ctstate NEW -j DROP"
    );
}

#[test]
fn unknown_machine_names_the_nearest() {
    let yaml = with_rules("hots1", "    - { chain: INPUT, action: drop }\n");
    refused(
        &yaml,
        "hots1:",
        "hots1",
        "unknown machine 'hots1'",
        "did you mean 'host1'?",
    );
    let yaml = with_rules("web", "    - { chain: INPUT, action: drop }\n");
    refused(
        &yaml,
        "  web:",
        "web",
        "'web' is a container",
        "hosts and routers: host1, gw",
    );
}

#[test]
fn unknown_chains_are_refused_per_machine_kind() {
    let rule = |chain: &str| format!("    - {{ chain: {chain}, action: drop }}\n");
    refused(
        &with_rules("gw", &rule("DOCKER-USER")),
        "chain:",
        "DOCKER-USER",
        "routers have no Docker chains",
        "FORWARD, INPUT, OUTPUT",
    );
    refused(
        &with_rules("host1", &rule("DOCKER-USR")),
        "chain:",
        "DOCKER-USR",
        "unknown chain 'DOCKER-USR' on a host",
        "did you mean 'DOCKER-USER'?",
    );
    refused(
        &with_rules("host1", &rule("forward")),
        "chain:",
        "forward",
        "unknown chain 'forward'",
        "upper case: 'FORWARD'",
    );
    refused(
        &with_rules("host1", &rule("PREROUTING")),
        "chain:",
        "PREROUTING",
        "unknown chain 'PREROUTING'",
        "nat, raw and mangle",
    );
}

#[test]
fn bad_addresses_are_refused() {
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, source: 10.0.0.300/8, action: drop }\n",
        ),
        "source",
        "10.0.0.300",
        "'10.0.0.300/8' is not an address or CIDR for `source`",
        "10.0.0.0/8",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, destination: \"!10.0.0.0/33\", action: drop }\n",
        ),
        "destination",
        "\"!10",
        "not an address or CIDR for `destination`",
        "",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: DOCKER-USER, ctorigdst: host1, action: drop }\n",
        ),
        "ctorigdst",
        "host1,",
        "for `ctorigdst`",
        "",
    );
}

/// An unquoted `!10.0.0.0/8` is a YAML tag on an empty value: refused, not read as a
/// rule without its match (which would drop everything instead of all but 10/8).
#[test]
fn an_unquoted_negation_is_refused_not_dropped() {
    let yaml = with_rules(
        "host1",
        "    - chain: DOCKER-USER\n      source: !10.0.0.0/8\n      action: drop\n",
    );
    let errs = load("t.yaml", &yaml).expect_err("refused");
    let e = errs.iter().next().unwrap();
    // The YAML reader places it at the end of the tag, on the `source` line.
    let line = yaml.lines().position(|l| l.contains("source: !")).unwrap() as u64 + 1;
    assert_eq!((e.line, e.column), (line, 26), "{e}");
    assert!(e.message.contains("this value is empty"), "{e}");
    assert!(e.hint.as_deref().unwrap_or("").contains("must be quoted"), "{e}");
}

#[test]
fn ports_need_tcp_or_udp() {
    refused(
        &with_rules("host1", "    - { chain: INPUT, dport: 80, action: drop }\n"),
        "dport",
        "80",
        "'dport' needs proto tcp or udp, and this rule has no protocol",
        "proto: tcp",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, proto: icmp, sport: 1024-65535, action: drop }\n",
        ),
        "sport",
        "1024",
        "this rule has proto icmp",
        "proto: udp",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, proto: tcp, dport: 90-80, action: drop }\n",
        ),
        "dport",
        "90-80",
        "runs backwards",
        "lower port first",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, proto: tcp, dport: http, action: drop }\n",
        ),
        "dport",
        "http",
        "'http' is not a port or port range for `dport`",
        "0 to 65535",
    );
    // ctorigdstport takes no `proto` (the conntrack match accepts it alone, as iptables does).
    let l = ok(&with_rules(
        "host1",
        "    - { chain: DOCKER-USER, ctorigdstport: 8080-8090, action: drop }\n",
    ));
    assert_eq!(
        l.model.hosts[0].firewall[0].rule.to_string(),
        "-m conntrack --ctorigdstport 8080:8090 -j DROP"
    );
}

#[test]
fn icmp_types_need_icmp_and_a_known_name() {
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, icmp_type: echo-request, action: drop }\n",
        ),
        "icmp_type",
        "echo-request",
        "'icmp_type' needs proto icmp or icmpv6",
        "proto: icmp",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, proto: udp, icmp_type: 8, action: drop }\n",
        ),
        "icmp_type",
        "8, action",
        "needs proto icmp or icmpv6",
        "",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, proto: icmp, icmp_type: echo-requets, action: drop }\n",
        ),
        "icmp_type",
        "echo-requets",
        "unknown ICMP type 'echo-requets'",
        "did you mean 'echo-request'?",
    );
    // An IPv6-only name under IPv4.
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, proto: icmp, icmp_type: packet-too-big, action: drop }\n",
        ),
        "icmp_type",
        "packet-too-big",
        "unknown ICMP type 'packet-too-big'",
        "an ICMPv6 type: set `proto: icmpv6`",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, proto: icmp, icmp_type: 300, action: drop }\n",
        ),
        "icmp_type",
        "300",
        "unknown ICMP type '300'",
        "",
    );
}

#[test]
fn reject_with_needs_reject_and_tcp_reset_needs_tcp() {
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, action: drop, reject_with: icmp-host-prohibited }\n",
        ),
        "reject_with",
        "icmp-host-prohibited",
        "'reject_with' is an option of `action: reject`",
        "action: reject",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, proto: udp, action: reject, reject_with: tcp-reset }\n",
        ),
        "reject_with",
        "tcp-reset",
        "'tcp-reset' needs `proto: tcp`",
        "icmp-port-unreachable",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, action: reject, reject_with: tcp-rst }\n",
        ),
        "reject_with",
        "tcp-rst",
        "unknown value 'tcp-rst'",
        "did you mean 'tcp-reset'?",
    );
}

#[test]
fn unknown_actions_keys_and_states_name_the_nearest() {
    refused(
        &with_rules("host1", "    - { chain: INPUT, action: dorp }\n"),
        "action",
        "dorp",
        "unknown value 'dorp'",
        "did you mean 'drop'?",
    );
    refused(
        &with_rules("host1", "    - { chain: INPUT, dprot: 80, action: drop }\n"),
        "dprot",
        "dprot",
        "unknown key 'dprot'",
        "did you mean 'dport'?",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, ctstate: [new, establised], action: drop }\n",
        ),
        "ctstate",
        "establised",
        "unknown value 'establised'",
        "did you mean 'established'?",
    );
    refused(
        &with_rules("host1", "    - { chain: INPUT, proto: sctp, action: drop }\n"),
        "proto",
        "sctp",
        "unknown value 'sctp'",
        "valid values here: tcp, udp, icmp, icmpv6",
    );
}

#[test]
fn a_rule_names_one_family() {
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, source: 10.0.0.0/8, destination: \"2001:db8::/32\", action: drop }\n",
        ),
        "destination",
        "\"2001",
        "destination 2001:db8::/32 is IPv6 but source 10.0.0.0/8 is IPv4",
        "one rule per family",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, proto: icmpv6, source: 10.0.0.1, action: drop }\n",
        ),
        "source",
        "10.0.0.1",
        "source 10.0.0.1/32 is IPv4 but proto icmpv6",
        "",
    );
}

#[test]
fn interfaces_follow_iptables() {
    refused(
        &with_rules("host1", "    - { chain: OUTPUT, in: eth0, action: drop }\n"),
        "in:",
        "eth0",
        "Can't use -i with OUTPUT",
        "use `out`",
    );
    refused(
        &with_rules("host1", "    - { chain: INPUT, out: eth0, action: drop }\n"),
        "out:",
        "eth0",
        "Can't use -o with INPUT",
        "use `in`",
    );
    refused(
        &with_rules(
            "host1",
            "    - { chain: INPUT, in: averyveryverylongname, action: drop }\n",
        ),
        "in:",
        "averyvery",
        "is not an interface name for `in`",
        "at most 15",
    );
}

#[test]
fn daemon_version_is_28_or_29() {
    let y = |v: &str| format!("name: t\nhosts:\n  host1:\n    daemon: {{ version: {v} }}\n");
    assert_eq!(ok(&y("28")).model.hosts[0].daemon.version, 28);
    assert_eq!(
        ok("name: t\nhosts:\n  host1: {}\n").model.hosts[0].daemon.version,
        29
    );
    refused(
        &y("27"),
        "version",
        "27",
        "Docker 27 is not a version netloom models",
        "28",
    );
}

#[test]
fn bridge_name_and_gateway_mode_reach_the_model() {
    let l = ok("name: t
networks:
  app:
    driver_opts:
      com.docker.network.bridge.name: br0
      com.docker.network.bridge.gateway_mode_ipv4: routed
  other:
    driver_opts: { com.docker.network.bridge.gateway_mode_ipv4: nat-unprotected }
");
    let app = &l.model.networks[0];
    assert_eq!(app.bridge_name.as_deref(), Some("br0"));
    assert_eq!(app.gateway_mode, GatewayMode::Routed);
    assert_eq!(l.model.networks[1].gateway_mode, GatewayMode::NatUnprotected);
    // The device is the name asked for.
    let r = l.model.resolve().unwrap();
    let dev = r.networks.iter().find(|n| n.name == "app").unwrap();
    assert_eq!(dev.device, "br0");
}

#[test]
fn bridge_options_are_checked_at_their_place() {
    refused(
        "name: t
hosts:
  host1:
    interfaces: { eth0: { address: 192.168.1.10/24 } }
networks:
  mv:
    driver: macvlan
    driver_opts: { parent: eth0, com.docker.network.bridge.name: br0 }
",
        "driver_opts",
        "br0",
        "'com.docker.network.bridge.name' is an option of bridge networks, not of a macvlan network",
        "driver: bridge",
    );
    refused(
        "name: t
networks:
  app:
    driver_opts: { com.docker.network.bridge.name: a-very-long-bridge }
",
        "driver_opts",
        "a-very",
        "invalid bridge name \"a-very-long-bridge\"",
        "at most 15",
    );
}

#[test]
fn two_networks_with_one_bridge_name_point_at_the_second() {
    let yaml = "name: t
networks:
  a:
    driver_opts: { com.docker.network.bridge.name: br0 }
  b:
    driver_opts:
      com.docker.network.bridge.name: br0
";
    let e = refused(
        yaml,
        "      com.docker.network.bridge.name: br0",
        "br0",
        "cannot create network b (br0): conflicts with network a (br0): networks have same bridge name",
        "its own com.docker.network.bridge.name",
    );
    assert_eq!(e.line, 7);
    refused(
        "name: t\nnetworks:\n  a:\n    driver_opts: { com.docker.network.bridge.gateway_mode_ipv4: nate }\n",
        "gateway_mode",
        "nate",
        "invalid gateway mode \"nate\"",
        "nat, nat-unprotected or routed",
    );
}
