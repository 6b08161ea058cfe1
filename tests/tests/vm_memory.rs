//! "Interpreter in interpreter": many independent heaps created and torn down leave
//! the process's memory where it was. Alone in its test binary, so that no other
//! test's allocations are counted.

use minivm::Vm;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Counts the live heap bytes of the threads that ask for it (`COUNTED`): the test
/// harness's own threads allocate meanwhile (their buffers grew by 900 bytes during
/// the test in some runs on a loaded machine), and those are not the heaps' memory.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static COUNTED: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

fn count(bytes: isize) {
    // `try_with`: allocations can happen while thread-locals are being destroyed.
    if COUNTED.try_with(core::cell::Cell::get).unwrap_or(false) {
        LIVE.fetch_add(bytes, Ordering::SeqCst);
    }
}

// SAFETY: forwards to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
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
    // Everything the interpreters allocate and free happens on this thread.
    COUNTED.with(|c| c.set(true));
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
