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
//! number of pauses per run and their total (mean over the runs).

use std::time::Duration;

use benches::pauses::{measure_by_id, PauseStats, Pauses};
use benches::{on_thread, Workload, CRATES, STACK_8_MIB};

fn main() {
    let runs: u32 = std::env::args()
        .nth(1)
        .map_or(3, |r| r.parse().expect("number of runs"));
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
            let size = w.default_size();
            let all: Vec<Pauses> = (0..runs)
                .map(|_| {
                    on_thread(STACK_8_MIB, move || {
                        measure_by_id(id, w, size).expect("known crate")
                    })
                })
                .collect();
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
