//! Deliberately wrong code: what each mistake leads to, observed and pinned down. The
//! rule (STYLE.md, "Errors and misuse"): a wrong `Traverse` ends in a leak the leak
//! report names, or in a panic, never in a read of freed memory; user code that
//! panics is caught and the heap stays usable. Everything here also runs under Miri
//! (`cargo +nightly miri test -p gc-tests --test misuse`) except the one test that
//! leaks on purpose.

use gc_core::{DerefError, Finalize, Gc, Heap, Traverse, Visitor, WeakRef};
use gc_tests::{DropLog, Node, Token};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasher, DefaultHasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn heap() -> Heap {
    let h = Heap::new();
    h.disable();
    h
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------------
// A `Traverse` that skips a field: a leak, named by the leak report.
// ---------------------------------------------------------------------------------

/// Holds a handle to its partner but never reports it.
struct Skipper {
    /// Shared with the test only so that it can break the leaked cycle after shutdown
    /// (orphans cannot be dereferenced) and Miri sees no leak.
    _partner: Rc<RefCell<Option<Gc<Partner>>>>,
    _token: Token,
}

// SAFETY: reports fewer handles than it owns (none): allowed, it can only leak.
unsafe impl Traverse for Skipper {
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

#[derive(Traverse)]
struct Partner {
    back: RefCell<Option<Gc<Skipper>>>,
    #[traverse(skip)]
    _token: Token,
}

#[test]
fn skipped_field_leaks_and_the_leak_report_names_the_type() {
    let heap = heap();
    let log = DropLog::new();
    let escape = Rc::new(RefCell::new(None));
    let s = heap.alloc(Skipper {
        _partner: escape.clone(),
        _token: log.token(1),
    });
    let p = heap.alloc(Partner {
        back: RefCell::new(Some(s.clone())),
        _token: log.token(2),
    });
    *escape.borrow_mut() = Some(p.clone());
    drop((s, p));
    // The unreported handle is an outside reference: the cycle survives collections.
    assert_eq!(heap.collect().collected, 0);
    assert_eq!(log.count(), 0);
    let report = heap.shutdown();
    assert_eq!(report.leaks.len(), 2, "{}", report.leaks);
    let partner = report
        .leaks
        .of_type("Partner")
        .next()
        .expect("Partner leaked");
    assert_eq!(partner.untraversed_refs(), 1, "held by the skipped field");
    let skipper = report
        .leaks
        .of_type("Skipper")
        .next()
        .expect("Skipper leaked");
    assert!(skipper.referrers[0].ends_with("Partner"));
    let text = report.leaks.to_string();
    assert!(
        text.contains("Partner") && text.contains("Skipper"),
        "{text}"
    );
    // Both were detached, not destroyed; breaking the hidden edge frees them.
    assert_eq!(log.count(), 0);
    escape.borrow_mut().take();
    assert_eq!(log.count(), 2);
    log.assert_no_double_drop();
}

// ---------------------------------------------------------------------------------
// A `Traverse` that visits a field twice.
// ---------------------------------------------------------------------------------

/// Reports `target` twice (a violation of the `Traverse` contract).
struct Twice {
    target: Gc<Node>,
    me: RefCell<Option<Gc<Twice>>>,
}

// SAFETY: deliberately broken: `target` is reported twice. The tests below show
// what the collector does with it; they never hold a borrow across a collection, so
// the early destruction it causes cannot be observed through a dangling `&`.
unsafe impl Traverse for Twice {
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        visitor.visit(&self.target);
        visitor.visit(&self.target);
        self.me.traverse(visitor);
    }
}

/// Observed outcome: when the doubly-reported handle is the target's only reference,
/// `subtract_refs` takes its `gc_refs` below zero and panics ("gc_refs underflow on a
/// `Node`: a Traverse impl reported a handle it does not own, or one handle twice").
/// The collection frees nothing, the heap stays consistent and usable.
#[test]
fn double_visit_of_the_only_reference_panics_with_gc_refs_underflow() {
    let heap = heap();
    let log = DropLog::new();
    let b = Node::new(&heap, &log, 1);
    let a = heap.alloc(Twice {
        target: b.clone(),
        me: RefCell::new(None),
    });
    drop(b);
    // A lost reference makes `a` a suspect, so the collection examines it.
    drop(a.clone());
    let err = catch_unwind(AssertUnwindSafe(|| heap.collect())).expect_err("underflow");
    let msg = panic_text(err);
    assert!(msg.contains("gc_refs underflow"), "{msg}");
    assert!(msg.contains("Node"), "names the type: {msg}");
    assert_eq!(log.count(), 0, "nothing freed by the failed collection");
    assert_eq!(heap.tracked_count(), 2, "nothing lost");
    assert_eq!(a.target.id, 1);
    drop(a);
    assert_eq!(log.ids(), vec![1]);
    assert_eq!(heap.tracked_count(), 0);
}

/// Observed outcome: when the target is also held from outside, the two visits cancel
/// the outside reference; if the visitor is garbage, the target is found unreachable
/// and destroyed although a handle outside the heap still points to it. Memory-safe:
/// the outside handle is dead (deref panics, `try_deref` gives `Destroyed`) and the
/// allocation is released only when it goes. (A `&Node` borrowed across the
/// collection would dangle: that is why `Traverse` is an `unsafe trait`.)
#[test]
fn double_visit_of_a_handle_also_held_outside_destroys_it_early_but_leaves_a_dead_handle() {
    let heap = heap();
    let log = DropLog::new();
    let outside = Node::new(&heap, &log, 1);
    let a = heap.alloc(Twice {
        target: outside.clone(),
        me: RefCell::new(None),
    });
    *a.me.borrow_mut() = Some(a.clone());
    drop(a);
    let stats = heap.collect();
    assert_eq!(
        stats.collected, 2,
        "the visitor's cycle and, wrongly, its target"
    );
    assert!(log.dropped(1), "destroyed while `outside` still holds it");
    assert!(!Gc::is_alive(&outside));
    assert!(matches!(
        Gc::try_deref(&outside),
        Err(DerefError::Destroyed { .. })
    ));
    let msg = panic_text(catch_unwind(AssertUnwindSafe(|| outside.id)).expect_err("dead"));
    assert!(msg.contains("destroyed"), "{msg}");
    drop(outside);
    log.assert_no_double_drop();
    assert_eq!(heap.tracked_count(), 0);
}

// ---------------------------------------------------------------------------------
// A `Traverse` that visits another heap's handle.
// ---------------------------------------------------------------------------------

#[derive(Traverse)]
struct Foreign {
    other: Gc<Node>,
    me: RefCell<Option<Gc<Foreign>>>,
}

/// Does not own the handle it reports: it is shared through an `Rc` (reporting it
/// would be a contract violation within one heap).
struct Borrower {
    shared: Rc<Gc<Node>>,
}

// SAFETY: deliberately reports a handle it shares rather than owns; it belongs to
// another heap, whose handles every collector ignores.
unsafe impl Traverse for Borrower {
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        visitor.visit(&self.shared);
    }
}

/// Visits of handles that belong to another heap are ignored by the collector: they
/// count as outside references to the other heap (so a cross-heap cycle is never
/// collected), and even a visit of a handle the value does not own does no harm.
#[test]
fn visits_of_another_heaps_handles_are_ignored() {
    let h1 = heap();
    let h2 = heap();
    let log = DropLog::new();
    let x = Node::new(&h2, &log, 1);
    x.link(&x);
    let f = h1.alloc(Foreign {
        other: x.clone(),
        me: RefCell::new(None),
    });
    *f.me.borrow_mut() = Some(f.clone());
    let shared = Rc::new(x.clone());
    let b = h1.alloc(Borrower {
        shared: shared.clone(),
    });
    drop(x);
    // h2 sees x referenced from outside (by f, and through the Rc).
    assert_eq!(h2.collect().collected, 0);
    // h1 ignores the foreign visits: no underflow, and `b` (held) survives.
    drop(f);
    assert_eq!(h1.collect().collected, 1, "f's own cycle");
    assert!(!log.dropped(1));
    assert_eq!(shared.id, 1);
    drop((b, shared));
    assert_eq!(h1.collect().collected, 0);
    // Now only x's self-cycle holds it.
    assert_eq!(h2.collect().collected, 1);
    assert_eq!(log.ids(), vec![1]);
}

// ---------------------------------------------------------------------------------
// A `Drop` that reads a neighbour in its own cycle.
// ---------------------------------------------------------------------------------

/// What each `Reader`'s `Drop` saw of its neighbour: (its id, `try_deref` result).
type Seen = Rc<RefCell<Vec<(u32, Result<u32, DerefError>)>>>;

struct Reader {
    id: u32,
    next: RefCell<Option<Gc<Reader>>>,
    seen: Seen,
    /// Dereference the neighbour with `*` (panics if it is dead) after `try_deref`.
    deref: bool,
}

// SAFETY: reports its one handle once.
unsafe impl Traverse for Reader {
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        self.next.traverse(visitor);
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(n) = self.next.get_mut() {
            let r = Gc::try_deref(n).map(|v| v.id);
            self.seen.borrow_mut().push((self.id, r));
            if self.deref && !std::thread::panicking() {
                let _ = n.id;
            }
        }
    }
}

fn reader_cycle(heap: &Heap, deref: bool) -> Seen {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let a = heap.alloc(Reader {
        id: 1,
        next: RefCell::new(None),
        seen: seen.clone(),
        deref,
    });
    let b = heap.alloc(Reader {
        id: 2,
        next: RefCell::new(Some(a.clone())),
        seen: seen.clone(),
        deref,
    });
    *a.next.borrow_mut() = Some(b.clone());
    seen
}

/// The collector marks every member of a garbage cycle dead before destroying any: a
/// `Drop` that reads its neighbour gets `Err(Destroyed)` from `try_deref`, never a
/// destroyed value.
#[test]
fn drop_reading_a_neighbour_in_its_own_cycle_gets_destroyed_from_try_deref() {
    let heap = heap();
    let seen = reader_cycle(&heap, false);
    assert_eq!(heap.collect().collected, 2);
    let mut seen = seen.borrow().clone();
    seen.sort_by_key(|(id, _)| *id);
    assert_eq!(seen.len(), 2);
    for (_, r) in seen {
        assert!(
            matches!(r, Err(DerefError::Destroyed { type_name }) if type_name.ends_with("Reader"))
        );
    }
}

/// With a plain `*` the same `Drop` panics ("dereferenced a dead Gc<...>: the
/// collector has destroyed this object"); the collection still destroys every member
/// once, then the panic propagates, and the heap is usable afterwards.
#[test]
fn drop_dereferencing_a_neighbour_in_its_own_cycle_panics_and_the_rest_is_freed() {
    let heap = heap();
    let seen = reader_cycle(&heap, true);
    let msg =
        panic_text(catch_unwind(AssertUnwindSafe(|| heap.collect())).expect_err("dead deref"));
    assert!(msg.contains("dereferenced a dead Gc<"), "{msg}");
    assert!(msg.contains("collector has destroyed"), "{msg}");
    assert_eq!(seen.borrow().len(), 2, "both values were dropped");
    assert_eq!(heap.tracked_count(), 0);
    let log = DropLog::new();
    let n = Node::new(&heap, &log, 9);
    n.link(&n);
    drop(n);
    assert_eq!(heap.collect().collected, 1);
}

// ---------------------------------------------------------------------------------
// A finalizer that resurrects.
// ---------------------------------------------------------------------------------

#[derive(Traverse)]
#[traverse(finalize)]
struct Lazarus {
    me: RefCell<Option<Gc<Lazarus>>>,
    #[traverse(skip)]
    tomb: Rc<RefCell<Vec<Gc<Lazarus>>>>,
    #[traverse(skip)]
    finalized: Rc<Cell<u32>>,
    #[traverse(skip)]
    _token: Token,
}

impl Finalize for Lazarus {
    fn finalize(&self) {
        self.finalized.set(self.finalized.get() + 1);
        if let Some(me) = self.me.borrow().clone() {
            self.tomb.borrow_mut().push(me);
        }
    }
}

/// PEP 442: the resurrected object survives with its value intact, its weak
/// references stay cleared, its finalizer never runs again, and it is freed once
/// nothing holds it.
#[test]
fn finalizer_that_resurrects_keeps_the_object_and_runs_once() {
    let heap = heap();
    let log = DropLog::new();
    let tomb = Rc::new(RefCell::new(Vec::new()));
    let finalized = Rc::new(Cell::new(0));
    let l = heap.alloc(Lazarus {
        me: RefCell::new(None),
        tomb: tomb.clone(),
        finalized: finalized.clone(),
        _token: log.token(1),
    });
    *l.me.borrow_mut() = Some(l.clone());
    let w = Gc::downgrade(&l);
    drop(l);
    let stats = heap.collect();
    assert_eq!((stats.collected, stats.resurrected), (0, 1));
    assert_eq!(finalized.get(), 1);
    assert_eq!(tomb.borrow().len(), 1);
    assert!(Gc::is_finalized(&tomb.borrow()[0]));
    assert!(w.upgrade().is_none(), "weak references stay cleared");
    assert_eq!(log.count(), 0);
    tomb.borrow_mut().clear();
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(finalized.get(), 1, "not finalized again");
    assert_eq!(log.ids(), vec![1]);
}

// ---------------------------------------------------------------------------------
// Panicking Drop, finalizer and callback.
// ---------------------------------------------------------------------------------

#[derive(Traverse)]
#[traverse(finalize)]
struct Bomb {
    next: RefCell<Option<Gc<Bomb>>>,
    #[traverse(skip)]
    in_finalize: bool,
    #[traverse(skip)]
    in_drop: bool,
    #[traverse(skip)]
    _token: Token,
}

impl Finalize for Bomb {
    fn finalize(&self) {
        if self.in_finalize {
            panic!("finalizer bomb");
        }
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.in_drop && !std::thread::panicking() {
            panic!("drop bomb");
        }
    }
}

fn bomb(heap: &Heap, log: &DropLog, id: usize, in_finalize: bool, in_drop: bool) -> Gc<Bomb> {
    heap.alloc(Bomb {
        next: RefCell::new(None),
        in_finalize,
        in_drop,
        _token: log.token(id),
    })
}

/// On every path that runs user code (a collection, the last handle going, shutdown)
/// a panic in a finalizer, a `Drop` or a weak-reference callback is caught where it
/// happens, the rest of the work completes (every value destroyed exactly once, every
/// reference released), then the first panic propagates; the heap goes on working.
#[test]
fn panicking_drop_finalizer_and_callback_are_caught_and_the_heap_goes_on() {
    let heap = heap();
    let log = DropLog::new();
    // In a collection: a cycle of a finalizer bomb and a drop bomb, with a callback
    // bomb on one of them.
    let a = bomb(&heap, &log, 1, true, false);
    let b = bomb(&heap, &log, 2, false, true);
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(a.clone());
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let wr = WeakRef::new(&a, move || {
        f.set(true);
        panic!("callback bomb");
    });
    drop((a, b));
    let r = catch_unwind(AssertUnwindSafe(|| heap.collect()));
    assert!(r.is_err());
    assert_eq!(log.count(), 2);
    assert!(fired.get());
    assert_eq!(
        heap.tracked_count(),
        1,
        "only the weak-reference object is left"
    );
    drop(wr);

    // On the last-handle path: a finalizer bomb that holds a drop bomb.
    let c = bomb(&heap, &log, 3, true, false);
    let d = bomb(&heap, &log, 4, false, true);
    *c.next.borrow_mut() = Some(d);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(c))).is_err());
    assert_eq!(log.count(), 4, "both destroyed despite the panics");
    assert_eq!(heap.tracked_count(), 0);

    // At shutdown: panics are counted, not propagated.
    let e = bomb(&heap, &log, 5, true, false);
    *e.next.borrow_mut() = Some(e.clone());
    drop(e);
    let report = heap.shutdown();
    assert!(report.panics >= 1);
    assert_eq!(log.count(), 5);
    log.assert_no_double_drop();
}

// ---------------------------------------------------------------------------------
// Handles kept past shutdown.
// ---------------------------------------------------------------------------------

struct ArcToken(Arc<AtomicUsize>);

impl Drop for ArcToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Traverse)]
struct Kept {
    next: RefCell<Option<Gc<Kept>>>,
    #[traverse(skip)]
    _token: ArcToken,
}

thread_local! {
    static STASH: RefCell<Option<Gc<Kept>>> = const { RefCell::new(None) };
}

/// A handle stored in a `thread_local!` outlives its heap: after shutdown it is dead
/// (`try_deref` says the heap was shut down) and its value is destroyed when the
/// thread-local is, at thread exit.
#[test]
fn handle_in_a_thread_local_outlives_its_heap() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    std::thread::spawn(move || {
        let heap = Heap::new();
        let k = heap.alloc(Kept {
            next: RefCell::new(None),
            _token: ArcToken(d.clone()),
        });
        STASH.with(|s| *s.borrow_mut() = Some(k));
        let report = heap.shutdown();
        assert_eq!(report.leaks.len(), 1);
        STASH.with(|s| {
            let s = s.borrow();
            let k = s.as_ref().unwrap();
            assert!(matches!(
                Gc::try_deref(k),
                Err(DerefError::HeapShutDown { .. })
            ));
        });
        assert_eq!(d.load(Ordering::SeqCst), 0);
        drop(heap);
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "destroyed at thread exit");
}

/// A handle leaked with `Box::leak` outlives its heap: dead after shutdown, named in
/// the leak report, never destroyed (the memory is leaked on purpose, which Miri's
/// leak checker reports, hence the `ignore` there).
#[test]
#[cfg_attr(miri, ignore = "deliberate leak")]
fn handle_leaked_with_box_leak_is_dead_after_shutdown() {
    let drops = Arc::new(AtomicUsize::new(0));
    let heap = Heap::new();
    let leaked: &'static Gc<Kept> = Box::leak(Box::new(heap.alloc(Kept {
        next: RefCell::new(None),
        _token: ArcToken(drops.clone()),
    })));
    let report = heap.shutdown();
    assert_eq!(report.leaks.len(), 1);
    assert!(report.leaks.objects()[0].type_name.ends_with("Kept"));
    assert!(matches!(
        Gc::try_deref(leaked),
        Err(DerefError::HeapShutDown { .. })
    ));
    let msg = panic_text(
        catch_unwind(AssertUnwindSafe(|| leaked.next.borrow().is_none())).expect_err("dead"),
    );
    assert!(msg.contains("heap has been shut down"), "{msg}");
    drop(heap);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------
// A generic impl whose extra parameter hides a handle: the hasher of a `HashMap`.
// ---------------------------------------------------------------------------------

/// A hasher builder that holds a handle (to the table that owns the map).
#[derive(Traverse, Default)]
struct GcHasher {
    back: RefCell<Option<Gc<Table>>>,
}

impl BuildHasher for GcHasher {
    type Hasher = DefaultHasher;
    fn build_hasher(&self) -> DefaultHasher {
        DefaultHasher::new()
    }
}

#[derive(Traverse)]
struct Table {
    map: RefCell<HashMap<u32, String, GcHasher>>,
    #[traverse(skip)]
    _token: Token,
}

/// `HashMap<K, V, S>`'s `Traverse` visits the hasher too: a cycle that goes through
/// the hasher (table → map → hasher → table) is collected, not leaked.
#[test]
fn cycle_through_a_hashmaps_hasher_is_collected() {
    let heap = heap();
    let log = DropLog::new();
    let t = heap.alloc(Table {
        map: RefCell::new(HashMap::with_hasher(GcHasher::default())),
        _token: log.token(1),
    });
    t.map.borrow_mut().insert(1, "one".into());
    *t.map.borrow().hasher().back.borrow_mut() = Some(t.clone());
    let referents = Gc::to_any(&t).referents();
    assert_eq!(referents.len(), 1, "the hasher's handle is reported");
    assert!(referents[0].ptr_eq(&Gc::to_any(&t)));
    drop(referents);
    drop(t);
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(log.ids(), vec![1]);
}
