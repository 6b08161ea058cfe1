//! gcmodule 0.3.3: `Cc`, `Trace`, `collect_thread_cycles` (CPython-style collector,
//! manual collection only).
//!
//! `Trace` is hand-written for the recursive payloads with `is_type_tracked() = true`,
//! as the crate's docs require (its derive would recurse forever computing whether a
//! recursive type is tracked); the W1 leaf uses the derive and is therefore untracked,
//! the crate's acyclic fast path.

use std::cell::RefCell;

use ::gcmodule::{Cc, Trace, Tracer};

use crate::{Collector, DropCounter};

impl Trace for DropCounter {
    fn is_type_tracked() -> bool {
        false
    }
}

/// W1 payload (derived `Trace`: untracked).
#[derive(Debug, Trace)]
pub struct LeafData {
    v: u64,
    _count: DropCounter,
}

/// W2 payload.
#[derive(Debug)]
pub struct ListData {
    v: u64,
    next: Option<Cc<ListData>>,
    _count: DropCounter,
}

impl Trace for ListData {
    fn trace(&self, tracer: &mut Tracer) {
        self.next.trace(tracer);
    }

    fn is_type_tracked() -> bool {
        true
    }
}

/// W3–W6, W8 payload.
#[derive(Debug)]
pub struct NodeData {
    v: u64,
    a: Option<Node>,
    b: Option<Node>,
    c: Option<Node>,
    _count: DropCounter,
}

impl Trace for NodeData {
    fn trace(&self, tracer: &mut Tracer) {
        self.a.trace(tracer);
        self.b.trace(tracer);
        self.c.trace(tracer);
    }

    fn is_type_tracked() -> bool {
        true
    }
}

/// W3–W6, W8 handle.
pub type Node = Cc<RefCell<NodeData>>;

/// W7 payload.
#[derive(Debug)]
pub struct GNodeData {
    id: u32,
    edges: Vec<GNode>,
    _count: DropCounter,
}

impl Trace for GNodeData {
    fn trace(&self, tracer: &mut Tracer) {
        self.edges.trace(tracer);
    }

    fn is_type_tracked() -> bool {
        true
    }
}

/// W7 handle.
pub type GNode = Cc<RefCell<GNodeData>>;

/// The gcmodule column.
#[derive(Debug)]
pub struct Gcmodule;

impl Collector for Gcmodule {
    const ID: &'static str = "gcmodule";
    const NAME: &'static str = "gcmodule 0.3.3";
    const AUTO_COLLECT: bool = false;

    type Leaf = Cc<LeafData>;
    type List = Cc<ListData>;
    type Node = Node;
    type GNode = GNode;

    collector_methods!(new: Cc::new, cell: RefCell::new);

    fn collect() {
        ::gcmodule::collect_thread_cycles();
    }
}
