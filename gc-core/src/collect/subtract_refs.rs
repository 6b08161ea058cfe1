//! Phase 2: subtract the references the set's members hold to each other.

use crate::heap::HeapState;
use crate::raw::{List, ObjPtr};
use crate::visitor::{Mode, Visitor};

/// Traverses every object of `set`; each reported handle to a member decrements the
/// member's `gc_refs`. An object of the heap with one of the `closure` labels (a mask
/// from `update_refs::closure_labels`) that is reached joins the set first, so the set
/// grows to everything the seeds reach in the generations collected, and is traversed
/// in turn (the loop runs to the vector's current end).
///
/// Invariant: after object `i` is traversed, each member's `gc_refs` equals its
/// strong count minus the handles to it reported by objects `0..=i`.
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
    while i < set.len() {
        if may_take_old && i % TAKE_OLD_CHECK == 0 && take_rest_of_old(old_at_start, old.get()) {
            heap.take_list_into_set(List::Old, set);
            may_take_old = false;
        }
        let obj = set[i];
        i += 1;
        obj.traverse(&mut Visitor::new(Mode::Subtract {
            heap,
            set,
            closure,
            zeroed: &mut zeroed,
        }));
    }
    zeroed
}

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
/// traverses the same objects in list order, 17-27 ms.) The
/// cost: the objects taken that the seeds do not reach are examined needlessly (and,
/// if they are referenced from outside, marked), at most `TAKE_OLD_AT - 1` times as
/// many as the seeds had reached, in list order. A collection that reaches little
/// of `Old` never gets here: its cost stays what it examines.
fn take_rest_of_old(at_start: usize, left: usize) -> bool {
    let taken = at_start - left;
    left > 0 && taken * TAKE_OLD_AT >= at_start
}
