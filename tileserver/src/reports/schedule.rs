//! The battle rhythm: the times of day situation reports are due, in the workspace's time
//! zone, turned into instants (epoch ms) the daylight-saving way people expect.
//!
//! "10:00 Europe/Paris" is 08:00 UTC in summer and 09:00 UTC in winter. A local time that does
//! not exist on the day clocks go forward (02:30 on the last Sunday of March) is due at the
//! same elapsed time after the last valid instant (03:30, the "compatible" rule of RFC 5545
//! and Temporal); one that happens twice when clocks go back (02:30 on the last Sunday of
//! October) is due at its first occurrence. The time-zone rules are the IANA database
//! bundled in the binary (`jiff`), so a host without `/usr/share/zoneinfo` still knows them.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// Most due times a day.
pub const MAX_TIMES: usize = 24;

/// Days looked at on each side of a search window (a report period never spans more).
const MAX_GAP_DAYS: i64 = 8;

/// A workspace's rhythm: a time zone and the local times of day reports are due.
#[derive(Debug, Clone)]
pub struct Rhythm {
    zone: TimeZone,
    zone_name: String,
    times: Vec<Time>,
}

impl Rhythm {
    /// The rhythm of `times` (`HH:MM`, any order) in IANA zone `zone` (`Europe/Paris`).
    ///
    /// # Errors
    /// A message naming the zone or the time at fault.
    pub fn new(zone: &str, times: &[String]) -> Result<Self, String> {
        let tz = TimeZone::get(zone)
            .map_err(|_| format!("timezone '{}': not an IANA time zone such as Europe/Paris", clip(zone)))?;
        if times.len() > MAX_TIMES {
            return Err(format!("times: at most {MAX_TIMES} a day"));
        }
        let mut parsed = Vec::with_capacity(times.len());
        for t in times {
            let Some(time) = time_of_day(t) else {
                return Err(format!("times: '{}' is not a time of day HH:MM (00:00 to 23:59)", clip(t)));
            };
            if parsed.contains(&time) {
                return Err(format!("times: '{t}' is given twice"));
            }
            parsed.push(time);
        }
        parsed.sort_unstable();
        Ok(Self { zone: tz, zone_name: zone.to_owned(), times: parsed })
    }

    /// The zone's name.
    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    /// Whether no report is scheduled.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    fn day_of(&self, ms: i64) -> Option<Date> {
        Some(Timestamp::from_millisecond(ms).ok()?.to_zoned(self.zone.clone()).date())
    }

    /// The due instants of local day `day`, in order (a nonexistent time moved forward; two
    /// times landing on the same instant counted once).
    fn on(&self, day: Date) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .times
            .iter()
            .filter_map(|t| day.to_datetime(*t).to_zoned(self.zone.clone()).ok())
            .map(|z| z.timestamp().as_millisecond())
            .collect();
        out.dedup();
        out
    }

    /// Due instants `t` with `after < t <= until`, in order (empty past 400 days).
    pub fn due_between(&self, after: i64, until: i64) -> Vec<i64> {
        let (Some(first), Some(last)) = (self.day_of(after), self.day_of(until)) else { return Vec::new() };
        if until <= after || first.until(last).map_or(true, |span| span.get_days() > 400) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut day = first.yesterday().unwrap_or(first);
        while day <= last.tomorrow().unwrap_or(last) {
            out.extend(self.on(day).into_iter().filter(|t| *t > after && *t <= until));
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        out
    }

    /// The last due instant at or before `at`.
    pub fn previous(&self, at: i64) -> Option<i64> {
        let from = at.checked_sub(MAX_GAP_DAYS * DAY_MS)?;
        self.due_between(from, at).last().copied()
    }

    /// The first due instant after `at`.
    pub fn next(&self, at: i64) -> Option<i64> {
        self.due_between(at, at.checked_add(MAX_GAP_DAYS * DAY_MS)?).first().copied()
    }

    /// Instant `ms` as a local RFC 3339 date-time with its offset (`2027-03-28T06:00:00+02:00`).
    pub fn local(&self, ms: i64) -> String {
        Timestamp::from_millisecond(ms).map_or_else(
            |_| String::new(),
            |t| t.to_zoned(self.zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        )
    }

    /// Instant `ms` as the local day and time people read (`28/03/2027 06:00`).
    pub fn readable(&self, ms: i64) -> String {
        Timestamp::from_millisecond(ms)
            .map_or_else(|_| String::new(), |t| t.to_zoned(self.zone.clone()).strftime("%d/%m/%Y %H:%M").to_string())
    }
}

/// `HH:MM` as a time of day (one parser for report due times and shift patterns).
pub use vigie_staffing::time_of_day;

/// One day, milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// `ms` as RFC 3339 UTC with milliseconds (`2026-12-04T09:59:59.999Z`): the precision report
/// periods need in the queries they link to.
pub fn utc_ms(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| format!("{t:.3}"))
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn paris(times: &[&str]) -> Rhythm {
        Rhythm::new("Europe/Paris", &times.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn reports_keep_their_local_time_across_the_spring_change() {
        // Clocks go forward on Sunday 28 March 2027 at 02:00 (CET → CEST).
        let r = paris(&["06:00", "22:00"]);
        let due = r.due_between(ms("2027-03-27T00:00:00Z"), ms("2027-03-29T00:00:00Z"));
        assert_eq!(
            due,
            vec![
                ms("2027-03-27T05:00:00Z"), // 06:00 CET
                ms("2027-03-27T21:00:00Z"), // 22:00 CET
                ms("2027-03-28T04:00:00Z"), // 06:00 CEST
                ms("2027-03-28T20:00:00Z"), // 22:00 CEST
            ]
        );
        assert_eq!(r.local(due[2]), "2027-03-28T06:00:00+02:00");
    }

    #[test]
    fn reports_keep_their_local_time_across_the_autumn_change() {
        // Clocks go back on Sunday 31 October 2027 at 03:00 (CEST → CET).
        let r = paris(&["06:00", "10:00", "13:00", "16:00", "19:00", "22:00"]);
        let due = r.due_between(ms("2027-10-30T23:00:00Z"), ms("2027-10-31T23:00:00Z"));
        let local: Vec<String> = due.iter().map(|t| r.local(*t)).collect();
        assert_eq!(
            local,
            [
                "2027-10-31T06:00:00+01:00",
                "2027-10-31T10:00:00+01:00",
                "2027-10-31T13:00:00+01:00",
                "2027-10-31T16:00:00+01:00",
                "2027-10-31T19:00:00+01:00",
                "2027-10-31T22:00:00+01:00",
            ]
        );
        // The night's report covers 22:00 CEST on Saturday (20:00 UTC) to 06:00 CET (05:00
        // UTC): 9 hours, one more than on other nights.
        assert_eq!(r.previous(due[0] - 1), Some(ms("2027-10-30T20:00:00Z")));
        assert_eq!(due[0] - ms("2027-10-30T20:00:00Z"), 9 * 3_600_000);
    }

    #[test]
    fn a_time_skipped_by_the_spring_change_comes_an_hour_later_and_a_repeated_one_once() {
        let r = paris(&["02:30"]);
        let spring = r.due_between(ms("2027-03-27T12:00:00Z"), ms("2027-03-28T12:00:00Z"));
        assert_eq!(spring, vec![ms("2027-03-28T01:30:00Z")], "03:30 CEST, the compatible rule");
        let autumn = r.due_between(ms("2027-10-30T12:00:00Z"), ms("2027-10-31T12:00:00Z"));
        assert_eq!(autumn, vec![ms("2027-10-31T00:30:00Z")], "the first 02:30 (CEST), once");
    }

    #[test]
    fn previous_and_next_bracket_an_instant() {
        let r = paris(&["06:00", "18:00"]);
        let at = ms("2026-12-04T12:00:00Z"); // 13:00 in Paris
        assert_eq!(r.previous(at), Some(ms("2026-12-04T05:00:00Z")));
        assert_eq!(r.next(at), Some(ms("2026-12-04T17:00:00Z")));
        assert_eq!(r.previous(ms("2026-12-04T05:00:00Z")), Some(ms("2026-12-04T05:00:00Z")), "at, inclusive");
        assert_eq!(r.next(ms("2026-12-04T05:00:00Z")), Some(ms("2026-12-04T17:00:00Z")), "after, exclusive");
        assert_eq!(paris(&[]).next(at), None);
    }

    #[test]
    fn bad_rhythms_are_named() {
        let t = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(Rhythm::new("Europe/Lutece", &t(&["06:00"])).unwrap_err().contains("Europe/Lutece"));
        assert!(Rhythm::new("Europe/Paris", &t(&["6:00"])).unwrap_err().contains("'6:00'"));
        assert!(Rhythm::new("Europe/Paris", &t(&["24:00"])).unwrap_err().contains("'24:00'"));
        assert!(Rhythm::new("Europe/Paris", &t(&["06:00", "06:00"])).unwrap_err().contains("twice"));
        assert_eq!(utc_ms(ms("2026-12-04T10:00:00Z") - 1), "2026-12-04T09:59:59.999Z");
    }
}
