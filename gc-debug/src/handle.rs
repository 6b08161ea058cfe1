//! [`AsAny`]: the handles this crate's functions accept.

use gc_core::{sync, Gc, GcAny, Traverse};

/// A handle this crate's functions accept: a typed [`Gc<T>`] or a type-erased
/// [`GcAny`] (CPython's functions take any object).
///
/// # Examples
///
/// ```
/// use gc_core::Gc;
/// use gc_debug::{is_tracked, AsAny};
///
/// let g = Gc::new(vec![Gc::new(1u8)]);
/// let any = g.as_any();
/// assert!(is_tracked(&g) && is_tracked(&any));
/// assert_eq!(any.type_name(), std::any::type_name::<Vec<Gc<u8>>>());
/// ```
pub trait AsAny {
    /// A new type-erased strong handle to the same object.
    fn as_any(&self) -> GcAny;
}

impl<T: Traverse + 'static> AsAny for Gc<T> {
    fn as_any(&self) -> GcAny {
        Gc::to_any(self)
    }
}

impl AsAny for GcAny {
    fn as_any(&self) -> GcAny {
        self.clone()
    }
}

/// A handle to an object of a thread-safe heap that this crate's `*_sync` functions
/// accept: a typed [`sync::Gc<T>`] or a type-erased [`sync::GcAny`].
///
/// # Examples
///
/// ```
/// use gc_core::sync::Heap;
/// use gc_debug::AsSyncAny;
///
/// let heap = Heap::new();
/// let g = heap.alloc(vec![heap.alloc(1u8)]);
/// assert_eq!(g.as_sync_any().referents().len(), 1);
/// ```
pub trait AsSyncAny {
    /// A new type-erased strong handle to the same object.
    fn as_sync_any(&self) -> sync::GcAny;
}

impl<T: Traverse + Send + 'static> AsSyncAny for sync::Gc<T> {
    fn as_sync_any(&self) -> sync::GcAny {
        sync::Gc::to_any(self)
    }
}

impl AsSyncAny for sync::GcAny {
    fn as_sync_any(&self) -> sync::GcAny {
        self.clone()
    }
}
