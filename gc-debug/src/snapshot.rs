//! Heap snapshots: objects and the references between them, as Graphviz DOT or JSON.

use core::fmt::Write as _;

use gc_core::{sync, Heap};
use hashbrown::HashMap;

use crate::graph::{Graph, Kind};

/// A picture of a heap: its objects and the references their traversals report.
///
/// Taking one changes nothing in the heap (no count, no generation) and holds no
/// handle afterwards. Besides the tracked objects on the heap's lists it shows what
/// they reference that is not on them: untracked values (leaves), objects of other
/// heaps, dead handles, and objects a running collection holds.
///
/// The counts say why objects are alive: [`SnapshotObject::outside_refs`] is the
/// number of strong handles to an object that no traversal of a tracked object of
/// this heap reports, so held from outside the heap (a local variable, a
/// `thread_local!`, another heap) or by a field a `Traverse` impl skips. Your own
/// handles count: drop them before taking a picture of a leak.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap, Traverse};
/// use gc_debug::Snapshot;
/// use std::cell::RefCell;
///
/// #[derive(Traverse)]
/// struct Node {
///     name: &'static str,
///     next: RefCell<Option<Gc<Node>>>,
/// }
///
/// let heap = Heap::new();
/// let a = heap.alloc(Node { name: "a", next: RefCell::new(None) });
/// let b = heap.alloc(Node { name: "b", next: RefCell::new(Some(a.clone())) });
/// let snap = Snapshot::take(&heap);
/// assert_eq!(snap.objects().len(), 2);
/// assert_eq!(snap.edges().len(), 1);
/// let a_obj = snap.object(Gc::to_any(&a).id()).unwrap();
/// assert_eq!((a_obj.strong_count, a_obj.traversed_refs, a_obj.outside_refs()), (2, 1, 1));
/// assert!(snap.to_dot().starts_with("digraph heap {"));
/// assert!(snap.to_json().starts_with("{\"objects\":["));
/// # drop(b);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    objects: Vec<SnapshotObject>,
    edges: Vec<SnapshotEdge>,
    by_id: HashMap<usize, usize>,
}

/// One object of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotObject {
    /// Its identifier, as [`GcAny::id`](gc_core::GcAny::id) (its address).
    pub id: usize,
    /// The value's type name.
    pub type_name: &'static str,
    /// `size_of` the value (not what it owns).
    pub size: usize,
    /// What it is to the heap.
    pub state: ObjectState,
    /// Generation 0, 1 or 2 for a tracked object of the heap outside the permanent
    /// generation.
    pub generation: Option<usize>,
    /// Whether its finalizer has run.
    pub finalized: bool,
    /// Strong handles to it (the snapshot's own are not counted).
    pub strong_count: usize,
    /// How many of those the traversals of the heap's tracked objects report.
    pub traversed_refs: usize,
}

impl SnapshotObject {
    /// Whether the collector tracks it (in this heap or another).
    pub fn tracked(&self) -> bool {
        matches!(
            self.state,
            ObjectState::Heap
                | ObjectState::Frozen
                | ObjectState::OtherHeap
                | ObjectState::Collecting
        )
    }

    /// Whether it is in the permanent generation.
    pub fn frozen(&self) -> bool {
        self.state == ObjectState::Frozen
    }

    /// Strong handles no traversal of the heap reports: `strong_count -
    /// traversed_refs`. Non-zero means held from outside the heap (or by a field a
    /// `Traverse` impl skips).
    pub fn outside_refs(&self) -> usize {
        self.strong_count.saturating_sub(self.traversed_refs)
    }
}

/// What an object of a [`Snapshot`] is to the heap.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectState {
    /// A tracked object in generation 0, 1 or 2.
    Heap,
    /// A tracked object in the permanent generation.
    Frozen,
    /// An untracked value (a leaf), reached from a tracked object.
    Untracked,
    /// A tracked object of another heap.
    OtherHeap,
    /// A tracked object of this heap that a running collection holds (the snapshot was
    /// taken from a finalizer, `Drop` impl or callback).
    Collecting,
    /// A dead handle: the collector destroyed the object, or its heap shut down.
    Dead,
}

impl ObjectState {
    fn name(self) -> &'static str {
        match self {
            ObjectState::Heap => "heap",
            ObjectState::Frozen => "frozen",
            ObjectState::Untracked => "untracked",
            ObjectState::OtherHeap => "other-heap",
            ObjectState::Collecting => "collecting",
            ObjectState::Dead => "dead",
        }
    }
}

/// One reported reference of a [`Snapshot`]: `from`'s traversal reports a handle to
/// `to` (once per report: two handles to the same object are two edges).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SnapshotEdge {
    /// The id of the object that holds the handle.
    pub from: usize,
    /// The id of the object it points to.
    pub to: usize,
    /// Whether the collector sees it: `from` is a tracked object of the heap.
    /// References reported by untracked values are invisible to collections.
    pub seen_by_collector: bool,
}

impl Snapshot {
    /// Takes a picture of `heap`.
    ///
    /// Calls every traversal (user code). Safe to call from a finalizer, `Drop` impl
    /// or callback during a collection.
    ///
    /// # Panics
    /// If a `Traverse` impl panics (the heap is left as it was).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap};
    /// use gc_debug::{ObjectState, Snapshot};
    ///
    /// let heap = Heap::new();
    /// let list = heap.alloc(vec![heap.alloc(String::from("leaf"))]);
    /// let snap = Snapshot::take(&heap);
    /// let states: Vec<ObjectState> = snap.objects().iter().map(|o| o.state).collect();
    /// assert_eq!(states, [ObjectState::Heap, ObjectState::Untracked]);
    /// # drop(list);
    /// ```
    pub fn take(heap: &Heap) -> Snapshot {
        Snapshot::from_graph(&Graph::build(heap, &[]).0)
    }

    /// Takes a picture of a thread-safe heap, as [`take`](Snapshot::take) does of a
    /// single-threaded one. Holds the heap lock while it walks the heap (other
    /// threads that use the heap wait; this thread may hold it already). Ids are
    /// [`sync::Gc::id`]'s.
    ///
    /// # Panics
    /// If a `Traverse` impl panics (the heap is left as it was).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::sync::{Gc, Heap};
    /// use gc_debug::{ObjectState, Snapshot};
    ///
    /// let heap = Heap::new();
    /// let leaf = heap.alloc(String::from("leaf"));
    /// let list = heap.alloc(vec![leaf.clone()]);
    /// let snap = std::thread::scope(|s| s.spawn(|| Snapshot::take_sync(&heap)).join().unwrap());
    /// let states: Vec<ObjectState> = snap.objects().iter().map(|o| o.state).collect();
    /// assert_eq!(states, [ObjectState::Heap, ObjectState::Untracked]);
    /// assert_eq!(snap.edges()[0].to, Gc::id(&leaf));
    /// assert_eq!(snap.object(Gc::id(&leaf)).unwrap().outside_refs(), 1); // `leaf`
    /// ```
    pub fn take_sync(heap: &sync::Heap) -> Snapshot {
        let mut view = sync::HeapView::new(heap);
        Snapshot::from_graph(&Graph::from_view(&mut view, &[]))
    }

    pub(crate) fn from_graph(graph: &Graph) -> Snapshot {
        let objects: Vec<SnapshotObject> = (0..graph.nodes.len())
            .map(|i| Snapshot::object_of(graph, i))
            .collect();
        let edges = graph
            .nodes
            .iter()
            .flat_map(|n| {
                n.edges.iter().map(move |&t| SnapshotEdge {
                    from: n.id,
                    to: graph.nodes[t].id,
                    seen_by_collector: n.is_heap(),
                })
            })
            .collect();
        Snapshot::new(objects, edges)
    }

    /// Node `i` of `graph` as a snapshot object.
    pub(crate) fn object_of(graph: &Graph, i: usize) -> SnapshotObject {
        let n = &graph.nodes[i];
        let (state, generation) = match n.kind {
            Kind::Heap { frozen: true, .. } => (ObjectState::Frozen, None),
            Kind::Heap { generation, .. } => (ObjectState::Heap, generation),
            Kind::Untracked => (ObjectState::Untracked, None),
            Kind::OtherHeap => (ObjectState::OtherHeap, None),
            Kind::Unlisted => (ObjectState::Collecting, None),
            Kind::Dead => (ObjectState::Dead, None),
        };
        SnapshotObject {
            id: n.id,
            type_name: n.type_name,
            size: n.size,
            state,
            generation,
            finalized: n.finalized,
            strong_count: n.strong_count,
            traversed_refs: n.referrers.len(),
        }
    }

    fn new(objects: Vec<SnapshotObject>, edges: Vec<SnapshotEdge>) -> Snapshot {
        let by_id = objects.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
        Snapshot {
            objects,
            edges,
            by_id,
        }
    }

    /// The objects: the heap's tracked objects first (young generation first, the
    /// permanent generation last), then the others in the order they were reached.
    pub fn objects(&self) -> &[SnapshotObject] {
        &self.objects
    }

    /// The references, grouped by the object that holds them.
    pub fn edges(&self) -> &[SnapshotEdge] {
        &self.edges
    }

    /// The object with identifier `id`, if it is in the picture.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap};
    /// use gc_debug::Snapshot;
    ///
    /// let heap = Heap::new();
    /// let list = heap.alloc(Vec::<Gc<u8>>::new());
    /// let snap = Snapshot::take(&heap);
    /// let obj = snap.object(Gc::to_any(&list).id()).unwrap();
    /// assert_eq!(obj.type_name, std::any::type_name::<Vec<Gc<u8>>>());
    /// assert_eq!(obj.size, std::mem::size_of::<Vec<Gc<u8>>>());
    /// assert_eq!((obj.generation, obj.tracked(), obj.strong_count), (Some(0), true, 1));
    /// ```
    pub fn object(&self, id: usize) -> Option<&SnapshotObject> {
        self.by_id.get(&id).map(|&i| &self.objects[i])
    }

    /// The objects of the heap held from outside it (by a handle no traversal
    /// reports): the roots that keep everything else alive. In the permanent
    /// generation or not.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap};
    /// use gc_debug::Snapshot;
    ///
    /// let heap = Heap::new();
    /// let inner = heap.alloc(Vec::<Gc<u8>>::new());
    /// let outer = heap.alloc(vec![inner]);
    /// let snap = Snapshot::take(&heap);
    /// let roots: Vec<usize> = snap.held_from_outside().map(|o| o.id).collect();
    /// assert_eq!(roots, [Gc::to_any(&outer).id()]);
    /// ```
    pub fn held_from_outside(&self) -> impl Iterator<Item = &SnapshotObject> + '_ {
        self.objects.iter().filter(|o| {
            matches!(o.state, ObjectState::Heap | ObjectState::Frozen) && o.outside_refs() > 0
        })
    }

    /// The part of the picture reachable from the objects `roots` (ids; unknown ids
    /// are ignored) through reported references, the roots included.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap};
    /// use gc_debug::Snapshot;
    ///
    /// let heap = Heap::new();
    /// let a = heap.alloc(vec![heap.alloc(1u8)]);
    /// let b = heap.alloc(vec![heap.alloc(2u8)]);
    /// let snap = Snapshot::take(&heap);
    /// let sub = snap.reachable_from(&[Gc::to_any(&a).id()]);
    /// assert_eq!(sub.objects().len(), 2); // `a` and its leaf
    /// assert!(sub.object(Gc::to_any(&b).id()).is_none());
    /// ```
    pub fn reachable_from(&self, roots: &[usize]) -> Snapshot {
        let mut keep = vec![false; self.objects.len()];
        let mut stack: Vec<usize> = roots
            .iter()
            .filter_map(|id| self.by_id.get(id).copied())
            .collect();
        let mut out_edges: HashMap<usize, Vec<usize>> = HashMap::new();
        for e in &self.edges {
            out_edges.entry(e.from).or_default().push(e.to);
        }
        while let Some(i) = stack.pop() {
            if keep[i] {
                continue;
            }
            keep[i] = true;
            for to in out_edges.get(&self.objects[i].id).into_iter().flatten() {
                if let Some(&j) = self.by_id.get(to) {
                    if !keep[j] {
                        stack.push(j);
                    }
                }
            }
        }
        let objects: Vec<SnapshotObject> = self
            .objects
            .iter()
            .zip(&keep)
            .filter(|(_, &k)| k)
            .map(|(o, _)| o.clone())
            .collect();
        let kept = |id: &usize| self.by_id.get(id).is_some_and(|&i| keep[i]);
        let edges = self
            .edges
            .iter()
            .filter(|e| kept(&e.from))
            .copied()
            .collect();
        Snapshot::new(objects, edges)
    }

    /// The picture as a Graphviz DOT graph.
    ///
    /// Boxes are tracked objects of the heap (label: type, id, size, generation,
    /// strong count); a red box is held from outside the heap, a blue one is frozen.
    /// Grey ellipses are untracked values, dashed boxes objects of other heaps, dotted
    /// ones objects a running collection holds, grey dashed ones dead handles. A
    /// dashed red arrow is a reference the collector does not see (reported by an
    /// untracked value). Render it with `dot -Tsvg heap.dot -o heap.svg`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap};
    /// use gc_debug::Snapshot;
    ///
    /// let heap = Heap::new();
    /// let list = heap.alloc(vec![heap.alloc(1u8)]);
    /// let dot = Snapshot::take(&heap).to_dot();
    /// assert!(dot.contains(std::any::type_name::<Vec<Gc<u8>>>()));
    /// assert!(dot.contains("o0 -> o1;"));
    /// # drop(list);
    /// ```
    pub fn to_dot(&self) -> String {
        let mut out = String::new();
        out.push_str("digraph heap {\n");
        out.push_str("  graph [rankdir=LR, fontname=\"monospace\"];\n");
        out.push_str(
            "  node [shape=box, style=\"rounded,filled\", fillcolor=\"white\", fontname=\"monospace\", fontsize=10];\n",
        );
        out.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");
        for (i, o) in self.objects.iter().enumerate() {
            let mut label = format!("{}\\n{:#x}\\n{} B", dot_escape(o.type_name), o.id, o.size);
            match (o.state, o.generation) {
                (ObjectState::Heap, Some(g)) => {
                    let _ = write!(label, ", gen {g}");
                }
                (state, _) => {
                    let _ = write!(label, ", {}", state.name());
                }
            }
            let _ = write!(label, "\\nstrong {}", o.strong_count);
            if o.finalized {
                label.push_str(", finalized");
            }
            let outside = o.outside_refs();
            let held = matches!(o.state, ObjectState::Heap | ObjectState::Frozen) && outside > 0;
            if held {
                let _ = write!(label, "\\nheld from outside: {outside}");
            }
            let attrs = match o.state {
                _ if held && o.state == ObjectState::Frozen => {
                    ", fillcolor=\"#cfe2f3\", color=\"#c0392b\", penwidth=2"
                }
                _ if held => ", fillcolor=\"#f4cccc\", color=\"#c0392b\", penwidth=2",
                ObjectState::Heap => "",
                ObjectState::Frozen => ", fillcolor=\"#cfe2f3\"",
                ObjectState::Untracked => ", shape=ellipse, style=filled, fillcolor=\"#eeeeee\"",
                ObjectState::OtherHeap => ", style=\"rounded,dashed\"",
                ObjectState::Collecting => ", style=\"rounded,dotted\"",
                ObjectState::Dead => {
                    ", style=\"rounded,dashed\", color=\"#999999\", fontcolor=\"#999999\""
                }
            };
            let _ = writeln!(out, "  o{i} [label=\"{label}\"{attrs}];");
        }
        for e in &self.edges {
            let (Some(from), Some(to)) = (self.by_id.get(&e.from), self.by_id.get(&e.to)) else {
                continue;
            };
            if e.seen_by_collector {
                let _ = writeln!(out, "  o{from} -> o{to};");
            } else {
                let _ = writeln!(
                    out,
                    "  o{from} -> o{to} [style=dashed, color=\"#c0392b\", label=\"not seen by the collector\"];"
                );
            }
        }
        out.push_str("}\n");
        out
    }

    /// The picture as JSON: `{"objects": [...], "edges": [...]}`.
    ///
    /// Each object has `id` (a hexadecimal string, as ids are addresses), `type`,
    /// `size`, `state` (`"heap"`, `"frozen"`, `"untracked"`, `"other-heap"`,
    /// `"collecting"` or `"dead"`), `generation` (a number or `null`), `tracked`,
    /// `finalized`, `strong_count`, `traversed_refs` and `outside_refs`; each edge
    /// `from`, `to` and `seen_by_collector`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap};
    /// use gc_debug::Snapshot;
    ///
    /// let heap = Heap::new();
    /// let list = heap.alloc(Vec::<Gc<u8>>::new());
    /// let json = Snapshot::take(&heap).to_json();
    /// let id = format!("{:#x}", Gc::to_any(&list).id());
    /// let ty = std::any::type_name::<Vec<Gc<u8>>>();
    /// let size = std::mem::size_of::<Vec<Gc<u8>>>();
    /// assert_eq!(
    ///     json,
    ///     format!(
    ///         "{{\"objects\":[{{\"id\":\"{id}\",\"type\":\"{ty}\",\
    ///          \"size\":{size},\"state\":\"heap\",\"generation\":0,\"tracked\":true,\
    ///          \"finalized\":false,\"strong_count\":1,\"traversed_refs\":0,\
    ///          \"outside_refs\":1}}],\"edges\":[]}}"
    ///     )
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"objects\":[");
        for (i, o) in self.objects.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"id\":\"{:#x}\",\"type\":\"", o.id);
            json_escape(o.type_name, &mut out);
            let _ = write!(
                out,
                "\",\"size\":{},\"state\":\"{}\",\"generation\":",
                o.size,
                o.state.name()
            );
            match o.generation {
                Some(g) => {
                    let _ = write!(out, "{g}");
                }
                None => out.push_str("null"),
            }
            let _ = write!(
                out,
                ",\"tracked\":{},\"finalized\":{},\"strong_count\":{},\"traversed_refs\":{},\"outside_refs\":{}}}",
                o.tracked(),
                o.finalized,
                o.strong_count,
                o.traversed_refs,
                o.outside_refs()
            );
        }
        out.push_str("],\"edges\":[");
        for (i, e) in self.edges.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"from\":\"{:#x}\",\"to\":\"{:#x}\",\"seen_by_collector\":{}}}",
                e.from, e.to, e.seen_by_collector
            );
        }
        out.push_str("]}");
        out
    }
}

/// Escapes `s` for a double-quoted DOT string (`\n` stays a DOT line break only
/// where this module writes it).
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `s` to `out` escaped for a JSON string (RFC 8259: quote, backslash and
/// control characters).
fn json_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_escape_quotes_backslashes_and_newlines() {
        assert_eq!(dot_escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(dot_escape("x\ny\r"), "x\\ny");
        assert_eq!(dot_escape("Vec<Gc<u8>>"), "Vec<Gc<u8>>");
    }

    #[test]
    fn json_escape_follows_rfc_8259() {
        let mut out = String::new();
        json_escape("q\"b\\n\nt\tc\u{1}é", &mut out);
        assert_eq!(out, "q\\\"b\\\\n\\nt\\tc\\u0001é");
    }

    #[test]
    fn empty_snapshot_renders() {
        let snap = Snapshot::default();
        assert_eq!(snap.to_json(), "{\"objects\":[],\"edges\":[]}");
        assert!(snap.to_dot().ends_with("}\n"));
        assert!(snap.reachable_from(&[1]).objects().is_empty());
    }
}
