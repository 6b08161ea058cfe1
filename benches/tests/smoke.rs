//! Every workload for every crate at a tiny size. The workloads assert their drop
//! counts themselves (0 after building, every node at the end), so a passing run
//! means each benchmark does real work and frees every node exactly once.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use benches::{entry, rc, Entry, Workload, CRATES};

/// Tests check behaviour, not stack use: debug frames are large, so every workload
/// gets a stack far beyond what its tiny size needs (the benches use 2 MiB / 8 MiB,
/// and probe for overflows in a child process).
const TEST_STACK: usize = 256 << 20;

fn run_all(id: &str) {
    let e = entry(id).unwrap_or_else(|| panic!("no crate {id:?}"));
    for w in Workload::ALL {
        let size = w.test_size();
        let start = Instant::now();
        let phases = e.run_on_thread(w, size, TEST_STACK);
        assert_eq!(
            phases.len(),
            w.phases().len(),
            "{id} / {}: phase count",
            w.name()
        );
        eprintln!(
            "{id:>16} {:<18} size {size:>6}: ok in {:?} (timed {:?})",
            w.name(),
            start.elapsed(),
            phases
        );
    }
}

#[test]
fn gc_core() {
    run_all("gc-core");
}

#[test]
fn rc() {
    run_all("Rc");
}

#[test]
fn gcmodule() {
    run_all("gcmodule");
}

#[test]
fn dumpster() {
    run_all("dumpster");
}

#[test]
fn rust_cc() {
    run_all("rust-cc");
}

#[test]
fn bacon_rajan_cc() {
    run_all("bacon_rajan_cc");
}

#[test]
fn rust_gc() {
    run_all("rust-gc");
}

#[test]
fn every_crate_has_a_smoke_test() {
    let ids: Vec<&str> = CRATES.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        [
            "gc-core",
            "Rc",
            "gcmodule",
            "dumpster",
            "rust-cc",
            "bacon_rajan_cc",
            "rust-gc"
        ]
    );
}

/// The control of `peer-benchmarks.md`: `Rc` without its manual cycle break must
/// fail every cyclic workload's drop check (W3–W8) and pass the acyclic ones (W1,
/// W2). This shows the counters catch leaked cycles.
#[test]
fn leaked_cycles_are_detected() {
    let leaky = Entry::of::<rc::RcLeaky>();
    for w in Workload::ALL {
        let result = catch_unwind(AssertUnwindSafe(|| {
            leaky.run_on_thread(w, w.test_size().min(1_000), TEST_STACK)
        }));
        let cyclic = !matches!(w, Workload::W1AcyclicChurn | Workload::W2ChainDrop);
        assert_eq!(
            result.is_err(),
            cyclic,
            "{}: Rc without the cycle break should {}",
            w.name(),
            if cyclic {
                "fail its drop check"
            } else {
                "pass"
            }
        );
    }
}

#[test]
fn random_graph_matches_the_reference() {
    // peer-benchmarks.md: about 98% of the 200,000 nodes are reachable from the roots.
    let (edges, roots) = benches::random_graph(200_000);
    assert_eq!(roots.len(), 10);
    let live = benches::reachable(&edges, &roots);
    let fraction = live.iter().filter(|&&r| r).count() as f64 / 200_000.0;
    assert!(
        (0.97..0.99).contains(&fraction),
        "reachable fraction {fraction}"
    );
}

#[test]
fn xorshift64_is_marsaglias() {
    let mut rng = benches::XorShift64::new(1);
    // x = 1: x ^= x << 13; x ^= x >> 7; x ^= x << 17.
    let mut x: u64 = 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    assert_eq!(rng.next(), x);
}

#[test]
fn object_counts_match_the_reference() {
    assert_eq!(Workload::W6BinaryTrees.objects(14), 3_222_190);
    assert_eq!(Workload::W8YoungInOld.objects(1_000_000), 100_000);
    assert_eq!(Workload::W3SmallCycles.objects(200_000), 200_000);
    for w in Workload::ALL {
        assert!(w.objects(w.quick_size()) > 0, "{}", w.name());
        assert!(
            w.objects(w.test_size()) < w.objects(w.default_size()),
            "{}",
            w.name()
        );
    }
}
