//! Object memory: the GC header, allocation, the intrusive generation lists and the
//! reference-count release path. Together with `handle.rs` (which turns a checked
//! header into `&T`) this is where the crate's `unsafe` code lives; everything else is
//! written against the safe [`ObjPtr`] API below.
//!
//! # Layout
//!
//! Every object is one block of memory from pools (`pool.rs`; large ones fall
//! through to the global allocator): its heap's if it is tracked, its thread's leaf
//! pools if it is an untracked object whose handles stay on the thread (`Gc::new`,
//! a single-threaded heap's `alloc`; [`Memory`]). A thread-safe heap's leaves, and
//! leaves made while the thread's destructors run, come from the global allocator.
//! A handle points at its [`RcHeader`]:
//!
//! ```text
//!   tracked, allocated with an owning type:
//!   [ owner: 8 ][ GcLinks: next, prev = 16 ][ RcHeader: vtable, strong, weak|flags = 16 ][ value ]
//!   tracked:            [ GcLinks = 16 ][ RcHeader = 16 ][ value ]
//!   untracked (leaf):                   [ RcHeader = 16 ][ value ]
//!                                       ^ handle
//! ```
//!
//! The value sits at `round_up(16, align_of::<T>())` bytes after the `RcHeader` in all
//! three layouts, so typed code finds it without knowing the prefix; the prefix is
//! found at fixed negative offsets, and its presence is recorded in the flags
//! (`TRACKED`, `OWNED`). The header of an untracked object is 16 bytes (`Rc`'s size);
//! a tracked object pays 16 more for the collector's links. Its heap is found through
//! its vtable pointer, which points to a per-heap copy of its type's vtable
//! ([`HeapVTable`]).
//!
//! # Counts and lifetime
//!
//! * `strong`: the number of strong handles ([`Gc`](crate::Gc), `GcAny`, the owner slot
//!   of instances, and the collector's own pins during a collection).
//! * `weak`: the number of [`Weak`](crate::Weak) handles **plus one while the value has
//!   not been destroyed** (the implicit weak reference of `Rc`).
//! * The value is destroyed at most once: when `strong` reaches zero, or by the
//!   collector (garbage), which sets `DEAD` first so that the remaining handles know.
//! * The allocation is freed exactly when `strong == 0 && weak == 0`, by whoever makes
//!   the last decrement. So memory is never released while any handle can reach it:
//!   a handle to a destroyed object reads a valid header that says `DEAD`.

use core::any::TypeId;
use core::cell::{Cell, RefCell};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use std::alloc::Layout;

use crate::heap::HeapState;
use crate::pool::{Pools, PoolsHandle};
use crate::traverse::Traverse;
use crate::visitor::Visitor;

/// Per-type operations, one static table per `T`.
#[derive(Copy, Clone)]
pub(crate) struct VTable {
    pub(crate) type_name: fn() -> &'static str,
    pub(crate) type_id: fn() -> TypeId,
    pub(crate) value_layout: Layout,
    /// Offset of the value from the `RcHeader`.
    pub(crate) value_offset: usize,
    /// `T::TRUSTED_TRAVERSE`.
    pub(crate) trusted_traverse: bool,
    /// Allocation layout and header offset for each prefix: none (untracked), the
    /// collector links (tracked), links and owner slot (tracked with an owner).
    layouts: [(Layout, usize); 3],
    /// The pool class (`pool::class_of`) of each of `layouts`, computed once for the
    /// allocation path (freeing computes it from the layout: as cheap as the load).
    pool_classes: [Option<usize>; 3],
    traverse: unsafe fn(NonNull<RcHeader>, &mut Visitor<'_>),
    prefetch: unsafe fn(NonNull<RcHeader>),
    finalize: Option<unsafe fn(NonNull<RcHeader>)>,
    drop_value: unsafe fn(NonNull<RcHeader>),
}

/// The value's offset from the `RcHeader`: the header's 16 bytes, rounded up to the
/// value's alignment.
pub(crate) const fn value_offset(align: usize) -> usize {
    let h = core::mem::size_of::<RcHeader>();
    h.div_ceil(align) * align
}

/// The value of the object whose header `rc` points to, as a `T`.
///
/// # Safety
/// `rc` must point to the `RcHeader` of a live object whose value has type `T` and has
/// not been destroyed, and the value must stay so while the reference is used.
#[inline(always)]
unsafe fn value_ref<'a, T>(rc: NonNull<RcHeader>) -> &'a T {
    // Why this is sound: the caller guarantees the value is a live `T`; `value_offset` is where
    // `alloc_object::<T>` put it.
    // SAFETY: the guarantees just stated.
    unsafe {
        rc.byte_add(value_offset(align_of::<T>()))
            .cast::<T>()
            .as_ref()
    }
}

/// # Safety
/// As for [`value_ref`].
unsafe fn traverse_erased<T: Traverse>(rc: NonNull<RcHeader>, visitor: &mut Visitor<'_>) {
    // SAFETY: passed on from our caller.
    unsafe { value_ref::<T>(rc) }.traverse(visitor);
}

/// # Safety
/// As for [`value_ref`].
unsafe fn prefetch_erased<T: Traverse>(rc: NonNull<RcHeader>) {
    // SAFETY: passed on from our caller.
    unsafe { value_ref::<T>(rc) }.prefetch();
}

/// # Safety
/// As for [`value_ref`].
unsafe fn finalize_erased<T: Traverse>(rc: NonNull<RcHeader>) {
    // SAFETY: passed on from our caller.
    unsafe { value_ref::<T>(rc) }.finalize();
}

/// # Safety
/// `rc` must point to the header of an object whose value is a live `T`, that nobody
/// borrows and that is never used again after this call.
unsafe fn drop_value_erased<T: Traverse>(rc: NonNull<RcHeader>) {
    let value = rc
        .as_ptr()
        .wrapping_byte_add(value_offset(align_of::<T>()))
        .cast::<T>();
    // SAFETY: the caller guarantees the value is live, unborrowed and never used again.
    unsafe { core::ptr::drop_in_place(value) };
}

/// The static vtable of `T`.
pub(crate) trait HasVTable {
    const VTABLE: &'static VTable;
}

impl<T: Traverse + 'static> HasVTable for T {
    const VTABLE: &'static VTable = &VTable {
        type_name: core::any::type_name::<T>,
        type_id: TypeId::of::<T>,
        value_layout: Layout::new::<T>(),
        value_offset: value_offset(align_of::<T>()),
        trusted_traverse: T::TRUSTED_TRAVERSE,
        layouts: layouts_of(Layout::new::<T>()),
        pool_classes: pool_classes_of(layouts_of(Layout::new::<T>())),
        traverse: traverse_erased::<T>,
        prefetch: prefetch_erased::<T>,
        finalize: if T::HAS_FINALIZER {
            Some(finalize_erased::<T>)
        } else {
            None
        },
        drop_value: drop_value_erased::<T>,
    };
}

/// The vtable of a tracked object: its type's operations and the heap it belongs to.
///
/// There is one per heap and type in use (`vtables.rs`), and none is ever freed: when
/// a heap is dropped, its entries go to a process-wide pool and are reused for the
/// same type by later heaps. An object that outlives its heap (orphaned, or destroyed
/// with handles left) never asks for its heap, only for its type's operations, which
/// every entry of that type holds. Keeping the heap here instead of in each object
/// saves 8 bytes per tracked object.
#[repr(C)]
pub(crate) struct HeapVTable {
    /// First, so that a pointer to the entry is a pointer to its `VTable`.
    vtable: VTable,
    heap: AtomicPtr<HeapState>,
}

impl HeapVTable {
    pub(crate) fn new(vtable: &'static VTable) -> HeapVTable {
        HeapVTable {
            vtable: *vtable,
            heap: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// The type's static vtable this entry copies is the one at `base`.
    pub(crate) fn is_copy_of(&self, base: &VTable) -> bool {
        (self.vtable.type_id)() == (base.type_id)()
    }

    /// Gives the entry to `heap` (null: to nobody, back in the pool).
    pub(crate) fn set_heap(&self, heap: *const HeapState) {
        self.heap.store(heap.cast_mut(), Ordering::Relaxed);
    }
}

/// The part of the header every object has.
#[repr(C)]
pub(crate) struct RcHeader {
    /// The type's static `VTable` (untracked objects), or a `HeapVTable` of the
    /// object's heap (tracked objects). Either is never freed.
    vtable: NonNull<VTable>,
    /// Bits 0–30: strong handles (including the collector's pins). Zero iff the value
    /// has been or is being destroyed by reference counting (a collector-destroyed
    /// object may keep a non-zero count: its remaining handles are dead).
    /// Bit 31: [`SUSPECT`].
    strong: Cell<u32>,
    /// `weak << FLAG_BITS | flags`; see the module docs for what `weak` counts.
    weak_flags: Cell<u32>,
}

/// The collector's part of a tracked object's header.
#[repr(C)]
pub(crate) struct GcLinks {
    /// Next object in the generation list; during a collection, `gc_refs` stored as a
    /// provenance-free address.
    next: Cell<*const RcHeader>,
    /// Previous object in the generation list (null for the list's first object).
    prev: Cell<*const RcHeader>,
}

const LINKS_SIZE: usize = core::mem::size_of::<GcLinks>();
const OWNER_SIZE: usize = core::mem::size_of::<*const RcHeader>();

/// Which list a tracked object is on.
///
/// An object's flags hold a 5-bit *label* (bits 0–4), not the list itself. Labels
/// below [`FIRST_SEGMENT`] are fixed: the label is the list (the young lists' fixed
/// labels are carried by their suspects only). The others are *segments*, which the
/// heap maps to `Young`, `Middle` or `Old` (`segments.rs`): the young lists each
/// carry one segment, so a whole young list moves to `Old` by changing one table
/// entry instead of every object's label.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum List {
    /// Generation 0: allocated since the last young collection.
    Young = 0,
    /// Generation 1: survived one young collection.
    Middle = 1,
    /// Generation 2, not yet examined by a full collection since it arrived or since
    /// a reference to it was dropped (CPython has no such list: it rescans all of
    /// generation 2; we examine only these and what they reach).
    Pending = 2,
    /// Generation 2, found reachable by a full collection and untouched since.
    Old = 3,
    /// The permanent generation (`freeze`): never examined.
    Permanent = 4,
    /// In the set of the running collection (not linked; its `next` holds `gc_refs`).
    Collecting = 5,
    /// Found unreachable by the running collection (not linked).
    Unreachable = 6,
    /// Not on any list: untracked, being destroyed, destroyed, or orphaned.
    Detached = 7,
}

impl List {
    pub(crate) const LINKED: [List; 5] = [
        List::Young,
        List::Middle,
        List::Pending,
        List::Old,
        List::Permanent,
    ];

    /// The list of a fixed label (below [`FIRST_SEGMENT`]). Labels 0 and 1 are the
    /// suspects of `Young` and `Middle` (`HeapState::suspects`: the rest of a young
    /// list carries its segment's label); label 7 is `Detached`.
    #[inline]
    pub(crate) fn from_fixed_label(label: u32) -> List {
        debug_assert!(label < FIRST_SEGMENT);
        match label {
            0 => List::Young,
            1 => List::Middle,
            2 => List::Pending,
            3 => List::Old,
            4 => List::Permanent,
            5 => List::Collecting,
            6 => List::Unreachable,
            _ => List::Detached,
        }
    }

    /// Whether this is one of the linked lists (`LINKED`).
    #[inline]
    pub(crate) fn is_linked(self) -> bool {
        let linked = (self as u8) < List::Collecting as u8;
        debug_assert_eq!(linked, List::LINKED.contains(&self));
        linked
    }

    /// Whether objects on this list carry the list as their label (all but the young
    /// lists).
    #[inline]
    pub(crate) fn is_fixed(self) -> bool {
        !matches!(self, List::Young | List::Middle)
    }
}

/// The label bits of the flags. An untracked object is on no list: its label bits
/// are 0, or [`LEAF_POOLED`].
pub(crate) const LABEL_MASK: u32 = 0b11111;
/// Labels from here on are segments (see [`List`]).
pub(crate) const FIRST_SEGMENT: u32 = 8;
/// The number of labels.
pub(crate) const LABELS: usize = 32;

/// Bit 31 of the strong word: the object lost a strong reference without being freed
/// since a collection last verified it (Bacon and Rajan's "purple"). Only read on
/// tracked objects of the young generations, whose suspects seed young collections
/// (see `collect/mod.rs`); kept beside the count so that a handle drop sets it with
/// the same store that decrements.
const SUSPECT: u32 = 1 << 31;
/// The strong count's bits.
const COUNT_MASK: u32 = !SUSPECT;
/// The largest strong count.
pub(crate) const MAX_STRONG: u32 = COUNT_MASK;
/// The object has a `GcLinks` prefix and belongs to a heap.
pub(crate) const TRACKED: u32 = 1 << 5;
/// The object has an owner slot (allocated with an owning type).
pub(crate) const OWNED: u32 = 1 << 6;
/// The finalizer has run (or started); it never runs again.
pub(crate) const FINALIZED: u32 = 1 << 7;
/// The value has been destroyed, or is being destroyed: deref panics.
pub(crate) const DEAD: u32 = 1 << 8;
/// The heap shut down while the object was still referenced: deref panics, the value
/// is destroyed when the last strong handle goes, without touching the heap.
pub(crate) const ORPHAN: u32 = 1 << 9;
/// Weak references were cleared (the object was found unreachable): `upgrade` fails.
pub(crate) const WEAK_CLEARED: u32 = 1 << 10;
/// Weak-reference callbacks are registered in the heap for this object.
pub(crate) const HAS_CALLBACKS: u32 = 1 << 11;
const FLAG_BITS: u32 = 12;
const FLAG_MASK: u32 = (1 << FLAG_BITS) - 1;
/// The largest weak count (the implicit one included).
pub(crate) const MAX_WEAK: u32 = u32::MAX >> FLAG_BITS;

/// A pointer to an object's `RcHeader`.
///
/// Invariant: an `ObjPtr` is only used while its allocation is kept alive, by a strong
/// or weak count its holder owns, or by membership of a heap list or a collection's
/// set (objects there have `strong > 0`). Every method relies on that; [`dealloc`]
/// (the one way memory is released) is `unsafe` and states the rest.
///
/// [`dealloc`]: ObjPtr::dealloc
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ObjPtr(NonNull<RcHeader>);

impl core::fmt::Debug for ObjPtr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}@{:p}", (self.vtable().type_name)(), self.0)
    }
}

/// The layout of an object with the given prefix and value layout, and the offset of
/// its `RcHeader` in it. Evaluated at compile time for each type (`VTable::layouts`).
const fn object_layout(prefix: usize, value: Layout) -> (Layout, usize) {
    let align = if value.align() > align_of::<RcHeader>() {
        value.align()
    } else {
        align_of::<RcHeader>()
    };
    // The RcHeader offset must be a multiple of the value's alignment so that the
    // value lands at a fixed offset from the header (see `value_offset`).
    let header_at = prefix.div_ceil(align) * align;
    let size = header_at + value_offset(value.align()) + value.size();
    let layout = match Layout::from_size_align(size, align) {
        Ok(l) => l.pad_to_align(),
        Err(_) => panic!("object too large"),
    };
    (layout, header_at)
}

/// `VTable::layouts` for a value of this layout.
const fn layouts_of(value: Layout) -> [(Layout, usize); 3] {
    [
        object_layout(0, value),
        object_layout(LINKS_SIZE, value),
        object_layout(LINKS_SIZE + OWNER_SIZE, value),
    ]
}

/// `VTable::pool_classes` for these layouts.
const fn pool_classes_of(layouts: [(Layout, usize); 3]) -> [Option<usize>; 3] {
    [
        crate::pool::class_of(layouts[0].0),
        crate::pool::class_of(layouts[1].0),
        crate::pool::class_of(layouts[2].0),
    ]
}

/// Whether tracked objects take their memory from their heap's pools (`pool.rs`).
/// Always, except under Miri without `--cfg gc_miri_pools`: there each object is its
/// own allocation, so that Miri reports a use of an object after it was freed (in a
/// pool the block stays inside a live chunk, which Miri cannot tell from a valid
/// use). CI runs the suite under Miri both ways.
pub(crate) const POOLED: bool = !cfg!(miri) || cfg!(gc_miri_pools);

/// The label bits of an untracked object (which is on no list, so they are otherwise
/// 0): its memory came from its thread's leaf pools ([`Memory::ThreadLeaf`]).
const LEAF_POOLED: u32 = 1;

/// Whether an object with these flags took its memory from pools (its heap's, or for a
/// leaf its thread's): `dealloc` gives it back there.
#[inline]
fn is_pooled(flags: u32) -> bool {
    POOLED && (flags & TRACKED != 0 || flags & LABEL_MASK == LEAF_POOLED)
}

thread_local! {
    /// The pools of this thread's leaves ([`Memory::ThreadLeaf`]). Dropped at thread
    /// exit; leaves still alive then keep them until the last is freed (`pool.rs`).
    static LEAF_POOLS: PoolsHandle = PoolsHandle::new();
}

impl ObjPtr {
    /// Whether this is an untracked object whose memory came from its thread's leaf
    /// pools.
    #[cfg(test)]
    pub(crate) fn in_leaf_pools(self) -> bool {
        let flags = self.flags();
        flags & TRACKED == 0 && is_pooled(flags)
    }
}

/// Where [`alloc_uninit`] takes an object's memory from.
#[derive(Copy, Clone)]
pub(crate) enum Memory<'a> {
    /// A tracked object of the heap that owns this vtable entry: the heap's pools.
    Heap(&'static HeapVTable, &'a PoolsHandle),
    /// An untracked object whose handles never leave this thread (`Gc::new`, a
    /// single-threaded heap's `alloc`): this thread's leaf pools, or the global
    /// allocator once they are gone (while the thread's destructors run).
    ThreadLeaf,
    /// An untracked object whose handles may cross threads (a thread-safe heap's):
    /// the global allocator.
    Global,
}

/// Which of `VTable::layouts` an object with these flags uses.
fn layout_index(flags: u32) -> usize {
    match (flags & TRACKED != 0, flags & OWNED != 0) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    }
}

/// Allocates an object holding `value` with `strong = 1` (the returned handle's).
///
/// Tracked objects ([`Memory::Heap`]) get a `GcLinks` prefix; the caller links them
/// into a heap list. `owner`, if any, is a strong reference the object takes over
/// (released when the value is destroyed).
#[inline]
pub(crate) fn alloc_object<T: Traverse + 'static>(
    value: T,
    memory: Memory<'_>,
    owner: Option<ObjPtr>,
) -> ObjPtr {
    // SAFETY: the value is written right away, before the object is used otherwise.
    let obj = unsafe { alloc_uninit(T::VTABLE, memory, owner) };
    // Why this is sound: `obj` was allocated for a `T` (`T::VTABLE`) and its value
    // slot is uninitialized; `value_ptr::<T>` is in bounds and aligned for `T`.
    // SAFETY: the guarantees just stated.
    unsafe { obj.value_ptr::<T>().write(value) };
    obj
}

/// [`alloc_object`] without the value: allocates an object of the type whose vtable
/// is `vtable`, initializes everything but the value, and returns it.
///
/// Not generic, so that the value is stored once, straight into the object, by an
/// inlined caller: moving a value through the frames of the allocation path cost
/// store-forwarding stalls (16-byte loads of a value just written by 8-byte
/// stores), ~20% of W3's allocation time.
///
/// # Safety
/// The caller writes a value of `vtable`'s type at `value_ptr` before the object is
/// used in any other way (dereferenced, dropped, traversed, collected).
#[inline(always)] // Constant-folded for leaves (`alloc_object` of a known type).
pub(crate) unsafe fn alloc_uninit(
    vtable: &'static VTable,
    memory: Memory<'_>,
    owner: Option<ObjPtr>,
) -> ObjPtr {
    let heap = match memory {
        Memory::Heap(entry, _) => Some(entry),
        Memory::ThreadLeaf | Memory::Global => None,
    };
    let tracked = heap.is_some();
    debug_assert!(heap.is_none_or(|h| h.is_copy_of(vtable)));
    let mut flags = if tracked {
        TRACKED | List::Detached as u32
    } else {
        0
    };
    if owner.is_some() {
        debug_assert!(tracked, "objects with an owner are always tracked");
        flags |= OWNED;
    }
    let index = layout_index(flags);
    let (layout, header_at) = vtable.layouts[index];
    let class = vtable.pool_classes[index];
    // Tracked objects take their heap's pools, a thread's leaves (which belong to no
    // heap) the thread's pools; `dealloc` decides from the flags (`is_pooled`).
    let pooled = match memory {
        Memory::Heap(_, pools) if POOLED => Some(pools.alloc(layout, class)),
        Memory::ThreadLeaf if POOLED => {
            let block = LEAF_POOLS.try_with(|pools| pools.alloc(layout, class)).ok();
            if block.is_some() {
                flags |= LEAF_POOLED;
            }
            block
        }
        _ => None,
    };
    let base = pooled.unwrap_or_else(|| {
        // SAFETY: `layout` has a non-zero size (it contains the 16-byte header).
        let base = unsafe { std::alloc::alloc(layout) };
        NonNull::new(base).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
    });
    // Why this is sound: `header_at` is within the allocation (the header follows it) and the
    // pointer keeps the provenance of the whole allocation, so the prefix before it
    // and the value after it are reachable from it.
    // SAFETY: the guarantees just stated.
    let rc = unsafe { base.byte_add(header_at) }.cast::<RcHeader>();
    // Why this is sound: `rc` is in bounds, aligned to at least 8 (`header_at` is a multiple of
    // the allocation's alignment, which is at least 8) and the memory is ours.
    // SAFETY: the guarantees just stated.
    unsafe {
        rc.write(RcHeader {
            vtable: heap.map_or(NonNull::from(vtable), |h| NonNull::from(h).cast()),
            strong: Cell::new(1),
            weak_flags: Cell::new((1 << FLAG_BITS) | flags),
        })
    };
    let obj = ObjPtr(rc);
    if tracked {
        // SAFETY: tracked objects have a `GcLinks` prefix right before the header.
        unsafe {
            obj.links_ptr().write(GcLinks {
                next: Cell::new(core::ptr::null()),
                prev: Cell::new(core::ptr::null()),
            })
        };
    }
    if let Some(owner) = owner {
        // SAFETY: `OWNED` objects have an owner slot right before the links.
        unsafe { obj.owner_ptr().write(owner) };
    }
    obj
}

impl ObjPtr {
    #[inline]
    pub(crate) fn as_non_null(self) -> NonNull<RcHeader> {
        self.0
    }

    /// A pointer to the value (of type `T`, which the caller knows). The offset is a
    /// constant of `T` (the same in every layout, see the module docs), so no load
    /// from the vtable is needed: typed handles dereference as `Rc` does.
    #[inline]
    pub(crate) fn value_ptr<T>(self) -> NonNull<T> {
        let offset = const { value_offset(align_of::<T>()) };
        debug_assert_eq!(offset, self.vtable().value_offset, "value type mismatch");
        // Why this is sound: the value, a `T` (the caller's knowledge), lies
        // `value_offset(align_of::<T>())` bytes after the header whatever the prefix
        // (`object_layout`), within the allocation whose provenance `self.0` carries.
        // SAFETY: the guarantees just stated.
        unsafe { self.0.byte_add(offset) }.cast()
    }

    #[inline]
    fn header(&self) -> &RcHeader {
        // Why this is sound: by the type's invariant the allocation is live; the header is
        // initialised by `alloc_object` and only ever accessed through `Cell`s.
        // SAFETY: the guarantees just stated.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn links_ptr(self) -> NonNull<GcLinks> {
        debug_assert!(self.flags() & TRACKED != 0);
        // Why this is sound: tracked objects have their `GcLinks` right before the header, in
        // the same allocation; `self.0` carries the whole allocation's provenance.
        // SAFETY: the guarantees just stated.
        unsafe { self.0.byte_sub(LINKS_SIZE) }.cast()
    }

    #[inline]
    fn links(&self) -> &GcLinks {
        assert!(
            self.is_tracked(),
            "collector links requested for an untracked object"
        );
        // Why this is sound: checked above that the prefix exists; it was initialised by
        // `alloc_object` and is only accessed through `Cell`s.
        // SAFETY: the guarantees just stated.
        unsafe { self.links_ptr().as_ref() }
    }

    /// The links of an object reached through a list: a neighbour read from another
    /// member's links, or a list's first object. Lists hold only tracked objects (an
    /// object gets on one through `link_front`, which checks it with [`links`], or in
    /// a chain of such objects when lists are spliced), so unlike [`links`] this does
    /// not test TRACKED again outside debug builds: it runs on every list operation,
    /// up to three times in one (a lost reference to an old object: two neighbours
    /// and the first object of `Pending`).
    ///
    /// [`links`]: ObjPtr::links
    #[inline]
    fn member_links(&self) -> &GcLinks {
        debug_assert!(self.is_tracked(), "an untracked object on a list");
        // Why this is sound: the object is on a list (the caller read it from list
        // links or a list head), so it is tracked, as stated above, and its prefix
        // exists; it was initialised by `alloc_object` and is only accessed through
        // `Cell`s.
        // SAFETY: the guarantees just stated.
        unsafe { self.links_ptr().as_ref() }
    }

    fn owner_ptr(self) -> NonNull<ObjPtr> {
        debug_assert!(self.flags() & OWNED != 0);
        // Why this is sound: owned objects have their owner slot right before the links, in the
        // same allocation.
        // SAFETY: the guarantees just stated.
        unsafe { self.0.byte_sub(LINKS_SIZE + OWNER_SIZE) }.cast()
    }

    /// The owning type's object, for objects allocated with one. The reference it
    /// stands for is released once, with the value (`release_value_refs`); callers
    /// use it only while the value is live.
    pub(crate) fn owner(self) -> Option<ObjPtr> {
        if self.flags() & OWNED == 0 {
            return None;
        }
        // Why this is sound: the slot exists (OWNED) and holds an `ObjPtr` written at allocation
        // and never written again.
        // SAFETY: the guarantees just stated.
        Some(unsafe { self.owner_ptr().read() })
    }

    #[inline]
    pub(crate) fn vtable(&self) -> &'static VTable {
        // Why this is sound: the pointer is to a static `VTable` or to the `VTable` at
        // the start of a `HeapVTable`, which is never freed (`HeapVTable`) and never
        // written except for its atomic `heap` field.
        // SAFETY: the guarantees just stated.
        unsafe { self.header().vtable.as_ref() }
    }

    /// The `HeapVTable` of a tracked object.
    ///
    /// # Panics
    /// If the object is not tracked.
    #[inline]
    fn heap_vtable(&self) -> &'static HeapVTable {
        assert!(self.is_tracked(), "heap vtable of an untracked object");
        // Why this is sound: a tracked object's vtable pointer was made from a
        // `&'static HeapVTable` (`alloc_object`), with the provenance of the whole
        // entry, and entries are never freed.
        // SAFETY: the guarantees just stated.
        unsafe { self.header().vtable.cast::<HeapVTable>().as_ref() }
    }

    pub(crate) fn type_name(self) -> &'static str {
        (self.vtable().type_name)()
    }

    #[inline]
    pub(crate) fn strong(self) -> u32 {
        self.header().strong.get() & COUNT_MASK
    }

    /// Whether the object lost a reference since a collection last verified it
    /// ([`SUSPECT`]); meaningful for tracked objects of the young generations.
    #[inline]
    pub(crate) fn is_suspect(self) -> bool {
        self.header().strong.get() & SUSPECT != 0
    }

    #[inline]
    pub(crate) fn clear_suspect(self) {
        let h = self.header();
        h.strong.set(h.strong.get() & COUNT_MASK);
    }

    /// The stored weak count (the implicit weak reference included).
    #[inline]
    pub(crate) fn weak_raw(self) -> u32 {
        self.header().weak_flags.get() >> FLAG_BITS
    }

    /// The number of weak handles: the stored count less the implicit weak
    /// reference that the strong handles share until the value is destroyed.
    #[inline]
    pub(crate) fn weak_count(self) -> usize {
        let implicit = u32::from(self.flags() & DEAD == 0);
        self.weak_raw().saturating_sub(implicit) as usize
    }

    #[inline]
    fn set_weak_raw(self, n: u32) {
        let h = self.header();
        h.weak_flags
            .set((n << FLAG_BITS) | (h.weak_flags.get() & FLAG_MASK));
    }

    #[inline]
    pub(crate) fn flags(self) -> u32 {
        self.header().weak_flags.get() & FLAG_MASK
    }

    #[inline]
    pub(crate) fn set_flag(self, flag: u32) {
        let h = self.header();
        h.weak_flags.set(h.weak_flags.get() | flag);
    }

    #[inline]
    pub(crate) fn clear_flag(self, flag: u32) {
        let h = self.header();
        h.weak_flags.set(h.weak_flags.get() & !flag);
    }

    #[inline]
    pub(crate) fn is_tracked(self) -> bool {
        self.flags() & TRACKED != 0
    }

    /// The object's label (see [`List`]).
    #[inline]
    pub(crate) fn label(self) -> u32 {
        self.flags() & LABEL_MASK
    }

    #[inline]
    pub(crate) fn set_label(self, label: u32) {
        debug_assert!(self.is_tracked() && label <= LABEL_MASK);
        let h = self.header();
        h.weak_flags.set((h.weak_flags.get() & !LABEL_MASK) | label);
    }

    /// The list the object is on. A segment label is looked up in the object's heap,
    /// so a thread-safe object's heap must be locked by the caller (as for every
    /// list operation).
    #[inline]
    pub(crate) fn list(self) -> List {
        let label = self.label();
        if label < FIRST_SEGMENT {
            List::from_fixed_label(label)
        } else {
            crate::heap::with_heap_of(self, |heap| heap.labels.list_of(label))
        }
    }

    /// Whether the object is on `list`, a list with a fixed label (no heap lookup).
    #[inline]
    pub(crate) fn is_on(self, list: List) -> bool {
        debug_assert!(list.is_fixed());
        self.label() == list as u32
    }

    /// Puts the object on a fixed-label list (`Collecting`, `Unreachable`,
    /// `Detached`), or relabels a linked object within `Old` (`segments.rs`).
    #[inline]
    pub(crate) fn set_list(self, list: List) {
        debug_assert!(list.is_fixed(), "{list:?} has no fixed label");
        self.set_label(list as u32);
    }

    /// The heap of a tracked object that is neither an orphan nor destroyed (for
    /// those, the entry may have passed to another heap: see [`HeapVTable`]).
    ///
    /// # Panics
    /// If the object is not tracked.
    #[inline]
    pub(crate) fn heap_ptr(self) -> *const HeapState {
        self.heap_vtable().heap.load(Ordering::Relaxed)
    }

    /// `gc_refs` of an object in a collection's set (kept in the `next` link).
    #[inline]
    pub(crate) fn gc_refs(self) -> usize {
        self.links().next.get().addr()
    }

    #[inline]
    pub(crate) fn set_gc_refs(self, n: usize) {
        self.links().next.set(core::ptr::without_provenance(n))
    }

    #[inline]
    pub(crate) fn next_in_list(self) -> Option<ObjPtr> {
        debug_assert!(!self.is_on(List::Collecting) && !self.is_on(List::Unreachable));
        NonNull::new(self.links().next.get().cast_mut()).map(ObjPtr)
    }

    /// The `prev` link of a linked object (list checks of debug builds, tests).
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn prev_in_list(self) -> Option<ObjPtr> {
        debug_assert!(!self.is_on(List::Collecting) && !self.is_on(List::Unreachable));
        NonNull::new(self.links().prev.get().cast_mut()).map(ObjPtr)
    }

    /// Sets the `next` link of a linked object (splicing lists).
    #[inline]
    pub(crate) fn set_next_in_list(self, next: Option<ObjPtr>) {
        self.links()
            .next
            .set(next.map_or(core::ptr::null(), |o| o.0.as_ptr()));
    }

    /// Sets the `prev` link of a linked object (splicing lists).
    #[inline]
    pub(crate) fn set_prev_in_list(self, prev: Option<ObjPtr>) {
        self.links()
            .prev
            .set(prev.map_or(core::ptr::null(), |o| o.0.as_ptr()));
    }

    /// With one load of the flags: the label of `self` (see [`List`]), if it is a
    /// live tracked object of `heap` (the collector's question for every reported
    /// handle).
    #[inline]
    pub(crate) fn label_in(self, heap: *const HeapState) -> Option<u32> {
        let f = self.flags();
        if f & (TRACKED | ORPHAN | DEAD) != TRACKED {
            return None;
        }
        // Why this is sound: TRACKED is set (checked above), so the vtable pointer was
        // made from a `&'static HeapVTable` (`alloc_object`), and entries are never
        // freed. (`heap_ptr` would check TRACKED again, on the collector's inner loop.)
        // SAFETY: the guarantees just stated.
        let entry = unsafe { self.header().vtable.cast::<HeapVTable>().as_ref() };
        if core::ptr::eq(entry.heap.load(Ordering::Relaxed), heap) {
            Some(f & LABEL_MASK)
        } else {
            None
        }
    }

    /// Decrements `gc_refs` of a member of a collection's set (`subtract_refs`) and
    /// returns the new value.
    ///
    /// # Panics
    /// If it is already zero: a `Traverse` impl reported a handle it does not own, or
    /// one handle twice.
    #[inline]
    pub(crate) fn decrement_gc_refs(self) -> usize {
        let refs = self.gc_refs();
        if refs == 0 {
            gc_refs_underflow(self);
        }
        self.set_gc_refs(refs - 1);
        refs - 1
    }

    /// Moves a member of a collection's set to `Unreachable` and sets `flags`, in one
    /// write.
    #[inline]
    pub(crate) fn mark_unreachable(self, flags: u32) {
        let h = self.header();
        h.weak_flags
            .set((h.weak_flags.get() & !LABEL_MASK) | List::Unreachable as u32 | flags);
    }

    /// Whether the object has a finalizer that has not run.
    #[inline]
    pub(crate) fn finalizer_pending(self) -> bool {
        self.flags() & FINALIZED == 0 && self.has_finalizer()
    }

    /// Forgets the previous link (the object is leaving its list wholesale).
    #[inline]
    pub(crate) fn clear_prev(self) {
        self.links().prev.set(core::ptr::null());
    }

    /// Links `self` at the front of the list whose first object is `*head`, with
    /// `label` (the list's, see [`List`]).
    #[inline]
    pub(crate) fn link_front(self, head: &Cell<Option<ObjPtr>>, label: u32) {
        self.put_front(self.links(), head);
        self.set_label(label);
    }

    /// Unlinks `self` from the list whose first object is `*head` (the list named by
    /// its label), leaving it `Detached`. Returns its former neighbours.
    #[inline]
    pub(crate) fn unlink(self, head: &Cell<Option<ObjPtr>>) -> (Option<ObjPtr>, Option<ObjPtr>) {
        debug_assert!(!self.is_on(List::Collecting) && !self.is_on(List::Unreachable));
        let links = self.links();
        let neighbours = self.take_out(links, head);
        links.next.set(core::ptr::null());
        links.prev.set(core::ptr::null());
        self.set_list(List::Detached);
        neighbours
    }

    /// Moves `self` from the list whose first object is `*from` to the front of the
    /// list whose first object is `*to` (another list), with `label`: [`unlink`] then
    /// [`link_front`], with one check of `self` and one write of its label. Returns
    /// its former neighbours.
    ///
    /// [`unlink`]: ObjPtr::unlink
    /// [`link_front`]: ObjPtr::link_front
    #[inline]
    pub(crate) fn move_to_front(
        self,
        from: &Cell<Option<ObjPtr>>,
        to: &Cell<Option<ObjPtr>>,
        label: u32,
    ) -> (Option<ObjPtr>, Option<ObjPtr>) {
        debug_assert!(!core::ptr::eq(from, to), "a move within one list");
        debug_assert!(!self.is_on(List::Collecting) && !self.is_on(List::Unreachable));
        let links = self.links();
        let neighbours = self.take_out(links, from);
        self.put_front(links, to);
        self.set_label(label);
        neighbours
    }

    /// Joins the neighbours of `self` (whose links are `links`) to each other, or
    /// makes its successor the first object of the list at `head`; `self`'s own links
    /// are left as they were. Returns the neighbours.
    #[inline]
    fn take_out(
        self,
        links: &GcLinks,
        head: &Cell<Option<ObjPtr>>,
    ) -> (Option<ObjPtr>, Option<ObjPtr>) {
        let next = NonNull::new(links.next.get().cast_mut()).map(ObjPtr);
        let prev = NonNull::new(links.prev.get().cast_mut()).map(ObjPtr);
        match prev {
            Some(p) => p.member_links().next.set(links.next.get()),
            None => {
                debug_assert_eq!(head.get(), Some(self), "list head does not match");
                head.set(next);
            }
        }
        if let Some(n) = next {
            n.member_links().prev.set(links.prev.get());
        }
        (prev, next)
    }

    /// Puts `self` (whose links are `links`) in front of the list at `head`.
    #[inline]
    fn put_front(self, links: &GcLinks, head: &Cell<Option<ObjPtr>>) {
        let old = head.get();
        links
            .next
            .set(old.map_or(core::ptr::null(), |o| o.0.as_ptr()));
        links.prev.set(core::ptr::null());
        if let Some(old) = old {
            old.member_links().prev.set(self.0.as_ptr());
        }
        head.set(Some(self));
    }

    /// Asks the CPU to start loading the object's first two cache lines (its header
    /// and the start of its value) without waiting for them: a hint, with no effect
    /// on what the program does. A no-op off x86_64 and under Miri.
    #[inline]
    pub(crate) fn prefetch(self) {
        prefetch_line(self.0.as_ptr().cast());
        prefetch_line(self.0.as_ptr().cast::<u8>().wrapping_add(64));
    }

    /// Calls the value's [`Traverse::prefetch`]: asks the CPU to start loading what
    /// its traversal will read outside the object. A hint.
    ///
    /// # Panics
    /// If the value has been destroyed (a collector bug: only live objects are
    /// traversed).
    #[inline]
    pub(crate) fn prefetch_value(self) {
        assert!(self.flags() & DEAD == 0, "prefetch of a destroyed object");
        // SAFETY: the value is live (not DEAD, checked above).
        unsafe { self.prefetch_intact_value() }
    }

    /// [`prefetch_value`](ObjPtr::prefetch_value) for a value that may be marked
    /// `DEAD` but is still intact (the garbage before its destruction).
    ///
    /// # Safety
    /// The value must not have been dropped.
    #[inline]
    pub(crate) unsafe fn prefetch_intact_value(self) {
        // Why this is sound: the caller guarantees the value is intact, and it has the
        // vtable's type.
        // SAFETY: the guarantees just stated.
        unsafe { (self.vtable().prefetch)(self.0) }
    }

    /// Asks the CPU to start loading the object's header (its first cache line): a
    /// hint, as for [`prefetch`](ObjPtr::prefetch).
    #[inline]
    pub(crate) fn prefetch_header(self) {
        prefetch_line(self.0.as_ptr().cast());
    }

    /// Asks the CPU to start loading what the collector's checks of a tracked object
    /// read (its list label in the flags, `gc_refs` in the links before the header):
    /// the cache lines from the links to the end of the header. A hint, as for
    /// [`prefetch`](ObjPtr::prefetch); for an untracked object the first address
    /// lies before its block, which a prefetch may name.
    #[inline]
    pub(crate) fn prefetch_links(self) {
        let header = self.0.as_ptr().cast::<u8>();
        prefetch_line(header.wrapping_sub(size_of::<GcLinks>()));
        prefetch_line(header.wrapping_add(size_of::<RcHeader>() - 1));
    }

    /// Appends the objects the value reports to `out`, without visiting the owner
    /// slot and without the check that the value is not `DEAD` (`delete_garbage`
    /// prefetches what the garbage still to be destroyed references).
    ///
    /// # Safety
    /// The value must not have been dropped (it may be marked `DEAD`: the garbage
    /// waiting for destruction is still intact).
    pub(crate) unsafe fn referents_into(self, heap: &HeapState, out: &mut Vec<ObjPtr>) {
        let mut visitor = Visitor::new(crate::visitor::Mode::Referents {
            out,
            sync_tag: heap.sync_tag.get(),
        });
        // SAFETY: passed on from our caller.
        unsafe { self.traverse_value(&mut visitor) };
    }

    /// Calls the value's `traverse` (the owner slot is not visited).
    ///
    /// # Safety
    /// The value must not have been dropped.
    #[inline]
    unsafe fn traverse_value(self, visitor: &mut Visitor<'_>) {
        // Why this is sound: the caller guarantees the value is intact, and it has the
        // vtable's type.
        // SAFETY: the guarantees just stated.
        unsafe { (self.vtable().traverse)(self.0, visitor) }
    }

    /// Calls the value's `traverse`, and visits the owner slot.
    ///
    /// # Panics
    /// If the value has been destroyed (a collector bug: only live objects are
    /// traversed).
    pub(crate) fn traverse(self, visitor: &mut Visitor<'_>) {
        assert!(self.flags() & DEAD == 0, "traverse of a destroyed object");
        if let Some(owner) = self.owner() {
            // Out of line: few objects have an owner, and this function is inlined
            // in the collector's loops.
            visitor.visit_obj_cold(owner);
        }
        // Why this is sound: the value is live (not DEAD, checked above; orphans are never
        // traversed by a collector and their values are live).
        // SAFETY: the guarantees just stated.
        unsafe { self.traverse_value(visitor) }
    }

    /// Runs the finalizer if the type has one and it has not run; returns whether it ran.
    pub(crate) fn finalize_once(self) -> bool {
        let Some(finalize) = self.vtable().finalize else {
            return false;
        };
        if self.flags() & (FINALIZED | DEAD) != 0 {
            return false;
        }
        self.set_flag(FINALIZED);
        // Why this is sound: the value is live (not DEAD) and has the vtable's type; `finalize`
        // only takes `&T`.
        // SAFETY: the guarantees just stated.
        unsafe { finalize(self.0) };
        true
    }

    pub(crate) fn has_finalizer(self) -> bool {
        self.vtable().finalize.is_some()
    }

    /// Adds a strong reference.
    ///
    /// # Panics
    /// On overflow of the 32-bit count.
    #[inline]
    pub(crate) fn inc_strong(self) {
        let h = self.header();
        let raw = h.strong.get();
        assert!(
            raw & COUNT_MASK != MAX_STRONG,
            "strong count overflow: more than {MAX_STRONG} handles to one object"
        );
        // The count is below its maximum, so the increment stays within its bits.
        h.strong.set(raw + 1);
    }

    /// Adds a weak reference.
    ///
    /// # Panics
    /// When the count would exceed [`MAX_WEAK`].
    pub(crate) fn inc_weak(self) {
        let w = self.weak_raw();
        assert!(
            w < MAX_WEAK,
            "weak count overflow: more than {MAX_WEAK} weak handles to one object"
        );
        self.set_weak_raw(w + 1);
    }

    /// Drops a weak reference; frees the allocation if it was the last reference.
    pub(crate) fn release_weak(self) {
        let w = self.weak_raw() - 1;
        self.set_weak_raw(w);
        if w == 0 && self.strong() == 0 {
            // Why this is sound: no strong or weak reference is left, and the value was destroyed
            // (the implicit weak reference is released only after that).
            // SAFETY: the guarantees just stated.
            unsafe { self.dealloc() };
        }
    }

    /// Lowers the count by the `absorbed` handle drops an absorber held for this
    /// object (`collect/absorb.rs`), then releases the collector's pin.
    pub(crate) fn unpin_absorbed(self, absorbed: u32) {
        if absorbed > 0 {
            let h = self.header();
            let raw = h.strong.get();
            debug_assert!(raw & COUNT_MASK > absorbed, "absorbed the pin");
            h.strong.set(raw - absorbed);
        }
        self.unpin();
    }

    /// Releases the collector's pin (see `HeapState::add_to_set`). Unlike a handle
    /// drop, this is not a lost reference: an old object stays verified.
    #[inline]
    pub(crate) fn unpin(self) {
        let h = self.header();
        let raw = h.strong.get();
        if raw & COUNT_MASK > 1 {
            h.strong.set(raw - 1);
        } else {
            self.release_strong();
        }
    }

    /// [`release_strong`](ObjPtr::release_strong) for a handle that knows its value's
    /// type `T`: the last handle of a plain untracked leaf, the commonest case, is
    /// freed here without going through the vtable, as `Rc` frees.
    ///
    /// # Safety
    /// The object's value must have type `T` (its vtable is `T`'s).
    #[inline]
    pub(crate) unsafe fn release_strong_typed<T>(self) {
        let h = self.header();
        if h.strong.get() & COUNT_MASK > 1 {
            // Not the last handle (a clone's drop, W1's first drop): tested first and
            // inlined (one copy of `release_strong` with `s > 1` known), the rest out
            // of line, so a handle's drop is a few instructions with no frame.
            self.release_strong();
            return;
        }
        // SAFETY: passed on from our caller.
        unsafe { self.release_last_typed::<T>() }
    }

    /// [`release_strong_typed`](ObjPtr::release_strong_typed) when this may be the
    /// last strong handle.
    ///
    /// # Safety
    /// As for `release_strong_typed`.
    #[inline(never)]
    unsafe fn release_last_typed<T>(self) {
        let h = self.header();
        // The caller saw a count of at most 1, and this handle holds one.
        debug_assert_eq!(h.strong.get() & COUNT_MASK, 1, "strong count underflow");
        // A leaf of this thread's pools has the label `LEAF_POOLED` (when there are
        // pools); one from the global allocator (a thread-safe heap's, or made while
        // the thread's destructors ran) takes the general path below.
        const PLAIN: u32 = (1 << FLAG_BITS) | if POOLED { LEAF_POOLED } else { 0 };
        if h.weak_flags.get() == PLAIN {
            // The last strong handle of an object with no flags (untracked, no owner,
            // no callbacks, never finalized or destroyed; the label bits only say
            // where its memory came from) and no weak handle: nothing else can reach
            // it, so no count or flag needs updating before it goes.
            // Why this is sound: the value is a live `T` (the caller's guarantee; not
            // DEAD, as the flags are clear) that nobody else can reach; an untracked
            // object without flags needs no finalizer, callbacks or heap bookkeeping
            // (the same reasoning as the `flags == 0` path of `release_strong`). As
            // with `Rc`, a panic in `T::drop` leaks the allocation.
            // SAFETY: the guarantees just stated.
            unsafe {
                core::ptr::drop_in_place(self.value_ptr::<T>().as_ptr());
            }
            let (layout, header_at) = const { object_layout(0, Layout::new::<T>()) };
            debug_assert_eq!((layout, header_at), self.vtable().layouts[layout_index(0)]);
            // Why this is sound: an untracked object was allocated by `alloc_object`
            // with exactly this layout and the header at this offset (it is the
            // vtable's `layouts[0]`, computed by the same `const fn`), from its
            // thread's leaf pools if there are pools (`PLAIN`, `is_pooled`); no
            // handle, weak or strong, remains, so nothing uses the memory afterwards.
            // SAFETY: the guarantees just stated.
            unsafe { self.dealloc_as(layout, header_at, POOLED) };
            return;
        }
        self.release_strong();
    }

    /// Drops a strong reference: the one release path for every strong handle.
    #[inline]
    pub(crate) fn release_strong(self) {
        let h = self.header();
        let raw = h.strong.get();
        let s = raw & COUNT_MASK;
        debug_assert!(s > 0, "strong count underflow");
        let flags = self.flags();
        if s > 1 {
            // A lost reference: the object may now be part of garbage, so it becomes a
            // suspect (harmless on objects where the bit is never read).
            h.strong.set((raw - 1) | SUSPECT);
            // One test for the common untracked case (flags 0).
            if flags & (TRACKED | ORPHAN) == TRACKED {
                let label = flags & LABEL_MASK;
                if label == List::Old as u32 {
                    self.lost_reference_to_old();
                } else if raw & SUSPECT == 0 && label >= FIRST_SEGMENT {
                    // The first lost reference of an object with a segment label: on
                    // `Young` or `Middle` its list now holds a suspect; on `Old` it
                    // goes to `Pending`.
                    self.first_lost_reference_in_segment(label);
                }
            }
            return;
        }
        h.strong.set(raw - 1);
        if flags <= LABEL_MASK {
            // An untracked leaf with nothing special about it (its label bits only say
            // where its memory came from): no finalizer, owner, callbacks or heap.
            // Destroy it as `Rc` would; its value cannot own a handle the collector
            // knows about, so no trashcan is needed.
            self.set_flag(DEAD);
            // Why this is sound: strong is zero: no handle can reach the value, DEAD is set, and
            // this is the only path that destroys an untracked value.
            // SAFETY: the guarantees just stated.
            unsafe { self.drop_value() };
            self.release_weak();
            return;
        }
        self.last_reference_dropped(flags);
    }

    #[inline(never)]
    fn first_lost_reference_in_segment(self, label: u32) {
        crate::heap::with_heap_of(self, |heap| match heap.labels.list_of(label) {
            List::Old => heap.mark_pending(self),
            list => heap.mark_young_suspect(self, list),
        });
    }

    #[cold]
    #[inline(never)]
    fn lost_reference_to_old(self) {
        // A reference into a verified old object went away: it may have become
        // garbage, so the next full collection must look at it.
        crate::heap::with_heap_of(self, |heap| heap.mark_pending(self));
    }

    #[inline(never)]
    fn last_reference_dropped(self, flags: u32) {
        if flags & DEAD != 0 {
            // The collector destroyed the value; this was the last dead handle.
            if self.weak_raw() == 0 {
                // SAFETY: strong and weak are zero and the value is gone.
                unsafe { self.dealloc() };
            }
            return;
        }
        if flags & (TRACKED | ORPHAN) == TRACKED {
            // Take it out of its heap now, so that no collection (which user code in a
            // finalizer or `Drop` may start) sees an object with a zero count.
            crate::heap::with_heap_of(self, |heap| heap.forget_object(self));
        }
        trashcan::destroy(self);
    }

    /// Destroys the value of an object nobody references any more (strong == 0):
    /// finalizer, `Drop`, owner release, weak callbacks, then the implicit weak reference.
    ///
    /// A panic in the finalizer or in `Drop` does not cut the sequence short (that
    /// would leak the allocation, or skip the value's destruction): it is caught, the
    /// rest runs, and the first panic resumes at the end.
    /// Regression test: `tests/tests/panics.rs::panic_in_drop_of_a_reference_counted_chain_frees_the_rest`
    /// (Miri's leak check caught the allocation this used to leak).
    fn destroy_unreferenced(self) {
        use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
        debug_assert_eq!(self.strong(), 0);
        // A finalizer cannot resurrect the object here: no strong handle exists, and
        // `Weak::upgrade` fails while `strong == 0`.
        let mut panic = catch_unwind(AssertUnwindSafe(|| self.finalize_once())).err();
        let callbacks = if self.flags() & (HAS_CALLBACKS | ORPHAN) == HAS_CALLBACKS {
            crate::weak::take_callbacks(self)
        } else {
            Vec::new()
        };
        self.set_flag(DEAD | WEAK_CLEARED);
        // Why this is sound: strong is zero, so no handle can reach the value; DEAD is set, so no
        // later code will use it; it is destroyed exactly once (this is the only path
        // for strong == 0, and the collector only destroys objects it pins).
        // SAFETY: the guarantees just stated.
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| unsafe { self.drop_value() })) {
            panic.get_or_insert(p);
        }
        self.release_value_refs();
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| crate::weak::run_callbacks(callbacks))) {
            panic.get_or_insert(p);
        }
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }

    /// Drops the value in place.
    ///
    /// # Safety
    /// The value must be live, no reference to it may exist, and it must never be used
    /// again (the caller has set `DEAD`).
    pub(crate) unsafe fn drop_value(self) {
        debug_assert!(self.flags() & DEAD != 0);
        // SAFETY: guaranteed by the caller.
        unsafe { (self.vtable().drop_value)(self.0) }
    }

    /// After the value was dropped: releases the owner reference and the implicit weak
    /// reference (which may free the allocation).
    pub(crate) fn release_value_refs(self) {
        if let Some(owner) = self.owner() {
            owner.release_strong();
        }
        self.release_weak();
    }

    /// Frees the allocation.
    ///
    /// # Safety
    /// `strong == 0 && weak == 0`, the value has been destroyed, the object is on no
    /// list, and no `ObjPtr` to it is used afterwards.
    #[inline]
    unsafe fn dealloc(self) {
        debug_assert!(self.strong() == 0 && self.weak_raw() == 0);
        let flags = self.flags();
        let (layout, header_at) = self.vtable().layouts[layout_index(flags)];
        // Why this is sound: the caller's guarantees; the layout and offset are the
        // vtable's for this object's flags, as `alloc_object` used them, and the
        // flags say where its memory came from (`is_pooled`: TRACKED never changes,
        // nor do an untracked object's label bits).
        // SAFETY: the guarantees just stated.
        unsafe { self.dealloc_as(layout, header_at, is_pooled(flags)) };
    }

    /// Frees the allocation, given the layout and header offset `alloc_object` used.
    ///
    /// # Safety
    /// As for [`dealloc`](ObjPtr::dealloc) (except the counts, which the caller may
    /// leave as they are), `(layout, header_at)` must be the object's own, and
    /// `pooled` whether its memory came from pools (`is_pooled`).
    #[inline]
    unsafe fn dealloc_as(self, layout: Layout, header_at: usize, pooled: bool) {
        // Why this is sound: the allocation starts `header_at` bytes before the header (the same
        // computation `alloc_object` made) and `self.0` carries its provenance.
        // SAFETY: the guarantees just stated.
        let base = unsafe { self.0.byte_sub(header_at) }.cast::<u8>();
        if pooled {
            // Why this is sound: the object's memory came from `PoolsHandle::alloc` with
            // `layout` (`alloc_uninit`: its heap's pools or its thread's leaf pools;
            // `Pools::free` finds which from the block); the caller guarantees nothing
            // uses the object afterwards.
            // SAFETY: the guarantees just stated.
            unsafe { Pools::free(base, layout) };
        } else {
            // Why this is sound: `base` and `layout` are what `alloc_object` allocated with
            // from the global allocator; the caller guarantees nothing uses the object
            // afterwards.
            // SAFETY: the guarantees just stated.
            unsafe { std::alloc::dealloc(base.as_ptr(), layout) };
        }
    }
}

/// Asks the CPU to start loading the cache line at `addr`: a hint. A no-op off
/// x86_64 and under Miri.
#[inline]
pub(crate) fn prefetch_line(addr: *const u8) {
    // Why this is sound: a prefetch never faults and has no effect on the program's
    // behaviour whatever the address; SSE is part of every x86_64 target.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: the guarantees just stated.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = addr;
}

#[cold]
#[inline(never)]
pub(crate) fn gc_refs_underflow(obj: ObjPtr) -> ! {
    panic!(
        "gc_refs underflow on a `{}`: a Traverse impl reported a handle it does not own, or one handle twice",
        obj.type_name()
    )
}

/// Deferred destruction, so that dropping a long chain of objects does not recurse
/// (CPython's "trashcan"). While a destruction runs on this thread, further objects
/// whose last handle goes are queued and destroyed by the outermost one in a loop.
pub(crate) mod trashcan {
    use super::*;
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

    struct Trashcan {
        active: Cell<bool>,
        queue: RefCell<Vec<ObjPtr>>,
    }

    thread_local! {
        static TRASH: Trashcan = const {
            Trashcan { active: Cell::new(false), queue: RefCell::new(Vec::new()) }
        };
    }

    /// Destroys `obj` (strong == 0) now, or queues it if a destruction is running.
    pub(crate) fn destroy(obj: ObjPtr) {
        let queued = TRASH.try_with(|t| {
            if t.active.get() {
                t.queue.borrow_mut().push(obj);
                true
            } else {
                false
            }
        });
        match queued {
            Ok(true) => {}
            Ok(false) => run(|| obj.destroy_unreferenced()),
            // The thread is exiting and its trashcan is gone: destroy directly.
            Err(_) => obj.destroy_unreferenced(),
        }
    }

    /// Runs `f` with the trashcan active, then destroys everything queued meanwhile.
    ///
    /// A panic in `f` or in a destruction does not stop the others: the queue is
    /// drained and then the first panic resumes.
    pub(crate) fn run(f: impl FnOnce()) {
        let Ok(was_active) = TRASH.try_with(|t| t.active.replace(true)) else {
            f();
            return;
        };
        if was_active {
            f();
            return;
        }
        let mut first_panic = catch_unwind(AssertUnwindSafe(f)).err();
        loop {
            let next = TRASH.with(|t| t.queue.borrow_mut().pop());
            let Some(obj) = next else { break };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| obj.destroy_unreferenced())) {
                first_panic.get_or_insert(p);
            }
        }
        TRASH.with(|t| t.active.set(false));
        if let Some(p) = first_panic {
            resume_unwind(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_puts_value_at_fixed_offset() {
        for align in [1usize, 2, 4, 8, 16, 32, 64] {
            let value = Layout::from_size_align(align * 3, align).unwrap();
            for prefix in [0, LINKS_SIZE, LINKS_SIZE + OWNER_SIZE] {
                let (layout, header_at) = object_layout(prefix, value);
                assert!(header_at >= prefix);
                assert_eq!(header_at % align, 0);
                assert_eq!(header_at % 8, 0);
                let value_at = header_at + value_offset(align);
                assert_eq!(value_at % align, 0);
                assert!(value_at + value.size() <= layout.size());
            }
        }
    }

    #[test]
    fn header_sizes() {
        assert_eq!(
            core::mem::size_of::<RcHeader>(),
            crate::layout::HEADER_BYTES
        );
        assert_eq!(
            core::mem::size_of::<GcLinks>(),
            crate::layout::TRACKED_EXTRA_BYTES
        );
        assert_eq!(OWNER_SIZE, crate::layout::OWNER_EXTRA_BYTES);
        assert_eq!(crate::layout::TRACKED_EXTRA_BYTES, 16);
    }

    #[test]
    fn suspect_bit_is_set_by_a_lost_reference_and_kept_apart_from_the_count() {
        let obj = alloc_object(0u8, Memory::Global, None);
        assert!(!obj.is_suspect());
        obj.inc_strong();
        obj.inc_strong();
        obj.release_strong();
        assert!(obj.is_suspect());
        assert_eq!(obj.strong(), 2);
        obj.inc_strong();
        assert_eq!(obj.strong(), 3);
        obj.unpin(); // the collector's pin: not a lost reference
        obj.clear_suspect();
        obj.unpin();
        assert!(!obj.is_suspect());
        assert_eq!(obj.strong(), 1);
        obj.release_strong(); // frees it
    }

    #[test]
    fn a_threads_leaves_come_from_its_pools_and_reuse_their_blocks() {
        let a = crate::Gc::new(1u64);
        assert_eq!(a.obj().in_leaf_pools(), POOLED);
        let heap = crate::Heap::new();
        let b = heap.alloc(2u64);
        assert_eq!(
            b.obj().in_leaf_pools(),
            POOLED,
            "a single-threaded heap's leaf"
        );
        let freed = a.obj().as_non_null();
        drop(a);
        let c = crate::Gc::new(3u64);
        if POOLED {
            // The block just freed heads its class's free list.
            assert_eq!(c.obj().as_non_null(), freed);
        }
        assert_eq!((*b, *c), (2, 3));
    }

    #[test]
    fn leaves_outlive_their_threads_pools() {
        use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
        /// 1: the leaf pools were gone when `Guard` was dropped; 2: still there.
        static OUTCOME: AtomicU8 = AtomicU8::new(0);
        struct Guard(RefCell<Option<crate::Gc<u64>>>);
        impl Drop for Guard {
            fn drop(&mut self) {
                // Among the thread's destructors: free a leaf of the pools (the last:
                // if the pools are gone, this destroys them), then make another.
                let held = self.0.borrow_mut().take().expect("a leaf");
                let pools_gone = POOLED && LEAF_POOLS.try_with(|_| ()).is_err();
                assert_eq!(*held, 7);
                drop(held);
                let late = crate::Gc::new(8u64);
                assert_eq!(*late, 8);
                assert_eq!(
                    late.obj().in_leaf_pools(),
                    POOLED && !pools_gone,
                    "a leaf made once the pools are gone comes from the global allocator"
                );
                drop(late);
                OUTCOME.store(if pools_gone { 1 } else { 2 }, SeqCst);
            }
        }
        thread_local!(static GUARD: Guard = const { Guard(RefCell::new(None)) });
        std::thread::spawn(|| {
            // `GUARD`'s destructor is registered before the leaf pools' (made by the
            // first leaf), and thread-local destructors run in reverse order on
            // Linux: the pools go first.
            GUARD.with(|_| ());
            let leaf = crate::Gc::new(7u64);
            assert_eq!(leaf.obj().in_leaf_pools(), POOLED);
            GUARD.with(|g| *g.0.borrow_mut() = Some(leaf));
        })
        .join()
        .unwrap();
        let outcome = OUTCOME.load(SeqCst);
        assert!(
            outcome == 1 || outcome == 2,
            "Guard was not dropped: {outcome}"
        );
        if POOLED && cfg!(all(target_os = "linux", not(miri))) {
            assert_eq!(outcome, 1, "the leaf pools were destroyed first");
        }
    }
}
