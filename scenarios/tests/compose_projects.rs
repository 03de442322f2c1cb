//! Compose projects with the network shapes of public projects
//! (`tests/fixtures/compose/projects/`), and the Compose Specification's JSON schema
//! as the oracle for what a compose file is.
//!
//! Each project is valid under the schema, converts, loads, and its default checks
//! give what Docker would: all pass, except where the file itself explains a failure
//! users report (a host-network service cannot resolve a service name).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use netloom_scenarios::compose::{Options, convert};
use netloom_scenarios::{RunOptions, Status, load, run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose")
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(fixtures().join("compose-spec.json")).expect("schema");
    let v: serde_json::Value = serde_json::from_str(&text).expect("schema json");
    jsonschema::validator_for(&v).expect("schema compiles")
}

/// The compose YAML as JSON, for the schema.
fn as_json(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("yaml")
}

fn opts() -> Options {
    Options {
        project: Some("proj".into()),
        env: Some(HashMap::new()),
        ..Options::default()
    }
}

/// (file, step titles that must fail: Docker fails them too).
const PROJECTS: &[(&str, &[&str])] = &[
    ("gluetun-qbittorrent.yaml", &[]),
    ("home-assistant-mosquitto.yaml", &["mosquitto:1883"]),
    ("nginx-golang-mysql.yaml", &[]),
    ("pihole-macvlan.yaml", &[]),
    ("pihole.yaml", &[]),
    ("prometheus-grafana.yaml", &[]),
    ("traefik-whoami.yaml", &[]),
    ("wordpress-mysql.yaml", &[]),
];

#[test]
fn public_project_shapes_are_valid_compose_and_their_checks_hold() {
    let schema = schema();
    let dir = fixtures().join("projects");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let listed: Vec<&str> = PROJECTS.iter().map(|(f, _)| *f).collect();
    assert_eq!(names, listed, "every fixture has a row");
    for (file, failing) in PROJECTS {
        let text = std::fs::read_to_string(dir.join(file)).expect("read");
        let errors: Vec<String> = schema
            .iter_errors(&as_json(&text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{file} is not valid compose: {errors:?}");
        let c = convert(file, &text, &opts()).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        let loaded = load(file, &c.yaml).unwrap_or_else(|e| panic!("{file}: {e:?}\n{}", c.yaml));
        let r = run(&loaded, &RunOptions::default());
        assert!(
            !r.report.steps.is_empty(),
            "{file}: no default checks\n{}",
            c.yaml
        );
        for s in &r.report.steps {
            let want_fail = failing.iter().any(|f| s.title.contains(f));
            let want = if want_fail { Status::Failed } else { Status::Passed };
            assert_eq!(
                s.status,
                want,
                "{file}: {} [{}] {}\n{}",
                s.title,
                s.observed,
                s.failures.join("; "),
                c.yaml
            );
        }
    }
}

/// The macvlan project puts host1 on the macvlan subnet, named as the parent NIC, and
/// checks the service at its own address (the driver ignores `ports:`).
#[test]
fn a_macvlan_project_lives_on_its_lan() {
    let text = std::fs::read_to_string(fixtures().join("projects/pihole-macvlan.yaml")).expect("read");
    let c = convert("f", &text, &opts()).expect("converts");
    assert!(
        c.yaml.contains("\"enp3s0\": { address: 192.168.1.10/24"),
        "{}",
        c.yaml
    );
    assert!(
        c.yaml.contains("client: { address: 192.168.1.100/24"),
        "{}",
        c.yaml
    );
    assert!(c.yaml.contains("to: \"proj-pihole-1:80\""), "{}", c.yaml);
}

/// Documents the schema accepts are converted; documents it refuses for a key that
/// matters to networking are refused by the converter too, at a line.
#[test]
fn the_schema_and_the_converter_agree() {
    let schema = schema();
    let accepted = [
        "services:\n  a:\n    image: x\n    ports: [80, \"8080:80\", {target: 53, published: \"5353\", protocol: udp}]\n",
        "services:\n  a:\n    image: x\n    networks: { n: null }\nnetworks:\n  n: {}\n",
        "services:\n  a:\n    image: x\n    depends_on: { b: { condition: service_started } }\n  b: { image: redis }\n",
        "services:\n  a:\n    image: x\n    extra_hosts: { h: [\"10.0.0.1\", \"10.0.0.2\"] }\n",
        "services:\n  a:\n    image: x\n    dns: 1.1.1.1\n    dns_search: corp\n",
        "services:\n  a:\n    image: x\n    expose: [80, \"90-91/udp\"]\n",
        "services:\n  a:\n    image: x\n    networks: { n: { aliases: [b], ipv4_address: 10.1.0.5, priority: 5 } }\nnetworks:\n  n: { ipam: { config: [ { subnet: 10.1.0.0/24 } ] } }\n",
        "services:\n  a:\n    image: x\n    deploy: { replicas: 2 }\n",
        "services:\n  a:\n    image: x\n    network_mode: host\n",
        "services:\n  a:\n    image: x\n    deploy: { replicas: \"2\" }\n    networks: [back]\nnetworks:\n  back: { internal: \"true\", enable_ipv6: \"false\" }\n",
        "name: p\nservices:\n  a:\n    extends: b\n  b: { image: x, expose: [\"80\"] }\n",
    ];
    for doc in accepted {
        let errors: Vec<String> = schema.iter_errors(&as_json(doc)).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "oracle refuses {doc:?}: {errors:?}");
        let c = convert("c.yaml", doc, &opts()).unwrap_or_else(|e| panic!("{doc:?}: {e:?}"));
        load("c.yaml", &c.yaml).unwrap_or_else(|e| panic!("{doc:?}: {e:?}\n{}", c.yaml));
    }
    let refused = [
        "services:\n  a:\n    image: x\n    ports: 80\n",
        "services:\n  a:\n    image: x\n    networks: 5\n",
        "services:\n  a:\n    image: x\n    network_mode: [host]\n",
        "services:\n  a:\n    image: x\n    expose: { p: 80 }\n",
        "services:\n  a:\n    image: x\nnetworks:\n  n: { internal: [true] }\n",
    ];
    for doc in refused {
        assert!(!schema.is_valid(&as_json(doc)), "oracle accepts {doc:?}");
        let e = convert("c.yaml", doc, &opts()).expect_err(doc);
        assert!(e.0.iter().all(|x| x.line > 0), "{doc:?}: {e:?}");
    }
}

/// Every key the converter reads is a key of the schema, where the schema puts it.
#[test]
fn every_key_read_is_a_compose_key() {
    let text = std::fs::read_to_string(fixtures().join("compose-spec.json")).expect("schema");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let props = |path: &[&str]| -> Vec<String> {
        let mut x = &v;
        for p in path {
            x = &x[*p];
        }
        x["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let service = props(&["$defs", "service"]);
    for k in [
        "container_name",
        "networks",
        "network_mode",
        "ports",
        "expose",
        "depends_on",
        "deploy",
        "scale",
        "dns",
        "dns_search",
        "dns_opt",
        "profiles",
        "extends",
        "extra_hosts",
        "mac_address",
    ] {
        assert!(service.contains(&k.to_string()), "service.{k}");
    }
    let svc_net = {
        let n = &v["$defs"]["service"]["properties"]["networks"]["oneOf"];
        n.as_array()
            .and_then(|a| {
                a.iter().find_map(|o| {
                    o["patternProperties"]
                        .as_object()
                        .and_then(|pp| pp.values().next())
                        .and_then(|x| x["oneOf"].as_array().cloned())
                })
            })
            .and_then(|a| a.iter().find_map(|o| o["properties"].as_object().cloned()))
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    for k in [
        "aliases",
        "ipv4_address",
        "ipv6_address",
        "mac_address",
        "priority",
        "gw_priority",
    ] {
        assert!(
            svc_net.contains(&k.to_string()),
            "service.networks.*.{k} in {svc_net:?}"
        );
    }
    let network = props(&["$defs", "network"]);
    for k in [
        "name",
        "driver",
        "driver_opts",
        "internal",
        "enable_ipv6",
        "external",
        "ipam",
    ] {
        assert!(network.contains(&k.to_string()), "network.{k}");
    }
    let top = v["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    for k in ["name", "services", "networks", "include"] {
        assert!(top.contains(&k.to_string()), "{k}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// A compose file is untrusted text: any cut, any byte changed, gives a converted
    /// scenario or errors, never a panic — and what converts, loads or errors cleanly.
    #[test]
    fn mangled_compose_files_never_panic(
        which in 0usize..8,
        cut in 0usize..4000,
        at in 0usize..4000,
        byte in proptest::prelude::any::<u8>(),
    ) {
        let dir = fixtures().join("projects");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        let text = std::fs::read_to_string(&names[which % names.len()]).expect("read");
        let mut bytes = text.into_bytes();
        bytes.truncate(cut.min(bytes.len()));
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Ok(c) = convert("c.yaml", &text, &opts()) {
            let _ = load("c.yaml", &c.yaml);
        }
    }
}
