//! Phase 1: take the collection's seeds off their lists; `gc_refs = strong count`.

use crate::heap::HeapState;
use crate::raw::{List, ObjPtr};

/// Moves the seeds of a collection of generations `0..=generation` into `set`: the
/// suspects of the young generations collected (objects that lost a reference since
/// they were last verified) and, for a full collection, the whole of `Pending`. The
/// rest of the set joins in `subtract_refs`, when a traversal reaches it. Each object
/// gets `gc_refs` = its strong count and is pinned (`HeapState::add_to_set`).
pub(crate) fn update_refs(heap: &HeapState, generation: usize, set: &mut Vec<ObjPtr>) {
    for &list in young_lists(generation) {
        heap.take_suspects_into_set(list, set);
    }
    if generation >= 2 {
        heap.take_list_into_set(List::Pending, set);
    }
}

/// Whether a collection of generations `0..=generation` has seeds for
/// [`update_refs`] to take: a young list it collects may hold suspects, or, for a
/// full collection, `Pending` is not empty. Without seeds there is nothing to
/// examine.
pub(crate) fn has_seeds(heap: &HeapState, generation: usize) -> bool {
    young_lists(generation)
        .iter()
        .any(|&list| heap.has_suspects(list))
        || (generation >= 2 && heap.lens[List::Pending as usize].get() > 0)
}

/// The young lists a collection of `generation` collects, whose suspects seed it.
fn young_lists(generation: usize) -> &'static [List] {
    const YOUNG: [List; 2] = [List::Young, List::Middle];
    // A prefix of a constant array (not a `match` between two slices), so that
    // the loops over it unroll.
    &YOUNG[..generation.min(1) + 1]
}

/// The lists whose objects join the set of a collection of `generation` when a
/// traversal reaches them, as a bit mask over the labels of their objects (so that
/// the visitor needs no table lookup): the generations collected, and for a full
/// collection the verified old objects too.
pub(crate) fn closure_labels(heap: &HeapState, generation: usize) -> u32 {
    let lists: &[List] = match generation {
        0 => &[List::Young],
        1 => &[List::Young, List::Middle],
        _ => &[List::Young, List::Middle, List::Pending, List::Old],
    };
    heap.labels.mask_of(lists)
}
