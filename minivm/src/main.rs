//! The main job: run the scripted workload on a small VM, print what the collector
//! did, tear the interpreter down; then do it again with one broken native type and
//! show how the leak is found.
//!
//! `cargo run --release -p minivm` (add `-- --rounds N` to change the size).

use minivm::{broken, Vm};

fn main() {
    let rounds = std::env::args()
        .skip_while(|a| a != "--rounds")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let per_round = 50;

    println!("== Phase 1: a VM with heap types, modules, functions, bound methods, __del__ and weakref callbacks");
    let mut vm = Vm::new();
    println!("   {rounds} rounds x {per_round} instances; every round becomes cyclic garbage when its module is dropped");
    println!();
    println!(
        "   {:>6} | {:>8} | {:>22} | {:>22} | {:>22}",
        "round",
        "tracked",
        "gen 0 colls/collected",
        "gen 1 colls/collected",
        "gen 2 colls/collected"
    );
    let every = (rounds / 8).max(1);
    let mut round = 0;
    let summary = vm.run_workload(rounds, per_round, |vm| {
        round += 1;
        if round % every == 0 || round == rounds {
            let s = vm.heap.get_stats();
            println!(
                "   {:>6} | {:>8} | {:>22} | {:>22} | {:>22}",
                round,
                vm.heap.tracked_count(),
                format!("{} / {}", s[0].collections, s[0].collected),
                format!("{} / {}", s[1].collections, s[1].collected),
                format!("{} / {}", s[2].collections, s[2].collected),
            );
        }
    });
    println!();
    println!(
        "   created {} objects; automatic collections freed {}; __del__ ran {} times; weakref callbacks ran {} times",
        summary.created,
        summary.collected,
        vm.stats.dels.get(),
        vm.stats.callbacks.get()
    );

    println!();
    println!("== Phase 2: interpreter shutdown");
    let report = vm.teardown();
    for line in vm.stats.exit_log.borrow().iter() {
        println!("   exit hook: {line}");
    }
    println!(
        "   {} collections at shutdown freed {} objects; __del__ ran {} times in all",
        report.collections,
        report.collected,
        vm.stats.dels.get()
    );
    print!("   {}", report.leaks);
    assert!(report.leaks.is_empty(), "the correct VM must not leak");

    println!();
    println!("== Phase 3: the same VM with one broken native type (its traverse forgets its type)");
    let mut vm = Vm::new();
    vm.run_workload(rounds / 10 + 1, per_round, |_| {});
    broken::define_buffer_type(&vm);
    let stats = vm.heap.collect();
    println!(
        "   defined `Buffer`, dropped its module; a full collection freed {} objects, {} still tracked",
        stats.collected,
        vm.heap.tracked_count()
    );
    let dot = std::path::Path::new("leak.dot");
    let diagnosis = vm.diagnose(dot).expect("cannot write leak.dot");
    println!();
    println!("   gc-debug audit (the interpreter's own roots named):");
    for line in diagnosis.audit.lines() {
        println!("     {line}");
    }
    if let Some(why) = &diagnosis.why_alive {
        println!("   why is it alive?");
        for line in why.lines() {
            println!("     {line}");
        }
    }
    println!(
        "   wrote the leaked subgraph ({} objects, {} references) to {}; render it with: dot -Tsvg leak.dot -o leak.svg",
        diagnosis.picture.0,
        diagnosis.picture.1,
        dot.display()
    );
    println!();
    println!("   interpreter shutdown:");
    let report = vm.teardown();
    for line in vm.stats.exit_log.borrow().iter() {
        println!("   exit hook: {line}");
    }
    print!("   {}", report.leaks);
}
