//! The cycle collector.
//!
//! Reference counting frees acyclic garbage at once; a collection finds the objects
//! that only reference each other. The algorithm is CPython's (`Python/gc.c`:
//! `update_refs`, `subtract_refs`, `move_unreachable`, PEP 442 finalization,
//! `handle_resurrected_objects`, `delete_garbage`), with two changes:
//!
//! * **Seeds instead of whole generations.** A collection examines only what its
//!   *seeds* reach, not every object of the generations it collects:
//!   - an object that loses a strong reference without being freed becomes a
//!     *suspect* (Bacon and Rajan's "purple"): a mark in its header, and a move to
//!     its young list's chain of suspects (`HeapState::suspects`), so that seeding
//!     takes that chain instead of walking the list; an old object moves to the
//!     `Pending` list instead (so generation 2 is split into `Pending` and `Old`,
//!     verified and untouched since);
//!   - a collection of generations `0..=g` is seeded with the suspects of the young
//!     generations collected, plus all of `Pending` for a full collection, and pulls
//!     in any object of those generations (for a full collection, also `Old`) that a
//!     traversal reaches (`update_refs::closure_lists`);
//!   - objects of the collected generations that no seed reaches move on to the next
//!     generation unexamined (`promote_unexamined`), as verified as the survivors.
//!
//!   **Why this finds all that CPython's algorithm would.** Invariant: *every garbage
//!   object is reachable from a garbage suspect* (a `Pending` object or a marked
//!   young one). A reachable object becomes garbage only when a reference on every
//!   path to it goes away; the object that reference pointed to is then garbage too
//!   and reaches it, and is marked (a drop to zero frees it instead, and its own
//!   references go the same way). Now take an object `c` that a collection of the
//!   whole generations `0..=g` would find unreachable: every object with a path to
//!   `c` lies in those generations (else `c` would count as referenced from outside),
//!   including the garbage suspect that reaches `c`, so `c` is in the seeds'
//!   closure. And an object of the closure is reachable from outside the closure
//!   exactly when it is reachable from outside the generations: the first object of
//!   the closure on such a path either is referenced from outside the generations or
//!   has a referrer outside the closure. So the closure's unreachable objects are
//!   exactly the generations' unreachable objects. Survivors keep their mark (or
//!   stay candidates in `Pending`) until a full collection verifies them, so the
//!   invariant survives the collection; an unmarked survivor needs no witness.
//!   A program that builds a structure and keeps it pays nothing for it at
//!   collections: neither young nor full collections traverse it.
//! * **A set vector instead of list surgery.** The objects being collected are moved
//!   off their lists into a vector; the `next` link holds `gc_refs` meanwhile. The
//!   collector pins each one with a strong reference of its own, so user code run
//!   during the collection (traversals, finalizers, `Drop`, callbacks) can never make
//!   it free an object it still looks at.
//!
//! Phases, in order ([`collect`]):
//!
//! 1. [`update_refs`]: move the seeds into the set; `gc_refs = strong count`.
//! 2. [`subtract_refs`]: traverse each object of the set, adding what it reaches in
//!    the generations collected; each reported handle into the set decrements its
//!    target's `gc_refs`. Afterwards `gc_refs > 0` means "referenced from outside the
//!    set". (A full collection that has reached a fifth of `Old` adds the rest of
//!    `Old` whole. A larger set is as correct: what refers to it from outside counts
//!    as an outside reference, so nothing it finds unreachable is live, and it still
//!    holds the seeds' closure, so it misses nothing. Walking the list in order is
//!    cheaper than reaching those objects one by one in a scattered order.)
//! 3. [`move_unreachable`]: mark what those objects reach; the rest is unreachable.
//!    Survivors move to the next generation, and so do the unexamined objects of the
//!    generations collected.
//! 4. [`weakref`]: clear weak references to the unreachable objects and take their
//!    callbacks (those whose weak reference is itself garbage are dropped unrun).
//! 5. [`finalize`]: run each finalizer once (PEP 442), on an intact graph; if any
//!    ran, find the resurrected objects (reachable again from outside) and keep them
//!    and everything they reach.
//! 6. [`delete`]: mark the rest dead, destroy their values, release them.
//! 7. Weak-reference callbacks run, then the collection's panics (if user code
//!    panicked) resume.
//!
//! Every phase is iterative: no recursion grows with the graph.

pub(crate) mod absorb;
pub(crate) mod count_table;
mod delete;
mod finalize;
mod move_unreachable;
mod subtract_refs;
mod update_refs;
mod weakref;

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::heap::{collect_callbacks, Heap, HeapState, Life, GENERATIONS};
use crate::raw::{List, ObjPtr};
use crate::segments::MIDDLE_SPLICE_RESERVE;

/// What a collection did; returned by [`collect`](crate::collect()).
///
/// # Examples
///
/// ```
/// use gc_core::Heap;
///
/// let heap = Heap::new();
/// let stats = heap.collect();
/// assert_eq!((stats.generation, stats.collected, stats.skipped), (2, 0, false));
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectStats {
    /// The oldest generation collected.
    pub generation: usize,
    /// Objects found unreachable and destroyed (or, with `DEBUG_SAVEALL`, moved to
    /// the garbage list).
    pub collected: usize,
    /// Objects found unreachable that could not be freed. Always 0: every cycle is
    /// collectable, finalizers included (PEP 442); kept for CPython parity.
    pub uncollectable: usize,
    /// Objects found unreachable and then resurrected by a finalizer.
    pub resurrected: usize,
    /// Objects examined (the size of the collection's set).
    pub candidates: usize,
    /// Wall-clock time of the collection. Zero for a collection that had nothing to
    /// examine (no suspect, nothing pending: so no garbage to find) and no
    /// collection callback to tell: it returns without reading the clock.
    pub duration: Duration,
    /// `true` if nothing was done because a collection was already running (or the
    /// heap has been shut down).
    pub skipped: bool,
}

/// Per-generation totals, as CPython's `gc.get_stats()`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GenerationStats {
    /// Collections of this generation.
    pub collections: usize,
    /// Objects collected by them.
    pub collected: usize,
    /// Objects found uncollectable by them.
    pub uncollectable: usize,
}

/// An object a collection is about to destroy, as told to garbage callbacks
/// ([`Heap::add_garbage_callback`](crate::Heap::add_garbage_callback)).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GarbageObject {
    /// The value's type name.
    pub type_name: &'static str,
    /// The object's id (as `GcAny::id`), valid until the collection ends.
    pub id: usize,
}

/// When a collection callback is called (CPython's `"start"` / `"stop"`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CollectPhase {
    /// Before the collection.
    Start,
    /// After it.
    Stop,
}

/// What a collection callback is told.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectInfo {
    /// The oldest generation being collected.
    pub generation: usize,
    /// Objects collected (0 at `Start`).
    pub collected: usize,
    /// Objects found uncollectable (0 at `Start`).
    pub uncollectable: usize,
    /// Objects examined (0 at `Start`).
    pub candidates: usize,
    /// The collection's duration (zero at `Start`).
    pub duration: Duration,
}

/// Owns the objects a collection has taken off the heap's lists (all pinned, on no
/// list). On a panic out of user code (a `Traverse` impl), its `Drop` puts each back
/// on the `Pending` list and unpins it, so nothing is lost or freed, and clears the
/// heap's `collecting` flag.
pub(crate) struct SetGuard<'h> {
    pub(crate) heap: &'h HeapState,
    pub(crate) objs: Vec<ObjPtr>,
}

impl Drop for SetGuard<'_> {
    fn drop(&mut self) {
        for obj in core::mem::take(&mut self.objs) {
            if matches!(obj.list(), List::Collecting | List::Unreachable) {
                // Values are intact until `delete_garbage` takes the objects over.
                obj.clear_flag(crate::raw::DEAD);
                obj.set_list(List::Detached);
                self.heap.link(obj, List::Pending);
                obj.unpin();
            }
        }
        self.heap.collecting.set(false);
    }
}

/// Collects after an allocation crossed the thresholds: the oldest generation whose
/// count exceeds its threshold (CPython's `gc_collect_generations`), except that a
/// generation-1 collection runs as a full one while `Pending` is not empty and
/// such early full collections pay off (`HeapState::early_full`).
pub(crate) fn collect_automatic(heap: &Heap) {
    let s = heap.state();
    for generation in (0..GENERATIONS).rev() {
        if s.count[generation].get() > s.threshold[generation].get() {
            if generation == GENERATIONS - 1
                && s.long_lived_pending.get() < s.long_lived_total.get() / 4
            {
                // Full collections only when a quarter of generation 2 is new: keeps
                // building a large structure linear (CPython issue 4074).
                continue;
            }
            let early_full = generation == 1 && s.early_full();
            let stats = collect(
                heap,
                if early_full {
                    GENERATIONS - 1
                } else {
                    generation
                },
            );
            if early_full {
                s.adapt_early_full(stats.candidates, stats.collected);
            }
            s.adapt_young_threshold(stats.candidates, stats.collected);
            return;
        }
    }
}

/// Runs one collection of generations `0..=generation`.
///
/// The checks that may make it a skipped collection or one with nothing to examine
/// come first, and the collection proper is out of line, so that an empty
/// collection runs a short path without the general one's frame.
#[inline]
pub(crate) fn collect(heap: &Heap, generation: usize) -> CollectStats {
    let state = heap.state();
    if state.collecting.get()
        || state.in_collect_callbacks.get().is_some()
        || state.life.get() == Life::Shut
    {
        return CollectStats {
            generation,
            skipped: true,
            ..CollectStats::default()
        };
    }
    if !update_refs::has_seeds(state, generation) && state.collect_callbacks.borrow().is_empty() {
        return collect_nothing(state, generation);
    }
    collect_examining(heap, generation)
}

/// [`collect`] once there is something to examine or a callback to call.
#[inline(never)]
fn collect_examining(heap: &Heap, generation: usize) -> CollectStats {
    let state = heap.state();
    // Keep the heap alive even if user code drops its last handle meanwhile.
    let _keep = heap.clone();
    let mut panic = None;
    let callbacks = collect_callbacks(state);
    let start_info = CollectInfo {
        generation,
        collected: 0,
        uncollectable: 0,
        candidates: 0,
        duration: Duration::ZERO,
    };
    run_collect_callbacks(
        state,
        &callbacks,
        CollectPhase::Start,
        &start_info,
        &mut panic,
    );

    let started = std::time::Instant::now();
    state.collecting.set(true);
    let mut guard = SetGuard {
        heap: state,
        objs: state.set_buffer.take(),
    };
    update_refs::update_refs(state, generation, &mut guard.objs);
    let save_all = state.save_all.get();
    // Without a seed there is nothing to examine, and so no garbage: the phases
    // that would find and free it are skipped (W5's empty full collections).
    let (special, promoted, candidates) = if guard.objs.is_empty() {
        (Vec::new(), 0, 0)
    } else {
        let closure = update_refs::closure_labels(state, generation);
        let unreferenced = subtract_refs::subtract_refs(state, &mut guard.objs, closure);
        let candidates = guard.objs.len();
        let roots_possible = unreferenced < candidates;
        let (special, promoted) = move_unreachable::move_unreachable(
            state,
            &mut guard,
            generation,
            save_all,
            roots_possible,
        );
        (special, promoted, candidates)
    };
    let unreachable = guard.objs.len();
    promote_and_account(state, generation, promoted);

    let (callbacks_to_run, outcome, collected) = if unreachable == 0 {
        let outcome = finalize::FinalizeOutcome {
            resurrected: 0,
            ran: false,
        };
        (Vec::new(), outcome, 0)
    } else {
        let callbacks_to_run = weakref::clear_weakrefs(state, &special);
        let outcome = finalize::finalize_garbage(state, &mut guard, &special, &mut panic);
        drop(special);
        tell_garbage_callbacks(state, &guard.objs, &mut panic);
        let collected = if save_all {
            delete::save_garbage(state, &mut guard)
        } else {
            delete::delete_garbage(&mut guard, !outcome.ran, &mut panic)
        };
        (callbacks_to_run, outcome, collected)
    };
    state.keep_set_buffer(core::mem::take(&mut guard.objs), candidates);
    drop(guard); // clears `collecting`
    #[cfg(debug_assertions)]
    state.check_labels();
    debug_assert!(collected + outcome.resurrected == unreachable);

    let duration = started.elapsed();
    {
        let mut stats = state.stats.borrow_mut();
        stats[generation].collections += 1;
        stats[generation].collected += collected;
    }
    weakref::run_callbacks(callbacks_to_run, &mut panic);

    let info = CollectInfo {
        generation,
        collected,
        uncollectable: 0,
        candidates,
        duration,
    };
    run_collect_callbacks(state, &callbacks, CollectPhase::Stop, &info, &mut panic);
    if let Some(p) = panic {
        resume_unwind(p);
    }
    CollectStats {
        generation,
        collected,
        uncollectable: 0,
        resurrected: outcome.resurrected,
        candidates,
        duration,
        skipped: false,
    }
}

/// Calls the collection callbacks (user code: a panic is kept in `panic`, the others
/// still run). A collection they request meanwhile is skipped
/// (`HeapState::in_collect_callbacks`): a callback that collects would otherwise
/// call itself again without end.
fn run_collect_callbacks(
    state: &HeapState,
    callbacks: &[crate::heap::CollectCallback],
    phase: CollectPhase,
    info: &CollectInfo,
    panic: &mut Option<Box<dyn std::any::Any + Send>>,
) {
    if callbacks.is_empty() {
        return;
    }
    let outer = state.in_collect_callbacks.replace(Some(phase));
    for cb in callbacks {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| cb(phase, info))) {
            panic.get_or_insert(p);
        }
    }
    state.in_collect_callbacks.set(outer);
}

/// A collection without seeds (no young suspect in the generations collected, and
/// for a full collection nothing in `Pending`): by the invariant in the module docs
/// there is no garbage to find, so there is nothing to examine. What is left is the
/// bookkeeping of any collection: the generations collected move on unexamined, the
/// counts and statistics are updated. No user code runs (the caller checked there is
/// no collection callback), and the clock is not read: the reported duration is zero.
/// (A million such collections in a row on a heap of 1,000 live objects: 160 ns
/// each on the general path, two clock reads and the set's setup most of it; 22 ns
/// here.)
fn collect_nothing(state: &HeapState, generation: usize) -> CollectStats {
    promote_and_account(state, generation, 0);
    #[cfg(debug_assertions)]
    state.check_labels();
    state.stats.borrow_mut()[generation].collections += 1;
    CollectStats {
        generation,
        ..CollectStats::default()
    }
}

/// After the set's survivors (`promoted` of them to generation 2) have moved on:
/// promotes the objects the collection did not examine and does the generations'
/// count bookkeeping.
fn promote_and_account(state: &HeapState, generation: usize, promoted: usize) {
    let promoted = promoted + promote_unexamined(state, generation);
    if generation == 1 {
        let p = &state.long_lived_pending;
        p.set(p.get() + promoted);
    }
    account_generations(state, generation);
}

/// Tells the garbage callbacks (user code: a panic is kept in `panic`) what is about
/// to be destroyed. They get names and ids only, no handles.
fn tell_garbage_callbacks(
    state: &HeapState,
    garbage: &[ObjPtr],
    panic: &mut Option<Box<dyn std::any::Any + Send>>,
) {
    let callbacks: Vec<_> = state
        .garbage_callbacks
        .borrow()
        .iter()
        .map(|(_, f)| f.clone())
        .collect();
    if callbacks.is_empty() || garbage.is_empty() {
        return;
    }
    let objs: Vec<GarbageObject> = garbage
        .iter()
        .map(|o| GarbageObject {
            type_name: o.type_name(),
            id: o.as_non_null().as_ptr().addr(),
        })
        .collect();
    for cb in callbacks {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| cb(&objs))) {
            panic.get_or_insert(p);
        }
    }
}

/// Moves the objects of the generations collected that the collection did not
/// examine to where its survivors go (CPython merges each collected generation into
/// the next): no suspect reaches them, so they are verified as they are. Returns how
/// many went to generation 2.
///
/// A full collection splices whole young lists onto `Old` (`segments.rs`), so that
/// its cost is what it examines, not the size of the young generations. A
/// generation-1 collection splices `Middle` too while more than
/// `MIDDLE_SPLICE_RESERVE` segments are free (`Middle` holds up to ten young
/// collections' survivors, no longer in cache: relabelling them was about half of
/// the promotion work on a heap that only grows, W3's creation), and relabels it
/// once that many are left for full collections. `Young` is relabelled by both
/// younger collections: it holds a few thousand recent objects, still in cache, and
/// a segment spent on so short a run would soon be relabelled anyway, cold, when
/// segments run out.
fn promote_unexamined(state: &HeapState, generation: usize) -> usize {
    if generation == 0 {
        state.promote_unexamined(List::Young, List::Middle, false);
        return 0;
    }
    let full = generation == GENERATIONS - 1;
    let splice_middle = full || state.labels.free_segments() > MIDDLE_SPLICE_RESERVE;
    state.promote_unexamined(List::Young, List::Old, full)
        + state.promote_unexamined(List::Middle, List::Old, splice_middle)
}

/// CPython's count bookkeeping: collecting generation g resets the counts of
/// generations 0..=g and counts one collection of g against generation g + 1.
fn account_generations(state: &HeapState, generation: usize) {
    for c in &state.count[..=generation] {
        c.set(0);
    }
    if generation + 1 < GENERATIONS {
        let c = &state.count[generation + 1];
        c.set(c.get() + 1);
    }
    let gen2 = state.lens[List::Pending as usize].get() + state.lens[List::Old as usize].get();
    if generation == GENERATIONS - 1 {
        state.long_lived_total.set(gen2);
        state.long_lived_pending.set(0);
    }
}
