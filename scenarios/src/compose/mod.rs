//! `netloom import compose`: a docker compose project as a netloom scenario.
//!
//! A front end in phases, each in its own module:
//! - [`interp`]: the file's text interpolated (`${VAR}`, `${VAR:-d}`, `${VAR-d}`, `$$`,
//!   from the environment and a `.env` next to the file);
//! - `model`: parsed with serde-saphyr keeping each value's position (only the keys that
//!   matter for networking; the rest is ignored);
//! - `merge`: `include:` files and `extends:` resolved into one project;
//! - `plan`: services become containers (replicas, names, networks in compose's
//!   order, aliases, ports, listeners, shared network namespaces);
//! - `emit`: written out as scenario YAML text that `netloom run` loads as any
//!   scenario file, with the default checks.
//!
//! Swarm-only keys and keys without an equivalent get a warning naming their line.

mod emit;
pub mod interp;
mod merge;
mod model;
mod plan;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use crate::error::{ScenarioError, ScenarioErrors};
pub use interp::{interpolate, parse_dotenv};

/// The Docker host's address on the LAN (Docker Desktop's VM address), by default.
pub const HOST_ADDR: &str = "192.168.65.10";
/// The outside client that checks published ports, by default.
pub const CLIENT_ADDR: &str = "192.168.65.100";

/// How to convert.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-p`: the project name.
    pub project: Option<String>,
    /// `--profile`: profiles to enable.
    pub profiles: Vec<String>,
    /// `--no-checks`: no default steps.
    pub no_checks: bool,
    /// Variables; `None` = the process environment plus `.env` next to the file.
    pub env: Option<HashMap<String, String>>,
    /// `--host-address`: host1's `eth0` (default 192.168.65.10/24); the client takes
    /// the subnet's `.100` (or the next free address).
    pub host_address: Option<Ipv4Net>,
    /// `--lan`: the LAN's name (default `lan`).
    pub lan: Option<String>,
}

impl Options {
    /// host1's address with its prefix.
    pub(crate) fn host_net(&self) -> Ipv4Net {
        self.host_address
            .unwrap_or_else(|| Ipv4Net::new(Ipv4Addr::new(192, 168, 65, 10), 24).unwrap_or_default())
    }

    /// The client's address: `.100` of host1's subnet, else the first free one.
    pub(crate) fn client_addr(&self) -> Option<Ipv4Addr> {
        let n = self.host_net();
        let base = u32::from(n.network());
        let usable = |a: u32| {
            let ip = Ipv4Addr::from(a);
            n.contains(&ip) && ip != n.network() && ip != n.broadcast() && ip != n.addr()
        };
        std::iter::once(base.saturating_add(100))
            .chain((base.saturating_add(1)..=u32::from(n.broadcast())).take(1 << 16))
            .find(|&a| usable(a))
            .map(Ipv4Addr::from)
    }

    /// The LAN's name.
    pub(crate) fn lan_name(&self) -> &str {
        self.lan.as_deref().unwrap_or("lan")
    }
}

/// The scenario text and the warnings (each `FILE:LINE:COL: warning: …`).
#[derive(Debug, Clone)]
pub struct Converted {
    /// Scenario YAML.
    pub yaml: String,
    /// Warnings for keys that matter but have no equivalent.
    pub warnings: Vec<String>,
    /// Per default check, in order: the compose file and line it checks.
    pub step_sources: Vec<(String, u64)>,
}

/// Whether `text` is a compose file: a top-level `services:` key.
pub fn is_compose(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("services:"))
}

/// Compose's project-name normalisation: lowercase, only `[a-z0-9_-]`, leading
/// characters that are not a letter or digit dropped.
pub fn normalize_project(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    s.trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// Reads `path` and converts it (environment and `.env` from the file's directory;
/// `include:` and `extends: { file }` read relative to it).
///
/// # Errors
/// Rendered messages with line:column, ready to print.
pub fn convert_file(path: &Path, opts: &Options) -> Result<Converted, String> {
    let name = path.display().to_string();
    let text = crate::input::read_text(path).map_err(|e| format!("{name}:{e}\n"))?;
    let dir = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let mut o = opts.clone();
    if o.env.is_none() {
        let mut env: HashMap<String, String> = HashMap::new();
        if let Some(d) = &dir
            && let Ok(t) = std::fs::read_to_string(d.join(".env"))
        {
            env.extend(parse_dotenv(&t, &|k| std::env::var(k).ok()));
        }
        env.extend(std::env::vars());
        o.env = Some(env);
    }
    if o.project.is_none() {
        o.project = dir
            .as_ref()
            .and_then(|d| d.file_name())
            .map(|n| format!("\0{}", n.to_string_lossy()));
    }
    // Other files (include, extends.file): read as untrusted input, relative to the
    // file naming them; their texts are kept to show errors in them.
    let texts = std::cell::RefCell::new(vec![(name.clone(), text.clone())]);
    let read = |from: &str, rel: &str| -> Result<(String, String), String> {
        let base = Path::new(from)
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf);
        let p = base.join(rel);
        let shown = p.display().to_string();
        let t = crate::input::read_text(&p).map_err(|e| format!("{shown}:{}", e.trim_start()))?;
        texts.borrow_mut().push((shown.clone(), t.clone()));
        Ok((shown, t))
    };
    // `docker compose` without `-f` reads compose.yaml and then the first override
    // file next to it (compose-go's DefaultFileNames / DefaultOverrideFileNames): a
    // project run from its directory gets its override's ports and networks too.
    let mut overrides = Vec::new();
    let base = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    if DEFAULT_FILE_NAMES.contains(&base)
        && let Some(over) = DEFAULT_OVERRIDE_FILE_NAMES
            .iter()
            .map(|f| path.with_file_name(f))
            .find(|p| p.is_file())
    {
        let shown = over.display().to_string();
        let t = crate::input::read_text(&over).map_err(|e| format!("{shown}:{e}\n"))?;
        texts.borrow_mut().push((shown.clone(), t.clone()));
        overrides.push((shown, t));
    }
    let notes: Vec<String> = overrides
        .iter()
        .map(|(f, _)| format!("{f}: note: read on top of {name}, as `docker compose` does without -f"))
        .collect();
    convert_with(&name, &text, &o, &read, &overrides)
        .map(|mut c| {
            c.warnings.splice(0..0, notes);
            c
        })
        .map_err(|errs| {
            let texts = texts.borrow();
            errs.iter()
                .map(|e| {
                    let t = texts
                        .iter()
                        .find(|(n, _)| *n == e.file)
                        .map_or(text.as_str(), |(_, t)| t);
                    format!("{}\n", e.render(t))
                })
                .collect()
        })
}

/// Converts compose text (`file` names it in messages). `include:` and
/// `extends: { file }` are refused: they need [`convert_file`].
///
/// # Errors
/// Every problem found, each at its line:column.
pub fn convert(file: &str, text: &str, opts: &Options) -> Result<Converted, ScenarioErrors> {
    convert_with(
        file,
        text,
        opts,
        &|_, rel| {
            Err(format!(
                "{rel}: another compose file can only be read when converting a file on disk (`netloom import compose FILE`)"
            ))
        },
        &[],
    )
}

/// The names `docker compose` looks for without `-f`, in its order of preference.
pub const DEFAULT_FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
/// The override files it then reads on top of the first (the first one found).
pub const DEFAULT_OVERRIDE_FILE_NAMES: &[&str] = &[
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// Reads file `rel` named in file `from`: its display name and text.
pub(crate) type Reader<'a> = dyn Fn(&str, &str) -> Result<(String, String), String> + 'a;

fn convert_with(
    file: &str,
    text: &str,
    opts: &Options,
    read: &Reader<'_>,
    overrides: &[(String, String)],
) -> Result<Converted, ScenarioErrors> {
    let empty = HashMap::new();
    let env = opts.env.as_ref().unwrap_or(&empty);
    // COMPOSE_PROJECT_NAME and COMPOSE_PROFILES (environment or `.env`) stand in for
    // `-p` and `--profile` when those are not given, as compose-go's options do.
    let mut o = opts.clone();
    if o.project.as_ref().is_none_or(|p| p.starts_with('\0'))
        && let Some(n) = env.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty())
    {
        o.project = Some(n.clone());
    }
    if o.profiles.is_empty()
        && let Some(p) = env.get("COMPOSE_PROFILES")
    {
        o.profiles = p
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let opts = &o;
    let mut warnings = Vec::new();
    let project = merge::load(file, text, env, read, overrides)?;
    let name = project_name(file, &project, opts)?;
    let plan = plan::plan(&project, &name, opts, &mut warnings)?;
    let (yaml, step_sources) = emit::scenario(file, &project, &plan, opts, &mut warnings);
    Ok(Converted {
        yaml,
        warnings,
        step_sources,
    })
}

/// The project's name: `-p`, else the top-level `name:`, else the directory's name,
/// normalised as compose-go does (an explicit `-p` must already be normal).
fn project_name(file: &str, project: &merge::Project, opts: &Options) -> Result<String, ScenarioErrors> {
    let raw = match (&opts.project, &project.name) {
        (Some(p), _) if !p.starts_with('\0') => p.clone(),
        (_, Some(n)) => n.value.clone(),
        (Some(p), None) => p.trim_start_matches('\0').to_owned(),
        (None, None) => "default".to_owned(),
    };
    if let Some(p) = opts.project.as_ref().filter(|p| !p.starts_with('\0'))
        && (normalize_project(p) != *p || p.is_empty())
    {
        return Err(ScenarioErrors(vec![ScenarioError::new(
            file,
            0,
            0,
            format!(
                "invalid project name {p:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
            ),
        )]));
    }
    let name = normalize_project(&raw);
    if name.is_empty() {
        return Err(ScenarioErrors(vec![ScenarioError::new(
            file,
            project
                .name
                .as_ref()
                .map_or(0, |n| n.referenced.line().max(n.defined.line())),
            0,
            format!(
                "project name {raw:?} is empty once normalised (lowercase letters, digits, '_' and '-', starting with a letter or digit)"
            ),
        )]));
    }
    Ok(name)
}

/// A YAML double-quoted scalar.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}
