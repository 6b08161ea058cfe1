//! The visitor that [`Traverse`] implementations report handles to.

use crate::handle::Gc;
use crate::heap::HeapState;
use crate::raw::{List, ObjPtr};
use crate::traverse::Traverse;

/// `gc_refs` value of an object proven reachable during `move_unreachable`.
pub(crate) const REACHABLE: usize = usize::MAX;
/// The label of the running collection's set (a fixed label).
const COLLECTING: u32 = List::Collecting as u32;

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
    },
    /// `move_unreachable`: each object of the set that is reached is marked reachable
    /// and pushed, to be traversed in turn (an explicit stack, no recursion).
    Mark {
        heap: &'a HeapState,
        stack: &'a mut Vec<ObjPtr>,
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

    #[inline]
    pub(crate) fn visit_obj(&mut self, obj: ObjPtr) {
        match &mut self.mode {
            Mode::Subtract {
                heap,
                set,
                closure,
                zeroed,
            } => {
                // Invariant: members of the set have `gc_refs` = their strong count
                // minus the handles to them reported so far.
                match obj.label_in(*heap) {
                    Some(COLLECTING) => {}
                    Some(label) if *closure & (1 << label) != 0 => heap.add_to_set(obj, set),
                    _ => return,
                }
                if obj.decrement_gc_refs() == 0 {
                    **zeroed += 1;
                }
            }
            Mode::Mark { heap, stack } => {
                if obj.label_in(*heap) == Some(COLLECTING) && obj.gc_refs() != REACHABLE {
                    obj.set_gc_refs(REACHABLE);
                    stack.push(obj);
                }
            }
            Mode::Referents { out, .. } => out.push(obj),
        }
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
