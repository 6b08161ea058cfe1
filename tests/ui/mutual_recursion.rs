// Mutually recursive types: the derive breaks only direct recursion, so `A::IS_LEAF` needs
// `B::IS_LEAF`, which needs `A::IS_LEAF`, and the compiler reports a cycle when `IS_LEAF` is
// first evaluated (here by `Gc::new`). The fix, documented in gc-derive's crate docs, is
// `#[traverse(leaf = false)]` on one of the types (see `tests/derive.rs`, `Forest`).
use gc_core::Traverse;

#[derive(Traverse)]
struct A {
    b: Option<Box<B>>,
}

#[derive(Traverse)]
struct B {
    a: Vec<A>,
}

fn main() {
    let _ = gc_core::Gc::new(A { b: None });
}
