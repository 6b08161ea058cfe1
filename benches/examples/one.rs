//! Runs one workload once for a few crates and prints the timed phases (ns per
//! object): a quick check while tuning, not a benchmark.
//!
//! `cargo run --release -p benches --example one -- W6BinaryTrees`
//! `ONLY_OURS=1 ROUNDS=6 cargo run --release -p benches --example one -- W7RandomGraph`
//! (gc-core only, `ROUNDS` runs, each on a fresh thread; default 6)

use benches::{run, Workload};

fn main() {
    let which = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "W1AcyclicChurn".into());
    let w = Workload::ALL
        .iter()
        .copied()
        .find(|w| format!("{w:?}") == which)
        .expect("unknown workload");
    let stack = w.stack().max(64 << 20);
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || go(w, which))
        .unwrap()
        .join()
        .unwrap();
}

fn go(w: Workload, which: String) {
    let size = w.default_size();
    let objects = w.objects(size) as f64;
    if std::env::var_os("ONLY_OURS").is_some() {
        let rounds: usize = std::env::var("ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(6);
        for _ in 0..rounds {
            // A fresh thread per round, as in the benchmark: fresh collector state.
            let ours = std::thread::Builder::new()
                .stack_size(w.stack().max(64 << 20))
                .spawn(move || run::<benches::ours::Ours>(w, size))
                .unwrap()
                .join()
                .unwrap();
            println!("{which}: gc-core {:?}", ours);
        }
        return;
    }
    for round in 0..3 {
        let ours = run::<benches::ours::Ours>(w, size);
        let rc = run::<benches::rc::Rc>(w, size);
        let cc = run::<benches::rust_cc::RustCc>(w, size);
        let ns = |p: &[std::time::Duration]| {
            p.iter()
                .map(|d| d.as_nanos() as f64 / objects)
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "{which} round {round}: gc-core {} | Rc {} | rust-cc {}",
            ns(&ours),
            ns(&rc),
            ns(&cc)
        );
    }
}
