//! Collection pauses inside a workload's timed part (W6, W8).
//!
//! - **Explicit collections** (the workload's own `collect()` calls: one per depth in
//!   W6, every 1,000 cycles for crates without automatic collection in W8, the final
//!   one): every crate, timed around the call by the [`Timed`] wrapper.
//! - **Automatic collections** (those a crate starts by itself during allocation or
//!   drop): gc-core only, through `gc_core::Heap::add_collect_callback` on the
//!   thread's default heap (`CollectInfo::duration` of each collection). The peers
//!   offer no hook that reports an automatic collection: "n/a".
//!
//! Only collections while [`in_timed_part`] count, so building W8's old tree is not
//! included.
//!
//! ```
//! use benches::{pauses, Workload};
//!
//! let p = pauses::measure_ours(Workload::W8YoungInOld, 20_000);
//! assert!(p.explicit.count >= 1);
//! assert!(p.automatic.is_some());
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::{in_timed_part, run, Collector, Slot, Workload};

/// Count, longest and total of a set of pauses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PauseStats {
    /// How many.
    pub count: u64,
    /// The longest.
    pub max: Duration,
    /// Their sum.
    pub total: Duration,
}

impl PauseStats {
    fn add(&mut self, d: Duration) {
        self.count += 1;
        self.max = self.max.max(d);
        self.total += d;
    }

    /// The pauses of both.
    pub fn merge(self, other: PauseStats) -> PauseStats {
        PauseStats {
            count: self.count + other.count,
            max: self.max.max(other.max),
            total: self.total + other.total,
        }
    }
}

/// The pauses of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pauses {
    /// The workload's `collect()` calls in the timed part.
    pub explicit: PauseStats,
    /// Collections the crate started by itself in the timed part; `None` where the
    /// crate reports none (every peer).
    pub automatic: Option<PauseStats>,
}

thread_local! {
    static EXPLICIT: RefCell<PauseStats> = RefCell::new(PauseStats::default());
    static IN_EXPLICIT: Cell<bool> = const { Cell::new(false) };
}

/// `G` with its `collect()` timed (in the timed part); everything else delegated.
#[derive(Debug)]
pub struct Timed<G>(std::marker::PhantomData<G>);

impl<G: Collector> Collector for Timed<G> {
    const ID: &'static str = G::ID;
    const NAME: &'static str = G::NAME;
    const MANUAL_BREAK: bool = G::MANUAL_BREAK;
    const AUTO_COLLECT: bool = G::AUTO_COLLECT;

    type Leaf = G::Leaf;
    type List = G::List;
    type Node = G::Node;
    type GNode = G::GNode;

    fn leaf(v: u64) -> Self::Leaf {
        G::leaf(v)
    }
    fn leaf_value(leaf: &Self::Leaf) -> u64 {
        G::leaf_value(leaf)
    }
    fn list(v: u64, next: Option<Self::List>) -> Self::List {
        G::list(v, next)
    }
    fn list_value(list: &Self::List) -> u64 {
        G::list_value(list)
    }
    fn node(v: u64) -> Self::Node {
        G::node(v)
    }
    fn node_value(node: &Self::Node) -> u64 {
        G::node_value(node)
    }
    fn replace(node: &Self::Node, slot: Slot, to: Option<Self::Node>) -> Option<Self::Node> {
        G::replace(node, slot, to)
    }
    fn with_slot<R>(node: &Self::Node, slot: Slot, f: impl FnOnce(Option<&Self::Node>) -> R) -> R {
        G::with_slot(node, slot, f)
    }
    fn gnode(id: u32) -> Self::GNode {
        G::gnode(id)
    }
    fn gnode_id(node: &Self::GNode) -> u32 {
        G::gnode_id(node)
    }
    fn push_edge(node: &Self::GNode, to: Self::GNode) {
        G::push_edge(node, to)
    }
    fn take_edges(node: &Self::GNode) -> Vec<Self::GNode> {
        G::take_edges(node)
    }
    fn with_edges<R>(node: &Self::GNode, f: impl FnOnce(&[Self::GNode]) -> R) -> R {
        G::with_edges(node, f)
    }

    fn collect() {
        IN_EXPLICIT.with(|e| e.set(true));
        let start = Instant::now();
        G::collect();
        let pause = start.elapsed();
        IN_EXPLICIT.with(|e| e.set(false));
        if in_timed_part() {
            EXPLICIT.with(|p| p.borrow_mut().add(pause));
        }
    }
}

/// Runs `w` at `size` once for `G` on this thread; its explicit pauses.
pub fn measure<G: Collector>(w: Workload, size: usize) -> Pauses {
    EXPLICIT.with(|p| p.take());
    run::<Timed<G>>(w, size);
    Pauses {
        explicit: EXPLICIT.with(|p| p.take()),
        automatic: None,
    }
}

/// Runs `w` at `size` once for gc-core on this thread: explicit pauses as for every
/// crate, and automatic ones from a collection callback on the default heap.
pub fn measure_ours(w: Workload, size: usize) -> Pauses {
    let automatic = Rc::new(Cell::new(PauseStats::default()));
    let heap = gc_core::Heap::current();
    let seen = automatic.clone();
    let id = heap.add_collect_callback(move |phase, info| {
        if phase == gc_core::CollectPhase::Stop && in_timed_part() && !IN_EXPLICIT.with(Cell::get) {
            let mut s = seen.get();
            s.add(info.duration);
            seen.set(s);
        }
    });
    let mut pauses = measure::<crate::ours::Ours>(w, size);
    heap.remove_collect_callback(id);
    pauses.automatic = Some(automatic.get());
    pauses
}

/// [`measure`] (or [`measure_ours`]) for the crate with this id.
pub fn measure_by_id(id: &str, w: Workload, size: usize) -> Option<Pauses> {
    Some(match id {
        "gc-core" => measure_ours(w, size),
        "Rc" => measure::<crate::rc::Rc>(w, size),
        "gcmodule" => measure::<crate::gcmodule::Gcmodule>(w, size),
        "dumpster" => measure::<crate::dumpster::Dumpster>(w, size),
        "rust-cc" => measure::<crate::rust_cc::RustCc>(w, size),
        "bacon_rajan_cc" => measure::<crate::bacon_rajan::BaconRajan>(w, size),
        "rust-gc" => measure::<crate::rust_gc::RustGc>(w, size),
        _ => return None,
    })
}
