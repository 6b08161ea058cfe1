//! W9 mt_churn: dumpster's multiref churn for thread-safe handles
//! (`peer-benchmarks.md` § W8 and W9).
//!
//! T × 10 bins, each a `Mutex` over a vector pre-filled with 50 nodes; a node holds a
//! `Mutex` over a vector of handles. Each of T threads does `ops / T` random
//! operations, each on a bin drawn at random:
//!
//! 1. push a new node into the bin;
//! 2. link: draw a second bin, and push a clone of a random node of the second bin
//!    into the refs of a random node of the first (bins locked in ascending order;
//!    one lock if they are the same bin, which then needs 2 nodes);
//! 3. remove a random node from the bin;
//! 4. remove a random ref from a random node of the bin.
//!
//! Timed: from before the first thread is spawned to after the last one is joined.
//! Untimed afterwards: drop the bins, one full collection, count the nodes freed.
//!
//! Every node owns an [`MtCounter`], counted per thread (no shared cache line during
//! the run): a run's count is the drops on the thread that runs it plus those of its
//! worker threads, each flushed when the worker exits (joining waits for that).
//! Drops on other threads of the process are not counted. Runs are serialised
//! in-process (the flush target is global, and so is dumpster's collector).
//!
//! # Lock order for gc-core
//!
//! `gc_core::sync::Gc::read` returns a guard holding the heap lock, and cloning or
//! allocating takes it too. The only order used is *bin lock → heap lock*: a bin is
//! never locked while a `read()` guard is held. gc-core's adapter sets
//! [`SyncCollector::CLONE_OUT`]: the workload clones the node out of the bin, unlocks
//! the bin, and only then calls `read()` (the peers' nodes are mutated with the bin
//! still locked, as in dumpster's benchmark). [`OursBinHeld`] keeps the bin locked
//! across `read()` instead, which is the same order (bin → heap) and also safe.
//!
//! ```
//! use benches::mt::{self, Ours};
//!
//! let r = mt::w9_mt_churn::<Ours>(2, 2_000);
//! assert_eq!(r.freed, r.created); // every node freed, cycles included
//! ```

use std::cell::Cell;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::{XorShift64, STACK_8_MIB};

// ---------------------------------------------------------------------------------
// Drop counting across threads
// ---------------------------------------------------------------------------------

/// The id of the run in progress (0: none).
static RUN: AtomicU64 = AtomicU64::new(0);
/// The id of the last run started.
static LAST_RUN: AtomicU64 = AtomicU64::new(0);
/// Drops counted by the run's worker threads that have exited.
static RUN_FLUSHED: AtomicU64 = AtomicU64::new(0);

/// This thread's count of W9 nodes freed, and the run whose worker the thread is
/// (0: none). A worker's count is added to [`RUN_FLUSHED`] when the thread exits.
struct LocalDrops {
    count: Cell<u64>,
    run: Cell<u64>,
}

impl Drop for LocalDrops {
    fn drop(&mut self) {
        let run = self.run.get();
        if run != 0 && RUN.load(Ordering::Acquire) == run {
            RUN_FLUSHED.fetch_add(self.count.get(), Ordering::Release);
        }
    }
}

thread_local! {
    static LOCAL: LocalDrops = const {
        LocalDrops {
            count: Cell::new(0),
            run: Cell::new(0),
        }
    };
}

/// A zero-sized field every W9 node owns; its `Drop` counts one freed node on
/// whichever thread frees it.
#[derive(Debug, Default)]
pub struct MtCounter(());

impl MtCounter {
    /// A new counter token.
    pub const fn new() -> MtCounter {
        MtCounter(())
    }
}

impl Drop for MtCounter {
    fn drop(&mut self) {
        let counted = LOCAL.try_with(|l| l.count.set(l.count.get() + 1));
        if counted.is_err() && RUN.load(Ordering::Acquire) != 0 {
            // A drop during thread-local destruction, after this thread's count was
            // flushed: attributed to the run in progress.
            RUN_FLUSHED.fetch_add(1, Ordering::Release);
        }
    }
}

/// W9 nodes freed on this thread so far.
pub fn mt_drops() -> u64 {
    LOCAL.with(|l| l.count.get())
}

/// Serialises W9 runs in this process.
static RUN_LOCK: Mutex<()> = Mutex::new(());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------
// What a thread-safe crate supplies
// ---------------------------------------------------------------------------------

/// The operations a thread-safe crate supplies for W9.
pub trait SyncCollector: 'static {
    /// Bench function id and table column, e.g. `"dumpster::sync"`.
    const ID: &'static str;
    /// Long name with version and API.
    const NAME: &'static str;
    /// `false` for `Arc`: its leaked cycles are not an error, only counted.
    const COLLECTS_CYCLES: bool = true;
    /// Whether a node is cloned out of its bin and the bin unlocked before the node's
    /// refs are touched (gc-core: its `read()` holds the heap lock, and a bin must not
    /// be locked under it). Otherwise the refs are mutated with the bin locked.
    const CLONE_OUT: bool = false;

    /// What nodes are allocated in (a heap, an object space), or `()`.
    type Space: Sync;
    /// A handle to `{ refs: Mutex<Vec<Handle>> }`.
    type Handle: Clone + Send + Sync;

    /// A fresh space for one run.
    fn space() -> Self::Space;
    /// Allocates a node with no refs.
    fn node(space: &Self::Space) -> Self::Handle;
    /// Calls `f` with the node's refs locked.
    fn with_refs<R>(node: &Self::Handle, f: impl FnOnce(&mut Vec<Self::Handle>) -> R) -> R;
    /// A full collection (after the bins are dropped, untimed).
    fn collect(space: &Self::Space);
    /// Ends the run, after the drop count (default: drops the space).
    fn finish(space: Self::Space) {
        drop(space);
    }
}

/// One W9 run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MtRun {
    /// First thread start to last thread end.
    pub elapsed: Duration,
    /// Operations done (`ops / T × T`).
    pub ops: u64,
    /// Nodes allocated: the 50 per bin plus every push.
    pub created: u64,
    /// Nodes freed by the end (after dropping the bins and one full collection).
    pub freed: u64,
}

/// W9 mt_churn with `threads` threads and `ops` operations in all. Returns the
/// timing and the drop count; checks nothing (see [`check`]).
pub fn w9_mt_churn<G: SyncCollector>(threads: usize, ops: usize) -> MtRun {
    assert!(threads > 0, "W9 needs a thread");
    let _serial = lock(&RUN_LOCK);
    // Counted: the drops on this thread, and those of this run's workers (flushed when
    // each exits); not those of unrelated threads of the process.
    let run_id = LAST_RUN.fetch_add(1, Ordering::Relaxed) + 1;
    RUN_FLUSHED.store(0, Ordering::Relaxed);
    RUN.store(run_id, Ordering::Release);
    let base = mt_drops();
    let space = G::space();
    let bins: Vec<Mutex<Vec<G::Handle>>> = (0..threads * 10)
        .map(|_| Mutex::new((0..50).map(|_| G::node(&space)).collect()))
        .collect();
    let per_thread = ops / threads;

    let start = Instant::now();
    let pushed: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (bins, space) = (&bins, &space);
                std::thread::Builder::new()
                    .name(format!("w9-{t}"))
                    .stack_size(STACK_8_MIB)
                    .spawn_scoped(s, move || {
                        LOCAL.with(|l| l.run.set(run_id));
                        let seed = XorShift64::SEED.wrapping_add(12_345 + t as u64);
                        churn::<G>(bins, space, XorShift64::new(seed), per_thread)
                    })
                    .expect("spawning a W9 thread failed")
            })
            .collect();
        // `join` waits for the whole thread, thread-local destructors included, so
        // every worker's drop count is flushed afterwards.
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| resume_unwind(p)))
            .sum()
    });
    let elapsed = start.elapsed();

    drop(bins);
    G::collect(&space);
    let freed = mt_drops() - base + RUN_FLUSHED.load(Ordering::Acquire);
    RUN.store(0, Ordering::Release);
    G::finish(space);
    MtRun {
        elapsed,
        ops: (per_thread * threads) as u64,
        created: (threads * 10 * 50) as u64 + pushed,
        freed,
    }
}

/// Panics unless `run` freed every node (or, for a crate that does not collect
/// cycles, no more than it allocated).
pub fn check<G: SyncCollector>(run: &MtRun, threads: usize) {
    let MtRun { created, freed, .. } = *run;
    assert!(
        freed <= created,
        "{} / W9 mt_churn ({threads} threads): {freed} nodes freed of {created}: \
         something was freed twice",
        G::ID
    );
    if G::COLLECTS_CYCLES {
        assert_eq!(
            freed,
            created,
            "{} / W9 mt_churn ({threads} threads): {} of {created} nodes never freed",
            G::ID,
            created - freed
        );
    }
}

fn below(rng: &mut XorShift64, n: usize) -> usize {
    (rng.next() % n as u64) as usize
}

/// One thread's share; returns the number of nodes it pushed.
fn churn<G: SyncCollector>(
    bins: &[Mutex<Vec<G::Handle>>],
    space: &G::Space,
    mut rng: XorShift64,
    ops: usize,
) -> u64 {
    let mut pushed = 0;
    for _ in 0..ops {
        let b1 = below(&mut rng, bins.len());
        match rng.next() % 4 {
            0 => {
                let node = G::node(space);
                lock(&bins[b1]).push(node);
                pushed += 1;
            }
            1 => {
                let b2 = below(&mut rng, bins.len());
                link::<G>(bins, b1, b2, &mut rng);
            }
            2 => {
                let mut bin = lock(&bins[b1]);
                if !bin.is_empty() {
                    let i = below(&mut rng, bin.len());
                    drop(bin.swap_remove(i));
                }
            }
            _ => {
                let bin = lock(&bins[b1]);
                if bin.is_empty() {
                    continue;
                }
                let i = below(&mut rng, bin.len());
                let remove_ref = |refs: &mut Vec<G::Handle>| {
                    if !refs.is_empty() {
                        let j = below(&mut rng, refs.len());
                        drop(refs.swap_remove(j));
                    }
                };
                if G::CLONE_OUT {
                    let node = bin[i].clone();
                    drop(bin);
                    G::with_refs(&node, remove_ref);
                } else {
                    G::with_refs(&bin[i], remove_ref);
                }
            }
        }
    }
    pushed
}

/// Pushes a clone of a random node of bin `b2` into the refs of a random node of bin
/// `b1`, locking the bins in ascending order.
fn link<G: SyncCollector>(
    bins: &[Mutex<Vec<G::Handle>>],
    b1: usize,
    b2: usize,
    rng: &mut XorShift64,
) {
    if b1 == b2 {
        let bin = lock(&bins[b1]);
        if bin.len() < 2 {
            return;
        }
        let i1 = below(rng, bin.len());
        let i2 = below(rng, bin.len());
        let to = bin[i2].clone();
        if G::CLONE_OUT {
            let from = bin[i1].clone();
            drop(bin);
            G::with_refs(&from, |refs| refs.push(to));
        } else {
            G::with_refs(&bin[i1], |refs| refs.push(to));
        }
        return;
    }
    let (g1, g2) = if b1 < b2 {
        let g1 = lock(&bins[b1]);
        (g1, lock(&bins[b2]))
    } else {
        let g2 = lock(&bins[b2]);
        (lock(&bins[b1]), g2)
    };
    if g1.is_empty() || g2.is_empty() {
        return;
    }
    let i1 = below(rng, g1.len());
    let i2 = below(rng, g2.len());
    let to = g2[i2].clone();
    if G::CLONE_OUT {
        let from = g1[i1].clone();
        drop((g1, g2));
        G::with_refs(&from, |refs| refs.push(to));
    } else {
        G::with_refs(&g1[i1], |refs| refs.push(to));
    }
}

// ---------------------------------------------------------------------------------
// Adapters
// ---------------------------------------------------------------------------------

/// gc-core's thread-safe flavour: `gc_core::sync::{Heap, Gc}`, one heap per run,
/// automatic collection at its defaults.
#[derive(Debug)]
pub struct Ours;

/// gc-core's W9 node.
#[derive(gc_core::Traverse)]
pub struct OursNode {
    refs: Mutex<Vec<gc_core::sync::Gc<OursNode>>>,
    _count: MtCounter,
}

// SAFETY: `MtCounter` owns no handles, so reporting none is exact and no value of
// the type can own a handle (`IS_LEAF`).
unsafe impl gc_core::Traverse for MtCounter {
    const IS_LEAF: bool = true;

    fn traverse(&self, _: &mut gc_core::Visitor<'_>) {}
}

impl SyncCollector for Ours {
    const ID: &'static str = "gc-core";
    const NAME: &'static str = "gc-core::sync (ours)";
    const CLONE_OUT: bool = true;

    type Space = gc_core::sync::Heap;
    type Handle = gc_core::sync::Gc<OursNode>;

    fn space() -> Self::Space {
        gc_core::sync::Heap::new()
    }

    fn node(space: &Self::Space) -> Self::Handle {
        space.alloc(OursNode {
            refs: Mutex::new(Vec::new()),
            _count: MtCounter::new(),
        })
    }

    fn with_refs<R>(node: &Self::Handle, f: impl FnOnce(&mut Vec<Self::Handle>) -> R) -> R {
        f(&mut lock(&node.read().refs))
    }

    fn collect(space: &Self::Space) {
        space.collect();
    }
}

/// gc-core again, with the bin kept locked while the node is read (no clone out of
/// the bin). Also deadlock-free, since nothing locks a bin under the heap lock: it
/// shows what the clone-out discipline of [`Ours`] costs.
#[derive(Debug)]
pub struct OursBinHeld;

impl SyncCollector for OursBinHeld {
    const ID: &'static str = "gc-core-bin-held";
    const NAME: &'static str = "gc-core::sync, bin held across read()";
    const CLONE_OUT: bool = false;

    type Space = gc_core::sync::Heap;
    type Handle = gc_core::sync::Gc<OursNode>;

    fn space() -> Self::Space {
        Ours::space()
    }

    fn node(space: &Self::Space) -> Self::Handle {
        Ours::node(space)
    }

    fn with_refs<R>(node: &Self::Handle, f: impl FnOnce(&mut Vec<Self::Handle>) -> R) -> R {
        Ours::with_refs(node, f)
    }

    fn collect(space: &Self::Space) {
        space.collect();
    }
}

/// `std::sync::Arc` + `Mutex`: no cycle collection; its leaked cycles are counted,
/// not treated as an error.
#[derive(Debug)]
pub struct Arc;

/// `Arc`'s W9 node.
#[derive(Debug)]
pub struct ArcNode {
    refs: Mutex<Vec<std::sync::Arc<ArcNode>>>,
    _count: MtCounter,
}

impl SyncCollector for Arc {
    const ID: &'static str = "Arc";
    const NAME: &'static str = "Arc (leaks cycles)";
    const COLLECTS_CYCLES: bool = false;

    type Space = ();
    type Handle = std::sync::Arc<ArcNode>;

    fn space() -> Self::Space {}

    fn node((): &Self::Space) -> Self::Handle {
        std::sync::Arc::new(ArcNode {
            refs: Mutex::new(Vec::new()),
            _count: MtCounter::new(),
        })
    }

    fn with_refs<R>(node: &Self::Handle, f: impl FnOnce(&mut Vec<Self::Handle>) -> R) -> R {
        f(&mut lock(&node.refs))
    }

    fn collect((): &Self::Space) {}
}

/// dumpster 2.1 `sync::Gc` (global concurrent collector, default collect condition).
#[derive(Debug)]
pub struct DumpsterSync;

/// dumpster's W9 node.
#[derive(::dumpster::Trace)]
pub struct DumpsterNode {
    refs: Mutex<Vec<::dumpster::sync::Gc<DumpsterNode>>>,
    _count: MtCounter,
}

// SAFETY: `MtCounter` owns no `Gc`, so accepting a visitor and visiting nothing is
// the complete answer dumpster requires.
unsafe impl<V: ::dumpster::Visitor> ::dumpster::TraceWith<V> for MtCounter {
    fn accept(&self, _: &mut V) -> Result<(), ()> {
        Ok(())
    }
}

impl SyncCollector for DumpsterSync {
    const ID: &'static str = "dumpster-sync";
    const NAME: &'static str = "dumpster::sync 2.1.0";

    type Space = ();
    type Handle = ::dumpster::sync::Gc<DumpsterNode>;

    fn space() -> Self::Space {}

    fn node((): &Self::Space) -> Self::Handle {
        ::dumpster::sync::Gc::new(DumpsterNode {
            refs: Mutex::new(Vec::new()),
            _count: MtCounter::new(),
        })
    }

    fn with_refs<R>(node: &Self::Handle, f: impl FnOnce(&mut Vec<Self::Handle>) -> R) -> R {
        f(&mut lock(&node.refs))
    }

    fn collect((): &Self::Space) {
        ::dumpster::sync::collect();
    }
}

/// gcmodule 0.3.3 `ThreadedCc` in a `ThreadedObjectSpace` per run (manual collection
/// only: the one full collection at the end).
#[derive(Debug)]
pub struct GcmoduleThreaded;

/// gcmodule's W9 node.
pub struct GcmoduleNode {
    refs: Mutex<Vec<::gcmodule::ThreadedCc<GcmoduleNode>>>,
    _count: MtCounter,
}

impl ::gcmodule::Trace for GcmoduleNode {
    fn trace(&self, tracer: &mut ::gcmodule::Tracer) {
        self.refs.trace(tracer);
    }

    fn is_type_tracked() -> bool {
        true
    }
}

impl SyncCollector for GcmoduleThreaded {
    const ID: &'static str = "gcmodule-threaded";
    const NAME: &'static str = "gcmodule 0.3.3 ThreadedCc";

    type Space = ::gcmodule::ThreadedObjectSpace;
    type Handle = ::gcmodule::ThreadedCc<GcmoduleNode>;

    fn space() -> Self::Space {
        ::gcmodule::ThreadedObjectSpace::default()
    }

    fn node(space: &Self::Space) -> Self::Handle {
        space.create(GcmoduleNode {
            refs: Mutex::new(Vec::new()),
            _count: MtCounter::new(),
        })
    }

    fn with_refs<R>(node: &Self::Handle, f: impl FnOnce(&mut Vec<Self::Handle>) -> R) -> R {
        f(&mut lock(&node.borrow().refs))
    }

    fn collect(space: &Self::Space) {
        space.collect_cycles();
    }

    /// The space is leaked: it has no `Drop`, and a node it failed to free would keep
    /// pointers into its list.
    fn finish(space: Self::Space) {
        std::mem::forget(space);
    }
}

/// A thread-safe crate, type-erased.
#[derive(Clone, Copy, Debug)]
pub struct MtEntry {
    /// [`SyncCollector::ID`].
    pub id: &'static str,
    /// [`SyncCollector::NAME`].
    pub name: &'static str,
    /// [`SyncCollector::COLLECTS_CYCLES`].
    pub collects_cycles: bool,
    /// [`w9_mt_churn`] for this crate.
    pub run: fn(usize, usize) -> MtRun,
    /// [`check`] for this crate.
    pub check: fn(&MtRun, usize),
}

impl MtEntry {
    /// The entry for `G`.
    pub const fn of<G: SyncCollector>() -> MtEntry {
        MtEntry {
            id: G::ID,
            name: G::NAME,
            collects_cycles: G::COLLECTS_CYCLES,
            run: w9_mt_churn::<G>,
            check: check::<G>,
        }
    }
}

/// The W9 columns: ours, `Arc`, the peers, then ours with the bin held.
pub const MT_CRATES: &[MtEntry] = &[
    MtEntry::of::<Ours>(),
    MtEntry::of::<Arc>(),
    MtEntry::of::<DumpsterSync>(),
    MtEntry::of::<GcmoduleThreaded>(),
    MtEntry::of::<OursBinHeld>(),
];

/// The W9 entry with this id.
pub fn mt_entry(id: &str) -> Option<&'static MtEntry> {
    MT_CRATES.iter().find(|e| e.id == id)
}

/// W9's operation count in `peer-benchmarks.md`.
pub const W9_OPS: usize = 1_000_000;
/// The thread counts benchmarked.
pub const W9_THREADS: [usize; 2] = [1, 2];
