//! `netloom import compose`: compose projects converted and run. The projects have the
//! network shapes of public compose projects (docker/awesome-compose's
//! react-express-mysql public/private split, the compose specification's
//! new/legacy aliases example, static addresses on an ipam subnet, host mode), written
//! here in full.

use std::collections::HashMap;

use netloom_scenarios::compose::{Options, convert, convert_file, normalize_project};
use netloom_scenarios::{RunOptions, Status, load, run};

fn opts(project: &str) -> Options {
    Options {
        project: Some(project.into()),
        env: Some(HashMap::new()),
        ..Options::default()
    }
}

/// Converts, appends `extra` steps, runs; returns (title, status) per step.
fn run_compose(text: &str, o: &Options, extra: &str) -> Vec<(String, Status)> {
    let c = convert("compose.yaml", text, o).unwrap_or_else(|e| panic!("{e:?}"));
    let mut yaml = c.yaml;
    if !extra.is_empty() {
        if !yaml.contains("\nsteps:\n") {
            yaml.push_str("steps:\n");
        }
        yaml.push_str(extra);
    }
    let loaded = load("compose.yaml", &yaml).unwrap_or_else(|e| panic!("{e:?}\n{yaml}"));
    let r = run(&loaded, &RunOptions::default());
    r.report
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

fn all_passed(steps: &[(String, Status)]) {
    assert!(!steps.is_empty());
    for (t, s) in steps {
        assert_eq!(*s, Status::Passed, "{t}");
    }
}

const REACT_EXPRESS_MYSQL: &str = r#"
services:
  backend:
    build:
      context: backend
      target: development
    command: npm run start-watch
    environment:
      - DATABASE_HOST=db
    ports:
      - 80:8080
      - 9229:9229
    volumes:
      - ./backend/src:/code/src:ro
    networks:
      - public
      - private
    depends_on:
      - db
  db:
    image: mariadb:10.6.4-focal
    restart: always
    expose: [3306]
    networks:
      - private
  frontend:
    build:
      context: frontend
    ports:
      - 3000:3000
    networks:
      - public
    depends_on:
      - backend
networks:
  public:
  private:
volumes:
  db-data:
"#;

#[test]
fn frontend_reaches_backend_by_name_published_ports_answer_and_db_stays_private() {
    let steps = run_compose(
        REACT_EXPRESS_MYSQL,
        &opts("rx"),
        r#"  - connect: { from: rx-frontend-1, to: "db:3306" }
    expect: timeout
  - resolve: { from: rx-frontend-1, name: db }
    expect: nxdomain
  - connect: { from: client, to: "192.168.65.10:3306" }
    expect: refused
"#,
    );
    // Default checks: backend->db:3306, frontend->backend:8080, 3 published ports.
    let titles: Vec<&str> = steps.iter().map(|(t, _)| t.as_str()).collect();
    assert!(titles[0].contains("rx-backend-1 -> db:3306"), "{titles:?}");
    assert!(titles[1].contains("rx-frontend-1 -> backend:8080"), "{titles:?}");
    assert!(titles[2].contains("192.168.65.10:80 "), "{titles:?}");
    assert_eq!(steps.len(), 8, "{titles:?}");
    // The name db does not exist on the public network: no packet leaves.
    assert!(steps[5].0.contains("NXDOMAIN"), "{:?}", steps[5]);
    all_passed(&steps);
}

#[test]
fn a_depends_on_without_a_shared_network_fails_its_default_check() {
    let text = "services:\n  web:\n    networks: [a]\n    depends_on: [api]\n  api:\n    expose: [\"5000\"]\n    networks: [b]\nnetworks:\n  a: {}\n  b: {}\n";
    let steps = run_compose(text, &opts("p"), "");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].1, Status::Failed, "{:?}", steps[0]);
}

const INTERNAL: &str = r#"
name: shop
services:
  proxy:
    image: nginx:alpine
    ports: ["8080:80/tcp", "5353:53/udp"]
    networks: [edge, internal]
    depends_on: [app]
  app:
    image: shop/app
    expose: ["9000"]
    networks: [internal]
networks:
  edge: {}
  internal:
    internal: true
"#;

#[test]
fn internal_backend_is_unreachable_from_client_but_reachable_from_proxy() {
    let c = convert(
        "compose.yaml",
        INTERNAL,
        &Options {
            env: Some(HashMap::new()),
            ..Options::default()
        },
    )
    .expect("converts");
    assert!(c.yaml.contains("shop_internal"), "{}", c.yaml);
    let steps = run_compose(
        INTERNAL,
        &Options {
            env: Some(HashMap::new()),
            ..Options::default()
        },
        r#"  - connect: { from: shop-app-1, to: "192.168.65.100:22" }
    expect: refused
  - ping: { from: client, to: shop-app-1 }
    expect: no-reach
"#,
    );
    // proxy->app:9000 by name, 8080/tcp and 5353/udp from client, then ours: an
    // internal network gives no default route (connect: Network is unreachable).
    assert_eq!(steps.len(), 5, "{steps:?}");
    assert!(
        steps[2].0.contains("5353") && steps[2].0.contains("udp"),
        "{steps:?}"
    );
    all_passed(&steps);
}

const ALIASES: &str = r#"
services:
  web:
    image: "nginx:alpine"
    networks:
      - new
  worker:
    image: "my-worker-image:latest"
    networks:
      - legacy
  db:
    image: mysql
    expose: ["3306"]
    networks:
      new:
        aliases:
          - database
      legacy:
        aliases:
          - mysql
networks:
  new:
  legacy:
"#;

#[test]
fn aliases_are_per_network_and_the_service_name_is_on_each() {
    let steps = run_compose(
        ALIASES,
        &opts("spec"),
        r#"  - connect: { from: spec-web-1, to: "database:3306" }
    expect: ok
  - connect: { from: spec-web-1, to: "db:3306" }
    expect: ok
  - connect: { from: spec-worker-1, to: "mysql:3306" }
    expect: ok
  - connect: { from: spec-worker-1, to: "db:3306" }
    expect: ok
  - resolve: { from: spec-web-1, name: mysql }
    expect: nxdomain
  - resolve: { from: spec-worker-1, name: database }
    expect: nxdomain
"#,
    );
    all_passed(&steps);
}

#[test]
fn static_addresses_on_an_ipam_subnet_are_what_names_resolve_to() {
    let text = r#"
services:
  backend:
    image: maps-backend
    ports:
      - 8080:8080
    networks:
      net:
        ipv4_address: 172.28.0.2
  frontend:
    image: maps-frontend
    ports:
      - 3000:3000
    depends_on:
      - backend
    networks:
      net:
        ipv4_address: 172.28.0.3
networks:
  net:
    ipam:
      driver: default
      config:
        - subnet: 172.28.0.0/16
          gateway: 172.28.0.1
"#;
    let steps = run_compose(
        text,
        &opts("maps"),
        r#"  - resolve: { from: maps-frontend-1, name: backend }
    expect: { addresses: [172.28.0.2] }
  - resolve: { from: maps-backend-1, name: frontend }
    expect: { addresses: [172.28.0.3] }
"#,
    );
    assert_eq!(steps.len(), 5, "{steps:?}");
    all_passed(&steps);
}

#[test]
fn host_mode_service_answers_on_the_hosts_address() {
    let text = r#"
services:
  monitor:
    image: netdata/netdata
    network_mode: host
    expose: ["19999"]
  app:
    image: app
    depends_on: [monitor]
  offline:
    image: batch
    network_mode: none
"#;
    let steps = run_compose(
        text,
        &opts("hm"),
        r#"  - ping: { from: hm-offline-1, to: 192.168.65.10 }
    expect: no-reach
"#,
    );
    // app -> host:19999, client -> host:19999, ours.
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[1].0.contains("client -> 192.168.65.10:19999"), "{steps:?}");
    all_passed(&steps);
}

#[test]
fn replicas_and_container_name() {
    let text = "services:\n  api:\n    deploy:\n      replicas: 3\n  db:\n    container_name: the-db\n    scale: 1\n";
    let c = convert("c.yaml", text, &opts("r")).expect("converts");
    for n in ["\"r-api-1\":", "\"r-api-2\":", "\"r-api-3\":", "\"the-db\":"] {
        assert!(c.yaml.contains(n), "{n} missing:\n{}", c.yaml);
    }
    assert!(!c.yaml.contains("r-api-4") && !c.yaml.contains("r-db-1"));
    let steps = run_compose(
        text,
        &opts("r"),
        "  - ping: { from: r-api-3, to: db }\n    expect: reach\n",
    );
    all_passed(&steps);
}

#[test]
fn bad_ports_are_errors_at_their_line_and_column() {
    let text = "services:\n  web:\n    ports:\n      - \"8080:80\"\n      - \"80:70000\"\n      - target: 80\n        protocol: icmp\n";
    let e = convert("c.yaml", text, &opts("p")).expect_err("invalid");
    assert_eq!(e.0.len(), 2, "{e:?}");
    assert_eq!((e.0[0].line, e.0[0].column), (5, 9), "{e:?}");
    assert!(e.0[0].message.contains("70000"), "{e:?}");
    assert_eq!(e.0[1].line, 6, "{e:?}");
    assert!(e.0[1].message.contains("icmp"), "{e:?}");
    let text = "services:\n  web:\n    networks: [front]\n";
    let e = convert("c.yaml", text, &opts("p")).expect_err("undefined network");
    assert_eq!(e.0[0].line, 3, "{e:?}");
    assert!(e.0[0].message.contains("undefined network front"), "{e:?}");
    let text = "services:\n  web:\n    network_mode: \"service:dbx\"\n  db: {}\n";
    let e = convert("c.yaml", text, &opts("p")).expect_err("no such service");
    assert_eq!((e.0[0].line, e.0[0].column), (3, 19), "{e:?}");
    assert!(e.0[0].message.contains("service:dbx: no such service"), "{e:?}");
}

#[test]
fn swarm_only_keys_warn_with_their_line_and_others_are_ignored() {
    let text = "services:\n  agent:\n    image: x\n    healthcheck: { test: [\"CMD\", \"true\"] }\n    logging: { driver: json-file }\n    deploy:\n      mode: global\n";
    let c = convert("c.yaml", text, &opts("p")).expect("converts");
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].starts_with("c.yaml:7:13: warning:"),
        "{:?}",
        c.warnings
    );
    assert!(c.warnings[0].contains("global"), "{:?}", c.warnings);
}

#[test]
fn project_names_are_normalised_as_compose_does() {
    assert_eq!(normalize_project("My.App"), "myapp");
    assert_eq!(normalize_project("_-Foo Bar-1"), "foobar-1");
    let text = "name: \"Web Shop!\"\nservices:\n  web: {}\n";
    let c = convert(
        "c.yaml",
        text,
        &Options {
            env: Some(HashMap::new()),
            ..Options::default()
        },
    )
    .expect("converts");
    assert!(
        c.yaml.contains("\"webshop-web-1\":") && c.yaml.contains("\"webshop_default\":"),
        "{}",
        c.yaml
    );
    // -p wins over name:, and must already be normal.
    let c = convert("c.yaml", text, &opts("other")).expect("converts");
    assert!(c.yaml.contains("\"other-web-1\":"), "{}", c.yaml);
    let e = convert("c.yaml", text, &opts("Other")).expect_err("invalid -p");
    assert!(e.0[0].message.contains("invalid project name \"Other\""), "{e:?}");
    // The directory's name, normalised, when there is neither.
    let dir = std::env::temp_dir()
        .join(format!("netloom-compose-{}", std::process::id()))
        .join("My.Proj");
    std::fs::create_dir_all(&dir).expect("tempdir");
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    ports: [\"${WEB_PORT}:80\"]\n",
    )
    .expect("write");
    std::fs::write(dir.join(".env"), "# port\nWEB_PORT=8181\n").expect("write");
    let c = convert_file(
        &dir.join("compose.yaml"),
        &Options {
            env: None,
            ..Options::default()
        },
    )
    .expect("converts");
    let _ = std::fs::remove_dir_all(dir.parent().expect("parent"));
    assert!(c.yaml.contains("\"myproj-web-1\":"), "{}", c.yaml);
    assert!(c.yaml.contains("\"8181:80\""), ".env not read:\n{}", c.yaml);
}

#[test]
fn interpolation_as_compose_does() {
    let text = "services:\n  web:\n    ports:\n      - \"${A:-8001}:80\"\n      - \"${B-8002}:81\"\n      - \"${C:-8003}:82\"\n      - \"${D}:83\"\n    command: echo $$HOME\n";
    let env: HashMap<String, String> = [("B", "9002"), ("C", ""), ("D", "9004")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let c = convert(
        "c.yaml",
        text,
        &Options {
            project: Some("i".into()),
            env: Some(env),
            ..Options::default()
        },
    )
    .expect("converts");
    assert!(
        c.yaml
            .contains("ports: [\"8001:80\", \"9002:81\", \"8003:82\", \"9004:83\"]"),
        "{}",
        c.yaml
    );
    let e = convert(
        "c.yaml",
        "services:\n  web:\n    image: \"${IMG:?set IMG}\"\n",
        &opts("i"),
    )
    .expect_err("required");
    assert_eq!((e.0[0].line, e.0[0].column), (3, 13), "{e:?}");
    assert!(e.0[0].message.contains("set IMG"), "{e:?}");
}

#[test]
fn profiles_skip_services_unless_enabled() {
    let text = "services:\n  web: {}\n  debug:\n    profiles: [tools]\n    depends_on: [web]\n";
    let c = convert("c.yaml", text, &opts("pr")).expect("converts");
    assert!(!c.yaml.contains("pr-debug-1"), "{}", c.yaml);
    let o = Options {
        profiles: vec!["tools".into()],
        ..opts("pr")
    };
    let steps = run_compose(text, &o, "");
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert!(steps[0].0.contains("pr-debug-1"), "{steps:?}");
    all_passed(&steps);
}

#[test]
fn no_checks_appends_no_steps_and_port_ranges_publish_each_port() {
    let text = "services:\n  media:\n    ports: [\"7000-7002:7000-7002/udp\", \"127.0.0.1:8443:443\"]\n";
    let c = convert(
        "c.yaml",
        text,
        &Options {
            no_checks: true,
            ..opts("m")
        },
    )
    .expect("converts");
    assert!(!c.yaml.contains("steps:"), "{}", c.yaml);
    let steps = run_compose(
        text,
        &opts("m"),
        "  - connect: { from: client, to: \"192.168.65.10:8443\" }\n    expect: refused\n",
    );
    // 7000 and 7002/udp from client (a range at its ends; the 127.0.0.1 port is not
    // checked from outside), ours; 7001 is published too.
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(
        c.yaml
            .contains("ports: [\"7000:7000/udp\", \"7001:7001/udp\", \"7002:7002/udp\""),
        "{}",
        c.yaml
    );
    all_passed(&steps);
}

#[test]
fn external_and_named_networks_keep_their_names_and_options_carry_over() {
    let text = r#"
services:
  web:
    networks: [proxy, v6]
    depends_on: [api]
  api:
    expose: ["8000"]
    networks:
      proxy: {}
      v6:
        ipv6_address: "fd00:1::10"
networks:
  proxy:
    external: true
    name: traefik-public
  v6:
    name: app-v6
    enable_ipv6: true
    driver_opts:
      com.docker.network.driver.mtu: 1400
    ipam:
      config:
        - subnet: 172.30.0.0/24
          ip_range: 172.30.0.128/25
        - subnet: fd00:1::/64
"#;
    let c = convert("c.yaml", text, &opts("x")).expect("converts");
    assert!(
        c.yaml.contains("\"traefik-public\":") && c.yaml.contains("\"app-v6\":"),
        "{}",
        c.yaml
    );
    assert!(
        !c.yaml.contains("x_proxy") && !c.yaml.contains("x_v6"),
        "{}",
        c.yaml
    );
    assert!(
        c.yaml.contains("\"com.docker.network.driver.mtu\": \"1400\""),
        "{}",
        c.yaml
    );
    assert!(c.yaml.contains("ip_range: \"172.30.0.128/25\""), "{}", c.yaml);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.yaml.contains("ipv6_address: \"fd00:1::10\""), "{}", c.yaml);
    let steps = run_compose(
        text,
        &opts("x"),
        "  - resolve: { from: x-web-1, name: api }\n    expect: ok\n",
    );
    all_passed(&steps);
}

/// The VPN-sidecar pattern (qmcgaw/gluetun's documented setup): the torrent client
/// joins the VPN container's network namespace, so its listener is reached at the VPN
/// service's name and through the VPN container's published port; Docker's DNS knows
/// no name for the joined service itself.
const GLUETUN: &str = r#"
services:
  gluetun:
    image: qmcgaw/gluetun
    cap_add: [NET_ADMIN]
    ports:
      - 8080:8080
  qbittorrent:
    image: lscr.io/linuxserver/qbittorrent
    network_mode: "service:gluetun"
    expose: ["8080"]
  sonarr:
    image: lscr.io/linuxserver/sonarr
    depends_on: [qbittorrent]
"#;

#[test]
fn a_service_joining_anothers_namespace_answers_there() {
    let c = convert("c.yaml", GLUETUN, &opts("media")).expect("converts");
    assert!(!c.yaml.contains("media-qbittorrent-1"), "{}", c.yaml);
    assert!(c.yaml.contains("\"media-gluetun-1\":"), "{}", c.yaml);
    // depends_on qbittorrent is checked at gluetun's name, on qbittorrent's port.
    assert!(c.yaml.contains("to: \"gluetun:8080\""), "{}", c.yaml);
    let steps = run_compose(
        GLUETUN,
        &opts("media"),
        "  - resolve: { from: media-sonarr-1, name: qbittorrent }\n    expect: nxdomain\n",
    );
    all_passed(&steps);
    let bad = GLUETUN.replace("    expose: [\"8080\"]", "    ports: [\"9000:9000\"]");
    let e = convert("c.yaml", &bad, &opts("media")).expect_err("conflict");
    assert!(
        e.0[0]
            .message
            .contains("conflicting options: port publishing and the container type network mode"),
        "{e:?}"
    );
}

/// compose-go connects a service's networks highest `priority` first, ties by name —
/// not in file order: eth0 is `alpha` unless `zeta` has the higher priority.
#[test]
fn networks_connect_in_priority_then_name_order() {
    let text = "services:\n  app:\n    networks:\n      zeta: {}\n      alpha: {}\nnetworks:\n  zeta: {}\n  alpha: {}\n";
    let c = convert("c.yaml", text, &opts("p")).expect("converts");
    let a = c.yaml.find("\"p_alpha\":\n        aliases").expect("alpha");
    let z = c.yaml.find("\"p_zeta\":\n        aliases").expect("zeta");
    assert!(a < z, "{}", c.yaml);
    let text = text.replace("zeta: {}\n      alpha", "zeta: { priority: 10 }\n      alpha");
    let c = convert("c.yaml", &text, &opts("p")).expect("converts");
    let a = c.yaml.find("\"p_alpha\":\n        aliases").expect("alpha");
    let z = c.yaml.find("\"p_zeta\":\n        aliases").expect("zeta");
    assert!(z < a, "{}", c.yaml);
}

/// extra_hosts (list and map forms, host-gateway), mac_address and aux_addresses
/// carried over and doing what Docker does with them.
#[test]
fn extra_hosts_mac_and_aux_addresses() {
    let text = r#"
services:
  app:
    image: alpine
    extra_hosts:
      - "host.docker.internal:host-gateway"
      - "db.legacy=192.168.65.50"
    mac_address: "02:00:00:00:be:ef"
    networks: [lan]
  other:
    image: alpine
    extra_hosts: { db.legacy: 192.168.65.51 }
    networks: [lan]
networks:
  lan:
    ipam:
      config:
        - subnet: 10.5.0.0/29
          aux_addresses: { router: 10.5.0.2 }
"#;
    let steps = run_compose(
        text,
        &opts("p"),
        "  - resolve: { from: p-app-1, name: host.docker.internal }\n    expect: { addresses: [172.17.0.1] }\n  - resolve: { from: p-app-1, name: db.legacy }\n    expect: { addresses: [192.168.65.50] }\n  - resolve: { from: p-other-1, name: db.legacy }\n    expect: { addresses: [192.168.65.51] }\n  - resolve: { from: p-other-1, name: app }\n    expect: { addresses: [10.5.0.3] }\n",
    );
    all_passed(&steps);
    let c = convert("c.yaml", text, &opts("p")).expect("converts");
    assert!(
        c.yaml.contains("mac_address: \"02:00:00:00:be:ef\""),
        "{}",
        c.yaml
    );
}

/// Replicas publish from a host range one port each, as Docker takes the first free
/// port of the range; a single fixed port can only be one replica's (compose would
/// fail to start the second), which the warning says. A port without a host side is
/// published on a port the daemon picks.
#[test]
fn replicas_share_a_host_range_and_a_fixed_port_warns() {
    let text = "services:\n  web:\n    image: nginx\n    deploy: { replicas: 2 }\n    ports: [\"8080-8081:80\", \"9000:90\", \"7000\"]\n";
    let c = convert("c.yaml", text, &opts("p")).expect("converts");
    assert!(
        c.yaml.contains("ports: [\"8080:80\", \"9000:90\", \"7000\"]"),
        "{}",
        c.yaml
    );
    assert!(c.yaml.contains("ports: [\"8081:80\", \"7000\"]"), "{}", c.yaml);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("port is already allocated"),
        "{:?}",
        c.warnings
    );
    let steps = run_compose(
        text,
        &opts("p"),
        "  - connect: { from: client, to: \"192.168.65.10:32768\" }\n    expect: ok\n  - connect: { from: client, to: \"192.168.65.10:32769\" }\n    expect: ok\n",
    );
    all_passed(&steps);
}

/// `--host-address` and `--lan` move host1 and the client; a comment is not
/// interpolated (a `${X:?}` in it is no error).
#[test]
fn host_address_and_lan_flags_and_comments() {
    let text = "services:\n  web:\n    image: nginx # needs ${NOPE:?never read}\n    ports: [\"80:80\"]\n";
    let o = Options {
        host_address: Some("10.1.2.3/16".parse().expect("cidr")),
        lan: Some("office".into()),
        ..opts("p")
    };
    let c = convert("c.yaml", text, &o).expect("converts");
    assert!(
        c.yaml
            .contains("\"eth0\": { address: 10.1.2.3/16, lan: \"office\" }"),
        "{}",
        c.yaml
    );
    assert!(c.yaml.contains("client: { address: 10.1.0.100/16"), "{}", c.yaml);
    let steps = run_compose(text, &o, "");
    all_passed(&steps);
    assert!(steps[0].0.contains("10.1.2.3:80"), "{steps:?}");
}

/// `include:` brings another file's services; `extends:` builds a service on another
/// (from this file or `file:`), merging networks and ports; cycles are errors.
#[test]
fn include_and_extends_from_files_on_disk() {
    let dir = std::env::temp_dir().join(format!("netloom-compose-inc-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("db")).expect("dir");
    std::fs::write(
        dir.join("db/compose.yaml"),
        "services:\n  db:\n    image: postgres\n    expose: [\"5432\"]\n    networks: [back]\nnetworks:\n  back: { internal: true }\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("common.yaml"),
        "services:\n  base:\n    networks: [back]\n    expose: [\"8000\"]\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("compose.yaml"),
        "name: shop\ninclude:\n  - db/compose.yaml\nservices:\n  api:\n    extends: { file: common.yaml, service: base }\n    depends_on: [db]\n    ports: [\"8000:8000\"]\n    networks: [front]\n  worker:\n    extends: { file: common.yaml, service: base }\n    depends_on: [api]\nnetworks:\n  front: {}\n",
    )
    .expect("write");
    let o = Options {
        env: Some(HashMap::new()),
        ..Options::default()
    };
    let c = convert_file(&dir.join("compose.yaml"), &o).expect("converts");
    let loaded = load("c.yaml", &c.yaml).unwrap_or_else(|e| panic!("{e:?}\n{}", c.yaml));
    let r = run(&loaded, &RunOptions::default());
    for s in &r.report.steps {
        assert_eq!(
            s.status,
            Status::Passed,
            "{} {}\n{}",
            s.title,
            s.failures.join(";"),
            c.yaml
        );
    }
    // api joins both `back` (extended) and `front` (its own); worker inherits them.
    assert!(c.yaml.contains("\"shop-worker-1\":"), "{}", c.yaml);
    assert!(r.report.steps.len() >= 3, "{}", c.yaml);
    // A sequence is merged, never replaced: a service extending `api` publishes its
    // port too, and the second bind fails as it would under `docker compose up`.
    let main = std::fs::read_to_string(dir.join("compose.yaml")).expect("read");
    std::fs::write(
        dir.join("compose.yaml"),
        main.replace(
            "extends: { file: common.yaml, service: base }\n    depends_on: [api]",
            "extends: api\n    ports: []",
        ),
    )
    .expect("write");
    let c = convert_file(&dir.join("compose.yaml"), &o).expect("converts");
    let e = load("c.yaml", &c.yaml).expect_err("double bind");
    assert!(e.0[0].message.contains("port is already allocated"), "{e:?}");
    std::fs::write(dir.join("compose.yaml"), &main).expect("write");
    std::fs::write(
        dir.join("common.yaml"),
        "services:\n  base:\n    extends: { file: compose.yaml, service: worker }\n",
    )
    .expect("write");
    let e = convert_file(&dir.join("compose.yaml"), &o).expect_err("cycle");
    assert!(e.contains("circular reference"), "{e}");
    std::fs::write(dir.join("db/compose.yaml"), "services:\n  api: {}\n").expect("write");
    let e = convert_file(&dir.join("compose.yaml"), &o).expect_err("conflict");
    assert!(
        e.contains("conflicting service api") || e.contains("conflicts with imported resource"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keys that change networking but are not simulated are warned at their line; keys
/// that do not (image, volumes, healthcheck) are silent.
#[test]
fn unsimulated_network_keys_warn_at_their_line() {
    let text = "services:\n  web:\n    image: nginx\n    volumes: [./x:/x]\n    links: [db]\n    sysctls: { net.ipv4.ip_forward: 1 }\n    networks:\n      n: { interface_name: lan0 }\n  db: { image: redis }\nnetworks:\n  n: {}\n";
    let c = convert("c.yaml", text, &opts("p")).expect("converts");
    let w = c.warnings.join("\n");
    assert!(w.contains("c.yaml:5:12: warning: service web: links"), "{w}");
    assert!(w.contains("c.yaml:6:14: warning: service web: sysctls"), "{w}");
    assert!(w.contains("interface_name"), "{w}");
    assert_eq!(c.warnings.len(), 3, "{w}");
}

/// A well-known image listens where its Dockerfile EXPOSEs: `depends_on: [db]` with
/// `image: postgres:16` is checked on 5432 without any `expose:`.
#[test]
fn well_known_images_listen_on_their_exposed_ports() {
    let text = "services:\n  app:\n    image: python:3\n    depends_on: [db, cache]\n  db:\n    image: docker.io/library/postgres:16\n  cache:\n    image: redis:7-alpine\n";
    let c = convert("c.yaml", text, &opts("p")).expect("converts");
    assert!(c.yaml.contains("to: \"db:5432\""), "{}", c.yaml);
    assert!(c.yaml.contains("to: \"cache:6379\""), "{}", c.yaml);
    all_passed(&run_compose(text, &opts("p"), ""));
}

/// Run on a compose file, a default check's `[line N]` is the line of the compose file
/// it checks: the service with the `depends_on`, the `ports:` entry.
#[test]
fn default_checks_point_into_the_compose_file() {
    let f = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compose/projects/wordpress-mysql.yaml");
    let loaded = netloom_scenarios::input::load_file(&f).expect("loads");
    let lines: Vec<u64> = loaded.steps.iter().map(|s| s.line).collect();
    let text = std::fs::read_to_string(&f).expect("read");
    let at = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i as u64 + 1)
    };
    assert_eq!(
        lines,
        vec![
            at("depends_on: [db]").expect("dep"),
            at("\"8000:80\"").expect("port")
        ]
    );
}

/// Defaults nest and are themselves interpolated (`${HTTP_PORT:-${PORT:-80}}`), as
/// compose-go's template does; `$1` is no variable and stays as written.
#[test]
fn nested_defaults_interpolate_as_compose_go() {
    let text = "services:\n  web:\n    ports:\n      - \"${HTTP_PORT:-${PORT:-8080}}:80\"\n      - \"${TLS:-$BASE}:443\"\n      - \"${NONE:-${UNSET:-7000}}:70\"\n";
    let env: HashMap<String, String> = [("PORT", "8181"), ("BASE", "9443")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let c = convert(
        "c.yaml",
        text,
        &Options {
            project: Some("n".into()),
            env: Some(env.clone()),
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        c.yaml.contains("ports: [\"8181:80\", \"9443:443\", \"7000:70\"]"),
        "{}",
        c.yaml
    );
    let t = netloom_scenarios::compose::interpolate("c.yaml", "command: sh -c 'echo $1 $$HOME'\n", &env)
        .expect("interpolates");
    assert_eq!(t, "command: sh -c 'echo $1 $HOME'\n");
}

/// A `.env` as compose reads it: a quoted value with a comment after it loses its
/// quotes, a value names the lines above (`${BASE}`), `export` is dropped.
#[test]
fn dotenv_quotes_comments_and_references() {
    let dir = std::env::temp_dir().join(format!("netloom-compose-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    ports:\n      - \"${NL_T_WEB}:80\"\n      - \"${NL_T_TLS}:443\"\n      - \"${NL_T_ADM}:9000\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.join(".env"),
        "NL_T_WEB = \"8181\" # the web port\nNL_T_BASE=9000\nNL_T_TLS=${NL_T_BASE}\nexport NL_T_ADM=\"1${NL_T_BASE:-1}\"\n",
    )
    .expect("write");
    let c = convert_file(
        &dir.join("compose.yaml"),
        &Options {
            project: Some("e".into()),
            env: None,
            ..Options::default()
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        c.yaml
            .contains("ports: [\"8181:80\", \"9000:443\", \"19000:9000\"]"),
        "{}",
        c.yaml
    );
}

/// Compose interpolates parsed values, so a `.env` password such as `*Secret1` (a YAML
/// alias if pasted as text), `admin: root` or a `"` inside a quoted string is only a
/// string: the file converts, and its networking keys still take their variables.
#[test]
fn interpolated_values_with_yaml_characters_stay_strings() {
    let text = "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD}\n      POSTGRES_USER: ${DB_USER}\n    command: |\n      echo ${DB_USER}\n  web:\n    labels:\n      - \"traefik.http.routers.web.rule=Host(`${DOMAIN}`)\"\n      - 'x=${QUOTE}'\n    ports: [\"${PORT}:80\"]\n    networks:\n      - ${NET}\nnetworks:\n  front: {}\n";
    let env: HashMap<String, String> = [
        ("DB_PASSWORD", "*Secret1"),
        ("DB_USER", "admin: root"),
        ("DOMAIN", "a\"b\\c"),
        ("QUOTE", "it's"),
        ("PORT", "8080"),
        ("NET", "front"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let c = convert(
        "c.yaml",
        text,
        &Options {
            project: Some("y".into()),
            env: Some(env.clone()),
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        c.yaml.contains("\"y_front\":\n        aliases: [\"web\"]"),
        "{}",
        c.yaml
    );
    assert!(c.yaml.contains("ports: [\"8080:80\"]"), "{}", c.yaml);
    let t = netloom_scenarios::compose::interpolate("c.yaml", text, &env).expect("interpolates");
    assert!(t.contains("POSTGRES_PASSWORD: \"*Secret1\"\n"), "{t}");
    assert!(
        t.contains("      echo admin: root\n"),
        "a block scalar takes it as it is: {t}"
    );
    assert!(t.contains("Host(`a\\\"b\\\\c`)"), "{t}");
    assert!(t.contains("'x=it''s'"), "{t}");
}

/// COMPOSE_PROJECT_NAME and COMPOSE_PROFILES (from the environment or `.env`) act as
/// `-p` and `--profile` when neither is given, over `name:`; `-p` still wins, and
/// `--profile '*'` enables every profile.
#[test]
fn compose_project_name_and_profiles_from_the_environment() {
    let text = "name: fromfile\nservices:\n  web: {}\n  debug:\n    profiles: [tools]\n  metrics:\n    profiles: [mon]\n";
    let env: HashMap<String, String> = [("COMPOSE_PROJECT_NAME", "shop"), ("COMPOSE_PROFILES", "tools, x")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let o = Options {
        env: Some(env.clone()),
        ..Options::default()
    };
    let c = convert("c.yaml", text, &o).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(c.yaml.contains("\"shop-web-1\":"), "{}", c.yaml);
    assert!(c.yaml.contains("\"shop-debug-1\":"), "{}", c.yaml);
    assert!(!c.yaml.contains("metrics"), "{}", c.yaml);
    let c = convert(
        "c.yaml",
        text,
        &Options {
            project: Some("cli".into()),
            profiles: vec!["*".into()],
            ..o.clone()
        },
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(c.yaml.contains("\"cli-metrics-1\":"), "{}", c.yaml);
    assert!(c.yaml.contains("\"cli-debug-1\":"), "{}", c.yaml);
    let bad: HashMap<String, String> = [("COMPOSE_PROJECT_NAME".to_owned(), "Shop".to_owned())].into();
    let e = convert(
        "c.yaml",
        text,
        &Options {
            env: Some(bad),
            ..Options::default()
        },
    )
    .expect_err("not normalised");
    assert!(e.0[0].message.contains("invalid project name \"Shop\""), "{e:?}");
}

/// `compose.override.yaml` next to `compose.yaml` is read on top of it, as `docker
/// compose` without `-f` does: its ports are added, its networks and depends_on
/// merged, its new services join; a note says so. A file of another name gets none.
#[test]
fn override_file_next_to_compose_yaml_is_merged() {
    let dir = std::env::temp_dir().join(format!("netloom-compose-ovr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    let main = "services:\n  web:\n    image: nginx\n    ports: [\"8080:80\"]\n  db:\n    image: postgres\n";
    std::fs::write(dir.join("compose.yaml"), main).expect("write");
    std::fs::write(dir.join("other.yaml"), main).expect("write");
    std::fs::write(
        dir.join("compose.override.yaml"),
        "services:\n  web:\n    ports: [\"8443:443\"]\n    depends_on: [db]\n    networks: [default, admin]\n  adminer:\n    image: adminer\n    networks: [admin]\nnetworks:\n  admin: {}\n",
    )
    .expect("write");
    let o = Options {
        project: Some("ov".into()),
        env: Some(HashMap::new()),
        ..Options::default()
    };
    let c = convert_file(&dir.join("compose.yaml"), &o);
    let plain = convert_file(&dir.join("other.yaml"), &o);
    let _ = std::fs::remove_dir_all(&dir);
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        c.yaml.contains("ports: [\"8080:80\", \"8443:443\"]"),
        "{}",
        c.yaml
    );
    assert!(c.yaml.contains("\"ov-adminer-1\":"), "{}", c.yaml);
    assert!(
        c.yaml.contains("to: \"db:5432\""),
        "depends_on merged: {}",
        c.yaml
    );
    assert!(
        c.yaml.contains("\"ov_admin\":\n        aliases: [\"web\"]"),
        "{}",
        c.yaml
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("compose.override.yaml: note: read on top of")),
        "{:?}",
        c.warnings
    );
    let plain = plain.unwrap_or_else(|e| panic!("{e}"));
    assert!(!plain.yaml.contains("8443"), "{}", plain.yaml);
}

/// Docker publishes SCTP ports (a 5G core's `38412:38412/sctp`); the simulation has
/// none, so such a port is skipped with a warning at its line, not refused.
#[test]
fn sctp_ports_are_warned_not_refused() {
    let text = "services:\n  amf:\n    image: open5gs\n    ports:\n      - \"38412:38412/sctp\"\n      - \"7777:7777\"\n      - target: 9999\n        protocol: sctp\n    expose: [\"36412/sctp\"]\n";
    let c = convert("c.yaml", text, &opts("g")).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(c.yaml.contains("ports: [\"7777:7777\"]"), "{}", c.yaml);
    let w: Vec<&String> = c.warnings.iter().filter(|w| w.contains("sctp")).collect();
    assert_eq!(w.len(), 3, "{:?}", c.warnings);
    assert!(w[0].starts_with("c.yaml:5:"), "{w:?}");
}

/// `scale: 0` and `deploy.replicas: 0` switch a service off: compose makes no container
/// for it, so none is in the scenario, its ports are not checked, and a service that
/// depends on it gets no reach check to a name nobody answers.
#[test]
fn scale_zero_makes_no_container() {
    let text = "services:\n  web:\n    image: nginx\n    depends_on: [api]\n    ports: [\"8080:80\"]\n  api:\n    image: nginx\n    scale: 0\n  worker:\n    image: nginx\n    deploy: { replicas: 0 }\n    ports: [\"9000:80\"]\n";
    let c = convert("c.yaml", text, &opts("z")).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(!c.yaml.contains("z-api-1"), "{}", c.yaml);
    assert!(!c.yaml.contains("z-worker-1"), "{}", c.yaml);
    let steps = run_compose(text, &opts("z"), "");
    assert_eq!(steps.len(), 1, "{steps:?}");
    all_passed(&steps);
}

/// Two ipvlan networks of a project on one parent: Docker's ipvlan driver refuses the
/// second at `docker compose up` (one network per parent), so the conversion says so
/// at the second network; one network with two subnets is the way, and converts.
#[test]
fn two_ipvlan_networks_on_one_parent_are_refused() {
    let net = |k: &str, sub: &str| {
        format!(
            "  {k}:\n    driver: ipvlan\n    driver_opts: {{ parent: eth0 }}\n    ipam: {{ config: [ {{ subnet: {sub} }} ] }}\n"
        )
    };
    let text = format!(
        "services:\n  a:\n    image: nginx\n    networks: [l2a, l2b]\nnetworks:\n{}{}",
        net("l2a", "192.168.1.0/24"),
        net("l2b", "192.168.2.0/24")
    );
    let e = convert("c.yaml", &text, &opts("v")).expect_err("refused");
    assert_eq!(e.0[0].line, 11, "{e:?}");
    assert!(
        e.0[0]
            .message
            .contains("network v_l2a is already using parent interface eth0"),
        "{e:?}"
    );
    let one = "services:\n  a:\n    image: nginx\n    networks: [l2]\nnetworks:\n  l2:\n    driver: ipvlan\n    driver_opts: { parent: eth0 }\n    ipam: { config: [ { subnet: 192.168.1.0/24 }, { subnet: 192.168.2.0/24 } ] }\n";
    convert("c.yaml", one, &opts("v")).unwrap_or_else(|e| panic!("{e:?}"));
}

/// A published range is checked at its two ends, not with one step per port.
#[test]
fn a_published_range_is_checked_at_its_ends() {
    let text = "services:\n  rtp:\n    image: x\n    ports: [\"10000-10100:10000-10100/udp\", \"80:80\"]\n";
    let c = convert("c.yaml", text, &opts("p")).expect("converts");
    let checks = c.yaml.matches("from: client").count();
    assert_eq!(checks, 3, "{}", c.yaml);
    assert!(
        c.yaml.contains(":10000\", proto: udp") && c.yaml.contains(":10100\", proto: udp"),
        "{}",
        c.yaml
    );
}
