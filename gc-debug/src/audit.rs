//! The audit: does each type in the heap collaborate with the collector?
//!
//! CPython's heap types must meet three conditions to be collectable (have the GC
//! flag, visit everything in `tp_traverse`, be tracked). Their Rust counterparts, and
//! what of each can be checked from a running heap:
//!
//! 1. **A type that holds handles is tracked.** Tracking follows from the type
//!    (`Traverse::IS_LEAF`), so what can go wrong is a hand-written impl that claims
//!    to be a leaf. Checkable when the leaf's traversal still reports the handles it
//!    holds ([`Finding::UntrackedHoldsHandles`]); a leaf that reports nothing is
//!    invisible and shows up under 2 instead.
//! 2. **Every reference into an object is accounted for**, by a traversal of a
//!    tracked object or by a handle held outside the heap. After you drop your
//!    handles, an object whose strong count exceeds the references traversals report
//!    is held by a field some `Traverse` impl skips ([`Finding::Unaccounted`]); the
//!    opposite, more reports than handles, means a handle visited twice or one not
//!    owned ([`Finding::OverReported`]). The skipped handle itself is invisible, so
//!    the type that skips it cannot be read off: the audit lists *suspects* (see
//!    [`Finding::Unaccounted`]).
//! 3. **Objects of tracked types are on the collector's lists.** gc-core links every
//!    tracked object at allocation, so no user type can break this; the check
//!    ([`Finding::NotInLists`]) guards the collector itself.
//!
//! Plus one warning: references to objects of another heap
//! ([`Finding::CrossHeap`]), through which cycles are never collected.

use core::any::TypeId;
use std::fmt;

use gc_core::{sync, GcAny, Heap};
use hashbrown::{HashMap, HashSet};

use crate::graph::{Graph, Kind};

/// Audits `heap`, assuming you hold no handle into it: every object held from
/// outside is reported. Use [`audit_with_roots`] to name the objects you hold on
/// purpose.
///
/// Calls every traversal. The heap is not changed (no collection is run: garbage
/// that is waiting for one has all its references accounted for, so it raises
/// nothing). A `RefCell` that is mutably borrowed while the audit runs reports no
/// handle, which shows up as [`Finding::Unaccounted`].
///
/// # Panics
/// If a `Traverse` impl panics (the heap is left as it was).
///
/// # Examples
///
/// A hand-written `Traverse` that forgets a field is named:
///
/// ```
/// use gc_core::{Gc, Heap, Traverse, Visitor};
/// use gc_debug::audit;
/// use std::cell::RefCell;
///
/// #[derive(Traverse)]
/// struct Item {
///     owner: RefCell<Option<Gc<Pair>>>,
/// }
///
/// struct Pair {
///     first: Gc<Item>,
///     second: RefCell<Option<Gc<Item>>>,
/// }
/// // SAFETY: reports fewer handles than `Pair` owns (it forgets `second`): this leaks,
/// // which is what the example shows, but is never unsound.
/// unsafe impl Traverse for Pair {
///     fn traverse(&self, visitor: &mut Visitor<'_>) {
///         visitor.visit(&self.first);
///     }
/// }
///
/// let heap = Heap::new();
/// let a = heap.alloc(Item { owner: RefCell::new(None) });
/// let b = heap.alloc(Item { owner: RefCell::new(None) });
/// let pair = heap.alloc(Pair { first: a.clone(), second: RefCell::new(Some(b.clone())) });
/// *a.owner.borrow_mut() = Some(pair.clone());
/// *b.owner.borrow_mut() = Some(pair.clone());
/// drop((a, b, pair));
/// heap.collect(); // frees nothing: `second` is a reference the collector cannot see
///
/// let report = audit(&heap);
/// let culprits = report.culprits();
/// assert_eq!(culprits.len(), 1);
/// assert!(culprits[0].0.ends_with("Pair")); // the type that skips a field
/// assert_eq!(culprits[0].1, 1); // one skipped handle
/// println!("{report}");
/// # // Break the leaked cycle so that the example frees everything.
/// # for obj in gc_debug::get_objects(&heap, None).unwrap() {
/// #     if let Ok(pair) = obj.downcast::<Pair>() { pair.second.borrow_mut().take(); }
/// # }
/// # assert_eq!(heap.collect().collected, 2);
/// ```
pub fn audit(heap: &Heap) -> AuditReport {
    audit_with_roots(heap, &[])
}

/// Audits `heap` as [`audit`], except that the objects of `roots` may be held from
/// outside the heap (you hold them on purpose): they raise no
/// [`Finding::Unaccounted`].
///
/// # Panics
/// If a `Traverse` impl panics (the heap is left as it was).
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::{audit, audit_with_roots};
///
/// let heap = Heap::new();
/// let list = heap.alloc(vec![heap.alloc(1u8)]);
/// assert_eq!(audit(&heap).findings().len(), 1); // `list` is held by this variable
/// assert!(audit_with_roots(&heap, &[Gc::to_any(&list)]).is_clean());
/// ```
pub fn audit_with_roots(heap: &Heap, roots: &[GcAny]) -> AuditReport {
    // Handles this function holds or knows about: each root (its `GcAny` in `roots`),
    // and each object of the `SAVEALL` garbage list (the list's handle and the clone
    // in `garbage`).
    let garbage = heap.garbage();
    let mut discount: HashMap<usize, usize> = HashMap::new();
    for g in &garbage {
        *discount.entry(g.id()).or_default() += 2;
    }
    for r in roots {
        *discount.entry(r.id()).or_default() += 1;
    }
    let discount: Vec<(usize, usize)> = discount.into_iter().collect();
    let graph = Graph::build(heap, &discount).0;
    drop(garbage);
    let excused: HashSet<usize> = roots.iter().map(GcAny::id).collect();
    report(&graph, &excused)
}

/// Audits a thread-safe heap as [`audit_with_roots`] does a single-threaded one:
/// the objects whose ids are in `roots` ([`sync::Gc::id`]) may be held from outside
/// the heap. Holds the heap lock while it walks the heap (other threads that use
/// the heap wait; this thread may hold it already).
///
/// # Panics
/// If a `Traverse` impl panics (the heap is left as it was).
///
/// # Examples
///
/// ```
/// use gc_core::sync::{Gc, Heap};
/// use gc_core::{Traverse, Visitor};
/// use gc_debug::audit_sync;
/// use std::sync::Mutex;
///
/// struct Pair {
///     first: Mutex<Option<Gc<Pair>>>,
///     second: Mutex<Option<Gc<Pair>>>,
/// }
/// // SAFETY: wrong on purpose: `second` is not reported (the audit's point).
/// unsafe impl Traverse for Pair {
///     fn traverse(&self, visitor: &mut Visitor<'_>) {
///         self.first.traverse(visitor);
///     }
/// }
///
/// let heap = Heap::new();
/// let a = heap.alloc(Pair { first: Mutex::new(None), second: Mutex::new(None) });
/// *a.read().second.lock().unwrap() = Some(a.clone()); // a cycle through the skipped field
/// assert!(audit_sync(&heap, &[Gc::id(&a)]).is_clean()); // `a` is ours: excused
/// # let weak = Gc::downgrade(&a);
/// drop(a);
/// assert_eq!(heap.collect().collected, 0); // the collector cannot see `second`
/// let report = audit_sync(&heap, &[]);
/// assert_eq!(report.culprits(), [(std::any::type_name::<Pair>(), 1)]);
/// # // Break the leaked cycle so that the example frees everything.
/// # let a = weak.upgrade().unwrap();
/// # let second = a.read().second.lock().unwrap().take();
/// # drop((second, a));
/// # assert_eq!(heap.tracked_count(), 0);
/// ```
pub fn audit_sync(heap: &sync::Heap, roots: &[usize]) -> AuditReport {
    let mut view = sync::HeapView::new(heap);
    let graph = Graph::from_view(&mut view, &[]);
    drop(view);
    report(&graph, &roots.iter().copied().collect())
}

/// The audit's findings and type summaries from the graph of a heap; the objects
/// in `excused` may be held from outside it.
fn report(graph: &Graph, excused: &HashSet<usize>) -> AuditReport {
    let nodes = &graph.nodes;
    let mut findings = Vec::new();
    // Types whose objects report handles to objects of a given type.
    let mut holders: HashMap<TypeId, HashSet<TypeId>> = HashMap::new();
    for s in nodes {
        for &t in &s.edges {
            holders
                .entry(nodes[t].type_id)
                .or_default()
                .insert(s.type_id);
        }
    }
    let mut cross_heap: Vec<((&'static str, &'static str), usize)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        match node.kind {
            Kind::Untracked if !node.edges.is_empty() => {
                findings.push(Finding::UntrackedHoldsHandles {
                    type_name: node.type_name,
                    id: node.id,
                    handles: node.edges.len(),
                });
            }
            Kind::Heap { .. } => {
                let reported = node.referrers.len();
                if reported > node.strong_count {
                    findings.push(Finding::OverReported {
                        type_name: node.type_name,
                        id: node.id,
                        strong_count: node.strong_count,
                        traversed_refs: reported,
                        referrers: over_reporters(graph, i),
                    });
                } else if reported + node.untracked_reports < node.strong_count
                    && !excused.contains(&node.id)
                {
                    findings.push(Finding::Unaccounted {
                        type_name: node.type_name,
                        id: node.id,
                        strong_count: node.strong_count,
                        traversed_refs: reported,
                        untracked_refs: node.untracked_reports,
                        suspects: suspects(graph, i, &holders),
                    });
                }
                for &t in &node.edges {
                    if nodes[t].kind == Kind::OtherHeap {
                        let key = (node.type_name, nodes[t].type_name);
                        match cross_heap.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, n)) => *n += 1,
                            None => cross_heap.push((key, 1)),
                        }
                    }
                }
            }
            Kind::Unlisted if !graph.during_collection => {
                findings.push(Finding::NotInLists {
                    type_name: node.type_name,
                    id: node.id,
                });
            }
            _ => {}
        }
    }
    for ((from, to), references) in cross_heap {
        findings.push(Finding::CrossHeap {
            type_name: from,
            target_type: to,
            references,
        });
    }

    let mut types: Vec<TypeSummary> = Vec::new();
    for node in nodes {
        let tracked = match node.kind {
            Kind::Heap { .. } => true,
            Kind::Untracked => false,
            _ => continue,
        };
        match types
            .iter_mut()
            .find(|t| t.type_name == node.type_name && t.tracked == tracked)
        {
            Some(t) => t.objects += 1,
            None => types.push(TypeSummary {
                type_name: node.type_name,
                objects: 1,
                tracked,
                problems: 0,
            }),
        }
    }
    for f in &findings {
        if let Some(culprit) = f.culprit() {
            if let Some(t) = types.iter_mut().find(|t| t.type_name == culprit) {
                t.problems += 1;
            }
        }
    }
    AuditReport { types, findings }
}

/// The types of the objects whose traversal reports node `u`, those that report it
/// more than once first (a double visit), each type once.
fn over_reporters(graph: &Graph, u: usize) -> Vec<&'static str> {
    let mut per_referrer: Vec<(usize, usize)> = Vec::new();
    for &r in &graph.nodes[u].referrers {
        match per_referrer.iter_mut().find(|(x, _)| *x == r) {
            Some((_, n)) => *n += 1,
            None => per_referrer.push((r, 1)),
        }
    }
    per_referrer.sort_by_key(|&(_, n)| core::cmp::Reverse(n));
    let mut out: Vec<&'static str> = Vec::new();
    for (r, _) in per_referrer {
        let name = graph.nodes[r].type_name;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The suspects for the references into node `u` that no traversal reports: the
/// types of the live objects reachable from `u` through reported references (`u`
/// included), each once, likeliest first.
///
/// Why these: with your handles dropped, the object that holds the invisible handle
/// is alive only because something keeps it alive, and the invisible handle usually
/// closes the cycle that does (`u` → … → holder → `u`), so the holder is reachable
/// from `u`. Each such object is ranked, and a type takes the rank of its best
/// object:
///
/// 1. objects of a type seen reporting handles to objects of `u`'s type (somewhere in
///    the heap) that do not report `u` itself: a type that visits `first` and forgets
///    `second`, the usual way a hand-written impl goes wrong;
/// 2. objects of such a type that already report `u` (they would hold it twice);
/// 3. the others.
///
/// Types whose `Traverse` is written by hand come before all derived ones (a derived
/// traversal visits every field it is not explicitly told to skip), then the tiers
/// decide; ties go to objects of another type than `u`'s (the missing visit is more
/// often in a neighbouring type), then to the nearest to `u`. Values smaller
/// than a pointer cannot hold a handle and are left out.
fn suspects(
    graph: &Graph,
    u: usize,
    holders: &HashMap<TypeId, HashSet<TypeId>>,
) -> Vec<&'static str> {
    let nodes = &graph.nodes;
    let own = nodes[u].type_id;
    let holds_own = holders.get(&own);
    // (rank, type name, type id), best rank per type.
    // (hand-written last? i.e. trusted, tier, own type, distance): smaller is likelier.
    type Rank = (bool, u8, bool, usize);
    let mut ranked: Vec<(Rank, &'static str, TypeId)> = Vec::new();
    for (distance, i) in graph.reachable_from(&[u]).into_iter().enumerate() {
        let n = &nodes[i];
        // Other heaps, dead handles and a running collection's objects are not
        // candidates; nor are values smaller than a pointer, which cannot hold one.
        if !matches!(n.kind, Kind::Heap { .. } | Kind::Untracked)
            || n.size < core::mem::size_of::<usize>()
        {
            continue;
        }
        let tier = match holds_own.is_some_and(|h| h.contains(&n.type_id)) {
            true if !n.edges.contains(&u) => 0,
            true => 1,
            false => 2,
        };
        let rank = (n.trusted, tier, n.type_id == own, distance);
        match ranked.iter_mut().find(|r| r.2 == n.type_id) {
            Some(r) => r.0 = r.0.min(rank),
            None => ranked.push((rank, n.type_name, n.type_id)),
        }
    }
    ranked.sort_by_key(|r| r.0);
    ranked.into_iter().map(|r| r.1).collect()
}

/// What [`audit`] found.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::{audit, Finding};
///
/// let heap = Heap::new();
/// let list = heap.alloc(vec![heap.alloc(1u8)]);
/// let report = audit(&heap); // `list` is held by a variable, not by the heap
/// assert!(!report.is_clean());
/// let list_type = std::any::type_name::<Vec<Gc<u8>>>();
/// assert!(matches!(
///     report.findings(),
///     [Finding::Unaccounted { type_name, strong_count: 1, traversed_refs: 0, .. }]
///         if *type_name == list_type
/// ));
/// assert_eq!(report.culprits(), [(list_type, 1)]); // its only suspect: itself
/// assert_eq!(report.types().len(), 2); // the list, and the untracked u8
/// # drop(list);
/// ```
#[derive(Clone, Debug, Default)]
pub struct AuditReport {
    types: Vec<TypeSummary>,
    findings: Vec<Finding>,
}

/// One type present in an audited heap.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypeSummary {
    /// The type's name.
    pub type_name: &'static str,
    /// Its objects in the heap (untracked ones: those reached from tracked objects).
    pub objects: usize,
    /// Whether they are tracked.
    pub tracked: bool,
    /// Findings that name it as the culprit.
    pub problems: usize,
}

/// One problem found by [`audit`].
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Heap};
/// use gc_debug::{audit_with_roots, Finding};
///
/// let (heap, other) = (Heap::new(), Heap::new());
/// let list = heap.alloc(vec![other.alloc(Vec::<Gc<u8>>::new())]);
/// let report = audit_with_roots(&heap, &[Gc::to_any(&list)]);
/// let finding = &report.findings()[0];
/// assert!(matches!(finding, Finding::CrossHeap { references: 1, .. }));
/// assert_eq!(finding.culprit(), Some(std::any::type_name::<Vec<Gc<Vec<Gc<u8>>>>>()));
/// assert_eq!(finding.references(), 1);
/// println!("{finding}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// An untracked value whose traversal reports handles: its type's `Traverse`
    /// says `IS_LEAF = true` but it holds handles. Collections never traverse it, so
    /// its handles look like outside references and a cycle through it leaks.
    UntrackedHoldsHandles {
        /// The lying type.
        type_name: &'static str,
        /// The value's id.
        id: usize,
        /// The handles its traversal reports.
        handles: usize,
    },
    /// An object with more strong handles than the traversals of the heap report:
    /// held from outside the heap (a handle you still hold, a `thread_local!`, a
    /// `static`, another heap's object, an `Rc` inside a value), or by a field that a
    /// `Traverse` impl skips.
    ///
    /// Which impl skips it cannot be observed, since the skipped handle is
    /// invisible. `suspects` lists the types of the live objects reachable from this
    /// one through reported references (the holder of the skipped handle usually
    /// closes the cycle that keeps this object alive), likeliest first: types seen
    /// reporting handles of this object's type elsewhere, from objects that do not
    /// report this one (a hand-written impl that visits `first` and forgets
    /// `second`); then those whose objects already report it; then the rest; the
    /// object's own type and farther objects last within each rank. The first
    /// suspect is a guess, right in the common case, not a proof.
    Unaccounted {
        /// The object's type.
        type_name: &'static str,
        /// The object's id.
        id: usize,
        /// Its strong handles (the audit's own and the roots' not counted).
        strong_count: usize,
        /// How many of them the traversals of the heap's tracked objects report.
        traversed_refs: usize,
        /// How many of them untracked values report (each such value is its own
        /// [`Finding::UntrackedHoldsHandles`]); the rest are unreported.
        untracked_refs: usize,
        /// Types that may hold the unreported handles, likeliest first.
        suspects: Vec<&'static str>,
    },
    /// An object that traversals report more often than it has handles: a
    /// `Traverse` impl visits a handle twice or one it does not own (breaking its
    /// safety contract; a collection would panic on `gc_refs` underflow or free the
    /// object while it is referenced).
    OverReported {
        /// The object's type.
        type_name: &'static str,
        /// The object's id.
        id: usize,
        /// Its strong handles.
        strong_count: usize,
        /// The references traversals report.
        traversed_refs: usize,
        /// Types of the objects that report it, those reporting it more than once
        /// first.
        referrers: Vec<&'static str>,
    },
    /// A tracked object of this heap on none of its lists, outside a collection: a
    /// collector bug (no user type can cause it).
    NotInLists {
        /// The object's type.
        type_name: &'static str,
        /// The object's id.
        id: usize,
    },
    /// Objects of this heap hold handles to objects of another heap: those are
    /// outside references to the other heap, so a cycle through both heaps is never
    /// collected.
    CrossHeap {
        /// The type holding the handles.
        type_name: &'static str,
        /// The type of the objects in the other heap.
        target_type: &'static str,
        /// How many such references.
        references: usize,
    },
}

impl Finding {
    /// The type this finding blames, if any: the lying leaf, the first suspect, the
    /// first over-reporting referrer, the type holding cross-heap handles.
    pub fn culprit(&self) -> Option<&'static str> {
        match self {
            Finding::UntrackedHoldsHandles { type_name, .. }
            | Finding::CrossHeap { type_name, .. } => Some(type_name),
            Finding::Unaccounted { suspects, .. } => suspects.first().copied(),
            Finding::OverReported { referrers, .. } => referrers.first().copied(),
            Finding::NotInLists { .. } => None,
        }
    }

    /// The number of references the finding is about: the handles of a lying leaf,
    /// the unreported references, the extra reports, the cross-heap references.
    pub fn references(&self) -> usize {
        match *self {
            Finding::UntrackedHoldsHandles { handles, .. } => handles,
            Finding::Unaccounted {
                strong_count,
                traversed_refs,
                untracked_refs,
                ..
            } => strong_count - traversed_refs - untracked_refs,
            Finding::OverReported {
                strong_count,
                traversed_refs,
                ..
            } => traversed_refs - strong_count,
            Finding::NotInLists { .. } => 0,
            Finding::CrossHeap { references, .. } => references,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::UntrackedHoldsHandles {
                type_name,
                id,
                handles,
            } => write!(
                f,
                "`{type_name}` at {id:#x} is untracked (its Traverse says IS_LEAF) but reports \
                 {handles} handle(s): collections never see them, so a cycle through it leaks"
            ),
            Finding::Unaccounted {
                type_name,
                id,
                strong_count,
                traversed_refs,
                suspects,
                ..
            } => {
                write!(
                    f,
                    "`{type_name}` at {id:#x}: {} reference(s) no traversal reports \
                     ({strong_count} strong, {traversed_refs} reported): held from outside the \
                     heap, or by a field a Traverse impl skips",
                    self.references()
                )?;
                if let Some((first, rest)) = suspects.split_first() {
                    write!(f, "; likely `{first}`")?;
                    if !rest.is_empty() {
                        let shown: Vec<String> =
                            rest.iter().take(4).map(|s| format!("`{s}`")).collect();
                        write!(f, ", then {}", shown.join(", "))?;
                        if rest.len() > 4 {
                            write!(f, " and {} more", rest.len() - 4)?;
                        }
                    }
                }
                Ok(())
            }
            Finding::OverReported {
                type_name,
                id,
                strong_count,
                traversed_refs,
                referrers,
            } => write!(
                f,
                "`{type_name}` at {id:#x}: traversals report {traversed_refs} reference(s) but it \
                 has {strong_count} handle(s): a Traverse impl visits a handle twice or one it does \
                 not own (reported by {})",
                referrers
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Finding::NotInLists { type_name, id } => write!(
                f,
                "`{type_name}` at {id:#x} is tracked by this heap but on none of its lists \
                 (a collector bug)"
            ),
            Finding::CrossHeap {
                type_name,
                target_type,
                references,
            } => write!(
                f,
                "`{type_name}` holds {references} handle(s) to `{target_type}` objects of another \
                 heap: a cycle through both heaps is never collected"
            ),
        }
    }
}

impl AuditReport {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// What was found, per object (cross-heap references per pair of types).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The types present, in the order first met (tracked objects young generation
    /// first, then untracked values reached from them).
    pub fn types(&self) -> &[TypeSummary] {
        &self.types
    }

    /// The blamed types, each with the number of references it is blamed for (for a
    /// type that skips fields: the skipped handles found), in the order first met.
    pub fn culprits(&self) -> Vec<(&'static str, usize)> {
        let mut out: Vec<(&'static str, usize)> = Vec::new();
        for f in &self.findings {
            if let Some(c) = f.culprit() {
                match out.iter_mut().find(|(t, _)| *t == c) {
                    Some((_, n)) => *n += f.references(),
                    None => out.push((c, f.references())),
                }
            }
        }
        out
    }
}

impl fmt::Display for AuditReport {
    /// A summary line, then one line per finding (at most 20).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let objects: usize = self.types.iter().map(|t| t.objects).sum();
        write!(
            f,
            "audit: {objects} object(s) of {} type(s): ",
            self.types.len()
        )?;
        if self.findings.is_empty() {
            return writeln!(f, "no problem found");
        }
        let culprits: Vec<String> = self
            .culprits()
            .iter()
            .map(|(t, n)| format!("`{t}` ({n})"))
            .collect();
        writeln!(f, "{} finding(s)", self.findings.len())?;
        if !culprits.is_empty() {
            writeln!(f, "  blamed: {}", culprits.join(", "))?;
        }
        for finding in self.findings.iter().take(20) {
            writeln!(f, "  {finding}")?;
        }
        if self.findings.len() > 20 {
            writeln!(f, "  ... and {} more", self.findings.len() - 20)?;
        }
        Ok(())
    }
}
