//! `netloom docker SCRIPT`: docker commands as people type them, replayed on a simulated
//! host. Each test asserts what a person reading the output would notice: the tools'
//! own lines, Docker's own error messages, the exit status.

use netloom_scenarios::dockercli::{Options, run_script};
use proptest::prelude::*;

/// Replays `script`; returns standard output, standard error and the exit status.
fn replay(script: &str) -> (String, String, u8) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run_script("test.sh", script, &Options::default(), &mut out, &mut err);
    (
        String::from_utf8(out).expect("utf-8 output"),
        String::from_utf8(err).expect("utf-8 errors"),
        code,
    )
}

/// On a user-defined network containers reach each other by name (Docker's embedded
/// DNS); on the default bridge the same name does not resolve — curl says (6).
#[test]
fn user_network_resolves_names_default_bridge_does_not() {
    let (out, err, code) = replay(
        "docker network create app
docker run -d --name web --network app nginx
docker run -d --name client --network app alpine sleep 1d
docker exec client ping -c 2 web
docker exec client curl http://web/
docker run -d --name web0 nginx
docker run -d --name client0 alpine sleep 1d
docker exec client0 curl -sS http://web0/
docker exec client0 curl -s -o /dev/null -w '%{http_code}\\n' http://web0/
docker exec client nslookup web
",
    );
    assert!(
        out.contains("PING web (172.18.0.2) 56(84) bytes of data.\n64 bytes from web.app (172.18.0.2): icmp_seq=1 ttl=64"),
        "{out}"
    );
    assert!(
        out.contains("2 packets transmitted, 2 received, 0% packet loss"),
        "{out}"
    );
    assert!(out.contains("* Connected to web (172.18.0.2) port 80"), "{out}");
    assert!(err.contains("curl: (6) Could not resolve host: web0\n"), "{err}");
    assert!(
        out.contains("\n000\n"),
        "curl -w prints 000 when no response came: {out}"
    );
    assert!(
        out.contains("Server:\t\t127.0.0.11\nAddress:\t127.0.0.11#53\n\nNon-authoritative answer:\nName:\tweb\nAddress: 172.18.0.2\n"),
        "{out}"
    );
    assert_eq!(code, 1, "the failed curl fails the script");
}

/// `-p 8080:80` answers on the host's localhost and from the outside client; an
/// unpublished port does not.
#[test]
fn published_port_answers_from_the_host() {
    let (out, err, code) = replay(
        "docker run -d --name web -p 8080:80 nginx
curl http://localhost:8080/
ssh client curl -v http://192.168.65.10:8080/
docker port web
curl http://localhost:8081/ || echo nothing on 8081
",
    );
    assert!(
        out.contains("* Connected to localhost (127.0.0.1) port 8080"),
        "{out}"
    );
    assert!(
        out.contains("* Connected to 192.168.65.10 (192.168.65.10) port 8080"),
        "{out}"
    );
    assert!(
        out.contains("80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n"),
        "{out}"
    );
    assert!(
        err.contains("curl: (7) Failed to connect to localhost port 8081"),
        "{err}"
    );
    assert!(out.contains("nothing on 8081"), "{out}");
    assert_eq!(code, 0, "a failure handled by || does not fail the script: {err}");
}

/// Host networking: the container's server is the host's; a second one on the same
/// port exits at once, and `ps -a` says so.
#[test]
fn host_network_shares_the_hosts_ports() {
    let (out, err, _) = replay(
        "docker run -d --name h1 --network host -p 9999:80 nginx
curl -v http://localhost/
docker run -d --name h2 --network host nginx
docker ps -a
",
    );
    assert!(
        err.starts_with("WARNING: Published ports are discarded when using host network mode\n"),
        "{err}"
    );
    assert!(
        out.contains("* Connected to localhost (127.0.0.1) port 80"),
        "{out}"
    );
    assert!(err.contains("container h2 exited at once"), "{err}");
    let h2 = out.lines().find(|l| l.ends_with(" h2")).expect("h2 listed");
    assert!(h2.contains("Exited (1)"), "{out}");
}

/// `docker run --rm IMAGE TOOL` is a one-off container: the tool's output and status,
/// then the container is gone; `sh -c` runs its commands as a shell would.
#[test]
fn one_off_containers_run_their_tool() {
    let (out, err, code) = replay(
        "docker network create app
docker run -d --name db --network app redis
docker run --rm --network app busybox sh -c 'nc -zv db 6379 && echo reachable'
docker run --rm busybox sh -c 'getent hosts db || echo unknown here'
docker ps -a -q
",
    );
    assert!(
        err.contains("Connection to db (172.18.0.2) 6379 port [tcp/redis] succeeded!"),
        "{err}"
    );
    assert!(out.contains("reachable\nunknown here\n"), "{out}");
    let ids: Vec<&str> = out
        .lines()
        .filter(|l| l.len() == 12 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    assert_eq!(ids.len(), 1, "only db is left: {out}");
    assert_eq!(code, 0, "{err}");
}

/// The same script gives the same output, byte for byte: ids, addresses, round trips.
#[test]
fn replays_are_deterministic() {
    let script = "docker network create app
docker run -d --name web --network app nginx
docker run -d --name c --network app alpine sleep 1d
docker exec c ping -c 3 web
docker exec c dig web
docker network inspect app
";
    let a = replay(script);
    let b = replay(script);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert!(a.0.contains("3 packets transmitted, 3 received"), "{}", a.0);
}

/// An internal network: its containers talk to each other but nothing goes out.
#[test]
fn internal_network_has_no_way_out() {
    let (out, err, _) = replay(
        "docker network create --internal priv
docker run -d --name db --network priv postgres
docker run -d --name app --network priv alpine sleep 1d
docker exec app nc -zv db 5432
docker exec app ping -c 1 192.168.65.100
docker exec app wget -q -O- http://192.168.65.100/
",
    );
    assert!(
        err.contains("Connection to db (172.18.0.2) 5432 port [tcp/postgresql] succeeded!"),
        "{err}"
    );
    assert!(err.contains("ping: connect: Network is unreachable"), "{err}");
    assert!(
        err.contains("wget: can't connect to remote host (192.168.65.100): Network is unreachable"),
        "{err}{out}"
    );
}

/// macvlan with `-o parent=eth0`: the container is a machine of the LAN (the client
/// reaches it), but it cannot reach its own host.
#[test]
fn macvlan_on_eth0() {
    let (out, err, _) = replay(
        "docker network create -d macvlan --subnet 192.168.65.0/24 --gateway 192.168.65.1 -o parent=eth0 lan
docker run -d --name web --network lan --ip 192.168.65.50 nginx
ssh client curl http://192.168.65.50/
docker exec web ping -c 1 192.168.65.10
docker network inspect -f '{{.Driver}} {{.Options.parent}}' lan
",
    );
    assert!(
        out.contains("* Connected to 192.168.65.50 (192.168.65.50) port 80"),
        "{out}{err}"
    );
    assert!(
        out.contains("From 192.168.65.50 icmp_seq=1 Destination Host Unreachable"),
        "{out}"
    );
    assert!(
        out.contains("1 packets transmitted, 0 received, +1 errors, 100% packet loss"),
        "{out}"
    );
    assert!(out.contains("macvlan eth0\n"), "{out}");
}

/// Docker's own words for the mistakes people make, each on standard error, and the
/// script goes on after each.
#[test]
fn docker_errors_verbatim() {
    let (out, err, code) = replay(
        "docker network create --subnet 10.10.0.0/24 app
docker network create --subnet 10.10.0.0/16 other
docker network create app
docker run -d --name web --network app --ip 10.10.0.50 nginx
docker run -d --name web nginx
docker run -d --name w2 --network app --ip 10.99.0.5 nginx
docker network create auto
docker run -d --name w3 --network auto --ip 172.19.0.9 nginx
docker run -d --name w4 --network app --ip 10.10.0.50 nginx
docker run -d --name p1 -p 8080:80 nginx
docker run -d --name p2 -p 8080:80 nginx
docker network rm app
docker exec nosuch ping -c 1 web
docker network inspect nosuch
docker rm web
echo still running
",
    );
    for want in [
        "Error response from daemon: invalid pool request: Pool overlaps with other one on this address space\n",
        "Error response from daemon: network with name app already exists\n",
        "docker: Error response from daemon: Conflict. The container name \"/web\" is already in use by container \"",
        "\". You have to remove (or rename) that container to be able to reuse that name.\n\nRun 'docker run --help' for more information",
        "docker: Error response from daemon: invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10.99.0.5\n",
        "invalid endpoint settings:\nuser specified IP address is supported only when connecting to networks with user configured subnets\n",
        "docker: Error response from daemon: failed to set up container networking: Address already in use\n",
        "Bind for 0.0.0.0:8080 failed: port is already allocated\n",
        "Error response from daemon: error while removing network: network app has active endpoints (name:\"web\" id:\"",
        "Error response from daemon: No such container: nosuch\n",
        "Error response from daemon: network nosuch not found\n",
        "Error response from daemon: cannot remove container \"web\": container is running: stop the container before removing or force remove\n",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // The conflict names the container that holds the name, by its full id (printed by
    // the `run -d` that made it).
    let web_id = out.lines().nth(1).expect("web's id");
    assert_eq!(web_id.len(), 64);
    assert!(
        err.contains(&format!("already in use by container \"{web_id}\"")),
        "{err}"
    );
    assert!(out.ends_with("still running\n"), "{out}");
    assert_eq!(code, 1);
}

/// A stopped container is gone from the network and from DNS; started again, it
/// answers. A freed address is the next one Docker hands out.
#[test]
fn stop_and_start() {
    let (out, err, _) = replay(
        "docker network create app
docker run -d --name web --network app nginx
docker run -d --name c --network app alpine sleep 1d
docker stop web
docker exec c curl -sS http://web/
docker start web
docker exec c curl -sS -v http://web/
docker stop web
docker run -d --name other --network app alpine sleep 1d
docker inspect -f '{{.NetworkSettings.Networks.app.IPAddress}}' other
docker start web
docker inspect -f '{{.NetworkSettings.Networks.app.IPAddress}}' web
docker ps -a
",
    );
    assert!(out.contains("web\n"), "stop/start print the name: {out}");
    assert!(err.contains("curl: (6) Could not resolve host: web\n"), "{err}");
    assert!(out.contains("* Connected to web (172.18.0.2) port 80"), "{out}");
    // web's 172.18.0.2 was released at stop and given to `other`; web comes back on .4.
    assert!(out.contains("\n172.18.0.2\nweb\n172.18.0.4\n"), "{out}");
}

/// After `network disconnect` the container's address on that network no longer answers.
#[test]
fn disconnect_makes_unreachable() {
    let (out, err, _) = replay(
        "docker network create app
docker run -d --name web --network app nginx
docker run -d --name c --network app alpine sleep 1d
docker exec c nc -z -w 1 172.18.0.2 80 && echo open
docker network disconnect app web
docker exec c nc -zv -w 1 172.18.0.2 80 || echo closed
docker network disconnect app web
",
    );
    assert!(out.contains("open\n"), "{out}");
    assert!(out.contains("closed\n"), "{out}{err}");
    assert!(err.contains("nc: connect to 172.18.0.2 port 80 (tcp) "), "{err}");
    assert!(
        err.contains("is not connected to network app"),
        "a second disconnect is refused: {err}"
    );
}

/// `network inspect` and `inspect` print JSON shaped like Docker's, with the ids the
/// commands printed.
#[test]
fn inspect_json_has_dockers_keys() {
    let (out, err, code) = replay(
        "docker network create --attachable --subnet 172.30.0.0/24 --gateway 172.30.0.254 app
docker run -d --name web --network app --network-alias www -p 8080:80 nginx
docker network inspect app
",
    );
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let net_id = lines.next().expect("network id").to_string();
    let web_id = lines.next().expect("container id").to_string();
    let json: String = lines.collect::<Vec<_>>().join("\n");
    let v: serde_json::Value = serde_json::from_str(&json).expect("network inspect is JSON");
    let n = &v[0];
    assert_eq!(n["Name"], "app");
    assert_eq!(n["Id"], net_id.as_str());
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Attachable"], true);
    assert_eq!(n["IPAM"]["Config"][0]["Subnet"], "172.30.0.0/24");
    assert_eq!(n["IPAM"]["Config"][0]["Gateway"], "172.30.0.254");
    let ep = &n["Containers"][web_id.as_str()];
    assert_eq!(ep["Name"], "web");
    assert_eq!(
        ep["IPv4Address"], "172.30.0.1/24",
        "the lowest free address (the gateway is .254)"
    );
    assert!(
        json.starts_with("[\n    {\n        \"Name\": \"app\",\n        \"Id\":"),
        "{json}"
    );

    let (out, _, _) = replay(
        "docker network create app
docker run -d --name web --network app --network-alias www -p 8080:80 nginx
docker inspect web
",
    );
    let json: String = out.lines().skip(2).collect::<Vec<_>>().join("\n");
    let v: serde_json::Value = serde_json::from_str(&json).expect("inspect is JSON");
    let c = &v[0];
    assert_eq!(c["Name"], "/web");
    assert_eq!(c["State"]["Status"], "running");
    let net = &c["NetworkSettings"]["Networks"]["app"];
    assert_eq!(net["IPAddress"], "172.18.0.2");
    assert_eq!(net["Gateway"], "172.18.0.1");
    assert_eq!(net["IPPrefixLen"], 16);
    assert_eq!(net["Aliases"][0], "www");
    assert_eq!(c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"], "8080");
}

/// `netloom docker -` reads the script from standard input.
#[test]
fn script_from_stdin() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args(["docker", "--echo", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("netloom runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"$ sudo docker network create app\ndocker run -d --name a --network app redis\ndocker exec a getent hosts a\n")
        .expect("written");
    let o = child.wait_with_output().expect("finished");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("$ sudo docker network create app\n"), "{out}");
    assert!(
        out.contains("$ docker exec a getent hosts a\n172.18.0.2      a\n"),
        "{out}"
    );
}

/// A script that does not split into commands is refused before anything runs, with
/// its line and column; a line that is not a docker command likewise.
#[test]
fn syntax_errors_name_line_and_column() {
    let (out, err, code) = replay("docker network create app\ndocker run -d --name 'web nginx\n");
    assert_eq!(code, 2);
    assert!(out.is_empty(), "nothing ran: {out}");
    assert!(
        err.starts_with("test.sh:2:22: error: unterminated single quote"),
        "{err}"
    );
    let (_, err, code) = replay("docker ps\ndocker ps | grep web\n");
    assert_eq!(code, 2);
    assert!(
        err.starts_with("test.sh:2:11: error: pipes are not supported"),
        "{err}"
    );
    let (_, err, code) = replay("docker ps\n  rm -rf /\n");
    assert_eq!(code, 2);
    assert!(
        err.starts_with("test.sh:2:3: error: rm: not a docker command"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever is typed, the replay ends with a status and never panics.
    #[test]
    fn random_scripts_never_panic(lines in prop::collection::vec(
        prop::sample::select(vec![
            "docker network create app",
            "docker network create --subnet 10.1.0.0/24 app",
            "docker network create --internal -d bridge x",
            "docker network create -d macvlan -o parent=eth0 --subnet 192.168.65.0/24 m",
            "docker network rm app",
            "docker network connect app a",
            "docker network disconnect -f app a",
            "docker run -d --name a --network app nginx",
            "docker run -d --name b -p 8080:80 nginx",
            "docker run -d --name a --ip 10.1.0.9 --network app nginx",
            "docker run --rm --network app busybox wget -qO- a",
            "docker stop a", "docker start a", "docker rm -f a", "docker kill b",
            "docker exec a ping -c 1 b", "docker exec b curl -sS a", "docker exec a dig a",
            "docker exec a nslookup b", "docker exec a nc -zv b 80", "curl localhost:8080",
            "docker ps -a", "docker network ls", "docker network inspect app", "docker inspect a",
            "docker network prune -f", "docker run -d --name", "docker exec", "docker bogus",
            "docker run -p 99999:1 x", "echo 'unterminated", "a && && b", "docker ps;;",
        ]), 0..12)) {
        let script = lines.join("\n");
        let (_, _, code) = replay(&script);
        prop_assert!(code <= 2);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Arbitrary text — quotes, escapes, separators, half-typed flags — is split or
    /// refused with a place, never a panic; refused scripts print nothing on stdout.
    #[test]
    fn arbitrary_text_never_panics(lines in prop::collection::vec(
        "(docker |sudo docker |\\$ docker )?[a-z0-9 =:./'\"\\\\;&|#-]{0,40}", 0..8)) {
        let script = lines.join("\n");
        let (out, err, code) = replay(&script);
        prop_assert!(code <= 2);
        if code == 2 {
            prop_assert!(out.is_empty(), "{out}");
            prop_assert!(err.starts_with("test.sh:"), "{err}");
        }
    }
}

/// The gateway of another bridge network (or docker0's 172.17.0.1, where
/// `host.docker.internal:host-gateway` points) is an address of the host itself: the
/// host answers the ping, not forwarding it, so the reply comes with TTL 64 as for the
/// container's own gateway. A container on another network, one routed hop away,
/// answers with 63.
#[test]
fn host_gateway_addresses_answer_with_ttl_64() {
    let (out, err, _) = replay(
        "docker network create --subnet 10.5.0.0/16 fixed
docker run -d --name k --network fixed --add-host host.docker.internal:host-gateway nginx
docker run -d --name m nginx
docker exec k ping -c 1 host.docker.internal
docker exec m ping -c 1 10.5.0.1
",
    );
    assert!(
        out.contains("64 bytes from 172.17.0.1: icmp_seq=1 ttl=64 "),
        "{out}{err}"
    );
    assert!(
        out.contains("64 bytes from 10.5.0.1: icmp_seq=1 ttl=64 "),
        "{out}{err}"
    );
}

/// A macvlan and an ipvlan network may both name eth0 (the drivers make no device until
/// a container joins), so a container on the macvlan one runs and pings; joining the
/// ipvlan one then fails as the kernel refuses it (EBUSY), in Docker's words. A second
/// ipvlan network on the same parent is refused at creation, as the ipvlan driver does.
#[test]
fn macvlan_and_ipvlan_on_one_parent_fail_at_join_not_before() {
    let (out, err, code) = replay(
        "docker network create -d macvlan --subnet 192.168.1.0/24 -o parent=eth0 mac
docker network create -d ipvlan --subnet 192.168.2.0/24 -o parent=eth0 ipv
docker network create -d ipvlan --subnet 192.168.3.0/24 -o parent=eth0 ipv2
docker run -d --name a --network mac nginx
docker run -d --name b --network mac alpine sleep 1d
docker exec b ping -c 1 a
docker run -d --name c --network ipv nginx
docker network connect ipv a
",
    );
    assert!(
        out.contains("64 bytes from a.mac (192.168.1.2): icmp_seq=1 ttl=64"),
        "{out}{err}"
    );
    assert!(!err.contains("please report"), "{err}");
    assert!(
        err.contains("Error response from daemon: network di-")
            && err.contains(" is already using parent interface eth0\n"),
        "{err}"
    );
    assert!(
        err.contains("docker: Error response from daemon: failed to set up container networking: failed to create the ipvlan port: device or resource busy\n"),
        "{err}"
    );
    assert!(
        err.contains(
            "\nError response from daemon: failed to create the ipvlan port: device or resource busy\n"
        ),
        "{err}"
    );
    assert_eq!(code, 1);
}

/// `--expose 1-65535` and a PBX's `-p 10000-20000:10000-20000/udp` are accepted in a
/// moment (the ports are indexed, not scanned for each new port: 65535 exposed ports
/// took half a minute before), and the ports are still Docker's.
#[test]
fn huge_port_ranges_replay_in_a_moment() {
    let t = std::time::Instant::now();
    let (out, err, code) = replay(
        "docker run -d --name big --expose 1-65535 -p 5060:5060/udp -p 10000-20000:10000-20000/udp nginx
docker run -d --name clash -p 15000:15000/udp nginx
docker port big
",
    );
    let took = t.elapsed();
    assert!(out.contains("\n20000/udp -> 0.0.0.0:20000\n"), "{err}");
    assert!(
        err.contains("Bind for 0.0.0.0:15000 failed: port is already allocated"),
        "{err}"
    );
    assert_eq!(code, 1);
    assert!(took.as_secs() < 10, "took {took:?}");
}

/// `--mac-address` with a multicast MAC is created but cannot start: the kernel
/// refuses the address on the interface (EADDRNOTAVAIL, as `ip link set … address
/// 01:…` says), and Docker reports it; the script goes on, the lab is not broken.
#[test]
fn multicast_mac_address_fails_the_start_not_the_lab() {
    let (out, err, code) = replay(
        "docker run -d --name m --mac-address 01:00:5E:00:00:01 nginx
docker run -d --name n --mac-address 02:42:00:00:00:01 alpine sleep 1d
docker exec n ping -c 1 172.17.0.1
",
    );
    assert!(
        err.contains("to sandbox: error setting interface \"veth")
            && err.contains("MAC to \"01:00:5e:00:00:01\": cannot assign requested address\n"),
        "{err}"
    );
    assert!(!err.contains("please report"), "{err}");
    assert!(
        out.contains("64 bytes from 172.17.0.1: icmp_seq=1 ttl=64"),
        "{out}{err}"
    );
    assert_eq!(code, 1);
}

/// A DF ping larger than the container's MTU never leaves it: iputils prints "local
/// error: message too long, mtu=N" per request and counts them as errors. A bridge MTU
/// outside what the kernel takes is refused at `network create`, as Docker's bridge
/// driver (Atoi, negative, then the kernel's EINVAL) does; macvlan ignores the option.
#[test]
fn df_ping_over_the_mtu_and_mtu_options() {
    let (out, err, code) = replay(
        "docker network create -o com.docker.network.driver.mtu=1400 small
docker run -d --name a --network small alpine sleep 1d
docker exec a ping -c 2 -s 3000 -M do 172.18.0.1
docker network create -o com.docker.network.driver.mtu=60 tiny
docker network create -o com.docker.network.driver.mtu=abc bad
docker network create -d macvlan --subnet 192.168.1.0/24 -o parent=eth0 -o com.docker.network.driver.mtu=9000 mv
docker run -d --name m1 --network mv alpine sleep 1d
docker run -d --name m2 --network mv alpine sleep 1d
docker exec m1 ping -c 1 -s 1472 -M do m2
docker exec m1 ping -c 1 -s 3000 -M do m2
",
    );
    assert!(
        err.contains(
            "ping: local error: message too long, mtu=1400\nping: local error: message too long, mtu=1400\n"
        ),
        "{err}"
    );
    assert!(
        out.contains("2 packets transmitted, 0 received, +2 errors, 100% packet loss"),
        "{out}"
    );
    assert!(
        err.contains("Error response from daemon: invalid argument\n"),
        "{err}"
    );
    assert!(
        err.contains("Error response from daemon: strconv.Atoi: parsing \"abc\": invalid syntax\n"),
        "{err}"
    );
    assert!(!err.contains("please report"), "{err}");
    assert!(out.contains("1480 bytes from m2.mv (192.168.1.3)"), "{out}{err}");
    assert!(
        err.contains("ping: local error: message too long, mtu=1500\n"),
        "the macvlan child keeps its parent's MTU: {err}"
    );
    assert_eq!(code, 1);
}

/// `--add-host` and `--dns` are checked by the CLI's flag validators, in their words:
/// a value without `:`/`=` is a bad format, the address after the first colon must be
/// an IP, and a `--dns` that is no IP address is refused before anything runs.
#[test]
fn add_host_and_dns_flag_errors_are_the_clis() {
    let (_, err, code) = replay(
        "docker run -d --add-host bad nginx
docker run -d --add-host a:b:c nginx
docker run -d --dns 300.1.1.1 nginx
",
    );
    assert!(
        err.contains("invalid argument \"bad\" for \"--add-host\" flag: bad format for add-host: \"bad\"\nSee 'docker run --help'.\n"),
        "{err}"
    );
    assert!(
        err.contains(
            "invalid argument \"a:b:c\" for \"--add-host\" flag: invalid IP address in add-host: \"b:c\"\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("invalid argument \"300.1.1.1\" for \"--dns\" flag: IP address is not correctly formatted: 300.1.1.1\n"),
        "{err}"
    );
    assert_eq!(code, 1);
}

/// `nc -zv HOST 80 81` and `79-81` try every port, in order, each with its own line
/// (OpenBSD nc); a connect to an address nobody answers ARP for fails with "No route
/// to host" (EHOSTUNREACH after the ARP probes, as a veth pair in two namespaces
/// shows), and an ICMP net unreachable from the gateway is "Network is unreachable".
#[test]
fn nc_port_lists_and_connect_errors_in_the_kernels_words() {
    let (_, err, code) = replay(
        "docker network create app
docker run -d --name web --network app nginx
docker run -d --name c --network app alpine sleep 1d
docker exec c nc -zv web 79-81
docker exec c curl http://172.18.0.77/
docker exec c wget http://172.18.0.77/
docker exec c curl http://10.255.255.1/
",
    );
    assert!(
        err.contains("nc: connect to web (172.18.0.2) port 79 (tcp) failed: Connection refused\nConnection to web (172.18.0.2) 80 port [tcp/http] succeeded!\nnc: connect to web (172.18.0.2) port 81 (tcp) failed: Connection refused\n"),
        "{err}"
    );
    assert!(
        err.contains("curl: (7) Failed to connect to 172.18.0.77 port 80: No route to host\n"),
        "{err}"
    );
    assert!(
        err.contains("wget: can't connect to remote host (172.18.0.77): No route to host\n"),
        "{err}"
    );
    assert!(
        err.contains("curl: (7) Failed to connect to 10.255.255.1 port 80: Network is unreachable\n"),
        "{err}"
    );
    assert_eq!(code, 1);
}

/// `docker network inspect` shows `--ip-range` as Docker's IPAM config does
/// (`IPRange` between `Subnet` and `Gateway`), and omits it when there is none.
#[test]
fn network_inspect_shows_the_ip_range() {
    let (out, err, _) = replay(
        "docker network create --subnet 172.30.0.0/24 --ip-range 172.30.0.128/25 --gateway 172.30.0.1 shop
docker network create plain
docker run -d --name web --network shop nginx
docker network inspect shop plain
",
    );
    assert!(
        out.contains("\"Subnet\": \"172.30.0.0/24\",\n                    \"IPRange\": \"172.30.0.128/25\",\n                    \"Gateway\": \"172.30.0.1\"\n"),
        "{out}{err}"
    );
    assert!(out.contains("\"IPv4Address\": \"172.30.0.128/24\""), "{out}");
    assert_eq!(out.matches("IPRange").count(), 1, "{out}");
}

/// A history with the v1 `docker-compose up -d` is answered as `docker compose` is (a
/// failed command, the script goes on), not refused whole as an unknown program.
#[test]
fn docker_compose_v1_spelling_does_not_refuse_the_script() {
    let (out, err, code) = replay(
        "docker-compose up -d
docker network create app
",
    );
    assert!(
        err.contains(
            "docker compose is not replayed here: give the compose file to `netloom run compose.yaml`"
        ),
        "{err}"
    );
    assert_eq!(out.lines().count(), 1, "the network was still created: {out}");
    assert_eq!(code, 1);
}

/// A port published on an IPv6 host address shows it in brackets, as Docker's CLI
/// joins host and port (`[::1]:8080->80/tcp` in `ps`, `80/tcp -> [::1]:8080` in `port`).
#[test]
fn ipv6_host_ip_of_a_published_port_in_brackets() {
    let (out, err, _) = replay(
        "docker run -d --name w -p [::1]:8080:80 -p 127.0.0.1:8081:80 nginx
docker ps
docker port w
",
    );
    assert!(
        out.contains("[::1]:8080->80/tcp, 127.0.0.1:8081->80/tcp"),
        "{out}{err}"
    );
    assert!(
        out.contains("\n80/tcp -> [::1]:8080\n80/tcp -> 127.0.0.1:8081\n"),
        "{out}"
    );
}

/// `network ls` and `ps` take `--format` (a template a line, `table …` with the CLI's
/// headers, `json`) and `-f KEY=VALUE` as scripts use them; an unknown filter is the
/// daemon's error, one without `=` the CLI's.
#[test]
fn ls_and_ps_format_and_filter() {
    let (out, err, code) = replay(
        "docker network create a
docker network create --internal b
docker run -d --name x --network a -p 8080:80 nginx
docker run -d --name y --network b redis
docker stop y
docker network ls --format '{{.Name}}'
docker network ls -f driver=bridge -f type=custom --format 'table {{.Name}}\\t{{.Internal}}'
docker ps -a --format '{{.Names}}: {{.Status}} on {{.Networks}}'
docker ps --filter status=exited -q
docker network ls -f foo=bar
",
    );
    assert!(out.contains("\na\nb\nbridge\nhost\nnone\n"), "{out}");
    assert!(
        out.contains("NAME   INTERNAL\na      false\nb      true\n"),
        "{out}"
    );
    assert!(out.contains("y: Exited (0) on b\nx: Up on a\n"), "{out}");
    assert!(
        err.contains("Error response from daemon: invalid filter 'foo'\n"),
        "{err}"
    );
    let y_id = out
        .lines()
        .nth(3)
        .map(|l| l[..12].to_string())
        .unwrap_or_default();
    assert!(out.contains(&format!("\n{y_id}\n")), "{out}");
    assert_eq!(code, 1);
}

/// `docker run --network a --network b` (Docker 25+) attaches the container to both;
/// `--network-alias` belongs to the first, as the CLI applies it. A network named twice
/// and a mix with `bridge` are the CLI's errors.
#[test]
fn several_network_flags_attach_to_each() {
    let (out, err, code) = replay(
        "docker network create a
docker network create b
docker run -d --name x --network a --network b --network-alias web nginx
docker run -d --name y --network b alpine sleep 1d
docker exec y ping -c 1 x
docker exec y ping -c 1 web
docker run -d --network a --network a nginx
docker run -d --network a --network bridge nginx
",
    );
    assert!(
        out.contains("64 bytes from x.b (172.19.0.2): icmp_seq=1"),
        "{out}{err}"
    );
    assert!(err.contains("ping: web: Name or service not known\n"), "{err}");
    assert!(
        err.contains("docker: network \"a\" is specified multiple times\n"),
        "{err}"
    );
    assert!(
        err.contains("docker: conflicting options: cannot attach both user-defined and non-user-defined network-modes\n"),
        "{err}"
    );
    assert_eq!(code, 1);
}

/// A command whose result the simulated network refuses (a VLAN id over 4094, a
/// bridge name docker0 already has, an `--ip6` that is the gateway) is that command's
/// error, and the daemon is put back: later tools still run, instead of every one of
/// them failing with "the simulated network refused this state".
#[test]
fn a_refused_state_is_the_commands_error_not_the_scripts() {
    let (out, err, code) = replay(
        "docker network create -d macvlan -o parent=eth0.5000 --subnet 10.2.0.0/24 m
docker run -d --name a --network m nginx
docker network create -o com.docker.network.bridge.name=docker0 g
docker network create --ipv6 --subnet 2001:db8:1::/64 v6
docker run -d --name b --network v6 --ip6 2001:db8:1::1 nginx
docker run -d --name c alpine sleep 1d
docker exec c ping -c 1 172.17.0.1
docker ps -a --format '{{.Names}} {{.State}}'
",
    );
    assert!(!err.contains("please report"), "{err}");
    assert!(
        err.contains("Error response from daemon: vlan id must be between 1-4094, received: 5000\n"),
        "{err}"
    );
    assert!(err.contains("conflicts with network bridge (docker0)"), "{err}");
    assert!(
        err.contains(
            "docker: Error response from daemon: Address already in use: 2001:db8:1::1 is already the gateway"
        ),
        "{err}"
    );
    assert!(
        out.contains("64 bytes from 172.17.0.1: icmp_seq=1 ttl=64"),
        "{out}{err}"
    );
    assert!(
        out.contains("\nb created\n"),
        "b was created, its start failed: {out}"
    );
    assert_eq!(code, 1);
}

/// `docker run --rm --network container:X IMAGE TOOL` (the netshoot way) runs the tool
/// in X's namespace: X's own listeners answer on localhost; Docker's errors for a
/// missing or stopped X and for publishing ports there.
#[test]
fn a_one_off_tool_joins_another_containers_namespace() {
    let (out, err, code) = replay(
        "docker run -d --name web nginx\n\
         docker run --rm --network container:web nicolaka/netshoot nc -zv 127.0.0.1 80\n\
         docker run --rm --network container:web nicolaka/netshoot nc -zv 127.0.0.1 81\n\
         docker run --rm --network container:nope alpine ping -c 1 x\n\
         docker run --rm --network container:web -p 80:80 alpine nc -zv 127.0.0.1 80\n\
         docker stop web\n\
         docker run --rm --network container:web alpine ping -c 1 127.0.0.1\n",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("Connection to 127.0.0.1 80 port [tcp/http] succeeded!"),
        "{err}"
    );
    assert!(
        err.contains("connect to 127.0.0.1 port 81 (tcp) failed: Connection refused"),
        "{err}"
    );
    assert!(
        err.contains("joining network namespace of container: No such container: nope"),
        "{err}"
    );
    assert!(
        err.contains("conflicting options: port publishing and the container type network mode"),
        "{err}"
    );
    assert!(
        err.contains("cannot join network namespace of a non running container: container web is exited"),
        "{err}"
    );
}
