//! Phase 6: destroy the garbage.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::collect::absorb::Absorber;
use crate::collect::SetGuard;
use crate::handle::GcAny;
use crate::heap::HeapState;
use crate::raw::{trashcan, List, ObjPtr, DEAD};

/// Destroys every object left in `guard.objs` and returns how many.
///
/// All of them are marked `DEAD` first (by `move_unreachable` unless finalizers ran
/// since: `already_dead`), so that a `Drop` impl that reads a handle to
/// another member of the garbage gets a clear panic (or an error from
/// `Gc::try_deref`), never a destroyed value. A large set not found in address order
/// is destroyed, and freed, in address order ([`out_of_order`], [`sort_by_line`]); a
/// large set whose handles lead far away ([`far_edges`]) is destroyed with an
/// [`Absorber`], which counts the drops of handles to its members in a small table
/// instead of their headers ([`destroy_absorbing`]), or, if the set's members lie
/// too far apart for one, with the referents of the object a few places on
/// prefetched before each value is dropped. Values are dropped one by one (a
/// panicking `Drop` is caught, the others still run); objects whose last handle goes
/// meanwhile are queued in the trashcan. Each object's pin is released right after
/// its value is dropped (with an absorber, or for a sorted set: once every value
/// is), which frees the allocation if no handle references it any more (otherwise
/// the last handle frees it).
pub(crate) fn delete_garbage(
    guard: &mut SetGuard<'_>,
    already_dead: bool,
    panic: &mut Option<Box<dyn Any + Send>>,
) -> usize {
    let heap = guard.heap;
    let mut garbage = core::mem::take(&mut guard.objs);
    // Debug builds also sort sets of `SORT_MIN_DEBUG` members or more whose size is 1
    // modulo 3, whatever their order, so that the test suite (and Miri), whose sets
    // are small, runs the sorted path and its late release of the pins, with an
    // absorber (even sizes, below) and without.
    let sorted = out_of_order(&garbage) || sorted_in_debug(garbage.len());
    if sorted {
        let mut scratch = heap.sort_buffer.take();
        sort_by_line(&mut garbage, &mut scratch, |o| {
            o.as_non_null().as_ptr().addr()
        });
        heap.keep_sort_buffer(scratch, garbage.len());
    }
    if !already_dead {
        for &obj in &garbage {
            obj.set_flag(DEAD);
        }
    }
    let n = garbage.len();
    let result = catch_unwind(AssertUnwindSafe(|| {
        trashcan::run(|| {
            let mut first = None;
            let mut referents = Vec::new();
            let far = garbage.len() >= PREFETCH_MIN
                && far_edges(heap, &garbage, &mut referents, &mut first);
            // Debug builds absorb from `ABSORB_MIN_DEBUG` members, in sets of an even
            // size, so that the test suite runs both ways of destroying a set.
            let absorb = far
                || cfg!(debug_assertions)
                    && garbage.len() >= ABSORB_MIN_DEBUG
                    && garbage.len() % 2 == 0;
            if let Some(absorber) = absorb.then(|| Absorber::install(&garbage)).flatten() {
                destroy_absorbing(&garbage, absorber, &mut first);
            } else {
                for (i, &obj) in garbage.iter().enumerate() {
                    if far {
                        // Dropping a value releases the handles it owns, each a write
                        // to the referent's header, here a likely cache miss: prefetch
                        // the referents of the object `AHEAD` places on, so that the
                        // misses overlap.
                        if let Some(&ahead) = garbage.get(i + AHEAD) {
                            referents_of(heap, ahead, &mut referents, &mut first);
                            for r in referents.drain(..) {
                                r.prefetch_header();
                            }
                        }
                    }
                    destroy(obj, &mut first, !sorted);
                }
                if sorted {
                    // Released in address order once every value is gone (not each
                    // right after its value, when a handle from an object later in
                    // the order still holds it), so that the blocks go back to the
                    // free lists in that order (see `out_of_order`).
                    for &obj in &garbage {
                        obj.unpin();
                    }
                }
            }
            if let Some(p) = first {
                std::panic::resume_unwind(p);
            }
        })
    }));
    if let Err(p) = result {
        panic.get_or_insert(p);
    }
    // Every object is dealt with: give the emptied vector back for reuse.
    garbage.clear();
    guard.objs = garbage;
    n
}

/// Destroys one object of the garbage (`delete_garbage`'s loop); a panic in its `Drop`
/// is kept in `first` unless one is there already. With `unpin`, releases its pin too;
/// otherwise the caller does once every value is gone.
#[inline(always)]
fn destroy(obj: ObjPtr, first: &mut Option<Box<dyn Any + Send>>, unpin: bool) {
    drop_value(obj, first);
    // The value is gone, so the pin has nothing left to protect: release it now, in the
    // same pass. The allocation is freed when the last handle goes, which may be a later
    // object's value being dropped; objects not yet reached stay pinned, so their
    // values are still intact.
    if unpin {
        obj.unpin();
    }
}

/// Destroys `garbage` with `absorber` installed for it: dropping a value releases the
/// handles it owns, each a write to the referent's header, on a large set with
/// scattered edges a likely cache miss; but those referents are mostly members of the
/// garbage, whose drops the absorber counts in a small table instead
/// (`collect/absorb.rs`). What is left to wait for is each value's own memory (its
/// `Vec` of handles, say), asked for `AHEAD` objects on, that object's header
/// `2 * AHEAD` on. The pins are released at the end, once the absorbed drops are
/// known (W7's release of 196,000 objects with 4 random edges each, in one process
/// with and without the absorber alternately, 30 runs each: destruction median 21.9
/// -> 11.9 ms; the header prefetch, on and off alternately: the release 1.118x and
/// 1.136x, medians of paired ratios, 20 and 24 pairs).
fn destroy_absorbing(
    garbage: &[ObjPtr],
    absorber: Absorber,
    first: &mut Option<Box<dyn Any + Send>>,
) {
    for (i, &obj) in garbage.iter().enumerate() {
        if let Some(&far) = garbage.get(i + 2 * AHEAD) {
            // Its header, so that the value's prefetch below, which reads the vtable
            // there, does not wait for it.
            far.prefetch();
        }
        if let Some(&ahead) = garbage.get(i + AHEAD) {
            // A panic in `prefetch` (which breaks its contract) is kept as one in
            // `Drop` would be.
            let r = catch_unwind(AssertUnwindSafe(|| {
                // The garbage is destroyed in order, so `ahead` is not reached yet.
                // SAFETY: the value of an object not reached yet is intact.
                unsafe { ahead.prefetch_intact_value() }
            }));
            if let Err(p) = r {
                first.get_or_insert(p);
            }
        }
        drop_value(obj, first);
    }
    absorber.finish(garbage);
}

/// Drops the value of one object of the garbage and releases the references the value
/// held apart from its handles (owner, implicit weak); the pin stays. A panic in its
/// `Drop` is kept in `first` unless one is there already.
#[inline(always)]
fn drop_value(obj: ObjPtr, first: &mut Option<Box<dyn Any + Send>>) {
    // The object is unreachable from every handle outside the garbage (so nothing
    // borrows its value), DEAD is set (so nothing will borrow it again), and it is in
    // the garbage once.
    // SAFETY: live, unborrowed, never used again: see the three points above.
    let r = catch_unwind(AssertUnwindSafe(|| unsafe { obj.drop_value() }));
    if let Err(p) = r {
        first.get_or_insert(p);
    }
    obj.release_value_refs();
}

/// Debug builds destroy sets of this many members or more (of an even size) with an
/// [`Absorber`], whatever their edges.
const ABSORB_MIN_DEBUG: usize = 32;

/// Debug builds sort sets of this many members or more (of a size 1 modulo 3),
/// whatever their order.
const SORT_MIN_DEBUG: usize = 32;

/// Whether a debug build sorts a set of `len` members whatever its order (and so
/// releases its pins once every value is gone, with an absorber or without).
pub(crate) const fn sorted_in_debug(len: usize) -> bool {
    cfg!(debug_assertions) && len >= SORT_MIN_DEBUG && len % 3 == 1
}

/// How many places ahead of the object being destroyed `delete_garbage` prefetches
/// the referents (or, with an absorber, the value's own memory) of.
const AHEAD: usize = 8;

/// Appends the referents of `obj`, a member of a collection's set whose value is
/// intact (an object of the garbage whose value has not been dropped yet, or any
/// member while marking), to `out`. A panic in its `traverse` (possible only if the
/// implementation breaks its contract: it answered in `subtract_refs` moments ago) is
/// kept in `first` like one in `Drop`, so that the rest of the garbage is still
/// destroyed.
fn referents_of(
    heap: &HeapState,
    obj: ObjPtr,
    out: &mut Vec<ObjPtr>,
    first: &mut Option<Box<dyn Any + Send>>,
) {
    // Why this is sound: the garbage is destroyed in order, one object at a time, so
    // an object not yet reached still has its value; before destruction (marking)
    // every member has its value; all of them are pinned.
    // SAFETY: the guarantees just stated.
    let r = catch_unwind(AssertUnwindSafe(|| unsafe {
        obj.referents_into(heap, out)
    }));
    if let Err(p) = r {
        out.clear();
        first.get_or_insert(p);
    }
}

/// Whether most of the handles the objects of `garbage` own lead a page or more away
/// (a graph with random edges; not a list, a ring or a tree built in order), judged
/// from 64 objects spread over it. The objects' values must be intact (a garbage
/// set before destruction; any set of a collection); a panic in their `traverse` is
/// kept in `first`.
///
/// Why: destroying the garbage releases every handle it owns, a write to the
/// referent's header; when the referents are scattered each write is a cache miss,
/// one after another. Prefetching the referents of the object `AHEAD` places on
/// overlaps them (W7's release of 196,000 objects with 4 random edges each, in one
/// process with prefetching on and off alternately, 16 runs each: destruction median
/// 39.3 -> 26.8 ms); where edges are local the extra traversal would only cost.
/// Marking asks the same question (`move_unreachable::mark_reachable`).
pub(super) fn far_edges(
    heap: &HeapState,
    garbage: &[ObjPtr],
    referents: &mut Vec<ObjPtr>,
    first: &mut Option<Box<dyn Any + Send>>,
) -> bool {
    const SAMPLES: usize = 64;
    /// Distance from an object to a referent from which an edge counts as far.
    const FAR: usize = 4096;
    let (mut seen, mut far) = (0, 0);
    let step = garbage.len() / SAMPLES;
    for k in 0..SAMPLES {
        let obj = garbage[k * step];
        referents_of(heap, obj, referents, first);
        let from = obj.as_non_null().as_ptr().addr();
        for r in referents.drain(..) {
            seen += 1;
            far += usize::from(r.as_non_null().as_ptr().addr().abs_diff(from) >= FAR);
        }
    }
    far * 2 > seen
}

/// Below this many objects `delete_garbage` does not ask [`far_edges`]: the
/// referents' headers were all touched moments ago (while subtracting references).
const PREFETCH_MIN: usize = 1 << 15;

/// Below this many objects the garbage is left in the order the collection found it:
/// it was all touched moments ago (while subtracting references) and is still in the
/// cache, whatever the order.
const SORT_MIN: usize = 1 << 13;

/// Whether `garbage` is large and not in address order to within a few places, so
/// that it is destroyed and its blocks freed in address order ([`sort_by_line`]).
///
/// Why: destroying an object is a chain of dependent loads (the header, then the
/// value, then what the value owns, then the headers its handles point to), so in a
/// scattered order each object costs a few full cache misses one after another. In
/// address order the objects (and, usually, what they own, allocated beside them in
/// the same order) come in streams the hardware prefetches, and their blocks go back
/// on the free lists in that order, so that the objects allocated next are laid out
/// in order too (below). The set is in the order a traversal found it: for a graph with
/// random edges that is random (W7's release of the whole graph, 196,000 objects,
/// before the set took the rest of `Old` in list order: destruction 22-26 ms ->
/// 12-14 ms, for a 3 ms sort); for trees whose blocks came from free lists in
/// another tree's order it is partly scattered (W6's full collections, 16,000-65,000
/// objects: about half the samples local); for lists, rings and trees built in
/// fresh memory it is local, and sorting would only cost (a ring of 1M objects: +17
/// ms on a 17 ms destruction with a comparison sort). A few hundred sampled positions
/// tell them apart: an object within 4 KiB of one of the four before it counts as
/// local. (W6 in one process with page order for sets with fewer than three quarters
/// of the samples local, and with the earlier rule, half the samples from 32,768
/// objects on, and a comparison sort, alternately, 16 runs each, twice: medians of
/// paired ratios 1.135x and 1.111x.)
///
/// **The order of the next allocations.** Freed blocks go on their class's free
/// list, which hands out the last freed first, so the objects allocated next are laid
/// out in the order this set was freed, and the collections after them find them
/// (young lists, `Old` taken whole) in that order. A set that is mostly in order but
/// not wholly (W7's release: the fifth of `Old` that a search from the roots found
/// first, in random order, then the rest of `Old` in list order) used to be left as
/// it was when three quarters of the samples were local; each such release then
/// scrambled the free lists a little more, and a program that built and released
/// the graph again and again slowed down run after run (W7 eight times on one heap:
/// the release 17 ms the first time, 30-80 ms by the eighth; rust-gc's stayed at
/// 14.5). So only a set with all but one in 32 samples local is left in its order,
/// and the others are sorted to the cache line, not the page (a page holds ~50 of
/// W7's objects, whose order within it would drift the same way), and freed in that
/// order: W7's release then stays at 16-19 ms run after run.
fn out_of_order(garbage: &[ObjPtr]) -> bool {
    out_of_order_by(garbage.len(), |i| garbage[i].as_non_null().as_ptr().addr())
}

/// [`out_of_order`] for the `len` addresses `addr(0..len)`.
fn out_of_order_by(len: usize, addr: impl Fn(usize) -> usize) -> bool {
    const SAMPLES: usize = 256;
    const NEAR: usize = 4096;
    if len < SORT_MIN {
        return false;
    }
    let step = len / SAMPLES;
    let near = (1..SAMPLES)
        .map(|k| k * step)
        .filter(|&i| (1..=4).any(|j| addr(i).abs_diff(addr(i - j)) < NEAR))
        .count();
    near < SAMPLES - SAMPLES / 32
}

/// Puts `items` in page order of `addr(item)` (address >> 12, ascending), keeping
/// the order within a page (up to [`SCRATCH_MAX`] items): an LSD radix sort of the
/// page numbers relative to the lowest one, 8 bits a pass (two passes for pages
/// spanning up to 256 MiB), through `scratch` (left empty; after an odd number of
/// passes the result is copied back).
/// Page order is what the caches and the TLB need, and it is far cheaper than a
/// comparison sort of the addresses (W6, cachegrind: +4% instructions where
/// `sort_unstable_by_key` added 12%). An in-place radix sort (American flag sort)
/// needs no scratch but was slower (W6 in one process against the earlier rule,
/// alternately, 16 runs each: median of paired ratios 1.03x, where this one gave
/// 1.14x): its permutation loop branches unpredictably, and it does not keep the
/// order within a page. Pages spanning more than 2^24 pages (64 GiB) are sorted by
/// a comparison sort instead.
pub(super) fn sort_by_page<T: Copy>(
    items: &mut [T],
    scratch: &mut Vec<T>,
    addr: impl Fn(&T) -> usize,
) {
    sort_by_key(items, scratch, |t| addr(t) >> 12);
}

/// Puts `items` in address order of `addr(item)` to the cache line (address >> 6,
/// ascending; objects are at least 16 bytes, so at most four share a line), as
/// [`sort_by_page`] does to the page: three passes for lines spanning up to 1 GiB,
/// a comparison sort beyond 2^24 lines.
pub(super) fn sort_by_line<T: Copy>(
    items: &mut [T],
    scratch: &mut Vec<T>,
    addr: impl Fn(&T) -> usize,
) {
    sort_by_key(items, scratch, |t| addr(t) >> 6);
}

/// The sort of [`sort_by_page`] and [`sort_by_line`]: by `key`, an LSD radix sort of
/// the keys relative to the lowest one while they span at most 2^24, stable up to
/// [`SCRATCH_MAX`] items; larger sets are first split in place ([`split_in_place`]).
fn sort_by_key<T: Copy>(items: &mut [T], scratch: &mut Vec<T>, key: impl Fn(&T) -> usize) {
    sort_by_key_within(items, scratch, &key, SCRATCH_MAX);
}

/// The most items [`sort_by_key`] sorts through a scratch vector of their size (2
/// MiB of pointers). A larger set is split in place by the top 8 bits of its key
/// span into 256 parts, each sorted in turn (and split again if it is still this
/// large; a part whose keys span 8 bits or less is in order after its split), so
/// the scratch vector never holds more than this many: a collection that frees a
/// million objects sorts them with 2 MiB of scratch, not 8. The order of items with
/// equal keys is not kept through a split (it matters to no caller: objects that
/// share a line, or a page).
///
/// Why: the garbage vector is 8 bytes per object already, and a scratch vector as
/// large doubled that at the moment a large collection peaks (W5 and W8 with their
/// million-object heaps released after the timed part: 80.1 -> 87.1 and 80.3 ->
/// 87.2 MiB peak when such sets began to be sorted; 87.1 -> 80.2 and 87.2 -> 80.3
/// MiB with the split, by `benches/peak.sh`). Below this size the LSD sort through scratch is kept: it is
/// stable, and faster than the split, whose permutation loop branches
/// unpredictably (see [`sort_by_page`]; a million addresses in line order, a random
/// fifth of them first: 6.4-7.0 ms through scratch, 10.4-11.0 ms split, release
/// build); W7's release (196,000 objects) and W6's full collections stay below it.
/// The whole collection that frees W5's million objects did not get slower (the
/// two builds alternately, 12 pairs: median of paired old/new ratios 1.059x; the
/// scratch vector's 8 MiB were fresh pages to fault in).
const SCRATCH_MAX: usize = if cfg!(debug_assertions) {
    1 << 8
} else {
    1 << 18
};

/// [`sort_by_key`] with the scratch bound a parameter (the tests use small ones).
fn sort_by_key_within<T: Copy>(
    items: &mut [T],
    scratch: &mut Vec<T>,
    key: &impl Fn(&T) -> usize,
    max_scratch: usize,
) {
    scratch.clear();
    let Some(&any) = items.first() else { return };
    let (lo, hi) = items.iter().fold((usize::MAX, 0), |(lo, hi), t| {
        let k = key(t);
        (lo.min(k), hi.max(k))
    });
    let bits = usize::BITS - (hi - lo).leading_zeros();
    if bits > 24 {
        items.sort_by_key(key);
        return;
    }
    if items.len() > max_scratch {
        // By the top 8 bits of the span (all of them if it is 8 bits or less, and
        // the items are then in order already).
        let shift = bits.saturating_sub(8);
        let ends = split_in_place(items, |t| (key(t) - lo) >> shift);
        if shift > 0 {
            let mut start = 0;
            for end in ends {
                if end - start > 1 {
                    sort_by_key_within(&mut items[start..end], scratch, key, max_scratch);
                }
                start = end;
            }
        }
        return;
    }
    scratch.resize(items.len(), any);
    let mut in_scratch = false;
    let mut shift = 0;
    while shift < bits {
        let digit = |t: &T| ((key(t) - lo) >> shift) & 0xff;
        if in_scratch {
            radix_pass(scratch, items, digit);
        } else {
            radix_pass(items, scratch, digit);
        }
        in_scratch = !in_scratch;
        shift += 8;
    }
    if in_scratch {
        items.copy_from_slice(scratch);
    }
    scratch.clear();
}

/// Puts `items` in order of `digit` (0..=255) in place, not stably (an American
/// flag sort's pass: each item is swapped straight into the next free place of its
/// digit's part), and returns where each digit's part ends.
fn split_in_place<T: Copy>(items: &mut [T], digit: impl Fn(&T) -> usize) -> [usize; 256] {
    let mut next = part_starts(items, &digit);
    let end: [usize; 256] =
        core::array::from_fn(|d| next.get(d + 1).copied().unwrap_or(items.len()));
    // Invariant: for each digit `d`, `items[part start..next[d]]` hold items of
    // digit `d`; the items not placed yet are in the rest of the parts.
    for d in 0..256 {
        while next[d] < end[d] {
            let mut t = items[next[d]];
            let mut e = digit(&t);
            while e != d {
                // `t` goes to its part; what was there is carried on.
                core::mem::swap(&mut t, &mut items[next[e]]);
                next[e] += 1;
                e = digit(&t);
            }
            items[next[d]] = t;
            next[d] += 1;
        }
    }
    end
}

/// Where the part of each `digit` (0..=255) starts once `items` are in digit order:
/// the counts of the smaller digits, summed.
fn part_starts<T>(items: &[T], digit: &impl Fn(&T) -> usize) -> [usize; 256] {
    let mut start = [0usize; 256];
    for t in items {
        start[digit(t)] += 1;
    }
    let mut at = 0;
    for s in start.iter_mut() {
        let count = *s;
        *s = at;
        at += count;
    }
    start
}

/// One pass of [`sort_by_key`]: `from` into `to`, stably by `digit` (0..=255).
fn radix_pass<T: Copy>(from: &[T], to: &mut [T], digit: impl Fn(&T) -> usize) {
    let mut start = part_starts(from, &digit);
    for t in from {
        let d = digit(t);
        to[start[d]] = *t;
        start[d] += 1;
    }
}

/// `DEBUG_SAVEALL`: keeps the garbage alive in the heap's garbage list instead.
pub(crate) fn save_garbage(heap: &HeapState, guard: &mut SetGuard<'_>) -> usize {
    let mut garbage = core::mem::take(&mut guard.objs);
    let n = garbage.len();
    for &obj in &garbage {
        obj.set_list(List::Detached);
        heap.link(obj, List::Old);
        heap.garbage.borrow_mut().push(GcAny::from_obj_cloned(obj));
        obj.unpin();
    }
    garbage.clear();
    guard.objs = garbage;
    n
}

#[cfg(test)]
mod tests {
    use super::{out_of_order_by, sort_by_key_within, sort_by_line, sort_by_page, SORT_MIN};

    /// Addresses of `n` 80-byte objects in a 20 MiB region, in a random order.
    fn random(n: usize) -> Vec<usize> {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                0x1000_0000 + (x % (20 << 20) / 80 * 80) as usize
            })
            .collect()
    }

    fn check(addrs: &[usize]) -> bool {
        out_of_order_by(addrs.len(), |i| addrs[i])
    }

    #[test]
    #[cfg_attr(miri, ignore = "arithmetic on plain addresses, no memory access")]
    fn a_large_random_order_is_scattered() {
        assert!(check(&random(SORT_MIN)));
        assert!(check(&random(4 * SORT_MIN + 17)));
    }

    #[test]
    #[cfg_attr(miri, ignore = "arithmetic on plain addresses, no memory access")]
    fn a_small_set_is_never_sorted() {
        assert!(!check(&random(SORT_MIN - 1)));
        assert!(!check(&[]));
    }

    #[test]
    #[cfg_attr(miri, ignore = "arithmetic on plain addresses, no memory access")]
    fn allocation_order_either_way_is_local() {
        let up: Vec<usize> = (0..SORT_MIN * 2).map(|i| 0x1000_0000 + 80 * i).collect();
        let down: Vec<usize> = up.iter().rev().copied().collect();
        assert!(!check(&up));
        assert!(!check(&down));
    }

    /// A ring traversed from one object both ways: each address is far from the one
    /// before it but next to the one two before it.
    #[test]
    #[cfg_attr(miri, ignore = "arithmetic on plain addresses, no memory access")]
    fn a_zigzag_from_a_ring_is_local() {
        let mid = 0x4000_0000_usize;
        let zigzag: Vec<usize> = (0..SORT_MIN * 2)
            .map(|i| {
                let k = 80 * (i / 2 + 1);
                if i % 2 == 0 {
                    mid + k
                } else {
                    mid - k
                }
            })
            .collect();
        assert!(!check(&zigzag));
    }

    /// `SORT_MIN * 2` addresses in allocation order, except those at the positions
    /// `jumps` picks, which are random.
    fn local_with_jumps(jumps: impl Fn(usize) -> bool) -> Vec<usize> {
        let r = random(SORT_MIN * 2);
        (0..SORT_MIN * 2)
            .map(|i| if jumps(i) { r[i] } else { 0x1000_0000 + 80 * i })
            .collect()
    }

    /// A random jump every 61st object still counts as in order; every 23rd does
    /// not (all but one in 32 samples must be local), nor does every seventh, nor a
    /// random order with every seventh object in place. (Primes, so that the sampled
    /// positions, 64 apart here, fall on every residue.)
    #[test]
    #[cfg_attr(miri, ignore = "arithmetic on plain addresses, no memory access")]
    fn the_verdict_follows_the_share_of_local_samples() {
        assert!(!check(&local_with_jumps(|i| i % 61 == 3)));
        assert!(check(&local_with_jumps(|i| i % 23 == 3)));
        assert!(check(&local_with_jumps(|i| i % 7 == 3)));
        assert!(check(&local_with_jumps(|i| i % 7 != 3)));
    }

    /// A fifth of the set in random order, then the rest in allocation order (W7's
    /// release): out of order.
    #[test]
    #[cfg_attr(miri, ignore = "arithmetic on plain addresses, no memory access")]
    fn a_random_fifth_then_allocation_order_is_out_of_order() {
        let n = SORT_MIN * 2;
        assert!(check(&local_with_jumps(|i| i < n / 5)));
    }

    fn sorted(mut addrs: Vec<usize>) -> Vec<usize> {
        let mut scratch = vec![7; 3];
        sort_by_page(&mut addrs, &mut scratch, |&a| a);
        assert!(scratch.is_empty());
        addrs
    }

    #[test]
    fn page_order_keeps_the_order_within_a_page() {
        assert_eq!(sorted(vec![]), Vec::<usize>::new());
        assert_eq!(sorted(vec![0x5008]), [0x5008]);
        // Pages 0x7, 0x5, 0x6, 0x5, 0x7, 0x5.
        let addrs = vec![0x7010, 0x5ff8, 0x6000, 0x5000, 0x7008, 0x5010];
        assert_eq!(
            sorted(addrs),
            [0x5ff8, 0x5000, 0x5010, 0x6000, 0x7010, 0x7008]
        );
    }

    /// Random addresses over 20 MiB (5,120 pages: two passes), ~1.9 GiB (three
    /// passes) and ~2.5 TiB (more than 2^24 pages: the comparison sort) come out in
    /// page order, as a permutation of the input.
    #[test]
    fn page_order_of_random_addresses() {
        let n = if cfg!(miri) { 300 } else { 20_000 };
        for spread in [1, 97, 1 << 17] {
            let addrs: Vec<usize> = random(n).iter().map(|&a| a.wrapping_mul(spread)).collect();
            let out = sorted(addrs.clone());
            assert!(out.windows(2).all(|w| w[0] >> 12 <= w[1] >> 12));
            let (mut a, mut b) = (addrs, out);
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
        }
    }

    /// Line order: ascending to the 64-byte line, the order within a line kept.
    #[test]
    fn line_order_sorts_within_a_page() {
        let mut scratch = Vec::new();
        let mut addrs = vec![0x7010, 0x5ff8, 0x6000, 0x5000, 0x7008, 0x5048, 0x5040];
        sort_by_line(&mut addrs, &mut scratch, |&a| a);
        assert_eq!(
            addrs,
            [0x5000, 0x5048, 0x5040, 0x5ff8, 0x6000, 0x7010, 0x7008]
        );
        assert!(scratch.is_empty());
    }

    /// Random addresses over 20 MiB (327,680 lines: three passes) and ~2.5 TiB (the
    /// comparison sort) come out in line order, as a permutation of the input.
    #[test]
    fn line_order_of_random_addresses() {
        let n = if cfg!(miri) { 300 } else { 20_000 };
        for spread in [1, 1 << 17] {
            let addrs: Vec<usize> = random(n).iter().map(|&a| a.wrapping_mul(spread)).collect();
            let mut out = addrs.clone();
            sort_by_line(&mut out, &mut Vec::new(), |&a| a);
            assert!(out.windows(2).all(|w| w[0] >> 6 <= w[1] >> 6));
            let (mut a, mut b) = (addrs, out);
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
        }
    }

    /// A part of a vector is sorted in place; the rest stays as it was.
    #[test]
    fn page_order_of_a_slice() {
        let mut addrs = vec![0x9000, 0x7010, 0x5ff8, 0x6000, 0x5000, 0x1000];
        let mut scratch = Vec::new();
        sort_by_page(&mut addrs[1..5], &mut scratch, |&a| a);
        assert_eq!(addrs, [0x9000, 0x5ff8, 0x5000, 0x6000, 0x7010, 0x1000]);
    }

    /// A set larger than the scratch bound is split in place, part by part, until
    /// the parts fit: it comes out in order, as a permutation of the input, and the
    /// scratch vector never grew past (about) the bound.
    #[test]
    fn a_large_set_is_sorted_with_bounded_scratch() {
        let (n, bound) = if cfg!(miri) { (300, 16) } else { (20_000, 64) };
        // Lines and pages over 20 MiB; the same times 97 (pages over ~1.9 GiB: the
        // parts are split again); a span of 8 bits or less (one split sorts it);
        // every key equal.
        type Key = fn(usize) -> usize;
        let keys: [(usize, Key); 5] = [
            (1, |a| a >> 6),
            (1, |a| a >> 12),
            (97, |a| a >> 12),
            (1, |a| (a >> 6) & 0xff),
            (1, |_| 5),
        ];
        for (spread, key) in keys {
            let addrs: Vec<usize> = random(n).iter().map(|&a| a * spread).collect();
            let mut out = addrs.clone();
            let mut scratch = Vec::new();
            sort_by_key_within(&mut out, &mut scratch, &|&a: &usize| key(a), bound);
            assert!(out.windows(2).all(|w| key(w[0]) <= key(w[1])));
            assert!(scratch.is_empty());
            assert!(scratch.capacity() <= 2 * bound, "{}", scratch.capacity());
            let (mut a, mut b) = (addrs, out);
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
        }
    }

    /// Pages spanning more than 2^24 pages take the comparison sort.
    #[test]
    fn page_order_over_a_wide_span() {
        let addrs = vec![1 << 45, 0x1000, 1 << 40, 0x1008, 0x3000];
        assert_eq!(sorted(addrs), [0x1000, 0x1008, 0x3000, 1 << 40, 1 << 45]);
    }
}
