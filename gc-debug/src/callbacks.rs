//! Collection callbacks (CPython's `gc.callbacks`).

use gc_core::{CallbackId, CollectInfo, CollectPhase, Heap};

/// Registers `f` to be called at the start and at the stop of each collection of
/// `heap` (CPython's `gc.callbacks.append(f)`), with the phase and a [`CollectInfo`]:
/// the generation collected and, at [`CollectPhase::Stop`], the objects collected,
/// the uncollectable ones (always 0 with this collector), the objects examined and
/// the duration.
///
/// Returns an id for [`remove_callback`]. Callbacks run outside the collection
/// proper, so they may allocate and call every function of this crate; a
/// collection requested from one (explicitly, or by allocating past a threshold) is
/// skipped and returns with [`CollectStats::skipped`](gc_core::CollectStats::skipped)
/// set, as `gc.collect()` returns 0 from a CPython callback: otherwise a callback
/// that collects would call itself again without end. A panicking callback does not
/// stop the collection nor the other callbacks; its panic resumes when the
/// collection returns (CPython reports callback exceptions as unraisable).
///
/// # Examples
///
/// ```
/// use gc_core::{CollectPhase, Heap};
/// use gc_debug::{add_callback, remove_callback};
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let heap = Heap::new();
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let log = seen.clone();
/// let id = add_callback(&heap, move |phase, info| {
///     log.borrow_mut().push((phase, info.generation, info.collected));
/// });
/// heap.collect();
/// assert_eq!(*seen.borrow(), [(CollectPhase::Start, 2, 0), (CollectPhase::Stop, 2, 0)]);
/// assert!(remove_callback(&heap, id));
/// heap.collect();
/// assert_eq!(seen.borrow().len(), 2);
/// ```
pub fn add_callback(heap: &Heap, f: impl Fn(CollectPhase, &CollectInfo) + 'static) -> CallbackId {
    heap.add_collect_callback(f)
}

/// Unregisters a callback added with [`add_callback`] (CPython's
/// `gc.callbacks.remove(f)`); returns whether it was registered. A collection that
/// is running still calls it at its stop.
///
/// # Examples
///
/// ```
/// use gc_core::Heap;
/// use gc_debug::{add_callback, remove_callback};
///
/// let heap = Heap::new();
/// let id = add_callback(&heap, |_, _| {});
/// assert!(remove_callback(&heap, id));
/// assert!(!remove_callback(&heap, id));
/// ```
pub fn remove_callback(heap: &Heap, id: CallbackId) -> bool {
    heap.remove_collect_callback(id)
}
