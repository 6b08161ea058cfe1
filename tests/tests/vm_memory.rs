//! "Interpreter in interpreter": many independent heaps created and torn down leave
//! the process's memory where it was. Alone in its test binary, so that no other
//! test's allocations are counted.

use minivm::Vm;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// CPython's subinterpreter leaks, checked: 1,000 interpreters, each running the
/// workload and torn down, leave the process's live memory where it started.
#[test]
fn a_thousand_interpreters_return_memory_to_baseline() {
    let n = if cfg!(miri) { 3 } else { 1_000 };
    // Warm up lazily allocated state (thread-locals, the trashcan) first.
    {
        let mut vm = Vm::new();
        vm.run_workload(2, 5, |_| {});
        vm.teardown();
    }
    let baseline = LIVE.load(Ordering::SeqCst);
    for _ in 0..n {
        let mut vm = Vm::new();
        vm.run_workload(2, 5, |_| {});
        let report = vm.teardown();
        assert!(report.leaks.is_empty());
        drop(vm);
    }
    let after = LIVE.load(Ordering::SeqCst);
    assert_eq!(
        after,
        baseline,
        "{} bytes not returned after {n} interpreters",
        after - baseline
    );
}
