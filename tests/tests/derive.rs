//! `#[derive(Traverse)]`: every shape of type it accepts is traversed completely (a cycle
//! through any field is collected, each object dropped once and only by the collection),
//! `#[traverse(skip)]` leaks exactly as documented, leaf detection untracks exactly the types
//! that cannot hold a handle, and the container attributes do what they say.
//!
//! What must not compile is in `tests/ui/` (run by `tests/ui.rs`).

// The derive emits `unsafe impl`; users who forbid unsafe code can still use it.
#![forbid(unsafe_code)]

use gc_core::{Finalize, Gc, GcAny, Heap, Traverse};
use gc_tests::{DropLog, Token};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;

/// A settable edge, the usual way to close a cycle.
type Link<T> = RefCell<Option<Gc<T>>>;

fn link<T: Traverse + 'static>(from: &Link<T>, to: &Gc<T>) {
    *from.borrow_mut() = Some(to.clone());
}

/// What `traverse` reports for the object behind `g`, as `gc.get_referents` would.
fn referents<T: Traverse + 'static>(g: &Gc<T>) -> Vec<GcAny> {
    Gc::to_any(g).referents()
}

fn reports<T: Traverse + 'static, U: Traverse + 'static>(g: &Gc<T>, target: &Gc<U>) -> usize {
    let target = Gc::to_any(target);
    referents(g).iter().filter(|r| r.ptr_eq(&target)).count()
}

// ---------------------------------------------------------------------------------------
// Cycles through each kind of type are collected.

#[derive(Traverse)]
struct Named {
    token: Token,
    label: String,
    next: Link<Named>,
}

#[test]
fn struct_with_named_fields_in_a_cycle_is_collected() {
    let heap = Heap::new();
    let log = DropLog::new();
    let a = heap.alloc(Named {
        token: log.token(1),
        label: "a".into(),
        next: Link::default(),
    });
    let b = heap.alloc(Named {
        token: log.token(2),
        label: "b".into(),
        next: Link::default(),
    });
    link(&a.next, &b);
    link(&b.next, &a);
    assert!(Gc::is_tracked(&a));
    assert_eq!(reports(&a, &b), 1);
    assert_eq!((a.label.as_str(), b.label.as_str()), ("a", "b"));

    drop((a, b));
    assert_eq!(
        log.count(),
        0,
        "reference counting alone cannot free a cycle"
    );
    assert_eq!(heap.collect().collected, 2);
    assert!(log.dropped(1) && log.dropped(2));
    assert_eq!(log.count(), 2);
    assert_eq!(heap.collect().collected, 0);
    log.assert_no_double_drop();
}

#[derive(Traverse)]
struct Tuple(Token, Link<Tuple>, u64);

#[test]
fn tuple_struct_in_a_self_cycle_is_collected() {
    let heap = Heap::new();
    let log = DropLog::new();
    let a = heap.alloc(Tuple(log.token(1), Link::default(), 7));
    link(&a.1, &a);
    assert_eq!(reports(&a, &a), 1);
    assert_eq!(a.2, 7);

    drop(a);
    assert_eq!(log.count(), 0);
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(log.ids(), [1]);
}

#[derive(Traverse)]
enum Shape {
    Leaf(Token),
    Link { token: Token, next: Link<Shape> },
    Pair(Token, Link<Shape>, Link<Shape>),
    Nothing,
}

#[test]
fn enum_variants_in_a_cycle_are_collected() {
    let heap = Heap::new();
    let log = DropLog::new();
    let leaf = heap.alloc(Shape::Leaf(log.token(1)));
    let link_ = heap.alloc(Shape::Link {
        token: log.token(2),
        next: Link::default(),
    });
    let pair = heap.alloc(Shape::Pair(log.token(3), Link::default(), Link::default()));
    let nothing = heap.alloc(Shape::Nothing);
    // link -> pair -> (leaf, link): a cycle with a tail; `nothing` stays referenced.
    let Shape::Link { next, .. } = &*link_ else {
        unreachable!()
    };
    link(next, &pair);
    let Shape::Pair(_, first, second) = &*pair else {
        unreachable!()
    };
    link(first, &leaf);
    link(second, &link_);
    assert_eq!(referents(&pair).len(), 2);
    assert!(referents(&nothing).is_empty());
    assert!(
        Gc::is_tracked(&nothing),
        "the type can hold handles, so every value is tracked"
    );

    drop((leaf, link_, pair));
    assert_eq!(log.count(), 0);
    assert_eq!(heap.collect().collected, 3);
    assert_eq!(log.count(), 3);
    log.assert_no_double_drop();
    assert!(matches!(*nothing, Shape::Nothing));
}

/// Generic over what it holds; the cycle below goes through the generic field `value`.
#[derive(Traverse)]
struct Holder<T> {
    token: Token,
    value: T,
}

#[derive(Traverse)]
struct Owner {
    token: Token,
    held: Link<Holder<Gc<Owner>>>,
}

#[test]
fn generic_field_in_a_cycle_is_visited_and_collected() {
    let heap = Heap::new();
    let log = DropLog::new();
    let owner = heap.alloc(Owner {
        token: log.token(1),
        held: Link::default(),
    });
    let holder = heap.alloc(Holder {
        token: log.token(2),
        value: owner.clone(),
    });
    link(&owner.held, &holder);
    assert_eq!(reports(&holder, &owner), 1);

    drop((owner, holder));
    assert_eq!(log.count(), 0);
    assert_eq!(heap.collect().collected, 2);
    assert_eq!(log.count(), 2);
    log.assert_no_double_drop();
}

/// A generic type whose declaration bounds its parameter: `Gc<T>` requires
/// `T: Traverse + 'static`, so a field `Gc<Chain<T>>` needs the same of `T`.
#[derive(Traverse)]
struct Chain<T: Traverse + 'static> {
    value: T,
    next: Link<Chain<T>>,
}

#[test]
fn generic_type_in_a_cycle_is_collected() {
    let heap = Heap::new();
    let log = DropLog::new();
    let a = heap.alloc(Chain {
        value: log.token(1),
        next: Link::default(),
    });
    let b = heap.alloc(Chain {
        value: log.token(2),
        next: Link::default(),
    });
    link(&a.next, &b);
    link(&b.next, &a);

    drop((a, b));
    assert_eq!(log.count(), 0);
    assert_eq!(heap.collect().collected, 2);
    assert_eq!(log.count(), 2);
    log.assert_no_double_drop();
}

#[derive(Traverse)]
struct Ring<const N: usize> {
    token: Token,
    slots: [Link<Ring<N>>; N],
}

#[test]
fn const_generic_array_field_is_visited() {
    let heap = Heap::new();
    let log = DropLog::new();
    let a = heap.alloc(Ring::<2> {
        token: log.token(1),
        slots: Default::default(),
    });
    link(&a.slots[0], &a);
    link(&a.slots[1], &a);
    assert_eq!(reports(&a, &a), 2);

    drop(a);
    assert_eq!(heap.collect().collected, 1);
    assert_eq!(log.ids(), [1]);
}

#[derive(Traverse)]
#[repr(C)]
struct ReprC {
    token: Token,
    next: Link<ReprC>,
}

#[derive(Traverse)]
#[repr(u8)]
enum ReprU8 {
    A(Token, Link<ReprU8>) = 3,
    B = 9,
}

#[test]
fn repr_types_are_traversed() {
    let heap = Heap::new();
    let log = DropLog::new();
    let c = heap.alloc(ReprC {
        token: log.token(1),
        next: Link::default(),
    });
    link(&c.next, &c);
    let e = heap.alloc(ReprU8::A(log.token(2), Link::default()));
    let ReprU8::A(_, next) = &*e else {
        unreachable!()
    };
    link(next, &e);
    let b = heap.alloc(ReprU8::B);
    assert!(matches!(*b, ReprU8::B));

    drop((c, e));
    assert_eq!(heap.collect().collected, 2);
    assert_eq!(log.count(), 2);
}

// ---------------------------------------------------------------------------------------
// `#[traverse(skip)]`

/// Every handle is hidden, so the type is a leaf: not tracked at all.
#[derive(Traverse)]
struct Hidden {
    token: Token,
    #[traverse(skip)]
    next: Link<Hidden>,
}

/// A cycle through a skipped handle leaks, safely, as documented: the collector is not told
/// about the handle, so for the collector it is a reference from outside the heap that keeps
/// its object alive. Here every edge is skipped, which makes `Hidden` a leaf that the collector
/// does not even track. The collection frees nothing and both objects stay alive; breaking the
/// cycle by hand then frees each of them once, by reference counting.
#[test]
fn skipped_handle_in_a_cycle_leaks_until_broken_by_hand() {
    let heap = Heap::new();
    let log = DropLog::new();
    let a = heap.alloc(Hidden {
        token: log.token(1),
        next: Link::default(),
    });
    let b = heap.alloc(Hidden {
        token: log.token(2),
        next: Link::default(),
    });
    link(&a.next, &b);
    link(&b.next, &a);
    assert!(!Gc::is_tracked(&a));
    assert!(referents(&a).is_empty());
    let (weak_a, weak_b) = (Gc::downgrade(&a), Gc::downgrade(&b));

    drop((a, b));
    assert_eq!(heap.collect().collected, 0);
    assert_eq!(log.count(), 0);
    let a = weak_a.upgrade().expect("a leaked object is still alive");
    assert!(weak_b.upgrade().is_some());

    a.next.borrow_mut().take(); // a -/-> b: b goes, and takes its edge to a with it
    assert_eq!(log.ids(), [2]);
    drop(a);
    assert_eq!(log.ids(), [2, 1]);
}

/// Visits `seen`, hides `hidden`: tracked, but blind to half of its edges.
#[derive(Traverse)]
struct HalfHidden {
    token: Token,
    seen: Link<HalfHidden>,
    #[traverse(skip)]
    hidden: Link<HalfHidden>,
}

/// As above, for a tracked type: `a -> b` is reported, `b -> a` is skipped. The collector sees
/// one more handle to `a` than traversals account for, takes it for an outside reference, and
/// keeps `a` and everything `a` reaches: nothing is freed, nothing is dropped. Heap shutdown's
/// leak report names both objects and, for `a`, the reference no traversal reports.
#[test]
#[cfg_attr(
    miri,
    ignore = "leaks a cycle past shutdown by design (orphans keep their memory), which Miri's leak check rejects"
)]
fn skipped_handle_in_a_tracked_cycle_leaks_and_shutdown_reports_it() {
    let heap = Heap::new();
    let log = DropLog::new();
    let new = |id| HalfHidden {
        token: log.token(id),
        seen: Link::default(),
        hidden: Link::default(),
    };
    let a = heap.alloc(new(1));
    let b = heap.alloc(new(2));
    link(&a.seen, &b);
    link(&b.hidden, &a);
    assert!(Gc::is_tracked(&a));
    assert_eq!(reports(&a, &b), 1);
    assert_eq!(reports(&b, &a), 0);
    let weak_a = Gc::downgrade(&a);

    drop((a, b));
    assert_eq!(heap.collect().collected, 0);
    assert_eq!(log.count(), 0);
    assert!(weak_a.upgrade().is_some());

    let report = heap.shutdown();
    assert_eq!(report.leaks.len(), 2, "{}", report.leaks);
    let untraversed: usize = report
        .leaks
        .of_type("HalfHidden")
        .map(|o| o.untraversed_refs())
        .sum();
    assert_eq!(
        untraversed, 1,
        "only the skipped handle is unaccounted for: {}",
        report.leaks
    );
    assert_eq!(log.count(), 0, "leaked objects are never destroyed");
}

#[derive(Traverse)]
#[allow(dead_code)] // skipped fields are not read, by the derive either
struct PartlyVisited(
    #[traverse(skip)] Gc<u32>,
    Gc<u32>,
    #[traverse(skip)] Rc<Cell<u8>>,
);

#[derive(Traverse)]
#[allow(dead_code)] // skipped fields are not read, by the derive either
enum Variants {
    Seen(Gc<u32>),
    #[traverse(skip)]
    Unseen(Gc<u32>, NotTraverse),
    Mixed {
        #[traverse(skip)]
        unseen: Gc<u32>,
        seen: Gc<u32>,
    },
}

#[test]
fn skip_on_fields_and_variants_hides_exactly_those() {
    let heap = Heap::new();
    let (x, y) = (heap.alloc(1u32), heap.alloc(2u32));
    let t = heap.alloc(PartlyVisited(x.clone(), y.clone(), Rc::default()));
    assert_eq!((reports(&t, &x), reports(&t, &y)), (0, 1));

    let seen = heap.alloc(Variants::Seen(x.clone()));
    let unseen = heap.alloc(Variants::Unseen(x.clone(), NotTraverse(0)));
    let mixed = heap.alloc(Variants::Mixed {
        unseen: x.clone(),
        seen: y.clone(),
    });
    assert_eq!(reports(&seen, &x), 1);
    assert!(referents(&unseen).is_empty());
    assert_eq!((reports(&mixed, &x), reports(&mixed, &y)), (0, 1));
}

// ---------------------------------------------------------------------------------------
// Leaf detection: `IS_LEAF`, and so `Gc::is_tracked`.

#[derive(Traverse)]
struct Plain {
    count: u32,
    name: String,
    bytes: Vec<u8>,
    map: HashMap<String, (u8, char)>,
    shared: Rc<RefCell<Vec<u8>>>,
    weak: gc_core::Weak<u32>,
}

#[derive(Traverse)]
struct WithHandle {
    count: u32,
    handle: Gc<u32>,
}

#[derive(Traverse)]
struct Wrapper<T> {
    inner: T,
}

#[derive(Traverse)]
struct Unit;

#[derive(Traverse)]
enum Fieldless {
    A,
    B = 4,
}

#[derive(Traverse)]
enum Never {}

#[derive(Traverse)]
enum MaybeHandle {
    No(u32),
    Yes(Option<Gc<u32>>),
}

const _: () = assert!(<Plain as Traverse>::IS_LEAF);
const _: () = assert!(!<WithHandle as Traverse>::IS_LEAF);
const _: () = assert!(<Unit as Traverse>::IS_LEAF);
const _: () = assert!(<Fieldless as Traverse>::IS_LEAF);
const _: () = assert!(<Never as Traverse>::IS_LEAF);
const _: () = assert!(!<MaybeHandle as Traverse>::IS_LEAF);
const _: () = assert!(!<Variants as Traverse>::HAS_FINALIZER);

#[test]
fn types_without_handles_are_untracked() {
    let heap = Heap::new();
    let plain = heap.alloc(Plain {
        count: 1,
        name: "p".into(),
        bytes: vec![1, 2],
        map: HashMap::new(),
        shared: Rc::default(),
        weak: Gc::downgrade(&heap.alloc(0u32)), // its object is gone at once
    });
    assert!(!Gc::is_tracked(&plain));
    assert_eq!(
        (plain.count, plain.name.as_str(), plain.bytes.len()),
        (1, "p", 2)
    );
    assert!(
        plain.map.is_empty() && plain.shared.borrow().is_empty() && plain.weak.upgrade().is_none()
    );
    assert!(!Gc::is_tracked(&heap.alloc(Unit)));
    assert!(!Gc::is_tracked(&heap.alloc(Fieldless::B)));
    assert!(!Gc::is_tracked(&heap.alloc(Fieldless::A)));

    let with = heap.alloc(WithHandle {
        count: 0,
        handle: heap.alloc(5),
    });
    assert!(Gc::is_tracked(&with));
    assert_eq!(*with.handle + with.count, 5);
    // Tracking is per type: a value that holds no handle right now is tracked all the same.
    assert!(Gc::is_tracked(&heap.alloc(MaybeHandle::No(1))));
    assert!(Gc::is_tracked(&heap.alloc(MaybeHandle::Yes(None))));
}

#[test]
fn leaf_detection_follows_generic_arguments() {
    let heap = Heap::new();
    let log = DropLog::new();
    assert!(!Gc::is_tracked(&heap.alloc(Wrapper { inner: 3u32 })));
    assert!(!Gc::is_tracked(&heap.alloc(Wrapper {
        inner: Wrapper {
            inner: String::new()
        }
    })));
    let node = heap.alloc(Named {
        token: log.token(1),
        label: String::new(),
        next: Link::default(),
    });
    let wrapped = heap.alloc(Wrapper {
        inner: node.clone(),
    });
    assert!(Gc::is_tracked(&wrapped));
    assert_eq!(reports(&wrapped, &node), 1);
    assert!(Gc::is_tracked(&heap.alloc(Wrapper {
        inner: vec![Some(node.clone())]
    })));
    assert!(!Gc::is_tracked(&heap.alloc(Wrapper {
        inner: Gc::downgrade(&node)
    })));
    assert!(!Gc::is_tracked(&heap.alloc(Holder {
        token: log.token(2),
        value: 'c'
    })));
}

/// A directly recursive type: `IS_LEAF` would depend on itself, unless the derive breaks the
/// recursion (it reads `List` inside its own field types as `()`).
#[derive(Traverse)]
struct List {
    value: u32,
    next: Option<Box<List>>,
}

#[derive(Traverse)]
struct SelfList {
    value: String,
    next: Option<Box<Self>>,
}

#[derive(Traverse)]
struct GenericList<T> {
    value: T,
    next: Option<Box<GenericList<T>>>,
}

#[derive(Traverse)]
enum Tree {
    Leaf(u32),
    Node(Box<Tree>, Vec<Tree>, Option<Box<Self>>),
}

/// Recursion through `Gc` never needs breaking: `Gc<X>` is not a leaf whatever `X` is.
#[derive(Traverse)]
struct GcList {
    next: Option<Gc<GcList>>,
}

const _: () = assert!(<List as Traverse>::IS_LEAF);
const _: () = assert!(<SelfList as Traverse>::IS_LEAF);
const _: () = assert!(<GenericList<u8> as Traverse>::IS_LEAF);
const _: () = assert!(!<GenericList<Gc<u8>> as Traverse>::IS_LEAF);
const _: () = assert!(<Tree as Traverse>::IS_LEAF);
const _: () = assert!(!<GcList as Traverse>::IS_LEAF);

#[test]
fn recursive_types_are_leaves_when_nothing_else_holds_a_handle() {
    let heap = Heap::new();
    let list = heap.alloc(List {
        value: 1,
        next: Some(Box::new(List {
            value: 2,
            next: None,
        })),
    });
    assert!(!Gc::is_tracked(&list));
    assert_eq!(list.next.as_ref().map(|n| n.value + list.value), Some(3));
    let list = heap.alloc(SelfList {
        value: "a".into(),
        next: None,
    });
    assert!(!Gc::is_tracked(&list) && list.next.is_none() && list.value == "a");
    assert!(!Gc::is_tracked(&heap.alloc(Tree::Node(
        Box::new(Tree::Leaf(1)),
        vec![],
        None
    ))));
    assert!(!Gc::is_tracked(&heap.alloc(GenericList {
        value: 1u8,
        next: None
    })));

    let gc_list = GenericList {
        value: heap.alloc(1u8),
        next: Some(Box::new(GenericList {
            value: heap.alloc(2u8),
            next: None,
        })),
    };
    let gc_list = heap.alloc(gc_list);
    assert!(Gc::is_tracked(&gc_list));
    assert_eq!(referents(&gc_list).len(), 2);
    let tail = heap.alloc(GcList { next: None });
    let head = heap.alloc(GcList {
        next: Some(tail.clone()),
    });
    assert!(Gc::is_tracked(&head));
    assert_eq!(reports(&head, &tail), 1);
}

/// Mutually recursive types: the derive cannot see this recursion, so one type of the cycle
/// says `leaf = false` (without it, evaluating `IS_LEAF` is a compile-time cycle error).
#[derive(Traverse)]
#[traverse(leaf = false)]
struct Forest {
    trees: Vec<Branch>,
}

#[derive(Traverse)]
struct Branch {
    forest: Option<Box<Forest>>,
}

/// `leaf = false` on a type that would be a leaf forces it to be tracked.
#[derive(Traverse)]
#[traverse(leaf = false)]
struct ForcedTracked {
    value: u32,
}

const _: () = assert!(!<Forest as Traverse>::IS_LEAF);
const _: () = assert!(!<Branch as Traverse>::IS_LEAF);

#[test]
fn leaf_false_breaks_mutual_recursion_and_forces_tracking() {
    let heap = Heap::new();
    let forest = heap.alloc(Forest {
        trees: vec![Branch { forest: None }],
    });
    assert!(Gc::is_tracked(&forest));
    assert!(forest.trees[0].forest.is_none());
    let forced = heap.alloc(ForcedTracked { value: 3 });
    assert!(Gc::is_tracked(&forced));
    assert_eq!(forced.value, 3);
    assert!(referents(&forced).is_empty());
}

// ---------------------------------------------------------------------------------------
// `#[traverse(finalize)]`

#[derive(Traverse)]
#[traverse(finalize)]
struct Finalized {
    token: Token,
    finalized: Rc<Cell<u32>>,
    next: Link<Finalized>,
}

impl Finalize for Finalized {
    fn finalize(&self) {
        self.finalized.set(self.finalized.get() + 1);
    }
}

/// A leaf with a finalizer: tracked anyway, so that its finalizer runs.
#[derive(Traverse)]
#[traverse(finalize)]
struct FinalizedLeaf {
    finalized: Rc<Cell<u32>>,
}

impl Finalize for FinalizedLeaf {
    fn finalize(&self) {
        self.finalized.set(self.finalized.get() + 1);
    }
}

const _: () = assert!(<Finalized as Traverse>::HAS_FINALIZER);
const _: () = assert!(<FinalizedLeaf as Traverse>::IS_LEAF);
const _: () = assert!(<FinalizedLeaf as Traverse>::HAS_FINALIZER);

#[test]
fn finalize_attribute_calls_the_finalize_impl_once() {
    let heap = Heap::new();
    let log = DropLog::new();
    let count = Rc::new(Cell::new(0));
    let new = |id| Finalized {
        token: log.token(id),
        finalized: count.clone(),
        next: Link::default(),
    };
    let a = heap.alloc(new(1));
    let b = heap.alloc(new(2));
    link(&a.next, &b);
    link(&b.next, &a);

    drop((a, b));
    assert_eq!(count.get(), 0);
    assert_eq!(heap.collect().collected, 2);
    assert_eq!(count.get(), 2, "each member of the cycle is finalized once");
    assert_eq!(log.count(), 2);
    heap.collect();
    assert_eq!(count.get(), 2);

    let leaf_count = Rc::new(Cell::new(0));
    let leaf = heap.alloc(FinalizedLeaf {
        finalized: leaf_count.clone(),
    });
    assert!(Gc::is_tracked(&leaf));
    drop(leaf);
    assert_eq!(
        leaf_count.get(),
        1,
        "reference counting runs the finalizer too"
    );
    heap.collect();
    assert_eq!(leaf_count.get(), 1);
}

// ---------------------------------------------------------------------------------------
// Bounds, lifetimes, `where` clauses.

/// `bound` replaces the inferred `T: Traverse`: here the impl exists only for `Clone` types.
#[derive(Traverse, Clone)]
#[traverse(bound = "T: Traverse + Clone")]
struct Cloneable<T> {
    value: T,
}

/// `Rc<T>` is `Traverse` for every `T` (it reports nothing), so no bound is needed at all;
/// the inferred `T: Traverse` would exclude `Shared<NotTraverse>`.
#[derive(Traverse)]
#[traverse(bound = "")]
struct Shared<T> {
    value: Rc<T>,
}

struct NotTraverse(u8);

fn assert_traverse<T: Traverse>() {}

#[test]
fn bound_attribute_replaces_the_inferred_bounds() {
    assert_traverse::<Cloneable<u32>>();
    assert_traverse::<Cloneable<Gc<u32>>>();
    let heap = Heap::new();
    let shared = heap.alloc(Shared {
        value: Rc::new(NotTraverse(4)),
    });
    assert!(!Gc::is_tracked(&shared));
    assert_eq!(shared.value.0, 4);
    let cloned = heap.alloc(Cloneable {
        value: heap.alloc(1u8),
    });
    assert!(Gc::is_tracked(&cloned));
    assert_eq!(*(*cloned).clone().value, 1);
}

/// Type parameters that only skipped fields or `PhantomData` use get no bound.
#[derive(Traverse)]
struct Unbounded<A, B> {
    #[traverse(skip)]
    a: A,
    b: PhantomData<B>,
    c: u8,
}

#[test]
fn parameters_of_skipped_and_phantom_fields_are_not_bounded() {
    assert_traverse::<Unbounded<NotTraverse, NotTraverse>>();
    let heap = Heap::new();
    let u = heap.alloc(Unbounded {
        a: NotTraverse(1),
        b: PhantomData::<NotTraverse>,
        c: 2,
    });
    assert!(!Gc::is_tracked(&u));
    assert_eq!(u.a.0 + u.c, 3);
}

trait Storage {
    type Slot;
}

struct GcStorage;

impl Storage for GcStorage {
    type Slot = Option<Gc<u32>>;
}

impl Storage for NotTraverse {
    type Slot = u8;
}

/// An associated type is bounded itself (`S::Slot: Traverse`), not its parameter.
#[derive(Traverse)]
struct Slots<S: Storage> {
    slot: S::Slot,
    qualified: Vec<<S as Storage>::Slot>,
}

#[test]
fn associated_types_are_bounded_as_projections() {
    assert_traverse::<Slots<NotTraverse>>();
    let heap = Heap::new();
    let x = heap.alloc(7u32);
    let slots = heap.alloc(Slots::<GcStorage> {
        slot: Some(x.clone()),
        qualified: vec![None, Some(x.clone())],
    });
    assert!(Gc::is_tracked(&slots));
    assert_eq!(reports(&slots, &x), 2);
    assert!(!Gc::is_tracked(&heap.alloc(Slots::<NotTraverse> {
        slot: 1,
        qualified: vec![]
    })));
}

/// Lifetimes and an existing `where` clause. (gc-core implements `Traverse` for
/// `&'static T` only, so a borrowed field is spelled with `PhantomData`; `Gc` values are
/// `'static` anyway.)
#[derive(Traverse)]
struct Borrowed<'a, 'b: 'a, T>
where
    T: Copy + 'b,
{
    marker: PhantomData<&'a &'b ()>,
    value: T,
    name: &'static str,
}

#[derive(Traverse)]
#[allow(dead_code)] // `Borrowed` is never built: it is here for its type
enum BorrowedEnum<'a, T: ?Sized>
where
    T: 'a,
{
    Borrowed(PhantomData<&'a T>),
    Owned(Gc<u32>),
}

fn borrowed_is_traverse<'a, 'b: 'a>(_: &'a &'b ()) -> bool
where
    Borrowed<'a, 'b, u32>: Traverse,
    BorrowedEnum<'a, str>: Traverse,
{
    <Borrowed<'a, 'b, u32> as Traverse>::IS_LEAF && !<BorrowedEnum<'a, str> as Traverse>::IS_LEAF
}

#[test]
fn lifetimes_and_where_clauses_are_kept() {
    let local = ();
    assert!(borrowed_is_traverse(&&local));
    let heap = Heap::new();
    let b = heap.alloc(Borrowed {
        marker: PhantomData,
        value: 1u8,
        name: "static",
    });
    assert!(!Gc::is_tracked(&b));
    assert_eq!((b.value, b.name), (1, "static"));
    let e = heap.alloc(BorrowedEnum::<str>::Owned(heap.alloc(2)));
    assert!(Gc::is_tracked(&e));
    assert!(matches!(&*e, BorrowedEnum::Owned(g) if **g == 2));
}

/// Names the generated code uses internally do not clash with the user's.
#[derive(Traverse)]
struct Clashing {
    visitor: Gc<u32>,
    __gc_field_0: Gc<u32>,
    #[traverse(skip)]
    _visitor: Gc<u32>,
}

#[derive(Traverse)]
#[allow(non_camel_case_types)]
enum ClashingEnum {
    A {
        __gc_field_1: Gc<u32>,
        __gc_field_0: Gc<u32>,
    },
    visitor(Gc<u32>),
}

#[test]
fn generated_names_do_not_clash() {
    let heap = Heap::new();
    let (x, y) = (heap.alloc(1u32), heap.alloc(2u32));
    let c = heap.alloc(Clashing {
        visitor: x.clone(),
        __gc_field_0: y.clone(),
        _visitor: x.clone(),
    });
    assert_eq!((reports(&c, &x), reports(&c, &y)), (1, 1));
    let e = heap.alloc(ClashingEnum::A {
        __gc_field_1: x.clone(),
        __gc_field_0: y.clone(),
    });
    assert_eq!((reports(&e, &x), reports(&e, &y)), (1, 1));
    let v = heap.alloc(ClashingEnum::visitor(x.clone()));
    assert_eq!(reports(&v, &x), 1);
}
