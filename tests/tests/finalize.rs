//! Finalizers (PEP 442), ported from CPython's `Lib/test/test_finalization.py` and the
//! resurrection cases of `Lib/test/test_gc.py`.

use gc_core::{Finalize, Gc, Heap, Traverse, Weak};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// What the tests observe: finalizer calls (by id), drops (by id), and the graph
/// each finalizer saw.
#[derive(Default)]
struct Events {
    finalized: RefCell<Vec<usize>>,
    dropped: RefCell<Vec<usize>>,
    /// Ids of `next` seen by each finalizer (proves it saw an intact graph).
    saw_next: RefCell<Vec<(usize, Option<usize>)>>,
    /// Resurrected objects (CPython's `Lazarus` list).
    survivors: RefCell<Vec<Gc<Obj>>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// An ordinary finalizer.
    Plain,
    /// Stores a handle to itself in `survivors` (taken from its own cycle).
    Resurrect,
    /// Breaks its own cycle (drops its `next`).
    Suicidal,
}

#[derive(Traverse)]
#[traverse(finalize)]
struct Obj {
    id: usize,
    #[traverse(skip)]
    kind: Kind,
    next: RefCell<Option<Gc<Obj>>>,
    #[traverse(skip)]
    ev: Rc<Events>,
}

impl Finalize for Obj {
    fn finalize(&self) {
        self.ev.finalized.borrow_mut().push(self.id);
        let next = self.next.borrow().as_ref().map(|n| n.id);
        self.ev.saw_next.borrow_mut().push((self.id, next));
        match self.kind {
            Kind::Plain => {}
            Kind::Resurrect => {
                // Find a handle to ourselves: the previous member of the cycle holds
                // it; we reach it by walking the cycle from `next`.
                let mut cur = self.next.borrow().clone();
                while let Some(n) = cur {
                    let nn = n.next.borrow().clone();
                    if let Some(me) = &nn {
                        if me.id == self.id {
                            self.ev.survivors.borrow_mut().push(me.clone());
                            return;
                        }
                    }
                    cur = nn;
                }
            }
            Kind::Suicidal => {
                let taken = self.next.borrow_mut().take();
                drop(taken);
            }
        }
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        self.ev.dropped.borrow_mut().push(self.id);
    }
}

fn heap() -> Heap {
    let h = Heap::new();
    h.disable();
    h
}

fn obj(heap: &Heap, ev: &Rc<Events>, id: usize, kind: Kind) -> Gc<Obj> {
    heap.alloc(Obj {
        id,
        kind,
        next: RefCell::new(None),
        ev: ev.clone(),
    })
}

/// Builds a cycle of the given kinds; returns the handles.
fn cycle(heap: &Heap, ev: &Rc<Events>, kinds: &[Kind]) -> Vec<Gc<Obj>> {
    let objs: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, &k)| obj(heap, ev, i, k))
        .collect();
    for i in 0..objs.len() {
        *objs[i].next.borrow_mut() = Some(objs[(i + 1) % objs.len()].clone());
    }
    objs
}

#[test]
fn no_cycle_finalizer_runs_once_on_last_drop() {
    let heap = heap();
    let ev = Rc::new(Events::default());
    let o = obj(&heap, &ev, 1, Kind::Plain);
    let w = Gc::downgrade(&o);
    drop(o);
    assert_eq!(*ev.finalized.borrow(), vec![1]);
    assert_eq!(*ev.dropped.borrow(), vec![1]);
    assert!(w.upgrade().is_none());
}

#[test]
fn self_cycle_with_finalizer_is_collected_and_finalized_once() {
    let heap = heap();
    let ev = Rc::new(Events::default());
    let objs = cycle(&heap, &ev, &[Kind::Plain]);
    let w = Gc::downgrade(&objs[0]);
    drop(objs);
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(*ev.finalized.borrow(), vec![0]);
    assert_eq!(*ev.dropped.borrow(), vec![0]);
    assert!(w.upgrade().is_none());
    assert_eq!(heap.collect().collected, 0);
    assert_eq!(ev.finalized.borrow().len(), 1);
}

#[test]
fn every_finalizer_in_a_cycle_runs_before_any_member_is_destroyed() {
    let heap = heap();
    let ev = Rc::new(Events::default());
    drop(cycle(&heap, &ev, &[Kind::Plain; 5]));
    assert_eq!(heap.collect().collected, 5);
    let saw = ev.saw_next.borrow();
    assert_eq!(saw.len(), 5);
    for &(id, next) in saw.iter() {
        assert_eq!(
            next,
            Some((id + 1) % 5),
            "finalizer of {id} saw a broken graph"
        );
    }
    assert_eq!(ev.dropped.borrow().len(), 5);
}

/// CPython `test_resurrection_only_happens_once_per_object` + `test_is_finalized`.
#[test]
fn resurrection_only_happens_once_per_object() {
    let heap = heap();
    let ev = Rc::new(Events::default());
    let objs = cycle(&heap, &ev, &[Kind::Resurrect]);
    let w = Gc::downgrade(&objs[0]);
    drop(objs);
    let stats = heap.collect();
    assert_eq!((stats.collected, stats.resurrected), (0, 1));
    assert_eq!(ev.survivors.borrow().len(), 1);
    let laz = ev.survivors.borrow()[0].clone();
    assert!(Gc::is_finalized(&laz));
    assert_eq!(laz.id, 0, "resurrected with its identity and value intact");
    // Weak references were cleared before the finalizer ran, and stay cleared.
    assert!(w.upgrade().is_none());
    ev.survivors.borrow_mut().clear();
    drop(laz);
    // The finalizer does not run again; the object is now simply collected.
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(ev.finalized.borrow().len(), 1);
    assert_eq!(*ev.dropped.borrow(), vec![0]);
}

/// CPython `test_resurrection_is_transitive`: everything a resurrected object reaches
/// survives intact, with the same identity.
#[test]
fn resurrection_is_transitive() {
    let heap = heap();
    let ev = Rc::new(Events::default());
    let objs = cycle(&heap, &ev, &[Kind::Resurrect, Kind::Plain]);
    let cargo_ptr = Gc::as_ptr(&objs[1]);
    drop(objs);
    heap.collect();
    let laz = ev.survivors.borrow()[0].clone();
    let cargo = laz.next.borrow().clone().unwrap();
    assert_eq!(Gc::as_ptr(&cargo), cargo_ptr);
    assert_eq!(cargo.id, 1);
    assert!(ev.dropped.borrow().is_empty());
    ev.survivors.borrow_mut().clear();
    drop((laz, cargo));
    assert_eq!(heap.collect().collected, 2);
    assert_eq!(ev.finalized.borrow().len(), 2, "no finalizer ran twice");
}

/// CPython `test_resurrection_does_not_block_cleanup_of_other_objects` (bpo-38379).
#[test]
fn resurrection_does_not_block_cleanup_of_other_objects() {
    let heap = heap();
    let ev = Rc::new(Events::default());
    const N: usize = 100;
    for _ in 0..N {
        drop(cycle(&heap, &ev, &[Kind::Plain]));
    }
    assert_eq!(heap.collect().collected, N);
    assert_eq!(heap.get_stats()[2].collected, N);

    let ev2 = Rc::new(Events::default());
    drop(cycle(&heap, &ev2, &[Kind::Resurrect]));
    assert_eq!(heap.collect().collected, 0);

    for _ in 0..N {
        drop(cycle(&heap, &ev, &[Kind::Plain]));
    }
    drop(cycle(&heap, &ev2, &[Kind::Resurrect]));
    assert_eq!(heap.collect().collected, N);
    assert_eq!(ev2.survivors.borrow().len(), 2);
    ev2.survivors.borrow_mut().clear();
    assert_eq!(heap.collect().collected, 2);
    assert_eq!(ev.finalized.borrow().len(), 2 * N);
}

#[test]
fn finalizer_that_breaks_its_own_cycle() {
    let heap = heap();
    let ev = Rc::new(Events::default());
    drop(cycle(&heap, &ev, &[Kind::Suicidal, Kind::Plain]));
    heap.collect();
    assert_eq!(ev.finalized.borrow().len(), 2);
    assert_eq!(ev.dropped.borrow().len(), 2);
    let mut d = ev.dropped.borrow().clone();
    d.sort_unstable();
    assert_eq!(d, vec![0, 1]);
}

/// CPython `CycleChainFinalizationTest`: chains mixing plain, resurrecting and
/// suicidal nodes; every finalizer called exactly once, only resurrectors (and what
/// they reach) survive, a second collection calls nothing.
#[test]
fn chains_mixing_plain_resurrecting_and_suicidal_nodes() {
    use Kind::*;
    let patterns: &[&[Kind]] = &[
        &[Plain, Plain, Plain],
        &[Resurrect, Plain, Plain],
        &[Suicidal, Plain, Resurrect],
        &[Suicidal, Suicidal, Plain, Plain],
        &[Resurrect, Resurrect, Suicidal, Plain, Plain, Suicidal],
        &[Plain, Suicidal, Plain, Suicidal, Plain, Suicidal],
    ];
    for kinds in patterns {
        let heap = heap();
        let ev = Rc::new(Events::default());
        drop(cycle(&heap, &ev, kinds));
        heap.collect();
        let mut f = ev.finalized.borrow().clone();
        f.sort_unstable();
        assert_eq!(f, (0..kinds.len()).collect::<Vec<_>>(), "{kinds:?}");
        // A second collection calls no finalizer again.
        heap.collect();
        assert_eq!(ev.finalized.borrow().len(), kinds.len(), "{kinds:?}");
        // Nothing is dropped twice; after releasing survivors, everything is freed.
        ev.survivors.borrow_mut().clear();
        heap.collect();
        heap.collect();
        let mut d = ev.dropped.borrow().clone();
        d.sort_unstable();
        assert_eq!(d, (0..kinds.len()).collect::<Vec<_>>(), "{kinds:?}");
        assert_eq!(ev.finalized.borrow().len(), kinds.len(), "{kinds:?}");
    }
}

#[derive(Traverse)]
#[traverse(finalize)]
struct Busy {
    me: RefCell<Option<Gc<Busy>>>,
    #[traverse(skip)]
    heap: Heap,
    #[traverse(skip)]
    log: Rc<RefCell<Vec<String>>>,
}

impl Finalize for Busy {
    fn finalize(&self) {
        // Allocate, build a new cycle, drop handles, and ask for a collection.
        let fresh = gc_tests::Node::new(&self.heap, &gc_tests::DropLog::new(), 7);
        fresh.link(&fresh);
        drop(fresh);
        let nested = self.heap.collect();
        self.log
            .borrow_mut()
            .push(format!("nested skipped: {}", nested.skipped));
    }
}

#[test]
fn finalizers_may_allocate_create_cycles_and_call_collect() {
    let heap = heap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let b = heap.alloc(Busy {
        me: RefCell::new(None),
        heap: heap.clone(),
        log: log.clone(),
    });
    *b.me.borrow_mut() = Some(b.clone());
    drop(b);
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(*log.borrow(), vec!["nested skipped: true".to_string()]);
    // The cycle the finalizer created is garbage of the next collection.
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(heap.tracked_count(), 0);
}

#[derive(Traverse)]
#[traverse(finalize)]
struct WeakReader {
    me: RefCell<Option<Gc<WeakReader>>>,
    #[traverse(skip)]
    weak_to_self: RefCell<Option<Weak<WeakReader>>>,
    #[traverse(skip)]
    upgraded: Rc<Cell<Option<bool>>>,
}

impl Finalize for WeakReader {
    fn finalize(&self) {
        let w = self.weak_to_self.borrow();
        self.upgraded
            .set(Some(w.as_ref().unwrap().upgrade().is_some()));
    }
}

/// Weak references to garbage are cleared before any finalizer runs: a finalizer
/// cannot upgrade one (and so never sees a half-destroyed object through it).
#[test]
fn weak_references_are_cleared_before_finalizers_run() {
    let heap = heap();
    let upgraded = Rc::new(Cell::new(None));
    let r = heap.alloc(WeakReader {
        me: RefCell::new(None),
        weak_to_self: RefCell::new(None),
        upgraded: upgraded.clone(),
    });
    *r.me.borrow_mut() = Some(r.clone());
    *r.weak_to_self.borrow_mut() = Some(Gc::downgrade(&r));
    drop(r);
    heap.collect();
    assert_eq!(upgraded.get(), Some(false));
}
