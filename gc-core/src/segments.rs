//! List labels and segments: how a whole young generation moves to `Old` in O(1).
//!
//! Each tracked object's flags hold a 5-bit label saying which list it is on
//! ([`List`]). Labels below [`FIRST_SEGMENT`] are fixed (the label is the list). The
//! others are *segments*: this table maps each to `Young`, `Middle` or `Old` (or marks
//! it free). Each young list is exactly one segment — every object linked onto it
//! gets the list's current segment label — so when a collection moves a young list
//! that holds no suspect to `Old` unexamined (`promote_unexamined`), it splices the
//! list onto `Old` and remaps the segment, touching two objects instead of relabelling
//! each; the young list gets a free segment.
//!
//! On `Old` a segment is a *run*: nothing is ever linked into the middle of a list
//! (links go to the front), so the objects of a segment stay contiguous; its first
//! and last objects and its length are kept up to date as objects leave. When no
//! segment is free, the shortest run on `Old` is relabelled with the fixed `Old`
//! label and its segment reused: an object is relabelled at most once on `Old`, and
//! only if it stays there while many younger lists arrive.
//!
//! What an object's first lost reference does depends on its list (`raw.rs`,
//! `release_strong`): an object with a segment label and no suspect mark takes the
//! out-of-line path, which looks the segment up here. A spliced list holds no
//! suspect, so every object on an `Old` segment is unmarked and its first lost
//! reference is seen.

use core::cell::Cell;

use crate::raw::{List, ObjPtr, FIRST_SEGMENT, LABELS};

/// Young lists shorter than this are relabelled object by object when promoted (as
/// cheap as a splice, and it keeps segments free). Debug builds splice every
/// non-empty list, so the test suite exercises splicing and segment reuse.
pub(crate) const SPLICE_MIN: usize = if cfg!(debug_assertions) { 1 } else { 256 };

/// The label table of one heap, with the bookkeeping of segment runs.
pub(crate) struct Labels {
    /// The list of each label: fixed labels map to their own list, a segment to
    /// `Young`, `Middle` or `Old`, or `Detached` while free.
    list: [Cell<List>; LABELS],
    /// For each list (`List as usize`), the mask of the labels mapped to it.
    masks: [Cell<u32>; 8],
    /// The label an object linked onto each linked list gets (`List as usize`).
    link_label: [Cell<u32>; 5],
    /// The last object of `Young` and `Middle` (their one segment's run).
    tails: [Cell<Option<ObjPtr>>; 2],
    /// For a segment on `Old`: the first and last object of its run, and its length.
    first: [Cell<Option<ObjPtr>>; LABELS],
    last: [Cell<Option<ObjPtr>>; LABELS],
    len: [Cell<usize>; LABELS],
}

impl Labels {
    pub(crate) fn new() -> Labels {
        let labels = Labels {
            list: core::array::from_fn(|_| Cell::new(List::Detached)),
            masks: Default::default(),
            link_label: core::array::from_fn(|l| Cell::new(l as u32)),
            tails: Default::default(),
            first: Default::default(),
            last: Default::default(),
            len: Default::default(),
        };
        for label in 0..FIRST_SEGMENT {
            labels.map(label, List::from_fixed_label(label));
        }
        for (young, segment) in [
            (List::Young, FIRST_SEGMENT),
            (List::Middle, FIRST_SEGMENT + 1),
        ] {
            labels.map(segment, young);
            labels.link_label[young as usize].set(segment);
        }
        labels
    }

    /// Maps `label` to `list`.
    fn map(&self, label: u32, list: List) {
        let old = self.list[label as usize].replace(list);
        let bit = 1 << label;
        let m = &self.masks[old as usize];
        m.set(m.get() & !bit);
        let m = &self.masks[list as usize];
        m.set(m.get() | bit);
    }

    /// The list of an object with this label.
    #[inline]
    pub(crate) fn list_of(&self, label: u32) -> List {
        let list = self.list[label as usize].get();
        debug_assert!(
            label < FIRST_SEGMENT || list != List::Detached,
            "an object carries the free segment label {label}"
        );
        list
    }

    /// The labels of the objects on `lists`, as a bit mask.
    pub(crate) fn mask_of(&self, lists: &[List]) -> u32 {
        lists
            .iter()
            .fold(0, |mask, &l| mask | self.masks[l as usize].get())
    }

    /// The list a label maps to, `Detached` for a free segment (tests).
    #[cfg(test)]
    pub(crate) fn list_of_raw(&self, label: u32) -> List {
        self.list[label as usize].get()
    }

    /// The label of objects linked onto `list` (a linked list).
    #[inline]
    pub(crate) fn link_label(&self, list: List) -> u32 {
        self.link_label[list as usize].get()
    }

    /// After a chain of objects carrying `list`'s link label, whose last object is
    /// `last`, was put at the front of `list` (empty before if `was_empty`).
    #[inline]
    pub(crate) fn chain_linked(&self, list: List, last: ObjPtr, was_empty: bool) {
        if !list.is_fixed() && was_empty {
            self.tails[list as usize].set(Some(last));
        }
    }

    /// After `obj`, whose label was `label`, was unlinked from `list`; `prev` and
    /// `next` were its neighbours.
    #[inline]
    pub(crate) fn unlinked(
        &self,
        list: List,
        label: u32,
        obj: ObjPtr,
        prev: Option<ObjPtr>,
        next: Option<ObjPtr>,
    ) {
        if !list.is_fixed() {
            if next.is_none() {
                self.tails[list as usize].set(prev);
            }
        } else if label >= FIRST_SEGMENT {
            self.left_run(label, obj, prev, next);
        }
    }

    /// `obj` left the run of segment `s` on `Old`.
    fn left_run(&self, s: u32, obj: ObjPtr, prev: Option<ObjPtr>, next: Option<ObjPtr>) {
        let i = s as usize;
        let len = self.len[i].get() - 1;
        self.len[i].set(len);
        if len == 0 {
            self.free(s);
            return;
        }
        if self.first[i].get() == Some(obj) {
            self.first[i].set(next);
        }
        if self.last[i].get() == Some(obj) {
            self.last[i].set(prev);
        }
        debug_assert!(self.first[i].get().is_some_and(|o| o.label() == s));
        debug_assert!(self.last[i].get().is_some_and(|o| o.label() == s));
    }

    fn free(&self, s: u32) {
        let i = s as usize;
        self.map(s, List::Detached);
        self.first[i].set(None);
        self.last[i].set(None);
        self.len[i].set(0);
    }

    /// Forgets the last object of `list`, or for `Old` its runs (the whole list was
    /// taken off: its objects are relabelled by the caller).
    #[inline]
    pub(crate) fn list_taken(&self, list: List) {
        if !list.is_fixed() {
            self.tails[list as usize].set(None);
        } else if list == List::Old {
            for s in FIRST_SEGMENT..LABELS as u32 {
                if self.list[s as usize].get() == List::Old {
                    self.free(s);
                }
            }
        }
    }

    /// Splices the whole young list `from` (`len` objects, starting at `first`; none
    /// is a suspect) onto the front of `Old`, whose first object is `old_head`. The
    /// caller has taken `from`'s head, makes `first` the head of `Old` and moves the
    /// counts.
    pub(crate) fn splice_onto_old(
        &self,
        from: List,
        first: ObjPtr,
        len: usize,
        old_head: Option<ObjPtr>,
    ) {
        debug_assert!(!from.is_fixed() && len > 0);
        let s = self.link_label(from);
        let last = self.tails[from as usize]
            .take()
            .expect("a non-empty young list has a last object");
        // A fresh segment for `from` first: reusing one relabels a run on `Old`, which
        // must not be the one spliced now.
        let fresh = self.free_segment();
        self.map(fresh, from);
        self.link_label[from as usize].set(fresh);

        last.set_next_in_list(old_head);
        if let Some(h) = old_head {
            h.set_prev_in_list(Some(last));
        }
        let i = s as usize;
        self.map(s, List::Old);
        self.first[i].set(Some(first));
        self.last[i].set(Some(last));
        self.len[i].set(len);
    }

    /// A free segment; if there is none, the shortest run on `Old` is relabelled
    /// `Old` and its segment freed.
    fn free_segment(&self) -> u32 {
        let segments = FIRST_SEGMENT..LABELS as u32;
        if let Some(s) = segments
            .clone()
            .find(|&s| self.list[s as usize].get() == List::Detached)
        {
            return s;
        }
        let s = segments
            .filter(|&s| self.list[s as usize].get() == List::Old)
            .min_by_key(|&s| self.len[s as usize].get())
            .expect("with every segment taken, all but the two young ones are on Old");
        let i = s as usize;
        let mut cur = self.first[i].get();
        for _ in 0..self.len[i].get() {
            let obj = cur.expect("a segment run is as long as its length says");
            debug_assert_eq!(obj.label(), s);
            obj.set_list(List::Old);
            cur = obj.next_in_list();
        }
        debug_assert!(cur.is_none_or(|o| o.label() != s));
        self.free(s);
        s
    }

    /// Checks the bookkeeping against the lists (debug builds, small heaps): every
    /// linked object's label maps to the list it is on, the young tails are right,
    /// and each run on `Old` is contiguous and as long as recorded.
    #[cfg(debug_assertions)]
    pub(crate) fn check(&self, heads: &[Cell<Option<ObjPtr>>; 5], lens: &[Cell<usize>; 5]) {
        let mut counted = [0usize; LABELS];
        for list in List::LINKED {
            let before: usize = counted.iter().sum();
            let mut cur = heads[list as usize].get();
            let mut last = None;
            let mut prev_label = None;
            while let Some(obj) = cur {
                let label = obj.label();
                assert_eq!(
                    self.list_of(label),
                    list,
                    "{obj:?} has a label of another list"
                );
                if label >= FIRST_SEGMENT && list == List::Old {
                    if prev_label != Some(label) {
                        assert_eq!(self.first[label as usize].get(), Some(obj));
                    }
                    if obj.next_in_list().is_none_or(|n| n.label() != label) {
                        assert_eq!(self.last[label as usize].get(), Some(obj));
                    }
                }
                counted[label as usize] += 1;
                prev_label = Some(label);
                last = Some(obj);
                cur = obj.next_in_list();
            }
            if !list.is_fixed() {
                assert_eq!(self.tails[list as usize].get(), last, "{list:?} tail");
            }
            let on_list: usize = counted.iter().sum::<usize>() - before;
            assert_eq!(on_list, lens[list as usize].get(), "length of {list:?}");
        }
        for list in List::LINKED {
            let mask = (0..LABELS as u32)
                .filter(|&l| self.list[l as usize].get() == list)
                .fold(0, |m, l| m | 1 << l);
            assert_eq!(
                self.masks[list as usize].get(),
                mask,
                "label mask of {list:?}"
            );
        }
        for (s, &n) in counted.iter().enumerate().skip(FIRST_SEGMENT as usize) {
            if self.list[s].get() == List::Old {
                assert_eq!(self.len[s].get(), n, "run length of segment {s}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::Heap;
    use crate::visitor::Visitor;
    use crate::{Gc, Traverse};
    use core::cell::RefCell;
    use std::rc::Rc;

    /// A node with one edge, counting its drops.
    struct Node {
        next: RefCell<Option<Gc<Node>>>,
        drops: Rc<Cell<usize>>,
    }

    // SAFETY: reports the one handle the node owns, once.
    unsafe impl Traverse for Node {
        fn traverse(&self, visitor: &mut Visitor<'_>) {
            self.next.traverse(visitor);
        }
    }

    impl Drop for Node {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }

    fn node(heap: &Heap, drops: &Rc<Cell<usize>>) -> Gc<Node> {
        heap.alloc(Node {
            next: RefCell::new(None),
            drops: drops.clone(),
        })
    }

    /// A full collection moves a young list onto `Old` by remapping its segment: the
    /// objects keep their label, now an `Old` segment's, and report generation 2. A
    /// first lost reference to one of them moves it to `Pending`, and garbage among
    /// them is found by the next full collection.
    #[test]
    #[cfg_attr(
        not(debug_assertions),
        ignore = "splices small lists: needs debug builds' SPLICE_MIN of 1"
    )]
    fn a_full_collection_splices_the_young_lists_onto_old() {
        let heap = Heap::new();
        heap.disable();
        let drops = Rc::new(Cell::new(0));
        let nodes: Vec<_> = (0..4).map(|_| node(&heap, &drops)).collect();
        let young_label = nodes[0].obj().label();
        assert!(young_label >= FIRST_SEGMENT);
        assert_eq!(heap.state().labels.list_of(young_label), List::Young);

        let stats = heap.collect();
        assert_eq!(stats.candidates, 0, "no suspect: nothing examined");
        for n in &nodes {
            assert_eq!(n.obj().label(), young_label, "not relabelled");
            assert_eq!(n.obj().list(), List::Old);
        }
        assert_eq!(heap.state().labels.list_of(young_label), List::Old);
        let fresh = heap.state().labels.link_label(List::Young);
        assert_ne!(fresh, young_label, "the young list got a fresh segment");
        assert_eq!(node(&heap, &drops).obj().label(), fresh);

        // A two-node cycle among the spliced objects, then its handles dropped.
        *nodes[0].next.borrow_mut() = Some(nodes[1].clone());
        *nodes[1].next.borrow_mut() = Some(nodes[0].clone());
        let mut nodes = nodes.into_iter();
        let (a, b) = (nodes.next().unwrap(), nodes.next().unwrap());
        drop(a);
        drop(b);
        assert_eq!(drops.get(), 1, "only the unnamed young node was freed");
        let stats = heap.collect();
        assert_eq!((stats.candidates, stats.collected), (2, 2));
        assert_eq!(drops.get(), 3);
        drop(nodes);
        assert_eq!(drops.get(), 5);
    }

    /// A deterministic random mix of allocations, links, drops and collections of
    /// every generation (and a freeze and unfreeze now and then): objects leave runs at their ends
    /// and middles, runs are spliced and reused. Debug builds check every list and
    /// run after each collection (`Labels::check`); at the end every node is freed
    /// exactly once.
    #[test]
    #[cfg_attr(
        not(debug_assertions),
        ignore = "splices small lists: needs debug builds' SPLICE_MIN of 1"
    )]
    fn random_churn_keeps_runs_consistent() {
        let heap = Heap::new();
        heap.disable();
        let drops = Rc::new(Cell::new(0));
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut live: Vec<Gc<Node>> = Vec::new();
        let mut allocated = 0;
        let steps = if cfg!(miri) { 40 } else { 600 };
        for step in 0..steps {
            for _ in 0..rand(8) {
                live.push(node(&heap, &drops));
                allocated += 1;
            }
            for _ in 0..rand(4) {
                if live.len() >= 2 {
                    let (a, b) = (rand(live.len()), rand(live.len()));
                    *live[a].next.borrow_mut() = Some(live[b].clone());
                }
            }
            for _ in 0..rand(5) {
                if !live.is_empty() {
                    live.swap_remove(rand(live.len()));
                }
            }
            match step % 200 {
                150 => heap.freeze(),
                175 => heap.unfreeze(),
                _ => {
                    heap.collect_generation([0, 1, 2, 2][rand(4)]);
                }
            }
            if step % 200 == 99 {
                assert!(
                    labels_in_use(&heap) > 2,
                    "segments are in use on Old (step {step})"
                );
            }
        }
        heap.unfreeze();
        drop(live);
        heap.collect();
        assert_eq!(drops.get(), allocated, "every node freed exactly once");
    }

    fn labels_in_use(heap: &Heap) -> usize {
        let labels = &heap.state().labels;
        (FIRST_SEGMENT..LABELS as u32)
            .filter(|&s| labels.list_of_raw(s) != List::Detached)
            .count()
    }

    /// With every segment taken, the shortest run on `Old` is relabelled with the
    /// fixed `Old` label and its segment reused; its objects stay on `Old` and lost
    /// references to them still reach `Pending`. (Debug builds check every run after
    /// each collection: `Labels::check`.)
    #[test]
    #[cfg_attr(
        not(debug_assertions),
        ignore = "splices small lists: needs debug builds' SPLICE_MIN of 1"
    )]
    fn segments_are_reused_when_all_are_taken() {
        let heap = Heap::new();
        heap.disable();
        let drops = Rc::new(Cell::new(0));
        let segments = LABELS - FIRST_SEGMENT as usize;
        // Round r keeps r + 1 nodes, so run lengths differ and the shortest is known.
        let rounds: Vec<Vec<Gc<Node>>> = (0..2 * segments)
            .map(|r| {
                let kept = (0..=r).map(|_| node(&heap, &drops)).collect();
                heap.collect();
                kept
            })
            .collect();
        let labels: Vec<u32> = rounds.iter().map(|r| r[0].obj().label()).collect();
        let in_use = |l: &u32| *l >= FIRST_SEGMENT;
        assert!(
            labels.iter().filter(|l| in_use(l)).count() <= segments - 2,
            "two segments stay with the young lists: {labels:?}"
        );
        // The oldest, shortest runs were relabelled first.
        assert_eq!(labels[0], List::Old as u32);
        assert!(in_use(labels.last().unwrap()));
        for (r, kept) in rounds.iter().enumerate() {
            for n in kept {
                assert_eq!(n.obj().label(), labels[r], "a run is relabelled whole");
                assert_eq!(n.obj().list(), List::Old);
            }
        }
        // A cycle between a relabelled run and a segment run is garbage once dropped.
        let (first, last) = (&rounds[0][0], &rounds[rounds.len() - 1][0]);
        *first.next.borrow_mut() = Some(last.clone());
        *last.next.borrow_mut() = Some(first.clone());
        let all: usize = rounds.iter().map(Vec::len).sum();
        let mut rounds = rounds;
        let (a, b) = (rounds[0].remove(0), rounds.last_mut().unwrap().remove(0));
        let (a_obj, b_obj) = (a.obj(), b.obj());
        drop((a, b));
        assert!(a_obj.is_on(List::Pending) && b_obj.is_on(List::Pending));
        assert_eq!(drops.get(), 0);
        assert_eq!(heap.collect().collected, 2);
        assert_eq!(drops.get(), 2);
        drop(rounds);
        assert_eq!(drops.get(), all);
    }
}
