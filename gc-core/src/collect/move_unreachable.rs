//! Phase 3: find what is reachable from outside the set; the rest is garbage.

use crate::collect::SetGuard;
use crate::heap::HeapState;
use crate::raw::List;
use crate::visitor::{Mode, Visitor, REACHABLE};

/// Marks every member with `gc_refs > 0` (referenced from outside) and everything it
/// reaches within the set as `REACHABLE`, with an explicit stack. Survivors are linked
/// onto `survivors` and unpinned; the unreachable ones stay pinned in `guard.objs`,
/// marked `Unreachable`. Returns how many are unreachable.
///
/// Invariant of the marking loop: every object on the stack is `REACHABLE` and still
/// to be traversed; every `REACHABLE` object not on the stack has been traversed.
pub(crate) fn move_unreachable(
    heap: &HeapState,
    guard: &mut SetGuard<'_>,
    survivors: List,
) -> usize {
    let mut stack: Vec<_> = Vec::new();
    for &obj in &guard.objs {
        if obj.gc_refs() > 0 {
            obj.set_gc_refs(REACHABLE);
            stack.push(obj);
        }
    }
    while let Some(obj) = stack.pop() {
        obj.traverse(&mut Visitor::new(Mode::Mark {
            heap,
            stack: &mut stack,
        }));
    }

    let mut unreachable = Vec::new();
    let mut promoted = 0;
    for obj in core::mem::take(&mut guard.objs) {
        if obj.gc_refs() == REACHABLE {
            obj.set_list(List::Detached);
            heap.link(obj, survivors);
            promoted += 1;
            // Put it back under the guard until unpinned, in case unpinning runs user
            // code that panics (it cannot: the object has outside references).
            obj.unpin();
        } else {
            obj.set_list(List::Unreachable);
            unreachable.push(obj);
        }
    }
    if survivors == List::Pending {
        let p = &heap.long_lived_pending;
        p.set(p.get() + promoted);
    }
    let n = unreachable.len();
    guard.objs = unreachable;
    n
}
