//! A workspace's staffing plan (its document `staffing`): the shift pattern and time zone, the
//! alert levels in order, the labour rules' numbers, the crisis room, and the positions with
//! how many people each shift needs at each level. Checked field by field: every problem names
//! its field.

use crate::rules::Rules;
use crate::shifts::{HOUR_MS, Pattern};
use serde::{Deserialize, Serialize};

/// Most positions in a plan.
pub const MAX_POSITIONS: usize = 2_000;
/// Most alert levels.
pub const MAX_LEVELS: usize = 10;
/// Most people one position needs on one shift.
pub const MAX_NEED: u32 = 50;
/// Most skills a position requires or a person has.
pub const MAX_SKILLS: usize = 20;

/// A shift of the pattern, as written in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftSpec {
    /// Name (`matin`).
    pub name: String,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM` (at or before the start: the next day).
    pub end: String,
}

/// The rules' numbers, in hours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Least rest between two shifts (11).
    pub min_rest_hours: f64,
    /// Most work in any 7 days (48).
    pub max_week_hours: f64,
}

impl Default for RuleSpec {
    fn default() -> Self {
        Self { min_rest_hours: 11.0, max_week_hours: 48.0 }
    }
}

/// Where a position sits: a venue (by code), a point, or (neither) the crisis room.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// A venue's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    /// Longitude, latitude (WGS84).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<[f64; 2]>,
    /// The place's name (a point's; a venue's own name is used otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Place {
    /// The key positions are grouped by on the map and in the gap report: `venue:CODE`,
    /// `point:LON,LAT` or `room`.
    pub fn key(&self) -> String {
        match (&self.venue, &self.point) {
            (Some(v), _) => format!("venue:{v}"),
            (None, Some([x, y])) => format!("point:{x:.5},{y:.5}"),
            (None, None) => "room".into(),
        }
    }
}

/// The crisis room (where positions without a place sit, and where level changes are logged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Room {
    /// Name.
    pub label: String,
    /// Longitude, latitude.
    pub point: [f64; 2],
}

impl Default for Room {
    fn default() -> Self {
        // Place Beauvau, Paris: the interior ministry's crisis centre.
        Self { label: "Centre de crise".into(), point: [2.3165, 48.8726] }
    }
}

/// A desk to staff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Id: letters, digits, `-`, `_`, `.`, 1 to 64.
    pub id: String,
    /// Title.
    pub title: String,
    /// The directorate whose officers sit here (empty: any).
    #[serde(default)]
    pub directorate: String,
    /// Where.
    #[serde(default)]
    pub place: Place,
    /// Skills every person sitting here must have.
    #[serde(default)]
    pub skills: Vec<String>,
    /// People needed on each shift, by alert level (0: closed at that level).
    pub needs: Vec<u32>,
}

fn paris() -> String {
    "Europe/Paris".into()
}

fn three_eights() -> Vec<ShiftSpec> {
    [("matin", "06:00", "14:00"), ("soir", "14:00", "22:00"), ("nuit", "22:00", "06:00")]
        .map(|(n, s, e)| ShiftSpec { name: n.into(), start: s.into(), end: e.into() })
        .to_vec()
}

fn four_levels() -> Vec<String> {
    ["veille", "vigilance renforcée", "crise", "crise majeure"].map(String::from).to_vec()
}

/// A workspace's staffing plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// IANA time zone of the shifts.
    #[serde(default = "paris")]
    pub timezone: String,
    /// The shift pattern.
    #[serde(default = "three_eights")]
    pub shifts: Vec<ShiftSpec>,
    /// Alert levels, lowest first.
    #[serde(default = "four_levels")]
    pub levels: Vec<String>,
    /// The labour rules' numbers.
    #[serde(default)]
    pub rules: RuleSpec,
    /// The crisis room.
    #[serde(default)]
    pub room: Room,
    /// Positions, in display order.
    #[serde(default)]
    pub positions: Vec<Position>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            timezone: paris(),
            shifts: three_eights(),
            levels: four_levels(),
            rules: RuleSpec::default(),
            room: Room::default(),
            positions: Vec::new(),
        }
    }
}

/// A problem with a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The field, as a path (`positions[3].needs`).
    pub field: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

/// `field: reason` as a [`Problem`].
pub fn problem(field: impl Into<String>, reason: impl Into<String>) -> Problem {
    Problem { field: field.into(), reason: reason.into() }
}

/// Whether `id` is 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `p` is a longitude, latitude pair.
pub fn is_lonlat(p: [f64; 2]) -> bool {
    p[0].is_finite() && p[1].is_finite() && (-180.0..=180.0).contains(&p[0]) && (-85.0..=85.0).contains(&p[1])
}

/// The problems of a list of skills at `field`.
pub fn skill_problems(skills: &[String], field: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    if skills.len() > MAX_SKILLS {
        out.push(problem(field, format!("at most {MAX_SKILLS} skills")));
    }
    for (i, s) in skills.iter().enumerate() {
        if !is_id(s) {
            out.push(problem(format!("{field}[{i}]"), "a skill is 1 to 64 letters, digits, '-', '_' or '.'"));
        }
    }
    out
}

impl Plan {
    /// The plan's problems (none: it can be stored). `venue` says whether a venue code exists.
    pub fn problems(&self, venue: &dyn Fn(&str) -> bool) -> Vec<Problem> {
        let mut out = Vec::new();
        if let Err(e) = self.pattern() {
            // "timezone 'X': …", "shifts[1].start: …", "shifts: …".
            let field = if e.starts_with("timezone") { "timezone" } else { e.split(':').next().unwrap_or("shifts") };
            out.push(problem(field, e.clone()));
        }
        if !(2..=MAX_LEVELS).contains(&self.levels.len()) {
            out.push(problem("levels", format!("2 to {MAX_LEVELS} alert levels, lowest first")));
        }
        for (i, l) in self.levels.iter().enumerate() {
            if l.trim().is_empty() || l.chars().count() > 60 || self.levels[..i].contains(l) {
                out.push(problem(format!("levels[{i}]"), "a name of 1 to 60 characters, once"));
            }
        }
        let r = self.rules;
        if !(0.0..=24.0).contains(&r.min_rest_hours) {
            out.push(problem("rules.min_rest_hours", "0 to 24 hours"));
        }
        if !(1.0..=168.0).contains(&r.max_week_hours) {
            out.push(problem("rules.max_week_hours", "1 to 168 hours"));
        }
        if self.room.label.trim().is_empty() || !is_lonlat(self.room.point) {
            out.push(problem("room", "a label and a point [longitude, latitude]"));
        }
        if self.positions.len() > MAX_POSITIONS {
            out.push(problem("positions", format!("at most {MAX_POSITIONS} positions")));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.positions.iter().enumerate() {
            let f = |k: &str| format!("positions[{i}].{k}");
            if !is_id(&p.id) || !seen.insert(p.id.as_str()) {
                out.push(problem(f("id"), "1 to 64 letters, digits, '-', '_' or '.', once"));
            }
            if p.title.trim().is_empty() || p.title.chars().count() > 200 {
                out.push(problem(f("title"), "1 to 200 characters"));
            }
            if p.directorate.chars().count() > 64 {
                out.push(problem(f("directorate"), "at most 64 characters"));
            }
            match (&p.place.venue, p.place.point) {
                (Some(_), Some(_)) => out.push(problem(f("place"), "a venue or a point, not both")),
                (Some(v), None) if !venue(v) => out.push(problem(f("place.venue"), format!("no venue '{v}'"))),
                (None, Some(pt)) if !is_lonlat(pt) => {
                    out.push(problem(f("place.point"), "[longitude, latitude] in degrees"));
                }
                _ => {}
            }
            out.extend(skill_problems(&p.skills, &f("skills")));
            if p.needs.len() != self.levels.len() {
                out.push(problem(f("needs"), format!("one number per alert level ({})", self.levels.len())));
            }
            if p.needs.iter().any(|&n| n > MAX_NEED) {
                out.push(problem(f("needs"), format!("at most {MAX_NEED} people per shift")));
            }
        }
        out
    }

    /// The shift pattern.
    ///
    /// # Errors
    /// The zone or shift at fault.
    pub fn pattern(&self) -> Result<Pattern, String> {
        let shifts: Vec<(&str, &str, &str)> =
            self.shifts.iter().map(|s| (s.name.as_str(), s.start.as_str(), s.end.as_str())).collect();
        Pattern::new(&self.timezone, &shifts)
    }

    /// The rules, in milliseconds.
    pub fn rules(&self) -> Rules {
        let ms = |h: f64| (h * HOUR_MS as f64).round() as i64;
        Rules { min_rest: ms(self.rules.min_rest_hours), max_week: ms(self.rules.max_week_hours) }
    }

    /// A position by id.
    pub fn position(&self, id: &str) -> Option<&Position> {
        self.positions.iter().find(|p| p.id == id)
    }

    /// A level's index by name or number (`"crise"`, `"2"`).
    pub fn level(&self, name: &str) -> Option<usize> {
        self.levels.iter().position(|l| l == name).or_else(|| name.parse().ok().filter(|&i| i < self.levels.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_plan_is_valid_and_problems_name_their_field() {
        assert_eq!(Plan::default().problems(&|_| true), vec![]);
        let plan: Plan = serde_json::from_value(serde_json::json!({
            "timezone": "Mars/Olympus",
            "levels": ["a", "a"],
            "rules": {"min_rest_hours": 30, "max_week_hours": 48},
            "positions": [
                {"id": "x y", "title": "", "needs": [1]},
                {"id": "b", "title": "B", "place": {"venue": "NOPE"}, "skills": ["ok", "not ok"], "needs": [0, 60]}
            ]
        }))
        .unwrap();
        let fields: Vec<String> = plan.problems(&|v| v == "STA").into_iter().map(|p| p.field).collect();
        for f in [
            "timezone",
            "levels[1]",
            "rules.min_rest_hours",
            "positions[0].id",
            "positions[0].title",
            "positions[0].needs",
            "positions[1].place.venue",
            "positions[1].skills[1]",
            "positions[1].needs",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
        }
        assert!(serde_json::from_value::<Plan>(serde_json::json!({"colour": 1})).is_err(), "unknown field");
        let p = Plan::default();
        assert_eq!((p.level("crise"), p.level("3"), p.level("9")), (Some(2), Some(3), None));
        assert_eq!(p.rules(), Rules::default());
    }
}
