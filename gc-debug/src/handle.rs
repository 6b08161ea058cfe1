//! [`AsAny`]: the handles this crate's functions accept.

use gc_core::{Gc, GcAny, Traverse};

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
