//! Loops in a directed graph: its strongly connected components (Tarjan), and for each a set
//! of simple cycles that together use every edge inside it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The strongly connected components of more than one node, each sorted, in order of their
/// smallest node. Self-edges are ignored.
pub fn components(nodes: usize, edges: &BTreeSet<(usize, usize)>) -> Vec<Vec<usize>> {
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); nodes];
    for &(from, to) in edges {
        if from != to && from < nodes && to < nodes {
            next[from].push(to);
        }
    }
    let mut tarjan = Tarjan {
        next: &next,
        index: vec![None; nodes],
        low: vec![0; nodes],
        on_stack: vec![false; nodes],
        stack: Vec::new(),
        counter: 0,
        found: Vec::new(),
    };
    for node in 0..nodes {
        if tarjan.index[node].is_none() {
            tarjan.visit(node);
        }
    }
    let mut found: Vec<Vec<usize>> = tarjan
        .found
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|mut c| {
            c.sort_unstable();
            c
        })
        .collect();
    found.sort();
    found
}

struct Tarjan<'a> {
    next: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    counter: usize,
    found: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    /// Iterative, so a long chain of modules cannot overflow the stack.
    fn visit(&mut self, start: usize) {
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        self.open(start);
        while let Some(top) = work.last_mut() {
            let (node, position) = *top;
            if let Some(&to) = self.next[node].get(position) {
                top.1 += 1;
                match self.index[to] {
                    None => {
                        self.open(to);
                        work.push((to, 0));
                    }
                    Some(i) if self.on_stack[to] => self.low[node] = self.low[node].min(i),
                    Some(_) => {}
                }
                continue;
            }
            work.pop();
            if let Some(&(caller, _)) = work.last() {
                self.low[caller] = self.low[caller].min(self.low[node]);
            }
            if Some(self.low[node]) == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                self.found.push(component);
            }
        }
    }

    fn open(&mut self, node: usize) {
        self.index[node] = Some(self.counter);
        self.low[node] = self.counter;
        self.counter += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
    }
}

/// Simple cycles inside one component that together use each of its edges: for each edge not
/// yet used, the edge followed by the shortest way back. Each cycle starts and ends at the
/// same node.
pub fn covering_cycles(component: &[usize], edges: &BTreeSet<(usize, usize)>) -> Vec<Vec<usize>> {
    let members: BTreeSet<usize> = component.iter().copied().collect();
    let inside: BTreeSet<(usize, usize)> = edges
        .iter()
        .copied()
        .filter(|(a, b)| a != b && members.contains(a) && members.contains(b))
        .collect();
    let mut next: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &(a, b) in &inside {
        next.entry(a).or_default().push(b);
    }
    let mut used: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut cycles = Vec::new();
    for &(from, to) in &inside {
        if used.contains(&(from, to)) {
            continue;
        }
        let Some(back) = shortest_path(&next, to, from) else {
            continue;
        };
        let mut cycle = vec![from];
        cycle.extend(back);
        for pair in cycle.windows(2) {
            used.insert((pair[0], pair[1]));
        }
        cycles.push(cycle);
    }
    cycles
}

/// The nodes from `from` to `to` inclusive, by breadth-first search.
fn shortest_path(next: &BTreeMap<usize, Vec<usize>>, from: usize, to: usize) -> Option<Vec<usize>> {
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(node) = queue.pop_front() {
        if node == to {
            let mut path = vec![to];
            let mut at = to;
            while let Some(&previous) = came_from.get(&at) {
                path.push(previous);
                at = previous;
            }
            path.reverse();
            return Some(path);
        }
        for &n in next.get(&node).map(Vec::as_slice).unwrap_or_default() {
            if seen.insert(n) {
                came_from.insert(n, node);
                queue.push_back(n);
            }
        }
    }
    None
}
