//! vigie's liaison-officer staffing ("armement", issue 17), the domain without storage or
//! HTTP: which desks open at which alert level, who sits where shift after shift, the labour
//! rules every assignment keeps, what is missing, and proposals to fill it.
//!
//! - [`shifts`]: a workspace's shift pattern as instants, daylight-saving safe.
//! - [`rules`]: overlap, rest between shifts, hours in any 7 days; breaches named.
//! - [`plan`]: the plan (levels, positions and their needs per level, the rules' numbers).
//! - [`roster`]: people, unavailability, assignments, level changes, indexed; the check of
//!   one assignment against every rule.
//! - [`gaps`]: the gap report, by directorate and by place, and what one level up would add.
//! - [`suggest`]: proposals by maximum matching per shift (Hungarian algorithm).
//! - [`export`]: iCalendar per person, CSV rosters and gap reports.
//! - [`import`]: the CSV roster of people, every bad row named.
//! - [`demo`]: seeded instances of any size (the demo, the benches, the tests).

pub mod demo;
pub mod export;
pub mod gaps;
pub mod import;
pub mod plan;
pub mod roster;
pub mod rules;
pub mod shifts;
pub mod suggest;

pub use gaps::GapReport;
pub use plan::{Place, Plan, Position};
pub use roster::{Assignment, LevelChange, Person, Roster, Status, Unavailability};
pub use rules::{Breach, Rules};
pub use shifts::{Pattern, Shift, time_of_day};
pub use suggest::Suggestions;
