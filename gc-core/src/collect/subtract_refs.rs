//! Phase 2: subtract the references the set's members hold to each other.

use crate::heap::HeapState;
use crate::raw::ObjPtr;
use crate::visitor::{Mode, Visitor};

/// Traverses every object of `set`; each reported handle to a member decrements the
/// member's `gc_refs`. With `closure` (full collections), a verified old object that
/// is reached joins the set first, so the set grows to everything the candidates
/// reach, and is traversed in turn (the loop runs to the vector's current end).
///
/// Invariant: after object `i` is traversed, each member's `gc_refs` equals its
/// strong count minus the handles to it reported by objects `0..=i`.
pub(crate) fn subtract_refs(heap: &HeapState, set: &mut Vec<ObjPtr>, closure: bool) {
    let mut i = 0;
    while i < set.len() {
        let obj = set[i];
        i += 1;
        obj.traverse(&mut Visitor::new(Mode::Subtract { heap, set, closure }));
    }
}
