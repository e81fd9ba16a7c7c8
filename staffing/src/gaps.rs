//! The gap report: over a run of shifts and at an alert level, every position × shift short
//! of people, totals by directorate and by place, and what raising the level by one would add.
//!
//! A slot's `needed` people are the position's need at the level; `confirmed` and `proposed`
//! count the assignments that count (not declined, of a person not unavailable then);
//! `short` is what confirmed assignments leave open, `uncovered` what proposals leave open too
//! (what suggestions try to fill).

use crate::roster::{Roster, Status};
use crate::shifts::Shift;
use serde::Serialize;
use std::collections::BTreeMap;

/// Counts over slots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// People needed.
    pub needed: u64,
    /// Confirmed.
    pub confirmed: u64,
    /// Proposed.
    pub proposed: u64,
    /// Needed − confirmed, per slot.
    pub short: u64,
    /// Needed − confirmed − proposed, per slot.
    pub uncovered: u64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.needed += o.needed;
        self.confirmed += o.confirmed;
        self.proposed += o.proposed;
        self.short += o.short;
        self.uncovered += o.uncovered;
    }
}

/// One position × shift short of people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Local day the shift starts on.
    pub day: String,
    /// Shift name.
    pub shift: String,
    /// Start, epoch ms.
    pub start: i64,
    /// End, epoch ms.
    pub end: i64,
    /// Position id.
    pub position: String,
    /// Counts.
    #[serde(flatten)]
    pub totals: Totals,
    /// Assignments that do not count because their person is unavailable then.
    pub unavailable: u64,
}

/// Totals of a group (directorate or place).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The directorate, or the place's key.
    pub key: String,
    /// Counts.
    #[serde(flatten)]
    pub totals: Totals,
}

/// A level's name and index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelRef {
    /// Index, from 0.
    pub index: usize,
    /// Name.
    pub name: String,
}

/// What raising the level by one would add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Raise {
    /// The level above.
    pub level: LevelRef,
    /// Totals at that level.
    pub totals: Totals,
    /// People short in addition to the current level's.
    pub extra_short: u64,
    /// Positions that open at that level.
    pub opening: Vec<String>,
}

/// The gap report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GapReport {
    /// The level it is computed at.
    pub level: LevelRef,
    /// Shifts covered.
    pub shifts: usize,
    /// Totals.
    pub totals: Totals,
    /// Slots short of people, by start then plan order (at most the limit asked).
    pub gaps: Vec<Gap>,
    /// Slots short in all (`gaps` may hold fewer).
    pub gaps_total: usize,
    /// By directorate.
    pub by_directorate: Vec<Group>,
    /// By place.
    pub by_place: Vec<Group>,
    /// Raising the level by one (none at the top level).
    pub raise: Option<Raise>,
}

impl Roster {
    fn level_ref(&self, level: usize) -> LevelRef {
        LevelRef { index: level, name: self.plan.levels[level].clone() }
    }

    /// One slot's counts at a need of `needed`, and the assignments not counted because their
    /// person is away.
    pub fn slot(&self, position: usize, shift: &Shift, needed: u32) -> (Totals, u64) {
        let (mut confirmed, mut proposed, mut away) = (0u64, 0u64, 0u64);
        for a in self.on_slot(position, shift.start) {
            let gone = self.person_index(&a.person).is_none_or(|p| self.away(p, a.start, a.end).is_some());
            if gone {
                away += 1;
            } else if a.status == Status::Confirmed {
                confirmed += 1;
            } else {
                proposed += 1;
            }
        }
        let needed = u64::from(needed);
        let short = needed.saturating_sub(confirmed);
        let t = Totals { needed, confirmed, proposed, short, uncovered: short.saturating_sub(proposed) };
        (t, away)
    }

    /// The gap report at `level` over `shifts`, listing at most `limit` gaps.
    pub fn gaps(&self, level: usize, shifts: &[Shift], limit: usize) -> GapReport {
        let level = level.min(self.plan.levels.len() - 1);
        let mut totals = Totals::default();
        let mut gaps = Vec::new();
        let mut gaps_total = 0;
        let mut by_dir: BTreeMap<&str, Totals> = BTreeMap::new();
        let mut by_place: BTreeMap<String, Totals> = BTreeMap::new();
        let mut above = Totals::default();
        let up = level + 1 < self.plan.levels.len();
        let keys: Vec<String> = self.plan.positions.iter().map(|p| p.place.key()).collect();
        for shift in shifts {
            for (i, p) in self.plan.positions.iter().enumerate() {
                let need = p.needs.get(level).copied().unwrap_or(0);
                let need_up = if up { p.needs.get(level + 1).copied().unwrap_or(0) } else { 0 };
                if need == 0 && need_up == 0 {
                    continue;
                }
                let (t, away) = self.slot(i, shift, need);
                if up {
                    above.add(&self.slot(i, shift, need_up).0);
                }
                if need == 0 {
                    continue;
                }
                totals.add(&t);
                by_dir.entry(p.directorate.as_str()).or_default().add(&t);
                by_place.entry(keys[i].clone()).or_default().add(&t);
                if t.short > 0 {
                    gaps_total += 1;
                    if gaps.len() < limit {
                        gaps.push(Gap {
                            day: shift.day.clone(),
                            shift: shift.name.clone(),
                            start: shift.start,
                            end: shift.end,
                            position: p.id.clone(),
                            totals: t,
                            unavailable: away,
                        });
                    }
                }
            }
        }
        let raise = up.then(|| Raise {
            level: self.level_ref(level + 1),
            totals: above,
            extra_short: above.short.saturating_sub(totals.short),
            opening: self
                .plan
                .positions
                .iter()
                .filter(|p| p.needs.get(level) == Some(&0) && p.needs.get(level + 1).is_some_and(|&n| n > 0))
                .map(|p| p.id.clone())
                .collect(),
        });
        let group = |(key, totals): (String, Totals)| Group { key, totals };
        GapReport {
            level: self.level_ref(level),
            shifts: shifts.len(),
            totals,
            gaps,
            gaps_total,
            by_directorate: by_dir.into_iter().map(|(k, t)| group((k.to_owned(), t))).collect(),
            by_place: by_place.into_iter().map(group).collect(),
            raise,
        }
    }
}
