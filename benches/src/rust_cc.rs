//! rust-cc 0.6.2: `Cc`, `#[derive(Trace, Finalize)]`, `collect_cycles`, default
//! features (automatic collection on). The derive writes the payload's `Drop`, so the
//! drop counter is an ignored field with its own `Drop`.

use std::cell::RefCell;

use ::rust_cc::{Cc, Finalize, Trace};

use crate::{Collector, DropCounter};

/// W1 payload.
#[derive(Trace, Finalize)]
pub struct LeafData {
    v: u64,
    #[rust_cc(ignore)]
    _count: DropCounter,
}

/// W2 payload.
#[derive(Trace, Finalize)]
pub struct ListData {
    v: u64,
    next: Option<Cc<ListData>>,
    #[rust_cc(ignore)]
    _count: DropCounter,
}

/// W3–W6, W8 payload.
#[derive(Trace, Finalize)]
pub struct NodeData {
    v: u64,
    a: Option<Node>,
    b: Option<Node>,
    c: Option<Node>,
    #[rust_cc(ignore)]
    _count: DropCounter,
}

/// W3–W6, W8 handle.
pub type Node = Cc<RefCell<NodeData>>;

/// W7 payload.
#[derive(Trace, Finalize)]
pub struct GNodeData {
    id: u32,
    edges: Vec<GNode>,
    #[rust_cc(ignore)]
    _count: DropCounter,
}

/// W7 handle.
pub type GNode = Cc<RefCell<GNodeData>>;

/// The rust-cc column.
#[derive(Debug)]
pub struct RustCc;

impl Collector for RustCc {
    const ID: &'static str = "rust-cc";
    const NAME: &'static str = "rust-cc 0.6.2";
    const AUTO_COLLECT: bool = true;

    type Leaf = Cc<LeafData>;
    type List = Cc<ListData>;
    type Node = Node;
    type GNode = GNode;

    collector_methods!(new: Cc::new, cell: RefCell::new);

    fn collect() {
        ::rust_cc::collect_cycles();
    }
}
