//! The heap lock of the thread-safe flavour: re-entrant, held by mutator guards and
//! by the collector, with deferred drops and a bounded wait for shutdown.

use core::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::primitive::{
    current_token, holder_of, lock, AtomicUsize, Condvar, Mutex, Ordering, ThreadId,
};
use crate::raw::ObjPtr;

/// How many rounds `acquire` spins before it sleeps until the lock is released. Round
/// `k` waits `2^min(k, BACKOFF_CAP)` pause instructions, then looks at the lock: the
/// wait overshoots a release by at most as long as it has already waited, and by at
/// most one capped round (4,096 pauses; ~57 us at the 14 ns a pause takes on the
/// machine of `benches/README.md`); all rounds together are 20,479 pauses (~0.3 ms
/// there). A bounded wait (`acquire_timeout`, shutdown's grace period) stops
/// spinning at its deadline.
///
/// Why this long: a thread that looks at the lock often makes the owner wait for the
/// lock word, and takes the lock in the owner's short gaps between operations, so the
/// heap's working set moves between cores with every hand-off. W9 with 2 threads (1M
/// operations, 8 alternating runs of each setting in one session): a cap of 64 pauses
/// a round took 363 ms (median), 4,096 pauses 221 ms; with 8 threads on the 2 cores,
/// 392 and 333 ms. Longer spinning before sleeping helped 2 threads no further and
/// cost 8 threads (20 rounds: 217 / 390 ms; 24: 234 / 432 ms), whose spinners take the
/// cores the owner needs.
const SPINS: u32 = 16;

/// The most pause instructions of one round of `acquire`'s spinning (as a power of 2):
/// see [`SPINS`].
const BACKOFF_CAP: u32 = 12;

/// A reference whose release was deferred because another thread held the lock.
pub(crate) enum Pending {
    Strong(ObjPtr),
    Weak(ObjPtr),
}

// SAFETY: a `Pending` is only created by a thread that owns the reference it stands
// for, and only acted on by the lock's owner (`Gil::drain`), which has exclusive
// access to every object of the heap.
unsafe impl Send for Pending {}

/// `Gil::state`: the owner's token in the low bits (0: free), and two flags.
const TOKEN_MASK: usize = usize::MAX >> 2;
/// Some thread sleeps (or is about to) until the lock is released: the release must
/// wake the sleepers.
const PARKED: usize = 1 << (usize::BITS - 1);
/// Releases were deferred to the owner (`Gil::defer`): the release must drain them.
const DEFERRED: usize = 1 << (usize::BITS - 2);

/// The lock, the references waiting for it, and the unsynchronised heap it guards.
///
/// Invariant: `heap`, and every object of it (headers, values, lists, counts), is
/// accessed only by the thread whose token is in `state`, between the acquisition and
/// the release of the lock. Acquisition is a compare-and-swap of `state` (acquire)
/// and release one back to no owner (release): each owner's accesses happen before
/// the next owner's.
///
/// Every hand-off between threads is a read-modify-write of the one `state` word
/// (taking or releasing the lock, setting `PARKED` or `DEFERRED`), so the threads
/// always agree on its order: a release that does not see a flag happened before
/// the flag was set, and whoever set the flag then sees the lock free.
pub(crate) struct Gil {
    /// Owner token | `PARKED` | `DEFERRED`.
    state: AtomicUsize,
    /// How many times the owner has acquired the lock (re-entrancy). Read and written
    /// only by the owner; set to 1 by each new owner.
    depth: AtomicUsize,
    /// Held by a sleeper from setting `PARKED` until it waits, and by a release that
    /// wakes sleepers, so no wake-up falls in between.
    sleep: Mutex<()>,
    released: Condvar,
    pending: Mutex<Vec<Pending>>,
    heap: UnsafeCell<crate::Heap>,
}

// SAFETY: the unsynchronised heap and its objects are touched only by the lock's
// owner (the invariant above); everything else is atomic or behind mutexes. Values,
// exit hooks and callbacks stored in a thread-safe heap are `Send` (enforced by
// `sync::Heap`'s `alloc`, `at_exit` and `add_*_callback`), and are run or dropped on
// whichever thread holds the lock (or drops the last reference to it).
unsafe impl Send for Gil {}
// SAFETY: as above: shared access from several threads goes through the lock.
unsafe impl Sync for Gil {}

impl Gil {
    pub(crate) fn new(heap: crate::Heap) -> Gil {
        Gil {
            state: AtomicUsize::new(0),
            depth: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            released: Condvar::new(),
            pending: Mutex::new(Vec::new()),
            heap: UnsafeCell::new(heap),
        }
    }

    /// An identifier of this lock (and heap), stable while it lives.
    pub(crate) fn tag(&self) -> usize {
        (self as *const Gil).addr()
    }

    /// Acquires the lock, waiting as long as it takes (re-entrant). The free or
    /// re-entered lock is taken inline; waiting is out of line.
    #[inline]
    pub(crate) fn acquire(&self) -> GilGuard<'_> {
        match self.enter(current_token()) {
            Some(g) => g,
            None => self.acquire_contended(),
        }
    }

    /// [`acquire`](Gil::acquire) once the lock was found held by another thread.
    #[cold]
    #[inline(never)]
    fn acquire_contended(&self) -> GilGuard<'_> {
        self.acquire_until(None)
            .unwrap_or_else(|_| unreachable!("no deadline"))
    }

    /// Acquires the lock if it is free or already ours.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Option<GilGuard<'_>> {
        self.enter(current_token())
    }

    /// Takes the lock for the thread with token `me` if it is free, or counts one more
    /// acquisition if `me` holds it.
    #[inline]
    fn enter(&self, me: usize) -> Option<GilGuard<'_>> {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & TOKEN_MASK == me {
                // Only this thread puts `me` there: the lock, and `depth`, are ours.
                let depth = self.depth.load(Ordering::Relaxed);
                self.depth.store(depth + 1, Ordering::Relaxed);
                return Some(GilGuard { gil: self });
            }
            if s & TOKEN_MASK != 0 {
                return None;
            }
            match self
                .state
                .compare_exchange(s, s | me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.depth.store(1, Ordering::Relaxed);
                    return Some(GilGuard { gil: self });
                }
                // A flag was set, or another thread took the lock: look again.
                Err(now) => s = now,
            }
        }
    }

    /// Acquires the lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// The thread that still held it when the time ran out (`None` if it cannot be
    /// named: it is exiting).
    pub(crate) fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<GilGuard<'_>, Option<ThreadId>> {
        self.acquire_until(Some(Instant::now() + timeout))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<GilGuard<'_>, Option<ThreadId>> {
        let me = current_token();
        if let Some(g) = self.enter(me) {
            return Ok(g);
        }
        if !cfg!(loom) {
            // The lock is mostly held for one handle operation: spinning (with
            // backoff, see `SPINS`) is far cheaper than sleeping on the condition
            // variable and being woken by a system call.
            for spins in 0..SPINS {
                for _ in 0..1u32 << spins.min(BACKOFF_CAP) {
                    std::hint::spin_loop();
                }
                if let Some(g) = self.enter(me) {
                    return Ok(g);
                }
                // A bounded wait (shutdown's grace period) may end while spinning.
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
            }
        }
        let mut sleep = lock(&self.sleep);
        loop {
            if let Some(g) = self.enter(me) {
                return Ok(g);
            }
            // Held by another thread: ask its release to wake us, unless it was just
            // released (then try again).
            let s = self.state.load(Ordering::Relaxed);
            if s & TOKEN_MASK == 0
                || self
                    .state
                    .compare_exchange(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        // `PARKED` may stay set: the next release then merely wakes
                        // nobody.
                        return Err(holder_of(s & TOKEN_MASK));
                    }
                    Some(d - now)
                }
            };
            sleep = match timeout {
                None => self.released.wait(sleep).unwrap_or_else(|p| p.into_inner()),
                Some(t) => match self.released.wait_timeout(sleep, t) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                },
            };
        }
    }

    /// Queues the release of a reference for the lock's owner, then makes sure that
    /// somebody drains it: if the lock is free by now, this thread does.
    pub(crate) fn defer(&self, p: Pending) {
        lock(&self.pending).push(p);
        if broken_ordering() {
            return;
        }
        // Set after the push: an owner that sees the flag sees the entry. If the lock
        // was held when the flag went up, its release drains; if it was free, we
        // take it and our own release drains (or whoever took it first does).
        let before = self.state.fetch_or(DEFERRED, Ordering::AcqRel);
        if before & TOKEN_MASK == 0 {
            drop(self.try_acquire());
        }
    }

    /// Releases the deferred references (as the owner).
    fn drain(&self) {
        loop {
            let next = lock(&self.pending).pop();
            match next {
                Some(Pending::Strong(obj)) => obj.release_strong(),
                Some(Pending::Weak(obj)) => obj.release_weak(),
                None => break,
            }
        }
    }

    /// Releases one acquisition. Inline: a re-entered lock's counter, and the free
    /// of a lock that no other thread waits for or deferred a release to (one
    /// compare-and-swap, the first round of [`release_last`](Gil::release_last)'s
    /// loop); the rest out of line.
    #[inline]
    fn release(&self) {
        debug_assert_eq!(
            self.state.load(Ordering::Relaxed) & TOKEN_MASK,
            current_token()
        );
        let depth = self.depth.load(Ordering::Relaxed);
        debug_assert!(depth > 0);
        if depth > 1 {
            self.depth.store(depth - 1, Ordering::Relaxed);
            return;
        }
        let s = self.state.load(Ordering::Relaxed);
        if s & (DEFERRED | PARKED) == 0
            && self
                .state
                .compare_exchange(s, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        self.release_last();
    }

    /// Releases the last acquisition when a flag is set (or went up meanwhile):
    /// releases what other threads deferred, then the lock, then wakes the
    /// sleepers.
    #[cold]
    #[inline(never)]
    fn release_last(&self) {
        // `depth` is left as it is: the next owner sets it when it takes the lock (a
        // store after the release could overwrite the next owner's). A panic in a
        // `Drop` run while draining must not leave the lock held forever: it is
        // caught, the lock released, and the panic resumed afterwards.
        let mut panic = None;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & DEFERRED != 0 && !broken_ordering() {
                // Take the flag, then everything queued before it was set.
                self.state.fetch_and(!DEFERRED, Ordering::Acquire);
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.drain())) {
                    panic.get_or_insert(p);
                }
                continue;
            }
            if self
                .state
                .compare_exchange(s, 0, Ordering::Release, Ordering::Relaxed)
                .is_err()
            {
                // A flag went up meanwhile.
                continue;
            }
            if s & PARKED != 0 {
                // Under `sleep`: every thread that set `PARKED` is waiting by now.
                // All of them, since one that timed out meanwhile would swallow a
                // single notification.
                let _sleep = lock(&self.sleep);
                self.released.notify_all();
            }
            break;
        }
        if let Some(p) = panic {
            if std::thread::panicking() {
                eprintln!(
                    "gc-core: a Drop run while releasing a heap lock panicked during unwinding"
                );
            } else {
                resume_unwind(p);
            }
        }
    }

    /// The thread currently holding the lock (`None` if it is free, or held by a
    /// thread that is exiting and can no longer be named).
    pub(crate) fn holder(&self) -> Option<ThreadId> {
        match self.state.load(Ordering::Relaxed) & TOKEN_MASK {
            0 => None,
            token => holder_of(token),
        }
    }
}

/// Proof that this thread holds the lock; releases it (once per acquisition) on drop.
pub(crate) struct GilGuard<'a> {
    gil: &'a Gil,
}

impl GilGuard<'_> {
    /// The heap, accessible because this thread holds the lock.
    pub(crate) fn heap(&self) -> &crate::Heap {
        // This thread owns the lock (the guard exists), so by the `Gil` invariant no
        // other thread accesses the heap until it is released; the reference does
        // not outlive the guard.
        // SAFETY: exclusive to this thread while the guard lives (see above).
        unsafe { &*self.gil.heap.get() }
    }
}

impl Drop for GilGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.gil.release();
    }
}

#[cfg(loom)]
std::thread_local! {
    static BROKEN: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Loom models only: on this OS thread (where loom runs a model), `defer` queues
/// without raising `DEFERRED` or trying the lock, and `release` ignores the flag,
/// which strands deferred releases; `tests/tests/loom.rs` shows loom finding it.
#[cfg(loom)]
pub fn break_deferred_release(on: bool) {
    BROKEN.with(|b| b.set(on));
}

#[inline]
fn broken_ordering() -> bool {
    #[cfg(loom)]
    {
        BROKEN.with(|b| b.get())
    }
    #[cfg(not(loom))]
    {
        false
    }
}
