//! Memory for objects: free lists by size class, carved from 256 KiB chunks
//! (CPython's `obmalloc`, simplified), one set per heap and one per thread.
//!
//! Every tracked object of at most [`MAX_SMALL`] bytes and alignment at most 8 is a
//! block of its heap's [`Pools`]. Untracked objects (leaves, which belong to no heap)
//! whose handles cannot leave their thread (`Gc::new`, a single-threaded heap's
//! `alloc`) are blocks of their thread's leaf pools (`raw::LEAF_POOLS`), dropped at
//! thread exit like a heap's. Larger or over-aligned objects, a thread-safe heap's
//! leaves (their handles may be dropped on any thread) and leaves made while the
//! thread's destructors run come from the global allocator. A block's size is its
//! object layout's size (a multiple of 8); its *class* is that size ÷ 8 − 1. So a
//! block has no overhead at all, where `malloc` adds 8 bytes and rounds to 16 (a
//! 72-byte object took 80 bytes; it takes 72).
//!
//! * **Allocation** pops the class's free list, or else takes the next bytes of the
//!   current chunk (a bump pointer), or else starts a new chunk: a handful of
//!   instructions instead of `malloc`'s ~180 (measured with callgrind, W3).
//! * **Freeing** finds the block's chunk by masking its address (chunks are aligned
//!   to their size), reads the `Pools` pointer from the chunk's header and pushes the
//!   block on its class's free list. So an object freed after its heap is gone (an
//!   orphan, `shutdown.rs`) still finds where it belongs.
//! * **Lifetime.** The `Pools` and its chunks are freed when both its heap has let
//!   go of it ([`PoolsHandle`]'s drop) and its last block is freed, whichever comes
//!   last. Until then freed blocks are kept for the heap's later allocations of the
//!   same class, not returned to the system: a heap's memory is the most it ever
//!   held at once (what `peak.sh` measures anyway), and it goes back with the heap.
//!   A thread's leaf pools are the same: leaves freed are kept for the thread's
//!   later leaves of their size, and the memory goes back once the thread has
//!   exited and its last leaf is freed.
//! * **Chunks** come from anonymous `mmap` mappings on Unix, 16 chunks to a mapping,
//!   handed out in address order (`os_chunk`; the global allocator under Miri and
//!   elsewhere): glibc serves a 256 KiB, 256 KiB-aligned request with a 516 KiB
//!   mapping and writes its headers on two pages of it that hold nothing of ours: 3%
//!   of a chunk, and 2-5% of the peak memory measured (W4 85,160 -> 81,200 KiB, W3
//!   19,248 -> 18,816, W6 10,180 -> 9,980, W1 3,188 -> 3,180). Pages of a mapping
//!   are resident only once touched, so the chunks not handed out yet cost address
//!   space only.
//! * **Chunk cache.** The chunks of destroyed pools go to a process-wide cache of up
//!   to [`CACHED_CHUNKS`] (32 MiB), which new chunks are taken from first; the rest
//!   go back to the system. A 256 KiB chunk is above glibc's threshold
//!   for serving an allocation from fresh pages of its own, so without the cache
//!   each chunk of a new heap (or of a new thread's leaf pools) was new memory from
//!   the system, paid for again in page faults, and freed back when its pools went:
//!   W3 (a fresh thread, so fresh pools, per run) took 9-14 ms creating its
//!   200,000 objects in `benches/examples/one.rs`, ~3,800 page faults a run, and
//!   2.8-4.1 ms with the cache (W3 alone in the interleaved run: 48.5 -> 13.3 ns
//!   per object, where `Rc`, whose `malloc` reuses the memory freed by the run
//!   before, took 12-17). (W1, a leaf allocated, cloned
//!   and freed 1,000,000 times: 172M -> 73M instructions under cachegrind, `malloc`
//!   and `free` having been ~137 of the ~172 per leaf, as they are for `Rc`.)
//!
//! Thread safety: a `Pools` is used by one thread at a time, as the rest of its heap:
//! a single-threaded heap's objects and a thread's leaves never leave their thread
//! (their handles are neither `Send` nor `Sync`), and every allocation and release of
//! a `sync::Heap`'s objects happens under that heap's lock (`sync/gil.rs`), orphans
//! included.

use core::cell::Cell;
use core::ptr::NonNull;
use std::alloc::Layout;

/// Size (and alignment) of a chunk.
const CHUNK: usize = 256 << 10;
/// Block sizes are multiples of this; it is also the largest alignment served.
const GRANULE: usize = crate::layout::POOL_GRANULE;
/// The largest object layout served from the pools.
const MAX_SMALL: usize = crate::layout::POOL_MAX_OBJECT;
const CLASSES: usize = MAX_SMALL / GRANULE;
/// Bytes at the start of a chunk taken by its [`ChunkHeader`] (rounded to a granule).
const HEADER: usize = size_of::<ChunkHeader>().div_ceil(GRANULE) * GRANULE;

/// The start of every chunk.
struct ChunkHeader {
    /// The pools this chunk belongs to.
    pools: NonNull<Pools>,
    /// The pools' previous chunk (a list, to free them all at the end).
    next: Option<NonNull<ChunkHeader>>,
}

/// A freed block: the link of its class's free list.
struct FreeBlock {
    next: Option<NonNull<FreeBlock>>,
}

/// One heap's free lists and chunks.
pub(crate) struct Pools {
    free: [Cell<Option<NonNull<FreeBlock>>>; CLASSES],
    /// The unused rest of the newest chunk: `bump..end` (both null before the first).
    bump: Cell<*mut u8>,
    end: Cell<*mut u8>,
    /// The newest chunk (the others follow through `ChunkHeader::next`).
    chunks: Cell<Option<NonNull<ChunkHeader>>>,
    /// Blocks allocated and not yet freed.
    live: Cell<usize>,
    /// The heap has let go (`PoolsHandle` dropped): the last free destroys the pools.
    detached: Cell<bool>,
}

/// The class of an object layout served from the pools, or `None` for the global
/// allocator. Computed at compile time for each type's layouts (`raw::VTable`) and
/// passed to [`PoolsHandle::alloc`]; [`Pools::free`] computes it from the layout.
pub(crate) const fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() <= MAX_SMALL && layout.align() <= GRANULE {
        Some((if layout.size() == 0 { 1 } else { layout.size() } - 1) / GRANULE)
    } else {
        None
    }
}

impl Pools {
    /// Frees memory returned by [`PoolsHandle::alloc`] for `layout`, to the pools it came
    /// from (found through its chunk, so they need not be at hand); destroys those
    /// pools if this was their last block and their heap has let go.
    ///
    /// # Safety
    /// `ptr` was returned by `PoolsHandle::alloc(layout)` of some pools, is not used
    /// afterwards, and is not freed twice.
    #[inline]
    pub(crate) unsafe fn free(ptr: NonNull<u8>, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // Why this is sound: `alloc` served this layout from the global allocator
            // (`class_of` decides the same way for the same layout).
            // SAFETY: the guarantees just stated, and the caller's.
            unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
            return;
        };
        let chunk = ptr
            .as_ptr()
            .map_addr(|a| a & !(CHUNK - 1))
            .cast::<ChunkHeader>();
        // Why this is sound: a block of class `class` lies in a chunk, which is
        // aligned to `CHUNK`, so masking its address finds the chunk's start (within
        // the same allocation, whose provenance `ptr` carries), where `alloc_in_new_chunk`
        // wrote the header. The pools outlive their chunks' blocks: they are destroyed
        // only after the last one is freed (below).
        // SAFETY: the guarantees just stated.
        let pools_ptr = unsafe { (*chunk).pools };
        // SAFETY: as just stated, the pools are alive while one of their blocks is.
        let pools = unsafe { pools_ptr.as_ref() };
        let block = ptr.cast::<FreeBlock>();
        // Why this is sound: the block is at least 8 bytes, aligned to 8 (every block
        // size is a multiple of 8 from an 8-aligned start), and the caller no longer
        // uses it.
        // SAFETY: the guarantees just stated.
        unsafe {
            block.write(FreeBlock {
                next: pools.free[class].get(),
            })
        };
        pools.free[class].set(Some(block));
        let live = pools.live.get() - 1;
        pools.live.set(live);
        if live == 0 && pools.detached.get() {
            // SAFETY: the heap has let go and no block is left: nothing uses them.
            unsafe { Pools::destroy(pools_ptr) };
        }
    }

    /// Frees every chunk and the pools themselves.
    ///
    /// # Safety
    /// `pools` came from `PoolsHandle::new`, and nothing uses it or any of its blocks
    /// afterwards.
    unsafe fn destroy(pools: NonNull<Pools>) {
        // Why this is sound: `PoolsHandle::new` made `pools` with `Box::leak`, and
        // the caller guarantees it is not used again.
        // SAFETY: the guarantees just stated.
        let pools = unsafe { Box::from_raw(pools.as_ptr()) };
        let mut chunk = pools.chunks.get();
        while let Some(c) = chunk {
            // SAFETY: `c` is a chunk of these pools, its header written when it began.
            chunk = unsafe { c.as_ref() }.next;
            if let Err(FreeChunk(c)) = FREE_CHUNKS.put(FreeChunk(c.cast())) {
                // SAFETY: the chunk came from `os_chunk::alloc`; nothing uses it.
                unsafe { os_chunk::free(c) };
            }
        }
    }
}

/// A chunk no pools use, from `os_chunk::alloc`.
struct FreeChunk(NonNull<u8>);

// A free chunk is memory of its own (a mapping, or a global allocation) that nothing
// uses or points into; whichever thread takes it from the cache owns it.
// SAFETY: the guarantees just stated.
unsafe impl Send for FreeChunk {}

/// Free chunks kept for the next new chunk (see the module docs). Touched once per
/// chunk, so its lock costs nothing to speak of.
struct ChunkCache {
    chunks: std::sync::Mutex<Vec<FreeChunk>>,
    cap: usize,
}

impl ChunkCache {
    const fn new(cap: usize) -> ChunkCache {
        ChunkCache {
            chunks: std::sync::Mutex::new(Vec::new()),
            cap,
        }
    }

    /// Keeps `chunk`, or hands it back if the cache is full.
    fn put(&self, chunk: FreeChunk) -> Result<(), FreeChunk> {
        let mut chunks = self.chunks.lock().unwrap_or_else(|e| e.into_inner());
        if chunks.len() >= self.cap {
            return Err(chunk);
        }
        chunks.push(chunk);
        Ok(())
    }

    /// A kept chunk, the last one put.
    fn take(&self) -> Option<FreeChunk> {
        self.chunks.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }
}

std::thread_local! {
    /// Bytes of chunks begun by pools on this thread (`chunk_bytes_begun`).
    static CHUNK_BYTES_BEGUN: Cell<usize> = const { Cell::new(0) };
}

/// See `gc_core::layout::pool_chunk_bytes_begun`.
pub(crate) fn chunk_bytes_begun() -> usize {
    CHUNK_BYTES_BEGUN.try_with(Cell::get).unwrap_or(0)
}

/// The process's cache: up to 128 chunks, 32 MiB.
static FREE_CHUNKS: ChunkCache = ChunkCache::new(CACHED_CHUNKS);
const CACHED_CHUNKS: usize = 128;

fn chunk_layout() -> Layout {
    // The size is a power of two and equals the alignment: always valid.
    Layout::from_size_align(CHUNK, CHUNK).unwrap_or_else(|_| unreachable!())
}

/// Where chunks come from: `CHUNK` bytes aligned to `CHUNK`.
///
/// On Unix, anonymous mappings: one of `RESERVE + 1` chunks' length is trimmed to the
/// `RESERVE` aligned chunks inside it, handed out one after another. The global
/// allocator serves a chunk (glibc: a 516 KiB mapping) but writes its own headers at
/// the mapping's start and just before the aligned address: two pages resident per
/// chunk for nothing (W4's peak went from 85,160 to 81,200 KiB without them). A
/// mapping per chunk (two chunks' length, trimmed) left every chunk 512 KiB from the
/// next, so a heap's objects spanned twice their memory, and so did the tables a
/// collection keeps per 64 bytes of that span (`collect/count_table.rs`): W7's
/// 196,000 objects spanned 27.9 MiB, 17.2 MiB from reservations, and the table went
/// from 435 to 267 KiB. Under Miri, and elsewhere, the global allocator.
#[cfg(all(unix, not(miri)))]
mod os_chunk {
    use super::{chunk_layout, CHUNK};
    use core::ptr::{null_mut, NonNull};
    use core::sync::atomic::{AtomicPtr, Ordering};
    use std::sync::Mutex;

    /// Chunks mapped at once: one mapping of `RESERVE + 1` chunks' length, trimmed to
    /// the `RESERVE` aligned chunks inside it, which `alloc` hands out in address
    /// order.
    pub(super) const RESERVE: usize = 16;

    /// The next chunk of the current reservation, and how many are left there. Only
    /// addresses: a chunk handed out is memory of its own.
    static NEXT: AtomicPtr<u8> = AtomicPtr::new(null_mut());
    static LEFT: Mutex<usize> = Mutex::new(0);

    /// A fresh chunk: `CHUNK` bytes, aligned to `CHUNK`: the next of the current
    /// reservation (a new one when it is used up).
    pub(super) fn alloc() -> NonNull<u8> {
        let mut left = LEFT.lock().unwrap_or_else(|e| e.into_inner());
        if *left == 0 {
            NEXT.store(reserve().as_ptr(), Ordering::Relaxed);
            *left = RESERVE;
        }
        let chunk = NEXT.load(Ordering::Relaxed);
        NEXT.store(chunk.wrapping_add(CHUNK), Ordering::Relaxed);
        *left -= 1;
        NonNull::new(chunk).unwrap_or_else(|| unreachable!())
    }

    /// Maps `RESERVE` chunks, aligned to `CHUNK`, one after another; returns the
    /// first. Each is then memory of its own, for [`free`] to unmap.
    pub(super) fn reserve() -> NonNull<u8> {
        let len = (RESERVE + 1) * CHUNK;
        // Why this is sound: an anonymous private mapping at an address the kernel
        // chooses overlaps no memory in use.
        // SAFETY: the guarantees just stated.
        let map = unsafe {
            libc::mmap(
                null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(chunk_layout());
        }
        // One mapping of several chunks is one area of memory to the kernel, which
        // may back whole 2 MiB of it with a huge page at the first touch (with
        // transparent huge pages `always`): 2 MiB resident where a small heap uses
        // a few KiB. Ask it not to: pages are mapped one by one as they are
        // touched, as with a mapping per chunk. (A hint: an error changes nothing.)
        // Why this is sound: the range is the mapping just made; the call changes
        // no contents.
        // SAFETY: the guarantees just stated.
        let _ = unsafe { libc::madvise(map, len, libc::MADV_NOHUGEPAGE) };
        let map = map.cast::<u8>();
        // Bytes before the first `CHUNK` boundary in the mapping (a whole number of
        // pages: the mapping starts on a page), and after the chunks that start there.
        let head = map.addr().wrapping_neg() & (CHUNK - 1);
        let tail = len - head - RESERVE * CHUNK;
        for (start, bytes) in [
            (map, head),
            (map.wrapping_add(head + RESERVE * CHUNK), tail),
        ] {
            if bytes > 0 {
                // Why this is sound: `start..start + bytes` is a page-aligned part of
                // the mapping just made, outside the chunks handed out, and nothing
                // has seen it.
                // SAFETY: the guarantees just stated.
                let r = unsafe { libc::munmap(start.cast(), bytes) };
                debug_assert_eq!(r, 0, "munmap of an unused part of a chunk's mapping");
            }
        }
        NonNull::new(map.wrapping_add(head)).unwrap_or_else(|| unreachable!())
    }

    /// Gives a chunk back to the system.
    ///
    /// # Safety
    /// `chunk` came from [`alloc`] (or is one of a [`reserve`]'s chunks, never
    /// handed out), and nothing uses it or frees it again.
    pub(super) unsafe fn free(chunk: NonNull<u8>) {
        // Why this is sound: `chunk..chunk + CHUNK` is mapped, page-aligned, and
        // belongs to this chunk alone (a reservation's chunks are handed out once
        // each, and unmapping part of a mapping leaves the rest mapped), unused from
        // now on (the caller's guarantee).
        // SAFETY: the guarantees just stated.
        let r = unsafe { libc::munmap(chunk.as_ptr().cast(), CHUNK) };
        debug_assert_eq!(r, 0, "munmap of a chunk");
    }
}

/// Where chunks come from: `CHUNK` bytes aligned to `CHUNK`, from the global
/// allocator (Miri, and systems without `mmap`).
#[cfg(not(all(unix, not(miri))))]
mod os_chunk {
    use super::{chunk_layout, global_alloc};
    use core::ptr::NonNull;

    /// A fresh chunk: `CHUNK` bytes, aligned to `CHUNK`.
    pub(super) fn alloc() -> NonNull<u8> {
        global_alloc(chunk_layout())
    }

    /// Gives a chunk back to the global allocator.
    ///
    /// # Safety
    /// `chunk` came from [`alloc`], and nothing uses it or frees it again.
    pub(super) unsafe fn free(chunk: NonNull<u8>) {
        // SAFETY: allocated by `alloc` with `chunk_layout()`; unused from now on.
        unsafe { std::alloc::dealloc(chunk.as_ptr(), chunk_layout()) }
    }
}

fn global_alloc(layout: Layout) -> NonNull<u8> {
    // Why this is sound: every layout given here has a non-zero size (objects hold a
    // header, chunks are 256 KiB).
    // SAFETY: the guarantees just stated.
    let p = unsafe { std::alloc::alloc(layout) };
    NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// A heap's hold on its [`Pools`]: dropping it (with the heap) frees them now if no
/// block is left, and otherwise lets the last block's release do it.
pub(crate) struct PoolsHandle(NonNull<Pools>);

impl PoolsHandle {
    pub(crate) fn new() -> PoolsHandle {
        let pools = Pools {
            free: core::array::from_fn(|_| Cell::new(None)),
            bump: Cell::new(core::ptr::null_mut()),
            end: Cell::new(core::ptr::null_mut()),
            chunks: Cell::new(None),
            live: Cell::new(0),
            detached: Cell::new(false),
        };
        PoolsHandle(NonNull::from(Box::leak(Box::new(pools))))
    }

    fn pools(&self) -> &Pools {
        // SAFETY: the pools are destroyed only after this handle is dropped.
        unsafe { self.0.as_ref() }
    }

    /// Allocates memory for an object of `layout` (never zero-sized: it holds a
    /// header); `class` is [`class_of`]`(layout)`.
    #[inline]
    pub(crate) fn alloc(&self, layout: Layout, class: Option<usize>) -> NonNull<u8> {
        debug_assert_eq!(class, class_of(layout), "class of another layout");
        let this = self.pools();
        let Some(class) = class else {
            return global_alloc(layout);
        };
        this.live.set(this.live.get() + 1);
        if let Some(block) = this.free[class].get() {
            // Why this is sound: a block on a free list is a freed block of this
            // class, in a chunk of these pools (which are alive: `self`); its first
            // word was written by `free` as a `FreeBlock` and nothing else uses it.
            // SAFETY: the guarantees just stated.
            this.free[class].set(unsafe { block.as_ref() }.next);
            return block.cast();
        }
        let size = (class + 1) * GRANULE;
        let bump = this.bump.get();
        if this.end.get().addr() - bump.addr() >= size {
            this.bump.set(bump.wrapping_add(size));
            // Why this is sound: `bump` is inside the newest chunk (`end - bump >=
            // size > 0`, and both are null only before the first chunk, when the
            // difference is 0), so it is not null.
            // SAFETY: the guarantees just stated.
            return unsafe { NonNull::new_unchecked(bump) };
        }
        self.alloc_in_new_chunk(size)
    }

    /// Starts a new chunk and takes `size` bytes from it. The rest of the previous
    /// chunk (less than one block of the requested size) is left unused.
    #[cold]
    #[inline(never)]
    fn alloc_in_new_chunk(&self, size: usize) -> NonNull<u8> {
        let this = self.pools();
        // `try_with`: a thread's leaves may still be allocated while its
        // thread-locals are being destroyed.
        let _ = CHUNK_BYTES_BEGUN.try_with(|b| b.set(b.get() + CHUNK));
        let cached = FREE_CHUNKS.take();
        // A cached chunk is a whole free chunk: the same memory `os_chunk::alloc`
        // would give, with its old contents, all overwritten before use (the header
        // below, blocks when they are allocated).
        let base = cached.map_or_else(os_chunk::alloc, |c| c.0);
        let header = base.cast::<ChunkHeader>();
        // Why this is sound: the chunk is a fresh allocation of `CHUNK` bytes, aligned
        // to `CHUNK`, so its start holds a `ChunkHeader`.
        // SAFETY: the guarantees just stated.
        unsafe {
            header.write(ChunkHeader {
                pools: self.0,
                next: this.chunks.get(),
            })
        };
        this.chunks.set(Some(header));
        let first = base.as_ptr().wrapping_add(HEADER);
        this.bump.set(first.wrapping_add(size));
        this.end.set(base.as_ptr().wrapping_add(CHUNK));
        // Why this is sound: `first` is `HEADER` bytes into a non-null allocation.
        // SAFETY: the guarantees just stated.
        unsafe { NonNull::new_unchecked(first) }
    }
}

impl Drop for PoolsHandle {
    fn drop(&mut self) {
        let pools = self.pools();
        pools.detached.set(true);
        if pools.live.get() == 0 {
            // SAFETY: no block is left and the heap lets go now: nothing uses them.
            unsafe { Pools::destroy(self.0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache keeps chunks up to its cap and gives them back last in, first out.
    #[test]
    fn the_chunk_cache_keeps_up_to_its_cap() {
        let cache = ChunkCache::new(2);
        let chunks: Vec<_> = (0..3).map(|_| os_chunk::alloc()).collect();
        assert!(cache.put(FreeChunk(chunks[0])).is_ok());
        assert!(cache.put(FreeChunk(chunks[1])).is_ok());
        let Err(FreeChunk(third)) = cache.put(FreeChunk(chunks[2])) else {
            panic!("a full cache keeps no more");
        };
        assert_eq!(third, chunks[2]);
        assert_eq!(cache.take().map(|c| c.0), Some(chunks[1]));
        assert_eq!(cache.take().map(|c| c.0), Some(chunks[0]));
        assert!(cache.take().is_none());
        for c in chunks {
            // SAFETY: from `os_chunk::alloc` above, freed once.
            unsafe { os_chunk::free(c) };
        }
    }

    /// A reservation is `RESERVE` aligned chunks one after another, each writable
    /// end to end and given back on its own (the first, a middle one and the last
    /// unmapped before the others: the rest stays usable).
    #[test]
    #[cfg(all(unix, not(miri)))]
    fn a_reservation_is_aligned_chunks_each_freed_on_its_own() {
        let first = os_chunk::reserve();
        assert_eq!(first.addr().get() % CHUNK, 0, "not aligned");
        let n = os_chunk::RESERVE;
        let chunks: Vec<NonNull<u8>> = (0..n)
            .map(|i| first.map_addr(|a| a.saturating_add(i * CHUNK)))
            .collect();
        for (i, &c) in chunks.iter().enumerate() {
            // SAFETY: chunk `i` of the reservation: `CHUNK` bytes mapped for us.
            unsafe { c.as_ptr().write_bytes(i as u8 + 1, CHUNK) };
        }
        let order: Vec<usize> = [0, n / 2, n - 1]
            .into_iter()
            .chain((0..n).filter(|&i| i != 0 && i != n / 2 && i != n - 1))
            .collect();
        for (k, &i) in order.iter().enumerate() {
            for &j in &order[k..] {
                for off in [0, CHUNK / 2, CHUNK - 1] {
                    // SAFETY: chunk `j` is not freed yet, and was written above.
                    let b = unsafe { chunks[j].as_ptr().add(off).read() };
                    assert_eq!(b, j as u8 + 1, "chunk {j} after freeing {k} chunks");
                }
            }
            // SAFETY: chunk `i` of the reservation, freed once, unused from now on.
            unsafe { os_chunk::free(chunks[i]) };
        }
    }

    /// A chunk is `CHUNK` bytes of its own, aligned to `CHUNK`, writable end to end,
    /// and overlaps no other chunk.
    #[test]
    fn chunks_are_aligned_and_whole() {
        let chunks: Vec<_> = (0..3).map(|_| os_chunk::alloc()).collect();
        for (i, &c) in chunks.iter().enumerate() {
            assert_eq!(c.addr().get() % CHUNK, 0, "chunk {i} not aligned");
            // SAFETY: a fresh chunk of `CHUNK` bytes.
            unsafe { c.as_ptr().write_bytes(i as u8 + 1, CHUNK) };
        }
        for (i, &c) in chunks.iter().enumerate() {
            for off in [0, 1, CHUNK / 2, CHUNK - 1] {
                // SAFETY: within the chunk, written above.
                assert_eq!(unsafe { c.as_ptr().add(off).read() }, i as u8 + 1);
            }
            assert!(chunks.iter().filter(|&&o| o != c).all(|o| o
                .addr()
                .get()
                .abs_diff(c.addr().get())
                >= CHUNK));
        }
        for c in chunks {
            // SAFETY: from `os_chunk::alloc` above, freed once.
            unsafe { os_chunk::free(c) };
        }
    }

    /// Destroyed pools' chunks serve the next pools: memory written by the first
    /// pools' objects is reused, whole, by the second's. (The cache is the
    /// process's: other tests' threads may take the chunk meanwhile, which changes
    /// nothing here.)
    #[test]
    fn pools_work_on_reused_chunks() {
        for round in 0..4u8 {
            let pools = PoolsHandle::new();
            let blocks: Vec<_> = (0..600).map(|_| alloc(&pools, MAX_SMALL)).collect();
            for &b in &blocks {
                // SAFETY: a block of `MAX_SMALL` bytes just allocated.
                unsafe { b.as_ptr().write_bytes(round, MAX_SMALL) };
            }
            for &b in &blocks {
                // SAFETY: written above; read within bounds.
                assert_eq!(unsafe { b.as_ptr().add(MAX_SMALL - 1).read() }, round);
                // SAFETY: allocated above with this size, freed once.
                unsafe { free(b, MAX_SMALL) };
            }
        }
    }

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    fn alloc(pools: &PoolsHandle, size: usize) -> NonNull<u8> {
        pools.alloc(layout(size), class_of(layout(size)))
    }

    /// # Safety
    /// As for `Pools::free`.
    unsafe fn free(ptr: NonNull<u8>, size: usize) {
        // SAFETY: the caller's guarantees.
        unsafe { Pools::free(ptr, layout(size)) }
    }

    #[test]
    fn classes_round_up_to_8_bytes_and_stop_at_max_small() {
        assert_eq!(class_of(layout(8)), Some(0));
        assert_eq!(class_of(layout(16)), Some(1));
        assert_eq!(class_of(layout(17)), Some(2));
        assert_eq!(class_of(layout(72)), Some(8), "72 bytes: a 72-byte block");
        assert_eq!(class_of(layout(MAX_SMALL)), Some(CLASSES - 1));
        assert_eq!(class_of(layout(MAX_SMALL + 8)), None);
        assert_eq!(class_of(Layout::from_size_align(64, 16).unwrap()), None);
    }

    #[test]
    fn freed_blocks_are_reused_by_their_class_only() {
        let pools = PoolsHandle::new();
        let a = alloc(&pools, 48);
        let b = alloc(&pools, 48);
        let c = alloc(&pools, 100);
        assert_eq!(b.addr().get() - a.addr().get(), 48, "bumped in one chunk");
        assert_eq!(a.addr().get() % GRANULE, 0);
        // SAFETY: `b` came from these pools for this layout, and is not used again.
        unsafe { free(b, 48) };
        let d = alloc(&pools, 100);
        assert_ne!(d, b, "another class does not take it");
        assert_eq!(alloc(&pools, 44), b, "the same class (48 bytes) does");
        assert_eq!(pools.pools().live.get(), 4);
        for (p, size) in [(a, 48), (b, 44), (c, 100), (d, 100)] {
            // SAFETY: each came from these pools with this layout's class, freed once.
            unsafe { free(p, size) };
        }
        assert_eq!(pools.pools().live.get(), 0);
        // `d`'s class (100 -> 104 bytes) took `d` back last: its list's head.
        let class = class_of(layout(100)).unwrap();
        assert_eq!(pools.pools().free[class].get().map(NonNull::cast), Some(d));
    }

    #[test]
    fn pools_outlive_their_heap_until_the_last_block_is_freed() {
        let pools = PoolsHandle::new();
        // Enough blocks for several chunks.
        let per_chunk = (CHUNK - HEADER) / MAX_SMALL;
        let n = if cfg!(miri) {
            per_chunk + 10
        } else {
            3 * per_chunk
        };
        let blocks: Vec<_> = (0..n).map(|_| alloc(&pools, MAX_SMALL)).collect();
        let mut chunks = 0;
        let mut c = pools.pools().chunks.get();
        while let Some(h) = c {
            chunks += 1;
            // SAFETY: a chunk header of live pools.
            c = unsafe { h.as_ref() }.next;
        }
        assert_eq!(chunks, n.div_ceil(per_chunk));
        let big = alloc(&pools, MAX_SMALL + 1);
        // The heap lets go; the blocks keep the pools alive.
        drop(pools);
        // SAFETY: from the global allocator branch of `alloc` for this layout.
        unsafe { free(big, MAX_SMALL + 1) };
        for b in blocks {
            // The last block destroys the pools (Miri's leak check sees it).
            // SAFETY: each block came from the pools with this layout, freed once.
            unsafe { free(b, MAX_SMALL) };
        }
    }
}
