//! A small dynamic object model on `gc-core`: what a VM author would copy.
//!
//! It has CPython's shapes, and CPython's cycles (seed 002 of the mission):
//!
//! * **type objects** created at run time (heap types), each with a method-resolution
//!   order that contains the type itself and a dict of attributes;
//! * **instances** that keep their type alive: every object is allocated with
//!   [`Heap::alloc_with_type`], so its type is its *owning type*, visited by the
//!   collector **by construction** (no `Py_VISIT(Py_TYPE(self))` to forget);
//! * **modules** with a dict, and **functions** whose globals are their module's dict:
//!   the function → globals → module → function cycle;
//! * **bound methods** stored on their instance (`self.m = self.method`);
//! * **finalizers** (`__del__`) on some instances, and **weak references with
//!   callbacks** between objects.
//!
//! [`Vm::run_workload`] drives it; [`Vm::teardown`] is interpreter shutdown (exit hooks
//! in LIFO order, collect until nothing is left, leak report). [`broken`] adds a
//! native type whose hand-written traverse forgets its type, the bug class of the
//! seeds, to show what the debug crate says about it.
//!
//! ```
//! let mut vm = minivm::Vm::new();
//! let summary = vm.run_workload(3, 10, |_| {});
//! assert!(summary.created > 30);
//! // Each round became cyclic garbage when its module left `sys.modules`.
//! assert!(vm.heap.collect().collected > 30);
//! let report = vm.teardown();
//! assert!(report.leaks.is_empty(), "{}", report.leaks);
//! ```

use gc_core::{Finalize, Gc, GcAny, Heap, ShutdownReport, Traverse, Visitor, WeakRef};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// A VM value: what variables, attributes and dict entries hold.
///
/// `#[derive(Traverse)]` visits every variant's fields: a `Value::Obj` reports its
/// handle, `Int` and `Str` report nothing.
#[derive(Traverse, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// Any VM object.
    Obj(Gc<Object>),
    /// A weak reference object (`weakref.ref(obj, callback)`).
    Weak(Gc<WeakRef<Object>>),
    /// An object of the native type in [`broken`].
    Native(Gc<broken::NativeBuffer>),
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::None => write!(f, "None"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Obj(o) => write!(f, "<{}>", o.kind.name()),
            Value::Weak(_) => write!(f, "<weakref>"),
            Value::Native(_) => write!(f, "<native buffer>"),
        }
    }
}

/// Every VM object. Its type is not a field: it is the owning type the object was
/// allocated with ([`Gc::owner_type`]), which the collector visits itself.
///
/// `#[traverse(finalize)]` makes the collector call [`Finalize::finalize`] (our
/// `__del__` dispatch) once before the object is destroyed.
#[derive(Traverse)]
#[traverse(finalize)]
pub struct Object {
    /// What kind of object this is.
    pub kind: Kind,
}

/// The object kinds of the model.
#[derive(Traverse)]
pub enum Kind {
    /// A type object.
    Type(TypeData),
    /// An instance of a (heap) type.
    Instance(InstanceData),
    /// A dict.
    Dict(Dict),
    /// A module.
    Module(ModuleData),
    /// A function.
    Function(FunctionData),
    /// A method bound to its receiver.
    BoundMethod(BoundMethodData),
}

impl Kind {
    /// A short name for printing.
    pub fn name(&self) -> &str {
        match self {
            Kind::Type(t) => &t.name,
            Kind::Instance(_) => "instance",
            Kind::Dict(_) => "dict",
            Kind::Module(m) => &m.name,
            Kind::Function(f) => &f.name,
            Kind::BoundMethod(_) => "bound method",
        }
    }
}

/// A type object: CPython's heap type.
#[derive(Traverse)]
pub struct TypeData {
    /// `__name__`.
    pub name: String,
    /// `__mro__`: the type itself first, then its bases' MROs (a self-reference).
    pub mro: RefCell<Vec<Gc<Object>>>,
    /// `__dict__`: methods, class attributes, `__module__`.
    pub dict: RefCell<HashMap<String, Value>>,
}

/// An instance.
#[derive(Traverse)]
pub struct InstanceData {
    /// `__dict__`.
    pub dict: RefCell<HashMap<String, Value>>,
    /// The type's `__del__`, looked up when the instance was created.
    pub del: Option<Gc<Object>>,
}

/// A dict object (module globals).
#[derive(Traverse)]
pub struct Dict {
    /// The entries.
    pub entries: RefCell<HashMap<String, Value>>,
}

/// A module.
#[derive(Traverse)]
pub struct ModuleData {
    /// `__name__`.
    pub name: String,
    /// `__dict__`: a dict object, which functions share as their globals.
    pub dict: Gc<Object>,
}

/// The native code of a function.
pub type Code = Rc<dyn Fn(&[Value]) -> Value>;

/// A function.
#[derive(Traverse)]
pub struct FunctionData {
    /// `__name__`.
    pub name: String,
    /// `__globals__`: its module's dict (function → globals → module → function).
    pub globals: Gc<Object>,
    /// Native code: holds no handle the collector must see, so it is skipped.
    #[traverse(skip)]
    pub code: Code,
}

/// `instance.method`, bound.
#[derive(Traverse)]
pub struct BoundMethodData {
    /// `__self__`.
    pub receiver: Gc<Object>,
    /// `__func__`.
    pub function: Gc<Object>,
}

impl Finalize for Object {
    /// `__del__`: instances whose type defines it call it, once.
    fn finalize(&self) {
        if let Kind::Instance(inst) = &self.kind {
            if let Some(del) = &inst.del {
                if let Kind::Function(f) = &del.kind {
                    (f.code)(&[]);
                }
            }
        }
    }
}

/// What the workload observed.
#[derive(Default, Debug)]
pub struct VmStats {
    /// `__del__` calls.
    pub dels: Cell<usize>,
    /// Weak-reference callbacks run.
    pub callbacks: Cell<usize>,
    /// Method calls made.
    pub calls: Cell<usize>,
    /// What the exit hooks did, in the order they ran.
    pub exit_log: RefCell<Vec<String>>,
}

/// The built-in types, created when the VM starts.
pub struct Builtins {
    /// `type`, whose type is itself.
    pub type_: Gc<Object>,
    /// `object`.
    pub object: Gc<Object>,
    /// `dict`.
    pub dict: Gc<Object>,
    /// `module`.
    pub module: Gc<Object>,
    /// `function`.
    pub function: Gc<Object>,
    /// `method`.
    pub method: Gc<Object>,
}

/// An interpreter: one heap, its built-in types and `sys.modules`.
pub struct Vm {
    /// The interpreter's heap (one per interpreter, as CPython's subinterpreters).
    pub heap: Heap,
    builtins: Option<Builtins>,
    /// `sys.modules`, cleared by an exit hook at teardown.
    modules: Rc<RefCell<Option<Gc<Object>>>>,
    /// Counters the workload's native code updates.
    pub stats: Rc<VmStats>,
    /// Weak references to classes, held by the interpreter (as CPython's type caches
    /// hold weak references to types): their callbacks run when a class is collected.
    watchers: Vec<Gc<WeakRef<Object>>>,
}

/// What [`Vm::run_workload`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkloadSummary {
    /// Objects created (all kinds).
    pub created: usize,
    /// Objects collected by the collections during the workload.
    pub collected: usize,
}

impl Default for Vm {
    fn default() -> Self {
        Vm::new()
    }
}

impl Vm {
    /// Starts an interpreter: a fresh heap and the built-in types.
    pub fn new() -> Vm {
        let heap = Heap::new();
        // `type` is the one object without an owning type (it would be itself).
        let type_ = heap.alloc(Object {
            kind: Kind::Type(new_type_data("type")),
        });
        add_to_mro(&type_, &[]);
        let mk = |name: &str, bases: &[&Gc<Object>]| {
            let t = heap.alloc_with_type(
                &type_,
                Object {
                    kind: Kind::Type(new_type_data(name)),
                },
            );
            add_to_mro(&t, bases);
            t
        };
        let object = mk("object", &[]);
        let dict = mk("dict", &[&object]);
        let module = mk("module", &[&object]);
        let function = mk("function", &[&object]);
        let method = mk("method", &[&object]);
        let builtins = Builtins {
            type_,
            object,
            dict,
            module,
            function,
            method,
        };
        let sys_modules = heap.alloc_with_type(
            &builtins.dict,
            Object {
                kind: Kind::Dict(Dict {
                    entries: RefCell::default(),
                }),
            },
        );
        let modules = Rc::new(RefCell::new(Some(sys_modules)));

        // Exit hooks run last-registered-first, before the final collections.
        let stats: Rc<VmStats> = Rc::default();
        let s = stats.clone();
        heap.at_exit(move || {
            s.exit_log
                .borrow_mut()
                .push("registered first, ran last".into())
        });
        let (m, s) = (modules.clone(), stats.clone());
        heap.at_exit(move || {
            // CPython's finalize_modules: drop sys.modules so modules become garbage
            // while everything is still intact.
            let names = m.borrow().as_ref().map_or_else(Vec::new, dict_keys);
            m.borrow_mut().take();
            s.exit_log.borrow_mut().push(format!(
                "cleared sys.modules ({} modules: {})",
                names.len(),
                names.join(", ")
            ));
        });
        Vm {
            heap,
            builtins: Some(builtins),
            modules,
            stats,
            watchers: Vec::new(),
        }
    }

    /// The built-in types.
    ///
    /// # Panics
    /// After [`teardown`](Vm::teardown).
    pub fn builtins(&self) -> &Builtins {
        self.builtins
            .as_ref()
            .expect("the interpreter has been torn down")
    }

    /// A new, empty dict object.
    pub fn new_dict(&self) -> Gc<Object> {
        self.heap.alloc_with_type(
            &self.builtins().dict,
            Object {
                kind: Kind::Dict(Dict {
                    entries: RefCell::default(),
                }),
            },
        )
    }

    /// A new module, registered in `sys.modules`.
    pub fn new_module(&self, name: &str) -> Gc<Object> {
        let dict = self.new_dict();
        set(&dict, "__name__", Value::Str(name.into()));
        let module = self.heap.alloc_with_type(
            &self.builtins().module,
            Object {
                kind: Kind::Module(ModuleData {
                    name: name.into(),
                    dict,
                }),
            },
        );
        if let Some(m) = self.modules.borrow().as_ref() {
            set(m, name, Value::Obj(module.clone()));
        }
        module
    }

    /// A new function in `module`, bound as a global of that module.
    pub fn new_function(&self, module: &Gc<Object>, name: &str, code: Code) -> Gc<Object> {
        let Kind::Module(m) = &module.kind else {
            panic!("not a module")
        };
        let func = self.heap.alloc_with_type(
            &self.builtins().function,
            Object {
                kind: Kind::Function(FunctionData {
                    name: name.into(),
                    globals: m.dict.clone(),
                    code,
                }),
            },
        );
        // globals["name"] = func: the function -> globals -> function cycle.
        set(&m.dict, name, Value::Obj(func.clone()));
        func
    }

    /// A new class (heap type) deriving from `object`, defined in `module`.
    pub fn new_class(
        &self,
        module: &Gc<Object>,
        name: &str,
        methods: &[(&str, &Gc<Object>)],
    ) -> Gc<Object> {
        let cls = self.heap.alloc_with_type(
            &self.builtins().type_,
            Object {
                kind: Kind::Type(new_type_data(name)),
            },
        );
        add_to_mro(&cls, &[&self.builtins().object]);
        let Kind::Type(t) = &cls.kind else {
            unreachable!()
        };
        let mut dict = t.dict.borrow_mut();
        // type -> module -> dict -> type: the cycle of seed 002.
        dict.insert("__module__".into(), Value::Obj(module.clone()));
        for (name, f) in methods {
            dict.insert((*name).into(), Value::Obj((*f).clone()));
        }
        drop(dict);
        let Kind::Module(m) = &module.kind else {
            panic!("not a module")
        };
        set(&m.dict, name, Value::Obj(cls.clone()));
        cls
    }

    /// A new instance of `cls` (which it keeps alive).
    pub fn new_instance(&self, cls: &Gc<Object>) -> Gc<Object> {
        let Kind::Type(t) = &cls.kind else {
            panic!("not a type")
        };
        let del = match t.dict.borrow().get("__del__") {
            Some(Value::Obj(f)) => Some(f.clone()),
            _ => None,
        };
        self.heap.alloc_with_type(
            cls,
            Object {
                kind: Kind::Instance(InstanceData {
                    dict: RefCell::default(),
                    del,
                }),
            },
        )
    }

    /// `instance.name` for a method: a new bound method object.
    pub fn bind(&self, instance: &Gc<Object>, function: &Gc<Object>) -> Gc<Object> {
        self.heap.alloc_with_type(
            &self.builtins().method,
            Object {
                kind: Kind::BoundMethod(BoundMethodData {
                    receiver: instance.clone(),
                    function: function.clone(),
                }),
            },
        )
    }

    /// Calls a bound method.
    pub fn call(&self, method: &Gc<Object>) -> Value {
        let Kind::BoundMethod(bm) = &method.kind else {
            panic!("not a bound method")
        };
        let Kind::Function(f) = &bm.function.kind else {
            panic!("not a function")
        };
        (f.code)(&[Value::Obj(bm.receiver.clone())])
    }

    /// The scripted workload: `rounds` times, create a module with two functions, a
    /// class (with `__del__` every other round), `per_round` instances with bound
    /// methods, weak references with callbacks between them, and a class attribute
    /// holding an instance; then drop the round's module from `sys.modules` so the
    /// whole round becomes cyclic garbage. `progress` is called after each round.
    pub fn run_workload(
        &mut self,
        rounds: usize,
        per_round: usize,
        mut progress: impl FnMut(&Vm),
    ) -> WorkloadSummary {
        let mut summary = WorkloadSummary::default();
        let before = self
            .heap
            .get_stats()
            .iter()
            .map(|s| s.collected)
            .sum::<usize>();
        for round in 0..rounds {
            let name = format!("mod{round}");
            let module = self.new_module(&name);
            let calls = self.stats.clone();
            let method = self.new_function(
                &module,
                "method",
                Rc::new(move |_| {
                    calls.calls.set(calls.calls.get() + 1);
                    Value::Int(1)
                }),
            );
            let dels = self.stats.clone();
            let del = self.new_function(
                &module,
                "__del__",
                Rc::new(move |_| {
                    dels.dels.set(dels.dels.get() + 1);
                    Value::None
                }),
            );
            let mut methods = vec![("method", &method)];
            if round % 2 == 0 {
                methods.push(("__del__", &del));
            }
            let cls = self.new_class(&module, &format!("C{round}"), &methods);
            summary.created += 5; // module, its dict, two functions, the class
                                  // The interpreter watches the class: the callback runs once it is collected.
            let cb = self.stats.clone();
            self.watchers.push(WeakRef::new(&cls, move || {
                cb.callbacks.set(cb.callbacks.get() + 1)
            }));
            self.watchers.retain(|w| w.is_armed());
            let mut prev: Option<Gc<Object>> = None;
            for i in 0..per_round {
                let inst = self.new_instance(&cls);
                // self.m = self.method: instance -> bound method -> instance.
                let bound = self.bind(&inst, &method);
                assert!(matches!(self.call(&bound), Value::Int(1)));
                set_attr(&inst, "m", Value::Obj(bound));
                summary.created += 2;
                if let Some(p) = &prev {
                    set_attr(&inst, "prev", Value::Obj(p.clone()));
                    if i % 3 == 0 {
                        // A weak reference between objects, with a callback.
                        let cb = self.stats.clone();
                        let wr = WeakRef::new(p, move || cb.callbacks.set(cb.callbacks.get() + 1));
                        set_attr(&inst, "watch", Value::Weak(wr));
                        summary.created += 1;
                    }
                }
                prev = Some(inst);
            }
            if let Some(last) = prev {
                // A class attribute holding an instance (`C.default = C()`).
                let Kind::Type(t) = &cls.kind else {
                    unreachable!()
                };
                t.dict
                    .borrow_mut()
                    .insert("default".into(), Value::Obj(last));
            }
            // "del sys.modules[name]": the round is now unreachable, and cyclic.
            if let Some(m) = self.modules.borrow().as_ref() {
                del_item(m, &name);
            }
            progress(self);
        }
        let after = self
            .heap
            .get_stats()
            .iter()
            .map(|s| s.collected)
            .sum::<usize>();
        summary.collected = after - before;
        summary
    }

    /// Interpreter shutdown: the built-in types are released, then the heap shuts
    /// down (exit hooks LIFO, collect until nothing is left, finalize and report what
    /// remains).
    pub fn teardown(&mut self) -> ShutdownReport {
        self.builtins = None;
        // Collect while the interpreter's weak references still watch the classes,
        // so that their callbacks run; then release them.
        self.heap.collect_until_stable(16);
        self.watchers.clear();
        self.heap.shutdown()
    }
}

/// What [`Vm::diagnose`] found.
#[derive(Debug)]
pub struct Diagnosis {
    /// The audit of the three conditions, as text.
    pub audit: String,
    /// The type the audit blames for the leak, if any.
    pub culprit: Option<&'static str>,
    /// The shortest chain of referrers explaining why the leaked type is alive.
    pub why_alive: Option<String>,
    /// Objects and references in the picture of the leaked subgraph.
    pub picture: (usize, usize),
}

impl Vm {
    /// What the interpreter itself holds from outside the heap on purpose: the
    /// built-in types, `sys.modules`, and its weak references. Everything else held
    /// from outside is a leak.
    pub fn roots(&self) -> Vec<GcAny> {
        let mut roots = Vec::new();
        if let Some(b) = &self.builtins {
            for t in [
                &b.type_,
                &b.object,
                &b.dict,
                &b.module,
                &b.function,
                &b.method,
            ] {
                roots.push(Gc::to_any(t));
            }
        }
        if let Some(m) = self.modules.borrow().as_ref() {
            roots.push(Gc::to_any(m));
        }
        roots.extend(self.watchers.iter().map(Gc::to_any));
        roots
    }

    /// Explains a leak with `gc-debug`: the audit of the three conditions (given the
    /// interpreter's own roots), `why_alive` for the first leaked object, and a
    /// Graphviz picture of the leaked subgraph written to `dot_path` (render it with
    /// `dot -Tsvg leak.dot -o leak.svg`).
    ///
    /// # Errors
    /// If the picture cannot be written.
    pub fn diagnose(&self, dot_path: &std::path::Path) -> std::io::Result<Diagnosis> {
        let roots = self.roots();
        let report = gc_debug::audit_with_roots(&self.heap, &roots);
        let culprit = report.culprits().first().map(|(t, _)| *t);
        let snapshot = gc_debug::Snapshot::take(&self.heap);
        let root_ids: Vec<usize> = roots.iter().map(GcAny::id).collect();
        let leak_roots: Vec<usize> = snapshot
            .held_from_outside()
            .map(|o| o.id)
            .filter(|id| !root_ids.contains(id))
            .collect();
        let leaked = snapshot.reachable_from(&leak_roots);
        std::fs::write(dot_path, leaked.to_dot())?;
        let why = leak_roots.first().and_then(|&id| {
            let obj = self.heap.objects(None).into_iter().find(|o| o.id() == id)?;
            gc_debug::why_alive(&self.heap, &obj).map(|p| p.to_string())
        });
        Ok(Diagnosis {
            audit: report.to_string(),
            culprit,
            why_alive: why,
            picture: (leaked.objects().len(), leaked.edges().len()),
        })
    }
}

impl Drop for Vm {
    /// Tears the interpreter down if [`teardown`](Vm::teardown) was not called: the
    /// built-in types reference themselves, and held past the heap's shutdown they
    /// would keep their memory.
    fn drop(&mut self) {
        if !self.heap.is_shut_down() {
            self.teardown();
        }
    }
}

fn new_type_data(name: &str) -> TypeData {
    TypeData {
        name: name.into(),
        mro: RefCell::default(),
        dict: RefCell::default(),
    }
}

/// `cls.__mro__ = (cls,) + bases' MROs`: every type references itself.
fn add_to_mro(cls: &Gc<Object>, bases: &[&Gc<Object>]) {
    let Kind::Type(t) = &cls.kind else {
        panic!("not a type")
    };
    let mut mro = vec![cls.clone()];
    for b in bases {
        let Kind::Type(bt) = &b.kind else {
            panic!("not a type")
        };
        mro.extend(bt.mro.borrow().iter().cloned());
    }
    *t.mro.borrow_mut() = mro;
}

fn set(dict: &Gc<Object>, key: &str, value: Value) {
    let Kind::Dict(d) = &dict.kind else {
        panic!("not a dict")
    };
    d.entries.borrow_mut().insert(key.into(), value);
}

fn del_item(dict: &Gc<Object>, key: &str) {
    let Kind::Dict(d) = &dict.kind else {
        panic!("not a dict")
    };
    let removed = d.entries.borrow_mut().remove(key);
    drop(removed);
}

fn dict_keys(dict: &Gc<Object>) -> Vec<String> {
    let Kind::Dict(d) = &dict.kind else {
        panic!("not a dict")
    };
    let mut keys: Vec<String> = d.entries.borrow().keys().cloned().collect();
    keys.sort();
    keys
}

fn set_attr(instance: &Gc<Object>, key: &str, value: Value) {
    let Kind::Instance(i) = &instance.kind else {
        panic!("not an instance")
    };
    i.dict.borrow_mut().insert(key.into(), value);
}

/// A native type written by hand, the way C extension types are, with the seeds'
/// bug: its traverse does not visit its own type.
pub mod broken {
    use super::*;

    /// A native object that stores its type itself (like `ob_type`) instead of being
    /// allocated with an owning type.
    pub struct NativeBuffer {
        /// The type object (a heap type that refers back to this instance).
        pub ty: Gc<Object>,
        /// Payload.
        pub data: Vec<u8>,
    }

    // SAFETY: reports fewer handles than it owns (it forgets `ty`), which is
    // memory-safe: the type and everything it reaches leak. This is the deliberate
    // bug of the example.
    unsafe impl Traverse for NativeBuffer {
        fn traverse(&self, _visitor: &mut Visitor<'_>) {
            // Missing: self.ty.traverse(visitor) -- CPython's missing Py_VISIT(Py_TYPE(self)).
        }
    }

    /// Creates the broken native type `Buffer` in a module: the type holds an
    /// instance as a class attribute (`Buffer.empty = Buffer()`), the instance holds
    /// its type through the field its traverse forgets.
    ///
    /// The module is then dropped from `sys.modules`, so the type, the module and the
    /// instance are unreachable: a correct traverse would let them be collected.
    pub fn define_buffer_type(vm: &Vm) {
        let module = vm.new_module("_buffer");
        let cls = vm.new_class(&module, "Buffer", &[]);
        let empty = vm.heap.alloc(NativeBuffer {
            ty: cls.clone(),
            data: vec![0; 16],
        });
        let Kind::Type(t) = &cls.kind else {
            unreachable!()
        };
        t.dict
            .borrow_mut()
            .insert("empty".into(), Value::Native(empty));
        if let Some(m) = vm.modules.borrow().as_ref() {
            del_item(m, "_buffer");
        }
    }
}
