// `#[traverse(finalize)]` calls the type's `Finalize` impl, which must exist: the error points
// at the word `finalize`.
use gc_core::Traverse;

#[derive(Traverse)]
#[traverse(finalize)]
struct NoFinalizeImpl {
    name: String,
}

fn main() {}
