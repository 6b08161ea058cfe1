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

use gc_core::introspect::{is_collecting, HeapView, Referent};
use gc_core::{GcAny, Heap};
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

/// The graph, with the view that pins its heap nodes and the handles that keep the
/// other nodes alive while it exists.
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Node>,
    pub(crate) by_id: HashMap<usize, usize>,
    /// Whether a collection of the heap was running when the graph was built.
    pub(crate) during_collection: bool,
    view: HeapView,
    /// `others[k]` keeps node `view.len() + k` alive.
    others: Vec<GcAny>,
}

impl Graph {
    /// Builds the graph of `heap`. `discount` lists `(id, n)`: `n` strong handles to
    /// object `id` that the caller holds and wants left out of its count.
    ///
    /// # Panics
    /// If a `Traverse` impl panics (the pins are released on the way out).
    pub(crate) fn build(heap: &Heap, discount: &[(usize, usize)]) -> Graph {
        let view = HeapView::new(heap);
        let mut graph = Graph {
            nodes: Vec::with_capacity(view.len()),
            by_id: HashMap::with_capacity(view.len()),
            during_collection: is_collecting(heap),
            view,
            others: Vec::new(),
        };
        for i in 0..graph.view.len() {
            let info = graph.view.info(i);
            graph.by_id.insert(info.id, i);
            graph.nodes.push(Node {
                id: info.id,
                type_name: info.type_name,
                type_id: info.type_id,
                trusted: info.trusted_traverse,
                size: info.size,
                kind: Kind::Heap {
                    generation: info.generation,
                    frozen: info.frozen,
                },
                finalized: info.finalized,
                strong_count: 0,
                edges: Vec::new(),
                referrers: Vec::new(),
                untracked_reports: 0,
            });
        }
        // Traverse the heap nodes, then the untracked values they lead to (and what
        // those lead to: a lying leaf can report anything).
        let mut untracked = Vec::new();
        for i in 0..graph.view.len() {
            let edges: Vec<usize> = graph
                .view
                .referents(i)
                .into_iter()
                .map(|r| match r {
                    Referent::Object(j) => j,
                    Referent::Other(any) => graph.intern(heap, any, &mut untracked),
                })
                .collect();
            graph.nodes[i].edges = edges;
        }
        while let Some(u) = untracked.pop() {
            let any = graph.others[u - graph.view.len()].clone();
            let edges: Vec<usize> = any
                .referents()
                .into_iter()
                .map(|r| graph.intern(heap, r, &mut untracked))
                .collect();
            drop(any);
            graph.nodes[u].edges = edges;
        }
        // Counts, now that no temporary handle is left but the pins and `others`.
        let n = graph.view.len();
        for i in 0..graph.nodes.len() {
            graph.nodes[i].strong_count = if i < n {
                graph.view.info(i).strong_count
            } else {
                graph.others[i - n].strong_count().saturating_sub(1)
            };
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

    /// The node of `any`, added if new (untracked ones are queued for traversal).
    fn intern(&mut self, heap: &Heap, any: GcAny, untracked: &mut Vec<usize>) -> usize {
        if let Some(&i) = self.by_id.get(&any.id()) {
            return i;
        }
        let kind = if !any.is_alive() {
            Kind::Dead
        } else if any.is_tracked() {
            if any.in_heap(heap) {
                Kind::Unlisted
            } else {
                Kind::OtherHeap
            }
        } else {
            Kind::Untracked
        };
        let i = self.nodes.len();
        if kind == Kind::Untracked {
            untracked.push(i);
        }
        self.by_id.insert(any.id(), i);
        self.nodes.push(Node {
            id: any.id(),
            type_name: any.type_name(),
            type_id: any.type_id(),
            trusted: any.trusted_traverse(),
            size: any.size(),
            kind,
            finalized: any.is_finalized(),
            strong_count: 0,
            edges: Vec::new(),
            referrers: Vec::new(),
            untracked_reports: 0,
        });
        self.others.push(any);
        i
    }

    /// A new strong handle to node `i`, unless it is dead or held by a running
    /// collection (never hand those out).
    pub(crate) fn handle(&self, i: usize) -> Option<GcAny> {
        let n = self.view.len();
        if i < n {
            return Some(self.view.handle(i));
        }
        match self.nodes[i].kind {
            Kind::Dead | Kind::Unlisted => None,
            _ => Some(self.others[i - n].clone()),
        }
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
