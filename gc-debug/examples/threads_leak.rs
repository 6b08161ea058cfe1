//! Finds a leak in a heap shared by threads. Worker threads of a job queue link jobs
//! to the jobs they wait for; one hand-written `Traverse` forgets a field, so the
//! cycles through that field are never collected. With the workers gone,
//! `audit_sync` names the type, `why_alive_sync` shows what holds a leaked job, and
//! `Snapshot::take_sync` writes what is left as Graphviz DOT.
//!
//! ```sh
//! cargo run -p gc-debug --example threads_leak -- threads_leak.dot
//! dot -Tsvg threads_leak.dot -o threads_leak.svg
//! ```

use std::sync::Mutex;

use gc_core::sync::{Gc, Heap};
use gc_core::{Traverse, Visitor};
use gc_debug::{audit_sync, why_alive_sync, Snapshot};

/// A job: what it waits for (derived, reported) and who asked for it.
struct Job {
    id: usize,
    waits_for: Mutex<Vec<Gc<Job>>>,
    /// Written by hand below, and forgotten there.
    requested_by: Mutex<Option<Gc<Job>>>,
}

// SAFETY: reports fewer handles than `Job` owns (it forgets `requested_by`): always
// memory-safe, the jobs behind that field merely look held from outside the heap.
unsafe impl Traverse for Job {
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        self.waits_for.traverse(visitor);
        // The bug: `self.requested_by.traverse(visitor);` is missing.
    }
}

fn job(heap: &Heap, id: usize) -> Gc<Job> {
    heap.alloc(Job {
        id,
        waits_for: Mutex::new(Vec::new()),
        requested_by: Mutex::new(None),
    })
}

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "threads_leak.dot".into());
    let heap = Heap::new();
    heap.disable();

    // Two workers each make jobs in pairs: the second waits for the first, which
    // records who requested it. One pair per worker also waits the other way round
    // (a cycle through reported fields only: collectable).
    std::thread::scope(|s| {
        for worker in 0..2 {
            let heap = &heap;
            s.spawn(move || {
                for pair in 0..3 {
                    let first = job(heap, worker * 100 + pair * 2);
                    let second = job(heap, worker * 100 + pair * 2 + 1);
                    second.read().waits_for.lock().unwrap().push(first.clone());
                    if pair == 0 {
                        first.read().waits_for.lock().unwrap().push(second.clone());
                    } else {
                        *first.read().requested_by.lock().unwrap() = Some(second.clone());
                    }
                }
            });
        }
    });

    let stats = std::thread::scope(|s| s.spawn(|| heap.collect()).join().unwrap());
    println!(
        "collected {} objects; {} tracked objects left, none of them reachable",
        stats.collected,
        heap.tracked_count()
    );

    let report = audit_sync(&heap, &[]);
    println!("\n{report}");
    let culprit = report.culprits().first().map(|c| c.0);
    println!("likeliest culprit: {culprit:?}");

    let jobs: Vec<Gc<Job>> = heap
        .objects(None)
        .into_iter()
        .filter_map(|obj| obj.downcast::<Job>().ok())
        .collect();
    let ids: Vec<usize> = jobs.iter().map(|j| j.read().id).collect();
    println!("leaked jobs: {ids:?}");

    // Why is a job that others wait for still alive? Ask with our handle only.
    let waited_for = jobs.iter().find(|j| j.read().id % 2 == 0).cloned();
    drop(jobs);
    if let Some(path) = waited_for.and_then(|j| why_alive_sync(&heap, &j)) {
        let chain: Vec<String> = path
            .iter()
            .map(|o| format!("{:#x} ({} held from outside)", o.id, o.outside_refs()))
            .collect();
        println!("why alive: {}", chain.join(" -> "));
    }

    let snapshot = Snapshot::take_sync(&heap);
    std::fs::write(&path, snapshot.to_dot())?;
    println!("wrote {path} ({} objects)", snapshot.objects().len());

    // Break the leaked cycles by hand (reference counting then frees them), so that
    // the heap shuts down clean.
    for obj in heap.objects(None) {
        if let Ok(job) = obj.downcast::<Job>() {
            let requester = job.read().requested_by.lock().unwrap().take();
            drop(requester);
        }
    }
    assert_eq!(heap.tracked_count(), 0);
    Ok(())
}
