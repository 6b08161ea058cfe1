// Unions are rejected at the `union` keyword: which field is active is unknown.
use gc_core::Traverse;

#[derive(Traverse)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
