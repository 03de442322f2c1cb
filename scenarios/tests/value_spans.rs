//! A bad value's error points at the value (its line and column), not at its key, and
//! every validation hint names the section of SCENARIO-FORMAT.md that describes it.

use netloom_scenarios::{ScenarioError, load};

const BASE: &str = "name: t
hosts:
  host1:
    interfaces:
      eth0: { address: 192.168.1.10/24, lan: office }
lans:
  office: {}
externals:
  ext: { address: 192.168.1.50/24, lan: office }
networks:
  app: {}
containers:
  web: { networks: [app], listen: [tcp/80] }
  client: { networks: [app] }
firewall:
  host1:
    - { chain: DOCKER-USER, proto: tcp, dport: 80, ctstate: new, action: accept }
steps:
  - ping: { from: client, to: web }
    expect: reach
";

/// `BASE` with `from` replaced by `to` (which must occur once).
fn with(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "{from}");
    BASE.replace(from, to)
}

/// The first error of `yaml`.
fn first_error(yaml: &str) -> ScenarioError {
    match load("t.yaml", yaml) {
        Ok(_) => panic!("loaded, but it is invalid:\n{yaml}"),
        Err(e) => e.iter().next().expect("one error").clone(),
    }
}

/// Asserts that the first error sits at `line` and at the column where `value` starts
/// on that line (1-based, in characters), and returns it.
fn at_value(yaml: &str, line: u64, value: &str) -> ScenarioError {
    let e = first_error(yaml);
    let text = yaml.lines().nth(line as usize - 1).expect("line");
    let col = text[..text.find(value).expect("value on the line")]
        .chars()
        .count() as u64
        + 1;
    assert_eq!((e.line, e.column), (line, col), "{e}");
    e
}

#[test]
fn a_bare_expect_word_that_is_no_outcome_is_reported_at_the_word() {
    // Before: t.yaml:20:5, the column of `expect`.
    let e = at_value(&with("expect: reach", "expect: connected"), 20, "connected");
    assert_eq!((e.line, e.column), (20, 13));
    assert_eq!(e.message, "unknown value 'connected'");
    let hint = e.hint.as_deref().unwrap_or("");
    assert!(
        hint.contains("a ping step expects one of: reach, no-reach"),
        "{e}"
    );
    assert!(hint.ends_with("see SCENARIO-FORMAT.md#steps"), "{e}");
    // A near miss gets its nearest outcome of this kind of step.
    let e = at_value(&with("expect: reach", "expect: reachh"), 20, "reachh");
    assert!(
        e.hint
            .as_deref()
            .unwrap_or("")
            .starts_with("did you mean 'reach'?"),
        "{e}"
    );
}

#[test]
fn a_lone_ctstate_word_that_is_no_state_is_reported_at_the_word() {
    let e = at_value(&with("ctstate: new", "ctstate: bogus"), 17, "bogus");
    assert_eq!(e.message, "unknown value 'bogus'");
    assert!(
        e.hint.as_deref().unwrap_or("").contains("new, established"),
        "{e}"
    );
    // In a list, too (this one was right before).
    at_value(&with("ctstate: new", "ctstate: [new, bogus]"), 17, "bogus");
}

#[test]
fn vlan_and_trunk_together_are_reported_at_the_trunk() {
    // Before: at the interface's (or external's) name.
    at_value(
        &with(
            "lan: office }\nlans",
            "lan: office, vlan: 10, trunk: [20] }\nlans",
        ),
        5,
        "[20]",
    );
    at_value(
        &with(
            "ext: { address: 192.168.1.50/24, lan: office }",
            "ext: { address: 192.168.1.50/24, lan: office, vlan: 3, trunk: [4] }",
        ),
        9,
        "[4]",
    );
}

#[test]
fn other_bad_values_are_reported_at_the_value() {
    at_value(&with("  app: {}", "  app: { driver: bridgee }"), 11, "bridgee");
    at_value(&with("action: accept", "action: dropp"), 17, "dropp");
    at_value(&with("dport: 80", "dport: 99999"), 17, "99999");
    at_value(&with("listen: [tcp/80]", "listen: [tcp/abc]"), 13, "tcp/abc");
    at_value(&with("to: web }", "to: web, count: lots }"), 19, "lots");
    at_value(
        &with("expect: reach", "expect: { result: no-reach, dropped: nope }"),
        20,
        "nope",
    );
    at_value(
        &with(
            "web: { networks: [app]",
            "web: { networks: { app: { ipv4_address: 10.9.9.9 } }",
        ),
        13,
        "10.9.9.9",
    );
    at_value(
        &with(
            "      eth0: { address: 192.168.1.10/24, lan: office }\n",
            "      eth0: { address: 192.168.1.10/24, lan: office }\n    daemon: { forward-policy: sometimes }\n",
        ),
        6,
        "sometimes",
    );
}

#[test]
fn hints_name_the_section_of_the_format_reference() {
    // An unknown key, a bad value from the parser, one from validation, one from the
    // Docker model: each hint ends with the section of the line's top-level key.
    for (yaml, anchor) in [
        (with("  office: {}", "  office: { hairpn: true }"), "lans"),
        (with("  app: {}", "  app: { driver: bridgee }"), "networks"),
        (with("dport: 80", "dport: 99999"), "firewall"),
        (
            with(
                "web: { networks: [app]",
                "web: { networks: { app: { ipv4_address: 10.9.9.9 } }",
            ),
            "containers",
        ),
        (with("name: t\n", "name: t\nsed: 1\n"), "top-level"),
    ] {
        let e = first_error(&yaml);
        let hint = e.hint.as_deref().unwrap_or("");
        assert!(hint.ends_with(&format!("see SCENARIO-FORMAT.md#{anchor}")), "{e}");
    }
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_section_anchor_exists_in_the_format_reference() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../SCENARIO-FORMAT.md"))
        .expect("SCENARIO-FORMAT.md");
    let anchors: Vec<String> = doc
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect();
    for key in [
        "name",
        "hosts",
        "lans",
        "routers",
        "externals",
        "networks",
        "containers",
        "links",
        "firewall",
        "policies",
        "namespaces",
        "policy_enforcement",
        "steps",
        "traffic",
        "unknown",
    ] {
        let a = netloom_scenarios::error::section_anchor(key);
        assert!(
            anchors.iter().any(|x| x == a),
            "#{a} (for {key}) is no heading: {anchors:?}"
        );
    }
}
