//! Handles: [`Gc`] (strong), [`Weak`] and the type-erased [`GcAny`].

use core::any::TypeId;
use core::borrow::Borrow;
use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::ops::Deref;

use crate::collect::absorb::{absorbed, absorbs};
use crate::error::{AllocError, DerefError};
use crate::heap::{with_default_heap, Heap};
use crate::raw::{List, ObjPtr, DEAD, FINALIZED, ORPHAN, WEAK_CLEARED};
use crate::traverse::Traverse;
use crate::visitor::{live_referents, Visitor};

/// A strong, reference-counted handle to a value in a garbage-collected heap: `Rc`
/// with a cycle collector behind it.
///
/// Cloning adds a reference; dropping the last one destroys the value at once (no
/// collection needed for acyclic data, and no stack overflow for long chains).
/// Values that reference each other in a cycle are found and destroyed by a
/// collection ([`collect`](crate::collect()), or automatically on allocation).
///
/// A handle can outlive its value in two ways, both memory-safe: the collector
/// destroyed the value as garbage while another garbage object still held this handle
/// (a `Drop` impl sees it), or the heap was shut down. Dereferencing such a *dead*
/// handle panics with a message saying which; [`Gc::try_deref`] reports it instead.
///
/// `Gc<T>` is neither `Send` nor `Sync`.
///
/// # Examples
///
/// ```
/// use gc_core::Gc;
///
/// let a = Gc::new(String::from("hello"));
/// let b = a.clone();
/// assert!(Gc::ptr_eq(&a, &b));
/// assert_eq!(Gc::strong_count(&a), 2);
/// assert_eq!(*b, "hello");
/// ```
pub struct Gc<T> {
    obj: ObjPtr,
    _owns: PhantomData<T>,
}

impl<T: Traverse + 'static> Gc<T> {
    /// Allocates `value` in this thread's default heap (a leaf belongs to no heap: its
    /// memory comes from this thread's pools of leaves).
    ///
    /// # Panics
    /// If the thread is exiting and its default heap has been shut down;
    /// [`Gc::try_new`] returns an error instead.
    #[inline]
    pub fn new(value: T) -> Gc<T> {
        Gc::try_new(value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Allocates `value` in this thread's default heap, or gives it back if that heap
    /// has been shut down.
    ///
    /// # Errors
    /// [`AllocError`] holding `value`, during or after thread exit.
    #[inline]
    pub fn try_new(value: T) -> Result<Gc<T>, AllocError<T>> {
        if !crate::traverse::is_tracked_type::<T>() {
            // Leaves belong to no heap: their memory comes from this thread's pools.
            let obj = crate::raw::alloc_object(value, crate::raw::Memory::ThreadLeaf, None);
            return Ok(Gc::from_obj(obj));
        }
        // The value stays here and is stored once, straight into the object (see
        // `raw::alloc_uninit`).
        // SAFETY: the value is written right below, before anything else runs.
        let slot = with_default_heap(|h| unsafe {
            h.alloc_slot(<T as crate::raw::HasVTable>::VTABLE, true, None)
        });
        // SAFETY: `slot` is `alloc_slot`'s answer for `T::VTABLE`, nothing ran since.
        unsafe { Heap::fill_slot(slot.ok().flatten(), value) }
    }

    pub(crate) fn from_obj(obj: ObjPtr) -> Gc<T> {
        Gc {
            obj,
            _owns: PhantomData,
        }
    }

    pub(crate) fn obj(&self) -> ObjPtr {
        self.obj
    }

    /// Returns the value, or why it cannot be reached.
    ///
    /// # Errors
    /// [`DerefError::Destroyed`] if the collector destroyed the value (this handle was
    /// held by garbage), [`DerefError::HeapShutDown`] if its heap was shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Heap};
    ///
    /// let heap = Heap::new();
    /// let g = heap.alloc(vec![heap.alloc(7u8)]);
    /// assert_eq!(*Gc::try_deref(&g).unwrap()[0], 7);
    /// heap.shutdown();
    /// assert!(Gc::try_deref(&g).is_err());
    /// ```
    pub fn try_deref(this: &Self) -> Result<&T, DerefError> {
        let flags = this.obj.flags();
        if flags & (DEAD | ORPHAN) != 0 {
            return Err(DerefError::for_flags(flags, this.obj.type_name()));
        }
        // Why this is sound: the value is live: not DEAD (destroyed by the collector or being
        // destroyed), not ORPHAN, and `strong > 0` (this handle) so reference counting
        // has not destroyed it. It is only destroyed later when no handle exists (by
        // reference counting), or when the collector has proven it unreachable from
        // every handle outside the heap, which `this` is or is reached from (the
        // `Traverse` contract); the borrow is tied to `this`.
        // SAFETY: the guarantees just stated.
        Ok(unsafe { this.obj.value_ptr::<T>().as_ref() })
    }

    /// Whether the value can still be reached (the handle is not dead).
    pub fn is_alive(this: &Self) -> bool {
        this.obj.flags() & (DEAD | ORPHAN) == 0
    }

    /// Whether both handles point to the same object.
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.obj == other.obj
    }

    /// The number of strong handles to the object (during a collection, the
    /// collector's own reference is included).
    pub fn strong_count(this: &Self) -> usize {
        (this.obj.strong() - absorbed(this.obj)) as usize
    }

    /// The number of [`Weak`] handles to the object.
    pub fn weak_count(this: &Self) -> usize {
        this.obj.weak_count()
    }

    /// Creates a [`Weak`] handle to the object.
    pub fn downgrade(this: &Self) -> Weak<T> {
        this.obj.inc_weak();
        Weak {
            obj: this.obj,
            _owns: PhantomData,
        }
    }

    /// Whether the collector tracks this object (its type can hold handles, has a
    /// finalizer, or the object was allocated with an owning type). CPython's
    /// `gc.is_tracked`.
    pub fn is_tracked(this: &Self) -> bool {
        this.obj.is_tracked() && this.obj.flags() & (DEAD | ORPHAN) == 0
    }

    /// Whether the object's finalizer has run (CPython's `gc.is_finalized`).
    pub fn is_finalized(this: &Self) -> bool {
        this.obj.flags() & FINALIZED != 0
    }

    /// The owning type object given to [`Heap::alloc_with_type`], if any.
    pub fn owner_type(this: &Self) -> Option<GcAny> {
        if !Gc::is_alive(this) {
            return None;
        }
        this.obj.owner().map(GcAny::from_obj_cloned)
    }

    /// A type-erased handle to the same object.
    pub fn to_any(this: &Self) -> GcAny {
        GcAny::from_obj_cloned(this.obj)
    }

    /// The address of the value, for identity comparisons and `{:p}`.
    pub fn as_ptr(this: &Self) -> *const T {
        this.obj.value_ptr::<T>().as_ptr()
    }
}

impl<T> Drop for Gc<T> {
    #[inline]
    fn drop(&mut self) {
        if absorbs(self.obj) {
            return;
        }
        // SAFETY: a `Gc<T>` points at an object whose value is a `T`.
        unsafe { self.obj.release_strong_typed::<T>() };
    }
}

impl<T> Clone for Gc<T> {
    /// Adds a strong reference (also to a dead handle, which stays dead).
    #[inline]
    fn clone(&self) -> Self {
        self.obj.inc_strong();
        Gc {
            obj: self.obj,
            _owns: PhantomData,
        }
    }
}

impl<T: Traverse + 'static> Deref for Gc<T> {
    type Target = T;

    /// # Panics
    /// If the handle is dead: see [`Gc::try_deref`].
    #[inline]
    fn deref(&self) -> &T {
        match Gc::try_deref(self) {
            Ok(v) => v,
            Err(e) => deref_failed(e),
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn deref_failed(e: DerefError) -> ! {
    panic!("{e}")
}

// SAFETY: a `Gc` owns exactly one handle, itself, and reports it once.
unsafe impl<T: Traverse + 'static> Traverse for Gc<T> {
    const IS_LEAF: bool = false;
    const TRUSTED_TRAVERSE: bool = true;

    #[inline]
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        visitor.visit(self);
    }

    /// Prefetches the referent's header, which the collector reads when `traverse`
    /// reports the handle.
    #[inline]
    fn prefetch(&self) {
        self.obj().prefetch_header();
    }
}

impl<T: Traverse + 'static + fmt::Debug> fmt::Debug for Gc<T> {
    /// Formats the value; a dead handle formats as `Gc(<dead: reason>)` instead of
    /// panicking.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Gc::try_deref(self) {
            Ok(v) => fmt::Debug::fmt(v, f),
            Err(e) => write!(f, "Gc(<dead: {e}>)"),
        }
    }
}

impl<T: Traverse + 'static + fmt::Display> fmt::Display for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: Traverse + 'static> fmt::Pointer for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&Gc::as_ptr(self), f)
    }
}

impl<T: Traverse + 'static + PartialEq> PartialEq for Gc<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Traverse + 'static + Eq> Eq for Gc<T> {}

impl<T: Traverse + 'static + PartialOrd> PartialOrd for Gc<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: Traverse + 'static + Ord> Ord for Gc<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: Traverse + 'static + Hash> Hash for Gc<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl<T: Traverse + 'static> Borrow<T> for Gc<T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T: Traverse + 'static> AsRef<T> for Gc<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: Traverse + 'static + Default> Default for Gc<T> {
    fn default() -> Self {
        Gc::new(T::default())
    }
}

impl<T: Traverse + 'static> From<T> for Gc<T> {
    fn from(value: T) -> Self {
        Gc::new(value)
    }
}

/// A weak handle: does not keep the value alive; [`upgrade`](Weak::upgrade) gives a
/// [`Gc`] while the value lives.
///
/// A weak handle to an object found unreachable by the collector is cleared before
/// any finalizer runs, so `upgrade` never returns a half-destroyed object (and keeps
/// returning `None`, even if a finalizer resurrects the object).
///
/// # Examples
///
/// ```
/// use gc_core::Gc;
///
/// let strong = Gc::new(5u32);
/// let weak = Gc::downgrade(&strong);
/// assert_eq!(weak.upgrade().map(|g| *g), Some(5));
/// drop(strong);
/// assert!(weak.upgrade().is_none());
/// ```
pub struct Weak<T> {
    obj: ObjPtr,
    _owns: PhantomData<T>,
}

impl<T: Traverse + 'static> Weak<T> {
    /// A strong handle, if the value is alive and the weak reference not cleared.
    pub fn upgrade(&self) -> Option<Gc<T>> {
        if self.obj.strong() == 0 || self.obj.flags() & (DEAD | ORPHAN | WEAK_CLEARED) != 0 {
            return None;
        }
        self.obj.inc_strong();
        Some(Gc::from_obj(self.obj))
    }

    /// The number of strong handles (0 once the value is gone).
    pub fn strong_count(&self) -> usize {
        if self.obj.flags() & (DEAD | ORPHAN | WEAK_CLEARED) != 0 {
            0
        } else {
            self.obj.strong() as usize
        }
    }

    /// Whether both weak handles point to the same object.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.obj == other.obj
    }

    pub(crate) fn obj(&self) -> ObjPtr {
        self.obj
    }
}

impl<T> Clone for Weak<T> {
    fn clone(&self) -> Self {
        self.obj.inc_weak();
        Weak {
            obj: self.obj,
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for Weak<T> {
    fn drop(&mut self) {
        self.obj.release_weak();
    }
}

impl<T: Traverse + 'static> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(Weak)")
    }
}

// SAFETY: a weak handle keeps nothing alive and owns no strong handle: a leaf.
unsafe impl<T: Traverse + 'static> Traverse for Weak<T> {
    const IS_LEAF: bool = true;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

/// A type-erased strong handle: any object, its type known at run time.
///
/// Returned by introspection ([`Heap::objects`], [`GcAny::referents`]); turn it back
/// into a typed handle with [`downcast`](GcAny::downcast).
///
/// # Examples
///
/// ```
/// use gc_core::Gc;
///
/// let g = Gc::new(vec![1u8, 2, 3]);
/// let any = Gc::to_any(&g);
/// assert_eq!(any.type_name(), "alloc::vec::Vec<u8>");
/// assert!(Gc::ptr_eq(&any.downcast::<Vec<u8>>().unwrap(), &g));
/// ```
pub struct GcAny {
    obj: ObjPtr,
}

impl GcAny {
    /// Adds a strong reference to `obj` and wraps it.
    pub(crate) fn from_obj_cloned(obj: ObjPtr) -> GcAny {
        obj.inc_strong();
        GcAny { obj }
    }

    /// The object, with the strong reference this handle owned (no count changes).
    pub(crate) fn into_obj(self) -> ObjPtr {
        let obj = self.obj;
        core::mem::forget(self);
        obj
    }

    /// The value's type name (`core::any::type_name`).
    pub fn type_name(&self) -> &'static str {
        self.obj.type_name()
    }

    /// The value's `TypeId`.
    pub fn type_id(&self) -> TypeId {
        (self.obj.vtable().type_id)()
    }

    /// Whether the value is a `T`.
    pub fn is<T: Traverse + 'static>(&self) -> bool {
        self.type_id() == TypeId::of::<T>()
    }

    /// A typed handle, if the value is a `T`.
    ///
    /// # Errors
    /// Gives `self` back if the value is not a `T`.
    pub fn downcast<T: Traverse + 'static>(self) -> Result<Gc<T>, GcAny> {
        if self.is::<T>() {
            let obj = self.obj;
            core::mem::forget(self);
            Ok(Gc::from_obj(obj))
        } else {
            Err(self)
        }
    }

    /// Whether both handles point to the same object.
    pub fn ptr_eq(&self, other: &GcAny) -> bool {
        self.obj == other.obj
    }

    /// A stable identifier of the object while it is alive (its address).
    pub fn id(&self) -> usize {
        self.obj.as_non_null().as_ptr().addr()
    }

    /// The number of strong handles to the object.
    pub fn strong_count(&self) -> usize {
        (self.obj.strong() - absorbed(self.obj)) as usize
    }

    /// Whether the value can still be reached (not destroyed, heap not shut down).
    pub fn is_alive(&self) -> bool {
        self.obj.flags() & (DEAD | ORPHAN) == 0
    }

    /// Whether the collector tracks the object.
    pub fn is_tracked(&self) -> bool {
        self.obj.is_tracked() && self.is_alive()
    }

    /// Whether the object's finalizer has run.
    pub fn is_finalized(&self) -> bool {
        self.obj.flags() & FINALIZED != 0
    }

    /// The generation the object is in (0, 1 or 2), `None` if it is untracked or
    /// frozen (permanent generation).
    pub fn generation(&self) -> Option<usize> {
        match self.obj.list() {
            _ if !self.obj.is_tracked() => None,
            List::Young => Some(0),
            List::Middle => Some(1),
            List::Pending | List::Old => Some(2),
            _ => None,
        }
    }

    /// Whether the object is in the permanent generation (frozen).
    pub fn is_frozen(&self) -> bool {
        self.obj.is_tracked() && self.obj.list() == List::Permanent
    }

    /// Whether the value's traversal is derived or provided by gc-core rather than
    /// written by hand (see `Traverse::TRUSTED_TRAVERSE`).
    pub fn trusted_traverse(&self) -> bool {
        self.obj.vtable().trusted_traverse
    }

    /// The size of the value in bytes (`size_of::<T>()`, not counting what it owns).
    pub fn size(&self) -> usize {
        self.obj.vtable().value_layout.size()
    }

    /// The owning type object given to [`Heap::alloc_with_type`], if any.
    pub fn owner_type(&self) -> Option<GcAny> {
        if !self.is_alive() {
            return None;
        }
        self.obj.owner().map(GcAny::from_obj_cloned)
    }

    /// What the object's traversal reports (its owning type first, if any), as
    /// CPython's `gc.get_referents`; leaves and dead handles included. Empty for a
    /// dead object.
    pub fn referents(&self) -> Vec<GcAny> {
        live_referents(self.obj, 0)
            .into_iter()
            .map(GcAny::from_obj_cloned)
            .collect()
    }

    /// Whether the object belongs to `heap` (leaves, and objects whose value has been
    /// destroyed, belong to no heap).
    pub fn in_heap(&self, heap: &Heap) -> bool {
        self.obj.is_tracked()
            && self.obj.flags() & (ORPHAN | DEAD) == 0
            && core::ptr::eq(self.obj.heap_ptr(), heap.state_ptr())
    }
}

impl Clone for GcAny {
    fn clone(&self) -> Self {
        GcAny::from_obj_cloned(self.obj)
    }
}

impl Drop for GcAny {
    fn drop(&mut self) {
        if absorbs(self.obj) {
            return;
        }
        self.obj.release_strong();
    }
}

/// `Debug` (`<type at 0x…>`), and `PartialEq`, `Eq` and `Hash` by object identity,
/// for a type-erased handle with `type_name`, `id` and `ptr_eq` (this module's
/// `GcAny` and `sync::GcAny`).
macro_rules! erased_handle_impls {
    ($handle:ty) => {
        impl core::fmt::Debug for $handle {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "<{} at {:#x}>", self.type_name(), self.id())
            }
        }

        impl PartialEq for $handle {
            fn eq(&self, other: &Self) -> bool {
                self.ptr_eq(other)
            }
        }
        impl Eq for $handle {}

        impl core::hash::Hash for $handle {
            fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
                // The address, as the object pointer's own hash.
                self.id().hash(state)
            }
        }
    };
}
pub(crate) use erased_handle_impls;

erased_handle_impls!(GcAny);

impl<T: Traverse + 'static> From<Gc<T>> for GcAny {
    fn from(g: Gc<T>) -> GcAny {
        let obj = g.obj;
        core::mem::forget(g);
        GcAny { obj }
    }
}

// SAFETY: a `GcAny` owns exactly one strong handle and reports it once.
unsafe impl Traverse for GcAny {
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        visitor.visit_obj(self.obj);
    }
}
