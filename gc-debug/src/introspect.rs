//! The introspection functions of CPython's `gc` module, by the same names.
//!
//! Each one is safe to call from a finalizer, a `Drop` impl or a collection callback
//! while a collection runs: the objects that collection holds (found unreachable,
//! being finalized or destroyed) are on none of the heap's lists, so
//! [`get_objects`] and [`get_referrers`] never return them, and no function here
//! returns a dead handle.

use gc_core::introspect::HeapView;
use gc_core::{sync, CollectStats, GcAny, GenerationStats, Heap, GENERATIONS};

use crate::error::InvalidGeneration;
use crate::graph::View;
use crate::handle::{AsAny, AsSyncAny};

/// What `obj`'s traversal reports: the handles it owns, its owning type first if it
/// was allocated with one (CPython's `gc.get_referents`).
///
/// Leaves report nothing, so an untracked object gives an empty list (CPython:
/// "non-GC objects contribute nothing"). Dead handles (objects the collector
/// destroyed, or of a heap that was shut down) are left out. For several objects,
/// concatenate the results.
///
/// # Panics
/// If `obj`'s `Traverse` impl panics.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::get_referents;
///
/// let heap = Heap::new();
/// let list = heap.alloc(vec![heap.alloc(1u32), heap.alloc(3), heap.alloc(5)]);
/// let mut values: Vec<u32> = get_referents(&list)
///     .into_iter()
///     .map(|r| *r.downcast::<u32>().unwrap())
///     .collect();
/// values.sort();
/// assert_eq!(values, [1, 3, 5]);
/// assert!(get_referents(&heap.alloc(7u32)).is_empty());
/// ```
pub fn get_referents(obj: &impl AsAny) -> Vec<GcAny> {
    obj.as_any()
        .referents()
        .into_iter()
        .filter(GcAny::is_alive)
        .collect()
}

/// Every tracked object of `heap` in generations 0 to 2 whose traversal reports `obj`
/// (CPython's `gc.get_referrers`), each once, young generation first.
///
/// As in CPython, the permanent generation ([`freeze`]) is not searched, and the
/// result is only as good as the `Traverse` impls: a handle that no traversal reports
/// (a skipped field, a handle held outside the heap) has no referrer to show
/// ([`why_alive`](crate::why_alive()) and [`audit`](crate::audit()) look for those).
/// Objects a running collection holds are not searched, so a finalizer calling
/// `get_referrers` on its own object gets an empty list.
///
/// Walks the whole heap and calls every traversal: for debugging, not for hot paths.
///
/// # Panics
/// If a `Traverse` impl panics (the heap is left as it was).
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::get_referrers;
///
/// let heap = Heap::new();
/// let shared = heap.alloc(0u8);
/// let a = heap.alloc(vec![shared.clone()]);
/// let b = heap.alloc(Some(shared.clone()));
/// let referrers = get_referrers(&heap, &shared);
/// assert_eq!(referrers.len(), 2);
/// assert!(referrers.iter().any(|r| r.ptr_eq(&Gc::to_any(&a))));
/// assert!(referrers.iter().any(|r| r.ptr_eq(&Gc::to_any(&b))));
/// ```
pub fn get_referrers(heap: &Heap, obj: &impl AsAny) -> Vec<GcAny> {
    let target = obj.as_any().id();
    let mut view = HeapView::new(heap);
    referrer_nodes(&mut view, target)
        .into_iter()
        .map(|i| view.handle(i))
        .collect()
}

/// The listed objects of `view` outside the permanent generation whose traversal
/// reports the object with id `target`, each once, in the view's order.
fn referrer_nodes(view: &mut impl View, target: usize) -> Vec<usize> {
    // The target's node, looked for among the nodes once each: the listed ones,
    // then each one a traversal adds.
    let mut found = (0..view.len()).find(|&i| view.info(i).id == target);
    let mut out = Vec::new();
    for i in 0..view.len() {
        if view.info(i).frozen {
            continue;
        }
        let known = view.node_count();
        let referents = view.node_referents(i);
        if found.is_none() {
            found = (known..view.node_count()).find(|&j| view.info(j).id == target);
        }
        if found.is_some_and(|t| referents.contains(&t)) {
            out.push(i);
        }
    }
    out
}

/// Whether the collector tracks `obj` (CPython's `gc.is_tracked`): its type can hold
/// handles or has a finalizer, or it was allocated with an owning type. Leaves,
/// dead handles and objects of a heap that was shut down are not tracked.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::is_tracked;
///
/// let heap = Heap::new();
/// assert!(!is_tracked(&heap.alloc(1u64)));
/// assert!(!is_tracked(&heap.alloc(String::from("a"))));
/// assert!(is_tracked(&heap.alloc(Vec::<Gc<u8>>::new())));
/// ```
pub fn is_tracked(obj: &impl AsAny) -> bool {
    obj.as_any().is_tracked()
}

/// Whether `obj`'s finalizer has run (CPython's `gc.is_finalized`); always `false`
/// for a type without a finalizer.
///
/// # Examples
///
/// ```
/// use gc_core::{Finalize, Gc, Heap, Traverse};
/// use gc_debug::is_finalized;
/// use std::cell::RefCell;
///
/// thread_local!(static HEAVEN: RefCell<Vec<Gc<Lazarus>>> = RefCell::new(Vec::new()));
///
/// #[derive(Traverse)]
/// #[traverse(finalize)]
/// struct Lazarus {
///     me: RefCell<Option<Gc<Lazarus>>>,
/// }
/// impl Finalize for Lazarus {
///     fn finalize(&self) {
///         // Resurrect: store a handle to ourselves somewhere reachable.
///         let me = self.me.borrow().clone().unwrap();
///         HEAVEN.with(|h| h.borrow_mut().push(me));
///     }
/// }
///
/// let heap = Heap::new();
/// let laz = heap.alloc(Lazarus { me: RefCell::new(None) });
/// *laz.me.borrow_mut() = Some(laz.clone());
/// assert!(!is_finalized(&laz));
/// drop(laz);
/// heap.collect();
/// let back = HEAVEN.with(|h| h.borrow_mut().pop()).unwrap();
/// assert!(is_finalized(&back));
/// back.me.borrow_mut().take(); // break the cycle: `back` is freed below
/// ```
pub fn is_finalized(obj: &impl AsAny) -> bool {
    obj.as_any().is_finalized()
}

/// The tracked objects of generation `generation`, or of generations 0 to 2 for
/// `None` (CPython's `gc.get_objects`), as handles that can be downcast and name
/// their type.
///
/// As in CPython, frozen objects (the permanent generation) are not included, and
/// neither are objects that a running collection holds. The handles are strong:
/// while you hold them the objects stay alive (and dropping a handle to an old
/// object, like any dropped handle, makes it a candidate for the next full
/// collection). [`Snapshot`](crate::Snapshot) describes the heap without handing out
/// handles.
///
/// # Errors
/// [`InvalidGeneration`] if `generation > Some(2)` (CPython's `ValueError`). A
/// negative or non-integer generation (CPython's other errors) does not type-check:
///
/// ```compile_fail
/// gc_debug::get_objects(&gc_core::Heap::new(), Some(-1));
/// ```
///
/// ```compile_fail
/// gc_debug::get_objects(&gc_core::Heap::new(), Some("1"));
/// ```
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::get_objects;
///
/// let heap = Heap::new();
/// let list = heap.alloc(vec![heap.alloc(1u8)]);
/// let young = get_objects(&heap, Some(0)).unwrap();
/// assert_eq!(young.len(), 1);
/// assert!(young[0].is::<Vec<Gc<u8>>>());
/// assert_eq!(young[0].type_name(), std::any::type_name::<Vec<Gc<u8>>>());
/// assert!(get_objects(&heap, Some(3)).is_err());
/// # drop(list);
/// ```
pub fn get_objects(
    heap: &Heap,
    generation: Option<usize>,
) -> Result<Vec<GcAny>, InvalidGeneration> {
    match generation {
        Some(g) => Ok(heap.objects(Some(InvalidGeneration::check(g)?))),
        None => Ok((0..GENERATIONS)
            .flat_map(|g| heap.objects(Some(g)))
            .collect()),
    }
}

/// CPython's `gc.get_count()`: `(tracked allocations minus deallocations since the
/// last generation-0 collection, generation-0 collections since the last
/// generation-1 collection, generation-1 collections since the last full one)`.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::get_count;
///
/// let heap = Heap::new();
/// heap.collect();
/// assert_eq!(get_count(&heap), (0, 0, 0));
/// let x = heap.alloc(Vec::<Gc<u8>>::new());
/// assert_eq!(get_count(&heap), (1, 0, 0));
/// # drop(x);
/// ```
pub fn get_count(heap: &Heap) -> (usize, usize, usize) {
    heap.get_count()
}

/// CPython's `gc.get_threshold()`.
///
/// # Examples
///
/// ```
/// use gc_core::Heap;
/// use gc_debug::{get_threshold, set_threshold};
///
/// let heap = Heap::new();
/// set_threshold(&heap, 700, 10, 10);
/// assert_eq!(get_threshold(&heap), (700, 10, 10));
/// ```
pub fn get_threshold(heap: &Heap) -> (usize, usize, usize) {
    heap.get_threshold()
}

/// CPython's `gc.set_threshold(t0, t1, t2)`; see [`Heap::set_threshold`] (0 for `t0`
/// turns automatic collection off).
///
/// # Examples
///
/// ```
/// use gc_core::Heap;
/// use gc_debug::{get_threshold, set_threshold};
///
/// let heap = Heap::new();
/// set_threshold(&heap, 0, 10, 10);
/// assert_eq!(get_threshold(&heap).0, 0);
/// ```
pub fn set_threshold(heap: &Heap, t0: usize, t1: usize, t2: usize) {
    heap.set_threshold(t0, t1, t2)
}

/// CPython's `gc.get_stats()`: per generation, the collections run, the objects they
/// collected and the uncollectable ones (always 0 with this collector), since the
/// heap was created.
///
/// # Examples
///
/// ```
/// use gc_core::Heap;
/// use gc_debug::get_stats;
///
/// let heap = Heap::new();
/// heap.collect_generation(0);
/// let stats = get_stats(&heap);
/// assert_eq!(stats.len(), 3);
/// assert_eq!(stats[0].collections, 1);
/// assert_eq!((stats[1].collections, stats[2].collections), (0, 0));
/// ```
pub fn get_stats(heap: &Heap) -> [GenerationStats; GENERATIONS] {
    heap.get_stats()
}

/// CPython's `gc.freeze()`: moves every tracked object to the permanent generation,
/// which collections never examine (they still die when their last handle goes).
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::{freeze, get_freeze_count, unfreeze};
///
/// let heap = Heap::new();
/// let x = heap.alloc(Vec::<Gc<u8>>::new());
/// freeze(&heap);
/// assert_eq!(get_freeze_count(&heap), 1);
/// unfreeze(&heap);
/// assert_eq!(get_freeze_count(&heap), 0);
/// # drop(x);
/// ```
pub fn freeze(heap: &Heap) {
    heap.freeze()
}

/// CPython's `gc.unfreeze()`: moves the permanent generation back into the oldest
/// generation, to be examined by the next full collection.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::{freeze, get_objects, unfreeze};
///
/// let heap = Heap::new();
/// let x = heap.alloc(Vec::<Gc<u8>>::new());
/// freeze(&heap);
/// assert!(get_objects(&heap, None).unwrap().is_empty());
/// unfreeze(&heap);
/// assert_eq!(get_objects(&heap, Some(2)).unwrap().len(), 1);
/// # drop(x);
/// ```
pub fn unfreeze(heap: &Heap) {
    heap.unfreeze()
}

/// CPython's `gc.get_freeze_count()`: the number of objects in the permanent
/// generation.
///
/// # Examples
///
/// ```
/// use gc_core::Heap;
/// use gc_debug::get_freeze_count;
///
/// assert_eq!(get_freeze_count(&Heap::new()), 0);
/// ```
pub fn get_freeze_count(heap: &Heap) -> usize {
    heap.get_freeze_count()
}

/// CPython's `gc.collect(generation)`: collects generations `0..=generation`.
///
/// Returns immediately (with [`CollectStats::skipped`] set) when called while a
/// collection runs, as from a finalizer.
///
/// # Errors
/// [`InvalidGeneration`] if `generation > 2` (CPython's `ValueError`).
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap, Traverse};
/// use gc_debug::collect;
/// use std::cell::RefCell;
///
/// #[derive(Traverse)]
/// struct Node { me: RefCell<Option<Gc<Node>>> }
///
/// let heap = Heap::new();
/// let n = heap.alloc(Node { me: RefCell::new(None) });
/// *n.me.borrow_mut() = Some(n.clone());
/// drop(n);
/// assert_eq!(collect(&heap, 2).unwrap().collected, 1);
/// assert!(collect(&heap, 3).is_err());
/// ```
pub fn collect(heap: &Heap, generation: usize) -> Result<CollectStats, InvalidGeneration> {
    Ok(heap.collect_generation(InvalidGeneration::check(generation)?))
}

/// CPython's `gc.garbage`: the objects that collections found unreachable while
/// `SAVEALL` was on ([`DebugFlags::SAVEALL`](crate::DebugFlags::SAVEALL)), kept
/// alive instead of freed. [`Heap::clear_garbage`] empties it.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap, Traverse};
/// use gc_debug::{garbage, set_debug, DebugFlags};
/// use std::cell::RefCell;
///
/// #[derive(Traverse)]
/// struct Node { me: RefCell<Option<Gc<Node>>> }
///
/// let heap = Heap::new();
/// let _debug = set_debug(&heap, DebugFlags::SAVEALL);
/// let n = heap.alloc(Node { me: RefCell::new(None) });
/// *n.me.borrow_mut() = Some(n.clone());
/// let id = Gc::to_any(&n).id();
/// drop(n);
/// heap.collect();
/// let kept = garbage(&heap);
/// assert_eq!(kept.len(), 1);
/// assert_eq!(kept[0].id(), id);
/// # drop(kept);
/// # heap.clear_garbage();
/// ```
pub fn garbage(heap: &Heap) -> Vec<GcAny> {
    heap.garbage()
}

/// [`get_referents`] for an object of a thread-safe heap: what its traversal reports,
/// as thread-safe handles, dead handles left out. Holds the heap lock while it
/// traverses the object.
///
/// # Panics
/// If `obj`'s `Traverse` impl panics.
///
/// # Examples
///
/// ```
/// use gc_core::sync::Heap;
/// use gc_debug::get_referents_sync;
///
/// let heap = Heap::new();
/// let list = heap.alloc(vec![heap.alloc(1u32), heap.alloc(3)]);
/// let values: Vec<u32> = get_referents_sync(&list)
///     .into_iter()
///     .map(|r| *r.downcast::<u32>().unwrap().read())
///     .collect();
/// assert_eq!(values, [1, 3]);
/// ```
pub fn get_referents_sync(obj: &impl AsSyncAny) -> Vec<sync::GcAny> {
    obj.as_sync_any()
        .referents()
        .into_iter()
        .filter(sync::GcAny::is_alive)
        .collect()
}

/// [`get_referrers`] for a thread-safe heap: every tracked object in generations 0
/// to 2 whose traversal reports `obj`, each once, young generation first. Holds the
/// heap lock while it walks the heap.
///
/// # Panics
/// If a `Traverse` impl panics (the heap is left as it was).
///
/// # Examples
///
/// ```
/// use gc_core::sync::{Gc, Heap};
/// use gc_debug::get_referrers_sync;
///
/// let heap = Heap::new();
/// let shared = heap.alloc(0u8);
/// let a = heap.alloc(vec![shared.clone()]);
/// let referrers = get_referrers_sync(&heap, &shared);
/// assert_eq!(referrers.len(), 1);
/// assert_eq!(referrers[0].id(), Gc::id(&a));
/// ```
pub fn get_referrers_sync(heap: &sync::Heap, obj: &impl AsSyncAny) -> Vec<sync::GcAny> {
    let target = obj.as_sync_any().id();
    let mut view = sync::HeapView::new(heap);
    referrer_nodes(&mut view, target)
        .into_iter()
        .filter_map(|i| view.handle(i))
        .collect()
}

/// [`get_objects`] for a thread-safe heap: its tracked objects in `generation`, or
/// in every generation but the permanent one with `None`, young generation first,
/// as thread-safe handles. Holds the heap lock while it lists them.
///
/// # Errors
/// [`InvalidGeneration`] if `generation` is above 2.
///
/// # Examples
///
/// ```
/// use gc_core::sync::{Gc, Heap};
/// use gc_debug::get_objects_sync;
///
/// let heap = Heap::new();
/// let list = heap.alloc(vec![heap.alloc(1u8)]);
/// let young = get_objects_sync(&heap, Some(0)).unwrap();
/// assert_eq!(young.len(), 1); // the leaf is not tracked
/// assert!(young[0].is::<Vec<Gc<u8>>>());
/// assert!(get_objects_sync(&heap, Some(3)).is_err());
/// ```
pub fn get_objects_sync(
    heap: &sync::Heap,
    generation: Option<usize>,
) -> Result<Vec<sync::GcAny>, InvalidGeneration> {
    let wanted = generation.map(InvalidGeneration::check).transpose()?;
    let view = sync::HeapView::new(heap);
    Ok((0..view.len())
        .filter(|&i| {
            let g = view.info(i).generation;
            g.is_some() && (wanted.is_none() || g == wanted)
        })
        .filter_map(|i| view.handle(i))
        .collect())
}
