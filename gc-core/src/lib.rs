//! Reference counting plus a generational cycle collector in the style of CPython's,
//! with a traverse protocol.
//!
//! Values live in a heap behind [`Gc`] handles. Reference counting frees acyclic
//! garbage the moment its last handle goes; a **collection** finds groups of objects
//! that only reference each other, runs their finalizers safely (PEP 442), clears
//! weak references and runs their callbacks, and frees them.
//!
//! ```
//! use gc_core::{collect, Gc, Traverse};
//! use std::cell::RefCell;
//!
//! #[derive(Traverse)]
//! struct Node {
//!     name: String,
//!     edges: RefCell<Vec<Gc<Node>>>,
//! }
//!
//! let a = Gc::new(Node { name: "a".into(), edges: RefCell::new(vec![]) });
//! let b = Gc::new(Node { name: "b".into(), edges: RefCell::new(vec![a.clone()]) });
//! a.edges.borrow_mut().push(b.clone()); // a <-> b
//! drop((a, b));                          // reference counting alone cannot free them
//! assert_eq!(collect().collected, 2);    // the collector does
//! ```
//!
//! # Handles
//!
//! [`Gc<T>`] is `Rc`-like: `Clone`, `Deref`, [`Gc::ptr_eq`], [`Gc::strong_count`],
//! [`Gc::downgrade`] to a [`Weak<T>`]. A handle whose object the collector destroyed
//! (read from a `Drop` impl of another member of the same dead cycle), or whose heap
//! was shut down, is *dead*: dereferencing it panics with a message that says which,
//! and [`Gc::try_deref`] returns the error instead. Memory is never freed while any
//! handle can reach it.
//!
//! # `Traverse`
//!
//! The collector learns what an object references by calling its
//! [`Traverse::traverse`]. `#[derive(Traverse)]` writes it (every field visited), and
//! works out from the field types whether the type is a *leaf* (can hold no handle):
//! leaves are not tracked and cost the collector nothing. A hand-written
//! implementation is `unsafe`: it may report fewer handles than it owns (the objects
//! leak, safely, and the leak report names them) but never more.
//!
//! # Collection
//!
//! Tracked objects start in generation 0; survivors move to 1, then 2. Allocation
//! triggers collections by CPython's thresholds ([`Heap::set_threshold`]); a full
//! collection examines only what could have become garbage since the last one (young
//! objects, old objects that lost a reference, and what they reach), so a large live
//! heap costs nothing to re-collect (one that reaches a fifth of a large generation 2
//! takes the rest of it too, in list order). See the `collect` module source for the
//! algorithm. [`collect()`] returns [`CollectStats`].
//!
//! # Finalizers
//!
//! A type opts in with `#[traverse(finalize)]` and an impl of [`Finalize`] (or by
//! setting [`Traverse::HAS_FINALIZER`] in a hand-written impl). In a garbage cycle every
//! finalizer runs exactly once before any member is destroyed; a finalizer that stores
//! a handle somewhere reachable resurrects that object (and what it reaches), and the
//! rest of the garbage is still freed.
//!
//! # Weak references
//!
//! [`Weak`] handles to garbage are cleared before finalizers run. [`WeakRef`] is a
//! weak-reference object with a callback that runs once after its referent is
//! destroyed (not if the weak-reference object is itself garbage).
//!
//! # Heaps and shutdown
//!
//! Each [`Heap`] is independent. Each thread has a default heap (used by [`Gc::new`]
//! and the free functions). [`Heap::shutdown`] (also run when the last `Heap` handle is
//! dropped, and at thread exit for the default heap) runs exit hooks in LIFO order,
//! collects until nothing is left, finalizes what remains and returns a
//! [`LeakReport`]. A handle stored in an object of another heap is an outside
//! reference to its own heap: safe, but a cycle that spans two heaps is not collected.
//!
//! # Threads
//!
//! `Gc`, `Weak` and `Heap` are `!Send` and `!Sync`: each heap belongs to one thread.
//! The [`sync`] module is the thread-safe flavour: `sync::Gc<T>` is `Send + Sync` for
//! `T: Send`, the heap is guarded by a lock that readers hold and collections stop the
//! world with, and shutdown gives up after a grace period instead of deadlocking.
//!
//! # Safety
//!
//! Safe code using this crate cannot cause undefined behaviour: a missing visit leaks,
//! a dead handle panics, a panic in user code run by the collector (`Traverse`,
//! `Drop`, finalizer, callback) propagates after the heap is made consistent. The
//! one `unsafe` contract is [`Traverse`]'s, stated on the trait.

#![warn(missing_docs)]

mod collect;
mod error;
mod handle;
mod heap;
mod impls;
pub mod introspect;
mod pool;
mod raw;
mod segments;
mod shutdown;
pub mod sync;
mod traverse;
mod visitor;
mod vtables;
mod weak;

pub use collect::{CollectInfo, CollectPhase, CollectStats, GarbageObject, GenerationStats};
pub use error::{AllocError, DerefError};
pub use handle::{Gc, GcAny, Weak};
pub use heap::{
    collect, collect_generation, disable, enable, get_count, get_threshold, is_enabled,
    set_threshold, CallbackId, ExitHookId, Heap, GENERATIONS,
};
pub use shutdown::{LeakReport, LeakedObject, ShutdownReport};
pub use traverse::{prefetch, Finalize, Traverse};
pub use visitor::Visitor;
pub use weak::WeakRef;

/// `#[derive(Traverse)]`: see the [`gc_derive`] crate docs.
#[cfg(feature = "derive")]
pub use gc_derive::Traverse;

/// Sizes of the object header, in bytes, for reports and tests.
pub mod layout {
    /// Header of every object (vtable pointer, strong count, weak count and flags).
    pub const HEADER_BYTES: usize = 16;
    /// Extra header of a tracked object (the collector's list links; its heap is
    /// found through its vtable pointer).
    pub const TRACKED_EXTRA_BYTES: usize = 16;
    /// Extra header of an object allocated with an owning type.
    pub const OWNER_EXTRA_BYTES: usize = 8;
    /// An object of at most [`POOL_MAX_OBJECT`] bytes (header included) and
    /// alignment at most 8 is a block of memory pools (its heap's if it is tracked,
    /// its thread's if it is a leaf of a single-threaded heap or of `Gc::new`), its
    /// size rounded up to a multiple of this; larger or over-aligned ones, and a
    /// thread-safe heap's leaves, come from the global allocator.
    pub const POOL_GRANULE: usize = 8;
    /// The largest object (header included) served from a heap's pools.
    pub const POOL_MAX_OBJECT: usize = 512;

    /// Bytes of pool chunks begun so far by pools used on the current thread (its
    /// heaps' and its leaves'), fresh or reused; never decreases. Chunks come from
    /// `mmap` on Unix, not from the global allocator, so an allocation counter does
    /// not see them: the per-object size measurement (`benches/tests/alloc_size.rs`)
    /// adds this.
    #[doc(hidden)]
    pub fn pool_chunk_bytes_begun() -> usize {
        crate::pool::chunk_bytes_begun()
    }
}

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
