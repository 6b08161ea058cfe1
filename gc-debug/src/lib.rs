//! CPython's `gc` module for gc-core heaps: introspection by the names Python
//! programmers know, debug flags, collection callbacks, pictures of the heap, "why is
//! this alive?", and an audit that names the type whose `Traverse` is wrong.
//!
//! ```
//! use gc_core::{Gc, Heap, Traverse};
//! use gc_debug::{get_objects, get_referents, get_referrers, is_tracked, why_alive};
//! use std::cell::RefCell;
//!
//! #[derive(Traverse)]
//! struct Node {
//!     name: String,
//!     next: RefCell<Option<Gc<Node>>>,
//! }
//!
//! let heap = Heap::new();
//! let a = heap.alloc(Node { name: "a".into(), next: RefCell::new(None) });
//! let b = heap.alloc(Node { name: "b".into(), next: RefCell::new(Some(a.clone())) });
//!
//! assert!(is_tracked(&a));
//! assert_eq!(get_objects(&heap, None).unwrap().len(), 2);
//! assert!(get_referents(&b)[0].ptr_eq(&Gc::to_any(&a)));
//! assert!(get_referrers(&heap, &a)[0].ptr_eq(&Gc::to_any(&b)));
//!
//! // What keeps `a` alive, apart from the handle we ask with? `b`, held by a variable.
//! let path = why_alive(&heap, &a).unwrap();
//! assert!(path.root().ptr_eq(&Gc::to_any(&b)));
//! ```
//!
//! # The `gc` module
//!
//! | CPython | gc-debug |
//! |---|---|
//! | `gc.get_referents(obj)` | [`get_referents`]`(&obj)` |
//! | `gc.get_referrers(obj)` | [`get_referrers`]`(&heap, &obj)` |
//! | `gc.is_tracked(obj)`, `gc.is_finalized(obj)` | [`is_tracked`], [`is_finalized`] |
//! | `gc.get_objects(generation=None)` | [`get_objects`]`(&heap, None)` → `Result<Vec<GcAny>, InvalidGeneration>` |
//! | `gc.collect(generation)` | [`collect`]`(&heap, g)` → `Result<CollectStats, InvalidGeneration>` |
//! | `gc.get_count()`, `gc.get_threshold()`, `gc.set_threshold()` | [`get_count`], [`get_threshold`], [`set_threshold`] |
//! | `gc.get_stats()` | [`get_stats`] → `[GenerationStats; 3]` |
//! | `gc.freeze()`, `gc.unfreeze()`, `gc.get_freeze_count()` | [`freeze`], [`unfreeze`], [`get_freeze_count`] |
//! | `gc.callbacks.append(f)` / `.remove(f)` | [`add_callback`], [`remove_callback`] |
//! | `gc.set_debug(flags)`, `gc.get_debug()` | [`set_debug`] (returns a guard), [`get_debug`] |
//! | `gc.DEBUG_STATS` … `gc.DEBUG_LEAK` | [`DebugFlags::STATS`] … [`DebugFlags::LEAK`] |
//! | `gc.garbage` | [`garbage`] |
//!
//! Objects are passed as `&Gc<T>` or `&GcAny` ([`AsAny`]) and come back as
//! [`GcAny`]: type-erased strong handles that name their type and can be downcast.
//! A heap is always passed explicitly; for the thread's default heap (the one
//! [`Gc::new`](gc_core::Gc::new) allocates in) pass `&Heap::current()`. Argument
//! errors that CPython raises as `ValueError` are [`InvalidGeneration`]; those it
//! raises as `TypeError` do not compile.
//!
//! # During a collection
//!
//! Every function is valid from a finalizer, a `Drop` impl or a collection callback.
//! The objects a running collection holds (found unreachable, being finalized or
//! destroyed) are on none of the heap's lists, so no function returns them, and none
//! returns a dead handle: a finalizer that calls [`get_objects`] does not find its
//! own object, and [`get_referrers`] on it gives an empty list (CPython's
//! `test_get_objects_during_gc`).
//!
//! # Debug flags and `tracing`
//!
//! [`set_debug`] takes CPython's flags. `SAVEALL` keeps unreachable objects in
//! [`garbage`] instead of freeing them; `STATS`, `COLLECTABLE` and `UNCOLLECTABLE`
//! produce events through the [`tracing`] crate (target [`TRACING_TARGET`]), where
//! CPython writes to `stderr`. Why `tracing`: events carry structured fields
//! (`generation`, `collected`, `elapsed_s`, `type_name`, `id` …) that a subscriber
//! can filter, count or export without parsing text; each collection is a span, so
//! the events of the user code it runs (finalizers, `Drop`) nest under it; and it is
//! what the Rust VMs and async runtimes that embed a collector already use. Programs
//! that use the `log` crate get the events through this crate's `log` feature
//! (tracing's `log` feature). The crate re-exports the [`tracing`] version it uses.
//!
//! # Pictures of the heap
//!
//! [`Snapshot::take`] records the objects (id, type, size, generation, tracked or
//! not, strong count and how many of those handles the heap's traversals report) and
//! the references between them, without changing the heap, and writes them as
//! Graphviz DOT ([`Snapshot::to_dot`]) or JSON ([`Snapshot::to_json`]). Objects held
//! from outside the heap are drawn red. Render a DOT file with
//!
//! ```sh
//! dot -Tsvg leak.dot -o leak.svg
//! ```
//!
//! The `leak_picture` example builds a leak and writes its picture:
//! `cargo run -p gc-debug --example leak_picture -- leak.dot`.
//!
//! [`why_alive`](why_alive()) answers "why does this leak?": the shortest chain of
//! referrers from an object held from outside the heap (a strong count above the
//! references that traversals report) to the object.
//!
//! # The audit
//!
//! [`audit`](audit()) checks, for each type in a heap, that it collaborates with the
//! collector, and names the type that does not. What can be checked from a running
//! heap, and what cannot:
//!
//! 1. A type that holds handles must be tracked. Tracking follows from
//!    `Traverse::IS_LEAF`; a leaf type whose traversal still reports handles is
//!    named ([`Finding::UntrackedHoldsHandles`]). A leaf that holds handles and
//!    reports none is invisible here, and surfaces under 2.
//! 2. Every reference into an object must be reported by a traversal or be a handle
//!    held outside the heap. With your handles dropped (or named as roots:
//!    [`audit_with_roots`]), an object with more strong handles than reported
//!    references is held by a skipped field ([`Finding::Unaccounted`], with the
//!    number of unreported references). The skipped handle is invisible, so its
//!    owner cannot be observed: the audit ranks *suspects*, the types of the live
//!    objects reachable from the object (the owner usually closes the cycle that
//!    keeps it alive), those seen reporting handles of the object's type elsewhere
//!    first. The first suspect is a guess, not a proof; the count is exact. More
//!    reports than handles (a double or foreign visit) names the reporting types
//!    ([`Finding::OverReported`]).
//! 3. Tracked objects must be on the collector's lists: gc-core guarantees it, and
//!    [`Finding::NotInLists`] guards the collector itself.
//!
//! # Thread-safe heaps
//!
//! For a [`gc_core::sync::Heap`], the functions with a `_sync` suffix do what their
//! namesakes do for a single-threaded heap: [`get_objects_sync`],
//! [`get_referents_sync`], [`get_referrers_sync`], [`Snapshot::take_sync`],
//! [`why_alive_sync`] (the chain as [`SnapshotObject`]s) and [`audit_sync`] (roots
//! given by id). Objects are passed as `&sync::Gc<T>` or `&sync::GcAny`
//! ([`AsSyncAny`]) and come back as [`gc_core::sync::GcAny`]: thread-safe
//! type-erased handles. They walk the heap through [`gc_core::sync::HeapView`],
//! which holds the heap lock from start to end (other threads that use the heap
//! wait; the calling thread may hold it already, in a `read()` guard, a
//! `Heap::lock` or a finalizer). Debug flags: [`set_debug_sync`],
//! [`get_debug_sync`] and [`shutdown_sync`], whose events come from whichever
//! thread collects (install the `tracing` subscriber globally, or on that thread).
//! The `gc` module's plain-data functions (`get_count`, `get_stats`, `freeze`,
//! `garbage`, callbacks …) are methods of [`gc_core::sync::Heap`] itself.
//!
//! # Safety
//!
//! `#![forbid(unsafe_code)]`: this crate is safe code over gc-core's read-only
//! [`introspect`](gc_core::introspect) module, which walks the heap without
//! changing counts or generations. Walking a heap runs every `Traverse` impl; if one
//! panics, the panic propagates and the heap is left as it was.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
mod callbacks;
mod debug;
mod debug_sync;
mod error;
mod graph;
mod handle;
mod introspect;
mod snapshot;
mod why_alive;

pub use audit::{audit, audit_sync, audit_with_roots, AuditReport, Finding, TypeSummary};
pub use callbacks::{add_callback, remove_callback};
pub use debug::{get_debug, set_debug, shutdown, DebugFlags, DebugGuard, TRACING_TARGET};
pub use debug_sync::{get_debug_sync, set_debug_sync, shutdown_sync, SyncDebugGuard};
pub use error::InvalidGeneration;
pub use handle::{AsAny, AsSyncAny};
pub use introspect::{
    collect, freeze, garbage, get_count, get_freeze_count, get_objects, get_objects_sync,
    get_referents, get_referents_sync, get_referrers, get_referrers_sync, get_stats, get_threshold,
    is_finalized, is_tracked, set_threshold, unfreeze,
};
pub use snapshot::{ObjectState, Snapshot, SnapshotEdge, SnapshotObject};
pub use why_alive::{why_alive, why_alive_sync, AlivePath};

pub use gc_core::{CallbackId, CollectInfo, CollectPhase, CollectStats, GcAny, GenerationStats};
/// The `tracing` crate this one emits through, to install a subscriber without
/// depending on a matching version.
pub use tracing;
