//! [`GcAny`]: a type-erased thread-safe strong handle.

use core::any::TypeId;
use core::marker::PhantomData;

use super::Gc;
use crate::raw::{ObjPtr, DEAD, FINALIZED, ORPHAN};
use crate::traverse::Traverse;
use crate::visitor::{live_referents, Visitor};

/// The value type of the `Gc` inside a [`GcAny`]: never a value, only a type whose
/// handle keeps counts (`Gc<T>`'s `Clone` and `Drop` do not look at `T`). `Send`, as
/// every value of a thread-safe heap is (`sync::Heap::alloc` requires it).
struct Erased;

// SAFETY: reports nothing; no value of this type exists.
unsafe impl Traverse for Erased {
    const IS_LEAF: bool = true;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

/// A type-erased strong handle to an object of a thread-safe heap, as
/// [`crate::GcAny`] is for a single-threaded one: `Send + Sync` (every value of a
/// thread-safe heap is `Send`), cloned and dropped as [`Gc`] is, turned back into a
/// typed handle with [`downcast`](GcAny::downcast). gc-debug's functions for
/// thread-safe heaps return these.
///
/// # Examples
///
/// ```
/// use gc_core::sync::{Gc, GcAny, Heap};
///
/// let heap = Heap::new();
/// let list = heap.alloc(vec![heap.alloc(1u8), heap.alloc(2u8)]);
/// let any: GcAny = Gc::to_any(&list);
/// assert_eq!(any.type_name(), std::any::type_name::<Vec<Gc<u8>>>());
/// assert_eq!(any.id(), Gc::id(&list));
/// let items = any.referents();
/// assert_eq!(*items[1].clone().downcast::<u8>().unwrap().read(), 2);
/// let again = std::thread::spawn(move || any.downcast::<Vec<Gc<u8>>>().unwrap())
///     .join()
///     .unwrap();
/// assert!(Gc::ptr_eq(&again, &list));
/// ```
pub struct GcAny {
    inner: Gc<Erased>,
}

impl<T: Traverse + Send + 'static> Gc<T> {
    /// A type-erased handle to the same object.
    pub fn to_any(this: &Self) -> GcAny {
        GcAny {
            inner: Gc::retyped(this),
        }
    }
}

impl<T> Gc<T> {
    /// A new handle of another type to the same object (the caller checks the type).
    fn retyped<U>(this: &Self) -> Gc<U> {
        let _g = this.gil.acquire();
        this.obj.inc_strong();
        Gc {
            obj: this.obj,
            gil: this.gil.clone(),
            _owns: PhantomData,
        }
    }
}

impl<T: Traverse + Send + 'static> From<Gc<T>> for GcAny {
    fn from(g: Gc<T>) -> GcAny {
        Gc::to_any(&g)
    }
}

impl GcAny {
    /// Adds a strong reference to `obj` of the heap `gil` guards, whose lock this
    /// thread holds, and wraps it.
    pub(super) fn from_obj_cloned(obj: ObjPtr, gil: &super::Arc<super::Gil>) -> GcAny {
        obj.inc_strong();
        GcAny {
            inner: Gc {
                obj,
                gil: gil.clone(),
                _owns: PhantomData,
            },
        }
    }

    /// Wraps a single-threaded handle to an object of the heap `gil` guards, whose
    /// lock this thread holds, taking over its strong reference.
    pub(super) fn from_unsync(any: crate::GcAny, gil: &super::Arc<super::Gil>) -> GcAny {
        GcAny {
            inner: Gc {
                obj: any.into_obj(),
                gil: gil.clone(),
                _owns: PhantomData,
            },
        }
    }

    fn obj(&self) -> ObjPtr {
        self.inner.obj
    }

    /// The value's type name (`core::any::type_name`).
    pub fn type_name(&self) -> &'static str {
        let _g = self.inner.gil.acquire();
        self.obj().type_name()
    }

    /// The value's `TypeId`.
    pub fn type_id(&self) -> TypeId {
        let _g = self.inner.gil.acquire();
        (self.obj().vtable().type_id)()
    }

    /// Whether the value is a `T`.
    pub fn is<T: 'static>(&self) -> bool {
        self.type_id() == TypeId::of::<T>()
    }

    /// A typed handle, if the value is a `T`.
    ///
    /// # Errors
    /// Gives `self` back if the value is not a `T`.
    pub fn downcast<T: Traverse + Send + 'static>(self) -> Result<Gc<T>, GcAny> {
        if self.is::<T>() {
            Ok(Gc::retyped(&self.inner))
        } else {
            Err(self)
        }
    }

    /// Whether both handles point to the same object.
    pub fn ptr_eq(&self, other: &GcAny) -> bool {
        self.obj() == other.obj()
    }

    /// A stable identifier of the object while it is alive (its address), as
    /// [`Gc::id`].
    pub fn id(&self) -> usize {
        self.obj().as_non_null().as_ptr().addr()
    }

    /// The number of strong handles to the object.
    pub fn strong_count(&self) -> usize {
        let _g = self.inner.gil.acquire();
        self.obj().strong() as usize
    }

    /// Whether the value can still be reached (not destroyed, heap not shut down).
    pub fn is_alive(&self) -> bool {
        let _g = self.inner.gil.acquire();
        self.obj().flags() & (DEAD | ORPHAN) == 0
    }

    /// Whether the collector tracks the object (CPython's `gc.is_tracked`).
    pub fn is_tracked(&self) -> bool {
        let _g = self.inner.gil.acquire();
        self.obj().is_tracked() && self.obj().flags() & (DEAD | ORPHAN) == 0
    }

    /// Whether the object's finalizer has run.
    pub fn is_finalized(&self) -> bool {
        let _g = self.inner.gil.acquire();
        self.obj().flags() & FINALIZED != 0
    }

    /// What the object's traversal reports, in order (CPython's
    /// `gc.get_referents`); empty for a dead object. Runs the traversal (user code)
    /// with the heap lock held.
    ///
    /// # Panics
    /// If the traversal panics (nothing is changed).
    pub fn referents(&self) -> Vec<GcAny> {
        let gil = &self.inner.gil;
        let _g = gil.acquire();
        live_referents(self.obj(), gil.tag())
            .into_iter()
            .map(|p| GcAny::from_obj_cloned(p, gil))
            .collect()
    }
}

impl Clone for GcAny {
    fn clone(&self) -> Self {
        GcAny {
            inner: self.inner.clone(),
        }
    }
}

crate::handle::erased_handle_impls!(GcAny);

// SAFETY: reports its one handle once, as `Gc<T>` does (only to a traversal under its
// own heap's lock).
unsafe impl Traverse for GcAny {
    const IS_LEAF: bool = false;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        self.inner.traverse(visitor)
    }
}
