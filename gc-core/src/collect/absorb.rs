//! Phase 6's side table: handle drops absorbed while a large garbage set is destroyed.
//!
//! Destroying the garbage drops every handle its values own, and each drop is a write
//! to the referent's header. On a graph with random edges (W7's release) that is one
//! cache miss (and, over a span of tens of MiB, one TLB miss) per edge, on headers
//! that subtracting references read once already; yet most of those referents are
//! members of the same garbage, whose counts matter to nobody until their pins are
//! released. So while `delete_garbage` drops the values of such a set, this thread
//! has an *absorber*: a dense table with one byte per 64 bytes of the set's address
//! span (W7: ~470,000 bytes for ~30 MiB, which stay in the cache), where a member's
//! byte counts the drops of handles to it. A [`Gc`](crate::Gc) or
//! [`GcAny`](crate::GcAny) drop whose referent is a member adds one there and leaves
//! the header alone ([`absorbs`]); any other drop takes the usual path. Once every
//! value is gone the absorber is removed, and each member's count is lowered by its
//! byte before its pin is released ([`Absorber::finish`]).
//!
//! **Invariant.** While an absorber is active, a member's true number of strong
//! handles is its header's count minus its byte. Every way a count changes keeps it:
//! an absorbed drop raises the byte instead of lowering the count; a clone (a `Drop`
//! implementation may clone a handle to a member and keep it somewhere) raises the
//! count as always; a drop that is not absorbed (a full byte, or after the absorber
//! is gone) lowers the count as always. The count itself never reaches zero while the
//! absorber is active: the true count includes the collector's pin. Hence after
//! `finish` lowers each count by its byte, counts are exact again, and releasing the
//! pin frees exactly the members no handle references any more; a member whose
//! handle a `Drop` implementation kept stays allocated until that dead handle goes,
//! as without an absorber. [`Gc::strong_count`](crate::Gc::strong_count) reads the
//! true count meanwhile ([`absorbed`]).
//!
//! The table is a [`CountTable`] (where why it is exact is explained): a drop that
//! it does not count (a member's full byte, two members in one granule, a
//! non-member) takes the usual path.
//!
//! **Cost.** Every handle drop first reads this thread's `ACTIVE` flag: one load and
//! a predictable branch (W1, handles dropped and nothing else, in one process against
//! the build without absorbers: see `benches/README.md`).
//!
//! Only one absorber is active per thread: a collection that starts while another
//! destroys its garbage (a `Drop` implementation collecting another heap) destroys
//! its own without one.

use std::cell::{Cell, RefCell};

use crate::collect::count_table::CountTable;
use crate::raw::ObjPtr;

std::thread_local! {
    /// Whether this thread has an absorber: read by every handle drop, so a `const`
    /// cell without a destructor (one load, no lazy initialization).
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// The absorber's table while `ACTIVE` (empty, holding no memory, otherwise).
    static TABLE: RefCell<CountTable> = const { RefCell::new(CountTable::new()) };
}

/// Whether a handle drop of `obj` was absorbed (see the module docs); if not, the
/// caller releases the reference as usual. Called by every handle drop: without an
/// absorber it is one thread-local load and a predictable branch.
#[inline(always)]
pub(crate) fn absorbs(obj: ObjPtr) -> bool {
    ACTIVE.with(Cell::get) && absorb(obj)
}

#[inline(never)]
fn absorb(obj: ObjPtr) -> bool {
    TABLE
        .try_with(|t| t.try_borrow_mut().is_ok_and(|mut t| t.add(obj)))
        .unwrap_or(false)
}

/// How many drops of handles to `obj` an active absorber holds: its header's count
/// minus this is the true number of strong handles. Zero without an absorber.
pub(crate) fn absorbed(obj: ObjPtr) -> u32 {
    if !ACTIVE.with(Cell::get) {
        return 0;
    }
    TABLE
        .try_with(|t| t.try_borrow_mut().map_or(0, |mut t| t.count(obj)))
        .map_or(0, u32::from)
}

/// This thread's active absorber, for one garbage set.
pub(crate) struct Absorber {
    _not_send: core::marker::PhantomData<*const ()>,
}

impl Absorber {
    /// Makes `garbage` (pinned tracked objects, each once) this thread's absorbed
    /// set, or returns `None`: another absorber is active, its members lie too far
    /// apart for a [`CountTable`], or the thread is exiting.
    pub(crate) fn install(garbage: &[ObjPtr]) -> Option<Absorber> {
        if ACTIVE.with(Cell::get) {
            return None;
        }
        let filled = TABLE.try_with(|t| t.try_borrow_mut().is_ok_and(|mut t| t.fill(garbage)));
        if filled != Ok(true) {
            return None;
        }
        ACTIVE.with(|a| a.set(true));
        #[cfg(test)]
        tests::INSTALLED.with(|n| n.set(n.get() + 1));
        Some(Absorber {
            _not_send: core::marker::PhantomData,
        })
    }

    /// Removes the absorber, then lowers each member's count by the drops it
    /// absorbed and releases the member's pin (which frees those no handle
    /// references any more). `garbage` is the set `install` was given.
    pub(crate) fn finish(self, garbage: &[ObjPtr]) {
        // Dropping `self` deactivates: from here on every drop lowers counts itself.
        drop(self);
        // Releasing a pin runs no user code (the values are gone), so the table stays
        // borrowed meanwhile; each member's entry is cleared as it is read, which
        // leaves the table zeroed for the thread's next absorber. (Should the table
        // be gone, which only thread exit does, the counts stay too high: the members
        // leak, never freed early.)
        let done = TABLE.try_with(|t| {
            let Ok(mut table) = t.try_borrow_mut() else {
                return false;
            };
            for (i, &obj) in garbage.iter().enumerate() {
                // The headers are written in set order (address order, for a set
                // out of order): ask for the one `UNPIN_AHEAD` on. (W7's release,
                // on and off alternately: 1.085x and 1.074x, medians of paired ratios
                // of 20 and 24 runs.)
                if let Some(&far) = garbage.get(i + UNPIN_AHEAD) {
                    far.prefetch();
                }
                obj.unpin_absorbed(u32::from(table.take(obj)));
            }
            table.taken();
            true
        });
        if done != Ok(true) {
            for &obj in garbage {
                obj.unpin_absorbed(0);
            }
        }
    }
}

/// How many members ahead `Absorber::finish` prefetches the header of.
const UNPIN_AHEAD: usize = 16;

impl Drop for Absorber {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(false));
    }
}

#[cfg(test)]
mod tests {
    use super::{absorbed, absorbs, Absorber, ACTIVE};
    use crate::{Gc, Heap, Traverse, Visitor};
    use core::cell::{Cell, RefCell};

    std::thread_local! {
        /// Absorbers installed on this thread.
        pub(super) static INSTALLED: Cell<usize> = const { Cell::new(0) };
    }

    /// Whether a collection of a set of `n` members, here, takes an absorber: debug
    /// builds absorb from 32 members in sets of an even size, where the members lie
    /// close (in the pools: not under Miri without them).
    fn absorbing(n: usize) -> bool {
        cfg!(debug_assertions) && n >= 32 && n % 2 == 0 && crate::raw::POOLED
    }

    /// Whether the pins of a set of `n` members are released once every value is
    /// gone (with an absorber, or when the set is sorted), not each right after its
    /// object's value.
    fn pins_kept_to_the_end(n: usize) -> bool {
        absorbing(n) || crate::collect::delete::sorted_in_debug(n)
    }

    /// A doubly linked ring. Padded so that with its header it takes more than a
    /// table entry's 64 bytes: each node has an entry of its own (drops of handles to
    /// two members in one entry are not absorbed).
    struct RingNode {
        id: usize,
        next: RefCell<Option<Gc<RingNode>>>,
        prev: RefCell<Option<Gc<RingNode>>>,
        _pad: [u64; 2],
    }

    // SAFETY: reports the two handles a node owns, once each.
    unsafe impl Traverse for RingNode {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            self.next.traverse(visitor);
            self.prev.traverse(visitor);
        }
    }

    std::thread_local! {
        /// Per ring node: whether its `Drop` began; how many handles to it are stashed.
        static RING: RefCell<(Vec<bool>, Vec<usize>)> = const { RefCell::new((Vec::new(), Vec::new())) };
        /// Whether the collection under test keeps the pins to the end:
        /// `pins_kept_to_the_end(n)`.
        static PINS_TO_END: Cell<bool> = const { Cell::new(false) };
        static STASH: RefCell<Vec<Gc<RingNode>>> = const { RefCell::new(Vec::new()) };
    }

    /// Checks that `Gc::strong_count` of both neighbours is the true count while the
    /// ring is destroyed (absorbed drops included), and stashes a handle to the next
    /// node from every eighth node: a dead handle kept past the collection.
    impl Drop for RingNode {
        fn drop(&mut self) {
            let expected = RING.with_borrow_mut(|(began, stashed)| {
                let n = began.len();
                began[self.id] = true;
                // Holders of a neighbour `j`: the collector's pin (released as soon
                // as `j` is destroyed, or with an absorber or a sorted set at the
                // end), this node, the other neighbour of `j` until its `Drop` began,
                // and the stash.
                let pin = |j: usize| usize::from(PINS_TO_END.with(Cell::get) || !began[j]);
                let count =
                    |j: usize, other: usize| pin(j) + 1 + usize::from(!began[other]) + stashed[j];
                let next = (self.id + 1) % n;
                let prev = (self.id + n - 1) % n;
                let e = (
                    count(next, (self.id + 2) % n),
                    count(prev, (self.id + n - 2) % n),
                );
                if self.id % 8 == 0 {
                    stashed[next] += 1;
                }
                e
            });
            let next = self.next.borrow();
            let next = next.as_ref().expect("a ring node has a next");
            let prev = self.prev.borrow();
            let prev = prev.as_ref().expect("a ring node has a prev");
            assert_eq!(
                (Gc::strong_count(next), Gc::strong_count(prev)),
                expected,
                "node {}",
                self.id
            );
            if self.id % 8 == 0 {
                STASH.with_borrow_mut(|s| s.push(next.clone()));
            }
        }
    }

    /// A ring of 64 is destroyed with an absorber (in debug builds): counts read
    /// during destruction are true, a handle kept by a `Drop` is a dead handle with
    /// a count of 1, and dropping it frees the object (Miri's leak check).
    #[test]
    fn ring_counts_stay_true_with_and_without_an_absorber() {
        // 64 nodes take an absorber in debug builds, 63 do not: both ways agree.
        ring(64);
        ring(63);
    }

    fn ring(n: usize) {
        let heap = Heap::new();
        RING.with_borrow_mut(|r| *r = (vec![false; n], vec![0; n]));
        let nodes: Vec<Gc<RingNode>> = (0..n)
            .map(|id| {
                heap.alloc(RingNode {
                    id,
                    next: RefCell::new(None),
                    prev: RefCell::new(None),
                    _pad: [0; 2],
                })
            })
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            *node.next.borrow_mut() = Some(nodes[(i + 1) % n].clone());
            *node.prev.borrow_mut() = Some(nodes[(i + n - 1) % n].clone());
        }
        drop(nodes);
        PINS_TO_END.with(|a| a.set(pins_kept_to_the_end(n)));
        let before = INSTALLED.with(Cell::get);
        assert_eq!(heap.collect().collected, n);
        assert_eq!(
            INSTALLED.with(Cell::get) - before,
            usize::from(absorbing(n))
        );
        assert!(RING.with_borrow(|(began, _)| began.iter().all(|&b| b)));
        let stash = STASH.with_borrow_mut(core::mem::take);
        assert_eq!(stash.len(), n.div_ceil(8));
        for g in &stash {
            assert!(Gc::try_deref(g).is_err(), "a dead handle");
            assert_eq!(Gc::strong_count(g), 1);
        }
        assert!(!ACTIVE.with(Cell::get));
    }

    /// A hub with more handles to it than an entry counts: the drops past `FULL`
    /// lower the header's count instead, and every count read is still true.
    #[test]
    fn a_hub_past_a_full_entry_keeps_counts_true() {
        // 100 objects take an absorber in debug builds, 99 do not.
        hub(99);
        hub(98);
    }

    fn hub(spokes: usize) {
        struct Hub(RefCell<Vec<Gc<Spoke>>>, std::rc::Rc<Cell<bool>>);
        impl Drop for Hub {
            fn drop(&mut self) {
                self.1.set(true);
            }
        }
        struct Spoke {
            hub: RefCell<Option<Gc<Hub>>>,
            dropped: std::rc::Rc<Cell<usize>>,
            hub_dropped: std::rc::Rc<Cell<bool>>,
            pins_to_end: bool,
            spokes: usize,
        }
        // SAFETY: reports the handles each value owns, once each.
        unsafe impl Traverse for Hub {
            fn traverse(&self, visitor: &mut Visitor<'_>) {
                self.0.traverse(visitor);
            }
        }
        // SAFETY: as above.
        unsafe impl Traverse for Spoke {
            fn traverse(&self, visitor: &mut Visitor<'_>) {
                self.hub.traverse(visitor);
            }
        }
        impl Drop for Spoke {
            fn drop(&mut self) {
                let hub = self.hub.borrow();
                let hub = hub.as_ref().expect("a spoke has a hub");
                // The pin (released as soon as the hub is destroyed, or with an
                // absorber or a sorted set at the end), and the spokes whose `Drop`
                // has not finished (this one too).
                let pin = usize::from(self.pins_to_end || !self.hub_dropped.get());
                assert_eq!(
                    Gc::strong_count(hub),
                    pin + self.spokes - self.dropped.get()
                );
                self.dropped.set(self.dropped.get() + 1);
            }
        }
        let heap = Heap::new();
        let dropped = std::rc::Rc::new(Cell::new(0));
        let hub_dropped = std::rc::Rc::new(Cell::new(false));
        let hub = heap.alloc(Hub(RefCell::new(Vec::new()), hub_dropped.clone()));
        for _ in 0..spokes {
            let spoke = heap.alloc(Spoke {
                hub: RefCell::new(Some(hub.clone())),
                dropped: dropped.clone(),
                hub_dropped: hub_dropped.clone(),
                pins_to_end: pins_kept_to_the_end(spokes + 1),
                spokes,
            });
            hub.0.borrow_mut().push(spoke);
        }
        drop(hub);
        let before = INSTALLED.with(Cell::get);
        assert_eq!(heap.collect().collected, spokes + 1);
        assert_eq!(
            INSTALLED.with(Cell::get) - before,
            usize::from(absorbing(spokes + 1))
        );
        assert_eq!(dropped.get(), spokes);
    }

    #[test]
    fn nothing_is_absorbed_without_an_absorber() {
        let g = Gc::new(7u64);
        assert!(!ACTIVE.with(|a| a.get()));
        assert!(!absorbs(g.obj()));
        assert_eq!(absorbed(g.obj()), 0);
    }

    /// One absorber per thread; while it is active, drops of handles to its members
    /// are absorbed and counted, and after it is gone nothing is.
    #[test]
    #[cfg_attr(miri, ignore = "objects are separate allocations, maybe far apart")]
    fn one_absorber_per_thread_absorbing_its_members_only() {
        let (a, b) = (Gc::new(1u64), Gc::new(2u64));
        let absorber = Absorber::install(&[a.obj()]).expect("one member: a small span");
        assert!(
            Absorber::install(&[b.obj()]).is_none(),
            "one absorber per thread"
        );
        assert!(absorbs(a.obj()) && absorbs(a.obj()));
        assert!(!absorbs(b.obj()), "not a member");
        assert_eq!((absorbed(a.obj()), absorbed(b.obj())), (2, 0));
        // Dropped without `finish` (which would release a pin these leaves do not
        // have): no header was touched, so the handles are still exact.
        drop(absorber);
        assert!(!absorbs(a.obj()));
        assert_eq!(absorbed(a.obj()), 0);
        assert_eq!((Gc::strong_count(&a), Gc::strong_count(&b)), (1, 1));
    }
}
