//! Debug flags for thread-safe heaps: [`set_debug`](crate::set_debug) for a
//! [`sync::Heap`].
//!
//! Locks: the collection callbacks run with the heap lock held and take a state's
//! mutex; so nothing here calls into the heap (takes its lock) while it holds a
//! state's mutex or the registry's, and the registry's is taken before a state's.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use gc_core::{sync, CallbackId, CollectInfo, CollectPhase, GarbageObject, ShutdownReport};
use tracing::Span;

use crate::debug::{collect_span, collect_stop, collectable, shutdown_events, DebugFlags};

/// The debug state of one thread-safe heap, shared by its guards and (weakly) by its
/// callbacks.
struct State {
    inner: Mutex<Inner>,
}

struct Inner {
    /// The flags in force (SAVEALL as asked; the heap's own switch is the truth).
    flags: DebugFlags,
    /// The heap, while a guard exists (a guard keeps the heap alive, as a handle).
    /// Taken by the last guard's drop, which breaks the cycle heap → callback →
    /// state → heap.
    heap: Option<sync::Heap>,
    callbacks: Vec<CallbackId>,
    /// Live guards.
    guards: usize,
    /// The span of the running collection.
    current: Option<Span>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data stays consistent: no code here panics while it holds a lock.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }
}

/// The debug state of each thread-safe heap with a live guard, by heap id.
static REGISTRY: Mutex<Vec<(usize, Weak<State>)>> = Mutex::new(Vec::new());

fn lookup(registry: &[(usize, Weak<State>)], heap: &sync::Heap) -> Option<Arc<State>> {
    registry
        .iter()
        .find(|(id, _)| *id == heap.id())
        .and_then(|(_, w)| w.upgrade())
}

/// `flags` with SAVEALL as the heap has it.
fn effective(flags: DebugFlags, heap: &sync::Heap) -> DebugFlags {
    let flags = flags - DebugFlags::SAVEALL;
    if heap.save_all() {
        flags | DebugFlags::SAVEALL
    } else {
        flags
    }
}

/// [`set_debug`](crate::set_debug) for a thread-safe heap: sets its debug flags until
/// the returned guard is dropped, which restores the previous ones. The events are
/// the same, emitted on whichever thread collects (inside its `gc_collect` span).
/// The guard may be dropped on any thread; drop guards in reverse order of creation.
///
/// # Examples
///
/// ```
/// use gc_core::sync::{Gc, Heap};
/// use gc_core::Traverse;
/// use gc_debug::{get_debug_sync, set_debug_sync, DebugFlags};
/// use std::sync::Mutex;
///
/// #[derive(Traverse)]
/// struct Node { me: Mutex<Option<Gc<Node>>> }
///
/// let heap = Heap::new();
/// {
///     let _debug = set_debug_sync(&heap, DebugFlags::STATS | DebugFlags::SAVEALL);
///     assert_eq!(get_debug_sync(&heap), DebugFlags::STATS | DebugFlags::SAVEALL);
///     let n = heap.alloc(Node { me: Mutex::new(None) });
///     *n.read().me.lock().unwrap() = Some(n.clone());
///     drop(n);
///     // With a subscriber installed, logs "gc: collected generation 2: 1 unreachable, …".
///     std::thread::scope(|s| s.spawn(|| heap.collect()).join().unwrap());
///     assert_eq!(heap.garbage().len(), 1); // SAVEALL kept it
/// #   let n = heap.garbage()[0].clone().downcast::<Node>().unwrap();
/// #   let me = n.read().me.lock().unwrap().take();
/// #   drop((me, n));
/// }
/// assert_eq!(get_debug_sync(&heap), DebugFlags::empty());
/// ```
pub fn set_debug_sync(heap: &sync::Heap, flags: DebugFlags) -> SyncDebugGuard {
    let state = state_for(heap);
    let prev_save_all = heap.save_all();
    heap.set_save_all(flags.contains(DebugFlags::SAVEALL));
    let prev = core::mem::replace(&mut state.inner().flags, flags);
    SyncDebugGuard {
        state,
        prev,
        prev_save_all,
    }
}

/// The registered state of `heap` with one more guard counted, registered first if
/// there is none (or only one whose last guard is being dropped).
fn state_for(heap: &sync::Heap) -> Arc<State> {
    /// `state` with one more guard, unless its last guard is being dropped.
    fn join(state: Arc<State>) -> Option<Arc<State>> {
        let mut inner = state.inner();
        inner.heap.as_ref()?;
        inner.guards += 1;
        drop(inner);
        Some(state)
    }
    loop {
        let found = lookup(&lock(&REGISTRY), heap);
        if let Some(state) = found.and_then(join) {
            return state;
        }
        // Installing the callbacks takes the heap lock: not under the registry's.
        let fresh = register(heap);
        let mut registry = lock(&REGISTRY);
        let raced = lookup(&registry, heap).is_some_and(|s| s.inner().heap.is_some());
        if raced {
            // Another thread registered meanwhile: use its state.
            drop(registry);
            unregister(&fresh);
            continue;
        }
        registry.retain(|(id, w)| *id != heap.id() && w.strong_count() > 0);
        registry.push((heap.id(), Arc::downgrade(&fresh)));
        fresh.inner().guards = 1;
        return fresh;
    }
}

/// A new state for `heap`, its callbacks installed.
fn register(heap: &sync::Heap) -> Arc<State> {
    let state = Arc::new(State {
        inner: Mutex::new(Inner {
            flags: DebugFlags::empty(),
            heap: Some(heap.clone()),
            callbacks: Vec::new(),
            guards: 0,
            current: None,
        }),
    });
    let weak = Arc::downgrade(&state);
    let on_collect = heap.add_collect_callback(move |phase, info| {
        if let Some(state) = weak.upgrade() {
            on_collect(&state, phase, info);
        }
    });
    let weak = Arc::downgrade(&state);
    let on_garbage = heap.add_garbage_callback(move |garbage| {
        if let Some(state) = weak.upgrade() {
            on_garbage(&state, garbage);
        }
    });
    state.inner().callbacks = vec![on_collect, on_garbage];
    state
}

/// Removes `state`'s callbacks and releases its heap (which shuts down if that was
/// its last handle).
fn unregister(state: &State) {
    let (heap, callbacks) = {
        let mut inner = state.inner();
        inner.current = None;
        (inner.heap.take(), core::mem::take(&mut inner.callbacks))
    };
    if let Some(heap) = heap {
        for id in callbacks {
            heap.remove_collect_callback(id);
        }
    }
}

/// [`get_debug`](crate::get_debug) for a thread-safe heap.
pub fn get_debug_sync(heap: &sync::Heap) -> DebugFlags {
    let state = lookup(&lock(&REGISTRY), heap);
    let flags = state.map_or(DebugFlags::empty(), |s| s.inner().flags);
    effective(flags, heap)
}

/// Restores the debug flags that were in force before [`set_debug_sync`] when
/// dropped.
#[must_use = "the debug flags are reset when the guard is dropped"]
pub struct SyncDebugGuard {
    state: Arc<State>,
    prev: DebugFlags,
    prev_save_all: bool,
}

impl core::fmt::Debug for SyncDebugGuard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SyncDebugGuard")
            .field("flags", &self.state.inner().flags)
            .field("restores", &self.prev)
            .finish()
    }
}

impl Drop for SyncDebugGuard {
    fn drop(&mut self) {
        // The last guard takes the heap and the callbacks in the same critical
        // section that counts it out, so no `set_debug_sync` joins a dying state.
        let (heap, callbacks) = {
            let mut inner = self.state.inner();
            inner.flags = self.prev;
            inner.guards -= 1;
            if inner.guards == 0 {
                inner.current = None;
                (
                    inner.heap.take(),
                    Some(core::mem::take(&mut inner.callbacks)),
                )
            } else {
                (inner.heap.clone(), None)
            }
        };
        let Some(heap) = heap else { return };
        heap.set_save_all(self.prev_save_all);
        if let Some(callbacks) = callbacks {
            for id in callbacks {
                heap.remove_collect_callback(id);
            }
            let state = Arc::as_ptr(&self.state);
            lock(&REGISTRY).retain(|(_, w)| !core::ptr::eq(w.as_ptr(), state));
        }
        // Dropping the last handle shuts the heap down (it runs no callback of ours).
        drop(heap);
    }
}

/// The collection callback installed by [`set_debug_sync`] (the heap lock held).
fn on_collect(state: &State, phase: CollectPhase, info: &CollectInfo) {
    let (flags, heap, current) = {
        let mut inner = state.inner();
        let Some(heap) = inner.heap.clone() else {
            return;
        };
        (inner.flags, heap, inner.current.take())
    };
    let flags = effective(flags, &heap);
    if flags.is_empty() {
        return;
    }
    match phase {
        CollectPhase::Start => state.inner().current = Some(collect_span(info)),
        CollectPhase::Stop => {
            let span = current.unwrap_or_else(Span::none);
            let sizes = [
                heap.generation_len(0),
                heap.generation_len(1),
                heap.generation_len(2),
            ];
            collect_stop(flags, &span, info, sizes, heap.get_freeze_count());
        }
    }
}

/// The garbage callback installed by [`set_debug_sync`] (the heap lock held).
fn on_garbage(state: &State, garbage: &[GarbageObject]) {
    let (flags, heap, span) = {
        let inner = state.inner();
        let Some(heap) = inner.heap.clone() else {
            return;
        };
        (inner.flags, heap, inner.current.clone())
    };
    if effective(flags, &heap).contains(DebugFlags::COLLECTABLE) {
        collectable(&span.unwrap_or_else(Span::none), garbage);
    }
}

/// [`shutdown`](crate::shutdown()) for a thread-safe heap: shuts it down
/// ([`sync::Heap::shutdown`]) and, with `UNCOLLECTABLE` set, logs a `warn` event per
/// object still referenced.
///
/// # Errors
/// [`sync::ShutdownError`] if another thread held the heap lock for the whole grace
/// period (nothing is logged then).
pub fn shutdown_sync(heap: &sync::Heap) -> Result<ShutdownReport, sync::ShutdownError> {
    let flags = get_debug_sync(heap);
    let report = heap.shutdown()?;
    shutdown_events(flags, &report);
    Ok(report)
}
