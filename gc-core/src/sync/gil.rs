//! The heap lock of the thread-safe flavour: re-entrant, held by mutator guards and
//! by the collector, with deferred drops and a bounded wait for shutdown.

use core::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::primitive::{
    current_thread_id, lock, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, ThreadId,
};
use crate::raw::ObjPtr;

/// How many times `acquire` spins (with exponential backoff, up to 64 pause
/// instructions a round) before it sleeps until the lock is released.
const SPINS: u32 = 16;

/// A reference whose release was deferred because another thread held the lock.
pub(crate) enum Pending {
    Strong(ObjPtr),
    Weak(ObjPtr),
}

// SAFETY: a `Pending` is only created by a thread that owns the reference it stands
// for, and only acted on by the lock's owner (`Gil::drain`), which has exclusive
// access to every object of the heap.
unsafe impl Send for Pending {}

struct State {
    /// The thread that holds the lock, if any.
    owner: Option<ThreadId>,
    /// How many times the owner has acquired it (re-entrancy).
    depth: usize,
    /// Threads blocked in `acquire_until`. A release notifies only if there are any:
    /// a notification costs a system call, and most releases have nobody to wake.
    /// Both sides read and write it under the mutex, so no wake-up is lost.
    waiters: usize,
}

/// The lock, the references waiting for it, and the unsynchronised heap it guards.
///
/// Invariant: `heap`, and every object of it (headers, values, lists, counts), is
/// accessed only by the thread recorded as `owner`, between the acquisition and the
/// release of the lock. The mutex inside `state` orders one owner's accesses before
/// the next owner's.
pub(crate) struct Gil {
    state: Mutex<State>,
    released: Condvar,
    pending: Mutex<Vec<Pending>>,
    /// `pending.len()`, updated under `pending`'s mutex and read without it: lets a
    /// release skip that mutex when nothing was deferred (the common case). A stale
    /// zero is harmless: see the re-check in `release`.
    pending_len: AtomicUsize,
    heap: UnsafeCell<crate::Heap>,
}

// SAFETY: the unsynchronised heap and its objects are touched only by the lock's
// owner (the invariant above); everything else is behind mutexes. Values stored in a
// thread-safe heap are `Send` (enforced by `sync::Heap::alloc`), and are dropped on
// whichever thread holds the lock.
unsafe impl Send for Gil {}
// SAFETY: as above: shared access from several threads goes through the lock.
unsafe impl Sync for Gil {}

impl Gil {
    pub(crate) fn new(heap: crate::Heap) -> Gil {
        Gil {
            state: Mutex::new(State {
                owner: None,
                depth: 0,
                waiters: 0,
            }),
            released: Condvar::new(),
            pending: Mutex::new(Vec::new()),
            pending_len: AtomicUsize::new(0),
            heap: UnsafeCell::new(heap),
        }
    }

    /// An identifier of this lock (and heap), stable while it lives.
    pub(crate) fn tag(&self) -> usize {
        (self as *const Gil).addr()
    }

    /// Acquires the lock, waiting as long as it takes (re-entrant).
    pub(crate) fn acquire(&self) -> GilGuard<'_> {
        self.acquire_until(None)
            .unwrap_or_else(|_| unreachable!("no deadline"))
    }

    /// Acquires the lock if it is free or already ours.
    pub(crate) fn try_acquire(&self) -> Option<GilGuard<'_>> {
        let me = current_thread_id();
        let mut s = lock(&self.state);
        match s.owner {
            Some(o) if o == me => {}
            Some(_) => return None,
            None => s.owner = Some(me),
        }
        s.depth += 1;
        Some(GilGuard { gil: self })
    }

    /// Acquires the lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// The thread that still held it when the time ran out.
    pub(crate) fn acquire_timeout(&self, timeout: Duration) -> Result<GilGuard<'_>, ThreadId> {
        self.acquire_until(Some(Instant::now() + timeout))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<GilGuard<'_>, ThreadId> {
        let me = current_thread_id();
        let mut s = lock(&self.state);
        let mut spins = 0;
        loop {
            match s.owner {
                Some(o) if o == me => break,
                None => {
                    s.owner = Some(me);
                    break;
                }
                Some(_) if spins < SPINS && !cfg!(loom) => {
                    // The lock is mostly held for one handle operation: spinning a
                    // little (with backoff) is far cheaper than sleeping on the
                    // condition variable and being woken by a system call.
                    drop(s);
                    for _ in 0..1u32 << spins.min(6) {
                        std::hint::spin_loop();
                    }
                    spins += 1;
                    s = lock(&self.state);
                }
                Some(other) => {
                    let timeout = match deadline {
                        None => None,
                        Some(d) => {
                            let now = Instant::now();
                            if now >= d {
                                return Err(other);
                            }
                            Some(d - now)
                        }
                    };
                    s.waiters += 1;
                    s = match timeout {
                        None => self.released.wait(s).unwrap_or_else(|p| p.into_inner()),
                        Some(t) => match self.released.wait_timeout(s, t) {
                            Ok((g, _)) => g,
                            Err(p) => p.into_inner().0,
                        },
                    };
                    s.waiters -= 1;
                }
            }
        }
        s.depth += 1;
        Ok(GilGuard { gil: self })
    }

    /// Queues the release of a reference for the lock's owner, then makes sure that
    /// somebody drains it: if the lock is free by now, this thread does.
    pub(crate) fn defer(&self, p: Pending) {
        {
            let mut q = lock(&self.pending);
            q.push(p);
            self.pending_len.store(q.len(), Ordering::SeqCst);
        }
        if broken_ordering() {
            return;
        }
        // If the owner released the lock before seeing our entry, it is free now (or
        // taken by a thread that will drain when it releases).
        drop(self.try_acquire());
    }

    /// Releases the deferred references (as the owner).
    fn drain(&self) {
        loop {
            if self.pending_len.load(Ordering::SeqCst) == 0 {
                break;
            }
            let next = {
                let mut q = lock(&self.pending);
                let next = q.pop();
                self.pending_len.store(q.len(), Ordering::SeqCst);
                next
            };
            match next {
                Some(Pending::Strong(obj)) => obj.release_strong(),
                Some(Pending::Weak(obj)) => obj.release_weak(),
                None => break,
            }
        }
    }

    fn release(&self) {
        let mut s = lock(&self.state);
        debug_assert!(s.depth > 0 && s.owner == Some(current_thread_id()));
        if s.depth > 1 {
            s.depth -= 1;
            return;
        }
        if self.pending_len.load(Ordering::SeqCst) == 0 {
            // Nothing deferred (the common case): release in this critical section.
            if !self.unlock_then_recheck(s) {
                return;
            }
        } else {
            drop(s);
        }
        // Still the owner (depth 1): release what other threads deferred. A panic in
        // a `Drop` run here must not leave the lock held forever: it is caught, the
        // lock released, and the panic resumed afterwards.
        let mut panic = None;
        loop {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.drain())) {
                panic.get_or_insert(p);
            }
            if !self.unlock_then_recheck(lock(&self.state)) {
                break;
            }
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

    /// Gives up the lock (held at depth 1, its state locked as `s`) and wakes a
    /// waiter if there is one. Then re-checks the deferred queue: an entry pushed
    /// while we still owned the lock would be stranded, since its pusher's
    /// `try_acquire` failed. Returns `true` if there is one and this thread took the
    /// lock back (depth 1) to drain it.
    fn unlock_then_recheck(&self, mut s: MutexGuard<'_, State>) -> bool {
        s.depth = 0;
        s.owner = None;
        let wake = s.waiters > 0;
        drop(s);
        if wake {
            self.released.notify_one();
        }
        if broken_ordering() || self.pending_len.load(Ordering::SeqCst) == 0 {
            return false;
        }
        match self.try_acquire() {
            Some(g) => {
                // Re-acquired (depth 1); the caller drains and releases, without
                // recursing through `Drop`.
                core::mem::forget(g);
                true
            }
            None => false,
        }
    }

    /// The thread currently holding the lock.
    pub(crate) fn holder(&self) -> Option<ThreadId> {
        lock(&self.state).owner
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
    fn drop(&mut self) {
        self.gil.release();
    }
}

#[cfg(loom)]
std::thread_local! {
    static BROKEN: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Loom models only: makes `defer` and `release` skip their re-checks on this OS
/// thread (where loom runs a model), which strands deferred releases;
/// `tests/tests/loom.rs` shows loom finding it.
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
