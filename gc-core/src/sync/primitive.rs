//! The only place that names the synchronisation primitives: loom's under
//! `--cfg loom` (so the models explore every interleaving), std's otherwise.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread::{current as current_thread, ThreadId};

#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread::{current as current_thread, ThreadId};

/// Locks `m`, ignoring poisoning: the data the lock protects here (an owner id, a
/// depth, a queue of pointers) is always consistent between statements, and a panic in
/// user code never happens while one of these locks is held.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
