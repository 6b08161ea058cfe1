//! "Why does this leak?": the shortest chain of referrers from a root to an object.

use std::fmt;

use gc_core::{sync, GcAny, Heap};

use crate::snapshot::{Snapshot, SnapshotObject};

use crate::graph::Graph;
use crate::handle::{AsAny, AsSyncAny};

/// Why an object is alive: a chain of objects from a *root* to it, each holding a
/// handle to the next that its traversal reports. See [`why_alive`].
///
/// The root is held from outside the heap (by handles no traversal of the heap
/// reports: a variable, a `thread_local!`, another heap, or a field that a `Traverse`
/// impl skips), or is in the permanent generation (which collections never examine).
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::why_alive;
///
/// let heap = Heap::new();
/// let inner = heap.alloc(Vec::<Gc<u8>>::new());
/// let outer = heap.alloc(vec![inner.clone()]);
/// let path = why_alive(&heap, &inner).unwrap();
/// assert_eq!((path.len(), path.is_empty()), (2, false));
/// assert!(path.root().ptr_eq(&Gc::to_any(&outer)));
/// assert!(path.objects()[1].ptr_eq(&Gc::to_any(&inner)));
/// assert_eq!((path.root_outside_refs(), path.root_is_frozen()), (1, false));
/// assert!(path.to_string().contains("held by 1 reference(s) no traversal reports"));
/// ```
#[derive(Clone, Debug)]
pub struct AlivePath {
    objects: Vec<GcAny>,
    root_outside_refs: usize,
    root_frozen: bool,
}

impl AlivePath {
    /// The chain: the root first, the object asked about last (a chain of one when
    /// the object is itself a root).
    pub fn objects(&self) -> &[GcAny] {
        &self.objects
    }

    /// The root.
    pub fn root(&self) -> &GcAny {
        &self.objects[0]
    }

    /// Number of objects in the chain.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Always `false`: a chain holds at least the object asked about.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Strong handles to the root that no traversal of the heap reports (the
    /// handles of this path not counted).
    pub fn root_outside_refs(&self) -> usize {
        self.root_outside_refs
    }

    /// Whether the root is in the permanent generation.
    pub fn root_is_frozen(&self) -> bool {
        self.root_frozen
    }
}

impl fmt::Display for AlivePath {
    /// One line per object, root first, with what holds the root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, obj) in self.objects.iter().enumerate() {
            if i == 0 {
                write!(f, "{obj:?}")?;
                let mut why = Vec::new();
                if self.root_outside_refs > 0 {
                    why.push(format!(
                        "held by {} reference(s) no traversal reports",
                        self.root_outside_refs
                    ));
                }
                if self.root_frozen {
                    why.push("frozen".to_string());
                }
                write!(f, "  ({})", why.join(", "))?;
            } else {
                write!(f, "\n  -> {obj:?}")?;
            }
        }
        Ok(())
    }
}

/// The shortest chain of referrers that keeps `obj` alive: from an object of `heap`
/// held from outside it (or frozen) to `obj`, each reporting a handle to the next.
/// "Why does this leak?"
///
/// The handle you pass is not counted (the question is what *else* keeps the object
/// alive), nor are the handles this function holds while it looks; every other
/// handle is. So drop your other handles first: if one is left, `obj` is its own
/// root (a chain of one).
///
/// Returns `None` when nothing holds `obj`: it is garbage (a cycle the next
/// collection frees), or not a tracked object on the heap's lists (an untracked
/// value, another heap's object, a dead handle, or an object a running collection
/// holds, as when a finalizer asks about its own object).
///
/// Calls every traversal of the heap.
///
/// # Panics
/// If a `Traverse` impl panics (the heap is left as it was).
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap, Traverse};
/// use gc_debug::why_alive;
/// use std::cell::RefCell;
///
/// #[derive(Traverse)]
/// struct Node {
///     next: RefCell<Option<Gc<Node>>>,
/// }
///
/// let heap = Heap::new();
/// let leaked = heap.alloc(Node { next: RefCell::new(None) });
/// let middle = heap.alloc(Node { next: RefCell::new(Some(leaked.clone())) });
/// let root = heap.alloc(Node { next: RefCell::new(Some(middle.clone())) });
/// drop(middle);
///
/// let path = why_alive(&heap, &leaked).unwrap();
/// assert_eq!(path.len(), 3);
/// assert!(path.root().ptr_eq(&Gc::to_any(&root)));
/// assert_eq!(path.root_outside_refs(), 1); // the variable `root`
///
/// drop((path, root)); // frees the chain by reference counting
/// assert_eq!(Gc::strong_count(&leaked), 1);
/// ```
pub fn why_alive(heap: &Heap, obj: &impl AsAny) -> Option<AlivePath> {
    let target = obj.as_any();
    let id = target.id();
    // Leave out the caller's handle and ours.
    let (graph, view) = Graph::build(heap, &[(id, 2)]);
    drop(target);
    let t = graph.by_id.get(&id).copied()?;
    let chain = graph.path_to(t)?;
    let root = &graph.nodes[chain[0]];
    Some(AlivePath {
        root_outside_refs: root.outside_refs(),
        root_frozen: root.is_frozen(),
        objects: chain.into_iter().map(|c| view.handle(c)).collect(),
    })
}

/// [`why_alive`] for a thread-safe heap: the chain of objects that keeps `obj`
/// alive, root first, as plain data (a [`SnapshotObject`] per object, whose
/// [`outside_refs`](SnapshotObject::outside_refs) and
/// [`frozen`](SnapshotObject::frozen) say why the root is held). The handle you
/// pass is not counted. Holds the heap lock while it walks the heap.
///
/// # Panics
/// If a `Traverse` impl panics (the heap is left as it was).
///
/// # Examples
///
/// ```
/// use gc_core::sync::{Gc, Heap};
/// use gc_debug::why_alive_sync;
///
/// let heap = Heap::new();
/// let leaked = heap.alloc(Vec::<Gc<u8>>::new());
/// let root = heap.alloc(vec![leaked.clone()]);
/// let path = why_alive_sync(&heap, &leaked).unwrap();
/// let ids: Vec<usize> = path.iter().map(|o| o.id).collect();
/// assert_eq!(ids, [Gc::id(&root), Gc::id(&leaked)]);
/// assert_eq!(path[0].outside_refs(), 1); // the variable `root`
/// let copy = leaked.clone();
/// assert_eq!(why_alive_sync(&heap, &leaked).unwrap().len(), 1); // `copy`: its own root
/// drop((root, copy));
/// assert!(why_alive_sync(&heap, &leaked).is_none()); // nothing but the handle we ask with
/// ```
pub fn why_alive_sync(heap: &sync::Heap, obj: &impl AsSyncAny) -> Option<Vec<SnapshotObject>> {
    let target = obj.as_sync_any();
    let id = target.id();
    // Leave out the caller's handle and ours.
    let mut view = sync::HeapView::new(heap);
    let graph = Graph::from_view(&mut view, &[(id, 2)]);
    drop((view, target));
    let chain = graph.path_to(*graph.by_id.get(&id)?)?;
    Some(
        chain
            .into_iter()
            .map(|c| Snapshot::object_of(&graph, c))
            .collect(),
    )
}
