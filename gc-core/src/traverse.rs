//! The traverse protocol: how a value reports the handles it owns.
//!
//! This is CPython's `tp_traverse` for Rust values. The collector calls
//! [`Traverse::traverse`] on tracked objects and counts the handles each one reports;
//! a handle that nobody reports looks like a reference from outside the heap, so the
//! object it points to (and everything that object reaches) stays alive.

use crate::handle::Gc;
use crate::visitor::Visitor;

/// Reports every [`Gc`] handle a value owns to a [`Visitor`]: the traverse protocol.
///
/// Derive it with `#[derive(Traverse)]` (the safe path: every field is visited, and
/// whether the type is a leaf is worked out from the fields). Write it by hand only
/// for types the derive cannot describe.
///
/// # Safety
///
/// An implementation must uphold, for every call made while a collection runs:
///
/// 1. **No foreign or extra visits.** `traverse` reports only handles that `self`
///    owns (stores, directly or through owned containers), and each such handle at
///    most once per call. Reporting a handle that somebody else owns, or one handle
///    twice, makes the collector undercount outside references and can destroy a value
///    that is still borrowed.
/// 2. **The same answer each time.** Two calls during one collection report the same
///    handles. (The [`RefCell`](core::cell::RefCell) implementation honours this by
///    reporting nothing while the cell is mutably borrowed; a borrow cannot change
///    while the collector is inside a traversal.)
/// 3. **Leaves hold nothing.** If [`IS_LEAF`](Traverse::IS_LEAF) is `true`, no value of
///    the type owns a handle that the collector would need to see.
///
/// What is **always memory-safe**, and therefore allowed: reporting *fewer* handles than
/// `self` owns. A skipped handle is an outside reference as far as the collector knows:
/// the objects behind it leak (until heap shutdown, whose leak report names them), they
/// are never freed early. Visiting a handle that belongs to another heap is ignored.
///
/// `traverse` must not panic in normal operation; if it does, the panic propagates
/// out of the collection and the heap stays consistent (nothing is freed by that
/// collection).
///
/// # Examples
///
/// A hand-written implementation for a type that stores its handles in a way the
/// derive cannot see:
///
/// ```
/// use gc_core::{Gc, Traverse, Visitor};
///
/// struct Pair {
///     left: Gc<u32>,
///     right: Option<Gc<u32>>,
/// }
///
/// // SAFETY: `traverse` reports the two handles `Pair` owns, each once.
/// unsafe impl Traverse for Pair {
///     fn traverse(&self, visitor: &mut Visitor<'_>) {
///         visitor.visit(&self.left);
///         if let Some(right) = &self.right {
///             visitor.visit(right);
///         }
///     }
/// }
///
/// let p = Gc::new(Pair { left: Gc::new(1), right: None });
/// assert_eq!(*p.left, 1);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Traverse`",
    label = "this field's type must implement `Traverse`",
    note = "derive or implement `Traverse` for it, or mark the field `#[traverse(skip)]` to hide it from the collector (it can then only leak)"
)]
pub unsafe trait Traverse {
    /// `true` when no value of this type can own a handle.
    ///
    /// Leaves are never tracked by the collector and cost it nothing (CPython
    /// untracks atomic objects the same way). The default is `false`, which is
    /// always safe; the derive computes the exact answer from the field types.
    const IS_LEAF: bool = false;

    /// `true` when [`finalize`](Traverse::finalize) does something and must run
    /// before the value is destroyed (PEP 442). Objects of such types are always
    /// tracked, so that the collector and heap shutdown can run their finalizers.
    const HAS_FINALIZER: bool = false;

    /// `true` for traversals that gc-core vouches for: those `#[derive(Traverse)]`
    /// writes and gc-core's own implementations (which report every handle their
    /// fields report; `Rc` and `Arc` excepted). Hand-written implementations keep
    /// the default, `false`; `gc-debug`'s audit suspects them first when a reference
    /// goes unreported. It changes nothing in how objects are collected.
    #[doc(hidden)]
    const TRUSTED_TRAVERSE: bool = false;

    /// Reports each handle `self` owns to `visitor`, once.
    fn traverse(&self, visitor: &mut Visitor<'_>);

    /// Asks the CPU to start loading the memory outside the value that
    /// [`traverse`](Traverse::traverse) will read (the buffer of a `Vec`, what a
    /// `Box` points to), without waiting for it: a hint, with no effect on what the
    /// program does. While marking what is reachable, the collector calls it on an
    /// object a few places before traversing it, so that the loads of several
    /// objects overlap instead of each traversal waiting for its own (a graph with
    /// random edges, W7 in `benches/`: its first collection 1.17× faster).
    ///
    /// The default does nothing. `#[derive(Traverse)]` calls it on every visited
    /// field. gc-core's implementations: `Gc`, `sync::Gc` and `Box` prefetch what
    /// they point to; `Vec`, `VecDeque`, `BinaryHeap`, `Box<[T]>` and `SmallVec`
    /// their buffer, `LinkedList` its first node; `Option`, `Result`, `Cell`,
    /// tuples and `RefCell` (not while mutably borrowed) pass it on, arrays and
    /// slices to their first 8 elements. `Mutex` and `RwLock` do not (it would
    /// take the lock), nor do the hashed and B-tree collections (where their
    /// elements lie is only found by reading them); a hand-written
    /// `traverse` over a container of handles may implement it with
    /// [`gc_core::prefetch`](crate::prefetch()). It must not panic in normal operation (a
    /// panic propagates out of the collection as one from `traverse` does).
    #[inline]
    fn prefetch(&self) {}

    /// The finalizer (CPython's `__del__`, PEP 442's `tp_finalize`).
    ///
    /// Called at most once per object, by the collector before any member of a
    /// garbage cycle is destroyed (so it sees an intact graph), by reference counting
    /// when the last handle goes, or by heap shutdown. It may allocate, store a
    /// handle to `self` somewhere reachable (resurrection), and call `collect()`
    /// (which does nothing while a collection runs). Only called if
    /// [`HAS_FINALIZER`](Traverse::HAS_FINALIZER) is `true`.
    ///
    /// A panic in a finalizer is caught by the collector, which finishes its work and
    /// then resumes the panic in the caller of `collect` (or of the `drop` that
    /// released the last handle). As with `Rc` and a panicking `Drop`, if that `drop`
    /// itself runs during unwinding, the second panic aborts the process: a finalizer
    /// that may panic should check `std::thread::panicking()` first.
    fn finalize(&self) {}
}

/// Asks the CPU to start loading the cache line at `ptr`, without waiting for it: a
/// hint for [`Traverse::prefetch`], with no effect on what the program does, safe
/// for any pointer (dangling and null included: a prefetch never faults). Does
/// nothing off x86_64 and under Miri.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Traverse, Visitor};
///
/// struct Handles(Vec<Gc<u32>>);
///
/// // SAFETY: reports each handle in the vector once, and nothing else.
/// unsafe impl Traverse for Handles {
///     fn traverse(&self, visitor: &mut Visitor<'_>) {
///         for g in &self.0 {
///             visitor.visit(g);
///         }
///     }
///
///     fn prefetch(&self) {
///         // `traverse` reads the vector's buffer: start loading it.
///         gc_core::prefetch(self.0.as_ptr());
///     }
/// }
/// # let _ = Gc::new(Handles(vec![Gc::new(1)]));
/// ```
#[inline]
pub fn prefetch<T>(ptr: *const T) {
    crate::raw::prefetch_line(ptr.cast());
}

/// A finalizer, wired into [`Traverse`] by `#[derive(Traverse)]` with
/// `#[traverse(finalize)]`.
///
/// # Examples
///
/// ```
/// use gc_core::{Finalize, Gc, Traverse};
/// use std::cell::Cell;
///
/// thread_local!(static FINALIZED: Cell<u32> = const { Cell::new(0) });
///
/// #[derive(Traverse)]
/// #[traverse(finalize)]
/// struct File {
///     name: String,
/// }
///
/// impl Finalize for File {
///     fn finalize(&self) {
///         FINALIZED.with(|f| f.set(f.get() + 1));
///     }
/// }
///
/// drop(Gc::new(File { name: "log".into() }));
/// assert_eq!(FINALIZED.with(Cell::get), 1);
/// ```
pub trait Finalize {
    /// Runs once before the value is destroyed; see [`Traverse::finalize`].
    fn finalize(&self);
}

/// Whether objects of type `T` are tracked by the collector.
pub(crate) const fn is_tracked_type<T: Traverse>() -> bool {
    !T::IS_LEAF || T::HAS_FINALIZER
}

// Keep `Gc` referenced from this module's docs.
#[allow(dead_code)]
type DocLink<T> = Gc<T>;
