// A field whose type does not implement `Traverse`: the error points at that field's type,
// names the type, and says to implement `Traverse` or mark the field `#[traverse(skip)]`.
use gc_core::{Gc, Traverse};

struct Opaque;

#[derive(Traverse)]
struct Named {
    handle: Gc<u32>,
    opaque: Opaque,
}

#[derive(Traverse)]
struct Tuple(u32, Vec<Opaque>);

#[derive(Traverse)]
enum Enum {
    Fine { x: u32 },
    Inside(u8, Option<Opaque>),
}

// `bound` replaces the inferred `T: Traverse`; with nothing in its place, `T` is unbounded.
#[derive(Traverse)]
#[traverse(bound = "")]
struct TooWeak<T> {
    value: T,
}

fn main() {}
