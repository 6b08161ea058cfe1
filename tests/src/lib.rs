//! Shared support for the integration tests: drop logs (the oracle: every object's
//! token is dropped exactly once, at the right step) and a small graph node type.

use gc_core::{Gc, Heap, Traverse, Visitor};
use std::cell::RefCell;
use std::rc::Rc;

/// Records which tokens were dropped, in order.
#[derive(Clone, Default)]
pub struct DropLog {
    drops: Rc<RefCell<Vec<usize>>>,
}

impl DropLog {
    /// A new, empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token that records `id` here when dropped.
    pub fn token(&self, id: usize) -> Token {
        Token {
            log: self.clone(),
            id,
        }
    }

    /// Number of drops so far.
    pub fn count(&self) -> usize {
        self.drops.borrow().len()
    }

    /// Whether `id` was dropped.
    pub fn dropped(&self, id: usize) -> bool {
        self.drops.borrow().contains(&id)
    }

    /// The ids dropped, in order.
    pub fn ids(&self) -> Vec<usize> {
        self.drops.borrow().clone()
    }

    /// Panics if any id was dropped twice.
    pub fn assert_no_double_drop(&self) {
        let mut ids = self.ids();
        ids.sort_unstable();
        for w in ids.windows(2) {
            assert_ne!(w[0], w[1], "token {} dropped twice", w[0]);
        }
    }
}

/// Records its id in a [`DropLog`] when dropped.
pub struct Token {
    log: DropLog,
    id: usize,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.log.drops.borrow_mut().push(self.id);
    }
}

// SAFETY: a token owns no handle.
unsafe impl Traverse for Token {
    const IS_LEAF: bool = true;
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

/// A graph node: an id, outgoing edges, and a drop token.
#[derive(Traverse)]
pub struct Node {
    /// The node's id (also its token's id).
    pub id: usize,
    /// Outgoing edges.
    pub edges: RefCell<Vec<Gc<Node>>>,
    token: Token,
}

impl Node {
    /// Allocates a node in `heap` with a token logged in `log`.
    pub fn new(heap: &Heap, log: &DropLog, id: usize) -> Gc<Node> {
        heap.alloc(Node {
            id,
            edges: RefCell::new(Vec::new()),
            token: log.token(id),
        })
    }

    /// Adds the edge `self -> to`.
    pub fn link(&self, to: &Gc<Node>) {
        self.edges.borrow_mut().push(to.clone());
    }

    /// Removes every edge.
    pub fn unlink_all(&self) {
        let taken = std::mem::take(&mut *self.edges.borrow_mut());
        drop(taken);
    }
}

/// A xorshift64 generator: deterministic pseudo-random numbers for test graphs.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Scales a size down under Miri.
pub const fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        if n < 64 {
            n
        } else {
            64
        }
    } else {
        n
    }
}

pub mod ops;
