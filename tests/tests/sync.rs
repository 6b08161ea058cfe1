//! The thread-safe flavour: cycles across threads, a randomized multi-thread stress
//! test (every object freed exactly once, all freed at the end), and shutdown's grace
//! period.
#![cfg(not(loom))]

use gc_core::sync::{Gc, Heap};
use gc_core::{Finalize, Traverse};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Counts drops per id: the oracle.
struct DropTable {
    counts: Vec<AtomicU8>,
    next: AtomicUsize,
}

impl DropTable {
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(DropTable {
            counts: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicUsize::new(0),
        })
    }
    fn issued(&self) -> usize {
        self.next.load(Ordering::SeqCst)
    }
    fn dropped(&self) -> usize {
        self.counts
            .iter()
            .filter(|c| c.load(Ordering::SeqCst) > 0)
            .count()
    }
    fn assert_each_once(&self) {
        for (id, c) in self.counts[..self.issued()].iter().enumerate() {
            assert_eq!(
                c.load(Ordering::SeqCst),
                1,
                "object {id} dropped {} times",
                c.load(Ordering::SeqCst)
            );
        }
    }
}

#[derive(Traverse)]
struct SNode {
    refs: Mutex<Vec<Gc<SNode>>>,
    #[traverse(skip)]
    id: usize,
    #[traverse(skip)]
    table: Arc<DropTable>,
}

impl Drop for SNode {
    fn drop(&mut self) {
        self.table.counts[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

fn node(heap: &Heap, table: &Arc<DropTable>) -> Gc<SNode> {
    let id = table.next.fetch_add(1, Ordering::SeqCst);
    heap.alloc(SNode {
        refs: Mutex::new(Vec::new()),
        id,
        table: table.clone(),
    })
}

#[test]
fn cycle_created_linked_and_dropped_on_different_threads_is_collected() {
    let heap = Heap::new();
    heap.disable();
    let table = DropTable::new(2);
    let a = node(&heap, &table);
    let b = std::thread::scope(|s| s.spawn(|| node(&heap, &table)).join().unwrap());
    let (a2, b2) = (a.clone(), b.clone());
    std::thread::spawn(move || {
        a2.read().refs.lock().unwrap().push(b2.clone());
        b2.read().refs.lock().unwrap().push(a2.clone());
    })
    .join()
    .unwrap();
    std::thread::spawn(move || drop(a)).join().unwrap();
    drop(b);
    assert_eq!(table.dropped(), 0);
    assert_eq!(
        std::thread::spawn(move || heap.collect().collected)
            .join()
            .unwrap(),
        2
    );
    table.assert_each_once();
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// dumpster's multiref churn, randomized: threads push new nodes into shared bins,
/// link random nodes of two bins, remove nodes and references; automatic collection
/// is on with low thresholds, so collections stop the world in the middle of it all.
#[test]
fn randomized_multi_thread_churn_frees_everything_exactly_once() {
    const THREADS: usize = if cfg!(miri) { 2 } else { 3 };
    const OPS: usize = if cfg!(miri) { 60 } else { 20_000 };
    const BINS: usize = 8;
    let heap = Heap::new();
    heap.set_threshold(50, 5, 5);
    let table = DropTable::new(THREADS * OPS + BINS * 4);
    let bins: Arc<Vec<Mutex<Vec<Gc<SNode>>>>> =
        Arc::new((0..BINS).map(|_| Mutex::new(Vec::new())).collect());
    for bin in bins.iter() {
        for _ in 0..4 {
            bin.lock().unwrap().push(node(&heap, &table));
        }
    }
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (heap, table, bins) = (heap.clone(), table.clone(), bins.clone());
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                for _ in 0..OPS {
                    let r = xorshift(&mut rng);
                    let (i, j) = ((r >> 8) as usize % BINS, (r >> 16) as usize % BINS);
                    // Bin locks are always taken before the heap lock, never while a
                    // `read` guard is held: one lock order, no deadlock.
                    match r % 4 {
                        0 => {
                            let n = node(&heap, &table);
                            bins[i].lock().unwrap().push(n);
                        }
                        1 => {
                            let from = bins[i].lock().unwrap().get((r >> 24) as usize % 4).cloned();
                            let to = bins[j].lock().unwrap().get((r >> 32) as usize % 4).cloned();
                            if let (Some(from), Some(to)) = (from, to) {
                                from.read().refs.lock().unwrap().push(to);
                            }
                        }
                        2 => {
                            let mut bin = bins[i].lock().unwrap();
                            if !bin.is_empty() {
                                let k = (r >> 24) as usize % bin.len();
                                let removed = bin.swap_remove(k);
                                drop(bin);
                                drop(removed);
                            }
                        }
                        _ => {
                            let n = bins[i].lock().unwrap().first().cloned();
                            if let Some(n) = n {
                                let taken = n.read().refs.lock().unwrap().pop();
                                drop(taken);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(Arc::strong_count(&bins), 1, "workers are done");
    drop(bins);
    while heap.collect().collected > 0 {}
    assert_eq!(
        table.dropped(),
        table.issued(),
        "everything freed at the end"
    );
    table.assert_each_once();
    assert_eq!(heap.tracked_count(), 0);
}

/// CPython's daemon thread killed while holding a buffered writer's lock (seed 000):
/// shutdown waits a bounded grace period, then fails with an error naming the thread.
#[test]
fn shutdown_gives_up_after_the_grace_period_instead_of_hanging() {
    let heap = Heap::new();
    heap.set_grace_period(Duration::from_millis(50));
    let table = DropTable::new(1);
    let n = node(&heap, &table);
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let guard = n.read();
        held_tx.send(std::thread::current().id()).unwrap();
        release_rx.recv().unwrap();
        drop(guard);
        drop(n);
    });
    let holder_id = held_rx.recv().unwrap();
    let err = heap.shutdown().unwrap_err();
    assert_eq!(err.holder, Some(holder_id));
    assert!(
        err.to_string().contains("still holds the heap lock"),
        "{err}"
    );
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let report = heap.shutdown().expect("the lock is free now");
    assert!(report.leaks.is_empty());
    table.assert_each_once();
}

#[test]
fn dropping_the_last_heap_handle_while_another_thread_holds_the_lock_panics_with_the_cause() {
    let heap = Heap::new();
    heap.set_grace_period(Duration::from_millis(20));
    let table = DropTable::new(1);
    let n = node(&heap, &table);
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let guard = n.read();
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        drop(guard);
        n
    });
    held_rx.recv().unwrap();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(heap))).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.contains("heap shutdown gave up"), "{msg}");
    release_tx.send(()).unwrap();
    let n = holder.join().unwrap();
    // The heap was never shut down: the handle still works, and frees on drop.
    assert_eq!(n.read().id, 0);
    drop(n);
    table.assert_each_once();
}

#[derive(Traverse)]
#[traverse(finalize)]
struct Fin {
    me: Mutex<Option<Gc<Fin>>>,
    #[traverse(skip)]
    count: Arc<AtomicUsize>,
}

impl Finalize for Fin {
    fn finalize(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn finalizers_and_weak_references_work_across_threads() {
    let heap = Heap::new();
    heap.disable();
    let count = Arc::new(AtomicUsize::new(0));
    let f = heap.alloc(Fin {
        me: Mutex::new(None),
        count: count.clone(),
    });
    *f.read().me.lock().unwrap() = Some(f.clone());
    let w = Gc::downgrade(&f);
    let w2 = w.clone();
    assert!(std::thread::spawn(move || w2.upgrade().is_some())
        .join()
        .unwrap());
    std::thread::spawn(move || drop(f)).join().unwrap();
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(std::thread::spawn(move || w.upgrade().is_none())
        .join()
        .unwrap());
}

#[test]
fn drops_while_another_thread_reads_are_deferred_not_blocked() {
    let heap = Heap::new();
    let table = DropTable::new(2);
    let a = node(&heap, &table);
    let b = node(&heap, &table);
    let guard = a.read();
    // Another thread drops b while this one holds the lock: it must not block.
    std::thread::spawn(move || drop(b)).join().unwrap();
    assert_eq!(table.dropped(), 0, "deferred until the lock is released");
    drop(guard);
    assert_eq!(table.dropped(), 1);
    drop(a);
    table.assert_each_once();
}

/// `Heap::lock` holds the heap for a stretch of this thread's work: its own
/// operations re-enter the lock; another thread cannot take it, waits to clone, and
/// its drops are queued until the guard goes; shutdown from another thread gives up
/// naming this one.
#[test]
fn a_held_heap_lock_serves_this_thread_and_holds_the_others_off() {
    let heap = Heap::new();
    heap.set_grace_period(Duration::from_millis(20));
    let table = DropTable::new(3);
    let a = node(&heap, &table);
    let b = node(&heap, &table);
    let held = heap.lock();
    let me = std::thread::current().id();
    assert_eq!(heap.lock_holder(), Some(me));

    // This thread: everything re-enters the lock it holds.
    let c = node(&heap, &table);
    a.read().refs.lock().unwrap().push(c.clone());
    assert_eq!(a.read().refs.lock().unwrap().len(), 1);
    assert!(heap.try_lock().is_some(), "re-entrant");
    drop(c);
    assert_eq!(heap.collect().collected, 0);

    let cloned = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // Another thread cannot take it, nor shut the heap down.
        s.spawn(|| {
            assert!(heap.try_lock().is_none());
            let err = heap.shutdown().unwrap_err();
            assert_eq!(err.holder, Some(me));
        })
        .join()
        .unwrap();
        // Its drop returns at once, queued: the object is freed when the guard goes.
        s.spawn(move || drop(b)).join().unwrap();
        assert_eq!(table.dropped(), 0);
        // Its clone waits for the lock.
        let (a, cloned) = (&a, &cloned);
        let waiter = s.spawn(move || {
            let again = a.clone();
            cloned.store(true, Ordering::SeqCst);
            drop(again);
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !cloned.load(Ordering::SeqCst),
            "cloned while the lock was held"
        );
        drop(held);
        waiter.join().unwrap();
        assert!(cloned.load(Ordering::SeqCst));
    });
    assert_eq!(heap.lock_holder(), None);
    assert_eq!(table.dropped(), 1, "b, released by the guard's drop");
    drop(a);
    let report = heap.shutdown().expect("the lock is free");
    assert!(report.leaks.is_empty());
    table.assert_each_once();
}

/// The `gc` module's plain-data functions on a thread-safe heap, from several
/// threads: counts, thresholds, statistics, freezing, exit hooks, shutdown state.
#[test]
fn the_gc_module_functions_work_on_a_thread_safe_heap() {
    let heap = Heap::new();
    heap.disable();
    assert!(!heap.is_enabled());
    heap.set_threshold(500, 7, 3);
    assert_eq!(heap.get_threshold(), (500, 7, 3));
    let table = DropTable::new(4);
    let a = node(&heap, &table);
    let b = node(&heap, &table);
    assert_eq!(heap.get_count().0, 2);
    assert_eq!(heap.generation_len(0), 2);

    // A cycle made on another thread, collected from here.
    std::thread::scope(|s| {
        s.spawn(|| {
            a.read().refs.lock().unwrap().push(b.clone());
            b.read().refs.lock().unwrap().push(a.clone());
        });
    });
    drop((a, b));
    assert_eq!(heap.collect_until_stable(4), 2);
    let stats = heap.get_stats();
    assert_eq!(stats[2].collected, 2);
    assert!(stats[2].collections >= 2, "{stats:?}");

    // Frozen objects are never examined, until unfrozen.
    let c = node(&heap, &table);
    let d = node(&heap, &table);
    c.read().refs.lock().unwrap().push(d.clone());
    d.read().refs.lock().unwrap().push(c.clone());
    heap.freeze();
    assert_eq!(heap.get_freeze_count(), 2);
    drop((c, d));
    assert_eq!(heap.collect().collected, 0);
    heap.unfreeze();
    assert_eq!(heap.get_freeze_count(), 0);
    assert_eq!(heap.collect().collected, 2);
    table.assert_each_once();

    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let hook = heap.at_exit(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert!(heap.cancel_at_exit(hook));
    assert!(!heap.cancel_at_exit(hook));
    assert!(!heap.is_shut_down());
    heap.shutdown().expect("nobody holds the lock");
    assert!(heap.is_shut_down());
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the cancelled hook never ran"
    );
}

/// Collection and garbage callbacks of a thread-safe heap run on whichever thread
/// collects, and may use the heap's handles (re-entering the lock).
#[test]
fn collect_and_garbage_callbacks_run_on_the_collecting_thread() {
    use gc_core::CollectPhase;
    let heap = Heap::new();
    let table = DropTable::new(3);
    let kept = node(&heap, &table);
    let phases = Arc::new(Mutex::new(Vec::new()));
    let garbage = Arc::new(Mutex::new(Vec::new()));
    let (p, k) = (phases.clone(), kept.clone());
    let on_collect = heap.add_collect_callback(move |phase, info| {
        // A handle of the heap, used from inside the collection.
        let refs = k.read().refs.lock().unwrap().len();
        p.lock()
            .unwrap()
            .push((phase, info.collected, refs, std::thread::current().id()));
    });
    let g = garbage.clone();
    let on_garbage = heap.add_garbage_callback(move |objs| {
        g.lock().unwrap().extend(objs.iter().map(|o| o.type_name));
    });
    let a = node(&heap, &table);
    let b = node(&heap, &table);
    a.read().refs.lock().unwrap().push(b.clone());
    b.read().refs.lock().unwrap().push(a.clone());
    drop((a, b));
    let collector = std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(heap.collect().collected, 2);
            std::thread::current().id()
        })
        .join()
        .unwrap()
    });
    assert_eq!(
        *phases.lock().unwrap(),
        [
            (CollectPhase::Start, 0, 0, collector),
            (CollectPhase::Stop, 2, 0, collector)
        ]
    );
    assert_eq!(garbage.lock().unwrap().len(), 2);
    assert!(garbage.lock().unwrap()[0].ends_with("SNode"));
    assert!(heap.remove_collect_callback(on_collect));
    assert!(heap.remove_collect_callback(on_garbage));
    assert!(!heap.remove_collect_callback(on_collect));
    heap.collect();
    assert_eq!(
        phases.lock().unwrap().len(),
        2,
        "removed callbacks are not called"
    );
    drop(kept);
    table.assert_each_once();
}

/// Counts and formatting through a thread-safe handle, from another thread too.
#[test]
fn handles_report_counts_and_format_their_values() {
    let heap = Heap::new();
    let g = heap.alloc(String::from("shared"));
    let w = Gc::downgrade(&g);
    let g2 = g.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!((Gc::strong_count(&g), Gc::weak_count(&g)), (2, 1));
            assert_eq!(
                format!("{} / {:?}", g.read(), g2.read()),
                "shared / \"shared\""
            );
        });
    });
    drop((w, g2));
    assert_eq!((Gc::strong_count(&g), Gc::weak_count(&g)), (1, 0));
}

/// A type-erased handle is a handle: a cycle through one, made on another thread, is
/// collected; a wrong downcast gives it back.
#[test]
fn a_cycle_through_type_erased_handles_is_collected() {
    use gc_core::sync::GcAny;
    let heap = Heap::new();
    let table = DropTable::new(1);
    #[derive(Traverse)]
    struct Holder {
        any: Mutex<Option<GcAny>>,
        #[traverse(skip)]
        _node: SNode,
    }
    let h = heap.alloc(Holder {
        any: Mutex::new(None),
        _node: SNode {
            refs: Mutex::new(Vec::new()),
            id: table.next.fetch_add(1, Ordering::SeqCst),
            table: table.clone(),
        },
    });
    std::thread::scope(|s| {
        s.spawn(|| {
            let any: GcAny = h.clone().into();
            assert!(any.is::<Holder>() && !any.is::<u8>());
            let any = any.downcast::<u8>().unwrap_err();
            *h.read().any.lock().unwrap() = Some(any);
        });
    });
    assert_eq!(Gc::strong_count(&h), 2);
    drop(h);
    assert_eq!(heap.collect().collected, 1);
    table.assert_each_once();
}
