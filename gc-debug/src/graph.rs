//! The heap as a graph of reported references: what [`Snapshot`](crate::Snapshot),
//! [`why_alive`](crate::why_alive()) and [`audit`](crate::audit()) are computed from.
//!
//! Nodes are the tracked objects on the heap's lists (from a [`HeapView`], which
//! pins them without changing counts or generations), then everything their
//! traversals report that is not on the lists: untracked values (traversed in turn:
//! a leaf type that reports handles is one of the audit's findings), objects of other
//! heaps, dead handles, and objects a running collection holds.
//!
//! The accounting follows the collector's: a reference is *seen by the collector*
//! when a tracked object of this heap reports it (untracked values are never
//! traversed by a collection). Strong counts leave out every handle this crate holds
//! while it looks, and whatever handles the caller asked to discount.

use core::any::TypeId;
use std::collections::VecDeque;

use gc_core::introspect::{HeapView, NodeKind, ObjectInfo};
use gc_core::{sync, Heap};
use hashbrown::HashMap;

/// What a node is, as far as the heap is concerned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A tracked object on one of this heap's lists; `generation` is `None` for the
    /// permanent one (`frozen`).
    Heap {
        generation: Option<usize>,
        frozen: bool,
    },
    /// An untracked value (a leaf): collections never traverse it.
    Untracked,
    /// A tracked object of another heap.
    OtherHeap,
    /// A tracked object of this heap on none of its lists: held by a running
    /// collection (outside a collection: a collector bug).
    Unlisted,
    /// A dead handle: the collector destroyed the object, or its heap shut down.
    Dead,
}

/// One object.
pub(crate) struct Node {
    pub(crate) id: usize,
    pub(crate) type_name: &'static str,
    pub(crate) type_id: TypeId,
    /// Whether the type's traversal is derived or gc-core's (not hand-written).
    pub(crate) trusted: bool,
    pub(crate) size: usize,
    pub(crate) kind: Kind,
    pub(crate) finalized: bool,
    /// Strong handles to it, those held by this crate and the discounted ones left out.
    pub(crate) strong_count: usize,
    /// The nodes its traversal reports, in order, with repeats (empty for nodes that
    /// are not traversed: other heaps, dead, unlisted).
    pub(crate) edges: Vec<usize>,
    /// The heap nodes whose traversal reports it, once per report: the references
    /// the collector sees.
    pub(crate) referrers: Vec<usize>,
    /// Reports of it by untracked values (which the collector never traverses).
    pub(crate) untracked_reports: usize,
}

impl Node {
    /// Whether it is a tracked object on this heap's lists.
    pub(crate) fn is_heap(&self) -> bool {
        matches!(self.kind, Kind::Heap { .. })
    }

    /// Whether it is in the permanent generation.
    pub(crate) fn is_frozen(&self) -> bool {
        matches!(self.kind, Kind::Heap { frozen: true, .. })
    }

    /// References to it that no traversal seen by the collector reports.
    pub(crate) fn outside_refs(&self) -> usize {
        self.strong_count.saturating_sub(self.referrers.len())
    }
}

/// What a graph is built from: a view of a heap's objects ([`HeapView`] for a
/// single-threaded heap, [`sync::HeapView`] for a thread-safe one, which holds the
/// heap's lock).
pub(crate) trait View {
    /// Number of listed objects (the first nodes).
    fn len(&self) -> usize;
    /// Number of nodes so far.
    fn node_count(&self) -> usize;
    fn info(&self, index: usize) -> ObjectInfo;
    fn node_referents(&mut self, index: usize) -> Vec<usize>;
    fn is_collecting(&self) -> bool;
}

impl View for HeapView {
    fn len(&self) -> usize {
        HeapView::len(self)
    }
    fn node_count(&self) -> usize {
        HeapView::node_count(self)
    }
    fn info(&self, index: usize) -> ObjectInfo {
        HeapView::info(self, index)
    }
    fn node_referents(&mut self, index: usize) -> Vec<usize> {
        HeapView::node_referents(self, index)
    }
    fn is_collecting(&self) -> bool {
        HeapView::is_collecting(self)
    }
}

impl View for sync::HeapView<'_> {
    fn len(&self) -> usize {
        sync::HeapView::len(self)
    }
    fn node_count(&self) -> usize {
        sync::HeapView::node_count(self)
    }
    fn info(&self, index: usize) -> ObjectInfo {
        sync::HeapView::info(self, index)
    }
    fn node_referents(&mut self, index: usize) -> Vec<usize> {
        sync::HeapView::node_referents(self, index)
    }
    fn is_collecting(&self) -> bool {
        sync::HeapView::is_collecting(self)
    }
}

/// The graph of a heap: plain data, computed from a view that the caller keeps
/// while it needs handles to the nodes.
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Node>,
    pub(crate) by_id: HashMap<usize, usize>,
    /// Whether a collection of the heap was running when the graph was built.
    pub(crate) during_collection: bool,
}

impl Graph {
    /// Builds the graph of `heap`, returning it with the view that pins its nodes.
    /// `discount` lists `(id, n)`: `n` strong handles to object `id` that the caller
    /// holds and wants left out of its count.
    ///
    /// # Panics
    /// If a `Traverse` impl panics (the pins are released on the way out).
    pub(crate) fn build(heap: &Heap, discount: &[(usize, usize)]) -> (Graph, HeapView) {
        let mut view = HeapView::new(heap);
        (Graph::from_view(&mut view, discount), view)
    }

    /// Builds the graph of the heap `view` shows (see [`build`](Graph::build)).
    pub(crate) fn from_view(view: &mut impl View, discount: &[(usize, usize)]) -> Graph {
        let mut graph = Graph {
            nodes: Vec::with_capacity(view.len()),
            by_id: HashMap::with_capacity(view.len()),
            during_collection: view.is_collecting(),
        };
        // Traverse the listed objects, then the untracked values they lead to (and
        // what those lead to: a lying leaf can report anything). Nodes are added in
        // the view's order, so a node's index is the view's.
        let mut i = 0;
        while i < view.node_count() {
            let info = view.info(i);
            let traversed = matches!(info.kind, NodeKind::Listed | NodeKind::Untracked);
            graph.by_id.insert(info.id, i);
            graph.nodes.push(Node {
                id: info.id,
                type_name: info.type_name,
                type_id: info.type_id,
                trusted: info.trusted_traverse,
                size: info.size,
                kind: match info.kind {
                    NodeKind::Listed => Kind::Heap {
                        generation: info.generation,
                        frozen: info.frozen,
                    },
                    NodeKind::Untracked => Kind::Untracked,
                    NodeKind::OtherHeap => Kind::OtherHeap,
                    NodeKind::Unlisted => Kind::Unlisted,
                    _ => Kind::Dead,
                },
                finalized: info.finalized,
                strong_count: 0,
                edges: Vec::new(),
                referrers: Vec::new(),
                untracked_reports: 0,
            });
            if traversed {
                graph.nodes[i].edges = view.node_referents(i);
            }
            i += 1;
        }
        // Counts, now that no temporary handle is left but the view's pins.
        for (i, node) in graph.nodes.iter_mut().enumerate() {
            node.strong_count = view.info(i).strong_count;
        }
        for &(id, k) in discount {
            if let Some(&i) = graph.by_id.get(&id) {
                let c = &mut graph.nodes[i].strong_count;
                *c = c.saturating_sub(k);
            }
        }
        for s in 0..graph.nodes.len() {
            let kind = graph.nodes[s].kind;
            for e in 0..graph.nodes[s].edges.len() {
                let t = graph.nodes[s].edges[e];
                match kind {
                    Kind::Heap { .. } => graph.nodes[t].referrers.push(s),
                    Kind::Untracked => graph.nodes[t].untracked_reports += 1,
                    _ => {}
                }
            }
        }
        graph
    }

    /// The shortest chain of referrers that keeps heap node `t` alive, root first:
    /// a breadth-first search backwards along the references the collector sees, to
    /// a node held from outside the heap or frozen. `None` if `t` is not a heap node
    /// or nothing holds it.
    pub(crate) fn path_to(&self, t: usize) -> Option<Vec<usize>> {
        if !self.nodes[t].is_heap() {
            return None;
        }
        // `next[i]` is the node that `i` references on the way to `t`.
        let mut next = vec![usize::MAX; self.nodes.len()];
        let mut seen = vec![false; self.nodes.len()];
        let mut queue = VecDeque::from([t]);
        seen[t] = true;
        while let Some(i) = queue.pop_front() {
            let node = &self.nodes[i];
            if node.is_frozen() || node.outside_refs() > 0 {
                let mut chain = vec![i];
                let mut cur = i;
                while cur != t {
                    cur = next[cur];
                    chain.push(cur);
                }
                return Some(chain);
            }
            for &r in &node.referrers {
                if !seen[r] {
                    seen[r] = true;
                    next[r] = i;
                    queue.push_back(r);
                }
            }
        }
        None
    }

    /// The nodes reachable from `starts` through reported references, in
    /// breadth-first order (the starts first).
    pub(crate) fn reachable_from(&self, starts: &[usize]) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut order = Vec::new();
        let mut queue = VecDeque::new();
        for &s in starts {
            if !seen[s] {
                seen[s] = true;
                queue.push_back(s);
            }
        }
        while let Some(i) = queue.pop_front() {
            order.push(i);
            for &t in &self.nodes[i].edges {
                if !seen[t] {
                    seen[t] = true;
                    queue.push_back(t);
                }
            }
        }
        order
    }
}
