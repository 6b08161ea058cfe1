//! Decodes the input into a sequence of `gc_tests::ops::Op` and runs it through the
//! same interpreter and model as `tests/tests/proptest_ops.rs`. A failed check panics
//! (a crash for libFuzzer); `cargo +nightly fuzz fmt ops <artifact>` prints the ops
//! to paste into a regression test there.
#![no_main]

use gc_tests::ops::{quiet_expected_panics, run, Config, Op};
use libfuzzer_sys::fuzz_target;

/// Longer programs find nothing new and slow every execution down.
const MAX_OPS: usize = 96;

fuzz_target!(
    init: {
        // After libFuzzer's hook (which aborts on any panic): the deliberate panics of
        // user code, caught by the interpreter, must not count as crashes.
        quiet_expected_panics();
    },
    |ops: Vec<Op>| {
        let ops = &ops[..ops.len().min(MAX_OPS)];
        // Leaks are off: a cycle of orphans is a documented leak that LeakSanitizer
        // would report; such shutdowns are skipped.
        let cfg = Config { avoid_known_bugs: true, allow_leaks: false };
        if let Err(e) = run(ops, cfg) {
            panic!("{e}");
        }
    }
);
