//! Weak references and weak-reference callbacks.

use gc_core::{Gc, Heap, Traverse, WeakRef};
use gc_tests::{DropLog, Node};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

fn heap() -> Heap {
    let h = Heap::new();
    h.disable();
    h
}

#[test]
fn weak_upgrade_follows_the_value() {
    let heap = heap();
    let log = DropLog::new();
    let a = Node::new(&heap, &log, 1);
    let w = Gc::downgrade(&a);
    assert_eq!(Gc::weak_count(&a), 1);
    assert_eq!(w.upgrade().unwrap().id, 1);
    a.link(&a);
    drop(a);
    assert_eq!(w.strong_count(), 1);
    heap.collect();
    assert!(w.upgrade().is_none());
    assert_eq!(w.strong_count(), 0);
    drop(w);
}

#[test]
fn weak_outliving_its_value_frees_the_memory_when_dropped() {
    let heap = heap();
    let log = DropLog::new();
    let a = Node::new(&heap, &log, 1);
    let w = Gc::downgrade(&a);
    let w2 = w.clone();
    drop(a);
    assert!(log.dropped(1));
    assert!(w.upgrade().is_none());
    drop(w);
    drop(w2); // frees the allocation (Miri checks it happens once)
}

#[test]
fn callback_runs_once_after_reference_counting_frees_the_referent() {
    let heap = heap();
    let log = DropLog::new();
    let fired = Rc::new(Cell::new(0));
    let a = Node::new(&heap, &log, 1);
    let f = fired.clone();
    let log2 = log.clone();
    let wr = WeakRef::new(&a, move || {
        assert!(
            log2.dropped(1),
            "callback ran before its referent was destroyed"
        );
        f.set(f.get() + 1);
    });
    assert!(wr.is_armed());
    drop(a);
    assert_eq!(fired.get(), 1);
    assert!(wr.upgrade().is_none());
    assert!(!wr.is_armed());
    heap.collect();
    assert_eq!(fired.get(), 1);
}

#[test]
fn callback_runs_once_after_the_collector_frees_the_referent() {
    let heap = heap();
    let log = DropLog::new();
    let fired = Rc::new(Cell::new(0));
    let a = Node::new(&heap, &log, 1);
    a.link(&a);
    let f = fired.clone();
    let wr = WeakRef::new(&a, move || f.set(f.get() + 1));
    drop(a);
    assert_eq!(fired.get(), 0);
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(fired.get(), 1);
    drop(wr);
    heap.collect();
    assert_eq!(fired.get(), 1);
}

#[derive(Traverse)]
struct Holder {
    me: RefCell<Option<Gc<Holder>>>,
    wr: RefCell<Option<Gc<WeakRef<Node>>>>,
}

/// CPython: a callback whose weak reference is itself part of the garbage does not
/// run (it could reach garbage).
#[test]
fn callback_of_a_weakref_that_is_itself_garbage_does_not_run() {
    let heap = heap();
    let log = DropLog::new();
    let fired = Rc::new(Cell::new(false));
    let target = Node::new(&heap, &log, 1);
    target.link(&target);
    let holder = heap.alloc(Holder {
        me: RefCell::new(None),
        wr: RefCell::new(None),
    });
    *holder.me.borrow_mut() = Some(holder.clone());
    let f = fired.clone();
    *holder.wr.borrow_mut() = Some(WeakRef::new(&target, move || f.set(true)));
    drop((target, holder));
    assert_eq!(heap.collect().collected, 3);
    assert!(!fired.get());
}

/// CPython `test_bug1055820b`: callbacks that read other weak references to garbage
/// see them cleared.
#[test]
fn callbacks_reading_other_weakrefs_see_them_cleared() {
    let heap = heap();
    let log = DropLog::new();
    let a = Node::new(&heap, &log, 1);
    let b = Node::new(&heap, &log, 2);
    a.link(&a);
    b.link(&b);
    let wa = Gc::downgrade(&a);
    let wb = Gc::downgrade(&b);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (s1, wa1, wb1) = (seen.clone(), wa.clone(), wb.clone());
    let r1 = WeakRef::new(&a, move || {
        s1.borrow_mut()
            .push((wa1.upgrade().is_some(), wb1.upgrade().is_some()))
    });
    let (s2, wa2, wb2) = (seen.clone(), wa.clone(), wb.clone());
    let r2 = WeakRef::new(&b, move || {
        s2.borrow_mut()
            .push((wa2.upgrade().is_some(), wb2.upgrade().is_some()))
    });
    drop((a, b));
    heap.collect();
    assert_eq!(*seen.borrow(), vec![(false, false), (false, false)]);
    drop((r1, r2));
}

#[test]
fn dropping_the_weakref_cancels_the_callback() {
    let heap = heap();
    let log = DropLog::new();
    let fired = Rc::new(Cell::new(false));
    let a = Node::new(&heap, &log, 1);
    let f = fired.clone();
    let wr = WeakRef::new(&a, move || f.set(true));
    drop(wr);
    drop(a);
    assert!(!fired.get());
}

#[test]
fn callbacks_may_allocate_and_collect() {
    let heap = heap();
    let log = DropLog::new();
    let a = Node::new(&heap, &log, 1);
    a.link(&a);
    let (h, l) = (heap.clone(), log.clone());
    let nested = Rc::new(Cell::new(None));
    let n2 = nested.clone();
    let _wr = WeakRef::new(&a, move || {
        let fresh = Node::new(&h, &l, 2);
        fresh.link(&fresh);
        drop(fresh);
        n2.set(Some(h.collect().collected));
    });
    drop(a);
    heap.collect();
    assert_eq!(
        nested.get(),
        Some(1),
        "the callback's collection ran and freed its cycle"
    );
    assert!(log.dropped(1) && log.dropped(2));
}
