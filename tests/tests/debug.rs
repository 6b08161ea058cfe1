//! gc-debug: CPython's `gc` module for our heaps.
//!
//! The first group mirrors CPython's `Lib/test/test_gc.py` for the same names
//! (`test_get_referents`, `test_is_tracked`, `test_get_count`, ...); then debug flags
//! through `tracing`, introspection during a collection, snapshots, `why_alive`, the
//! audit (each broken case is a hand-written `Traverse`), and panics out of user code
//! while gc-debug walks a heap.

use gc_core::{CollectPhase, Finalize, Gc, GcAny, Heap, Traverse, Visitor};
use gc_debug::{
    add_callback, audit, audit_with_roots, collect, freeze, garbage, get_count, get_debug,
    get_freeze_count, get_objects, get_referents, get_referrers, get_stats, get_threshold,
    is_finalized, is_tracked, remove_callback, set_debug, set_threshold, unfreeze, why_alive,
    DebugFlags, Finding, ObjectState, Snapshot, TRACING_TARGET,
};
use gc_tests::{DropLog, Node};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

/// A heap with automatic collection off, as test_gc.py's `setUpModule` disables the
/// collector: only the collections a test asks for run.
fn quiet_heap() -> Heap {
    let heap = Heap::new();
    heap.disable();
    heap
}

fn contains(objs: &[GcAny], g: &Gc<Node>) -> bool {
    let any = Gc::to_any(g);
    objs.iter().any(|o| o.ptr_eq(&any))
}

fn sorted_u32(refs: Vec<GcAny>) -> Vec<u32> {
    let mut v: Vec<u32> = refs
        .into_iter()
        .map(|r| *r.downcast::<u32>().expect("a u32"))
        .collect();
    v.sort_unstable();
    v
}

// ---------------------------------------------------------------------------------
// test_gc.py, GCTests
// ---------------------------------------------------------------------------------

/// `test_get_referents`: lists, tuples and dicts report their items; several objects
/// concatenate; leaves report nothing.
#[test]
fn test_get_referents() {
    let heap = quiet_heap();
    let n = |v: u32| heap.alloc(v);

    let list = heap.alloc(vec![n(1), n(3), n(5)]);
    assert_eq!(sorted_u32(get_referents(&list)), [1, 3, 5]);

    let tuple = heap.alloc((n(1), n(3), n(5)));
    assert_eq!(sorted_u32(get_referents(&tuple)), [1, 3, 5]);

    let dict = heap.alloc(HashMap::from([(n(1), n(3)), (n(5), n(7))]));
    assert_eq!(sorted_u32(get_referents(&dict)), [1, 3, 5, 7]);

    let a = heap.alloc(vec![n(1), n(2)]);
    let b = heap.alloc(HashMap::from([(n(3), n(4))]));
    let c = heap.alloc((n(0), n(0), n(0)));
    let mut all = get_referents(&a);
    all.extend(get_referents(&b));
    all.extend(get_referents(&c));
    assert_eq!(sorted_u32(all), [0, 0, 0, 1, 2, 3, 4]);

    // `get_referents(1, 'a', 4j) == []`
    assert!(get_referents(&n(1)).is_empty());
    assert!(get_referents(&heap.alloc(String::from("a"))).is_empty());
    assert!(get_referents(&heap.alloc((4.0f64, 0.5f64))).is_empty());

    // The owning type is reported first, as the collector visits it.
    #[derive(Traverse)]
    struct Type {
        name: &'static str,
    }
    let ty = heap.alloc(Type { name: "int" });
    let instance = heap.alloc_with_type(&ty, vec![n(9)]);
    let refs = get_referents(&instance);
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[0].clone().downcast::<Type>().ok().unwrap().name, "int");
    assert_eq!(*refs[1].clone().downcast::<u32>().ok().unwrap(), 9);
}

/// `test_is_tracked`: leaves are not tracked; containers that can hold handles,
/// instances of runtime types and types with finalizers are.
#[test]
fn test_is_tracked() {
    let heap = quiet_heap();
    // False: None, 1, 1.0, 1+5j, True, b"a", "a", bytearray(b"a") ...
    assert!(!is_tracked(&heap.alloc(())));
    assert!(!is_tracked(&heap.alloc(1i64)));
    assert!(!is_tracked(&heap.alloc(1.0f64)));
    assert!(!is_tracked(&heap.alloc((1.0f64, 5.0f64))));
    assert!(!is_tracked(&heap.alloc(true)));
    assert!(!is_tracked(&heap.alloc(b"a".to_vec())));
    assert!(!is_tracked(&heap.alloc(String::from("a"))));
    assert!(!is_tracked(&heap.alloc(RefCell::new(vec![1u8]))));

    // True: [], set(), a user class instance, an instance of a runtime type ...
    #[derive(Traverse)]
    struct UserClass {
        attr: RefCell<Option<Gc<UserClass>>>,
    }
    #[derive(Traverse)]
    struct UserInt(i64);
    assert!(is_tracked(&heap.alloc(Vec::<Gc<u8>>::new())));
    assert!(is_tracked(
        &heap.alloc(std::collections::HashSet::<Gc<u8>>::new())
    ));
    let instance = heap.alloc(UserClass {
        attr: RefCell::new(None),
    });
    assert!(is_tracked(&instance));
    assert!(is_tracked(&Gc::to_any(&instance)));
    let int_type = heap.alloc(UserClass {
        attr: RefCell::new(None),
    });
    // A leaf value allocated as an instance of a type object is tracked.
    assert!(!is_tracked(&heap.alloc(UserInt(5))));
    assert!(is_tracked(&heap.alloc_with_type(&int_type, UserInt(5))));

    // Objects of a heap that was shut down are not tracked any more.
    heap.shutdown();
    assert!(!is_tracked(&instance));
}

thread_local! {
    static LAZARUS_HEAVEN: RefCell<Vec<Gc<Lazarus>>> = const { RefCell::new(Vec::new()) };
}

#[derive(Traverse)]
#[traverse(finalize)]
struct Lazarus {
    me: RefCell<Option<Gc<Lazarus>>>,
}

impl Finalize for Lazarus {
    fn finalize(&self) {
        let me = self.me.borrow().clone();
        LAZARUS_HEAVEN.with(|h| h.borrow_mut().extend(me));
    }
}

/// `test_is_finalized`: false for leaves and before the finalizer; true for the
/// resurrected object after it ran.
#[test]
fn test_is_finalized() {
    let heap = quiet_heap();
    assert!(!is_finalized(&heap.alloc(3u32)));
    let laz = heap.alloc(Lazarus {
        me: RefCell::new(None),
    });
    *laz.me.borrow_mut() = Some(laz.clone());
    assert!(!is_finalized(&laz));
    drop(laz);
    assert_eq!(heap.collect().resurrected, 1);
    let back = LAZARUS_HEAVEN.with(|h| h.borrow_mut().pop()).unwrap();
    assert!(is_finalized(&back));
    back.me.borrow_mut().take();
}

/// `test_get_count`: after a collection the higher counts are 0; a tracked
/// allocation raises the first.
#[test]
fn test_get_count() {
    let heap = quiet_heap();
    heap.collect();
    let (a, b, c) = get_count(&heap);
    assert!(a < 5);
    assert_eq!((b, c), (0, 0));
    let x = heap.alloc(Vec::<Gc<u8>>::new());
    let (d, e, f) = get_count(&heap);
    assert!(d > a);
    assert_eq!((e, f), (0, 0));
    // Leaves are not counted.
    let _leaf = heap.alloc(1u8);
    assert_eq!(get_count(&heap).0, d);
    drop(x);
}

/// `test_collect_generations`: collecting generation g resets the counts up to g and
/// counts one collection against g + 1.
#[test]
fn test_collect_generations() {
    let heap = quiet_heap();
    heap.collect();
    let x = heap.alloc(Vec::<Gc<u8>>::new());
    collect(&heap, 0).unwrap();
    let (_, c1, c2) = get_count(&heap);
    assert_eq!((c1, c2), (1, 0));
    collect(&heap, 1).unwrap();
    let (_, c1, c2) = get_count(&heap);
    assert_eq!((c1, c2), (0, 1));
    collect(&heap, 2).unwrap();
    let (_, c1, c2) = get_count(&heap);
    assert_eq!((c1, c2), (0, 0));
    drop(x);
}

/// `test_get_stats`: three generations, cumulative; a collection of g counts for g
/// only.
#[test]
fn test_get_stats() {
    let heap = quiet_heap();
    let stats = get_stats(&heap);
    assert_eq!(stats.len(), 3);
    for s in &stats {
        assert_eq!((s.collections, s.collected, s.uncollectable), (0, 0, 0));
    }
    collect(&heap, 0).unwrap();
    let new = get_stats(&heap);
    assert_eq!(new[0].collections, stats[0].collections + 1);
    assert_eq!(new[1].collections, stats[1].collections);
    assert_eq!(new[2].collections, stats[2].collections);
    collect(&heap, 2).unwrap();
    let newer = get_stats(&heap);
    assert_eq!(newer[0].collections, new[0].collections);
    assert_eq!(newer[1].collections, new[1].collections);
    assert_eq!(newer[2].collections, new[2].collections + 1);

    // `collected` and `uncollectable` per generation.
    let log = DropLog::new();
    let a = Node::new(&heap, &log, 1);
    a.link(&a);
    drop(a);
    collect(&heap, 0).unwrap();
    let last = get_stats(&heap);
    assert_eq!(last[0].collected, newer[0].collected + 1);
    assert_eq!(last[0].uncollectable, 0);
}

/// `test_freeze`: freezing moves everything to the permanent generation;
/// unfreezing empties it.
#[test]
fn test_freeze() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let a = Node::new(&heap, &log, 1);
    freeze(&heap);
    assert!(get_freeze_count(&heap) > 0);
    // Frozen objects are not in `get_objects`, as in CPython.
    assert!(!contains(&get_objects(&heap, None).unwrap(), &a));
    unfreeze(&heap);
    assert_eq!(get_freeze_count(&heap), 0);
    assert!(contains(&get_objects(&heap, Some(2)).unwrap(), &a));
}

/// `test_get_objects`: a self-referencing list moves through the generations.
#[test]
fn test_get_objects() {
    let heap = quiet_heap();
    let log = DropLog::new();
    heap.collect();
    let l = Node::new(&heap, &log, 1);
    l.link(&l);
    let in_gens = |heap: &Heap| -> [bool; 3] {
        [0, 1, 2].map(|g| contains(&get_objects(heap, Some(g)).unwrap(), &l))
    };
    assert!(contains(&get_objects(&heap, None).unwrap(), &l));
    assert_eq!(in_gens(&heap), [true, false, false]);
    collect(&heap, 0).unwrap();
    assert_eq!(in_gens(&heap), [false, true, false]);
    collect(&heap, 1).unwrap();
    assert_eq!(in_gens(&heap), [false, false, true]);
    collect(&heap, 2).unwrap();
    assert_eq!(in_gens(&heap), [false, false, true]);
    l.unlink_all();
}

/// `test_get_objects_arguments`: `None` is every generation; out-of-range
/// generations are errors (negative ones and strings do not compile: see the
/// `compile_fail` examples of `get_objects`).
#[test]
fn test_get_objects_arguments() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let nodes: Vec<_> = (0..3).map(|i| Node::new(&heap, &log, i)).collect();
    collect(&heap, 0).unwrap();
    let _young = Node::new(&heap, &log, 9);
    let all = get_objects(&heap, None).unwrap();
    let per_gen: usize = (0..3)
        .map(|g| get_objects(&heap, Some(g)).unwrap().len())
        .sum();
    assert_eq!(all.len(), per_gen);
    assert_eq!(all.len(), nodes.len() + 1);
    for bad in [3, 1000, usize::MAX] {
        let err = get_objects(&heap, Some(bad)).unwrap_err();
        assert_eq!(err.generation(), bad);
    }
    assert!(collect(&heap, 3).is_err());
}

/// `test_saveall`: nothing in `garbage` after a normal collection; with `SAVEALL` a
/// self-referencing object is kept there (same identity) instead of freed.
#[test]
fn test_saveall() {
    let heap = quiet_heap();
    let log = DropLog::new();
    heap.collect();
    assert!(garbage(&heap).is_empty());

    let debug = set_debug(&heap, DebugFlags::SAVEALL);
    let l = Node::new(&heap, &log, 1);
    l.link(&l);
    let id = Gc::to_any(&l).id();
    drop(l);
    heap.collect();
    let kept = garbage(&heap);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id(), id);
    assert!(!log.dropped(1), "kept, not freed");
    drop(kept);

    drop(debug);
    assert!(!heap.save_all());
    heap.clear_garbage();
    assert_eq!(heap.collect().collected, 1);
    assert!(log.dropped(1));
}

/// `test_get_objects_during_gc` (gh-125859): a finalizer run by a collection calls
/// `get_objects` (which must not contain its object) and `get_referrers` on its
/// object (empty: the collection holds it, and its only referrer is itself).
#[test]
fn test_get_objects_during_gc() {
    #[derive(Traverse)]
    #[traverse(finalize)]
    struct GetObjectsOnDel {
        cycle: RefCell<Option<Gc<GetObjectsOnDel>>>,
        #[traverse(skip)]
        heap: Heap,
        #[traverse(skip)]
        checked: Rc<Cell<bool>>,
    }
    impl Finalize for GetObjectsOnDel {
        fn finalize(&self) {
            let me = Gc::to_any(self.cycle.borrow().as_ref().unwrap());
            let objs = get_objects(&self.heap, None).unwrap();
            assert!(objs.iter().all(|o| !o.ptr_eq(&me)));
            assert!(objs.iter().all(GcAny::is_alive));
            drop(objs);
            assert!(get_referrers(&self.heap, &me).is_empty());
            // The other tools agree.
            assert!(why_alive(&self.heap, &me).is_none());
            let snap = Snapshot::take(&self.heap);
            assert!(snap.object(me.id()).is_none());
            // Only the bystander, held by the test's variable, is reported.
            let report = audit(&self.heap);
            assert!(
                matches!(
                    report.findings(),
                    [Finding::Unaccounted {
                        strong_count: 1,
                        ..
                    }]
                ),
                "{report}"
            );
            self.checked.set(true);
        }
    }
    let heap = quiet_heap();
    let log = DropLog::new();
    let _bystander = Node::new(&heap, &log, 1);
    let checked = Rc::new(Cell::new(false));
    let obj = heap.alloc(GetObjectsOnDel {
        cycle: RefCell::new(None),
        heap: heap.clone(),
        checked: checked.clone(),
    });
    *obj.cycle.borrow_mut() = Some(obj.clone());
    drop(obj);
    assert_eq!(heap.collect().collected, 1);
    assert!(checked.get());
}

/// The destruction phase: a `Drop` impl of a garbage object (its neighbours are
/// dead by then) calls the introspection functions and gets only live objects.
#[test]
fn introspection_from_drop_during_collection_sees_no_dead_object() {
    struct Probe {
        next: RefCell<Option<Gc<Probe>>>,
        heap: Heap,
        seen: Rc<Cell<usize>>,
    }
    // SAFETY: reports the one handle `Probe` owns, once.
    unsafe impl Traverse for Probe {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            self.next.traverse(visitor);
        }
    }
    impl Drop for Probe {
        fn drop(&mut self) {
            let objs = get_objects(&self.heap, None).unwrap();
            assert!(objs.iter().all(GcAny::is_alive));
            assert!(objs.iter().all(|o| !o.is::<Probe>()));
            let next = self.next.borrow();
            let next = Gc::to_any(next.as_ref().unwrap());
            assert!(get_referrers(&self.heap, &next).is_empty());
            assert!(get_referents(&next).iter().all(GcAny::is_alive));
            let snap = Snapshot::take(&self.heap);
            assert!(snap.objects().iter().all(|o| o.state == ObjectState::Heap));
            self.seen.set(self.seen.get() + 1);
        }
    }
    let heap = quiet_heap();
    let log = DropLog::new();
    let _bystander = Node::new(&heap, &log, 1);
    let seen = Rc::new(Cell::new(0));
    let probe = |heap: &Heap| {
        heap.alloc(Probe {
            next: RefCell::new(None),
            heap: heap.clone(),
            seen: seen.clone(),
        })
    };
    let a = probe(&heap);
    let b = probe(&heap);
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(a.clone());
    drop((a, b));
    assert_eq!(heap.collect().collected, 2);
    assert_eq!(seen.get(), 2);
}

// ---------------------------------------------------------------------------------
// test_gc.py, GCCallbackTests
// ---------------------------------------------------------------------------------

type Calls = Rc<RefCell<Vec<(CollectPhase, usize, usize, usize)>>>;

fn recording_callback(heap: &Heap) -> (Calls, gc_core::CallbackId) {
    let calls: Calls = Rc::default();
    let c = calls.clone();
    let id = add_callback(heap, move |phase, info| {
        c.borrow_mut()
            .push((phase, info.generation, info.collected, info.uncollectable));
    });
    (calls, id)
}

/// `test_collect`: each callback is called exactly twice per collection, with
/// phases start then stop, and the info fields.
#[test]
fn test_collect() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let (cb1, id1) = recording_callback(&heap);
    let (cb2, id2) = recording_callback(&heap);
    let a = Node::new(&heap, &log, 1);
    a.link(&a);
    drop(a);
    heap.collect();
    for calls in [&cb1, &cb2] {
        let calls = calls.borrow();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0], (CollectPhase::Start, 2, 0, 0));
        assert_eq!(calls[1], (CollectPhase::Stop, 2, 1, 0));
    }
    assert!(remove_callback(&heap, id1));
    assert!(remove_callback(&heap, id2));
    heap.collect();
    assert_eq!(cb1.borrow().len(), 2);
}

/// A collection a callback requests, at start or at stop, is skipped (CPython's
/// `gc.collect()` returns 0 there), and so is an automatic one: the callbacks are not
/// called again from inside themselves. The collection that called them runs as
/// usual, and a later one calls them again.
#[test]
fn a_collection_requested_by_a_callback_is_skipped() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let garbage = Node::new(&heap, &log, 1);
    garbage.link(&garbage);
    drop(garbage);
    let calls = Rc::new(Cell::new(0));
    let nested: Rc<RefCell<Vec<(CollectPhase, bool)>>> = Rc::default();
    let (h, l, c, n) = (heap.clone(), log.clone(), calls.clone(), nested.clone());
    let id = add_callback(&heap, move |phase, _| {
        c.set(c.get() + 1);
        // With a threshold of 1, this allocation is past it: an automatic
        // collection would start here if it were not skipped.
        let fresh = Node::new(&h, &l, 100 + c.get());
        fresh.link(&fresh);
        drop(fresh);
        n.borrow_mut().push((phase, h.collect().skipped));
    });
    heap.set_threshold(1, 1, 1);
    heap.enable();
    // The Start callback's self-cycle is made before the collection looks: it is
    // collected with the garbage; the Stop callback's waits for the next one.
    assert_eq!(heap.collect().collected, 2);
    assert!(log.dropped(1) && log.dropped(101));
    assert_eq!(calls.get(), 2, "one Start and one Stop, no recursion");
    assert_eq!(
        *nested.borrow(),
        [(CollectPhase::Start, true), (CollectPhase::Stop, true)]
    );
    assert_eq!(
        heap.get_stats()[0].collections,
        0,
        "no automatic collection"
    );
    heap.disable();
    assert_eq!(heap.collect().collected, 2);
    assert!(log.dropped(102) && log.dropped(103));
    assert_eq!(calls.get(), 4);
    remove_callback(&heap, id);
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(log.count(), 5);
    log.assert_no_double_drop();
}

/// `test_collect_generation`: the info names the generation collected.
#[test]
fn test_collect_generation() {
    let heap = quiet_heap();
    let (calls, _) = recording_callback(&heap);
    collect(&heap, 2).unwrap();
    assert!(calls.borrow().iter().all(|c| c.1 == 2));
    calls.borrow_mut().clear();
    collect(&heap, 0).unwrap();
    assert!(calls.borrow().iter().all(|c| c.1 == 0));
    assert_eq!(calls.borrow().len(), 2);
}

/// Callbacks may use every gc-debug function at start and stop, duration included.
#[test]
fn callbacks_can_introspect_the_heap() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let kept = Node::new(&heap, &log, 1);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let h = heap.clone();
    let id = add_callback(&heap, move |phase, info| {
        let objects = get_objects(&h, None).unwrap().len();
        let snapshot = Snapshot::take(&h).objects().len();
        s.borrow_mut()
            .push((phase, objects, snapshot, info.duration));
    });
    let garbage = Node::new(&heap, &log, 2);
    garbage.link(&garbage);
    drop(garbage);
    heap.collect();
    let seen = seen.borrow();
    assert_eq!(seen[0].0, CollectPhase::Start);
    assert_eq!((seen[0].1, seen[0].2), (2, 2));
    assert_eq!(seen[1].0, CollectPhase::Stop);
    assert_eq!((seen[1].1, seen[1].2), (1, 1));
    assert_eq!(seen[0].3, std::time::Duration::ZERO);
    remove_callback(&heap, id);
    drop(kept);
}

// ---------------------------------------------------------------------------------
// Debug flags through tracing
// ---------------------------------------------------------------------------------

mod capture {
    //! A minimal `tracing` subscriber that records events (target, level, message,
    //! fields, parent span name).

    use gc_debug::tracing;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Level, Metadata, Subscriber};

    #[derive(Clone, Debug)]
    pub struct Captured {
        pub target: String,
        pub level: Level,
        pub message: String,
        pub fields: HashMap<String, String>,
        pub span: Option<String>,
    }

    #[derive(Default)]
    struct Fields(HashMap<String, String>);

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_string(), value.to_string());
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0
                .insert(field.name().to_string(), format!("{value:?}"));
        }
    }

    #[derive(Default)]
    struct Recorder {
        events: Arc<Mutex<Vec<Captured>>>,
        spans: Mutex<HashMap<u64, &'static str>>,
        next: AtomicU64,
    }

    impl Subscriber for Recorder {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
            self.spans
                .lock()
                .unwrap()
                .insert(id, span.metadata().name());
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            let message = fields.0.remove("message").unwrap_or_default();
            let span = event
                .parent()
                .and_then(|id| self.spans.lock().unwrap().get(&id.into_u64()).copied())
                .map(str::to_string);
            self.events.lock().unwrap().push(Captured {
                target: event.metadata().target().to_string(),
                level: *event.metadata().level(),
                message,
                fields: fields.0,
                span,
            });
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// Runs `f` with the recorder as this thread's subscriber; returns what gc-debug
    /// emitted.
    pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Captured>) {
        let recorder = Recorder::default();
        let events = recorder.events.clone();
        let r = tracing::subscriber::with_default(recorder, f);
        let events = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.target == gc_debug::TRACING_TARGET)
            .cloned()
            .collect();
        (r, events)
    }
}

use capture::capture;

/// `STATS`: one event per collection, with structured fields, in the collection's
/// span.
#[test]
fn debug_stats_logs_one_line_per_collection() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let _debug = set_debug(&heap, DebugFlags::STATS);
    let ((), events) = capture(|| {
        let a = Node::new(&heap, &log, 1);
        a.link(&a);
        drop(a);
        heap.collect();
        collect(&heap, 0).unwrap();
    });
    assert_eq!(events.len(), 2, "{events:#?}");
    let first = &events[0];
    assert_eq!(first.target, TRACING_TARGET);
    assert_eq!(first.level, gc_debug::tracing::Level::INFO);
    assert!(
        first
            .message
            .starts_with("gc: collected generation 2: 1 unreachable, 0 uncollectable"),
        "{}",
        first.message
    );
    assert_eq!(first.fields["generation"], "2");
    assert_eq!(first.fields["collected"], "1");
    assert_eq!(first.fields["uncollectable"], "0");
    assert!(first.fields.contains_key("elapsed_s"));
    assert_eq!(first.span.as_deref(), Some("gc_collect"));
    assert_eq!(events[1].fields["generation"], "0");
}

/// No flag, no output (and no callback work).
#[test]
fn no_debug_flag_no_output() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let ((), events) = capture(|| {
        let _debug = set_debug(&heap, DebugFlags::empty());
        let a = Node::new(&heap, &log, 1);
        a.link(&a);
        drop(a);
        heap.collect();
    });
    assert!(events.is_empty(), "{events:#?}");
}

fn collectable_types(events: &[capture::Captured]) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .filter(|e| e.message.starts_with("gc: collectable <"))
        .map(|e| e.fields["type_name"].clone())
        .collect();
    v.sort();
    v
}

/// `COLLECTABLE` without `SAVEALL`: one event per object the collection freed (and
/// none for the survivors).
#[test]
fn debug_collectable_names_each_freed_object() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let survivor = Node::new(&heap, &log, 0);
    let _debug = set_debug(&heap, DebugFlags::COLLECTABLE);
    let ((), events) = capture(|| {
        let a = Node::new(&heap, &log, 1);
        let b = Node::new(&heap, &log, 2);
        let c = heap.alloc(vec![a.clone()]);
        a.link(&b);
        b.link(&a);
        a.link(&survivor);
        drop((a, b, c));
        // `c` (a Vec) was freed by reference counting before the collection: not
        // listed. The cycle is.
        assert_eq!(heap.collect().collected, 2);
    });
    let node = std::any::type_name::<Node>().to_string();
    assert_eq!(collectable_types(&events), [node.clone(), node]);
    assert!(events
        .iter()
        .all(|e| e.span.as_deref() == Some("gc_collect")));
    assert_eq!(Gc::strong_count(&survivor), 1);
}

/// `LEAK` (= COLLECTABLE | UNCOLLECTABLE | SAVEALL): freed objects are listed from
/// the garbage list, where they are kept.
#[test]
fn debug_leak_lists_and_keeps_the_garbage() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let debug = set_debug(&heap, DebugFlags::LEAK);
    assert_eq!(get_debug(&heap), DebugFlags::LEAK);
    let ((), events) = capture(|| {
        for i in 0..3 {
            let a = Node::new(&heap, &log, i);
            a.link(&a);
        }
        heap.collect();
    });
    assert_eq!(collectable_types(&events).len(), 3);
    assert_eq!(garbage(&heap).len(), 3);
    assert_eq!(log.count(), 0);
    drop(debug);
    assert_eq!(get_debug(&heap), DebugFlags::empty());
    heap.clear_garbage();
    heap.collect();
    assert_eq!(log.count(), 3);
}

/// `UNCOLLECTABLE`: nothing per collection (every cycle is collectable); at
/// `gc_debug::shutdown`, one warning per object still referenced.
#[test]
fn debug_uncollectable_reports_leaks_at_shutdown() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let debug = set_debug(&heap, DebugFlags::UNCOLLECTABLE);
    let held = Node::new(&heap, &log, 1);
    let (report, events) = capture(|| {
        heap.collect();
        gc_debug::shutdown(&heap)
    });
    assert_eq!(report.leaks.len(), 1);
    let warnings: Vec<_> = events
        .iter()
        .filter(|e| e.level == gc_debug::tracing::Level::WARN)
        .collect();
    assert_eq!(warnings.len(), 2, "{events:#?}");
    assert!(warnings[1]
        .message
        .contains("still referenced at shutdown: <"));
    assert_eq!(
        warnings[1].fields["type_name"],
        std::any::type_name::<Node>()
    );
    drop((debug, held));
}

// ---------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------

/// A snapshot records objects (type, size, generation, tracked, counts) and edges,
/// and renders them as DOT and JSON.
#[test]
fn snapshot_records_objects_and_edges() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let a = Node::new(&heap, &log, 1);
    let b = Node::new(&heap, &log, 2);
    a.link(&b);
    b.link(&a);
    let leaf = heap.alloc(String::from("quote \" and \\ backslash"));
    let holder = heap.alloc(vec![leaf.clone()]);
    collect(&heap, 0).unwrap();

    let snap = Snapshot::take(&heap);
    assert_eq!(snap.objects().len(), 4);
    let oa = snap.object(Gc::to_any(&a).id()).unwrap();
    assert_eq!(oa.type_name, std::any::type_name::<Node>());
    assert_eq!(oa.size, std::mem::size_of::<Node>());
    assert_eq!(oa.generation, Some(1));
    assert!(oa.tracked());
    assert_eq!(
        (oa.strong_count, oa.traversed_refs, oa.outside_refs()),
        (2, 1, 1)
    );
    let ol = snap.object(Gc::to_any(&leaf).id()).unwrap();
    assert_eq!(ol.state, ObjectState::Untracked);
    assert!(!ol.tracked());
    assert_eq!((ol.strong_count, ol.traversed_refs), (2, 1));
    let edges: Vec<(usize, usize)> = snap.edges().iter().map(|e| (e.from, e.to)).collect();
    let id = |g: GcAny| g.id();
    assert!(edges.contains(&(id(Gc::to_any(&a)), id(Gc::to_any(&b)))));
    assert!(edges.contains(&(id(Gc::to_any(&b)), id(Gc::to_any(&a)))));
    assert!(edges.contains(&(id(Gc::to_any(&holder)), id(Gc::to_any(&leaf)))));
    assert_eq!(snap.edges().len(), 3);
    assert!(snap.edges().iter().all(|e| e.seen_by_collector));
    assert_eq!(snap.held_from_outside().count(), 3);

    let dot = snap.to_dot();
    assert!(dot.starts_with("digraph heap {\n") && dot.ends_with("}\n"));
    assert_eq!(dot.matches(" -> ").count(), 3);
    assert_eq!(dot.matches("held from outside").count(), 3);
    let json = snap.to_json();
    assert_eq!(json.matches("\"type\":").count(), 4);
    assert_eq!(json.matches("\"seen_by_collector\":true").count(), 3);
    assert!(json.contains(&format!("\"id\":\"{:#x}\"", oa.id)));
    assert!(json.contains("\"state\":\"untracked\""));

    // Reachable subgraph.
    let sub = snap.reachable_from(&[Gc::to_any(&holder).id()]);
    assert_eq!(sub.objects().len(), 2);
    a.unlink_all();
}

/// Taking a snapshot (or auditing, or asking why an object is alive) changes no
/// count and no generation: the next full collection still has nothing to examine.
/// `get_objects` hands out handles, and dropping a handle to an old object makes it
/// a candidate again, as any dropped handle does.
#[test]
fn snapshot_and_audit_leave_the_heap_as_it_was() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let nodes: Vec<_> = (0..4).map(|i| Node::new(&heap, &log, i)).collect();
    nodes[0].link(&nodes[1]);
    heap.collect();
    assert_eq!(heap.collect().candidates, 0);
    let counts: Vec<usize> = nodes.iter().map(Gc::strong_count).collect();
    let _ = Snapshot::take(&heap);
    let _ = audit_with_roots(&heap, &[]);
    let _ = get_referrers(&heap, &nodes[3]);
    assert_eq!(
        nodes.iter().map(Gc::strong_count).collect::<Vec<_>>(),
        counts
    );
    // `get_referrers` dropped its handle to `nodes[3]`: one candidate.
    assert_eq!(heap.collect().candidates, 1);
    let _ = Snapshot::take(&heap);
    assert_eq!(heap.collect().candidates, 0);
    drop(get_objects(&heap, None).unwrap());
    assert_eq!(heap.collect().candidates, 4);
}

/// Objects of other heaps, dead handles and frozen objects are marked in the
/// picture; references from untracked values are not seen by the collector.
#[test]
fn snapshot_marks_other_heaps_frozen_and_dead() {
    let heap = quiet_heap();
    let other = quiet_heap();
    let log = DropLog::new();
    let foreign = Node::new(&other, &log, 1);
    let local = Node::new(&heap, &log, 2);
    local.link(&foreign);
    freeze(&heap);
    let snap = Snapshot::take(&heap);
    assert_eq!(
        snap.object(Gc::to_any(&local).id()).unwrap().state,
        ObjectState::Frozen
    );
    assert_eq!(
        snap.object(Gc::to_any(&foreign).id()).unwrap().state,
        ObjectState::OtherHeap
    );
    assert!(snap.to_dot().contains("other-heap"));
    unfreeze(&heap);
    other.shutdown();
    let snap = Snapshot::take(&heap);
    assert_eq!(
        snap.object(Gc::to_any(&foreign).id()).unwrap().state,
        ObjectState::Dead
    );
    // Dead handles are never handed out.
    assert!(get_referents(&local).is_empty());
}

// ---------------------------------------------------------------------------------
// why_alive
// ---------------------------------------------------------------------------------

/// The shortest chain from an object held from outside to the object.
#[test]
fn why_alive_finds_the_shortest_chain() {
    let heap = quiet_heap();
    let log = DropLog::new();
    let n: Vec<_> = (0..5).map(|i| Node::new(&heap, &log, i)).collect();
    // 0 -> 1 -> 2 -> 3 -> 4 and a shortcut 0 -> 4; 2 -> 1 closes a cycle.
    n[0].link(&n[1]);
    n[1].link(&n[2]);
    n[2].link(&n[3]);
    n[3].link(&n[4]);
    n[0].link(&n[4]);
    n[2].link(&n[1]);
    let root = n[0].clone();
    let target = n[4].clone();
    drop(n);
    let path = why_alive(&heap, &target).unwrap();
    let ids: Vec<usize> = path.objects().iter().map(GcAny::id).collect();
    assert_eq!(ids, [Gc::to_any(&root).id(), Gc::to_any(&target).id()]);
    assert_eq!(path.root_outside_refs(), 1);
    assert!(!path.root_is_frozen());
    let text = path.to_string();
    assert!(
        text.contains("held by 1 reference(s) no traversal reports"),
        "{text}"
    );
    drop(path);

    // With its own handle left, the object is its own root.
    let held = target.clone();
    assert_eq!(why_alive(&heap, &target).unwrap().len(), 1);
    drop(held);

    // A frozen referrer is a root: collections never look at it.
    freeze(&heap);
    drop(root);
    let path = why_alive(&heap, &target).unwrap();
    assert!(path.root_is_frozen());
    drop(path);
    unfreeze(&heap);

    // Garbage: nothing holds it.
    let path = why_alive(&heap, &target);
    assert!(path.is_none());
    // Untracked values are not the collector's business.
    assert!(why_alive(&heap, &heap.alloc(1u8)).is_none());
    drop(target);
    // Node 0 went by reference counting with `root`; the rest is a garbage cycle.
    assert_eq!(heap.collect().collected, 4);
}

// ---------------------------------------------------------------------------------
// The audit: each broken case is a hand-written `Traverse`.
// ---------------------------------------------------------------------------------

#[derive(Traverse)]
struct Item {
    owner: RefCell<Option<GcAny>>,
}

fn item(heap: &Heap) -> Gc<Item> {
    heap.alloc(Item {
        owner: RefCell::new(None),
    })
}

/// Correct types: nothing to report, whether the objects are garbage waiting for a
/// collection, collected, held by roots, or kept by `SAVEALL`.
#[test]
fn audit_of_correct_types_reports_nothing() {
    #[derive(Traverse)]
    struct Pair {
        first: Gc<Item>,
        second: RefCell<Option<Gc<Item>>>,
    }
    let heap = quiet_heap();
    let (a, b) = (item(&heap), item(&heap));
    let pair = heap.alloc(Pair {
        first: a.clone(),
        second: RefCell::new(Some(b.clone())),
    });
    *a.owner.borrow_mut() = Some(Gc::to_any(&pair));
    *b.owner.borrow_mut() = Some(Gc::to_any(&pair));

    let roots = [Gc::to_any(&pair), Gc::to_any(&a), Gc::to_any(&b)];
    let report = audit_with_roots(&heap, &roots);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.types().len(), 2);
    assert!(report.types().iter().all(|t| t.tracked && t.problems == 0));
    assert!(report.to_string().contains("no problem found"));

    // Held by our variables: reported when not named as roots.
    assert_eq!(audit(&heap).findings().len(), 3);

    drop((a, b, pair, roots));
    assert!(audit(&heap).is_clean(), "garbage waiting for a collection");
    let debug = set_debug(&heap, DebugFlags::SAVEALL);
    assert_eq!(heap.collect().collected, 3);
    assert!(audit(&heap).is_clean(), "{}", audit(&heap));
    drop(debug);
    heap.clear_garbage();
    assert_eq!(heap.collect().collected, 3);
    assert!(audit(&heap).is_clean());
}

/// A `Traverse` that skips one field: the object it points to has one reference no
/// traversal reports, and the audit blames the skipping type for one handle.
#[test]
fn audit_names_the_type_that_skips_a_field() {
    struct Pair {
        first: Gc<Item>,
        second: RefCell<Option<Gc<Item>>>,
    }
    // SAFETY: reports fewer handles than `Pair` owns (it forgets `second`): a leak,
    // never unsound.
    unsafe impl Traverse for Pair {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            visitor.visit(&self.first);
        }
    }
    let heap = quiet_heap();
    let (a, b) = (item(&heap), item(&heap));
    let pair = heap.alloc(Pair {
        first: a.clone(),
        second: RefCell::new(Some(b.clone())),
    });
    *a.owner.borrow_mut() = Some(Gc::to_any(&pair));
    *b.owner.borrow_mut() = Some(Gc::to_any(&pair));
    let fix = Gc::downgrade(&pair);
    let b_id = Gc::to_any(&b).id();
    drop((a, b, pair));
    assert_eq!(
        heap.collect().collected,
        0,
        "the skipped field keeps the cycle"
    );

    let report = audit(&heap);
    let pair_name = std::any::type_name::<Pair>();
    assert_eq!(report.culprits(), [(pair_name, 1)], "{report}");
    match report.findings() {
        [Finding::Unaccounted {
            type_name,
            id,
            strong_count,
            traversed_refs,
            suspects,
            ..
        }] => {
            assert_eq!(*type_name, std::any::type_name::<Item>());
            assert_eq!(*id, b_id);
            assert_eq!((*strong_count, *traversed_refs), (1, 0));
            assert_eq!(suspects, &[pair_name, std::any::type_name::<Item>()]);
        }
        other => panic!("unexpected findings {other:?}"),
    }
    let text = report.to_string();
    assert!(text.contains(&format!("likely `{pair_name}`")), "{text}");
    let pair_summary = report
        .types()
        .iter()
        .find(|t| t.type_name == pair_name)
        .unwrap();
    assert_eq!(pair_summary.problems, 1);

    // Fix the leak by hand: everything is freed.
    fix.upgrade().unwrap().second.borrow_mut().take();
    assert_eq!(heap.collect().collected, 2);
    assert!(audit(&heap).is_clean());
}

/// Two skipped fields: two unreported references, both blamed on the same type.
/// Two handles to one object with one visited: one.
#[test]
fn audit_counts_each_skipped_field() {
    struct Triple {
        first: Gc<Item>,
        second: RefCell<Option<Gc<Item>>>,
        third: RefCell<Option<Gc<Item>>>,
    }
    // SAFETY: reports fewer handles than it owns: a leak, never unsound.
    unsafe impl Traverse for Triple {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            visitor.visit(&self.first);
        }
    }
    let heap = quiet_heap();
    let items: Vec<_> = (0..3).map(|_| item(&heap)).collect();
    let triple = heap.alloc(Triple {
        first: items[0].clone(),
        second: RefCell::new(Some(items[1].clone())),
        third: RefCell::new(Some(items[2].clone())),
    });
    for i in &items {
        *i.owner.borrow_mut() = Some(Gc::to_any(&triple));
    }
    let fix = Gc::downgrade(&triple);
    drop((items, triple));
    heap.collect();
    let report = audit(&heap);
    assert_eq!(
        report.culprits(),
        [(std::any::type_name::<Triple>(), 2)],
        "{report}"
    );
    assert_eq!(report.findings().len(), 2);
    let t = fix.upgrade().unwrap();
    t.second.borrow_mut().take();
    t.third.borrow_mut().take();
    drop(t);
    assert_eq!(heap.collect().collected, 2);

    // The same object twice, visited once.
    let a = item(&heap);
    let triple = heap.alloc(Triple {
        first: a.clone(),
        second: RefCell::new(Some(a.clone())),
        third: RefCell::new(None),
    });
    *a.owner.borrow_mut() = Some(Gc::to_any(&triple));
    let fix = Gc::downgrade(&triple);
    drop((a, triple));
    heap.collect();
    let report = audit(&heap);
    assert_eq!(
        report.culprits(),
        [(std::any::type_name::<Triple>(), 1)],
        "{report}"
    );
    fix.upgrade().unwrap().second.borrow_mut().take();
    assert_eq!(heap.collect().collected, 2);
}

/// A type that claims to be a leaf (`IS_LEAF = true`) but holds handles: untracked,
/// so its handles are invisible to collections; its traversal still reports them,
/// which names it.
#[test]
fn audit_names_a_leaf_that_holds_handles() {
    struct Liar {
        held: RefCell<Option<Gc<Item>>>,
    }
    // SAFETY: breaks rule 3 (a leaf that holds a handle) on purpose. Collections
    // never traverse untracked values, so the handle is only an outside reference
    // to them: the cycle through it leaks, nothing is freed early.
    unsafe impl Traverse for Liar {
        const IS_LEAF: bool = true;
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            self.held.traverse(visitor);
        }
    }
    let heap = quiet_heap();
    let it = item(&heap);
    let liar = heap.alloc(Liar {
        held: RefCell::new(Some(it.clone())),
    });
    assert!(!is_tracked(&liar));
    *it.owner.borrow_mut() = Some(Gc::to_any(&liar));
    let fix = liar.clone();
    drop((it, liar));
    assert_eq!(heap.collect().collected, 0);

    let report = audit_with_roots(&heap, &[]);
    let liar_name = std::any::type_name::<Liar>();
    assert_eq!(report.culprits(), [(liar_name, 1)], "{report}");
    assert!(matches!(
        report.findings(),
        [Finding::UntrackedHoldsHandles { type_name, handles: 1, .. }] if *type_name == liar_name
    ));
    assert!(report
        .types()
        .iter()
        .any(|t| t.type_name == liar_name && !t.tracked));
    // The collector's view: the item is held from outside.
    let snap = Snapshot::take(&heap);
    assert!(snap.edges().iter().any(|e| !e.seen_by_collector));
    assert!(snap.to_dot().contains("not seen by the collector"));

    fix.held.borrow_mut().take();
    drop(fix);
    assert!(audit(&heap).is_clean());
}

/// A leaf that hides a handle behind an `Rc` (reports nothing): the object it holds
/// has an unreported reference, and the hiding type is the first suspect.
#[test]
fn audit_suspects_a_leaf_that_hides_a_handle() {
    #[derive(Traverse)]
    struct Hidden {
        // `Rc` reports nothing: a handle behind it is invisible.
        inner: Rc<RefCell<Option<Gc<Item>>>>,
    }
    let heap = quiet_heap();
    let it = item(&heap);
    let escape = Rc::new(RefCell::new(Some(it.clone())));
    let hidden = heap.alloc(Hidden {
        inner: escape.clone(),
    });
    assert!(!is_tracked(&hidden));
    *it.owner.borrow_mut() = Some(Gc::to_any(&hidden));
    drop((it, hidden));
    let report = audit(&heap);
    assert_eq!(
        report.culprits(),
        [(std::any::type_name::<Hidden>(), 1)],
        "{report}"
    );
    escape.borrow_mut().take();
    assert!(audit(&heap).is_clean());
}

/// A `Traverse` that visits a handle twice: more reports than handles, blamed on
/// the reporting type. (No collection runs while it is broken: it would panic on a
/// `gc_refs` underflow.)
#[test]
fn audit_names_a_double_visit() {
    struct Twice {
        item: Gc<Item>,
        broken: Cell<bool>,
    }
    // SAFETY: while `broken` is set this breaks rule 1 (one handle reported twice);
    // the test runs no collection meanwhile, so the collector never sees it.
    unsafe impl Traverse for Twice {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            visitor.visit(&self.item);
            if self.broken.get() {
                visitor.visit(&self.item);
            }
        }
    }
    let heap = quiet_heap();
    let twice = heap.alloc(Twice {
        item: item(&heap),
        broken: Cell::new(true),
    });
    let report = audit_with_roots(&heap, &[Gc::to_any(&twice)]);
    let name = std::any::type_name::<Twice>();
    assert_eq!(report.culprits(), [(name, 1)], "{report}");
    assert!(matches!(
        report.findings(),
        [Finding::OverReported {
            strong_count: 1,
            traversed_refs: 2,
            ..
        }]
    ));
    assert!(report.to_string().contains("visits a handle twice"));
    twice.broken.set(false);
    assert!(audit_with_roots(&heap, &[Gc::to_any(&twice)]).is_clean());
}

/// References into another heap are outside references there: a warning naming the
/// holding type.
#[test]
fn audit_warns_about_cross_heap_references() {
    let heap = quiet_heap();
    let other = quiet_heap();
    let log = DropLog::new();
    let foreign = Node::new(&other, &log, 1);
    let local = Node::new(&heap, &log, 2);
    local.link(&foreign);
    let report = audit_with_roots(&heap, &[Gc::to_any(&local)]);
    assert!(matches!(
        report.findings(),
        [Finding::CrossHeap { references: 1, .. }]
    ));
    assert_eq!(
        report.culprits(),
        [(std::any::type_name::<Node>(), 1)],
        "{report}"
    );
    local.unlink_all();
}

// ---------------------------------------------------------------------------------
// Panics out of user code while gc-debug walks the heap
// ---------------------------------------------------------------------------------

/// A `Traverse` impl that panics while gc-debug walks the heap: the panic
/// propagates, the heap is left as it was (counts, generations), and stays usable.
#[test]
fn panicking_traverse_during_introspection_leaves_the_heap_usable() {
    struct Bomb {
        item: Gc<Item>,
        armed: Cell<bool>,
    }
    // SAFETY: reports its one handle once (or panics before reporting anything).
    unsafe impl Traverse for Bomb {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            assert!(!self.armed.get(), "bomb traversed");
            visitor.visit(&self.item);
        }
    }
    let heap = quiet_heap();
    let log = DropLog::new();
    let node = Node::new(&heap, &log, 1);
    let bomb = heap.alloc(Bomb {
        item: item(&heap),
        armed: Cell::new(false),
    });
    heap.collect();
    assert_eq!(heap.collect().candidates, 0);
    bomb.armed.set(true);
    let counts = (Gc::strong_count(&node), Gc::strong_count(&bomb));
    let calls: [&dyn Fn(); 4] = [
        &|| drop(get_referrers(&heap, &node)),
        &|| drop(Snapshot::take(&heap)),
        &|| drop(audit(&heap)),
        &|| drop(why_alive(&heap, &node)),
    ];
    for call in calls {
        let r = catch_unwind(AssertUnwindSafe(call));
        assert!(r.is_err());
        assert_eq!((Gc::strong_count(&node), Gc::strong_count(&bomb)), counts);
    }
    bomb.armed.set(false);
    // `why_alive` dropped a handle to `node`; nothing else moved.
    assert_eq!(heap.collect().candidates, 1);
    let snap = Snapshot::take(&heap);
    assert_eq!(snap.objects().len(), 3);
    assert!(audit_with_roots(&heap, &[Gc::to_any(&node), Gc::to_any(&bomb)]).is_clean());
}

/// The default heap: pass `&Heap::current()`.
#[test]
fn the_default_heap_is_passed_explicitly() {
    let log = DropLog::new();
    let heap = Heap::current();
    let before = get_objects(&heap, None).unwrap().len();
    let node = Node::new(&heap, &log, 1);
    assert_eq!(
        get_objects(&Heap::current(), None).unwrap().len(),
        before + 1
    );
    assert_eq!(get_threshold(&heap), heap.get_threshold());
    set_threshold(&heap, 0, 10, 10);
    assert_eq!(get_threshold(&Heap::current()).0, 0);
    drop(node);
}

// ---------------------------------------------------------------------------------
// Thread-safe heaps: snapshots, why_alive and the audit, under the heap lock
// ---------------------------------------------------------------------------------

mod thread_safe {
    use super::*;
    use gc_core::sync;
    use gc_debug::{
        audit_sync, get_debug_sync, get_objects_sync, get_referents_sync, get_referrers_sync,
        set_debug_sync, shutdown_sync, why_alive_sync,
    };
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    #[derive(Traverse)]
    struct MtNode {
        #[traverse(skip)]
        name: &'static str,
        next: Mutex<Vec<sync::Gc<MtNode>>>,
        leaf: Mutex<Option<sync::Gc<u64>>>,
    }

    fn mt(heap: &sync::Heap, name: &'static str) -> sync::Gc<MtNode> {
        heap.alloc(MtNode {
            name,
            next: Mutex::new(Vec::new()),
            leaf: Mutex::new(None),
        })
    }

    fn link(from: &sync::Gc<MtNode>, to: &sync::Gc<MtNode>) {
        from.read().next.lock().unwrap().push(to.clone());
    }

    /// a -> b <-> c -> leaf, linked on other threads, only `a` and `leaf` held: the
    /// snapshot, `why_alive_sync` and `audit_sync` see exactly that, from another
    /// thread, and leave counts, generations and the lock as they were.
    #[test]
    fn snapshot_why_alive_and_audit_walk_a_thread_safe_heap() {
        let heap = sync::Heap::new();
        heap.disable();
        let (a, b, c) = (mt(&heap, "a"), mt(&heap, "b"), mt(&heap, "c"));
        let leaf = heap.alloc(5u64);
        std::thread::scope(|s| {
            s.spawn(|| link(&a, &b));
            s.spawn(|| {
                link(&b, &c);
                link(&c, &b);
                *c.read().leaf.lock().unwrap() = Some(leaf.clone());
            });
        });
        let (ia, ib, ic, il) = (
            sync::Gc::id(&a),
            sync::Gc::id(&b),
            sync::Gc::id(&c),
            sync::Gc::id(&leaf),
        );
        drop((b, c));
        heap.collect();
        let counts = heap.get_count();
        let generations: Vec<usize> = (0..3).map(|g| heap.generation_len(g)).collect();

        let snap = std::thread::scope(|s| s.spawn(|| Snapshot::take_sync(&heap)).join())
            .expect("the snapshot thread");
        let ids: Vec<usize> = snap.objects().iter().map(|o| o.id).collect();
        assert_eq!(ids.len(), 4);
        assert!([ia, ib, ic, il].iter().all(|id| ids.contains(id)));
        let mut edges: Vec<(usize, usize)> = snap.edges().iter().map(|e| (e.from, e.to)).collect();
        edges.sort_unstable();
        let mut expected = vec![(ia, ib), (ib, ic), (ic, ib), (ic, il)];
        expected.sort_unstable();
        assert_eq!(edges, expected);
        let roots: Vec<usize> = snap.held_from_outside().map(|o| o.id).collect();
        assert_eq!(roots, [ia]);
        let b_obj = snap.object(ib).unwrap();
        assert_eq!(
            (b_obj.state, b_obj.strong_count, b_obj.traversed_refs),
            (ObjectState::Heap, 2, 2)
        );
        let l_obj = snap.object(il).unwrap();
        assert_eq!(
            (l_obj.state, l_obj.strong_count, l_obj.outside_refs()),
            (ObjectState::Untracked, 2, 1)
        );

        // Why is `c` alive? a -> b -> c. Ask through a handle got back from `b`.
        let c = a.read().next.lock().unwrap()[0].read().next.lock().unwrap()[0].clone();
        let path = why_alive_sync(&heap, &c).expect("held through a");
        assert_eq!(path.iter().map(|o| o.id).collect::<Vec<_>>(), [ia, ib, ic]);
        assert_eq!(path[0].outside_refs(), 1);
        assert_eq!(path[2].type_name, std::any::type_name::<MtNode>());
        drop(c);

        assert!(audit_sync(&heap, &[ia]).is_clean());
        match audit_sync(&heap, &[]).findings() {
            [Finding::Unaccounted {
                id,
                strong_count: 1,
                traversed_refs: 0,
                ..
            }] => {
                assert_eq!(*id, ia)
            }
            other => panic!("unexpected findings {other:?}"),
        }

        assert_eq!(heap.get_count(), counts);
        let after: Vec<usize> = (0..3).map(|g| heap.generation_len(g)).collect();
        assert_eq!(after, generations);
        assert_eq!(sync::Gc::strong_count(&a), 1);
        assert_eq!(heap.lock_holder(), None);
        assert_eq!(a.read().name, "a");
        drop(a); // freed by its count; b <-> c is left for the collector
        assert_eq!(heap.collect().collected, 2);
        assert_eq!(sync::Gc::strong_count(&leaf), 1);
    }

    /// test_gc.py's get_referents / get_referrers / get_objects on a thread-safe
    /// heap: thread-safe handles that other threads may use and drop.
    #[test]
    fn get_referents_referrers_and_objects_on_a_thread_safe_heap() {
        let heap = sync::Heap::new();
        heap.disable();
        let (a, b) = (mt(&heap, "a"), mt(&heap, "b"));
        let leaf = heap.alloc(9u64);
        link(&a, &b);
        link(&b, &a);
        *b.read().leaf.lock().unwrap() = Some(leaf.clone());

        let refs = get_referents_sync(&b);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].id(), sync::Gc::id(&a));
        assert_eq!(refs[1].id(), sync::Gc::id(&leaf));
        assert!(!refs[1].is_tracked() && refs[0].is_tracked());
        // Handles go to another thread and come back typed.
        let (node, value) = std::thread::scope(|s| {
            s.spawn(move || {
                let mut it = refs.into_iter();
                let node = it.next().unwrap().downcast::<MtNode>().unwrap();
                let value = *it.next().unwrap().downcast::<u64>().unwrap().read();
                (node, value)
            })
            .join()
            .unwrap()
        });
        assert!(sync::Gc::ptr_eq(&node, &a));
        assert_eq!(value, 9);
        drop(node);
        // A wrong type gives the handle back.
        let any = sync::Gc::to_any(&leaf);
        let any = any.downcast::<u32>().unwrap_err();
        assert_eq!(any.type_name(), "u64");

        let referrers = get_referrers_sync(&heap, &leaf);
        assert_eq!(referrers.len(), 1);
        assert_eq!(referrers[0].id(), sync::Gc::id(&b));
        assert_eq!(get_referrers_sync(&heap, &any)[0], referrers[0]);
        assert!(get_referrers_sync(&heap, &mt(&heap, "alone")).is_empty());
        let of_a = get_referrers_sync(&heap, &a); // a tracked target: b -> a
        assert_eq!(
            of_a.iter().map(sync::GcAny::id).collect::<Vec<_>>(),
            [sync::Gc::id(&b)]
        );
        drop(of_a);
        drop((referrers, any));

        assert_eq!(get_objects_sync(&heap, None).unwrap().len(), 2);
        assert_eq!(get_objects_sync(&heap, Some(0)).unwrap().len(), 2);
        heap.collect();
        assert_eq!(get_objects_sync(&heap, Some(0)).unwrap().len(), 0);
        let old = get_objects_sync(&heap, Some(2)).unwrap();
        assert_eq!(old.len(), 2);
        assert!(old.iter().all(|o| o.is::<MtNode>()));
        heap.freeze();
        assert!(get_objects_sync(&heap, None).unwrap().is_empty());
        assert!(get_objects_sync(&heap, Some(3)).is_err());
        heap.unfreeze();
        // The handles counted; they do not keep anything once dropped.
        drop((old, a, b));
        assert_eq!(heap.collect().collected, 2);
        assert_eq!(sync::Gc::strong_count(&leaf), 1);
    }

    /// A self-referencing node dropped: garbage for the next collection.
    fn garbage_node(heap: &sync::Heap) {
        let n = mt(heap, "garbage");
        link(&n, &n);
    }

    /// Debug flags on a thread-safe heap: the events come from whichever thread
    /// collects, in its `gc_collect` span; `SAVEALL` keeps the garbage.
    #[test]
    fn debug_flags_log_on_the_collecting_thread() {
        let heap = sync::Heap::new();
        heap.disable();
        let debug = set_debug_sync(&heap, DebugFlags::STATS | DebugFlags::COLLECTABLE);
        assert_eq!(
            get_debug_sync(&heap),
            DebugFlags::STATS | DebugFlags::COLLECTABLE
        );
        garbage_node(&heap);
        let (stats, events) =
            std::thread::scope(|s| s.spawn(|| capture(|| heap.collect())).join().unwrap());
        assert_eq!(stats.collected, 1);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert_eq!(
            events[0].fields["type_name"],
            std::any::type_name::<MtNode>()
        );
        assert!(events[1]
            .message
            .starts_with("gc: collected generation 2: 1 unreachable"));
        assert!(events
            .iter()
            .all(|e| e.span.as_deref() == Some("gc_collect")));

        // SAVEALL, nested, restored by the inner guard's drop on another thread.
        let inner = set_debug_sync(&heap, DebugFlags::SAVEALL);
        assert!(heap.save_all());
        garbage_node(&heap);
        assert_eq!(heap.collect().collected, 1);
        let saved = heap.garbage();
        assert!(saved[0].is::<MtNode>());
        std::thread::scope(|s| {
            s.spawn(move || drop(inner));
        });
        assert!(!heap.save_all());
        assert_eq!(
            get_debug_sync(&heap),
            DebugFlags::STATS | DebugFlags::COLLECTABLE
        );
        let node = saved[0].clone().downcast::<MtNode>().unwrap();
        let me = node.read().next.lock().unwrap().pop();
        drop((me, node, saved));

        // The last guard unregisters: no more events.
        drop(debug);
        assert_eq!(get_debug_sync(&heap), DebugFlags::empty());
        garbage_node(&heap);
        let (stats, events) = capture(|| heap.collect());
        assert_eq!(stats.collected, 1);
        assert!(events.is_empty(), "{events:#?}");
    }

    /// Two threads setting flags on the same heap at once share one registration:
    /// each collection is logged once; the guard keeps the heap running.
    #[test]
    fn debug_flags_set_from_two_threads_register_once() {
        let heap = sync::Heap::new();
        heap.disable();
        let guards = std::thread::scope(|s| {
            let a = s.spawn(|| set_debug_sync(&heap, DebugFlags::STATS));
            let b = s.spawn(|| set_debug_sync(&heap, DebugFlags::STATS));
            [a.join().unwrap(), b.join().unwrap()]
        });
        garbage_node(&heap);
        let (_, events) = capture(|| heap.collect());
        assert_eq!(events.len(), 1, "{events:#?}");

        let probe = mt(&heap, "probe");
        drop(heap); // the guards hold the heap
        assert_eq!(probe.read().name, "probe");
        drop(guards); // the last handle: the heap shuts down
        assert!(probe.try_read().is_err());
    }

    /// `UNCOLLECTABLE` and `shutdown_sync`: one warning per object still referenced.
    #[test]
    fn shutdown_sync_reports_what_is_still_referenced() {
        let heap = sync::Heap::new();
        let _debug = set_debug_sync(&heap, DebugFlags::UNCOLLECTABLE);
        let kept = mt(&heap, "kept");
        let (report, events) = capture(|| shutdown_sync(&heap).unwrap());
        assert_eq!(report.leaks.len(), 1);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert!(events[1].message.contains("still referenced at shutdown"));
        drop(kept);
    }

    /// A view holds the heap lock: other threads wait, this one re-enters; and a
    /// snapshot taken on another thread waits for a `Heap::lock` guard.
    #[test]
    fn a_heap_view_holds_the_heap_lock() {
        let heap = sync::Heap::new();
        let a = mt(&heap, "a");
        let view = sync::HeapView::new(&heap);
        assert_eq!(view.len(), 1);
        std::thread::scope(|s| {
            assert!(s.spawn(|| heap.try_lock().is_none()).join().unwrap());
        });
        let copy = a.clone(); // re-enters the lock
        assert_eq!(copy.read().name, "a");
        drop((copy, view));
        std::thread::scope(|s| {
            assert!(s.spawn(|| heap.try_lock().is_some()).join().unwrap());
        });

        let held = heap.lock();
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                let snap = Snapshot::take_sync(&heap);
                done.store(true, Ordering::SeqCst);
                snap
            });
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(
                !done.load(Ordering::SeqCst),
                "the snapshot ran under another thread's lock"
            );
            drop(held);
            assert_eq!(t.join().unwrap().objects().len(), 1);
        });
    }

    /// From a finalizer the collector runs (on the collecting thread, the lock held):
    /// the view re-enters the lock and does not show the objects being collected.
    #[test]
    fn a_snapshot_from_a_finalizer_shows_only_live_objects() {
        #[derive(Traverse)]
        #[traverse(finalize)]
        struct Fin {
            me: Mutex<Option<sync::Gc<Fin>>>,
            #[traverse(skip)]
            heap: sync::Heap,
            #[traverse(skip)]
            seen: Arc<Mutex<Option<(usize, bool)>>>,
        }
        impl Finalize for Fin {
            fn finalize(&self) {
                let mut view = sync::HeapView::new(&self.heap);
                let collecting = view.is_collecting();
                for i in 0..view.len() {
                    view.node_referents(i);
                }
                *self.seen.lock().unwrap() = Some((view.node_count(), collecting));
            }
        }
        let heap = sync::Heap::new();
        let live = mt(&heap, "live");
        let seen = Arc::new(Mutex::new(None));
        let f = heap.alloc(Fin {
            me: Mutex::new(None),
            heap: heap.clone(),
            seen: seen.clone(),
        });
        *f.read().me.lock().unwrap() = Some(f.clone());
        drop(f);
        assert_eq!(heap.collect().collected, 1);
        assert_eq!(*seen.lock().unwrap(), Some((1, true)));
        assert_eq!(
            Snapshot::take_sync(&heap).objects()[0].id,
            sync::Gc::id(&live)
        );
    }

    /// A `Traverse` impl that panics while a thread-safe heap is walked: the panic
    /// propagates, the pins and the lock are released.
    #[test]
    fn a_panicking_traverse_releases_the_view_and_the_lock() {
        struct Bomb {
            me: Mutex<Option<sync::Gc<Bomb>>>,
            armed: AtomicBool,
        }
        // SAFETY: reports its one handle once (or panics before reporting anything).
        unsafe impl Traverse for Bomb {
            fn traverse(&self, visitor: &mut Visitor<'_>) {
                assert!(!self.armed.load(Ordering::SeqCst), "bomb traversed");
                self.me.traverse(visitor);
            }
        }
        let heap = sync::Heap::new();
        let bomb = heap.alloc(Bomb {
            me: Mutex::new(None),
            armed: AtomicBool::new(true),
        });
        *bomb.read().me.lock().unwrap() = Some(bomb.clone());
        let calls: [&dyn Fn(); 5] = [
            &|| drop(Snapshot::take_sync(&heap)),
            &|| drop(audit_sync(&heap, &[])),
            &|| drop(why_alive_sync(&heap, &bomb)),
            &|| drop(get_referents_sync(&bomb)),
            &|| drop(get_referrers_sync(&heap, &bomb)),
        ];
        for call in calls {
            assert!(catch_unwind(AssertUnwindSafe(call)).is_err());
            assert_eq!(heap.lock_holder(), None);
            assert_eq!(sync::Gc::strong_count(&bomb), 2);
        }
        bomb.read().armed.store(false, Ordering::SeqCst);
        drop(bomb);
        assert_eq!(heap.collect().collected, 1);
    }
}
