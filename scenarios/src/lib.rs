//! netloom-scenarios: scenario files, their validation, the runner and reports.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`format`](mod@format) | the typed scenario file (SCENARIO-FORMAT.md) and its parser |
//! | [`error`] | errors with `file:line:column` and a hint |
//! | [`names`] | the rule for machine, network and interface names (Docker's, length-bounded) |
//! | [`graph`] | `netloom graph`: the topology as text, Graphviz dot or mermaid |
//! | [`input`] | reading a scenario file as untrusted input (type and size first, UTF-8 errors at line:column) |
//! | [`progress`] | progress bars on a terminal (indicatif) for long loads and live set-ups |
//! | [`pcap`] | captures written as the run goes, one pcap file per link |
//! | [`validate`] | from a parsed file to a Docker [`Model`](netloom_drivers::docker::Model) and checked steps |
//! | [`runner`] | running steps, checking expectations, explaining failures from the trace |
//! | [`report`] | text, JSON and JUnit reports |
//! | [`dockercli`] | `netloom docker SCRIPT`: a history of `docker` commands replayed on a simulated host |
//! | [`images`] | the ports well-known images expose (their Dockerfiles' `EXPOSE`) |
//! | [`shell`] | `netloom lab`: an interactive shell over a scenario's simulated network |
//! | [`style`] | colours of the human output (stripped off terminals, `NO_COLOR`, `--color never`) |
//! | [`emulate`] | `netloom emulate`: the scenario as real namespaces over TAP, forwarded in real time |
//!
//! Use it from your own tests:
//!
//! ```
//! let yaml = r#"
//! name: two containers talk
//! networks:
//!   app: {}
//! containers:
//!   web: { networks: [app], listen: [tcp/80] }
//!   client: { networks: [app] }
//! steps:
//!   - ping: { from: client, to: web }
//!     expect: reach
//!   - connect: { from: client, to: "web:80" }
//!     expect: ok
//!   - connect: { from: client, to: "web:81" }
//!     expect: refused
//! "#;
//! let loaded = netloom_scenarios::load("example.yaml", yaml).expect("valid scenario");
//! let run = netloom_scenarios::run(&loaded, &netloom_scenarios::RunOptions::default());
//! assert!(run.report.passed(), "{}", netloom_scenarios::report::text(&run.report));
//! // The trace is there to inspect: every frame's fate.
//! assert!(!run.lab.fabric.trace().events.is_empty());
//! ```

#![warn(missing_docs)]

pub mod cni;
pub mod compose;
pub mod dockercli;
pub mod emulate;
pub mod error;
pub mod explain;
pub mod format;
pub mod graph;
pub mod images;
pub mod input;
mod logs;
pub mod matrix;
pub mod names;
pub mod pcap;
pub mod progress;
pub mod report;
pub mod runner;
pub mod shell;
pub mod style;
pub mod validate;

pub use error::{ScenarioError, ScenarioErrors};
pub use input::load_file;
pub use runner::{Report, Run, RunOptions, Status, StepReport, run};
pub use validate::{Loaded, load};
