//! Stack-overflow probes in a child process.
//!
//! A stack overflow aborts the whole process, so no overflowing case may ever run
//! in-process. Before benchmarking a workload whose recursion depth grows with its
//! size ([`Workload::may_overflow`]), the bench binary re-executes itself with
//! [`PROBE_ENV`] set; the child runs that one workload once for one crate on the
//! given stack and exits. An abort with Rust's "has overflowed its stack" message
//! means [`Probe::StackOverflow`].
//!
//! The same mechanism runs a measurement in a process of its own ([`RUN_ENV`],
//! [`run_in_child`]), so that no other crate's allocations shape the allocator it
//! runs on.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{entry, Entry, Workload, STACK_1_GIB};

/// Environment variable that turns the bench binary into a probe child:
/// `"<crate id>|<workload name>|<size>|<stack bytes>"`.
pub const PROBE_ENV: &str = "GC_BENCHES_PROBE";

/// What a probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The workload ran to the end and its drop checks passed.
    Ok,
    /// The workload overflowed its stack (the child aborted).
    StackOverflow,
    /// The child failed some other way; holds its exit status and stderr.
    Failed(String),
}

/// Environment variable that turns the bench binary into a measuring child: the
/// same `"<crate id>|<workload name>|<size>|<stack bytes>"` as [`PROBE_ENV`]; the
/// child runs the workload twice and prints the second run's phase times
/// ([`run_in_child`]). With a fifth field, `|<runs>`, it runs the workload that many
/// times on one thread instead and prints the last run's
/// ([`run_repeated_in_child`]).
pub const RUN_ENV: &str = "GC_BENCHES_RUN";

/// Prefix of the line a [`RUN_ENV`] child prints: the phase times in nanoseconds,
/// comma-separated.
const PHASES_NS: &str = "phases_ns=";

/// If [`PROBE_ENV`] or [`RUN_ENV`] is set, runs the probe or the measurement it
/// describes and returns `true` (the caller should exit). Call it first thing in the
/// bench binary's `main`.
///
/// # Panics
///
/// If the variable is malformed, or the workload fails its checks (the parent
/// reports that as [`Probe::Failed`], or panics).
pub fn child_main() -> bool {
    for (var, measure) in [(PROBE_ENV, false), (RUN_ENV, true)] {
        let Some(spec) = std::env::var_os(var) else {
            continue;
        };
        let spec = spec.to_string_lossy().into_owned();
        let parts: Vec<&str> = spec.split('|').collect();
        let (id, workload, size, stack, runs) = match parts[..] {
            [id, workload, size, stack] => (id, workload, size, stack, None),
            [id, workload, size, stack, runs] if measure => (
                id,
                workload,
                size,
                stack,
                Some(runs.parse::<usize>().expect("runs")),
            ),
            _ => panic!("{var} must be `crate|workload|size|stack[|runs]`, got {spec:?}"),
        };
        let entry = entry(id).unwrap_or_else(|| panic!("{var}: unknown crate {id:?}"));
        let workload = Workload::from_name(workload)
            .unwrap_or_else(|| panic!("{var}: unknown workload {workload:?}"));
        let size: usize = size.parse().expect("size");
        let stack: usize = stack.parse().expect("stack");
        if let Some(runs) = runs {
            let phases = entry.run_repeated_on_thread(workload, size, stack, runs);
            let ns: Vec<String> = phases.iter().map(|d| d.as_nanos().to_string()).collect();
            println!("{PHASES_NS}{}", ns.join(","));
            return true;
        }
        let first = entry.run_on_thread(workload, size, stack);
        if measure {
            // The first run only warms the process up (code, allocator), as
            // criterion's first iterations do.
            drop(first);
            let phases = entry.run_on_thread(workload, size, stack);
            let ns: Vec<String> = phases.iter().map(|d| d.as_nanos().to_string()).collect();
            println!("{PHASES_NS}{}", ns.join(","));
        }
        return true;
    }
    false
}

/// Runs workload `w` at `size` for crate `crate_id` twice, on a `stack`-byte stack,
/// in a fresh child process of `exe` (a binary whose `main` calls [`child_main`]
/// first), and returns the second run's phase times.
///
/// # Panics
///
/// If the child cannot be started, fails (a failed drop check, a stack overflow) or
/// prints no times.
pub fn run_in_child(
    exe: &Path,
    crate_id: &str,
    w: Workload,
    size: usize,
    stack: usize,
) -> Vec<Duration> {
    phases_from_child(
        exe,
        crate_id,
        w,
        format!("{crate_id}|{}|{size}|{stack}", w.name()),
    )
}

/// Runs workload `w` at `size` for crate `crate_id` `runs` times on one thread (its
/// collector state carried over: `Entry::run_repeated_on_thread`) with a
/// `stack`-byte stack, in a fresh child process of `exe`, and returns the last run's
/// phase times.
///
/// # Panics
///
/// As [`run_in_child`].
pub fn run_repeated_in_child(
    exe: &Path,
    crate_id: &str,
    w: Workload,
    size: usize,
    stack: usize,
    runs: usize,
) -> Vec<Duration> {
    let spec = format!("{crate_id}|{}|{size}|{stack}|{runs}", w.name());
    phases_from_child(exe, crate_id, w, spec)
}

/// Runs the measuring child for `spec` and parses the phase times it printed.
fn phases_from_child(exe: &Path, crate_id: &str, w: Workload, spec: String) -> Vec<Duration> {
    let stdout = child_stdout(exe, RUN_ENV, &spec);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(PHASES_NS))
        .unwrap_or_else(|| {
            panic!(
                "{crate_id} / {}: no {PHASES_NS} line in {stdout:?}",
                w.name()
            )
        });
    line.split(',')
        .map(|n| Duration::from_nanos(n.parse().expect("phase time in ns")))
        .collect()
}

/// Runs `exe` with the environment variable `var` set to `spec` (which names the
/// crate and workload, `|`-separated) and returns what it printed.
///
/// # Panics
///
/// If the child cannot be started or fails; the message holds `spec`, the child's
/// exit status and its stderr.
pub fn child_stdout(exe: &Path, var: &str, spec: &str) -> String {
    let output = Command::new(exe)
        .env(var, spec)
        .output()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", exe.display()));
    assert!(
        output.status.success(),
        "{spec}: child failed: {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs workload `w` at `size` for crate `crate_id` once, on a `stack`-byte stack, in
/// a child process of `exe` (a binary whose `main` calls [`child_main`] first).
pub fn probe(exe: &Path, crate_id: &str, w: Workload, size: usize, stack: usize) -> Probe {
    let output = Command::new(exe)
        .env(PROBE_ENV, format!("{crate_id}|{}|{size}|{stack}", w.name()))
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => return Probe::Failed(format!("could not start {}: {e}", exe.display())),
    };
    if output.status.success() {
        return Probe::Ok;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("has overflowed its stack") {
        Probe::StackOverflow
    } else {
        Probe::Failed(format!("{}: {}", output.status, stderr.trim()))
    }
}

/// The stack a crate runs a workload on, decided by probing ([`choose_stack`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stack {
    /// Run on a `bytes`-byte stack; `big` if that is the 1 GiB fallback.
    Run {
        /// Stack size.
        bytes: usize,
        /// Whether the workload's own stack overflowed and this is 1 GiB.
        big: bool,
    },
    /// Do not run: why (a stack overflow).
    Skip {
        /// What the probes found, for the report.
        note: String,
    },
}

/// Runs `w` once for `e` in a child process on the workload's stack (and on 1 GiB if
/// that overflows) and decides where the benchmark runs.
pub fn choose_stack(exe: &Path, e: &Entry, w: Workload, size: usize) -> Stack {
    let normal = Stack::Run {
        bytes: w.stack(),
        big: false,
    };
    if !w.may_overflow() {
        return normal;
    }
    let mib = w.stack() >> 20;
    match probe(exe, e.id, w, size, w.stack()) {
        Probe::Ok => normal,
        Probe::Failed(why) => panic!("{} / {}: probe run failed: {why}", e.id, w.name()),
        Probe::StackOverflow if w == Workload::W2ChainDrop => {
            // The point of W2 is the 2 MiB stack: an overflow is the result.
            Stack::Skip {
                note: format!("stack overflow ({mib} MiB stack)"),
            }
        }
        Probe::StackOverflow => match probe(exe, e.id, w, size, STACK_1_GIB) {
            Probe::Ok => {
                eprintln!(
                    "{} / {}: overflows {mib} MiB, runs on 1 GiB",
                    e.id,
                    w.name()
                );
                Stack::Run {
                    bytes: STACK_1_GIB,
                    big: true,
                }
            }
            Probe::StackOverflow => Stack::Skip {
                note: "stack overflow (1 GiB stack)".into(),
            },
            Probe::Failed(why) => panic!("{} / {}: probe run failed: {why}", e.id, w.name()),
        },
    }
}
