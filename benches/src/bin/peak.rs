//! Runs one workload once for one crate and prints the process's peak resident set
//! size (`VmHWM` of `/proc/self/status`, read at the end of the run; the same figure
//! as GNU `time -f %M`). `benches/peak.sh` runs it for every workload × crate.
//!
//! ```sh
//! peak <crate id> <workload> [--size N] [--stack BYTES]   # W1–W8, e.g. `peak gc-core W4_big_ring`
//! peak <crate id> W9_mt_churn --threads T [--size OPS]     # W9, e.g. `peak dumpster-sync W9_mt_churn --threads 2`
//! ```
//!
//! Output, one line: `peak_kib=<KiB> timed_ms=<ms>[ freed=<n> created=<n>]`. A stack
//! overflow aborts the process (the caller reruns on a bigger stack, or reports it).

use std::time::Duration;

use benches::mt::{mt_entry, W9_OPS};
use benches::{entry, on_thread, Workload};

fn usage() -> ! {
    eprintln!(
        "usage: peak <crate id> <workload> [--size N] [--stack BYTES] [--threads T]\n\
         workloads: {} W9_mt_churn",
        Workload::ALL.map(Workload::name).join(" ")
    );
    std::process::exit(2)
}

/// `VmHWM` (peak resident set size) of this process, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("no VmHWM line in /proc/self/status")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(crate_id), Some(workload)) = (args.first(), args.get(1)) else {
        usage()
    };
    let mut size = None;
    let mut stack = None;
    let mut threads = 1;
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        let value: usize = match rest.next().map(|v| v.parse()) {
            Some(Ok(v)) => v,
            _ => usage(),
        };
        match flag.as_str() {
            "--size" => size = Some(value),
            "--stack" => stack = Some(value),
            "--threads" => threads = value,
            _ => usage(),
        }
    }

    if workload == "W9_mt_churn" {
        let Some(e) = mt_entry(crate_id) else { usage() };
        let run = (e.run)(threads, size.unwrap_or(W9_OPS));
        if e.id == "gc-core" || e.id == "Arc" {
            (e.check)(&run, threads);
        }
        println!(
            "peak_kib={} timed_ms={:.1} freed={} created={}",
            peak_kib(),
            ms(run.elapsed),
            run.freed,
            run.created
        );
        return;
    }

    let (Some(e), Some(w)) = (entry(crate_id), Workload::from_name(workload)) else {
        usage()
    };
    let size = size.unwrap_or(w.default_size());
    let run = e.run;
    let phases = on_thread(stack.unwrap_or(w.stack()), move || run(w, size));
    println!(
        "peak_kib={} timed_ms={:.1}",
        peak_kib(),
        ms(phases.iter().sum())
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
