//! Panics in user code run by the collector (`Traverse`, `Drop`, finalizers,
//! callbacks, exit hooks) propagate to the caller, and the heap stays consistent and
//! usable: no object freed twice, none lost.

use gc_core::{Finalize, Gc, Heap, Traverse, Visitor, WeakRef};
use gc_tests::{DropLog, Node, Token};
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

fn heap() -> Heap {
    let h = Heap::new();
    h.disable();
    h
}

struct Touchy {
    next: RefCell<Option<Gc<Touchy>>>,
    panic_in_traverse: Rc<Cell<bool>>,
    _token: Token,
}

// SAFETY: reports its one handle once (or panics before reporting anything).
unsafe impl Traverse for Touchy {
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if self.panic_in_traverse.get() {
            panic!("traverse panicked");
        }
        self.next.traverse(visitor);
    }
}

#[test]
fn panic_in_traverse_leaves_the_heap_consistent() {
    let heap = heap();
    let log = DropLog::new();
    let flag = Rc::new(Cell::new(false));
    let a = heap.alloc(Touchy {
        next: RefCell::new(None),
        panic_in_traverse: flag.clone(),
        _token: log.token(1),
    });
    let b = heap.alloc(Touchy {
        next: RefCell::new(Some(a.clone())),
        panic_in_traverse: flag.clone(),
        _token: log.token(2),
    });
    *a.next.borrow_mut() = Some(b.clone());
    drop((a, b));
    flag.set(true);
    let r = catch_unwind(AssertUnwindSafe(|| heap.collect()));
    assert!(r.is_err());
    assert_eq!(
        log.count(),
        0,
        "nothing freed by a collection that panicked"
    );
    assert_eq!(heap.tracked_count(), 2, "nothing lost");
    flag.set(false);
    assert_eq!(heap.collect().collected, 2);
    assert_eq!(log.count(), 2);
    log.assert_no_double_drop();
}

#[derive(Traverse)]
struct Bomb {
    next: RefCell<Option<Gc<Bomb>>>,
    #[traverse(skip)]
    explode: bool,
    #[traverse(skip)]
    _token: Token,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.explode {
            panic!("drop panicked");
        }
    }
}

#[test]
fn panic_in_drop_during_collection_still_destroys_the_rest() {
    let heap = heap();
    let log = DropLog::new();
    let objs: Vec<_> = (0..4)
        .map(|i| {
            heap.alloc(Bomb {
                next: RefCell::new(None),
                explode: i == 1,
                _token: log.token(i),
            })
        })
        .collect();
    for i in 0..4 {
        *objs[i].next.borrow_mut() = Some(objs[(i + 1) % 4].clone());
    }
    drop(objs);
    let r = catch_unwind(AssertUnwindSafe(|| heap.collect()));
    assert!(r.is_err());
    assert_eq!(
        log.count(),
        4,
        "every token was dropped, the panicking one included"
    );
    log.assert_no_double_drop();
    assert_eq!(heap.tracked_count(), 0);
    // The heap is usable afterwards.
    let n = Node::new(&heap, &log, 10);
    n.link(&n);
    drop(n);
    assert_eq!(heap.collect().collected, 1);
}

#[test]
fn panic_in_drop_of_a_reference_counted_chain_frees_the_rest() {
    let heap = heap();
    let log = DropLog::new();
    let mut head = heap.alloc(Bomb {
        next: RefCell::new(None),
        explode: false,
        _token: log.token(0),
    });
    for i in 1..10 {
        head = heap.alloc(Bomb {
            next: RefCell::new(Some(head)),
            explode: i == 5,
            _token: log.token(i),
        });
    }
    let r = catch_unwind(AssertUnwindSafe(|| drop(head)));
    assert!(r.is_err());
    assert_eq!(log.count(), 10);
    assert_eq!(heap.tracked_count(), 0);
}

#[derive(Traverse)]
#[traverse(finalize)]
struct PanickyFin {
    me: RefCell<Option<Gc<PanickyFin>>>,
    #[traverse(skip)]
    id: usize,
    #[traverse(skip)]
    finalized: Rc<RefCell<Vec<usize>>>,
}

impl Finalize for PanickyFin {
    fn finalize(&self) {
        self.finalized.borrow_mut().push(self.id);
        if self.id == 0 {
            panic!("finalizer panicked");
        }
    }
}

#[test]
fn panic_in_finalizer_still_finalizes_and_frees_the_others() {
    let heap = heap();
    let finalized = Rc::new(RefCell::new(Vec::new()));
    for id in 0..3 {
        let o = heap.alloc(PanickyFin {
            me: RefCell::new(None),
            id,
            finalized: finalized.clone(),
        });
        *o.me.borrow_mut() = Some(o.clone());
    }
    let r = catch_unwind(AssertUnwindSafe(|| heap.collect()));
    assert!(r.is_err());
    let mut f = finalized.borrow().clone();
    f.sort_unstable();
    assert_eq!(f, vec![0, 1, 2]);
    assert_eq!(heap.tracked_count(), 0);
    assert_eq!(heap.collect().collected, 0);
}

#[test]
fn panic_in_weak_callback_propagates_after_the_collection() {
    let heap = heap();
    let log = DropLog::new();
    let a = Node::new(&heap, &log, 1);
    a.link(&a);
    let _wr = WeakRef::new(&a, || panic!("callback panicked"));
    drop(a);
    let r = catch_unwind(AssertUnwindSafe(|| heap.collect()));
    assert!(r.is_err());
    assert!(log.dropped(1));
    assert_eq!(
        heap.tracked_count(),
        1,
        "only the weak-reference object is left"
    );
    let b = Node::new(&heap, &log, 2);
    b.link(&b);
    drop(b);
    assert_eq!(heap.collect().collected, 1);
}

#[test]
fn panic_in_exit_hook_is_counted_and_shutdown_goes_on() {
    let heap = Heap::new();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    heap.at_exit(move || r.set(true));
    heap.at_exit(|| panic!("hook panicked"));
    let report = heap.shutdown();
    assert!(ran.get());
    assert_eq!(report.panics, 1);
}

#[test]
fn panic_in_collect_callback_propagates_and_the_collection_completes() {
    let heap = heap();
    let log = DropLog::new();
    let a = Node::new(&heap, &log, 1);
    a.link(&a);
    drop(a);
    let id = heap.add_collect_callback(|phase, _| {
        if phase == gc_core::CollectPhase::Start {
            panic!("callback panicked")
        }
    });
    assert!(catch_unwind(AssertUnwindSafe(|| heap.collect())).is_err());
    assert!(log.dropped(1));
    assert!(heap.remove_collect_callback(id));
    assert_eq!(heap.collect().collected, 0);
}

/// A finalizer that panics when reference counting frees its object: the value is
/// still destroyed and the allocation freed (Miri's leak check verifies the latter),
/// and the panic reaches the code that dropped the last handle.
#[test]
fn panic_in_finalizer_on_last_drop_still_destroys_the_value() {
    let heap = heap();
    let finalized = Rc::new(RefCell::new(Vec::new()));
    let o = heap.alloc(PanickyFin {
        me: RefCell::new(None),
        id: 0,
        finalized: finalized.clone(),
    });
    let w = Gc::downgrade(&o);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(o))).is_err());
    assert_eq!(*finalized.borrow(), vec![0]);
    assert!(w.upgrade().is_none());
    assert_eq!(heap.tracked_count(), 0);
}

/// A node of a random graph whose `traverse` panics, once `panic_in_traverse` is set,
/// for one node in 100.
struct Wired {
    id: usize,
    edges: RefCell<Vec<Gc<Wired>>>,
    panic_in_traverse: Rc<Cell<bool>>,
    _token: Token,
}

// SAFETY: reports each handle in `edges` once (or panics before reporting anything).
unsafe impl Traverse for Wired {
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if self.panic_in_traverse.get() && self.id % 100 == 99 {
            panic!("traverse panicked");
        }
        self.edges.traverse(visitor);
    }
}

/// A `Traverse` that breaks its contract by panicking after the collection found the
/// garbage (set here from a garbage callback): destroying a large garbage set with
/// scattered edges traverses objects ahead of the one being destroyed to prefetch
/// what they reference (`collect/delete.rs`), and a panic there is kept, like one
/// in `Drop`, until every object is destroyed: each exactly once, none lost.
#[test]
#[cfg_attr(
    miri,
    ignore = "the prefetching path needs 32,768 garbage objects or more: too slow under Miri"
)]
fn panic_in_traverse_while_destroying_scattered_garbage_destroys_it_all() {
    let heap = heap();
    let log = DropLog::new();
    let flag = Rc::new(Cell::new(false));
    let n = 50_000;
    let mut rng = gc_tests::xorshift(0x2545_F491_4F6C_DD1D);
    let mut next = move || (rng() % n as u64) as usize;
    let nodes: Vec<Gc<Wired>> = (0..n)
        .map(|id| {
            heap.alloc(Wired {
                id,
                edges: RefCell::new(Vec::new()),
                panic_in_traverse: flag.clone(),
                _token: log.token(id),
            })
        })
        .collect();
    for node in &nodes {
        let out: Vec<Gc<Wired>> = (0..4).map(|_| nodes[next()].clone()).collect();
        *node.edges.borrow_mut() = out;
    }
    drop(nodes);
    let armed = flag.clone();
    heap.add_garbage_callback(move |_| armed.set(true));
    let r = catch_unwind(AssertUnwindSafe(|| heap.collect()));
    let message = r.expect_err("the traverse panic reaches the caller");
    assert_eq!(message.downcast_ref::<&str>(), Some(&"traverse panicked"));
    assert_eq!(log.count(), n, "every node destroyed");
    log.assert_no_double_drop();
    assert_eq!(heap.tracked_count(), 0, "nothing left behind");
}
