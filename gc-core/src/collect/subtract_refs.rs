//! Phase 2: subtract the references the set's members hold to each other.

use crate::heap::HeapState;
use crate::raw::ObjPtr;
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
/// Returns how many members end with `gc_refs == 0` (no reference from outside the
/// set): when that is all of them, nothing in the set is reachable and
/// `move_unreachable` need not look for roots.
pub(crate) fn subtract_refs(heap: &HeapState, set: &mut Vec<ObjPtr>, closure: u32) -> usize {
    let mut zeroed = 0;
    let mut i = 0;
    while i < set.len() {
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
