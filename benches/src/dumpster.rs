//! dumpster 2.1.0, `unsync` flavour: `unsync::Gc`, `#[derive(Trace)]`,
//! `unsync::collect`. Its default collect condition stays on, so it may also collect
//! during a workload.

use std::cell::RefCell;

use ::dumpster::unsync::Gc;
use ::dumpster::{Trace, TraceWith, Visitor};

use crate::{Collector, DropCounter};

// SAFETY: `DropCounter` owns no `Gc`, so accepting a visitor and visiting nothing is
// the complete (tree-shaped, empty) answer dumpster requires.
unsafe impl<V: Visitor> TraceWith<V> for DropCounter {
    fn accept(&self, _: &mut V) -> Result<(), ()> {
        Ok(())
    }
}

/// W1 payload.
#[derive(Debug, Trace)]
pub struct LeafData {
    v: u64,
    _count: DropCounter,
}

/// W2 payload.
#[derive(Trace)]
pub struct ListData {
    v: u64,
    next: Option<Gc<ListData>>,
    _count: DropCounter,
}

/// W3–W6, W8 payload.
#[derive(Trace)]
pub struct NodeData {
    v: u64,
    a: Option<Node>,
    b: Option<Node>,
    c: Option<Node>,
    _count: DropCounter,
}

/// W3–W6, W8 handle.
pub type Node = Gc<RefCell<NodeData>>;

/// W7 payload.
#[derive(Trace)]
pub struct GNodeData {
    id: u32,
    edges: Vec<GNode>,
    _count: DropCounter,
}

/// W7 handle.
pub type GNode = Gc<RefCell<GNodeData>>;

/// The dumpster column.
#[derive(Debug)]
pub struct Dumpster;

impl Collector for Dumpster {
    const ID: &'static str = "dumpster";
    const NAME: &'static str = "dumpster::unsync 2.1.0";
    const AUTO_COLLECT: bool = true;

    type Leaf = Gc<LeafData>;
    type List = Gc<ListData>;
    type Node = Node;
    type GNode = GNode;

    collector_methods!(new: Gc::new, cell: RefCell::new);

    fn collect() {
        ::dumpster::unsync::collect();
    }
}
