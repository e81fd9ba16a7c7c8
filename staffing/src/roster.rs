//! The roster: people, their unavailability, assignments and the alert level over time, over
//! a plan, with the indexes the checks, the gap report and the suggestions read.

use crate::plan::{Plan, Position, Problem, is_id, problem, skill_problems};
use crate::rules::{Breach, Rules};
use crate::shifts::{Pattern, Shift};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A liaison officer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Id (a registration number): letters, digits, `-`, `_`, `.`, 1 to 64.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Directorate or ministry.
    pub directorate: String,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Phone.
    #[serde(default)]
    pub phone: String,
    /// E-mail.
    #[serde(default)]
    pub email: String,
}

impl Person {
    /// The person's problems (none: it can be stored); fields are prefixed with `at`.
    pub fn problems(&self, at: &str) -> Vec<Problem> {
        let f = |k: &str| format!("{at}{k}");
        let mut out = Vec::new();
        if !is_id(&self.id) {
            out.push(problem(f("id"), "1 to 64 letters, digits, '-', '_' or '.'"));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            out.push(problem(f("name"), "1 to 200 characters"));
        }
        if self.directorate.trim().is_empty() || self.directorate.chars().count() > 64 {
            out.push(problem(f("directorate"), "1 to 64 characters"));
        }
        out.extend(skill_problems(&self.skills, &f("skills")));
        if self.phone.chars().count() > 40 || self.phone.chars().any(char::is_control) {
            out.push(problem(f("phone"), "at most 40 characters"));
        }
        if self.email.chars().count() > 200 || (!self.email.is_empty() && !self.email.contains('@')) {
            out.push(problem(f("email"), "an address with '@', at most 200 characters"));
        }
        out
    }

    /// Whether the person may sit at `position`: the position's directorate (when it names
    /// one) and every skill it requires.
    pub fn fits(&self, position: &Position) -> bool {
        (position.directorate.is_empty() || position.directorate == self.directorate)
            && position.skills.iter().all(|s| self.skills.contains(s))
    }

    fn fit_breaches(&self, position: &Position) -> Vec<Breach> {
        let mut out = Vec::new();
        if !position.directorate.is_empty() && position.directorate != self.directorate {
            out.push(Breach {
                rule: "directorate",
                detail: format!("the position is {}'s, the person is from {}", position.directorate, self.directorate),
                shifts: Vec::new(),
            });
        }
        let missing: Vec<&str> =
            position.skills.iter().filter(|s| !self.skills.contains(s)).map(String::as_str).collect();
        if !missing.is_empty() {
            out.push(Breach {
                rule: "skills",
                detail: format!("missing skills: {}", missing.join(", ")),
                shifts: Vec::new(),
            });
        }
        out
    }
}

/// A period a person cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unavailability {
    /// Id, per workspace.
    pub id: u64,
    /// The person.
    pub person: String,
    /// Start, epoch ms.
    pub start: i64,
    /// End, epoch ms (exclusive).
    pub end: i64,
    /// Why (leave, training…).
    pub reason: String,
}

/// An assignment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Suggested or entered, not confirmed yet: counts as covering the slot, not as filling it.
    Proposed,
    /// Confirmed.
    Confirmed,
    /// Declined: kept for the record, counts for nothing.
    Declined,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Proposed => "proposed",
            Status::Confirmed => "confirmed",
            Status::Declined => "declined",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Status::Proposed, Status::Confirmed, Status::Declined].into_iter().find(|x| x.as_str() == s)
    }
}

/// A person on a position for one shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Id, per workspace.
    pub id: u64,
    /// The person.
    pub person: String,
    /// The position.
    pub position: String,
    /// The local day the shift starts on.
    pub day: String,
    /// The shift's name.
    pub shift: String,
    /// Start, epoch ms.
    pub start: i64,
    /// End, epoch ms.
    pub end: i64,
    /// Status.
    pub status: Status,
    /// Who made or last changed it.
    pub by: String,
    /// When, epoch ms.
    pub at: i64,
}

/// A change of alert level, past or scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelChange {
    /// Id, per workspace.
    pub id: u64,
    /// The level's index in the plan.
    pub level: usize,
    /// Its name when it was decided.
    pub name: String,
    /// When it takes effect, epoch ms.
    pub at: i64,
    /// Why.
    pub reason: String,
    /// Who decided it.
    pub by: String,
    /// The log entry that records it (once in effect).
    pub entry: Option<u64>,
}

/// The whole roster over a plan, indexed.
#[derive(Debug, Clone)]
pub struct Roster {
    /// The plan.
    pub plan: Plan,
    /// Its pattern.
    pub pattern: Pattern,
    /// Its rules.
    pub rules: Rules,
    /// People, by id.
    pub people: Vec<Person>,
    /// Unavailability periods.
    pub unavailable: Vec<Unavailability>,
    /// Assignments.
    pub assignments: Vec<Assignment>,
    /// Level changes, by time of effect.
    pub levels: Vec<LevelChange>,
    /// The store's version of all this.
    pub version: u64,
    person_index: HashMap<String, usize>,
    position_index: HashMap<String, usize>,
    /// Per person: indexes of their assignments that count (not declined), by start.
    active: Vec<Vec<usize>>,
    /// Per person: their unavailability periods.
    away: Vec<Vec<[i64; 2]>>,
    /// (position index, shift start) → indexes of the assignments that count.
    slots: HashMap<(usize, i64), Vec<usize>>,
}

impl Roster {
    /// Indexes a roster. Assignments and periods of people or positions no longer there are
    /// kept but count for nothing.
    ///
    /// # Errors
    /// The plan's pattern error (a plan is checked before it is stored).
    pub fn new(
        plan: Plan,
        mut people: Vec<Person>,
        unavailable: Vec<Unavailability>,
        assignments: Vec<Assignment>,
        mut levels: Vec<LevelChange>,
        version: u64,
    ) -> Result<Self, String> {
        let pattern = plan.pattern()?;
        let rules = plan.rules();
        people.sort_by(|a, b| a.id.cmp(&b.id));
        levels.sort_by_key(|l| (l.at, l.id));
        let person_index: HashMap<String, usize> = people.iter().enumerate().map(|(i, p)| (p.id.clone(), i)).collect();
        let position_index: HashMap<String, usize> =
            plan.positions.iter().enumerate().map(|(i, p)| (p.id.clone(), i)).collect();
        let mut active = vec![Vec::new(); people.len()];
        let mut away = vec![Vec::new(); people.len()];
        let mut slots: HashMap<(usize, i64), Vec<usize>> = HashMap::new();
        for u in &unavailable {
            if let Some(&p) = person_index.get(&u.person) {
                away[p].push([u.start, u.end]);
            }
        }
        for (i, a) in assignments.iter().enumerate() {
            if a.status == Status::Declined {
                continue;
            }
            if let Some(&p) = person_index.get(&a.person) {
                active[p].push(i);
            }
            if let Some(&pos) = position_index.get(&a.position) {
                slots.entry((pos, a.start)).or_default().push(i);
            }
        }
        for list in &mut active {
            list.sort_by_key(|&i| assignments[i].start);
        }
        Ok(Self {
            plan,
            pattern,
            rules,
            people,
            unavailable,
            assignments,
            levels,
            version,
            person_index,
            position_index,
            active,
            away,
            slots,
        })
    }

    /// A person's index.
    pub fn person_index(&self, id: &str) -> Option<usize> {
        self.person_index.get(id).copied()
    }

    /// A position's index in the plan.
    pub fn position_index(&self, id: &str) -> Option<usize> {
        self.position_index.get(id).copied()
    }

    /// The level in effect at `at` (the lowest before any change).
    pub fn level_at(&self, at: i64) -> usize {
        self.levels.iter().rev().find(|l| l.at <= at).map_or(0, |l| l.level.min(self.plan.levels.len() - 1))
    }

    /// The change in effect at `at`, if any.
    pub fn change_at(&self, at: i64) -> Option<&LevelChange> {
        self.levels.iter().rev().find(|l| l.at <= at)
    }

    /// The person's shifts that count (`[start, end)`), by start, leaving out assignment
    /// `except`.
    pub fn shifts_of(&self, person: usize, except: Option<u64>) -> Vec<[i64; 2]> {
        self.active[person]
            .iter()
            .map(|&i| &self.assignments[i])
            .filter(|a| Some(a.id) != except)
            .map(|a| [a.start, a.end])
            .collect()
    }

    /// Whether the person is away at some time of `[start, end)`.
    pub fn away(&self, person: usize, start: i64, end: i64) -> Option<[i64; 2]> {
        self.away[person].iter().copied().find(|&[a, b]| a < end && start < b)
    }

    /// The assignments that count on position `position` for the shift starting at `start`.
    pub fn on_slot(&self, position: usize, start: i64) -> impl Iterator<Item = &Assignment> {
        self.slots.get(&(position, start)).into_iter().flatten().map(|&i| &self.assignments[i])
    }

    /// Every rule putting `person` on `position` for `shift` would break, besides the shifts
    /// in `extra` (proposals not stored yet); assignment `except` (the one being changed) is
    /// left out. Empty: allowed.
    pub fn check(
        &self,
        person: usize,
        position: &Position,
        shift: [i64; 2],
        except: Option<u64>,
        extra: &[[i64; 2]],
    ) -> Vec<Breach> {
        let p = &self.people[person];
        let mut out = p.fit_breaches(position);
        if let Some(period) = self.away(person, shift[0], shift[1]) {
            out.push(Breach {
                rule: "unavailable",
                detail: format!("{} is unavailable then", p.name),
                shifts: vec![period, shift],
            });
        }
        let mut others = self.shifts_of(person, except);
        others.extend_from_slice(extra);
        out.extend(self.rules.check_with(&others, shift));
        out
    }

    /// The shift of an assignment request: `day` (`2027-01-04`) and the pattern's `name`.
    pub fn shift(&self, day: &str, name: &str) -> Option<Shift> {
        self.pattern.shift(day.parse().ok()?, name)
    }
}
