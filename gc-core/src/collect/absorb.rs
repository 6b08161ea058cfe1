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
//! **Why the table is exact.** A byte is `slot << COUNT_BITS | count`: headers are 16
//! bytes and never overlap, so a 64-byte granule of the span holds at most four
//! header addresses, and a member's byte names which of the four is its own. A handle
//! points at its referent's header, so a drop is absorbed only if its address falls
//! in a member's granule *and* slot. A granule without a member ([`NONE`]) or with
//! two ([`SHARED`], members closer than 64 bytes: neither absorbs) has a count no drop
//! matches; a member's byte that reaches [`FULL`] absorbs no more drops.
//!
//! **Cost.** Every handle drop first reads this thread's `ACTIVE` flag: one load and
//! a predictable branch (W1, handles dropped and nothing else, in one process against
//! the build without absorbers: see `benches/README.md`).
//!
//! Only one absorber is active per thread: a collection that starts while another
//! destroys its garbage (a `Drop` implementation collecting another heap) destroys
//! its own without one.

use std::cell::{Cell, RefCell};

use crate::raw::{ObjPtr, RcHeader};

/// Bytes of address span per table entry.
const GRANULE: usize = 64;
/// Headers are 16 bytes and never overlap, so a granule holds at most `SLOTS` header
/// addresses; a member's entry names its slot.
const SLOTS: usize = GRANULE / size_of::<RcHeader>();
const _: () = assert!(size_of::<RcHeader>() == 16 && SLOTS.is_power_of_two() && SLOTS <= 16);
/// An entry is `slot << COUNT_BITS | count`.
const COUNT_BITS: u32 = 8 - SLOTS.trailing_zeros();
const COUNT_MASK: u8 = (1 << COUNT_BITS) - 1;
/// The count of an entry that absorbs nothing: no member in its granule ([`NONE`]),
/// or two ([`SHARED`]).
const NO_COUNT: u8 = COUNT_MASK;
/// The highest count: an entry that reached it absorbs no more drops.
const FULL: u8 = COUNT_MASK - 1;
/// The entry of a granule without a member.
const NONE: u8 = u8::MAX;
/// The entry of a granule with two members: neither absorbs.
const SHARED: u8 = NO_COUNT;
/// The most table entries per member: a set whose members lie further apart on
/// average is destroyed without an absorber (its table would take more than a
/// quarter of the set's own memory: tracked objects take at least 32 bytes).
const ENTRIES_PER_MEMBER: usize = 8;

std::thread_local! {
    /// Whether this thread has an absorber: read by every handle drop, so a `const`
    /// cell without a destructor (one load, no lazy initialization).
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// The absorber's table while `ACTIVE`; between collections its emptied buffer,
    /// kept for the next one.
    static TABLE: RefCell<Table> = const { RefCell::new(Table { lo: 0, entries: Vec::new() }) };
}

/// The entries for the addresses `lo..lo + GRANULE * entries.len()`.
#[derive(Default)]
struct Table {
    lo: usize,
    entries: Vec<u8>,
}

impl Table {
    /// `obj`'s entry and the slot its header address has in it.
    #[inline(always)]
    fn entry(&mut self, obj: ObjPtr) -> Option<(&mut u8, u8)> {
        let offset = obj.as_non_null().as_ptr().addr().wrapping_sub(self.lo);
        let slot = (offset / size_of::<RcHeader>() % SLOTS) as u8;
        Some((self.entries.get_mut(offset / GRANULE)?, slot))
    }

    /// How many drops of handles to `obj` its entry absorbed.
    fn count(&mut self, obj: ObjPtr) -> u8 {
        match self.entry(obj) {
            Some((&mut e, slot)) if e >> COUNT_BITS == slot && e & COUNT_MASK != NO_COUNT => {
                e & COUNT_MASK
            }
            _ => 0,
        }
    }
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
        .try_with(|t| {
            let Ok(mut t) = t.try_borrow_mut() else {
                return false;
            };
            match t.entry(obj) {
                Some((e, slot)) if *e >> COUNT_BITS == slot && *e & COUNT_MASK < FULL => {
                    *e += 1;
                    true
                }
                _ => false,
            }
        })
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
    /// apart ([`ENTRIES_PER_MEMBER`]), or the thread is exiting.
    pub(crate) fn install(garbage: &[ObjPtr]) -> Option<Absorber> {
        if ACTIVE.with(Cell::get) || garbage.is_empty() {
            return None;
        }
        let addr = |o: &ObjPtr| o.as_non_null().as_ptr().addr();
        let (lo, hi) = garbage.iter().fold((usize::MAX, 0), |(lo, hi), o| {
            (lo.min(addr(o)), hi.max(addr(o)))
        });
        let len = (hi - lo) / GRANULE + 1;
        if len > ENTRIES_PER_MEMBER.saturating_mul(garbage.len()) {
            return None;
        }
        TABLE
            .try_with(|t| {
                let mut t = t.try_borrow_mut().ok()?;
                t.lo = lo;
                t.entries.clear();
                t.entries.resize(len, NONE);
                for &obj in garbage {
                    let (e, slot) = t.entry(obj).expect("a member lies in the span");
                    *e = if *e == NONE {
                        slot << COUNT_BITS
                    } else {
                        SHARED
                    };
                }
                Some(())
            })
            .ok()
            .flatten()?;
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
        // (Should the thread's table be gone, which only thread exit does, the counts
        // stay too high: the members leak, never freed early.)
        let mut table = TABLE.try_with(|t| t.take()).unwrap_or_default();
        for &obj in garbage {
            obj.unpin_absorbed(u32::from(table.count(obj)));
        }
        // Keep the buffer for the next collection, unless it is far larger than this
        // one needed (as the heap keeps its set buffer).
        let used = table.entries.len();
        table.entries.clear();
        if table.entries.capacity() <= 4 * used.max(4096) {
            let _ = TABLE.try_with(|t| {
                if let Ok(mut t) = t.try_borrow_mut() {
                    *t = table;
                }
            });
        }
    }
}

impl Drop for Absorber {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(false));
    }
}

#[cfg(test)]
mod tests {
    use super::{absorbed, absorbs, Absorber, ACTIVE, FULL};
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

    /// A doubly linked ring.
    struct RingNode {
        id: usize,
        next: RefCell<Option<Gc<RingNode>>>,
        prev: RefCell<Option<Gc<RingNode>>>,
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
        /// Whether the collection under test takes an absorber: `absorbing(n)`.
        static ABSORBING: Cell<bool> = const { Cell::new(false) };
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
                // as `j` is destroyed, or with an absorber at the end), this node, the
                // other neighbour of `j` until its `Drop` began, and the stash.
                let pin = |j: usize| usize::from(ABSORBING.with(Cell::get) || !began[j]);
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
                })
            })
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            *node.next.borrow_mut() = Some(nodes[(i + 1) % n].clone());
            *node.prev.borrow_mut() = Some(nodes[(i + n - 1) % n].clone());
        }
        drop(nodes);
        ABSORBING.with(|a| a.set(absorbing(n)));
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
            absorbing: bool,
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
                // absorber at the end), and the spokes whose `Drop` has not finished
                // (this one too).
                let pin = usize::from(self.absorbing || !self.hub_dropped.get());
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
                absorbing: absorbing(spokes + 1),
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

    fn addr(g: &Gc<u64>) -> usize {
        g.obj().as_non_null().as_ptr().addr()
    }

    /// Leaves of a thread's pools lie next to each other: every fourth one is a
    /// member (one per table entry), its neighbours in the same entry are not.
    #[test]
    #[cfg_attr(miri, ignore = "objects are separate allocations, maybe far apart")]
    fn an_absorber_counts_drops_of_its_members_only() {
        let leaves: Vec<Gc<u64>> = (0..64).map(Gc::new).collect();
        assert!(leaves.windows(2).all(|w| addr(&w[1]) - addr(&w[0]) < 64));
        let set: Vec<_> = leaves.iter().step_by(4).map(|g| g.obj()).collect();
        let absorber = Absorber::install(&set).expect("pooled leaves lie close");
        assert!(Absorber::install(&set).is_none(), "one absorber per thread");
        for (i, g) in leaves.iter().enumerate() {
            assert_eq!(absorbs(g.obj()), i % 4 == 0, "leaf {i}");
        }
        assert!(absorbs(set[3]));
        assert_eq!(absorbed(set[3]), 2);
        assert_eq!(absorbed(set[4]), 1);
        assert_eq!(absorbed(leaves[1].obj()), 0);
        // A full entry absorbs no more.
        while absorbed(set[5]) < u32::from(FULL) {
            assert!(absorbs(set[5]));
        }
        assert!(!absorbs(set[5]));
        assert_eq!(absorbed(set[5]), u32::from(FULL));
        // Dropped without `finish` (which would release pins these leaves do not
        // have): no header was touched, so the handles are still exact.
        drop(absorber);
        assert!(!absorbs(set[0]));
        assert_eq!(absorbed(set[3]), 0);
        assert!(leaves.iter().all(|g| Gc::strong_count(g) == 1));
    }

    /// Two members in one table entry: neither absorbs (their drops lower the
    /// headers' counts as usual).
    #[test]
    #[cfg_attr(miri, ignore = "objects are separate allocations, maybe far apart")]
    fn members_sharing_an_entry_absorb_nothing() {
        let (a, b) = (Gc::new(1u64), Gc::new(2u64));
        let (lo, hi) = (addr(&a).min(addr(&b)), addr(&a).max(addr(&b)));
        assert!(hi - lo < 64, "pooled leaves lie close");
        let absorber = Absorber::install(&[a.obj(), b.obj()]).expect("a small span");
        assert!(!absorbs(a.obj()) && !absorbs(b.obj()));
        assert_eq!((absorbed(a.obj()), absorbed(b.obj())), (0, 0));
        drop(absorber);
    }
}
