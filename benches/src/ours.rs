//! gc-core (this workspace): `Gc`, `#[derive(Traverse)]`, `gc_core::collect`.
//! Reference counting plus a CPython-style generational cycle collector; automatic
//! collection stays at its defaults.

use std::cell::RefCell;

use gc_core::{Gc, Traverse, Visitor};

use crate::{Collector, DropCounter};

// SAFETY: `DropCounter` owns no handles, so reporting none is exact and no value of
// the type can own a handle (`IS_LEAF`).
unsafe impl Traverse for DropCounter {
    const IS_LEAF: bool = true;

    fn traverse(&self, _: &mut Visitor<'_>) {}
}

/// W1 payload (a leaf type: untracked).
#[derive(Traverse)]
pub struct LeafData {
    v: u64,
    _count: DropCounter,
}

/// W2 payload.
#[derive(Traverse)]
pub struct ListData {
    v: u64,
    next: Option<Gc<ListData>>,
    _count: DropCounter,
}

/// W3–W6, W8 payload.
#[derive(Traverse)]
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
#[derive(Traverse)]
pub struct GNodeData {
    id: u32,
    edges: Vec<GNode>,
    _count: DropCounter,
}

/// W7 handle.
pub type GNode = Gc<RefCell<GNodeData>>;

/// The gc-core column.
#[derive(Debug)]
pub struct Ours;

impl Collector for Ours {
    const ID: &'static str = "gc-core";
    const NAME: &'static str = "gc-core (ours)";
    const AUTO_COLLECT: bool = true;

    type Leaf = Gc<LeafData>;
    type List = Gc<ListData>;
    type Node = Node;
    type GNode = GNode;

    collector_methods!(new: Gc::new, cell: RefCell::new);

    fn collect() {
        gc_core::collect();
    }
}
