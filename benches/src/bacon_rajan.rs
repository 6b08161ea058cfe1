//! bacon_rajan_cc 0.4.0: `Cc`, hand-written `Trace`, `collect_cycles` (synchronous
//! cycle collection of Bacon and Rajan; manual collection only, no derive).

use std::cell::RefCell;

use ::bacon_rajan_cc::{Cc, Trace, Tracer};

use crate::{Collector, DropCounter};

/// W1 payload.
#[derive(Debug)]
pub struct LeafData {
    v: u64,
    _count: DropCounter,
}

impl Trace for LeafData {
    fn trace(&self, _: &mut Tracer) {}
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
}

/// W7 handle.
pub type GNode = Cc<RefCell<GNodeData>>;

/// The bacon_rajan_cc column.
#[derive(Debug)]
pub struct BaconRajan;

impl Collector for BaconRajan {
    const ID: &'static str = "bacon_rajan_cc";
    const NAME: &'static str = "bacon_rajan_cc 0.4.0";
    const AUTO_COLLECT: bool = false;

    type Leaf = Cc<LeafData>;
    type List = Cc<ListData>;
    type Node = Node;
    type GNode = GNode;

    collector_methods!(new: Cc::new, cell: RefCell::new);

    fn collect() {
        ::bacon_rajan_cc::collect_cycles();
    }
}
