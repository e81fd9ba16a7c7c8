//! Liaison-officer staffing (issue 17), first part: shifts as instants and the labour rules an
//! assignment is checked against. Positions, people, assignments, the gap report, suggestions,
//! the map layer and the exports build on these (see the notes).
//!
//! - [`Pattern`]: a workspace's shift pattern (`06:00–14:00`, `14:00–22:00`, `22:00–06:00`)
//!   in its time zone, turned into real instants day by day: a shift ending at or before its
//!   start ends the next day, and a shift over a daylight-saving change is as long as the clock
//!   on the wall says (22:00–06:00 is 7 hours on the night clocks go forward, 9 when they go
//!   back). Local times that do not exist or happen twice follow the same rule as the report
//!   rhythm ([`crate::reports::schedule`]).
//! - [`Rules`]: no overlap; at least `min_rest` between the end of one shift and the start of
//!   the next (11 hours, French labour code L3131-1); at most `max_week` of work in any 7
//!   consecutive days (48 hours, L3121-20). Each breach is reported with the rule's name and
//!   the shifts involved.

use crate::reports::schedule::time_of_day;
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::Serialize;

/// One hour, milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// Seven days, milliseconds.
pub const WEEK_MS: i64 = 7 * 24 * HOUR_MS;

/// A shift of a pattern: a name and local start and end times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftDef {
    /// Name (`matin`, `nuit`…).
    pub name: String,
    /// Local start.
    pub start: Time,
    /// Local end (at or before `start`: the next day).
    pub end: Time,
}

/// A shift on a given day: `[start, end)` in epoch ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    /// The pattern's shift.
    pub name: String,
    /// The local day it starts on (`2027-03-27`).
    pub day: String,
    /// Start, epoch ms.
    pub start: i64,
    /// End, epoch ms.
    pub end: i64,
}

/// A workspace's shift pattern in its time zone.
#[derive(Debug, Clone)]
pub struct Pattern {
    zone: TimeZone,
    shifts: Vec<ShiftDef>,
}

impl Pattern {
    /// The pattern of `shifts` (name, `HH:MM`, `HH:MM`) in IANA zone `zone`.
    ///
    /// # Errors
    /// A message naming the zone, the shift or the time at fault.
    pub fn new(zone: &str, shifts: &[(&str, &str, &str)]) -> Result<Self, String> {
        let tz = TimeZone::get(zone).map_err(|_| format!("timezone '{zone}': not an IANA time zone"))?;
        if shifts.is_empty() || shifts.len() > 12 {
            return Err("shifts: 1 to 12 shifts".into());
        }
        let mut defs = Vec::with_capacity(shifts.len());
        for (i, (name, start, end)) in shifts.iter().enumerate() {
            let time = |t: &str, which: &str| {
                time_of_day(t).ok_or_else(|| format!("shifts[{i}].{which}: '{t}' is not a time of day HH:MM"))
            };
            if name.trim().is_empty() || defs.iter().any(|d: &ShiftDef| d.name == *name) {
                return Err(format!("shifts[{i}].name: a name, once"));
            }
            defs.push(ShiftDef { name: (*name).to_owned(), start: time(start, "start")?, end: time(end, "end")? });
        }
        Ok(Self { zone: tz, shifts: defs })
    }

    fn instant(&self, day: Date, t: Time) -> Option<i64> {
        Some(day.to_datetime(t).to_zoned(self.zone.clone()).ok()?.timestamp().as_millisecond())
    }

    /// The shifts starting on local days `from` to `to` (inclusive), in order of start.
    pub fn shifts(&self, from: Date, to: Date) -> Vec<Shift> {
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            for d in &self.shifts {
                let next = day.tomorrow().unwrap_or(day);
                let end_day = if d.end <= d.start { next } else { day };
                if let (Some(start), Some(end)) = (self.instant(day, d.start), self.instant(end_day, d.end)) {
                    out.push(Shift { name: d.name.clone(), day: day.to_string(), start, end });
                }
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        out.sort_by_key(|s| (s.start, s.end));
        out
    }

    /// The local day of instant `ms`.
    pub fn day_of(&self, ms: i64) -> Option<Date> {
        Some(Timestamp::from_millisecond(ms).ok()?.to_zoned(self.zone.clone()).date())
    }
}

/// The labour rules, configurable per workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rules {
    /// Least rest between two shifts, ms (11 hours).
    pub min_rest: i64,
    /// Most work in any 7 consecutive days, ms (48 hours).
    pub max_week: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Self { min_rest: 11 * HOUR_MS, max_week: 48 * HOUR_MS }
    }
}

/// A broken rule, with the shifts (`[start, end)`) involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// `overlap`, `rest` or `weekly_hours`.
    pub rule: &'static str,
    /// What is wrong, in words.
    pub detail: String,
    /// The shifts involved.
    pub shifts: Vec<[i64; 2]>,
}

impl Rules {
    /// The breaches of one person's shifts `[start, end)` (any order).
    pub fn check(&self, shifts: &[[i64; 2]]) -> Vec<Breach> {
        let mut s: Vec<[i64; 2]> = shifts.to_vec();
        s.sort_unstable();
        let mut out = Vec::new();
        for w in s.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b[0] < a[1] {
                out.push(Breach { rule: "overlap", detail: "two shifts at the same time".into(), shifts: vec![a, b] });
            } else if b[0] - a[1] < self.min_rest {
                out.push(Breach {
                    rule: "rest",
                    detail: format!(
                        "{:.1} h of rest between two shifts, at least {:.1} h required",
                        (b[0] - a[1]) as f64 / HOUR_MS as f64,
                        self.min_rest as f64 / HOUR_MS as f64
                    ),
                    shifts: vec![a, b],
                });
            }
        }
        // The most work in a 7-day window is reached by a window starting at a shift's start
        // (sliding it later only loses work at the front until the next start).
        let mut worst: Option<(i64, i64)> = None;
        for &[t, _] in &s {
            let worked: i64 = s.iter().map(|&[a, b]| (b.min(t + WEEK_MS) - a.max(t)).max(0)).sum();
            if worked > self.max_week && worst.is_none_or(|(_, w)| worked > w) {
                worst = Some((t, worked));
            }
        }
        if let Some((t, worked)) = worst {
            out.push(Breach {
                rule: "weekly_hours",
                detail: format!(
                    "{:.1} h of work in the 7 days from this shift, at most {:.1} h",
                    worked as f64 / HOUR_MS as f64,
                    self.max_week as f64 / HOUR_MS as f64
                ),
                shifts: s.iter().copied().filter(|&[a, b]| b > t && a < t + WEEK_MS).collect(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn three_eights() -> Pattern {
        Pattern::new(
            "Europe/Paris",
            &[("matin", "06:00", "14:00"), ("soir", "14:00", "22:00"), ("nuit", "22:00", "06:00")],
        )
        .unwrap()
    }

    #[test]
    fn a_night_shift_ends_the_next_morning_and_follows_the_wall_clock_over_daylight_saving() {
        let p = three_eights();
        let len = |day: Date| {
            let s = p.shifts(day, day).into_iter().find(|s| s.name == "nuit").unwrap();
            (s.end - s.start) / HOUR_MS
        };
        assert_eq!(len(date(2027, 3, 20)), 8);
        assert_eq!(len(date(2027, 3, 27)), 7, "clocks go forward at 02:00 on the 28th");
        assert_eq!(len(date(2027, 10, 30)), 9, "clocks go back at 03:00 on the 31st");
        let night = p.shifts(date(2027, 3, 27), date(2027, 3, 27)).pop().unwrap();
        assert_eq!((night.start, night.end), (ms("2027-03-27T21:00:00Z"), ms("2027-03-28T04:00:00Z")));
        // Every day's shifts tile the day without gap or overlap.
        let week = p.shifts(date(2027, 3, 25), date(2027, 3, 31));
        assert_eq!(week.len(), 21);
        assert!(week.windows(2).all(|w| w[0].end == w[1].start), "contiguous");
    }

    #[test]
    fn rest_is_measured_from_the_end_of_one_shift_to_the_start_of_the_next() {
        let p = three_eights();
        let r = Rules::default();
        let shifts = p.shifts(date(2027, 1, 4), date(2027, 1, 5));
        let get = |day: &str, name: &str| {
            let s = shifts.iter().find(|s| s.day == day && s.name == name).unwrap();
            [s.start, s.end]
        };
        // Evening then next morning: 22:00 → 06:00, 8 h of rest.
        let b = r.check(&[get("2027-01-04", "soir"), get("2027-01-05", "matin")]);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].rule, "rest");
        assert!(b[0].detail.contains("8.0 h"), "{}", b[0].detail);
        // Morning then next morning: 14:00 → 06:00, 16 h.
        assert!(r.check(&[get("2027-01-04", "matin"), get("2027-01-05", "matin")]).is_empty());
        // Night then the next evening: 06:00 → 14:00, 8 h (the night ends the next day).
        let b = r.check(&[get("2027-01-04", "nuit"), get("2027-01-05", "soir")]);
        assert_eq!(b[0].rule, "rest");
        // The same shift twice, and two shifts overlapping.
        assert_eq!(r.check(&[get("2027-01-04", "matin"), get("2027-01-04", "matin")])[0].rule, "overlap");
        let custom = Rules { min_rest: 8 * HOUR_MS, ..Rules::default() };
        assert!(custom.check(&[get("2027-01-04", "soir"), get("2027-01-05", "matin")]).is_empty(), "configurable");
    }

    #[test]
    fn forty_eight_hours_in_any_seven_days() {
        let p = three_eights();
        let r = Rules::default();
        let mornings: Vec<[i64; 2]> = p
            .shifts(date(2027, 1, 4), date(2027, 1, 10))
            .into_iter()
            .filter(|s| s.name == "matin")
            .map(|s| [s.start, s.end])
            .collect();
        assert_eq!(mornings.len(), 7);
        // Six mornings: 48 h, allowed; seven: 56 h.
        assert!(r.check(&mornings[..6]).is_empty());
        let b = r.check(&mornings);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].rule, "weekly_hours");
        assert!(b[0].detail.contains("56.0 h"), "{}", b[0].detail);
        assert_eq!(b[0].shifts.len(), 7);
        // Spread over eight days with a day off: no 7-day window holds more than 6.
        let mut spread = mornings[..6].to_vec();
        spread.push([mornings[6][0] + 24 * HOUR_MS, mornings[6][1] + 24 * HOUR_MS]);
        assert!(r.check(&spread).is_empty(), "{:?}", r.check(&spread));
    }

    #[test]
    fn bad_patterns_are_named() {
        assert!(Pattern::new("Nowhere/Land", &[("a", "06:00", "14:00")]).unwrap_err().contains("Nowhere/Land"));
        assert!(Pattern::new("Europe/Paris", &[("a", "6h", "14:00")]).unwrap_err().contains("shifts[0].start"));
        assert!(
            Pattern::new("Europe/Paris", &[("a", "06:00", "14:00"), ("a", "14:00", "22:00")])
                .unwrap_err()
                .contains("shifts[1].name")
        );
        assert!(Pattern::new("Europe/Paris", &[]).is_err());
    }
}
