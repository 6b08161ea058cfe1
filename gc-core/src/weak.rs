//! Weak references with callbacks (CPython's `weakref.ref(obj, callback)`).

use core::cell::{Cell, RefCell};
use core::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::handle::{Gc, Weak};
use crate::heap::{heap_of, with_heap_of};
use crate::raw::{ObjPtr, DEAD, HAS_CALLBACKS, ORPHAN};
use crate::traverse::Traverse;
use crate::visitor::Visitor;

/// One registered callback; shared by the referent's registry entry and the
/// [`WeakRef`] object that owns it.
pub(crate) struct CallbackSlot {
    callback: RefCell<Option<Box<dyn FnOnce()>>>,
    /// The `WeakRef` object. Valid while the callback is armed: the `WeakRef`'s
    /// `Drop` disarms it before the object can be freed.
    holder: Cell<Option<ObjPtr>>,
}

impl CallbackSlot {
    /// The weak-reference object, if the callback is still armed.
    pub(crate) fn holder(&self) -> Option<ObjPtr> {
        if self.callback.borrow().is_some() {
            self.holder.get()
        } else {
            None
        }
    }

    /// Takes the callback out without running it.
    pub(crate) fn disarm(&self) -> Option<Box<dyn FnOnce()>> {
        self.callback.borrow_mut().take()
    }

    /// Runs the callback if it is still armed.
    pub(crate) fn fire(&self) {
        if let Some(cb) = self.disarm() {
            cb();
        }
    }
}

/// A weak reference object with a callback: the callback runs once, after the
/// referent is destroyed (by reference counting or by the collector).
///
/// Created with [`WeakRef::new`], which returns it as a heap object
/// (`Gc<WeakRef<T>>`): store that handle in your objects like any other. If the
/// weak-reference object is itself garbage when its referent is collected, the
/// callback does not run (CPython's rule: it could otherwise reach garbage). Dropping
/// the `WeakRef` cancels the callback.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, WeakRef};
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// #[derive(gc_core::Traverse)]
/// struct Resource { id: u32, peers: Vec<Gc<Resource>> }
///
/// let fired = Rc::new(Cell::new(false));
/// let res = Gc::new(Resource { id: 1, peers: vec![] });
/// let f = fired.clone();
/// let wr = WeakRef::new(&res, move || f.set(true));
/// assert_eq!(wr.upgrade().map(|r| r.id), Some(1));
/// drop(res);
/// assert!(fired.get());
/// assert!(wr.upgrade().is_none());
/// ```
pub struct WeakRef<T: Traverse + 'static> {
    weak: Weak<T>,
    slot: Rc<CallbackSlot>,
}

impl<T: Traverse + 'static> WeakRef<T> {
    /// Creates a weak reference to `target` whose `callback` runs once after `target`
    /// is destroyed. The object is allocated in `target`'s heap.
    ///
    /// The callback's captured values are owned by the weak-reference object but not
    /// traversed: a handle captured there keeps its object alive like an outside
    /// reference.
    ///
    /// # Panics
    /// If `target` is untracked (a leaf type: give it an owning type, a finalizer,
    /// or a handle field to make it tracked), or if its handle is dead.
    pub fn new(target: &Gc<T>, callback: impl FnOnce() + 'static) -> Gc<WeakRef<T>> {
        let obj = target.obj();
        assert!(
            obj.is_tracked(),
            "WeakRef::new: a `{}` is untracked (a leaf); weak-reference callbacks need a tracked referent",
            obj.type_name()
        );
        assert!(Gc::is_alive(target), "WeakRef::new on a dead handle");
        let heap = heap_of(obj);
        let slot = Rc::new(CallbackSlot {
            callback: RefCell::new(Some(Box::new(callback))),
            holder: Cell::new(None),
        });
        let wr = heap.alloc(WeakRef {
            weak: Gc::downgrade(target),
            slot: slot.clone(),
        });
        slot.holder.set(Some(wr.obj()));
        heap.state()
            .weak_callbacks
            .borrow_mut()
            .entry(obj)
            .or_default()
            .push(slot);
        obj.set_flag(HAS_CALLBACKS);
        wr
    }

    /// A strong handle to the referent, while it lives.
    pub fn upgrade(&self) -> Option<Gc<T>> {
        self.weak.upgrade()
    }

    /// Whether the callback is still to run.
    pub fn is_armed(&self) -> bool {
        self.slot.callback.borrow().is_some()
    }
}

impl<T: Traverse + 'static> Drop for WeakRef<T> {
    fn drop(&mut self) {
        let callback = self.slot.disarm();
        let referent = self.weak.obj();
        if referent.flags() & (HAS_CALLBACKS | ORPHAN | DEAD) == HAS_CALLBACKS
            && referent.strong() > 0
        {
            with_heap_of(referent, |heap| {
                if let Some(slots) = heap.weak_callbacks.borrow_mut().get_mut(&referent) {
                    slots.retain(|s| !Rc::ptr_eq(s, &self.slot));
                }
            });
        }
        drop(callback);
    }
}

impl<T: Traverse + 'static> fmt::Debug for WeakRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakRef")
            .field("armed", &self.is_armed())
            .finish()
    }
}

// SAFETY: reports nothing (a weak reference keeps nothing alive); the type is not a
// leaf so that the weak-reference object is tracked and the collector can tell when it
// is itself garbage.
unsafe impl<T: Traverse + 'static> Traverse for WeakRef<T> {
    const IS_LEAF: bool = false;
    const TRUSTED_TRAVERSE: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

/// Takes the callbacks registered on `obj` (tracked, not an orphan, being destroyed).
pub(crate) fn take_callbacks(obj: ObjPtr) -> Vec<Rc<CallbackSlot>> {
    obj.clear_flag(HAS_CALLBACKS);
    with_heap_of(obj, |heap| {
        heap.weak_callbacks
            .borrow_mut()
            .remove(&obj)
            .unwrap_or_default()
    })
}

/// Runs callbacks; a panic resumes after all have run.
pub(crate) fn run_callbacks(slots: Vec<Rc<CallbackSlot>>) {
    let mut first = None;
    for slot in slots {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| slot.fire())) {
            first.get_or_insert(p);
        }
    }
    if let Some(p) = first {
        resume_unwind(p);
    }
}
