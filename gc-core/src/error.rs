//! Error types.

use core::fmt;

/// Why a [`Gc`](crate::Gc) handle could not be dereferenced.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DerefError {
    /// The collector destroyed the value: the handle was held by garbage (for
    /// example, read from a `Drop` impl of another member of the same dead cycle).
    Destroyed {
        /// The value's type name.
        type_name: &'static str,
    },
    /// The object's heap has been shut down.
    HeapShutDown {
        /// The value's type name.
        type_name: &'static str,
    },
}

impl DerefError {
    pub(crate) fn for_flags(flags: u32, type_name: &'static str) -> DerefError {
        if flags & crate::raw::ORPHAN != 0 {
            DerefError::HeapShutDown { type_name }
        } else {
            DerefError::Destroyed { type_name }
        }
    }
}

impl fmt::Display for DerefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DerefError::Destroyed { type_name } => write!(
                f,
                "dereferenced a dead Gc<{type_name}>: the collector has destroyed this object \
                 (the handle was held by garbage, e.g. read in a Drop impl of another member of its cycle)"
            ),
            DerefError::HeapShutDown { type_name } => write!(
                f,
                "dereferenced a dead Gc<{type_name}>: its heap has been shut down"
            ),
        }
    }
}

impl std::error::Error for DerefError {}

/// Allocation failed because the heap has been shut down; gives the value back.
pub struct AllocError<T> {
    value: T,
}

impl<T> AllocError<T> {
    pub(crate) fn new(value: T) -> Self {
        AllocError { value }
    }

    /// The value that could not be allocated.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> fmt::Debug for AllocError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllocError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for AllocError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot allocate a {} in a heap that has been shut down",
            core::any::type_name::<T>()
        )
    }
}

impl<T> std::error::Error for AllocError<T> {}
