//! Error types.

use core::fmt;

use gc_core::GENERATIONS;

/// A generation argument outside `0..=2` (CPython raises `ValueError`).
///
/// # Examples
///
/// ```
/// use gc_core::Heap;
/// use gc_debug::get_objects;
///
/// let err = get_objects(&Heap::new(), Some(3)).unwrap_err();
/// assert_eq!(err.generation(), 3);
/// assert_eq!(err.to_string(), "invalid generation 3: expected 0, 1 or 2");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct InvalidGeneration {
    generation: usize,
}

impl InvalidGeneration {
    /// Checks `generation`; gives it back inside the error if it is out of range.
    pub(crate) fn check(generation: usize) -> Result<usize, InvalidGeneration> {
        if generation < GENERATIONS {
            Ok(generation)
        } else {
            Err(InvalidGeneration { generation })
        }
    }

    /// The generation that was asked for.
    pub fn generation(&self) -> usize {
        self.generation
    }
}

impl fmt::Display for InvalidGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid generation {}: expected 0, 1 or 2",
            self.generation
        )
    }
}

impl std::error::Error for InvalidGeneration {}
