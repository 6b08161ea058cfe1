//! Criterion benchmarks: one group per workload row, every crate on the same
//! workload function in the same group.
//!
//! ```sh
//! cargo bench -p benches                    # full sizes (peer-benchmarks.md)
//! BENCH_QUICK=1 cargo bench -p benches      # sizes ÷ 100, short times: a smoke run
//! cargo bench -p benches -- W4_big_ring     # one group (criterion's regex filter)
//! ```
//!
//! Each iteration runs the whole workload on a fresh thread (fresh thread-local
//! collector state, like the fresh process per run of `peer-benchmarks.md`) and
//! reports only its timed phase, through `iter_custom`: building a ring or a tree is
//! never timed.
//!
//! Criterion picks an iteration count from the timed part alone, and for some cells
//! (W5 for `Rc`, whose 10 "collections" do nothing) the untimed setup is a million
//! times longer than the timed part. So one call runs real iterations only until
//! [`budget`] of wall time has passed (at least one) and scales the summed time to
//! the requested count: the mean per iteration is what was measured.
//!
//! Stacks: W2 runs on 2 MiB, everything else on 8 MiB. For W2, W4 and W7 each crate
//! is first run once in a child process (a stack overflow aborts the process, so it
//! never happens in this one): a crate that overflows 8 MiB runs on 1 GiB with
//! `(1GiB stack)` in its bench id; one that overflows W2's 2 MiB is skipped and
//! recorded as "stack overflow" for `benches/report.py`.
//!
//! W9 (multi-threaded churn, `benches::mt`) is one group, `W9_mt_churn`, with the
//! thread count as criterion's parameter (`W9_mt_churn/<crate>/<threads>`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use benches::mt::{MtEntry, MtRun, MT_CRATES, W9_OPS, W9_THREADS};
use benches::probe::{self, choose_stack, Stack};
use benches::{Workload, CRATES};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use regex::Regex;

/// How big the workloads are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    /// `peer-benchmarks.md` sizes.
    Full,
    /// `BENCH_QUICK=1`: sizes ÷ 100.
    Quick,
    /// Criterion's test mode (`cargo test --benches`, `-- --test`): each benchmark
    /// runs once, so use the smoke-test sizes.
    Test,
}

impl Scale {
    fn size(self, w: Workload) -> usize {
        match self {
            Scale::Full => w.default_size(),
            Scale::Quick => w.quick_size(),
            Scale::Test => w.test_size(),
        }
    }

    /// W9's total operation count.
    fn w9_ops(self) -> usize {
        match self {
            Scale::Full => W9_OPS,
            Scale::Quick => W9_OPS / 100,
            Scale::Test => 2_000,
        }
    }
}

/// Wall time one `iter_custom` call may spend on real iterations (at least one).
fn budget(scale: Scale) -> Duration {
    match scale {
        Scale::Full => Duration::from_millis(300),
        _ => Duration::from_millis(50),
    }
}

fn main() {
    if probe::child_main() {
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let scale = if !has("--bench") || has("--test") {
        Scale::Test
    } else if quick {
        Scale::Quick
    } else {
        Scale::Full
    };
    let listing = has("--list");

    let mut criterion = Criterion::default().sample_size(10);
    criterion = match scale {
        Scale::Full => criterion
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_secs(3)),
        _ => criterion
            .warm_up_time(Duration::from_millis(50))
            .measurement_time(Duration::from_millis(500))
            .without_plots(),
    };
    let mut criterion = criterion.configure_from_args();
    let filter = Filter::from_args(&args[1..]);
    let exe = std::env::current_exe().expect("path of the bench binary");

    eprintln!("gc-benches: {scale:?} sizes; stack probes for W2, W4, W7 in child processes");
    for w in Workload::ALL {
        let size = scale.size(w);
        let groups: Vec<String> = w
            .phases()
            .iter()
            .map(|phase| match w.phases().len() {
                1 => w.name().to_string(),
                _ => format!("{}_{phase}", w.name()),
            })
            .collect();
        for e in CRATES {
            let selected = groups.iter().any(|g| filter.matches_crate(g, e.id));
            if !selected {
                continue;
            }
            let stack = if listing {
                Stack::Run {
                    bytes: w.stack(),
                    big: false,
                }
            } else {
                choose_stack(&exe, e, w, size)
            };
            for (phase, group) in groups.iter().enumerate() {
                if !filter.matches_crate(group, e.id) {
                    continue;
                }
                let id = match &stack {
                    Stack::Skip { note } => {
                        eprintln!("{group}/{}: skipped: {note}", e.id);
                        write_note(group, e.id, Some(note));
                        continue;
                    }
                    Stack::Run { big: true, .. } => format!("{} (1GiB stack)", e.id),
                    Stack::Run { big: false, .. } => e.id.to_string(),
                };
                write_note(group, e.id, None);
                let Stack::Run { bytes, .. } = stack else {
                    unreachable!()
                };
                let mut g = criterion.benchmark_group(group.as_str());
                g.sampling_mode(SamplingMode::Flat);
                g.throughput(Throughput::Elements(w.objects(size)));
                let entry = *e;
                let budget = budget(scale);
                g.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        let wall = Instant::now();
                        let (mut done, mut timed) = (0u64, Duration::ZERO);
                        while done < iters {
                            timed += entry.run_on_thread(w, size, bytes)[phase];
                            done += 1;
                            if wall.elapsed() >= budget {
                                break;
                            }
                        }
                        scale_to(timed, done, iters)
                    });
                });
                g.finish();
            }
        }
    }
    bench_w9(&mut criterion, &filter, scale);
    criterion.final_summary();
}

/// W9 mt_churn (`benches::mt`): group `W9_mt_churn`, bench id `<crate>/<threads>`.
/// gc-core must free every node (checked); `Arc` leaks its cycles and a peer may
/// leave nodes unfreed: both are counted and recorded for `benches/report.py` in
/// `target/criterion/W9_mt_churn/notes/<crate>_<threads>.unfreed`.
fn bench_w9(criterion: &mut Criterion, filter: &Filter, scale: Scale) {
    const GROUP: &str = "W9_mt_churn";
    let ops = scale.w9_ops();
    for e in MT_CRATES {
        for threads in W9_THREADS {
            if !filter.matches_id(&format!("{GROUP}/{}/{threads}", e.id)) {
                continue;
            }
            let mut g = criterion.benchmark_group(GROUP);
            g.sampling_mode(SamplingMode::Flat);
            g.throughput(Throughput::Elements((ops / threads * threads) as u64));
            let entry: MtEntry = *e;
            let budget = budget(scale);
            let mut tally = Unfreed::default();
            g.bench_with_input(BenchmarkId::new(e.id, threads), &threads, |b, &threads| {
                b.iter_custom(|iters| {
                    let wall = Instant::now();
                    let (mut done, mut timed) = (0u64, Duration::ZERO);
                    while done < iters {
                        let run = (entry.run)(threads, ops);
                        if entry.id.starts_with("gc-core") || !entry.collects_cycles {
                            (entry.check)(&run, threads);
                        }
                        tally.add(&run);
                        timed += run.elapsed;
                        done += 1;
                        if wall.elapsed() >= budget {
                            break;
                        }
                    }
                    scale_to(timed, done, iters)
                });
            });
            g.finish();
            if scale != Scale::Test {
                tally.record(GROUP, &entry, threads);
            }
        }
    }
}

/// Nodes a W9 cell left unfreed (or freed beyond its own: a peer may free an
/// earlier run's leftovers), over its runs.
#[derive(Default)]
struct Unfreed {
    runs: u64,
    runs_short: u64,
    max: u64,
    total: u64,
    created: u64,
    runs_over: u64,
}

impl Unfreed {
    fn add(&mut self, run: &MtRun) {
        let short = run.created.saturating_sub(run.freed);
        self.runs += 1;
        self.runs_short += u64::from(short > 0);
        self.runs_over += u64::from(run.freed > run.created);
        self.max = self.max.max(short);
        self.total += short;
        self.created += run.created;
    }

    /// Writes (or clears) the cell's note; prints it.
    fn record(&self, group: &str, e: &MtEntry, threads: usize) {
        if self.runs == 0 {
            return;
        }
        let path = criterion_dir()
            .join(group)
            .join("notes")
            .join(format!("{}_{threads}.unfreed", e.id));
        if self.runs_short == 0 && self.runs_over == 0 {
            let _ = std::fs::remove_file(&path);
            return;
        }
        let mut note = format!(
            "{} of {} runs left nodes unfreed{}: mean {:.1}, max {} of {:.0} nodes per run",
            self.runs_short,
            self.runs,
            if e.collects_cycles {
                ""
            } else {
                " (leaked cycles)"
            },
            self.total as f64 / self.runs as f64,
            self.max,
            self.created as f64 / self.runs as f64,
        );
        if self.runs_over > 0 {
            note += &format!(
                "; {} runs freed more nodes than they allocated (an earlier run's)",
                self.runs_over
            );
        }
        eprintln!("{group}/{}/{threads}: {note}", e.id);
        let written = std::fs::create_dir_all(path.parent().expect("notes dir"))
            .and_then(|()| std::fs::write(&path, note));
        if let Err(err) = written {
            eprintln!("could not write {}: {err}", path.display());
        }
    }
}

/// `timed` was spent on `done` iterations; the time `iters` iterations take at that
/// mean.
fn scale_to(timed: Duration, done: u64, iters: u64) -> Duration {
    if done == iters {
        return timed;
    }
    let nanos = timed.as_nanos() * u128::from(iters) / u128::from(done);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Where criterion writes (`$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else the workspace's `target/criterion`).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// Records (or clears) why a cell has no measurement, for `benches/report.py`:
/// `target/criterion/<group>/notes/<crate id>.txt`.
fn write_note(group: &str, crate_id: &str, note: Option<&str>) {
    let dir = criterion_dir().join(group).join("notes");
    let path = dir.join(format!("{crate_id}.txt"));
    match note {
        Some(note) => {
            let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, note));
            if let Err(err) = written {
                eprintln!("could not write {}: {err}", path.display());
            }
        }
        None => {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Criterion's positional filter, so probes run only for benchmarks that will run.
struct Filter {
    regex: Option<Regex>,
    exact: Option<String>,
}

impl Filter {
    /// Criterion options that take a value (so their value is not the filter).
    const WITH_VALUE: &'static [&'static str] = &[
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "-c",
        "--color",
        "--format",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
        "--profile-time",
        "--logfile",
    ];

    fn from_args(args: &[String]) -> Filter {
        let mut positional = None;
        let mut exact = false;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if arg == "--exact" {
                exact = true;
            } else if Filter::WITH_VALUE.contains(&arg.as_str()) {
                args.next();
            } else if !arg.starts_with('-') && positional.is_none() {
                positional = Some(arg.clone());
            }
        }
        match positional {
            None => Filter {
                regex: None,
                exact: None,
            },
            Some(f) if exact => Filter {
                regex: None,
                exact: Some(f),
            },
            // A filter criterion would reject is criterion's to report; select all.
            Some(f) => Filter {
                regex: Regex::new(&f).ok(),
                exact: None,
            },
        }
    }

    /// Whether the benchmark with this full id may run.
    fn matches_id(&self, id: &str) -> bool {
        match (&self.regex, &self.exact) {
            (_, Some(exact)) => id == exact,
            (Some(regex), None) => regex.is_match(id),
            (None, None) => true,
        }
    }

    /// Whether `group/<crate id>` (with or without the 1 GiB mark) may run.
    fn matches_crate(&self, group: &str, crate_id: &str) -> bool {
        let ids = [
            format!("{group}/{crate_id}"),
            format!("{group}/{crate_id} (1GiB stack)"),
        ];
        match (&self.regex, &self.exact) {
            (_, Some(exact)) => ids.iter().any(|id| id == exact),
            (Some(regex), None) => ids.iter().any(|id| regex.is_match(id)),
            (None, None) => true,
        }
    }
}
