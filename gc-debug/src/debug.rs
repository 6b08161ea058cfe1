//! Debug flags (CPython's `gc.set_debug`), reported through `tracing`.

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign, Sub};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gc_core::introspect::heap_id;
use gc_core::{CallbackId, CollectInfo, CollectPhase, GarbageObject, Heap, ShutdownReport};
use hashbrown::HashMap;
use tracing::Span;

/// The `tracing` target of every event and span this crate emits (filter with
/// `gc_debug=info`, for example).
pub const TRACING_TARGET: &str = "gc_debug";

/// CPython's debug flags (`gc.DEBUG_STATS` …), for [`set_debug`]. Combine them with
/// `|`.
///
/// | flag | CPython | effect |
/// |---|---|---|
/// | [`STATS`](Self::STATS) | `DEBUG_STATS` = 1 | one `info` event per collection: generation, collected, uncollectable, examined, duration, generation sizes |
/// | [`COLLECTABLE`](Self::COLLECTABLE) | `DEBUG_COLLECTABLE` = 2 | one `info` event per object a collection frees |
/// | [`UNCOLLECTABLE`](Self::UNCOLLECTABLE) | `DEBUG_UNCOLLECTABLE` = 4 | `warn` events for uncollectable objects, and for the objects still referenced at [`shutdown`] |
/// | [`SAVEALL`](Self::SAVEALL) | `DEBUG_SAVEALL` = 32 | unreachable objects are kept in [`garbage`](crate::garbage) instead of freed ([`Heap::set_save_all`]) |
/// | [`LEAK`](Self::LEAK) | `DEBUG_LEAK` = 38 | `COLLECTABLE \| UNCOLLECTABLE \| SAVEALL` |
///
/// # Examples
///
/// ```
/// use gc_debug::DebugFlags;
///
/// let flags = DebugFlags::STATS | DebugFlags::SAVEALL;
/// assert!(flags.contains(DebugFlags::SAVEALL));
/// assert!(!flags.contains(DebugFlags::LEAK));
/// assert_eq!(flags.bits(), 33);
/// assert_eq!(DebugFlags::LEAK.bits(), 38);
/// assert_eq!(format!("{flags:?}"), "DebugFlags(STATS | SAVEALL)");
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct DebugFlags(u32);

impl DebugFlags {
    /// `DEBUG_STATS`: statistics of each collection.
    pub const STATS: DebugFlags = DebugFlags(1);
    /// `DEBUG_COLLECTABLE`: each object a collection frees.
    pub const COLLECTABLE: DebugFlags = DebugFlags(2);
    /// `DEBUG_UNCOLLECTABLE`: uncollectable objects (none with this collector: every
    /// cycle is collectable) and the objects still referenced at [`shutdown`].
    pub const UNCOLLECTABLE: DebugFlags = DebugFlags(4);
    /// `DEBUG_SAVEALL`: keep unreachable objects in [`garbage`](crate::garbage)
    /// instead of freeing them.
    pub const SAVEALL: DebugFlags = DebugFlags(32);
    /// `DEBUG_LEAK`: `COLLECTABLE | UNCOLLECTABLE | SAVEALL`.
    pub const LEAK: DebugFlags = DebugFlags(2 | 4 | 32);

    const NAMES: [(DebugFlags, &'static str); 4] = [
        (DebugFlags::STATS, "STATS"),
        (DebugFlags::COLLECTABLE, "COLLECTABLE"),
        (DebugFlags::UNCOLLECTABLE, "UNCOLLECTABLE"),
        (DebugFlags::SAVEALL, "SAVEALL"),
    ];

    /// No flag (CPython's `set_debug(0)`).
    pub const fn empty() -> DebugFlags {
        DebugFlags(0)
    }

    /// The flags as CPython's integer.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The flags of CPython's integer `bits`; unknown bits are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_debug::DebugFlags;
    ///
    /// assert_eq!(DebugFlags::from_bits_truncate(38), DebugFlags::LEAK);
    /// assert_eq!(DebugFlags::from_bits_truncate(1 | 8), DebugFlags::STATS);
    /// ```
    pub const fn from_bits_truncate(bits: u32) -> DebugFlags {
        DebugFlags(bits & (1 | 2 | 4 | 32))
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: DebugFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for DebugFlags {
    type Output = DebugFlags;
    fn bitor(self, rhs: DebugFlags) -> DebugFlags {
        DebugFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for DebugFlags {
    fn bitor_assign(&mut self, rhs: DebugFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for DebugFlags {
    type Output = DebugFlags;
    fn bitand(self, rhs: DebugFlags) -> DebugFlags {
        DebugFlags(self.0 & rhs.0)
    }
}

impl Sub for DebugFlags {
    type Output = DebugFlags;
    /// The flags of `self` that are not in `rhs`.
    fn sub(self, rhs: DebugFlags) -> DebugFlags {
        DebugFlags(self.0 & !rhs.0)
    }
}

impl fmt::Debug for DebugFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = DebugFlags::NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect();
        if names.is_empty() {
            write!(f, "DebugFlags(empty)")
        } else {
            write!(f, "DebugFlags({})", names.join(" | "))
        }
    }
}

/// The debug state of one heap, shared by its guards and (weakly) by its
/// collection callback.
struct DebugState {
    /// The flags in force (SAVEALL as asked; the heap's own switch is the truth).
    flags: Cell<DebugFlags>,
    /// The heap, while a guard exists: the callback needs it, and a guard keeps the
    /// heap alive as any `Heap` handle does. Taken by the last guard's drop, which
    /// breaks the reference cycle heap → callback → state → heap.
    heap: RefCell<Option<Heap>>,
    callback: Cell<Option<CallbackId>>,
    garbage_callback: Cell<Option<CallbackId>>,
    /// Live guards.
    guards: Cell<usize>,
    /// What the running collection's start recorded for its stop.
    current: RefCell<Option<Collection>>,
}

/// Recorded at the start of a collection.
struct Collection {
    span: Span,
}

thread_local! {
    /// The debug state of each heap of this thread that has a live guard, by
    /// `heap_id` (heaps are `!Send`, so a thread-local registry sees all of a heap's
    /// calls).
    static REGISTRY: RefCell<HashMap<usize, Weak<DebugState>>> = RefCell::new(HashMap::new());
}

fn lookup(heap: &Heap) -> Option<Rc<DebugState>> {
    REGISTRY
        .try_with(|r| r.borrow().get(&heap_id(heap)).and_then(Weak::upgrade))
        .ok()
        .flatten()
}

fn register(heap: &Heap) -> Rc<DebugState> {
    let state = Rc::new(DebugState {
        flags: Cell::new(DebugFlags::empty()),
        heap: RefCell::new(Some(heap.clone())),
        callback: Cell::new(None),
        garbage_callback: Cell::new(None),
        guards: Cell::new(0),
        current: RefCell::new(None),
    });
    let weak = Rc::downgrade(&state);
    let id = heap.add_collect_callback(move |phase, info| {
        if let Some(state) = weak.upgrade() {
            on_collect(&state, phase, info);
        }
    });
    state.callback.set(Some(id));
    let weak = Rc::downgrade(&state);
    let id = heap.add_garbage_callback(move |garbage| {
        if let Some(state) = weak.upgrade() {
            on_garbage(&state, garbage);
        }
    });
    state.garbage_callback.set(Some(id));
    let _ = REGISTRY.try_with(|r| {
        let mut r = r.borrow_mut();
        r.retain(|_, w| w.strong_count() > 0);
        r.insert(heap_id(heap), Rc::downgrade(&state));
    });
    state
}

/// `flags` with SAVEALL as the heap has it.
fn effective(flags: DebugFlags, heap: &Heap) -> DebugFlags {
    let flags = flags - DebugFlags::SAVEALL;
    if heap.save_all() {
        flags | DebugFlags::SAVEALL
    } else {
        flags
    }
}

/// Sets `heap`'s debug flags (CPython's `gc.set_debug(flags)`) until the returned
/// guard is dropped, which restores the previous ones.
///
/// Output goes through [`tracing`] under the target [`TRACING_TARGET`]: install a
/// subscriber to see it (`tracing-subscriber`'s `fmt()` prints it much like CPython
/// prints to `stderr`). Each collection opens a `gc_collect` span (fields
/// `generation`, then `collected`, `uncollectable`, `candidates`, `elapsed_s`) that
/// is the parent of its events.
///
/// `COLLECTABLE` lists, by type and id, exactly the objects each collection found
/// unreachable and is about to destroy (after finalizers and the resurrection
/// check), or, with `SAVEALL`, to keep in [`garbage`](crate::garbage); it comes from
/// gc-core's garbage callback ([`Heap::add_garbage_callback`]), which hands out names
/// and ids only.
///
/// The guard holds the heap, like a [`Heap`] handle: a heap whose guard is alive is
/// not shut down when its other handles are dropped. Drop guards in reverse order of
/// creation (as scopes do).
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap, Traverse};
/// use gc_debug::{get_debug, set_debug, DebugFlags};
/// use std::cell::RefCell;
///
/// #[derive(Traverse)]
/// struct Node { me: RefCell<Option<Gc<Node>>> }
///
/// let heap = Heap::new();
/// {
///     let _debug = set_debug(&heap, DebugFlags::STATS | DebugFlags::COLLECTABLE);
///     assert_eq!(get_debug(&heap), DebugFlags::STATS | DebugFlags::COLLECTABLE);
///     let n = heap.alloc(Node { me: RefCell::new(None) });
///     *n.me.borrow_mut() = Some(n.clone());
///     drop(n);
///     // With a subscriber installed, logs
///     // "gc: collectable <rust_out::main::Node 0x…>" and
///     // "gc: collected generation 2: 1 unreachable, 0 uncollectable, …".
///     heap.collect();
/// }
/// assert_eq!(get_debug(&heap), DebugFlags::empty());
/// ```
pub fn set_debug(heap: &Heap, flags: DebugFlags) -> DebugGuard {
    let state = lookup(heap).unwrap_or_else(|| register(heap));
    let prev = state.flags.get();
    let prev_save_all = heap.save_all();
    state.flags.set(flags);
    heap.set_save_all(flags.contains(DebugFlags::SAVEALL));
    state.guards.set(state.guards.get() + 1);
    DebugGuard {
        state,
        prev,
        prev_save_all,
    }
}

/// `heap`'s debug flags (CPython's `gc.get_debug()`); `SAVEALL` as the heap has it
/// (also when set with [`Heap::set_save_all`]).
///
/// # Examples
///
/// ```
/// use gc_core::Heap;
/// use gc_debug::{get_debug, DebugFlags};
///
/// let heap = Heap::new();
/// assert_eq!(get_debug(&heap), DebugFlags::empty());
/// heap.set_save_all(true);
/// assert_eq!(get_debug(&heap), DebugFlags::SAVEALL);
/// ```
pub fn get_debug(heap: &Heap) -> DebugFlags {
    let flags = lookup(heap).map_or(DebugFlags::empty(), |s| s.flags.get());
    effective(flags, heap)
}

/// Restores the debug flags that were in force before [`set_debug`] when dropped.
#[must_use = "the debug flags are reset when the guard is dropped"]
pub struct DebugGuard {
    state: Rc<DebugState>,
    prev: DebugFlags,
    prev_save_all: bool,
}

impl fmt::Debug for DebugGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DebugGuard")
            .field("flags", &self.state.flags.get())
            .field("restores", &self.prev)
            .finish()
    }
}

impl Drop for DebugGuard {
    fn drop(&mut self) {
        let state = &self.state;
        state.flags.set(self.prev);
        let heap = state.heap.borrow().clone();
        if let Some(heap) = &heap {
            heap.set_save_all(self.prev_save_all);
        }
        state.guards.set(state.guards.get() - 1);
        if state.guards.get() > 0 {
            return;
        }
        // The last guard: unregister, and release the heap.
        let taken = state.heap.borrow_mut().take();
        state.current.borrow_mut().take();
        if let Some(heap) = &heap {
            for id in [state.callback.take(), state.garbage_callback.take()]
                .into_iter()
                .flatten()
            {
                heap.remove_collect_callback(id);
            }
            let _ = REGISTRY.try_with(|r| {
                let mut r = r.borrow_mut();
                let ours = r
                    .get(&heap_id(heap))
                    .is_some_and(|w| core::ptr::eq(w.as_ptr(), Rc::as_ptr(state)));
                if ours {
                    r.remove(&heap_id(heap));
                }
            });
        }
        // Dropping the last handle shuts the heap down (it runs no callback of ours).
        drop(heap);
        drop(taken);
    }
}

/// The collection callback installed by [`set_debug`].
fn on_collect(state: &DebugState, phase: CollectPhase, info: &CollectInfo) {
    let Some(heap) = state.heap.borrow().clone() else {
        return;
    };
    let flags = effective(state.flags.get(), &heap);
    match phase {
        CollectPhase::Start => {
            state.current.borrow_mut().take();
            if !flags.is_empty() {
                *state.current.borrow_mut() = Some(Collection {
                    span: collect_span(info),
                });
            }
        }
        CollectPhase::Stop => {
            let current = state.current.borrow_mut().take();
            if flags.is_empty() {
                return;
            }
            let span = current.as_ref().map_or_else(Span::none, |c| c.span.clone());
            let sizes = [
                heap.generation_len(0),
                heap.generation_len(1),
                heap.generation_len(2),
            ];
            collect_stop(flags, &span, info, sizes, heap.get_freeze_count());
        }
    }
}

/// The span of a collection that starts, with the fields its stop records.
pub(crate) fn collect_span(info: &CollectInfo) -> Span {
    tracing::info_span!(
        target: TRACING_TARGET,
        "gc_collect",
        generation = info.generation,
        collected = tracing::field::Empty,
        uncollectable = tracing::field::Empty,
        candidates = tracing::field::Empty,
        elapsed_s = tracing::field::Empty,
    )
}

/// What `flags` ask for at the end of a collection: the span's fields, then the
/// `UNCOLLECTABLE` and `STATS` events; `sizes` and `permanent` are the generations'
/// sizes after it.
pub(crate) fn collect_stop(
    flags: DebugFlags,
    span: &Span,
    info: &CollectInfo,
    sizes: [usize; 3],
    permanent: usize,
) {
    span.record("collected", info.collected);
    span.record("uncollectable", info.uncollectable);
    span.record("candidates", info.candidates);
    span.record("elapsed_s", info.duration.as_secs_f64());
    if flags.contains(DebugFlags::UNCOLLECTABLE) && info.uncollectable > 0 {
        tracing::warn!(
            target: TRACING_TARGET,
            parent: span,
            generation = info.generation,
            uncollectable = info.uncollectable,
            "gc: {} uncollectable object(s)",
            info.uncollectable
        );
    }
    if flags.contains(DebugFlags::STATS) {
        let elapsed = info.duration.as_secs_f64();
        tracing::info!(
            target: TRACING_TARGET,
            parent: span,
            generation = info.generation,
            collected = info.collected,
            uncollectable = info.uncollectable,
            candidates = info.candidates,
            elapsed_s = elapsed,
            gen0 = sizes[0],
            gen1 = sizes[1],
            gen2 = sizes[2],
            permanent,
            "gc: collected generation {}: {} unreachable, {} uncollectable, {} examined, \
             {:.6}s elapsed; objects in each generation: {} {} {}, permanent: {}",
            info.generation,
            info.collected,
            info.uncollectable,
            info.candidates,
            elapsed,
            sizes[0],
            sizes[1],
            sizes[2],
            permanent
        );
    }
}

/// The garbage callback installed by [`set_debug`]: one `collectable` event per
/// object the collection is about to destroy (or keep, with `SAVEALL`), exact.
fn on_garbage(state: &DebugState, garbage: &[GarbageObject]) {
    let Some(heap) = state.heap.borrow().clone() else {
        return;
    };
    if !effective(state.flags.get(), &heap).contains(DebugFlags::COLLECTABLE) {
        return;
    }
    let span = state
        .current
        .borrow()
        .as_ref()
        .map_or_else(Span::none, |c| c.span.clone());
    collectable(&span, garbage);
}

/// One `collectable` event per object of `garbage`.
pub(crate) fn collectable(span: &Span, garbage: &[GarbageObject]) {
    for obj in garbage {
        tracing::info!(
            target: TRACING_TARGET,
            parent: span,
            type_name = obj.type_name,
            id = obj.id as u64,
            "gc: collectable <{} {:#x}>",
            obj.type_name,
            obj.id
        );
    }
}

/// Shuts `heap` down ([`Heap::shutdown`]) and, with
/// [`UNCOLLECTABLE`](DebugFlags::UNCOLLECTABLE) set, logs a `warn` event per object
/// still referenced (CPython prints `gc.garbage` at shutdown with
/// `DEBUG_UNCOLLECTABLE`; here nothing is uncollectable, and what is left at
/// shutdown is what leaked: see [`LeakReport`](gc_core::LeakReport)).
///
/// A heap shut down some other way (its last handle dropped, thread exit) logs
/// nothing.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::{set_debug, shutdown, DebugFlags};
///
/// let heap = Heap::new();
/// let _debug = set_debug(&heap, DebugFlags::UNCOLLECTABLE);
/// let kept = heap.alloc(Vec::<Gc<u8>>::new());
/// // Logs "gc: still referenced at shutdown: <alloc::vec::Vec<…> 0x…> …".
/// let report = shutdown(&heap);
/// assert_eq!(report.leaks.len(), 1);
/// # drop(kept);
/// ```
pub fn shutdown(heap: &Heap) -> ShutdownReport {
    let flags = get_debug(heap);
    let report = heap.shutdown();
    shutdown_events(flags, &report);
    report
}

/// The `warn` events of a shutdown under `flags`.
pub(crate) fn shutdown_events(flags: DebugFlags, report: &ShutdownReport) {
    if flags.contains(DebugFlags::UNCOLLECTABLE) && !report.leaks.is_empty() {
        tracing::warn!(
            target: TRACING_TARGET,
            leaked = report.leaks.len(),
            "gc: {} object(s) still referenced at shutdown",
            report.leaks.len()
        );
        for o in report.leaks.objects() {
            tracing::warn!(
                target: TRACING_TARGET,
                type_name = o.type_name,
                id = o.id as u64,
                strong_count = o.strong_count,
                traversed_refs = o.traversed_refs,
                "gc: still referenced at shutdown: <{} {:#x}> ({} strong, {} reported by traversals)",
                o.type_name,
                o.id,
                o.strong_count,
                o.traversed_refs
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_combine_like_cpython_integers() {
        assert_eq!(
            DebugFlags::COLLECTABLE | DebugFlags::UNCOLLECTABLE | DebugFlags::SAVEALL,
            DebugFlags::LEAK
        );
        assert_eq!((DebugFlags::LEAK - DebugFlags::SAVEALL).bits(), 6);
        assert_eq!(DebugFlags::LEAK & DebugFlags::SAVEALL, DebugFlags::SAVEALL);
        let mut f = DebugFlags::empty();
        assert!(f.is_empty());
        f |= DebugFlags::STATS;
        assert_eq!(f.bits(), 1);
        assert_eq!(format!("{:?}", DebugFlags::empty()), "DebugFlags(empty)");
    }

    #[test]
    fn guards_nest_and_restore() {
        let heap = Heap::new();
        let outer = set_debug(&heap, DebugFlags::STATS);
        {
            let _inner = set_debug(&heap, DebugFlags::LEAK);
            assert_eq!(get_debug(&heap), DebugFlags::LEAK);
            assert!(heap.save_all());
        }
        assert_eq!(get_debug(&heap), DebugFlags::STATS);
        assert!(!heap.save_all());
        drop(outer);
        assert_eq!(get_debug(&heap), DebugFlags::empty());
        assert!(lookup(&heap).is_none());
    }

    #[test]
    fn the_last_guard_releases_the_heap() {
        let heap = Heap::new();
        let guard = set_debug(&heap, DebugFlags::STATS);
        let probe = heap.alloc(Vec::<gc_core::Gc<u8>>::new());
        drop(heap); // the guard keeps the heap alive
        assert!(gc_core::Gc::is_alive(&probe));
        drop(guard); // the last handle: the heap shuts down
        assert!(!gc_core::Gc::is_alive(&probe));
    }
}
