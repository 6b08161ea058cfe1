//! Phase 4: clear weak references to garbage and take their callbacks.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::heap::HeapState;
use crate::raw::{List, ObjPtr, HAS_CALLBACKS, WEAK_CLEARED};
use crate::weak::CallbackSlot;

/// Takes the weak-reference callbacks registered on unreachable objects (`special`:
/// those `move_unreachable` found with `HAS_CALLBACKS`; it has already cleared every
/// unreachable object's weak references, before any finalizer runs, so `upgrade` never
/// hands out an object that is being finalized or destroyed). A callback whose weak-reference object is
/// itself unreachable is dropped without running (CPython: "pretend the weakref died
/// first"), since it could otherwise reach garbage.
pub(crate) fn clear_weakrefs(heap: &HeapState, special: &[ObjPtr]) -> Vec<Rc<CallbackSlot>> {
    let mut callbacks = Vec::new();
    for &obj in special {
        debug_assert!(obj.flags() & WEAK_CLEARED != 0);
        if obj.flags() & HAS_CALLBACKS == 0 {
            continue;
        }
        obj.clear_flag(HAS_CALLBACKS);
        let slots = heap
            .weak_callbacks
            .borrow_mut()
            .remove(&obj)
            .unwrap_or_default();
        for slot in slots {
            match slot.holder() {
                Some(holder) if holder.list() == List::Unreachable => drop(slot.disarm()),
                Some(_) => callbacks.push(slot),
                None => {}
            }
        }
    }
    callbacks
}

/// Runs the callbacks taken by `clear_weakrefs`, after the collection (the heap is
/// consistent; callbacks may allocate and collect). A panic is kept in `panic`.
pub(crate) fn run_callbacks(
    callbacks: Vec<Rc<CallbackSlot>>,
    panic: &mut Option<Box<dyn Any + Send>>,
) {
    for slot in callbacks {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| slot.fire())) {
            panic.get_or_insert(p);
        }
    }
}
