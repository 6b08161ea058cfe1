//! `Traverse` for the standard library types users store in objects.
//!
//! Containers report what their elements report and are leaves exactly when their
//! element types are. Policy for shared owners: `Rc<T>` and `Arc<T>` report nothing
//! and are leaves. An object reached through an `Rc` may be shared with owners the
//! collector cannot see; reporting its handles from each `Rc` would count them once
//! per owner and could make live objects look like garbage. A handle inside an `Rc`
//! is therefore an outside reference to the collector: a cycle through it leaks
//! (safely), and the leak report shows it. Put shared objects in `Gc` instead.

use core::cell::{Cell, RefCell};
use core::hash::BuildHasher;
use core::marker::PhantomData;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::sync::{Mutex, RwLock};

use crate::traverse::Traverse;
use crate::visitor::Visitor;

macro_rules! leaf {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: values of this type own no handle.
        unsafe impl Traverse for $t {
            const IS_LEAF: bool = true;
            const TRUSTED_TRAVERSE: bool = true;
            #[inline]
            fn traverse(&self, _: &mut Visitor<'_>) {}
        }
    )*};
}

leaf!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    str,
    core::time::Duration,
    std::time::Instant,
    std::time::SystemTime,
    std::path::PathBuf,
    std::ffi::OsString,
    core::num::NonZeroU32,
    core::num::NonZeroU64,
    core::num::NonZeroUsize,
    core::sync::atomic::AtomicBool,
    core::sync::atomic::AtomicUsize,
    core::sync::atomic::AtomicU64,
    core::sync::atomic::AtomicI64,
    core::any::TypeId,
);

// SAFETY: a shared reference to a `'static` str or other borrowed data owns nothing.
unsafe impl<T: ?Sized + 'static> Traverse for &'static T {
    const IS_LEAF: bool = true;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: `PhantomData` owns nothing.
unsafe impl<T: ?Sized> Traverse for PhantomData<T> {
    const IS_LEAF: bool = true;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: see the module docs: a shared owner reports nothing.
unsafe impl<T: ?Sized> Traverse for std::rc::Rc<T> {
    const IS_LEAF: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: see the module docs: a shared owner reports nothing.
unsafe impl<T: ?Sized> Traverse for std::sync::Arc<T> {
    const IS_LEAF: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: forwards to the boxed value, which the box owns exclusively.
unsafe impl<T: Traverse> Traverse for Box<T> {
    const IS_LEAF: bool = T::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    #[inline]
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        (**self).traverse(visitor)
    }
    /// Prefetches the start of the boxed value, which `traverse` reads.
    #[inline]
    fn prefetch(&self) {
        if !T::IS_LEAF {
            crate::prefetch::<T>(&**self);
        }
    }
}

// SAFETY: forwards to the boxed elements, each once.
unsafe impl<T: Traverse> Traverse for Box<[T]> {
    const IS_LEAF: bool = T::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        (**self).traverse(visitor)
    }
    /// Prefetches the start of the boxed elements, which `traverse` reads.
    #[inline]
    fn prefetch(&self) {
        if !T::IS_LEAF {
            crate::prefetch(self.as_ptr());
        }
    }
}

// SAFETY: forwards to the contained value, if any.
unsafe impl<T: Traverse> Traverse for Option<T> {
    const IS_LEAF: bool = T::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    #[inline]
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if let Some(v) = self {
            v.traverse(visitor)
        }
    }
    #[inline]
    fn prefetch(&self) {
        if let Some(v) = self {
            v.prefetch()
        }
    }
}

// SAFETY: forwards to whichever value is present.
unsafe impl<T: Traverse, E: Traverse> Traverse for Result<T, E> {
    const IS_LEAF: bool = T::IS_LEAF && E::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        match self {
            Ok(v) => v.traverse(visitor),
            Err(e) => e.traverse(visitor),
        }
    }
    #[inline]
    fn prefetch(&self) {
        match self {
            Ok(v) => v.prefetch(),
            Err(e) => e.prefetch(),
        }
    }
}

// SAFETY: the cell owns its value. A `Cell` cannot be borrowed, so reading it means
// taking the value out and putting it back: only `Copy` values, which are leaves
// unless they are something exotic; `Cell<T>` is traversed by copying.
unsafe impl<T: Traverse + Copy> Traverse for Cell<T> {
    const IS_LEAF: bool = T::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if !T::IS_LEAF {
            self.get().traverse(visitor)
        }
    }
    #[inline]
    fn prefetch(&self) {
        if !T::IS_LEAF {
            self.get().prefetch()
        }
    }
}

// SAFETY: the cell owns its value. While it is mutably borrowed, nothing is reported:
// the handles inside then count as outside references, which keeps their objects
// alive (conservative, never a panic). A borrow cannot begin or end while the
// collector is inside a traversal, so the answer is the same throughout a collection.
unsafe impl<T: Traverse> Traverse for RefCell<T> {
    const IS_LEAF: bool = T::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    #[inline]
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if T::IS_LEAF {
            return;
        }
        if let Ok(v) = self.try_borrow() {
            v.traverse(visitor)
        }
    }
    /// Passes the hint on, unless the cell is mutably borrowed (as `traverse`).
    #[inline]
    fn prefetch(&self) {
        if T::IS_LEAF {
            return;
        }
        if let Ok(v) = self.try_borrow() {
            v.prefetch()
        }
    }
}

// SAFETY: the mutex owns its value; when it is locked (or poisoned mid-update by
// another borrow) nothing is reported, which is conservative as for `RefCell`.
unsafe impl<T: Traverse> Traverse for Mutex<T> {
    const IS_LEAF: bool = T::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if T::IS_LEAF {
            return;
        }
        match self.try_lock() {
            Ok(v) => T::traverse(&v, visitor),
            Err(std::sync::TryLockError::Poisoned(p)) => T::traverse(&p.into_inner(), visitor),
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
    }
}

// SAFETY: as for `Mutex`.
unsafe impl<T: Traverse> Traverse for RwLock<T> {
    const IS_LEAF: bool = T::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if T::IS_LEAF {
            return;
        }
        match self.try_read() {
            Ok(v) => T::traverse(&v, visitor),
            Err(std::sync::TryLockError::Poisoned(p)) => T::traverse(&p.into_inner(), visitor),
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
    }
}

macro_rules! seq {
    ($($c:ident $(: $buffer:expr)?),*) => {$(
        // SAFETY: the collection owns its elements; each is traversed once.
        unsafe impl<T: Traverse> Traverse for $c<T> {
            const IS_LEAF: bool = T::IS_LEAF;
            const TRUSTED_TRAVERSE: bool = true;
            #[inline]
            fn traverse(&self, visitor: &mut Visitor<'_>) {
                if !T::IS_LEAF {
                    for v in self {
                        v.traverse(visitor)
                    }
                }
            }
            $(
                /// Prefetches the start of the element buffer `traverse` reads.
                #[inline]
                fn prefetch(&self) {
                    if !T::IS_LEAF {
                        crate::prefetch(($buffer)(self));
                    }
                }
            )?
        }
    )*};
}

seq!(
    Vec: |v: &Vec<T>| v.as_ptr(),
    VecDeque: |v: &VecDeque<T>| v.as_slices().0.as_ptr(),
    // The first node: where `traverse` starts (the list holds its address).
    LinkedList: |l: &LinkedList<T>| l.front().map_or(core::ptr::null(), |v| v as *const T),
    BTreeSet,
    BinaryHeap: |h: &BinaryHeap<T>| h.as_slice().as_ptr()
);

/// How many elements of an array or slice [`Traverse::prefetch`] is passed on to:
/// the first few, as many loads as a core overlaps usefully (the elements
/// themselves are inside the value, which the collector has prefetched already).
const PREFETCH_ELEMENTS: usize = 8;

// SAFETY: the slice's elements are traversed once each (a slice behind a `Box` or a
// `Vec` is owned by it).
unsafe impl<T: Traverse> Traverse for [T] {
    const IS_LEAF: bool = T::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if !T::IS_LEAF {
            for v in self {
                v.traverse(visitor)
            }
        }
    }
    /// Passes the hint on to the first 8 elements (`PREFETCH_ELEMENTS`).
    #[inline]
    fn prefetch(&self) {
        if !T::IS_LEAF {
            for v in self.iter().take(PREFETCH_ELEMENTS) {
                v.prefetch()
            }
        }
    }
}

// SAFETY: the array owns its elements; each is traversed once.
unsafe impl<T: Traverse, const N: usize> Traverse for [T; N] {
    const IS_LEAF: bool = T::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if !T::IS_LEAF {
            for v in self {
                v.traverse(visitor)
            }
        }
    }
    /// As for slices: the first 8 elements.
    #[inline]
    fn prefetch(&self) {
        self.as_slice().prefetch()
    }
}

// SAFETY: keys and values are owned by the map and traversed once each; the hasher
// is owned too and may hold handles, so it is traversed as well.
unsafe impl<K: Traverse, V: Traverse, S: Traverse> Traverse for HashMap<K, V, S> {
    const IS_LEAF: bool = K::IS_LEAF && V::IS_LEAF && S::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if !(K::IS_LEAF && V::IS_LEAF) {
            for (k, v) in self {
                k.traverse(visitor);
                v.traverse(visitor);
            }
        }
        self.hasher().traverse(visitor);
    }
}

// SAFETY: as for `HashMap`.
unsafe impl<T: Traverse, S: Traverse> Traverse for HashSet<T, S> {
    const IS_LEAF: bool = T::IS_LEAF && S::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if !T::IS_LEAF {
            for v in self {
                v.traverse(visitor);
            }
        }
        self.hasher().traverse(visitor);
    }
}

// SAFETY: as for `HashMap` (hashbrown's map).
unsafe impl<K: Traverse, V: Traverse, S: Traverse> Traverse for hashbrown::HashMap<K, V, S> {
    const IS_LEAF: bool = K::IS_LEAF && V::IS_LEAF && S::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if !(K::IS_LEAF && V::IS_LEAF) {
            for (k, v) in self {
                k.traverse(visitor);
                v.traverse(visitor);
            }
        }
        self.hasher().traverse(visitor);
    }
}

// SAFETY: as for `HashSet` (hashbrown's set).
unsafe impl<T: Traverse, S: Traverse> Traverse for hashbrown::HashSet<T, S> {
    const IS_LEAF: bool = T::IS_LEAF && S::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if !T::IS_LEAF {
            for v in self {
                v.traverse(visitor);
            }
        }
        self.hasher().traverse(visitor);
    }
}

// SAFETY: keys and values are owned by the map and traversed once each.
unsafe impl<K: Traverse, V: Traverse> Traverse for BTreeMap<K, V> {
    const IS_LEAF: bool = K::IS_LEAF && V::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if !(K::IS_LEAF && V::IS_LEAF) {
            for (k, v) in self {
                k.traverse(visitor);
                v.traverse(visitor);
            }
        }
    }
}

// SAFETY: the vector owns its elements; each is traversed once.
unsafe impl<A: smallvec::Array> Traverse for smallvec::SmallVec<A>
where
    A::Item: Traverse,
{
    const IS_LEAF: bool = <A::Item as Traverse>::IS_LEAF;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if !<A::Item as Traverse>::IS_LEAF {
            for v in self {
                v.traverse(visitor)
            }
        }
    }
    /// Prefetches the start of the elements (inline ones are inside the value).
    #[inline]
    fn prefetch(&self) {
        if !<A::Item as Traverse>::IS_LEAF {
            crate::prefetch(self.as_ptr());
        }
    }
}

leaf!(std::hash::RandomState, hashbrown::DefaultHashBuilder);
// SAFETY: a default hasher builder owns nothing.
unsafe impl<H> Traverse for core::hash::BuildHasherDefault<H> {
    const IS_LEAF: bool = true;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

macro_rules! tuple {
    ($($name:ident),+) => {
        // SAFETY: the tuple owns its fields; each is traversed once.
        unsafe impl<$($name: Traverse),+> Traverse for ($($name,)+) {
            const IS_LEAF: bool = $($name::IS_LEAF)&&+;
            const TRUSTED_TRAVERSE: bool = true;
            #[allow(non_snake_case)]
            fn traverse(&self, visitor: &mut Visitor<'_>) {
                let ($($name,)+) = self;
                $($name.traverse(visitor);)+
            }
            #[allow(non_snake_case)]
            #[inline]
            fn prefetch(&self) {
                let ($($name,)+) = self;
                $($name.prefetch();)+
            }
        }
    };
}

tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
tuple!(A, B, C, D, E);
tuple!(A, B, C, D, E, F);
tuple!(A, B, C, D, E, F, G);
tuple!(A, B, C, D, E, F, G, H);

#[allow(dead_code)]
fn assert_hasher_is_build_hasher<S: BuildHasher>() {}
