// `#[repr(packed)]` fields cannot be borrowed, so they cannot be visited: rejected at `packed`.
use gc_core::Traverse;

#[derive(Traverse)]
#[repr(C, packed(2))]
struct Packed {
    a: u8,
    b: u32,
}

#[derive(Traverse)]
#[repr(packed)]
struct AlsoPacked(u64);

fn main() {}
