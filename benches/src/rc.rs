//! `std::rc::Rc` + `RefCell`: the reference-counting baseline. Nothing collects
//! cycles, so the cyclic workloads break theirs by hand inside the timed part
//! ([`Collector::MANUAL_BREAK`]): the physical limit of reference counting.

use std::cell::RefCell;
use std::rc::Rc as StdRc;

use crate::{Collector, DropCounter};

/// W1 payload.
#[derive(Debug)]
pub struct LeafData {
    v: u64,
    _count: DropCounter,
}

/// W2 payload.
#[derive(Debug)]
pub struct ListData {
    v: u64,
    #[allow(dead_code, reason = "owned for its drop: W2 frees the list through it")]
    next: Option<StdRc<ListData>>,
    _count: DropCounter,
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

/// W3–W6, W8 handle.
pub type Node = StdRc<RefCell<NodeData>>;

/// W7 payload.
#[derive(Debug)]
pub struct GNodeData {
    id: u32,
    edges: Vec<GNode>,
    _count: DropCounter,
}

/// W7 handle.
pub type GNode = StdRc<RefCell<GNodeData>>;

/// `Rc` with manual cycle breaking. With `BREAK = false` ([`RcLeaky`]) it leaks
/// every cycle: the control that shows the drop counters catch leaks.
#[derive(Debug)]
pub struct RcImpl<const BREAK: bool>;

/// The `Rc` column.
pub type Rc = RcImpl<true>;

/// `Rc` without the manual cycle break: every cyclic workload must fail its drop
/// check (the tests use it as a control).
pub type RcLeaky = RcImpl<false>;

impl<const BREAK: bool> Collector for RcImpl<BREAK> {
    const ID: &'static str = if BREAK { "Rc" } else { "Rc (no cycle break)" };
    const NAME: &'static str = "Rc (manual cycle break)";
    const MANUAL_BREAK: bool = BREAK;
    const AUTO_COLLECT: bool = true;

    type Leaf = StdRc<LeafData>;
    type List = StdRc<ListData>;
    type Node = Node;
    type GNode = GNode;

    collector_methods!(new: StdRc::new, cell: RefCell::new);

    fn collect() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_payload_is_kept() {
        let list = Rc::list(1, Some(Rc::list(2, None)));
        assert_eq!(list.v, 1);
        assert_eq!(list.next.as_ref().map(|n| n.v), Some(2));
    }
}
