//! Phase 2: subtract the references the set's members hold to each other.

use crate::collect::count_table::CountTable;
use crate::collect::delete::sort_by_page;
use crate::collect::move_unreachable::scattered;
use crate::heap::HeapState;
use crate::raw::{gc_refs_underflow, List, ObjPtr};
use crate::visitor::{Mode, Visitor};

/// Traverses every object of `set`; each reported handle to a member decrements the
/// member's `gc_refs`. An object of the heap with one of the `closure` labels (a mask
/// from `update_refs::closure_labels`) that is reached joins the set first, so the set
/// grows to everything the seeds reach in the generations collected, and is traversed
/// in turn (the loop runs to the vector's current end).
///
/// Invariant: after object `i` is traversed, each member's `gc_refs`, less what the
/// table counted for it (below), equals its strong count minus the handles to it
/// reported by objects `0..=i`.
///
/// A large set ([`TABLE_MIN`]) whose handles lead far away counts the handles to its
/// members in a [`CountTable`] (one byte per 64 bytes of its span, which stays in the
/// cache) instead of their headers, each a cache miss there; [`settle`] moves the
/// counts over at the end. The table is filled with the set at the start, or, for a
/// set that starts small, once it has taken the rest of `Old`; members that join
/// later count in their headers.
///
/// A full collection whose set has taken a large part of `Old` (one object in
/// [`TAKE_OLD_AT`] of what was on it) takes the rest of `Old` whole
/// ([`HeapState::take_list_into_set`]): see [`take_rest_of_old`].
///
/// Returns how many members end with `gc_refs == 0` (no reference from outside the
/// set): when that is all of them, nothing in the set is reachable and
/// `move_unreachable` need not look for roots.
pub(crate) fn subtract_refs(heap: &HeapState, set: &mut Vec<ObjPtr>, closure: u32) -> usize {
    let mut zeroed = 0;
    let mut i = 0;
    let old = &heap.lens[List::Old as usize];
    let old_at_start = old.get();
    let mut may_take_old = closure & (1 << List::Old as u32) != 0 && old_at_start >= TAKE_OLD_MIN;
    // The members `set[..counted]` count the handles to them in `table` (none while
    // `counted` is 0): see `settle`.
    let mut table = heap.count_table.take();
    let mut counted = 0;
    let debug_table = cfg!(debug_assertions) && set.len() >= TABLE_MIN_DEBUG && set.len() % 2 == 0;
    if (debug_table || set.len() >= TABLE_MIN && scattered(heap, set)) && table.fill(set) {
        counted = set.len();
        #[cfg(test)]
        tests::FILLED.with(|n| n.set(n.get() + 1));
    }
    // While `may_take_old`, and below `found_end` once the rest of `Old` is taken,
    // members are in the order traversals reached them.
    let mut found_end = 0;
    while i < set.len() {
        if may_take_old && i % TAKE_OLD_CHECK == 0 && take_rest_of_old(old_at_start, old.get()) {
            if set.len() - i >= SORT_REST_MIN {
                // The members not traversed yet are in the order a search found them;
                // traverse them in page order (see `take_rest_of_old`).
                let mut scratch = heap.sort_buffer.take();
                sort_by_page(&mut set[i..], &mut scratch, |o| {
                    o.as_non_null().as_ptr().addr()
                });
                heap.keep_sort_buffer(scratch, set.len() - i);
            }
            found_end = set.len();
            heap.take_list_into_set(List::Old, set);
            may_take_old = false;
            if counted == 0 && set.len() >= TABLE_MIN && scattered(heap, set) && table.fill(set) {
                counted = set.len();
            }
        }
        let found = may_take_old || i < found_end;
        if found {
            // A member that joined when a traversal reached it: scattered over `Old`,
            // so ask for the header of the member a few places on.
            if let Some(&soon) = set.get(i + AHEAD) {
                soon.prefetch();
            }
        }
        if found || counted > 0 {
            // What the value of the member a few places on owns (its `Vec` of
            // handles, say), which lies apart from it.
            if let Some(&soon) = set.get(i + VALUE_AHEAD) {
                soon.prefetch_value();
            }
        }
        let obj = set[i];
        i += 1;
        obj.traverse(&mut Visitor::new(Mode::Subtract {
            heap,
            set,
            closure,
            zeroed: &mut zeroed,
            table: (counted > 0).then_some(&mut table),
        }));
    }
    zeroed += settle(&mut table, &set[..counted]);
    heap.count_table.set(table);
    zeroed
}

/// Lowers the `gc_refs` of each of `members` by the handles `table` counted for it,
/// and returns how many reach zero there, leaving the table empty and zeroed for the
/// next collection. (A member whose count reached zero before the table was filled
/// was counted then; one the table counted nothing for is left as it is.)
///
/// # Panics
/// If the table counted more handles to a member than its `gc_refs` had left: its
/// type's `Traverse` reports a handle more than once, as the decrement in the header
/// would have found.
fn settle(table: &mut CountTable, members: &[ObjPtr]) -> usize {
    let mut zeroed = 0;
    for &obj in members {
        let n = usize::from(table.take(obj));
        #[cfg(test)]
        tests::SETTLED.with(|c| c.set(c.get() + n));
        if n > 0 {
            let refs = obj.gc_refs();
            if refs < n {
                gc_refs_underflow(obj);
            }
            obj.set_gc_refs(refs - n);
            zeroed += usize::from(refs == n);
        }
    }
    if !members.is_empty() {
        table.taken();
    }
    zeroed
}

/// A set of this many members or more (at the start of `subtract_refs`, or once it
/// has taken the rest of `Old`) counts handles in a [`CountTable`] if its handles
/// lead far away (`move_unreachable::scattered`): W7's two collections. (W7, in one
/// process with the table on and off alternately, 20 runs each: subtracting in the
/// first collection 10.4 -> 5.3 ms, medians, median of paired ratios 1.97x; in the
/// release 12.0 -> 9.1 ms, 1.29x, where the set grows from 10 seeds to a fifth of
/// `Old` first; the first collection 1.24x, the release 1.13x.)
const TABLE_MIN: usize = 1 << 15;

/// Debug builds fill the table from the start for sets of this many members or more
/// (of an even size), so that the test suite runs both ways of counting, and their
/// mix (members that join later count in their headers).
const TABLE_MIN_DEBUG: usize = 32;

/// `subtract_refs` takes the rest of `Old` once the set holds this fraction (1 in
/// `TAKE_OLD_AT`) of the objects that were on it.
const TAKE_OLD_AT: usize = 5;

/// Below this many objects on `Old`, its objects join the set one by one only: with
/// their values they mostly fit in the caches, where the order costs little, and
/// taking all of `Old` only makes the collection's set (and its vector) larger.
/// (From 4,096 on, W6's peak memory went from ~9.8 to ~10.6 MiB, above rust-cc's.) Debug
/// builds take it from 4,096 on, so that the test suite, whose heaps are small,
/// exercises the path with the list bookkeeping checked.
const TAKE_OLD_MIN: usize = if cfg!(debug_assertions) {
    1 << 12
} else {
    1 << 16
};

/// From this many members not traversed yet when the rest of `Old` is taken, they
/// are put in page order first.
const SORT_REST_MIN: usize = if cfg!(debug_assertions) { 64 } else { 1 << 12 };

/// While a full collection's set grows over a large `Old` (one that may take the rest
/// of it), the header and value of the member `AHEAD` places on, and the value's
/// [`Traverse::prefetch`](crate::Traverse::prefetch) `VALUE_AHEAD` places on, are
/// asked for before each traversal, as marking does: its members joined in the order
/// traversals reached them, which for a graph with random edges jumps around memory.
/// (W7's release, in one process with and without, alternately: median of paired
/// ratios 1.16x, 1.19x, 1.18x with 16/8 places; 16 and 24 pairs.) A set taken in
/// list order needs no header prefetch (the hardware prefetcher follows it), but
/// what its values own may lie anywhere (a `Vec`'s buffer from an allocator whose
/// heap other code fragmented): a set counted in a table (large, its handles leading
/// far) asks for that too. (W7 after a run of three peers in the same process, to
/// fragment the allocator's heap as the interleaved and criterion runs do: first
/// collection 1.111x and 1.153x, release 1.045x and 1.061x, 16 and 24 pairs;
/// without the peers' run 1.021x and 1.071x, 16 pairs. Wide quartiles: 0.93-1.41.)
const AHEAD: usize = 8;
const VALUE_AHEAD: usize = AHEAD / 2;

/// How often (in objects traversed) `subtract_refs` looks at how much of `Old` its
/// set took.
const TAKE_OLD_CHECK: usize = 256;

/// Whether a full collection that found `Old` with `at_start` objects, and has
/// `left` of them still there (the others joined its set, one by one), should take
/// the rest whole.
///
/// Why: an object joins the set when a traversal reaches it, so a set grown from a
/// few seeds over a large graph is in the order a search found it, which for a graph
/// with random edges jumps around memory: each traversal starts with cache misses on
/// the object and on what it owns, and each join unlinks the object from between two
/// others as scattered. Taking the rest of the list whole walks it in list order (for
/// objects allocated together and promoted together, address order), and needs no
/// unlinking. (W7's release of the whole 196,000-object graph from 10 roots: this
/// phase took 35-60 ms with the set in the order found; W7's first collection, which
/// traverses the same objects in list order, 17-27 ms.) The members that joined
/// but are not traversed yet (in W7's release ~28,000 of the ~39,000 that joined)
/// are put in page order first ([`SORT_REST_MIN`]). The
/// cost: the objects taken that the seeds do not reach are examined needlessly (and,
/// if they are referenced from outside, marked), at most `TAKE_OLD_AT - 1` times as
/// many as the seeds had reached, in list order. A collection that reaches little
/// of `Old` never gets here: its cost stays what it examines.
fn take_rest_of_old(at_start: usize, left: usize) -> bool {
    let taken = at_start - left;
    left > 0 && taken * TAKE_OLD_AT >= at_start
}

#[cfg(test)]
mod tests {
    use crate::{Gc, Heap, Traverse, Visitor};
    use core::cell::{Cell, RefCell};
    use std::panic::{catch_unwind, AssertUnwindSafe};

    std::thread_local! {
        /// Tables filled at the start of `subtract_refs` on this thread.
        pub(super) static FILLED: Cell<usize> = const { Cell::new(0) };
        /// Handles counted in those tables.
        pub(super) static SETTLED: Cell<usize> = const { Cell::new(0) };
    }

    /// A ring node; `twice` visits `next` twice (a wrong `Traverse`). Padded so that
    /// with its header it takes more than a table entry's 64 bytes: each node has an
    /// entry of its own (two in one entry are not counted there).
    struct Node {
        next: RefCell<Option<Gc<Node>>>,
        twice: bool,
        _pad: [u64; 4],
    }

    // SAFETY: reports the handle a node owns once, unless `twice` (a deliberately
    // wrong implementation, for the underflow test).
    unsafe impl Traverse for Node {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            self.next.traverse(visitor);
            if self.twice {
                self.next.traverse(visitor);
            }
        }
    }

    /// A ring of `n` nodes (node 0 visiting twice if `twice`), its handles dropped:
    /// all `n` are seeds of the next collection. Returns node 0.
    fn ring(heap: &Heap, n: usize, twice: bool) -> Gc<Node> {
        let nodes: Vec<Gc<Node>> = (0..n)
            .map(|i| {
                heap.alloc(Node {
                    next: RefCell::new(None),
                    twice: twice && i == 0,
                    _pad: [0; 4],
                })
            })
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            *node.next.borrow_mut() = Some(nodes[(i + 1) % n].clone());
        }
        nodes[0].clone()
    }

    /// Whether a set of `n` seeds counts in a table here: debug builds, from 32
    /// seeds in sets of an even size, where the members lie close (in the pools: not
    /// under Miri without them, whose separate allocations lie too far apart).
    fn counting(n: usize) -> usize {
        usize::from(cfg!(debug_assertions) && n >= 32 && n % 2 == 0 && crate::raw::POOLED)
    }

    /// Counted in a table (64 seeds) or in the headers (63): a ring held from outside
    /// survives, and is collected once that handle goes.
    #[test]
    #[cfg_attr(
        all(miri, not(gc_miri_pools)),
        ignore = "objects are separate allocations: whether a table is made depends on where Miri puts them"
    )]
    fn a_ring_held_from_outside_survives_counted_either_way() {
        for n in [64, 63] {
            let heap = Heap::new();
            let outside = ring(&heap, n, false);
            let before = FILLED.with(Cell::get);
            assert_eq!(heap.collect().collected, 0, "{n} nodes");
            assert_eq!(FILLED.with(Cell::get) - before, counting(n));
            // Every node lost a reference again: all are seeds once more.
            let clones: Vec<_> = (0..n)
                .scan(outside.clone(), |g, _| {
                    let next = g.next.borrow().clone().expect("a ring");
                    *g = next.clone();
                    Some(next)
                })
                .collect();
            drop(clones);
            drop(outside);
            let before = (FILLED.with(Cell::get), SETTLED.with(Cell::get));
            assert_eq!(heap.collect().collected, n, "{n} nodes");
            assert_eq!(FILLED.with(Cell::get) - before.0, counting(n));
            // Every handle of the ring counted in the table, none in a header.
            assert_eq!(SETTLED.with(Cell::get) - before.1, n * counting(n));
        }
    }

    /// A handle visited twice is found when the table's counts are settled: the same
    /// panic as the decrement in the header gives, and nothing is freed.
    #[test]
    #[cfg_attr(
        all(miri, not(gc_miri_pools)),
        ignore = "objects are separate allocations: whether a table is made depends on where Miri puts them"
    )]
    fn a_double_visit_counted_in_a_table_panics_with_gc_refs_underflow() {
        for n in [64, 63] {
            let heap = Heap::new();
            let first = ring(&heap, n, true);
            let before = FILLED.with(Cell::get);
            let err = catch_unwind(AssertUnwindSafe(|| heap.collect())).expect_err("underflow");
            assert_eq!(FILLED.with(Cell::get) - before, counting(n));
            let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(msg.contains("gc_refs underflow"), "{n} nodes: {msg}");
            assert_eq!(heap.tracked_count(), n, "nothing freed, nothing lost");
            // Break the ring by hand so that it is freed.
            first.next.borrow_mut().take();
            drop(first);
            assert_eq!(heap.tracked_count(), 0);
        }
    }
}
