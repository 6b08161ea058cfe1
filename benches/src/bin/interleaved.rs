//! Workloads W1–W8 (W9 has its own threads) run round-robin across the crates, for ratios that hold on a
//! machine whose speed drifts.
//!
//! Criterion measures one cell after another, each for a few seconds; on a
//! virtual machine whose speed drifts by 1.3–2× over minutes, two cells of a row may
//! be measured at different speeds, and a ratio near a target can land on either
//! side of it. Here each round runs every peer once on each workload, each right
//! next to a run of gc-core (before it in even rounds, after it in odd ones; the
//! starting peer rotates from round to round), and a ratio is the median over the
//! rounds of the peer's time ÷ the time of gc-core's run paired with it: measured a
//! moment apart. (Since 2026-12-07: the VM switched between two speeds ~1.6× apart
//! every few seconds, and one gc-core run per round, up to six peers away, was often
//! in the other phase.) gc-core's cell is the median of all its runs. Each run is
//! a workload run twice in a row of which only the second counts (warm, as
//! criterion's iterations).
//!
//! Each crate's two runs happen in a fresh child process of this binary
//! (`probe::run_in_child`): every crate starts from the same clean allocator. When
//! all crates ran in one process (`--same-process`, as criterion runs them), each
//! ran on the `malloc` heap its predecessors left: rust-gc's W3 drop + collect read
//! 106-117 ns per object after one build of gc-core and 50-52 ns after another, with
//! nothing of rust-gc changed.
//!
//! ```sh
//! cargo run --profile bench -p benches --bin interleaved                # 5 rounds
//! cargo run --profile bench -p benches --bin interleaved -- 9 W3 W6     # 9 rounds, W3 and W6
//! cargo run --profile bench -p benches --bin interleaved -- --readme    # also into benches/README.md
//! cargo run --profile bench -p benches --bin interleaved -- --same-process   # no child processes
//! cargo run --profile bench -p benches --bin interleaved -- --steady W3 W4 W6 W7 W8 --readme
//! ```
//!
//! `--steady`: each run is instead the workload run [`STEADY_RUNS`] times in a row on
//! one thread, of which only the last counts: every crate's thread-local collector
//! state (heap, free lists, `malloc`'s arenas) carries over from run to run, as in a
//! program that builds and drops such structures again and again. The criterion
//! benchmark and the default table start each run from fresh collector state, which
//! hides what the earlier runs leave behind (before 7a7231a, gc-core's W7 release
//! took ~17 ms in a fresh heap and 30-80 ms in the eighth run on one heap). Its
//! table goes between the `steady` markers of `benches/README.md`.
//!
//! Full sizes; W2, W4 and W7 probed in a child process first as in the criterion
//! benchmark (a crate that overflows W2's 2 MiB stack is skipped, one that overflows
//! 8 MiB on W4 or W7 runs on 1 GiB); everything but W2 runs on at least 256 MiB
//! (see `room`). Prints a markdown table: per cell the
//! median ns per object over the rounds, the median per-round ratio to gc-core
//! (above 1×: gc-core is faster) and the lowest and highest per-round ratio.

use std::fmt::Write as _;
use std::time::Duration;

use benches::probe::{self, choose_stack, Stack};
use benches::{Workload, CRATES};

const START: &str = "<!-- interleaved:start -->";
const END: &str = "<!-- interleaved:end -->";
const STEADY_START: &str = "<!-- steady:start -->";
const STEADY_END: &str = "<!-- steady:end -->";

/// With `--steady`, how many times each run repeats the workload on one thread (the
/// last one timed). By the eighth run gc-core's W7 release had slowed 2-4x before
/// 7a7231a; the peers' W7 times we followed run by run (rust-gc, rust-cc, `Rc`)
/// settled within three to four runs.
const STEADY_RUNS: usize = 8;

/// One timed phase of one workload: the criterion group it matches.
struct Row {
    group: String,
    objects: u64,
    /// Per crate (`CRATES` order), or why the crate does not run.
    cells: Vec<Result<Cell, String>>,
}

/// One crate's measurements of one phase.
struct Cell {
    /// The crate's time in each of its runs.
    times: Vec<Duration>,
    /// A peer's: gc-core's time in the run paired with each of `times` (empty for
    /// gc-core itself, whose `times` are all its runs).
    ours: Vec<Duration>,
    /// Whether it ran on the 1 GiB fallback stack.
    big: bool,
}

fn main() {
    if probe::child_main() {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let readme = args.iter().any(|a| a == "--readme");
    let same_process = args.iter().any(|a| a == "--same-process");
    let steady = args.iter().any(|a| a == "--steady");
    let rounds: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5).max(1);
    let filters: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--") && a.parse::<usize>().is_err())
        .collect();
    let exe = std::env::current_exe().expect("path of this binary");
    let load_before = load_average();

    let mut rows = Vec::new();
    for w in Workload::ALL {
        if !(filters.is_empty() || filters.iter().any(|f| w.name().contains(f))) {
            continue;
        }
        let size = w.default_size();
        let stacks: Vec<Stack> = CRATES
            .iter()
            .map(|e| choose_stack(&exe, e, w, size))
            .collect();
        let phases = w.phases();
        // Per phase and peer: the peer's times, and gc-core's time in the run paired
        // with each (gc-core's own cell is all of those runs, gathered below).
        let mut times = vec![vec![Vec::new(); CRATES.len()]; phases.len()];
        let mut ours_paired = vec![vec![Vec::new(); CRATES.len()]; phases.len()];
        let measure = |i: usize| {
            let Stack::Run { bytes, .. } = stacks[i] else {
                unreachable!("only crates that run are measured (gc-core runs every workload)")
            };
            // Twice in a row, the first run discarded: the second finds the
            // allocator as this crate's own previous run left it, as each
            // criterion iteration after the first does.
            let stack = room(w, bytes);
            if steady {
                if same_process {
                    CRATES[i].run_repeated_on_thread(w, size, stack, STEADY_RUNS)
                } else {
                    probe::run_repeated_in_child(&exe, CRATES[i].id, w, size, stack, STEADY_RUNS)
                }
            } else if same_process {
                CRATES[i].run_on_thread(w, size, stack);
                CRATES[i].run_on_thread(w, size, stack)
            } else {
                probe::run_in_child(&exe, CRATES[i].id, w, size, stack)
            }
        };
        for round in 0..rounds {
            for k in 0..CRATES.len() - 1 {
                // The peers in a rotating order, each right next to a run of
                // gc-core (before it in even rounds, after it in odd ones).
                let i = 1 + (round + k) % (CRATES.len() - 1);
                if matches!(stacks[i], Stack::Skip { .. }) {
                    continue;
                }
                let (ours, peer) = if round % 2 == 0 {
                    let ours = measure(0);
                    (ours, measure(i))
                } else {
                    let peer = measure(i);
                    (measure(0), peer)
                };
                for (p, (o, d)) in ours.into_iter().zip(peer).enumerate() {
                    ours_paired[p][i].push(o);
                    times[p][i].push(d);
                }
            }
            eprintln!("{}: round {} of {rounds} done", w.name(), round + 1);
        }
        for (p, phase) in phases.iter().enumerate() {
            times[p][0] = ours_paired[p].concat();
            let group = match phases.len() {
                1 => w.name().to_string(),
                _ => format!("{}_{phase}", w.name()),
            };
            let cells = stacks
                .iter()
                .zip(times[p].iter().zip(&ours_paired[p]))
                .map(|(stack, (t, o))| match stack {
                    Stack::Run { big, .. } => Ok(Cell {
                        times: t.clone(),
                        ours: o.clone(),
                        big: *big,
                    }),
                    Stack::Skip { note } => Err(note.clone()),
                })
                .collect();
            rows.push(Row {
                group,
                objects: w.objects(size),
                cells,
            });
        }
    }

    let table = table(&rows, rounds, same_process, steady, &load_before);
    println!("{table}");
    if readme {
        if steady {
            write_readme(&table, STEADY_START, STEADY_END);
        } else {
            write_readme(&table, START, END);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The stack to run on: W2's own 2 MiB (its point), otherwise at least 256 MiB. A
/// crate that passed its probe on 8 MiB overflowed W7 in a later in-process run
/// (its recursion depth varies from run to run); the size of a stack does not
/// change the speed of what runs on it (untouched pages cost nothing).
fn room(w: Workload, probed: usize) -> usize {
    if w == Workload::W2ChainDrop {
        probed
    } else {
        probed.max(256 << 20)
    }
}

/// Three significant digits, as `benches/report.py` writes them.
fn ns(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0} ns")
    } else if x >= 0.001 {
        let decimals = (2 - x.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$} ns")
    } else {
        format!("{x:.1e} ns")
    }
}

fn table(
    rows: &[Row],
    rounds: usize,
    same_process: bool,
    steady: bool,
    load_before: &str,
) -> String {
    let mut out = String::new();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let finished = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(
        out,
        "- Finished {finished}; commit {commit}; {rounds} rounds, {}{}; load average (1/5/15 min) before {load_before}, after {}",
        if same_process {
            "every crate in this one process"
        } else {
            "each crate's runs in a fresh process"
        },
        if steady {
            format!("; each run the workload {STEADY_RUNS} times on one thread, the last timed")
        } else {
            String::new()
        },
        load_average()
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Cell = median over the runs of the timed part ÷ objects = **ns per object** (gc-core: all its runs, one next to each peer's), then (median of the peer's time ÷ the paired gc-core run's, lowest–highest): above 1× gc-core is faster."
    );
    let _ = writeln!(out);
    let _ = write!(out, "| criterion group |");
    for e in CRATES {
        let _ = write!(out, " {} |", e.name);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "|---|{}", "---|".repeat(CRATES.len()));
    for row in rows {
        let _ = write!(out, "| `{}` |", row.group);
        for (i, cell) in row.cells.iter().enumerate() {
            match cell {
                Err(note) => {
                    let _ = write!(out, " {note} |");
                }
                Ok(Cell {
                    times: t,
                    ours,
                    big,
                }) => {
                    let per_object = median(
                        t.iter()
                            .map(|d| d.as_nanos() as f64 / row.objects as f64)
                            .collect(),
                    );
                    if i == 0 {
                        let _ = write!(out, " {} |", ns(per_object));
                        continue;
                    }
                    let ratios: Vec<f64> = t
                        .iter()
                        .zip(ours)
                        .map(|(p, o)| p.as_secs_f64() / o.as_secs_f64())
                        .collect();
                    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = ratios.iter().copied().fold(0.0, f64::max);
                    let _ = write!(
                        out,
                        " {} ({:.2}×, {lo:.2}–{hi:.2}){} |",
                        ns(per_object),
                        median(ratios),
                        if *big { " ‡" } else { "" }
                    );
                }
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "\n‡ overflowed the 8 MiB stack in a probe run, measured on a 1 GiB stack."
    );
    out
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Replaces what lies between the markers `start` and `end` of `benches/README.md`
/// with `table`.
fn write_readme(table: &str, start: &str, end: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let text = std::fs::read_to_string(path).expect("read benches/README.md");
    let (Some(a), Some(b)) = (text.find(start), text.find(end)) else {
        panic!("benches/README.md has no {start} … {end} section");
    };
    let new = format!("{}{start}\n{table}{}", &text[..a], &text[b..]);
    std::fs::write(path, new).expect("write benches/README.md");
    eprintln!("wrote the interleaved table to {path}");
}
