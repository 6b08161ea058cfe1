//! The only place that names the synchronisation primitives: loom's under
//! `--cfg loom` (so the models explore every interleaving), std's otherwise.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread::ThreadId;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread::ThreadId;

/// The calling thread's lock token: a nonzero number that no other live thread
/// has, the same for the thread's whole life (its thread-local destructors
/// included). Heap locks record their owner by token: comparing and swapping one
/// word is all an uncontended acquisition costs.
///
/// Inline, with the first call's registration out of line: every handle operation
/// of a thread-safe heap asks for the token, and with `new_token` inlined the
/// function saved and restored six registers on every call (38% of the samples
/// of a loop of `read()`s under a held lock, `perf`).
#[cfg(not(loom))]
#[inline]
pub(crate) fn current_token() -> usize {
    match TOKEN.with(core::cell::Cell::get) {
        0 => first_token(),
        token => token,
    }
}

#[cfg(not(loom))]
std::thread_local! {
    // `const` and without a destructor: readable while other thread-locals of the
    // thread are being destroyed (which may drop handles and take locks).
    static TOKEN: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// The calling thread's first call of [`current_token`]: gives it its token.
#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn first_token() -> usize {
    let token = new_token();
    TOKEN.with(|t| t.set(token));
    token
}

#[cfg(loom)]
pub(crate) fn current_token() -> usize {
    loom::thread_local! {
        static TOKEN: usize = new_token();
    }
    TOKEN.with(|t| *t)
}

/// Tokens are never reused (a 64-bit counter does not wrap).
static NEXT_TOKEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// The thread of each live token, for diagnostics (`holder_of`).
static REGISTRY: std::sync::Mutex<Option<hashbrown::HashMap<usize, ThreadId>>> =
    std::sync::Mutex::new(None);

fn registry() -> std::sync::MutexGuard<'static, Option<hashbrown::HashMap<usize, ThreadId>>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh token for the calling thread, registered with its thread id until the
/// thread's thread-locals are destroyed.
fn new_token() -> usize {
    let token = NEXT_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(loom))]
    {
        /// Removes the thread's registry entry when the thread exits.
        struct Registration(usize);
        impl Drop for Registration {
            fn drop(&mut self) {
                if let Some(map) = registry().as_mut() {
                    map.remove(&self.0);
                }
            }
        }
        std::thread_local! {
            static REGISTRATION: core::cell::RefCell<Option<Registration>> =
                const { core::cell::RefCell::new(None) };
        }
        // While the thread's thread-locals are being destroyed it cannot register
        // (it could not unregister): the token still works, `holder_of` just cannot
        // name the thread.
        if REGISTRATION
            .try_with(|r| *r.borrow_mut() = Some(Registration(token)))
            .is_ok()
        {
            registry()
                .get_or_insert_with(Default::default)
                .insert(token, std::thread::current().id());
        }
    }
    #[cfg(loom)]
    registry()
        .get_or_insert_with(Default::default)
        .insert(token, loom::thread::current().id());
    token
}

/// The thread whose token is `token`, if it is registered.
pub(crate) fn holder_of(token: usize) -> Option<ThreadId> {
    registry().as_ref()?.get(&token).copied()
}

/// Locks `m`, ignoring poisoning: the data the locks protect here (a queue of
/// pointers, a grace period, nothing for the sleepers' lock) is always consistent
/// between statements, and a panic in user code never happens while one of these
/// locks is held.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
