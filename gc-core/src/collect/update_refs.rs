//! Phase 1: take the objects to examine off their lists; `gc_refs = strong count`.

use crate::heap::HeapState;
use crate::raw::{List, ObjPtr};

/// Moves generations `0..=generation` into `set` (for a full collection, `Pending`
/// too; `Old` objects join later, only if reached: see `subtract_refs`). Each object
/// gets `gc_refs` = its strong count and is pinned (`HeapState::add_to_set`).
pub(crate) fn update_refs(heap: &HeapState, generation: usize, set: &mut Vec<ObjPtr>) {
    let lists: &[List] = match generation {
        0 => &[List::Young],
        1 => &[List::Young, List::Middle],
        _ => &[List::Young, List::Middle, List::Pending],
    };
    for &list in lists {
        heap.take_list_into_set(list, set);
    }
}
