//! A small count per member of a collection's set, in a dense table indexed by address.
//!
//! Two phases count something per member for every handle the set's values hold:
//! subtracting references (each handle to a member lowers its `gc_refs`) and, with an
//! absorber, destruction (each dropped handle to a member lowers its strong count).
//! Both write to the member's header, and on a large set whose handles lead far away
//! (a graph with random edges: W7) each write is a cache miss and, over a span of
//! tens of MiB, a TLB miss. A [`CountTable`] takes those writes instead: one byte per
//! 64 bytes of the set's address span (W7: about half a MiB for ~30 MiB), which stays
//! in the cache; the counts go to the headers afterwards, in one pass in set order.
//!
//! **Memory.** A table starts as a zeroed allocation, so a gap in the span (the set's
//! memory in two regions far apart) costs address space, not memory. That pass also
//! clears each member's entry as it reads it ([`take`](CountTable::take)), which
//! leaves the whole table zeroed again: the next set reuses it without a write,
//! whatever its span, as long as it fits. Freeing it instead would cost more than
//! the allocation: with glibc, freeing a block of 64 KiB or more consolidates every
//! small free block first, and right after a destruction freed the garbage's own
//! memory that was ~3 ms of W7's release (as `HeapState::keep_set_buffer` explains
//! for the set's vector). So the table is kept (the absorber's by its thread, the
//! subtracting phase's by its heap) and grows to the largest span it was used for
//! (at most [`ENTRIES_PER_MEMBER`] bytes per member of that set, and in the pages a
//! member's entry was written to: 1/64 of the span for a dense set).
//!
//! **Why it is exact.** A byte is `slot << COUNT_BITS | count`: headers are 16 bytes
//! and never overlap, so a 64-byte granule of the span holds at most four header
//! addresses, and a member's byte names which of the four is its own. A handle points
//! at its referent's header, so a handle is counted only if its address falls in a
//! member's granule *and* slot. A granule without a member ([`NONE`]) or with two
//! ([`SHARED`], members closer than 64 bytes: neither is counted here) has a count no
//! handle matches; a member's byte that reaches [`FULL`] counts no more. A handle the
//! table does not count is the caller's to count in the header, as without a table.

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
/// The count of an entry that counts nothing: no member in its granule ([`NONE`]), or
/// two ([`SHARED`]).
const NO_COUNT: u8 = COUNT_MASK;
/// The highest count: an entry that reached it counts no more handles.
pub(crate) const FULL: u8 = COUNT_MASK - 1;
/// The entry of a granule without a member. Entries are stored complemented, so
/// that it is stored as 0: a fresh table is a zeroed allocation, whose pages the
/// system maps only when they are touched.
const NONE: u8 = u8::MAX;
/// The entry of a granule with two members: neither is counted.
const SHARED: u8 = NO_COUNT;
/// The most table entries per member. The entries of a gap in the span (the set's
/// memory in two regions far apart: W7's chunks, in some runs, ~160 MiB apart) are
/// never touched, so they cost address space only; the bound keeps that in
/// proportion to the set.
const ENTRIES_PER_MEMBER: usize = 64;

/// The entries for the addresses `lo..lo + GRANULE * entries.len()`. The table may
/// be longer than the last set's span (it is kept at the largest one): the entries
/// past that span are zero, `NONE`, so no lookup there finds a member, and no bound
/// but the vector's own is needed.
#[derive(Default)]
pub(crate) struct CountTable {
    lo: usize,
    entries: Vec<u8>,
    /// Whether `entries` may hold a non-zero byte: from `fill` until `take` cleared
    /// every member's entry.
    dirty: bool,
}

impl CountTable {
    /// An empty table (no members), holding no memory.
    pub(crate) const fn new() -> CountTable {
        CountTable {
            lo: 0,
            entries: Vec::new(),
            dirty: false,
        }
    }

    /// Makes `set` (tracked objects, each once) the table's members, all counts zero;
    /// returns `false` (and leaves no member) if the members lie too far apart on
    /// average ([`ENTRIES_PER_MEMBER`]). Once the counts are read, [`take`] each
    /// member's (all of `set`), so that the next `fill` finds the table zeroed.
    ///
    /// [`take`]: CountTable::take
    pub(crate) fn fill(&mut self, set: &[ObjPtr]) -> bool {
        if self.dirty {
            // Counts never taken (a panic on the way): no member may stay.
            self.entries = Vec::new();
            self.dirty = false;
        }
        let addr = |o: &ObjPtr| o.as_non_null().as_ptr().addr();
        let (lo, hi) = set.iter().fold((usize::MAX, 0), |(lo, hi), o| {
            (lo.min(addr(o)), hi.max(addr(o)))
        });
        if set.is_empty() {
            return false;
        }
        let len = (hi - lo) / GRANULE + 1;
        if len > ENTRIES_PER_MEMBER.saturating_mul(set.len()) {
            return false;
        }
        self.lo = lo;
        if self.entries.len() < len {
            // A fresh zeroed allocation (every entry `NONE`), not the old one cleared
            // by writing: the pages of a gap in the span are never touched. (The old
            // one is freed first.)
            self.entries = Vec::new();
            self.entries = vec![!NONE; len];
        }
        self.dirty = true;
        for &obj in set {
            let (e, slot) = self.entry(obj).expect("a member lies in the span");
            *e = !if !*e == NONE {
                slot << COUNT_BITS
            } else {
                SHARED
            };
        }
        true
    }

    /// `obj`'s entry (stored complemented) and the slot its header address has in it.
    #[inline(always)]
    fn entry(&mut self, obj: ObjPtr) -> Option<(&mut u8, u8)> {
        let offset = obj.as_non_null().as_ptr().addr().wrapping_sub(self.lo);
        let slot = (offset / size_of::<RcHeader>() % SLOTS) as u8;
        Some((self.entries.get_mut(offset / GRANULE)?, slot))
    }

    /// Counts one handle to `obj` if `obj` is a member whose entry is not full;
    /// otherwise returns `false`, and the caller counts it in the header.
    #[inline(always)]
    pub(crate) fn add(&mut self, obj: ObjPtr) -> bool {
        match self.entry(obj) {
            Some((e, slot)) if !*e >> COUNT_BITS == slot && !*e & COUNT_MASK < FULL => {
                *e -= 1; // the complement of one more
                true
            }
            _ => false,
        }
    }

    /// How many handles to `obj` the table counted (0 for a non-member).
    pub(crate) fn count(&mut self, obj: ObjPtr) -> u8 {
        match self.entry(obj) {
            Some((&mut e, slot)) => Self::count_of(e, slot),
            None => 0,
        }
    }

    /// [`count`](CountTable::count) for a member, whose entry is then cleared (with
    /// its granule's other member's, if it shares it: that one's count is 0 too).
    /// Once every member's is taken, the table has no member and is all zeroes.
    pub(crate) fn take(&mut self, member: ObjPtr) -> u8 {
        match self.entry(member) {
            Some((e, slot)) => {
                let n = Self::count_of(*e, slot);
                *e = !NONE;
                n
            }
            None => 0,
        }
    }

    /// Ends the counting after every member was taken: the next `fill` reuses the
    /// zeroed entries.
    pub(crate) fn taken(&mut self) {
        debug_assert!(self.entries.iter().all(|&e| e == !NONE));
        self.dirty = false;
    }

    fn count_of(e: u8, slot: u8) -> u8 {
        if !e >> COUNT_BITS == slot && !e & COUNT_MASK != NO_COUNT {
            !e & COUNT_MASK
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CountTable, FULL};
    use crate::Gc;

    fn addr(g: &Gc<u64>) -> usize {
        g.obj().as_non_null().as_ptr().addr()
    }

    /// Leaves of a thread's pools lie next to each other: every fourth one is a
    /// member (one per table entry), its neighbours in the same entry are not.
    #[test]
    #[cfg_attr(miri, ignore = "objects are separate allocations, maybe far apart")]
    fn a_table_counts_handles_to_its_members_only() {
        let leaves: Vec<Gc<u64>> = (0..64).map(Gc::new).collect();
        assert!(leaves.windows(2).all(|w| addr(&w[1]) - addr(&w[0]) < 64));
        let set: Vec<_> = leaves.iter().step_by(4).map(|g| g.obj()).collect();
        let mut t = CountTable::new();
        assert!(t.fill(&set), "pooled leaves lie close");
        for (i, g) in leaves.iter().enumerate() {
            assert_eq!(t.add(g.obj()), i % 4 == 0, "leaf {i}");
        }
        assert!(t.add(set[3]));
        assert_eq!((t.count(set[3]), t.count(set[4])), (2, 1));
        assert_eq!(t.count(leaves[1].obj()), 0);
        // A full entry counts no more.
        while t.count(set[5]) < FULL {
            assert!(t.add(set[5]));
        }
        assert!(!t.add(set[5]));
        assert_eq!(t.count(set[5]), FULL);
        // Refilled without the counts taken: a fresh table, all counts zero again.
        assert!(t.fill(&set));
        assert_eq!(t.count(set[3]), 0);
        assert!(t.add(set[3]) && t.add(set[3]) && t.add(set[7]));
        // Taken: the counts, then an empty table, all zeroes, kept for the next fill.
        let counts: Vec<u8> = set.iter().map(|&m| t.take(m)).collect();
        assert_eq!((counts[3], counts[7], counts.iter().sum::<u8>()), (2, 1, 3));
        t.taken();
        assert!(!t.add(set[3]), "an empty table has no member");
        assert!(t.entries.iter().all(|&e| e == 0));
        let kept = t.entries.as_ptr();
        let smaller = &set[2..6];
        assert!(t.fill(smaller));
        assert_eq!(t.entries.as_ptr(), kept, "a smaller span reuses the table");
        assert!(t.add(set[4]) && !t.add(set[7]));
        assert_eq!((t.count(set[4]), t.count(set[2])), (1, 0));
    }

    /// A member's entry shared with another member: taking either clears it.
    #[test]
    #[cfg_attr(miri, ignore = "objects are separate allocations, maybe far apart")]
    fn taking_every_member_leaves_the_table_zeroed() {
        let leaves: Vec<Gc<u64>> = (0..64).map(Gc::new).collect();
        let set: Vec<_> = leaves.iter().step_by(3).map(|g| g.obj()).collect();
        let mut t = CountTable::new();
        assert!(t.fill(&set));
        for m in &set {
            t.add(*m);
        }
        assert!(t.entries.iter().any(|&e| e != 0));
        for &m in &set {
            t.take(m);
        }
        t.taken();
        assert!(t.entries.iter().all(|&e| e == 0));
    }

    /// Two members in one table entry: neither is counted.
    #[test]
    #[cfg_attr(miri, ignore = "objects are separate allocations, maybe far apart")]
    fn members_sharing_an_entry_are_not_counted() {
        let (a, b) = (Gc::new(1u64), Gc::new(2u64));
        let (lo, hi) = (addr(&a).min(addr(&b)), addr(&a).max(addr(&b)));
        assert!(hi - lo < 64, "pooled leaves lie close");
        let mut t = CountTable::new();
        assert!(t.fill(&[a.obj(), b.obj()]));
        assert!(!t.add(a.obj()) && !t.add(b.obj()));
        assert_eq!((t.count(a.obj()), t.count(b.obj())), (0, 0));
    }

    /// Members spread too thin for a table: none is made.
    #[test]
    fn a_sparse_or_empty_set_gets_no_table() {
        let mut t = CountTable::new();
        assert!(!t.fill(&[]));
        let far: Vec<Gc<[u8; 1 << 16]>> = (0..4).map(|_| Gc::new([0; 1 << 16])).collect();
        let set: Vec<_> = far.iter().map(|g| g.obj()).collect();
        assert!(!t.fill(&set));
        assert!(!t.add(set[0]));
    }
}
