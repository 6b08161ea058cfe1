//! List labels and segments: how a whole young generation moves to `Old` in O(1).
//!
//! Each tracked object's flags hold a 5-bit label saying which list it is on
//! ([`List`]). Labels below [`FIRST_SEGMENT`] are fixed (the label is the list). The
//! others are *segments*: this table maps each to `Young`, `Middle` or `Old` (or marks
//! it free). Each young list is exactly one segment — every object linked onto it
//! gets the list's current segment label — so when a collection moves a young list
//! that holds no suspect to `Old` unexamined (`promote_unexamined`), it remaps the
//! segment and keeps the list's chain as it is, touching no object instead of
//! relabelling each; the young list gets a free segment.
//!
//! Every label has a chain: the objects carrying it, linked to each other (the
//! first has no `prev`, the last no `next`), whose first object this table holds
//! (`first`, indexed by label: the head of a fixed list is at the list's label, a
//! young list's at its segment's). So an object's chain head is found from its
//! label alone, and unlinking needs no test of which list it is on. A young list
//! is its segment's chain and its suspects' (below); `Old` is the chain of the fixed `Old` label and the
//! *runs*, the chains of the segments mapped to `Old`, whose last objects and
//! lengths are kept here too. Walking `Old` walks each (`HeapState::chains`).
//! Splicing a young list onto `Old` therefore writes no object, only this table:
//! the young list's ends are cold when a full collection follows a long build
//! (W5), and each write was a cache and TLB miss. When no segment is free, the
//! shortest run on `Old` is relabelled with the fixed `Old` label, put at the front
//! of `Old`'s own chain, and its segment reused: an object is relabelled at most
//! once on `Old`, and only if it stays there while many younger lists arrive.
//!
//! The young lists' suspects are a chain apart, under the fixed label of the
//! list's own number (0 for `Young`, 1 for `Middle`), so a young list is two
//! chains: its segment's and its suspects'. What an object's first lost reference
//! does depends on its list (`raw.rs`, `release_strong`): an object with a segment
//! label and no suspect mark takes the out-of-line path, which looks the segment up
//! here and moves the object to its young list's suspects, or to `Pending` from
//! `Old`. A segment's chain therefore never holds a suspect, so a spliced list
//! holds none either: every object on an `Old` segment is unmarked and its first
//! lost reference is seen.

use core::cell::Cell;

use crate::raw::{List, ObjPtr, FIRST_SEGMENT, LABELS, LABEL_MASK};

// A label masked with `LABEL_MASK` indexes the label table without a bounds check.
const _: () = assert!(LABELS == LABEL_MASK as usize + 1);

/// Young lists shorter than this are relabelled object by object when promoted (as
/// cheap as a splice, and it keeps segments free). Debug builds splice every
/// non-empty list, so the test suite exercises splicing and segment reuse.
pub(crate) const SPLICE_MIN: usize = if cfg!(debug_assertions) { 1 } else { 256 };

/// Segments a generation-1 collection leaves free: it splices `Middle` onto `Old`
/// only while more than this many are free, so that full collections, which splice
/// both young lists, still find free segments after a long run of generation-1
/// collections has put its runs on `Old`.
pub(crate) const MIDDLE_SPLICE_RESERVE: u32 = 8;

/// The label table of one heap, with the bookkeeping of segment runs.
pub(crate) struct Labels {
    /// The list of each label: fixed labels map to their own list, a segment to
    /// `Young`, `Middle` or `Old`, or `Detached` while free.
    list: [Cell<List>; LABELS],
    /// For each list (`List as usize`), the mask of the labels mapped to it.
    masks: [Cell<u32>; 8],
    /// The label an object linked onto each linked list gets (`List as usize`).
    link_label: [Cell<u32>; 5],
    /// The first object of each label's chain: the heads of the lists.
    first: [Cell<Option<ObjPtr>>; LABELS],
    /// For a segment: the last object of its chain.
    last: [Cell<Option<ObjPtr>>; LABELS],
    /// For a segment on `Old`: the length of its run.
    len: [Cell<usize>; LABELS],
}

impl Labels {
    pub(crate) fn new() -> Labels {
        let labels = Labels {
            list: core::array::from_fn(|_| Cell::new(List::Detached)),
            masks: Default::default(),
            link_label: core::array::from_fn(|l| Cell::new(l as u32)),
            first: Default::default(),
            last: Default::default(),
            len: Default::default(),
        };
        // Every label starts `Detached` (its bit in that list's mask) and is mapped
        // from there.
        labels.masks[List::Detached as usize].set(u32::MAX);
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
        debug_assert!(label <= LABEL_MASK, "label {label} out of range");
        // Masked, so that the index needs no bounds check on the release path.
        let list = self.list[(label & LABEL_MASK) as usize].get();
        debug_assert!(
            label < FIRST_SEGMENT || list != List::Detached,
            "an object carries the free segment label {label}"
        );
        list
    }

    /// How many segments are free.
    pub(crate) fn free_segments(&self) -> u32 {
        let segments = !((1u32 << FIRST_SEGMENT) - 1);
        (self.masks[List::Detached as usize].get() & segments).count_ones()
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

    /// The head of `list` (a linked list): the first object of the chain of its
    /// link label.
    #[inline]
    pub(crate) fn head(&self, list: List) -> &Cell<Option<ObjPtr>> {
        &self.first[self.link_label(list) as usize]
    }

    /// The label of the suspects of young list `list`: the list's own number, a
    /// fixed label (`List::from_fixed_label`).
    #[inline]
    pub(crate) fn suspect_label(list: List) -> u32 {
        debug_assert!(!list.is_fixed());
        list as u32
    }

    /// The head of the chain of the objects with `label`, for unlinking one.
    #[inline]
    pub(crate) fn chain_head(&self, label: u32) -> &Cell<Option<ObjPtr>> {
        &self.first[label as usize]
    }

    /// After a chain of objects carrying `label`, whose last object is `last`, was
    /// put at the front of that label's chain (empty before if `was_empty`).
    #[inline]
    pub(crate) fn chain_linked(&self, label: u32, last: ObjPtr, was_empty: bool) {
        if label >= FIRST_SEGMENT && was_empty {
            self.last[label as usize].set(Some(last));
        }
    }

    /// After `first`, a single object, was linked onto the empty chain of young
    /// list `list`'s segment.
    #[inline]
    pub(crate) fn young_linked(&self, list: List, first: ObjPtr) {
        debug_assert!(!list.is_fixed());
        self.last[self.link_label(list) as usize].set(Some(first));
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
        // The unlink has updated the chain's head (`first`); a segment's last
        // object is kept here.
        if label >= FIRST_SEGMENT {
            debug_assert_ne!(self.first[label as usize].get(), Some(obj));
            if next.is_none() {
                self.last[label as usize].set(prev);
            }
            if list == List::Old {
                self.left_run(label);
            }
        }
    }

    /// An object left the run of segment `s` on `Old`.
    fn left_run(&self, s: u32) {
        let i = s as usize;
        let len = self.len[i].get() - 1;
        self.len[i].set(len);
        if len == 0 {
            debug_assert!(self.first[i].get().is_none() && self.last[i].get().is_none());
            self.free(s);
            return;
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

    /// The first object of each run on `Old`.
    pub(crate) fn runs_on_old(&self) -> impl Iterator<Item = ObjPtr> + '_ {
        (FIRST_SEGMENT..LABELS as u32)
            .filter(|&s| self.list[s as usize].get() == List::Old)
            .map(|s| {
                self.first[s as usize]
                    .get()
                    .expect("a run on Old is not empty")
            })
    }

    /// Forgets the last object of `list`, or for `Old` its runs (the whole list was
    /// taken off, runs included, and its head emptied: its objects are relabelled
    /// by the caller).
    #[inline]
    pub(crate) fn list_taken(&self, list: List) {
        debug_assert!(self.head(list).get().is_none());
        if !list.is_fixed() {
            self.last[self.link_label(list) as usize].set(None);
        } else if list == List::Old {
            for s in FIRST_SEGMENT..LABELS as u32 {
                if self.list[s as usize].get() == List::Old {
                    self.free(s);
                }
            }
        }
    }

    /// Makes the whole young list `from` (`len` objects; none is a suspect) a run
    /// on `Old`: its segment's chain stays as it is, and no object is touched. The
    /// caller moves the counts. If a run had to be relabelled to free a segment,
    /// returns its first and last objects: the caller puts that chain at the front
    /// of `Old`'s own.
    #[must_use]
    pub(crate) fn splice_onto_old(&self, from: List, len: usize) -> Option<(ObjPtr, ObjPtr)> {
        debug_assert!(!from.is_fixed() && len > 0);
        let s = self.link_label(from);
        debug_assert!(
            self.first[s as usize].get().is_some() && self.last[s as usize].get().is_some()
        );
        // A fresh segment (an empty chain) for `from` first: reusing one relabels a
        // run on `Old`, which must not be the one spliced now.
        let (fresh, relabelled) = self.free_segment();
        self.map(fresh, from);
        self.link_label[from as usize].set(fresh);
        self.map(s, List::Old);
        self.len[s as usize].set(len);
        relabelled
    }

    /// A free segment; if there is none, the shortest run on `Old` is relabelled
    /// `Old` and its segment freed, and that run's first and last objects returned
    /// with it (a chain for the caller to join to `Old`'s own).
    fn free_segment(&self) -> (u32, Option<(ObjPtr, ObjPtr)>) {
        let segments = FIRST_SEGMENT..LABELS as u32;
        if let Some(s) = segments
            .clone()
            .find(|&s| self.list[s as usize].get() == List::Detached)
        {
            return (s, None);
        }
        let s = segments
            .filter(|&s| self.list[s as usize].get() == List::Old)
            .min_by_key(|&s| self.len[s as usize].get())
            .expect("with every segment taken, all but the two young ones are on Old");
        let i = s as usize;
        let run = (
            self.first[i].get().expect("a run on Old is not empty"),
            self.last[i].get().expect("a run on Old is not empty"),
        );
        let mut cur = Some(run.0);
        for _ in 0..self.len[i].get() {
            let obj = cur.expect("a segment run is as long as its length says");
            debug_assert_eq!(obj.label(), s);
            obj.set_list(List::Old);
            cur = obj.next_in_list();
        }
        debug_assert!(cur.is_none(), "a run ends its chain");
        self.free(s);
        (s, Some(run))
    }

    /// Checks the bookkeeping against the lists (debug builds, small heaps): every
    /// linked object's label maps to the list it is on, the young tails are right,
    /// `Old`'s own chain holds only the fixed `Old` label, and each run on `Old` is a
    /// chain of its segment's objects, as long as recorded.
    #[cfg(debug_assertions)]
    pub(crate) fn check(&self, lens: &[Cell<usize>; 5]) {
        let mut counted = [0usize; LABELS];
        for list in List::LINKED {
            let before: usize = counted.iter().sum();
            let mut chains = vec![self.head(list).get()];
            if list == List::Old {
                chains.extend(self.runs_on_old().map(Some));
            } else if !list.is_fixed() {
                // The list's suspects, labelled with the list's number.
                chains.push(self.first[Labels::suspect_label(list) as usize].get());
            }
            for (c, mut cur) in chains.into_iter().enumerate() {
                let mut last = None;
                let run = cur
                    .map(ObjPtr::label)
                    .filter(|_| c > 0 && list == List::Old);
                if let Some(s) = run {
                    assert!(s >= FIRST_SEGMENT, "a run of a fixed label");
                }
                while let Some(obj) = cur {
                    let label = obj.label();
                    assert_eq!(
                        self.list_of(label),
                        list,
                        "{obj:?} has a label of another list"
                    );
                    if list == List::Old {
                        assert_eq!(Some(label).filter(|&l| l >= FIRST_SEGMENT), run);
                    }
                    assert_eq!(obj.prev_in_list(), last, "{obj:?}'s prev link");
                    counted[label as usize] += 1;
                    last = Some(obj);
                    cur = obj.next_in_list();
                }
                if let Some(s) = run {
                    assert_eq!(self.last[s as usize].get(), last, "last of run {s}");
                }
                if c == 0 && !list.is_fixed() {
                    let tail = self.last[self.link_label(list) as usize].get();
                    assert_eq!(tail, last, "{list:?} tail");
                }
            }
            let on_list: usize = counted.iter().sum::<usize>() - before;
            assert_eq!(on_list, lens[list as usize].get(), "length of {list:?}");
        }
        for list in List::LINKED.into_iter().chain([List::Detached]) {
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
        // An earlier run on `Old`, which a splice could have joined the list to.
        let earlier: Vec<_> = (0..2).map(|_| node(&heap, &drops)).collect();
        heap.collect();
        let nodes: Vec<_> = (0..4).map(|_| node(&heap, &drops)).collect();
        let young_label = nodes[0].obj().label();
        assert!(young_label >= FIRST_SEGMENT);
        assert_eq!(heap.state().labels.list_of(young_label), List::Young);
        let links = |ns: &[Gc<Node>]| -> Vec<_> {
            ns.iter()
                .map(|n| (n.obj().prev_in_list(), n.obj().next_in_list()))
                .collect()
        };
        let before = links(&nodes);
        assert_eq!(
            before[0].1, None,
            "the first node allocated is the last linked"
        );

        let stats = heap.collect();
        assert_eq!(stats.candidates, 0, "no suspect: nothing examined");
        for n in &nodes {
            assert_eq!(n.obj().label(), young_label, "not relabelled");
            assert_eq!(n.obj().list(), List::Old);
        }
        assert_eq!(links(&nodes), before, "a splice writes no object");
        assert_eq!(heap.state().head(List::Old).get(), None, "Old's own chain");
        assert_eq!(heap.state().all_objects(&[List::Old]).len(), 6);
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
        drop(earlier);
        assert_eq!(drops.get(), 7);
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

    /// A generation-1 collection splices `Middle` onto `Old` (its objects keep their
    /// label, now an `Old` segment's) while more than `MIDDLE_SPLICE_RESERVE`
    /// segments are free, and relabels it with the fixed `Old` label from then on,
    /// leaving those segments to full collections. A first lost reference to an
    /// object on such a run still sends it to `Pending`.
    #[test]
    #[cfg_attr(
        not(debug_assertions),
        ignore = "splices small lists: needs debug builds' SPLICE_MIN of 1"
    )]
    fn a_middle_collection_splices_middle_while_segments_are_left() {
        let heap = Heap::new();
        heap.disable();
        let drops = Rc::new(Cell::new(0));
        let state = heap.state();
        let segments = LABELS as u32 - FIRST_SEGMENT;
        assert_eq!(
            state.labels.free_segments(),
            segments - 2,
            "two young lists"
        );
        let mut batches = Vec::new();
        let mut spliced = 0;
        loop {
            let free = state.labels.free_segments();
            let batch: Vec<_> = (0..3).map(|_| node(&heap, &drops)).collect();
            heap.collect_generation(0);
            let label = batch[0].obj().label();
            assert_eq!(state.labels.list_of(label), List::Middle);
            heap.collect_generation(1);
            for n in &batch {
                assert_eq!(n.obj().list(), List::Old);
            }
            let relabelled = free <= MIDDLE_SPLICE_RESERVE;
            batches.push(batch);
            if relabelled {
                assert_eq!(batches.last().unwrap()[0].obj().label(), List::Old as u32);
                assert_eq!(state.labels.free_segments(), free, "no segment taken");
                break;
            }
            assert_eq!(batches.last().unwrap()[0].obj().label(), label, "spliced");
            assert_eq!(state.labels.free_segments(), free - 1);
            spliced += 1;
        }
        assert_eq!(spliced, segments - 2 - MIDDLE_SPLICE_RESERVE);
        // A cycle within a spliced run: its first lost reference sends its object
        // to `Pending`, and the next full collection frees it.
        let (a, b) = (batches[0][0].clone(), batches[0][1].clone());
        *a.next.borrow_mut() = Some(b.clone());
        *b.next.borrow_mut() = Some(a.clone());
        let a_obj = a.obj();
        batches[0].drain(..2);
        drop(b);
        drop(a);
        assert!(a_obj.is_on(List::Pending));
        assert_eq!(heap.collect().collected, 2);
        assert_eq!(drops.get(), 2);
        let all = 3 * batches.len();
        drop(batches);
        assert_eq!(drops.get(), all);
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
