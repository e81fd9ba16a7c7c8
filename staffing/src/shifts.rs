//! Shifts as instants: a workspace's shift pattern (`06:00–14:00`, `14:00–22:00`,
//! `22:00–06:00`) in its time zone, turned into real instants day by day. A shift ending at or
//! before its start ends the next day, and a shift over a daylight-saving change is as long as
//! the clock on the wall says (22:00–06:00 is 7 hours on the night clocks go forward, 9 when
//! they go back). A local time that does not exist (clocks forward) comes an hour later; one
//! that happens twice (clocks back) is taken at its first occurrence: jiff's "compatible"
//! disambiguation, as RFC 5545 and Temporal do.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::Serialize;

/// `HH:MM` (24-hour clock) as a time of day.
pub fn time_of_day(s: &str) -> Option<Time> {
    let ok = s.len() == 5 && s.as_bytes()[2] == b':';
    let (h, m) = ok.then(|| (s[..2].parse::<i8>().ok(), s[3..].parse::<i8>().ok()))?;
    match (h, m) {
        (Some(h), Some(m)) if (0..24).contains(&h) && (0..60).contains(&m) => Some(Time::constant(h, m, 0, 0)),
        _ => None,
    }
}

/// One hour, milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day, milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// Seven days, milliseconds.
pub const WEEK_MS: i64 = 7 * DAY_MS;

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

    /// The shift named `name` starting on local day `day`.
    pub fn shift(&self, day: Date, name: &str) -> Option<Shift> {
        self.shifts(day, day).into_iter().find(|s| s.name == name)
    }

    /// The shift under way at instant `ms` (the latest to start, when shifts overlap).
    pub fn shift_at(&self, ms: i64) -> Option<Shift> {
        let day = self.day_of(ms)?;
        let before = day.yesterday().ok()?;
        self.shifts(before, day).into_iter().filter(|s| s.start <= ms && ms < s.end).max_by_key(|s| s.start)
    }

    /// Instant `ms` as local wall-clock time, `2027-03-28T06:00` (`%Y-%m-%dT%H:%M`).
    pub fn local(&self, ms: i64) -> String {
        Timestamp::from_millisecond(ms)
            .map(|t| t.to_zoned(self.zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default()
    }

    /// The IANA name of its time zone.
    pub fn zone_name(&self) -> &str {
        self.zone.iana_name().unwrap_or("UTC")
    }

    /// Its shifts' names, in the pattern's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.shifts.iter().map(|d| d.name.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jiff::civil::date;

    pub(crate) fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    pub(crate) fn three_eights() -> Pattern {
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
    fn the_shift_under_way_and_local_times() {
        let p = three_eights();
        let s = p.shift_at(ms("2027-01-05T03:00:00Z")).unwrap();
        assert_eq!((s.name.as_str(), s.day.as_str()), ("nuit", "2027-01-04"), "04:00 Paris is the night of the 4th");
        assert_eq!(p.local(s.start), "2027-01-04T22:00");
        assert_eq!(p.shift(date(2027, 1, 4), "soir").unwrap().start, ms("2027-01-04T13:00:00Z"));
        assert!(p.shift(date(2027, 1, 4), "sieste").is_none());
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
