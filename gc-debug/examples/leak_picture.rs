//! Draws a leak. A tiny VM object model (classes, methods, an inline cache) has one
//! hand-written `Traverse` that forgets a field; the collector cannot free what that
//! field keeps alive; gc-debug's audit names the type, `why_alive` shows the chain,
//! and a snapshot of the leaked subgraph is written as a Graphviz DOT file.
//!
//! ```sh
//! cargo run -p gc-debug --example leak_picture -- leak.dot
//! dot -Tsvg leak.dot -o leak.svg   # red boxes: held by references no traversal reports
//! ```

use std::cell::RefCell;

use gc_core::{Gc, Heap, Traverse, Visitor};
use gc_debug::{audit_with_roots, why_alive, Snapshot};

/// A class: a name, its methods, and an inline cache of method lookups made on it.
/// Derived, so its `Traverse` visits every field.
#[derive(Traverse)]
struct Class {
    name: &'static str,
    methods: RefCell<Vec<Gc<Method>>>,
    cache: RefCell<Vec<Gc<CacheEntry>>>,
}

/// A method points back at its class: classes and methods form cycles, which is why
/// the heap needs a cycle collector at all. Derived.
#[derive(Traverse)]
struct Method {
    name: &'static str,
    class: RefCell<Option<Gc<Class>>>,
}

/// An inline-cache entry: "a lookup on `receiver` found a method of `defining`".
/// Written by hand, and wrong: it reports `receiver` but forgets `defining`.
struct CacheEntry {
    receiver: Gc<Class>,
    defining: Gc<Class>,
}

// SAFETY: reports fewer handles than `CacheEntry` owns (it forgets `defining`). That
// is always memory-safe: the class behind it merely looks referenced from outside
// the heap, so it leaks. (Reporting a handle it does not own would be unsound.)
unsafe impl Traverse for CacheEntry {
    fn traverse(&self, visitor: &mut Visitor<'_>) {
        visitor.visit(&self.receiver);
        // The bug: `visitor.visit(&self.defining);` is missing.
    }
}

/// Allocates a class with one method; the two reference each other.
fn class_with_method(heap: &Heap, class: &'static str, method: &'static str) -> Gc<Class> {
    // The class, with no methods yet.
    let c = heap.alloc(Class {
        name: class,
        methods: RefCell::new(Vec::new()),
        cache: RefCell::new(Vec::new()),
    });
    // The method points back at its class...
    let m = heap.alloc(Method {
        name: method,
        class: RefCell::new(Some(c.clone())),
    });
    // ...and the class lists the method: a cycle.
    c.methods.borrow_mut().push(m);
    c
}

fn main() -> std::io::Result<()> {
    // Where to write the picture: the first argument, or `leak.dot`.
    let path = std::env::args().nth(1).unwrap_or_else(|| "leak.dot".into());

    // A heap of our own, so that the picture shows only this example's objects.
    let heap = Heap::new();

    // `Point` stays in use: we keep this handle for the whole program.
    let point = class_with_method(&heap, "Point", "norm");
    // `Temp` is used for a while, then dropped.
    let temp = class_with_method(&heap, "Temp", "run");

    // A lookup on `Point` found `Temp.run` (say `Point` inherits from `Temp`); the
    // VM caches it, and `Temp` keeps the entries of the lookups that resolved to its
    // methods, to invalidate them if a method changes.
    let entry = heap.alloc(CacheEntry {
        receiver: point.clone(),
        defining: temp.clone(),
    });
    temp.cache.borrow_mut().push(entry);

    // Done with `Temp`: drop our handle and collect. `Temp`, its method and the
    // cache entry form a cycle that only the collector can free...
    let temp_id = Gc::to_any(&temp).id();
    drop(temp);
    let stats = heap.collect();
    // ...but it frees nothing: `CacheEntry::defining` is a reference the collector
    // cannot see, so `Temp` looks held from outside the heap.
    println!(
        "collected {} object(s); {} still tracked",
        stats.collected,
        heap.tracked_count()
    );

    // The audit: we hold `point` on purpose, so we name it as a root. What is left
    // is the unreported reference to `Temp`, and the type that likely skips it.
    let report = audit_with_roots(&heap, &[Gc::to_any(&point)]);
    println!("{report}");

    // Why is `Temp` alive? Find it among the heap's objects by its id, and ask for
    // the shortest chain of referrers from an object held from outside the heap.
    let temp_again = gc_debug::get_objects(&heap, None)
        .expect("`None` is a valid generation")
        .into_iter()
        .find(|o| o.id() == temp_id)
        .expect("`Temp` leaked");
    if let Some(path) = why_alive(&heap, &temp_again) {
        println!("why is `Temp` alive?\n{path}\n");
    }
    drop(temp_again);

    // The picture: what is held from outside the heap, other than `Point` (ours),
    // and everything it reaches.
    let snapshot = Snapshot::take(&heap);
    let point_id = Gc::to_any(&point).id();
    let leak_roots: Vec<usize> = snapshot
        .held_from_outside()
        .map(|o| o.id)
        .filter(|&id| id != point_id)
        .collect();
    let leaked = snapshot.reachable_from(&leak_roots);
    std::fs::write(&path, leaked.to_dot())?;
    println!(
        "wrote {} object(s) and {} reference(s) to {path}; render it with\n  dot -Tsvg {path} -o leak.svg",
        leaked.objects().len(),
        leaked.edges().len()
    );

    // Fix the leak by hand (empty the caches) and check that the collector now frees
    // the `Temp` cycle. `Point` is still ours.
    for class in gc_debug::get_objects(&heap, None).expect("valid generation") {
        if let Ok(class) = class.downcast::<Class>() {
            for entry in class.cache.borrow().iter() {
                let (on, found) = (entry.receiver.name, entry.defining.name);
                println!(
                    "dropping the cache entry of `{}`: {on} -> {found}",
                    class.name
                );
            }
            class.cache.borrow_mut().clear();
        }
    }
    println!("after the fix: collected {}", heap.collect().collected);
    Ok(())
}
