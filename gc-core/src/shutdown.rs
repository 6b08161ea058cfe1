//! Heap shutdown: exit hooks, final collections, finalizers of what is left, and the
//! leak report.
//!
//! The sequence (also on [`Heap::shutdown`](crate::Heap::shutdown)):
//!
//! 1. Exit hooks, last registered first (`atexit`); a panicking hook is counted and
//!    the next one runs.
//! 2. The `DEBUG_SAVEALL` garbage list is released; the heap collects until a
//!    collection frees (and resurrects) nothing.
//! 3. What is left is reachable from a reference no traversal reports: a handle held
//!    outside the heap, or a `Traverse` impl that misses a field. Each such object is
//!    described in the [`LeakReport`], finalized (once, like everything else), has its
//!    weak references cleared and callbacks run, and becomes an **orphan**: detached
//!    from the heap, its handles dead (deref panics naming shutdown), its value
//!    destroyed when its last handle goes. Finalizers that allocate in the heap add
//!    objects that go through the same step.
//! 4. The heap refuses further allocations.
//!
//! Why orphans rather than destroying the values at once: the remaining objects are
//! exactly those reachable from references the collector cannot see, and a `&T`
//! borrowed through such a reference may be alive right now (`let r = &*g;
//! heap.shutdown(); use(r)`). Destroying the value would free it under the borrow.
//! Dead handles make every later access fail loudly instead, and no memory is freed
//! while a handle exists. The cost: a cycle among leaked objects keeps its memory (the
//! leak report names every member).

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use hashbrown::HashMap;

use crate::collect::CollectPhase;
use crate::heap::{Heap, Life};
use crate::raw::{trashcan, List, ObjPtr, HAS_CALLBACKS, ORPHAN, WEAK_CLEARED};
use crate::visitor::{Mode, Visitor};

/// The collections at shutdown stop after this many rounds even if each one still
/// frees something (a finalizer that allocates a new cycle every time).
const MAX_ROUNDS: usize = 100;

/// What heap shutdown did, and what it could not free.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Objects that were still referenced after the final collections.
    pub leaks: LeakReport,
    /// Collections run during shutdown.
    pub collections: usize,
    /// Objects they freed.
    pub collected: usize,
    /// Exit hooks, finalizers and callbacks that panicked (each was caught, and the
    /// shutdown went on).
    pub panics: usize,
}

/// The objects a shutdown found still referenced, with what the collector knows
/// about the references into each.
///
/// An object whose [`strong_count`](LeakedObject::strong_count) exceeds its
/// [`traversed_refs`](LeakedObject::traversed_refs) is held by references no
/// traversal reports: a handle outside the heap, or a `Traverse` impl that misses a
/// field (the type that misses it is usually a referrer of the leaked object, and
/// `gc-debug`'s audit names it).
#[derive(Clone, Debug, Default)]
pub struct LeakReport {
    objects: Vec<LeakedObject>,
}

/// One object in a [`LeakReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeakedObject {
    /// The value's type name.
    pub type_name: &'static str,
    /// Its address when it was reported (an identifier).
    pub id: usize,
    /// Strong handles to it (the shutdown's own reference not counted).
    pub strong_count: usize,
    /// How many of those the traversals of other remaining objects report.
    pub traversed_refs: usize,
    /// Type names of the remaining objects whose traversal reports it, one per
    /// reference.
    pub referrers: Vec<&'static str>,
}

impl LeakedObject {
    /// References no traversal accounts for: `strong_count - traversed_refs`.
    pub fn untraversed_refs(&self) -> usize {
        self.strong_count.saturating_sub(self.traversed_refs)
    }
}

impl LeakReport {
    /// Whether nothing leaked.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Number of leaked objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// The leaked objects.
    pub fn objects(&self) -> &[LeakedObject] {
        &self.objects
    }

    /// Leaked objects of the type whose name contains `type_name`.
    pub fn of_type<'a>(
        &'a self,
        type_name: &'a str,
    ) -> impl Iterator<Item = &'a LeakedObject> + 'a {
        self.objects
            .iter()
            .filter(move |o| o.type_name.contains(type_name))
    }
}

impl fmt::Display for LeakReport {
    /// A summary by type, then the objects held by references no traversal reports
    /// (the roots of the leak; at most 20 lines), each with its referrers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.objects.is_empty() {
            return writeln!(f, "leak report: nothing leaked");
        }
        let mut by_type: Vec<(&str, usize)> = Vec::new();
        for o in &self.objects {
            match by_type.iter_mut().find(|(t, _)| *t == o.type_name) {
                Some((_, n)) => *n += 1,
                None => by_type.push((o.type_name, 1)),
            }
        }
        let summary: Vec<String> = by_type.iter().map(|(t, n)| format!("{n} {t}")).collect();
        writeln!(
            f,
            "leak report: {} object(s) still referenced at shutdown: {}",
            self.objects.len(),
            summary.join(", ")
        )?;
        let roots: Vec<&LeakedObject> = self
            .objects
            .iter()
            .filter(|o| o.untraversed_refs() > 0)
            .collect();
        writeln!(
            f,
            "  held by references no traversal reports ({}):",
            roots.len()
        )?;
        for o in roots.iter().take(20) {
            write!(
                f,
                "    {} at {:#x}: {} strong, {} from traversals, {} unaccounted",
                o.type_name,
                o.id,
                o.strong_count,
                o.traversed_refs,
                o.untraversed_refs()
            )?;
            if !o.referrers.is_empty() {
                write!(f, "; referenced by {}", o.referrers.join(", "))?;
            }
            writeln!(f)?;
        }
        if roots.len() > 20 {
            writeln!(f, "    ... and {} more", roots.len() - 20)?;
        }
        Ok(())
    }
}

/// Runs the shutdown sequence once; later calls return the first report.
///
/// # Panics
/// If called while a collection of this heap is running (from a finalizer, `Drop`
/// or callback).
pub(crate) fn shutdown(heap: &Heap) -> ShutdownReport {
    let s = heap.state();
    match s.life.get() {
        Life::Running => {}
        Life::ShuttingDown => return ShutdownReport::default(),
        Life::Shut => return s.shutdown_report.borrow().clone().unwrap_or_default(),
    }
    assert!(
        !s.collecting.get() && s.in_collect_callbacks.get() != Some(CollectPhase::Start),
        "heap shutdown requested while one of its collections runs (from a finalizer, Drop or callback)"
    );
    // From a `Stop` callback the collection is over: the final collections run
    // (and call the callbacks again, whose nested shutdown request returns at once).
    let in_callbacks = s.in_collect_callbacks.take();
    let _keep = heap.clone();
    s.life.set(Life::ShuttingDown);
    let mut report = ShutdownReport::default();

    // 1. Exit hooks, LIFO; hooks registered by hooks run too.
    loop {
        let hook = s.exit_hooks.borrow_mut().pop();
        let Some((_, hook)) = hook else { break };
        if catch_unwind(AssertUnwindSafe(hook)).is_err() {
            report.panics += 1;
        }
    }

    // 2. Collect until nothing changes.
    heap.clear_garbage();
    for _ in 0..MAX_ROUNDS {
        match catch_unwind(AssertUnwindSafe(|| heap.collect())) {
            Ok(stats) => {
                report.collections += 1;
                report.collected += stats.collected;
                if stats.collected == 0 && stats.resurrected == 0 {
                    break;
                }
            }
            Err(_) => report.panics += 1,
        }
    }

    // 3. Orphan what is left (and what finalizers allocate meanwhile).
    let mut callbacks = Vec::new();
    let mut leaks = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let objs = s.all_objects(&List::LINKED);
        if objs.is_empty() {
            break;
        }
        leaks.extend(describe(&objs, s.sync_tag.get()));
        for &obj in &objs {
            s.unlink(obj);
            obj.inc_strong();
        }
        for &obj in &objs {
            if catch_unwind(AssertUnwindSafe(|| obj.finalize_once())).is_err() {
                report.panics += 1;
            }
        }
        for &obj in &objs {
            if obj.flags() & HAS_CALLBACKS != 0 {
                obj.clear_flag(HAS_CALLBACKS);
                callbacks.extend(
                    s.weak_callbacks
                        .borrow_mut()
                        .remove(&obj)
                        .unwrap_or_default(),
                );
            }
            obj.set_flag(ORPHAN | WEAK_CLEARED);
        }
        let released = catch_unwind(AssertUnwindSafe(|| {
            trashcan::run(|| {
                for &obj in &objs {
                    obj.unpin();
                }
            })
        }));
        if released.is_err() {
            report.panics += 1;
        }
    }
    report.leaks = LeakReport { objects: leaks };

    // 4. Closed.
    s.life.set(Life::Shut);
    let leftover_callbacks: Vec<_> = s
        .weak_callbacks
        .borrow_mut()
        .drain()
        .flat_map(|(_, v)| v)
        .collect();
    callbacks.extend(leftover_callbacks);
    for slot in callbacks {
        if catch_unwind(AssertUnwindSafe(|| slot.fire())).is_err() {
            report.panics += 1;
        }
    }
    let collect_callbacks = core::mem::take(&mut *s.collect_callbacks.borrow_mut());
    drop(collect_callbacks);
    let garbage_callbacks = core::mem::take(&mut *s.garbage_callbacks.borrow_mut());
    drop(garbage_callbacks);
    *s.shutdown_report.borrow_mut() = Some(report.clone());
    s.in_collect_callbacks.set(in_callbacks);
    report
}

/// Describes each object of `objs` with the references into it that the traversals
/// of the others report.
fn describe(objs: &[ObjPtr], sync_tag: usize) -> Vec<LeakedObject> {
    let index: HashMap<ObjPtr, usize> = objs.iter().enumerate().map(|(i, &o)| (o, i)).collect();
    let mut referrers: Vec<Vec<&'static str>> = vec![Vec::new(); objs.len()];
    let mut out = Vec::new();
    for &obj in objs {
        out.clear();
        obj.traverse(&mut Visitor::new(Mode::Referents {
            out: &mut out,
            sync_tag,
        }));
        for target in &out {
            if let Some(&i) = index.get(target) {
                referrers[i].push(obj.type_name());
            }
        }
    }
    objs.iter()
        .zip(referrers)
        .map(|(&obj, referrers)| LeakedObject {
            type_name: obj.type_name(),
            id: obj.as_non_null().as_ptr().addr(),
            strong_count: obj.strong() as usize,
            traversed_refs: referrers.len(),
            referrers,
        })
        .collect()
}
