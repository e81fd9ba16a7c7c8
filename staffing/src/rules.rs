//! The labour rules an assignment is checked against: no overlap; at least `min_rest` between
//! the end of one shift and the start of the next (11 hours, French labour code L3131-1); at
//! most `max_week` of work in any 7 consecutive days (48 hours, L3121-20). Each breach is
//! reported with the rule's name and the shifts involved.

use crate::shifts::{HOUR_MS, WEEK_MS};
use serde::Serialize;

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
    /// `overlap`, `rest`, `weekly_hours`, `directorate`, `skills`, `unavailable`.
    pub rule: &'static str,
    /// What is wrong, in words.
    pub detail: String,
    /// The shifts involved.
    pub shifts: Vec<[i64; 2]>,
}

fn hours(ms: i64) -> f64 {
    ms as f64 / HOUR_MS as f64
}

/// Work in `[t, t + 7 days)`.
fn worked(shifts: &[[i64; 2]], t: i64) -> i64 {
    shifts.iter().map(|&[a, b]| (b.min(t + WEEK_MS) - a.max(t)).max(0)).sum()
}

impl Rules {
    fn overlap(a: [i64; 2], b: [i64; 2]) -> Breach {
        Breach { rule: "overlap", detail: "two shifts at the same time".into(), shifts: vec![a, b] }
    }

    fn rest(&self, a: [i64; 2], b: [i64; 2]) -> Breach {
        Breach {
            rule: "rest",
            detail: format!(
                "{:.1} h of rest between two shifts, at least {:.1} h required",
                hours(b[0] - a[1]),
                hours(self.min_rest)
            ),
            shifts: vec![a, b],
        }
    }

    fn weekly(&self, s: &[[i64; 2]], t: i64, work: i64) -> Breach {
        Breach {
            rule: "weekly_hours",
            detail: format!("{:.1} h of work in a 7-day window, at most {:.1} h", hours(work), hours(self.max_week)),
            shifts: s.iter().copied().filter(|&[a, b]| b > t && a < t + WEEK_MS).collect(),
        }
    }

    /// The breaches of one person's whole set of shifts `[start, end)` (any order).
    pub fn check(&self, shifts: &[[i64; 2]]) -> Vec<Breach> {
        let mut s: Vec<[i64; 2]> = shifts.to_vec();
        s.sort_unstable();
        let mut out = Vec::new();
        for w in s.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b[0] < a[1] {
                out.push(Self::overlap(a, b));
            } else if b[0] - a[1] < self.min_rest {
                out.push(self.rest(a, b));
            }
        }
        // The most work in a 7-day window is reached by a window starting at a shift's start
        // (sliding it later only loses work at the front until the next start).
        let worst = s.iter().map(|&[t, _]| (t, worked(&s, t))).max_by_key(|&(t, w)| (w, -t));
        if let Some((t, work)) = worst.filter(|&(_, w)| w > self.max_week) {
            out.push(self.weekly(&s, t, work));
        }
        out
    }

    /// The breaches a new shift `new` would cause among a person's `others` (assumed to keep
    /// the rules among themselves): only those involving `new`. Reads only the shifts within
    /// 7 days and the rest period of it, so it stays cheap for a long roster.
    pub fn check_with(&self, others: &[[i64; 2]], new: [i64; 2]) -> Vec<Breach> {
        let reach = WEEK_MS + self.min_rest;
        let near: Vec<[i64; 2]> =
            others.iter().copied().filter(|&[a, b]| b > new[0] - reach && a < new[1] + reach).collect();
        let mut out = Vec::new();
        if let Some(&o) = near.iter().find(|&&[a, b]| a < new[1] && new[0] < b) {
            out.push(Self::overlap(o, new));
        } else {
            let before = near.iter().filter(|&&[_, b]| b <= new[0]).max_by_key(|&&[_, b]| b);
            if let Some(&b) = before.filter(|&&[_, b]| new[0] - b < self.min_rest) {
                out.push(self.rest(b, new));
            }
            let after = near.iter().filter(|&&[a, _]| a >= new[1]).min_by_key(|&&[a, _]| a);
            if let Some(&a) = after.filter(|&&[a, _]| a - new[1] < self.min_rest) {
                out.push(self.rest(new, a));
            }
        }
        // Work in a window is piecewise linear in the window's start: its maximum over the
        // windows meeting `new` is at a start where a shift enters or leaves the window.
        let mut all = near;
        all.push(new);
        let worst = all
            .iter()
            .flat_map(|&[a, b]| [a, b - WEEK_MS])
            .filter(|&t| t < new[1] && t + WEEK_MS > new[0])
            .map(|t| (t, worked(&all, t)))
            .max_by_key(|&(t, w)| (w, -t));
        if let Some((t, work)) = worst.filter(|&(_, w)| w > self.max_week) {
            all.sort_unstable();
            out.push(self.weekly(&all, t, work));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shifts::Pattern;
    use crate::shifts::tests::three_eights;
    use jiff::civil::date;
    use proptest::prelude::*;

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

    fn pattern_shifts(p: &Pattern, days: i64) -> Vec<[i64; 2]> {
        let from = date(2027, 3, 22);
        let to = from.checked_add(jiff::Span::new().days(days)).unwrap();
        p.shifts(from, to).into_iter().map(|s| [s.start, s.end]).collect()
    }

    proptest! {
        /// The incremental check finds a breach exactly when the whole set breaks a rule that
        /// the set without the new shift kept (over the night clocks go forward, too).
        #[test]
        fn the_incremental_check_agrees_with_the_whole_check(
            picks in proptest::collection::vec(0usize..42, 0..12),
            new in 0usize..42,
            rest_h in 8i64..13,
            week_h in 24i64..56,
        ) {
            let all = pattern_shifts(&three_eights(), 13);
            let rules = Rules { min_rest: rest_h * HOUR_MS, max_week: week_h * HOUR_MS };
            // A valid set: picks kept when they keep the rules.
            let mut others: Vec<[i64; 2]> = Vec::new();
            for i in picks {
                let s = all[i];
                if rules.check_with(&others, s).is_empty() {
                    others.push(s);
                }
            }
            prop_assert!(rules.check(&others).is_empty());
            let mut with = others.clone();
            with.push(all[new]);
            let whole = rules.check(&with);
            let one = rules.check_with(&others, all[new]);
            prop_assert_eq!(whole.is_empty(), one.is_empty(), "whole {:?} one {:?}", whole, one);
            for b in &one {
                prop_assert!(b.shifts.contains(&all[new]), "{:?}", b);
            }
        }
    }
}
