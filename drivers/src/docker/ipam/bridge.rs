//! A bridge network's device name: `com.docker.network.bridge.name`, else the model's
//! `br-NAME`; and Docker's refusal of two networks with one bridge name on a host.

use std::collections::BTreeMap;

use super::device_name;
use crate::docker::{Driver, Model, ModelError, NetworkDef, ResolvedNetwork};

/// The option's key, as the field path of errors about it.
const OPTION: &str = "driver_opts.com.docker.network.bridge.name";

/// The device of bridge network `n`: the name it asks for, else `br-` and its name (Docker
/// uses `br-` and the network id's first 12 hex digits; the model uses the name so that
/// traces stay readable), cut to Linux's 15 bytes.
pub(super) fn device(n: &NetworkDef) -> String {
    match &n.bridge_name {
        Some(b) => b.clone(),
        None => device_name("br-", &n.name),
    }
}

/// Reports what Linux and Docker refuse about the bridge names of `nets` (every network
/// resolved so far, each host's `docker0` and `docker_gwbridge` included): a name that is
/// not a valid interface name, a name two bridge networks of one host share (libnetwork:
/// "networks have same bridge name"), and a name a NIC of the host already has.
pub(super) fn check(m: &Model, nets: &[ResolvedNetwork], errs: &mut Vec<ModelError>) {
    let asked = |name: &str| -> Option<&NetworkDef> {
        m.networks
            .iter()
            .find(|d| d.name == name && d.driver == Driver::Bridge && d.bridge_name.is_some())
    };
    for n in nets.iter().filter(|n| n.driver == Driver::Bridge) {
        if asked(&n.name).is_some()
            && let Some(why) = invalid(&n.device)
        {
            errs.push(ModelError::new(
                format!("networks.{}.{OPTION}", n.name),
                format!("invalid bridge name {:?}: {why}", n.device),
                "a Linux interface name: 1 to 15 bytes, no '/', ':' or white space",
            ));
        }
    }
    // Per host, the first network that has each device name.
    let mut seen: BTreeMap<(&str, &str), &ResolvedNetwork> = BTreeMap::new();
    for n in nets.iter().filter(|n| n.driver == Driver::Bridge) {
        let key = (n.host.as_str(), n.device.as_str());
        let Some(first) = seen.get(&key).copied() else {
            seen.insert(key, n);
            if asked(&n.name).is_some()
                && let Some(h) = m.hosts.iter().find(|h| h.name == n.host)
                && h.interfaces.iter().any(|i| i.name == n.device)
            {
                errs.push(ModelError::new(
                    format!("networks.{}.{OPTION}", n.name),
                    format!(
                        "{} already has an interface named {}: a bridge network needs a device of its own",
                        h.name, n.device
                    ),
                    "choose another bridge name",
                ));
            }
            continue;
        };
        // Report at whichever of the two asked for the name: that is what to change.
        let (at, other) = if asked(&n.name).is_some() || asked(&first.name).is_none() {
            (n, first)
        } else {
            (first, n)
        };
        let mut hint =
            "give each bridge network on a host its own com.docker.network.bridge.name".to_string();
        if !other.default_bridge && asked(&other.name).is_none() {
            hint = format!(
                "netloom names network {}'s bridge {} (Docker would name it br- and the network id); {hint}",
                other.name, other.device
            );
        }
        errs.push(ModelError::new(
            format!("networks.{}.{OPTION}", at.name),
            format!(
                "cannot create network {} ({}): conflicts with network {} ({}): networks have same bridge name",
                at.name, at.device, other.name, other.device
            ),
            hint,
        ));
    }
}

/// Why Linux refuses `name` as an interface name (`dev_valid_name`), if it does.
fn invalid(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 15 {
        Some("longer than 15 bytes (IFNAMSIZ)")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are not interface names")
    } else if name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        Some("'/', ':' and white space are not allowed")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::{HostDef, NicDef};

    fn bridge(name: &str, bridge_name: Option<&str>) -> NetworkDef {
        NetworkDef {
            bridge_name: bridge_name.map(str::to_string),
            ..NetworkDef::bridge(name)
        }
    }

    fn errors(m: &Model) -> Vec<ModelError> {
        m.resolve().err().unwrap_or_default()
    }

    #[test]
    fn the_bridge_name_option_names_the_device() {
        // Proves the option reaches the resolved network: its rules and traces name
        // the device the user chose, not br-NAME.
        let mut m = Model::default();
        m.networks.push(bridge("app", Some("br0")));
        m.networks.push(bridge("other", None));
        let r = m.resolve().unwrap_or_else(|e| panic!("{e:?}"));
        let dev = |n: &str| r.networks.iter().find(|x| x.name == n).map(|x| x.device.clone());
        assert_eq!(dev("app").as_deref(), Some("br0"));
        assert_eq!(dev("other").as_deref(), Some("br-other"));
    }

    #[test]
    fn two_networks_with_one_bridge_name_are_refused_as_docker_does() {
        let mut m = Model::default();
        m.networks.push(bridge("a", Some("br0")));
        m.networks.push(bridge("b", Some("br0")));
        let e = errors(&m);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            e[0].field,
            "networks.b.driver_opts.com.docker.network.bridge.name"
        );
        assert!(
            e[0].message.contains("networks have same bridge name"),
            "{}",
            e[0]
        );

        // docker0 is taken by the default bridge.
        let mut m = Model::default();
        m.networks.push(bridge("a", Some("docker0")));
        let e = errors(&m);
        assert!(
            e.iter()
                .any(|x| x.message.contains("conflicts with network bridge (docker0)")),
            "{e:?}"
        );

        // The same name on two hosts is two bridges.
        let mut m = Model {
            hosts: vec![HostDef::new("h1"), HostDef::new("h2")],
            ..Model::default()
        };
        m.networks.push(NetworkDef {
            host: Some("h1".into()),
            ..bridge("a", Some("br0"))
        });
        m.networks.push(NetworkDef {
            host: Some("h2".into()),
            ..bridge("b", Some("br0"))
        });
        assert!(errors(&m).is_empty(), "{:?}", errors(&m));
    }

    #[test]
    fn a_generated_name_taken_by_the_option_is_explained() {
        let mut m = Model::default();
        m.networks.push(bridge("a", None));
        m.networks.push(bridge("b", Some("br-a")));
        let e = errors(&m);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            e[0].field,
            "networks.b.driver_opts.com.docker.network.bridge.name"
        );
        assert!(
            e[0].hint
                .as_deref()
                .unwrap_or("")
                .contains("netloom names network a's bridge br-a")
        );
    }

    #[test]
    fn a_bridge_name_of_a_nic_or_invalid_is_refused() {
        let mut m = Model::default();
        let mut h = HostDef::new("host1");
        h.interfaces.push(NicDef {
            name: "eth0".into(),
            ..NicDef::default()
        });
        m.hosts.push(h);
        m.networks.push(bridge("a", Some("eth0")));
        m.networks.push(bridge("b", Some("a-name-too-long-for-linux")));
        let e = errors(&m);
        assert!(
            e.iter()
                .any(|x| x.message.contains("already has an interface named eth0")),
            "{e:?}"
        );
        assert!(e.iter().any(|x| x.message.contains("IFNAMSIZ")), "{e:?}");
    }
}
