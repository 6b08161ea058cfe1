//! rust-gc (crate `gc`) 0.5.1: `Gc`, `GcCell`, `#[derive(Trace, Finalize)]`,
//! `force_collect`. A tracing mark-and-sweep collector that also collects by itself
//! when its allocation threshold is passed. The derive writes the payload's `Drop`,
//! so the drop counter is an ignored field with its own `Drop`.

// gc_derive 0.5 wraps its impls in `const _: () = { ... }` blocks, which the
// `non_local_definitions` lint reports against the derive's user.
#![allow(non_local_definitions)]

use ::gc::{Finalize, Gc, GcCell, Trace};

use crate::{Collector, DropCounter};

/// W1 payload.
#[derive(Trace, Finalize)]
pub struct LeafData {
    v: u64,
    #[unsafe_ignore_trace]
    _count: DropCounter,
}

/// W2 payload.
#[derive(Trace, Finalize)]
pub struct ListData {
    v: u64,
    next: Option<Gc<ListData>>,
    #[unsafe_ignore_trace]
    _count: DropCounter,
}

/// W3–W6, W8 payload.
#[derive(Trace, Finalize)]
pub struct NodeData {
    v: u64,
    a: Option<Node>,
    b: Option<Node>,
    c: Option<Node>,
    #[unsafe_ignore_trace]
    _count: DropCounter,
}

/// W3–W6, W8 handle.
pub type Node = Gc<GcCell<NodeData>>;

/// W7 payload.
#[derive(Trace, Finalize)]
pub struct GNodeData {
    id: u32,
    edges: Vec<GNode>,
    #[unsafe_ignore_trace]
    _count: DropCounter,
}

/// W7 handle.
pub type GNode = Gc<GcCell<GNodeData>>;

/// The rust-gc column.
#[derive(Debug)]
pub struct RustGc;

impl Collector for RustGc {
    const ID: &'static str = "rust-gc";
    const NAME: &'static str = "rust-gc (gc) 0.5.1";
    const AUTO_COLLECT: bool = true;

    type Leaf = Gc<LeafData>;
    type List = Gc<ListData>;
    type Node = Node;
    type GNode = GNode;

    collector_methods!(new: Gc::new, cell: GcCell::new);

    fn collect() {
        ::gc::force_collect();
    }
}
