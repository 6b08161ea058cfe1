//! Owning types (`Heap::alloc_with_type`): the type object of a VM instance is visited
//! by construction, whatever the instance's `Traverse` does (seed 002's condition 2).

use gc_core::{Gc, Heap, Traverse, Visitor};
use gc_tests::{DropLog, Token};
use std::cell::RefCell;
use std::collections::HashMap;

/// A runtime type object: a name, a method table, and class attributes that may hold
/// instances (`A.a = A()`).
#[derive(Traverse)]
struct TypeObject {
    methods: RefCell<HashMap<String, Gc<Method>>>,
    attrs: RefCell<Vec<Gc<Instance>>>,
    module: RefCell<Option<Gc<Module>>>,
    #[traverse(skip)]
    _token: Token,
}

#[derive(Traverse)]
struct Method {
    #[traverse(skip)]
    _token: Token,
}

#[derive(Traverse)]
struct Module {
    types: RefCell<Vec<Gc<TypeObject>>>,
    #[traverse(skip)]
    _token: Token,
}

/// An instance; its type is not a field but its owning type.
#[derive(Traverse)]
struct Instance {
    #[traverse(skip)]
    _token: Token,
}

fn heap() -> Heap {
    let h = Heap::new();
    h.disable();
    h
}

fn type_object(heap: &Heap, log: &DropLog, id: usize) -> Gc<TypeObject> {
    heap.alloc(TypeObject {
        methods: RefCell::default(),
        attrs: RefCell::default(),
        module: RefCell::default(),
        _token: log.token(id),
    })
}

#[test]
fn an_instance_alive_keeps_its_type_alive() {
    let heap = heap();
    let log = DropLog::new();
    let ty = type_object(&heap, &log, 1);
    let inst = heap.alloc_with_type(
        &ty,
        Instance {
            _token: log.token(2),
        },
    );
    drop(ty);
    heap.collect();
    assert!(!log.dropped(1), "the type lives while an instance does");
    let owner = Gc::owner_type(&inst)
        .unwrap()
        .downcast::<TypeObject>()
        .ok()
        .unwrap();
    assert!(owner.methods.borrow().is_empty());
    drop(owner);
    drop(inst);
    assert_eq!(log.ids(), vec![2, 1], "instance first, then its type");
}

/// A type, its instances, its method table and a module that refers back to it are
/// collected together once unreachable.
#[test]
fn type_instances_methods_and_module_are_collected_together() {
    let heap = heap();
    let log = DropLog::new();
    let ty = type_object(&heap, &log, 1);
    ty.methods.borrow_mut().insert(
        "m".into(),
        heap.alloc(Method {
            _token: log.token(2),
        }),
    );
    let module = heap.alloc(Module {
        types: RefCell::new(vec![ty.clone()]),
        _token: log.token(3),
    });
    *ty.module.borrow_mut() = Some(module.clone());
    for i in 0..3 {
        let inst = heap.alloc_with_type(
            &ty,
            Instance {
                _token: log.token(10 + i),
            },
        );
        ty.attrs.borrow_mut().push(inst); // class attributes holding instances
    }
    drop((ty, module));
    let stats = heap.collect();
    // The method object holds no handle: it is an untracked leaf, freed by reference
    // counting when the type is destroyed; the collector counts the other five.
    assert_eq!(stats.collected, 5, "type, module and three instances");
    assert_eq!(log.count(), 6);
    log.assert_no_double_drop();
    assert_eq!(heap.tracked_count(), 0);
}

/// A hand-written `Traverse` that forgets everything, the seeds' bug: the owning type
/// is still visited, so the type <-> instance cycle is collected.
struct ForgetfulInstance {
    _token: Token,
}

// SAFETY: reports nothing, which is allowed (and here owns no handle anyway).
unsafe impl Traverse for ForgetfulInstance {
    fn traverse(&self, _: &mut Visitor<'_>) {}
}

#[derive(Traverse)]
struct TypeOfForgetful {
    attrs: RefCell<Vec<Gc<ForgetfulInstance>>>,
    #[traverse(skip)]
    _token: Token,
}

#[test]
fn hand_written_traverse_that_forgets_the_type_still_gets_it_visited() {
    let heap = heap();
    let log = DropLog::new();
    let ty = heap.alloc(TypeOfForgetful {
        attrs: RefCell::default(),
        _token: log.token(1),
    });
    let inst = heap.alloc_with_type(
        &ty,
        ForgetfulInstance {
            _token: log.token(2),
        },
    );
    assert!(
        Gc::is_tracked(&inst),
        "an instance is tracked even if its value is a leaf"
    );
    ty.attrs.borrow_mut().push(inst.clone());
    let referents: Vec<_> = Gc::to_any(&inst).referents();
    assert_eq!(
        referents.len(),
        1,
        "the owning type is reported for the instance"
    );
    assert!(referents[0].is::<TypeOfForgetful>());
    drop(referents);
    drop((ty, inst));
    assert_eq!(heap.collect().collected, 2);
    assert_eq!(log.count(), 2);
}

/// An instance of a leaf value type (a VM integer) allocated with its type is
/// tracked, keeps its type alive, and is freed by reference counting as usual.
#[test]
fn leaf_instances_with_an_owning_type() {
    let heap = heap();
    let log = DropLog::new();
    let int_type = type_object(&heap, &log, 1);
    let five = heap.alloc_with_type(&int_type, 5i64);
    assert!(Gc::is_tracked(&five));
    drop(int_type);
    assert_eq!(*five, 5);
    drop(five);
    assert_eq!(log.ids(), vec![1]);
}
