//! `Traverse::prefetch`: what the derive and gc-core's implementations pass the hint
//! on to, and that the collector gives it while marking.

use gc_core::{Gc, Heap, Traverse, Visitor};
use std::cell::{Cell, RefCell};
use std::collections::{BinaryHeap, LinkedList, VecDeque};

thread_local! {
    /// The ids of the probes whose `prefetch` ran on this thread, in order.
    static SEEN: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Takes the ids recorded so far.
fn seen() -> Vec<u32> {
    SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

/// A field that records its id when its `prefetch` runs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Probe(u32);

// SAFETY: owns no handle and reports none.
unsafe impl Traverse for Probe {
    fn traverse(&self, _: &mut Visitor<'_>) {}

    fn prefetch(&self) {
        SEEN.with(|s| s.borrow_mut().push(self.0));
    }
}

#[derive(Traverse)]
struct Fields {
    a: Probe,
    #[traverse(skip)]
    _skipped: Probe,
    in_option: Option<Probe>,
    in_none: Option<Probe>,
    in_box: Box<Probe>,
    in_cell: RefCell<Probe>,
    in_vec: Vec<Probe>,
    in_deque: VecDeque<Probe>,
}

// The skipped fields are only there to be skipped.
#[allow(dead_code)]
#[derive(Traverse)]
enum Shape {
    Two(Probe, #[traverse(skip)] Probe, Probe),
    Named {
        p: Probe,
    },
    #[traverse(skip)]
    Skipped(Probe),
    Empty,
}

#[test]
fn the_derive_passes_prefetch_to_every_visited_field_and_no_skipped_one() {
    let _ = seen();
    let v = Fields {
        a: Probe(1),
        _skipped: Probe(2),
        in_option: Some(Probe(3)),
        in_none: None,
        in_box: Box::new(Probe(4)),
        in_cell: RefCell::new(Probe(5)),
        in_vec: vec![Probe(6)],
        in_deque: VecDeque::from([Probe(7)]),
    };
    v.prefetch();
    // A `Box` and the sequences prefetch their memory (a hint) and do not read it,
    // so their elements' own `prefetch` does not run; `Option` and `RefCell` pass it
    // on.
    assert_eq!(seen(), vec![1, 3, 5]);

    Shape::Two(Probe(10), Probe(11), Probe(12)).prefetch();
    Shape::Named { p: Probe(13) }.prefetch();
    Shape::Skipped(Probe(14)).prefetch();
    Shape::Empty.prefetch();
    assert_eq!(seen(), vec![10, 12, 13]);
}

#[test]
fn wrappers_pass_prefetch_on_and_arrays_to_their_first_eight_elements() {
    let _ = seen();
    Ok::<Probe, Probe>(Probe(1)).prefetch();
    Err::<Probe, Probe>(Probe(2)).prefetch();
    Cell::new(Probe(3)).prefetch();
    (Probe(4), Probe(5), Probe(6)).prefetch();
    assert_eq!(seen(), vec![1, 2, 3, 4, 5, 6]);

    let array: [Probe; 10] = core::array::from_fn(|i| Probe(10 + i as u32));
    array.prefetch();
    assert_eq!(seen(), (10..18).collect::<Vec<_>>());
    array[..3].prefetch();
    assert_eq!(seen(), vec![10, 11, 12]);

    // Containers whose elements lie apart prefetch that memory (a hint, which reads
    // nothing) and do not call into the elements; empty ones included, whose
    // pointer may dangle or be null.
    let boxed: Box<[Probe]> = vec![Probe(30)].into_boxed_slice();
    boxed.prefetch();
    LinkedList::from([Probe(31)]).prefetch();
    BinaryHeap::from([Probe(32)]).prefetch();
    Box::<[Probe]>::default().prefetch();
    LinkedList::<Probe>::new().prefetch();
    BinaryHeap::<Probe>::new().prefetch();
    Vec::<Probe>::new().prefetch();
    assert_eq!(seen(), Vec::<u32>::new());
}

#[test]
fn a_mutably_borrowed_refcell_passes_nothing_on() {
    let _ = seen();
    let cell = RefCell::new(Probe(20));
    {
        let _borrowed = cell.borrow_mut();
        cell.prefetch();
        assert_eq!(seen(), Vec::<u32>::new());
    }
    cell.prefetch();
    assert_eq!(seen(), vec![20]);
}

/// A node whose children are reached through a vector, and a probe with its id.
#[derive(Traverse)]
struct Node {
    id: Probe,
    children: RefCell<Vec<Gc<Node>>>,
}

#[test]
fn marking_prefetches_reachable_objects_before_traversing_them() {
    let heap = Heap::new();
    let root = heap.alloc(Node {
        id: Probe(0),
        children: RefCell::new(Vec::new()),
    });
    for id in 1..=20 {
        let child = heap.alloc(Node {
            id: Probe(id),
            children: RefCell::new(vec![root.clone()]),
        });
        root.children.borrow_mut().push(child.clone());
        // `child` is dropped here: the object lost a reference, so the collection
        // examines it.
    }
    let _ = seen();
    let stats = heap.collect();
    // Every child is reachable from `root`, held here: nothing is garbage, and the
    // marking traversed all of them.
    assert_eq!((stats.collected, stats.candidates), (0, 21));
    let ids = seen();
    // Marking keeps a queue of objects to traverse next and gives each the hint
    // halfway through it; with 20 children pushed at once the queue fills, so most
    // of them get it, each once.
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        ids.len(),
        "an object was prefetched twice: {ids:?}"
    );
    assert!(ids.len() >= 10, "too few objects prefetched: {ids:?}");
    assert!(ids.iter().all(|&id| id <= 20));
    assert_eq!(root.children.borrow().len(), 20);
}
