//! Heaps: independent collection domains (CPython's interpreters).

use core::cell::{Cell, RefCell};
use std::rc::Rc;

use hashbrown::HashMap;

use crate::collect::count_table::CountTable;
use crate::collect::{CollectInfo, CollectPhase, CollectStats, GarbageObject, GenerationStats};
use crate::error::AllocError;
use crate::handle::{Gc, GcAny};
use crate::pool::PoolsHandle;
use crate::raw::{alloc_uninit, HasVTable, List, Memory, ObjPtr};
use crate::segments::{Labels, SPLICE_MIN};
use crate::shutdown::ShutdownReport;
use crate::traverse::{is_tracked_type, Traverse};
use crate::vtables::HeapVTables;
use crate::weak::CallbackSlot;

/// CPython 3.13's default thresholds.
const DEFAULT_THRESHOLD: [usize; 3] = if cfg!(miri) {
    [50, 10, 10]
} else {
    [2000, 10, 10]
};

/// The largest multiplier of the young threshold (see `adapt_young_threshold`).
const MAX_YOUNG_SCALE: usize = 16;

/// The largest number of middle-generation collections an early full collection
/// waits for after unproductive ones (see `HeapState::early_full`).
const MAX_EARLY_FULL_BACKOFF: usize = 64;

/// Number of generations (0 = young, 1 = middle, 2 = old).
pub const GENERATIONS: usize = 3;

/// Where a heap is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Life {
    Running,
    ShuttingDown,
    Shut,
}

pub(crate) type CollectCallback = Rc<dyn Fn(CollectPhase, &CollectInfo)>;
pub(crate) type GarbageCallback = Rc<dyn Fn(&[GarbageObject])>;
type ExitHook = (u64, Box<dyn FnOnce()>);

/// The state of one heap. Objects point at it; it outlives every object that is not
/// an orphan (see `shutdown.rs`).
pub(crate) struct HeapState {
    /// Length of each linked list.
    pub(crate) lens: [Cell<usize>; 5],
    /// What each object label means, and the segment bookkeeping (`segments.rs`).
    pub(crate) labels: Labels,
    /// The set vector of the last collection, emptied, kept for the next one
    /// (`keep_set_buffer`).
    pub(crate) set_buffer: Cell<Vec<ObjPtr>>,
    /// The scratch vector of `delete::sort_by_page`, kept as `set_buffer` is
    /// (`keep_sort_buffer`).
    pub(crate) sort_buffer: Cell<Vec<ObjPtr>>,
    /// The subtracting phase's count table, zeroed, kept for the next collection
    /// (`collect/count_table.rs`).
    pub(crate) count_table: Cell<CountTable>,
    /// The vtables of this heap's tracked objects, which point back to it.
    pub(crate) vtables: HeapVTables,
    /// The memory of this heap's tracked objects (`pool.rs`).
    pub(crate) pools: PoolsHandle,
    /// CPython's `get_count()`: net tracked allocations since the last generation-0
    /// collection, generation-0 collections since the last generation-1 collection,
    /// generation-1 collections since the last full collection.
    pub(crate) count: [Cell<usize>; GENERATIONS],
    pub(crate) threshold: [Cell<usize>; GENERATIONS],
    /// Multiplier of `threshold[0]` for automatic collections (1..=`MAX_YOUNG_SCALE`):
    /// doubled while young collections find little garbage, reset when they find a lot.
    pub(crate) young_scale: Cell<usize>,
    /// `count[0]` above which an allocation checks for an automatic collection:
    /// `threshold[0] × young_scale`, or `usize::MAX` while automatic collection is off.
    /// Kept by `refresh_trigger` whenever one of those changes, so that the
    /// allocation path compares one number instead of reading five fields.
    collect_at: Cell<usize>,
    /// Early full collections (see `early_full`): how many middle-generation
    /// collections to wait between them (1..=`MAX_EARLY_FULL_BACKOFF`), and how many
    /// are still to wait before the next one.
    pub(crate) early_full_backoff: Cell<usize>,
    pub(crate) early_full_wait: Cell<usize>,
    pub(crate) enabled: Cell<bool>,
    /// True while a collection runs; a nested request does nothing.
    pub(crate) collecting: Cell<bool>,
    /// The phase whose collection callbacks are running, if any: a collection they
    /// request does nothing either (as in CPython, whose callbacks run while it is
    /// collecting), instead of calling them again. A shutdown requested from `Stop`
    /// callbacks (the collection is over) clears it while it runs, so that its
    /// final collections do run; from `Start` it panics (`shutdown.rs`).
    pub(crate) in_collect_callbacks: Cell<Option<CollectPhase>>,
    /// Objects that reached generation 2 through generation-1 collections since the
    /// last full collection, and the size of generation 2 after it (CPython's 25% rule
    /// for starting full collections).
    pub(crate) long_lived_pending: Cell<usize>,
    pub(crate) long_lived_total: Cell<usize>,
    pub(crate) stats: RefCell<[GenerationStats; GENERATIONS]>,
    pub(crate) life: Cell<Life>,
    /// Weak-reference callbacks by referent (objects with `HAS_CALLBACKS`).
    pub(crate) weak_callbacks: RefCell<HashMap<ObjPtr, Vec<Rc<CallbackSlot>>>>,
    pub(crate) exit_hooks: RefCell<Vec<ExitHook>>,
    pub(crate) collect_callbacks: RefCell<Vec<(u64, CollectCallback)>>,
    pub(crate) garbage_callbacks: RefCell<Vec<(u64, GarbageCallback)>>,
    pub(crate) next_id: Cell<u64>,
    /// `DEBUG_SAVEALL`: unreachable objects are kept in `garbage` instead of destroyed.
    pub(crate) save_all: Cell<bool>,
    pub(crate) garbage: RefCell<Vec<GcAny>>,
    /// The report of the completed shutdown.
    pub(crate) shutdown_report: RefCell<Option<ShutdownReport>>,
    /// For a heap behind a `sync::Heap`: the tag of its lock (0 otherwise). Only
    /// thread-safe handles with this tag are reported by traversals of this heap.
    pub(crate) sync_tag: Cell<usize>,
}

/// An emptied buffer to keep for reuse, or a new one if it is over 128 KiB and more
/// than four times larger than the `used` entries it last held.
fn kept_buffer(buffer: Vec<ObjPtr>, used: usize) -> Vec<ObjPtr> {
    debug_assert!(buffer.is_empty());
    if buffer.capacity() > 4 * used.max(4096) {
        Vec::new()
    } else {
        buffer
    }
}

impl HeapState {
    fn new() -> Self {
        HeapState {
            lens: Default::default(),
            labels: Labels::new(),
            vtables: HeapVTables::default(),
            pools: PoolsHandle::new(),
            set_buffer: Cell::new(Vec::new()),
            sort_buffer: Cell::new(Vec::new()),
            count_table: Cell::new(CountTable::new()),
            count: Default::default(),
            threshold: DEFAULT_THRESHOLD.map(Cell::new),
            young_scale: Cell::new(1),
            collect_at: Cell::new(DEFAULT_THRESHOLD[0]),
            early_full_backoff: Cell::new(1),
            early_full_wait: Cell::new(0),
            enabled: Cell::new(true),
            collecting: Cell::new(false),
            in_collect_callbacks: Cell::new(None),
            long_lived_pending: Cell::new(0),
            long_lived_total: Cell::new(0),
            stats: RefCell::new(Default::default()),
            life: Cell::new(Life::Running),
            weak_callbacks: RefCell::new(HashMap::new()),
            exit_hooks: RefCell::new(Vec::new()),
            collect_callbacks: RefCell::new(Vec::new()),
            garbage_callbacks: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            save_all: Cell::new(false),
            garbage: RefCell::new(Vec::new()),
            shutdown_report: RefCell::new(None),
            sync_tag: Cell::new(0),
        }
    }

    pub(crate) fn fresh_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// The head of a linked list (for `Old`, of its own chain, without the runs:
    /// see [`chains`](HeapState::chains)).
    #[inline]
    pub(crate) fn head(&self, list: List) -> &Cell<Option<ObjPtr>> {
        self.labels.head(list)
    }

    /// The first object of each chain `list` is made of, as they are now: its head,
    /// for a young list its suspects (`suspects`), and for `Old` the runs
    /// (`segments.rs`; only then is a vector allocated).
    fn chains(&self, list: List) -> impl Iterator<Item = ObjPtr> {
        let runs: Vec<ObjPtr> = if list == List::Old {
            self.labels.runs_on_old().collect()
        } else {
            Vec::new()
        };
        let suspects = if list.is_fixed() {
            None
        } else {
            self.suspects(list).get()
        };
        self.head(list)
            .get()
            .into_iter()
            .chain(suspects)
            .chain(runs)
    }

    /// The head of the chain of the suspects of `Young` or `Middle`: the objects of
    /// the list that lost a reference since a collection last examined them, kept
    /// apart from the rest (the list's head) so that a collection takes them without
    /// walking the list. Their label is the list's own number (a fixed label, see
    /// `List::from_fixed_label`).
    #[inline]
    pub(crate) fn suspects(&self, list: List) -> &Cell<Option<ObjPtr>> {
        debug_assert!(!list.is_fixed());
        self.labels.chain_head(Labels::suspect_label(list))
    }

    /// Whether `Young` or `Middle` holds a suspect.
    #[inline]
    pub(crate) fn has_suspects(&self, list: List) -> bool {
        self.suspects(list).get().is_some()
    }

    /// The label `obj` gets when linked onto `list`: a suspect's on a young list,
    /// the list's link label otherwise.
    #[inline]
    fn label_on(&self, obj: ObjPtr, list: List) -> u32 {
        if list.is_fixed() {
            // A fixed list's link label is its number (a constant where `list` is).
            debug_assert_eq!(self.labels.link_label(list), list as u32);
            list as u32
        } else if obj.is_suspect() {
            Labels::suspect_label(list)
        } else {
            self.labels.link_label(list)
        }
    }

    /// Puts the chain `first ..= last` (linked to each other, labelled for `to`) at
    /// the front of `to`, `count` objects in all.
    fn join_front(&self, to: List, first: ObjPtr, last: ObjPtr, count: usize) {
        let head = self.head(to);
        let old_first = head.get();
        last.set_next_in_list(old_first);
        if let Some(h) = old_first {
            h.set_prev_in_list(Some(last));
        }
        head.set(Some(first));
        self.labels
            .chain_linked(self.labels.link_label(to), last, old_first.is_none());
        let len = &self.lens[to as usize];
        len.set(len.get() + count);
    }

    /// Links `obj` (detached) at the front of `list`, or of the list's suspects if
    /// it is a suspect and `list` a young list.
    #[inline]
    pub(crate) fn link(&self, obj: ObjPtr, list: List) {
        self.link_with(obj, list, self.label_on(obj, list));
    }

    /// Links `obj`, a new object (detached, not a suspect), at the front of `Young`:
    /// `link_with` for a segment label known to be one, on the allocation path
    /// (`link_with` there cost 5 more instructions per allocation: cachegrind, W3
    /// +1.0%, W6 +0.8%).
    #[inline]
    pub(crate) fn link_new(&self, obj: ObjPtr) {
        debug_assert!(obj.is_on(List::Detached) && !obj.is_suspect());
        let head = self.head(List::Young);
        let was_empty = head.get().is_none();
        obj.link_front(head, self.labels.link_label(List::Young));
        if was_empty {
            self.labels.young_linked(List::Young, obj);
        }
        let len = &self.lens[List::Young as usize];
        len.set(len.get() + 1);
    }

    /// Links `obj` (detached) at the front of the chain of `label`, a label of `list`.
    #[inline]
    fn link_with(&self, obj: ObjPtr, list: List, label: u32) {
        debug_assert!(obj.is_on(List::Detached));
        let head = self.labels.chain_head(label);
        let was_empty = head.get().is_none();
        obj.link_front(head, label);
        self.linked(obj, list, label, was_empty);
    }

    /// The bookkeeping after `obj` was put at the front of the chain of `label`, of
    /// `list` (empty before if `was_empty`): the chain's tail, the list's length.
    #[inline]
    fn linked(&self, obj: ObjPtr, list: List, label: u32, was_empty: bool) {
        self.labels.chain_linked(label, obj, was_empty);
        let len = &self.lens[list as usize];
        len.set(len.get() + 1);
    }

    /// An object on `Young` or `Middle` (`list`) became a suspect (its first lost
    /// reference): it moves to the list's suspects, where the next collection of the
    /// list finds it without a walk. A move within the list, so no length changes
    /// and no test of the destination (`move_to` here cost W8 +4.5% instructions).
    pub(crate) fn mark_young_suspect(&self, obj: ObjPtr, list: List) {
        debug_assert!(!list.is_fixed() && obj.is_suspect());
        let label = obj.label();
        let to = self.suspects(list);
        let was_empty = to.get().is_none();
        let suspect = Labels::suspect_label(list);
        let (prev, next) = obj.move_to_front(self.labels.chain_head(label), to, suspect);
        self.labels.unlinked(list, label, obj, prev, next);
        self.labels.chain_linked(suspect, obj, was_empty);
    }

    /// Unlinks `obj` from the list it is on.
    pub(crate) fn unlink(&self, obj: ObjPtr) {
        let label = obj.label();
        let list = self.labels.list_of(label);
        debug_assert!(
            list.is_linked(),
            "unlink of an object on no list ({list:?})"
        );
        let (prev, next) = obj.unlink(self.labels.chain_head(label));
        self.labels.unlinked(list, label, obj, prev, next);
        let len = &self.lens[list as usize];
        len.set(len.get() - 1);
    }

    /// Moves `obj` from the list it is on to the front of `to` (another linked list;
    /// of its suspects if `obj` is a suspect and `to` a young list): `unlink` then
    /// `link`, fused (`ObjPtr::move_to_front`: one check of the object, one label
    /// write). Always inlined, so that the destination's label is a constant where
    /// `to` is one (`mark_pending`).
    #[inline(always)]
    pub(crate) fn move_to(&self, obj: ObjPtr, to: List) {
        let label = obj.label();
        let from = self.labels.list_of(label);
        debug_assert!(
            from.is_linked() && from != to,
            "move of an object on {from:?} to {to:?}"
        );
        let to_label = self.label_on(obj, to);
        let head = self.labels.chain_head(to_label);
        let was_empty = head.get().is_none();
        let (prev, next) = obj.move_to_front(self.labels.chain_head(label), head, to_label);
        self.labels.unlinked(from, label, obj, prev, next);
        let len = &self.lens[from as usize];
        len.set(len.get() - 1);
        self.linked(obj, to, to_label, was_empty);
    }

    /// The last strong handle of a live tracked object went away: take it out of the
    /// heap before its value is destroyed.
    pub(crate) fn forget_object(&self, obj: ObjPtr) {
        if self.labels.list_of(obj.label()).is_linked() {
            self.unlink(obj);
        }
        let c = &self.count[0];
        c.set(c.get().saturating_sub(1));
    }

    /// A reference into a verified old object was dropped: it becomes a candidate for
    /// the next full collection.
    pub(crate) fn mark_pending(&self, obj: ObjPtr) {
        self.move_to(obj, List::Pending);
    }

    /// Moves `obj` from its list into a collection's set (`update_refs` for one
    /// object): `gc_refs` starts at the strong count, and the collector pins the
    /// object with one strong reference of its own, so that no user code run during
    /// the collection can free it.
    pub(crate) fn add_to_set(&self, obj: ObjPtr, set: &mut Vec<ObjPtr>) {
        self.unlink(obj);
        obj.set_list(List::Collecting);
        obj.set_gc_refs(obj.strong() as usize);
        obj.inc_strong();
        set.push(obj);
    }

    /// Moves every object of `list` into a collection's set, as `add_to_set` does
    /// for one object, without unlinking them one by one: the whole list is taken.
    pub(crate) fn take_list_into_set(&self, list: List, set: &mut Vec<ObjPtr>) {
        debug_assert!(list.is_fixed(), "a young list is taken by its suspects");
        let chains = self.chains(list);
        self.head(list).set(None);
        let len = self.lens[list as usize].replace(0);
        self.labels.list_taken(list);
        set.reserve(len);
        for first in chains {
            Self::take_chain_into_set(first, set);
        }
    }

    /// Moves the chain that starts at `first` (already cut off its list) into a
    /// collection's set, as `add_to_set` does for one object; returns its length.
    fn take_chain_into_set(first: ObjPtr, set: &mut Vec<ObjPtr>) -> usize {
        let mut cur = Some(first);
        let mut taken = 0;
        while let Some(obj) = cur {
            // Read the link before `set_gc_refs` overwrites it.
            cur = obj.next_in_list();
            obj.set_list(List::Collecting);
            obj.clear_prev();
            obj.set_gc_refs(obj.strong() as usize);
            obj.inc_strong();
            set.push(obj);
            taken += 1;
        }
        taken
    }

    /// Moves the suspects of `list` (objects that lost a reference since a collection
    /// last verified them) into a collection's set, as `add_to_set` does: they seed a
    /// collection, which reaches the rest of what it examines from them. They are a
    /// chain of their own (`suspects`), taken whole: the rest of the list is not
    /// walked.
    pub(crate) fn take_suspects_into_set(&self, list: List, set: &mut Vec<ObjPtr>) {
        let Some(first) = self.suspects(list).take() else {
            // Debug builds, the whole test suite included, check that no suspect
            // is elsewhere on the list.
            self.debug_check_suspects(list);
            return;
        };
        let taken = Self::take_chain_into_set(first, set);
        let len = &self.lens[list as usize];
        len.set(len.get() - taken);
    }

    /// After a collection: moves every object left on `from` (none was examined, as
    /// no suspect reaches it) to `to`, except that a suspect (one that lost a
    /// reference while the collection ran user code) goes to `Pending` instead when
    /// `to` is a generation-2 list, so that the next full collection examines it.
    /// Returns how many objects moved.
    ///
    /// With `splice` (full collections; generation-1 collections for `Middle`), a
    /// list without suspects moving to `Old` is spliced on whole (`segments.rs`):
    /// O(1) instead of a walk that relabels every object.
    #[inline]
    pub(crate) fn promote_unexamined(&self, from: List, to: List, splice: bool) -> usize {
        let moved = self.lens[from as usize].get();
        if moved == 0 {
            return 0;
        }
        self.promote_list(from, to, splice, moved)
    }

    /// [`promote_unexamined`](HeapState::promote_unexamined) of a non-empty list of
    /// `moved` objects.
    #[inline(never)]
    fn promote_list(&self, from: List, to: List, splice: bool, moved: usize) -> usize {
        // The suspects first (few: they lost a reference while the collection ran user
        // code): to `Pending` on the way to `Old`, to `to`'s suspects otherwise.
        let suspects_to = if to == List::Old { List::Pending } else { to };
        while let Some(obj) = self.suspects(from).get() {
            self.move_to(obj, suspects_to);
        }
        self.debug_check_suspects(from);
        let rest = self.lens[from as usize].get();
        if rest == 0 {
            return moved;
        }
        if splice && to == List::Old && rest >= SPLICE_MIN {
            self.lens[from as usize].set(0);
            let relabelled = self.labels.splice_onto_old(from, rest);
            let len = &self.lens[List::Old as usize];
            len.set(len.get() + rest);
            if let Some((first, last)) = relabelled {
                // A run whose segment was reused, now of `Old`'s own chain (already
                // counted on `Old`).
                self.join_front(List::Old, first, last, 0);
            }
            return moved;
        }
        // One pass that relabels each object in place, then the chain is put on `to`
        // whole: cheaper than unlinking and linking each object (W3: ~29 -> ~15
        // instructions per object moved; then 5.83M -> 3.75M instructions for
        // 200,000 objects, each moved twice, once the pass did nothing else).
        let label = self.labels.link_label(to);
        let mut cur = self.head(from).take();
        self.lens[from as usize].set(0);
        self.labels.list_taken(from);
        let (first, mut last) = (cur, None);
        while let Some(obj) = cur {
            cur = obj.next_in_list();
            obj.set_label(label);
            last = Some(obj);
        }
        if let (Some(first), Some(last)) = (first, last) {
            self.join_front(to, first, last, rest);
        }
        moved
    }

    /// Debug builds: checks that the suspects of `Young` or `Middle` are all on the
    /// list's suspect chain and only they are.
    fn debug_check_suspects(&self, list: List) {
        if cfg!(debug_assertions) {
            let main = self.head(list).get();
            for first in self.chains(list) {
                let on_main = Some(first) == main;
                let mut cur = Some(first);
                while let Some(obj) = cur {
                    assert_eq!(
                        obj.is_suspect(),
                        !on_main,
                        "{obj:?} on {list:?}: a suspect off the suspect chain, or the reverse"
                    );
                    cur = obj.next_in_list();
                }
            }
        }
    }

    /// Checks the list labels and segment runs (`Labels::check`) on a heap small
    /// enough for a walk over every list to be cheap.
    #[cfg(debug_assertions)]
    pub(crate) fn check_labels(&self) {
        let total: usize = self.lens.iter().map(Cell::get).sum();
        if total <= 20_000 {
            self.labels.check(&self.lens);
            self.debug_check_suspects(List::Young);
            self.debug_check_suspects(List::Middle);
        }
    }

    /// Keeps a collection's set vector (its objects all dealt with) for the next
    /// collection. Besides saving an allocation per collection, this keeps a large
    /// vector from being freed right after the collection freed its garbage: with
    /// glibc, freeing a chunk of 64 KiB or more then consolidates every small free
    /// chunk at once, inside the collection's pause (W7: ~30% of its release phase).
    /// A buffer over 128 KiB and more than four times larger than what the
    /// collection used is let go, so one huge collection does not pin its buffer.
    pub(crate) fn keep_set_buffer(&self, set: Vec<ObjPtr>, used: usize) {
        self.set_buffer.set(kept_buffer(set, used));
    }

    /// Keeps the scratch vector of a sort of `used` objects for the next one, as
    /// `keep_set_buffer` does: without it, W6's peak memory grew by ~1 MiB (glibc
    /// keeps freed chunks of that size in the heap once one has been freed).
    pub(crate) fn keep_sort_buffer(&self, scratch: Vec<ObjPtr>, used: usize) {
        self.sort_buffer.set(kept_buffer(scratch, used));
    }

    /// Every object on the linked lists, in list order (young first).
    pub(crate) fn all_objects(&self, lists: &[List]) -> Vec<ObjPtr> {
        let mut out = Vec::new();
        for &list in lists {
            for first in self.chains(list) {
                let mut cur = Some(first);
                while let Some(obj) = cur {
                    out.push(obj);
                    cur = obj.next_in_list();
                }
            }
        }
        out
    }

    #[inline]
    fn should_collect(&self) -> bool {
        let due = self.count[0].get() > self.collect_at.get();
        debug_assert_eq!(
            self.collect_at.get(),
            self.trigger(),
            "collect_at not refreshed"
        );
        // `collect_at` covers the threshold and the switch; a running collection and
        // a heap shutting down are rare enough to test only once the count is due.
        due && !self.collecting.get()
            && self.in_collect_callbacks.get().is_none()
            && self.life.get() == Life::Running
    }

    /// What `collect_at` should be.
    fn trigger(&self) -> usize {
        let t0 = self.threshold[0].get();
        if self.enabled.get() && t0 > 0 {
            t0.saturating_mul(self.young_scale.get())
        } else {
            usize::MAX
        }
    }

    /// Recomputes `collect_at` after `enabled`, `threshold[0]` or `young_scale`
    /// changed.
    fn refresh_trigger(&self) {
        self.collect_at.set(self.trigger());
    }

    /// Whether an automatic collection of the middle generation should be a full one
    /// instead. Old objects that lost a reference (`Pending`) are only examined by
    /// full collections, which the 25% rule makes rare; garbage whose root is old
    /// waits for them (a tree that grew old while it was built, then dropped). A
    /// full collection examines only what `Pending` and the young suspects reach
    /// (not all of generation 2), so while such collections are productive one
    /// replaces each middle collection when `Pending` is not empty; each one that
    /// finds little garbage doubles the number of middle collections to wait before
    /// the next (up to `MAX_EARLY_FULL_BACKOFF`), so a program that keeps touching a
    /// large live old structure does not pay for rescanning it every time.
    pub(crate) fn early_full(&self) -> bool {
        if self.lens[List::Pending as usize].get() == 0 {
            return false;
        }
        let wait = self.early_full_wait.get();
        if wait > 0 {
            self.early_full_wait.set(wait - 1);
            return false;
        }
        true
    }

    /// Adapts the early-full-collection backoff after one that examined
    /// `candidates` objects and found `collected` garbage.
    pub(crate) fn adapt_early_full(&self, candidates: usize, collected: usize) {
        let backoff = self.early_full_backoff.get();
        let backoff = if collected.saturating_mul(2) >= candidates {
            1
        } else if collected.saturating_mul(10) < candidates {
            (backoff * 2).min(MAX_EARLY_FULL_BACKOFF)
        } else {
            backoff
        };
        self.early_full_backoff.set(backoff);
        self.early_full_wait.set(backoff - 1);
    }

    /// Adapts the young threshold after a collection that examined `candidates`
    /// objects and found `collected` garbage: rescanning young objects that all
    /// survive is the main cost of a generational collector when a program builds a
    /// large structure, so while collections find under 10% garbage the effective
    /// threshold doubles (up to `MAX_YOUNG_SCALE` times `threshold[0]`); once they find
    /// at least half garbage again it returns to `threshold[0]`.
    pub(crate) fn adapt_young_threshold(&self, candidates: usize, collected: usize) {
        if candidates == 0 {
            // Nothing was examined: nothing to learn.
            return;
        }
        let scale = self.young_scale.get();
        if collected.saturating_mul(10) < candidates {
            self.young_scale.set((scale * 2).min(MAX_YOUNG_SCALE));
        } else if collected.saturating_mul(2) >= candidates {
            self.young_scale.set(1);
        }
        self.refresh_trigger();
    }
}

/// Runs `f` on the heap of `obj`, a tracked object that is not an orphan. Always
/// inlined: its callers are the small out-of-line paths of a handle's release, and
/// left out of line for one of them (a first lost reference to an object on a
/// segment) it cost ~8 more instructions per call (callgrind, W3).
#[inline(always)]
pub(crate) fn with_heap_of<R>(obj: ObjPtr, f: impl FnOnce(&HeapState) -> R) -> R {
    // Every caller checks this first; it guards the dereference below.
    assert!(
        obj.is_tracked() && obj.flags() & crate::raw::ORPHAN == 0,
        "heap of an untracked or orphaned object requested"
    );
    let ptr = obj.heap_ptr();
    // A tracked object that is not an orphan belongs to a heap that is alive:
    // `HeapState` is freed only after shutdown, which detaches every remaining object
    // and marks it ORPHAN (`shutdown.rs`); `ptr` came from `Rc::as_ptr` of that heap.
    // SAFETY: the heap is alive (checked above and explained here), so `ptr` is valid.
    f(unsafe { &*ptr })
}

/// A new counted handle to the heap of `obj` (tracked, not an orphan), for code that
/// runs user code and must keep the heap alive meanwhile.
pub(crate) fn heap_of(obj: ObjPtr) -> Heap {
    assert!(
        obj.is_tracked() && obj.flags() & crate::raw::ORPHAN == 0,
        "heap of an untracked or orphaned object requested"
    );
    let ptr = obj.heap_ptr();
    // As in `with_heap_of` the heap is alive, and `ptr` came from `Rc::as_ptr`.
    // SAFETY: `ptr` is from `Rc::as_ptr` of a live `Rc<HeapState>`.
    unsafe { Rc::increment_strong_count(ptr) };
    // SAFETY: the count added above is the one the new `Rc` owns.
    let rc = unsafe { Rc::from_raw(ptr) };
    Heap { rc }
}

/// An independent heap: its own objects, generations, thresholds and shutdown
/// (CPython's interpreter, or subinterpreter).
///
/// `Heap` is a counted handle: clones refer to the same heap. When the last handle is
/// dropped the heap [shuts down](Heap::shutdown). Each thread also has a default heap,
/// used by [`Gc::new`] and the free functions ([`collect`](crate::collect()) …), shut
/// down when the thread exits.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap, Traverse};
/// use std::cell::RefCell;
///
/// #[derive(Traverse)]
/// struct Node {
///     next: RefCell<Option<Gc<Node>>>,
/// }
///
/// let heap = Heap::new();
/// let a = heap.alloc(Node { next: RefCell::new(None) });
/// let b = heap.alloc(Node { next: RefCell::new(Some(a.clone())) });
/// *a.next.borrow_mut() = Some(b.clone());
/// drop((a, b));
/// assert_eq!(heap.collect().collected, 2);
/// ```
pub struct Heap {
    rc: Rc<HeapState>,
}

impl Clone for Heap {
    fn clone(&self) -> Self {
        Heap {
            rc: self.rc.clone(),
        }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        if Rc::strong_count(&self.rc) == 1 && self.rc.life.get() == Life::Running {
            crate::shutdown::shutdown(self);
        }
    }
}

impl Default for Heap {
    fn default() -> Self {
        Heap::new()
    }
}

impl core::fmt::Debug for Heap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = &*self.rc;
        f.debug_struct("Heap")
            .field("objects", &self.tracked_count())
            .field("count", &self.get_count())
            .field("threshold", &self.get_threshold())
            .field("enabled", &s.enabled.get())
            .field("life", &s.life.get())
            .finish()
    }
}

impl PartialEq for Heap {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.rc, &other.rc)
    }
}
impl Eq for Heap {}

impl Heap {
    /// Creates an empty heap with CPython's default thresholds `(2000, 10, 10)` and
    /// automatic collection enabled.
    pub fn new() -> Heap {
        Heap {
            rc: Rc::new(HeapState::new()),
        }
    }

    /// A handle to this thread's default heap (the one [`Gc::new`] allocates in).
    ///
    /// # Panics
    /// If called while the thread is exiting and its default heap is gone.
    pub fn current() -> Heap {
        on_default_heap(Heap::clone)
    }

    pub(crate) fn state(&self) -> &HeapState {
        &self.rc
    }

    pub(crate) fn state_ptr(&self) -> *const HeapState {
        Rc::as_ptr(&self.rc)
    }

    /// Allocates `value` in this heap.
    ///
    /// Values whose type can hold handles (or has a finalizer) are tracked by the
    /// collector; leaves are not, and cost it nothing. The allocation may first run
    /// an automatic collection (see [`set_threshold`](Heap::set_threshold)).
    ///
    /// # Panics
    /// If the heap has been shut down; [`try_alloc`](Heap::try_alloc) returns an error
    /// instead.
    #[inline]
    pub fn alloc<T: Traverse + 'static>(&self, value: T) -> Gc<T> {
        self.try_alloc(value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Allocates `value`, or gives it back if the heap has been shut down.
    ///
    /// # Errors
    /// [`AllocError`] (holding `value`) after [`shutdown`](Heap::shutdown).
    #[inline]
    pub fn try_alloc<T: Traverse + 'static>(&self, value: T) -> Result<Gc<T>, AllocError<T>> {
        self.alloc_inner(value, None)
    }

    /// Allocates `value` as an instance of the runtime type object `ty`.
    ///
    /// The object keeps `ty` alive, and the collector visits `ty` for it **by
    /// construction**, whatever the value's [`Traverse`] does: the missing
    /// `Py_VISIT(Py_TYPE(self))` of CPython's heap types cannot happen. An instance
    /// is always tracked, even if its value is a leaf.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap, Traverse};
    ///
    /// #[derive(Traverse)]
    /// struct Type { name: String }
    /// #[derive(Traverse)]
    /// struct Int(i64);
    ///
    /// let heap = Heap::new();
    /// let int_type = heap.alloc(Type { name: "int".into() });
    /// let five = heap.alloc_with_type(&int_type, Int(5));
    /// assert!(Gc::ptr_eq(&Gc::owner_type(&five).unwrap().downcast::<Type>().unwrap(), &int_type));
    /// drop(int_type);
    /// // The instance keeps its type alive.
    /// assert_eq!(Gc::owner_type(&five).unwrap().downcast::<Type>().unwrap().name, "int");
    /// ```
    ///
    /// # Panics
    /// If the heap has been shut down.
    #[inline]
    pub fn alloc_with_type<T: Traverse + 'static, U: Traverse + 'static>(
        &self,
        ty: &Gc<U>,
        value: T,
    ) -> Gc<T> {
        // `ty` keeps the type alive until `alloc_inner` takes its own reference.
        self.alloc_inner(value, Some(ty.obj()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[inline]
    fn alloc_inner<T: Traverse + 'static>(
        &self,
        value: T,
        owner: Option<ObjPtr>,
    ) -> Result<Gc<T>, AllocError<T>> {
        let tracked = is_tracked_type::<T>() || owner.is_some();
        // SAFETY: `fill_slot` writes the value right away, before anything else runs.
        let slot = unsafe { self.alloc_slot(T::VTABLE, tracked, owner) };
        // SAFETY: `slot` is `alloc_slot`'s answer for `T::VTABLE`, nothing ran since.
        unsafe { Heap::fill_slot(slot, value) }
    }

    /// Completes an allocation: writes `value` into the object `alloc_slot` gave, or
    /// gives the value back if there is none (the heap is shut down).
    ///
    /// # Safety
    /// `slot` is what `alloc_slot(T::VTABLE, ..)` returned, with nothing run since.
    #[inline]
    pub(crate) unsafe fn fill_slot<T: Traverse + 'static>(
        slot: Option<ObjPtr>,
        value: T,
    ) -> Result<Gc<T>, AllocError<T>> {
        match slot {
            Some(obj) => {
                // Why this is sound: `obj` was allocated for a `T` (`T::VTABLE`, the
                // caller's guarantee); its value slot is uninitialized, in bounds and
                // aligned for `T`.
                // SAFETY: the guarantees just stated.
                unsafe { obj.value_ptr::<T>().write(value) };
                Ok(Gc::from_obj(obj))
            }
            None => Err(AllocError::new(value)),
        }
    }

    /// The allocation path without the value (see `raw::alloc_uninit`): `None` if
    /// the heap has been shut down; otherwise an object of `vtable`'s type with
    /// `strong = 1`, linked on `Young` if `tracked` (after the automatic collection,
    /// if one is due), its value slot uninitialized.
    ///
    /// Inlined into `Gc::new` and `Heap::alloc`, where `tracked` and `owner` are
    /// usually constants; the automatic collection is a call out of line
    /// (`collect_before_alloc`). `inline(always)`: as a plain `inline` the compiler
    /// kept it a call, whose frame was 13 of W3's ~123 instructions per allocation
    /// (callgrind, `Ours::node`: 123 -> 105 inlined; W3's creation loop timed alone,
    /// the two builds alternately, 12 pairs: median of paired ratios 1.029x).
    ///
    /// # Safety
    /// The caller writes a value of `vtable`'s type at the object's `value_ptr`
    /// before anything else runs: a tracked object is already on a heap list.
    #[inline(always)]
    pub(crate) unsafe fn alloc_slot(
        &self,
        vtable: &'static crate::raw::VTable,
        tracked: bool,
        owner: Option<ObjPtr>,
    ) -> Option<ObjPtr> {
        let state = self.state();
        if state.life.get() == Life::Shut {
            return None;
        }
        if !tracked {
            // A single-threaded heap's leaves stay on this thread: its leaf pools. A
            // thread-safe heap's may be freed on any thread: the global allocator.
            let memory = if state.sync_tag.get() == 0 {
                Memory::ThreadLeaf
            } else {
                Memory::Global
            };
            // SAFETY: passed on to our caller.
            return Some(unsafe { alloc_uninit(vtable, memory, None) });
        }
        if state.should_collect() && !self.collect_before_alloc() {
            return None;
        }
        // The owner reference is taken only now, after the automatic collection: user
        // code run there may panic, and a reference taken before would leak with the
        // unwinding. Regression test:
        // `tests/tests/proptest_ops.rs::alloc_with_type_releases_the_type_when_its_collection_panics`.
        if let Some(owner) = owner {
            owner.inc_strong();
        }
        let heap_vtable = state.vtables.get(vtable, self.state_ptr());
        // SAFETY: passed on to our caller.
        let obj = unsafe { alloc_uninit(vtable, Memory::Heap(heap_vtable, &state.pools), owner) };
        state.link_new(obj);
        let c = &state.count[0];
        c.set(c.get() + 1);
        Some(obj)
    }

    /// The automatic collection an allocation found due; `false` if a callback of
    /// that collection shut the heap down (the allocation then fails).
    /// Regression test: `tests/tests/shutdown.rs::allocation_whose_automatic_collection_shuts_the_heap_down_fails`.
    #[cold]
    #[inline(never)]
    fn collect_before_alloc(&self) -> bool {
        crate::collect::collect_automatic(self);
        self.state().life.get() == Life::Running
    }

    /// Runs a full collection (all generations) and says what it found.
    ///
    /// A collection examines only the objects of its generations that lost a
    /// reference since they were last examined (the *suspects*) and what those reach:
    /// objects nobody let go of cost nothing, whatever their generation. (Except that
    /// once it has reached a fifth of a generation 2 of 65,536 objects or more, it
    /// takes the rest of it too, in list order: cheaper than reaching the objects one
    /// by one in a scattered order, and bounded by four times what it had reached.)
    /// It finds
    /// every garbage cycle that examining whole generations would (see "Suspects" in
    /// the README's design notes). Returns immediately (with
    /// [`CollectStats::skipped`] set) if a collection is already running, as when
    /// called from a finalizer or a `Drop`.
    pub fn collect(&self) -> CollectStats {
        // An explicit full collection marks a phase boundary: allocation is expected
        // to start over at the configured threshold (see `adapt_young_threshold`).
        let state = self.state();
        state.young_scale.set(1);
        state.refresh_trigger();
        self.collect_generation(GENERATIONS - 1)
    }

    /// Collects generations `0..=generation` (CPython's `gc.collect(generation)`).
    ///
    /// # Panics
    /// If `generation > 2`.
    pub fn collect_generation(&self, generation: usize) -> CollectStats {
        assert!(
            generation < GENERATIONS,
            "generation {generation} out of range (0..=2)"
        );
        crate::collect::collect(self, generation)
    }

    /// Collects repeatedly until a collection frees nothing (at most `max_rounds`
    /// times); returns the total freed. The fixed point that CPython users reach
    /// with `while gc.collect(): pass`.
    pub fn collect_until_stable(&self, max_rounds: usize) -> usize {
        let mut total = 0;
        for _ in 0..max_rounds {
            let n = self.collect().collected;
            total += n;
            if n == 0 {
                break;
            }
        }
        total
    }

    /// Turns automatic collection on.
    pub fn enable(&self) {
        self.state().enabled.set(true);
        self.state().refresh_trigger();
    }

    /// Turns automatic collection off; [`collect`](Heap::collect) still works.
    pub fn disable(&self) {
        self.state().enabled.set(false);
        self.state().refresh_trigger();
    }

    /// Whether automatic collection is on.
    pub fn is_enabled(&self) -> bool {
        self.state().enabled.get()
    }

    /// CPython's `gc.get_count()`: `(net tracked allocations since the last
    /// generation-0 collection, generation-0 collections since the last generation-1
    /// collection, generation-1 collections since the last full collection)`.
    pub fn get_count(&self) -> (usize, usize, usize) {
        let c = &self.state().count;
        (c[0].get(), c[1].get(), c[2].get())
    }

    /// CPython's `gc.get_threshold()`.
    pub fn get_threshold(&self) -> (usize, usize, usize) {
        let t = &self.state().threshold;
        (t[0].get(), t[1].get(), t[2].get())
    }

    /// CPython's `gc.set_threshold(t0, t1, t2)`. A generation-0 collection starts when
    /// net tracked allocations exceed `t0` (0 turns automatic collection off), or a
    /// multiple of it: while automatic collections find under 10% garbage (a program
    /// building a large structure) the young threshold doubles, up to 16 × `t0`, and
    /// it returns to `t0` once they find at least half garbage, or on an explicit full
    /// [`collect`](Heap::collect);
    /// generation 1 is collected after `t1` generation-0 collections, generation 2
    /// after `t2` generation-1 collections and only when the objects that reached
    /// generation 2 since the last full collection are at least a quarter of it.
    /// In addition, while old objects have lost references since the last full
    /// collection, a generation-1 collection that is due runs as a full one (which
    /// examines only what those objects and the young suspects reach); each such
    /// collection that finds under 10% garbage doubles the number of generation-1
    /// collections to skip before the next, up to 64.
    pub fn set_threshold(&self, t0: usize, t1: usize, t2: usize) {
        let t = &self.state().threshold;
        t[0].set(t0);
        t[1].set(t1);
        t[2].set(t2);
        self.state().refresh_trigger();
    }

    /// Number of tracked objects in the heap (all generations, the permanent one
    /// included).
    pub fn tracked_count(&self) -> usize {
        self.state().lens.iter().map(Cell::get).sum()
    }

    /// Number of tracked objects in `generation` (0, 1 or 2).
    ///
    /// # Panics
    /// If `generation > 2`.
    pub fn generation_len(&self, generation: usize) -> usize {
        let l = &self.state().lens;
        match generation {
            0 => l[List::Young as usize].get(),
            1 => l[List::Middle as usize].get(),
            2 => l[List::Pending as usize].get() + l[List::Old as usize].get(),
            _ => panic!("generation {generation} out of range (0..=2)"),
        }
    }

    /// The tracked, live objects of `generation`, or of the whole heap (the permanent
    /// generation included) for `None`; CPython's `gc.get_objects()`.
    ///
    /// Objects being destroyed, or found unreachable by a running collection, are not
    /// included.
    ///
    /// # Panics
    /// If `generation > Some(2)`.
    pub fn objects(&self, generation: Option<usize>) -> Vec<GcAny> {
        let lists: &[List] = match generation {
            None => &List::LINKED,
            Some(0) => &[List::Young],
            Some(1) => &[List::Middle],
            Some(2) => &[List::Pending, List::Old],
            Some(g) => panic!("generation {g} out of range (0..=2)"),
        };
        self.state()
            .all_objects(lists)
            .into_iter()
            .map(GcAny::from_obj_cloned)
            .collect()
    }

    /// Collection statistics per generation (CPython's `gc.get_stats()`).
    pub fn get_stats(&self) -> [GenerationStats; GENERATIONS] {
        *self.state().stats.borrow()
    }

    /// Moves every tracked object to the permanent generation, which collections
    /// never examine (CPython's `gc.freeze()`).
    pub fn freeze(&self) {
        let s = self.state();
        for list in [List::Young, List::Middle, List::Pending, List::Old] {
            for first in s.chains(list) {
                let mut cur = Some(first);
                while let Some(obj) = cur {
                    // Read the link before the move rewrites it.
                    cur = obj.next_in_list();
                    s.move_to(obj, List::Permanent);
                }
            }
        }
        s.count[0].set(0);
    }

    /// Moves the permanent generation back into generation 2, to be examined by the
    /// next full collection (CPython's `gc.unfreeze()`).
    pub fn unfreeze(&self) {
        let s = self.state();
        while let Some(obj) = s.head(List::Permanent).get() {
            s.move_to(obj, List::Pending);
        }
    }

    /// Number of objects in the permanent generation (CPython's `gc.get_freeze_count()`).
    pub fn get_freeze_count(&self) -> usize {
        self.state().lens[List::Permanent as usize].get()
    }

    /// Registers `f` to run at [`shutdown`](Heap::shutdown), before the final
    /// collections; hooks run in reverse order of registration (as `atexit`).
    /// Returns an id for [`cancel_at_exit`](Heap::cancel_at_exit).
    pub fn at_exit(&self, f: impl FnOnce() + 'static) -> ExitHookId {
        let s = self.state();
        let id = s.fresh_id();
        s.exit_hooks.borrow_mut().push((id, Box::new(f)));
        ExitHookId(id)
    }

    /// Unregisters an exit hook; returns whether it was still registered.
    pub fn cancel_at_exit(&self, id: ExitHookId) -> bool {
        let mut hooks = self.state().exit_hooks.borrow_mut();
        let before = hooks.len();
        hooks.retain(|(i, _)| *i != id.0);
        hooks.len() != before
    }

    /// Registers a function called at the start and the stop of each collection
    /// (CPython's `gc.callbacks`). Returns an id for
    /// [`remove_collect_callback`](Heap::remove_collect_callback).
    ///
    /// A collection requested while the callbacks run (a callback calling
    /// [`collect`](Heap::collect), or allocating past a threshold) is skipped: it
    /// returns [`CollectStats::skipped`] set, as `gc.collect()` returns 0 from a
    /// CPython callback. A [`shutdown`](Heap::shutdown) requested at `Stop` runs
    /// (with its final collections); at `Start` it panics.
    pub fn add_collect_callback(
        &self,
        f: impl Fn(CollectPhase, &CollectInfo) + 'static,
    ) -> CallbackId {
        let s = self.state();
        let id = s.fresh_id();
        s.collect_callbacks.borrow_mut().push((id, Rc::new(f)));
        CallbackId(id)
    }

    /// Unregisters a collection callback (or a garbage callback); returns whether it
    /// was registered.
    pub fn remove_collect_callback(&self, id: CallbackId) -> bool {
        let s = self.state();
        let before = s.collect_callbacks.borrow().len() + s.garbage_callbacks.borrow().len();
        s.collect_callbacks.borrow_mut().retain(|(i, _)| *i != id.0);
        s.garbage_callbacks.borrow_mut().retain(|(i, _)| *i != id.0);
        let after = s.collect_callbacks.borrow().len() + s.garbage_callbacks.borrow().len();
        after != before
    }

    /// Registers a function told, once per collection, which objects the collection
    /// is about to destroy (or, with `DEBUG_SAVEALL`, to keep in
    /// [`garbage`](Heap::garbage)): their type names and ids, after finalizers and
    /// the resurrection check. It gets no handles, so it cannot keep them alive; it
    /// is what CPython's `DEBUG_COLLECTABLE` prints. Unregister with
    /// [`remove_collect_callback`](Heap::remove_collect_callback).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap, Traverse};
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// #[derive(Traverse)]
    /// struct Node { me: RefCell<Option<Gc<Node>>> }
    ///
    /// let heap = Heap::new();
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// heap.add_garbage_callback(move |objs| s.borrow_mut().extend(objs.iter().map(|o| o.type_name)));
    /// let n = heap.alloc(Node { me: RefCell::new(None) });
    /// *n.me.borrow_mut() = Some(n.clone());
    /// drop(n);
    /// heap.collect();
    /// assert_eq!(seen.borrow().len(), 1);
    /// assert!(seen.borrow()[0].ends_with("Node"));
    /// ```
    pub fn add_garbage_callback(&self, f: impl Fn(&[GarbageObject]) + 'static) -> CallbackId {
        let s = self.state();
        let id = s.fresh_id();
        s.garbage_callbacks.borrow_mut().push((id, Rc::new(f)));
        CallbackId(id)
    }

    /// CPython's `DEBUG_SAVEALL`: when on, objects found unreachable are kept alive in
    /// [`garbage`](Heap::garbage) instead of being destroyed.
    pub fn set_save_all(&self, on: bool) {
        self.state().save_all.set(on)
    }

    /// Whether `DEBUG_SAVEALL` is on.
    pub fn save_all(&self) -> bool {
        self.state().save_all.get()
    }

    /// The objects kept by `DEBUG_SAVEALL` (CPython's `gc.garbage`).
    pub fn garbage(&self) -> Vec<GcAny> {
        self.state().garbage.borrow().clone()
    }

    /// Empties [`garbage`](Heap::garbage), releasing the heap's references to those
    /// objects (a later collection can then free them).
    pub fn clear_garbage(&self) {
        let taken = core::mem::take(&mut *self.state().garbage.borrow_mut());
        drop(taken);
    }

    /// Whether the heap has been shut down (or is shutting down).
    pub fn is_shut_down(&self) -> bool {
        self.state().life.get() != Life::Running
    }

    /// Shuts the heap down: the defined teardown sequence.
    ///
    /// 1. Exit hooks run, last registered first.
    /// 2. The heap collects until a collection frees nothing.
    /// 3. Every object still alive is listed in the leak report (with its type, its
    ///    strong count and the references into it that traversals account for), has
    ///    its finalizer run (each finalizer runs exactly once by the end of shutdown,
    ///    for collected and leaked objects alike), and is detached from the heap: its
    ///    handles become dead (deref panics with a message naming heap shutdown) and
    ///    its value is destroyed when its last handle is dropped. (Destroying it
    ///    right away would be unsound: a `&T` borrowed from an outside handle may
    ///    still be in use.)
    /// 4. Further allocation fails with [`AllocError`].
    ///
    /// Calling it again returns the first call's report. Leaves (untracked values)
    /// belong to no heap and are not affected.
    ///
    /// # Panics
    /// If one of the heap's collections is running: called from a finalizer or a
    /// `Drop` the collector runs, or from a collection callback at
    /// [`CollectPhase::Start`]. From a callback at
    /// `Stop`, or from a weak-reference callback (both run once the collection is
    /// over), the shutdown runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap};
    ///
    /// let heap = Heap::new();
    /// let kept = heap.alloc(vec![heap.alloc(1u8)]);
    /// let report = heap.shutdown();
    /// assert_eq!(report.leaks.len(), 1);
    /// assert!(Gc::try_deref(&kept).is_err());
    /// ```
    pub fn shutdown(&self) -> ShutdownReport {
        crate::shutdown::shutdown(self)
    }
}

/// Identifies an exit hook registered with [`Heap::at_exit`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExitHookId(u64);

/// Identifies a collection callback registered with [`Heap::add_collect_callback`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallbackId(u64);

/// The thread's default heap; shut down when the thread exits.
struct DefaultHeap(Heap);

impl Drop for DefaultHeap {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

thread_local! {
    static DEFAULT_HEAP: DefaultHeap = DefaultHeap(Heap::new());
}

/// Runs `f` with this thread's default heap, or fails if the thread is exiting and the
/// heap is gone.
pub(crate) fn with_default_heap<R>(
    f: impl FnOnce(&Heap) -> R,
) -> Result<R, std::thread::AccessError> {
    DEFAULT_HEAP.try_with(|h| f(&h.0))
}

/// Runs `f` with this thread's default heap, borrowed (the free functions: no
/// handle is cloned and dropped around the call).
///
/// # Panics
/// If the thread is exiting and its default heap is gone.
fn on_default_heap<R>(f: impl FnOnce(&Heap) -> R) -> R {
    with_default_heap(f).expect("the thread's default heap has been shut down")
}

/// Runs a full collection of this thread's default heap; see [`Heap::collect`].
///
/// # Examples
///
/// ```
/// use gc_core::{collect, Gc, Traverse};
/// use std::cell::RefCell;
///
/// #[derive(Traverse)]
/// struct Node { me: RefCell<Option<Gc<Node>>> }
///
/// let n = Gc::new(Node { me: RefCell::new(None) });
/// *n.me.borrow_mut() = Some(n.clone()); // a self-cycle
/// drop(n);
/// assert_eq!(collect().collected, 1);
/// ```
pub fn collect() -> CollectStats {
    on_default_heap(Heap::collect)
}

/// Collects generations `0..=generation` of the default heap; see
/// [`Heap::collect_generation`].
pub fn collect_generation(generation: usize) -> CollectStats {
    on_default_heap(|h| h.collect_generation(generation))
}

/// Turns automatic collection of the default heap on.
pub fn enable() {
    on_default_heap(Heap::enable)
}

/// Turns automatic collection of the default heap off.
pub fn disable() {
    on_default_heap(Heap::disable)
}

/// Whether automatic collection of the default heap is on.
pub fn is_enabled() -> bool {
    on_default_heap(Heap::is_enabled)
}

/// The default heap's counts; see [`Heap::get_count`].
pub fn get_count() -> (usize, usize, usize) {
    on_default_heap(Heap::get_count)
}

/// The default heap's thresholds; see [`Heap::get_threshold`].
pub fn get_threshold() -> (usize, usize, usize) {
    on_default_heap(Heap::get_threshold)
}

/// Sets the default heap's thresholds; see [`Heap::set_threshold`].
pub fn set_threshold(t0: usize, t1: usize, t2: usize) {
    on_default_heap(|h| h.set_threshold(t0, t1, t2))
}

/// Runs the collection callbacks (user code) for one phase; their panics propagate
/// after the collection has restored the heap.
pub(crate) fn collect_callbacks(state: &HeapState) -> Vec<CollectCallback> {
    state
        .collect_callbacks
        .borrow()
        .iter()
        .map(|(_, f)| f.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visitor::Visitor;

    struct Node(RefCell<Option<Gc<Node>>>);

    // SAFETY: reports the one handle the node owns, once.
    unsafe impl Traverse for Node {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            self.0.traverse(visitor);
        }
    }

    fn flags(heap: &Heap) -> [bool; 2] {
        let s = heap.state();
        [s.has_suspects(List::Young), s.has_suspects(List::Middle)]
    }

    /// The suspect chains follow the suspects through their lists: a first lost
    /// reference moves an object to its list's suspects, a collection takes them,
    /// and a suspect that survives into the middle generation joins that list's
    /// suspects. (Debug builds also check, at every collection, that no suspect is
    /// off its list's suspect chain.)
    #[test]
    fn suspect_chains_track_the_young_lists() {
        let heap = Heap::new();
        heap.disable();
        let a = heap.alloc(Node(RefCell::new(None)));
        let b = heap.alloc(Node(RefCell::new(Some(a.clone()))));
        assert_eq!(flags(&heap), [false, false], "no reference was lost");
        drop(a); // `b` still holds it: a lost reference
        assert_eq!(flags(&heap), [true, false]);
        assert_eq!(heap.collect_generation(0).candidates, 1);
        // The suspect survived into the middle generation, still a suspect.
        assert_eq!(flags(&heap), [false, true]);
        assert_eq!(heap.collect_generation(0).candidates, 0);
        assert_eq!(heap.collect_generation(1).candidates, 1);
        assert_eq!(flags(&heap), [false, false]);
        drop(b);
    }

    /// A first lost reference moves a young object to its list's suspects (first,
    /// middle and last objects here, so the list's chain is cut at both ends and
    /// inside). `promote_unexamined` without splicing moves the suspects to the
    /// destination's suspects, or on the way to `Old` to `Pending`, then relabels
    /// the rest of the list in place and puts it on its destination whole, in its
    /// order. Then lost references
    /// move objects from inside, the front and the end of `Old` to `Pending`
    /// (`mark_pending`, one fused move each).
    #[test]
    fn promotion_relabels_in_place_and_sends_suspects_to_pending() {
        let heap = Heap::new();
        heap.disable();
        let s = heap.state();
        let already_old = heap.alloc(Node(RefCell::new(None)));
        heap.collect(); // `Old`: the chain goes in front of it
        let nodes: Vec<_> = (0..7)
            .map(|_| heap.alloc(Node(RefCell::new(None))))
            .collect();
        // Young lists are linked at the front: list order is nodes[6], ..., nodes[0].
        for i in [0, 3, 6] {
            drop(nodes[i].clone()); // a lost reference: a suspect
        }
        let on = |list| s.all_objects(&[list]);
        let obj = |i: usize| nodes[i].obj();
        // The list's chain, then its suspects (each moved to their front).
        assert_eq!(on(List::Young), [5, 4, 2, 1, 6, 3, 0].map(obj).to_vec());
        assert_eq!(s.suspects(List::Young).get(), Some(obj(6)));
        assert_eq!(obj(6).label(), List::Young as u32);
        assert_eq!(s.lens[List::Young as usize].get(), 7);
        #[cfg(debug_assertions)]
        s.check_labels();
        assert_eq!(s.promote_unexamined(List::Young, List::Middle, false), 7);
        assert_eq!(s.lens[List::Middle as usize].get(), 7);
        assert!(s.has_suspects(List::Middle));
        assert!(nodes.iter().all(|n| n.obj().list() == List::Middle));
        assert_eq!(on(List::Middle), [5, 4, 2, 1, 0, 3, 6].map(obj).to_vec());
        #[cfg(debug_assertions)]
        s.check_labels();

        assert_eq!(s.promote_unexamined(List::Middle, List::Old, false), 7);
        assert_eq!(on(List::Pending), vec![obj(6), obj(3), obj(0)]);
        assert_eq!(
            on(List::Old),
            vec![obj(5), obj(4), obj(2), obj(1), already_old.obj()]
        );
        assert_eq!(s.lens[List::Old as usize].get(), 5);
        assert_eq!(s.lens[List::Pending as usize].get(), 3);
        assert_eq!(s.lens[List::Middle as usize].get(), 0);
        #[cfg(debug_assertions)]
        s.check_labels();
        // A lost reference to an object with the fixed `Old` label moves it to the
        // front of `Pending` (`mark_pending`), from inside the list.
        assert_eq!(obj(4).label(), List::Old as u32);
        drop(nodes[4].clone());
        assert_eq!(on(List::Pending), vec![obj(4), obj(6), obj(3), obj(0)]);
        assert_eq!(
            on(List::Old),
            vec![obj(5), obj(2), obj(1), already_old.obj()]
        );
        assert_eq!(s.lens[List::Old as usize].get(), 4);
        assert_eq!(s.lens[List::Pending as usize].get(), 4);
        #[cfg(debug_assertions)]
        s.check_labels();
        // The same from the front of `Old` and from its end.
        drop(nodes[5].clone());
        drop(already_old.clone());
        assert_eq!(
            on(List::Pending),
            vec![already_old.obj(), obj(5), obj(4), obj(6), obj(3), obj(0)]
        );
        assert_eq!(on(List::Old), vec![obj(2), obj(1)]);
        assert_eq!(s.lens[List::Old as usize].get(), 2);
        assert_eq!(s.lens[List::Pending as usize].get(), 6);
        #[cfg(debug_assertions)]
        s.check_labels();
        // The lists still work: every node is found again, nothing is garbage.
        assert_eq!(heap.collect().collected, 0);
        drop(nodes);
        drop(already_old);
        assert_eq!(heap.tracked_count(), 0);
    }
}
