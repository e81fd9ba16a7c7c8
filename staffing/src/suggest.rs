//! Suggestions: the open slots filled with proposed assignments that keep every rule.
//!
//! Shifts are taken in order of start. For one shift, the open slots (a position's need not
//! covered by confirmed or proposed assignments) and the people who may take them (directorate,
//! skills, availability, and the labour rules against what they already work, proposals of
//! earlier shifts included) make a bipartite graph; the graph falls apart into independent
//! parts (mostly one per directorate), and each part is solved as a maximum-weight matching by
//! the Hungarian algorithm (`pathfinding::kuhn_munkres`). Weights put the number of filled
//! slots first (so each shift gets a maximum matching: as many slots filled as any choice
//! could), then fairness: people who worked less in the 7 days before the shift come first.

use crate::roster::Roster;
use crate::shifts::{Shift, WEEK_MS};
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use serde::Serialize;
use std::collections::HashMap;

/// A proposed assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    /// The person.
    pub person: String,
    /// The position.
    pub position: String,
    /// Local day the shift starts on.
    pub day: String,
    /// Shift name.
    pub shift: String,
    /// Start, epoch ms.
    pub start: i64,
    /// End, epoch ms.
    pub end: i64,
}

/// What a suggestion run found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestions {
    /// Proposals, by shift.
    pub proposals: Vec<Proposal>,
    /// Open slots it looked at.
    pub open: usize,
    /// Slots left open (nobody may take them).
    pub unfilled: usize,
}

/// Per person, the shifts proposed so far in a run.
pub type Extra = HashMap<usize, Vec<[i64; 2]>>;

/// Weight of a filled slot: above any sum of fairness terms of one part.
const FILL: i64 = 1 << 40;

/// Per position of the plan, the people who fit it (directorate and skills): what does not
/// change from one shift to the next.
pub fn candidates(roster: &Roster) -> Vec<Vec<usize>> {
    roster
        .plan
        .positions
        .iter()
        .map(|p| (0..roster.people.len()).filter(|&person| roster.people[person].fits(p)).collect())
        .collect()
}

/// One shift's open slots (position indexes, one per missing person) and, per slot, who may
/// take it (person indexes among `candidates`, see [`candidates`]).
pub fn open_slots(
    roster: &Roster,
    level: usize,
    shift: &Shift,
    extra: &Extra,
    candidates: &[Vec<usize>],
) -> Vec<(usize, Vec<usize>)> {
    let mut fits: HashMap<usize, bool> = HashMap::new();
    let mut out = Vec::new();
    for (i, p) in roster.plan.positions.iter().enumerate() {
        let need = p.needs.get(level).copied().unwrap_or(0);
        if need == 0 {
            continue;
        }
        let open = roster.slot(i, shift, need).0.uncovered;
        if open == 0 {
            continue;
        }
        let who: Vec<usize> = candidates[i]
            .iter()
            .copied()
            // The availability and the labour rules do not depend on the position (the candidates
            // fit it): one answer per person for the shift.
            .filter(|&person| {
                *fits.entry(person).or_insert_with(|| {
                    let more = extra.get(&person).map_or(&[][..], Vec::as_slice);
                    roster.check(person, p, [shift.start, shift.end], None, more).is_empty()
                })
            })
            .collect();
        for _ in 0..open {
            out.push((i, who.clone()));
        }
    }
    out
}

/// The parts of a bipartite graph (slots, people) that share no one: lists of slot indexes.
fn root(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn parts(slots: &[(usize, Vec<usize>)]) -> Vec<Vec<usize>> {
    // Union-find over slots, joined through the people they share.
    let mut parent: Vec<usize> = (0..slots.len()).collect();
    let mut first_slot: HashMap<usize, usize> = HashMap::new();
    for (s, (_, who)) in slots.iter().enumerate() {
        for &p in who {
            let other = *first_slot.entry(p).or_insert(s);
            let (a, b) = (root(&mut parent, s), root(&mut parent, other));
            parent[a] = b;
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for s in 0..slots.len() {
        let r = root(&mut parent, s);
        groups.entry(r).or_default().push(s);
    }
    let mut out: Vec<Vec<usize>> = groups.into_values().collect();
    out.sort();
    out
}

/// A maximum matching of slots to people, favouring people with a smaller `load`: for each
/// slot, the person (index into `who`) or `None`.
pub fn best_matching(slots: &[(usize, Vec<usize>)], load: &dyn Fn(usize) -> i64) -> Vec<Option<usize>> {
    let mut out = vec![None; slots.len()];
    for part in parts(slots) {
        let mut people: Vec<usize> = part.iter().flat_map(|&s| slots[s].1.iter().copied()).collect();
        people.sort_unstable();
        people.dedup();
        if people.is_empty() {
            continue;
        }
        // Rows: the part's slots; columns: its people, then one "left open" column per slot
        // (weight 0), so every row has a column and an open slot costs nothing.
        let columns = people.len() + part.len();
        let mut m = Matrix::new(part.len(), columns, -FILL);
        for (r, &s) in part.iter().enumerate() {
            for &p in &slots[s].1 {
                let c = people.binary_search(&p).unwrap_or(0);
                m[(r, c)] = FILL - load(p).clamp(0, FILL / 1024);
            }
            m[(r, people.len() + r)] = 0;
        }
        let (_, columns_of) = kuhn_munkres(&m);
        for (r, &c) in columns_of.iter().enumerate() {
            if c < people.len() && m[(r, c)] > 0 {
                out[part[r]] = Some(people[c]);
            }
        }
    }
    out
}

impl Roster {
    /// Proposals filling the open slots of `shifts` at `level` (shifts starting before `now`
    /// are left alone).
    pub fn suggest(&self, level: usize, shifts: &[Shift], now: i64) -> Suggestions {
        let level = level.min(self.plan.levels.len() - 1);
        let mut ordered: Vec<&Shift> = shifts.iter().filter(|s| s.start >= now).collect();
        ordered.sort_by_key(|s| (s.start, s.end));
        let mut extra = Extra::new();
        let fit = candidates(self);
        let (mut proposals, mut open, mut unfilled) = (Vec::new(), 0, 0);
        for shift in ordered {
            let slots = open_slots(self, level, shift, &extra, &fit);
            open += slots.len();
            let load = |person: usize| {
                let from = shift.start - WEEK_MS;
                let mut worked: i64 = self
                    .shifts_of(person, None)
                    .iter()
                    .chain(extra.get(&person).into_iter().flatten())
                    .map(|&[a, b]| (b.min(shift.start) - a.max(from)).max(0))
                    .sum();
                worked /= 60_000;
                worked
            };
            let chosen = best_matching(&slots, &load);
            for ((position, _), person) in slots.iter().zip(chosen) {
                let Some(person) = person else {
                    unfilled += 1;
                    continue;
                };
                extra.entry(person).or_default().push([shift.start, shift.end]);
                proposals.push(Proposal {
                    person: self.people[person].id.clone(),
                    position: self.plan.positions[*position].id.clone(),
                    day: shift.day.clone(),
                    shift: shift.name.clone(),
                    start: shift.start,
                    end: shift.end,
                });
            }
        }
        Suggestions { proposals, open, unfilled }
    }
}
