//! loom models of the thread-safe heap: one race each, explored over every
//! interleaving (up to the preemption bound). Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p gc-tests --test loom`.
#![cfg(loom)]

use gc_core::sync::{Gc, Heap};
use gc_core::Traverse;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::sync::Mutex;

#[derive(Traverse)]
struct Node {
    next: Mutex<Option<Gc<Node>>>,
    #[traverse(skip)]
    drops: Arc<AtomicUsize>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn heap() -> Heap {
    let h = Heap::new();
    h.disable();
    h
}

fn node(heap: &Heap, drops: &Arc<AtomicUsize>) -> Gc<Node> {
    heap.alloc(Node {
        next: Mutex::new(None),
        drops: drops.clone(),
    })
}

/// a <-> b, returns a handle to each.
fn pair(heap: &Heap, drops: &Arc<AtomicUsize>) -> (Gc<Node>, Gc<Node>) {
    let a = node(heap, drops);
    let b = node(heap, drops);
    *a.read().next.lock().unwrap() = Some(b.clone());
    *b.read().next.lock().unwrap() = Some(a.clone());
    (a, b)
}

/// The last outside handle of a cycle is dropped while another thread collects:
/// whichever comes first, the cycle is freed exactly once, never while reachable.
#[test]
fn last_strong_drop_against_a_collection() {
    loom::model(|| {
        let heap = heap();
        let drops = Arc::new(AtomicUsize::new(0));
        let (a, b) = pair(&heap, &drops);
        drop(b);
        let h2 = heap.clone();
        let t = thread::spawn(move || {
            h2.collect();
        });
        drop(a);
        t.join().unwrap();
        heap.collect();
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

/// A thread clones a handle into a cycle and drops the original while another thread
/// collects: the clone keeps the cycle alive and readable.
#[test]
fn clone_against_a_collection() {
    loom::model(|| {
        let heap = heap();
        let drops = Arc::new(AtomicUsize::new(0));
        let (a, b) = pair(&heap, &drops);
        drop(b);
        let h2 = heap.clone();
        let t = thread::spawn(move || {
            h2.collect();
        });
        let c = a.clone();
        drop(a);
        let next = c.read().next.lock().unwrap().clone().unwrap();
        assert!(next.read().next.lock().unwrap().is_some());
        t.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop((c, next));
        heap.collect();
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

/// A weak upgrade races with the collection of its (otherwise unreachable) referent:
/// either the upgrade wins and the object stays alive and readable, or it gets `None`.
#[test]
fn weak_upgrade_against_collection() {
    loom::model(|| {
        let heap = heap();
        let drops = Arc::new(AtomicUsize::new(0));
        let (a, b) = pair(&heap, &drops);
        let w = Gc::downgrade(&a);
        drop((a, b));
        let h2 = heap.clone();
        let t = thread::spawn(move || {
            h2.collect();
        });
        if let Some(g) = w.upgrade() {
            assert!(
                g.read().next.lock().unwrap().is_some(),
                "upgrade returned a destroyed object"
            );
        }
        t.join().unwrap();
        heap.collect();
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert!(w.upgrade().is_none());
    });
}

/// Two threads collect at once: one waits for the other; nothing is freed twice.
#[test]
fn two_threads_collecting_at_once() {
    loom::model(|| {
        let heap = heap();
        let drops = Arc::new(AtomicUsize::new(0));
        drop(pair(&heap, &drops));
        let h2 = heap.clone();
        let t = thread::spawn(move || h2.collect().collected);
        let here = heap.collect().collected;
        let there = t.join().unwrap();
        assert_eq!(here + there, 2);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

/// A thread drops a handle while another holds the heap lock: the release is
/// deferred, never stranded, and performed exactly once.
#[test]
fn deferred_drop_is_performed_once() {
    loom::model(|| {
        let heap = heap();
        let drops = Arc::new(AtomicUsize::new(0));
        let a = node(&heap, &drops);
        let a2 = a.clone();
        let t = thread::spawn(move || drop(a2));
        {
            let _guard = a.read();
        }
        drop(a);
        t.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// The same with the `DEFERRED` hand-off between `defer` and `release` switched off:
/// loom finds the interleaving in which the last release is stranded in the queue.
#[test]
#[should_panic(expected = "stranded")]
fn deferred_drop_without_the_recheck_is_stranded() {
    gc_core::sync::break_deferred_release(true);
    loom::model(|| {
        let heap = heap();
        let drops = Arc::new(AtomicUsize::new(0));
        let a = node(&heap, &drops);
        let a2 = a.clone();
        let t = thread::spawn(move || drop(a2));
        let a3 = a.clone();
        let guard = a3.read();
        drop(a);
        drop(guard);
        drop(a3);
        t.join().unwrap();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "a deferred release was stranded"
        );
    });
}

/// Shutdown races with a thread that holds a handle and reads through it: shutdown
/// waits for the reader (loom's timed waits never time out), the reader's handle
/// becomes dead or is dropped first, and nothing deadlocks.
#[test]
fn shutdown_against_a_thread_holding_a_handle() {
    loom::model(|| {
        let heap = heap();
        let drops = Arc::new(AtomicUsize::new(0));
        let a = node(&heap, &drops);
        let t = thread::spawn(move || {
            let alive = a.try_read().is_ok();
            drop(a);
            alive
        });
        let report = heap.shutdown().expect("loom's timed waits do not time out");
        let _ = t.join().unwrap();
        assert!(report.leaks.len() <= 1);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}
