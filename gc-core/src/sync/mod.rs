//! The thread-safe flavour: heaps whose objects are shared across threads.
//!
//! [`sync::Heap`](Heap), [`sync::Gc`](Gc) and [`sync::Weak`](Weak) mirror the
//! single-threaded types; `Gc<T>` is `Send + Sync` when `T: Send`. Cycles whose
//! members were created, linked and dropped on different threads are collected;
//! finalizers, weak references and weak-reference callbacks work as in the
//! single-threaded flavour.
//!
//! ```
//! use gc_core::sync::{Gc, Heap};
//! use gc_core::Traverse;
//! use std::sync::Mutex;
//!
//! #[derive(Traverse)]
//! struct Node {
//!     next: Mutex<Option<Gc<Node>>>,
//! }
//!
//! let heap = Heap::new();
//! let a = heap.alloc(Node { next: Mutex::new(None) });
//! let b = heap.alloc(Node { next: Mutex::new(Some(a.clone())) });
//! let t = std::thread::spawn(move || {
//!     *a.read().next.lock().unwrap() = Some(b.clone()); // a <-> b, linked on another thread
//! });
//! t.join().unwrap();
//! assert_eq!(heap.collect().collected, 2);
//! ```
//!
//! # Protocol: a heap lock held by mutator guards
//!
//! Each heap has one re-entrant lock. The thread that holds it has the heap to
//! itself; everything that reads or writes objects takes it:
//!
//! * [`Gc::read`] returns a guard ([`Ref`]) that holds the lock while the value is
//!   borrowed; cloning a handle, upgrading a weak one, allocating and collecting take
//!   it briefly. [`Heap::lock`] holds it for a stretch of work (a VM thread's time
//!   slice), during which the thread's own operations re-enter it with a counter.
//! * Dropping a handle never waits: if another thread holds the lock, the release is
//!   queued and the holder performs it before letting go of the lock (and the
//!   dropping thread re-checks, so that no queued release is stranded).
//! * A collection holds the lock from start to end: it is stop-the-world for the
//!   threads that use this heap, and no thread can clone, drop, dereference or upgrade
//!   a handle of the heap meanwhile, so no live object can look like garbage and no
//!   thread can see a destroyed one. A thread that never touches the heap never
//!   blocks a collection.
//!
//! Invariants (checked by the loom models in `tests/tests/loom.rs`): every object,
//! header and list of a heap is accessed only by the lock's owner; every queued
//! release is performed exactly once, by an owner; the lock is always released, even
//! when user code run under it panics.
//!
//! Hold one heap's guard at a time: two threads that each hold one heap's lock and
//! wait for the other's (by cloning or reading a handle of the other heap) deadlock,
//! as with any two mutexes.
//!
//! # Introspection
//!
//! [`Heap::objects`], [`Heap::garbage`] and [`GcAny::referents`] return [`GcAny`]s,
//! type-erased handles that are as thread-safe as [`Gc`]; [`HeapView`] walks the
//! heap under its lock without changing any count or generation. gc-debug's `_sync`
//! functions (snapshots, `why_alive_sync`, `audit_sync`, debug flags) build on them.
//!
//! # Shutdown never hangs
//!
//! [`Heap::shutdown`] needs the lock. If another thread holds it (a guard kept alive,
//! a thread stuck while reading a value: CPython's daemon thread killed while holding
//! the lock of a buffered writer), shutdown waits a bounded grace period
//! ([`Heap::set_grace_period`], one second by default) and then returns
//! [`ShutdownError`], naming the thread, instead of hanging. Dropping the last `Heap`
//! handle runs the same shutdown and panics with that error if it times out.

mod any;
mod gil;
pub(crate) mod primitive;

pub use any::GcAny;

#[cfg(loom)]
#[doc(hidden)]
pub use gil::break_deferred_release;

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use std::time::Duration;

use crate::error::{AllocError, DerefError};
use crate::introspect::{NodeKind, ObjectInfo};
use crate::raw::{ObjPtr, DEAD, FINALIZED, ORPHAN, WEAK_CLEARED};
use crate::shutdown::ShutdownReport;
use crate::traverse::Traverse;
use crate::visitor::Visitor;
use crate::CollectStats;
use gil::{Gil, GilGuard, Pending};
use primitive::{lock, Arc, Mutex, ThreadId};

/// A thread-safe heap: its objects may be shared by every thread.
///
/// A counted handle; the heap shuts down when the last `Heap` handle is dropped
/// (handles to objects do not keep it running, only alive enough to fail cleanly).
pub struct Heap {
    owner: Arc<HeapOwner>,
}

struct HeapOwner {
    gil: Arc<Gil>,
    grace: Mutex<Duration>,
}

impl Drop for HeapOwner {
    fn drop(&mut self) {
        let grace = *lock(&self.grace);
        if let Err(e) = shutdown(&self.gil, grace) {
            if std::thread::panicking() {
                eprintln!("gc-core: {e}");
            } else {
                panic!("{e}");
            }
        }
    }
}

impl Clone for Heap {
    fn clone(&self) -> Self {
        Heap {
            owner: self.owner.clone(),
        }
    }
}

impl Default for Heap {
    fn default() -> Self {
        Heap::new()
    }
}

impl fmt::Debug for Heap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("sync::Heap").finish_non_exhaustive()
    }
}

/// Heap shutdown gave up: another thread held the heap lock for the whole grace period.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownError {
    /// The thread that held the lock (`None` only if it was exiting, its
    /// thread-locals being destroyed, and could no longer be named).
    pub holder: Option<ThreadId>,
    /// How long shutdown waited.
    pub waited: Duration,
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let holder = match self.holder {
            Some(id) => format!("thread {id:?}"),
            None => "an exiting thread".to_string(),
        };
        write!(
            f,
            "heap shutdown gave up after {:?}: {holder} still holds the heap lock \
             (a gc_core::sync::Ref guard kept alive, or a thread blocked while holding one)",
            self.waited
        )
    }
}

impl std::error::Error for ShutdownError {}

fn shutdown(gil: &Gil, grace: Duration) -> Result<ShutdownReport, ShutdownError> {
    let guard = gil.acquire_timeout(grace).map_err(|holder| ShutdownError {
        holder,
        waited: grace,
    })?;
    Ok(guard.heap().shutdown())
}

impl Heap {
    /// Creates an empty thread-safe heap (CPython's default thresholds).
    pub fn new() -> Heap {
        let inner = crate::Heap::new();
        let gil = Arc::new(Gil::new(inner));
        let tag = gil.tag();
        gil.acquire().heap().state().sync_tag.set(tag);
        Heap {
            owner: Arc::new(HeapOwner {
                gil,
                grace: Mutex::new(Duration::from_secs(1)),
            }),
        }
    }

    fn gil(&self) -> &Arc<Gil> {
        &self.owner.gil
    }

    /// Sets how long shutdown waits for another thread to release the heap lock.
    pub fn set_grace_period(&self, grace: Duration) {
        *lock(&self.owner.grace) = grace;
    }

    /// Allocates `value` in this heap (see [`crate::Heap::alloc`]).
    ///
    /// # Panics
    /// If the heap has been shut down.
    pub fn alloc<T: Traverse + Send + 'static>(&self, value: T) -> Gc<T> {
        self.try_alloc(value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Allocates `value`, or gives it back if the heap has been shut down.
    ///
    /// # Errors
    /// [`AllocError`] after shutdown.
    pub fn try_alloc<T: Traverse + Send + 'static>(
        &self,
        value: T,
    ) -> Result<Gc<T>, AllocError<T>> {
        let guard = self.gil().acquire();
        let g = guard.heap().try_alloc(value)?;
        let obj = g.obj();
        core::mem::forget(g);
        Ok(Gc {
            obj,
            gil: self.gil().clone(),
            _owns: PhantomData,
        })
    }

    /// Runs a full collection; stops the world for the threads that use this heap.
    pub fn collect(&self) -> CollectStats {
        self.gil().acquire().heap().collect()
    }

    /// Collects generations `0..=generation`.
    ///
    /// # Panics
    /// If `generation > 2`.
    pub fn collect_generation(&self, generation: usize) -> CollectStats {
        self.gil().acquire().heap().collect_generation(generation)
    }

    /// Turns automatic collection on.
    pub fn enable(&self) {
        self.gil().acquire().heap().enable()
    }

    /// Turns automatic collection off.
    pub fn disable(&self) {
        self.gil().acquire().heap().disable()
    }

    /// Sets the collection thresholds (see [`crate::Heap::set_threshold`]).
    pub fn set_threshold(&self, t0: usize, t1: usize, t2: usize) {
        self.gil().acquire().heap().set_threshold(t0, t1, t2)
    }

    /// Number of tracked objects.
    pub fn tracked_count(&self) -> usize {
        self.gil().acquire().heap().tracked_count()
    }

    /// Collects until a collection frees nothing, at most `max_rounds` times (see
    /// [`crate::Heap::collect_until_stable`]); returns the total freed.
    pub fn collect_until_stable(&self, max_rounds: usize) -> usize {
        self.gil().acquire().heap().collect_until_stable(max_rounds)
    }

    /// Whether automatic collection is on.
    pub fn is_enabled(&self) -> bool {
        self.gil().acquire().heap().is_enabled()
    }

    /// CPython's `gc.get_count()` (see [`crate::Heap::get_count`]).
    pub fn get_count(&self) -> (usize, usize, usize) {
        self.gil().acquire().heap().get_count()
    }

    /// CPython's `gc.get_threshold()`.
    pub fn get_threshold(&self) -> (usize, usize, usize) {
        self.gil().acquire().heap().get_threshold()
    }

    /// Number of tracked objects in `generation` (0, 1 or 2).
    ///
    /// # Panics
    /// If `generation > 2`.
    pub fn generation_len(&self, generation: usize) -> usize {
        self.gil().acquire().heap().generation_len(generation)
    }

    /// Collection statistics per generation (CPython's `gc.get_stats()`).
    pub fn get_stats(&self) -> [crate::GenerationStats; crate::GENERATIONS] {
        self.gil().acquire().heap().get_stats()
    }

    /// Moves every tracked object to the permanent generation, which collections
    /// never examine (CPython's `gc.freeze()`).
    pub fn freeze(&self) {
        self.gil().acquire().heap().freeze()
    }

    /// Moves the permanent generation back into generation 2 (CPython's
    /// `gc.unfreeze()`).
    pub fn unfreeze(&self) {
        self.gil().acquire().heap().unfreeze()
    }

    /// Number of objects in the permanent generation (CPython's
    /// `gc.get_freeze_count()`).
    pub fn get_freeze_count(&self) -> usize {
        self.gil().acquire().heap().get_freeze_count()
    }

    /// The tracked, live objects of `generation`, or of the whole heap (the permanent
    /// generation included) for `None` (CPython's `gc.get_objects()`; see
    /// [`crate::Heap::objects`]), as thread-safe handles.
    ///
    /// # Panics
    /// If `generation > Some(2)`.
    ///
    /// ```
    /// use gc_core::sync::{Gc, Heap};
    ///
    /// let heap = Heap::new();
    /// let list = heap.alloc(vec![heap.alloc(1u8)]);
    /// let objs = heap.objects(None);
    /// assert_eq!(objs.len(), 1); // the leaf is not tracked
    /// assert_eq!(objs[0].id(), Gc::id(&list));
    /// ```
    pub fn objects(&self, generation: Option<usize>) -> Vec<GcAny> {
        let guard = self.gil().acquire();
        let objs = guard.heap().objects(generation);
        self.to_sync(objs)
    }

    /// CPython's `DEBUG_SAVEALL`: when on, objects found unreachable are kept alive
    /// in [`garbage`](Heap::garbage) instead of being destroyed.
    pub fn set_save_all(&self, on: bool) {
        self.gil().acquire().heap().set_save_all(on)
    }

    /// Whether `DEBUG_SAVEALL` is on.
    pub fn save_all(&self) -> bool {
        self.gil().acquire().heap().save_all()
    }

    /// The objects kept by `DEBUG_SAVEALL` (CPython's `gc.garbage`), as thread-safe
    /// handles.
    ///
    /// ```
    /// use gc_core::sync::{Gc, Heap};
    /// use gc_core::Traverse;
    /// use std::sync::Mutex;
    ///
    /// #[derive(Traverse)]
    /// struct Node { me: Mutex<Option<Gc<Node>>> }
    ///
    /// let heap = Heap::new();
    /// heap.set_save_all(true);
    /// let n = heap.alloc(Node { me: Mutex::new(None) });
    /// *n.read().me.lock().unwrap() = Some(n.clone());
    /// drop(n);
    /// assert_eq!(heap.collect().collected, 1);
    /// let garbage = heap.garbage();
    /// assert!(garbage[0].is::<Node>());
    /// # let n = garbage[0].clone().downcast::<Node>().unwrap();
    /// # let me = n.read().me.lock().unwrap().take();
    /// # drop((me, n, garbage));
    /// ```
    pub fn garbage(&self) -> Vec<GcAny> {
        let guard = self.gil().acquire();
        let objs = guard.heap().garbage();
        self.to_sync(objs)
    }

    /// Single-threaded handles to objects of this heap, made under the lock this
    /// thread holds, as thread-safe ones.
    fn to_sync(&self, objs: Vec<crate::GcAny>) -> Vec<GcAny> {
        objs.into_iter()
            .map(|a| GcAny::from_unsync(a, self.gil()))
            .collect()
    }

    /// A number identifying this heap while it exists (clones share it), as
    /// [`introspect::heap_id`](crate::introspect::heap_id) for a single-threaded one.
    ///
    /// ```
    /// use gc_core::sync::Heap;
    ///
    /// let heap = Heap::new();
    /// assert_eq!(heap.id(), heap.clone().id());
    /// assert_ne!(heap.id(), Heap::new().id());
    /// ```
    pub fn id(&self) -> usize {
        core::ptr::from_ref::<HeapOwner>(&self.owner).addr()
    }

    /// Unregisters an exit hook; returns whether it was still registered.
    pub fn cancel_at_exit(&self, id: crate::ExitHookId) -> bool {
        self.gil().acquire().heap().cancel_at_exit(id)
    }

    /// Whether the heap has been shut down (or is shutting down).
    pub fn is_shut_down(&self) -> bool {
        self.gil().acquire().heap().is_shut_down()
    }

    /// Registers a function called at the start and the end of every collection
    /// (CPython's `gc.callbacks`; see [`crate::Heap::add_collect_callback`]). It runs
    /// on the thread that collects, with the heap lock held (so it may use the
    /// heap's handles, re-entering the lock), hence `Send`.
    ///
    /// ```
    /// use gc_core::sync::Heap;
    /// use gc_core::CollectPhase;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let heap = Heap::new();
    /// let stops = Arc::new(AtomicUsize::new(0));
    /// let s = stops.clone();
    /// let id = heap.add_collect_callback(move |phase, _info| {
    ///     if phase == CollectPhase::Stop {
    ///         s.fetch_add(1, Ordering::SeqCst);
    ///     }
    /// });
    /// let h = &heap;
    /// std::thread::scope(|scope| {
    ///     scope.spawn(move || h.collect());
    /// });
    /// assert_eq!(stops.load(Ordering::SeqCst), 1);
    /// assert!(heap.remove_collect_callback(id));
    /// ```
    pub fn add_collect_callback(
        &self,
        f: impl Fn(crate::CollectPhase, &crate::CollectInfo) + Send + 'static,
    ) -> crate::CallbackId {
        self.gil().acquire().heap().add_collect_callback(f)
    }

    /// Registers a function told which objects each collection is about to destroy,
    /// by type name and id (see [`crate::Heap::add_garbage_callback`]). It runs on
    /// the thread that collects, with the heap lock held, hence `Send`.
    pub fn add_garbage_callback(
        &self,
        f: impl Fn(&[crate::GarbageObject]) + Send + 'static,
    ) -> crate::CallbackId {
        self.gil().acquire().heap().add_garbage_callback(f)
    }

    /// Unregisters a collection or garbage callback; returns whether it was
    /// registered.
    pub fn remove_collect_callback(&self, id: crate::CallbackId) -> bool {
        self.gil().acquire().heap().remove_collect_callback(id)
    }

    /// Registers an exit hook (run at shutdown, last registered first).
    pub fn at_exit(&self, f: impl FnOnce() + Send + 'static) -> crate::ExitHookId {
        self.gil().acquire().heap().at_exit(f)
    }

    /// Shuts the heap down (see [`crate::Heap::shutdown`]), waiting at most the grace
    /// period for another thread to release the heap lock.
    ///
    /// # Errors
    /// [`ShutdownError`] naming the thread that held the lock throughout.
    pub fn shutdown(&self) -> Result<ShutdownReport, ShutdownError> {
        let grace = *lock(&self.owner.grace);
        shutdown(self.gil(), grace)
    }
}

/// A thread-safe strong handle (see [`crate::Gc`]). Dereference it with
/// [`read`](Gc::read), which holds the heap lock while the value is borrowed.
pub struct Gc<T> {
    obj: ObjPtr,
    gil: Arc<Gil>,
    _owns: PhantomData<T>,
}

// SAFETY: the handle's object is touched only under its heap's lock, which at most one
// thread holds at a time; the value may be dropped on any thread, hence `T: Send`.
unsafe impl<T: Send> Send for Gc<T> {}
// SAFETY: sharing `&Gc<T>` lets other threads clone it or read through it, both under
// the lock, one thread at a time; so `T: Send` suffices (as for `Mutex<T>`).
unsafe impl<T: Send> Sync for Gc<T> {}

impl<T: Traverse + 'static> Gc<T> {
    /// Borrows the value, holding the heap lock until the guard is dropped.
    ///
    /// # Panics
    /// If the handle is dead (see [`crate::Gc::try_deref`]).
    pub fn read(&self) -> Ref<'_, T> {
        self.try_read().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Borrows the value, or says why it cannot be reached.
    ///
    /// # Errors
    /// [`DerefError`] for a dead handle.
    pub fn try_read(&self) -> Result<Ref<'_, T>, DerefError> {
        let guard = self.gil.acquire();
        let flags = self.obj.flags();
        if flags & (DEAD | ORPHAN) != 0 {
            return Err(DerefError::for_flags(flags, self.obj.type_name()));
        }
        let value = self.obj.value_ptr::<T>();
        Ok(Ref {
            _guard: guard,
            value,
            _borrow: PhantomData,
        })
    }

    /// Whether both handles point to the same object.
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.obj == other.obj
    }

    /// The number of strong handles.
    pub fn strong_count(this: &Self) -> usize {
        let _g = this.gil.acquire();
        this.obj.strong() as usize
    }

    /// The number of [`Weak`] handles to the object.
    ///
    /// ```
    /// let heap = gc_core::sync::Heap::new();
    /// let g = heap.alloc(1u8);
    /// let w = gc_core::sync::Gc::downgrade(&g);
    /// assert_eq!(gc_core::sync::Gc::weak_count(&g), 1);
    /// drop(w);
    /// assert_eq!(gc_core::sync::Gc::weak_count(&g), 0);
    /// ```
    pub fn weak_count(this: &Self) -> usize {
        let _g = this.gil.acquire();
        this.obj.weak_count()
    }

    /// Whether the object's finalizer has run.
    pub fn is_finalized(this: &Self) -> bool {
        let _g = this.gil.acquire();
        this.obj.flags() & FINALIZED != 0
    }

    /// Whether the collector tracks the object (CPython's `gc.is_tracked`): false for
    /// a value that cannot hold a handle (a leaf) and for a dead handle.
    ///
    /// ```
    /// use gc_core::sync::{Gc, Heap};
    ///
    /// let heap = Heap::new();
    /// let leaf = heap.alloc(1u8);
    /// let list = heap.alloc(vec![leaf.clone()]);
    /// assert!(!Gc::is_tracked(&leaf));
    /// assert!(Gc::is_tracked(&list));
    /// ```
    pub fn is_tracked(this: &Self) -> bool {
        let _g = this.gil.acquire();
        this.obj.is_tracked() && this.obj.flags() & (DEAD | ORPHAN) == 0
    }

    /// A stable identifier of the object while it is alive (its address), as
    /// [`GcAny::id`](crate::GcAny::id): the ids of [`HeapView`]'s objects and of
    /// gc-debug's snapshots. Takes no lock.
    pub fn id(this: &Self) -> usize {
        this.obj.as_non_null().as_ptr().addr()
    }

    /// Creates a weak handle.
    pub fn downgrade(this: &Self) -> Weak<T> {
        let _g = this.gil.acquire();
        this.obj.inc_weak();
        Weak {
            obj: this.obj,
            gil: this.gil.clone(),
            _owns: PhantomData,
        }
    }
}

impl<T> Clone for Gc<T> {
    fn clone(&self) -> Self {
        let _g = self.gil.acquire();
        self.obj.inc_strong();
        Gc {
            obj: self.obj,
            gil: self.gil.clone(),
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for Gc<T> {
    fn drop(&mut self) {
        match self.gil.try_acquire() {
            Some(_g) => self.obj.release_strong(),
            None => self.gil.defer(Pending::Strong(self.obj)),
        }
    }
}

impl<T> fmt::Debug for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sync::Gc({:p})", self.obj.as_non_null())
    }
}

// SAFETY: reports its one handle once. The collector calls this with the heap lock
// held; a handle into another heap is not reported (its header belongs to another
// lock), which makes it an outside reference, as in the single-threaded flavour.
unsafe impl<T: Traverse + 'static> Traverse for Gc<T> {
    const IS_LEAF: bool = false;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        if visitor.sync_tag() == self.gil.tag() {
            visitor.visit_obj(self.obj);
        }
    }
    /// Prefetches the referent's header, which marking reads (a hint: for a handle
    /// into another heap, which `traverse` does not report, it only costs the load).
    #[inline]
    fn prefetch(&self) {
        self.obj.prefetch_header();
    }
}

/// A borrow of a value in a thread-safe heap; holds the heap lock.
pub struct Ref<'a, T> {
    _guard: GilGuard<'a>,
    value: core::ptr::NonNull<T>,
    _borrow: PhantomData<&'a T>,
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // The value was live when the guard was taken, and while this thread holds the
        // lock no other thread can destroy it; this thread cannot either while the
        // `&Gc` this borrow came from is alive (its count keeps the value from
        // reference counting, and the collector never destroys an object a handle
        // outside the heap reaches).
        // SAFETY: the value is live and stays so for the borrow (see above).
        unsafe { self.value.as_ref() }
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// A thread-safe weak handle.
pub struct Weak<T> {
    obj: ObjPtr,
    gil: Arc<Gil>,
    _owns: PhantomData<T>,
}

// SAFETY: as for `Gc`.
unsafe impl<T: Send> Send for Weak<T> {}
// SAFETY: as for `Gc`.
unsafe impl<T: Send> Sync for Weak<T> {}

impl<T> Weak<T> {
    /// A strong handle, if the value is alive and the weak reference not cleared.
    pub fn upgrade(&self) -> Option<Gc<T>> {
        let _g = self.gil.acquire();
        if self.obj.strong() == 0 || self.obj.flags() & (DEAD | ORPHAN | WEAK_CLEARED) != 0 {
            return None;
        }
        self.obj.inc_strong();
        Some(Gc {
            obj: self.obj,
            gil: self.gil.clone(),
            _owns: PhantomData,
        })
    }
}

impl<T> Clone for Weak<T> {
    fn clone(&self) -> Self {
        let _g = self.gil.acquire();
        self.obj.inc_weak();
        Weak {
            obj: self.obj,
            gil: self.gil.clone(),
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for Weak<T> {
    fn drop(&mut self) {
        match self.gil.try_acquire() {
            Some(_g) => self.obj.release_weak(),
            None => self.gil.defer(Pending::Weak(self.obj)),
        }
    }
}

impl<T> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(sync::Weak)")
    }
}

// SAFETY: a weak handle keeps nothing alive: a leaf.
unsafe impl<T: 'static> Traverse for Weak<T> {
    const IS_LEAF: bool = true;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

impl Heap {
    /// The thread that holds the heap lock right now, if any (for diagnostics).
    pub fn lock_holder(&self) -> Option<ThreadId> {
        self.gil().holder()
    }

    /// Takes the heap lock and holds it until the returned guard is dropped: a
    /// stretch of work on this heap under one acquisition, as a VM thread holds its
    /// interpreter lock while it runs.
    ///
    /// Meanwhile this thread's operations on the heap's handles (clone, drop,
    /// [`read`](Gc::read), upgrade, allocation, collection) take the lock again with
    /// a counter, without the atomic compare-and-swaps of an acquisition and a
    /// release; other threads wait to clone, read, allocate or collect, their drops
    /// are queued and performed when the guard goes, and shutdown from another
    /// thread gives up after its grace period, naming this one. Waits while another
    /// thread holds the lock. The guard stays on its thread (it is not `Send`).
    ///
    /// As with [`read`](Gc::read) guards: do not wait for another thread that needs
    /// this heap (or lock a `Mutex` such a thread may hold while it waits for the
    /// heap) while the guard lives.
    ///
    /// ```
    /// use gc_core::sync::Heap;
    ///
    /// let heap = Heap::new();
    /// let a = heap.alloc(7u64);
    /// {
    ///     let _held = heap.lock();
    ///     assert_eq!(heap.lock_holder(), Some(std::thread::current().id()));
    ///     let copies: Vec<_> = (0..1000).map(|_| a.clone()).collect();
    ///     assert_eq!(*copies[999].read(), 7);
    /// } // `copies`, then the guard
    /// assert_eq!(heap.lock_holder(), None);
    /// ```
    ///
    /// ```compile_fail,E0277
    /// let heap = gc_core::sync::Heap::new();
    /// let held = heap.lock();
    /// std::thread::scope(|s| {
    ///     s.spawn(move || drop(held)); // the lock belongs to the thread that took it
    /// });
    /// ```
    pub fn lock(&self) -> HeapLock<'_> {
        HeapLock {
            _guard: self.gil().acquire(),
            _not_send: PhantomData,
        }
    }

    /// [`lock`](Heap::lock) without waiting: `None` if another thread holds the
    /// lock.
    pub fn try_lock(&self) -> Option<HeapLock<'_>> {
        Some(HeapLock {
            _guard: self.gil().try_acquire()?,
            _not_send: PhantomData,
        })
    }
}

/// A read-only view of a thread-safe heap's objects and of the references their
/// traversals report, for debugging tools (gc-debug's `_sync` functions):
/// [`introspect::HeapView`](crate::introspect::HeapView) for a thread-safe heap. It
/// holds the heap lock from [`new`](HeapView::new) to its drop, so keep it
/// short-lived: other threads that use the heap wait meanwhile.
///
/// Objects are nodes, numbered: the tracked objects on the heap's lists first
/// (`0..len()`), then what [`node_referents`](HeapView::node_referents) reaches
/// beyond them (leaves, dead handles). Each is pinned while the view exists (one
/// strong count, left out of [`ObjectInfo::strong_count`]); taking and dropping a
/// view changes no count and no generation. Its handles ([`handle`](HeapView::handle))
/// are thread-safe [`GcAny`]s: the single-threaded view's would be single-threaded
/// handles to shared objects, which could outlive the lock.
///
/// ```
/// use gc_core::introspect::NodeKind;
/// use gc_core::sync::{Gc, Heap, HeapView};
///
/// let heap = Heap::new();
/// let leaf = heap.alloc(7u32);
/// let list = heap.alloc(vec![leaf.clone(), leaf.clone()]);
/// let mut view = HeapView::new(&heap);
/// assert_eq!(view.len(), 1); // `list`; the leaf is untracked
/// assert_eq!(view.info(0).id, Gc::id(&list));
/// assert_eq!(view.node_referents(0), [1, 1]);
/// let info = view.info(1);
/// assert_eq!((info.id, info.kind, info.strong_count), (Gc::id(&leaf), NodeKind::Untracked, 3));
/// ```
///
/// The view is not `Send`: the lock belongs to the thread that took it.
///
/// ```compile_fail,E0277
/// let heap = gc_core::sync::Heap::new();
/// let view = gc_core::sync::HeapView::new(&heap);
/// std::thread::scope(|s| {
///     s.spawn(move || drop(view));
/// });
/// ```
pub struct HeapView<'a> {
    // Dropped first: releasing the pins may destroy objects, which needs the lock.
    view: crate::introspect::HeapView,
    _guard: GilGuard<'a>,
    gil: &'a Arc<Gil>,
}

impl<'a> HeapView<'a> {
    /// Takes the heap lock (waiting while another thread holds it; re-entering it if
    /// this thread does) and pins every object on the heap's lists.
    ///
    /// Runs no user code.
    pub fn new(heap: &'a Heap) -> HeapView<'a> {
        let guard = heap.gil().acquire();
        HeapView {
            view: crate::introspect::HeapView::new(guard.heap()),
            _guard: guard,
            gil: heap.gil(),
        }
    }

    /// Number of tracked objects on the heap's lists: the nodes `0..len()`.
    pub fn len(&self) -> usize {
        self.view.len()
    }

    /// Whether the heap's lists are empty.
    pub fn is_empty(&self) -> bool {
        self.view.is_empty()
    }

    /// Number of nodes so far (see [`introspect::HeapView::node_count`](crate::introspect::HeapView::node_count)).
    pub fn node_count(&self) -> usize {
        self.view.node_count()
    }

    /// What is known about node `index` now (see
    /// [`introspect::HeapView::info`](crate::introspect::HeapView::info)).
    ///
    /// # Panics
    /// If `index >= self.node_count()`.
    pub fn info(&self, index: usize) -> ObjectInfo {
        self.view.info(index)
    }

    /// The nodes that node `index`'s traversal reports (see
    /// [`introspect::HeapView::node_referents`](crate::introspect::HeapView::node_referents)).
    /// Runs user code with the heap lock held, as a collection does.
    ///
    /// # Panics
    /// If `index >= self.node_count()`, or if the traversal panics (the view stays
    /// valid).
    pub fn node_referents(&mut self, index: usize) -> Vec<usize> {
        self.view.node_referents(index)
    }

    /// A new strong handle to node `index`: a thread-safe one, which may outlive the
    /// view and go to other threads. `None` for a node that is dead or that a running
    /// collection holds (never hand those out).
    ///
    /// # Panics
    /// If `index >= self.node_count()`.
    pub fn handle(&self, index: usize) -> Option<GcAny> {
        match self.view.info(index).kind {
            NodeKind::Listed | NodeKind::Untracked => {
                Some(GcAny::from_obj_cloned(self.view.obj(index), self.gil))
            }
            _ => None,
        }
    }

    /// Whether a collection of the heap was running when the view was taken (by a
    /// finalizer, a `Drop` impl or a weak-reference callback that it runs, on the
    /// collecting thread).
    pub fn is_collecting(&self) -> bool {
        self.view.is_collecting()
    }
}

impl fmt::Debug for HeapView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("sync::HeapView")
            .field("objects", &self.view.len())
            .finish()
    }
}

/// A thread's hold on a heap's lock, from [`Heap::lock`]; releases it when dropped.
pub struct HeapLock<'a> {
    _guard: GilGuard<'a>,
    /// The lock is this thread's: the guard must be released where it was taken.
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for HeapLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeapLock { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_safe_heaps_leaves_come_from_the_global_allocator() {
        // They may be freed on any thread, where no thread's leaf pools may go.
        let heap = Heap::new();
        let g = heap.alloc(5u64);
        assert!(!g.obj.in_leaf_pools());
        let t = std::thread::spawn(move || {
            let v = *g.read();
            drop(g);
            v
        });
        assert_eq!(t.join().unwrap(), 5);
    }
}
