//! Writes a large scenario file on stdout, for timing the commands that read one
//! (`explain`, `graph`, `validate`): `scenario_file HOSTS PER_HOST` gives HOSTS Docker
//! hosts on one LAN, each with its user network `netH` and PER_HOST
//! containers `hH-cK` listening on tcp/80.

use std::fmt::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let [hosts, per_host] = args.as_slice() else {
        eprintln!("usage: scenario_file HOSTS PER_HOST > FILE");
        return ExitCode::from(2);
    };
    if *hosts == 0 || *hosts > 200 || *per_host == 0 || *per_host > 60_000 {
        eprintln!("scenario_file: 1-200 hosts, 1-60000 containers per host");
        return ExitCode::from(2);
    }
    let mut s = String::from("name: large\nlans:\n  lan: {}\nhosts:\n");
    for h in 0..*hosts {
        let _ = writeln!(
            s,
            "  host{h}:\n    interfaces:\n      eth0: {{ address: 10.{}.{}.10/8, lan: lan }}",
            h / 250,
            h % 250
        );
    }
    s.push_str("networks:\n");
    for h in 0..*hosts {
        let _ = writeln!(s, "  net{h}: {{ host: host{h} }}");
    }
    s.push_str("containers:\n");
    for h in 0..*hosts {
        for k in 0..*per_host {
            let _ = writeln!(
                s,
                "  h{h}-c{k}: {{ host: host{h}, networks: [net{h}], listen: [tcp/80] }}"
            );
        }
    }
    print!("{s}");
    ExitCode::SUCCESS
}
