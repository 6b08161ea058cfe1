// Malformed `#[traverse]` attributes: each is an error at the attribute that lists the
// accepted forms (or the one form the key takes).
use gc_core::Traverse;

#[derive(Traverse)]
struct Misspelled {
    #[traverse(skipp)]
    a: u32,
}

#[derive(Traverse)]
#[traverse(bound = 3)]
struct BoundNotString<T> {
    t: T,
}

#[derive(Traverse)]
#[traverse]
struct Bare {
    a: u32,
}

#[derive(Traverse)]
#[traverse(bound = "T Traverse")]
struct BoundNotPredicates<T> {
    t: T,
}

#[derive(Traverse)]
#[traverse(leaf = true)]
struct LeafTrue {
    a: u32,
}

#[derive(Traverse)]
#[traverse(leaf = "no", finalize, finalize)]
struct LeafNotBoolAndDuplicate {
    a: u32,
}

#[derive(Traverse)]
struct FieldForms {
    #[traverse(skip = true)]
    a: u32,
    #[traverse = "skip"]
    b: u32,
    #[traverse(skip, skip)]
    c: u32,
    #[traverse(skip(all))]
    d: u32,
}

fn main() {}
