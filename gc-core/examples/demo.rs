//! A first look at the collector: build cyclic garbage, collect it, watch the
//! generations, and shut the heap down with a leak report.
//!
//! Run with `cargo run --release -p gc-core --example demo`.

use gc_core::{Finalize, Gc, Heap, Traverse, WeakRef};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// A node of a doubly linked structure: every link is a cycle.
#[derive(Traverse)]
#[traverse(finalize)]
struct Node {
    id: usize,
    next: RefCell<Option<Gc<Node>>>,
    prev: RefCell<Option<Gc<Node>>>,
    /// Not a handle: a counter shared with `main`, skipped by the traversal.
    #[traverse(skip)]
    finalized: Rc<Cell<usize>>,
}

impl Finalize for Node {
    fn finalize(&self) {
        // Runs once per node, before any node of its cycle is destroyed.
        self.finalized.set(self.finalized.get() + 1);
    }
}

fn ring(heap: &Heap, len: usize, finalized: &Rc<Cell<usize>>) -> Gc<Node> {
    let first = heap.alloc(Node {
        id: 0,
        next: RefCell::new(None),
        prev: RefCell::new(None),
        finalized: finalized.clone(),
    });
    let mut last = first.clone();
    for id in 1..len {
        let node = heap.alloc(Node {
            id,
            next: RefCell::new(None),
            prev: RefCell::new(Some(last.clone())),
            finalized: finalized.clone(),
        });
        *last.next.borrow_mut() = Some(node.clone());
        last = node;
    }
    *last.next.borrow_mut() = Some(first.clone());
    *first.prev.borrow_mut() = Some(last);
    first
}

fn main() {
    let heap = Heap::new();
    let finalized = Rc::new(Cell::new(0));

    println!("== 1. Reference counting frees acyclic garbage at once");
    let leaf = heap.alloc(String::from(
        "a leaf: untracked, costs the collector nothing",
    ));
    println!(
        "   tracked objects: {}, {:?} is tracked: {}",
        heap.tracked_count(),
        *leaf,
        Gc::is_tracked(&leaf)
    );
    drop(leaf);

    println!("== 2. Cycles need the collector");
    heap.disable();
    let keep = ring(&heap, 1_000, &finalized);
    for _ in 0..100 {
        drop(ring(&heap, 10, &finalized));
    }
    println!(
        "   built 100 dead rings of 10 and one live ring of 1000: {} tracked",
        heap.tracked_count()
    );
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let watched = ring(&heap, 3, &finalized);
    let watcher = WeakRef::new(&watched, move || f.set(true));
    drop(watched);
    let stats = heap.collect();
    println!(
        "   full collection: examined {}, collected {}, in {:?}; finalizers run: {}; weak callback fired: {}",
        stats.candidates,
        stats.collected,
        stats.duration,
        finalized.get(),
        fired.get()
    );
    drop(watcher);

    println!("== 3. A full collection costs what could have become garbage, not the heap size");
    let again = heap.collect();
    println!(
        "   again, nothing changed: examined {}, collected {}",
        again.candidates, again.collected
    );
    *keep.prev.borrow_mut() = None; // drop one reference into the old ring
    let after = heap.collect();
    println!(
        "   after dropping one reference into it: examined {}, collected {}",
        after.candidates, after.collected
    );

    println!("== 4. Automatic collection, CPython's thresholds");
    heap.enable();
    heap.set_threshold(700, 10, 10);
    for _ in 0..2_000 {
        drop(ring(&heap, 5, &finalized));
    }
    for (generation, s) in heap.get_stats().iter().enumerate() {
        println!(
            "   generation {generation}: {:>4} collections, {:>6} collected, {} uncollectable",
            s.collections, s.collected, s.uncollectable
        );
    }
    println!(
        "   get_count() = {:?}, get_threshold() = {:?}",
        heap.get_count(),
        heap.get_threshold()
    );

    println!("== 5. Shutdown: exit hooks (LIFO), collect until stable, leak report");
    heap.at_exit(|| println!("   exit hook registered first runs last"));
    heap.at_exit(|| println!("   exit hook registered last runs first"));
    let report = heap.shutdown();
    println!(
        "   {} collections freed {} objects; finalizers run in all: {}",
        report.collections,
        report.collected,
        finalized.get()
    );
    print!("   {}", report.leaks);
    println!(
        "   the live ring we still hold is now dead: deref -> {:?}",
        Gc::try_deref(&keep).err().unwrap()
    );
}
