//! Per-heap vtables: where a tracked object finds its heap.
//!
//! A tracked object's vtable pointer points to a [`HeapVTable`]: a copy of its type's
//! static vtable plus the heap's address. Each heap keeps one per type it has
//! allocated ([`HeapVTables`]); the allocation path finds it through a small
//! direct-mapped cache keyed by the address of the type's static vtable.
//!
//! Entries are never freed. When a heap is dropped, its entries are disowned (heap
//! set to null) and go to a process-wide pool, from which a later heap takes one for
//! the same type instead of making a new one. So the memory they take is bounded by
//! the number of (heap, type) pairs alive at once, and an object that outlives its
//! heap still reads its type's operations from a valid entry (it never asks the entry
//! for its heap: see `raw.rs`).

use core::cell::{Cell, RefCell};
use std::sync::Mutex;

use hashbrown::HashMap;

use crate::heap::HeapState;
use crate::raw::{HeapVTable, VTable};

/// Disowned entries, by the address of the static vtable they copy.
static POOL: Mutex<Option<HashMap<usize, Vec<&'static HeapVTable>>>> = Mutex::new(None);

/// Entries of the direct-mapped cache.
const CACHE: usize = 8;

/// The vtables of one heap's tracked objects.
#[derive(Default)]
pub(crate) struct HeapVTables {
    /// Recently used entries: (static vtable address, entry).
    cache: [Cell<Option<(usize, &'static HeapVTable)>>; CACHE],
    /// Every entry of the heap, by static vtable address.
    all: RefCell<HashMap<usize, &'static HeapVTable>>,
}

impl HeapVTables {
    /// The entry for objects of the type whose static vtable is `base`, for the heap
    /// at `heap` (which owns `self`).
    #[inline]
    pub(crate) fn get(&self, base: &'static VTable, heap: *const HeapState) -> &'static HeapVTable {
        let key = core::ptr::from_ref(base).addr();
        let slot = &self.cache[(key >> 4) % CACHE];
        match slot.get() {
            Some((k, entry)) if k == key => entry,
            _ => {
                let entry = self.get_slow(key, base, heap);
                slot.set(Some((key, entry)));
                entry
            }
        }
    }

    #[cold]
    fn get_slow(
        &self,
        key: usize,
        base: &'static VTable,
        heap: *const HeapState,
    ) -> &'static HeapVTable {
        self.all.borrow_mut().entry(key).or_insert_with(|| {
            let pooled = lock_pool()
                .get_or_insert_with(HashMap::new)
                .get_mut(&key)
                .and_then(Vec::pop);
            let entry = pooled.unwrap_or_else(|| Box::leak(Box::new(HeapVTable::new(base))));
            entry.set_heap(heap);
            entry
        })
    }
}

impl Drop for HeapVTables {
    fn drop(&mut self) {
        let all = core::mem::take(self.all.get_mut());
        if all.is_empty() {
            return;
        }
        let mut pool = lock_pool();
        let pool = pool.get_or_insert_with(HashMap::new);
        for (key, entry) in all {
            entry.set_heap(core::ptr::null());
            pool.entry(key).or_default().push(entry);
        }
    }
}

/// The pool, even if a thread panicked while holding it (its data is a map of
/// entries that stay valid whatever happened).
fn lock_pool() -> std::sync::MutexGuard<'static, Option<HashMap<usize, Vec<&'static HeapVTable>>>> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use crate::visitor::Visitor;
    use crate::{Gc, GcAny, Heap, Traverse};
    use core::cell::{Cell, RefCell};
    use std::rc::Rc;

    /// A node with one edge, counting its drops; private to this test, so no other
    /// test's heap takes or returns entries of its type meanwhile.
    struct PoolNode {
        next: RefCell<Option<Gc<PoolNode>>>,
        drops: Rc<Cell<usize>>,
    }

    // SAFETY: reports the one handle the node owns, once.
    unsafe impl Traverse for PoolNode {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            self.next.traverse(visitor);
        }
    }

    impl Drop for PoolNode {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }

    /// A dropped heap's entries go to the pool and the next heap reuses them, while
    /// objects of the first heap that outlived it (an orphan, and a destroyed one
    /// kept by a weak handle) still work: they read only their type's operations
    /// from the entry, never its heap.
    #[test]
    fn a_dropped_heaps_vtables_are_reused_and_its_survivors_stay_sound() {
        let drops = Rc::new(Cell::new(0));
        let node = |heap: &Heap| {
            heap.alloc(PoolNode {
                next: RefCell::new(None),
                drops: drops.clone(),
            })
        };
        let first = Heap::new();
        let orphan = node(&first);
        let (a, b) = (node(&first), node(&first));
        *a.next.borrow_mut() = Some(b.clone());
        *b.next.borrow_mut() = Some(a.clone());
        let destroyed = Gc::downgrade(&a);
        drop((a, b));
        assert_eq!(first.collect().collected, 2);
        let entry = core::ptr::from_ref(orphan.obj().vtable());
        drop(first); // shuts down: `orphan` is orphaned, the heap freed

        let second = Heap::new();
        let fresh = node(&second);
        assert!(
            core::ptr::eq(fresh.obj().vtable(), entry),
            "the second heap took the pooled entry"
        );
        assert!(GcAny::from(fresh.clone()).in_heap(&second));
        assert!(
            !GcAny::from(orphan.clone()).in_heap(&second),
            "an orphan belongs to no heap"
        );
        assert!(Gc::try_deref(&orphan).is_err());
        assert_eq!(GcAny::from(orphan.clone()).type_name(), fresh_type_name());
        assert!(destroyed.upgrade().is_none());
        drop(destroyed); // frees the destroyed node's memory with its type's layout
        assert_eq!(drops.get(), 2);
        drop(orphan);
        assert_eq!(
            drops.get(),
            3,
            "the orphan's value is destroyed with its last handle"
        );
        drop(fresh);
        assert_eq!(drops.get(), 4);
    }

    fn fresh_type_name() -> &'static str {
        core::any::type_name::<PoolNode>()
    }
}
