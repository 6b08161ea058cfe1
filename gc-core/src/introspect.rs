//! Read-only introspection for debugging tools (`gc-debug`): a view of a heap's objects
//! and of the references their traversals report, taken without side effects on the
//! collector, and a type-erased weak handle.
//!
//! Why not [`Heap::objects`] and [`GcAny::referents`]: those hand out strong handles,
//! and dropping a handle to a verified old object marks it as a candidate for the next
//! full collection (`ObjPtr::release_strong`). A tool that walks the whole heap would
//! thereby make the next full collection examine everything. A [`HeapView`] instead
//! *pins* each object (one strong count, as the collector does during a collection,
//! so that user code run by a traversal cannot free it) and releases the pins with
//! `ObjPtr::unpin`, which is not a lost reference: the generations are left as they
//! were.
//!
//! Everything here is safe code over the `ObjPtr` API of `raw.rs`.

use core::any::TypeId;
use core::fmt;

use hashbrown::HashMap;

use crate::collect::absorb::absorbed;
use crate::handle::GcAny;
use crate::heap::Heap;
use crate::raw::{trashcan, List, ObjPtr, DEAD, FINALIZED, ORPHAN, WEAK_CLEARED};
use crate::traverse::Traverse;
use crate::visitor::{live_referents, Mode, Visitor};

/// A number identifying `heap` while it exists (the address of its state). Clones of
/// a [`Heap`] share it; a heap created after this one is freed may get the same
/// number.
///
/// # Examples
///
/// ```
/// use gc_core::{introspect, Heap};
///
/// let heap = Heap::new();
/// assert_eq!(introspect::heap_id(&heap), introspect::heap_id(&heap.clone()));
/// assert_ne!(introspect::heap_id(&heap), introspect::heap_id(&Heap::new()));
/// ```
pub fn heap_id(heap: &Heap) -> usize {
    heap.state_ptr().addr()
}

/// Whether a collection of `heap` is running (true inside finalizers, `Drop` impls
/// and weak-reference callbacks that the collector runs; false in collection
/// callbacks, which run before and after).
///
/// # Examples
///
/// ```
/// use gc_core::{introspect, Heap};
///
/// let heap = Heap::new();
/// assert!(!introspect::is_collecting(&heap));
/// ```
pub fn is_collecting(heap: &Heap) -> bool {
    heap.state().collecting.get()
}

/// The object a type-erased handle points to, without touching its counts: a `GcAny`
/// reports exactly its own object when traversed.
fn obj_of(any: &GcAny) -> ObjPtr {
    let mut out = Vec::with_capacity(1);
    any.traverse(&mut Visitor::new(Mode::Referents {
        out: &mut out,
        sync_tag: 0,
    }));
    debug_assert_eq!(out.len(), 1, "a GcAny reports exactly one handle");
    out[0]
}

/// The generation of a tracked object from its list, as [`GcAny::generation`].
fn generation_of(obj: ObjPtr) -> Option<usize> {
    if !obj.is_tracked() {
        return None;
    }
    match obj.list() {
        List::Young => Some(0),
        List::Middle => Some(1),
        List::Pending | List::Old => Some(2),
        _ => None,
    }
}

/// A snapshot of the tracked objects on a heap's lists (every generation and the
/// permanent one), each pinned while the view exists, with what their traversals
/// report.
///
/// Taking and dropping a view changes no count and no generation: each object gets
/// one strong reference (a *pin*, as the collector takes during a collection) for the
/// view's lifetime, which [`ObjectInfo::strong_count`] leaves out. Objects that are
/// being destroyed, or that a running collection holds, are on no list and are not in
/// the view, so a view taken from a finalizer, a `Drop` impl or a callback shows only
/// live objects.
///
/// Keep a view short-lived: while it exists its pins are references from outside, so
/// a collection run meanwhile frees none of its objects.
///
/// # Examples
///
/// ```
/// use gc_core::introspect::{HeapView, Referent};
/// use gc_core::{Gc, Heap};
///
/// let heap = Heap::new();
/// let leaf = heap.alloc(5u8); // untracked: not in the view
/// let list = heap.alloc(vec![leaf.clone()]);
/// let view = HeapView::new(&heap);
/// assert_eq!(view.len(), 1);
/// let info = view.info(0);
/// assert_eq!(info.type_name, std::any::type_name::<Vec<Gc<u8>>>());
/// assert_eq!(info.strong_count, 1); // `list`; the view's pin is not counted
/// match &view.referents(0)[..] {
///     [Referent::Other(any)] => assert!(any.ptr_eq(&Gc::to_any(&leaf))),
///     other => panic!("unexpected referents {other:?}"),
/// }
/// ```
pub struct HeapView {
    /// The pinned nodes: the listed objects in list order (young first, the permanent
    /// generation last), then the others [`node_referents`](HeapView::node_referents)
    /// reached, in the order reached.
    objs: Vec<ObjPtr>,
    /// How many of `objs` are the listed objects.
    listed: usize,
    /// Position of each node in `objs`.
    index: HashMap<ObjPtr, usize>,
    /// The heap's lock tag, for the traversals (see `Visitor::sync_tag`).
    sync_tag: usize,
    /// The heap's state, to tell its objects from other heaps'.
    heap: *const crate::heap::HeapState,
    /// Whether a collection of the heap was running when the view was taken.
    collecting: bool,
}

/// What a node of a [`HeapView`] is to the heap.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeKind {
    /// A tracked object on one of the heap's lists (any generation, or the permanent
    /// one): the nodes `0..len()`, unless destroyed since (user code run by a
    /// traversal can shut the heap down), which makes them `Dead`.
    Listed,
    /// An untracked value (a leaf), which collections never traverse.
    Untracked,
    /// A tracked object of another heap.
    OtherHeap,
    /// A tracked object of this heap on none of its lists: one that a running
    /// collection holds (outside a collection, a collector bug).
    Unlisted,
    /// A dead handle: the object was destroyed, or its heap shut down.
    Dead,
}

/// What a [`HeapView`] knows about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The object's identifier, as [`GcAny::id`].
    pub id: usize,
    /// The value's type name.
    pub type_name: &'static str,
    /// The value's `TypeId`.
    pub type_id: TypeId,
    /// `size_of` the value.
    pub size: usize,
    /// Generation 0, 1 or 2; `None` for the permanent generation and for nodes that
    /// are not listed objects.
    pub generation: Option<usize>,
    /// Whether the object is in the permanent generation ([`Heap::freeze`]).
    pub frozen: bool,
    /// Whether its finalizer has run.
    pub finalized: bool,
    /// Strong handles to it, the view's pin not counted.
    pub strong_count: usize,
    /// [`Weak`](crate::Weak) and [`WeakAny`] handles to it.
    pub weak_count: usize,
    /// Whether it was allocated with an owning type ([`Heap::alloc_with_type`]).
    pub has_owner_type: bool,
    /// Whether its type's traversal is derived or provided by gc-core (not written by
    /// hand): see `Traverse::TRUSTED_TRAVERSE`.
    pub trusted_traverse: bool,
    /// What it is to the heap now ([`NodeKind::Listed`] for the objects `0..len()`
    /// while they live).
    pub kind: NodeKind,
}

/// One handle reported by an object's traversal ([`HeapView::referents`]).
#[derive(Debug)]
pub enum Referent {
    /// An object of the view, by position.
    Object(usize),
    /// Anything else, with a new strong handle to it: an untracked value, an object
    /// of another heap, a dead handle, or an object that a running collection holds.
    Other(GcAny),
}

impl HeapView {
    /// Pins every object on `heap`'s lists.
    ///
    /// Runs no user code.
    pub fn new(heap: &Heap) -> HeapView {
        let state = heap.state();
        let objs = state.all_objects(&List::LINKED);
        // Every listed object is live with `strong > 0`, and nothing ran since the
        // walk; the pins keep each one allocated and its value alive until `drop`.
        for &obj in &objs {
            obj.inc_strong();
        }
        let index = objs.iter().enumerate().map(|(i, &o)| (o, i)).collect();
        HeapView {
            listed: objs.len(),
            objs,
            index,
            sync_tag: state.sync_tag.get(),
            heap: heap.state_ptr(),
            collecting: state.collecting.get(),
        }
    }

    /// Whether a collection of the heap was running when the view was taken (from a
    /// finalizer, a `Drop` impl or a weak-reference callback the collector runs):
    /// then nodes of [`NodeKind::Unlisted`] are objects it holds.
    pub fn is_collecting(&self) -> bool {
        self.collecting
    }

    /// Number of objects in the view: the tracked objects on the heap's lists, the
    /// nodes `0..len()`.
    pub fn len(&self) -> usize {
        self.listed
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.listed == 0
    }

    /// Number of nodes: the [`len`](HeapView::len) listed objects, then whatever
    /// else [`node_referents`](HeapView::node_referents) has reached so far.
    pub fn node_count(&self) -> usize {
        self.objs.len()
    }

    /// What is known about node `index` now (counts are read at each call). The
    /// view's own pin is not counted.
    ///
    /// # Panics
    /// If `index >= self.node_count()`.
    pub fn info(&self, index: usize) -> ObjectInfo {
        let obj = self.objs[index];
        let flags = obj.flags();
        let vtable = obj.vtable();
        let kind = self.kind(index);
        let listed = kind == NodeKind::Listed;
        ObjectInfo {
            id: obj.as_non_null().as_ptr().addr(),
            type_name: obj.type_name(),
            type_id: (vtable.type_id)(),
            size: vtable.value_layout.size(),
            generation: generation_of(obj).filter(|_| listed),
            frozen: listed && obj.list() == List::Permanent,
            finalized: flags & FINALIZED != 0,
            strong_count: (obj.strong() as usize).saturating_sub(1 + absorbed(obj) as usize),
            weak_count: obj.weak_count(),
            has_owner_type: flags & (DEAD | ORPHAN) == 0 && obj.owner().is_some(),
            trusted_traverse: obj.vtable().trusted_traverse,
            kind,
        }
    }

    fn kind(&self, index: usize) -> NodeKind {
        let obj = self.objs[index];
        if obj.flags() & (DEAD | ORPHAN) != 0 {
            NodeKind::Dead
        } else if index < self.listed {
            NodeKind::Listed
        } else if !obj.is_tracked() {
            NodeKind::Untracked
        } else if core::ptr::eq(obj.heap_ptr(), self.heap) {
            NodeKind::Unlisted
        } else {
            NodeKind::OtherHeap
        }
    }

    /// The nodes that node `index`'s traversal reports, in order, with repeats (its
    /// owning type first, if any). What it reaches that is not a node yet becomes
    /// one, pinned as the listed objects are, with the next free index. Only listed
    /// objects and untracked values are traversed: the others (objects of other
    /// heaps, dead handles, objects a running collection holds) report nothing here,
    /// as does an object destroyed meanwhile.
    ///
    /// Runs the node's [`Traverse`] impl (user code). A `RefCell` that is mutably
    /// borrowed meanwhile reports nothing.
    ///
    /// # Panics
    /// If `index >= self.node_count()`, or if the traversal panics (the view stays
    /// valid).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::introspect::{HeapView, NodeKind};
    /// use gc_core::Heap;
    ///
    /// let heap = Heap::new();
    /// let list = heap.alloc(vec![heap.alloc(1u8), heap.alloc(2u8)]);
    /// let mut view = HeapView::new(&heap);
    /// assert_eq!((view.len(), view.node_count()), (1, 1));
    /// assert_eq!(view.node_referents(0), [1, 2]); // the two leaves, now nodes
    /// assert_eq!(view.info(1).kind, NodeKind::Untracked);
    /// assert_eq!(view.info(1).strong_count, 1); // held by `list`; the pin is not counted
    /// # drop(list);
    /// ```
    pub fn node_referents(&mut self, index: usize) -> Vec<usize> {
        if !matches!(self.kind(index), NodeKind::Listed | NodeKind::Untracked) {
            return Vec::new();
        }
        live_referents(self.objs[index], self.sync_tag)
            .into_iter()
            .map(|p| {
                *self.index.entry(p).or_insert_with(|| {
                    // `p` was reported by a live value's traversal just now, so it is
                    // allocated (a handle keeps at least its memory); the pin keeps it
                    // so until `drop`.
                    p.inc_strong();
                    self.objs.push(p);
                    self.objs.len() - 1
                })
            })
            .collect()
    }

    /// The handles object `index`'s traversal reports, in order (its owning type
    /// first, if any), as [`GcAny::referents`]; empty if the object has been
    /// destroyed or its heap shut down meanwhile.
    ///
    /// Runs the object's [`Traverse`] impl (user code). A `RefCell` that is mutably
    /// borrowed meanwhile reports nothing.
    ///
    /// # Panics
    /// If `index >= self.len()`, or if the traversal panics (the view stays valid).
    pub fn referents(&self, index: usize) -> Vec<Referent> {
        assert!(index < self.listed, "index {index} is not a listed object");
        live_referents(self.objs[index], self.sync_tag)
            .into_iter()
            .map(|p| match self.index.get(&p) {
                Some(&i) if i < self.listed => Referent::Object(i),
                _ => Referent::Other(GcAny::from_obj_cloned(p)),
            })
            .collect()
    }

    /// A new strong handle to node `index` (a listed object or any other node).
    ///
    /// # Panics
    /// If `index >= self.node_count()`.
    pub fn handle(&self, index: usize) -> GcAny {
        GcAny::from_obj_cloned(self.objs[index])
    }

    /// A weak handle to node `index` (no strong handle is created).
    ///
    /// # Panics
    /// If `index >= self.node_count()`.
    pub fn downgrade(&self, index: usize) -> WeakAny {
        WeakAny::from_obj(self.objs[index])
    }

    /// Node `index`'s object (for `sync::HeapView`'s handles).
    pub(crate) fn obj(&self, index: usize) -> ObjPtr {
        self.objs[index]
    }

    /// The position of `obj` among the view's nodes, if it is one.
    pub fn index_of(&self, obj: &GcAny) -> Option<usize> {
        self.index.get(&obj_of(obj)).copied()
    }
}

impl Drop for HeapView {
    fn drop(&mut self) {
        let objs = core::mem::take(&mut self.objs);
        // Releasing a pin destroys the object if user code (a traversal) dropped its
        // other handles meanwhile. The trashcan defers those destructions until every
        // pin is released, so a panicking `Drop` cannot leave pins behind.
        trashcan::run(|| {
            for obj in objs {
                obj.unpin();
            }
        });
    }
}

impl fmt::Debug for HeapView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapView")
            .field("objects", &self.objs.len())
            .finish()
    }
}

/// A type-erased weak handle: knows whether its object was destroyed without keeping
/// it alive, as [`Weak`](crate::Weak) for a [`GcAny`].
///
/// # Examples
///
/// ```
/// use gc_core::introspect::WeakAny;
/// use gc_core::Gc;
///
/// let g = Gc::new(String::from("x"));
/// let weak = WeakAny::new(&Gc::to_any(&g));
/// assert!(weak.upgrade().is_some());
/// drop(g);
/// assert!(weak.is_destroyed());
/// assert!(weak.upgrade().is_none());
/// ```
pub struct WeakAny {
    /// Kept allocated by the weak count this handle owns.
    obj: ObjPtr,
}

impl WeakAny {
    /// A weak handle to the object `obj` points to.
    pub fn new(obj: &GcAny) -> WeakAny {
        WeakAny::from_obj(obj_of(obj))
    }

    fn from_obj(obj: ObjPtr) -> WeakAny {
        obj.inc_weak();
        WeakAny { obj }
    }

    /// A strong handle, if the value is alive and its weak references were not
    /// cleared (as [`Weak::upgrade`](crate::Weak::upgrade)).
    pub fn upgrade(&self) -> Option<GcAny> {
        if self.obj.strong() == 0 || self.obj.flags() & (DEAD | ORPHAN | WEAK_CLEARED) != 0 {
            return None;
        }
        Some(GcAny::from_obj_cloned(self.obj))
    }

    /// Whether the value has been destroyed (by reference counting or by the
    /// collector), or is being destroyed.
    pub fn is_destroyed(&self) -> bool {
        self.obj.flags() & DEAD != 0
    }

    /// The value's type name.
    pub fn type_name(&self) -> &'static str {
        self.obj.type_name()
    }

    /// The object's identifier, as [`GcAny::id`].
    pub fn id(&self) -> usize {
        self.obj.as_non_null().as_ptr().addr()
    }
}

impl Clone for WeakAny {
    fn clone(&self) -> Self {
        WeakAny::from_obj(self.obj)
    }
}

impl Drop for WeakAny {
    fn drop(&mut self) {
        self.obj.release_weak();
    }
}

impl fmt::Debug for WeakAny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(WeakAny <{} at {:#x}>)", self.type_name(), self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Gc;
    use core::cell::RefCell;

    struct Node {
        next: RefCell<Option<Gc<Node>>>,
    }

    // SAFETY: reports the one handle `Node` owns, once.
    unsafe impl Traverse for Node {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            self.next.traverse(visitor)
        }
    }

    fn node(heap: &Heap) -> Gc<Node> {
        heap.alloc(Node {
            next: RefCell::new(None),
        })
    }

    #[test]
    fn view_leaves_counts_and_generations_as_they_were() {
        let heap = Heap::new();
        let a = node(&heap);
        let b = node(&heap);
        *a.next.borrow_mut() = Some(b.clone());
        heap.collect();
        let old = heap.state().lens[List::Old as usize].get();
        assert_eq!(old, 2);
        {
            let view = HeapView::new(&heap);
            assert_eq!(view.len(), 2);
            let ia = view.index_of(&Gc::to_any(&a)).unwrap();
            let ib = view.index_of(&Gc::to_any(&b)).unwrap();
            assert_eq!(view.info(ia).strong_count, 1);
            assert_eq!(view.info(ib).strong_count, 2);
            assert_eq!(view.info(ib).generation, Some(2));
            assert!(matches!(view.referents(ia)[..], [Referent::Object(i)] if i == ib));
            assert!(view.referents(ib).is_empty());
        }
        assert_eq!(Gc::strong_count(&a), 1);
        assert_eq!(Gc::strong_count(&b), 2);
        // `Gc::to_any` above made and dropped handles to `a` and `b`, so they are
        // pending again; the view itself moved nothing.
        heap.collect();
        let view = HeapView::new(&heap);
        drop(view);
        assert_eq!(heap.state().lens[List::Old as usize].get(), 2);
    }

    #[test]
    fn view_excludes_objects_being_collected() {
        thread_local!(static SEEN: core::cell::Cell<Option<usize>> = const { core::cell::Cell::new(None) });
        struct Fin {
            me: RefCell<Option<Gc<Fin>>>,
            heap: Heap,
        }
        // SAFETY: reports the one handle `Fin` owns, once.
        unsafe impl Traverse for Fin {
            const HAS_FINALIZER: bool = true;
            fn traverse(&self, visitor: &mut Visitor<'_>) {
                self.me.traverse(visitor)
            }
            fn finalize(&self) {
                assert!(is_collecting(&self.heap));
                let view = HeapView::new(&self.heap);
                assert!(view.is_collecting());
                SEEN.with(|s| s.set(Some(view.len())));
            }
        }
        let heap = Heap::new();
        let _live = node(&heap);
        let f = heap.alloc(Fin {
            me: RefCell::new(None),
            heap: heap.clone(),
        });
        *f.me.borrow_mut() = Some(f.clone());
        drop(f);
        assert_eq!(heap.collect().collected, 1);
        assert_eq!(SEEN.with(|s| s.get()), Some(1));
    }

    #[test]
    fn weak_any_sees_destruction_by_the_collector() {
        let heap = Heap::new();
        let a = node(&heap);
        *a.next.borrow_mut() = Some(a.clone());
        let weak = WeakAny::new(&Gc::to_any(&a));
        let weak2 = weak.clone();
        assert_eq!(weak.id(), Gc::to_any(&a).id());
        assert!(weak.type_name().ends_with("Node"));
        drop(a);
        assert!(!weak.is_destroyed());
        heap.collect();
        assert!(weak.is_destroyed() && weak2.is_destroyed());
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn nodes_beyond_the_lists_are_leaves_other_heaps_and_dead_handles() {
        let heap = Heap::new();
        let other = Heap::new();
        let leaf = heap.alloc(3u8);
        let foreign = node(&other);
        let list = heap.alloc(vec![
            Gc::to_any(&leaf),
            Gc::to_any(&foreign),
            Gc::to_any(&leaf),
        ]);
        let mut view = HeapView::new(&heap);
        assert!(!view.is_collecting());
        assert_eq!((view.len(), view.node_count()), (1, 1));
        assert_eq!(view.node_referents(0), [1, 2, 1]);
        assert_eq!(view.node_count(), 3);
        assert_eq!(view.info(1).kind, NodeKind::Untracked);
        assert_eq!(view.info(1).id, Gc::to_any(&leaf).id());
        assert_eq!(view.info(1).strong_count, 3); // `leaf` and the list's two
        assert_eq!(view.info(2).kind, NodeKind::OtherHeap);
        // Only listed objects and leaves are traversed.
        assert!(view.node_referents(2).is_empty());
        // The old `referents` still names listed objects only.
        assert!(matches!(
            view.referents(0)[..],
            [Referent::Other(_), Referent::Other(_), Referent::Other(_)]
        ));
        other.shutdown();
        assert_eq!(view.info(2).kind, NodeKind::Dead);
        drop(view);
        assert_eq!(Gc::strong_count(&leaf), 3);
        drop(list);
        assert_eq!(Gc::strong_count(&leaf), 1);
    }

    #[test]
    fn heap_ids_differ_between_live_heaps() {
        let h1 = Heap::new();
        let h2 = Heap::new();
        assert_ne!(heap_id(&h1), heap_id(&h2));
        assert_eq!(heap_id(&h1), heap_id(&h1.clone()));
    }
}
