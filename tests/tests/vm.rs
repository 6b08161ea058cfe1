//! The VM example's results, and the "interpreter in interpreter" check: many
//! independent heaps created and torn down leave the process's memory where it was.

use minivm::{broken, Vm};

#[test]
fn workload_collects_everything_and_shutdown_reports_no_leak() {
    let mut vm = Vm::new();
    let rounds = if cfg!(miri) { 3 } else { 40 };
    let summary = vm.run_workload(rounds, 10, |_| {});
    assert!(summary.created > rounds * 10);
    // Every other class has __del__: each of its instances is finalized exactly once,
    // by the end of shutdown.
    let report = vm.teardown();
    assert!(report.leaks.is_empty(), "{}", report.leaks);
    assert_eq!(vm.stats.dels.get(), rounds.div_ceil(2) * 10);
    // Every class was watched by a weak reference with a callback.
    assert_eq!(vm.stats.callbacks.get(), rounds);
    assert_eq!(vm.heap.tracked_count(), 0);
    // Exit hooks ran last-registered-first.
    assert_eq!(
        *vm.stats.exit_log.borrow(),
        [
            "cleared sys.modules (0 modules: )",
            "registered first, ran last"
        ]
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "leaks a cycle past shutdown by design, which Miri's leak check rejects"
)]
fn broken_native_type_leaks_and_the_report_names_it() {
    let mut vm = Vm::new();
    broken::define_buffer_type(&vm);
    assert_eq!(
        vm.heap.collect().collected,
        0,
        "the missed visit keeps the cycle alive"
    );
    let dot = std::env::temp_dir().join(format!("minivm-leak-{}.dot", std::process::id()));
    let diagnosis = vm.diagnose(&dot).unwrap();
    assert_eq!(
        diagnosis.culprit,
        Some("minivm::broken::NativeBuffer"),
        "{}",
        diagnosis.audit
    );
    let picture = std::fs::read_to_string(&dot).unwrap();
    std::fs::remove_file(&dot).unwrap();
    assert!(picture.starts_with("digraph"), "{picture}");
    assert!(
        picture.contains("NativeBuffer") && picture.contains("Buffer"),
        "{picture}"
    );
    assert!(
        diagnosis.picture.0 >= 4,
        "type, its module and dict, the instance: {:?}",
        diagnosis.picture
    );
    assert!(diagnosis.why_alive.is_some());
    let report = vm.teardown();
    assert!(
        report.leaks.of_type("NativeBuffer").count() == 1,
        "{}",
        report.leaks
    );
    // The type object is held by a reference no traversal reports: the buffer's.
    let roots: Vec<_> = report
        .leaks
        .objects()
        .iter()
        .filter(|o| o.untraversed_refs() > 0)
        .collect();
    assert_eq!(roots.len(), 1, "{}", report.leaks);
    assert!(roots[0].type_name.ends_with("Object"));
}
