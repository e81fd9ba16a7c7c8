//! Exports: a person's shifts as iCalendar (RFC 5545), a directorate's roster and the gap
//! report as CSV (RFC 4180, UTF-8, local times of the plan's zone).

use crate::gaps::GapReport;
use crate::plan::Place;
use crate::roster::{Roster, Status};
use crate::shifts::Shift;
use jiff::Timestamp;

/// RFC 5545 text escaping (`\`, `;`, `,`, new lines).
fn ics_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line folded at 75 octets (RFC 5545 3.1), never inside a character.
fn ics_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

fn ics_time(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string()).unwrap_or_default()
}

impl Roster {
    /// Person `person`'s assignments that count, as an iCalendar file: one event per shift
    /// (UTC times; `TENTATIVE` while proposed), its UID stable across exports so a calendar
    /// that subscribes updates the same events. `workspace` names the calendar and the UIDs;
    /// `place` names a position's place (a venue's name, say).
    pub fn ics(&self, person: usize, workspace: &str, now: i64, place: &dyn Fn(&Place) -> String) -> String {
        let p = &self.people[person];
        let mut out = String::new();
        for l in
            ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//vigie//staffing//FR", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
        {
            ics_line(&mut out, l);
        }
        ics_line(&mut out, &format!("X-WR-CALNAME:{}", ics_text(&format!("Armement {workspace} — {}", p.name))));
        let mut list: Vec<_> =
            self.assignments.iter().filter(|a| a.person == p.id && a.status != Status::Declined).collect();
        list.sort_by_key(|a| (a.start, a.id));
        for a in list {
            let position = self.plan.position(&a.position);
            let title = position.map_or(a.position.as_str(), |x| x.title.as_str());
            ics_line(&mut out, "BEGIN:VEVENT");
            ics_line(&mut out, &format!("UID:{}-{}@vigie", ics_text(workspace), a.id));
            ics_line(&mut out, &format!("DTSTAMP:{}", ics_time(now)));
            ics_line(&mut out, &format!("DTSTART:{}", ics_time(a.start)));
            ics_line(&mut out, &format!("DTEND:{}", ics_time(a.end)));
            ics_line(&mut out, &format!("SUMMARY:{}", ics_text(&format!("{title} ({})", a.shift))));
            if let Some(x) = position {
                ics_line(&mut out, &format!("LOCATION:{}", ics_text(&place(&x.place))));
            }
            let status = if a.status == Status::Confirmed { "CONFIRMED" } else { "TENTATIVE" };
            ics_line(&mut out, &format!("STATUS:{status}"));
            ics_line(
                &mut out,
                &format!(
                    "DESCRIPTION:{}",
                    ics_text(&format!("Poste {} · {} · {}", a.position, a.day, a.status.as_str()))
                ),
            );
            ics_line(&mut out, "END:VEVENT");
        }
        ics_line(&mut out, "END:VCALENDAR");
        out
    }

    /// The assignments that count of `directorate`'s people over `shifts`, as CSV: one row per
    /// assignment, by start; the phone and e-mail columns empty unless `contacts`.
    ///
    /// # Errors
    /// Never in practice (writing to memory).
    pub fn roster_csv(
        &self,
        directorate: Option<&str>,
        shifts: &[Shift],
        contacts: bool,
    ) -> Result<String, csv::Error> {
        let (from, to) = (shifts.iter().map(|s| s.start).min(), shifts.iter().map(|s| s.end).max());
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "day",
            "shift",
            "start",
            "end",
            "position",
            "title",
            "person",
            "name",
            "directorate",
            "status",
            "phone",
            "email",
        ])?;
        let mut list: Vec<_> = self
            .assignments
            .iter()
            .filter(|a| a.status != Status::Declined)
            .filter(|a| from.is_some_and(|f| a.start >= f) && to.is_some_and(|t| a.start < t))
            .filter_map(|a| Some((a, &self.people[self.person_index(&a.person)?])))
            .filter(|(_, p)| directorate.is_none_or(|d| p.directorate == d))
            .collect();
        list.sort_by(|x, y| (x.0.start, &x.0.position, &x.1.id).cmp(&(y.0.start, &y.0.position, &y.1.id)));
        for (a, p) in list {
            let title = self.plan.position(&a.position).map_or("", |x| x.title.as_str());
            w.write_record([
                a.day.as_str(),
                &a.shift,
                &self.pattern.local(a.start),
                &self.pattern.local(a.end),
                &a.position,
                title,
                &p.id,
                &p.name,
                &p.directorate,
                a.status.as_str(),
                if contacts { &p.phone } else { "" },
                if contacts { &p.email } else { "" },
            ])?;
        }
        Ok(String::from_utf8_lossy(&w.into_inner().map_err(csv::IntoInnerError::into_error)?).into_owned())
    }

    /// A gap report as CSV: one row per slot short of people.
    ///
    /// # Errors
    /// Never in practice (writing to memory).
    pub fn gaps_csv(&self, report: &GapReport) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "level",
            "day",
            "shift",
            "start",
            "end",
            "position",
            "title",
            "directorate",
            "place",
            "needed",
            "confirmed",
            "proposed",
            "short",
            "uncovered",
        ])?;
        for g in &report.gaps {
            let p = self.plan.position(&g.position);
            let t = &g.totals;
            w.write_record([
                report.level.name.as_str(),
                &g.day,
                &g.shift,
                &self.pattern.local(g.start),
                &self.pattern.local(g.end),
                &g.position,
                p.map_or("", |x| x.title.as_str()),
                p.map_or("", |x| x.directorate.as_str()),
                &p.map(|x| x.place.key()).unwrap_or_default(),
                &t.needed.to_string(),
                &t.confirmed.to_string(),
                &t.proposed.to_string(),
                &t.short.to_string(),
                &t.uncovered.to_string(),
            ])?;
        }
        Ok(String::from_utf8_lossy(&w.into_inner().map_err(csv::IntoInnerError::into_error)?).into_owned())
    }
}
