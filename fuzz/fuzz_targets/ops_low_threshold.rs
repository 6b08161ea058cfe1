//! Like `ops`, but both heaps start with generation-0 thresholds of 1 to 4 (from the
//! first input byte), so that nearly every allocation (of a node, a weak-reference
//! object, or one made by a finalizer or callback) runs an automatic collection in
//! the middle of an op. Crashes replay as proptest cases the same way: the printed
//! `Debug` of the input is a `LowThreshold { t0, ops }`; replay `ops` preceded by
//! `SetThreshold { second: false, t0, t1: 0, t2: 0 }` and the same for `second: true`.
#![no_main]

use arbitrary::Arbitrary;
use gc_tests::ops::{quiet_expected_panics, run, Config, Op};
use libfuzzer_sys::fuzz_target;

const MAX_OPS: usize = 96;

#[derive(Arbitrary, Debug)]
struct LowThreshold {
    /// Index into `T0_CHOICES` (modulo 4, past the 0 that disables collection).
    t0: u8,
    ops: Vec<Op>,
}

fuzz_target!(
    init: {
        quiet_expected_panics();
    },
    |input: LowThreshold| {
        let t0 = 1 + input.t0 % 4;
        let mut ops = vec![
            Op::SetThreshold { second: false, t0, t1: 0, t2: 0 },
            Op::SetThreshold { second: true, t0, t1: 0, t2: 0 },
        ];
        ops.extend(input.ops.iter().copied().take(MAX_OPS));
        let cfg = Config { avoid_known_bugs: true, allow_leaks: false };
        if let Err(e) = run(&ops, cfg) {
            panic!("{e}");
        }
    }
);
