//! Phase 6: destroy the garbage.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::collect::SetGuard;
use crate::handle::GcAny;
use crate::heap::HeapState;
use crate::raw::{trashcan, List, DEAD};

/// Destroys every object left in `guard.objs` and returns how many.
///
/// All of them are marked `DEAD` first (by `move_unreachable` unless finalizers ran
/// since: `already_dead`), so that a `Drop` impl that reads a handle to
/// another member of the garbage gets a clear panic (or an error from
/// `Gc::try_deref`), never a destroyed value. Values are dropped one by one (a
/// panicking `Drop` is caught, the others still run); objects whose last handle goes
/// meanwhile are queued in the trashcan. Each object's pin is released right after
/// its value is dropped, which frees the allocation if no handle references it any
/// more (otherwise the last handle frees it).
pub(crate) fn delete_garbage(
    guard: &mut SetGuard<'_>,
    already_dead: bool,
    panic: &mut Option<Box<dyn Any + Send>>,
) -> usize {
    let mut garbage = core::mem::take(&mut guard.objs);
    if !already_dead {
        for &obj in &garbage {
            obj.set_flag(DEAD);
        }
    }
    let n = garbage.len();
    let result = catch_unwind(AssertUnwindSafe(|| {
        trashcan::run(|| {
            let mut first = None;
            for &obj in &garbage {
                // The object is unreachable from every handle outside the garbage (so
                // nothing borrows its value), DEAD is set (so nothing will borrow it
                // again), and it is in this list once.
                // SAFETY: live, unborrowed, never used again: see the three points above.
                let r = catch_unwind(AssertUnwindSafe(|| unsafe { obj.drop_value() }));
                if let Err(p) = r {
                    first.get_or_insert(p);
                }
                obj.release_value_refs();
                // The value is gone, so the pin has nothing left to protect: release it
                // now, in the same pass. The allocation is freed when the last handle
                // goes, which may be a later object's value being dropped; objects not
                // yet reached here stay pinned, so their values are still intact.
                obj.unpin();
            }
            if let Some(p) = first {
                std::panic::resume_unwind(p);
            }
        })
    }));
    if let Err(p) = result {
        panic.get_or_insert(p);
    }
    // Every object is dealt with: give the emptied vector back for reuse.
    garbage.clear();
    guard.objs = garbage;
    n
}

/// `DEBUG_SAVEALL`: keeps the garbage alive in the heap's garbage list instead.
pub(crate) fn save_garbage(heap: &HeapState, guard: &mut SetGuard<'_>) -> usize {
    let mut garbage = core::mem::take(&mut guard.objs);
    let n = garbage.len();
    for &obj in &garbage {
        obj.set_list(List::Detached);
        heap.link(obj, List::Old);
        heap.garbage.borrow_mut().push(GcAny::from_obj_cloned(obj));
        obj.unpin();
    }
    garbage.clear();
    guard.objs = garbage;
    n
}
