//! Phase 3: find what is reachable from outside the set; the rest is garbage.

use std::collections::VecDeque;

use crate::collect::SetGuard;
use crate::heap::HeapState;
use crate::raw::{List, ObjPtr, DEAD, HAS_CALLBACKS, WEAK_CLEARED};
use crate::visitor::{mark, Delayed, Mode, Visitor, REACHABLE};

/// Marks what is reachable from outside the set (`mark_reachable`, skipped unless
/// `roots_possible`). Survivors are linked
/// onto the list [`survivor_list`] gives and unpinned; the unreachable ones stay
/// pinned in `guard.objs`. Returns, with the special objects, how many survivors
/// went to generation 2.
///
/// In the same pass each unreachable object is marked `Unreachable`, its weak
/// references cleared, and (unless `keep_alive`, for `DEBUG_SAVEALL`) it is marked
/// `DEAD`; the few that have weak-reference callbacks or a finalizer still to run are
/// returned, so the later phases need not walk the whole garbage again. (`finalize`
/// clears `DEAD` again before running finalizers, which must see an intact graph.)
pub(crate) fn move_unreachable(
    heap: &HeapState,
    guard: &mut SetGuard<'_>,
    generation: usize,
    keep_alive: bool,
    roots_possible: bool,
) -> (Vec<ObjPtr>, usize) {
    // Without `roots_possible` every member has `gc_refs == 0` (`subtract_refs`
    // counted them): nothing is reachable, and the pass over the set to find roots
    // (one cache miss per object on a large set) is skipped.
    if roots_possible {
        mark_reachable(heap, &guard.objs);
    }

    // The unreachable objects are compacted to the front of the set in place (no
    // second vector: a collection of n objects needs 8n bytes less at its peak).
    let mut special = Vec::new();
    let mut promoted = 0;
    let mut kept = 0;
    for i in 0..guard.objs.len() {
        let obj = guard.objs[i];
        if obj.gc_refs() == REACHABLE {
            obj.set_list(List::Detached);
            let to = survivor_list(generation, obj);
            if to != List::Middle {
                // Verified (`Old`), or a candidate by its list (`Pending`).
                obj.clear_suspect();
                promoted += 1;
            }
            heap.link(obj, to);
            // Put it back under the guard until unpinned, in case unpinning runs user
            // code that panics (it cannot: the object has outside references).
            obj.unpin();
        } else {
            obj.mark_unreachable(if keep_alive {
                WEAK_CLEARED
            } else {
                WEAK_CLEARED | DEAD
            });
            if obj.flags() & HAS_CALLBACKS != 0 || obj.finalizer_pending() {
                special.push(obj);
            }
            guard.objs[kept] = obj;
            kept += 1;
        }
    }
    guard.objs.truncate(kept);
    (special, promoted)
}

/// Marks every member of `set` with `gc_refs > 0` (referenced from outside) and
/// everything it reaches within the set as `REACHABLE`, with an explicit stack.
///
/// Objects popped from the stack wait in a small queue (`AHEAD` of them) with their
/// memory prefetched before they are traversed: on a large graph in random memory
/// order each traversal starts with a cache miss on the object, and the queue lets
/// those misses overlap instead of each one stalling the loop (W7's first
/// collection, alternating runs: median 66 -> 59 ms). Halfway through the queue the
/// value's [`Traverse::prefetch`](crate::Traverse::prefetch) asks for what lies
/// outside the object (a `Vec`'s buffer of handles), the next miss each traversal
/// would wait for.
///
/// On a large set, each object a traversal reaches is also checked late: it waits
/// in `delayed`, its header prefetched, until
/// [`MARK_DELAY`](crate::visitor::MARK_DELAY) more have been reached
/// (`Mode::Mark`). Checking it at once read a header that was usually a cache miss,
/// and branched on whether it was marked already, which the core mispredicts about
/// once per object it marks; each misprediction threw away the loads begun after
/// it, so the misses of one traversal's handles overlapped, but not those of the
/// next. (W7's first collection, in one process with the delay on and off
/// alternately, 12 runs each: marking 23.8 -> 15.1 ms, medians; median of paired
/// ratios 1.60x, quartiles 1.51-1.68; the collection 1.24x. Pushing every reached
/// object and checking it when popped instead was slower, 0.82x: three pushes in
/// four are objects already marked, which crowd the queue.) Below [`DELAY_MIN`]
/// members the set's headers are in the caches, and where its handles lead nearby
/// ([`scattered`]) they come in streams: objects are checked at once.
///
/// Invariant of the loop: every object on the stack or in the queue is `REACHABLE`
/// and still to be traversed; every object in `delayed` was reached from a
/// traversed object and is still to be checked; every other `REACHABLE` object has
/// been traversed. The loop ends when all three are empty.
pub(crate) fn mark_reachable(heap: &HeapState, set: &[ObjPtr]) {
    let mut stack: Vec<_> = Vec::new();
    for &obj in set {
        if obj.gc_refs() > 0 {
            obj.set_gc_refs(REACHABLE);
            stack.push(obj);
        }
    }
    const AHEAD: usize = 8;
    /// The place in the queue at which an object's `Traverse::prefetch` runs: its
    /// header and value were prefetched `AHEAD - VALUE_AHEAD` turns before.
    const VALUE_AHEAD: usize = AHEAD / 2;
    let mut queue = VecDeque::with_capacity(AHEAD);
    let mut delayed = Delayed::new();
    let delay = set.len() >= DELAY_MIN && (scattered(heap, set) || cfg!(debug_assertions));
    loop {
        while queue.len() < AHEAD {
            let Some(next) = stack.pop() else { break };
            next.prefetch();
            queue.push_back(next);
        }
        if let Some(&soon) = queue.get(VALUE_AHEAD) {
            soon.prefetch_value();
        }
        let Some(obj) = queue.pop_front() else {
            // Nothing left to traverse but what waits to be checked.
            let mut any = false;
            for obj in delayed.drain() {
                mark(heap, &mut stack, obj);
                any = true;
            }
            if !any {
                break;
            }
            continue;
        };
        obj.traverse(&mut Visitor::new(Mode::Mark {
            heap,
            stack: &mut stack,
            delayed: delay.then_some(&mut delayed),
        }));
    }
}

/// From this many members on, `mark_reachable` checks reached objects late if the
/// set's handles lead far away ([`scattered`]). Debug builds do from 32 members on
/// whatever the handles, so that the test suite, whose heaps are small, runs both
/// ways.
const DELAY_MIN: usize = if cfg!(debug_assertions) { 32 } else { 1 << 15 };

/// Whether most handles of the set lead a page or more away (`delete::far_edges`,
/// 64 members sampled): only there are the headers marking reads cache misses. On
/// a graph built in order (W4's ring, whose young collections mark each young
/// generation's survivors: a chain) the delay only cost: each traversal reaches
/// one new object, which then waits for objects that are not coming (W4's marking,
/// in one process with the delay on and off alternately: 0.84x).
pub(super) fn scattered(heap: &HeapState, set: &[ObjPtr]) -> bool {
    let mut first = None;
    let far = super::delete::far_edges(heap, set, &mut Vec::new(), &mut first);
    if let Some(p) = first {
        // A `traverse` that panics: as it would have in the marking itself.
        std::panic::resume_unwind(p);
    }
    far
}

/// Where a survivor of a collection of `generation` goes: generation 0's to the
/// middle generation, keeping their suspect mark; generation 1's to generation 2,
/// as candidates (`Pending`) if they are suspects, verified (`Old`) otherwise;
/// a full collection's are all verified.
fn survivor_list(generation: usize, obj: ObjPtr) -> List {
    match generation {
        0 => List::Middle,
        1 if obj.is_suspect() => List::Pending,
        _ => List::Old,
    }
}
