//! Workloads W1–W9 for comparing `gc-core` with `Rc` and five Rust GC crates.
//!
//! Each workload is written once, generically over [`Collector`]: the handful of
//! operations every crate supplies (allocate a node, set / take / borrow a handle slot,
//! push / take / borrow an edge list, run a full collection). One adapter module per
//! crate implements it with the same payloads, so node sizes differ only by each
//! crate's own header. The workloads follow `shared/reference/peer-benchmarks.md`
//! § Workloads exactly; `benches/README.md` summarises them.
//!
//! Every node owns a [`DropCounter`]. Each workload checks the number of drops wherever
//! the expected number is known (0 after building, everything at the end) and panics
//! with the crate, workload and counts when it is wrong: a benchmark that frees nothing
//! measures nothing, and one that frees twice is broken.
//!
//! A workload returns the durations of its timed phases ([`Workload::phases`]); setup
//! and checks in between are not timed.
//!
//! W9 (multi-threaded churn) needs thread-safe handles and has its own trait and
//! adapters in [`mt`]. [`pauses`] measures the longest collection pauses of W6 and W8.
//!
//! ```
//! use benches::{rc, Workload};
//!
//! // The Rc column of W3 at a tiny size: create 500 two-node cycles, break them by
//! // hand, drop them. The drop counts are checked inside.
//! let phases = benches::run::<rc::Rc>(Workload::W3SmallCycles, 1_000);
//! assert_eq!(phases.len(), 2);
//! ```

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Generates the [`Collector`] methods shared by every adapter whose handles point
/// at `LeafData`, `ListData`, a cell of `NodeData` and a cell of `GNodeData` (the
/// structs each adapter module defines with its crate's derives). `new` wraps a value
/// in the crate's handle; `cell` is the cell constructor (`RefCell::new`, `GcCell::new`).
macro_rules! collector_methods {
    (new: $new:path, cell: $cell:path) => {
        fn leaf(v: u64) -> Self::Leaf {
            $new(LeafData {
                v,
                _count: $crate::DropCounter::new(),
            })
        }

        fn leaf_value(leaf: &Self::Leaf) -> u64 {
            leaf.v
        }

        fn list_value(list: &Self::List) -> u64 {
            list.v
        }

        fn list(v: u64, next: Option<Self::List>) -> Self::List {
            $new(ListData {
                v,
                next,
                _count: $crate::DropCounter::new(),
            })
        }

        fn node(v: u64) -> Self::Node {
            $new($cell(NodeData {
                v,
                a: None,
                b: None,
                c: None,
                _count: $crate::DropCounter::new(),
            }))
        }

        fn node_value(node: &Self::Node) -> u64 {
            node.borrow().v
        }

        fn replace(
            node: &Self::Node,
            slot: $crate::Slot,
            to: Option<Self::Node>,
        ) -> Option<Self::Node> {
            let mut data = node.borrow_mut();
            let place = match slot {
                $crate::Slot::A => &mut data.a,
                $crate::Slot::B => &mut data.b,
                $crate::Slot::C => &mut data.c,
            };
            ::std::mem::replace(place, to)
        }

        fn with_slot<R>(
            node: &Self::Node,
            slot: $crate::Slot,
            f: impl FnOnce(Option<&Self::Node>) -> R,
        ) -> R {
            let data = node.borrow();
            f(match slot {
                $crate::Slot::A => data.a.as_ref(),
                $crate::Slot::B => data.b.as_ref(),
                $crate::Slot::C => data.c.as_ref(),
            })
        }

        fn gnode(id: u32) -> Self::GNode {
            $new($cell(GNodeData {
                id,
                edges: Vec::new(),
                _count: $crate::DropCounter::new(),
            }))
        }

        fn gnode_id(node: &Self::GNode) -> u32 {
            node.borrow().id
        }

        fn push_edge(node: &Self::GNode, to: Self::GNode) {
            node.borrow_mut().edges.push(to);
        }

        fn take_edges(node: &Self::GNode) -> Vec<Self::GNode> {
            ::std::mem::take(&mut node.borrow_mut().edges)
        }

        fn with_edges<R>(node: &Self::GNode, f: impl FnOnce(&[Self::GNode]) -> R) -> R {
            f(&node.borrow().edges)
        }
    };
}

pub mod bacon_rajan;
pub mod dumpster;
pub mod gcmodule;
pub mod mt;
pub mod ours;
pub mod pauses;
pub mod probe;
pub mod rc;
pub mod rust_cc;
pub mod rust_gc;

// ---------------------------------------------------------------------------------
// Drop counting
// ---------------------------------------------------------------------------------

thread_local! {
    /// Drops of [`DropCounter`] on this thread. Const-initialised without a
    /// destructor, so it stays usable while other thread-locals (a collector's state)
    /// are destroyed at thread exit.
    static DROPS: Cell<u64> = const { Cell::new(0) };
}

/// A zero-sized field every benchmark node owns; its `Drop` counts one freed node.
///
/// It is a separate field (not a `Drop` on the node) because the derives of rust-cc
/// and rust-gc write the node's `Drop` themselves. Each adapter tells its crate that
/// the counter holds no handles.
#[derive(Debug, Default)]
pub struct DropCounter(());

impl DropCounter {
    /// A new counter token.
    pub const fn new() -> DropCounter {
        DropCounter(())
    }
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        // `try_with`: a collector may free nodes from its own thread-local destructor.
        let _ = DROPS.try_with(|d| d.set(d.get() + 1));
    }
}

/// The number of [`DropCounter`]s dropped on this thread so far.
pub fn drops() -> u64 {
    DROPS.with(Cell::get)
}

thread_local! {
    /// Whether this thread is inside a workload's timed part.
    static IN_TIMED_PART: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside a workload's timed part (for [`pauses`], which
/// counts only the collections there, not those of building a tree or a graph).
pub fn in_timed_part() -> bool {
    IN_TIMED_PART.with(Cell::get)
}

/// Starts a timed part: marks the thread (outside the measured interval), then reads
/// the clock.
fn start_timer() -> Instant {
    IN_TIMED_PART.with(|t| t.set(true));
    Instant::now()
}

/// Ends a timed part: reads the clock, then clears the mark.
fn stop_timer(start: Instant) -> Duration {
    let elapsed = start.elapsed();
    IN_TIMED_PART.with(|t| t.set(false));
    elapsed
}

// ---------------------------------------------------------------------------------
// The operations every crate supplies
// ---------------------------------------------------------------------------------

/// A handle slot of a [`Collector::Node`]: `a` = pair partner, ring next or left
/// child; `b` = ring prev or right child; `c` = parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Pair partner, ring next, left child.
    A,
    /// Ring prev, right child.
    B,
    /// Parent.
    C,
}

/// The operations a crate supplies to run the workloads.
///
/// Node shapes (the same payloads for every crate):
/// - [`Leaf`](Collector::Leaf): `{ v: u64 }` behind an immutable handle (W1);
/// - [`List`](Collector::List): `{ v: u64, next: Option<List> }` behind an immutable
///   handle (W2);
/// - [`Node`](Collector::Node): a handle to a mutable cell holding
///   `{ v: u64, a, b, c: Option<Node> }` (W3–W6, W8);
/// - [`GNode`](Collector::GNode): a handle to a mutable cell holding
///   `{ id: u32, edges: Vec<GNode> }` (W7).
///
/// Each also owns a [`DropCounter`].
pub trait Collector: 'static {
    /// Bench function id and table column: short, e.g. `"dumpster"`.
    const ID: &'static str;
    /// Long name with version and API, e.g. `"dumpster::unsync 2.1.0"`.
    const NAME: &'static str;
    /// `true` for `Rc`: cyclic workloads break their cycles by hand (inside the timed
    /// part), since nothing else would free them.
    const MANUAL_BREAK: bool = false;
    /// Whether the crate collects cycles by itself. W8 calls [`collect`] every 1,000
    /// young cycles for crates that do not (gcmodule, bacon_rajan_cc).
    ///
    /// [`collect`]: Collector::collect
    const AUTO_COLLECT: bool;

    /// Handle to `{ v: u64 }`.
    type Leaf: Clone;
    /// Handle to `{ v: u64, next: Option<List> }`.
    type List;
    /// Handle to a cell holding `{ v: u64, a, b, c: Option<Node> }`.
    type Node: Clone;
    /// Handle to a cell holding `{ id: u32, edges: Vec<GNode> }`.
    type GNode: Clone;

    /// Allocates a leaf.
    fn leaf(v: u64) -> Self::Leaf;
    /// The leaf's payload.
    fn leaf_value(leaf: &Self::Leaf) -> u64;
    /// Allocates a list node in front of `next`.
    fn list(v: u64, next: Option<Self::List>) -> Self::List;
    /// The list node's payload.
    fn list_value(list: &Self::List) -> u64;
    /// Allocates a node with empty slots.
    fn node(v: u64) -> Self::Node;
    /// The node's payload.
    fn node_value(node: &Self::Node) -> u64;
    /// Stores `to` in `slot` and returns what was there (with the cell borrow released).
    fn replace(node: &Self::Node, slot: Slot, to: Option<Self::Node>) -> Option<Self::Node>;
    /// Calls `f` with a borrow of `slot`.
    fn with_slot<R>(node: &Self::Node, slot: Slot, f: impl FnOnce(Option<&Self::Node>) -> R) -> R;
    /// Allocates a graph node with no edges.
    fn gnode(id: u32) -> Self::GNode;
    /// The graph node's id.
    fn gnode_id(node: &Self::GNode) -> u32;
    /// Appends an out-edge.
    fn push_edge(node: &Self::GNode, to: Self::GNode);
    /// Takes the whole edge list, leaving it empty.
    fn take_edges(node: &Self::GNode) -> Vec<Self::GNode>;
    /// Calls `f` with a borrow of the edge list.
    fn with_edges<R>(node: &Self::GNode, f: impl FnOnce(&[Self::GNode]) -> R) -> R;
    /// A full collection of this thread's heap (a no-op for `Rc`).
    fn collect();

    /// Stores `to` in `slot`, dropping the old value after the cell borrow ends.
    fn set(node: &Self::Node, slot: Slot, to: Option<Self::Node>) {
        drop(Self::replace(node, slot, to));
    }

    /// Takes the handle out of `slot`.
    fn take(node: &Self::Node, slot: Slot) -> Option<Self::Node> {
        Self::replace(node, slot, None)
    }
}

// ---------------------------------------------------------------------------------
// Workload catalogue
// ---------------------------------------------------------------------------------

/// Workloads W1–W8 of `peer-benchmarks.md`. W8 has two variants (old heap of
/// `size` nodes, or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// W1: allocate, clone, drop n acyclic leaves; one collection.
    W1AcyclicChurn,
    /// W2: drop the head of an n-node linked list (on a 2 MiB stack); one collection.
    W2ChainDrop,
    /// W3: create n/2 two-node cycles; drop them all; one collection.
    W3SmallCycles,
    /// W4: drop the only outside handle to an n-node doubly linked ring; one collection.
    W4BigRing,
    /// W5: 10 full collections over an n-node live tree with parent pointers.
    W5LiveScan,
    /// W6: Benchmarks Game binary trees with parent pointers; `size` = maximum depth.
    W6BinaryTrees,
    /// W7: random graph (4 out-edges per node); drop all but 10 roots, collect; drop
    /// the roots, collect.
    W7RandomGraph,
    /// W8: `size / 10` young two-node cycles created and dropped one by one, next to a
    /// live old tree of `size` nodes, with automatic collection on.
    W8YoungInOld,
    /// W8 with an empty old heap (`size / 10` young cycles).
    W8YoungNoOld,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 9] = [
        Workload::W1AcyclicChurn,
        Workload::W2ChainDrop,
        Workload::W3SmallCycles,
        Workload::W4BigRing,
        Workload::W5LiveScan,
        Workload::W6BinaryTrees,
        Workload::W7RandomGraph,
        Workload::W8YoungInOld,
        Workload::W8YoungNoOld,
    ];

    /// Name used for criterion groups (with `_<phase>` for multi-phase workloads).
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1AcyclicChurn => "W1_acyclic_churn",
            Workload::W2ChainDrop => "W2_chain_drop",
            Workload::W3SmallCycles => "W3_small_cycles",
            Workload::W4BigRing => "W4_big_ring",
            Workload::W5LiveScan => "W5_live_scan",
            Workload::W6BinaryTrees => "W6_binary_trees",
            Workload::W7RandomGraph => "W7_random_graph",
            Workload::W8YoungInOld => "W8_young_in_old",
            Workload::W8YoungNoOld => "W8_young_no_old",
        }
    }

    /// The workload with this [`name`](Workload::name).
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// The timed phases, in the order [`run`] returns their durations.
    pub fn phases(self) -> &'static [&'static str] {
        match self {
            Workload::W1AcyclicChurn => &["churn_collect"],
            Workload::W2ChainDrop => &["drop_collect"],
            Workload::W3SmallCycles => &["create", "drop_collect"],
            Workload::W4BigRing => &["drop_collect"],
            Workload::W5LiveScan => &["10_collections"],
            Workload::W6BinaryTrees => &["whole_run"],
            Workload::W7RandomGraph => &["drop_collect_10_roots_live", "drop_roots_collect"],
            Workload::W8YoungInOld | Workload::W8YoungNoOld => &["cycles_collect"],
        }
    }

    /// The size of `peer-benchmarks.md` (n, or the maximum depth for W6).
    pub fn default_size(self) -> usize {
        match self {
            Workload::W1AcyclicChurn
            | Workload::W2ChainDrop
            | Workload::W4BigRing
            | Workload::W5LiveScan
            | Workload::W8YoungInOld
            | Workload::W8YoungNoOld => 1_000_000,
            Workload::W3SmallCycles | Workload::W7RandomGraph => 200_000,
            Workload::W6BinaryTrees => 14,
        }
    }

    /// About 100× less work than [`default_size`](Workload::default_size), for
    /// `BENCH_QUICK=1` (W6: depth 8, about 125× fewer nodes).
    pub fn quick_size(self) -> usize {
        match self {
            Workload::W6BinaryTrees => 8,
            w => w.default_size() / 100,
        }
    }

    /// A size small enough for debug-mode tests that still exercises every path
    /// (W8 still crosses gcmodule's and bacon_rajan_cc's 1,000-cycle collect points).
    pub fn test_size(self) -> usize {
        match self {
            Workload::W6BinaryTrees => 7,
            Workload::W8YoungInOld | Workload::W8YoungNoOld => 50_000,
            _ => 10_000,
        }
    }

    /// The objects a figure is divided by for "ns per object": n for most, every node
    /// allocated for W6, the young cycles for W8.
    pub fn objects(self, size: usize) -> u64 {
        match self {
            Workload::W6BinaryTrees => binary_trees_nodes(size as u32),
            Workload::W8YoungInOld | Workload::W8YoungNoOld => (size / 10).max(1) as u64,
            Workload::W3SmallCycles => (size / 2 * 2) as u64,
            _ => size as u64,
        }
    }

    /// The stack the workload runs on: 2 MiB for W2 (the point of W2), else 8 MiB
    /// (the usual Linux main-thread size).
    pub fn stack(self) -> usize {
        match self {
            Workload::W2ChainDrop => STACK_2_MIB,
            _ => STACK_8_MIB,
        }
    }

    /// Whether some crate's recursion depth here grows with the size, so that the
    /// benchmark probes for a stack overflow in a child process first (W2, W4, W7).
    pub fn may_overflow(self) -> bool {
        matches!(
            self,
            Workload::W2ChainDrop | Workload::W4BigRing | Workload::W7RandomGraph
        )
    }
}

/// 2 MiB: the `std::thread` default, used by W2.
pub const STACK_2_MIB: usize = 2 << 20;
/// 8 MiB: the usual Linux main-thread stack, used by every other workload.
pub const STACK_8_MIB: usize = 8 << 20;
/// 1 GiB: the rerun stack for a crate that overflows 8 MiB (marked in the bench id).
pub const STACK_1_GIB: usize = 1 << 30;

/// Runs workload `w` at `size` for crate `G` on the current thread and returns the
/// durations of its timed phases. Panics if a drop count is wrong.
pub fn run<G: Collector>(w: Workload, size: usize) -> Vec<Duration> {
    match w {
        Workload::W1AcyclicChurn => vec![w1_acyclic_churn::<G>(size)],
        Workload::W2ChainDrop => vec![w2_chain_drop::<G>(size)],
        Workload::W3SmallCycles => w3_small_cycles::<G>(size).to_vec(),
        Workload::W4BigRing => vec![w4_big_ring::<G>(size)],
        Workload::W5LiveScan => vec![w5_live_scan::<G>(size)],
        Workload::W6BinaryTrees => vec![w6_binary_trees::<G>(size as u32)],
        Workload::W7RandomGraph => w7_random_graph::<G>(size).to_vec(),
        Workload::W8YoungInOld => vec![w8_young_in_old::<G>(size, (size / 10).max(1))],
        Workload::W8YoungNoOld => vec![w8_young_in_old::<G>(0, (size / 10).max(1))],
    }
}

/// A crate in the comparison, type-erased so benches and tests can loop over them.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// [`Collector::ID`].
    pub id: &'static str,
    /// [`Collector::NAME`].
    pub name: &'static str,
    /// [`run`] for this crate.
    pub run: fn(Workload, usize) -> Vec<Duration>,
}

impl Entry {
    /// The entry for `G`.
    pub const fn of<G: Collector>() -> Entry {
        Entry {
            id: G::ID,
            name: G::NAME,
            run: run::<G>,
        }
    }

    /// Runs `w` on a fresh thread with a `stack`-byte stack (fresh thread-local
    /// collector state each time, as a fresh process would have). A panic in the
    /// workload (a failed drop-count check) is resumed here.
    pub fn run_on_thread(&self, w: Workload, size: usize, stack: usize) -> Vec<Duration> {
        let run = self.run;
        on_thread(stack, move || run(w, size))
    }

    /// Runs `w` `runs` times (at least once) one after another on one fresh thread,
    /// and returns the last run's phase times: the crate's thread-local collector
    /// state (its heap, its free lists) carries over from run to run, as in a
    /// long-running program that builds and drops such structures again and again.
    pub fn run_repeated_on_thread(
        &self,
        w: Workload,
        size: usize,
        stack: usize,
        runs: usize,
    ) -> Vec<Duration> {
        let run = self.run;
        on_thread(stack, move || {
            let mut last = run(w, size);
            for _ in 1..runs {
                last = run(w, size);
            }
            last
        })
    }
}

/// Every crate, ours first, then `Rc`, then the peers in the order of
/// `peer-benchmarks.md`.
pub const CRATES: &[Entry] = &[
    Entry::of::<ours::Ours>(),
    Entry::of::<rc::Rc>(),
    Entry::of::<gcmodule::Gcmodule>(),
    Entry::of::<dumpster::Dumpster>(),
    Entry::of::<rust_cc::RustCc>(),
    Entry::of::<bacon_rajan::BaconRajan>(),
    Entry::of::<rust_gc::RustGc>(),
];

/// The entry with this [`Collector::ID`].
pub fn entry(id: &str) -> Option<&'static Entry> {
    CRATES.iter().find(|e| e.id == id)
}

/// Runs `f` on a new thread with a `stack`-byte stack and returns its result,
/// resuming its panic if it panicked.
pub fn on_thread<R: Send + 'static>(stack: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    let handle = std::thread::Builder::new()
        .name("workload".into())
        .stack_size(stack)
        .spawn(f)
        .expect("spawning a workload thread failed");
    match handle.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

// ---------------------------------------------------------------------------------
// Checks and helpers
// ---------------------------------------------------------------------------------

/// Panics unless exactly `want` nodes were dropped since `base` (a snapshot of
/// [`drops`]).
fn check_freed<G: Collector>(workload: &str, step: &str, base: u64, want: u64) {
    let got = drops() - base;
    assert!(
        got == want,
        "{} / {workload} / {step}: {got} nodes freed, expected {want} ({})",
        G::ID,
        if got < want {
            "a leak: the crate did not free garbage, or the workload kept a handle"
        } else {
            "more drops than nodes: something was freed twice or while live"
        },
    );
}

/// Nodes in a perfect binary tree of depth `d` (a single node has depth 0).
const fn tree_nodes(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

/// Counts the nodes reachable through the child slots `a` and `b` (recursive; trees
/// here are at most about 20 deep).
pub fn count_tree<G: Collector>(node: &G::Node) -> u64 {
    1 + G::with_slot(node, Slot::A, |c| c.map_or(0, count_tree::<G>))
        + G::with_slot(node, Slot::B, |c| c.map_or(0, count_tree::<G>))
}

/// Clears every parent pointer (slot `c`) of a tree: `Rc`'s manual cycle break.
fn clear_parents<G: Collector>(node: &G::Node) {
    G::set(node, Slot::C, None);
    G::with_slot(node, Slot::A, |c| c.map(clear_parents::<G>));
    G::with_slot(node, Slot::B, |c| c.map(clear_parents::<G>));
}

/// Drops a tree with parent pointers, breaking its cycles first for `Rc`.
fn drop_tree<G: Collector>(root: G::Node) {
    if G::MANUAL_BREAK {
        clear_parents::<G>(&root);
    }
    drop(root);
}

/// Builds the balanced binary tree over heap indices `i..n` rooted at `i` (children
/// of `i` are `2i+1` in slot `a` and `2i+2` in slot `b`), each child pointing at its
/// parent through slot `c`.
fn heap_tree<G: Collector>(i: usize, n: usize, parent: Option<&G::Node>) -> G::Node {
    let node = G::node(i as u64);
    if let Some(p) = parent {
        G::set(&node, Slot::C, Some(p.clone()));
    }
    if 2 * i + 1 < n {
        let left = heap_tree::<G>(2 * i + 1, n, Some(&node));
        G::set(&node, Slot::A, Some(left));
    }
    if 2 * i + 2 < n {
        let right = heap_tree::<G>(2 * i + 2, n, Some(&node));
        G::set(&node, Slot::B, Some(right));
    }
    node
}

/// Builds a perfect tree of depth `depth`: the parent first, then the left subtree,
/// then the right one; each child points at its parent through slot `c`.
fn perfect_tree<G: Collector>(depth: u32, parent: Option<&G::Node>) -> G::Node {
    let node = G::node(u64::from(depth));
    if let Some(p) = parent {
        G::set(&node, Slot::C, Some(p.clone()));
    }
    if depth > 0 {
        let left = perfect_tree::<G>(depth - 1, Some(&node));
        G::set(&node, Slot::A, Some(left));
        let right = perfect_tree::<G>(depth - 1, Some(&node));
        G::set(&node, Slot::B, Some(right));
    }
    node
}

/// Marsaglia's xorshift64 (shifts 13/7/17).
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// The W7 seed.
    pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

    /// A generator with state `seed` (must be non-zero).
    pub fn new(seed: u64) -> XorShift64 {
        assert!(seed != 0, "xorshift64 needs a non-zero seed");
        XorShift64(seed)
    }

    /// The next value.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// The W7 graph as indices: 4 out-edges per node and 10 roots, from
/// [`XorShift64::SEED`]. Shared by the workload and by tests of the BFS.
pub fn random_graph(n: usize) -> (Vec<[u32; 4]>, Vec<usize>) {
    assert!(
        n > 0 && n <= u32::MAX as usize,
        "W7 needs 1..=u32::MAX nodes"
    );
    let mut rng = XorShift64::new(XorShift64::SEED);
    let edges = (0..n)
        .map(|_| std::array::from_fn(|_| (rng.next() % n as u64) as u32))
        .collect();
    let roots = (0..10).map(|_| (rng.next() % n as u64) as usize).collect();
    (edges, roots)
}

/// Which nodes the `roots` reach, by a breadth-first search over the index copy of
/// the edges (independent of any crate under test).
pub fn reachable(edges: &[[u32; 4]], roots: &[usize]) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    let mut queue = std::collections::VecDeque::new();
    for &r in roots {
        if !seen[r] {
            seen[r] = true;
            queue.push_back(r);
        }
    }
    while let Some(i) = queue.pop_front() {
        for &t in &edges[i] {
            let t = t as usize;
            if !seen[t] {
                seen[t] = true;
                queue.push_back(t);
            }
        }
    }
    seen
}

/// Total nodes W6 allocates for maximum depth `max_depth` (3,222,190 for 14).
pub fn binary_trees_nodes(max_depth: u32) -> u64 {
    let mut total = tree_nodes(max_depth + 1) + tree_nodes(max_depth);
    let mut d = BINARY_TREES_MIN_DEPTH;
    while d <= max_depth {
        total += (1u64 << (max_depth - d + BINARY_TREES_MIN_DEPTH)) * tree_nodes(d);
        d += 2;
    }
    total
}

/// W6's minimum depth (Benchmarks Game).
pub const BINARY_TREES_MIN_DEPTH: u32 = 4;

// ---------------------------------------------------------------------------------
// The workloads
// ---------------------------------------------------------------------------------

/// W1 acyclic_churn. Timed: `n` times allocate a leaf, clone it, pass the clone
/// through `black_box`, drop both; then one collection. Checked: `n` freed.
pub fn w1_acyclic_churn<G: Collector>(n: usize) -> Duration {
    const W: &str = "W1 acyclic_churn";
    let base = drops();
    let start = start_timer();
    for i in 0..n as u64 {
        let leaf = G::leaf(i);
        let clone = black_box(leaf.clone());
        drop(leaf);
        drop(clone);
    }
    G::collect();
    let elapsed = stop_timer(start);
    check_freed::<G>(W, "end", base, n as u64);
    elapsed
}

/// W2 chain_drop. Untimed: build an `n`-node list tail-first (values `n-1` down to
/// 0). Timed: drop the head, one collection. Checked: 0 freed, then `n`.
///
/// Run it on a 2 MiB stack ([`Workload::stack`]): crates that free the list by
/// recursive drop overflow there, which aborts the process, so the benchmark probes
/// each crate in a child process first ([`probe`]).
pub fn w2_chain_drop<G: Collector>(n: usize) -> Duration {
    const W: &str = "W2 chain_drop";
    let base = drops();
    let mut head = None;
    for v in (0..n as u64).rev() {
        head = Some(G::list(v, head.take()));
    }
    check_freed::<G>(W, "after build", base, 0);
    let head_value = head.as_ref().map(G::list_value);
    assert_eq!(
        head_value,
        (n > 0).then_some(0),
        "{} / {W}: wrong head",
        G::ID
    );
    let start = start_timer();
    drop(black_box(head));
    G::collect();
    let elapsed = stop_timer(start);
    check_freed::<G>(W, "end", base, n as u64);
    elapsed
}

/// W3 small_cycles. Timed phase "create": `n/2` pairs `a.a = b`, `b.a = a`, pushed
/// into a `Vec` pre-sized to `n`. Timed phase "drop_collect": (`Rc`: clear slot `a`
/// of each pair's first node) drop the `Vec`, one collection. Checked: 0 freed after
/// creating, every node at the end.
pub fn w3_small_cycles<G: Collector>(n: usize) -> [Duration; 2] {
    const W: &str = "W3 small_cycles";
    let pairs = n / 2;
    let base = drops();

    let start = start_timer();
    let mut nodes = Vec::with_capacity(n);
    for i in 0..pairs as u64 {
        let a = G::node(2 * i);
        let b = G::node(2 * i + 1);
        G::set(&a, Slot::A, Some(b.clone()));
        G::set(&b, Slot::A, Some(a.clone()));
        nodes.push(a);
        nodes.push(b);
    }
    let create = stop_timer(start);
    check_freed::<G>(W, "after create", base, 0);

    let start = start_timer();
    if G::MANUAL_BREAK {
        for a in nodes.iter().step_by(2) {
            G::set(a, Slot::A, None);
        }
    }
    drop(nodes);
    G::collect();
    let drop_collect = stop_timer(start);
    check_freed::<G>(W, "end", base, 2 * pairs as u64);
    [create, drop_collect]
}

/// W4 big_ring. Untimed: a doubly linked ring of `n` nodes (`a` = next, `b` = prev);
/// the only outside handle is the one to the first node. Timed: drop it, one
/// collection (`Rc` instead walks the ring once, clearing each node's prev and
/// taking its next). Checked: 0 freed, then `n`.
pub fn w4_big_ring<G: Collector>(n: usize) -> Duration {
    const W: &str = "W4 big_ring";
    assert!(n > 0, "{W} needs at least one node");
    let base = drops();
    let first = G::node(0);
    let mut last = first.clone();
    for i in 1..n as u64 {
        let node = G::node(i);
        G::set(&node, Slot::B, Some(last.clone()));
        G::set(&last, Slot::A, Some(node.clone()));
        last = node;
    }
    G::set(&last, Slot::A, Some(first.clone()));
    G::set(&first, Slot::B, Some(last));
    check_freed::<G>(W, "after build", base, 0);

    let start = start_timer();
    if G::MANUAL_BREAK {
        // Each node is freed once its successor has cleared its prev, with empty
        // slots, so nothing recurses.
        let mut cur = first;
        loop {
            drop(G::take(&cur, Slot::B));
            match G::take(&cur, Slot::A) {
                Some(next) => cur = next,
                None => break,
            }
        }
        drop(cur);
    } else {
        drop(first);
    }
    G::collect();
    let elapsed = stop_timer(start);
    check_freed::<G>(W, "end", base, n as u64);
    elapsed
}

/// W5 live_scan. Untimed: the heap-indexed binary tree over `0..n` with parent
/// pointers; the root is held. Timed: 10 full collections. Checked: 0 freed and
/// `n` nodes still counted through the child slots; then (untimed) `Rc` clears the
/// parent pointers, the root is dropped, one collection, `n` freed.
pub fn w5_live_scan<G: Collector>(n: usize) -> Duration {
    const W: &str = "W5 live_scan";
    assert!(n > 0, "{W} needs at least one node");
    let base = drops();
    let root = heap_tree::<G>(0, n, None);
    check_freed::<G>(W, "after build", base, 0);

    let start = start_timer();
    for _ in 0..10 {
        G::collect();
    }
    let elapsed = stop_timer(start);

    check_freed::<G>(W, "after 10 collections", base, 0);
    let counted = count_tree::<G>(&root);
    assert_eq!(
        counted,
        n as u64,
        "{} / {W}: the live tree lost nodes",
        G::ID
    );
    assert_eq!(
        G::node_value(&root),
        0,
        "{} / {W}: root payload changed",
        G::ID
    );
    drop_tree::<G>(root);
    G::collect();
    check_freed::<G>(W, "end", base, n as u64);
    elapsed
}

/// W6 binary_trees (Benchmarks Game schedule, minimum depth 4, every parent–child
/// edge a two-node cycle). Timed: the whole run — a stretch tree of depth
/// `max_depth + 1`; a long-lived tree of `max_depth`; for d = 4, 6, …, `max_depth`,
/// 2^(max_depth − d + 4) trees of depth d built, counted and dropped, one collection
/// per depth; the long-lived tree counted and dropped, one collection. `Rc` clears a
/// tree's parent pointers before dropping it. Checked: every count, and every node
/// allocated freed.
pub fn w6_binary_trees<G: Collector>(max_depth: u32) -> Duration {
    const W: &str = "W6 binary_trees";
    const MIN: u32 = BINARY_TREES_MIN_DEPTH;
    assert!(max_depth >= MIN, "{W} needs max_depth >= {MIN}");
    let base = drops();
    let mut allocated = 0;
    let mut build_count_drop = |depth: u32| {
        let tree = perfect_tree::<G>(depth, None);
        let count = count_tree::<G>(&tree);
        assert_eq!(
            count,
            tree_nodes(depth),
            "{} / {W}: wrong node count",
            G::ID
        );
        allocated += count;
        drop_tree::<G>(tree);
    };

    let start = start_timer();
    build_count_drop(max_depth + 1);
    G::collect();

    let long_lived = perfect_tree::<G>(max_depth, None);

    let mut depth = MIN;
    while depth <= max_depth {
        for _ in 0..1u64 << (max_depth - depth + MIN) {
            build_count_drop(depth);
        }
        G::collect();
        depth += 2;
    }

    let count = count_tree::<G>(&long_lived);
    assert_eq!(
        count,
        tree_nodes(max_depth),
        "{} / {W}: wrong node count",
        G::ID
    );
    allocated += count;
    drop_tree::<G>(long_lived);
    G::collect();
    let elapsed = stop_timer(start);

    assert_eq!(allocated, binary_trees_nodes(max_depth));
    check_freed::<G>(W, "end", base, allocated);
    elapsed
}

/// W7 random_graph. Untimed: `n` graph nodes, 4 out-edges each and 10 roots from
/// [`random_graph`]; the set the roots reach, by a BFS over the index copy
/// ([`reachable`]). Timed phase 1: (`Rc`: take and drop the edge lists of exactly
/// the unreachable nodes) drop the `Vec` of all `n` handles, one collection; checked:
/// `n − reachable` freed. Timed phase 2: (`Rc`: walk the live graph from the roots
/// through the handles, then clear every visited node's edge list) drop the roots,
/// one collection; checked: `n` freed.
pub fn w7_random_graph<G: Collector>(n: usize) -> [Duration; 2] {
    const W: &str = "W7 random_graph";
    let base = drops();
    let (edges, root_ids) = random_graph(n);
    let nodes: Vec<G::GNode> = (0..n as u32).map(G::gnode).collect();
    for (node, out) in nodes.iter().zip(&edges) {
        for &t in out {
            G::push_edge(node, nodes[t as usize].clone());
        }
    }
    let roots: Vec<G::GNode> = root_ids.iter().map(|&i| nodes[i].clone()).collect();
    check_freed::<G>(W, "after build", base, 0);
    let live = reachable(&edges, &root_ids);
    let n_live = live.iter().filter(|&&r| r).count() as u64;

    let start = start_timer();
    if G::MANUAL_BREAK {
        for (node, &is_live) in nodes.iter().zip(&live) {
            if !is_live {
                drop(G::take_edges(node));
            }
        }
    }
    drop(nodes);
    G::collect();
    let phase1 = stop_timer(start);
    check_freed::<G>(
        W,
        "after dropping all but the roots",
        base,
        n as u64 - n_live,
    );

    let start = start_timer();
    if G::MANUAL_BREAK {
        // Keep every visited handle until all edge lists are cleared, so no node is
        // freed (recursively) with its edges still in place.
        let mut seen = vec![false; n];
        let mut visited: Vec<G::GNode> = Vec::new();
        for r in &roots {
            let id = G::gnode_id(r) as usize;
            if !seen[id] {
                seen[id] = true;
                visited.push(r.clone());
            }
        }
        let mut next = 0;
        while next < visited.len() {
            let cur = visited[next].clone();
            next += 1;
            G::with_edges(&cur, |out| {
                for e in out {
                    let id = G::gnode_id(e) as usize;
                    if !seen[id] {
                        seen[id] = true;
                        visited.push(e.clone());
                    }
                }
            });
        }
        for node in &visited {
            drop(G::take_edges(node));
        }
        drop(visited);
    }
    drop(roots);
    G::collect();
    let phase2 = stop_timer(start);
    check_freed::<G>(W, "end", base, n as u64);
    [phase1, phase2]
}

/// W8 young_in_old. Untimed: a live heap-indexed tree of `old` nodes with parent
/// pointers, then one full collection. Timed: `young` two-node cycles created and
/// dropped one after another with automatic collection on (crates without it collect
/// every 1,000 cycles; `Rc` breaks each cycle by hand), then one full collection.
/// Checked: exactly the young nodes freed; then (untimed) the old tree is dropped
/// and collected, everything freed.
pub fn w8_young_in_old<G: Collector>(old: usize, young: usize) -> Duration {
    const W: &str = "W8 young_in_old";
    let base = drops();
    let root = (old > 0).then(|| heap_tree::<G>(0, old, None));
    G::collect();
    check_freed::<G>(W, "after build", base, 0);

    let start = start_timer();
    for i in 0..young as u64 {
        let a = G::node(2 * i);
        let b = G::node(2 * i + 1);
        G::set(&a, Slot::A, Some(b.clone()));
        G::set(&b, Slot::A, Some(a.clone()));
        if G::MANUAL_BREAK {
            G::set(&a, Slot::A, None);
        }
        drop(a);
        drop(b);
        if !G::AUTO_COLLECT && i % 1000 == 999 {
            G::collect();
        }
    }
    G::collect();
    let elapsed = stop_timer(start);
    check_freed::<G>(W, "after the young cycles", base, 2 * young as u64);

    if let Some(root) = root {
        assert_eq!(
            count_tree::<G>(&root),
            old as u64,
            "{} / {W}: old tree lost nodes",
            G::ID
        );
        drop_tree::<G>(root);
    }
    G::collect();
    check_freed::<G>(W, "end", base, 2 * young as u64 + old as u64);
    elapsed
}
