//! One project out of several files: `include:` (each included file's services and
//! networks join the project; a service defined twice is an error, as compose-go says
//! it) and `extends:` (a service built on another, from this file or `file:`, merged
//! as the compose specification merges: the extending service's scalars win, sequences
//! are combined without duplicates, `networks` and `extra_hosts` are merged by key;
//! `depends_on` is not inherited).

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::Reader;
use super::interp::interpolate;
use super::model::{
    Compose, DependsOn, Extends, ExtraHosts, NetList, Network, OneOrMany, Port, Service, ServiceNet,
};
use crate::error::{ScenarioError, ScenarioErrors};

/// How deep `include` and `extends` may nest (a cycle is caught before, by name).
const MAX_DEPTH: usize = 8;

/// A service and the file that defines it (for messages at its lines).
#[derive(Debug, Clone)]
pub(super) struct Sourced<T> {
    pub file: String,
    pub value: T,
}

/// The whole project, every file merged.
#[derive(Debug, Default)]
pub(super) struct Project {
    pub name: Option<Spanned<String>>,
    pub services: IndexMap<String, Sourced<Spanned<Service>>>,
    pub networks: IndexMap<String, Sourced<Option<Spanned<Network>>>>,
}

/// Parses `text` (file `file`) and every file it includes; resolves `extends`.
/// `overrides` (name, text) are merged on top, in order, as compose merges `-f` files:
/// a service's values win, its `ports`, `expose` and `dns` are appended, `networks`,
/// `extra_hosts` and `depends_on` merged by key; networks replaced by key; `name:` wins.
pub(super) fn load(
    file: &str,
    text: &str,
    env: &HashMap<String, String>,
    read: &Reader<'_>,
    overrides: &[(String, String)],
) -> Result<Project, ScenarioErrors> {
    let mut errs = Vec::new();
    let mut project = Project::default();
    let compose = parse(file, text, env)?;
    project.name = compose.name.clone();
    let mut stack = vec![file.to_string()];
    add(&mut project, file, compose, env, read, &mut stack, &mut errs);
    for (ofile, otext) in overrides {
        let over = match parse(ofile, otext, env) {
            Ok(c) => c,
            Err(e) => {
                errs.extend(e.0);
                continue;
            }
        };
        let mut layer = Project::default();
        let mut stack = vec![ofile.clone()];
        if over.name.is_some() {
            project.name = over.name.clone();
        }
        add(&mut layer, ofile, over, env, read, &mut stack, &mut errs);
        for (k, s) in layer.services {
            match project.services.get_mut(&k) {
                Some(base) => {
                    let b = base.value.value.clone();
                    let l = s.value.value;
                    let mut deps = b.depends_on.names();
                    for d in l.depends_on.names() {
                        if !deps.contains(&d) {
                            deps.push(d);
                        }
                    }
                    let extends = l.extends.clone().or_else(|| b.extends.clone());
                    let mut m = merge(b, l);
                    m.depends_on = if deps.is_empty() {
                        DependsOn::None
                    } else {
                        DependsOn::List(deps)
                    };
                    m.extends = extends;
                    base.value.value = m;
                }
                None => {
                    project.services.insert(k, s);
                }
            }
        }
        for (k, n) in layer.networks {
            project.networks.insert(k, n);
        }
    }
    resolve_extends(&mut project, env, read, &mut errs);
    if errs.is_empty() {
        Ok(project)
    } else {
        Err(ScenarioErrors(errs))
    }
}

/// Interpolates and parses one file.
fn parse(file: &str, text: &str, env: &HashMap<String, String>) -> Result<Compose, ScenarioErrors> {
    let text = interpolate(file, text, env).map_err(|e| ScenarioErrors(vec![e]))?;
    serde_saphyr::from_str(&text).map_err(|e| ScenarioErrors(vec![ScenarioError::from_yaml(file, &e)]))
}

/// Adds `compose` (from `file`) to the project: its includes first, as compose loads
/// them, then its own services and networks.
fn add(
    project: &mut Project,
    file: &str,
    compose: Compose,
    env: &HashMap<String, String>,
    read: &Reader<'_>,
    stack: &mut Vec<String>,
    errs: &mut Vec<ScenarioError>,
) {
    for inc in &compose.include {
        for rel in inc.value.paths() {
            if stack.len() > MAX_DEPTH {
                errs.push(ScenarioError::at(
                    file,
                    inc,
                    format!("include {rel}: nested more than {MAX_DEPTH} deep"),
                ));
                continue;
            }
            let (name, text) = match read(file, &rel) {
                Ok(x) => x,
                Err(e) => {
                    errs.push(ScenarioError::at(file, inc, format!("include: {e}")));
                    continue;
                }
            };
            if stack.contains(&name) {
                errs.push(ScenarioError::at(
                    file,
                    inc,
                    format!("include cycle: {} includes {name} again", stack.join(" -> ")),
                ));
                continue;
            }
            let inner = match parse(&name, &text, env) {
                Ok(c) => c,
                Err(e) => {
                    errs.extend(e.0);
                    continue;
                }
            };
            let mut sub = Project::default();
            stack.push(name.clone());
            add(&mut sub, &name, inner, env, read, stack, errs);
            stack.pop();
            for (k, s) in sub.services {
                if project.services.contains_key(&k) {
                    errs.push(ScenarioError::at(
                        file,
                        inc,
                        format!("imported compose file {name} defines conflicting service {k}"),
                    ));
                } else {
                    project.services.insert(k, s);
                }
            }
            for (k, n) in sub.networks {
                project.networks.entry(k).or_insert(n);
            }
        }
    }
    for (k, s) in compose.services {
        if project.services.contains_key(&k) {
            errs.push(ScenarioError::at(
                file,
                &s,
                format!("services.{k} conflicts with imported resource"),
            ));
            continue;
        }
        project.services.insert(
            k,
            Sourced {
                file: file.to_string(),
                value: s,
            },
        );
    }
    for (k, n) in compose.networks.unwrap_or_default() {
        project.networks.insert(
            k,
            Sourced {
                file: file.to_string(),
                value: n,
            },
        );
    }
}

/// Replaces every service that `extends` another by the merge of the two.
fn resolve_extends(
    project: &mut Project,
    env: &HashMap<String, String>,
    read: &Reader<'_>,
    errs: &mut Vec<ScenarioError>,
) {
    let keys: Vec<String> = project.services.keys().cloned().collect();
    for k in keys {
        let Some(s) = project.services.get(&k).cloned() else {
            continue;
        };
        if s.value.value.extends.is_none() {
            continue;
        }
        let local: HashMap<String, Sourced<Spanned<Service>>> = project
            .services
            .iter()
            .filter(|(_, v)| v.file == s.file)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut seen = vec![(s.file.clone(), k.clone())];
        match extended(&s, &local, env, read, &mut seen) {
            Ok(v) => {
                if let Some(slot) = project.services.get_mut(&k) {
                    slot.value.value = v;
                }
            }
            Err(e) => errs.push(e),
        }
    }
}

/// Service `s` with its `extends` chain applied.
fn extended(
    s: &Sourced<Spanned<Service>>,
    same_file: &HashMap<String, Sourced<Spanned<Service>>>,
    env: &HashMap<String, String>,
    read: &Reader<'_>,
    seen: &mut Vec<(String, String)>,
) -> Result<Service, ScenarioError> {
    let Some(ext) = &s.value.value.extends else {
        return Ok(s.value.value.clone());
    };
    let (base_name, base_file) = match &ext.value {
        Extends::Name(n) => (n.clone(), None),
        Extends::Long { service, file } => (service.clone(), file.clone()),
    };
    let here = |msg: String| ScenarioError::at(&s.file, ext, msg);
    if seen.len() > MAX_DEPTH {
        return Err(here(format!(
            "extends {base_name}: nested more than {MAX_DEPTH} deep"
        )));
    }
    let (base, others) = match base_file {
        None => {
            let b = same_file
                .get(&base_name)
                .cloned()
                .ok_or_else(|| here(format!("cannot extend service {base_name:?}: service not found")))?;
            (b, same_file.clone())
        }
        Some(f) => {
            let (name, text) = read(&s.file, &f).map_err(|e| here(format!("extends: {e}")))?;
            let c = parse(&name, &text, env).map_err(|e| {
                e.0.into_iter()
                    .next()
                    .unwrap_or_else(|| here(format!("extends: {name}: invalid")))
            })?;
            let all: HashMap<String, Sourced<Spanned<Service>>> = c
                .services
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        Sourced {
                            file: name.clone(),
                            value: v,
                        },
                    )
                })
                .collect();
            let b = all.get(&base_name).cloned().ok_or_else(|| {
                here(format!(
                    "cannot extend service {base_name:?} of {name}: service not found"
                ))
            })?;
            (b, all)
        }
    };
    let key = (base.file.clone(), base_name.clone());
    if seen.contains(&key) {
        return Err(here(format!(
            "circular reference with extends: {} -> {base_name}",
            seen.iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(" -> ")
        )));
    }
    seen.push(key);
    let base = extended(&base, &others, env, read, seen)?;
    Ok(merge(base, s.value.value.clone()))
}

/// `local` on top of `base`, as the compose specification merges services.
fn merge(base: Service, local: Service) -> Service {
    let networks = match (base.networks, local.networks) {
        (Some(b), Some(l)) => {
            let mut m = as_map(b.value);
            for (k, v) in as_map(l.value.clone()) {
                m.insert(k, v);
            }
            Some(Spanned {
                value: NetList::Map(m),
                ..l
            })
        }
        (b, l) => l.or(b),
    };
    let extra_hosts = match (base.extra_hosts, local.extra_hosts) {
        (Some(b), Some(l)) => {
            let mut e = b.value.entries();
            for x in l.value.entries() {
                let name = |s: &str| s.split(['=', ':']).next().unwrap_or("").to_string();
                e.retain(|y| name(y) != name(&x));
                e.push(x);
            }
            Some(Spanned {
                value: ExtraHosts::List(e),
                ..l
            })
        }
        (b, l) => l.or(b),
    };
    let mut ports = base.ports;
    for p in local.ports {
        if !ports.iter().any(|q| port_key(&q.value) == port_key(&p.value)) {
            ports.push(p);
        }
    }
    let mut expose = base.expose;
    for e in local.expose {
        if !expose.iter().any(|x| x.value.to_string() == e.value.to_string()) {
            expose.push(e);
        }
    }
    Service {
        extends: None,
        image: local.image.or(base.image),
        container_name: local.container_name.or(base.container_name),
        extra_hosts,
        mac_address: local.mac_address.or(base.mac_address),
        links: local.links.or(base.links),
        external_links: local.external_links.or(base.external_links),
        sysctls: local.sysctls.or(base.sysctls),
        networks,
        network_mode: local.network_mode.or(base.network_mode),
        ports,
        expose,
        depends_on: local.depends_on,
        deploy: local.deploy.or(base.deploy),
        scale: local.scale.or(base.scale),
        dns: union(base.dns, local.dns),
        dns_search: union(base.dns_search, local.dns_search),
        dns_opt: union(base.dns_opt, local.dns_opt),
        profiles: if local.profiles.is_empty() {
            base.profiles
        } else {
            local.profiles
        },
    }
}

fn as_map(n: NetList) -> IndexMap<String, Option<ServiceNet>> {
    match n {
        NetList::List(l) => l.into_iter().map(|k| (k, None)).collect(),
        NetList::Map(m) => m,
    }
}

fn port_key(p: &Port) -> String {
    match p {
        Port::Short(s) => s.to_string(),
        Port::Long(l) => format!(
            "{}:{}:{}/{}",
            l.host_ip.as_deref().unwrap_or(""),
            l.published.as_ref().map(ToString::to_string).unwrap_or_default(),
            l.target,
            l.protocol.as_deref().unwrap_or("tcp")
        ),
    }
}

fn union(a: OneOrMany, b: OneOrMany) -> OneOrMany {
    let mut v = a.list();
    for x in b.list() {
        if !v.contains(&x) {
            v.push(x);
        }
    }
    if v.is_empty() {
        OneOrMany::None
    } else {
        OneOrMany::Many(v)
    }
}
