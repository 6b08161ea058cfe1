//! Runs one workload once for one crate and prints the process's peak resident set
//! size (`VmHWM` of `/proc/self/status`, read at the end of the run; the same figure
//! as GNU `time -f %M`). `benches/peak.sh` runs it for every workload × crate.
//!
//! ```sh
//! peak <crate id> <workload> [--size N] [--stack BYTES]   # W1–W8, e.g. `peak gc-core W4_big_ring`
//! peak <crate id> W9_mt_churn --threads T [--size OPS]     # W9, e.g. `peak dumpster-sync W9_mt_churn --threads 2`
//! ```
//!
//! Output, one line: `peak_kib=<KiB> start_kib=<KiB> timed_ms=<ms>[ freed=<n> created=<n>]`
//! (`start_kib`: the resident set before the workload). A stack overflow aborts the
//! process (the caller reruns on a bigger stack, or reports it).
//!
//! Before anything else the binary reads one byte of every page of its file mappings
//! (itself and its libraries), so that all of them are resident whichever crate runs:
//! without that, the file pages a run happened to fault in varied by ±0.2 MiB from run
//! to run (one `Rc` leaf: 2.36-2.68 MiB), more than the smaller workloads' own memory.
//! With it, every crate starts at the same resident set to the page, and the peaks
//! differ by what the workloads hold.
//!
//! `--young-threshold N` (gc-core only, W1-W8) runs the workload with the thread's
//! default heap's threshold 0 set to `N` instead of CPython's 2,000.

use std::time::Duration;

use benches::mt::{mt_entry, W9_OPS};
use benches::{entry, on_thread, Workload};

fn usage() -> ! {
    eprintln!(
        "usage: peak <crate id> <workload> [--size N] [--stack BYTES] [--threads T] \
         [--young-threshold N]\n\
         workloads: {} W9_mt_churn",
        Workload::ALL.map(Workload::name).join(" ")
    );
    std::process::exit(2)
}

/// A line of `/proc/self/status` in KiB: `VmHWM:` is the peak resident set size (the
/// figure GNU `time -f %M` reports), `VmRSS:` the current one.
fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} line in /proc/self/status"))
}

/// Reads one byte of every page of every readable file mapping of the process (the
/// binary and its shared libraries), so that they are all resident.
fn prefault_file_pages() {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("reading /proc/self/maps");
    for line in maps.lines() {
        // address-range perms offset device inode [path]; inode 0: anonymous.
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(range), Some(perms), Some(inode)) = (f.first(), f.get(1), f.get(4)) else {
            continue;
        };
        if !perms.starts_with('r') || *inode == "0" {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        for addr in (start..end).step_by(4096) {
            // Why this is sound: `addr` lies in a readable mapping of this process
            // (the kernel's own list just read), which nothing unmaps meanwhile: this
            // runs on the main thread before any other thread exists. A file
            // mapping's pages are within its file (the loader maps no page past a
            // file's end; `.bss` is anonymous and skipped), so the read does not
            // fault with SIGBUS.
            // SAFETY: the guarantees just stated.
            unsafe { std::ptr::read_volatile(std::ptr::with_exposed_provenance::<u8>(addr)) };
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(crate_id), Some(workload)) = (args.first(), args.get(1)) else {
        usage()
    };
    prefault_file_pages();
    let start = status_kib("VmRSS:");
    let mut size = None;
    let mut stack = None;
    let mut threads = 1;
    let mut young_threshold = None;
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
            "--young-threshold" if crate_id == "gc-core" => young_threshold = Some(value),
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
            "peak_kib={} start_kib={start} timed_ms={:.1} freed={} created={}",
            status_kib("VmHWM:"),
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
    let phases = on_thread(stack.unwrap_or(w.stack()), move || {
        if let Some(t0) = young_threshold {
            let (_, t1, t2) = gc_core::get_threshold();
            gc_core::set_threshold(t0, t1, t2);
        }
        run(w, size)
    });
    println!(
        "peak_kib={} start_kib={start} timed_ms={:.1}",
        status_kib("VmHWM:"),
        ms(phases.iter().sum())
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
