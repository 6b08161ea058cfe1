//! What holding a thread-safe heap's lock (`gc_core::sync::Heap::lock`) saves on
//! single handle operations: each operation without it takes and releases the lock
//! (two atomic compare-and-swaps), under it re-enters with a counter. The
//! single-threaded `gc_core::Gc` is the reference (no lock at all).
//!
//! ```sh
//! cargo bench -p benches --bench sync_lock
//! ```

use criterion::{black_box, Criterion};

fn sync_lock(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync_lock");
    let heap = gc_core::sync::Heap::new();
    let x = heap.alloc(7u64);
    g.bench_function("clone_drop/unlocked", |b| {
        b.iter(|| drop(black_box(x.clone())))
    });
    g.bench_function("clone_drop/held", |b| {
        let _held = heap.lock();
        b.iter(|| drop(black_box(x.clone())));
    });
    g.bench_function("read/unlocked", |b| b.iter(|| *black_box(&x).read()));
    g.bench_function("read/held", |b| {
        let _held = heap.lock();
        b.iter(|| *black_box(&x).read());
    });
    let local = gc_core::Heap::new();
    let y = local.alloc(7u64);
    g.bench_function("clone_drop/single-threaded Gc", |b| {
        b.iter(|| drop(black_box(y.clone())));
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    sync_lock(&mut c);
    c.final_summary();
}
