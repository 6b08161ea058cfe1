//! Runs one workload once for a few crates and prints the timed phases (ns per
//! object): a quick check while tuning, not a benchmark.
//!
//! `cargo run --release -p benches --example one -- W6BinaryTrees`

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
        let ours = run::<benches::ours::Ours>(w, size);
        println!("{which}: gc-core {:?}", ours);
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
