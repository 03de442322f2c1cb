//! The ports well-known images listen on: the `EXPOSE` lines of their official
//! Dockerfiles (docker-library and the projects' own images), so a container started
//! from `nginx` answers on tcp/80 without the user saying so.
//!
//! `EXPOSE` only documents a port, but the program in the image does listen there, and
//! that is what a person who writes `docker run -d --name web nginx` expects to reach.

/// The transport of an exposed port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as Docker writes it after a port (`80/tcp`).
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

use Proto::{Tcp, Udp};

/// Repository (without registry, namespace `library/` or tag) → its `EXPOSE` ports.
const TABLE: &[(&str, &[(Proto, u16)])] = &[
    // docker-library/nginx: EXPOSE 80
    ("nginx", &[(Tcp, 80)]),
    ("nginxinc/nginx-unprivileged", &[(Tcp, 8080)]),
    // docker-library/httpd: EXPOSE 80
    ("httpd", &[(Tcp, 80)]),
    // caddy: EXPOSE 80 443 443/udp 2019
    ("caddy", &[(Tcp, 80), (Tcp, 443), (Udp, 443), (Tcp, 2019)]),
    // traefik: EXPOSE 80
    ("traefik", &[(Tcp, 80)]),
    // haproxy has no EXPOSE; tomcat: EXPOSE 8080
    ("tomcat", &[(Tcp, 8080)]),
    ("redis", &[(Tcp, 6379)]),
    ("valkey/valkey", &[(Tcp, 6379)]),
    ("postgres", &[(Tcp, 5432)]),
    ("mysql", &[(Tcp, 3306), (Tcp, 33060)]),
    ("mariadb", &[(Tcp, 3306)]),
    ("mongo", &[(Tcp, 27017)]),
    ("memcached", &[(Tcp, 11211)]),
    // rabbitmq: EXPOSE 4369 5671 5672 15691 15692 25672 (management adds 15671 15672)
    (
        "rabbitmq",
        &[
            (Tcp, 4369),
            (Tcp, 5671),
            (Tcp, 5672),
            (Tcp, 15691),
            (Tcp, 15692),
            (Tcp, 25672),
        ],
    ),
    ("elasticsearch", &[(Tcp, 9200), (Tcp, 9300)]),
    ("kibana", &[(Tcp, 5601)]),
    ("registry", &[(Tcp, 5000)]),
    ("wordpress", &[(Tcp, 80)]),
    ("ghost", &[(Tcp, 2368)]),
    ("nextcloud", &[(Tcp, 80)]),
    ("adminer", &[(Tcp, 8080)]),
    ("grafana/grafana", &[(Tcp, 3000)]),
    ("prom/prometheus", &[(Tcp, 9090)]),
    ("jenkins/jenkins", &[(Tcp, 8080), (Tcp, 50000)]),
    (
        "consul",
        &[
            (Tcp, 8300),
            (Tcp, 8301),
            (Udp, 8301),
            (Tcp, 8302),
            (Udp, 8302),
            (Tcp, 8500),
            (Tcp, 8600),
            (Udp, 8600),
        ],
    ),
    (
        "hashicorp/consul",
        &[
            (Tcp, 8300),
            (Tcp, 8301),
            (Udp, 8301),
            (Tcp, 8302),
            (Udp, 8302),
            (Tcp, 8500),
            (Tcp, 8600),
            (Udp, 8600),
        ],
    ),
    ("vault", &[(Tcp, 8200)]),
    ("hashicorp/vault", &[(Tcp, 8200)]),
    ("zookeeper", &[(Tcp, 2181), (Tcp, 2888), (Tcp, 3888), (Tcp, 8080)]),
    ("influxdb", &[(Tcp, 8086)]),
    ("couchdb", &[(Tcp, 4369), (Tcp, 5984), (Tcp, 9100)]),
    (
        "cassandra",
        &[(Tcp, 7000), (Tcp, 7001), (Tcp, 7199), (Tcp, 9042), (Tcp, 9160)],
    ),
    ("neo4j", &[(Tcp, 7473), (Tcp, 7474), (Tcp, 7687)]),
    ("solr", &[(Tcp, 8983)]),
    ("nats", &[(Tcp, 4222), (Tcp, 6222), (Tcp, 8222)]),
    ("minio/minio", &[(Tcp, 9000)]),
    ("eclipse-mosquitto", &[(Tcp, 1883)]),
    ("coredns/coredns", &[(Tcp, 53), (Udp, 53)]),
];

/// The repository part of an image reference: no registry host, no `library/`, no
/// tag or digest (`docker.io/library/nginx:1.27-alpine` → `nginx`).
pub fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    // A tag follows the last ':' after the last '/' (a registry port comes before it).
    let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    let no_tag = match no_digest[last_slash..].find(':') {
        Some(i) => &no_digest[..last_slash + i],
        None => no_digest,
    };
    // A first component with a '.' or ':' or `localhost` is a registry.
    let mut rest = no_tag;
    if let Some((first, after)) = rest.split_once('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        rest = after;
    }
    rest.strip_prefix("library/").unwrap_or(rest)
}

/// The ports `image` exposes (its Dockerfile's `EXPOSE`), empty for an image this
/// table does not know.
pub fn exposed_ports(image: &str) -> &'static [(Proto, u16)] {
    let repo = repository(image);
    TABLE
        .iter()
        .find(|(name, _)| *name == repo)
        .map_or(&[], |(_, ports)| ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_reduce_to_the_repository() {
        assert_eq!(repository("nginx"), "nginx");
        assert_eq!(repository("nginx:1.27-alpine"), "nginx");
        assert_eq!(repository("docker.io/library/redis:7"), "redis");
        assert_eq!(repository("localhost:5000/app:v1"), "app");
        assert_eq!(repository("grafana/grafana@sha256:abc"), "grafana/grafana");
        assert_eq!(exposed_ports("postgres:16"), &[(Tcp, 5432)]);
        assert_eq!(exposed_ports("docker.io/library/nginx:latest"), &[(Tcp, 80)]);
        assert!(exposed_ports("alpine").is_empty());
        assert!(exposed_ports("busybox:1.36").is_empty());
    }
}
