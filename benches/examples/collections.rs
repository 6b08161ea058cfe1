//! Runs one workload once on gc-core and prints what its collections did: each full
//! collection (generation lengths at its start, objects examined and collected, its
//! duration) on stderr, then per-generation totals. A tuning aid, not a benchmark.
//!
//! `cargo run --release -p benches --example collections -- W6BinaryTrees`

use gc_core::{CollectPhase, Heap, GENERATIONS};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Default, Clone, Copy)]
struct Totals {
    collections: usize,
    candidates: usize,
    collected: usize,
}

fn main() {
    let which = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "W6BinaryTrees".into());
    let w = *benches::Workload::ALL
        .iter()
        .find(|w| format!("{w:?}") == which)
        .expect("unknown workload");
    std::thread::Builder::new()
        .stack_size(w.stack().max(64 << 20))
        .spawn(move || {
            let heap = Heap::current();
            let lens = heap.clone();
            let totals = Rc::new(RefCell::new([Totals::default(); GENERATIONS]));
            let t = totals.clone();
            heap.add_collect_callback(move |phase, info| {
                let full = info.generation == GENERATIONS - 1;
                match phase {
                    CollectPhase::Start if full => eprint!(
                        "full collection: generation lengths {} {} {}; ",
                        lens.generation_len(0),
                        lens.generation_len(1),
                        lens.generation_len(2)
                    ),
                    CollectPhase::Start => {}
                    CollectPhase::Stop => {
                        let e = &mut t.borrow_mut()[info.generation];
                        e.collections += 1;
                        e.candidates += info.candidates;
                        e.collected += info.collected;
                        if full {
                            eprintln!(
                                "examined {}, collected {}, {:?}",
                                info.candidates, info.collected, info.duration
                            );
                        }
                    }
                }
            });
            let timed = benches::run::<benches::ours::Ours>(w, w.default_size());
            println!("{which}: timed phases {timed:?}");
            for (g, t) in totals.borrow().iter().enumerate() {
                println!(
                    "generation {g}: {} collections, {} examined, {} collected",
                    t.collections, t.candidates, t.collected
                );
            }
        })
        .expect("spawn")
        .join()
        .expect("the workload panicked");
}
