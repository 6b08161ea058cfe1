//! CPython's `gc` module for gc-core heaps (work in progress).
#![forbid(unsafe_code)]
