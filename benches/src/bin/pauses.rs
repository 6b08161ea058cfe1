//! The longest collection pauses inside the timed part of W6 and W8, per crate (see
//! `benches::pauses`): explicit `collect()` calls for every crate, automatic
//! collections for gc-core (the peers have no hook: "n/a").
//!
//! ```sh
//! cargo run --profile bench -p benches --bin pauses            # full sizes, 3 runs per cell
//! cargo run --profile bench -p benches --bin pauses -- 1       # 1 run per cell
//! ```
//!
//! Prints a markdown table: per cell the longest pause over the runs, then the
//! number of pauses per run and their total (mean over the runs). Each run happens
//! in a fresh child process of this binary (env `GC_BENCHES_PAUSES`).

use std::time::Duration;

use benches::pauses::{measure_by_id, PauseStats, Pauses};
use benches::{on_thread, Workload, CRATES, STACK_8_MIB};

/// Environment variable that makes this binary a child measuring one run:
/// `"<crate id>|<workload name>"`; it prints the run's [`Pauses`] ([`encode`]).
const CHILD_ENV: &str = "GC_BENCHES_PAUSES";

fn main() {
    if let Some(spec) = std::env::var_os(CHILD_ENV) {
        let spec = spec.to_string_lossy().into_owned();
        let (id, w) = spec
            .split_once('|')
            .unwrap_or_else(|| panic!("{CHILD_ENV} must be `crate|workload`, got {spec:?}"));
        let w = Workload::from_name(w).unwrap_or_else(|| panic!("unknown workload {w:?}"));
        let id = id.to_string();
        let pauses = on_thread(STACK_8_MIB, move || {
            measure_by_id(&id, w, w.default_size()).expect("known crate")
        });
        println!("{}", encode(&pauses));
        return;
    }
    let runs: u32 = std::env::args()
        .nth(1)
        .map_or(3, |r| r.parse().expect("number of runs"));
    let exe = std::env::current_exe().expect("path of this binary");
    let rows = [
        (Workload::W6BinaryTrees, "W6 binary_trees (depth 14)"),
        (Workload::W8YoungInOld, "W8 young_in_old (old = 1,000,000)"),
        (Workload::W8YoungNoOld, "W8 young_in_old (old = 0)"),
    ];
    let names: Vec<&str> = CRATES.iter().map(|e| e.name).collect();
    println!("| workload | collections | {} |", names.join(" | "));
    println!("|---|---|{}", "---|".repeat(CRATES.len()));
    for (w, label) in rows {
        let mut explicit = Vec::new();
        let mut automatic = Vec::new();
        for e in CRATES {
            let id = e.id;
            // Each run in a fresh process: in one process, the first allocation of a
            // buffer on a new thread could pay for glibc consolidating the small
            // blocks the crates before had freed into the arena it reuses (a single
            // 64 KiB `malloc` took 11 ms after the peers' W6 and W8 runs), and that
            // landed in whichever collection allocated first.
            let all: Vec<Pauses> = (0..runs).map(|_| run_in_child(&exe, id, w)).collect();
            let fold = |f: &dyn Fn(&Pauses) -> Option<PauseStats>| {
                all.iter()
                    .map(f)
                    .try_fold(PauseStats::default(), |acc, s| s.map(|s| acc.merge(s)))
            };
            explicit.push(cell(fold(&|p| Some(p.explicit)), runs));
            automatic.push(cell(fold(&|p| p.automatic), runs));
            eprintln!("{label} / {id}: done");
        }
        println!(
            "| {label} | explicit `collect()` | {} |",
            explicit.join(" | ")
        );
        println!("| {label} | automatic | {} |", automatic.join(" | "));
    }
}

/// Runs `w` once for crate `id` in a child process of `exe` and returns its pauses.
fn run_in_child(exe: &std::path::Path, id: &str, w: Workload) -> Pauses {
    let spec = format!("{id}|{}", w.name());
    let stdout = benches::probe::child_stdout(exe, CHILD_ENV, &spec);
    stdout
        .lines()
        .find_map(decode)
        .unwrap_or_else(|| panic!("{spec}: no pauses line in {stdout:?}"))
}

/// `pauses=<count>,<max ns>,<total ns>[,<count>,<max ns>,<total ns>]`: the explicit
/// pauses, then the automatic ones if measured.
fn encode(p: &Pauses) -> String {
    let one = |s: &PauseStats| format!("{},{},{}", s.count, s.max.as_nanos(), s.total.as_nanos());
    match &p.automatic {
        Some(a) => format!("pauses={},{}", one(&p.explicit), one(a)),
        None => format!("pauses={}", one(&p.explicit)),
    }
}

/// The inverse of [`encode`].
fn decode(line: &str) -> Option<Pauses> {
    let n: Vec<u64> = line
        .strip_prefix("pauses=")?
        .split(',')
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let stats = |c: &[u64]| PauseStats {
        count: c[0],
        max: Duration::from_nanos(c[1]),
        total: Duration::from_nanos(c[2]),
    };
    match n.len() {
        3 => Some(Pauses {
            explicit: stats(&n[..3]),
            automatic: None,
        }),
        6 => Some(Pauses {
            explicit: stats(&n[..3]),
            automatic: Some(stats(&n[3..])),
        }),
        _ => None,
    }
}

/// "max (count per run, total per run)", "none", or "n/a".
fn cell(stats: Option<PauseStats>, runs: u32) -> String {
    match stats {
        None => "n/a".into(),
        Some(s) if s.count == 0 => "none".into(),
        Some(s) => format!(
            "**{}** ({} per run, {} in all)",
            fmt(s.max),
            s.count / u64::from(runs),
            fmt(s.total / runs)
        ),
    }
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 10.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}
