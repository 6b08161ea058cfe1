//! Phase 5: PEP 442 finalization and resurrection.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::collect::SetGuard;
use crate::heap::HeapState;
use crate::raw::{List, ObjPtr, DEAD};
use crate::visitor::REACHABLE;

pub(crate) struct FinalizeOutcome {
    pub(crate) resurrected: usize,
    /// Whether `DEAD` was cleared for finalizers (the garbage must be marked again).
    pub(crate) ran: bool,
}

/// Runs the finalizer of every unreachable object that has one and has not been
/// finalized, each once, while every member of the garbage is intact. Then, if any
/// ran, checks for resurrection: an object that a finalizer made reachable from
/// outside again (stored a handle to it somewhere) survives with everything it reaches,
/// and moves to `Pending`; its finalizer never runs again. The rest of the garbage is
/// still freed by this collection (CPython 3.9+, bpo-38379).
///
/// A panicking finalizer is caught (kept in `panic`); the others still run.
pub(crate) fn finalize_garbage(
    heap: &HeapState,
    guard: &mut SetGuard<'_>,
    special: &[ObjPtr],
    panic: &mut Option<Box<dyn Any + Send>>,
) -> FinalizeOutcome {
    if !special.iter().any(|o| o.finalizer_pending()) {
        return FinalizeOutcome {
            resurrected: 0,
            ran: false,
        };
    }
    // Finalizers must see an intact graph: the garbage is not dead yet.
    for &obj in &guard.objs {
        obj.clear_flag(DEAD);
    }
    let mut ran = false;
    // Finalizers cannot remove objects from the garbage (they are pinned and on no
    // list); `special` holds every object with a finalizer still to run.
    for &obj in special {
        if !obj.has_finalizer() {
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| obj.finalize_once())) {
            Ok(r) => ran |= r,
            Err(p) => {
                ran = true;
                panic.get_or_insert(p);
            }
        }
    }
    if !ran {
        return FinalizeOutcome {
            resurrected: 0,
            ran: true,
        };
    }
    FinalizeOutcome {
        resurrected: handle_resurrected_objects(heap, guard),
        ran: true,
    }
}

/// Recomputes reachability within the garbage: `gc_refs` = strong count minus the
/// collector's pin minus references from other garbage; what has outside references
/// now, and what it reaches, was resurrected.
fn handle_resurrected_objects(heap: &HeapState, guard: &mut SetGuard<'_>) -> usize {
    for &obj in &guard.objs {
        obj.set_list(List::Collecting);
        obj.set_gc_refs(obj.strong() as usize - 1);
    }
    super::subtract_refs::subtract_refs(heap, &mut guard.objs, 0);
    super::move_unreachable::mark_reachable(heap, &guard.objs);
    let mut still_unreachable = Vec::new();
    let mut resurrected = 0;
    for obj in core::mem::take(&mut guard.objs) {
        if obj.gc_refs() == REACHABLE {
            obj.set_list(List::Detached);
            heap.link(obj, List::Pending);
            resurrected += 1;
            obj.unpin();
        } else {
            obj.set_list(List::Unreachable);
            still_unreachable.push(obj);
        }
    }
    guard.objs = still_unreachable;
    resurrected
}
