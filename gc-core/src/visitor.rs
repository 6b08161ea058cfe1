//! The visitor that [`Traverse`] implementations report handles to.

use crate::collect::count_table::CountTable;
use crate::handle::Gc;
use crate::heap::HeapState;
use crate::raw::{List, ObjPtr, DEAD, ORPHAN};
use crate::traverse::Traverse;

/// `gc_refs` value of an object proven reachable during `move_unreachable`.
pub(crate) const REACHABLE: usize = usize::MAX;
/// The label of the running collection's set (a fixed label).
const COLLECTING: u32 = List::Collecting as u32;

/// What `obj`'s traversal reports, in order (for introspection): nothing once the
/// object is destroyed or its heap shut down. `sync_tag` is the tag of the
/// thread-safe heap whose lock the caller holds (0 for a single-threaded heap): its
/// handles are reported, other thread-safe heaps' are not.
pub(crate) fn live_referents(obj: ObjPtr, sync_tag: usize) -> Vec<ObjPtr> {
    let mut out = Vec::new();
    if obj.flags() & (DEAD | ORPHAN) == 0 {
        obj.traverse(&mut Visitor::new(Mode::Referents {
            out: &mut out,
            sync_tag,
        }));
    }
    out
}

/// Receives the handles a value owns; passed to [`Traverse::traverse`].
///
/// The collector uses one visitor per phase (subtracting internal references, marking
/// reachable objects, listing referents); implementations of `Traverse` only ever call
/// [`visit`](Visitor::visit).
pub struct Visitor<'a> {
    mode: Mode<'a>,
}

pub(crate) enum Mode<'a> {
    /// `subtract_refs`: each visit of an object in the collection's set decrements its
    /// `gc_refs`. Objects on the `closure` lists (a bit mask over `List` values) that
    /// are reached join the set first: a collection examines what its seeds reach,
    /// not whole generations.
    Subtract {
        heap: &'a HeapState,
        set: &'a mut Vec<ObjPtr>,
        closure: u32,
        /// How many members' `gc_refs` have reached zero.
        zeroed: &'a mut usize,
        /// On a large set with scattered handles: the members it was filled with
        /// count the handles to them here, not in their headers
        /// (`subtract_refs::settle` moves the counts over).
        table: Option<&'a mut CountTable>,
    },
    /// `move_unreachable`: each object of the set that is reached is marked reachable
    /// and pushed, to be traversed in turn (an explicit stack, no recursion). With
    /// `delayed`, a reached object waits there, its header prefetched, until
    /// [`MARK_DELAY`] more have been reached, and is checked then
    /// (`move_unreachable::mark_reachable`).
    Mark {
        heap: &'a HeapState,
        stack: &'a mut Vec<ObjPtr>,
        delayed: Option<&'a mut Delayed>,
    },
    /// Collects every reported handle (for introspection and leak reports). `sync_tag`
    /// is the lock tag of the heap being inspected (0 for a single-threaded heap).
    Referents {
        out: &'a mut Vec<ObjPtr>,
        sync_tag: usize,
    },
}

impl<'a> Visitor<'a> {
    pub(crate) fn new(mode: Mode<'a>) -> Self {
        Visitor { mode }
    }

    /// Reports one handle owned by the value being traversed.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Traverse, Visitor};
    ///
    /// struct Holder(Vec<Gc<String>>);
    ///
    /// // SAFETY: reports each handle in the vector once, and nothing else.
    /// unsafe impl Traverse for Holder {
    ///     fn traverse(&self, visitor: &mut Visitor<'_>) {
    ///         for g in &self.0 {
    ///             visitor.visit(g);
    ///         }
    ///     }
    /// }
    /// # let _ = Gc::new(Holder(vec![Gc::new(String::new())]));
    /// ```
    #[inline]
    pub fn visit<T: Traverse + 'static>(&mut self, gc: &Gc<T>) {
        self.visit_obj(gc.obj());
    }

    #[inline(always)]
    pub(crate) fn visit_obj(&mut self, obj: ObjPtr) {
        // Subtracting, the collector's most frequent visit, is inline in the
        // caller's loop (marking and listing referents are out of line): see
        // `subtract`.
        if let Mode::Subtract {
            heap,
            set,
            closure,
            zeroed,
            table,
        } = &mut self.mode
        {
            return subtract(heap, set, *closure, zeroed, table, obj);
        }
        self.visit_obj_cold(obj)
    }

    /// [`visit_obj`](Visitor::visit_obj), out of line: every case (`visit_obj` calls
    /// it for marking and listing referents).
    #[inline(never)]
    pub(crate) fn visit_obj_cold(&mut self, obj: ObjPtr) {
        match &mut self.mode {
            Mode::Subtract {
                heap,
                set,
                closure,
                zeroed,
                table,
            } => subtract(heap, set, *closure, zeroed, table, obj),
            Mode::Mark {
                heap,
                stack,
                delayed: None,
            } => mark(heap, stack, obj),
            Mode::Mark {
                heap,
                stack,
                delayed: Some(delayed),
            } => {
                obj.prefetch_links();
                if let Some(due) = delayed.push(obj) {
                    mark(heap, stack, due);
                }
            }
            Mode::Referents { out, .. } => out.push(obj),
        }
    }
}

/// `subtract_refs`' visit: a handle to a member of the set decrements its `gc_refs`;
/// an object of a generation the collection examines joins the set first ([`join`]);
/// anything else is not counted. Invariant (of the whole phase): members of the set
/// have `gc_refs` = their strong count minus the handles to them reported so far.
///
/// Whether the member's `gc_refs` reached zero is counted without a branch: it
/// depends on a load that is often a cache miss, and a branch on it, mispredicted
/// about once per member, threw away the loads started for the handles after it.
/// With that, and inline in the traversal's loop instead of a call per handle, W7
/// (a graph with random edges; in one process with this visit and the earlier one
/// alternately, 16 runs each) spent 40.9 -> 31.5 ms subtracting in its two
/// collections (medians; 1.41x, median of paired ratios), its first collection
/// 1.19x and its release 1.15x faster; W4's subtracting 1.20x, W3's 1.17x.
///
/// With a `table`, a handle to one of the members it was filled with is counted there
/// instead, without reading the member's header (on W7's scattered graph, a cache and
/// TLB miss): see `collect/count_table.rs`.
#[inline(always)]
fn subtract(
    heap: &HeapState,
    set: &mut Vec<ObjPtr>,
    closure: u32,
    zeroed: &mut usize,
    table: &mut Option<&mut CountTable>,
    obj: ObjPtr,
) {
    if let Some(t) = table {
        if t.add(obj) {
            return;
        }
    }
    match obj.label_in(heap) {
        Some(COLLECTING) => *zeroed += usize::from(obj.decrement_gc_refs() == 0),
        Some(label) if closure & (1 << label) != 0 => join(heap, set, zeroed, obj),
        _ => {}
    }
}

/// [`subtract`]: `obj` joins the set, then is counted. Out of line: rarer, and
/// `add_to_set` is long.
#[inline(never)]
fn join(heap: &HeapState, set: &mut Vec<ObjPtr>, zeroed: &mut usize, obj: ObjPtr) {
    heap.add_to_set(obj, set);
    *zeroed += usize::from(obj.decrement_gc_refs() == 0);
}

/// How many reached objects `Mode::Mark` with `delayed` keeps waiting before it
/// checks the oldest: about four traversals' worth of handles on a graph with four
/// per object, time enough for the headers prefetched meanwhile to arrive. A power
/// of two.
pub(crate) const MARK_DELAY: usize = 16;

/// The reached objects that wait to be checked (`Mode::Mark`): a ring of
/// [`MARK_DELAY`] places, each new one taking the place of the oldest.
pub(crate) struct Delayed {
    ring: [Option<ObjPtr>; MARK_DELAY],
    next: usize,
}

impl Delayed {
    pub(crate) fn new() -> Delayed {
        Delayed {
            ring: [None; MARK_DELAY],
            next: 0,
        }
    }

    /// Puts `obj` in the place of the oldest, which it returns (if the ring was full).
    #[inline]
    fn push(&mut self, obj: ObjPtr) -> Option<ObjPtr> {
        let place = &mut self.ring[self.next % MARK_DELAY];
        self.next = self.next.wrapping_add(1);
        place.replace(obj)
    }

    /// Takes every waiting object out.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = ObjPtr> + '_ {
        self.ring.iter_mut().filter_map(Option::take)
    }
}

/// Marking's check of a reached object: a member of the set not yet marked is
/// marked reachable and pushed, to be traversed.
#[inline]
pub(crate) fn mark(heap: &HeapState, stack: &mut Vec<ObjPtr>, obj: ObjPtr) {
    if obj.label_in(heap) == Some(COLLECTING) && obj.gc_refs() != REACHABLE {
        obj.set_gc_refs(REACHABLE);
        stack.push(obj);
    }
}

impl Visitor<'_> {
    /// The lock tag of the heap whose objects are being traversed (0 for a
    /// single-threaded heap): thread-safe handles report themselves only to their own
    /// heap, whose lock the traversing thread holds.
    pub(crate) fn sync_tag(&self) -> usize {
        match &self.mode {
            Mode::Subtract { heap, .. } | Mode::Mark { heap, .. } => heap.sync_tag.get(),
            Mode::Referents { sync_tag, .. } => *sync_tag,
        }
    }
}

impl core::fmt::Debug for Visitor<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let phase = match self.mode {
            Mode::Subtract { .. } => "subtract_refs",
            Mode::Mark { .. } => "move_unreachable",
            Mode::Referents { .. } => "referents",
        };
        f.debug_struct("Visitor").field("phase", &phase).finish()
    }
}
