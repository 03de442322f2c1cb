//! `netloom import cni` and the CNI ADD/DEL/CHECK API: real-world configuration lists
//! (containerd's default `10-containerd-net.conflist`, nerdctl's default bridge with
//! portmap + firewall + tuning, podman's CNI `87-podman-bridge.conflist`, a kubenet
//! single-plugin `.conf`, macvlan, ipvlan, static IPAM with bandwidth) converted and run,
//! host-local's order, the plugins' iptables rules, and errors at line:column.

use netloom_drivers::cni::{CniNetwork, container_id, iptables::chain_name};
use netloom_scenarios::cni::{Options, convert};
use netloom_scenarios::{RunOptions, Status, load, run};
use proptest::prelude::*;

fn fixture(name: &str) -> String {
    let p = format!("{}/tests/fixtures/cni/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn opts(n: usize) -> Options {
    Options {
        containers: Some(n),
        ..Options::default()
    }
}

/// Converts, appends `extra` steps, runs; returns (title and what was seen, status).
fn run_cni(text: &str, o: &Options, extra: &str) -> Vec<(String, Status)> {
    let c = convert("net.conflist", text, o).unwrap_or_else(|e| panic!("{e}"));
    let mut yaml = c.yaml;
    if !extra.is_empty() {
        if !yaml.contains("\nsteps:\n") {
            yaml.push_str("steps:\n");
        }
        yaml.push_str(extra);
    }
    let loaded = load("net.yaml", &yaml).unwrap_or_else(|e| panic!("{e:?}\n{yaml}"));
    let r = run(&loaded, &RunOptions::default());
    r.report
        .steps
        .iter()
        .map(|s| {
            let drop = s.first_drop.clone().unwrap_or_default();
            (
                format!("{} [{}] {} {drop}", s.title, s.observed, s.failures.join("; ")),
                s.status,
            )
        })
        .collect()
}

fn all_passed(steps: &[(String, Status)]) {
    assert!(!steps.is_empty());
    for (t, s) in steps {
        assert!(matches!(s, Status::Passed | Status::Done), "{t}");
    }
}

/// The host's iptables-save text once the converted scenario is loaded.
fn host_rules(text: &str, o: &Options) -> String {
    let c = convert("net.conflist", text, o).unwrap_or_else(|e| panic!("{e}"));
    let loaded = load("net.yaml", &c.yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let r = run(&loaded, &RunOptions::default());
    r.lab.rulesets("host1").expect("a CNI node").0.save()
}

#[test]
fn nerdctl_default_network_reaches_masquerades_publishes_and_hairpins() {
    // c1 reaches c2 over nerdctl0; c1 reaches the client with the node's address as
    // source (ipMasq's CNI-<hash> chain, `on_wire` checked at host1.eth0); port 8080 of
    // runtimeConfig answers from the client (CNI-DN DNAT) and from c1 itself (hairpin:
    // portmap's SETMARK/MASQ makes the reply come back through the node).
    let steps = run_cni(
        &fixture("nerdctl-bridge.conflist"),
        &opts(3),
        "  - connect: { from: c2, to: \"192.168.65.10:8080\" }\n    expect: ok\n",
    );
    assert_eq!(steps.len(), 5, "{steps:?}");
    all_passed(&steps);
}

#[test]
fn hairpin_to_itself_needs_portmaps_masquerade_mark() {
    // With `snat: false` portmap sets no mark: c1's connection to its own published
    // port is DNATed back to c1 with c1's own source address, its answer never goes
    // back through the node, and the connection fails. This is the mark's effect: the
    // same step passes in the test above.
    let text = fixture("nerdctl-bridge.conflist").replace(
        "\"type\": \"portmap\",",
        "\"type\": \"portmap\", \"snat\": false,",
    );
    let c = convert("n.conflist", &text, &opts(1)).expect("converts");
    assert!(
        !c.yaml.contains("# hairpin"),
        "no hairpin check is generated without snat:\n{}",
        c.yaml
    );
    let steps = run_cni(
        &text,
        &opts(1),
        "  - connect: { from: c1, to: \"192.168.65.10:8080\" }\n    expect: ok\n",
    );
    let hairpin = steps
        .iter()
        .find(|(t, _)| t.contains("c1 -> 192.168.65.10:8080"))
        .expect("the hairpin step");
    assert_eq!(hairpin.1, Status::Failed, "{steps:?}");
    // From the client it still answers (no mark needed).
    let from_client = steps
        .iter()
        .find(|(t, _)| t.contains("client -> host1:8080"))
        .expect("step");
    assert_eq!(from_client.1, Status::Passed, "{steps:?}");
}

#[test]
fn without_hairpin_mode_a_container_cannot_reach_its_own_published_port() {
    // As the kernel does with br_netfilter (checked with namespaces, a bridge, veths and
    // the same nat rules: hairpin off, c1 -> own published port times out; on, it
    // connects): the DNAT on the bridge sends the packet back out of c1's own port. Other
    // containers still reach it (c2 -> 8080 -> c1), and the explanation names the rule.
    let text = fixture("nerdctl-bridge.conflist").replace("\"hairpinMode\": true", "\"hairpinMode\": false");
    let steps = run_cni(
        &text,
        &opts(2),
        "  - connect: { from: c1, to: \"192.168.65.10:8080\" }\n    expect: ok\n  - connect: { from: c2, to: \"192.168.65.10:8080\" }\n    expect: ok\n",
    );
    let self_step = steps
        .iter()
        .find(|(t, _)| t.contains("c1 -> 192.168.65.10:8080"))
        .expect("step");
    assert_eq!(self_step.1, Status::Failed, "{steps:?}");
    assert!(self_step.0.contains("not in hairpin mode"), "{}", self_step.0);
    let other = steps
        .iter()
        .find(|(t, _)| t.contains("c2 -> 192.168.65.10:8080"))
        .expect("step");
    assert_eq!(other.1, Status::Passed, "{steps:?}");
}

#[test]
fn a_stopped_container_is_deleted_from_the_plugins_rules() {
    // Stopping c1 is its DEL: CNI-DN and its DNAT go, the client's connection to 8080
    // finds nothing (the node answers with a reset: nothing listens there); started
    // again, it is ADDed again and the port answers.
    let steps = run_cni(
        &fixture("nerdctl-bridge.conflist"),
        &opts(2),
        "  - container: { name: c1, state: stopped }\n  - connect: { from: client, to: \"host1:8080\" }\n    expect: refused\n  - container: { name: c1, state: started }\n  - connect: { from: client, to: \"host1:8080\" }\n    expect: ok\n",
    );
    all_passed(&steps);
}

#[test]
fn firewall_ingress_policy_adds_the_isolation_chains() {
    // nerdctl's default has `ingressPolicy: same-bridge`: CNI-ISOLATION-STAGE-1 is
    // jumped to first in FORWARD (inserted after CNI-FORWARD's jump, so ahead of it).
    let rules = host_rules(&fixture("nerdctl-bridge.conflist"), &opts(2));
    let fwd: Vec<&str> = rules.lines().filter(|l| l.starts_with("-A FORWARD")).collect();
    assert!(
        fwd[0].ends_with("-j CNI-ISOLATION-STAGE-1") && fwd[1].ends_with("-j CNI-FORWARD"),
        "{rules}"
    );
    assert!(rules.contains("-A CNI-ISOLATION-STAGE-1 -i nerdctl0 ! -o nerdctl0 -m comment --comment \"CNI firewall plugin rules (ingressPolicy: same-bridge)\" -j CNI-ISOLATION-STAGE-2"), "{rules}");
    assert!(
        rules.contains("-A CNI-ISOLATION-STAGE-2 -o nerdctl0 -m comment"),
        "{rules}"
    );
    // `isolated` drops bridged traffic between the bridge's own containers (through
    // br_netfilter): the generated check expects no-reach and holds; the client still
    // reaches the published port.
    let text = fixture("nerdctl-bridge.conflist").replace("\"same-bridge\"", "\"isolated\"");
    let steps = run_cni(&text, &opts(2), "");
    let ping = steps
        .iter()
        .find(|(t, _)| t.contains("ping c1 -> c2"))
        .expect("step");
    assert!(
        ping.0.contains("ingressPolicy: isolated") && ping.1 == Status::Passed,
        "{steps:?}"
    );
    all_passed(&steps);
}

#[test]
fn containerd_default_conflist_runs_with_published_ports_from_flags() {
    // IPv6 range and route are left out with a warning; `--publish c2=9000:80` goes to c2.
    let o = Options {
        containers: Some(2),
        publish: vec![
            "c2=9000:80".into(),
            "8443:443/tcp".into(),
            "8444:444".into(),
            "5353:53/udp".into(),
        ],
        no_checks: false,
    };
    let text = fixture("10-containerd-net.conflist");
    let c = convert("10-containerd-net.conflist", &text, &o).expect("converts");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("IPv6") && w.starts_with("10-containerd-net.conflist:")),
        "{:?}",
        c.warnings
    );
    assert!(
        c.yaml.contains("ipv4_address: 10.88.0.2") && c.yaml.contains("ipv4_address: 10.88.0.3"),
        "{}",
        c.yaml
    );
    let steps = run_cni(&text, &o, "");
    assert!(steps.iter().any(|(t, _)| t.contains("host1:9000")), "{steps:?}");
    // The UDP port answers from the client too (an echo listener in c1, DNAT by udp).
    assert!(
        steps
            .iter()
            .any(|(t, _)| t.contains("host1:5353") && t.contains("udp")),
        "{steps:?}"
    );
    all_passed(&steps);
    // The DNAT goes to c2's address.
    let rules = host_rules(&text, &o);
    assert!(rules.contains("-j DNAT --to-destination 10.88.0.3:80"), "{rules}");
    assert!(
        rules.contains("-j DNAT --to-destination 10.88.0.2:443"),
        "{rules}"
    );
    assert!(
        !rules.contains("DOCKER"),
        "a CNI node has no Docker chains:\n{rules}"
    );
    // One entry rule per protocol, its ports joined as portmap's splitPortList joins them.
    let dn1 = chain_name("DN-", "containerd-net", &container_id("c1"));
    assert!(
        rules.contains(&format!("-m multiport --dports 8443,8444 -j {dn1}")),
        "{rules}"
    );
}

#[test]
fn podman_kubenet_macvlan_ipvlan_and_static_run() {
    for (f, n) in [
        ("87-podman-bridge.conflist", 2),
        ("kubenet.conf", 3),
        ("macvlan.conflist", 2),
        ("ipvlan.conflist", 2),
        ("static.conflist", 1),
    ] {
        let steps = run_cni(&fixture(f), &opts(n), "");
        for (t, s) in &steps {
            assert!(matches!(s, Status::Passed | Status::Done), "{f}: {t}");
        }
    }
    // kubenet has no ipMasq: the client cannot answer 10.244.1.0/24 (the check says
    // no-reach, and it holds).
    let c = convert("kubenet.conf", &fixture("kubenet.conf"), &opts(2)).expect("converts");
    assert!(c.yaml.contains("expect: no-reach"), "{}", c.yaml);
    assert!(
        c.yaml.contains("com.docker.network.driver.mtu: \"1460\""),
        "{}",
        c.yaml
    );
    // macvlan: addresses from rangeStart, the parent and mode carried over.
    let c = convert("macvlan.conflist", &fixture("macvlan.conflist"), &opts(2)).expect("converts");
    assert!(
        c.yaml.contains("ipv4_address: 192.168.65.200") && c.yaml.contains("ipv4_address: 192.168.65.201"),
        "{}",
        c.yaml
    );
    assert!(c.yaml.contains("macvlan_mode: \"bridge\""), "{}", c.yaml);
    let c = convert("ipvlan.conflist", &fixture("ipvlan.conflist"), &opts(1)).expect("converts");
    assert!(
        c.yaml.contains("ipvlan_mode: \"l2\"") && c.yaml.contains("192.168.65.220"),
        "{}",
        c.yaml
    );
}

#[test]
fn bandwidth_plugin_slows_a_transfer() {
    // 10 Mbit/s ingress and egress: a 1 MB transfer out of c1 takes ~0.8 s instead of
    // ~10 ms without the plugin.
    let text = fixture("static.conflist");
    let rate = |steps: &[(String, Status)]| -> f64 {
        let t = steps
            .iter()
            .find(|(t, _)| t.contains("transfer"))
            .expect("the transfer step");
        let mbit =
            t.0.split('(')
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .expect("a rate");
        mbit.parse().expect("a number")
    };
    let limited = rate(&run_cni(&text, &opts(1), ""));
    let without = text
        .replace("\"ingressRate\": 10000000", "\"ingressRate\": 0")
        .replace("\"egressRate\": 10000000", "\"egressRate\": 0");
    // With a zero rate the plugin sets no limit (bandwidth skips zero rates).
    let c = convert("s.conflist", &without, &opts(1)).expect("converts");
    assert!(!c.yaml.contains("rate:"), "{}", c.yaml);
    let free = rate(&run_cni(&without, &opts(1), ""));
    assert!(limited < 10.5 && limited > 5.0, "limited to {limited} mbit/s");
    assert!(free > 10.0 * limited, "{free} vs {limited}");
}

#[test]
fn host_local_order_skips_the_gateway_honours_range_start_and_goes_on_after_del() {
    let text = r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","isGateway":true,
      "ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24","rangeStart":"10.1.0.3","rangeEnd":"10.1.0.7","gateway":"10.1.0.5"}]]}}]}"#;
    let mut net = CniNetwork::from_conflist(text).expect("valid");
    let a: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|id| net.add(id, "eth0").expect("free").ips[0].address.clone())
        .collect();
    // .3 (rangeStart), .4, then .6: .5 is the gateway.
    assert_eq!(a, ["10.1.0.3/24", "10.1.0.4/24", "10.1.0.6/24"]);
    net.del("a", "eth0").expect("del");
    net.del("a", "eth0").expect("DEL is idempotent");
    net.del("never", "eth0")
        .expect("DEL of an unknown container is not an error");
    // After DEL, the next ADD continues after the last reserved (.6): .7, not the freed .3.
    assert_eq!(net.add("d", "eth0").expect("free").ips[0].address, "10.1.0.7/24");
    // Then it wraps to rangeStart and finds .3 free again.
    assert_eq!(net.add("e", "eth0").expect("free").ips[0].address, "10.1.0.3/24");
    // Exhausted: host-local's message, in the spec's error JSON.
    let e = net.add("f", "eth0").expect_err("exhausted");
    assert_eq!(
        e.msg,
        "failed to allocate for range 0: no IP addresses available in range set: 10.1.0.3-10.1.0.7"
    );
    assert!(e.to_json().contains("\"code\": 999"), "{}", e.to_json());
    // A second ADD of the same container and interface is refused.
    let e = net.add("b", "eth0").expect_err("duplicate");
    assert!(e.msg.contains("duplicate allocation is not allowed"), "{}", e.msg);
}

#[test]
fn default_range_starts_at_two_and_result_is_the_specs_json() {
    let mut net = CniNetwork::from_conflist(&fixture("87-podman-bridge.conflist")).expect("valid");
    let r = net.add("c1", "eth0").expect("free");
    assert_eq!(r.ips[0].address, "10.88.0.2/16");
    assert_eq!(r.ips[0].gateway.as_deref(), Some("10.88.0.1"));
    // interfaces: the bridge, the host veth, the container's eth0 (index 2, with a sandbox).
    assert_eq!(r.interfaces[0].name, "cni-podman0");
    assert_eq!(r.ips[0].interface, 2);
    assert_eq!(r.interfaces[2].name, "eth0");
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("JSON");
    assert_eq!(json["cniVersion"], "0.4.0");
    // A 0.4.0 result names the address family; 1.0.0 dropped the field.
    assert_eq!(json["ips"][0]["version"], "4");
    let mut v1 = CniNetwork::from_conflist(&fixture("10-containerd-net.conflist")).expect("valid");
    let j1: serde_json::Value =
        serde_json::from_str(&v1.add("x", "eth0").expect("free").to_json()).expect("JSON");
    assert!(j1["ips"][0].get("version").is_none(), "{j1}");
    assert_eq!(json["ips"][0]["interface"], 2);
    assert_eq!(json["routes"][0]["dst"], "0.0.0.0/0");
    assert!(
        json["interfaces"][2]["sandbox"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(
        net.add("c2", "eth0").expect("free").ips[0].address,
        "10.88.0.3/16"
    );
}

#[test]
fn check_fails_for_unknown_deleted_or_different_containers() {
    let mut net = CniNetwork::from_conflist(&fixture("87-podman-bridge.conflist")).expect("valid");
    let r = net.add("c1", "eth0").expect("free");
    net.check("c1", "eth0", &r)
        .expect("CHECK of what ADD returned passes");
    let e = net.check("c9", "eth0", &r).expect_err("never added");
    assert_eq!(e.code, 3, "{e:?}");
    let mut other = r.clone();
    other.ips[0].address = "10.88.0.9/16".into();
    let e = net.check("c1", "eth0", &other).expect_err("another address");
    assert_eq!(e.msg, "host-local: Failed to find address added by container c1");
    net.del("c1", "eth0").expect("del");
    assert_eq!(net.check("c1", "eth0", &r).expect_err("deleted").code, 3);
}

#[test]
fn iptables_save_has_the_plugins_chains_in_order() {
    let rules = host_rules(&fixture("nerdctl-bridge.conflist"), &opts(2));
    let id1 = container_id("c1");
    let masq1 = chain_name("", "bridge", &id1);
    let dn1 = chain_name("DN-", "bridge", &id1);
    // The names hash as the plugins do: CNI- + SHA-512(name + id), 28 characters.
    assert_eq!(masq1, "CNI-11f3cba5a917e5d2ca9cf650");
    assert_eq!(dn1.len(), 28);
    let post: Vec<&str> = rules
        .lines()
        .filter(|l| l.starts_with("-A POSTROUTING"))
        .collect();
    // portmap inserts its MASQ jump first; ipMasq's per-container jumps follow in ADD order.
    assert_eq!(post.len(), 3, "{rules}");
    assert!(post[0].ends_with("-j CNI-HOSTPORT-MASQ"), "{rules}");
    assert!(
        post[1].starts_with(
            "-A POSTROUTING -s 10.4.0.2/32 -m comment --comment \"name: \\\"bridge\\\" id: \\\""
        ),
        "{rules}"
    );
    assert!(post[1].ends_with(&format!("-j {masq1}")), "{rules}");
    assert!(post[2].contains("-s 10.4.0.3/32"), "{rules}");
    for line in [
        "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
        "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
        &format!("-A {masq1} -d 10.4.0.0/24 -m comment"),
        &format!("-A {masq1} ! -d 224.0.0.0/4 -m comment"),
        &format!("-A {dn1} -s 10.4.0.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK"),
        &format!("-A {dn1} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK"),
        &format!("-A {dn1} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.4.0.2:80"),
        "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
        "-A CNI-HOSTPORT-SETMARK -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark 0x2000/0x2000",
        "-A FORWARD -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD",
        "-A CNI-FORWARD -m comment --comment \"CNI firewall plugin admin overrides\" -j CNI-ADMIN",
        "-A CNI-FORWARD -d 10.4.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A CNI-FORWARD -s 10.4.0.2/32 -j ACCEPT",
    ] {
        assert!(rules.contains(line), "missing {line}\n{rules}");
    }
    let dnat_entry = rules
        .lines()
        .find(|l| l.starts_with("-A CNI-HOSTPORT-DNAT"))
        .expect("entry rule");
    assert_eq!(
        dnat_entry,
        format!(
            "-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment \"dnat name: \\\"bridge\\\" id: \\\"{id1}\\\"\" -m multiport --dports 8080 -j {dn1}"
        )
    );
    // The CNI-FORWARD rules follow ADD order: c1's before c2's.
    let p1 = rules.find("-s 10.4.0.2/32 -j ACCEPT").expect("c1");
    let p2 = rules.find("-s 10.4.0.3/32 -j ACCEPT").expect("c2");
    assert!(p1 < p2);
}

#[test]
fn del_removes_the_containers_rules_and_keeps_the_shared_chains() {
    let mut net = CniNetwork::from_conflist(&fixture("nerdctl-bridge.conflist")).expect("valid");
    net.add("a", "eth0").expect("free");
    net.add("b", "eth0").expect("free");
    net.del("a", "eth0").expect("del");
    let s = net.ruleset().save();
    assert!(!s.contains(&chain_name("", "bridge", "a")), "{s}");
    assert!(!s.contains(&chain_name("DN-", "bridge", "a")), "{s}");
    assert!(!s.contains("10.4.0.2/32"), "{s}");
    assert!(
        s.contains(&chain_name("DN-", "bridge", "b")) && s.contains("10.4.0.3/32"),
        "{s}"
    );
    assert!(
        s.contains(":CNI-HOSTPORT-SETMARK") && s.contains(":CNI-ADMIN"),
        "{s}"
    );
}

#[test]
fn errors_point_at_line_and_column_and_name_the_field() {
    let bad = |text: &str| convert("bad.conflist", text, &Options::default()).expect_err("an error");
    // JSON syntax: serde_json's place.
    let e = bad("{\n  \"name\": \"x\"\n  \"plugins\": []\n}");
    assert!(e.starts_with("bad.conflist:3:3: error:"), "{e}");
    // A wrong type names the key.
    let e = bad(r#"{"cniVersion":"1.0.0","name":"x","plugins":[
  {"type":"bridge","isGateway":"yes"}]}"#);
    assert!(
        e.starts_with("bad.conflist:2:") && e.contains("isGateway: invalid type"),
        "{e}"
    );
    // A subnet that is not a CIDR.
    let e = bad(r#"{"cniVersion":"1.0.0","name":"x","plugins":[
  {"type":"bridge","ipam":{"type":"host-local",
     "subnet":"10.0.0.0/33"}}]}"#);
    assert!(
        e.starts_with("bad.conflist:3:6: error: subnet: invalid CIDR address: 10.0.0.0/33"),
        "{e}"
    );
    // rangeStart outside the subnet: host-local's message.
    let e = bad(r#"{"cniVersion":"1.0.0","name":"x","plugins":[
  {"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.0.0.0/24",
     "rangeStart":"10.0.1.5"}]]}}]}"#);
    assert!(
        e.starts_with("bad.conflist:3:6: error: rangeStart: RangeStart 10.0.1.5 not in network 10.0.0.0/24"),
        "{e}"
    );
    // An interface plugin netloom does not model.
    let e = bad(r#"{"cniVersion":"1.0.0","name":"x","plugins":[
  {"type":"ptp","ipam":{"type":"host-local","subnet":"10.0.0.0/24"}}]}"#);
    assert!(
        e.starts_with("bad.conflist:2:4: error: plugin type \"ptp\" is not modelled"),
        "{e}"
    );
    // A chained plugin netloom does not model is a warning naming it.
    let c = convert(
        "w.conflist",
        r#"{"cniVersion":"1.0.0","name":"x","plugins":[
  {"type":"bridge","ipMasq":true,"isGateway":true,"ipam":{"type":"host-local","subnet":"10.0.0.0/24"}},
  {"type":"sbr"}]}"#,
        &Options::default(),
    )
    .expect("converts");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("w.conflist:3:4: warning: plugin type \"sbr\"")),
        "{:?}",
        c.warnings
    );
    // Exhaustion when converting: the ADD that failed and host-local's message.
    let e = convert(
        "small.conflist",
        r#"{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge","ipam":{"type":"host-local","subnet":"10.0.0.0/30"}}]}"#,
        &opts(2),
    )
    .expect_err("a /30 has one address besides the gateway");
    assert!(
        e.contains("ADD of c2") && e.contains("no IP addresses available in range set: 10.0.0.1-10.0.0.2"),
        "{e}"
    );
}

#[test]
fn netloom_run_takes_a_conflist_directly() {
    let p = std::path::PathBuf::from(format!(
        "{}/tests/fixtures/cni/87-podman-bridge.conflist",
        env!("CARGO_MANIFEST_DIR")
    ));
    let loaded = netloom_scenarios::input::load_file(&p).expect("a conflist is a scenario");
    assert_eq!(loaded.model.containers.len(), 2);
    let r = run(&loaded, &RunOptions::default());
    assert!(
        r.report.passed(),
        "{}",
        netloom_scenarios::report::text(&r.report)
    );
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"type\":\"bridge\"".to_string()),
        Just("\"type\":\"macvlan\"".to_string()),
        Just("\"type\":\"portmap\"".to_string()),
        Just("\"type\":\"host-local\"".to_string()),
        Just("\"type\":\"static\"".to_string()),
        Just("\"isGateway\":true".to_string()),
        Just("\"ipMasq\":true".to_string()),
        Just("\"mtu\":-1".to_string()),
        Just("\"subnet\":\"10.0.0.0/30\"".to_string()),
        Just("\"subnet\":\"::/0\"".to_string()),
        Just("\"rangeStart\":\"10.0.0.9\"".to_string()),
        Just("\"rangeEnd\":\"10.0.0.1\"".to_string()),
        Just("\"gateway\":\"10.0.0.2\"".to_string()),
        Just("\"addresses\":[{\"address\":\"10.0.0.5/24\"}]".to_string()),
        Just("\"runtimeConfig\":{\"portMappings\":[{\"hostPort\":70000,\"containerPort\":0}]}".to_string()),
        Just("\"ranges\":[[]]".to_string()),
        Just("\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"},{\"subnet\":\"10.0.0.0/25\"}]]".to_string()),
        "[a-z{}\\[\\]:,\"0-9./]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    /// Whatever the configuration, the importer answers with a scenario or an error,
    /// never a panic.
    #[test]
    fn random_conflists_never_panic(
        main in prop::collection::vec(fragment(), 0..6),
        ipam in prop::collection::vec(fragment(), 0..6),
        chained in prop::collection::vec(fragment(), 0..3),
        n in 0usize..5,
    ) {
        let text = format!(
            "{{\"cniVersion\":\"1.0.0\",\"name\":\"p\",\"plugins\":[{{{},\"ipam\":{{{}}}}},{{{}}}]}}",
            main.join(","), ipam.join(","), chained.join(",")
        );
        let _ = convert("p.conflist", &text, &opts(n));
        if let Ok(mut net) = CniNetwork::from_conflist(&text) {
            for i in 0..n {
                let _ = net.add(&format!("c{i}"), "eth0");
            }
            let _ = net.ruleset().save();
        }
    }
}

#[test]
fn the_cni_network_key_parses_and_is_refused_on_other_drivers() {
    // The full-format fixture's `podnet` carries every `cni:` key.
    let full = include_str!("fixtures/full-format.yaml");
    let s = netloom_scenarios::format::parse_scenario("full-format.yaml", full).expect("parses");
    let c = &s.networks["podnet"].cni.as_ref().expect("cni key").value;
    assert!(c.ip_masq && c.hairpin_mode && c.portmap && c.firewall);
    assert_eq!(c.portmap_mark_bit.as_ref().map(|b| b.value), Some(13));
    assert_eq!(
        c.firewall_admin_chain.as_ref().map(|a| a.value.as_str()),
        Some("CNI-ADMIN")
    );
    // On an overlay network it is an error at its line.
    let e = load(
        "x.yaml",
        "name: x\nhosts: { h1: {}, h2: {} }\nnetworks:\n  o:\n    driver: overlay\n    hosts: [h1, h2]\n    cni: { ip_masq: true }\n",
    )
    .expect_err("refused");
    let text = format!("{e:?}");
    assert!(text.contains("bridge, macvlan and ipvlan"), "{text}");
}

/// `netloom graph` says which networks CNI's plugins made, and which plugins program
/// their rules.
#[test]
fn graph_marks_cni_networks() {
    let c = convert("net.conflist", &fixture("nerdctl-bridge.conflist"), &opts(2)).expect("converts");
    let loaded = load("net.conflist", &c.yaml).expect("loads");
    let text = netloom_scenarios::graph::text(&loaded.resolved);
    assert!(
        text.contains(" cni ") && text.contains("ipMasq+portmap+firewall"),
        "{text}"
    );
}
