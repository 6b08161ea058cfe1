// Attributes in the wrong place: `skip` goes on fields and variants, the rest on the type.
use gc_core::Traverse;

#[derive(Traverse)]
#[traverse(skip)]
struct SkipOnType {
    a: u32,
}

#[derive(Traverse)]
struct TypeAttrsOnFields {
    #[traverse(finalize)]
    a: u32,
    #[traverse(bound = "T: Traverse")]
    b: u32,
    #[traverse(leaf = false)]
    c: u32,
}

#[derive(Traverse)]
enum TypeAttrsOnVariant {
    #[traverse(leaf = false)]
    A(u32),
}

fn main() {}
